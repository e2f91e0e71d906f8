
/*
 * The synchronous client, see tsr_sync.h: a tsr_conn_t whose events are
 * waited for with poll(), each reply under a deadline of its own (the
 * command timeout) and, when one is set, the caller's for the whole
 * exchange: a server that drips its reply a byte at a time is cut off.
 */


#include "tsr_sync.h"
#include "tsr.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>


#define TSR_SYNC_REPLIES_MIN  8


static int tsr_sync_resolve(const char *host, char *ip, size_t iplen,
    char *err, size_t errlen);
static int tsr_sync_auth(tsr_sync_t *s, const tsr_sync_conf_t *conf);
static int tsr_sync_setup_reply(tsr_sync_t *s, const char *name,
    redisReply *reply);
static int tsr_sync_wait(tsr_sync_t *s, const char *name, int connecting);
static int tsr_sync_failed(tsr_sync_t *s, const char *name);
static void tsr_sync_error(tsr_sync_t *s, int rc, const char *fmt, ...)
    TSR_PRINTF(3, 4);
static void tsr_sync_on_reply(tsr_conn_t *c, redisReply *reply, void *data);
static void tsr_sync_add_read(void *data);
static void tsr_sync_del_read(void *data);
static void tsr_sync_add_write(void *data);
static void tsr_sync_del_write(void *data);
static void tsr_sync_cleanup(void *data);


tsr_sync_t *
tsr_sync_connect(const tsr_sync_conf_t *conf, int *rc, char *err,
    size_t errlen)
{
    char                ip[INET6_ADDRSTRLEN];
    tsr_sync_t         *s;
    tsr_conn_events_t   ev;

    s = OPENSSL_zalloc(sizeof(tsr_sync_t));
    if (s == NULL) {
        *rc = TSR_ENOMEM;
        (void) snprintf(err, errlen, "out of memory");
        return NULL;
    }

    (void) snprintf(s->addr, sizeof(s->addr), "%s",
                    conf->addr != NULL ? conf->addr
                    : (conf->path != NULL ? conf->path : conf->host));

    s->connect_timeout_ms = conf->connect_timeout_ms;
    s->command_timeout_ms = conf->command_timeout_ms;

    if (conf->path == NULL
        && tsr_sync_resolve(conf->host, ip, sizeof(ip), s->why,
                            sizeof(s->why))
           != 0)
    {
        tsr_sync_error(s, TSR_ECONN, "cannot connect to %s: %s", s->addr,
                       s->why);
        goto failed;
    }

    ev.data = s;
    ev.add_read = tsr_sync_add_read;
    ev.del_read = tsr_sync_del_read;
    ev.add_write = tsr_sync_add_write;
    ev.del_write = tsr_sync_del_write;
    ev.cleanup = tsr_sync_cleanup;

    s->conn = tsr_conn_connect(conf->path == NULL ? ip : NULL, conf->port,
                               conf->path, conf->tls, &ev, s, s->why,
                               sizeof(s->why));
    if (s->conn == NULL) {
        tsr_sync_error(s, TSR_ECONN, "cannot connect to %s: %s", s->addr,
                       s->why);
        goto failed;
    }

    if (tsr_sync_wait(s, "connect", 1) != TSR_OK) {
        goto failed;
    }

    if (tsr_sync_auth(s, conf) != TSR_OK) {
        goto failed;
    }

    *rc = TSR_OK;

    return s;

failed:

    *rc = s->rc;
    (void) snprintf(err, errlen, "%s", s->errstr);

    tsr_sync_free(s);

    return NULL;
}


/* the first address of a name, or a numeric address as it is */

static int
tsr_sync_resolve(const char *host, char *ip, size_t iplen, char *err,
    size_t errlen)
{
    int               rc;
    struct addrinfo   hints, *res;
    struct in6_addr   a6;
    struct in_addr    a4;

    if (inet_pton(AF_INET, host, &a4) == 1
        || inet_pton(AF_INET6, host, &a6) == 1)
    {
        (void) snprintf(ip, iplen, "%s", host);
        return 0;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        (void) snprintf(err, errlen, "host \"%s\" not found: %s", host,
                        gai_strerror(rc));
        return -1;
    }

    rc = getnameinfo(res->ai_addr, res->ai_addrlen, ip, (socklen_t) iplen,
                     NULL, 0, NI_NUMERICHOST);

    freeaddrinfo(res);

    if (rc != 0) {
        (void) snprintf(err, errlen, "host \"%s\": %s", host,
                        gai_strerror(rc));
        return -1;
    }

    return 0;
}


/*
 * AUTH, INFO and SELECT, pipelined: one round trip.  INFO follows AUTH,
 * which it may need; its version judges the server before the
 * connection is handed out.
 */

static int
tsr_sync_auth(tsr_sync_t *s, const tsr_sync_conf_t *conf)
{
    int          rc, no_user;
    char         name[96];
    redisReply  *reply;

    name[0] = '\0';

    if (conf->password != NULL) {
        if (conf->user != NULL) {
            (void) snprintf(name, sizeof(name), "AUTH as user \"%.64s\"",
                            conf->user);
            rc = tsr_sync_append(s, "AUTH %s %b", conf->user, conf->password,
                                 conf->password_len);

        } else {
            (void) snprintf(name, sizeof(name), "AUTH");
            rc = tsr_sync_append(s, "AUTH %b", conf->password,
                                 conf->password_len);
        }

        if (rc != TSR_OK) {
            return rc;
        }
    }

    if (conf->info && tsr_sync_append(s, "INFO server") != TSR_OK) {
        return s->rc;
    }

    if (conf->db != 0 && tsr_sync_append(s, "SELECT %d", conf->db) != TSR_OK)
    {
        return s->rc;
    }

    no_user = 0;

    if (conf->password != NULL) {
        if (tsr_sync_reply(s, &reply, name) != TSR_OK) {
            return s->rc;
        }

        /* Redis before 6.0: told below, with the version if INFO has it */
        no_user = (conf->user != NULL && tsr_caps_auth_no_user(reply));

        if (no_user) {
            freeReplyObject(reply);

        } else if (tsr_sync_setup_reply(s, name, reply) != TSR_OK) {
            return s->rc;
        }
    }

    if (conf->info) {
        if (tsr_sync_reply(s, &reply, "INFO server") != TSR_OK) {
            return s->rc;
        }

        tsr_caps_info(&s->caps, reply);
        freeReplyObject(reply);
    }

    if (tsr_caps_check(&s->caps, s->addr, conf->user != NULL, no_user,
                       s->errstr, sizeof(s->errstr))
        != 0)
    {
        s->rc = TSR_ESERVER;
        return TSR_ESERVER;
    }

    if (conf->db != 0) {
        if (tsr_sync_reply(s, &reply, "SELECT") != TSR_OK
            || tsr_sync_setup_reply(s, "SELECT", reply) != TSR_OK)
        {
            return s->rc;
        }
    }

    return TSR_OK;
}


/* the reply to AUTH or SELECT, freed here */

static int
tsr_sync_setup_reply(tsr_sync_t *s, const char *name, redisReply *reply)
{
    int     rc;
    char    text[128];
    size_t  i, n;

    rc = TSR_OK;

    if (reply->type == REDIS_REPLY_ERROR) {
        n = (reply->str != NULL) ? reply->len : 0;
        n = (n < sizeof(text) - 1) ? n : sizeof(text) - 1;

        for (i = 0; i < n; i++) {
            text[i] = (reply->str[i] >= 0x20 && reply->str[i] < 0x7f)
                      ? reply->str[i] : '?';
        }

        text[n] = '\0';

        tsr_sync_error(s, TSR_ESERVER, "%s on %s failed: %s", name, s->addr,
                       text);
        rc = TSR_ESERVER;

    } else if (reply->type != REDIS_REPLY_STATUS) {
        tsr_sync_error(s, TSR_EPROTO, "%s on %s: unexpected reply type %d",
                       name, s->addr, reply->type);
        rc = TSR_EPROTO;
    }

    freeReplyObject(reply);

    return rc;
}


int
tsr_sync_command(tsr_sync_t *s, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_sync_vcommand(s, reply, name, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_sync_vcommand(tsr_sync_t *s, redisReply **reply, const char *name,
    const char *fmt, va_list args)
{
    if (s->conn == NULL) {
        return tsr_sync_failed(s, name);
    }

    if (tsr_conn_vcommand(s->conn, tsr_sync_on_reply, s, fmt, args) != 0) {
        tsr_sync_error(s, TSR_ENOMEM, "%s on %s failed: out of memory",
                       name, s->addr);
        return TSR_ENOMEM;
    }

    s->expected++;

    return tsr_sync_reply(s, reply, name);
}


int
tsr_sync_append(tsr_sync_t *s, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_sync_vappend(s, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_sync_vappend(tsr_sync_t *s, const char *fmt, va_list args)
{
    if (s->conn == NULL) {
        return tsr_sync_failed(s, "a command");
    }

    if (tsr_conn_vcommand(s->conn, tsr_sync_on_reply, s, fmt, args) != 0) {
        tsr_sync_error(s, TSR_ENOMEM, "a command to %s: out of memory",
                       s->addr);
        return TSR_ENOMEM;
    }

    s->expected++;

    return TSR_OK;
}


int
tsr_sync_append_argv(tsr_sync_t *s, int argc, const char **argv,
    const size_t *lens)
{
    int        rc;
    long long  len;
    char      *cmd;

    if (s->conn == NULL) {
        return tsr_sync_failed(s, "a command");
    }

    len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (len < 0) {
        tsr_sync_error(s, TSR_ENOMEM, "a command to %s: out of memory",
                       s->addr);
        return TSR_ENOMEM;
    }

    rc = tsr_conn_formatted(s->conn, tsr_sync_on_reply, s, cmd,
                            (size_t) len);

    OPENSSL_cleanse(cmd, (size_t) len);
    redisFreeCommand(cmd);

    if (rc != 0) {
        tsr_sync_error(s, TSR_ENOMEM, "a command to %s: out of memory",
                       s->addr);
        return TSR_ENOMEM;
    }

    s->expected++;

    return TSR_OK;
}


int
tsr_sync_reply(tsr_sync_t *s, redisReply **reply, const char *name)
{
    int  rc;

    *reply = NULL;

    if (s->count == 0) {
        if (s->expected == 0) {
            tsr_sync_error(s, TSR_EINVAL, "%s on %s: no reply is due", name,
                           s->addr);
            return TSR_EINVAL;
        }

        rc = tsr_sync_wait(s, name, 0);
        if (rc != TSR_OK) {
            return rc;
        }
    }

    *reply = s->replies[s->first];
    s->first = (s->first + 1) % s->size;
    s->count--;

    return TSR_OK;
}


/*
 * Runs the connection until it is connected ("connecting") or has the
 * next reply, within the command timeout and the deadline.
 */

static int
tsr_sync_wait(tsr_sync_t *s, const char *name, int connecting)
{
    int            n, ms;
    ssize_t        r;
    uint64_t       now, until;
    struct pollfd  pfd;

    now = tsr_now_ms();
    ms = connecting ? s->connect_timeout_ms : s->command_timeout_ms;
    until = now + (uint64_t) ms;

    if (s->deadline != 0 && s->deadline < until) {
        until = s->deadline;
    }

    for ( ;; ) {
        if (s->conn == NULL) {
            return tsr_sync_failed(s, name);
        }

        if (connecting ? s->conn->connected : s->count > 0) {
            return TSR_OK;
        }

        /* what is queued goes first; connecting, this completes it */

        if (s->want_write || connecting) {
            if (tsr_conn_on_write(s->conn) < 0) {
                return tsr_sync_failed(s, name);
            }

            if (connecting && s->conn->connected) {
                continue;
            }
        }

        now = tsr_now_ms();

        if (now >= until) {
            tsr_sync_error(s, TSR_ETIMEDOUT, "%s %s %s timed out after %d ms",
                           name, connecting ? "to" : "on", s->addr, ms);
            break;
        }

        /* connecting: TCP needs a write event, TLS says what it needs */

        pfd.fd = s->conn->fd;
        pfd.events = (short) ((s->want_read ? POLLIN : 0)
                              | (s->want_write ? POLLOUT : 0));
        pfd.revents = 0;

        if (pfd.events == 0) {
            pfd.events = POLLOUT;
        }

        n = poll(&pfd, 1, (int) (until - now));

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            tsr_sync_error(s, TSR_ECONN, "%s on %s failed: poll(): %s",
                           name, s->addr, strerror(errno));
            break;
        }

        if (n == 0 || !(pfd.revents & (POLLIN | POLLERR | POLLHUP))) {
            continue;
        }

        do {
            r = tsr_conn_on_read(s->conn);

            if (r < 0) {
                return tsr_sync_failed(s, name);
            }

            if (tsr_conn_pending(s->conn) > TSR_RESP_MAX_PENDING) {
                tsr_sync_error(s, TSR_EPROTO, "%s on %s failed: a reply of "
                               "more than %d bytes", name, s->addr,
                               TSR_RESP_MAX_PENDING);
                goto failed;
            }

        } while (r == TSR_CONN_READ_SIZE && s->count == 0);
    }

failed:

    tsr_conn_free(s->conn);
    s->conn = NULL;

    return s->rc;
}


/* the connection has ended: why, as the step's failure */

static int
tsr_sync_failed(tsr_sync_t *s, const char *name)
{
    if (s->why[0] == '\0') {
        tsr_sync_error(s, TSR_ECONN, "%s on %s failed: not connected", name,
                       s->addr);
        return TSR_ECONN;
    }

    if (strcmp(name, "connect") == 0) {
        tsr_sync_error(s, s->why_rc, "cannot connect to %s: %s", s->addr,
                       strncmp(s->why, "connect: ", 9) == 0
                       ? s->why + 9 : s->why);

    } else {
        tsr_sync_error(s, s->why_rc, "%s on %s failed: %s", name, s->addr,
                       s->why);
    }

    s->why[0] = '\0';

    return s->rc;
}


static void
tsr_sync_error(tsr_sync_t *s, int rc, const char *fmt, ...)
{
    va_list  args;

    s->rc = rc;

    va_start(args, fmt);
    tsr_verrf(s->errstr, sizeof(s->errstr), fmt, args);
    va_end(args);
}


static void
tsr_sync_on_reply(tsr_conn_t *c, redisReply *reply, void *data)
{
    tsr_sync_t   *s = data;
    size_t        i, size;
    redisReply  **replies;

    if (reply == NULL) {
        return;
    }

    if (s->expected > 0) {
        s->expected--;
    }

    if (s->count == s->size) {
        size = s->size ? 2 * s->size : TSR_SYNC_REPLIES_MIN;

        replies = OPENSSL_malloc(size * sizeof(redisReply *));
        if (replies == NULL) {
            /* left to tsr_conn to free; the caller sees a timeout */
            return;
        }

        for (i = 0; i < s->count; i++) {
            replies[i] = s->replies[(s->first + i) % s->size];
        }

        OPENSSL_free(s->replies);
        s->replies = replies;
        s->first = 0;
        s->size = size;
    }

    s->replies[(s->first + s->count) % s->size] = reply;
    s->count++;

    tsr_conn_keep(c);
}


static void
tsr_sync_add_read(void *data)
{
    tsr_sync_t  *s = data;

    s->want_read = 1;
}


static void
tsr_sync_del_read(void *data)
{
    tsr_sync_t  *s = data;

    s->want_read = 0;
}


static void
tsr_sync_add_write(void *data)
{
    tsr_sync_t  *s = data;

    s->want_write = 1;
}


static void
tsr_sync_del_write(void *data)
{
    tsr_sync_t  *s = data;

    s->want_write = 0;
}


/* the connection ends by itself: keep why, it is about to be freed */

static void
tsr_sync_cleanup(void *data)
{
    tsr_sync_t  *s = data;

    if (s->conn == NULL) {
        return;
    }

    if (s->conn->err) {
        (void) snprintf(s->why, sizeof(s->why), "%s", s->conn->errstr);
        s->why_rc = (s->conn->err == TSR_CONN_EPROTO) ? TSR_EPROTO
                : (s->conn->err == TSR_CONN_ENOMEM) ? TSR_ENOMEM : TSR_ECONN;
    }

    s->conn = NULL;
    s->expected = 0;
}


int
tsr_sync_closed(tsr_sync_t *s)
{
    int            n;
    struct pollfd  pfd;

    if (s->conn == NULL) {
        return 1;
    }

    pfd.fd = s->conn->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    do {
        n = poll(&pfd, 1, 0);
    } while (n == -1 && errno == EINTR);

    return n != 0;
}


void
tsr_sync_set_deadline(tsr_sync_t *s, uint64_t deadline)
{
    s->deadline = deadline;
}


void
tsr_sync_wipe(tsr_sync_t *s)
{
    if (s->conn != NULL && tsr_conn_pending(s->conn) == 0) {
        tsr_conn_wipe_input(s->conn);
    }
}


void
tsr_sync_free(tsr_sync_t *s)
{
    if (s == NULL) {
        return;
    }

    if (s->conn != NULL) {
        tsr_conn_free(s->conn);
        s->conn = NULL;
    }

    while (s->count > 0) {
        freeReplyObject(s->replies[s->first]);
        s->first = (s->first + 1) % s->size;
        s->count--;
    }

    OPENSSL_free(s->replies);
    OPENSSL_clear_free(s, sizeof(tsr_sync_t));
}
