
/*
 * Fleet ticket keys on Redis Cluster and on Sentinel: two nginx nodes
 * (http, one worker each) with "ssl_session_redis cluster=..." or
 * "sentinel=... master=..." and ssl_session_redis_ticket_keys on resume
 * each other's tickets (TLS 1.2 and TLS 1.3), through the one ring both
 * load from the master that holds its key; no session goes to Redis.
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "tsr_test.h"


#define HANDSHAKES   40
#define RING_KEY     "tsr:tk:default"


typedef struct {
    tsr_test_nginx_t    nginx;
    int                 port;
    int                 running;
} node_t;


static int init_cluster(void);
static int clean_cluster(void);
static int init_sentinel(void);
static int clean_sentinel(void);
static int init_suite(void);
static int init_nodes(const char *tag, const char *address);
static int write_node(node_t *nd, const char *address);
static int start_nodes(void);
static void stop_nodes(void);
static void check_logs(node_t *nd);
static int log_has(const char *file, const char *text);
static void cross_node(int version);
static tsr_test_redis_t *ring_master(void);
static void test_cluster_tickets_resume_across_nodes(void);
static void test_sentinel_tickets_resume_across_nodes(void);


static tsr_test_cluster_t   cluster;
static tsr_test_sentinel_t  sentinel;
static int                  on_cluster;     /* else on sentinel */
static node_t               nodes[2];
static char                 key_file[PATH_MAX + 16];


static int
init_cluster(void)
{
    char  address[600];

    on_cluster = 1;

    if (tsr_test_cluster_start(&cluster) != 0) {
        return -1;
    }

    snprintf(address, sizeof(address), "cluster=%s", cluster.seeds);

    return init_nodes("tkc", address);
}


static int
clean_cluster(void)
{
    stop_nodes();

    return tsr_test_cluster_stop(&cluster);
}


static int
init_sentinel(void)
{
    char  address[600];

    on_cluster = 0;

    if (tsr_test_sentinel_start(&sentinel) != 0) {
        return -1;
    }

    snprintf(address, sizeof(address), "sentinel=%s master=%s",
             sentinel.sentinels, sentinel.name);

    return init_nodes("tks", address);
}


static int
clean_sentinel(void)
{
    stop_nodes();

    return tsr_test_sentinel_stop(&sentinel);
}


static int
init_nodes(const char *tag, const char *address)
{
    int            i;
    char           name[64];
    unsigned char  key[32];

    static const char *const  cns[] = { "one.test", NULL };

    memset(nodes, 0, sizeof(nodes));

    for (i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "%s-%c", tag, 'a' + i);

        if (tsr_test_nginx_init(&nodes[i].nginx, name,
                                i == 0 ? cns : NULL)
            != 0)
        {
            return -1;
        }
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key",
             nodes[0].nginx.dir);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    OPENSSL_cleanse(key, sizeof(key));

    for (i = 0; i < 2; i++) {
        nodes[i].port = tsr_test_free_port();

        if (nodes[i].port == -1 || write_node(&nodes[i], address) != 0) {
            return -1;
        }
    }

    return (nodes[0].port != nodes[1].port) ? 0 : -1;
}


static int
write_node(node_t *nd, const char *address)
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
             "    ssl_session_tickets on;\n"
             "    ssl_session_timeout 10m;\n"
             "    ssl_session_redis %s;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout 1s;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             nd->port, nodes[0].nginx.dir, nodes[0].nginx.dir, address,
             key_file);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(&nd->nginx, 0, "info", body);
}


/* A first, so that it creates the ring B loads as its worker starts */

static int
start_nodes(void)
{
    int                 i, reused;
    tsr_test_client_t   opts;

    for (i = 0; i < 2; i++) {
        if (truncate(nodes[i].nginx.error_log, 0) != 0 && errno != ENOENT) {
            return -1;
        }

        if (tsr_test_nginx_start(&nodes[i].nginx) != 0) {
            return -1;
        }

        nodes[i].running = 1;

        memset(&opts, 0, sizeof(tsr_test_client_t));
        opts.version = TSR_TEST_TLS13;
        opts.request = 1;
        opts.timeout_ms = 5000;

        if (tsr_test_tls_once(nodes[i].port, &opts, NULL, &reused) != 0) {
            return -1;
        }
    }

    return 0;
}


static void
stop_nodes(void)
{
    int  i;

    for (i = 0; i < 2; i++) {
        if (nodes[i].running) {
            tsr_test_nginx_stop(&nodes[i].nginx);
            nodes[i].running = 0;
        }
    }
}


static void
check_logs(node_t *nd)
{
    int  problems;

    problems = tsr_test_nginx_log_problems(&nd->nginx);

    CU_ASSERT_EQUAL(problems, 0);
    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines in %s\n", problems,
                nd->nginx.error_log);
    }

    /* the ring loaded at the worker's start */
    CU_ASSERT_FALSE(log_has(nd->nginx.error_log, "no ticket key ring yet"));
}


static int
log_has(const char *file, const char *text)
{
    int    found;
    FILE  *f;
    char   line[4096];

    f = fopen(file, "r");
    if (f == NULL) {
        return 0;
    }

    found = 0;

    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = (strstr(line, text) != NULL);
    }

    fclose(f);

    return found;
}


/* the Redis server that is master of the ring's key now */

static tsr_test_redis_t *
ring_master(void)
{
    int   m;
    char  out[64];

    if (!on_cluster) {
        m = tsr_test_sentinel_master(&sentinel);
        return (m != -1) ? &sentinel.data[m] : NULL;
    }

    if (tsr_test_redis_cmd(&cluster.node[0], out, sizeof(out),
                           "CLUSTER KEYSLOT %s", RING_KEY)
        != 0)
    {
        return NULL;
    }

    m = tsr_test_cluster_master_of(&cluster, atoi(out), -1);

    return (m != -1) ? &cluster.node[m] : NULL;
}


/*
 * Handshakes alternate between the nodes, each offering the session the
 * previous one received: every offer resumes, through its ticket.
 */

static void
cross_node(int version)
{
    int                 i, rc, reused, offered, resumed, failed, ticketed;
    char                out[64];
    SSL_SESSION        *offer, *next;
    tsr_test_redis_t   *master;
    tsr_test_client_t   opts;

    offer = NULL;
    offered = 0;
    resumed = 0;
    failed = 0;
    ticketed = 0;

    if (start_nodes() != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* the ring is where its key belongs */

    master = ring_master();
    CU_ASSERT_PTR_NOT_NULL_FATAL(master);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(master, out, sizeof(out),
                                       "EXISTS %s", RING_KEY), 0);
    CU_ASSERT_STRING_EQUAL(out, "1");

    for (i = 0; i <= HANDSHAKES; i++) {
        memset(&opts, 0, sizeof(tsr_test_client_t));
        opts.version = version;
        opts.tickets = 1;
        opts.offer = offer;
        opts.request = 1;
        opts.timeout_ms = 5000;

        next = NULL;
        reused = 0;

        rc = tsr_test_tls_once(nodes[i % 2].port, &opts, &next, &reused);

        if (rc != 0) {
            failed++;
        }

        if (offer != NULL) {
            offered++;
            resumed += reused;
            SSL_SESSION_free(offer);
        }

        ticketed += (next != NULL && SSL_SESSION_has_ticket(next));
        offer = next;
    }

    printf("\n    %s TLSv1.%d: %d of %d offers resumed on the other node, "
           "%d of %d sessions with a ticket ",
           on_cluster ? "cluster" : "sentinel",
           version == TSR_TEST_TLS13 ? 3 : 2, resumed, offered, ticketed,
           HANDSHAKES + 1);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(offered, HANDSHAKES);
    CU_ASSERT_EQUAL(resumed, HANDSHAKES);
    CU_ASSERT_EQUAL(ticketed, HANDSHAKES + 1);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    stop_nodes();
    check_logs(&nodes[0]);
    check_logs(&nodes[1]);
}


/* TLS 1.2, then TLS 1.3, on one cluster */

static void
test_cluster_tickets_resume_across_nodes(void)
{
    if (init_cluster() != 0) {
        CU_FAIL("the cluster or the nodes did not start");
        (void) clean_cluster();
        return;
    }

    cross_node(TSR_TEST_TLS12);
    cross_node(TSR_TEST_TLS13);

    CU_ASSERT_EQUAL(clean_cluster(), 0);
}


/* the same through sentinels */

static void
test_sentinel_tickets_resume_across_nodes(void)
{
    if (init_sentinel() != 0) {
        CU_FAIL("the sentinels or the nodes did not start");
        (void) clean_sentinel();
        return;
    }

    cross_node(TSR_TEST_TLS12);
    cross_node(TSR_TEST_TLS13);

    CU_ASSERT_EQUAL(clean_sentinel(), 0);
}


static int
init_suite(void)
{
    (void) signal(SIGPIPE, SIG_IGN);

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");
    tsr_test_require("TSR_REDIS_CLI", "redis-cli", "redis-tools");

    return 0;
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(cluster_tickets_resume_across_nodes),
        TSR_TEST(sentinel_tickets_resume_across_nodes)
    };

    return TSR_TEST_MAIN("ticket keys on cluster and sentinel", init_suite,
                         NULL, tests);
}
