
/*
 * Server capabilities checked at connect: the version line of INFO read
 * as hostile input; against the fake Redis speaking as 5.0.7, 6.0.16 and
 * 6.2.14 or refusing INFO, on the synchronous and asynchronous sides:
 * ACL users before 6.0 refused with one clear error, single use before
 * 6.2 done by the script from the first lookup, a hidden version
 * assumed good and said once; against a real redis-server, the ACL rules
 * the README gives for the module.
 */


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "tsr.h"
#include "tsr_caps.h"
#include "tsr_test.h"


#define TIMEOUT_MS   1000
#define ERR_SIZE     512
#define LOG_SIZE     8192

/* the README's rule for the module, as a redis.conf line */
#define MODULE_RULE                                                          \
    "user tsr-module on >module-pw resetkeys ~tsr:* resetchannels -@all "   \
    "+get +set +del +getdel +eval +evalsha +script|load +time +info "      \
    "+ping +select +role +cluster|slots +asking"


typedef struct {
    int          info;
    int          err;
    size_t       len;
    char         text[LOG_SIZE];     /* every message, one a line */
} log_t;


typedef struct {
    int          done;
    int          rc;
    size_t       len;
    char         val[64];
} result_t;


static void keep_log(int level, const char *msg, void *data);
static int count(const log_t *log, const char *needle);
static void on_done(int rc, const uint8_t *val, size_t len, void *arg);
static tsr_store_t *make_store(int port, const char *user,
    const char *password, log_t *log);
static tsr_store_t *make_async(int port, const char *user,
    const char *password, log_t *log, tsr_test_loop_t *tl);
static int run_until_connected(tsr_test_loop_t *tl, tsr_store_t *st, int ms);
static int async_lookup(tsr_test_loop_t *tl, tsr_store_t *st,
    const char *key, int getdel, result_t *res);
static void sync_single_use(int port, log_t *log);
static tsr_store_t *async_single_use(int port, log_t *log,
    tsr_test_loop_t *tl);
static void info_reply(tsr_caps_t *caps, int type, const char *str,
    size_t len);
static void test_info_version_is_read_as_hostile_input(void);
static void test_auth_without_user_support_is_recognized(void);
static void test_user_on_redis_5_is_refused_naming_the_version(void);
static void test_user_on_redis_5_is_refused_asynchronously(void);
static void test_single_use_on_redis_6_0_takes_sessions_by_script(void);
static void test_single_use_on_redis_6_0_asynchronously(void);
static void test_redis_6_2_uses_getdel_and_acl_users(void);
static void test_info_refused_assumes_everything_and_says_so_once(void);
static void test_readme_module_acl_rule_suffices_on_real_redis(void);


static tsr_test_redis_t  acl = { .extra = MODULE_RULE };


static int
init_suite(void)
{
    return tsr_test_redis_start(&acl);
}


static int
clean_suite(void)
{
    return tsr_test_redis_stop(&acl);
}


static void
keep_log(int level, const char *msg, void *data)
{
    int     n;
    log_t  *log;

    log = data;

    if (level == TSR_LOG_INFO) {
        log->info++;

    } else if (level == TSR_LOG_ERR) {
        log->err++;
    }

    n = snprintf(log->text + log->len, sizeof(log->text) - log->len, "%s\n",
                 msg);

    if (n > 0 && log->len + (size_t) n < sizeof(log->text)) {
        log->len += (size_t) n;
    }
}


/* lines of the log holding "needle" */

static int
count(const log_t *log, const char *needle)
{
    int          n;
    const char  *p;

    n = 0;

    for (p = log->text; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }

    return n;
}


static void
on_done(int rc, const uint8_t *val, size_t len, void *arg)
{
    result_t  *res;

    res = arg;
    res->done = 1;
    res->rc = rc;
    res->len = 0;

    if (rc == TSR_OK && len < sizeof(res->val)) {
        memcpy(res->val, val, len);
        res->len = len;
    }
}


static tsr_store_t *
make_store(int port, const char *user, const char *password, log_t *log)
{
    char              err[ERR_SIZE];
    tsr_store_t      *st;
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.host = "127.0.0.1";
    conf.port = port;
    conf.user = user;
    conf.password = password;
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.backoff_min_ms = 10;
    conf.backoff_max_ms = 20;
    conf.log = keep_log;
    conf.log_data = log;

    st = tsr_store_create(&conf, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
    }

    return st;
}


static tsr_store_t *
make_async(int port, const char *user, const char *password, log_t *log,
    tsr_test_loop_t *tl)
{
    tsr_loop_t    loop;
    tsr_store_t  *st;

    tsr_test_loop_init(tl, &loop);

    st = make_store(port, user, password, log);
    if (st == NULL) {
        return NULL;
    }

    if (tsr_store_set_async(st, &loop, NULL) != TSR_OK) {
        fprintf(stderr, "tsr_store_set_async() failed: %s\n",
                tsr_store_error(st));
        tsr_store_destroy(st);
        return NULL;
    }

    tl->store = st;

    return st;
}


/* 0 once the store has connected, -1 after "ms" without */

static int
run_until_connected(tsr_test_loop_t *tl, tsr_store_t *st, int ms)
{
    int                i;
    tsr_store_stats_t  stats;

    for (i = 0; i < ms; i += 10) {
        tsr_store_stats(st, &stats);

        if (stats.connects > 0) {
            return 0;
        }

        (void) tsr_test_loop_run(tl, 10, NULL);
    }

    return -1;
}


/* a lookup to its end: 0 with "res" filled, -1 when refused at once */

static int
async_lookup(tsr_test_loop_t *tl, tsr_store_t *st, const char *key,
    int getdel, result_t *res)
{
    memset(res, 0, sizeof(result_t));

    if (tsr_store_get_async(st, key, strlen(key), getdel, TIMEOUT_MS,
                            on_done, res)
        == NULL)
    {
        return -1;
    }

    (void) tsr_test_loop_run(tl, 2 * TIMEOUT_MS, &res->done);

    return res->done ? 0 : -1;
}


/* as user alice: a SET, then its GETDEL finds the value */

static void
sync_single_use(int port, log_t *log)
{
    size_t        len;
    uint8_t       buf[16];
    tsr_store_t  *st;

    st = make_store(port, "alice", "secret", log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:once", 8, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "tsr:once", 8, buf, &len), TSR_OK);

    tsr_store_destroy(st);
}


/* the same on an asynchronous store, left connected for the caller */

static tsr_store_t *
async_single_use(int port, log_t *log, tsr_test_loop_t *tl)
{
    result_t      res;
    tsr_store_t  *st;

    st = make_async(port, "alice", "secret", log, tl);
    if (st == NULL || run_until_connected(tl, st, 2000) != 0) {
        tsr_store_destroy(st);
        return NULL;
    }

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:once", 8, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_OK);
    CU_ASSERT_EQUAL(async_lookup(tl, st, "tsr:once", 1, &res), 0);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);

    return st;
}


static void
info_reply(tsr_caps_t *caps, int type, const char *str, size_t len)
{
    redisReply  r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.str = (char *) str;
    r.len = len;

    memset(caps, 0, sizeof(tsr_caps_t));
    tsr_caps_info(caps, &r);
}


static void
test_info_version_is_read_as_hostile_input(void)
{
    size_t       i;
    tsr_caps_t   caps;
    char         err[ERR_SIZE];

    static const char  good[] = "# Server\r\nredis_git_sha1:00000000\r\n"
                                "redis_version:6.0.16\r\nredis_mode:x\r\n";
    static const char  nul[] = "# Server\0\r\nredis_version:5.0.7\r\n";

    static const struct {
        const char  *info;
        unsigned     version;
    } cases[] = {
        { "redis_version:7.0.15", tsr_caps_version(7, 0, 15) },
        { "redis_version:255.999.999\r\n", tsr_caps_version(255, 999, 999) },
        { "redis_version:6.2.0\n", TSR_CAPS_GETDEL },
        { "redis_version:6.0.16-rc1\r\n", 0 },
        { "redis_version:1000.0.0\r\n", 0 },
        { "redis_version:6.0\r\n", 0 },
        { "redis_version:6..0\r\n", 0 },
        { "redis_version:6.0.16.1\r\n", 0 },
        { "redis_version: 6.0.16\r\n", 0 },
        { "redis_version:\r\n", 0 },
        { "redis_version:", 0 },
        { "xredis_version:7.0.0\r\n", 0 },
        { "# Server\r\nredis_mode:standalone\r\n", 0 },
        { "", 0 }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        info_reply(&caps, REDIS_REPLY_STRING, cases[i].info,
                   strlen(cases[i].info));

        CU_ASSERT_EQUAL(caps.version, cases[i].version);
        CU_ASSERT_EQUAL(caps.state, cases[i].version ? TSR_CAPS_KNOWN
                                                     : TSR_CAPS_REFUSED);
    }

    info_reply(&caps, REDIS_REPLY_STRING, good, sizeof(good) - 1);
    CU_ASSERT_EQUAL(caps.state, TSR_CAPS_KNOWN);
    CU_ASSERT_STRING_EQUAL(caps.text, "6.0.16");

    /* a NUL byte does not end the reply: its length does */
    info_reply(&caps, REDIS_REPLY_STRING, nul, sizeof(nul) - 1);
    CU_ASSERT_EQUAL(caps.version, tsr_caps_version(5, 0, 7));

    /* refusals: a printable start of the error, other types */
    info_reply(&caps, REDIS_REPLY_ERROR, "ERR unknown command `INFO`\x01\n",
               28);
    CU_ASSERT_EQUAL(caps.state, TSR_CAPS_REFUSED);
    CU_ASSERT_STRING_EQUAL(caps.text,
                           "INFO refused: ERR unknown command `INFO`??");

    info_reply(&caps, REDIS_REPLY_INTEGER, NULL, 0);
    CU_ASSERT_EQUAL(caps.state, TSR_CAPS_REFUSED);
    CU_ASSERT_EQUAL(caps.version, 0);

    memset(&caps, 0, sizeof(caps));
    tsr_caps_info(&caps, NULL);
    CU_ASSERT_EQUAL(caps.state, TSR_CAPS_REFUSED);

    /* unknown versions are assumed good; only AUTH can tell otherwise */
    CU_ASSERT_EQUAL(tsr_caps_check(&caps, "a", 1, 0, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_caps_check(&caps, "127.0.0.1:1", 1, 1, err,
                                   sizeof(err)),
                    -1);
    CU_ASSERT_STRING_EQUAL(err, "redis at 127.0.0.1:1 is older than 6.0 "
                           "(AUTH takes no user name): user= needs ACL "
                           "users, Redis 6.0 or later");

    info_reply(&caps, REDIS_REPLY_STRING, "redis_version:5.0.7\r\n", 21);
    CU_ASSERT_EQUAL(tsr_caps_check(&caps, "h:2", 0, 0, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_caps_check(&caps, "h:2", 1, 0, err, sizeof(err)),
                    -1);
    CU_ASSERT_STRING_EQUAL(err, "redis at h:2 is 5.0.7: user= needs ACL "
                           "users, Redis 6.0 or later");
}


static void
test_auth_without_user_support_is_recognized(void)
{
    redisReply  r;

    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_ERROR;
    r.str = "ERR wrong number of arguments for 'auth' command";
    r.len = strlen(r.str);
    CU_ASSERT(tsr_caps_auth_no_user(&r));

    r.str = "WRONGPASS invalid username-password pair";
    r.len = strlen(r.str);
    CU_ASSERT(!tsr_caps_auth_no_user(&r));

    r.type = REDIS_REPLY_STATUS;
    r.str = "ERR wrong number of arguments for 'auth' command";
    r.len = strlen(r.str);
    CU_ASSERT(!tsr_caps_auth_no_user(&r));

    CU_ASSERT(!tsr_caps_auth_no_user(NULL));
}


static void
test_user_on_redis_5_is_refused_naming_the_version(void)
{
    int                    rc;
    char                   want[ERR_SIZE];
    size_t                 len;
    uint8_t                buf[16];
    log_t                  log;
    tsr_store_t           *st;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "5.0.7"),
                          0);

    (void) snprintf(want, sizeof(want), "redis at 127.0.0.1:%d is 5.0.7: "
                    "user= needs ACL users, Redis 6.0 or later", fake.port);

    memset(&log, 0, sizeof(log));

    st = make_store(fake.port, "alice", "secret", &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_ESERVER);
    CU_ASSERT_STRING_EQUAL(tsr_store_error(st), want);
    CU_ASSERT_EQUAL(count(&log, want), 1);
    CU_ASSERT_EQUAL(log.err, 1);

    /* never a silent miss: a lookup fails with the reason */
    usleep(30000);
    len = sizeof(buf);
    rc = tsr_store_get(st, "tsr:k", 5, buf, &len);
    CU_ASSERT(rc != TSR_OK && rc != TSR_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), want));

    /* the password is never in a message */
    CU_ASSERT_PTR_NULL(strstr(log.text, "secret"));

    tsr_store_destroy(st);

    /* the same server without user= is fine */
    memset(&log, 0, sizeof(log));

    st = make_store(fake.port, NULL, "secret", &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:k", 5, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "tsr:k", 5, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(log.err, 0);
    tsr_store_destroy(st);

    tsr_test_fakeredis_stop(&fake);
}


static void
test_user_on_redis_5_is_refused_asynchronously(void)
{
    char                   want[ERR_SIZE];
    log_t                  log;
    result_t               res;
    tsr_store_t           *st;
    tsr_test_loop_t        tl;
    tsr_store_stats_t      stats;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "5.0.7"),
                          0);

    (void) snprintf(want, sizeof(want), "redis at 127.0.0.1:%d is 5.0.7: "
                    "user= needs ACL users, Redis 6.0 or later", fake.port);

    memset(&log, 0, sizeof(log));

    st = make_async(fake.port, "alice", "secret", &log, &tl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(run_until_connected(&tl, st, 300), -1);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 0);
    CU_ASSERT(count(&log, want) >= 1);
    CU_ASSERT_EQUAL(count(&log, "connected to redis"), 0);

    /* the lookup is refused with the reason, not a miss */
    CU_ASSERT_EQUAL(async_lookup(&tl, st, "tsr:k", 0, &res), -1);
    CU_ASSERT_EQUAL(res.done, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), want));
    CU_ASSERT_PTR_NULL(strstr(log.text, "secret"));

    tsr_store_destroy(st);
    CU_ASSERT_EQUAL(tl.misuses, 0);

    tsr_test_fakeredis_stop(&fake);
}


static void
test_single_use_on_redis_6_0_takes_sessions_by_script(void)
{
    int                    i;
    size_t                 len;
    uint8_t                buf[16];
    log_t                  log;
    tsr_store_t           *st;
    tsr_store_stats_t      stats;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "6.0.16"),
                          0);

    memset(&log, 0, sizeof(log));

    /* ACL users came with 6.0 */
    st = make_store(fake.port, "alice", "secret", &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:once", 8,
                                      (const uint8_t *) "v\0w", 3, 60000),
                        TSR_OK);

        len = sizeof(buf);
        CU_ASSERT_EQUAL(tsr_store_getdel(st, "tsr:once", 8, buf, &len),
                        TSR_OK);
        CU_ASSERT_EQUAL(len, 3);
        CU_ASSERT(memcmp(buf, "v\0w", 3) == 0);

        len = sizeof(buf);
        CU_ASSERT_EQUAL(tsr_store_getdel(st, "tsr:once", 8, buf, &len),
                        TSR_NOT_FOUND);
    }

    /* told once, with the version; GETDEL never tried */
    CU_ASSERT_EQUAL(count(&log, "redis at 127.0.0.1:"), 2);
    CU_ASSERT_EQUAL(count(&log, " is 6.0.16: GETDEL needs Redis 6.2 or "
                                "later, single use takes sessions with a "
                                "script (EVAL) instead"),
                    1);
    CU_ASSERT_EQUAL(count(&log, "has no GETDEL"), 0);
    CU_ASSERT_EQUAL(log.err, 0);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.hits, 2);
    CU_ASSERT_EQUAL(stats.misses, 2);
    CU_ASSERT_EQUAL(stats.errors, 0);

    tsr_store_destroy(st);

    tsr_test_fakeredis_stop(&fake);
}


static void
test_single_use_on_redis_6_0_asynchronously(void)
{
    log_t                  log;
    result_t               res;
    tsr_store_t           *st;
    tsr_test_loop_t        tl;
    tsr_store_stats_t      stats;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "6.0.16"),
                          0);

    memset(&log, 0, sizeof(log));

    st = make_async(fake.port, "alice", "secret", &log, &tl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL_FATAL(run_until_connected(&tl, st, 2000), 0);

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:once", 8, (const uint8_t *) "vw",
                                  2, 60000),
                    TSR_OK);

    CU_ASSERT_EQUAL(async_lookup(&tl, st, "tsr:once", 1, &res), 0);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);
    CU_ASSERT_EQUAL(res.len, 2);
    CU_ASSERT(memcmp(res.val, "vw", 2) == 0);

    CU_ASSERT_EQUAL(async_lookup(&tl, st, "tsr:once", 1, &res), 0);
    CU_ASSERT_EQUAL(res.rc, TSR_NOT_FOUND);

    CU_ASSERT_EQUAL(count(&log, " is 6.0.16: GETDEL needs Redis 6.2 or "
                                "later"),
                    1);
    CU_ASSERT_EQUAL(count(&log, "has no GETDEL"), 0);
    CU_ASSERT_EQUAL(log.err, 0);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.hits, 1);
    CU_ASSERT_EQUAL(stats.misses, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);

    tsr_store_destroy(st);
    CU_ASSERT_EQUAL(tl.misuses, 0);

    tsr_test_fakeredis_stop(&fake);
}


static void
test_redis_6_2_uses_getdel_and_acl_users(void)
{
    log_t                  log;
    tsr_store_t           *st;
    tsr_test_loop_t        tl;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "6.2.14"),
                          0);

    memset(&log, 0, sizeof(log));

    sync_single_use(fake.port, &log);

    st = async_single_use(fake.port, &log, &tl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    tsr_store_destroy(st);

    /* nothing to say but "connected" */
    CU_ASSERT_EQUAL(count(&log, "redis at "), 2);
    CU_ASSERT_EQUAL(count(&log, "connected to redis at "), 2);
    CU_ASSERT_EQUAL(log.err, 0);

    tsr_test_fakeredis_stop(&fake);
}


static void
test_info_refused_assumes_everything_and_says_so_once(void)
{
    log_t                  log;
    tsr_store_t           *st;
    tsr_test_loop_t        tl;
    tsr_store_stats_t      stats;
    tsr_test_fakeredis_t   fake;

    /* INFO renamed away */
    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, ""),
                          0);

    memset(&log, 0, sizeof(log));

    sync_single_use(fake.port, &log);
    CU_ASSERT_EQUAL(count(&log, "INFO refused: ERR unknown command"), 1);

    memset(&log, 0, sizeof(log));

    st = async_single_use(fake.port, &log, &tl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    /* a reconnect says nothing more about INFO */
    CU_ASSERT_EQUAL(tsr_test_fakeredis_set_mode(&fake, TSR_TEST_FAKE_NORMAL),
                    0);
    (void) tsr_test_loop_run(&tl, 300, NULL);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 2);
    CU_ASSERT_EQUAL(count(&log, "INFO refused: ERR unknown command"), 1);
    CU_ASSERT_EQUAL(count(&log, "its version is not checked"), 1);

    tsr_store_destroy(st);
    CU_ASSERT_EQUAL(tl.misuses, 0);

    tsr_test_fakeredis_stop(&fake);
}


/*
 * The module's rule in the README, on Debian's Redis: sessions (SET,
 * GET, GETDEL, DEL; the sync and the async side), the GETDEL script and
 * the ticket ring (SCRIPT LOAD, EVALSHA, and the script's GET, SET and
 * TIME); INFO answered, so nothing assumed; keys outside the prefix
 * refused.
 */

static void
test_readme_module_acl_rule_suffices_on_real_redis(void)
{
    char                 err[ERR_SIZE];
    size_t               len;
    uint8_t              buf[16];
    log_t                log;
    result_t             res;
    tsr_store_t         *st;
    tsr_keyring_t       *kr;
    tsr_tickets_t       *t;
    tsr_test_loop_t      tl;
    tsr_store_conf_t     conf;
    tsr_tickets_conf_t   tconf;

    static const char   *script = "local v = redis.call('GET', KEYS[1]) "
                                  "if v then redis.call('DEL', KEYS[1]) end "
                                  "return v";

    memset(&log, 0, sizeof(log));

    st = make_store(acl.port, "tsr-module", "module-pw", &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:s:1", 7, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "tsr:s:1", 7, buf, &len), TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "tsr:s:1", 7, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:s:2", 7, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_del(st, "tsr:s:2", 7), TSR_OK);

    /* the prefix is the limit */
    CU_ASSERT_EQUAL(tsr_store_set(st, "other:1", 7, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "NOPERM"));

    tsr_store_destroy(st);

    /* the asynchronous side, with EVAL as for a Redis before 6.2 */
    st = make_async(acl.port, "tsr-module", "module-pw", &log, &tl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL_FATAL(run_until_connected(&tl, st, 2000), 0);

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:s:3", 7, (const uint8_t *) "v",
                                  1, 60000),
                    TSR_OK);
    CU_ASSERT_EQUAL(async_lookup(&tl, st, "tsr:s:3", 1, &res), 0);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);

    CU_ASSERT_EQUAL(tsr_store_set(st, "tsr:s:4", 7, (const uint8_t *) "w",
                                  1, 60000),
                    TSR_OK);
    memset(&res, 0, sizeof(res));
    CU_ASSERT_PTR_NOT_NULL(tsr_store_eval_async(st, script, strlen(script),
                                                "tsr:s:4", 7, 0, NULL, NULL,
                                                TIMEOUT_MS, on_done, &res));
    (void) tsr_test_loop_run(&tl, 2 * TIMEOUT_MS, &res.done);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);
    CU_ASSERT_EQUAL(res.len, 1);

    tsr_store_destroy(st);
    CU_ASSERT_EQUAL(tl.misuses, 0);

    /* the ticket ring: created, then read back */
    kr = tsr_keyring_create(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, (const uint8_t *)
                                        "0123456789abcdef0123456789abcdef",
                                        32, err, sizeof(err)),
                    TSR_OK);

    memset(&conf, 0, sizeof(conf));
    conf.host = "127.0.0.1";
    conf.port = acl.port;
    conf.user = "tsr-module";
    conf.password = "module-pw";
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;

    memset(&tconf, 0, sizeof(tconf));
    tconf.store_conf = &conf;
    tconf.keys = kr;
    tconf.log = keep_log;
    tconf.log_data = &log;

    t = tsr_tickets_create(&tconf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_sync(t), TSR_OK);
    tsr_tickets_destroy(t);
    tsr_keyring_destroy(kr);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&acl, err, sizeof(err), "EXISTS %s",
                                       "tsr:tk:default"),
                    0);
    CU_ASSERT_STRING_EQUAL(err, "1");

    /* INFO was answered: the version was checked, nothing assumed */
    CU_ASSERT_EQUAL(count(&log, "INFO refused"), 0);
    CU_ASSERT_EQUAL(count(&log, "GETDEL needs"), 0);
    CU_ASSERT_EQUAL(count(&log, "NOPERM"), 0);
    CU_ASSERT_EQUAL(log.err, 0);

    if (log.err != 0) {
        printf("\n%s", log.text);
    }
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(info_version_is_read_as_hostile_input),
        TSR_TEST(auth_without_user_support_is_recognized),
        TSR_TEST(user_on_redis_5_is_refused_naming_the_version),
        TSR_TEST(user_on_redis_5_is_refused_asynchronously),
        TSR_TEST(single_use_on_redis_6_0_takes_sessions_by_script),
        TSR_TEST(single_use_on_redis_6_0_asynchronously),
        TSR_TEST(redis_6_2_uses_getdel_and_acl_users),
        TSR_TEST(info_refused_assumes_everything_and_says_so_once),
        TSR_TEST(readme_module_acl_rule_suffices_on_real_redis)
    };

    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("caps", init_suite, clean_suite, tests);
}
