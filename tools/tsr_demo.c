
/*
 * The live demo: a private Redis and two nginx nodes with the modules on
 * loopback, real TLS clients making sessions on one node and resuming
 * them on the other; then the same without the module, a restart of
 * both nodes, and Redis going away.  Prints what happened and cleans up.
 */


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "tsr_test.h"


#define DEMO_ROUNDS  200


typedef struct {
    int                 full;           /* handshakes with no offer */
    int                 offered;        /* handshakes offering a session */
    int                 resumed;
    int                 failed;
    long long           full_ms;        /* total time of full handshakes */
    long long           resumed_ms;
} demo_result_t;


static int demo_start_nodes(int redis_port, int module);
static void demo_stop_nodes(void);
static void demo_cross(int version, int rounds, demo_result_t *res);
static void demo_print(const char *what, const demo_result_t *res);
static void demo_cleanup(void);
static void demo_on_signal(int sig);


static tsr_test_redis_t  redis;
static tsr_test_nginx_t  nodes[2];
static int               ports[2];
static char              key_path[2048];


static int
demo_start_nodes(int redis_port, int module)
{
    int   i;
    char  body[8192], redis_conf[2560];

    if (module) {
        snprintf(redis_conf, sizeof(redis_conf),
                 "    ssl_session_redis 127.0.0.1:%d;\n"
                 "    ssl_session_redis_fleet_key %s;\n"
                 "    ssl_session_redis_lookup_timeout 100ms;\n",
                 redis_port, key_path);

    } else {
        redis_conf[0] = '\0';
    }

    for (i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "worker_processes 1;\n"
                 "http {\n"
                 "  access_log off;\n"
                 "  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    ssl_certificate %s/fleet.test.crt;\n"
                 "    ssl_certificate_key %s/fleet.test.key;\n"
                 "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                 "    ssl_session_tickets off;\n"
                 "    ssl_session_timeout 10m;\n"
                 "    ssl_session_cache shared:L1:1m;\n"
                 "%s"
                 "    location / { return 200 \"node %c\\n\"; }\n"
                 "  }\n"
                 "}\n",
                 ports[i], nodes[0].dir, nodes[0].dir, redis_conf, 'A' + i);

        if (tsr_test_nginx_write_conf(&nodes[i], 0, "notice", body) != 0
            || tsr_test_nginx_start(&nodes[i]) != 0)
        {
            fprintf(stderr, "demo: nginx %c did not start, see %s\n",
                    'A' + i, nodes[i].error_log);
            return -1;
        }
    }

    return 0;
}


static void
demo_stop_nodes(void)
{
    tsr_test_nginx_stop(&nodes[0]);
    tsr_test_nginx_stop(&nodes[1]);
}


/*
 * Each round: a full handshake on one node, then the session it gave
 * offered to the other node.  Nodes alternate.
 */

static void
demo_cross(int version, int rounds, demo_result_t *res)
{
    int                 i, reused;
    long long           t;
    SSL_SESSION        *sess;
    tsr_test_client_t   opts;

    memset(res, 0, sizeof(demo_result_t));
    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.request = 1;

    for (i = 0; i < rounds; i++) {
        sess = NULL;
        opts.offer = NULL;

        t = tsr_test_now_ms();
        if (tsr_test_tls_once(ports[i % 2], &opts, &sess, &reused) != 0
            || sess == NULL)
        {
            res->failed++;
            continue;
        }
        res->full++;
        res->full_ms += tsr_test_now_ms() - t;

        opts.offer = sess;

        t = tsr_test_now_ms();
        if (tsr_test_tls_once(ports[(i + 1) % 2], &opts, NULL, &reused)
            != 0)
        {
            res->failed++;

        } else {
            res->offered++;
            if (reused) {
                res->resumed++;
                res->resumed_ms += tsr_test_now_ms() - t;
            }
        }

        SSL_SESSION_free(sess);
    }
}


static void
demo_print(const char *what, const demo_result_t *res)
{
    printf("  %-34s %4d/%-4d resumed on the other node  %6.1f %%   "
           "failed: %d   avg full %.2f ms, resumed %.2f ms\n",
           what, res->resumed, res->offered,
           res->offered ? 100.0 * res->resumed / res->offered : 0.0,
           res->failed,
           res->full ? (double) res->full_ms / res->full : 0.0,
           res->resumed ? (double) res->resumed_ms / res->resumed : 0.0);
}


static void
demo_cleanup(void)
{
    demo_stop_nodes();
    tsr_test_redis_stop(&redis);
}


static void
demo_on_signal(int sig)
{
    demo_cleanup();
    _exit(128 + sig);
}


int
main(void)
{
    int                 i, reused, ok, rc;
    char                out[256];
    long long           t;
    SSL_SESSION        *saved[2];
    demo_result_t       res;
    tsr_test_client_t   opts;
    unsigned char       key[32];

    static const char *const  cns[] = { "fleet.test", NULL };
    static const int          versions[2] = { TSR_TEST_TLS12,
                                              TSR_TEST_TLS13 };
    static const char *const  names[2] = { "TLS 1.2 session ids",
                                           "TLS 1.3 stateful tickets" };

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, demo_on_signal);
    signal(SIGTERM, demo_on_signal);

    memset(&redis, 0, sizeof(tsr_test_redis_t));

    printf("ssl-session-redis demo: one private Redis, two nginx nodes "
           "(A and B), on 127.0.0.1\n\n");

    if (tsr_test_redis_start(&redis) != 0) {
        fprintf(stderr, "demo: redis-server did not start\n");
        return 1;
    }

    if (tsr_test_nginx_init(&nodes[0], "demo-a", cns) != 0
        || tsr_test_nginx_init(&nodes[1], "demo-b", NULL) != 0)
    {
        demo_cleanup();
        return 1;
    }

    snprintf(key_path, sizeof(key_path), "%s/fleet.key", nodes[0].dir);

    if (RAND_bytes(key, sizeof(key)) != 1
        || tsr_test_write_file(key_path, key, sizeof(key), 0600) != 0)
    {
        demo_cleanup();
        return 1;
    }

    ports[0] = tsr_test_free_port();
    ports[1] = tsr_test_free_port();

    printf("  redis   127.0.0.1:%d\n  node A  https://127.0.0.1:%d\n"
           "  node B  https://127.0.0.1:%d\n\n", redis.port, ports[0],
           ports[1]);

    rc = 1;

    /* 1. stock nginx: each node only knows its own sessions */

    if (demo_start_nodes(redis.port, 0) != 0) {
        goto done;
    }

    printf("1. Without the module (nginx's own shared cache on each "
           "node), %d rounds:\n", DEMO_ROUNDS / 2);

    for (i = 0; i < 2; i++) {
        demo_cross(versions[i], DEMO_ROUNDS / 2, &res);
        demo_print(names[i], &res);
    }

    demo_stop_nodes();

    /* 2. with the module: any node resumes any node's sessions */

    if (demo_start_nodes(redis.port, 1) != 0) {
        goto done;
    }

    printf("\n2. With ssl_session_redis, %d rounds:\n", DEMO_ROUNDS);

    ok = 1;

    for (i = 0; i < 2; i++) {
        demo_cross(versions[i], DEMO_ROUNDS, &res);
        demo_print(names[i], &res);

        if (res.failed != 0 || res.resumed < res.offered) {
            ok = 0;
        }
    }

    tsr_test_redis_cmd(&redis, out, sizeof(out), "DBSIZE");
    printf("  Redis now holds %s sealed sessions (keys tsr:s:...)\n", out);

    /* 3. sessions survive a restart of both nodes */

    memset(&opts, 0, sizeof(tsr_test_client_t));
    opts.request = 1;

    for (i = 0; i < 2; i++) {
        saved[i] = NULL;
        opts.version = versions[i];
        opts.offer = NULL;
        (void) tsr_test_tls_once(ports[0], &opts, &saved[i], &reused);
    }

    demo_stop_nodes();

    if (demo_start_nodes(redis.port, 1) != 0) {
        goto done;
    }

    printf("\n3. Both nodes restarted; sessions saved before, offered to "
           "B:\n");

    for (i = 0; i < 2; i++) {
        reused = 0;
        opts.version = versions[i];
        opts.offer = saved[i];

        if (saved[i] == NULL
            || tsr_test_tls_once(ports[1], &opts, NULL, &reused) != 0)
        {
            ok = 0;
        }

        printf("  %-34s %s\n", names[i], reused ? "resumed" : "NOT resumed");

        if (!reused) {
            ok = 0;
        }

        SSL_SESSION_free(saved[i]);
    }

    /* 4. Redis goes away: full handshakes, no failures, no stalls */

    tsr_test_redis_stop(&redis);

    printf("\n4. Redis stopped, %d rounds:\n", DEMO_ROUNDS / 4);

    t = tsr_test_now_ms();
    demo_cross(TSR_TEST_TLS13, DEMO_ROUNDS / 4, &res);
    demo_print("TLS 1.3, Redis down", &res);

    if (res.failed != 0) {
        ok = 0;
    }

    if (tsr_test_redis_start(&redis) != 0) {
        goto done;
    }

    t = tsr_test_now_ms();
    reused = 0;

    while (!reused && tsr_test_now_ms() - t < 5000) {
        demo_cross(TSR_TEST_TLS13, 1, &res);
        reused = res.resumed;
        if (!reused) {
            usleep(50000);
        }
    }

    printf("  Redis back: cross-node resumption %s after %lld ms\n",
           reused ? "returned" : "did NOT return", tsr_test_now_ms() - t);

    if (!reused) {
        ok = 0;
    }

    printf("\n%s\n", ok ? "Every handshake succeeded and every offered "
                          "session resumed on the other node."
                        : "Something did not work as it should: see the "
                          "logs below.");
    printf("Logs: %s, %s\nNext: docs/directives.md, docs/operations.md "
           "(failure behaviour), docs/security.md; ./scripts/test.sh runs "
           "the tests.\n",
           nodes[0].error_log, nodes[1].error_log);

    rc = ok ? 0 : 1;

done:

    demo_cleanup();

    return rc;
}
