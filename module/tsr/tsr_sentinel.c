
/*
 * Redis Sentinel: the master is found through the sentinels monitoring
 * it, and followed when they fail over.
 *
 * The store is a router over two nodes (see tsr_store.h): the master,
 * whose setup includes ROLE so that a stale address is never used, and
 * on the asynchronous side one connection to a sentinel, which asks
 * SENTINEL get-master-addr-by-name and then subscribes to
 * "+switch-master".  A switch moves the master node at once; a
 * connection lost or a sentinel not answering moves the watch to the
 * next sentinel; a master that turns out not to be one (ROLE, a READONLY
 * reply) has the sentinels asked again.  The subscription is renewed
 * every TSR_SENTINEL_KEEPALIVE ms and the node's stall check drops a
 * sentinel that stops answering.
 *
 * The synchronous side asks the sentinels in turn before its first
 * command and after losing the master, backing off between attempts.
 * Addresses from the sentinels must be numeric on the asynchronous
 * side, which must never wait for a resolver.
 */


#include "tsr_sentinel.h"
#include "tsr_sync.h"
#include "tsr_topo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/crypto.h>


typedef struct {
    size_t              n;
    char               *hosts[TSR_STORE_MAX_LIST];
    int                 ports[TSR_STORE_MAX_LIST];
    char                ips[TSR_STORE_MAX_LIST][TSR_STORE_IP_LEN];
    size_t              current;        /* the sentinel asked */
    char               *name;           /* of the master */
    char               *user;           /* at the sentinels */
    char               *password;
    size_t              password_len;
    tsr_server_t        *master;         /* once known */
    tsr_server_t        *watcher;        /* asynchronous: at a sentinel */
    uint64_t            renew_at;       /* the next SUBSCRIBE */
    uint64_t            requeried_at;
    int64_t             next_discovery; /* synchronous, backing off */
    int                 backoff_ms;
    unsigned            subscribed:1;
    unsigned            discover:1;     /* synchronous: ask first */
} tsr_sentinel_t;


/* a router's state as this topology */
#define tsr_sentinel(router)  ((tsr_sentinel_t *) (router)->data)


static int tsr_sentinel_create(tsr_router_t *router,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
static void tsr_sentinel_destroy(tsr_router_t *router);
static const char *tsr_sentinel_user(const tsr_router_t *router);
static const char *tsr_sentinel_password(const tsr_router_t *router,
    size_t *len);
static int tsr_sentinel_start(tsr_router_t *router);
static tsr_server_t *tsr_sentinel_route(tsr_router_t *router, const char *key,
    size_t keylen);
static int tsr_sentinel_op(tsr_router_t *router, const tsr_store_op_t *op);
static int tsr_sentinel_connect(tsr_store_t *st);
static void tsr_sentinel_event(tsr_router_t *router, tsr_server_t *node,
    int ev);
static uint64_t tsr_sentinel_duty(tsr_router_t *router, uint64_t now);
static int tsr_sentinel_state(const tsr_store_t *st);
static int tsr_sentinel_use(tsr_router_t *router, const char *ip, size_t iplen,
    const char *port, size_t portlen, const char *from);
static void tsr_sentinel_requery(tsr_router_t *router);
static void tsr_sentinel_master_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_sentinel_switch_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static int tsr_sentinel_discover(tsr_router_t *router);
static int tsr_sentinel_ask(tsr_router_t *router, size_t k);


static int
tsr_sentinel_create(tsr_router_t *router, const tsr_store_conf_t *conf,
    char *err, size_t errlen)
{
    size_t           i;
    tsr_sentinel_t  *s;

    if (conf->master_name == NULL || conf->master_name[0] == '\0'
        || strlen(conf->master_name) > TSR_STORE_MAX_NAME)
    {
        tsr_errf(err, errlen, "redis sentinels need a master name");
        return TSR_EINVAL;
    }

    if (conf->sentinel_user != NULL
        && (conf->sentinel_password == NULL
            || conf->sentinel_password[0] == '\0'))
    {
        tsr_errf(err, errlen, "redis sentinel user \"%s\" needs a "
                 "password", conf->sentinel_user);
        return TSR_EINVAL;
    }

    s = OPENSSL_zalloc(sizeof(tsr_sentinel_t));
    if (s == NULL) {
        tsr_errf(err, errlen, "out of memory");
        return TSR_ENOMEM;
    }

    router->data = s;

    if (tsr_store_parse_list(conf->sentinels, strlen(conf->sentinels),
                             s->hosts, s->ports, TSR_STORE_MAX_LIST, err,
                             errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    for (i = 0; i < TSR_STORE_MAX_LIST && s->hosts[i] != NULL; i++) {
        if (s->ports[i] == 0) {
            s->ports[i] = TSR_SENTINEL_DEFAULT_PORT;
        }
    }

    s->n = i;
    s->backoff_ms = router->srv->backoff_min_ms;

    s->name = OPENSSL_strdup(conf->master_name);
    if (s->name == NULL) {
        goto nomem;
    }

    if (conf->sentinel_user != NULL) {
        s->user = OPENSSL_strdup(conf->sentinel_user);
        if (s->user == NULL) {
            goto nomem;
        }
    }

    if (conf->sentinel_password != NULL
        && conf->sentinel_password[0] != '\0')
    {
        s->password_len = strlen(conf->sentinel_password);

        s->password = OPENSSL_malloc(s->password_len + 1);
        if (s->password == NULL) {
            goto nomem;
        }

        memcpy(s->password, conf->sentinel_password, s->password_len + 1);
    }

    snprintf(router->srv->addr, sizeof(router->srv->addr),
             "master \"%s\" of sentinels %s", conf->master_name,
             conf->sentinels);

    return TSR_OK;

nomem:

    tsr_errf(err, errlen, "out of memory");

    return TSR_ENOMEM;
}


static void
tsr_sentinel_destroy(tsr_router_t *router)
{
    size_t           i;
    tsr_sentinel_t  *s;

    s = router->data;

    if (s == NULL) {
        return;
    }

    /* all of them: a list that failed to parse may have some */

    for (i = 0; i < TSR_STORE_MAX_LIST; i++) {
        OPENSSL_free(s->hosts[i]);
    }

    if (s->password != NULL) {
        OPENSSL_clear_free(s->password, s->password_len);
    }

    OPENSSL_free(s->name);
    OPENSSL_free(s->user);
    OPENSSL_free(s);

    router->data = NULL;
}


static const char *
tsr_sentinel_user(const tsr_router_t *router)
{
    return tsr_sentinel(router)->user;
}


static const char *
tsr_sentinel_password(const tsr_router_t *router, size_t *len)
{
    *len = tsr_sentinel(router)->password_len;

    return tsr_sentinel(router)->password;
}


/*
 * Asynchronous: the sentinels' names are resolved once, here (as a
 * store of one server resolves its own), and the watch starts on the
 * first one.
 */

static int
tsr_sentinel_start(tsr_router_t *router)
{
    size_t           i;
    tsr_sentinel_t  *s;

    s = router->data;

    s->master = NULL;
    s->watcher = NULL;
    s->subscribed = 0;
    s->current = 0;

    for (i = 0; i < s->n; i++) {
        if (tsr_server_resolve_name(router->srv, s->hosts[i], s->ips[i],
                                    sizeof(s->ips[i]))
            != TSR_OK)
        {
            tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
            s->ips[i][0] = '\0';
        }
    }

    for (i = 0; i < s->n && s->ips[i][0] == '\0'; i++) {
        /* void */
    }

    if (i == s->n) {
        memcpy(router->srv->last, router->srv->err, sizeof(router->srv->last));
        return TSR_ECONN;
    }

    s->current = i;

    s->watcher = tsr_router_node_add(router, s->ips[i], s->ports[i], 1);
    if (s->watcher == NULL) {
        return TSR_ENOMEM;
    }

    return TSR_OK;
}


/* every command goes to the master: the key does not matter */

static tsr_server_t *
tsr_sentinel_route(tsr_router_t *router, const char *key, size_t keylen)
{
    tsr_sentinel_t  *s;

    s = router->data;

    if (s->master == NULL) {
        tsr_server_set_error(router->srv,
                             "redis %s: the master is not known yet%s%s",
                             router->srv->addr,
                             router->srv->last[0] ? ": " : "",
                             router->srv->last);
        return NULL;
    }

    return s->master;
}


static void
tsr_sentinel_event(tsr_router_t *router, tsr_server_t *node, int ev)
{
    size_t           i, k;
    uint64_t         now;
    tsr_sentinel_t  *s;

    s = router->data;

    if (!router->srv->async) {
        if (node == s->master && ev != TSR_STORE_EV_READY) {
            s->discover = 1;
        }

        return;
    }

    if (node == s->watcher) {
        switch (ev) {

        case TSR_STORE_EV_READY:
            /*
             * One pipeline: the reply to the question comes before any
             * message, and no switch falls between the two.
             */

            if (tsr_router_node_command(node, tsr_sentinel_master_cb, router,
                                        "SENTINEL get-master-addr-by-name %s",
                                        s->name)
                != TSR_OK
                || tsr_router_node_command(node, tsr_sentinel_switch_cb, router,
                                           "SUBSCRIBE " TSR_SENTINEL_CHANNEL)
                   != TSR_OK)
            {
                tsr_server_set_error(node,
                                     "sentinel at %s refused the commands",
                                     node->addr);
                tsr_router_node_fail(node);
                return;
            }

            now = tsr_server_loop_now(router->srv);

            s->subscribed = 1;
            s->renew_at = now + TSR_SENTINEL_KEEPALIVE;

            tsr_router_wake(router, s->renew_at);
            break;

        case TSR_STORE_EV_DOWN:
            s->subscribed = 0;

            /* the next sentinel, after the node's backoff */

            k = s->current;

            for (i = 1; i <= s->n; i++) {
                k = (s->current + i) % s->n;

                if (s->ips[k][0] != '\0') {
                    break;
                }
            }

            if (k != s->current) {
                s->current = k;
                (void) tsr_router_node_move(node, s->ips[k], s->ports[k], 1);
            }

            memcpy(router->srv->last, node->err, sizeof(router->srv->last));
            break;
        }

        return;
    }

    if (node == s->master
        && (ev == TSR_STORE_EV_NOT_MASTER || ev == TSR_STORE_EV_READONLY))
    {
        tsr_sentinel_requery(router);
    }
}


/*
 * The master named is not one (any more): the next sentinel is asked,
 * at most once per TSR_SENTINEL_REQUERY.
 */

static void
tsr_sentinel_requery(tsr_router_t *router)
{
    size_t           k;
    uint64_t         now;
    tsr_sentinel_t  *s;

    s = router->data;
    now = tsr_server_loop_now(router->srv);

    if (s->watcher == NULL
        || (s->requeried_at != 0
            && now < s->requeried_at + TSR_SENTINEL_REQUERY))
    {
        return;
    }

    s->requeried_at = now;
    s->subscribed = 0;

    tsr_server_log(router->srv, TSR_LOG_WARN,
                   "redis %s: asking the sentinels again: %s",
                   router->srv->addr, s->master != NULL ? s->master->err : "");

    k = (s->current + 1) % s->n;

    if (k != s->current && s->ips[k][0] != '\0') {
        s->current = k;
        (void) tsr_router_node_move(s->watcher, s->ips[k], s->ports[k], 0);

    } else {
        tsr_router_node_reset(s->watcher);
    }
}


/* [ip, port], or nil for a master the sentinel does not know */

static void
tsr_sentinel_master_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_router_t    *router = privdata;
    tsr_server_t    *node = c->data;
    redisReply      *reply = r;
    tsr_sentinel_t  *s;

    tsr_router_node_replied(node);

    if (reply == NULL || router->srv->destroying) {
        return;
    }

    s = router->data;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        if (tsr_sentinel_use(router, reply->element[0]->str,
                             reply->element[0]->len, reply->element[1]->str,
                             reply->element[1]->len, node->addr)
            == TSR_OK)
        {
            return;
        }

        memcpy(node->err, router->srv->err, sizeof(node->err));

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_server_reply_error(node, "SENTINEL get-master-addr-by-name", reply);

    } else {
        tsr_server_set_error(node,
                             "sentinel at %s does not know master \"%s\"",
                             node->addr, s->name);
    }

    /* as a failure of this sentinel: the next one is asked */
    tsr_router_node_fail(node);
}


/*
 * Confirmations of SUBSCRIBE (the keepalive's answers) and messages
 * "<name> <old ip> <old port> <new ip> <new port>".
 */

static void
tsr_sentinel_switch_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_router_t      *router = privdata;
    tsr_server_t      *node = c->data;
    redisReply        *reply = r;
    size_t             i, len, nlen, n, f[5], flen[5];
    const char        *p;
    tsr_sentinel_t    *s;
    const redisReply  *type, *msg;

    if (reply == NULL || router->srv->destroying) {
        if (!router->srv->destroying && node == tsr_sentinel(router)->watcher) {
            tsr_sentinel(router)->subscribed = 0;
        }

        return;
    }

    s = router->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    type = reply->element[0];

    if (type->len == sizeof("subscribe") - 1
        && memcmp(type->str, "subscribe", type->len) == 0)
    {
        tsr_router_node_replied(node);
        return;
    }

    msg = reply->element[2];

    if (type->len != sizeof("message") - 1
        || memcmp(type->str, "message", type->len) != 0
        || msg->type != REDIS_REPLY_STRING)
    {
        return;
    }

    /* five fields separated by single spaces */

    p = msg->str;
    len = msg->len;
    n = 0;
    f[0] = 0;

    for (i = 0; i <= len && n < 5; i++) {
        if (i == len || p[i] == ' ') {
            flen[n] = i - f[n];
            n++;

            if (n < 5) {
                f[n] = i + 1;
            }
        }
    }

    nlen = strlen(s->name);

    if (n != 5 || flen[0] != nlen || memcmp(p, s->name, nlen) != 0) {
        return;
    }

    tsr_server_log(router->srv, TSR_LOG_INFO,
                   "redis %s: switched from %.*s:%.*s to %.*s:%.*s",
                   router->srv->addr, (int) flen[1], p + f[1], (int) flen[2],
                   p + f[2], (int) flen[3], p + f[3], (int) flen[4], p + f[4]);

    if (tsr_sentinel_use(router, p + f[3], flen[3], p + f[4], flen[4],
                         node->addr)
        != TSR_OK)
    {
        tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
    }
}


/*
 * The master is at "ip" and "port" (as text, from a sentinel): its node
 * is created or moved there.
 */

static int
tsr_sentinel_use(tsr_router_t *router, const char *ip, size_t iplen,
    const char *port, size_t portlen, const char *from)
{
    int              n;
    size_t           i;
    char             host[TSR_STORE_IP_LEN];
    tsr_sentinel_t  *s;

    s = router->data;
    n = 0;

    for (i = 0; i < portlen && i < 6; i++) {
        if (port[i] < '0' || port[i] > '9') {
            break;
        }

        n = n * 10 + (port[i] - '0');
    }

    if (iplen == 0 || iplen >= sizeof(host) || i != portlen || n < 1
        || n > 65535)
    {
        tsr_server_set_error(router->srv,
                             "sentinel at %s: invalid address of master "
                             "\"%s\"", from, s->name);
        return TSR_EPROTO;
    }

    memcpy(host, ip, iplen);
    host[iplen] = '\0';

    if (router->srv->async && !tsr_store_numeric(host)) {
        tsr_server_set_error(router->srv,
                             "sentinel at %s: master \"%s\" at \"%s\", "
                             "not a numeric address", from, s->name, host);
        return TSR_EPROTO;
    }

    /* the master gets the master's credentials: only where allowed */

    if (!tsr_router_allowed(router, host)) {
        tsr_server_set_error(router->srv,
                             "sentinel at %s: master \"%s\" at %s:%d, "
                             "outside \"allow=\"", from, s->name, host, n);
        return TSR_EPROTO;
    }

    if (s->master == NULL) {
        s->master = tsr_router_node_add(router, host, n, 0);
        if (s->master == NULL) {
            return TSR_ENOMEM;
        }

        tsr_server_log(router->srv, TSR_LOG_INFO,
                       "redis %s: the master is at %s (sentinel at %s)",
                       router->srv->addr, s->master->addr, from);
        return TSR_OK;
    }

    if (strcmp(s->master->host, host) == 0 && s->master->port == n) {
        return TSR_OK;
    }

    tsr_server_log(router->srv, TSR_LOG_INFO,
                   "redis %s: the master moves from %s to "
                   "%s:%d (sentinel at %s)", router->srv->addr, s->master->addr,
                   host, n, from);

    return tsr_router_node_move(s->master, host, n, 0);
}


/* renews the subscription, the sentinel's proof of life */

static uint64_t
tsr_sentinel_duty(tsr_router_t *router, uint64_t now)
{
    tsr_sentinel_t  *s;

    s = router->data;

    if (!s->subscribed || s->watcher == NULL) {
        return 0;
    }

    if (now >= s->renew_at) {
        if (tsr_router_node_command(s->watcher, tsr_sentinel_switch_cb, router,
                                    "SUBSCRIBE " TSR_SENTINEL_CHANNEL)
            != TSR_OK)
        {
            return 0;
        }

        s->renew_at = now + TSR_SENTINEL_KEEPALIVE;
    }

    return s->renew_at;
}


static int
tsr_sentinel_state(const tsr_store_t *st)
{
    tsr_sentinel_t  *s;
    tsr_router_t    *router;

    router = tsr_store_router(st);

    s = router->data;

    if (s->master != NULL) {
        return tsr_server_state(s->master);
    }

    if (s->watcher != NULL
        && tsr_server_state(s->watcher) == TSR_STORE_STATE_CONNECTING)
    {
        return TSR_STORE_STATE_CONNECTING;
    }

    return TSR_STORE_STATE_DOWN;
}


/* ---- the synchronous side ---- */

static int
tsr_sentinel_connect(tsr_store_t *st)
{
    int              rc;
    tsr_sentinel_t  *s;
    tsr_router_t    *router;

    router = tsr_store_router(st);

    s = router->data;

    if (s->master == NULL || s->discover) {
        rc = tsr_sentinel_discover(router);
        if (rc != TSR_OK) {
            router->srv->stats.errors++;
            return rc;
        }
    }

    rc = tsr_server_connect(s->master);

    if (rc != TSR_OK) {
        memcpy(router->srv->err, s->master->err, sizeof(router->srv->err));
        s->discover = 1;
    }

    return rc;
}


/*
 * A synchronous operation on the master, asking the sentinels first when
 * it is unknown or was lost; a master lost during the call is asked for
 * and the operation tried once more if it moved.
 */

static int
tsr_sentinel_op(tsr_router_t *router, const tsr_store_op_t *op)
{
    int              rc, asked;
    tsr_server_t    *master;
    tsr_sentinel_t  *s;

    s = router->data;
    asked = 0;

    if (s->master == NULL || s->discover) {
        asked = 1;
        rc = tsr_sentinel_discover(router);

        if (rc != TSR_OK) {
            switch (op->op) {

            case TSR_STORE_OP_SET:
                router->srv->stats.sets++;
                break;

            case TSR_STORE_OP_DEL:
                router->srv->stats.dels++;
                break;

            default:
                router->srv->stats.gets++;
                break;
            }

            router->srv->stats.errors++;

            return rc;
        }
    }

    rc = tsr_router_node_op(s->master, op);

    /*
     * Not GETDEL nor a script after a lost connection: it may have run
     * before the connection broke.  A master that turned out not to be
     * one (ROLE when connecting, a READONLY reply) ran nothing: any
     * operation goes to the master the sentinels name now.
     */

    if (!asked
        && (((rc == TSR_ECONN || rc == TSR_ETIMEDOUT)
             && (op->op == TSR_STORE_OP_GET || op->op == TSR_STORE_OP_SET
                 || op->op == TSR_STORE_OP_DEL))
            || (rc == TSR_ESERVER && s->discover)))
    {
        master = s->master;
        s->next_discovery = 0;

        if (tsr_sentinel_discover(router) == TSR_OK
            && (master->next_attempt == 0 || master->ctx != NULL))
        {
            tsr_router_node_uncount(master, op);
            rc = tsr_router_node_op(master, op);
        }
    }

    if (rc == TSR_ECONN || rc == TSR_ETIMEDOUT) {
        s->discover = 1;
    }

    if (rc < 0) {
        memcpy(router->srv->err, s->master->err, sizeof(router->srv->err));
    }

    return rc;
}


/*
 * Asks the sentinels in turn, starting with the last that answered;
 * after a failure, not again before the backoff.
 */

static int
tsr_sentinel_discover(tsr_router_t *router)
{
    int              rc;
    size_t           i, k;
    int64_t          now;
    tsr_sentinel_t  *s;

    s = router->data;
    now = tsr_now_ms();

    if (now < s->next_discovery) {
        tsr_server_set_error(router->srv,
                             "redis %s unavailable, next attempt in %lld "
                             "ms: %s", router->srv->addr,
                             (long long) (s->next_discovery - now),
                             router->srv->last);
        return TSR_ECONN;
    }

    rc = TSR_ECONN;

    for (i = 0; i < s->n; i++) {
        k = (s->current + i) % s->n;

        rc = tsr_sentinel_ask(router, k);

        if (rc == TSR_OK) {
            s->current = k;
            s->discover = 0;
            s->backoff_ms = router->srv->backoff_min_ms;
            s->next_discovery = 0;
            router->srv->last[0] = '\0';
            return TSR_OK;
        }
    }

    s->next_discovery = now + s->backoff_ms;

    tsr_server_log(router->srv, TSR_LOG_ERR, "%s, next attempt in %d ms",
                   router->srv->err, s->backoff_ms);

    s->backoff_ms = (s->backoff_ms > router->srv->backoff_max_ms / 2)
                    ? router->srv->backoff_max_ms : s->backoff_ms * 2;

    memcpy(router->srv->last, router->srv->err, sizeof(router->srv->last));

    return rc;
}


/* one sentinel, on a connection of its own, closed at once */

static int
tsr_sentinel_ask(tsr_router_t *router, size_t k)
{
    int               rc;
    char              addr[300], text[TSR_STORE_REPLY_TEXT];
    size_t            i, n;
    tsr_sync_t       *c;
    redisReply       *reply;
    tsr_sentinel_t   *s;
    tsr_sync_conf_t   conf;

    s = router->data;
    reply = NULL;

    (void) snprintf(addr, sizeof(addr), "sentinel at %s:%d", s->hosts[k],
                    s->ports[k]);

    memset(&conf, 0, sizeof(conf));
    conf.addr = addr;
    conf.host = s->hosts[k];
    conf.port = s->ports[k];
    conf.user = s->user;
    conf.password = s->password;
    conf.password_len = s->password_len;
    conf.connect_timeout_ms = router->srv->connect_timeout_ms;
    conf.command_timeout_ms = router->srv->command_timeout_ms;
    conf.tls = tsr_server_tls(router->srv);

    /* a sentinel's answers are bounded as Redis' are */

    c = tsr_sync_connect(&conf, &rc, router->srv->err,
                         sizeof(router->srv->err));
    if (c == NULL) {
        return (rc == TSR_ESERVER) ? TSR_ESERVER : TSR_ECONN;
    }

    rc = tsr_sync_command(c, &reply, "SENTINEL get-master-addr-by-name",
                          "SENTINEL get-master-addr-by-name %s", s->name);
    if (rc != TSR_OK) {
        tsr_server_set_error(router->srv, "%s", c->errstr);
        tsr_sync_free(c);
        return TSR_ECONN;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        tsr_server_set_error(router->srv,
                             "sentinel at %s:%d does not know master \"%s\"",
                             s->hosts[k], s->ports[k], s->name);
        rc = TSR_ECONN;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        n = (reply->len < sizeof(text) - 1) ? reply->len : sizeof(text) - 1;

        for (i = 0; i < n; i++) {
            text[i] = (reply->str[i] >= 0x20 && reply->str[i] < 0x7f)
                      ? reply->str[i] : '?';
        }

        text[n] = '\0';

        tsr_server_set_error(router->srv,
                             "SENTINEL get-master-addr-by-name on %s "
                             "failed: %s", addr, text);
        rc = TSR_ESERVER;

    } else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
               || reply->element[0]->type != REDIS_REPLY_STRING
               || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        tsr_server_set_error(router->srv,
                             "SENTINEL get-master-addr-by-name on %s "
                             "failed: unexpected reply", addr);
        rc = TSR_EPROTO;

    } else {
        rc = tsr_sentinel_use(router, reply->element[0]->str,
                              reply->element[0]->len, reply->element[1]->str,
                              reply->element[1]->len, s->hosts[k]);
    }

    freeReplyObject(reply);
    tsr_sync_free(c);

    return rc;
}


const tsr_topo_ops_t  tsr_topo_sentinel = {
    .name = "sentinel",
    .destroy = tsr_store_router_destroy,
    .connect = tsr_sentinel_connect,
    .op = tsr_store_router_op,
    .async = tsr_store_router_start,
    .get_async = tsr_store_router_get,
    .on_timer = tsr_store_router_timer,
    .on_read = tsr_store_router_on_read,
    .on_write = tsr_store_router_on_write,
    .state = tsr_sentinel_state,
    .create = tsr_sentinel_create,
    .free = tsr_sentinel_destroy,
    .start = tsr_sentinel_start,
    .blocking_op = tsr_sentinel_op,
    .route = tsr_sentinel_route,
    .event = tsr_sentinel_event,
    .duty = tsr_sentinel_duty,
    .node_user = tsr_sentinel_user,
    .node_password = tsr_sentinel_password,
    .verify_role = 1
};
