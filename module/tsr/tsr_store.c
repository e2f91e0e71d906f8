
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
 * public calls go through that table.  This file holds the store object
 * (create, destroy, errors, counters), the public calls, which check
 * their arguments and dispatch, and the lifetime of an asynchronous
 * lookup (tsr_req_t: kept in deadline order, answered, cancelled,
 * freed).  Around it: tsr_store_conf.c parses addresses; tsr_server.c
 * is one server's connection work, which the single server
 * (tsr_single.c, tsr_topo_single) and every router's node run;
 * tsr_router.c holds what the routers share, tsr_cluster.c and
 * tsr_sentinel.c what they do not.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>


static int tsr_store_blocking(tsr_store_t *st, const char *name);


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

    st->srv.port = conf->port ? conf->port : TSR_STORE_DEFAULT_PORT;
    st->srv.db = conf->db;
    st->srv.connect_timeout_ms = conf->connect_timeout_ms
                             ? conf->connect_timeout_ms
                             : TSR_STORE_CONNECT_TIMEOUT;
    st->srv.command_timeout_ms = conf->command_timeout_ms
                             ? conf->command_timeout_ms
                             : TSR_STORE_COMMAND_TIMEOUT;
    st->srv.backoff_min_ms = conf->backoff_min_ms ? conf->backoff_min_ms
                                              : TSR_STORE_BACKOFF_MIN;
    st->srv.backoff_max_ms = conf->backoff_max_ms ? conf->backoff_max_ms
                                              : TSR_STORE_BACKOFF_MAX;
    st->never_block = conf->never_block;
    st->srv.log = conf->log;
    st->srv.log_data = conf->log_data;

    if (st->srv.backoff_max_ms < st->srv.backoff_min_ms) {
        tsr_errf(err, errlen, "redis backoff_max_ms %d is below "
                 "backoff_min_ms %d", st->srv.backoff_max_ms,
                 st->srv.backoff_min_ms);
        OPENSSL_free(st);
        return NULL;
    }

    st->srv.backoff_ms = st->srv.backoff_min_ms;
    st->srv.fd = -1;

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
        st->srv.unix_path = OPENSSL_strdup(conf->unix_path);
        if (st->srv.unix_path == NULL) {
            goto failed;
        }

        snprintf(st->srv.addr, sizeof(st->srv.addr), "unix:%s", st->srv.unix_path);

    } else {
        st->srv.host = OPENSSL_strdup(conf->host != NULL ? conf->host
                                             : TSR_STORE_DEFAULT_HOST);
        if (st->srv.host == NULL) {
            goto failed;
        }

        snprintf(st->srv.addr, sizeof(st->srv.addr),
                 strchr(st->srv.host, ':') != NULL ? "[%s]:%d" : "%s:%d",
                 st->srv.host, st->srv.port);

        if (conf->host_addr != NULL) {
            if (strlen(conf->host_addr) >= sizeof(st->srv.ip)
                || !tsr_store_numeric(conf->host_addr))
            {
                tsr_errf(err, errlen, "invalid address \"%s\" of "
                         "redis host \"%s\"", conf->host_addr,
                         st->srv.host);
                tsr_store_destroy(st);
                return NULL;
            }

            memcpy(st->srv.ip, conf->host_addr, strlen(conf->host_addr) + 1);
        }
    }

    if (conf->user != NULL) {
        st->srv.user = OPENSSL_strdup(conf->user);
        if (st->srv.user == NULL) {
            goto failed;
        }
    }

    if (conf->tls) {
        st->srv.tls = tsr_store_tls_create(conf, err, errlen);
        if (st->srv.tls == NULL) {
            tsr_store_destroy(st);
            return NULL;
        }
    }

    if (conf->password != NULL && conf->password[0] != '\0') {
        st->srv.password_len = strlen(conf->password);

        st->srv.password = OPENSSL_malloc(st->srv.password_len + 1);
        if (st->srv.password == NULL) {
            goto failed;
        }

        memcpy(st->srv.password, conf->password, st->srv.password_len + 1);
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
    return (st->srv.tls != NULL || st->parent == NULL) ? st->srv.tls
                                                   : st->parent->srv.tls;
}


int
tsr_store_connect(tsr_store_t *st)
{
    if (st == NULL || tsr_store_blocking(st, "connect")) {
        return TSR_EINVAL;
    }

    return st->topo->connect(st);
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

    if (st == NULL || (!st->srv.async && tsr_store_blocking(st, "SET"))) {
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


int
tsr_store_del(tsr_store_t *st, const char *key, size_t keylen)
{
    tsr_store_op_t  op;

    if (st == NULL || (!st->srv.async && tsr_store_blocking(st, "DEL"))) {
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


void
tsr_store_set_deadline(tsr_store_t *st, uint64_t deadline)
{
    size_t  i;

    st->srv.sync_deadline = deadline;

    for (i = 0; i < st->nnodes; i++) {
        if (st->nodes[i]->srv.ctx != NULL) {
            tsr_sync_set_deadline(st->nodes[i]->srv.ctx, deadline);
        }
    }

    if (st->srv.ctx != NULL) {
        tsr_sync_set_deadline(st->srv.ctx, deadline);
    }
}


void
tsr_store_close(tsr_store_t *st)
{
    size_t  i;

    if (st == NULL || st->srv.async) {
        return;
    }

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_close(st->nodes[i]);
    }

    if (st->srv.ctx != NULL) {
        tsr_sync_free(st->srv.ctx);
        st->srv.ctx = NULL;
    }
}


const char *
tsr_store_error(const tsr_store_t *st)
{
    if (st == NULL) {
        return "no store";
    }

    return st->srv.err;
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

    *stats = st->srv.stats;

    /* a router's own count (refusals before a node) and its nodes' */

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_stats_add(stats, &st->nodes[i]->srv.stats);
    }
}


void
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

    tsr_sync_free(st->srv.ctx);

    /*
     * Not from inside a "done" callback: hiredis would free the context
     * only after that callback returns, and the store is gone by then.
     */

    if (st->srv.async) {
        st->srv.destroying = 1;

        /* no callers are answered from here on; hiredis frees requests */

        for (req = st->srv.head; req != NULL; req = req->next) {
            req->done = NULL;
        }

        st->srv.head = NULL;
        st->srv.tail = NULL;

        if (st->srv.resolving) {
            st->srv.loop.resolve_cancel(st->srv.loop.data, st->srv.resolve_handle);
            st->srv.resolving = 0;
            st->srv.resolve_handle = NULL;
        }

        /* runs every reply callback with NULL, then cleanup (unwatch) */
        if (st->srv.conn != NULL) {
            tsr_conn_free(st->srv.conn);
        }

        st->srv.loop.timer(st->srv.loop.data, 0);
        OPENSSL_free(st->srv.sent);
    }

    if (st->srv.password != NULL) {
        OPENSSL_clear_free(st->srv.password, st->srv.password_len);
    }

    OPENSSL_free(st->srv.host);
    OPENSSL_free(st->srv.unix_path);
    OPENSSL_free(st->srv.user);
    tsr_tls_destroy(st->srv.tls);
    OPENSSL_free(st);
}


/*
 * With "never_block" a blocking call is a bug of the caller's; on an
 * asynchronous store only SET and DEL remain, and they do not block.
 */

static int
tsr_store_blocking(tsr_store_t *st, const char *name)
{
    if (st->srv.async) {
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


void
tsr_store_set_error(tsr_store_t *st, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_verrf(st->srv.err, sizeof(st->srv.err), fmt, args);
    va_end(args);
}


void
tsr_store_log(tsr_store_t *st, int level, const char *fmt, ...)
{
    char     msg[TSR_STORE_ERR_LEN + 64];
    va_list  args;

    if (st->srv.log == NULL) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    st->srv.log(level, msg, st->srv.log_data);
}


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

    if (st->srv.async) {
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

    st->srv.max_inflight = max_inflight ? max_inflight : TSR_STORE_MAX_INFLIGHT;
    st->srv.breaker_failures = failures ? failures : TSR_STORE_BREAKER_FAILURES;
    st->srv.max_queued = st->srv.max_inflight * TSR_STORE_QUEUE_FACTOR;

    return st->topo->async(st, loop);
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

    if (!st->srv.async) {
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

    if (!st->srv.async) {
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
            st->srv.stats.gets++;
            st->srv.stats.refused++;
            return NULL;
        }

        req = tsr_store_eval_async(node, script, len, key, keylen, argc,
                                   argv, argvlen, timeout_ms, done, arg);
        if (req == NULL) {
            memcpy(st->srv.err, node->srv.err, sizeof(st->srv.err));
        }

        return req;
    }

    st->srv.stats.gets++;

    now = tsr_store_loop_now(st);

    if (st->srv.conn_state != TSR_STORE_READY || st->srv.closing
        || tsr_store_breaker_state(st, now) == TSR_STORE_OPEN
        || st->srv.lookups >= st->srv.max_inflight
        || st->srv.sent_count >= (size_t) st->srv.max_queued
        || tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_store_set_error(st, "EVAL refused: redis at %s is not "
                            "connected, or busy", st->srv.addr);
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
                            st->srv.addr);
        tsr_store_req_free(req);
        goto refused;
    }

    st->srv.lookups++;

    if (timeout_ms > st->srv.max_timeout) {
        st->srv.max_timeout = timeout_ms;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return req;

refused:

    st->srv.stats.refused++;

    return NULL;
}


const char *
tsr_store_req_name(const tsr_req_t *req)
{
    return req->eval ? "EVAL" : (req->getdel ? "GETDEL" : "GET");
}


/*
 * Answers the caller of a waiting lookup; the message for a failure is
 * in "err" already.  A lost connection counts for the breaker once, in
 * tsr_store_async_failed(), not once per lookup.
 */

void
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
        st->srv.stats.errors++;
        break;

    case TSR_ETIMEDOUT:
        st->srv.stats.timeouts++;
        /* fall through */

    default:
        st->srv.stats.errors++;
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

void
tsr_store_req_insert(tsr_store_t *st, tsr_req_t *req)
{
    tsr_req_t  *p;

    for (p = st->srv.tail; p != NULL && p->deadline > req->deadline; p = p->prev)
    {
        /* void */
    }

    req->prev = p;
    req->next = (p != NULL) ? p->next : st->srv.head;

    if (req->next != NULL) {
        req->next->prev = req;

    } else {
        st->srv.tail = req;
    }

    if (p != NULL) {
        p->next = req;

    } else {
        st->srv.head = req;
    }
}


void
tsr_store_req_unlink(tsr_store_t *st, tsr_req_t *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;

    } else {
        st->srv.head = req->next;
    }

    if (req->next != NULL) {
        req->next->prev = req->prev;

    } else {
        st->srv.tail = req->prev;
    }

    req->prev = NULL;
    req->next = NULL;
}


/* a key name holds the session id in hex: wiped too */

void
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


void
tsr_store_on_timer(tsr_store_t *st)
{
    if (st == NULL || !st->srv.async || st->srv.destroying) {
        return;
    }

    st->topo->on_timer(st);
}


void
tsr_store_on_read(tsr_store_t *st)
{
    tsr_store_on_read_fd(st, -1);
}


void
tsr_store_on_read_fd(tsr_store_t *st, int fd)
{
    if (st == NULL || !st->srv.async || st->srv.destroying) {
        return;
    }

    st->topo->on_read(st, fd);
}


void
tsr_store_on_write(tsr_store_t *st)
{
    tsr_store_on_write_fd(st, -1);
}


void
tsr_store_on_write_fd(tsr_store_t *st, int fd)
{
    if (st == NULL || !st->srv.async || st->srv.destroying) {
        return;
    }

    st->topo->on_write(st, fd);
}


int
tsr_store_inflight(const tsr_store_t *st)
{
    int     n;
    size_t  i;

    if (st == NULL || !st->srv.async) {
        return 0;
    }

    n = st->srv.lookups;

    for (i = 0; i < st->nnodes; i++) {
        n += st->nodes[i]->srv.lookups;
    }

    return n;
}


int
tsr_store_state(const tsr_store_t *st)
{
    if (st == NULL || !st->srv.async) {
        return TSR_STORE_STATE_DOWN;
    }

    return st->topo->state(st);
}
