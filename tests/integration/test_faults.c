
/*
 * Fault injection with real processes: two nginx nodes (http, one worker
 * each) share a Redis while four client processes run handshakes
 * against them, alternating nodes and offering the session the previous
 * handshake received (TLS 1.2 and 1.3).  For each fault the suite counts
 * failed handshakes (must be 0) and worker crashes (must be 0), and
 * measures how long after the fault ends a session made on one node
 * resumes on the other again (at most 2 s).  Faults: Redis killed and
 * restarted, stopped (SIGSTOP) for 5 s, restarted empty, out of memory
 * (maxmemory with noeviction); the fake Redis of tests/lib in each of its
 * modes (one of them sends a reply no command asked for); an address
 * that refuses; a name that does not resolve fails "nginx -t".
 *
 * A second suite reloads a node 20 times under the same load and checks
 * that master and worker memory stay flat and no descriptor leaks.
 *
 * TSR_FAULT_SECONDS sets how long each fault lasts under load (default
 * 8; "make faults" runs 60); a table of the figures ends the run.
 */


#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define CLIENTS             4
#define DEFAULT_SECONDS     8
#define MAX_SECONDS         600
#define STOP_SECONDS        5           /* SIGSTOP, as the issue says */
#define WARMUP_MS           1000
#define RECOVERY_LIMIT_MS   2000
#define PROBE_LIMIT_MS      15000
#define MAX_HANDSHAKES      1000000     /* per client and fault */
#define LOOKUP_TIMEOUT      "100ms"
#define RELOADS             20
#define RELOAD_WORKERS      2
#define RELOAD_SETTLE_MS    500
#define MAX_FAULTS          32
#define UNRESOLVABLE        "tsr-fault-test.invalid"

enum {
    FAULT_KILL,
    FAULT_STOP,
    FAULT_EMPTY,
    FAULT_OOM,
    FAULT_FAKE,
    FAULT_REFUSED
};


typedef struct {
    const char         *name;
    int                 kind;
    int                 mode;           /* the fake's */
    int                 tls;            /* Redis (or the fake behind a
                                           TLS front) reached over TLS */
} fault_t;


/* one client process's counters, in shared memory */
typedef struct {
    long                handshakes;
    long                failed;
    long                offered;
    long                resumed;
} counters_t;


typedef struct {
    volatile int        stop;
    volatile int        pause;          /* no new handshakes meanwhile */
    counters_t          c[CLIENTS];
} shared_t;


typedef struct {
    const char         *name;
    long                handshakes;
    long                failed;
    long                offered;
    long                resumed;
    int                 crashes;
    int                 problems;
    int                 errors;
    long long           recovery_ms;    /* -1: did not recover */
    long long           fault_ms;
} figures_t;


/* the nodes serve http */
#define handshake(port, version, offer, out, reused)                          \
    tsr_test_connect(port, version, TSR_TEST_HTTP, offer, out, reused)


/* a fresh log, then a served handshake: the worker runs */
#define start_node(n, port, running)                                         \
    tsr_test_nginx_start_serving(n, port, TSR_TEST_HTTP, 100, running)


static int init_suite(void);
static int clean_suite(void);
static int fault_seconds(void);
static int write_node(tsr_test_nginx_t *n, int port, const char *address,
    int workers);
static void stop_nodes(void);
static int load_start(int both);
static void load_stop(void);
static void load_client(int k, int both);
static long long probe(int limit_ms);
static int count_lines(tsr_test_nginx_t *n, const char *a, const char *b);
static void run_fault(const fault_t *f);
static int inject(const fault_t *f);
static int recover(const fault_t *f);
static void keep_logs(int n);
static void print_table(void);
static long proc_status(pid_t pid, const char *field);
static int proc_fds(pid_t pid);
static int workers_of(pid_t master, pid_t *pids, int max);
static void test_fault_redis_killed_and_restarted(void);
static void test_fault_redis_stopped_for_5s(void);
static void test_fault_redis_restarted_empty(void);
static void test_fault_redis_out_of_memory(void);
static void test_fault_fake_malformed_resp(void);
static void test_fault_fake_wrong_reply_types(void);
static void test_fault_fake_huge_bulk_length(void);
static void test_fault_fake_split_replies(void);
static void test_fault_fake_reset_mid_reply(void);
static void test_fault_fake_no_reply_to_commands(void);
static void test_fault_fake_no_reply_at_all(void);
static void test_fault_fake_extra_reply(void);
static void test_faults_over_tls(void);
static void test_get_overtaking_its_set_is_asked_again(void);
static void test_full_socket_to_redis_never_stalls_the_worker(void);
static void test_fault_address_does_not_resolve(void);
static void test_fault_address_refuses(void);
static int write_node_without_module(tsr_test_nginx_t *n, int port,
    int workers);
static int reload_and_wait(tsr_test_nginx_t *n, int workers);
static void test_reload_without_the_module_then_with_it_again(void);
static void test_modules_export_only_what_load_module_needs(void);
static void test_modules_use_only_public_hiredis(void);
static FILE *nm_open(const char *so, const char *which);
static int nm_next(FILE *p, char *name, size_t size);
static pid_t flood_start(int *port, long elements, size_t bulk);
static void flood_serve(int lfd, long elements, size_t bulk);
static int flood_reply(int fd, long elements, size_t bulk);
static void flood(long elements, size_t bulk);
static int cmp_ll(const void *a, const void *b);
static void test_reply_floods_keep_memory_and_latency_bounded(void);
static void test_reload_20_times_under_load_keeps_memory_and_fds_flat(
    void);


static tsr_test_redis_t       redis;
static tsr_test_redis_t       late;     /* the refused address, later */
static tsr_test_fakeredis_t   fake;
static tsr_test_tlsfront_t    front;    /* TLS before the fake */
static char                   tls_dir[256];
static int                    tls_port; /* redis' */
static tsr_test_nginx_t       node_a;
static tsr_test_nginx_t       node_b;
static int                    port_a;
static int                    port_b;
static int                    running_a;
static int                    running_b;
static int                    seconds;
static char                   key_file[PATH_MAX + 16];
static shared_t              *shared;
static pid_t                  clients[CLIENTS];
static figures_t              table[MAX_FAULTS];
static int                    nfaults;


static int
init_suite(void)
{
    unsigned char                key[32];
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    seconds = fault_seconds();

    memset(&redis, 0, sizeof(tsr_test_redis_t));
    memset(&late, 0, sizeof(tsr_test_redis_t));
    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));
    memset(&front, 0, sizeof(tsr_test_tlsfront_t));

    /* a TLS port beside the plain one, for the faults over TLS */

    redis.port = tsr_test_free_port();
    tls_port = tsr_test_free_port();

    if (redis.port == -1 || tls_port == -1
        || tsr_test_tls_certs(tls_dir, sizeof(tls_dir)) != 0
        || tsr_test_redis_add_tls(&redis, tls_dir, tls_port, 0) != 0
        || tsr_test_redis_start(&redis) != 0)
    {
        return -1;
    }

    if (tsr_test_nginx_init(&node_a, "faults-a", cns) != 0
        || tsr_test_nginx_init(&node_b, "faults-b", NULL) != 0)
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

    shared = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        shared = NULL;
        return -1;
    }

    port_a = tsr_test_free_port();
    port_b = tsr_test_free_port();

    if (port_a == -1 || port_b == -1 || port_a == port_b) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    load_stop();
    stop_nodes();
    tsr_test_redis_stop(&redis);
    tsr_test_redis_stop(&late);
    tsr_test_tlsfront_stop(&front);
    tsr_test_fakeredis_stop(&fake);

    print_table();

    if (shared != NULL) {
        munmap(shared, sizeof(shared_t));
        shared = NULL;
    }

    return 0;
}


static int
fault_seconds(void)
{
    int          n;
    const char  *s;

    s = getenv("TSR_FAULT_SECONDS");
    if (s == NULL || s[0] == '\0') {
        return DEFAULT_SECONDS;
    }

    n = atoi(s);

    if (n < 1 || n > MAX_SECONDS) {
        fprintf(stderr, "TSR_FAULT_SECONDS=\"%s\": using %d (1 to %d)\n", s,
                DEFAULT_SECONDS, MAX_SECONDS);
        return DEFAULT_SECONDS;
    }

    return n;
}


/* both nodes use node A's certificate: one session id context */

static int
write_node(tsr_test_nginx_t *n, int port, const char *address, int workers)
{
    int   len;
    char  body[8192];

    len = snprintf(body, sizeof(body),
             "worker_processes %d;\n"
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
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout " LOOKUP_TIMEOUT ";\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             workers, port, node_a.dir, node_a.dir, address, key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(n, 0, "info", body);
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
 * The same server with neither the module's load_module line nor its
 * directives, as an operator who drops the module writes it.
 */

static int
write_node_without_module(tsr_test_nginx_t *n, int port, int workers)
{
    FILE  *f;

    f = fopen(n->conf, "w");
    if (f == NULL) {
        return -1;
    }

    fprintf(f, "daemon off;\n"
               "error_log %s/logs/error.log info;\n"
               "pid %s/nginx.pid;\n"
               "events { worker_connections 1024; }\n"
               "worker_processes %d;\n"
               "http {\n"
               "  access_log off;\n"
               "  server {\n"
               "    listen 127.0.0.1:%d ssl;\n"
               "    ssl_certificate %s/one.test.crt;\n"
               "    ssl_certificate_key %s/one.test.key;\n"
               "    ssl_protocols TLSv1.2 TLSv1.3;\n"
               "    ssl_session_cache shared:plain:1m;\n"
               "    ssl_session_timeout 10m;\n"
               "    location / { return 200 \"ok\\n\"; }\n"
               "  }\n"
               "}\n",
            n->dir, n->dir, workers, port, node_a.dir, node_a.dir);

    return fclose(f) == 0 ? 0 : -1;
}


/* SIGHUP, then wait until only a new generation of workers runs */

static int
reload_and_wait(tsr_test_nginx_t *n, int workers)
{
    int        i, j, k, m, changed;
    pid_t      prev[16], w[16];
    long long  deadline;

    m = workers_of(n->pid, prev, 16);

    if (tsr_test_nginx_signal(n, SIGHUP) != 0) {
        return -1;
    }

    deadline = tsr_test_now_ms() + 10000;

    while (tsr_test_now_ms() < deadline) {
        k = workers_of(n->pid, w, 16);
        changed = (k == workers);

        for (i = 0; changed && i < k; i++) {
            for (j = 0; j < m; j++) {
                if (w[i] == prev[j]) {
                    changed = 0;
                }
            }
        }

        if (changed) {
            return 0;
        }

        tsr_test_sleep_ms(20);
    }

    return -1;
}


/* CLIENTS processes until load_stop(); with "both" on both nodes */

static int
load_start(int both)
{
    int    k;
    pid_t  pid;

    memset(shared, 0, sizeof(shared_t));

    fflush(stdout);
    fflush(stderr);

    for (k = 0; k < CLIENTS; k++) {
        pid = fork();

        if (pid == -1) {
            load_stop();
            return -1;
        }

        if (pid == 0) {
            load_client(k, both);
            _exit(0);
        }

        clients[k] = pid;
    }

    return 0;
}


static void
load_stop(void)
{
    int        k, status;
    long long  deadline;

    if (shared == NULL) {
        return;
    }

    shared->stop = 1;

    deadline = tsr_test_now_ms() + 15000;

    for (k = 0; k < CLIENTS; k++) {
        if (clients[k] == 0) {
            continue;
        }

        while (waitpid(clients[k], &status, WNOHANG) == 0) {
            if (tsr_test_now_ms() > deadline) {
                kill(clients[k], SIGKILL);
                waitpid(clients[k], &status, 0);
                break;
            }

            tsr_test_sleep_ms(10);
        }

        clients[k] = 0;
    }
}


/*
 * Bounded in count and time even if the parent never says stop: at
 * most MAX_HANDSHAKES, and the run's own duration plus a margin.
 */

static void
load_client(int k, int both)
{
    int           i, rc, reused, version, port;
    long long     deadline;
    counters_t   *c;
    SSL_SESSION  *offer, *next;

    c = &shared->c[k];
    offer = NULL;
    version = (k % 2 == 0) ? TSR_TEST_TLS12 : TSR_TEST_TLS13;
    deadline = tsr_test_now_ms() + (seconds + STOP_SECONDS) * 1000LL + 60000;

    for (i = 0;
         i < MAX_HANDSHAKES && !shared->stop && tsr_test_now_ms() < deadline;
         i++)
    {
        while (shared->pause && !shared->stop
               && tsr_test_now_ms() < deadline)
        {
            tsr_test_sleep_ms(5);
        }

        port = (both && (i + k) % 2 == 1) ? port_b : port_a;
        next = NULL;

        rc = handshake(port, version, offer, &next, &reused);

        c->handshakes++;

        if (offer != NULL) {
            c->offered++;
            c->resumed += (rc == 0 && reused);
            SSL_SESSION_free(offer);
            offer = NULL;
        }

        if (rc != 0) {
            c->failed++;

            if (next != NULL) {
                SSL_SESSION_free(next);
            }

            continue;
        }

        offer = next;
    }

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }
}


/*
 * Milliseconds until a session made on node A resumes on node B, at
 * most "limit_ms"; -1 if it does not.
 */

static long long
probe(int limit_ms)
{
    int           reused, version;
    long long     start;
    SSL_SESSION  *sess;

    start = tsr_test_now_ms();
    version = TSR_TEST_TLS12;

    while (tsr_test_now_ms() - start < limit_ms) {
        sess = NULL;

        version = (version == TSR_TEST_TLS12) ? TSR_TEST_TLS13
                                              : TSR_TEST_TLS12;

        if (handshake(port_a, version, NULL, &sess, &reused) == 0
            && sess != NULL
            && handshake(port_b, version, sess, NULL, &reused) == 0
            && reused)
        {
            SSL_SESSION_free(sess);
            return tsr_test_now_ms() - start;
        }

        if (sess != NULL) {
            SSL_SESSION_free(sess);
        }

        tsr_test_sleep_ms(10);
    }

    return -1;
}


/* lines containing "a" and (if not NULL) "b" */

static int
count_lines(tsr_test_nginx_t *n, const char *a, const char *b)
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
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
        {
            count++;
        }
    }

    fclose(f);

    return count;
}


static void
run_fault(const fault_t *f)
{
    int          k, both;
    char         address[512];
    long long    t;
    figures_t   *fg;

    if (nfaults == MAX_FAULTS) {
        CU_FAIL("too many faults for the table");
        return;
    }

    fg = &table[nfaults++];
    memset(fg, 0, sizeof(figures_t));
    fg->name = f->name;
    fg->recovery_ms = -1;

    both = 1;

    switch (f->kind) {

    case FAULT_FAKE:
        if (fake.pid == 0
            && tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_NORMAL) != 0)
        {
            CU_FAIL("fake redis did not start");
            return;
        }

        if (tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL) != 0) {
            CU_FAIL("fake redis did not switch modes");
            return;
        }

        if (!f->tls) {
            snprintf(address, sizeof(address), "127.0.0.1:%d", fake.port);
            break;
        }

        if (front.pid != 0 && front.target != fake.port) {
            tsr_test_tlsfront_stop(&front);
        }

        if (front.pid == 0
            && tsr_test_tlsfront_start(&front, tls_dir, fake.port) != 0)
        {
            CU_FAIL("the TLS front did not start");
            return;
        }

        snprintf(address, sizeof(address), "rediss://127.0.0.1:%d "
                 "tls_ca_file=%s/redis.crt tls_server_name=redis.test",
                 front.port, tls_dir);
        break;

    case FAULT_REFUSED:
        late.port = tsr_test_free_port();
        snprintf(address, sizeof(address), "127.0.0.1:%d", late.port);
        break;

    default:
        if (redis.pid == 0 && tsr_test_redis_start(&redis) != 0) {
            CU_FAIL("redis did not start");
            return;
        }

        if (f->tls) {
            snprintf(address, sizeof(address), "rediss://127.0.0.1:%d "
                     "tls_ca_file=%s/redis.crt tls_server_name=redis.test",
                     tls_port, tls_dir);
            break;
        }

        snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);
        break;
    }

    if (write_node(&node_a, port_a, address, 1) != 0
        || write_node(&node_b, port_b, address, 1) != 0)
    {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    if (start_node(&node_a, port_a, &running_a) != 0
        || start_node(&node_b, port_b, &running_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* resumption works before the fault (if the fault is not the setup) */

    if (f->kind != FAULT_REFUSED && probe(5000) < 0)
    {
        CU_FAIL("no cross-node resumption before the fault");
        goto done;
    }

    if (load_start(both) != 0) {
        CU_FAIL("clients did not start");
        goto done;
    }

    tsr_test_sleep_ms(WARMUP_MS);

    t = tsr_test_now_ms();

    if (inject(f) != 0) {
        CU_FAIL("cannot inject the fault");
        goto done;
    }

    /* a restart is over at once: the load runs on after it, below */

    if (f->kind != FAULT_EMPTY) {
        tsr_test_sleep_ms((f->kind == FAULT_STOP ? STOP_SECONDS : seconds) * 1000);
    }

    if (recover(f) != 0) {
        CU_FAIL("cannot end the fault");
        goto done;
    }

    fg->fault_ms = tsr_test_now_ms() - t;
    fg->recovery_ms = probe(PROBE_LIMIT_MS);

    /* load after the recovery as well: on an empty Redis, all of it */
    tsr_test_sleep_ms(f->kind == FAULT_EMPTY ? seconds * 1000 : 500);

done:

    load_stop();

    for (k = 0; k < CLIENTS; k++) {
        fg->handshakes += shared->c[k].handshakes;
        fg->failed += shared->c[k].failed;
        fg->offered += shared->c[k].offered;
        fg->resumed += shared->c[k].resumed;
    }

    stop_nodes();

    fg->crashes = count_lines(&node_a, "exited on signal", NULL)
                  + count_lines(&node_b, "exited on signal", NULL);
    fg->problems = tsr_test_nginx_log_problems(&node_a)
                   + tsr_test_nginx_log_problems(&node_b);
    fg->errors = count_lines(&node_a, "[error]", NULL)
                 + count_lines(&node_b, "[error]", NULL);

    printf("\n    %s: %ld handshakes, %ld failed, %ld of %ld offers "
           "resumed, %d crashes, %d [error] lines, resumption back after "
           "%lld ms ", f->name, fg->handshakes, fg->failed, fg->resumed,
           fg->offered, fg->crashes, fg->errors, fg->recovery_ms);

    CU_ASSERT_EQUAL(fg->failed, 0);
    CU_ASSERT_EQUAL(fg->crashes, 0);
    CU_ASSERT_EQUAL(fg->problems, 0);
    CU_ASSERT(fg->handshakes >= CLIENTS * seconds);
    CU_ASSERT(fg->recovery_ms >= 0);
    CU_ASSERT(fg->recovery_ms <= RECOVERY_LIMIT_MS);

    if (fg->failed != 0 || fg->problems != 0) {
        keep_logs(nfaults);
    }

    if (f->kind == FAULT_REFUSED) {
        tsr_test_redis_stop(&late);
    }
}


static int
inject(const fault_t *f)
{
    char  out[256];

    switch (f->kind) {

    case FAULT_KILL:
        if (tsr_test_redis_signal(&redis, SIGKILL) != 0) {
            return -1;
        }

        /* reaps it */
        (void) tsr_test_redis_stop(&redis);
        return 0;

    case FAULT_STOP:
        return tsr_test_redis_signal(&redis, SIGSTOP);

    case FAULT_EMPTY:
        return tsr_test_redis_stop(&redis);

    case FAULT_OOM:
        if (tsr_test_redis_cmd(&redis, out, sizeof(out),
                               "CONFIG SET maxmemory-policy noeviction")
            != 0
            || tsr_test_redis_cmd(&redis, out, sizeof(out),
                                  "CONFIG SET maxmemory 1")
               != 0
            || strcmp(out, "OK") != 0)
        {
            return -1;
        }

        /* writes fail now */
        if (tsr_test_redis_cmd(&redis, out, sizeof(out), "SET probe x") != 0
            || strncmp(out, "OOM", 3) != 0)
        {
            fprintf(stderr, "SET under maxmemory answered \"%s\"\n", out);
            return -1;
        }

        return 0;

    case FAULT_FAKE:
        return tsr_test_fakeredis_set_mode(&fake, f->mode);

    default:
        /* the address is the fault, from the start */
        return 0;
    }
}


static int
recover(const fault_t *f)
{
    char  out[256];

    switch (f->kind) {

    case FAULT_KILL:
        return tsr_test_redis_start(&redis);

    case FAULT_STOP:
        return tsr_test_redis_signal(&redis, SIGCONT);

    case FAULT_EMPTY:
        /* no persistence: it comes back without any session */
        return tsr_test_redis_start(&redis);

    case FAULT_OOM:
        if (tsr_test_redis_cmd(&redis, out, sizeof(out),
                               "CONFIG SET maxmemory 0")
            != 0
            || strcmp(out, "OK") != 0)
        {
            return -1;
        }

        return 0;

    case FAULT_FAKE:
        return tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL);

    case FAULT_REFUSED:
        /* Redis appears at the address */
        return tsr_test_redis_start(&late);
    }

    return -1;
}


/* the next fault truncates the logs: a failed one's are copied aside */

static void
keep_logs(int n)
{
    int                i;
    FILE              *in, *out;
    size_t             len;
    char               path[PATH_MAX + 32], buf[8192];
    tsr_test_nginx_t  *nodes[2];

    nodes[0] = &node_a;
    nodes[1] = &node_b;

    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/logs/error-fault-%d.log",
                 nodes[i]->dir, n);

        in = fopen(nodes[i]->error_log, "r");
        out = fopen(path, "w");

        while (in != NULL && out != NULL
               && (len = fread(buf, 1, sizeof(buf), in)) > 0)
        {
            (void) fwrite(buf, 1, len, out);
        }

        if (in != NULL) {
            fclose(in);
        }

        if (out != NULL) {
            fclose(out);
            fprintf(stderr, "fault %d: the log is kept in %s\n", n, path);
        }
    }
}


static void
print_table(void)
{
    int         i;
    figures_t  *fg;

    if (nfaults == 0) {
        return;
    }

    printf("\n\nFault table: %d client processes, %d s per fault (SIGSTOP: "
           "%d s), lookup timeout " LOOKUP_TIMEOUT ", 2 nodes x 1 worker\n\n",
           CLIENTS, seconds, STOP_SECONDS);

    printf("| %-31s | %10s | %6s | %15s | %7s | %6s | %11s |\n", "fault",
           "handshakes", "failed", "resumed/offered", "crashes", "errors",
           "recovery ms");
    printf("|---------------------------------|------------|--------|"
           "-----------------|---------|--------|-------------|\n");

    for (i = 0; i < nfaults; i++) {
        fg = &table[i];

        printf("| %-31s | %10ld | %6ld | %7ld/%-7ld | %7d | %6d | %11lld |\n",
               fg->name, fg->handshakes, fg->failed, fg->resumed,
               fg->offered, fg->crashes, fg->errors, fg->recovery_ms);
    }

    printf("\n(failed: client handshakes or requests that did not complete; "
           "crashes: \"exited on signal\" in error.log; errors: [error] "
           "lines of both nodes; recovery: from the end of the fault to "
           "the first session made on node A resumed on node B, -1: "
           "never)\n");
    fflush(stdout);
}


/* a number from /proc/PID/status ("VmRSS:" in kB), or -1 */

static long
proc_status(pid_t pid, const char *field)
{
    long    v;
    FILE   *f;
    size_t  len;
    char    path[64], line[256];

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    v = -1;
    len = strlen(field);

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0) {
            v = strtol(line + len, NULL, 10);
            break;
        }
    }

    fclose(f);

    return v;
}


static int
proc_fds(pid_t pid)
{
    int             n;
    DIR            *d;
    char            path[64];
    struct dirent  *de;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);

    d = opendir(path);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);

    return n;
}


/* live worker processes (children of "master" not exiting) */

static int
workers_of(pid_t master, pid_t *pids, int max)
{
    int             n;
    DIR            *d;
    FILE           *f;
    char            path[300], buf[512], *p;
    long            ppid;
    struct dirent  *de;

    d = opendir("/proc");
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL && n < max) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        if (fgets(buf, sizeof(buf), f) == NULL) {
            fclose(f);
            continue;
        }

        fclose(f);

        /* pid (comm) state ppid ... */
        p = strrchr(buf, ')');
        if (p == NULL || p[1] == '\0' || p[2] == 'Z') {
            continue;
        }

        ppid = strtol(p + 4, NULL, 10);

        if (ppid != (long) master) {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        if (fgets(buf, sizeof(buf), f) != NULL
            && strstr(buf, "worker process") != NULL
            && strstr(buf, "shutting down") == NULL)
        {
            pids[n++] = (pid_t) atol(de->d_name);
        }

        fclose(f);
    }

    closedir(d);

    return n;
}


static void
test_fault_redis_killed_and_restarted(void)
{
    static const fault_t  f = { "redis killed, restarted", FAULT_KILL, 0, 0 };

    run_fault(&f);
}


static void
test_fault_redis_stopped_for_5s(void)
{
    static const fault_t  f = { "redis SIGSTOP 5 s", FAULT_STOP, 0, 0 };

    run_fault(&f);
}


static void
test_fault_redis_restarted_empty(void)
{
    static const fault_t  f = { "redis restarted empty", FAULT_EMPTY, 0, 0 };

    run_fault(&f);
}


static void
test_fault_redis_out_of_memory(void)
{
    static const fault_t  f = { "redis OOM (noeviction)", FAULT_OOM, 0, 0 };

    run_fault(&f);
}


static void
test_fault_fake_malformed_resp(void)
{
    static const fault_t  f = { "fake: malformed RESP", FAULT_FAKE,
                                TSR_TEST_FAKE_GARBAGE, 0 };

    run_fault(&f);
}


static void
test_fault_fake_wrong_reply_types(void)
{
    static const fault_t  f = { "fake: wrong reply types", FAULT_FAKE,
                                TSR_TEST_FAKE_WRONG_TYPE, 0 };

    run_fault(&f);
}


static void
test_fault_fake_huge_bulk_length(void)
{
    static const fault_t  f = { "fake: bulk length 2^31", FAULT_FAKE,
                                TSR_TEST_FAKE_HUGE_BULK, 0 };

    run_fault(&f);
}


static void
test_fault_fake_split_replies(void)
{
    static const fault_t  f = { "fake: split byte by byte", FAULT_FAKE,
                                TSR_TEST_FAKE_SPLIT, 0 };

    run_fault(&f);
}


static void
test_fault_fake_reset_mid_reply(void)
{
    static const fault_t  f = { "fake: reset mid-reply", FAULT_FAKE,
                                TSR_TEST_FAKE_RESET, 0 };

    run_fault(&f);
}


static void
test_fault_fake_no_reply_to_commands(void)
{
    static const fault_t  f = { "fake: no reply to commands", FAULT_FAKE,
                                TSR_TEST_FAKE_SILENT, 0 };

    run_fault(&f);
}


static void
test_fault_fake_no_reply_at_all(void)
{
    static const fault_t  f = { "fake: no reply at all", FAULT_FAKE,
                                TSR_TEST_FAKE_MUTE, 0 };

    run_fault(&f);
}


static void
test_fault_fake_extra_reply(void)
{
    static const fault_t  f = { "fake: an extra reply", FAULT_FAKE,
                                TSR_TEST_FAKE_EXTRA, 0 };

    run_fault(&f);
}


/*
 * The same faults with Redis reached over TLS: the real one by its TLS
 * port, the fake behind a TLS front that passes each of its pieces on
 * as a record (so a split reply arrives a byte per record, a reset
 * mid-reply as a reset of the TLS connection).
 */

static void
test_faults_over_tls(void)
{
    size_t  i;

    static const fault_t  faults[] = {
        { "TLS: redis killed, restarted", FAULT_KILL, 0, 1 },
        { "TLS: redis SIGSTOP 5 s", FAULT_STOP, 0, 1 },
        { "TLS: redis restarted empty", FAULT_EMPTY, 0, 1 },
        { "TLS: redis OOM (noeviction)", FAULT_OOM, 0, 1 },
        { "TLS: fake: malformed RESP", FAULT_FAKE, TSR_TEST_FAKE_GARBAGE,
          1 },
        { "TLS: fake: wrong reply types", FAULT_FAKE,
          TSR_TEST_FAKE_WRONG_TYPE, 1 },
        { "TLS: fake: bulk length 2^31", FAULT_FAKE,
          TSR_TEST_FAKE_HUGE_BULK, 1 },
        { "TLS: fake: split byte by byte", FAULT_FAKE, TSR_TEST_FAKE_SPLIT,
          1 },
        { "TLS: fake: reset mid-reply", FAULT_FAKE, TSR_TEST_FAKE_RESET, 1 },
        { "TLS: fake: no reply to commands", FAULT_FAKE,
          TSR_TEST_FAKE_SILENT, 1 },
        { "TLS: fake: no reply at all", FAULT_FAKE, TSR_TEST_FAKE_MUTE, 1 },
        { "TLS: fake: an extra reply", FAULT_FAKE, TSR_TEST_FAKE_EXTRA, 1 }
    };

    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        run_fault(&faults[i]);
    }
}


/*
 * Redis runs the commands that arrived within one turn of its event loop
 * in the order of their sockets: a GET from one node can run just before
 * the SET another node sent first.  The fake answers every key's first
 * GET "not found"; the lookup asks once more and resumes.
 */

static void
test_get_overtaking_its_set_is_asked_again(void)
{
    int                    v, i, reused;
    char                   address[64];
    SSL_SESSION           *sess;
    tsr_test_fakeredis_t   trailing;

    static const int  versions[] = { TSR_TEST_TLS12, TSR_TEST_TLS13 };

    if (tsr_test_fakeredis_start(&trailing, TSR_TEST_FAKE_TRAILING) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d", trailing.port);

    if (write_node(&node_a, port_a, address, 1) != 0
        || start_node(&node_a, port_a, &running_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        for (i = 0; i < 3; i++) {
            sess = NULL;

            CU_ASSERT_EQUAL(handshake(port_a, versions[v], NULL, &sess,
                                      &reused), 0);
            CU_ASSERT_EQUAL(reused, 0);

            /* the SET is sent before the client has its session */
            tsr_test_sleep_ms(50);

            CU_ASSERT_EQUAL(handshake(port_a, versions[v], sess, NULL,
                                      &reused), 0);
            CU_ASSERT_EQUAL(reused, 1);

            printf("%s TLSv1.%d: resumed %d", i == 0 && v == 0 ? "\n   " : ",",
                   versions[v] == TSR_TEST_TLS13 ? 3 : 2, reused);

            SSL_SESSION_free(sess);
        }
    }

    printf(" ");

done:

    stop_nodes();
    tsr_test_fakeredis_stop(&trailing);
}


/*
 * A Redis that stops reading: the worker's SETs fill a small window and
 * its socket, and a write meets a full socket.  The worker must go on
 * serving handshakes (the rest of the write waits for the socket's write
 * edge, then the store gives up on the silent server and reconnects).
 */

#define DEAF_SECONDS  3

typedef struct {
    long        handshakes;
    long        failed;
    long long   max_ms;
} deaf_counts_t;


static void
test_full_socket_to_redis_never_stalls_the_worker(void)
{
    int                    k, reused, status;
    char                   address[160];
    long                   hs, failed;
    pid_t                  pid[CLIENTS];
    long long              start, t, max_ms;
    deaf_counts_t         *counts;
    tsr_test_fakeredis_t   deaf;

    counts = mmap(NULL, CLIENTS * sizeof(deaf_counts_t),
                  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(counts != MAP_FAILED);
    memset(counts, 0, CLIENTS * sizeof(deaf_counts_t));

    if (tsr_test_fakeredis_start(&deaf, TSR_TEST_FAKE_DEAF) != 0) {
        CU_FAIL("fake redis did not start");
        munmap(counts, CLIENTS * sizeof(deaf_counts_t));
        return;
    }

    snprintf(address, sizeof(address), "unix:%s", deaf.unix_path);

    if (write_node(&node_a, port_a, address, 1) != 0
        || start_node(&node_a, port_a, &running_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    /* full handshakes, each a SET that the server never reads */

    for (k = 0; k < CLIENTS; k++) {
        pid[k] = fork();

        if (pid[k] == 0) {
            start = tsr_test_now_ms();

            while (tsr_test_now_ms() - start < DEAF_SECONDS * 1000) {
                t = tsr_test_now_ms();

                if (handshake(port_a, TSR_TEST_TLS12, NULL, NULL, &reused)
                    != 0)
                {
                    counts[k].failed++;
                }

                counts[k].handshakes++;

                t = tsr_test_now_ms() - t;
                if (t > counts[k].max_ms) {
                    counts[k].max_ms = t;
                }
            }

            _exit(0);
        }
    }

    hs = 0;
    failed = 0;
    max_ms = 0;

    for (k = 0; k < CLIENTS; k++) {
        if (pid[k] > 0) {
            (void) waitpid(pid[k], &status, 0);
        }

        hs += counts[k].handshakes;
        failed += counts[k].failed;

        if (counts[k].max_ms > max_ms) {
            max_ms = counts[k].max_ms;
        }
    }

    printf("\n    %ld handshakes in %d s with Redis not reading, %ld failed, "
           "slowest %lld ms ", hs, DEAF_SECONDS, failed, max_ms);

    CU_ASSERT(hs >= 100);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(max_ms < 2000);

done:

    stop_nodes();
    tsr_test_fakeredis_stop(&deaf);
    munmap(counts, CLIENTS * sizeof(deaf_counts_t));
}


/*
 * Names are resolved in the master, when the configuration is read, as
 * upstream names are: one that does not resolve fails "nginx -t" with a
 * message naming it, and workers never wait on a resolver.
 */

static void
test_fault_address_does_not_resolve(void)
{
    int   reused;
    char  address[128], out[4096];

    snprintf(address, sizeof(address), UNRESOLVABLE ":%d", redis.port);

    if (write_node(&node_a, port_a, address, 1) != 0) {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    CU_ASSERT_NOT_EQUAL(tsr_test_nginx_test_conf(&node_a, out, sizeof(out)),
                        0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "host not found in redis address \""
                                  UNRESOLVABLE "\""));

    printf("\n    nginx -t: %.*s", (int) strcspn(out, "\n"), out);

    if (redis.pid == 0 && tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not start");
        return;
    }

    /* a name that resolves: the worker holds its address */

    snprintf(address, sizeof(address), "localhost:%d", redis.port);

    if (write_node(&node_a, port_a, address, 1) != 0
        || write_node(&node_b, port_b, address, 1) != 0
        || start_node(&node_a, port_a, &running_a) != 0
        || start_node(&node_b, port_b, &running_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    reused = (probe(5000) >= 0);

    printf("\n    \"localhost:%d\": cross-node resumption %s ", redis.port,
           reused ? "works" : "FAILED");

    CU_ASSERT(reused);

done:

    stop_nodes();
}


static void
test_fault_address_refuses(void)
{
    static const fault_t  f = { "address refuses", FAULT_REFUSED, 0, 0 };

    run_fault(&f);
}


/*
 * 20 reloads (SIGHUP, as "nginx -s reload") of a node with two workers
 * while the clients keep handshaking with it.  The master's RSS and
 * descriptors, and the RSS and descriptors of each generation of
 * workers (measured after it has served load for a while) stay flat.
 */

static void
test_reload_20_times_under_load_keeps_memory_and_fds_flat(void)
{
    int          i, n, k, asan, fds, wfds, changed;
    int          first_fds, first_wfds, max_fds, max_wfds;
    long         rss, wrss, first_rss, first_wrss, max_wrss;
    long         min_rss, max_rss;
    pid_t        w[16], prev[16];
    long long    deadline;
    const char  *s;
    char         address[64];

    first_rss = -1;
    first_wrss = -1;
    first_fds = -1;
    first_wfds = -1;
    max_wrss = 0;
    min_rss = 0;
    max_rss = 0;
    max_fds = 0;
    max_wfds = 0;
    rss = -1;
    wrss = -1;
    fds = -1;
    wfds = -1;

    s = getenv("TSR_ASAN");
    asan = (s != NULL && strcmp(s, "yes") == 0);

    if (redis.pid == 0 && tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    if (write_node(&node_a, port_a, address, RELOAD_WORKERS) != 0) {
        CU_FAIL("cannot write nginx.conf");
        return;
    }

    if (start_node(&node_a, port_a, &running_a) != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    if (load_start(0) != 0) {
        CU_FAIL("clients did not start");
        goto done;
    }

    tsr_test_sleep_ms(WARMUP_MS);

    n = workers_of(node_a.pid, prev, 16);

    printf("\n    cycle  master RSS kB  fds  |  workers RSS kB (max)  fds "
           "(max)");

    for (i = 0; i <= RELOADS; i++) {

        if (i > 0) {
            if (tsr_test_nginx_signal(&node_a, SIGHUP) != 0) {
                CU_FAIL("SIGHUP failed");
                break;
            }

            /* until a new generation of workers runs */

            deadline = tsr_test_now_ms() + 10000;
            changed = 0;

            while (tsr_test_now_ms() < deadline) {
                n = workers_of(node_a.pid, w, 16);
                changed = (n == RELOAD_WORKERS);

                for (k = 0; changed && k < n; k++) {
                    if (w[k] == prev[0] || w[k] == prev[1]) {
                        changed = 0;
                    }
                }

                if (changed) {
                    break;
                }

                tsr_test_sleep_ms(20);
            }

            if (!changed) {
                CU_FAIL("no new workers after a reload");
                break;
            }

            memcpy(prev, w, sizeof(w));
        }

        /*
         * Serve load for a while, then measure between handshakes: the
         * clients' own connections are not the workers' descriptors.
         */

        tsr_test_sleep_ms(RELOAD_SETTLE_MS);

        shared->pause = 1;
        tsr_test_sleep_ms(200);

        n = workers_of(node_a.pid, w, 16);
        memcpy(prev, w, sizeof(w));

        rss = proc_status(node_a.pid, "VmRSS:");
        fds = proc_fds(node_a.pid);

        wrss = 0;
        wfds = 0;

        for (k = 0; k < n; k++) {
            wrss = (proc_status(w[k], "VmRSS:") > wrss)
                   ? proc_status(w[k], "VmRSS:") : wrss;
            wfds = (proc_fds(w[k]) > wfds) ? proc_fds(w[k]) : wfds;
        }

        shared->pause = 0;

        if (i == 0) {
            first_rss = rss;
            first_wrss = wrss;
            first_fds = fds;
            first_wfds = wfds;
            min_rss = rss;
        }

        min_rss = (rss < min_rss) ? rss : min_rss;
        max_rss = (rss > max_rss) ? rss : max_rss;
        max_wrss = (wrss > max_wrss) ? wrss : max_wrss;
        max_fds = (fds > max_fds) ? fds : max_fds;
        max_wfds = (wfds > max_wfds) ? wfds : max_wfds;

        if (i == 0 || i == 1 || i == 10 || i == RELOADS) {
            printf("\n    %5d  %13ld  %3d  |  %20ld  %3d", i, rss, fds, wrss,
                   wfds);
        }
    }

    load_stop();

    n = 0;
    for (k = 0; k < CLIENTS; k++) {
        n += shared->c[k].failed;
    }

    printf("\n    reloads: %d; master RSS %ld -> %ld kB (range %ld-%ld), "
           "fds %d -> %d (max %d); worker RSS %ld -> %ld kB (max %ld), "
           "fds %d -> %d (max %d); %d failed handshakes%s ", i - 1,
           first_rss, rss, min_rss, max_rss, first_fds, fds, max_fds,
           first_wrss, wrss, max_wrss, first_wfds, wfds, max_wfds, n,
           asan ? " (ASan: memory not judged)" : "");

    CU_ASSERT_EQUAL(i, RELOADS + 1);
    CU_ASSERT_EQUAL(n, 0);

    /* no descriptor leak: the same numbers after 20 reloads */
    CU_ASSERT_EQUAL(fds, first_fds);
    CU_ASSERT_EQUAL(wfds, first_wfds);

    /* flat: within 1 MiB of the first cycle's (the allocator's slack) */
    if (!asan) {
        CU_ASSERT(rss - first_rss <= 1024);
        CU_ASSERT(wrss - first_wrss <= 1024);
    }

done:

    load_stop();
    stop_nodes();

    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);
}


/*
 * An operator removes load_module and the directives, and reloads: the
 * old cycle's dlclose() must not unmap code that OpenSSL still calls
 * (the ex_data free callbacks libtsr registered, run for every SSL and
 * SSL_CTX the new workers free).  Then the module comes back.
 */

static void
test_reload_without_the_module_then_with_it_again(void)
{
    int          i, k, v, failed, resumed, reused, crashes;
    char         address[64];
    SSL_SESSION *sess[2], *next;

    failed = 0;
    resumed = 0;
    sess[0] = NULL;
    sess[1] = NULL;

    if (redis.pid == 0 && tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    if (write_node(&node_a, port_a, address, RELOAD_WORKERS) != 0
        || start_node(&node_a, port_a, &running_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    for (k = 0; k < 3; k++) {

        /* 0: without the module, 1: with it again, 2: without it again */

        if ((k % 2 == 0
             ? write_node_without_module(&node_a, port_a, RELOAD_WORKERS)
             : write_node(&node_a, port_a, address, RELOAD_WORKERS)) != 0)
        {
            CU_FAIL("cannot write nginx.conf");
            goto done;
        }

        if (reload_and_wait(&node_a, RELOAD_WORKERS) != 0) {
            CU_FAIL("no new workers after a reload");
            goto done;
        }

        for (i = 0; i < 200; i++) {
            next = NULL;
            v = i % 2;

            if (handshake(port_a, v ? TSR_TEST_TLS13 : TSR_TEST_TLS12,
                          sess[v], &next, &reused)
                != 0)
            {
                failed++;
            }

            resumed += reused;

            if (next != NULL) {
                if (sess[v] != NULL) {
                    SSL_SESSION_free(sess[v]);
                }

                sess[v] = next;
            }
        }
    }

    crashes = tsr_test_grep_count(node_a.error_log, "exited on signal");

    printf("\n    3 reloads (module out, in, out), 200 handshakes after "
           "each: %d failed, %d resumed, %d workers exited on a signal ",
           failed, resumed, crashes);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(crashes, 0);

done:

    for (v = 0; v < 2; v++) {
        if (sess[v] != NULL) {
            SSL_SESSION_free(sess[v]);
        }
    }

    stop_nodes();

    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node_a), 0);
}


/* the dynamic symbols of a built module, as nm lists them */

static const char *const  nm_modules[] = {
    "ngx_http_ssl_session_redis_module.so",
    "ngx_stream_ssl_session_redis_module.so"
};


static FILE *
nm_open(const char *so, const char *which)
{
    FILE        *p;
    char         cmd[PATH_MAX + 64];
    const char  *mods;

    mods = getenv("TSR_MODULES");
    if (mods == NULL) {
        CU_FAIL("TSR_MODULES is not set");
        return NULL;
    }

    snprintf(cmd, sizeof(cmd), "nm -D %s %s/%s", which, mods, so);

    p = popen(cmd, "r");
    if (p == NULL) {
        CU_FAIL("popen(nm) failed");
    }

    return p;
}


/* the next symbol's name (the line's last word): 0, or -1 at the end */

static int
nm_next(FILE *p, char *name, size_t size)
{
    char   line[512], *w, *end;

    while (fgets(line, sizeof(line), p) != NULL) {
        end = line + strcspn(line, "\r\n");
        *end = '\0';

        w = strrchr(line, ' ');
        w = (w != NULL) ? w + 1 : line;

        if (*w == '\0' || (size_t) (end - w) >= size) {
            continue;
        }

        memcpy(name, w, end - w + 1);
        return 0;
    }

    return -1;
}


/*
 * load_module looks up ngx_modules, ngx_module_names and ngx_module_order;
 * anything else a module exports (its copy of the core, the glue) could
 * bind to the other module's copy when both are loaded from different
 * builds.
 */

static void
test_modules_export_only_what_load_module_needs(void)
{
    int    i, n, other;
    FILE  *p;
    char   name[256];

    for (i = 0; i < 2; i++) {
        p = nm_open(nm_modules[i], "--defined-only");
        if (p == NULL) {
            return;
        }

        n = 0;
        other = 0;

        while (nm_next(p, name, sizeof(name)) == 0) {

            n++;

            if (strcmp(name, "ngx_modules") != 0
                && strcmp(name, "ngx_module_names") != 0
                && strcmp(name, "ngx_module_order") != 0)
            {
                if (other++ < 3) {
                    printf("\n    %s exports %s", nm_modules[i], name);
                }
            }
        }

        CU_ASSERT_EQUAL(pclose(p), 0);

        printf("\n    %s: %d symbols exported, %d besides the three "
               "load_module needs ", nm_modules[i], n, other);

        CU_ASSERT_EQUAL(n, 3);
        CU_ASSERT_EQUAL(other, 0);
    }
}


/*
 * Redis I/O is the core's own (tsr_conn.c): of hiredis, only the reader,
 * the command formatter and the synchronous client are used, nothing of
 * its asynchronous side and no symbol its headers do not declare (the
 * old store called redisProcessCallbacks(), declared by hand).
 */

static void
test_modules_use_only_public_hiredis(void)
{
    int    i, n, bad;
    FILE  *p;
    char   name[256];

    for (i = 0; i < 2; i++) {
        p = nm_open(nm_modules[i], "--undefined-only");
        if (p == NULL) {
            return;
        }

        n = 0;
        bad = 0;

        while (nm_next(p, name, sizeof(name)) == 0) {
            if (strncmp(name, "redis", 5) != 0) {
                continue;
            }

            n++;

            if (strncmp(name, "redisAsync", 10) == 0
                || strcmp(name, "redisProcessCallbacks") == 0)
            {
                bad++;
                printf("\n    %s uses %s", nm_modules[i], name);
            }
        }

        CU_ASSERT_EQUAL(pclose(p), 0);

        printf("\n    %s: %d hiredis functions used, %d of its "
               "asynchronous side or undeclared ", nm_modules[i], n, bad);

        CU_ASSERT(n > 0);
        CU_ASSERT_EQUAL(bad, 0);
    }
}


/*
 * A Redis that answers every GET with an array of "elements" bulk
 * strings of "bulk" bytes each, written as fast as the reader takes
 * them, and everything else with +OK (+PONG to PING).  One connection at
 * a time; it lives until killed.
 */

static pid_t
flood_start(int *port, long elements, size_t bulk)
{
    int                 lfd, one;
    pid_t               pid;
    socklen_t           len;
    struct sockaddr_in  sin;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd == -1) {
        return -1;
    }

    one = 1;
    (void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);

    if (bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(lfd, 16) != 0
        || getsockname(lfd, (struct sockaddr *) &sin, &len) != 0)
    {
        close(lfd);
        return -1;
    }

    *port = ntohs(sin.sin_port);

    pid = fork();

    if (pid == 0) {
        (void) signal(SIGPIPE, SIG_IGN);
        flood_serve(lfd, elements, bulk);
        _exit(0);
    }

    close(lfd);

    return pid;
}


static void
flood_serve(int lfd, long elements, size_t bulk)
{
    int          fd, n, k, argc;
    char        *p, *end, *arg0;
    size_t       have;
    ssize_t      r;
    long long    deadline;
    static char  buf[65536];

    deadline = tsr_test_now_ms() + 120000;

    while (tsr_test_now_ms() < deadline) {
        fd = accept(lfd, NULL, NULL);
        if (fd == -1) {
            continue;
        }

        have = 0;

        for ( ;; ) {
            r = read(fd, buf + have, sizeof(buf) - have - 1);
            if (r <= 0) {
                break;
            }

            have += (size_t) r;
            buf[have] = '\0';

            /* whole commands: "*<argc>\r\n" then "$<len>\r\n<arg>\r\n" */

            p = buf;

            for ( ;; ) {
                end = buf + have;

                if (p >= end || *p != '*' || strstr(p, "\r\n") == NULL) {
                    break;
                }

                argc = atoi(p + 1);
                k = 0;
                arg0 = NULL;
                p = strstr(p, "\r\n") + 2;

                while (k < argc && p < end && *p == '$') {
                    n = atoi(p + 1);

                    if (strstr(p, "\r\n") == NULL) {
                        break;
                    }

                    p = strstr(p, "\r\n") + 2;

                    if (p + n + 2 > end) {
                        break;
                    }

                    if (k == 0) {
                        arg0 = p;
                    }

                    p += n + 2;
                    k++;
                }

                if (k < argc) {
                    break;      /* not all of it yet: read more */
                }

                if (arg0 != NULL && (strncasecmp(arg0, "GET\r", 4) == 0
                                     || strncasecmp(arg0, "GETDEL\r", 7) == 0))
                {
                    if (flood_reply(fd, elements, bulk) != 0) {
                        goto closed;
                    }

                } else if (arg0 != NULL && strncasecmp(arg0, "PING", 4) == 0) {
                    if (write(fd, "+PONG\r\n", 7) != 7) {
                        goto closed;
                    }

                } else if (write(fd, "+OK\r\n", 5) != 5) {
                    goto closed;
                }

                memmove(buf, p, (size_t) (end - p));
                have = (size_t) (end - p);
                buf[have] = '\0';
                p = buf;
            }

            if (have >= sizeof(buf) - 1) {
                break;
            }
        }

    closed:

        close(fd);
    }
}


static int
flood_reply(int fd, long elements, size_t bulk)
{
    long         i;
    size_t       len, off;
    ssize_t      w;
    static char  chunk[1024 * 1024 + 64];

    len = (size_t) snprintf(chunk, 64, "*%ld\r\n", elements);

    if (write(fd, chunk, len) != (ssize_t) len) {
        return -1;
    }

    len = (size_t) snprintf(chunk, 64, "$%zu\r\n", bulk);
    memset(chunk + len, 'f', bulk);
    memcpy(chunk + len + bulk, "\r\n", 2);
    len += bulk + 2;

    for (i = 0; i < elements; i++) {
        for (off = 0; off < len; off += (size_t) w) {
            w = write(fd, chunk + off, len - off);
            if (w <= 0) {
                return -1;
            }
        }
    }

    return 0;
}


/*
 * A Redis answering every lookup with a flood: the worker's memory stays
 * bounded (a reply's strings and objects have a budget) and its other
 * connections keep their latency (reads yield to the event loop).
 */

static void
flood(long elements, size_t bulk)
{
    int          i, k, n, fport, failed, reused, status, asan;
    long         rss0, hwm;
    const char  *s;
    pid_t        fpid, child, w[16];
    char         address[64];
    long long    t, start, max, p99, *lat;
    SSL_SESSION *sess;
    tsr_test_conn_t  *conns[4];

    sess = NULL;
    child = -1;
    n = 0;
    failed = 0;
    memset(conns, 0, sizeof(conns));

    lat = calloc(100000, sizeof(long long));
    if (lat == NULL) {
        CU_FAIL("calloc() failed");
        return;
    }

    fpid = flood_start(&fport, elements, bulk);
    if (fpid <= 0) {
        CU_FAIL("the flooding redis did not start");
        free(lat);
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d", fport);

    if (write_node(&node_a, port_a, address, 1) != 0
        || start_node(&node_a, port_a, &running_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    if (handshake(port_a, TSR_TEST_TLS12, NULL, &sess, &reused) != 0
        || sess == NULL)
    {
        CU_FAIL("no session");
        goto done;
    }

    for (k = 0; k < 4; k++) {
        conns[k] = tsr_test_http_open(port_a, TSR_TEST_TLS12);
        if (conns[k] == NULL || tsr_test_http_get(conns[k]) < 0) {
            CU_FAIL("keep-alive connection failed");
            goto done;
        }
    }

    if (workers_of(node_a.pid, w, 16) != 1) {
        CU_FAIL("not one worker");
        goto done;
    }

    rss0 = proc_status(w[0], "VmRSS:");

    fflush(stdout);
    child = fork();

    if (child == 0) {

        /* lookups, each answered with a flood, for 4 s */

        start = tsr_test_now_ms();

        for (i = 0; i < 200 && tsr_test_now_ms() - start < 4000; i++) {
            (void) handshake(port_a, TSR_TEST_TLS12, sess, NULL, &reused);
        }

        _exit(0);
    }

    start = tsr_test_now_ms();

    while (n < 100000 && tsr_test_now_ms() - start < 5000) {
        if (waitpid(child, &status, WNOHANG) == child) {
            child = -1;
            break;
        }

        for (k = 0; k < 4; k++) {
            t = tsr_test_now_ms();

            if (tsr_test_http_get(conns[k]) < 0) {
                failed++;
                continue;
            }

            lat[n++] = tsr_test_now_ms() - t;
        }

        tsr_test_sleep_ms(2);
    }

    hwm = proc_status(w[0], "VmHWM:");

    qsort(lat, n, sizeof(long long), cmp_ll);

    max = n > 0 ? lat[n - 1] : 0;
    p99 = n > 0 ? lat[(n * 99) / 100] : 0;

    s = getenv("TSR_ASAN");
    asan = (s != NULL && strcmp(s, "yes") == 0);

    printf("\n    every GET answered with %ld bulk strings of %zu bytes: "
           "worker RSS %ld kB before, peak %ld kB; %d keep-alive requests "
           "meanwhile: p99 %lld ms, max %lld ms, %d failed%s ", elements,
           bulk, rss0, hwm, n, p99, max, failed,
           asan ? " (ASan: memory not judged)" : "");

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(n >= 100);

    /*
     * The budget is 16 MiB a reply: peak within 48 MiB of the start.
     * ASan keeps freed memory in quarantine.
     */
    if (!asan) {
        CU_ASSERT(hwm - rss0 < 48 * 1024);
    }

    CU_ASSERT(p99 < 50);

done:

    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }

    for (k = 0; k < 4; k++) {
        if (conns[k] != NULL) {
            tsr_test_http_close(conns[k]);
        }
    }

    if (sess != NULL) {
        SSL_SESSION_free(sess);
    }

    stop_nodes();

    kill(fpid, SIGKILL);
    waitpid(fpid, NULL, 0);
    free(lat);

    CU_ASSERT_EQUAL(tsr_test_grep_count(node_a.error_log, "exited on signal"),
                    0);
}


static int
cmp_ll(const void *a, const void *b)
{
    long long  x = *(const long long *) a, y = *(const long long *) b;

    return (x > y) - (x < y);
}


static void
test_reply_floods_keep_memory_and_latency_bounded(void)
{
    flood(256, 1024 * 1024);
    flood(1048576, 1);
}


static const tsr_test_t  tests[] = {
    TSR_TEST_FN(test_fault_redis_killed_and_restarted),
    TSR_TEST_FN(test_fault_redis_stopped_for_5s),
    TSR_TEST_FN(test_fault_redis_restarted_empty),
    TSR_TEST_FN(test_fault_redis_out_of_memory),
    TSR_TEST_FN(test_fault_fake_malformed_resp),
    TSR_TEST_FN(test_fault_fake_wrong_reply_types),
    TSR_TEST_FN(test_fault_fake_huge_bulk_length),
    TSR_TEST_FN(test_fault_fake_split_replies),
    TSR_TEST_FN(test_fault_fake_reset_mid_reply),
    TSR_TEST_FN(test_fault_fake_no_reply_to_commands),
    TSR_TEST_FN(test_fault_fake_no_reply_at_all),
    TSR_TEST_FN(test_fault_fake_extra_reply),
    TSR_TEST_FN(test_faults_over_tls),
    TSR_TEST_FN(test_get_overtaking_its_set_is_asked_again),
    TSR_TEST_FN(test_full_socket_to_redis_never_stalls_the_worker),
    TSR_TEST_FN(test_fault_address_does_not_resolve),
    TSR_TEST_FN(test_fault_address_refuses),
    TSR_TEST_FN(test_reload_20_times_under_load_keeps_memory_and_fds_flat),
    TSR_TEST_FN(test_reload_without_the_module_then_with_it_again),
    TSR_TEST_FN(test_modules_export_only_what_load_module_needs),
    TSR_TEST_FN(test_modules_use_only_public_hiredis),
    TSR_TEST_FN(test_reply_floods_keep_memory_and_latency_bounded)
};


int
main(void)
{
    return TSR_TEST_MAIN("faults", init_suite, clean_suite, tests);
}
