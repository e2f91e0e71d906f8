
/*
 * The node fixture of test_tickets and test_single_use (nodes.h): the
 * suite's Redis servers, key files and nodes, node configuration, start,
 * stop and reload, logs, one handshake, and the session keys in Redis.
 */


#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "nodes.h"


tsr_test_redis_t   redis;
tsr_test_redis_t   redis_c;          /* the other fleet's */
node_t             nodes[3];
tsr_keyring_t     *fleet;
char               key_file[PATH_MAX + 16];
char               key_file_c[PATH_MAX + 16];


int
nodes_init_suite(void)
{
    int                       i;
    unsigned char             key[32], key_c[32];
    static const char        *tags[] = { "tk-a", "tk-b", "tk-c" };
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));
    memset(&redis_c, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_redis_start(&redis) != 0
        || tsr_test_redis_start(&redis_c) != 0)
    {
        return -1;
    }

    /*
     * All nodes load node A's certificate: the session id context is the
     * same everywhere, so only the ticket keys tell the fleets apart.
     */

    for (i = 0; i < 3; i++) {
        if (tsr_test_nginx_init(&nodes[i].nginx, tags[i],
                                i == NODE_A ? cns : NULL)
            != 0)
        {
            return -1;
        }

        snprintf(nodes[i].access_log, sizeof(nodes[i].access_log),
                 "%.1024s/logs/access.log", nodes[i].nginx.dir);
    }

    if (RAND_bytes(key, sizeof(key)) != 1
        || RAND_bytes(key_c, sizeof(key_c)) != 1)
    {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key",
             nodes[NODE_A].nginx.dir);
    snprintf(key_file_c, sizeof(key_file_c), "%s/fleet.key",
             nodes[NODE_C].nginx.dir);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0
        || tsr_test_write_file(key_file_c, key_c, sizeof(key_c), 0600) != 0)
    {
        return -1;
    }

    /* the test opens the ring in Redis as the nodes do */

    fleet = tsr_keyring_create(NULL, 0);

    if (fleet == NULL
        || tsr_keyring_add_key(fleet, key, sizeof(key), NULL, 0) != TSR_OK)
    {
        return -1;
    }

    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(key_c, sizeof(key_c));

    return 0;
}


int
nodes_clean_suite(void)
{
    stop_nodes();
    tsr_test_redis_stop(&redis);
    tsr_test_redis_stop(&redis_c);
    tsr_keyring_destroy(fleet);
    fleet = NULL;

    return 0;
}


/* the clock rotation times are on: Redis' TIME on this very machine */

long long
real_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
write_node(node_t *nd, const node_conf_t *nc)
{
    int          len;
    char         body[32768], ssl[16384], logs[PATH_MAX + 256];
    const char  *app;

    nd->stream = nc->stream;

    /* the lookup deadline is generous: single use must not lose a race
       to a slow scheduler */

    len = snprintf(ssl, sizeof(ssl),
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_tickets %s;\n"
             "    ssl_session_timeout %s;\n"
             "%s"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    %s %s;\n"
             "    %s 1s;\n"
             "%s%s%s%s%s",
             nd->port, nodes[NODE_A].nginx.dir, nodes[NODE_A].nginx.dir,
             nc->tickets ? "on" : "off",
             nc->timeout != NULL ? nc->timeout : "10m",
             nc->early_data ? "    ssl_early_data on;\n" : "",
             nc->redis_port != 0 ? nc->redis_port
                                 : nc->foreign ? redis_c.port : redis.port,
             nc->former_names ? "ssl_session_redis_key"
                              : "ssl_session_redis_fleet_key",
             nc->foreign ? key_file_c : key_file,
             nc->former_names ? "ssl_session_redis_timeout"
                              : "ssl_session_redis_lookup_timeout",
             !nc->tickets ? ""
             : nc->former_names ? "    ssl_session_redis_tickets on;\n"
                                : "    ssl_session_redis_ticket_keys on;\n",
             nc->rotation != NULL ? "    ssl_session_redis_ticket_rotation "
                                  : "",
             nc->rotation != NULL ? nc->rotation : "",
             nc->rotation != NULL ? ";\n" : "",
             nc->single_use ? "    ssl_session_redis_single_use on;\n"
                            : "");

    if (len < 0 || (size_t) len >= sizeof(ssl)) {
        return -1;
    }

    if (nc->stream) {
        app = "    return \"ok\\n\";\n";

        len = snprintf(body, sizeof(body),
                 "worker_processes %d;\n"
                 "stream {\n"
                 "  server {\n"
                 "%s%s"
                 "  }\n"
                 "}\n",
                 nc->workers > 0 ? nc->workers : 1, ssl, app);

    } else {
        /* the server's view of each request: was it early data? */

        len = snprintf(logs, sizeof(logs),
                 "  log_format early '$ssl_early_data|$ssl_session_reused|"
                 "$request';\n"
                 "  access_log %s early;\n", nd->access_log);

        if (len < 0 || (size_t) len >= sizeof(logs)) {
            return -1;
        }

        app = "    location / { return 200 \"$ssl_early_data\\n\"; }\n";

        len = snprintf(body, sizeof(body),
                 "worker_processes %d;\n"
                 "http {\n"
                 "%s"
                 "  server {\n"
                 "%s%s"
                 "  }\n"
                 "}\n",
                 nc->workers > 0 ? nc->workers : 1, logs, ssl, app);
    }

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(&nd->nginx, nc->stream, "info", body);
}


/*
 * Starts a node with fresh logs and waits until it has served a
 * handshake, so that its worker runs and has loaded the ring.
 */

int
start_node(node_t *nd)
{
    hs_t  hs;
    int   i;

    if ((truncate(nd->nginx.error_log, 0) != 0 && errno != ENOENT)
        || (truncate(nd->access_log, 0) != 0 && errno != ENOENT))
    {
        return -1;
    }

    if (tsr_test_nginx_start(&nd->nginx) != 0) {
        return -1;
    }

    nd->running = 1;

    for (i = 0; i < 50; i++) {
        if (handshake(nd, TSR_TEST_TLS13, 1, NULL, &hs) == 0) {
            hs_free(&hs);
            tsr_test_sleep_ms(100);
            return 0;
        }

        tsr_test_sleep_ms(100);
    }

    return -1;
}


int
start_nodes(int first, int n)
{
    int  i;

    for (i = first; i < first + n; i++) {
        if (start_node(&nodes[i]) != 0) {
            return -1;
        }
    }

    return 0;
}


void
stop_nodes(void)
{
    int  i;

    for (i = 0; i < 3; i++) {
        if (nodes[i].running) {
            tsr_test_nginx_stop(&nodes[i].nginx);
            nodes[i].running = 0;
        }
    }
}


/* nodes first .. first + n - 1 on fresh ports, all with one config */

int
setup_nodes(int first, int n, const node_conf_t *nc)
{
    int  i, j;

    for (i = first; i < first + n; i++) {
        nodes[i].port = tsr_test_free_port();

        for (j = first; j < i; j++) {
            if (nodes[j].port == nodes[i].port) {
                return -1;
            }
        }

        if (nodes[i].port == -1 || write_node(&nodes[i], nc) != 0) {
            return -1;
        }
    }

    return start_nodes(first, n);
}


int
reload_nodes(int first, int n, const node_conf_t *nc)
{
    int  i;

    for (i = first; i < first + n; i++) {
        if (write_node(&nodes[i], nc) != 0
            || tsr_test_nginx_signal(&nodes[i].nginx, SIGHUP) != 0)
        {
            return -1;
        }
    }

    return 0;
}


void
check_logs(void)
{
    int  i, problems;

    for (i = 0; i < 3; i++) {
        problems = tsr_test_nginx_log_problems(&nodes[i].nginx);

        CU_ASSERT_EQUAL(problems, 0);
        if (problems > 0) {
            fprintf(stderr, "%d [alert]/[crit]/[emerg] or crash lines in "
                    "%s\n", problems, nodes[i].nginx.error_log);
        }
    }
}


int
log_lines(const char *path, const char *needle)
{
    int  n;

    n = tsr_test_grep_count(path, needle);

    return n > 0 ? n : 0;
}


int
handshake(node_t *nd, int version, int tickets, SSL_SESSION *offer,
    hs_t *hs)
{
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));
    memset(hs, 0, sizeof(hs_t));

    opts.version = version;
    opts.tickets = tickets;
    opts.offer = offer;
    opts.request = nd->stream ? 2 : 1;
    opts.timeout_ms = 5000;
    opts.sessions = &hs->sessions;

    return tsr_test_tls_once(nd->port, &opts, &hs->sess, &hs->reused);
}


void
hs_free(hs_t *hs)
{
    if (hs->sess != NULL) {
        SSL_SESSION_free(hs->sess);
        hs->sess = NULL;
    }
}


/* how many keys match "pattern" */

int
session_keys(tsr_test_redis_t *r, const char *pattern)
{
    char  out[64];

    if (tsr_test_redis_cmd(r, out, sizeof(out),
                           "EVAL %s 0 %s",
                           "return #redis.call('KEYS', ARGV[1])", pattern)
        != 0)
    {
        return -1;
    }

    return atoi(out);
}


/*
 * The Redis key of a stateful session, as a pattern over the context
 * hash: <prefix>s:*:<hex id>.  The id of a TLS 1.2 session is its
 * session id; a TLS 1.3 stateful ticket is the server's session id.
 */

int
session_key_pattern(const SSL_SESSION *sess, int version, char *out,
    size_t len)
{
    size_t                i, n, used;
    unsigned int          idlen;
    const unsigned char  *id;

    if (version == TSR_TEST_TLS13) {
        SSL_SESSION_get0_ticket(sess, &id, &n);

    } else {
        id = SSL_SESSION_get_id(sess, &idlen);
        n = idlen;
    }

    if (id == NULL || n == 0 || n > 64 || len < sizeof("tsr:s:*:") + 2 * n) {
        return -1;
    }

    used = (size_t) snprintf(out, len, "tsr:s:*:");

    for (i = 0; i < n; i++) {
        snprintf(out + used + 2 * i, 3, "%02x", id[i]);
    }

    return 0;
}


/* new sessions are written fire-and-forget: wait until one landed */

int
wait_stored(const SSL_SESSION *sess, int version, int ms)
{
    int        i;
    char       pattern[256];
    long long  deadline;

    if (session_key_pattern(sess, version, pattern, sizeof(pattern)) != 0) {
        return -1;
    }

    deadline = tsr_test_now_ms() + ms;

    for (i = 0; i < 10000 && tsr_test_now_ms() < deadline; i++) {
        if (session_keys(&redis, pattern) == 1) {
            return 0;
        }

        tsr_test_sleep_ms(5);
    }

    return -1;
}
