
/*
 * tsr-admin tickets show|rotate: the fleet ticket key ring, through the
 * tickets API only.
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


static int tsr_admin_tickets_rotate(tsr_admin_t *adm, const char *name);
static void tsr_admin_tickets_print(tsr_admin_t *adm, tsr_tickets_t *t,
    const char *name);
static void tsr_admin_tickets_json(tsr_admin_t *adm,
    tsr_tickets_info_t *info, const char *name);
static const char *tsr_admin_tickets_role(int role);


/* ---- tickets ---- */

int
tsr_admin_tickets(tsr_admin_t *adm, int argc, char **argv)
{
    int             rc;
    tsr_tickets_t  *t;
    char            name[TSR_MAX_KEY_NAME + 1];

    if (argc != 1
        || (strcmp(argv[0], "show") != 0 && strcmp(argv[0], "rotate") != 0))
    {
        return tsr_admin_usage_error(adm, "expected \"show\" or \"rotate\"");
    }

    if (adm->keys == NULL) {
        return tsr_admin_usage_error(adm, "the ring is sealed: give the "
                                     "fleet key file with -k");
    }

    /* a reader first: rotate changes nothing unless a rotation is due */

    t = tsr_admin_tickets_create(adm, 1);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    (void) tsr_tickets_ring_key(t, name, sizeof(name));

    rc = tsr_tickets_sync(t);

    if (rc == TSR_NOT_FOUND && argv[0][0] == 'r') {
        tsr_tickets_destroy(t);
        return tsr_admin_tickets_rotate(adm, name);
    }

    if (rc == TSR_NOT_FOUND) {
        tsr_admin_fail(adm, "no ticket key ring \"%s\" on %s", name,
                       adm->where);
        rc = TSR_ADMIN_FAILED;
        goto done;
    }

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        rc = TSR_ADMIN_FAILED;
        goto done;
    }

    if (argv[0][0] == 'r') {
        if (tsr_tickets_due(t, 0)) {
            tsr_tickets_destroy(t);
            return tsr_admin_tickets_rotate(adm, name);
        }

        /* the operator asked: rotate before the period is over */

        tsr_tickets_destroy(t);
        return tsr_admin_tickets_rotate(adm, name);
    }

    tsr_admin_tickets_print(adm, t, name);
    rc = TSR_ADMIN_OK;

done:

    tsr_tickets_destroy(t);

    return rc;
}


/* creates the ring, or rotates it now, through tsr_tickets_rotate_now() */

static int
tsr_admin_tickets_rotate(tsr_admin_t *adm, const char *name)
{
    int                  rc;
    tsr_tickets_t       *t;
    tsr_tickets_info_t   info;
    tsr_tickets_stats_t  stats;

    t = tsr_admin_tickets_create(adm, 0);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    rc = tsr_tickets_rotate_now(t);
    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        tsr_tickets_destroy(t);
        return TSR_ADMIN_FAILED;
    }

    tsr_tickets_stats(t, &stats);
    (void) tsr_tickets_info(t, &info);

    if (stats.rotations == 0) {
        rc = TSR_ADMIN_FAILED;

        /* another node was first, or Redis' clock says not yet */

        if (tsr_tickets_due(t, 0)) {
            tsr_admin_fail(adm, "\"%s\" is not due for rotation by Redis' "
                           "clock yet (generation %llu)", name,
                           (unsigned long long) info.gen);

        } else if (adm->json) {
            tsr_admin_json_str(adm, "action", "rotated_by_another_node");
            rc = TSR_ADMIN_OK;

        } else {
            printf("another node rotated \"%s\" to generation %llu "
                   "meanwhile\n\n", name, (unsigned long long) info.gen);
            rc = TSR_ADMIN_OK;
        }

    } else if (adm->json) {
        tsr_admin_json_str(adm, "action",
                           (info.gen == 1) ? "created" : "rotated");
        rc = TSR_ADMIN_OK;

    } else if (info.gen == 1) {
        printf("created \"%s\" at generation 1\n\n", name);
        rc = TSR_ADMIN_OK;

    } else {
        printf("rotated \"%s\" to generation %llu\n\n", name,
               (unsigned long long) info.gen);
        rc = TSR_ADMIN_OK;
    }

    tsr_admin_tickets_print(adm, t, name);

    tsr_tickets_destroy(t);

    return rc;
}


tsr_tickets_t *
tsr_admin_tickets_create(tsr_admin_t *adm, int no_rotate)
{
    tsr_tickets_t       *t;
    tsr_tickets_conf_t   tconf;
    char                 err[TSR_ADMIN_MSG_LEN];

    memset(&tconf, 0, sizeof(tsr_tickets_conf_t));

    /*
     * The whole address: the ring's store finds the master of the ring's
     * key itself, in a cluster or through the sentinels.
     */

    tconf.store_conf = &adm->conf;
    tconf.keys = adm->keys;
    tconf.prefix = adm->prefix;
    tconf.period_ms = adm->period_ms;
    tconf.lifetime_ms = adm->lifetime_ms;
    tconf.no_rotate = no_rotate ? 1 : 0;

    t = tsr_tickets_create(&tconf, err, sizeof(err));
    if (t == NULL) {
        tsr_admin_fail(adm, "%s", err);
    }

    return t;
}


/* the ring as tsr_tickets_info() describes it: names and times only */

static void
tsr_admin_tickets_print(tsr_admin_t *adm, tsr_tickets_t *t, const char *name)
{
    size_t                    i;
    uint64_t                  now;
    const char               *role;
    tsr_tickets_info_t        info;
    tsr_tickets_key_info_t   *k;
    char                      when[TSR_ADMIN_TIME_LEN];
    char                      ago[TSR_ADMIN_TIME_LEN];
    char                      enc[TSR_ADMIN_TIME_LEN + 16];
    char                      dec[TSR_ADMIN_TIME_LEN];

    if (tsr_tickets_info(t, &info) != TSR_OK) {
        return;
    }

    if (adm->json) {
        tsr_admin_tickets_json(adm, &info, name);
        return;
    }

    now = tsr_unix_ms();

    printf("ring         %s on %s\n", name, adm->where);
    printf("generation   %llu\n", (unsigned long long) info.gen);

    tsr_admin_fmt_time(info.rotated_at_ms, when, sizeof(when));
    tsr_admin_fmt_ago(info.rotated_at_ms, now, ago, sizeof(ago));
    printf("rotated at   %s (%s, by Redis' clock)\n", when, ago);

    tsr_admin_fmt_time(info.due_at_ms, when, sizeof(when));
    tsr_admin_fmt_ago(info.due_at_ms, now, ago, sizeof(ago));
    printf("next due     %s (%s)\n", when, ago);

    tsr_admin_fmt_duration(info.period_ms, when, sizeof(when));
    tsr_admin_fmt_duration(info.lifetime_ms, ago, sizeof(ago));
    printf("period       %s, ticket lifetime %s\n", when, ago);

    printf("keys         %zu\n", info.nkeys);
    printf("  %-9s %-6s %-32s  %-22s %s\n", "role", "gen", "name",
           "encrypts until", "decrypts until");

    for (i = 0; i < info.nkeys; i++) {
        k = &info.keys[i];

        role = tsr_admin_tickets_role(k->role);

        if (k->encrypt_until_ms == 0) {
            (void) strcpy(enc, "-");

        } else {
            tsr_admin_fmt_time(k->encrypt_until_ms, enc, sizeof(enc));
        }

        if (k->decrypt_until_ms == 0) {
            (void) strcpy(dec, k->role == TSR_TICKETS_PREVIOUS ? "-"
                                                                : "(kept)");

        } else {
            tsr_admin_fmt_time(k->decrypt_until_ms, dec, sizeof(dec));
        }

        printf("  %-9s %-6llu %-32s  %-22s %s\n", role,
               (unsigned long long) k->gen, k->name, enc, dec);
    }
}


/* times as Unix milliseconds by Redis' clock; names, never key bytes */

static void
tsr_admin_tickets_json(tsr_admin_t *adm, tsr_tickets_info_t *info,
    const char *name)
{
    size_t                   i;
    tsr_tickets_key_info_t  *k;

    tsr_admin_json_str(adm, "ring", name);
    tsr_admin_json_str(adm, "redis", adm->where);
    tsr_admin_json_uint(adm, "generation", info->gen);
    tsr_admin_json_uint(adm, "rotated_at_ms", info->rotated_at_ms);
    tsr_admin_json_uint(adm, "due_at_ms", info->due_at_ms);
    tsr_admin_json_uint(adm, "period_ms", info->period_ms);
    tsr_admin_json_uint(adm, "lifetime_ms", info->lifetime_ms);

    tsr_admin_json_open(adm, "keys", 1);

    for (i = 0; i < info->nkeys; i++) {
        k = &info->keys[i];

        tsr_admin_json_open(adm, NULL, 0);
        tsr_admin_json_str(adm, "role", tsr_admin_tickets_role(k->role));
        tsr_admin_json_uint(adm, "generation", k->gen);
        tsr_admin_json_str(adm, "name", k->name);

        if (k->encrypt_until_ms != 0) {
            tsr_admin_json_uint(adm, "encrypts_until_ms",
                                k->encrypt_until_ms);

        } else {
            tsr_admin_json_null(adm, "encrypts_until_ms");
        }

        if (k->decrypt_until_ms != 0) {
            tsr_admin_json_uint(adm, "decrypts_until_ms",
                                k->decrypt_until_ms);

        } else {
            tsr_admin_json_null(adm, "decrypts_until_ms");
        }

        tsr_admin_json_close(adm);
    }

    tsr_admin_json_close(adm);
}


static const char *
tsr_admin_tickets_role(int role)
{
    switch (role) {
    case TSR_TICKETS_NEXT:
        return "next";
    case TSR_TICKETS_CURRENT:
        return "current";
    case TSR_TICKETS_PREVIOUS:
        return "previous";
    default:
        return "?";
    }
}
