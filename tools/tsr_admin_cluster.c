
/*
 * tsr-admin on a Redis Cluster: the masters from a seed's CLUSTER SLOTS,
 * a connection to each as a command first speaks to it, and the master
 * of a key's slot, with one MOVED or ASK followed.  A master Redis names
 * receives the address' credentials only if it is a seed or in allow=,
 * as the core's cluster decides.  Every reply is checked before use:
 * types, counts, slot and port ranges, host names.
 */


#include "tsr_admin_util.h"
#include "tsr_cluster.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include <hiredis/hiredis.h>


static int tsr_admin_cluster_ask(tsr_admin_t *adm, const char *host,
    int port, char *err, size_t errlen);
static int tsr_admin_cluster_apply(tsr_admin_t *adm, const redisReply *reply,
    const char *seed, const char *peer);
static int tsr_admin_cluster_master(tsr_admin_t *adm, const char *host,
    int port, int trusted);
static int tsr_admin_cluster_trusted(tsr_admin_t *adm, const char *host,
    int port, const char *peer);
static int tsr_admin_cluster_host(const char *p, size_t len);
static int tsr_admin_cluster_use_slot(tsr_admin_t *adm, int slot);
static int tsr_admin_cluster_follow(tsr_admin_t *adm, const redisReply *r,
    int *ask);
static void tsr_admin_cluster_reset(tsr_admin_t *adm);


/*
 * Reads the slot map from the seeds in turn, the first that answers
 * with one that parses; connects no master yet.
 */

int
tsr_admin_cluster_map(tsr_admin_t *adm)
{
    int          port;
    size_t       n;
    const char  *p, *next;
    char         host[TSR_ADMIN_NAME_LEN], err[TSR_ADMIN_MSG_LEN];

    /* the cluster as a whole, as tsr_admin_leave() names it again */
    (void) snprintf(adm->cluster, sizeof(adm->cluster), "%s", adm->where);

    adm->slots = calloc(TSR_CLUSTER_SLOTS, sizeof(uint16_t));
    if (adm->slots == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    (void) snprintf(err, sizeof(err), "no seed node");

    for (p = adm->conf.cluster; *p != '\0'; p = next) {
        next = tsr_admin_list_next(p, &n, host, sizeof(host), &port);

        if (host[0] == '\0') {
            continue;
        }

        if (tsr_admin_cluster_ask(adm, host,
                                  port ? port : TSR_CLUSTER_DEFAULT_PORT,
                                  err, sizeof(err))
            == TSR_ADMIN_OK)
        {
            return TSR_ADMIN_OK;
        }
    }

    tsr_admin_fail(adm, "no seed of %s gave a slot map: %s", adm->cluster,
                   err);

    return TSR_ADMIN_FAILED;
}


/* CLUSTER SLOTS of one seed, made the map if it parses */

static int
tsr_admin_cluster_ask(tsr_admin_t *adm, const char *host, int port,
    char *err, size_t errlen)
{
    int               rc;
    tsr_sync_t       *s;
    redisReply       *reply;
    tsr_sync_conf_t   conf;
    char              seed[TSR_ADMIN_NAME_LEN + 8], peer[64];

    (void) snprintf(seed, sizeof(seed),
                    strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

    tsr_admin_sync_conf(adm, &conf);
    conf.addr = seed;
    conf.host = host;
    conf.port = port;
    conf.info = 0;

    s = tsr_sync_connect(&conf, &rc, err, errlen);
    if (s == NULL) {
        return TSR_ADMIN_FAILED;
    }

    rc = tsr_sync_command(s, &reply, "CLUSTER SLOTS", "CLUSTER SLOTS");

    if (rc != TSR_OK) {
        (void) snprintf(err, errlen, "%s", s->errstr);
        tsr_sync_free(s);
        return TSR_ADMIN_FAILED;
    }

    /* "ip:port" as connected: the node itself, whatever its name */
    (void) snprintf(peer, sizeof(peer), "%s",
                    (s->conn != NULL) ? s->conn->peer : "");

    tsr_sync_free(s);

    if (reply->type == REDIS_REPLY_ERROR) {
        (void) snprintf(err, errlen, "CLUSTER SLOTS on %s failed: %.*s",
                        seed, (int) reply->len, reply->str);
        freeReplyObject(reply);
        return TSR_ADMIN_FAILED;
    }

    rc = tsr_admin_cluster_apply(adm, reply, host, peer);

    freeReplyObject(reply);

    if (rc != TSR_ADMIN_OK) {
        (void) snprintf(err, errlen, "CLUSTER SLOTS on %s: malformed reply",
                        seed);
        tsr_admin_cluster_reset(adm);
        return TSR_ADMIN_FAILED;
    }

    (void) snprintf(adm->map_from, sizeof(adm->map_from), "%s", seed);

    return TSR_ADMIN_OK;
}


/*
 * The map from a CLUSTER SLOTS reply, ranges of [start, end, [host,
 * port, ...], replicas...]: a host "" is the seed itself, "?" a master
 * unknown for now (its slots stay without one).  Returns TSR_ADMIN_OK,
 * or TSR_ADMIN_FAILED for a reply that does not parse.
 */

static int
tsr_admin_cluster_apply(tsr_admin_t *adm, const redisReply *reply,
    const char *seed, const char *peer)
{
    int                i;
    size_t             k;
    long long          start, end, port, s;
    const redisReply  *m;
    char               host[TSR_ADMIN_NAME_LEN];

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements > TSR_CLUSTER_SLOTS)
    {
        return TSR_ADMIN_FAILED;
    }

    for (k = 0; k < reply->elements; k++) {
        if (tsr_cluster_slots_range(reply->element[k], &start, &end, &m)
            != 0)
        {
            return TSR_ADMIN_FAILED;
        }

        port = m->element[1]->integer;

        if (port < 1 || port > 65535) {
            return TSR_ADMIN_FAILED;
        }

        if (m->element[0]->len == 1 && m->element[0]->str[0] == '?') {
            continue;
        }

        if (m->element[0]->len == 0) {
            (void) snprintf(host, sizeof(host), "%s", seed);

        } else if (m->element[0]->len < sizeof(host)
                   && tsr_admin_cluster_host(m->element[0]->str,
                                             m->element[0]->len))
        {
            memcpy(host, m->element[0]->str, m->element[0]->len);
            host[m->element[0]->len] = '\0';

        } else {
            return TSR_ADMIN_FAILED;
        }

        i = tsr_admin_cluster_master(adm, host, (int) port,
                                     m->element[0]->len == 0
                                     || tsr_admin_cluster_trusted(adm, host,
                                                                  (int) port,
                                                                  peer));
        if (i < 0) {
            return TSR_ADMIN_FAILED;
        }

        for (s = start; s <= end; s++) {
            if (adm->slots[s] != 0) {
                /* a slot twice */
                return TSR_ADMIN_FAILED;
            }

            adm->slots[s] = (uint16_t) (i + 1);
        }

        adm->masters[i].slots += (size_t) (end - start + 1);
        adm->covered += (size_t) (end - start + 1);
    }

    return TSR_ADMIN_OK;
}


/*
 * The index of master host:port, added when new (refused when it is not
 * "trusted" and outside allow=); -1 past the limit or out of memory.
 */

static int
tsr_admin_cluster_master(tsr_admin_t *adm, const char *host, int port,
    int trusted)
{
    size_t               i;
    tsr_admin_master_t  *m;

    for (i = 0; i < adm->nmasters; i++) {
        if (adm->masters[i].port == port
            && strcmp(adm->masters[i].host, host) == 0)
        {
            return (int) i;
        }
    }

    if (adm->nmasters == TSR_STORE_MAX_NODES) {
        return -1;
    }

    m = realloc(adm->masters, (adm->nmasters + 1) * sizeof(*m));
    if (m == NULL) {
        return -1;
    }

    /* the one spoken to moved with the array */
    if (adm->master != NULL) {
        adm->master = m + (adm->master - adm->masters);
    }

    adm->masters = m;
    m = &adm->masters[adm->nmasters];

    memset(m, 0, sizeof(tsr_admin_master_t));
    (void) snprintf(m->host, sizeof(m->host), "%s", host);
    m->port = port;
    (void) snprintf(m->where, sizeof(m->where),
                    strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    m->refused = !trusted && !tsr_admin_allowed(adm->conf.allow, host);

    return (int) adm->nmasters++;
}


/*
 * Whether host:port is a seed, as written or as the seed that answered
 * was connected: the operator named it, it gets the credentials.
 */

static int
tsr_admin_cluster_trusted(tsr_admin_t *adm, const char *host, int port,
    const char *peer)
{
    int          p;
    size_t       n;
    const char  *s, *next;
    char         seed[TSR_ADMIN_NAME_LEN];

    (void) snprintf(seed, sizeof(seed), "%s:%d", host, port);

    if (strcmp(seed, peer) == 0) {
        return 1;
    }

    for (s = adm->conf.cluster; *s != '\0'; s = next) {
        next = tsr_admin_list_next(s, &n, seed, sizeof(seed), &p);

        if ((p ? p : TSR_CLUSTER_DEFAULT_PORT) == port
            && strcmp(seed, host) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* a host name or address as Redis may name a node: nothing else */

static int
tsr_admin_cluster_host(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (strchr("0123456789abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_:%", p[i]) == NULL
            || p[i] == '\0')
        {
            return 0;
        }
    }

    return 1;
}


/* a map that did not parse: nothing of it stays */

static void
tsr_admin_cluster_reset(tsr_admin_t *adm)
{
    free(adm->masters);
    adm->masters = NULL;
    adm->nmasters = 0;
    adm->covered = 0;
    memset(adm->slots, 0, TSR_CLUSTER_SLOTS * sizeof(uint16_t));
}


/*
 * Makes master "i" the one spoken to (adm->redis, adm->where), connected
 * with the address' credentials, TLS and timeouts on first use.  Without
 * a cluster, the one server already is.  Returns TSR_ADMIN_OK, or
 * TSR_ADMIN_FAILED (reported).
 */

int
tsr_admin_use(tsr_admin_t *adm, size_t i)
{
    int                  rc;
    tsr_admin_master_t  *m;
    tsr_sync_conf_t      conf;
    char                 err[TSR_SYNC_ERR_LEN];

    if (adm->conf.cluster == NULL) {
        return TSR_ADMIN_OK;
    }

    m = &adm->masters[i];

    adm->master = m;
    adm->redis = m->redis;
    (void) snprintf(adm->where, sizeof(adm->where), "%s", m->where);

    if (m->refused) {
        /* before any AUTH: it would receive the credentials */
        tsr_admin_fail(adm, "%s names master %s, which is not in allow=",
                       adm->cluster, m->where);
        return TSR_ADMIN_FAILED;
    }

    if (m->redis != NULL) {
        return TSR_ADMIN_OK;
    }

    tsr_admin_sync_conf(adm, &conf);
    conf.addr = m->where;
    conf.host = m->host;
    conf.port = m->port;

    m->redis = tsr_sync_connect(&conf, &rc, err, sizeof(err));
    if (m->redis == NULL) {
        tsr_admin_fail(adm, "%s", err);
        return TSR_ADMIN_FAILED;
    }

    adm->redis = m->redis;

    return tsr_admin_ping(adm);
}


/*
 * Whether a reply says the key's slot is elsewhere or on its way there
 * (a resharding): MOVED, ASK, or TRYAGAIN for keys on both sides.
 */

int
tsr_admin_redirected(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR
           && (strncmp(r->str, "MOVED ", 6) == 0
               || strncmp(r->str, "ASK ", 4) == 0
               || strncmp(r->str, "TRYAGAIN", 8) == 0);
}


/* the cluster as a whole again, for summaries; nothing without one */

void
tsr_admin_leave(tsr_admin_t *adm)
{
    if (adm->conf.cluster == NULL) {
        return;
    }

    adm->master = NULL;
    adm->redis = NULL;
    (void) snprintf(adm->where, sizeof(adm->where), "%s", adm->cluster);
}


/* " (3 masters)" after a cluster's name in a summary, "" otherwise */

const char *
tsr_admin_masters_note(tsr_admin_t *adm, char *buf, size_t len)
{
    buf[0] = '\0';

    if (adm->conf.cluster == NULL) {
        return buf;
    }

    (void) snprintf(buf, len, " (%zu master%s)", adm->nmasters,
                    (adm->nmasters == 1) ? "" : "s");

    return buf;
}


/*
 * Commands taking the key as their one argument ("GET", "PTTL"),
 * pipelined to the master of the key's slot; when the map was stale,
 * once more where the first MOVED or ASK reply points (after ASKING).
 * replies[] holds their replies, error replies included, which the
 * caller frees.  Returns TSR_ADMIN_OK, or TSR_ADMIN_FAILED (reported).
 */

int
tsr_admin_key_commands(tsr_admin_t *adm, const char *key, size_t keylen,
    const char *const *names, size_t n, redisReply **replies)
{
    int          rc, ask, again;
    size_t       i;
    redisReply  *r;

    rc = tsr_admin_cluster_use_slot(adm, tsr_store_key_slot(key, keylen));
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    ask = 0;

    for (again = 0; again < 2; again++) {

        for (i = 0; i < n; i++) {
            replies[i] = NULL;

            if ((ask && tsr_admin_append(adm, "ASKING") != 0)
                || tsr_admin_append(adm, "%s %b", names[i], key, keylen)
                   != 0)
            {
                return TSR_ADMIN_FAILED;
            }
        }

        for (i = 0; i < n; i++) {
            r = ask ? tsr_admin_reply(adm, "ASKING") : NULL;

            if (ask && r == NULL) {
                goto failed;
            }

            if (r != NULL) {
                /* an error here shows again in the command's reply */
                freeReplyObject(r);
            }

            replies[i] = tsr_admin_reply(adm, names[i]);
            if (replies[i] == NULL) {
                goto failed;
            }
        }

        if (adm->conf.cluster == NULL || again) {
            return TSR_ADMIN_OK;
        }

        for (i = 0; i < n; i++) {
            if (replies[i]->type == REDIS_REPLY_ERROR
                && (strncmp(replies[i]->str, "MOVED ", 6) == 0
                    || strncmp(replies[i]->str, "ASK ", 4) == 0))
            {
                break;
            }
        }

        if (i == n) {
            return TSR_ADMIN_OK;
        }

        rc = tsr_admin_cluster_follow(adm, replies[i], &ask);

        for (i = 0; i < n; i++) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }

        if (rc != TSR_ADMIN_OK) {
            return rc;
        }
    }

    return TSR_ADMIN_OK;

failed:

    for (i = 0; i < n; i++) {
        if (replies[i] != NULL) {
            freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    }

    return TSR_ADMIN_FAILED;
}


static int
tsr_admin_cluster_use_slot(tsr_admin_t *adm, int slot)
{
    if (adm->conf.cluster == NULL) {
        return TSR_ADMIN_OK;
    }

    if (adm->slots[slot] == 0) {
        tsr_admin_fail(adm, "no master serves slot %d in the map of %s "
                       "(from %s)", slot, adm->cluster, adm->map_from);
        return TSR_ADMIN_FAILED;
    }

    return tsr_admin_use(adm, adm->slots[slot] - 1);
}


/*
 * "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" (an empty host
 * is the node itself, an IPv6 address comes without brackets): makes
 * that node the one spoken to, and on MOVED the slot's master.
 */

static int
tsr_admin_cluster_follow(tsr_admin_t *adm, const redisReply *r, int *ask)
{
    int    i, slot, port, skip;
    long   n;
    char  *colon, *end;
    char   addr[TSR_ADMIN_NAME_LEN + 8], extra;
    char   safe[TSR_ADMIN_SAFE_LEN];

    *ask = (r->str[0] == 'A');
    skip = *ask ? 4 : 6;

    colon = NULL;

    /* 263: sizeof(addr) - 1; a longer address does not fit and fails */

    if (sscanf(r->str + skip, "%d %263s %c", &slot, addr, &extra) == 2
        && slot >= 0 && slot < TSR_CLUSTER_SLOTS)
    {
        colon = strrchr(addr, ':');
    }

    if (colon != NULL) {
        *colon = '\0';
        n = strtol(colon + 1, &end, 10);
        port = (*end == '\0' && n >= 1 && n <= 65535) ? (int) n : 0;

        if (addr[0] == '\0') {
            /* the node itself */
            (void) snprintf(addr, sizeof(addr), "%s", adm->master->host);

        } else if (!tsr_admin_cluster_host(addr, strlen(addr))
                   || strlen(addr) >= TSR_ADMIN_NAME_LEN)
        {
            port = 0;
        }

    } else {
        port = 0;
    }

    if (port == 0) {
        tsr_admin_fail(adm, "%s: malformed redirection \"%s\"", adm->where,
                       tsr_admin_safe(r->str, r->len, safe, sizeof(safe)));
        return TSR_ADMIN_FAILED;
    }

    /* a node Redis names is trusted if it is a seed, else within allow= */

    i = tsr_admin_cluster_master(adm, addr, port,
                                 tsr_admin_cluster_trusted(adm, addr, port,
                                                           ""));
    if (i < 0) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    if (!*ask) {
        adm->slots[slot] = (uint16_t) (i + 1);
    }

    return tsr_admin_use(adm, (size_t) i);
}


/* closes every connection; frees the map */

void
tsr_admin_disconnect(tsr_admin_t *adm)
{
    size_t  i;

    if (adm->conf.cluster == NULL) {
        tsr_sync_free(adm->redis);
        adm->redis = NULL;
        return;
    }

    for (i = 0; i < adm->nmasters; i++) {
        tsr_sync_free(adm->masters[i].redis);
    }

    free(adm->masters);
    free(adm->slots);

    adm->masters = NULL;
    adm->slots = NULL;
    adm->nmasters = 0;
    adm->master = NULL;
    adm->redis = NULL;
}
