
/*
 * Fleet registration, read by "tsr-admin fleet": worker 0 of every node
 * says which servers it runs with which session id context.
 */


#include "ngx_ssl_session_redis_glue.h"
#include "tsr_fleet.h"


static ngx_str_t  ngx_ssl_session_redis_dash = ngx_string("-");


static void ngx_ssl_session_redis_announce(
    ngx_ssl_session_redis_main_conf_t *rmcf);
static void ngx_ssl_session_redis_announce_handler(ngx_event_t *ev);
static ngx_uint_t ngx_ssl_session_redis_same_fleet(
    ngx_ssl_session_redis_ctx_t *ci, ngx_ssl_session_redis_ctx_t *cj);


void
ngx_ssl_session_redis_fleet_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    if (ngx_worker == 0 && rmcf->ctxs.nelts > 0) {
        rmcf->announce.data = &ngx_ssl_session_redis_dumb;
        rmcf->announce.handler = ngx_ssl_session_redis_announce_handler;
        rmcf->announce.log = cycle->log;
        rmcf->announce.cancelable = 1;

        /* once connected: the first write would be dropped before */
        ngx_add_timer(&rmcf->announce, 1000);
    }
}


/*
 * Fleet registration, read by "tsr-admin fleet": every node says which
 * servers it runs with which session id context, so that a fleet whose
 * nodes silently stopped sharing (other certificates, other client CAs)
 * is told.  Key <prefix>node:<hostname>:<http|stream>, the value in the
 * format of tsr_fleet.h (written and read by the core alone), written
 * every 20 s by worker 0, fire and forget.
 */

static void
ngx_ssl_session_redis_announce(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                        *k, *val;
    size_t                         size, n;
    SSL_CTX                      **ctxp;
    ngx_str_t                     *name;
    ngx_uint_t                     i, j;
    ngx_ssl_session_redis_ctx_t   *ci, *cj;
    u_char                         key[TSR_MAX_KEY_NAME];

    ctxp = rmcf->ctxs.elts;

    /* room for every server: a record cut short would be misread */

    size = sizeof("v 1\nhost \npid \ntime \n") + ngx_cycle->hostname.len
           + 2 * NGX_INT64_LEN;

    for (i = 0; i < rmcf->ctxs.nelts; i++) {
        ci = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);

        if (ci != NULL) {
            size += sizeof("server   -\n") + ci->name.len + sizeof(ci->fp)
                    + 1;
        }
    }

    val = ngx_alloc(size, ngx_cycle->log);
    if (val == NULL) {
        return;
    }

    for (i = 0; i < rmcf->ctxs.nelts; i++) {

        ci = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        if (ci == NULL || ci->binding == NULL
            || ci->conf->store->store == NULL)
        {
            continue;
        }

        /* one record per Redis and prefix: written with its first server */

        for (j = 0; j < i; j++) {
            cj = SSL_CTX_get_ex_data(ctxp[j],
                                     ngx_ssl_session_redis_ctx_index);

            if (ngx_ssl_session_redis_same_fleet(ci, cj)) {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        k = ngx_snprintf(key, sizeof(key) - 1, "%Vnode:%V:%V",
                         &ci->conf->prefix, &ngx_cycle->hostname,
                         &rmcf->proto);
        ngx_strlow(k - rmcf->proto.len, k - rmcf->proto.len,
                   rmcf->proto.len);

        n = 0;

        (void) tsr_fleet_format_head((char *) val, size, &n,
                                     (char *) ngx_cycle->hostname.data,
                                     ngx_cycle->hostname.len,
                                     (long long) ngx_parent,
                                     (long long) ngx_time());

        for (j = i; j < rmcf->ctxs.nelts; j++) {
            cj = SSL_CTX_get_ex_data(ctxp[j],
                                     ngx_ssl_session_redis_ctx_index);

            if (!ngx_ssl_session_redis_same_fleet(ci, cj)) {
                continue;
            }

            name = cj->name.len ? &cj->name : &ngx_ssl_session_redis_dash;

            (void) tsr_fleet_format_server((char *) val, size, &n,
                                           (char *) name->data, name->len,
                                           (char *) cj->fp, NULL, 0);
        }

        (void) tsr_store_set(ci->conf->store->store, (char *) key, k - key,
                             val, n, TSR_FLEET_TTL_MS);
    }

    ngx_free(val);
}


/* "cj" is announced in the record of "ci": the same Redis and prefix */

static ngx_uint_t
ngx_ssl_session_redis_same_fleet(ngx_ssl_session_redis_ctx_t *ci,
    ngx_ssl_session_redis_ctx_t *cj)
{
    return cj != NULL && cj->binding != NULL
           && cj->conf->store == ci->conf->store
           && cj->conf->prefix.len == ci->conf->prefix.len
           && ngx_strncmp(cj->conf->prefix.data, ci->conf->prefix.data,
                          ci->conf->prefix.len) == 0;
}


static void
ngx_ssl_session_redis_announce_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = (ngx_ssl_session_redis_main_conf_t *)
               ((u_char *) ev
                - offsetof(ngx_ssl_session_redis_main_conf_t, announce));

    ngx_ssl_session_redis_announce(rmcf);

    ngx_add_timer(ev, 20000);
}
