
/*
 * Two nginx nodes (http, one worker each) on a real Redis Cluster of
 * three masters and three replicas: sessions made on one node resume on
 * the other (TLS 1.2 session ids, TLS 1.3 stateful tickets); during a
 * reshard ("redis-cli --cluster reshard") and across a master killed
 * (its replica elected) no client handshake fails, and resumption is
 * back within 5 s.  Handshakes alternate between the nodes, each
 * offering the session the previous one received.  TSR_TEST_LONG=1
 * moves more slots and watches longer.
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
#define RECOVERY_MS      5000       /* resumption back, at most */
#define WATCH_MS         12000      /* after a kill: long enough to see
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
static void test_tls12_resumes_across_nodes_on_cluster(void);
static void test_tls13_resumes_across_nodes_on_cluster(void);
static void test_tls_cluster_resumes_across_nodes(void);
static void test_reshard_during_load_fails_no_handshake(void);
static void test_master_killed_during_load_fails_no_handshake(void);


static tsr_test_cluster_t  cluster;
static tsr_test_fleet_t    fleet;
static char                seeds[600];


static int
init_suite(void)
{
    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");
    tsr_test_require("TSR_REDIS_CLI", "redis-cli", "redis-tools");

    if (tsr_test_cluster_start(&cluster) != 0) {
        return -1;
    }

    if (tsr_test_fleet_init(&fleet, "cluster", 0) != 0) {
        return -1;
    }

    /* connected to every master after a start */
    fleet.settle_ms = 300;

    snprintf(seeds, sizeof(seeds), "cluster=%s", cluster.seeds);

    if (tsr_test_fleet_write(&fleet, seeds, EXTRA) != 0) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    tsr_test_fleet_stop(&fleet);
    tsr_test_cluster_stop(&cluster);

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
test_tls12_resumes_across_nodes_on_cluster(void)
{
    cross_node(TSR_TEST_TLS12, HANDSHAKES, "redis cluster");
}


static void
test_tls13_resumes_across_nodes_on_cluster(void)
{
    cross_node(TSR_TEST_TLS13, HANDSHAKES, "redis cluster");
}


/*
 * A cluster that speaks TLS only to its clients' side as managed ones do
 * (its bus and replication over TLS too): the nodes reach it by its TLS
 * ports, verify "redis.test" and follow CLUSTER SLOTS to the masters'
 * TLS ports.  A plain connection to any of those ports fails, so every
 * resumption here came through TLS.
 */

static void
test_tls_cluster_resumes_across_nodes(void)
{
    char                dir[256], address[1024];
    tsr_test_cluster_t  tls;

    memset(&tls, 0, sizeof(tsr_test_cluster_t));

    if (tsr_test_tls_certs(dir, sizeof(dir)) != 0) {
        CU_FAIL("no certificates");
        return;
    }

    tls.tls_dir = dir;

    if (tsr_test_cluster_start(&tls) != 0) {
        CU_FAIL("the TLS cluster did not start");
        return;
    }

    snprintf(address, sizeof(address), "cluster=%s tls "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test",
             tls.tls_seeds, dir);

    if (tsr_test_fleet_write(&fleet, address, EXTRA) != 0) {
        CU_FAIL("nodes not written");
        goto done;
    }

    cross_node(TSR_TEST_TLS12, TLS_HANDSHAKES, "redis cluster over TLS");
    cross_node(TSR_TEST_TLS13, TLS_HANDSHAKES, "redis cluster over TLS");

done:

    if (tsr_test_fleet_write(&fleet, seeds, EXTRA) != 0) {
        CU_FAIL("nodes not written back");
    }

    tsr_test_cluster_stop(&tls);
}


/*
 * "redis-cli --cluster reshard" moves slots from one master to another
 * while handshakes go on: none fails, and resumption (ASK and MOVED
 * followed) is back within 5 s of the end, if it ever went.
 */

static void
test_reshard_during_load_fails_no_handshake(void)
{
    int              src, dst, rc, status, slots;
    char             sid[48], did[48], seed[32], count[16], log[PATH_MAX + 16];
    pid_t            pid;
    tsr_test_load_t  l;
    long long        start, ended;

    memset(&l, 0, sizeof(l));
    pid = -1;

    if (tsr_test_fleet_start(&fleet) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    slots = long_run() ? 8000 : 2000;

    src = tsr_test_cluster_master_of(&cluster, 0, -1);
    dst = tsr_test_cluster_master_of(&cluster, 16383, -1);

    if (src == -1 || dst == -1 || src == dst
        || tsr_test_cluster_node_id(&cluster, src, sid, sizeof(sid)) != 0
        || tsr_test_cluster_node_id(&cluster, dst, did, sizeof(did)) != 0)
    {
        CU_FAIL("no masters to reshard between");
        goto done;
    }

    /* some sessions first */
    while (l.handshakes < 200) {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 0);
    }

    snprintf(seed, sizeof(seed), "127.0.0.1:%d", cluster.node[src].port);
    snprintf(count, sizeof(count), "%d", slots);
    snprintf(log, sizeof(log), "%s/reshard.log", fleet.node[0].dir);

    pid = tsr_test_redis_cli_spawn(log, "--cluster", "reshard", seed,
                                   "--cluster-from", sid,
                                   "--cluster-to", did,
                                   "--cluster-slots", count,
                                   "--cluster-yes",
                                   "--cluster-pipeline", "20", NULL);
    if (pid == -1) {
        CU_FAIL("redis-cli did not start");
        goto done;
    }

    start = tsr_test_now_ms();
    ended = 0;
    rc = -1;

    while (tsr_test_now_ms() - start < 120000 && l.failed < MAX_FAILURES) {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 0);

        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            pid = -1;
            ended = tsr_test_now_ms();
            break;
        }
    }

    if (pid != -1) {
        rc = tsr_test_wait_child(pid, 60000);
        pid = -1;
        ended = tsr_test_now_ms();
    }

    CU_ASSERT_EQUAL(rc, 0);

    /* as long again after the end, and at least 5 s */

    l.event = ended;
    l.last_miss = -1;
    l.offered_after = 0;

    while (tsr_test_now_ms() - ended < RECOVERY_MS + 1000
           && l.failed < MAX_FAILURES)
    {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 1);
    }

    printf("\n    reshard of %d slots in %lld ms under load: %d handshakes, "
           "%d failed; resumed during it %d of %d (%.2f%%); in the %d ms "
           "after it, the last miss at %lld ms (-1: none), then %d of %d "
           "resumed ", slots, ended - start, l.handshakes, l.failed,
           l.resumed_during, l.during,
           l.during > 0 ? 100.0 * l.resumed_during / l.during : 0.0,
           RECOVERY_MS + 1000, l.last_miss, l.offered_after,
           l.offered_after);

    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT(l.during > 100);
    CU_ASSERT(l.last_miss <= RECOVERY_MS);
    CU_ASSERT(l.offered_after > 100);

    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 10000), 0);

done:

    if (pid != -1) {
        (void) tsr_test_wait_child(pid, 60000);
    }

    tsr_test_load_done(&l);
    tsr_test_fleet_stop(&fleet);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 0), 0);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 1), 0);
}


/*
 * A master killed during load: handshakes go on in full while its slots
 * (and, with cluster-require-full-coverage, every slot) are unavailable;
 * none fails, and resumption is back within 5 s of the kill.  The node
 * then rejoins as a replica.
 */

static void
test_master_killed_during_load_fails_no_handshake(void)
{
    int              m, watch;
    tsr_test_load_t  l;
    long long        killed;

    memset(&l, 0, sizeof(l));
    m = -1;
    killed = 0;

    if (tsr_test_fleet_start(&fleet) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    m = tsr_test_cluster_master_of(&cluster, 5000, -1);

    if (m == -1 || tsr_test_cluster_replica_of(&cluster, m) == -1) {
        CU_FAIL("no master with a replica");
        goto done;
    }

    while (l.handshakes < 300) {
        tsr_test_fleet_load_step(&fleet, &l, TSR_TEST_TLS12, 0);
    }

    if (tsr_test_redis_signal(&cluster.node[m], SIGKILL) != 0) {
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
    }

    printf("\n    master killed under load: %d handshakes, %d failed; the "
           "last miss %lld ms after the kill, then %d of %d resumed in the "
           "next %lld ms ", l.handshakes, l.failed, l.last_miss,
           l.offered_after, l.offered_after,
           watch - (l.last_miss > 0 ? l.last_miss : 0));

    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT(l.last_miss <= RECOVERY_MS);
    CU_ASSERT(l.offered_after > 100);

done:

    tsr_test_load_done(&l);
    tsr_test_fleet_stop(&fleet);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 0), 0);
    CU_ASSERT_EQUAL(tsr_test_fleet_log_problems(&fleet, 1), 0);

    if (killed != 0) {
        (void) tsr_test_wait_child(cluster.node[m].pid, 5000);
        cluster.node[m].pid = 0;

        CU_ASSERT_EQUAL(tsr_test_redis_start(&cluster.node[m]), 0);
        CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 20000), 0);
    }
}

int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(tls12_resumes_across_nodes_on_cluster),
        TSR_TEST(tls13_resumes_across_nodes_on_cluster),
        TSR_TEST(tls_cluster_resumes_across_nodes),
        TSR_TEST(reshard_during_load_fails_no_handshake),
        TSR_TEST(master_killed_during_load_fails_no_handshake)
    };

    (void) signal(SIGPIPE, SIG_IGN);

    return TSR_TEST_MAIN("cluster", init_suite, clean_suite, tests);
}
