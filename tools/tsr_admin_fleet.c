
/*
 * tsr-admin fleet: the nginx nodes registered under the prefix and the
 * server names whose session id contexts differ across them.
 */


#include "tsr_admin_util.h"
#include "tsr_fleet.h"


#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>


#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>


typedef struct {
    size_t                      index;      /* in registration order */
    char                        id[TSR_ADMIN_SAFE_LEN];
    char                        proto[16];
    char                        host[TSR_ADMIN_NAME_LEN];
    long long                   pid;
    long long                   time;
    long long                   ttl_ms;
    size_t                      nservers;
    size_t                      bad_lines;
    char                        version[16];    /* "" when "v 1" */
} tsr_admin_node_t;

typedef struct {
    size_t                      node;
    char                        proto[16];
    char                        name[TSR_ADMIN_NAME_LEN];
    char                        fp[TSR_FLEET_FP_HEX + 1];
    char                        listen[TSR_ADMIN_LISTEN_LEN];
} tsr_admin_server_t;

typedef struct {
    tsr_admin_node_t           *nodes;
    size_t                      nnodes;
    tsr_admin_server_t         *servers;
    size_t                      nservers;
    size_t                      salloc;
    size_t                      skipped;    /* nodes or servers past the
                                               limits */
    tsr_admin_seen_t            seen;
} tsr_admin_fleet_t;

/* the parse of one registration, for tsr_admin_fleet_server() */
typedef struct {
    tsr_admin_fleet_t          *fleet;
    size_t                      node;
} tsr_admin_fleet_ctx_t;


static int tsr_admin_fleet_page(tsr_admin_t *adm, redisReply *keys,
    void *data);
static int tsr_admin_fleet_parse(tsr_admin_fleet_t *fl, size_t node,
    const char *val, size_t len);
static int tsr_admin_fleet_server(void *data, const tsr_fleet_server_t *fs);
static int tsr_admin_fleet_sort(tsr_admin_fleet_t *fl);
static int tsr_admin_fleet_print(tsr_admin_t *adm, tsr_admin_fleet_t *fl);
static int tsr_admin_node_cmp(const void *a, const void *b);
static void tsr_admin_fleet_json_node(tsr_admin_t *adm,
    tsr_admin_node_t *nd);
static void tsr_admin_fleet_json_server(tsr_admin_t *adm,
    tsr_admin_fleet_t *fl, size_t i, size_t j, size_t a, size_t nodes,
    int mismatch);
static int tsr_admin_server_cmp(const void *a, const void *b);


/* ---- fleet ---- */

int
tsr_admin_fleet(tsr_admin_t *adm, int argc, char **argv)
{
    int                 rc;
    tsr_admin_fleet_t   fl;
    char                pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    memset(&fl, 0, sizeof(tsr_admin_fleet_t));

    fl.nodes = calloc(TSR_ADMIN_MAX_NODES, sizeof(tsr_admin_node_t));
    if (fl.nodes == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    /* in a cluster, each registration lives on the master of its slot */

    (void) snprintf(pattern, sizeof(pattern), "%snode:*", adm->match);

    rc = TSR_ADMIN_FAILED;

    if (tsr_admin_scan_all(adm, pattern, tsr_admin_fleet_page, &fl) != 0) {
        goto done;
    }

    if (tsr_admin_fleet_sort(&fl) != 0) {
        tsr_admin_fail(adm, "out of memory");
        goto done;
    }

    rc = tsr_admin_fleet_print(adm, &fl);

done:

    tsr_admin_seen_free(&fl.seen);
    free(fl.nodes);
    free(fl.servers);

    return rc;
}


/* GET and PTTL of each registration of one SCAN page, pipelined */

static int
tsr_admin_fleet_page(tsr_admin_t *adm, redisReply *keys, void *data)
{
    int                 rc, dup;
    char               *fresh;
    size_t              i, plen, n;
    redisReply         *k, *val, *ttl;
    const char         *id, *colon;
    tsr_admin_node_t   *node;
    tsr_admin_fleet_t  *fl;

    fl = data;

    fresh = calloc(keys->elements + 1, 1);
    if (fresh == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return -1;
    }

    rc = -1;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        dup = tsr_admin_seen(&fl->seen, k->str, k->len);

        if (dup == -1) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        if (dup) {
            continue;
        }

        fresh[i] = 1;

        if (tsr_admin_append(adm, "GET %b", k->str, k->len) != 0
            || tsr_admin_append(adm, "PTTL %b", k->str, k->len) != 0)
        {
            goto failed;
        }
    }

    plen = adm->prefix_len + sizeof("node:") - 1;

    for (i = 0; i < keys->elements; i++) {
        if (!fresh[i]) {
            continue;
        }

        k = keys->element[i];

        val = tsr_admin_reply(adm, "GET");
        if (val == NULL) {
            goto failed;
        }

        ttl = tsr_admin_reply(adm, "PTTL");
        if (ttl == NULL) {
            freeReplyObject(val);
            goto failed;
        }

        if (val->type != REDIS_REPLY_STRING || k->len <= plen
            || memcmp(k->str, adm->prefix, adm->prefix_len) != 0)
        {
            /* expired meanwhile, or not a registration */
            goto next;
        }

        if (fl->nnodes == TSR_ADMIN_MAX_NODES
            || val->len > TSR_FLEET_MAX_VALUE)
        {
            fl->skipped++;
            goto next;
        }

        node = &fl->nodes[fl->nnodes];
        node->index = fl->nnodes;

        id = k->str + plen;
        n = k->len - plen;

        (void) tsr_admin_safe(id, n, node->id, sizeof(node->id));

        colon = NULL;

        for ( ; n > 0; n--) {
            if (id[n - 1] == ':') {
                colon = id + n;
                break;
            }
        }

        (void) tsr_admin_safe(colon ? colon : "-",
                              colon ? (size_t) (k->str + k->len - colon) : 1,
                              node->proto, sizeof(node->proto));

        node->ttl_ms = (ttl->type == REDIS_REPLY_INTEGER) ? ttl->integer
                                                          : -1;
        node->pid = -1;
        node->time = -1;

        if (tsr_admin_fleet_parse(fl, fl->nnodes, val->str, val->len) != 0)
        {
            tsr_admin_fail(adm, "out of memory");
            freeReplyObject(val);
            freeReplyObject(ttl);
            goto failed;
        }

        fl->nnodes++;

    next:

        freeReplyObject(val);
        freeReplyObject(ttl);
    }

    rc = 0;

failed:

    free(fresh);

    return rc;
}


/*
 * A registration value, untrusted, read by the core's parser (the one the
 * module's writer shares).  Returns 0, or -1 out of memory.
 */

static int
tsr_admin_fleet_parse(tsr_admin_fleet_t *fl, size_t node, const char *val,
    size_t len)
{
    tsr_admin_node_t       *nd;
    tsr_fleet_node_t        fn;
    tsr_admin_fleet_ctx_t   ctx;

    nd = &fl->nodes[node];

    ctx.fleet = fl;
    ctx.node = node;

    if (tsr_fleet_parse(val, len, &fn, tsr_admin_fleet_server, &ctx) != 0) {
        return -1;
    }

    if (fn.version != TSR_FLEET_VERSION) {
        (void) tsr_admin_safe(fn.first, fn.first_len < 8 ? fn.first_len : 8,
                              nd->version, sizeof(nd->version));
        if (nd->version[0] == '\0') {
            (void) strcpy(nd->version, "?");
        }

        return 0;
    }

    if (fn.host != NULL) {
        (void) tsr_admin_safe(fn.host, fn.host_len, nd->host,
                              sizeof(nd->host));
    }

    nd->pid = fn.pid;
    nd->time = fn.time;
    nd->bad_lines = fn.bad_lines;

    return 0;
}


/* one "server" line of a registration; 0, or -1 out of memory */

static int
tsr_admin_fleet_server(void *data, const tsr_fleet_server_t *fs)
{
    size_t                  n;
    tsr_admin_node_t       *nd;
    tsr_admin_server_t     *s;
    tsr_admin_fleet_t      *fl;
    tsr_admin_fleet_ctx_t  *ctx;

    ctx = data;
    fl = ctx->fleet;
    nd = &fl->nodes[ctx->node];

    if (fl->nservers == TSR_ADMIN_MAX_SERVERS) {
        fl->skipped++;
        return 0;
    }

    if (fl->nservers == fl->salloc) {
        n = fl->salloc ? 2 * fl->salloc : 64;

        s = realloc(fl->servers, n * sizeof(tsr_admin_server_t));
        if (s == NULL) {
            return -1;
        }

        fl->servers = s;
        fl->salloc = n;
    }

    s = &fl->servers[fl->nservers++];
    memset(s, 0, sizeof(tsr_admin_server_t));

    s->node = ctx->node;
    (void) strcpy(s->proto, nd->proto);
    (void) tsr_admin_safe(fs->name, fs->name_len, s->name, sizeof(s->name));
    (void) strcpy(s->fp, fs->fp);
    (void) tsr_admin_safe(fs->listen, fs->listen_len, s->listen,
                          sizeof(s->listen));

    nd->nservers++;

    return 0;
}


/* nodes by id, then servers by subsystem, name, node, fingerprint */

static int
tsr_admin_fleet_sort(tsr_admin_fleet_t *fl)
{
    size_t   i, *rank;

    qsort(fl->nodes, fl->nnodes, sizeof(tsr_admin_node_t),
          tsr_admin_node_cmp);

    /* the servers' node numbers, from registration order to sorted */

    rank = malloc((fl->nnodes + 1) * sizeof(size_t));
    if (rank == NULL) {
        return -1;
    }

    for (i = 0; i < fl->nnodes; i++) {
        rank[fl->nodes[i].index] = i;
    }

    for (i = 0; i < fl->nservers; i++) {
        fl->servers[i].node = rank[fl->servers[i].node];
    }

    free(rank);

    if (fl->nservers != 0) {
        qsort(fl->servers, fl->nservers, sizeof(tsr_admin_server_t),
              tsr_admin_server_cmp);
    }

    return 0;
}


/*
 * Nodes, then each server name (per subsystem) with its fingerprints; a
 * name whose fingerprints differ from node to node is a mismatch.
 */

static int
tsr_admin_fleet_print(tsr_admin_t *adm, tsr_admin_fleet_t *fl)
{
    int                  mismatch;
    size_t               i, j, k, a, c, d, nodes, bad, len;
    uint64_t             now;
    tsr_admin_node_t    *nd;
    tsr_admin_server_t  *s;
    char                 ago[TSR_ADMIN_TIME_LEN], ttl[TSR_ADMIN_TIME_LEN];
    char                 list[TSR_ADMIN_MSG_LEN / 2], note[32];

    (void) tsr_admin_masters_note(adm, note, sizeof(note));

    if (adm->json) {
        tsr_admin_json_str(adm, "prefix", adm->prefix);
        tsr_admin_json_str(adm, "redis", adm->where);

        if (adm->conf.cluster != NULL) {
            tsr_admin_json_uint(adm, "masters", adm->nmasters);
        }

        tsr_admin_json_open(adm, "nodes", 1);

        for (i = 0; i < fl->nnodes; i++) {
            tsr_admin_fleet_json_node(adm, &fl->nodes[i]);
        }

        tsr_admin_json_close(adm);
        tsr_admin_json_open(adm, "servers", 1);

    } else if (fl->nnodes == 0) {
        printf("no nodes registered under \"%snode:\" on %s%s (nginx "
               "registers every 20 s while it runs with "
               "ssl_session_redis)\n", adm->prefix, adm->where, note);
        return TSR_ADMIN_OK;
    }

    now = tsr_unix_ms();

    if (!adm->json) {
        printf("nodes        %zu under \"%snode:\" on %s%s\n", fl->nnodes,
               adm->prefix, adm->where, note);
    }

    for (i = 0; !adm->json && i < fl->nnodes; i++) {
        nd = &fl->nodes[i];

        if (nd->version[0] != '\0') {
            printf("  %s  unknown registration format \"%s\"\n", nd->id,
                   nd->version);
            continue;
        }

        if (nd->time > 0) {
            tsr_admin_fmt_ago((uint64_t) nd->time * 1000, now, ago,
                              sizeof(ago));

        } else {
            (void) strcpy(ago, "?");
        }

        if (nd->ttl_ms >= 0) {
            tsr_admin_fmt_duration((uint64_t) nd->ttl_ms, ttl, sizeof(ttl));

        } else {
            (void) strcpy(ttl, "never");
        }

        printf("  %s  host %s, pid %lld, updated %s, expires in %s, "
               "%zu server%s\n", nd->id, nd->host[0] ? nd->host : "?",
               nd->pid, ago, ttl, nd->nservers,
               (nd->nservers == 1) ? "" : "s");

        if (nd->bad_lines != 0) {
            printf("  %s  %zu malformed line%s skipped\n", nd->id,
                   nd->bad_lines, (nd->bad_lines == 1) ? "" : "s");
        }
    }

    if (!adm->json) {
        printf("servers\n");
    }

    bad = 0;
    list[0] = '\0';
    s = fl->servers;

    for (i = 0; i < fl->nservers; i = j) {

        /* [i, j): one name; [i, a): its first node's fingerprints */

        for (j = i + 1; j < fl->nservers
                        && strcmp(s[j].proto, s[i].proto) == 0
                        && strcmp(s[j].name, s[i].name) == 0; j++)
        {
            /* void */
        }

        for (a = i + 1; a < j && s[a].node == s[i].node; a++) {
            /* void */
        }

        mismatch = 0;
        nodes = 1;

        for (c = a; c < j; c = d) {
            for (d = c + 1; d < j && s[d].node == s[c].node; d++) {
                /* void */
            }

            nodes++;

            if (d - c != a - i) {
                mismatch = 1;
                continue;
            }

            for (k = 0; k < a - i; k++) {
                if (strcmp(s[c + k].fp, s[i + k].fp) != 0) {
                    mismatch = 1;
                }
            }
        }

        if (adm->json) {
            tsr_admin_fleet_json_server(adm, fl, i, j, a, nodes, mismatch);
        }

        if (!mismatch && adm->json) {
            continue;
        }

        if (!mismatch) {
            printf("  ok        %-6s %s ", s[i].proto, s[i].name);

            for (k = i; k < a; k++) {
                printf("%c%s", (k == i) ? ' ' : ',', s[k].fp);
            }

            printf(" on %zu node%s\n", nodes, (nodes == 1) ? "" : "s");
            continue;
        }

        bad++;

        if (!adm->json) {
            printf("  MISMATCH  %-6s %s\n", s[i].proto, s[i].name);
        }

        for (c = i; !adm->json && c < j; c = d) {
            printf("           ");

            for (d = c; d < j && s[d].node == s[c].node; d++) {
                printf("%c%s", (d == c) ? ' ' : ',', s[d].fp);
            }

            printf(" on %s\n", fl->nodes[s[c].node].id);
        }

        len = strlen(list);

        if (bad <= TSR_ADMIN_SHOW_MISMATCHES) {
            (void) snprintf(list + len, sizeof(list) - len, "%s\"%s\" (%s)",
                            len ? ", " : "", s[i].name, s[i].proto);

        } else if (bad == TSR_ADMIN_SHOW_MISMATCHES + 1) {
            (void) snprintf(list + len, sizeof(list) - len, ", ...");
        }
    }

    if (adm->json) {
        tsr_admin_json_close(adm);
        tsr_admin_json_uint(adm, "skipped", fl->skipped);
        tsr_admin_json_uint(adm, "mismatches", bad);

    } else if (fl->skipped != 0) {
        printf("note         %zu registrations or servers over tsr-admin's "
               "limits were skipped\n", fl->skipped);
    }

    if (bad != 0) {
        tsr_admin_fail(adm, "%zu server name%s with different session id "
                       "contexts across nodes, whose sessions are not "
                       "shared: %s", bad, (bad == 1) ? "" : "s", list);
        return TSR_ADMIN_MISMATCH;
    }

    return TSR_ADMIN_OK;
}


/* one node: times in Unix seconds and milliseconds, null when unknown */

static void
tsr_admin_fleet_json_node(tsr_admin_t *adm, tsr_admin_node_t *nd)
{
    tsr_admin_json_open(adm, NULL, 0);
    tsr_admin_json_str(adm, "id", nd->id);
    tsr_admin_json_str(adm, "subsystem", nd->proto);

    if (nd->version[0] != '\0') {
        /* a format this tsr-admin does not know */
        tsr_admin_json_str(adm, "unknown_format", nd->version);
        tsr_admin_json_close(adm);
        return;
    }

    tsr_admin_json_str(adm, "host", nd->host[0] ? nd->host : NULL);

    if (nd->pid >= 0) {
        tsr_admin_json_int(adm, "pid", nd->pid);

    } else {
        tsr_admin_json_null(adm, "pid");
    }

    if (nd->time > 0) {
        tsr_admin_json_int(adm, "updated", nd->time);

    } else {
        tsr_admin_json_null(adm, "updated");
    }

    if (nd->ttl_ms >= 0) {
        tsr_admin_json_int(adm, "ttl_ms", nd->ttl_ms);

    } else {
        tsr_admin_json_null(adm, "ttl_ms");
    }

    tsr_admin_json_uint(adm, "servers", nd->nservers);
    tsr_admin_json_uint(adm, "bad_lines", nd->bad_lines);
    tsr_admin_json_close(adm);
}


/*
 * One server name: servers [i, j) sorted by node, [i, a) those of its
 * first node; with a mismatch, each node's fingerprints.
 */

static void
tsr_admin_fleet_json_server(tsr_admin_t *adm, tsr_admin_fleet_t *fl,
    size_t i, size_t j, size_t a, size_t nodes, int mismatch)
{
    size_t               c, d;
    tsr_admin_server_t  *s;

    s = fl->servers;

    tsr_admin_json_open(adm, NULL, 0);
    tsr_admin_json_str(adm, "subsystem", s[i].proto);
    tsr_admin_json_str(adm, "name", s[i].name);
    tsr_admin_json_uint(adm, "nodes", nodes);
    tsr_admin_json_bool(adm, "mismatch", mismatch);

    tsr_admin_json_open(adm, "contexts", 1);

    for (c = i; c < a; c++) {
        tsr_admin_json_str(adm, NULL, s[c].fp);
    }

    tsr_admin_json_close(adm);

    tsr_admin_json_open(adm, "by_node", 1);

    for (c = i; c < j; c = d) {
        tsr_admin_json_open(adm, NULL, 0);
        tsr_admin_json_str(adm, "node", fl->nodes[s[c].node].id);
        tsr_admin_json_open(adm, "contexts", 1);

        for (d = c; d < j && s[d].node == s[c].node; d++) {
            tsr_admin_json_str(adm, NULL, s[d].fp);
        }

        tsr_admin_json_close(adm);
        tsr_admin_json_close(adm);
    }

    tsr_admin_json_close(adm);
    tsr_admin_json_close(adm);
}


static int
tsr_admin_node_cmp(const void *a, const void *b)
{
    const tsr_admin_node_t  *x, *y;

    x = a;
    y = b;

    return strcmp(x->id, y->id);
}


static int
tsr_admin_server_cmp(const void *a, const void *b)
{
    int                        rc;
    const tsr_admin_server_t  *x, *y;

    x = a;
    y = b;

    rc = strcmp(x->proto, y->proto);
    if (rc != 0) {
        return rc;
    }

    rc = strcmp(x->name, y->name);
    if (rc != 0) {
        return rc;
    }

    if (x->node != y->node) {
        return (x->node < y->node) ? -1 : 1;
    }

    return strcmp(x->fp, y->fp);
}
