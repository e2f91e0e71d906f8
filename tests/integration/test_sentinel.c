
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
static int write_node(tsr_test_nginx_t *n, int port, const char *addr);
static int start_node(tsr_test_nginx_t *n, int port, int *running);
static int start_nodes(void);
static void stop_nodes(void);
static void check_logs(tsr_test_nginx_t *n);
static int handshake(int port, int version, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused);
static void load_step(load_t *l, int version, int ended);
static void load_done(load_t *l);
static void cross_node(int version, int handshakes, const char *what);
static void test_tls12_resumes_across_nodes_via_sentinel(void);
static void test_tls13_resumes_across_nodes_via_sentinel(void);
static void test_tls_sentinel_resumes_across_nodes_and_failover(void);
static void test_master_killed_during_load_fails_no_handshake(void);


static tsr_test_sentinel_t  sentinel;
static tsr_test_nginx_t    node_a;
static tsr_test_nginx_t    node_b;
static int                 port_a;
static int                 port_b;
static int                 running_a;
static int                 running_b;
static char                key_file[PATH_MAX + 16];
static char                address[1024];


static int
init_suite(void)
{
    unsigned char                key[48];
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    if (tsr_test_sentinel_start(&sentinel) != 0) {
        return -1;
    }

    if (tsr_test_nginx_init(&node_a, "sentinel-a", cns) != 0
        || tsr_test_nginx_init(&node_b, "sentinel-b", NULL) != 0)
    {
        return -1;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", node_a.dir);
    snprintf(address, sizeof(address), "sentinel=%s master=%s",
             sentinel.sentinels, sentinel.name);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (port_a == -1 || port_b == -1 || port_a == port_b
        || write_node(&node_a, port_a, address) != 0
        || write_node(&node_b, port_b, address) != 0)
    {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    stop_nodes();
    tsr_test_sentinel_stop(&sentinel);

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
 * One server; the master by its sentinels and name.  The lookup deadline
 * leaves room for a busy test machine: misses, not failures, are what
 * it costs.
 */

static int
write_node(tsr_test_nginx_t *n, int port, const char *addr)
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
             port, node_a.dir, node_a.dir, addr, key_file);

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

    /* connected to the master */
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
    load_t               l;
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

    if (write_node(&node_a, port_a, address) != 0
        || write_node(&node_b, port_b, address) != 0)
    {
        CU_FAIL("nodes not written");
        goto done;
    }

    cross_node(TSR_TEST_TLS12, TLS_HANDSHAKES, "redis sentinel over TLS");

    /* the nodes keep running through the failover: they must follow it */

    memset(&l, 0, sizeof(l));

    if (start_nodes() != 0) {
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
        load_step(&l, TSR_TEST_TLS13, 1);
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

    if (write_node(&node_a, port_a, address) != 0
        || write_node(&node_b, port_b, address) != 0)
    {
        CU_FAIL("nodes not written back");
    }

    load_done(&l);
    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);
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
    int        m, watch;
    load_t     l;
    long long  killed, switched;

    memset(&l, 0, sizeof(l));
    m = -1;
    killed = 0;
    switched = -1;

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    m = tsr_test_sentinel_master(&sentinel);

    if (m == -1) {
        CU_FAIL("no master");
        goto done;
    }

    while (l.handshakes < 300) {
        load_step(&l, TSR_TEST_TLS12, 0);
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
        load_step(&l, TSR_TEST_TLS12, 1);

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

    load_done(&l);
    stop_nodes();
    check_logs(&node_a);
    check_logs(&node_b);

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
