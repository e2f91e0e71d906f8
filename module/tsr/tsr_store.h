
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


#include "tsr.h"

#include <sys/un.h>

#include <hiredis/hiredis.h>

#include "tsr_conn.h"
#include "tsr_sync.h"
#include "tsr_resp.h"
#include "tsr_util.h"


#define TSR_STORE_DEFAULT_HOST         "127.0.0.1"
#define TSR_STORE_DEFAULT_PORT         6379
#define TSR_STORE_CONNECT_TIMEOUT      100     /* ms */
#define TSR_STORE_COMMAND_TIMEOUT      100     /* ms */
#define TSR_STORE_BACKOFF_MIN          50      /* ms */
#define TSR_STORE_BACKOFF_MAX          2000    /* ms */

/* asynchronous side */
#define TSR_STORE_MAX_INFLIGHT         256     /* lookups */
#define TSR_STORE_BREAKER_FAILURES     5
#define TSR_STORE_QUEUE_FACTOR         4       /* commands awaiting replies,
                                                  per allowed lookup */
#define TSR_STORE_SETUP_COMMANDS       3       /* AUTH, SELECT, ROLE (or
                                                  PING) */
#define TSR_STORE_STALL_MIN            1000    /* ms without replies, at
                                                  least, before a drop */
#define TSR_STORE_STALL_FACTOR         4       /* times the longest timeout */
#define TSR_STORE_LIMIT                1000000 /* max_inflight and breaker
                                                  failures, at most */
#define TSR_STORE_MAX_TIMEOUT          86400000    /* a lookup's, ms */
#define TSR_STORE_RESOLVE_LOG          10000   /* ms between messages
                                                  about the same name
                                                  failing to resolve */
#define TSR_STORE_MAX_UNSENT           1048576 /* bytes of commands not yet
                                                  written: more are refused
                                                  while Redis does not read */

/* room for a unix socket's path and its NUL */
#define TSR_STORE_SUN_PATH  sizeof(((struct sockaddr_un *) 0)->sun_path)

/* room for "unix:" and a socket path, or "[" a host name "]:65535" */
#define TSR_STORE_ADDR_LEN             272
#define TSR_STORE_ERR_LEN              512
/* a numeric IPv6 address with a scope ("%eth0") */
#define TSR_STORE_IP_LEN               64
/* at most this much of a Redis error reply goes into a message */
#define TSR_STORE_REPLY_TEXT           128

/* connection states of the asynchronous side */
#define TSR_STORE_IDLE                 0   /* none; the next attempt waits */
#define TSR_STORE_CONNECTING           1   /* setup commands sent */
#define TSR_STORE_READY                2

/* circuit breaker states */
#define TSR_STORE_CLOSED               0
#define TSR_STORE_OPEN                 1
#define TSR_STORE_HALF_OPEN            2

/* a node list ("cluster=", "sentinel="): entries, and its longest form */
#define TSR_STORE_MAX_LIST             64
#define TSR_STORE_MAX_NAME             256     /* a Sentinel master name */
#define TSR_STORE_MAX_NODES            1024    /* connections of a router */

/*
 * Internal only, never returned by a public call: a node's reply was a
 * redirection (MOVED, ASK) that its router follows.
 */
#define TSR_EREDIRECT                  -100

/* what a router makes of an error reply on one of its nodes */
#define TSR_STORE_ERROR_OTHER          0   /* an ordinary error */
#define TSR_STORE_ERROR_REDIRECT       1   /* follow it to *target */
#define TSR_STORE_ERROR_LOST           2   /* a redirection not followed */

/* what nodes tell their router */
#define TSR_STORE_EV_READY             1   /* set up, commands may go */
#define TSR_STORE_EV_DOWN              2   /* failed or lost */
#define TSR_STORE_EV_NOT_MASTER        3   /* ROLE is not "master" */
#define TSR_STORE_EV_READONLY          4   /* a READONLY error reply */
#define TSR_STORE_EV_CLUSTERDOWN       5   /* a CLUSTERDOWN error reply */

/* operations of the synchronous side, routed by key */
#define TSR_STORE_OP_GET               1
#define TSR_STORE_OP_GETDEL            2
#define TSR_STORE_OP_SET               3
#define TSR_STORE_OP_DEL               4
#define TSR_STORE_OP_EVAL              5   /* a script, answering as GET */



typedef struct tsr_topo_ops_s  tsr_topo_ops_t;


/* a redirection, as MOVED or ASK said */
typedef struct {
    int                 ask;
    int                 slot;
    int                 port;
    char                ip[TSR_STORE_IP_LEN];   /* "": the node itself */
} tsr_store_redirect_t;


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


struct tsr_store_s {
    tsr_sync_t         *ctx;                /* the blocking connection */
    tsr_tls_t          *tls;                /* TLS, for nodes too */
    char               *host;
    tsr_store_net_t    *allow;              /* router: where nodes Redis
                                               names may be */
    size_t              nallow;
    char               *unix_path;
    char               *user;
    char               *password;
    size_t              password_len;
    int                 port;
    int                 db;
    int                 connect_timeout_ms;
    int                 command_timeout_ms;
    int                 backoff_min_ms;
    int                 backoff_max_ms;
    int                 backoff_ms;         /* the next failure's delay */
    int64_t             next_attempt;       /* monotonic ms; 0: any time */
    uint64_t            sync_deadline;      /* monotonic ms, of every
                                               exchange; 0: none */
    unsigned            getdel_eval:1;      /* Redis without GETDEL */
    unsigned            no_caps:1;          /* a sentinel: no INFO */
    unsigned            no_user:1;          /* AUTH took no user name */
    unsigned            caps_logged:1;      /* INFO refused, said once */
    unsigned            never_block:1;
    tsr_log_pt          log;
    void               *log_data;
    tsr_store_stats_t   stats;

    /* the asynchronous side; times are the loop's */
    tsr_conn_t         *conn;
    tsr_loop_t          loop;

    /* waiting lookups, earliest deadline first */
    tsr_req_t          *head;
    tsr_req_t          *tail;

    /* a ring of send times of commands awaiting replies, oldest first */
    uint64_t           *sent;
    uint64_t           *sent_us;            /* the same, tsr_now_us(),
                                               in the same allocation */
    size_t              sent_size;
    size_t              sent_first;
    size_t              sent_count;

    uint64_t            timer_at;           /* 0: not armed */
    uint64_t            conn_deadline;      /* connecting: give up then */
    uint64_t            reconnect_at;
    uint64_t            breaker_until;
    uint64_t            max_timeout;        /* longest lookup timeout */
    int                 fd;
    int                 conn_state;         /* TSR_STORE_IDLE, ... */
    int                 setup_left;         /* setup replies still due */
    int                 lookups;            /* lookups awaiting replies */
    int                 max_inflight;
    int                 max_queued;         /* commands awaiting replies */
    int                 breaker;            /* TSR_STORE_CLOSED, ... */
    int                 breaker_failures;
    int                 breaker_ms;         /* the next open period */
    int                 failures;           /* in a row */
    unsigned            async:1;
    unsigned            closing:1;          /* the connection ends */
    unsigned            reading:1;          /* interests given to the */
    unsigned            writing:1;          /* loop */
    unsigned            watched:1;
    unsigned            flushing:1;         /* in tsr_conn_on_write() */
    unsigned            reading_now:1;      /* in tsr_conn_on_read() */
    unsigned            read_more:1;        /* reads left for the next
                                               turn of the loop */
    unsigned            broken:1;           /* the loop refused the fd */
    unsigned            dropping:1;         /* "err" says why */
    unsigned            wipe:1;             /* a value passed the reader */
    unsigned            destroying:1;
    unsigned            resolve:1;          /* "host" is a name, resolved
                                               through the loop before
                                               each attempt */
    unsigned            resolving:1;        /* a resolution in flight */
    void               *resolve_handle;     /* its handle, for cancel */
    uint64_t            resolve_logged;     /* a failure logged then */
    char                ip[TSR_STORE_IP_LEN];   /* numeric host */

    /* the topology (tsr_topo.h); a router's: Redis Cluster or Sentinel */
    const tsr_topo_ops_t  *topo;
    tsr_store_t       **nodes;
    size_t              nnodes;
    size_t              nodes_size;
    void               *topo_data;          /* the topology's own state */
    uint64_t            duty_at;            /* the router's own work */

    /* a router's node */
    tsr_store_t        *parent;
    uint64_t            node_timer;         /* its timer, kept by the
                                               router; 0: not armed */
    uint64_t            retire_at;          /* park it then at the latest */
    tsr_store_redirect_t  redirect;         /* the last one, synchronous */
    unsigned            verify_role:1;      /* setup asks ROLE: master */
    unsigned            asking:1;           /* ASKING before the next
                                               synchronous command */
    unsigned            parked:1;           /* no connection wanted */
    unsigned            quiet:1;            /* dropped on purpose */
    unsigned            master:1;           /* owns cluster slots */
    unsigned            seed:1;             /* a configured cluster node */
    unsigned            retiring:1;         /* to be parked when idle */
    unsigned            routing:1;          /* a router in its own entry
                                               points: arms at the end */

    char                addr[TSR_STORE_ADDR_LEN];
    char                last[TSR_STORE_ERR_LEN];    /* why we are down */
    char                resolve_err[TSR_STORE_ERR_LEN]; /* logged last */
    char                err[TSR_STORE_ERR_LEN];
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
