
/*
 * tsr-admin check: connectivity, AUTH, the Redis version, eviction
 * policy, and whether the key files open the ring and a sample of the
 * sessions.
 */


#include "tsr_admin_util.h"


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
static int tsr_admin_check_server(tsr_admin_t *adm);
static int tsr_admin_check_memory(tsr_admin_t *adm);
static int tsr_admin_check_keys(tsr_admin_t *adm);
static int tsr_admin_check_sessions(tsr_admin_t *adm);


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

    if (adm->conf.user != NULL) {
        tsr_admin_check_line(adm, "ok", "connected to %s as user \"%s\"",
                             adm->where, adm->conf.user);

    } else {
        tsr_admin_check_line(adm, "ok", "connected to %s%s", adm->where,
                             adm->conf.password ? " (AUTH with a password)"
                                                : "");
    }

    rc = tsr_admin_check_server(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    rc = tsr_admin_check_memory(adm);
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
 * Opens up to TSR_ADMIN_SAMPLE sessions found in the first SCAN pages:
 * if none opens, the key files are not the fleet's.
 */

static int
tsr_admin_check_sessions(tsr_admin_t *adm)
{
    int               rc, r;
    size_t            i, pages, sampled, opened, plen;
    uint64_t          unknown, tampered, other;
    redisReply       *page, *val;
    tsr_admin_seen_t  seen;
    char              cursor[64], pattern[2 * TSR_ADMIN_MAX_PREFIX + 8];
    char              id[9], ids[TSR_ADMIN_SAMPLE * 9 + 1];
    uint8_t           plain[TSR_MAX_VALUE];

    memset(&seen, 0, sizeof(tsr_admin_seen_t));

    (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
    (void) strcpy(cursor, "0");

    sampled = 0;
    opened = 0;
    unknown = 0;
    tampered = 0;
    other = 0;
    ids[0] = '\0';
    rc = TSR_ADMIN_OK;

    for (pages = 0; pages < TSR_ADMIN_SAMPLE_PAGES; pages++) {

        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            rc = TSR_ADMIN_FAILED;
            goto done;
        }

        for (i = 0; i < page->element[1]->elements
                    && sampled < TSR_ADMIN_SAMPLE; i++)
        {
            val = page->element[1]->element[i];

            if (tsr_admin_session_key(adm, val->str, val->len, NULL, NULL,
                                      NULL)
                != 0
                || tsr_admin_seen(&seen, val->str, val->len) != 0)
            {
                continue;
            }

            val = tsr_admin_command(adm, "GET", "GET %b", val->str,
                                    val->len);
            if (val == NULL) {
                freeReplyObject(page);
                rc = TSR_ADMIN_FAILED;
                goto done;
            }

            if (val->type != REDIS_REPLY_STRING || val->len > TSR_MAX_VALUE)
            {
                /* gone meanwhile, or not ours */
                freeReplyObject(val);
                continue;
            }

            sampled++;
            plen = sizeof(plain);

            r = tsr_open(adm->keys, page->element[1]->element[i]->str,
                         page->element[1]->element[i]->len,
                         (uint8_t *) val->str, val->len, plain, &plen);

            if (r == TSR_OK) {
                opened++;
                OPENSSL_cleanse(plain, plen);

            } else if (r == TSR_SEAL_UNKNOWN_KEY) {
                unknown++;

                tsr_admin_key_id((uint8_t *) val->str, val->len, id);

                if (strstr(ids, id) == NULL
                    && strlen(ids) + 9 < sizeof(ids))
                {
                    (void) strcat(ids, ids[0] ? "," : "");
                    (void) strcat(ids, id);
                }

            } else if (r == TSR_SEAL_TAMPERED) {
                tampered++;

            } else {
                other++;
            }

            freeReplyObject(val);
        }

        freeReplyObject(page);

        if (sampled == TSR_ADMIN_SAMPLE || strcmp(cursor, "0") == 0) {
            break;
        }
    }

    if (sampled == 0) {
        tsr_admin_check_line(adm, "note", "no sessions under \"%s\" to try "
                             "the key files on", adm->prefix);

    } else if (opened == 0) {
        tsr_admin_fail(adm, "none of %zu sampled sessions opens with the "
                       "key files (%llu sealed under other keys%s%s, "
                       "%llu tampered, %llu malformed)", sampled,
                       (unsigned long long) unknown, ids[0] ? ": " : "",
                       ids, (unsigned long long) tampered,
                       (unsigned long long) other);
        rc = TSR_ADMIN_FAILED;

    } else if (opened < sampled) {
        tsr_admin_check_line(adm, "warning", "%zu of %zu sampled sessions "
                             "open with the key files (%llu sealed under "
                             "other keys%s%s, %llu tampered, %llu malformed)",
                             opened, sampled, (unsigned long long) unknown,
                             ids[0] ? ": " : "", ids,
                             (unsigned long long) tampered,
                             (unsigned long long) other);

    } else {
        tsr_admin_check_line(adm, "ok", "%zu of %zu sampled sessions open "
                             "with the key files", opened, sampled);
    }

done:

    tsr_admin_seen_free(&seen);

    return rc;
}


/* one finding: "ok", "warning" (counted) or "note" */

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
        printf("%-8s %s\n", level, msg);
        return;
    }

    tsr_admin_json_open(adm, NULL, 0);
    tsr_admin_json_str(adm, "status", level);
    tsr_admin_json_str(adm, "message", msg);
    tsr_admin_json_close(adm);
}
