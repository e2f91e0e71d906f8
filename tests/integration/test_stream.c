
/*
 * Two nginx nodes (stream, one worker each) sharing one private Redis:
 * sessions made on one node resume on the other, survive restarts, and
 * come back by themselves after a Redis outage; nodes with different
 * certificates never resume each other's sessions.  Each case runs for
 * TLS 1.2 session ids and TLS 1.3 stateful tickets.
 *
 * The slow-Redis case lives in test_http.c only: it needs requests on
 * keep-alive connections to measure, and a stream "return" server
 * closes each connection after its one reply.  The server-name cases
 * are http-only as well: stream in nginx 1.22 has no server_name.
 *
 * TSR_TEST_ONLY=<substring> runs only the tests whose names contain it.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define HANDSHAKES       1000
#define MAX_FAILURES     20
#define OUTAGE_MS        3000
#define OUTAGE_MAX       2000
#define RECOVERY_MS      2000
#define ISOLATION_TRIES  20


/* stream servers: read to close */
#define handshake(port, version, offer, out, reused)                          \
    tsr_test_connect(port, version, TSR_TEST_STREAM, offer, out, reused)


/* a fresh log, then a served handshake: the worker runs */
#define start_node(n, port, running)                                         \
    tsr_test_nginx_start_serving(n, port, TSR_TEST_STREAM, 100, running)


static int init_suite(void);
static int clean_suite(void);
static long long now_us(void);
static int write_node(tsr_test_nginx_t *n, int port, const char *cn,
    int cache);
static int start_nodes(void);
static void stop_nodes(void);
static int start_pair(int cache);
static void check_logs(tsr_test_nginx_t *n);
static int redis_errors(tsr_test_nginx_t *n);
static void cross_node(int version, int cache);
static void persistence(int version);
static void redis_outage(int version);
static void isolation_nodes(int version);
static void test_tls12_resumes_across_nodes_without_cache(void);
static void test_tls13_resumes_across_nodes_without_cache(void);
static void test_tls12_resumes_across_nodes_with_shared_cache(void);
static void test_tls13_resumes_across_nodes_with_shared_cache(void);
static void test_tls12_session_survives_restart_of_both_nodes(void);
static void test_tls13_session_survives_restart_of_both_nodes(void);
static void test_tls12_redis_outage_costs_only_full_handshakes(void);
static void test_tls13_redis_outage_costs_only_full_handshakes(void);
static void test_tls12_nodes_with_other_certs_never_resume(void);
static void test_tls13_nodes_with_other_certs_never_resume(void);


static tsr_test_redis_t   redis;
static tsr_test_nginx_t   node_a;
static tsr_test_nginx_t   node_b;
static int                port_a;
static int                port_b;
static int                running_a;
static int                running_b;
static char               key_file[PATH_MAX + 16];


static int
init_suite(void)
{
    unsigned char                key[32];
    static const char *const  cns[] = { "one.test", "two.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_redis_start(&redis) != 0) {
        return -1;
    }

    /*
     * Both nodes load the same certificate files from node A's directory:
     * the session id context is a hash of the certificate.
     */

    if (tsr_test_nginx_init(&node_a, "stream-a", cns) != 0
        || tsr_test_nginx_init(&node_b, "stream-b", NULL) != 0)
    {
        return -1;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", node_a.dir);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    stop_nodes();
    tsr_test_redis_stop(&redis);

    return 0;
}


static long long
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* one server per node; "cn" names the certificate in node A's directory */

static int
write_node(tsr_test_nginx_t *n, int port, const char *cn, int cache)
{
    int   len;
    char  body[8192];

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "stream {\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/%s.crt;\n"
             "    ssl_certificate_key %s/%s.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_timeout 10m;\n"
             "%s"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             /* about sharing, not latency: a loaded machine is slow */
             "    ssl_session_redis_lookup_timeout 250ms;\n"
             "    return \"ok\\n\";\n"
             "  }\n"
             "}\n",
             port, node_a.dir, cn, node_a.dir, cn,
             cache ? "    ssl_session_cache shared:S:1m;\n" : "",
             redis.port, key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(n, 1, "info", body);
}


static int
start_nodes(void)
{
    if (start_node(&node_a, port_a, &running_a) != 0
        || start_node(&node_b, port_b, &running_b) != 0)
    {
        return -1;
    }

    return 0;
}


static void
stop_nodes(void)
{
    if (running_a) {
        tsr_test_nginx_stop(&node_a);
        running_a = 0;
    }

    if (running_b) {
        tsr_test_nginx_stop(&node_b);
        running_b = 0;
    }
}


static int
start_pair(int cache)
{
    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (port_a == -1 || port_b == -1 || port_a == port_b) {
        return -1;
    }

    if (write_node(&node_a, port_a, "one.test", cache) != 0
        || write_node(&node_b, port_b, "one.test", cache) != 0)
    {
        return -1;
    }

    return start_nodes();
}


static void
check_logs(tsr_test_nginx_t *n)
{
    int  problems;

    problems = tsr_test_nginx_log_problems(n);

    CU_ASSERT_EQUAL(problems, 0);
    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines in %s\n", problems,
                n->error_log);
    }
}


/* lines at [error] level that mention redis */

static int
redis_errors(tsr_test_nginx_t *n)
{
    int    count;
    FILE  *f;
    char   line[4096];

    f = fopen(n->error_log, "r");
    if (f == NULL) {
        return 0;
    }

    count = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "[error]") != NULL
            && strstr(line, "redis") != NULL)
        {
            count++;
        }
    }

    fclose(f);

    return count;
}


/*
 * Handshakes alternate between the nodes, each offering the session the
 * previous one received: every offer must resume.
 */

static void
cross_node(int version, int cache)
{
    int           i, rc, reused, offered, resumed, failed;
    long long     start, elapsed;
    SSL_SESSION  *offer, *next;

    offer = NULL;
    offered = 0;
    resumed = 0;
    failed = 0;

    if (start_pair(cache) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    start = now_us();

    for (i = 0; i < HANDSHAKES && failed < MAX_FAILURES; i++) {
        rc = handshake(i % 2 == 0 ? port_a : port_b, version, offer,
                       &next, &reused);

        if (offer != NULL) {
            offered++;
            resumed += reused;
            SSL_SESSION_free(offer);
        }

        if (rc != 0) {
            failed++;
        }

        offer = next;
    }

    elapsed = now_us() - start;

    printf("\n    TLSv1.%d, %s: %d of %d offered sessions resumed on the "
           "other node (%.2f%%), %d handshakes in %lld ms ",
           version == TSR_TEST_TLS13 ? 3 : 2,
           cache ? "shared cache" : "no shared cache", resumed, offered,
           offered > 0 ? 100.0 * resumed / offered : 0.0, i,
           elapsed / 1000);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(offered, HANDSHAKES - 1);
    CU_ASSERT(resumed >= HANDSHAKES - 1);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
}


/*
 * Only Redis knows the session after both nodes restarted (no shared
 * cache, and a shared cache would not survive the restart either).
 */

static void
persistence(int version)
{
    int           reused;
    SSL_SESSION  *sess;

    sess = NULL;
    reused = 0;

    if (start_pair(0) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    if (handshake(port_a, version, NULL, &sess, &reused) != 0
        || sess == NULL)
    {
        CU_FAIL("no session from node A");
        goto done;
    }

    /* the store is asynchronous: let it land before the node stops */
    tsr_test_sleep_ms(200);

    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not restart");
        goto done;
    }

    CU_ASSERT_EQUAL(handshake(port_b, version, sess, NULL, &reused),
                    0);
    CU_ASSERT_EQUAL(reused, 1);

done:

    if (sess != NULL) {
        SSL_SESSION_free(sess);
    }

    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
}


/*
 * With Redis stopped every handshake still completes (in full), errors
 * are logged at most about once per second per worker, and resumption
 * comes back by itself soon after Redis does.
 */

static void
redis_outage(int version)
{
    int           i, rc, reused, failed, errors, allowed, recovered;
    long long     start, elapsed, up;
    SSL_SESSION  *offer, *next, *sess;

    offer = NULL;
    sess = NULL;
    failed = 0;
    recovered = 0;

    if (start_pair(0) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    if (tsr_test_redis_stop(&redis) != 0) {
        CU_FAIL("redis did not stop");
        goto done;
    }

    start = now_us();

    for (i = 0; i < OUTAGE_MAX && now_us() - start < OUTAGE_MS * 1000LL;
         i++)
    {
        rc = handshake(i % 2 == 0 ? port_a : port_b, version, offer,
                       &next, &reused);
        if (rc != 0) {
            failed++;
        }

        if (offer != NULL) {
            SSL_SESSION_free(offer);
        }

        offer = next;

        /* spread the handshakes over the whole outage */
        tsr_test_sleep_ms(2);
    }

    elapsed = now_us() - start;

    errors = redis_errors(&node_a) + redis_errors(&node_b);

    /* 2 nodes with 1 worker each; the first error comes at once */
    allowed = 2 * (int) (elapsed / 1000000 + 2);

    printf("\n    TLSv1.%d, redis down: %d handshakes in %lld ms, %d failed, "
           "%d \"[error] ...redis\" lines (at most %d allowed) ",
           version == TSR_TEST_TLS13 ? 3 : 2, i, elapsed / 1000, failed,
           errors, allowed);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(i >= 10);
    CU_ASSERT(errors >= 1);
    CU_ASSERT(errors <= allowed);

    if (tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
        goto done;
    }

    up = now_us();

    for (i = 0; i < 1000 && now_us() - up < RECOVERY_MS * 1000LL; i++) {
        if (sess != NULL) {
            SSL_SESSION_free(sess);
            sess = NULL;
        }

        if (handshake(port_a, version, NULL, &sess, &reused) != 0
            || sess == NULL)
        {
            continue;
        }

        if (handshake(port_b, version, sess, NULL, &reused) == 0
            && reused)
        {
            recovered = 1;
            break;
        }

        tsr_test_sleep_ms(20);
    }

    printf("\n    TLSv1.%d, redis back: cross-node resumption %s after "
           "%lld ms ", version == TSR_TEST_TLS13 ? 3 : 2,
           recovered ? "returned" : "did not return",
           (now_us() - up) / 1000);

    CU_ASSERT_EQUAL(recovered, 1);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    if (sess != NULL) {
        SSL_SESSION_free(sess);
    }

    if (redis.pid == 0) {
        (void) tsr_test_redis_start(&redis);
    }

    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
}


/*
 * Node A serves one.test's certificate, node B two.test's, with the same
 * Redis, prefix and key: their session id contexts differ, so neither
 * resumes the other's sessions.  Each session does resume on its own
 * node (through Redis: there is no shared cache).
 */

static void
isolation_nodes(int version)
{
    int           i, from, to, reused, foreign, own;
    SSL_SESSION  *sess;

    foreign = 0;
    own = 0;

    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (write_node(&node_a, port_a, "one.test", 0) != 0
        || write_node(&node_b, port_b, "two.test", 0) != 0)
    {
        CU_FAIL("cannot write nginx.conf");
        goto done;
    }

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (i = 0; i < ISOLATION_TRIES; i++) {
        from = i % 2 == 0 ? port_a : port_b;
        to = i % 2 == 0 ? port_b : port_a;

        sess = NULL;

        if (handshake(from, version, NULL, &sess, &reused) != 0
            || sess == NULL)
        {
            CU_FAIL("no session");
            continue;
        }

        if (handshake(to, version, sess, NULL, &reused) != 0) {
            CU_FAIL("handshake offering a foreign session failed");
        }

        foreign += reused;

        if (handshake(from, version, sess, NULL, &reused) == 0) {
            own += reused;
        }

        SSL_SESSION_free(sess);
    }

    printf("\n    TLSv1.%d, different certificates: %d of %d resumed on "
           "the other node, %d of %d on their own ",
           version == TSR_TEST_TLS13 ? 3 : 2, foreign, ISOLATION_TRIES, own,
           ISOLATION_TRIES);

    CU_ASSERT_EQUAL(foreign, 0);
    CU_ASSERT_EQUAL(own, ISOLATION_TRIES);

done:

    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
}


static void
test_tls12_resumes_across_nodes_without_cache(void)
{
    cross_node(TSR_TEST_TLS12, 0);
}


static void
test_tls13_resumes_across_nodes_without_cache(void)
{
    cross_node(TSR_TEST_TLS13, 0);
}


static void
test_tls12_resumes_across_nodes_with_shared_cache(void)
{
    cross_node(TSR_TEST_TLS12, 1);
}


static void
test_tls13_resumes_across_nodes_with_shared_cache(void)
{
    cross_node(TSR_TEST_TLS13, 1);
}


static void
test_tls12_session_survives_restart_of_both_nodes(void)
{
    persistence(TSR_TEST_TLS12);
}


static void
test_tls13_session_survives_restart_of_both_nodes(void)
{
    persistence(TSR_TEST_TLS13);
}


static void
test_tls12_redis_outage_costs_only_full_handshakes(void)
{
    redis_outage(TSR_TEST_TLS12);
}


static void
test_tls13_redis_outage_costs_only_full_handshakes(void)
{
    redis_outage(TSR_TEST_TLS13);
}


static void
test_tls12_nodes_with_other_certs_never_resume(void)
{
    isolation_nodes(TSR_TEST_TLS12);
}


static void
test_tls13_nodes_with_other_certs_never_resume(void)
{
    isolation_nodes(TSR_TEST_TLS13);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_tls12_resumes_across_nodes_without_cache),
        TSR_TEST_FN(test_tls13_resumes_across_nodes_without_cache),
        TSR_TEST_FN(test_tls12_resumes_across_nodes_with_shared_cache),
        TSR_TEST_FN(test_tls13_resumes_across_nodes_with_shared_cache),
        TSR_TEST_FN(test_tls12_session_survives_restart_of_both_nodes),
        TSR_TEST_FN(test_tls13_session_survives_restart_of_both_nodes),
        TSR_TEST_FN(test_tls12_redis_outage_costs_only_full_handshakes),
        TSR_TEST_FN(test_tls13_redis_outage_costs_only_full_handshakes),
        TSR_TEST_FN(test_tls12_nodes_with_other_certs_never_resume),
        TSR_TEST_FN(test_tls13_nodes_with_other_certs_never_resume)
    };

    return TSR_TEST_MAIN("stream", init_suite, clean_suite, tests);
}
