
/*
 * The asynchronous store on a poll() loop against private redis-servers:
 * lookups and fire-and-forget writes, deadlines, cancellation, the
 * in-flight limit, the circuit breaker, a stopped and a restarted Redis,
 * authentication, unix sockets, and destruction with lookups pending.
 * No callback may ever run inside tsr_store_get_async().
 */


#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>

#include "tsr.h"
#include "tsr_test.h"


#define OUT_SIZE     4096
#define ERR_SIZE     512
#define CONF_SIZE    1024
#define TIMEOUT_MS   1000       /* generous: valgrind runs these too */
#define PROXY_DELAY  300        /* ms the slow proxy holds replies */
#define VAL_SIZE     64
#define FILLERS      3          /* connects that fill an accept queue */


typedef struct {
    int          info;
    int          warn;
    int          err;
    int          stalled;       /* "has not answered" was logged */
    int          limited;       /* TSR_LOG_LIMITED messages */
    char         last[ERR_SIZE];
} log_counts_t;

typedef struct {
    int          calls;
    int          rc;
    size_t       len;
    long long    at;            /* when "done" ran */
    unsigned long  ssl_err;     /* OpenSSL's error queue then */
    uint8_t      val[VAL_SIZE];
} result_t;

typedef struct {
    tsr_store_t      *st;
    tsr_test_loop_t   tl;
    log_counts_t      log;
} fixture_t;

/* a resolver for the loop: answers when told, or inside resolve() */
typedef struct {
    int                     calls;
    int                     cancels;
    int                     at_once;
    const char             *answer;     /* NULL: the name is not found */
    tsr_loop_resolved_pt    done;       /* a resolution pending */
    void                   *arg;
    char                    host[256];
} resolver_t;


static int init_suite(void);
static int clean_suite(void);
static void base_conf(tsr_store_conf_t *conf, fixture_t *f, int port);
static int start(fixture_t *f, tsr_store_conf_t *conf, int max_inflight,
    int breaker_failures);
static void finish(fixture_t *f);
static int wait_connects(fixture_t *f, uint64_t n, int ms);
static int wait_idle(fixture_t *f, int ms);
static int wait_done(fixture_t *f, result_t *res, int ms);
static tsr_req_t *get(fixture_t *f, const char *key, int getdel,
    uint64_t timeout_ms, result_t *res);
static int lookup(fixture_t *f, const char *key, int getdel, result_t *res);
static int set(fixture_t *f, const char *key, const char *val, size_t len);
static void on_done(int rc, const uint8_t *val, size_t len, void *arg);
static void on_done_chain(int rc, const uint8_t *val, size_t len,
    void *arg);
static void count_log(int level, const char *msg, void *data);
static int connect_nonblocking(int port);
static int full_listener(int fds[FILLERS + 1]);
static uint64_t latency_total(const tsr_store_stats_t *stats);
static void test_set_then_get_async_returns_same_bytes(void);
static void test_getdel_async_returns_value_and_deletes_key(void);
static void test_getdel_async_falls_back_to_eval_without_getdel(void);
static void test_get_async_of_missing_key_is_not_found(void);
static void test_wrong_type_and_oversized_value_are_bad_values(void);
static void test_deadline_passes_and_late_reply_is_harmless(void);
static void test_cancel_suppresses_callback_and_frees_on_reply(void);
static void test_inflight_limit_refuses_the_fifth_lookup(void);
static void test_breaker_opens_after_failures_and_closes_on_success(void);
static void test_restarted_redis_serves_again_within_2s(void);
static void test_stopped_redis_keeps_queue_bounded_and_recovers(void);
static void test_auth_with_password_and_acl_user(void);
static void test_unix_socket_and_db_from_parsed_address(void);
static void test_destroy_with_lookups_pending_calls_nothing(void);
static void test_done_may_start_another_lookup(void);
static void test_refused_watch_drops_socket_then_retries(void);
static void test_hanging_connect_is_bounded_and_does_not_spin(void);
static void test_bad_arguments_and_sync_calls_are_refused(void);
static void test_commands_of_one_turn_leave_in_one_write(void);
static void test_unsent_bytes_are_bounded_while_redis_does_not_read(void);
static void *fake_resolve(void *data, const char *host,
    tsr_loop_resolved_pt done, void *arg);
static void fake_resolve_cancel(void *data, void *handle);
static void fake_answer(void);
static void test_host_name_is_resolved_through_the_loop_before_each_attempt(
    void);
static void test_tls_reply_then_eof_leaves_no_openssl_error(void);


/* ACL users: alice may do anything */
static tsr_test_redis_t  redis = {
    .extra = "user alice on >secret ~* +@all"
};

static tsr_test_redis_t  secured = { .password = "s3cret pass" };
static tsr_test_redis_t  old = { .extra = "rename-command GETDEL \"\"" };

/* stopped, restarted and suspended by the tests */
static tsr_test_redis_t  spare;

static char              out[OUT_SIZE];

/* set while tsr_store_get_async() runs; "done" must never see it */
static int               in_get;
static int               sync_done;

static resolver_t        resolver;

/* for on_done_chain() */
static fixture_t        *chain_fixture;
static tsr_req_t        *chain_req;


static int
init_suite(void)
{
    if (tsr_test_redis_start(&redis) != 0
        || tsr_test_redis_start(&secured) != 0
        || tsr_test_redis_start(&old) != 0
        || tsr_test_redis_start(&spare) != 0)
    {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    int  rc;

    rc = 0;
    rc |= tsr_test_redis_stop(&redis);
    rc |= tsr_test_redis_stop(&secured);
    rc |= tsr_test_redis_stop(&old);
    rc |= tsr_test_redis_stop(&spare);

    return rc;
}


static void
base_conf(tsr_store_conf_t *conf, fixture_t *f, int port)
{
    memset(conf, 0, sizeof(tsr_store_conf_t));
    conf->host = "127.0.0.1";
    conf->port = port;
    conf->connect_timeout_ms = TIMEOUT_MS;
    conf->command_timeout_ms = TIMEOUT_MS;
    conf->never_block = 1;
    conf->log = count_log;
    conf->log_data = &f->log;
}


/* creates the store and makes it asynchronous on the fixture's loop */

static int
start(fixture_t *f, tsr_store_conf_t *conf, int max_inflight,
    int breaker_failures)
{
    char                    err[ERR_SIZE];
    tsr_loop_t              loop;
    tsr_store_async_conf_t  aconf;

    tsr_test_loop_init(&f->tl, &loop);

    f->st = tsr_store_create(conf, err, sizeof(err));
    if (f->st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
        return -1;
    }

    memset(&aconf, 0, sizeof(aconf));
    aconf.max_inflight = max_inflight;
    aconf.breaker_failures = breaker_failures;

    if (tsr_store_set_async(f->st, &loop, &aconf) != TSR_OK) {
        fprintf(stderr, "tsr_store_set_async() failed: %s\n",
                tsr_store_error(f->st));
        return -1;
    }

    f->tl.store = f->st;

    return 0;
}


/* destroys the store and checks what it did to the loop */

static void
finish(fixture_t *f)
{
    tsr_store_destroy(f->st);
    f->st = NULL;

    CU_ASSERT_EQUAL(f->tl.fd, -1);
    CU_ASSERT_EQUAL(f->tl.timer_at, 0);
    CU_ASSERT_EQUAL(f->tl.misuses, 0);
    CU_ASSERT_EQUAL(sync_done, 0);
}


static int
wait_connects(fixture_t *f, uint64_t n, int ms)
{
    long long          end;
    tsr_store_stats_t  stats;

    end = tsr_test_now_ms() + ms;

    for ( ;; ) {
        tsr_store_stats(f->st, &stats);

        if (stats.connects >= n) {
            return 0;
        }

        if (tsr_test_now_ms() >= end) {
            return -1;
        }

        (void) tsr_test_loop_run(&f->tl, 5, NULL);
    }
}


/* until no lookup awaits a reply */

static int
wait_idle(fixture_t *f, int ms)
{
    long long  end;

    end = tsr_test_now_ms() + ms;

    while (tsr_store_inflight(f->st) != 0) {
        if (tsr_test_now_ms() >= end) {
            return -1;
        }

        (void) tsr_test_loop_run(&f->tl, 5, NULL);
    }

    return 0;
}


static int
wait_done(fixture_t *f, result_t *res, int ms)
{
    (void) tsr_test_loop_run(&f->tl, ms, &res->calls);

    return res->calls ? 0 : -1;
}


static tsr_req_t *
get(fixture_t *f, const char *key, int getdel, uint64_t timeout_ms,
    result_t *res)
{
    tsr_req_t  *req;

    memset(res, 0, sizeof(result_t));

    in_get = 1;
    req = tsr_store_get_async(f->st, key, strlen(key), getdel, timeout_ms,
                              on_done, res);
    in_get = 0;

    /* never answered inside the call */
    CU_ASSERT_EQUAL(res->calls, 0);

    return req;
}


/* a whole lookup: its rc, or -100 if refused or never answered */

static int
lookup(fixture_t *f, const char *key, int getdel, result_t *res)
{
    if (get(f, key, getdel, TIMEOUT_MS, res) == NULL) {
        return -100;
    }

    if (wait_done(f, res, 2 * TIMEOUT_MS) != 0) {
        return -100;
    }

    return res->rc;
}


/* an asynchronous SET: a lookup queued after it sees its value */

static int
set(fixture_t *f, const char *key, const char *val, size_t len)
{
    return tsr_store_set(f->st, key, strlen(key), (const uint8_t *) val,
                         len, 60000);
}


static void
on_done(int rc, const uint8_t *val, size_t len, void *arg)
{
    result_t  *res = arg;

    if (in_get) {
        sync_done++;
    }

    res->calls++;
    res->rc = rc;
    res->len = len;
    res->at = tsr_test_now_ms();
    res->ssl_err = ERR_peek_error();

    if (val != NULL && len <= sizeof(res->val)) {
        memcpy(res->val, val, len);
    }
}


/* "arg" is an array of two results: the second for the lookup started */

static void
on_done_chain(int rc, const uint8_t *val, size_t len, void *arg)
{
    result_t  *res = arg;

    on_done(rc, val, len, arg);

    chain_req = get(chain_fixture, "ta:chain", 0, TIMEOUT_MS, &res[1]);
}


static void
count_log(int level, const char *msg, void *data)
{
    log_counts_t  *counts = data;

    if (level & TSR_LOG_LIMITED) {
        counts->limited++;
    }

    switch (level & ~TSR_LOG_LIMITED) {

    case TSR_LOG_INFO:
        counts->info++;
        break;

    case TSR_LOG_WARN:
        counts->warn++;
        break;

    case TSR_LOG_ERR:
        counts->err++;
        break;
    }

    if (strstr(msg, "has not answered") != NULL) {
        counts->stalled++;
    }

    snprintf(counts->last, sizeof(counts->last), "%s", msg);

    /* TSR_TEST_VERBOSE=1 shows what the store logs, with times */
    if (getenv("TSR_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "%lld [%d] %s\n", tsr_test_now_ms(), level, msg);
    }
}


static int
connect_nonblocking(int port)
{
    int                 fd;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    return fd;
}


/*
 * A listener that never accepts, its queue filled: Linux drops the SYN
 * of a further connect, which stays in progress.  fds[0] is the
 * listener; returns its port, or -1.
 */

static int
full_listener(int fds[FILLERS + 1])
{
    int                 i, probe, n;
    socklen_t           len;
    struct pollfd       pfd;
    struct sockaddr_in  sin;

    for (i = 0; i <= FILLERS; i++) {
        fds[i] = -1;
    }

    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);

    if (bind(fds[0], (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(fds[0], 0) != 0
        || getsockname(fds[0], (struct sockaddr *) &sin, &len) != 0)
    {
        return -1;
    }

    for (i = 1; i <= FILLERS; i++) {
        fds[i] = connect_nonblocking(ntohs(sin.sin_port));
    }

    /* check: one more connect must hang */

    probe = connect_nonblocking(ntohs(sin.sin_port));
    if (probe == -1) {
        return -1;
    }

    pfd.fd = probe;
    pfd.events = POLLOUT;
    pfd.revents = 0;

    n = poll(&pfd, 1, 100);
    close(probe);

    return (n == 0) ? ntohs(sin.sin_port) : -1;
}


static uint64_t
latency_total(const tsr_store_stats_t *stats)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < TSR_STORE_LATENCY_BUCKETS; i++) {
        n += stats->latency[i];
    }

    return n;
}


static void
test_set_then_get_async_returns_same_bytes(void)
{
    size_t              len;
    uint8_t             buf[16];
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);

    /* nothing answered yet: refused at once, writes dropped */
    CU_ASSERT_PTR_NULL(get(&f, "ta:k", 0, TIMEOUT_MS, &res));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "not connected"));
    CU_ASSERT_EQUAL(set(&f, "ta:k", "x", 1), TSR_OK);

    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:k", "v\0w\xff", 4), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:k", 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.len, 4);
    CU_ASSERT(memcmp(res.val, "v\0w\xff", 4) == 0);

    CU_ASSERT_EQUAL(tsr_store_del(f.st, "ta:k", 4), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:k", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(res.len, 0);

    /* synchronous reads are for synchronous stores only */
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(f.st, "ta:k", 4, buf, &len), TSR_EINVAL);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(f.st, "ta:k", 4, buf, &len),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_connect(f.st), TSR_EINVAL);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.gets, 3);
    CU_ASSERT_EQUAL(stats.refused, 1);
    CU_ASSERT_EQUAL(stats.hits, 1);
    CU_ASSERT_EQUAL(stats.misses, 1);
    CU_ASSERT_EQUAL(stats.sets, 2);
    CU_ASSERT_EQUAL(stats.dropped, 1);
    CU_ASSERT_EQUAL(stats.dels, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);
    CU_ASSERT_EQUAL(latency_total(&stats), 2);
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 0);

    CU_ASSERT_EQUAL(f.log.err, 0);
    CU_ASSERT(f.log.info >= 1);

    finish(&f);
    CU_ASSERT_EQUAL(f.tl.unwatches, 1);
}


static void
test_getdel_async_returns_value_and_deletes_key(void)
{
    result_t          res;
    fixture_t         f;
    tsr_store_conf_t  conf;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:once", "o", 1), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:once", 1, &res), TSR_OK);
    CU_ASSERT_EQUAL(res.len, 1);
    CU_ASSERT_EQUAL(res.val[0], 'o');

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "EXISTS %s", "ta:once"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    CU_ASSERT_EQUAL(lookup(&f, "ta:once", 1, &res), TSR_NOT_FOUND);

    finish(&f);
}


static void
test_getdel_async_falls_back_to_eval_without_getdel(void)
{
    int                 i;
    result_t            res[3];
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, old.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:o1", "1", 1), TSR_OK);
    CU_ASSERT_EQUAL(set(&f, "ta:o2", "2", 1), TSR_OK);

    /* both GETDELs fail as unknown and go on as the script */
    CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:o1", 1, TIMEOUT_MS, &res[0]));
    CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:o2", 1, TIMEOUT_MS, &res[1]));

    (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &res[1].calls);

    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(res[i].calls, 1);
        CU_ASSERT_EQUAL(res[i].rc, TSR_OK);
        CU_ASSERT_EQUAL(res[i].len, 1);
        CU_ASSERT_EQUAL(res[i].val[0], '1' + i);
    }

    /* from then on the script directly */
    CU_ASSERT_EQUAL(lookup(&f, "ta:o1", 1, &res[2]), TSR_NOT_FOUND);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&old, out, sizeof(out), "EXISTS %s",
                                       "ta:o2"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.hits, 2);
    CU_ASSERT_EQUAL(stats.misses, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);

    /* connected, then switched once */
    CU_ASSERT_EQUAL(f.log.info, 2);
    CU_ASSERT_EQUAL(f.log.err, 0);

    finish(&f);
}


static void
test_get_async_of_missing_key_is_not_found(void)
{
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(lookup(&f, "ta:none", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(res.len, 0);
    CU_ASSERT_EQUAL(lookup(&f, "ta:none", 1, &res), TSR_NOT_FOUND);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.misses, 2);
    CU_ASSERT_EQUAL(stats.bad_values, 0);
    CU_ASSERT_EQUAL(stats.errors, 0);

    finish(&f);
}


static void
test_wrong_type_and_oversized_value_are_bad_values(void)
{
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                             "LPUSH %s %s", "ta:list", "a"),
                          0);

    /* 20001 bytes, more than TSR_MAX_VALUE */
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                             "SETRANGE %s 20000 %s",
                                             "ta:huge", "x"),
                          0);
    CU_ASSERT_STRING_EQUAL(out, "20001");

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(lookup(&f, "ta:list", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(lookup(&f, "ta:list", 1, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(lookup(&f, "ta:huge", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(res.len, 0);

    /* the key name stays out of the message */
    CU_ASSERT_PTR_NULL(strstr(tsr_store_error(f.st), "ta:huge"));

    /* the connection is still good */
    CU_ASSERT_EQUAL(set(&f, "ta:after", "v", 1), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:after", 0, &res), TSR_OK);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.bad_values, 3);
    CU_ASSERT_EQUAL(stats.misses, 0);
    CU_ASSERT_EQUAL(stats.hits, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);

    finish(&f);
}


static void
test_deadline_passes_and_late_reply_is_harmless(void)
{
    long long           start_ms, elapsed;
    result_t            res;
    fixture_t           f;
    tsr_req_t          *req;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;
    tsr_test_proxy_t    proxy;

    CU_ASSERT_EQUAL_FATAL(tsr_test_proxy_start(&proxy, redis.port,
                                               PROXY_DELAY),
                          0);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, proxy.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, 2 * TIMEOUT_MS), 0);

    start_ms = tsr_test_now_ms();
    req = get(&f, "ta:late", 0, 50, &res);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);

    CU_ASSERT_EQUAL(wait_done(&f, &res, TIMEOUT_MS), 0);
    elapsed = res.at - start_ms;

    /*
     * A deadline not kept would end with the reply, after PROXY_DELAY;
     * the 200 ms between leave room for a busy machine's late wake-up.
     */
    CU_ASSERT_EQUAL(res.rc, TSR_ETIMEDOUT);
    CU_ASSERT(elapsed >= 50 && elapsed <= PROXY_DELAY - 50);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "timed out"));

    /* the reply is still due; when it comes, nothing more happens */
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 1);
    CU_ASSERT_EQUAL(wait_idle(&f, 2 * TIMEOUT_MS), 0);
    (void) tsr_test_loop_run(&f.tl, 50, NULL);
    CU_ASSERT_EQUAL(res.calls, 1);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.timeouts, 1);
    CU_ASSERT_EQUAL(stats.errors, 1);
    CU_ASSERT_EQUAL(stats.misses, 0);
    CU_ASSERT_EQUAL(latency_total(&stats), 1);

    /* round trips of 300 ms and a bit: the 500 ms bucket */
    CU_ASSERT_EQUAL(stats.latency[12], 1);
    CU_ASSERT(stats.latency_sum_us >= 300000
              && stats.latency_sum_us <= 500000);

    /* a slow Redis still answers lookups that wait long enough */
    CU_ASSERT_EQUAL(lookup(&f, "ta:late", 0, &res), TSR_NOT_FOUND);

    finish(&f);
    CU_ASSERT_EQUAL(tsr_test_proxy_stop(&proxy), 0);
}


static void
test_cancel_suppresses_callback_and_frees_on_reply(void)
{
    result_t            res[2];
    fixture_t           f;
    tsr_req_t          *req;
    tsr_store_conf_t    conf;
    tsr_test_proxy_t    proxy;

    CU_ASSERT_EQUAL_FATAL(tsr_test_proxy_start(&proxy, redis.port,
                                               PROXY_DELAY),
                          0);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, proxy.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, 2 * TIMEOUT_MS), 0);

    /* one with a long deadline, one that would time out first */
    req = get(&f, "ta:cancel", 0, TIMEOUT_MS, &res[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    tsr_store_cancel(req);

    req = get(&f, "ta:cancel", 1, 50, &res[1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    tsr_store_cancel(req);

    tsr_store_cancel(NULL);

    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 2);
    CU_ASSERT_EQUAL(wait_idle(&f, 2 * TIMEOUT_MS), 0);
    (void) tsr_test_loop_run(&f.tl, 100, NULL);

    CU_ASSERT_EQUAL(res[0].calls, 0);
    CU_ASSERT_EQUAL(res[1].calls, 0);

    finish(&f);
    CU_ASSERT_EQUAL(tsr_test_proxy_stop(&proxy), 0);
}


static void
test_inflight_limit_refuses_the_fifth_lookup(void)
{
    int                 i;
    result_t            res[5], last;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;
    tsr_test_proxy_t    proxy;

    CU_ASSERT_EQUAL_FATAL(tsr_test_proxy_start(&proxy, redis.port,
                                               PROXY_DELAY),
                          0);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, proxy.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 4, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, 2 * TIMEOUT_MS), 0);

    for (i = 0; i < 4; i++) {
        CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:limit", 0, 2 * TIMEOUT_MS,
                                   &res[i]));
    }

    CU_ASSERT_PTR_NULL(get(&f, "ta:limit", 0, 2 * TIMEOUT_MS, &res[4]));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "in flight"));
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 4);

    (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &res[3].calls);

    for (i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(res[i].calls, 1);
        CU_ASSERT_EQUAL(res[i].rc, TSR_NOT_FOUND);
    }

    CU_ASSERT_EQUAL(res[4].calls, 0);
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 0);

    /* room again */
    CU_ASSERT_EQUAL(lookup(&f, "ta:limit", 0, &last), TSR_NOT_FOUND);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.refused, 1);
    CU_ASSERT_EQUAL(stats.misses, 5);

    finish(&f);
    CU_ASSERT_EQUAL(tsr_test_proxy_stop(&proxy), 0);
}


static void
test_breaker_opens_after_failures_and_closes_on_success(void)
{
    int                 i, rc;
    long long           start_ms;
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, spare.port);
    conf.backoff_min_ms = 200;
    conf.backoff_max_ms = 1000;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 3), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_signal(&spare, SIGSTOP), 0);

    for (i = 0; i < 3; i++) {
        CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:brk", 0, 50, &res));
        CU_ASSERT_EQUAL(wait_done(&f, &res, TIMEOUT_MS), 0);
        CU_ASSERT_EQUAL(res.rc, TSR_ETIMEDOUT);
    }

    /* open: refused at once, without touching the network */
    CU_ASSERT_PTR_NULL(get(&f, "ta:brk", 0, 50, &res));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "circuit breaker"));
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 3);
    CU_ASSERT_EQUAL(f.log.warn, 1);

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&spare, SIGCONT), 0);

    /* half-open after 200 ms; the first success closes it */
    start_ms = tsr_test_now_ms();

    do {
        (void) tsr_test_loop_run(&f.tl, 20, NULL);
        rc = lookup(&f, "ta:brk", 0, &res);
    } while (rc != TSR_NOT_FOUND && tsr_test_now_ms() - start_ms < 2000);

    CU_ASSERT_EQUAL(rc, TSR_NOT_FOUND);
    CU_ASSERT(tsr_test_now_ms() - start_ms >= 150);

    CU_ASSERT_EQUAL(lookup(&f, "ta:brk", 0, &res), TSR_NOT_FOUND);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.breaker_opened, 1);
    CU_ASSERT(stats.refused >= 1);
    CU_ASSERT_EQUAL(stats.timeouts, 3);
    CU_ASSERT_EQUAL(stats.connects, 1);

    finish(&f);
}


static void
test_restarted_redis_serves_again_within_2s(void)
{
    int                 rc;
    long long           start_ms;
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, spare.port);
    conf.backoff_min_ms = 50;
    conf.backoff_max_ms = 1000;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&spare), 0);

    /* the loss is noticed, attempts fail, lookups are refused at once */
    (void) tsr_test_loop_run(&f.tl, 1500, NULL);

    CU_ASSERT_PTR_NULL(get(&f, "ta:rst", 0, TIMEOUT_MS, &res));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "not connected"));
    CU_ASSERT_EQUAL(set(&f, "ta:rst", "v", 1), TSR_OK);
    CU_ASSERT(f.log.err >= 3);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT(stats.breaker_opened >= 1);
    CU_ASSERT_EQUAL(stats.dropped, 1);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&spare), 0);

    start_ms = tsr_test_now_ms();

    do {
        rc = lookup(&f, "ta:rst", 0, &res);
        if (rc == TSR_NOT_FOUND) {
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 10, NULL);

    } while (tsr_test_now_ms() - start_ms < 3000);

    CU_ASSERT_EQUAL(rc, TSR_NOT_FOUND);
    CU_ASSERT(tsr_test_now_ms() - start_ms < 2000);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 2);

    finish(&f);
}


static void
test_stopped_redis_keeps_queue_bounded_and_recovers(void)
{
    int                 rc, accepted, max_inflight;
    char                val[100];
    long long           start_ms, t, slowest;
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(val, 'v', sizeof(val));

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, spare.port);
    conf.connect_timeout_ms = 100;
    conf.command_timeout_ms = 100;
    conf.backoff_min_ms = 50;
    conf.backoff_max_ms = 1000;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 8, 5), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_signal(&spare, SIGSTOP), 0);

    /* a lookup and a write every 5 ms for 3 s; "res" is reused */
    accepted = 0;
    max_inflight = 0;
    slowest = 0;
    start_ms = tsr_test_now_ms();
    memset(&res, 0, sizeof(res));

    while (tsr_test_now_ms() - start_ms < 3000) {
        t = tsr_test_now_ms();

        in_get = 1;
        if (tsr_store_get_async(f.st, "ta:stop", 7, 0, 50, on_done, &res)
            != NULL)
        {
            accepted++;
        }
        in_get = 0;

        CU_ASSERT_EQUAL(set(&f, "ta:stop", val, sizeof(val)), TSR_OK);

        t = tsr_test_now_ms() - t;
        if (t > slowest) {
            slowest = t;
        }

        if (tsr_store_inflight(f.st) > max_inflight) {
            max_inflight = tsr_store_inflight(f.st);
        }

        (void) tsr_test_loop_run(&f.tl, 5, NULL);
    }

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&spare, SIGCONT), 0);

    tsr_store_stats(f.st, &stats);

    CU_ASSERT(slowest < 20);
    CU_ASSERT(max_inflight <= 8);
    CU_ASSERT(accepted >= 5);
    CU_ASSERT_EQUAL((int) stats.timeouts, res.calls);
    CU_ASSERT(stats.timeouts >= 5);
    CU_ASSERT(stats.breaker_opened >= 1);
    CU_ASSERT(stats.refused > 0);
    CU_ASSERT(stats.dropped > 0);
    CU_ASSERT_EQUAL(stats.hits + stats.misses, 0);

    /* the stuck connection was given up, not kept for ever */
    CU_ASSERT(f.log.stalled >= 1);

    start_ms = tsr_test_now_ms();

    do {
        rc = lookup(&f, "ta:stop", 0, &res);
        if (rc == TSR_OK || rc == TSR_NOT_FOUND) {
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 10, NULL);

    } while (tsr_test_now_ms() - start_ms < 3000);

    CU_ASSERT(rc == TSR_OK || rc == TSR_NOT_FOUND);
    CU_ASSERT(tsr_test_now_ms() - start_ms < 2000);

    finish(&f);
}


static void
test_auth_with_password_and_acl_user(void)
{
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, secured.port);
    conf.password = secured.password;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:pw", "p", 1), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:pw", 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(res.val[0], 'p');
    finish(&f);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    conf.user = "alice";
    conf.password = "secret";
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:acl", "a", 1), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:acl", 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(res.val[0], 'a');
    finish(&f);

    /* a wrong password: logged, never ready, the password unsaid */
    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, secured.port);
    conf.password = "bad-guess-42";
    conf.backoff_min_ms = 100;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);

    (void) tsr_test_loop_run(&f.tl, 300, NULL);

    CU_ASSERT_PTR_NULL(get(&f, "ta:pw", 0, TIMEOUT_MS, &res));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "AUTH"));
    CU_ASSERT_PTR_NULL(strstr(tsr_store_error(f.st), "bad-guess-42"));
    CU_ASSERT(f.log.err >= 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.log.last, "WRONGPASS"));
    CU_ASSERT_PTR_NULL(strstr(f.log.last, "bad-guess-42"));

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 0);
    CU_ASSERT(stats.errors >= 1);
    finish(&f);
}


static void
test_unix_socket_and_db_from_parsed_address(void)
{
    char              addr[PATH_MAX + 16], buf[CONF_SIZE], err[ERR_SIZE];
    result_t          res;
    fixture_t         f;
    tsr_store_conf_t  conf;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, 0);

    snprintf(addr, sizeof(addr), "unix:%s db=3", redis.unix_path);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);

    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:db3", "3", 1), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, "ta:db3", 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(res.val[0], '3');

    /* not in db 0 */
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "GET %s",
                                       "ta:db3"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "(nil)");

    finish(&f);
}


static void
test_destroy_with_lookups_pending_calls_nothing(void)
{
    int                 i;
    result_t            res[3];
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_test_proxy_t    proxy;

    CU_ASSERT_EQUAL_FATAL(tsr_test_proxy_start(&proxy, redis.port,
                                               PROXY_DELAY),
                          0);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, proxy.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, 2 * TIMEOUT_MS), 0);

    CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:d1", 0, TIMEOUT_MS, &res[0]));
    CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:d2", 1, TIMEOUT_MS, &res[1]));
    CU_ASSERT_PTR_NOT_NULL(get(&f, "ta:d3", 0, TIMEOUT_MS, &res[2]));
    CU_ASSERT_EQUAL(set(&f, "ta:d4", "v", 1), TSR_OK);

    /* on the wire, replies due */
    (void) tsr_test_loop_run(&f.tl, 50, NULL);
    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 3);

    finish(&f);

    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(res[i].calls, 0);
    }

    CU_ASSERT_EQUAL(f.tl.unwatches, 1);
    CU_ASSERT_EQUAL(tsr_test_proxy_stop(&proxy), 0);
}


static void
test_done_may_start_another_lookup(void)
{
    result_t          res[2];
    fixture_t         f;
    tsr_store_conf_t  conf;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL(set(&f, "ta:chain", "c", 1), TSR_OK);

    chain_fixture = &f;
    chain_req = NULL;
    memset(res, 0, sizeof(res));

    in_get = 1;
    CU_ASSERT_PTR_NOT_NULL(tsr_store_get_async(f.st, "ta:chain", 8, 0,
                                               TIMEOUT_MS, on_done_chain,
                                               res));
    in_get = 0;
    CU_ASSERT_EQUAL(res[0].calls, 0);

    CU_ASSERT_EQUAL(wait_done(&f, &res[0], TIMEOUT_MS), 0);
    CU_ASSERT_PTR_NOT_NULL(chain_req);
    CU_ASSERT_EQUAL(res[1].calls, 0);

    CU_ASSERT_EQUAL(wait_done(&f, &res[1], TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(res[0].rc, TSR_OK);
    CU_ASSERT_EQUAL(res[1].rc, TSR_OK);
    CU_ASSERT_EQUAL(res[1].val[0], 'c');

    finish(&f);
}


static void
test_refused_watch_drops_socket_then_retries(void)
{
    char                err[ERR_SIZE];
    result_t            res;
    fixture_t           f;
    tsr_loop_t          loop;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    conf.backoff_min_ms = 100;

    f.st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.st);

    /* the loop refuses the first socket */
    tsr_test_loop_init(&f.tl, &loop);
    f.tl.fail_watch = 1;

    CU_ASSERT_EQUAL_FATAL(tsr_store_set_async(f.st, &loop, NULL), TSR_OK);
    f.tl.store = f.st;

    (void) tsr_test_loop_run(&f.tl, 50, NULL);
    f.tl.fail_watch = 0;

    CU_ASSERT(f.log.err >= 1);
    CU_ASSERT_EQUAL(f.tl.fd, -1);

    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(lookup(&f, "ta:none", 0, &res), TSR_NOT_FOUND);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 1);

    finish(&f);
}


/*
 * A connect in progress looks done to hiredis on the first write event
 * (it only checks SO_ERROR), and its write fails with EAGAIN: the store
 * must wait for the next edge rather than post itself a write event
 * again and again.  The connect deadline ends the attempt.
 */

static void
test_hanging_connect_is_bounded_and_does_not_spin(void)
{
    int                 i, port, fds[FILLERS + 1];
    result_t            res;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    port = full_listener(fds);
    CU_ASSERT_FATAL(port > 0);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, port);
    /* a deadline well past the first look, even on a loaded machine */
    conf.connect_timeout_ms = 500;
    conf.command_timeout_ms = 500;
    conf.backoff_min_ms = 2000;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);

    (void) tsr_test_loop_run(&f.tl, 150, NULL);

    CU_ASSERT_EQUAL(f.log.err, 0);
    CU_ASSERT_PTR_NULL(get(&f, "ta:hang", 0, TIMEOUT_MS, &res));
    CU_ASSERT_EQUAL(set(&f, "ta:hang", "v", 1), TSR_OK);

    (void) tsr_test_loop_run(&f.tl, 1200, NULL);

    CU_ASSERT_EQUAL(f.log.err, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.log.last, "timed out after 1000 ms"));
    CU_ASSERT_EQUAL(f.tl.fd, -1);
    CU_ASSERT_EQUAL(f.tl.misuses, 0);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 0);
    CU_ASSERT_EQUAL(stats.refused, 1);
    CU_ASSERT_EQUAL(stats.dropped, 1);

    finish(&f);

    for (i = 0; i <= FILLERS; i++) {
        if (fds[i] != -1) {
            close(fds[i]);
        }
    }
}


static void
test_bad_arguments_and_sync_calls_are_refused(void)
{
    char                    err[ERR_SIZE];
    result_t                res;
    fixture_t               f;
    tsr_loop_t              loop, partial;
    tsr_store_t            *st;
    tsr_store_conf_t        conf;
    tsr_store_async_conf_t  aconf;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);

    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    /* a synchronous store has no asynchronous lookups */
    CU_ASSERT_PTR_NULL(tsr_store_get_async(st, "ta:x", 4, 0, TIMEOUT_MS,
                                           on_done, &res));
    CU_ASSERT_EQUAL(tsr_store_inflight(st), 0);

    tsr_test_loop_init(&f.tl, &loop);
    partial = loop;
    partial.now = NULL;

    memset(&aconf, 0, sizeof(aconf));
    aconf.max_inflight = -1;

    CU_ASSERT_EQUAL(tsr_store_set_async(NULL, &loop, NULL), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set_async(st, NULL, NULL), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set_async(st, &partial, NULL), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set_async(st, &loop, &aconf), TSR_EINVAL);

    CU_ASSERT_EQUAL(tsr_store_set_async(st, &loop, NULL), TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_set_async(st, &loop, NULL), TSR_EINVAL);

    f.st = st;
    f.tl.store = st;
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);

    CU_ASSERT_PTR_NULL(tsr_store_get_async(st, NULL, 4, 0, TIMEOUT_MS,
                                           on_done, &res));
    CU_ASSERT_PTR_NULL(tsr_store_get_async(st, "ta:x", 0, 0, TIMEOUT_MS,
                                           on_done, &res));
    CU_ASSERT_PTR_NULL(tsr_store_get_async(st, "ta:x", 4, 0, 0, on_done,
                                           &res));
    CU_ASSERT_PTR_NULL(tsr_store_get_async(st, "ta:x", 4, 0, TIMEOUT_MS,
                                           NULL, &res));

    CU_ASSERT_EQUAL(tsr_store_set(st, "ta:x", 4, (const uint8_t *) "v", 1,
                                  0),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_del(st, NULL, 0), TSR_EINVAL);

    /* entry points tolerate NULL */
    tsr_store_on_read(NULL);
    tsr_store_on_write(NULL);
    tsr_store_on_timer(NULL);
    CU_ASSERT_EQUAL(tsr_store_inflight(NULL), 0);
    CU_ASSERT_PTR_NULL(tsr_store_get_async(NULL, "ta:x", 4, 0, TIMEOUT_MS,
                                           on_done, &res));

    finish(&f);
}


/*
 * Auto-pipelining: the lookups and DELs queued in one turn of the loop
 * leave in one write() at its end, their replies come back in as few
 * reads as the socket allows; a SET leaves at once, with what was queued
 * before it (its session must be in Redis before its client has it),
 * unless its caller holds the client's bytes until that write
 * (tsr_store_set_later()); and one lookup at a time waits for no batch.
 */

#define BATCH  40

static void
test_commands_of_one_turn_leave_in_one_write(void)
{
    int                 i, calls;
    char                key[32];
    result_t            res[BATCH];
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   s0, s1;

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, redis.port);
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL_FATAL(wait_idle(&f, TIMEOUT_MS), 0);

    tsr_store_stats(f.st, &s0);

    /* one turn: 40 lookups and 10 DELs */

    for (i = 0; i < BATCH; i++) {
        (void) snprintf(key, sizeof(key), "tp:%d", i);
        CU_ASSERT_PTR_NOT_NULL(get(&f, key, 0, TIMEOUT_MS, &res[i]));

        if (i % 4 == 0) {
            CU_ASSERT_EQUAL(tsr_store_del(f.st, key, strlen(key)), TSR_OK);
        }
    }

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.writes, s0.writes);

    CU_ASSERT_EQUAL(wait_idle(&f, 2 * TIMEOUT_MS), 0);

    calls = 0;
    for (i = 0; i < BATCH; i++) {
        calls += res[i].calls;
        CU_ASSERT_EQUAL(res[i].rc, TSR_NOT_FOUND);
    }

    CU_ASSERT_EQUAL(calls, BATCH);

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.commands - s0.commands, BATCH + BATCH / 4);
    CU_ASSERT_EQUAL(s1.writes - s0.writes, 1);
    CU_ASSERT_EQUAL(s1.replies - s0.replies, BATCH + BATCH / 4);
    CU_ASSERT(s1.reads - s0.reads >= 1 && s1.reads - s0.reads <= 2);

    printf("\n    %llu commands in %llu write, %llu replies in %llu reads ",
           (unsigned long long) (s1.commands - s0.commands),
           (unsigned long long) (s1.writes - s0.writes),
           (unsigned long long) (s1.replies - s0.replies),
           (unsigned long long) (s1.reads - s0.reads));

    /* a SET is written before tsr_store_set() returns, with the lookup */

    s0 = s1;
    CU_ASSERT_PTR_NOT_NULL(get(&f, "tp:set", 0, TIMEOUT_MS, &res[0]));
    CU_ASSERT_EQUAL(set(&f, "tp:set", "v", 1), TSR_OK);

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.writes - s0.writes, 1);
    CU_ASSERT_EQUAL(s1.commands - s0.commands, 2);

    CU_ASSERT_EQUAL(wait_idle(&f, 2 * TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(res[0].rc, TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(lookup(&f, "tp:set", 0, &res[1]), TSR_OK);

    /*
     * A SET whose caller holds its client's bytes until the turn's write
     * (a TLS 1.3 ticket) leaves with the turn's other commands.
     */

    tsr_store_stats(f.st, &s0);

    for (i = 0; i < 4; i++) {
        (void) snprintf(key, sizeof(key), "tp:later:%d", i);
        CU_ASSERT_EQUAL(tsr_store_set_later(f.st, key, strlen(key),
                                            (const uint8_t *) "w", 1, 60000),
                        TSR_OK);
    }

    CU_ASSERT_PTR_NOT_NULL(get(&f, "tp:later:0", 0, TIMEOUT_MS, &res[0]));

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.writes, s0.writes);

    CU_ASSERT_EQUAL(wait_idle(&f, 2 * TIMEOUT_MS), 0);

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.commands - s0.commands, 5);
    CU_ASSERT_EQUAL(s1.writes - s0.writes, 1);
    CU_ASSERT_EQUAL(res[0].rc, TSR_OK);
    CU_ASSERT_EQUAL(res[0].len, 1);

    /* one at a time: one write each, none waits for company */

    tsr_store_stats(f.st, &s0);

    for (i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(lookup(&f, "tp:set", 0, &res[i]), TSR_OK);
    }

    tsr_store_stats(f.st, &s1);
    CU_ASSERT_EQUAL(s1.writes - s0.writes, 5);
    CU_ASSERT_EQUAL(s1.reads - s0.reads, 5);

    CU_ASSERT_EQUAL(tsr_store_del(f.st, "tp:set", 6), TSR_OK);
    CU_ASSERT_EQUAL(wait_idle(&f, TIMEOUT_MS), 0);

    finish(&f);
}


/*
 * A Redis that stops reading: once the socket's buffers are full, SETs
 * of 16 kB pile up in the store until 1 MiB is unsent, well before the
 * count of commands awaiting replies (4000 here) would stop them.
 */

static void
test_unsent_bytes_are_bounded_while_redis_does_not_read(void)
{
    int                 i, first_drop;
    char               *val;
    long long           start_ms;
    fixture_t           f;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   s0, s1;

    val = malloc(TSR_MAX_SESSION);
    CU_ASSERT_PTR_NOT_NULL_FATAL(val);
    memset(val, 'u', TSR_MAX_SESSION);

    memset(&f, 0, sizeof(f));
    base_conf(&conf, &f, spare.port);
    conf.command_timeout_ms = 1000;
    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 1000, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL_FATAL(wait_idle(&f, TIMEOUT_MS), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_signal(&spare, SIGSTOP), 0);

    tsr_store_stats(f.st, &s0);
    first_drop = -1;
    start_ms = tsr_test_now_ms();

    for (i = 0; i < 3000 && tsr_test_now_ms() - start_ms < 800; i++) {
        CU_ASSERT_EQUAL(set(&f, "ta:unsent", val, TSR_MAX_SESSION), TSR_OK);

        tsr_store_stats(f.st, &s1);

        if (s1.dropped > s0.dropped) {
            first_drop = i;
            break;
        }

        if (i % 16 == 0) {
            (void) tsr_test_loop_run(&f.tl, 1, NULL);
        }
    }

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&spare, SIGCONT), 0);

    printf("\n    first SET dropped: number %d (%llu commands sent), "
           "\"%s\" ", first_drop,
           (unsigned long long) (s1.commands - s0.commands),
           tsr_store_error(f.st));

    CU_ASSERT(first_drop > 0);
    CU_ASSERT(s1.commands - s0.commands < 4000);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "bytes wait"));

    free(val);
    finish(&f);

    /* the connection was dropped or never drained: start afresh */
    (void) tsr_test_redis_stop(&spare);
    CU_ASSERT_EQUAL(tsr_test_redis_start(&spare), 0);
}


static void *
fake_resolve(void *data, const char *host, tsr_loop_resolved_pt done,
    void *arg)
{
    (void) data;

    resolver.calls++;
    snprintf(resolver.host, sizeof(resolver.host), "%s", host);

    if (resolver.at_once) {
        done(resolver.answer, "not found", arg);
        return NULL;
    }

    CU_ASSERT_PTR_NULL(resolver.done);

    resolver.done = done;
    resolver.arg = arg;

    return &resolver;
}


static void
fake_resolve_cancel(void *data, void *handle)
{
    (void) data;

    CU_ASSERT_PTR_EQUAL(handle, &resolver);

    resolver.cancels++;
    resolver.done = NULL;
}


static void
fake_answer(void)
{
    tsr_loop_resolved_pt  done;

    done = resolver.done;
    resolver.done = NULL;

    if (done != NULL) {
        done(resolver.answer, "not found", resolver.arg);
    }
}


/*
 * A store named by a host name, on a loop with a resolver: it asks the
 * resolver before the first attempt and before each attempt after a
 * loss (refusing lookups meanwhile, never waiting), logs a name that
 * does not resolve once, not per attempt, connects once it resolves, and
 * cancels a resolution pending when it is destroyed.  A loop with only
 * half the hook is refused.
 */

static void
test_host_name_is_resolved_through_the_loop_before_each_attempt(void)
{
    int                 err0, calls;
    char                err[ERR_SIZE];
    long long           end;
    result_t            res;
    fixture_t           f;
    tsr_loop_t          loop, partial;
    tsr_store_t        *st;
    tsr_store_conf_t    conf;

    memset(&f, 0, sizeof(f));
    memset(&resolver, 0, sizeof(resolver));
    base_conf(&conf, &f, spare.port);
    conf.host = "redis.tsr-test.invalid";
    conf.backoff_min_ms = 50;
    conf.backoff_max_ms = 200;

    tsr_test_loop_init(&f.tl, &loop);
    loop.resolve = fake_resolve;
    loop.resolve_cancel = fake_resolve_cancel;

    /* half a hook */

    partial = loop;
    partial.resolve_cancel = NULL;

    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(tsr_store_set_async(st, &partial, NULL), TSR_EINVAL);
    tsr_store_destroy(st);
    CU_ASSERT_EQUAL(resolver.calls, 0);

    f.st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.st);
    CU_ASSERT_EQUAL_FATAL(tsr_store_set_async(f.st, &loop, NULL), TSR_OK);
    f.tl.store = f.st;

    /* asked at once, without waiting; lookups refused until connected */

    CU_ASSERT_EQUAL(resolver.calls, 1);
    CU_ASSERT_STRING_EQUAL(resolver.host, "redis.tsr-test.invalid");
    CU_ASSERT_PTR_NULL(get(&f, "ta:dns", 0, TIMEOUT_MS, &res));

    (void) tsr_test_loop_run(&f.tl, 100, NULL);
    CU_ASSERT_EQUAL(resolver.calls, 1);

    resolver.answer = "127.0.0.1";
    fake_answer();

    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(lookup(&f, "ta:dns", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(resolver.calls, 1);

    /*
     * Redis goes away and the name with it: asked before every attempt,
     * which goes to the last address found; the name is said once
     */

    resolver.at_once = 1;
    resolver.answer = NULL;
    err0 = f.log.err;

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&spare), 0);
    (void) tsr_test_loop_run(&f.tl, 1000, NULL);

    CU_ASSERT(resolver.calls >= 5);
    CU_ASSERT_PTR_NULL(get(&f, "ta:dns", 0, TIMEOUT_MS, &res));
    CU_ASSERT(f.log.err - err0 >= 5);
    CU_ASSERT_EQUAL(f.log.limited, 1);

    /* it resolves again: connected without waiting for anything else */

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&spare), 0);
    resolver.answer = "127.0.0.1";
    calls = resolver.calls;

    CU_ASSERT_EQUAL(wait_connects(&f, 2, 2000), 0);
    CU_ASSERT_EQUAL(lookup(&f, "ta:dns", 0, &res), TSR_NOT_FOUND);
    CU_ASSERT(resolver.calls > calls);

    /* destroyed with a resolution pending: cancelled, "done" never runs */

    resolver.at_once = 0;
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&spare), 0);

    end = tsr_test_now_ms() + 2000;

    while (resolver.done == NULL && tsr_test_now_ms() < end) {
        (void) tsr_test_loop_run(&f.tl, 10, NULL);
    }

    CU_ASSERT_PTR_NOT_NULL(resolver.done);

    finish(&f);

    CU_ASSERT_EQUAL(resolver.cancels, 1);
    CU_ASSERT_PTR_NULL(resolver.done);

    CU_ASSERT_EQUAL(tsr_test_redis_start(&spare), 0);

    /*
     * An address found at configuration time: the first attempt goes
     * there without asking; a name the resolver does not know (as
     * "localhost" may be) keeps its address after a loss.  A bad one
     * is refused.
     */

    memset(&f, 0, sizeof(f));
    memset(&resolver, 0, sizeof(resolver));
    base_conf(&conf, &f, spare.port);
    conf.host = "localhost";
    conf.host_addr = "localhost";
    conf.backoff_min_ms = 50;

    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid address \"localhost\""));
    tsr_store_destroy(st);

    conf.host_addr = "127.0.0.1";
    resolver.at_once = 1;

    tsr_test_loop_init(&f.tl, &loop);
    loop.resolve = fake_resolve;
    loop.resolve_cancel = fake_resolve_cancel;

    f.st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.st);
    CU_ASSERT_EQUAL_FATAL(tsr_store_set_async(f.st, &loop, NULL), TSR_OK);
    f.tl.store = f.st;

    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(resolver.calls, 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&spare), 0);
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&spare), 0);

    CU_ASSERT_EQUAL(wait_connects(&f, 2, 2000), 0);
    CU_ASSERT(resolver.calls >= 1);
    CU_ASSERT_EQUAL(f.log.limited, 1);
    CU_ASSERT_EQUAL(lookup(&f, "ta:dns", 0, &res), TSR_NOT_FOUND);

    finish(&f);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(set_then_get_async_returns_same_bytes),
        TSR_TEST(getdel_async_returns_value_and_deletes_key),
        TSR_TEST(getdel_async_falls_back_to_eval_without_getdel),
        TSR_TEST(get_async_of_missing_key_is_not_found),
        TSR_TEST(wrong_type_and_oversized_value_are_bad_values),
        TSR_TEST(deadline_passes_and_late_reply_is_harmless),
        TSR_TEST(cancel_suppresses_callback_and_frees_on_reply),
        TSR_TEST(inflight_limit_refuses_the_fifth_lookup),
        TSR_TEST(breaker_opens_after_failures_and_closes_on_success),
        TSR_TEST(restarted_redis_serves_again_within_2s),
        TSR_TEST(stopped_redis_keeps_queue_bounded_and_recovers),
        TSR_TEST(auth_with_password_and_acl_user),
        TSR_TEST(unix_socket_and_db_from_parsed_address),
        TSR_TEST(destroy_with_lookups_pending_calls_nothing),
        TSR_TEST(done_may_start_another_lookup),
        TSR_TEST(refused_watch_drops_socket_then_retries),
        TSR_TEST(hanging_connect_is_bounded_and_does_not_spin),
        TSR_TEST(bad_arguments_and_sync_calls_are_refused),
        TSR_TEST(commands_of_one_turn_leave_in_one_write),
        TSR_TEST(unsent_bytes_are_bounded_while_redis_does_not_read),
        TSR_TEST(host_name_is_resolved_through_the_loop_before_each_attempt),
        TSR_TEST(tls_reply_then_eof_leaves_no_openssl_error)
    };

    /* a write to a connection Redis closed must not kill the program */
    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("store_async", init_suite, clean_suite, tests);
}


/*
 * A TLS Redis that answers and dies at once: the reply and the end of
 * the connection (no close_notify) wait in the socket together, so one
 * read decrypts the reply and then meets OpenSSL's "unexpected eof".
 * The reply is delivered, and OpenSSL's error queue is left empty: nginx
 * takes any entry left there for its own and logs "[alert] ignoring
 * stale global SSL error" (seen in the fault suite over TLS).
 */

static void
test_tls_reply_then_eof_leaves_no_openssl_error(void)
{
    int                 port;
    char                dir[256], err[ERR_SIZE], address[768];
    result_t            res;
    fixture_t           f;
    long long           end;
    tsr_test_redis_t    r;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   s0, s1;

    static char  buf[4096];

    if (tsr_test_redis_start_tls(&r, dir, sizeof(dir), &port, 0) != 0) {
        CU_FAIL("redis-server with TLS did not start");
        return;
    }

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&r, NULL, 0, "SET te:k v1"), 0);

    memset(&f, 0, sizeof(f));
    memset(&conf, 0, sizeof(conf));

    (void) snprintf(address, sizeof(address),
                    "127.0.0.1:%d tls tls_ca_file=%s/redis.crt "
                    "tls_server_name=redis.test", port, dir);

    if (tsr_store_conf_parse(&conf, address, buf, sizeof(buf), err,
                             sizeof(err))
        != TSR_OK)
    {
        CU_FAIL(err);
        (void) tsr_test_redis_stop(&r);
        return;
    }

    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.never_block = 1;
    conf.log = count_log;
    conf.log_data = &f.log;

    CU_ASSERT_EQUAL_FATAL(start(&f, &conf, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_connects(&f, 1, 2 * TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL_FATAL(wait_idle(&f, TIMEOUT_MS), 0);

    /* the GET leaves while Redis is stopped, so nothing is read yet */

    CU_ASSERT_EQUAL(kill(r.pid, SIGSTOP), 0);

    tsr_store_stats(f.st, &s0);
    memset(&res, 0, sizeof(res));
    CU_ASSERT_PTR_NOT_NULL_FATAL(get(&f, "te:k", 0, 5 * TIMEOUT_MS, &res));

    end = tsr_test_now_ms() + TIMEOUT_MS;

    do {
        (void) tsr_test_loop_run(&f.tl, 5, NULL);
        tsr_store_stats(f.st, &s1);
    } while (s1.writes == s0.writes && tsr_test_now_ms() < end);

    CU_ASSERT_EQUAL(s1.writes - s0.writes, 1);
    CU_ASSERT_EQUAL(res.calls, 0);

    /* Redis answers, then is killed: the reply and the end queued */

    CU_ASSERT_EQUAL(kill(r.pid, SIGCONT), 0);
    tsr_test_sleep_ms(200);
    CU_ASSERT_EQUAL(kill(r.pid, SIGKILL), 0);
    tsr_test_sleep_ms(100);

    ERR_clear_error();

    CU_ASSERT_EQUAL(wait_done(&f, &res, TIMEOUT_MS), 0);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);
    CU_ASSERT_EQUAL(res.len, 2);
    CU_ASSERT_EQUAL(memcmp(res.val, "v1", 2), 0);
    CU_ASSERT_EQUAL(res.ssl_err, 0);

    /* and the end of the connection is read too */
    (void) tsr_test_loop_run(&f.tl, 100, NULL);

    CU_ASSERT_EQUAL(ERR_peek_error(), 0);

    ERR_clear_error();

    finish(&f);
    (void) tsr_test_redis_stop(&r);
}
