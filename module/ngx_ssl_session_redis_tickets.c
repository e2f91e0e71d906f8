
/*
 * Fleet ticket keys: the rings servers share, attached to their SSL
 * contexts at configuration time, then read by every worker and rotated
 * by worker 0 on timers.
 */


#include "ngx_ssl_session_redis_glue.h"


static void ngx_ssl_session_redis_cleanup_tickets(void *data);
static ngx_msec_t ngx_ssl_session_redis_ring_interval(
    ngx_ssl_session_redis_tickets_t *tk);
static void ngx_ssl_session_redis_refresh_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_ring_done(int rc, const uint8_t *val,
    size_t len, void *arg);


/*
 * One ring per Redis, prefix, fleet key and period, whatever servers use
 * it: OpenSSL decrypts a ticket with the callback of the listener's
 * default server, but encrypts with that of the server SNI chose, so the
 * servers of a listener must share their keys.
 */

ngx_int_t
ngx_ssl_session_redis_add_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx)
{
    uint64_t                           lifetime;
    SSL_CTX                          **ctxp;
    ngx_uint_t                         i;
    ngx_ssl_session_redis_tickets_t  **tkp, *tk;

    tk = NULL;
    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        if (tkp[i]->store == conf->store && tkp[i]->keys == conf->keys
            && tkp[i]->period == conf->ticket_rotation
            && tkp[i]->prefix.len == conf->prefix.len
            && ngx_strncmp(tkp[i]->prefix.data, conf->prefix.data,
                           conf->prefix.len) == 0)
        {
            tk = tkp[i];
            break;
        }
    }

    if (tk == NULL) {
        tk = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_session_redis_tickets_t));
        if (tk == NULL) {
            return NGX_ERROR;
        }

        tk->store_conf = ngx_palloc(cf->pool, sizeof(tsr_store_conf_t));
        if (tk->store_conf == NULL) {
            return NGX_ERROR;
        }

        /*
         * The start-up load blocks, within a deadline; not on a name
         * that did not resolve at configuration time (getaddrinfo()
         * knows no deadline): the ring then comes by the refresh timer,
         * through the store and nginx's resolver.
         */
        *tk->store_conf = conf->store_conf;
        tk->store_conf->never_block = (conf->resolve_error != NULL);
        tk->store_conf->log = NULL;
        tk->store_conf->log_data = NULL;

        tk->store = conf->store;
        tk->keys = conf->keys;
        tk->prefix = conf->prefix;
        tk->period = conf->ticket_rotation;

        if (ngx_array_init(&tk->ctxs, cf->pool, 2, sizeof(SSL_CTX *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        tkp = ngx_array_push(&rmcf->tickets);
        if (tkp == NULL) {
            return NGX_ERROR;
        }

        *tkp = tk;
    }

    lifetime = (uint64_t) SSL_CTX_get_timeout(ssl_ctx) * 1000;

    if (lifetime > tk->lifetime_ms) {
        tk->lifetime_ms = lifetime;
    }

    ctxp = ngx_array_push(&tk->ctxs);
    if (ctxp == NULL) {
        return NGX_ERROR;
    }

    *ctxp = ssl_ctx;

    return NGX_OK;
}


ngx_int_t
ngx_ssl_session_redis_setup_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    int                                n;
    SSL_CTX                          **ctxp;
    ngx_uint_t                         i, k;
    ngx_pool_cleanup_t                *cln;
    tsr_tickets_conf_t                 tconf;
    ngx_ssl_session_redis_tickets_t  **tkp, *tk;
    char                               err[256];

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        tk = tkp[i];

        ngx_memzero(&tconf, sizeof(tsr_tickets_conf_t));

        tconf.store_conf = tk->store_conf;
        tconf.keys = tk->keys;
        tconf.prefix = (char *) tk->prefix.data;
        tconf.period_ms = tk->period;
        tconf.lifetime_ms = tk->lifetime_ms;
        tconf.log = ngx_ssl_session_redis_log;
        tconf.log_data = tk->store;

        tk->tickets = tsr_tickets_create(&tconf, err, sizeof(err));
        if (tk->tickets == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ssl_session_redis: tsr_tickets_create() failed: "
                          "%s", err);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            tsr_tickets_destroy(tk->tickets);
            tk->tickets = NULL;
            return NGX_ERROR;
        }

        cln->handler = ngx_ssl_session_redis_cleanup_tickets;
        cln->data = tk;

        n = tsr_tickets_ring_key(tk->tickets, tk->ring_key,
                                 sizeof(tk->ring_key));
        if (n < 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ssl_session_redis: ticket key ring name too long");
            return NGX_ERROR;
        }

        tk->ring_key_len = n;

        ctxp = tk->ctxs.elts;

        for (k = 0; k < tk->ctxs.nelts; k++) {
            if (tsr_tickets_attach(tk->tickets, ctxp[k]) != TSR_OK) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "ssl_session_redis: tsr_tickets_attach() "
                              "failed: %s", tsr_tickets_error(tk->tickets));
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_ssl_session_redis_cleanup_tickets(void *data)
{
    ngx_ssl_session_redis_tickets_t  *tk = data;

    /* detaches every context still attached */

    tsr_tickets_destroy(tk->tickets);
    tk->tickets = NULL;
}


void
ngx_ssl_session_redis_tickets_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_tickets_t *tk)
{
    /*
     * The one wait a worker makes, with one deadline for it all
     * (connect timeout plus command timeout), however slowly Redis
     * answers: until a ring is loaded no ticket is issued.  Later
     * rings come by timer, asynchronously, and so does rotation.
     */

    if (tsr_tickets_sync(tk->tickets) != TSR_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "ssl_session_redis \"%V\": no ticket key ring "
                      "yet: %s; tickets are issued once it loads",
                      &tk->store->address,
                      tsr_tickets_error(tk->tickets));
    }

    tk->refresh.data = &ngx_ssl_session_redis_dumb;
    tk->refresh.handler = ngx_ssl_session_redis_refresh_handler;
    tk->refresh.log = cycle->log;
    tk->refresh.cancelable = 1;

    ngx_add_timer(&tk->refresh, ngx_ssl_session_redis_ring_interval(tk));
}


static ngx_msec_t
ngx_ssl_session_redis_ring_interval(ngx_ssl_session_redis_tickets_t *tk)
{
    ngx_msec_t  ms;

    /*
     * A node encrypts with the current key until a quarter period after
     * the next rotation is due, and then only with a newer ring: the
     * rotation (some node's worker 0, up to one interval late) and the
     * refresh (up to one interval later still) must both fit in that
     * quarter, so an interval is a tenth of a period (at most a minute).
     */

    ms = tk->period / 10;

    return ngx_max(100, ngx_min(ms, 60000));
}


/*
 * Every interval, each worker reads the ring; worker 0 also rotates it
 * when due, as an ordinary request on the event loop (the rotation
 * script, see tsr_tickets_rotate_async()): one worker per node is
 * enough, the script rotates once a period fleet-wide.
 */

static void
ngx_ssl_session_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_tickets_t  *tk;

    tk = (ngx_ssl_session_redis_tickets_t *)
             ((u_char *) ev - offsetof(ngx_ssl_session_redis_tickets_t,
                                       refresh));

    if (tk->req == NULL && tk->store->store != NULL) {
        tk->rotating = 0;
        tk->req = tsr_store_get_async(tk->store->store, tk->ring_key,
                                      tk->ring_key_len, 0,
                                      NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT,
                                      ngx_ssl_session_redis_ring_done, tk);
    }

    ngx_add_timer(&tk->refresh, ngx_ssl_session_redis_ring_interval(tk));
}


static void
ngx_ssl_session_redis_ring_done(int rc, const uint8_t *val, size_t len,
    void *arg)
{
    ngx_ssl_session_redis_tickets_t  *tk = arg;

    ngx_uint_t  rotated;

    tk->req = NULL;
    rotated = tk->rotating;
    tk->rotating = 0;

    if (tk->tickets == NULL) {
        return;
    }

    /* a rejected value leaves the ring in use; the core logs why */

    if (rc == TSR_OK) {
        (void) tsr_tickets_load_value(tk->tickets, val, len);
    }

    /*
     * Worker 0 rotates right after a read that found no ring, or a ring
     * the core says is due (a period old, or older than the one in use);
     * never after a rotation: the next interval reads again.
     */

    if (ngx_worker != 0 || rotated || ngx_exiting || ngx_terminate
        || tk->store->store == NULL
        || (rc != TSR_NOT_FOUND
            && (rc != TSR_OK || !tsr_tickets_due(tk->tickets, 0))))
    {
        return;
    }

    tk->req = tsr_tickets_rotate_async(tk->tickets, tk->store->store,
                                       NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT,
                                       ngx_ssl_session_redis_ring_done, tk);
    tk->rotating = (tk->req != NULL);
}
