
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


#define NGX_SSL_SESSION_REDIS_DEFAULT_TIMEOUT  20


/* one Redis connection per worker and distinct address */
typedef struct {
    ngx_str_t               address;
    tsr_store_t            *store;
    ngx_connection_t       *conn;           /* wraps hiredis' socket */
    ngx_event_t             timer;          /* the store's deadlines */
    ngx_log_t              *log;
    time_t                  last_error;     /* logs at most once a second */
    ngx_uint_t              suppressed;
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
    tsr_store_conf_t       *store_conf;     /* for the synchronous paths */
    uint64_t                lifetime_ms;    /* longest session timeout */
    ngx_array_t             ctxs;           /* SSL_CTX *, to attach */
    tsr_tickets_t          *tickets;        /* read by the callback */
    tsr_tickets_t          *rotator;        /* the rotator thread's own */
    tsr_req_t              *req;            /* refresh in flight */
    ngx_event_t             refresh;
    size_t                  ring_key_len;
    char                    ring_key[TSR_MAX_KEY_NAME];
} ngx_ssl_session_redis_tickets_t;


/* per subsystem: everything to connect in init_process */
typedef struct {
    ngx_array_t             stores;     /* ngx_ssl_session_redis_store_t * */
    ngx_array_t             ctxs;       /* SSL_CTX *, with a binding */
    ngx_array_t             tickets;    /* ngx_ssl_session_redis_tickets_t * */
    void                   *rotator;    /* the rotator thread, worker 0 */
    ngx_str_t               proto;      /* "HTTP" or "STREAM" */
} ngx_ssl_session_redis_main_conf_t;


typedef struct {
    /*
     * set by ngx_pcalloc() and meant to stay zero until merge:
     *
     *     store_conf, store_buf, keys
     */

    ngx_flag_t              enable;
    ngx_str_t               address;        /* as written, for messages */
    ngx_array_t            *key_files;      /* of ngx_str_t */
    ngx_msec_t              timeout;
    ngx_str_t               prefix;
    ngx_flag_t              single_use;
    ngx_flag_t              tickets;
    ngx_msec_t              ticket_rotation;

    tsr_store_conf_t        store_conf;     /* points into store_buf */
    u_char                 *store_buf;
    tsr_keyring_t          *keys;
    ngx_ssl_session_redis_store_t  *store;

    u_char                 *file;           /* where "ssl_session_redis" */
    ngx_uint_t              line;           /* was set in this block */
} ngx_ssl_session_redis_conf_t;


void ngx_ssl_session_redis_init_conf(ngx_ssl_session_redis_conf_t *rcf);
ngx_int_t ngx_ssl_session_redis_init_main_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *proto);
char *ngx_ssl_session_redis_merge_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *prev, ngx_ssl_session_redis_conf_t *conf);

/*
 * Called from postconfiguration for every server: hooks its SSL_CTX
 * ("ssl_ctx" may be NULL: a server without ssl).  "certificates" are the
 * server's ssl_certificate values, as nginx uses them for the session
 * id context.
 */
ngx_int_t ngx_ssl_session_redis_setup_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx,
    ngx_array_t *certificates, ngx_str_t *server_name);

/* called at the end of postconfiguration: creates and attaches rings */
ngx_int_t ngx_ssl_session_redis_setup_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf);

ngx_int_t ngx_ssl_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);
void ngx_ssl_session_redis_exit_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);

char *ngx_ssl_session_redis_set_address(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ssl_session_redis_set_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ssl_session_redis_set_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_SSL_SESSION_REDIS_H_INCLUDED_ */
