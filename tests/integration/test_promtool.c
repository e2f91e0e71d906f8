
/*
 * The status page of a loaded node, read by Prometheus' own tools: an
 * http server with session ids, one with fleet tickets and a stream
 * server, after known traffic.  "promtool check metrics" must accept
 * the page without a word, and the Python client's parser
 * (test_promtool.py beside this file) must find the values the traffic
 * made.  A copy of the page with one bucket bound broken must be
 * refused, so that promtool's silence means something.  Exits 77 when
 * promtool (Debian's "prometheus"; $TSR_PROMTOOL, else PATH) or
 * python3-prometheus-client ($TSR_PYTHON3, else Debian's python3) is
 * missing, and only then.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define PAGE_MAX   (256 * 1024)
#define READY_MS   15000
#define OUT_MAX    8192


static int run(const char *cmd, char *out, size_t size);
static int node_write(void);
static int node_ready(void);
static int traffic(int port, int version, int tickets, int request);
static void test_a_loaded_node_passes_promtool_and_the_parser(void);


static char               promtool[PATH_MAX];
static char               python[PATH_MAX];
static tsr_test_redis_t   redis;
static tsr_test_nginx_t   nginx;
static int                status_port, ids_port, tickets_port, stream_port;
static char               page[PAGE_MAX];


/* runs "cmd" with sh, stdout and stderr into "out"; its exit status */

static int
run(const char *cmd, char *out, size_t size)
{
    int     status;
    FILE   *f;
    size_t  len, n;
    char    full[PATH_MAX * 4];

    snprintf(full, sizeof(full), "%s 2>&1", cmd);

    f = popen(full, "r");
    if (f == NULL) {
        snprintf(out, size, "popen() failed");
        return -1;
    }

    len = 0;

    while (len < size - 1 && (n = fread(out + len, 1, size - 1 - len, f)) > 0)
    {
        len += n;
    }

    out[len] = '\0';

    status = pclose(f);

    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


static int
node_write(void)
{
    int                       len;
    char                      ssl[4096], body[16384], key_file[PATH_MAX];
    unsigned char             key[32];
    static const char *const  cns[] = { "one.test", NULL };

    if (tsr_test_nginx_init(&nginx, "promtool", cns) != 0) {
        return -1;
    }

    status_port = tsr_test_free_port();
    ids_port = tsr_test_free_port();
    tickets_port = tsr_test_free_port();
    stream_port = tsr_test_free_port();

    if (status_port == -1 || ids_port == -1 || tickets_port == -1
        || stream_port == -1 || RAND_bytes(key, sizeof(key)) != 1)
    {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", nginx.dir);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    len = snprintf(ssl, sizeof(ssl),
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout 1s;\n",
             nginx.dir, nginx.dir, redis.port, key_file);

    if (len < 0 || (size_t) len >= sizeof(ssl)) {
        return -1;
    }

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d;\n"
             "    location = /metrics { ssl_session_redis_status; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name ids.test;\n"
             "%s"
             "    ssl_session_tickets off;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name tickets.test;\n"
             "%s"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n"
             "stream {\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "%s"
             "    ssl_session_tickets off;\n"
             "    return \"ok\\n\";\n"
             "  }\n"
             "}\n",
             status_port, ids_port, ssl, tickets_port, ssl, stream_port, ssl);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(&nginx, 1, "info", body);
}


/* both subsystems connected, the ticket ring loaded */

static int
node_ready(void)
{
    long long  start;

    start = tsr_test_now_ms();

    while (tsr_test_now_ms() - start < READY_MS) {
        tsr_test_sleep_ms(100);

        if (tsr_test_nginx_get(status_port, "/metrics", page, sizeof(page))
            != 0)
        {
            continue;
        }

        if (strstr(page, "ssl_session_redis_connections{subsystem="
                         "\"http\",state=\"up\"} 1\n") != NULL
            && strstr(page, "ssl_session_redis_connections{subsystem="
                            "\"stream\",state=\"up\"} 1\n") != NULL
            && strstr(page, "ssl_session_redis_ticket_key_age_seconds"
                            "{subsystem=\"http\"}") != NULL)
        {
            return 0;
        }
    }

    fprintf(stderr, "node not ready; last page:\n%s\n", page);

    return -1;
}


/* a full handshake, then one resuming it: 1 when resumed */

static int
traffic(int port, int version, int tickets, int request)
{
    int                reused;
    SSL_SESSION       *sess;
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.tickets = tickets;
    opts.request = request;
    opts.timeout_ms = 5000;

    sess = NULL;
    reused = 0;

    if (tsr_test_tls_once(port, &opts, &sess, &reused) != 0 || sess == NULL) {
        return -1;
    }

    /* the write is fire and forget */
    tsr_test_sleep_ms(200);

    opts.offer = sess;

    if (tsr_test_tls_once(port, &opts, NULL, &reused) != 0) {
        reused = -1;
    }

    SSL_SESSION_free(sess);

    return reused;
}


static void
test_a_loaded_node_passes_promtool_and_the_parser(void)
{
    int          rc;
    char        *p;
    const char  *srcdir;
    char         path[PATH_MAX], broken[PATH_MAX], cmd[PATH_MAX * 4];
    char         out[OUT_MAX], stream_name[64];

    if (node_write() != 0 || tsr_test_nginx_start(&nginx) != 0) {
        CU_FAIL_FATAL("node did not start");
    }

    if (node_ready() != 0) {
        CU_FAIL("node not ready");
        goto done;
    }

    CU_ASSERT_EQUAL(traffic(ids_port, TSR_TEST_TLS12, 0, 1), 1);
    CU_ASSERT_EQUAL(traffic(tickets_port, TSR_TEST_TLS13, 1, 1), 1);
    CU_ASSERT_EQUAL(traffic(stream_port, TSR_TEST_TLS12, 0, 2), 1);

    /* the stream side publishes once a second */
    tsr_test_sleep_ms(1500);

    if (tsr_test_nginx_get(status_port, "/metrics", page, sizeof(page)) != 0) {
        CU_FAIL("status request failed");
        goto done;
    }

    snprintf(path, sizeof(path), "%s/metrics.txt", nginx.dir);

    if (tsr_test_write_file(path, page, strlen(page), 0644) != 0) {
        CU_FAIL("cannot write the page");
        goto done;
    }

    printf("\n    %zu bytes scraped, in %s\n", strlen(page), path);

    /* promtool: exit status 0 and not a word */

    snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s'", promtool, path);
    rc = run(cmd, out, sizeof(out));

    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(out, "");

    if (rc != 0 || out[0] != '\0') {
        fprintf(stderr, "promtool check metrics: status %d\n%s\n", rc, out);
    }

    /* the parser, and the values */

    srcdir = getenv("TSR_SRCDIR");
    snprintf(stream_name, sizeof(stream_name), "127.0.0.1:%d", stream_port);
    snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/integration/test_promtool.py' "
             "'%s' '%s' '%s'", python, srcdir != NULL ? srcdir : "..", path,
             PACKAGE_VERSION, stream_name);
    rc = run(cmd, out, sizeof(out));

    CU_ASSERT_EQUAL(rc, 0);

    if (rc != 0) {
        fprintf(stderr, "test_promtool.py: status %d\n%s\n", rc, out);
    }

    /* one bucket bound broken: promtool must say so */

    p = strstr(page, "le=\"5e-05\"");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, "le=\"5e-0x\"", sizeof("le=\"5e-0x\"") - 1);

    snprintf(broken, sizeof(broken), "%s/broken.txt", nginx.dir);

    if (tsr_test_write_file(broken, page, strlen(page), 0644) != 0) {
        CU_FAIL("cannot write the broken page");
        goto done;
    }

    snprintf(cmd, sizeof(cmd), "'%s' check metrics < '%s'", promtool,
             broken);
    rc = run(cmd, out, sizeof(out));

    CU_ASSERT(rc != 0 && out[0] != '\0');

done:

    tsr_test_nginx_stop(&nginx);

    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&nginx), 0);
}


static int
init_suite(void)
{
    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));

    return tsr_test_redis_start(&redis);
}


static int
clean_suite(void)
{
    tsr_test_redis_stop(&redis);

    return 0;
}


int
main(void)
{
    char         out[OUT_MAX], cmd[PATH_MAX + 64];
    const char  *env;

    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_a_loaded_node_passes_promtool_and_the_parser)
    };

    env = getenv("TSR_PROMTOOL");

    if (env != NULL && env[0] != '\0' && access(env, X_OK) != 0) {
        env = NULL;

    } else {
        env = tsr_test_find("TSR_PROMTOOL", "promtool");
    }

    if (env == NULL) {
        printf("SKIP: promtool not found (Debian package \"prometheus\")\n");
        return 77;
    }

    snprintf(promtool, sizeof(promtool), "%s", env);

    /* Debian's python3 before PATH's: the package installs for it */

    env = getenv("TSR_PYTHON3");

    if (env == NULL || env[0] == '\0') {
        env = (access("/usr/bin/python3", X_OK) == 0)
              ? "/usr/bin/python3" : tsr_test_find(NULL, "python3");
    }

    if (env == NULL) {
        printf("SKIP: python3 not found\n");
        return 77;
    }

    snprintf(python, sizeof(python), "%s", env);

    snprintf(cmd, sizeof(cmd), "'%s' -c 'import prometheus_client.parser'",
             python);

    if (run(cmd, out, sizeof(out)) != 0) {
        printf("SKIP: %s has no prometheus_client (Debian package "
               "\"python3-prometheus-client\")\n", python);
        return 77;
    }

    return TSR_TEST_MAIN("promtool", init_suite, clean_suite, tests);
}
