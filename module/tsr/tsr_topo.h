
/*
 * The Redis topologies behind one store: a single server, Redis Cluster,
 * a master found through Sentinel.  Each is an ops table; the store picks
 * one in tsr_store_create() and calls through it, never testing which.
 *
 * The store-level hooks (connect ... state) are the entry points of the
 * public calls: "single" (tsr_single.c) runs them on the store's own
 * server, the routers (cluster, sentinel) on the nodes that route()
 * picks, through the code they share in tsr_router.c
 * (tsr_store_router_*).  The router-level hooks (create ...
 * node_password) are what differs between routers; the single server
 * leaves them NULL.
 *
 * A topology knows the connection layer (tsr_server.h) and, for a
 * router, tsr_router.h; the store is opaque to it, and no topology knows
 * another.
 */


#ifndef TSR_TOPO_H_INCLUDED
#define TSR_TOPO_H_INCLUDED


#include "tsr_router.h"


struct tsr_topo_ops_s {
    const char         *name;

    /* store level: every topology */
    void              (*destroy)(tsr_store_t *st);
    int               (*connect)(tsr_store_t *st);
    int               (*op)(tsr_store_t *st, const tsr_store_op_t *op);
    int               (*async)(tsr_store_t *st, const tsr_loop_t *loop);
    tsr_req_t        *(*get_async)(tsr_store_t *st, const char *name,
                                   const char *key, size_t keylen,
                                   int getdel, uint64_t timeout_ms,
                                   tsr_store_done_pt done, void *arg);
    void              (*on_timer)(tsr_store_t *st);
    void              (*on_read)(tsr_store_t *st, int fd);
    void              (*on_write)(tsr_store_t *st, int fd);
    int               (*state)(const tsr_store_t *st);

    /* router level: NULL for a single server; free() after the nodes */
    int               (*create)(tsr_router_t *router,
                                const tsr_store_conf_t *conf, char *err,
                                size_t errlen);
    void              (*free)(tsr_router_t *router);
    int               (*start)(tsr_router_t *router);
    int               (*blocking_op)(tsr_router_t *router,
                                     const tsr_store_op_t *op);

    /* the node for "key"; a keyless operation passes NULL */
    tsr_server_t     *(*route)(tsr_router_t *router, const char *key,
                               size_t keylen);

    /* redirections (MOVED, ASK): NULL where Redis sends none */
    int               (*redirect)(const redisReply *reply,
                                  tsr_store_redirect_t *r);
    int               (*error)(tsr_router_t *router, tsr_server_t *node,
                               const redisReply *reply,
                               tsr_server_t **target, int *ask);

    /* a node connected, went down, said READONLY, ... (TSR_STORE_EV_*) */
    void              (*event)(tsr_router_t *router, tsr_server_t *node,
                               int ev);

    /* the router's periodic work; returns when it is due next, 0: never */
    uint64_t          (*duty)(tsr_router_t *router, uint64_t now);

    /* a node for a sentinel: the credentials it uses, NULL for none */
    const char       *(*node_user)(const tsr_router_t *router);
    const char       *(*node_password)(const tsr_router_t *router,
                                       size_t *len);

    unsigned            verify_role:1;      /* nodes check ROLE: master */
    unsigned            eval:1;             /* EVAL on the store's own
                                               server */
};


extern const tsr_topo_ops_t  tsr_topo_single TSR_HIDDEN;
extern const tsr_topo_ops_t  tsr_topo_cluster TSR_HIDDEN;
extern const tsr_topo_ops_t  tsr_topo_sentinel TSR_HIDDEN;


/* the store's server, and a router store's router */
TSR_HIDDEN tsr_server_t *tsr_store_server(const tsr_store_t *st);
TSR_HIDDEN tsr_router_t *tsr_store_router(const tsr_store_t *st);


/* ---- tsr_router.c: the store-level hooks every router shares ---- */

TSR_HIDDEN void tsr_store_router_destroy(tsr_store_t *st);
TSR_HIDDEN int tsr_store_router_op(tsr_store_t *st,
    const tsr_store_op_t *op);
TSR_HIDDEN int tsr_store_router_start(tsr_store_t *st,
    const tsr_loop_t *loop);
TSR_HIDDEN tsr_req_t *tsr_store_router_get(tsr_store_t *st,
    const char *name, const char *key, size_t keylen, int getdel,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);
TSR_HIDDEN void tsr_store_router_timer(tsr_store_t *st);
TSR_HIDDEN void tsr_store_router_on_read(tsr_store_t *st, int fd);
TSR_HIDDEN void tsr_store_router_on_write(tsr_store_t *st, int fd);


#endif /* TSR_TOPO_H_INCLUDED */
