
/*
 * Holding a handshake while Redis answers: the info callback that sees a
 * server handshake start, the hello BIO that reads the ClientHello and
 * holds it back, the lookup and its outcome ($ssl_session_redis), and the
 * connection's state until the socket BIO reads again.
 */


#include "ngx_ssl_session_redis_glue.h"


/* lookup states of a connection */
#define NGX_SSL_SESSION_REDIS_HELLO        0
#define NGX_SSL_SESSION_REDIS_WAIT         1
#define NGX_SSL_SESSION_REDIS_DONE         2


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


static BIO_METHOD  *ngx_ssl_session_redis_hbio_method;
static ngx_uint_t   ngx_ssl_session_redis_hbio_users;


/*
 * The hello BIO's method, shared by the cycles that use it: over a
 * reload the module stays loaded and the new cycle takes it before
 * the old one lets go; the last cycle frees it before the module is
 * unloaded (its cleanup runs first).
 */

ngx_int_t
ngx_ssl_session_redis_hbio_init(ngx_conf_t *cf,
    ngx_ssl_session_redis_main_conf_t *rmcf)
{
    BIO_METHOD          *m;
    ngx_pool_cleanup_t  *cln;

    if (rmcf->hbio) {
        return NGX_OK;
    }

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

    if (ngx_ssl_session_redis_hold_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_session_redis_cleanup_hbio;
    cln->data = NULL;

    ngx_ssl_session_redis_hbio_users++;
    rmcf->hbio = 1;

    return NGX_OK;
}


void
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

    /*
     * A full TLS 1.2 handshake has read the client's Finished: OpenSSL
     * writes the server's ChangeCipherSpec and Finished next, then stores
     * the session.  They wait for its SET, in the hold BIO.
     */

    if (cs != NULL && (where & SSL_CB_LOOP)
        && SSL_get_state(ssl_conn) == TLS_ST_SR_FINISHED
        && SSL_version(ssl_conn) != TLS1_3_VERSION
        && !SSL_session_reused((ngx_ssl_conn_t *) ssl_conn))
    {
        (void) ngx_ssl_session_redis_hold_install(
                                     (ngx_ssl_conn_t *) ssl_conn,
                                     cs->ctx->conf->store);
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
        ngx_ssl_session_redis_hold_free();
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

void
ngx_ssl_session_redis_free_conn(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp)
{
    ngx_ssl_session_redis_conn_t  *cs = ptr;

    if (cs != NULL) {
        cs->ssl_conn = NULL;
    }
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
