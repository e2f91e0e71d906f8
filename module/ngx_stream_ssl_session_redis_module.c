
/*
 * stream layer of ssl_session_redis: directives, configuration, module hooks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_ssl_session_redis.h"


typedef struct {
    ngx_ssl_session_redis_conf_t  redis;
} ngx_stream_ssl_session_redis_srv_conf_t;


static ngx_int_t ngx_stream_ssl_session_redis_add_variables(
    ngx_conf_t *cf);
static ngx_int_t ngx_stream_ssl_session_redis_variable(
    ngx_stream_session_t *s, ngx_stream_variable_value_t *v,
    uintptr_t data);
static void *ngx_stream_ssl_session_redis_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_ssl_session_redis_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_ssl_session_redis_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_str_t *ngx_stream_ssl_session_redis_listen(
    ngx_stream_core_main_conf_t *cmcf, ngx_stream_core_srv_conf_t *cscf);
static ngx_int_t ngx_stream_ssl_session_redis_init(ngx_conf_t *cf);
static ngx_int_t ngx_stream_ssl_session_redis_init_process(
    ngx_cycle_t *cycle);
static void ngx_stream_ssl_session_redis_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_stream_ssl_session_redis_commands[] = {

    { ngx_string("ssl_session_redis"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_ssl_session_redis_set_address,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_fleet_key"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_key,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_lookup_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.timeout),
      &ngx_ssl_session_redis_timeout_post },

    { ngx_string("ssl_session_redis_prefix"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_prefix,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis),
      NULL },

    { ngx_string("ssl_session_redis_single_use"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.single_use),
      NULL },

    { ngx_string("ssl_session_redis_ticket_keys"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.tickets),
      NULL },

    { ngx_string("ssl_session_redis_ticket_rotation"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.ticket_rotation),
      &ngx_ssl_session_redis_rotation_post },

    /* the former names, with a warning */

    { ngx_string("ssl_session_redis_key"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_ssl_session_redis_set_key,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis),
      &ngx_ssl_session_redis_key_deprecated },

    { ngx_string("ssl_session_redis_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.timeout),
      &ngx_ssl_session_redis_timeout_deprecated },

    { ngx_string("ssl_session_redis_tickets"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_ssl_session_redis_srv_conf_t, redis.tickets),
      &ngx_ssl_session_redis_tickets_deprecated },

      ngx_null_command
};


static ngx_stream_variable_t  ngx_stream_ssl_session_redis_vars[] = {

    { ngx_string("ssl_session_redis"), NULL,
      ngx_stream_ssl_session_redis_variable, 0,
      NGX_STREAM_VAR_NOCACHEABLE, 0 },

      ngx_stream_null_variable
};


static ngx_stream_module_t  ngx_stream_ssl_session_redis_module_ctx = {
    ngx_stream_ssl_session_redis_add_variables, /* preconfiguration */
    ngx_stream_ssl_session_redis_init,     /* postconfiguration */

    ngx_stream_ssl_session_redis_create_main_conf,
                                           /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_ssl_session_redis_create_srv_conf,
                                           /* create server configuration */
    ngx_stream_ssl_session_redis_merge_srv_conf
                                           /* merge server configuration */
};


ngx_module_t  ngx_stream_ssl_session_redis_module = {
    NGX_MODULE_V1,
    &ngx_stream_ssl_session_redis_module_ctx, /* module context */
    ngx_stream_ssl_session_redis_commands,   /* module directives */
    NGX_STREAM_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_stream_ssl_session_redis_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_stream_ssl_session_redis_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_stream_ssl_session_redis_add_variables(ngx_conf_t *cf)
{
    ngx_stream_variable_t  *var, *v;

    for (v = ngx_stream_ssl_session_redis_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_ssl_session_redis_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  value;

    if (ngx_ssl_session_redis_outcome(s->connection, &value) != NGX_OK) {
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


static void *
ngx_stream_ssl_session_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_session_redis_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /* the protocol name nginx's session id context starts with */
    if (ngx_ssl_session_redis_init_main_conf(cf, rmcf, "STREAM") != NGX_OK) {
        return NULL;
    }

    return rmcf;
}


static void *
ngx_stream_ssl_session_redis_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_ssl_session_redis_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_stream_ssl_session_redis_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    ngx_ssl_session_redis_init_conf(&conf->redis);

    return conf;
}


static char *
ngx_stream_ssl_session_redis_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_stream_ssl_session_redis_srv_conf_t  *prev = parent;
    ngx_stream_ssl_session_redis_srv_conf_t  *conf = child;

    ngx_stream_core_srv_conf_t         *cscf;
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = ngx_stream_conf_get_module_main_conf(cf,
                                       ngx_stream_ssl_session_redis_module);

    /* the core module merged first: the server's "resolver" is known */

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    return ngx_ssl_session_redis_merge_conf(cf, rmcf, &prev->redis,
                                            &conf->redis, cscf->resolver,
                                            cscf->resolver_timeout);
}


/*
 * The address of a server's first "listen", as nginx prints it; NULL
 * for none.  nginx 1.25.5 keeps listens by port, with their servers.
 */

static ngx_str_t *
ngx_stream_ssl_session_redis_listen(ngx_stream_core_main_conf_t *cmcf,
    ngx_stream_core_srv_conf_t *cscf)
{
#if (nginx_version >= 1025005)

    ngx_uint_t                    p, a, i;
    ngx_stream_conf_port_t       *port;
    ngx_stream_conf_addr_t       *addr;
    ngx_stream_core_srv_conf_t  **srv;

    if (cmcf->ports == NULL) {
        return NULL;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {
        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {
            srv = addr[a].servers.elts;

            for (i = 0; i < addr[a].servers.nelts; i++) {
                if (srv[i] == cscf) {
                    return &addr[a].opt.addr_text;
                }
            }
        }
    }

#else

    ngx_uint_t            i;
    ngx_stream_listen_t  *ls;

    ls = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        if (ls[i].ctx == cscf->ctx) {
            return &ls[i].addr_text;
        }
    }

#endif

    return NULL;
}


/*
 * Every module's merge has run by now, so every server's SSL_CTX exists
 * (stream creates one only for servers with "listen ... ssl").  Stream
 * in nginx 1.22 has one server per listener: no SNI switch to check.
 */

static ngx_int_t
ngx_stream_ssl_session_redis_init(ngx_conf_t *cf)
{
    u_char                                    *p;
    ngx_str_t                                  name, *listen;
    ngx_uint_t                                 s;
    NGX_SSL_SESSION_REDIS_STREAM_SSL_CONF     *sscf;
    ngx_stream_core_srv_conf_t               **cscfp;
    ngx_stream_core_main_conf_t               *cmcf;
    ngx_ssl_session_redis_main_conf_t         *rmcf;
    ngx_stream_ssl_session_redis_srv_conf_t   *rscf;
    u_char                                     buf[NGX_MAX_PATH + 32];

    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);
    rmcf = ngx_stream_conf_get_module_main_conf(cf,
                                       ngx_stream_ssl_session_redis_module);

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        sscf = cscfp[s]->ctx->srv_conf[ngx_stream_ssl_module.ctx_index];
        rscf = cscfp[s]->ctx->srv_conf[
                              ngx_stream_ssl_session_redis_module.ctx_index];

        /*
         * stream servers have no names: the first "listen" names it, in
         * metrics and messages, as it stays when lines are added above
         */

        listen = ngx_stream_ssl_session_redis_listen(cmcf, cscfp[s]);

        if (listen != NULL) {
            name = *listen;

        } else {
            p = ngx_snprintf(buf, sizeof(buf), "%s:%ui",
                             cscfp[s]->file_name, cscfp[s]->line);
            name.data = buf;
            name.len = p - buf;
        }

        if (ngx_ssl_session_redis_setup_server(cf, rmcf, &rscf->redis,
                                               sscf->ssl.ctx, sscf->verify,
                                               &name)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_ssl_session_redis_setup_done(cf, rmcf,
                                       NGX_SSL_SESSION_REDIS_ZONE_STREAM,
                                       &ngx_stream_ssl_session_redis_module);
}


static ngx_int_t
ngx_stream_ssl_session_redis_init_process(ngx_cycle_t *cycle)
{
    return ngx_ssl_session_redis_init_process(cycle,
               ngx_stream_cycle_get_module_main_conf(cycle,
                                       ngx_stream_ssl_session_redis_module));
}


static void
ngx_stream_ssl_session_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_ssl_session_redis_exit_process(cycle,
        ngx_stream_cycle_get_module_main_conf(cycle,
                                       ngx_stream_ssl_session_redis_module));
}
