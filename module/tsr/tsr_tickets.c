
/*
 * Ticket keys: a ring of session ticket keys shared by a fleet through
 * Redis, sealed with the fleet keys, rotated by whichever node finds it
 * due (redis-scripts/ticket_rotate.lua makes that a compare-and-set), and
 * served to OpenSSL's ticket key callback from memory.
 *
 * The synchronous path here runs on a synchronous store of the ring's
 * own, built from the same tsr_store_conf_t as the host's: GET and the
 * script (tsr_store_eval()) go where the ring's key lives, on a single
 * server, a cluster or the sentinels' master, and its connections close
 * at the end of each call (start-up and command line tools).  An
 * event-loop host (nginx workers) reads the ring through its
 * asynchronous store instead and hands it to tsr_tickets_load_value().
 *
 * Timeline of a key, with P the period and L the ticket lifetime: it is
 * the next key (decrypts only) during the generation before its own; the
 * current key (encrypts) from the rotation that starts its generation,
 * for P; then a previous key (decrypts, asks for a new ticket) until
 * L + P after it stopped encrypting, which covers every ticket it issued
 * even on a node that kept encrypting up to the grace below.
 *
 * When no newer ring arrives (Redis unreachable), the current key keeps
 * encrypting until P + P / 4 after its rotation; then no tickets are
 * issued (handshakes still succeed, and tickets already issued still
 * resume while their key lasts).  Never a key made up locally: another
 * node could not open its tickets.
 *
 * The ring's key has no TTL: a fleet may stay down longer than any TTL
 * short enough to matter, and without one a volatile-* eviction policy
 * leaves it alone.  A ring that is gone all the same (a Redis restarted
 * without persistence) is created again, at generation 1, by the next
 * node that syncs; tickets under the lost keys then cost a full
 * handshake.  A ring that is present but does not load is never
 * overwritten: it may be sealed with a fleet key this node lacks.
 */


#include "tsr_tickets.h"
#include "tsr_scripts.h"
#include "tsr_seal.h"
#include "tsr_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>




typedef struct {
    uint64_t             gen;           /* the generation it encrypts in */
    uint64_t             stop_ms;       /* stopped encrypting; 0: not yet */
    uint64_t             decrypt_until; /* UINT64_MAX: current and next */
    uint8_t              name[TSR_TICKETS_NAME_LEN];
    uint8_t              hmac[TSR_TICKETS_HMAC_LEN];
    uint8_t              aes[TSR_TICKETS_AES_LEN];
} tsr_tickets_key_t;


/* immutable once loaded: a new ring replaces it as a whole */
typedef struct {
    uint64_t             gen;
    uint64_t             rotated_at;    /* Redis' clock */
    uint64_t             built_ms;      /* the builder's clock */
    uint64_t             encrypt_until; /* of the current key */
    size_t               nkeys;
    size_t               current;       /* index into keys */
    tsr_tickets_key_t    keys[TSR_TICKETS_MAX_KEYS];   /* gen descending */
} tsr_tickets_ring_t;


struct tsr_tickets_s {
    tsr_keyring_t       *keys;
    EVP_CIPHER          *cipher;        /* fetched once, for every ticket */
    tsr_tickets_ring_t  *ring;
    char                *name;          /* the ring's Redis key */
    size_t               namelen;
    uint64_t             period;
    uint64_t             lifetime;

    /* synchronous: the first load, tsr_tickets_sync(), tsr-admin */
    tsr_store_t         *store;

    const tsr_script_t  *script;

    /* contexts attached, detached by destroy */
    SSL_CTX            **ctxs;
    size_t               nctxs;
    size_t               nalloc;

    tsr_log_pt           log;
    void                *log_data;
    time_t               last_log;      /* of the callback, rate-limited */
    time_t               last_rollback; /* logged a refused older ring */

    /*
     * Plain counters: one thread uses an object at a time (see tsr.h).
     */
    tsr_tickets_stats_t  stats;

    unsigned             redis:1;
    unsigned             never_block:1;
    unsigned             no_rotate:1;
    unsigned             force:1;           /* tsr_tickets_rotate_now() */
    unsigned             rolled_back:1;     /* the last ring read was
                                               older than the one in use */
    unsigned             unreadable:1;      /* it did not load: never
                                               overwritten */
    unsigned             sent:1;            /* "sent_tag" is set */

    /* the tag of the last ring tsr_tickets_rotate_async() sent */
    uint8_t              sent_tag[TSR_SEAL_TAG_LEN];

    char                 addr[TSR_STORE_ADDR_LEN];
    char                 err[TSR_TICKETS_ERR_LEN];
};


static int tsr_tickets_conf_redis(tsr_tickets_t *t,
    const tsr_store_conf_t *conf, char *err, size_t errlen);
static int tsr_tickets_find_script(tsr_tickets_t *t, char *err,
    size_t errlen);
static int tsr_tickets_index(void);
static void tsr_tickets_init_index(void);
static void tsr_tickets_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp);
static void tsr_tickets_forget(tsr_tickets_t *t, SSL_CTX *ctx);
static int tsr_tickets_key_cb(SSL *ssl, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc);
static int tsr_tickets_encrypt(tsr_tickets_t *t, uint64_t now,
    unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx);
static int tsr_tickets_decrypt(tsr_tickets_t *t, SSL *ssl, uint64_t now,
    const unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx);
static int tsr_tickets_set_mac(EVP_MAC_CTX *hctx, const uint8_t *key);
static int tsr_tickets_load(tsr_tickets_t *t, const uint8_t *val,
    size_t len);
static int tsr_tickets_parse(tsr_tickets_t *t, uint64_t gen,
    uint64_t rotated_at, const uint8_t *p, size_t len,
    tsr_tickets_ring_t *ring);
static int tsr_tickets_build(tsr_tickets_t *t, const tsr_tickets_ring_t *old,
    uint64_t now, uint8_t *out, size_t *outlen);
static int tsr_tickets_new_key(tsr_tickets_key_t *k, uint64_t gen);
static void tsr_tickets_free_ring(tsr_tickets_ring_t *ring);
static uint64_t tsr_tickets_add(uint64_t a, uint64_t b);
static uint64_t tsr_tickets_get64(const uint8_t *p);
static void tsr_tickets_put64(uint8_t *p, uint64_t v);
static void tsr_tickets_hex(const uint8_t *p, size_t len, char *out);
static void tsr_tickets_set_error(tsr_tickets_t *t, const char *fmt, ...)
    TSR_PRINTF(2, 3);
static void tsr_tickets_log(tsr_tickets_t *t, int level, const char *fmt,
    ...) TSR_PRINTF(3, 4);
static void tsr_tickets_ssl_error(tsr_tickets_t *t, const char *call);


static CRYPTO_ONCE  tsr_tickets_once = CRYPTO_ONCE_STATIC_INIT;
static int          tsr_tickets_ctx_index = -1;


tsr_tickets_t *
tsr_tickets_create(const tsr_tickets_conf_t *conf, char *err, size_t errlen)
{
    size_t          plen, slen, i;
    tsr_tickets_t  *t;
    const char     *prefix, *scope;

    t = NULL;

    if (conf == NULL || conf->keys == NULL
        || tsr_keyring_count(conf->keys) == 0)
    {
        tsr_errf(err, errlen, "ticket keys: no fleet key");
        return NULL;
    }

    prefix = (conf->prefix != NULL) ? conf->prefix : TSR_DEFAULT_PREFIX;
    scope = (conf->scope != NULL) ? conf->scope : TSR_TICKETS_DEFAULT_SCOPE;

    plen = strlen(prefix);
    slen = strlen(scope);

    if (slen == 0 || slen > TSR_TICKETS_MAX_SCOPE) {
        tsr_errf(err, errlen, "ticket keys: scope of %zu bytes, "
                 "must be 1 to %d", slen, TSR_TICKETS_MAX_SCOPE);
        return NULL;
    }

    /* the scope shows in logs and in redis-cli: keep it printable */

    for (i = 0; i < slen; i++) {
        if (scope[i] <= 0x20 || scope[i] >= 0x7f) {
            tsr_errf(err, errlen, "ticket keys: invalid scope "
                     "\"%.*s\"", (int) slen, scope);
            return NULL;
        }
    }

    if (plen + sizeof("tk:") - 1 + slen > TSR_MAX_KEY_NAME) {
        tsr_errf(err, errlen, "ticket keys: prefix and scope make "
                 "a key name over %d bytes", TSR_MAX_KEY_NAME);
        return NULL;
    }

    if (conf->period_ms != 0
        && (conf->period_ms < TSR_TICKETS_MIN_PERIOD
            || conf->period_ms > TSR_TICKETS_MAX_PERIOD))
    {
        tsr_errf(err, errlen, "ticket keys: rotation period of "
                 "%llu ms, must be %d ms to 366 days",
                 (unsigned long long) conf->period_ms,
                 TSR_TICKETS_MIN_PERIOD);
        return NULL;
    }

    if (conf->lifetime_ms > TSR_TICKETS_MAX_LIFETIME) {
        tsr_errf(err, errlen, "ticket keys: ticket lifetime of "
                 "%llu ms, must be at most 366 days",
                 (unsigned long long) conf->lifetime_ms);
        return NULL;
    }

    t = OPENSSL_zalloc(sizeof(tsr_tickets_t));
    if (t == NULL) {
        tsr_errf(err, errlen, "ticket keys: out of memory");
        return NULL;
    }

    t->keys = conf->keys;
    t->period = conf->period_ms ? conf->period_ms
                                : TSR_TICKETS_DEFAULT_PERIOD;
    t->lifetime = conf->lifetime_ms ? conf->lifetime_ms
                                    : TSR_TICKETS_DEFAULT_LIFETIME;
    t->no_rotate = conf->no_rotate;
    t->log = conf->log;
    t->log_data = conf->log_data;

    t->namelen = plen + sizeof("tk:") - 1 + slen;

    t->name = OPENSSL_malloc(t->namelen + 1);
    if (t->name == NULL) {
        tsr_errf(err, errlen, "ticket keys: out of memory");
        goto failed;
    }

    (void) snprintf(t->name, t->namelen + 1, "%stk:%s", prefix, scope);

    /* fetched once: every ticket uses it */

    t->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (t->cipher == NULL) {
        tsr_errf(err, errlen, "ticket keys: "
                 "EVP_CIPHER_fetch(\"AES-256-CBC\") failed");
        ERR_clear_error();
        goto failed;
    }

    if (tsr_tickets_find_script(t, err, errlen) != TSR_OK) {
        goto failed;
    }

    if (conf->store_conf != NULL
        && tsr_tickets_conf_redis(t, conf->store_conf, err, errlen)
           != TSR_OK)
    {
        goto failed;
    }

    return t;

failed:

    tsr_tickets_destroy(t);

    return NULL;
}


/*
 * The ring's synchronous client is a store of its own with the same
 * address: the ring's key goes where the store routes it, to the one
 * server, the master of its slot or the master the sentinels name.
 */

static int
tsr_tickets_conf_redis(tsr_tickets_t *t, const tsr_store_conf_t *conf,
    char *err, size_t errlen)
{
    t->store = tsr_store_create(conf, err, errlen);
    if (t->store == NULL) {
        return TSR_EINVAL;
    }

    t->never_block = conf->never_block;

    (void) snprintf(t->addr, sizeof(t->addr), "%s", t->store->srv.addr);

    t->redis = 1;

    return TSR_OK;
}


static int
tsr_tickets_find_script(tsr_tickets_t *t, char *err, size_t errlen)
{
    size_t  i;

    for (i = 0; i < tsr_nscripts; i++) {
        if (strcmp(tsr_scripts[i].name, TSR_TICKETS_SCRIPT) == 0) {
            t->script = &tsr_scripts[i];
            break;
        }
    }

    if (t->script == NULL) {
        tsr_errf(err, errlen, "ticket keys: script \"%s\" is not "
                 "built in", TSR_TICKETS_SCRIPT);
        return TSR_EINVAL;
    }

    return TSR_OK;
}


void
tsr_tickets_destroy(tsr_tickets_t *t)
{
    if (t == NULL) {
        return;
    }

    while (t->nctxs != 0) {
        tsr_tickets_detach(t->ctxs[t->nctxs - 1]);
    }

    tsr_tickets_free_ring(t->ring);

    tsr_store_destroy(t->store);

    OPENSSL_free(t->ctxs);
    OPENSSL_free(t->name);
    EVP_CIPHER_free(t->cipher);
    OPENSSL_clear_free(t, sizeof(tsr_tickets_t));
}


int
tsr_tickets_attach(tsr_tickets_t *t, SSL_CTX *ctx)
{
    size_t          n;
    SSL_CTX       **ctxs;
    tsr_tickets_t  *old;

    if (t == NULL || ctx == NULL) {
        return TSR_EINVAL;
    }

    if (tsr_tickets_index() != TSR_OK) {
        tsr_tickets_set_error(t, "SSL_CTX_get_ex_new_index() failed");
        return TSR_ENOMEM;
    }

    old = SSL_CTX_get_ex_data(ctx, tsr_tickets_ctx_index);

    if (old == t) {
        return TSR_OK;
    }

    if (t->nctxs == t->nalloc) {
        n = t->nalloc ? 2 * t->nalloc : 4;

        ctxs = OPENSSL_realloc(t->ctxs, n * sizeof(SSL_CTX *));
        if (ctxs == NULL) {
            tsr_tickets_set_error(t, "attach: out of memory");
            return TSR_ENOMEM;
        }

        t->ctxs = ctxs;
        t->nalloc = n;
    }

    if (SSL_CTX_set_ex_data(ctx, tsr_tickets_ctx_index, t) != 1) {
        ERR_clear_error();
        tsr_tickets_set_error(t, "SSL_CTX_set_ex_data() failed");
        return TSR_ENOMEM;
    }

    if (old != NULL) {
        tsr_tickets_forget(old, ctx);
    }

    t->ctxs[t->nctxs++] = ctx;

    /* cannot fail: it only stores the pointer */
    (void) SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tsr_tickets_key_cb);

    if (SSL_CTX_get_timeout(ctx) > 0
        && (uint64_t) SSL_CTX_get_timeout(ctx) * 1000 > t->lifetime)
    {
        tsr_tickets_log(t, TSR_LOG_WARN, "ticket keys \"%s\": the session "
                        "timeout of %ld s exceeds the ticket lifetime of "
                        "%llu ms; older tickets will not resume", t->name,
                        (long) SSL_CTX_get_timeout(ctx),
                        (unsigned long long) t->lifetime);
    }

    return TSR_OK;
}


void
tsr_tickets_detach(SSL_CTX *ctx)
{
    tsr_tickets_t  *t;

    if (ctx == NULL || tsr_tickets_index() != TSR_OK) {
        return;
    }

    t = SSL_CTX_get_ex_data(ctx, tsr_tickets_ctx_index);
    if (t == NULL) {
        return;
    }

    /* cannot fail: the slot exists since attach */
    (void) SSL_CTX_set_ex_data(ctx, tsr_tickets_ctx_index, NULL);
    (void) SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, NULL);

    tsr_tickets_forget(t, ctx);
}


static void
tsr_tickets_forget(tsr_tickets_t *t, SSL_CTX *ctx)
{
    size_t  i;

    for (i = 0; i < t->nctxs; i++) {
        if (t->ctxs[i] == ctx) {
            t->ctxs[i] = t->ctxs[--t->nctxs];
            return;
        }
    }
}


static int
tsr_tickets_index(void)
{
    if (!CRYPTO_THREAD_run_once(&tsr_tickets_once, tsr_tickets_init_index)
        || tsr_tickets_ctx_index < 0)
    {
        return TSR_ERROR;
    }

    return TSR_OK;
}


static void
tsr_tickets_init_index(void)
{
    tsr_tickets_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                     tsr_tickets_ctx_free);
}


/*
 * A context freed while attached: the object forgets it, so that destroy
 * does not touch freed memory.  The object itself is not owned.
 */

static void
tsr_tickets_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
    if (ptr != NULL) {
        tsr_tickets_forget(ptr, parent);
    }
}


/*
 * OpenSSL's ticket key callback.  enc = 1: name the key, pick the IV and
 * set up AES-256-CBC and HMAC-SHA256 for a new ticket; 1 issues it, 0
 * issues none (TLS 1.2 sends no ticket, TLS 1.3 skips it), < 0 would be
 * fatal and is never returned.  enc = 0: find the key the ticket names;
 * 0 means unknown (full handshake), 1 resume, 2 resume and issue a new
 * ticket.  Memory only: it never waits for anything.
 */

static int
tsr_tickets_key_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    tsr_tickets_t  *t;

    if (tsr_tickets_index() != TSR_OK) {
        return 0;
    }

    /*
     * OpenSSL calls the callback of the context the connection started
     * on; this is the context SNI may have switched to since.  Objects
     * are attached to every context of a listener alike (see tsr.h).
     */

    t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tsr_tickets_ctx_index);
    if (t == NULL) {
        return 0;
    }

    if (enc) {
        return tsr_tickets_encrypt(t, tsr_unix_ms(), name, iv, ectx,
                                   hctx);
    }

    return tsr_tickets_decrypt(t, ssl, tsr_unix_ms(), name, iv, ectx,
                               hctx);
}


static int
tsr_tickets_encrypt(tsr_tickets_t *t, uint64_t now, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx)
{
    int                        ivlen;
    time_t                     sec;
    const tsr_tickets_key_t   *k;
    const tsr_tickets_ring_t  *ring;

    ring = t->ring;

    if (ring == NULL || now >= ring->encrypt_until) {
        t->stats.not_issued++;

        sec = (time_t) (now / 1000);

        if (sec != t->last_log) {
            t->last_log = sec;

            if (ring == NULL) {
                tsr_tickets_log(t, TSR_LOG_ERR, "ticket keys \"%s\": no "
                                "ring loaded, no session ticket issued",
                                t->name);

            } else {
                tsr_tickets_log(t, TSR_LOG_ERR, "ticket keys \"%s\": "
                                "generation %llu expired %llu ms ago and no "
                                "newer one arrived, no session ticket "
                                "issued", t->name,
                                (unsigned long long) ring->gen,
                                (unsigned long long)
                                    (now - ring->encrypt_until));
            }
        }

        return 0;
    }

    k = &ring->keys[ring->current];

    ivlen = EVP_CIPHER_get_iv_length(t->cipher);

    if (ivlen <= 0 || ivlen > EVP_MAX_IV_LENGTH
        || RAND_bytes(iv, ivlen) != 1)
    {
        tsr_tickets_ssl_error(t, "RAND_bytes()");
        goto failed;
    }

    if (EVP_EncryptInit_ex2(ectx, t->cipher, k->aes, iv, NULL) != 1) {
        tsr_tickets_ssl_error(t, "EVP_EncryptInit_ex2()");
        goto failed;
    }

    if (tsr_tickets_set_mac(hctx, k->hmac) != TSR_OK) {
        tsr_tickets_ssl_error(t, "EVP_MAC_CTX_set_params()");
        goto failed;
    }

    memcpy(name, k->name, TSR_TICKETS_NAME_LEN);

    t->stats.issued++;

    return 1;

failed:

    t->stats.not_issued++;

    return 0;
}


static int
tsr_tickets_decrypt(tsr_tickets_t *t, SSL *ssl, uint64_t now,
    const unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx)
{
    size_t                     i;
    const tsr_tickets_key_t   *k;
    const tsr_tickets_ring_t  *ring;

    ring = t->ring;
    k = NULL;

    if (ring != NULL) {
        for (i = 0; i < ring->nkeys; i++) {
            if (memcmp(ring->keys[i].name, name, TSR_TICKETS_NAME_LEN)
                == 0)
            {
                k = &ring->keys[i];
                break;
            }
        }
    }

    /* an expired previous key is as good as unknown */

    if (k == NULL || now >= k->decrypt_until) {
        t->stats.unknown_key++;
        return 0;
    }

    if (EVP_DecryptInit_ex2(ectx, t->cipher, k->aes, iv, NULL) != 1) {
        tsr_tickets_ssl_error(t, "EVP_DecryptInit_ex2()");
        t->stats.unknown_key++;
        return 0;
    }

    if (tsr_tickets_set_mac(hctx, k->hmac) != TSR_OK) {
        tsr_tickets_ssl_error(t, "EVP_MAC_CTX_set_params()");
        t->stats.unknown_key++;
        return 0;
    }

    t->stats.decrypted++;

    /*
     * As nginx: TLS 1.3 resumes without a new ticket unless asked for one,
     * and a ticket under any key but the current one is replaced, so that
     * clients move to the current key long before theirs expires.
     */

    if (SSL_version(ssl) == TLS1_3_VERSION || k != &ring->keys[ring->current])
    {
        t->stats.renewed++;
        return 2;
    }

    return 1;
}


static int
tsr_tickets_set_mac(EVP_MAC_CTX *hctx, const uint8_t *key)
{
    OSSL_PARAM  params[3];

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  (void *) key,
                                                  TSR_TICKETS_HMAC_LEN);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();

    return (EVP_MAC_CTX_set_params(hctx, params) == 1) ? TSR_OK : TSR_ERROR;
}


int
tsr_tickets_rotate_now(tsr_tickets_t *t)
{
    int              rc;
    uint64_t         gen;
    struct timespec  ts;

    if (t == NULL || t->no_rotate) {
        return TSR_EINVAL;
    }

    gen = (t->ring != NULL) ? t->ring->gen : 0;

    t->force = 1;
    rc = tsr_tickets_sync(t);

    /*
     * The script judges the period by Redis' clock, in milliseconds: a
     * ring written within the same millisecond as the one it replaces
     * is kept, however small the period.  Once more, a little later.
     */

    if (rc == TSR_OK && t->ring != NULL && t->ring->gen == gen) {
        ts.tv_sec = 0;
        ts.tv_nsec = 2 * 1000 * 1000;
        (void) nanosleep(&ts, NULL);

        rc = tsr_tickets_sync(t);
    }

    t->force = 0;

    return rc;
}


int
tsr_tickets_sync(tsr_tickets_t *t)
{
    int                 rc, absent, logged;
    char                period[32];
    size_t              len, plen, slen;
    uint8_t             gen[8];
    uint64_t            now, rotations;
    const char         *argv[4];
    size_t              argvlen[4];
    tsr_store_stats_t   before, after;
    uint8_t             val[TSR_MAX_VALUE];
    uint8_t             sealed[TSR_MAX_VALUE];
    uint8_t             plain[TSR_TICKETS_RING_MAX];

    if (t == NULL) {
        return TSR_EINVAL;
    }

    if (!t->redis) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": no redis configured",
                              t->name);
        return TSR_EINVAL;
    }

    if (t->never_block) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": synchronous redis "
                              "calls are disabled (never_block)", t->name);
        return TSR_EINVAL;
    }

    plen = 0;
    logged = 0;

    /*
     * One deadline for the whole call: the connect timeout, then one
     * command timeout for every command together.  Start-up waits on
     * this, and a server answering a byte just within each read's
     * timeout must not hold it for ever.
     */

    tsr_store_set_deadline(t->store, (uint64_t) tsr_now_ms()
                                     + t->store->srv.connect_timeout_ms
                                     + t->store->srv.command_timeout_ms);

    /*
     * The store answers a value of another type or size as a miss and
     * counts it as a bad value: for the ring that is a bad ring.
     */

    tsr_store_stats(t->store, &before);

    len = sizeof(val);

    rc = tsr_store_get(t->store, t->name, t->namelen, val, &len);

    tsr_store_stats(t->store, &after);

    if (rc == TSR_NOT_FOUND && after.bad_values != before.bad_values) {
        t->stats.load_errors++;
        tsr_tickets_set_error(t, "ticket keys \"%s\": %s", t->name,
                              tsr_store_error(t->store));

        /* too long for any ring, or not a string */
        rc = (strstr(t->err, "over the limit") != NULL) ? TSR_ETOOBIG
                                                         : TSR_EPROTO;

    } else if (rc == TSR_OK) {
        rc = tsr_tickets_load(t, val, len);
        logged = (rc != TSR_OK);

    } else if (rc != TSR_NOT_FOUND) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": %s", t->name,
                              tsr_store_error(t->store));
    }

    /*
     * A ring that does not load is never overwritten: it may be sealed
     * with a fleet key this node lacks.  One older than the ring in use
     * is, at once, by the next generation of ours (see the script).
     */

    if (rc != TSR_OK && rc != TSR_NOT_FOUND && !t->rolled_back) {
        goto failed;
    }

    absent = (rc == TSR_NOT_FOUND);

    now = tsr_unix_ms();

    if (t->no_rotate || (!absent && !t->force && !tsr_tickets_due(t, now))) {
        goto done;
    }

    if (absent && t->ring != NULL) {
        tsr_tickets_log(t, TSR_LOG_WARN, "ticket keys \"%s\": the ring of "
                        "generation %llu is gone from redis at %s, writing "
                        "the next one", t->name,
                        (unsigned long long) t->ring->gen, t->addr);
    }

    plen = sizeof(plain);

    /* built on the newest ring known: never an older key made current */

    rc = tsr_tickets_build(t, t->ring, now, plain, &plen);
    if (rc != TSR_OK) {
        plen = sizeof(plain);
        goto failed;
    }

    /* sealed without the header, which the script writes */

    slen = sizeof(sealed) - TSR_TICKETS_HEADER_LEN;

    rc = tsr_seal(t->keys, t->name, t->namelen, plain, plen, sealed, &slen);
    if (rc != TSR_OK || slen < TSR_SEAL_TAG_LEN) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": tsr_seal() failed: "
                              "%s", t->name, tsr_strerror(rc));
        goto failed;
    }

    /* ARGV[1]: the generation built on, as read or newer */

    if (t->ring != NULL) {
        tsr_tickets_put64(gen, t->ring->gen);
    }

    /* forced: a period of 1 ms has always passed by the time it runs */

    (void) snprintf(period, sizeof(period), "%llu",
                    t->force ? 1ULL : (unsigned long long) t->period);

    argv[0] = (const char *) gen;
    argvlen[0] = (t->ring != NULL) ? sizeof(gen) : 0;
    argv[1] = period;
    argvlen[1] = strlen(period);
    argv[2] = (const char *) sealed;
    argvlen[2] = slen;
    argv[3] = "value";
    argvlen[3] = sizeof("value") - 1;

    /*
     * The script answers with the ring stored afterwards, ours or the
     * one another node wrote first; its tag says which.
     */

    memcpy(t->sent_tag, sealed + slen - TSR_SEAL_TAG_LEN, TSR_SEAL_TAG_LEN);
    t->sent = 1;

    rotations = t->stats.rotations;

    len = sizeof(val);

    rc = tsr_store_eval(t->store, t->script->source, t->script->len,
                        t->name, t->namelen, 4, argv, argvlen, val, &len);

    if (rc == TSR_OK) {
        rc = tsr_tickets_load(t, val, len);
        logged = (rc != TSR_OK);

    } else {
        tsr_tickets_set_error(t, "ticket keys \"%s\": %s %s", t->name,
                              rc == TSR_NOT_FOUND ? "no ring after"
                                                  : "failed:",
                              rc == TSR_NOT_FOUND ? t->script->name
                                  : tsr_store_error(t->store));
        if (rc == TSR_NOT_FOUND) {
            rc = TSR_EPROTO;
        }
    }

    t->sent = 0;

    if (rc != TSR_OK) {
        goto failed;
    }

    if (t->stats.rotations != rotations) {
        tsr_tickets_log(t, TSR_LOG_INFO, "ticket keys \"%s\": %s "
                        "generation %llu", t->name,
                        (argvlen[0] == 0) ? "created" : "rotated to",
                        (unsigned long long) t->ring->gen);
    }

done:

    OPENSSL_cleanse(plain, plen);
    tsr_store_close(t->store);
    tsr_store_set_deadline(t->store, 0);

    return rc;

failed:

    OPENSSL_cleanse(plain, plen);
    tsr_store_close(t->store);
    tsr_store_set_deadline(t->store, 0);

    if (!logged) {
        tsr_tickets_log(t, TSR_LOG_ERR, "%s", t->err);
    }

    return rc;
}


tsr_req_t *
tsr_tickets_rotate_async(tsr_tickets_t *t, tsr_store_t *st,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg)
{
    int          rc;
    char         period[32];
    size_t       plen, slen;
    uint8_t      gen[8];
    tsr_req_t   *req;
    const char  *argv[4];
    size_t       argvlen[4];
    uint8_t      sealed[TSR_MAX_VALUE];
    uint8_t      plain[TSR_TICKETS_RING_MAX];

    if (t == NULL || st == NULL || done == NULL) {
        return NULL;
    }

    if (t->no_rotate) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": rotation is off "
                              "(no_rotate)", t->name);
        return NULL;
    }

    req = NULL;

    /* as in tsr_tickets_sync(): built on the newest ring known */

    plen = sizeof(plain);

    rc = tsr_tickets_build(t, t->ring, tsr_unix_ms(), plain, &plen);
    if (rc != TSR_OK) {
        plen = sizeof(plain);
        goto failed;
    }

    slen = sizeof(sealed);

    rc = tsr_seal(t->keys, t->name, t->namelen, plain, plen, sealed, &slen);
    if (rc != TSR_OK || slen < TSR_SEAL_TAG_LEN) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": tsr_seal() failed: "
                              "%s", t->name, tsr_strerror(rc));
        goto failed;
    }

    if (t->ring != NULL) {
        tsr_tickets_put64(gen, t->ring->gen);
    }

    (void) snprintf(period, sizeof(period), "%llu",
                    (unsigned long long) t->period);

    argv[0] = (const char *) gen;
    argvlen[0] = (t->ring != NULL) ? sizeof(gen) : 0;
    argv[1] = period;
    argvlen[1] = strlen(period);
    argv[2] = (const char *) sealed;
    argvlen[2] = slen;
    argv[3] = "value";
    argvlen[3] = sizeof("value") - 1;

    req = tsr_store_eval_async(st, t->script->source, t->script->len,
                               t->name, t->namelen, 4, argv, argvlen,
                               timeout_ms, done, arg);
    if (req == NULL) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": %s", t->name,
                              tsr_store_error(st));
        goto failed;
    }

    /* its tag tells the ring when it comes back as the one stored */

    memcpy(t->sent_tag, sealed + slen - TSR_SEAL_TAG_LEN, TSR_SEAL_TAG_LEN);
    t->sent = 1;

failed:

    OPENSSL_cleanse(plain, plen);

    return req;
}


int
tsr_tickets_load_value(tsr_tickets_t *t, const uint8_t *val, size_t len)
{
    if (t == NULL || (val == NULL && len != 0)) {
        return TSR_EINVAL;
    }

    return tsr_tickets_load(t, val, len);
}


/*
 * Opens and checks a ring value, then swaps it in; on failure the ring in
 * use stays and the failure is counted.
 */

static int
tsr_tickets_load(tsr_tickets_t *t, const uint8_t *val, size_t len)
{
    int                  rc;
    size_t               plen;
    uint64_t             gen, rotated_at;
    tsr_tickets_ring_t  *ring, *old;
    uint8_t              plain[TSR_TICKETS_RING_MAX];

    ring = NULL;
    plen = 0;

    if (len > TSR_MAX_VALUE) {
        rc = TSR_ETOOBIG;
        tsr_tickets_set_error(t, "ticket keys \"%s\": value of %zu bytes "
                              "is over the limit of %d", t->name, len,
                              TSR_MAX_VALUE);
        goto failed;
    }

    if (len < TSR_TICKETS_HEADER_LEN + TSR_SEAL_OVERHEAD
              + TSR_TICKETS_RING_HEAD
        || len > TSR_TICKETS_VALUE_MAX)
    {
        rc = TSR_EPROTO;
        tsr_tickets_set_error(t, "ticket keys \"%s\": value of %zu bytes, "
                              "a ring takes %d to %d", t->name, len,
                              (int) (TSR_TICKETS_HEADER_LEN
                                     + TSR_SEAL_OVERHEAD
                                     + TSR_TICKETS_RING_HEAD),
                              (int) TSR_TICKETS_VALUE_MAX);
        goto failed;
    }

    gen = tsr_tickets_get64(val);
    rotated_at = tsr_tickets_get64(val + 8);

    plen = sizeof(plain);

    rc = tsr_open(t->keys, t->name, t->namelen, val + TSR_TICKETS_HEADER_LEN,
                  len - TSR_TICKETS_HEADER_LEN, plain, &plen);
    if (rc != TSR_OK) {
        plen = 0;
        tsr_tickets_set_error(t, "ticket keys \"%s\": ring of generation "
                              "%llu does not open: %s", t->name,
                              (unsigned long long) gen, tsr_strerror(rc));
        goto failed;
    }

    ring = OPENSSL_zalloc(sizeof(tsr_tickets_ring_t));
    if (ring == NULL) {
        rc = TSR_ENOMEM;
        tsr_tickets_set_error(t, "ticket keys \"%s\": out of memory",
                              t->name);
        goto failed;
    }

    rc = tsr_tickets_parse(t, gen, rotated_at, plain, plen, ring);
    if (rc != TSR_OK) {
        goto failed;
    }

    OPENSSL_cleanse(plain, plen);

    old = t->ring;

    /*
     * Generations only grow.  An older ring is Redis rolled back (a
     * restored backup, a failover to a lagging replica, a value written
     * back): it would bring back keys that have stopped encrypting, and
     * the next rotation built on it would make one of them current
     * again.  Refused; the ring in use stays until a newer one comes.
     */

    if (old != NULL && ring->gen < old->gen) {
        tsr_tickets_free_ring(ring);

        t->rolled_back = 1;
        t->unreadable = 0;
        t->stats.load_errors++;

        tsr_tickets_set_error(t, "ticket keys \"%s\": ring of generation "
                              "%llu refused: older than generation %llu in "
                              "use (redis rolled back?)", t->name,
                              (unsigned long long) gen,
                              (unsigned long long) old->gen);

        /* it is read again at every refresh: logged once a minute */

        if (time(NULL) - t->last_rollback >= TSR_TICKETS_ROLLBACK_LOG) {
            t->last_rollback = time(NULL);
            tsr_tickets_log(t, TSR_LOG_ERR, "%s", t->err);
        }

        return TSR_EPROTO;
    }

    if (old == NULL || old->gen != ring->gen) {
        tsr_tickets_log(t, TSR_LOG_INFO, "ticket keys \"%s\": generation "
                        "%llu loaded, %zu keys, current key %02x%02x%02x%02x",
                        t->name, (unsigned long long) ring->gen, ring->nkeys,
                        ring->keys[ring->current].name[0],
                        ring->keys[ring->current].name[1],
                        ring->keys[ring->current].name[2],
                        ring->keys[ring->current].name[3]);
    }

    /* the ring tsr_tickets_rotate_async() sent, back as stored */

    if (t->sent
        && CRYPTO_memcmp(val + len - TSR_SEAL_TAG_LEN, t->sent_tag,
                         TSR_SEAL_TAG_LEN)
           == 0)
    {
        t->sent = 0;
        t->stats.rotations++;

        tsr_tickets_log(t, TSR_LOG_INFO, "ticket keys \"%s\": %s "
                        "generation %llu", t->name,
                        (ring->gen == 1) ? "created" : "rotated to",
                        (unsigned long long) ring->gen);
    }

    /* one pointer store: the callback sees the old ring or the new one */

    t->ring = ring;
    t->rolled_back = 0;
    t->unreadable = 0;
    tsr_tickets_free_ring(old);

    t->stats.loads++;

    return TSR_OK;

failed:

    OPENSSL_cleanse(plain, plen);
    tsr_tickets_free_ring(ring);

    t->rolled_back = 0;
    t->unreadable = 1;
    t->stats.load_errors++;

    tsr_tickets_log(t, TSR_LOG_ERR, "%s", t->err);

    return rc;
}


/*
 * The ring's plaintext (see tsr_tickets.h) into "ring", every field
 * checked: it came from Redis, and opening it only proves a fleet key
 * sealed it.
 */

static int
tsr_tickets_parse(tsr_tickets_t *t, uint64_t gen, uint64_t rotated_at,
    const uint8_t *p, size_t len, tsr_tickets_ring_t *ring)
{
    size_t              i, j, n;
    uint64_t            built;
    const char         *why;
    const uint8_t      *r;
    tsr_tickets_key_t  *k, tmp;

    why = NULL;

    if (len < TSR_TICKETS_RING_HEAD || p[0] != TSR_TICKETS_RING_V1) {
        why = "unknown ring version";
        goto failed;
    }

    if (tsr_tickets_get64(p + 1) != gen) {
        why = "the header's generation is not the sealed one";
        goto failed;
    }

    /* the script counts in Lua numbers, exact below 2^53 */

    if (gen == 0 || gen >= ((uint64_t) 1 << 53)) {
        why = "invalid generation";
        goto failed;
    }

    built = tsr_tickets_get64(p + 9);
    n = p[17];

    if (n < 2 || n > TSR_TICKETS_MAX_KEYS) {
        why = "invalid number of keys";
        goto failed;
    }

    if (len != TSR_TICKETS_RING_HEAD + n * TSR_TICKETS_RECORD_LEN) {
        why = "length does not match the number of keys";
        goto failed;
    }

    /*
     * The script writes rotated_at right after the builder sealed the
     * ring: far apart, one of them was forged (or clocks are off by a
     * whole period), and trusting rotated_at would stretch the current
     * key's period at will.
     */

    if (rotated_at == 0 || rotated_at > built + t->period
        || built > rotated_at + t->period)
    {
        why = "rotation time is far from the sealed build time";
        goto failed;
    }

    ring->gen = gen;
    ring->rotated_at = rotated_at;
    ring->built_ms = built;
    ring->nkeys = n;

    r = p + TSR_TICKETS_RING_HEAD;

    for (i = 0; i < n; i++, r += TSR_TICKETS_RECORD_LEN) {
        k = &ring->keys[i];

        k->gen = tsr_tickets_get64(r);
        k->stop_ms = tsr_tickets_get64(r + TSR_TICKETS_OFF_STOP);
        memcpy(k->name, r + TSR_TICKETS_OFF_NAME, TSR_TICKETS_NAME_LEN);
        memcpy(k->hmac, r + TSR_TICKETS_OFF_HMAC, TSR_TICKETS_HMAC_LEN);
        memcpy(k->aes, r + TSR_TICKETS_OFF_AES, TSR_TICKETS_AES_LEN);

        if (k->gen == 0 || k->gen > gen + 1) {
            why = "a key of an invalid generation";
            goto failed;
        }

        if (k->gen + 1 >= gen) {
            /* next, current, and the key that stopped when gen began */

            if (k->stop_ms != 0) {
                why = "a key stopped before its time";
                goto failed;
            }

            k->stop_ms = (k->gen + 1 == gen) ? rotated_at : 0;

        } else if (k->stop_ms == 0 || k->stop_ms > rotated_at) {
            why = "a previous key without a valid stop time";
            goto failed;
        }

        k->decrypt_until = (k->gen >= gen)
                           ? UINT64_MAX
                           : tsr_tickets_add(k->stop_ms,
                                             tsr_tickets_add(t->lifetime,
                                                             t->period));

        for (j = 0; j < i; j++) {
            if (ring->keys[j].gen == k->gen) {
                why = "two keys of one generation";
                goto failed;
            }

            if (memcmp(ring->keys[j].name, k->name, TSR_TICKETS_NAME_LEN)
                == 0)
            {
                why = "two keys of one name";
                goto failed;
            }
        }
    }

    /* newest first; insertion sort of at most 8 */

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && ring->keys[j - 1].gen < ring->keys[j].gen; j--)
        {
            tmp = ring->keys[j];
            ring->keys[j] = ring->keys[j - 1];
            ring->keys[j - 1] = tmp;
        }
    }

    OPENSSL_cleanse(&tmp, sizeof(tmp));

    /* distinct generations, none above gen + 1, at least two keys */

    if (ring->keys[0].gen != gen + 1 || ring->keys[1].gen != gen) {
        why = "no current or no next key";
        goto failed;
    }

    ring->current = 1;
    ring->encrypt_until = tsr_tickets_add(rotated_at,
                                          t->period + t->period / 4);

    return TSR_OK;

failed:

    tsr_tickets_set_error(t, "ticket keys \"%s\": ring of generation %llu "
                          "rejected: %s", t->name, (unsigned long long) gen,
                          why);

    return TSR_EPROTO;
}


/*
 * The plaintext of the generation after "old" (the first one when "old"
 * is NULL): next becomes current, current becomes previous, a new next
 * key, and previous keys whose tickets have all expired by "now" go.
 */

static int
tsr_tickets_build(tsr_tickets_t *t, const tsr_tickets_ring_t *old,
    uint64_t now, uint8_t *out, size_t *outlen)
{
    int                  rc;
    size_t               i, n, prev;
    uint8_t             *p;
    uint64_t             gen;
    tsr_tickets_key_t    keys[TSR_TICKETS_MAX_KEYS];

    n = 0;
    rc = TSR_ERROR;

    gen = (old != NULL) ? old->gen + 1 : 1;

    if (tsr_tickets_new_key(&keys[n++], gen + 1) != TSR_OK) {
        goto failed;
    }

    if (old == NULL) {
        if (tsr_tickets_new_key(&keys[n++], gen) != TSR_OK) {
            goto failed;
        }

    } else {
        prev = 0;

        /* old->keys is newest first: next, current, previous... */

        for (i = 0; i < old->nkeys; i++) {
            if (old->keys[i].gen + 1 < gen) {

                if (old->keys[i].decrypt_until <= now) {
                    continue;
                }

                if (prev == TSR_TICKETS_MAX_KEYS - 3) {
                    tsr_tickets_log(t, TSR_LOG_WARN, "ticket keys \"%s\": "
                                    "a key of generation %llu leaves the "
                                    "ring early: the ticket lifetime spans "
                                    "more than %d periods", t->name,
                                    (unsigned long long) old->keys[i].gen,
                                    TSR_TICKETS_MAX_KEYS - 3);
                    continue;
                }

                prev++;
            }

            /* in memory, stop_ms is resolved: 0 for the old current only */
            keys[n++] = old->keys[i];
        }
    }

    if (n * TSR_TICKETS_RECORD_LEN + TSR_TICKETS_RING_HEAD > *outlen) {
        rc = TSR_EINVAL;
        goto failed;
    }

    p = out;

    *p++ = TSR_TICKETS_RING_V1;
    tsr_tickets_put64(p, gen);
    p += 8;
    tsr_tickets_put64(p, now);
    p += 8;
    *p++ = (uint8_t) n;

    for (i = 0; i < n; i++) {
        tsr_tickets_put64(p, keys[i].gen);
        tsr_tickets_put64(p + TSR_TICKETS_OFF_STOP,
                          (keys[i].gen + 1 >= gen) ? 0 : keys[i].stop_ms);
        memcpy(p + TSR_TICKETS_OFF_NAME, keys[i].name, TSR_TICKETS_NAME_LEN);
        memcpy(p + TSR_TICKETS_OFF_HMAC, keys[i].hmac, TSR_TICKETS_HMAC_LEN);
        memcpy(p + TSR_TICKETS_OFF_AES, keys[i].aes, TSR_TICKETS_AES_LEN);
        p += TSR_TICKETS_RECORD_LEN;
    }

    *outlen = p - out;
    rc = TSR_OK;

failed:

    OPENSSL_cleanse(keys, sizeof(keys));

    if (rc != TSR_OK) {
        tsr_tickets_set_error(t, "ticket keys \"%s\": cannot build "
                              "generation %llu", t->name,
                              (unsigned long long) gen);
    }

    return rc;
}


static int
tsr_tickets_new_key(tsr_tickets_key_t *k, uint64_t gen)
{
    memset(k, 0, sizeof(tsr_tickets_key_t));

    k->gen = gen;

    /* the name is public, in every ticket; the keys come from the private
       generator */

    if (RAND_bytes(k->name, sizeof(k->name)) != 1
        || RAND_priv_bytes(k->hmac, sizeof(k->hmac)) != 1
        || RAND_priv_bytes(k->aes, sizeof(k->aes)) != 1)
    {
        ERR_clear_error();
        OPENSSL_cleanse(k, sizeof(tsr_tickets_key_t));
        return TSR_ERROR;
    }

    return TSR_OK;
}


static void
tsr_tickets_free_ring(tsr_tickets_ring_t *ring)
{
    if (ring != NULL) {
        OPENSSL_clear_free(ring, sizeof(tsr_tickets_ring_t));
    }
}


int
tsr_tickets_ring_key(const tsr_tickets_t *t, char *out, size_t outlen)
{
    if (t == NULL || out == NULL) {
        return TSR_EINVAL;
    }

    if (t->namelen >= outlen) {
        return TSR_ETOOBIG;
    }

    memcpy(out, t->name, t->namelen + 1);

    return (int) t->namelen;
}


int
tsr_tickets_due(const tsr_tickets_t *t, uint64_t now_ms)
{
    if (t != NULL && t->unreadable) {
        return 0;
    }

    if (t == NULL || t->ring == NULL || t->rolled_back) {
        return 1;
    }

    if (now_ms == 0) {
        now_ms = tsr_unix_ms();
    }

    return now_ms >= tsr_tickets_add(t->ring->rotated_at, t->period);
}


int
tsr_tickets_key_name(const tsr_tickets_t *t, char *out, size_t len)
{
    const tsr_tickets_ring_t  *ring;

    if (t == NULL || out == NULL || len < 2 * TSR_TICKETS_NAME_LEN + 1) {
        return TSR_EINVAL;
    }

    ring = t->ring;

    if (ring == NULL) {
        out[0] = '\0';
        return TSR_NOT_FOUND;
    }

    tsr_tickets_hex(ring->keys[ring->current].name, TSR_TICKETS_NAME_LEN,
                    out);
    out[2 * TSR_TICKETS_NAME_LEN] = '\0';

    return TSR_OK;
}


int
tsr_tickets_info(const tsr_tickets_t *t, tsr_tickets_info_t *info)
{
    size_t                     i;
    tsr_tickets_key_info_t    *ki;
    const tsr_tickets_key_t   *k;
    const tsr_tickets_ring_t  *ring;

    if (t == NULL || info == NULL) {
        return TSR_EINVAL;
    }

    memset(info, 0, sizeof(tsr_tickets_info_t));

    info->period_ms = t->period;
    info->lifetime_ms = t->lifetime;

    ring = t->ring;

    if (ring == NULL) {
        return TSR_NOT_FOUND;
    }

    info->gen = ring->gen;
    info->rotated_at_ms = ring->rotated_at;
    info->due_at_ms = tsr_tickets_add(ring->rotated_at, t->period);
    info->nkeys = ring->nkeys;

    for (i = 0; i < ring->nkeys; i++) {
        k = &ring->keys[i];
        ki = &info->keys[i];

        tsr_tickets_hex(k->name, TSR_TICKETS_NAME_LEN, ki->name);
        ki->name[2 * TSR_TICKETS_NAME_LEN] = '\0';
        ki->gen = k->gen;

        if (k->gen > ring->gen) {
            ki->role = TSR_TICKETS_NEXT;

        } else if (k->gen == ring->gen) {
            ki->role = TSR_TICKETS_CURRENT;
            ki->encrypt_until_ms = ring->encrypt_until;

        } else {
            ki->role = TSR_TICKETS_PREVIOUS;
            ki->encrypt_until_ms = k->stop_ms;
            ki->decrypt_until_ms = k->decrypt_until;
        }
    }

    return TSR_OK;
}


void
tsr_tickets_stats(const tsr_tickets_t *t, tsr_tickets_stats_t *stats)
{
    if (stats == NULL) {
        return;
    }

    if (t == NULL) {
        memset(stats, 0, sizeof(tsr_tickets_stats_t));
        return;
    }

    *stats = t->stats;
}


const char *
tsr_tickets_error(const tsr_tickets_t *t)
{
    if (t == NULL) {
        return "no ticket keys";
    }

    return t->err;
}


/* saturating: a time past the end of time is "never" */

static uint64_t
tsr_tickets_add(uint64_t a, uint64_t b)
{
    return (a > UINT64_MAX - b) ? UINT64_MAX : a + b;
}


static uint64_t
tsr_tickets_get64(const uint8_t *p)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static void
tsr_tickets_put64(uint8_t *p, uint64_t v)
{
    size_t  i;

    for (i = 8; i > 0; i--) {
        p[i - 1] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}


static void
tsr_tickets_hex(const uint8_t *p, size_t len, char *out)
{
    static const char  hex[] = "0123456789abcdef";

    while (len--) {
        *out++ = hex[*p >> 4];
        *out++ = hex[*p++ & 0xf];
    }
}


static void
tsr_tickets_set_error(tsr_tickets_t *t, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_verrf(t->err, sizeof(t->err), fmt, args);
    va_end(args);
}


static void
tsr_tickets_log(tsr_tickets_t *t, int level, const char *fmt, ...)
{
    char     msg[TSR_TICKETS_ERR_LEN + 64];
    va_list  args;

    if (t->log == NULL) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    t->log(level, msg, t->log_data);
}


/* logs a failed OpenSSL call with the queue's last entry, then clears it */

static void
tsr_tickets_ssl_error(tsr_tickets_t *t, const char *call)
{
    char    buf[256];
    time_t  sec;

    (void) tsr_err_openssl(buf, sizeof(buf));

    /* on the handshake path: at most once a second */

    sec = time(NULL);

    if (sec == t->last_log) {
        return;
    }

    t->last_log = sec;

    tsr_tickets_log(t, TSR_LOG_ERR, "ticket keys \"%s\": %s failed: %s",
                    t->name, call, buf);
}
