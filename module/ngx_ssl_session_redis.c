
/*
 * Glue shared by the http and the stream ssl_session_redis modules.
 * It translates directives into core objects, hooks nginx's SSL
 * contexts and connections, and runs the core's Redis store on nginx's
 * event loop; the core decides.
 */


#include "ngx_ssl_session_redis.h"
#include "tsr_fleet.h"


#define NGX_SSL_SESSION_REDIS_MAX_PREFIX   64
#define NGX_SSL_SESSION_REDIS_MAX_TIMEOUT  10000
#define NGX_SSL_SESSION_REDIS_SETUP_TIMEOUT 2000
#define NGX_SSL_SESSION_REDIS_BACKOFF_MAX   1000
#define NGX_SSL_SESSION_REDIS_ROTATION      (12 * 60 * 60 * 1000)
#define NGX_SSL_SESSION_REDIS_MIN_ROTATION  1000

/* lookup states of a connection */
#define NGX_SSL_SESSION_REDIS_HELLO        0
#define NGX_SSL_SESSION_REDIS_WAIT         1
#define NGX_SSL_SESSION_REDIS_DONE         2


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


typedef struct ngx_ssl_session_redis_hbio_s  ngx_ssl_session_redis_hbio_t;


/* per connection with a lookup hook, in c->pool and SSL ex_data */
typedef struct {
    ngx_connection_t              *connection;
    ngx_ssl_conn_t                *ssl_conn;    /* NULL: the SSL is gone */
    ngx_ssl_session_redis_ctx_t   *ctx;         /* of the session_ctx */
    void                         (*info_callback)(const ngx_ssl_conn_t *,
                                                  int, int);
    BIO                           *bio;         /* the hello BIO */
    ngx_ssl_session_redis_hbio_t  *hb;          /* its data */
    tsr_req_t                     *req;         /* lookup in flight */
    ngx_msec_t                     started;
    ngx_uint_t                     state;
    ngx_uint_t                     outcome;
    unsigned                       ticket:1;    /* a ticket was offered */
    unsigned                       retried:1;   /* a miss was asked again */
    size_t                         id_len;
    size_t                         key_len;
    size_t                         server_name_len;
    u_char                         id[TSR_MAX_SESSION_ID];
    u_char                         key[TSR_MAX_KEY_NAME];
    u_char                         server_name[256];
} ngx_ssl_session_redis_conn_t;


/*
 * The hello BIO stands in for nginx's socket BIO as a connection's read
 * BIO until the ClientHello has gone to OpenSSL: it reads the socket
 * once, looks for a session id in what came, and gives OpenSSL the same
 * bytes, holding them back while Redis is asked.  Owned by the BIO (an
 * SSL may outlive its connection's pool, or go first).
 */
struct ngx_ssl_session_redis_hbio_s {
    BIO                           *sock;        /* one reference */
    ngx_ssl_session_redis_conn_t  *cs;          /* NULL: pool gone */
    u_char                        *buf;         /* read, not yet taken */
    size_t                         len;
    size_t                         pos;
    size_t                         size;        /* of buf, grows twofold */

    /* the records of a partial ClientHello, each looked at once */
    size_t                         scan;        /* next record header */
    size_t                         body;        /* bytes of the message */
    size_t                         hdr_len;
    u_char                         hdr[4];      /* the message header */

    /* for the debug log: the work stays linear in the bytes */
    ngx_uint_t                     reads;
    size_t                         copied;
};


typedef struct {
    u_char                        *data;
    size_t                         len;
} ngx_ssl_session_redis_buf_t;


/* a resolution in flight, the handle given to the core */
typedef struct {
    ngx_resolver_ctx_t     *ctx;            /* NULL: answered */
    ngx_str_t               name;           /* follows the struct */
    tsr_loop_resolved_pt    done;
    void                   *arg;
    const char             *err;
    unsigned                starting:1;     /* in ngx_resolve_name() */
    unsigned                answered:1;
    char                    ip[NGX_SOCKADDR_STRLEN + 1];
} ngx_ssl_session_redis_resolve_t;


/* one subsystem's metrics, added up over the workers' slots */
typedef struct {
    const char                            *subsystem;
    ngx_uint_t                             n;
    ngx_str_t                             *names;  /* escaped for labels */
    ngx_uint_t                            *first;  /* server of that name */
    ngx_ssl_session_redis_worker_stats_t   w;
    ngx_ssl_session_redis_server_stats_t  *tot;
    ngx_msec_t                             timeout;
} ngx_ssl_session_redis_sum_t;


static void ngx_ssl_session_redis_cleanup_buf(void *data);
static void ngx_ssl_session_redis_cleanup_keys(void *data);
static ngx_int_t ngx_ssl_session_redis_hide_password(ngx_conf_t *cf,
    ngx_str_t *address);
static ngx_int_t ngx_ssl_session_redis_password_file(ngx_conf_t *cf,
    ngx_str_t *arg);
static ngx_int_t ngx_ssl_session_redis_check_cache(ngx_conf_t *cf,
    SSL_CTX *ssl_ctx, ngx_str_t *server_name);
static ngx_int_t ngx_ssl_session_redis_load_keys(ngx_conf_t *cf,
    ngx_ssl_session_redis_conf_t *conf);
static ngx_ssl_session_redis_store_t *ngx_ssl_session_redis_get_store(
    ngx_conf_t *cf, ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, ngx_resolver_t *resolver,
    ngx_msec_t resolver_timeout);
static void ngx_ssl_session_redis_cleanup_store(void *data);
static void ngx_ssl_session_redis_log(int level, const char *msg,
    void *data);
static ngx_int_t ngx_ssl_session_redis_sid_ctx(ngx_conf_t *cf,
    SSL_CTX *ssl_ctx, ngx_uint_t verify, u_char *out, unsigned int *outlen);
static ngx_int_t ngx_ssl_session_redis_nginx_sid_ctx(ngx_conf_t *cf,
    SSL_CTX *ssl_ctx, u_char *out, unsigned int *outlen);
static void ngx_ssl_session_redis_probe_info(const SSL *ssl, int where,
    int ret);
static ngx_int_t ngx_ssl_session_redis_sid_ctx_verify(EVP_MD_CTX *md,
    SSL_CTX *ssl_ctx, ngx_uint_t verify);
static int ngx_ssl_session_redis_cmp_digest(const void *a, const void *b);
static void ngx_ssl_session_redis_cleanup_ctx(void *data);
static void ngx_ssl_session_redis_cleanup_ctxd(void *data);
static void ngx_ssl_session_redis_free_conn(void *parent, void *ptr,
    CRYPTO_EX_DATA *ad, int idx, long argl, void *argp);
static ngx_int_t ngx_ssl_session_redis_add_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx);
static void ngx_ssl_session_redis_cleanup_tickets(void *data);
static ngx_int_t ngx_ssl_session_redis_setup_tickets(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf);
static ngx_int_t ngx_ssl_session_redis_fingerprint(const u_char *sid_ctx,
    size_t len, u_char *fp);
static size_t ngx_ssl_session_redis_slot_size(ngx_uint_t nservers);
static size_t ngx_ssl_session_redis_zone_size(ngx_uint_t nservers);
static void ngx_ssl_session_redis_retire(
    ngx_ssl_session_redis_main_conf_t *rmcf);
static ngx_int_t ngx_ssl_session_redis_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_ssl_session_redis_publish(
    ngx_ssl_session_redis_main_conf_t *rmcf);
static void ngx_ssl_session_redis_publish_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_announce(
    ngx_ssl_session_redis_main_conf_t *rmcf);
static void ngx_ssl_session_redis_announce_handler(ngx_event_t *ev);
static ngx_int_t ngx_ssl_session_redis_sum(ngx_pool_t *pool,
    ngx_shm_zone_t *zone, const char *subsystem,
    ngx_ssl_session_redis_sum_t *sum);
static u_char *ngx_ssl_session_redis_seconds(u_char *p, u_char *last,
    uint64_t us);
static ngx_str_t ngx_ssl_session_redis_openssl_version(void);
static ngx_chain_t *ngx_ssl_session_redis_render(ngx_pool_t *pool,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums);
static ngx_shm_zone_t *ngx_ssl_session_redis_find_zone(const char *name);
static ngx_msec_t ngx_ssl_session_redis_ring_interval(
    ngx_ssl_session_redis_tickets_t *tk);
static void ngx_ssl_session_redis_refresh_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_ring_done(int rc, const uint8_t *val,
    size_t len, void *arg);
static void ngx_ssl_session_redis_info_callback(
    const ngx_ssl_conn_t *ssl_conn, int where, int ret);
static void ngx_ssl_session_redis_start(ngx_ssl_conn_t *ssl_conn,
    void (*info)(const ngx_ssl_conn_t *, int, int));
static BIO *ngx_ssl_session_redis_hbio_new(ngx_ssl_session_redis_conn_t *cs,
    BIO *sock);
static int ngx_ssl_session_redis_hbio_read(BIO *b, char *out, int outl);
static int ngx_ssl_session_redis_hbio_write(BIO *b, const char *in,
    int inl);
static long ngx_ssl_session_redis_hbio_ctrl(BIO *b, int cmd, long num,
    void *ptr);
static int ngx_ssl_session_redis_hbio_destroy(BIO *b);
static void ngx_ssl_session_redis_cleanup_hbio(void *data);
static void ngx_ssl_session_redis_hbio_restore(
    ngx_ssl_session_redis_conn_t *cs);
static ngx_int_t ngx_ssl_session_redis_hbio_append(
    ngx_ssl_session_redis_hbio_t *hb, u_char *in, size_t n, ngx_log_t *log);
static ngx_uint_t ngx_ssl_session_redis_hello_ready(
    ngx_ssl_session_redis_hbio_t *hb);
static ngx_int_t ngx_ssl_session_redis_hello(ngx_ssl_session_redis_conn_t *cs,
    ngx_ssl_session_redis_hbio_t *hb);
static unsigned ngx_ssl_session_redis_hello_flags(ngx_ssl_conn_t *ssl_conn);
static ngx_int_t ngx_ssl_session_redis_accept(
    ngx_ssl_session_redis_conn_t *cs, SSL_SESSION *sess);
static ngx_int_t ngx_ssl_session_redis_decide(
    ngx_ssl_session_redis_conn_t *cs, SSL_SESSION *sess);
static void ngx_ssl_session_redis_lookup_done(int rc, const uint8_t *val,
    size_t len, void *arg);
static void ngx_ssl_session_redis_cleanup_conn(void *data);
static int ngx_ssl_session_redis_loop_watch(void *data, int fd,
    int readable, int writable);
static void ngx_ssl_session_redis_loop_unwatch(void *data, int fd);
static void ngx_ssl_session_redis_loop_timer(void *data, uint64_t ms);
static uint64_t ngx_ssl_session_redis_loop_now(void *data);
static void *ngx_ssl_session_redis_loop_resolve(void *data, const char *host,
    tsr_loop_resolved_pt done, void *arg);
static void ngx_ssl_session_redis_loop_resolve_cancel(void *data,
    void *handle);
static void ngx_ssl_session_redis_resolve_handler(ngx_resolver_ctx_t *ctx);
static void ngx_ssl_session_redis_read_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_write_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_timer_handler(ngx_event_t *ev);


/* every node of a list as "[v6addr]:port," at most */
#define NGX_SSL_SESSION_REDIS_RESOLVED_LEN  (64 * (NGX_SOCKADDR_STRLEN + 8))


static ngx_str_t         ngx_ssl_session_redis_dash = ngx_string("-");
static int               ngx_ssl_session_redis_ctx_index = -1;
static int               ngx_ssl_session_redis_conn_index = -1;
static BIO_METHOD       *ngx_ssl_session_redis_hbio_method;
static ngx_uint_t        ngx_ssl_session_redis_hbio_users;
static ngx_connection_t  ngx_ssl_session_redis_dumb;


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

    if (*ms < NGX_SSL_SESSION_REDIS_MIN_ROTATION) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" \"%V\": must be at least %ds",
                           &value[0], &value[1],
                           NGX_SSL_SESSION_REDIS_MIN_ROTATION / 1000);
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

    ngx_str_t  *value, *file;

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

    if (conf->tickets
        && (conf->store_conf.cluster != NULL
            || conf->store_conf.sentinels != NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ssl_session_redis_tickets\" is not supported "
                           "with \"ssl_session_redis %V\" yet: fleet ticket "
                           "keys need a single Redis (or its unix socket)",
                           &conf->address);
        return NGX_CONF_ERROR;
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
                           "invalid \"ssl_session_redis_timeout\" %M: must "
                           "be more than 0 and at most %dms", conf->timeout,
                           NGX_SSL_SESSION_REDIS_MAX_TIMEOUT);
        return NGX_CONF_ERROR;
    }

    if (conf->key_files == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"ssl_session_redis_key\" is defined for "
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
     * "ssl_session_redis_timeout" of its server.
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
                               "invalid \"ssl_session_redis_key\": %s", err);
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


/*
 * Core messages go to the cycle's log; errors at most once a second per
 * store, so that a dead Redis does not flood the log, except those the
 * core limits itself (TSR_LOG_LIMITED).
 */

static void
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


/*
 * The module's session id context: nginx's own, as the running nginx
 * computed it, extended with the client verification settings.
 */

static ngx_int_t
ngx_ssl_session_redis_sid_ctx(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    ngx_uint_t verify, u_char *out, unsigned int *outlen)
{
    EVP_MD_CTX    *md;
    unsigned int   len;
    u_char         nginx[SSL_MAX_SID_CTX_LENGTH];

    if (ngx_ssl_session_redis_nginx_sid_ctx(cf, ssl_ctx, nginx, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 0
        || EVP_DigestUpdate(md, nginx, len) == 0
        || ngx_ssl_session_redis_sid_ctx_verify(md, ssl_ctx, verify)
           != NGX_OK
        || EVP_DigestFinal_ex(md, out, outlen) == 0)
    {
        goto failed;
    }

    EVP_MD_CTX_free(md);

    return NGX_OK;

failed:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return NGX_ERROR;
}


/*
 * The session id context nginx set on the context.  nginx computes it
 * in ngx_ssl_session_id_context() from inputs that move between versions
 * (1.27.4 moved the server certificates from the context's ex_data to
 * the ngx_ssl_t), so it is read back rather than computed again.
 * OpenSSL has no getter for a context's, only for a session's, and a
 * connection copies its context's into every session it makes: a client
 * connection on the context writes a ClientHello into memory and its new
 * session tells.  Nothing is sent and no server callback runs; nginx's
 * info callback is replaced on that connection, and callbacks of nginx's
 * that run for a ClientHello (QUIC's transport parameters with the
 * OpenSSL compatibility layer) find a connection that is not QUIC.
 */

static ngx_int_t
ngx_ssl_session_redis_nginx_sid_ctx(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    u_char *out, unsigned int *outlen)
{
    BIO                  *rbio, *wbio;
    SSL                  *ssl;
    ngx_int_t             rc;
    unsigned int          len;
    SSL_SESSION          *sess;
    ngx_connection_t      c;
    const unsigned char  *p;

    rc = NGX_ERROR;

    ssl = SSL_new(ssl_ctx);
    if (ssl == NULL) {
        goto failed;
    }

    ngx_memzero(&c, sizeof(ngx_connection_t));
    c.type = SOCK_STREAM;
    c.log = cf->log;
    c.fd = (ngx_socket_t) -1;

    if (SSL_set_ex_data(ssl, ngx_ssl_connection_index, &c) == 0) {
        goto failed;
    }

    SSL_set_info_callback(ssl, ngx_ssl_session_redis_probe_info);

    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());

    if (rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);

    /* stops for the ServerHello that never comes */
    (void) SSL_do_handshake(ssl);

    sess = SSL_get_session(ssl);
    if (sess == NULL) {
        goto failed;
    }

    p = SSL_SESSION_get0_id_context(sess, &len);

    if (len == 0 || len > SSL_MAX_SID_CTX_LENGTH) {
        goto failed;
    }

    ngx_memcpy(out, p, len);
    *outlen = len;

    rc = NGX_OK;

failed:

    /* a session of an unfinished handshake leaves no cache */

    if (ssl != NULL) {
        SSL_free(ssl);
    }

    ERR_clear_error();

    return rc;
}


static void
ngx_ssl_session_redis_probe_info(const SSL *ssl, int where, int ret)
{
    /* stands in for nginx's and the module's */
}


/*
 * Stricter than nginx, whose context stops at the client CA names:
 * servers that verify clients differently never share sessions.  The
 * ssl_verify_client value ("on" and "optional" look the same to
 * OpenSSL), the verify mode and depth, and every CA certificate and CRL
 * in the store go in, so that a session made where no certificate was
 * asked for, or under another CRL or CA, never resumes where
 * verification is stricter.  Store objects are taken in digest order:
 * the store's own order depends on its lookups.
 */

static ngx_int_t
ngx_ssl_session_redis_sid_ctx_verify(EVP_MD_CTX *md, SSL_CTX *ssl_ctx,
    ngx_uint_t verify)
{
    int                    i, n, k, mode, depth;
    u_char                *digests, *p;
    X509_OBJECT           *obj;
    X509_STORE            *store;
    unsigned int           len;
    STACK_OF(X509_OBJECT) *objs;
    u_char                 head[9];

    mode = SSL_CTX_get_verify_mode(ssl_ctx);
    depth = SSL_CTX_get_verify_depth(ssl_ctx);

    head[0] = (u_char) verify;

    for (k = 0; k < 4; k++) {
        head[1 + k] = (u_char) ((unsigned int) mode >> (24 - 8 * k));
        head[5 + k] = (u_char) ((unsigned int) depth >> (24 - 8 * k));
    }

    if (EVP_DigestUpdate(md, head, sizeof(head)) == 0) {
        return NGX_ERROR;
    }

    store = SSL_CTX_get_cert_store(ssl_ctx);
    objs = (store != NULL) ? X509_STORE_get0_objects(store) : NULL;
    n = (objs != NULL) ? sk_X509_OBJECT_num(objs) : 0;

    if (n <= 0) {
        return NGX_OK;
    }

    digests = OPENSSL_malloc((size_t) n * (SHA_DIGEST_LENGTH + 1));
    if (digests == NULL) {
        return NGX_ERROR;
    }

    p = digests;

    for (i = 0; i < n; i++, p += SHA_DIGEST_LENGTH + 1) {
        obj = sk_X509_OBJECT_value(objs, i);
        len = 0;

        switch (X509_OBJECT_get_type(obj)) {

        case X509_LU_X509:
            p[0] = 'c';
            k = X509_digest(X509_OBJECT_get0_X509(obj), EVP_sha1(), p + 1,
                            &len);
            break;

        case X509_LU_CRL:
            p[0] = 'r';
            k = X509_CRL_digest(X509_OBJECT_get0_X509_CRL(obj), EVP_sha1(),
                                p + 1, &len);
            break;

        default:
            p[0] = '?';
            k = 1;
            len = SHA_DIGEST_LENGTH;
            ngx_memzero(p + 1, SHA_DIGEST_LENGTH);
            break;
        }

        if (k == 0 || len != SHA_DIGEST_LENGTH) {
            OPENSSL_free(digests);
            return NGX_ERROR;
        }
    }

    qsort(digests, n, SHA_DIGEST_LENGTH + 1,
          ngx_ssl_session_redis_cmp_digest);

    k = EVP_DigestUpdate(md, digests, (size_t) n * (SHA_DIGEST_LENGTH + 1));

    OPENSSL_free(digests);

    return (k == 0) ? NGX_ERROR : NGX_OK;
}


static int
ngx_ssl_session_redis_cmp_digest(const void *a, const void *b)
{
    return ngx_memcmp(a, b, SHA_DIGEST_LENGTH + 1);
}


ngx_int_t
ngx_ssl_session_redis_setup_server(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf,
    ngx_ssl_session_redis_conf_t *conf, SSL_CTX *ssl_ctx, ngx_uint_t verify,
    ngx_str_t *server_name)
{
    SSL_CTX                      **ctxp;
    BIO_METHOD                    *m;
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

    /*
     * The hello BIO's method, shared by the cycles that use it: over a
     * reload the module stays loaded and the new cycle takes it before
     * the old one lets go; the last cycle frees it before the module is
     * unloaded (its cleanup runs first).
     */

    if (!rmcf->hbio) {
        if (ngx_ssl_session_redis_hbio_method == NULL) {
            m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
                             | BIO_TYPE_DESCRIPTOR, "ssl_session_redis hello");

            if (m == NULL
                || !BIO_meth_set_read(m, ngx_ssl_session_redis_hbio_read)
                || !BIO_meth_set_write(m, ngx_ssl_session_redis_hbio_write)
                || !BIO_meth_set_ctrl(m, ngx_ssl_session_redis_hbio_ctrl)
                || !BIO_meth_set_destroy(m,
                                         ngx_ssl_session_redis_hbio_destroy))
            {
                BIO_meth_free(m);
                ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                              "BIO_meth_new() failed");
                return NGX_ERROR;
            }

            ngx_ssl_session_redis_hbio_method = m;
        }

        cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_ssl_session_redis_cleanup_hbio;
        cln->data = NULL;

        ngx_ssl_session_redis_hbio_users++;
        rmcf->hbio = 1;
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
                      "\"ssl_session_redis_tickets\" has no effect for "
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


/*
 * One ring per Redis, prefix, fleet key and period, whatever servers use
 * it: OpenSSL decrypts a ticket with the callback of the listener's
 * default server, but encrypts with that of the server SNI chose, so the
 * servers of a listener must share their keys.
 */

static ngx_int_t
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


static ngx_int_t
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


static void
ngx_ssl_session_redis_info_callback(const ngx_ssl_conn_t *ssl_conn,
    int where, int ret)
{
    ngx_ssl_session_redis_ctx_t   *ctxd;
    ngx_ssl_session_redis_conn_t  *cs;
    void                         (*info)(const ngx_ssl_conn_t *, int, int);

    ctxd = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl_conn),
                               ngx_ssl_session_redis_ctx_index);
    cs = SSL_get_ex_data(ssl_conn, ngx_ssl_session_redis_conn_index);

    info = NULL;

    if (ctxd != NULL) {
        info = ctxd->info_callback;

    } else if (cs != NULL) {
        info = cs->info_callback;
    }

    if (info != NULL) {
        info(ssl_conn, where, ret);
    }

    if ((where & SSL_CB_HANDSHAKE_START) && cs == NULL
        && SSL_is_server((ngx_ssl_conn_t *) ssl_conn))
    {
        ngx_ssl_session_redis_start((ngx_ssl_conn_t *) ssl_conn, info);
        return;
    }

    if (cs == NULL || cs->bio == NULL) {
        return;
    }

    if (where & SSL_CB_HANDSHAKE_DONE) {
        cs->state = NGX_SSL_SESSION_REDIS_DONE;
    }

    /*
     * Between two reads of OpenSSL's: once the ClientHello is decided
     * and all it came with taken, the socket BIO reads again.
     */

    if (cs->state == NGX_SSL_SESSION_REDIS_DONE
        && cs->hb->pos == cs->hb->len)
    {
        ngx_ssl_session_redis_hbio_restore(cs);
    }
}


/*
 * The first handshake event of a server connection: no byte has been
 * read yet and the read BIO is nginx's socket BIO.  The hello BIO takes
 * its place.
 *
 * Never on a QUIC connection: there nginx hands OpenSSL the CRYPTO frames
 * itself (SSL_provide_quic_data(): a memory BIO with its OpenSSL
 * compatibility layer, no BIO at all with a QUIC TLS API), calls
 * SSL_do_handshake() again only when more of them arrive, and fails the
 * connection on anything but SSL_ERROR_WANT_READ.  A ClientHello held
 * back would stall the handshake, so QUIC lookups never wait: OpenSSL
 * asks the binding, which has the first level (ssl_session_cache) only,
 * and QUIC resumes across nodes through fleet tickets.
 */

static void
ngx_ssl_session_redis_start(ngx_ssl_conn_t *ssl_conn,
    void (*info)(const ngx_ssl_conn_t *, int, int))
{
    BIO                           *rbio, *hbio;
    ngx_connection_t              *c;
    ngx_pool_cleanup_t            *cln;
    ngx_ssl_session_redis_ctx_t   *sctxd;
    ngx_ssl_session_redis_conn_t  *cs;

    c = ngx_ssl_get_connection(ssl_conn);
    if (c == NULL || c->ssl == NULL || c->pool == NULL
        || c->type == SOCK_DGRAM)
    {
        return;
    }

    sctxd = SSL_CTX_get_ex_data(c->ssl->session_ctx,
                                ngx_ssl_session_redis_ctx_index);
    if (sctxd == NULL || sctxd->binding == NULL) {
        return;
    }

    rbio = SSL_get_rbio(ssl_conn);
    if (rbio == NULL || BIO_method_type(rbio) != BIO_TYPE_SOCKET
        || BIO_get_callback_ex(rbio) != NULL
        || BIO_get_callback(rbio) != NULL
        || BIO_next(rbio) != NULL
        || ngx_ssl_session_redis_hbio_method == NULL)
    {
        return;
    }

    cs = ngx_pcalloc(c->pool, sizeof(ngx_ssl_session_redis_conn_t));
    if (cs == NULL) {
        return;
    }

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        return;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_conn;
    cln->data = cs;

    cs->connection = c;
    cs->ctx = sctxd;
    cs->info_callback = info;

    hbio = ngx_ssl_session_redis_hbio_new(cs, rbio);
    if (hbio == NULL) {
        return;
    }

    if (SSL_set_ex_data(ssl_conn, ngx_ssl_session_redis_conn_index, cs)
        == 0)
    {
        ERR_clear_error();
        BIO_free(hbio);
        return;
    }

    cs->ssl_conn = ssl_conn;

    /* drops the read side's reference to the socket BIO; hbio has one */
    SSL_set0_rbio(ssl_conn, hbio);
    cs->bio = hbio;
}


static BIO *
ngx_ssl_session_redis_hbio_new(ngx_ssl_session_redis_conn_t *cs, BIO *sock)
{
    BIO                           *b;
    ngx_ssl_session_redis_hbio_t  *hb;

    hb = ngx_calloc(sizeof(ngx_ssl_session_redis_hbio_t),
                    cs->connection->log);
    if (hb == NULL) {
        return NULL;
    }

    b = BIO_new(ngx_ssl_session_redis_hbio_method);
    if (b == NULL || !BIO_up_ref(sock)) {
        ERR_clear_error();
        BIO_free(b);
        ngx_free(hb);
        return NULL;
    }

    hb->sock = sock;
    hb->cs = cs;
    cs->hb = hb;

    BIO_set_data(b, hb);
    BIO_set_init(b, 1);

    return b;
}


/*
 * OpenSSL reads a record's header and then its body; both come from
 * what the ClientHello's one read brought.  Afterwards, or when there
 * is no ClientHello to look at, reads go to the socket BIO.
 */

static int
ngx_ssl_session_redis_hbio_read(BIO *b, char *out, int outl)
{
    int                            n;
    ngx_ssl_session_redis_hbio_t  *hb;

    hb = BIO_get_data(b);

    BIO_clear_retry_flags(b);

    if (hb == NULL || out == NULL || outl <= 0) {
        return 0;
    }

    if (hb->cs != NULL) {

        switch (hb->cs->state) {

        case NGX_SSL_SESSION_REDIS_WAIT:
            /* spurious wakeups happen: keep OpenSSL waiting for Redis */
            BIO_set_retry_read(b);
            return -1;

        case NGX_SSL_SESSION_REDIS_HELLO:

            switch (ngx_ssl_session_redis_hello(hb->cs, hb)) {

            case NGX_OK:
                break;

            case NGX_AGAIN:
                BIO_set_retry_read(b);
                return -1;

            default:
                return -1;
            }
        }
    }

    if (hb->pos < hb->len) {
        n = ngx_min((size_t) outl, hb->len - hb->pos);

        ngx_memcpy(out, hb->buf + hb->pos, n);
        hb->pos += n;

        if (hb->pos == hb->len) {
            ngx_explicit_memzero(hb->buf, hb->len);
            ngx_free(hb->buf);
            hb->buf = NULL;
            hb->len = 0;
            hb->pos = 0;
            hb->size = 0;
        }

        return n;
    }

    if (hb->sock == NULL) {
        return 0;
    }

    n = BIO_read(hb->sock, out, outl);

    if (n <= 0) {
        BIO_set_flags(b, BIO_get_retry_flags(hb->sock));
    }

    return n;
}


/* the write BIO is nginx's socket BIO: this one is never written to */

static int
ngx_ssl_session_redis_hbio_write(BIO *b, const char *in, int inl)
{
    int                            n;
    ngx_ssl_session_redis_hbio_t  *hb;

    hb = BIO_get_data(b);

    BIO_clear_retry_flags(b);

    if (hb == NULL || hb->sock == NULL) {
        return -1;
    }

    n = BIO_write(hb->sock, in, inl);

    if (n <= 0) {
        BIO_set_flags(b, BIO_get_retry_flags(hb->sock));
    }

    return n;
}


/*
 * What OpenSSL asks of a read BIO: its descriptor, the end of file, the
 * bytes held.  Not kernel TLS: it would read past this BIO.
 */

static long
ngx_ssl_session_redis_hbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    ngx_ssl_session_redis_hbio_t  *hb;

    hb = BIO_get_data(b);

    if (hb == NULL || hb->sock == NULL) {
        return 0;
    }

    switch (cmd) {

    case BIO_C_GET_FD:
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_WPENDING:
        return BIO_ctrl(hb->sock, cmd, num, ptr);

    case BIO_CTRL_EOF:
        return (hb->pos < hb->len) ? 0 : BIO_ctrl(hb->sock, cmd, num, ptr);

    case BIO_CTRL_PENDING:
        return (long) (hb->len - hb->pos)
               + BIO_ctrl(hb->sock, cmd, num, ptr);

    default:
        return 0;
    }
}


static int
ngx_ssl_session_redis_hbio_destroy(BIO *b)
{
    ngx_ssl_session_redis_hbio_t  *hb;

    hb = BIO_get_data(b);
    if (hb == NULL) {
        return 1;
    }

    if (hb->buf != NULL) {
        ngx_explicit_memzero(hb->buf, hb->len);
        ngx_free(hb->buf);
    }

    if (hb->cs != NULL) {
        hb->cs->bio = NULL;
        hb->cs->hb = NULL;
    }

    BIO_free(hb->sock);
    ngx_free(hb);

    BIO_set_data(b, NULL);
    BIO_set_init(b, 0);

    return 1;
}


static void
ngx_ssl_session_redis_cleanup_hbio(void *data)
{
    if (--ngx_ssl_session_redis_hbio_users == 0) {
        BIO_meth_free(ngx_ssl_session_redis_hbio_method);
        ngx_ssl_session_redis_hbio_method = NULL;
    }
}


/* the socket BIO back as the read BIO; frees the hello BIO */

static void
ngx_ssl_session_redis_hbio_restore(ngx_ssl_session_redis_conn_t *cs)
{
    BIO  *sock;

    sock = cs->hb->sock;
    cs->hb->sock = NULL;

    /* hands the reference over */
    SSL_set0_rbio(cs->connection->ssl->connection, sock);
}


/*
 * Appends "n" bytes to what the hello BIO keeps.  The buffer doubles as
 * it grows, so that a ClientHello arriving a byte at a time is copied a
 * bounded number of times, not once per piece.
 */

static ngx_int_t
ngx_ssl_session_redis_hbio_append(ngx_ssl_session_redis_hbio_t *hb,
    u_char *in, size_t n, ngx_log_t *log)
{
    size_t   size;
    u_char  *p;

    if (hb->len + n > hb->size) {
        size = ngx_max(2 * hb->size, hb->len + n);
        size = ngx_min(size, (size_t) TSR_HELLO_MAX_PEEK);

        if (hb->len + n > size) {
            return NGX_ERROR;
        }

        p = ngx_alloc(size, log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (hb->buf != NULL) {
            ngx_memcpy(p, hb->buf, hb->len);
            hb->copied += hb->len;

            ngx_explicit_memzero(hb->buf, hb->len);
            ngx_free(hb->buf);
        }

        hb->buf = p;
        hb->size = size;
    }

    ngx_memcpy(hb->buf + hb->len, in, n);
    hb->copied += n;
    hb->len += n;

    return NGX_OK;
}


/*
 * Whether the parser can decide on what is kept: the records that came
 * complete hold the whole handshake message, or something it refuses,
 * or the most it looks at is in.  Each record header is looked at once:
 * a ClientHello in many small records or pieces costs linear time, and
 * the parser runs once for it.
 */

static ngx_uint_t
ngx_ssl_session_redis_hello_ready(ngx_ssl_session_redis_hbio_t *hb)
{
    size_t   rlen, n, total;
    u_char  *r;

    if (hb->len >= TSR_HELLO_MAX_PEEK) {
        return 1;
    }

    while (hb->len - hb->scan >= 5) {
        r = hb->buf + hb->scan;

        /* not a handshake record (or SSLv2): the parser says so */

        if (r[0] != 22 || r[1] != 3) {
            return 1;
        }

        rlen = ((size_t) r[3] << 8) | r[4];

        if (rlen == 0 || hb->scan + 5 + rlen > TSR_HELLO_MAX_PEEK) {
            return 1;
        }

        if (hb->len - hb->scan - 5 < rlen) {
            return 0;
        }

        for (n = 0; n < rlen && hb->hdr_len < 4; n++) {
            hb->hdr[hb->hdr_len++] = r[5 + n];
        }

        hb->body += rlen;
        hb->scan += 5 + rlen;

        if (hb->hdr_len == 4) {
            total = 4 + (((size_t) hb->hdr[1] << 16)
                         | ((size_t) hb->hdr[2] << 8) | hb->hdr[3]);

            if (hb->body >= total) {
                return 1;
            }
        }
    }

    /* an early byte the parser refuses */

    if (hb->len > hb->scan
        && (hb->buf[hb->scan] != 22
            || (hb->len - hb->scan > 1 && hb->buf[hb->scan + 1] != 3)))
    {
        return 1;
    }

    return 0;
}


/*
 * The one read of the ClientHello, added to what an earlier read of a
 * partial one kept.  NGX_AGAIN: OpenSSL waits (for more of it, or for
 * Redis); NGX_OK: the bytes go to OpenSSL, decided.
 */

static ngx_int_t
ngx_ssl_session_redis_hello(ngx_ssl_session_redis_conn_t *cs,
    ngx_ssl_session_redis_hbio_t *hb)
{
    int                             keylen, rc;
    ssize_t                         n;
    ngx_err_t                       err;
    tsr_req_t                      *req;
    tsr_hello_t                     hello;
    SSL_SESSION                    *sess;
    ngx_connection_t               *c;
    ngx_ssl_conn_t                 *ssl_conn;
    ngx_ssl_session_redis_ctx_t    *ctxd;
    ngx_ssl_session_redis_store_t  *rs;

    static u_char                   buf[TSR_HELLO_MAX_PEEK];

    c = cs->connection;
    ssl_conn = c->ssl->connection;
    ctxd = cs->ctx;

    /* a partial ClientHello may be kept from before: hb->pos is 0 */

    n = recv(c->fd, buf, TSR_HELLO_MAX_PEEK - hb->len, 0);

    if (n == -1) {
        err = ngx_socket_errno;

        if (err == NGX_EAGAIN || err == NGX_EINTR) {
            /*
             * Nothing yet (stream starts the handshake right after
             * accept): wait for the ClientHello's edge.
             */
            return NGX_AGAIN;
        }

        /* the socket BIO reads the error again, after what was kept */
        cs->state = NGX_SSL_SESSION_REDIS_DONE;
        return NGX_OK;
    }

    if (n == 0) {
        cs->state = NGX_SSL_SESSION_REDIS_DONE;
        return NGX_OK;
    }

    hb->reads++;

    rc = ngx_ssl_session_redis_hbio_append(hb, buf, n, c->log);

    ngx_explicit_memzero(buf, n);

    if (rc != NGX_OK) {
        /* the bytes are read: without them, no handshake */
        cs->state = NGX_SSL_SESSION_REDIS_DONE;
        return NGX_ERROR;
    }

    if (!ngx_ssl_session_redis_hello_ready(hb)) {
        /* a partial ClientHello: the rest comes with the next edge */
        return NGX_AGAIN;
    }

    rc = tsr_hello_parse(hb->buf, hb->len, ngx_ssl_session_redis_hello_flags(
                                               ssl_conn), &hello);

    cs->ticket = hello.ticket;

    if (rc == TSR_AGAIN && hb->len < TSR_HELLO_MAX_PEEK) {
        return NGX_AGAIN;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "ssl_session_redis: ClientHello of %uz bytes in %ui "
                   "reads, %uz bytes copied", hb->len, hb->reads, hb->copied);

    cs->state = NGX_SSL_SESSION_REDIS_DONE;

    if (rc != TSR_OK || !hello.lookup) {
        goto count;
    }

    cs->id_len = hello.id_len;
    ngx_memcpy(cs->id, hello.id, hello.id_len);
    cs->server_name_len = hello.server_name_len;
    ngx_memcpy(cs->server_name, hello.server_name, hello.server_name_len);

    /* single use: nginx's cache is not consulted (the binding skips it) */

    sess = tsr_ssl_cached_session(ctxd->binding, ssl_conn, cs->id,
                                  cs->id_len);
    if (sess != NULL) {
        if (ngx_ssl_session_redis_accept(cs, sess) == NGX_OK) {
            cs->outcome = NGX_SSL_SESSION_REDIS_L1;
        }

        SSL_SESSION_free(sess);
        goto count;
    }

    /* not in the first level: until Redis says otherwise, no session */

    (void) ngx_ssl_session_redis_decide(cs, NULL);

    keylen = tsr_ssl_session_key(ctxd->binding, cs->id, cs->id_len,
                                 (char *) cs->key, sizeof(cs->key));
    if (keylen < 0) {
        cs->outcome = NGX_SSL_SESSION_REDIS_ERROR;
        goto count;
    }

    cs->key_len = keylen;

    rs = ctxd->conf->store;

    req = tsr_store_get_async(rs->store, (char *) cs->key, cs->key_len,
                              ctxd->conf->single_use, ctxd->conf->timeout,
                              ngx_ssl_session_redis_lookup_done, cs);
    if (req == NULL) {
        cs->outcome = NGX_SSL_SESSION_REDIS_SKIPPED;
        goto count;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "ssl_session_redis: lookup of a %uz-byte session id, "
                   "%M ms deadline", cs->id_len, ctxd->conf->timeout);

    cs->req = req;
    cs->state = NGX_SSL_SESSION_REDIS_WAIT;
    cs->started = ngx_current_msec;

    return NGX_AGAIN;

count:

    ctxd->outcome[cs->outcome]++;

    return NGX_OK;
}


static unsigned
ngx_ssl_session_redis_hello_flags(ngx_ssl_conn_t *ssl_conn)
{
    long      min, max;
    unsigned  flags;
    uint64_t  opts;

    opts = SSL_get_options(ssl_conn);
    min = SSL_get_min_proto_version(ssl_conn);
    max = SSL_get_max_proto_version(ssl_conn);

    flags = 0;

    if (!(opts & SSL_OP_NO_TICKET)) {
        flags |= TSR_HELLO_TICKETS;
    }

    if ((max == 0 || max >= TLS1_3_VERSION)
        && !(opts & SSL_OP_NO_TLSv1_3))
    {
        flags |= TSR_HELLO_TLS13;
    }

    if ((min == 0 || min <= TLS1_2_VERSION)
        && (max == 0 || max >= TLS1_2_VERSION)
        && !(opts & SSL_OP_NO_TLSv1_2))
    {
        flags |= TSR_HELLO_TLS12;
    }

    return flags;
}


/*
 * Stricter than nginx: a session is resumed only under the server name
 * it was made for (RFC 6066, section 3), compared case-insensitively;
 * OpenSSL itself checks the session id context, version and lifetime.
 */

static ngx_int_t
ngx_ssl_session_redis_accept(ngx_ssl_session_redis_conn_t *cs,
    SSL_SESSION *sess)
{
    size_t       len;
    const char  *name;

    name = SSL_SESSION_get0_hostname(sess);
    len = (name != NULL) ? ngx_strlen(name) : 0;

    if (len != cs->server_name_len
        || (len != 0
            && ngx_strncasecmp((u_char *) name, cs->server_name, len) != 0))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, cs->connection->log, 0,
                       "ssl_session_redis: session made for another "
                       "server name, not resumed");
        cs->outcome = NGX_SSL_SESSION_REDIS_MISS;
        ngx_ssl_session_redis_decide(cs, NULL);
        return NGX_DECLINED;
    }

    if (ngx_ssl_session_redis_decide(cs, sess) != NGX_OK) {
        cs->outcome = NGX_SSL_SESSION_REDIS_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The lookup's verdict for the id, a session or none, goes to the
 * connection's slot: OpenSSL's get-session callback takes it from there
 * and asks neither nginx's cache nor Redis again.
 */

static ngx_int_t
ngx_ssl_session_redis_decide(ngx_ssl_session_redis_conn_t *cs,
    SSL_SESSION *sess)
{
    if (tsr_ssl_set_session(cs->connection->ssl->connection, cs->id,
                            cs->id_len, sess)
        != TSR_OK)
    {
        (void) tsr_ssl_set_session(cs->connection->ssl->connection, cs->id,
                                   cs->id_len, NULL);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_ssl_session_redis_lookup_done(int rc, const uint8_t *val, size_t len,
    void *arg)
{
    ngx_ssl_session_redis_conn_t  *cs = arg;

    int                            orc;
    SSL_SESSION                   *sess;
    ngx_connection_t              *c;

    c = cs->connection;

    cs->req = NULL;
    cs->state = NGX_SSL_SESSION_REDIS_DONE;

    switch (rc) {

    case TSR_OK:
        sess = tsr_ssl_session_open(cs->ctx->binding, (char *) cs->key,
                                    cs->key_len, val, len, &orc);
        if (sess == NULL) {
            cs->outcome = NGX_SSL_SESSION_REDIS_ERROR;
            break;
        }

        if (ngx_ssl_session_redis_accept(cs, sess) == NGX_OK) {
            cs->outcome = NGX_SSL_SESSION_REDIS_HIT;

            /* warm the local first level, if there is one */
            tsr_ssl_cache_session(cs->ctx->binding,
                                  c->ssl->connection, sess);
        }

        SSL_SESSION_free(sess);
        break;

    case TSR_NOT_FOUND:

        /*
         * Redis runs what its clients sent in one event loop turn in the
         * order of their sockets, not of arrival: a client quick to offer
         * its new session to another node may have that node's GET run
         * just before the issuing node's SET.  Asked once more, Redis has
         * run the SET.  Only misses pay, with one more round trip.
         */

        if (!cs->retried
            && ngx_current_msec - cs->started < cs->ctx->conf->timeout)
        {
            cs->retried = 1;

            cs->req = tsr_store_get_async(cs->ctx->conf->store->store,
                                     (char *) cs->key, cs->key_len,
                                     cs->ctx->conf->single_use,
                                     cs->ctx->conf->timeout
                                     - (ngx_current_msec - cs->started),
                                     ngx_ssl_session_redis_lookup_done, cs);
            if (cs->req != NULL) {
                cs->state = NGX_SSL_SESSION_REDIS_WAIT;
                return;
            }
        }

        cs->outcome = NGX_SSL_SESSION_REDIS_MISS;
        break;

    case TSR_ETIMEDOUT:
        cs->outcome = NGX_SSL_SESSION_REDIS_TIMEOUT;
        break;

    default:
        cs->outcome = NGX_SSL_SESSION_REDIS_ERROR;
        break;
    }

    cs->ctx->outcome[cs->outcome]++;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "ssl_session_redis: lookup done: %s after %M ms",
                   tsr_strerror(rc), ngx_current_msec - cs->started);

    /*
     * The ClientHello's edge was spent while the handshake waited: mark
     * the read event ready and post it, so the handshake goes on now.
     */

    c->read->ready = 1;
    ngx_post_event(c->read, &ngx_posted_events);
}


static void
ngx_ssl_session_redis_cleanup_conn(void *data)
{
    ngx_ssl_session_redis_conn_t  *cs = data;

    /* the client went away or timed out while a lookup was in flight */

    if (cs->req != NULL) {
        tsr_store_cancel(cs->req);
        cs->req = NULL;
    }

    /* the SSL, and with it the hello BIO, may go later */

    if (cs->hb != NULL) {
        cs->hb->cs = NULL;
        cs->hb = NULL;
        cs->bio = NULL;
    }

    /* nor may the SSL point into the pool any longer */

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cs->connection->log, 0,
                   "ssl_session_redis: connection released, ssl %s",
                   cs->ssl_conn != NULL ? "live, ex_data cleared" : "gone");

    if (cs->ssl_conn != NULL) {
        (void) SSL_set_ex_data(cs->ssl_conn,
                               ngx_ssl_session_redis_conn_index, NULL);
        cs->ssl_conn = NULL;
    }
}


/*
 * The SSL goes first (its ex_data still points to the connection's
 * state): the pool cleanup must not touch it afterwards.
 */

static void
ngx_ssl_session_redis_free_conn(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp)
{
    ngx_ssl_session_redis_conn_t  *cs = ptr;

    if (cs != NULL) {
        cs->ssl_conn = NULL;
    }
}


/* the store's event loop, on nginx's */

static int
ngx_ssl_session_redis_loop_watch(void *data, int fd, int readable,
    int writable)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    ngx_queue_t       *q;
    ngx_connection_t  *c;

    /*
     * A store may watch several sockets at once (Redis Cluster: one per
     * master; Sentinel: the master and a sentinel).  Their connections
     * form a ring through c->queue, which nginx uses for reusable
     * connections only; rs->conn is any one of them.
     */

    c = NULL;

    if (rs->conn != NULL) {
        q = &rs->conn->queue;

        do {
            c = ngx_queue_data(q, ngx_connection_t, queue);

            if (c->fd == fd) {
                break;
            }

            c = NULL;
            q = ngx_queue_next(q);

        } while (q != &rs->conn->queue);
    }

    if (c == NULL) {
        c = ngx_get_connection(fd, rs->log);
        if (c == NULL) {
            return -1;
        }

        c->data = rs;
        c->read->handler = ngx_ssl_session_redis_read_handler;
        c->write->handler = ngx_ssl_session_redis_write_handler;
        c->read->log = rs->log;
        c->write->log = rs->log;

        if (rs->conn == NULL) {
            ngx_queue_init(&c->queue);
            rs->conn = c;

        } else {
            ngx_queue_insert_tail(&rs->conn->queue, &c->queue);
        }
    }

    /*
     * With epoll the socket is registered once, both ways, edge-triggered,
     * as nginx registers its own connections: no epoll_ctl() per command.
     * A write edge with nothing to write costs hiredis a look at an empty
     * buffer.  A write that meets a full socket is not posted again: the
     * store ignores hiredis' request to write from inside a write, and the
     * rest waits for the socket's next write edge.
     */

    if (ngx_event_flags & NGX_USE_EPOLL_EVENT) {
        if (!c->read->active && ngx_add_conn(c) != NGX_OK) {
            return -1;
        }

        if (writable) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return 0;
    }

    if (readable && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!readable && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if (writable) {
        if (!c->write->active) {
            if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
                != NGX_OK)
            {
                return -1;
            }
        }

        /* flush what was queued now: the write edge may be spent */
        ngx_post_event(c->write, &ngx_posted_events);

    } else if (c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


static void
ngx_ssl_session_redis_loop_unwatch(void *data, int fd)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    ngx_queue_t       *q;
    ngx_connection_t  *c;

    c = NULL;

    if (rs->conn != NULL) {
        q = &rs->conn->queue;

        do {
            c = ngx_queue_data(q, ngx_connection_t, queue);

            if (c->fd == fd) {
                break;
            }

            c = NULL;
            q = ngx_queue_next(q);

        } while (q != &rs->conn->queue);
    }

    if (c == NULL) {
        return;
    }

    /* the store closes the socket right after: epoll forgets it then */

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    q = ngx_queue_next(&c->queue);

    if (q == &c->queue) {
        rs->conn = NULL;

    } else {
        rs->conn = ngx_queue_data(q, ngx_connection_t, queue);
        ngx_queue_remove(&c->queue);
    }

    /* stale events of this batch are recognized by the -1 */
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_ssl_session_redis_loop_timer(void *data, uint64_t ms)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    if (ms == 0) {
        if (rs->timer.timer_set) {
            ngx_del_timer(&rs->timer);
        }

        return;
    }

    /*
     * ngx_add_timer() keeps an armed timer when the new time is within
     * 300 ms of the old one: a deadline moved earlier must not fire late.
     */

    if (rs->timer.timer_set) {
        ngx_del_timer(&rs->timer);
    }

    ngx_add_timer(&rs->timer, (ngx_msec_t) ms);
}


static uint64_t
ngx_ssl_session_redis_loop_now(void *data)
{
    return ngx_current_msec;
}


/*
 * The store's resolver: nginx's, as "server ... resolve" in an upstream
 * uses it.  One resolution in flight per store; "done" runs from inside
 * ngx_resolve_name() when the answer is cached, and then resolve()
 * returns NULL, as the core expects.
 */

static void *
ngx_ssl_session_redis_loop_resolve(void *data, const char *host,
    tsr_loop_resolved_pt done, void *arg)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    size_t                             len;
    ngx_resolver_ctx_t                *ctx;
    ngx_ssl_session_redis_resolve_t   *rr;

    len = ngx_strlen(host);

    rr = ngx_alloc(sizeof(ngx_ssl_session_redis_resolve_t) + len + 1,
                   rs->log);
    if (rr == NULL) {
        done(NULL, "out of memory", arg);
        return NULL;
    }

    ngx_memzero(rr, sizeof(ngx_ssl_session_redis_resolve_t));
    rr->name.data = (u_char *) (rr + 1);
    rr->name.len = len;
    ngx_memcpy(rr->name.data, host, len + 1);
    rr->done = done;
    rr->arg = arg;

    ctx = ngx_resolve_start(rs->resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_free(rr);
        done(NULL, "ngx_resolve_start() failed", arg);
        return NULL;
    }

    ctx->name = rr->name;
    ctx->handler = ngx_ssl_session_redis_resolve_handler;
    ctx->data = rr;
    ctx->timeout = rs->resolver_timeout;

    rr->ctx = ctx;
    rr->starting = 1;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* nginx has freed "ctx" */
        ngx_free(rr);
        done(NULL, "ngx_resolve_name() failed", arg);
        return NULL;
    }

    rr->starting = 0;

    if (rr->ctx != NULL) {
        return rr;
    }

    /* answered from the cache, inside ngx_resolve_name() */

    done(rr->answered ? rr->ip : NULL, rr->err, arg);
    ngx_free(rr);

    return NULL;
}


static void
ngx_ssl_session_redis_loop_resolve_cancel(void *data, void *handle)
{
    ngx_ssl_session_redis_resolve_t  *rr = handle;

    if (rr == NULL) {
        return;
    }

    if (rr->ctx != NULL) {
        ngx_resolve_name_done(rr->ctx);
    }

    ngx_free(rr);
}


static void
ngx_ssl_session_redis_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_ssl_session_redis_resolve_t  *rr = ctx->data;

    size_t  len;

    if (ctx->state == NGX_OK && ctx->naddrs > 0) {
        len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                            (u_char *) rr->ip, sizeof(rr->ip) - 1, 0);
        rr->ip[len] = '\0';
        rr->answered = (len > 0);
        rr->err = "no address";

    } else if (ctx->state == NGX_OK) {
        rr->err = "no address";

    } else {
        rr->err = ngx_resolver_strerror(ctx->state);
    }

    ngx_resolve_name_done(ctx);
    rr->ctx = NULL;

    if (rr->starting) {
        return;
    }

    rr->done(rr->answered ? rr->ip : NULL, rr->err, rr->arg);
    ngx_free(rr);
}


static void
ngx_ssl_session_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_ssl_session_redis_store_t  *rs = c->data;

    tsr_store_on_read_fd(rs->store, c->fd);
}


static void
ngx_ssl_session_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_ssl_session_redis_store_t  *rs = c->data;

    tsr_store_on_write_fd(rs->store, c->fd);
}


static void
ngx_ssl_session_redis_timer_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_store_t  *rs;

    rs = (ngx_ssl_session_redis_store_t *)
             ((u_char *) ev - offsetof(ngx_ssl_session_redis_store_t, timer));

    tsr_store_on_timer(rs->store);
}


ngx_int_t
ngx_ssl_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    ngx_uint_t                         i;
    tsr_loop_t                         loop;
    tsr_store_async_conf_t             aconf;
    ngx_ssl_session_redis_store_t    **rsp, *rs;
    ngx_ssl_session_redis_tickets_t  **tkp, *tk;

    if (rmcf == NULL) {
        return NGX_OK;
    }

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        rs = rsp[i];

        rs->log = cycle->log;

        /* nginx's debug log names a timer's connection: give it one */
        rs->timer.data = &ngx_ssl_session_redis_dumb;
        rs->timer.handler = ngx_ssl_session_redis_timer_handler;
        rs->timer.log = cycle->log;
        rs->timer.cancelable = 1;

        ngx_memzero(&loop, sizeof(tsr_loop_t));
        loop.data = rs;
        loop.watch = ngx_ssl_session_redis_loop_watch;
        loop.unwatch = ngx_ssl_session_redis_loop_unwatch;
        loop.timer = ngx_ssl_session_redis_loop_timer;
        loop.now = ngx_ssl_session_redis_loop_now;

        if (rs->resolver != NULL) {
            loop.resolve = ngx_ssl_session_redis_loop_resolve;
            loop.resolve_cancel = ngx_ssl_session_redis_loop_resolve_cancel;
        }

        ngx_memzero(&aconf, sizeof(tsr_store_async_conf_t));

        /*
         * Not fatal: a worker serves full handshakes while Redis is
         * away, and the store keeps trying to connect.
         */

        if (tsr_store_set_async(rs->store, &loop, &aconf) != TSR_OK) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "ssl_session_redis \"%V\": %s", &rs->address,
                          tsr_store_error(rs->store));
        }
    }

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        tk = tkp[i];

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

    if (rmcf->zone != NULL) {
        rmcf->publish.data = &ngx_ssl_session_redis_dumb;
        rmcf->publish.handler = ngx_ssl_session_redis_publish_handler;
        rmcf->publish.log = cycle->log;
        rmcf->publish.cancelable = 1;

        ngx_add_timer(&rmcf->publish, 1000);
    }

    if (ngx_worker == 0 && rmcf->ctxs.nelts > 0) {
        rmcf->announce.data = &ngx_ssl_session_redis_dumb;
        rmcf->announce.handler = ngx_ssl_session_redis_announce_handler;
        rmcf->announce.log = cycle->log;
        rmcf->announce.cancelable = 1;

        /* once connected: the first write would be dropped before */
        ngx_add_timer(&rmcf->announce, 1000);
    }

    return NGX_OK;
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


/* the first 16 hex digits of SHA-256(sid_ctx), as in the Redis keys */

static ngx_int_t
ngx_ssl_session_redis_fingerprint(const u_char *sid_ctx, size_t len,
    u_char *fp)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    if (SHA256(sid_ctx, len, md) == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    ngx_hex_dump(fp, md, 8);
    fp[16] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_ssl_session_redis_setup_done(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf, char *zone, void *tag)
{
    size_t                         size;
    uint32_t                       crc;
    SSL_CTX                      **ctxp;
    ngx_str_t                      name;
    ngx_uint_t                     i;
    ngx_ssl_session_redis_ctx_t   *ctxd;
    size_t                         layout[4];

    if (ngx_ssl_session_redis_setup_tickets(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rmcf->ctxs.nelts == 0) {
        return NGX_OK;
    }

    /*
     * The zone, and with it the totals, is kept across a reload while
     * the servers stay the same, in the same order: its name carries
     * their hash.  Other servers mean other series, in a new zone; so
     * does another layout (a reload into a newer module).
     */

    ngx_crc32_init(crc);

    layout[0] = sizeof(ngx_ssl_session_redis_worker_stats_t);
    layout[1] = sizeof(ngx_ssl_session_redis_server_stats_t);
    layout[2] = sizeof(ngx_ssl_session_redis_gauges_t);
    layout[3] = sizeof(ngx_ssl_session_redis_shm_t);
    ngx_crc32_update(&crc, (u_char *) layout, sizeof(layout));

    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < rmcf->ctxs.nelts; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        ngx_crc32_update(&crc, ctxd->name.data, ctxd->name.len);

        /* a separator: names are not NUL-terminated */
        ngx_crc32_update(&crc, (u_char *) "\n", 1);
    }

    ngx_crc32_final(crc);

    name.len = ngx_strlen(zone) + 1 + 8;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_sprintf(name.data, "%s:%08xD", zone, crc);

    size = ngx_ssl_session_redis_zone_size(rmcf->ctxs.nelts);

    /* room for the slab pool's own pages */
    size = ngx_align(size, ngx_pagesize) + 8 * ngx_pagesize;

    rmcf->zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (rmcf->zone == NULL) {
        return NGX_ERROR;
    }

    rmcf->zone->init = ngx_ssl_session_redis_init_zone;
    rmcf->zone->data = rmcf;

    return NGX_OK;
}


static size_t
ngx_ssl_session_redis_slot_size(ngx_uint_t nservers)
{
    return ngx_align(sizeof(ngx_ssl_session_redis_worker_stats_t)
                     + nservers
                       * sizeof(ngx_ssl_session_redis_server_stats_t), 8);
}


static size_t
ngx_ssl_session_redis_zone_size(ngx_uint_t nservers)
{
    return sizeof(ngx_ssl_session_redis_shm_t)
           + nservers * NGX_SSL_SESSION_REDIS_NAME_LEN
           + ngx_ssl_session_redis_slot_size(nservers)
           + NGX_SSL_SESSION_REDIS_SLOTS
             * sizeof(ngx_ssl_session_redis_gauges_t);
}


/*
 * The zone holds the server names (so that the other subsystem's status
 * handler can read them), the totals and the gauge slots.  A zone kept
 * across a reload (same name: the same servers) is kept as it is: the
 * old workers still add to it while they finish, the new ones go on
 * from there.
 */

static ngx_int_t
ngx_ssl_session_redis_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf = zone->data;

    u_char                        *names;
    size_t                         size, skip;
    SSL_CTX                      **ctxp;
    ngx_msec_t                     timeout;
    ngx_uint_t                     i, n;
    ngx_slab_pool_t               *shpool;
    ngx_ssl_session_redis_shm_t   *shm;
    ngx_ssl_session_redis_ctx_t   *ctxd;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    n = rmcf->ctxs.nelts;

    timeout = 0;
    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < n; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        timeout = ngx_max(timeout, ctxd->conf->timeout);
    }

    shm = data;

    if (shm != NULL && shm->nservers == n) {
        shm->timeout = timeout;
        zone->data = shm;
        return NGX_OK;
    }

    size = ngx_ssl_session_redis_zone_size(n);

    shm = ngx_slab_calloc(shpool, size);
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm;
    shm->nservers = n;
    shm->timeout = timeout;

    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);

    for (i = 0; i < n; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);

        /*
         * a name that does not fit keeps its end: a stream block's
         * "<file>:<line>" is told apart by its line, not by its directory
         */
        skip = 0;

        if (ctxd->name.len >= NGX_SSL_SESSION_REDIS_NAME_LEN) {
            skip = ctxd->name.len - (NGX_SSL_SESSION_REDIS_NAME_LEN - 1);
        }

        ngx_cpystrn(names + i * NGX_SSL_SESSION_REDIS_NAME_LEN,
                    ctxd->name.data + skip,
                    ctxd->name.len - skip + 1);
    }

    zone->data = shm;

    return NGX_OK;
}


static void
ngx_ssl_session_redis_publish(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                                *slot, *names;
    size_t                                 k, size;
    uint64_t                              *tot, *cur, *last;
    SSL_CTX                              **ctxp;
    ngx_uint_t                             i, state, warn;
    ngx_slab_pool_t                       *shpool;
    ngx_ssl_session_redis_gauges_t        *g;
    tsr_store_stats_t                      ss;
    tsr_tickets_info_t                     ti;
    tsr_tickets_stats_t                    ts;
    ngx_ssl_session_redis_shm_t           *shm;
    ngx_ssl_session_redis_ctx_t           *ctxd;
    ngx_ssl_session_redis_store_t        **rsp;
    ngx_ssl_session_redis_tickets_t      **tkp;
    ngx_ssl_session_redis_worker_stats_t   w;
    ngx_ssl_session_redis_server_stats_t  *sv;

    if (rmcf->zone == NULL || rmcf->zone->data == NULL) {
        return;
    }

    shm = rmcf->zone->data;
    shpool = (ngx_slab_pool_t *) rmcf->zone->shm.addr;
    size = ngx_ssl_session_redis_slot_size(shm->nservers);

    /* what was added so far, then what there is now */

    if (rmcf->published == NULL) {
        rmcf->published = ngx_calloc(2 * size, ngx_cycle->log);
        if (rmcf->published == NULL) {
            return;
        }
    }

    slot = rmcf->published + size;
    ngx_memzero(slot, size);

    ngx_memzero(&w, sizeof(ngx_ssl_session_redis_worker_stats_t));

    rsp = rmcf->stores.elts;

    for (i = 0; i < rmcf->stores.nelts; i++) {
        if (rsp[i]->store == NULL) {
            continue;
        }

        w.stores++;

        state = tsr_store_state(rsp[i]->store);
        w.up += (state == TSR_STORE_STATE_UP);
        w.connecting += (state == TSR_STORE_STATE_CONNECTING);
        w.breaker_open += (state == TSR_STORE_STATE_BREAKER_OPEN);
        w.inflight += tsr_store_inflight(rsp[i]->store);

        tsr_store_stats(rsp[i]->store, &ss);

        w.store.gets += ss.gets;
        w.store.hits += ss.hits;
        w.store.misses += ss.misses;
        w.store.sets += ss.sets;
        w.store.dels += ss.dels;
        w.store.errors += ss.errors;
        w.store.bad_values += ss.bad_values;
        w.store.connects += ss.connects;
        w.store.refused += ss.refused;
        w.store.dropped += ss.dropped;
        w.store.timeouts += ss.timeouts;
        w.store.breaker_opened += ss.breaker_opened;
        w.store.latency_sum_us += ss.latency_sum_us;
        w.store.commands += ss.commands;
        w.store.writes += ss.writes;
        w.store.replies += ss.replies;
        w.store.reads += ss.reads;

        for (k = 0; k < TSR_STORE_LATENCY_BUCKETS; k++) {
            w.store.latency[k] += ss.latency[k];
        }
    }

    tkp = rmcf->tickets.elts;

    for (i = 0; i < rmcf->tickets.nelts; i++) {
        if (tkp[i]->tickets == NULL) {
            continue;
        }

        tsr_tickets_stats(tkp[i]->tickets, &ts);

        w.tickets.issued += ts.issued;
        w.tickets.not_issued += ts.not_issued;
        w.tickets.decrypted += ts.decrypted;
        w.tickets.renewed += ts.renewed;
        w.tickets.unknown_key += ts.unknown_key;
        w.tickets.loads += ts.loads;
        w.tickets.load_errors += ts.load_errors;

        /* at start and by worker 0's rotations */
        w.tickets.rotations += ts.rotations;

        /* the ring closest to trouble: the oldest, the first to end */

        if (tsr_tickets_info(tkp[i]->tickets, &ti) != TSR_OK) {
            continue;
        }

        w.rings++;

        if (w.rotated_at == 0 || ti.rotated_at_ms < w.rotated_at) {
            w.rotated_at = ti.rotated_at_ms;
        }

        for (k = 0; k < ti.nkeys; k++) {
            if (ti.keys[k].role == TSR_TICKETS_CURRENT
                && (w.encrypt_until == 0
                    || ti.keys[k].encrypt_until_ms < w.encrypt_until))
            {
                w.encrypt_until = ti.keys[k].encrypt_until_ms;
            }
        }
    }

    ngx_memcpy(slot, &w, sizeof(ngx_ssl_session_redis_worker_stats_t));

    sv = (ngx_ssl_session_redis_server_stats_t *)
             (slot + sizeof(ngx_ssl_session_redis_worker_stats_t));
    ctxp = rmcf->ctxs.elts;

    for (i = 0; i < rmcf->ctxs.nelts && i < shm->nservers; i++) {
        ctxd = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        if (ctxd == NULL || ctxd->binding == NULL) {
            continue;
        }

        ngx_memcpy(sv[i].outcome, ctxd->outcome, sizeof(ctxd->outcome));
        tsr_ssl_stats(ctxd->binding, &sv[i].ssl);
    }

    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);
    tot = (uint64_t *) (names + shm->nservers
                                * NGX_SSL_SESSION_REDIS_NAME_LEN);
    g = (ngx_ssl_session_redis_gauges_t *) ((u_char *) tot + size);

    cur = (uint64_t *) slot;
    last = (uint64_t *) rmcf->published;
    warn = 0;

    ngx_shmtx_lock(&shpool->mutex);

    /* gauges as well, unused there: all words are counted alike */

    for (k = 0; k < size / sizeof(uint64_t); k++) {
        tot[k] += cur[k] - last[k];
    }

    if (rmcf->slot == 0 && !rmcf->no_slot) {

        /* its own from before, a free one, or one whose worker is gone */

        for (i = 0; i < NGX_SSL_SESSION_REDIS_SLOTS; i++) {
            if (g[i].pid == ngx_pid) {
                break;
            }
        }

        if (i == NGX_SSL_SESSION_REDIS_SLOTS) {
            for (i = 0; i < NGX_SSL_SESSION_REDIS_SLOTS; i++) {
                if (g[i].pid == 0
                    || (kill(g[i].pid, 0) == -1 && ngx_errno == NGX_ESRCH))
                {
                    break;
                }
            }
        }

        if (i < NGX_SSL_SESSION_REDIS_SLOTS) {
            rmcf->slot = i + 1;
            g[i].pid = ngx_pid;

        } else {
            rmcf->no_slot = 1;
            warn = 1;
        }
    }

    if (rmcf->slot != 0) {
        g += rmcf->slot - 1;
        g->stores = w.stores;
        g->up = w.up;
        g->connecting = w.connecting;
        g->breaker_open = w.breaker_open;
        g->inflight = w.inflight;
        g->rings = w.rings;
        g->rotated_at = w.rotated_at;
        g->encrypt_until = w.encrypt_until;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_memcpy(rmcf->published, slot, size);

    if (warn) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ssl_session_redis: all %d metrics slots are taken: "
                      "the gauges of worker %P are left out (its counters "
                      "are not)", NGX_SSL_SESSION_REDIS_SLOTS, ngx_pid);
    }
}


/*
 * A worker that exits adds what is left to the totals and frees its
 * gauge slot.
 */

static void
ngx_ssl_session_redis_retire(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                          *names;
    ngx_slab_pool_t                 *shpool;
    ngx_ssl_session_redis_shm_t     *shm;
    ngx_ssl_session_redis_gauges_t  *g;

    if (rmcf->zone == NULL || rmcf->zone->data == NULL) {
        return;
    }

    ngx_ssl_session_redis_publish(rmcf);

    shm = rmcf->zone->data;
    shpool = (ngx_slab_pool_t *) rmcf->zone->shm.addr;

    if (rmcf->slot != 0) {
        names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);
        g = (ngx_ssl_session_redis_gauges_t *)
                (names + shm->nservers * NGX_SSL_SESSION_REDIS_NAME_LEN
                 + ngx_ssl_session_redis_slot_size(shm->nservers));

        ngx_shmtx_lock(&shpool->mutex);

        if (g[rmcf->slot - 1].pid == ngx_pid) {
            ngx_memzero(&g[rmcf->slot - 1],
                        sizeof(ngx_ssl_session_redis_gauges_t));
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    rmcf->slot = 0;

    if (rmcf->published != NULL) {
        ngx_free(rmcf->published);
        rmcf->published = NULL;
    }
}


static void
ngx_ssl_session_redis_publish_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_main_conf_t  *rmcf;

    rmcf = (ngx_ssl_session_redis_main_conf_t *)
               ((u_char *) ev
                - offsetof(ngx_ssl_session_redis_main_conf_t, publish));

    ngx_ssl_session_redis_publish(rmcf);

    ngx_add_timer(ev, 1000);
}


/*
 * Fleet registration, read by "tsr-admin fleet": every node says which
 * servers it runs with which session id context, so that a fleet whose
 * nodes silently stopped sharing (other certificates, other client CAs)
 * is told.  Key <prefix>node:<hostname>:<http|stream>, the value in the
 * format of tsr_fleet.h, written every 20 s by worker 0, fire and forget.
 */

static void
ngx_ssl_session_redis_announce(ngx_ssl_session_redis_main_conf_t *rmcf)
{
    u_char                        *k;
    size_t                         n;
    SSL_CTX                      **ctxp;
    ngx_str_t                     *name;
    ngx_uint_t                     i, j, done;
    ngx_ssl_session_redis_ctx_t   *ci, *cj;
    u_char                         key[TSR_MAX_KEY_NAME];
    u_char                         val[4096];

    ctxp = rmcf->ctxs.elts;
    done = 0;

    for (i = 0; i < rmcf->ctxs.nelts && i < 64; i++) {

        if (done & ((ngx_uint_t) 1 << i)) {
            continue;
        }

        ci = SSL_CTX_get_ex_data(ctxp[i], ngx_ssl_session_redis_ctx_index);
        if (ci == NULL || ci->binding == NULL
            || ci->conf->store->store == NULL)
        {
            continue;
        }

        k = ngx_snprintf(key, sizeof(key) - 1, "%Vnode:%V:%V",
                         &ci->conf->prefix, &ngx_cycle->hostname,
                         &rmcf->proto);
        ngx_strlow(k - rmcf->proto.len, k - rmcf->proto.len,
                   rmcf->proto.len);

        n = 0;

        (void) tsr_fleet_format_head((char *) val, sizeof(val), &n,
                                     (char *) ngx_cycle->hostname.data,
                                     ngx_cycle->hostname.len,
                                     (long long) ngx_parent,
                                     (long long) ngx_time());

        for (j = i; j < rmcf->ctxs.nelts && j < 64; j++) {
            cj = SSL_CTX_get_ex_data(ctxp[j],
                                     ngx_ssl_session_redis_ctx_index);

            if (cj == NULL || cj->binding == NULL
                || cj->conf->store != ci->conf->store
                || cj->conf->prefix.len != ci->conf->prefix.len
                || ngx_strncmp(cj->conf->prefix.data, ci->conf->prefix.data,
                               ci->conf->prefix.len) != 0)
            {
                continue;
            }

            done |= (ngx_uint_t) 1 << j;

            name = cj->name.len ? &cj->name : &ngx_ssl_session_redis_dash;

            (void) tsr_fleet_format_server((char *) val, sizeof(val), &n,
                                           (char *) name->data, name->len,
                                           (char *) cj->fp, NULL, 0);
        }

        (void) tsr_store_set(ci->conf->store->store, (char *) key, k - key,
                             val, n, TSR_FLEET_TTL_MS);
    }
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


ngx_int_t
ngx_ssl_session_redis_outcome(ngx_connection_t *c, ngx_str_t *value)
{
    ngx_ssl_session_redis_conn_t  *cs;

    static ngx_str_t  names[] = {
        ngx_string("none"),
        ngx_string("l1"),
        ngx_string("hit"),
        ngx_string("miss"),
        ngx_string("timeout"),
        ngx_string("error"),
        ngx_string("skipped")
    };
    static ngx_str_t  ticket = ngx_string("ticket");

    if (c->ssl == NULL || ngx_ssl_session_redis_conn_index == -1) {
        return NGX_DECLINED;
    }

    cs = SSL_get_ex_data(c->ssl->connection,
                         ngx_ssl_session_redis_conn_index);
    if (cs == NULL) {
        return NGX_DECLINED;
    }

    if (cs->outcome == NGX_SSL_SESSION_REDIS_NONE && cs->ticket
        && SSL_session_reused(c->ssl->connection))
    {
        *value = ticket;
        return NGX_OK;
    }

    *value = names[cs->outcome];

    return NGX_OK;
}


static ngx_shm_zone_t *
ngx_ssl_session_redis_find_zone(const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    len = ngx_strlen(name);
    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        /* "<name>:<hash of the server names>" */

        if (zone[i].shm.name.len > len
            && ngx_strncmp(zone[i].shm.name.data, name, len) == 0
            && zone[i].shm.name.data[len] == ':')
        {
            return &zone[i];
        }
    }
}


ngx_chain_t *
ngx_ssl_session_redis_status(ngx_pool_t *pool,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    ngx_uint_t                    i, n;
    ngx_shm_zone_t               *zone;
    ngx_ssl_session_redis_sum_t   sums[2];

    static const char *const  zones[] = {
        NGX_SSL_SESSION_REDIS_ZONE_HTTP, NGX_SSL_SESSION_REDIS_ZONE_STREAM
    };
    static const char *const  subsystems[] = { "http", "stream" };

    ngx_ssl_session_redis_publish(rmcf);

    n = 0;

    for (i = 0; i < 2; i++) {
        zone = ngx_ssl_session_redis_find_zone(zones[i]);
        if (zone == NULL || zone->data == NULL) {
            continue;
        }

        if (ngx_ssl_session_redis_sum(pool, zone, subsystems[i], &sums[n])
            != NGX_OK)
        {
            return NULL;
        }

        n++;
    }

    if (n == 0) {
        return NULL;
    }

    return ngx_ssl_session_redis_render(pool, sums, n);
}


/*
 * Label values escape backslashes, double quotes and newlines (a regex
 * server_name has backslashes), and servers of one name share a series:
 * Prometheus rejects a series twice on one page.
 */

static ngx_int_t
ngx_ssl_session_redis_sum(ngx_pool_t *pool, ngx_shm_zone_t *zone,
    const char *subsystem, ngx_ssl_session_redis_sum_t *sum)
{
    u_char                                *names, *name, *slot, *p;
    size_t                                 k, len;
    ngx_uint_t                             i, j, s, n;
    ngx_slab_pool_t                       *shpool;
    ngx_ssl_session_redis_shm_t           *shm;
    ngx_ssl_session_redis_gauges_t        *g;
    ngx_ssl_session_redis_worker_stats_t  *w;
    ngx_ssl_session_redis_server_stats_t  *sv, *tot;

    shm = zone->data;
    n = shm->nservers;
    names = (u_char *) shm + sizeof(ngx_ssl_session_redis_shm_t);

    ngx_memzero(sum, sizeof(ngx_ssl_session_redis_sum_t));

    sum->subsystem = subsystem;
    sum->n = n;

    sum->tot = ngx_pcalloc(pool,
                        (n + 1) * sizeof(ngx_ssl_session_redis_server_stats_t));
    sum->names = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_str_t));
    sum->first = ngx_pcalloc(pool, (n + 1) * sizeof(ngx_uint_t));

    if (sum->tot == NULL || sum->names == NULL || sum->first == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        name = names + i * NGX_SSL_SESSION_REDIS_NAME_LEN;
        len = ngx_strnlen(name, NGX_SSL_SESSION_REDIS_NAME_LEN);

        p = ngx_pnalloc(pool, 2 * len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        sum->names[i].data = p;

        for (k = 0; k < len; k++) {
            switch (name[k]) {

            case '\\':
            case '"':
                *p++ = '\\';
                *p++ = name[k];
                break;

            case '\n':
                *p++ = '\\';
                *p++ = 'n';
                break;

            default:
                *p++ = name[k];
            }
        }

        sum->names[i].len = p - sum->names[i].data;
        sum->first[i] = i;

        for (j = 0; j < i; j++) {
            if (sum->names[j].len == sum->names[i].len
                && ngx_strncmp(sum->names[j].data, sum->names[i].data,
                               sum->names[i].len) == 0)
            {
                sum->first[i] = sum->first[j];
                break;
            }
        }
    }

    w = &sum->w;
    tot = sum->tot;

    slot = names + n * NGX_SSL_SESSION_REDIS_NAME_LEN;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    g = (ngx_ssl_session_redis_gauges_t *)
            (slot + ngx_ssl_session_redis_slot_size(n));

    ngx_shmtx_lock(&shpool->mutex);

    ngx_memcpy(w, slot, sizeof(ngx_ssl_session_redis_worker_stats_t));

    sv = (ngx_ssl_session_redis_server_stats_t *)
             (slot + sizeof(ngx_ssl_session_redis_worker_stats_t));

    for (i = 0; i < n; i++) {
        j = sum->first[i];

        for (k = 0; k < NGX_SSL_SESSION_REDIS_OUTCOMES; k++) {
            tot[j].outcome[k] += sv[i].outcome[k];
        }

        tot[j].ssl.stored += sv[i].ssl.stored;
        tot[j].ssl.store_skipped += sv[i].ssl.store_skipped;
        tot[j].ssl.store_errors += sv[i].ssl.store_errors;
        tot[j].ssl.open_failures += sv[i].ssl.open_failures;
        tot[j].ssl.removed += sv[i].ssl.removed;
    }

    /* gauges: the workers alive now (one may have died without a word) */

    w->stores = 0;
    w->up = 0;
    w->connecting = 0;
    w->breaker_open = 0;
    w->inflight = 0;
    w->rings = 0;
    w->rotated_at = 0;
    w->encrypt_until = 0;

    for (s = 0; s < NGX_SSL_SESSION_REDIS_SLOTS; s++) {
        if (g[s].pid == 0
            || (kill(g[s].pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            continue;
        }

        w->stores += g[s].stores;
        w->up += g[s].up;
        w->connecting += g[s].connecting;
        w->breaker_open += g[s].breaker_open;
        w->inflight += g[s].inflight;

        /* every worker loads the same rings: the one furthest behind */

        if (g[s].rings == 0) {
            continue;
        }

        w->rings = ngx_max(w->rings, g[s].rings);

        if (w->rotated_at == 0 || g[s].rotated_at < w->rotated_at) {
            w->rotated_at = g[s].rotated_at;
        }

        if (w->encrypt_until == 0 || g[s].encrypt_until < w->encrypt_until) {
            w->encrypt_until = g[s].encrypt_until;
        }
    }

    sum->timeout = shm->timeout;

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * Microseconds as seconds in Prometheus' canonical form, Go's
 * strconv.FormatFloat(v, 'g', -1, 64): no trailing zeros, no point for
 * whole numbers, an exponent below 1e-4 ("5e-05", "0.00025", "1",
 * "2.5").  A bucket bound written otherwise is another series to
 * Prometheus 2 (le="1.000" is not le="1").
 */

static u_char *
ngx_ssl_session_redis_seconds(u_char *p, u_char *last, uint64_t us)
{
    uint64_t    m;
    ngx_uint_t  digits, exp;
    u_char      frac[NGX_INT64_LEN];

    if (us == 0) {
        return ngx_slprintf(p, last, "0");
    }

    if (us >= 100) {
        p = ngx_slprintf(p, last, "%uL", us / 1000000);

        if (us % 1000000 == 0) {
            return p;
        }

        (void) ngx_sprintf(frac, "%06uL", us % 1000000);

        for (digits = 6; frac[digits - 1] == '0'; digits--) { /* void */ }

        return ngx_slprintf(p, last, ".%*s", (size_t) digits, frac);
    }

    /* below 1e-4 s (1 or 2 digits): d[.d]e-0N, no trailing zero */

    exp = (us >= 10) ? 5 : 6;

    for (m = us; m % 10 == 0; m /= 10) { /* void */ }

    digits = ngx_sprintf(frac, "%uL", m) - frac;

    if (digits == 1) {
        return ngx_slprintf(p, last, "%ce-%02ui", frac[0], exp);
    }

    return ngx_slprintf(p, last, "%c.%*se-%02ui", frac[0],
                        (size_t) (digits - 1), frac + 1, exp);
}


/* "OpenSSL 3.0.17 1 Jul 2025": its second word */

static ngx_str_t
ngx_ssl_session_redis_openssl_version(void)
{
    u_char     *p, *v;
    ngx_str_t   version;

    v = (u_char *) OpenSSL_version(OPENSSL_VERSION);

    p = (u_char *) ngx_strchr(v, ' ');
    if (p != NULL) {
        v = p + 1;
    }

    version.data = v;

    for (p = v; *p != '\0' && *p != ' ' && *p != '"' && *p != '\\'; p++) {
        /* void */
    }

    version.len = p - v;

    return version;
}


#define ngx_ssl_session_redis_metric(b, name, type, help)                     \
    b->last = ngx_slprintf(b->last, b->end, "# HELP %s %s\n# TYPE %s %s\n",   \
                           name, help, name, type)


/*
 * Both subsystems on one page, each family once: Prometheus wants a
 * family's HELP, TYPE and samples together.
 */

static ngx_chain_t *
ngx_ssl_session_redis_render(ngx_pool_t *pool,
    ngx_ssl_session_redis_sum_t *sums, ngx_uint_t nsums)
{
    size_t                                 size, k;
    uint64_t                               cum, ms, v;
    ngx_buf_t                             *b;
    ngx_uint_t                             i, j;
    ngx_str_t                              openssl;
    ngx_time_t                            *now;
    ngx_chain_t                           *cl;
    ngx_ssl_session_redis_sum_t           *sm;
    ngx_ssl_session_redis_worker_stats_t  *w;

    static const uint64_t    bounds[] = TSR_STORE_LATENCY_BOUNDS;
    static const char *const  gauges[][2] = {
        { "ssl_session_redis_ticket_key_age_seconds",
          "Time since the fleet ticket ring was rotated: the current key's "
          "age (the oldest ring of the workers alive)." },
        { "ssl_session_redis_ticket_issue_left_seconds",
          "Time left before tickets stop being issued unless a newer ring "
          "arrives (0: none issued now)." }
    };
    static const char *const  outcomes[] = {
        "none", "l1", "hit", "miss", "timeout", "error", "skipped"
    };

    size = 8192;

    for (j = 0; j < nsums; j++) {
        size += 4096 + sums[j].n * (NGX_SSL_SESSION_REDIS_OUTCOMES + 8)
                                 * (128 + 2 * NGX_SSL_SESSION_REDIS_NAME_LEN);
    }

    b = ngx_create_temp_buf(pool, size);
    if (b == NULL) {
        return NULL;
    }

    ngx_ssl_session_redis_metric(b, "ssl_session_redis_lookups_total",
                                 "counter", "Handshakes by the outcome of "
                                 "their session lookup (none: nothing to "
                                 "look up).");

    for (j = 0; j < nsums; j++) {
        sm = &sums[j];

        for (i = 0; i < sm->n; i++) {
            if (sm->first[i] != i) {
                continue;
            }

            for (k = 0; k < NGX_SSL_SESSION_REDIS_OUTCOMES; k++) {
                b->last = ngx_slprintf(b->last, b->end,
                              "ssl_session_redis_lookups_total"
                              "{subsystem=\"%s\",server=\"%V\","
                              "outcome=\"%s\"} %uL\n", sm->subsystem,
                              &sm->names[i], outcomes[k],
                              sm->tot[i].outcome[k]);
            }
        }
    }

#define ngx_ssl_session_redis_server_metric(mname, field, help)               \
    ngx_ssl_session_redis_metric(b, mname, "counter", help);                  \
    for (j = 0; j < nsums; j++) {                                             \
        sm = &sums[j];                                                        \
        for (i = 0; i < sm->n; i++) {                                         \
            if (sm->first[i] != i) {                                          \
                continue;                                                     \
            }                                                                 \
            b->last = ngx_slprintf(b->last, b->end,                           \
                          mname "{subsystem=\"%s\",server=\"%V\"} %uL\n",     \
                          sm->subsystem, &sm->names[i],                       \
                          sm->tot[i].ssl.field);                              \
        }                                                                     \
    }

    ngx_ssl_session_redis_server_metric("ssl_session_redis_stores_total",
        stored, "New sessions handed to Redis, fire and forget (writes "
        "never sent are in ssl_session_redis_dropped_total).");
    ngx_ssl_session_redis_server_metric(
        "ssl_session_redis_stores_skipped_total", store_skipped,
        "New sessions not written: in stateless tickets, or oversized.");
    ngx_ssl_session_redis_server_metric(
        "ssl_session_redis_store_errors_total", store_errors,
        "Session writes that failed at once.");
    ngx_ssl_session_redis_server_metric(
        "ssl_session_redis_open_failures_total", open_failures,
        "Values read from Redis that did not open or decode.");
    ngx_ssl_session_redis_server_metric("ssl_session_redis_removes_total",
        removed, "Sessions OpenSSL removed, deleted from Redis.");

#undef ngx_ssl_session_redis_server_metric

#define ngx_ssl_session_redis_value(mname, type, value, help)                 \
    ngx_ssl_session_redis_metric(b, mname, type, help);                       \
    for (j = 0; j < nsums; j++) {                                             \
        w = &sums[j].w;                                                       \
        b->last = ngx_slprintf(b->last, b->end,                               \
                               mname "{subsystem=\"%s\"} %uL\n",              \
                               sums[j].subsystem, (uint64_t) (value));        \
    }

    ngx_ssl_session_redis_metric(b, "ssl_session_redis_commands_total",
                                 "counter", "Commands asked of Redis.");

    for (j = 0; j < nsums; j++) {
        w = &sums[j].w;

        b->last = ngx_slprintf(b->last, b->end,
                      "ssl_session_redis_commands_total"
                      "{subsystem=\"%s\",command=\"get\"} %uL\n"
                      "ssl_session_redis_commands_total"
                      "{subsystem=\"%s\",command=\"set\"} %uL\n"
                      "ssl_session_redis_commands_total"
                      "{subsystem=\"%s\",command=\"del\"} %uL\n",
                      sums[j].subsystem, w->store.gets, sums[j].subsystem,
                      w->store.sets, sums[j].subsystem, w->store.dels);
    }

    /* commands per write and replies per read: the batches */

    ngx_ssl_session_redis_value("ssl_session_redis_sent_total",
        "counter", w->store.commands,
        "Commands written to Redis, setup and scripts included.");
    ngx_ssl_session_redis_value("ssl_session_redis_writes_total",
        "counter", w->store.writes,
        "System calls that wrote commands to Redis.");
    ngx_ssl_session_redis_value("ssl_session_redis_replies_total",
        "counter", w->store.replies, "Replies read from Redis.");
    ngx_ssl_session_redis_value("ssl_session_redis_reads_total",
        "counter", w->store.reads,
        "System calls that read replies from Redis.");

    ngx_ssl_session_redis_value("ssl_session_redis_errors_total",
        "counter", w->store.errors,
        "Redis failures: connection, timeout, error replies.");
    ngx_ssl_session_redis_value("ssl_session_redis_timeouts_total",
        "counter", w->store.timeouts, "Lookups past their deadline.");
    ngx_ssl_session_redis_value("ssl_session_redis_refused_total",
        "counter", w->store.refused,
        "Lookups refused at once: not connected, breaker open, limits.");
    ngx_ssl_session_redis_value("ssl_session_redis_dropped_total",
        "counter", w->store.dropped, "Writes never sent.");
    ngx_ssl_session_redis_value("ssl_session_redis_bad_values_total",
        "counter", w->store.bad_values,
        "Replies of the wrong type or over the size limit.");
    ngx_ssl_session_redis_value("ssl_session_redis_connects_total",
        "counter", w->store.connects, "Connections made to Redis.");
    ngx_ssl_session_redis_value("ssl_session_redis_breaker_opened_total",
        "counter", w->store.breaker_opened,
        "Times the circuit breaker opened.");
    ngx_ssl_session_redis_metric(b, "ssl_session_redis_connections", "gauge",
                                 "Redis connections of all workers, by "
                                 "state (a cluster or Sentinel counts "
                                 "once).");

    for (j = 0; j < nsums; j++) {
        w = &sums[j].w;

        b->last = ngx_slprintf(b->last, b->end,
                      "ssl_session_redis_connections"
                      "{subsystem=\"%s\",state=\"up\"} %uL\n"
                      "ssl_session_redis_connections"
                      "{subsystem=\"%s\",state=\"connecting\"} %uL\n"
                      "ssl_session_redis_connections"
                      "{subsystem=\"%s\",state=\"breaker_open\"} %uL\n"
                      "ssl_session_redis_connections"
                      "{subsystem=\"%s\",state=\"down\"} %uL\n",
                      sums[j].subsystem, w->up, sums[j].subsystem,
                      w->connecting, sums[j].subsystem, w->breaker_open,
                      sums[j].subsystem,
                      w->stores - ngx_min(w->stores, w->up + w->connecting
                                                     + w->breaker_open));
    }

    ngx_ssl_session_redis_value("ssl_session_redis_inflight", "gauge",
        w->inflight, "Lookups in flight.");

    ngx_ssl_session_redis_metric(b, "ssl_session_redis_tickets_total",
                                 "counter", "Fleet ticket key events.");

    for (j = 0; j < nsums; j++) {
        w = &sums[j].w;

        b->last = ngx_slprintf(b->last, b->end,
                      "ssl_session_redis_tickets_total{subsystem=\"%s\","
                      "event=\"issued\"} %uL\n"
                      "ssl_session_redis_tickets_total{subsystem=\"%s\","
                      "event=\"not_issued\"} %uL\n"
                      "ssl_session_redis_tickets_total{subsystem=\"%s\","
                      "event=\"decrypted\"} %uL\n"
                      "ssl_session_redis_tickets_total{subsystem=\"%s\","
                      "event=\"renewed\"} %uL\n"
                      "ssl_session_redis_tickets_total{subsystem=\"%s\","
                      "event=\"unknown_key\"} %uL\n",
                      sums[j].subsystem, w->tickets.issued,
                      sums[j].subsystem, w->tickets.not_issued,
                      sums[j].subsystem, w->tickets.decrypted,
                      sums[j].subsystem, w->tickets.renewed,
                      sums[j].subsystem, w->tickets.unknown_key);
    }

    ngx_ssl_session_redis_value("ssl_session_redis_ticket_rotations_total",
        "counter", w->tickets.rotations,
        "Ticket key rotations this node made.");
    ngx_ssl_session_redis_value("ssl_session_redis_ticket_loads_total",
        "counter", w->tickets.loads, "Ticket key rings loaded.");
    ngx_ssl_session_redis_value(
        "ssl_session_redis_ticket_load_errors_total", "counter",
        w->tickets.load_errors, "Ticket key rings rejected.");

#undef ngx_ssl_session_redis_value

    /*
     * The ring closest to trouble, only where rings are loaded (a family
     * without samples is not allowed).
     */

    now = ngx_timeofday();
    ms = (uint64_t) now->sec * 1000 + now->msec;

    for (j = 0; j < nsums; j++) {
        if (sums[j].w.rings != 0) {
            break;
        }
    }

    for (k = 0; j < nsums && k < 2; k++) {
        ngx_ssl_session_redis_metric(b, gauges[k][0], "gauge", gauges[k][1]);

        for (i = 0; i < nsums; i++) {
            w = &sums[i].w;

            if (w->rings == 0) {
                continue;
            }

            /* the key's age, or the time it still issues tickets */

            if (k == 0) {
                v = (ms > w->rotated_at) ? (ms - w->rotated_at) / 1000 : 0;

            } else {
                v = (w->encrypt_until > ms) ? (w->encrypt_until - ms) / 1000
                                            : 0;
            }

            b->last = ngx_slprintf(b->last, b->end,
                                   "%s{subsystem=\"%s\"} %uL\n",
                                   gauges[k][0], sums[i].subsystem, v);
        }
    }

    /* buckets up to the longest lookup deadline, then +Inf */

    ngx_ssl_session_redis_metric(b, "ssl_session_redis_latency_seconds",
                                 "histogram", "Round trips of lookups "
                                 "Redis answered, late ones included.");

    for (j = 0; j < nsums; j++) {
        w = &sums[j].w;
        cum = 0;

        for (k = 0; k < TSR_STORE_LATENCY_BUCKETS; k++) {
            cum += w->store.latency[k];

            if (k == TSR_STORE_LATENCY_BUCKETS - 1) {
                break;
            }

            if (sums[j].timeout != 0
                && bounds[k] > (uint64_t) sums[j].timeout * 1000)
            {
                continue;
            }

            b->last = ngx_slprintf(b->last, b->end,
                          "ssl_session_redis_latency_seconds_bucket"
                          "{subsystem=\"%s\",le=\"", sums[j].subsystem);
            b->last = ngx_ssl_session_redis_seconds(b->last, b->end,
                                                    bounds[k]);
            b->last = ngx_slprintf(b->last, b->end, "\"} %uL\n", cum);
        }

        b->last = ngx_slprintf(b->last, b->end,
                      "ssl_session_redis_latency_seconds_bucket"
                      "{subsystem=\"%s\",le=\"+Inf\"} %uL\n"
                      "ssl_session_redis_latency_seconds_sum"
                      "{subsystem=\"%s\"} %uL.%06uL\n"
                      "ssl_session_redis_latency_seconds_count"
                      "{subsystem=\"%s\"} %uL\n",
                      sums[j].subsystem, cum,
                      sums[j].subsystem, w->store.latency_sum_us / 1000000,
                      w->store.latency_sum_us % 1000000, sums[j].subsystem,
                      cum);
    }

    openssl = ngx_ssl_session_redis_openssl_version();

    ngx_ssl_session_redis_metric(b, "ssl_session_redis_build_info", "gauge",
                                 "Versions of the module, the nginx it was "
                                 "built for and the OpenSSL it runs with.");

    b->last = ngx_slprintf(b->last, b->end,
                  "ssl_session_redis_build_info{version=\"%s\","
                  "nginx=\"%s\",openssl=\"%V\"} 1\n",
                  NGX_SSL_SESSION_REDIS_VERSION, NGINX_VERSION, &openssl);

    cl = ngx_alloc_chain_link(pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}
