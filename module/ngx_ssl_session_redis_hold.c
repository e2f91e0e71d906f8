
/*
 * Holding what tells a client its session, until the session's SET has
 * left: the write BIO that stands in front of nginx's socket BIO from a
 * new session's handshake to the end of the worker's loop turn.
 *
 * A client that holds a TLS 1.3 ticket, or a TLS 1.2 server's Finished,
 * may offer the session to another node at once: the session must be
 * in Redis first.  Sending each SET on its own, at once, costs a write()
 * per handshake and wakes Redis once per handshake.  Instead the SET is
 * queued with the turn's other commands (tsr_store_set_later()) and this
 * BIO keeps what OpenSSL writes: in TLS 1.3 from the new-session
 * callback on (OpenSSL writes the ticket right after it), in a full
 * TLS 1.2 handshake from the client's Finished on (the info callback:
 * OpenSSL writes the server's ChangeCipherSpec and Finished, then calls
 * the new-session callback), and whatever the connection sends in the
 * same turn.  The BIO's first write posts a release event; the first
 * release of a turn runs the store's posted write, after every handshake
 * of the turn, and each sends what its connection held and puts the
 * socket BIO back.
 *
 * What is held is bounded (NGX_SSL_SESSION_REDIS_HOLD_MAX): a write that
 * would pass it sends the store's writes and what is held first, and
 * what the socket does not take is OpenSSL's to write again (a retry);
 * a connection that closes in the turn does the same as its SSL is
 * freed.  The connection's next write, or its write event, sends what a
 * full socket left.  Owned by the BIO: the SSL may outlive the
 * connection's pool, or go first.
 */


#include "ngx_ssl_session_redis_glue.h"


#define NGX_SSL_SESSION_REDIS_HOLD_MAX     16384

#define NGX_SSL_SESSION_REDIS_HOLDING      0
#define NGX_SSL_SESSION_REDIS_PASSING      1


typedef struct {
    BIO                            *sock;        /* one reference */
    BIO                            *bio;         /* this one */
    ngx_ssl_conn_t                 *ssl_conn;
    ngx_ssl_session_redis_store_t  *store;       /* where the SET went */
    ngx_connection_t               *connection;  /* NULL: the pool is gone */
    ngx_pool_cleanup_t             *cln;         /* in the connection's pool */
    ngx_event_t                     release;
    ngx_event_handler_pt            write_handler;  /* wrapped, draining */
    ngx_uint_t                      state;
    size_t                          len;         /* held */
    size_t                          pos;         /* sent of it */
    u_char                          buf[NGX_SSL_SESSION_REDIS_HOLD_MAX];
} ngx_ssl_session_redis_wbio_t;


static int ngx_ssl_session_redis_wbio_write(BIO *b, const char *in,
    int inl);
static long ngx_ssl_session_redis_wbio_ctrl(BIO *b, int cmd, long num,
    void *ptr);
static int ngx_ssl_session_redis_wbio_destroy(BIO *b);
static ngx_int_t ngx_ssl_session_redis_wbio_drain(
    ngx_ssl_session_redis_wbio_t *wb);
static void ngx_ssl_session_redis_release_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_drain_handler(ngx_event_t *wev);
static void ngx_ssl_session_redis_unhold(ngx_ssl_session_redis_wbio_t *wb);
static void ngx_ssl_session_redis_cleanup_hold(void *data);


static BIO_METHOD  *ngx_ssl_session_redis_wbio_method;
static int          ngx_ssl_session_redis_wbio_type;


ngx_int_t
ngx_ssl_session_redis_hold_init(ngx_conf_t *cf)
{
    int          type;
    BIO_METHOD  *m;

    if (ngx_ssl_session_redis_wbio_method != NULL) {
        return NGX_OK;
    }

    type = BIO_get_new_index();
    m = NULL;

    if (type != -1) {
        type |= BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
        m = BIO_meth_new(type, "ssl_session_redis ticket hold");
    }

    if (m == NULL
        || !BIO_meth_set_write(m, ngx_ssl_session_redis_wbio_write)
        || !BIO_meth_set_ctrl(m, ngx_ssl_session_redis_wbio_ctrl)
        || !BIO_meth_set_destroy(m, ngx_ssl_session_redis_wbio_destroy))
    {
        BIO_meth_free(m);
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "BIO_meth_new() failed");
        return NGX_ERROR;
    }

    ngx_ssl_session_redis_wbio_method = m;
    ngx_ssl_session_redis_wbio_type = type;

    return NGX_OK;
}


void
ngx_ssl_session_redis_hold_free(void)
{
    BIO_meth_free(ngx_ssl_session_redis_wbio_method);
    ngx_ssl_session_redis_wbio_method = NULL;
}


/*
 * The binding's hold hook, from the new-session callback: 1 when this
 * connection's writes are held (already, or from now on), 0 when they
 * are not (a TLS 1.2 server's Finished went out before the callback,
 * unless the info callback held it; QUIC, kernel TLS or another BIO in
 * the way): then the SET goes at once.
 */

int
ngx_ssl_session_redis_hold(SSL *ssl_conn, void *data)
{
    BIO                           *sock;
    ngx_ssl_session_redis_wbio_t  *wb;

    sock = SSL_get_wbio(ssl_conn);

    if (sock == NULL || ngx_ssl_session_redis_wbio_method == NULL) {
        return 0;
    }

    if (BIO_method_type(sock) == ngx_ssl_session_redis_wbio_type) {
        wb = BIO_get_data(sock);
        return wb != NULL && wb->state == NGX_SSL_SESSION_REDIS_HOLDING;
    }

    if (SSL_version(ssl_conn) != TLS1_3_VERSION) {
        return 0;
    }

    return ngx_ssl_session_redis_hold_install(ssl_conn, data) == NGX_OK;
}


/*
 * Puts the hold BIO in front of a server connection's socket BIO: in
 * TLS 1.3 from the new-session callback, before OpenSSL writes the
 * ticket; in a full TLS 1.2 handshake from the info callback, before
 * the server's ChangeCipherSpec and Finished.  NGX_DECLINED when the
 * write BIO is not nginx's plain socket BIO.
 */

ngx_int_t
ngx_ssl_session_redis_hold_install(ngx_ssl_conn_t *ssl_conn,
    ngx_ssl_session_redis_store_t *store)
{
    BIO                           *sock, *b;
    ngx_connection_t              *c;
    ngx_pool_cleanup_t            *cln;
    ngx_ssl_session_redis_wbio_t  *wb;

    sock = SSL_get_wbio(ssl_conn);
    c = ngx_ssl_get_connection(ssl_conn);

    if (sock == NULL || ngx_ssl_session_redis_wbio_method == NULL
        || c == NULL || c->ssl == NULL || c->pool == NULL
        || c->type == SOCK_DGRAM || c->ssl->connection != ssl_conn
        || BIO_method_type(sock) != BIO_TYPE_SOCKET
        || BIO_get_callback_ex(sock) != NULL || BIO_get_callback(sock) != NULL
        || BIO_next(sock) != NULL)
    {
        return NGX_DECLINED;
    }

#ifdef BIO_get_ktls_send
    if (BIO_get_ktls_send(sock)) {
        return NGX_DECLINED;
    }
#endif

    cln = ngx_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    wb = ngx_alloc(sizeof(ngx_ssl_session_redis_wbio_t), c->log);
    if (wb == NULL) {
        return NGX_DECLINED;
    }

    /* all but the buffer */
    ngx_memzero(wb, offsetof(ngx_ssl_session_redis_wbio_t, buf));

    b = BIO_new(ngx_ssl_session_redis_wbio_method);
    if (b == NULL || !BIO_up_ref(sock)) {
        ERR_clear_error();
        BIO_free(b);
        ngx_free(wb);
        return NGX_DECLINED;
    }

    wb->sock = sock;
    wb->bio = b;
    wb->ssl_conn = ssl_conn;
    wb->store = store;
    wb->connection = c;
    wb->cln = cln;
    wb->state = NGX_SSL_SESSION_REDIS_HOLDING;

    wb->release.handler = ngx_ssl_session_redis_release_handler;
    wb->release.data = wb;
    wb->release.log = c->log;

    cln->handler = ngx_ssl_session_redis_cleanup_hold;
    cln->data = wb;

    BIO_set_data(b, wb);
    BIO_set_init(b, 1);

    /* drops the SSL's reference to the socket BIO; this BIO holds one */
    SSL_set0_wbio(ssl_conn, b);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "ssl_session_redis: writes held, wbio %p", b);

    return NGX_OK;
}


static int
ngx_ssl_session_redis_wbio_write(BIO *b, const char *in, int inl)
{
    int                            n;
    ngx_ssl_session_redis_wbio_t  *wb;

    wb = BIO_get_data(b);

    BIO_clear_retry_flags(b);

    if (wb == NULL || wb->sock == NULL || in == NULL || inl <= 0) {
        return 0;
    }

    if (wb->state == NGX_SSL_SESSION_REDIS_HOLDING
        && wb->connection == NULL)
    {
        /* nothing would release it */
        wb->state = NGX_SSL_SESSION_REDIS_PASSING;
    }

    if (wb->state == NGX_SSL_SESSION_REDIS_HOLDING) {

        if ((size_t) inl <= sizeof(wb->buf) - wb->len) {
            ngx_memcpy(wb->buf + wb->len, in, inl);
            wb->len += inl;

            /* the turn's first release runs the store's write first */

            if (!wb->release.posted) {
                ngx_post_event(&wb->release, &ngx_posted_events);
            }

            return inl;
        }

        /* more than is held in a turn: the SETs, what is held, this */
        wb->state = NGX_SSL_SESSION_REDIS_PASSING;
        ngx_ssl_session_redis_loop_flush(wb->store);
    }

    if (ngx_ssl_session_redis_wbio_drain(wb) != NGX_OK) {
        BIO_set_flags(b, BIO_get_retry_flags(wb->sock));
        return -1;
    }

    n = BIO_write(wb->sock, in, inl);

    if (n <= 0) {
        BIO_set_flags(b, BIO_get_retry_flags(wb->sock));
    }

    return n;
}


/*
 * What OpenSSL asks of a write BIO: its descriptor, a flush, the bytes
 * not yet sent.  Not kernel TLS: it would write past what is held.
 */

static long
ngx_ssl_session_redis_wbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    ngx_ssl_session_redis_wbio_t  *wb;

    wb = BIO_get_data(b);

    if (wb == NULL || wb->sock == NULL) {
        return 0;
    }

    switch (cmd) {

    case BIO_CTRL_FLUSH:
        return 1;

    case BIO_CTRL_WPENDING:
        return (long) (wb->len - wb->pos)
               + BIO_ctrl(wb->sock, cmd, num, ptr);

    case BIO_C_GET_FD:
    case BIO_CTRL_EOF:
    case BIO_CTRL_PENDING:
        return BIO_ctrl(wb->sock, cmd, num, ptr);

    default:
        return 0;
    }
}


/*
 * The SSL is freed (the connection closes, possibly in the very turn of
 * its handshake): what is held goes to the socket as far as it takes
 * it, before nginx closes the descriptor.
 */

static int
ngx_ssl_session_redis_wbio_destroy(BIO *b)
{
    ngx_ssl_session_redis_wbio_t  *wb;

    wb = BIO_get_data(b);
    if (wb == NULL) {
        return 1;
    }

    /* no descriptor once the pool is gone: it may be closed, or reused */

    if (wb->pos < wb->len && wb->connection != NULL) {

        if (wb->state == NGX_SSL_SESSION_REDIS_HOLDING) {
            ngx_ssl_session_redis_loop_flush(wb->store);
        }

        (void) ngx_ssl_session_redis_wbio_drain(wb);
    }

    if (wb->release.posted) {
        ngx_delete_posted_event(&wb->release);
    }

    if (wb->connection != NULL) {

        if (wb->write_handler != NULL) {
            wb->connection->write->handler = wb->write_handler;
        }

        wb->cln->handler = NULL;
    }

    /* tickets are secrets too */
    ngx_explicit_memzero(wb->buf, wb->len);

    BIO_free(wb->sock);
    ngx_free(wb);

    BIO_set_data(b, NULL);
    BIO_set_init(b, 0);

    return 1;
}


/* NGX_OK once nothing is held, NGX_AGAIN when the socket is full */

static ngx_int_t
ngx_ssl_session_redis_wbio_drain(ngx_ssl_session_redis_wbio_t *wb)
{
    int  n;

    while (wb->pos < wb->len) {
        n = BIO_write(wb->sock, wb->buf + wb->pos, (int) (wb->len - wb->pos));

        if (n <= 0) {
            return NGX_AGAIN;
        }

        wb->pos += n;
    }

    ngx_explicit_memzero(wb->buf, wb->len);
    wb->len = 0;
    wb->pos = 0;

    return NGX_OK;
}


/*
 * The end of the turn, after the store's write: what is held goes to
 * the socket, and the socket BIO is the write BIO again.
 */

static void
ngx_ssl_session_redis_release_handler(ngx_event_t *ev)
{
    ngx_connection_t              *c;
    ngx_ssl_session_redis_wbio_t  *wb;

    wb = ev->data;
    c = wb->connection;

    /*
     * The store's write of this turn goes first, whichever event was
     * posted first: a TLS 1.2 Finished is held before its SET is queued.
     * The first release of a turn runs it, after every handshake of the
     * turn; the others find it done.
     */

    ngx_ssl_session_redis_loop_flush(wb->store);

    wb->state = NGX_SSL_SESSION_REDIS_PASSING;

    if (ngx_ssl_session_redis_wbio_drain(wb) == NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "ssl_session_redis: held writes released, wbio %p",
                       wb->bio);

        ngx_ssl_session_redis_unhold(wb);
        return;
    }

    /*
     * A full socket: its next write event sends the rest, then does what
     * nginx meant it to do.
     */

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "ssl_session_redis: held writes wait, %uz of %uz "
                   "bytes left", wb->len - wb->pos, wb->len);

    if (wb->write_handler == NULL) {
        wb->write_handler = c->write->handler;
        c->write->handler = ngx_ssl_session_redis_drain_handler;
    }
}


static void
ngx_ssl_session_redis_drain_handler(ngx_event_t *wev)
{
    BIO                           *b;
    ngx_connection_t              *c;
    ngx_event_handler_pt           handler;
    ngx_ssl_session_redis_wbio_t  *wb;

    c = wev->data;

    b = SSL_get_wbio(c->ssl->connection);

    /* the hold's own BIO: its destroy puts nginx's handler back */
    if (b == NULL || ngx_ssl_session_redis_wbio_method == NULL
        || BIO_method_type(b)
           != ngx_ssl_session_redis_wbio_type)
    {
        return;
    }

    wb = BIO_get_data(b);

    handler = wb->write_handler;
    wb->write_handler = NULL;
    wev->handler = handler;

    if (ngx_ssl_session_redis_wbio_drain(wb) == NGX_OK) {
        ngx_ssl_session_redis_unhold(wb);

    } else {
        wb->write_handler = handler;
        wev->handler = ngx_ssl_session_redis_drain_handler;
    }

    handler(wev);
}


/* the socket BIO back as the write BIO; frees this one */

static void
ngx_ssl_session_redis_unhold(ngx_ssl_session_redis_wbio_t *wb)
{
    BIO             *sock;
    ngx_ssl_conn_t  *ssl_conn;

    ssl_conn = wb->ssl_conn;

    if (SSL_get_wbio(ssl_conn) != wb->bio) {
        /* another BIO went on top: this one stays, passing writes on */
        return;
    }

    sock = wb->sock;
    wb->sock = NULL;

    /* hands the reference over */
    SSL_set0_wbio(ssl_conn, sock);
}


static void
ngx_ssl_session_redis_cleanup_hold(void *data)
{
    ngx_ssl_session_redis_wbio_t  *wb = data;

    if (wb->release.posted) {
        ngx_delete_posted_event(&wb->release);
    }

    if (wb->write_handler != NULL) {
        wb->connection->write->handler = wb->write_handler;
        wb->write_handler = NULL;
    }

    wb->connection = NULL;
    wb->cln = NULL;
}
