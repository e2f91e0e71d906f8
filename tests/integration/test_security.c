
/*
 * Security properties, with real nginx nodes and a private Redis:
 *
 * - isolation: a value copied under another session's key, another
 *   server's key (another session id context) or another prefix never
 *   opens; servers that differ only in client verification
 *   (ssl_verify_client, ssl_client_certificate) never resume each other's
 *   sessions;
 * - Redis AUTH through nginx: password_file=, an ACL user, a unix socket;
 *   a wrong password costs resumption only, and no password is logged;
 * - at debug level no session id, master secret, ticket key or fleet key
 *   appears in the logs, in hex either case;
 * - every bound holds: lookups in flight, value size, ClientHello peek
 *   size, lookup timeout, ticket ring size;
 * - a session never resumes under another server name, whatever its
 *   ClientHello looks like (over 16 KiB, a second PSK identity), nor a
 *   fleet ticket;
 * - a stranger offering a victim's session id cannot delete it from
 *   Redis.
 *
 * Each case runs for TLS 1.2 session ids and TLS 1.3 stateful tickets
 * where the difference matters, and ends with a log check.
 */


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define NODES            5
#define TRIES            4
#define STORE_WAIT_MS    2000
#define SCRAPE_MAX       (256 * 1024)
#define INFLIGHT_CONNS   300
#define INFLIGHT_LIMIT   256            /* the store's default */
#define BIG_EXTENSION    20000          /* over TSR_HELLO_MAX_PEEK */
#define PAD_EXTENSION    17000          /* the ClientHello spans records */
#define SLOW_TIMEOUT_MS  300
#define PASSWORD         "s3cret-redis-pass"
#define USER_PASSWORD    "u5er-redis-pass"
#define WRONG_PASSWORD   "wr0ng-redis-pass"


typedef struct {
    tsr_test_nginx_t    nginx;
    int                 port;           /* https */
    int                 port2;          /* https, fleet ticket keys */
    int                 status;         /* plain http, the metrics */
    int                 running;
} node_t;


typedef struct {
    unsigned char      *data;
    size_t              len;
} secret_t;


/* an HTTP request unless "requests" is 0 */
#define handshake(port, version, tickets, offer, out, reused)                 \
    tsr_test_connect(port, version,                                           \
                     requests | ((tickets) ? TSR_TEST_TICKETS : 0),           \
                     offer, out, reused)


static int init_suite(void);
static int clean_suite(void);
static int node_start(node_t *nd, const char *tag, const char *address,
    const char *server, const char *level);
static void node_stop(node_t *nd);
static void nodes_stop(void);
static void check_log(node_t *nd);
static int session_hex(SSL_SESSION *sess, int version, char *hex);
static int find_key(const char *prefix, const char *hex, char *key,
    size_t size);
static int copy_value(const char *from, const char *to);
static int http_get(int port, const char *path, char *buf, size_t size);
static long long metric(int port, const char *name, const char *label);
static int resumes(int from, int to, int version, int *made);
static void isolation_copies(int version);
static void isolation_verify(int version);
static void auth_case(const char *what, const char *address, int expect);
static int add_secret(secret_t *s, int *n, const unsigned char *p,
    size_t len);
static int grep_hex(const char *path, const unsigned char *p, size_t len);
static int ring_keys(secret_t *s, int *n);
static int big_ext_add(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
    int *al, void *arg);
static void big_ext_free(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char *out, void *arg);
static void test_value_under_another_key_never_opens_tls12(void);
static void test_value_under_another_key_never_opens_tls13(void);
static void test_client_verify_settings_isolate_tls12(void);
static void test_client_verify_settings_isolate_tls13(void);
static void test_auth_password_file_acl_user_unix_socket(void);
static void test_debug_log_holds_no_secret(void);
static void test_bound_lookups_in_flight(void);
static void test_bound_value_size(void);
static void test_bound_client_hello_peek(void);
static void test_bound_lookup_timeout(void);
static void test_bound_ticket_ring_size(void);
static int sni_node_start(node_t *nd, const char *tag);
static int offer(int port, int version, const char *sni, int tickets,
    SSL_SESSION *sess, SSL_SESSION **out, int *reused);
static void check_log_but(node_t *nd, const char *expected);
static void name_rule_padded(int version);
static void test_name_rule_holds_in_a_padded_client_hello_tls12(void);
static void test_name_rule_holds_in_a_padded_client_hello_tls13(void);
static void test_name_rule_holds_for_a_second_psk_identity(void);
static void name_rule_tickets(int version);
static void test_name_rule_holds_for_fleet_tickets_tls12(void);
static void test_name_rule_holds_for_fleet_tickets_tls13(void);
static void test_stranger_offer_cannot_delete_a_session_fleet_wide(void);
static void test_tls_redis_cross_node(void);
static void test_tls_redis_stalled_handshake_never_blocks(void);
static void managed_form(int f, char *address, size_t len, const char *dir,
    int tls_port, const tsr_test_redis_t *r);
static void test_managed_redis_forms(void);
static void test_old_redis_is_named_in_the_log_and_handshakes_go_on(void);


static tsr_test_redis_t       redis;
static tsr_test_redis_t       secured;
static tsr_test_fakeredis_t   fake;
static node_t                 nodes[NODES];
static char                   certs[PATH_MAX];
static char                   key_file[PATH_MAX + 16];
static unsigned char          fleet_key[32];

/*
 * 1: every handshake is followed by an HTTP request (200 expected); 0:
 * the handshake alone, for servers that answer 400 without a client
 * certificate.
 */
static int                    requests = 1;


static int
init_suite(void)
{
    char                         path[PATH_MAX + 32];
    static const char *const  cns[] = { "one.test", "two.test", NULL };
    tsr_test_nginx_t             ca;

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));
    memset(&secured, 0, sizeof(tsr_test_redis_t));
    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));
    memset(nodes, 0, sizeof(nodes));

    if (tsr_test_redis_start(&redis) != 0) {
        return -1;
    }

    /* a Redis with a password and an ACL user limited to "tsr:" keys */

    snprintf(secured.password, sizeof(secured.password), PASSWORD);
    snprintf(secured.extra, sizeof(secured.extra),
             "user tsruser on >" USER_PASSWORD " ~tsr:* +@all");

    if (tsr_test_redis_start(&secured) != 0) {
        return -1;
    }

    /* certificates and key files shared by every node */

    if (tsr_test_nginx_init(&ca, "security-certs", cns) != 0) {
        return -1;
    }

    snprintf(certs, sizeof(certs), "%s", ca.dir);

    if (RAND_bytes(fleet_key, sizeof(fleet_key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", certs);

    if (tsr_test_write_file(key_file, fleet_key, sizeof(fleet_key), 0600)
        != 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/redis.pass", certs);
    if (tsr_test_write_file(path, PASSWORD "\n", sizeof(PASSWORD), 0600)
        != 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/user.pass", certs);
    if (tsr_test_write_file(path, USER_PASSWORD "\n", sizeof(USER_PASSWORD),
                            0600)
        != 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/wrong.pass", certs);
    if (tsr_test_write_file(path, WRONG_PASSWORD "\n",
                            sizeof(WRONG_PASSWORD), 0600)
        != 0)
    {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    nodes_stop();
    tsr_test_redis_stop(&redis);
    tsr_test_redis_stop(&secured);
    tsr_test_fakeredis_stop(&fake);

    return 0;
}


/*
 * A node: one worker; an https server using the module (directives of
 * "server" added, which may override the address and the certificate,
 * one.test by default), a second https server with fleet ticket keys,
 * and a plain http server for the metrics.
 */

static int
node_start(node_t *nd, const char *tag, const char *address,
    const char *server, const char *level)
{
    int   i, len, reused;
    char  body[16384], cert[64];

    node_stop(nd);
    memset(nd, 0, sizeof(node_t));

    if (tsr_test_nginx_init(&nd->nginx, tag, NULL) != 0) {
        return -1;
    }

    nd->port = tsr_test_free_port();
    nd->port2 = tsr_test_free_port();
    nd->status = tsr_test_free_port();

    if (nd->port == -1 || nd->port2 == -1 || nd->status == -1) {
        return -1;
    }

    snprintf(cert, sizeof(cert), "%s",
             (server != NULL && strstr(server, "#two.test") != NULL)
             ? "two.test" : "one.test");

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "  ssl_certificate %s/%s.crt;\n"
             "  ssl_certificate_key %s/%s.key;\n"
             "  ssl_protocols TLSv1.2 TLSv1.3;\n"
             "  ssl_session_timeout 10m;\n"
             "  ssl_session_redis_fleet_key %s;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d;\n"
             "    location = /metrics { ssl_session_redis_status; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_redis %s;\n"
             "%s\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_session_tickets on;\n"
             "    ssl_session_redis %s;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             certs, cert, certs, cert, key_file, nd->status, nd->port,
             address, server != NULL ? server : "", nd->port2, address);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    if (tsr_test_nginx_write_conf(&nd->nginx, 0, level, body) != 0
        || tsr_test_nginx_start(&nd->nginx) != 0)
    {
        return -1;
    }

    nd->running = 1;

    /* serving, and connected to Redis when it can be */

    for (i = 0; i < 50; i++) {
        if (handshake(nd->port, TSR_TEST_TLS13, 0, NULL, NULL, &reused)
            == 0)
        {
            tsr_test_sleep_ms(100);
            return 0;
        }

        tsr_test_sleep_ms(100);
    }

    return -1;
}


static void
node_stop(node_t *nd)
{
    if (nd->running) {
        tsr_test_nginx_stop(&nd->nginx);
        nd->running = 0;
    }
}


static void
nodes_stop(void)
{
    int  i;

    for (i = 0; i < NODES; i++) {
        node_stop(&nodes[i]);
    }
}


static void
check_log(node_t *nd)
{
    int  problems;

    if (nd->nginx.error_log[0] == '\0') {
        return;
    }

    problems = tsr_test_nginx_log_problems(&nd->nginx);

    CU_ASSERT_EQUAL(problems, 0);
    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines or crashes in "
                "%s\n", problems, nd->nginx.error_log);
    }
}


/*
 * The hex of what the server looks a session up by: the TLS 1.2 session
 * id, or the TLS 1.3 stateful ticket (the server's session id).
 */

static int
session_hex(SSL_SESSION *sess, int version, char *hex)
{
    size_t                i, len;
    unsigned int          idlen;
    const unsigned char  *id;

    if (version == TSR_TEST_TLS13) {
        SSL_SESSION_get0_ticket(sess, &id, &len);

    } else {
        id = SSL_SESSION_get_id(sess, &idlen);
        len = idlen;
    }

    if (id == NULL || len == 0 || len > TSR_MAX_SESSION_ID) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        sprintf(hex + 2 * i, "%02x", id[i]);
    }

    return 0;
}


/* the key "prefix*hex" in Redis, waiting for the asynchronous SET */

static int
find_key(const char *prefix, const char *hex, char *key, size_t size)
{
    long long  start;

    start = tsr_test_now_ms();

    while (tsr_test_now_ms() - start < STORE_WAIT_MS) {
        if (tsr_test_redis_cmd(&redis, key, size, "KEYS %s*%s", prefix, hex)
            == 0
            && key[0] != '\0' && strchr(key, '\n') == NULL)
        {
            return 0;
        }

        tsr_test_sleep_ms(10);
    }

    fprintf(stderr, "no key %s*%s in redis\n", prefix, hex);

    return -1;
}


static int
copy_value(const char *from, const char *to)
{
    size_t         len;
    char           out[64];
    unsigned char  val[TSR_MAX_VALUE];

    len = sizeof(val);

    if (tsr_test_redis_get_raw(&redis, from, val, &len) != 0
        || tsr_test_redis_cmd(&redis, out, sizeof(out), "SET %s %b", to, val,
                              len)
           != 0
        || strcmp(out, "OK") != 0)
    {
        return -1;
    }

    return 0;
}


/* a plain HTTP/1.0 GET; the body goes to "buf", NUL-terminated */

static int
http_get(int port, const char *path, char *buf, size_t size)
{
    int                 fd;
    char               *body;
    size_t              len;
    ssize_t             n;
    struct timeval      tv;
    struct sockaddr_in  sin;
    char                req[256];

    buf[0] = '\0';

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    memset(&sin, 0, sizeof(struct sockaddr_in));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }

    len = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);

    if (write(fd, req, len) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    len = 0;

    while (len < size - 1) {
        n = read(fd, buf + len, size - 1 - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        len += n;
    }

    close(fd);
    buf[len] = '\0';

    body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || body == NULL) {
        return -1;
    }

    memmove(buf, body + 4, strlen(body + 4) + 1);

    return 0;
}


/*
 * The sum of the series of metric "name" whose labels contain "label"
 * (NULL: all), or -1 when the status cannot be read.
 */

static long long
metric(int port, const char *name, const char *label)
{
    char       *text, *p, *end;
    size_t      len;
    long long   sum;

    text = malloc(SCRAPE_MAX);
    if (text == NULL) {
        return -1;
    }

    if (http_get(port, "/metrics", text, SCRAPE_MAX) != 0) {
        free(text);
        return -1;
    }

    sum = 0;
    len = strlen(name);

    for (p = text; p != NULL && *p != '\0'; p = end) {
        end = strchr(p, '\n');
        if (end != NULL) {
            *end++ = '\0';
        }

        if (strncmp(p, name, len) != 0 || (p[len] != '{' && p[len] != ' '))
        {
            continue;
        }

        if (label != NULL && strstr(p, label) == NULL) {
            continue;
        }

        p = strrchr(p, ' ');
        if (p != NULL) {
            sum += strtoll(p + 1, NULL, 10);
        }
    }

    free(text);

    return sum;
}


/*
 * Whether a session made on port "from" resumes on port "to": 1 or 0;
 * -1 when the handshakes themselves fail.  *made says whether it resumes
 * where it was made (through Redis: the nodes have no shared cache).
 */

static int
resumes(int from, int to, int version, int *made)
{
    int           reused, own;
    SSL_SESSION  *sess;

    sess = NULL;

    if (handshake(from, version, 0, NULL, &sess, &reused) != 0
        || sess == NULL)
    {
        return -1;
    }

    tsr_test_sleep_ms(20);

    if (handshake(to, version, 0, sess, NULL, &reused) != 0) {
        SSL_SESSION_free(sess);
        return -1;
    }

    if (made != NULL) {
        *made = (handshake(from, version, 0, sess, NULL, &own) == 0 && own);
    }

    SSL_SESSION_free(sess);

    return reused;
}


/*
 * Node A (one.test, prefix tsr:), node B (two.test: another session id
 * context), node C (one.test, prefix other:).  A session made on A,
 * whose sealed value is copied under another session's key on A, under
 * its own id in B's key space, under its own key name with C's prefix,
 * never resumes there; the same session does resume on A.
 */

#define SLOW_OK  "    ssl_session_redis_lookup_timeout 2s;\n"

static void
isolation_copies(int version)
{
    int           i, reused, failures, moved, own;
    char          hex1[80], hex2[80], hexb[80], key1[512], key2[512];
    char          keyb[512], to[512], ctx[17], ctxb[17];
    long long     before[3], after[3];
    SSL_SESSION  *s1, *s2, *sb;

    s1 = NULL;
    s2 = NULL;
    sb = NULL;
    moved = 0;
    own = 0;
    failures = 0;

    snprintf(to, sizeof(to), "127.0.0.1:%d", redis.port);

    /*
     * A generous deadline: a lookup that times out on a busy machine
     * would never reach the seal, which is what is tested here.
     */

    if (node_start(&nodes[0], "sec-a", to, SLOW_OK, "info") != 0
        || node_start(&nodes[1], "sec-b", to, "    #two.test\n" SLOW_OK,
                      "info") != 0
        || node_start(&nodes[2], "sec-c", to,
                      "    ssl_session_redis_prefix other:;\n" SLOW_OK,
                      "info")
           != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (i = 0; i < 3; i++) {
        before[i] = metric(nodes[i].status,
                           "ssl_session_redis_open_failures_total", NULL);
    }

    for (i = 0; i < TRIES; i++) {
        if (handshake(nodes[0].port, version, 0, NULL, &s1, &reused) != 0
            || handshake(nodes[0].port, version, 0, NULL, &s2, &reused) != 0
            || handshake(nodes[1].port, version, 0, NULL, &sb, &reused) != 0
            || s1 == NULL || s2 == NULL || sb == NULL
            || session_hex(s1, version, hex1) != 0
            || session_hex(s2, version, hex2) != 0
            || session_hex(sb, version, hexb) != 0
            || find_key("tsr:s:", hex1, key1, sizeof(key1)) != 0
            || find_key("tsr:s:", hex2, key2, sizeof(key2)) != 0
            || find_key("tsr:s:", hexb, keyb, sizeof(keyb)) != 0)
        {
            CU_FAIL("no sessions to copy");
            failures++;
            goto next;
        }

        /* "tsr:s:" then 16 hex digits of the sid_ctx hash */
        memcpy(ctx, key1 + 6, 16);
        ctx[16] = '\0';
        memcpy(ctxb, keyb + 6, 16);
        ctxb[16] = '\0';

        CU_ASSERT(strcmp(ctx, ctxb) != 0);

        /* under another session's key on the same node */

        if (copy_value(key1, key2) != 0) {
            CU_FAIL("copy failed");
            goto next;
        }

        if (handshake(nodes[0].port, version, 0, s2, NULL, &reused) != 0) {
            failures++;
        }

        moved += reused;

        /* in another server's key space (another sid_ctx) */

        snprintf(to, sizeof(to), "tsr:s:%s:%s", ctxb, hex1);

        if (copy_value(key1, to) != 0) {
            CU_FAIL("copy failed");
            goto next;
        }

        if (handshake(nodes[1].port, version, 0, s1, NULL, &reused) != 0) {
            failures++;
        }

        moved += reused;

        /* under another prefix, the same certificate */

        snprintf(to, sizeof(to), "other:s:%s:%s", ctx, hex1);

        if (copy_value(key1, to) != 0) {
            CU_FAIL("copy failed");
            goto next;
        }

        if (handshake(nodes[2].port, version, 0, s1, NULL, &reused) != 0) {
            failures++;
        }

        moved += reused;

        /* and where it belongs it resumes */

        if (handshake(nodes[0].port, version, 0, s1, NULL, &reused) == 0) {
            own += reused;
        }

    next:

        SSL_SESSION_free(s1);
        SSL_SESSION_free(s2);
        SSL_SESSION_free(sb);
        s1 = NULL;
        s2 = NULL;
        sb = NULL;
    }

    tsr_test_sleep_ms(1100);

    for (i = 0; i < 3; i++) {
        after[i] = metric(nodes[i].status,
                          "ssl_session_redis_open_failures_total", NULL)
                   - before[i];
    }

    printf("\n    TLSv1.%d: %d of %d copied values resumed, %d of %d "
           "sessions resumed on their own node, values that did not open "
           "on A, B, C: %lld, %lld, %lld ",
           version == TSR_TEST_TLS13 ? 3 : 2, moved, 3 * TRIES, own, TRIES,
           after[0], after[1], after[2]);

    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL(moved, 0);
    CU_ASSERT_EQUAL(own, TRIES);

    /* the seal refused them, not only OpenSSL's checks */
    CU_ASSERT(after[0] >= TRIES);
    CU_ASSERT(after[1] >= TRIES);
    CU_ASSERT(after[2] >= TRIES);

done:

    nodes_stop();

    for (i = 0; i < 3; i++) {
        check_log(&nodes[i]);
    }
}


/*
 * Five nodes with the same certificate that differ only in client
 * verification: none, on with CA one.test, optional with CA one.test,
 * optional_no_ca, on with CA two.test.  No session made on one resumes
 * on another; each resumes on its own node unless nginx itself removed
 * it (a required client certificate missing).
 */

static void
isolation_verify(int version)
{
    int   i, j, k, r, made, foreign, own, failed;
    char  address[64], server[NODES][PATH_MAX + 128], tag[32];

    foreign = 0;
    own = 0;
    failed = 0;
    requests = 0;

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    snprintf(server[0], sizeof(server[0]), "    # no verification\n");
    snprintf(server[1], sizeof(server[1]),
             "    ssl_verify_client on;\n"
             "    ssl_client_certificate %s/one.test.crt;\n", certs);
    snprintf(server[2], sizeof(server[2]),
             "    ssl_verify_client optional;\n"
             "    ssl_client_certificate %s/one.test.crt;\n", certs);
    snprintf(server[3], sizeof(server[3]),
             "    ssl_verify_client optional_no_ca;\n");
    snprintf(server[4], sizeof(server[4]),
             "    ssl_verify_client on;\n"
             "    ssl_client_certificate %s/two.test.crt;\n", certs);

    for (i = 0; i < NODES; i++) {
        snprintf(tag, sizeof(tag), "sec-verify-%d", i);

        if (node_start(&nodes[i], tag, address, server[i], "info") != 0) {
            CU_FAIL("node did not start");
            goto done;
        }
    }

    for (i = 0; i < NODES; i++) {
        for (j = 0; j < NODES; j++) {
            if (i == j) {
                continue;
            }

            for (k = 0; k < 2; k++) {
                made = 0;
                r = resumes(nodes[i].port, nodes[j].port, version, &made);

                if (r < 0) {
                    failed++;
                    continue;
                }

                if (r > 0) {
                    fprintf(stderr, "\n    a session of verify setting %d "
                            "resumed on verify setting %d", i, j);
                }

                foreign += r;
                own += made;
            }
        }
    }

    printf("\n    TLSv1.%d, 5 client verification settings: %d of %d "
           "sessions resumed on another setting, %d on their own, %d "
           "failed handshakes ", version == TSR_TEST_TLS13 ? 3 : 2, foreign,
           NODES * (NODES - 1) * 2, own, failed);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(foreign, 0);

    /* verification off and optional settings keep their sessions */
    CU_ASSERT(own >= (NODES - 1) * 2 * 3);

done:

    requests = 1;
    nodes_stop();

    for (i = 0; i < NODES; i++) {
        check_log(&nodes[i]);
    }
}


/*
 * Two nodes with "address" against the secured Redis: "expect" 1 says
 * sessions resume across them, 0 that they do not (and handshakes still
 * succeed).  No password shows in the logs.
 */

static void
auth_case(const char *what, const char *address, int expect)
{
    int   i, r, made, resumed, failed;

    resumed = 0;
    failed = 0;

    if (node_start(&nodes[0], "sec-auth-a", address, NULL, "info") != 0
        || node_start(&nodes[1], "sec-auth-b", address, NULL, "info") != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (i = 0; i < TRIES; i++) {
        r = resumes(nodes[0].port, nodes[1].port,
                    i % 2 ? TSR_TEST_TLS13 : TSR_TEST_TLS12, &made);

        if (r < 0) {
            failed++;

        } else {
            resumed += r;
        }
    }

    printf("\n    %s: %d of %d resumed across nodes ", what, resumed, TRIES);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(resumed, expect ? TRIES : 0);

done:

    nodes_stop();

    for (i = 0; i < 2; i++) {
        check_log(&nodes[i]);

        CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[i].nginx.error_log,
                                            PASSWORD), 0);
        CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[i].nginx.error_log,
                                            USER_PASSWORD), 0);
        CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[i].nginx.error_log,
                                            WRONG_PASSWORD), 0);
    }
}


static int
add_secret(secret_t *s, int *n, const unsigned char *p, size_t len)
{
    if (*n == 256 || len == 0) {
        return -1;
    }

    s[*n].data = malloc(len);
    if (s[*n].data == NULL) {
        return -1;
    }

    memcpy(s[*n].data, p, len);
    s[*n].len = len;
    (*n)++;

    return 0;
}


/*
 * Lines of "path" holding the bytes in hex, lower or upper case, whole or
 * any 8 of them in a row (a truncated print).
 */

static int
grep_hex(const char *path, const unsigned char *p, size_t len)
{
    int     found, c;
    size_t  i, k, w;
    char    hex[2 * 512 + 1];

    found = 0;

    if (len > 512) {
        len = 512;
    }

    w = (len < 8) ? len : 8;

    for (i = 0; i + w <= len; i++) {
        for (c = 0; c < 2; c++) {
            for (k = 0; k < w; k++) {
                sprintf(hex + 2 * k, c ? "%02X" : "%02x", p[i + k]);
            }

            found += tsr_test_grep_count(path, hex);
        }
    }

    return found;
}


/*
 * The ticket keys of the ring in Redis: opened with the fleet key, as a
 * node does; records are gen(8) stop(8) name(16) hmac(32) aes(32).
 */

static int
ring_keys(secret_t *s, int *n)
{
    int             rc;
    size_t          len, plen, i, nkeys;
    char            key[512], err[256];
    unsigned char   val[TSR_MAX_VALUE], plain[TSR_MAX_VALUE];
    tsr_keyring_t  *kr;

    if (tsr_test_redis_cmd(&redis, key, sizeof(key), "KEYS tsr:tk:*") != 0
        || key[0] == '\0' || strchr(key, '\n') != NULL)
    {
        return -1;
    }

    len = sizeof(val);

    if (tsr_test_redis_get_raw(&redis, key, val, &len) != 0 || len < 16) {
        return -1;
    }

    kr = tsr_keyring_create(err, sizeof(err));
    if (kr == NULL
        || tsr_keyring_add_file(kr, key_file, err, sizeof(err)) != TSR_OK)
    {
        tsr_keyring_destroy(kr);
        return -1;
    }

    plen = sizeof(plain);
    rc = tsr_open(kr, key, strlen(key), val + 16, len - 16, plain, &plen);

    tsr_keyring_destroy(kr);

    if (rc != TSR_OK || plen < 18) {
        return -1;
    }

    nkeys = plain[17];

    for (i = 0; i < nkeys && 18 + (i + 1) * 96 <= plen; i++) {
        if (add_secret(s, n, plain + 18 + i * 96 + 32, 32) != 0
            || add_secret(s, n, plain + 18 + i * 96 + 64, 32) != 0)
        {
            return -1;
        }
    }

    return (int) i;
}


static void
test_value_under_another_key_never_opens_tls12(void)
{
    isolation_copies(TSR_TEST_TLS12);
}


static void
test_value_under_another_key_never_opens_tls13(void)
{
    isolation_copies(TSR_TEST_TLS13);
}


static void
test_client_verify_settings_isolate_tls12(void)
{
    isolation_verify(TSR_TEST_TLS12);
}


static void
test_client_verify_settings_isolate_tls13(void)
{
    isolation_verify(TSR_TEST_TLS13);
}


static void
test_auth_password_file_acl_user_unix_socket(void)
{
    char  address[3 * PATH_MAX];

    snprintf(address, sizeof(address), "127.0.0.1:%d password_file=%s/"
             "redis.pass", secured.port, certs);
    auth_case("TCP, password_file=", address, 1);

    snprintf(address, sizeof(address), "127.0.0.1:%d user=tsruser "
             "password_file=%s/user.pass", secured.port, certs);
    auth_case("TCP, ACL user", address, 1);

    snprintf(address, sizeof(address), "unix:%s password_file=%s/"
             "redis.pass", secured.unix_path, certs);
    auth_case("unix socket, password_file=", address, 1);

    snprintf(address, sizeof(address), "unix:%s user=tsruser "
             "password_file=%s/user.pass", secured.unix_path, certs);
    auth_case("unix socket, ACL user", address, 1);

    snprintf(address, sizeof(address), "127.0.0.1:%d password_file=%s/"
             "wrong.pass", secured.port, certs);
    auth_case("TCP, wrong password", address, 0);

    snprintf(address, sizeof(address), "127.0.0.1:%d", secured.port);
    auth_case("TCP, no password", address, 0);
}


/*
 * A node logging at debug level serves fresh and resumed handshakes,
 * TLS 1.2 and 1.3, with sessions in Redis and with fleet ticket keys.
 * The client's view gives the session ids, tickets and master secrets;
 * the ring in Redis, opened with the fleet key, gives the ticket keys.
 * None of them, nor the fleet key, may appear in the log.
 */

static void
test_debug_log_holds_no_secret(void)
{
    int                   i, k, n, found, reused, version, port, tickets;
    int                   nkeys;
    size_t                len;
    secret_t              s[256];
    SSL_SESSION          *sess, *next;
    unsigned int          idlen;
    const unsigned char  *p;
    unsigned char         buf[SSL_MAX_MASTER_KEY_LENGTH];
    char                  address[64];

    n = 0;
    found = 0;
    memset(s, 0, sizeof(s));

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    if (node_start(&nodes[0], "sec-debug", address, NULL, "debug") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    for (i = 0; i < 8; i++) {
        version = (i % 2) ? TSR_TEST_TLS13 : TSR_TEST_TLS12;
        port = (i % 4 < 2) ? nodes[0].port : nodes[0].port2;
        tickets = (port == nodes[0].port2);
        sess = NULL;

        /* fresh, then resumed twice */

        for (k = 0; k < 3; k++) {
            next = NULL;

            if (handshake(port, version, tickets, sess, &next, &reused)
                != 0)
            {
                CU_FAIL("handshake failed");
                break;
            }

            if (k > 0 && !reused) {
                fprintf(stderr, "\n    not resumed: TLSv1.%d, %s",
                        version == TSR_TEST_TLS13 ? 3 : 2,
                        tickets ? "tickets" : "session ids");
            }

            if (next == NULL) {
                continue;
            }

            len = SSL_SESSION_get_master_key(next, buf, sizeof(buf));
            p = SSL_SESSION_get_id(next, &idlen);

            if (add_secret(s, &n, buf, len) != 0
                || (idlen > 0 && add_secret(s, &n, p, idlen) != 0))
            {
                CU_FAIL("too many secrets");
            }

            if (SSL_SESSION_has_ticket(next)) {
                SSL_SESSION_get0_ticket(next, &p, &len);
                (void) add_secret(s, &n, p, len);
            }

            SSL_SESSION_free(sess);
            sess = next;
        }

        SSL_SESSION_free(sess);
    }

    (void) add_secret(s, &n, fleet_key, sizeof(fleet_key));

    nkeys = ring_keys(s, &n);

    CU_ASSERT(nkeys >= 2);

    nodes_stop();

    for (i = 0; i < n; i++) {
        k = grep_hex(nodes[0].nginx.error_log, s[i].data, s[i].len);

        if (k > 0) {
            fprintf(stderr, "\n    secret %d (%zu bytes) found %d times in "
                    "%s", i, s[i].len, k, nodes[0].nginx.error_log);
        }

        found += k;
    }

    printf("\n    %d secrets (master secrets, session ids, tickets, %d "
           "ticket keys, the fleet key) sought in a debug log of %d lines: "
           "%d found ", n, 2 * (nkeys > 0 ? nkeys : 0),
           tsr_test_grep_count(nodes[0].nginx.error_log, "[debug]"), found);

    CU_ASSERT(n >= 30);
    CU_ASSERT(tsr_test_grep_count(nodes[0].nginx.error_log, "[debug]")
              > 1000);
    CU_ASSERT_EQUAL(found, 0);

done:

    nodes_stop();
    check_log(&nodes[0]);

    for (i = 0; i < n; i++) {
        OPENSSL_cleanse(s[i].data, s[i].len);
        free(s[i].data);
    }
}


/*
 * Redis (the fake) never answers lookups and the lookup timeout is long:
 * INFLIGHT_CONNS clients offer a session at once.  The worker keeps at
 * most INFLIGHT_LIMIT lookups in flight and skips the rest (full
 * handshakes at once); every handshake completes.
 */

static void
test_bound_lookups_in_flight(void)
{
    int                 i, n, fd, rc, done_n, reused, pending, one;
    int                 fds[INFLIGHT_CONNS];
    SSL                *ssl[INFLIGHT_CONNS];
    SSL_CTX            *ctx;
    SSL_SESSION        *sess;
    long long           inflight, skipped, before, start;
    char                address[64];
    struct pollfd       pfd[INFLIGHT_CONNS];
    struct sockaddr_in  sin;

    memset(ssl, 0, sizeof(ssl));
    for (i = 0; i < INFLIGHT_CONNS; i++) {
        fds[i] = -1;
    }

    sess = NULL;
    ctx = NULL;
    done_n = 0;
    reused = 0;
    inflight = -1;
    skipped = -1;

    if (fake.pid == 0
        && tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_NORMAL) != 0)
    {
        CU_FAIL("fake redis did not start");
        return;
    }

    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL);

    snprintf(address, sizeof(address), "127.0.0.1:%d", fake.port);

    if (node_start(&nodes[0], "sec-inflight", address,
                   "    ssl_session_redis_lookup_timeout 5s;\n", "info") != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    if (handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, &sess, &rc) != 0
        || sess == NULL)
    {
        CU_FAIL("no session");
        goto done;
    }

    /* lookups from now on wait for ever, up to the timeout */

    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_SILENT);
    tsr_test_sleep_ms(1500);

    before = metric(nodes[0].status, "ssl_session_redis_lookups_total",
                    "outcome=\"skipped\"");

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        CU_FAIL("SSL_CTX_new() failed");
        goto done;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(nodes[0].port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* every ClientHello out, offering the session */

    for (i = 0; i < INFLIGHT_CONNS; i++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd == -1 || connect(fd, (struct sockaddr *) &sin, sizeof(sin))
                        != 0)
        {
            if (fd != -1) {
                close(fd);
            }

            CU_FAIL("connect() failed");
            goto finish;
        }

        one = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void) fcntl(fd, F_SETFL, O_NONBLOCK);

        fds[i] = fd;
        ssl[i] = SSL_new(ctx);

        if (ssl[i] == NULL || SSL_set_fd(ssl[i], fd) != 1
            || SSL_set_session(ssl[i], sess) != 1)
        {
            CU_FAIL("SSL_new() failed");
            goto finish;
        }

        (void) SSL_connect(ssl[i]);
    }

    /* the status is published every second */
    tsr_test_sleep_ms(1500);

    inflight = metric(nodes[0].status, "ssl_session_redis_inflight", NULL);
    skipped = metric(nodes[0].status, "ssl_session_redis_lookups_total",
                     "outcome=\"skipped\"") - before;

finish:

    /* then every handshake completes, the waiting ones at the timeout */

    start = tsr_test_now_ms();

    for ( ;; ) {
        n = 0;
        pending = 0;

        for (i = 0; i < INFLIGHT_CONNS; i++) {
            if (ssl[i] == NULL) {
                continue;
            }

            rc = SSL_connect(ssl[i]);

            if (rc == 1) {
                done_n++;
                reused += SSL_session_reused(ssl[i]);
                SSL_free(ssl[i]);
                ssl[i] = NULL;
                close(fds[i]);
                fds[i] = -1;
                continue;
            }

            rc = SSL_get_error(ssl[i], rc);

            if (rc != SSL_ERROR_WANT_READ && rc != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                SSL_free(ssl[i]);
                ssl[i] = NULL;
                close(fds[i]);
                fds[i] = -1;
                continue;
            }

            pfd[n].fd = fds[i];
            pfd[n].events = (rc == SSL_ERROR_WANT_READ) ? POLLIN : POLLOUT;
            n++;
            pending++;
        }

        if (pending == 0 || tsr_test_now_ms() - start > 20000) {
            break;
        }

        (void) poll(pfd, n, 100);
    }

    for (i = 0; i < INFLIGHT_CONNS; i++) {
        if (ssl[i] != NULL) {
            SSL_free(ssl[i]);
        }

        if (fds[i] != -1) {
            close(fds[i]);
        }
    }

    printf("\n    %d handshakes offering a session while redis does not "
           "answer: %lld lookups in flight at most (limit %d), %lld "
           "skipped, %d completed in %lld ms, %d resumed ", INFLIGHT_CONNS,
           inflight, INFLIGHT_LIMIT, skipped, done_n,
           tsr_test_now_ms() - start, reused);

    CU_ASSERT_EQUAL(done_n, INFLIGHT_CONNS);
    CU_ASSERT(inflight > 0 && inflight <= INFLIGHT_LIMIT);
    CU_ASSERT(skipped >= INFLIGHT_CONNS - INFLIGHT_LIMIT);
    CU_ASSERT_EQUAL(reused, 0);

done:

    SSL_SESSION_free(sess);
    SSL_CTX_free(ctx);
    nodes_stop();
    check_log(&nodes[0]);
    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL);
}


/*
 * A value over TSR_MAX_VALUE under a session's own key is a miss and
 * counted as a bad value; one at the limit that does not open is a miss
 * and counted as an open failure.
 */

static void
test_bound_value_size(void)
{
    int            reused, version, rc;
    char           address[64], hex[80], key[512], out[64];
    long long      bad, failures;
    SSL_SESSION   *sess;
    unsigned char *big;

    sess = NULL;

    big = malloc(TSR_MAX_VALUE + 1);
    if (big == NULL) {
        CU_FAIL("malloc() failed");
        return;
    }

    memset(big, 0x01, TSR_MAX_VALUE + 1);

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    if (node_start(&nodes[0], "sec-value", address, NULL, "info") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    for (version = TSR_TEST_TLS12; version <= TSR_TEST_TLS13; version++) {
        if (handshake(nodes[0].port, version, 0, NULL, &sess, &reused) != 0
            || sess == NULL || session_hex(sess, version, hex) != 0
            || find_key("tsr:s:", hex, key, sizeof(key)) != 0)
        {
            CU_FAIL("no session");
            goto done;
        }

        /* over the limit */

        rc = tsr_test_redis_cmd(&redis, out, sizeof(out), "SET %s %b", key,
                                big, (size_t) TSR_MAX_VALUE + 1);
        CU_ASSERT(rc == 0 && strcmp(out, "OK") == 0);

        CU_ASSERT_EQUAL(handshake(nodes[0].port, version, 0, sess, NULL,
                                  &reused), 0);
        CU_ASSERT_EQUAL(reused, 0);

        /* at the limit, not a sealed value */

        rc = tsr_test_redis_cmd(&redis, out, sizeof(out), "SET %s %b", key,
                                big, (size_t) TSR_MAX_VALUE);
        CU_ASSERT(rc == 0 && strcmp(out, "OK") == 0);

        CU_ASSERT_EQUAL(handshake(nodes[0].port, version, 0, sess, NULL,
                                  &reused), 0);
        CU_ASSERT_EQUAL(reused, 0);

        SSL_SESSION_free(sess);
        sess = NULL;
    }

    tsr_test_sleep_ms(1100);

    bad = metric(nodes[0].status, "ssl_session_redis_bad_values_total",
                 NULL);
    failures = metric(nodes[0].status,
                      "ssl_session_redis_open_failures_total", NULL);

    printf("\n    values of %d and %d bytes under sessions' keys: not "
           "resumed; %lld bad values, %lld values that did not open ",
           TSR_MAX_VALUE + 1, TSR_MAX_VALUE, bad, failures);

    CU_ASSERT(bad >= 2);
    CU_ASSERT(failures >= 2);

done:

    free(big);
    SSL_SESSION_free(sess);
    nodes_stop();
    check_log(&nodes[0]);
}


static int
big_ext_add(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
    int *al, void *arg)
{
    unsigned char  *p;

    p = OPENSSL_malloc(BIG_EXTENSION);
    if (p == NULL) {
        return -1;
    }

    memset(p, 0x5a, BIG_EXTENSION);

    *out = p;
    *outlen = BIG_EXTENSION;

    return 1;
}


static void
big_ext_free(SSL *ssl, unsigned int type, unsigned int context,
    const unsigned char *out, void *arg)
{
    OPENSSL_free((void *) out);
}


/*
 * A ClientHello longer than TSR_HELLO_MAX_PEEK (an extension of 20000
 * bytes) offering a session in Redis: the module does not look further
 * than the limit, so no lookup and no resumption, and the handshake
 * completes; the same session in a small ClientHello resumes.  20000
 * bytes of garbage are refused without harm.
 */

static void
test_bound_client_hello_peek(void)
{
    int                  fd, reused, big_reused, small_reused, rc;
    SSL                 *ssl;
    SSL_CTX             *ctx;
    SSL_SESSION         *sess;
    long long            start, elapsed;
    char                 address[64], junk[BIG_EXTENSION];
    struct timeval       tv;
    struct sockaddr_in   sin;

    ssl = NULL;
    ctx = NULL;
    sess = NULL;
    fd = -1;
    big_reused = -1;
    small_reused = -1;
    elapsed = -1;

    snprintf(address, sizeof(address), "127.0.0.1:%d", redis.port);

    if (node_start(&nodes[0], "sec-peek", address, NULL, "info") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    if (handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, &sess, &reused)
        != 0
        || sess == NULL)
    {
        CU_FAIL("no session");
        goto done;
    }

    tsr_test_sleep_ms(50);

    ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL
        || SSL_CTX_add_custom_ext(ctx, 65000, SSL_EXT_CLIENT_HELLO,
                                  big_ext_add, big_ext_free, NULL, NULL,
                                  NULL)
           != 1)
    {
        CU_FAIL("SSL_CTX_add_custom_ext() failed");
        goto done;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(nodes[0].port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    if (fd == -1
        || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0
        || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0)
    {
        CU_FAIL("connect() failed");
        goto done;
    }

    ssl = SSL_new(ctx);

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1
        || SSL_set_session(ssl, sess) != 1)
    {
        CU_FAIL("SSL_new() failed");
        goto done;
    }

    start = tsr_test_now_ms();
    rc = SSL_connect(ssl);
    elapsed = tsr_test_now_ms() - start;

    CU_ASSERT_EQUAL(rc, 1);

    if (rc == 1) {
        big_reused = SSL_session_reused(ssl);
    }

    ERR_clear_error();

    /* the same session in an ordinary ClientHello */

    CU_ASSERT_EQUAL(handshake(nodes[0].port, TSR_TEST_TLS12, 0, sess, NULL,
                              &small_reused), 0);
    CU_ASSERT_EQUAL(small_reused, 1);

    /* garbage of that size: refused, the worker serves on */

    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(junk, 0x16, sizeof(junk));

    if (fd != -1 && connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0)
    {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) write(fd, junk, sizeof(junk));
        (void) read(fd, junk, sizeof(junk));
    }

    CU_ASSERT_EQUAL(handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, NULL,
                              &reused), 0);

    printf("\n    a ClientHello of over %d bytes offering a stored "
           "session: handshake in %lld ms, resumed %d; the same session in "
           "an ordinary ClientHello resumed %d ", BIG_EXTENSION, elapsed,
           big_reused, small_reused);

    CU_ASSERT_EQUAL(big_reused, 0);

done:

    if (ssl != NULL) {
        SSL_free(ssl);
    }

    if (fd != -1) {
        close(fd);
    }

    SSL_CTX_free(ctx);
    SSL_SESSION_free(sess);
    nodes_stop();
    check_log(&nodes[0]);
}


/*
 * A Redis that never answers lookups holds a resuming handshake for the
 * lookup timeout and no longer: then it completes in full.  A timeout
 * over the 10 s limit fails nginx -t.
 */

static void
test_bound_lookup_timeout(void)
{
    int            i, reused, ok;
    long long      t, min, max;
    SSL_SESSION   *sess;
    char           address[64], server[128], out[3 * PATH_MAX + 512];

    sess = NULL;
    min = -1;
    max = -1;
    ok = 0;

    if (fake.pid == 0
        && tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_NORMAL) != 0)
    {
        CU_FAIL("fake redis did not start");
        return;
    }

    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL);

    snprintf(address, sizeof(address), "127.0.0.1:%d", fake.port);
    snprintf(server, sizeof(server),
             "    ssl_session_redis_lookup_timeout %dms;\n", SLOW_TIMEOUT_MS);

    if (node_start(&nodes[0], "sec-timeout", address, server, "info") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    if (handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, &sess, &reused)
        != 0
        || sess == NULL)
    {
        CU_FAIL("no session");
        goto done;
    }

    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_SILENT);

    /* let the worker reconnect after the switch */
    tsr_test_sleep_ms(1500);

    for (i = 0; i < 4; i++) {
        t = tsr_test_now_ms();

        if (handshake(nodes[0].port, TSR_TEST_TLS12, 0, sess, NULL, &reused)
            != 0)
        {
            continue;
        }

        t = tsr_test_now_ms() - t;
        ok++;

        min = (min == -1 || t < min) ? t : min;
        max = (t > max) ? t : max;
    }

    printf("\n    redis silent, lookup timeout %d ms: %d resuming "
           "handshakes completed in %lld-%lld ms ", SLOW_TIMEOUT_MS, ok, min,
           max);

    CU_ASSERT_EQUAL(ok, 4);

    /* the first may find the breaker closed; all are bounded */
    CU_ASSERT(max >= SLOW_TIMEOUT_MS - 20);
    CU_ASSERT(max < SLOW_TIMEOUT_MS + 700);

    /* over the limit: rejected at configuration time */

    snprintf(out, sizeof(out),
             "http { server { listen 127.0.0.1:1 ssl;\n"
             "  ssl_certificate %s/one.test.crt;\n"
             "  ssl_certificate_key %s/one.test.key;\n"
             "  ssl_session_redis 127.0.0.1:6379;\n"
             "  ssl_session_redis_fleet_key %s;\n"
             "  ssl_session_redis_lookup_timeout 11s; } }\n", certs, certs,
             key_file);

    if (tsr_test_nginx_init(&nodes[1].nginx, "sec-conf", NULL) == 0
        && tsr_test_nginx_write_conf(&nodes[1].nginx, 0, "info", out) == 0)
    {
        CU_ASSERT_NOT_EQUAL(tsr_test_nginx_test_conf(&nodes[1].nginx, out,
                                                     sizeof(out)), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "ssl_session_redis_lookup_timeout"));
    }

done:

    SSL_SESSION_free(sess);
    nodes_stop();
    check_log(&nodes[0]);
    (void) tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL);
}


/*
 * The ticket key ring in Redis holds 2 to TSR_TICKETS_MAX_KEYS keys: a
 * ring of TSR_TICKETS_MAX_KEYS loads, one more is rejected and the ring
 * in use stays.  Rings are sealed with the fleet key for the ring's key
 * name, as a node writes them.
 */

static void
test_bound_ticket_ring_size(void)
{
    int                 rc8, rc9, len;
    size_t              i, n, plen, vlen;
    char                err[256], name[TSR_MAX_KEY_NAME];
    uint64_t            gen, built, kgen;
    unsigned char       plain[18 + 16 * 96], val[4096], *r;
    tsr_keyring_t      *kr;
    tsr_tickets_t      *t;
    tsr_tickets_conf_t  conf;
    tsr_tickets_info_t  info;

    rc8 = -100;
    rc9 = -100;

    kr = tsr_keyring_create(err, sizeof(err));
    if (kr == NULL
        || tsr_keyring_add_key(kr, fleet_key, sizeof(fleet_key), err,
                               sizeof(err)) != TSR_OK)
    {
        CU_FAIL("no key ring");
        tsr_keyring_destroy(kr);
        return;
    }

    memset(&conf, 0, sizeof(tsr_tickets_conf_t));
    conf.keys = kr;
    conf.period_ms = 3600000;

    t = tsr_tickets_create(&conf, err, sizeof(err));
    len = (t != NULL) ? tsr_tickets_ring_key(t, name, sizeof(name)) : -1;

    if (t == NULL || len <= 0) {
        CU_FAIL("tsr_tickets_create() failed");
        goto done;
    }

    gen = 100;
    built = 1700000000000ULL;

    for (n = TSR_TICKETS_MAX_KEYS; n <= TSR_TICKETS_MAX_KEYS + 1; n++) {
        plain[0] = 1;

        for (i = 0; i < 8; i++) {
            plain[1 + i] = (unsigned char) (gen >> (56 - 8 * i));
            plain[9 + i] = (unsigned char) (built >> (56 - 8 * i));
        }

        plain[17] = (unsigned char) n;

        for (i = 0; i < n; i++) {
            r = plain + 18 + i * 96;
            kgen = gen + 1 - i;

            memset(r, 0, 96);

            for (len = 0; len < 8; len++) {
                r[len] = (unsigned char) (kgen >> (56 - 8 * len));
                r[8 + len] = (kgen + 1 < gen)
                    ? (unsigned char) ((built - 1000 * (gen - kgen))
                                       >> (56 - 8 * len))
                    : 0;
            }

            memset(r + 16, (int) kgen, 16);
            memset(r + 32, 0x33, 64);
        }

        plen = 18 + n * 96;

        /* clear header: generation, rotated at */
        for (i = 0; i < 8; i++) {
            val[i] = plain[1 + i];
            val[8 + i] = (unsigned char) ((built + 10) >> (56 - 8 * i));
        }

        vlen = sizeof(val) - 16;

        if (tsr_seal(kr, name, strlen(name), plain, plen, val + 16, &vlen)
            != TSR_OK)
        {
            CU_FAIL("tsr_seal() failed");
            goto done;
        }

        if (n == TSR_TICKETS_MAX_KEYS) {
            rc8 = tsr_tickets_load_value(t, val, 16 + vlen);

        } else {
            gen++;
            rc9 = tsr_tickets_load_value(t, val, 16 + vlen);
        }
    }

    CU_ASSERT_EQUAL(tsr_tickets_info(t, &info), TSR_OK);

    printf("\n    ticket rings: %d keys loaded (%s), %d keys rejected (%s), "
           "generation in use %llu ", TSR_TICKETS_MAX_KEYS,
           tsr_strerror(rc8), TSR_TICKETS_MAX_KEYS + 1, tsr_strerror(rc9),
           (unsigned long long) info.gen);

    CU_ASSERT_EQUAL(rc8, TSR_OK);
    CU_ASSERT_EQUAL(rc9, TSR_EPROTO);
    CU_ASSERT_EQUAL(info.gen, 100);
    CU_ASSERT_EQUAL(info.nkeys, TSR_TICKETS_MAX_KEYS);

done:

    tsr_tickets_destroy(t);
    tsr_keyring_destroy(kr);
}


/*
 * A node for the server-name rule and for strangers' offers: one listener
 * with one.test (the default) and two.test, stateful sessions in nginx's
 * shared cache and in Redis; a second listener (port2) with the same two
 * servers and fleet ticket keys, ticket-less clients getting session ids
 * there.
 */

static int
sni_node_start(node_t *nd, const char *tag)
{
    int   i, len, reused;
    char  body[16384];

    node_stop(nd);
    memset(nd, 0, sizeof(node_t));

    if (tsr_test_nginx_init(&nd->nginx, tag, NULL) != 0) {
        return -1;
    }

    nd->port = tsr_test_free_port();
    nd->port2 = tsr_test_free_port();

    if (nd->port == -1 || nd->port2 == -1) {
        return -1;
    }

    len = snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "  ssl_protocols TLSv1.2 TLSv1.3;\n"
             "  ssl_session_timeout 10m;\n"
             "  ssl_session_redis_fleet_key %s;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name one.test;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_cache shared:S:1m;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    location / { return 200 \"one\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name two.test;\n"
             "    ssl_certificate %s/two.test.crt;\n"
             "    ssl_certificate_key %s/two.test.key;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_cache shared:S:1m;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    location / { return 200 \"two\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name one.test;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_session_tickets on;\n"
             "    ssl_session_cache shared:T:1m;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"one\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name two.test;\n"
             "    ssl_certificate %s/two.test.crt;\n"
             "    ssl_certificate_key %s/two.test.key;\n"
             "    ssl_session_tickets on;\n"
             "    ssl_session_cache shared:T:1m;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    location / { return 200 \"two\\n\"; }\n"
             "  }\n"
             "}\n",
             key_file, nd->port, certs, certs, redis.port, nd->port, certs,
             certs, redis.port, nd->port2, certs, certs, redis.port,
             nd->port2, certs, certs, redis.port);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    if (tsr_test_nginx_write_conf(&nd->nginx, 0, "info", body) != 0
        || tsr_test_nginx_start(&nd->nginx) != 0)
    {
        return -1;
    }

    nd->running = 1;

    for (i = 0; i < 50; i++) {
        if (handshake(nd->port, TSR_TEST_TLS13, 0, NULL, NULL, &reused)
            == 0)
        {
            tsr_test_sleep_ms(100);
            return 0;
        }

        tsr_test_sleep_ms(100);
    }

    return -1;
}


/* a handshake and a request, with a server name */

static int
offer(int port, int version, const char *sni, int tickets,
    SSL_SESSION *sess, SSL_SESSION **out, int *reused)
{
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.sni = sni;
    opts.tickets = tickets;
    opts.offer = sess;
    opts.request = 1;
    opts.timeout_ms = 5000;

    *reused = 0;

    return tsr_test_tls_once(port, &opts, out, reused);
}


/*
 * As check_log(), but handshakes the test made fail on purpose may leave
 * lines naming "expected" at [crit] (nginx's level for unknown reasons).
 */

static void
check_log_but(node_t *nd, const char *expected)
{
    int  problems, known;

    if (nd->nginx.error_log[0] == '\0') {
        return;
    }

    problems = tsr_test_nginx_log_problems(&nd->nginx);
    known = tsr_test_grep_count(nd->nginx.error_log, expected);

    if (known > 0) {
        problems -= known;
    }

    CU_ASSERT_EQUAL(problems, 0);
    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines or crashes in "
                "%s\n", problems, nd->nginx.error_log);
    }
}


/*
 * The module's own name check runs where its ClientHello parser agrees
 * to look up; a ClientHello over TSR_HELLO_MAX_PEEK (a 17000-byte private
 * extension, two records) goes to OpenSSL undecided, and OpenSSL asks the
 * get-session callback, nginx's shared cache behind it.  A session made
 * for one.test, the default server, offered under two.test in such a
 * ClientHello must not resume; under one.test it must.
 */

static void
name_rule_padded(int version)
{
    int                 i, reused, foreign, own, plain;
    SSL_SESSION        *sess;
    tsr_test_client_t   opts;

    foreign = 0;
    own = 0;
    plain = 0;

    if (sni_node_start(&nodes[0], "sec-sni-pad") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    for (i = 0; i < TRIES; i++) {
        sess = NULL;

        if (offer(nodes[0].port, version, "one.test", 0, NULL, &sess,
                  &reused)
            != 0
            || sess == NULL)
        {
            CU_FAIL("no session for one.test");
            continue;
        }

        memset(&opts, 0, sizeof(tsr_test_client_t));

        opts.version = version;
        opts.offer = sess;
        opts.request = 1;
        opts.timeout_ms = 5000;
        opts.pad = PAD_EXTENSION;

        /* padded, under the other name: a full handshake */

        opts.sni = "two.test";

        if (tsr_test_tls_once(nodes[0].port, &opts, NULL, &reused) != 0) {
            CU_FAIL("padded handshake for two.test failed");
        }

        foreign += reused;

        /* padded, under its own name: resumed, from the shared cache */

        opts.sni = "one.test";

        if (tsr_test_tls_once(nodes[0].port, &opts, NULL, &reused) == 0) {
            own += reused;
        }

        /* not padded, under the other name: refused as before */

        if (offer(nodes[0].port, version, "two.test", 0, sess, NULL,
                  &reused)
            == 0)
        {
            plain += reused;
        }

        SSL_SESSION_free(sess);
    }

    printf("\n    TLSv1.%d, a ClientHello padded to over %d bytes: "
           "sessions for one.test resumed under two.test %d of %d, under "
           "one.test %d of %d; not padded, under two.test %d of %d ",
           version == TSR_TEST_TLS13 ? 3 : 2, PAD_EXTENSION, foreign, TRIES,
           own, TRIES, plain, TRIES);

    CU_ASSERT_EQUAL(foreign, 0);
    CU_ASSERT_EQUAL(own, TRIES);
    CU_ASSERT_EQUAL(plain, 0);

done:

    nodes_stop();
    check_log(&nodes[0]);
}


static void
test_name_rule_holds_in_a_padded_client_hello_tls12(void)
{
    name_rule_padded(TSR_TEST_TLS12);
}


static void
test_name_rule_holds_in_a_padded_client_hello_tls13(void)
{
    name_rule_padded(TSR_TEST_TLS13);
}


/*
 * A TLS 1.3 ClientHello whose first PSK identity is unknown (a fleet
 * ticket of the other listener) and whose second is a one.test session's
 * stateful ticket: the module's parser declines, OpenSSL asks the
 * get-session callback for the second identity.  OpenSSL's client binds
 * a second identity as an external PSK, so a server that accepts the
 * session then fails the binder: under one.test the handshake fails
 * (the session was found), under two.test it must complete in full (the
 * session was refused).
 */

static void
test_name_rule_holds_for_a_second_psk_identity(void)
{
    int                 i, rc, reused, foreign, own, full;
    SSL_SESSION        *sess, *other;
    tsr_test_client_t   opts;

    foreign = 0;
    own = 0;
    full = 0;

    if (sni_node_start(&nodes[0], "sec-sni-psk") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    for (i = 0; i < TRIES; i++) {
        sess = NULL;
        other = NULL;

        if (offer(nodes[0].port, TSR_TEST_TLS13, "one.test", 0, NULL, &sess,
                  &reused)
            != 0
            || sess == NULL
            || offer(nodes[0].port2, TSR_TEST_TLS13, NULL, 1, NULL, &other,
                     &reused)
               != 0
            || other == NULL)
        {
            CU_FAIL("no sessions");
            SSL_SESSION_free(sess);
            continue;
        }

        memset(&opts, 0, sizeof(tsr_test_client_t));

        opts.version = TSR_TEST_TLS13;
        opts.offer = other;
        opts.psk2 = sess;
        opts.request = 1;
        opts.timeout_ms = 5000;

        opts.sni = "two.test";

        rc = tsr_test_tls_once(nodes[0].port, &opts, NULL, &reused);

        if (rc != 0) {
            foreign++;

        } else if (!reused) {
            full++;
        }

        opts.sni = "one.test";

        if (tsr_test_tls_once(nodes[0].port, &opts, NULL, &reused) != 0) {
            own++;
        }

        SSL_SESSION_free(sess);
        SSL_SESSION_free(other);
    }

    printf("\n    TLSv1.3, a one.test session as the second PSK "
           "identity: found under two.test %d of %d (full handshakes %d), "
           "under one.test %d of %d ", foreign, TRIES, full, own, TRIES);

    CU_ASSERT_EQUAL(foreign, 0);
    CU_ASSERT_EQUAL(full, TRIES);
    CU_ASSERT_EQUAL(own, TRIES);

done:

    nodes_stop();
    check_log_but(&nodes[0], "binder does not verify");
}


/*
 * Stateless tickets under the fleet's keys never pass the get-session
 * callback: a ticket made for one.test must not resume under two.test
 * on the same listener, and must resume under one.test.
 */

static void
name_rule_tickets(int version)
{
    int           i, reused, foreign, own;
    SSL_SESSION  *sess;

    foreign = 0;
    own = 0;

    if (sni_node_start(&nodes[0], "sec-sni-ticket") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    for (i = 0; i < TRIES; i++) {
        sess = NULL;

        if (offer(nodes[0].port2, version, "one.test", 1, NULL, &sess,
                  &reused)
            != 0
            || sess == NULL
            || !SSL_SESSION_has_ticket(sess))
        {
            CU_FAIL("no ticket for one.test");
            SSL_SESSION_free(sess);
            continue;
        }

        if (offer(nodes[0].port2, version, "two.test", 1, sess, NULL,
                  &reused)
            != 0)
        {
            CU_FAIL("handshake for two.test failed");
        }

        foreign += reused;

        if (offer(nodes[0].port2, version, "one.test", 1, sess, NULL,
                  &reused)
            == 0)
        {
            own += reused;
        }

        SSL_SESSION_free(sess);
    }

    printf("\n    TLSv1.%d, fleet tickets made for one.test: resumed "
           "under two.test %d of %d, under one.test %d of %d ",
           version == TSR_TEST_TLS13 ? 3 : 2, foreign, TRIES, own, TRIES);

    CU_ASSERT_EQUAL(foreign, 0);
    CU_ASSERT_EQUAL(own, TRIES);

done:

    nodes_stop();
    check_log(&nodes[0]);
}


static void
test_name_rule_holds_for_fleet_tickets_tls12(void)
{
    name_rule_tickets(TSR_TEST_TLS12);
}


static void
test_name_rule_holds_for_fleet_tickets_tls13(void)
{
    name_rule_tickets(TSR_TEST_TLS13);
}


/*
 * A stranger who saw a victim's TLS 1.2 session id (it travels in clear)
 * offers it with a cipher list without the session's cipher: OpenSSL
 * finds the session, refuses with a fatal alert and calls the remove
 * callback.  On the listener with fleet ticket keys the stranger sends
 * a ticket of its own with the victim's id as the session id, which
 * OpenSSL gives the decrypted session.  Either way the session stays in
 * Redis and resumes on the other node, and on the attacked one.
 */

static void
test_stranger_offer_cannot_delete_a_session_fleet_wide(void)
{
    int                   i, k, reused, refused, kept, other, again;
    unsigned int          idlen;
    SSL_SESSION          *sess, *own, *forged;
    const char           *ciphers;
    const SSL_CIPHER     *c;
    tsr_test_client_t     opts;
    const unsigned char  *id;
    char                  hex[2 * TSR_MAX_SESSION_ID + 1];
    char                  key[TSR_MAX_KEY_NAME], out[64];

    refused = 0;
    kept = 0;
    other = 0;
    again = 0;

    if (sni_node_start(&nodes[0], "sec-evict-a") != 0
        || sni_node_start(&nodes[1], "sec-evict-b") != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (i = 0; i < 2 * TRIES; i++) {
        k = i % 2;
        sess = NULL;
        own = NULL;
        forged = NULL;

        /* the victim: a session id on A's plain or ticket listener */

        if (offer(k ? nodes[0].port2 : nodes[0].port, TSR_TEST_TLS12, NULL,
                  0, NULL, &sess, &reused)
            != 0
            || sess == NULL
            || session_hex(sess, TSR_TEST_TLS12, hex) != 0
            || find_key("tsr:s:", hex, key, sizeof(key)) != 0)
        {
            CU_FAIL("no stored session");
            goto next;
        }

        if (k) {
            if (offer(nodes[0].port2, TSR_TEST_TLS12, NULL, 1, NULL, &own,
                      &reused)
                != 0
                || own == NULL
                || !SSL_SESSION_has_ticket(own))
            {
                CU_FAIL("no ticket");
                goto next;
            }

            id = SSL_SESSION_get_id(sess, &idlen);
            forged = SSL_SESSION_dup(own);

            if (forged == NULL
                || SSL_SESSION_set1_id(forged, id, idlen) != 1)
            {
                CU_FAIL("SSL_SESSION_set1_id() failed");
                goto next;
            }

        } else {
            forged = SSL_SESSION_dup(sess);
            if (forged == NULL) {
                CU_FAIL("SSL_SESSION_dup() failed");
                goto next;
            }
        }

        c = SSL_SESSION_get0_cipher(forged);
        ciphers = (c != NULL && strcmp(SSL_CIPHER_get_name(c),
                                       "ECDHE-ECDSA-AES128-GCM-SHA256")
                                == 0)
                  ? "ECDHE-ECDSA-AES256-GCM-SHA384"
                  : "ECDHE-ECDSA-AES128-GCM-SHA256";

        memset(&opts, 0, sizeof(tsr_test_client_t));

        opts.version = TSR_TEST_TLS12;
        opts.tickets = k;
        opts.offer = forged;
        opts.ciphers = ciphers;
        opts.request = 1;
        opts.timeout_ms = 5000;

        if (tsr_test_tls_once(k ? nodes[0].port2 : nodes[0].port, &opts,
                              NULL, &reused)
            != 0)
        {
            refused++;
        }

        /* a DEL would have left by now */

        tsr_test_sleep_ms(100);

        if (tsr_test_redis_cmd(&redis, out, sizeof(out), "EXISTS %s", key)
            == 0
            && strcmp(out, "1") == 0)
        {
            kept++;
        }

        if (offer(k ? nodes[1].port2 : nodes[1].port, TSR_TEST_TLS12, NULL,
                  0, sess, NULL, &reused)
            == 0)
        {
            other += reused;
        }

        if (offer(k ? nodes[0].port2 : nodes[0].port, TSR_TEST_TLS12, NULL,
                  0, sess, NULL, &reused)
            == 0)
        {
            again += reused;
        }

    next:

        SSL_SESSION_free(sess);
        SSL_SESSION_free(own);
        SSL_SESSION_free(forged);
    }

    printf("\n    TLSv1.2, %d strangers' offers (half with a ticket of "
           "their own) of victims' session ids without their cipher: "
           "refused %d, sessions kept in Redis %d, resumed on the other "
           "node %d, on the attacked one %d ", 2 * TRIES, refused, kept,
           other, again);

    CU_ASSERT_EQUAL(refused, 2 * TRIES);
    CU_ASSERT_EQUAL(kept, 2 * TRIES);
    CU_ASSERT_EQUAL(other, 2 * TRIES);
    CU_ASSERT_EQUAL(again, 2 * TRIES);

done:

    nodes_stop();
    check_log_but(&nodes[0], "required cipher missing");
    check_log_but(&nodes[1], "required cipher missing");
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_value_under_another_key_never_opens_tls12),
        TSR_TEST_FN(test_value_under_another_key_never_opens_tls13),
        TSR_TEST_FN(test_client_verify_settings_isolate_tls12),
        TSR_TEST_FN(test_client_verify_settings_isolate_tls13),
        TSR_TEST_FN(test_auth_password_file_acl_user_unix_socket),
        TSR_TEST_FN(test_debug_log_holds_no_secret),
        TSR_TEST_FN(test_bound_lookups_in_flight),
        TSR_TEST_FN(test_bound_value_size),
        TSR_TEST_FN(test_bound_client_hello_peek),
        TSR_TEST_FN(test_bound_lookup_timeout),
        TSR_TEST_FN(test_bound_ticket_ring_size),
        TSR_TEST_FN(test_name_rule_holds_in_a_padded_client_hello_tls12),
        TSR_TEST_FN(test_name_rule_holds_in_a_padded_client_hello_tls13),
        TSR_TEST_FN(test_name_rule_holds_for_a_second_psk_identity),
        TSR_TEST_FN(test_name_rule_holds_for_fleet_tickets_tls12),
        TSR_TEST_FN(test_name_rule_holds_for_fleet_tickets_tls13),
        TSR_TEST_FN(test_stranger_offer_cannot_delete_a_session_fleet_wide),
        TSR_TEST_FN(test_tls_redis_cross_node),
        TSR_TEST_FN(test_tls_redis_stalled_handshake_never_blocks),
        TSR_TEST_FN(test_managed_redis_forms),
        TSR_TEST_FN(test_old_redis_is_named_in_the_log_and_handshakes_go_on)
    };

    return TSR_TEST_MAIN("security", init_suite, clean_suite, tests);
}


/*
 * Two nodes on a Redis that speaks TLS only to them (rediss://, its CA,
 * its name): sessions made on one resume on the other, TLS 1.2 ids and
 * TLS 1.3 stateful, and fleet tickets too.
 */

static void
test_tls_redis_cross_node(void)
{
    int               i, v, port, rc, made, moved[2], own[2], failed;
    int               tickets;
    char              dir[256], address[1024];
    tsr_test_redis_t  tr;

    if (tsr_test_redis_start_tls(&tr, dir, sizeof(dir), &port, 0) != 0) {
        CU_FAIL("redis with TLS did not start");
        return;
    }

    snprintf(address, sizeof(address), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test", port,
             dir);

    if (node_start(&nodes[0], "tls-a", address, SLOW_OK, "info") != 0
        || node_start(&nodes[1], "tls-b", address, SLOW_OK, "info") != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    failed = 0;

    for (v = 0; v < 2; v++) {
        moved[v] = 0;
        own[v] = 0;

        for (i = 0; i < TRIES * 2; i++) {
            rc = resumes(nodes[i % 2].port, nodes[(i + 1) % 2].port,
                         v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13, &made);

            if (rc < 0) {
                failed++;
                continue;
            }

            moved[v] += rc;
            own[v] += made;
        }
    }

    /* fleet tickets: the ring itself came through TLS */

    tickets = 0;

    for (i = 0; i < TRIES * 2; i++) {
        rc = resumes(nodes[i % 2].port2, nodes[(i + 1) % 2].port2,
                     i < TRIES ? TSR_TEST_TLS12 : TSR_TEST_TLS13, NULL);

        if (rc < 0) {
            failed++;
            continue;
        }

        tickets += rc;
    }

    printf("\n    redis over TLS: resumed on the other node, TLS 1.2 %d of "
           "%d, TLS 1.3 %d of %d, fleet tickets %d of %d; on their own "
           "node %d and %d; %d failed handshakes ", moved[0], TRIES * 2,
           moved[1], TRIES * 2, tickets, TRIES * 2, own[0], own[1], failed);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(moved[0], TRIES * 2);
    CU_ASSERT_EQUAL(moved[1], TRIES * 2);
    CU_ASSERT_EQUAL(tickets, TRIES * 2);

done:

    nodes_stop();

    for (i = 0; i < 2; i++) {
        check_log(&nodes[i]);
    }

    (void) tsr_test_redis_stop(&tr);
}


/*
 * The addresses of the README's "Managed Redis" section, each as written
 * there but for host and port, against one real Redis that has them all:
 * a TLS port (client certificates checked when given), requirepass for
 * the default user, an ACL user, a unix socket.  Two nodes resume each
 * other's sessions through every form (TLS 1.2 and 1.3), and the
 * sessions land in the database the form names.
 */

static void
managed_form(int f, char *address, size_t len, const char *dir, int tls_port,
    const tsr_test_redis_t *r)
{
    switch (f) {

    case 0:
        snprintf(address, len, "rediss://127.0.0.1:%d "
                 "tls_ca_file=%s/redis.crt tls_server_name=redis.test "
                 "password_file=%s/default.pass",
                 tls_port, dir, dir);
        break;

    case 1:
        snprintf(address, len, "rediss://127.0.0.1:%d "
                 "tls_ca_file=%s/redis.crt tls_server_name=redis.test "
                 "user=nginx password_file=%s/nginx.pass", tls_port, dir,
                 dir);
        break;

    case 2:
        snprintf(address, len, "rediss://127.0.0.1:%d "
                 "tls_ca_file=%s/redis.crt "
                 "tls_server_name=redis.test tls_cert_file=%s/other.crt "
                 "tls_key_file=%s/other.key user=nginx "
                 "password_file=%s/nginx.pass", tls_port, dir, dir, dir, dir);
        break;

    case 3:
        snprintf(address, len, "rediss://nginx:nginx%%2Dpass@127.0.0.1:%d/3 "
                 "tls_ca_file=%s/redis.crt tls_server_name=redis.test",
                 tls_port, dir);
        break;

    case 4:
        snprintf(address, len, "redis://nginx:nginx-pass@127.0.0.1:%d/5",
                 r->port);
        break;

    default:
        snprintf(address, len, "unix://%s?db=2 password_file=%s/default.pass",
                 r->unix_path, dir);
        break;
    }
}


static void
test_managed_redis_forms(void)
{
    int               i, v, f, rc, moved, failed, keys;
    char              dir[256], pass[PATH_MAX], address[8192], out[4096];
    char              field[16], *p;
    tsr_test_redis_t  r;
    int               tls_port;

    static const char *const  names[] = {
        "TLS, password of the default user (Azure, Memorystore AUTH)",
        "TLS, an ACL user (ElastiCache RBAC, Redis Enterprise)",
        "TLS, a client certificate too",
        "a provider's URI, credentials and database in it",
        "redis:// with a database",
        "a unix socket with a database"
    };
    static const int          dbs[] = { 0, 0, 0, 3, 5, 2 };

    memset(&r, 0, sizeof(tsr_test_redis_t));
    failed = 0;

    snprintf(r.password, sizeof(r.password), "default-pass");
    snprintf(r.extra, sizeof(r.extra),
             "user nginx on >nginx-pass ~* &* +@all\n");

    tls_port = tsr_test_free_port();

    if (tls_port == -1
        || tsr_test_tls_certs(dir, sizeof(dir)) != 0
        || tsr_test_redis_add_tls(&r, dir, tls_port, 2) != 0
        || tsr_test_redis_start(&r) != 0)
    {
        CU_FAIL("redis did not start");
        return;
    }

    snprintf(pass, sizeof(pass), "%s/default.pass", dir);

    if (tsr_test_write_file(pass, "default-pass\n", 13, 0600) != 0) {
        CU_FAIL("no password file");
        goto done;
    }

    snprintf(pass, sizeof(pass), "%s/nginx.pass", dir);

    if (tsr_test_write_file(pass, "nginx-pass\n", 11, 0600) != 0) {
        CU_FAIL("no password file");
        goto done;
    }

    for (f = 0; f < (int) (sizeof(dbs) / sizeof(dbs[0])); f++) {
        managed_form(f, address, sizeof(address), dir, tls_port, &r);

        if (node_start(&nodes[0], "form-a", address, SLOW_OK, "info") != 0
            || node_start(&nodes[1], "form-b", address, SLOW_OK, "info")
               != 0)
        {
            printf("\n    %s: the nodes did not start ", names[f]);
            CU_FAIL("nodes did not start");
            nodes_stop();
            continue;
        }

        moved = 0;

        for (v = 0; v < 2; v++) {
            for (i = 0; i < TRIES; i++) {
                rc = resumes(nodes[i % 2].port, nodes[(i + 1) % 2].port,
                             v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13, NULL);

                if (rc < 0) {
                    failed++;
                    continue;
                }

                moved += rc;
            }
        }

        /* the sessions are in the database the form names */

        keys = 0;
        snprintf(field, sizeof(field), "db%d:keys=", dbs[f]);

        if (tsr_test_redis_cmd(&r, out, sizeof(out), "INFO keyspace") == 0
            && (p = strstr(out, field)) != NULL)
        {
            keys = atoi(p + strlen(field));
        }

        printf("\n    %s: %d of %d resumed on the other node, %d keys in "
               "db %d ", names[f], moved, TRIES * 2, keys,
               dbs[f]);

        CU_ASSERT_EQUAL(moved, TRIES * 2);
        CU_ASSERT(keys > 0);

        nodes_stop();

        for (i = 0; i < 2; i++) {
            check_log(&nodes[i]);
        }

        (void) tsr_test_redis_cmd(&r, out, sizeof(out), "FLUSHALL");
    }

    CU_ASSERT_EQUAL(failed, 0);

done:

    nodes_stop();
    (void) tsr_test_redis_stop(&r);
}


/*
 * A "Redis" that accepts TCP connections and never answers, so the TLS
 * handshake to it never ends: handshakes with clients go on at once, with
 * a full handshake each (nothing is found), none fails.
 */

static void
test_tls_redis_stalled_handshake_never_blocks(void)
{
    int                   i, reused, failed, resumed;
    char                  address[256];
    long long             start, slowest, t;
    SSL_SESSION          *sess;
    tsr_test_fakeredis_t  mute;

    memset(&mute, 0, sizeof(tsr_test_fakeredis_t));

    if (tsr_test_fakeredis_start(&mute, TSR_TEST_FAKE_MUTE) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "rediss://127.0.0.1:%d "
             "tls_server_name=redis.test", mute.port);

    if (node_start(&nodes[0], "tls-stall", address, NULL, "info") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    failed = 0;
    resumed = 0;
    slowest = 0;
    sess = NULL;

    if (handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, &sess, &reused)
        != 0)
    {
        failed++;
    }

    for (i = 0; i < 40; i++) {
        start = tsr_test_now_ms();

        if (handshake(nodes[0].port, i % 2 ? TSR_TEST_TLS13 : TSR_TEST_TLS12,
                      0, i % 2 ? NULL : sess, NULL, &reused)
            != 0)
        {
            failed++;
        }

        resumed += reused;

        t = tsr_test_now_ms() - start;
        slowest = t > slowest ? t : slowest;
    }

    SSL_SESSION_free(sess);

    printf("\n    redis stalls its TLS handshake: 40 handshakes, %d failed, "
           "%d resumed, slowest %lld ms (a lookup's deadline is 20 ms) ",
           failed, resumed, slowest);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT(slowest < 1000);

done:

    nodes_stop();
    tsr_test_fakeredis_stop(&mute);
}


/*
 * Redis too old for a setting, through nginx (the fake speaking as an
 * old version): user= on 5.0.7 is one clear error in error.log, at most
 * once a second, and every handshake still completes; single use on
 * 6.0.16 resumes a session once, through the script, which is said once
 * at info level with the version.
 */

static void
test_old_redis_is_named_in_the_log_and_handshakes_go_on(void)
{
    int                    i, n, all, ok, reused;
    long long              start, secs;
    SSL_SESSION           *sess;
    tsr_test_fakeredis_t   old;
    char                   address[3 * PATH_MAX], want[256];
    char                   attempts[320];

    sess = NULL;

    if (tsr_test_fakeredis_start_version(&old, TSR_TEST_FAKE_NORMAL, "5.0.7")
        != 0)
    {
        CU_FAIL("fake redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d user=tsruser "
             "password_file=%s/user.pass", old.port, certs);
    snprintf(want, sizeof(want), "redis at 127.0.0.1:%d is 5.0.7: user= "
             "needs ACL users, Redis 6.0 or later", old.port);

    start = tsr_test_now_ms();

    if (node_start(&nodes[0], "sec-old", address, NULL, "info") != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    ok = 0;

    for (i = 0; i < 4; i++) {
        ok += (handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, NULL,
                         &reused)
               == 0);
        ok += (handshake(nodes[0].port, TSR_TEST_TLS13, 0, NULL, NULL,
                         &reused)
               == 0);
    }

    CU_ASSERT_EQUAL(ok, 8);

    tsr_test_sleep_ms(1500);
    node_stop(&nodes[0]);

    secs = (tsr_test_now_ms() - start) / 1000 + 1;

    /*
     * The connection's attempts, logged at most once per second of the
     * clock (so once more than the whole seconds elapsed); the ticket
     * ring's load at the worker's start says it too, and its "no ring
     * yet", once each.
     */
    snprintf(attempts, sizeof(attempts), "%s, next attempt in", want);
    n = tsr_test_grep_count(nodes[0].nginx.error_log, attempts);
    all = tsr_test_grep_count(nodes[0].nginx.error_log, want);

    printf("\n    user= on 5.0.7: %d handshakes of 8, \"%s\" %d times in "
           "%lld s, %d lines in all ", ok, want, n, secs, all);

    CU_ASSERT(n >= 1);
    CU_ASSERT(n <= secs + 1);
    CU_ASSERT(all <= n + 2);
    CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[0].nginx.error_log,
                                        USER_PASSWORD),
                    0);
    check_log(&nodes[0]);

    tsr_test_fakeredis_stop(&old);

    /* single use before 6.2 */

    if (tsr_test_fakeredis_start_version(&old, TSR_TEST_FAKE_NORMAL,
                                         "6.0.16")
        != 0)
    {
        CU_FAIL("fake redis did not start");
        return;
    }

    snprintf(address, sizeof(address), "127.0.0.1:%d", old.port);
    snprintf(want, sizeof(want), "redis at 127.0.0.1:%d is 6.0.16: GETDEL "
             "needs Redis 6.2 or later, single use takes sessions with a "
             "script (EVAL) instead", old.port);

    if (node_start(&nodes[0], "sec-old-su", address,
                   "    ssl_session_redis_single_use on;", "info")
        != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    CU_ASSERT_EQUAL(handshake(nodes[0].port, TSR_TEST_TLS12, 0, NULL, &sess,
                              &reused),
                    0);
    tsr_test_sleep_ms(300);

    if (sess != NULL) {
        CU_ASSERT_EQUAL(handshake(nodes[0].port, TSR_TEST_TLS12, 0, sess,
                                  NULL, &reused),
                        0);
        CU_ASSERT_EQUAL(reused, 1);

        CU_ASSERT_EQUAL(handshake(nodes[0].port, TSR_TEST_TLS12, 0, sess,
                                  NULL, &reused),
                        0);
        CU_ASSERT_EQUAL(reused, 0);
    }

    node_stop(&nodes[0]);

    CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[0].nginx.error_log, want), 1);
    CU_ASSERT_EQUAL(tsr_test_grep_count(nodes[0].nginx.error_log,
                                        "has no GETDEL"),
                    0);
    check_log(&nodes[0]);

done:

    SSL_SESSION_free(sess);
    nodes_stop();
    tsr_test_fakeredis_stop(&old);
}
