
/*
 * The code Redis Cluster and Sentinel share (tsr_router.h, tsr_topo.h):
 * a router (tsr_router_t) is a store with no connection of its own that
 * sends each operation to one of its nodes, servers of their own
 * (tsr_server_t), created, moved, parked and freed here.  The router
 * drives its nodes' timers and sockets from the loop the user gave the
 * store, hears from them through their hooks, and leaves what differs
 * (the node for a key, the map, failover) to its topology's ops.  The
 * store-level entry points (tsr_store_router_*) are the bridge from the
 * store (tsr_store.h) to the router; the topologies see the router
 * only.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <string.h>

#include <openssl/crypto.h>


static void tsr_router_io(tsr_router_t *router, int fd, int write);
static void tsr_router_arm(tsr_router_t *router);
static int tsr_router_node_watch(void *data, int fd, int readable,
    int writable);
static void tsr_router_node_unwatch(void *data, int fd);
static void tsr_router_node_timer(void *data, uint64_t ms);
static uint64_t tsr_router_node_now(void *data);
static void tsr_router_node_close(tsr_server_t *node);
static void tsr_router_node_event(void *owner, tsr_server_t *node, int ev);
static int tsr_router_node_error(void *owner, tsr_server_t *node,
    const redisReply *reply, tsr_server_t **target, int *ask);
static int tsr_router_node_gone(void *owner);


tsr_req_t *
tsr_store_router_get(tsr_store_t *st, const char *name, const char *key,
    size_t keylen, int getdel, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg)
{
    int            n;
    tsr_req_t     *req;
    tsr_server_t  *node;
    tsr_router_t  *router = &st->router;

    n = tsr_store_inflight(st);

    if (n >= router->srv->max_inflight) {
        tsr_server_set_error(router->srv,
                             "%s refused: %d lookups in flight to redis %s",
                             name, n, router->srv->addr);
        goto refused;
    }

    node = router->topo->route(router, key, keylen);
    if (node == NULL) {
        /* the message is in "err" */
        goto refused;
    }

    req = tsr_server_get_async(node, name, key, keylen, getdel, timeout_ms,
                               done, arg);
    if (req == NULL) {
        memcpy(router->srv->err, node->err, sizeof(router->srv->err));
    }

    return req;

refused:

    router->srv->stats.gets++;
    router->srv->stats.refused++;

    return NULL;
}


/*
 * A write (asynchronous) or any operation (synchronous) of a router,
 * checked already.
 */

int
tsr_store_router_op(tsr_store_t *st, const tsr_store_op_t *op)
{
    tsr_server_t  *node;
    tsr_router_t  *router = &st->router;

    if (!router->srv->async) {
        return router->topo->blocking_op(router, op);
    }

    node = router->topo->route(router, op->key, op->keylen);

    if (node == NULL) {
        if (op->op == TSR_STORE_OP_SET) {
            router->srv->stats.sets++;

        } else {
            router->srv->stats.dels++;
        }

        router->srv->stats.dropped++;

        return TSR_OK;
    }

    return tsr_server_op(node, op);
}


/* a synchronous operation on one node, counted there */

int
tsr_router_node_op(tsr_server_t *node, const tsr_store_op_t *op)
{
    /* a retry on another node starts from nothing */
    if (op->len != NULL) {
        *op->len = 0;
    }

    return tsr_server_op(node, op);
}


void
tsr_router_node_uncount(tsr_server_t *node, const tsr_store_op_t *op)
{
    switch (op->op) {

    case TSR_STORE_OP_SET:
        node->stats.sets--;
        break;

    case TSR_STORE_OP_DEL:
        node->stats.dels--;
        break;

    default:
        node->stats.gets--;
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
    size_t         i;
    tsr_router_t  *router = &st->router;

    for (i = 0; i < router->nnodes; i++) {
        tsr_server_destroy(router->nodes[i]);
    }

    router->nnodes = 0;

    router->srv->loop = *loop;
    router->srv->async = 1;
    router->srv->last[0] = '\0';

    return router->topo->start(router);
}


/* nodes first: their reply callbacks look at the router */

void
tsr_store_router_destroy(tsr_store_t *st)
{
    size_t         i;
    tsr_router_t  *router = &st->router;

    router->srv->destroying = 1;

    for (i = 0; i < router->nnodes; i++) {
        tsr_server_destroy(router->nodes[i]);
    }

    OPENSSL_free(router->nodes);
    router->nodes = NULL;
    router->nnodes = 0;

    OPENSSL_free(router->allow);
    router->allow = NULL;

    router->topo->free(router);
}


void
tsr_store_router_on_read(tsr_store_t *st, int fd)
{
    tsr_router_io(&st->router, fd, 0);
}


void
tsr_store_router_on_write(tsr_store_t *st, int fd)
{
    tsr_router_io(&st->router, fd, 1);
}


/* the router's timer: its nodes' timers and its own work */

void
tsr_store_router_timer(tsr_store_t *st)
{
    size_t         i;
    uint64_t       now, at;
    tsr_server_t  *node;
    tsr_router_t  *router = &st->router;

    router->srv->timer_at = 0;
    router->routing = 1;

    now = tsr_server_loop_now(router->srv);

    /* nodes may be added meanwhile: index, not pointer */

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (node->node_timer != 0 && node->node_timer <= now) {
            node->node_timer = 0;
            tsr_server_on_timer(node);
        }
    }

    if (router->duty_at != 0 && router->duty_at <= now) {
        router->duty_at = 0;

        at = router->topo->duty(router, now);

        if (at != 0 && (router->duty_at == 0 || at < router->duty_at)) {
            router->duty_at = at;
        }
    }

    router->routing = 0;

    tsr_router_arm(router);
}


/* an event of "fd" (-1: of every socket) goes to the node owning it */

static void
tsr_router_io(tsr_router_t *router, int fd, int write)
{
    size_t         i;
    tsr_server_t  *node;

    router->routing = 1;

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (node->conn == NULL || (fd != -1 && node->fd != fd)) {
            continue;
        }

        if (write) {
            tsr_server_on_write(node, node->fd);

        } else {
            tsr_server_on_read(node, node->fd);
        }

        if (fd != -1) {
            break;
        }
    }

    router->routing = 0;

    tsr_router_arm(router);
}


/*
 * One loop timer for the router: the earliest of its nodes' timers and
 * its own work; as a node's, moved only forward.
 */

static void
tsr_router_arm(tsr_router_t *router)
{
    size_t    i;
    uint64_t  at, t, now;

    if (!router->srv->async || router->srv->destroying || router->routing) {
        return;
    }

    at = router->duty_at;

    for (i = 0; i < router->nnodes; i++) {
        t = router->nodes[i]->node_timer;

        if (t != 0 && (at == 0 || t < at)) {
            at = t;
        }
    }

    if (at == 0
        || (router->srv->timer_at != 0 && router->srv->timer_at <= at))
    {
        return;
    }

    now = tsr_server_loop_now(router->srv);

    if (router->srv->timer_at != 0) {
        router->srv->loop.timer(router->srv->loop.data, 0);
    }

    router->srv->loop.timer(router->srv->loop.data, (at > now) ? at - now : 1);
    router->srv->timer_at = at;
}


void
tsr_router_wake(tsr_router_t *router, uint64_t at)
{
    if (router->duty_at == 0 || at < router->duty_at) {
        router->duty_at = at;
    }

    tsr_router_arm(router);
}


/* the loop of a router's nodes: the router's, with one timer for all */

static int
tsr_router_node_watch(void *data, int fd, int readable, int writable)
{
    tsr_server_t  *node = data;
    tsr_router_t  *router = node->owner;

    return router->srv->loop.watch(router->srv->loop.data, fd, readable, writable);
}


static void
tsr_router_node_unwatch(void *data, int fd)
{
    tsr_server_t  *node = data;
    tsr_router_t  *router = node->owner;

    router->srv->loop.unwatch(router->srv->loop.data, fd);
}


static void
tsr_router_node_timer(void *data, uint64_t ms)
{
    tsr_server_t  *node = data;
    tsr_router_t  *router = node->owner;

    if (router->srv->destroying) {
        return;
    }

    node->node_timer = (ms != 0) ? tsr_server_loop_now(router->srv) + ms : 0;

    tsr_router_arm(router);
}


static uint64_t
tsr_router_node_now(void *data)
{
    tsr_server_t  *node = data;

    return tsr_server_loop_now(((tsr_router_t *) node->owner)->srv);
}


/* what a node tells its router (tsr_server_hooks_t) */

static void
tsr_router_node_event(void *owner, tsr_server_t *node, int ev)
{
    tsr_router_t  *router = owner;

    router->topo->event(router, node, ev);
}


static int
tsr_router_node_error(void *owner, tsr_server_t *node,
    const redisReply *reply, tsr_server_t **target, int *ask)
{
    tsr_router_t  *router = owner;

    return router->topo->error(router, node, reply, target, ask);
}


static int
tsr_router_node_gone(void *owner)
{
    tsr_router_t  *router = owner;

    return router->srv->destroying;
}


tsr_server_t *
tsr_router_node_add(tsr_router_t *router, const char *host, int port,
    int sentinel)
{
    size_t            n, plen;
    char              err[TSR_STORE_ERR_LEN];
    tsr_loop_t        loop;
    tsr_server_t     *node, **nodes;
    tsr_store_conf_t  conf;

    if (router->nnodes == router->nodes_size) {
        if (router->nodes_size >= TSR_STORE_MAX_NODES) {
            tsr_server_set_error(router->srv, "redis %s: more than %d nodes",
                                 router->srv->addr, TSR_STORE_MAX_NODES);
            return NULL;
        }

        n = router->nodes_size ? router->nodes_size * 2 : 8;

        nodes = OPENSSL_realloc(router->nodes, n * sizeof(tsr_server_t *));
        if (nodes == NULL) {
            tsr_server_set_error(router->srv, "redis %s: out of memory",
                                 router->srv->addr);
            return NULL;
        }

        router->nodes = nodes;
        router->nodes_size = n;
    }

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.host = host;
    conf.port = port;
    conf.connect_timeout_ms = router->srv->connect_timeout_ms;
    conf.command_timeout_ms = router->srv->command_timeout_ms;
    conf.backoff_min_ms = router->srv->backoff_min_ms;
    conf.backoff_max_ms = router->srv->backoff_max_ms;
    conf.log = router->srv->log;
    conf.log_data = router->srv->log_data;

    if (sentinel) {
        conf.user = router->topo->node_user(router);
        conf.password = router->topo->node_password(router, &plen);

    } else {
        conf.user = router->srv->user;
        conf.password = router->srv->password;
        conf.db = router->srv->db;
    }

    node = tsr_server_create(&conf, err, sizeof(err));
    if (node == NULL) {
        tsr_server_set_error(router->srv, "%s", err);
        return NULL;
    }

    router->node_hooks.event = (router->topo->event != NULL)
                               ? tsr_router_node_event : NULL;
    router->node_hooks.error = (router->topo->error != NULL)
                               ? tsr_router_node_error : NULL;
    router->node_hooks.redirect = router->topo->redirect;
    router->node_hooks.gone = tsr_router_node_gone;

    node->hooks = &router->node_hooks;
    node->owner = router;
    node->sync_deadline = router->srv->sync_deadline;
    node->tls = router->srv->tls;
    node->tls_borrowed = 1;
    node->verify_role = (router->topo->verify_role && !sentinel);
    node->no_caps = sentinel;

    router->nodes[router->nnodes++] = node;

    if (!router->srv->async) {
        return node;
    }

    memset(&loop, 0, sizeof(tsr_loop_t));
    loop.data = node;
    loop.watch = tsr_router_node_watch;
    loop.unwatch = tsr_router_node_unwatch;
    loop.timer = tsr_router_node_timer;
    loop.now = tsr_router_node_now;

    if (tsr_server_async(node, &loop, router->srv->max_inflight,
                         router->srv->breaker_failures)
        != TSR_OK)
    {
        /* asynchronous all the same: it refuses, and says why */
        tsr_server_log(router->srv, TSR_LOG_ERR, "%s", node->err);
    }

    return node;
}


tsr_server_t *
tsr_router_node_find(tsr_router_t *router, const char *host, int port)
{
    size_t         i;
    tsr_server_t  *node;

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (node->port == port
            && (strcmp(node->host, host) == 0
                || (node->ip[0] != '\0' && strcmp(node->ip, host) == 0)))
        {
            return node;
        }
    }

    return NULL;
}


int
tsr_router_node_move(tsr_server_t *node, const char *host, int port,
    int keep_backoff)
{
    char  *h;

    if (strcmp(node->host, host) == 0 && node->port == port) {
        return TSR_OK;
    }

    h = OPENSSL_strdup(host);
    if (h == NULL) {
        tsr_server_set_error(node, "out of memory");
        return TSR_ENOMEM;
    }

    tsr_router_node_close(node);

    OPENSSL_free(node->host);
    node->host = h;
    node->port = port;

    snprintf(node->addr, sizeof(node->addr),
             strchr(node->host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             node->host, node->port);

    node->ip[0] = '\0';
    node->last[0] = '\0';
    node->next_attempt = 0;

    if (!keep_backoff) {
        node->backoff_ms = node->backoff_min_ms;
        node->reconnect_at = 0;
    }

    if (!node->async) {
        return TSR_OK;
    }

    /* addresses from Redis are numeric: this does not block */
    if (tsr_server_resolve(node) != TSR_OK) {
        memcpy(node->last, node->err, sizeof(node->last));
        tsr_server_log(node, TSR_LOG_ERR, "%s", node->err);
        return TSR_ECONN;
    }

    tsr_server_arm(node);

    return TSR_OK;
}


int
tsr_router_node_free(tsr_router_t *router, size_t i)
{
    tsr_server_t  *node;

    node = router->nodes[i];

    if (!node->parked || node->conn != NULL || node->ctx != NULL
        || node->head != NULL)
    {
        return 0;
    }

    tsr_store_stats_add(&router->srv->stats, &node->stats);
    tsr_server_destroy(node);

    memmove(&router->nodes[i], &router->nodes[i + 1],
            (router->nnodes - i - 1) * sizeof(tsr_server_t *));
    router->nnodes--;

    return 1;
}


/*
 * Closes a node's connection on purpose: the requests on it fail as if
 * it were lost, but nothing counts as a failure of the node.
 */

static void
tsr_router_node_close(tsr_server_t *node)
{
    tsr_sync_free(node->ctx);
    node->ctx = NULL;

    if (node->conn == NULL || node->closing) {
        return;
    }

    tsr_server_set_error(node, "connection to redis at %s closed", node->addr);
    node->quiet = 1;

    tsr_server_async_drop(node);
}


void
tsr_router_node_park(tsr_server_t *node)
{
    if (node->parked) {
        return;
    }

    node->parked = 1;
    node->retiring = 0;

    tsr_router_node_close(node);

    tsr_server_log(node, TSR_LOG_INFO, "redis at %s is not used any more",
                   node->addr);
}


void
tsr_router_node_unpark(tsr_server_t *node)
{
    node->retiring = 0;

    if (!node->parked) {
        return;
    }

    node->parked = 0;
    node->reconnect_at = 0;
    node->backoff_ms = node->backoff_min_ms;

    if (node->async) {
        tsr_server_arm(node);
    }
}


void
tsr_router_node_reset(tsr_server_t *node)
{
    tsr_router_node_close(node);
}


void
tsr_router_node_fail(tsr_server_t *node)
{
    tsr_server_async_drop(node);
}


int
tsr_router_node_command(tsr_server_t *node, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    if (!tsr_server_usable(node)) {
        return TSR_ECONN;
    }

    va_start(args, fmt);
    rc = tsr_server_async_vcommand(node, fn, privdata, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        return rc;
    }

    tsr_server_arm(node);

    return TSR_OK;
}


void
tsr_router_node_replied(tsr_server_t *node)
{
    (void) tsr_server_sent_pop(node);
}


int
tsr_router_node_sync(tsr_server_t *node, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int       rc;
    va_list   args;

    rc = tsr_server_ready(node);
    if (rc != TSR_OK) {
        return rc;
    }

    va_start(args, fmt);
    rc = tsr_server_vsync(node, reply, name, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_server_drop(node);
    }

    return rc;
}


void
tsr_router_node_free_reply(tsr_server_t *node, redisReply *reply)
{
    tsr_server_free_reply(node, reply, 0);
}
