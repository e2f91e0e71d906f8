
/*
 * The store through Redis Sentinel (a master, a replica, three
 * sentinels on loopback): the master found by the synchronous and the
 * asynchronous client, past a sentinel nobody listens on; a master name
 * no sentinel knows; a sentinel naming a replica (ROLE says so, nothing
 * is written there); and the master killed, followed to the replica the
 * sentinels promote, with the values written before.
 */


#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "tsr.h"
#include "tsr_test.h"


#define ERR_SIZE     512
#define OUT_SIZE     4096
#define TIMEOUT_MS   1000
#define STALL_MS     1000       /* 4 x the command timeout, at least 1 s */
#define VAL_SIZE     160
#define KEYS         100
#define FAILOVER_MS  15000      /* the sentinels' part, at most */
#define FAKE_CONNS   16


typedef struct {
    int          err;
    int          moves;         /* "the master moves" logged */
    int          not_master;
    int          stalled;       /* "has not answered" logged */
    char         stalled_msg[ERR_SIZE];
    char         last[ERR_SIZE];
} log_counts_t;

typedef struct {
    int          calls;
    int          rc;
    size_t       len;
    uint8_t      val[VAL_SIZE];
} result_t;

typedef struct {
    tsr_store_t      *st;
    tsr_test_loop_t   tl;
    log_counts_t      log;
} fixture_t;

/* a ring's value, answered on the loop, is in ring_val */
typedef struct {
    int          calls;
    int          rc;
    size_t       len;
} ring_res_t;


static int init_suite(void);
static int clean_suite(void);
static int start(fixture_t *f, const char *sentinels, const char *name,
    int async);
static void finish(fixture_t *f);
static int wait_up(fixture_t *f, int ms);
static int lookup(fixture_t *f, const char *key, result_t *res);
static int put(fixture_t *f, const char *key);
static int found(fixture_t *f, const char *key);
static void make_key(char *key, size_t len, const char *tag, int i);
static void value_of(const char *key, char *val, size_t len);
static int quiet_check(tsr_store_t *st, const char *key);
static int sync_check(tsr_store_t *st, const char *key);
static void on_done(int rc, const uint8_t *val, size_t len, void *arg);
static void count_log(int level, const char *msg, void *data);
static pid_t fake_sentinel(int *port, int master_port);
static void fake_serve(int lfd, int master_port);
static void test_sync_client_finds_the_master_past_a_dead_sentinel(void);
static void test_async_store_watches_a_sentinel_and_the_master(void);
static void test_unknown_master_name_is_refused_with_a_reason(void);
static void test_sentinel_naming_a_replica_is_not_believed(void);
static void test_stopped_sentinel_is_left_for_the_next(void);
static void test_killed_master_is_followed_to_the_new_one(void);
static void test_hostile_sentinel_messages_never_crash(void);
static void test_allow_keeps_the_password_from_other_networks(void);
static void test_scripts_and_ticket_ring_follow_a_failover(void);
static tsr_tickets_t *make_ring(int no_rotate, log_counts_t *log);
static int ring_gen_on(int i, const char *name);
static int demoted(int i, int ms);
static int calm_sentinel(int ms);
static void on_ring(int rc, const uint8_t *val, size_t len, void *arg);


static tsr_test_sentinel_t  sentinel;

static int                  in_get;

/* "allow=" of the stores started */
static const char          *allow;

/* pushed by the fake sentinel after each subscription it confirms */
static const char          *fake_push;
static size_t               fake_push_len;
static int                  sync_done;

/* the fleet key of the ticket rings; a ring's value, as answered */
static tsr_keyring_t       *ring_keys;
static uint8_t              ring_val[TSR_MAX_VALUE];


static int
init_suite(void)
{
    uint8_t  ikm[32];

    memset(ikm, 0x4b, sizeof(ikm));

    ring_keys = tsr_keyring_create(NULL, 0);
    if (ring_keys == NULL
        || tsr_keyring_add_key(ring_keys, ikm, sizeof(ikm), NULL, 0)
           != TSR_OK)
    {
        return -1;
    }

    return tsr_test_sentinel_start(&sentinel);
}


static int
clean_suite(void)
{
    tsr_keyring_destroy(ring_keys);

    return tsr_test_sentinel_stop(&sentinel);
}


static int
start(fixture_t *f, const char *sentinels, const char *name, int async)
{
    char              err[ERR_SIZE];
    tsr_loop_t        loop;
    tsr_store_conf_t  conf;

    memset(f, 0, sizeof(fixture_t));

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.sentinels = sentinels;
    conf.master_name = name;
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = STALL_MS / 4;
    conf.backoff_max_ms = 500;
    conf.never_block = async;
    conf.allow = allow;
    conf.log = count_log;
    conf.log_data = &f->log;

    f->st = tsr_store_create(&conf, err, sizeof(err));
    if (f->st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
        return -1;
    }

    if (!async) {
        return 0;
    }

    tsr_test_loop_init(&f->tl, &loop);
    f->tl.multi = 1;

    if (tsr_store_set_async(f->st, &loop, NULL) != TSR_OK) {
        fprintf(stderr, "tsr_store_set_async() failed: %s\n",
                tsr_store_error(f->st));
        return -1;
    }

    f->tl.store = f->st;

    return 0;
}


static void
finish(fixture_t *f)
{
    int  async;

    async = (f->tl.store != NULL);

    tsr_store_destroy(f->st);
    f->st = NULL;

    if (async) {
        CU_ASSERT_EQUAL(f->tl.nfds, 0);
        CU_ASSERT_EQUAL(f->tl.timer_at, 0);
        CU_ASSERT_EQUAL(f->tl.misuses, 0);
    }

    CU_ASSERT_EQUAL(sync_done, 0);
}


static int
wait_up(fixture_t *f, int ms)
{
    long long  end;

    end = tsr_test_now_ms() + ms;

    while (tsr_store_state(f->st) != TSR_STORE_STATE_UP) {
        if (tsr_test_now_ms() >= end) {
            return -1;
        }

        (void) tsr_test_loop_run(&f->tl, 5, NULL);
    }

    return 0;
}


static int
lookup(fixture_t *f, const char *key, result_t *res)
{
    tsr_req_t  *req;

    memset(res, 0, sizeof(result_t));

    in_get = 1;
    req = tsr_store_get_async(f->st, key, strlen(key), 0, TIMEOUT_MS,
                              on_done, res);
    in_get = 0;

    if (req == NULL) {
        return -100;
    }

    (void) tsr_test_loop_run(&f->tl, 2 * TIMEOUT_MS, &res->calls);

    return res->calls ? res->rc : -100;
}


static int
put(fixture_t *f, const char *key)
{
    char  val[VAL_SIZE];

    value_of(key, val, sizeof(val));

    return tsr_store_set(f->st, key, strlen(key), (const uint8_t *) val,
                         strlen(val), 600000);
}


/* an asynchronous lookup that finds the key's own value */

static int
found(fixture_t *f, const char *key)
{
    char      val[VAL_SIZE];
    result_t  res;

    value_of(key, val, sizeof(val));

    return lookup(f, key, &res) == TSR_OK && res.len == strlen(val)
           && memcmp(res.val, val, res.len) == 0;
}


static void
make_key(char *key, size_t len, const char *tag, int i)
{
    snprintf(key, len, "ts:s:%s:%08x", tag, (unsigned) i);
}


static void
value_of(const char *key, char *val, size_t len)
{
    snprintf(val, len, "value of %s", key);
}


/* as sync_check(), without a word */

static int
quiet_check(tsr_store_t *st, const char *key)
{
    char     val[VAL_SIZE];
    uint8_t  buf[VAL_SIZE];
    size_t   len;

    len = sizeof(buf);
    value_of(key, val, sizeof(val));

    return (tsr_store_get(st, key, strlen(key), buf, &len) == TSR_OK
            && len == strlen(val) && memcmp(buf, val, len) == 0)
           ? 0 : -1;
}


static int
sync_check(tsr_store_t *st, const char *key)
{
    int      rc;
    char     val[VAL_SIZE];
    uint8_t  buf[VAL_SIZE];
    size_t   len;

    len = sizeof(buf);
    rc = tsr_store_get(st, key, strlen(key), buf, &len);

    value_of(key, val, sizeof(val));

    if (rc != TSR_OK || len != strlen(val) || memcmp(buf, val, len) != 0) {
        fprintf(stderr, "GET %s: %d (%s)\n", key, rc, tsr_store_error(st));
        return -1;
    }

    return 0;
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

    if (val != NULL && len <= sizeof(res->val)) {
        memcpy(res->val, val, len);
    }
}


static void
count_log(int level, const char *msg, void *data)
{
    log_counts_t  *counts = data;

    if (level == TSR_LOG_ERR) {
        counts->err++;
    }

    if (strstr(msg, "the master moves from") != NULL) {
        counts->moves++;
    }

    if (strstr(msg, "is not a master") != NULL) {
        counts->not_master++;
    }

    if (strstr(msg, "has not answered") != NULL) {
        counts->stalled++;
        snprintf(counts->stalled_msg, sizeof(counts->stalled_msg), "%s",
                 msg);
    }

    snprintf(counts->last, sizeof(counts->last), "%s", msg);

    if (getenv("TSR_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "%lld [%d] %s\n", tsr_test_now_ms(), level, msg);
    }
}


/*
 * A fake sentinel in a child process that names "master_port" as the
 * master of any name and confirms subscriptions; everything else is
 * +OK.  It lives until killed.
 */

static pid_t
fake_sentinel(int *port, int master_port)
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
        fake_serve(lfd, master_port);
        _exit(0);
    }

    close(lfd);

    return pid;
}


static void
fake_serve(int lfd, int master_port)
{
    int            i, n, fd;
    char           buf[4096], reply[256];
    ssize_t        r;
    struct pollfd  pfd[FAKE_CONNS + 1];

    pfd[0].fd = lfd;
    pfd[0].events = POLLIN;
    n = 1;

    for ( ;; ) {
        if (poll(pfd, n, 10000) <= 0) {
            return;
        }

        if (pfd[0].revents & POLLIN) {
            fd = accept(lfd, NULL, NULL);

            if (fd != -1 && n <= FAKE_CONNS) {
                pfd[n].fd = fd;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                n++;

            } else if (fd != -1) {
                close(fd);
            }
        }

        for (i = 1; i < n; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }

            r = read(pfd[i].fd, buf, sizeof(buf) - 1);

            if (r <= 0) {
                close(pfd[i].fd);
                pfd[i] = pfd[--n];
                i--;
                continue;
            }

            buf[r] = '\0';

            /* one command per read is enough for these clients */

            if (strstr(buf, "get-master-addr-by-name") != NULL) {
                snprintf(reply, sizeof(reply),
                         "*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n",
                         master_port >= 10000 ? 5 : 4, master_port);

                if (strstr(buf, "SUBSCRIBE") != NULL) {
                    strcat(reply, "*3\r\n$9\r\nsubscribe\r\n"
                                  "$14\r\n+switch-master\r\n:1\r\n");
                }

            } else if (strstr(buf, "SUBSCRIBE") != NULL) {
                snprintf(reply, sizeof(reply),
                         "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master"
                         "\r\n:1\r\n");

            } else if (strstr(buf, "PING") != NULL) {
                snprintf(reply, sizeof(reply), "+PONG\r\n");

            } else {
                snprintf(reply, sizeof(reply), "+OK\r\n");
            }

            if (write(pfd[i].fd, reply, strlen(reply)) < 0
                || (fake_push != NULL && strstr(buf, "SUBSCRIBE") != NULL
                    && write(pfd[i].fd, fake_push, fake_push_len) < 0))
            {
                close(pfd[i].fd);
                pfd[i] = pfd[--n];
                i--;
            }
        }
    }
}


static void
test_sync_client_finds_the_master_past_a_dead_sentinel(void)
{
    int                i;
    char               list[512], key[64], val[VAL_SIZE];
    fixture_t          f;
    tsr_store_stats_t  stats;

    snprintf(list, sizeof(list), "127.0.0.1:%d,%s", tsr_test_free_port(),
             sentinel.sentinels);

    CU_ASSERT_EQUAL_FATAL(start(&f, list, sentinel.name, 0), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(f.st), TSR_OK);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "sync", i);
        value_of(key, val, sizeof(val));

        CU_ASSERT_EQUAL(tsr_store_set(f.st, key, strlen(key),
                                      (const uint8_t *) val, strlen(val),
                                      600000),
                        TSR_OK);
    }

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "sync", i);
        CU_ASSERT_EQUAL(sync_check(f.st, key), 0);
    }

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.sets, KEYS);
    CU_ASSERT_EQUAL(stats.hits, KEYS);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);

    finish(&f);
}


static void
test_async_store_watches_a_sentinel_and_the_master(void)
{
    int                i;
    char               list[512], key[64];
    fixture_t          f;
    tsr_store_stats_t  stats;

    snprintf(list, sizeof(list), "127.0.0.1:%d,%s", tsr_test_free_port(),
             sentinel.sentinels);

    CU_ASSERT_EQUAL_FATAL(start(&f, list, sentinel.name, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "async", i);
        CU_ASSERT_EQUAL(put(&f, key), TSR_OK);
    }

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "async", i);
        CU_ASSERT(found(&f, key));
    }

    /* the keepalive keeps the watch: one sentinel, one master */
    (void) tsr_test_loop_run(&f.tl, 2500, NULL);

    CU_ASSERT_EQUAL(f.tl.nfds, 2);
    CU_ASSERT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_UP);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.hits, KEYS);
    CU_ASSERT_EQUAL(stats.refused, 0);

    /* the dead sentinel and nothing else */
    CU_ASSERT_EQUAL(stats.connects, 2);

    finish(&f);
}


static void
test_unknown_master_name_is_refused_with_a_reason(void)
{
    int                rc;
    char               key[] = "ts:nothing";
    size_t             len;
    uint8_t            buf[16];
    result_t           res;
    fixture_t          f;

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, "nosuchmaster", 1),
                          0);

    (void) tsr_test_loop_run(&f.tl, 500, NULL);

    CU_ASSERT_EQUAL(lookup(&f, key, &res), -100);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st),
                                  "does not know master \"nosuchmaster\""));
    CU_ASSERT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_DOWN);
    CU_ASSERT(f.log.err >= 1);

    finish(&f);

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, "nosuchmaster", 0),
                          0);

    len = sizeof(buf);
    rc = tsr_store_get(f.st, key, strlen(key), buf, &len);
    CU_ASSERT_EQUAL(rc, TSR_ECONN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st),
                                  "does not know master"));

    finish(&f);
}


/*
 * A sentinel that names the replica: ROLE says "slave", so nothing goes
 * there, on either side.
 */

static void
test_sentinel_naming_a_replica_is_not_believed(void)
{
    int        port, m, rc;
    char       list[64], key[] = "ts:replica";
    size_t     len;
    uint8_t    buf[16];
    pid_t      pid;
    result_t   res;
    fixture_t  f;

    m = tsr_test_sentinel_master(&sentinel);
    CU_ASSERT_FATAL(m != -1);

    port = 0;
    pid = fake_sentinel(&port, sentinel.data[1 - m].port);
    CU_ASSERT_FATAL(pid > 0);

    snprintf(list, sizeof(list), "127.0.0.1:%d", port);

    CU_ASSERT_EQUAL_FATAL(start(&f, list, sentinel.name, 1), 0);

    (void) tsr_test_loop_run(&f.tl, 500, NULL);

    CU_ASSERT_NOT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_UP);
    CU_ASSERT(f.log.not_master >= 1);
    CU_ASSERT_EQUAL(lookup(&f, key, &res), -100);

    finish(&f);

    CU_ASSERT_EQUAL_FATAL(start(&f, list, sentinel.name, 0), 0);

    len = sizeof(buf);
    rc = tsr_store_get(f.st, key, strlen(key), buf, &len);
    CU_ASSERT(rc < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "not a master"));

    finish(&f);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}


/*
 * A sentinel that stops answering (SIGSTOP: its socket stays open) is
 * found out by the renewed subscription and left for the next one; the
 * master connection is not disturbed meanwhile.
 */

static void
test_stopped_sentinel_is_left_for_the_next(void)
{
    int        i, left;
    char       key[64], first[32];
    result_t   res;
    fixture_t  f;
    long long  start_ms;

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    make_key(key, sizeof(key), "stopped", 0);
    CU_ASSERT_EQUAL(put(&f, key), TSR_OK);

    /* the watch starts on the first sentinel listed */
    snprintf(first, sizeof(first), "127.0.0.1:%d", sentinel.sentinel[0].port);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_signal(&sentinel.sentinel[0],
                                                SIGSTOP),
                          0);

    start_ms = tsr_test_now_ms();
    left = 0;

    while (tsr_test_now_ms() - start_ms < 4 * STALL_MS) {
        (void) tsr_test_loop_run(&f.tl, 20, NULL);

        if (f.log.stalled > 0 && f.tl.nfds == 2) {
            left = 1;
            break;
        }
    }

    (void) tsr_test_redis_signal(&sentinel.sentinel[0], SIGCONT);

    printf("\n    a stopped sentinel was left after %lld ms ",
           tsr_test_now_ms() - start_ms);

    CU_ASSERT(left);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.log.stalled_msg, first));

    /* lookups went on all along */
    for (i = 0; i < 10; i++) {
        CU_ASSERT(found(&f, key));
    }

    CU_ASSERT_EQUAL(lookup(&f, key, &res), TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_UP);

    finish(&f);
}


/*
 * The master killed: lookups are refused at once until the sentinels
 * promote the replica and say so (+switch-master); then the values
 * written before the kill are found on the new master.
 */

static void
test_killed_master_is_followed_to_the_new_one(void)
{
    int         i, m, all, failed;
    char        key[64];
    fixture_t   f, s;
    long long   start_ms, back, switched, sync_back;

    m = tsr_test_sentinel_master(&sentinel);
    CU_ASSERT_FATAL(m != -1);

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 1), 0);
    CU_ASSERT_EQUAL_FATAL(start(&s, sentinel.sentinels, sentinel.name, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "killed", i);
        (void) put(&f, key);
    }

    (void) tsr_test_loop_run(&f.tl, 100, NULL);
    CU_ASSERT_EQUAL(sync_check(s.st, "ts:s:killed:00000000"), 0);

    CU_ASSERT_EQUAL(tsr_test_redis_replicated(&sentinel.data[m],
                                              &sentinel.data[1 - m], 10000),
                    0);

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&sentinel.data[m], SIGKILL), 0);
    (void) tsr_test_wait_child(sentinel.data[m].pid, 5000);
    sentinel.data[m].pid = 0;

    start_ms = tsr_test_now_ms();
    back = -1;
    switched = -1;
    failed = 0;

    while (tsr_test_now_ms() - start_ms < FAILOVER_MS) {
        if (switched == -1 && tsr_test_sentinel_master(&sentinel) == 1 - m) {
            switched = tsr_test_now_ms() - start_ms;
        }

        all = 1;

        for (i = 0; i < KEYS; i += 10) {
            make_key(key, sizeof(key), "killed", i);

            if (!found(&f, key)) {
                all = 0;
                failed++;
            }
        }

        if (all) {
            back = tsr_test_now_ms() - start_ms;
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 20, NULL);
    }

    if (switched == -1 && tsr_test_sentinel_master(&sentinel) == 1 - m) {
        switched = tsr_test_now_ms() - start_ms;
    }

    /*
     * The synchronous client asks the sentinels again, within its call;
     * the sentinels switch a few ms apart, so the one it asks may still
     * name the old master for a moment.
     */

    sync_back = -1;

    while (tsr_test_now_ms() - start_ms < FAILOVER_MS) {
        if (quiet_check(s.st, "ts:s:killed:00000000") == 0) {
            sync_back = tsr_test_now_ms() - start_ms;
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 10, NULL);
    }

    printf("\n    master killed: the sentinels named the replica after "
           "%lld ms, every asynchronous lookup found again after %lld ms "
           "(%d failed meanwhile), synchronous ones after %lld ms ",
           switched, back, failed, sync_back);

    CU_ASSERT(back != -1);
    CU_ASSERT(sync_back != -1);
    CU_ASSERT(f.log.moves >= 1);

    for (i = 0; i < KEYS; i += 10) {
        make_key(key, sizeof(key), "killed", i);
        CU_ASSERT_EQUAL(sync_check(s.st, key), 0);
    }

    finish(&f);
    finish(&s);
}


/*
 * A broken or hostile sentinel pushes malformed pub/sub messages after
 * confirming the subscription.  hiredis' subscribe dispatch assert()s on
 * several of them (the "*1 message" killed workers).  Each case
 * runs the asynchronous store in a child process for a while: the child
 * must exit normally, the master must still serve, and the sentinel
 * must have been dropped for its message.
 */

static void
test_hostile_sentinel_messages_never_crash(void)
{
    int           m, port, status, crashed, ok, dropped;
    char          list[64], key[64];
    size_t        i, big, hl;
    pid_t         fake, child;
    char         *oversized;
    result_t      res;
    fixture_t     f;

    static const struct {
        const char  *name;
        const char  *push;
    } cases[] = {
        { "short message", "*1\r\n$7\r\nmessage\r\n" },
        { "kind and channel only",
          "*2\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n" },
        { "unsubscribe without a count",
          "*2\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n" },
        { "unsubscribe with a string count",
          "*3\r\n$11\r\nunsubscribe\r\n$14\r\n+switch-master\r\n"
          "$1\r\n0\r\n" },
        { "integers only", "*3\r\n:1\r\n:2\r\n:3\r\n" },
        { "kind as an array",
          "*3\r\n*1\r\n:1\r\n$1\r\nx\r\n$1\r\ny\r\n" },
        { "channel as an array",
          "*3\r\n$7\r\nmessage\r\n*1\r\n:1\r\n$1\r\nx\r\n" },
        { "channel as nil", "*3\r\n$7\r\nmessage\r\n$-1\r\n$1\r\nx\r\n" },
        { "payload as an array",
          "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
          "*2\r\n:1\r\n:2\r\n" },
        { "not an array", ":5\r\n" },
        { "nil", "$-1\r\n" },
        { "empty array", "*0\r\n" },
        { "a million elements", "*1048576\r\n" },
        { "oversized payload", NULL }
    };

    m = tsr_test_sentinel_master(&sentinel);
    CU_ASSERT_FATAL(m != -1);

    /* a 2 MB "+switch-master" payload */

    big = 2 * 1024 * 1024;
    oversized = malloc(big + 128);
    CU_ASSERT_FATAL(oversized != NULL);

    hl = (size_t) snprintf(oversized, 128, "*3\r\n$7\r\nmessage\r\n$14\r\n"
                           "+switch-master\r\n$%zu\r\n", big);
    memset(oversized + hl, 'a', big);
    memcpy(oversized + hl + big, "\r\n", 2);

    crashed = 0;
    ok = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].push != NULL) {
            fake_push = cases[i].push;
            fake_push_len = strlen(cases[i].push);

        } else {
            fake_push = oversized;
            fake_push_len = hl + big + 2;
        }

        port = 0;
        fake = fake_sentinel(&port, sentinel.data[m].port);
        CU_ASSERT_FATAL(fake > 0);

        snprintf(list, sizeof(list), "127.0.0.1:%d", port);

        child = fork();
        CU_ASSERT_FATAL(child != -1);

        if (child == 0) {

            /* 0: served and dropped the sentinel, 3: not served, ... */

            if (start(&f, list, sentinel.name, 1) != 0) {
                _exit(2);
            }

            if (wait_up(&f, 3000) != 0) {
                _exit(3);
            }

            (void) tsr_test_loop_run(&f.tl, 300, NULL);

            make_key(key, sizeof(key), "hostile", (int) i);

            if (put(&f, key) != TSR_OK || lookup(&f, key, &res) != TSR_OK) {
                _exit(4);
            }

            dropped = (strstr(f.log.last, "sentinel") != NULL
                       || f.log.err > 0);

            tsr_store_destroy(f.st);

            _exit(dropped ? 0 : 5);
        }

        status = 0;
        (void) waitpid(child, &status, 0);

        kill(fake, SIGKILL);
        waitpid(fake, NULL, 0);

        if (WIFSIGNALED(status)) {
            crashed++;
            printf("\n    %s: the process died of signal %d", cases[i].name,
                   WTERMSIG(status));

        } else if (WEXITSTATUS(status) != 0) {
            printf("\n    %s: exit status %d", cases[i].name,
                   WEXITSTATUS(status));

        } else {
            ok++;
        }
    }

    fake_push = NULL;
    fake_push_len = 0;
    free(oversized);

    printf("\n    %zu hostile pub/sub messages: %d processes crashed, %d "
           "served through the master and dropped the sentinel ",
           sizeof(cases) / sizeof(cases[0]), crashed, ok);

    CU_ASSERT_EQUAL(crashed, 0);
    CU_ASSERT_EQUAL((size_t) ok, sizeof(cases) / sizeof(cases[0]));
}


/*
 * The master a sentinel names gets the master's password: with "allow="
 * only inside its networks.  A sentinel naming 127.0.0.1 is not followed
 * under allow=10.0.0.0/8, on either side, and is under 127.0.0.0/8.
 */

static void
test_allow_keeps_the_password_from_other_networks(void)
{
    int        m, rc;
    char       key[] = "ts:allow";
    size_t     len;
    uint8_t    buf[16];
    result_t   res;
    fixture_t  f;

    m = tsr_test_sentinel_master(&sentinel);
    CU_ASSERT_FATAL(m != -1);

    allow = "10.0.0.0/8";

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 1),
                          0);

    (void) tsr_test_loop_run(&f.tl, 500, NULL);

    CU_ASSERT_NOT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_UP);
    CU_ASSERT_EQUAL(lookup(&f, key, &res), -100);

    /* the sentinel's socket at most, never the master's */
    CU_ASSERT(f.tl.max_fds <= 1);

    printf("\n    allow=%s, asynchronous: %s", allow, f.log.last);

    finish(&f);

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 0),
                          0);

    len = sizeof(buf);
    rc = tsr_store_get(f.st, key, strlen(key), buf, &len);
    CU_ASSERT(rc < 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "outside"));

    printf("\n    allow=%s, synchronous: %s", allow, tsr_store_error(f.st));

    finish(&f);

    allow = "10.0.0.0/8,127.0.0.1/32";

    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 1),
                          0);
    CU_ASSERT_EQUAL(wait_up(&f, 5000), 0);
    CU_ASSERT_EQUAL(put(&f, key), TSR_OK);
    CU_ASSERT(found(&f, key));

    printf("\n    allow=%s: the master is used ", allow);

    finish(&f);

    allow = NULL;
}


/*
 * Scripts and fleet ticket keys with a sentinel= address: a script runs
 * on the master the sentinels name, synchronously and on the loop; the
 * ring is created, loaded and rotated there; after a failover the next
 * rotation reaches the new master, and the reader finds it there.
 */

static void
test_scripts_and_ticket_ring_follow_a_failover(void)
{
    int                  m, n, rc;
    char                 name[TSR_MAX_KEY_NAME + 1], out[OUT_SIZE];
    size_t               len;
    uint8_t              buf[VAL_SIZE];
    fixture_t            f, s;
    result_t             res;
    tsr_req_t           *req;
    ring_res_t           rres;
    log_counts_t         log, rlog;
    tsr_tickets_t       *t, *reader;
    tsr_tickets_info_t   info;
    const char          *argv[1];

    static const char  script[] =
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', 600000) "
        "return redis.call('GET', KEYS[1])";

    m = tsr_test_sentinel_master(&sentinel);
    CU_ASSERT_FATAL(m != -1);

    CU_ASSERT_EQUAL_FATAL(start(&s, sentinel.sentinels, sentinel.name, 0), 0);
    CU_ASSERT_EQUAL_FATAL(start(&f, sentinel.sentinels, sentinel.name, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    /* scripts: on the master, with the answer as GET's */

    argv[0] = "sync value";
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_eval(s.st, script, sizeof(script) - 1,
                                   "ts:eval:s", 9, 1, argv, NULL, buf, &len),
                    TSR_OK);
    CU_ASSERT(len == 10 && memcmp(buf, "sync value", 10) == 0);

    argv[0] = "async value";
    memset(&res, 0, sizeof(result_t));

    in_get = 1;
    req = tsr_store_eval_async(f.st, script, sizeof(script) - 1,
                               "ts:eval:a", 9, 1, argv, NULL, TIMEOUT_MS,
                               on_done, &res);
    in_get = 0;

    CU_ASSERT_PTR_NOT_NULL(req);

    if (req != NULL) {
        (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &res.calls);
    }

    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);
    CU_ASSERT(res.len == 11 && memcmp(res.val, "async value", 11) == 0);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&sentinel.data[m], out, sizeof(out),
                                       "GET ts:eval:a"), 0);
    CU_ASSERT_STRING_EQUAL(out, "async value");

    /* the ring: created, loaded, rotated on the master */

    memset(&log, 0, sizeof(log));
    memset(&rlog, 0, sizeof(rlog));

    t = make_ring(0, &log);
    reader = make_ring(1, &rlog);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reader);

    CU_ASSERT(tsr_tickets_ring_key(t, name, sizeof(name)) > 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&sentinel.data[m], out, sizeof(out),
                                       "DEL %s", name), 0);

    rc = tsr_tickets_sync(t);
    CU_ASSERT_EQUAL(rc, TSR_OK);
    if (rc != TSR_OK) {
        fprintf(stderr, "tsr_tickets_sync(): %s\n", tsr_tickets_error(t));
    }

    CU_ASSERT_EQUAL(ring_gen_on(m, name), 1);

    CU_ASSERT_EQUAL(tsr_tickets_rotate_now(t), TSR_OK);
    CU_ASSERT_EQUAL(ring_gen_on(m, name), 2);

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_info(reader, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 2);

    /* on the loop, through the asynchronous store: not due yet */

    memset(&rres, 0, sizeof(rres));

    req = tsr_tickets_rotate_async(t, f.st, TIMEOUT_MS, on_ring, &rres);
    CU_ASSERT_PTR_NOT_NULL(req);

    if (req != NULL) {
        (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &rres.calls);
    }

    CU_ASSERT_EQUAL(rres.calls, 1);
    CU_ASSERT_EQUAL(rres.rc, TSR_OK);

    if (rres.rc == TSR_OK) {
        CU_ASSERT_EQUAL(tsr_tickets_load_value(t, ring_val, rres.len),
                        TSR_OK);
    }

    /* a failover: the replica becomes the master, the master a replica */

    CU_ASSERT_EQUAL(tsr_test_redis_replicated(&sentinel.data[m],
                                              &sentinel.data[1 - m], 10000),
                    0);
    n = calm_sentinel(FAILOVER_MS);
    CU_ASSERT_FATAL(n != -1);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&sentinel.sentinel[n], out,
                                       sizeof(out), "SENTINEL FAILOVER %s",
                                       sentinel.name), 0);
    CU_ASSERT_STRING_EQUAL(out, "OK");
    CU_ASSERT_EQUAL_FATAL(tsr_test_sentinel_wait_switch(&sentinel, m,
                                                        FAILOVER_MS), 0);
    CU_ASSERT_EQUAL_FATAL(demoted(m, FAILOVER_MS), 0);

    CU_ASSERT_EQUAL(ring_gen_on(1 - m, name), 2);

    rc = tsr_tickets_rotate_now(t);
    CU_ASSERT_EQUAL(rc, TSR_OK);
    if (rc != TSR_OK) {
        fprintf(stderr, "tsr_tickets_rotate_now(): %s\n",
                tsr_tickets_error(t));
    }

    CU_ASSERT_EQUAL(tsr_tickets_info(t, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 3);
    CU_ASSERT_EQUAL(ring_gen_on(1 - m, name), 3);

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_info(reader, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 3);

    tsr_tickets_destroy(reader);
    tsr_tickets_destroy(t);

    finish(&f);
    finish(&s);
}


static tsr_tickets_t *
make_ring(int no_rotate, log_counts_t *log)
{
    char                 err[ERR_SIZE];
    tsr_tickets_t       *t;
    tsr_store_conf_t     conf;
    tsr_tickets_conf_t   tconf;

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.sentinels = sentinel.sentinels;
    conf.master_name = sentinel.name;
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.backoff_max_ms = 500;
    conf.log = count_log;
    conf.log_data = log;

    memset(&tconf, 0, sizeof(tsr_tickets_conf_t));
    tconf.store_conf = &conf;
    tconf.keys = ring_keys;
    tconf.scope = "sentinel-test";
    tconf.period_ms = 3600000;
    tconf.no_rotate = no_rotate;
    tconf.log = count_log;
    tconf.log_data = log;

    t = tsr_tickets_create(&tconf, err, sizeof(err));
    if (t == NULL) {
        fprintf(stderr, "tsr_tickets_create(): %s\n", err);
    }

    return t;
}


/* the generation in the ring's header on data[i], or -1 */

static int
ring_gen_on(int i, const char *name)
{
    char  out[OUT_SIZE];

    /* the header's gen is 8 big-endian bytes: small ones end in byte 8 */

    if (tsr_test_redis_cmd(&sentinel.data[i], out, sizeof(out),
                           "EVAL %s 1 %s",
                           "local v = redis.call('GET', KEYS[1]) "
                           "if not v then return -1 end "
                           "return string.byte(v, 8)", name)
        != 0)
    {
        return -1;
    }

    return atoi(out);
}


/*
 * A sentinel not in TILT mode, which a stopped sentinel (an earlier
 * test) enters for 30 s and where it starts no failover: its index, or
 * -1 when none is within "ms".
 */

static int
calm_sentinel(int ms)
{
    int        i;
    char       out[OUT_SIZE];
    long long  end;

    end = tsr_test_now_ms() + ms;

    while (tsr_test_now_ms() < end) {
        for (i = 0; i < TSR_TEST_SENTINELS; i++) {
            if (tsr_test_redis_cmd(&sentinel.sentinel[i], out, sizeof(out),
                                   "INFO sentinel")
                == 0
                && strstr(out, "sentinel_tilt:0") != NULL)
            {
                return i;
            }
        }

        usleep(100000);
    }

    return -1;
}


/* until data[i] says it is a connected replica; 0 or -1 */

static int
demoted(int i, int ms)
{
    char       out[OUT_SIZE];
    long long  end;

    end = tsr_test_now_ms() + ms;

    while (tsr_test_now_ms() < end) {
        if (tsr_test_redis_cmd(&sentinel.data[i], out, sizeof(out), "ROLE")
            == 0
            && strncmp(out, "slave", 5) == 0
            && strstr(out, "connected") != NULL)
        {
            return 0;
        }

        usleep(20000);
    }

    return -1;
}


static void
on_ring(int rc, const uint8_t *val, size_t len, void *arg)
{
    ring_res_t  *res = arg;

    res->calls++;
    res->rc = rc;
    res->len = 0;

    if (val != NULL && len <= sizeof(ring_val)) {
        memcpy(ring_val, val, len);
        res->len = len;
    }
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(sync_client_finds_the_master_past_a_dead_sentinel),
        TSR_TEST(async_store_watches_a_sentinel_and_the_master),
        TSR_TEST(unknown_master_name_is_refused_with_a_reason),
        TSR_TEST(sentinel_naming_a_replica_is_not_believed),
        TSR_TEST(stopped_sentinel_is_left_for_the_next),
        TSR_TEST(hostile_sentinel_messages_never_crash),
        TSR_TEST(allow_keeps_the_password_from_other_networks),
        TSR_TEST(scripts_and_ticket_ring_follow_a_failover),
        TSR_TEST(killed_master_is_followed_to_the_new_one)
    };

    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("sentinel", init_suite, clean_suite, tests);
}
