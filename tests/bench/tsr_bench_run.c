
/*
 * The benchmark runner: a private redis-server (and a proxy that makes it
 * answer 20 ms late), nginx nodes with one worker each in four
 * configurations, and the load generator (tsr-bench) run against them
 * case by case, configurations alternating within each repetition so that
 * a noisy neighbour hurts all of them alike, each case at several levels
 * of connections in flight (1, 8 and 64 by default: a real worker has
 * many handshakes in flight, and batching per loop turn is what a shared
 * store gains from that).  Per case and level: handshakes/s, worker CPU
 * per handshake, resumption rate, latency percentiles, Redis commands per
 * handshake (INFO commandstats deltas), Redis CPU per command (INFO cpu),
 * commands per write (the module's own counters, where it has them); the
 * median of the repetitions.  Then a slow-Redis latency test, a memory
 * test, and the ratios the design sets as targets, at the highest level.
 * Writes bench.json, bench.md (the tables for the README) and bench.png
 * (gnuplot) to the output directory.
 */


#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define RUN_MAX_REPS      9
#define RUN_MAX_LEVELS    4             /* of connections in flight */
#define RUN_MEM_INFLIGHT  4             /* in the memory test */
#define RUN_MIN_CMDS      100           /* for Redis CPU per command */
#define RUN_NTARGETS      14
#define RUN_OUT_MAX       4096
#define RUN_SAMPLE_KEYS   200
#define RUN_TTL_S         300           /* nginx's default session lifetime */
#define RUN_RESUME_SHARE  0.5           /* of handshakes, for the sizing */
#define RUN_ALONE_KEYS    5000          /* GET targets of the replay */
#define RUN_ALONE_VLEN    200           /* about a sealed session's length */
#define RUN_ALONE_BATCH   256           /* commands per write at most */

/* configurations; the last two only with a candidate build (-X) */
#define CFG_NGINX         0
#define CFG_L1            1
#define CFG_REDIS         2
#define CFG_OFF           3
#define CFG_TLS           4
#define CFG_L1X           5
#define CFG_REDISX        6
#define CFG_N             7

#define ON(c)             (1u << (c))
#define MODULE            (ON(CFG_REDIS) | ON(CFG_REDISX))
#define CACHES            (ON(CFG_NGINX) | ON(CFG_L1) | MODULE | ON(CFG_L1X))
#define ALL               (CACHES | ON(CFG_OFF))

/* lookup outcomes, as the module's metrics name them */
#define OUT_N             7

/* Redis commands counted */
#define CMD_GET           0
#define CMD_SET           1
#define CMD_DEL           2
#define CMD_OTHER         3
#define CMD_N             4


typedef struct {
    const char         *name;
    const char         *title;
    int                 module;         /* loaded and enabled */
    int                 cache;          /* ssl_session_cache shared */
    int                 candidate;      /* the module from -X DIR */
    int                 tls;            /* Redis reached over TLS */
} run_config_t;


typedef struct {
    const char         *name;
    const char         *mode;           /* tsr-bench -m */
    const char         *proto;          /* tsr-bench -P */
    int                 tickets;        /* the ssl_session_tickets on port */
    unsigned            configs;        /* where it runs */
    long                count;          /* bound, 0: time only */
} run_case_t;


typedef struct {
    int                 ok;
    double              per_s;
    double              seconds;
    long                handshakes;
    long                requests;
    long                offered;
    long                resumed;
    long                failed;
    double              p50;
    double              p99;
    double              max;
    double              worker_cpu;     /* seconds, workers involved */
    double              worker_sys;     /* of it in the kernel */
    double              redis_cpu;      /* seconds */
    long                cmds[CMD_N];
    long                outcomes[OUT_N];
    long                mcmds;          /* the module's commands_total */
    long                writes;         /* its writes_total, -1: none */
    long                reads;          /* its reads_total, -1: none */
} run_result_t;


/*
 * Redis alone: the GETs and SETs a case made in the configuration "redis",
 * replayed right after it by one connection and no nginx, in batches of
 * the module's commands per write at its writes per second.
 */
typedef struct {
    int                 ok;
    double              batch;          /* commands per write */
    double              writes_per_s;
    long                cmds;
    double              us_per_cmd;     /* Redis CPU */
} run_alone_t;


/* from the module's metrics page, summed over its lines */
typedef struct {
    long                outcomes[OUT_N];
    long                cmds;
    long                writes;         /* -1: the module has no counter */
    long                reads;
} run_metrics_t;


/* total = procs * conns */
typedef struct {
    int                 inflight;
    int                 procs;
    int                 conns;
} run_level_t;


typedef struct {
    long                calls[CMD_N];
    double              cpu;
} run_redis_stats_t;


typedef struct {
    tsr_test_nginx_t    node[2];
    int                 port[2][2];     /* [node][tickets] */
    int                 status[2];      /* metrics, plain http */
    int                 module;
    pid_t               worker[2];
} run_fleet_t;


typedef struct {
    const char         *name;
    long                sessions;       /* stored at the end */
    long                sessions0;      /* after the warm-up */
    long                handshakes;
    double              seconds;
    long                rss_start_kb;   /* worker, fresh */
    long                rss0_kb;        /* after the warm-up */
    long                rss1_kb;        /* at the end */
    long                anon1_kb;
    long                shmem1_kb;
    long                redis0;         /* used_memory before */
    long                redis1;
} run_mem_t;


static void run_usage(void);
static void run_cleanup(void);
static void run_on_signal(int sig);
static void run_log(const char *fmt, ...);
static double run_loadavg(void);
static void run_wait_load(void);
static int run_redis_connect(void);
static redisReply *run_redis(const char *fmt, ...);
static int run_redis_stats(run_redis_stats_t *st);
static double run_redis_info(const char *section, const char *field);
static double run_info_field(const redisReply *reply, const char *field);
static double run_redis_sample(long *nkeys, double *vlen);
static int run_write_conf(tsr_test_nginx_t *n, const run_config_t *cfg,
    const int *port, int status, int redis_port, const char *extra);
static int run_start_fleet(run_fleet_t *f, const char *tag,
    const run_config_t *cfg, int nodes, int redis_port, const char *extra);
static void run_stop_fleet(run_fleet_t *f, int nodes);
static pid_t run_worker_pid(pid_t master);
static double run_cpu_seconds(pid_t pid);
static double run_sys_seconds(pid_t pid);
static int run_metrics(int port, run_metrics_t *m);
static long run_metric_sum(const char *page, const char *name);
static long run_status_kb(pid_t pid, const char *field);
static pid_t run_spawn_bench(char *const *argv, int *fd);
static pid_t run_spawn_synced(char *const *argv, int *fd, int *go);
static int run_wait_ready(int fd);
static int run_collect_bench(pid_t pid, int fd, char *out, size_t outlen);
static double run_json_num(const char *json, const char *key);
static void run_parse_result(const char *json, run_result_t *r);
static int run_levels_parse(const char *list);
static int run_case(run_fleet_t *f, const run_case_t *cs,
    const run_level_t *lv, run_result_t *r);
static void run_slow(void);
static void run_redis_alone(const run_result_t *r, double delay,
    double seconds, run_alone_t *a);
static void run_redis_alone_busy(run_fleet_t *f, const run_case_t *cs,
    const run_level_t *lv, const run_result_t *r, run_alone_t *a);
static int run_alone_fill(redisContext *rc);
static double run_alone_cpu(redisContext *rc);
static double run_alone_med(int busy, size_t c, int field);
static void run_md_alone(FILE *f);
static void run_json_alone(FILE *f);
static int run_check(void);
static void run_memory(void);
static void run_memory_one(int cfg, run_mem_t *m);
static int run_cmp_double(const void *a, const void *b);
static double run_mem_at(const run_mem_t *m, long sessions);
static void run_mem_procs(char *procs, char *conns);
static long run_mem_phase(const char *ports, long count, double seconds,
    int module, double *took);
static double run_median(double *v, int n);
static double run_value(const run_result_t *r, int what);
static double run_med(int lv, int cfg, int c, int what);
static double run_pooled(int lv, int cfg, int c, int what);
static int run_case_index(const char *name);
static void run_write_json(const char *path);
static void run_write_md(const char *path);
static void run_write_chart(const char *dir);
static double run_ratio(int lv, int cfg_a, int cfg_b, const char *name,
    int what);
static void run_ratios(void);
static void run_jnum(FILE *f, const char *key, double v, const char *sep);
static const char *run_pass(double v, double target, int at_least);
static double run_min4(double a, double b, double c, double d);


static const run_config_t  run_configs[CFG_N] = {
    { "nginx", "nginx shared cache", 0, 1, 0, 0 },
    { "l1",    "module + shared cache (L1)", 1, 1, 0, 0 },
    { "redis", "module, no L1 (Redis every time)", 1, 0, 0, 0 },
    { "off",   "no cache, no module", 0, 0, 0, 0 },
    { "tls",   "module, no L1, Redis over TLS", 1, 0, 0, 1 },
    { "l1+",   "candidate (-X) + L1", 1, 1, 1, 0 },
    { "redis+", "candidate (-X), no L1", 1, 0, 1, 0 }
};

static const char *const  run_outcome_names[OUT_N] = {
    "none", "l1", "hit", "miss", "timeout", "error", "skipped"
};


/*
 * Ticket cases run where they tell something: stock nginx (its own
 * ticket keys) and the module (fleet ticket keys in Redis).  Cross-node
 * cases are bounded by count: that is how many sessions are offered.
 */

static const run_case_t  run_cases[] = {
    { "full-tls12",     "full",   "tls12",  0, ALL, 0 },
    { "full-tls13",     "full",   "tls13",  0, ALL, 0 },
    { "resume-tls12",   "resume", "tls12",  0, CACHES | ON(CFG_TLS), 0 },
    { "resume-tls13",   "resume", "tls13",  0, CACHES | ON(CFG_TLS), 0 },
    { "resume-tickets", "resume", "tls13",  1, ON(CFG_NGINX) | MODULE, 0 },
    { "cross-tls12",    "cross",  "tls12",  0, CACHES, 1000 },
    { "cross-tls13",    "cross",  "tls13",  0, CACHES, 1000 },
    { "cross-tickets",  "cross",  "tls13",  1, ON(CFG_NGINX) | MODULE, 1000 },
    { "cross-tickets12", "cross", "tls12t", 1, MODULE, 1000 }
};

#define RUN_NCASES  (sizeof(run_cases) / sizeof(run_cases[0]))


/* what run_med() and run_pooled() compute */
#define W_PER_S       0
#define W_CAPACITY    1             /* handshakes per worker CPU second */
#define W_CPU_US      2             /* worker CPU per handshake */
#define W_P50         3
#define W_P99         4
#define W_MAX         5
#define W_RATE        6             /* resumed / offered */
#define W_GET         7             /* commands per handshake */
#define W_SET         8
#define W_DEL         9
#define W_OTHER       10
#define W_CMDS        11
#define W_SYS_US      12            /* of the worker CPU, in the kernel */
#define W_REDIS_US    13            /* Redis CPU per command */
#define W_PER_WRITE   14            /* the module's commands per write */
#define W_PER_READ    15            /* and per read: replies per read */


static struct {
    const char         *bench;
    const char         *outdir;
    int                 reps;
    double              seconds;
    int                 procs;
    const char         *levels;         /* -i */
    long                mem_sessions;
    double              mem_seconds;
    int                 wait_load;
    const char         *candidate;      /* modules to compare, -X */
    int                 slow_only;      /* -s */
    int                 unix_socket;    /* -u */
    int                 multi_accept;   /* -A */
    int                 check;          /* -C */
    const char         *only;           /* -k: cases whose names hold it */
    char                command[1024];
} run_opts;

static int                run_ncfg = CFG_L1X;
static char               run_tls_dir[256];   /* Redis' certificates */
static int                run_tls_port;       /* its TLS port */


static tsr_test_redis_t   run_redis_server;
static tsr_test_proxy_t   run_proxy[4];      /* to Redis 0, 20 ms; to the
                                                control's nginx 0, 20 ms */
static redisContext      *run_rc;
static run_fleet_t        run_fleets[CFG_N];
static run_fleet_t        run_slow_fleets[3];  /* prompt, slow, control */
static run_fleet_t        run_mem_fleet;
static char               run_key_file[PATH_MAX + 16];
static char               run_cert_dir[1024];
static run_level_t        run_levels[RUN_MAX_LEVELS];
static int                run_nlevels;
static int                run_top;      /* the level targets are read at */
static run_result_t       run_results[RUN_MAX_LEVELS][CFG_N][RUN_NCASES]
                                     [RUN_MAX_REPS];
/* [0] prompt Redis, [1] 20 ms late, [2], [3] the control likewise */
#define RUN_SLOW_N         4
static run_result_t       run_slow_ka[RUN_SLOW_N][RUN_MAX_REPS];
static run_result_t       run_slow_hs[RUN_SLOW_N][RUN_MAX_REPS];
static run_alone_t        run_alone[2][RUN_NCASES][RUN_MAX_REPS];
                                                /* [0] idle, [1] busy */
static int                run_alone_filled;
static run_mem_t          run_mem[CFG_N];
static int                run_nmem;
static double             run_bytes_tls12, run_bytes_tls13;
static double             run_vlen_tls12, run_vlen_tls13;
static long               run_keys_tls12, run_keys_tls13;
static double             run_load_start, run_load_before, run_load_after;
static double             run_waited;
static int                run_log_problems;
static long long          run_t0;


static void
run_usage(void)
{
    fprintf(stderr,
        "usage: tsr-bench-run [options]\n"
        "  -b PATH     the load generator (default: tsr-bench beside this\n"
        "              program)\n"
        "  -o DIR      output directory (default .)\n"
        "  -r N        repetitions, the median is reported (default 3)\n"
        "  -t SECONDS  per case and repetition (default 2)\n"
        "  -c N        client processes at most (default 2)\n"
        "  -i LIST     connections in flight in all, one level after the\n"
        "              other, shared out over the processes (default\n"
        "              1,8,64; the targets are read at 64, else the\n"
        "              highest)\n"
        "  -m N        sessions for the memory test, 0: none (default\n"
        "              100000)\n"
        "  -M SECONDS  time bound of the memory test per configuration\n"
        "              (default 45)\n"
        "  -w SECONDS  first wait at most this long for a 1-minute load\n"
        "              average below 1.0 (default 0)\n"
        "  -X DIR      also measure the modules in DIR (a candidate build)\n"
        "              side by side, as configurations l1+ and redis+\n"
        "  -s          the slow-Redis latency test only\n"
        "  -k TEXT     only the cases whose names contain TEXT\n"
        "  -A          every node with multi_accept on (nginx accepts all\n"
        "              waiting connections per turn, not one: more\n"
        "              lookups leave in each turn's write)\n"
        "  -u          the nodes reach Redis through its unix socket (the\n"
        "              slow-Redis test still goes through TCP proxies)\n"
        "  -C          exit 1 unless the targets that do not depend on the\n"
        "              machine's speed hold: Redis commands per handshake,\n"
        "              cross-node resumption >= 99 %% (make check runs this)\n"
        "environment as for make check: TSR_MODULES, TSR_NGINX,\n"
        "TSR_REDIS_SERVER, TSR_TMPDIR\n");
}


static void
run_cleanup(void)
{
    int  i;

    for (i = 0; i < CFG_N; i++) {
        run_stop_fleet(&run_fleets[i], 2);
    }

    for (i = 0; i < 3; i++) {
        run_stop_fleet(&run_slow_fleets[i], 1);
    }

    run_stop_fleet(&run_mem_fleet, 1);

    for (i = 0; i < 4; i++) {
        tsr_test_proxy_stop(&run_proxy[i]);
    }
    tsr_test_redis_stop(&run_redis_server);
}


static void
run_on_signal(int sig)
{
    run_cleanup();
    _exit(128 + sig);
}


static void
run_log(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "[%6.1f s] ", (tsr_test_now_ms() - run_t0) / 1000.0);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);
}


static double
run_loadavg(void)
{
    FILE    *f;
    double   load;

    load = -1;

    f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1) {
            load = -1;
        }

        fclose(f);
    }

    return load;
}


/* other work on the machine skews every figure: give it a chance to end */

static void
run_wait_load(void)
{
    long long  start;

    run_load_before = run_loadavg();
    start = tsr_test_now_ms();

    while (run_loadavg() >= 1.0
           && tsr_test_now_ms() - start < run_opts.wait_load * 1000LL)
    {
        run_log("load average %.2f, waiting for < 1.0 (at most %d s)",
                run_loadavg(), run_opts.wait_load);
        sleep(10);
    }

    run_waited = (tsr_test_now_ms() - start) / 1000.0;
    run_load_start = run_loadavg();
}


static int
run_redis_connect(void)
{
    struct timeval  tv;

    if (run_rc != NULL) {
        redisFree(run_rc);
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    run_rc = redisConnectWithTimeout("127.0.0.1", run_redis_server.port, tv);
    if (run_rc == NULL || run_rc->err) {
        fprintf(stderr, "cannot connect to redis-server: %s\n",
                run_rc != NULL ? run_rc->errstr : "out of memory");
        return -1;
    }

    (void) redisSetTimeout(run_rc, tv);

    return 0;
}


static redisReply *
run_redis(const char *fmt, ...)
{
    va_list      args;
    redisReply  *reply;

    if (run_rc == NULL && run_redis_connect() != 0) {
        return NULL;
    }

    va_start(args, fmt);
    reply = redisvCommand(run_rc, fmt, args);
    va_end(args);

    if (reply == NULL) {
        /* the next call connects again */
        redisFree(run_rc);
        run_rc = NULL;
    }

    return reply;
}


/*
 * Commands by the module, from INFO commandstats; the runner's own
 * (INFO, MEMORY, ...) are left out.  Redis CPU from INFO cpu.
 */

static int
run_redis_stats(run_redis_stats_t *st)
{
    long         calls;
    char        *p, *line, name[64];
    redisReply  *reply;

    static const char *const  own[] = { "info", "memory", "randomkey",
                                        "dbsize", "flushall", "config",
                                        "command", NULL };
    const char *const        *o;

    memset(st, 0, sizeof(run_redis_stats_t));

    reply = run_redis("INFO commandstats");
    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        return -1;
    }

    for (line = reply->str; line != NULL; line = p) {
        p = strchr(line, '\n');
        if (p != NULL) {
            p++;
        }

        if (sscanf(line, "cmdstat_%63[^:]:calls=%ld", name, &calls) != 2) {
            continue;
        }

        for (o = own; *o != NULL; o++) {
            if (strcmp(name, *o) == 0) {
                break;
            }
        }

        if (*o != NULL) {
            continue;
        }

        if (strcmp(name, "get") == 0 || strcmp(name, "getdel") == 0) {
            st->calls[CMD_GET] += calls;

        } else if (strcmp(name, "set") == 0) {
            st->calls[CMD_SET] += calls;

        } else if (strcmp(name, "del") == 0 || strcmp(name, "unlink") == 0) {
            st->calls[CMD_DEL] += calls;

        } else {
            st->calls[CMD_OTHER] += calls;
        }
    }

    freeReplyObject(reply);

    st->cpu = run_redis_info("cpu", "used_cpu_sys")
              + run_redis_info("cpu", "used_cpu_user");

    return 0;
}


/* a numeric INFO field, -1 when absent */

static double
run_redis_info(const char *section, const char *field)
{
    double       v;
    redisReply  *reply;

    reply = run_redis("INFO %s", section);
    v = run_info_field(reply, field);

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    return v;
}


/* a numeric field of an INFO reply, -1 when absent or no reply */

static double
run_info_field(const redisReply *reply, const char *field)
{
    const char  *p;
    size_t       len;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        return -1;
    }

    len = strlen(field);

    for (p = reply->str; p != NULL; p = strchr(p, '\n')) {
        p += (*p == '\n') ? 1 : 0;

        if (strncmp(p, field, len) == 0 && p[len] == ':') {
            return strtod(p + len + 1, NULL);
        }
    }

    return -1;
}


/* MEMORY USAGE of random session keys: their mean, and the key count */

static double
run_redis_sample(long *nkeys, double *vlen)
{
    int          i, n;
    double       sum, lsum;
    redisReply  *key, *usage;

    sum = 0;
    lsum = 0;
    n = 0;
    *nkeys = 0;

    for (i = 0; i < RUN_SAMPLE_KEYS * 2 && n < RUN_SAMPLE_KEYS; i++) {
        key = run_redis("RANDOMKEY");
        if (key == NULL) {
            break;
        }

        if (key->type != REDIS_REPLY_STRING
            || strstr(key->str, ":s:") == NULL)
        {
            freeReplyObject(key);
            continue;
        }

        usage = run_redis("MEMORY USAGE %b SAMPLES 0", key->str,
                          key->len);

        if (usage != NULL && usage->type == REDIS_REPLY_INTEGER) {
            sum += (double) usage->integer;
            n++;

            freeReplyObject(usage);
            usage = run_redis("STRLEN %b", key->str, key->len);

            if (usage != NULL && usage->type == REDIS_REPLY_INTEGER) {
                lsum += (double) usage->integer;
            }
        }

        if (usage != NULL) {
            freeReplyObject(usage);
        }

        freeReplyObject(key);
    }

    key = run_redis("DBSIZE");
    if (key != NULL) {
        if (key->type == REDIS_REPLY_INTEGER) {
            *nkeys = key->integer;
        }
        freeReplyObject(key);
    }

    *vlen = n > 0 ? lsum / n : 0;

    return n > 0 ? sum / n : 0;
}


/*
 * One nginx node: one worker, two listeners, session ids and TLS 1.3
 * stateful tickets on port[0], tickets on port[1]; the module is loaded
 * only where it is enabled, so "off" is stock nginx.
 */

static int
run_write_conf(tsr_test_nginx_t *n, const run_config_t *cfg, const int *port,
    int status, int redis_port, const char *extra)
{
    FILE        *f;
    const char  *mods, *fleet_key, *ticket_keys;

    mods = cfg->candidate ? run_opts.candidate : getenv("TSR_MODULES");
    if (cfg->module && (mods == NULL || mods[0] == '\0')) {
        fprintf(stderr, "TSR_MODULES is not set: run \"make bench\"\n");
        return -1;
    }

    f = fopen(n->conf, "w");
    if (f == NULL) {
        fprintf(stderr, "fopen(\"%s\") failed: %s\n", n->conf,
                strerror(errno));
        return -1;
    }

    if (cfg->module) {
        fprintf(f, "load_module %s/ngx_http_ssl_session_redis_module.so;\n",
                mods);
    }

    fprintf(f,
        "daemon off;\n"
        "worker_processes 1;\n"
        "error_log %s/logs/error.log notice;\n"
        "pid %s/nginx.pid;\n"
        "events { worker_connections 4096;%s }\n"
        "http {\n"
        "    access_log off;\n"
        "    keepalive_requests 1000000;\n"
        "    ssl_certificate %s/bench.test.crt;\n"
        "    ssl_certificate_key %s/bench.test.key;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    ssl_session_timeout 10m;\n",
        n->dir, n->dir,
        run_opts.multi_accept ? " multi_accept on;" : "", run_cert_dir,
        run_cert_dir);

    if (cfg->cache) {
        fprintf(f, "    ssl_session_cache shared:SSL:64m;\n");
    }

    /*
     * A candidate build (-X) may predate this release's directive names;
     * the former names work on every release (with a warning on this one).
     */

    fleet_key = cfg->candidate ? "ssl_session_redis_key"
                               : "ssl_session_redis_fleet_key";
    ticket_keys = cfg->candidate ? "ssl_session_redis_tickets"
                                 : "ssl_session_redis_ticket_keys";

    if (cfg->module && run_opts.unix_socket
        && redis_port == run_redis_server.port)
    {
        fprintf(f, "    ssl_session_redis unix:%s;\n"
                   "    %s %s;\n%s",
                run_redis_server.unix_path, fleet_key, run_key_file,
                extra != NULL ? extra : "");

    } else if (cfg->module && cfg->tls) {
        fprintf(f, "    ssl_session_redis rediss://127.0.0.1:%d "
                   "tls_ca_file=%s/redis.crt tls_server_name=redis.test;\n"
                   "    %s %s;\n%s",
                run_tls_port, run_tls_dir, fleet_key, run_key_file,
                extra != NULL ? extra : "");

    } else if (cfg->module) {
        fprintf(f, "    ssl_session_redis 127.0.0.1:%d;\n"
                   "    %s %s;\n%s",
                redis_port, fleet_key, run_key_file, extra != NULL ? extra : "");
    }

    fprintf(f,
        "    server {\n"
        "        listen 127.0.0.1:%d ssl;\n"
        "        ssl_session_tickets off;\n"
        "        location / { return 200 \"ok\\n\"; }\n"
        "    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%d ssl;\n"
        "        ssl_session_tickets on;\n"
        "%s%s%s"
        "        location / { return 200 \"ok\\n\"; }\n"
        "    }\n",
        port[0], port[1], cfg->module ? "        " : "",
        cfg->module ? ticket_keys : "", cfg->module ? " on;\n" : "");

    /* the module's counters tell misses from timeouts */

    if (cfg->module) {
        fprintf(f,
            "    server {\n"
            "        listen 127.0.0.1:%d;\n"
            "        location / { ssl_session_redis_status; }\n"
            "    }\n", status);
    }

    fprintf(f, "}\n");

    return fclose(f) == 0 ? 0 : -1;
}


static int
run_start_fleet(run_fleet_t *f, const char *tag, const run_config_t *cfg,
    int nodes, int redis_port, const char *extra)
{
    int   i;
    char  name[64];

    f->module = cfg->module;

    for (i = 0; i < nodes; i++) {
        snprintf(name, sizeof(name), "bench-%s-%c", tag, 'a' + i);

        if (tsr_test_nginx_init(&f->node[i], name, NULL) != 0) {
            return -1;
        }

        f->port[i][0] = tsr_test_free_port();
        f->port[i][1] = tsr_test_free_port();
        f->status[i] = tsr_test_free_port();

        if (run_write_conf(&f->node[i], cfg, f->port[i], f->status[i],
                           redis_port, extra)
            != 0
            || tsr_test_nginx_start(&f->node[i]) != 0)
        {
            fprintf(stderr, "nginx \"%s\" did not start, see %s\n", name,
                    f->node[i].error_log);
            return -1;
        }

        f->worker[i] = run_worker_pid(f->node[i].pid);
        if (f->worker[i] <= 0) {
            fprintf(stderr, "no worker process for \"%s\"\n", name);
            return -1;
        }
    }

    return 0;
}


static void
run_stop_fleet(run_fleet_t *f, int nodes)
{
    int  i, n;

    for (i = 0; i < nodes; i++) {
        if (f->node[i].pid == 0) {
            continue;
        }

        tsr_test_nginx_stop(&f->node[i]);

        n = tsr_test_nginx_log_problems(&f->node[i]);
        if (n > 0) {
            fprintf(stderr, "%d alert/crit lines in %s\n", n,
                    f->node[i].error_log);
            run_log_problems += n;
        }
    }
}


/* the master's only child; it takes a moment to appear */

static pid_t
run_worker_pid(pid_t master)
{
    int             i, ppid;
    char            path[300], buf[512], *p;
    FILE           *f;
    DIR            *d;
    pid_t           pid;
    struct dirent  *e;

    for (i = 0; i < 100; i++) {
        d = opendir("/proc");
        if (d == NULL) {
            return -1;
        }

        while ((e = readdir(d)) != NULL) {
            if (!isdigit((unsigned char) e->d_name[0])) {
                continue;
            }

            snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);

            f = fopen(path, "r");
            if (f == NULL) {
                continue;
            }

            p = fgets(buf, sizeof(buf), f);
            fclose(f);

            if (p == NULL || (p = strrchr(buf, ')')) == NULL) {
                continue;
            }

            if (sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == master) {
                pid = atoi(e->d_name);
                closedir(d);
                return pid;
            }
        }

        closedir(d);
        usleep(20000);
    }

    return -1;
}


/* CPU time of a process so far, user and system, in seconds */

static double
run_cpu_seconds(pid_t pid)
{
    char                 path[64];
    FILE                *f;
    unsigned long long   ns;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (fscanf(f, "%llu", &ns) != 1) {
        ns = 0;
    }

    fclose(f);

    return ns / 1e9;
}


/* system CPU time so far, from /proc/PID/stat, in seconds */

static double
run_sys_seconds(pid_t pid)
{
    char                 path[64], buf[1024], *p;
    FILE                *f;
    unsigned long long   stime;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    p = fgets(buf, sizeof(buf), f);
    fclose(f);

    if (p == NULL || (p = strrchr(buf, ')')) == NULL
        || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
                  "%llu", &stime) != 1)
    {
        return 0;
    }

    return (double) stime / sysconf(_SC_CLK_TCK);
}


/*
 * The module's counters from its metrics page, summed over servers and
 * subsystems: lookups by outcome, Redis commands, and the system calls
 * that moved bytes to and from Redis (writes and reads; -1 where the
 * module does not count them).  0, or -1 when the page is unavailable.
 */

static int
run_metrics(int port, run_metrics_t *m)
{
    int                 fd, k;
    char               *p, *q, buf[65536];
    size_t              len;
    ssize_t             n;
    struct timeval      tv;
    struct sockaddr_in  sin;

    static const char  req[] = "GET / HTTP/1.0\r\n\r\n";

    memset(m, 0, sizeof(run_metrics_t));
    m->writes = -1;
    m->reads = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = 2;
    tv.tv_usec = 0;
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || write(fd, req, sizeof(req) - 1) != (ssize_t) sizeof(req) - 1)
    {
        close(fd);
        return -1;
    }

    len = 0;

    while (len < sizeof(buf) - 1) {
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += n;
    }

    close(fd);
    buf[len] = '\0';

    for (p = strstr(buf, "\nssl_session_redis_lookups_total{");
         p != NULL;
         p = strstr(p + 1, "\nssl_session_redis_lookups_total{"))
    {
        q = strstr(p, "outcome=\"");
        if (q == NULL) {
            break;
        }

        q += sizeof("outcome=\"") - 1;

        for (k = 0; k < OUT_N; k++) {
            len = strlen(run_outcome_names[k]);

            if (strncmp(q, run_outcome_names[k], len) == 0 && q[len] == '"') {
                q = strchr(q, '}');
                if (q != NULL) {
                    m->outcomes[k] += strtol(q + 1, NULL, 10);
                }
                break;
            }
        }
    }

    m->cmds = run_metric_sum(buf, "ssl_session_redis_commands_total");
    m->writes = run_metric_sum(buf, "ssl_session_redis_writes_total");
    m->reads = run_metric_sum(buf, "ssl_session_redis_reads_total");

    return 0;
}


/* a metric's samples added up, whatever their labels; -1 when absent */

static long
run_metric_sum(const char *page, const char *name)
{
    long         sum;
    size_t       len;
    const char  *p, *v;

    sum = -1;
    len = strlen(name);

    for (p = strstr(page, name); p != NULL; p = strstr(p + len, name)) {
        /* a sample line: the name at its start, then labels or a space */

        if ((p != page && p[-1] != '\n') || (p[len] != '{' && p[len] != ' '))
        {
            continue;
        }

        v = p + len;

        if (*v == '{') {
            v = strchr(v, '}');
            if (v == NULL) {
                break;
            }
            v++;
        }

        sum = (sum < 0 ? 0 : sum) + strtol(v, NULL, 10);
    }

    return sum;
}


/* a "kB" line of /proc/PID/status */

static long
run_status_kb(pid_t pid, const char *field)
{
    long    kb;
    char    path[64], line[256];
    FILE   *f;
    size_t  len;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    kb = -1;
    len = strlen(field);

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    }

    fclose(f);

    return kb;
}


static pid_t
run_spawn_bench(char *const *argv, int *fd)
{
    int    fds[2];
    pid_t  pid;

    if (pipe(fds) != 0) {
        return -1;
    }

    pid = fork();

    if (pid == -1) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }

    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        fprintf(stderr, "execv(\"%s\") failed: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }

    close(fds[1]);
    *fd = fds[0];

    return pid;
}


/*
 * tsr-bench -s: its stdout on "fd", its stdin on "go", where a line
 * starts its clock once it said "ready" (its warm-up done).
 */

static pid_t
run_spawn_synced(char *const *argv, int *fd, int *go)
{
    int    in[2], out[2];
    pid_t  pid;

    if (pipe(in) != 0) {
        return -1;
    }

    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }

    pid = fork();

    if (pid == -1) {
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return -1;
    }

    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execv(argv[0], argv);
        fprintf(stderr, "execv(\"%s\") failed: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }

    close(in[0]);
    close(out[1]);
    *fd = out[0];
    *go = in[1];

    return pid;
}


/* reads the generator's "ready" line; -1 if it ended first */

static int
run_wait_ready(int fd)
{
    char     c;
    size_t   len;
    ssize_t  n;

    len = 0;

    for ( ;; ) {
        n = read(fd, &c, 1);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n != 1) {
            return -1;
        }

        if (c == '\n') {
            return len == 5 ? 0 : -1;
        }

        len++;
    }
}


static int
run_collect_bench(pid_t pid, int fd, char *out, size_t outlen)
{
    int      status;
    size_t   len;
    ssize_t  n;

    len = 0;

    while (len < outlen - 1) {
        n = read(fd, out + len, outlen - 1 - len);
        if (n <= 0) {
            if (n == -1 && errno == EINTR) {
                continue;
            }
            break;
        }
        len += n;
    }

    out[len] = '\0';
    close(fd);

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        /* void */
    }

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0
        || strchr(out, '{') == NULL)
    {
        fprintf(stderr, "tsr-bench failed (status %d)\n", status);
        return -1;
    }

    return 0;
}


/* a number from the generator's flat JSON line */

static double
run_json_num(const char *json, const char *key)
{
    char         pat[64];
    const char  *p;

    snprintf(pat, sizeof(pat), "\"%s\":", key);

    p = strstr(json, pat);
    if (p == NULL) {
        return 0;
    }

    return strtod(p + strlen(pat), NULL);
}


static void
run_parse_result(const char *json, run_result_t *r)
{
    r->ok = 1;
    r->per_s = run_json_num(json, "per_s");
    r->seconds = run_json_num(json, "seconds");
    r->handshakes = (long) run_json_num(json, "handshakes");
    r->requests = (long) run_json_num(json, "requests");
    r->offered = (long) run_json_num(json, "offered");
    r->resumed = (long) run_json_num(json, "resumed");
    r->failed = (long) run_json_num(json, "failed");
    r->p50 = run_json_num(json, "p50_ms");
    r->p99 = run_json_num(json, "p99_ms");
    r->max = run_json_num(json, "max_ms");
}


/*
 * "-i 1,8,64": connections in flight in all, each level as -c processes
 * (fewer if the level is smaller) with the connections shared out; a
 * level that does not divide is rounded up.
 */

static int
run_levels_parse(const char *list)
{
    int          n, procs;
    char        *end;
    const char  *p;

    run_nlevels = 0;

    for (p = list; *p != '\0'; p = end + (*end == ',')) {
        n = (int) strtol(p, &end, 10);

        if (end == p || n < 1 || n > 4096 || run_nlevels == RUN_MAX_LEVELS
            || (*end != ',' && *end != '\0'))
        {
            return -1;
        }

        procs = (run_opts.procs < n) ? run_opts.procs : n;

        run_levels[run_nlevels].procs = procs;
        run_levels[run_nlevels].conns = (n + procs - 1) / procs;
        run_levels[run_nlevels].inflight = procs
                                           * run_levels[run_nlevels].conns;
        run_nlevels++;
    }

    if (run_nlevels == 0) {
        return -1;
    }

    /* the targets are set at 64 in flight, else at the highest level */

    run_top = 0;

    for (n = 0; n < run_nlevels; n++) {
        if (run_levels[n].inflight == 64
            || (run_levels[run_top].inflight != 64
                && run_levels[n].inflight > run_levels[run_top].inflight))
        {
            run_top = n;
        }
    }

    return 0;
}


static int
run_case(run_fleet_t *f, const run_case_t *cs, const run_level_t *lv,
    run_result_t *r)
{
    int                 fd, go, i, k, nodes, metrics;
    char                ports[32], procs[16], conns[16], secs[32];
    char                count[32], out[RUN_OUT_MAX];
    char               *argv[24];
    pid_t               pid;
    double              cpu0, sys0;
    run_metrics_t       m0, m1, m;
    run_redis_stats_t   s0, s1;

    memset(r, 0, sizeof(run_result_t));

    nodes = (strcmp(cs->mode, "cross") == 0) ? 2 : 1;

    if (nodes == 2) {
        snprintf(ports, sizeof(ports), "%d,%d", f->port[0][cs->tickets],
                 f->port[1][cs->tickets]);

    } else {
        snprintf(ports, sizeof(ports), "%d", f->port[0][cs->tickets]);
    }

    snprintf(procs, sizeof(procs), "%d", lv->procs);
    snprintf(conns, sizeof(conns), "%d", lv->conns);
    snprintf(secs, sizeof(secs), "%.2f", run_opts.seconds);
    snprintf(count, sizeof(count), "%ld", cs->count > 0 ? cs->count
                                                        : 100000000L);

    i = 0;
    argv[i++] = (char *) run_opts.bench;
    argv[i++] = "-j";
    argv[i++] = "-p";
    argv[i++] = ports;
    argv[i++] = "-m";
    argv[i++] = (char *) cs->mode;
    argv[i++] = "-P";
    argv[i++] = (char *) cs->proto;
    argv[i++] = "-c";
    argv[i++] = procs;
    argv[i++] = "-i";
    argv[i++] = conns;
    argv[i++] = "-t";
    argv[i++] = secs;
    argv[i++] = "-n";
    argv[i++] = count;
    argv[i++] = "-s";
    argv[i] = NULL;

    /* the counters start once the generator is warmed up */

    pid = run_spawn_synced(argv, &fd, &go);
    if (pid == -1) {
        return -1;
    }

    if (run_wait_ready(fd) != 0 || run_redis_stats(&s0) != 0) {
        close(go);
        (void) run_collect_bench(pid, fd, out, sizeof(out));
        return -1;
    }

    memset(&m0, 0, sizeof(run_metrics_t));
    memset(&m1, 0, sizeof(run_metrics_t));
    metrics = f->module;

    cpu0 = 0;
    sys0 = 0;

    for (i = 0; i < nodes; i++) {
        if (metrics && run_metrics(f->status[i], &m) == 0) {
            for (k = 0; k < OUT_N; k++) {
                m0.outcomes[k] += m.outcomes[k];
            }

            m0.cmds += m.cmds;
            m0.writes = (m.writes < 0) ? -1 : m0.writes + m.writes;
            m0.reads = (m.reads < 0) ? -1 : m0.reads + m.reads;

        } else {
            metrics = 0;
        }

        cpu0 += run_cpu_seconds(f->worker[i]);
        sys0 += run_sys_seconds(f->worker[i]);
    }

    if (write(go, "\n", 1) != 1) {
        close(go);
        (void) run_collect_bench(pid, fd, out, sizeof(out));
        return -1;
    }

    close(go);

    if (run_collect_bench(pid, fd, out, sizeof(out)) != 0) {
        return -1;
    }

    for (i = 0; i < nodes; i++) {
        r->worker_cpu += run_cpu_seconds(f->worker[i]);
        r->worker_sys += run_sys_seconds(f->worker[i]);

        if (metrics && run_metrics(f->status[i], &m) == 0) {
            for (k = 0; k < OUT_N; k++) {
                m1.outcomes[k] += m.outcomes[k];
            }

            m1.cmds += m.cmds;
            m1.writes = (m.writes < 0) ? -1 : m1.writes + m.writes;
            m1.reads = (m.reads < 0) ? -1 : m1.reads + m.reads;

        } else {
            metrics = 0;
        }
    }

    r->worker_cpu -= cpu0;
    r->worker_sys -= sys0;

    for (k = 0; k < OUT_N; k++) {
        r->outcomes[k] = metrics ? m1.outcomes[k] - m0.outcomes[k] : 0;
    }

    r->mcmds = metrics ? m1.cmds - m0.cmds : -1;
    r->writes = (metrics && m0.writes >= 0 && m1.writes >= 0)
                ? m1.writes - m0.writes : -1;
    r->reads = (metrics && m0.reads >= 0 && m1.reads >= 0)
               ? m1.reads - m0.reads : -1;

    if (run_redis_stats(&s1) != 0) {
        return -1;
    }

    run_parse_result(out, r);

    for (i = 0; i < CMD_N; i++) {
        r->cmds[i] = s1.calls[i] - s0.calls[i];
    }

    r->redis_cpu = s1.cpu - s0.cpu;

    return 0;
}


/*
 * Redis' own cost of what the module sent it: the GETs and SETs of one
 * run of a case in the configuration "redis", replayed at once by one
 * connection with no nginx (each batch one write, its replies read before
 * the next), in batches of the module's commands per write, at its writes
 * per second, as long as it ran; then again while nginx's own cache runs
 * the same case, the CPUs as busy as in the module's run.  Redis CPU per
 * command at a given batch size and pace is mostly a wake-up's cost
 * divided by the batch: the replays show how much of the module's figure
 * is Redis' own for that traffic on this machine, idle and loaded.
 */

static void
run_redis_alone(const run_result_t *r, double delay, double seconds,
    run_alone_t *a)
{
    int                  j, batch, get, err;
    long                 total, sets, sent, w, setn;
    double               share, rate, elapsed, cpu0, cpu1;
    uint8_t              id[32], value[RUN_ALONE_VLEN];
    char                 key[80];
    struct timeval       tv;
    struct timespec      t0, now, until;
    redisContext        *rc;
    redisReply          *reply;

    memset(a, 0, sizeof(run_alone_t));

    total = r->cmds[CMD_GET] + r->cmds[CMD_SET];
    sets = r->cmds[CMD_SET];

    if (!r->ok || total < RUN_MIN_CMDS || r->writes <= 0 || r->mcmds <= 0
        || r->seconds <= 0)
    {
        return;
    }

    a->batch = (double) r->mcmds / r->writes;
    a->writes_per_s = r->writes / r->seconds;

    batch = (int) (a->batch + 0.5);
    batch = batch < 1 ? 1 : batch > RUN_ALONE_BATCH ? RUN_ALONE_BATCH : batch;
    share = (double) sets / total;
    rate = a->writes_per_s;

    if (seconds > r->seconds) {
        seconds = r->seconds;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    rc = redisConnectWithTimeout("127.0.0.1", run_redis_server.port, tv);
    if (rc == NULL || rc->err) {
        run_log("redis alone: cannot connect: %s",
                rc != NULL ? rc->errstr : "out of memory");
        goto done;
    }

    (void) redisSetTimeout(rc, tv);

    if (!run_alone_filled) {
        if (run_alone_fill(rc) != 0) {
            goto done;
        }

        run_alone_filled = 1;
    }

    if (RAND_bytes(value, sizeof(value)) != 1) {
        goto done;
    }

    if (delay > 0) {
        usleep((useconds_t) (delay * 1e6));
    }

    cpu0 = run_alone_cpu(rc);
    if (cpu0 < 0) {
        goto done;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);

    sent = 0;
    setn = 0;
    err = 0;

    for (w = 0; !err; w++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed = (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;

        if (elapsed >= seconds) {
            break;
        }

        /* SETs spread evenly in the case's share, the rest GETs */

        for (j = 0; j < batch; j++) {
            get = (setn + 1 > share * (sent + j + 1));

            if (get) {
                snprintf(key, sizeof(key), "bench-alone:get:%ld",
                         (sent + j) % RUN_ALONE_KEYS);
                err |= redisAppendCommand(rc, "GET %s", key);

            } else {
                /* a new key each, as a new session's */
                if (RAND_bytes(id, sizeof(id)) != 1) {
                    err = 1;
                    break;
                }

                setn++;
                err |= redisAppendCommand(rc, "SET bench-alone:%b %b PX %d",
                                          id, sizeof(id), value,
                                          sizeof(value), RUN_TTL_S * 1000);
            }
        }

        for (j = 0; j < batch && !err; j++) {
            if (redisGetReply(rc, (void **) &reply) != REDIS_OK
                || reply == NULL)
            {
                err = 1;
                break;
            }

            err |= (reply->type == REDIS_REPLY_ERROR);
            freeReplyObject(reply);
        }

        sent += batch;

        /* the next write in its slot, not sooner */

        elapsed = (w + 1) / rate;
        until.tv_sec = t0.tv_sec + (time_t) elapsed;
        until.tv_nsec = t0.tv_nsec
                        + (long) ((elapsed - (time_t) elapsed) * 1e9);

        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL)
               == EINTR)
        {
            /* void */
        }
    }

    if (err) {
        run_log("redis alone: %s", rc->err ? rc->errstr : "error reply");
        goto done;
    }

    cpu1 = run_alone_cpu(rc);

    if (cpu1 < 0 || sent < RUN_MIN_CMDS) {
        goto done;
    }

    a->cmds = sent;
    a->us_per_cmd = (cpu1 - cpu0) * 1e6 / sent;
    a->ok = 1;

done:

    if (rc != NULL) {
        redisFree(rc);
    }
}


/*
 * The replay in a child process while nginx's own cache (the module not
 * loaded, Redis idle but for the replay) runs the case in this one; what
 * that run measured is not kept.
 */

static void
run_redis_alone_busy(run_fleet_t *f, const run_case_t *cs,
    const run_level_t *lv, const run_result_t *r, run_alone_t *a)
{
    int            fd[2], status;
    pid_t          pid;
    ssize_t        n;
    run_alone_t    x;
    run_result_t   scratch;

    memset(a, 0, sizeof(run_alone_t));

    if (pipe(fd) != 0) {
        return;
    }

    pid = fork();

    if (pid == -1) {
        close(fd[0]);
        close(fd[1]);
        return;
    }

    if (pid == 0) {
        close(fd[0]);

        /* the parent cleans up; run_rc is the parent's connection */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        run_rc = NULL;

        /* inside the load: it starts once the clients are connected */
        run_redis_alone(r, run_opts.seconds * 0.1, run_opts.seconds * 0.8,
                        &x);

        n = write(fd[1], &x, sizeof(run_alone_t));
        _exit(n == (ssize_t) sizeof(run_alone_t) ? 0 : 1);
    }

    close(fd[1]);

    (void) run_case(f, cs, lv, &scratch);

    n = read(fd[0], &x, sizeof(run_alone_t));
    close(fd[0]);

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
        /* void */
    }

    if (n == (ssize_t) sizeof(run_alone_t)) {
        *a = x;
    }
}


/* Redis' CPU seconds, user and system, on the replay's connection */

static double
run_alone_cpu(redisContext *rc)
{
    double       sys, user;
    redisReply  *reply;

    reply = redisCommand(rc, "INFO cpu");
    sys = run_info_field(reply, "used_cpu_sys");
    user = run_info_field(reply, "used_cpu_user");

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    return (sys < 0 || user < 0) ? -1 : sys + user;
}


/* the keys the replay's GETs find, once */

static int
run_alone_fill(redisContext *rc)
{
    int          i, k, rc_;
    uint8_t      value[RUN_ALONE_VLEN];
    redisReply  *reply;

    if (RAND_bytes(value, sizeof(value)) != 1) {
        return -1;
    }

    for (i = 0; i < RUN_ALONE_KEYS; i += 100) {
        for (k = i; k < i + 100 && k < RUN_ALONE_KEYS; k++) {
            if (redisAppendCommand(rc, "SET bench-alone:get:%d %b", k, value,
                                   sizeof(value))
                != REDIS_OK)
            {
                return -1;
            }
        }

        for (k = i; k < i + 100 && k < RUN_ALONE_KEYS; k++) {
            rc_ = redisGetReply(rc, (void **) &reply);

            if (rc_ != REDIS_OK || reply == NULL) {
                return -1;
            }

            rc_ = (reply->type == REDIS_REPLY_ERROR);
            freeReplyObject(reply);

            if (rc_) {
                return -1;
            }
        }
    }

    return 0;
}


/*
 * A slow Redis must not slow anything else on the worker: keep-alive
 * requests run at a fixed pace beside resumed handshakes (each waiting
 * for its lookup) at a fixed pace, with Redis behind a proxy that passes
 * replies on at once or 20 ms late.  The worker's load and the proxy's
 * are the same either way; only the lookups' latency differs.
 *
 * The control runs the same pattern without the module: stock nginx with
 * its shared cache, the resuming clients reaching it through a proxy that
 * holds nginx's replies 0 or 20 ms, the keep-alive clients directly.  Its
 * handshakes wait as long, and nothing waits inside nginx: what its ratio
 * shows is the machine's share in the module's.
 */

static const char *const  run_slow_names[RUN_SLOW_N] = {
    "prompt", "20 ms", "control, prompt", "control, 20 ms"
};


static void
run_slow(void)
{
    int                  k, s, rep, fd[2];
    char                 ka_port[16], hs_port[16], secs[32];
    char                 out[RUN_OUT_MAX];
    char                *ka[20], *hs[20];
    pid_t                pid[2];
    run_config_t         cfg, ctl;

    static const char  extra[] =
        "    ssl_session_redis_lookup_timeout 100ms;\n";

    cfg = run_configs[CFG_REDIS];
    ctl = run_configs[CFG_NGINX];

    if (tsr_test_proxy_start(&run_proxy[0], run_redis_server.port, 0) != 0
        || tsr_test_proxy_start(&run_proxy[1], run_redis_server.port, 20)
           != 0
        || run_start_fleet(&run_slow_fleets[0], "prompt", &cfg, 1,
                           run_proxy[0].port, extra) != 0
        || run_start_fleet(&run_slow_fleets[1], "slow", &cfg, 1,
                           run_proxy[1].port, extra) != 0
        || run_start_fleet(&run_slow_fleets[2], "control", &ctl, 1,
                           run_redis_server.port, NULL) != 0
        || tsr_test_proxy_start(&run_proxy[2],
                                run_slow_fleets[2].port[0][0], 0) != 0
        || tsr_test_proxy_start(&run_proxy[3],
                                run_slow_fleets[2].port[0][0], 20) != 0)
    {
        fprintf(stderr, "slow redis test not run\n");
        return;
    }

    /* the ticket ring and the first connection */
    usleep(500000);

    /* three times a case: p99 of 12000 requests at the defaults */
    snprintf(secs, sizeof(secs), "%.2f", run_opts.seconds * 3);

    for (rep = 0; rep < run_opts.reps; rep++) {
        for (k = 0; k < RUN_SLOW_N; k++) {
            /* alternate which one of each pair goes first */
            s = (rep % 2 == 0) ? k : k ^ 1;

            if (s < 2) {
                snprintf(ka_port, sizeof(ka_port), "%d",
                         run_slow_fleets[s].port[0][0]);
                snprintf(hs_port, sizeof(hs_port), "%s", ka_port);

            } else {
                snprintf(ka_port, sizeof(ka_port), "%d",
                         run_slow_fleets[2].port[0][0]);
                snprintf(hs_port, sizeof(hs_port), "%d", run_proxy[s].port);
            }

            ka[0] = (char *) run_opts.bench;
            ka[1] = "-j"; ka[2] = "-m"; ka[3] = "keepalive";
            ka[4] = "-p"; ka[5] = ka_port; ka[6] = "-c"; ka[7] = "2";
            ka[8] = "-r"; ka[9] = "2000"; ka[10] = "-t"; ka[11] = secs;
            ka[12] = NULL;

            hs[0] = (char *) run_opts.bench;
            hs[1] = "-j"; hs[2] = "-m"; hs[3] = "resume";
            hs[4] = "-p"; hs[5] = hs_port; hs[6] = "-c"; hs[7] = "8";
            hs[8] = "-r"; hs[9] = "200"; hs[10] = "-t"; hs[11] = secs;
            hs[12] = "-P"; hs[13] = "tls12"; hs[14] = NULL;

            pid[0] = run_spawn_bench(ka, &fd[0]);
            pid[1] = run_spawn_bench(hs, &fd[1]);

            if (pid[0] == -1 || pid[1] == -1) {
                continue;
            }

            if (run_collect_bench(pid[0], fd[0], out, sizeof(out)) == 0) {
                run_parse_result(out, &run_slow_ka[s][rep]);
            }

            if (run_collect_bench(pid[1], fd[1], out, sizeof(out)) == 0) {
                run_parse_result(out, &run_slow_hs[s][rep]);
            }

            run_log("slow redis: %s, rep %d: keep-alive p99 %.3f ms, "
                    "resumed %ld/%ld, handshake p50 %.1f ms",
                    run_slow_names[s], rep + 1, run_slow_ka[s][rep].p99,
                    run_slow_hs[s][rep].resumed, run_slow_hs[s][rep].offered,
                    run_slow_hs[s][rep].p50);
        }
    }

    for (s = 0; s < 3; s++) {
        run_stop_fleet(&run_slow_fleets[s], 1);
    }

    for (s = 0; s < 4; s++) {
        tsr_test_proxy_stop(&run_proxy[s]);
    }
}


/*
 * Memory: bytes per session in Redis (MEMORY USAGE of sampled keys, per
 * protocol), and the worker's RSS after "mem_sessions" full handshakes
 * (new sessions) with nginx's cache, with the module, with both.  A run
 * cut short by its time bound is extrapolated linearly.
 */

static void
run_memory(void)
{
    int   i, cfgs[3];

    cfgs[0] = CFG_NGINX;
    cfgs[1] = CFG_REDIS;
    cfgs[2] = CFG_L1;

    for (i = 0; i < 3; i++) {
        run_memory_one(cfgs[i], &run_mem[run_nmem]);
        run_nmem++;
    }
}


static void
run_memory_one(int cfg, run_mem_t *m)
{
    int            fd;
    char           ports[16], procs[16], conns[16];
    char           out[RUN_OUT_MAX];
    char          *argv[20];
    pid_t          pid;
    redisReply    *reply;

    memset(m, 0, sizeof(run_mem_t));
    m->name = run_configs[cfg].name;

    reply = run_redis("FLUSHALL");
    if (reply != NULL) {
        freeReplyObject(reply);
    }

    if (run_start_fleet(&run_mem_fleet, "mem", &run_configs[cfg], 1,
                        run_redis_server.port, NULL)
        != 0)
    {
        return;
    }

    usleep(300000);

    snprintf(ports, sizeof(ports), "%d", run_mem_fleet.port[0][0]);
    run_mem_procs(procs, conns);

    /* bytes per session of each protocol first, in a Redis of their own */

    if (run_configs[cfg].module && run_keys_tls13 == 0) {
        argv[0] = (char *) run_opts.bench;
        argv[1] = "-j"; argv[2] = "-p"; argv[3] = ports;
        argv[4] = "-m"; argv[5] = "full"; argv[6] = "-P"; argv[7] = "tls13";
        argv[8] = "-n"; argv[9] = "2000"; argv[10] = "-c"; argv[11] = procs;
        argv[12] = "-i"; argv[13] = conns; argv[14] = NULL;

        pid = run_spawn_bench(argv, &fd);
        if (pid != -1 && run_collect_bench(pid, fd, out, sizeof(out)) == 0) {
            run_bytes_tls13 = run_redis_sample(&run_keys_tls13,
                                               &run_vlen_tls13);
        }

        reply = run_redis("FLUSHALL");
        if (reply != NULL) {
            freeReplyObject(reply);
        }

        /* the worker starts over, with nothing stored */
        run_stop_fleet(&run_mem_fleet, 1);

        if (run_start_fleet(&run_mem_fleet, "mem", &run_configs[cfg], 1,
                            run_redis_server.port, NULL)
            != 0)
        {
            return;
        }

        usleep(300000);
        snprintf(ports, sizeof(ports), "%d", run_mem_fleet.port[0][0]);
    }

    /*
     * A worker's first connections grow its heap whatever is stored: the
     * growth per session is taken from the warm-up on.
     */

    m->rss_start_kb = run_status_kb(run_mem_fleet.worker[0], "VmRSS");

    m->sessions0 = run_mem_phase(ports, run_opts.mem_sessions / 20, 60,
                                 run_configs[cfg].module, &m->seconds);
    if (m->sessions0 < 0) {
        run_stop_fleet(&run_mem_fleet, 1);
        return;
    }

    m->rss0_kb = run_status_kb(run_mem_fleet.worker[0], "VmRSS");
    m->redis0 = (long) run_redis_info("memory", "used_memory");

    m->sessions = run_mem_phase(ports, run_opts.mem_sessions - m->sessions0,
                                run_opts.mem_seconds,
                                run_configs[cfg].module, &m->seconds);
    if (m->sessions < 0) {
        run_stop_fleet(&run_mem_fleet, 1);
        return;
    }

    if (!run_configs[cfg].module) {
        m->sessions += m->sessions0;
    }

    m->handshakes = m->sessions;
    m->rss1_kb = run_status_kb(run_mem_fleet.worker[0], "VmRSS");
    m->anon1_kb = run_status_kb(run_mem_fleet.worker[0], "RssAnon");
    m->shmem1_kb = run_status_kb(run_mem_fleet.worker[0], "RssShmem");
    m->redis1 = (long) run_redis_info("memory", "used_memory");

    if (run_configs[cfg].module) {
        run_bytes_tls12 = run_redis_sample(&run_keys_tls12,
                                               &run_vlen_tls12);
    }

    run_log("memory %s: %ld sessions, worker RSS %ld -> %ld (after %ld) -> "
            "%ld kB (anon %ld, shm %ld), %.0f kB at %ld; redis used_memory "
            "%ld -> %ld", m->name, m->sessions, m->rss_start_kb, m->rss0_kb,
            m->sessions0, m->rss1_kb, m->anon1_kb, m->shmem1_kb,
            run_mem_at(m, run_opts.mem_sessions), run_opts.mem_sessions,
            m->redis0, m->redis1);

    run_stop_fleet(&run_mem_fleet, 1);
}


/*
 * Full TLS 1.2 handshakes, each a new session; returns how many sessions
 * are stored (Redis' key count with the module, else the handshakes), or
 * -1.  "took" accumulates the seconds.
 */

static long
run_mem_phase(const char *ports, long count, double seconds, int module,
    double *took)
{
    int            fd;
    char           procs[16], conns[16], secs[32], num[32];
    char           out[RUN_OUT_MAX];
    char          *argv[20];
    long           n;
    pid_t          pid;
    redisReply    *reply;
    run_result_t   r;

    run_mem_procs(procs, conns);
    snprintf(secs, sizeof(secs), "%.2f", seconds);
    snprintf(num, sizeof(num), "%ld", count > 0 ? count : 1);

    argv[0] = (char *) run_opts.bench;
    argv[1] = "-j"; argv[2] = "-p"; argv[3] = (char *) ports;
    argv[4] = "-m"; argv[5] = "full"; argv[6] = "-P"; argv[7] = "tls12";
    argv[8] = "-n"; argv[9] = num; argv[10] = "-c"; argv[11] = procs;
    argv[12] = "-t"; argv[13] = secs; argv[14] = "-i"; argv[15] = conns;
    argv[16] = NULL;

    pid = run_spawn_bench(argv, &fd);
    if (pid == -1 || run_collect_bench(pid, fd, out, sizeof(out)) != 0) {
        return -1;
    }

    run_parse_result(out, &r);
    *took += r.seconds;

    if (!module) {
        return r.handshakes;
    }

    n = -1;

    reply = run_redis("DBSIZE");
    if (reply != NULL) {
        if (reply->type == REDIS_REPLY_INTEGER) {
            n = reply->integer;
        }
        freeReplyObject(reply);
    }

    return n;
}


/* the memory test's clients: RUN_MEM_INFLIGHT connections in all */

static void
run_mem_procs(char *procs, char *conns)
{
    int  n;

    n = (run_opts.procs < RUN_MEM_INFLIGHT) ? run_opts.procs
                                            : RUN_MEM_INFLIGHT;

    snprintf(procs, 16, "%d", n);
    snprintf(conns, 16, "%d", (RUN_MEM_INFLIGHT + n - 1) / n);
}


/* the worker's RSS at "sessions", extrapolated from the warm-up on */

static double
run_mem_at(const run_mem_t *m, long sessions)
{
    if (m->sessions <= m->sessions0) {
        return NAN;
    }

    return m->rss1_kb + (double) (m->rss1_kb - m->rss0_kb)
                        * (sessions - m->sessions)
                        / (m->sessions - m->sessions0);
}


static int
run_cmp_double(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
run_median(double *v, int n)
{
    if (n == 0) {
        return NAN;
    }

    qsort(v, n, sizeof(double), run_cmp_double);

    return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static double
run_value(const run_result_t *r, int what)
{
    long    cmds;
    double  hs;

    hs = r->handshakes > 0 ? (double) r->handshakes : NAN;

    switch (what) {

    case W_PER_S:
        return r->per_s;

    case W_CAPACITY:
        return r->worker_cpu > 0 ? r->handshakes / r->worker_cpu : NAN;

    case W_CPU_US:
        return r->worker_cpu * 1e6 / hs;

    case W_SYS_US:
        return r->worker_sys * 1e6 / hs;

    case W_P50:
        return r->p50;

    case W_P99:
        return r->p99;

    case W_MAX:
        return r->max;

    case W_RATE:
        return r->offered > 0 ? (double) r->resumed / r->offered : NAN;

    case W_GET:
    case W_SET:
    case W_DEL:
    case W_OTHER:
        return r->cmds[what - W_GET] / hs;

    case W_CMDS:
        return (r->cmds[0] + r->cmds[1] + r->cmds[2] + r->cmds[3]) / hs;

    case W_REDIS_US:
        cmds = r->cmds[0] + r->cmds[1] + r->cmds[2] + r->cmds[3];

        /* Redis' own background work would be most of a few commands */
        return cmds >= RUN_MIN_CMDS ? r->redis_cpu * 1e6 / cmds : NAN;

    case W_PER_WRITE:
        return (r->writes > 0 && r->mcmds >= 0)
               ? (double) r->mcmds / r->writes : NAN;

    case W_PER_READ:
        return (r->reads > 0 && r->mcmds >= 0)
               ? (double) r->mcmds / r->reads : NAN;
    }

    return NAN;
}


/* the median over repetitions */

static double
run_med(int lv, int cfg, int c, int what)
{
    int     rep, n;
    double  v[RUN_MAX_REPS], x;

    n = 0;

    for (rep = 0; rep < run_opts.reps; rep++) {
        if (run_results[lv][cfg][c][rep].ok) {
            x = run_value(&run_results[lv][cfg][c][rep], what);

            if (!isnan(x)) {
                v[n++] = x;
            }
        }
    }

    return run_median(v, n);
}


/* counts summed over repetitions: rates and commands per handshake */

static double
run_pooled(int lv, int cfg, int c, int what)
{
    int            rep, k;
    run_result_t   sum;
    run_result_t  *r;

    memset(&sum, 0, sizeof(run_result_t));

    for (rep = 0; rep < run_opts.reps; rep++) {
        r = &run_results[lv][cfg][c][rep];

        if (!r->ok) {
            continue;
        }

        sum.handshakes += r->handshakes;
        sum.offered += r->offered;
        sum.resumed += r->resumed;
        sum.redis_cpu += r->redis_cpu;
        sum.mcmds = (sum.mcmds < 0 || r->mcmds < 0) ? -1
                    : sum.mcmds + r->mcmds;
        sum.writes = (sum.writes < 0 || r->writes < 0) ? -1
                     : sum.writes + r->writes;
        sum.reads = (sum.reads < 0 || r->reads < 0) ? -1
                    : sum.reads + r->reads;

        for (k = 0; k < CMD_N; k++) {
            sum.cmds[k] += r->cmds[k];
        }
    }

    return run_value(&sum, what);
}


static int
run_case_index(const char *name)
{
    size_t  c;

    for (c = 0; c < RUN_NCASES; c++) {
        if (strcmp(run_cases[c].name, name) == 0) {
            return (int) c;
        }
    }

    return -1;
}


/* the figures the targets are about, for one build of the module */

typedef struct {
    const char         *name;
    int                 l1;             /* its configurations */
    int                 redis;
    double              resume[2];      /* [TLS 1.2, TLS 1.3] vs nginx */
    double              resume_cap[2];  /* per worker CPU second */
    double              full_l1[2];     /* with L1 vs nginx's cache */
    double              full_l1_cap[2];
    double              full_redis[2];  /* without L1 vs no cache */
    double              full_redis_cap[2];
    double              cmds_resume[2]; /* commands per resumed handshake */
    double              get_resume[2];
    long                resume_hs[2];   /* handshakes, and of them */
    long                resume_skipped[2];  /* lookups skipped */
    double              cmds_l1[2];     /* per L1 hit */
    double              cmds_ticket;    /* per ticket resumption */
    double              cmds_full[2];   /* per full handshake */
    double              cross[4];       /* ids, stateful, tickets, 1.2 t. */
    long                cross_miss[4];  /* lookups not found */
    long                cross_timeout[4];
    long                cross_skipped[4];   /* refused: breaker, limits */
    long                cross_offered[4];
    double              cross_l1[2];
    long                cross_l1_timeout[2];
    long                cross_l1_skipped[2];
    long                cross_l1_offered[2];
    double              target[RUN_NTARGETS];
} run_build_t;


/*
 * The targets of the design, each a ratio of medians (or a median) at the
 * level they are set at; the figure's configurations come from the build.
 */

#define T_RATE        0             /* handshakes/s: a / b */
#define T_CPU         1             /* worker CPU per handshake: a / b */
#define T_VALUE       2             /* a's own figure */

#define T_NGINX       -1            /* configurations other than the build's */
#define T_OFF         -2
#define T_L1          -3
#define T_REDIS       -4

typedef struct {
    const char         *key;            /* in bench.json */
    const char         *title;          /* in bench.md */
    const char         *cs;
    int                 kind;
    int                 a;
    int                 b;
    int                 what;           /* for T_VALUE */
    double              target;         /* NaN: none, shown for reference */
    int                 at_least;
} run_target_t;


static const run_target_t  run_targets[RUN_NTARGETS] = {
    { "resumed_redis_vs_nginx_cache_tls12",
      "resumed handshakes/s through Redis (no L1) / nginx's shared cache, "
      "TLS 1.2 ids", "resume-tls12", T_RATE, T_REDIS, T_NGINX, 0, 0.95, 1 },
    { "resumed_redis_vs_nginx_cache_tls13",
      "the same, TLS 1.3 stateful", "resume-tls13", T_RATE, T_REDIS,
      T_NGINX, 0, 0.95, 1 },
    { "full_l1_vs_nginx_cache_tls12",
      "full handshakes/s, module + L1 / nginx's shared cache, TLS 1.2",
      "full-tls12", T_RATE, T_L1, T_NGINX, 0, 0.97, 1 },
    { "full_l1_vs_nginx_cache_tls13", "the same, TLS 1.3", "full-tls13",
      T_RATE, T_L1, T_NGINX, 0, 0.97, 1 },
    { "full_redis_vs_off_tls12",
      "full handshakes/s, module without L1 / no cache, no module, TLS 1.2",
      "full-tls12", T_RATE, T_REDIS, T_OFF, 0, 0.97, 1 },
    { "full_redis_vs_off_tls13", "the same, TLS 1.3", "full-tls13", T_RATE,
      T_REDIS, T_OFF, 0, 0.97, 1 },
    { "worker_cpu_resumed_redis_vs_nginx_cache_tls12",
      "worker CPU per resumed handshake, through Redis / nginx's cache, "
      "TLS 1.2 ids", "resume-tls12", T_CPU, T_REDIS, T_NGINX, 0, 1.08, 0 },
    { "worker_cpu_resumed_redis_vs_nginx_cache_tls13",
      "the same, TLS 1.3 stateful", "resume-tls13", T_CPU, T_REDIS, T_NGINX,
      0, 1.08, 0 },
    { "worker_cpu_resumed_l1_vs_nginx_cache_tls13",
      "worker CPU per TLS 1.3 resumption from L1 / nginx's cache",
      "resume-tls13", T_CPU, T_L1, T_NGINX, 0, 1.05, 0 },
    { "worker_cpu_fleet_tickets_vs_nginx_tickets",
      "worker CPU per ticket resumption, fleet keys / nginx's own keys "
      "(TLS 1.3)", "resume-tickets", T_CPU, T_REDIS, T_NGINX, 0, 1.03, 0 },
    { "redis_cpu_us_per_cmd_tls12",
      "Redis CPU µs per command, TLS 1.2 resumption through Redis",
      "resume-tls12", T_VALUE, T_REDIS, 0, W_REDIS_US, 6, 0 },
    { "redis_cpu_us_per_cmd_tls13", "the same, TLS 1.3 stateful",
      "resume-tls13", T_VALUE, T_REDIS, 0, W_REDIS_US, 6, 0 },
    { "cmds_per_write_tls12",
      "commands per write (the module's counters), TLS 1.2 resumption "
      "through Redis", "resume-tls12", T_VALUE, T_REDIS, 0, W_PER_WRITE,
      NAN, 0 },
    { "cmds_per_write_tls13", "the same, TLS 1.3 stateful", "resume-tls13",
      T_VALUE, T_REDIS, 0, W_PER_WRITE, NAN, 0 }
};


static const char *const  run_cross_cases[4] = {
    "cross-tls12", "cross-tls13", "cross-tickets", "cross-tickets12"
};

static run_build_t        run_b[RUN_MAX_LEVELS][2];
static int                run_nbuilds = 1;
static double             run_slow_p99[RUN_SLOW_N], run_slow_ratio;
static double             run_slow_hs_p50[RUN_SLOW_N], run_slow_ctl_ratio;
static double             run_redis_us_per_cmd[RUN_MAX_LEVELS];


static void run_build(int lv, run_build_t *b, const char *name, int l1,
    int redis);
static int run_target_cfg(const run_build_t *b, int which);
static void run_json_build(FILE *f, const run_build_t *b);
static void run_json_targets(FILE *f, int build);
static void run_md_targets(FILE *f, const run_build_t *b, int slow);
static void run_md_goals(FILE *f, int build);
static void run_md_cases(FILE *f, int lv);


static double
run_ratio(int lv, int cfg_a, int cfg_b, const char *name, int what)
{
    int  c;

    c = run_case_index(name);

    return run_med(lv, cfg_a, c, what) / run_med(lv, cfg_b, c, what);
}


static int
run_target_cfg(const run_build_t *b, int which)
{
    switch (which) {

    case T_NGINX:
        return CFG_NGINX;

    case T_OFF:
        return CFG_OFF;

    case T_L1:
        return b->l1;

    default:
        return b->redis;
    }
}


static void
run_build(int lv, run_build_t *b, const char *name, int l1, int redis)
{
    int                  k, c, rep;
    run_result_t        *r;
    const run_target_t  *t;
    const char          *v[2][4] = {
        { "resume-tls12", "full-tls12" },
        { "resume-tls13", "full-tls13" }
    };

    b->name = name;
    b->l1 = l1;
    b->redis = redis;

    for (k = 0; k < 2; k++) {
        b->resume[k] = run_ratio(lv, redis, CFG_NGINX, v[k][0], W_PER_S);
        b->resume_cap[k] = run_ratio(lv, redis, CFG_NGINX, v[k][0],
                                     W_CAPACITY);
        b->full_l1[k] = run_ratio(lv, l1, CFG_NGINX, v[k][1], W_PER_S);
        b->full_l1_cap[k] = run_ratio(lv, l1, CFG_NGINX, v[k][1],
                                      W_CAPACITY);
        b->full_redis[k] = run_ratio(lv, redis, CFG_OFF, v[k][1], W_PER_S);
        b->full_redis_cap[k] = run_ratio(lv, redis, CFG_OFF, v[k][1],
                                         W_CAPACITY);

        b->cmds_resume[k] = run_pooled(lv, redis, run_case_index(v[k][0]),
                                       W_CMDS);
        b->get_resume[k] = run_pooled(lv, redis, run_case_index(v[k][0]),
                                      W_GET);
        b->resume_hs[k] = 0;
        b->resume_skipped[k] = 0;

        for (rep = 0; rep < run_opts.reps; rep++) {
            r = &run_results[lv][redis][run_case_index(v[k][0])][rep];
            b->resume_hs[k] += r->ok ? r->handshakes : 0;
            b->resume_skipped[k] += r->ok ? r->outcomes[6] : 0;
        }
        b->cmds_l1[k] = run_pooled(lv, l1, run_case_index(v[k][0]), W_CMDS);
        b->cmds_full[k] = run_pooled(lv, redis, run_case_index(v[k][1]),
                                     W_CMDS);

        c = run_case_index(run_cross_cases[k]);
        b->cross_l1[k] = run_pooled(lv, l1, c, W_RATE);
        b->cross_l1_timeout[k] = 0;
        b->cross_l1_skipped[k] = 0;
        b->cross_l1_offered[k] = 0;

        for (rep = 0; rep < run_opts.reps; rep++) {
            r = &run_results[lv][l1][c][rep];
            b->cross_l1_timeout[k] += r->ok ? r->outcomes[4] : 0;
            b->cross_l1_skipped[k] += r->ok ? r->outcomes[6] : 0;
            b->cross_l1_offered[k] += r->ok ? r->offered : 0;
        }
    }

    b->cmds_ticket = run_pooled(lv, redis, run_case_index("resume-tickets"),
                                W_CMDS);

    for (k = 0; k < 4; k++) {
        c = run_case_index(run_cross_cases[k]);
        b->cross[k] = run_pooled(lv, redis, c, W_RATE);
        b->cross_miss[k] = 0;
        b->cross_timeout[k] = 0;
        b->cross_skipped[k] = 0;
        b->cross_offered[k] = 0;

        for (rep = 0; rep < run_opts.reps; rep++) {
            r = &run_results[lv][redis][c][rep];

            if (r->ok) {
                b->cross_miss[k] += r->outcomes[3];
                b->cross_timeout[k] += r->outcomes[4];
                b->cross_skipped[k] += r->outcomes[6];
                b->cross_offered[k] += r->offered;
            }
        }
    }

    for (k = 0; k < RUN_NTARGETS; k++) {
        t = &run_targets[k];

        switch (t->kind) {

        case T_RATE:
            b->target[k] = run_ratio(lv, run_target_cfg(b, t->a),
                                     run_target_cfg(b, t->b), t->cs,
                                     W_PER_S);
            break;

        case T_CPU:
            b->target[k] = run_ratio(lv, run_target_cfg(b, t->a),
                                     run_target_cfg(b, t->b), t->cs,
                                     W_CPU_US);
            break;

        default:
            b->target[k] = run_med(lv, run_target_cfg(b, t->a),
                                   run_case_index(t->cs), t->what);
        }
    }
}


static void
run_ratios(void)
{
    int     s, rep, n, cfg, lv;
    size_t  c;
    long    cmds;
    double  v[RUN_MAX_REPS], cpu;

    run_nbuilds = (run_opts.candidate != NULL) ? 2 : 1;

    for (lv = 0; lv < run_nlevels; lv++) {
        run_build(lv, &run_b[lv][0], "module", CFG_L1, CFG_REDIS);

        if (run_opts.candidate != NULL) {
            run_build(lv, &run_b[lv][1], "candidate", CFG_L1X, CFG_REDISX);
        }
    }

    for (s = 0; s < RUN_SLOW_N; s++) {
        n = 0;
        for (rep = 0; rep < run_opts.reps; rep++) {
            if (run_slow_ka[s][rep].ok) {
                v[n++] = run_slow_ka[s][rep].p99;
            }
        }
        run_slow_p99[s] = run_median(v, n);

        n = 0;
        for (rep = 0; rep < run_opts.reps; rep++) {
            if (run_slow_hs[s][rep].ok) {
                v[n++] = run_slow_hs[s][rep].p50;
            }
        }
        run_slow_hs_p50[s] = run_median(v, n);
    }

    run_slow_ratio = run_slow_p99[1] / run_slow_p99[0];
    run_slow_ctl_ratio = run_slow_p99[3] / run_slow_p99[2];

    /* Redis CPU per command, per level, over the cases that sent many */

    for (lv = 0; lv < run_nlevels; lv++) {
        cmds = 0;
        cpu = 0;

        for (cfg = 0; cfg < run_ncfg; cfg++) {
            for (c = 0; c < RUN_NCASES; c++) {
                for (rep = 0; rep < run_opts.reps; rep++) {
                    run_result_t  *r = &run_results[lv][cfg][c][rep];

                    if (r->ok && r->cmds[CMD_GET] + r->cmds[CMD_SET] > 1000) {
                        cmds += r->cmds[0] + r->cmds[1] + r->cmds[2]
                                + r->cmds[3];
                        cpu += r->redis_cpu;
                    }
                }
            }
        }

        run_redis_us_per_cmd[lv] = cmds > 0 ? cpu * 1e6 / cmds : NAN;
    }
}


/* JSON numbers: NaN is not one */

static void
run_jnum(FILE *f, const char *key, double v, const char *sep)
{
    if (isnan(v) || isinf(v)) {
        fprintf(f, "\"%s\":null%s", key, sep);

    } else {
        fprintf(f, "\"%s\":%.6g%s", key, v, sep);
    }
}


static void
run_json_build(FILE *f, const run_build_t *b)
{
    int  k;

    static const char *const  p[2] = { "tls12", "tls13" };
    char                      key[96];

    fprintf(f, "{\"configs\":[\"%s\",\"%s\"],", run_configs[b->l1].name,
            run_configs[b->redis].name);

    for (k = 0; k < 2; k++) {
        snprintf(key, sizeof(key), "resumed_redis_vs_nginx_cache_%s", p[k]);
        run_jnum(f, key, b->resume[k], ",");
        snprintf(key, sizeof(key), "resumed_redis_vs_nginx_cache_%s_"
                 "worker_cpu", p[k]);
        run_jnum(f, key, b->resume_cap[k], ",");
        snprintf(key, sizeof(key), "full_module_l1_vs_nginx_cache_%s", p[k]);
        run_jnum(f, key, b->full_l1[k], ",");
        snprintf(key, sizeof(key), "full_module_l1_vs_nginx_cache_%s_"
                 "worker_cpu", p[k]);
        run_jnum(f, key, b->full_l1_cap[k], ",");
        snprintf(key, sizeof(key), "full_module_vs_off_%s", p[k]);
        run_jnum(f, key, b->full_redis[k], ",");
        snprintf(key, sizeof(key), "full_module_vs_off_%s_worker_cpu", p[k]);
        run_jnum(f, key, b->full_redis_cap[k], ",");
        snprintf(key, sizeof(key), "redis_cmds_per_resumed_hs_%s", p[k]);
        run_jnum(f, key, b->cmds_resume[k], ",");
        snprintf(key, sizeof(key), "redis_gets_per_resumed_hs_%s", p[k]);
        run_jnum(f, key, b->get_resume[k], ",");
        snprintf(key, sizeof(key), "redis_cmds_per_l1_hit_%s", p[k]);
        run_jnum(f, key, b->cmds_l1[k], ",");
        snprintf(key, sizeof(key), "redis_cmds_per_full_hs_%s", p[k]);
        run_jnum(f, key, b->cmds_full[k], ",");
        snprintf(key, sizeof(key), "cross_node_rate_%s_with_l1",
                 k ? "tls13_stateful" : "tls12");
        run_jnum(f, key, b->cross_l1[k], ",");
    }

    run_jnum(f, "redis_cmds_per_ticket_resumption", b->cmds_ticket, ",");

    for (k = 0; k < 4; k++) {
        snprintf(key, sizeof(key), "cross_node_rate_%s",
                 k == 0 ? "tls12" : k == 1 ? "tls13_stateful"
                 : k == 2 ? "tickets_tls13" : "tickets_tls12");
        run_jnum(f, key, b->cross[k], ",");
        fprintf(f, "\"%s_lookups_not_found\":%ld,\"%s_lookups_timed_out\":"
                "%ld,\"%s_lookups_skipped\":%ld%s", key, b->cross_miss[k],
                key, b->cross_timeout[k], key, b->cross_skipped[k],
                k < 3 ? "," : "}");
    }
}


/* the targets of one build: each at every level, met at the top one */

static void
run_json_targets(FILE *f, int build)
{
    int                  k, lv;
    double               v;
    const run_target_t  *t;

    fprintf(f, "{");

    for (k = 0; k < RUN_NTARGETS; k++) {
        t = &run_targets[k];
        v = run_b[run_top][build].target[k];

        fprintf(f, "%s\"%s\":{", k ? ",\n" : "", t->key);
        run_jnum(f, "value", v, ",");
        run_jnum(f, "target", t->target, ",");

        if (isnan(t->target)) {
            fprintf(f, "\"met\":null,");

        } else {
            fprintf(f, "\"at_least\":%s,\"met\":%s,",
                    t->at_least ? "true" : "false",
                    isnan(v) ? "null"
                    : (t->at_least ? v >= t->target : v <= t->target)
                    ? "true" : "false");
        }

        fprintf(f, "\"by_inflight\":{");

        for (lv = 0; lv < run_nlevels; lv++) {
            char  key[16];

            snprintf(key, sizeof(key), "%d", run_levels[lv].inflight);
            run_jnum(f, key, run_b[lv][build].target[k],
                     lv < run_nlevels - 1 ? "," : "}}");
        }
    }

    fprintf(f, "}");
}


static void
run_write_json(const char *path)
{
    int            cfg, rep, s, i, k, lv;
    char           key[32];
    FILE          *f;
    size_t         c;
    run_result_t  *r;
    run_mem_t     *m;

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "fopen(\"%s\") failed: %s\n", path, strerror(errno));
        return;
    }

    fprintf(f, "{\n\"command\":\"%s\",\n", run_opts.command);
    fprintf(f, "\"host\":{\"cpus\":%ld,", sysconf(_SC_NPROCESSORS_ONLN));
    run_jnum(f, "loadavg_before_wait", run_load_before, ",");
    run_jnum(f, "waited_s", run_waited, ",");
    run_jnum(f, "loadavg_start", run_load_start, ",");
    run_jnum(f, "loadavg_end", run_load_after, ",");
    fprintf(f, "\"nginx_log_problems\":%d},\n", run_log_problems);
    fprintf(f, "\"settings\":{\"reps\":%d,\"seconds\":%.2f,\"procs\":%d,"
               "\"mem_sessions\":%ld,\"mem_inflight\":%d,"
               "\"worker_processes\":1,\"multi_accept\":%s,"
               "\"candidate\":\"%s\",\"levels\":[",
            run_opts.reps, run_opts.seconds, run_opts.procs,
            run_opts.mem_sessions, RUN_MEM_INFLIGHT,
            run_opts.multi_accept ? "true" : "false",
            run_opts.candidate != NULL ? run_opts.candidate : "");

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, "%s{\"inflight\":%d,\"procs\":%d,\"conns\":%d}",
                lv ? "," : "", run_levels[lv].inflight, run_levels[lv].procs,
                run_levels[lv].conns);
    }

    fprintf(f, "],\"targets_at_inflight\":%d},\n",
            run_levels[run_top].inflight);

    fprintf(f, "\"configs\":{");
    for (cfg = 0; cfg < run_ncfg; cfg++) {
        fprintf(f, "\"%s\":\"%s\"%s", run_configs[cfg].name,
                run_configs[cfg].title, cfg < run_ncfg - 1 ? "," : "},\n");
    }

    /* resumption through Redis over TLS, as a ratio to plain Redis */

    fprintf(f, "\"tls_to_redis\":[");

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, "%s{\"inflight\":%d,", lv ? "," : "",
                run_levels[lv].inflight);
        run_jnum(f, "resume_tls12_per_s_ratio",
                 run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls12", W_PER_S),
                 ",");
        run_jnum(f, "resume_tls13_per_s_ratio",
                 run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls13", W_PER_S),
                 ",");
        run_jnum(f, "resume_tls12_cpu_ratio",
                 run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls12", W_CPU_US),
                 ",");
        run_jnum(f, "resume_tls13_cpu_ratio",
                 run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls13", W_CPU_US),
                 "}");
    }

    fprintf(f, "],\n");

    fprintf(f, "\"cases\":[\n");

    i = 0;

    for (lv = 0; lv < run_nlevels; lv++) {
        for (c = 0; c < RUN_NCASES; c++) {
            for (cfg = 0; cfg < run_ncfg; cfg++) {
                if (!(run_cases[c].configs & ON(cfg))) {
                    continue;
                }

                fprintf(f, "%s{\"inflight\":%d,\"config\":\"%s\","
                           "\"case\":\"%s\",\"mode\":\"%s\",\"proto\":\"%s\","
                           "\"server_tickets\":%d,\"median\":{",
                        i++ ? ",\n" : "", run_levels[lv].inflight,
                        run_configs[cfg].name, run_cases[c].name,
                        run_cases[c].mode, run_cases[c].proto,
                        run_cases[c].tickets);
                run_jnum(f, "per_s", run_med(lv, cfg, c, W_PER_S), ",");
                run_jnum(f, "worker_capacity_per_s",
                         run_med(lv, cfg, c, W_CAPACITY), ",");
                run_jnum(f, "worker_cpu_us", run_med(lv, cfg, c, W_CPU_US),
                         ",");
                run_jnum(f, "worker_sys_us", run_med(lv, cfg, c, W_SYS_US),
                         ",");
                run_jnum(f, "p50_ms", run_med(lv, cfg, c, W_P50), ",");
                run_jnum(f, "p99_ms", run_med(lv, cfg, c, W_P99), ",");
                run_jnum(f, "max_ms", run_med(lv, cfg, c, W_MAX), ",");
                run_jnum(f, "redis_cpu_us_per_cmd",
                         run_med(lv, cfg, c, W_REDIS_US), ",");
                run_jnum(f, "cmds_per_write", run_med(lv, cfg, c, W_PER_WRITE),
                         ",");
                run_jnum(f, "replies_per_read", run_med(lv, cfg, c, W_PER_READ),
                         "},");
                fprintf(f, "\"pooled\":{");
                run_jnum(f, "resume_rate", run_pooled(lv, cfg, c, W_RATE), ",");
                run_jnum(f, "redis_cmds_per_hs",
                         run_pooled(lv, cfg, c, W_CMDS), ",");
                run_jnum(f, "get_per_hs", run_pooled(lv, cfg, c, W_GET), ",");
                run_jnum(f, "set_per_hs", run_pooled(lv, cfg, c, W_SET), ",");
                run_jnum(f, "del_per_hs", run_pooled(lv, cfg, c, W_DEL), ",");
                run_jnum(f, "other_per_hs",
                         run_pooled(lv, cfg, c, W_OTHER), ",");
                run_jnum(f, "redis_cpu_us_per_cmd",
                         run_pooled(lv, cfg, c, W_REDIS_US), ",");
                run_jnum(f, "cmds_per_write",
                         run_pooled(lv, cfg, c, W_PER_WRITE), "},");
                fprintf(f, "\"runs\":[");

                for (rep = 0; rep < run_opts.reps; rep++) {
                    r = &run_results[lv][cfg][c][rep];
                    fprintf(f, "%s{\"ok\":%d,\"handshakes\":%ld,"
                               "\"offered\":%ld,\"resumed\":%ld,"
                               "\"failed\":%ld,",
                            rep ? "," : "", r->ok, r->handshakes, r->offered,
                            r->resumed, r->failed);

                    if (run_configs[cfg].module) {
                        fprintf(f, "\"module_cmds\":%ld,\"writes\":%ld,"
                                   "\"reads\":%ld,", r->mcmds, r->writes,
                                r->reads);
                    }

                    run_jnum(f, "per_s", r->per_s, ",");
                    run_jnum(f, "worker_cpu_s", r->worker_cpu, ",");
                    run_jnum(f, "worker_sys_s", r->worker_sys, ",");
                    run_jnum(f, "redis_cpu_s", r->redis_cpu, ",");
                    run_jnum(f, "p50_ms", r->p50, ",");
                    run_jnum(f, "p99_ms", r->p99, ",");
                    run_jnum(f, "max_ms", r->max, ",");
                    fprintf(f, "\"get\":%ld,\"set\":%ld,\"del\":%ld,"
                               "\"other\":%ld", r->cmds[0], r->cmds[1],
                            r->cmds[2], r->cmds[3]);

                    if (run_configs[cfg].module) {
                        fprintf(f, ",\"lookups\":{");
                        for (k = 0; k < OUT_N; k++) {
                            fprintf(f, "\"%s\":%ld%s", run_outcome_names[k],
                                    r->outcomes[k], k < OUT_N - 1 ? "," : "}");
                        }
                    }

                    fprintf(f, "}");
                }

                fprintf(f, "]}");
            }
        }
    }

    fprintf(f, "\n],\n\"slow_redis\":{\"delay_ms\":20,\"baseline\":"
               "\"the same proxy, 0 ms\",\"control\":\"stock nginx, its replies "
               "to the resuming clients held 0 or 20 ms by a proxy\","
               "\"lookup_timeout_ms\":100,"
               "\"keepalive_req_per_s\":2000,\"resumed_hs_per_s\":200,"
               "\"runs\":[");

    i = 0;

    for (rep = 0; rep < run_opts.reps; rep++) {
        for (s = 0; s < RUN_SLOW_N; s++) {
            fprintf(f, "%s{\"redis\":\"%s\",\"rep\":%d,", i++ ? "," : "",
                    run_slow_names[s], rep + 1);
            run_jnum(f, "keepalive_p50_ms", run_slow_ka[s][rep].p50, ",");
            run_jnum(f, "keepalive_p99_ms", run_slow_ka[s][rep].p99, ",");
            run_jnum(f, "keepalive_max_ms", run_slow_ka[s][rep].max, ",");
            fprintf(f, "\"requests\":%ld,\"resumed\":%ld,\"offered\":%ld,",
                    run_slow_ka[s][rep].requests, run_slow_hs[s][rep].resumed,
                    run_slow_hs[s][rep].offered);
            run_jnum(f, "handshake_p50_ms", run_slow_hs[s][rep].p50, "}");
        }
    }

    fprintf(f, "],");
    run_jnum(f, "p99_prompt_ms", run_slow_p99[0], ",");
    run_jnum(f, "p99_slow_ms", run_slow_p99[1], ",");
    run_jnum(f, "p99_ratio", run_slow_ratio, ",");
    run_jnum(f, "handshake_p50_prompt_ms", run_slow_hs_p50[0], ",");
    run_jnum(f, "handshake_p50_slow_ms", run_slow_hs_p50[1], ",");
    run_jnum(f, "control_p99_prompt_ms", run_slow_p99[2], ",");
    run_jnum(f, "control_p99_slow_ms", run_slow_p99[3], ",");
    run_jnum(f, "control_p99_ratio", run_slow_ctl_ratio, "},\n");

    fprintf(f, "\"memory\":{\"sampled_keys\":%d,", RUN_SAMPLE_KEYS);
    run_jnum(f, "redis_bytes_per_session_tls12", run_bytes_tls12, ",");
    run_jnum(f, "redis_bytes_per_session_tls13", run_bytes_tls13, ",");
    run_jnum(f, "sealed_value_bytes_tls12", run_vlen_tls12, ",");
    run_jnum(f, "sealed_value_bytes_tls13", run_vlen_tls13, ",");
    fprintf(f, "\"runs\":[");

    for (i = 0; i < run_nmem; i++) {
        m = &run_mem[i];
        fprintf(f, "%s{\"config\":\"%s\",\"sessions\":%ld,\"handshakes\":%ld,"
                   "\"seconds\":%.1f,\"worker_rss_kb_before\":%ld,"
                   "\"worker_rss_kb_after\":%ld,\"worker_anon_kb\":%ld,"
                   "\"worker_shmem_kb\":%ld,\"redis_used_before\":%ld,"
                   "\"redis_used_after\":%ld,",
                i ? "," : "", m->name, m->sessions, m->handshakes,
                m->seconds, m->rss0_kb, m->rss1_kb, m->anon1_kb,
                m->shmem1_kb, m->redis0, m->redis1);
        fprintf(f, "\"worker_rss_kb_start\":%ld,\"warmup_sessions\":%ld,",
                m->rss_start_kb, m->sessions0);
        run_jnum(f, "worker_rss_kb_at_mem_sessions",
                 run_mem_at(m, run_opts.mem_sessions), "}");
    }

    fprintf(f, "]},\n");

    /* at the first level: what the figures of earlier runs compare with */

    run_jnum(f, "redis_cpu_us_per_cmd", run_redis_us_per_cmd[0], ",\n");
    fprintf(f, "\"redis_cpu_us_per_cmd_by_inflight\":{");

    for (lv = 0; lv < run_nlevels; lv++) {
        snprintf(key, sizeof(key), "%d", run_levels[lv].inflight);
        run_jnum(f, key, run_redis_us_per_cmd[lv],
                 lv < run_nlevels - 1 ? "," : "},\n");
    }

    run_json_alone(f);

    fprintf(f, "\"ratios\":");
    run_json_build(f, &run_b[0][0]);

    if (run_opts.candidate != NULL) {
        fprintf(f, ",\n\"candidate_ratios\":");
        run_json_build(f, &run_b[0][1]);
    }

    for (k = 0; k < run_nbuilds; k++) {
        fprintf(f, ",\n\"%sratios_by_inflight\":{", k ? "candidate_" : "");

        for (lv = 0; lv < run_nlevels; lv++) {
            fprintf(f, "%s\"%d\":", lv ? ",\n" : "",
                    run_levels[lv].inflight);
            run_json_build(f, &run_b[lv][k]);
        }

        fprintf(f, "}");
    }

    fprintf(f, ",\n\"targets\":{\"inflight\":%d",
            run_levels[run_top].inflight);

    for (k = 0; k < run_nbuilds; k++) {
        fprintf(f, ",\n\"%s\":", run_b[run_top][k].name);
        run_json_targets(f, k);
    }

    fprintf(f, "}\n}\n");

    fclose(f);
}


static const char *
run_pass(double v, double target, int at_least)
{
    if (isnan(v)) {
        return "not measured";
    }

    return (at_least ? v >= target : v <= target) ? "yes" : "**no**";
}


static double
run_min4(double a, double b, double c, double d)
{
    return fmin(fmin(a, b), fmin(c, d));
}


static void
run_md_targets(FILE *f, const run_build_t *b, int slow)
{
    int  k;

    fprintf(f, "| target (%s: %s, %s) | measured | met |\n|---|---|---|\n",
            b->name, run_configs[b->l1].name, run_configs[b->redis].name);

    fprintf(f, "| resumed handshakes/s through Redis (no L1) / nginx's "
               "shared cache >= 0.95 | TLS 1.2 %.3f, TLS 1.3 %.3f; per "
               "worker CPU second: %.3f, %.3f | %s |\n",
            b->resume[0], b->resume[1], b->resume_cap[0], b->resume_cap[1],
            run_pass(run_min4(b->resume[0], b->resume[1], b->resume_cap[0],
                              b->resume_cap[1]), 0.95, 1));
    fprintf(f, "| full handshakes/s, module on / off >= 0.97 | with L1 vs "
               "nginx's cache: TLS 1.2 %.3f, TLS 1.3 %.3f; no L1 vs no "
               "cache: %.3f, %.3f; per worker CPU second: %.3f, %.3f; "
               "%.3f, %.3f | %s |\n",
            b->full_l1[0], b->full_l1[1], b->full_redis[0], b->full_redis[1],
            b->full_l1_cap[0], b->full_l1_cap[1], b->full_redis_cap[0],
            b->full_redis_cap[1],
            run_pass(fmin(run_min4(b->full_l1[0], b->full_l1[1],
                                   b->full_redis[0], b->full_redis[1]),
                          run_min4(b->full_l1_cap[0], b->full_l1_cap[1],
                                   b->full_redis_cap[0],
                                   b->full_redis_cap[1])), 0.97, 1));

    if (slow) {
        fprintf(f, "| Redis 20 ms late: p99 of other keep-alive requests / "
                   "prompt Redis <= 1.2 | %.3f (%.3f ms vs %.3f ms; the "
                   "lookups took %.1f ms vs %.1f ms); the control without "
                   "the module, its handshakes held 20 ms by a proxy: "
                   "%.3f (%.3f ms vs %.3f ms) | %s |\n",
                run_slow_ratio, run_slow_p99[1], run_slow_p99[0],
                run_slow_hs_p50[1], run_slow_hs_p50[0], run_slow_ctl_ratio,
                run_slow_p99[3], run_slow_p99[2],
                run_pass(run_slow_ratio, 1.2, 0));
    }

    fprintf(f, "| Redis round trips per resumed handshake <= 1 | TLS 1.2: "
               "%.3f commands; TLS 1.3: %.3f GET + %.3f SET (its new "
               "ticket, not waited for) | %s |\n",
            b->cmds_resume[0], b->get_resume[1],
            b->cmds_resume[1] - b->get_resume[1],
            run_pass(fmax(b->cmds_resume[0], b->get_resume[1]), 1.001, 0));
    fprintf(f, "| 0 per L1 hit and per ticket resumption | L1: TLS 1.2 "
               "%.4f, TLS 1.3 %.4f (its new ticket's SET); tickets %.4f "
               "| %s |\n",
            b->cmds_l1[0], b->cmds_l1[1], b->cmds_ticket,
            run_pass(fmax(b->cmds_l1[0], b->cmds_ticket), 0.001, 0));
    fprintf(f, "| 1 per new session, asynchronous | TLS 1.2 %.3f; TLS 1.3 "
               "%.3f per full handshake (one ticket) | %s |\n",
            b->cmds_full[0], b->cmds_full[1],
            run_pass(fabs(b->cmds_full[0] - 1), 0.01, 0));
    fprintf(f, "| cross-node resumption >= 99.9 %% |");

    for (k = 0; k < 4; k++) {
        fprintf(f, " %s %.2f %%%s", k == 0 ? "TLS 1.2 ids"
                : k == 1 ? "TLS 1.3 stateful" : k == 2 ? "TLS 1.3 tickets"
                : "TLS 1.2 tickets", 100 * b->cross[k],
                k < 3 ? "," : "");

        if (b->cross_miss[k] + b->cross_timeout[k] + b->cross_skipped[k]
            > 0)
        {
            fprintf(f, " (lookups: %ld not found, %ld timed out, %ld "
                    "skipped)", b->cross_miss[k], b->cross_timeout[k],
                    b->cross_skipped[k]);
        }
    }

    fprintf(f, " | %s |\n\n",
            run_pass(run_min4(b->cross[0], b->cross[1], b->cross[2],
                              b->cross[3]), 0.999, 1));
}


/* the replays' medians over repetitions: 0 batch, 1 writes/s, 2 CPU */

static double
run_alone_med(int busy, size_t c, int field)
{
    int                 rep, n;
    double              v[RUN_MAX_REPS];
    const run_alone_t  *a;

    n = 0;

    for (rep = 0; rep < run_opts.reps; rep++) {
        a = &run_alone[busy][c][rep];

        if (a->ok) {
            v[n++] = field == 0 ? a->batch
                     : field == 1 ? a->writes_per_s : a->us_per_cmd;
        }
    }

    return run_median(v, n);
}


static void
run_md_alone(FILE *f)
{
    int     any;
    size_t  c;
    double  mod, idle, busy;

    any = 0;

    for (c = 0; c < RUN_NCASES; c++) {
        idle = run_alone_med(0, c, 2);

        if (isnan(idle)) {
            continue;
        }

        if (!any) {
            fprintf(f, "Redis alone, at %d in flight: right after each run "
                       "of the configuration \"redis\", its GETs and SETs "
                       "replayed by one connection and no nginx, in batches "
                       "of the module's commands per write at its writes "
                       "per second; then again while nginx's own cache runs "
                       "the case (the CPUs as busy, Redis serving the replay "
                       "only). Redis CPU per command is mostly a wake-up's "
                       "cost divided by the batch:\n\n"
                       "| case | commands per write | writes/s | Redis CPU "
                       "µs/command, the module | Redis alone, idle CPUs | "
                       "Redis alone, busy CPUs | the module / alone, busy "
                       "|\n|---|---|---|---|---|---|---|\n",
                    run_levels[run_top].inflight);
            any = 1;
        }

        mod = run_med(run_top, CFG_REDIS, (int) c, W_REDIS_US);
        busy = run_alone_med(1, c, 2);

        fprintf(f, "| %s | %.2f | %.0f | %.2f | %.2f | %.2f | %.2f |\n",
                run_cases[c].name, run_alone_med(0, c, 0),
                run_alone_med(0, c, 1), mod, idle, busy, mod / busy);
    }

    if (any) {
        fprintf(f, "\n");
    }
}


static void
run_json_alone(FILE *f)
{
    size_t  c;
    double  idle;

    fprintf(f, "\"redis_alone\":{\"inflight\":%d",
            run_levels[run_top].inflight);

    for (c = 0; c < RUN_NCASES; c++) {
        idle = run_alone_med(0, c, 2);

        if (isnan(idle)) {
            continue;
        }

        fprintf(f, ",\n\"%s\":{", run_cases[c].name);
        run_jnum(f, "cmds_per_write", run_alone_med(0, c, 0), ",");
        run_jnum(f, "writes_per_s", run_alone_med(0, c, 1), ",");
        run_jnum(f, "module_us_per_cmd",
                 run_med(run_top, CFG_REDIS, (int) c, W_REDIS_US), ",");
        run_jnum(f, "alone_idle_us_per_cmd", idle, ",");
        run_jnum(f, "alone_busy_us_per_cmd", run_alone_med(1, c, 2), "}");
    }

    fprintf(f, "},\n");
}


/* the design's targets: every level, met or missed at the top one */

static void
run_md_goals(FILE *f, int build)
{
    int                  k, lv;
    double               v;
    const run_target_t  *t;

    fprintf(f, "| target (%s: %s, %s; median of %d) | goal |",
            run_b[run_top][build].name,
            run_configs[run_b[run_top][build].l1].name,
            run_configs[run_b[run_top][build].redis].name, run_opts.reps);

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, " %d in flight |", run_levels[lv].inflight);
    }

    fprintf(f, " at %d |\n|---|---|", run_levels[run_top].inflight);

    for (lv = 0; lv <= run_nlevels; lv++) {
        fprintf(f, "---|");
    }

    fprintf(f, "\n");

    for (k = 0; k < RUN_NTARGETS; k++) {
        t = &run_targets[k];

        if (isnan(t->target)) {
            fprintf(f, "| %s | - |", t->title);

        } else {
            fprintf(f, "| %s | %s %g |", t->title, t->at_least ? ">=" : "<=",
                    t->target);
        }

        for (lv = 0; lv < run_nlevels; lv++) {
            v = run_b[lv][build].target[k];

            if (isnan(v)) {
                fprintf(f, " n/a |");

            } else {
                fprintf(f, t->kind == T_VALUE ? " %.2f |" : " %.3f |", v);
            }
        }

        v = run_b[run_top][build].target[k];

        fprintf(f, " %s |\n", isnan(t->target) ? "-"
                : isnan(v) ? "not measured"
                : (t->at_least ? v >= t->target : v <= t->target) ? "met"
                : "**missed**");
    }

    fprintf(f, "\n");
}


/* every case at one level */

static void
run_md_cases(FILE *f, int lv)
{
    int     cfg;
    size_t  c;
    double  v;

    fprintf(f, "\n%d in flight (%d process%s x %d connection%s):\n\n",
            run_levels[lv].inflight, run_levels[lv].procs,
            run_levels[lv].procs > 1 ? "es" : "", run_levels[lv].conns,
            run_levels[lv].conns > 1 ? "s" : "");

    fprintf(f, "| case | configuration | handshakes/s | worker CPU "
               "µs/handshake (kernel) | p50 ms | p99 ms | max ms | resumed "
               "| Redis commands/handshake | Redis CPU µs/command | "
               "commands/write |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|\n");

    for (c = 0; c < RUN_NCASES; c++) {
        for (cfg = 0; cfg < run_ncfg; cfg++) {
            /* not in this configuration, or left out by -k */

            if (!(run_cases[c].configs & ON(cfg))
                || isnan(run_med(lv, cfg, c, W_PER_S)))
            {
                continue;
            }

            fprintf(f, "| %s | %s | %.0f | %.0f (%.0f) | %.2f | %.2f | "
                       "%.2f | ",
                    run_cases[c].name, run_configs[cfg].name,
                    run_med(lv, cfg, c, W_PER_S),
                    run_med(lv, cfg, c, W_CPU_US),
                    run_med(lv, cfg, c, W_SYS_US),
                    run_med(lv, cfg, c, W_P50), run_med(lv, cfg, c, W_P99),
                    run_med(lv, cfg, c, W_MAX));

            if (strcmp(run_cases[c].mode, "full") == 0) {
                fprintf(f, "- | ");

            } else {
                fprintf(f, "%.2f %% | ",
                        100 * run_pooled(lv, cfg, c, W_RATE));
            }

            fprintf(f, "%.3f (GET %.3f, SET %.3f, DEL %.3f) | ",
                    run_pooled(lv, cfg, c, W_CMDS),
                    run_pooled(lv, cfg, c, W_GET),
                    run_pooled(lv, cfg, c, W_SET),
                    run_pooled(lv, cfg, c, W_DEL));

            v = run_med(lv, cfg, c, W_REDIS_US);

            if (isnan(v)) {
                fprintf(f, "- | ");

            } else {
                fprintf(f, "%.2f | ", v);
            }

            v = run_med(lv, cfg, c, W_PER_WRITE);

            if (!run_configs[cfg].module) {
                fprintf(f, "- |\n");

            } else if (isnan(v)) {
                fprintf(f, "n/a |\n");

            } else {
                fprintf(f, "%.2f |\n", v);
            }
        }
    }
}


static void
run_write_md(const char *path)
{
    int          i, k, lv;
    FILE        *f;
    double       hs, ops, sets, mem, per12, per13;
    run_mem_t   *m;
    const char  *what;

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "fopen(\"%s\") failed: %s\n", path, strerror(errno));
        return;
    }

    fprintf(f, "Measured by `%s` (%ld CPUs, 1-minute load average %.2f at "
               "the start, %.2f at the end; one nginx worker per node%s; ",
            run_opts.command, sysconf(_SC_NPROCESSORS_ONLN), run_load_start,
            run_load_after, run_opts.multi_accept ? ", multi_accept on" : "");

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, "%s%d in flight (%d process%s x %d connection%s)",
                lv == 0 ? "" : lv == run_nlevels - 1 ? " and " : ", ",
                run_levels[lv].inflight, run_levels[lv].procs,
                run_levels[lv].procs > 1 ? "es" : "", run_levels[lv].conns,
                run_levels[lv].conns > 1 ? "s" : "");
    }

    fprintf(f, "; median of %d runs of %g s per case).\n\n",
            run_opts.reps, run_opts.seconds);

    for (k = 0; k < run_nbuilds; k++) {
        run_md_goals(f, k);
    }

    run_md_alone(f);

    fprintf(f, "At %d in flight:\n\n", run_levels[0].inflight);

    run_md_targets(f, &run_b[0][0], 1);

    fprintf(f, "Redis over TLS (configuration \"tls\": rediss://, the "
               "certificate verified), resumed handshakes per second as a "
               "ratio to plain Redis, and the worker's CPU per handshake "
               "likewise:");

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, "%s at %d in flight %.2f / %.2f (TLS 1.2) and %.2f / "
                   "%.2f (TLS 1.3)", lv ? ";" : "", run_levels[lv].inflight,
                run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls12", W_PER_S),
                run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls12", W_CPU_US),
                run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls13", W_PER_S),
                run_ratio(lv, CFG_TLS, CFG_REDIS, "resume-tls13",
                          W_CPU_US));
    }

    fprintf(f, ".\n\n");

    if (run_opts.candidate != NULL) {
        run_md_targets(f, &run_b[0][1], 0);
    }

    for (lv = 0; lv < run_nlevels; lv++) {
        run_md_cases(f, lv);
    }

    /* without the memory test (-m 0) or the cases sizing rests on */

    if (run_nmem == 0 || isnan(run_b[0][0].cmds_full[0])
        || isnan(run_b[0][0].cmds_full[1])
        || isnan(run_b[0][0].get_resume[0])
        || isnan(run_b[0][0].get_resume[1]))
    {
        fprintf(f, "\nMemory and sizing: not measured in this run.\n");
        fclose(f);
        return;
    }

    fprintf(f, "\nMemory: a session takes %.0f bytes in Redis with TLS 1.2 "
               "and %.0f with TLS 1.3 (MEMORY USAGE, mean of %d keys; the "
               "sealed values are %.0f and %.0f bytes).\n\n",
            run_bytes_tls12, run_bytes_tls13, RUN_SAMPLE_KEYS,
            run_vlen_tls12, run_vlen_tls13);

    fprintf(f, "| configuration | sessions stored | worker RSS before | "
               "worker RSS after | of it shared memory | at %ld sessions | "
               "Redis used_memory per session |\n"
               "|---|---|---|---|---|---|---|\n",
            run_opts.mem_sessions);

    for (i = 0; i < run_nmem; i++) {
        m = &run_mem[i];

        fprintf(f, "| %s | %ld | %.1f MB (%.1f after %ld) | %.1f MB | "
                   "%.1f MB | %.1f MB | %.0f bytes/session |\n", m->name,
                m->sessions, m->rss_start_kb / 1024.0, m->rss0_kb / 1024.0,
                m->sessions0, m->rss1_kb / 1024.0, m->shmem1_kb / 1024.0,
                run_mem_at(m, run_opts.mem_sessions) / 1024.0,
                m->sessions > m->sessions0
                ? (double) (m->redis1 - m->redis0)
                  / (m->sessions - m->sessions0) : 0.0);
    }

    /*
     * Sizing: a resumed handshake is one GET, a new session one SET; TLS
     * 1.3 connections add their tickets' SETs.  Sessions live
     * ssl_session_timeout in Redis.
     */

    /*
     * Memory per session: Redis' own used_memory growth in the memory test
     * (the key, the value, the expiry entry, allocator rounding) where it
     * ran, TLS 1.3 scaled by the keys' MEMORY USAGE; else MEMORY USAGE.
     */

    per12 = run_bytes_tls12;
    per13 = run_bytes_tls13;
    what = "MEMORY USAGE";

    for (i = 0; i < run_nmem; i++) {
        m = &run_mem[i];

        if (strcmp(m->name, "redis") == 0 && m->sessions > m->sessions0
            && m->redis1 > m->redis0 && run_bytes_tls12 > 0)
        {
            per12 = (double) (m->redis1 - m->redis0)
                    / (m->sessions - m->sessions0);
            per13 = per12 * run_bytes_tls13 / run_bytes_tls12;
            what = "used_memory growth";
        }
    }

    fprintf(f, "\nSizing, from the figures above: %.0f %% of handshakes "
               "resumed, `ssl_session_timeout` %d s (memory grows linearly "
               "with it), %.0f / %.0f bytes of Redis memory a TLS 1.2 / 1.3 "
               "session (%s), Redis CPU %.1f µs per command as measured "
               "here at %d in flight (busy servers have many).\n\n",
            100 * RUN_RESUME_SHARE, RUN_TTL_S, per12, per13, what,
            run_redis_us_per_cmd[run_top], run_levels[run_top].inflight);

    fprintf(f, "| handshakes/s | protocol | Redis commands/s | Redis CPU "
               "(cores) | sessions held | Redis memory |\n"
               "|---|---|---|---|---|---|\n");

    for (i = 0; i < 4; i++) {
        hs = (i % 2 == 0) ? 10000 : 100000;

        if (i < 2) {
            sets = hs * (1 - RUN_RESUME_SHARE) * run_b[0][0].cmds_full[0];
            ops = sets + hs * RUN_RESUME_SHARE * run_b[0][0].get_resume[0];
            mem = sets * RUN_TTL_S * per12;

        } else {
            sets = hs * (1 - RUN_RESUME_SHARE) * run_b[0][0].cmds_full[1]
                   + hs * RUN_RESUME_SHARE
                     * (run_b[0][0].cmds_resume[1] - run_b[0][0].get_resume[1]);
            ops = sets + hs * RUN_RESUME_SHARE * run_b[0][0].get_resume[1];
            mem = sets * RUN_TTL_S * per13;
        }

        fprintf(f, "| %.0fk | %s | %.0fk | %.2f | %.1f M | %.1f GB |\n",
                hs / 1000, i < 2 ? "TLS 1.2 ids" : "TLS 1.3 stateful",
                ops / 1000, ops * run_redis_us_per_cmd[run_top] / 1e6,
                sets * RUN_TTL_S / 1e6, mem / 1e9);
    }

    fclose(f);
}


/*
 * Three panels per level of connections in flight, one level a row, each
 * row on its own scale: handshakes/s, worker CPU per handshake and Redis
 * CPU per command, by case and configuration; with a candidate build (-X)
 * its two configurations are bars of their own ("before" beside "after").
 * bench.dat holds a block per level (gnuplot's index): per configuration
 * three columns.
 */

static void
run_write_chart(const char *dir)
{
    int          cfg, i, k, lv, height, ncfg, col;
    FILE        *f;
    char         path[PATH_MAX], cmd[PATH_MAX * 2];
    double       v[3], top[RUN_MAX_LEVELS][3];
    size_t       c;
    const char  *term, *sep;

    static const char *const  shown[] = { "full-tls12", "full-tls13",
                                          "resume-tls12", "resume-tls13",
                                          "resume-tickets", NULL };
    static const char *const  labels[] = { "full\\n1.2", "full\\n1.3",
                                           "resumed\\n1.2 ids",
                                           "resumed\\n1.3 stateful",
                                           "resumed\\n1.3 tickets" };
    static const int          what[3] = { W_PER_S, W_CPU_US, W_REDIS_US };
    static const char *const  titles[3] = {
        "handshakes/s, one worker",
        "worker CPU us per handshake (lower: better)",
        "Redis CPU us per command (lower: better)"
    };

    /* the configurations drawn: not "tls"; the candidate's when run */

    static const int  drawn[] = { CFG_NGINX, CFG_L1, CFG_REDIS, CFG_OFF,
                                  CFG_L1X, CFG_REDISX };

    ncfg = (run_ncfg == CFG_N) ? 6 : 4;

    snprintf(path, sizeof(path), "%s/bench.dat", dir);

    f = fopen(path, "w");
    if (f == NULL) {
        return;
    }

    for (lv = 0; lv < run_nlevels; lv++) {
        fprintf(f, "%s# %d in flight: case, then per configuration: "
                   "handshakes/s, worker CPU us/handshake, Redis CPU "
                   "us/command\n",
                lv ? "\n\n" : "", run_levels[lv].inflight);

        for (k = 0; k < 3; k++) {
            top[lv][k] = 0;
        }

        for (i = 0; shown[i] != NULL; i++) {
            c = run_case_index(shown[i]);
            fprintf(f, "\"%s\"", labels[i]);

            for (cfg = 0; cfg < ncfg; cfg++) {
                for (k = 0; k < 3; k++) {
                    v[k] = run_med(lv, drawn[cfg], c, what[k]);

                    if (!(run_cases[c].configs & ON(drawn[cfg]))
                        || isnan(v[k]) || isinf(v[k]))
                    {
                        fprintf(f, " ?");
                        continue;
                    }

                    top[lv][k] = (v[k] > top[lv][k]) ? v[k] : top[lv][k];
                    fprintf(f, " %.1f", v[k]);
                }
            }

            fprintf(f, "\n");
        }
    }

    fclose(f);

    /* pngcairo when gnuplot has it, libgd's png otherwise */

    height = 40 + 330 * run_nlevels;

    term = (system("gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1")
            == 0) ? "pngcairo" : "png";

    snprintf(path, sizeof(path), "%s/bench.gp", dir);

    f = fopen(path, "w");
    if (f == NULL) {
        return;
    }

    fprintf(f,
        "set terminal %s size 1440,%d font 'sans,9'\n"
        "set output '%s/bench.png'\n"
        "set datafile missing '?'\n"
        "set style data histograms\n"
        "set style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\n"
        "set boxwidth 0.9\n"
        "set grid ytics\n"
        "set key top left font ',8' samplen 1.5\n"
        "set xtics nomirror font ',8'\n"
        "set bmargin 4\n"
        "set multiplot layout %d,3\n",
        term, height, dir, run_nlevels);

    for (lv = 0; lv < run_nlevels; lv++) {
        for (k = 0; k < 3; k++) {
            fprintf(f,
                "set yrange [0:%.0f]\n"
                "set title '%s, %d in flight (%dx%d)'\n"
                "plot ",
                top[lv][k] * 1.45 + 1, titles[k], run_levels[lv].inflight,
                run_levels[lv].procs, run_levels[lv].conns);

            sep = "";

            for (cfg = 0; cfg < ncfg; cfg++) {
                col = 2 + cfg * 3 + k;

                if (cfg == 0) {
                    fprintf(f, "'%s/bench.dat' index %d using %d:xtic(1) "
                               "title '%s'", dir, lv, col,
                            run_configs[drawn[cfg]].title);

                } else {
                    fprintf(f, "%s'' index %d using %d title '%s'", sep, lv,
                            col, run_configs[drawn[cfg]].title);
                }

                sep = ", ";
            }

            fprintf(f, "\n");
        }
    }

    fprintf(f, "unset multiplot\n");

    fclose(f);

    snprintf(cmd, sizeof(cmd), "gnuplot '%s/bench.gp'", dir);

    if (system(cmd) != 0) {
        fprintf(stderr, "gnuplot failed: the chart was not drawn\n");
    }
}


int
main(int argc, char **argv)
{
    int             ch, cfg, rep, k, i, lv;
    char            path[PATH_MAX], self[PATH_MAX], *p;
    size_t          c, len;
    ssize_t         n;
    unsigned char   key[32];
    run_result_t   *r;
    run_alone_t    *a, *b;

    static const char *const  cns[] = { "bench.test", NULL };

    run_t0 = tsr_test_now_ms();

    run_opts.outdir = ".";
    run_opts.reps = 3;
    run_opts.seconds = 2;
    run_opts.procs = 2;
    run_opts.levels = "1,8,64";
    run_opts.mem_sessions = 100000;
    run_opts.mem_seconds = 45;

    len = 0;
    for (i = 0; i < argc && len < sizeof(run_opts.command) - 1; i++) {
        len += snprintf(run_opts.command + len,
                        sizeof(run_opts.command) - len, "%s%s",
                        i ? " " : "", i ? argv[i] : "tsr-bench-run");
    }

    while ((ch = getopt(argc, argv, "b:o:r:t:c:i:m:M:w:X:sk:uACh")) != -1) {
        switch (ch) {
        case 'b': run_opts.bench = optarg; break;
        case 'o': run_opts.outdir = optarg; break;
        case 'r': run_opts.reps = atoi(optarg); break;
        case 't': run_opts.seconds = atof(optarg); break;
        case 'c': run_opts.procs = atoi(optarg); break;
        case 'i': run_opts.levels = optarg; break;
        case 'm': run_opts.mem_sessions = atol(optarg); break;
        case 'M': run_opts.mem_seconds = atof(optarg); break;
        case 'w': run_opts.wait_load = atoi(optarg); break;
        case 'X': run_opts.candidate = optarg; break;
        case 's': run_opts.slow_only = 1; break;
        case 'k': run_opts.only = optarg; break;
        case 'u': run_opts.unix_socket = 1; break;
        case 'A': run_opts.multi_accept = 1; break;
        case 'C': run_opts.check = 1; break;
        default:
            run_usage();
            return 2;
        }
    }

    if (run_opts.reps < 1 || run_opts.reps > RUN_MAX_REPS
        || run_opts.seconds <= 0 || run_opts.procs < 1
        || run_opts.procs > 64 || run_levels_parse(run_opts.levels) != 0)
    {
        run_usage();
        return 2;
    }

    if (run_opts.candidate != NULL) {
        run_ncfg = CFG_N;
    }

    if (run_opts.bench == NULL) {
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
            run_usage();
            return 2;
        }

        self[n] = '\0';
        p = strrchr(self, '/');
        *p = '\0';

        /* libtool's wrapper runs the real program from .libs/ */
        if (p - self >= 6 && strcmp(p - 6, "/.libs") == 0) {
            p -= 6;
        }

        snprintf(p, sizeof(self) - (p - self), "/tsr-bench");

        run_opts.bench = strdup(self);
    }

    if (access(run_opts.bench, X_OK) != 0) {
        fprintf(stderr, "no load generator at \"%s\": use -b\n",
                run_opts.bench);
        return 1;
    }

    tsr_test_require("TSR_NGINX", "nginx", "nginx");
    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, run_on_signal);
    signal(SIGTERM, run_on_signal);

    run_wait_load();

    run_log("load average %.2f (waited %.0f s); %d repetitions of %.1f s, "
            "at most %d client processes, %s in flight", run_load_start,
            run_waited, run_opts.reps, run_opts.seconds, run_opts.procs,
            run_opts.levels);

    memset(&run_redis_server, 0, sizeof(tsr_test_redis_t));

    /* a TLS port too, for the configuration that reaches Redis by it */

    run_tls_port = tsr_test_free_port();

    if (run_tls_port == -1
        || tsr_test_tls_certs(run_tls_dir, sizeof(run_tls_dir)) != 0
        || tsr_test_redis_add_tls(&run_redis_server, run_tls_dir,
                                  run_tls_port, 0)
           != 0
        || tsr_test_redis_start(&run_redis_server) != 0
        || run_redis_connect() != 0)
    {
        run_cleanup();
        return 1;
    }

    /* one certificate and one fleet key for every node */

    {
        tsr_test_nginx_t  certs;

        if (tsr_test_nginx_init(&certs, "bench-certs", cns) != 0) {
            run_cleanup();
            return 1;
        }

        snprintf(run_cert_dir, sizeof(run_cert_dir), "%s", certs.dir);
    }

    snprintf(run_key_file, sizeof(run_key_file), "%s/fleet.key",
             run_cert_dir);

    if (RAND_bytes(key, sizeof(key)) != 1
        || tsr_test_write_file(run_key_file, key, sizeof(key), 0600) != 0)
    {
        run_cleanup();
        return 1;
    }

    for (cfg = 0; cfg < run_ncfg; cfg++) {
        if (run_start_fleet(&run_fleets[cfg], run_configs[cfg].name,
                            &run_configs[cfg], 2, run_redis_server.port,
                            NULL)
            != 0)
        {
            run_cleanup();
            return 1;
        }
    }

    /* connections to Redis and ticket key rings loaded */
    usleep(500000);

    /*
     * Level by level and case by case, every configuration in turn, the
     * order rotating with each repetition: what a ratio compares ran
     * seconds apart.
     */

    for (rep = 0; rep < run_opts.reps && !run_opts.slow_only; rep++) {
        for (lv = 0; lv < run_nlevels; lv++) {
            for (c = 0; c < RUN_NCASES; c++) {
                for (k = 0; k < run_ncfg; k++) {
                    cfg = (k + rep + (int) c) % run_ncfg;

                    if (!(run_cases[c].configs & ON(cfg))
                        || (run_opts.only != NULL
                            && strstr(run_cases[c].name, run_opts.only)
                               == NULL))
                    {
                        continue;
                    }

                    r = &run_results[lv][cfg][c][rep];

                    if (run_case(&run_fleets[cfg], &run_cases[c],
                                 &run_levels[lv], r)
                        != 0)
                    {
                        run_log("%s %s at %d: failed", run_cases[c].name,
                                run_configs[cfg].name,
                                run_levels[lv].inflight);
                        continue;
                    }

                    run_log("rep %d %2d in flight %-15s %-6s %7.0f/s  cpu "
                            "%4.0f us  p99 %6.2f ms  resumed %ld/%ld  redis "
                            "%ld get %ld set %ld del, %.1f us/cmd, %.2f "
                            "cmds/write", rep + 1, run_levels[lv].inflight,
                            run_cases[c].name, run_configs[cfg].name,
                            r->per_s, run_value(r, W_CPU_US), r->p99,
                            r->resumed, r->offered, r->cmds[CMD_GET],
                            r->cmds[CMD_SET], r->cmds[CMD_DEL],
                            run_value(r, W_REDIS_US),
                            run_value(r, W_PER_WRITE));

                    if (cfg != CFG_REDIS || lv != run_top
                        || run_cases[c].count != 0)
                    {
                        continue;
                    }

                    a = &run_alone[0][c][rep];
                    run_redis_alone(r, 0, run_opts.seconds, a);

                    if (!a->ok) {
                        continue;
                    }

                    /* and again beside nginx's cache under the same load */

                    b = &run_alone[1][c][rep];
                    run_redis_alone_busy(&run_fleets[CFG_NGINX],
                                         &run_cases[c], &run_levels[lv], r,
                                         b);

                    run_log("rep %d redis alone    %-15s %.2f cmds/write "
                            "at %.0f writes/s: %.1f us/cmd; beside nginx's "
                            "cache under load %.1f", rep + 1,
                            run_cases[c].name, a->batch, a->writes_per_s,
                            a->us_per_cmd, b->ok ? b->us_per_cmd : NAN);
                }
            }
        }
    }

    for (cfg = 0; cfg < run_ncfg; cfg++) {
        run_stop_fleet(&run_fleets[cfg], 2);
    }

    run_slow();

    if (run_opts.mem_sessions > 0 && !run_opts.slow_only) {
        run_memory();
    }

    run_load_after = run_loadavg();

    run_ratios();

    if (mkdir(run_opts.outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir(\"%s\") failed: %s\n", run_opts.outdir,
                strerror(errno));
    }

    snprintf(path, sizeof(path), "%s/bench.json", run_opts.outdir);
    run_write_json(path);
    snprintf(path, sizeof(path), "%s/bench.md", run_opts.outdir);
    run_write_md(path);
    run_write_chart(run_opts.outdir);

    run_cleanup();

    run_log("done: %s/bench.json, bench.md, bench.png", run_opts.outdir);

    snprintf(path, sizeof(path), "cat '%s/bench.md'", run_opts.outdir);
    (void) system(path);

    if (run_opts.check && run_check() != 0) {
        return 1;
    }

    return run_log_problems > 0 ? 1 : 0;
}


/*
 * What make check holds the benchmark to: the figures that count, not
 * time, at every level of connections in flight.  Background commands
 * (the ticket ring's refresh, the node's registration) are allowed 0.02
 * per handshake.  With more than one connection in flight a lookup that
 * timed out is the machine's speed (a busy worker read the reply late),
 * not a lost session, and so is one skipped (the circuit breaker the
 * timeouts opened): cross-node resumption leaves those out there (they
 * are printed).
 */

static int
run_check(void)
{
    int                 k, c, bad, lv, rep;
    long                to, offered, resumed;
    double              rate, full;
    const run_build_t  *b;
    run_result_t       *r;

    static const char *const  cross[] = {
        "TLS 1.2 ids", "TLS 1.3 stateful", "TLS 1.3 tickets",
        "TLS 1.2 tickets"
    };

    static const char *const  alone[] = {
        "full-tls12", "full-tls13", "resume-tls12", "resume-tls13"
    };

#define RUN_CHECK(ok, fmt, ...)                                             \
    do {                                                                    \
        printf("check: %d in flight: " fmt ": %s\n",                        \
               run_levels[lv].inflight, __VA_ARGS__,                        \
               (ok) ? "ok" : "FAILED");                                     \
        bad += !(ok);                                                       \
    } while (0)

    bad = 0;

    for (lv = 0; lv < run_nlevels; lv++) {
        b = &run_b[lv][0];

        /*
         * A handshake of the case that did not resume (its lookup timed
         * out on a loaded machine) is a full one and stores its session:
         * that SET is not a round trip of a resumption.
         */

        c = run_case_index("resume-tls12");
        resumed = 0;
        offered = 0;

        for (rep = 0; rep < run_opts.reps; rep++) {
            r = &run_results[lv][b->redis][c][rep];

            if (r->ok) {
                resumed += r->resumed;
                offered += r->offered;
            }
        }

        full = (offered > 0) ? 1.0 - (double) resumed / offered : 0;

        RUN_CHECK(fabs(b->cmds_resume[0] - full - 1) <= 0.02,
                  "commands per TLS 1.2 resumption through Redis %.3f "
                  "(%.3f with the SETs of the %.2f %% that did not resume)",
                  b->cmds_resume[0] - full, b->cmds_resume[0], 100 * full);
        /* a skipped lookup sends no GET (the breaker, see below) */

        to = (run_levels[lv].inflight > 1) ? b->resume_skipped[1] : 0;
        rate = (b->resume_hs[1] - to > 0)
               ? b->get_resume[1] * b->resume_hs[1] / (b->resume_hs[1] - to)
               : b->get_resume[1];

        RUN_CHECK(fabs(rate - 1) <= 0.02,
                  "GETs per TLS 1.3 resumption through Redis %.3f (%ld "
                  "lookups skipped)", rate, b->resume_skipped[1]);
        RUN_CHECK(b->cmds_l1[0] <= 0.02, "commands per TLS 1.2 L1 hit %.3f",
                  b->cmds_l1[0]);
        RUN_CHECK(b->cmds_ticket <= 0.02,
                  "commands per ticket resumption %.3f", b->cmds_ticket);

        for (k = 0; k < 2; k++) {
            RUN_CHECK(fabs(b->cmds_full[k] - 1) <= 0.02,
                      "commands per full TLS 1.%d handshake %.3f", 2 + k,
                      b->cmds_full[k]);
        }

        for (k = 0; k < 4; k++) {
            to = (run_levels[lv].inflight > 1)
                 ? b->cross_timeout[k] + b->cross_skipped[k] : 0;
            offered = b->cross_offered[k];
            rate = (offered - to > 0)
                   ? b->cross[k] * offered / (offered - to) : b->cross[k];

            RUN_CHECK(rate >= 0.99, "cross-node resumption, %s, %.2f %% "
                      "(lookups: %ld timed out, %ld skipped)", cross[k],
                      100 * rate, b->cross_timeout[k], b->cross_skipped[k]);
        }

        for (k = 0; k < 2; k++) {
            to = (run_levels[lv].inflight > 1)
                 ? b->cross_l1_timeout[k] + b->cross_l1_skipped[k] : 0;
            offered = b->cross_l1_offered[k];
            rate = (offered - to > 0)
                   ? b->cross_l1[k] * offered / (offered - to)
                   : b->cross_l1[k];

            RUN_CHECK(rate >= 0.99, "cross-node resumption with L1, %s, "
                      "%.2f %% (lookups: %ld timed out, %ld skipped)",
                      cross[k], 100 * rate, b->cross_l1_timeout[k],
                      b->cross_l1_skipped[k]);
        }

        if (lv != run_top) {
            continue;
        }

        /* Redis alone replayed what the module sent, case by case */

        for (k = 0; k < 4; k++) {
            c = run_case_index(alone[k]);
            rate = run_alone_med(0, c, 2);
            full = run_alone_med(1, c, 2);

            RUN_CHECK(rate > 0 && full > 0, "Redis alone, %s: %.2f commands "
                      "per write at %.0f writes/s, %.2f us of Redis CPU per "
                      "command (%.2f on busy CPUs)", alone[k],
                      run_alone_med(0, c, 0), run_alone_med(0, c, 1), rate,
                      full);
        }
    }

#undef RUN_CHECK

    return bad ? -1 : 0;
}
