
/*
 * Redis Cluster: keys routed by hash slot to the master serving it.
 *
 * The store is a router over nodes, one per master (see tsr_store.h).
 * The slot map comes from CLUSTER SLOTS, asked of any node: a seed node
 * at first, then the masters in turn.  It is read again every few
 * seconds, soon after a MOVED or CLUSTERDOWN reply or a master lost, and
 * every TSR_CLUSTER_REFRESH_DEGRADED ms while a master of the map is
 * down, so that a failover's new master is found soon after it is
 * elected.  Meanwhile lookups of the slots of a master that is down are
 * refused at once, by that master's node.
 *
 * A MOVED reply updates the slot at once and the command goes to the
 * node named; an ASK reply sends the command there once, after ASKING,
 * and changes nothing.  Each command follows one redirection at most:
 * a second one costs a lookup (a miss) or a write, never a wait.  Nodes
 * that stop being masters are parked (their connection closed) once
 * idle.  Nothing read from Redis is trusted: slot numbers, ports and
 * array shapes are checked, and addresses must be numeric on the
 * asynchronous side, which must never wait for a resolver.
 */


#include "tsr_cluster.h"
#include "tsr_topo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>


typedef struct {
    size_t              nseeds;
    char               *seeds[TSR_STORE_MAX_LIST];
    int                 ports[TSR_STORE_MAX_LIST];
    uint16_t           *slots;          /* node index + 1; 0: unknown */
    uint16_t           *next;           /* the map being read */
    tsr_server_t        *refreshing;     /* CLUSTER SLOTS in flight there */
    uint64_t            refresh_at;     /* the next one, loop time */
    uint64_t            refreshed_at;   /* the last one sent */
    size_t              turn;           /* the node asked next */
    size_t              masters;        /* in the map */
    size_t              covered;        /* slots in the map */
    unsigned            have_map:1;
    unsigned            stale:1;        /* synchronous: read it again */
} tsr_cluster_t;


/* a router's state as this topology */
#define tsr_cluster(router)  ((tsr_cluster_t *) (router)->data)


static int tsr_cluster_create(tsr_router_t *router,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
static void tsr_cluster_destroy(tsr_router_t *router);
static int tsr_cluster_start(tsr_router_t *router);
static tsr_server_t *tsr_cluster_route(tsr_router_t *router, const char *key,
    size_t keylen);
static int tsr_cluster_op(tsr_router_t *router, const tsr_store_op_t *op);
static int tsr_cluster_connect(tsr_store_t *st);
static int tsr_cluster_parse_redirect(const redisReply *reply,
    tsr_store_redirect_t *r);
static int tsr_cluster_error(tsr_router_t *router, tsr_server_t *node,
    const redisReply *reply, tsr_server_t **target, int *ask);
static void tsr_cluster_event(tsr_router_t *router, tsr_server_t *node, int ev);
static uint64_t tsr_cluster_duty(tsr_router_t *router, uint64_t now);
static int tsr_cluster_state(const tsr_store_t *st);
static uint16_t tsr_cluster_crc16(const char *buf, size_t len);
static size_t tsr_cluster_index(tsr_router_t *router, tsr_server_t *node);
static tsr_server_t *tsr_cluster_node(tsr_router_t *router, tsr_server_t *from,
    const char *ip, size_t iplen, int port);
static tsr_server_t *tsr_cluster_any(tsr_router_t *router);
static void tsr_cluster_soon(tsr_router_t *router);
static void tsr_cluster_refresh(tsr_router_t *router, tsr_server_t *node);
static void tsr_cluster_slots_cb(tsr_conn_t *conn, redisReply *r,
    void *privdata);
static int tsr_cluster_apply(tsr_router_t *router, tsr_server_t *from,
    const redisReply *reply);
static int tsr_cluster_degraded(tsr_router_t *router);
static void tsr_cluster_sweep(tsr_router_t *router);
static int tsr_cluster_load(tsr_router_t *router);
static tsr_server_t *tsr_cluster_seed(tsr_router_t *router, size_t i);


int
tsr_store_key_slot(const char *key, size_t keylen)
{
    size_t       i, j;

    if (key == NULL) {
        return 0;
    }

    /* a hash tag: from the first "{" to the next "}", if not empty */

    for (i = 0; i < keylen; i++) {
        if (key[i] == '{') {
            break;
        }
    }

    if (i < keylen) {
        for (j = i + 1; j < keylen; j++) {
            if (key[j] == '}') {
                break;
            }
        }

        if (j < keylen && j > i + 1) {
            return tsr_cluster_crc16(key + i + 1, j - i - 1)
                   & (TSR_CLUSTER_SLOTS - 1);
        }
    }

    return tsr_cluster_crc16(key, keylen) & (TSR_CLUSTER_SLOTS - 1);
}


/* CRC16-CCITT (XMODEM), as Redis Cluster computes it */

static uint16_t
tsr_cluster_crc16(const char *buf, size_t len)
{
    int       j;
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) ((unsigned char) buf[i] << 8);

        for (j = 0; j < 8; j++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


static int
tsr_cluster_create(tsr_router_t *router, const tsr_store_conf_t *conf,
    char *err, size_t errlen)
{
    size_t          i;
    const char     *nodes;
    tsr_cluster_t  *c;

    nodes = conf->cluster;

    snprintf(router->srv->addr, sizeof(router->srv->addr), "cluster %s", nodes);

    c = OPENSSL_zalloc(sizeof(tsr_cluster_t));
    if (c == NULL) {
        tsr_errf(err, errlen, "out of memory");
        return TSR_ENOMEM;
    }

    router->data = c;

    c->slots = OPENSSL_zalloc(TSR_CLUSTER_SLOTS * sizeof(uint16_t));
    c->next = OPENSSL_zalloc(TSR_CLUSTER_SLOTS * sizeof(uint16_t));

    if (c->slots == NULL || c->next == NULL) {
        tsr_errf(err, errlen, "out of memory");
        return TSR_ENOMEM;
    }

    if (tsr_store_parse_list(nodes, strlen(nodes), c->seeds, c->ports,
                             TSR_STORE_MAX_LIST, err, errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    for (i = 0; i < TSR_STORE_MAX_LIST && c->seeds[i] != NULL; i++) {
        if (c->ports[i] == 0) {
            c->ports[i] = TSR_CLUSTER_DEFAULT_PORT;
        }
    }

    c->nseeds = i;

    return TSR_OK;
}


static void
tsr_cluster_destroy(tsr_router_t *router)
{
    size_t          i;
    tsr_cluster_t  *c;

    c = router->data;

    if (c == NULL) {
        return;
    }

    /* all of them: a list that failed to parse may have some */

    for (i = 0; i < TSR_STORE_MAX_LIST; i++) {
        OPENSSL_free(c->seeds[i]);
    }

    OPENSSL_free(c->slots);
    OPENSSL_free(c->next);
    OPENSSL_free(c);

    router->data = NULL;
}


/* asynchronous: a node per seed, the map read from the first one up */

static int
tsr_cluster_start(tsr_router_t *router)
{
    size_t          i;
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;

    memset(c->slots, 0, TSR_CLUSTER_SLOTS * sizeof(uint16_t));
    c->have_map = 0;
    c->masters = 0;
    c->covered = 0;
    c->refreshing = NULL;
    c->refreshed_at = 0;
    c->refresh_at = 0;

    for (i = 0; i < c->nseeds; i++) {
        node = tsr_cluster_seed(router, i);

        if (node == NULL) {
            tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
        }
    }

    /* until a node is ready; then each ready node asks at once */
    tsr_router_wake(router, tsr_server_loop_now(router->srv)
                              + TSR_CLUSTER_REFRESH_DEGRADED);

    return TSR_OK;
}


/* the node of seed "i", added when missing */

static tsr_server_t *
tsr_cluster_seed(tsr_router_t *router, size_t i)
{
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;

    node = tsr_router_node_find(router, c->seeds[i], c->ports[i]);

    if (node == NULL) {
        node = tsr_router_node_add(router, c->seeds[i], c->ports[i], 0);
        if (node == NULL) {
            return NULL;
        }
    }

    node->seed = 1;

    return node;
}


/*
 * The node serving the slot of "key" (the map may be old: a MOVED reply
 * corrects it), or any node while the slot is unknown, or NULL with a
 * message.
 */

static tsr_server_t *
tsr_cluster_route(tsr_router_t *router, const char *key, size_t keylen)
{
    int             slot;
    size_t          idx;
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;

    /* a keyless command may go to any node */

    if (key != NULL) {
        slot = tsr_store_key_slot(key, keylen);
        idx = c->slots[slot];

        if (idx != 0 && idx <= router->nnodes) {
            return router->nodes[idx - 1];
        }
    }

    node = tsr_cluster_any(router);

    if (node == NULL) {
        tsr_server_set_error(router->srv,
                             "no node of redis %s is connected%s%s",
                             router->srv->addr,
                             router->srv->last[0] ? ": " : "",
                             router->srv->last);
    }

    /* a key with no node in the map: the map is stale */

    if (key != NULL && router->srv->async && c->have_map) {
        tsr_cluster_soon(router);
    }

    return node;
}


/* a connected node, masters first; synchronous: the first seed */

static tsr_server_t *
tsr_cluster_any(tsr_router_t *router)
{
    size_t         i;
    tsr_server_t  *node, *other;

    if (!router->srv->async) {
        return tsr_cluster_seed(router, 0);
    }

    other = NULL;

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (!tsr_server_usable(node)) {
            continue;
        }

        if (node->master) {
            return node;
        }

        if (other == NULL) {
            other = node;
        }
    }

    return other;
}


static size_t
tsr_cluster_index(tsr_router_t *router, tsr_server_t *node)
{
    size_t  i;

    for (i = 0; i < router->nnodes; i++) {
        if (router->nodes[i] == node) {
            return i;
        }
    }

    return router->nnodes;
}


/*
 * The node at "ip" ("" or unknown: the host of "from") and "port",
 * added when new.  NULL for an address the asynchronous side would
 * have to resolve.
 */

static tsr_server_t *
tsr_cluster_node(tsr_router_t *router, tsr_server_t *from, const char *ip,
    size_t iplen, int port)
{
    char           host[TSR_STORE_IP_LEN];
    tsr_server_t  *node;

    if (port < 1 || port > 65535 || iplen >= sizeof(host)) {
        tsr_server_set_error(router->srv, "redis %s: invalid node address",
                             router->srv->addr);
        return NULL;
    }

    if (iplen == 0) {
        if (from == NULL) {
            tsr_server_set_error(router->srv,
                                 "redis %s: node without an address",
                                 router->srv->addr);
            return NULL;
        }

        snprintf(host, sizeof(host), "%s",
                 from->ip[0] != '\0' ? from->ip : from->host);

    } else {
        memcpy(host, ip, iplen);
        host[iplen] = '\0';
    }

    node = tsr_router_node_find(router, host, port);
    if (node != NULL) {
        return node;
    }

    if (router->srv->async && !tsr_store_numeric(host)) {
        tsr_server_set_error(router->srv,
                             "redis %s names node \"%s\": not a numeric "
                             "address (cluster-preferred-endpoint-type ip)",
                             router->srv->addr, host);
        return NULL;
    }

    /* a new node gets the credentials: only where allowed */

    if (!tsr_router_allowed(router, host)) {
        tsr_server_set_error(router->srv,
                             "redis %s names node %s:%d, outside \"allow=\"",
                             router->srv->addr, host, port);
        return NULL;
    }

    node = tsr_router_node_add(router, host, port, 0);
    if (node == NULL) {
        return NULL;
    }

    tsr_server_log(router->srv, TSR_LOG_INFO, "redis %s: new node %s",
                   router->srv->addr, node->addr);

    return node;
}


/*
 * "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381"; the host may
 * be empty (the node itself) or an IPv6 address without brackets.
 */

static int
tsr_cluster_parse_redirect(const redisReply *reply, tsr_store_redirect_t *r)
{
    int          slot, port;
    size_t       n, len, hlen;
    const char  *p, *end, *colon;

    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) {
        return TSR_ERROR;
    }

    p = reply->str;
    end = p + reply->len;

    if (reply->len > sizeof("MOVED ") - 1
        && memcmp(p, "MOVED ", sizeof("MOVED ") - 1) == 0)
    {
        r->ask = 0;
        p += sizeof("MOVED ") - 1;

    } else if (reply->len > sizeof("ASK ") - 1
               && memcmp(p, "ASK ", sizeof("ASK ") - 1) == 0)
    {
        r->ask = 1;
        p += sizeof("ASK ") - 1;

    } else {
        return TSR_ERROR;
    }

    slot = 0;

    for (n = 0; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        slot = slot * 10 + (*p - '0');

        if (slot >= TSR_CLUSTER_SLOTS) {
            return TSR_ERROR;
        }
    }

    if (n == 0 || p == end || *p != ' ') {
        return TSR_ERROR;
    }

    p++;
    len = end - p;

    colon = NULL;

    for (n = 0; n < len; n++) {
        if (p[n] == ':') {
            colon = p + n;
        }
    }

    if (colon == NULL) {
        return TSR_ERROR;
    }

    hlen = colon - p;

    if (hlen >= sizeof(r->ip)) {
        return TSR_ERROR;
    }

    port = 0;

    for (colon++, n = 0; colon < end; colon++, n++) {
        if (*colon < '0' || *colon > '9' || n == 5) {
            return TSR_ERROR;
        }

        port = port * 10 + (*colon - '0');
    }

    if (port < 1 || port > 65535) {
        return TSR_ERROR;
    }

    memcpy(r->ip, p, hlen);
    r->ip[hlen] = '\0';
    r->slot = slot;
    r->port = port;

    return TSR_OK;
}


/*
 * An error reply on an asynchronous node: MOVED and ASK name the node to
 * ask (MOVED also updates the map, and has it read again soon); other
 * errors may say the map is stale.
 */

static int
tsr_cluster_error(tsr_router_t *router, tsr_server_t *node,
    const redisReply *reply, tsr_server_t **target, int *ask)
{
    size_t                idx;
    tsr_server_t         *to;
    tsr_cluster_t        *c;
    tsr_store_redirect_t  r;

    c = router->data;

    if (tsr_cluster_parse_redirect(reply, &r) != TSR_OK) {
        if (reply->len >= sizeof("READONLY") - 1
            && memcmp(reply->str, "READONLY", sizeof("READONLY") - 1) == 0)
        {
            tsr_cluster_soon(router);
            return TSR_STORE_ERROR_OTHER;
        }

        /*
         * The cluster is failing over (with full coverage required, every
         * node says so), or a slot is half-moved: answered at once, so
         * no reason to open the node's breaker, which would outlast it.
         */

        if ((reply->len >= sizeof("CLUSTERDOWN") - 1
             && memcmp(reply->str, "CLUSTERDOWN", sizeof("CLUSTERDOWN") - 1)
                == 0)
            || (reply->len >= sizeof("TRYAGAIN") - 1
                && memcmp(reply->str, "TRYAGAIN", sizeof("TRYAGAIN") - 1)
                   == 0))
        {
            tsr_server_reply_error(node, "command", reply);
            tsr_cluster_soon(router);
            return TSR_STORE_ERROR_LOST;
        }

        return TSR_STORE_ERROR_OTHER;
    }

    to = tsr_cluster_node(router, node, r.ip, strlen(r.ip), r.port);

    if (to == NULL) {
        tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
        *target = NULL;
        return TSR_STORE_ERROR_REDIRECT;
    }

    if (!r.ask) {
        idx = tsr_cluster_index(router, to);

        c->slots[r.slot] = (uint16_t) (idx + 1);

        if (!to->master) {
            to->master = 1;
            tsr_router_node_unpark(to);
        }

        tsr_cluster_soon(router);
    }

    tsr_server_log(router->srv, TSR_LOG_DEBUG,
                   "redis %s: %s of slot %d from %s to %s", router->srv->addr,
                   r.ask ? "ASK" : "MOVED", r.slot, node->addr, to->addr);

    *target = to;
    *ask = r.ask;

    return TSR_STORE_ERROR_REDIRECT;
}


static void
tsr_cluster_event(tsr_router_t *router, tsr_server_t *node, int ev)
{
    uint64_t        now;
    tsr_cluster_t  *c;

    c = router->data;

    if (!router->srv->async) {
        if (ev != TSR_STORE_EV_READY) {
            c->stale = 1;
        }

        return;
    }

    switch (ev) {

    case TSR_STORE_EV_READY:
        now = tsr_server_loop_now(router->srv);

        if (c->refreshing == NULL && (!c->have_map || now >= c->refresh_at)) {
            tsr_cluster_refresh(router, node);
        }

        break;

    case TSR_STORE_EV_DOWN:
        if (node->master || !c->have_map) {
            tsr_cluster_soon(router);
        }

        break;

    default:
        tsr_cluster_soon(router);
        break;
    }
}


/* the map is read again soon, but not more often than ..._MIN */

static void
tsr_cluster_soon(tsr_router_t *router)
{
    uint64_t        at, now;
    tsr_cluster_t  *c;

    c = router->data;

    if (!router->srv->async) {
        c->stale = 1;
        return;
    }

    now = tsr_server_loop_now(router->srv);
    at = c->refreshed_at + TSR_CLUSTER_REFRESH_MIN;

    if (at < now) {
        at = now;
    }

    if (c->refresh_at > at) {
        c->refresh_at = at;
    }

    tsr_router_wake(router, at);
}


/*
 * Sends CLUSTER SLOTS to "node", or to the next connected node in turn
 * (masters first); with none connected, the seeds are tried again.
 */

static void
tsr_cluster_refresh(tsr_router_t *router, tsr_server_t *node)
{
    size_t          i, k;
    uint64_t        now;
    tsr_server_t   *n;
    tsr_cluster_t  *c;

    c = router->data;
    now = tsr_server_loop_now(router->srv);

    if (node == NULL) {
        for (i = 0; i < 2 * router->nnodes && node == NULL; i++) {
            k = (c->turn + i) % router->nnodes;
            n = router->nodes[k];

            /* masters in the first round, any node in the second */

            if (tsr_server_usable(n)
                && (n->master || i >= router->nnodes))
            {
                node = n;
                c->turn = k + 1;
            }
        }
    }

    c->refresh_at = now + (tsr_cluster_degraded(router)
                           ? TSR_CLUSTER_REFRESH_DEGRADED
                           : TSR_CLUSTER_REFRESH);

    if (node == NULL) {
        for (i = 0; i < c->nseeds; i++) {
            n = tsr_cluster_seed(router, i);

            if (n != NULL) {
                tsr_router_node_unpark(n);
            }
        }

        c->refresh_at = now + TSR_CLUSTER_REFRESH_DEGRADED;
        return;
    }

    if (tsr_router_node_command(node, tsr_cluster_slots_cb, router,
                                "CLUSTER SLOTS")
        != TSR_OK)
    {
        c->refresh_at = now + TSR_CLUSTER_REFRESH_MIN;
        return;
    }

    c->refreshing = node;
    c->refreshed_at = now;
}


static void
tsr_cluster_slots_cb(tsr_conn_t *conn, redisReply *r, void *privdata)
{
    tsr_router_t   *router = privdata;
    tsr_server_t   *node = conn->data;
    redisReply     *reply = r;
    tsr_cluster_t  *c;

    tsr_router_node_replied(node);

    c = router->data;

    if (c->refreshing == node) {
        c->refreshing = NULL;
    }

    if (reply == NULL || router->srv->destroying) {
        /* the connection went away: the next refresh asks another node */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_server_reply_error(node, "CLUSTER SLOTS", reply);
        tsr_server_log(router->srv, TSR_LOG_ERR, "%s", node->err);
        return;
    }

    if (tsr_cluster_apply(router, node, reply) != TSR_OK) {
        tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
    }
}


/*
 * Takes the map from a CLUSTER SLOTS reply: ranges of
 * [start, end, [ip, port, id, ...], replicas...].  Every master named
 * gets a node; nodes that serve no slot any more are retired.  A reply
 * that does not parse changes nothing.
 */

static int
tsr_cluster_apply(tsr_router_t *router, tsr_server_t *from,
    const redisReply *reply)
{
    int                changed;
    size_t             i, idx, masters, covered;
    uint64_t           now;
    long long          start, end, s;
    tsr_server_t      *node;
    tsr_cluster_t     *c;
    const redisReply  *m;

    c = router->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        tsr_server_set_error(router->srv,
                             "CLUSTER SLOTS on %s: unexpected reply type %d",
                             from->addr, reply->type);
        return TSR_EPROTO;
    }

    memset(c->next, 0, TSR_CLUSTER_SLOTS * sizeof(uint16_t));

    for (i = 0; i < reply->elements; i++) {
        if (tsr_cluster_slots_range(reply->element[i], &start, &end, &m)
            != 0)
        {
            goto invalid;
        }

        /* "?": the master's address is unknown for now */
        if (m->element[0]->len == 1 && m->element[0]->str[0] == '?') {
            continue;
        }

        node = tsr_cluster_node(router, from, m->element[0]->str,
                                m->element[0]->len,
                                (int) m->element[1]->integer);
        if (node == NULL) {
            tsr_server_log(router->srv, TSR_LOG_ERR, "%s", router->srv->err);
            continue;
        }

        idx = tsr_cluster_index(router, node);

        for (s = start; s <= end; s++) {
            c->next[s] = (uint16_t) (idx + 1);
        }
    }

    /* who is a master now */

    for (i = 0; i < router->nnodes; i++) {
        router->nodes[i]->master = 0;
    }

    covered = 0;

    for (s = 0; s < TSR_CLUSTER_SLOTS; s++) {
        if (c->next[s] != 0) {
            router->nodes[c->next[s] - 1]->master = 1;
            covered++;
        }
    }

    masters = 0;
    now = router->srv->async ? tsr_server_loop_now(router->srv) : 0;

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (node->master) {
            masters++;
            tsr_router_node_unpark(node);
            continue;
        }

        /* any node but the masters: replicas, old masters, seeds */

        if (router->srv->async && !node->parked && !node->retiring) {
            node->retiring = 1;
            node->retire_at = now + TSR_CLUSTER_RETIRE;
            tsr_router_wake(router, node->retire_at);
        }
    }

    changed = (memcmp(c->slots, c->next, TSR_CLUSTER_SLOTS * sizeof(uint16_t))
               != 0);

    memcpy(c->slots, c->next, TSR_CLUSTER_SLOTS * sizeof(uint16_t));

    if (changed || !c->have_map || masters != c->masters) {
        tsr_server_log(router->srv, TSR_LOG_INFO,
                       "redis %s: %zu masters serve %zu of "
                       "%d slots (map from %s)", router->srv->addr, masters,
                       covered, TSR_CLUSTER_SLOTS, from->addr);
    }

    c->masters = masters;
    c->covered = covered;
    c->have_map = 1;
    c->stale = 0;

    return TSR_OK;

invalid:

    tsr_server_set_error(router->srv,
                         "CLUSTER SLOTS on %s: malformed reply, range %zu",
                         from->addr, i);

    return TSR_EPROTO;
}


/*
 * Nodes that left the map and are parked with nothing on them are freed
 * (the seeds stay): a map naming many nodes once does not keep them.  The
 * slot map's indexes follow the nodes that move down.
 */

static void
tsr_cluster_sweep(tsr_router_t *router)
{
    char            addr[TSR_STORE_ADDR_LEN];
    size_t          i, s, n;
    uint16_t        map[TSR_STORE_MAX_NODES + 1];
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;
    n = router->nnodes;
    map[0] = 0;

    for (i = 0, s = 0; i < n; i++) {
        node = router->nodes[s];

        if (!node->seed && !node->master && node != c->refreshing) {
            memcpy(addr, node->addr, sizeof(addr));

            if (tsr_router_node_free(router, s)) {
                tsr_server_log(router->srv, TSR_LOG_INFO,
                               "redis %s: node %s left the map",
                               router->srv->addr, addr);
                map[i + 1] = 0;
                continue;
            }
        }

        map[i + 1] = (uint16_t) (s + 1);
        s++;
    }

    if (router->nnodes == n) {
        return;
    }

    for (s = 0; s < TSR_CLUSTER_SLOTS; s++) {
        c->slots[s] = map[c->slots[s]];
    }

    c->turn = 0;
}


/* a master of the map is not connected */

static int
tsr_cluster_degraded(tsr_router_t *router)
{
    size_t  i;

    if (!tsr_cluster(router)->have_map) {
        return 1;
    }

    for (i = 0; i < router->nnodes; i++) {
        if (router->nodes[i]->master
            && !tsr_server_usable(router->nodes[i]))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The router's timer: nodes retired are parked once idle (or after
 * TSR_CLUSTER_RETIRE), and the map is read when due.  Returns when to
 * run again.
 */

static uint64_t
tsr_cluster_duty(tsr_router_t *router, uint64_t now)
{
    size_t          i;
    uint64_t        next;
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;
    next = 0;

    for (i = 0; i < router->nnodes; i++) {
        node = router->nodes[i];

        if (!node->retiring) {
            continue;
        }

        if (node->sent_count == 0 || now >= node->retire_at) {
            tsr_router_node_park(node);
            continue;
        }

        if (next == 0 || node->retire_at < next) {
            next = node->retire_at;
        }
    }

    tsr_cluster_sweep(router);

    if (c->refreshing == NULL && now >= c->refresh_at) {
        tsr_cluster_refresh(router, NULL);
    }

    if (c->refreshing != NULL) {
        /* its reply or its node's stall check ends it */
        if (next == 0 || now + TSR_CLUSTER_REFRESH_DEGRADED < next) {
            next = now + TSR_CLUSTER_REFRESH_DEGRADED;
        }

    } else if (next == 0 || c->refresh_at < next) {
        next = c->refresh_at;
    }

    return next;
}


static int
tsr_cluster_state(const tsr_store_t *st)
{
    int            state, up, open, connecting;
    size_t         i;
    tsr_router_t  *router;

    router = tsr_store_router(st);

    up = tsr_cluster(router)->have_map && tsr_cluster(router)->masters > 0;
    open = 0;
    connecting = 0;

    for (i = 0; i < router->nnodes; i++) {
        if (!router->nodes[i]->master && tsr_cluster(router)->have_map) {
            continue;
        }

        state = tsr_server_state(router->nodes[i]);

        if (state != TSR_STORE_STATE_UP) {
            up = 0;
        }

        if (state == TSR_STORE_STATE_BREAKER_OPEN) {
            open = 1;

        } else if (state == TSR_STORE_STATE_CONNECTING) {
            connecting = 1;
        }
    }

    if (up) {
        return TSR_STORE_STATE_UP;
    }

    if (open) {
        return TSR_STORE_STATE_BREAKER_OPEN;
    }

    return connecting ? TSR_STORE_STATE_CONNECTING : TSR_STORE_STATE_DOWN;
}


/* ---- the synchronous side ---- */

static int
tsr_cluster_connect(tsr_store_t *st)
{
    int            rc;
    tsr_router_t  *router;

    router = tsr_store_router(st);

    rc = tsr_cluster_load(router);

    if (rc != TSR_OK) {
        router->srv->stats.errors++;
    }

    return rc;
}


/*
 * Reads the map from the masters known, then from the seeds; each node
 * bounded by its timeouts, or refused at once while it backs off.
 */

static int
tsr_cluster_load(tsr_router_t *router)
{
    int             rc;
    size_t          i, n;
    redisReply     *reply;
    tsr_server_t   *node;
    tsr_cluster_t  *c;

    c = router->data;
    rc = TSR_ECONN;

    tsr_server_set_error(router->srv, "redis %s: no node answered",
                         router->srv->addr);

    n = router->nnodes;

    for (i = 0; i < n + c->nseeds; i++) {
        if (i < n) {
            node = router->nodes[i];

            if (!node->master) {
                continue;
            }

        } else {
            node = tsr_cluster_seed(router, i - n);

            if (node == NULL || (node->master && c->have_map)) {
                continue;
            }
        }

        rc = tsr_router_node_sync(node, &reply, "CLUSTER SLOTS",
                                  "CLUSTER SLOTS");
        if (rc != TSR_OK) {
            memcpy(router->srv->err, node->err, sizeof(router->srv->err));
            continue;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            tsr_server_reply_error(node, "CLUSTER SLOTS", reply);
            memcpy(router->srv->err, node->err, sizeof(router->srv->err));
            tsr_router_node_free_reply(node, reply);
            rc = TSR_ESERVER;
            continue;
        }

        rc = tsr_cluster_apply(router, node, reply);
        tsr_router_node_free_reply(node, reply);

        if (rc == TSR_OK) {
            return TSR_OK;
        }
    }

    return rc;
}


/*
 * A synchronous operation: to the node of the key's slot (the map read
 * first when missing or stale), following one redirection; a node lost
 * during the call has the map read again, and the operation goes once
 * more to the slot's node if that changed (not GETDEL, which may have
 * run before the connection broke).
 */

static int
tsr_cluster_op(tsr_router_t *router, const tsr_store_op_t *op)
{
    int                    rc, slot, redirected, rerouted;
    size_t                 idx;
    tsr_server_t          *node, *to;
    tsr_cluster_t         *c;
    tsr_store_redirect_t  *r;

    c = router->data;

    if (!c->have_map || c->stale) {
        (void) tsr_cluster_load(router);
    }

    slot = tsr_store_key_slot(op->key, op->keylen);
    idx = c->slots[slot];

    node = (idx != 0 && idx <= router->nnodes) ? router->nodes[idx - 1]
                                           : tsr_cluster_any(router);
    if (node == NULL) {
        rc = TSR_ECONN;
        goto failed;
    }

    redirected = 0;
    rerouted = 0;

    for ( ;; ) {
        rc = tsr_router_node_op(node, op);

        /* not GETDEL nor a script: it may have run before the failure */

        if ((rc == TSR_ECONN || rc == TSR_ETIMEDOUT) && !rerouted
            && op->op != TSR_STORE_OP_GETDEL && op->op != TSR_STORE_OP_EVAL)
        {
            rerouted = 1;

            if (tsr_cluster_load(router) == TSR_OK) {
                idx = c->slots[slot];
                to = (idx != 0 && idx <= router->nnodes)
                     ? router->nodes[idx - 1] : NULL;

                if (to != NULL && to != node) {
                    tsr_router_node_uncount(node, op);
                    node = to;
                    continue;
                }
            }
        }

        if (rc != TSR_EREDIRECT) {
            break;
        }

        r = &node->redirect;

        if (redirected) {
            tsr_server_set_error(router->srv,
                                 "redis %s: key redirected twice, to %s "
                                 "slot %d", router->srv->addr,
                                 r->ask ? "ASK" : "MOVED", r->slot);
            rc = TSR_ESERVER;
            goto failed;
        }

        redirected = 1;

        to = tsr_cluster_node(router, node, r->ip, strlen(r->ip), r->port);
        if (to == NULL) {
            rc = TSR_ECONN;
            goto failed;
        }

        tsr_server_log(router->srv, TSR_LOG_DEBUG,
                       "redis %s: %s of slot %d from %s to %s",
                       router->srv->addr, r->ask ? "ASK" : "MOVED", r->slot,
                       node->addr, to->addr);

        if (r->ask) {
            to->asking = 1;

        } else {
            c->slots[r->slot] = (uint16_t) (tsr_cluster_index(router, to) + 1);
            to->master = 1;
            c->stale = 1;
        }

        node = to;
    }

    if (rc == TSR_ECONN || rc == TSR_ETIMEDOUT) {
        c->stale = 1;
    }

    if (rc < 0) {
        memcpy(router->srv->err, node->err, sizeof(router->srv->err));
    }

    return rc;

failed:

    /* not counted by a node */

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
    c->stale = 1;

    return rc;
}


const tsr_topo_ops_t  tsr_topo_cluster = {
    .name = "cluster",
    .destroy = tsr_store_router_destroy,
    .connect = tsr_cluster_connect,
    .op = tsr_store_router_op,
    .async = tsr_store_router_start,
    .get_async = tsr_store_router_get,
    .on_timer = tsr_store_router_timer,
    .on_read = tsr_store_router_on_read,
    .on_write = tsr_store_router_on_write,
    .state = tsr_cluster_state,
    .create = tsr_cluster_create,
    .free = tsr_cluster_destroy,
    .start = tsr_cluster_start,
    .blocking_op = tsr_cluster_op,
    .route = tsr_cluster_route,
    .redirect = tsr_cluster_parse_redirect,
    .error = tsr_cluster_error,
    .event = tsr_cluster_event,
    .duty = tsr_cluster_duty
};
