
/*
 * tsr-admin stats: number, size, TTLs and contexts of the session keys.
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


typedef struct {
    uint64_t                    fp;
    uint64_t                    n;
} tsr_admin_ctx_count_t;

typedef struct {
    uint64_t                    sessions;
    uint64_t                    bytes;
    uint64_t                    no_ttl;
    uint64_t                    foreign;    /* not session keys, or not
                                               strings */
    uint64_t                    other_ctx;  /* past the context table */
    uint64_t                    moved;      /* slot moving: not counted */
    uint64_t                    examined;
    uint64_t                   *by_master;  /* sessions, cluster= */
    unsigned                    truncated:1;
    tsr_admin_seen_t            seen;
    uint64_t                   *ttls;
    size_t                      nttls;
    size_t                      nalloc;
    size_t                      nctx;
    tsr_admin_ctx_count_t       ctx[TSR_ADMIN_CTX_SLOTS];
} tsr_admin_stats_t;


static int tsr_admin_stats_page(tsr_admin_t *adm, redisReply *keys,
    void *data);
static int tsr_admin_stats_key(tsr_admin_t *adm, tsr_admin_stats_t *st,
    redisReply *k, redisReply *ttl, redisReply *len, redisReply *mem);
static void tsr_admin_stats_ctx(tsr_admin_stats_t *st, const char *ctx);
static void tsr_admin_stats_print(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern);
static void tsr_admin_stats_json(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern);
static size_t tsr_admin_stats_sort(tsr_admin_stats_t *st);
static int tsr_admin_u64_cmp(const void *a, const void *b);
static int tsr_admin_ctx_cmp(const void *a, const void *b);


/* ---- stats ---- */

int
tsr_admin_stats(tsr_admin_t *adm, int argc, char **argv)
{
    int                 rc;
    tsr_admin_stats_t  *st;
    char                pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    st = calloc(1, sizeof(tsr_admin_stats_t));
    if (st == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    rc = TSR_ADMIN_FAILED;

    st->by_master = calloc(adm->nmasters + 1, sizeof(uint64_t));
    if (st->by_master == NULL) {
        tsr_admin_fail(adm, "out of memory");
        goto failed;
    }

    if (adm->context) {
        (void) snprintf(pattern, sizeof(pattern), "%ss:%s:*", adm->match,
                        adm->ctx);

    } else {
        (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
    }

    switch (tsr_admin_scan_all(adm, pattern, tsr_admin_stats_page, st)) {

    case 0:
        break;

    case 1:
        st->truncated = 1;
        break;

    default:
        goto failed;
    }

    tsr_admin_stats_print(adm, st, pattern);

    rc = TSR_ADMIN_OK;

failed:

    tsr_admin_seen_free(&st->seen);
    free(st->ttls);
    free(st->by_master);
    free(st);

    return rc;
}


/*
 * PTTL, STRLEN (which also tells strings from other types) and, with
 * --memory, MEMORY USAGE for each new key of one SCAN page, pipelined;
 * 1 once --max-keys keys are examined.
 */

static int
tsr_admin_stats_page(tsr_admin_t *adm, redisReply *keys, void *data)
{
    int                 rc, dup, ok;
    size_t              i, n, nalloc;
    uint64_t           *ttls;
    redisReply         *k, *ttl, *len, *mem;
    char               *fresh;
    tsr_admin_stats_t  *st;

    st = data;

    fresh = calloc(keys->elements + 1, 1);
    if (fresh == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return -1;
    }

    rc = -1;
    n = 0;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (st->examined + n == adm->max_keys) {
            st->truncated = 1;
            break;
        }

        dup = tsr_admin_seen(&st->seen, k->str, k->len);

        if (dup == -1) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        if (dup) {
            continue;
        }

        fresh[i] = 1;
        n++;

        if (tsr_admin_append(adm, "PTTL %b", k->str, k->len) != 0
            || tsr_admin_append(adm, "STRLEN %b", k->str, k->len) != 0
            || (adm->memory
                && tsr_admin_append(adm, "MEMORY USAGE %b", k->str, k->len)
                   != 0))
        {
            goto failed;
        }
    }

    if (st->nttls + n > st->nalloc) {
        nalloc = st->nalloc ? st->nalloc : 1024;

        while (nalloc < st->nttls + n) {
            nalloc *= 2;
        }

        ttls = realloc(st->ttls, nalloc * sizeof(uint64_t));
        if (ttls == NULL) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        st->ttls = ttls;
        st->nalloc = nalloc;
    }

    for (i = 0; i < keys->elements; i++) {
        if (!fresh[i]) {
            continue;
        }

        k = keys->element[i];

        ttl = tsr_admin_reply(adm, "PTTL");
        len = (ttl != NULL) ? tsr_admin_reply(adm, "STRLEN") : NULL;
        mem = (len != NULL && adm->memory)
              ? tsr_admin_reply(adm, "MEMORY USAGE") : NULL;

        ok = (len != NULL && (mem != NULL || !adm->memory));

        if (ok) {
            ok = tsr_admin_stats_key(adm, st, k, ttl, len, mem);
        }

        if (ttl != NULL) {
            freeReplyObject(ttl);
        }

        if (len != NULL) {
            freeReplyObject(len);
        }

        if (mem != NULL) {
            freeReplyObject(mem);
        }

        if (!ok) {
            goto failed;
        }
    }

    rc = (st->examined >= adm->max_keys) ? 1 : 0;

failed:

    free(fresh);

    return rc;
}


/* counts one key from its replies; 1, or 0 on a failure (reported) */

static int
tsr_admin_stats_key(tsr_admin_t *adm, tsr_admin_stats_t *st, redisReply *k,
    redisReply *ttl, redisReply *len, redisReply *mem)
{
    size_t       idlen;
    const char  *ctx, *id;

    st->examined++;

    if (tsr_admin_redirected(ttl) || tsr_admin_redirected(len)
        || (mem != NULL && tsr_admin_redirected(mem)))
    {
        /*
         * Its slot moves between masters (a resharding): left out, and
         * said; the count is of a cluster in motion anyway.
         */
        st->moved++;
        return 1;
    }

    if (len->type == REDIS_REPLY_ERROR
        && strncmp(len->str, "WRONGTYPE", 9) != 0)
    {
        tsr_admin_fail(adm, "STRLEN on %s failed: %s", adm->where,
                       len->str);
        return 0;
    }

    if (mem != NULL && mem->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "MEMORY USAGE on %s failed: %s", adm->where,
                       mem->str);
        return 0;
    }

    if (ttl->type != REDIS_REPLY_INTEGER || ttl->integer == -2
        || (mem != NULL && mem->type != REDIS_REPLY_INTEGER))
    {
        /* gone since SCAN saw it */
        return 1;
    }

    if (len->type != REDIS_REPLY_INTEGER
        || tsr_admin_session_key(adm, k->str, k->len, &ctx, &id, &idlen)
           != 0)
    {
        st->foreign++;
        return 1;
    }

    st->sessions++;
    st->by_master[(adm->master != NULL) ? adm->master - adm->masters : 0]++;
    st->bytes += (uint64_t) ((mem != NULL) ? mem->integer : len->integer);

    if (ttl->integer < 0) {
        st->no_ttl++;

    } else {
        st->ttls[st->nttls++] = (uint64_t) ttl->integer;
    }

    tsr_admin_stats_ctx(st, ctx);

    return 1;
}


/* counts a session of context "ctx" (16 hex) in an open-addressed table */

static void
tsr_admin_stats_ctx(tsr_admin_stats_t *st, const char *ctx)
{
    size_t    i, slot;
    uint64_t  fp;

    fp = 0;

    for (i = 0; i < TSR_ADMIN_CTX_HEX; i++) {
        fp = (fp << 4)
             | (uint64_t) (isdigit((unsigned char) ctx[i])
                           ? ctx[i] - '0'
                           : tolower((unsigned char) ctx[i]) - 'a' + 10);
    }

    /* the fingerprint is a hash already */

    slot = (size_t) (fp & (TSR_ADMIN_CTX_SLOTS - 1));

    for (i = 0; i < TSR_ADMIN_CTX_SLOTS; i++) {

        if (st->ctx[slot].n == 0) {
            if (st->nctx == TSR_ADMIN_MAX_CONTEXTS) {
                break;
            }

            st->ctx[slot].fp = fp;
            st->ctx[slot].n = 1;
            st->nctx++;
            return;
        }

        if (st->ctx[slot].fp == fp) {
            st->ctx[slot].n++;
            return;
        }

        slot = (slot + 1) & (TSR_ADMIN_CTX_SLOTS - 1);
    }

    st->other_ctx++;
}


static void
tsr_admin_stats_print(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern)
{
    size_t  i, n;
    char    min[TSR_ADMIN_TIME_LEN], med[TSR_ADMIN_TIME_LEN];
    char    max[TSR_ADMIN_TIME_LEN];

    if (adm->json) {
        tsr_admin_stats_json(adm, st, pattern);
        return;
    }

    printf("keys         %s on %s\n", pattern, adm->where);

    if (adm->conf.cluster != NULL) {
        printf("masters      %zu scanned%s\n", adm->nmasters,
               st->truncated ? " (in part: --max-keys)" : "");

        for (i = 0; i < adm->nmasters; i++) {
            printf("  %-22s %llu session%s\n", adm->masters[i].where,
                   (unsigned long long) st->by_master[i],
                   (st->by_master[i] == 1) ? "" : "s");
        }
    }

    printf("sessions     %llu\n", (unsigned long long) st->sessions);

    if (st->sessions != 0) {
        printf("%-12s %llu (average %llu)\n",
               adm->memory ? "memory" : "bytes",
               (unsigned long long) st->bytes,
               (unsigned long long) (st->bytes / st->sessions));
    }

    if (st->nttls != 0) {
        qsort(st->ttls, st->nttls, sizeof(uint64_t), tsr_admin_u64_cmp);

        tsr_admin_fmt_duration(st->ttls[0], min, sizeof(min));
        tsr_admin_fmt_duration(st->ttls[st->nttls / 2], med, sizeof(med));
        tsr_admin_fmt_duration(st->ttls[st->nttls - 1], max, sizeof(max));

        printf("ttl          min %s, median %s, max %s\n", min, med, max);
    }

    if (st->no_ttl != 0) {
        printf("warning      %llu session%s without TTL: they never "
               "expire, and volatile-* policies never evict them\n",
               (unsigned long long) st->no_ttl, (st->no_ttl == 1) ? "" : "s");
    }

    if (st->foreign != 0) {
        printf("note         %llu other key%s match the pattern (not "
               "session keys, or not strings)\n",
               (unsigned long long) st->foreign,
               (st->foreign == 1) ? "" : "s");
    }

    if (st->nctx != 0) {
        n = tsr_admin_stats_sort(st);

        printf("contexts     %zu%s\n", n, st->other_ctx ? " or more" : "");

        for (i = 0; i < n && i < TSR_ADMIN_SHOW_CONTEXTS; i++) {
            printf("  %016llx  %llu\n", (unsigned long long) st->ctx[i].fp,
                   (unsigned long long) st->ctx[i].n);
        }

        if (n > TSR_ADMIN_SHOW_CONTEXTS) {
            printf("  (%zu more)\n", n - TSR_ADMIN_SHOW_CONTEXTS);
        }
    }

    if (st->moved != 0) {
        printf("note         %llu key%s left out: %s slot moved between "
               "masters while scanned (a resharding)\n",
               (unsigned long long) st->moved, (st->moved == 1) ? "" : "s",
               (st->moved == 1) ? "its" : "their");
    }

    if (st->truncated) {
        printf("note         stopped after %llu keys (--max-keys); more "
               "remain\n", (unsigned long long) st->examined);
    }
}


/*
 * The same as JSON: sizes in bytes, TTLs in milliseconds, every context
 * of the table (fingerprints as in the session keys).
 */

static void
tsr_admin_stats_json(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern)
{
    size_t  i, n;
    char    fp[TSR_ADMIN_CTX_HEX + 1];

    tsr_admin_json_str(adm, "pattern", pattern);
    tsr_admin_json_str(adm, "redis", adm->where);

    if (adm->conf.cluster != NULL) {
        tsr_admin_json_open(adm, "masters", 1);

        for (i = 0; i < adm->nmasters; i++) {
            tsr_admin_json_open(adm, NULL, 0);
            tsr_admin_json_str(adm, "redis", adm->masters[i].where);
            tsr_admin_json_uint(adm, "sessions", st->by_master[i]);
            tsr_admin_json_close(adm);
        }

        tsr_admin_json_close(adm);
    }

    tsr_admin_json_uint(adm, "sessions", st->sessions);
    tsr_admin_json_str(adm, "size", adm->memory ? "memory" : "strlen");
    tsr_admin_json_uint(adm, "bytes", st->bytes);

    if (st->nttls != 0) {
        qsort(st->ttls, st->nttls, sizeof(uint64_t), tsr_admin_u64_cmp);

        tsr_admin_json_open(adm, "ttl_ms", 0);
        tsr_admin_json_uint(adm, "min", st->ttls[0]);
        tsr_admin_json_uint(adm, "median", st->ttls[st->nttls / 2]);
        tsr_admin_json_uint(adm, "max", st->ttls[st->nttls - 1]);
        tsr_admin_json_close(adm);

    } else {
        tsr_admin_json_null(adm, "ttl_ms");
    }

    tsr_admin_json_uint(adm, "without_ttl", st->no_ttl);
    tsr_admin_json_uint(adm, "other_keys", st->foreign);

    n = (st->nctx != 0) ? tsr_admin_stats_sort(st) : 0;

    tsr_admin_json_open(adm, "contexts", 1);

    for (i = 0; i < n; i++) {
        (void) snprintf(fp, sizeof(fp), "%016llx",
                        (unsigned long long) st->ctx[i].fp);

        tsr_admin_json_open(adm, NULL, 0);
        tsr_admin_json_str(adm, "context", fp);
        tsr_admin_json_uint(adm, "sessions", st->ctx[i].n);
        tsr_admin_json_close(adm);
    }

    tsr_admin_json_close(adm);

    tsr_admin_json_uint(adm, "sessions_in_other_contexts", st->other_ctx);
    tsr_admin_json_uint(adm, "examined", st->examined);
    tsr_admin_json_uint(adm, "moved_while_scanned", st->moved);
    tsr_admin_json_bool(adm, "truncated", st->truncated);
}


/* the table's used slots to its front, largest counts first; how many */

static size_t
tsr_admin_stats_sort(tsr_admin_stats_t *st)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < TSR_ADMIN_CTX_SLOTS; i++) {
        if (st->ctx[i].n != 0) {
            st->ctx[n++] = st->ctx[i];
        }
    }

    qsort(st->ctx, n, sizeof(tsr_admin_ctx_count_t), tsr_admin_ctx_cmp);

    /* sorted once: the slots are a list from now on */
    st->nctx = 0;

    return n;
}


static int
tsr_admin_u64_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x < y) ? -1 : (x > y);
}


/* larger counts first, then by fingerprint */

static int
tsr_admin_ctx_cmp(const void *a, const void *b)
{
    const tsr_admin_ctx_count_t  *x, *y;

    x = a;
    y = b;

    if (x->n != y->n) {
        return (x->n > y->n) ? -1 : 1;
    }

    return (x->fp < y->fp) ? -1 : (x->fp > y->fp);
}
