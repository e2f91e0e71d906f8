
/*
 * One Redis server, as the store (tsr_store.h) and its topologies use
 * it: limits and buffer sizes of the Redis client, and the server
 * object.
 */


#ifndef TSR_SERVER_H_INCLUDED
#define TSR_SERVER_H_INCLUDED


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


/* a redirection, as MOVED or ASK said */
typedef struct {
    int                 ask;
    int                 slot;
    int                 port;
    char                ip[TSR_STORE_IP_LEN];   /* "": the node itself */
} tsr_store_redirect_t;


typedef struct tsr_server_s  tsr_server_t;


/* a network of "allow=" */
typedef struct {
    int                 family;             /* AF_INET, AF_INET6 */
    int                 bits;
    unsigned char       addr[16];
} tsr_store_net_t;


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
    unsigned            later:1;            /* SET: with the turn's write */
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
    tsr_server_t       *srv;            /* the server it waits on */
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
} tsr_server_wcmd_t;


/*
 * What a router's node tells its router ("owner"); a server of its own
 * has none.  event, error and redirect may be NULL, gone may not.
 */

typedef struct {
    /* the node connected, went down, said READONLY, ... (TSR_STORE_EV_*) */
    void              (*event)(void *owner, tsr_server_t *node, int ev);

    /*
     * An error reply of an asynchronous command: TSR_STORE_ERROR_*; for
     * a redirection, the node it names in *target, and whether it is
     * an ASK.
     */
    int               (*error)(void *owner, tsr_server_t *node,
                               const redisReply *reply,
                               tsr_server_t **target, int *ask);

    /* an error reply of a synchronous command, read as a redirection */
    int               (*redirect)(const redisReply *reply,
                                  tsr_store_redirect_t *r);

    /* the router is being destroyed: no more news for it */
    int               (*gone)(void *owner);
} tsr_server_hooks_t;


/*
 * One Redis server: its settings, its blocking connection and its
 * asynchronous one with everything that goes with it (resolution,
 * setup, deadlines, the circuit breaker, the bounded queue, the ring of
 * send times), its counts and its last error.  A store of one server
 * has one; each node of a router is one.
 */

struct tsr_server_s {
    tsr_sync_t         *ctx;                /* the blocking connection */
    tsr_tls_t          *tls;                /* TLS; a node's is its
                                               router's, borrowed */
    char               *host;
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
    unsigned            tls_borrowed:1;     /* not freed with it */
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

    /* as a router's node: its hooks, NULL for a server of its own */
    const tsr_server_hooks_t  *hooks;
    void               *owner;
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

    char                addr[TSR_STORE_ADDR_LEN];
    char                last[TSR_STORE_ERR_LEN];    /* why we are down */
    char                resolve_err[TSR_STORE_ERR_LEN]; /* logged last */
    char                err[TSR_STORE_ERR_LEN];
};


/* ---- tsr_server_ops.c: the operations on one server ---- */

/*
 * A server for "conf" (its address, credentials, timeouts and TLS; no
 * cluster or sentinel part), or NULL with a message in "err".  init()
 * sets up one in place, as the store embeds its own.
 */
TSR_HIDDEN tsr_server_t *tsr_server_create(const tsr_store_conf_t *conf,
    char *err, size_t errlen);
TSR_HIDDEN int tsr_server_init(tsr_server_t *srv,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
TSR_HIDDEN int tsr_server_address(tsr_server_t *srv,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
TSR_HIDDEN int tsr_server_credentials(tsr_server_t *srv,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
TSR_HIDDEN tsr_tls_t *tsr_server_tls_create(const tsr_store_conf_t *conf,
    char *err, size_t errlen);
TSR_HIDDEN void tsr_server_free(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_destroy(tsr_server_t *srv);

/* the synchronous side: connect, and an operation checked already */
TSR_HIDDEN int tsr_server_connect(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_op(tsr_server_t *srv, const tsr_store_op_t *op);
TSR_HIDDEN void tsr_server_close(tsr_server_t *srv);

/*
 * The asynchronous side: start on "loop" with the bounds given (0: the
 * defaults), lookups and scripts, the loop's events, the state.
 */
TSR_HIDDEN int tsr_server_async(tsr_server_t *srv, const tsr_loop_t *loop,
    int max_inflight, int breaker_failures);
TSR_HIDDEN tsr_req_t *tsr_server_get_async(tsr_server_t *srv,
    const char *name, const char *key, size_t keylen, int getdel,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);
TSR_HIDDEN tsr_req_t *tsr_server_eval_async(tsr_server_t *srv,
    const char *script, size_t len, const char *key, size_t keylen,
    int argc, const char **argv, const size_t *argvlen,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);
TSR_HIDDEN void tsr_server_on_timer(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_on_read(tsr_server_t *srv, int fd);
TSR_HIDDEN void tsr_server_on_write(tsr_server_t *srv, int fd);
TSR_HIDDEN int tsr_server_state(const tsr_server_t *srv);

/* messages: the last error ("err"), and the log */
TSR_HIDDEN void tsr_server_set_error(tsr_server_t *srv,
    const char *fmt, ...) TSR_PRINTF(2, 3);
TSR_HIDDEN void tsr_server_log(tsr_server_t *srv, int level,
    const char *fmt, ...) TSR_PRINTF(3, 4);
TSR_HIDDEN tsr_tls_t *tsr_server_tls(const tsr_server_t *srv);

/* whether a server is set up and takes commands */
TSR_HIDDEN int tsr_server_usable(const tsr_server_t *srv);

/*
 * An asynchronous lookup's life: waiting in its store's list, earliest
 * deadline first (insert, unlink), answered once (complete), freed and
 * wiped (free); tsr_server_req_name() is its command's name for messages.
 */
TSR_HIDDEN const char *tsr_server_req_name(const tsr_req_t *req);
TSR_HIDDEN void tsr_server_complete(tsr_server_t *srv, tsr_req_t *req, int rc,
    const redisReply *reply);
TSR_HIDDEN void tsr_server_req_insert(tsr_server_t *srv, tsr_req_t *req);
TSR_HIDDEN void tsr_server_req_unlink(tsr_server_t *srv, tsr_req_t *req);
TSR_HIDDEN void tsr_server_req_free(tsr_req_t *req);

/* ---- tsr_server.c: the connection work ---- */

/* GETDEL as a script, for Redis before 6.2 */
extern const char  tsr_server_getdel_lua[] TSR_HIDDEN;

/*
 * The synchronous side: connect or reconnect (ready, drop), send
 * (command, command_argv, vsync; getdel_reply falls back to the
 * script), sort a lookup's reply out, free and wipe replies.
 */
TSR_HIDDEN int tsr_server_ready(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_drop(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_command(tsr_server_t *srv, redisReply **reply,
    const char *name, const char *fmt, ...);
TSR_HIDDEN int tsr_server_command_argv(tsr_server_t *srv, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen);
TSR_HIDDEN int tsr_server_vsync(tsr_server_t *srv, redisReply **reply,
    const char *name, const char *fmt, va_list args);
TSR_HIDDEN int tsr_server_getdel_reply(tsr_server_t *srv, const char *key,
    size_t keylen, redisReply **reply);
TSR_HIDDEN int tsr_server_lookup_reply(tsr_server_t *srv, const char *name,
    const redisReply *reply, size_t keylen, size_t size);
TSR_HIDDEN void tsr_server_reply_error(tsr_server_t *srv,
    const char *name, const redisReply *reply);
TSR_HIDDEN void tsr_server_free_reply(tsr_server_t *srv, redisReply *reply,
    int wipe);

/*
 * The asynchronous side: connect or reconnect (async_connect, once
 * async_resolve found the address, and async_drop), send (the
 * async_*() commands, within the ring of send times: sent_pop,
 * writable, unsent; writes through write_async and write_done), the
 * lookup's reply callback, the breaker, the loop's timer and clock.
 */
TSR_HIDDEN void tsr_server_async_connect(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_async_target(const tsr_server_t *srv);
TSR_HIDDEN void tsr_server_async_resolve(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_async_drop(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_async_command(tsr_server_t *srv,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, ...);
TSR_HIDDEN int tsr_server_async_vcommand(tsr_server_t *srv,
    tsr_conn_reply_pt fn, void *privdata, const char *fmt, va_list args);
TSR_HIDDEN int tsr_server_async_formatted(tsr_server_t *srv,
    tsr_conn_reply_pt fn, void *privdata, const char *cmd, size_t len);
TSR_HIDDEN int tsr_server_async_get(tsr_server_t *srv, tsr_req_t *req,
    const char *key, size_t keylen);
TSR_HIDDEN int tsr_server_async_set(tsr_server_t *srv, const char *key,
    size_t keylen, const uint8_t *val, size_t vlen, uint64_t ttl_ms);
TSR_HIDDEN void tsr_server_get_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
TSR_HIDDEN uint64_t tsr_server_sent_pop(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_writable(tsr_server_t *srv, const char *name);
TSR_HIDDEN size_t tsr_server_unsent(const tsr_server_t *srv);
TSR_HIDDEN void tsr_server_write_async(tsr_server_t *srv, const char *name,
    int now, const char *fmt, ...);
TSR_HIDDEN void tsr_server_write_done(tsr_server_t *srv, const char *name,
    int rc, int now);
TSR_HIDDEN void tsr_server_handle_write(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_breaker_state(tsr_server_t *srv, uint64_t now);
TSR_HIDDEN void tsr_server_breaker_ok(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_breaker_fail(tsr_server_t *srv, uint64_t now);
TSR_HIDDEN uint64_t tsr_server_stall_ms(tsr_server_t *srv);
TSR_HIDDEN void tsr_server_arm(tsr_server_t *srv);
TSR_HIDDEN uint64_t tsr_server_loop_now(tsr_server_t *srv);


/* ---- tsr_store_conf.c: addresses, networks, names ---- */

TSR_HIDDEN int tsr_store_parse_host(const char *addr, size_t len,
    const char **host, size_t *hlen, int *port, char *err, size_t errlen);
TSR_HIDDEN int tsr_store_parse_list(const char *list, size_t len,
    char **hosts, int *ports, size_t n, char *err, size_t errlen);
TSR_HIDDEN int tsr_store_parse_nets(const char *list, size_t len,
    tsr_store_net_t **nets, size_t *n, char *err, size_t errlen);
TSR_HIDDEN int tsr_server_resolve(tsr_server_t *srv);
TSR_HIDDEN int tsr_server_resolve_name(tsr_server_t *srv,
    const char *host, char *ip, size_t iplen);
TSR_HIDDEN int tsr_store_numeric(const char *host);


#endif /* TSR_SERVER_H_INCLUDED */
