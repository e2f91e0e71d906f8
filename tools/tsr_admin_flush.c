
/*
 * tsr-admin flush: deletes session keys (SCAN + UNLINK) after asking.
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


/* a key of a SCAN page and its hash slot */
typedef struct {
    int                         slot;
    size_t                      i;
    unsigned                    moving:1;   /* its run was redirected */
} tsr_admin_flush_key_t;

typedef struct {
    uint64_t                    deleted;
    unsigned                    use_del:1;
} tsr_admin_flush_t;


static int tsr_admin_flush_page(tsr_admin_t *adm, redisReply *keys,
    void *data);
static int tsr_admin_flush_send(tsr_admin_t *adm, tsr_admin_flush_t *fl,
    redisReply *keys, tsr_admin_flush_key_t *order, const char **args,
    size_t *lens);
static int tsr_admin_flush_moving(tsr_admin_t *adm, tsr_admin_flush_t *fl,
    redisReply *keys, const tsr_admin_flush_key_t *order, const char *name);
static int tsr_admin_flush_key_cmp(const void *a, const void *b);
static int tsr_admin_confirm(tsr_admin_t *adm, const char *pattern);


/* ---- flush ---- */

int
tsr_admin_flush(tsr_admin_t *adm, int argc, char **argv)
{
    int                rc;
    tsr_admin_flush_t  fl;
    char               note[32];
    char               pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];
    char               what[TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    if (adm->all && adm->context) {
        return tsr_admin_usage_error(adm, "--all and --context exclude each "
                                     "other");
    }

    if (adm->all) {
        (void) snprintf(pattern, sizeof(pattern), "%s*", adm->match);
        (void) snprintf(what, sizeof(what), "%s*", adm->prefix);

    } else if (adm->context) {
        (void) snprintf(pattern, sizeof(pattern), "%ss:%s:*", adm->match,
                        adm->ctx);
        (void) snprintf(what, sizeof(what), "%ss:%s:*", adm->prefix,
                        adm->ctx);

    } else {
        (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
        (void) snprintf(what, sizeof(what), "%ss:*", adm->prefix);
    }

    if (!adm->yes && !isatty(STDIN_FILENO)) {
        return tsr_admin_usage_error(adm, "refusing to delete without "
                                     "--yes: standard input is not a "
                                     "terminal");
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (!adm->yes) {
        rc = tsr_admin_confirm(adm, what);
        if (rc != TSR_ADMIN_OK) {
            return rc;
        }
    }

    memset(&fl, 0, sizeof(tsr_admin_flush_t));

    if (tsr_admin_scan_all(adm, pattern, tsr_admin_flush_page, &fl) != 0) {
        goto failed;
    }

    if (adm->json) {
        tsr_admin_json_str(adm, "pattern", what);
        tsr_admin_json_str(adm, "redis", adm->where);

        if (adm->conf.cluster != NULL) {
            tsr_admin_json_uint(adm, "masters", adm->nmasters);
        }

        tsr_admin_json_uint(adm, "deleted", fl.deleted);

    } else {
        printf("deleted %llu keys matching \"%s\" on %s%s\n",
               (unsigned long long) fl.deleted, what, adm->where,
               tsr_admin_masters_note(adm, note, sizeof(note)));
    }

    return TSR_ADMIN_OK;

failed:

    if (adm->json) {
        tsr_admin_json_uint(adm, "deleted", fl.deleted);
    }

    if (fl.deleted != 0) {
        fprintf(stderr, "tsr-admin: flush: %llu keys were deleted before "
                "the failure\n", (unsigned long long) fl.deleted);
    }

    return TSR_ADMIN_FAILED;
}


/*
 * Deletes the keys of one SCAN page: one UNLINK for them all, or in a
 * cluster one per hash slot (a command's keys must share a slot, or
 * Redis refuses it with CROSSSLOT), pipelined.
 */

static int
tsr_admin_flush_page(tsr_admin_t *adm, redisReply *keys, void *data)
{
    int                     rc;
    size_t                  i, n;
    size_t                 *lens;
    const char            **args;
    tsr_admin_flush_t      *fl;
    tsr_admin_flush_key_t  *order;

    fl = data;
    n = keys->elements;

    if (n == 0) {
        return 0;
    }

    args = malloc((n + 1) * sizeof(char *));
    lens = malloc((n + 1) * sizeof(size_t));
    order = malloc(n * sizeof(tsr_admin_flush_key_t));

    rc = -1;

    if (args == NULL || lens == NULL || order == NULL) {
        tsr_admin_fail(adm, "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        order[i].i = i;
        order[i].slot = (adm->conf.cluster != NULL)
                        ? tsr_store_key_slot(keys->element[i]->str,
                                             keys->element[i]->len)
                        : 0;
    }

    if (adm->conf.cluster != NULL) {
        qsort(order, n, sizeof(tsr_admin_flush_key_t),
              tsr_admin_flush_key_cmp);
    }

    rc = tsr_admin_flush_send(adm, fl, keys, order, args, lens);

    if (rc == 1) {
        /* UNLINK came with Redis 4.0 */
        fl->use_del = 1;
        rc = tsr_admin_flush_send(adm, fl, keys, order, args, lens);
    }

done:

    free(args);
    free(lens);
    free(order);

    return (rc == 0) ? 0 : -1;
}


/*
 * UNLINK (or DEL) of each run of keys of one slot in "order", pipelined,
 * then their replies; the keys of a run redirected, as a slot on the
 * move is, once more one by one.  Returns 0, 1 when Redis does not know
 * UNLINK, or -1 (reported).
 */

static int
tsr_admin_flush_send(tsr_admin_t *adm, tsr_admin_flush_t *fl,
    redisReply *keys, tsr_admin_flush_key_t *order, const char **args,
    size_t *lens)
{
    int          rc, moving;
    size_t       i, j, n;
    redisReply  *r, *key;
    const char  *name;

    name = fl->use_del ? "DEL" : "UNLINK";
    n = keys->elements;

    for (i = 0; i < n; i = j) {
        args[0] = name;
        lens[0] = strlen(name);

        for (j = i; j < n && order[j].slot == order[i].slot; j++) {
            key = keys->element[order[j].i];
            args[j - i + 1] = key->str;
            lens[j - i + 1] = key->len;
            order[j].moving = 0;
        }

        if (tsr_sync_append_argv(adm->redis, (int) (j - i + 1), args, lens)
            != TSR_OK)
        {
            tsr_admin_fail(adm, "%s", adm->redis->errstr);
            return -1;
        }
    }

    /*
     * every reply is read, whatever they say: the next page follows;
     * the runs are walked again to know each reply's keys
     */

    rc = 0;
    moving = 0;

    for (i = 0; i < n; i = j) {
        for (j = i; j < n && order[j].slot == order[i].slot; j++) {
            /* the run's end */
        }

        if (tsr_sync_reply(adm->redis, &r, name) != TSR_OK) {
            tsr_admin_fail(adm, "%s", adm->redis->errstr);
            return -1;
        }

        if (r->type == REDIS_REPLY_INTEGER) {
            fl->deleted += (uint64_t) r->integer;

        } else if (adm->conf.cluster != NULL && tsr_admin_redirected(r)) {
            for (; i < j; i++) {
                order[i].moving = 1;
            }

            moving = 1;

        } else if (rc == 0 && r->type == REDIS_REPLY_ERROR && !fl->use_del
                   && strncasecmp(r->str, "ERR unknown command", 19) == 0)
        {
            rc = 1;

        } else if (rc == 0) {
            tsr_admin_fail(adm, "%s on %s failed: %s", name, adm->where,
                           (r->type == REDIS_REPLY_ERROR)
                           ? r->str : "unexpected reply");
            rc = -1;
        }

        freeReplyObject(r);
    }

    if (rc == 0 && moving) {
        rc = tsr_admin_flush_moving(adm, fl, keys, order, name);
    }

    return rc;
}


/*
 * The keys of the redirected runs one by one, each to the master of its
 * slot in the map, one MOVED or ASK followed from there (a key still on
 * this master, or imported here already, is found so, too); then the
 * master being scanned is spoken to again.  Returns 0, or -1 (reported).
 */

static int
tsr_admin_flush_moving(tsr_admin_t *adm, tsr_admin_flush_t *fl,
    redisReply *keys, const tsr_admin_flush_key_t *order, const char *name)
{
    size_t       i, scanned;
    redisReply  *r, *key;

    scanned = (size_t) (adm->master - adm->masters);

    for (i = 0; i < keys->elements; i++) {
        if (!order[i].moving) {
            continue;
        }

        key = keys->element[order[i].i];

        if (tsr_admin_key_commands(adm, key->str, key->len, &name, 1, &r)
            != TSR_ADMIN_OK)
        {
            return -1;
        }

        if (r->type != REDIS_REPLY_INTEGER) {
            tsr_admin_fail(adm, "%s on %s of a key whose slot moves "
                           "failed: %s", name, adm->where,
                           (r->type == REDIS_REPLY_ERROR)
                           ? r->str : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }

        fl->deleted += (uint64_t) r->integer;
        freeReplyObject(r);
    }

    return (tsr_admin_use(adm, scanned) == TSR_ADMIN_OK) ? 0 : -1;
}


static int
tsr_admin_flush_key_cmp(const void *a, const void *b)
{
    const tsr_admin_flush_key_t  *x, *y;

    x = a;
    y = b;

    if (x->slot != y->slot) {
        return (x->slot < y->slot) ? -1 : 1;
    }

    return (x->i < y->i) ? -1 : (x->i > y->i);
}


static int
tsr_admin_confirm(tsr_admin_t *adm, const char *what)
{
    size_t  n;
    char    line[64], note[32];

    fprintf(stderr, "delete every key matching \"%s\" on %s%s? [y/N] ",
            what, adm->where, tsr_admin_masters_note(adm, note, sizeof(note)));
    (void) fflush(stderr);

    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "\n");
        line[0] = '\0';
    }

    n = strcspn(line, "\r\n");
    line[n] = '\0';

    if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0) {
        return TSR_ADMIN_OK;
    }

    tsr_admin_fail(adm, "not confirmed: nothing deleted");

    return TSR_ADMIN_FAILED;
}
