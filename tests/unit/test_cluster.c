
/*
 * The store on a real Redis Cluster (three masters, three replicas, on
 * loopback): hash slots as Redis computes them, the address forms,
 * routing by slot for the synchronous and the asynchronous client (one
 * connection per master), ASK and MOVED during a slot migration by hand
 * and during "redis-cli --cluster reshard" under load, a manual
 * failover and a master killed, destruction with lookups pending on
 * several masters, and seeds nobody listens on.  TSR_TEST_LONG=1 makes
 * the loads bigger.
 */


#include <errno.h>
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
#define CONF_SIZE    1024
#define OUT_SIZE     8192
#define TIMEOUT_MS   1000       /* generous: valgrind runs these too */
#define VAL_SIZE     160
#define KEYS         300
#define RECOVERY_MS  5000       /* a failover's, at most */
#define TSR_TEST_CLUSTER_RETIRE_MS  2000    /* TSR_CLUSTER_RETIRE */


typedef struct {
    int          err;
    int          moved;         /* "MOVED" redirections logged */
    int          ask;
    int          outside;       /* nodes refused by "allow=" */
    int          left;          /* nodes freed, having left the map */
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

typedef struct {
    long long    lookups;
    long long    hits;
    long long    wrong;         /* a value not the one written */
    long long    misses;
    long long    failed;        /* refused, errors, timeouts */
} tally_t;


static int init_suite(void);
static int clean_suite(void);
static int long_run(void);
static void base_conf(tsr_store_conf_t *conf, log_counts_t *log,
    const char *seeds);
static int start_async(fixture_t *f, const char *seeds);
static int start_sync(fixture_t *f, const char *seeds);
static void finish(fixture_t *f);
static int wait_up(fixture_t *f, int ms);
static int lookup(fixture_t *f, const char *key, int getdel,
    result_t *res);
static void count_lookup(fixture_t *f, const char *key, tally_t *t);
static int put(fixture_t *f, const char *key);
static void make_key(char *key, size_t len, const char *tag, int i);
static void value_of(const char *key, char *val, size_t len);
static int sync_check(tsr_store_t *st, const char *key);
static void on_done(int rc, const uint8_t *val, size_t len, void *arg);
static void on_count(int rc, const uint8_t *val, size_t len, void *arg);
static void count_log(int level, const char *msg, void *data);
static int node_id(int i, char *id);
static int other_master(int not);
static void test_key_slot_matches_cluster_keyslot(void);
static void test_conf_parse_cluster_and_sentinel_forms(void);
static void test_sync_client_routes_every_key_to_its_master(void);
static void test_async_store_keeps_one_connection_per_master(void);
static void test_ask_and_moved_during_slot_migration_by_hand(void);
static void test_lookups_survive_reshard_under_load(void);
static void test_manual_failover_is_followed(void);
static void test_killed_master_is_replaced_within_5s(void);
static void test_destroy_with_lookups_on_several_masters(void);
static void test_unreachable_seeds_refuse_without_waiting(void);
static void test_allow_keeps_credentials_from_other_networks(void);
static pid_t fake_node(int *port, int masters);
static void test_nodes_named_once_are_freed(void);
static void test_scripts_go_to_the_master_of_their_key(void);
static void test_ticket_ring_lives_on_the_master_of_its_slot(void);
static void test_scripts_follow_ask_and_moved(void);
static int eval_async(fixture_t *f, const char *key, result_t *res);
static tsr_tickets_t *make_ring(const char *seeds, int no_rotate,
    log_counts_t *log);
static void on_ring(int rc, const uint8_t *val, size_t len, void *arg);
static int key_slot(const char *key);


static tsr_test_cluster_t  cluster;

/* "allow=" of the stores started */
static const char         *allow;

/* set while tsr_store_get_async() runs; "done" must never see it */
static int                 in_get;
static int                 sync_done;

/* the fleet key of the ticket rings; a ring's value, as answered */
static tsr_keyring_t      *ring_keys;
static uint8_t             ring_val[TSR_MAX_VALUE];

/* a script answering as GET does */
static const char          get_script[] =
    "return redis.call('GET', KEYS[1])";


static int
init_suite(void)
{
    uint8_t  ikm[32];

    memset(ikm, 0x3c, sizeof(ikm));

    ring_keys = tsr_keyring_create(NULL, 0);
    if (ring_keys == NULL
        || tsr_keyring_add_key(ring_keys, ikm, sizeof(ikm), NULL, 0)
           != TSR_OK)
    {
        return -1;
    }

    return tsr_test_cluster_start(&cluster);
}


static int
clean_suite(void)
{
    tsr_keyring_destroy(ring_keys);

    return tsr_test_cluster_stop(&cluster);
}


static int
long_run(void)
{
    const char  *v;

    v = getenv("TSR_TEST_LONG");

    return v != NULL && v[0] != '\0' && v[0] != '0';
}


static void
base_conf(tsr_store_conf_t *conf, log_counts_t *log, const char *seeds)
{
    memset(conf, 0, sizeof(tsr_store_conf_t));
    conf->cluster = seeds;
    conf->connect_timeout_ms = TIMEOUT_MS;
    conf->command_timeout_ms = TIMEOUT_MS;
    conf->backoff_max_ms = 500;
    conf->allow = allow;
    conf->log = count_log;
    conf->log_data = log;
}


static int
start_async(fixture_t *f, const char *seeds)
{
    char              err[ERR_SIZE];
    tsr_loop_t        loop;
    tsr_store_conf_t  conf;

    memset(f, 0, sizeof(fixture_t));
    base_conf(&conf, &f->log, seeds);
    conf.never_block = 1;

    tsr_test_loop_init(&f->tl, &loop);
    f->tl.multi = 1;

    f->st = tsr_store_create(&conf, err, sizeof(err));
    if (f->st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
        return -1;
    }

    if (tsr_store_set_async(f->st, &loop, NULL) != TSR_OK) {
        fprintf(stderr, "tsr_store_set_async() failed: %s\n",
                tsr_store_error(f->st));
        return -1;
    }

    f->tl.store = f->st;

    return 0;
}


static int
start_sync(fixture_t *f, const char *seeds)
{
    char              err[ERR_SIZE];
    tsr_store_conf_t  conf;

    memset(f, 0, sizeof(fixture_t));
    base_conf(&conf, &f->log, seeds);

    f->st = tsr_store_create(&conf, err, sizeof(err));
    if (f->st == NULL) {
        fprintf(stderr, "tsr_store_create() failed: %s\n", err);
        return -1;
    }

    return 0;
}


/* destroys the store and checks what it did to the loop */

static void
finish(fixture_t *f)
{
    int  async;

    async = (f->tl.store != NULL);

    tsr_store_destroy(f->st);
    f->st = NULL;

    if (async) {
        CU_ASSERT_EQUAL(f->tl.nfds, 0);
        CU_ASSERT_EQUAL(f->tl.fd, -1);
        CU_ASSERT_EQUAL(f->tl.timer_at, 0);
        CU_ASSERT_EQUAL(f->tl.misuses, 0);
    }

    CU_ASSERT_EQUAL(sync_done, 0);
}


/* until every master of the map is connected */

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


/* a whole lookup: its rc, or -100 if refused or never answered */

static int
lookup(fixture_t *f, const char *key, int getdel, result_t *res)
{
    tsr_req_t  *req;

    memset(res, 0, sizeof(result_t));

    in_get = 1;
    req = tsr_store_get_async(f->st, key, strlen(key), getdel, TIMEOUT_MS,
                              on_done, res);
    in_get = 0;

    if (req == NULL) {
        return -100;
    }

    (void) tsr_test_loop_run(&f->tl, 2 * TIMEOUT_MS, &res->calls);

    return res->calls ? res->rc : -100;
}


/* a lookup of a key written before, counted in "t" */

static void
count_lookup(fixture_t *f, const char *key, tally_t *t)
{
    int       rc;
    char      val[VAL_SIZE];
    result_t  res;

    rc = lookup(f, key, 0, &res);
    t->lookups++;

    if (rc == TSR_OK) {
        value_of(key, val, sizeof(val));

        if (res.len == strlen(val) && memcmp(res.val, val, res.len) == 0) {
            t->hits++;

        } else {
            t->wrong++;
        }

    } else if (rc == TSR_NOT_FOUND) {
        t->misses++;

    } else {
        t->failed++;
    }
}


/* an asynchronous SET of the key's own value */

static int
put(fixture_t *f, const char *key)
{
    char  val[VAL_SIZE];

    value_of(key, val, sizeof(val));

    return tsr_store_set(f->st, key, strlen(key), (const uint8_t *) val,
                         strlen(val), 600000);
}


static void
make_key(char *key, size_t len, const char *tag, int i)
{
    snprintf(key, len, "tc:s:%s:%08x%08x", tag, (unsigned) i,
             (unsigned) (i * 2654435761u));
}


static void
value_of(const char *key, char *val, size_t len)
{
    snprintf(val, len, "value of %s", key);
}


/* a synchronous GET of a key with its own value: 0 or -1 */

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
on_count(int rc, const uint8_t *val, size_t len, void *arg)
{
    int  *calls = arg;

    if (in_get) {
        sync_done++;
    }

    (*calls)++;
}


static void
count_log(int level, const char *msg, void *data)
{
    log_counts_t  *counts = data;

    if (level == TSR_LOG_ERR) {
        counts->err++;
    }

    if (strstr(msg, ": MOVED of slot") != NULL) {
        counts->moved++;

    } else if (strstr(msg, ": ASK of slot") != NULL) {
        counts->ask++;

    } else if (strstr(msg, "outside \"allow=\"") != NULL) {
        counts->outside++;

    } else if (strstr(msg, "left the map") != NULL) {
        counts->left++;
    }

    snprintf(counts->last, sizeof(counts->last), "%s", msg);

    if (getenv("TSR_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "%lld [%d] %s\n", tsr_test_now_ms(), level, msg);
    }
}


static int
node_id(int i, char *id)
{
    return tsr_test_cluster_node_id(&cluster, i, id, 41);
}


/* a master other than node "not" */

static int
other_master(int not)
{
    int  i, m;

    for (i = 0; i < 16384; i += 1000) {
        m = tsr_test_cluster_master_of(&cluster, i, -1);

        if (m != -1 && m != not) {
            return m;
        }
    }

    return -1;
}


static void
test_key_slot_matches_cluster_keyslot(void)
{
    int     i, same;
    char    key[128], out[64];

    /* Redis' own examples */
    CU_ASSERT_EQUAL(tsr_store_key_slot("123456789", 9), 12739);
    CU_ASSERT_EQUAL(tsr_store_key_slot("{user1000}.following", 20),
                    tsr_store_key_slot("user1000", 8));
    CU_ASSERT_EQUAL(tsr_store_key_slot("foo{}{bar}", 10),
                    tsr_store_key_slot("foo{}{bar}", 10));
    CU_ASSERT_NOT_EQUAL(tsr_store_key_slot("foo{}{bar}", 10),
                        tsr_store_key_slot("bar", 3));
    CU_ASSERT_EQUAL(tsr_store_key_slot("foo{{bar}}zap", 13),
                    tsr_store_key_slot("{bar", 4));
    CU_ASSERT_EQUAL(tsr_store_key_slot("foo{bar}{zap}", 13),
                    tsr_store_key_slot("bar", 3));

    same = 0;

    for (i = 0; i < 200; i++) {
        if (i % 4 == 0) {
            snprintf(key, sizeof(key), "tsr:tk:{scope%d}:x", i);

        } else {
            make_key(key, sizeof(key), "slot", i);
        }

        if (tsr_test_redis_cmd(&cluster.node[0], out, sizeof(out),
                               "CLUSTER KEYSLOT %s", key)
            != 0)
        {
            CU_FAIL("CLUSTER KEYSLOT failed");
            return;
        }

        same += (atoi(out) == tsr_store_key_slot(key, strlen(key)));
    }

    CU_ASSERT_EQUAL(same, 200);
}


static void
test_conf_parse_cluster_and_sentinel_forms(void)
{
    int               fd;
    char              buf[CONF_SIZE], err[ERR_SIZE], pw[PATH_MAX + 16];
    char              addr[2 * PATH_MAX + 256];
    tsr_store_t      *st;
    tsr_store_conf_t  conf;

    snprintf(pw, sizeof(pw), "%s/pw", cluster.node[0].dir);
    fd = tsr_test_write_file(pw, "secret\n", 7, 0600);
    CU_ASSERT_EQUAL_FATAL(fd, 0);

    memset(&conf, 0, sizeof(conf));

    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf,
                              "cluster=127.0.0.1:7000,[::1]:7001,redis-a",
                              buf, sizeof(buf), err, sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.cluster,
                           "127.0.0.1:7000,[::1]:7001,redis-a");
    CU_ASSERT_PTR_NULL(conf.host);
    CU_ASSERT_PTR_NULL(conf.sentinels);

    snprintf(addr, sizeof(addr),
             "cluster=10.0.0.1:7000 user=alice password_file=%s db=0",
             pw);
    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, addr, buf, sizeof(buf),
                                         err, sizeof(err)),
                    TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.password, "secret");
    CU_ASSERT_STRING_EQUAL(conf.user, "alice");

    snprintf(addr, sizeof(addr),
             "sentinel=127.0.0.1:26379,127.0.0.2 master=mymaster db=2 "
             "sentinel_user=watch sentinel_password_file=%s "
             "password_file=%s", pw, pw);
    CU_ASSERT_EQUAL_FATAL(tsr_store_conf_parse(&conf, addr, buf,
                                               sizeof(buf), err,
                                               sizeof(err)),
                          TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.sentinels, "127.0.0.1:26379,127.0.0.2");
    CU_ASSERT_STRING_EQUAL(conf.master_name, "mymaster");
    CU_ASSERT_STRING_EQUAL(conf.sentinel_user, "watch");
    CU_ASSERT_STRING_EQUAL(conf.sentinel_password, "secret");
    CU_ASSERT_STRING_EQUAL(conf.password, "secret");
    CU_ASSERT_EQUAL(conf.db, 2);
    CU_ASSERT_PTR_NULL(conf.cluster);

    /* every bad form says what is wrong */

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=127.0.0.1:7000 db=3",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"db\" must be 0"));
    CU_ASSERT_PTR_NULL(conf.cluster);

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=", buf, sizeof(buf),
                                         err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no nodes"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=a:1,,b:2", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty node"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=a:1,b:0", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid port in "
                                       "\"b:0\""));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=::1:7000", buf,
                                         sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "brackets"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "sentinel=127.0.0.1:26379",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"master\""));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "127.0.0.1:6379 master=m",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a \"sentinel=\" address"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf,
                                         "sentinel=127.0.0.1 master=m "
                                         "sentinel_user=u",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sentinel_password_file"));

    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf,
                                         "sentinel=127.0.0.1 master=m "
                                         "master=n",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate redis parameter "
                                       "\"master\""));

    /* the structure itself is checked too */

    memset(&conf, 0, sizeof(conf));
    conf.cluster = "127.0.0.1:7000";
    conf.db = 1;
    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "db"));

    memset(&conf, 0, sizeof(conf));
    conf.sentinels = "127.0.0.1:26379";
    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "master name"));

    memset(&conf, 0, sizeof(conf));
    conf.cluster = "127.0.0.1:7000,nohost:";
    st = tsr_store_create(&conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "invalid port"));
}


static void
test_sync_client_routes_every_key_to_its_master(void)
{
    int                i, on_master, m, masters[3], nm, j;
    char               key[128], val[VAL_SIZE];
    size_t             len;
    uint8_t            buf[VAL_SIZE];
    fixture_t          f;
    unsigned char      raw[VAL_SIZE];
    tsr_store_stats_t  stats;

    CU_ASSERT_EQUAL_FATAL(start_sync(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL(tsr_store_connect(f.st), TSR_OK);

    on_master = 0;
    nm = 0;

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "sync", i);
        value_of(key, val, sizeof(val));

        CU_ASSERT_EQUAL(tsr_store_set(f.st, key, strlen(key),
                                      (const uint8_t *) val, strlen(val),
                                      600000),
                        TSR_OK);

        /* it is where the cluster says the slot is */

        m = tsr_test_cluster_master_of(&cluster,
                                       tsr_store_key_slot(key, strlen(key)),
                                       -1);
        len = sizeof(raw);

        if (m != -1
            && tsr_test_redis_get_raw(&cluster.node[m], key, raw, &len) == 0
            && len == strlen(val) && memcmp(raw, val, len) == 0)
        {
            on_master++;
        }

        for (j = 0; j < nm && masters[j] != m; j++) {
            /* void */
        }

        if (j == nm && nm < 3) {
            masters[nm++] = m;
        }
    }

    CU_ASSERT_EQUAL(on_master, KEYS);
    CU_ASSERT_EQUAL(nm, 3);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "sync", i);
        CU_ASSERT_EQUAL(sync_check(f.st, key), 0);
    }

    make_key(key, sizeof(key), "sync", 7);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_getdel(f.st, key, strlen(key), buf, &len),
                    TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(f.st, key, strlen(key), buf, &len),
                    TSR_NOT_FOUND);

    make_key(key, sizeof(key), "sync", 8);
    CU_ASSERT_EQUAL(tsr_store_del(f.st, key, strlen(key)), TSR_OK);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_get(f.st, key, strlen(key), buf, &len),
                    TSR_NOT_FOUND);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.sets, KEYS);
    CU_ASSERT_EQUAL(stats.hits, KEYS + 1);
    CU_ASSERT_EQUAL(stats.misses, 2);
    CU_ASSERT_EQUAL(stats.errors, 0);

    /* one connection per master (and the seed asked for the map) */
    CU_ASSERT(stats.connects >= 3 && stats.connects <= 4);

    finish(&f);
}


static void
test_async_store_keeps_one_connection_per_master(void)
{
    int                i;
    char               key[128];
    tally_t            t;
    fixture_t          f;
    tsr_store_stats_t  stats;

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "async", i);
        CU_ASSERT_EQUAL(put(&f, key), TSR_OK);
    }

    memset(&t, 0, sizeof(t));

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "async", i);
        count_lookup(&f, key, &t);
    }

    CU_ASSERT_EQUAL(t.hits, KEYS);

    tsr_store_stats(f.st, &stats);
    CU_ASSERT_EQUAL(stats.sets, KEYS);
    CU_ASSERT_EQUAL(stats.hits, KEYS);
    CU_ASSERT_EQUAL(stats.errors, 0);
    CU_ASSERT_EQUAL(stats.refused, 0);
    CU_ASSERT_EQUAL(f.log.moved, 0);

    /* the seeds that are replicas retire: three connections stay */

    (void) tsr_test_loop_run(&f.tl, 2500, NULL);

    CU_ASSERT_EQUAL(f.tl.nfds, 3);
    CU_ASSERT(f.tl.max_fds >= 3);
    CU_ASSERT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_UP);

    finish(&f);
}


/*
 * Slot migration as redis-cli does it, by hand and stopped half-way:
 * keys moved already answer ASK at the source, keys not yet moved are
 * served there, new keys go to the target after ASK; once the slot is
 * given to the target, MOVED, then no redirection at all.
 */

static void
test_ask_and_moved_during_slot_migration_by_hand(void)
{
    int        i, slot, src, dst, moved, ask;
    char       k1[64], k2[64], k3[64], out[OUT_SIZE], sid[48], did[48];
    char       port[16];
    result_t   res;
    fixture_t  f, s;

    snprintf(k1, sizeof(k1), "tc:{migrate}:one");
    snprintf(k2, sizeof(k2), "tc:{migrate}:two");
    snprintf(k3, sizeof(k3), "tc:{migrate}:three");

    slot = tsr_store_key_slot(k1, strlen(k1));
    CU_ASSERT_EQUAL_FATAL(slot, tsr_store_key_slot(k2, strlen(k2)));

    src = tsr_test_cluster_master_of(&cluster, slot, -1);
    dst = other_master(src);
    CU_ASSERT_FATAL(src != -1 && dst != -1);
    CU_ASSERT_EQUAL_FATAL(node_id(src, sid), 0);
    CU_ASSERT_EQUAL_FATAL(node_id(dst, did), 0);

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(start_sync(&s, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    CU_ASSERT_EQUAL(put(&f, k1), TSR_OK);
    CU_ASSERT_EQUAL(put(&f, k2), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, k2, 0, &res), TSR_OK);

    /* half-way: k1 moved, k2 not */

    tsr_test_redis_cmd(&cluster.node[dst], out, sizeof(out),
                       "CLUSTER SETSLOT %d IMPORTING %s", slot, sid);
    CU_ASSERT_STRING_EQUAL(out, "OK");
    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "CLUSTER SETSLOT %d MIGRATING %s", slot, did);
    CU_ASSERT_STRING_EQUAL(out, "OK");
    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s",
                       cluster.node[dst].port, "", (size_t) 0, k1);
    CU_ASSERT_STRING_EQUAL(out, "OK");

    CU_ASSERT_EQUAL(lookup(&f, k1, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, k2, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(put(&f, k3), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, k3, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(sync_check(s.st, k1), 0);
    CU_ASSERT_EQUAL(sync_check(s.st, k2), 0);
    CU_ASSERT_EQUAL(sync_check(s.st, k3), 0);
    CU_ASSERT(f.log.ask >= 2);
    CU_ASSERT(s.log.ask >= 1);
    CU_ASSERT_EQUAL(f.log.moved, 0);

    /* k3 went to the target: ASKING came first */
    tsr_test_redis_cmd(&cluster.node[dst], out, sizeof(out),
                       "CLUSTER COUNTKEYSINSLOT %d", slot);
    CU_ASSERT_EQUAL(atoi(out), 2);

    /* done: the rest moves and the slot is the target's everywhere */

    snprintf(port, sizeof(port), "%d", cluster.node[dst].port);
    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "MIGRATE 127.0.0.1 %s %b 0 5000 KEYS %s", port, "",
                       (size_t) 0, k2);
    CU_ASSERT_STRING_EQUAL(out, "OK");

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        tsr_test_redis_cmd(&cluster.node[i], out, sizeof(out),
                           "CLUSTER SETSLOT %d NODE %s", slot, did);
    }

    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 10000), 0);

    moved = f.log.moved;
    ask = f.log.ask;

    CU_ASSERT_EQUAL(lookup(&f, k1, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(f.log.moved, moved + 1);

    /* the map knows now */
    CU_ASSERT_EQUAL(lookup(&f, k2, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(lookup(&f, k3, 0, &res), TSR_OK);
    CU_ASSERT_EQUAL(f.log.moved, moved + 1);
    CU_ASSERT_EQUAL(f.log.ask, ask);

    CU_ASSERT_EQUAL(sync_check(s.st, k1), 0);
    CU_ASSERT_EQUAL(sync_check(s.st, k2), 0);
    CU_ASSERT(s.log.moved >= 1);

    finish(&f);
    finish(&s);
}


/*
 * "redis-cli --cluster reshard" moves slots while lookups of keys
 * written before and writes of new keys go on: every lookup finds its
 * value (ASK and MOVED followed), nothing is lost.
 */

static void
test_lookups_survive_reshard_under_load(void)
{
    int         i, n, src, dst, slots, rc, status;
    char        key[128], sid[48], did[48], seed[32], count[16];
    char        log[PATH_MAX + 16];
    pid_t       pid;
    tally_t     old, fresh;
    fixture_t   f;
    long long   start, elapsed;

    n = long_run() ? 5000 : 1000;
    slots = long_run() ? 4000 : 1500;

    src = tsr_test_cluster_master_of(&cluster, 0, -1);
    dst = other_master(src);
    CU_ASSERT_FATAL(src != -1 && dst != -1);
    CU_ASSERT_EQUAL_FATAL(node_id(src, sid), 0);
    CU_ASSERT_EQUAL_FATAL(node_id(dst, did), 0);

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    for (i = 0; i < n; i++) {
        make_key(key, sizeof(key), "reshard", i);
        (void) put(&f, key);

        if (i % 100 == 99) {
            (void) tsr_test_loop_run(&f.tl, 5, NULL);
        }
    }

    (void) tsr_test_loop_run(&f.tl, 100, NULL);

    snprintf(seed, sizeof(seed), "127.0.0.1:%d", cluster.node[src].port);
    snprintf(count, sizeof(count), "%d", slots);
    snprintf(log, sizeof(log), "%s/reshard.log", cluster.node[0].dir);

    pid = tsr_test_redis_cli_spawn(log, "--cluster", "reshard", seed,
                                   "--cluster-from", sid,
                                   "--cluster-to", did,
                                   "--cluster-slots", count,
                                   "--cluster-yes",
                                   "--cluster-pipeline", "20", NULL);
    CU_ASSERT_FATAL(pid != -1);

    memset(&old, 0, sizeof(old));
    memset(&fresh, 0, sizeof(fresh));

    start = tsr_test_now_ms();
    rc = -1;

    for (i = 0; tsr_test_now_ms() - start < 60000; i++) {
        make_key(key, sizeof(key), "reshard", (i * 7919) % n);
        count_lookup(&f, key, &old);

        make_key(key, sizeof(key), "fresh", i);
        (void) put(&f, key);
        count_lookup(&f, key, &fresh);

        if (i % 20 == 0 && waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            pid = -1;
            break;
        }
    }

    elapsed = tsr_test_now_ms() - start;

    if (pid != -1) {
        rc = tsr_test_wait_child(pid, 30000);
    }

    CU_ASSERT_EQUAL(rc, 0);

    printf("\n    reshard of %d slots in %lld ms: %lld lookups of old keys, "
           "%lld hits, %lld misses, %lld failed; %lld writes of new keys "
           "read back, %lld hits, %lld misses, %lld failed; %d MOVED, %d "
           "ASK ", slots, elapsed, old.lookups, old.hits, old.misses,
           old.failed, fresh.lookups, fresh.hits, fresh.misses,
           fresh.failed, f.log.moved, f.log.ask);

    CU_ASSERT(old.lookups > 100);
    CU_ASSERT_EQUAL(old.hits, old.lookups);
    CU_ASSERT_EQUAL(old.wrong + fresh.wrong, 0);
    CU_ASSERT_EQUAL(fresh.hits, fresh.lookups);
    CU_ASSERT(f.log.moved >= 1);

    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 10000), 0);

    /* afterwards every key is where it belongs, and found */

    memset(&old, 0, sizeof(old));

    for (i = 0; i < n; i += 7) {
        make_key(key, sizeof(key), "reshard", i);
        count_lookup(&f, key, &old);
    }

    CU_ASSERT_EQUAL(old.hits, old.lookups);

    finish(&f);
}


/*
 * CLUSTER FAILOVER on a replica: the old master answers MOVED, the map
 * is read again, and lookups of its slots find their values on the new
 * master.
 */

static void
test_manual_failover_is_followed(void)
{
    int         i, slot, m, r, ok;
    char        key[128], out[OUT_SIZE];
    tally_t     t;
    fixture_t   f, s;
    long long   start, back;

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(start_sync(&s, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    slot = 0;
    m = tsr_test_cluster_master_of(&cluster, slot, -1);
    r = tsr_test_cluster_replica_of(&cluster, m);
    CU_ASSERT_FATAL(m != -1 && r != -1);

    /* keys of that master, replicated */

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "manual", i);
        (void) put(&f, key);
    }

    (void) tsr_test_loop_run(&f.tl, 100, NULL);
    CU_ASSERT_EQUAL(tsr_test_redis_replicated(&cluster.node[m],
                                              &cluster.node[r], 10000), 0);

    tsr_test_redis_cmd(&cluster.node[r], out, sizeof(out),
                       "CLUSTER FAILOVER");
    CU_ASSERT_STRING_EQUAL(out, "OK");

    start = tsr_test_now_ms();
    back = -1;

    /* until every key of a round is found */

    while (tsr_test_now_ms() - start < RECOVERY_MS * 2) {
        memset(&t, 0, sizeof(t));

        for (i = 0; i < KEYS; i += 10) {
            make_key(key, sizeof(key), "manual", i);
            count_lookup(&f, key, &t);
        }

        ok = (t.hits == t.lookups
              && tsr_test_cluster_master_of(&cluster, slot, -1) == r);

        if (ok) {
            back = tsr_test_now_ms() - start;
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 20, NULL);
    }

    printf("\n    manual failover: every lookup found again after %lld ms ",
           back);

    CU_ASSERT(back != -1 && back <= RECOVERY_MS);
    CU_ASSERT_EQUAL(t.wrong, 0);

    /* the synchronous client too */
    for (i = 0; i < KEYS; i += 10) {
        make_key(key, sizeof(key), "manual", i);
        CU_ASSERT_EQUAL(sync_check(s.st, key), 0);
    }

    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 10000), 0);

    finish(&f);
    finish(&s);
}


/*
 * A master killed: its slots are refused (a full handshake for nginx,
 * never a wait) until its replica is elected; then the map is read
 * again and the values written before the kill are found there.  The
 * killed node comes back as a replica.
 */

static void
test_killed_master_is_replaced_within_5s(void)
{
    int         i, slot, m, r, ok;
    char        key[128];
    tally_t     t, total;
    fixture_t   f, s;
    long long   start, back, slowest, t0;

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(start_sync(&s, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    slot = 16000;
    m = tsr_test_cluster_master_of(&cluster, slot, -1);
    r = tsr_test_cluster_replica_of(&cluster, m);
    CU_ASSERT_FATAL(m != -1 && r != -1);

    for (i = 0; i < KEYS; i++) {
        make_key(key, sizeof(key), "killed", i);
        (void) put(&f, key);
    }

    (void) tsr_test_loop_run(&f.tl, 100, NULL);
    CU_ASSERT_EQUAL(tsr_test_redis_replicated(&cluster.node[m],
                                              &cluster.node[r], 10000), 0);

    CU_ASSERT_EQUAL(tsr_test_redis_signal(&cluster.node[m], SIGKILL), 0);
    (void) tsr_test_wait_child(cluster.node[m].pid, 5000);
    cluster.node[m].pid = 0;

    start = tsr_test_now_ms();
    back = -1;
    slowest = 0;
    memset(&total, 0, sizeof(total));

    while (tsr_test_now_ms() - start < RECOVERY_MS * 3) {
        memset(&t, 0, sizeof(t));

        for (i = 0; i < KEYS; i += 10) {
            make_key(key, sizeof(key), "killed", i);

            t0 = tsr_test_now_ms();
            count_lookup(&f, key, &t);

            if (tsr_test_now_ms() - t0 > slowest) {
                slowest = tsr_test_now_ms() - t0;
            }
        }

        total.lookups += t.lookups;
        total.failed += t.failed;

        ok = (t.hits == t.lookups);

        if (ok) {
            back = tsr_test_now_ms() - start;
            break;
        }

        (void) tsr_test_loop_run(&f.tl, 20, NULL);
    }

    printf("\n    master killed: every lookup found again after %lld ms "
           "(%lld lookups failed meanwhile, the slowest took %lld ms) ",
           back, total.failed, slowest);

    CU_ASSERT(back != -1 && back <= RECOVERY_MS);
    CU_ASSERT_EQUAL(t.wrong, 0);

    /* failing never meant waiting: refused at once or a fast error */
    CU_ASSERT(slowest < TIMEOUT_MS);

    for (i = 0; i < KEYS; i += 10) {
        make_key(key, sizeof(key), "killed", i);
        CU_ASSERT_EQUAL(sync_check(s.st, key), 0);
    }

    /* nothing spun meanwhile */
    CU_ASSERT_EQUAL(f.tl.misuses, 0);

    /* the old master rejoins as a replica */

    CU_ASSERT_EQUAL(tsr_test_redis_start(&cluster.node[m]), 0);
    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 20000), 0);

    finish(&f);
    finish(&s);
}


static void
test_destroy_with_lookups_on_several_masters(void)
{
    int          i, calls;
    char         key[128];
    fixture_t    f;
    tsr_req_t   *req;

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    calls = 0;

    for (i = 0; i < 30; i++) {
        make_key(key, sizeof(key), "destroy", i);

        in_get = 1;
        req = tsr_store_get_async(f.st, key, strlen(key), i % 2, TIMEOUT_MS,
                                  on_count, &calls);
        in_get = 0;

        CU_ASSERT_PTR_NOT_NULL(req);
    }

    CU_ASSERT_EQUAL(tsr_store_inflight(f.st), 30);

    finish(&f);

    CU_ASSERT_EQUAL(calls, 0);
}


static void
test_unreachable_seeds_refuse_without_waiting(void)
{
    int          rc;
    char         seeds[64], key[] = "tc:nowhere";
    size_t       len;
    uint8_t      buf[16];
    result_t     res;
    fixture_t    f;
    long long    t0, took;

    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d",
             tsr_test_free_port(), tsr_test_free_port());

    CU_ASSERT_EQUAL_FATAL(start_async(&f, seeds), 0);

    (void) tsr_test_loop_run(&f.tl, 300, NULL);

    t0 = tsr_test_now_ms();
    CU_ASSERT_EQUAL(lookup(&f, key, 0, &res), -100);
    took = tsr_test_now_ms() - t0;

    /* refused at once, not after a connect timeout (busy machines) */
    CU_ASSERT(took < TIMEOUT_MS / 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(f.st), "connected"));
    CU_ASSERT_EQUAL(tsr_store_state(f.st), TSR_STORE_STATE_DOWN);

    /* writes are dropped, and counted */
    CU_ASSERT_EQUAL(put(&f, key), TSR_OK);

    /* backing off, not spinning: a few timers a second at most */
    f.tl.timers = 0;
    (void) tsr_test_loop_run(&f.tl, 1000, NULL);
    CU_ASSERT(f.tl.timers < 100);

    finish(&f);

    CU_ASSERT_EQUAL_FATAL(start_sync(&f, seeds), 0);

    t0 = tsr_test_now_ms();
    len = sizeof(buf);
    rc = tsr_store_get(f.st, key, strlen(key), buf, &len);
    took = tsr_test_now_ms() - t0;

    CU_ASSERT(rc == TSR_ECONN || rc == TSR_ETIMEDOUT);
    CU_ASSERT(took < 2 * TIMEOUT_MS);

    finish(&f);
}


/*
 * Discovered nodes get the credentials: with "allow=" only those inside
 * its networks are created.  One seed of the real cluster: outside
 * 10.0.0.0/8 the other masters are refused and their keys fail; inside
 * 127.0.0.0/8 every key is served.
 */

static void
test_allow_keeps_credentials_from_other_networks(void)
{
    int               i, ok;
    char              seed[64], key[64], buf[256], err[ERR_SIZE];
    result_t          res;
    fixture_t         f;
    tsr_store_conf_t  conf;

    /* the parameter's forms */


    CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, "cluster=127.0.0.1:1 "
                                         "allow=10.0.0.0/8,::1,fd00::/8",
                                         buf, sizeof(buf), err, sizeof(err)),
                    TSR_OK);
    CU_ASSERT_STRING_EQUAL(conf.allow, "10.0.0.0/8,::1,fd00::/8");

    for (i = 0; i < 6; i++) {
        static const char *const  bad[] = {
            "cluster=127.0.0.1:1 allow=10.0.0.0/33",
            "cluster=127.0.0.1:1 allow=10.0.0.0/",
            "cluster=127.0.0.1:1 allow=10.0.0",
            "cluster=127.0.0.1:1 allow=10.0.0.0/8,",
            "cluster=127.0.0.1:1 allow=fd00::/129",
            "cluster=127.0.0.1:1 allow=host.example"
        };

        CU_ASSERT_EQUAL(tsr_store_conf_parse(&conf, bad[i], buf, sizeof(buf),
                                             err, sizeof(err)),
                        TSR_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "allow="));
    }

    memset(&conf, 0, sizeof(tsr_store_conf_t));
    conf.allow = "10.0.0.0/8";
    CU_ASSERT_PTR_NULL(tsr_store_create(&conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs a \"cluster=\""));

    snprintf(seed, sizeof(seed), "127.0.0.1:%d", cluster.node[0].port);

    allow = "10.0.0.0/8,fd00::/8";
    CU_ASSERT_EQUAL_FATAL(start_async(&f, seed), 0);

    (void) tsr_test_loop_run(&f.tl, 1000, NULL);

    ok = 0;

    for (i = 0; i < 30; i++) {
        make_key(key, sizeof(key), "allow", i);
        ok += (put(&f, key) == TSR_OK && lookup(&f, key, 0, &res) == TSR_OK);
    }

    printf("\n    allow=%s: %d nodes refused, %d of 30 keys served (those "
           "of the seed's slots)", allow, f.log.outside, ok);

    CU_ASSERT(f.log.outside >= 2);
    CU_ASSERT(ok < 30);
    CU_ASSERT_EQUAL(f.tl.nfds, 1);

    finish(&f);

    allow = "10.0.0.0/8,127.0.0.0/8";
    CU_ASSERT_EQUAL_FATAL(start_async(&f, seed), 0);
    CU_ASSERT_EQUAL(wait_up(&f, 5000), 0);

    ok = 0;

    for (i = 0; i < 30; i++) {
        make_key(key, sizeof(key), "allow", i);
        ok += (put(&f, key) == TSR_OK && lookup(&f, key, 0, &res) == TSR_OK);
    }

    printf("\n    allow=%s: %d nodes refused, %d of 30 keys served ", allow,
           f.log.outside, ok);

    CU_ASSERT_EQUAL(f.log.outside, 0);
    CU_ASSERT_EQUAL(ok, 30);

    finish(&f);

    allow = NULL;
}


/*
 * A fake cluster node: its first CLUSTER SLOTS names "masters" masters
 * at ports nobody listens on, every later one names itself alone.
 * PING is answered, anything else +OK.  It lives until killed.
 */

static pid_t
fake_node(int *port, int masters)
{
    int                 lfd, fd, one, i, asked, k;
    char                buf[4096], *reply, *p;
    pid_t               pid;
    size_t              size;
    ssize_t             r;
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

    if (pid != 0) {
        close(lfd);
        return pid;
    }

    size = (size_t) masters * 64 + 256;
    reply = malloc(size);
    if (reply == NULL) {
        _exit(1);
    }

    asked = 0;

    for (k = 0; k < 1000; k++) {
        fd = accept(lfd, NULL, NULL);
        if (fd == -1) {
            continue;
        }

        while ((r = read(fd, buf, sizeof(buf) - 1)) > 0) {
            buf[r] = '\0';

            if (strstr(buf, "SLOTS") != NULL && asked++ == 0) {
                p = reply + sprintf(reply, "*%d\r\n", masters);

                for (i = 0; i < masters; i++) {
                    p += sprintf(p, "*3\r\n:%d\r\n:%d\r\n*2\r\n$9\r\n"
                                 "127.0.0.1\r\n:%d\r\n", i * 16, i * 16 + 15,
                                 1 + i);
                }

            } else if (strstr(buf, "SLOTS") != NULL) {
                sprintf(reply, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n"
                        "127.0.0.1\r\n:%d\r\n", *port);

            } else if (strstr(buf, "PING") != NULL) {
                strcpy(reply, "+PONG\r\n");

            } else {
                strcpy(reply, "+OK\r\n");
            }

            if (write(fd, reply, strlen(reply)) < 0) {
                break;
            }
        }

        close(fd);
    }

    _exit(0);
}


/*
 * A node that names 60 masters once (the test loop watches 64 sockets at
 * most) and then only itself: those 60 nodes are retired and freed, not
 * kept for good; the seed stays.
 */

static void
test_nodes_named_once_are_freed(void)
{
    int          port;
    char         seed[64];
    pid_t        pid;
    fixture_t    f;
    long long    end;

    port = 0;
    pid = fake_node(&port, 60);
    CU_ASSERT_FATAL(pid > 0);

    snprintf(seed, sizeof(seed), "127.0.0.1:%d", port);

    CU_ASSERT_EQUAL_FATAL(start_async(&f, seed), 0);

    end = tsr_test_now_ms() + 3 * TSR_TEST_CLUSTER_RETIRE_MS;

    while (f.log.left < 60 && tsr_test_now_ms() < end) {
        (void) tsr_test_loop_run(&f.tl, 50, NULL);
    }

    printf("\n    a map of 60 masters, then of one: %d nodes freed, %d "
           "sockets open ", f.log.left, f.tl.nfds);

    CU_ASSERT_EQUAL(f.log.left, 60);
    CU_ASSERT(f.tl.nfds <= 1);

    finish(&f);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}


/*
 * A script runs where GET of its key goes: on the master of the key's
 * slot, synchronously and asynchronously, with no redirection once the
 * map is known; a script that reads and writes its key answers with the
 * value it wrote, so a script sent to the wrong master would be refused.
 */

static void
test_scripts_go_to_the_master_of_their_key(void)
{
    int          i, m, used[TSR_TEST_CLUSTER_NODES], masters;
    char         key[64], val[VAL_SIZE];
    size_t       len;
    uint8_t      buf[VAL_SIZE];
    fixture_t    f, s;
    result_t     res;
    tsr_req_t   *req;
    const char  *argv[1];

    static const char  script[] =
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', 600000) "
        "return redis.call('GET', KEYS[1])";
    static const char  fails[] = "return redis.error_reply('ERR no')";

    CU_ASSERT_EQUAL_FATAL(start_sync(&s, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    memset(used, 0, sizeof(used));

    for (i = 0; i < 60; i++) {
        make_key(key, sizeof(key), "eval", i);
        value_of(key, val, sizeof(val));
        argv[0] = val;

        /* synchronous */

        len = sizeof(buf);
        CU_ASSERT_EQUAL(tsr_store_eval(s.st, script, sizeof(script) - 1,
                                       key, strlen(key), 1, argv, NULL,
                                       buf, &len),
                        TSR_OK);
        CU_ASSERT(len == strlen(val) && memcmp(buf, val, len) == 0);

        /* asynchronous, on the worker's loop */

        memset(&res, 0, sizeof(result_t));

        in_get = 1;
        req = tsr_store_eval_async(f.st, script, sizeof(script) - 1, key,
                                   strlen(key), 1, argv, NULL, TIMEOUT_MS,
                                   on_done, &res);
        in_get = 0;

        CU_ASSERT_PTR_NOT_NULL(req);

        if (req != NULL) {
            (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &res.calls);
        }

        CU_ASSERT_EQUAL(res.calls, 1);
        CU_ASSERT_EQUAL(res.rc, TSR_OK);
        CU_ASSERT(res.len == strlen(val) && memcmp(res.val, val, res.len)
                  == 0);

        /* the key is on the master of its slot */

        m = tsr_test_cluster_master_of(&cluster,
                                       key_slot(key), -1);
        CU_ASSERT_FATAL(m != -1);
        used[m] = 1;
    }

    for (i = 0, masters = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        masters += used[i];
    }

    /* every master ran some; none was reached through a redirection */

    CU_ASSERT_EQUAL(masters, 3);
    CU_ASSERT_EQUAL(s.log.moved, 0);
    CU_ASSERT_EQUAL(f.log.moved, 0);
    CU_ASSERT_EQUAL(s.log.err, 0);
    CU_ASSERT_EQUAL(f.log.err, 0);

    /* nil is a miss, an error reply an error, as for GET */

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_eval(s.st, "return false", 12, "tc:nokey", 8,
                                   0, NULL, NULL, buf, &len),
                    TSR_NOT_FOUND);
    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_eval(s.st, fails, sizeof(fails) - 1,
                                   "tc:nokey", 8, 0, NULL, NULL, buf, &len),
                    TSR_ESERVER);
    CU_ASSERT_PTR_NOT_NULL(strstr(tsr_store_error(s.st), "ERR no"));

    finish(&f);
    finish(&s);
}


/*
 * Fleet ticket keys with a cluster= address: the ring is created,
 * loaded and rotated through a seed node that does not serve the ring's
 * key, and its rotation on the worker's loop reaches the same master.
 */

static void
test_ticket_ring_lives_on_the_master_of_its_slot(void)
{
    int                  m, seed, rc;
    char                 name[TSR_MAX_KEY_NAME + 1], seeds[64];
    char                 out[OUT_SIZE];
    fixture_t            f;
    log_counts_t         log, rlog;
    tsr_req_t           *req;
    tsr_tickets_t       *t, *reader;
    tsr_tickets_info_t   info;
    tsr_tickets_stats_t  stats;
    ring_res_t           res;

    memset(&log, 0, sizeof(log));
    memset(&rlog, 0, sizeof(rlog));

    /* the master of the ring's slot, and another one as the only seed */

    t = make_ring(cluster.seeds, 0, &log);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT(tsr_tickets_ring_key(t, name, sizeof(name)) > 0);
    tsr_tickets_destroy(t);

    m = tsr_test_cluster_master_of(&cluster, key_slot(name),
                                   -1);
    CU_ASSERT_FATAL(m != -1);

    seed = other_master(m);
    CU_ASSERT_FATAL(seed != -1 && seed != m);

    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", cluster.node[seed].port);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cluster.node[m], out, sizeof(out),
                                       "DEL %s", name), 0);

    t = make_ring(seeds, 0, &log);
    reader = make_ring(seeds, 1, &rlog);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reader);

    /* nothing yet: the reader finds no ring, the writer creates it */

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_NOT_FOUND);

    rc = tsr_tickets_sync(t);
    CU_ASSERT_EQUAL(rc, TSR_OK);
    if (rc != TSR_OK) {
        fprintf(stderr, "tsr_tickets_sync(): %s\n", tsr_tickets_error(t));
    }

    CU_ASSERT_EQUAL(tsr_tickets_info(t, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 1);
    tsr_tickets_stats(t, &stats);
    CU_ASSERT_EQUAL(stats.rotations, 1);

    /* on the master of its slot, not on the seed */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cluster.node[m], out, sizeof(out),
                                       "EXISTS %s", name), 0);
    CU_ASSERT_STRING_EQUAL(out, "1");
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cluster.node[seed], out,
                                       sizeof(out), "EXISTS %s", name), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "MOVED"));

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_info(reader, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 1);

    /* rotated synchronously (tsr-admin's way) */

    CU_ASSERT_EQUAL(tsr_tickets_rotate_now(t), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_info(t, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 2);

    CU_ASSERT_EQUAL(tsr_tickets_sync(reader), TSR_OK);
    CU_ASSERT_EQUAL(tsr_tickets_info(reader, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 2);

    /* and on a worker's loop, through an asynchronous cluster store */

    CU_ASSERT_EQUAL_FATAL(start_async(&f, seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    memset(&res, 0, sizeof(res));

    req = tsr_tickets_rotate_async(t, f.st, TIMEOUT_MS, on_ring, &res);
    CU_ASSERT_PTR_NOT_NULL(req);

    if (req != NULL) {
        (void) tsr_test_loop_run(&f.tl, 2 * TIMEOUT_MS, &res.calls);
    }

    CU_ASSERT_EQUAL(res.calls, 1);
    CU_ASSERT_EQUAL(res.rc, TSR_OK);

    if (res.rc == TSR_OK) {
        /* not due yet: it answers with the ring stored, unchanged */
        CU_ASSERT_EQUAL(tsr_tickets_load_value(t, ring_val, res.len),
                        TSR_OK);
    }

    CU_ASSERT_EQUAL(tsr_tickets_info(t, &info), TSR_OK);
    CU_ASSERT_EQUAL(info.gen, 2);

    CU_ASSERT_EQUAL(f.log.err, 0);
    CU_ASSERT_EQUAL(log.err, 0);
    CU_ASSERT_EQUAL(rlog.err, 0);

    finish(&f);

    tsr_tickets_destroy(reader);
    tsr_tickets_destroy(t);
}


static tsr_tickets_t *
make_ring(const char *seeds, int no_rotate, log_counts_t *log)
{
    char                 err[ERR_SIZE];
    tsr_tickets_t       *t;
    tsr_store_conf_t     conf;
    tsr_tickets_conf_t   tconf;

    base_conf(&conf, log, seeds);

    memset(&tconf, 0, sizeof(tsr_tickets_conf_t));
    tconf.store_conf = &conf;
    tconf.keys = ring_keys;
    tconf.scope = "cluster-test";
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


/*
 * A script follows redirections as GET does: during a migration the
 * source answers ASK for a key it gave away, and the script goes to the
 * target after ASKING; once the slot has moved, MOVED, and the
 * asynchronous script is sent again, as formatted, to the node named.
 */

static void
test_scripts_follow_ask_and_moved(void)
{
    int        i, slot, src, dst, moved, ask;
    char       k1[64], k2[64], val[VAL_SIZE], out[OUT_SIZE];
    char       sid[48], did[48];
    size_t     len;
    uint8_t    buf[VAL_SIZE];
    result_t   res;
    fixture_t  f, s;

    snprintf(k1, sizeof(k1), "tc:{evalmig}:one");
    snprintf(k2, sizeof(k2), "tc:{evalmig}:two");

    slot = key_slot(k1);
    CU_ASSERT_EQUAL_FATAL(slot, key_slot(k2));

    src = tsr_test_cluster_master_of(&cluster, slot, -1);
    dst = other_master(src);
    CU_ASSERT_FATAL(src != -1 && dst != -1);
    CU_ASSERT_EQUAL_FATAL(node_id(src, sid), 0);
    CU_ASSERT_EQUAL_FATAL(node_id(dst, did), 0);

    CU_ASSERT_EQUAL_FATAL(start_async(&f, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(start_sync(&s, cluster.seeds), 0);
    CU_ASSERT_EQUAL_FATAL(wait_up(&f, 5000), 0);

    CU_ASSERT_EQUAL(put(&f, k1), TSR_OK);
    CU_ASSERT_EQUAL(put(&f, k2), TSR_OK);
    CU_ASSERT_EQUAL(eval_async(&f, k2, &res), TSR_OK);

    /* half-way: k1 moved, k2 not */

    tsr_test_redis_cmd(&cluster.node[dst], out, sizeof(out),
                       "CLUSTER SETSLOT %d IMPORTING %s", slot, sid);
    CU_ASSERT_STRING_EQUAL(out, "OK");
    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "CLUSTER SETSLOT %d MIGRATING %s", slot, did);
    CU_ASSERT_STRING_EQUAL(out, "OK");
    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s",
                       cluster.node[dst].port, "", (size_t) 0, k1);
    CU_ASSERT_STRING_EQUAL(out, "OK");

    ask = f.log.ask;

    CU_ASSERT_EQUAL(eval_async(&f, k1, &res), TSR_OK);
    value_of(k1, val, sizeof(val));
    CU_ASSERT(res.len == strlen(val) && memcmp(res.val, val, res.len) == 0);
    CU_ASSERT(f.log.ask > ask);
    CU_ASSERT_EQUAL(eval_async(&f, k2, &res), TSR_OK);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_eval(s.st, get_script, sizeof(get_script) - 1,
                                   k1, strlen(k1), 0, NULL, NULL, buf,
                                   &len),
                    TSR_OK);
    CU_ASSERT(len == strlen(val) && memcmp(buf, val, len) == 0);
    CU_ASSERT(s.log.ask >= 1);

    /* done: the slot is the target's everywhere */

    tsr_test_redis_cmd(&cluster.node[src], out, sizeof(out),
                       "MIGRATE 127.0.0.1 %d %b 0 5000 KEYS %s",
                       cluster.node[dst].port, "", (size_t) 0, k2);
    CU_ASSERT_STRING_EQUAL(out, "OK");

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        tsr_test_redis_cmd(&cluster.node[i], out, sizeof(out),
                           "CLUSTER SETSLOT %d NODE %s", slot, did);
    }

    CU_ASSERT_EQUAL(tsr_test_cluster_wait_ok(&cluster, 10000), 0);

    moved = f.log.moved;

    CU_ASSERT_EQUAL(eval_async(&f, k2, &res), TSR_OK);
    value_of(k2, val, sizeof(val));
    CU_ASSERT(res.len == strlen(val) && memcmp(res.val, val, res.len) == 0);
    CU_ASSERT_EQUAL(f.log.moved, moved + 1);

    len = sizeof(buf);
    CU_ASSERT_EQUAL(tsr_store_eval(s.st, get_script, sizeof(get_script) - 1,
                                   k2, strlen(k2), 0, NULL, NULL, buf,
                                   &len),
                    TSR_OK);
    CU_ASSERT(len == strlen(val) && memcmp(buf, val, len) == 0);
    CU_ASSERT(s.log.moved >= 1);

    finish(&f);
    finish(&s);
}


/* the GET script on the loop: its rc, or -100 if refused or unanswered */

static int
eval_async(fixture_t *f, const char *key, result_t *res)
{
    tsr_req_t  *req;

    memset(res, 0, sizeof(result_t));

    in_get = 1;
    req = tsr_store_eval_async(f->st, get_script, sizeof(get_script) - 1,
                               key, strlen(key), 0, NULL, NULL, TIMEOUT_MS,
                               on_done, res);
    in_get = 0;

    if (req == NULL) {
        return -100;
    }

    (void) tsr_test_loop_run(&f->tl, 2 * TIMEOUT_MS, &res->calls);

    return res->calls ? res->rc : -100;
}


/* the slot of "key" as Redis computes it, or -1 */

static int
key_slot(const char *key)
{
    char  out[64];

    if (tsr_test_redis_cmd(&cluster.node[0], out, sizeof(out),
                           "CLUSTER KEYSLOT %s", key)
        != 0)
    {
        return -1;
    }

    return atoi(out);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(key_slot_matches_cluster_keyslot),
        TSR_TEST(conf_parse_cluster_and_sentinel_forms),
        TSR_TEST(sync_client_routes_every_key_to_its_master),
        TSR_TEST(async_store_keeps_one_connection_per_master),
        TSR_TEST(ask_and_moved_during_slot_migration_by_hand),
        TSR_TEST(lookups_survive_reshard_under_load),
        TSR_TEST(manual_failover_is_followed),
        TSR_TEST(destroy_with_lookups_on_several_masters),
        TSR_TEST(unreachable_seeds_refuse_without_waiting),
        TSR_TEST(allow_keeps_credentials_from_other_networks),
        TSR_TEST(nodes_named_once_are_freed),
        TSR_TEST(scripts_go_to_the_master_of_their_key),
        TSR_TEST(ticket_ring_lives_on_the_master_of_its_slot),
        TSR_TEST(scripts_follow_ask_and_moved),
        TSR_TEST(killed_master_is_replaced_within_5s)
    };

    /* a write to a connection Redis closed must not kill the program */
    (void) signal(SIGPIPE, SIG_IGN);

    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");
    (void) tsr_test_require("TSR_REDIS_CLI", "redis-cli", "redis-tools");

    return TSR_TEST_MAIN("cluster", init_suite, clean_suite, tests);
}
