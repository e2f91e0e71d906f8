
/*
 * tsr-admin check: connectivity, AUTH, the Redis version, eviction
 * policy, and whether the key files open the ring and a sample of the
 * sessions.
 */


#include "tsr_admin_util.h"
#include "tsr_cluster.h"


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


static int tsr_admin_check_run(tsr_admin_t *adm, int argc, char **argv);
static void tsr_admin_check_line(tsr_admin_t *adm, const char *level,
    const char *fmt, ...) TSR_PRINTF(3, 4);
static int tsr_admin_check_cluster(tsr_admin_t *adm);
static int tsr_admin_check_master(tsr_admin_t *adm);
static int tsr_admin_check_server(tsr_admin_t *adm);
static int tsr_admin_check_memory(tsr_admin_t *adm);
static int tsr_admin_check_keys(tsr_admin_t *adm);
static int tsr_admin_check_sessions(tsr_admin_t *adm);
static int tsr_admin_check_page(tsr_admin_t *adm, redisReply *keys,
    void *data);


/* what the sample of sessions found */
typedef struct {
    size_t                      pages;
    size_t                      sampled;
    size_t                      opened;
    uint64_t                    unknown;
    uint64_t                    tampered;
    uint64_t                    other;
    tsr_admin_seen_t            seen;
    char                        ids[TSR_ADMIN_SAMPLE * 9 + 1];
    uint8_t                     plain[TSR_MAX_VALUE];
} tsr_admin_sample_t;


/* ---- check ---- */

/*
 * The exit status, as a monitoring plugin's: 0 ok; 1 warning when any
 * "warning" line was given (an eviction policy that refuses writes or is
 * unknown, INFO memory unreadable, no UNLINK, some sampled sessions not
 * opening); 2 critical when the setup does not work (no connection, AUTH
 * refused, Redis too old, the ring or every sampled session not opening
 * with the key files).  With --json, "status" says the same in words.
 */

int
tsr_admin_check(tsr_admin_t *adm, int argc, char **argv)
{
    int  rc;

    if (adm->json) {
        tsr_admin_json_open(adm, "checks", 1);
    }

    rc = tsr_admin_check_run(adm, argc, argv);

    if (rc == TSR_ADMIN_OK && adm->warnings != 0) {
        rc = TSR_ADMIN_WARNING;
    }

    if (adm->json && rc != TSR_ADMIN_USAGE) {
        while (adm->out.depth > 1) {
            tsr_admin_json_close(adm);
        }

        tsr_admin_json_str(adm, "status",
                           (rc == TSR_ADMIN_OK) ? "ok"
                           : (rc == TSR_ADMIN_WARNING) ? "warning"
                                                       : "critical");
        tsr_admin_json_uint(adm, "warnings", adm->warnings);
    }

    return rc;
}


static int
tsr_admin_check_run(tsr_admin_t *adm, int argc, char **argv)
{
    int  rc;

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    rc = (adm->conf.cluster != NULL) ? tsr_admin_check_cluster(adm)
                                     : tsr_admin_check_master(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (adm->keys == NULL) {
        tsr_admin_check_line(adm, "note", "no key file (-k): sealed values "
                             "not checked");
        return TSR_ADMIN_OK;
    }

    rc = tsr_admin_check_keys(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    return tsr_admin_check_sessions(adm);
}


/*
 * A cluster: whether its masters serve every slot, then each master as
 * a single server.  A master that fails is a "critical" line and the
 * others are still checked.
 */

static int
tsr_admin_check_cluster(tsr_admin_t *adm)
{
    int     rc;
    size_t  i;

    rc = TSR_ADMIN_OK;

    if (adm->covered == TSR_CLUSTER_SLOTS) {
        tsr_admin_check_line(adm, "ok", "%zu master%s serve all %d slots "
                             "(map from %s)", adm->nmasters,
                             (adm->nmasters == 1) ? "" : "s",
                             TSR_CLUSTER_SLOTS, adm->map_from);

    } else {
        tsr_admin_check_line(adm, "critical", "%zu master%s serve %zu of %d "
                             "slots (map from %s): sessions of the others "
                             "are not stored", adm->nmasters,
                             (adm->nmasters == 1) ? "" : "s", adm->covered,
                             TSR_CLUSTER_SLOTS, adm->map_from);
        rc = TSR_ADMIN_FAILED;
    }

    for (i = 0; i < adm->nmasters; i++) {
        if (tsr_admin_use(adm, i) != TSR_ADMIN_OK
            || tsr_admin_check_master(adm) != TSR_ADMIN_OK)
        {
            tsr_admin_check_line(adm, "critical", "%s", adm->error);
            rc = TSR_ADMIN_FAILED;
        }
    }

    tsr_admin_leave(adm);

    return rc;
}


/* the server spoken to: the connection, version and eviction policy */

static int
tsr_admin_check_master(tsr_admin_t *adm)
{
    int   rc;
    char  to[TSR_ADMIN_WHERE_LEN + 8], slots[64];

    /* a master's lines name it already */

    if (adm->master != NULL) {
        to[0] = '\0';
        (void) snprintf(slots, sizeof(slots), ", serves %zu slots",
                        adm->master->slots);

    } else {
        (void) snprintf(to, sizeof(to), " to %s", adm->where);
        slots[0] = '\0';
    }

    if (adm->conf.user != NULL) {
        tsr_admin_check_line(adm, "ok", "connected%s as user \"%s\"%s", to,
                             adm->conf.user, slots);

    } else {
        tsr_admin_check_line(adm, "ok", "connected%s%s%s", to,
                             adm->conf.password ? " (AUTH with a password)"
                                                : "", slots);
    }

    rc = tsr_admin_check_server(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    return tsr_admin_check_memory(adm);
}


static int
tsr_admin_check_server(tsr_admin_t *adm)
{
    int          rc, major, minor, patch;
    redisReply  *reply;
    char         version[64];

    reply = tsr_admin_command(adm, "INFO server", "INFO server");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    rc = TSR_ADMIN_FAILED;

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "INFO server on %s failed: %s", adm->where,
                       reply->str);
        goto done;
    }

    if (reply->type != REDIS_REPLY_STRING
        || tsr_admin_info_field(reply->str, "redis_version", version,
                                sizeof(version))
           != 0
        || sscanf(version, "%d.%d.%d", &major, &minor, &patch) != 3)
    {
        tsr_admin_fail(adm, "INFO server on %s: no redis_version",
                       adm->where);
        goto done;
    }

    /* SET with PX came with 2.6.12, and so did everything else used */

    if (major < 2 || (major == 2 && (minor < 6 || (minor == 6
                                                    && patch < 12))))
    {
        tsr_admin_fail(adm, "redis %s on %s is too old: 2.6.12 or later is "
                       "needed", version, adm->where);
        goto done;
    }

    tsr_admin_check_line(adm, "ok", "redis %s", version);

    if (major < 4) {
        tsr_admin_check_line(adm, "warning", "redis %s has no UNLINK: flush "
                             "deletes with DEL, which blocks Redis on large "
                             "values", version);
    }

    /* as the module decides at connect */
    if (major < 6 || (major == 6 && minor < 2)) {
        tsr_admin_check_line(adm, "note", "redis %s has no GETDEL (6.2): "
                             "single use takes sessions with a script, so an "
                             "ACL user needs +eval", version);
    }

    rc = TSR_ADMIN_OK;

done:

    freeReplyObject(reply);

    return rc;
}


/*
 * Eviction: session keys all have a TTL, so any policy but noeviction
 * keeps Redis writable when full.  The policy comes from INFO memory,
 * which ACL users without CONFIG may still read.
 */

static int
tsr_admin_check_memory(tsr_admin_t *adm)
{
    redisReply          *reply;
    unsigned long long   maxmemory;
    char                 policy[64], max[64], used[64];

    reply = tsr_admin_command(adm, "INFO memory", "INFO memory");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    if (reply->type != REDIS_REPLY_STRING
        || tsr_admin_info_field(reply->str, "maxmemory_policy", policy,
                                sizeof(policy))
           != 0)
    {
        tsr_admin_check_line(adm, "warning", "cannot read maxmemory_policy "
                             "from INFO memory: check that it is not "
                             "noeviction");
        freeReplyObject(reply);
        return TSR_ADMIN_OK;
    }

    maxmemory = 0;

    if (tsr_admin_info_field(reply->str, "maxmemory", max, sizeof(max))
        == 0)
    {
        maxmemory = strtoull(max, NULL, 10);
    }

    if (tsr_admin_info_field(reply->str, "maxmemory_human", max,
                             sizeof(max))
        != 0)
    {
        (void) snprintf(max, sizeof(max), "%llu", maxmemory);
    }

    if (tsr_admin_info_field(reply->str, "used_memory_human", used,
                             sizeof(used))
        != 0)
    {
        (void) snprintf(used, sizeof(used), "?");
    }

    freeReplyObject(reply);

    if (strcmp(policy, "noeviction") == 0) {
        if (maxmemory == 0) {
            tsr_admin_check_line(adm, "warning", "maxmemory-policy noeviction "
                                 "without maxmemory: Redis grows until the "
                                 "host runs out of memory; set maxmemory with "
                                 "allkeys-lru or volatile-lru");

        } else {
            tsr_admin_check_line(adm, "warning", "maxmemory-policy "
                                 "noeviction: when %s is used up, Redis "
                                 "refuses writes and new sessions are not "
                                 "stored; use allkeys-lru or volatile-lru",
                                 max);
        }

    } else if (strncmp(policy, "allkeys-", 8) == 0
               || strncmp(policy, "volatile-", 9) == 0)
    {
        tsr_admin_check_line(adm, "ok", "maxmemory-policy %s%s", policy,
                             (policy[0] == 'v')
                             ? " (every session key has a TTL)" : "");

    } else {
        tsr_admin_check_line(adm, "warning", "maxmemory-policy %s is unknown "
                             "to tsr-admin", policy);
    }

    if (maxmemory != 0) {
        tsr_admin_check_line(adm, "ok", "memory %s used of maxmemory %s",
                             used, max);

    } else {
        tsr_admin_check_line(adm, "ok", "memory %s used, no maxmemory", used);
    }

    return TSR_ADMIN_OK;
}


/* the key files: their ids, and whether they open the ticket key ring */

static int
tsr_admin_check_keys(tsr_admin_t *adm)
{
    int             rc;
    size_t          i;
    tsr_tickets_t  *t;
    char            id[9], name[TSR_MAX_KEY_NAME + 1];
    tsr_tickets_info_t  info;

    for (i = 0; i < adm->nkey_files; i++) {
        (void) tsr_keyring_id(adm->keys, i, id);
        tsr_admin_check_line(adm, "ok", "key file %s: key id %s%s",
                             adm->key_files[i], id,
                             (i == 0) ? " (seals)" : "");
    }

    t = tsr_admin_tickets_create(adm, 1);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    (void) tsr_tickets_ring_key(t, name, sizeof(name));

    rc = tsr_tickets_sync(t);

    if (rc == TSR_NOT_FOUND) {
        tsr_admin_check_line(adm, "note", "no ticket key ring \"%s\" (nginx "
                             "creates it with ssl_session_redis_ticket_keys on)",
                             name);
        rc = TSR_ADMIN_OK;

    } else if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        rc = TSR_ADMIN_FAILED;

    } else {
        (void) tsr_tickets_info(t, &info);
        tsr_admin_check_line(adm, "ok", "ticket key ring \"%s\" generation "
                             "%llu opens with the key files", name,
                             (unsigned long long) info.gen);
        rc = TSR_ADMIN_OK;
    }

    tsr_tickets_destroy(t);

    return rc;
}


/*
 * Opens up to TSR_ADMIN_SAMPLE sessions found in the first SCAN pages
 * (of the masters in turn, in a cluster): if none opens, the key files
 * are not the fleet's.
 */

static int
tsr_admin_check_sessions(tsr_admin_t *adm)
{
    int                  rc;
    tsr_admin_sample_t  *sm;
    char                 pattern[2 * TSR_ADMIN_MAX_PREFIX + 8];

    sm = calloc(1, sizeof(tsr_admin_sample_t));
    if (sm == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);

    rc = TSR_ADMIN_OK;

    if (tsr_admin_scan_all(adm, pattern, tsr_admin_check_page, sm) < 0) {
        rc = TSR_ADMIN_FAILED;
        goto done;
    }

    if (sm->sampled == 0) {
        tsr_admin_check_line(adm, "note", "no sessions under \"%s\" to try "
                             "the key files on", adm->prefix);

    } else if (sm->opened == 0) {
        tsr_admin_fail(adm, "none of %zu sampled sessions opens with the "
                       "key files (%llu sealed under other keys%s%s, "
                       "%llu tampered, %llu malformed)", sm->sampled,
                       (unsigned long long) sm->unknown,
                       sm->ids[0] ? ": " : "", sm->ids,
                       (unsigned long long) sm->tampered,
                       (unsigned long long) sm->other);
        rc = TSR_ADMIN_FAILED;

    } else if (sm->opened < sm->sampled) {
        tsr_admin_check_line(adm, "warning", "%zu of %zu sampled sessions "
                             "open with the key files (%llu sealed under "
                             "other keys%s%s, %llu tampered, %llu malformed)",
                             sm->opened, sm->sampled,
                             (unsigned long long) sm->unknown,
                             sm->ids[0] ? ": " : "", sm->ids,
                             (unsigned long long) sm->tampered,
                             (unsigned long long) sm->other);

    } else {
        tsr_admin_check_line(adm, "ok", "%zu of %zu sampled sessions open "
                             "with the key files", sm->opened, sm->sampled);
    }

done:

    tsr_admin_seen_free(&sm->seen);
    OPENSSL_cleanse(sm->plain, sizeof(sm->plain));
    free(sm);

    return rc;
}


/* the sessions of one SCAN page, until the sample or the pages are done */

static int
tsr_admin_check_page(tsr_admin_t *adm, redisReply *keys, void *data)
{
    int                  r;
    size_t               i, plen;
    redisReply          *key, *val;
    tsr_admin_sample_t  *sm;
    char                 id[9];

    sm = data;

    for (i = 0; i < keys->elements && sm->sampled < TSR_ADMIN_SAMPLE; i++) {
        key = keys->element[i];

        if (tsr_admin_session_key(adm, key->str, key->len, NULL, NULL, NULL)
            != 0
            || tsr_admin_seen(&sm->seen, key->str, key->len) != 0)
        {
            continue;
        }

        val = tsr_admin_command(adm, "GET", "GET %b", key->str, key->len);
        if (val == NULL) {
            return -1;
        }

        if (val->type != REDIS_REPLY_STRING || val->len > TSR_MAX_VALUE) {
            /* gone meanwhile, or not ours */
            freeReplyObject(val);
            continue;
        }

        sm->sampled++;
        plen = sizeof(sm->plain);

        r = tsr_open(adm->keys, key->str, key->len, (uint8_t *) val->str,
                     val->len, sm->plain, &plen);

        if (r == TSR_OK) {
            sm->opened++;
            OPENSSL_cleanse(sm->plain, plen);

        } else if (r == TSR_SEAL_UNKNOWN_KEY) {
            sm->unknown++;

            tsr_admin_key_id((uint8_t *) val->str, val->len, id);

            if (strstr(sm->ids, id) == NULL
                && strlen(sm->ids) + 9 < sizeof(sm->ids))
            {
                (void) strcat(sm->ids, sm->ids[0] ? "," : "");
                (void) strcat(sm->ids, id);
            }

        } else if (r == TSR_SEAL_TAMPERED) {
            sm->tampered++;

        } else {
            sm->other++;
        }

        freeReplyObject(val);
    }

    sm->pages++;

    return (sm->sampled == TSR_ADMIN_SAMPLE
            || sm->pages == TSR_ADMIN_SAMPLE_PAGES) ? 1 : 0;
}


/*
 * One finding: "ok", "warning" (counted), "note", or in a cluster
 * "critical" for a master that fails while the others are checked; a
 * master's findings name it.
 */

static void
tsr_admin_check_line(tsr_admin_t *adm, const char *level, const char *fmt,
    ...)
{
    va_list  args;
    char     msg[TSR_ADMIN_MSG_LEN];

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    if (strcmp(level, "warning") == 0) {
        adm->warnings++;
    }

    if (!adm->json) {
        if (adm->master != NULL) {
            printf("%-8s master %s: %s\n", level, adm->where, msg);

        } else {
            printf("%-8s %s\n", level, msg);
        }

        return;
    }

    tsr_admin_json_open(adm, NULL, 0);
    tsr_admin_json_str(adm, "status", level);

    if (adm->master != NULL) {
        tsr_admin_json_str(adm, "master", adm->where);
    }

    tsr_admin_json_str(adm, "message", msg);
    tsr_admin_json_close(adm);
}
