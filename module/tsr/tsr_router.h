
/*
 * A router: a store that sends each operation to one of its nodes,
 * servers of their own (tsr_server.h), created, moved, parked and freed
 * by tsr_router.c, which drives their timers and sockets from the loop
 * the user gave the store.  What differs between routers (the node for a
 * key, the map, failover) is their topology's (tsr_topo.h): Redis
 * Cluster and Sentinel use this, and the connection layer, only.
 */


#ifndef TSR_ROUTER_H_INCLUDED
#define TSR_ROUTER_H_INCLUDED


#include "tsr_server.h"


typedef struct tsr_topo_ops_s  tsr_topo_ops_t;
typedef struct tsr_router_s  tsr_router_t;


struct tsr_router_s {
    tsr_server_t       *srv;                /* the store's own: the
                                               settings its nodes copy,
                                               the loop, counts before a
                                               node, the last error */
    tsr_store_t        *store;
    const tsr_topo_ops_t  *topo;
    tsr_server_t      **nodes;
    size_t              nnodes;
    size_t              nodes_size;
    void               *data;               /* the topology's own state */
    uint64_t            duty_at;            /* the router's own work */
    tsr_store_net_t    *allow;              /* where nodes Redis names
                                               may be */
    size_t              nallow;
    tsr_server_hooks_t  node_hooks;         /* what its nodes call */
    unsigned            routing:1;          /* in its own entry points:
                                               arms at the end */
};


/*
 * Whether "router" may create a node at "ip" (numeric) for Redis:
 * inside one of its "allow=" networks, or anywhere without them.
 */
TSR_HIDDEN int tsr_router_allowed(tsr_router_t *router, const char *ip);


/*
 * A new node of "router" for "host" (a numeric address once the
 * router is asynchronous) and "port", with the router's settings;
 * "sentinel" selects the sentinels' credentials and no database.  On an
 * asynchronous router it starts connecting at once.  Returns NULL on
 * failure, with a message in the router's "err".
 */
TSR_HIDDEN tsr_server_t *tsr_router_node_add(tsr_router_t *router,
    const char *host, int port, int sentinel);

/* The node of "router" at "host" and "port", or NULL. */
TSR_HIDDEN tsr_server_t *tsr_router_node_find(tsr_router_t *router,
    const char *host, int port);

/*
 * Points a node at another server: its connection, if any, is closed
 * without counting a failure, and the next one goes to "host" ("port");
 * "keep_backoff" keeps the delay before that attempt.
 */
TSR_HIDDEN int tsr_router_node_move(tsr_server_t *node,
    const char *host, int port, int keep_backoff);

/*
 * Frees node "i" of "router" when it is parked with nothing left on
 * it, its counts kept in the router's; the nodes after it move down one
 * index.  1 when freed.
 */
TSR_HIDDEN int tsr_router_node_free(tsr_router_t *router, size_t i);

/* Closes a node's connection for good (park) or until unparked. */
TSR_HIDDEN void tsr_router_node_park(tsr_server_t *node);
TSR_HIDDEN void tsr_router_node_unpark(tsr_server_t *node);

/*
 * Closes a node's connection without counting a failure; the next
 * attempt follows at once.
 */
TSR_HIDDEN void tsr_router_node_reset(tsr_server_t *node);

/* Closes a node's connection as failed, for the reason in its "err". */
TSR_HIDDEN void tsr_router_node_fail(tsr_server_t *node);

/*
 * Queues a command of the router's own on a ready node; "fn" receives
 * the reply (or NULL when the connection goes away) and calls
 * tsr_router_node_replied() first.  Returns TSR_OK or an error.
 */
TSR_HIDDEN int tsr_router_node_command(tsr_server_t *node,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, ...);
TSR_HIDDEN void tsr_router_node_replied(tsr_server_t *node);

/*
 * A synchronous command on a node, connecting first if needed; the
 * caller frees *reply with tsr_router_node_free_reply().
 */
TSR_HIDDEN int tsr_router_node_sync(tsr_server_t *node,
    redisReply **reply, const char *name, const char *fmt, ...);
TSR_HIDDEN void tsr_router_node_free_reply(tsr_server_t *node,
    redisReply *reply);

/* Runs a synchronous operation on a node, as the public calls do. */
TSR_HIDDEN int tsr_router_node_op(tsr_server_t *node,
    const tsr_store_op_t *op);

/*
 * Takes back the count of an operation that failed on a node and is
 * tried again (the error stays counted).
 */
TSR_HIDDEN void tsr_router_node_uncount(tsr_server_t *node,
    const tsr_store_op_t *op);

/* Asks for the router's timer at "at" (loop time) at the latest. */
TSR_HIDDEN void tsr_router_wake(tsr_router_t *router, uint64_t at);


#endif /* TSR_ROUTER_H_INCLUDED */
