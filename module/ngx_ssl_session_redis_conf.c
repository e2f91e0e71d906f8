
/*
 * Configuration of ssl_session_redis, shared by the http and the stream
 * modules: the directive handlers, the checks "nginx -t" makes, create,
 * merge, and the store objects the directives name (one per address).
 */


#include "ngx_ssl_session_redis_glue.h"


#define NGX_SSL_SESSION_REDIS_MAX_PREFIX   64
#define NGX_SSL_SESSION_REDIS_MAX_TIMEOUT  10000
#define NGX_SSL_SESSION_REDIS_BACKOFF_MAX  1000
#define NGX_SSL_SESSION_REDIS_ROTATION     (12 * 60 * 60 * 1000)
#define NGX_SSL_SESSION_REDIS_MIN_ROTATION 1000
#define NGX_SSL_SESSION_REDIS_MAX_ROTATION_DAYS  366
#define NGX_SSL_SESSION_REDIS_MAX_ROTATION                                    \
    ((uint64_t) NGX_SSL_SESSION_REDIS_MAX_ROTATION_DAYS * 86400 * 1000)
#define NGX_SSL_SESSION_REDIS_MAX_DB       15

/* every node of a list as "[v6addr]:port," at most */
#define NGX_SSL_SESSION_REDIS_RESOLVED_LEN  (64 * (NGX_SOCKADDR_STRLEN + 8))


typedef struct {
    u_char                        *data;
    size_t                         len;
} ngx_ssl_session_redis_buf_t;


static void ngx_ssl_session_redis_cleanup_buf(void *data);
static void ngx_ssl_session_redis_cleanup_keys(void *data);
static ngx_int_t ngx_ssl_session_redis_hide_password(ngx_conf_t *cf,
    ngx_str_t *address);
static ngx_int_t ngx_ssl_session_redis_password_file(ngx_conf_t *cf,
    ngx_str_t *arg);
static ngx_int_t ngx_ssl_session_redis_load_keys(ngx_conf_t *cf,
    ngx_ssl_session_redis_conf_t *conf);
static ngx_ssl_session_redis_store_t *ngx_ssl_session_redis_get_store(
    ngx_conf_t *cf, ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, ngx_resolver_t *resolver,
    ngx_msec_t resolver_timeout);
static void ngx_ssl_session_redis_cleanup_store(void *data);


void
ngx_ssl_session_redis_init_conf(ngx_ssl_session_redis_conf_t *rcf)
{
    rcf->enable = NGX_CONF_UNSET;
    rcf->key_files = NGX_CONF_UNSET_PTR;
    rcf->timeout = NGX_CONF_UNSET_MSEC;
    rcf->single_use = NGX_CONF_UNSET;
    rcf->tickets = NGX_CONF_UNSET;
    rcf->ticket_rotation = NGX_CONF_UNSET_MSEC;
}


/*
 * The durations are checked where they are written, and the message shows
 * the value as written ("30s"), not in milliseconds.
 */

static char *
ngx_ssl_session_redis_check_timeout(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    ngx_str_t  *value;

    value = cf->args->elts;

    if (*ms == 0 || *ms > NGX_SSL_SESSION_REDIS_MAX_TIMEOUT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" \"%V\": must be more than 0 and "
                           "at most %ds", &value[0], &value[1],
                           NGX_SSL_SESSION_REDIS_MAX_TIMEOUT / 1000);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ssl_session_redis_check_rotation(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    ngx_str_t  *value;

    value = cf->args->elts;

    /* the core's bounds, said here in the directive's words */

    if (*ms < NGX_SSL_SESSION_REDIS_MIN_ROTATION
        || (uint64_t) *ms > NGX_SSL_SESSION_REDIS_MAX_ROTATION)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" \"%V\": must be at least %ds "
                           "and at most %dd", &value[0], &value[1],
                           NGX_SSL_SESSION_REDIS_MIN_ROTATION / 1000,
                           NGX_SSL_SESSION_REDIS_MAX_ROTATION_DAYS);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_conf_post_t  ngx_ssl_session_redis_timeout_post = {
    ngx_ssl_session_redis_check_timeout
};

ngx_conf_post_t  ngx_ssl_session_redis_rotation_post = {
    ngx_ssl_session_redis_check_rotation
};


/*
 * A former directive name: it works as the new one does, with nginx's
 * warning for deprecated directives, then the new one's checks.
 */

static char *
ngx_ssl_session_redis_deprecated(ngx_conf_t *cf, void *post, void *data)
{
    ngx_ssl_session_redis_deprecated_t  *d = post;

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "the \"%s\" directive is deprecated, "
                       "use the \"%s\" directive instead",
                       d->old_name, d->new_name);

    if (d->post == NULL) {
        return NGX_CONF_OK;
    }

    return d->post->post_handler(cf, d->post, data);
}


ngx_ssl_session_redis_deprecated_t  ngx_ssl_session_redis_key_deprecated = {
    ngx_ssl_session_redis_deprecated,
    "ssl_session_redis_key", "ssl_session_redis_fleet_key", NULL
};

ngx_ssl_session_redis_deprecated_t  ngx_ssl_session_redis_timeout_deprecated
    = {
    ngx_ssl_session_redis_deprecated,
    "ssl_session_redis_timeout", "ssl_session_redis_lookup_timeout",
    &ngx_ssl_session_redis_timeout_post
};

ngx_ssl_session_redis_deprecated_t  ngx_ssl_session_redis_tickets_deprecated
    = {
    ngx_ssl_session_redis_deprecated,
    "ssl_session_redis_tickets", "ssl_session_redis_ticket_keys", NULL
};


char *
ngx_ssl_session_redis_set_address(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ssl_session_redis_conf_t  *rcf = (void *) ((char *) conf
                                                   + cmd->offset);

    u_char                       *p, *parsed;
    size_t                        len, plen, buflen;
    ngx_str_t                    *value, *arg;
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_ssl_session_redis_buf_t  *buf;
    char                          err[256];

    if (rcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && ngx_strcmp(value[1].data, "off") == 0)
    {
        rcf->enable = 0;
        return NGX_CONF_OK;
    }

    /* the address and its parameters, joined again for the core's parser */

    len = 0;
    for (i = 1; i < cf->args->nelts; i++) {
        len += value[i].len + 1;
    }

    rcf->address.data = ngx_pnalloc(cf->pool, len);
    if (rcf->address.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = rcf->address.data;
    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *p++ = ' ';
        }
        p = ngx_cpymem(p, value[i].data, value[i].len);
    }
    *p = '\0';
    rcf->address.len = p - rcf->address.data;

    /* messages show it without a password written into a URI */

    rcf->ident = rcf->address;

    if (ngx_ssl_session_redis_hide_password(cf, &rcf->address) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * The core reads password files as it parses: they are named
     * relative to nginx's prefix first, as key files are.
     */

    arg = ngx_palloc(cf->pool, cf->args->nelts * sizeof(ngx_str_t));
    if (arg == NULL) {
        return NGX_CONF_ERROR;
    }

    plen = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        arg[i] = value[i];

        if (ngx_ssl_session_redis_password_file(cf, &arg[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        plen += arg[i].len + 1;
    }

    parsed = ngx_pnalloc(cf->pool, plen);
    if (parsed == NULL) {
        return NGX_CONF_ERROR;
    }

    p = parsed;
    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *p++ = ' ';
        }
        p = ngx_cpymem(p, arg[i].data, arg[i].len);
    }
    *p = '\0';

    /* room for every string of the parsed form plus a password file */
    buflen = plen + 4096;

    buf = ngx_palloc(cf->pool, sizeof(ngx_ssl_session_redis_buf_t));
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    buf->data = ngx_pnalloc(cf->pool, buflen);
    if (buf->data == NULL) {
        return NGX_CONF_ERROR;
    }
    buf->len = buflen;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_buf;
    cln->data = buf;

    if (tsr_store_conf_parse(&rcf->store_conf, (char *) parsed,
                             (char *) buf->data, buflen, err, sizeof(err))
        != TSR_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": %s",
                           &rcf->address, err);
        return NGX_CONF_ERROR;
    }

    /*
     * The core takes any database; Redis has "databases 16" unless told
     * otherwise, and SELECT of another fails only when workers connect.
     */

    if (rcf->store_conf.db > NGX_SSL_SESSION_REDIS_MAX_DB) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": database %d is "
                           "out of range, expected 0 to %d (Redis' default "
                           "\"databases 16\")", &rcf->address,
                           rcf->store_conf.db, NGX_SSL_SESSION_REDIS_MAX_DB);
        return NGX_CONF_ERROR;
    }

    if (rcf->store_conf.tls && rcf->store_conf.tls_no_verify) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "redis address \"%V\": \"tls_verify=off\" "
                           "accepts any certificate, so anyone on the path "
                           "to Redis can read and forge sessions",
                           &rcf->address);
    }

    /*
     * Host names are resolved here, in the master, as upstream names
     * are: workers never wait on a resolver.  The name of one Redis
     * server is kept too: with a "resolver" (known at merge time),
     * workers follow it through nginx's resolver, and need not find it
     * here; without one, a name that does not resolve fails "nginx -t".
     */

    if (rcf->store_conf.unix_path == NULL && rcf->store_conf.host != NULL
        && rcf->store_conf.cluster == NULL
        && rcf->store_conf.sentinels == NULL
        && ngx_inet_addr((u_char *) rcf->store_conf.host,
                         ngx_strlen(rcf->store_conf.host))
           == INADDR_NONE
        && ngx_strchr(rcf->store_conf.host, ':') == NULL)
    {
        rcf->host_name = (char *) rcf->store_conf.host;
    }

    p = ngx_pnalloc(cf->pool, NGX_SSL_SESSION_REDIS_RESOLVED_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    if (tsr_store_conf_resolve(&rcf->store_conf, (char *) p,
                               NGX_SSL_SESSION_REDIS_RESOLVED_LEN, err,
                               sizeof(err))
        != TSR_OK)
    {
        if (rcf->host_name == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
            return NGX_CONF_ERROR;
        }

        /* as ngx_conf_log_error() would say it, for merge time */

        rcf->resolve_error = ngx_pnalloc(cf->pool, ngx_strlen(err)
                                         + cf->conf_file->file.name.len
                                         + NGX_INT_T_LEN + 6);
        if (rcf->resolve_error == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf((u_char *) rcf->resolve_error, "%s in %V:%ui%Z", err,
                    &cf->conf_file->file.name, cf->conf_file->line);
    }

    rcf->store_buf = buf->data;
    rcf->enable = 1;
    rcf->file = cf->conf_file->file.name.data;
    rcf->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * "redis://user:secret@host" is shown as "redis://user:***@host", with a
 * warning: password_file= keeps the password out of the configuration.
 */

static ngx_int_t
ngx_ssl_session_redis_hide_password(ngx_conf_t *cf, ngx_str_t *address)
{
    u_char  *p, *end, *start, *at, *colon, *out;

    p = address->data;
    end = p + address->len;

    if (address->len > sizeof("redis://") - 1
        && ngx_strncmp(p, "redis://", sizeof("redis://") - 1) == 0)
    {
        start = p + sizeof("redis://") - 1;

    } else if (address->len > sizeof("rediss://") - 1
               && ngx_strncmp(p, "rediss://", sizeof("rediss://") - 1) == 0)
    {
        start = p + sizeof("rediss://") - 1;

    } else {
        return NGX_OK;
    }

    /* the authority: up to the path or the first parameter */

    at = NULL;

    for (p = start; p < end && *p != '/' && *p != ' '; p++) {
        if (*p == '@') {
            at = p;
        }
    }

    if (at == NULL) {
        return NGX_OK;
    }

    colon = ngx_strlchr(start, at, ':');

    if (colon == NULL || colon + 1 == at) {
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "the redis password is written in the configuration: "
                       "\"password_file=\" keeps it out of it");

    out = ngx_pnalloc(cf->pool, address->len + 3);
    if (out == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out, address->data, colon + 1 - address->data);
    p = ngx_cpymem(p, "***", 3);
    p = ngx_cpymem(p, at, end - at);
    *p = '\0';

    address->data = out;
    address->len = p - out;

    return NGX_OK;
}


/*
 * A "password_file=" or "sentinel_password_file=" parameter: its file
 * name relative to nginx's prefix, and a warning if others may read it.
 * Anything else is left as it is.
 */

static ngx_int_t
ngx_ssl_session_redis_password_file(ngx_conf_t *cf, ngx_str_t *arg)
{
    u_char           *p;
    size_t            n;
    ngx_str_t         name;
    ngx_uint_t        i;
    ngx_file_info_t   fi;

    /* the two secrets first: a warning if others may read them */
    static ngx_str_t  params[] = {
        ngx_string("password_file="),
        ngx_string("sentinel_password_file="),
        ngx_string("tls_key_file="),
        ngx_string("tls_ca_file="),
        ngx_string("tls_cert_file=")
    };

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        n = params[i].len;

        if (arg->len > n && ngx_strncmp(arg->data, params[i].data, n) == 0) {
            break;
        }
    }

    if (i == sizeof(params) / sizeof(params[0])) {
        return NGX_OK;
    }

    name.len = arg->len - n;
    name.data = arg->data + n;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, n + name.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    arg->data = p;
    p = ngx_cpymem(p, params[i].data, n);
    p = ngx_cpymem(p, name.data, name.len);
    *p = '\0';
    arg->len = p - arg->data;

    /* stat() does not open: a FIFO here cannot hang "nginx -t" */

    if (i < 3
        && ngx_file_info(arg->data + n, &fi) == 0
        && ngx_is_file(&fi)
        && (ngx_file_access(&fi) & 0077) != 0)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%s \"%s\" is accessible by other users "
                           "(mode %04o): it should be 0600 or 0400",
                           i < 2 ? "password file" : "TLS key file",
                           arg->data + n, ngx_file_access(&fi));
    }

    return NGX_OK;
}


char *
ngx_ssl_session_redis_set_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ssl_session_redis_conf_t  *rcf = (void *) ((char *) conf
                                                   + cmd->offset);

    ngx_str_t        *value, *file;
    ngx_conf_post_t  *post;

    if (rcf->key_files == NGX_CONF_UNSET_PTR) {
        rcf->key_files = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (rcf->key_files == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    file = ngx_array_push(rcf->key_files);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    *file = value[1];

    if (ngx_conf_full_name(cf->cycle, file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cmd->post != NULL) {
        post = cmd->post;
        return post->post_handler(cf, post, file);
    }

    return NGX_CONF_OK;
}


char *
ngx_ssl_session_redis_set_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ssl_session_redis_conf_t  *rcf = (void *) ((char *) conf
                                                   + cmd->offset);

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (rcf->prefix.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_SSL_SESSION_REDIS_MAX_PREFIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key prefix \"%V\": must be 1 to %d "
                           "characters", &value[1],
                           NGX_SSL_SESSION_REDIS_MAX_PREFIX);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid key prefix \"%V\": spaces and "
                               "control characters are not allowed",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    rcf->prefix = value[1];

    return NGX_CONF_OK;
}


ngx_int_t
ngx_ssl_session_redis_init_main_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *proto)
{
    if (ngx_array_init(&rmcf->stores, cf->pool, 2,
                       sizeof(ngx_ssl_session_redis_store_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_array_init(&rmcf->ctxs, cf->pool, 4, sizeof(SSL_CTX *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_array_init(&rmcf->tickets, cf->pool, 1,
                       sizeof(ngx_ssl_session_redis_tickets_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rmcf->proto.data = (u_char *) proto;
    rmcf->proto.len = ngx_strlen(proto);

    return NGX_OK;
}


char *
ngx_ssl_session_redis_merge_conf(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *prev, ngx_ssl_session_redis_conf_t *conf,
    ngx_resolver_t *resolver, ngx_msec_t resolver_timeout)
{
    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->address.data == NULL) {
        conf->address = prev->address;
        conf->ident = prev->ident;
        conf->store_conf = prev->store_conf;
        conf->store_buf = prev->store_buf;
        conf->host_name = prev->host_name;
        conf->resolve_error = prev->resolve_error;
    }

    ngx_conf_merge_ptr_value(conf->key_files, prev->key_files, NULL);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout,
                              NGX_SSL_SESSION_REDIS_DEFAULT_TIMEOUT);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, TSR_DEFAULT_PREFIX);
    ngx_conf_merge_value(conf->single_use, prev->single_use, 0);
    ngx_conf_merge_value(conf->tickets, prev->tickets, 0);
    ngx_conf_merge_msec_value(conf->ticket_rotation, prev->ticket_rotation,
                              NGX_SSL_SESSION_REDIS_ROTATION);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->ticket_rotation < NGX_SSL_SESSION_REDIS_MIN_ROTATION) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ssl_session_redis_ticket_rotation\" "
                           "%M: must be at least %dms",
                           conf->ticket_rotation,
                           NGX_SSL_SESSION_REDIS_MIN_ROTATION);
        return NGX_CONF_ERROR;
    }

    if (conf->timeout == 0
        || conf->timeout > NGX_SSL_SESSION_REDIS_MAX_TIMEOUT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ssl_session_redis_lookup_timeout\" %M: "
                           "must be more than 0 and at most %dms",
                           conf->timeout, NGX_SSL_SESSION_REDIS_MAX_TIMEOUT);
        return NGX_CONF_ERROR;
    }

    if (conf->key_files == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"ssl_session_redis_fleet_key\" is defined for "
                           "\"ssl_session_redis %V\"", &conf->address);
        return NGX_CONF_ERROR;
    }

    /* nginx's own resolver without "resolver": no name servers */

    if (resolver != NULL && resolver->connections.nelts == 0) {
        resolver = NULL;
    }

    if (conf->resolve_error != NULL && resolver == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s", conf->resolve_error);
        return NGX_CONF_ERROR;
    }

    conf->store = ngx_ssl_session_redis_get_store(cf, rmcf, conf, resolver,
                                                  resolver_timeout);
    if (conf->store == NULL) {
        return NGX_CONF_ERROR;
    }

    /* servers inheriting the same key files share one ring */

    if (conf->key_files == prev->key_files && prev->keys != NULL) {
        conf->keys = prev->keys;
        return NGX_CONF_OK;
    }

    if (ngx_ssl_session_redis_load_keys(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->key_files == prev->key_files) {
        prev->keys = conf->keys;
    }

    return NGX_CONF_OK;
}


/*
 * Servers naming the same address share one store object, that is one
 * connection per worker.  The object is created here, in the master,
 * and never connects there: workers make it asynchronous in
 * init_process, which is when the connection is opened.  A host name is
 * followed with the resolver of the first server naming the address.
 */

static ngx_ssl_session_redis_store_t *
ngx_ssl_session_redis_get_store(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, ngx_resolver_t *resolver,
    ngx_msec_t resolver_timeout)
{
    ngx_uint_t                       i;
    tsr_store_conf_t                 sc;
    ngx_pool_cleanup_t              *cln;
    ngx_ssl_session_redis_store_t   *rs, **rsp;
    char                             err[256];

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        if (rsp[i]->ident.len == conf->ident.len
            && ngx_strncmp(rsp[i]->ident.data, conf->ident.data,
                           conf->ident.len) == 0)
        {
            return rsp[i];
        }
    }

    rs = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_session_redis_store_t));
    if (rs == NULL) {
        return NULL;
    }

    rs->address = conf->address;
    rs->ident = conf->ident;
    rs->log = &cf->cycle->new_log;

    conf->store_conf.log = ngx_ssl_session_redis_log;
    conf->store_conf.log_data = rs;
    conf->store_conf.never_block = 1;

    /*
     * These bound setting up a connection (connect, AUTH, SELECT), which
     * no handshake waits for; each lookup has its own deadline, the
     * "ssl_session_redis_lookup_timeout" of its server.
     */

    conf->store_conf.connect_timeout_ms = NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT;
    conf->store_conf.command_timeout_ms = NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT;

    /* a Redis that came back is found again within a second */
    conf->store_conf.backoff_max_ms = NGX_SSL_SESSION_REDIS_BACKOFF_MAX;

    sc = conf->store_conf;

    if (resolver != NULL && conf->host_name != NULL) {
        /*
         * Workers resolve it before every connection attempt but the
         * first, which goes to the address found here, if any; so does
         * an attempt when the name does not resolve (a name that the
         * resolver does not know, as "localhost", keeps working).
         */
        rs->resolver = resolver;
        rs->resolver_timeout = resolver_timeout;
        sc.host = conf->host_name;
        sc.host_addr = (conf->resolve_error == NULL) ? conf->store_conf.host
                                                     : NULL;
    }

    rs->store = tsr_store_create(&sc, err, sizeof(err));
    if (rs->store == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": %s",
                           &conf->address, err);
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        tsr_store_destroy(rs->store);
        return NULL;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_store;
    cln->data = rs;

    rsp = ngx_array_push(&rmcf->stores);
    if (rsp == NULL) {
        return NULL;
    }

    *rsp = rs;

    return rs;
}


static ngx_int_t
ngx_ssl_session_redis_load_keys(ngx_conf_t *cf,
    ngx_ssl_session_redis_conf_t *conf)
{
    ngx_str_t           *file;
    ngx_uint_t           i;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;
    char                 err[512];

    conf->keys = tsr_keyring_create(err, sizeof(err));
    if (conf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tsr_keyring_create() failed: %s", err);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        tsr_keyring_destroy(conf->keys);
        conf->keys = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_keys;
    cln->data = conf->keys;

    file = conf->key_files->elts;

    for (i = 0; i < conf->key_files->nelts; i++) {

        if (tsr_keyring_add_file(conf->keys, (char *) file[i].data, err,
                                 sizeof(err))
            != TSR_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"ssl_session_redis_fleet_key\": %s",
                               err);
            return NGX_ERROR;
        }

        if (ngx_file_info(file[i].data, &fi) == 0
            && (ngx_file_access(&fi) & 0077) != 0)
        {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "key file \"%V\" is accessible by other "
                               "users (mode %04o): it should be 0600 or "
                               "0400", &file[i], ngx_file_access(&fi));
        }
    }

    return NGX_OK;
}


static void
ngx_ssl_session_redis_cleanup_buf(void *data)
{
    ngx_ssl_session_redis_buf_t  *buf = data;

    /* it may hold a password read from a file */
    ngx_explicit_memzero(buf->data, buf->len);
}


static void
ngx_ssl_session_redis_cleanup_keys(void *data)
{
    tsr_keyring_destroy(data);
}


static void
ngx_ssl_session_redis_cleanup_store(void *data)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    if (rs->store != NULL) {
        tsr_store_destroy(rs->store);
        rs->store = NULL;
    }
}
