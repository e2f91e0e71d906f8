
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
 * (create, destroy, errors, counters) and the public calls, which check
 * their arguments and dispatch.  Around it: tsr_store_conf.c parses
 * addresses; one Redis server, tsr_server_t, is the connection layer
 * (tsr_server.c its connection work, tsr_server_ops.c its operations
 * and the life of an asynchronous lookup, tsr_req_t), which the single
 * server (tsr_single.c) runs as the store's own and every router's node
 * as one of its nodes; tsr_router.c holds what the routers share,
 * tsr_cluster.c and tsr_sentinel.c what they do not.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>


static int tsr_store_blocking(tsr_store_t *st, const char *name);
static int tsr_store_set_op(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms, int later);


tsr_store_t *
tsr_store_create(const tsr_store_conf_t *conf, char *err, size_t errlen)
{
    tsr_store_t       *st;
    tsr_store_conf_t   dflt;

    if (conf == NULL) {
        memset(&dflt, 0, sizeof(dflt));
        conf = &dflt;
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
        tsr_errf(err, errlen, "out of memory");
        return NULL;
    }

    /* the one place that tells the topologies apart */

    st->topo = (conf->cluster != NULL) ? &tsr_topo_cluster
               : (conf->sentinels != NULL) ? &tsr_topo_sentinel
               : &tsr_topo_single;

    st->never_block = conf->never_block;
    st->router.srv = &st->srv;
    st->router.store = st;
    st->router.topo = st->topo;

    if (tsr_server_init(&st->srv, conf, err, errlen) != TSR_OK) {
        OPENSSL_free(st);
        return NULL;
    }

    if (conf->allow != NULL
        && tsr_store_parse_nets(conf->allow, strlen(conf->allow),
                                &st->router.allow, &st->router.nallow, err,
                                errlen)
           != TSR_OK)
    {
        OPENSSL_free(st);
        return NULL;
    }

    if (((st->topo->create != NULL)
         ? st->topo->create(&st->router, conf, err, errlen)
         : tsr_server_address(&st->srv, conf, err, errlen)) != TSR_OK
        || tsr_server_credentials(&st->srv, conf, err, errlen) != TSR_OK)
    {
        tsr_store_destroy(st);
        return NULL;
    }

    return st;
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
    return tsr_store_set_op(st, key, keylen, val, vlen, ttl_ms, 0);
}


int
tsr_store_set_later(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms)
{
    return tsr_store_set_op(st, key, keylen, val, vlen, ttl_ms, 1);
}


static int
tsr_store_set_op(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms, int later)
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
    op.later = later ? 1 : 0;

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

    for (i = 0; i < st->router.nnodes; i++) {
        st->router.nodes[i]->sync_deadline = deadline;

        if (st->router.nodes[i]->ctx != NULL) {
            tsr_sync_set_deadline(st->router.nodes[i]->ctx, deadline);
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

    for (i = 0; i < st->router.nnodes; i++) {
        tsr_server_close(st->router.nodes[i]);
    }

    tsr_server_close(&st->srv);
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

    for (i = 0; i < st->router.nnodes; i++) {
        tsr_store_stats_add(stats, &st->router.nodes[i]->stats);
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
    if (st == NULL) {
        return;
    }

    st->topo->destroy(st);

    tsr_server_free(&st->srv);
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
    tsr_req_t     *req;
    tsr_server_t  *node;

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

        node = st->topo->route(&st->router, key, keylen);
        if (node == NULL) {
            /* the message is in "err" */
            st->srv.stats.gets++;
            st->srv.stats.refused++;
            return NULL;
        }

        req = tsr_server_eval_async(node, script, len, key, keylen, argc, argv,
                                    argvlen, timeout_ms, done, arg);
        if (req == NULL) {
            memcpy(st->srv.err, node->err, sizeof(st->srv.err));
        }

        return req;
    }

    return tsr_server_eval_async(&st->srv, script, len, key, keylen, argc, argv,
                                 argvlen, timeout_ms, done, arg);
}


tsr_server_t *
tsr_store_server(const tsr_store_t *st)
{
    return (tsr_server_t *) &st->srv;
}


tsr_router_t *
tsr_store_router(const tsr_store_t *st)
{
    return (tsr_router_t *) &st->router;
}


void
tsr_store_cancel(tsr_req_t *req)
{
    if (req == NULL || req->done == NULL) {
        return;
    }

    tsr_server_req_unlink(req->srv, req);
    req->done = NULL;
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

    for (i = 0; i < st->router.nnodes; i++) {
        n += st->router.nodes[i]->lookups;
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
