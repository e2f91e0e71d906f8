
/*
 * Fleet ticket keys against a private redis-server: tickets issued on one
 * context resume on another one with its own ring object (TLS 1.2 and
 * 1.3), the ring is sealed at rest, rotation across a period boundary,
 * unknown keys, racing rotators, tampered and bogus rings, Redis going
 * away, the rotation script itself, and attach/detach bookkeeping.
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tsr.h"
#include "tsr_tickets.h"
#include "tsr_scripts.h"
#include "tsr_test.h"


#define SID_CTX      "tsr-test"
#define TIMEOUT      300                /* session timeout, seconds */
#define LONG_PERIOD  43200000ULL        /* 12 h */
#define LIFETIME     300000ULL          /* the session timeout, in ms */
#define PERIOD       1000ULL            /* a short period, ms */
#define SHORT_LIFE   500ULL             /* a short ticket lifetime, ms */
#define ROUNDS       100
#define RACERS       8
#define OUT_SIZE     1024
#define ERR_SIZE     512
#define HEX_SIZE     (2 * TSR_TICKETS_NAME_LEN + 1)


typedef struct {
    int                 errors;
    int                 warnings;
    int                 infos;
    char                last[512];
} log_t;

typedef struct {
    int                 version;
    tsr_tickets_t      *ta;
    tsr_tickets_t      *tb;
    SSL_CTX            *a;
    SSL_CTX            *b;
    SSL_CTX            *client;
    log_t               loga;
    log_t               logb;
} fixture_t;

/* a record of a hand-made ring; its key bytes are filled from "fill" */
typedef struct {
    uint64_t            gen;
    uint64_t            stop;
    uint8_t             fill;
} rec_t;


static int init_suite(void);
static int clean_suite(void);
static int flush(void);
static tsr_tickets_t *make_tickets(tsr_test_redis_t *r, const char *scope,
    uint64_t period, uint64_t lifetime, int no_rotate, log_t *log);
static SSL_CTX *make_server(const char *cn, int version, tsr_tickets_t *t);
static int fixture_init(fixture_t *f, int version, uint64_t period,
    uint64_t lifetime);
static void fixture_free(fixture_t *f);
static int hs(SSL_CTX *server, SSL_CTX *client, SSL_SESSION *offer,
    SSL_SESSION **sess);
static int ticket_name(SSL_SESSION *sess, char *hex);
static tsr_tickets_stats_t stats(tsr_tickets_t *t);
static tsr_tickets_info_t info(tsr_tickets_t *t);
static int ring_has(tsr_tickets_t *t, const char *hex);
static int ring_raw(tsr_tickets_t *t, uint8_t *val, size_t *len);
static int ring_set(tsr_tickets_t *t, const uint8_t *val, size_t len);
static uint64_t get64(const uint8_t *p);
static void put64(uint8_t *p, uint64_t v);
static void to_hex(const uint8_t *p, size_t len, char *out);
static size_t craft(tsr_tickets_t *t, const tsr_keyring_t *kr, uint8_t *out,
    uint64_t hgen, uint64_t rotated, uint8_t version, uint64_t gen,
    uint64_t built, size_t nfield, const rec_t *recs, size_t nrecs);
static uint64_t wall_ms(void);
static void sleep_ms(uint64_t ms);
static void sleep_until(uint64_t ms);
static void rotate_both(fixture_t *f);
static void count_log(int level, const char *msg, void *data);
static const char *script_source(void);
static size_t script_len(void);
static redisReply *script_run(redisContext *c, const char *key,
    const void *gen, size_t genlen, const char *period, const char *blob);
static void resumes_on_other_context(int version);
static void previous_key_renews_then_leaves_ring(int version);
static void unknown_key_gets_full_handshake(int version);
static void redis_down_issues_until_period_ends(int version);
static void test_ticket_from_a_resumes_on_b_100_of_100_tls12(void);
static void test_ticket_from_a_resumes_on_b_100_of_100_tls13(void);
static void test_redis_holds_no_key_bytes_in_clear(void);
static void test_previous_key_renews_then_leaves_the_ring_tls12(void);
static void test_previous_key_renews_then_leaves_the_ring_tls13(void);
static void test_unknown_key_name_gets_a_full_handshake_tls12(void);
static void test_unknown_key_name_gets_a_full_handshake_tls13(void);
static void test_eight_racing_rotators_rotate_once_per_period(void);
static void test_forced_rotations_back_to_back_each_rotate(void);
static void test_tampered_ring_is_rejected_and_last_good_ring_kept(void);
static void test_bogus_rings_are_rejected(void);
static void test_rolled_back_ring_is_refused_and_replaced(void);
static void test_redis_down_issues_until_the_period_ends_tls12(void);
static void test_redis_down_issues_until_the_period_ends_tls13(void);
static void test_script_is_a_compare_and_set(void);
static void test_script_flush_is_survived(void);
static void test_no_rotate_only_reads(void);
static void test_no_ring_issues_no_ticket(void);
static void test_info_due_and_key_name(void);
static void test_attach_detach_destroy_in_any_order(void);
static void test_create_rejects_bad_conf(void);


static tsr_test_redis_t   redis;
static tsr_keyring_t     *keys;
static char               out[OUT_SIZE];


static int
init_suite(void)
{
    uint8_t  ikm[32];

    memset(ikm, 0x5a, sizeof(ikm));

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
flush(void)
{
    return tsr_test_redis_cmd(&redis, out, sizeof(out), "FLUSHALL");
}


static tsr_tickets_t *
make_tickets(tsr_test_redis_t *r, const char *scope, uint64_t period,
    uint64_t lifetime, int no_rotate, log_t *log)
{
    tsr_tickets_t       *t;
    tsr_store_conf_t     sconf;
    tsr_tickets_conf_t   conf;
    char                 err[ERR_SIZE];

    memset(&sconf, 0, sizeof(sconf));
    memset(&conf, 0, sizeof(conf));

    sconf.host = "127.0.0.1";
    sconf.port = r->port;
    sconf.connect_timeout_ms = 1000;    /* valgrind runs these too */
    sconf.command_timeout_ms = 1000;

    conf.store_conf = &sconf;
    conf.keys = keys;
    conf.scope = scope;
    conf.period_ms = period;
    conf.lifetime_ms = lifetime;
    conf.no_rotate = no_rotate;
    conf.log = count_log;
    conf.log_data = log;

    t = tsr_tickets_create(&conf, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "tsr_tickets_create(): %s\n", err);
    }

    return t;
}


static SSL_CTX *
make_server(const char *cn, int version, tsr_tickets_t *t)
{
    SSL_CTX  *ctx;

    ctx = tsr_test_server_ctx(cn, version, SID_CTX, 1);
    if (ctx == NULL) {
        return NULL;
    }

    (void) SSL_CTX_set_timeout(ctx, TIMEOUT);

    if (t != NULL && tsr_tickets_attach(t, ctx) != TSR_OK) {
        SSL_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


/*
 * Two nodes, A and B, each with a ring object of its own on the same
 * Redis; A creates the ring, B loads it.
 */

static int
fixture_init(fixture_t *f, int version, uint64_t period, uint64_t lifetime)
{
    memset(f, 0, sizeof(fixture_t));

    f->version = version;

    if (flush() != 0) {
        return -1;
    }

    f->ta = make_tickets(&redis, "default", period, lifetime, 0, &f->loga);
    f->tb = make_tickets(&redis, "default", period, lifetime, 0, &f->logb);

    if (f->ta == NULL || f->tb == NULL) {
        return -1;
    }

    f->a = make_server("a.test", version, f->ta);
    f->b = make_server("b.test", version, f->tb);
    f->client = tsr_test_client_ctx(version);

    if (f->a == NULL || f->b == NULL || f->client == NULL) {
        return -1;
    }

    if (tsr_tickets_sync(f->ta) != TSR_OK) {
        fprintf(stderr, "sync A: %s\n", tsr_tickets_error(f->ta));
        return -1;
    }

    if (tsr_tickets_sync(f->tb) != TSR_OK) {
        fprintf(stderr, "sync B: %s\n", tsr_tickets_error(f->tb));
        return -1;
    }

    return 0;
}


static void
fixture_free(fixture_t *f)
{
    SSL_CTX_free(f->a);
    SSL_CTX_free(f->b);
    SSL_CTX_free(f->client);
    tsr_tickets_destroy(f->ta);
    tsr_tickets_destroy(f->tb);
}


/* -1: the handshake failed; otherwise whether it resumed */

static int
hs(SSL_CTX *server, SSL_CTX *client, SSL_SESSION *offer, SSL_SESSION **sess)
{
    int  reused;

    if (tsr_test_handshake(server, client, NULL, offer, sess, &reused) != 0) {
        return -1;
    }

    return reused ? 1 : 0;
}


/* the key name a client's ticket carries, in hex; -1 without a ticket */

static int
ticket_name(SSL_SESSION *sess, char *hex)
{
    size_t                len;
    const unsigned char  *p;

    hex[0] = '\0';

    if (sess == NULL) {
        return -1;
    }

    SSL_SESSION_get0_ticket(sess, &p, &len);

    if (len < TSR_TICKETS_NAME_LEN) {
        return -1;
    }

    to_hex(p, TSR_TICKETS_NAME_LEN, hex);

    return 0;
}


static tsr_tickets_stats_t
stats(tsr_tickets_t *t)
{
    tsr_tickets_stats_t  s;

    tsr_tickets_stats(t, &s);

    return s;
}


static tsr_tickets_info_t
info(tsr_tickets_t *t)
{
    tsr_tickets_info_t  i;

    (void) tsr_tickets_info(t, &i);

    return i;
}


static int
ring_has(tsr_tickets_t *t, const char *hex)
{
    size_t              i;
    tsr_tickets_info_t  in;

    in = info(t);

    for (i = 0; i < in.nkeys; i++) {
        if (strcmp(in.keys[i].name, hex) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ring_raw(tsr_tickets_t *t, uint8_t *val, size_t *len)
{
    char  key[TSR_MAX_KEY_NAME];

    if (tsr_tickets_ring_key(t, key, sizeof(key)) < 0) {
        return -1;
    }

    return tsr_test_redis_get_raw(&redis, key, val, len);
}


static int
ring_set(tsr_tickets_t *t, const uint8_t *val, size_t len)
{
    char  key[TSR_MAX_KEY_NAME];

    if (tsr_tickets_ring_key(t, key, sizeof(key)) < 0) {
        return -1;
    }

    return tsr_test_redis_cmd(&redis, out, sizeof(out), "SET %s %b", key,
                              val, len);
}


static uint64_t
get64(const uint8_t *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static void
put64(uint8_t *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}


static void
to_hex(const uint8_t *p, size_t len, char *hex)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        (void) sprintf(hex + 2 * i, "%02x", p[i]);
    }

    hex[2 * len] = '\0';
}


/*
 * A ring value made by hand, as tsr_tickets.h lays it out, sealed with
 * "kr" for the ring key of "t": "nfield" is the key count written, which
 * may lie about "nrecs".  Returns its length.
 */

static size_t
craft(tsr_tickets_t *t, const tsr_keyring_t *kr, uint8_t *val, uint64_t hgen,
    uint64_t rotated, uint8_t version, uint64_t gen, uint64_t built,
    size_t nfield, const rec_t *recs, size_t nrecs)
{
    int       n;
    size_t    i, plen, slen;
    uint8_t  *p;
    uint8_t   plain[TSR_TICKETS_RING_HEAD + 10 * TSR_TICKETS_RECORD_LEN];
    char      key[TSR_MAX_KEY_NAME];

    n = tsr_tickets_ring_key(t, key, sizeof(key));
    if (n < 0) {
        return 0;
    }

    p = plain;
    *p++ = version;
    put64(p, gen);
    put64(p + 8, built);
    p += 16;
    *p++ = (uint8_t) nfield;

    for (i = 0; i < nrecs; i++) {
        put64(p, recs[i].gen);
        put64(p + TSR_TICKETS_OFF_STOP, recs[i].stop);
        memset(p + TSR_TICKETS_OFF_NAME, recs[i].fill, TSR_TICKETS_NAME_LEN);
        memset(p + TSR_TICKETS_OFF_HMAC, recs[i].fill + 1,
               TSR_TICKETS_HMAC_LEN);
        memset(p + TSR_TICKETS_OFF_AES, recs[i].fill + 2,
               TSR_TICKETS_AES_LEN);
        p += TSR_TICKETS_RECORD_LEN;
    }

    plen = p - plain;

    put64(val, hgen);
    put64(val + 8, rotated);

    slen = TSR_MAX_VALUE - TSR_TICKETS_HEADER_LEN;

    if (tsr_seal(kr, key, (size_t) n, plain, plen,
                 val + TSR_TICKETS_HEADER_LEN, &slen)
        != TSR_OK)
    {
        return 0;
    }

    return TSR_TICKETS_HEADER_LEN + slen;
}


static uint64_t
wall_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
sleep_ms(uint64_t ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


static void
sleep_until(uint64_t ms)
{
    uint64_t  now;

    now = wall_ms();

    if (now < ms) {
        sleep_ms(ms - now);
    }
}


/* waits until the ring is due, then A rotates and B follows */

static void
rotate_both(fixture_t *f)
{
    uint64_t  gen;

    gen = info(f->ta).gen;

    sleep_until(info(f->ta).due_at_ms + 20);

    CU_ASSERT_EQUAL(tsr_tickets_sync(f->ta), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_sync(f->tb), TSR_OK);

    CU_ASSERT_EQUAL(info(f->ta).gen, gen + 1);
    CU_ASSERT_EQUAL(info(f->tb).gen, gen + 1);
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
        log->infos++;
        return;
    }

    (void) snprintf(log->last, sizeof(log->last), "%s", msg);
}


static void
resumes_on_other_context(int version)
{
    int                  i, full, resumed, ticketed;
    fixture_t            f;
    SSL_SESSION         *s1, *s2;
    tsr_tickets_stats_t  sa, sb;
    char                 na[HEX_SIZE], nb[HEX_SIZE], hex[HEX_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, LONG_PERIOD, LIFETIME),
                          0);

    /* one ring: A created it, B loaded it */

    CU_ASSERT_EQUAL(stats(f.ta).rotations, 1);
    CU_ASSERT_EQUAL(stats(f.tb).rotations, 0);
    CU_ASSERT_EQUAL(stats(f.tb).loads, 1);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, na, sizeof(na)), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, nb, sizeof(nb)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(na, nb);

    full = 0;
    resumed = 0;
    ticketed = 0;

    for (i = 0; i < ROUNDS; i++) {
        s1 = NULL;
        s2 = NULL;

        full += (hs(f.a, f.client, NULL, &s1) == 0);

        if (ticket_name(s1, hex) == 0 && strcmp(hex, na) == 0) {
            ticketed++;
        }

        resumed += (hs(f.b, f.client, s1, &s2) == 1);

        SSL_SESSION_free(s1);
        SSL_SESSION_free(s2);
    }

    CU_ASSERT_EQUAL(full, ROUNDS);
    CU_ASSERT_EQUAL(ticketed, ROUNDS);
    CU_ASSERT_EQUAL(resumed, ROUNDS);

    sa = stats(f.ta);
    sb = stats(f.tb);

    CU_ASSERT_EQUAL(sb.decrypted, ROUNDS);
    CU_ASSERT_EQUAL(sb.unknown_key, 0);
    CU_ASSERT_EQUAL(sa.not_issued, 0);
    CU_ASSERT_EQUAL(sb.not_issued, 0);

    if (version == TLS1_3_VERSION) {
        /* two tickets per full handshake; resumption asks for one */
        CU_ASSERT_EQUAL(sa.issued, 2 * ROUNDS);
        CU_ASSERT_EQUAL(sb.renewed, ROUNDS);
        CU_ASSERT_EQUAL(sb.issued, ROUNDS);

    } else {
        /* under the current key, TLS 1.2 keeps its ticket */
        CU_ASSERT_EQUAL(sa.issued, ROUNDS);
        CU_ASSERT_EQUAL(sb.renewed, 0);
        CU_ASSERT_EQUAL(sb.issued, 0);
    }

    CU_ASSERT_EQUAL(f.loga.errors + f.logb.errors, 0);
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    fixture_free(&f);
}


static void
test_ticket_from_a_resumes_on_b_100_of_100_tls12(void)
{
    resumes_on_other_context(TLS1_2_VERSION);
}


static void
test_ticket_from_a_resumes_on_b_100_of_100_tls13(void)
{
    resumes_on_other_context(TLS1_3_VERSION);
}


static void
test_redis_holds_no_key_bytes_in_clear(void)
{
    int                 n;
    size_t              i, len, plen, nkeys;
    fixture_t           f;
    const uint8_t      *r;
    tsr_tickets_info_t  in;
    uint8_t             val[TSR_MAX_VALUE], plain[TSR_MAX_VALUE];
    char                key[TSR_MAX_KEY_NAME], hex[HEX_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, LONG_PERIOD,
                                       LIFETIME), 0);

    len = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(ring_raw(f.ta, val, &len), 0);

    n = tsr_tickets_ring_key(f.ta, key, sizeof(key));
    CU_ASSERT_EQUAL(n, (int) strlen("tsr:tk:default"));
    CU_ASSERT_STRING_EQUAL(key, "tsr:tk:default");

    /* the clear header: generation 1, rotated by Redis' clock */

    CU_ASSERT_EQUAL(get64(val), 1);
    CU_ASSERT_EQUAL(get64(val + 8), info(f.ta).rotated_at_ms);

    /* the fleet key opens the rest; the test knows the layout */

    plen = sizeof(plain);
    CU_ASSERT_EQUAL_FATAL(tsr_open(keys, key, (size_t) n,
                                   val + TSR_TICKETS_HEADER_LEN,
                                   len - TSR_TICKETS_HEADER_LEN, plain,
                                   &plen), TSR_OK);

    CU_ASSERT_EQUAL(plain[0], TSR_TICKETS_RING_V1);
    CU_ASSERT_EQUAL(get64(plain + 1), 1);
    nkeys = plain[17];
    CU_ASSERT_EQUAL_FATAL(nkeys, 2);
    CU_ASSERT_EQUAL(plen, TSR_TICKETS_RING_HEAD
                          + nkeys * TSR_TICKETS_RECORD_LEN);

    in = info(f.ta);
    CU_ASSERT_EQUAL(in.nkeys, 2);

    for (i = 0; i < nkeys; i++) {
        r = plain + TSR_TICKETS_RING_HEAD + i * TSR_TICKETS_RECORD_LEN;

        to_hex(r + TSR_TICKETS_OFF_NAME, TSR_TICKETS_NAME_LEN, hex);
        CU_ASSERT_STRING_EQUAL(hex, in.keys[i].name);

        /* no part of any key in the stored value */

        CU_ASSERT_PTR_NULL(memmem(val, len, r + TSR_TICKETS_OFF_NAME,
                                  TSR_TICKETS_NAME_LEN));
        CU_ASSERT_PTR_NULL(memmem(val, len, r + TSR_TICKETS_OFF_HMAC,
                                  TSR_TICKETS_HMAC_LEN));
        CU_ASSERT_PTR_NULL(memmem(val, len, r + TSR_TICKETS_OFF_AES,
                                  TSR_TICKETS_AES_LEN));
        CU_ASSERT_PTR_NULL(memmem(val, len, r + TSR_TICKETS_OFF_HMAC, 8));
        CU_ASSERT_PTR_NULL(memmem(val, len, r + TSR_TICKETS_OFF_AES, 8));
    }

    /* the two keys are unrelated random bytes */

    CU_ASSERT_NOT_EQUAL(memcmp(plain + TSR_TICKETS_RING_HEAD
                               + TSR_TICKETS_OFF_NAME,
                               plain + TSR_TICKETS_RING_HEAD
                               + TSR_TICKETS_RECORD_LEN
                               + TSR_TICKETS_OFF_NAME,
                               TSR_TICKETS_KEY_LEN), 0);

    /* no TTL: the ring outlives any quiet spell of the fleet */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "PTTL %s", key), 0);
    CU_ASSERT_STRING_EQUAL(out, "-1");

    OPENSSL_cleanse(plain, sizeof(plain));

    fixture_free(&f);
}


static void
previous_key_renews_then_leaves_ring(int version)
{
    fixture_t            f;
    SSL_SESSION         *t1, *again, *s2, *s3;
    tsr_tickets_info_t   in;
    char                 n1[HEX_SIZE], n2[HEX_SIZE], hex[HEX_SIZE];

    /* ticket lifetime 500 ms: a previous key decrypts for 1.5 s */

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, PERIOD, SHORT_LIFE), 0);

    /* OpenSSL keeps sessions 300 s, longer than the ring keeps keys */
    CU_ASSERT_EQUAL(f.loga.warnings, 1);

    t1 = NULL;
    s2 = NULL;
    s3 = NULL;

    CU_ASSERT_EQUAL_FATAL(hs(f.a, f.client, NULL, &t1), 0);
    CU_ASSERT_EQUAL_FATAL(ticket_name(t1, n1), 0);

    /* a client uses a ticket once: a copy to offer later */
    again = SSL_SESSION_dup(t1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(n1, hex);

    /* one rotation: the key of t1 is a previous key now */

    rotate_both(&f);

    in = info(f.tb);
    CU_ASSERT_EQUAL(in.nkeys, 3);
    CU_ASSERT_STRING_EQUAL(in.keys[2].name, n1);
    CU_ASSERT_EQUAL(in.keys[2].role, TSR_TICKETS_PREVIOUS);
    CU_ASSERT_EQUAL(in.keys[2].encrypt_until_ms, in.rotated_at_ms);
    CU_ASSERT_EQUAL(in.keys[2].decrypt_until_ms,
                    in.rotated_at_ms + SHORT_LIFE + PERIOD);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, n2, sizeof(n2)), TSR_OK);
    CU_ASSERT_STRING_NOT_EQUAL(n1, n2);

    /* it still resumes, and the client gets a ticket under the new key */

    CU_ASSERT_EQUAL(hs(f.b, f.client, t1, &s2), 1);
    CU_ASSERT_EQUAL(stats(f.tb).decrypted, 1);
    CU_ASSERT_EQUAL(stats(f.tb).renewed, 1);
    CU_ASSERT_EQUAL(stats(f.tb).issued, 1);
    CU_ASSERT_EQUAL(ticket_name(s2, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, n2);

    /* two more: 1.5 s after it stopped, the key has left the ring */

    rotate_both(&f);
    rotate_both(&f);

    CU_ASSERT_EQUAL(info(f.tb).gen, 4);
    CU_ASSERT_FALSE(ring_has(f.tb, n1));
    CU_ASSERT_TRUE(ring_has(f.tb, n2));

    CU_ASSERT_EQUAL(hs(f.b, f.client, again, &s3), 0);
    CU_ASSERT_EQUAL(stats(f.tb).unknown_key, 1);
    CU_ASSERT_EQUAL(stats(f.tb).decrypted, 1);

    /* the full handshake got a ticket under the current key */

    CU_ASSERT_EQUAL(ticket_name(s3, hex), 0);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, n2, sizeof(n2)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, n2);

    CU_ASSERT_EQUAL(stats(f.ta).rotations, 4);
    CU_ASSERT_EQUAL(stats(f.tb).rotations, 0);
    CU_ASSERT_EQUAL(f.loga.errors + f.logb.errors, 0);

    SSL_SESSION_free(t1);
    SSL_SESSION_free(again);
    SSL_SESSION_free(s2);
    SSL_SESSION_free(s3);

    fixture_free(&f);
}


static void
test_previous_key_renews_then_leaves_the_ring_tls12(void)
{
    previous_key_renews_then_leaves_ring(TLS1_2_VERSION);
}


static void
test_previous_key_renews_then_leaves_the_ring_tls13(void)
{
    previous_key_renews_then_leaves_ring(TLS1_3_VERSION);
}


static void
unknown_key_gets_full_handshake(int version)
{
    log_t           logc;
    fixture_t       f;
    SSL_CTX        *c;
    SSL_SESSION    *s1, *s2;
    tsr_tickets_t  *tc;
    char            nc[HEX_SIZE], na[HEX_SIZE], hex[HEX_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, version, LONG_PERIOD, LIFETIME),
                          0);

    /* a third, unrelated ring */

    memset(&logc, 0, sizeof(logc));

    tc = make_tickets(&redis, "other", LONG_PERIOD, LIFETIME, 0, &logc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tc);
    CU_ASSERT_EQUAL_FATAL(tsr_tickets_sync(tc), TSR_OK);

    c = make_server("c.test", version, tc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);

    s1 = NULL;
    s2 = NULL;

    CU_ASSERT_EQUAL(hs(c, f.client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, nc), 0);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, na, sizeof(na)), TSR_OK);
    CU_ASSERT_STRING_NOT_EQUAL(nc, na);

    CU_ASSERT_EQUAL(hs(f.a, f.client, s1, &s2), 0);
    CU_ASSERT_EQUAL(stats(f.ta).unknown_key, 1);
    CU_ASSERT_EQUAL(stats(f.ta).decrypted, 0);
    CU_ASSERT_EQUAL(stats(f.ta).issued,
                    version == TLS1_3_VERSION ? 2 : 1);
    CU_ASSERT_EQUAL(ticket_name(s2, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, na);

    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_CTX_free(c);
    tsr_tickets_destroy(tc);

    fixture_free(&f);
}


static void
test_unknown_key_name_gets_a_full_handshake_tls12(void)
{
    unknown_key_gets_full_handshake(TLS1_2_VERSION);
}


static void
test_unknown_key_name_gets_a_full_handshake_tls13(void)
{
    unknown_key_gets_full_handshake(TLS1_3_VERSION);
}


/*
 * Eight processes, each with its own object, sync in a loop for 2.5
 * periods starting from no ring: one creates it, then the fleet rotates
 * exactly once per period.
 */

static void
test_eight_racing_rotators_rotate_once_per_period(void)
{
    int                   i, status, failed, total;
    pid_t                 pid[RACERS];
    size_t                len;
    uint64_t              start;
    log_t                 log;
    tsr_tickets_t        *t, *probe;
    tsr_tickets_stats_t   s;
    uint8_t               val[TSR_MAX_VALUE];

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    start = wall_ms() + 300;

    for (i = 0; i < RACERS; i++) {
        pid[i] = fork();
        CU_ASSERT_FATAL(pid[i] != -1);

        if (pid[i] != 0) {
            continue;
        }

        /* the child: its exit status is its rotation count, 255 on error */

        memset(&log, 0, sizeof(log));
        failed = 0;

        t = make_tickets(&redis, "race", PERIOD, LIFETIME, 0, &log);
        if (t == NULL) {
            _exit(255);
        }

        sleep_until(start);

        while (wall_ms() < start + 5 * PERIOD / 2) {
            if (tsr_tickets_sync(t) != TSR_OK) {
                fprintf(stderr, "racer %d: %s\n", i, tsr_tickets_error(t));
                failed = 1;
            }

            sleep_ms(5);
        }

        tsr_tickets_stats(t, &s);
        tsr_tickets_destroy(t);

        _exit(failed ? 255 : (int) s.rotations);
    }

    failed = 0;
    total = 0;

    for (i = 0; i < RACERS; i++) {
        CU_ASSERT_EQUAL(waitpid(pid[i], &status, 0), pid[i]);

        if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
            failed++;
            continue;
        }

        total += WEXITSTATUS(status);
    }

    CU_ASSERT_EQUAL(failed, 0);

    /* created once, rotated after one and after two periods */

    CU_ASSERT_EQUAL(total, 3);

    memset(&log, 0, sizeof(log));

    probe = make_tickets(&redis, "race", PERIOD, LIFETIME, 1, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(probe);

    len = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(ring_raw(probe, val, &len), 0);
    CU_ASSERT_EQUAL(get64(val), 3);
    CU_ASSERT_TRUE(get64(val + 8) >= start + 2 * PERIOD);
    CU_ASSERT_TRUE(get64(val + 8) < start + 5 * PERIOD / 2);

    CU_ASSERT_EQUAL(tsr_tickets_sync(probe), TSR_OK);
    CU_ASSERT_EQUAL(info(probe).gen, 3);
    CU_ASSERT_EQUAL(info(probe).nkeys, 4);

    tsr_tickets_destroy(probe);
}


/*
 * An operator's rotation rotates, however soon after the last: the
 * script's clock counts milliseconds, and a ring written in the same
 * millisecond as the one before it would otherwise be kept.  Twenty
 * forced rotations in a row, as fast as they go, make twenty
 * generations.
 */

#define FORCED  20

static void
test_forced_rotations_back_to_back_each_rotate(void)
{
    int             i, rotated;
    uint64_t        gen;
    log_t           log;
    tsr_tickets_t  *t;

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    memset(&log, 0, sizeof(log));

    t = make_tickets(&redis, "default", LONG_PERIOD, LIFETIME, 0, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);

    CU_ASSERT_EQUAL_FATAL(tsr_tickets_sync(t), TSR_OK);

    gen = info(t).gen;
    rotated = 0;

    for (i = 0; i < FORCED; i++) {
        CU_ASSERT_EQUAL(tsr_tickets_rotate_now(t), TSR_OK);

        if (info(t).gen == gen + 1) {
            rotated++;
        }

        gen = info(t).gen;
    }

    printf("\n    %d forced rotations back to back: %d new generations ",
           FORCED, rotated);

    CU_ASSERT_EQUAL(rotated, FORCED);

    tsr_tickets_destroy(t);
}


static void
test_tampered_ring_is_rejected_and_last_good_ring_kept(void)
{
    int                 reused;
    size_t              len, len2;
    fixture_t           f;
    SSL_SESSION        *s1, *s2;
    tsr_tickets_t      *other;
    log_t               log;
    uint8_t             val[TSR_MAX_VALUE], bad[TSR_MAX_VALUE];
    char                name[HEX_SIZE], hex[HEX_SIZE], key[TSR_MAX_KEY_NAME];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, PERIOD,
                                       LIFETIME), 0);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, name, sizeof(name)), TSR_OK);
    CU_ASSERT_TRUE(tsr_tickets_ring_key(f.ta, key, sizeof(key)) > 0);

    len = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(ring_raw(f.ta, val, &len), 0);

    /* one byte of the sealed ring flipped in place */

    bad[0] = val[40] ^ 0x01;
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SETRANGE %s 40 %b", key, bad, 1), 0);

    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_SEAL_TAMPERED);
    CU_ASSERT_EQUAL(stats(f.ta).load_errors, 1);
    CU_ASSERT_EQUAL(stats(f.ta).loads, 1);
    CU_ASSERT_EQUAL(f.loga.errors, 1);
    CU_ASSERT_EQUAL(info(f.ta).gen, 1);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, name);

    /* the ring in use still issues and resumes */

    s1 = NULL;
    s2 = NULL;

    CU_ASSERT_EQUAL(hs(f.a, f.client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, name);
    reused = hs(f.a, f.client, s1, &s2);
    CU_ASSERT_EQUAL(reused, 1);

    /* a due ring that does not open is never overwritten */

    sleep_until(info(f.ta).due_at_ms + 20);

    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_SEAL_TAMPERED);
    CU_ASSERT_EQUAL(stats(f.ta).rotations, 1);
    CU_ASSERT_EQUAL(stats(f.ta).load_errors, 2);

    len2 = sizeof(bad);
    CU_ASSERT_EQUAL(ring_raw(f.ta, bad, &len2), 0);
    CU_ASSERT_EQUAL(len2, len);
    CU_ASSERT_EQUAL(bad[40], val[40] ^ 0x01);

    /* the generation in the clear header, changed */

    memcpy(bad, val, len);
    bad[7] ^= 0x02;
    CU_ASSERT_EQUAL(ring_set(f.ta, bad, len), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_EPROTO);
    CU_ASSERT_EQUAL(stats(f.ta).load_errors, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_tickets_error(f.ta),
                                  "generation is not the sealed one"));

    /* rotated_at moved a day ahead, to stretch the current key */

    memcpy(bad, val, len);
    put64(bad + 8, get64(val + 8) + 86400000);
    CU_ASSERT_EQUAL(ring_set(f.ta, bad, len), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_EPROTO);
    CU_ASSERT_EQUAL(stats(f.ta).load_errors, 4);

    /* a ring copied under another scope's key: the AAD differs */

    memset(&log, 0, sizeof(log));
    other = make_tickets(&redis, "copy", PERIOD, LIFETIME, 1, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    CU_ASSERT_EQUAL(ring_set(other, val, len), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(other), TSR_SEAL_MOVED);
    CU_ASSERT_EQUAL(stats(other).load_errors, 1);
    CU_ASSERT_EQUAL(tsr_tickets_info(other, &(tsr_tickets_info_t) { 0 }),
                    TSR_NOT_FOUND);
    tsr_tickets_destroy(other);

    /* put back, it loads again, and being due it rotates */

    CU_ASSERT_EQUAL(info(f.ta).gen, 1);
    CU_ASSERT_EQUAL(ring_set(f.ta, val, len), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_OK);
    CU_ASSERT_EQUAL(info(f.ta).gen, 2);
    CU_ASSERT_EQUAL(stats(f.ta).rotations, 2);
    CU_ASSERT_EQUAL(stats(f.ta).load_errors, 4);

    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);

    fixture_free(&f);
}


/*
 * Redis rolled back to an older ring (a restored backup, a lagging
 * replica promoted, a value written back): a node holding a newer ring
 * refuses it, keeps issuing under its own current key, logs it once, and
 * its next sync replaces the old ring at once with the next generation
 * of its own.  No key that has stopped encrypting becomes current again.
 */

static void
test_rolled_back_ring_is_refused_and_replaced(void)
{
    int                  errors;
    size_t               len1, len;
    uint64_t             loads, load_errors;
    fixture_t            f;
    SSL_SESSION         *s1;
    tsr_tickets_info_t   in2;
    uint8_t              val1[TSR_MAX_VALUE], val[TSR_MAX_VALUE];
    char                 name1[HEX_SIZE], name2[HEX_SIZE], hex[HEX_SIZE];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, PERIOD,
                                       LIFETIME), 0);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, name1, sizeof(name1)),
                    TSR_OK);

    len1 = sizeof(val1);
    CU_ASSERT_EQUAL_FATAL(ring_raw(f.ta, val1, &len1), 0);

    rotate_both(&f);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, name2, sizeof(name2)),
                    TSR_OK);
    CU_ASSERT_STRING_NOT_EQUAL(name1, name2);

    /* newest first: the next key of generation 2 */
    in2 = info(f.tb);
    CU_ASSERT_EQUAL_FATAL(in2.keys[0].role, TSR_TICKETS_NEXT);

    /* generation 1 back in Redis: refused, twice, logged once */

    errors = f.logb.errors;
    loads = stats(f.tb).loads;
    load_errors = stats(f.tb).load_errors;

    CU_ASSERT_EQUAL(ring_set(f.tb, val1, len1), 0);
    CU_ASSERT_EQUAL(tsr_tickets_load_value(f.tb, val1, len1), TSR_EPROTO);
    CU_ASSERT_EQUAL(tsr_tickets_load_value(f.tb, val1, len1), TSR_EPROTO);

    CU_ASSERT_EQUAL(info(f.tb).gen, 2);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, name2);
    CU_ASSERT_EQUAL(stats(f.tb).loads, loads);
    CU_ASSERT_EQUAL(stats(f.tb).load_errors, load_errors + 2);
    CU_ASSERT_EQUAL(f.logb.errors, errors + 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.logb.last, "older than generation 2"));
    CU_ASSERT_EQUAL(tsr_tickets_due(f.tb, 0), 1);

    /* B still issues under its own current key */

    s1 = NULL;
    CU_ASSERT_EQUAL(hs(f.b, f.client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, name2);
    SSL_SESSION_free(s1);

    /*
     * B's sync, a period from due: generation 3 built on B's 2, so its
     * current key is 2's next key, neither of the older ones.
     */

    CU_ASSERT_EQUAL(tsr_tickets_sync(f.tb), TSR_OK);
    CU_ASSERT_EQUAL(info(f.tb).gen, 3);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.tb, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, in2.keys[0].name);
    CU_ASSERT_STRING_NOT_EQUAL(hex, name1);
    CU_ASSERT_STRING_NOT_EQUAL(hex, name2);
    CU_ASSERT_EQUAL(tsr_tickets_due(f.tb, 0), 0);

    len = sizeof(val);
    CU_ASSERT_EQUAL(ring_raw(f.tb, val, &len), 0);
    CU_ASSERT_EQUAL(get64(val), 3);

    /* A follows; both keep the older keys only to decrypt */

    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_OK);
    CU_ASSERT_EQUAL(info(f.ta).gen, 3);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, in2.keys[0].name);
    CU_ASSERT_TRUE(ring_has(f.ta, name2));
    CU_ASSERT_TRUE(ring_has(f.ta, name1));

    printf("\n    generation 1 written back over 2: refused (logged once "
           "for two reads), replaced by generation 3 built on 2 ");

    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    fixture_free(&f);
}


static void
test_bogus_rings_are_rejected(void)
{
    int                  rc;
    log_t                log;
    size_t               n, errors;
    uint64_t             now, r;
    tsr_keyring_t       *stranger;
    tsr_tickets_t       *t;
    tsr_tickets_info_t   in;
    uint8_t              val[TSR_MAX_VALUE + 1];
    rec_t                recs[10];
    char                 key[TSR_MAX_KEY_NAME];

    static const uint8_t  ikm[32] = { 1, 2, 3 };

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    memset(&log, 0, sizeof(log));

    t = make_tickets(&redis, "bogus", LONG_PERIOD, LIFETIME, 1, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_TRUE(tsr_tickets_ring_key(t, key, sizeof(key)) > 0);

    now = wall_ms();
    r = now - 1000;

    /* a good ring of generation 5: next 6, current 5, previous 4 and 2 */

    recs[0] = (rec_t) { 6, 0, 0x60 };
    recs[1] = (rec_t) { 5, 0, 0x50 };
    recs[2] = (rec_t) { 4, 0, 0x40 };
    recs[3] = (rec_t) { 2, r - 5000, 0x20 };

    n = craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(tsr_tickets_load_value(t, val, n), TSR_OK);

    in = info(t);
    CU_ASSERT_EQUAL(in.gen, 5);
    CU_ASSERT_EQUAL(in.rotated_at_ms, r);
    CU_ASSERT_EQUAL(in.nkeys, 4);
    CU_ASSERT_EQUAL(in.keys[0].role, TSR_TICKETS_NEXT);
    CU_ASSERT_EQUAL(in.keys[1].role, TSR_TICKETS_CURRENT);
    CU_ASSERT_EQUAL(in.keys[1].encrypt_until_ms,
                    r + LONG_PERIOD + LONG_PERIOD / 4);
    CU_ASSERT_EQUAL(in.keys[2].role, TSR_TICKETS_PREVIOUS);
    CU_ASSERT_EQUAL(in.keys[2].decrypt_until_ms, r + LIFETIME + LONG_PERIOD);
    CU_ASSERT_EQUAL(in.keys[3].decrypt_until_ms,
                    r - 5000 + LIFETIME + LONG_PERIOD);
    CU_ASSERT_STRING_EQUAL(in.keys[1].name,
                           "50505050505050505050505050505050");

    errors = 0;

#define REJECT(expect, len)                                                  \
    do {                                                                     \
        rc = tsr_tickets_load_value(t, val, len);                            \
        CU_ASSERT_EQUAL(rc, expect);                                         \
        errors++;                                                            \
    } while (0)

    /* key counts: 9 records, 0, 1, and a count the length disagrees with */

    recs[4] = (rec_t) { 1, r - 9000, 0x10 };
    recs[5] = (rec_t) { 3, r - 6000, 0x30 };
    recs[6] = (rec_t) { 7, 0, 0x70 };
    recs[7] = (rec_t) { 8, 0, 0x80 };
    recs[8] = (rec_t) { 9, 0, 0x90 };

    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 9, recs, 9));
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 0, recs, 0));
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 1, recs, 1));
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 3));
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 255, recs, 4));

    /* version, sealed generation */

    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 2, 5, now, 4, recs, 4));
    REJECT(TSR_EPROTO, craft(t, keys, val, 6, r, 1, 5, now, 4, recs, 4));
    REJECT(TSR_EPROTO, craft(t, keys, val, 0, r, 1, 0, now, 4, recs, 4));

    /* rotated_at and the sealed build time more than a period apart */

    REJECT(TSR_EPROTO, craft(t, keys, val, 5, now + LONG_PERIOD + 1000, 1, 5,
                             now, 4, recs, 4));
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, 0, 1, 5, now, 4, recs, 4));

    /* duplicate names, duplicate generations */

    recs[3].fill = 0x40;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[3] = (rec_t) { 4, 0, 0x20 };
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));

    /* no next key; a key beyond next; no current key */

    recs[3] = (rec_t) { 2, r - 5000, 0x20 };
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 3, recs + 1,
                             3));
    recs[0].gen = 7;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[0].gen = 6;
    recs[1].gen = 3;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[1].gen = 5;

    /* stop times: an old key without one, one after rotated_at, and a
       current key that claims to have stopped */

    recs[3].stop = 0;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[3].stop = r + 1;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[3].stop = r - 5000;
    recs[1].stop = r;
    REJECT(TSR_EPROTO, craft(t, keys, val, 5, r, 1, 5, now, 4, recs, 4));
    recs[1].stop = 0;

    /* sizes: over the store's limit, over a ring's, under a ring's */

    RAND_bytes(val, sizeof(val));
    REJECT(TSR_ETOOBIG, TSR_MAX_VALUE + 1);
    REJECT(TSR_EPROTO, TSR_TICKETS_VALUE_MAX + 1);
    REJECT(TSR_EPROTO, 10);

    /* random bytes of a plausible size do not open */

    rc = tsr_tickets_load_value(t, val, 200);
    CU_ASSERT(rc < 0);
    errors++;

    /* sealed by a stranger's fleet key */

    stranger = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stranger);
    CU_ASSERT_EQUAL(tsr_keyring_add_key(stranger, ikm, sizeof(ikm), NULL, 0),
                    TSR_OK);
    REJECT(TSR_SEAL_UNKNOWN_KEY,
           craft(t, stranger, val, 5, r, 1, 5, now, 4, recs, 4));
    tsr_keyring_destroy(stranger);

#undef REJECT

    CU_ASSERT_EQUAL(stats(t).load_errors, errors);
    CU_ASSERT_EQUAL(stats(t).loads, 1);
    CU_ASSERT_EQUAL(log.errors, (int) errors);

    /* the good ring is still the one in use */

    in = info(t);
    CU_ASSERT_EQUAL(in.gen, 5);
    CU_ASSERT_EQUAL(in.nkeys, 4);
    CU_ASSERT_STRING_EQUAL(in.keys[1].name,
                           "50505050505050505050505050505050");

    /* through Redis: oversized, and a key of another type */

    memset(val, 'x', sizeof(val));
    CU_ASSERT_EQUAL(ring_set(t, val, sizeof(val)), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_ETOOBIG);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "DEL %s",
                                       key), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "RPUSH %s x", key), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_EPROTO);

    CU_ASSERT_EQUAL(stats(t).load_errors, errors + 2);
    CU_ASSERT_EQUAL(info(t).gen, 5);
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    tsr_tickets_destroy(t);
}


static void
redis_down_issues_until_period_ends(int version)
{
    int                 rc;
    log_t               log;
    uint64_t            r;
    SSL_CTX            *a, *client;
    SSL_SESSION        *s1, *s2, *s3, *s4;
    tsr_tickets_t      *t;
    tsr_test_redis_t    down;
    char                hex[HEX_SIZE];

    memset(&down, 0, sizeof(down));
    memset(&log, 0, sizeof(log));

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&down), 0);

    t = make_tickets(&down, "default", PERIOD, LIFETIME, 0, &log);
    a = make_server("a.test", version, t);
    client = tsr_test_client_ctx(version);

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);

    CU_ASSERT_EQUAL_FATAL(tsr_tickets_sync(t), TSR_OK);
    r = info(t).rotated_at_ms;

    CU_ASSERT_EQUAL(tsr_test_redis_stop(&down), 0);

    rc = tsr_tickets_sync(t);
    CU_ASSERT_TRUE(rc == TSR_ECONN || rc == TSR_ETIMEDOUT);
    CU_ASSERT_EQUAL(info(t).gen, 1);

    /* within the period and its grace: tickets as usual */

    s1 = NULL;
    s2 = NULL;
    s3 = NULL;
    s4 = NULL;

    CU_ASSERT_TRUE_FATAL(wall_ms() < r + PERIOD);
    CU_ASSERT_EQUAL(hs(a, client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, hex), 0);
    CU_ASSERT_EQUAL(stats(t).issued, version == TLS1_3_VERSION ? 2 : 1);
    CU_ASSERT_EQUAL(stats(t).not_issued, 0);

    /* past it: handshakes still complete, without a ticket */

    sleep_until(r + PERIOD + PERIOD / 4 + 20);

    log.errors = 0;

    CU_ASSERT_EQUAL(hs(a, client, NULL, &s2), 0);
    CU_ASSERT_EQUAL(ticket_name(s2, hex), -1);
    CU_ASSERT_EQUAL(stats(t).not_issued, version == TLS1_3_VERSION ? 2 : 1);
    CU_ASSERT_EQUAL(stats(t).issued, version == TLS1_3_VERSION ? 2 : 1);
    CU_ASSERT_EQUAL(log.errors, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log.last, "no session ticket issued"));

    /* tickets already out still resume under the current key */

    CU_ASSERT_EQUAL(hs(a, client, s1, &s3), 1);
    CU_ASSERT_EQUAL(stats(t).decrypted, 1);

    /* Redis back, empty: a new ring, tickets again */

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&down), 0);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_OK);
    CU_ASSERT_EQUAL(log.warnings, 1);
    CU_ASSERT_TRUE(info(t).rotated_at_ms > r);

    CU_ASSERT_EQUAL(hs(a, client, NULL, &s4), 0);
    CU_ASSERT_EQUAL(ticket_name(s4, hex), 0);
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_SESSION_free(s3);
    SSL_SESSION_free(s4);
    SSL_CTX_free(a);
    SSL_CTX_free(client);
    tsr_tickets_destroy(t);

    CU_ASSERT_EQUAL(tsr_test_redis_stop(&down), 0);
}


static void
test_redis_down_issues_until_the_period_ends_tls12(void)
{
    redis_down_issues_until_period_ends(TLS1_2_VERSION);
}


static void
test_redis_down_issues_until_the_period_ends_tls13(void)
{
    redis_down_issues_until_period_ends(TLS1_3_VERSION);
}


static const char *
script_source(void)
{
    size_t  i;

    for (i = 0; i < tsr_nscripts; i++) {
        if (strcmp(tsr_scripts[i].name, "ticket_rotate") == 0) {
            return tsr_scripts[i].source;
        }
    }

    return "";
}


static size_t
script_len(void)
{
    size_t  i;

    for (i = 0; i < tsr_nscripts; i++) {
        if (strcmp(tsr_scripts[i].name, "ticket_rotate") == 0) {
            return tsr_scripts[i].len;
        }
    }

    return 0;
}


static redisReply *
script_run(redisContext *c, const char *key, const void *gen, size_t genlen,
    const char *period, const char *blob)
{
    size_t  i;

    for (i = 0; i < tsr_nscripts; i++) {
        if (strcmp(tsr_scripts[i].name, "ticket_rotate") == 0) {
            return redisCommand(c, "EVAL %b 1 %s %b %s %s",
                                tsr_scripts[i].source, tsr_scripts[i].len,
                                key, gen, genlen, period, blob);
        }
    }

    return NULL;
}


/* the script alone: creation, refusals, a due rotation, bad arguments */

static void
test_script_is_a_compare_and_set(void)
{
    size_t         len;
    uint64_t       before;
    redisReply    *rep;
    redisContext  *c;
    uint8_t        header[16], gen[8], val[64];

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    c = redisConnect("127.0.0.1", redis.port);
    CU_ASSERT_FATAL(c != NULL && c->err == 0);

    /* absent and expected absent: generation 1 at Redis' time */

    before = wall_ms();

    rep = script_run(c, "tk", "", 0, "1000", "blob1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL_FATAL(rep->type, REDIS_REPLY_ARRAY);
    CU_ASSERT_EQUAL_FATAL(rep->elements, 2);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 1);
    CU_ASSERT_EQUAL_FATAL(rep->element[1]->len, 16);
    memcpy(header, rep->element[1]->str, 16);
    freeReplyObject(rep);

    CU_ASSERT_EQUAL(get64(header), 1);
    CU_ASSERT_TRUE(get64(header + 8) + 5 >= before);
    CU_ASSERT_TRUE(get64(header + 8) <= wall_ms() + 5);

    len = sizeof(val);
    CU_ASSERT_EQUAL(tsr_test_redis_get_raw(&redis, "tk", val, &len), 0);
    CU_ASSERT_EQUAL(len, 16 + 5);
    CU_ASSERT_EQUAL(memcmp(val, header, 16), 0);
    CU_ASSERT_EQUAL(memcmp(val + 16, "blob1", 5), 0);

    /* present but expected absent; right generation but not due; an
       older generation: nothing written, the stored header back */

    put64(gen, 1);

    rep = script_run(c, "tk", "", 0, "1000", "blob2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 0);
    CU_ASSERT_EQUAL(memcmp(rep->element[1]->str, header, 16), 0);
    freeReplyObject(rep);

    rep = script_run(c, "tk", gen, 8, "1000", "blob2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 0);
    CU_ASSERT_EQUAL(memcmp(rep->element[1]->str, header, 16), 0);
    freeReplyObject(rep);

    put64(gen, 0);

    rep = script_run(c, "tk", gen, 8, "1", "blob2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 0);
    freeReplyObject(rep);

    len = sizeof(val);
    CU_ASSERT_EQUAL(tsr_test_redis_get_raw(&redis, "tk", val, &len), 0);
    CU_ASSERT_EQUAL(memcmp(val + 16, "blob1", 5), 0);

    /* a generation of 7 bytes */

    rep = script_run(c, "tk", gen, 7, "1", "blob2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);

    /* expected present but absent: the caller's next generation, at once */

    put64(gen, 2);

    rep = script_run(c, "none", gen, 8, "1000000", "blob2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 1);
    CU_ASSERT_EQUAL(get64((uint8_t *) rep->element[1]->str), 3);
    freeReplyObject(rep);

    /* due with a 1 ms period: generation 2 */

    sleep_ms(5);
    put64(gen, 1);

    rep = script_run(c, "tk", gen, 8, "1", "blob3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->element[0]->integer, 1);
    CU_ASSERT_EQUAL(get64((uint8_t *) rep->element[1]->str), 2);
    CU_ASSERT_TRUE(get64((uint8_t *) rep->element[1]->str + 8)
                   >= get64(header + 8) + 1);
    freeReplyObject(rep);

    /*
     * Rolled back: Redis holds generation 2, the caller built on its 5.
     * Its generation 6 replaces it at once, period or not; generation 2
     * can then no longer be built on.  With "value", the stored ring
     * comes back instead of the header.
     */

    put64(gen, 5);

    rep = redisCommand(c, "EVAL %b 1 tk %b 1000000 blob4 value",
                       script_source(), script_len(), gen, (size_t) 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL_FATAL(rep->type, REDIS_REPLY_STRING);
    CU_ASSERT_EQUAL_FATAL(rep->len, 16 + 5);
    CU_ASSERT_EQUAL(get64((uint8_t *) rep->str), 6);
    CU_ASSERT_EQUAL(memcmp(rep->str + 16, "blob4", 5), 0);
    freeReplyObject(rep);

    put64(gen, 2);

    rep = redisCommand(c, "EVAL %b 1 tk %b 1 blob5 value",
                       script_source(), script_len(), gen, (size_t) 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL_FATAL(rep->type, REDIS_REPLY_STRING);
    CU_ASSERT_EQUAL(get64((uint8_t *) rep->str), 6);
    CU_ASSERT_EQUAL(memcmp(rep->str + 16, "blob4", 5), 0);
    freeReplyObject(rep);

    rep = redisCommand(c, "EVAL %b 1 nothing %b 1 blob5 value",
                       script_source(), script_len(), "", (size_t) 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->type, REDIS_REPLY_STRING);
    CU_ASSERT_EQUAL(get64((uint8_t *) rep->str), 1);
    freeReplyObject(rep);

    /* bad periods; another type under the key */

    rep = script_run(c, "tk", gen, 8, "0", "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);

    rep = script_run(c, "tk", gen, 8, "soon", "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);

    rep = redisCommand(c, "RPUSH list x");
    freeReplyObject(rep);
    rep = script_run(c, "list", "", 0, "1000", "x");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
    CU_ASSERT_EQUAL(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);

    /* it touched nothing but its key */

    rep = redisCommand(c, "DBSIZE");
    CU_ASSERT_EQUAL(rep->integer, 4);
    freeReplyObject(rep);

    redisFree(c);
}


static void
test_script_flush_is_survived(void)
{
    size_t         i;
    fixture_t      f;
    uint8_t        md[SHA_DIGEST_LENGTH];
    char           sha[2 * SHA_DIGEST_LENGTH + 1];

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, PERIOD,
                                       LIFETIME), 0);

    for (i = 0; i < tsr_nscripts; i++) {
        if (strcmp(tsr_scripts[i].name, "ticket_rotate") == 0) {
            break;
        }
    }

    CU_ASSERT_FATAL(i < tsr_nscripts);

    SHA1((const uint8_t *) tsr_scripts[i].source, tsr_scripts[i].len, md);
    to_hex(md, sizeof(md), sha);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SCRIPT EXISTS %s", sha), 0);
    CU_ASSERT_STRING_EQUAL(out, "1");

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SCRIPT FLUSH"), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SCRIPT EXISTS %s", sha), 0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    /* NOSCRIPT, SCRIPT LOAD, EVALSHA again */

    rotate_both(&f);

    CU_ASSERT_EQUAL(stats(f.ta).rotations, 2);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "SCRIPT EXISTS %s", sha), 0);
    CU_ASSERT_STRING_EQUAL(out, "1");
    CU_ASSERT_EQUAL(f.loga.errors, 0);

    fixture_free(&f);
}


static void
test_no_rotate_only_reads(void)
{
    log_t           log, logw;
    tsr_tickets_t  *reader, *writer;

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    memset(&log, 0, sizeof(log));
    memset(&logw, 0, sizeof(logw));

    reader = make_tickets(&redis, "default", PERIOD, LIFETIME, 1, &log);
    writer = make_tickets(&redis, "default", PERIOD, LIFETIME, 0, &logw);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reader);
    CU_ASSERT_PTR_NOT_NULL_FATAL(writer);

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "DBSIZE"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    CU_ASSERT_EQUAL(tsr_tickets_sync(writer), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(info(reader).gen, 1);

    sleep_until(info(reader).due_at_ms + 20);

    CU_ASSERT_TRUE(tsr_tickets_due(reader, 0));
    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(info(reader).gen, 1);
    CU_ASSERT_EQUAL(stats(reader).rotations, 0);

    tsr_tickets_destroy(reader);
    tsr_tickets_destroy(writer);
}


static void
test_no_ring_issues_no_ticket(void)
{
    log_t           log;
    SSL_CTX        *a, *client;
    SSL_SESSION    *s;
    tsr_tickets_t  *t;
    char            hex[HEX_SIZE];

    memset(&log, 0, sizeof(log));

    t = make_tickets(&redis, "default", PERIOD, LIFETIME, 0, &log);
    a = make_server("a.test", TLS1_2_VERSION, t);
    client = tsr_test_client_ctx(TLS1_2_VERSION);

    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(t, hex, sizeof(hex)),
                    TSR_NOT_FOUND);
    CU_ASSERT_TRUE(tsr_tickets_due(t, 0));

    s = NULL;

    CU_ASSERT_EQUAL(hs(a, client, NULL, &s), 0);
    CU_ASSERT_EQUAL(ticket_name(s, hex), -1);
    CU_ASSERT_EQUAL(stats(t).not_issued, 1);
    CU_ASSERT_EQUAL(stats(t).issued, 0);
    CU_ASSERT_EQUAL(log.errors, 1);

    SSL_SESSION_free(s);
    SSL_CTX_free(a);
    SSL_CTX_free(client);
    tsr_tickets_destroy(t);
}


static void
test_info_due_and_key_name(void)
{
    char                 hex[HEX_SIZE];
    fixture_t            f;
    uint64_t             r;
    tsr_tickets_info_t   in;

    CU_ASSERT_EQUAL_FATAL(fixture_init(&f, TLS1_2_VERSION, PERIOD,
                                       LIFETIME), 0);

    in = info(f.ta);
    r = in.rotated_at_ms;

    CU_ASSERT_EQUAL(tsr_tickets_info(f.ta, &in), TSR_OK);
    CU_ASSERT_EQUAL(in.gen, 1);
    CU_ASSERT_EQUAL(in.due_at_ms, r + PERIOD);
    CU_ASSERT_EQUAL(in.period_ms, PERIOD);
    CU_ASSERT_EQUAL(in.lifetime_ms, LIFETIME);
    CU_ASSERT_EQUAL(in.nkeys, 2);
    CU_ASSERT_EQUAL(in.keys[0].role, TSR_TICKETS_NEXT);
    CU_ASSERT_EQUAL(in.keys[0].gen, 2);
    CU_ASSERT_EQUAL(in.keys[0].encrypt_until_ms, 0);
    CU_ASSERT_EQUAL(in.keys[0].decrypt_until_ms, 0);
    CU_ASSERT_EQUAL(in.keys[1].role, TSR_TICKETS_CURRENT);
    CU_ASSERT_EQUAL(in.keys[1].gen, 1);
    CU_ASSERT_EQUAL(in.keys[1].encrypt_until_ms,
                    r + PERIOD + PERIOD / 4);
    CU_ASSERT_EQUAL(in.keys[1].decrypt_until_ms, 0);
    CU_ASSERT_EQUAL(strlen(in.keys[1].name), 32);

    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, hex, sizeof(hex)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(hex, in.keys[1].name);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(f.ta, hex, sizeof(hex) - 1),
                    TSR_EINVAL);

    CU_ASSERT_EQUAL(tsr_tickets_due(f.ta, r + PERIOD - 1), 0);
    CU_ASSERT_EQUAL(tsr_tickets_due(f.ta, r + PERIOD), 1);

    CU_ASSERT_EQUAL(tsr_tickets_ring_key(f.ta, hex, 14), TSR_ETOOBIG);
    CU_ASSERT_EQUAL(tsr_tickets_ring_key(f.ta, hex, 15), 14);

    /* a sync before the period ends changes nothing */

    CU_ASSERT_EQUAL(tsr_tickets_sync(f.ta), TSR_OK);
    CU_ASSERT_EQUAL(info(f.ta).gen, 1);
    CU_ASSERT_EQUAL(stats(f.ta).rotations, 1);
    CU_ASSERT_EQUAL(stats(f.ta).loads, 2);

    fixture_free(&f);
}


static void
test_attach_detach_destroy_in_any_order(void)
{
    log_t           log;
    SSL_CTX        *a, *b, *client;
    SSL_SESSION    *s1, *s2;
    tsr_tickets_t  *t, *t2;
    char            hex[HEX_SIZE], name[HEX_SIZE];

    CU_ASSERT_EQUAL_FATAL(flush(), 0);

    memset(&log, 0, sizeof(log));

    t = make_tickets(&redis, "default", LONG_PERIOD, LIFETIME, 0, &log);
    t2 = make_tickets(&redis, "default", LONG_PERIOD, LIFETIME, 0, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t2);
    CU_ASSERT_EQUAL_FATAL(tsr_tickets_sync(t), TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_tickets_sync(t2), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_key_name(t, name, sizeof(name)), TSR_OK);

    a = make_server("a.test", TLS1_2_VERSION, t);
    client = tsr_test_client_ctx(TLS1_2_VERSION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);

    CU_ASSERT_EQUAL(tsr_tickets_attach(NULL, a), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_tickets_attach(t, NULL), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_tickets_attach(t, a), TSR_OK);

    s1 = NULL;
    s2 = NULL;

    /* detached: OpenSSL's own per-context keys again */

    tsr_tickets_detach(a);
    tsr_tickets_detach(a);

    CU_ASSERT_EQUAL(hs(a, client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, hex), 0);
    CU_ASSERT_STRING_NOT_EQUAL(hex, name);
    CU_ASSERT_EQUAL(stats(t).issued, 0);
    SSL_SESSION_free(s1);
    s1 = NULL;

    /* attached to t, then to t2: t2 alone serves it */

    CU_ASSERT_EQUAL(tsr_tickets_attach(t, a), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_attach(t2, a), TSR_OK);
    CU_ASSERT_EQUAL(hs(a, client, NULL, &s1), 0);
    CU_ASSERT_EQUAL(ticket_name(s1, hex), 0);
    CU_ASSERT_STRING_EQUAL(hex, name);
    CU_ASSERT_EQUAL(stats(t).issued, 0);
    CU_ASSERT_EQUAL(stats(t2).issued, 1);

    /* the object destroyed first: the context forgets it */

    b = make_server("b.test", TLS1_2_VERSION, t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);

    tsr_tickets_destroy(t2);

    CU_ASSERT_EQUAL(hs(a, client, s1, &s2), 0);
    SSL_SESSION_free(s2);
    s2 = NULL;

    /* the context freed first: the object forgets it */

    SSL_CTX_free(b);
    tsr_tickets_destroy(t);

    SSL_SESSION_free(s1);
    SSL_CTX_free(a);
    SSL_CTX_free(client);

    tsr_tickets_destroy(NULL);
}


static void
test_create_rejects_bad_conf(void)
{
    tsr_tickets_t       *t;
    tsr_store_conf_t     sconf;
    tsr_tickets_conf_t   conf;
    char                 err[ERR_SIZE], prefix[300];

    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_PTR_NULL(tsr_tickets_create(NULL, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no fleet key"));

    conf.keys = keys;

    conf.scope = "";
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    conf.scope = "two words";
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid scope"));
    conf.scope = NULL;

    conf.period_ms = 99;
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "rotation period"));
    conf.period_ms = 0;

    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    conf.prefix = prefix;
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    conf.prefix = NULL;

    memset(&sconf, 0, sizeof(sconf));
    sconf.port = 70000;
    conf.store_conf = &sconf;
    CU_ASSERT_PTR_NULL(tsr_tickets_create(&conf, err, sizeof(err)));
    conf.store_conf = NULL;

    /* all defaults but the fleet keys: fine, yet nothing to sync with */

    t = tsr_tickets_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_tickets_error(t), "no redis"));
    CU_ASSERT_EQUAL(info(t).period_ms, TSR_TICKETS_DEFAULT_PERIOD);
    CU_ASSERT_EQUAL(info(t).lifetime_ms, TSR_TICKETS_DEFAULT_LIFETIME);
    CU_ASSERT_EQUAL(tsr_tickets_ring_key(t, err, sizeof(err)),
                    (int) strlen("tsr:tk:default"));
    tsr_tickets_destroy(t);

    /* never_block: sync refuses */

    memset(&sconf, 0, sizeof(sconf));
    sconf.never_block = 1;
    conf.store_conf = &sconf;
    t = tsr_tickets_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_EINVAL);
    tsr_tickets_destroy(t);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(ticket_from_a_resumes_on_b_100_of_100_tls12),
        TSR_TEST(ticket_from_a_resumes_on_b_100_of_100_tls13),
        TSR_TEST(redis_holds_no_key_bytes_in_clear),
        TSR_TEST(previous_key_renews_then_leaves_the_ring_tls12),
        TSR_TEST(previous_key_renews_then_leaves_the_ring_tls13),
        TSR_TEST(unknown_key_name_gets_a_full_handshake_tls12),
        TSR_TEST(unknown_key_name_gets_a_full_handshake_tls13),
        TSR_TEST(eight_racing_rotators_rotate_once_per_period),
        TSR_TEST(forced_rotations_back_to_back_each_rotate),
        TSR_TEST(tampered_ring_is_rejected_and_last_good_ring_kept),
        TSR_TEST(bogus_rings_are_rejected),
        TSR_TEST(rolled_back_ring_is_refused_and_replaced),
        TSR_TEST(redis_down_issues_until_the_period_ends_tls12),
        TSR_TEST(redis_down_issues_until_the_period_ends_tls13),
        TSR_TEST(script_is_a_compare_and_set),
        TSR_TEST(script_flush_is_survived),
        TSR_TEST(no_rotate_only_reads),
        TSR_TEST(no_ring_issues_no_ticket),
        TSR_TEST(info_due_and_key_name),
        TSR_TEST(attach_detach_destroy_in_any_order),
        TSR_TEST(create_rejects_bad_conf)
    };

    /* a write to a connection Redis closed must not kill the program */
    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("tickets", init_suite, clean_suite, tests);
}
