
/*
 * Fleet ticket keys and single-use sessions against real nginx nodes:
 * two nodes (http and stream) share one private Redis, a third node of
 * another fleet has its own.
 *
 * - tickets: sessions resume across nodes through stateless tickets (TLS
 *   1.2 tickets, TLS 1.3 tickets), never through the session cache;
 * - rotation: a ticket under the previous key resumes and is renewed; a
 *   ticket whose key has left the ring does not; a ticket of another
 *   fleet gets a full handshake, quietly;
 * - a race of rotators (four nginx workers, two of them rotating, plus
 *   extra processes calling tsr_tickets_sync()) rotates exactly once per
 *   period, and no handshake meanwhile goes without a ticket;
 * - Redis stopped: tickets are issued until the current key's encryption
 *   period ends, then not (handshakes still succeed, logged), and again
 *   once Redis is back;
 * - reload and restart keep tickets resuming;
 * - a Redis that drips its replies a byte at a time, each just within
 *   the read timeout, holds neither a worker's start nor a reload;
 * - single use: a session resumes at most once across the fleet, also
 *   when offered to both nodes at once, and 0-RTT data replayed to the
 *   other node is not accepted.
 *
 * Periods are short (2 s) and every wait is bounded.  Timing
 * assertions leave room for a loaded machine: they check what the design
 * guarantees (once per period by Redis' clock, the encryption grace of a
 * quarter period), not how fast a process is scheduled.
 *
 * TSR_TEST_ONLY=<substring> runs only the tests whose names contain it.
 */


#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define HANDSHAKES        1000
#define MAX_FAILURES      20
#define RING_KEY          "tsr:tk:default"
#define RING_MAX          16384
#define SHORT_PERIOD      2000        /* ms: rotation and outage cases */
#define RACE_PERIOD       2000        /* ms */
#define RACE_PERIODS      3
#define RACE_PROCS        6
#define SINGLE_ROUNDS     50
#define SEQ_ROUNDS        10
#define EARLY_MAX         16384
#define NODE_A            0
#define NODE_B            1
#define NODE_C            2
#define DRIP_BOUND        9000        /* ms: a start's deadline is 4 s */
#define MAX_WORKERS       16


typedef struct {
    int                 stream;
    int                 workers;        /* 0: 1 */
    int                 tickets;        /* ssl_session_tickets and
                                           ssl_session_redis_tickets on */
    const char         *rotation;       /* NULL: the default, 12h */
    const char         *timeout;        /* ssl_session_timeout, NULL: 10m */
    int                 single_use;
    int                 early_data;
    int                 foreign;        /* the other fleet: node C's Redis
                                           and key */
    int                 redis_port;     /* 0: the fleet's Redis */
} node_conf_t;


typedef struct {
    tsr_test_nginx_t    nginx;
    int                 port;
    int                 stream;
    int                 running;
    char                access_log[PATH_MAX + 32];
} node_t;


/* what a client got from one connection */
typedef struct {
    int                 reused;
    int                 sessions;       /* new sessions reported */
    SSL_SESSION        *sess;           /* to offer next, or NULL */
} hs_t;


/* the ring's clear header */
typedef struct {
    uint64_t            gen;
    uint64_t            rotated_at;     /* Redis' clock, Unix ms */
} ring_head_t;


typedef struct {
    int                 reused;
    int                 status;         /* SSL_get_early_data_status() */
    char                body[64];
    size_t              sent_len;       /* ClientHello and early data */
    uint8_t             sent[EARLY_MAX];
} early_t;


/* what watch_ring() saw */
typedef struct {
    uint64_t            first_gen;
    uint64_t            last_gen;
    int                 steps;          /* generation changes */
    int                 skipped;        /* changes by more than one */
    int                 too_soon;       /* under a period apart */
    int                 too_late;       /* over 1.25 periods apart */
    int                 ring_gone;
    long long           min_gap;        /* ms between rotations */
    long long           max_gap;
    int                 handshakes;
    int                 failed;
    int                 issued;         /* with a ticket */
    int                 offered;
    int                 resumed;
} watch_t;


typedef struct {
    pthread_barrier_t  *barrier;
    node_t             *node;
    int                 version;
    SSL_SESSION        *offer;
    int                 rc;
    int                 reused;
} racer_t;


static int init_suite(void);
static int clean_suite(void);
static long long real_ms(void);
static int write_node(node_t *nd, const node_conf_t *nc);
static int start_node(node_t *nd);
static int start_nodes(int first, int n);
static void stop_nodes(void);
static int setup_nodes(int first, int n, const node_conf_t *nc);
static int reload_nodes(int first, int n, const node_conf_t *nc);
static void check_logs(void);
static int log_lines(const char *path, const char *needle);
static int handshake(node_t *nd, int version, int tickets,
    SSL_SESSION *offer, hs_t *hs);
static void hs_free(hs_t *hs);
static int ticket_name(const SSL_SESSION *sess, char *out);
static int has_ticket(const SSL_SESSION *sess);
static int same_ticket(const SSL_SESSION *a, const SSL_SESSION *b);
static int session_keys(tsr_test_redis_t *r, const char *pattern);
static int session_key_pattern(const SSL_SESSION *sess, int version,
    char *out, size_t len);
static int wait_stored(const SSL_SESSION *sess, int version, int ms);
static int ring_head(tsr_test_redis_t *r, ring_head_t *h);
static int ring_info(tsr_test_redis_t *r, uint64_t period,
    tsr_tickets_info_t *info);
static int ring_current(tsr_test_redis_t *r, uint64_t period,
    uint64_t *gen, char *name);
static int ring_holds(tsr_test_redis_t *r, uint64_t period,
    const char *name);
static int wait_rotation(uint64_t after, int ms, ring_head_t *h);
static int wait_issuing(int first, int n, int version, const char *name,
    int ms);
static int wait_lifetime_hint(int first, int n, unsigned long hint, int ms);
static void cross_node(int stream, int version);
static void rotation(int stream, int version);
static void race_child(int period, long long until);
static int watch_ring(int periods, watch_t *w);
static int rotating_pids(const char *path);
static void watch_report(const char *what, int periods, const watch_t *w);
static void *racer(void *arg);
static void single_use_case(int version);
static int early_request(int port, SSL_SESSION *sess, early_t *e);
static int early_flush(SSL *ssl, BIO *wbio, int fd, early_t *e);
static int early_feed(BIO *rbio, int fd);
static int raw_replay(int port, const uint8_t *data, size_t len, int ms);
static int client_socket(int port, int timeout_ms);
static void early_case(int single_use);
static void test_http_tls12_tickets_resume_across_nodes(void);
static void test_http_tls13_tickets_resume_across_nodes(void);
static void test_stream_tls12_tickets_resume_across_nodes(void);
static void test_stream_tls13_tickets_resume_across_nodes(void);
static void test_http_tls12_rotation_renews_then_key_leaves(void);
static void test_http_tls13_rotation_renews_then_key_leaves(void);
static void test_stream_tls12_rotation_renews_then_key_leaves(void);
static void test_stream_tls13_rotation_renews_then_key_leaves(void);
static void test_ticket_of_another_fleet_gets_full_handshake(void);
static void test_rotation_race_once_per_period(void);
static void test_redis_outage_stops_issuing_after_grace(void);
static void test_tickets_survive_reload_and_restart(void);
static int worker_pids(pid_t master, pid_t *pids, int max);
static int wait_serving(node_t *nd, int ms);
static void test_dripping_redis_does_not_hold_worker_start(void);
static void test_dripping_redis_does_not_hold_reload(void);
static void test_tls12_single_use_resumes_once(void);
static void test_tls13_single_use_resumes_once(void);
static void test_early_data_replay_rejected_with_single_use(void);
static void test_early_data_replayed_without_single_use(void);


static tsr_test_redis_t   redis;
static tsr_test_redis_t   redis_c;          /* the other fleet's */
static node_t             nodes[3];
static tsr_keyring_t     *fleet;
static char               key_file[PATH_MAX + 16];
static char               key_file_c[PATH_MAX + 16];


static int
init_suite(void)
{
    int                       i;
    unsigned char             key[48], key_c[48];
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


static int
clean_suite(void)
{
    stop_nodes();
    tsr_test_redis_stop(&redis);
    tsr_test_redis_stop(&redis_c);
    tsr_keyring_destroy(fleet);
    fleet = NULL;

    return 0;
}


/* the clock rotation times are on: Redis' TIME on this very machine */

static long long
real_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static int
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
             "    ssl_session_redis_key %s;\n"
             "    ssl_session_redis_timeout 1s;\n"
             "%s%s%s%s%s",
             nd->port, nodes[NODE_A].nginx.dir, nodes[NODE_A].nginx.dir,
             nc->tickets ? "on" : "off",
             nc->timeout != NULL ? nc->timeout : "10m",
             nc->early_data ? "    ssl_early_data on;\n" : "",
             nc->redis_port != 0 ? nc->redis_port
                                 : nc->foreign ? redis_c.port : redis.port,
             nc->foreign ? key_file_c : key_file,
             nc->tickets ? "    ssl_session_redis_tickets on;\n" : "",
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

static int
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


static int
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


static void
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

static int
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


static int
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


static void
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


static int
log_lines(const char *path, const char *needle)
{
    int  n;

    n = tsr_test_grep_count(path, needle);

    return n > 0 ? n : 0;
}


static int
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


static void
hs_free(hs_t *hs)
{
    if (hs->sess != NULL) {
        SSL_SESSION_free(hs->sess);
        hs->sess = NULL;
    }
}


/*
 * A ticket starts with the name of its key (16 bytes, as nginx's key
 * files and tsr's ring lay them out): its hex in out[33].  Returns 0, or
 * -1 without a ticket.
 */

static int
ticket_name(const SSL_SESSION *sess, char *out)
{
    size_t                i, len;
    const unsigned char  *tick;

    out[0] = '\0';

    if (sess == NULL) {
        return -1;
    }

    SSL_SESSION_get0_ticket(sess, &tick, &len);

    if (tick == NULL || len < TSR_TICKETS_NAME_LEN) {
        return -1;
    }

    for (i = 0; i < TSR_TICKETS_NAME_LEN; i++) {
        snprintf(out + 2 * i, 3, "%02x", tick[i]);
    }

    return 0;
}


static int
has_ticket(const SSL_SESSION *sess)
{
    return sess != NULL && SSL_SESSION_has_ticket(sess);
}


static int
same_ticket(const SSL_SESSION *a, const SSL_SESSION *b)
{
    size_t                alen, blen;
    const unsigned char  *at, *bt;

    SSL_SESSION_get0_ticket(a, &at, &alen);
    SSL_SESSION_get0_ticket(b, &bt, &blen);

    return alen == blen && alen > 0 && memcmp(at, bt, alen) == 0;
}


/* how many keys match "pattern" */

static int
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

static int
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

static int
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


static int
ring_head(tsr_test_redis_t *r, ring_head_t *h)
{
    int            i;
    size_t         len;
    unsigned char  val[RING_MAX];

    len = sizeof(val);

    if (tsr_test_redis_get_raw(r, RING_KEY, val, &len) != 0 || len < 16) {
        return -1;
    }

    h->gen = 0;
    h->rotated_at = 0;

    for (i = 0; i < 8; i++) {
        h->gen = (h->gen << 8) | val[i];
        h->rotated_at = (h->rotated_at << 8) | val[8 + i];
    }

    return 0;
}


/* opens the ring in Redis as a node would, and describes it */

static int
ring_info(tsr_test_redis_t *r, uint64_t period, tsr_tickets_info_t *info)
{
    int                  rc;
    size_t               len;
    tsr_tickets_t       *t;
    tsr_tickets_conf_t   conf;
    char                 err[256];
    unsigned char        val[RING_MAX];

    len = sizeof(val);

    if (tsr_test_redis_get_raw(r, RING_KEY, val, &len) != 0) {
        return -1;
    }

    memset(&conf, 0, sizeof(tsr_tickets_conf_t));
    conf.keys = fleet;
    conf.period_ms = period;
    conf.no_rotate = 1;

    t = tsr_tickets_create(&conf, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "tsr_tickets_create(): %s\n", err);
        return -1;
    }

    rc = -1;

    if (tsr_tickets_load_value(t, val, len) == TSR_OK
        && tsr_tickets_info(t, info) == TSR_OK)
    {
        rc = 0;
    }

    tsr_tickets_destroy(t);
    OPENSSL_cleanse(val, sizeof(val));

    return rc;
}


static int
ring_current(tsr_test_redis_t *r, uint64_t period, uint64_t *gen,
    char *name)
{
    size_t              i;
    tsr_tickets_info_t  info;

    if (ring_info(r, period, &info) != 0) {
        return -1;
    }

    for (i = 0; i < info.nkeys; i++) {
        if (info.keys[i].role == TSR_TICKETS_CURRENT) {
            *gen = info.gen;
            memcpy(name, info.keys[i].name, sizeof(info.keys[i].name));
            return 0;
        }
    }

    return -1;
}


/* 1: a key of that name is in the ring, 0: not, -1: no ring */

static int
ring_holds(tsr_test_redis_t *r, uint64_t period, const char *name)
{
    size_t              i;
    tsr_tickets_info_t  info;

    if (ring_info(r, period, &info) != 0) {
        return -1;
    }

    for (i = 0; i < info.nkeys; i++) {
        if (strcmp(info.keys[i].name, name) == 0) {
            return 1;
        }
    }

    return 0;
}


/* until the ring's generation passes "after" */

static int
wait_rotation(uint64_t after, int ms, ring_head_t *h)
{
    int        i;
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (i = 0; i < 100000 && tsr_test_now_ms() < deadline; i++) {
        if (ring_head(&redis, h) == 0 && h->gen > after) {
            return 0;
        }

        tsr_test_sleep_ms(5);
    }

    return -1;
}


/* until every node given issues tickets under the key "name" */

static int
wait_issuing(int first, int n, int version, const char *name, int ms)
{
    int        i, k, done;
    hs_t       hs;
    char       got[2 * TSR_TICKETS_NAME_LEN + 1];
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (k = first; k < first + n; k++) {
        done = 0;

        for (i = 0; i < 1000 && !done && tsr_test_now_ms() < deadline; i++)
        {
            if (handshake(&nodes[k], version, 1, NULL, &hs) == 0
                && ticket_name(hs.sess, got) == 0
                && strcmp(got, name) == 0)
            {
                done = 1;

            } else {
                tsr_test_sleep_ms(20);
            }

            hs_free(&hs);
        }

        if (!done) {
            return -1;
        }
    }

    return 0;
}


/* until every node given sends tickets with this lifetime hint: reloaded */

static int
wait_lifetime_hint(int first, int n, unsigned long hint, int ms)
{
    int        i, k, done;
    hs_t       hs;
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for (k = first; k < first + n; k++) {
        done = 0;

        for (i = 0; i < 1000 && !done && tsr_test_now_ms() < deadline; i++)
        {
            if (handshake(&nodes[k], TSR_TEST_TLS13, 1, NULL, &hs) == 0
                && hs.sess != NULL
                && SSL_SESSION_get_ticket_lifetime_hint(hs.sess) == hint)
            {
                done = 1;

            } else {
                tsr_test_sleep_ms(50);
            }

            hs_free(&hs);
        }

        if (!done) {
            return -1;
        }
    }

    return 0;
}


/*
 * Tickets on: handshakes alternate between the nodes, each offering the
 * session the previous one received.  Resumption comes from the tickets:
 * Redis holds the ring and no session.
 */

static void
cross_node(int stream, int version)
{
    int           i, rc, offered, resumed, failed, ticketed, stored;
    hs_t          hs;
    char          out[64];
    long long     start, elapsed;
    node_conf_t   nc;
    SSL_SESSION  *offer;

    offer = NULL;
    offered = 0;
    resumed = 0;
    failed = 0;
    ticketed = 0;
    i = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.stream = stream;
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    (void) tsr_test_redis_cmd(&redis, out, sizeof(out), "EVAL %s 0 %s",
                              "for _, k in ipairs(redis.call('KEYS', "
                              "ARGV[1])) do redis.call('DEL', k) end",
                              "tsr:s:*");

    start = tsr_test_now_ms();

    /* one more than HANDSHAKES: every one of HANDSHAKES offers counts */

    for (i = 0; i <= HANDSHAKES && failed < MAX_FAILURES; i++) {
        rc = handshake(&nodes[i % 2], version, 1, offer, &hs);

        if (offer != NULL) {
            offered++;
            resumed += hs.reused;
            SSL_SESSION_free(offer);
        }

        if (rc != 0) {
            failed++;
        }

        ticketed += has_ticket(hs.sess);
        offer = hs.sess;
    }

    elapsed = tsr_test_now_ms() - start;
    stored = session_keys(&redis, "tsr:s:*");

    printf("\n    %s TLSv1.%d tickets: %d of %d offers resumed on the "
           "other node (%.2f%%), %d of %d sessions with a ticket, %d "
           "sessions in redis, %d handshakes in %lld ms ",
           stream ? "stream" : "http", version == TSR_TEST_TLS13 ? 3 : 2,
           resumed, offered, offered > 0 ? 100.0 * resumed / offered : 0.0,
           ticketed, i, stored, i, elapsed);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(offered, HANDSHAKES);
    CU_ASSERT(resumed >= HANDSHAKES - 1);
    CU_ASSERT(ticketed >= HANDSHAKES);
    CU_ASSERT_EQUAL(stored, 0);

done:

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    stop_nodes();
    check_logs();
}


/*
 * Period SHORT_PERIOD, session timeout 60 s.  T0 is issued under the
 * current key of generation g0 (both nodes verified to issue under it).
 * Once generation g0 + 1 is loaded, T0's key is a previous key: T0
 * resumes on both nodes and is renewed under the new current key.
 *
 * Then the key must leave the ring while T0 itself is still valid.  A
 * key decrypts until it stopped + ticket lifetime + period, and the
 * lifetime is the nodes' session timeout, so with one configuration a
 * ticket always expires before its key goes (by design).  The nodes are
 * therefore reloaded with ssl_session_timeout 2s: the ring's lifetime
 * becomes 2 s, T0's key expires 2 s + one period after it stopped and
 * the next rotation drops it from the ring, while T0 carries its own
 * 60 s timeout (OpenSSL checks the session's timeout, not the
 * context's).  The test waits until the ring in Redis no longer holds
 * T0's key name and that time has passed by the local clock, checks T0 is
 * well within its 60 s, and offers it: full handshake on both nodes.
 */

static void
rotation(int stream, int version)
{
    int           k, fresh_ok, renewed, early_ok, held;
    hs_t          hs;
    char          n0[2 * TSR_TICKETS_NAME_LEN + 1];
    char          cur[2 * TSR_TICKETS_NAME_LEN + 1];
    char          got[2 * TSR_TICKETS_NAME_LEN + 1];
    uint64_t      gen, g0;
    long long     issued_at, stopped, gone_at, now, deadline;
    node_conf_t   nc;
    ring_head_t   h;
    SSL_SESSION  *t0;

    t0 = NULL;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.stream = stream;
    nc.tickets = 1;
    nc.rotation = "2s";
    nc.timeout = "60s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* right after a rotation, both nodes issuing under the new key */

    if (ring_head(&redis, &h) != 0
        || wait_rotation(h.gen, 3 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &g0, cur) != 0
        || wait_issuing(NODE_A, 2, version, cur, SHORT_PERIOD / 2) != 0)
    {
        CU_FAIL("no fresh generation issued by both nodes");
        goto done;
    }

    if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0
        || ticket_name(hs.sess, n0) != 0)
    {
        hs_free(&hs);
        CU_FAIL("no ticket from node A");
        goto done;
    }

    t0 = hs.sess;
    issued_at = tsr_test_now_ms();

    CU_ASSERT_STRING_EQUAL(n0, cur);

    /*
     * Under the current key, a TLS 1.2 ticket is not replaced (TLS 1.3
     * always gets a new one); judged only if no rotation can have
     * happened meanwhile.
     */

    early_ok = -1;

    if (handshake(&nodes[NODE_B], version, 1, t0, &hs) == 0) {
        CU_ASSERT_EQUAL(hs.reused, 1);

        if (version == TSR_TEST_TLS12
            && real_ms() < (long long) h.rotated_at + SHORT_PERIOD - 100)
        {
            early_ok = hs.sess != NULL && same_ticket(hs.sess, t0);
            CU_ASSERT_EQUAL(early_ok, 1);
        }

    } else {
        CU_FAIL("handshake with node B failed");
    }

    hs_free(&hs);

    /* the next generation: T0's key becomes a previous key */

    if (wait_rotation(g0, 2 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &gen, cur) != 0
        || wait_issuing(NODE_A, 2, version, cur, SHORT_PERIOD) != 0)
    {
        CU_FAIL("no next generation issued by both nodes");
        goto done;
    }

    /* when T0's key stopped encrypting: the rotation after g0 */
    stopped = (long long) h.rotated_at;

    if (h.gen != g0 + 1) {
        /* a slow machine saw two rotations: take g0 + 1's time apart */
        stopped = -1;
    }

    renewed = 0;

    for (k = NODE_B; k >= NODE_A; k--) {
        if (handshake(&nodes[k], version, 1, t0, &hs) != 0) {
            CU_FAIL("handshake failed");
            continue;
        }

        CU_ASSERT_EQUAL(hs.reused, 1);

        /* renewed: a new ticket, under another key */

        if (version == TSR_TEST_TLS13) {
            CU_ASSERT(hs.sessions >= 1);
        }

        if (hs.sess != NULL && !same_ticket(hs.sess, t0)
            && ticket_name(hs.sess, got) == 0 && strcmp(got, n0) != 0)
        {
            renewed++;
        }

        hs_free(&hs);
    }

    CU_ASSERT_EQUAL(renewed, 2);

    printf("\n    %s TLSv1.%d: ticket of generation %llu resumed and renewed "
           "on %d of 2 nodes in generation %llu%s",
           stream ? "stream" : "http", version == TSR_TEST_TLS13 ? 3 : 2,
           (unsigned long long) g0, renewed, (unsigned long long) h.gen,
           early_ok == 1 ? " (not renewed before the rotation)" : "");

    /* the key leaves the ring: lifetime 2 s from now on */

    nc.timeout = "2s";

    if (reload_nodes(NODE_A, 2, &nc) != 0
        || wait_lifetime_hint(NODE_A, 2, 2, 10000) != 0)
    {
        CU_FAIL("nodes did not reload");
        goto done;
    }

    if (stopped == -1) {
        stopped = real_ms();
    }

    deadline = tsr_test_now_ms() + 6 * SHORT_PERIOD + 10000;
    gone_at = stopped + 2000 + SHORT_PERIOD;
    held = 1;

    for (k = 0; k < 100000 && tsr_test_now_ms() < deadline; k++) {
        held = ring_holds(&redis, SHORT_PERIOD, n0);

        if (held == 0 && real_ms() > gone_at + 100) {
            break;
        }

        tsr_test_sleep_ms(50);
    }

    now = tsr_test_now_ms();

    CU_ASSERT_EQUAL(held, 0);

    /* T0 would still be valid: only its key can be missing */
    CU_ASSERT(now - issued_at < 50000);

    fresh_ok = 0;

    for (k = NODE_A; k <= NODE_B; k++) {
        if (handshake(&nodes[k], version, 1, t0, &hs) != 0) {
            CU_FAIL("handshake failed");
            continue;
        }

        CU_ASSERT_EQUAL(hs.reused, 0);
        fresh_ok += has_ticket(hs.sess);
        hs_free(&hs);
    }

    CU_ASSERT_EQUAL(fresh_ok, 2);

    printf("\n    the key left the ring %lld ms after it stopped; its "
           "ticket, %lld s old of 60 s, got a full handshake on both nodes ",
           real_ms() - stopped, (now - issued_at) / 1000);

done:

    if (t0 != NULL) {
        SSL_SESSION_free(t0);
    }

    stop_nodes();
    check_logs();
}


static void
test_http_tls12_tickets_resume_across_nodes(void)
{
    cross_node(0, TSR_TEST_TLS12);
}


static void
test_http_tls13_tickets_resume_across_nodes(void)
{
    cross_node(0, TSR_TEST_TLS13);
}


static void
test_stream_tls12_tickets_resume_across_nodes(void)
{
    cross_node(1, TSR_TEST_TLS12);
}


static void
test_stream_tls13_tickets_resume_across_nodes(void)
{
    cross_node(1, TSR_TEST_TLS13);
}


static void
test_http_tls12_rotation_renews_then_key_leaves(void)
{
    rotation(0, TSR_TEST_TLS12);
}


static void
test_http_tls13_rotation_renews_then_key_leaves(void)
{
    rotation(0, TSR_TEST_TLS13);
}


static void
test_stream_tls12_rotation_renews_then_key_leaves(void)
{
    rotation(1, TSR_TEST_TLS12);
}


static void
test_stream_tls13_rotation_renews_then_key_leaves(void)
{
    rotation(1, TSR_TEST_TLS13);
}


/*
 * Node C belongs to another fleet (its own Redis and fleet key, the same
 * certificate): its tickets name keys node A has never seen, and the
 * other way round.  A full handshake with a new ticket, no error logged.
 */

static void
test_ticket_of_another_fleet_gets_full_handshake(void)
{
    int           v, version, errors;
    hs_t          ha, hc, hs;
    node_conf_t   nc;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("node A did not start");
        goto done;
    }

    nc.foreign = 1;

    if (setup_nodes(NODE_C, 1, &nc) != 0) {
        CU_FAIL("node C did not start");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[NODE_A], version, 1, NULL, &ha) != 0
            || handshake(&nodes[NODE_C], version, 1, NULL, &hc) != 0
            || !has_ticket(ha.sess) || !has_ticket(hc.sess))
        {
            CU_FAIL("no tickets from nodes A and C");
            hs_free(&ha);
            hs_free(&hc);
            continue;
        }

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 1, hc.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 0);
        CU_ASSERT(has_ticket(hs.sess));
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_C], version, 1, ha.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 0);
        CU_ASSERT(has_ticket(hs.sess));
        hs_free(&hs);

        /* and each fleet still resumes its own */

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_C], version, 1, hc.sess,
                                  &hs), 0);
        CU_ASSERT_EQUAL(hs.reused, 1);
        hs_free(&hs);

        hs_free(&ha);
        hs_free(&hc);
    }

    errors = log_lines(nodes[NODE_A].nginx.error_log, "[error]")
             + log_lines(nodes[NODE_C].nginx.error_log, "[error]");

    CU_ASSERT_EQUAL(errors, 0);

done:

    stop_nodes();
    check_logs();
}


/*
 * An extra rotator: syncs the ring from Redis every few milliseconds
 * until "until" (monotonic ms), then exits with the number of rotations
 * it made (capped).
 */

static void
race_child(int period, long long until)
{
    int                  i;
    tsr_tickets_t       *t;
    tsr_store_conf_t     sconf;
    tsr_tickets_conf_t   conf;
    tsr_tickets_stats_t  st;
    char                 err[256];

    memset(&sconf, 0, sizeof(tsr_store_conf_t));
    sconf.host = "127.0.0.1";
    sconf.port = redis.port;
    sconf.command_timeout_ms = 1000;

    memset(&conf, 0, sizeof(tsr_tickets_conf_t));
    conf.store_conf = &sconf;
    conf.keys = fleet;
    conf.period_ms = (uint64_t) period;
    conf.lifetime_ms = 600000;          /* the nodes' 10m */

    t = tsr_tickets_create(&conf, err, sizeof(err));
    if (t == NULL) {
        _exit(255);
    }

    for (i = 0; i < 100000 && tsr_test_now_ms() < until; i++) {
        (void) tsr_tickets_sync(t);
        tsr_test_sleep_ms(3 + (int) (getpid() % 7));
    }

    tsr_tickets_stats(t, &st);
    tsr_tickets_destroy(t);

    _exit(st.rotations > 200 ? 200 : (int) st.rotations);
}


/*
 * Reads the ring's header every few milliseconds for "periods" periods
 * of RACE_PERIOD from the next rotation on, with a handshake between two
 * reads (alternating nodes, each offering the previous session), and
 * reports what it saw.
 */

static int
watch_ring(int periods, watch_t *w)
{
    int           k;
    hs_t          hs;
    long long     end, gap;
    ring_head_t   h, prev;
    SSL_SESSION  *offer;

    memset(w, 0, sizeof(watch_t));
    w->min_gap = LLONG_MAX;
    offer = NULL;

    if (ring_head(&redis, &prev) != 0
        || wait_rotation(prev.gen, 2 * RACE_PERIOD, &prev) != 0)
    {
        return -1;
    }

    w->first_gen = prev.gen;
    end = tsr_test_now_ms() + periods * RACE_PERIOD + RACE_PERIOD / 2;

    for (k = 0; k < 100000 && tsr_test_now_ms() < end; k++) {
        if (ring_head(&redis, &h) != 0) {
            w->ring_gone++;
            break;
        }

        if (h.gen != prev.gen) {
            w->steps++;

            if (h.gen != prev.gen + 1) {
                w->skipped++;
            }

            gap = (long long) (h.rotated_at - prev.rotated_at);

            if (gap < RACE_PERIOD) {
                w->too_soon++;
            }

            /*
             * Due after a period by Redis' clock; some rotator tries at
             * least every tenth of a period, well within a quarter.
             */

            if (gap > RACE_PERIOD + RACE_PERIOD / 4) {
                w->too_late++;
            }

            w->max_gap = gap > w->max_gap ? gap : w->max_gap;
            w->min_gap = gap < w->min_gap ? gap : w->min_gap;

            prev = h;
        }

        if (handshake(&nodes[k % 2], TSR_TEST_TLS13, 1, offer, &hs) != 0) {
            w->failed++;
        }

        w->handshakes++;

        if (offer != NULL) {
            w->offered++;
            w->resumed += hs.reused;
            SSL_SESSION_free(offer);
        }

        w->issued += has_ticket(hs.sess);
        offer = hs.sess;
    }

    if (offer != NULL) {
        SSL_SESSION_free(offer);
    }

    w->last_gen = prev.gen;

    if (w->steps == 0) {
        w->min_gap = 0;
    }

    return 0;
}


static void
watch_report(const char *what, int periods, const watch_t *w)
{
    printf("\n    %s: generations %llu..%llu in %d periods of %d ms, gaps "
           "%lld..%lld ms by redis' clock, %d skipped; %d handshakes, %d "
           "with a ticket, %d of %d offers resumed",
           what, (unsigned long long) w->first_gen,
           (unsigned long long) w->last_gen, periods, RACE_PERIOD,
           w->min_gap, w->max_gap, w->skipped, w->handshakes, w->issued,
           w->resumed, w->offered);

    CU_ASSERT_EQUAL(w->ring_gone, 0);
    CU_ASSERT_EQUAL(w->steps, periods);
    CU_ASSERT_EQUAL(w->last_gen - w->first_gen, (uint64_t) periods);
    CU_ASSERT_EQUAL(w->skipped, 0);
    CU_ASSERT_EQUAL(w->too_soon, 0);
    CU_ASSERT_EQUAL(w->too_late, 0);
    CU_ASSERT_EQUAL(w->failed, 0);
    CU_ASSERT_EQUAL(w->issued, w->handshakes);
    CU_ASSERT_EQUAL(w->resumed, w->offered);
}


/*
 * How many processes of a node logged a rotation ("<pid>#<tid>: ...
 * rotated to generation N", the rotator thread's lines and a worker's
 * start-up sync alike).
 */

static int
rotating_pids(const char *path)
{
    int    n, i, seen;
    long   pid, pids[64];
    FILE  *f;
    char  *p, line[4096];

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "rotated to generation") == NULL
            && strstr(line, "created generation") == NULL)
        {
            continue;
        }

        /* "2026/01/01 00:00:00 [info] <pid>#<tid>: ..." */

        p = strchr(line, ']');
        if (p == NULL) {
            continue;
        }

        pid = strtol(p + 1, NULL, 10);
        seen = 0;

        for (i = 0; i < n; i++) {
            seen |= pids[i] == pid;
        }

        if (!seen && n < 64) {
            pids[n++] = pid;
        }
    }

    fclose(f);

    return n;
}


/*
 * Two nodes of two workers each: four workers load the ring, worker 0 of
 * each node runs a rotator.  First these alone for RACE_PERIODS periods,
 * then with RACE_PROCS extra processes calling tsr_tickets_sync() every
 * few milliseconds.  Each time: every generation appears (+1 each),
 * consecutive rotations are at least a period apart by Redis' clock and
 * late by less than a quarter period, RACE_PERIODS periods see
 * RACE_PERIODS rotations, and every handshake meanwhile gets a ticket
 * (the nodes pick up each generation before the previous one's
 * encryption grace ends) and every offer resumes.
 */

static void
test_rotation_race_once_per_period(void)
{
    int           i, status, started, extra, rotating[2];
    pid_t         pids[RACE_PROCS];
    watch_t       w;
    long long     until;
    node_conf_t   nc;

    started = 0;
    extra = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.workers = 2;
    nc.rotation = "2s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* from now on, the logs show who rotates */

    check_logs();

    for (i = NODE_A; i <= NODE_B; i++) {
        if (truncate(nodes[i].nginx.error_log, 0) != 0) {
            CU_FAIL("truncate() failed");
            goto done;
        }
    }

    if (watch_ring(RACE_PERIODS, &w) != 0) {
        CU_FAIL("no rotation");
        goto done;
    }

    watch_report("nginx rotators alone", RACE_PERIODS, &w);

    until = tsr_test_now_ms() + (RACE_PERIODS + 3) * RACE_PERIOD;

    for (i = 0; i < RACE_PROCS; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            race_child(RACE_PERIOD, until);
        }

        if (pids[i] == -1) {
            CU_FAIL("fork() failed");
            break;
        }

        started++;
    }

    if (watch_ring(RACE_PERIODS, &w) != 0) {
        CU_FAIL("no rotation");
        goto done;
    }

    for (i = 0; i < started; i++) {
        if (waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)
            && WEXITSTATUS(status) != 255)
        {
            extra += WEXITSTATUS(status);

        } else {
            CU_FAIL("an extra rotator failed");
        }
    }

    started = 0;

    watch_report("with the extra rotators", RACE_PERIODS, &w);

    rotating[0] = rotating_pids(nodes[NODE_A].nginx.error_log);
    rotating[1] = rotating_pids(nodes[NODE_B].nginx.error_log);

    printf("\n    the %d extra rotators made %d of the rotations during "
           "their run; processes that rotated: %d on node A, %d on node B ",
           RACE_PROCS, extra, rotating[0], rotating[1]);

    /* worker 0 of each node, and only it */
    CU_ASSERT(rotating[0] <= 1 && rotating[1] <= 1);
    CU_ASSERT(rotating[0] + rotating[1] >= 1);

done:

    for (i = 0; i < started; i++) {
        (void) waitpid(pids[i], &status, 0);
    }

    stop_nodes();
    check_logs();
}


/*
 * Period SHORT_PERIOD.  Right after a rotation (both nodes issuing under
 * its key) Redis stops.  Until the current key's encryption period ends,
 * rotated at + period + period / 4, TLS 1.2 and TLS 1.3 chains keep
 * getting tickets and resuming across nodes; after it, new handshakes get
 * no ticket (TLS 1.3: no session ticket message; TLS 1.2: an empty
 * ticket), still succeed, and tickets already issued still resume;
 * error.log says so, at most about once a second per worker.  Redis comes
 * back empty (no persistence): a node creates a new ring and issuing
 * resumes on both nodes.
 */

static void
test_redis_outage_stops_issuing_after_grace(void)
{
    int           v, k, stopped, version, logged;
    int           offered[2], resumed[2], issued[2], total[2], failed;
    int           after, after_issued, after_resumed, after_offered;
    hs_t          hs;
    char          cur[2 * TSR_TICKETS_NAME_LEN + 1];
    uint64_t      gen;
    long long     end, t, recovered_at, back, stopped_at;
    node_conf_t   nc;
    ring_head_t   h;
    SSL_SESSION  *offer[2];

    stopped = 0;
    failed = 0;
    offer[0] = NULL;
    offer[1] = NULL;
    memset(offered, 0, sizeof(offered));
    memset(resumed, 0, sizeof(resumed));
    memset(issued, 0, sizeof(issued));
    memset(total, 0, sizeof(total));

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.rotation = "2s";

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    if (ring_head(&redis, &h) != 0
        || wait_rotation(h.gen, 3 * SHORT_PERIOD, &h) != 0
        || ring_current(&redis, SHORT_PERIOD, &gen, cur) != 0
        || gen != h.gen
        || wait_issuing(NODE_A, 2, TSR_TEST_TLS13, cur, SHORT_PERIOD / 2)
           != 0)
    {
        CU_FAIL("no fresh generation issued by both nodes");
        goto done;
    }

    if (tsr_test_redis_stop(&redis) != 0) {
        CU_FAIL("redis did not stop");
        goto done;
    }

    stopped = 1;
    stopped_at = real_ms();

    /* until shortly before the grace ends: tickets as usual */

    end = (long long) h.rotated_at + SHORT_PERIOD + SHORT_PERIOD / 4;

    for (k = 0; k < 100000 && real_ms() < end - 250; k++) {
        v = k % 2;
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[(k / 2) % 2], version, 1, offer[v], &hs) != 0)
        {
            failed++;
        }

        total[v]++;

        if (offer[v] != NULL) {
            offered[v]++;
            resumed[v] += hs.reused;
            SSL_SESSION_free(offer[v]);
        }

        issued[v] += has_ticket(hs.sess);
        offer[v] = hs.sess;
    }

    printf("\n    redis stopped %lld ms after the rotation: until the "
           "grace ends TLSv1.2 %d/%d issued, %d/%d resumed; TLSv1.3 %d/%d "
           "issued, %d/%d resumed",
           stopped_at - (long long) h.rotated_at,
           issued[0], total[0], resumed[0], offered[0], issued[1], total[1],
           resumed[1], offered[1]);

    CU_ASSERT(total[0] > 2 && total[1] > 2);
    CU_ASSERT_EQUAL(issued[0], total[0]);
    CU_ASSERT_EQUAL(issued[1], total[1]);
    CU_ASSERT_EQUAL(resumed[0], offered[0]);
    CU_ASSERT_EQUAL(resumed[1], offered[1]);

    /* past the grace: no ticket, handshakes fine, old tickets resume */

    t = end + 250 - real_ms();
    tsr_test_sleep_ms((int) t);

    after = 0;
    after_issued = 0;
    after_offered = 0;
    after_resumed = 0;

    for (k = 0; k < 100000 && real_ms() < end + 250 + 1500; k++) {
        v = k % 2;
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        /* a new session, then the last ticket issued under the key */

        if (handshake(&nodes[(k / 2) % 2], version, 1, NULL, &hs) != 0) {
            failed++;
        }

        after++;
        after_issued += has_ticket(hs.sess);

        if (version == TSR_TEST_TLS13) {
            after_issued += hs.sessions > 0;
        }

        hs_free(&hs);

        if (offer[v] != NULL) {
            if (handshake(&nodes[(k / 2 + 1) % 2], version, 1, offer[v], &hs)
                != 0)
            {
                failed++;
            }

            after_offered++;
            after_resumed += hs.reused;
            hs_free(&hs);
        }
    }

    logged = log_lines(nodes[NODE_A].nginx.error_log,
                       "no session ticket issued")
             + log_lines(nodes[NODE_B].nginx.error_log,
                         "no session ticket issued");

    printf("\n    after the grace: %d new handshakes, %d with a ticket; %d "
           "of %d earlier tickets resumed; %d log lines",
           after, after_issued, after_resumed, after_offered, logged);

    CU_ASSERT(after > 2);
    CU_ASSERT_EQUAL(after_issued, 0);
    CU_ASSERT_EQUAL(after_resumed, after_offered);
    CU_ASSERT_EQUAL(failed, 0);

    /* two nodes, one worker each, once a second at most: about 2 s */
    CU_ASSERT(logged >= 1 && logged <= 8);

    /* Redis back, empty: a new ring, then tickets on both nodes */

    if (tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
        goto done;
    }

    stopped = 0;
    back = tsr_test_now_ms();
    recovered_at = -1;

    for (k = 0; k < 1000 && tsr_test_now_ms() < back + 15000; k++) {
        if (ring_current(&redis, SHORT_PERIOD, &gen, cur) == 0
            && wait_issuing(NODE_A, 2, TSR_TEST_TLS13, cur, 200) == 0)
        {
            recovered_at = tsr_test_now_ms();
            break;
        }

        tsr_test_sleep_ms(50);
    }

    CU_ASSERT(recovered_at != -1);

    if (recovered_at != -1) {
        for (v = 0; v < 2; v++) {
            version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

            if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0) {
                CU_FAIL("handshake failed");
                continue;
            }

            if (offer[v] != NULL) {
                SSL_SESSION_free(offer[v]);
            }

            offer[v] = hs.sess;

            CU_ASSERT(has_ticket(offer[v]));
            CU_ASSERT_EQUAL(handshake(&nodes[NODE_B], version, 1, offer[v],
                                      &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }

        printf("\n    redis back: both nodes issue tickets again after "
               "%lld ms (generation %llu) ", recovered_at - back,
               (unsigned long long) gen);
    }

done:

    if (stopped && tsr_test_redis_start(&redis) != 0) {
        CU_FAIL("redis did not restart");
    }

    for (v = 0; v < 2; v++) {
        if (offer[v] != NULL) {
            SSL_SESSION_free(offer[v]);
        }
    }

    stop_nodes();
    check_logs();
}


/*
 * Tickets made before a reload (the new configuration differs only in
 * ssl_session_timeout, visible as the tickets' lifetime hint, so the test
 * knows when the new workers serve) resume after it on both nodes, and
 * again after both nodes stopped and started.
 */

static void
test_tickets_survive_reload_and_restart(void)
{
    int           v, k, version;
    hs_t          hs;
    node_conf_t   nc;
    ring_head_t   h0, h1;
    SSL_SESSION  *t[2];

    t[0] = NULL;
    t[1] = NULL;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0 || ring_head(&redis, &h0) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        if (handshake(&nodes[NODE_A], version, 1, NULL, &hs) != 0
            || !has_ticket(hs.sess))
        {
            hs_free(&hs);
            CU_FAIL("no ticket from node A");
            goto done;
        }

        t[v] = hs.sess;
    }

    nc.timeout = "11m";

    if (reload_nodes(NODE_A, 2, &nc) != 0
        || wait_lifetime_hint(NODE_A, 2, 660, 10000) != 0)
    {
        CU_FAIL("nodes did not reload");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        for (k = NODE_B; k >= NODE_A; k--) {
            CU_ASSERT_EQUAL(handshake(&nodes[k], version, 1, t[v], &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }
    }

    stop_nodes();
    check_logs();

    if (start_nodes(NODE_A, 2) != 0) {
        CU_FAIL("nodes did not restart");
        goto done;
    }

    for (v = 0; v < 2; v++) {
        version = v == 0 ? TSR_TEST_TLS12 : TSR_TEST_TLS13;

        for (k = NODE_B; k >= NODE_A; k--) {
            CU_ASSERT_EQUAL(handshake(&nodes[k], version, 1, t[v], &hs), 0);
            CU_ASSERT_EQUAL(hs.reused, 1);
            hs_free(&hs);
        }
    }

    CU_ASSERT_EQUAL(ring_head(&redis, &h1), 0);
    CU_ASSERT_EQUAL(h1.gen, h0.gen);

    printf("\n    TLSv1.2 and TLSv1.3 tickets resumed on both nodes after "
           "a reload and after a restart (generation %llu throughout) ",
           (unsigned long long) h1.gen);

done:

    for (v = 0; v < 2; v++) {
        if (t[v] != NULL) {
            SSL_SESSION_free(t[v]);
        }
    }

    stop_nodes();
    check_logs();
}


/* the master's children, from /proc; -1 when /proc cannot be read */

static int
worker_pids(pid_t master, pid_t *pids, int max)
{
    int             n;
    FILE           *f;
    long            ppid;
    char            path[64], buf[512], *p;
    DIR            *dir;
    struct dirent  *de;

    dir = opendir("/proc");
    if (dir == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(dir)) != NULL && n < max) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }

        snprintf(path, sizeof(path), "/proc/%.32s/stat", de->d_name);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        p = fgets(buf, sizeof(buf), f);
        fclose(f);

        /* "pid (comm) state ppid ...": comm may hold anything but ')' */

        if (p == NULL || (p = strrchr(buf, ')')) == NULL) {
            continue;
        }

        if (sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == master) {
            pids[n++] = (pid_t) atol(de->d_name);
        }
    }

    closedir(dir);

    return n;
}


/* ms until a handshake succeeded, -1 if none within "ms" */

static int
wait_serving(node_t *nd, int ms)
{
    hs_t       hs;
    long long  start, now;

    start = real_ms();

    for ( ;; ) {
        if (handshake(nd, TSR_TEST_TLS13, 1, NULL, &hs) == 0) {
            hs_free(&hs);
            return (int) (real_ms() - start);
        }

        hs_free(&hs);

        now = real_ms();

        if (now - start >= ms) {
            return -1;
        }

        tsr_test_sleep_ms(100);
    }
}


/*
 * A Redis that answers the ring's GET with a 4 KiB value, a byte every
 * 1.9 s: every read of the start-up load gets its byte within the 2 s
 * command timeout, so only a deadline on the whole reply (the command
 * timeout, within the sync's overall one of 4 s) lets the worker start
 * serving.
 */

static void
test_dripping_redis_does_not_hold_worker_start(void)
{
    int                   ms;
    node_t               *nd;
    node_conf_t           nc;
    tsr_test_fakeredis_t  fake;

    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));

    if (tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_DRIP) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.redis_port = fake.port;

    nd = &nodes[NODE_A];
    nd->port = tsr_test_free_port();

    if (nd->port == -1 || write_node(nd, &nc) != 0
        || (truncate(nd->nginx.error_log, 0) != 0 && errno != ENOENT)
        || tsr_test_nginx_start(&nd->nginx) != 0)
    {
        CU_FAIL("node did not start");
        goto done;
    }

    nd->running = 1;

    ms = wait_serving(nd, 3 * DRIP_BOUND);

    printf("\n    redis dripping a byte every 1.9 s: the worker served "
           "after %d ms (bound %d ms); %d \"no ticket key ring yet\", "
           "%d \"timed out\" lines ", ms, DRIP_BOUND,
           log_lines(nd->nginx.error_log, "no ticket key ring yet"),
           log_lines(nd->nginx.error_log, "timed out"));

    CU_ASSERT(ms >= 0 && ms < DRIP_BOUND);
    CU_ASSERT(log_lines(nd->nginx.error_log, "timed out") >= 1);

done:

    stop_nodes();
    check_logs();
    tsr_test_fakeredis_stop(&fake);
}


/*
 * The same Redis at a reload: a worker reading or rotating the ring
 * (rotation every second, so worker 0 is at it all the time) when Redis
 * starts dripping must still exit at once on the reload, and the new
 * worker, loading the ring at start, serve within the bound.
 */

static void
test_dripping_redis_does_not_hold_reload(void)
{
    int                   i, n, left, ms;
    pid_t                 old[MAX_WORKERS], now[MAX_WORKERS];
    node_t               *nd;
    long long             start;
    node_conf_t           nc;
    tsr_test_fakeredis_t  fake;

    n = 0;
    left = 0;

    memset(&fake, 0, sizeof(tsr_test_fakeredis_t));

    if (tsr_test_fakeredis_start(&fake, TSR_TEST_FAKE_NORMAL) != 0) {
        CU_FAIL("fake redis did not start");
        return;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.tickets = 1;
    nc.redis_port = fake.port;
    nc.rotation = "1s";

    nd = &nodes[NODE_A];

    if (setup_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("node did not start");
        goto done;
    }

    n = worker_pids(nd->nginx.pid, old, MAX_WORKERS);
    CU_ASSERT_FATAL(n >= 1);

    /* connections dropped; the next requests meet the drip */

    CU_ASSERT_EQUAL(tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_DRIP),
                    0);
    tsr_test_sleep_ms(1500);

    nc.timeout = "11m";

    start = real_ms();

    if (reload_nodes(NODE_A, 1, &nc) != 0) {
        CU_FAIL("reload failed");
        goto done;
    }

    /* the old workers exit */

    do {
        tsr_test_sleep_ms(100);

        left = 0;

        for (i = 0; i < n; i++) {
            left += (kill(old[i], 0) == 0);
        }

    } while (left > 0 && real_ms() - start < 3 * DRIP_BOUND);

    ms = (int) (real_ms() - start);

    /* and the new ones serve */

    i = wait_serving(nd, 3 * DRIP_BOUND);

    printf("\n    redis dripping at a reload: %d of %d old workers left "
           "after %d ms, a new one served %d ms later (bound %d ms) ",
           left, n, ms, i, DRIP_BOUND);

    CU_ASSERT_EQUAL(left, 0);
    CU_ASSERT(ms < DRIP_BOUND);
    CU_ASSERT(i >= 0 && ms + i < DRIP_BOUND);

    CU_ASSERT(worker_pids(nd->nginx.pid, now, MAX_WORKERS) >= 1);

done:

    if (left > 0) {
        /* the old code: a worker stuck in pthread_join(); not for ever */
        for (i = 0; i < n; i++) {
            (void) kill(old[i], SIGKILL);
        }
    }

    stop_nodes();
    check_logs();
    tsr_test_fakeredis_stop(&fake);
}


static void *
racer(void *arg)
{
    racer_t  *r = arg;

    hs_t  hs;

    (void) pthread_barrier_wait(r->barrier);

    r->rc = handshake(r->node, r->version, 0, r->offer, &hs);
    r->reused = hs.reused;
    hs_free(&hs);

    return NULL;
}


/*
 * Stateful sessions (TLS 1.2 session ids, TLS 1.3 stateful tickets),
 * single use.  Offered to node A, then node B: resumed once.  Offered to
 * both nodes at the same moment, SINGLE_ROUNDS times: exactly one of each
 * pair resumes.  Afterwards Redis no longer holds the session.
 */

static void
single_use_case(int version)
{
    int                i, k, once, twice, none, failed, left, seq_once;
    hs_t               hs;
    char               pattern[256];
    racer_t            r[2];
    pthread_t          tid[2];
    node_conf_t        nc;
    SSL_SESSION       *sess;
    pthread_barrier_t  barrier;

    once = 0;
    twice = 0;
    none = 0;
    failed = 0;
    left = 0;
    seq_once = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.single_use = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* one after the other */

    for (i = 0; i < SEQ_ROUNDS; i++) {
        if (handshake(&nodes[i % 2], version, 0, NULL, &hs) != 0
            || hs.sess == NULL
            || wait_stored(hs.sess, version, 2000) != 0)
        {
            hs_free(&hs);
            CU_FAIL("no stored session");
            continue;
        }

        sess = hs.sess;

        if (session_key_pattern(sess, version, pattern, sizeof(pattern))
            != 0)
        {
            SSL_SESSION_free(sess);
            CU_FAIL("no session id");
            continue;
        }

        k = 0;

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_B], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        seq_once += k == 1;
        left += session_keys(&redis, pattern);

        SSL_SESSION_free(sess);
    }

    CU_ASSERT_EQUAL(seq_once, SEQ_ROUNDS);

    /* both at once */

    if (pthread_barrier_init(&barrier, NULL, 2) != 0) {
        CU_FAIL("pthread_barrier_init() failed");
        goto done;
    }

    for (i = 0; i < SINGLE_ROUNDS; i++) {
        if (handshake(&nodes[i % 2], version, 0, NULL, &hs) != 0
            || hs.sess == NULL
            || wait_stored(hs.sess, version, 2000) != 0
            || session_key_pattern(hs.sess, version, pattern,
                                   sizeof(pattern))
               != 0)
        {
            hs_free(&hs);
            CU_FAIL("no stored session");
            continue;
        }

        sess = hs.sess;

        for (k = 0; k < 2; k++) {
            r[k].barrier = &barrier;
            r[k].node = &nodes[k];
            r[k].version = version;
            r[k].offer = sess;
            r[k].rc = -1;
            r[k].reused = 0;
        }

        for (k = 0; k < 2; k++) {
            if (pthread_create(&tid[k], NULL, racer, &r[k]) != 0) {
                CU_FAIL("pthread_create() failed");
                /* the barrier cannot be passed: give up on the test */
                SSL_SESSION_free(sess);
                goto done;
            }
        }

        for (k = 0; k < 2; k++) {
            (void) pthread_join(tid[k], NULL);
            failed += r[k].rc != 0;
        }

        switch (r[0].reused + r[1].reused) {
        case 0:
            none++;
            break;
        case 1:
            once++;
            break;
        default:
            twice++;
        }

        left += session_keys(&redis, pattern);

        SSL_SESSION_free(sess);
    }

    (void) pthread_barrier_destroy(&barrier);

    printf("\n    TLSv1.%d single use: offered to A then B then A, resumed "
           "once in %d of %d; offered to both at once, exactly one resumed "
           "in %d of %d (none %d, both %d); %d sessions left in redis ",
           version == TSR_TEST_TLS13 ? 3 : 2, seq_once, SEQ_ROUNDS, once,
           SINGLE_ROUNDS, none, twice, left);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(once, SINGLE_ROUNDS);
    CU_ASSERT_EQUAL(twice, 0);
    CU_ASSERT_EQUAL(left, 0);

done:

    stop_nodes();
    check_logs();
}


static void
test_tls12_single_use_resumes_once(void)
{
    single_use_case(TSR_TEST_TLS12);
}


static void
test_tls13_single_use_resumes_once(void)
{
    single_use_case(TSR_TEST_TLS13);
}


static int
client_socket(int port, int timeout_ms)
{
    int                 fd, one;
    struct timeval      tv;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    one = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    {
        close(fd);
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }

    return fd;
}


/* sends what OpenSSL wrote into the memory BIO; keeps the first flight */

static int
early_flush(SSL *ssl, BIO *wbio, int fd, early_t *e)
{
    int      n;
    ssize_t  w;
    uint8_t  buf[4096];

    (void) ssl;

    for ( ;; ) {
        n = BIO_read(wbio, buf, sizeof(buf));
        if (n <= 0) {
            return 0;
        }

        if (e != NULL && e->sent_len + n <= sizeof(e->sent)) {
            memcpy(e->sent + e->sent_len, buf, n);
            e->sent_len += n;
        }

        w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w != n) {
            return -1;
        }
    }
}


/* one read from the socket into the memory BIO; 0 at EOF, -1 error */

static int
early_feed(BIO *rbio, int fd)
{
    ssize_t  n;
    uint8_t  buf[16384];

    n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return n == 0 ? 0 : -1;
    }

    return BIO_write(rbio, buf, (int) n) == n ? 1 : -1;
}


/*
 * A TLS 1.3 client sending "GET /" as early data with "sess" (a copy is
 * used, so the caller may offer it again), over memory BIOs so that the
 * bytes of its first flight, ClientHello and early data, are kept for a
 * replay.  If the server rejects the early data, the request is sent again
 * after the handshake, as a browser would.  e->body is the response body:
 * "1" when the server saw the request as early data.
 */

static int
early_request(int port, SSL_SESSION *sess, early_t *e)
{
    int           fd, rc, err, i, got;
    BIO          *rbio, *wbio;
    SSL          *ssl;
    char          resp[4096], *body;
    size_t        written, len;
    SSL_CTX      *ctx;
    SSL_SESSION  *copy;
    static const char  req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n"
                               "Connection: close\r\n\r\n";

    memset(e, 0, sizeof(early_t));
    e->status = -1;

    rc = -1;
    fd = -1;
    ssl = NULL;
    copy = NULL;
    len = 0;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return -1;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    fd = client_socket(port, 3000);
    if (fd == -1) {
        goto failed;
    }

    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());

    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);

    copy = SSL_SESSION_dup(sess);

    if (copy == NULL || SSL_set_session(ssl, copy) != 1
        || SSL_SESSION_get_max_early_data(copy) == 0)
    {
        fprintf(stderr, "the session allows no early data\n");
        goto failed;
    }

    /* memory BIOs never block: ClientHello and early data at once */

    if (SSL_write_early_data(ssl, req, sizeof(req) - 1, &written) != 1
        || written != sizeof(req) - 1)
    {
        fprintf(stderr, "SSL_write_early_data() failed\n");
        goto failed;
    }

    if (early_flush(ssl, wbio, fd, e) != 0) {
        goto failed;
    }

    for (i = 0; i < 1000; i++) {
        rc = SSL_do_handshake(ssl);
        if (rc == 1) {
            break;
        }

        err = SSL_get_error(ssl, rc);

        if (err != SSL_ERROR_WANT_READ
            || early_flush(ssl, wbio, fd, NULL) != 0
            || early_feed(rbio, fd) != 1)
        {
            fprintf(stderr, "early data handshake with 127.0.0.1:%d "
                    "failed\n", port);
            rc = -1;
            goto failed;
        }
    }

    rc = -1;

    e->status = SSL_get_early_data_status(ssl);
    e->reused = SSL_session_reused(ssl);

    /*
     * Accepted: the client's Finished stays in the BIO until the response
     * is read, so that the server answers the request while it is still
     * early data ($ssl_early_data "1"), as it does for a replay that never
     * sends a Finished.  Rejected: the request again, after the
     * handshake.
     */

    if (e->status != SSL_EARLY_DATA_ACCEPTED) {
        if (SSL_write(ssl, req, sizeof(req) - 1) != (int) sizeof(req) - 1
            || early_flush(ssl, wbio, fd, NULL) != 0)
        {
            goto failed;
        }
    }

    /* the response, to the end of the connection */

    for (i = 0; i < 1000; i++) {
        got = SSL_read(ssl, resp + len, (int) (sizeof(resp) - 1 - len));

        if (got > 0) {
            len += got;

            if (len == sizeof(resp) - 1) {
                break;
            }

            continue;
        }

        err = SSL_get_error(ssl, got);

        if (err == SSL_ERROR_ZERO_RETURN) {
            break;
        }

        if (err != SSL_ERROR_WANT_READ) {
            goto failed;
        }

        got = early_feed(rbio, fd);

        if (got == 0) {
            break;
        }

        if (got < 0) {
            goto failed;
        }
    }

    /* the Finished held back, if any; the server may have closed */
    (void) early_flush(ssl, wbio, fd, NULL);

    resp[len] = '\0';

    body = strstr(resp, "\r\n\r\n");

    if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 || body == NULL) {
        fprintf(stderr, "unexpected response: \"%.40s\"\n", resp);
        goto failed;
    }

    snprintf(e->body, sizeof(e->body), "%s", body + 4);
    e->body[strcspn(e->body, "\r\n")] = '\0';

    rc = 0;

failed:

    if (ssl != NULL) {
        SSL_free(ssl);
    }

    if (copy != NULL) {
        SSL_SESSION_free(copy);
    }

    if (fd != -1) {
        close(fd);
    }

    SSL_CTX_free(ctx);
    ERR_clear_error();

    return rc;
}


/*
 * Replays a captured first flight: the attacker has the bytes, not the
 * keys.  Reads whatever the server answers for "ms" or until it closes.
 */

static int
raw_replay(int port, const uint8_t *data, size_t len, int ms)
{
    int        fd, i;
    char       buf[4096];
    ssize_t    n;
    long long  deadline;

    fd = client_socket(port, 100);
    if (fd == -1) {
        return -1;
    }

    if (send(fd, data, len, MSG_NOSIGNAL) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    deadline = tsr_test_now_ms() + ms;

    for (i = 0; i < 10000 && tsr_test_now_ms() < deadline; i++) {
        n = recv(fd, buf, sizeof(buf), 0);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                       && errno != EINTR))
        {
            break;
        }
    }

    close(fd);

    return 0;
}


/*
 * ssl_early_data on, stateful TLS 1.3 tickets (nginx sets
 * SSL_OP_NO_ANTI_REPLAY: OpenSSL's own replay check, which only knows its
 * internal cache, is off).  A client resumes on node A with early data;
 * its first flight is replayed byte for byte to node B (an attacker has
 * the bytes, not the keys), then the same session is offered again with
 * early data by a client to node B.  The access logs tell what each node
 * processed as early data ("1|" lines).
 *
 * Single use: A accepts, B processes nothing of the replay and gives the
 * client a full handshake (early data rejected, the request goes after
 * the handshake).  Without single use, the contrast: B accepts both the
 * replay and the session, so 0-RTT requests can be replayed on any node
 * (RFC 8446, section 8) and ssl_early_data is unsafe for requests that
 * are not idempotent.
 */

static void
early_case(int single_use)
{
    int           i, early_a, replayed, replayed_a, early_b, lines_b;
    hs_t          hs;
    early_t      *e, *e2;
    node_conf_t   nc;

    e = NULL;
    e2 = NULL;
    hs.sess = NULL;

    e = calloc(1, sizeof(early_t));
    e2 = calloc(1, sizeof(early_t));

    if (e == NULL || e2 == NULL) {
        CU_FAIL("out of memory");
        goto done;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.single_use = single_use;
    nc.early_data = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* a session allowing early data, in Redis */

    for (i = 0; i < 10; i++) {
        if (handshake(&nodes[NODE_A], TSR_TEST_TLS13, 0, NULL, &hs) == 0
            && hs.sess != NULL
            && SSL_SESSION_get_max_early_data(hs.sess) > 0
            && wait_stored(hs.sess, TSR_TEST_TLS13, 2000) == 0)
        {
            break;
        }

        hs_free(&hs);
    }

    if (hs.sess == NULL) {
        CU_FAIL("no session with early data from node A");
        goto done;
    }

    if (truncate(nodes[NODE_A].access_log, 0) != 0
        || truncate(nodes[NODE_B].access_log, 0) != 0)
    {
        CU_FAIL("truncate() failed");
        goto done;
    }

    /* node A: resumed, early data accepted and answered as early data */

    CU_ASSERT_EQUAL(early_request(nodes[NODE_A].port, hs.sess, e), 0);

    /* node B: the first flight replayed */

    CU_ASSERT_EQUAL(raw_replay(nodes[NODE_B].port, e->sent, e->sent_len,
                               1000), 0);

    tsr_test_sleep_ms(200);

    early_a = log_lines(nodes[NODE_A].access_log, "1|r|GET /");
    replayed = log_lines(nodes[NODE_B].access_log, "GET /");

    /* and to node A itself */

    CU_ASSERT_EQUAL(raw_replay(nodes[NODE_A].port, e->sent, e->sent_len,
                               1000), 0);

    tsr_test_sleep_ms(200);

    replayed_a = log_lines(nodes[NODE_A].access_log, "GET /") - early_a;

    /* node B: the session offered again, with early data */

    CU_ASSERT_EQUAL(early_request(nodes[NODE_B].port, hs.sess, e2), 0);

    tsr_test_sleep_ms(200);

    early_b = log_lines(nodes[NODE_B].access_log, "1|r|GET /");
    lines_b = log_lines(nodes[NODE_B].access_log, "GET /");

    printf("\n    ssl_early_data on, single use %s: node A resumed %d, early "
           "data %s, body \"%s\"; the first flight (%zu bytes) replayed: "
           "%d request(s) processed by B, %d by A; the session again to "
           "node B: resumed %d, early data %s, body \"%s\"; early requests "
           "logged by A %d, by B %d ",
           single_use ? "on" : "off", e->reused,
           e->status == SSL_EARLY_DATA_ACCEPTED ? "accepted"
           : e->status == SSL_EARLY_DATA_REJECTED ? "rejected" : "not sent",
           e->body, e->sent_len, replayed, replayed_a, e2->reused,
           e2->status == SSL_EARLY_DATA_ACCEPTED ? "accepted"
           : e2->status == SSL_EARLY_DATA_REJECTED ? "rejected" : "not sent",
           e2->body, early_a, early_b);

    CU_ASSERT_EQUAL(e->reused, 1);
    CU_ASSERT_EQUAL(e->status, SSL_EARLY_DATA_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(e->body, "1");
    CU_ASSERT_EQUAL(early_a, 1);

    if (single_use) {
        CU_ASSERT_EQUAL(replayed, 0);
        CU_ASSERT_EQUAL(replayed_a, 0);
        CU_ASSERT_EQUAL(e2->reused, 0);
        CU_ASSERT_EQUAL(e2->status, SSL_EARLY_DATA_REJECTED);
        CU_ASSERT_STRING_EQUAL(e2->body, "");
        CU_ASSERT_EQUAL(early_b, 0);
        CU_ASSERT_EQUAL(lines_b, 1);

    } else {
        /* what single use prevents: B runs the replayed request */
        CU_ASSERT_EQUAL(replayed, 1);
        CU_ASSERT_EQUAL(replayed_a, 1);
        CU_ASSERT_EQUAL(e2->reused, 1);
        CU_ASSERT_EQUAL(e2->status, SSL_EARLY_DATA_ACCEPTED);
        CU_ASSERT_EQUAL(early_b, 2);
    }

done:

    hs_free(&hs);
    free(e);
    free(e2);

    stop_nodes();
    check_logs();
}


static void
test_early_data_replay_rejected_with_single_use(void)
{
    early_case(1);
}


static void
test_early_data_replayed_without_single_use(void)
{
    early_case(0);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_http_tls12_tickets_resume_across_nodes),
        TSR_TEST_FN(test_http_tls13_tickets_resume_across_nodes),
        TSR_TEST_FN(test_stream_tls12_tickets_resume_across_nodes),
        TSR_TEST_FN(test_stream_tls13_tickets_resume_across_nodes),
        TSR_TEST_FN(test_http_tls12_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_http_tls13_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_stream_tls12_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_stream_tls13_rotation_renews_then_key_leaves),
        TSR_TEST_FN(test_ticket_of_another_fleet_gets_full_handshake),
        TSR_TEST_FN(test_rotation_race_once_per_period),
        TSR_TEST_FN(test_redis_outage_stops_issuing_after_grace),
        TSR_TEST_FN(test_tickets_survive_reload_and_restart),
        TSR_TEST_FN(test_dripping_redis_does_not_hold_worker_start),
        TSR_TEST_FN(test_dripping_redis_does_not_hold_reload),
        TSR_TEST_FN(test_tls12_single_use_resumes_once),
        TSR_TEST_FN(test_tls13_single_use_resumes_once),
        TSR_TEST_FN(test_early_data_replay_rejected_with_single_use),
        TSR_TEST_FN(test_early_data_replayed_without_single_use)
    };

    return TSR_TEST_MAIN("tickets", init_suite, clean_suite, tests);
}
