
/*
 * One non-blocking connection to Redis, see tsr_conn.h.  It replaces
 * hiredis' asynchronous context: the socket I/O is ours (one write() for
 * everything queued, reads of TSR_CONN_READ_SIZE, no SIGPIPE), and
 * replies are parsed by hiredis' public reader API, bounded by
 * tsr_resp.h.  Buffers that held commands (AUTH's password, sealed
 * sessions) are wiped before they are reused or freed.
 */


#include "tsr_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>


#define TSR_CONN_OUT_MIN   4096
#define TSR_CONN_CBS_MIN   16


static int tsr_conn_socket(tsr_conn_t *c, const char *ip, int port,
    const char *path);
static int tsr_conn_usable(tsr_conn_t *c);
static int tsr_conn_tls_start(tsr_conn_t *c, const char *ip);
static int tsr_conn_handshake(tsr_conn_t *c);
static void tsr_conn_tls_failed(tsr_conn_t *c, int rc, const char *what);
static ssize_t tsr_conn_send(tsr_conn_t *c);
static ssize_t tsr_conn_recv(tsr_conn_t *c, char *buf, size_t size);
static int tsr_tls_new_session(SSL *ssl, SSL_SESSION *sess);
static int tsr_conn_push(tsr_conn_t *c, tsr_conn_reply_pt fn, void *data,
    const char *cmd, size_t len);
static int tsr_conn_is_subscribe(const char *cmd, size_t len);
static int tsr_conn_dispatch(tsr_conn_t *c);
static void tsr_conn_fail(tsr_conn_t *c, int err, const char *fmt, ...)
    TSR_PRINTF(3, 4);
static void tsr_conn_end(tsr_conn_t *c);
static void tsr_conn_want(tsr_conn_t *c, int read, int write);


tsr_conn_t *
tsr_conn_connect(const char *ip, int port, const char *path, tsr_tls_t *tls,
    const tsr_conn_events_t *ev, void *data, char *err, size_t errlen)
{
    tsr_conn_t  *c;

    c = OPENSSL_zalloc(sizeof(tsr_conn_t));
    if (c == NULL) {
        (void) snprintf(err, errlen, "out of memory");
        return NULL;
    }

    c->fd = -1;
    c->data = data;
    c->ev = *ev;

    c->reader = redisReaderCreate();
    if (c->reader == NULL) {
        (void) snprintf(err, errlen, "out of memory");
        goto failed;
    }

    tsr_resp_bound_async(c->reader, &c->resp, &c->awaits);

    if (tsr_conn_socket(c, ip, port, path) != 0) {
        (void) snprintf(err, errlen, "%s", c->errstr);
        goto failed;
    }

    if (tls != NULL) {
        c->tls = tls;

        if (path != NULL) {
            (void) snprintf(c->peer, sizeof(c->peer), "%s", path);

        } else {
            (void) snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
        }

        if (tsr_conn_tls_start(c, path == NULL ? ip : NULL) != 0) {
            (void) snprintf(err, errlen, "%s", c->errstr);
            goto failed;
        }

    } else {
        c->connected = c->tcp_connected;
    }

    return c;

failed:

    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }

    if (c->fd != -1) {
        (void) close(c->fd);
    }

    if (c->reader != NULL) {
        redisReaderFree(c->reader);
    }

    OPENSSL_free(c);

    return NULL;
}


static int
tsr_conn_socket(tsr_conn_t *c, const char *ip, int port, const char *path)
{
    int                   one;
    socklen_t             len;
    struct sockaddr_un    sun;
    struct sockaddr_in6   sin6;
    struct sockaddr_in    sin;
    struct sockaddr      *sa;

    if (path != NULL) {
        if (strlen(path) >= sizeof(sun.sun_path)) {
            (void) snprintf(c->errstr, sizeof(c->errstr),
                            "socket path too long");
            return -1;
        }

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        sa = (struct sockaddr *) &sun;
        len = sizeof(sun);

    } else if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
        memset(&sin, 0, sizeof(sin));
        (void) inet_pton(AF_INET, ip, &sin.sin_addr);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t) port);
        sa = (struct sockaddr *) &sin;
        len = sizeof(sin);

    } else if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1) {
        memset(&sin6, 0, sizeof(sin6));
        (void) inet_pton(AF_INET6, ip, &sin6.sin6_addr);
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t) port);
        sa = (struct sockaddr *) &sin6;
        len = sizeof(sin6);

    } else {
        (void) snprintf(c->errstr, sizeof(c->errstr),
                        "\"%s\" is not a numeric address", ip);
        return -1;
    }

    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd == -1) {
        (void) snprintf(c->errstr, sizeof(c->errstr), "socket(): %s",
                        strerror(errno));
        return -1;
    }

    if (path == NULL) {
        one = 1;
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
                          sizeof(one));
    }

    if (connect(c->fd, sa, len) == 0) {
        c->tcp_connected = 1;
        return 0;
    }

    /* a Unix socket's EAGAIN is a full backlog, not a connect under way */

    if (errno == EINPROGRESS) {
        return 0;
    }

    (void) snprintf(c->errstr, sizeof(c->errstr), "connect(): %s",
                    strerror(errno));

    return -1;
}


/*
 * The client side of a TLS connection: the server's name (SNI and the
 * name verified) or its address verified, and the server's last session
 * offered.
 */

static int
tsr_conn_tls_start(tsr_conn_t *c, const char *ip)
{
    int                 ok;
    size_t              i;
    struct in6_addr     a6;
    struct in_addr      a4;
    X509_VERIFY_PARAM  *param;

    ERR_clear_error();

    c->ssl = SSL_new(c->tls->ctx);
    if (c->ssl == NULL) {
        ERR_clear_error();
        (void) snprintf(c->errstr, sizeof(c->errstr), "SSL_new() failed");
        return -1;
    }

    ok = SSL_set_fd(c->ssl, c->fd);

    SSL_set_connect_state(c->ssl);
    SSL_set_app_data(c->ssl, c);

    if (ok && c->tls->server_name != NULL) {
        /* SNI carries names only, never addresses */

        if (inet_pton(AF_INET, c->tls->server_name, &a4) != 1
            && inet_pton(AF_INET6, c->tls->server_name, &a6) != 1)
        {
            ok = SSL_set_tlsext_host_name(c->ssl, c->tls->server_name);
        }

        if (ok && c->tls->verify) {
            ok = SSL_set1_host(c->ssl, c->tls->server_name);
        }

    } else if (ok && c->tls->verify && ip != NULL) {
        param = SSL_get0_param(c->ssl);
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, ip);
    }

    for (i = 0; ok && i < TSR_TLS_SESSIONS; i++) {
        if (c->tls->sessions[i].session != NULL
            && strcmp(c->tls->sessions[i].peer, c->peer) == 0)
        {
            ok = SSL_set_session(c->ssl, c->tls->sessions[i].session);
            break;
        }
    }

    ERR_clear_error();

    if (!ok) {
        (void) snprintf(c->errstr, sizeof(c->errstr),
                        "setting up TLS failed");
        return -1;
    }

    return 0;
}


int
tsr_conn_vcommand(tsr_conn_t *c, tsr_conn_reply_pt fn, void *data,
    const char *fmt, va_list args)
{
    int    rc, len;
    char  *cmd;

    len = redisvFormatCommand(&cmd, fmt, args);
    if (len < 0) {
        return -1;
    }

    rc = tsr_conn_formatted(c, fn, data, cmd, (size_t) len);

    /* it may hold a password */
    OPENSSL_cleanse(cmd, (size_t) len);
    redisFreeCommand(cmd);

    return rc;
}


int
tsr_conn_formatted(tsr_conn_t *c, tsr_conn_reply_pt fn, void *data,
    const char *cmd, size_t len)
{
    if (c->err || c->freeing) {
        return -1;
    }

    if (tsr_conn_push(c, fn, data, cmd, len) != 0) {
        return -1;
    }

    /* the owner writes when its loop turn ends */
    c->writing = 1;
    c->ev.add_write(c->ev.data);

    return 0;
}


static int
tsr_conn_push(tsr_conn_t *c, tsr_conn_reply_pt fn, void *data,
    const char *cmd, size_t len)
{
    int             subscribe;
    char           *out;
    size_t          size, i, n;
    tsr_conn_cb_t  *cbs;

    subscribe = tsr_conn_is_subscribe(cmd, len);

    /* subscribed, only SUBSCRIBE may be sent */
    if (c->subscribed && !subscribe) {
        return -1;
    }

    /* room for the callback; a renewed SUBSCRIBE needs none */

    n = c->awaits.waiting;

    if (!c->subscribed && n == c->cb_size) {
        size = c->cb_size ? 2 * c->cb_size : TSR_CONN_CBS_MIN;

        cbs = OPENSSL_malloc(size * sizeof(tsr_conn_cb_t));
        if (cbs == NULL) {
            return -1;
        }

        for (i = 0; i < n; i++) {
            cbs[i] = c->cbs[(c->cb_first + i) % c->cb_size];
        }

        OPENSSL_free(c->cbs);
        c->cbs = cbs;
        c->cb_first = 0;
        c->cb_size = size;
    }

    /* room for the bytes: what was written goes first */

    if (c->out_len + len > c->out_size && c->out_pos > 0) {
        memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
        OPENSSL_cleanse(c->out + c->out_len - c->out_pos, c->out_pos);
        c->out_len -= c->out_pos;
        c->out_pos = 0;
    }

    if (c->out_len + len > c->out_size) {
        size = c->out_size ? c->out_size : TSR_CONN_OUT_MIN;

        while (size < c->out_len + len) {
            size *= 2;
        }

        out = OPENSSL_clear_realloc(c->out, c->out_size, size);
        if (out == NULL) {
            return -1;
        }

        c->out = out;
        c->out_size = size;
    }

    memcpy(c->out + c->out_len, cmd, len);
    c->out_len += len;

    if (c->subscribed) {
        c->sub.fn = fn;
        c->sub.data = data;
        return 0;
    }

    cbs = &c->cbs[(c->cb_first + n) % c->cb_size];
    cbs->fn = fn;
    cbs->data = data;
    cbs->subscribe = subscribe;

    c->awaits.waiting++;

    return 0;
}


/* "*<n>\r\n$9\r\nSUBSCRIBE\r\n", in any case */

static int
tsr_conn_is_subscribe(const char *cmd, size_t len)
{
    const char  *p, *end;

    end = cmd + len;
    p = memchr(cmd, '\n', len);

    if (p == NULL || end - p < 1 + 4 + 9) {
        return 0;
    }

    p++;

    return memcmp(p, "$9\r\n", 4) == 0
           && strncasecmp(p + 4, "SUBSCRIBE", 9) == 0;
}


ssize_t
tsr_conn_on_write(tsr_conn_t *c)
{
    ssize_t  n;

    /* still connecting: the next write event says when */

    n = tsr_conn_usable(c);
    if (n != 1) {
        return n;
    }

    if (c->out_pos == c->out_len) {
        tsr_conn_want(c, 1, 0);
        return 0;
    }

    n = tsr_conn_send(c);

    if (n <= 0) {
        return n;
    }

    c->out_pos += (size_t) n;

    if (c->out_pos == c->out_len) {
        OPENSSL_cleanse(c->out, c->out_len);
        c->out_pos = 0;
        c->out_len = 0;
        tsr_conn_want(c, 1, 0);

    } else {
        /* a full socket: the rest on its next write edge */
        tsr_conn_want(c, 1, 1);
    }

    return n;
}


/*
 * 1: connected (now or before), 0: still connecting, -1: failed or
 * ending (and then "c" may be gone)
 */

static int
tsr_conn_usable(tsr_conn_t *c)
{
    int            e;
    socklen_t      len;
    struct pollfd  pfd;

    if (c->err || c->freeing) {
        return -1;
    }

    if (c->connected) {
        return 1;
    }

    if (c->tcp_connected) {
        return tsr_conn_handshake(c);
    }

    /* a write event may be posted before the connect completes */

    pfd.fd = c->fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;

    if (poll(&pfd, 1, 0) == 0) {
        tsr_conn_want(c, 1, 1);
        return 0;
    }

    e = 0;
    len = sizeof(e);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1) {
        e = errno;
    }

    if (e != 0) {
        tsr_conn_fail(c, TSR_CONN_EIO, "connect: %s", strerror(e));
        return -1;
    }

    c->tcp_connected = 1;

    if (c->ssl != NULL) {
        return tsr_conn_handshake(c);
    }

    c->connected = 1;

    return 1;
}


/* TLS' handshake, one step: 1 done, 0 under way, -1 failed */

static int
tsr_conn_handshake(tsr_conn_t *c)
{
    int  rc;

    ERR_clear_error();

    rc = SSL_do_handshake(c->ssl);

    if (rc == 1) {
        c->connected = 1;
        c->tls_resumed = SSL_session_reused(c->ssl) ? 1 : 0;

        /* the commands queued meanwhile */
        tsr_conn_want(c, 1, c->out_pos != c->out_len);

        return 1;
    }

    switch (SSL_get_error(c->ssl, rc)) {

    case SSL_ERROR_WANT_READ:
        tsr_conn_want(c, 1, 0);
        return 0;

    case SSL_ERROR_WANT_WRITE:
        tsr_conn_want(c, 1, 1);
        return 0;

    default:
        tsr_conn_tls_failed(c, rc, "TLS handshake");
        return -1;
    }
}


/*
 * Why a TLS call failed, in words: the verification's result, OpenSSL's
 * reason, or the socket's.  OpenSSL's error queue is left empty: nginx
 * reads it after its own calls.
 */

static void
tsr_conn_tls_failed(tsr_conn_t *c, int rc, const char *what)
{
    int            err;
    long           vr;
    unsigned long  e;
    const char    *reason;

    err = errno;
    e = ERR_peek_last_error();
    reason = (e != 0) ? ERR_reason_error_string(e) : NULL;

    vr = SSL_get_verify_result(c->ssl);

    ERR_clear_error();

    if (!c->connected && vr != X509_V_OK) {
        tsr_conn_fail(c, TSR_CONN_EIO, "%s: certificate verify failed: %s",
                      what, X509_verify_cert_error_string(vr));

    } else if (reason != NULL) {
        tsr_conn_fail(c, TSR_CONN_EIO, "%s: %s", what, reason);

    } else if (rc == 0 || err == 0) {
        tsr_conn_fail(c, TSR_CONN_EIO, "%s: connection closed by redis",
                      what);

    } else {
        tsr_conn_fail(c, TSR_CONN_EIO, "%s: %s", what, strerror(err));
    }
}


/* bytes written, 0 when the socket is full, -1 when the connection ended */

static ssize_t
tsr_conn_send(tsr_conn_t *c)
{
    int      rc;
    ssize_t  n;

    if (c->ssl == NULL) {
        n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
                 MSG_NOSIGNAL);

        if (n >= 0) {
            return n;
        }

        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            tsr_conn_want(c, 1, 1);
            return 0;
        }

        tsr_conn_fail(c, TSR_CONN_EIO, "write: %s", strerror(errno));
        return -1;
    }

    ERR_clear_error();

    /* partial writes on, the buffer may move: see tsr_tls_create() */

    rc = SSL_write(c->ssl, c->out + c->out_pos,
                   (int) (c->out_len - c->out_pos));

    if (rc > 0) {
        return rc;
    }

    switch (SSL_get_error(c->ssl, rc)) {

    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ:
        tsr_conn_want(c, 1, 1);
        return 0;

    default:
        tsr_conn_tls_failed(c, rc, "write");
        return -1;
    }
}


/*
 * Up to "size" bytes: what TLS had decrypted already and what the socket
 * has, until it has no more (0 then: nothing), or -1 when the connection
 * ended.
 */

static ssize_t
tsr_conn_recv(tsr_conn_t *c, char *buf, size_t size)
{
    int      rc;
    size_t   got;
    ssize_t  n;

    if (c->ssl == NULL) {
        n = recv(c->fd, buf, size, 0);

        if (n > 0) {
            return n;
        }

        if (n == 0) {
            tsr_conn_fail(c, TSR_CONN_EIO, "connection closed by redis");
            return -1;
        }

        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }

        tsr_conn_fail(c, TSR_CONN_EIO, "read: %s", strerror(errno));
        return -1;
    }

    got = 0;

    while (got < size) {
        ERR_clear_error();

        rc = SSL_read(c->ssl, buf + got, (int) (size - got));

        if (rc > 0) {
            got += (size_t) rc;
            continue;
        }

        switch (SSL_get_error(c->ssl, rc)) {

        case SSL_ERROR_WANT_READ:
            return (ssize_t) got;

        case SSL_ERROR_WANT_WRITE:
            tsr_conn_want(c, 1, 1);
            return (ssize_t) got;

        case SSL_ERROR_ZERO_RETURN:
            if (got > 0) {
                /* the replies first; the close is read again next time */
                return (ssize_t) got;
            }

            tsr_conn_fail(c, TSR_CONN_EIO, "connection closed by redis");
            return -1;

        default:
            if (got > 0) {
                /*
                 * The replies first; the failure is met again by the next
                 * read.  Its entry must not stay in OpenSSL's error queue
                 * meanwhile: the replies' callbacks resume handshakes, and
                 * nginx takes an entry left there for its own ("ignoring
                 * stale global SSL error").
                 */
                ERR_clear_error();
                return (ssize_t) got;
            }

            tsr_conn_tls_failed(c, rc, "read");
            return -1;
        }
    }

    return (ssize_t) got;
}


ssize_t
tsr_conn_on_read(tsr_conn_t *c)
{
    ssize_t  n;
    char     buf[TSR_CONN_READ_SIZE];

    n = tsr_conn_usable(c);
    if (n != 1) {
        return n;
    }

    n = tsr_conn_recv(c, buf, sizeof(buf));

    if (n <= 0) {
        return n;
    }

    if (redisReaderFeed(c->reader, buf, (size_t) n) != REDIS_OK) {
        OPENSSL_cleanse(buf, (size_t) n);
        tsr_conn_fail(c, TSR_CONN_ENOMEM,
                      "a reply could not be read: out of memory");
        return -1;
    }

    /* replies hold sessions: the reader's copy is wiped by the owner */
    OPENSSL_cleanse(buf, (size_t) n);

    if (tsr_conn_dispatch(c) != 0) {
        return -1;
    }

    return n;
}


/*
 * The replies read, each to its callback.  -1 when the connection ended
 * (then "c" is gone) or is to end.
 */

static int
tsr_conn_dispatch(tsr_conn_t *c)
{
    void           *reply;
    tsr_conn_cb_t   cb;

    for ( ;; ) {
        if (c->freeing) {
            if (c->calling == 0) {
                tsr_conn_end(c);
            }

            return -1;
        }

        reply = NULL;

        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            tsr_conn_fail(c, TSR_CONN_EPROTO, "a reply could not be read: %s",
                          c->reader->errstr[0] != '\0'
                          ? c->reader->errstr : "out of memory");
            return -1;
        }

        if (reply == NULL) {
            return 0;
        }

        if (c->awaits.waiting > 0) {
            cb = c->cbs[c->cb_first];
            c->cb_first = (c->cb_first + 1) % c->cb_size;
            c->awaits.waiting--;

            if (cb.subscribe) {
                c->subscribed = 1;
                c->awaits.subscribed = 1;
                c->sub = cb;
            }

        } else if (c->subscribed) {
            cb = c->sub;

        } else {
            /* refused by the bounded reader already; never trusted */
            freeReplyObject(reply);
            tsr_conn_fail(c, TSR_CONN_EPROTO, "a reply no command awaits");
            return -1;
        }

        c->kept = 0;
        c->calling++;
        cb.fn(c, reply, cb.data);
        c->calling--;

        if (!c->kept) {
            freeReplyObject(reply);
        }
    }
}


static void
tsr_conn_fail(tsr_conn_t *c, int err, const char *fmt, ...)
{
    va_list  args;

    if (c->err) {
        return;
    }

    c->err = err;

    va_start(args, fmt);
    tsr_verrf(c->errstr, sizeof(c->errstr), fmt, args);
    va_end(args);

    tsr_conn_free(c);
}


void
tsr_conn_free(tsr_conn_t *c)
{
    if (c == NULL || c->freeing) {
        return;
    }

    c->freeing = 1;

    if (c->calling == 0) {
        tsr_conn_end(c);
    }
}


/*
 * The end: every callback once with NULL (the subscription's too), the
 * owner's cleanup, then the socket closed and everything wiped.
 */

static void
tsr_conn_end(tsr_conn_t *c)
{
    tsr_conn_cb_t  cb;

    c->calling++;

    while (c->awaits.waiting > 0) {
        cb = c->cbs[c->cb_first];
        c->cb_first = (c->cb_first + 1) % c->cb_size;
        c->awaits.waiting--;

        cb.fn(c, NULL, cb.data);
    }

    /* subscribed, no command awaits a reply but the subscription */

    if (c->subscribed) {
        c->sub.fn(c, NULL, c->sub.data);
    }

    if (c->ev.cleanup != NULL) {
        c->ev.cleanup(c->ev.data);
    }

    c->calling--;

    if (c->ssl != NULL) {
        /*
         * No close_notify: it could block, and Redis needs none.  A
         * connection that was up ends as if shut down, or OpenSSL would
         * mark its session unusable and the next connect could not
         * resume it.
         */

        if (c->connected) {
            SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN
                                     | SSL_RECEIVED_SHUTDOWN);
        }

        SSL_free(c->ssl);
        ERR_clear_error();
    }

    if (c->fd != -1) {
        (void) close(c->fd);
    }

    tsr_conn_wipe_input(c);
    redisReaderFree(c->reader);

    OPENSSL_clear_free(c->out, c->out_size);
    OPENSSL_free(c->cbs);
    OPENSSL_clear_free(c, sizeof(tsr_conn_t));
}


static void
tsr_conn_want(tsr_conn_t *c, int read, int write)
{
    if (read && !c->reading) {
        c->reading = 1;
        c->ev.add_read(c->ev.data);
    }

    if (write) {
        c->writing = 1;
        c->ev.add_write(c->ev.data);

    } else if (c->writing) {
        c->writing = 0;
        c->ev.del_write(c->ev.data);
    }
}


void
tsr_conn_keep(tsr_conn_t *c)
{
    c->kept = 1;
}


size_t
tsr_conn_unsent(const tsr_conn_t *c)
{
    return c->out_len - c->out_pos;
}


size_t
tsr_conn_waiting(const tsr_conn_t *c)
{
    return c->awaits.waiting;
}


size_t
tsr_conn_pending(const tsr_conn_t *c)
{
    return tsr_resp_pending(c->reader);
}


void
tsr_conn_wipe_input(tsr_conn_t *c)
{
    tsr_resp_wipe(c->reader);
}


tsr_tls_t *
tsr_tls_create(const tsr_tls_conf_t *conf, char *err, size_t errlen)
{
    unsigned long   e;
    const char     *what, *param, *reason;
    tsr_tls_t      *tls;

    param = NULL;

    tls = OPENSSL_zalloc(sizeof(tsr_tls_t));
    if (tls == NULL) {
        (void) snprintf(err, errlen, "out of memory");
        return NULL;
    }

    tls->verify = conf->verify;

    ERR_clear_error();

    what = "SSL_CTX_new()";
    tls->ctx = SSL_CTX_new(TLS_client_method());
    if (tls->ctx == NULL) {
        goto failed;
    }

    what = "TLS 1.2 at least";
    if (!SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION)) {
        goto failed;
    }

    /* a write retried may be longer, and the buffer may have moved */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                               | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                               | SSL_MODE_RELEASE_BUFFERS);

    SSL_CTX_set_session_cache_mode(tls->ctx, SSL_SESS_CACHE_CLIENT
                                             | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(tls->ctx, tsr_tls_new_session);

    SSL_CTX_set_verify(tls->ctx, conf->verify ? SSL_VERIFY_PEER
                                              : SSL_VERIFY_NONE, NULL);

    if (conf->ca_file != NULL) {
        param = "tls_ca_file";
        what = conf->ca_file;
        if (!SSL_CTX_load_verify_locations(tls->ctx, conf->ca_file, NULL)) {
            goto failed;
        }

    } else {
        param = NULL;
        what = "the system's certificate store";
        if (!SSL_CTX_set_default_verify_paths(tls->ctx)) {
            goto failed;
        }
    }

    if (conf->cert_file != NULL) {
        param = "tls_cert_file";
        what = conf->cert_file;
        if (!SSL_CTX_use_certificate_chain_file(tls->ctx, conf->cert_file)) {
            goto failed;
        }

        param = "tls_key_file";
        what = conf->key_file;
        if (conf->key_file == NULL
            || !SSL_CTX_use_PrivateKey_file(tls->ctx, conf->key_file,
                                            SSL_FILETYPE_PEM)
            || !SSL_CTX_check_private_key(tls->ctx))
        {
            goto failed;
        }
    }

    if (conf->server_name != NULL) {
        tls->server_name = OPENSSL_strdup(conf->server_name);
        if (tls->server_name == NULL) {
            param = NULL;
            what = "the server name";
            goto failed;
        }
    }

    return tls;

failed:

    /*
     * The first error says why ("No such file or directory", "no start
     * line"); the last one only that a library call failed ("system lib").
     * A file is named by its parameter, as written in the address.
     */

    e = ERR_peek_error();
    reason = NULL;

    if (e != 0) {
        reason = (ERR_GET_LIB(e) == ERR_LIB_SYS)
                 ? strerror(ERR_GET_REASON(e)) : ERR_reason_error_string(e);
    }

    if (param != NULL) {
        (void) snprintf(err, errlen, "TLS: %s \"%s\"%s%s", param,
                        what != NULL ? what : "",
                        reason != NULL ? ": " : " cannot be used",
                        reason != NULL ? reason : "");

    } else {
        (void) snprintf(err, errlen, "TLS: %s%s%s", what != NULL ? what : "",
                        reason != NULL ? ": " : " failed",
                        reason != NULL ? reason : "");
    }

    ERR_clear_error();

    tsr_tls_destroy(tls);

    return NULL;
}


void
tsr_tls_destroy(tsr_tls_t *tls)
{
    size_t  i;

    if (tls == NULL) {
        return;
    }

    for (i = 0; i < TSR_TLS_SESSIONS; i++) {
        SSL_SESSION_free(tls->sessions[i].session);
    }

    SSL_CTX_free(tls->ctx);
    OPENSSL_free(tls->server_name);
    OPENSSL_free(tls);
}


/*
 * A new session from a server: it replaces that server's last one (TLS
 * 1.3 servers send them after the handshake, some several).
 */

static int
tsr_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    size_t       i;
    tsr_tls_t   *tls;
    tsr_conn_t  *c;

    c = SSL_get_app_data(ssl);

    if (c == NULL || c->tls == NULL) {
        return 0;
    }

    tls = c->tls;

    for (i = 0; i < TSR_TLS_SESSIONS; i++) {
        if (tls->sessions[i].session != NULL
            && strcmp(tls->sessions[i].peer, c->peer) == 0)
        {
            break;
        }
    }

    if (i == TSR_TLS_SESSIONS) {
        i = tls->next;
        tls->next = (tls->next + 1) % TSR_TLS_SESSIONS;
        (void) snprintf(tls->sessions[i].peer, sizeof(tls->sessions[i].peer),
                        "%s", c->peer);
    }

    SSL_SESSION_free(tls->sessions[i].session);
    tls->sessions[i].session = sess;

    /* the reference is ours */
    return 1;
}
