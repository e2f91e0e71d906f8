
/*
 * TLS clients over TCP for integration tests: one-shot handshakes that
 * save and offer sessions, and keep-alive HTTP connections whose request
 * latency is measured.  Blocking sockets bounded by SO_RCVTIMEO and
 * SO_SNDTIMEO, 127.0.0.1 only.
 */


#include "tsr_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>


#define TSR_TEST_CLIENT_TIMEOUT      5000
#define TSR_TEST_CLIENT_TICKET_WAIT  200
#define TSR_TEST_CLIENT_BUF          16384
#define TSR_TEST_CLIENT_PAD_TYPE     65000


typedef struct {
    SSL_SESSION    *last;               /* newest session the server sent */
    int             count;              /* sessions received */
    SSL_SESSION    *psk2;               /* the second PSK identity */
} tsr_test_client_state_t;


struct tsr_test_conn_s {
    int             fd;
    SSL_CTX        *ctx;
    SSL            *ssl;
    size_t          len;                /* bytes held in buf */
    char            buf[TSR_TEST_CLIENT_BUF];
};


static int tsr_test_client_set_timeout(int fd, int opt, long long ms);
static int tsr_test_client_connect(int port, int timeout_ms);
static SSL_CTX *tsr_test_client_new_ctx(int version, int tickets);
static int tsr_test_client_new_session(SSL *ssl, SSL_SESSION *sess);
static int tsr_test_client_handshake(SSL *ssl, int fd, long long deadline);
static int tsr_test_client_write(SSL *ssl, int fd, const char *data,
    size_t len, long long deadline);
static int tsr_test_client_read(SSL *ssl, int fd, char *buf, size_t size,
    long long deadline);
static int tsr_test_client_read_to_close(SSL *ssl, int fd, char *buf,
    size_t size, size_t *len, long long deadline);
static void tsr_test_client_wait_ticket(SSL *ssl, int fd,
    tsr_test_client_state_t *st, long long deadline);
static void tsr_test_client_drain_errors(const char *what);
static BIO *tsr_test_client_dribble_bio(int fd, int piece);
static int tsr_test_client_dribble_write(BIO *b, const char *in, int inl);
static long tsr_test_client_dribble_ctrl(BIO *b, int cmd, long num,
    void *ptr);
static int tsr_test_client_dribble_destroy(BIO *b);
static int tsr_test_client_pad_add(SSL *ssl, unsigned int type,
    unsigned int context, const unsigned char **out, size_t *outlen,
    X509 *x, size_t chainidx, int *al, void *arg);
static void tsr_test_client_pad_free(SSL *ssl, unsigned int type,
    unsigned int context, const unsigned char *out, void *arg);
static int tsr_test_client_psk2(SSL *ssl, const EVP_MD *md,
    const unsigned char **id, size_t *idlen, SSL_SESSION **sess);


static int  tsr_test_client_state_index = -1;


/*
 * Bounds the next blocking socket call by what is left until the
 * deadline; an elapsed deadline still gets 1 ms, never "forever" (0).
 */

static int
tsr_test_client_set_timeout(int fd, int opt, long long ms)
{
    struct timeval  tv;

    if (ms < 1) {
        ms = 1;
    }

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;

    return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}


static int
tsr_test_client_connect(int port, int timeout_ms)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        fprintf(stderr, "socket() failed: %s\n", strerror(errno));
        return -1;
    }

    /* on Linux SO_SNDTIMEO also bounds a blocking connect() */

    if (tsr_test_client_set_timeout(fd, SO_SNDTIMEO, timeout_ms) != 0
        || tsr_test_client_set_timeout(fd, SO_RCVTIMEO, timeout_ms) != 0)
    {
        fprintf(stderr, "setsockopt() failed: %s\n", strerror(errno));
        close(fd);
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        fprintf(stderr, "connect() to 127.0.0.1:%d failed: %s\n", port,
                strerror(errno));
        close(fd);
        return -1;
    }

    return fd;
}


/*
 * A fresh context per connection: nothing is shared between handshakes
 * but the session the caller offers.  The client cache mode makes
 * OpenSSL report every session it receives (TLS 1.3 tickets arrive after
 * the handshake) without keeping them itself.
 */

static SSL_CTX *
tsr_test_client_new_ctx(int version, int tickets)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        tsr_test_client_drain_errors("SSL_CTX_new()");
        return NULL;
    }

    if (SSL_CTX_set_min_proto_version(ctx, version) != 1
        || SSL_CTX_set_max_proto_version(ctx, version) != 1)
    {
        tsr_test_client_drain_errors("SSL_CTX_set_min_proto_version()");
        SSL_CTX_free(ctx);
        return NULL;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    if (!tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a peer closing without close_notify ends the response normally */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                        | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, tsr_test_client_new_session);

    return ctx;
}


/* keeps the newest session; returning 1 takes OpenSSL's reference */

static int
tsr_test_client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    tsr_test_client_state_t  *st;

    st = SSL_get_ex_data(ssl, tsr_test_client_state_index);
    if (st == NULL) {
        return 0;
    }

    if (st->last != NULL) {
        SSL_SESSION_free(st->last);
    }

    st->last = sess;
    st->count++;

    return 1;
}


/*
 * A blocking socket that times out makes OpenSSL report WANT_READ or
 * WANT_WRITE, just as a processed non-application record does without
 * SSL_MODE_AUTO_RETRY: the deadline tells the two apart.
 */

static int
tsr_test_client_handshake(SSL *ssl, int fd, long long deadline)
{
    int        rc, err, i;
    long long  now;

    for (i = 0; i < 10000; i++) {
        now = tsr_test_now_ms();
        if (now >= deadline) {
            break;
        }

        (void) tsr_test_client_set_timeout(fd, SO_RCVTIMEO, deadline - now);
        (void) tsr_test_client_set_timeout(fd, SO_SNDTIMEO, deadline - now);

        rc = SSL_connect(ssl);
        if (rc == 1) {
            return 0;
        }

        err = SSL_get_error(ssl, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            tsr_test_client_drain_errors("SSL_connect()");
            return -1;
        }
    }

    fprintf(stderr, "SSL_connect() timed out\n");
    ERR_clear_error();

    return -1;
}


static int
tsr_test_client_write(SSL *ssl, int fd, const char *data, size_t len,
    long long deadline)
{
    int        rc, err, i;
    long long  now;

    for (i = 0; i < 10000 && len > 0; i++) {
        now = tsr_test_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "SSL_write() timed out\n");
            return -1;
        }

        (void) tsr_test_client_set_timeout(fd, SO_SNDTIMEO, deadline - now);
        (void) tsr_test_client_set_timeout(fd, SO_RCVTIMEO, deadline - now);

        rc = SSL_write(ssl, data, (int) len);
        if (rc > 0) {
            data += rc;
            len -= rc;
            continue;
        }

        err = SSL_get_error(ssl, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            tsr_test_client_drain_errors("SSL_write()");
            return -1;
        }
    }

    return len == 0 ? 0 : -1;
}


/*
 * Reads some application data: returns the byte count, 0 at the end of
 * the stream, -1 on error or at the deadline.
 */

static int
tsr_test_client_read(SSL *ssl, int fd, char *buf, size_t size,
    long long deadline)
{
    int        rc, err, i;
    long long  now;

    for (i = 0; i < 10000; i++) {
        now = tsr_test_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "SSL_read() timed out\n");
            return -1;
        }

        (void) tsr_test_client_set_timeout(fd, SO_RCVTIMEO, deadline - now);
        (void) tsr_test_client_set_timeout(fd, SO_SNDTIMEO, deadline - now);

        rc = SSL_read(ssl, buf, (int) size);
        if (rc > 0) {
            return rc;
        }

        err = SSL_get_error(ssl, rc);

        if (err == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }

        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && rc == 0) {
            /* EOF without close_notify where it is not ignored */
            return 0;
        }

        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            tsr_test_client_drain_errors("SSL_read()");
            return -1;
        }
    }

    return -1;
}


/* reads until the peer closes; keeps the first "size" bytes */

static int
tsr_test_client_read_to_close(SSL *ssl, int fd, char *buf, size_t size,
    size_t *len, long long deadline)
{
    int     n, i;
    char    discard[4096];
    size_t  have;

    have = 0;

    for (i = 0; i < 100000; i++) {
        if (have < size) {
            n = tsr_test_client_read(ssl, fd, buf + have, size - have,
                                     deadline);
        } else {
            n = tsr_test_client_read(ssl, fd, discard, sizeof(discard),
                                     deadline);
        }

        if (n < 0) {
            return -1;
        }

        if (n == 0) {
            *len = have;
            return 0;
        }

        if (have < size) {
            have += n;
        }
    }

    return -1;
}


/* TLS 1.3 tickets follow the handshake: give them a moment to arrive */

static void
tsr_test_client_wait_ticket(SSL *ssl, int fd, tsr_test_client_state_t *st,
    long long deadline)
{
    int        rc, err, i;
    char       buf[512];
    long long  now;

    for (i = 0; i < 1000 && st->count == 0; i++) {
        now = tsr_test_now_ms();
        if (now >= deadline) {
            return;
        }

        (void) tsr_test_client_set_timeout(fd, SO_RCVTIMEO, deadline - now);

        rc = SSL_read(ssl, buf, sizeof(buf));
        if (rc > 0) {
            continue;
        }

        err = SSL_get_error(ssl, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return;
        }
    }
}


static void
tsr_test_client_drain_errors(const char *what)
{
    char           buf[256];
    unsigned long  e;

    e = ERR_get_error();
    if (e == 0) {
        fprintf(stderr, "%s failed: %s\n", what,
                errno != 0 ? strerror(errno) : "connection closed");
        return;
    }

    for ( /* void */ ; e != 0; e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "%s failed: %s\n", what, buf);
    }
}


/*
 * A write BIO that sends at most "piece" bytes at a time, 1 ms apart,
 * each in its own segment (TCP_NODELAY): the server meets a ClientHello
 * in many reads.  OpenSSL writes what is left again.
 */

typedef struct {
    int   fd;
    int   piece;
} tsr_test_client_dribble_t;

static BIO_METHOD  *tsr_test_client_dribble_method;


static BIO *
tsr_test_client_dribble_bio(int fd, int piece)
{
    BIO                        *b;
    BIO_METHOD                 *m;
    tsr_test_client_dribble_t  *d;

    if (tsr_test_client_dribble_method == NULL) {
        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                         "dribble");
        if (m == NULL
            || !BIO_meth_set_write(m, tsr_test_client_dribble_write)
            || !BIO_meth_set_ctrl(m, tsr_test_client_dribble_ctrl)
            || !BIO_meth_set_destroy(m, tsr_test_client_dribble_destroy))
        {
            BIO_meth_free(m);
            return NULL;
        }

        tsr_test_client_dribble_method = m;
    }

    d = malloc(sizeof(tsr_test_client_dribble_t));
    if (d == NULL) {
        return NULL;
    }

    b = BIO_new(tsr_test_client_dribble_method);
    if (b == NULL) {
        free(d);
        return NULL;
    }

    d->fd = fd;
    d->piece = piece;

    BIO_set_data(b, d);
    BIO_set_init(b, 1);

    return b;
}


static int
tsr_test_client_dribble_write(BIO *b, const char *in, int inl)
{
    ssize_t                     n;
    struct timespec             ts = { 0, 1000000 };
    tsr_test_client_dribble_t  *d;

    BIO_clear_retry_flags(b);

    d = BIO_get_data(b);

    (void) nanosleep(&ts, NULL);

    n = send(d->fd, in, inl < d->piece ? inl : d->piece, MSG_NOSIGNAL);

    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK
                    || errno == EINTR))
    {
        BIO_set_retry_write(b);
    }

    return (int) n;
}


static long
tsr_test_client_dribble_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void) b;
    (void) num;
    (void) ptr;

    return (cmd == BIO_CTRL_FLUSH) ? 1 : 0;
}


static int
tsr_test_client_dribble_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);

    return 1;
}


/* the padding's bytes carry nothing: a private type no server knows */

static int
tsr_test_client_pad_add(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
    int *al, void *arg)
{
    size_t          len;
    unsigned char  *p;

    len = *(const int *) arg;

    p = OPENSSL_malloc(len);
    if (p == NULL) {
        return -1;
    }

    memset(p, 0x5a, len);

    *out = p;
    *outlen = len;

    return 1;
}


static void
tsr_test_client_pad_free(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char *out, void *arg)
{
    OPENSSL_free((void *) out);
}


/*
 * OpenSSL's client lists its resumption identity first and one from this
 * callback second: the second identity is psk2's ticket, the server's
 * session id for a TLS 1.3 stateful ticket.
 */

static int
tsr_test_client_psk2(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sess)
{
    size_t                    len;
    const unsigned char      *tick;
    tsr_test_client_state_t  *st;

    *sess = NULL;

    st = SSL_get_ex_data(ssl, tsr_test_client_state_index);
    if (st == NULL || st->psk2 == NULL) {
        return 1;
    }

    SSL_SESSION_get0_ticket(st->psk2, &tick, &len);

    if (len == 0 || SSL_SESSION_up_ref(st->psk2) != 1) {
        return 1;
    }

    /* OpenSSL copies the id and takes the reference */

    *id = tick;
    *idlen = len;
    *sess = st->psk2;

    return 1;
}


int
tsr_test_tls_once(int port, const tsr_test_client_t *opts, SSL_SESSION **out,
    int *reused)
{
    int                       fd, rc, timeout, pad;
    SSL                      *ssl;
    char                      req[512], resp[4096];
    size_t                    len;
    SSL_CTX                  *ctx;
    long long                 deadline;
    SSL_SESSION              *copy;
    tsr_test_client_state_t   st;

    fd = -1;
    copy = NULL;
    ssl = NULL;
    ctx = NULL;
    rc = -1;
    len = 0;
    st.last = NULL;
    st.count = 0;
    st.psk2 = opts->psk2;
    pad = opts->pad;

    *reused = 0;
    if (out != NULL) {
        *out = NULL;
    }

    if (opts->sessions != NULL) {
        *opts->sessions = 0;
    }

    /* a server closing first must not kill the test program */
    (void) signal(SIGPIPE, SIG_IGN);

    if (tsr_test_client_state_index == -1) {
        tsr_test_client_state_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                           NULL, NULL);
        if (tsr_test_client_state_index == -1) {
            return -1;
        }
    }

    timeout = opts->timeout_ms > 0 ? opts->timeout_ms
                                   : TSR_TEST_CLIENT_TIMEOUT;
    deadline = tsr_test_now_ms() + timeout;

    ctx = tsr_test_client_new_ctx(opts->version, opts->tickets);
    if (ctx == NULL) {
        goto failed;
    }

    if (opts->pad > 0
        && SSL_CTX_add_custom_ext(ctx, TSR_TEST_CLIENT_PAD_TYPE,
                                  SSL_EXT_CLIENT_HELLO,
                                  tsr_test_client_pad_add,
                                  tsr_test_client_pad_free,
                                  &pad, NULL, NULL)
           != 1)
    {
        tsr_test_client_drain_errors("SSL_CTX_add_custom_ext()");
        goto failed;
    }

    if (opts->ciphers != NULL
        && SSL_CTX_set_cipher_list(ctx, opts->ciphers) != 1)
    {
        tsr_test_client_drain_errors("SSL_CTX_set_cipher_list()");
        goto failed;
    }

    if (opts->psk2 != NULL) {
        SSL_CTX_set_psk_use_session_callback(ctx, tsr_test_client_psk2);
    }

    fd = tsr_test_client_connect(port, timeout);
    if (fd == -1) {
        goto failed;
    }

    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        tsr_test_client_drain_errors("SSL_new()");
        goto failed;
    }

    if (opts->dribble > 0) {
        BIO  *w;

        w = tsr_test_client_dribble_bio(fd, opts->dribble);
        if (w == NULL) {
            tsr_test_client_drain_errors("BIO_new()");
            goto failed;
        }

        SSL_set0_wbio(ssl, w);
    }

    SSL_set_ex_data(ssl, tsr_test_client_state_index, &st);
    SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);

    if (opts->sni != NULL
        && SSL_set_tlsext_host_name(ssl, opts->sni) != 1)
    {
        tsr_test_client_drain_errors("SSL_set_tlsext_host_name()");
        goto failed;
    }

    if (opts->offer != NULL) {
        /*
         * An OpenSSL 3.0 client marks a TLS 1.3 session not resumable once
         * it has been used: offering a copy keeps the caller's session
         * good for more offers, as a session read from a file would be.
         */

        copy = SSL_SESSION_dup(opts->offer);

        if (copy == NULL || SSL_set_session(ssl, copy) != 1) {
            tsr_test_client_drain_errors("SSL_set_session()");
            goto failed;
        }
    }

    if (tsr_test_client_handshake(ssl, fd, deadline) != 0) {
        fprintf(stderr, "handshake with 127.0.0.1:%d failed\n", port);
        goto failed;
    }

    *reused = SSL_session_reused(ssl) ? 1 : 0;

    if (opts->request == 1) {
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n"
                 "Connection: close\r\n\r\n",
                 opts->sni != NULL ? opts->sni : "localhost");

        if (tsr_test_client_write(ssl, fd, req, strlen(req), deadline)
            != 0)
        {
            goto failed;
        }
    }

    if (opts->request == 1 || opts->request == 2) {
        if (tsr_test_client_read_to_close(ssl, fd, resp, sizeof(resp) - 1,
                                          &len, deadline)
            != 0)
        {
            fprintf(stderr, "reading from 127.0.0.1:%d failed\n", port);
            goto failed;
        }

        resp[len] = '\0';

        if (opts->request == 1 && strncmp(resp, "HTTP/1.1 200 ", 13) != 0) {
            fprintf(stderr, "unexpected response from 127.0.0.1:%d: "
                    "\"%.40s\"\n", port, resp);
            goto failed;
        }

        if (opts->request == 2 && len == 0) {
            fprintf(stderr, "no data from 127.0.0.1:%d\n", port);
            goto failed;
        }

    } else if (opts->version == TSR_TEST_TLS13) {
        tsr_test_client_wait_ticket(ssl, fd, &st,
                                    tsr_test_now_ms()
                                    + TSR_TEST_CLIENT_TICKET_WAIT);
    }

    if (opts->sessions != NULL) {
        *opts->sessions = st.count;
    }

    if (out != NULL) {
        if (st.last != NULL) {
            *out = st.last;
            st.last = NULL;

        } else {
            /*
             * A resumed TLS 1.2 handshake reports no new session, and a
             * resumed TLS 1.3 one may come without a new ticket: the
             * session in use is then the one to offer next time.
             */
            *out = SSL_get1_session(ssl);

            if (*out != NULL && !SSL_SESSION_is_resumable(*out)) {
                SSL_SESSION_free(*out);
                *out = NULL;
            }
        }
    }

    rc = 0;

failed:

    if (ssl != NULL) {
        (void) tsr_test_client_set_timeout(fd, SO_SNDTIMEO, 100);
        (void) SSL_shutdown(ssl);
        SSL_free(ssl);
    }

    if (st.last != NULL) {
        SSL_SESSION_free(st.last);
    }

    if (copy != NULL) {
        SSL_SESSION_free(copy);
    }

    if (fd != -1) {
        close(fd);
    }

    if (ctx != NULL) {
        SSL_CTX_free(ctx);
    }

    ERR_clear_error();

    return rc;
}


tsr_test_conn_t *
tsr_test_http_open(int port, int version)
{
    long long         deadline;
    tsr_test_conn_t  *conn;

    (void) signal(SIGPIPE, SIG_IGN);

    conn = calloc(1, sizeof(tsr_test_conn_t));
    if (conn == NULL) {
        return NULL;
    }

    conn->fd = -1;
    deadline = tsr_test_now_ms() + TSR_TEST_CLIENT_TIMEOUT;

    conn->ctx = tsr_test_client_new_ctx(version, 0);
    if (conn->ctx == NULL) {
        goto failed;
    }

    /* nothing to capture on this connection */
    SSL_CTX_set_session_cache_mode(conn->ctx, SSL_SESS_CACHE_OFF);

    conn->fd = tsr_test_client_connect(port, TSR_TEST_CLIENT_TIMEOUT);
    if (conn->fd == -1) {
        goto failed;
    }

    conn->ssl = SSL_new(conn->ctx);
    if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1) {
        tsr_test_client_drain_errors("SSL_new()");
        goto failed;
    }

    SSL_clear_mode(conn->ssl, SSL_MODE_AUTO_RETRY);

    if (tsr_test_client_handshake(conn->ssl, conn->fd, deadline) != 0) {
        fprintf(stderr, "handshake with 127.0.0.1:%d failed\n", port);
        goto failed;
    }

    return conn;

failed:

    tsr_test_http_close(conn);
    ERR_clear_error();

    return NULL;
}


long long
tsr_test_http_get(tsr_test_conn_t *conn)
{
    int               n, i;
    char             *end, *p, *line;
    size_t            hlen, body, need;
    long long         deadline;
    struct timespec   t0, t1;
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n"
                              "Connection: keep-alive\r\n\r\n";

    if (conn == NULL || conn->ssl == NULL) {
        return -1;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    deadline = tsr_test_now_ms() + TSR_TEST_CLIENT_TIMEOUT;

    conn->len = 0;

    if (tsr_test_client_write(conn->ssl, conn->fd, req, sizeof(req) - 1,
                              deadline)
        != 0)
    {
        return -1;
    }

    /* the header */

    end = NULL;

    for (i = 0; i < 1000; i++) {
        conn->buf[conn->len] = '\0';
        end = strstr(conn->buf, "\r\n\r\n");
        if (end != NULL) {
            break;
        }

        if (conn->len >= sizeof(conn->buf) - 1) {
            fprintf(stderr, "response header too long\n");
            return -1;
        }

        n = tsr_test_client_read(conn->ssl, conn->fd, conn->buf + conn->len,
                                 sizeof(conn->buf) - 1 - conn->len,
                                 deadline);
        if (n <= 0) {
            fprintf(stderr, "keep-alive connection closed or failed\n");
            return -1;
        }

        conn->len += n;
    }

    if (end == NULL) {
        return -1;
    }

    if (strncmp(conn->buf, "HTTP/1.1 200 ", 13) != 0) {
        fprintf(stderr, "unexpected response: \"%.40s\"\n", conn->buf);
        return -1;
    }

    hlen = (size_t) (end - conn->buf) + 4;
    body = 0;
    need = (size_t) -1;

    for (p = conn->buf; p < end; p = line + 2) {
        line = strstr(p, "\r\n");
        if (line == NULL) {
            break;
        }

        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            need = (size_t) strtoul(p + 15, NULL, 10);
        }
    }

    if (need == (size_t) -1 || need > sizeof(conn->buf) - 1 - hlen) {
        fprintf(stderr, "response without a usable Content-Length\n");
        return -1;
    }

    /* the body */

    for (i = 0; i < 1000; i++) {
        body = conn->len - hlen;
        if (body >= need) {
            break;
        }

        n = tsr_test_client_read(conn->ssl, conn->fd, conn->buf + conn->len,
                                 hlen + need - conn->len, deadline);
        if (n <= 0) {
            fprintf(stderr, "keep-alive connection closed or failed\n");
            return -1;
        }

        conn->len += n;
    }

    if (body < need) {
        return -1;
    }

    conn->len = 0;

    clock_gettime(CLOCK_MONOTONIC, &t1);

    return (long long) (t1.tv_sec - t0.tv_sec) * 1000
           + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}


void
tsr_test_http_close(tsr_test_conn_t *conn)
{
    if (conn == NULL) {
        return;
    }

    if (conn->ssl != NULL) {
        (void) tsr_test_client_set_timeout(conn->fd, SO_SNDTIMEO, 100);
        (void) SSL_shutdown(conn->ssl);
        SSL_free(conn->ssl);
    }

    if (conn->fd != -1) {
        close(conn->fd);
    }

    if (conn->ctx != NULL) {
        SSL_CTX_free(conn->ctx);
    }

    ERR_clear_error();
    free(conn);
}
