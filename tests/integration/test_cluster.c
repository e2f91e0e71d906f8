
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


/* a run of alternating handshakes, with times relative to an event */
typedef struct {
    int         handshakes;
    int         failed;
    int         offered;
    int         resumed;
    long long   event;          /* ms on the monotonic clock, 0: none */
    long long   last_miss;      /* after the event, ms; -1: none */
    int         offered_after;  /* offers after the last miss */
    int         during;         /* offers before the event ended */
    int         resumed_during;
    SSL_SESSION *offer;
} load_t;


static int init_suite(void);
static int clean_suite(void);
static void sleep_ms(int ms);
static int long_run(void);
static int write_node(tsr_test_nginx_t *n, int port, const char *address);
static int start_node(tsr_test_nginx_t *n, int port, int *running);
static int start_nodes(void);
static void stop_nodes(void);
static void check_logs(tsr_test_nginx_t *n);
static int handshake(int port, int version, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused);
static void load_step(load_t *l, int version, int ended);
static void load_done(load_t *l);
static void cross_node(int version, int handshakes, const char *what);
static void test_tls12_resumes_across_nodes_on_cluster(void);
static void test_tls13_resumes_across_nodes_on_cluster(void);
static void test_tls_cluster_resumes_across_nodes(void);
static void test_reshard_during_load_fails_no_handshake(void);
static void test_master_killed_during_load_fails_no_handshake(void);


static tsr_test_cluster_t  cluster;
static tsr_test_nginx_t    node_a;
static tsr_test_nginx_t    node_b;
static int                 port_a;
static int                 port_b;
static int                 running_a;
static int                 running_b;
static char                key_file[PATH_MAX + 16];
static char                seeds[600];


static int
init_suite(void)
{
    unsigned char                key[48];
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");
    tsr_test_require("TSR_REDIS_CLI", "redis-cli", "redis-tools");

    if (tsr_test_cluster_start(&cluster) != 0) {
        return -1;
    }

    if (tsr_test_nginx_init(&node_a, "cluster-a", cns) != 0
        || tsr_test_nginx_init(&node_b, "cluster-b", NULL) != 0)
    {
        return -1;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", node_a.dir);
    snprintf(seeds, sizeof(seeds), "cluster=%s", cluster.seeds);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (port_a == -1 || port_b == -1 || port_a == port_b
        || write_node(&node_a, port_a, seeds) != 0
        || write_node(&node_b, port_b, seeds) != 0)
    {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    stop_nodes();
    tsr_test_cluster_stop(&cluster);

    return 0;
}


static void
sleep_ms(int ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


static int
long_run(void)
{
    const char  *v;

    v = getenv("TSR_TEST_LONG");

    return v != NULL && v[0] != '\0' && v[0] != '0';
}


/*
 * One server; the cluster by its seeds.  The lookup deadline leaves room
 * for a busy test machine: misses, not failures, are what it costs.
 */

static int
write_node(tsr_test_nginx_t *n, int port, const char *address)
{
    int   len;
    char  body[8192];

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_timeout 10m;\n"
             "    ssl_session_redis %s;\n"
             "    ssl_session_redis_key %s;\n"
             "    ssl_session_redis_timeout 100ms;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             port, node_a.dir, node_a.dir, address, key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(n, 0, "info", body);
}


/* starts a node and waits until it has served a handshake */

static int
start_node(tsr_test_nginx_t *n, int port, int *running)
{
    int  reused;

    if (truncate(n->error_log, 0) != 0 && errno != ENOENT) {
        return -1;
    }

    if (tsr_test_nginx_start(n) != 0) {
        return -1;
    }

    *running = 1;

    if (handshake(port, TSR_TEST_TLS13, NULL, NULL, &reused) != 0) {
        return -1;
    }

    /* connected to every master */
    sleep_ms(300);

    return 0;
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


static int
handshake(int port, int version, SSL_SESSION *offer, SSL_SESSION **out,
    int *reused)
{
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.offer = offer;
    opts.request = 1;
    opts.timeout_ms = 5000;

    return tsr_test_tls_once(port, &opts, out, reused);
}


/*
 * One handshake on the node whose turn it is, offering the last session;
 * "ended": the event is over (for the counts during it).
 */

static void
load_step(load_t *l, int version, int ended)
{
    int           rc, reused;
    long long     now;
    SSL_SESSION  *next;

    next = NULL;
    reused = 0;

    rc = handshake(l->handshakes % 2 == 0 ? port_a : port_b, version,
                   l->offer, &next, &reused);

    l->handshakes++;
    now = tsr_test_now_ms();

    if (rc != 0) {
        l->failed++;
    }

    if (l->offer != NULL) {
        l->offered++;
        l->resumed += reused;
        l->offered_after++;

        if (!ended) {
            l->during++;
            l->resumed_during += reused;
        }

        if (!reused && l->event != 0 && now >= l->event) {
            l->last_miss = now - l->event;
            l->offered_after = 0;
        }

        SSL_SESSION_free(l->offer);
    }

    l->offer = next;
}


static void
load_done(load_t *l)
{
    if (l->offer != NULL) {
        SSL_SESSION_free(l->offer);
        l->offer = NULL;
    }
}


static void
cross_node(int version, int handshakes, const char *what)
{
    int        i;
    load_t     l;
    long long  start;

    memset(&l, 0, sizeof(l));

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    start = tsr_test_now_ms();

    for (i = 0; i < handshakes && l.failed < MAX_FAILURES; i++) {
        load_step(&l, version, 1);
    }

    printf("\n    TLSv1.%d, %s: %d of %d offered sessions resumed "
           "on the other node (%.2f%%), %d handshakes in %lld ms ",
           version == TSR_TEST_TLS13 ? 3 : 2, what, l.resumed, l.offered,
           l.offered > 0 ? 100.0 * l.resumed / l.offered : 0.0,
           l.handshakes, tsr_test_now_ms() - start);

    CU_ASSERT_EQUAL(l.failed, 0);
    CU_ASSERT_EQUAL(l.offered, handshakes - 1);
    CU_ASSERT(l.resumed >= handshakes - 1);

done:

    load_done(&l);
    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
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

    if (write_node(&node_a, port_a, address) != 0
        || write_node(&node_b, port_b, address) != 0)
    {
        CU_FAIL("nodes not written");
        goto done;
    }

    cross_node(TSR_TEST_TLS12, TLS_HANDSHAKES, "redis cluster over TLS");
    cross_node(TSR_TEST_TLS13, TLS_HANDSHAKES, "redis cluster over TLS");

done:

    if (write_node(&node_a, port_a, seeds) != 0
        || write_node(&node_b, port_b, seeds) != 0)
    {
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
    int        src, dst, rc, status, slots;
    char       sid[48], did[48], seed[32], count[16], log[PATH_MAX + 16];
    pid_t      pid;
    load_t     l;
    long long  start, ended;

    memset(&l, 0, sizeof(l));
    pid = -1;

    if (start_nodes() != 0) {
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
        load_step(&l, TSR_TEST_TLS12, 0);
    }

    snprintf(seed, sizeof(seed), "127.0.0.1:%d", cluster.node[src].port);
    snprintf(count, sizeof(count), "%d", slots);
    snprintf(log, sizeof(log), "%s/reshard.log", node_a.dir);

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
        load_step(&l, TSR_TEST_TLS12, 0);

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
        load_step(&l, TSR_TEST_TLS12, 1);
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

    load_done(&l);
    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
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
    int        m, watch;
    load_t     l;
    long long  killed;

    memset(&l, 0, sizeof(l));
    m = -1;
    killed = 0;

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    m = tsr_test_cluster_master_of(&cluster, 5000, -1);

    if (m == -1 || tsr_test_cluster_replica_of(&cluster, m) == -1) {
        CU_FAIL("no master with a replica");
        goto done;
    }

    while (l.handshakes < 300) {
        load_step(&l, TSR_TEST_TLS12, 0);
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
        load_step(&l, TSR_TEST_TLS12, 1);
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

    load_done(&l);
    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);

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
