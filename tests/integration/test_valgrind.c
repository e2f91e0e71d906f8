
/*
 * nginx with both modules under valgrind memcheck, as one process
 * ("master_process off"), through an integration scenario: sessions
 * stored and resumed (TLS 1.2 ids, TLS 1.3 stateful tickets, fleet ticket
 * keys), Redis stopped and back, a graceful stop (which destroys the
 * cycle: every pool cleanup of the modules runs).  The report
 * must hold no error and no definite leak (nginx's own known reports are
 * suppressed in valgrind.supp; the leak records are also checked for our
 * modules by name).  TSR_VALGRIND_ROUNDS repeats the handshakes ("make
 * valgrind" runs more); ASan builds skip it: the sanitizer and valgrind
 * do not mix.
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


#define WAIT_MS          120000
#define RECOVERY_MS      15000


static int init_suite(void);
static int clean_suite(void);
static int handshake(int port, int version, int tickets, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused);
static int round_trip(int port, int version, int tickets, int *resumed);
static int report(const char *path, int *errors, int *ours, long *definite);
static void test_nginx_under_memcheck_has_no_errors_or_leaks(void);


static tsr_test_redis_t   redis;
static tsr_test_nginx_t   node;
static int                running;
static char               log_path[PATH_MAX + 32];


static int
init_suite(void)
{
    memset(&redis, 0, sizeof(tsr_test_redis_t));

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");
    tsr_test_require("TSR_VALGRIND", "valgrind", "valgrind");

    return tsr_test_redis_start(&redis);
}


static int
clean_suite(void)
{
    if (running) {
        tsr_test_nginx_stop(&node);
        running = 0;
    }

    tsr_test_redis_stop(&redis);

    return 0;
}


static int
handshake(int port, int version, int tickets, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused)
{
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.tickets = tickets;
    opts.offer = offer;
    opts.request = 1;
    opts.timeout_ms = 20000;

    *reused = 0;

    return tsr_test_tls_once(port, &opts, out, reused);
}


/* a fresh handshake, then two offering its session; failures counted */

static int
round_trip(int port, int version, int tickets, int *resumed)
{
    int           i, reused, failed;
    SSL_SESSION  *sess;

    sess = NULL;
    failed = 0;

    if (handshake(port, version, tickets, NULL, &sess, &reused) != 0) {
        return 1;
    }

    for (i = 0; i < 2; i++) {
        if (handshake(port, version, tickets, sess, NULL, &reused) != 0) {
            failed++;
        }

        *resumed += reused;
    }

    SSL_SESSION_free(sess);

    return failed;
}


/*
 * Reads valgrind's report: the error count of its summary, the definite
 * leak records whose stacks pass through our modules, and the bytes
 * definitely lost.  Returns 0, or -1 when there is no summary.
 */

static int
report(const char *path, int *errors, int *ours, long *definite)
{
    int    in_record, found;
    FILE  *f;
    char  *p, line[4096];

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    *errors = -1;
    *ours = 0;
    *definite = -1;
    in_record = 0;
    found = 0;

    while (fgets(line, sizeof(line), f) != NULL) {

        if (strstr(line, "are definitely lost in loss record") != NULL) {
            in_record = 1;
            found = 0;
            continue;
        }

        if (in_record) {
            if (strstr(line, "ssl_session_redis") != NULL
                || strstr(line, " tsr_") != NULL)
            {
                if (!found) {
                    (*ours)++;
                    found = 1;
                }
            }

            /* a record ends with a line holding the pid prefix alone */
            p = strstr(line, "== ");
            if (p == NULL || p[3] == '\n' || p[3] == '\0') {
                in_record = 0;
            }
        }

        p = strstr(line, "ERROR SUMMARY: ");
        if (p != NULL) {
            *errors = atoi(p + sizeof("ERROR SUMMARY: ") - 1);
        }

        p = strstr(line, "definitely lost: ");
        if (p != NULL) {
            *definite = strtol(p + sizeof("definitely lost: ") - 1, NULL,
                               10);
        }
    }

    fclose(f);

    return (*errors >= 0) ? 0 : -1;
}


static void
test_nginx_under_memcheck_has_no_errors_or_leaks(void)
{
    int                          i, r, rounds, port, port2, failed;
    int                          resumed, outage, back, errors, ours;
    int                          reused, len;
    long                         definite;
    long long                    t, start;
    const char                  *s, *src, *nginx;
    SSL_SESSION                 *sess;
    unsigned char                key[32];
    char                         key_file[PATH_MAX + 16], body[8192];
    char                         wrapper[PATH_MAX];
    static const char *const  cns[] = { "one.test", NULL };

    failed = 0;
    resumed = 0;
    outage = 0;
    back = -1;
    errors = -1;
    ours = -1;
    definite = -1;

    s = getenv("TSR_VALGRIND_ROUNDS");
    rounds = (s != NULL && atoi(s) > 0) ? atoi(s) : 2;

    /* the wrapper runs the real nginx under valgrind */

    nginx = tsr_test_require("TSR_NGINX", "nginx", "nginx");
    setenv("TSR_VALGRIND_NGINX", nginx, 1);

    src = getenv("TSR_SRCDIR");
    snprintf(wrapper, sizeof(wrapper), "%s/tests/integration/"
             "valgrind-nginx.sh", src != NULL ? src : ".");

    if (tsr_test_nginx_init(&node, "valgrind", cns) != 0) {
        CU_FAIL("cannot prepare nginx");
        return;
    }

    snprintf(log_path, sizeof(log_path), "%s/logs/valgrind.log", node.dir);
    setenv("TSR_VALGRIND_LOG", log_path, 1);

    if (RAND_bytes(key, sizeof(key)) != 1) {
        CU_FAIL("RAND_bytes() failed");
        return;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", node.dir);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        CU_FAIL("cannot write the key");
        return;
    }

    port = tsr_test_free_port();
    port2 = tsr_test_free_port();

    len = snprintf(body, sizeof(body),
             "master_process off;\n"
             "http {\n"
             "  access_log off;\n"
             "  ssl_certificate %s/one.test.crt;\n"
             "  ssl_certificate_key %s/one.test.key;\n"
             "  ssl_protocols TLSv1.2 TLSv1.3;\n"
             "  ssl_session_timeout 10m;\n"
             "  ssl_session_redis 127.0.0.1:%d;\n"
             "  ssl_session_redis_fleet_key %s;\n"
             "  ssl_session_redis_lookup_timeout 5s;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_session_tickets off;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_session_tickets on;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             node.dir, node.dir, redis.port, key_file, port, port2);

    if (len < 0 || (size_t) len >= sizeof(body)
        || tsr_test_nginx_write_conf(&node, 0, "info", body) != 0)
    {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    setenv("TSR_NGINX", wrapper, 1);
    setenv("TSR_NGINX_WAIT_MS", "120000", 1);

    start = tsr_test_now_ms();

    if (tsr_test_nginx_start(&node) != 0) {
        CU_FAIL("nginx did not start under valgrind");
        goto done;
    }

    running = 1;

    /* ready: the first handshake may wait for the whole start-up */

    for (i = 0; i < 60; i++) {
        if (handshake(port, TSR_TEST_TLS12, 0, NULL, NULL, &reused) == 0) {
            break;
        }

        tsr_test_sleep_ms(1000);
    }

    printf("\n    started under valgrind in %lld ms ",
           tsr_test_now_ms() - start);

    for (r = 0; r < rounds; r++) {
        failed += round_trip(port, TSR_TEST_TLS12, 0, &resumed);
        failed += round_trip(port, TSR_TEST_TLS13, 0, &resumed);
        failed += round_trip(port2, TSR_TEST_TLS12, 1, &resumed);
        failed += round_trip(port2, TSR_TEST_TLS13, 1, &resumed);
    }

    /* Redis away: full handshakes, then resumption comes back */

    tsr_test_redis_stop(&redis);

    for (i = 0; i < 4; i++) {
        outage++;
        if (handshake(port, i % 2 ? TSR_TEST_TLS13 : TSR_TEST_TLS12, 0,
                      NULL, NULL, &reused) != 0)
        {
            failed++;
        }
    }

    if (tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
        goto done;
    }

    t = tsr_test_now_ms();

    while (tsr_test_now_ms() - t < RECOVERY_MS) {
        sess = NULL;

        if (handshake(port, TSR_TEST_TLS12, 0, NULL, &sess, &reused) == 0
            && sess != NULL)
        {
            tsr_test_sleep_ms(100);

            if (handshake(port, TSR_TEST_TLS12, 0, sess, NULL, &reused) == 0
                && reused)
            {
                back = (int) (tsr_test_now_ms() - t);
            }
        }

        SSL_SESSION_free(sess);

        if (back >= 0) {
            break;
        }

        tsr_test_sleep_ms(200);
    }

    failed += round_trip(port, TSR_TEST_TLS13, 0, &resumed);
    failed += round_trip(port2, TSR_TEST_TLS12, 1, &resumed);

    tsr_test_nginx_stop(&node);
    running = 0;

    if (report(log_path, &errors, &ours, &definite) != 0) {
        CU_FAIL("no valgrind summary");
    }

    printf("\n    %d rounds, %d resumed, %d handshakes during an outage, "
           "resumption back after %d ms, %d failed; valgrind: %d errors, "
           "%ld bytes definitely lost, %d leak records in our modules, "
           "%lld ms in all (report: %s) ", rounds, resumed, outage, back,
           failed, errors, definite, ours, tsr_test_now_ms() - start,
           log_path);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(resumed >= rounds * 8 - 2);
    CU_ASSERT(back >= 0);
    CU_ASSERT_EQUAL(errors, 0);
    CU_ASSERT_EQUAL(ours, 0);

done:

    if (running) {
        tsr_test_nginx_stop(&node);
        running = 0;
    }

    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node), 0);
}


int
main(void)
{
    const char  *asan;

    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_nginx_under_memcheck_has_no_errors_or_leaks)
    };

    asan = getenv("TSR_ASAN");

    if (asan != NULL && strcmp(asan, "yes") == 0) {
        printf("test_valgrind: skipped in an ASan build (the sanitizer "
               "and valgrind do not mix)\n");
        return 77;
    }

    return TSR_TEST_MAIN("valgrind", init_suite, clean_suite, tests);
}
