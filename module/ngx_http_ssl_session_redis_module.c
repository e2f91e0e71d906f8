
/*
 * http layer of ssl_session_redis: directives, configuration, module hooks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ssl_session_redis.h"


typedef struct {
    ngx_ssl_session_redis_conf_t  redis;
} ngx_http_ssl_session_redis_srv_conf_t;


static ngx_int_t ngx_http_ssl_session_redis_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ssl_session_redis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_ssl_session_redis_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_ssl_session_redis_status_handler(
    ngx_http_request_t *r);
static void *ngx_http_ssl_session_redis_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ssl_session_redis_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_ssl_session_redis_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_ssl_session_redis_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ssl_session_redis_check_listeners(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_ssl_session_redis_check_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_conf_t *conf, ngx_ssl_session_redis_conf_t *dconf,
    ngx_str_t *name, ngx_str_t *dname, ngx_str_t *listen);
static ngx_int_t ngx_http_ssl_session_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_ssl_session_redis_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_ssl_session_redis_commands[] = {

    { ngx_string("ssl_session_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_ssl_session_redis_set_address,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_fleet_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_key,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_lookup_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.timeout),
      &ngx_ssl_session_redis_timeout_post },

    { ngx_string("ssl_session_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_prefix,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_single_use"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.single_use),
      NULL },

    { ngx_string("ssl_session_redis_ticket_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.tickets),
      NULL },

    { ngx_string("ssl_session_redis_ticket_rotation"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.ticket_rotation),
      &ngx_ssl_session_redis_rotation_post },

    /* the former names, with a warning */

    { ngx_string("ssl_session_redis_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_key,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis),
      &ngx_ssl_session_redis_key_deprecated },

    { ngx_string("ssl_session_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.timeout),
      &ngx_ssl_session_redis_timeout_deprecated },

    { ngx_string("ssl_session_redis_tickets"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_ssl_session_redis_srv_conf_t, redis.tickets),
      &ngx_ssl_session_redis_tickets_deprecated },

    { ngx_string("ssl_session_redis_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ssl_session_redis_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_ssl_session_redis_vars[] = {

    { ngx_string("ssl_session_redis"), NULL,
      ngx_http_ssl_session_redis_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_ssl_session_redis_module_ctx = {
    ngx_http_ssl_session_redis_add_variables, /* preconfiguration */
    ngx_http_ssl_session_redis_init,       /* postconfiguration */

    ngx_http_ssl_session_redis_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_ssl_session_redis_create_srv_conf,
                                           /* create server configuration */
    ngx_http_ssl_session_redis_merge_srv_conf,
                                           /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_ssl_session_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_ssl_session_redis_module_ctx, /* module context */
    ngx_http_ssl_session_redis_commands,   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ssl_session_redis_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ssl_session_redis_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_ssl_session_redis_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ssl_session_redis_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ssl_session_redis_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  value;

    if (ngx_ssl_session_redis_outcome(r->connection, &value) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


static char *
ngx_http_ssl_session_redis_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_ssl_session_redis_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ssl_session_redis_status_handler(ngx_http_request_t *r)
{
    off_t                               len;
    ngx_int_t                           rc;
    ngx_chain_t                        *out, *cl;
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r,
                                         ngx_http_ssl_session_redis_module);

    out = ngx_ssl_session_redis_status(r->pool, rmcf);

    len = 0;
    for (cl = out; cl != NULL; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = 1;
            cl->buf->last_in_chain = 1;
        }
    }

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    if (out == NULL) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static void *
ngx_http_ssl_session_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_session_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /* the protocol name nginx's session id context starts with */
    if (ngx_ssl_session_redis_init_main_conf(cf, rmcf, "HTTP") != NGX_OK) {
        return NULL;
    }

    return rmcf;
}


static void *
ngx_http_ssl_session_redis_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_ssl_session_redis_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ssl_session_redis_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    ngx_ssl_session_redis_init_conf(&conf->redis);

    return conf;
}


static char *
ngx_http_ssl_session_redis_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_ssl_session_redis_srv_conf_t  *prev = parent;
    ngx_http_ssl_session_redis_srv_conf_t  *conf = child;

    ngx_http_core_srv_conf_t           *cscf;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                         ngx_http_ssl_session_redis_module);

    /* the core module merged first: the server's "resolver" is known */

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    clcf = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    return ngx_ssl_session_redis_merge_conf(cf, rmcf, &prev->redis,
                                            &conf->redis, clcf->resolver,
                                            clcf->resolver_timeout);
}


/*
 * Every module's merge has run by now, so every server's SSL_CTX exists
 * and carries nginx's own session callbacks, which are kept in front of
 * Redis as a first level.
 */

static ngx_int_t
ngx_http_ssl_session_redis_init(ngx_conf_t *cf)
{
    ngx_uint_t                              s;
    ngx_http_ssl_srv_conf_t                *sscf;
    ngx_http_core_srv_conf_t              **cscfp;
    ngx_http_core_main_conf_t              *cmcf;
    ngx_ssl_session_redis_main_conf_t      *rmcf;
    ngx_http_ssl_session_redis_srv_conf_t  *rscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                         ngx_http_ssl_session_redis_module);

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];
        rscf = cscfp[s]->ctx->srv_conf[
                                ngx_http_ssl_session_redis_module.ctx_index];

        if (ngx_ssl_session_redis_setup_server(cf, rmcf, &rscf->redis,
                                               sscf->ssl.ctx, sscf->verify,
                                               &cscfp[s]->server_name)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_ssl_session_redis_check_listeners(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_ssl_session_redis_setup_done(cf, rmcf,
                                       NGX_SSL_SESSION_REDIS_ZONE_HTTP,
                                       &ngx_http_ssl_session_redis_module);
}


/*
 * OpenSSL looks sessions up in the context of the listener's default
 * server, before SNI picks the virtual server, and stores them there:
 * settings of the others do not apply.  Say so where it matters, and
 * refuse what would silently not happen (single use is what makes 0-RTT
 * safe from replay).
 */

static ngx_int_t
ngx_http_ssl_session_redis_check_listeners(ngx_conf_t *cf)
{
    ngx_uint_t                              p, a, s;
    ngx_http_conf_port_t                   *port;
    ngx_http_conf_addr_t                   *addr;
    ngx_http_ssl_srv_conf_t                *sscf, *dsscf;
    ngx_http_core_srv_conf_t              **cscfp, *dcscf;
    ngx_http_core_main_conf_t              *cmcf;
    ngx_http_ssl_session_redis_srv_conf_t  *rscf, *drscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    if (cmcf->ports == NULL) {
        return NGX_OK;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {

        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {

            /* QUIC handshakes start in the default server's context too */

            if (!addr[a].opt.ssl
                && !NGX_SSL_SESSION_REDIS_QUIC_LISTEN(&addr[a].opt))
            {
                continue;
            }

            dcscf = addr[a].default_server;
            dsscf = dcscf->ctx->srv_conf[ngx_http_ssl_module.ctx_index];
            drscf = dcscf->ctx->srv_conf[
                                ngx_http_ssl_session_redis_module.ctx_index];

            cscfp = addr[a].servers.elts;

            for (s = 0; s < addr[a].servers.nelts; s++) {

                if (cscfp[s] == dcscf) {
                    continue;
                }

                sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];
                rscf = cscfp[s]->ctx->srv_conf[
                                ngx_http_ssl_session_redis_module.ctx_index];

                if (rscf->redis.enable && !drscf->redis.enable) {
                    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                                  "\"ssl_session_redis\" is enabled for "
                                  "server \"%V\" but not for \"%V\", the "
                                  "default server of %V: sessions are "
                                  "looked up with the default server's "
                                  "settings, so Redis is not used there",
                                  &cscfp[s]->server_name,
                                  &dcscf->server_name,
                                  &addr[a].opt.addr_text);
                }

                if (ngx_http_ssl_session_redis_check_server(cf,
                                                   &rscf->redis,
                                                   &drscf->redis,
                                                   &cscfp[s]->server_name,
                                                   &dcscf->server_name,
                                                   &addr[a].opt.addr_text)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (sscf->session_tickets != dsscf->session_tickets
                    && (rscf->redis.enable || drscf->redis.enable))
                {
                    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                                  "\"ssl_session_tickets\" of server "
                                  "\"%V\" differs from the default server "
                                  "\"%V\" of %V: lookups follow the "
                                  "default server, tickets the server the "
                                  "client names", &cscfp[s]->server_name,
                                  &dcscf->server_name,
                                  &addr[a].opt.addr_text);
                }
            }
        }
    }

    return NGX_OK;
}


/*
 * The lookup settings of server "name", not the default server "dname"
 * of listener "listen": they must be the default server's, or be off.
 */

static ngx_int_t
ngx_http_ssl_session_redis_check_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_conf_t *conf, ngx_ssl_session_redis_conf_t *dconf,
    ngx_str_t *name, ngx_str_t *dname, ngx_str_t *listen)
{
    const char  *directive;

    if (!conf->enable) {
        return NGX_OK;
    }

    if (!dconf->enable) {
        if (!conf->single_use) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ssl_session_redis_single_use\" of server \"%V\" "
                      "cannot apply on %V: its default server \"%V\" has "
                      "no \"ssl_session_redis\", and sessions are looked "
                      "up and stored with the default server's settings",
                      name, listen, dname);
        return NGX_ERROR;
    }

    if (conf->single_use != dconf->single_use) {
        directive = "ssl_session_redis_single_use";

    } else if (conf->timeout != dconf->timeout) {
        directive = "ssl_session_redis_lookup_timeout";

    } else if (conf->prefix.len != dconf->prefix.len
               || ngx_strncmp(conf->prefix.data, dconf->prefix.data,
                              conf->prefix.len)
                  != 0)
    {
        directive = "ssl_session_redis_prefix";

    } else {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"%s\" of server \"%V\" differs from that of \"%V\", "
                  "the default server of %V: sessions are looked up and "
                  "stored with the default server's settings, so the "
                  "servers of a listener must agree on it",
                  directive, name, dname, listen);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_ssl_session_redis_init_process(ngx_cycle_t *cycle)
{
    return ngx_ssl_session_redis_init_process(cycle,
               ngx_http_cycle_get_module_main_conf(cycle,
                                         ngx_http_ssl_session_redis_module));
}


static void
ngx_http_ssl_session_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_ssl_session_redis_exit_process(cycle,
        ngx_http_cycle_get_module_main_conf(cycle,
                                         ngx_http_ssl_session_redis_module));
}
