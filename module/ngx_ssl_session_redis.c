
/*
 * Glue shared by the http and the stream ssl_session_redis modules: server
 * setup (hooking an SSL context), the process hooks, and the core's log
 * lines routed to nginx's log.  Configuration, the session id context, the
 * handshake, the loop adapter, tickets, metrics and fleet registration
 * are in ngx_ssl_session_redis_<concern>.c.
 */


#include "ngx_ssl_session_redis_glue.h"


static ngx_int_t ngx_ssl_session_redis_check_cache(ngx_conf_t *cf,
    SSL_CTX *ssl_ctx, ngx_str_t *server_name);
static void ngx_ssl_session_redis_cleanup_ctx(void *data);
static void ngx_ssl_session_redis_cleanup_ctxd(void *data);


int               ngx_ssl_session_redis_ctx_index = -1;
int               ngx_ssl_session_redis_conn_index = -1;
ngx_connection_t  ngx_ssl_session_redis_dumb;


/*
 * Core messages go to the cycle's log; errors at most once a second per
 * store, so that a dead Redis does not flood the log, except those the
 * core limits itself (TSR_LOG_LIMITED).
 */

void
ngx_ssl_session_redis_log(int level, const char *msg, void *data)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    ngx_uint_t  lvl, limited;

    limited = (level & TSR_LOG_LIMITED);

    switch (level & ~TSR_LOG_LIMITED) {

    case TSR_LOG_ERR:
        lvl = NGX_LOG_ERR;
        break;

    case TSR_LOG_WARN:
        lvl = NGX_LOG_WARN;
        break;

    case TSR_LOG_INFO:
        lvl = NGX_LOG_INFO;
        break;

    default:
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                       "ssl_session_redis: %s", msg);
        return;
    }

    if (lvl <= NGX_LOG_WARN && rs != NULL && !limited) {
        if (rs->last_error == ngx_time()) {
            rs->suppressed++;
            return;
        }

        rs->last_error = ngx_time();

        if (rs->suppressed) {
            ngx_log_error(lvl, ngx_cycle->log, 0,
                          "ssl_session_redis \"%V\": %s "
                          "(%ui similar messages suppressed)",
                          &rs->address, msg, rs->suppressed);
            rs->suppressed = 0;
            return;
        }
    }

    if (rs != NULL) {
        ngx_log_error(lvl, ngx_cycle->log, 0, "ssl_session_redis \"%V\": %s",
                      &rs->address, msg);

    } else {
        ngx_log_error(lvl, ngx_cycle->log, 0, "ssl_session_redis: %s", msg);
    }
}


ngx_int_t
ngx_ssl_session_redis_setup_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx, ngx_uint_t verify,
    ngx_str_t *server_name)
{
    SSL_CTX                      **ctxp;
    unsigned int                   len;
    tsr_ssl_conf_t                 bconf;
    ngx_pool_cleanup_t            *cln;
    ngx_ssl_session_redis_ctx_t   *ctxd;
    u_char                         sid_ctx[EVP_MAX_MD_SIZE];
    char                           err[256];

    if (ssl_ctx == NULL) {

        if (conf->enable && conf->file != NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"ssl_session_redis\" is set for server \"%V\", "
                          "which has no ssl certificate, in %s:%ui",
                          server_name, conf->file, conf->line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_ssl_session_redis_ctx_index == -1) {
        ngx_ssl_session_redis_ctx_index = SSL_CTX_get_ex_new_index(0, NULL,
                                                        NULL, NULL, NULL);
        ngx_ssl_session_redis_conn_index = SSL_get_ex_new_index(0, NULL,
                                    NULL, NULL,
                                    ngx_ssl_session_redis_free_conn);

        if (ngx_ssl_session_redis_ctx_index == -1
            || ngx_ssl_session_redis_conn_index == -1)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_get_ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_session_redis_hbio_init(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (SSL_CTX_get_ex_data(ssl_ctx, ngx_ssl_session_redis_ctx_index)
        != NULL)
    {
        /* a context shared by several servers */
        return NGX_OK;
    }

    ctxd = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_session_redis_ctx_t));
    if (ctxd == NULL) {
        return NGX_ERROR;
    }

    /*
     * The info callback goes on every server context: after SNI switched
     * the connection to another server's context, OpenSSL calls that
     * context's callback, and the lookup hook must still be detached.
     */

    ctxd->info_callback = SSL_CTX_get_info_callback(ssl_ctx);

    /*
     * ctxd lives in the pool: it leaves the context before the pool goes
     * (the ssl module's cleanup, which frees the context, was added
     * earlier and runs later), should anything still hold the context.
     */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (SSL_CTX_set_ex_data(ssl_ctx, ngx_ssl_session_redis_ctx_index, ctxd)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_ex_data() failed");
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_ctxd;
    cln->data = ssl_ctx;

    SSL_CTX_set_info_callback(ssl_ctx, ngx_ssl_session_redis_info_callback);

    if (!conf->enable) {
        return NGX_OK;
    }

    if (ngx_ssl_session_redis_check_cache(cf, ssl_ctx, server_name)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_ssl_session_redis_sid_ctx(cf, ssl_ctx, verify, sid_ctx, &len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ssl_session_redis: cannot read the session id "
                      "context of server \"%V\"", server_name);
        return NGX_ERROR;
    }

    ngx_memzero(&bconf, sizeof(tsr_ssl_conf_t));

    bconf.store = conf->store->store;
    bconf.keys = conf->keys;
    bconf.prefix = (char *) conf->prefix.data;
    bconf.sid_ctx = sid_ctx;
    bconf.sid_ctx_len = len;
    bconf.log = ngx_ssl_session_redis_log;
    bconf.log_data = conf->store;
    bconf.single_use = conf->single_use ? 1 : 0;

    /* a TLS 1.3 ticket or TLS 1.2 Finished waits for its SET's write */
    bconf.hold = ngx_ssl_session_redis_hold;
    bconf.hold_data = conf->store;

    /*
     * Every TLSv1.3 stateful ticket is a session in Redis: one SET, one
     * sealed value kept for the session's lifetime.  OpenSSL sends two per
     * full handshake; a client resumes with one.
     */

    if (SSL_CTX_get_options(ssl_ctx) & SSL_OP_NO_TICKET) {
        (void) SSL_CTX_set_num_tickets(ssl_ctx, 1);
    }

    /* the binding formats debug messages only for a debug log */
    bconf.log_debug = (cf->cycle->new_log.log_level & NGX_LOG_DEBUG_EVENT)
                      ? 1 : 0;

    ctxd->binding = tsr_ssl_ctx_attach(ssl_ctx, &bconf, err, sizeof(err));
    if (ctxd->binding == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ssl_session_redis: tsr_ssl_ctx_attach() failed for "
                      "server \"%V\": %s", server_name, err);
        return NGX_ERROR;
    }

    ctxd->conf = conf;
    ctxd->index = rmcf->ctxs.nelts;

    /* stream builds the name in a buffer of its own: keep a copy */

    ctxd->name.len = server_name->len;
    ctxd->name.data = ngx_pstrdup(cf->pool, server_name);
    if (ctxd->name.data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ssl_session_redis_fingerprint(sid_ctx, len, ctxd->fp) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * Registered after the ssl module's own cleanup, so it runs before
     * the context is freed: the binding must not outlive the store.
     */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        tsr_ssl_detach(ssl_ctx);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_ctx;
    cln->data = ssl_ctx;

    ctxp = ngx_array_push(&rmcf->ctxs);
    if (ctxp == NULL) {
        return NGX_ERROR;
    }

    *ctxp = ssl_ctx;

    if (!conf->tickets) {
        return NGX_OK;
    }

    if (SSL_CTX_get_options(ssl_ctx) & SSL_OP_NO_TICKET) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"ssl_session_redis_ticket_keys\" has no effect for "
                      "server \"%V\": its \"ssl_session_tickets\" is off",
                      server_name);
    }

    return ngx_ssl_session_redis_add_tickets(cf, rmcf, conf, ssl_ctx);
}


/*
 * What nginx's "ssl_session_cache" made of the context, read from it
 * before the binding takes the session callbacks over.  "none" (the
 * default) and "shared:" are what the module expects: no cache, or one
 * kept in front of Redis.  "off" turns resumption off, which Redis
 * cannot honour and still be used; "builtin" is OpenSSL's per-worker
 * cache, which the binding does not keep.
 */

static ngx_int_t
ngx_ssl_session_redis_check_cache(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    ngx_str_t *server_name)
{
    long  mode;

    mode = SSL_CTX_get_session_cache_mode(ssl_ctx);

    if (mode == SSL_SESS_CACHE_OFF) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ssl_session_redis\" is set for server \"%V\", "
                      "whose \"ssl_session_cache\" is \"off\": sessions "
                      "are not resumed there; use \"ssl_session_cache "
                      "none\" (Redis alone) or \"shared:\" (a local first "
                      "level), or \"ssl_session_redis off\"", server_name);
        return NGX_ERROR;
    }

    if ((mode & SSL_SESS_CACHE_SERVER)
        && !(mode & SSL_SESS_CACHE_NO_INTERNAL_STORE))
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"ssl_session_cache builtin\" of server \"%V\" is "
                      "not used with \"ssl_session_redis\": sessions are "
                      "kept in Redis, and in a \"shared:\" cache if one is "
                      "set, not in each worker's OpenSSL cache",
                      server_name);
    }

    return NGX_OK;
}


static void
ngx_ssl_session_redis_cleanup_ctx(void *data)
{
    tsr_ssl_detach(data);
}


static void
ngx_ssl_session_redis_cleanup_ctxd(void *data)
{
    SSL_CTX  *ssl_ctx = data;

    (void) SSL_CTX_set_ex_data(ssl_ctx, ngx_ssl_session_redis_ctx_index,
                               NULL);
}


ngx_int_t
ngx_ssl_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    ngx_uint_t                         i;
    ngx_ssl_session_redis_store_t    **rsp;
    ngx_ssl_session_redis_tickets_t  **tkp;

    if (rmcf == NULL) {
        return NGX_OK;
    }

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        ngx_ssl_session_redis_loop_init(cycle, rsp[i]);
    }

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        ngx_ssl_session_redis_tickets_init(cycle, tkp[i]);
    }

    ngx_ssl_session_redis_metrics_init(cycle, rmcf);
    ngx_ssl_session_redis_fleet_init(cycle, rmcf);

    return NGX_OK;
}


void
ngx_ssl_session_redis_exit_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    ngx_uint_t                         i;
    SSL_CTX                          **ctxp;
    ngx_ssl_session_redis_store_t    **rsp;
    ngx_ssl_session_redis_tickets_t  **tkp;

    if (rmcf == NULL) {
        return;
    }

    if (rmcf->publish.timer_set) {
        ngx_del_timer(&rmcf->publish);
    }

    ngx_ssl_session_redis_retire(rmcf);

    if (rmcf->announce.timer_set) {
        ngx_del_timer(&rmcf->announce);
    }

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        if (tkp[i]->refresh.timer_set) {
            ngx_del_timer(&tkp[i]->refresh);
        }

        if (tkp[i]->req != NULL) {
            tsr_store_cancel(tkp[i]->req);
            tkp[i]->req = NULL;
        }
    }

    /* bindings first: nothing may reach a store once it is gone */

    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < rmcf->ctxs.nelts; i++) {
        tsr_ssl_detach(ctxp[i]);
    }

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        if (rsp[i]->store != NULL) {
            tsr_store_destroy(rsp[i]->store);
            rsp[i]->store = NULL;
        }
    }
}


ngx_int_t
ngx_ssl_session_redis_setup_done(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *zone, void *tag)
{
    if (ngx_ssl_session_redis_setup_tickets(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rmcf->ctxs.nelts == 0) {
        return NGX_OK;
    }

    return ngx_ssl_session_redis_metrics_zone(cf, rmcf, zone, tag);
}
