
/*
 * Glue shared by the http and the stream ssl_session_redis modules:
 * directive handlers and the merged server configuration.
 */


#ifndef _NGX_SSL_SESSION_REDIS_H_INCLUDED_
#define _NGX_SSL_SESSION_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "tsr.h"


/*
 * nginx versions differ here: 1.25.5 renamed the stream ssl module's
 * server conf type (ngx_stream_ssl_conf_t to ngx_stream_ssl_srv_conf_t).
 */

#if (nginx_version >= 1025005)
#define NGX_SSL_SESSION_REDIS_STREAM_SSL_CONF  ngx_stream_ssl_srv_conf_t
#else
#define NGX_SSL_SESSION_REDIS_STREAM_SSL_CONF  ngx_stream_ssl_conf_t
#endif


/* 1.25.0 brought HTTP/3: "listen ... quic" (ngx_http_listen_opt_t) */

#if (nginx_version >= 1025000)
#define NGX_SSL_SESSION_REDIS_QUIC_LISTEN(opt)  ((opt)->quic)
#else
#define NGX_SSL_SESSION_REDIS_QUIC_LISTEN(opt)  0
#endif


#define NGX_SSL_SESSION_REDIS_DEFAULT_TIMEOUT  20


/* one Redis connection per worker and distinct address */
typedef struct {
    ngx_str_t               address;        /* for messages */
    ngx_str_t               ident;          /* as written */
    tsr_store_t            *store;
    ngx_connection_t       *conn;           /* a ring (c->queue) of one
                                               connection per socket */
    ngx_event_t             timer;          /* the store's deadlines */
    ngx_log_t              *log;
    time_t                  last_error;     /* logs at most once a second */
    ngx_uint_t              suppressed;
    /*
     * A host name followed at run time: the "resolver" of the first
     * server using the address, NULL: resolved once, at configuration
     * time
     */
    ngx_resolver_t         *resolver;
    ngx_msec_t              resolver_timeout;
} ngx_ssl_session_redis_store_t;


/* outcomes of a connection's lookup, for $ssl_session_redis */
#define NGX_SSL_SESSION_REDIS_NONE     0
#define NGX_SSL_SESSION_REDIS_L1       1
#define NGX_SSL_SESSION_REDIS_HIT      2
#define NGX_SSL_SESSION_REDIS_MISS     3
#define NGX_SSL_SESSION_REDIS_TIMEOUT  4
#define NGX_SSL_SESSION_REDIS_ERROR    5
#define NGX_SSL_SESSION_REDIS_SKIPPED  6


/* a fleet ticket key ring, shared by the servers with its settings */
typedef struct {
    ngx_ssl_session_redis_store_t  *store;
    ngx_str_t               prefix;
    ngx_msec_t              period;
    tsr_keyring_t          *keys;
    tsr_store_conf_t       *store_conf;     /* for the start-up load */
    uint64_t                lifetime_ms;    /* longest session timeout */
    ngx_array_t             ctxs;           /* SSL_CTX *, to attach */
    tsr_tickets_t          *tickets;        /* read by the callback */
    tsr_req_t              *req;            /* refresh in flight */
    unsigned                rotating:1;     /* "req" is a rotation */
    ngx_event_t             refresh;
    size_t                  ring_key_len;
    char                    ring_key[TSR_MAX_KEY_NAME];
} ngx_ssl_session_redis_tickets_t;


/*
 * Metrics: a shared memory zone per subsystem, kept across reloads (its
 * name carries a hash of the server names).  Once a second and when it
 * answers a status request, every worker adds what its counters gained
 * since it last did to the zone's totals, so that counters go on
 * growing when workers come and go, and writes its gauges into a slot
 * of its own, claimed by pid.  The status handler reads the totals and
 * adds up the slots of the workers alive.
 */

/* the same as AC_INIT's in configure.ac: ssl_session_redis_build_info */
#define NGX_SSL_SESSION_REDIS_VERSION      "0.1.0"

#define NGX_SSL_SESSION_REDIS_OUTCOMES     7
#define NGX_SSL_SESSION_REDIS_SLOTS        1024
#define NGX_SSL_SESSION_REDIS_NAME_LEN     256
#define NGX_SSL_SESSION_REDIS_ZONE_HTTP    "ssl_session_redis_http"
#define NGX_SSL_SESSION_REDIS_ZONE_STREAM  "ssl_session_redis_stream"

typedef struct {
    uint64_t                outcome[NGX_SSL_SESSION_REDIS_OUTCOMES];
    tsr_ssl_stats_t         ssl;
} ngx_ssl_session_redis_server_stats_t;

/* uint64_t only: totals are kept by adding differences word by word */
typedef struct {
    uint64_t                stores;         /* gauges */
    uint64_t                up;             /* stores connected */
    uint64_t                connecting;
    uint64_t                breaker_open;
    uint64_t                inflight;
    uint64_t                rings;          /* ticket rings loaded */
    uint64_t                rotated_at;     /* the oldest ring's rotation,
                                               Unix ms; 0: none */
    uint64_t                encrypt_until;  /* the earliest end of a
                                               current key, Unix ms */
    tsr_store_stats_t       store;          /* all stores, added up */
    tsr_tickets_stats_t     tickets;        /* all rings, added up */
} ngx_ssl_session_redis_worker_stats_t;

typedef struct {
    ngx_pid_t               pid;            /* 0: slot unused */
    uint64_t                stores;
    uint64_t                up;
    uint64_t                connecting;
    uint64_t                breaker_open;
    uint64_t                inflight;
    uint64_t                rings;
    uint64_t                rotated_at;
    uint64_t                encrypt_until;
} ngx_ssl_session_redis_gauges_t;

typedef struct {
    ngx_uint_t              nservers;
    ngx_msec_t              timeout;        /* the longest lookup deadline:
                                               the last latency bucket */
    /*
     * followed by the server names (NGX_SSL_SESSION_REDIS_NAME_LEN each),
     * the totals (a worker part and "nservers" server parts), then
     * NGX_SSL_SESSION_REDIS_SLOTS gauge slots
     */
} ngx_ssl_session_redis_shm_t;


/* per subsystem: everything to connect in init_process */
typedef struct {
    ngx_array_t             stores;     /* ngx_ssl_session_redis_store_t * */
    ngx_array_t             ctxs;       /* SSL_CTX *, with a binding */
    ngx_array_t             tickets;    /* ngx_ssl_session_redis_tickets_t * */
    ngx_shm_zone_t         *zone;       /* metrics */
    ngx_event_t             publish;    /* metrics, once a second */
    u_char                 *published;  /* what this worker added to the
                                           totals so far */
    ngx_uint_t              slot;       /* its gauge slot + 1, 0: none */
    unsigned                no_slot:1;  /* none was free: said once */
    ngx_event_t             announce;   /* fleet registration, worker 0 */
    ngx_str_t               proto;      /* "HTTP" or "STREAM" */
    unsigned                hbio:1;     /* holds the hello BIO's method */
} ngx_ssl_session_redis_main_conf_t;


typedef struct {
    /*
     * set by ngx_pcalloc() and meant to stay zero until merge:
     *
     *     store_conf, store_buf, keys
     */

    ngx_flag_t              enable;
    ngx_str_t               address;        /* for messages: a password
                                               in a URI shown as "***" */
    ngx_str_t               ident;          /* as written */
    ngx_array_t            *key_files;      /* of ngx_str_t */
    ngx_msec_t              timeout;
    ngx_str_t               prefix;
    ngx_flag_t              single_use;
    ngx_flag_t              tickets;
    ngx_msec_t              ticket_rotation;

    tsr_store_conf_t        store_conf;     /* points into store_buf */
    u_char                 *store_buf;
    char                   *host_name;      /* one Redis server by name */
    char                   *resolve_error;  /* it did not resolve: fatal
                                               without a "resolver" */
    tsr_keyring_t          *keys;
    ngx_ssl_session_redis_store_t  *store;

    u_char                 *file;           /* where "ssl_session_redis" */
    ngx_uint_t              line;           /* was set in this block */
} ngx_ssl_session_redis_conf_t;


void ngx_ssl_session_redis_init_conf(ngx_ssl_session_redis_conf_t *rcf);
ngx_int_t ngx_ssl_session_redis_init_main_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *proto);

/*
 * "resolver" and "resolver_timeout" are the server's (http: its location
 * configuration's; stream: its server configuration's): with name servers
 * configured, a Redis host name is followed at run time.
 */
char *ngx_ssl_session_redis_merge_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *prev, ngx_ssl_session_redis_conf_t *conf,
    ngx_resolver_t *resolver, ngx_msec_t resolver_timeout);

/*
 * Called from postconfiguration for every server: hooks its SSL_CTX
 * ("ssl_ctx" may be NULL: a server without ssl).  The session id context
 * is the one nginx set on "ssl_ctx", extended with "verify", the
 * server's ssl_verify_client value (0 to 3).
 */
ngx_int_t ngx_ssl_session_redis_setup_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx, ngx_uint_t verify,
    ngx_str_t *server_name);

/*
 * Called at the end of postconfiguration: creates and attaches ticket
 * rings, and the metrics zone named "zone".
 */
ngx_int_t ngx_ssl_session_redis_setup_done(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *zone, void *tag);

/*
 * $ssl_session_redis of connection "c": l1, hit, miss, timeout, error,
 * skipped, ticket or none; NGX_DECLINED when the module was not involved.
 */
ngx_int_t ngx_ssl_session_redis_outcome(ngx_connection_t *c,
    ngx_str_t *value);

/* Prometheus text of both subsystems' metrics, into "pool" */
ngx_chain_t *ngx_ssl_session_redis_status(ngx_pool_t *pool,
    ngx_ssl_session_redis_main_conf_t *rmcf);

ngx_int_t ngx_ssl_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);
void ngx_ssl_session_redis_exit_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);

/* the bounds of the durations, checked as written (ngx_conf_set_msec_slot) */
extern ngx_conf_post_t  ngx_ssl_session_redis_timeout_post;
extern ngx_conf_post_t  ngx_ssl_session_redis_rotation_post;

/* a former directive name: "post" is the new one's, or NULL */
typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    char                     *old_name;
    char                     *new_name;
    ngx_conf_post_t          *post;
} ngx_ssl_session_redis_deprecated_t;

extern ngx_ssl_session_redis_deprecated_t  ngx_ssl_session_redis_key_deprecated;
extern ngx_ssl_session_redis_deprecated_t
    ngx_ssl_session_redis_timeout_deprecated;
extern ngx_ssl_session_redis_deprecated_t
    ngx_ssl_session_redis_tickets_deprecated;

char *ngx_ssl_session_redis_set_address(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ssl_session_redis_set_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ssl_session_redis_set_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_SSL_SESSION_REDIS_H_INCLUDED_ */
