
/*
 * tsr-admin inspect: one session's key, TTL and size; with a key file,
 * what the sealed session says about itself, minus its secrets.
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


/* the keys of a session id, at most TSR_ADMIN_MAX_FOUND */
typedef struct {
    size_t                      found;
    size_t                      lens[TSR_ADMIN_MAX_FOUND];
    char                        keys[TSR_ADMIN_MAX_FOUND]
                                    [TSR_MAX_KEY_NAME + 1];
} tsr_admin_found_t;


static int tsr_admin_inspect_page(tsr_admin_t *adm, redisReply *keys,
    void *data);
static int tsr_admin_inspect_key(tsr_admin_t *adm, const char *key,
    size_t keylen, size_t shown);
static int tsr_admin_inspect_open(tsr_admin_t *adm, const char *key,
    size_t keylen, const uint8_t *val, size_t vlen);
static void tsr_admin_print_session(tsr_admin_t *adm,
    const SSL_SESSION *sess, const char *key_ctx, const char *key_id,
    size_t idlen);
static void tsr_admin_session_json(tsr_admin_t *adm,
    const SSL_SESSION *sess, const char *key_ctx, const char *key_id,
    size_t idlen);
static const char *tsr_admin_version_name(int version);


/* ---- inspect ---- */

int
tsr_admin_inspect(tsr_admin_t *adm, int argc, char **argv)
{
    int                 rc, r;
    size_t              i, n, shown;
    tsr_admin_found_t   f;
    char                id[2 * TSR_MAX_SESSION_ID + 1], note[32];
    char                pattern[2 * TSR_ADMIN_MAX_PREFIX
                                + 2 * TSR_MAX_SESSION_ID + 32];

    if (argc != 1) {
        return tsr_admin_usage_error(adm, argc ? "one session id expected"
                                               : "no session id given");
    }

    if (tsr_admin_parse_hex(argv[0], 2, 2 * TSR_MAX_SESSION_ID, id,
                            sizeof(id))
        != 0 || strlen(id) % 2 != 0)
    {
        return tsr_admin_usage_error(adm, "invalid session id: 1 to %d "
                                     "bytes in hex", TSR_MAX_SESSION_ID);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    f.found = 0;

    if (adm->context) {
        n = (size_t) snprintf(f.keys[0], sizeof(f.keys[0]), "%ss:%s:%s",
                              adm->prefix, adm->ctx, id);
        if (n >= sizeof(f.keys[0])) {
            return tsr_admin_usage_error(adm, "key name too long");
        }

        f.lens[0] = n;
        f.found = 1;

    } else {
        /* the context part is unknown: every context, one SCAN */

        (void) snprintf(pattern, sizeof(pattern), "%ss:*:%s", adm->match,
                        id);

        if (tsr_admin_scan_all(adm, pattern, tsr_admin_inspect_page, &f)
            != 0)
        {
            return TSR_ADMIN_FAILED;
        }
    }

    rc = TSR_ADMIN_OK;
    shown = 0;

    if (adm->json) {
        tsr_admin_json_open(adm, "sessions", 1);
    }

    for (i = 0; i < f.found; i++) {
        r = tsr_admin_inspect_key(adm, f.keys[i], f.lens[i], shown);

        if (r == TSR_ADMIN_GONE) {
            /* expired since SCAN saw it */
            continue;
        }

        shown++;

        if (r != TSR_ADMIN_OK) {
            rc = r;
        }
    }

    if (adm->json) {
        tsr_admin_json_close(adm);
    }

    tsr_admin_leave(adm);

    if (shown == 0) {
        tsr_admin_fail(adm, "no session with id %s under \"%s\" on %s%s", id,
                       adm->prefix, adm->where,
                       tsr_admin_masters_note(adm, note, sizeof(note)));
        return TSR_ADMIN_FAILED;
    }

    return rc;
}


/* the session keys of one SCAN page, each once */

static int
tsr_admin_inspect_page(tsr_admin_t *adm, redisReply *keys, void *data)
{
    size_t              i, n;
    redisReply         *k;
    tsr_admin_found_t  *f;

    f = data;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (f->found == TSR_ADMIN_MAX_FOUND || k->len > TSR_MAX_KEY_NAME
            || tsr_admin_session_key(adm, k->str, k->len, NULL, NULL, NULL)
               != 0)
        {
            continue;
        }

        /* SCAN may return a key twice */

        for (n = 0; n < f->found; n++) {
            if (f->lens[n] == k->len && memcmp(f->keys[n], k->str, k->len) == 0)
            {
                break;
            }
        }

        if (n < f->found) {
            continue;
        }

        memcpy(f->keys[f->found], k->str, k->len);
        f->keys[f->found][k->len] = '\0';
        f->lens[f->found++] = k->len;
    }

    return 0;
}


/*
 * Shows one key; returns TSR_ADMIN_GONE (nothing printed) when it does not
 * exist, TSR_ADMIN_OK, or TSR_ADMIN_FAILED (reported).
 */

static int
tsr_admin_inspect_key(tsr_admin_t *adm, const char *key, size_t keylen,
    size_t shown)
{
    int          rc;
    size_t       i;
    redisReply  *ttl, *val, *r[2];
    char         id[9], ours[9], buf[TSR_ADMIN_TIME_LEN];
    char         safe[TSR_ADMIN_SAFE_LEN];

    static const char *const  names[] = { "PTTL", "GET" };

    /* in a cluster, on the master of the key's slot */

    if (tsr_admin_key_commands(adm, key, keylen, names, 2, r)
        != TSR_ADMIN_OK)
    {
        return TSR_ADMIN_FAILED;
    }

    ttl = r[0];
    val = r[1];

    rc = TSR_ADMIN_FAILED;

    if (val->type == REDIS_REPLY_NIL) {
        rc = TSR_ADMIN_GONE;
        goto done;
    }

    (void) tsr_admin_safe(key, keylen, safe, sizeof(safe));

    if (val->type == REDIS_REPLY_ERROR) {
        if (strncmp(val->str, "WRONGTYPE", 9) == 0) {
            tsr_admin_fail(adm, "\"%s\" is not a string: not a session",
                           safe);

        } else {
            tsr_admin_fail(adm, "GET on %s failed: %s", adm->where,
                           val->str);
        }

        goto done;
    }

    if (val->type != REDIS_REPLY_STRING) {
        tsr_admin_fail(adm, "GET on %s: unexpected reply", adm->where);
        goto done;
    }

    if (adm->json) {
        /* closed at "done" */
        tsr_admin_json_open(adm, NULL, 0);
        tsr_admin_json_strn(adm, "key", key, keylen);

        if (adm->conf.cluster != NULL) {
            tsr_admin_json_str(adm, "redis", adm->where);
        }

        if (ttl->type == REDIS_REPLY_INTEGER && ttl->integer >= 0) {
            tsr_admin_json_int(adm, "ttl_ms", ttl->integer);

        } else {
            tsr_admin_json_null(adm, "ttl_ms");
        }

        tsr_admin_json_uint(adm, "size", val->len);

    } else {
        if (shown) {
            printf("\n");
        }

        printf("key          %s\n", safe);

        if (adm->conf.cluster != NULL) {
            printf("master       %s\n", adm->where);
        }
    }

    if (adm->json) {
        /* said above */

    } else if (ttl->type == REDIS_REPLY_INTEGER && ttl->integer >= 0) {
        tsr_admin_fmt_duration((uint64_t) ttl->integer, buf, sizeof(buf));
        printf("ttl          %s\n", buf);

    } else {
        printf("ttl          none: the key never expires\n");
    }

    if (!adm->json) {
        printf("size         %zu bytes sealed\n", val->len);
    }

    if (val->len > TSR_MAX_VALUE) {
        tsr_admin_fail(adm, "\"%s\" does not open: %zu bytes is over the "
                       "limit of %d", safe, val->len, TSR_MAX_VALUE);
        goto done;
    }

    if (val->len >= TSR_SEAL_OVERHEAD) {
        tsr_admin_key_id((uint8_t *) val->str, val->len, id);

        for (i = 0; adm->keys != NULL && i < adm->nkey_files; i++) {
            (void) tsr_keyring_id(adm->keys, i, ours);

            if (strcmp(id, ours) == 0) {
                break;
            }
        }

        if (adm->json) {
            tsr_admin_json_str(adm, "key_id", id);
            tsr_admin_json_str(adm, "key_file",
                               (adm->keys != NULL && i < adm->nkey_files)
                               ? adm->key_files[i] : NULL);

        } else if (adm->keys != NULL && i < adm->nkey_files) {
            printf("sealed with  key id %s (%s)\n", id, adm->key_files[i]);

        } else {
            printf("sealed with  key id %s\n", id);
        }
    }

    if (adm->keys == NULL) {
        if (adm->json) {
            tsr_admin_json_bool(adm, "opened", 0);

        } else {
            printf("note         give the fleet key file (-k) to open it\n");
        }

        rc = TSR_ADMIN_OK;
        goto done;
    }

    rc = tsr_admin_inspect_open(adm, key, keylen, (uint8_t *) val->str,
                                val->len);

done:

    if (adm->json && rc != TSR_ADMIN_GONE && val->type == REDIS_REPLY_STRING)
    {
        tsr_admin_json_close(adm);
    }

    freeReplyObject(ttl);
    freeReplyObject(val);

    return rc;
}


/* opens a sealed session for its key name, decodes it and shows it */

static int
tsr_admin_inspect_open(tsr_admin_t *adm, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen)
{
    int                   rc;
    size_t                plen, idlen;
    SSL_SESSION          *sess;
    const char           *ctx, *id;
    const unsigned char  *p;
    char                  safe[TSR_ADMIN_SAFE_LEN];
    uint8_t               plain[TSR_MAX_VALUE];

    (void) tsr_admin_safe(key, keylen, safe, sizeof(safe));

    plen = sizeof(plain);

    rc = tsr_open(adm->keys, key, keylen, val, vlen, plain, &plen);
    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "\"%s\" does not open with the key files: %s",
                       safe, tsr_strerror(rc));
        return TSR_ADMIN_FAILED;
    }

    p = plain;
    sess = d2i_SSL_SESSION(NULL, &p, (long) plen);

    /* the session's secrets are in "sess" now, or nowhere */
    OPENSSL_cleanse(plain, plen);

    if (sess == NULL || p != plain + plen) {
        ERR_clear_error();
        SSL_SESSION_free(sess);
        tsr_admin_fail(adm, "\"%s\" opens but holds no TLS session: "
                       "d2i_SSL_SESSION() failed", safe);
        return TSR_ADMIN_FAILED;
    }

    if (tsr_admin_session_key(adm, key, keylen, &ctx, &id, &idlen) != 0) {
        ctx = NULL;
        id = NULL;
        idlen = 0;
    }

    tsr_admin_print_session(adm, sess, ctx, id, idlen);

    /* frees the master key cleansed */
    SSL_SESSION_free(sess);

    return TSR_ADMIN_OK;
}


/*
 * What a session says about itself, minus its secrets: the master key, a
 * ticket, the peer's certificate are never shown.
 */

static void
tsr_admin_print_session(tsr_admin_t *adm, const SSL_SESSION *sess,
    const char *key_ctx, const char *key_id, size_t idlen)
{
    size_t                i;
    long                  created, timeout;
    uint64_t              now;
    uint32_t              early;
    const char           *name, *version;
    unsigned int          len;
    const SSL_CIPHER     *cipher;
    const unsigned char  *p;
    unsigned char         md[SHA256_DIGEST_LENGTH];
    char                  hex[2 * TSR_MAX_SESSION_ID + 1];
    char                  when[TSR_ADMIN_TIME_LEN], ago[TSR_ADMIN_TIME_LEN];
    char                  safe[TSR_ADMIN_SAFE_LEN];

    if (adm->json) {
        tsr_admin_session_json(adm, sess, key_ctx, key_id, idlen);
        return;
    }

    now = tsr_unix_ms();

    version = tsr_admin_version_name(SSL_SESSION_get_protocol_version(sess));

    if (version != NULL) {
        printf("protocol     %s\n", version);

    } else {
        printf("protocol     0x%04x\n", SSL_SESSION_get_protocol_version(sess));
    }

    cipher = SSL_SESSION_get0_cipher(sess);
    printf("cipher       %s\n",
           (cipher != NULL) ? SSL_CIPHER_get_name(cipher) : "(unknown)");

    created = SSL_SESSION_get_time(sess);
    timeout = SSL_SESSION_get_timeout(sess);

    if (created > 0) {
        tsr_admin_fmt_time((uint64_t) created * 1000, when, sizeof(when));
        tsr_admin_fmt_ago((uint64_t) created * 1000, now, ago, sizeof(ago));
        printf("created      %s (%s)\n", when, ago);
    }

    if (timeout > 0) {
        tsr_admin_fmt_duration((uint64_t) timeout * 1000, when, sizeof(when));
        tsr_admin_fmt_ago(((uint64_t) created + timeout) * 1000, now, ago,
                          sizeof(ago));
        printf("timeout      %s (%s %s)\n", when,
               ((uint64_t) (created + timeout) * 1000 > now)
               ? "expires" : "expired", ago);
    }

    name = SSL_SESSION_get0_hostname(sess);

    if (name != NULL) {
        printf("server name  %s\n",
               tsr_admin_safe(name, strlen(name), safe, sizeof(safe)));

    } else {
        printf("server name  (none: the client sent no SNI)\n");
    }

    p = SSL_SESSION_get_id(sess, &len);

    if (key_id != NULL && len * 2 == idlen && len <= TSR_MAX_SESSION_ID) {
        for (i = 0; i < len; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", p[i]);
        }

        printf("id length    %u bytes%s\n", len,
               (memcmp(hex, key_id, idlen) == 0)
               ? "" : ", NOT the id in the key name");

    } else {
        printf("id length    %u bytes, NOT the id in the key name\n", len);
    }

    p = SSL_SESSION_get0_id_context(sess, &len);

    if (SHA256(p, len, md) != NULL) {
        for (i = 0; i < TSR_ADMIN_CTX_HEX / 2; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", md[i]);
        }

        printf("context      %s%s\n", hex,
               (key_ctx != NULL
                && memcmp(hex, key_ctx, TSR_ADMIN_CTX_HEX) == 0)
               ? "" : ", NOT the context in the key name");
    }

    SSL_SESSION_get0_alpn_selected(sess, &p, &i);

    if (i != 0) {
        printf("alpn         %s\n",
               tsr_admin_safe((const char *) p, i, safe, sizeof(safe)));
    }

    printf("client cert  %s\n",
           (SSL_SESSION_get0_peer((SSL_SESSION *) sess) != NULL)
           ? "yes" : "no");

    early = SSL_SESSION_get_max_early_data(sess);

    if (early != 0) {
        printf("early data   up to %u bytes\n", early);
    }

    printf("resumable    %s\n", SSL_SESSION_is_resumable(sess) ? "yes" : "no");
}


/* the same as JSON members: times in Unix seconds, no secret bytes */

static void
tsr_admin_session_json(tsr_admin_t *adm, const SSL_SESSION *sess,
    const char *key_ctx, const char *key_id, size_t idlen)
{
    size_t                i;
    const char           *name, *version;
    unsigned int          len;
    const SSL_CIPHER     *cipher;
    const unsigned char  *p;
    unsigned char         md[SHA256_DIGEST_LENGTH];
    char                  hex[2 * TSR_MAX_SESSION_ID + 1];

    tsr_admin_json_bool(adm, "opened", 1);

    version = tsr_admin_version_name(SSL_SESSION_get_protocol_version(sess));

    if (version != NULL) {
        tsr_admin_json_str(adm, "protocol", version);

    } else {
        (void) snprintf(hex, sizeof(hex), "0x%04x",
                        SSL_SESSION_get_protocol_version(sess));
        tsr_admin_json_str(adm, "protocol", hex);
    }

    cipher = SSL_SESSION_get0_cipher(sess);
    tsr_admin_json_str(adm, "cipher",
                       (cipher != NULL) ? SSL_CIPHER_get_name(cipher) : NULL);

    tsr_admin_json_int(adm, "created", SSL_SESSION_get_time(sess));
    tsr_admin_json_int(adm, "timeout", SSL_SESSION_get_timeout(sess));

    name = SSL_SESSION_get0_hostname(sess);
    tsr_admin_json_str(adm, "server_name", name);

    p = SSL_SESSION_get_id(sess, &len);
    tsr_admin_json_uint(adm, "id_length", len);

    if (key_id != NULL && len * 2 == idlen && len <= TSR_MAX_SESSION_ID) {
        for (i = 0; i < len; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", p[i]);
        }

        tsr_admin_json_bool(adm, "id_matches_key",
                            memcmp(hex, key_id, idlen) == 0);

    } else {
        tsr_admin_json_bool(adm, "id_matches_key", 0);
    }

    p = SSL_SESSION_get0_id_context(sess, &len);

    if (SHA256(p, len, md) != NULL) {
        for (i = 0; i < TSR_ADMIN_CTX_HEX / 2; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", md[i]);
        }

        tsr_admin_json_str(adm, "context", hex);
        tsr_admin_json_bool(adm, "context_matches_key",
                            key_ctx != NULL
                            && memcmp(hex, key_ctx, TSR_ADMIN_CTX_HEX) == 0);
    }

    SSL_SESSION_get0_alpn_selected(sess, &p, &i);

    if (i != 0) {
        tsr_admin_json_strn(adm, "alpn", (const char *) p, i);

    } else {
        tsr_admin_json_null(adm, "alpn");
    }

    tsr_admin_json_bool(adm, "client_cert",
                        SSL_SESSION_get0_peer((SSL_SESSION *) sess) != NULL);
    tsr_admin_json_uint(adm, "max_early_data",
                        SSL_SESSION_get_max_early_data(sess));
    tsr_admin_json_bool(adm, "resumable", SSL_SESSION_is_resumable(sess));
}


static const char *
tsr_admin_version_name(int version)
{
    switch (version) {
    case TLS1_3_VERSION:
        return "TLSv1.3";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_VERSION:
        return "TLSv1";
    default:
        return NULL;
    }
}
