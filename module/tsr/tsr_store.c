
/*
 * The store: a hiredis client moving opaque values with a TTL.
 *
 * Synchronous at first: a blocking client for start-up, command line
 * tools, tests and hosts without an event loop.  Every connect and
 * command is bounded by a timeout.  Host names are resolved by hiredis
 * with a blocking getaddrinfo() that no timeout covers; hosts that must
 * not stall (nginx workers) should pass addresses, or give the loop a
 * resolver of their own (tsr_loop_t's resolve()), which the asynchronous
 * side then asks before each connection attempt.
 *
 * Asynchronous after tsr_store_set_async(): connections of our own
 * (tsr_conn.c, hiredis' reader parses) on the host's event loop
 * (tsr_loop_t), which never waits on the network.  Lookups carry
 * deadlines kept here, in one list and one loop timer; writes are fire
 * and forget.  A circuit breaker, an in-flight limit and bounds on
 * commands awaiting replies and on bytes not yet written keep a slow or
 * stopped Redis from costing more than refusals.
 *
 * The synchronous side writes with hiredis' write(): a closed peer
 * raises SIGPIPE, which the host must ignore (nginx does).  A store is
 * not thread-safe: one per thread (for nginx, per worker).
 *
 * What a store is (one server, Redis Cluster, Sentinel) is decided once,
 * in tsr_store_create(), by picking its tsr_topo_ops_t (tsr_topo.h); the
 * public calls go through that table.  This file holds the public calls
 * and the single server (tsr_topo_single), whose code every router's
 * node runs; tsr_router.c holds what the routers share, tsr_cluster.c
 * and tsr_sentinel.c what they do not.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "tsr_conn.h"
#include "tsr_caps.h"


#define TSR_STORE_SUN_PATH  sizeof(((struct sockaddr_un *) 0)->sun_path)
#define TSR_STORE_READ_SIZE  16384      /* as hiredis reads */
/*
 * Reads of one socket per event: a Redis that keeps the socket full must
 * not keep the worker from its other connections; the rest is read on
 * the next turn of the loop.
 */
#define TSR_STORE_READS_PER_EVENT  8

/* parameters seen while parsing an address */
#define TSR_STORE_PASSWORD_FILE  0x01
#define TSR_STORE_USER           0x02
#define TSR_STORE_DB             0x04
#define TSR_STORE_MASTER         0x08
#define TSR_STORE_SENTINEL_PASSWORD_FILE  0x10
#define TSR_STORE_SENTINEL_USER  0x20
#define TSR_STORE_ALLOW          0x40
#define TSR_STORE_TLS            0x80
#define TSR_STORE_TLS_CA_FILE    0x100
#define TSR_STORE_TLS_VERIFY     0x200
#define TSR_STORE_TLS_NAME       0x400
#define TSR_STORE_TLS_CERT_FILE  0x800
#define TSR_STORE_TLS_KEY_FILE   0x1000
#define TSR_STORE_TLS_ANY        0x1f00


static char *tsr_store_conf_copy(char *buf, size_t buflen, size_t *used,
    const char *s, size_t len);
static void tsr_store_conf_reset(tsr_store_conf_t *conf);
static int tsr_store_is_numeric(const char *host);
static int tsr_store_parse_uri(tsr_store_conf_t *conf, const char *uri,
    size_t len, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static char *tsr_store_uri_part(char *buf, size_t buflen, size_t *used,
    const char *s, size_t len);
static int tsr_store_parse_db(const char *s, size_t len);
static int tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr,
    size_t len, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static int tsr_store_parse_port(const char *s, size_t len);
static int tsr_store_parse_param(tsr_store_conf_t *conf, const char *param,
    size_t len, char *buf, size_t buflen, size_t *used, unsigned *seen,
    char *err, size_t errlen);
static int tsr_store_read_password(const char *name, size_t namelen,
    char *buf, size_t buflen, size_t *used, const char **out, char *err,
    size_t errlen);
static int tsr_store_blocking(tsr_store_t *st, const char *name);
static int tsr_store_closed(tsr_store_t *st);
static int tsr_store_open(tsr_store_t *st);
static int tsr_store_command(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, ...);
static int tsr_store_sync(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, ...);
static int tsr_store_router_error_sync(tsr_store_t *st,
    const redisReply *reply);
static void tsr_store_router_news(tsr_store_t *st, const redisReply *reply);
static void tsr_store_router_event(tsr_store_t *node, int ev);
static int tsr_store_role_reply(tsr_store_t *st, const redisReply *reply);
static int tsr_store_getdel_reply(tsr_store_t *st, const char *key,
    size_t keylen, redisReply **reply);
static int tsr_store_lookup_reply(tsr_store_t *st, const char *name,
    const redisReply *reply, size_t keylen, size_t size);
static void tsr_store_caps(tsr_store_t *st, const tsr_caps_t *caps);
static int tsr_store_unknown_command(const redisReply *reply);
static int tsr_store_backoff(tsr_store_t *st);
static void tsr_store_wipe_reply(redisReply *reply);
static int tsr_store_parse_nets(const char *list, size_t len,
    tsr_store_net_t **nets, size_t *n, char *err, size_t errlen);
static int tsr_store_resolve_host(const char *host, char *ip, size_t iplen,
    char *err, size_t errlen);
static int tsr_store_conf_append(char *buf, size_t buflen, size_t *used,
    const char *sep, const char *ip, int port, char *err, size_t errlen);
static void tsr_store_async_connect(tsr_store_t *st);
static int tsr_store_async_target(const tsr_store_t *st);
static void tsr_store_async_resolve(tsr_store_t *st);
static void tsr_store_resolved(const char *ip, const char *err, void *arg);
static void tsr_store_async_failed(tsr_store_t *st, int unresolved);
static void tsr_store_resolve_log(tsr_store_t *st, const char *fmt, ...)
    TSR_PRINTF(2, 3);
static int tsr_store_async_command(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...);
static int tsr_store_writable(tsr_store_t *st, const char *name);
static size_t tsr_store_unsent(const tsr_store_t *st);
static int tsr_store_async_get(tsr_store_t *st, tsr_req_t *req,
    const char *key, size_t keylen);
static int tsr_store_async_set(tsr_store_t *st, const char *key,
    size_t keylen, const uint8_t *val, size_t vlen, uint64_t ttl_ms);
static void tsr_store_write_done(tsr_store_t *st, const char *name, int rc);
static void tsr_store_setup_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_get_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_write_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static const char *tsr_store_req_name(const tsr_req_t *req);
static void tsr_store_complete(tsr_store_t *st, tsr_req_t *req, int rc,
    const redisReply *reply);
static void tsr_store_req_insert(tsr_store_t *st, tsr_req_t *req);
static void tsr_store_req_unlink(tsr_store_t *st, tsr_req_t *req);
static void tsr_store_req_free(tsr_req_t *req);
static int tsr_store_breaker_state(tsr_store_t *st, uint64_t now);
static void tsr_store_breaker_ok(tsr_store_t *st);
static void tsr_store_breaker_fail(tsr_store_t *st, uint64_t now);
static void tsr_store_latency(tsr_store_t *st, uint64_t us);
static uint64_t tsr_store_stall_ms(tsr_store_t *st);
static void tsr_store_watch(tsr_store_t *st);
static void tsr_store_handle_write(tsr_store_t *st);
static void tsr_store_flush_now(tsr_store_t *st);
static void tsr_store_ev_add_read(void *data);
static void tsr_store_ev_del_read(void *data);
static void tsr_store_ev_add_write(void *data);
static void tsr_store_ev_del_write(void *data);
static void tsr_store_ev_cleanup(void *data);
static void tsr_store_stats_add(tsr_store_stats_t *to,
    const tsr_store_stats_t *from);
static int tsr_store_async_formatted(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *cmd, size_t len);
static void tsr_store_sent_push(tsr_store_t *st);
static void tsr_store_write_async(tsr_store_t *st, const char *name,
    const char *fmt, ...);
static int tsr_store_wcmd_send(tsr_store_t *st, const char *name,
    const char *fmt, va_list args);
static void tsr_store_wcmd_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_wcmd_free(tsr_store_wcmd_t *w);
static void tsr_store_asking_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_write_reply(tsr_store_t *st, const char *name,
    const redisReply *reply);
static void tsr_store_single_destroy(tsr_store_t *st);
static int tsr_store_single_connect(tsr_store_t *st);
static int tsr_store_single_op(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_set(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_del(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_fetch(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_eval(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_command_argv(tsr_store_t *st, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen);
static int tsr_store_single_async(tsr_store_t *st, const tsr_loop_t *loop);
static tsr_req_t *tsr_store_single_get_async(tsr_store_t *st,
    const char *name, const char *key, size_t keylen, int getdel,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);
static void tsr_store_single_timer(tsr_store_t *st);
static void tsr_store_single_read(tsr_store_t *st, int fd);
static void tsr_store_single_write(tsr_store_t *st, int fd);
static int tsr_store_single_state(const tsr_store_t *st);
static int tsr_store_router_error(tsr_store_t *st, const redisReply *reply,
    tsr_req_t *req, tsr_store_wcmd_t *w);
static int tsr_store_req_resend(tsr_store_t *st, tsr_req_t *req, int ask);
static int tsr_store_wcmd_resend(tsr_store_t *st, tsr_store_wcmd_t *w,
    int ask);


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
 * password, db, cluster, sentinels and their parameters) and leaves the
 * rest alone, so timeouts and the log callback may be set before or
 * after.
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
        tsr_errf(err, errlen, "invalid arguments");
        return TSR_EINVAL;
    }

    tsr_store_conf_reset(conf);

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
        tsr_errf(err, errlen, "the address is empty");
        goto failed;
    }

    if (conf->user != NULL && conf->password == NULL) {
        tsr_errf(err, errlen,
                 "redis parameter \"user\" needs \"password_file\"");
        goto failed;
    }

    if (conf->sentinel_user != NULL && conf->sentinel_password == NULL) {
        tsr_errf(err, errlen, "redis parameter \"sentinel_user\" needs "
                 "\"sentinel_password_file\"");
        goto failed;
    }

    if (conf->sentinels != NULL && conf->master_name == NULL) {
        tsr_errf(err, errlen, "a \"sentinel=\" address needs the "
                 "redis parameter \"master\"");
        goto failed;
    }

    if (conf->sentinels == NULL
        && (seen & (TSR_STORE_MASTER | TSR_STORE_SENTINEL_PASSWORD_FILE
                    | TSR_STORE_SENTINEL_USER)))
    {
        tsr_errf(err, errlen, "redis parameter \"%s\" needs a "
                 "\"sentinel=\" address",
                 (seen & TSR_STORE_MASTER) ? "master"
                 : (seen & TSR_STORE_SENTINEL_USER)
                         ? "sentinel_user" : "sentinel_password_file");
        goto failed;
    }

    if (conf->cluster != NULL && conf->db != 0) {
        tsr_errf(err, errlen, "a redis cluster has no databases: "
                 "redis parameter \"db\" must be 0");
        goto failed;
    }

    if (!conf->tls && (seen & TSR_STORE_TLS_ANY)) {
        tsr_errf(err, errlen, "redis parameters \"tls_*\" need "
                 "\"tls\" or a \"rediss://\" address");
        goto failed;
    }

    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        tsr_errf(err, errlen, "redis parameters \"tls_cert_file\" "
                 "and \"tls_key_file\" go together");
        goto failed;
    }

    /* the name as written is the name verified */

    if (conf->tls && conf->tls_server_name == NULL && conf->host != NULL
        && !tsr_store_is_numeric(conf->host))
    {
        conf->tls_server_name = conf->host;
    }

    return TSR_OK;

failed:

    /* a password may already be in "buf" */
    OPENSSL_cleanse(buf, buflen);

    tsr_store_conf_reset(conf);

    return TSR_EINVAL;
}


static void
tsr_store_conf_reset(tsr_store_conf_t *conf)
{
    conf->host = NULL;
    conf->port = 0;
    conf->unix_path = NULL;
    conf->user = NULL;
    conf->password = NULL;
    conf->db = 0;
    conf->cluster = NULL;
    conf->sentinels = NULL;
    conf->master_name = NULL;
    conf->sentinel_user = NULL;
    conf->sentinel_password = NULL;
    conf->allow = NULL;
    conf->tls = 0;
    conf->tls_no_verify = 0;
    conf->tls_ca_file = NULL;
    conf->tls_server_name = NULL;
    conf->tls_cert_file = NULL;
    conf->tls_key_file = NULL;
}


static int
tsr_store_is_numeric(const char *host)
{
    unsigned char  a[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, a) == 1
           || inet_pton(AF_INET6, host, a) == 1;
}


static int
tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr, size_t len,
    char *buf, size_t buflen, size_t *used, char *err, size_t errlen)
{
    int          port;
    size_t       hlen;
    const char  *host, *list, **dst;

    if (len >= sizeof("redis://") - 1
        && (memcmp(addr, "redis://", sizeof("redis://") - 1) == 0
            || memcmp(addr, "rediss://", sizeof("rediss://") - 1) == 0
            || memcmp(addr, "unix://", sizeof("unix://") - 1) == 0))
    {
        return tsr_store_parse_uri(conf, addr, len, buf, buflen, used, err,
                                   errlen);
    }

    if (len >= sizeof("unix:") - 1
        && memcmp(addr, "unix:", sizeof("unix:") - 1) == 0)
    {
        host = addr + sizeof("unix:") - 1;
        hlen = len - (sizeof("unix:") - 1);

        if (hlen == 0) {
            tsr_errf(err, errlen, "no path in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        if (hlen >= TSR_STORE_SUN_PATH) {
            tsr_errf(err, errlen,
                     "unix socket path too long in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        conf->unix_path = tsr_store_conf_copy(buf, buflen, used, host, hlen);
        if (conf->unix_path == NULL) {
            tsr_errf(err, errlen, "no room for \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        return TSR_OK;
    }

    dst = NULL;
    list = NULL;

    if (len >= sizeof("cluster=") - 1
        && memcmp(addr, "cluster=", sizeof("cluster=") - 1) == 0)
    {
        dst = &conf->cluster;
        list = addr + sizeof("cluster=") - 1;

    } else if (len >= sizeof("sentinel=") - 1
               && memcmp(addr, "sentinel=", sizeof("sentinel=") - 1) == 0)
    {
        dst = &conf->sentinels;
        list = addr + sizeof("sentinel=") - 1;
    }

    if (dst != NULL) {
        hlen = addr + len - list;

        if (tsr_store_parse_list(list, hlen, NULL, NULL, 0, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        *dst = tsr_store_conf_copy(buf, buflen, used, list, hlen);
        if (*dst == NULL) {
            tsr_errf(err, errlen, "no room for \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        return TSR_OK;
    }

    if (tsr_store_parse_host(addr, len, &host, &hlen, &port, err, errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    conf->host = tsr_store_conf_copy(buf, buflen, used, host, hlen);
    if (conf->host == NULL) {
        tsr_errf(err, errlen, "no room for \"%.*s\"",
                 (int) len, addr);
        return TSR_EINVAL;
    }

    conf->port = port ? port : TSR_STORE_DEFAULT_PORT;

    return TSR_OK;
}


/*
 * The URIs providers print: redis://[user[:password]@]host[:port][/db],
 * rediss://... for TLS, and unix:///path[?db=N].  User and password may
 * be percent-encoded.  Messages never quote the user information: it may
 * hold the password.
 */

static int
tsr_store_parse_uri(tsr_store_conf_t *conf, const char *uri, size_t len,
    char *buf, size_t buflen, size_t *used, char *err, size_t errlen)
{
    int          port, db;
    size_t       hlen, n;
    const char  *p, *end, *at, *slash, *colon, *host, *scheme;

    end = uri + len;
    db = 0;

    if (memcmp(uri, "unix://", sizeof("unix://") - 1) == 0) {
        scheme = "unix://";
        p = uri + sizeof("unix://") - 1;

        slash = memchr(p, '?', end - p);
        n = (slash != NULL) ? (size_t) (slash - p) : (size_t) (end - p);

        if (n == 0 || *p != '/') {
            tsr_errf(err, errlen, "no absolute path in \"%.*s\"",
                     (int) len, uri);
            return TSR_EINVAL;
        }

        if (n >= TSR_STORE_SUN_PATH) {
            tsr_errf(err, errlen, "unix socket path too long in redis "
                     "address \"%.*s\"", (int) len, uri);
            return TSR_EINVAL;
        }

        if (slash != NULL) {
            if (end - slash < 5 || memcmp(slash, "?db=", 4) != 0
                || (db = tsr_store_parse_db(slash + 4, end - slash - 4))
                   < 0)
            {
                tsr_errf(err, errlen, "invalid query in \"%.*s\": only "
                         "\"?db=N\" is known",
                         (int) len, uri);
                return TSR_EINVAL;
            }
        }

        conf->unix_path = tsr_store_conf_copy(buf, buflen, used, p, n);
        if (conf->unix_path == NULL) {
            goto noroom;
        }

        conf->db = db;

        return TSR_OK;
    }

    if (memcmp(uri, "rediss://", sizeof("rediss://") - 1) == 0) {
        scheme = "rediss://";
        conf->tls = 1;

    } else {
        scheme = "redis://";
    }

    p = uri + strlen(scheme);

    for (at = p; at + 3 <= end; at++) {
        if (memcmp(at, "://", 3) == 0) {
            tsr_errf(err, errlen, "a scheme after \"%s\": write it "
                     "once", scheme);
            return TSR_EINVAL;
        }
    }

    /* the authority ends at the path */

    slash = memchr(p, '/', end - p);
    if (slash == NULL) {
        slash = end;
    }

    at = NULL;

    for (host = p; host < slash; host++) {
        if (*host == '@') {
            at = host;
        }
    }

    host = p;

    if (at != NULL) {
        colon = memchr(p, ':', at - p);
        n = (colon != NULL) ? (size_t) (colon - p) : (size_t) (at - p);

        if (n > 0) {
            conf->user = tsr_store_uri_part(buf, buflen, used, p, n);
            if (conf->user == NULL) {
                tsr_errf(err, errlen, "invalid user in a %s redis "
                         "address", scheme);
                return TSR_EINVAL;
            }
        }

        if (colon != NULL && at - colon > 1) {
            conf->password = tsr_store_uri_part(buf, buflen, used, colon + 1,
                                                at - colon - 1);
            if (conf->password == NULL) {
                tsr_errf(err, errlen, "invalid password in a %s redis "
                         "address", scheme);
                return TSR_EINVAL;
            }
        }

        host = at + 1;
    }

    if (slash < end && end - slash > 1) {
        db = tsr_store_parse_db(slash + 1, end - slash - 1);

        if (db < 0) {
            tsr_errf(err, errlen, "invalid database \"%.*s\" in a %s "
                     "URI: a number from 0 is expected",
                     (int) (end - slash - 1), slash + 1, scheme);
            return TSR_EINVAL;
        }
    }

    if (tsr_store_parse_host(host, slash - host, &host, &hlen, &port, err,
                             errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    conf->host = tsr_store_conf_copy(buf, buflen, used, host, hlen);
    if (conf->host == NULL) {
        goto noroom;
    }

    conf->port = port ? port : TSR_STORE_DEFAULT_PORT;
    conf->db = db;

    return TSR_OK;

noroom:

    tsr_errf(err, errlen, "no room for a %s URI",
             scheme);

    return TSR_EINVAL;
}


/* a user or password of a URI, percent-decoded; NULL when malformed */

static char *
tsr_store_uri_part(char *buf, size_t buflen, size_t *used, const char *s,
    size_t len)
{
    int     hi, lo;
    char   *out, *q;
    size_t  i;

    out = tsr_store_conf_copy(buf, buflen, used, s, len);
    if (out == NULL) {
        return NULL;
    }

    q = out;

    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            *q++ = s[i];
            continue;
        }

        if (i + 2 >= len) {
            return NULL;
        }

        hi = OPENSSL_hexchar2int((unsigned char) s[i + 1]);
        lo = OPENSSL_hexchar2int((unsigned char) s[i + 2]);

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return NULL;
        }

        *q++ = (char) (hi * 16 + lo);
        i += 2;
    }

    /* what decoding freed stays zeroed */
    memset(q, 0, (size_t) (out + len - q) + 1);

    return out;
}


/* 0..2^31-1 in decimal, or -1 */

static int
tsr_store_parse_db(const char *s, size_t len)
{
    size_t     i;
    long long  db;

    if (len == 0 || len > 10) {
        return -1;
    }

    db = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        db = db * 10 + (s[i] - '0');
    }

    return (db > 0x7fffffff) ? -1 : (int) db;
}


/*
 * Checks a list of nodes, "host:port" separated by commas, and with
 * "hosts" fills up to "n" entries of hosts (copied, the caller frees
 * them) and ports ("dflt" when none is written).  Returns TSR_OK, with
 * the count in *n, or TSR_EINVAL with a message.
 */

int
tsr_store_parse_list(const char *list, size_t len, char **hosts, int *ports,
    size_t n, char *err, size_t errlen)
{
    int          port;
    size_t       count, hlen, elen;
    const char  *p, *end, *comma, *host;

    end = list + len;
    p = list;
    count = 0;

    if (len == 0) {
        tsr_errf(err, errlen, "no nodes");
        return TSR_EINVAL;
    }

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        elen = (comma != NULL) ? (size_t) (comma - p) : (size_t) (end - p);

        if (elen == 0) {
            tsr_errf(err, errlen, "empty node in \"%.*s\"",
                     (int) len, list);
            return TSR_EINVAL;
        }

        if (count == TSR_STORE_MAX_LIST) {
            tsr_errf(err, errlen, "more than %d nodes in redis "
                     "address", TSR_STORE_MAX_LIST);
            return TSR_EINVAL;
        }

        if (tsr_store_parse_host(p, elen, &host, &hlen, &port, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        if (hosts != NULL && count < n) {
            hosts[count] = OPENSSL_strndup(host, hlen);
            if (hosts[count] == NULL) {
                tsr_errf(err, errlen, "out of memory");
                return TSR_ENOMEM;
            }

            ports[count] = port;
        }

        count++;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    return TSR_OK;
}


/*
 * "host:port", "host", "[v6addr]:port", "[v6addr]": *host points into
 * "addr"; *port is 0 when none is written.
 */

int
tsr_store_parse_host(const char *addr, size_t len, const char **host,
    size_t *hlen, int *port, char *err, size_t errlen)
{
    size_t       i;
    const char  *h, *rest, *end, *colon;

    end = addr + len;

    if (len > 0 && addr[0] == '[') {
        h = addr + 1;
        rest = memchr(h, ']', end - h);

        if (rest == NULL || rest == h || memchr(h, ':', rest - h) == NULL) {
            tsr_errf(err, errlen, "invalid IPv6 address in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        *hlen = rest - h;
        rest++;

        if (rest == end) {
            *port = 0;

        } else if (*rest == ':') {
            *port = tsr_store_parse_port(rest + 1, end - rest - 1);

        } else {
            *port = -1;
        }

    } else {
        h = addr;
        colon = memchr(addr, ':', len);

        if (colon == NULL) {
            *hlen = len;
            *port = 0;

        } else if (memchr(colon + 1, ':', end - colon - 1) != NULL) {
            tsr_errf(err, errlen, "an IPv6 address needs brackets, as "
                     "in \"[::1]:6379\"");
            return TSR_EINVAL;

        } else {
            *hlen = colon - addr;
            *port = tsr_store_parse_port(colon + 1, end - colon - 1);
        }

        if (*hlen == 0) {
            tsr_errf(err, errlen, "no host in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }
    }

    if (*port == -1) {
        tsr_errf(err, errlen, "invalid port in \"%.*s\": a number from "
                 "1 to 65535 is expected", (int) len, addr);
        return TSR_EINVAL;
    }

    for (i = 0; i < *hlen; i++) {
        if ((h[i] >= 'a' && h[i] <= 'z')
            || (h[i] >= 'A' && h[i] <= 'Z')
            || (h[i] >= '0' && h[i] <= '9')
            || strchr(".-_:%", h[i]) != NULL)
        {
            continue;
        }

        tsr_errf(err, errlen, "invalid host in \"%.*s\"",
                 (int) len, addr);
        return TSR_EINVAL;
    }

    *host = h;

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
    size_t        i, nlen, vlen;
    unsigned      bit;
    long long     db;
    const char   *value, *msg, **dst;

    static const struct {
        const char  *name;
        unsigned     bit;
    } params[] = {
        { "password_file", TSR_STORE_PASSWORD_FILE },
        { "user", TSR_STORE_USER },
        { "db", TSR_STORE_DB },
        { "master", TSR_STORE_MASTER },
        { "sentinel_password_file", TSR_STORE_SENTINEL_PASSWORD_FILE },
        { "sentinel_user", TSR_STORE_SENTINEL_USER },
        { "allow", TSR_STORE_ALLOW },
        { "tls_ca_file", TSR_STORE_TLS_CA_FILE },
        { "tls_verify", TSR_STORE_TLS_VERIFY },
        { "tls_server_name", TSR_STORE_TLS_NAME },
        { "tls_cert_file", TSR_STORE_TLS_CERT_FILE },
        { "tls_key_file", TSR_STORE_TLS_KEY_FILE }
    };

    value = memchr(param, '=', len);

    if (len == 3 && memcmp(param, "tls", 3) == 0) {
        if (*seen & TSR_STORE_TLS) {
            msg = "duplicate";
            nlen = len;
            goto failed;
        }

        *seen |= TSR_STORE_TLS;
        conf->tls = 1;

        return TSR_OK;
    }

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
    bit = 0;

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (nlen == strlen(params[i].name)
            && memcmp(param, params[i].name, nlen) == 0)
        {
            bit = params[i].bit;
            break;
        }
    }

    if (bit == 0) {
        goto failed;
    }

    if ((*seen & bit)
        || (bit == TSR_STORE_PASSWORD_FILE && conf->password != NULL)
        || (bit == TSR_STORE_USER && conf->user != NULL))
    {
        /* given twice, or in the address already */
        msg = "duplicate";
        goto failed;
    }

    *seen |= bit;

    if (vlen == 0) {
        msg = "empty";
        goto failed;
    }

    switch (bit) {

    case TSR_STORE_TLS_VERIFY:
        if (vlen == 2 && memcmp(value, "on", 2) == 0) {
            conf->tls_no_verify = 0;

        } else if (vlen == 3 && memcmp(value, "off", 3) == 0) {
            conf->tls_no_verify = 1;

        } else {
            msg = "invalid";
            nlen = len;
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_TLS_CA_FILE:
    case TSR_STORE_TLS_NAME:
    case TSR_STORE_TLS_CERT_FILE:
    case TSR_STORE_TLS_KEY_FILE:
        dst = (bit == TSR_STORE_TLS_CA_FILE) ? &conf->tls_ca_file
              : (bit == TSR_STORE_TLS_NAME) ? &conf->tls_server_name
              : (bit == TSR_STORE_TLS_CERT_FILE) ? &conf->tls_cert_file
              : &conf->tls_key_file;

        *dst = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (*dst == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_PASSWORD_FILE:
        return tsr_store_read_password(value, vlen, buf, buflen, used,
                                       &conf->password, err, errlen);

    case TSR_STORE_ALLOW:
        if (tsr_store_parse_nets(value, vlen, NULL, NULL, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        conf->allow = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (conf->allow == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_SENTINEL_PASSWORD_FILE:
        return tsr_store_read_password(value, vlen, buf, buflen, used,
                                       &conf->sentinel_password, err, errlen);

    case TSR_STORE_USER:
    case TSR_STORE_SENTINEL_USER:
    case TSR_STORE_MASTER:
        if (bit == TSR_STORE_MASTER) {
            dst = &conf->master_name;

            if (vlen > TSR_STORE_MAX_NAME) {
                msg = "too long";
                goto failed;
            }

            for (i = 0; i < vlen; i++) {
                if (value[i] < 0x21 || value[i] > 0x7e) {
                    msg = "invalid";
                    nlen = len;
                    goto failed;
                }
            }

        } else {
            dst = (bit == TSR_STORE_USER) ? &conf->user : &conf->sentinel_user;
        }

        *dst = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (*dst == NULL) {
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

    tsr_errf(err, errlen, "%s redis parameter \"%.*s\"", msg, (int) nlen,
             param);

    return TSR_EINVAL;
}


/*
 * Reads a password into "buf", without one trailing newline (an editor
 * adds it; "\r\n" counts as one), and points *out at it.
 */

static int
tsr_store_read_password(const char *name, size_t namelen, char *buf,
    size_t buflen, size_t *used, const char **out, char *err, size_t errlen)
{
    int          fd;
    char        *pw, path[PATH_MAX];
    size_t       room, n;
    ssize_t      r;
    struct stat  st;

    fd = -1;
    n = 0;
    pw = buf + *used;
    room = buflen - *used;

    if (namelen >= sizeof(path)) {
        tsr_errf(err, errlen, "password file name too long");
        return TSR_EINVAL;
    }

    memcpy(path, name, namelen);
    path[namelen] = '\0';

    /* a FIFO or a device would block, or never end: regular files only */

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd == -1) {
        tsr_errf(err, errlen, "cannot open password file \"%s\": %s",
                 path, strerror(errno));
        goto failed;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        tsr_errf(err, errlen, "password file \"%s\" is not a regular "
                 "file", path);
        goto failed;
    }

    for ( ;; ) {
        if (n == room) {
            tsr_errf(err, errlen, "password file \"%s\" is too long",
                     path);
            goto failed;
        }

        r = read(fd, pw + n, room - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            tsr_errf(err, errlen, "cannot read password file \"%s\": %s",
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
        tsr_errf(err, errlen, "password file \"%s\" is empty", path);
        goto failed;
    }

    if (memchr(pw, '\0', n) != NULL) {
        tsr_errf(err, errlen, "password file \"%s\" holds a NUL byte",
                 path);
        goto failed;
    }

    /* n < room: the loop stopped at end of file with room left */
    pw[n] = '\0';
    *used += n + 1;
    *out = pw;

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
        tsr_errf(err, errlen, "invalid redis port %d", conf->port);
        return NULL;
    }

    if (conf->db < 0) {
        tsr_errf(err, errlen, "invalid redis db %d", conf->db);
        return NULL;
    }

    if (conf->connect_timeout_ms < 0 || conf->command_timeout_ms < 0
        || conf->backoff_min_ms < 0 || conf->backoff_max_ms < 0)
    {
        tsr_errf(err, errlen, "negative redis timeout");
        return NULL;
    }

    if (conf->unix_path != NULL
        && (conf->unix_path[0] == '\0'
            || strlen(conf->unix_path) >= TSR_STORE_SUN_PATH))
    {
        tsr_errf(err, errlen, "invalid unix socket path \"%s\"",
                 conf->unix_path);
        return NULL;
    }

    if (conf->unix_path == NULL && conf->host != NULL
        && conf->host[0] == '\0')
    {
        tsr_errf(err, errlen, "empty redis host");
        return NULL;
    }

    if (conf->user != NULL
        && (conf->password == NULL || conf->password[0] == '\0'))
    {
        tsr_errf(err, errlen, "redis user \"%s\" needs a password",
                 conf->user);
        return NULL;
    }

    if (conf->cluster != NULL && conf->sentinels != NULL) {
        tsr_errf(err, errlen, "a redis store is either a cluster or "
                 "found through sentinels");
        return NULL;
    }

    if (conf->allow != NULL && conf->cluster == NULL
        && conf->sentinels == NULL)
    {
        tsr_errf(err, errlen, "redis parameter \"allow\" needs a "
                 "\"cluster=\" or \"sentinel=\" address");
        return NULL;
    }

    if (conf->cluster != NULL && conf->db != 0) {
        tsr_errf(err, errlen, "a redis cluster has no databases: db "
                 "must be 0");
        return NULL;
    }

    if (conf->sentinels == NULL
        && (conf->master_name != NULL || conf->sentinel_user != NULL
            || conf->sentinel_password != NULL))
    {
        tsr_errf(err, errlen, "redis sentinel settings without "
                 "sentinels");
        return NULL;
    }

    st = OPENSSL_zalloc(sizeof(tsr_store_t));
    if (st == NULL) {
        goto failed;
    }

    /* the one place that tells the topologies apart */

    st->topo = (conf->cluster != NULL) ? &tsr_topo_cluster
               : (conf->sentinels != NULL) ? &tsr_topo_sentinel
               : &tsr_topo_single;

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
        tsr_errf(err, errlen, "redis backoff_max_ms %d is below "
                 "backoff_min_ms %d", st->backoff_max_ms,
                 st->backoff_min_ms);
        OPENSSL_free(st);
        return NULL;
    }

    st->backoff_ms = st->backoff_min_ms;
    st->fd = -1;

    if (conf->allow != NULL
        && tsr_store_parse_nets(conf->allow, strlen(conf->allow),
                                &st->allow, &st->nallow, err, errlen)
           != TSR_OK)
    {
        OPENSSL_free(st);
        return NULL;
    }

    if (st->topo->create != NULL) {
        if (st->topo->create(st, conf, err, errlen) != TSR_OK) {
            tsr_store_destroy(st);
            return NULL;
        }

    } else if (conf->unix_path != NULL) {
        st->unix_path = OPENSSL_strdup(conf->unix_path);
        if (st->unix_path == NULL) {
            goto failed;
        }

        snprintf(st->addr, sizeof(st->addr), "unix:%s", st->unix_path);

    } else {
        st->host = OPENSSL_strdup(conf->host != NULL ? conf->host
                                             : TSR_STORE_DEFAULT_HOST);
        if (st->host == NULL) {
            goto failed;
        }

        snprintf(st->addr, sizeof(st->addr),
                 strchr(st->host, ':') != NULL ? "[%s]:%d" : "%s:%d",
                 st->host, st->port);

        if (conf->host_addr != NULL) {
            if (strlen(conf->host_addr) >= sizeof(st->ip)
                || !tsr_store_numeric(conf->host_addr))
            {
                tsr_errf(err, errlen, "invalid address \"%s\" of "
                         "redis host \"%s\"", conf->host_addr,
                         st->host);
                tsr_store_destroy(st);
                return NULL;
            }

            memcpy(st->ip, conf->host_addr, strlen(conf->host_addr) + 1);
        }
    }

    if (conf->user != NULL) {
        st->user = OPENSSL_strdup(conf->user);
        if (st->user == NULL) {
            goto failed;
        }
    }

    if (conf->tls) {
        st->tls = tsr_store_tls_create(conf, err, errlen);
        if (st->tls == NULL) {
            tsr_store_destroy(st);
            return NULL;
        }
    }

    if (conf->password != NULL && conf->password[0] != '\0') {
        st->password_len = strlen(conf->password);

        st->password = OPENSSL_malloc(st->password_len + 1);
        if (st->password == NULL) {
            goto failed;
        }

        memcpy(st->password, conf->password, st->password_len + 1);
    }

    return st;

failed:

    tsr_store_destroy(st);
    tsr_errf(err, errlen, "out of memory");

    return NULL;
}


/*
 * The TLS context of an address's settings: a store's, which its cluster
 * nodes, its master and its sentinels share, or the ticket ring's.
 */

tsr_tls_t *
tsr_store_tls_create(const tsr_store_conf_t *conf, char *err, size_t errlen)
{
    char            msg[TSR_CONN_ERR_LEN + 64];
    tsr_tls_t      *tls;
    tsr_tls_conf_t  tc;

    memset(&tc, 0, sizeof(tc));
    tc.ca_file = conf->tls_ca_file;
    tc.cert_file = conf->tls_cert_file;
    tc.key_file = conf->tls_key_file;
    tc.verify = !conf->tls_no_verify;

    /* a name as written, else the address itself is verified */
    tc.server_name = conf->tls_server_name;

    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        tsr_errf(err, errlen, "redis parameters \"tls_cert_file\" "
                 "and \"tls_key_file\" go together");
        return NULL;
    }

    tls = tsr_tls_create(&tc, msg, sizeof(msg));
    if (tls == NULL) {
        tsr_errf(err, errlen, "%s", msg);
    }

    return tls;
}


tsr_tls_t *
tsr_store_tls(const tsr_store_t *st)
{
    return (st->tls != NULL || st->parent == NULL) ? st->tls
                                                   : st->parent->tls;
}


int
tsr_store_connect(tsr_store_t *st)
{
    if (st == NULL || tsr_store_blocking(st, "connect")) {
        return TSR_EINVAL;
    }

    return st->topo->connect(st);
}


static int
tsr_store_single_connect(tsr_store_t *st)
{
    int  rc;

    rc = tsr_store_ready(st);

    if (rc != TSR_OK) {
        st->stats.errors++;
    }

    return rc;
}


/* a single server has no nodes and no router state */

static void
tsr_store_single_destroy(tsr_store_t *st)
{
    return;
}


static int
tsr_store_single_op(tsr_store_t *st, const tsr_store_op_t *op)
{
    switch (op->op) {

    case TSR_STORE_OP_SET:
        return tsr_store_single_set(st, op);

    case TSR_STORE_OP_DEL:
        return tsr_store_single_del(st, op);

    case TSR_STORE_OP_EVAL:
        return tsr_store_single_eval(st, op);

    default: /* TSR_STORE_OP_GET, TSR_STORE_OP_GETDEL */
        return tsr_store_single_fetch(st, op);
    }
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
    tsr_store_op_t  op;

    if (st == NULL || (!st->async && tsr_store_blocking(st, "SET"))) {
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

    memset(&op, 0, sizeof(tsr_store_op_t));
    op.op = TSR_STORE_OP_SET;
    op.key = key;
    op.keylen = keylen;
    op.val = val;
    op.vlen = vlen;
    op.ttl_ms = ttl_ms;

    return st->topo->op(st, &op);
}


static int
tsr_store_single_set(tsr_store_t *st, const tsr_store_op_t *op)
{
    int             rc;
    size_t          keylen, vlen;
    uint64_t        ttl_ms;
    const char     *key;
    redisReply     *reply;
    const uint8_t  *val;

    key = op->key;
    keylen = op->keylen;
    val = op->val;
    vlen = op->vlen;
    ttl_ms = op->ttl_ms;

    st->stats.sets++;

    /* a cluster node's SET keeps hiredis' formatting: redirections resend */

    if (st->async && st->parent == NULL) {
        rc = TSR_OK;

        if (tsr_store_writable(st, "SET")) {
            rc = tsr_store_async_set(st, key, keylen, val, vlen, ttl_ms);
        }

        tsr_store_write_done(st, "SET", rc);

        return TSR_OK;
    }

    if (st->async) {
        tsr_store_write_async(st, "SET", "SET %b %b PX %llu", key, keylen,
                              val != NULL ? (const void *) val : "", vlen,
                              (unsigned long long) ttl_ms);
        return TSR_OK;
    }

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

    if (rc == TSR_EREDIRECT) {
        st->stats.sets--;
        return rc;
    }

    st->stats.errors++;

    return rc;
}


int
tsr_store_del(tsr_store_t *st, const char *key, size_t keylen)
{
    tsr_store_op_t  op;

    if (st == NULL || (!st->async && tsr_store_blocking(st, "DEL"))) {
        return TSR_EINVAL;
    }

    if (key == NULL || keylen == 0 || keylen > TSR_MAX_KEY_NAME) {
        tsr_store_set_error(st, "DEL: invalid arguments");
        return TSR_EINVAL;
    }

    memset(&op, 0, sizeof(tsr_store_op_t));
    op.op = TSR_STORE_OP_DEL;
    op.key = key;
    op.keylen = keylen;

    return st->topo->op(st, &op);
}


static int
tsr_store_single_del(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          rc;
    size_t       keylen;
    const char  *key;
    redisReply  *reply;

    key = op->key;
    keylen = op->keylen;

    st->stats.dels++;

    if (st->async) {
        tsr_store_write_async(st, "DEL", "DEL %b", key, keylen);
        return TSR_OK;
    }

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

    if (rc == TSR_EREDIRECT) {
        st->stats.dels--;
        return rc;
    }

    st->stats.errors++;

    return rc;
}


int
tsr_store_eval(tsr_store_t *st, const char *script, size_t len,
    const char *key, size_t keylen, int argc, const char **argv,
    const size_t *argvlen, uint8_t *buf, size_t *vlen)
{
    tsr_store_op_t  op;

    if (st == NULL || tsr_store_blocking(st, "EVAL")) {
        return TSR_EINVAL;
    }

    if (script == NULL || len == 0 || key == NULL || keylen == 0
        || keylen > TSR_MAX_KEY_NAME || argc < 0
        || argc > TSR_STORE_EVAL_ARGS || (argc > 0 && argv == NULL)
        || buf == NULL || vlen == NULL)
    {
        tsr_store_set_error(st, "EVAL: invalid arguments");
        return TSR_EINVAL;
    }

    memset(&op, 0, sizeof(tsr_store_op_t));
    op.op = TSR_STORE_OP_EVAL;
    op.key = key;
    op.keylen = keylen;
    op.buf = buf;
    op.size = *vlen;
    op.len = vlen;
    op.script = script;
    op.script_len = len;
    op.argc = argc;
    op.argv = argv;
    op.argvlen = argvlen;
    *vlen = 0;

    return st->topo->op(st, &op);
}


/*
 * EVALSHA; a server that has not cached the script (restarted, flushed)
 * gets SCRIPT LOAD and EVALSHA once more, so that the documented ACL
 * (+evalsha +script|load, not +eval) suffices.
 */

static int
tsr_store_single_eval(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          i, rc;
    char         sha[2 * SHA_DIGEST_LENGTH + 1];
    size_t       avlen[TSR_STORE_EVAL_ARGS + 4];
    uint8_t      md[SHA_DIGEST_LENGTH];
    const char  *av[TSR_STORE_EVAL_ARGS + 4];
    redisReply  *reply;

    static const char  hex[] = "0123456789abcdef";

    st->stats.gets++;

    if (SHA1((const uint8_t *) op->script, op->script_len, md) == NULL) {
        (void) tsr_err_openssl(sha, sizeof(sha));
        tsr_store_set_error(st, "EVAL: SHA1() failed: %s", sha);
        rc = TSR_ERROR;
        goto failed;
    }

    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sha[2 * i] = hex[md[i] >> 4];
        sha[2 * i + 1] = hex[md[i] & 0x0f];
    }

    sha[2 * SHA_DIGEST_LENGTH] = '\0';

    av[0] = "EVALSHA";
    avlen[0] = sizeof("EVALSHA") - 1;
    av[1] = sha;
    avlen[1] = 2 * SHA_DIGEST_LENGTH;
    av[2] = "1";
    avlen[2] = 1;
    av[3] = op->key;
    avlen[3] = op->keylen;

    for (i = 0; i < op->argc; i++) {
        av[4 + i] = op->argv[i];
        avlen[4 + i] = (op->argvlen != NULL) ? op->argvlen[i]
                                             : strlen(op->argv[i]);
    }

    rc = tsr_store_command_argv(st, &reply, "EVALSHA", op->argc + 4, av,
                                avlen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL
        && reply->len >= sizeof("NOSCRIPT") - 1
        && memcmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1) == 0)
    {
        freeReplyObject(reply);

        tsr_store_log(st, TSR_LOG_INFO, "loading a script of %zu bytes "
                      "into redis at %s", op->script_len, st->addr);

        rc = tsr_store_command(st, &reply, "SCRIPT LOAD", "SCRIPT LOAD %b",
                               op->script, op->script_len);
        if (rc != TSR_OK) {
            goto failed;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            tsr_store_reply_error(st, "SCRIPT LOAD", reply);
            freeReplyObject(reply);
            rc = TSR_ESERVER;
            goto failed;
        }

        if (reply->type != REDIS_REPLY_STRING
            || reply->len != 2 * SHA_DIGEST_LENGTH
            || strncasecmp(reply->str, sha, 2 * SHA_DIGEST_LENGTH) != 0)
        {
            tsr_store_set_error(st, "SCRIPT LOAD on %s: unexpected reply, "
                                "not the SHA-1 %s", st->addr, sha);
            freeReplyObject(reply);
            rc = TSR_EPROTO;
            goto failed;
        }

        freeReplyObject(reply);

        rc = tsr_store_command_argv(st, &reply, "EVALSHA", op->argc + 4, av,
                                    avlen);
        if (rc != TSR_OK) {
            goto failed;
        }
    }

    rc = tsr_store_lookup_reply(st, "EVAL", reply, op->keylen, op->size);

    if (rc == TSR_OK) {
        memcpy(op->buf, reply->str, reply->len);
        *op->len = reply->len;
    }

    tsr_store_free_reply(st, reply, 1);

    if (rc >= 0) {
        return rc;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        st->stats.gets--;
        return rc;
    }

    st->stats.errors++;

    return rc;
}


/*
 * As tsr_store_command(), for a command given as arguments; they may be
 * secret, and the formatted command is wiped (tsr_sync_append_argv()).
 */

static int
tsr_store_command_argv(tsr_store_t *st, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen)
{
    int          rc;
    redisReply  *r;

    rc = tsr_store_ready(st);
    if (rc != TSR_OK) {
        return rc;
    }

    if (st->asking) {
        st->asking = 0;

        rc = tsr_store_sync(st, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_store_drop(st);
            return rc;
        }

        freeReplyObject(r);
    }

    rc = tsr_sync_append_argv(st->ctx, argc, argv, argvlen);

    if (rc == TSR_OK) {
        rc = tsr_sync_reply(st->ctx, &r, name);
    }

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s", st->ctx->errstr);
        tsr_store_drop(st);
        return rc;
    }

    if (st->parent != NULL
        && tsr_store_router_error_sync(st, r) == TSR_STORE_ERROR_REDIRECT)
    {
        freeReplyObject(r);
        return TSR_EREDIRECT;
    }

    *reply = r;

    return TSR_OK;
}


void
tsr_store_set_deadline(tsr_store_t *st, uint64_t deadline)
{
    size_t  i;

    st->sync_deadline = deadline;

    for (i = 0; i < st->nnodes; i++) {
        if (st->nodes[i]->ctx != NULL) {
            tsr_sync_set_deadline(st->nodes[i]->ctx, deadline);
        }
    }

    if (st->ctx != NULL) {
        tsr_sync_set_deadline(st->ctx, deadline);
    }
}


void
tsr_store_close(tsr_store_t *st)
{
    size_t  i;

    if (st == NULL || st->async) {
        return;
    }

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_close(st->nodes[i]);
    }

    if (st->ctx != NULL) {
        tsr_sync_free(st->ctx);
        st->ctx = NULL;
    }
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
    size_t  i;

    if (stats == NULL) {
        return;
    }

    if (st == NULL) {
        memset(stats, 0, sizeof(tsr_store_stats_t));
        return;
    }

    *stats = st->stats;

    /* a router's own count (refusals before a node) and its nodes' */

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_stats_add(stats, &st->nodes[i]->stats);
    }
}


static void
tsr_store_stats_add(tsr_store_stats_t *to, const tsr_store_stats_t *from)
{
    size_t  i;

    to->gets += from->gets;
    to->hits += from->hits;
    to->misses += from->misses;
    to->sets += from->sets;
    to->dels += from->dels;
    to->errors += from->errors;
    to->bad_values += from->bad_values;
    to->connects += from->connects;
    to->tls_resumed += from->tls_resumed;
    to->refused += from->refused;
    to->dropped += from->dropped;
    to->timeouts += from->timeouts;
    to->breaker_opened += from->breaker_opened;

    for (i = 0; i < TSR_STORE_LATENCY_BUCKETS; i++) {
        to->latency[i] += from->latency[i];
    }

    to->latency_sum_us += from->latency_sum_us;
    to->commands += from->commands;
    to->writes += from->writes;
    to->replies += from->replies;
    to->reads += from->reads;
}


void
tsr_store_destroy(tsr_store_t *st)
{
    tsr_req_t  *req;

    if (st == NULL) {
        return;
    }

    st->topo->destroy(st);

    tsr_sync_free(st->ctx);

    /*
     * Not from inside a "done" callback: hiredis would free the context
     * only after that callback returns, and the store is gone by then.
     */

    if (st->async) {
        st->destroying = 1;

        /* no callers are answered from here on; hiredis frees requests */

        for (req = st->head; req != NULL; req = req->next) {
            req->done = NULL;
        }

        st->head = NULL;
        st->tail = NULL;

        if (st->resolving) {
            st->loop.resolve_cancel(st->loop.data, st->resolve_handle);
            st->resolving = 0;
            st->resolve_handle = NULL;
        }

        /* runs every reply callback with NULL, then cleanup (unwatch) */
        if (st->conn != NULL) {
            tsr_conn_free(st->conn);
        }

        st->loop.timer(st->loop.data, 0);
        OPENSSL_free(st->sent);
    }

    if (st->password != NULL) {
        OPENSSL_clear_free(st->password, st->password_len);
    }

    OPENSSL_free(st->host);
    OPENSSL_free(st->unix_path);
    OPENSSL_free(st->user);
    tsr_tls_destroy(st->tls);
    OPENSSL_free(st);
}


/*
 * A miss and a bad value both return TSR_NOT_FOUND with *len = 0; stats
 * count them apart (misses are nil replies only).
 */

int
tsr_store_fetch(tsr_store_t *st, int del, const char *key, size_t keylen,
    uint8_t *buf, size_t *len)
{
    const char     *name;
    tsr_store_op_t  op;

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

    memset(&op, 0, sizeof(tsr_store_op_t));
    op.op = del ? TSR_STORE_OP_GETDEL : TSR_STORE_OP_GET;
    op.key = key;
    op.keylen = keylen;
    op.buf = buf;
    op.size = *len;
    op.len = len;
    *len = 0;

    return st->topo->op(st, &op);
}


static int
tsr_store_single_fetch(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          rc, del;
    size_t       keylen, size, *len;
    uint8_t     *buf;
    const char  *key, *name;
    redisReply  *reply;

    del = (op->op == TSR_STORE_OP_GETDEL);
    name = del ? "GETDEL" : "GET";
    key = op->key;
    keylen = op->keylen;
    buf = op->buf;
    size = op->size;
    len = op->len;

    st->stats.gets++;

    if (del) {
        rc = tsr_store_getdel_reply(st, key, keylen, &reply);

    } else {
        rc = tsr_store_command(st, &reply, name, "GET %b", key, keylen);
    }

    if (rc != TSR_OK) {
        goto failed;
    }

    rc = tsr_store_lookup_reply(st, name, reply, keylen, size);

    if (rc == TSR_OK) {
        memcpy(buf, reply->str, reply->len);
        *len = reply->len;
    }

    tsr_store_free_reply(st, reply, 1);

    if (rc >= 0) {
        return rc;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        /* the router asks the node named instead: not a lookup here */
        st->stats.gets--;
        return rc;
    }

    st->stats.errors++;

    return rc;
}


/*
 * Sorts a lookup's reply out: TSR_OK (the value is reply->str and
 * reply->len), TSR_NOT_FOUND for nil and for bad values (another type,
 * more than TSR_MAX_VALUE or "size" bytes), TSR_ESERVER for other error
 * replies; counts hits, misses and bad values.
 */

static int
tsr_store_lookup_reply(tsr_store_t *st, const char *name,
    const redisReply *reply, size_t keylen, size_t size)
{
    switch (reply->type) {

    case REDIS_REPLY_NIL:
        st->stats.misses++;
        return TSR_NOT_FOUND;

    case REDIS_REPLY_STRING:
        if (reply->len > TSR_MAX_VALUE || reply->len > size) {
            st->stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: value of %zu bytes under a "
                                "key of %zu bytes is over the limit of %zu",
                                name, st->addr, reply->len, keylen,
                                size < TSR_MAX_VALUE ? size
                                                     : (size_t) TSR_MAX_VALUE);
            return TSR_NOT_FOUND;
        }

        st->stats.hits++;
        return TSR_OK;

    case REDIS_REPLY_ERROR:
        if (reply->str != NULL && strstr(reply->str, "WRONGTYPE") != NULL) {
            st->stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: a key of %zu bytes holds "
                                "another type", name, st->addr, keylen);
            return TSR_NOT_FOUND;
        }

        tsr_store_reply_error(st, name, reply);
        return TSR_ESERVER;

    default:
        st->stats.bad_values++;
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d for a key "
                            "of %zu bytes", name, st->addr, reply->type,
                            keylen);
        return TSR_NOT_FOUND;
    }
}


/*
 * What the setup learned of the server.  Before 6.2 GETDEL is its
 * script from the start, not after a first refusal; a server that hides
 * its version (INFO renamed or forbidden, as some managed services do)
 * is assumed to have everything, which is said once.
 */

static void
tsr_store_caps(tsr_store_t *st, const tsr_caps_t *caps)
{
    if (caps->state == TSR_CAPS_REFUSED) {
        if (!st->caps_logged) {
            st->caps_logged = 1;
            tsr_store_log(st, TSR_LOG_INFO, "redis at %s: %s; its version "
                          "is not checked", st->addr, caps->text);
        }

        return;
    }

    if (caps->state == TSR_CAPS_KNOWN && caps->version < TSR_CAPS_GETDEL
        && !st->getdel_eval)
    {
        st->getdel_eval = 1;
        tsr_store_log(st, TSR_LOG_INFO, "redis at %s is %s: GETDEL needs "
                      "Redis 6.2 or later, single use takes sessions with "
                      "a script (EVAL) instead", st->addr, caps->text);
    }
}


/* Redis before 6.2 answering GETDEL */

static int
tsr_store_unknown_command(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR
           && reply->len >= sizeof("ERR unknown command") - 1
           && memcmp(reply->str, "ERR unknown command",
                     sizeof("ERR unknown command") - 1)
              == 0;
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

        if (!tsr_store_unknown_command(r)) {
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


/*
 * With "never_block" a blocking call is a bug of the caller's; on an
 * asynchronous store only SET and DEL remain, and they do not block.
 */

static int
tsr_store_blocking(tsr_store_t *st, const char *name)
{
    if (st->async) {
        tsr_store_set_error(st, "%s: synchronous redis calls are disabled "
                            "on an asynchronous store", name);
        return 1;
    }

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

int
tsr_store_ready(tsr_store_t *st)
{
    int64_t  now;

    if (st->ctx != NULL) {
        if (!tsr_store_closed(st)) {
            return TSR_OK;
        }

        tsr_store_log(st, TSR_LOG_INFO, "redis at %s closed the connection",
                      st->addr);

        tsr_sync_free(st->ctx);
        st->ctx = NULL;

        return tsr_store_open(st);
    }

    now = tsr_now_ms();

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
    return tsr_sync_closed(st->ctx);
}


static int
tsr_store_open(tsr_store_t *st)
{
    int               rc;
    uint64_t          deadline;
    redisReply       *reply;
    tsr_sync_conf_t   conf;

    memset(&conf, 0, sizeof(conf));
    conf.addr = st->addr;
    conf.host = st->host;
    conf.port = st->port;
    conf.path = st->unix_path;
    conf.user = st->user;
    conf.password = st->password;
    conf.password_len = st->password_len;
    conf.db = st->db;
    conf.info = !st->no_caps;
    conf.connect_timeout_ms = st->connect_timeout_ms;
    conf.command_timeout_ms = st->command_timeout_ms;
    conf.tls = tsr_store_tls(st);

    st->ctx = tsr_sync_connect(&conf, &rc, st->err, sizeof(st->err));
    if (st->ctx == NULL) {
        goto failed;
    }

    tsr_store_caps(st, &st->ctx->caps);

    deadline = (st->parent != NULL) ? st->parent->sync_deadline
                                    : st->sync_deadline;
    if (deadline != 0) {
        tsr_sync_set_deadline(st->ctx, deadline);
    }

    if (st->verify_role) {
        rc = tsr_store_sync(st, &reply, "ROLE", "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        rc = tsr_store_role_reply(st, reply);
        freeReplyObject(reply);

        if (rc != TSR_OK) {
            tsr_store_router_event(st, TSR_STORE_EV_NOT_MASTER);
            goto failed;
        }
    }

    st->stats.connects++;
    st->stats.tls_resumed += (st->ctx->conn != NULL
                              && st->ctx->conn->tls_resumed);
    st->backoff_ms = st->backoff_min_ms;
    st->next_attempt = 0;
    st->last[0] = '\0';

    tsr_store_log(st, TSR_LOG_INFO, "connected to redis at %s", st->addr);

    return TSR_OK;

failed:

    tsr_store_drop(st);

    return rc;
}


/*
 * Closes the connection and schedules the next attempt; the delay doubles
 * with each failure in a row, up to backoff_max_ms.
 */

void
tsr_store_drop(tsr_store_t *st)
{
    int  delay;

    tsr_sync_free(st->ctx);
    st->ctx = NULL;

    delay = tsr_store_backoff(st);
    st->next_attempt = tsr_now_ms() + delay;

    memcpy(st->last, st->err, sizeof(st->last));

    tsr_store_log(st, TSR_LOG_ERR, "%s, next attempt in %d ms", st->err,
                  delay);
}


/* the delay before the next attempt; it doubles up to backoff_max_ms */

static int
tsr_store_backoff(tsr_store_t *st)
{
    int  ms;

    ms = st->backoff_ms;

    st->backoff_ms = (ms > st->backoff_max_ms / 2) ? st->backoff_max_ms
                                                   : ms * 2;

    return ms;
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
    int          rc;
    va_list      args;
    redisReply  *r;

    rc = tsr_store_ready(st);
    if (rc != TSR_OK) {
        return rc;
    }

    if (st->asking) {
        /* its error, if any, shows in the reply to the command */
        st->asking = 0;

        rc = tsr_store_sync(st, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_store_drop(st);
            return rc;
        }

        freeReplyObject(r);
    }

    va_start(args, fmt);
    rc = tsr_store_vsync(st, &r, name, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_store_drop(st);
        return rc;
    }

    if (st->parent != NULL
        && tsr_store_router_error_sync(st, r) == TSR_STORE_ERROR_REDIRECT)
    {
        freeReplyObject(r);
        return TSR_EREDIRECT;
    }

    *reply = r;

    return TSR_OK;
}


/*
 * An error reply on a router's node: a redirection the router follows,
 * or news for it (a read-only replica, a cluster down).
 */

static int
tsr_store_router_error_sync(tsr_store_t *st, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (st->parent->topo->redirect != NULL
        && st->parent->topo->redirect(reply, &st->redirect) == TSR_OK)
    {
        return TSR_STORE_ERROR_REDIRECT;
    }

    tsr_store_router_news(st, reply);

    return TSR_STORE_ERROR_OTHER;
}


/* error replies that tell a router its picture is stale */

static void
tsr_store_router_news(tsr_store_t *st, const redisReply *reply)
{
    if (reply->len >= sizeof("READONLY") - 1
        && memcmp(reply->str, "READONLY", sizeof("READONLY") - 1) == 0)
    {
        tsr_store_router_event(st, TSR_STORE_EV_READONLY);

    } else if (reply->len >= sizeof("CLUSTERDOWN") - 1
               && memcmp(reply->str, "CLUSTERDOWN",
                         sizeof("CLUSTERDOWN") - 1)
                  == 0)
    {
        tsr_store_router_event(st, TSR_STORE_EV_CLUSTERDOWN);
    }
}


/* tells the router of "node" about it */

static void
tsr_store_router_event(tsr_store_t *node, int ev)
{
    tsr_store_t  *st;

    st = node->parent;

    if (st == NULL || st->destroying) {
        return;
    }

    if (st->topo->event != NULL) {
        st->topo->event(st, node, ev);
    }
}


/*
 * ROLE's reply: an array whose first element is "master", "slave" or
 * "sentinel".  Returns TSR_OK for a master, or an error with a message.
 */

static int
tsr_store_role_reply(tsr_store_t *st, const redisReply *reply)
{
    const redisReply  *role;

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "ROLE", reply);
        return TSR_ESERVER;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        tsr_store_set_error(st, "ROLE on %s: unexpected reply type %d",
                            st->addr, reply->type);
        return TSR_EPROTO;
    }

    role = reply->element[0];

    if (role->len == sizeof("master") - 1
        && memcmp(role->str, "master", role->len) == 0)
    {
        return TSR_OK;
    }

    tsr_store_set_error(st, "redis at %s is not a master, its role is "
                        "\"%.*s\"", st->addr,
                        (int) (role->len < 16 ? role->len : 16), role->str);

    return TSR_ESERVER;
}


/*
 * A command and its reply on the blocking connection; a failure's message
 * goes to the store's.
 */

static int
tsr_store_sync(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_store_vsync(st, reply, name, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_store_vsync(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, va_list args)
{
    int  rc;

    rc = tsr_sync_vcommand(st->ctx, reply, name, fmt, args);

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s", st->ctx->errstr);
    }

    return rc;
}


/*
 * Error replies may echo arguments ("ERR unknown command 'X', with args
 * beginning with: ..."), and arguments are key names and values: keep the
 * text before that part, printable and short.
 */

void
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

void
tsr_store_free_reply(tsr_store_t *st, redisReply *reply, int wipe)
{
    if (wipe) {
        tsr_store_wipe_reply(reply);

        if (st->ctx != NULL) {
            tsr_sync_wipe(st->ctx);
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


void
tsr_store_set_error(tsr_store_t *st, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_verrf(st->err, sizeof(st->err), fmt, args);
    va_end(args);
}


void
tsr_store_log(tsr_store_t *st, int level, const char *fmt, ...)
{
    char     msg[TSR_STORE_ERR_LEN + 64];
    va_list  args;

    if (st->log == NULL) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    st->log(level, msg, st->log_data);
}


/* ---- the asynchronous side ---- */

int
tsr_store_set_async(tsr_store_t *st, const tsr_loop_t *loop,
    const tsr_store_async_conf_t *aconf)
{
    int  max_inflight, failures;

    if (st == NULL) {
        return TSR_EINVAL;
    }

    if (loop == NULL || loop->watch == NULL || loop->unwatch == NULL
        || loop->timer == NULL || loop->now == NULL
        || (loop->resolve == NULL) != (loop->resolve_cancel == NULL))
    {
        tsr_store_set_error(st, "set_async: incomplete event loop");
        return TSR_EINVAL;
    }

    if (st->async) {
        tsr_store_set_error(st, "set_async: the store is asynchronous "
                            "already");
        return TSR_EINVAL;
    }

    max_inflight = (aconf != NULL) ? aconf->max_inflight : 0;
    failures = (aconf != NULL) ? aconf->breaker_failures : 0;

    if (max_inflight < 0 || max_inflight > TSR_STORE_LIMIT
        || failures < 0 || failures > TSR_STORE_LIMIT)
    {
        tsr_store_set_error(st, "set_async: invalid max_inflight %d or "
                            "breaker_failures %d", max_inflight, failures);
        return TSR_EINVAL;
    }

    st->max_inflight = max_inflight ? max_inflight : TSR_STORE_MAX_INFLIGHT;
    st->breaker_failures = failures ? failures : TSR_STORE_BREAKER_FAILURES;
    st->max_queued = st->max_inflight * TSR_STORE_QUEUE_FACTOR;

    return st->topo->async(st, loop);
}


static int
tsr_store_single_async(tsr_store_t *st, const tsr_loop_t *loop)
{
    int  rc;

    /*
     * Commands go out only below max_queued, except the setup of a new
     * connection (the ring is empty then) and a script replacing the
     * GETDEL whose reply it follows.
     */
    st->sent_size = st->max_queued + TSR_STORE_SETUP_COMMANDS;

    st->sent = OPENSSL_malloc(2 * st->sent_size * sizeof(uint64_t));
    if (st->sent == NULL) {
        tsr_store_set_error(st, "set_async: out of memory");
        return TSR_ENOMEM;
    }

    st->sent_us = st->sent + st->sent_size;

    tsr_sync_free(st->ctx);
    st->ctx = NULL;

    st->loop = *loop;
    st->async = 1;
    st->fd = -1;
    st->conn_state = TSR_STORE_IDLE;
    st->breaker = TSR_STORE_CLOSED;
    st->breaker_ms = st->backoff_min_ms;
    st->backoff_ms = st->backoff_min_ms;
    st->max_timeout = st->command_timeout_ms;
    st->reconnect_at = 0;
    st->last[0] = '\0';

    /* a name: the loop's resolver is asked before each attempt */

    if (st->unix_path == NULL && loop->resolve != NULL
        && !tsr_store_numeric(st->host))
    {
        st->resolve = 1;

        /* host_addr first, as found at configuration time */

        if (st->ip[0] != '\0') {
            tsr_store_async_connect(st);

        } else {
            tsr_store_async_resolve(st);
        }

        tsr_store_arm(st);

        return TSR_OK;
    }

    if (st->unix_path == NULL) {
        rc = tsr_store_resolve(st);

        if (rc != TSR_OK) {
            /*
             * Asynchronous all the same, so nothing blocks later: it
             * refuses lookups and drops writes, with this message.
             */
            memcpy(st->last, st->err, sizeof(st->last));
            return rc;
        }
    }

    tsr_store_async_connect(st);
    tsr_store_arm(st);

    return TSR_OK;
}


/*
 * The one blocking step of the asynchronous side, taken once at start-up:
 * hiredis would call getaddrinfo() on every connect.
 */

int
tsr_store_resolve(tsr_store_t *st)
{
    return tsr_store_resolve_name(st, st->host, st->ip, sizeof(st->ip));
}


/*
 * "host" as a numeric address in ip[iplen]: IPv4 first, as hiredis' own
 * connect does; a numeric address is kept as written (an IPv6 scope
 * survives).  Messages go to "st".
 */

int
tsr_store_resolve_name(tsr_store_t *st, const char *host, char *ip,
    size_t iplen)
{
    int                    rc;
    size_t                 i;
    const void            *addr;
    struct addrinfo        hints, *res;

    static const int       families[] = { AF_INET, AF_INET6 };

    if (tsr_store_numeric(host) && strlen(host) < iplen) {
        memcpy(ip, host, strlen(host) + 1);
        return TSR_OK;
    }

    res = NULL;
    rc = EAI_NONAME;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = families[i];
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc == 0) {
            break;
        }
    }

    if (rc != 0) {
        tsr_store_set_error(st, "getaddrinfo() for redis at %s failed: %s",
                            host, gai_strerror(rc));
        return TSR_ECONN;
    }

    if (res->ai_family == AF_INET) {
        addr = &((struct sockaddr_in *) res->ai_addr)->sin_addr;

    } else {
        addr = &((struct sockaddr_in6 *) res->ai_addr)->sin6_addr;
    }

    if (inet_ntop(res->ai_family, addr, ip, iplen) == NULL) {
        tsr_store_set_error(st, "inet_ntop() for redis at %s failed: %s",
                            host, strerror(errno));
        freeaddrinfo(res);
        ip[0] = '\0';
        return TSR_ECONN;
    }

    freeaddrinfo(res);

    tsr_store_log(st, TSR_LOG_INFO, "redis at %s resolved to %s", host, ip);

    return TSR_OK;
}


/*
 * Configuration time: every host name of "conf" (the address, the seed
 * nodes of a cluster, the sentinels) replaced by the numeric address it
 * resolves to now, written into "buf".  Blocking, as nginx's own
 * resolution of upstream names at configuration time; afterwards no
 * connect, reconnect or failover of a store made from "conf" waits on a
 * resolver.
 */

int
tsr_store_conf_resolve(tsr_store_conf_t *conf, char *buf, size_t buflen,
    char *err, size_t errlen)
{
    int          rc;
    char        *hosts[TSR_STORE_MAX_LIST];
    int          ports[TSR_STORE_MAX_LIST];
    char         ip[TSR_STORE_IP_LEN];
    size_t       i, n, used;
    const char  *list, **field;

    used = 0;
    rc = TSR_OK;

    if (conf->unix_path != NULL) {
        return TSR_OK;
    }

    if (conf->cluster != NULL || conf->sentinels != NULL) {
        field = (conf->cluster != NULL) ? &conf->cluster : &conf->sentinels;
        list = *field;

        memset(hosts, 0, sizeof(hosts));

        rc = tsr_store_parse_list(list, strlen(list), hosts, ports,
                                  TSR_STORE_MAX_LIST, err, errlen);

        for (n = 0; rc == TSR_OK && n < TSR_STORE_MAX_LIST && hosts[n];
             n++)
        {
            rc = tsr_store_resolve_host(hosts[n], ip, sizeof(ip), err,
                                        errlen);

            if (rc == TSR_OK) {
                rc = tsr_store_conf_append(buf, buflen, &used, n ? "," : "",
                                           ip, ports[n], err, errlen);
            }
        }

        for (i = 0; i < TSR_STORE_MAX_LIST; i++) {
            OPENSSL_free(hosts[i]);
        }

        if (rc == TSR_OK) {
            *field = buf;
        }

        return rc;
    }

    if (conf->host == NULL) {
        return TSR_OK;
    }

    rc = tsr_store_resolve_host(conf->host, ip, sizeof(ip), err, errlen);
    if (rc != TSR_OK) {
        return rc;
    }

    if (strlen(ip) >= buflen) {
        tsr_errf(err, errlen, "no room for the address of \"%s\"",
                 conf->host);
        return TSR_EINVAL;
    }

    memcpy(buf, ip, strlen(ip) + 1);
    conf->host = buf;

    return TSR_OK;
}


/* "host" as a numeric address: the first IPv4 one, else IPv6 */

static int
tsr_store_resolve_host(const char *host, char *ip, size_t iplen, char *err,
    size_t errlen)
{
    int               rc;
    size_t            i;
    const void       *addr;
    struct addrinfo   hints, *res;

    static const int  families[] = { AF_INET, AF_INET6 };

    if (tsr_store_numeric(host)) {
        if (strlen(host) >= iplen) {
            tsr_errf(err, errlen, "redis host \"%s\" is too long",
                     host);
            return TSR_EINVAL;
        }

        memcpy(ip, host, strlen(host) + 1);
        return TSR_OK;
    }

    res = NULL;
    rc = EAI_NONAME;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = families[i];
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc == 0) {
            break;
        }
    }

    if (rc != 0) {
        tsr_errf(err, errlen, "host not found in redis address \"%s\": "
                 "%s", host, gai_strerror(rc));
        return TSR_ECONN;
    }

    if (res->ai_family == AF_INET) {
        addr = &((struct sockaddr_in *) res->ai_addr)->sin_addr;

    } else {
        addr = &((struct sockaddr_in6 *) res->ai_addr)->sin6_addr;
    }

    if (inet_ntop(res->ai_family, addr, ip, iplen) == NULL) {
        tsr_errf(err, errlen, "inet_ntop() for redis host \"%s\" "
                 "failed: %s", host, strerror(errno));
        freeaddrinfo(res);
        return TSR_ECONN;
    }

    freeaddrinfo(res);

    return TSR_OK;
}


/* appends "<sep>ip:port" ("[ip]:port" for IPv6) to a node list in "buf" */

static int
tsr_store_conf_append(char *buf, size_t buflen, size_t *used,
    const char *sep, const char *ip, int port, char *err, size_t errlen)
{
    int     n, v6;
    char   *p;
    size_t  left;

    /* no port written: the list's own default applies when it is parsed */

    p = buf + *used;
    left = buflen - *used;
    v6 = (strchr(ip, ':') != NULL);

    if (port != 0) {
        n = v6 ? snprintf(p, left, "%s[%s]:%d", sep, ip, port)
               : snprintf(p, left, "%s%s:%d", sep, ip, port);

    } else {
        n = v6 ? snprintf(p, left, "%s[%s]", sep, ip)
               : snprintf(p, left, "%s%s", sep, ip);
    }

    if (n < 0 || (size_t) n >= buflen - *used) {
        tsr_errf(err, errlen, "no room for the resolved addresses");
        return TSR_EINVAL;
    }

    *used += (size_t) n;

    return TSR_OK;
}


/*
 * "allow=": networks "addr[/bits]" separated by commas, IPv4 or IPv6.
 * With "nets" NULL only checks; else *nets is allocated (the caller
 * frees it) with *n entries.
 */

static int
tsr_store_parse_nets(const char *list, size_t len, tsr_store_net_t **nets,
    size_t *n, char *err, size_t errlen)
{
    char              addr[TSR_STORE_IP_LEN];
    size_t            count, elen, alen;
    long              bits;
    const char       *p, *end, *comma, *slash;
    tsr_store_net_t   net, *all;

    all = NULL;
    count = 0;
    p = list;
    end = list + len;

    if (nets != NULL) {
        all = OPENSSL_zalloc(TSR_STORE_MAX_LIST * sizeof(tsr_store_net_t));
        if (all == NULL) {
            tsr_errf(err, errlen, "out of memory");
            return TSR_ENOMEM;
        }
    }

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        elen = (comma != NULL) ? (size_t) (comma - p) : (size_t) (end - p);
        slash = memchr(p, '/', elen);
        alen = (slash != NULL) ? (size_t) (slash - p) : elen;

        if (count == TSR_STORE_MAX_LIST || alen == 0 || alen >= sizeof(addr))
        {
            goto invalid;
        }

        memcpy(addr, p, alen);
        addr[alen] = '\0';

        memset(&net, 0, sizeof(tsr_store_net_t));

        if (inet_pton(AF_INET, addr, net.addr) == 1) {
            net.family = AF_INET;
            net.bits = 32;

        } else if (inet_pton(AF_INET6, addr, net.addr) == 1) {
            net.family = AF_INET6;
            net.bits = 128;

        } else {
            goto invalid;
        }

        if (slash != NULL) {
            bits = 0;

            if (slash + 1 == p + elen) {
                goto invalid;
            }

            for (slash++; slash < p + elen; slash++) {
                if (*slash < '0' || *slash > '9' || bits > net.bits) {
                    goto invalid;
                }

                bits = bits * 10 + (*slash - '0');
            }

            if (bits > net.bits) {
                goto invalid;
            }

            net.bits = (int) bits;
        }

        if (all != NULL) {
            all[count] = net;
        }

        count++;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    if (nets != NULL) {
        *nets = all;
        *n = count;
    }

    return TSR_OK;

invalid:

    OPENSSL_free(all);

    tsr_errf(err, errlen, "invalid redis parameter \"allow=%.*s\": "
             "networks as addr[/bits], separated by commas", (int) len,
             list);

    return TSR_EINVAL;
}


int
tsr_store_allowed(tsr_store_t *st, const char *ip)
{
    int                     family, bits;
    size_t                  i, k;
    unsigned char           addr[16];
    const tsr_store_net_t  *net;

    if (st->nallow == 0) {
        return 1;
    }

    if (inet_pton(AF_INET, ip, addr) == 1) {
        family = AF_INET;

    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        family = AF_INET6;

    } else {
        return 0;
    }

    for (i = 0; i < st->nallow; i++) {
        net = &st->allow[i];

        if (net->family != family) {
            continue;
        }

        bits = net->bits;

        for (k = 0; bits >= 8; k++, bits -= 8) {
            if (addr[k] != net->addr[k]) {
                break;
            }
        }

        if (bits >= 8) {
            continue;
        }

        if (bits == 0
            || ((addr[k] ^ net->addr[k]) & (0xff << (8 - bits)) & 0xff) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
tsr_store_node_free(tsr_store_t *st, size_t i)
{
    tsr_store_t  *node;

    node = st->nodes[i];

    if (!node->parked || node->conn != NULL || node->ctx != NULL
        || node->head != NULL)
    {
        return 0;
    }

    tsr_store_stats_add(&st->stats, &node->stats);
    tsr_store_destroy(node);

    memmove(&st->nodes[i], &st->nodes[i + 1],
            (st->nnodes - i - 1) * sizeof(tsr_store_t *));
    st->nnodes--;

    return 1;
}


/* whether "host" is a numeric address, which resolves without waiting */

int
tsr_store_numeric(const char *host)
{
    int               rc;
    struct addrinfo   hints, *res;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;

    res = NULL;

    rc = getaddrinfo(host, NULL, &hints, &res);

    if (res != NULL) {
        freeaddrinfo(res);
    }

    return rc == 0;
}


/*
 * Starts a non-blocking connect.  The setup commands (AUTH, INFO,
 * SELECT, ROLE) are queued at once and go first on the wire, one round
 * trip; a sentinel without AUTH gets a PING, since only a reply proves
 * that Redis answers (hiredis reports the connect on the first write
 * event, which a host may post early).  The store is ready when the
 * last setup reply is in.
 */

static void
tsr_store_async_connect(tsr_store_t *st)
{
    int                 rc;
    char                err[TSR_CONN_ERR_LEN];
    const char         *call;
    tsr_conn_t         *c;
    tsr_conn_events_t   ev;

    call = "connect";

    ev.data = st;
    ev.add_read = tsr_store_ev_add_read;
    ev.del_read = tsr_store_ev_del_read;
    ev.add_write = tsr_store_ev_add_write;
    ev.del_write = tsr_store_ev_del_write;
    ev.cleanup = tsr_store_ev_cleanup;

    c = tsr_conn_connect(st->ip, st->port, st->unix_path,
                         tsr_store_tls(st), &ev, st, err,
                         sizeof(err));
    if (c == NULL) {
        tsr_store_set_error(st, "connecting to redis at %s failed: %s",
                            st->addr, err);
        tsr_store_async_failed(st, 0);
        return;
    }

    st->conn = c;
    st->fd = c->fd;
    st->conn_state = TSR_STORE_CONNECTING;
    st->conn_deadline = tsr_store_loop_now(st) + st->connect_timeout_ms
                        + st->command_timeout_ms;
    st->setup_left = 0;
    st->closing = 0;
    st->reading = 0;
    st->writing = 0;
    st->watched = 0;
    st->broken = 0;
    st->dropping = 0;
    st->no_user = 0;

    if (st->password != NULL) {
        if (st->user != NULL) {
            rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                         (void *) "AUTH", "AUTH %s %b",
                                         st->user, st->password,
                                         st->password_len);

        } else {
            rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                         (void *) "AUTH", "AUTH %b",
                                         st->password, st->password_len);
        }

        if (rc != TSR_OK) {
            goto failed;
        }

        st->setup_left++;
    }

    /* the version, judged before the connection is used; after AUTH */
    if (!st->no_caps) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "INFO",
                                     "INFO server");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->setup_left++;
    }

    if (st->db != 0) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                     (void *) "SELECT", "SELECT %d", st->db);
        if (rc != TSR_OK) {
            goto failed;
        }

        st->setup_left++;
    }

    /* a master found through sentinels: still one? */
    if (st->verify_role) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "ROLE",
                                     "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->setup_left++;
    }

    if (st->setup_left == 0) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "PING",
                                     "PING");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->setup_left++;
    }

    return;

failed:

    tsr_store_set_error(st, "%s to %s: cannot queue the setup commands",
                        call, st->addr);
    tsr_store_async_drop(st);
}


/* whether there is somewhere to connect to, now or once resolved */

static int
tsr_store_async_target(const tsr_store_t *st)
{
    return st->unix_path != NULL || st->ip[0] != '\0' || st->resolve;
}


/*
 * Asks the loop's resolver for the address of "host" before a connection
 * attempt; the attempt follows when it answers.  Until then lookups are
 * refused as while disconnected.
 */

static void
tsr_store_async_resolve(tsr_store_t *st)
{
    void  *handle;

    st->resolving = 1;
    st->resolve_handle = NULL;

    handle = st->loop.resolve(st->loop.data, st->host, tsr_store_resolved,
                              st);

    /* "done" may have run already, from inside resolve() */

    if (st->resolving) {
        if (handle == NULL) {
            /* a broken promise: never wait on it */
            st->resolving = 0;
            tsr_store_set_error(st, "resolving redis host \"%s\" did not "
                                "start", st->host);
            tsr_store_async_failed(st, 1);
            return;
        }

        st->resolve_handle = handle;
    }
}


static void
tsr_store_resolved(const char *ip, const char *err, void *arg)
{
    tsr_store_t  *st = arg;

    if (!st->resolving || st->destroying) {
        return;
    }

    st->resolving = 0;
    st->resolve_handle = NULL;

    if (ip == NULL || ip[0] == '\0' || strlen(ip) >= sizeof(st->ip)) {
        tsr_store_set_error(st, "cannot resolve redis host \"%s\": %s",
                            st->host, (err != NULL) ? err : "no address");

        if (st->ip[0] == '\0') {
            tsr_store_async_failed(st, 1);
            tsr_store_arm(st);
            return;
        }

        /* as upstream's "resolve" keeps its servers: the last address */

        tsr_store_resolve_log(st, " (trying %s, its last address)", st->ip);

        tsr_store_async_connect(st);
        tsr_store_arm(st);
        return;
    }

    if (strcmp(st->ip, ip) != 0) {
        tsr_store_log(st, TSR_LOG_INFO, "redis at %s resolved to %s",
                      st->addr, ip);

        memcpy(st->ip, ip, strlen(ip) + 1);
    }

    st->resolve_err[0] = '\0';

    tsr_store_async_connect(st);
    tsr_store_arm(st);
}


/*
 * The name failure in "err", with "fmt": at TSR_LOG_ERR once per
 * TSR_STORE_RESOLVE_LOG or when the reason changes (TSR_LOG_LIMITED: the
 * host need not limit it again), else at TSR_LOG_DEBUG.
 */

static void
tsr_store_resolve_log(tsr_store_t *st, const char *fmt, ...)
{
    int       level;
    char      more[TSR_STORE_IP_LEN + 64];
    va_list   args;
    uint64_t  now;

    now = tsr_store_loop_now(st);
    level = TSR_LOG_DEBUG;

    if (strcmp(st->resolve_err, st->err) != 0
        || now >= st->resolve_logged + TSR_STORE_RESOLVE_LOG)
    {
        level = TSR_LOG_ERR | TSR_LOG_LIMITED;
        st->resolve_logged = now;
        memcpy(st->resolve_err, st->err, sizeof(st->resolve_err));
    }

    va_start(args, fmt);
    tsr_verrf(more, sizeof(more), fmt, args);
    va_end(args);

    tsr_store_log(st, level, "%s%s", st->err, more);
}


/*
 * Frees the connection for the reason already in "err".  From inside a
 * hiredis callback the free waits until the callback returns; either
 * way pending callbacks run with NULL replies and cleanup follows, which
 * schedules the next attempt.
 */

void
tsr_store_async_drop(tsr_store_t *st)
{
    if (st->conn == NULL || st->closing) {
        return;
    }

    st->closing = 1;
    st->dropping = 1;

    tsr_conn_free(st->conn);
}


/*
 * A connection attempt failed or a connection went away: count, log,
 * and schedule the next attempt with the synchronous side's backoff.
 * A name that did not resolve ("unresolved") is such an attempt too,
 * logged once per TSR_STORE_RESOLVE_LOG or when the reason changes, and
 * not a breaker failure: without a connection lookups are refused
 * anyway, and the breaker's messages would repeat what that limit keeps
 * quiet.
 */

static void
tsr_store_async_failed(tsr_store_t *st, int unresolved)
{
    int       delay;
    uint64_t  now;

    now = tsr_store_loop_now(st);
    delay = tsr_store_backoff(st);

    st->reconnect_at = now + delay;
    st->stats.errors++;

    memcpy(st->last, st->err, sizeof(st->last));

    if (unresolved) {
        tsr_store_resolve_log(st, ", next attempt in %d ms", delay);

    } else {
        tsr_store_log(st, TSR_LOG_ERR, "%s, next attempt in %d ms", st->err,
                      delay);
        tsr_store_breaker_fail(st, now);
    }

    tsr_store_router_event(st, TSR_STORE_EV_DOWN);
}


/*
 * Queues a command (hiredis format) with its reply callback and records
 * its send time.  Nothing is queued when the ring of send times is full.
 */

static int
tsr_store_async_command(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_store_async_vcommand(st, fn, privdata, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_store_async_vcommand(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, va_list args)
{
    if (st->conn == NULL || st->sent_count == st->sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_vcommand(st->conn, fn, privdata, fmt, args) != 0) {
        return TSR_ECONN;
    }

    tsr_store_sent_push(st);

    return TSR_OK;
}


/*
 * GET and SET formatted by hand: hiredis' format parser costs more than
 * the rest of a lookup's client side.
 */

static int
tsr_store_async_get(tsr_store_t *st, tsr_req_t *req, const char *key,
    size_t keylen)
{
    int   n;
    char  cmd[64 + TSR_MAX_KEY_NAME];

    n = snprintf(cmd, sizeof(cmd), "*2\r\n$3\r\nGET\r\n$%zu\r\n", keylen);

    if (n < 0 || (size_t) n + keylen + 2 > sizeof(cmd)) {
        return TSR_EINVAL;
    }

    memcpy(cmd + n, key, keylen);
    memcpy(cmd + n + keylen, "\r\n", 2);

    return tsr_store_async_formatted(st, tsr_store_get_cb, req, cmd,
                                     n + keylen + 2);
}


static int
tsr_store_async_set(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms)
{
    int      m, rc;
    char     ttl[24], *cmd, *p;
    size_t   len;

    m = snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long) ttl_ms);

    len = 64 + keylen + vlen + m;

    cmd = OPENSSL_malloc(len);
    if (cmd == NULL) {
        return TSR_ENOMEM;
    }

    p = cmd + snprintf(cmd, len, "*5\r\n$3\r\nSET\r\n$%zu\r\n", keylen);
    memcpy(p, key, keylen);
    p += keylen;
    p += snprintf(p, len - (p - cmd), "\r\n$%zu\r\n", vlen);

    if (vlen != 0) {
        memcpy(p, val, vlen);
        p += vlen;
    }

    p += snprintf(p, len - (p - cmd), "\r\n$2\r\nPX\r\n$%d\r\n%s\r\n", m,
                  ttl);

    rc = tsr_store_async_formatted(st, tsr_store_write_cb, (void *) "SET",
                                   cmd, p - cmd);

    /* sealed bytes: nothing to wipe */
    OPENSSL_free(cmd);

    return rc;
}


/* a command formatted before, as a redirection sends it again */

static int
tsr_store_async_formatted(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *cmd, size_t len)
{
    if (st->conn == NULL || st->sent_count == st->sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_formatted(st->conn, fn, privdata, cmd, len) != 0) {
        return TSR_ECONN;
    }

    tsr_store_sent_push(st);

    return TSR_OK;
}


/*
 * The loop's millisecond time serves deadlines and stall checks; the
 * lookup latency histogram needs microseconds: one clock_gettime() per
 * command sent.
 */

static void
tsr_store_sent_push(tsr_store_t *st)
{
    size_t  i;

    i = (st->sent_first + st->sent_count) % st->sent_size;

    st->stats.commands++;
    st->sent[i] = tsr_store_loop_now(st);
    st->sent_us[i] = tsr_now_us();
    st->sent_count++;
}


uint64_t
tsr_store_sent_pop(tsr_store_t *st)
{
    uint64_t  t;

    if (st->sent_count == 0) {
        return 0;
    }

    t = st->sent[st->sent_first];

    st->sent_first = (st->sent_first + 1) % st->sent_size;
    st->sent_count--;
    st->stats.replies++;

    return t;
}


/*
 * Whether SET or DEL may be queued: never past max_queued, so hiredis'
 * output buffer stays bounded while Redis does not read.
 */

static int
tsr_store_writable(tsr_store_t *st, const char *name)
{
    if (st->conn_state != TSR_STORE_READY || st->closing) {
        st->stats.dropped++;
        tsr_store_set_error(st, "%s dropped: not connected to redis at %s",
                            name, st->addr);
        return 0;
    }

    if (st->sent_count >= (size_t) st->max_queued) {
        st->stats.dropped++;
        tsr_store_set_error(st, "%s dropped: %zu commands await replies "
                            "from redis at %s", name, st->sent_count,
                            st->addr);
        return 0;
    }

    if (tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT) {
        st->stats.dropped++;
        tsr_store_set_error(st, "%s dropped: %zu bytes wait for redis at %s "
                            "to read", name, tsr_store_unsent(st), st->addr);
        return 0;
    }

    return 1;
}


/* bytes of commands queued and not yet written */

static size_t
tsr_store_unsent(const tsr_store_t *st)
{
    return (st->conn != NULL) ? tsr_conn_unsent(st->conn) : 0;
}


static void
tsr_store_setup_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;
    redisReply   *reply = r;
    const char   *name = privdata;

    char          err[TSR_SYNC_ERR_LEN];
    tsr_caps_t    caps;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        st->closing = 1;
        return;
    }

    if (st->closing || st->conn_state != TSR_STORE_CONNECTING) {
        return;
    }

    if (name[0] == 'I') {
        tsr_caps_info(&caps, reply);

        if (tsr_caps_check(&caps, st->addr, st->user != NULL, st->no_user,
                           err, sizeof(err))
            != 0)
        {
            tsr_store_set_error(st, "%s", err);
            tsr_store_async_drop(st);
            return;
        }

        tsr_store_caps(st, &caps);

    } else if (name[0] == 'R') {
        if (tsr_store_role_reply(st, reply) != TSR_OK) {
            tsr_store_async_drop(st);
            tsr_store_router_event(st, TSR_STORE_EV_NOT_MASTER);
            return;
        }

    } else if (name[0] == 'A' && st->user != NULL && !st->no_caps
               && tsr_caps_auth_no_user(reply))
    {
        /* Redis before 6.0: told with its version by INFO, next */
        st->no_user = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (name[0] == 'A' && st->user != NULL
            && tsr_caps_auth_no_user(reply))
        {
            memset(&caps, 0, sizeof(caps));
            (void) tsr_caps_check(&caps, st->addr, 1, 1, err, sizeof(err));
            tsr_store_set_error(st, "%s", err);

        } else {
            tsr_store_reply_error(st, name, reply);
        }

        tsr_store_async_drop(st);
        return;

    } else if (reply->type != REDIS_REPLY_STATUS) {
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d", name,
                            st->addr, reply->type);
        tsr_store_async_drop(st);
        return;
    }

    if (--st->setup_left > 0) {
        return;
    }

    st->conn_state = TSR_STORE_READY;
    st->stats.connects++;
    st->stats.tls_resumed += c->tls_resumed;
    st->backoff_ms = st->backoff_min_ms;
    st->last[0] = '\0';

    /* a new connection ends the open period: try it */
    if (st->breaker == TSR_STORE_OPEN) {
        st->breaker = TSR_STORE_HALF_OPEN;
    }

    tsr_store_log(st, TSR_LOG_INFO, "connected to redis at %s", st->addr);

    tsr_store_router_event(st, TSR_STORE_EV_READY);
}


tsr_req_t *
tsr_store_get_async(tsr_store_t *st, const char *key, size_t keylen,
    int getdel, uint64_t timeout_ms, tsr_store_done_pt done, void *arg)
{
    const char  *name;

    if (st == NULL) {
        return NULL;
    }

    name = getdel ? "GETDEL" : "GET";

    if (!st->async) {
        tsr_store_set_error(st, "%s: the store is not asynchronous", name);
        return NULL;
    }

    if (key == NULL || keylen == 0 || keylen > TSR_MAX_KEY_NAME
        || timeout_ms == 0 || done == NULL)
    {
        tsr_store_set_error(st, "%s: invalid arguments", name);
        return NULL;
    }

    return st->topo->get_async(st, name, key, keylen, getdel, timeout_ms,
                               done, arg);
}


static tsr_req_t *
tsr_store_single_get_async(tsr_store_t *st, const char *name,
    const char *key, size_t keylen, int getdel, uint64_t timeout_ms,
    tsr_store_done_pt done, void *arg)
{
    int          rc, haskey;
    uint64_t     now;
    tsr_req_t   *req;

    st->stats.gets++;

    now = tsr_store_loop_now(st);

    if (st->conn_state != TSR_STORE_READY || st->closing) {
        if (st->last[0] != '\0') {
            tsr_store_set_error(st, "%s refused: not connected to redis at "
                                "%s: %s", name, st->addr, st->last);

        } else {
            tsr_store_set_error(st, "%s refused: not connected to redis at "
                                "%s yet", name, st->addr);
        }

        goto refused;
    }

    if (tsr_store_breaker_state(st, now) == TSR_STORE_OPEN) {
        tsr_store_set_error(st, "%s refused: circuit breaker for redis at %s "
                            "open for %llu more ms", name, st->addr,
                            (unsigned long long) (st->breaker_until - now));
        goto refused;
    }

    if (st->lookups >= st->max_inflight) {
        tsr_store_set_error(st, "%s refused: %d lookups in flight to redis "
                            "at %s", name, st->lookups, st->addr);
        goto refused;
    }

    if (st->sent_count >= (size_t) st->max_queued
        || tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_store_set_error(st, "%s refused: %zu commands await replies from "
                            "redis at %s, %zu bytes unsent", name,
                            st->sent_count, st->addr, tsr_store_unsent(st));
        goto refused;
    }

    if (timeout_ms > TSR_STORE_MAX_TIMEOUT) {
        timeout_ms = TSR_STORE_MAX_TIMEOUT;
    }

    /* a router's node may have to send it again, elsewhere */
    haskey = (getdel || st->parent != NULL);

    req = OPENSSL_malloc(sizeof(tsr_req_t) + (haskey ? keylen : 0));
    if (req == NULL) {
        tsr_store_set_error(st, "%s: out of memory", name);
        goto refused;
    }

    req->prev = NULL;
    req->next = NULL;
    req->store = st;
    req->done = done;
    req->arg = arg;
    req->deadline = now + timeout_ms;
    req->timeout = timeout_ms;
    req->keylen = keylen;
    req->getdel = getdel ? 1 : 0;
    req->eval = 0;
    req->haskey = haskey;
    req->redirected = 0;
    req->script = 0;
    req->cmd = NULL;
    req->cmdlen = 0;

    if (haskey) {
        memcpy(req->key, key, keylen);
    }

    if (getdel && st->getdel_eval) {
        req->eval = 1;
        rc = tsr_store_async_command(st, tsr_store_get_cb, req,
                                     "EVAL %s 1 %b", tsr_store_getdel_lua,
                                     key, keylen);

    } else if (!getdel) {
        rc = tsr_store_async_get(st, req, key, keylen);

    } else {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req, "%s %b",
                                     name, key, keylen);
    }

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s on %s: hiredis refused the command",
                            name, st->addr);
        tsr_store_req_free(req);
        goto refused;
    }

    st->lookups++;

    if (timeout_ms > st->max_timeout) {
        st->max_timeout = timeout_ms;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return req;

refused:

    st->stats.refused++;

    return NULL;
}


tsr_req_t *
tsr_store_eval_async(tsr_store_t *st, const char *script, size_t len,
    const char *key, size_t keylen, int argc, const char **argv,
    const size_t *argvlen, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg)
{
    int           i, n, rc;
    char         *cmd;
    size_t        avlen[TSR_STORE_EVAL_ARGS + 4];
    uint64_t      now;
    tsr_req_t    *req;
    tsr_store_t  *node;
    const char   *av[TSR_STORE_EVAL_ARGS + 4];

    if (st == NULL) {
        return NULL;
    }

    if (!st->async) {
        tsr_store_set_error(st, "EVAL: the store is not asynchronous");
        return NULL;
    }

    if (script == NULL || len == 0 || key == NULL || keylen == 0
        || keylen > TSR_MAX_KEY_NAME || argc < 0
        || argc > TSR_STORE_EVAL_ARGS || (argc > 0 && argv == NULL)
        || timeout_ms == 0 || done == NULL)
    {
        tsr_store_set_error(st, "EVAL: invalid arguments");
        return NULL;
    }

    if (!st->topo->eval) {
        /* a router: the node GET of the key would go to */

        node = st->topo->route(st, key, keylen);
        if (node == NULL) {
            /* the message is in "err" */
            st->stats.gets++;
            st->stats.refused++;
            return NULL;
        }

        req = tsr_store_eval_async(node, script, len, key, keylen, argc,
                                   argv, argvlen, timeout_ms, done, arg);
        if (req == NULL) {
            memcpy(st->err, node->err, sizeof(st->err));
        }

        return req;
    }

    st->stats.gets++;

    now = tsr_store_loop_now(st);

    if (st->conn_state != TSR_STORE_READY || st->closing
        || tsr_store_breaker_state(st, now) == TSR_STORE_OPEN
        || st->lookups >= st->max_inflight
        || st->sent_count >= (size_t) st->max_queued
        || tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_store_set_error(st, "EVAL refused: redis at %s is not "
                            "connected, or busy", st->addr);
        goto refused;
    }

    if (timeout_ms > TSR_STORE_MAX_TIMEOUT) {
        timeout_ms = TSR_STORE_MAX_TIMEOUT;
    }

    av[0] = "EVAL";
    avlen[0] = 4;
    av[1] = script;
    avlen[1] = len;
    av[2] = "1";
    avlen[2] = 1;
    av[3] = key;
    avlen[3] = keylen;

    for (i = 0; i < argc; i++) {
        av[4 + i] = argv[i];
        avlen[4 + i] = (argvlen != NULL) ? argvlen[i] : strlen(argv[i]);
    }

    n = redisFormatCommandArgv(&cmd, argc + 4, av, avlen);
    if (n < 0) {
        tsr_store_set_error(st, "EVAL: out of memory");
        goto refused;
    }

    req = OPENSSL_malloc(sizeof(tsr_req_t));
    if (req == NULL) {
        OPENSSL_cleanse(cmd, n);
        redisFreeCommand(cmd);
        tsr_store_set_error(st, "EVAL: out of memory");
        goto refused;
    }

    req->prev = NULL;
    req->next = NULL;
    req->store = st;
    req->done = done;
    req->arg = arg;
    req->deadline = now + timeout_ms;
    req->timeout = timeout_ms;
    req->keylen = keylen;
    req->getdel = 0;
    req->eval = 1;
    req->haskey = 0;
    req->redirected = 0;
    req->script = 1;
    req->cmd = NULL;
    req->cmdlen = 0;

    rc = tsr_store_async_formatted(st, tsr_store_get_cb, req, cmd, n);

    /*
     * A router's node keeps the command, for the node a redirection
     * names; elsewhere it goes at once.  The caller's arguments may be
     * secret: wiped in either case.
     */

    if (rc == TSR_OK && st->parent != NULL) {
        req->cmd = OPENSSL_malloc(n);

        if (req->cmd != NULL) {
            memcpy(req->cmd, cmd, n);
            req->cmdlen = n;
        }
    }

    OPENSSL_cleanse(cmd, n);
    redisFreeCommand(cmd);

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "EVAL on %s: hiredis refused the command",
                            st->addr);
        tsr_store_req_free(req);
        goto refused;
    }

    st->lookups++;

    if (timeout_ms > st->max_timeout) {
        st->max_timeout = timeout_ms;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return req;

refused:

    st->stats.refused++;

    return NULL;
}


/*
 * The reply to a lookup, or NULL when the context goes away.  A caller
 * still waiting is answered; the request is freed in any case, unless
 * it goes on as the GETDEL script.
 */

static void
tsr_store_get_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    int           rc;
    uint64_t      sent, now;
    tsr_req_t    *req = privdata;
    redisReply   *reply = r;
    tsr_store_t  *st;

    st = req->store;

    sent = (st->sent_count > 0) ? st->sent_us[st->sent_first] : 0;
    (void) tsr_store_sent_pop(st);
    st->lookups--;

    if (reply == NULL) {
        st->closing = 1;

        if (req->done != NULL) {
            tsr_store_set_error(st, "%s on %s failed: connection lost",
                                tsr_store_req_name(req), st->addr);
            tsr_store_complete(st, req, TSR_ECONN, NULL);
        }

        tsr_store_req_free(req);
        return;
    }

    now = tsr_now_us();
    tsr_store_latency(st, now > sent ? now - sent : 0);

    if (st->parent != NULL && reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_store_router_error(st, reply, req, NULL)) {

        case TSR_STORE_ERROR_REDIRECT:
            /* it goes on, on another node */
            return;

        case TSR_STORE_ERROR_LOST:
            if (req->done != NULL) {
                tsr_store_complete(st, req, TSR_ECONN, NULL);
            }

            tsr_store_req_free(req);
            return;
        }
    }

    if (req->getdel && !req->eval && tsr_store_unknown_command(reply)) {
        if (!st->getdel_eval) {
            st->getdel_eval = 1;
            tsr_store_log(st, TSR_LOG_INFO, "redis at %s has no GETDEL, "
                          "using EVAL instead", st->addr);
        }

        req->eval = 1;

        /* the script goes after everything queued: the ring stays fair */
        if (!st->closing
            && tsr_store_async_command(st, tsr_store_get_cb, req,
                                       "EVAL %s 1 %b", tsr_store_getdel_lua,
                                       req->key, req->keylen)
               == TSR_OK)
        {
            st->lookups++;
            return;
        }
    }

    if (req->done != NULL) {
        rc = tsr_store_lookup_reply(st, tsr_store_req_name(req), reply,
                                    req->keylen, TSR_MAX_VALUE);
        tsr_store_complete(st, req, rc, reply);
    }

    /* hiredis frees the reply after this callback; the value goes first */
    if (reply->type == REDIS_REPLY_STRING) {
        st->wipe = 1;
    }

    tsr_store_wipe_reply(reply);
    tsr_store_req_free(req);
}


/* fire and forget: only counted, and errors logged (the host limits) */

static void
tsr_store_write_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;
    redisReply   *reply = r;
    const char   *name = privdata;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        /* lost with the connection, whose end is logged once */
        st->closing = 1;
        st->stats.errors++;
        return;
    }

    tsr_store_write_reply(st, name, reply);
}


/* a write of a router's node, which a redirection sends again */

static void
tsr_store_wcmd_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t       *st = c->data;
    redisReply        *reply = r;
    tsr_store_wcmd_t  *w = privdata;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        st->closing = 1;
        st->stats.errors++;
        tsr_store_wcmd_free(w);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_store_router_error(st, reply, NULL, w)) {

        case TSR_STORE_ERROR_REDIRECT:
            return;

        case TSR_STORE_ERROR_LOST:
            st->stats.errors++;
            tsr_store_log(st, TSR_LOG_ERR, "%s", st->err);
            tsr_store_wcmd_free(w);
            return;
        }
    }

    tsr_store_write_reply(st, w->name, reply);
    tsr_store_wcmd_free(w);
}


static void
tsr_store_wcmd_free(tsr_store_wcmd_t *w)
{
    OPENSSL_cleanse(w->cmd, w->len);
    redisFreeCommand(w->cmd);
    OPENSSL_free(w);
}


/* ASKING before a command redirected by ASK: only counted */

static void
tsr_store_asking_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;

    (void) tsr_store_sent_pop(st);

    if (r == NULL) {
        st->closing = 1;
    }
}


static void
tsr_store_write_reply(tsr_store_t *st, const char *name,
    const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        st->stats.errors++;
        tsr_store_reply_error(st, name, reply);
        tsr_store_log(st, TSR_LOG_ERR, "%s", st->err);
        return;
    }

    if (name[0] == 'S'
        ? (reply->type == REDIS_REPLY_STATUS && reply->len == 2
           && memcmp(reply->str, "OK", 2) == 0)
        : reply->type == REDIS_REPLY_INTEGER)
    {
        return;
    }

    st->stats.errors++;
    tsr_store_set_error(st, "%s on %s: unexpected reply type %d", name,
                        st->addr, reply->type);
    tsr_store_log(st, TSR_LOG_ERR, "%s", st->err);
}


static const char *
tsr_store_req_name(const tsr_req_t *req)
{
    return req->eval ? "EVAL" : (req->getdel ? "GETDEL" : "GET");
}


/*
 * Answers the caller of a waiting lookup; the message for a failure is
 * in "err" already.  A lost connection counts for the breaker once, in
 * tsr_store_async_failed(), not once per lookup.
 */

static void
tsr_store_complete(tsr_store_t *st, tsr_req_t *req, int rc,
    const redisReply *reply)
{
    tsr_store_done_pt  done;

    tsr_store_req_unlink(st, req);

    done = req->done;
    req->done = NULL;

    switch (rc) {

    case TSR_OK:
    case TSR_NOT_FOUND:
        tsr_store_breaker_ok(st);
        break;

    case TSR_ECONN:
        st->stats.errors++;
        break;

    case TSR_ETIMEDOUT:
        st->stats.timeouts++;
        /* fall through */

    default:
        st->stats.errors++;
        tsr_store_breaker_fail(st, tsr_store_loop_now(st));
        break;
    }

    if (rc == TSR_OK) {
        done(rc, (const uint8_t *) reply->str, reply->len, req->arg);

    } else {
        done(rc, NULL, 0, req->arg);
    }
}


void
tsr_store_cancel(tsr_req_t *req)
{
    if (req == NULL || req->done == NULL) {
        return;
    }

    tsr_store_req_unlink(req->store, req);
    req->done = NULL;
}


/* in deadline order, searched from the tail: deadlines mostly grow */

static void
tsr_store_req_insert(tsr_store_t *st, tsr_req_t *req)
{
    tsr_req_t  *p;

    for (p = st->tail; p != NULL && p->deadline > req->deadline; p = p->prev)
    {
        /* void */
    }

    req->prev = p;
    req->next = (p != NULL) ? p->next : st->head;

    if (req->next != NULL) {
        req->next->prev = req;

    } else {
        st->tail = req;
    }

    if (p != NULL) {
        p->next = req;

    } else {
        st->head = req;
    }
}


static void
tsr_store_req_unlink(tsr_store_t *st, tsr_req_t *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;

    } else {
        st->head = req->next;
    }

    if (req->next != NULL) {
        req->next->prev = req->prev;

    } else {
        st->tail = req->prev;
    }

    req->prev = NULL;
    req->next = NULL;
}


/* a key name holds the session id in hex: wiped too */

static void
tsr_store_req_free(tsr_req_t *req)
{
    if (req->haskey) {
        OPENSSL_cleanse(req->key, req->keylen);
    }

    if (req->cmd != NULL) {
        OPENSSL_cleanse(req->cmd, req->cmdlen);
        OPENSSL_free(req->cmd);
    }

    OPENSSL_free(req);
}


/* an open breaker becomes half-open when its period is over */

static int
tsr_store_breaker_state(tsr_store_t *st, uint64_t now)
{
    if (st->breaker == TSR_STORE_OPEN && now >= st->breaker_until) {
        st->breaker = TSR_STORE_HALF_OPEN;
    }

    return st->breaker;
}


static void
tsr_store_breaker_ok(tsr_store_t *st)
{
    st->failures = 0;

    if (st->breaker == TSR_STORE_CLOSED) {
        return;
    }

    st->breaker = TSR_STORE_CLOSED;
    st->breaker_ms = st->backoff_min_ms;

    tsr_store_log(st, TSR_LOG_INFO, "circuit breaker for redis at %s closed",
                  st->addr);
}


/*
 * Failures in a row open the breaker for the current backoff; one
 * failure while half-open opens it again for twice as long.  Failures
 * while open (of lookups sent before) change nothing.
 */

static void
tsr_store_breaker_fail(tsr_store_t *st, uint64_t now)
{
    st->failures++;

    switch (tsr_store_breaker_state(st, now)) {

    case TSR_STORE_CLOSED:
        if (st->failures < st->breaker_failures) {
            return;
        }

        break;

    case TSR_STORE_HALF_OPEN:
        st->breaker_ms = (st->breaker_ms > st->backoff_max_ms / 2)
                         ? st->backoff_max_ms : st->breaker_ms * 2;
        break;

    default: /* TSR_STORE_OPEN */
        return;
    }

    st->breaker = TSR_STORE_OPEN;
    st->breaker_until = now + st->breaker_ms;
    st->stats.breaker_opened++;

    tsr_store_log(st, TSR_LOG_WARN, "circuit breaker for redis at %s open "
                  "for %d ms after %d failures in a row, the last: %s",
                  st->addr, st->breaker_ms, st->failures, st->err);
}


static void
tsr_store_latency(tsr_store_t *st, uint64_t us)
{
    size_t  i;

    static const uint64_t  bounds[] = TSR_STORE_LATENCY_BOUNDS;

    for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        if (us <= bounds[i]) {
            break;
        }
    }

    st->stats.latency[i]++;
    st->stats.latency_sum_us += us;
}


/*
 * How long the oldest command may wait for its reply before the
 * connection counts as stuck (a stopped Redis keeps the socket open):
 * well past any deadline, so a merely slow Redis keeps its connection.
 */

static uint64_t
tsr_store_stall_ms(tsr_store_t *st)
{
    uint64_t  ms;

    ms = st->max_timeout * TSR_STORE_STALL_FACTOR;

    return (ms > TSR_STORE_STALL_MIN) ? ms : TSR_STORE_STALL_MIN;
}


/*
 * Arms the single loop timer for the earliest of: the first deadline,
 * the connect deadline, the stall check of the oldest command, the next
 * connect attempt, or at once for a socket the loop refused.  A timer
 * that fires earlier than needed just re-arms, so it is moved only
 * forward in time.
 */

void
tsr_store_arm(tsr_store_t *st)
{
    uint64_t  at, t, now;

    if (!st->async || st->destroying) {
        return;
    }

    at = (st->head != NULL) ? st->head->deadline : 0;
    t = 0;

    if (st->conn != NULL) {
        if (st->broken || st->read_more) {
            t = 1;

        } else if (st->conn_state == TSR_STORE_CONNECTING) {
            t = st->conn_deadline;

        } else if (st->sent_count > 0) {
            t = st->sent[st->sent_first] + tsr_store_stall_ms(st);
        }

    } else if (tsr_store_async_target(st) && !st->parked
               && !st->resolving)
    {
        t = (st->reconnect_at != 0) ? st->reconnect_at : 1;
    }

    if (t != 0 && (at == 0 || t < at)) {
        at = t;
    }

    if (at == 0 || (st->timer_at != 0 && st->timer_at <= at)) {
        return;
    }

    now = tsr_store_loop_now(st);

    /*
     * Disarm first: a host may keep an armed timer whose new time is
     * close to the old one (nginx does within 300 ms).
     */
    if (st->timer_at != 0) {
        st->loop.timer(st->loop.data, 0);
    }

    st->loop.timer(st->loop.data, (at > now) ? at - now : 1);
    st->timer_at = at;
}


void
tsr_store_on_timer(tsr_store_t *st)
{
    if (st == NULL || !st->async || st->destroying) {
        return;
    }

    st->topo->on_timer(st);
}


static void
tsr_store_single_timer(tsr_store_t *st)
{
    uint64_t  now, first;

    st->timer_at = 0;

    if (st->read_more && st->conn != NULL && !st->closing) {
        tsr_store_on_read_fd(st, st->fd);

        if (st->destroying) {
            return;
        }
    }

    now = tsr_store_loop_now(st);

    /* the callers may start or cancel lookups: take the head each time */

    while (st->head != NULL && st->head->deadline <= now) {
        tsr_store_set_error(st, "%s on %s timed out after %llu ms",
                            tsr_store_req_name(st->head), st->addr,
                            (unsigned long long) st->head->timeout);
        tsr_store_complete(st, st->head, TSR_ETIMEDOUT, NULL);
    }

    if (st->conn != NULL && !st->closing) {
        if (st->broken) {
            tsr_store_set_error(st, "the event loop refused the socket of "
                                "redis at %s", st->addr);
            tsr_store_async_drop(st);

        } else if (st->conn_state == TSR_STORE_CONNECTING) {
            if (now >= st->conn_deadline) {
                tsr_store_set_error(st, "connecting to redis at %s timed "
                                    "out after %d ms", st->addr,
                                    st->connect_timeout_ms
                                    + st->command_timeout_ms);
                tsr_store_async_drop(st);
            }

        } else if (st->sent_count > 0) {
            first = st->sent[st->sent_first];

            if (now > first && now - first >= tsr_store_stall_ms(st)) {
                tsr_store_set_error(st, "redis at %s has not answered for "
                                    "%llu ms", st->addr,
                                    (unsigned long long) (now - first));
                tsr_store_async_drop(st);
            }
        }
    }

    if (st->conn == NULL && tsr_store_async_target(st) && !st->parked
        && !st->resolving && now >= st->reconnect_at)
    {
        if (st->resolve) {
            tsr_store_async_resolve(st);

        } else {
            tsr_store_async_connect(st);
        }
    }

    tsr_store_arm(st);
}


/*
 * hiredis reads at most 16 KiB per call and the host's events may be
 * edge-triggered: read again while the socket holds more.
 */

void
tsr_store_on_read(tsr_store_t *st)
{
    tsr_store_on_read_fd(st, -1);
}


void
tsr_store_on_read_fd(tsr_store_t *st, int fd)
{
    if (st == NULL || !st->async || st->destroying) {
        return;
    }

    st->topo->on_read(st, fd);
}


static void
tsr_store_single_read(tsr_store_t *st, int fd)
{
    int          reads;
    ssize_t      n;
    tsr_conn_t  *c;

    /* an event of a socket closed since */
    if (fd != -1 && fd != st->fd) {
        return;
    }

    c = st->conn;

    /* connects happen in tsr_store_on_timer() only: "c" or NULL here */

    st->reading_now = 1;
    st->read_more = 0;
    reads = 0;

    /*
     * A read that comes back short has emptied the socket (what arrives
     * later raises a new edge): no second read is needed to find out.
     */

    while (c != NULL) {
        if (reads++ == TSR_STORE_READS_PER_EVENT) {
            st->read_more = 1;
            break;
        }

        n = tsr_conn_on_read(c);

        if (st->conn != c) {
            /* the connection ended, "err" says why */
            break;
        }

        if (n > 0) {
            st->stats.reads++;
        }

        /* a reply refused anyway must not grow for as long as it comes */

        if (tsr_conn_pending(c) > TSR_RESP_MAX_PENDING) {
            tsr_store_set_error(st, "redis at %s sent a reply of more than "
                                "%d bytes", st->addr, TSR_RESP_MAX_PENDING);
            tsr_store_async_drop(st);
            break;
        }

        if (n < TSR_CONN_READ_SIZE) {
            break;
        }
    }

    st->reading_now = 0;

    if (st->wipe) {
        st->wipe = 0;

        if (st->conn != NULL) {
            tsr_conn_wipe_input(st->conn);
        }
    }

    tsr_store_arm(st);
}


/*
 * What hiredis holds goes out in one write(): the commands queued since
 * the last one.  hiredis asks for a write event on each command it
 * queues, and the host runs it at the end of its loop turn (nginx: a
 * posted event), so the commands of one turn leave together and nothing
 * waits for a batch to fill.  SETs go earlier, see
 * tsr_store_write_done().
 */

static void
tsr_store_handle_write(tsr_store_t *st)
{
    st->flushing = 1;

    if (tsr_conn_on_write(st->conn) > 0) {
        st->stats.writes++;
    }

    st->flushing = 0;
}


void
tsr_store_on_write(tsr_store_t *st)
{
    tsr_store_on_write_fd(st, -1);
}


void
tsr_store_on_write_fd(tsr_store_t *st, int fd)
{
    if (st == NULL || !st->async || st->destroying) {
        return;
    }

    st->topo->on_write(st, fd);
}


static void
tsr_store_single_write(tsr_store_t *st, int fd)
{
    if (fd != -1 && fd != st->fd) {
        return;
    }

    if (st->conn != NULL) {
        tsr_store_handle_write(st);
    }

    tsr_store_arm(st);
}


int
tsr_store_inflight(const tsr_store_t *st)
{
    int     n;
    size_t  i;

    if (st == NULL || !st->async) {
        return 0;
    }

    n = st->lookups;

    for (i = 0; i < st->nnodes; i++) {
        n += st->nodes[i]->lookups;
    }

    return n;
}


int
tsr_store_state(const tsr_store_t *st)
{
    if (st == NULL || !st->async) {
        return TSR_STORE_STATE_DOWN;
    }

    return st->topo->state(st);
}


static int
tsr_store_single_state(const tsr_store_t *st)
{
    if (st->breaker == TSR_STORE_OPEN) {
        return TSR_STORE_STATE_BREAKER_OPEN;
    }

    if (st->conn_state == TSR_STORE_READY) {
        return TSR_STORE_STATE_UP;
    }

    return (st->conn_state == TSR_STORE_CONNECTING) ? TSR_STORE_STATE_CONNECTING
                                              : TSR_STORE_STATE_DOWN;
}


uint64_t
tsr_store_loop_now(tsr_store_t *st)
{
    return st->loop.now(st->loop.data);
}


/*
 * The adapter hiredis drives.  Interests are kept here and the loop told
 * on changes, and on each addWrite for new commands: hosts with edge-
 * triggered events flush on that call (the write edge may be spent), by
 * posting a write event.  Not on the addWrite of a write that stopped
 * at EAGAIN (a full buffer, or a connect still in progress that hiredis
 * took for done): the next edge will come, and a host running posted
 * events at once (nginx) would spin until then.  A refusal cannot be
 * handled inside hiredis: the timer drops the socket.
 */

static void
tsr_store_watch(tsr_store_t *st)
{
    if (st->broken) {
        return;
    }

    /* a failed watch may have registered something: unwatch it later */
    st->watched = 1;

    if (st->loop.watch(st->loop.data, st->fd, st->reading, st->writing)
        != 0)
    {
        st->broken = 1;
    }
}


static void
tsr_store_ev_add_read(void *data)
{
    tsr_store_t  *st = data;

    if (!st->reading) {
        st->reading = 1;
        tsr_store_watch(st);
    }
}


static void
tsr_store_ev_del_read(void *data)
{
    tsr_store_t  *st = data;

    if (st->reading) {
        st->reading = 0;
        tsr_store_watch(st);
    }
}


static void
tsr_store_ev_add_write(void *data)
{
    tsr_store_t  *st = data;

    if (st->writing && st->flushing) {
        return;
    }

    st->writing = 1;
    tsr_store_watch(st);
}


static void
tsr_store_ev_del_write(void *data)
{
    tsr_store_t  *st = data;

    if (st->writing) {
        st->writing = 0;
        tsr_store_watch(st);
    }
}


/*
 * The connection ends, after the NULL-reply callbacks and before it
 * closes the socket: the one place where a connection ends.
 */

static void
tsr_store_ev_cleanup(void *data)
{
    tsr_store_t  *st = data;

    int          ready;
    tsr_conn_t  *c;

    c = st->conn;

    if (st->watched) {
        st->loop.unwatch(st->loop.data, st->fd);
    }

    ready = (st->conn_state == TSR_STORE_READY);

    if (!st->dropping && !st->destroying && !st->quiet) {
        if (ready) {
            tsr_store_set_error(st, "connection to redis at %s lost: %s",
                                st->addr,
                                c->err ? c->errstr : "connection closed");

        } else {
            tsr_store_set_error(st, "connecting to redis at %s failed: %s",
                                st->addr,
                                c->err ? c->errstr : "connection closed");
        }
    }

    st->conn = NULL;
    st->read_more = 0;
    st->fd = -1;
    st->conn_state = TSR_STORE_IDLE;
    st->setup_left = 0;
    st->sent_first = 0;
    st->sent_count = 0;
    st->closing = 0;
    st->reading = 0;
    st->writing = 0;
    st->watched = 0;
    st->broken = 0;
    st->dropping = 0;
    st->wipe = 0;

    /* "flushing" stays: tsr_conn_on_write() may be on the stack */

    if (st->destroying) {
        return;
    }

    if (st->quiet) {
        /* closed on purpose by the router: no failure, no backoff */
        st->quiet = 0;
        st->reconnect_at = 0;

    } else {
        tsr_store_async_failed(st, 0);
    }

    /* the router may have closed it from outside the store's calls */
    tsr_store_arm(st);
}


/* ---- writes, and what a router's nodes do with redirections ---- */

/*
 * Queues SET or DEL (fire and forget).  A router's node keeps the
 * command, formatted, for a redirection to send again.
 */

static void
tsr_store_write_async(tsr_store_t *st, const char *name, const char *fmt,
    ...)
{
    int      rc;
    va_list  args;

    rc = TSR_OK;

    if (tsr_store_writable(st, name)) {
        va_start(args, fmt);

        if (st->parent == NULL) {
            rc = tsr_store_async_vcommand(st, tsr_store_write_cb,
                                          (void *) name, fmt, args);

        } else {
            rc = tsr_store_wcmd_send(st, name, fmt, args);
        }

        va_end(args);
    }

    tsr_store_write_done(st, name, rc);
}


/*
 * After a write was queued (or refused, "rc").  A DEL leaves with the
 * other commands of this loop turn, on the write event hiredis asked
 * for.  A SET leaves at once, with whatever this turn queued before it:
 * it stores a session whose client is being sent its ticket or Finished
 * in this very handshake call (TLS 1.3 tickets are written after the
 * new session callback), and that client may offer it to another node
 * before this worker's turn ends.  In Redis first, then in the client's
 * hands: cross-node resumption does not depend on the scheduler.
 */

static void
tsr_store_write_done(tsr_store_t *st, const char *name, int rc)
{
    if (rc != TSR_OK) {
        st->stats.dropped++;
        tsr_store_set_error(st, "%s dropped: hiredis refused it", name);

    } else if (strcmp(name, "SET") == 0) {
        tsr_store_flush_now(st);
    }

    tsr_store_arm(st);
}


/* not from inside hiredis, which must not be entered again */

static void
tsr_store_flush_now(tsr_store_t *st)
{
    if (st->conn == NULL || st->conn_state != TSR_STORE_READY || st->closing
        || st->destroying || st->flushing || st->reading_now || st->broken)
    {
        return;
    }

    tsr_store_handle_write(st);
}


static int
tsr_store_wcmd_send(tsr_store_t *st, const char *name, const char *fmt,
    va_list args)
{
    int                rc, len;
    char              *cmd;
    tsr_store_wcmd_t  *w;

    w = OPENSSL_malloc(sizeof(tsr_store_wcmd_t));
    if (w == NULL) {
        return TSR_ENOMEM;
    }

    len = redisvFormatCommand(&cmd, fmt, args);
    if (len < 0) {
        OPENSSL_free(w);
        return TSR_ENOMEM;
    }

    w->name = name;
    w->cmd = cmd;
    w->len = len;
    w->redirected = 0;

    rc = tsr_store_async_formatted(st, tsr_store_wcmd_cb, w, w->cmd, w->len);
    if (rc != TSR_OK) {
        tsr_store_wcmd_free(w);
    }

    return rc;
}


/*
 * An error reply to a command of a router's node, "req" or "w": a
 * redirection is followed once, to a node connected already (a lookup
 * keeps its deadline); anything else is news for the router.  Returns
 * TSR_STORE_ERROR_REDIRECT when the command went on elsewhere,
 * TSR_STORE_ERROR_LOST (with a message) when a redirection was not
 * followed or the cluster said it is down (no failure of the node's
 * for its breaker), else TSR_STORE_ERROR_OTHER.
 */

static int
tsr_store_router_error(tsr_store_t *st, const redisReply *reply,
    tsr_req_t *req, tsr_store_wcmd_t *w)
{
    int           ask, rc;
    const char   *name;
    tsr_store_t  *target;

    if (reply->str == NULL || st->parent->destroying) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (st->parent->topo->error == NULL) {
        tsr_store_router_news(st, reply);
        return TSR_STORE_ERROR_OTHER;
    }

    target = NULL;
    ask = 0;

    rc = st->parent->topo->error(st->parent, st, reply, &target, &ask);
    if (rc != TSR_STORE_ERROR_REDIRECT) {
        return rc;
    }

    name = (req != NULL) ? tsr_store_req_name(req) : w->name;

    if (req != NULL && req->done == NULL) {
        /* no caller waits any more */
        return TSR_STORE_ERROR_LOST;
    }

    if ((req != NULL && req->redirected) || (w != NULL && w->redirected)) {
        tsr_store_set_error(st, "%s on %s: redirected twice, given up",
                            name, st->addr);
        return TSR_STORE_ERROR_LOST;
    }

    if (target == NULL || target == st || !tsr_store_node_ready(target)) {
        tsr_store_set_error(st, "%s on %s: redirected to %s, not connected "
                            "yet", name, st->addr,
                            target != NULL ? target->addr : "a node");
        return TSR_STORE_ERROR_LOST;
    }

    rc = (req != NULL) ? tsr_store_req_resend(target, req, ask)
                       : tsr_store_wcmd_resend(target, w, ask);

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s on %s: redirected to %s, which refused "
                            "it", name, st->addr, target->addr);
        return TSR_STORE_ERROR_LOST;
    }

    return TSR_STORE_ERROR_REDIRECT;
}


/*
 * Sends a lookup again on "st", after ASKING for an ASK redirection; it
 * moves to the node's list with its deadline.  Written with the node's
 * next write event, not at once: this runs inside another node's reply.
 */

static int
tsr_store_req_resend(tsr_store_t *st, tsr_req_t *req, int ask)
{
    int           rc;
    tsr_store_t  *from;

    if (st->sent_count + 2 > st->sent_size
        || st->sent_count >= (size_t) st->max_queued)
    {
        return TSR_ERROR;
    }

    if (req->script && req->cmd == NULL) {
        /* its copy could not be kept */
        return TSR_ERROR;
    }

    if (ask
        && tsr_store_async_command(st, tsr_store_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    if (req->script) {
        rc = tsr_store_async_formatted(st, tsr_store_get_cb, req, req->cmd,
                                       req->cmdlen);

    } else if (req->eval) {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req,
                                     "EVAL %s 1 %b", tsr_store_getdel_lua,
                                     req->key, req->keylen);

    } else {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req, "%s %b",
                                     req->getdel ? "GETDEL" : "GET",
                                     req->key, req->keylen);
    }

    if (rc != TSR_OK) {
        return rc;
    }

    from = req->store;

    tsr_store_req_unlink(from, req);

    req->store = st;
    req->redirected = 1;
    st->lookups++;

    if (req->timeout > st->max_timeout) {
        st->max_timeout = req->timeout;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return TSR_OK;
}


static int
tsr_store_wcmd_resend(tsr_store_t *st, tsr_store_wcmd_t *w, int ask)
{
    if (st->sent_count + 2 > st->sent_size
        || st->sent_count >= (size_t) st->max_queued)
    {
        return TSR_ERROR;
    }

    if (ask
        && tsr_store_async_command(st, tsr_store_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    w->redirected = 1;

    if (tsr_store_async_formatted(st, tsr_store_wcmd_cb, w, w->cmd, w->len)
        != TSR_OK)
    {
        return TSR_ERROR;
    }

    tsr_store_arm(st);

    return TSR_OK;
}


const tsr_topo_ops_t  tsr_topo_single = {
    .name = "single",
    .destroy = tsr_store_single_destroy,
    .connect = tsr_store_single_connect,
    .op = tsr_store_single_op,
    .async = tsr_store_single_async,
    .get_async = tsr_store_single_get_async,
    .on_timer = tsr_store_single_timer,
    .on_read = tsr_store_single_read,
    .on_write = tsr_store_single_write,
    .state = tsr_store_single_state,
    .eval = 1
};
