
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


static int tsr_admin_confirm(tsr_admin_t *adm, const char *pattern);


/* ---- flush ---- */

int
tsr_admin_flush(tsr_admin_t *adm, int argc, char **argv)
{
    int          rc, use_del;
    size_t       i, n;
    size_t      *lens;
    uint64_t     deleted;
    redisReply  *page, *r, *keys;
    const char **args;
    char         cursor[64];
    char         pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];
    char         what[TSR_ADMIN_MAX_PREFIX + 32];

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

    (void) strcpy(cursor, "0");

    deleted = 0;
    use_del = 0;

    do {
        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            return TSR_ADMIN_FAILED;
        }

        keys = page->element[1];
        n = keys->elements;

        if (n == 0) {
            freeReplyObject(page);
            continue;
        }

        args = malloc((n + 1) * sizeof(char *));
        lens = malloc((n + 1) * sizeof(size_t));

        if (args == NULL || lens == NULL) {
            free(args);
            free(lens);
            freeReplyObject(page);
            tsr_admin_fail(adm, "out of memory");
            return TSR_ADMIN_FAILED;
        }

        for (i = 0; i < n; i++) {
            args[i + 1] = keys->element[i]->str;
            lens[i + 1] = keys->element[i]->len;
        }

        for ( ;; ) {
            args[0] = use_del ? "DEL" : "UNLINK";
            lens[0] = strlen(args[0]);

            r = NULL;

            if (tsr_sync_append_argv(adm->redis, (int) n + 1, args, lens)
                != TSR_OK
                || tsr_sync_reply(adm->redis, &r, args[0]) != TSR_OK)
            {
                tsr_admin_fail(adm, "%s", adm->redis->errstr);
                break;
            }

            /* UNLINK came with Redis 4.0 */

            if (r->type == REDIS_REPLY_ERROR && !use_del
                && strncasecmp(r->str, "ERR unknown command", 19) == 0)
            {
                freeReplyObject(r);
                use_del = 1;
                continue;
            }

            break;
        }

        free(args);
        free(lens);
        freeReplyObject(page);

        if (r == NULL) {
            goto failed;
        }

        if (r->type != REDIS_REPLY_INTEGER) {
            tsr_admin_fail(adm, "%s on %s failed: %s",
                           use_del ? "DEL" : "UNLINK", adm->where,
                           (r->type == REDIS_REPLY_ERROR) ? r->str
                                                          : "unexpected reply");
            freeReplyObject(r);
            goto failed;
        }

        deleted += (uint64_t) r->integer;
        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    if (adm->json) {
        tsr_admin_json_str(adm, "pattern", what);
        tsr_admin_json_str(adm, "redis", adm->where);
        tsr_admin_json_uint(adm, "deleted", deleted);

    } else {
        printf("deleted %llu keys matching \"%s\" on %s\n",
               (unsigned long long) deleted, what, adm->where);
    }

    return TSR_ADMIN_OK;

failed:

    if (adm->json) {
        tsr_admin_json_uint(adm, "deleted", deleted);
    }

    if (deleted != 0) {
        fprintf(stderr, "tsr-admin: flush: %llu keys were deleted before "
                "the failure\n", (unsigned long long) deleted);
    }

    return TSR_ADMIN_FAILED;
}


static int
tsr_admin_confirm(tsr_admin_t *adm, const char *what)
{
    size_t  n;
    char    line[64];

    fprintf(stderr, "delete every key matching \"%s\" on %s? [y/N] ", what,
            adm->where);
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
