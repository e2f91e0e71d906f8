
/*
 * Private to the store (tsr_store.c, tsr_store_conf.c, tsr_server.c,
 * tsr_router.c and the topologies): defaults, limits and buffer sizes of
 * the Redis client, synchronous and asynchronous, the store object
 * itself, and what its files call of each other.
 *
 * A store of one Redis server has one connection.  Redis Cluster and
 * Sentinel stores are routers: they own stores of one connection each,
 * their nodes (one per cluster master; the master and one sentinel),
 * which run on the router's event loop through a small adapter and do
 * all the connection work, deadlines, breakers and bounds included.
 * Nodes tell their router about connections and about error replies
 * through the hooks below; the router decides where keys go.
 */


#ifndef TSR_STORE_H_INCLUDED
#define TSR_STORE_H_INCLUDED


#include "tsr_server.h"


typedef struct tsr_topo_ops_s  tsr_topo_ops_t;


/* a synchronous operation, as the public call asked for it */
typedef struct {
    int                 op;                 /* TSR_STORE_OP_* */
    const char         *key;
    size_t              keylen;
    uint8_t            *buf;                /* GET, GETDEL */
    size_t              size;               /* of buf */
    size_t             *len;                /* the value's, on return */
    const uint8_t      *val;                /* SET */
    size_t              vlen;
    uint64_t            ttl_ms;
    const char         *script;             /* EVAL */
    size_t              script_len;
    int                 argc;
    const char        **argv;
    const size_t       *argvlen;
} tsr_store_op_t;


/*
 * An asynchronous lookup.  hiredis holds it as the privdata of its
 * command and hands it back exactly once, with the reply or with NULL
 * when the context goes away: that callback frees it, unless the lookup
 * goes on, as the GETDEL script or on the node a redirection names.
 * "done" is NULL once the caller is answered (reply, deadline) or gone
 * (cancel).
 */

struct tsr_req_s {
    tsr_req_t          *prev;           /* waiting lookups, by deadline */
    tsr_req_t          *next;
    tsr_store_t        *store;          /* the node it waits on */
    tsr_store_done_pt   done;
    void               *arg;
    uint64_t            deadline;       /* loop time */
    uint64_t            timeout;
    size_t              keylen;
    unsigned            getdel:1;
    unsigned            eval:1;         /* sent as the GETDEL script */
    unsigned            haskey:1;       /* "key" holds the key */
    unsigned            redirected:1;   /* followed one redirection */
    unsigned            script:1;       /* the caller's script, "cmd" */
    char               *cmd;            /* a script on a router's node:
                                           the command as sent, wiped */
    size_t              cmdlen;
    char                key[];          /* for the script, redirections */
};


/*
 * A write of a router's node: the command as sent, so that a redirection
 * can send it again.  Freed (and wiped: it holds a sealed value) by its
 * reply callback.
 */

typedef struct {
    const char         *name;           /* "SET", "DEL" */
    char               *cmd;            /* redisFormatCommand()'s */
    size_t              len;
    unsigned            redirected:1;
} tsr_store_wcmd_t;


/* a network of "allow=" */
typedef struct {
    int                 family;             /* AF_INET, AF_INET6 */
    int                 bits;
    unsigned char       addr[16];
} tsr_store_net_t;


/*
 * The store: a server (srv) and its topology.  A store of one server
 * connects through srv; a router keeps its settings, loop, counts of
 * its own and last error there, and its nodes in "nodes".
 */

struct tsr_store_s {
    tsr_server_t        srv;
    tsr_store_net_t    *allow;              /* router: where nodes Redis
                                               names may be */
    size_t              nallow;
    unsigned            never_block:1;

    /* the topology (tsr_topo.h); a router's: Redis Cluster or Sentinel */
    const tsr_topo_ops_t  *topo;
    tsr_store_t       **nodes;
    size_t              nnodes;
    size_t              nodes_size;
    void               *topo_data;          /* the topology's own state */
    uint64_t            duty_at;            /* the router's own work */
    unsigned            routing:1;          /* a router in its own entry
                                               points: arms at the end */

    /* a router's node */
    tsr_store_t        *parent;
};


/* ---- tsr_store.c: the store object and its lookups ---- */

TSR_HIDDEN void tsr_store_set_error(tsr_store_t *st,
    const char *fmt, ...) TSR_PRINTF(2, 3);
TSR_HIDDEN void tsr_store_log(tsr_store_t *st, int level,
    const char *fmt, ...) TSR_PRINTF(3, 4);
TSR_HIDDEN tsr_tls_t *tsr_store_tls_create(const tsr_store_conf_t *conf,
    char *err, size_t errlen);
TSR_HIDDEN tsr_tls_t *tsr_store_tls(const tsr_store_t *st);
TSR_HIDDEN int tsr_store_fetch(tsr_store_t *st, int del, const char *key,
    size_t keylen, uint8_t *buf, size_t *len);
TSR_HIDDEN void tsr_store_stats_add(tsr_store_stats_t *to,
    const tsr_store_stats_t *from);

/*
 * An asynchronous lookup's life: waiting in its store's list, earliest
 * deadline first (insert, unlink), answered once (complete), freed and
 * wiped (free); tsr_store_req_name() is its command's name for messages.
 */
TSR_HIDDEN const char *tsr_store_req_name(const tsr_req_t *req);
TSR_HIDDEN void tsr_store_complete(tsr_store_t *st, tsr_req_t *req, int rc,
    const redisReply *reply);
TSR_HIDDEN void tsr_store_req_insert(tsr_store_t *st, tsr_req_t *req);
TSR_HIDDEN void tsr_store_req_unlink(tsr_store_t *st, tsr_req_t *req);
TSR_HIDDEN void tsr_store_req_free(tsr_req_t *req);

/*
 * Closes the synchronous connections of "st" and of its nodes without
 * counting a failure: a caller that uses a store once in a while (the
 * ticket ring) does not hold idle connections.  The next call connects
 * again, to the server the topology names then.
 */
TSR_HIDDEN void tsr_store_close(tsr_store_t *st);

/*
 * One deadline (monotonic ms, 0: none) for every synchronous exchange of
 * "st" and its nodes from now on, however slowly Redis answers: a caller
 * that waits on a whole series of commands (the ticket ring at start-up)
 * bounds the series, not each reply.
 */
TSR_HIDDEN void tsr_store_set_deadline(tsr_store_t *st, uint64_t deadline);


/* ---- tsr_store_conf.c: addresses and names ---- */

TSR_HIDDEN int tsr_store_parse_host(const char *addr, size_t len,
    const char **host, size_t *hlen, int *port, char *err, size_t errlen);
TSR_HIDDEN int tsr_store_parse_list(const char *list, size_t len,
    char **hosts, int *ports, size_t n, char *err, size_t errlen);
TSR_HIDDEN int tsr_store_parse_nets(const char *list, size_t len,
    tsr_store_net_t **nets, size_t *n, char *err, size_t errlen);
TSR_HIDDEN int tsr_store_resolve(tsr_store_t *st);
TSR_HIDDEN int tsr_store_resolve_name(tsr_store_t *st,
    const char *host, char *ip, size_t iplen);
TSR_HIDDEN int tsr_store_numeric(const char *host);

/*
 * Whether router "st" may create a node at "ip" (numeric) for Redis:
 * inside one of its "allow=" networks, or anywhere without them.
 */
TSR_HIDDEN int tsr_store_allowed(tsr_store_t *st, const char *ip);


/* ---- tsr_server.c: one server, for tsr_single.c, routers, the store ---- */

/* GETDEL as a script, for Redis before 6.2 */
extern const char  tsr_store_getdel_lua[] TSR_HIDDEN;

/*
 * The synchronous side: connect or reconnect (ready, drop), send
 * (command, command_argv, vsync; getdel_reply falls back to the
 * script), sort a lookup's reply out, free and wipe replies.
 */
TSR_HIDDEN int tsr_store_ready(tsr_store_t *st);
TSR_HIDDEN void tsr_store_drop(tsr_store_t *st);
TSR_HIDDEN int tsr_store_command(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, ...);
TSR_HIDDEN int tsr_store_command_argv(tsr_store_t *st, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen);
TSR_HIDDEN int tsr_store_vsync(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, va_list args);
TSR_HIDDEN int tsr_store_getdel_reply(tsr_store_t *st, const char *key,
    size_t keylen, redisReply **reply);
TSR_HIDDEN int tsr_store_lookup_reply(tsr_store_t *st, const char *name,
    const redisReply *reply, size_t keylen, size_t size);
TSR_HIDDEN void tsr_store_reply_error(tsr_store_t *st,
    const char *name, const redisReply *reply);
TSR_HIDDEN void tsr_store_free_reply(tsr_store_t *st, redisReply *reply,
    int wipe);

/*
 * The asynchronous side: connect or reconnect (async_connect, once
 * async_resolve found the address, and async_drop), send (the
 * async_*() commands, within the ring of send times: sent_pop,
 * writable, unsent; writes through write_async and write_done), the
 * lookup's reply callback, the breaker, the loop's timer and clock.
 */
TSR_HIDDEN void tsr_store_async_connect(tsr_store_t *st);
TSR_HIDDEN int tsr_store_async_target(const tsr_store_t *st);
TSR_HIDDEN void tsr_store_async_resolve(tsr_store_t *st);
TSR_HIDDEN void tsr_store_async_drop(tsr_store_t *st);
TSR_HIDDEN int tsr_store_async_command(tsr_store_t *st,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, ...);
TSR_HIDDEN int tsr_store_async_vcommand(tsr_store_t *st,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, va_list args);
TSR_HIDDEN int tsr_store_async_formatted(tsr_store_t *st,
    tsr_conn_reply_pt fn, void *privdata, const char *cmd, size_t len);
TSR_HIDDEN int tsr_store_async_get(tsr_store_t *st, tsr_req_t *req,
    const char *key, size_t keylen);
TSR_HIDDEN int tsr_store_async_set(tsr_store_t *st, const char *key,
    size_t keylen, const uint8_t *val, size_t vlen, uint64_t ttl_ms);
TSR_HIDDEN void tsr_store_get_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
TSR_HIDDEN uint64_t tsr_store_sent_pop(tsr_store_t *st);
TSR_HIDDEN int tsr_store_writable(tsr_store_t *st, const char *name);
TSR_HIDDEN size_t tsr_store_unsent(const tsr_store_t *st);
TSR_HIDDEN void tsr_store_write_async(tsr_store_t *st, const char *name,
    const char *fmt, ...);
TSR_HIDDEN void tsr_store_write_done(tsr_store_t *st, const char *name,
    int rc);
TSR_HIDDEN void tsr_store_handle_write(tsr_store_t *st);
TSR_HIDDEN int tsr_store_breaker_state(tsr_store_t *st, uint64_t now);
TSR_HIDDEN void tsr_store_breaker_ok(tsr_store_t *st);
TSR_HIDDEN void tsr_store_breaker_fail(tsr_store_t *st, uint64_t now);
TSR_HIDDEN uint64_t tsr_store_stall_ms(tsr_store_t *st);
TSR_HIDDEN void tsr_store_arm(tsr_store_t *st);
TSR_HIDDEN uint64_t tsr_store_loop_now(tsr_store_t *st);


/* ---- nodes and routers (tsr_router.c), for the topologies ---- */

/*
 * A new node of router "st" for "host" (a numeric address once the
 * router is asynchronous) and "port", with the router's settings;
 * "sentinel" selects the sentinels' credentials and no database.  On an
 * asynchronous router it starts connecting at once.  Returns NULL on
 * failure, with a message in the router's "err".
 */
TSR_HIDDEN tsr_store_t *tsr_store_node_add(tsr_store_t *st,
    const char *host, int port, int sentinel);

/* The node of router "st" at "host" and "port", or NULL. */
TSR_HIDDEN tsr_store_t *tsr_store_node_find(tsr_store_t *st,
    const char *host, int port);

/*
 * Points a node at another server: its connection, if any, is closed
 * without counting a failure, and the next one goes to "host" ("port");
 * "keep_backoff" keeps the delay before that attempt.
 */
TSR_HIDDEN int tsr_store_node_move(tsr_store_t *node,
    const char *host, int port, int keep_backoff);

/*
 * Frees node "i" of router "st" when it is parked with nothing left on
 * it, its counts kept in the router's; the nodes after it move down one
 * index.  1 when freed.
 */
TSR_HIDDEN int tsr_store_node_free(tsr_store_t *st, size_t i);

/* Closes a node's connection for good (park) or until unparked. */
TSR_HIDDEN void tsr_store_node_park(tsr_store_t *node);
TSR_HIDDEN void tsr_store_node_unpark(tsr_store_t *node);

/*
 * Closes a node's connection without counting a failure; the next
 * attempt follows at once.
 */
TSR_HIDDEN void tsr_store_node_reset(tsr_store_t *node);

/* Closes a node's connection as failed, for the reason in its "err". */
TSR_HIDDEN void tsr_store_node_fail(tsr_store_t *node);

/* Whether a node is set up and takes commands. */
TSR_HIDDEN int tsr_store_node_ready(const tsr_store_t *node);

/*
 * Queues a command of the router's own on a ready node; "fn" receives
 * the reply (or NULL when the connection goes away) and calls
 * tsr_store_node_replied() first.  Returns TSR_OK or an error.
 */
TSR_HIDDEN int tsr_store_node_command(tsr_store_t *node,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, ...);
TSR_HIDDEN void tsr_store_node_replied(tsr_store_t *node);

/*
 * A synchronous command on a node, connecting first if needed; the
 * caller frees *reply with tsr_store_node_free_reply().
 */
TSR_HIDDEN int tsr_store_node_sync(tsr_store_t *node,
    redisReply **reply, const char *name, const char *fmt, ...);
TSR_HIDDEN void tsr_store_node_free_reply(tsr_store_t *node,
    redisReply *reply);

/* Runs a synchronous operation on a node, as the public calls do. */
TSR_HIDDEN int tsr_store_node_op(tsr_store_t *node,
    const tsr_store_op_t *op);

/*
 * Takes back the count of an operation that failed on a node and is
 * tried again (the error stays counted).
 */
TSR_HIDDEN void tsr_store_node_uncount(tsr_store_t *node,
    const tsr_store_op_t *op);

/* Asks for the router's timer at "at" (loop time) at the latest. */
TSR_HIDDEN void tsr_store_router_wake(tsr_store_t *st, uint64_t at);


#endif /* TSR_STORE_H_INCLUDED */
