
/*
 * The code Redis Cluster and Sentinel share (tsr_topo.h): a router is a
 * store with no connection of its own that sends each operation to one
 * of its nodes, stores of one server each, created, moved, parked and
 * freed here.  The router drives its nodes' timers and sockets from the
 * loop the user gave it, and leaves what differs (the node for a key,
 * the map, failover) to its topology's ops.  It knows the store's
 * internals (tsr_store.h), not the topologies.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <string.h>

#include <openssl/crypto.h>


static void tsr_store_router_io(tsr_store_t *st, int fd, int write);
static void tsr_store_router_arm(tsr_store_t *st);
static int tsr_store_node_watch(void *data, int fd, int readable,
    int writable);
static void tsr_store_node_unwatch(void *data, int fd);
static void tsr_store_node_timer(void *data, uint64_t ms);
static uint64_t tsr_store_node_now(void *data);
static void tsr_store_node_close(tsr_store_t *node);


tsr_req_t *
tsr_store_router_get(tsr_store_t *st, const char *name, const char *key,
    size_t keylen, int getdel, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg)
{
    int           n;
    tsr_req_t    *req;
    tsr_store_t  *node;

    n = tsr_store_inflight(st);

    if (n >= st->srv.max_inflight) {
        tsr_store_set_error(st, "%s refused: %d lookups in flight to redis "
                            "%s", name, n, st->srv.addr);
        goto refused;
    }

    node = st->topo->route(st, key, keylen);
    if (node == NULL) {
        /* the message is in "err" */
        goto refused;
    }

    req = tsr_store_get_async(node, key, keylen, getdel, timeout_ms, done,
                              arg);
    if (req == NULL) {
        memcpy(st->srv.err, node->srv.err, sizeof(st->srv.err));
    }

    return req;

refused:

    st->srv.stats.gets++;
    st->srv.stats.refused++;

    return NULL;
}


/*
 * A write (asynchronous) or any operation (synchronous) of a router,
 * checked already.
 */

int
tsr_store_router_op(tsr_store_t *st, const tsr_store_op_t *op)
{
    tsr_store_t  *node;

    if (!st->srv.async) {
        return st->topo->blocking_op(st, op);
    }

    node = st->topo->route(st, op->key, op->keylen);

    if (node == NULL) {
        if (op->op == TSR_STORE_OP_SET) {
            st->srv.stats.sets++;

        } else {
            st->srv.stats.dels++;
        }

        st->srv.stats.dropped++;

        return TSR_OK;
    }

    if (op->op == TSR_STORE_OP_SET) {
        return tsr_store_set(node, op->key, op->keylen, op->val, op->vlen,
                             op->ttl_ms);
    }

    return tsr_store_del(node, op->key, op->keylen);
}


/* a synchronous operation on one node, counted there */

int
tsr_store_node_op(tsr_store_t *node, const tsr_store_op_t *op)
{
    int     rc;
    size_t  len;

    switch (op->op) {

    case TSR_STORE_OP_GET:
    case TSR_STORE_OP_GETDEL:
        len = op->size;
        rc = tsr_store_fetch(node, op->op == TSR_STORE_OP_GETDEL, op->key,
                             op->keylen, op->buf, &len);
        *op->len = len;
        return rc;

    case TSR_STORE_OP_SET:
        return tsr_store_set(node, op->key, op->keylen, op->val, op->vlen,
                             op->ttl_ms);

    case TSR_STORE_OP_EVAL:
        len = op->size;
        rc = tsr_store_eval(node, op->script, op->script_len, op->key,
                            op->keylen, op->argc, op->argv, op->argvlen,
                            op->buf, &len);
        *op->len = len;
        return rc;

    default: /* TSR_STORE_OP_DEL */
        return tsr_store_del(node, op->key, op->keylen);
    }
}


void
tsr_store_node_uncount(tsr_store_t *node, const tsr_store_op_t *op)
{
    switch (op->op) {

    case TSR_STORE_OP_SET:
        node->srv.stats.sets--;
        break;

    case TSR_STORE_OP_DEL:
        node->srv.stats.dels--;
        break;

    default:
        node->srv.stats.gets--;
        break;
    }
}


/*
 * A router turns asynchronous: nodes of the synchronous side go, and
 * new ones start on the loop.
 */

int
tsr_store_router_start(tsr_store_t *st, const tsr_loop_t *loop)
{
    size_t  i;

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_destroy(st->nodes[i]);
    }

    st->nnodes = 0;

    st->srv.loop = *loop;
    st->srv.async = 1;
    st->srv.last[0] = '\0';

    return st->topo->start(st);
}


/* nodes first: their reply callbacks look at the router */

void
tsr_store_router_destroy(tsr_store_t *st)
{
    size_t  i;

    st->srv.destroying = 1;

    for (i = 0; i < st->nnodes; i++) {
        tsr_store_destroy(st->nodes[i]);
    }

    OPENSSL_free(st->nodes);
    st->nodes = NULL;
    st->nnodes = 0;

    OPENSSL_free(st->allow);
    st->allow = NULL;

    st->topo->free(st);
}


void
tsr_store_router_on_read(tsr_store_t *st, int fd)
{
    tsr_store_router_io(st, fd, 0);
}


void
tsr_store_router_on_write(tsr_store_t *st, int fd)
{
    tsr_store_router_io(st, fd, 1);
}


/* the router's timer: its nodes' timers and its own work */

void
tsr_store_router_timer(tsr_store_t *st)
{
    size_t        i;
    uint64_t      now, at;
    tsr_store_t  *node;

    st->srv.timer_at = 0;
    st->routing = 1;

    now = tsr_store_loop_now(st);

    /* nodes may be added meanwhile: index, not pointer */

    for (i = 0; i < st->nnodes; i++) {
        node = st->nodes[i];

        if (node->srv.node_timer != 0 && node->srv.node_timer <= now) {
            node->srv.node_timer = 0;
            tsr_store_on_timer(node);
        }
    }

    if (st->duty_at != 0 && st->duty_at <= now) {
        st->duty_at = 0;

        at = st->topo->duty(st, now);

        if (at != 0 && (st->duty_at == 0 || at < st->duty_at)) {
            st->duty_at = at;
        }
    }

    st->routing = 0;

    tsr_store_router_arm(st);
}


/* an event of "fd" (-1: of every socket) goes to the node owning it */

static void
tsr_store_router_io(tsr_store_t *st, int fd, int write)
{
    size_t        i;
    tsr_store_t  *node;

    st->routing = 1;

    for (i = 0; i < st->nnodes; i++) {
        node = st->nodes[i];

        if (node->srv.conn == NULL || (fd != -1 && node->srv.fd != fd)) {
            continue;
        }

        if (write) {
            tsr_store_on_write_fd(node, node->srv.fd);

        } else {
            tsr_store_on_read_fd(node, node->srv.fd);
        }

        if (fd != -1) {
            break;
        }
    }

    st->routing = 0;

    tsr_store_router_arm(st);
}


/*
 * One loop timer for the router: the earliest of its nodes' timers and
 * its own work; as a node's, moved only forward.
 */

static void
tsr_store_router_arm(tsr_store_t *st)
{
    size_t    i;
    uint64_t  at, t, now;

    if (!st->srv.async || st->srv.destroying || st->routing) {
        return;
    }

    at = st->duty_at;

    for (i = 0; i < st->nnodes; i++) {
        t = st->nodes[i]->srv.node_timer;

        if (t != 0 && (at == 0 || t < at)) {
            at = t;
        }
    }

    if (at == 0 || (st->srv.timer_at != 0 && st->srv.timer_at <= at)) {
        return;
    }

    now = tsr_store_loop_now(st);

    if (st->srv.timer_at != 0) {
        st->srv.loop.timer(st->srv.loop.data, 0);
    }

    st->srv.loop.timer(st->srv.loop.data, (at > now) ? at - now : 1);
    st->srv.timer_at = at;
}


void
tsr_store_router_wake(tsr_store_t *st, uint64_t at)
{
    if (st->duty_at == 0 || at < st->duty_at) {
        st->duty_at = at;
    }

    tsr_store_router_arm(st);
}


/* the loop of a router's nodes: the router's, with one timer for all */

static int
tsr_store_node_watch(void *data, int fd, int readable, int writable)
{
    tsr_store_t  *node = data;
    tsr_store_t  *st = node->parent;

    return st->srv.loop.watch(st->srv.loop.data, fd, readable, writable);
}


static void
tsr_store_node_unwatch(void *data, int fd)
{
    tsr_store_t  *node = data;
    tsr_store_t  *st = node->parent;

    st->srv.loop.unwatch(st->srv.loop.data, fd);
}


static void
tsr_store_node_timer(void *data, uint64_t ms)
{
    tsr_store_t  *node = data;
    tsr_store_t  *st = node->parent;

    if (st->srv.destroying) {
        return;
    }

    node->srv.node_timer = (ms != 0) ? tsr_store_loop_now(st) + ms : 0;

    tsr_store_router_arm(st);
}


static uint64_t
tsr_store_node_now(void *data)
{
    tsr_store_t  *node = data;

    return tsr_store_loop_now(node->parent);
}


tsr_store_t *
tsr_store_node_add(tsr_store_t *st, const char *host, int port,
    int sentinel)
{
    size_t                  n, plen;
    char                    err[TSR_STORE_ERR_LEN];
    tsr_loop_t              loop;
    tsr_store_t            *node, **nodes;
    tsr_store_conf_t        conf;
    tsr_store_async_conf_t  aconf;

    if (st->nnodes == st->nodes_size) {
        if (st->nodes_size >= TSR_STORE_MAX_NODES) {
            tsr_store_set_error(st, "redis %s: more than %d nodes", st->srv.addr,
                                TSR_STORE_MAX_NODES);
            return NULL;
        }

        n = st->nodes_size ? st->nodes_size * 2 : 8;

        nodes = OPENSSL_realloc(st->nodes, n * sizeof(tsr_store_t *));
        if (nodes == NULL) {
            tsr_store_set_error(st, "redis %s: out of memory", st->srv.addr);
            return NULL;
        }

        st->nodes = nodes;
        st->nodes_size = n;
    }

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.host = host;
    conf.port = port;
    conf.connect_timeout_ms = st->srv.connect_timeout_ms;
    conf.command_timeout_ms = st->srv.command_timeout_ms;
    conf.backoff_min_ms = st->srv.backoff_min_ms;
    conf.backoff_max_ms = st->srv.backoff_max_ms;
    conf.log = st->srv.log;
    conf.log_data = st->srv.log_data;

    if (sentinel) {
        conf.user = st->topo->node_user(st);
        conf.password = st->topo->node_password(st, &plen);

    } else {
        conf.user = st->srv.user;
        conf.password = st->srv.password;
        conf.db = st->srv.db;
    }

    node = tsr_store_create(&conf, err, sizeof(err));
    if (node == NULL) {
        tsr_store_set_error(st, "%s", err);
        return NULL;
    }

    node->parent = st;
    node->srv.verify_role = (st->topo->verify_role && !sentinel);
    node->srv.no_caps = sentinel;

    st->nodes[st->nnodes++] = node;

    if (!st->srv.async) {
        return node;
    }

    memset(&loop, 0, sizeof(tsr_loop_t));
    loop.data = node;
    loop.watch = tsr_store_node_watch;
    loop.unwatch = tsr_store_node_unwatch;
    loop.timer = tsr_store_node_timer;
    loop.now = tsr_store_node_now;

    memset(&aconf, 0, sizeof(tsr_store_async_conf_t));
    aconf.max_inflight = st->srv.max_inflight;
    aconf.breaker_failures = st->srv.breaker_failures;

    if (tsr_store_set_async(node, &loop, &aconf) != TSR_OK) {
        /* asynchronous all the same: it refuses, and says why */
        tsr_store_log(st, TSR_LOG_ERR, "%s", node->srv.err);
    }

    return node;
}


tsr_store_t *
tsr_store_node_find(tsr_store_t *st, const char *host, int port)
{
    size_t        i;
    tsr_store_t  *node;

    for (i = 0; i < st->nnodes; i++) {
        node = st->nodes[i];

        if (node->srv.port == port
            && (strcmp(node->srv.host, host) == 0
                || (node->srv.ip[0] != '\0' && strcmp(node->srv.ip, host) == 0)))
        {
            return node;
        }
    }

    return NULL;
}


int
tsr_store_node_move(tsr_store_t *node, const char *host, int port,
    int keep_backoff)
{
    char  *h;

    if (strcmp(node->srv.host, host) == 0 && node->srv.port == port) {
        return TSR_OK;
    }

    h = OPENSSL_strdup(host);
    if (h == NULL) {
        tsr_store_set_error(node, "out of memory");
        return TSR_ENOMEM;
    }

    tsr_store_node_close(node);

    OPENSSL_free(node->srv.host);
    node->srv.host = h;
    node->srv.port = port;

    snprintf(node->srv.addr, sizeof(node->srv.addr),
             strchr(node->srv.host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             node->srv.host, node->srv.port);

    node->srv.ip[0] = '\0';
    node->srv.last[0] = '\0';
    node->srv.next_attempt = 0;

    if (!keep_backoff) {
        node->srv.backoff_ms = node->srv.backoff_min_ms;
        node->srv.reconnect_at = 0;
    }

    if (!node->srv.async) {
        return TSR_OK;
    }

    /* addresses from Redis are numeric: this does not block */
    if (tsr_store_resolve(node) != TSR_OK) {
        memcpy(node->srv.last, node->srv.err, sizeof(node->srv.last));
        tsr_store_log(node, TSR_LOG_ERR, "%s", node->srv.err);
        return TSR_ECONN;
    }

    tsr_store_arm(node);

    return TSR_OK;
}


int
tsr_store_node_free(tsr_store_t *st, size_t i)
{
    tsr_store_t  *node;

    node = st->nodes[i];

    if (!node->srv.parked || node->srv.conn != NULL || node->srv.ctx != NULL
        || node->srv.head != NULL)
    {
        return 0;
    }

    tsr_store_stats_add(&st->srv.stats, &node->srv.stats);
    tsr_store_destroy(node);

    memmove(&st->nodes[i], &st->nodes[i + 1],
            (st->nnodes - i - 1) * sizeof(tsr_store_t *));
    st->nnodes--;

    return 1;
}


/*
 * Closes a node's connection on purpose: the requests on it fail as if
 * it were lost, but nothing counts as a failure of the node.
 */

static void
tsr_store_node_close(tsr_store_t *node)
{
    tsr_sync_free(node->srv.ctx);
    node->srv.ctx = NULL;

    if (node->srv.conn == NULL || node->srv.closing) {
        return;
    }

    tsr_store_set_error(node, "connection to redis at %s closed", node->srv.addr);
    node->srv.quiet = 1;

    tsr_store_async_drop(node);
}


void
tsr_store_node_park(tsr_store_t *node)
{
    if (node->srv.parked) {
        return;
    }

    node->srv.parked = 1;
    node->srv.retiring = 0;

    tsr_store_node_close(node);

    tsr_store_log(node, TSR_LOG_INFO, "redis at %s is not used any more",
                  node->srv.addr);
}


void
tsr_store_node_unpark(tsr_store_t *node)
{
    node->srv.retiring = 0;

    if (!node->srv.parked) {
        return;
    }

    node->srv.parked = 0;
    node->srv.reconnect_at = 0;
    node->srv.backoff_ms = node->srv.backoff_min_ms;

    if (node->srv.async) {
        tsr_store_arm(node);
    }
}


void
tsr_store_node_reset(tsr_store_t *node)
{
    tsr_store_node_close(node);
}


void
tsr_store_node_fail(tsr_store_t *node)
{
    tsr_store_async_drop(node);
}


int
tsr_store_node_ready(const tsr_store_t *node)
{
    return node->srv.async && node->srv.conn != NULL
           && node->srv.conn_state == TSR_STORE_READY && !node->srv.closing;
}


int
tsr_store_node_command(tsr_store_t *node, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    if (!tsr_store_node_ready(node)) {
        return TSR_ECONN;
    }

    va_start(args, fmt);
    rc = tsr_store_async_vcommand(node, fn, privdata, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        return rc;
    }

    tsr_store_arm(node);

    return TSR_OK;
}


void
tsr_store_node_replied(tsr_store_t *node)
{
    (void) tsr_store_sent_pop(node);
}


int
tsr_store_node_sync(tsr_store_t *node, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int       rc;
    va_list   args;

    rc = tsr_store_ready(node);
    if (rc != TSR_OK) {
        return rc;
    }

    va_start(args, fmt);
    rc = tsr_store_vsync(node, reply, name, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_store_drop(node);
    }

    return rc;
}


void
tsr_store_node_free_reply(tsr_store_t *node, redisReply *reply)
{
    tsr_store_free_reply(node, reply, 0);
}
