
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


/*
 * One Redis server: its settings, its blocking connection and its
 * asynchronous one with everything that goes with it (resolution,
 * setup, deadlines, the circuit breaker, the bounded queue, the ring of
 * send times), its counts and its last error.  A store of one server
 * has one; each node of a router is one.
 */

struct tsr_server_s {
    tsr_sync_t         *ctx;                /* the blocking connection */
    tsr_tls_t          *tls;                /* TLS, for nodes too */
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

    /* as a router's node */
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


#endif /* TSR_SERVER_H_INCLUDED */
