
/*
 * Two nginx nodes (http, one worker each) on Redis through Sentinel (a
 * master, a replica, three sentinels): sessions made on one node resume
 * on the other, and when the master is killed during load no client
 * handshake fails and resumption comes back once the sentinels have
 * promoted the replica; the test reports how many seconds that took.
 * TSR_TEST_LONG=1 watches longer.
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define HANDSHAKES       1000
#define TLS_HANDSHAKES   200
#define MAX_FAILURES     20
#define RECOVERY_MS      10000      /* resumption back, at most: the
                                       sentinels' failover and ours */
#define WATCH_MS         15000      /* after a kill: long enough to see
                                       recovery and steady resumption */

/*
 * The lookup deadline leaves room for a busy test machine: misses, not
 * failures, are what it costs.
 */
#define EXTRA            "    ssl_session_redis_lookup_timeout 100ms;\n"


static int init_suite(void);
static int clean_suite(void);
static int long_run(void);
static void cross_node(int version, int handshakes, const char *what);
static void test_tls12_resumes_across_nodes_via_sentinel(void);
static void test_tls13_resumes_across_nodes_via_sentinel(void);
static void test_tls_sentinel_resumes_across_nodes_and_failover(void);
static void test_master_killed_during_load_fails_no_handshake(void);


static tsr_test_sentinel_t  sentinel;
static tsr_test_fleet_t     fleet;
static char                 address[1024];


static int
init_suite(void)
{
    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    if (tsr_test_sentinel_start(&sentinel) != 0) {
        return -1;
    }

    if (tsr_test_fleet_init(&fleet, "sentinel", 0) != 0) {
        return -1;
    }

    /* connected to the master after a start */
    fleet.settle_ms = 300;

    snprintf(address, sizeof(address), "sentinel=%s master=%s",
             sentinel.sentinels, sentinel.name);

    if (tsr_test_fleet_write(&fleet, address, EXTRA) != 0) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    tsr_test_fleet_stop(&fleet);
    tsr_test_sentinel_stop(&sentinel);

    return 0;
}


static int
long_run(void)
{
    const char  *v;

    v = getenv("TSR_TEST_LONG");

    return v != NULL && v[0] != '\0' && v[0] != '0';
}


static void
cross_node(int version, int handshakes, const char *what)
{
    tsr_test_load_t  l;

    if (tsr_test_fleet_cross_node(&fleet, &l, version, handshakes,
                                  MAX_FAILURES, what)
        != 0)
    {
        CU_FAIL("nodes did not start");

    } else {
        CU_ASSERT_EQUAL(l.failed, 0);
        CU_ASSERT_EQUAL(l.offered, handshakes - 1);
        CU_ASSERT(l.resumed >= handshakes - 1);
    }

    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 0), 0);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 1), 0);
}


static void
test_tls12_resumes_across_nodes_via_sentinel(void)
{
    cross_node(TSR_TEST_TLS12, HANDSHAKES, "redis sentinel");
}


static void
test_tls13_resumes_across_nodes_via_sentinel(void)
{
    cross_node(TSR_TEST_TLS13, HANDSHAKES, "redis sentinel");
}


/*
 * Master, replica and sentinels on TLS ports only for the nodes (and
 * replication and the sentinels' own links over TLS): the nodes ask the
 * sentinels over TLS, verify "redis.test" on the master they name, and
 * follow a failover announced on the sentinels' TLS connection.
 */

static void
test_tls_sentinel_resumes_across_nodes_and_failover(void)
{
    int                  old;
    char                 dir[256], plain[1024];
    tsr_test_load_t      l;
    long long            end;
    tsr_test_sentinel_t  tls;

    memset(&tls, 0, sizeof(tsr_test_sentinel_t));
    memset(&l, 0, sizeof(l));
    memcpy(plain, address, sizeof(plain));

    if (tsr_test_tls_certs(dir, sizeof(dir)) != 0) {
        CU_FAIL("no certificates");
        return;
    }

    tls.tls_dir = dir;

    if (tsr_test_sentinel_start(&tls) != 0) {
        CU_FAIL("the TLS sentinels did not start");
        return;
    }

    snprintf(address, sizeof(address), "sentinel=%s master=%s tls "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test",
             tls.tls_sentinels, tls.name, dir);

    if (tsr_test_fleet_write(&fleet, address, EXTRA) != 0) {
        CU_FAIL("nodes not written");
        goto done;
    }

    cross_node(TSR_TEST_TLS12, TLS_HANDSHAKES, "redis sentinel over TLS");

    /* the nodes keep running through the failover: they must follow it */

    memset(&l, 0, sizeof(l));

    if (tsr_test_fleet_start(&fleet) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    old = tsr_test_sentinel_master(&tls);
    CU_ASSERT_EQUAL(old, 0);

    if (old != 0 || tsr_test_redis_stop(&tls.data[old]) != 0) {
        CU_FAIL("the master did not stop");
        goto done;
    }

    l.event = tsr_test_now_ms();
    end = l.event + RECOVERY_MS * 2;

    /* until 100 offers in a row resumed on the new master */

    while (tsr_test_now_ms() < end && l.failed < MAX_FAILURES
           && l.offered_after < 100)
    {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS13, 1);
    }

    printf("\n    TLSv1.3, sentinels over TLS, master stopped: %d handshakes, "
           "%d failed; the last miss %lld ms after the stop, then %d of %d "
           "resumed ", l.handshakes, l.failed, l.last_miss, l.offered_after,
           l.offered_after);

    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT(l.offered_after >= 100);
    CU_ASSERT_EQUAL(tsr_test_sentinel_master(&tls), 1);

done:

    memcpy(address, plain, sizeof(plain));

    if (tsr_test_fleet_write(&fleet, address, EXTRA) != 0) {
        CU_FAIL("nodes not written back");
    }

    tsr_test_load_done(&l);
    tsr_test_fleet_stop(&fleet);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 0), 0);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 1), 0);
    tsr_test_sentinel_stop(&tls);
}


/*
 * The master killed during load: handshakes go on in full until the
 * sentinels promote the replica and announce it (+switch-master); none
 * fails, and resumption comes back on the new master.
 */

static void
test_master_killed_during_load_fails_no_handshake(void)
{
    int              m, watch;
    tsr_test_load_t  l;
    long long        killed, switched;

    memset(&l, 0, sizeof(l));
    m = -1;
    killed = 0;
    switched = -1;

    if (tsr_test_fleet_start(&fleet) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    m = tsr_test_sentinel_master(&sentinel);

    if (m == -1) {
        CU_FAIL("no master");
        goto done;
    }

    while (l.handshakes < 300) {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 0);
    }

    if (tsr_test_redis_signal(&sentinel.data[m], SIGKILL) != 0) {
        CU_FAIL("cannot kill the master");
        goto done;
    }

    killed = tsr_test_now_ms();
    l.event = killed;
    l.last_miss = -1;
    l.offered_after = 0;
    watch = long_run() ? 3 * WATCH_MS : WATCH_MS;

    while (tsr_test_now_ms() - killed < watch && l.failed < MAX_FAILURES) {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 1);

        if (switched == -1 && l.handshakes % 20 == 0
            && tsr_test_sentinel_master(&sentinel) == 1 - m)
        {
            switched = tsr_test_now_ms() - killed;
        }
    }

    printf("\n    master killed under load: %d handshakes, %d failed; the "
           "sentinels named the replica after about %.1f s; the last miss "
           "%.1f s after the kill, then %d of %d resumed ", l.handshakes,
           l.failed, switched / 1000.0, l.last_miss / 1000.0,
           l.offered_after, l.offered_after);

    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT(switched != -1);
    CU_ASSERT(l.last_miss <= RECOVERY_MS);
    CU_ASSERT(l.offered_after > 100);

done:

    tsr_test_load_done(&l);
    tsr_test_fleet_stop(&fleet);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 0), 0);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 1), 0);

    if (killed != 0) {
        (void) tsr_test_wait_child(sentinel.data[m].pid, 5000);
        sentinel.data[m].pid = 0;
    }
}

int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(tls12_resumes_across_nodes_via_sentinel),
        TSR_TEST(tls13_resumes_across_nodes_via_sentinel),
        TSR_TEST(tls_sentinel_resumes_across_nodes_and_failover),
        TSR_TEST(master_killed_during_load_fails_no_handshake)
    };

    (void) signal(SIGPIPE, SIG_IGN);

    return TSR_TEST_MAIN("sentinel", init_suite, clean_suite, tests);
}
