
/*
 * Host names followed at run time (issue 14, item 2): two nginx nodes
 * (http, one worker each) with "resolver" pointing at the test
 * library's DNS server and "ssl_session_redis NAME:PORT"; two real
 * redis-servers on the same port, one on 127.0.0.1 and one on 127.0.0.2.
 * The name moves from the first to the second and the first is killed:
 * the workers follow within 2 s, with no failed handshake, and the
 * sessions go to the second Redis.  A name that never resolves starts
 * nginx all the same, is logged at most once per 10 s, retried, and
 * followed once it resolves; without a "resolver" it fails "nginx -t".
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define NAME                "redis.tsr-dns-test.invalid"
#define ADDR_A              "127.0.0.1"
#define ADDR_B              "127.0.0.2"
#define DNS_TTL             1
#define MOVE_LIMIT_MS       2000    /* the bound */
#define MOVE_WINDOW_MS      4000    /* handshakes run this long */
#define MAX_ROUNDS          10000
#define START_LIMIT_MS      5000
#define RETRY_WINDOW_MS     3000
#define LOOKUP_TIMEOUT      "100ms"
/* nginx keeps an answer "valid=" seconds counted in whole seconds */
#define EXPIRE_MS           ((DNS_TTL + 1) * 1000 + 100)


/* the nodes serve http */
#define handshake(port, version, offer, out, reused)                          \
    tsr_test_connect(port, version, TSR_TEST_HTTP, offer, out, reused)


static int init_suite(void);
static int clean_suite(void);
static int write_node(tsr_test_nginx_t *n, int port, const char *host,
    int resolver);
static int start_node(tsr_test_nginx_t *n, int *running);
static void stop_nodes(void);
static long long probe(int limit_ms, int *failures);
static long dbsize(tsr_test_redis_t *r);
static void test_name_moving_is_followed_within_2s(void);
static void test_name_never_resolving_is_logged_and_retried(void);
static void test_name_not_resolving_without_resolver_fails_test(void);
static int write_stream_node(tsr_test_nginx_t *n, int port,
    const char *host, int resolver);
static void test_stream_follows_the_name_with_its_resolver(void);
static void test_name_unknown_to_the_resolver_keeps_its_address(void);


static tsr_test_dns_t     dns;
static tsr_test_redis_t   redis_a;
static tsr_test_redis_t   redis_b;
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
    unsigned char             key[32];
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis_a, 0, sizeof(tsr_test_redis_t));
    memset(&redis_b, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_dns_start(&dns, NAME, ADDR_A, DNS_TTL) != 0) {
        return -1;
    }

    if (tsr_test_nginx_init(&node_a, "dns-a", cns) != 0
        || tsr_test_nginx_init(&node_b, "dns-b", NULL) != 0)
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

    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (port_a == -1 || port_b == -1) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    stop_nodes();
    tsr_test_redis_stop(&redis_a);
    tsr_test_redis_stop(&redis_b);
    tsr_test_dns_stop(&dns);

    return 0;
}


/* both nodes use node A's certificate: one session id context */

static int
write_node(tsr_test_nginx_t *n, int port, const char *host, int resolver)
{
    int   len;
    char  body[8192], res[256];

    res[0] = '\0';

    if (resolver) {
        snprintf(res, sizeof(res),
                 "  resolver 127.0.0.1:%d valid=%ds ipv6=off;\n"
                 "  resolver_timeout 1s;\n", dns.port, DNS_TTL);
    }

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "%s"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_timeout 10m;\n"
             "    ssl_session_redis %s:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout " LOOKUP_TIMEOUT ";\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             res, port, node_a.dir, node_a.dir, host, redis_a.port,
             key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(n, 0, "info", body);
}


static int
start_node(tsr_test_nginx_t *n, int *running)
{
    if (truncate(n->error_log, 0) != 0 && errno != ENOENT) {
        return -1;
    }

    if (tsr_test_nginx_start(n) != 0) {
        return -1;
    }

    *running = 1;

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


/*
 * Milliseconds until a session made on node A resumes on node B (through
 * Redis: the nodes share nothing else), at most "limit_ms"; -1 if it
 * does not.  Failed handshakes are added to *failures.
 */

static long long
probe(int limit_ms, int *failures)
{
    int           i, reused, version;
    long long     start;
    SSL_SESSION  *sess;

    start = tsr_test_now_ms();
    version = TSR_TEST_TLS12;

    for (i = 0; i < MAX_ROUNDS && tsr_test_now_ms() - start < limit_ms; i++) {
        sess = NULL;

        version = (version == TSR_TEST_TLS12) ? TSR_TEST_TLS13
                                              : TSR_TEST_TLS12;

        if (handshake(port_a, version, NULL, &sess, &reused) != 0) {
            (*failures)++;

        } else if (sess != NULL) {
            if (handshake(port_b, version, sess, NULL, &reused) != 0) {
                (*failures)++;

            } else if (reused) {
                SSL_SESSION_free(sess);
                return tsr_test_now_ms() - start;
            }
        }

        if (sess != NULL) {
            SSL_SESSION_free(sess);
        }

        tsr_test_sleep_ms(10);
    }

    return -1;
}


static long
dbsize(tsr_test_redis_t *r)
{
    char  out[64];

    if (tsr_test_redis_cmd(r, out, sizeof(out), "DBSIZE") != 0) {
        return -1;
    }

    return atol(out);
}


/*
 * The name points at Redis A, the nodes resume through it; the name
 * moves to Redis B and A is killed: within 2 s a session made on one
 * node resumes on the other again, through B, and no handshake fails on
 * the way (those in between are full handshakes).
 */

static void
test_name_moving_is_followed_within_2s(void)
{
    int        failures;
    long       queries;
    long long  t;

    redis_b.port = 0;

    if (tsr_test_redis_start(&redis_a) != 0) {
        CU_FAIL("redis A did not start");
        return;
    }

    /* the same port on another loopback address */

    redis_b.port = redis_a.port;
    snprintf(redis_b.bind, sizeof(redis_b.bind), "%s", ADDR_B);

    if (tsr_test_redis_start(&redis_b) != 0) {
        CU_FAIL("redis B did not start on " ADDR_B);
        return;
    }

    if (tsr_test_dns_set(&dns, TSR_TEST_DNS_ANSWER, ADDR_A) != 0
        || write_node(&node_a, port_a, NAME, 1) != 0
        || write_node(&node_b, port_b, NAME, 1) != 0
        || start_node(&node_a, &running_a) != 0
        || start_node(&node_b, &running_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    failures = 0;
    t = probe(START_LIMIT_MS, &failures);

    printf("\n    " NAME " -> " ADDR_A ": cross-node resumption after "
           "%lld ms, %d failed handshakes", t, failures);

    CU_ASSERT(t >= 0);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT(dbsize(&redis_a) > 0);
    CU_ASSERT_EQUAL(dbsize(&redis_b), 0);

    if (t < 0) {
        goto done;
    }

    /*
     * The failover: the name moves, the old primary dies.  The workers
     * resolved the name when they connected, just now: wait until that
     * answer expires ("valid="), as it has long before a real failover.
     */

    tsr_test_sleep_ms(EXPIRE_MS);

    queries = tsr_test_dns_queries(&dns);

    tsr_test_dns_set(&dns, TSR_TEST_DNS_ANSWER, ADDR_B);
    tsr_test_redis_signal(&redis_a, SIGKILL);
    tsr_test_redis_stop(&redis_a);

    failures = 0;
    t = probe(MOVE_WINDOW_MS, &failures);

    printf("\n    " NAME " -> " ADDR_B ", redis A killed: cross-node "
           "resumption through B after %lld ms (limit %d), %d failed "
           "handshakes, %ld sessions in B, %ld more DNS queries", t,
           MOVE_LIMIT_MS, failures, dbsize(&redis_b),
           tsr_test_dns_queries(&dns) - queries);

    CU_ASSERT(t >= 0 && t <= MOVE_LIMIT_MS);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT(dbsize(&redis_b) > 0);
    CU_ASSERT(tsr_test_dns_queries(&dns) > queries);

    CU_ASSERT(tsr_test_grep_count(node_a.error_log,
                                  "resolved to " ADDR_B) > 0);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_b), 0);

done:

    stop_nodes();
    tsr_test_redis_stop(&redis_a);
}


/*
 * With a resolver, a name that does not resolve does not stop nginx: the
 * worker serves full handshakes, logs the name once (not once per
 * attempt), asks again with the reconnect backoff, and connects once the
 * name resolves.
 */

static void
test_name_never_resolving_is_logged_and_retried(void)
{
    int        i, reused, failures, logged;
    long       queries;
    char       out[4096];
    long long  t;

    if (redis_b.pid == 0) {
        redis_b.port = 0;
        snprintf(redis_b.bind, sizeof(redis_b.bind), "%s", ADDR_B);

        if (tsr_test_redis_start(&redis_b) != 0) {
            CU_FAIL("redis did not start");
            return;
        }
    }

    redis_a.port = redis_b.port;

    tsr_test_dns_set(&dns, TSR_TEST_DNS_NXDOMAIN, NULL);

    if (write_node(&node_a, port_a, NAME, 1) != 0
        || write_node(&node_b, port_b, NAME, 1) != 0)
    {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    CU_ASSERT_EQUAL(tsr_test_nginx_test_conf(&node_a, out, sizeof(out)), 0);

    queries = tsr_test_dns_queries(&dns);

    if (start_node(&node_a, &running_a) != 0
        || start_node(&node_b, &running_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    failures = 0;
    t = tsr_test_now_ms();

    for (i = 0; i < MAX_ROUNDS && tsr_test_now_ms() - t < RETRY_WINDOW_MS;
         i++)
    {
        if (handshake(port_a, TSR_TEST_TLS13, NULL, NULL, &reused) != 0) {
            failures++;
        }

        tsr_test_sleep_ms(50);
    }

    logged = tsr_test_grep_count(node_a.error_log, "\": cannot resolve "
                                 "redis host \"" NAME "\"");

    printf("\n    " NAME " not found: %d handshakes, %d failed, %d "
           "messages in %d ms, %ld DNS queries (both nodes)", i, failures,
           logged, RETRY_WINDOW_MS, tsr_test_dns_queries(&dns) - queries);

    CU_ASSERT(i > 0);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL(logged, 1);

    /* asked again: more than the first attempt of each node */
    CU_ASSERT(tsr_test_dns_queries(&dns) - queries > 2);

    /* the name appears: followed without a reload */

    tsr_test_dns_set(&dns, TSR_TEST_DNS_ANSWER, ADDR_B);

    redis_a.port = redis_b.port;
    failures = 0;
    t = probe(START_LIMIT_MS, &failures);

    printf("\n    " NAME " found (" ADDR_B "): cross-node resumption "
           "after %lld ms, %d failed handshakes", t, failures);

    CU_ASSERT(t >= 0);
    CU_ASSERT_EQUAL(failures, 0);

    /*
     * The name goes away with its Redis: said at once, although the
     * loss was logged a few milliseconds before (nginx's log takes one
     * message a second from a store, but not those the core limits).
     */

    tsr_test_sleep_ms(EXPIRE_MS);

    logged = tsr_test_grep_count(node_a.error_log, "\": cannot resolve "
                                 "redis host \"" NAME "\"");

    tsr_test_dns_set(&dns, TSR_TEST_DNS_NXDOMAIN, NULL);
    tsr_test_redis_stop(&redis_b);

    t = tsr_test_now_ms();
    i = logged;

    while (i == logged && tsr_test_now_ms() - t < RETRY_WINDOW_MS) {
        tsr_test_sleep_ms(50);
        i = tsr_test_grep_count(node_a.error_log, "\": cannot resolve "
                                "redis host \"" NAME "\"");
    }

    printf("\n    redis and " NAME " gone: said after %lld ms",
           (i > logged) ? tsr_test_now_ms() - t : -1);

    CU_ASSERT_EQUAL(i, logged + 1);
    CU_ASSERT(tsr_test_now_ms() - t < 2000);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);

done:

    stop_nodes();
}


/* without a resolver, as before: "nginx -t" fails naming the host */

static void
test_name_not_resolving_without_resolver_fails_test(void)
{
    char  out[4096];

    if (write_node(&node_a, port_a, NAME, 0) != 0) {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    CU_ASSERT_NOT_EQUAL(tsr_test_nginx_test_conf(&node_a, out, sizeof(out)),
                        0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "host not found in redis address \""
                                  NAME "\""));

    printf("\n    nginx -t: %.*s", (int) strcspn(out, "\n"), out);
}


/*
 * A resolver there for other reasons (OCSP stapling, say) that does not
 * know the Redis name, as "localhost": the address found when the
 * configuration was read serves first, and again after a reconnect whose
 * name does not resolve, which is said once.
 */

static void
test_name_unknown_to_the_resolver_keeps_its_address(void)
{
    int        failures;
    long long  t;

    redis_a.port = 0;
    redis_a.bind[0] = '\0';

    if (tsr_test_redis_start(&redis_a) != 0) {
        CU_FAIL("redis did not start");
        return;
    }

    if (write_node(&node_a, port_a, "localhost", 1) != 0
        || write_node(&node_b, port_b, "localhost", 1) != 0
        || start_node(&node_a, &running_a) != 0
        || start_node(&node_b, &running_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    failures = 0;
    t = probe(START_LIMIT_MS, &failures);

    printf("\n    localhost, unknown to the resolver: cross-node "
           "resumption after %lld ms", t);

    CU_ASSERT(t >= 0);
    CU_ASSERT_EQUAL(failures, 0);

    /* a reconnect asks the resolver, which does not know the name */

    tsr_test_redis_stop(&redis_a);

    if (tsr_test_redis_start(&redis_a) != 0) {
        CU_FAIL("redis did not start again");
        goto done;
    }

    failures = 0;
    t = probe(START_LIMIT_MS, &failures);

    printf("\n    redis restarted: cross-node resumption after %lld ms, "
           "%d failed handshakes", t, failures);

    CU_ASSERT(t >= 0);
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL(tsr_test_grep_count(node_a.error_log,
                                        "cannot resolve redis host "
                                        "\"localhost\""), 1);
    CU_ASSERT(tsr_test_grep_count(node_a.error_log, "its last address")
              > 0);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);

done:

    stop_nodes();
    tsr_test_redis_stop(&redis_a);
}


/* the stream module takes the stream server's "resolver" */

static int
write_stream_node(tsr_test_nginx_t *n, int port, const char *host,
    int resolver)
{
    int   len;
    char  body[8192], res[256];

    res[0] = '\0';

    if (resolver) {
        snprintf(res, sizeof(res),
                 "    resolver 127.0.0.1:%d valid=%ds ipv6=off;\n",
                 dns.port, DNS_TTL);
    }

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "stream {\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets off;\n"
             "%s"
             "    ssl_session_redis %s:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout 250ms;\n"
             "    return \"ok\\n\";\n"
             "  }\n"
             "}\n",
             port, node_a.dir, node_a.dir, res, host, redis_a.port,
             key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(n, 1, "info", body);
}


/*
 * A stream server: its name does not resolve at "nginx -t" without a
 * resolver; with one, the worker resolves it and sessions resume
 * through the Redis it names (a single node without a first level).
 */

static void
test_stream_follows_the_name_with_its_resolver(void)
{
    int                 i, reused;
    char                out[4096];
    long long           t;
    SSL_SESSION        *sess;
    tsr_test_client_t   opts;

    redis_a.port = 0;
    redis_a.bind[0] = '\0';

    if (tsr_test_redis_start(&redis_a) != 0) {
        CU_FAIL("redis did not start");
        return;
    }

    tsr_test_dns_set(&dns, TSR_TEST_DNS_ANSWER, ADDR_A);

    if (write_stream_node(&node_a, port_a, NAME, 0) != 0) {
        CU_FAIL("cannot write nginx.conf");
        goto done;
    }

    CU_ASSERT_NOT_EQUAL(tsr_test_nginx_test_conf(&node_a, out, sizeof(out)),
                        0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "host not found in redis address \""
                                  NAME "\""));

    if (write_stream_node(&node_a, port_a, NAME, 1) != 0
        || start_node(&node_a, &running_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    memset(&opts, 0, sizeof(tsr_test_client_t));
    opts.version = TSR_TEST_TLS12;
    opts.request = 2;
    opts.timeout_ms = 5000;

    t = tsr_test_now_ms();
    reused = 0;

    for (i = 0; i < MAX_ROUNDS && !reused
                && tsr_test_now_ms() - t < START_LIMIT_MS; i++)
    {
        sess = NULL;
        opts.offer = NULL;

        if (tsr_test_tls_once(port_a, &opts, &sess, &reused) == 0
            && sess != NULL)
        {
            opts.offer = sess;
            (void) tsr_test_tls_once(port_a, &opts, NULL, &reused);
        }

        if (sess != NULL) {
            SSL_SESSION_free(sess);
        }

        if (!reused) {
            tsr_test_sleep_ms(20);
        }
    }

    printf("\n    stream: resumed through " NAME " after %lld ms",
           reused ? tsr_test_now_ms() - t : -1);

    CU_ASSERT(reused);
    CU_ASSERT(dbsize(&redis_a) > 0);
    CU_ASSERT(tsr_test_grep_count(node_a.error_log,
                                  "resolved to " ADDR_A) > 0);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);

done:

    stop_nodes();
    tsr_test_redis_stop(&redis_a);
}


static const tsr_test_t  tests[] = {
    TSR_TEST_FN(test_name_moving_is_followed_within_2s),
    TSR_TEST_FN(test_name_never_resolving_is_logged_and_retried),
    TSR_TEST_FN(test_name_not_resolving_without_resolver_fails_test),
    TSR_TEST_FN(test_name_unknown_to_the_resolver_keeps_its_address),
    TSR_TEST_FN(test_stream_follows_the_name_with_its_resolver)
};


int
main(void)
{
    return TSR_TEST_MAIN("dns", init_suite, clean_suite, tests);
}
