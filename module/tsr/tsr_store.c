
/*
 * The synchronous store: a blocking hiredis client moving opaque values
 * with a TTL, for start-up, command line tools, tests and hosts without
 * an event loop.  Every connect and command is bounded by a timeout.
 *
 * Host names are resolved by hiredis with a blocking getaddrinfo() that no
 * timeout covers; hosts that must not stall (nginx workers) should pass
 * addresses.  hiredis writes with write(): a closed peer raises SIGPIPE,
 * which the host must ignore (nginx does).  A store is not thread-safe:
 * one per thread (for nginx, per worker).
 */


#include "tsr_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>


#define TSR_STORE_SUN_PATH  sizeof(((struct sockaddr_un *) 0)->sun_path)

/* parameters seen while parsing an address */
#define TSR_STORE_PASSWORD_FILE  0x01
#define TSR_STORE_USER           0x02
#define TSR_STORE_DB             0x04


struct tsr_store_s {
    redisContext       *ctx;
    char               *host;
    char               *unix_path;
    char               *user;
    char               *password;
    size_t              password_len;
    int                 port;
    int                 db;
    int                 connect_timeout_ms;
    int                 command_timeout_ms;
    int                 backoff_min_ms;
    int                 backoff_max_ms;
    int                 backoff_ms;         /* the next failure's delay */
    int64_t             next_attempt;       /* monotonic ms; 0: any time */
    unsigned            getdel_eval:1;      /* Redis without GETDEL */
    unsigned            never_block:1;
    tsr_log_pt          log;
    void               *log_data;
    tsr_store_stats_t   stats;
    char                addr[TSR_STORE_ADDR_LEN];
    char                last[TSR_STORE_ERR_LEN];    /* why we are down */
    char                err[TSR_STORE_ERR_LEN];
};


static void tsr_store_errf(char *err, size_t errlen, const char *fmt, ...)
    TSR_STORE_PRINTF(3, 4);
static void tsr_store_set_error(tsr_store_t *st, const char *fmt, ...)
    TSR_STORE_PRINTF(2, 3);
static void tsr_store_log(tsr_store_t *st, int level, const char *fmt, ...)
    TSR_STORE_PRINTF(3, 4);
static int64_t tsr_store_now(void);
static char *tsr_store_conf_copy(char *buf, size_t buflen, size_t *used,
    const char *s, size_t len);
static int tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr,
    size_t len, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static int tsr_store_parse_port(const char *s, size_t len);
static int tsr_store_parse_param(tsr_store_conf_t *conf, const char *param,
    size_t len, char *buf, size_t buflen, size_t *used, unsigned *seen,
    char *err, size_t errlen);
static int tsr_store_read_password(tsr_store_conf_t *conf, const char *name,
    size_t namelen, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static struct timeval tsr_store_timeval(int ms);
static int tsr_store_blocking(tsr_store_t *st, const char *name);
static int tsr_store_ready(tsr_store_t *st);
static int tsr_store_closed(tsr_store_t *st);
static int tsr_store_open(tsr_store_t *st);
static int tsr_store_setup_reply(tsr_store_t *st, redisReply *reply,
    const char *name);
static void tsr_store_drop(tsr_store_t *st);
static int tsr_store_command(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, ...);
static int tsr_store_io_error(tsr_store_t *st, const char *name, int err);
static void tsr_store_reply_error(tsr_store_t *st, const char *name,
    const redisReply *reply);
static int tsr_store_fetch(tsr_store_t *st, int del, const char *key,
    size_t keylen, uint8_t *buf, size_t *len);
static int tsr_store_getdel_reply(tsr_store_t *st, const char *key,
    size_t keylen, redisReply **reply);
static void tsr_store_free_reply(tsr_store_t *st, redisReply *reply,
    int wipe);
static void tsr_store_wipe_reply(redisReply *reply);


/*
 * GETDEL for Redis before 6.2: a script runs atomically as well.  GET of
 * a missing key is false in Lua, which EVAL returns as nil; GET of a key
 * holding another type raises WRONGTYPE, as GETDEL does.
 */
static const char  tsr_store_getdel_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v then redis.call('DEL', KEYS[1]) end "
    "return v";


/*
 * Fills the address fields of "conf" (host, port, unix_path, user,
 * password, db) and leaves the rest alone, so timeouts and the log
 * callback may be set before or after.
 */

int
tsr_store_conf_parse(tsr_store_conf_t *conf, const char *address, char *buf,
    size_t buflen, char *err, size_t errlen)
{
    int          first;
    size_t       used, len;
    unsigned     seen;
    const char  *p, *tok;

    if (conf == NULL || address == NULL || buf == NULL || buflen == 0) {
        tsr_store_errf(err, errlen, "invalid arguments");
        return TSR_EINVAL;
    }

    conf->host = NULL;
    conf->port = 0;
    conf->unix_path = NULL;
    conf->user = NULL;
    conf->password = NULL;
    conf->db = 0;

    used = 0;
    seen = 0;
    first = 1;
    p = address;

    for ( ;; ) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }

        if (*p == '\0') {
            break;
        }

        tok = p;

        while (*p != '\0' && *p != ' ' && *p != '\t') {
            p++;
        }

        len = p - tok;

        if (first) {
            if (tsr_store_parse_addr(conf, tok, len, buf, buflen, &used, err,
                                     errlen)
                != TSR_OK)
            {
                goto failed;
            }

            first = 0;
            continue;
        }

        if (tsr_store_parse_param(conf, tok, len, buf, buflen, &used, &seen,
                                  err, errlen)
            != TSR_OK)
        {
            goto failed;
        }
    }

    if (first) {
        tsr_store_errf(err, errlen, "empty redis address");
        goto failed;
    }

    if (conf->user != NULL && conf->password == NULL) {
        tsr_store_errf(err, errlen,
                       "redis parameter \"user\" needs \"password_file\"");
        goto failed;
    }

    return TSR_OK;

failed:

    /* a password may already be in "buf" */
    OPENSSL_cleanse(buf, buflen);

    conf->host = NULL;
    conf->port = 0;
    conf->unix_path = NULL;
    conf->user = NULL;
    conf->password = NULL;
    conf->db = 0;

    return TSR_EINVAL;
}


static int
tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr, size_t len,
    char *buf, size_t buflen, size_t *used, char *err, size_t errlen)
{
    int          port;
    size_t       i, hlen;
    const char  *host, *rest, *end, *colon;

    end = addr + len;

    if (len >= sizeof("unix:") - 1
        && memcmp(addr, "unix:", sizeof("unix:") - 1) == 0)
    {
        host = addr + sizeof("unix:") - 1;
        hlen = end - host;

        if (hlen == 0) {
            tsr_store_errf(err, errlen, "no path in redis address \"%.*s\"",
                           (int) len, addr);
            return TSR_EINVAL;
        }

        if (hlen >= TSR_STORE_SUN_PATH) {
            tsr_store_errf(err, errlen,
                           "unix socket path too long in redis address "
                           "\"%.*s\"", (int) len, addr);
            return TSR_EINVAL;
        }

        conf->unix_path = tsr_store_conf_copy(buf, buflen, used, host, hlen);
        if (conf->unix_path == NULL) {
            tsr_store_errf(err, errlen, "no room for redis address \"%.*s\"",
                           (int) len, addr);
            return TSR_EINVAL;
        }

        return TSR_OK;
    }

    if (addr[0] == '[') {
        host = addr + 1;
        rest = memchr(host, ']', end - host);

        if (rest == NULL || rest == host
            || memchr(host, ':', rest - host) == NULL)
        {
            tsr_store_errf(err, errlen, "invalid redis address \"%.*s\"",
                           (int) len, addr);
            return TSR_EINVAL;
        }

        hlen = rest - host;
        rest++;

        if (rest == end) {
            port = TSR_STORE_DEFAULT_PORT;

        } else if (*rest == ':') {
            port = tsr_store_parse_port(rest + 1, end - rest - 1);

        } else {
            port = -1;
        }

    } else {
        host = addr;
        colon = memchr(addr, ':', len);

        if (colon == NULL) {
            hlen = len;
            port = TSR_STORE_DEFAULT_PORT;

        } else if (memchr(colon + 1, ':', end - colon - 1) != NULL) {
            tsr_store_errf(err, errlen,
                           "invalid redis address \"%.*s\": an IPv6 address "
                           "needs brackets, as in \"[::1]:6379\"",
                           (int) len, addr);
            return TSR_EINVAL;

        } else {
            hlen = colon - addr;
            port = tsr_store_parse_port(colon + 1, end - colon - 1);
        }

        if (hlen == 0) {
            tsr_store_errf(err, errlen, "no host in redis address \"%.*s\"",
                           (int) len, addr);
            return TSR_EINVAL;
        }
    }

    if (port == -1) {
        tsr_store_errf(err, errlen, "invalid port in redis address \"%.*s\"",
                       (int) len, addr);
        return TSR_EINVAL;
    }

    for (i = 0; i < hlen; i++) {
        if ((host[i] >= 'a' && host[i] <= 'z')
            || (host[i] >= 'A' && host[i] <= 'Z')
            || (host[i] >= '0' && host[i] <= '9')
            || strchr(".-_:%", host[i]) != NULL)
        {
            continue;
        }

        tsr_store_errf(err, errlen, "invalid host in redis address \"%.*s\"",
                       (int) len, addr);
        return TSR_EINVAL;
    }

    conf->host = tsr_store_conf_copy(buf, buflen, used, host, hlen);
    if (conf->host == NULL) {
        tsr_store_errf(err, errlen, "no room for redis address \"%.*s\"",
                       (int) len, addr);
        return TSR_EINVAL;
    }

    conf->port = port;

    return TSR_OK;
}


/* 1..65535, or -1 */

static int
tsr_store_parse_port(const char *s, size_t len)
{
    int     port;
    size_t  i;

    if (len == 0 || len > 5) {
        return -1;
    }

    port = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        port = port * 10 + (s[i] - '0');
    }

    if (port < 1 || port > 65535) {
        return -1;
    }

    return port;
}


static int
tsr_store_parse_param(tsr_store_conf_t *conf, const char *param, size_t len,
    char *buf, size_t buflen, size_t *used, unsigned *seen, char *err,
    size_t errlen)
{
    size_t       i, nlen, vlen;
    unsigned     bit;
    long long    db;
    const char  *value, *msg;

    value = memchr(param, '=', len);

    /*
     * Messages quote the name only, up to "=": someone may try
     * "password=..." and the error log is no place for it.
     */
    nlen = (value != NULL) ? (size_t) (value - param) : len;
    msg = "unknown";

    if (value == NULL) {
        goto failed;
    }

    value++;
    vlen = len - nlen - 1;

    if (nlen == sizeof("password_file") - 1
        && memcmp(param, "password_file", nlen) == 0)
    {
        bit = TSR_STORE_PASSWORD_FILE;

    } else if (nlen == sizeof("user") - 1 && memcmp(param, "user", nlen) == 0) {
        bit = TSR_STORE_USER;

    } else if (nlen == sizeof("db") - 1 && memcmp(param, "db", nlen) == 0) {
        bit = TSR_STORE_DB;

    } else {
        goto failed;
    }

    if (*seen & bit) {
        msg = "duplicate";
        goto failed;
    }

    *seen |= bit;

    if (vlen == 0) {
        msg = "empty";
        goto failed;
    }

    switch (bit) {

    case TSR_STORE_PASSWORD_FILE:
        return tsr_store_read_password(conf, value, vlen, buf, buflen, used,
                                       err, errlen);

    case TSR_STORE_USER:
        conf->user = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (conf->user == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    default: /* TSR_STORE_DB */
        msg = "invalid";
        nlen = len;
        db = 0;

        for (i = 0; i < vlen; i++) {
            if (value[i] < '0' || value[i] > '9') {
                goto failed;
            }

            db = db * 10 + (value[i] - '0');

            if (db > INT_MAX) {
                goto failed;
            }
        }

        conf->db = (int) db;

        return TSR_OK;
    }

failed:

    tsr_store_errf(err, errlen, "%s redis parameter \"%.*s\"", msg, (int) nlen,
                   param);

    return TSR_EINVAL;
}


/*
 * Reads the password into "buf", without one trailing newline (an editor
 * adds it; "\r\n" counts as one).
 */

static int
tsr_store_read_password(tsr_store_conf_t *conf, const char *name,
    size_t namelen, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen)
{
    int       fd;
    char     *pw, path[PATH_MAX];
    size_t    room, n;
    ssize_t   r;

    fd = -1;
    n = 0;
    pw = buf + *used;
    room = buflen - *used;

    if (namelen >= sizeof(path)) {
        tsr_store_errf(err, errlen, "password file name too long");
        return TSR_EINVAL;
    }

    memcpy(path, name, namelen);
    path[namelen] = '\0';

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        tsr_store_errf(err, errlen, "cannot open password file \"%s\": %s",
                       path, strerror(errno));
        goto failed;
    }

    for ( ;; ) {
        if (n == room) {
            tsr_store_errf(err, errlen, "password file \"%s\" is too long",
                           path);
            goto failed;
        }

        r = read(fd, pw + n, room - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            tsr_store_errf(err, errlen, "cannot read password file \"%s\": %s",
                           path, strerror(errno));
            goto failed;
        }

        if (r == 0) {
            break;
        }

        n += r;
    }

    (void) close(fd);
    fd = -1;

    if (n > 0 && pw[n - 1] == '\n') {
        n--;

        if (n > 0 && pw[n - 1] == '\r') {
            n--;
        }
    }

    if (n == 0) {
        tsr_store_errf(err, errlen, "password file \"%s\" is empty", path);
        goto failed;
    }

    if (memchr(pw, '\0', n) != NULL) {
        tsr_store_errf(err, errlen, "password file \"%s\" holds a NUL byte",
                       path);
        goto failed;
    }

    /* n < room: the loop stopped at end of file with room left */
    pw[n] = '\0';
    *used += n + 1;
    conf->password = pw;

    return TSR_OK;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    OPENSSL_cleanse(pw, n);

    return TSR_EINVAL;
}


static char *
tsr_store_conf_copy(char *buf, size_t buflen, size_t *used, const char *s,
    size_t len)
{
    char  *p;

    if (buflen - *used < len + 1) {
        return NULL;
    }

    p = buf + *used;
    memcpy(p, s, len);
    p[len] = '\0';
    *used += len + 1;

    return p;
}


tsr_store_t *
tsr_store_create(const tsr_store_conf_t *conf, char *err, size_t errlen)
{
    tsr_store_t       *st;
    tsr_store_conf_t   dflt;

    if (conf == NULL) {
        memset(&dflt, 0, sizeof(dflt));
        conf = &dflt;
    }

    if (conf->port < 0 || conf->port > 65535) {
        tsr_store_errf(err, errlen, "invalid redis port %d", conf->port);
        return NULL;
    }

    if (conf->db < 0) {
        tsr_store_errf(err, errlen, "invalid redis db %d", conf->db);
        return NULL;
    }

    if (conf->connect_timeout_ms < 0 || conf->command_timeout_ms < 0
        || conf->backoff_min_ms < 0 || conf->backoff_max_ms < 0)
    {
        tsr_store_errf(err, errlen, "negative redis timeout");
        return NULL;
    }

    if (conf->unix_path != NULL
        && (conf->unix_path[0] == '\0'
            || strlen(conf->unix_path) >= TSR_STORE_SUN_PATH))
    {
        tsr_store_errf(err, errlen, "invalid unix socket path \"%s\"",
                       conf->unix_path);
        return NULL;
    }

    if (conf->unix_path == NULL && conf->host != NULL
        && conf->host[0] == '\0')
    {
        tsr_store_errf(err, errlen, "empty redis host");
        return NULL;
    }

    if (conf->user != NULL
        && (conf->password == NULL || conf->password[0] == '\0'))
    {
        tsr_store_errf(err, errlen, "redis user \"%s\" needs a password",
                       conf->user);
        return NULL;
    }

    st = calloc(1, sizeof(tsr_store_t));
    if (st == NULL) {
        goto failed;
    }

    st->port = conf->port ? conf->port : TSR_STORE_DEFAULT_PORT;
    st->db = conf->db;
    st->connect_timeout_ms = conf->connect_timeout_ms
                             ? conf->connect_timeout_ms
                             : TSR_STORE_CONNECT_TIMEOUT;
    st->command_timeout_ms = conf->command_timeout_ms
                             ? conf->command_timeout_ms
                             : TSR_STORE_COMMAND_TIMEOUT;
    st->backoff_min_ms = conf->backoff_min_ms ? conf->backoff_min_ms
                                              : TSR_STORE_BACKOFF_MIN;
    st->backoff_max_ms = conf->backoff_max_ms ? conf->backoff_max_ms
                                              : TSR_STORE_BACKOFF_MAX;
    st->never_block = conf->never_block;
    st->log = conf->log;
    st->log_data = conf->log_data;

    if (st->backoff_max_ms < st->backoff_min_ms) {
        tsr_store_errf(err, errlen, "redis backoff_max_ms %d is below "
                       "backoff_min_ms %d", st->backoff_max_ms,
                       st->backoff_min_ms);
        free(st);
        return NULL;
    }

    st->backoff_ms = st->backoff_min_ms;

    if (conf->unix_path != NULL) {
        st->unix_path = strdup(conf->unix_path);
        if (st->unix_path == NULL) {
            goto failed;
        }

        snprintf(st->addr, sizeof(st->addr), "unix:%s", st->unix_path);

    } else {
        st->host = strdup(conf->host != NULL ? conf->host
                                             : TSR_STORE_DEFAULT_HOST);
        if (st->host == NULL) {
            goto failed;
        }

        snprintf(st->addr, sizeof(st->addr),
                 strchr(st->host, ':') != NULL ? "[%s]:%d" : "%s:%d",
                 st->host, st->port);
    }

    if (conf->user != NULL) {
        st->user = strdup(conf->user);
        if (st->user == NULL) {
            goto failed;
        }
    }

    if (conf->password != NULL && conf->password[0] != '\0') {
        st->password_len = strlen(conf->password);

        st->password = malloc(st->password_len + 1);
        if (st->password == NULL) {
            goto failed;
        }

        memcpy(st->password, conf->password, st->password_len + 1);
    }

    return st;

failed:

    tsr_store_destroy(st);
    tsr_store_errf(err, errlen, "out of memory");

    return NULL;
}


int
tsr_store_connect(tsr_store_t *st)
{
    int  rc;

    if (st == NULL || tsr_store_blocking(st, "connect")) {
        return TSR_EINVAL;
    }

    rc = tsr_store_ready(st);

    if (rc != TSR_OK) {
        st->stats.errors++;
    }

    return rc;
}


int
tsr_store_get(tsr_store_t *st, const char *key, size_t keylen, uint8_t *buf,
    size_t *len)
{
    return tsr_store_fetch(st, 0, key, keylen, buf, len);
}


int
tsr_store_getdel(tsr_store_t *st, const char *key, size_t keylen,
    uint8_t *buf, size_t *len)
{
    return tsr_store_fetch(st, 1, key, keylen, buf, len);
}


int
tsr_store_set(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms)
{
    int          rc;
    redisReply  *reply;

    if (st == NULL || tsr_store_blocking(st, "SET")) {
        return TSR_EINVAL;
    }

    if (key == NULL || keylen == 0 || keylen > TSR_MAX_KEY_NAME
        || (val == NULL && vlen != 0))
    {
        tsr_store_set_error(st, "SET: invalid arguments");
        return TSR_EINVAL;
    }

    /* PX takes a signed 64-bit number of milliseconds */
    if (ttl_ms == 0 || ttl_ms > (uint64_t) INT64_MAX) {
        tsr_store_set_error(st, "SET: invalid ttl %llu ms",
                            (unsigned long long) ttl_ms);
        return TSR_EINVAL;
    }

    if (vlen > TSR_MAX_VALUE) {
        tsr_store_set_error(st, "SET: value of %zu bytes is over the limit "
                            "of %d", vlen, TSR_MAX_VALUE);
        return TSR_ETOOBIG;
    }

    st->stats.sets++;

    rc = tsr_store_command(st, &reply, "SET", "SET %b %b PX %llu",
                           key, keylen, val != NULL ? (const void *) val : "",
                           vlen, (unsigned long long) ttl_ms);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_STATUS
        && reply->len == 2 && memcmp(reply->str, "OK", 2) == 0)
    {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "SET", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_store_set_error(st, "SET on %s: unexpected reply type %d",
                            st->addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_store_free_reply(st, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    st->stats.errors++;

    return rc;
}


int
tsr_store_del(tsr_store_t *st, const char *key, size_t keylen)
{
    int          rc;
    redisReply  *reply;

    if (st == NULL || tsr_store_blocking(st, "DEL")) {
        return TSR_EINVAL;
    }

    if (key == NULL || keylen == 0 || keylen > TSR_MAX_KEY_NAME) {
        tsr_store_set_error(st, "DEL: invalid arguments");
        return TSR_EINVAL;
    }

    st->stats.dels++;

    rc = tsr_store_command(st, &reply, "DEL", "DEL %b", key, keylen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "DEL", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_store_set_error(st, "DEL on %s: unexpected reply type %d",
                            st->addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_store_free_reply(st, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    st->stats.errors++;

    return rc;
}


const char *
tsr_store_error(const tsr_store_t *st)
{
    if (st == NULL) {
        return "no store";
    }

    return st->err;
}


void
tsr_store_stats(const tsr_store_t *st, tsr_store_stats_t *stats)
{
    if (stats == NULL) {
        return;
    }

    if (st == NULL) {
        memset(stats, 0, sizeof(tsr_store_stats_t));
        return;
    }

    *stats = st->stats;
}


void
tsr_store_destroy(tsr_store_t *st)
{
    if (st == NULL) {
        return;
    }

    if (st->ctx != NULL) {
        redisFree(st->ctx);
    }

    if (st->password != NULL) {
        OPENSSL_cleanse(st->password, st->password_len);
        free(st->password);
    }

    free(st->host);
    free(st->unix_path);
    free(st->user);
    free(st);
}


/*
 * A miss and a bad value both return TSR_NOT_FOUND with *len = 0; stats
 * count them apart (misses are nil replies only).
 */

static int
tsr_store_fetch(tsr_store_t *st, int del, const char *key, size_t keylen,
    uint8_t *buf, size_t *len)
{
    int          rc;
    size_t       size;
    const char  *name;
    redisReply  *reply;

    name = del ? "GETDEL" : "GET";

    if (st == NULL || tsr_store_blocking(st, name)) {
        return TSR_EINVAL;
    }

    if (key == NULL || keylen == 0 || keylen > TSR_MAX_KEY_NAME
        || buf == NULL || len == NULL)
    {
        tsr_store_set_error(st, "%s: invalid arguments", name);
        return TSR_EINVAL;
    }

    size = *len;
    *len = 0;

    st->stats.gets++;

    if (del) {
        rc = tsr_store_getdel_reply(st, key, keylen, &reply);

    } else {
        rc = tsr_store_command(st, &reply, name, "GET %b", key, keylen);
    }

    if (rc != TSR_OK) {
        goto failed;
    }

    switch (reply->type) {

    case REDIS_REPLY_NIL:
        st->stats.misses++;
        rc = TSR_NOT_FOUND;
        break;

    case REDIS_REPLY_STRING:
        if (reply->len > TSR_MAX_VALUE || reply->len > size) {
            st->stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: value of %zu bytes under a "
                                "key of %zu bytes is over the limit of %zu",
                                name, st->addr, reply->len, keylen,
                                size < TSR_MAX_VALUE ? size
                                                     : (size_t) TSR_MAX_VALUE);
            rc = TSR_NOT_FOUND;
            break;
        }

        memcpy(buf, reply->str, reply->len);
        *len = reply->len;
        st->stats.hits++;
        rc = TSR_OK;
        break;

    case REDIS_REPLY_ERROR:
        if (reply->str != NULL && strstr(reply->str, "WRONGTYPE") != NULL) {
            st->stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: a key of %zu bytes holds "
                                "another type", name, st->addr, keylen);
            rc = TSR_NOT_FOUND;
            break;
        }

        tsr_store_reply_error(st, name, reply);
        rc = TSR_ESERVER;
        break;

    default:
        st->stats.bad_values++;
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d for a key "
                            "of %zu bytes", name, st->addr, reply->type,
                            keylen);
        rc = TSR_NOT_FOUND;
        break;
    }

    tsr_store_free_reply(st, reply, 1);

    if (rc >= 0) {
        return rc;
    }

failed:

    st->stats.errors++;

    return rc;
}


/*
 * GETDEL, or its script once Redis said it does not know the command
 * (before 6.2); the switch is for the life of the store.
 */

static int
tsr_store_getdel_reply(tsr_store_t *st, const char *key, size_t keylen,
    redisReply **reply)
{
    int          rc;
    redisReply  *r;

    if (!st->getdel_eval) {
        rc = tsr_store_command(st, &r, "GETDEL", "GETDEL %b", key, keylen);
        if (rc != TSR_OK) {
            return rc;
        }

        if (r->type != REDIS_REPLY_ERROR
            || r->len < sizeof("ERR unknown command") - 1
            || memcmp(r->str, "ERR unknown command",
                      sizeof("ERR unknown command") - 1)
               != 0)
        {
            *reply = r;
            return TSR_OK;
        }

        tsr_store_free_reply(st, r, 1);
        st->getdel_eval = 1;

        tsr_store_log(st, TSR_LOG_INFO, "redis at %s has no GETDEL, "
                      "using EVAL instead", st->addr);
    }

    return tsr_store_command(st, reply, "EVAL", "EVAL %s 1 %b",
                             tsr_store_getdel_lua, key, keylen);
}


/* with "never_block" a blocking call is a bug of the caller's */

static int
tsr_store_blocking(tsr_store_t *st, const char *name)
{
    if (!st->never_block) {
        return 0;
    }

    tsr_store_set_error(st, "%s: synchronous redis calls are disabled "
                        "(never_block)", name);

    return 1;
}


/*
 * Connects unless connected or backing off.  A connection the server has
 * closed while idle (a restart, its "timeout" setting) is replaced at once.
 */

static int
tsr_store_ready(tsr_store_t *st)
{
    int64_t  now;

    if (st->ctx != NULL) {
        if (!tsr_store_closed(st)) {
            return TSR_OK;
        }

        tsr_store_log(st, TSR_LOG_INFO, "redis at %s closed the connection",
                      st->addr);

        redisFree(st->ctx);
        st->ctx = NULL;

        return tsr_store_open(st);
    }

    now = tsr_store_now();

    if (now < st->next_attempt) {
        tsr_store_set_error(st, "redis unavailable, next attempt in %lld ms: "
                            "%s", (long long) (st->next_attempt - now),
                            st->last);
        return TSR_ECONN;
    }

    return tsr_store_open(st);
}


/*
 * An idle connection has nothing to read: anything readable is the end of
 * the stream, an error, or data we did not ask for.
 */

static int
tsr_store_closed(tsr_store_t *st)
{
    int            n;
    struct pollfd  pfd;

    pfd.fd = st->ctx->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;

    do {
        n = poll(&pfd, 1, 0);
    } while (n == -1 && errno == EINTR);

    return n != 0;
}


static int
tsr_store_open(tsr_store_t *st)
{
    int              rc, err;
    const char      *call;
    redisReply      *reply;
    struct timeval   tv;

    tv = tsr_store_timeval(st->connect_timeout_ms);
    errno = 0;

    if (st->unix_path != NULL) {
        call = "redisConnectUnixWithTimeout()";
        st->ctx = redisConnectUnixWithTimeout(st->unix_path, tv);

    } else {
        call = "redisConnectWithTimeout()";
        st->ctx = redisConnectWithTimeout(st->host, st->port, tv);
    }

    err = errno;

    if (st->ctx == NULL) {
        tsr_store_set_error(st, "%s to %s failed: out of memory", call,
                            st->addr);
        rc = TSR_ENOMEM;
        goto failed;
    }

    if (st->ctx->err) {
        if (st->ctx->err == REDIS_ERR_IO && err == ETIMEDOUT) {
            tsr_store_set_error(st, "%s to %s timed out after %d ms", call,
                                st->addr, st->connect_timeout_ms);
            rc = TSR_ETIMEDOUT;

        } else {
            tsr_store_set_error(st, "%s to %s failed: %s", call, st->addr,
                                st->ctx->errstr);
            rc = TSR_ECONN;
        }

        goto failed;
    }

    if (redisSetTimeout(st->ctx, tsr_store_timeval(st->command_timeout_ms))
        != REDIS_OK)
    {
        tsr_store_set_error(st, "redisSetTimeout() on %s failed: %s",
                            st->addr, st->ctx->errstr);
        rc = TSR_ECONN;
        goto failed;
    }

    if (st->password != NULL) {
        errno = 0;

        if (st->user != NULL) {
            reply = redisCommand(st->ctx, "AUTH %s %b", st->user,
                                 st->password, st->password_len);

        } else {
            reply = redisCommand(st->ctx, "AUTH %b", st->password,
                                 st->password_len);
        }

        rc = tsr_store_setup_reply(st, reply, "AUTH");
        if (rc != TSR_OK) {
            goto failed;
        }
    }

    if (st->db != 0) {
        errno = 0;
        reply = redisCommand(st->ctx, "SELECT %d", st->db);

        rc = tsr_store_setup_reply(st, reply, "SELECT");
        if (rc != TSR_OK) {
            goto failed;
        }
    }

    st->stats.connects++;
    st->backoff_ms = st->backoff_min_ms;
    st->next_attempt = 0;
    st->last[0] = '\0';

    tsr_store_log(st, TSR_LOG_INFO, "connected to redis at %s", st->addr);

    return TSR_OK;

failed:

    tsr_store_drop(st);

    return rc;
}


/* a reply to AUTH or SELECT, freed here */

static int
tsr_store_setup_reply(tsr_store_t *st, redisReply *reply, const char *name)
{
    int  rc;

    if (reply == NULL) {
        rc = tsr_store_io_error(st, name, errno);

    } else if (reply->type == REDIS_REPLY_STATUS) {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, name, reply);
        rc = TSR_ESERVER;

    } else {
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d", name,
                            st->addr, reply->type);
        rc = TSR_EPROTO;
    }

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    return rc;
}


/*
 * Closes the connection and schedules the next attempt; the delay doubles
 * with each failure in a row, up to backoff_max_ms.
 */

static void
tsr_store_drop(tsr_store_t *st)
{
    if (st->ctx != NULL) {
        redisFree(st->ctx);
        st->ctx = NULL;
    }

    st->next_attempt = tsr_store_now() + st->backoff_ms;

    memcpy(st->last, st->err, sizeof(st->last));

    tsr_store_log(st, TSR_LOG_ERR, "%s, next attempt in %d ms", st->err,
                  st->backoff_ms);

    st->backoff_ms = (st->backoff_ms > st->backoff_max_ms / 2)
                     ? st->backoff_max_ms : st->backoff_ms * 2;
}


/*
 * Sends a command (hiredis format, "%b" for binary strings) and reads its
 * reply; an I/O error or a timeout drops the connection.  The caller
 * frees *reply.
 */

static int
tsr_store_command(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int       rc, err;
    void     *r;
    va_list   args;

    rc = tsr_store_ready(st);
    if (rc != TSR_OK) {
        return rc;
    }

    errno = 0;

    va_start(args, fmt);
    r = redisvCommand(st->ctx, fmt, args);
    va_end(args);

    err = errno;

    if (r == NULL) {
        rc = tsr_store_io_error(st, name, err);
        tsr_store_drop(st);
        return rc;
    }

    *reply = r;

    return TSR_OK;
}


/*
 * hiredis reports a read or write past SO_RCVTIMEO/SO_SNDTIMEO as an I/O
 * error with errno EAGAIN.
 */

static int
tsr_store_io_error(tsr_store_t *st, const char *name, int err)
{
    if (st->ctx->err == REDIS_ERR_IO
        && (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT))
    {
        tsr_store_set_error(st, "%s on %s timed out after %d ms", name,
                            st->addr, st->command_timeout_ms);
        return TSR_ETIMEDOUT;
    }

    tsr_store_set_error(st, "%s on %s failed: %s", name, st->addr,
                        st->ctx->err ? st->ctx->errstr : "no reply");

    switch (st->ctx->err) {

    case REDIS_ERR_PROTOCOL:
        return TSR_EPROTO;

    case REDIS_ERR_OOM:
        return TSR_ENOMEM;

    default:
        return TSR_ECONN;
    }
}


/*
 * Error replies may echo arguments ("ERR unknown command 'X', with args
 * beginning with: ..."), and arguments are key names and values: keep the
 * text before that part, printable and short.
 */

static void
tsr_store_reply_error(tsr_store_t *st, const char *name,
    const redisReply *reply)
{
    char        text[TSR_STORE_REPLY_TEXT];
    size_t      i, n;
    const char  *args;

    n = (reply->str != NULL) ? reply->len : 0;

    if (n != 0) {
        args = strstr(reply->str, ", with args");
        if (args != NULL && (size_t) (args - reply->str) < n) {
            n = args - reply->str;
        }
    }

    if (n > sizeof(text) - 1) {
        n = sizeof(text) - 1;
    }

    for (i = 0; i < n; i++) {
        text[i] = (reply->str[i] >= 0x20 && reply->str[i] < 0x7f)
                  ? reply->str[i] : '?';
    }

    text[n] = '\0';

    tsr_store_set_error(st, "%s on %s failed: %s", name, st->addr, text);
}


/*
 * With "wipe", value bytes are erased from the reply and from hiredis'
 * read buffer first (best effort: hiredis' stack buffer is out of reach).
 */

static void
tsr_store_free_reply(tsr_store_t *st, redisReply *reply, int wipe)
{
    redisReader  *r;

    if (wipe) {
        tsr_store_wipe_reply(reply);

        r = (st->ctx != NULL) ? st->ctx->reader : NULL;

        /* only when nothing is pending, which a synchronous client ensures */
        if (r != NULL && r->buf != NULL && r->pos == r->len) {
            OPENSSL_cleanse(r->buf, sdsalloc(r->buf));
        }
    }

    freeReplyObject(reply);
}


static void
tsr_store_wipe_reply(redisReply *reply)
{
    size_t  i;

    if (reply->type == REDIS_REPLY_ARRAY && reply->element != NULL) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i] != NULL) {
                tsr_store_wipe_reply(reply->element[i]);
            }
        }
    }

    if (reply->str != NULL) {
        OPENSSL_cleanse(reply->str, reply->len);
    }
}


static struct timeval
tsr_store_timeval(int ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    return tv;
}


static int64_t
tsr_store_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
tsr_store_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


static void
tsr_store_set_error(tsr_store_t *st, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(st->err, sizeof(st->err), fmt, args);
    va_end(args);
}


static void
tsr_store_log(tsr_store_t *st, int level, const char *fmt, ...)
{
    char     msg[TSR_STORE_ERR_LEN + 64];
    va_list  args;

    if (st->log == NULL) {
        return;
    }

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    st->log(level, msg, st->log_data);
}
