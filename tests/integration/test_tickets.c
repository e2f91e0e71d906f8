
/*
 * Fleet ticket keys against real nginx nodes: two nodes (http and
 * stream) share one private Redis, a third node of another fleet has its
 * own (the fixture in nodes.c; single use is in test_single_use.c).
 *
 * - tickets: sessions resume across nodes through stateless tickets (TLS
 *   1.2 tickets, TLS 1.3 tickets), never through the session cache;
 * - rotation: a ticket under the previous key resumes and is renewed; a
 *   ticket whose key has left the ring does not; a ticket of another
 *   fleet gets a full handshake, quietly;
 * - a race of rotators (four nginx workers, two of them rotating, plus
 *   extra processes calling tsr_tickets_sync()) rotates exactly once per
 *   period, and no handshake meanwhile goes without a ticket;
 * - Redis stopped: tickets are issued until the current key's encryption
 *   period ends, then not (handshakes still succeed, logged), and again
 *   once Redis is back;
 * - reload and restart keep tickets resuming;
 * - a Redis that drips its replies a byte at a time, each just within
 *   the read timeout, holds neither a worker's start nor a reload.
 *
 * Periods are short (2 s) and every wait is bounded.  Timing
 * assertions leave room for a loaded machine: they check what the design
 * guarantees (once per period by Redis' clock, the encryption grace of a
 * quarter period), not how fast a process is scheduled.
 *
 * TSR_TEST_ONLY=<substring> runs only the tests whose names contain it.
 */


#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "nodes.h"


#define HANDSHAKES        1000
#define MAX_FAILURES      20
#define RING_KEY          "tsr:tk:default"
#define RING_MAX          16384
#define SHORT_PERIOD      2000        /* ms: rotation and outage cases */
#define RACE_PERIOD       2000        /* ms */
#define RACE_PERIODS      3
#define RACE_PROCS        6
#define DRIP_BOUND        9000        /* ms: a start's deadline is 4 s */
#define MAX_WORKERS       16


/* the ring's clear header */
typedef struct {
    uint64_t            gen;
    uint64_t            rotated_at;     /* Redis' clock, Unix ms */
} ring_head_t;


/* what watch_ring() saw */
typedef struct {
    uint64_t            first_gen;
    uint64_t            last_gen;
    int                 steps;          /* generation changes */
    int                 skipped;        /* changes by more than one */
    int                 too_soon;       /* under a period apart */
    int                 too_late;       /* over 1.25 periods apart */
    int                 ring_gone;
    long long           min_gap;        /* ms between rotations */
    long long           max_gap;
    int                 handshakes;
    int                 failed;
    int                 issued;         /* with a ticket */
    int                 offered;
    int                 resumed;
} watch_t;


static int ticket_name(const SSL_SESSION *sess, char *out);
static int has_ticket(const SSL_SESSION *sess);
static int same_ticket(const SSL_SESSION *a, const SSL_SESSION *b);
static int ring_head(tsr_test_redis_t *r, ring_head_t *h);
static int ring_info(tsr_test_redis_t *r, uint64_t period,
    tsr_tickets_info_t *info);
static int ring_current(tsr_test_redis_t *r, uint64_t period,
    uint64_t *gen, char *name);
static int ring_holds(tsr_test_redis_t *r, uint64_t period,
    const char *name);
static int wait_rotation(uint64_t after, int ms, ring_head_t *h);
static int wait_issuing(int first, int n, int version, const char *name,
    int ms);
static int wait_lifetime_hint(int first, int n, unsigned long hint, int ms);
static void cross_node(int stream, int version);
static void rotation(int stream, int version);
static void race_child(int period, long long until);
static int watch_ring(int periods, watch_t *w);
static int rotating_pids(const char *path);
static void watch_report(const char *what, int periods, const watch_t *w);
static void test_http_tls12_tickets_resume_across_nodes(void);
static void test_http_tls13_tickets_resume_across_nodes(void);
static void test_stream_tls12_tickets_resume_across_nodes(void);
static void test_stream_tls13_tickets_resume_across_nodes(void);
static void test_http_tls12_rotation_renews_then_key_leaves(void);
static void test_http_tls13_rotation_renews_then_key_leaves(void);
static void test_stream_tls12_rotation_renews_then_key_leaves(void);
static void test_stream_tls13_rotation_renews_then_key_leaves(void);
static void test_ticket_of_another_fleet_gets_full_handshake(void);
static void test_rotation_race_once_per_period(void);
static void test_redis_outage_stops_issuing_after_grace(void);
static void test_tickets_survive_reload_and_restart(void);
static int worker_pids(pid_t master, pid_t *pids, int max);
static int wait_serving(node_t *nd, int ms);
static void test_dripping_redis_does_not_hold_worker_start(void);
static void test_dripping_redis_does_not_hold_reload(void);
static void test_former_directive_names_still_work(void);


/*
 * A ticket starts with the name of its key (16 bytes, as nginx's key
 * files and tsr's ring lay them out): its hex in out[33].  Returns 0, or
 * -1 without a ticket.
 */

static int
ticket_name(const SSL_SESSION *sess, char *out)
{
    size_t                i, len;
    const unsigned char  *tick;

    out[0] = '\0';

    if (sess == NULL) {
        return -1;
    }

    SSL_SESSION_get0_ticket(sess, &tick, &len);

    if (tick == NULL || len < TSR_TICKETS_NAME_LEN) {
        return -1;
    }

    for (i = 0; i < TSR_TICKETS_NAME_LEN; i++) {
        snprintf(out + 2 * i, 3, "%02x", tick[i]);
    }

    return 0;
}


static int
has_ticket(const SSL_SESSION *sess)
{
    return sess != NULL && SSL_SESSION_has_ticket(sess);
}


static int
same_ticket(const SSL_SESSION *a, const SSL_SESSION *b)
{
    size_t                alen, blen;
    const unsigned char  *at, *bt;

    SSL_SESSION_get0_ticket(a, &at, &alen);
    SSL_SESSION_get0_ticket(b, &bt, &blen);

    return alen == blen && alen > 0 && memcmp(at, bt, alen) == 0;
}


static int
ring_head(tsr_test_redis_t *r, ring_head_t *h)
{
    int            i;
    size_t         len;
    unsigned char  val[RING_MAX];

    len = sizeof(val);

    if (tsr_test_redis_get_raw(r, RING_KEY, val, &len) != 0 || len < 16) {
        return -1;
    }

    h->gen = 0;
    h->rotated_at = 0;

    for (i = 0; i < 8; i++) {
        h->gen = (h->gen << 8) | val[i];
        h->rotated_at = (h->rotated_at << 8) | val[8 + i];
    }

    return 0;
}


/* opens the ring in Redis as a node would, and describes it */

static int
ring_info(tsr_test_redis_t *r, uint64_t period, tsr_tickets_info_t *info)
{
    int                  rc;
    size_t               len;
    tsr_tickets_t       *t;
    tsr_tickets_conf_t   conf;
    char                 err[256];
    unsigned char        val[RING_MAX];

    len = sizeof(val);

    if (tsr_test_redis_get_raw(r, RING_KEY, val, &len) != 0) {
        return -1;
    }

    memset(&conf, 0, sizeof(tsr_tickets_conf_t));
    conf.keys = fleet;
    conf.period_ms = period;
    conf.no_rotate = 1;

    t = tsr_tickets_create(&conf, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "tsr_tickets_create(): %s\n", err);
        return -1;
    }

    rc = -1;

    if (tsr_tickets_load_value(t, val, len) == TSR_OK
        && tsr_tickets_info(t, info) == TSR_OK)
    {
        rc = 0;
    }

    tsr_tickets_destroy(t);
    OPENSSL_cleanse(val, sizeof(val));

    return rc;
}


static int
ring_current(tsr_test_redis_t *r, uint64_t period, uint64_t *gen,
    char *name)
{
    size_t              i;
    tsr_tickets_info_t  info;

    if (ring_info(r, period, &info) != 0) {
        return -1;
    }

    for (i = 0; i < info.nkeys; i++) {
        if (info.keys[i].role == TSR_TICKETS_CURRENT) {
            *gen = info.gen;
            memcpy(name, info.keys[i].name, sizeof(info.keys[i].name));
            return 0;
        }
    }

    return -1;
}


/* 1: a key of that name is in the ring, 0: not, -1: no ring */

static int
ring_holds(tsr_test_redis_t *r, uint64_t period, const char *name)
{
    size_t              i;
    tsr_tickets_info_t  info;

    if (ring_info(r, period, &info) != 0) {
        return -1;
    }

    for (i = 0; i < info.nkeys; i++) {
        if (strcmp(info.keys[i].name, name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* until the ring's generation passes "after" */

static int
wait_rotation(uint64_t after, int ms, ring_head_t *h)
{
    int        i;
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (i = 0; i < 100000 && tsr_test_now_ms() < deadline; i++) {
        if (ring_head(&redis, h) == 0 && h->gen > after) {
            return 0;
        }

        tsr_test_sleep_ms(5);
    }

    return -1;
}


/* until every node given issues tickets under the key "name" */

static int
wait_issuing(int first, int n, int version, const char *name, int ms)
{
    int        i, k, done;
    hs_t       hs;
    char       got[2 * TSR_TICKETS_NAME_LEN + 1];
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (k = first; k < first + n; k++) {
        done = 0;

        for (i = 0; i < 1000 && !done && tsr_test_now_ms() < deadline; i++)
        {
            if (handshake(&nodes[k], version, 1, NULL, &hs) == 0
                && ticket_name(hs.sess, got) == 0
                && strcmp(got, name) == 0)
            {
                done = 1;

            } else {
                tsr_test_sleep_ms(20);
            }

            hs_free(&hs);
        }

        if (!done) {
            return -1;
        }
    }

    return 0;
}


/* until every node given sends tickets with this lifetime hint: reloaded */

static int
wait_lifetime_hint(int first, int n, unsigned long hint, int ms)
{
    int        i, k, done;
    hs_t       hs;
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (k = first; k < first + n; k++) {
        done = 0;

        for (i = 0; i < 1000 && !done && tsr_test_now_ms() < deadline; i++)
        {
            if (handshake(&nodes[k], TSR_TEST_TLS13, 1, NULL, &hs) == 0
                && hs.sess != NULL
                && SSL_SESSION_get_ticket_lifetime_hint(hs.sess) == hint)
            {
                done = 1;

            } else {
                tsr_test_sleep_ms(50);
            }

            hs_free(&hs);
        }

        if (!done) {
            return -1;
        }
    }

    return 0;
}


/*
 * Tickets on: handshakes alternate between the nodes, each offering the
 * session the previous one received.  Resumption comes from the tickets:
 * Redis holds the ring and no session.
 */

static void
cross_node(int stream, int version)
{
    int           i, rc, offered, resumed, failed, ticketed, stored;
    hs_t          hs;
    char          out[64];
    long long     start, elapsed;
    node_conf_t   nc;
    SSL_SESSION  *offer;

    offer = NULL;
    offered = 0;
    resumed = 0;
    failed = 0;
    ticketed = 0;
    i = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.stream = stream;
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    (void) tsr_test_redis_cmd(&redis, out, sizeof(out), "EVAL %s 0 %s",
                              "for _, k in ipairs(redis.call('KEYS', "
                              "ARGV[1])) do redis.call('DEL', k) end",
                              "tsr:s:*");

    start = tsr_test_now_ms();

    /* one more than HANDSHAKES: every one of HANDSHAKES offers counts */

    for (i = 0; i <= HANDSHAKES && failed < MAX_FAILURES; i++) {
        rc = handshake(&nodes[i % 2], version, 1, offer, &hs);

        if (offer != NULL) {
            offered++;
            resumed += hs.reused;
            SSL_SESSION_free(offer);
        }

        if (rc != 0) {
            failed++;
        }

        ticketed += has_ticket(hs.sess);
        offer = hs.sess;
    }

    elapsed = tsr_test_now_ms() - start;
    stored = session_keys(&redis, "tsr:s:*");

    printf("\n    %s TLSv1.%d tickets: %d of %d offers resumed on the "
           "other node (%.2f%%), %d of %d sessions with a ticket, %d "
           "sessions in redis, %d handshakes in %lld ms ",
           stream ? "stream" : "http", version == TSR_TEST_TLS13 ? 3 : 2,
           resumed, offered, offered > 0 ? 100.0 * resumed / offered : 0.0,
           ticketed, i, stored, i, elapsed);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(offered, HANDSHAKES);
    CU_ASSERT(resumed >= HANDSHAKES - 1);
    CU_ASSERT(ticketed >= HANDSHAKES);
    CU_ASSERT_EQUAL(stored, 0);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    stop_nodes();
    check_logs();
}


/*
 * Period SHORT_PERIOD, session timeout 60 s.  T0 is issued under the
 * current key of generation g0 (both nodes verified to issue under it).
 * Once generation g0 + 1 is loaded, T0's key is a previous key: T0
 * resumes on both nodes and is renewed under the new current key.
 *
 * Then the key must leave the ring while T0 itself is still valid.  A
 * key decrypts until it stopped + ticket lifetime + period, and the
 * lifetime is the nodes' session timeout, so with one configuration a
 * ticket always expires before its key goes (by design).  The nodes are
 * therefore reloaded with ssl_session_timeout 2s: the ring's lifetime
 * becomes 2 s, T0's key expires 2 s + one period after it stopped and
 * the next rotation drops it from the ring, while T0 carries its own
 * 60 s timeout (OpenSSL checks the session's timeout, not the
 * context's).  The test waits until the ring in Redis no longer holds
 * T0's key name and that time has passed by the local clock, checks T0 is
 * well within its 60 s, and offers it: full handshake on both nodes.
 */

static void
rotation(int stream, int version)
{
    int           k, fresh_ok, renewed, early_ok, held;
    hs_t          hs;
    char          n0[2 * TSR_TICKETS_NAME_LEN + 1];
    char          cur[2 * TSR_TICKETS_NAME_LEN + 1];
    char          got[2 * TSR_TICKETS_NAME_LEN + 1];
    uint64_t      gen, g0;
    long long     issued_at, stopped, gone_at, now, deadline;
    node_conf_t   nc;
    ring_head_t   h;
    SSL_SESSION  *t0;

    t0 = NULL;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.stream = stream;
    nc.tickets = 1;
    nc.rotation = "2s";
    nc.timeout = "60s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* right after a rotation, both nodes issuing under the new key */

    if (ring_head(&redis, &h) != 0
        || wait_rotation(h.gen, 3 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &g0, cur) != 0
        || wait_issuing(NODE_A, 2, version, cur, SHORT_PERIOD / 2) != 0)
    {
        CU_FAIL("no fresh generation issued by both nodes");
        goto done;
    }

    if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0
        || ticket_name(hs.sess, n0) != 0)
    {
        hs_free(&hs);
        CU_FAIL("no ticket from node A");
        goto done;
    }

    t0 = hs.sess;
    issued_at = tsr_test_now_ms();

    CU_ASSERT_STRING_EQUAL(n0, cur);

    /*
     * Under the current key, a TLS 1.2 ticket is not replaced (TLS 1.3
     * always gets a new one); judged only if no rotation can have
     * happened meanwhile.
     */

    early_ok = -1;

    if (handshake(&nodes[NODE_B], version, 1, t0, &hs) == 0) {
        CU_ASSERT_EQUAL(hs.reused, 1);

        if (version == TSR_TEST_TLS12
            && real_ms() < (long long) h.rotated_at + SHORT_PERIOD - 100)
        {
            early_ok = hs.sess != NULL && same_ticket(hs.sess, t0);
            CU_ASSERT_EQUAL(early_ok, 1);
        }

    } else {
        CU_FAIL("handshake with node B failed");
    }

    hs_free(&hs);

    /* the next generation: T0's key becomes a previous key */

    if (wait_rotation(g0, 2 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &gen, cur) != 0
        || wait_issuing(NODE_A, 2, version, cur, SHORT_PERIOD) != 0)
    {
        CU_FAIL("no next generation issued by both nodes");
        goto done;
    }

    /* when T0's key stopped encrypting: the rotation after g0 */
    stopped = (long long) h.rotated_at;

    if (h.gen != g0 + 1) {
        /* a slow machine saw two rotations: take g0 + 1's time apart */
        stopped = -1;
    }

    renewed = 0;

    for (k = NODE_B; k >= NODE_A; k--) {
        if (handshake(&nodes[k], version, 1, t0, &hs) != 0) {
            CU_FAIL("handshake failed");
            continue;
        }

        CU_ASSERT_EQUAL(hs.reused, 1);

        /* renewed: a new ticket, under another key */

        if (version == TSR_TEST_TLS13) {
            CU_ASSERT(hs.sessions >= 1);
        }

        if (hs.sess != NULL && !same_ticket(hs.sess, t0)
            && ticket_name(hs.sess, got) == 0 && strcmp(got, n0) != 0)
        {
            renewed++;
        }

        hs_free(&hs);
    }

    CU_ASSERT_EQUAL(renewed, 2);

    printf("\n    %s TLSv1.%d: ticket of generation %llu resumed and renewed "
           "on %d of 2 nodes in generation %llu%s",
           stream ? "stream" : "http", version == TSR_TEST_TLS13 ? 3 : 2,
           (unsigned long long) g0, renewed, (unsigned long long) h.gen,
           early_ok == 1 ? " (not renewed before the rotation)" : "");

    /* the key leaves the ring: lifetime 2 s from now on */

    nc.timeout = "2s";

    if (reload_nodes(NODE_A, 2, &nc) != 0
        || wait_lifetime_hint(NODE_A, 2, 2, 10000) != 0)
    {
        CU_FAIL("nodes did not reload");
        goto done;
    }

    if (stopped == -1) {
        stopped = real_ms();
    }

    deadline = tsr_test_now_ms() + 6 * SHORT_PERIOD + 10000;
    gone_at = stopped + 2000 + SHORT_PERIOD;
    held = 1;

    for (k = 0; k < 100000 && tsr_test_now_ms() < deadline; k++) {
        held = ring_holds(&redis, SHORT_PERIOD, n0);

        if (held == 0 && real_ms() > gone_at + 100) {
            break;
        }

        tsr_test_sleep_ms(50);
    }

    now = tsr_test_now_ms();

    CU_ASSERT_EQUAL(held, 0);

    /* T0 would still be valid: only its key can be missing */
    CU_ASSERT(now - issued_at < 50000);

    fresh_ok = 0;

    for (k = NODE_A; k <= NODE_B; k++) {
        if (handshake(&nodes[k], version, 1, t0, &hs) != 0) {
            CU_FAIL("handshake failed");
            continue;
        }

        CU_ASSERT_EQUAL(hs.reused, 0);
        fresh_ok += has_ticket(hs.sess);
        hs_free(&hs);
    }

    CU_ASSERT_EQUAL(fresh_ok, 2);

    printf("\n    the key left the ring %lld ms after it stopped; its "
           "ticket, %lld s old of 60 s, got a full handshake on both nodes ",
           real_ms() - stopped, (now - issued_at) / 1000);

done:

    if (t0 != NULL) {
        SSL_SESSION_free(t0);
    }

    stop_nodes();
    check_logs();
}


static void
test_http_tls12_tickets_resume_across_nodes(void)
{
    cross_node(0, TSR_TEST_TLS12);
}


static void
test_http_tls13_tickets_resume_across_nodes(void)
{
    cross_node(0, TSR_TEST_TLS13);
}


static void
test_stream_tls12_tickets_resume_across_nodes(void)
{
    cross_node(1, TSR_TEST_TLS12);
}


static void
test_stream_tls13_tickets_resume_across_nodes(void)
{
    cross_node(1, TSR_TEST_TLS13);
}


static void
test_http_tls12_rotation_renews_then_key_leaves(void)
{
    rotation(0, TSR_TEST_TLS12);
}


static void
test_http_tls13_rotation_renews_then_key_leaves(void)
{
    rotation(0, TSR_TEST_TLS13);
}


static void
test_stream_tls12_rotation_renews_then_key_leaves(void)
{
    rotation(1, TSR_TEST_TLS12);
}


static void
test_stream_tls13_rotation_renews_then_key_leaves(void)
{
    rotation(1, TSR_TEST_TLS13);
}


/*
 * Node C belongs to another fleet (its own Redis and fleet key, the same
 * certificate): its tickets name keys node A has never seen, and the
 * other way round.  A full handshake with a new ticket, no error logged.
 */

static void
test_ticket_of_another_fleet_gets_full_handshake(void)
{
    int           v, version, errors;
    hs_t          ha, hc, hs;
    node_conf_t   nc;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("node A did not start");
        goto done;
    }

    nc.foreign = 1;

    if (setup_nodes(NODE_C, 1, &nc) != 0) {
        CU_FAIL("node C did not start");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[NODE_A], version, 1, NULL, &ha) != 0
            || handshake(&nodes[NODE_C], version, 1, NULL, &hc) != 0
            || !has_ticket(ha.sess) || !has_ticket(hc.sess))
        {
            CU_FAIL("no tickets from nodes A and C");
            hs_free(&ha);
            hs_free(&hc);
            continue;
        }

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 1, hc.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 0);
        CU_ASSERT(has_ticket(hs.sess));
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_C], version, 1, ha.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 0);
        CU_ASSERT(has_ticket(hs.sess));
        hs_free(&hs);

        /* and each fleet still resumes its own */

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_C], version, 1, hc.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 1);
        hs_free(&hs);

        hs_free(&ha);
        hs_free(&hc);
    }

    errors = log_lines(nodes[NODE_A].nginx.error_log, "[error]")
             + log_lines(nodes[NODE_C].nginx.error_log, "[error]");

    CU_ASSERT_EQUAL(errors, 0);

done:

    stop_nodes();
    check_logs();
}


/*
 * An extra rotator: syncs the ring from Redis every few milliseconds
 * until "until" (monotonic ms), then exits with the number of rotations
 * it made (capped).
 */

static void
race_child(int period, long long until)
{
    int                  i;
    tsr_tickets_t       *t;
    tsr_store_conf_t     sconf;
    tsr_tickets_conf_t   conf;
    tsr_tickets_stats_t  st;
    char                 err[256];

    memset(&sconf, 0, sizeof(tsr_store_conf_t));
    sconf.host = "127.0.0.1";
    sconf.port = redis.port;
    sconf.command_timeout_ms = 1000;

    memset(&conf, 0, sizeof(tsr_tickets_conf_t));
    conf.store_conf = &sconf;
    conf.keys = fleet;
    conf.period_ms = (uint64_t) period;
    conf.lifetime_ms = 600000;          /* the nodes' 10m */

    t = tsr_tickets_create(&conf, err, sizeof(err));
    if (t == NULL) {
        _exit(255);
    }

    for (i = 0; i < 100000 && tsr_test_now_ms() < until; i++) {
        (void) tsr_tickets_sync(t);
        tsr_test_sleep_ms(3 + (int) (getpid() % 7));
    }

    tsr_tickets_stats(t, &st);
    tsr_tickets_destroy(t);

    _exit(st.rotations > 200 ? 200 : (int) st.rotations);
}


/*
 * Reads the ring's header every few milliseconds for "periods" periods
 * of RACE_PERIOD from the next rotation on, with a handshake between two
 * reads (alternating nodes, each offering the previous session), and
 * reports what it saw.
 */

static int
watch_ring(int periods, watch_t *w)
{
    int           k;
    hs_t          hs;
    long long     end, gap;
    ring_head_t   h, prev;
    SSL_SESSION  *offer;

    memset(w, 0, sizeof(watch_t));
    w->min_gap = LLONG_MAX;
    offer = NULL;

    if (ring_head(&redis, &prev) != 0
        || wait_rotation(prev.gen, 2 * RACE_PERIOD, &prev) != 0)
    {
        return -1;
    }

    w->first_gen = prev.gen;
    end = tsr_test_now_ms() + periods * RACE_PERIOD + RACE_PERIOD / 2;

    for (k = 0; k < 100000 && tsr_test_now_ms() < end; k++) {
        if (ring_head(&redis, &h) != 0) {
            w->ring_gone++;
            break;
        }

        if (h.gen != prev.gen) {
            w->steps++;

            if (h.gen != prev.gen + 1) {
                w->skipped++;
            }

            gap = (long long) (h.rotated_at - prev.rotated_at);

            if (gap < RACE_PERIOD) {
                w->too_soon++;
            }

            /*
             * Due after a period by Redis' clock; some rotator tries at
             * least every tenth of a period, well within a quarter.
             */

            if (gap > RACE_PERIOD + RACE_PERIOD / 4) {
                w->too_late++;
            }

            w->max_gap = gap > w->max_gap ? gap : w->max_gap;
            w->min_gap = gap < w->min_gap ? gap : w->min_gap;

            prev = h;
        }

        if (handshake(&nodes[k % 2], TSR_TEST_TLS13, 1, offer, &hs) != 0) {
            w->failed++;
        }

        w->handshakes++;

        if (offer != NULL) {
            w->offered++;
            w->resumed += hs.reused;
            SSL_SESSION_free(offer);
        }

        w->issued += has_ticket(hs.sess);
        offer = hs.sess;
    }

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    w->last_gen = prev.gen;

    if (w->steps == 0) {
        w->min_gap = 0;
    }

    return 0;
}


static void
watch_report(const char *what, int periods, const watch_t *w)
{
    printf("\n    %s: generations %llu..%llu in %d periods of %d ms, gaps "
           "%lld..%lld ms by redis' clock, %d skipped; %d handshakes, %d "
           "with a ticket, %d of %d offers resumed",
           what, (unsigned long long) w->first_gen,
           (unsigned long long) w->last_gen, periods, RACE_PERIOD,
           w->min_gap, w->max_gap, w->skipped, w->handshakes, w->issued,
           w->resumed, w->offered);

    CU_ASSERT_EQUAL(w->ring_gone, 0);
    CU_ASSERT_EQUAL(w->steps, periods);
    CU_ASSERT_EQUAL(w->last_gen - w->first_gen, (uint64_t) periods);
    CU_ASSERT_EQUAL(w->skipped, 0);
    CU_ASSERT_EQUAL(w->too_soon, 0);
    CU_ASSERT_EQUAL(w->too_late, 0);
    CU_ASSERT_EQUAL(w->failed, 0);
    CU_ASSERT_EQUAL(w->issued, w->handshakes);
    CU_ASSERT_EQUAL(w->resumed, w->offered);
}


/*
 * How many processes of a node logged a rotation ("<pid>#<tid>: ...
 * rotated to generation N", the rotator thread's lines and a worker's
 * start-up sync alike).
 */

static int
rotating_pids(const char *path)
{
    int    n, i, seen;
    long   pid, pids[64];
    FILE  *f;
    char  *p, line[4096];

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "rotated to generation") == NULL
            && strstr(line, "created generation") == NULL)
        {
            continue;
        }

        /* "2026/01/01 00:00:00 [info] <pid>#<tid>: ..." */

        p = strchr(line, ']');
        if (p == NULL) {
            continue;
        }

        pid = strtol(p + 1, NULL, 10);
        seen = 0;

        for (i = 0; i < n; i++) {
            seen |= pids[i] == pid;
        }

        if (!seen && n < 64) {
            pids[n++] = pid;
        }
    }

    fclose(f);

    return n;
}


/*
 * Two nodes of two workers each: four workers load the ring, worker 0 of
 * each node runs a rotator.  First these alone for RACE_PERIODS periods,
 * then with RACE_PROCS extra processes calling tsr_tickets_sync() every
 * few milliseconds.  Each time: every generation appears (+1 each),
 * consecutive rotations are at least a period apart by Redis' clock and
 * late by less than a quarter period, RACE_PERIODS periods see
 * RACE_PERIODS rotations, and every handshake meanwhile gets a ticket
 * (the nodes pick up each generation before the previous one's
 * encryption grace ends) and every offer resumes.
 */

static void
test_rotation_race_once_per_period(void)
{
    int           i, status, started, extra, rotating[2];
    pid_t         pids[RACE_PROCS];
    watch_t       w;
    long long     until;
    node_conf_t   nc;

    started = 0;
    extra = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.workers = 2;
    nc.rotation = "2s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* from now on, the logs show who rotates */

    check_logs();

    for (i = NODE_A; i <= NODE_B; i++) {
        if (truncate(nodes[i].nginx.error_log, 0) != 0) {
            CU_FAIL("truncate() failed");
            goto done;
        }
    }

    if (watch_ring(RACE_PERIODS, &w) != 0) {
        CU_FAIL("no rotation");
        goto done;
    }

    watch_report("nginx rotators alone", RACE_PERIODS, &w);

    until = tsr_test_now_ms() + (RACE_PERIODS + 3) * RACE_PERIOD;

    for (i = 0; i < RACE_PROCS; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            race_child(RACE_PERIOD, until);
        }

        if (pids[i] == -1) {
            CU_FAIL("fork() failed");
            break;
        }

        started++;
    }

    if (watch_ring(RACE_PERIODS, &w) != 0) {
        CU_FAIL("no rotation");
        goto done;
    }

    for (i = 0; i < started; i++) {
        if (waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)
            && WEXITSTATUS(status) != 255)
        {
            extra += WEXITSTATUS(status);

        } else {
            CU_FAIL("an extra rotator failed");
        }
    }

    started = 0;

    watch_report("with the extra rotators", RACE_PERIODS, &w);

    rotating[0] = rotating_pids(nodes[NODE_A].nginx.error_log);
    rotating[1] = rotating_pids(nodes[NODE_B].nginx.error_log);

    printf("\n    the %d extra rotators made %d of the rotations during "
           "their run; processes that rotated: %d on node A, %d on node B ",
           RACE_PROCS, extra, rotating[0], rotating[1]);

    /* worker 0 of each node, and only it */
    CU_ASSERT(rotating[0] <= 1 && rotating[1] <= 1);
    CU_ASSERT(rotating[0] + rotating[1] >= 1);

done:

    for (i = 0; i < started; i++) {
        (void) waitpid(pids[i], &status, 0);
    }

    stop_nodes();
    check_logs();
}


/*
 * Period SHORT_PERIOD.  Right after a rotation (both nodes issuing under
 * its key) Redis stops.  Until the current key's encryption period ends,
 * rotated at + period + period / 4, TLS 1.2 and TLS 1.3 chains keep
 * getting tickets and resuming across nodes; after it, new handshakes get
 * no ticket (TLS 1.3: no session ticket message; TLS 1.2: an empty
 * ticket), still succeed, and tickets already issued still resume;
 * error.log says so, at most about once a second per worker.  Redis comes
 * back empty (no persistence): a node creates a new ring and issuing
 * resumes on both nodes.
 */

static void
test_redis_outage_stops_issuing_after_grace(void)
{
    int           v, k, stopped, version, logged;
    int           offered[2], resumed[2], issued[2], total[2], failed;
    int           after, after_issued, after_resumed, after_offered;
    hs_t          hs;
    char          cur[2 * TSR_TICKETS_NAME_LEN + 1];
    uint64_t      gen;
    long long     end, t, recovered_at, back, stopped_at;
    node_conf_t   nc;
    ring_head_t   h;
    SSL_SESSION  *offer[2];

    stopped = 0;
    failed = 0;
    offer[0] = NULL;
    offer[1] = NULL;
    memset(offered, 0, sizeof(offered));
    memset(resumed, 0, sizeof(resumed));
    memset(issued, 0, sizeof(issued));
    memset(total, 0, sizeof(total));

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.rotation = "2s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    if (ring_head(&redis, &h) != 0
        || wait_rotation(h.gen, 3 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &gen, cur) != 0
        || gen != h.gen
        || wait_issuing(NODE_A, 2, TSR_TEST_TLS13, cur, SHORT_PERIOD / 2)
           != 0)
    {
        CU_FAIL("no fresh generation issued by both nodes");
        goto done;
    }

    if (tsr_test_redis_stop(&redis) != 0) {
        CU_FAIL("redis did not stop");
        goto done;
    }

    stopped = 1;
    stopped_at = real_ms();

    /* until shortly before the grace ends: tickets as usual */

    end = (long long) h.rotated_at + SHORT_PERIOD + SHORT_PERIOD / 4;

    for (k = 0; k < 100000 && real_ms() < end - 250; k++) {
        v = k % 2;
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[(k / 2) % 2], version, 1, offer[v], &hs) != 0)
        {
            failed++;
        }

        total[v]++;

        if (offer[v] != NULL) {
            offered[v]++;
            resumed[v] += hs.reused;
            SSL_SESSION_free(offer[v]);
        }

        issued[v] += has_ticket(hs.sess);
        offer[v] = hs.sess;
    }

    printf("\n    redis stopped %lld ms after the rotation: until the "
           "grace ends TLSv1.2 %d/%d issued, %d/%d resumed; TLSv1.3 %d/%d "
           "issued, %d/%d resumed",
           stopped_at - (long long) h.rotated_at,
           issued[0], total[0], resumed[0], offered[0], issued[1], total[1],
           resumed[1], offered[1]);

    CU_ASSERT(total[0] > 2 && total[1] > 2);
    CU_ASSERT_EQUAL(issued[0], total[0]);
    CU_ASSERT_EQUAL(issued[1], total[1]);
    CU_ASSERT_EQUAL(resumed[0], offered[0]);
    CU_ASSERT_EQUAL(resumed[1], offered[1]);

    /* past the grace: no ticket, handshakes fine, old tickets resume */

    t = end + 250 - real_ms();
    tsr_test_sleep_ms((int) t);

    after = 0;
    after_issued = 0;
    after_offered = 0;
    after_resumed = 0;

    for (k = 0; k < 100000 && real_ms() < end + 250 + 1500; k++) {
        v = k % 2;
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        /* a new session, then the last ticket issued under the key */

        if (handshake(&nodes[(k / 2) % 2], version, 1, NULL, &hs) != 0) {
            failed++;
        }

        after++;
        after_issued += has_ticket(hs.sess);

        if (version == TSR_TEST_TLS13) {
            after_issued += hs.sessions > 0;
        }

        hs_free(&hs);

        if (offer[v] != NULL) {
            if (handshake(&nodes[(k / 2 + 1) % 2], version, 1, offer[v], &hs)
                != 0)
            {
                failed++;
            }

            after_offered++;
            after_resumed += hs.reused;
            hs_free(&hs);
        }
    }

    logged = log_lines(nodes[NODE_A].nginx.error_log,
                       "no session ticket issued")
             + log_lines(nodes[NODE_B].nginx.error_log,
                         "no session ticket issued");

    printf("\n    after the grace: %d new handshakes, %d with a ticket; %d "
           "of %d earlier tickets resumed; %d log lines",
           after, after_issued, after_resumed, after_offered, logged);

    CU_ASSERT(after > 2);
    CU_ASSERT_EQUAL(after_issued, 0);
    CU_ASSERT_EQUAL(after_resumed, after_offered);
    CU_ASSERT_EQUAL(failed, 0);

    /* two nodes, one worker each, once a second at most: about 2 s */
    CU_ASSERT(logged >= 1 && logged <= 8);

    /* Redis back, empty: a new ring, then tickets on both nodes */

    if (tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
        goto done;
    }

    stopped = 0;
    back = tsr_test_now_ms();
    recovered_at = -1;

    for (k = 0; k < 1000 && tsr_test_now_ms() < back + 15000; k++) {
        if (ring_current(&redis, SHORT_PERIOD, &gen, cur) == 0
            && wait_issuing(NODE_A, 2, TSR_TEST_TLS13, cur, 200) == 0)
        {
            recovered_at = tsr_test_now_ms();
            break;
        }

        tsr_test_sleep_ms(50);
    }

    CU_ASSERT(recovered_at != -1);

    if (recovered_at != -1) {
        for (v = 0; v < 2; v++) {
            version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

            if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0) {
                CU_FAIL("handshake failed");
                continue;
            }

            if (offer[v] != NULL) {
                SSL_SESSION_free(offer[v]);
            }

            offer[v] = hs.sess;

            CU_ASSERT(has_ticket(offer[v]));
            CU_ASSERT_EQUAL(handshake(&nodes[NODE_B], version, 1, offer[v],
                                      &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }

        printf("\n    redis back: both nodes issue tickets again after "
               "%lld ms (generation %llu) ", recovered_at - back,
               (unsigned long long) gen);
    }

done:

    if (stopped && tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
    }

    for (v = 0; v < 2; v++) {
        if (offer[v] != NULL) {
            SSL_SESSION_free(offer[v]);
        }
    }

    stop_nodes();
    check_logs();
}


/*
 * Tickets made before a reload (the new configuration differs only in
 * ssl_session_timeout, visible as the tickets' lifetime hint, so the test
 * knows when the new workers serve) resume after it on both nodes, and
 * again after both nodes stopped and started.
 */

static void
test_tickets_survive_reload_and_restart(void)
{
    int           v, k, version;
    hs_t          hs;
    node_conf_t   nc;
    ring_head_t   h0, h1;
    SSL_SESSION  *t[2];

    t[0] = NULL;
    t[1] = NULL;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0 || ring_head(&redis, &h0) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0
            || !has_ticket(hs.sess))
        {
            hs_free(&hs);
            CU_FAIL("no ticket from node A");
            goto done;
        }

        t[v] = hs.sess;
    }

    nc.timeout = "11m";

    if (reload_nodes(NODE_A, 2, &nc) != 0
        || wait_lifetime_hint(NODE_A, 2, 660, 10000) != 0)
    {
        CU_FAIL("nodes did not reload");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        for (k = NODE_B; k >= NODE_A; k--) {
            CU_ASSERT_EQUAL(handshake(&nodes[k], version, 1, t[v], &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }
    }

    stop_nodes();
    check_logs();

    if (start_nodes(NODE_A, 2) != 0) {
        CU_FAIL("nodes did not restart");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        for (k = NODE_B; k >= NODE_A; k--) {
            CU_ASSERT_EQUAL(handshake(&nodes[k], version, 1, t[v], &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }
    }

    CU_ASSERT_EQUAL(ring_head(&redis, &h1), 0);
    CU_ASSERT_EQUAL(h1.gen, h0.gen);

    printf("\n    TLSv1.2 and TLSv1.3 tickets resumed on both nodes after "
           "a reload and after a restart (generation %llu throughout) ",
           (unsigned long long) h1.gen);

done:

    for (v = 0; v < 2; v++) {
        if (t[v] != NULL) {
            SSL_SESSION_free(t[v]);
        }
    }

    stop_nodes();
    check_logs();
}


/* the master's children, from /proc; -1 when /proc cannot be read */

static int
worker_pids(pid_t master, pid_t *pids, int max)
{
    int             n;
    FILE           *f;
    long            ppid;
    char            path[64], buf[512], *p;
    DIR            *dir;
    struct dirent  *de;

    dir = opendir("/proc");
    if (dir == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(dir)) != NULL && n < max) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%.32s/stat", de->d_name);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        p = fgets(buf, sizeof(buf), f);
        fclose(f);

        /* "pid (comm) state ppid ...": comm may hold anything but ')' */

        if (p == NULL || (p = strrchr(buf, ')')) == NULL) {
            continue;
        }

        if (sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == master) {
            pids[n++] = (pid_t) atol(de->d_name);
        }
    }

    closedir(dir);

    return n;
}


/* ms until a handshake succeeded, -1 if none within "ms" */

static int
wait_serving(node_t *nd, int ms)
{
    hs_t       hs;
    long long  start, now;

    start = real_ms();

    for ( ;; ) {
        if (handshake(nd, TSR_TEST_TLS13, 1, NULL, &hs) == 0) {
            hs_free(&hs);
            return (int) (real_ms() - start);
        }

        hs_free(&hs);

        now = real_ms();

        if (now - start >= ms) {
            return -1;
        }

        tsr_test_sleep_ms(100);
    }
}


/*
 * A Redis that answers the ring's GET with a 4 KiB value, a byte every
 * 1.9 s: every read of the start-up load gets its byte within the 2 s
 * command timeout, so only a deadline on the whole reply (the command
 * timeout, within the sync's overall one of 4 s) lets the worker start
 * serving.
 */

static void
test_dripping_redis_does_not_hold_worker_start(void)
{
    int                   ms;
    node_t               *nd;
    node_conf_t           nc;
    tsr_test_fakeredis_t  fake;

    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));

    if (tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_DRIP) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.redis_port = fake.port;

    nd = &nodes[NODE_A];
    nd->port = tsr_test_free_port();

    if (nd->port == -1 || write_node(nd, &nc) != 0
        || (truncate(nd->nginx.error_log, 0) != 0 && errno != ENOENT)
        || tsr_test_nginx_start(&nd->nginx) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    nd->running = 1;

    ms = wait_serving(nd, 3 * DRIP_BOUND);

    printf("\n    redis dripping a byte every 1.9 s: the worker served "
           "after %d ms (bound %d ms); %d \"no ticket key ring yet\", "
           "%d \"timed out\" lines ", ms, DRIP_BOUND,
           log_lines(nd->nginx.error_log, "no ticket key ring yet"),
           log_lines(nd->nginx.error_log, "timed out"));

    CU_ASSERT(ms >= 0 && ms < DRIP_BOUND);
    CU_ASSERT(log_lines(nd->nginx.error_log, "timed out") >= 1);

done:

    stop_nodes();
    check_logs();
    tsr_test_fakeredis_stop(&fake);
}


/*
 * The same Redis at a reload: a worker reading or rotating the ring
 * (rotation every second, so worker 0 is at it all the time) when Redis
 * starts dripping must still exit at once on the reload, and the new
 * worker, loading the ring at start, serve within the bound.
 */

static void
test_dripping_redis_does_not_hold_reload(void)
{
    int                   i, n, left, ms;
    pid_t                 old[MAX_WORKERS], now[MAX_WORKERS];
    node_t               *nd;
    long long             start;
    node_conf_t           nc;
    tsr_test_fakeredis_t  fake;

    n = 0;
    left = 0;

    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));

    if (tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_NORMAL) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.redis_port = fake.port;
    nc.rotation = "1s";

    nd = &nodes[NODE_A];

    if (setup_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    n = worker_pids(nd->nginx.pid, old, MAX_WORKERS);
    CU_ASSERT_FATAL(n >= 1);

    /* connections dropped; the next requests meet the drip */

    CU_ASSERT_EQUAL(tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_DRIP),
                    0);
    tsr_test_sleep_ms(1500);

    nc.timeout = "11m";

    start = real_ms();

    if (reload_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("reload failed");
        goto done;
    }

    /* the old workers exit */

    do {
        tsr_test_sleep_ms(100);

        left = 0;

        for (i = 0; i < n; i++) {
            left += (kill(old[i], 0) == 0);
        }

    } while (left > 0 && real_ms() - start < 3 * DRIP_BOUND);

    ms = (int) (real_ms() - start);

    /* and the new ones serve */

    i = wait_serving(nd, 3 * DRIP_BOUND);

    printf("\n    redis dripping at a reload: %d of %d old workers left "
           "after %d ms, a new one served %d ms later (bound %d ms) ",
           left, n, ms, i, DRIP_BOUND);

    CU_ASSERT_EQUAL(left, 0);
    CU_ASSERT(ms < DRIP_BOUND);
    CU_ASSERT(i >= 0 && ms + i < DRIP_BOUND);

    CU_ASSERT(worker_pids(nd->nginx.pid, now, MAX_WORKERS) >= 1);

done:

    if (left > 0) {
        /* the old code: a worker stuck in pthread_join(); not for ever */
        for (i = 0; i < n; i++) {
            (void) kill(old[i], SIGKILL);
        }
    }

    stop_nodes();
    check_logs();
    tsr_test_fakeredis_stop(&fake);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_http_tls12_tickets_resume_across_nodes),
        TSR_TEST_FN(test_http_tls13_tickets_resume_across_nodes),
        TSR_TEST_FN(test_stream_tls12_tickets_resume_across_nodes),
        TSR_TEST_FN(test_stream_tls13_tickets_resume_across_nodes),
        TSR_TEST_FN(test_http_tls12_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_http_tls13_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_stream_tls12_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_stream_tls13_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_ticket_of_another_fleet_gets_full_handshake),
        TSR_TEST_FN(test_rotation_race_once_per_period),
        TSR_TEST_FN(test_redis_outage_stops_issuing_after_grace),
        TSR_TEST_FN(test_tickets_survive_reload_and_restart),
        TSR_TEST_FN(test_dripping_redis_does_not_hold_worker_start),
        TSR_TEST_FN(test_dripping_redis_does_not_hold_reload),
        TSR_TEST_FN(test_former_directive_names_still_work)
    };

    return TSR_TEST_MAIN("tickets", nodes_init_suite, nodes_clean_suite,
                         tests);
}


/*
 * The directives' names before the renames: nginx -t warns about each,
 * and nodes configured with them share tickets and sessions as ever.
 */

static void
test_former_directive_names_still_work(void)
{
    int           i, rc, offered, resumed, failed, ticketed;
    hs_t          hs;
    char          out[16384];
    node_conf_t   nc;
    SSL_SESSION  *offer;

    static const char *const  warnings[] = {
        "the \"ssl_session_redis_key\" directive is deprecated, use the "
        "\"ssl_session_redis_fleet_key\" directive instead",
        "the \"ssl_session_redis_timeout\" directive is deprecated, use "
        "the \"ssl_session_redis_lookup_timeout\" directive instead",
        "the \"ssl_session_redis_tickets\" directive is deprecated, use "
        "the \"ssl_session_redis_ticket_keys\" directive instead"
    };

    offer = NULL;
    offered = 0;
    resumed = 0;
    failed = 0;
    ticketed = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.former_names = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    CU_ASSERT_EQUAL(tsr_test_nginx_test_conf(&nodes[NODE_A].nginx, out,
                                             sizeof(out)),
                    0);

    for (i = 0; i < 3; i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(out, warnings[i]));
    }

    /* one chain per version, node to node: each offer resumes */

    for (i = 0; i < 22 && failed < 5; i++) {
        if (i == 11 && offer != NULL) {
            SSL_SESSION_free(offer);
            offer = NULL;
        }

        rc = handshake(&nodes[i % 2], i < 11 ? TSR_TEST_TLS12
                                             : TSR_TEST_TLS13,
                       1, offer, &hs);

        if (offer != NULL) {
            offered++;
            resumed += hs.reused;
            SSL_SESSION_free(offer);
        }

        if (rc != 0) {
            failed++;
        }

        ticketed += has_ticket(hs.sess);
        offer = hs.sess;
    }

    printf("\n    %d of %d offers resumed on the other node, %d of %d "
           "sessions with a ticket ", resumed, offered, ticketed, i);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(offered, 20);
    CU_ASSERT(resumed >= 19);
    CU_ASSERT(ticketed >= 21);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    stop_nodes();
    check_logs();
}
