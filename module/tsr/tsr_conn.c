
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


#define TSR_CONN_OUT_MIN   4096
#define TSR_CONN_CBS_MIN   16


static int tsr_conn_socket(tsr_conn_t *c, const char *ip, int port,
    const char *path);
static int tsr_conn_usable(tsr_conn_t *c);
static int tsr_conn_push(tsr_conn_t *c, tsr_conn_reply_pt fn, void *data,
    const char *cmd, size_t len);
static int tsr_conn_is_subscribe(const char *cmd, size_t len);
static int tsr_conn_dispatch(tsr_conn_t *c);
static void tsr_conn_fail(tsr_conn_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tsr_conn_end(tsr_conn_t *c);
static void tsr_conn_want(tsr_conn_t *c, int read, int write);


tsr_conn_t *
tsr_conn_connect(const char *ip, int port, const char *path,
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

    return c;

failed:

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
        c->connected = 1;
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

    n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
             MSG_NOSIGNAL);

    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            tsr_conn_want(c, 1, 1);
            return 0;
        }

        tsr_conn_fail(c, TSR_CONN_EIO, "write: %s", strerror(errno));
        return -1;
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

    c->connected = 1;

    return 1;
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

    n = recv(c->fd, buf, sizeof(buf), 0);

    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return 0;
        }

        tsr_conn_fail(c, TSR_CONN_EIO, "read: %s", strerror(errno));
        return -1;
    }

    if (n == 0) {
        tsr_conn_fail(c, TSR_CONN_EIO, "connection closed by redis");
        return -1;
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
    (void) vsnprintf(c->errstr, sizeof(c->errstr), fmt, args);
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
