
/*
 * Metrics and $ssl_session_redis: known traffic against nginx nodes
 * sharing one private Redis, then the exact counts scraped from
 * ssl_session_redis_status (plain HTTP on a second listener), checked
 * against the outcomes $ssl_session_redis wrote to the access logs, line
 * by line.  Every scrape must also be valid Prometheus text.
 */


#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define SCRAPE_MAX       (256 * 1024)
#define READY_MS         15000
#define QUIET_MS         1500
#define FULL             4
#define RESUMED          3
#define SLOW_DELAY_MS    300
#define SLOW_TIMEOUT     "50ms"
#define WORKERS_FULL     20
#define WORKERS_RESUMED  10
#define HOLD_CLIENTS     16
#define HOLD_ROUNDS      15
#define LOG_MAX          4096

/*
 * Sessions a handshake makes, as the design yields: a TLS 1.2 full
 * handshake one, a resumption none; OpenSSL sends TLS 1.3 clients two
 * stateful tickets after a full handshake and one after a resumption,
 * and each ticket is a session of its own in Redis.
 */
/* the module has OpenSSL send one TLSv1.3 stateful ticket, not two */
#define FULL_SESSIONS(v)     1
#define RESUMED_SESSIONS(v)  ((v) == TSR_TEST_TLS13 ? 1 : 0)


typedef struct {
    int                 workers;
    int                 cache;          /* ssl_session_cache shared */
    int                 tickets;        /* fleet tickets instead of ids */
    int                 stream;         /* a stream server as well */
    int                 names;          /* servers named "one.test" and
                                           "~^re\.test$" as well */
    int                 redis_port;
    const char         *timeout;        /* ssl_session_redis_lookup_timeout */
} node_opts_t;

typedef struct {
    tsr_test_nginx_t    nginx;
    node_opts_t         opts;
    int                 running;
    int                 status_port;    /* plain http, the status */
    int                 tls_port;       /* http with the module */
    int                 plain_port;     /* http ssl without the module */
    int                 stream_port;    /* stream with the module */
    int                 stream_plain_port;  /* stream ssl without it */
    int                 same_port;      /* another server "one.test" */
    int                 regex_port;     /* server "~^re\.test$" */
    char                tls_log[PATH_MAX];
    char                plain_log[PATH_MAX];
    char                stream_log[PATH_MAX];
    char                stream_plain_log[PATH_MAX];
    char                stream_name[PATH_MAX + 32];
} node_t;


static int init_suite(void);
static int clean_suite(void);
static int redis_fresh(void);
static int node_write(node_t *nd, const char *tag, const node_opts_t *opts);
static int node_start(node_t *nd);
static void node_stop(node_t *nd);
static void node_check_log(node_t *nd);
static int scrape(node_t *nd, char *buf, size_t size);
static double fvalue(const char *text, const char *fmt, ...);
static double vfvalue(const char *text, const char *fmt, va_list args);
static long long value(const char *text, const char *fmt, ...);
static long long lookups(const char *text, const char *subsystem,
    const char *server, const char *outcome);
static long long server_counter(const char *text, const char *name,
    const char *subsystem, const char *server);
static long long subsystem_value(const char *text, const char *name,
    const char *subsystem);
static const char *build_label(const char *text, const char *label);
static long long connections(const char *text, const char *subsystem,
    const char *state);
static long long ticket_events(const char *text, const char *event);
static int handshake(int port, int version, int tickets, int request,
    SSL_SESSION *offer, SSL_SESSION **out);
static int read_log(const char *path, int lines, char *out, size_t size);
static int wait_sessions(int n);
static int tamper(SSL_SESSION *sess);
static int prom_check(const char *text, char *err, size_t errlen);
static int prom_name(const char **pp, char *name, size_t size);
static int prom_labels(const char **pp, char *le, size_t size);
static int prom_family(const char *name, const char *const *suffixes,
    int n, char *family, size_t size);
static void counts(int version);
static void first_level(int version);
static void slow_redis(int version);
static void stream(int version);
static void two_workers(int version);
static void tickets(int version);
static int hold_open(int port);
static int counters(const char *text, long long *c);
static void test_counters_keep_growing_across_a_reload(void);
static void test_seventy_workers_all_counted(void);
static void test_tls12_counts_across_nodes(void);
static void test_tls13_counts_across_nodes(void);
static void test_tls12_shared_cache_second_resumption_is_l1(void);
static void test_tls13_shared_cache_second_resumption_is_l1(void);
static void test_slow_redis_counts_a_timeout(void);
static void test_stream_counted_under_its_subsystem(void);
static void test_two_workers_add_up(void);
static int hold_child(int version);
static void held_until_set(int version);
static void test_tls12_finished_waits_for_its_set_in_one_write(void);
static void test_tls13_tickets_wait_for_their_sets_in_one_write(void);
static void test_tls13_fleet_tickets_counted(void);
static void test_tls12_fleet_tickets_counted(void);
static void test_prometheus_checker_rejects_bad_text(void);


static tsr_test_redis_t   redis;
static node_t             node_a;
static node_t             node_b;
static char               certs[PATH_MAX];
static char               key_file[PATH_MAX + 16];
static char               scraped[SCRAPE_MAX];


static int
init_suite(void)
{
    unsigned char                key[32];
    tsr_test_nginx_t             n;
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_redis_start(&redis) != 0) {
        return -1;
    }

    /* every node loads the same certificate: the same sid_ctx */

    if (tsr_test_nginx_init(&n, "metrics-certs", cns) != 0) {
        return -1;
    }

    snprintf(certs, sizeof(certs), "%s", n.dir);

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", certs);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    node_stop(&node_a);
    node_stop(&node_b);
    tsr_test_redis_stop(&redis);

    return 0;
}


/* a running, empty Redis */

static int
redis_fresh(void)
{
    char  out[256];

    if (redis.pid == 0 && tsr_test_redis_start(&redis) != 0) {
        return -1;
    }

    if (tsr_test_redis_cmd(&redis, out, sizeof(out), "FLUSHALL") != 0
        || strcmp(out, "OK") != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * Each node: a plain http server answering the status, an https server
 * with the module, an https server without it, and optionally a stream
 * server with the module.  The log format is the variable alone.
 */

static int
node_write(node_t *nd, const char *tag, const node_opts_t *opts)
{
    int    len;
    char   ssl[2048], stream[4096], names[4096], body[16384];

    memset(nd, 0, sizeof(node_t));

    nd->opts = *opts;

    if (tsr_test_nginx_init(&nd->nginx, tag, NULL) != 0) {
        return -1;
    }

    nd->status_port = tsr_test_free_port();
    nd->tls_port = tsr_test_free_port();
    nd->plain_port = tsr_test_free_port();
    nd->stream_port = tsr_test_free_port();
    nd->stream_plain_port = tsr_test_free_port();
    nd->same_port = tsr_test_free_port();
    nd->regex_port = tsr_test_free_port();

    if (nd->status_port == -1 || nd->tls_port == -1 || nd->plain_port == -1
        || nd->stream_port == -1 || nd->stream_plain_port == -1
        || nd->same_port == -1
        || nd->regex_port == -1)
    {
        return -1;
    }

    snprintf(nd->tls_log, sizeof(nd->tls_log), "%s/logs/tls.log",
             nd->nginx.dir);
    snprintf(nd->plain_log, sizeof(nd->plain_log), "%s/logs/plain.log",
             nd->nginx.dir);
    snprintf(nd->stream_log, sizeof(nd->stream_log), "%s/logs/stream.log",
             nd->nginx.dir);
    snprintf(nd->stream_plain_log, sizeof(nd->stream_plain_log),
             "%s/logs/stream-plain.log", nd->nginx.dir);

    len = snprintf(ssl, sizeof(ssl),
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_protocols TLSv1.2 TLSv1.3;\n"
             "    ssl_session_timeout 10m;\n"
             "    ssl_session_tickets %s;\n"
             "%s",
             certs, certs, opts->tickets ? "on" : "off",
             opts->cache ? "    ssl_session_cache shared:S:1m;\n" : "");

    if (len < 0 || (size_t) len >= sizeof(ssl)) {
        return -1;
    }

    stream[0] = '\0';

    if (opts->stream) {
        len = snprintf(stream, sizeof(stream),
                 "stream {\n"
                 "  log_format tsr \"$ssl_session_redis\";\n"
                 "  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    access_log %s tsr;\n"
                 "%s"
                 "    return \"ok\\n\";\n"
                 "  }\n"
                 "  server {  # stream-tls\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    access_log %s tsr;\n"
                 "%s"
                 "    ssl_session_redis 127.0.0.1:%d;\n"
                 "    ssl_session_redis_fleet_key %s;\n"
                 "%s"
                 "    return \"ok\\n\";\n"
                 "  }\n"
                 "}\n",
                 nd->stream_plain_port, nd->stream_plain_log, ssl,
                 nd->stream_port, nd->stream_log, ssl, opts->redis_port,
                 key_file,
                 opts->tickets ? "    ssl_session_redis_ticket_keys on;\n"
                               : "");

        if (len < 0 || (size_t) len >= sizeof(stream)) {
            return -1;
        }
    }

    names[0] = '\0';

    if (opts->names) {
        len = snprintf(names, sizeof(names),
                 "  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    server_name one.test;\n"
                 "%s"
                 "    ssl_session_redis 127.0.0.1:%d;\n"
                 "    ssl_session_redis_fleet_key %s;\n"
                 "    location / { return 200 \"ok\\n\"; }\n"
                 "  }\n"
                 "  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    server_name ~^re\\.test$;\n"
                 "%s"
                 "    ssl_session_redis 127.0.0.1:%d;\n"
                 "    ssl_session_redis_fleet_key %s;\n"
                 "    location / { return 200 \"ok\\n\"; }\n"
                 "  }\n",
                 nd->same_port, ssl, opts->redis_port, key_file,
                 nd->regex_port, ssl, opts->redis_port, key_file);

        if (len < 0 || (size_t) len >= sizeof(names)) {
            return -1;
        }
    }

    len = snprintf(body, sizeof(body),
             "worker_processes %d;\n"
             "http {\n"
             "  log_format tsr \"$ssl_session_redis\";\n"
             "  access_log off;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d;\n"
             "    location = /metrics { ssl_session_redis_status; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name one.test;\n"
             "    access_log %s tsr;\n"
             "%s"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout %s;\n"
             "%s"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name plain.test;\n"
             "    access_log %s tsr;\n"
             "%s"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "%s"
             "}\n"
             "%s",
             opts->workers, nd->status_port, nd->tls_port, nd->tls_log, ssl,
             opts->redis_port, key_file,
             opts->timeout != NULL ? opts->timeout : "1s",
             opts->tickets ? "    ssl_session_redis_ticket_keys on;\n" : "",
             nd->plain_port, nd->plain_log, ssl, names, stream);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    if (tsr_test_nginx_write_conf(&nd->nginx, opts->stream, "info", body)
        != 0)
    {
        return -1;
    }

    if (!opts->stream) {
        return 0;
    }

    /* stream servers are named after their first "listen" */

    snprintf(nd->stream_name, sizeof(nd->stream_name), "127.0.0.1:%d",
             nd->stream_port);

    return nd->stream_name[0] != '\0' ? 0 : -1;
}


/*
 * Starts a node and waits until every worker is connected to Redis and
 * has made its fleet registration (one SET per subsystem, counted among
 * the commands), so that what follows is all the test's traffic.
 */

static int
node_start(node_t *nd)
{
    int        workers;
    long long  start, up, sets;

    if (tsr_test_nginx_start(&nd->nginx) != 0) {
        return -1;
    }

    nd->running = 1;
    workers = nd->opts.workers;
    start = tsr_test_now_ms();

    while (tsr_test_now_ms() - start < READY_MS) {
        tsr_test_sleep_ms(100);

        if (tsr_test_nginx_get(nd->status_port, "/metrics", scraped,
                               sizeof(scraped))
            != 0)
        {
            continue;
        }

        up = connections(scraped, "http", "up");
        sets = value(scraped, "ssl_session_redis_commands_total"
                     "{subsystem=\"http\",command=\"set\"}");

        if (up != workers || sets < 1) {
            continue;
        }

        if (nd->opts.stream) {
            up = connections(scraped, "stream", "up");
            sets = value(scraped, "ssl_session_redis_commands_total"
                         "{subsystem=\"stream\",command=\"set\"}");

            if (up != workers || sets < 1) {
                continue;
            }
        }

        /* the other workers publish once a second */
        if (workers > 1) {
            tsr_test_sleep_ms(QUIET_MS);
        }

        return 0;
    }

    fprintf(stderr, "node %s not ready; last scrape:\n%s\n", nd->nginx.dir,
            scraped);

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
node_check_log(node_t *nd)
{
    int  problems;

    if (nd->nginx.error_log[0] == '\0') {
        return;
    }

    problems = tsr_test_nginx_log_problems(&nd->nginx);

    CU_ASSERT_EQUAL(problems, 0);
    if (problems != 0) {
        fprintf(stderr, "%d [alert]/[crit]/[emerg] lines in %s\n", problems,
                nd->nginx.error_log);
    }
}


/* the status of a node, which must be valid Prometheus text */

static int
scrape(node_t *nd, char *buf, size_t size)
{
    char  err[512];

    if (tsr_test_nginx_get(nd->status_port, "/metrics", buf, size) != 0) {
        CU_FAIL("status request failed");
        return -1;
    }

    if (prom_check(buf, err, sizeof(err)) != 0) {
        fprintf(stderr, "\ninvalid Prometheus text: %s\n", err);
        CU_FAIL("invalid Prometheus text");
        return -1;
    }

    return 0;
}


/* the value of the series printed by "fmt", or -1 when absent */

static double
fvalue(const char *text, const char *fmt, ...)
{
    double   v;
    va_list  args;

    va_start(args, fmt);
    v = vfvalue(text, fmt, args);
    va_end(args);

    return v;
}


static double
vfvalue(const char *text, const char *fmt, va_list args)
{
    size_t       len;
    const char  *p;
    char         series[1024];

    vsnprintf(series, sizeof(series), fmt, args);

    len = strlen(series);

    for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n') {
            p++;
        }

        if (strncmp(p, series, len) == 0 && p[len] == ' ') {
            return strtod(p + len + 1, NULL);
        }
    }

    return -1;
}


static long long
value(const char *text, const char *fmt, ...)
{
    double   v;
    va_list  args;

    va_start(args, fmt);
    v = vfvalue(text, fmt, args);
    va_end(args);

    return (long long) v;
}


static long long
lookups(const char *text, const char *subsystem, const char *server,
    const char *outcome)
{
    return value(text, "ssl_session_redis_lookups_total{subsystem=\"%s\","
                 "server=\"%s\",outcome=\"%s\"}", subsystem, server,
                 outcome);
}


static long long
server_counter(const char *text, const char *name, const char *subsystem,
    const char *server)
{
    return value(text, "%s{subsystem=\"%s\",server=\"%s\"}", name,
                 subsystem, server);
}


static long long
subsystem_value(const char *text, const char *name, const char *subsystem)
{
    return value(text, "%s{subsystem=\"%s\"}", name, subsystem);
}


/* a label of ssl_session_redis_build_info, "" when absent */

static const char *
build_label(const char *text, const char *label)
{
    size_t       n;
    const char  *p, *q;
    char         pattern[64];

    static char  found[2][64];
    static int   i;

    i = !i;
    found[i][0] = '\0';

    p = strstr(text, "\nssl_session_redis_build_info{");
    if (p == NULL) {
        return found[i];
    }

    snprintf(pattern, sizeof(pattern), ",%s=\"", label);

    p = strstr(p, pattern);
    q = (p != NULL) ? strchr(p + strlen(pattern), '"') : NULL;

    if (q != NULL) {
        p += strlen(pattern);
        n = (size_t) (q - p) < sizeof(found[i]) ? (size_t) (q - p)
                                               : sizeof(found[i]) - 1;
        memcpy(found[i], p, n);
        found[i][n] = '\0';
    }

    return found[i];
}


/* Redis connections of "subsystem" in "state", or in all states (NULL) */

static long long
connections(const char *text, const char *subsystem, const char *state)
{
    long long  n;
    size_t     i;

    static const char *const  states[] = {
        "up", "connecting", "breaker_open", "down"
    };

    if (state != NULL) {
        return value(text, "ssl_session_redis_connections{subsystem=\"%s\","
                     "state=\"%s\"}", subsystem, state);
    }

    n = 0;

    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        n += connections(text, subsystem, states[i]);
    }

    return n;
}


static long long
ticket_events(const char *text, const char *event)
{
    return value(text, "ssl_session_redis_tickets_total{subsystem=\"http\","
                 "event=\"%s\"}", event);
}


/*
 * One connection: a handshake offering "offer", then (request 1) an
 * HTTP GET or (request 2) reading the stream server's reply.  Returns
 * whether the session was resumed, or -1 when the handshake failed.
 */

static int
handshake(int port, int version, int tickets, int request,
    SSL_SESSION *offer, SSL_SESSION **out)
{
    int                reused;
    tsr_test_client_t  opts;

    memset(&opts, 0, sizeof(tsr_test_client_t));

    opts.version = version;
    opts.tickets = tickets;
    opts.offer = offer;
    opts.request = request;
    opts.timeout_ms = 5000;

    reused = 0;

    if (tsr_test_tls_once(port, &opts, out, &reused) != 0) {
        return -1;
    }

    return reused;
}


/*
 * The log's lines joined by ','; waits (bounded) until it has "lines"
 * lines: nginx writes the line as it closes the connection.
 */

static int
read_log(const char *path, int lines, char *out, size_t size)
{
    int         n;
    FILE       *f;
    size_t      len;
    long long   start;
    char        line[256];

    start = tsr_test_now_ms();

    for ( ;; ) {
        out[0] = '\0';
        len = 0;
        n = 0;

        f = fopen(path, "r");

        if (f != NULL) {
            while (fgets(line, sizeof(line), f) != NULL && len + 2 < size) {
                line[strcspn(line, "\n")] = '\0';
                len += snprintf(out + len, size - len, "%s%s",
                                n > 0 ? "," : "", line);
                n++;
            }

            fclose(f);
        }

        if (n >= lines || tsr_test_now_ms() - start > 2000) {
            return n;
        }

        tsr_test_sleep_ms(20);
    }
}


/*
 * Waits (bounded) until Redis holds "n" sessions: they are written
 * asynchronously.  Returns how many it holds.
 */

static int
wait_sessions(int n)
{
    int          count;
    char        *p;
    long long    start;
    static char  keys[65536];

    start = tsr_test_now_ms();

    for ( ;; ) {
        count = 0;

        if (tsr_test_redis_cmd(&redis, keys, sizeof(keys), "KEYS tsr:s:*")
            == 0
            && keys[0] != '\0')
        {
            count = 1;

            for (p = keys; *p != '\0'; p++) {
                count += (*p == '\n');
            }
        }

        if (count >= n || tsr_test_now_ms() - start > 3000) {
            return count;
        }

        tsr_test_sleep_ms(20);
    }
}


/*
 * Flips a byte in the middle of the value Redis holds for "sess": keys
 * end in the hex session id, which for a TLS 1.3 stateful ticket is the
 * ticket itself.
 */

static int
tamper(SSL_SESSION *sess)
{
    size_t                i, idlen;
    unsigned int          n;
    const unsigned char  *id;
    unsigned char         val[16384];
    char                  hex[2 * SSL_MAX_SSL_SESSION_ID_LENGTH + 1];
    char                  key[512], out[64];

    if (SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION) {
        SSL_SESSION_get0_ticket(sess, &id, &idlen);

    } else {
        id = SSL_SESSION_get_id(sess, &n);
        idlen = n;
    }

    if (idlen == 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH) {
        return -1;
    }

    for (i = 0; i < idlen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    }

    if (tsr_test_redis_cmd(&redis, key, sizeof(key), "KEYS tsr:s:*:%s", hex)
        != 0
        || key[0] == '\0' || strchr(key, '\n') != NULL)
    {
        fprintf(stderr, "expected one key for the session, found \"%s\"\n",
                key);
        return -1;
    }

    i = sizeof(val);

    if (tsr_test_redis_get_raw(&redis, key, val, &i) != 0 || i < 32) {
        return -1;
    }

    val[i / 2] ^= 0x01;

    if (tsr_test_redis_cmd(&redis, out, sizeof(out), "SET %s %b KEEPTTL",
                           key, val, i)
        != 0
        || strcmp(out, "OK") != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * Prometheus text format 0.0.4, strictly: comments "# HELP name text"
 * and "# TYPE name type", once per family and before its samples;
 * sample lines "name{labels} value" with valid names, quoted and escaped
 * label values (no label twice) and a float value; the samples of a
 * family together, no series twice, no negative counter; per histogram
 * series buckets with increasing bounds and cumulative counts ending in
 * le="+Inf", then _sum and _count, which equals the +Inf bucket; bounds
 * in canonical form (le="0.01", le="1", le="5e-05").  The
 * text ends with a newline and has no empty line.
 */

#define PROM_FAMILIES  64

typedef struct {
    char        name[128];
    char        type[16];
    int         help;
    int         samples;
    int         closed;         /* another family's samples came since */
} prom_family_t;

static int
prom_check(const char *text, char *err, size_t errlen)
{
    int             i, nf, cur, buckets, sum;
    char           *end, *seen;
    double          v, le, last_le, last_count;
    size_t          seen_len;
    const char     *p, *eol, *s;
    prom_family_t  *fam;
    char            name[128], family[128], series[1024], lebuf[32];
    char            canon[32];
    char            line[2048];

    static const char *const  suffixes[] = { "_bucket", "_sum", "_count" };

    fam = calloc(PROM_FAMILIES, sizeof(prom_family_t));
    seen = malloc(SCRAPE_MAX);

    if (fam == NULL || seen == NULL) {
        free(fam);
        free(seen);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    seen[0] = '\0';
    seen_len = 0;
    nf = 0;
    cur = -1;
    buckets = 0;            /* of the histogram series open; -1: +Inf seen */
    sum = 0;
    last_le = 0;
    last_count = 0;

#define prom_fail(...)                                                        \
    do {                                                                      \
        snprintf(err, errlen, __VA_ARGS__);                                   \
        goto failed;                                                          \
    } while (0)

    if (*text == '\0') {
        prom_fail("empty");
    }

    if (text[strlen(text) - 1] != '\n') {
        prom_fail("no newline at the end");
    }

    for (p = text; *p != '\0'; p = eol + 1) {
        eol = strchr(p, '\n');

        if ((size_t) (eol - p) >= sizeof(line)) {
            prom_fail("line too long");
        }

        memcpy(line, p, eol - p);
        line[eol - p] = '\0';

        if (line[0] == '\0') {
            prom_fail("empty line");
        }

        if (line[0] == '#') {
            s = line + 1;

            if (strncmp(s, " HELP ", 6) != 0 && strncmp(s, " TYPE ", 6) != 0) {
                prom_fail("unexpected comment \"%.200s\"", line);
            }

            s += 6;

            if (prom_name(&s, name, sizeof(name)) != 0 || *s != ' '
                || s[1] == '\0')
            {
                prom_fail("bad comment \"%.200s\"", line);
            }

            for (i = 0; i < nf; i++) {
                if (strcmp(fam[i].name, name) == 0) {
                    break;
                }
            }

            if (i == nf) {
                if (nf == PROM_FAMILIES) {
                    prom_fail("too many families");
                }

                snprintf(fam[nf].name, sizeof(fam[nf].name), "%s", name);
                nf++;
            }

            if (fam[i].samples > 0) {
                prom_fail("\"%.200s\" after samples of %s", line, name);
            }

            if (line[2] == 'H') {
                if (fam[i].help++) {
                    prom_fail("second HELP for %s", name);
                }

                continue;
            }

            if (fam[i].type[0] != '\0') {
                prom_fail("second TYPE for %s", name);
            }

            s++;

            if (strcmp(s, "counter") != 0 && strcmp(s, "gauge") != 0
                && strcmp(s, "histogram") != 0)
            {
                prom_fail("unexpected type in \"%.200s\"", line);
            }

            snprintf(fam[i].type, sizeof(fam[i].type), "%s", s);

            continue;
        }

        /* a sample */

        s = line;
        lebuf[0] = '\0';

        if (prom_name(&s, name, sizeof(name)) != 0) {
            prom_fail("bad metric name in \"%.200s\"", line);
        }

        if (*s == '{' && prom_labels(&s, lebuf, sizeof(lebuf)) != 0) {
            prom_fail("bad labels in \"%.200s\"", line);
        }

        if (*s != ' ') {
            prom_fail("no value in \"%.200s\"", line);
        }

        s++;

        if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0
            || strcmp(s, "NaN") == 0)
        {
            v = 0;

        } else {
            errno = 0;
            v = strtod(s, &end);

            if (end == s || *end != '\0' || errno != 0) {
                prom_fail("bad value in \"%.200s\"", line);
            }
        }

        /* its family: the name, or a histogram's name and a suffix */

        for (i = 0; i < nf; i++) {
            if (strcmp(fam[i].name, name) == 0) {
                break;
            }
        }

        if (i == nf
            && prom_family(name, suffixes, 3, family, sizeof(family)) == 0)
        {
            for (i = 0; i < nf; i++) {
                if (strcmp(fam[i].name, family) == 0
                    && strcmp(fam[i].type, "histogram") == 0)
                {
                    break;
                }
            }
        }

        if (i == nf || fam[i].type[0] == '\0' || !fam[i].help) {
            prom_fail("sample of %s before its HELP and TYPE", name);
        }

        if (fam[i].closed) {
            prom_fail("samples of %s not together", fam[i].name);
        }

        if (cur != -1 && cur != i) {
            if (buckets != 0) {
                prom_fail("histogram %s not finished", fam[cur].name);
            }

            fam[cur].closed = 1;
        }

        cur = i;
        fam[i].samples++;

        if (strcmp(fam[i].type, "counter") == 0 && v < 0) {
            prom_fail("negative counter in \"%.200s\"", line);
        }

        /* no series twice */

        snprintf(series, sizeof(series), "\n%.*s", (int) (s - 1 - line),
                 line);

        if (strstr(seen, series) != NULL) {
            prom_fail("series twice: %.200s", series + 1);
        }

        if (seen_len + strlen(series) + 1 >= SCRAPE_MAX) {
            prom_fail("too many series");
        }

        seen_len += snprintf(seen + seen_len, SCRAPE_MAX - seen_len, "%s",
                             series);

        if (strcmp(fam[i].type, "histogram") != 0) {
            continue;
        }

        if (strcmp(fam[i].name, name) == 0) {
            prom_fail("histogram sample %s without a suffix", name);
        }

        if (strcmp(name + strlen(fam[i].name), "_bucket") == 0) {
            if (lebuf[0] == '\0') {
                prom_fail("bucket without le in \"%.200s\"", line);
            }

            if (buckets == -1) {
                prom_fail("bucket after +Inf: \"%.200s\"", line);
            }

            le = strcmp(lebuf, "+Inf") == 0 ? 1e300 : strtod(lebuf, NULL);

            /* canonical, as Go's FormatFloat(le, 'g', -1, 64) writes it */

            snprintf(canon, sizeof(canon), "%g", le);

            if (le != 1e300 && strcmp(canon, lebuf) != 0) {
                prom_fail("le=\"%s\" is not canonical (\"%s\")", lebuf,
                          canon);
            }

            if (buckets > 0 && (le <= last_le || v < last_count)) {
                prom_fail("bucket not cumulative or out of order: "
                          "\"%.200s\"", line);
            }

            last_le = le;
            last_count = v;
            buckets = strcmp(lebuf, "+Inf") == 0 ? -1 : buckets + 1;

            continue;
        }

        if (buckets != -1) {
            prom_fail("\"%.200s\" before the +Inf bucket", line);
        }

        if (strcmp(name + strlen(fam[i].name), "_sum") == 0) {
            sum = 1;
            continue;
        }

        /* _count ends the series */

        if (!sum || v != last_count) {
            prom_fail("no _sum, or _count %g is not the +Inf bucket's %g", v,
                      last_count);
        }

        buckets = 0;
        sum = 0;
    }

    if (buckets != 0) {
        prom_fail("histogram %s not finished", fam[cur].name);
    }

    for (i = 0; i < nf; i++) {
        if (fam[i].samples == 0) {
            prom_fail("family %s without samples", fam[i].name);
        }
    }

#undef prom_fail

    free(fam);
    free(seen);

    return 0;

failed:

    free(fam);
    free(seen);

    return -1;
}


/* [a-zA-Z_:][a-zA-Z0-9_:]* */

static int
prom_name(const char **pp, char *name, size_t size)
{
    size_t       n;
    const char  *p;

    p = *pp;
    n = 0;

    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'
           || *p == ':' || (n > 0 && *p >= '0' && *p <= '9'))
    {
        if (n + 1 >= size) {
            return -1;
        }

        name[n++] = *p++;
    }

    name[n] = '\0';
    *pp = p;

    return n > 0 ? 0 : -1;
}


/* {name="value",...}; the value of "le", if any, into "le" */

static int
prom_labels(const char **pp, char *le, size_t size)
{
    size_t       n;
    const char  *p;
    char         name[128], word[132], names[1024];

    p = *pp + 1;
    names[0] = '\0';

    while (*p != '}') {
        if (prom_name(&p, name, sizeof(name)) != 0 || *p++ != '=') {
            return -1;
        }

        /* no label twice in one series */

        snprintf(word, sizeof(word), " %s ", name);

        if (strstr(names, word) != NULL
            || strlen(names) + strlen(word) >= sizeof(names))
        {
            return -1;
        }

        strcat(names, word);

        if (*p++ != '"') {
            return -1;
        }

        n = 0;

        while (*p != '"') {
            if (*p == '\0' || *p == '\n') {
                return -1;
            }

            if (*p == '\\') {
                p++;

                if (*p != '\\' && *p != '"' && *p != 'n') {
                    return -1;
                }
            }

            if (strcmp(name, "le") == 0 && n + 1 < size) {
                le[n++] = *p;
                le[n] = '\0';
            }

            p++;
        }

        p++;

        if (*p == ',') {
            p++;

        } else if (*p != '}') {
            return -1;
        }
    }

    *pp = p + 1;

    return 0;
}


/* "name" minus the first of "suffixes" it ends in, or -1 */

static int
prom_family(const char *name, const char *const *suffixes, int n,
    char *family, size_t size)
{
    int     i;
    size_t  len, slen;

    len = strlen(name);

    for (i = 0; i < n; i++) {
        slen = strlen(suffixes[i]);

        if (len > slen && strcmp(name + len - slen, suffixes[i]) == 0) {
            snprintf(family, size, "%.*s", (int) (len - slen), name);
            return 0;
        }
    }

    return -1;
}


/*
 * Two nodes, one worker each, no local cache.  Node A makes FULL
 * sessions and node B resumes RESUMED of them through Redis; then on
 * node B a session after FLUSHALL (miss), a tampered one (error), one
 * with Redis stopped (skipped) and a full handshake (none).  A
 * connection to a server without the module logs "-".
 */

static void
counts(int version)
{
    int           i;
    long long     stores_full, stores_resumed, sets_a, sets_b, t;
    long long     sent, writes, replies, reads;
    const char   *v;
    node_opts_t   opts;
    SSL_SESSION  *sess[FULL + 1];
    char          log[LOG_MAX];

    memset(sess, 0, sizeof(sess));
    memset(&opts, 0, sizeof(node_opts_t));

    v = version == TSR_TEST_TLS13 ? "1.3" : "1.2";

    stores_full = FULL_SESSIONS(version);
    stores_resumed = RESUMED_SESSIONS(version);

    opts.workers = 1;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_write(&node_b, "metrics-b", &opts) != 0
        || node_start(&node_a) != 0
        || node_start(&node_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* the fleet registration, once per node so far */

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    sets_a = value(scraped, "ssl_session_redis_commands_total"
                   "{subsystem=\"http\",command=\"set\"}");

    if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    sets_b = value(scraped, "ssl_session_redis_commands_total"
                   "{subsystem=\"http\",command=\"set\"}");

    CU_ASSERT_EQUAL(sets_a, 1);
    CU_ASSERT_EQUAL(sets_b, 1);

    for (i = 0; i < FULL; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL,
                                  &sess[i]), 0);
    }

    /* the sessions are written asynchronously */

    CU_ASSERT_EQUAL(wait_sessions(FULL * stores_full), FULL * stores_full);

    for (i = 0; i < RESUMED; i++) {
        CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess[i],
                                  NULL), 1);
    }

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv%s: node A after %d full handshakes: none %lld, "
           "stores %lld ", v, FULL,
           lookups(scraped, "http", "one.test", "none"),
           server_counter(scraped, "ssl_session_redis_stores_total", "http",
                          "one.test"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), FULL);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), 0);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"),
                    FULL * stores_full);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"set\"}"),
                    sets_a + FULL * stores_full);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), 0);

    if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv%s: node B after %d resumptions: hit %lld, "
           "stores %lld ", v, RESUMED,
           lookups(scraped, "http", "one.test", "hit"),
           server_counter(scraped, "ssl_session_redis_stores_total", "http",
                          "one.test"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), RESUMED);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 0);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "miss"), 0);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"),
                    RESUMED * stores_resumed);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), RESUMED);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_latency_seconds_count",
                        "http"),
                    RESUMED);

    /* the socket's side: one handshake at a time, about a write each */
    sent = subsystem_value(scraped, "ssl_session_redis_sent_total",
                           "http");
    writes = subsystem_value(scraped, "ssl_session_redis_writes_total",
                             "http");
    replies = subsystem_value(scraped,
                              "ssl_session_redis_replies_total", "http");
    reads = subsystem_value(scraped, "ssl_session_redis_reads_total",
                            "http");

    printf("sent %lld in %lld writes, %lld replies in %lld reads ", sent,
           writes, replies, reads);

    CU_ASSERT(sent >= RESUMED && writes >= RESUMED / 2 && writes <= sent);
    CU_ASSERT(replies <= sent && replies >= RESUMED);
    CU_ASSERT(reads >= RESUMED / 2 && reads <= replies);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_errors_total", "http"), 0);

    /* a session Redis no longer has: a miss, then a full handshake */

    if (redis_fresh() != 0) {
        CU_FAIL("FLUSHALL failed");
        goto done;
    }

    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess[RESUMED],
                              NULL), 0);

    /* a tampered session: an error, then a full handshake */

    CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL,
                              &sess[FULL]), 0);

    CU_ASSERT_EQUAL(wait_sessions(2 * stores_full), 2 * stores_full);

    if (tamper(sess[FULL]) != 0) {
        CU_FAIL("cannot tamper with the session");
        goto done;
    }

    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess[FULL],
                              NULL), 0);

    /* a server without the module */

    CU_ASSERT_EQUAL(handshake(node_b.plain_port, version, 0, 1, NULL, NULL),
                    0);

    /* Redis stopped: no lookup (skipped), and a full handshake */

    if (tsr_test_redis_stop(&redis) != 0) {
        CU_FAIL("redis did not stop");
        goto done;
    }

    t = tsr_test_now_ms();

    while (tsr_test_now_ms() - t < 3000) {
        if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
            goto done;
        }

        if (connections(scraped, "http", "up")
            == 0)
        {
            break;
        }

        tsr_test_sleep_ms(20);
    }

    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess[0], NULL),
                    0);
    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, NULL, NULL),
                    0);

    if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv%s: node B in the end: hit %lld, miss %lld, "
           "error %lld, skipped %lld, none %lld; stores %lld, store errors "
           "%lld, open failures %lld; get %lld, set %lld; redis errors %lld, "
           "refused %lld, dropped %lld, up %lld ", v,
           lookups(scraped, "http", "one.test", "hit"),
           lookups(scraped, "http", "one.test", "miss"),
           lookups(scraped, "http", "one.test", "error"),
           lookups(scraped, "http", "one.test", "skipped"),
           lookups(scraped, "http", "one.test", "none"),
           server_counter(scraped, "ssl_session_redis_stores_total", "http",
                          "one.test"),
           server_counter(scraped, "ssl_session_redis_store_errors_total",
                          "http", "one.test"),
           server_counter(scraped, "ssl_session_redis_open_failures_total",
                          "http", "one.test"),
           value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"get\"}"),
           value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"set\"}"),
           subsystem_value(scraped, "ssl_session_redis_errors_total",
                           "http"),
           subsystem_value(scraped, "ssl_session_redis_refused_total",
                           "http"),
           subsystem_value(scraped, "ssl_session_redis_dropped_total",
                           "http"),
           connections(scraped, "http", "up"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), RESUMED);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "l1"), 0);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "miss"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "error"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "timeout"), 0);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "skipped"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 1);
    CU_ASSERT_EQUAL(server_counter(scraped,
                                   "ssl_session_redis_open_failures_total",
                                   "http", "one.test"), 1);

    /*
     * Every full handshake hands its sessions to the store, fire and
     * forget: the two made with Redis stopped were dropped unsent.
     */

    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"),
                    RESUMED * stores_resumed + 4 * stores_full);
    CU_ASSERT_EQUAL(server_counter(scraped,
                                   "ssl_session_redis_store_errors_total",
                                   "http", "one.test"), 0);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"set\"}"),
                    sets_b + RESUMED * stores_resumed + 4 * stores_full);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_dropped_total", "http"),
                    2 * stores_full);

    /*
     * lookups asked for, the refused one too; Redis answered the others;
     * the miss was asked twice (a SET from another node may trail a GET)
     */

    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"),
                    RESUMED + 4);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_latency_seconds_count",
                        "http"),
                    RESUMED + 3);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_refused_total", "http"), 1);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_bad_values_total", "http"),
                    0);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_timeouts_total", "http"), 0);
    CU_ASSERT(subsystem_value(scraped, "ssl_session_redis_errors_total",
                              "http") >= 1);
    CU_ASSERT_EQUAL(connections(scraped, "http", "up"), 0);
    CU_ASSERT_EQUAL(connections(scraped, "http", NULL), 1);
    CU_ASSERT_EQUAL(subsystem_value(scraped, "ssl_session_redis_inflight",
                                    "http"), 0);

    /* $ssl_session_redis, line by line */

    CU_ASSERT_EQUAL(read_log(node_a.tls_log, FULL + 1, log, sizeof(log)),
                    FULL + 1);
    CU_ASSERT_STRING_EQUAL(log, "none,none,none,none,none");

    CU_ASSERT_EQUAL(read_log(node_b.tls_log, RESUMED + 4, log, sizeof(log)),
                    RESUMED + 4);
    CU_ASSERT_STRING_EQUAL(log, "hit,hit,hit,miss,error,skipped,none");

    CU_ASSERT_EQUAL(read_log(node_b.plain_log, 1, log, sizeof(log)), 1);
    CU_ASSERT_STRING_EQUAL(log, "-");

done:

    for (i = 0; i <= FULL; i++) {
        if (sess[i] != NULL) {
            SSL_SESSION_free(sess[i]);
        }
    }

    if (redis.pid == 0) {
        (void) tsr_test_redis_start(&redis);
    }

    node_stop(&node_a);
    node_stop(&node_b);
    node_check_log(&node_a);
    node_check_log(&node_b);
}


/*
 * With nginx's shared cache in front: a node resumes its own session
 * from the first level (l1); another node finds it in Redis (hit) and
 * writes it back to its own first level, so its next resumption of the
 * same session is l1 too.
 */

static void
first_level(int version)
{
    const char   *v;
    node_opts_t   opts;
    SSL_SESSION  *sess;
    char          log[LOG_MAX];

    sess = NULL;
    memset(&opts, 0, sizeof(node_opts_t));

    v = version == TSR_TEST_TLS13 ? "1.3" : "1.2";

    opts.workers = 1;
    opts.cache = 1;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_write(&node_b, "metrics-b", &opts) != 0
        || node_start(&node_a) != 0
        || node_start(&node_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL, &sess),
                    0);

    if (sess == NULL) {
        CU_FAIL("no session");
        goto done;
    }

    CU_ASSERT_EQUAL(wait_sessions(FULL_SESSIONS(version)),
                    FULL_SESSIONS(version));

    CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, sess, NULL),
                    1);
    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess, NULL),
                    1);
    CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 0, 1, sess, NULL),
                    1);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv%s, shared cache: node A none %lld, l1 %lld, hit %lld, "
           "get %lld; ", v, lookups(scraped, "http", "one.test", "none"),
           lookups(scraped, "http", "one.test", "l1"),
           lookups(scraped, "http", "one.test", "hit"),
           value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"get\"}"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "l1"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), 0);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), 0);

    if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("node B none %lld, l1 %lld, hit %lld, get %lld ",
           lookups(scraped, "http", "one.test", "none"),
           lookups(scraped, "http", "one.test", "l1"),
           lookups(scraped, "http", "one.test", "hit"),
           value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"get\"}"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 0);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "l1"), 1);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), 1);

    CU_ASSERT_EQUAL(read_log(node_a.tls_log, 2, log, sizeof(log)), 2);
    CU_ASSERT_STRING_EQUAL(log, "none,l1");
    CU_ASSERT_EQUAL(read_log(node_b.tls_log, 2, log, sizeof(log)), 2);
    CU_ASSERT_STRING_EQUAL(log, "hit,l1");

done:

    if (sess != NULL) {
        SSL_SESSION_free(sess);
    }

    node_stop(&node_a);
    node_stop(&node_b);
    node_check_log(&node_a);
    node_check_log(&node_b);
}


/*
 * Redis answers SLOW_DELAY_MS late through the proxy and lookups may
 * wait SLOW_TIMEOUT: the lookup times out, the handshake completes in
 * full, and the late reply still lands in the latency histogram.
 */

static void
slow_redis(int version)
{
    long long          t;
    node_opts_t        opts;
    SSL_SESSION       *sess;
    tsr_test_proxy_t   proxy;
    char               log[LOG_MAX];

    sess = NULL;
    memset(&opts, 0, sizeof(node_opts_t));
    memset(&proxy, 0, sizeof(tsr_test_proxy_t));

    if (redis_fresh() != 0
        || tsr_test_proxy_start(&proxy, redis.port, SLOW_DELAY_MS) != 0)
    {
        CU_FAIL("proxy did not start");
        goto done;
    }

    opts.workers = 1;
    opts.redis_port = proxy.port;
    opts.timeout = SLOW_TIMEOUT;

    if (node_write(&node_a, "metrics-a", &opts) != 0
        || node_start(&node_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    /* the registration's reply: out of the way before measuring */
    tsr_test_sleep_ms(2 * SLOW_DELAY_MS);

    CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL, &sess),
                    0);

    if (sess == NULL) {
        CU_FAIL("no session");
        goto done;
    }

    /* the SET passes at once, its reply comes late */
    tsr_test_sleep_ms(2 * SLOW_DELAY_MS);

    t = tsr_test_now_ms();

    CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, sess, NULL),
                    0);

    t = tsr_test_now_ms() - t;

    /* the late reply */
    tsr_test_sleep_ms(2 * SLOW_DELAY_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv1.%d, redis %d ms late, timeout %s: handshake in "
           "%lld ms; timeout %lld, timeouts %lld, errors %lld, latency "
           "count %lld, <= 0.05 s %lld, sum %.3f s ",
           version == TSR_TEST_TLS13 ? 3 : 2, SLOW_DELAY_MS, SLOW_TIMEOUT, t,
           lookups(scraped, "http", "one.test", "timeout"),
           subsystem_value(scraped, "ssl_session_redis_timeouts_total",
                           "http"),
           subsystem_value(scraped, "ssl_session_redis_errors_total",
                           "http"),
           subsystem_value(scraped,
                           "ssl_session_redis_latency_seconds_count",
                           "http"),
           value(scraped, "ssl_session_redis_latency_seconds_bucket"
                 "{subsystem=\"http\",le=\"0.05\"}"),
           fvalue(scraped, "ssl_session_redis_latency_seconds_sum"
                  "{subsystem=\"http\"}"));

    CU_ASSERT(t < SLOW_DELAY_MS);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "timeout"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), 0);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_timeouts_total", "http"), 1);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_errors_total", "http"), 1);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_latency_seconds_count",
                        "http"), 1);
    CU_ASSERT_EQUAL(value(scraped,
                          "ssl_session_redis_latency_seconds_bucket"
                          "{subsystem=\"http\",le=\"0.05\"}"), 0);
    CU_ASSERT_EQUAL(value(scraped,
                          "ssl_session_redis_latency_seconds_bucket"
                          "{subsystem=\"http\",le=\"+Inf\"}"), 1);
    CU_ASSERT(fvalue(scraped, "ssl_session_redis_latency_seconds_sum"
                     "{subsystem=\"http\"}")
              >= SLOW_DELAY_MS / 1000.0);

    /* buckets end at the deadline, 50 ms: the late reply is in +Inf only */
    CU_ASSERT_PTR_NOT_NULL(strstr(scraped, "{subsystem=\"http\","
                                           "le=\"5e-05\"}"));
    CU_ASSERT_PTR_NULL(strstr(scraped, "{subsystem=\"http\",le=\"0.1\"}"));

    CU_ASSERT_EQUAL(read_log(node_a.tls_log, 2, log, sizeof(log)), 2);
    CU_ASSERT_STRING_EQUAL(log, "none,timeout");

done:

    if (sess != NULL) {
        SSL_SESSION_free(sess);
    }

    node_stop(&node_a);
    tsr_test_proxy_stop(&proxy);
    node_check_log(&node_a);
}


/*
 * One node with http and stream: stream connections are counted under
 * subsystem="stream" and their server's first listen address, and the whole
 * page is still valid text, each family once.  On the http side two
 * servers named "one.test" share one series, and a regex name has its
 * backslash escaped.
 */

static void
stream(int version)
{
    int           i;
    node_opts_t   opts;
    size_t        len;
    SSL_SESSION  *sess[FULL];
    const char   *name;
    char          log[LOG_MAX], tag[240];

    memset(sess, 0, sizeof(sess));
    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 1;
    opts.stream = 1;
    opts.names = 1;
    opts.redis_port = redis.port;

    /* a long directory name: nothing of it reaches the label */
    memset(tag, 'd', sizeof(tag) - 1);
    memcpy(tag, "metrics-stream-", sizeof("metrics-stream-") - 1);
    tag[sizeof(tag) - 1] = '\0';

    if (redis_fresh() != 0
        || node_write(&node_a, tag, &opts) != 0
        || node_start(&node_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    name = node_a.stream_name;
    len = strlen(name);

    CU_ASSERT(len < 32);

    for (i = 0; i < FULL; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.stream_port, version, 0, 2, NULL,
                                  &sess[i]), 0);
    }

    CU_ASSERT_EQUAL(wait_sessions(FULL * FULL_SESSIONS(version)),
                    FULL * FULL_SESSIONS(version));

    for (i = 0; i < RESUMED; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.stream_port, version, 0, 2,
                                  sess[i], NULL), 1);
    }

    CU_ASSERT_EQUAL(handshake(node_a.stream_plain_port, version, 0, 2, NULL,
                              NULL), 0);
    CU_ASSERT_EQUAL(handshake(node_a.same_port, version, 0, 1, NULL, NULL),
                    0);
    CU_ASSERT_EQUAL(handshake(node_a.regex_port, version, 0, 1, NULL, NULL),
                    0);

    /* the status is http's: stream's counters are a second old at most */
    tsr_test_sleep_ms(QUIET_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv1.%d stream \"%s\": none %lld, hit %lld, stores "
           "%lld ", version == TSR_TEST_TLS13 ? 3 : 2, name,
           lookups(scraped, "stream", name, "none"),
           lookups(scraped, "stream", name, "hit"),
           server_counter(scraped, "ssl_session_redis_stores_total",
                          "stream", name));

    CU_ASSERT_EQUAL(lookups(scraped, "stream", name, "none"), FULL);
    CU_ASSERT_EQUAL(lookups(scraped, "stream", name, "hit"), RESUMED);

    /* once on the page, for both subsystems */
    CU_ASSERT_PTR_NOT_NULL(strstr(scraped, "\nssl_session_redis_build_info"
                                           "{version=\"" PACKAGE_VERSION
                                           "\",nginx=\""));
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_build_info{version="
                          "\"%s\",nginx=\"%s\",openssl=\"%s\"}",
                          PACKAGE_VERSION, build_label(scraped, "nginx"),
                          build_label(scraped, "openssl")), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "stream", name, "miss"), 0);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "stream", name),
                    FULL * FULL_SESSIONS(version)
                    + RESUMED * RESUMED_SESSIONS(version));
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"stream\",command=\"get\"}"),
                    RESUMED);
    CU_ASSERT_EQUAL(connections(scraped, "stream", NULL), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "~^re\\\\.test$", "none"), 1);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"), 0);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), 0);

    CU_ASSERT_EQUAL(read_log(node_a.stream_log, FULL + RESUMED, log,
                             sizeof(log)),
                    FULL + RESUMED);
    CU_ASSERT_STRING_EQUAL(log, "none,none,none,none,hit,hit,hit");

    CU_ASSERT_EQUAL(read_log(node_a.stream_plain_log, 1, log, sizeof(log)),
                    1);
    CU_ASSERT_STRING_EQUAL(log, "-");

done:

    for (i = 0; i < FULL; i++) {
        if (sess[i] != NULL) {
            SSL_SESSION_free(sess[i]);
        }
    }

    node_stop(&node_a);
    node_check_log(&node_a);
}


/*
 * A new session's SET leaves with the turn's other commands, and what
 * tells the client its session (a TLS 1.3 ticket, a TLS 1.2 server's
 * Finished) waits for it: clients in parallel each make a session on
 * node A (a full handshake; A's only commands are the new sessions' SETs)
 * and resume it at once on node B.  A SET sent on its own, at once,
 * would make as many writes as SETs; held, the SETs of a loop turn share
 * a write, and every session is in Redis before its client can offer
 * it.  (The clients send no request: a connection that closes in its
 * handshake's turn sends its SET and its bytes at once.)  With Redis
 * stopped, or gone, the handshake and the ticket are not held back.
 */

static int
hold_child(int version)
{
    int           i, misses, reused;
    SSL_SESSION  *sess;

    misses = 0;

    for (i = 0; i < HOLD_ROUNDS; i++) {
        sess = NULL;

        if (handshake(node_a.tls_port, version, 0, 0, NULL, &sess) != 0
            || sess == NULL)
        {
            return 255;
        }

        reused = handshake(node_b.tls_port, version, 0, 0, sess, NULL);
        SSL_SESSION_free(sess);

        if (reused != 1) {
            misses++;
        }
    }

    return misses;
}


static void
held_until_set(int version)
{
    int           i, n, status, misses, got;
    pid_t         pids[HOLD_CLIENTS];
    long long     sets, sent, writes, start, took;
    node_opts_t   opts;
    SSL_SESSION  *sess;

    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 1;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_write(&node_b, "metrics-b", &opts) != 0
        || node_start(&node_a) != 0
        || node_start(&node_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    sets = value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"set\"}");
    sent = subsystem_value(scraped, "ssl_session_redis_sent_total", "http");
    writes = subsystem_value(scraped, "ssl_session_redis_writes_total",
                             "http");

    n = 0;

    for (i = 0; i < HOLD_CLIENTS; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            _exit(hold_child(version));
        }

        if (pids[i] > 0) {
            n++;
        }
    }

    CU_ASSERT_EQUAL(n, HOLD_CLIENTS);

    misses = 0;

    for (i = 0; i < HOLD_CLIENTS; i++) {
        if (pids[i] <= 0) {
            continue;
        }

        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status)) {
            misses += HOLD_ROUNDS;
            continue;
        }

        misses += WEXITSTATUS(status) == 255 ? HOLD_ROUNDS
                                             : WEXITSTATUS(status);
    }

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    sets = value(scraped, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"set\"}") - sets;
    sent = subsystem_value(scraped, "ssl_session_redis_sent_total", "http")
           - sent;
    writes = subsystem_value(scraped, "ssl_session_redis_writes_total",
                             "http") - writes;

    printf("\n    TLSv1.%d, %d clients x %d: %d of %d not resumed on node B; "
           "node A: %lld SETs, %lld commands in %lld writes (%.2f a write) ",
           version == TSR_TEST_TLS13 ? 3 : 2, HOLD_CLIENTS, HOLD_ROUNDS,
           misses, HOLD_CLIENTS * HOLD_ROUNDS, sets, sent, writes,
           writes > 0 ? (double) sent / writes : 0.0);

    CU_ASSERT_EQUAL(misses, 0);
    CU_ASSERT_EQUAL(sets, HOLD_CLIENTS * HOLD_ROUNDS);
    CU_ASSERT(writes > 0 && sent * 20 >= writes * 23);

    /* Redis stopped, then gone: nothing is held back */

    for (i = 0; i < 2; i++) {
        if (i == 0) {
            CU_ASSERT_FATAL(tsr_test_redis_signal(&redis, SIGSTOP) == 0);

        } else if (tsr_test_redis_stop(&redis) != 0) {
            CU_FAIL("redis did not stop");
            goto done;
        }

        sess = NULL;
        start = tsr_test_now_ms();
        got = handshake(node_a.tls_port, version, 0, 0, NULL, &sess);
        took = tsr_test_now_ms() - start;

        printf("\n    Redis %s: a full handshake and its session in %lld ms ",
               i == 0 ? "stopped" : "gone", took);

        CU_ASSERT_EQUAL(got, 0);
        CU_ASSERT_PTR_NOT_NULL(sess);
        CU_ASSERT(took < 1000);

        if (sess != NULL) {
            SSL_SESSION_free(sess);
        }

        if (i == 0) {
            CU_ASSERT_FATAL(tsr_test_redis_signal(&redis, SIGCONT) == 0);
        }
    }

    /* the next test's redis_fresh() starts it again */

done:

    node_stop(&node_b);
    node_stop(&node_a);
}


static void
test_tls12_finished_waits_for_its_set_in_one_write(void)
{
    held_until_set(TSR_TEST_TLS12);
}


static void
test_tls13_tickets_wait_for_their_sets_in_one_write(void)
{
    held_until_set(TSR_TEST_TLS13);
}


/* two workers: the status adds their slots up */

static void
two_workers(int version)
{
    int           i, reused;
    node_opts_t   opts;
    SSL_SESSION  *sess[WORKERS_FULL];
    char          want[LOG_MAX], log[LOG_MAX];

    memset(sess, 0, sizeof(sess));
    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 2;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_start(&node_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    want[0] = '\0';

    for (i = 0; i < WORKERS_FULL; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL,
                                  &sess[i]), 0);
        strcat(want, i == 0 ? "none" : ",none");
    }

    CU_ASSERT_EQUAL(wait_sessions(WORKERS_FULL * FULL_SESSIONS(version)),
                    WORKERS_FULL * FULL_SESSIONS(version));

    reused = 0;

    for (i = 0; i < WORKERS_RESUMED; i++) {
        reused += handshake(node_a.tls_port, version, 0, 1, sess[i], NULL);
        strcat(want, ",hit");
    }

    CU_ASSERT_EQUAL(reused, WORKERS_RESUMED);

    tsr_test_sleep_ms(QUIET_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv1.%d, 2 workers: none %lld, hit %lld, stores %lld, "
           "connections %lld ", version == TSR_TEST_TLS13 ? 3 : 2,
           lookups(scraped, "http", "one.test", "none"),
           lookups(scraped, "http", "one.test", "hit"),
           server_counter(scraped, "ssl_session_redis_stores_total", "http",
                          "one.test"),
           connections(scraped, "http", NULL));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"),
                    WORKERS_FULL);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "hit"),
                    WORKERS_RESUMED);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"),
                    WORKERS_FULL * FULL_SESSIONS(version)
                    + WORKERS_RESUMED * RESUMED_SESSIONS(version));
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"),
                    WORKERS_RESUMED);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_latency_seconds_count",
                        "http"),
                    WORKERS_RESUMED);
    CU_ASSERT_EQUAL(connections(scraped, "http", NULL), 2);
    CU_ASSERT_EQUAL(connections(scraped, "http", "up"), 2);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_connects_total", "http"), 2);

    CU_ASSERT_EQUAL(read_log(node_a.tls_log, WORKERS_FULL + WORKERS_RESUMED,
                             log, sizeof(log)),
                    WORKERS_FULL + WORKERS_RESUMED);
    CU_ASSERT_STRING_EQUAL(log, want);

done:

    for (i = 0; i < WORKERS_FULL; i++) {
        if (sess[i] != NULL) {
            SSL_SESSION_free(sess[i]);
        }
    }

    node_stop(&node_a);
    node_check_log(&node_a);
}


/*
 * Fleet ticket keys: no session lookups (none) and no sessions written
 * (the state rides in the tickets); tickets issued and decrypted are
 * counted, and $ssl_session_redis says "ticket" for resumptions.
 */

static void
tickets(int version)
{
    int           i;
    node_opts_t   opts;
    SSL_SESSION  *sess[FULL];
    char          log[LOG_MAX];

    memset(sess, 0, sizeof(sess));
    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 1;
    opts.tickets = 1;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_write(&node_b, "metrics-b", &opts) != 0
        || node_start(&node_a) != 0
        || node_start(&node_b) != 0)
    {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (i = 0; i < FULL; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 1, 1, NULL,
                                  &sess[i]), 0);
    }

    for (i = 0; i < RESUMED; i++) {
        CU_ASSERT_EQUAL(handshake(node_b.tls_port, version, 1, 1, sess[i],
                                  NULL), 1);
    }

    /*
     * Node A's worker made the first ring on the fresh Redis, node B
     * loaded it.  OpenSSL sends TLS 1.3 clients two tickets after a full
     * handshake and, as nginx asks, one new ticket after a resumption;
     * TLS 1.2 clients get one after a full handshake, and none after a
     * resumption under the current key.
     */

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    TLSv1.%d fleet tickets: node A issued %lld; ",
           version == TSR_TEST_TLS13 ? 3 : 2,
           ticket_events(scraped, "issued"));

    CU_ASSERT_EQUAL(ticket_events(scraped, "issued"),
                    version == TSR_TEST_TLS13 ? 2 * FULL : FULL);
    CU_ASSERT_EQUAL(ticket_events(scraped, "not_issued"), 0);
    CU_ASSERT_EQUAL(ticket_events(scraped, "decrypted"), 0);
    CU_ASSERT_EQUAL(ticket_events(scraped, "renewed"), 0);
    CU_ASSERT_EQUAL(ticket_events(scraped, "unknown_key"), 0);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_ticket_rotations_total", "http"),
                    1);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_ticket_loads_total", "http"), 1);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_ticket_load_errors_total",
                        "http"), 0);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), FULL);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"), 0);

    /* TLS 1.3 reports its sessions, which ride in the tickets */
    CU_ASSERT_EQUAL(server_counter(scraped,
                                   "ssl_session_redis_stores_skipped_total",
                                   "http", "one.test"),
                    version == TSR_TEST_TLS13 ? 2 * FULL : 0);

    if (scrape(&node_b, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("node B decrypted %lld, issued %lld ",
           ticket_events(scraped, "decrypted"),
           ticket_events(scraped, "issued"));

    CU_ASSERT_EQUAL(ticket_events(scraped, "issued"),
                    version == TSR_TEST_TLS13 ? RESUMED : 0);
    CU_ASSERT_EQUAL(ticket_events(scraped, "decrypted"), RESUMED);
    CU_ASSERT_EQUAL(ticket_events(scraped, "renewed"),
                    version == TSR_TEST_TLS13 ? RESUMED : 0);
    CU_ASSERT_EQUAL(ticket_events(scraped, "unknown_key"), 0);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_ticket_rotations_total", "http"),
                    0);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_ticket_loads_total", "http"), 1);

    /* node A's ring, loaded by B: young, issuing for hours yet */
    CU_ASSERT(subsystem_value(scraped,
                  "ssl_session_redis_ticket_key_age_seconds", "http") >= 0);
    CU_ASSERT(subsystem_value(scraped,
                  "ssl_session_redis_ticket_key_age_seconds", "http") < 60);
    CU_ASSERT(subsystem_value(scraped,
                  "ssl_session_redis_ticket_issue_left_seconds", "http")
              > 3600);
    CU_ASSERT_PTR_NULL(strstr(scraped, "ssl_session_redis_ticket_key_age_"
                                       "seconds{subsystem=\"stream\"}"));

    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), RESUMED);
    CU_ASSERT_EQUAL(server_counter(scraped, "ssl_session_redis_stores_total",
                                   "http", "one.test"), 0);
    CU_ASSERT_EQUAL(value(scraped, "ssl_session_redis_commands_total"
                          "{subsystem=\"http\",command=\"get\"}"), 0);

    CU_ASSERT_EQUAL(read_log(node_a.tls_log, FULL, log, sizeof(log)), FULL);
    CU_ASSERT_STRING_EQUAL(log, "none,none,none,none");
    CU_ASSERT_EQUAL(read_log(node_b.tls_log, RESUMED, log, sizeof(log)),
                    RESUMED);
    CU_ASSERT_STRING_EQUAL(log, "ticket,ticket,ticket");

done:

    for (i = 0; i < FULL; i++) {
        if (sess[i] != NULL) {
            SSL_SESSION_free(sess[i]);
        }
    }

    node_stop(&node_a);
    node_stop(&node_b);
    node_check_log(&node_a);
    node_check_log(&node_b);
}


static void
test_tls12_counts_across_nodes(void)
{
    counts(TSR_TEST_TLS12);
}


static void
test_tls13_counts_across_nodes(void)
{
    counts(TSR_TEST_TLS13);
}


static void
test_tls12_shared_cache_second_resumption_is_l1(void)
{
    first_level(TSR_TEST_TLS12);
}


static void
test_tls13_shared_cache_second_resumption_is_l1(void)
{
    first_level(TSR_TEST_TLS13);
}


static void
test_slow_redis_counts_a_timeout(void)
{
    slow_redis(TSR_TEST_TLS12);
}


static void
test_stream_counted_under_its_subsystem(void)
{
    stream(TSR_TEST_TLS13);
}


static void
test_two_workers_add_up(void)
{
    two_workers(TSR_TEST_TLS12);
}


static void
test_tls13_fleet_tickets_counted(void)
{
    tickets(TSR_TEST_TLS13);
}


static void
test_tls12_fleet_tickets_counted(void)
{
    tickets(TSR_TEST_TLS12);
}


/* the checker itself: each of these breaks one rule */

static void
test_prometheus_checker_rejects_bad_text(void)
{
    size_t  i;
    char    err[512];

    static const char  good[] =
        "# HELP a_total A.\n# TYPE a_total counter\n"
        "a_total{x=\"1\"} 2\na_total{x=\"a\\\"b\\\\c\\n\"} 0\n"
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{s=\"1\",le=\"0.1\"} 1\nh_bucket{s=\"1\",le=\"+Inf\"} 2\n"
        "h_sum{s=\"1\"} 0.300\nh_count{s=\"1\"} 2\n"
        "h_bucket{s=\"2\",le=\"0.1\"} 0\nh_bucket{s=\"2\",le=\"+Inf\"} 0\n"
        "h_sum{s=\"2\"} 0\nh_count{s=\"2\"} 0\n"
        "# HELP g G.\n# TYPE g gauge\ng -1\n";

    static const char *const  bad[] = {
        "",
        "# HELP a A.\n# TYPE a counter\na 1",
        "a 1\n",
        "# HELP a A.\n# TYPE a counter\n# TYPE a counter\na 1\n",
        "# HELP a A.\n# TYPE a counter\na 1\n# HELP a A.\n",
        "# HELP a A.\n# TYPE a counter\na{x=\"1\"} 1\n"
        "# HELP b B.\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n",
        "# HELP a A.\n# TYPE a counter\na 1\na 2\n",
        "# HELP a A.\n# TYPE a counter\na{x=\"1\\.\"} 1\n",
        "# HELP a A.\n# TYPE a counter\na{x=\"1} 1\n",
        "# HELP a A.\n# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",
        "# HELP a A.\n# TYPE a counter\na x\n",
        "# HELP a A.\n# TYPE a counter\na{x=\"1\"}\n",
        "# HELP a A.\n# TYPE a counter\n1a 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\n"
        "h_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.2\"} 1\nh_bucket{le=\"0.1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.1\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\n"
        "h_count 1\n",
        "# HELP a A.\n# TYPE a counter\na 1\n\n",
        "# HELP a A.\n# TYPE a counter\na -1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{s=\"1\",le=\"+Inf\"} 1\n"
        "h_bucket{s=\"2\",le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 0\n",
        "# HELP h H.\n# TYPE h histogram\nh 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"0.100\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\n"
        "h_count 1\n",
        "# HELP h H.\n# TYPE h histogram\n"
        "h_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\n"
        "h_count 1\n"
    };

    CU_ASSERT_EQUAL(prom_check(good, err, sizeof(err)), 0);
    if (prom_check(good, err, sizeof(err)) != 0) {
        fprintf(stderr, "\ngood text rejected: %s\n", err);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (prom_check(bad[i], err, sizeof(err)) == 0) {
            fprintf(stderr, "\nbad text %zu accepted\n", i);
            CU_FAIL("bad text accepted");
        }
    }
}


/*
 * A plain connection to "port" with half a request: the worker that
 * took it cannot finish before the header timeout, or before it closes.
 */

static int
hold_open(int port)
{
    int                  fd;
    struct sockaddr_in   sin;
    static const char    half[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n";

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || write(fd, half, sizeof(half) - 1) != (ssize_t) (sizeof(half) - 1))
    {
        close(fd);
        return -1;
    }

    return fd;
}


#define COUNTERS  4

/* counters a handshake moves, in "c"; -1 when one is missing */

static int
counters(const char *text, long long *c)
{
    int  i;

    c[0] = lookups(text, "http", "one.test", "none");
    c[1] = server_counter(text, "ssl_session_redis_stores_total", "http",
                          "one.test");
    c[2] = value(text, "ssl_session_redis_commands_total"
                 "{subsystem=\"http\",command=\"set\"}");
    c[3] = subsystem_value(text, "ssl_session_redis_connects_total",
                           "http");

    for (i = 0; i < COUNTERS; i++) {
        if (c[i] < 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * A reload while an old worker still has a connection to finish: old
 * and new workers run side by side, then the old one exits.  Prometheus
 * must never see a counter go down: scraped again and again, every
 * counter only grows, and what the old worker counted stays counted.
 */

static void
test_counters_keep_growing_across_a_reload(void)
{
    int           i, k, fd, drops, version;
    long long     c[COUNTERS], prev[COUNTERS], first[COUNTERS];
    node_opts_t   opts;

    static const char *const  names[] = {
        "lookups none", "stores", "set commands", "connects"
    };

    fd = -1;
    drops = 0;
    version = TSR_TEST_TLS12;

    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 1;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_start(&node_a) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    for (i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(handshake(node_a.tls_port, version, 0, 1, NULL, NULL),
                        0);
    }

    tsr_test_sleep_ms(QUIET_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0
        || counters(scraped, first) != 0)
    {
        CU_FAIL("no counters before the reload");
        goto done;
    }

    memcpy(prev, first, sizeof(prev));

    /* the old worker keeps running with this one */

    fd = hold_open(node_a.status_port);
    CU_ASSERT(fd != -1);

    tsr_test_sleep_ms(200);

    CU_ASSERT_EQUAL(tsr_test_nginx_signal(&node_a.nginx, SIGHUP), 0);

    for (i = 0; i < 30; i++) {
        tsr_test_sleep_ms(150);

        if (i == 20 && fd != -1) {
            /* the old worker may go now */
            close(fd);
            fd = -1;
        }

        if (i % 2 == 0) {
            (void) handshake(node_a.tls_port, version, 0, 1, NULL, NULL);
        }

        if (tsr_test_nginx_get(node_a.status_port, "/metrics", scraped,
                               sizeof(scraped))
            != 0
            || counters(scraped, c) != 0)
        {
            continue;
        }

        for (k = 0; k < COUNTERS; k++) {
            if (c[k] < prev[k]) {
                printf("\n    scrape %d: %s went down from %lld to %lld ",
                       i, names[k], prev[k], c[k]);
                drops++;
            }

            prev[k] = c[k];
        }
    }

    tsr_test_sleep_ms(QUIET_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0
        || counters(scraped, c) != 0)
    {
        CU_FAIL("no counters after the reload");
        goto done;
    }

    printf("\n    before the reload: none %lld, stores %lld, sets %lld, "
           "connects %lld; after: %lld, %lld, %lld, %lld; %d drops ",
           first[0], first[1], first[2], first[3], c[0], c[1], c[2], c[3],
           drops);

    CU_ASSERT_EQUAL(drops, 0);

    /* 15 more handshakes, one more connection (the new worker's) */
    CU_ASSERT_EQUAL(c[0], first[0] + 15);
    CU_ASSERT_EQUAL(c[3], first[3] + 1);

    for (k = 0; k < COUNTERS; k++) {
        CU_ASSERT(c[k] >= first[k]);
    }

    CU_ASSERT_EQUAL(connections(scraped, "http", "up"), 1);

done:

    if (fd != -1) {
        close(fd);
    }

    node_stop(&node_a);
    node_check_log(&node_a);
}


/*
 * Every worker is counted, however many there are: slots used to stop
 * at 64.
 */

static void
test_seventy_workers_all_counted(void)
{
    int           i, ok;
    node_opts_t   opts;

    memset(&opts, 0, sizeof(node_opts_t));

    opts.workers = 70;
    opts.redis_port = redis.port;

    if (redis_fresh() != 0
        || node_write(&node_a, "metrics-a", &opts) != 0
        || node_start(&node_a) != 0)
    {
        CU_FAIL("node did not start, or not every worker was counted");
        goto done;
    }

    ok = 0;

    for (i = 0; i < 20; i++) {
        ok += (handshake(node_a.tls_port, TSR_TEST_TLS12, 0, 1, NULL, NULL)
               == 0);
    }

    tsr_test_sleep_ms(QUIET_MS);

    if (scrape(&node_a, scraped, sizeof(scraped)) != 0) {
        goto done;
    }

    printf("\n    70 workers: connections %lld, up %lld, connects %lld, "
           "none %lld of %d handshakes ",
           connections(scraped, "http", NULL),
           connections(scraped, "http", "up"),
           subsystem_value(scraped, "ssl_session_redis_connects_total",
                           "http"),
           lookups(scraped, "http", "one.test", "none"), ok);

    CU_ASSERT_EQUAL(ok, 20);
    CU_ASSERT_EQUAL(connections(scraped, "http", NULL), 70);
    CU_ASSERT_EQUAL(connections(scraped, "http", "up"), 70);
    CU_ASSERT_EQUAL(subsystem_value(scraped,
                        "ssl_session_redis_connects_total", "http"), 70);
    CU_ASSERT_EQUAL(lookups(scraped, "http", "one.test", "none"), 20);

done:

    node_stop(&node_a);
    node_check_log(&node_a);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_prometheus_checker_rejects_bad_text),
        TSR_TEST_FN(test_tls12_counts_across_nodes),
        TSR_TEST_FN(test_tls13_counts_across_nodes),
        TSR_TEST_FN(test_tls12_shared_cache_second_resumption_is_l1),
        TSR_TEST_FN(test_tls13_shared_cache_second_resumption_is_l1),
        TSR_TEST_FN(test_slow_redis_counts_a_timeout),
        TSR_TEST_FN(test_stream_counted_under_its_subsystem),
        TSR_TEST_FN(test_two_workers_add_up),
        TSR_TEST_FN(test_tls12_finished_waits_for_its_set_in_one_write),
        TSR_TEST_FN(test_tls13_tickets_wait_for_their_sets_in_one_write),
        TSR_TEST_FN(test_tls13_fleet_tickets_counted),
        TSR_TEST_FN(test_tls12_fleet_tickets_counted),
        TSR_TEST_FN(test_counters_keep_growing_across_a_reload),
        TSR_TEST_FN(test_seventy_workers_all_counted)
    };

    return TSR_TEST_MAIN("metrics", init_suite, clean_suite, tests);
}
