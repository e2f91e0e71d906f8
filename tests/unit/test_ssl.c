
/*
 * The OpenSSL binding against a private redis-server: sessions made on one
 * context resume on another one through the store (TLS 1.2 session ids,
 * TLS 1.3 stateful tickets), isolation by session id context, tampered
 * values, Redis down, stateless tickets, a chained first-level cache, the
 * per-connection slot, SNI switches, and attach/detach bookkeeping.
 */


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "tsr.h"
#include "tsr_test.h"


#define SID_CTX      "tsr-test"
#define TIMEOUT      300            /* session lifetime, seconds */
#define ROUNDS       100
#define MISSES       20
#define DOWN         5              /* handshakes with Redis stopped */
#define OUT_SIZE     1024
#define ERR_SIZE     512
#define FAKE_SIZE    64
#define SEAL_HEAD    (1 + 4 + 4 + 12)   /* version, key id, check, nonce */


typedef struct {
    int              errors;
    int              warnings;
    char             last[256];
} log_t;

/* an in-memory first-level cache standing in for nginx's shared cache */
typedef struct {
    int              keep;          /* keep references and return 1 */
    int              news;
    int              gets;
    int              get_hits;
    int              removes;
    int              n;
    unsigned int     idlen[FAKE_SIZE];
    unsigned char    id[FAKE_SIZE][SSL_MAX_SSL_SESSION_ID_LENGTH];
    SSL_SESSION     *sess[FAKE_SIZE];
    unsigned char   *der[FAKE_SIZE];
    int              derlen[FAKE_SIZE];
} fake_l1_t;

typedef struct {
    int              version;
    int              per_full;      /* sessions reported per full handshake */
    int              per_resume;    /* and per resumption */
    SSL_CTX         *a;
    SSL_CTX         *b;
    SSL_CTX         *client;
    SSL_CTX         *again;         /* offers a session more than once */
    tsr_store_t     *sta;
    tsr_store_t     *stb;
    tsr_ssl_t       *ba;
    tsr_ssl_t       *bb;
    log_t            loga;
    log_t            logb;
} fixture_t;


static int init_suite(void);
static int clean_suite(void);
static int fixture_init(fixture_t *f, int version, int tickets);
static void fixture_free(fixture_t *f);
static tsr_store_t *make_store(void);
static tsr_ssl_t *attach(SSL_CTX *ctx, tsr_store_t *st, const char *sid_ctx,
    int sync, log_t *log);
static int hs(SSL_CTX *server, SSL_CTX *client, const char *sni,
    SSL_SESSION *offer, SSL_SESSION **sess);
static tsr_ssl_stats_t stats(tsr_ssl_t *b);
static int offered_id(SSL_SESSION *sess, unsigned char *id, size_t *len);
static int key_of(tsr_ssl_t *b, SSL_SESSION *sess, char *key, size_t size);
static SSL_SESSION *open_stored(tsr_ssl_t *b, SSL_SESSION *client_sess);
static SSL_SESSION *make_session(const unsigned char *id, long age,
    size_t appdata);
static long long redis_int(const char *cmd, const char *arg);
static void count_log(int level, const char *msg, void *data);
static void fake_install(SSL_CTX *ctx, fake_l1_t *fake, int keep);
static void fake_free(fake_l1_t *fake);
static int fake_new(SSL *ssl, SSL_SESSION *sess);
static SSL_SESSION *fake_get(SSL *ssl, const unsigned char *id, int len,
    int *copy);
static void fake_remove(SSL_CTX *ctx, SSL_SESSION *sess);
static void slot_info(const SSL *ssl, int where, int ret);
static int sni_switch(SSL *ssl, int *al, void *arg);
static int sni_accept(SSL *ssl, int *al, void *arg);
static void resumes_on_other_context(int version);
static void stored_key_lives_for_session_timeout(int version);
static void other_sid_ctx_never_resumes(int version);
static void tampered_value_is_rejected(int version);
static void redis_down_means_full_handshakes(int version);
static void chained_l1_serves_repeat_resumption(int version);
static void store_hit_is_written_back_to_l1(int version);
static void slot_session_serves_lookup(int version);
static void slot_refusal_hides_store(int version);
static void single_use_resumes_once(int version);
static void test_single_use_resumes_once_tls12(void);
static void test_single_use_resumes_once_tls13(void);
static void sni_switch_keeps_first_context(int version);
static void remove_deletes_only_own_session(int version);
static void stranger_cannot_delete(int ticket);
static void name_holds_on_every_level(int version);
static void name_holds_for_tickets(int version);
static void test_session_made_on_a_resumes_on_b_100_of_100_tls12(void);
static void test_session_made_on_a_resumes_on_b_100_of_100_tls13(void);
static void test_stored_key_lives_for_the_session_timeout_tls12(void);
static void test_stored_key_lives_for_the_session_timeout_tls13(void);
static void test_other_sid_ctx_never_resumes_tls12(void);
static void test_other_sid_ctx_never_resumes_tls13(void);
static void test_tampered_value_is_rejected_and_handshake_is_full_tls12(
    void);
static void test_tampered_value_is_rejected_and_handshake_is_full_tls13(
    void);
static void test_redis_down_means_full_handshakes_then_recovers_tls12(void);
static void test_redis_down_means_full_handshakes_then_recovers_tls13(void);
static void test_stateless_tickets_are_neither_stored_nor_chained_tls13(
    void);
static void test_chained_l1_serves_repeat_resumption_tls12(void);
static void test_chained_l1_serves_repeat_resumption_tls13(void);
static void test_store_hit_is_written_back_to_chained_l1_tls12(void);
static void test_store_hit_is_written_back_to_chained_l1_tls13(void);
static void test_slot_session_serves_lookup_without_store_tls12(void);
static void test_slot_session_serves_lookup_without_store_tls13(void);
static void test_slot_refusal_hides_store_tls12(void);
static void test_slot_refusal_hides_store_tls13(void);
static void test_hello_retry_request_finds_the_slot_twice_tls13(void);
static void test_sni_switch_keeps_the_first_contexts_binding_tls12(void);
static void test_sni_switch_keeps_the_first_contexts_binding_tls13(void);
static void test_remove_deletes_only_the_connections_own_session_tls12(
    void);
static void test_remove_deletes_only_the_connections_own_session_tls13(
    void);
static void test_offer_without_its_cipher_keeps_the_session_stored(void);
static void test_own_ticket_under_a_victims_id_keeps_it_stored(void);
static void test_session_resumes_only_under_its_server_name_tls12(void);
static void test_session_resumes_only_under_its_server_name_tls13(void);
static void test_ticket_resumes_only_under_its_server_name_tls12(void);
static void test_ticket_resumes_only_under_its_server_name_tls13(void);
static void test_oversized_and_expired_sessions_are_not_stored(void);
static void test_no_store_binding_reads_but_never_writes(void);
static int hold_hook(SSL *ssl, void *data);
static void hold_asked(int version);
static void test_hold_hook_is_asked_for_each_session_stored(void);
static void test_detach_restores_callbacks_and_cache_mode(void);
static void test_attach_twice_replaces_without_chaining_itself(void);
static void test_attach_rejects_bad_conf_leaving_ctx_alone(void);
static void test_session_open_rejects_bad_values_and_drains_errors(void);
static void test_set_session_validates_and_replaces(void);
static void test_cached_session_asks_chained_l1_only(void);


static tsr_test_redis_t   redis;
static tsr_keyring_t     *keys;
static const SSL_CIPHER  *cipher;           /* for hand-made sessions */
static int                fake_index = -1;
static char               out[OUT_SIZE];

/* what slot_info() hands to each server connection it sees start */
static SSL_SESSION       *slot_sess;
static unsigned char      slot_id[SSL_MAX_SSL_SESSION_ID_LENGTH];
static size_t             slot_idlen;
static int                slot_expect = TSR_OK;
static int                slot_none;
static int                info_starts;


static int
init_suite(void)
{
    SSL_CTX  *ctx;
    uint8_t   ikm[32];

    memset(ikm, 0x5a, sizeof(ikm));

    fake_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (fake_index < 0) {
        return -1;
    }

    /* cipher objects are static in libssl: they outlive the context */

    ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        return -1;
    }

    cipher = sk_SSL_CIPHER_value(SSL_CTX_get_ciphers(ctx), 0);
    SSL_CTX_free(ctx);

    if (cipher == NULL) {
        return -1;
    }

    keys = tsr_keyring_create(NULL, 0);
    if (keys == NULL
        || tsr_keyring_add_key(keys, ikm, sizeof(ikm), NULL, 0) != TSR_OK)
    {
        return -1;
    }

    return tsr_test_redis_start(&redis);
}


static int
clean_suite(void)
{
    tsr_keyring_destroy(keys);

    if (redis.pid != 0) {
        return tsr_test_redis_stop(&redis);
    }

    return 0;
}


static int
fixture_init(fixture_t *f, int version, int tickets)
{
    memset(f, 0, sizeof(fixture_t));

    f->version = version;
    f->per_full = (version == TLS1_3_VERSION) ? 2 : 1;
    f->per_resume = (version == TLS1_3_VERSION) ? 1 : 0;

    if (tsr_test_redis_cmd(&redis, out, sizeof(out), "FLUSHALL") != 0) {
        return -1;
    }

    f->a = tsr_test_server_ctx("a.test", version, SID_CTX, tickets);
    f->b = tsr_test_server_ctx("b.test", version, SID_CTX, tickets);
    f->client = tsr_test_client_ctx(version);
    f->again = tsr_test_client_ctx(version);
    f->sta = make_store();
    f->stb = make_store();

    if (f->a == NULL || f->b == NULL || f->client == NULL || f->again == NULL
        || f->sta == NULL || f->stb == NULL)
    {
        return -1;
    }

    /*
     * With a client cache, OpenSSL's TLS 1.3 client uses a ticket once,
     * as RFC 8446 recommends; without one it offers it again.
     */

    (void) SSL_CTX_set_session_cache_mode(f->again, SSL_SESS_CACHE_OFF);

    (void) SSL_CTX_set_timeout(f->a, TIMEOUT);
    (void) SSL_CTX_set_timeout(f->b, TIMEOUT);

    return 0;
}


static void
fixture_free(fixture_t *f)
{
    /* the bindings go with their contexts, before the stores */

    SSL_CTX_free(f->a);
    SSL_CTX_free(f->b);
    SSL_CTX_free(f->client);
    SSL_CTX_free(f->again);
    tsr_store_destroy(f->sta);
    tsr_store_destroy(f->stb);
}


static tsr_store_t *
make_store(void)
{
    tsr_store_t       *st;
    tsr_store_conf_t   conf;
    char               err[ERR_SIZE];

    memset(&conf, 0, sizeof(conf));

    conf.host = "127.0.0.1";
    conf.port = redis.port;
    conf.connect_timeout_ms = 1000;     /* valgrind runs these too */
    conf.command_timeout_ms = 1000;
    conf.backoff_min_ms = 10;
    conf.backoff_max_ms = 100;

    st = tsr_store_create(&conf, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "tsr_store_create(): %s\n", err);
    }

    return st;
}


static tsr_ssl_t *
attach(SSL_CTX *ctx, tsr_store_t *st, const char *sid_ctx, int sync,
    log_t *log)
{
    tsr_ssl_t       *b;
    tsr_ssl_conf_t   conf;
    char             err[ERR_SIZE];

    memset(&conf, 0, sizeof(conf));

    conf.store = st;
    conf.keys = keys;
    conf.sid_ctx = (const uint8_t *) sid_ctx;
    conf.sid_ctx_len = strlen(sid_ctx);
    conf.sync_lookup = sync;
    conf.log = count_log;
    conf.log_data = log;

    b = tsr_ssl_ctx_attach(ctx, &conf, err, sizeof(err));
    if (b == NULL) {
        fprintf(stderr, "tsr_ssl_ctx_attach(): %s\n", err);
    }

    return b;
}


/* -1: the handshake failed; otherwise whether it resumed */

static int
hs(SSL_CTX *server, SSL_CTX *client, const char *sni, SSL_SESSION *offer,
    SSL_SESSION **sess)
{
    int  reused;

    if (tsr_test_handshake(server, client, sni, offer, sess, &reused) != 0) {
        return -1;
    }

    return reused ? 1 : 0;
}


static tsr_ssl_stats_t
stats(tsr_ssl_t *b)
{
    tsr_ssl_stats_t  s;

    tsr_ssl_stats(b, &s);

    return s;
}


/*
 * The id the server knows a client session by: the TLS 1.3 stateful
 * ticket (the server's session id) or the TLS 1.2 session id.
 */

static int
offered_id(SSL_SESSION *sess, unsigned char *id, size_t *len)
{
    size_t                n;
    unsigned int          m;
    const unsigned char  *p;

    SSL_SESSION_get0_ticket(sess, &p, &n);

    if (n == 0) {
        p = SSL_SESSION_get_id(sess, &m);
        n = m;
    }

    if (n == 0 || n > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return -1;
    }

    memcpy(id, p, n);
    *len = n;

    return 0;
}


static int
key_of(tsr_ssl_t *b, SSL_SESSION *sess, char *key, size_t size)
{
    size_t         len;
    unsigned char  id[SSL_MAX_SSL_SESSION_ID_LENGTH];

    if (sess == NULL || offered_id(sess, id, &len) != 0) {
        return -1;
    }

    return tsr_ssl_session_key(b, id, len, key, size);
}


/* the server's side of a client session, as the store holds it */

static SSL_SESSION *
open_stored(tsr_ssl_t *b, SSL_SESSION *client_sess)
{
    int            n, rc;
    size_t         len;
    SSL_SESSION   *sess;
    char           key[TSR_MAX_KEY_NAME];
    unsigned char  val[TSR_MAX_VALUE];

    n = key_of(b, client_sess, key, sizeof(key));
    if (n < 0) {
        return NULL;
    }

    len = sizeof(val);

    if (tsr_test_redis_get_raw(&redis, key, val, &len) != 0) {
        return NULL;
    }

    sess = tsr_ssl_session_open(b, key, (size_t) n, val, len, &rc);

    CU_ASSERT_EQUAL(rc, TSR_OK);

    return sess;
}


static SSL_SESSION *
make_session(const unsigned char *id, long age, size_t appdata)
{
    SSL_SESSION    *sess;
    unsigned char  *data;
    unsigned char   master[48];

    memset(master, 0x11, sizeof(master));

    sess = SSL_SESSION_new();
    if (sess == NULL) {
        return NULL;
    }

    data = NULL;

    if (appdata > 0) {
        data = malloc(appdata);
        if (data == NULL) {
            goto failed;
        }

        memset(data, 'd', appdata);
    }

    if (SSL_SESSION_set1_id(sess, id, SSL_MAX_SSL_SESSION_ID_LENGTH) != 1
        || SSL_SESSION_set1_id_context(sess, (const unsigned char *) SID_CTX,
                                       strlen(SID_CTX)) != 1
        || SSL_SESSION_set_protocol_version(sess, TLS1_2_VERSION) != 1
        || SSL_SESSION_set_cipher(sess, cipher) != 1
        || SSL_SESSION_set1_master_key(sess, master, sizeof(master)) != 1
        || SSL_SESSION_set_time(sess, (long) time(NULL) - age) == 0
        || SSL_SESSION_set_timeout(sess, TIMEOUT) == 0
        || (data != NULL
            && SSL_SESSION_set1_ticket_appdata(sess, data, appdata) != 1))
    {
        goto failed;
    }

    free(data);

    return sess;

failed:

    free(data);
    SSL_SESSION_free(sess);

    return NULL;
}


/* an integer reply of "cmd arg" (or of "cmd" alone), -1000 on failure */

static long long
redis_int(const char *cmd, const char *arg)
{
    int  rc;

    if (arg != NULL) {
        rc = tsr_test_redis_cmd(&redis, out, sizeof(out), "%s %s", cmd, arg);

    } else {
        rc = tsr_test_redis_cmd(&redis, out, sizeof(out), "%s", cmd);
    }

    if (rc != 0) {
        return -1000;
    }

    return strtoll(out, NULL, 10);
}


static void
count_log(int level, const char *msg, void *data)
{
    log_t  *log;

    log = data;

    if (level <= TSR_LOG_ERR) {
        log->errors++;

    } else if (level == TSR_LOG_WARN) {
        log->warnings++;

    } else {
        return;
    }

    (void) snprintf(log->last, sizeof(log->last), "%s", msg);
}


static void
fake_install(SSL_CTX *ctx, fake_l1_t *fake, int keep)
{
    memset(fake, 0, sizeof(fake_l1_t));

    fake->keep = keep;

    (void) SSL_CTX_set_ex_data(ctx, fake_index, fake);

    SSL_CTX_sess_set_new_cb(ctx, fake_new);
    SSL_CTX_sess_set_get_cb(ctx, fake_get);
    SSL_CTX_sess_set_remove_cb(ctx, fake_remove);
}


static void
fake_free(fake_l1_t *fake)
{
    int  i;

    for (i = 0; i < fake->n; i++) {
        SSL_SESSION_free(fake->sess[i]);
        free(fake->der[i]);
    }

    fake->n = 0;
}


static int
fake_new(SSL *ssl, SSL_SESSION *sess)
{
    int                   n;
    unsigned char        *p;
    fake_l1_t            *fake;
    unsigned int          len;
    const unsigned char  *id;

    fake = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), fake_index);
    fake->news++;

    if (fake->n == FAKE_SIZE) {
        return 0;
    }

    n = fake->n;
    id = SSL_SESSION_get_id(sess, &len);

    memcpy(fake->id[n], id, len);
    fake->idlen[n] = len;

    if (fake->keep) {
        /* as a cache that holds sessions: OpenSSL's reference is ours */
        fake->sess[n] = sess;
        fake->n++;
        return 1;
    }

    /* as nginx: keep the encoded session, OpenSSL keeps its reference */

    fake->derlen[n] = i2d_SSL_SESSION(sess, NULL);
    fake->der[n] = malloc(fake->derlen[n]);

    if (fake->der[n] == NULL) {
        return 0;
    }

    p = fake->der[n];
    (void) i2d_SSL_SESSION(sess, &p);
    fake->n++;

    return 0;
}


static SSL_SESSION *
fake_get(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    int                   i;
    fake_l1_t            *fake;
    const unsigned char  *p;

    fake = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), fake_index);
    fake->gets++;

    if (!fake->keep) {
        /* nginx sets it first thing, hit or miss */
        *copy = 0;
    }

    for (i = fake->n - 1; i >= 0; i--) {
        if (fake->idlen[i] != (unsigned int) len
            || memcmp(fake->id[i], id, len) != 0)
        {
            continue;
        }

        fake->get_hits++;

        if (fake->keep) {
            *copy = 1;
            return fake->sess[i];
        }

        p = fake->der[i];

        return d2i_SSL_SESSION(NULL, &p, fake->derlen[i]);
    }

    return NULL;
}


static void
fake_remove(SSL_CTX *ctx, SSL_SESSION *sess)
{
    fake_l1_t  *fake;

    fake = SSL_CTX_get_ex_data(ctx, fake_index);
    fake->removes++;
}


static void
slot_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_HANDSHAKE_START) == 0 || !SSL_is_server(ssl)) {
        return;
    }

    info_starts++;

    if (slot_sess != NULL || slot_none) {
        CU_ASSERT_EQUAL(tsr_ssl_set_session((SSL *) ssl, slot_id, slot_idlen,
                                            slot_sess), slot_expect);
    }
}


static int
sni_switch(SSL *ssl, int *al, void *arg)
{
    const char  *name;

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    if (name != NULL && strcmp(name, "v.test") == 0) {
        (void) SSL_set_SSL_CTX(ssl, arg);
    }

    return SSL_TLSEXT_ERR_OK;
}


/* OpenSSL records a server name in the session only when one is taken */

static int
sni_accept(SSL *ssl, int *al, void *arg)
{
    return SSL_TLSEXT_ERR_OK;
}


static void
resumes_on_other_context(int version)
{
    int               i, resumed;
    fixture_t         f;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa, sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    resumed = 0;

    for (i = 0; i < ROUNDS; i++) {
        sess = NULL;

        if (hs(f.a, f.client, NULL, NULL, &sess) != 0 || sess == NULL) {
            CU_FAIL("full handshake on A");
            SSL_SESSION_free(sess);
            break;
        }

        if (hs(f.b, f.client, NULL, sess, NULL) == 1) {
            resumed++;
        }

        SSL_SESSION_free(sess);
    }

    CU_ASSERT_EQUAL(resumed, ROUNDS);

    sa = stats(f.ba);
    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sa.stored, (uint64_t) ROUNDS * f.per_full);
    CU_ASSERT_EQUAL(sa.lookups, 0);
    CU_ASSERT_EQUAL(sa.store_errors, 0);
    CU_ASSERT_EQUAL(sb.lookups, ROUNDS);
    CU_ASSERT_EQUAL(sb.hits, ROUNDS);
    CU_ASSERT_EQUAL(sb.misses, 0);
    CU_ASSERT_EQUAL(sb.l1_hits, 0);
    CU_ASSERT_EQUAL(sb.open_failures, 0);
    CU_ASSERT_EQUAL(sb.stored, (uint64_t) ROUNDS * f.per_resume);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL),
                    (long long) ROUNDS * (f.per_full + f.per_resume));
    CU_ASSERT_EQUAL(f.loga.errors + f.loga.warnings, 0);
    CU_ASSERT_EQUAL(f.logb.errors + f.logb.warnings, 0);

    fixture_free(&f);
}


static void
stored_key_lives_for_session_timeout(int version)
{
    int           n;
    long long     ttl;
    fixture_t     f;
    SSL_SESSION  *sess;
    char          key[TSR_MAX_KEY_NAME];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

    n = key_of(f.ba, sess, key, sizeof(key));
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(strncmp(key, TSR_DEFAULT_PREFIX "s:", 6), 0);

    ttl = redis_int("PTTL", key);
    CU_ASSERT(ttl > (long long) TIMEOUT * 1000 - 1000);
    CU_ASSERT(ttl <= (long long) TIMEOUT * 1000);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
other_sid_ctx_never_resumes(int version)
{
    int               i, resumed;
    SSL_CTX          *c;
    fixture_t         f;
    tsr_ssl_t        *bc;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sc;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    c = tsr_test_server_ctx("c.test", version, "another", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    (void) SSL_CTX_set_timeout(c, TIMEOUT);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    bc = attach(c, f.stb, "another", 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bc);

    resumed = 0;

    for (i = 0; i < MISSES; i++) {
        sess = NULL;

        if (hs(f.a, f.client, NULL, NULL, &sess) != 0 || sess == NULL) {
            CU_FAIL("full handshake on A");
            SSL_SESSION_free(sess);
            break;
        }

        if (hs(c, f.client, NULL, sess, NULL) != 0) {
            resumed++;
        }

        SSL_SESSION_free(sess);
    }

    CU_ASSERT_EQUAL(resumed, 0);

    sc = stats(bc);

    CU_ASSERT_EQUAL(sc.lookups, MISSES);
    CU_ASSERT_EQUAL(sc.misses, MISSES);
    CU_ASSERT_EQUAL(sc.hits, 0);
    CU_ASSERT_EQUAL(sc.open_failures, 0);

    SSL_CTX_free(c);
    fixture_free(&f);
}


static void
tampered_value_is_rejected(int version)
{
    int               n;
    size_t            len;
    fixture_t         f;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sb;
    char              key[TSR_MAX_KEY_NAME];
    unsigned char     val[TSR_MAX_VALUE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    n = key_of(f.bb, sess, key, sizeof(key));
    CU_ASSERT_FATAL(n > 0);

    len = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_get_raw(&redis, key, val, &len), 0);
    CU_ASSERT_FATAL(len > SEAL_HEAD + 10 + 16);

    /* one bit inside the ciphertext */
    val[SEAL_HEAD + 10] ^= 0x01;

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SETRANGE %s %d %b", key,
                                       SEAL_HEAD + 10, &val[SEAL_HEAD + 10],
                                       (size_t) 1), 0);
    CU_ASSERT_EQUAL(strtoll(out, NULL, 10), (long long) len);

    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 0);

    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sb.lookups, 1);
    CU_ASSERT_EQUAL(sb.open_failures, 1);
    CU_ASSERT_EQUAL(sb.misses, 1);
    CU_ASSERT_EQUAL(sb.hits, 0);
    CU_ASSERT_EQUAL(f.logb.warnings, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.logb.last, "tsr_ssl_session_open()"));
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
redis_down_means_full_handshakes(int version)
{
    int               i, full;
    fixture_t         f;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa, sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&redis), 0);

    full = 0;

    for (i = 0; i < DOWN; i++) {
        sess = NULL;

        if (hs(f.a, f.client, NULL, NULL, &sess) == 0 && sess != NULL
            && hs(f.b, f.client, NULL, sess, NULL) == 0)
        {
            full++;
        }

        SSL_SESSION_free(sess);
    }

    CU_ASSERT_EQUAL(full, DOWN);

    sa = stats(f.ba);
    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sa.stored, 0);
    CU_ASSERT_EQUAL(sa.store_errors, (uint64_t) DOWN * f.per_full);
    CU_ASSERT_EQUAL(sb.lookups, DOWN);
    CU_ASSERT_EQUAL(sb.misses, DOWN);
    CU_ASSERT_EQUAL(sb.hits, 0);
    CU_ASSERT_EQUAL(sb.open_failures, 0);

    /* the failed lookups, then the full handshakes' sessions */
    CU_ASSERT_EQUAL(sb.store_errors, (uint64_t) DOWN * (1 + f.per_full));

    /* at most once a second, and the run may straddle a second */
    CU_ASSERT(f.loga.errors >= 1 && f.loga.errors <= 2);
    CU_ASSERT(f.logb.errors >= 1 && f.logb.errors <= 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.loga.last, "tsr_store_set() failed"));

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&redis), 0);

    /* past the stores' longest backoff, resumption comes back */

    tsr_test_sleep_ms(250);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 1);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
chained_l1_serves_repeat_resumption(int version)
{
    fixture_t         f;
    fake_l1_t         fake;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    fake_install(f.a, &fake, 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    CU_ASSERT_EQUAL(fake.news, f.per_full);
    CU_ASSERT_EQUAL(stats(f.ba).stored, (uint64_t) f.per_full);

    CU_ASSERT_EQUAL(hs(f.a, f.again, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(hs(f.a, f.again, NULL, sess, NULL), 1);

    sa = stats(f.ba);

    CU_ASSERT_EQUAL(sa.lookups, 2);
    CU_ASSERT_EQUAL(sa.l1_hits, 2);
    CU_ASSERT_EQUAL(sa.hits, 0);
    CU_ASSERT_EQUAL(sa.misses, 0);
    CU_ASSERT_EQUAL(fake.get_hits, 2);

    /* sessions reported on resumption reach both levels */
    CU_ASSERT_EQUAL(fake.news, f.per_full + 2 * f.per_resume);
    CU_ASSERT_EQUAL(sa.stored, (uint64_t) f.per_full + 2 * f.per_resume);

    SSL_SESSION_free(sess);
    fixture_free(&f);
    fake_free(&fake);
}


static void
store_hit_is_written_back_to_l1(int version)
{
    fixture_t         f;
    fake_l1_t         fake;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    /* this one keeps references: the write-back hands it one of its own */
    fake_install(f.b, &fake, 1);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 1);

    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.l1_hits, 0);
    CU_ASSERT_EQUAL(fake.gets, 1);
    CU_ASSERT_EQUAL(fake.get_hits, 0);

    /* the write-back, then what the resumption itself reported */
    CU_ASSERT_EQUAL(fake.news, 1 + f.per_resume);

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 1);

    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sb.lookups, 2);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.l1_hits, 1);
    CU_ASSERT_EQUAL(fake.get_hits, 1);

    SSL_SESSION_free(sess);
    fixture_free(&f);
    fake_free(&fake);
}


static void
slot_session_serves_lookup(int version)
{
    fixture_t         f;
    SSL_SESSION      *sess, *server_sess;
    tsr_ssl_stats_t   sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    info_starts = 0;
    SSL_CTX_set_info_callback(f.b, slot_info);

    /* B does not ask the store itself: only the slot can serve it */
    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 0, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    server_sess = open_stored(f.bb, sess);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server_sess);
    CU_ASSERT_EQUAL_FATAL(offered_id(sess, slot_id, &slot_idlen), 0);

    slot_sess = server_sess;

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(info_starts, 1);

    sb = stats(f.bb);
    CU_ASSERT_EQUAL(sb.lookups, 1);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.misses, 0);

    /* a session is refused for a slot under another id */

    slot_id[0] ^= 0xff;
    slot_expect = TSR_EINVAL;

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 0);

    slot_sess = NULL;
    slot_expect = TSR_OK;

    /* nor is an empty one */

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 0);

    sb = stats(f.bb);
    CU_ASSERT_EQUAL(sb.lookups, 3);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.misses, 2);
    CU_ASSERT_EQUAL(info_starts, 3);

    SSL_SESSION_free(server_sess);
    SSL_SESSION_free(sess);
    fixture_free(&f);
}


/*
 * A host that decided "no session" for an id (say, made for another
 * server name) is final: neither the store nor the first level serves it.
 */

static void
slot_refusal_hides_store(int version)
{
    fixture_t         f;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    info_starts = 0;
    SSL_CTX_set_info_callback(f.b, slot_info);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL_FATAL(offered_id(sess, slot_id, &slot_idlen), 0);

    slot_sess = NULL;
    slot_none = 1;

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 0);

    sb = stats(f.bb);
    CU_ASSERT_EQUAL(sb.lookups, 1);
    CU_ASSERT_EQUAL(sb.hits, 0);
    CU_ASSERT_EQUAL(sb.misses, 1);

    /* without the decision the store serves it */

    slot_none = 0;

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 1);

    sb = stats(f.bb);
    CU_ASSERT_EQUAL(sb.lookups, 2);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(info_starts, 2);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
test_slot_refusal_hides_store_tls12(void)
{
    slot_refusal_hides_store(TLS1_2_VERSION);
}


static void
test_slot_refusal_hides_store_tls13(void)
{
    slot_refusal_hides_store(TLS1_3_VERSION);
}


/*
 * Single use: the session is taken from Redis atomically on its first
 * resumption; offered again, anywhere, it is a full handshake.
 */

static void
single_use_resumes_once(int version)
{
    tsr_ssl_t       *ba, *bb;
    fixture_t        f;
    SSL_SESSION     *sess;
    tsr_ssl_conf_t   conf;
    tsr_ssl_stats_t  sb;
    char             reply[64];
    char             err[ERR_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    memset(&conf, 0, sizeof(conf));
    conf.keys = keys;
    conf.sid_ctx = (const uint8_t *) SID_CTX;
    conf.sid_ctx_len = strlen(SID_CTX);
    conf.sync_lookup = 1;
    conf.single_use = 1;

    conf.store = f.sta;
    ba = tsr_ssl_ctx_attach(f.a, &conf, err, sizeof(err));
    conf.store = f.stb;
    bb = tsr_ssl_ctx_attach(f.b, &conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bb);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "FLUSHDB"), 0);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "DBSIZE"), 0);
    CU_ASSERT(atoi(reply) >= 1);

    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.a, f.again, NULL, sess, NULL), 0);

    sb = stats(bb);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.l1_hits, 0);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
test_single_use_resumes_once_tls12(void)
{
    single_use_resumes_once(TLS1_2_VERSION);
}


static void
test_single_use_resumes_once_tls13(void)
{
    single_use_resumes_once(TLS1_3_VERSION);
}


static void
sni_switch_keeps_first_context(int version)
{
    int               n;
    SSL_CTX          *v;
    fixture_t         f;
    fake_l1_t         fake;
    tsr_ssl_t        *bv;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa, sv;
    char              key[TSR_MAX_KEY_NAME];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    /*
     * A is the listener's default (OpenSSL's session_ctx); SNI switches
     * to V, which has a first-level cache of its own.  Sessions belong to
     * A all the same: V's cache and V's binding must see none of them.
     */

    v = tsr_test_server_ctx("v.test", version, "vhost", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    (void) SSL_CTX_set_timeout(v, TIMEOUT);

    fake_install(v, &fake, 0);

    bv = attach(v, f.stb, "vhost", 1, &f.logb);
    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    SSL_CTX_set_tlsext_servername_callback(f.a, sni_switch);
    SSL_CTX_set_tlsext_servername_arg(f.a, v);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, "v.test", NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    sa = stats(f.ba);
    sv = stats(bv);

    CU_ASSERT_EQUAL(sa.stored, (uint64_t) f.per_full);
    CU_ASSERT_EQUAL(sv.stored, 0);
    CU_ASSERT_EQUAL(fake.news, 0);
    CU_ASSERT_EQUAL(f.loga.warnings, 0);

    n = key_of(f.ba, sess, key, sizeof(key));
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT(redis_int("PTTL", key) > 0);

    CU_ASSERT_EQUAL(hs(f.a, f.client, "v.test", sess, NULL), 1);

    sa = stats(f.ba);
    sv = stats(bv);

    CU_ASSERT_EQUAL(sa.lookups, 1);
    CU_ASSERT_EQUAL(sa.hits, 1);
    CU_ASSERT_EQUAL(sv.lookups, 0);
    CU_ASSERT_EQUAL(sv.stored, 0);
    CU_ASSERT_EQUAL(fake.news + fake.gets, 0);
    CU_ASSERT_EQUAL(sa.stored, (uint64_t) f.per_full + f.per_resume);

    SSL_SESSION_free(sess);
    fixture_free(&f);
    SSL_CTX_free(v);
    fake_free(&fake);
}


/*
 * The remove callback deletes from the store only the session its own
 * connection made (the object OpenSSL reported new); a session another
 * connection holds after a lookup goes from the chained cache only.
 */

static void
remove_deletes_only_own_session(int version)
{
    int               i, own;
    size_t            len;
    fixture_t         f;
    fake_l1_t         fake;
    SSL_SESSION      *sess, *server_sess;
    tsr_ssl_stats_t   sa;
    unsigned char     id[SSL_MAX_SSL_SESSION_ID_LENGTH];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    /* a first level that keeps the very objects OpenSSL reports new */
    fake_install(f.a, &fake, 1);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

    /* as a connection that looked it up holds it: the store keeps it */

    server_sess = open_stored(f.ba, sess);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server_sess);

    /* OpenSSL calls the remove callback whether it cached it or not */
    SSL_CTX_remove_session(f.a, server_sess);

    sa = stats(f.ba);

    CU_ASSERT_EQUAL(sa.removed, 0);
    CU_ASSERT_EQUAL(fake.removes, 1);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

    /* the first level hands out copies: their removal spares the store */

    CU_ASSERT_EQUAL(hs(f.a, f.again, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL),
                    f.per_full + f.per_resume);

    /* the object the making connection holds: deleted */

    CU_ASSERT_EQUAL_FATAL(offered_id(sess, id, &len), 0);

    own = -1;

    for (i = 0; i < fake.n; i++) {
        if (fake.idlen[i] == len && memcmp(fake.id[i], id, len) == 0) {
            own = i;
        }
    }

    CU_ASSERT_FATAL(own >= 0);

    SSL_CTX_remove_session(f.a, fake.sess[own]);

    sa = stats(f.ba);

    CU_ASSERT_EQUAL(sa.removed, 1);
    CU_ASSERT_EQUAL(fake.removes, 2);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL),
                    f.per_full + f.per_resume - 1);

    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 0);
    CU_ASSERT_EQUAL(stats(f.bb).misses, 1);

    SSL_SESSION_free(server_sess);
    SSL_SESSION_free(sess);
    fixture_free(&f);
    fake_free(&fake);
}


/*
 * A stranger knows a victim's TLS 1.2 session id (it travels in clear)
 * and offers it with a cipher list that lacks the session's cipher:
 * OpenSSL finds the session, then sends a fatal alert, which calls the
 * remove callback.  With "ticket", the stranger offers a ticket of its
 * own with the victim's id as the ClientHello's session id, which
 * OpenSSL gives the decrypted session.  Either way the stored session
 * survives and resumes on the other context.
 */

static void
stranger_cannot_delete(int ticket)
{
    fixture_t             f;
    SSL_CTX              *victim, *stranger;
    const char           *ciphers;
    SSL_SESSION          *sess, *own, *forged;
    unsigned int          idlen;
    tsr_ssl_stats_t       sa;
    const SSL_CIPHER     *c;
    const unsigned char  *id;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, ticket), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    victim = tsr_test_client_ctx(TLS1_2_VERSION);
    stranger = tsr_test_client_ctx(TLS1_2_VERSION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(victim);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stranger);

    (void) SSL_CTX_set_options(victim, SSL_OP_NO_TICKET);

    sess = NULL;
    own = NULL;
    forged = NULL;

    CU_ASSERT_EQUAL(hs(f.a, victim, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 1);

    id = SSL_SESSION_get_id(sess, &idlen);
    CU_ASSERT_EQUAL_FATAL(idlen, SSL_MAX_SSL_SESSION_ID_LENGTH);

    if (ticket) {
        /* the stranger's own session rides in a ticket, no id stored */

        CU_ASSERT_EQUAL(hs(f.a, stranger, NULL, NULL, &own), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(own);
        CU_ASSERT_EQUAL(SSL_SESSION_has_ticket(own), 1);
        CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 1);

        forged = SSL_SESSION_dup(own);
        CU_ASSERT_PTR_NOT_NULL_FATAL(forged);
        CU_ASSERT_EQUAL_FATAL(SSL_SESSION_set1_id(forged, id, idlen), 1);

        c = SSL_SESSION_get0_cipher(own);

    } else {
        forged = SSL_SESSION_dup(sess);
        CU_ASSERT_PTR_NOT_NULL_FATAL(forged);

        c = SSL_SESSION_get0_cipher(sess);
    }

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);

    ciphers = strcmp(SSL_CIPHER_get_name(c), "ECDHE-ECDSA-AES128-GCM-SHA256")
              == 0 ? "ECDHE-ECDSA-AES256-GCM-SHA384"
                   : "ECDHE-ECDSA-AES128-GCM-SHA256";

    CU_ASSERT_EQUAL_FATAL(SSL_CTX_set_cipher_list(stranger, ciphers), 1);

    /* the server finds the session, then refuses the handshake */

    CU_ASSERT_EQUAL(hs(f.a, stranger, NULL, forged, NULL), -1);

    sa = stats(f.ba);

    printf("\n    %s with the victim's id and cipher list \"%s\" "
           "(session's %s): handshake refused, store deletes %llu, "
           "keys left %lld ", ticket ? "a ticket of its own" : "an offer",
           ciphers, SSL_CIPHER_get_name(c),
           (unsigned long long) sa.removed, redis_int("DBSIZE", NULL));

    CU_ASSERT_EQUAL(sa.removed, 0);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 1);

    /* the victim resumes on the other context, from the store */

    CU_ASSERT_EQUAL(hs(f.b, victim, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(stats(f.bb).hits, 1);

    SSL_SESSION_free(forged);
    SSL_SESSION_free(own);
    SSL_SESSION_free(sess);
    SSL_CTX_free(victim);
    SSL_CTX_free(stranger);
    fixture_free(&f);
}


/*
 * A session made for one.test resumes only under one.test, in any case,
 * whichever level serves it: the chained first level, the store, the
 * slot.  Hosts check the name before they fill the slot, but OpenSSL
 * asks the callback for ids the host never saw.
 */

static void
name_holds_on_every_level(int version)
{
    fixture_t         f;
    fake_l1_t         fake;
    SSL_SESSION      *sess, *server_sess;
    tsr_ssl_stats_t   sa, sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

    /* as in nginx's http servers: sessions record the name acknowledged */
    SSL_CTX_set_tlsext_servername_callback(f.a, sni_accept);
    SSL_CTX_set_tlsext_servername_callback(f.b, sni_accept);

    fake_install(f.a, &fake, 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 0, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, "one.test", NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    /* A: the chained first level only */

    CU_ASSERT_EQUAL(hs(f.a, f.again, "two.test", sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.a, f.again, NULL, sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.a, f.again, "one.test.", sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.a, f.again, "ONE.test", sess, NULL), 1);

    sa = stats(f.ba);
    CU_ASSERT_EQUAL(fake.get_hits, 4);
    CU_ASSERT_EQUAL(sa.l1_hits, 1);

    /* B: the store */

    CU_ASSERT_EQUAL(hs(f.b, f.again, "two.test", sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.b, f.again, NULL, sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.b, f.again, "one.test", sess, NULL), 1);

    sb = stats(f.bb);
    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.misses, 2);

    /* B: the slot, filled by a host that did not check the name */

    server_sess = open_stored(f.bb, sess);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server_sess);
    CU_ASSERT_EQUAL_FATAL(offered_id(sess, slot_id, &slot_idlen), 0);

    tsr_ssl_detach(f.b);
    info_starts = 0;
    SSL_CTX_set_info_callback(f.b, slot_info);
    f.bb = attach(f.b, f.stb, SID_CTX, 0, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    slot_sess = server_sess;

    CU_ASSERT_EQUAL(hs(f.b, f.again, "two.test", sess, NULL), 0);
    CU_ASSERT_EQUAL(hs(f.b, f.again, "one.test", sess, NULL), 1);
    CU_ASSERT_EQUAL(info_starts, 2);

    slot_sess = NULL;

    printf("\n    TLSv1.%d, made for one.test: first level hits %d, "
           "resumed %llu; store resumed %llu of 3; slot resumed %llu of 2 ",
           version == TLS1_3_VERSION ? 3 : 2, fake.get_hits,
           (unsigned long long) sa.l1_hits, (unsigned long long) sb.hits,
           (unsigned long long) stats(f.bb).hits);

    CU_ASSERT_EQUAL(stats(f.bb).hits, 1);

    SSL_SESSION_free(server_sess);
    SSL_SESSION_free(sess);
    fixture_free(&f);
    fake_free(&fake);
}


static void
test_session_made_on_a_resumes_on_b_100_of_100_tls12(void)
{
    resumes_on_other_context(TLS1_2_VERSION);
}


static void
test_session_made_on_a_resumes_on_b_100_of_100_tls13(void)
{
    resumes_on_other_context(TLS1_3_VERSION);
}


static void
test_stored_key_lives_for_the_session_timeout_tls12(void)
{
    stored_key_lives_for_session_timeout(TLS1_2_VERSION);
}


static void
test_stored_key_lives_for_the_session_timeout_tls13(void)
{
    stored_key_lives_for_session_timeout(TLS1_3_VERSION);
}


static void
test_other_sid_ctx_never_resumes_tls12(void)
{
    other_sid_ctx_never_resumes(TLS1_2_VERSION);
}


static void
test_other_sid_ctx_never_resumes_tls13(void)
{
    other_sid_ctx_never_resumes(TLS1_3_VERSION);
}


static void
test_tampered_value_is_rejected_and_handshake_is_full_tls12(void)
{
    tampered_value_is_rejected(TLS1_2_VERSION);
}


static void
test_tampered_value_is_rejected_and_handshake_is_full_tls13(void)
{
    tampered_value_is_rejected(TLS1_3_VERSION);
}


static void
test_redis_down_means_full_handshakes_then_recovers_tls12(void)
{
    redis_down_means_full_handshakes(TLS1_2_VERSION);
}


static void
test_redis_down_means_full_handshakes_then_recovers_tls13(void)
{
    redis_down_means_full_handshakes(TLS1_3_VERSION);
}


static void
test_stateless_tickets_are_neither_stored_nor_chained_tls13(void)
{
    fixture_t         f;
    fake_l1_t         fake;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_3_VERSION, 1), 0);

    fake_install(f.a, &fake, 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    /* the ticket resumes on A by itself, without a lookup */
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, sess, NULL), 1);

    sa = stats(f.ba);

    CU_ASSERT_EQUAL(sa.store_skipped, 3);
    CU_ASSERT_EQUAL(sa.stored, 0);
    CU_ASSERT_EQUAL(sa.lookups, 0);
    CU_ASSERT_EQUAL(fake.news, 0);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 0);

    SSL_SESSION_free(sess);
    fixture_free(&f);
    fake_free(&fake);
}


static void
test_chained_l1_serves_repeat_resumption_tls12(void)
{
    chained_l1_serves_repeat_resumption(TLS1_2_VERSION);
}


static void
test_chained_l1_serves_repeat_resumption_tls13(void)
{
    chained_l1_serves_repeat_resumption(TLS1_3_VERSION);
}


static void
test_store_hit_is_written_back_to_chained_l1_tls12(void)
{
    store_hit_is_written_back_to_l1(TLS1_2_VERSION);
}


static void
test_store_hit_is_written_back_to_chained_l1_tls13(void)
{
    store_hit_is_written_back_to_l1(TLS1_3_VERSION);
}


static void
test_slot_session_serves_lookup_without_store_tls12(void)
{
    slot_session_serves_lookup(TLS1_2_VERSION);
}


static void
test_slot_session_serves_lookup_without_store_tls13(void)
{
    slot_session_serves_lookup(TLS1_3_VERSION);
}


static void
test_hello_retry_request_finds_the_slot_twice_tls13(void)
{
    fixture_t         f;
    SSL_SESSION      *sess, *server_sess;
    tsr_ssl_stats_t   sb;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_3_VERSION, 0), 0);

    /*
     * The client's key share is X25519 only and B wants P-256: B answers
     * with a HelloRetryRequest and looks the ticket up once per
     * ClientHello.
     */

    CU_ASSERT_EQUAL_FATAL(SSL_CTX_set1_groups_list(f.client, "X25519:P-256"),
                          1);
    CU_ASSERT_EQUAL_FATAL(SSL_CTX_set1_groups_list(f.b, "P-256"), 1);

    SSL_CTX_set_info_callback(f.b, slot_info);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = attach(f.b, f.stb, SID_CTX, 0, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    server_sess = open_stored(f.bb, sess);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server_sess);
    CU_ASSERT_EQUAL_FATAL(offered_id(sess, slot_id, &slot_idlen), 0);

    slot_sess = server_sess;
    info_starts = 0;

    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 1);

    slot_sess = NULL;

    sb = stats(f.bb);

    CU_ASSERT_EQUAL(info_starts, 1);
    CU_ASSERT_EQUAL(sb.lookups, 2);
    CU_ASSERT_EQUAL(sb.hits, 2);
    CU_ASSERT_EQUAL(sb.misses, 0);

    SSL_SESSION_free(server_sess);
    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
test_sni_switch_keeps_the_first_contexts_binding_tls12(void)
{
    sni_switch_keeps_first_context(TLS1_2_VERSION);
}


static void
test_sni_switch_keeps_the_first_contexts_binding_tls13(void)
{
    sni_switch_keeps_first_context(TLS1_3_VERSION);
}


static void
test_remove_deletes_only_the_connections_own_session_tls12(void)
{
    remove_deletes_only_own_session(TLS1_2_VERSION);
}


static void
test_remove_deletes_only_the_connections_own_session_tls13(void)
{
    remove_deletes_only_own_session(TLS1_3_VERSION);
}


static void
test_offer_without_its_cipher_keeps_the_session_stored(void)
{
    stranger_cannot_delete(0);
}


static void
test_own_ticket_under_a_victims_id_keeps_it_stored(void)
{
    stranger_cannot_delete(1);
}


/*
 * Stateless tickets carry their session past the get-session callback:
 * one made for one.test resumes under one.test only.
 */

static void
name_holds_for_tickets(int version)
{
    int           other, none, own;
    fixture_t     f;
    SSL_SESSION  *sess;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 1), 0);

    SSL_CTX_set_tlsext_servername_callback(f.a, sni_accept);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, "one.test", NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(SSL_SESSION_has_ticket(sess), 1);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 0);

    other = hs(f.a, f.again, "two.test", sess, NULL);
    none = hs(f.a, f.again, NULL, sess, NULL);
    own = hs(f.a, f.again, "One.Test", sess, NULL);

    printf("\n    TLSv1.%d, a ticket made for one.test: resumed under "
           "two.test %d, without a name %d, under One.Test %d ",
           version == TLS1_3_VERSION ? 3 : 2, other, none, own);

    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT_EQUAL(none, 0);
    CU_ASSERT_EQUAL(own, 1);

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
test_session_resumes_only_under_its_server_name_tls12(void)
{
    name_holds_on_every_level(TLS1_2_VERSION);
}


static void
test_session_resumes_only_under_its_server_name_tls13(void)
{
    name_holds_on_every_level(TLS1_3_VERSION);
}


static void
test_ticket_resumes_only_under_its_server_name_tls12(void)
{
    name_holds_for_tickets(TLS1_2_VERSION);
}


static void
test_ticket_resumes_only_under_its_server_name_tls13(void)
{
    name_holds_for_tickets(TLS1_3_VERSION);
}


static void
test_oversized_and_expired_sessions_are_not_stored(void)
{
    int                 n;
    SSL                *ssl;
    fixture_t           f;
    long long           ttl;
    SSL_SESSION        *sess;
    tsr_ssl_stats_t     sa;
    unsigned char       id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    char                key[TSR_MAX_KEY_NAME];
    int               (*new_cb)(SSL *, SSL_SESSION *);

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    ssl = SSL_new(f.a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);

    new_cb = SSL_CTX_sess_get_new_cb(f.a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(new_cb);

    memset(id, 0x01, sizeof(id));

    /* a control: a fresh session of ordinary size is stored */

    sess = make_session(id, 0, 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(new_cb(ssl, sess), 0);
    SSL_SESSION_free(sess);

    n = tsr_ssl_session_key(f.ba, id, sizeof(id), key, sizeof(key));
    CU_ASSERT_FATAL(n > 0);

    ttl = redis_int("PTTL", key);
    CU_ASSERT(ttl > (long long) TIMEOUT * 1000 - 1000);

    /* over TSR_MAX_SESSION once encoded */

    id[0] = 0x02;
    sess = make_session(id, 0, TSR_MAX_SESSION + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(new_cb(ssl, sess), 0);
    SSL_SESSION_free(sess);

    /* past its lifetime */

    id[0] = 0x03;
    sess = make_session(id, TIMEOUT + 10, 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);
    CU_ASSERT_EQUAL(new_cb(ssl, sess), 0);
    SSL_SESSION_free(sess);

    sa = stats(f.ba);

    CU_ASSERT_EQUAL(sa.stored, 1);
    CU_ASSERT_EQUAL(sa.store_skipped, 2);
    CU_ASSERT_EQUAL(sa.store_errors, 0);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 1);

    SSL_free(ssl);
    fixture_free(&f);
}


static void
test_no_store_binding_reads_but_never_writes(void)
{
    fixture_t         f;
    tsr_ssl_conf_t    conf;
    SSL_SESSION      *sess, *server_sess;
    tsr_ssl_stats_t   sb;
    char              err[ERR_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_3_VERSION, 0), 0);

    memset(&conf, 0, sizeof(conf));
    conf.store = f.stb;
    conf.keys = keys;
    conf.sid_ctx = (const uint8_t *) SID_CTX;
    conf.sid_ctx_len = strlen(SID_CTX);
    conf.sync_lookup = 1;
    conf.no_store = 1;

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    f.bb = tsr_ssl_ctx_attach(f.b, &conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

    sess = NULL;
    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    /* B resumes from the store, but its new ticket is not written */
    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 1);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

    server_sess = open_stored(f.bb, sess);
    CU_ASSERT_PTR_NOT_NULL_FATAL(server_sess);

    SSL_CTX_remove_session(f.b, server_sess);

    sb = stats(f.bb);

    CU_ASSERT_EQUAL(sb.hits, 1);
    CU_ASSERT_EQUAL(sb.stored, 0);
    CU_ASSERT_EQUAL(sb.removed, 0);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

    SSL_SESSION_free(server_sess);
    SSL_SESSION_free(sess);
    fixture_free(&f);
}


/*
 * The host's hold hook (nginx: the hold BIO) is asked by the new-session
 * callback, with its connection, for each session stored.  A session
 * whose SET is held (tsr_store_set_later(): on a synchronous store, at
 * once) is stored all the same and resumes on the other context.
 */

typedef struct {
    int    calls;
    int    answer;
    SSL   *last;
} hold_t;


static int
hold_hook(SSL *ssl, void *data)
{
    hold_t  *h = data;

    h->calls++;
    h->last = ssl;

    return h->answer;
}


static void
hold_asked(int version)
{
    int               i;
    hold_t            h;
    fixture_t         f;
    tsr_ssl_conf_t    conf;
    SSL_SESSION      *sess;
    tsr_ssl_stats_t   sa;
    char              err[ERR_SIZE];

    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, 0), 0);

        memset(&h, 0, sizeof(h));
        h.answer = i;

        memset(&conf, 0, sizeof(conf));
        conf.store = f.sta;
        conf.keys = keys;
        conf.sid_ctx = (const uint8_t *) SID_CTX;
        conf.sid_ctx_len = strlen(SID_CTX);
        conf.sync_lookup = 1;
        conf.hold = hold_hook;
        conf.hold_data = &h;

        f.ba = tsr_ssl_ctx_attach(f.a, &conf, err, sizeof(err));
        f.bb = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.bb);

        sess = NULL;
        CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, &sess), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

        sa = stats(f.ba);
        CU_ASSERT_EQUAL(sa.stored, (uint64_t) f.per_full);
        CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), f.per_full);

        CU_ASSERT_EQUAL(h.calls, f.per_full);
        CU_ASSERT_PTR_NOT_NULL(h.last);

        CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, sess, NULL), 1);

        SSL_SESSION_free(sess);
        fixture_free(&f);
    }
}


static void
test_hold_hook_is_asked_for_each_session_stored(void)
{
    hold_asked(TLS1_2_VERSION);
    hold_asked(TLS1_3_VERSION);
}


static void
test_detach_restores_callbacks_and_cache_mode(void)
{
    fixture_t   f;
    fake_l1_t   fake;
    tsr_ssl_t  *b;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    (void) SSL_CTX_set_session_cache_mode(f.a, SSL_SESS_CACHE_SERVER
                                               | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    fake_install(f.a, &fake, 0);
    SSL_CTX_set_info_callback(f.a, slot_info);

    b = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);

    CU_ASSERT_PTR_EQUAL(tsr_ssl_ctx_get(f.a), b);
    CU_ASSERT(SSL_CTX_sess_get_new_cb(f.a) != fake_new);
    CU_ASSERT(SSL_CTX_sess_get_get_cb(f.a) != fake_get);
    CU_ASSERT(SSL_CTX_sess_get_remove_cb(f.a) != fake_remove);
    CU_ASSERT(SSL_CTX_get_info_callback(f.a) != slot_info);
    CU_ASSERT_EQUAL(SSL_CTX_get_session_cache_mode(f.a),
                    SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL
                    | SSL_SESS_CACHE_NO_AUTO_CLEAR);

    tsr_ssl_detach(f.a);

    CU_ASSERT_PTR_NULL(tsr_ssl_ctx_get(f.a));
    CU_ASSERT(SSL_CTX_sess_get_new_cb(f.a) == fake_new);
    CU_ASSERT(SSL_CTX_sess_get_get_cb(f.a) == fake_get);
    CU_ASSERT(SSL_CTX_sess_get_remove_cb(f.a) == fake_remove);
    CU_ASSERT(SSL_CTX_get_info_callback(f.a) == slot_info);
    CU_ASSERT_EQUAL(SSL_CTX_get_session_cache_mode(f.a),
                    SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);

    /* harmless when repeated, or without a context */
    tsr_ssl_detach(f.a);
    tsr_ssl_detach(NULL);
    CU_ASSERT_PTR_NULL(tsr_ssl_ctx_get(NULL));

    /* a handshake now reaches the first level only */

    info_starts = 0;

    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(fake.news, 1);
    CU_ASSERT_EQUAL(info_starts, 1);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 0);

    fixture_free(&f);
    fake_free(&fake);
}


static void
test_attach_twice_replaces_without_chaining_itself(void)
{
    fixture_t        f;
    fake_l1_t        fake;
    tsr_ssl_t       *b1, *b2;
    tsr_ssl_conf_t   conf;
    char             err[ERR_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_3_VERSION, 0), 0);

    fake_install(f.a, &fake, 0);

    b1 = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b1);

    memset(&conf, 0, sizeof(conf));
    conf.store = f.sta;
    conf.keys = keys;
    conf.prefix = "two:";
    conf.sid_ctx = (const uint8_t *) SID_CTX;
    conf.sid_ctx_len = strlen(SID_CTX);

    b2 = tsr_ssl_ctx_attach(f.a, &conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT_PTR_EQUAL(tsr_ssl_ctx_get(f.a), b2);

    /* each ticket reaches the first level once: no wrapper calls itself */

    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(fake.news, f.per_full);
    CU_ASSERT_EQUAL(stats(b2).stored, (uint64_t) f.per_full);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "EVAL %s 0",
                                       "return #redis.call('KEYS','two:*')"),
                    0);
    CU_ASSERT_EQUAL(strtoll(out, NULL, 10), f.per_full);

    tsr_ssl_detach(f.a);

    CU_ASSERT(SSL_CTX_sess_get_new_cb(f.a) == fake_new);
    CU_ASSERT(SSL_CTX_sess_get_get_cb(f.a) == fake_get);
    CU_ASSERT(SSL_CTX_sess_get_remove_cb(f.a) == fake_remove);
    CU_ASSERT(SSL_CTX_get_info_callback(f.a) == NULL);

    fixture_free(&f);
    fake_free(&fake);
}


static void
test_attach_rejects_bad_conf_leaving_ctx_alone(void)
{
    size_t           i;
    fixture_t        f;
    tsr_ssl_conf_t   conf, good;
    char             prefix[300];
    char             err[ERR_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';

    memset(&good, 0, sizeof(good));
    good.store = f.sta;
    good.keys = keys;
    good.sid_ctx = (const uint8_t *) "0123456789abcdef0123456789abcdef!";
    good.sid_ctx_len = SSL_MAX_SID_CTX_LENGTH;

    for (i = 0; i < 6; i++) {
        conf = good;

        switch (i) {
        case 0:
            conf.store = NULL;
            break;
        case 1:
            conf.keys = NULL;
            break;
        case 2:
            conf.sid_ctx = NULL;
            break;
        case 3:
            conf.sid_ctx_len = 0;
            break;
        case 4:
            conf.sid_ctx_len = SSL_MAX_SID_CTX_LENGTH + 1;
            break;
        default:
            conf.prefix = prefix;
            break;
        }

        err[0] = '\0';

        CU_ASSERT_PTR_NULL(tsr_ssl_ctx_attach(f.a, &conf, err, sizeof(err)));
        CU_ASSERT(err[0] != '\0');
    }

    CU_ASSERT_PTR_NULL(tsr_ssl_ctx_attach(f.a, NULL, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(tsr_ssl_ctx_attach(NULL, &good, err, sizeof(err)));

    CU_ASSERT_PTR_NULL(tsr_ssl_ctx_get(f.a));
    CU_ASSERT(SSL_CTX_sess_get_new_cb(f.a) == NULL);
    CU_ASSERT(SSL_CTX_sess_get_get_cb(f.a) == NULL);
    CU_ASSERT(SSL_CTX_get_info_callback(f.a) == NULL);

    /* the longest sid_ctx is fine */
    CU_ASSERT_PTR_NOT_NULL(tsr_ssl_ctx_attach(f.a, &good, err, sizeof(err)));

    fixture_free(&f);
}


static void
test_session_open_rejects_bad_values_and_drains_errors(void)
{
    int               n, rc;
    size_t            len, slen;
    fixture_t         f;
    SSL_SESSION      *sess, *opened;
    unsigned int      idlen;
    unsigned char    *p;
    const uint8_t    *oid;
    unsigned char     id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    uint8_t           der[1024];
    uint8_t           val[TSR_MAX_VALUE + 1];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    f.ba = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.ba);

    memset(id, 0x42, sizeof(id));

    sess = make_session(id, 0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    n = i2d_SSL_SESSION(sess, NULL);
    CU_ASSERT_FATAL(n > 0 && n + 8 <= (int) sizeof(der));
    p = der;
    (void) i2d_SSL_SESSION(sess, &p);
    len = (size_t) n;

    memset(val, 0, sizeof(val));

    /* too short to be sealed, too long to be read */

    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "k", 1, val, 10, &rc));
    CU_ASSERT_EQUAL(rc, TSR_SEAL_TRUNCATED);

    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "k", 1, val,
                                            TSR_MAX_VALUE + 1, &rc));
    CU_ASSERT_EQUAL(rc, TSR_ETOOBIG);

    /* random bytes */

    CU_ASSERT_EQUAL_FATAL(RAND_bytes(val, 200), 1);
    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "k", 1, val, 200, &rc));
    CU_ASSERT(rc < 0);

    /* authentic, yet not a session */

    slen = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_seal(keys, "k", 1, (const uint8_t *) "hello!",
                                   6, val, &slen), TSR_OK);
    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "k", 1, val, slen, &rc));
    CU_ASSERT_EQUAL(rc, TSR_EPROTO);

    /* a session followed by garbage */

    memcpy(der + len, "garbage!", 8);
    slen = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_seal(keys, "k", 1, der, len + 8, val, &slen),
                          TSR_OK);
    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "k", 1, val, slen, &rc));
    CU_ASSERT_EQUAL(rc, TSR_EPROTO);

    /* a session sealed for another key name */

    slen = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_seal(keys, "k", 1, der, len, val, &slen),
                          TSR_OK);
    CU_ASSERT_PTR_NULL(tsr_ssl_session_open(f.ba, "j", 1, val, slen, &rc));
    CU_ASSERT(rc < 0);

    CU_ASSERT_EQUAL(stats(f.ba).open_failures, 6);

    /* and the right name opens it */

    opened = tsr_ssl_session_open(f.ba, "k", 1, val, slen, &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(opened);
    CU_ASSERT_EQUAL(rc, TSR_OK);

    oid = SSL_SESSION_get_id(opened, &idlen);
    CU_ASSERT_EQUAL(idlen, sizeof(id));
    CU_ASSERT_EQUAL(memcmp(oid, id, sizeof(id)), 0);

    CU_ASSERT_EQUAL(stats(f.ba).open_failures, 6);
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    SSL_SESSION_free(opened);
    SSL_SESSION_free(sess);
    fixture_free(&f);
}


static void
test_set_session_validates_and_replaces(void)
{
    SSL            *ssl;
    fixture_t       f;
    SSL_SESSION    *s1, *s2;
    unsigned char   id[SSL_MAX_SSL_SESSION_ID_LENGTH + 1];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    memset(id, 0x07, sizeof(id));

    s1 = make_session(id, 0, 0);
    s2 = make_session(id, 0, 0);
    ssl = SSL_new(f.a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);

    CU_ASSERT_EQUAL(tsr_ssl_set_session(NULL, id, 32, s1), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, id, sizeof(id), s1),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, NULL, 32, s1), TSR_EINVAL);

    /* setting the same session again, another one, then none */
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, id, 32, s1), TSR_OK);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, id, 32, s1), TSR_OK);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, id, 32, s2), TSR_OK);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, NULL, 0, NULL), TSR_OK);
    CU_ASSERT_EQUAL(tsr_ssl_set_session(ssl, id, 32, s1), TSR_OK);

    /* the slot keeps its own reference until the connection goes */
    SSL_SESSION_free(s1);
    SSL_free(ssl);

    CU_ASSERT_EQUAL(SSL_SESSION_get_timeout(s2), TIMEOUT);

    SSL_SESSION_free(s2);
    fixture_free(&f);
}


static void
test_cached_session_asks_chained_l1_only(void)
{
    int             k;
    SSL            *ssl;
    fixture_t       f;
    fake_l1_t       fake;
    tsr_ssl_t      *b;
    SSL_SESSION    *sess, *found;
    unsigned char   id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    int           (*new_cb)(SSL *, SSL_SESSION *);

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, 0), 0);

    memset(id, 0x33, sizeof(id));

    /* no chained cache: nothing, not even from the store */

    b = attach(f.b, f.stb, SID_CTX, 1, &f.logb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);

    ssl = SSL_new(f.b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);

    sess = make_session(id, 0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sess);

    new_cb = SSL_CTX_sess_get_new_cb(f.b);
    CU_ASSERT_EQUAL(new_cb(ssl, sess), 0);
    CU_ASSERT_EQUAL(redis_int("DBSIZE", NULL), 1);
    CU_ASSERT_PTR_NULL(tsr_ssl_cached_session(b, ssl, id, sizeof(id)));

    SSL_free(ssl);

    /* both kinds of first-level cache hand the caller its own reference */

    for (k = 0; k < 2; k++) {
        fake_install(f.a, &fake, k);

        b = attach(f.a, f.sta, SID_CTX, 1, &f.loga);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);

        ssl = SSL_new(f.a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ssl);

        CU_ASSERT_PTR_NULL(tsr_ssl_cached_session(b, ssl, id, sizeof(id)));

        new_cb = SSL_CTX_sess_get_new_cb(f.a);
        CU_ASSERT_EQUAL(new_cb(ssl, sess), k);

        if (k == 1) {
            /* the fake kept OpenSSL's reference, as new_cb's 1 says */
            (void) SSL_SESSION_up_ref(sess);
        }

        found = tsr_ssl_cached_session(b, ssl, id, sizeof(id));
        CU_ASSERT_PTR_NOT_NULL(found);
        SSL_SESSION_free(found);

        CU_ASSERT_PTR_NULL(tsr_ssl_cached_session(b, ssl, id, 0));
        CU_ASSERT_PTR_NULL(tsr_ssl_cached_session(b, ssl, id, 33));
        CU_ASSERT_EQUAL(fake.get_hits, 1);

        SSL_free(ssl);
        tsr_ssl_detach(f.a);
        fake_free(&fake);
    }

    SSL_SESSION_free(sess);
    fixture_free(&f);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(session_made_on_a_resumes_on_b_100_of_100_tls12),
        TSR_TEST(session_made_on_a_resumes_on_b_100_of_100_tls13),
        TSR_TEST(stored_key_lives_for_the_session_timeout_tls12),
        TSR_TEST(stored_key_lives_for_the_session_timeout_tls13),
        TSR_TEST(other_sid_ctx_never_resumes_tls12),
        TSR_TEST(other_sid_ctx_never_resumes_tls13),
        TSR_TEST(tampered_value_is_rejected_and_handshake_is_full_tls12),
        TSR_TEST(tampered_value_is_rejected_and_handshake_is_full_tls13),
        TSR_TEST(redis_down_means_full_handshakes_then_recovers_tls12),
        TSR_TEST(redis_down_means_full_handshakes_then_recovers_tls13),
        TSR_TEST(stateless_tickets_are_neither_stored_nor_chained_tls13),
        TSR_TEST(chained_l1_serves_repeat_resumption_tls12),
        TSR_TEST(chained_l1_serves_repeat_resumption_tls13),
        TSR_TEST(store_hit_is_written_back_to_chained_l1_tls12),
        TSR_TEST(store_hit_is_written_back_to_chained_l1_tls13),
        TSR_TEST(slot_session_serves_lookup_without_store_tls12),
        TSR_TEST(slot_session_serves_lookup_without_store_tls13),
        TSR_TEST(slot_refusal_hides_store_tls12),
        TSR_TEST(slot_refusal_hides_store_tls13),
        TSR_TEST(single_use_resumes_once_tls12),
        TSR_TEST(single_use_resumes_once_tls13),
        TSR_TEST(hello_retry_request_finds_the_slot_twice_tls13),
        TSR_TEST(sni_switch_keeps_the_first_contexts_binding_tls12),
        TSR_TEST(sni_switch_keeps_the_first_contexts_binding_tls13),
        TSR_TEST(remove_deletes_only_the_connections_own_session_tls12),
        TSR_TEST(remove_deletes_only_the_connections_own_session_tls13),
        TSR_TEST(offer_without_its_cipher_keeps_the_session_stored),
        TSR_TEST(own_ticket_under_a_victims_id_keeps_it_stored),
        TSR_TEST(session_resumes_only_under_its_server_name_tls12),
        TSR_TEST(session_resumes_only_under_its_server_name_tls13),
        TSR_TEST(ticket_resumes_only_under_its_server_name_tls12),
        TSR_TEST(ticket_resumes_only_under_its_server_name_tls13),
        TSR_TEST(oversized_and_expired_sessions_are_not_stored),
        TSR_TEST(no_store_binding_reads_but_never_writes),
        TSR_TEST(hold_hook_is_asked_for_each_session_stored),
        TSR_TEST(detach_restores_callbacks_and_cache_mode),
        TSR_TEST(attach_twice_replaces_without_chaining_itself),
        TSR_TEST(attach_rejects_bad_conf_leaving_ctx_alone),
        TSR_TEST(session_open_rejects_bad_values_and_drains_errors),
        TSR_TEST(set_session_validates_and_replaces),
        TSR_TEST(cached_session_asks_chained_l1_only)
    };

    /* a write to a connection Redis closed must not kill the program */
    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("ssl", init_suite, clean_suite, tests);
}
