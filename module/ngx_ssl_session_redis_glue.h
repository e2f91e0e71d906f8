
/*
 * Private to the glue's files (ngx_ssl_session_redis*.c): what they share
 * with each other and not with the http and stream modules.
 */


#ifndef _NGX_SSL_SESSION_REDIS_GLUE_H_INCLUDED_
#define _NGX_SSL_SESSION_REDIS_GLUE_H_INCLUDED_


#include "ngx_ssl_session_redis.h"


/* the deadline of setting up a connection and of a ticket ring request */
#define NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT  2000


/* per server SSL_CTX, in its ex_data */
typedef struct {
    void                         (*info_callback)(const ngx_ssl_conn_t *,
                                                  int, int);
    tsr_ssl_t                     *binding;     /* NULL: module off */
    ngx_ssl_session_redis_conf_t  *conf;
    ngx_uint_t                     index;       /* in the metrics */
    ngx_str_t                      name;
    u_char                         fp[17];      /* of the sid_ctx, hex */
    uint64_t                       outcome[NGX_SSL_SESSION_REDIS_OUTCOMES];
} ngx_ssl_session_redis_ctx_t;


/* SSL_CTX ex_data: ngx_ssl_session_redis_ctx_t; SSL: the connection's */
extern int               ngx_ssl_session_redis_ctx_index;
extern int               ngx_ssl_session_redis_conn_index;

/* nginx's debug log names a timer's connection: the module's timers' */
extern ngx_connection_t  ngx_ssl_session_redis_dumb;


/* ngx_ssl_session_redis.c */
void ngx_ssl_session_redis_log(int level, const char *msg, void *data);

/* ngx_ssl_session_redis_sid.c */
ngx_int_t ngx_ssl_session_redis_sid_ctx(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    ngx_uint_t verify, u_char *out, unsigned int *outlen);
ngx_int_t ngx_ssl_session_redis_fingerprint(const u_char *sid_ctx,
    size_t len, u_char *fp);

/* ngx_ssl_session_redis_handshake.c */
ngx_int_t ngx_ssl_session_redis_hbio_init(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf);
void ngx_ssl_session_redis_info_callback(const ngx_ssl_conn_t *ssl_conn,
    int where, int ret);
void ngx_ssl_session_redis_free_conn(void *parent, void *ptr,
    CRYPTO_EX_DATA *ad, int idx, long argl, void *argp);

/* ngx_ssl_session_redis_hold.c */
ngx_int_t ngx_ssl_session_redis_hold_init(ngx_conf_t *cf);
void ngx_ssl_session_redis_hold_free(void);
int ngx_ssl_session_redis_hold(SSL *ssl_conn, void *data);
ngx_int_t ngx_ssl_session_redis_hold_install(ngx_ssl_conn_t *ssl_conn,
    ngx_ssl_session_redis_store_t *store);

/* ngx_ssl_session_redis_loop.c */
void ngx_ssl_session_redis_loop_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_store_t *rs);
void ngx_ssl_session_redis_loop_flush(ngx_ssl_session_redis_store_t *rs);

/* ngx_ssl_session_redis_tickets.c */
ngx_int_t ngx_ssl_session_redis_add_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx);
ngx_int_t ngx_ssl_session_redis_setup_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf);
void ngx_ssl_session_redis_tickets_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_tickets_t *tk);

/* ngx_ssl_session_redis_metrics.c */
ngx_int_t ngx_ssl_session_redis_metrics_zone(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *zone, void *tag);
void ngx_ssl_session_redis_metrics_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);
void ngx_ssl_session_redis_retire(ngx_ssl_session_redis_main_conf_t *rmcf);

/* ngx_ssl_session_redis_fleet.c */
void ngx_ssl_session_redis_fleet_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf);


#endif /* _NGX_SSL_SESSION_REDIS_GLUE_H_INCLUDED_ */
