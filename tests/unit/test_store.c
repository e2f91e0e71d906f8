
/*
 * The synchronous store against private redis-servers: binary-safe values
 * with a TTL, misses and untrusted replies, authentication, unix sockets,
 * databases, and behaviour while Redis is down, stopped or restarting.
 */


#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "tsr.h"
#include "tsr_test.h"


#define OUT_SIZE     4096
#define ERR_SIZE     512
#define CONF_SIZE    1024
#define TIMEOUT_MS   1000       /* generous: valgrind runs these too */


typedef struct {
    int          info;
    int          err;
} log_counts_t;


static int init_suite(void);
static int clean_suite(void);
static tsr_store_t *make_store(tsr_test_redis_t *r, const char *user,
    const char *password, int db, tsr_store_conf_t *conf);
static void count_log(int level, const char *msg, void *data);
static void test_conf_parse_accepts_address_forms(void);
static void test_conf_parse_rejects_bad_port_quoting_address(void);
static void test_conf_parse_rejects_unknown_parameter_quoting_its_name(void);
static void test_conf_parse_reads_password_file_minus_one_newline(void);
static void test_conf_parse_names_missing_password_file(void);
static void test_create_rejects_bad_conf_and_destroy_null_is_noop(void);
static void test_set_then_get_returns_same_bytes(void);
static void test_set_applies_px_ttl(void);
static void test_set_rejects_zero_ttl_and_oversized_value(void);
static void test_get_of_missing_key_is_not_found(void);
static void test_getdel_returns_value_and_deletes_key(void);
static void test_getdel_falls_back_to_eval_without_getdel(void);
static void test_del_removes_key_and_ignores_missing_key(void);
static void test_wrong_type_is_bad_value_and_not_found(void);
static void test_oversized_value_is_bad_value_and_not_found(void);
static void test_small_buffer_is_bad_value_and_not_found(void);
static void test_error_reply_is_eserver_and_keeps_connection(void);
static void test_requirepass_right_password_works_wrong_fails(void);
static void test_acl_user_and_password_authenticate(void);
static void test_unix_socket_from_parsed_address_works(void);
static void test_db_selects_another_database(void);
static void test_refused_connection_is_econn_and_logged(void);
static void test_never_block_refuses_synchronous_calls(void);
static void test_stopped_redis_fails_fast_then_recovers(void);
static void test_command_timeout_drops_connection_then_recovers(void);
static int tls_store(const char *address, tsr_store_t **st, char *err,
    size_t errlen);
static void test_uri_addresses_parse_and_authenticate(void);
static void test_tls_redis_works_resumes_and_refuses_strangers(void);
static void test_tls_redis_with_client_certificates(void);


/* ACL users: alice may do anything, bob anything but SET */
static tsr_test_redis_t  redis = {
    .extra = "user alice on >secret ~* +@all\n"
             "user bob on >pw ~* +@all -set"
};

static tsr_test_redis_t  secured = { .password = "s3cret pass" };
static tsr_test_redis_t  old = { .extra = "rename-command GETDEL \"\"" };

/* stopped, restarted and suspended by the tests */
static tsr_test_redis_t  spare;

static char              out[OUT_SIZE];


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


/*
 * A store on "r" over TCP; "conf", if not NULL, supplies the timeouts and
 * the log callback and receives the configuration used.
 */

static tsr_store_t *
make_store(tsr_test_redis_t *r, const char *user, const char *password,
    int db, tsr_store_conf_t *conf)
{
    char              err[ERR_SIZE];
    tsr_store_t      *st;
    tsr_store_conf_t  c;

    if (conf != NULL) {
        c = *conf;

    } else {
        memset(&c, 0, sizeof(c));
        c.connect_timeout_ms = TIMEOUT_MS;
        c.command_timeout_ms = TIMEOUT_MS;
    }

    c.host = "127.0.0.1";
    c.port = r->port;
    c.user = user;
    c.password = password;
    c.db = db;

    st = tsr_store_create(&c, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
    }

    return st;
}


static void
count_log(int level, const char *msg, void *data)
{
    log_counts_t  *counts;

    counts = data;

    if (level == TSR_LOG_INFO) {
        counts->info++;

    } else if (level == TSR_LOG_ERR) {
        counts->err++;
    }
}


static void
test_conf_parse_accepts_address_forms(void)
{
    char              buf[CONF_SIZE], err[ERR_SIZE];
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.command_timeout_ms = 7;

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "10.0.0.1:6380", buf,
                                               sizeof(buf), err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.host, "10.0.0.1");
    CU_ASSERT_EQUAL(conf.port, 6380);
    CU_ASSERT_PTR_NULL(conf.unix_path);
    CU_ASSERT_PTR_NULL(conf.password);
    CU_ASSERT_EQUAL(conf.db, 0);

    /* fields outside the address are left alone */
    CU_ASSERT_EQUAL(conf.command_timeout_ms, 7);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "redis.example", buf,
                                               sizeof(buf), err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.host, "redis.example");
    CU_ASSERT_EQUAL(conf.port, 6379);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "[::1]:6390", buf,
                                               sizeof(buf), err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.host, "::1");
    CU_ASSERT_EQUAL(conf.port, 6390);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "[2001:db8::7]", buf,
                                               sizeof(buf), err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.host, "2001:db8::7");
    CU_ASSERT_EQUAL(conf.port, 6379);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "unix:/run/r.sock db=3",
                                               buf, sizeof(buf), err,
                                               sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.unix_path, "/run/r.sock");
    CU_ASSERT_PTR_NULL(conf.host);
    CU_ASSERT_EQUAL(conf.db, 3);

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "  127.0.0.1:1 db=2147483647",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_OK);
    CU_ASSERT_EQUAL(conf.port, 1);
    CU_ASSERT_EQUAL(conf.db, 2147483647);

    /* no room in the caller's buffer is an error, not an overflow */
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "a-long-host-name:6379", buf,
                                         8, err, sizeof(err)),
                    TSR_EINVAL);

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "", buf, sizeof(buf), err,
                                         sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "::1", buf, sizeof(buf), err,
                                         sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "brackets"));
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "unix:", buf, sizeof(buf),
                                         err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 db=-1", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 db=2147483648",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"db=2147483648\""));
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 user=alice", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "password_file"));
}


static void
test_conf_parse_rejects_bad_port_quoting_address(void)
{
    char              buf[CONF_SIZE], err[ERR_SIZE];
    size_t            i;
    tsr_store_conf_t  conf;

    static const char *const  bad[] = {
        "127.0.0.1:70000", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1:63a9",
        "[::1]:", "[::1]6379", "[::1]:123456"
    };

    memset(&conf, 0, sizeof(conf));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';

        CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, bad[i], buf, sizeof(buf),
                                             err, sizeof(err)),
                        TSR_EINVAL);

        snprintf(buf, sizeof(buf), "\"%s\"", bad[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, buf));
    }

    CU_ASSERT_PTR_NULL(conf.host);
    CU_ASSERT_EQUAL(conf.port, 0);
}


static void
test_conf_parse_rejects_unknown_parameter_quoting_its_name(void)
{
    char              buf[CONF_SIZE], err[ERR_SIZE];
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1:6379 color=red",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"color\""));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 verbose", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"verbose\""));

    /* an inline password is refused without echoing it */
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 password=hunter2",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"password\""));
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1 db=1 db=2", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate"));
}


static void
test_conf_parse_reads_password_file_minus_one_newline(void)
{
    char              dir[PATH_MAX], path[PATH_MAX + 16];
    char              addr[2 * PATH_MAX], buf[CONF_SIZE], err[ERR_SIZE];
    tsr_store_conf_t  conf;

    CU_ASSERT_EQUAL_FATAL(tsr_test_mkdtemp("store-pw", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/pw", dir);
    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "pa ss\n", 6, 0600), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:6379 password_file=%s "
             "user=alice db=2", path);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.password, "pa ss");
    CU_ASSERT_STRING_EQUAL(conf.user, "alice");
    CU_ASSERT_STRING_EQUAL(conf.host, "127.0.0.1");
    CU_ASSERT_EQUAL(conf.db, 2);

    /* one newline goes, the next one is part of the password */
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "pw\n\n", 4, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.password, "pw\n");

    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "crlf\r\n", 6, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.password, "crlf");

    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "bare", 4, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.password, "bare");

    /* a newline alone is an empty password */
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "\n", 1, 0600), 0);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf), err,
                                         sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NULL(conf.password);

    /* the file must fit in the caller's buffer */
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, "0123456789abcdef", 16,
                                              0600), 0);
    snprintf(addr, sizeof(addr), "h password_file=%s", path);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, addr, buf, 12, err,
                                         sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));

    (void) unlink(path);
    (void) rmdir(dir);
}


static void
test_conf_parse_names_missing_password_file(void)
{
    char              buf[CONF_SIZE], err[ERR_SIZE];
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf,
                                         "127.0.0.1 password_file=/nonexistent"
                                         "/redis.pw", buf, sizeof(buf), err,
                                         sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"/nonexistent/redis.pw\""));
}


static void
test_create_rejects_bad_conf_and_destroy_null_is_noop(void)
{
    char              err[ERR_SIZE];
    tsr_store_t      *st;
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.port = 70000;
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "70000"));

    memset(&conf, 0, sizeof(conf));
    conf.db = -1;
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));

    memset(&conf, 0, sizeof(conf));
    conf.command_timeout_ms = -5;
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));

    memset(&conf, 0, sizeof(conf));
    conf.backoff_min_ms = 500;
    conf.backoff_max_ms = 100;
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));

    memset(&conf, 0, sizeof(conf));
    conf.user = "alice";
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, NULL, 0));

    /* all defaults; nothing connects before the first call */
    st = tsr_store_create(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(st);
    CU_ASSERT_STRING_EQUAL(tsr_store_error(st), "");
    tsr_store_destroy(st);

    tsr_store_destroy(NULL);
}


static void
test_set_then_get_returns_same_bytes(void)
{
    size_t              len;
    uint8_t             buf[64];
    tsr_store_t        *st;
    unsigned char       raw[64];
    tsr_store_stats_t   stats;

    static const uint8_t  val[] = { 'a', 0, 'b', 0, 0xff, 0x80, 0, 'c' };
    static const char     key[] = "t:bin\0key";

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, key, sizeof(key) - 1, val, sizeof(val),
                                  60000),
                    TSR_OK);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, key, sizeof(key) - 1, buf, &len),
                    TSR_OK);
    CU_ASSERT_EQUAL(len, sizeof(val));
    CU_ASSERT(memcmp(buf, val, sizeof(val)) == 0);

    /* the key with its NUL is distinct from its prefix */
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:bin", 5, buf, &len), TSR_NOT_FOUND);

    /* and Redis holds exactly these bytes */
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:plain", 7, val, sizeof(val), 60000),
                    TSR_OK);
    len = sizeof(raw);
    CU_ASSERT_EQUAL(tsr_test_redis_get_raw(&redis, "t:plain", raw, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof(val));
    CU_ASSERT(memcmp(raw, val, sizeof(val)) == 0);

    /* an empty value is a value */
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:empty", 7, NULL, 0, 60000), TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:empty", 7, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 0);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.sets, 3);
    CU_ASSERT_EQUAL(stats.gets, 3);
    CU_ASSERT_EQUAL(stats.hits, 2);
    CU_ASSERT_EQUAL(stats.misses, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);

    tsr_store_destroy(st);
}


static void
test_set_applies_px_ttl(void)
{
    long long     pttl;
    tsr_store_t  *st;

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:ttl", 5, (const uint8_t *) "v", 1,
                                  30000),
                    TSR_OK);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                             "PTTL %s", "t:ttl"),
                          0);
    pttl = atoll(out);
    CU_ASSERT(pttl > 29000 && pttl <= 30000);

    /* a short TTL really expires */
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:ttl", 5, (const uint8_t *) "v", 1, 1),
                    TSR_OK);
    tsr_test_sleep_ms(20);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "EXISTS %s",
                                       "t:ttl"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    tsr_store_destroy(st);
}


static void
test_set_rejects_zero_ttl_and_oversized_value(void)
{
    size_t              len;
    uint8_t            *val, *buf;
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    val = calloc(1, TSR_MAX_VALUE + 1);
    buf = calloc(1, TSR_MAX_VALUE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(val);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:big", 5, val, 10, 0), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:big", 5, val, TSR_MAX_VALUE + 1,
                                  1000),
                    TSR_ETOOBIG);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:big", 0, val, 1, 1000), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set(st, NULL, 5, val, 1, 1000), TSR_EINVAL);

    /* the limit itself is fine, both ways */
    val[TSR_MAX_VALUE - 1] = 0x5a;
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:big", 5, val, TSR_MAX_VALUE, 60000),
                    TSR_OK);
    len = TSR_MAX_VALUE;
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:big", 5, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, TSR_MAX_VALUE);
    CU_ASSERT_EQUAL(buf[TSR_MAX_VALUE - 1], 0x5a);

    /* argument errors are not Redis errors */
    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.sets, 1);

    tsr_store_destroy(st);
    free(val);
    free(buf);
}


static void
test_get_of_missing_key_is_not_found(void)
{
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:missing", 9, buf, &len),
                    TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(len, 0);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:missing", 9, buf, &len),
                    TSR_NOT_FOUND);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.gets, 2);
    CU_ASSERT_EQUAL(stats.misses, 2);
    CU_ASSERT_EQUAL(stats.hits, 0);
    CU_ASSERT_EQUAL(stats.bad_values, 0);
    CU_ASSERT_EQUAL(stats.errors, 0);

    tsr_store_destroy(st);
}


static void
test_getdel_returns_value_and_deletes_key(void)
{
    size_t        len;
    uint8_t       buf[16];
    tsr_store_t  *st;

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:once", 6, (const uint8_t *) "x\0y",
                                  3, 60000),
                    TSR_OK);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:once", 6, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT(memcmp(buf, "x\0y", 3) == 0);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "EXISTS %s",
                                       "t:once"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:once", 6, buf, &len),
                    TSR_NOT_FOUND);

    tsr_store_destroy(st);
}


static void
test_getdel_falls_back_to_eval_without_getdel(void)
{
    int                 i;
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    log_counts_t        counts;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    /* this server answers GETDEL as Redis before 6.2 does */
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&old, out, sizeof(out), "GETDEL %s",
                                       "t:x"),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ERR unknown command"));

    memset(&counts, 0, sizeof(counts));
    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.log = count_log;
    conf.log_data = &counts;

    st = make_store(&old, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(tsr_store_set(st, "t:once", 6,
                                      (const uint8_t *) "v\0w", 3, 60000),
                        TSR_OK);

        len = sizeof(buf);
        CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:once", 6, buf, &len), TSR_OK);
        CU_ASSERT_EQUAL(len, 3);
        CU_ASSERT(memcmp(buf, "v\0w", 3) == 0);

        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&old, out, sizeof(out),
                                           "EXISTS %s", "t:once"),
                        0);
        CU_ASSERT_STRING_EQUAL(out, "0");

        len = sizeof(buf);
        CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:once", 6, buf, &len),
                        TSR_NOT_FOUND);
    }

    /* the script sees other types as GETDEL would */
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&old, out, sizeof(out), "LPUSH %s %s",
                                       "t:list", "a"),
                    0);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:list", 6, buf, &len),
                    TSR_NOT_FOUND);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.hits, 2);
    CU_ASSERT_EQUAL(stats.misses, 2);
    CU_ASSERT_EQUAL(stats.bad_values, 1);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);

    /* connected, then switched once */
    CU_ASSERT_EQUAL(counts.info, 2);
    CU_ASSERT_EQUAL(counts.err, 0);

    tsr_store_destroy(st);
}


static void
test_del_removes_key_and_ignores_missing_key(void)
{
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:del", 5, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_del(st, "t:del", 5), TSR_OK);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "EXISTS %s",
                                       "t:del"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "0");

    CU_ASSERT_EQUAL(tsr_store_del(st, "t:del", 5), TSR_OK);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.dels, 2);
    CU_ASSERT_EQUAL(stats.errors, 0);

    tsr_store_destroy(st);
}


static void
test_wrong_type_is_bad_value_and_not_found(void)
{
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                             "LPUSH %s %s", "t:list", "a"),
                          0);

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:list", 6, buf, &len),
                    TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(len, 0);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:list", 6, buf, &len),
                    TSR_NOT_FOUND);

    /* the key name stays out of the message */
    CU_ASSERT_PTR_NULL(strstr(tsr_store_error(st), "t:list"));

    /* the connection is still good */
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:after", 7, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_OK);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.bad_values, 2);
    CU_ASSERT_EQUAL(stats.misses, 0);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.connects, 1);

    tsr_store_destroy(st);
}


static void
test_oversized_value_is_bad_value_and_not_found(void)
{
    size_t              len;
    uint8_t            *buf;
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    /* 20001 bytes, more than TSR_MAX_VALUE */
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                             "SETRANGE %s 20000 %s",
                                             "t:huge", "x"),
                          0);
    CU_ASSERT_STRING_EQUAL(out, "20001");

    buf = malloc(32768);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = 32768;
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:huge", 6, buf, &len), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(len, 0);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.bad_values, 1);
    CU_ASSERT_EQUAL(stats.hits, 0);
    CU_ASSERT_EQUAL(stats.errors, 0);

    tsr_store_destroy(st);
    free(buf);
}


static void
test_small_buffer_is_bad_value_and_not_found(void)
{
    size_t              len;
    uint8_t             val[100], buf[100];
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    memset(val, 0x42, sizeof(val));

    st = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:100", 5, val, sizeof(val), 60000),
                    TSR_OK);

    memset(buf, 0, sizeof(buf));
    len = 50;
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:100", 5, buf, &len), TSR_NOT_FOUND);
    CU_ASSERT_EQUAL(len, 0);

    /* nothing was written: no truncated value */
    CU_ASSERT_EQUAL(buf[0], 0);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:100", 5, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, sizeof(val));

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.bad_values, 1);
    CU_ASSERT_EQUAL(stats.hits, 1);

    tsr_store_destroy(st);
}


static void
test_error_reply_is_eserver_and_keeps_connection(void)
{
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    /* bob may not SET */
    st = make_store(&redis, "bob", "pw", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:bob", 5, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "NOPERM"));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "SET"));

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:bob", 5, buf, &len), TSR_NOT_FOUND);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.errors, 1);
    CU_ASSERT_EQUAL(stats.connects, 1);

    tsr_store_destroy(st);
}


static void
test_requirepass_right_password_works_wrong_fails(void)
{
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    tsr_store_stats_t   stats;

    st = make_store(&secured, NULL, secured.password, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:pw", 4, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:pw", 4, buf, &len), TSR_OK);
    tsr_store_destroy(st);

    /* a wrong password fails the connection, then backs off */
    st = make_store(&secured, NULL, "bad-guess-42", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:pw", 4, buf, &len), TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "AUTH"));
    CU_ASSERT_PTR_NULL(strstr(tsr_store_error(st), "bad-guess-42"));

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:pw", 4, buf, &len), TSR_ECONN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "AUTH"));

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.errors, 2);
    CU_ASSERT_EQUAL(stats.connects, 0);
    tsr_store_destroy(st);

    /* no password: Redis refuses each command, the connection stays */
    st = make_store(&secured, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:pw", 4, buf, &len), TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "NOAUTH"));
    tsr_store_destroy(st);
}


static void
test_acl_user_and_password_authenticate(void)
{
    size_t        len;
    uint8_t       buf[16];
    tsr_store_t  *st;

    st = make_store(&redis, "alice", "secret", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:acl", 5, (const uint8_t *) "ok", 2,
                                  60000),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:acl", 5, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 2);

    tsr_store_destroy(st);

    st = make_store(&redis, "alice", "not-secret", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:acl", 5, buf, &len), TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "WRONGPASS"));
    tsr_store_destroy(st);
}


static void
test_unix_socket_from_parsed_address_works(void)
{
    char              addr[PATH_MAX + 16], buf[CONF_SIZE], err[ERR_SIZE];
    size_t            len;
    uint8_t           val[16];
    tsr_store_t      *st;
    tsr_store_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;

    snprintf(addr, sizeof(addr), "unix:%s", redis.unix_path);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                               err, sizeof(err)),
                          TSR_OK);

    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    /* the store keeps copies, not pointers into the caller's buffer */
    memset(buf, 0, sizeof(buf));

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:unix", 6, (const uint8_t *) "u", 1,
                                  60000),
                    TSR_OK);
    len = sizeof(val);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:unix", 6, val, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 1);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out), "GET %s",
                                       "t:unix"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "u");

    tsr_store_destroy(st);
}


static void
test_db_selects_another_database(void)
{
    size_t        len;
    uint8_t       buf[16];
    tsr_store_t  *st3, *st0;

    static const char  probe[] =
        "redis.call('SELECT', 3) return redis.call('GET', KEYS[1])";

    st3 = make_store(&redis, NULL, NULL, 3, NULL);
    st0 = make_store(&redis, NULL, NULL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st0);

    CU_ASSERT_EQUAL(tsr_store_set(st3, "t:db", 4, (const uint8_t *) "three",
                                  5, 60000),
                    TSR_OK);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st0, "t:db", 4, buf, &len), TSR_NOT_FOUND);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st3, "t:db", 4, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 5);

    /* seen from outside the store, it is in database 3 */
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, out, sizeof(out),
                                       "EVAL %s 1 %s", probe, "t:db"),
                    0);
    CU_ASSERT_STRING_EQUAL(out, "three");

    tsr_store_destroy(st3);
    tsr_store_destroy(st0);
}


static void
test_refused_connection_is_econn_and_logged(void)
{
    int                 port;
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    log_counts_t        counts;
    tsr_test_redis_t    nobody;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    port = tsr_test_free_port();
    CU_ASSERT_FATAL(port > 0);

    memset(&nobody, 0, sizeof(nobody));
    nobody.port = port;

    memset(&counts, 0, sizeof(counts));
    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.log = count_log;
    conf.log_data = &counts;

    st = make_store(&nobody, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_ECONN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st),
                                  "cannot connect to 127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st),
                                  "Connection refused"));

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:x", 3, buf, &len), TSR_ECONN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "next attempt in"));

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.errors, 2);
    CU_ASSERT_EQUAL(stats.connects, 0);

    /* one failed attempt, one line; failing fast logs nothing */
    CU_ASSERT_EQUAL(counts.err, 1);
    CU_ASSERT_EQUAL(counts.info, 0);

    tsr_store_destroy(st);

    st = make_store(&redis, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_OK);
    CU_ASSERT_EQUAL(counts.info, 1);
    tsr_store_destroy(st);
}


static void
test_never_block_refuses_synchronous_calls(void)
{
    size_t              len;
    uint8_t             buf[16];
    tsr_store_t        *st;
    log_counts_t        counts;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&counts, 0, sizeof(counts));
    memset(&conf, 0, sizeof(conf));
    conf.never_block = 1;
    conf.log = count_log;
    conf.log_data = &counts;

    st = make_store(&redis, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "never_block"));

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:nb", 4, buf, &len), TSR_EINVAL);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(st, "t:nb", 4, buf, &len), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:nb", 4, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_store_del(st, "t:nb", 4), TSR_EINVAL);

    /* nothing reached Redis */
    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 0);
    CU_ASSERT_EQUAL(stats.gets + stats.sets + stats.dels + stats.errors, 0);
    CU_ASSERT_EQUAL(counts.info + counts.err, 0);

    tsr_store_destroy(st);
}


static void
test_stopped_redis_fails_fast_then_recovers(void)
{
    int                 rc;
    size_t              len;
    uint8_t             buf[16];
    long long           start, elapsed;
    tsr_store_t        *st;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = TIMEOUT_MS;
    conf.backoff_min_ms = 300;
    conf.backoff_max_ms = 600;

    st = make_store(&spare, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:down", 6, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_OK);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_stop(&spare), 0);

    len = sizeof(buf);
    rc = tsr_store_get(st, "t:down", 6, buf, &len);
    CU_ASSERT(rc == TSR_ECONN);

    /* within the backoff nothing touches the network */
    start = tsr_test_now_ms();
    len = sizeof(buf);
    rc = tsr_store_get(st, "t:down", 6, buf, &len);
    elapsed = tsr_test_now_ms() - start;

    CU_ASSERT_EQUAL(rc, TSR_ECONN);
    CU_ASSERT(elapsed < 50);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "next attempt in"));

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:down", 6, (const uint8_t *) "v", 1,
                                  60000),
                    TSR_ECONN);

    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_start(&spare), 0);

    start = tsr_test_now_ms();

    do {
        rc = tsr_store_set(st, "t:down", 6, (const uint8_t *) "w", 1, 60000);
        if (rc == TSR_OK) {
            break;
        }

        tsr_test_sleep_ms(20);

    } while (tsr_test_now_ms() - start < 2000);

    CU_ASSERT_EQUAL(rc, TSR_OK);
    CU_ASSERT(tsr_test_now_ms() - start < 2000);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:down", 6, buf, &len), TSR_OK);
    CU_ASSERT_EQUAL(len, 1);
    CU_ASSERT_EQUAL(buf[0], 'w');

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 2);
    CU_ASSERT(stats.errors >= 3);

    tsr_store_destroy(st);
}


static void
test_command_timeout_drops_connection_then_recovers(void)
{
    int                 rc;
    size_t              len;
    uint8_t             buf[16];
    long long           start, elapsed;
    tsr_store_t        *st;
    tsr_store_conf_t    conf;
    tsr_store_stats_t   stats;

    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = 150;
    conf.backoff_min_ms = 100;
    conf.backoff_max_ms = 200;

    st = make_store(&spare, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);

    CU_ASSERT_EQUAL_FATAL(tsr_store_connect(st), TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_signal(&spare, SIGSTOP), 0);

    start = tsr_test_now_ms();
    len = sizeof(buf);
    rc = tsr_store_get(st, "t:slow", 6, buf, &len);
    elapsed = tsr_test_now_ms() - start;

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&spare, SIGCONT), 0);

    CU_ASSERT_EQUAL(rc, TSR_ETIMEDOUT);
    CU_ASSERT(elapsed >= 140 && elapsed < 1000);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "timed out"));

    start = tsr_test_now_ms();

    do {
        len = sizeof(buf);
        rc = tsr_store_get(st, "t:slow", 6, buf, &len);
        if (rc == TSR_NOT_FOUND) {
            break;
        }

        tsr_test_sleep_ms(20);

    } while (tsr_test_now_ms() - start < 2000);

    CU_ASSERT_EQUAL(rc, TSR_NOT_FOUND);

    tsr_store_stats(st, &stats);
    CU_ASSERT_EQUAL(stats.connects, 2);

    tsr_store_destroy(st);
}


/*
 * A bulk string announced at 2^31 bytes, its first MiB sent, then
 * nothing: the synchronous client stops at the bound on unparsed bytes
 * at once instead of buffering until the command timeout (or, from a
 * fast sender, 2 GB).
 */

static void
test_huge_bulk_stops_at_the_bound(void)
{
    int                    rc;
    size_t                 len;
    uint8_t                buf[16];
    long long              start, elapsed;
    tsr_store_t           *st;
    tsr_store_conf_t       conf;
    tsr_test_redis_t       at;
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start(&fake,
                                                   TSR_TEST_FAKE_HUGE_BULK),
                          0);

    memset(&conf, 0, sizeof(conf));
    conf.connect_timeout_ms = TIMEOUT_MS;
    conf.command_timeout_ms = 3000;

    memset(&at, 0, sizeof(at));
    at.port = fake.port;

    st = make_store(&at, NULL, NULL, 0, &conf);
    CU_ASSERT_PTR_NOT_NULL(st);

    if (st != NULL) {
        start = tsr_test_now_ms();
        len = sizeof(buf);
        rc = tsr_store_get(st, "t:huge", 6, buf, &len);
        elapsed = tsr_test_now_ms() - start;

        printf("\n    %s, %lld ms: %s ", tsr_strerror(rc), elapsed,
               tsr_store_error(st));

        CU_ASSERT_NOT_EQUAL(rc, TSR_OK);
        CU_ASSERT(elapsed < 2000);
        CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "more than"));

        tsr_store_destroy(st);
    }

    tsr_test_fakeredis_stop(&fake);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(conf_parse_accepts_address_forms),
        TSR_TEST(huge_bulk_stops_at_the_bound),
        TSR_TEST(conf_parse_rejects_bad_port_quoting_address),
        TSR_TEST(conf_parse_rejects_unknown_parameter_quoting_its_name),
        TSR_TEST(conf_parse_reads_password_file_minus_one_newline),
        TSR_TEST(conf_parse_names_missing_password_file),
        TSR_TEST(create_rejects_bad_conf_and_destroy_null_is_noop),
        TSR_TEST(set_then_get_returns_same_bytes),
        TSR_TEST(set_applies_px_ttl),
        TSR_TEST(set_rejects_zero_ttl_and_oversized_value),
        TSR_TEST(get_of_missing_key_is_not_found),
        TSR_TEST(getdel_returns_value_and_deletes_key),
        TSR_TEST(getdel_falls_back_to_eval_without_getdel),
        TSR_TEST(del_removes_key_and_ignores_missing_key),
        TSR_TEST(wrong_type_is_bad_value_and_not_found),
        TSR_TEST(oversized_value_is_bad_value_and_not_found),
        TSR_TEST(small_buffer_is_bad_value_and_not_found),
        TSR_TEST(error_reply_is_eserver_and_keeps_connection),
        TSR_TEST(requirepass_right_password_works_wrong_fails),
        TSR_TEST(acl_user_and_password_authenticate),
        TSR_TEST(unix_socket_from_parsed_address_works),
        TSR_TEST(db_selects_another_database),
        TSR_TEST(refused_connection_is_econn_and_logged),
        TSR_TEST(never_block_refuses_synchronous_calls),
        TSR_TEST(stopped_redis_fails_fast_then_recovers),
        TSR_TEST(command_timeout_drops_connection_then_recovers),
        TSR_TEST(uri_addresses_parse_and_authenticate),
        TSR_TEST(tls_redis_works_resumes_and_refuses_strangers),
        TSR_TEST(tls_redis_with_client_certificates)
    };

    /* a write to a connection Redis closed must not kill the program */
    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("store", init_suite, clean_suite, tests);
}


static int
tls_store(const char *address, tsr_store_t **st, char *err, size_t errlen)
{
    tsr_store_conf_t  conf;

    static char  buf[4096];

    *st = NULL;

    memset(&conf, 0, sizeof(conf));

    if (tsr_store_conf_parse(&conf, address, buf, sizeof(buf), err, errlen)
        != TSR_OK)
    {
        return -1;
    }

    conf.connect_timeout_ms = 2000;
    conf.command_timeout_ms = 2000;

    *st = tsr_store_create(&conf, err, errlen);

    return (*st == NULL) ? -1 : 0;
}


static void
test_tls_redis_works_resumes_and_refuses_strangers(void)
{
    int                 port, rc;
    char                dir[256], addr[1024], err[256];
    char                text[64];
    size_t              len;
    uint8_t             val[64];
    tsr_store_t        *st;
    tsr_test_redis_t    r;
    tsr_store_stats_t   stats;

    if (tsr_test_redis_start_tls(&r, dir, sizeof(dir), &port, 0) != 0) {
        CU_FAIL("redis with TLS did not start");
        return;
    }

    /* the right CA and name: works, and a reconnect resumes */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test", port,
             dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);

    CU_ASSERT_EQUAL(tsr_store_set(st, "t:tls", 5, (const uint8_t *) "v1", 2,
                                  60000), TSR_OK);

    (void) tsr_test_redis_cmd(&r, text, sizeof(text),
                              "CLIENT KILL TYPE normal SKIPME yes");

    len = sizeof(val);
    rc = tsr_store_get(st, "t:tls", 5, val, &len);

    /* the first call after the kill may only find the connection gone */
    if (rc != TSR_OK) {
        len = sizeof(val);
        rc = tsr_store_get(st, "t:tls", 5, val, &len);
    }

    CU_ASSERT_EQUAL(rc, TSR_OK);
    CU_ASSERT(len == 2 && memcmp(val, "v1", 2) == 0);

    tsr_store_stats(st, &stats);

    printf("\n    TLS redis: %llu connects, %llu resumed ",
           (unsigned long long) stats.connects,
           (unsigned long long) stats.tls_resumed);

    CU_ASSERT_EQUAL(stats.connects, 2);
    CU_ASSERT_EQUAL(stats.tls_resumed, 1);

    tsr_store_destroy(st);

    /* a name the certificate does not have */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt tls_server_name=other.test", port,
             dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_ECONN);
    printf("\n    wrong name: %s ", tsr_store_error(st));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st),
                                  "certificate verify failed: hostname "
                                  "mismatch"));
    tsr_store_destroy(st);

    /* a CA that did not sign it */

    snprintf(addr, sizeof(addr), "127.0.0.1:%d tls "
             "tls_ca_file=%s/other.crt tls_server_name=redis.test", port,
             dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_ECONN);
    printf("\n    wrong CA: %s ", tsr_store_error(st));
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st),
                                  "certificate verify failed"));
    tsr_store_destroy(st);

    /* the address verified when no name is given: not in the certificate */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt", port, dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_ECONN);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "IP address "
                                  "mismatch"));
    tsr_store_destroy(st);

    /* without verification anything goes (nginx -t warns) */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/other.crt tls_verify=off", port, dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_OK);
    tsr_store_destroy(st);

    /* plain TCP to the TLS port fails, and parameters need TLS */

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_NOT_EQUAL(tsr_store_set(st, "t:p", 3, (const uint8_t *) "v",
                                      1, 60000), TSR_OK);
    tsr_store_destroy(st);

    CU_ASSERT_EQUAL(tls_store("127.0.0.1 tls_verify=off", &st, err,
                              sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "need \"tls\""));

    CU_ASSERT_EQUAL(tls_store("rediss://127.0.0.1 tls_ca_file=/nonexistent",
                              &st, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent"));

    (void) tsr_test_redis_stop(&r);
}


static void
test_tls_redis_with_client_certificates(void)
{
    int                port;
    char               dir[256], addr[1024], err[256];
    tsr_store_t       *st;
    tsr_test_redis_t   r;

    if (tsr_test_redis_start_tls(&r, dir, sizeof(dir), &port, 1) != 0) {
        CU_FAIL("redis with TLS did not start");
        return;
    }

    /* without a certificate of its own the client is refused */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test", port,
             dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_NOT_EQUAL(tsr_store_set(st, "t:cc", 4, (const uint8_t *) "v",
                                      1, 60000), TSR_OK);
    printf("\n    no client certificate: %s ", tsr_store_error(st));
    tsr_store_destroy(st);

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_ca_file=%s/redis.crt tls_server_name=redis.test "
             "tls_cert_file=%s/other.crt tls_key_file=%s/other.key", port,
             dir, dir, dir);

    CU_ASSERT_EQUAL_FATAL(tls_store(addr, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(st), TSR_OK);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:cc", 4, (const uint8_t *) "v", 1,
                                  60000), TSR_OK);
    tsr_store_destroy(st);

    /* one without the other */

    snprintf(addr, sizeof(addr), "rediss://127.0.0.1:%d "
             "tls_cert_file=%s/other.crt", port, dir);
    CU_ASSERT_EQUAL(tls_store(addr, &st, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "go together"));

    (void) tsr_test_redis_stop(&r);
}


/*
 * redis://[user[:password]@]host[:port][/db], rediss://, unix:///path?db=N
 * as providers print them: parsed, percent-decoded, and working against a
 * real Redis with requirepass and with an ACL user; messages never show a
 * password written in one.
 */

static void
test_uri_addresses_parse_and_authenticate(void)
{
    char               a[512], err[256];
    size_t             len;
    uint8_t            val[16];
    tsr_store_t       *st;
    tsr_store_conf_t   conf;

    static char  buf[4096];

    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf,
                              "rediss://al%69ce:p%40ss@cache.example.net:6380/3",
                              buf, sizeof(buf), err, sizeof(err)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.user, "alice");
    CU_ASSERT_STRING_EQUAL(conf.password, "p@ss");
    CU_ASSERT_STRING_EQUAL(conf.host, "cache.example.net");
    CU_ASSERT_EQUAL(conf.port, 6380);
    CU_ASSERT_EQUAL(conf.db, 3);
    CU_ASSERT_EQUAL(conf.tls, 1);
    CU_ASSERT_STRING_EQUAL(conf.tls_server_name, "cache.example.net");

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf,
                              "unix:///run/redis/redis-server.sock?db=2", buf,
                              sizeof(buf), err, sizeof(err)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.unix_path, "/run/redis/redis-server.sock");
    CU_ASSERT_EQUAL(conf.db, 2);

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, "redis://[::1]", buf,
                              sizeof(buf), err, sizeof(err)), TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.host, "::1");
    CU_ASSERT_EQUAL(conf.port, 6379);
    CU_ASSERT_EQUAL(conf.tls, 0);

    /* errors in the user's words, without the password */

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf,
                        "redis://u:topsecret@127.0.0.1:99999", buf,
                        sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid port"));
    CU_ASSERT_PTR_NULL(strstr(err, "topsecret"));
    CU_ASSERT_PTR_NULL(strstr(err, "brackets"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "redis://u:topsecret@h/x",
                        buf, sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid database \"x\""));
    CU_ASSERT_PTR_NULL(strstr(err, "topsecret"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "redis://u:top%zzsecret@h",
                        buf, sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid password"));
    CU_ASSERT_PTR_NULL(strstr(err, "top"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "unix:///tmp/r.sock?x=1",
                        buf, sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "?db=N"));

    /* the user's own words, each said once */

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "redis://redis://h:1", buf,
                        sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "a scheme after \"redis://\": write it "
                                "once");

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "::1:6379", buf,
                        sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "an IPv6 address needs brackets, as in "
                                "\"[::1]:6379\"");

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "redis://h:99999", buf,
                        sizeof(buf), err, sizeof(err)), TSR_EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "invalid port in \"h:99999\": a number "
                                "from 1 to 65535 is expected");

    /* against real servers: requirepass, then an ACL user with a db */

    snprintf(a, sizeof(a), "redis://:s3cret%%20pass@127.0.0.1:%d",
             secured.port);
    CU_ASSERT_EQUAL_FATAL(tls_store(a, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:uri", 5, (const uint8_t *) "v1", 2,
                                  60000), TSR_OK);
    tsr_store_destroy(st);

    snprintf(a, sizeof(a), "redis://alice:secret@127.0.0.1:%d/5",
             redis.port);
    CU_ASSERT_EQUAL_FATAL(tls_store(a, &st, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(tsr_store_set(st, "t:uri", 5, (const uint8_t *) "v5", 2,
                                  60000), TSR_OK);
    len = sizeof(val);
    CU_ASSERT_EQUAL(tsr_store_get(st, "t:uri", 5, val, &len), TSR_OK);
    tsr_store_destroy(st);

    /* it went to db 5 */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, (char *) buf, sizeof(buf),
                                       "EXISTS t:uri"), 0);
    CU_ASSERT_STRING_EQUAL((char *) buf, "0");

    snprintf(a, sizeof(a), "redis://alice:wrong@127.0.0.1:%d", redis.port);
    CU_ASSERT_EQUAL_FATAL(tls_store(a, &st, err, sizeof(err)), 0);
    CU_ASSERT_NOT_EQUAL(tsr_store_set(st, "t:uri", 5, (const uint8_t *) "v",
                                      1, 60000), TSR_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(st), "WRONGPASS"));
    CU_ASSERT_PTR_NULL(strstr(tsr_store_error(st), "wrong@"));
    tsr_store_destroy(st);
}
