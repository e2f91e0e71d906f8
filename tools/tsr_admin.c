
/*
 * tsr-admin: what ssl-session-redis keeps in Redis, seen by an operator.
 *
 * Subcommands check, stats, inspect, tickets show|rotate, flush and fleet.
 * The tool speaks to Redis on one blocking hiredis connection built from
 * an address in the syntax of the ssl_session_redis directive (parsed by
 * tsr_store_conf_parse()): SCAN, INFO and UNLINK are no business of the
 * core's store.  It opens sealed values with libtsr and reaches the ticket
 * key ring only through the tickets API.  It never prints secret bytes: no
 * master key, ticket, ticket key or password.  Errors are one line on
 * stderr; the exit status is 1 for a usage error, 2 for a failure, 3 when
 * "fleet" finds nodes that disagree.
 *
 * Fleet registration, written by the nginx module (worker 0, every 20 s)
 * and read by "fleet": the string key <prefix>node:<node id>, the node id
 * being the hostname, ":", then "http" or "stream", set with EX 60 to text
 * lines
 *
 *     v 1
 *     host <hostname>
 *     pid <master pid>
 *     time <unix seconds>
 *     server <name> <fingerprint> <listen text>
 *
 * with one "server" line per server: its name ("-" when it has none), the
 * first 16 hex digits of SHA-256(its session id context), as in session
 * keys, and free text up to the end of the line.  Readers skip lines they
 * do not know, so that the format can grow; "v" changes when a known line
 * changes meaning.
 */


#include "tsr.h"
#include "tsr_sync.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>


#define TSR_ADMIN_OK              0
#define TSR_ADMIN_USAGE           1
#define TSR_ADMIN_FAILED          2
#define TSR_ADMIN_MISMATCH        3
#define TSR_ADMIN_GONE            -1        /* a key expired meanwhile */

#define TSR_ADMIN_DEFAULT_ADDRESS "127.0.0.1:6379"
#define TSR_ADMIN_DEFAULT_TIMEOUT 2000          /* ms */
#define TSR_ADMIN_DEFAULT_MAX     1000000       /* keys stats examines */
#define TSR_ADMIN_MAX_KEY_FILES   16
#define TSR_ADMIN_MAX_PREFIX      64            /* as the directive */
#define TSR_ADMIN_CTX_HEX         16            /* context fingerprint */
#define TSR_ADMIN_SCAN_COUNT      "1000"
#define TSR_ADMIN_SAMPLE          20            /* sessions check opens */
#define TSR_ADMIN_SAMPLE_PAGES    100           /* SCAN calls it spends */
#define TSR_ADMIN_MAX_FOUND       16            /* keys inspect shows */
#define TSR_ADMIN_MAX_NODE_VALUE  65536
#define TSR_ADMIN_MAX_NODES       4096
#define TSR_ADMIN_MAX_SERVERS     16384
#define TSR_ADMIN_CTX_SLOTS       2048          /* stats' context table */
#define TSR_ADMIN_MAX_CONTEXTS    1024
#define TSR_ADMIN_SHOW_CONTEXTS   16
#define TSR_ADMIN_SHOW_MISMATCHES 5
#define TSR_ADMIN_MSG_LEN         1024
#define TSR_ADMIN_CONF_LEN        4096
#define TSR_ADMIN_WHERE_LEN       512
#define TSR_ADMIN_TIME_LEN        32
#define TSR_ADMIN_NAME_LEN        256
#define TSR_ADMIN_LISTEN_LEN      128
#define TSR_ADMIN_SAFE_LEN        (4 * TSR_MAX_KEY_NAME + 1)

/* options beyond -a, -k, -p, -t, -h: what each command accepts */
#define TSR_ADMIN_O_CONTEXT       0x0001
#define TSR_ADMIN_O_SCOPE         0x0002
#define TSR_ADMIN_O_PERIOD        0x0004
#define TSR_ADMIN_O_LIFETIME      0x0008
#define TSR_ADMIN_O_MAX_KEYS      0x0010
#define TSR_ADMIN_O_MEMORY        0x0020
#define TSR_ADMIN_O_YES           0x0040
#define TSR_ADMIN_O_ALL           0x0080

#define TSR_ADMIN_OPT_PERIOD      256
#define TSR_ADMIN_OPT_LIFETIME    257
#define TSR_ADMIN_OPT_ALL         258
#define TSR_ADMIN_OPT_VERSION     259

#if defined(__GNUC__) || defined(__clang__)
#define TSR_ADMIN_PRINTF(fmt, args)                                          \
    __attribute__((format(printf, fmt, args)))
#else
#define TSR_ADMIN_PRINTF(fmt, args)
#endif


typedef struct tsr_admin_s  tsr_admin_t;

typedef int (*tsr_admin_handler_pt)(tsr_admin_t *adm, int argc,
    char **argv);

typedef struct {
    const char            *name;
    tsr_admin_handler_pt   handler;
    unsigned               options;         /* TSR_ADMIN_O_* */
    const char            *summary;
    const char            *synopsis;
    const char            *help;
} tsr_admin_command_t;

struct tsr_admin_s {
    const tsr_admin_command_t  *cmd;
    const char                 *address;
    const char                 *key_files[TSR_ADMIN_MAX_KEY_FILES];
    size_t                      nkey_files;
    const char                 *prefix;
    size_t                      prefix_len;
    const char                 *scope;
    uint64_t                    timeout_ms;
    uint64_t                    period_ms;
    uint64_t                    lifetime_ms;
    uint64_t                    max_keys;
    unsigned                    context:1;
    unsigned                    memory:1;
    unsigned                    yes:1;
    unsigned                    all:1;

    tsr_store_conf_t            conf;
    tsr_sync_t                 *redis;
    tsr_tls_t                  *tls;
    tsr_keyring_t              *keys;

    char                        ctx[TSR_ADMIN_CTX_HEX + 1];
    char                        match[2 * TSR_ADMIN_MAX_PREFIX + 1];
    char                        where[TSR_ADMIN_WHERE_LEN];
    char                        conf_buf[TSR_ADMIN_CONF_LEN];
};

/* key names already met: SCAN may return a key more than once */
typedef struct {
    uint64_t                   *slots;      /* name hashes, 0: empty */
    size_t                      size;       /* a power of two */
    size_t                      n;
} tsr_admin_seen_t;

typedef struct {
    uint64_t                    fp;
    uint64_t                    n;
} tsr_admin_ctx_count_t;

typedef struct {
    uint64_t                    sessions;
    uint64_t                    bytes;
    uint64_t                    no_ttl;
    uint64_t                    foreign;    /* not session keys, or not
                                               strings */
    uint64_t                    other_ctx;  /* past the context table */
    uint64_t                    examined;
    unsigned                    truncated:1;
    tsr_admin_seen_t            seen;
    uint64_t                   *ttls;
    size_t                      nttls;
    size_t                      nalloc;
    size_t                      nctx;
    tsr_admin_ctx_count_t       ctx[TSR_ADMIN_CTX_SLOTS];
} tsr_admin_stats_t;

typedef struct {
    size_t                      index;      /* in registration order */
    char                        id[TSR_ADMIN_SAFE_LEN];
    char                        proto[16];
    char                        host[TSR_ADMIN_NAME_LEN];
    long long                   pid;
    long long                   time;
    long long                   ttl_ms;
    size_t                      nservers;
    size_t                      bad_lines;
    char                        version[16];    /* "" when "v 1" */
} tsr_admin_node_t;

typedef struct {
    size_t                      node;
    char                        proto[16];
    char                        name[TSR_ADMIN_NAME_LEN];
    char                        fp[TSR_ADMIN_CTX_HEX + 1];
    char                        listen[TSR_ADMIN_LISTEN_LEN];
} tsr_admin_server_t;

typedef struct {
    tsr_admin_node_t           *nodes;
    size_t                      nnodes;
    tsr_admin_server_t         *servers;
    size_t                      nservers;
    size_t                      salloc;
    size_t                      skipped;    /* nodes or servers past the
                                               limits */
    tsr_admin_seen_t            seen;
} tsr_admin_fleet_t;


static int tsr_admin_options(tsr_admin_t *adm, int argc, char **argv,
    int *first);
static int tsr_admin_setup(tsr_admin_t *adm);
static int tsr_admin_connect(tsr_admin_t *adm);
static redisReply *tsr_admin_command(tsr_admin_t *adm, const char *what,
    const char *fmt, ...);
static redisReply *tsr_admin_reply(tsr_admin_t *adm, const char *what);
static int tsr_admin_append(tsr_admin_t *adm, const char *fmt, ...);
static int tsr_admin_scan(tsr_admin_t *adm, const char *pattern,
    char *cursor, size_t cursor_size, redisReply **reply);
static int tsr_admin_session_key(tsr_admin_t *adm, const char *key,
    size_t len, const char **ctx, const char **id, size_t *idlen);
static int tsr_admin_seen(tsr_admin_seen_t *s, const char *key, size_t len);
static void tsr_admin_seen_free(tsr_admin_seen_t *s);

static int tsr_admin_check(tsr_admin_t *adm, int argc, char **argv);
static int tsr_admin_check_server(tsr_admin_t *adm);
static int tsr_admin_check_memory(tsr_admin_t *adm);
static int tsr_admin_check_keys(tsr_admin_t *adm);
static int tsr_admin_check_sessions(tsr_admin_t *adm);

static int tsr_admin_stats(tsr_admin_t *adm, int argc, char **argv);
static int tsr_admin_stats_page(tsr_admin_t *adm, tsr_admin_stats_t *st,
    redisReply *keys);
static int tsr_admin_stats_key(tsr_admin_t *adm, tsr_admin_stats_t *st,
    redisReply *k, redisReply *ttl, redisReply *len, redisReply *mem);
static void tsr_admin_stats_ctx(tsr_admin_stats_t *st, const char *ctx);
static void tsr_admin_stats_print(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern);

static int tsr_admin_inspect(tsr_admin_t *adm, int argc, char **argv);
static int tsr_admin_inspect_key(tsr_admin_t *adm, const char *key,
    size_t keylen, size_t shown);
static int tsr_admin_inspect_open(tsr_admin_t *adm, const char *key,
    size_t keylen, const uint8_t *val, size_t vlen);
static void tsr_admin_print_session(const SSL_SESSION *sess,
    const char *key_ctx, const char *key_id, size_t idlen);

static int tsr_admin_tickets(tsr_admin_t *adm, int argc, char **argv);
static tsr_tickets_t *tsr_admin_tickets_create(tsr_admin_t *adm,
    int no_rotate);
static int tsr_admin_tickets_rotate(tsr_admin_t *adm, const char *name);
static void tsr_admin_tickets_print(tsr_admin_t *adm, tsr_tickets_t *t,
    const char *name);

static int tsr_admin_flush(tsr_admin_t *adm, int argc, char **argv);
static int tsr_admin_confirm(tsr_admin_t *adm, const char *pattern);

static int tsr_admin_fleet(tsr_admin_t *adm, int argc, char **argv);
static int tsr_admin_fleet_page(tsr_admin_t *adm, tsr_admin_fleet_t *fl,
    redisReply *keys);
static int tsr_admin_fleet_parse(tsr_admin_fleet_t *fl, size_t node,
    const char *val, size_t len);
static int tsr_admin_fleet_sort(tsr_admin_fleet_t *fl);
static int tsr_admin_fleet_print(tsr_admin_t *adm, tsr_admin_fleet_t *fl);
static int tsr_admin_server_cmp(const void *a, const void *b);
static int tsr_admin_node_cmp(const void *a, const void *b);
static void tsr_admin_key_id(const uint8_t *val, size_t len, char *out);

static void tsr_admin_usage(FILE *f, const tsr_admin_command_t *cmd);
static const tsr_admin_command_t *tsr_admin_find(const char *name);
static int tsr_admin_usage_error(tsr_admin_t *adm, const char *fmt, ...)
    TSR_ADMIN_PRINTF(2, 3);
static void tsr_admin_fail(tsr_admin_t *adm, const char *fmt, ...)
    TSR_ADMIN_PRINTF(2, 3);
static void tsr_admin_vfail(tsr_admin_t *adm, const char *fmt, va_list args)
    TSR_ADMIN_PRINTF(2, 0);
static int tsr_admin_parse_time(const char *s, int bare_sec, uint64_t *ms);
static int tsr_admin_parse_hex(const char *s, size_t min, size_t max,
    char *out, size_t outlen);
static int tsr_admin_is_hex(const char *p, size_t len);
static int tsr_admin_info_field(const char *info, const char *name,
    char *out, size_t outlen);
static const char *tsr_admin_safe(const char *p, size_t len, char *out,
    size_t outlen);
static void tsr_admin_fmt_time(uint64_t ms, char *buf, size_t len);
static void tsr_admin_fmt_duration(uint64_t ms, char *buf, size_t len);
static void tsr_admin_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *buf,
    size_t len);
static uint64_t tsr_admin_now(void);
static int tsr_admin_u64_cmp(const void *a, const void *b);
static int tsr_admin_ctx_cmp(const void *a, const void *b);
static const char *tsr_admin_version_name(int version);


static const tsr_admin_command_t  tsr_admin_commands[] = {

    { "check", tsr_admin_check,
      TSR_ADMIN_O_SCOPE | TSR_ADMIN_O_PERIOD | TSR_ADMIN_O_LIFETIME,
      "connectivity, AUTH, version, eviction policy, key files",
      "check [options]",
      "Connects and authenticates, shows the Redis version and judges its\n"
      "eviction policy; with -k, tells whether the key files open the\n"
      "ticket key ring (if there is one) and a sample of the sessions.\n"
      "Exits 0 when the setup is usable, else 2 with the reason.\n"
      "  -s, --scope SCOPE     ticket ring scope (default \"default\")\n"
      "      --period TIME     ssl_session_redis_ticket_rotation (12h)\n"
      "      --lifetime TIME   the longest ssl_session_timeout (5m)\n" },

    { "stats", tsr_admin_stats,
      TSR_ADMIN_O_CONTEXT | TSR_ADMIN_O_MAX_KEYS | TSR_ADMIN_O_MEMORY,
      "number, size and TTLs of the session keys",
      "stats [options]",
      "Counts the session keys under the prefix (SCAN, never KEYS) with\n"
      "their total size, their TTLs (min, median, max) and contexts.\n"
      "  -c, --context HEX     only sessions of this context fingerprint\n"
      "  -m, --memory          sizes from MEMORY USAGE (Redis' overhead\n"
      "                        included) instead of STRLEN\n"
      "  -n, --max-keys N      examine at most N keys (default 1000000)\n" },

    { "inspect", tsr_admin_inspect, TSR_ADMIN_O_CONTEXT,
      "one session: TTL, size; with -k protocol, cipher, age",
      "inspect [options] SESSION-ID-HEX",
      "Finds the session key(s) of a session id and shows TTL and size;\n"
      "with -k opens the value and shows protocol, cipher, creation time,\n"
      "timeout and server name, never secret bytes.\n"
      "  -c, --context HEX     the context fingerprint (16 hex digits) of\n"
      "                        the key, instead of scanning for it\n" },

    { "tickets", tsr_admin_tickets,
      TSR_ADMIN_O_SCOPE | TSR_ADMIN_O_PERIOD | TSR_ADMIN_O_LIFETIME,
      "show or rotate the fleet ticket key ring",
      "tickets show|rotate -k KEYFILE [options]",
      "show: the fleet ticket key ring: generation, rotation time, key\n"
      "names, roles and times (never key bytes).  rotate: creates the\n"
      "ring when there is none, or rotates it when its period has passed.\n"
      "  -s, --scope SCOPE     ring scope (default \"default\")\n"
      "      --period TIME     ssl_session_redis_ticket_rotation (12h)\n"
      "      --lifetime TIME   the longest ssl_session_timeout (5m)\n" },

    { "flush", tsr_admin_flush,
      TSR_ADMIN_O_CONTEXT | TSR_ADMIN_O_YES | TSR_ADMIN_O_ALL,
      "delete session keys (SCAN + UNLINK)",
      "flush [options]",
      "Deletes the session keys under the prefix (SCAN + UNLINK), after\n"
      "asking on a terminal; without one it needs --yes.\n"
      "  -c, --context HEX     only sessions of this context fingerprint\n"
      "      --all             every key under the prefix: sessions, the\n"
      "                        ticket key rings and node registrations\n"
      "  -y, --yes             do not ask\n" },

    { "fleet", tsr_admin_fleet, 0,
      "registered nginx nodes, session id context mismatches",
      "fleet [options]",
      "Lists the nginx nodes registered under the prefix and flags server\n"
      "names whose session id context differs across nodes (different\n"
      "certificates or client CA lists: their sessions are not shared).\n"
      "Exits 3 when it finds any.\n" },

    { NULL, NULL, 0, NULL, NULL, NULL }
};


static const struct option  tsr_admin_long_options[] = {
    { "address",  required_argument, NULL, 'a' },
    { "key",      required_argument, NULL, 'k' },
    { "prefix",   required_argument, NULL, 'p' },
    { "timeout",  required_argument, NULL, 't' },
    { "context",  required_argument, NULL, 'c' },
    { "scope",    required_argument, NULL, 's' },
    { "period",   required_argument, NULL, TSR_ADMIN_OPT_PERIOD },
    { "lifetime", required_argument, NULL, TSR_ADMIN_OPT_LIFETIME },
    { "max-keys", required_argument, NULL, 'n' },
    { "memory",   no_argument,       NULL, 'm' },
    { "yes",      no_argument,       NULL, 'y' },
    { "all",      no_argument,       NULL, TSR_ADMIN_OPT_ALL },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    int                          rc, first;
    tsr_admin_t                 *adm;
    const tsr_admin_command_t   *cmd;

    (void) signal(SIGPIPE, SIG_IGN);

    if (argc < 2) {
        tsr_admin_usage(stderr, NULL);
        return TSR_ADMIN_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        cmd = (argc > 2) ? tsr_admin_find(argv[2]) : NULL;
        tsr_admin_usage(stdout, cmd);
        return TSR_ADMIN_OK;
    }

    if (strcmp(argv[1], "--version") == 0) {
        printf("tsr-admin %s\n", PACKAGE_VERSION);
        return TSR_ADMIN_OK;
    }

    cmd = tsr_admin_find(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "tsr-admin: unknown command \"%s\"; see "
                "\"tsr-admin --help\"\n", argv[1]);
        return TSR_ADMIN_USAGE;
    }

    adm = calloc(1, sizeof(tsr_admin_t));
    if (adm == NULL) {
        fprintf(stderr, "tsr-admin: out of memory\n");
        return TSR_ADMIN_FAILED;
    }

    adm->cmd = cmd;
    first = 0;

    rc = tsr_admin_options(adm, argc - 1, argv + 1, &first);
    if (rc != TSR_ADMIN_OK) {
        goto done;
    }

    if (first < 0) {
        /* --help */
        tsr_admin_usage(stdout, cmd);
        goto done;
    }

    rc = tsr_admin_setup(adm);
    if (rc != TSR_ADMIN_OK) {
        goto done;
    }

    rc = cmd->handler(adm, argc - 1 - first, argv + 1 + first);

done:

    if (fflush(stdout) != 0 && rc == TSR_ADMIN_OK) {
        fprintf(stderr, "tsr-admin: %s: cannot write the output: %s\n",
                cmd->name, strerror(errno));
        rc = TSR_ADMIN_FAILED;
    }

    tsr_sync_free(adm->redis);
    tsr_tls_destroy(adm->tls);

    tsr_keyring_destroy(adm->keys);

    /* the password read from password_file= is in there */
    OPENSSL_cleanse(adm, sizeof(tsr_admin_t));
    free(adm);

    return rc;
}


/*
 * Options of a command (argv[0] is its name); *first is the index of the
 * first operand, or -1 after --help.
 */

static int
tsr_admin_options(tsr_admin_t *adm, int argc, char **argv, int *first)
{
    int                  c, help;
    char                *end;
    unsigned             bit;
    const char          *name;
    unsigned long long   n;

    adm->address = TSR_ADMIN_DEFAULT_ADDRESS;
    adm->prefix = TSR_DEFAULT_PREFIX;
    adm->timeout_ms = TSR_ADMIN_DEFAULT_TIMEOUT;
    adm->max_keys = TSR_ADMIN_DEFAULT_MAX;

    help = 0;
    opterr = 0;
    optind = 1;

    for ( ;; ) {
        c = getopt_long(argc, argv, ":a:k:p:t:c:s:n:myh",
                        tsr_admin_long_options, NULL);
        if (c == -1) {
            break;
        }

        bit = 0;
        name = argv[optind - 1];

        switch (c) {

        case 'a':
            adm->address = optarg;
            break;

        case 'k':
            if (adm->nkey_files == TSR_ADMIN_MAX_KEY_FILES) {
                return tsr_admin_usage_error(adm, "more than %d key files",
                                             TSR_ADMIN_MAX_KEY_FILES);
            }

            adm->key_files[adm->nkey_files++] = optarg;
            break;

        case 'p':
            adm->prefix = optarg;
            break;

        case 't':
            if (tsr_admin_parse_time(optarg, 0, &adm->timeout_ms) != 0
                || adm->timeout_ms == 0 || adm->timeout_ms > 600000)
            {
                return tsr_admin_usage_error(adm, "invalid timeout \"%s\": "
                                             "1ms to 10m, as in \"500ms\" or "
                                             "\"2s\"", optarg);
            }

            break;

        case 'c':
            bit = TSR_ADMIN_O_CONTEXT;

            if (tsr_admin_parse_hex(optarg, TSR_ADMIN_CTX_HEX,
                                    TSR_ADMIN_CTX_HEX, adm->ctx,
                                    sizeof(adm->ctx))
                != 0)
            {
                return tsr_admin_usage_error(adm, "invalid context \"%s\": "
                                             "16 hex digits, as in the "
                                             "session keys", optarg);
            }

            adm->context = 1;
            break;

        case 's':
            bit = TSR_ADMIN_O_SCOPE;
            adm->scope = optarg;
            break;

        case TSR_ADMIN_OPT_PERIOD:
            bit = TSR_ADMIN_O_PERIOD;

            if (tsr_admin_parse_time(optarg, 0, &adm->period_ms) != 0
                || adm->period_ms == 0)
            {
                return tsr_admin_usage_error(adm, "invalid period \"%s\"",
                                             optarg);
            }

            break;

        case TSR_ADMIN_OPT_LIFETIME:
            bit = TSR_ADMIN_O_LIFETIME;

            if (tsr_admin_parse_time(optarg, 1, &adm->lifetime_ms) != 0
                || adm->lifetime_ms == 0)
            {
                return tsr_admin_usage_error(adm, "invalid lifetime \"%s\"",
                                             optarg);
            }

            break;

        case 'n':
            bit = TSR_ADMIN_O_MAX_KEYS;
            errno = 0;
            n = strtoull(optarg, &end, 10);

            if (errno != 0 || end == optarg || *end != '\0' || n == 0
                || optarg[0] == '-')
            {
                return tsr_admin_usage_error(adm, "invalid number of keys "
                                             "\"%s\"", optarg);
            }

            adm->max_keys = n;
            break;

        case 'm':
            bit = TSR_ADMIN_O_MEMORY;
            adm->memory = 1;
            break;

        case 'y':
            bit = TSR_ADMIN_O_YES;
            adm->yes = 1;
            break;

        case TSR_ADMIN_OPT_ALL:
            bit = TSR_ADMIN_O_ALL;
            adm->all = 1;
            break;

        case 'h':
            help = 1;
            break;

        case ':':
            return tsr_admin_usage_error(adm, "option \"%s\" needs a value",
                                         name);

        default:
            if (optopt != 0 && optopt < 256) {
                return tsr_admin_usage_error(adm, "unknown option \"-%c\"",
                                             optopt);
            }

            return tsr_admin_usage_error(adm, "unknown option \"%s\"", name);
        }

        if (bit != 0 && (adm->cmd->options & bit) == 0) {
            return tsr_admin_usage_error(adm, "option \"%s\" does not apply",
                                         name);
        }
    }

    *first = help ? -1 : optind;

    return TSR_ADMIN_OK;
}


/*
 * Checks the prefix, parses the address, loads the key files; connects
 * nothing yet.
 */

static int
tsr_admin_setup(tsr_admin_t *adm)
{
    int          rc;
    char        *m;
    size_t       i, n;
    const char  *p;
    char         err[TSR_ADMIN_MSG_LEN];

    n = strlen(adm->prefix);

    if (n == 0 || n > TSR_ADMIN_MAX_PREFIX) {
        return tsr_admin_usage_error(adm, "invalid prefix \"%s\": must be 1 "
                                     "to %d characters", adm->prefix,
                                     TSR_ADMIN_MAX_PREFIX);
    }

    for (p = adm->prefix; *p != '\0'; p++) {
        if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f) {
            return tsr_admin_usage_error(adm, "invalid prefix: spaces and "
                                         "control characters are not "
                                         "allowed");
        }
    }

    adm->prefix_len = n;

    /* the prefix as a literal in SCAN's glob-style MATCH patterns */

    m = adm->match;

    for (p = adm->prefix; *p != '\0'; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            *m++ = '\\';
        }

        *m++ = *p;
    }

    *m = '\0';

    rc = tsr_store_conf_parse(&adm->conf, adm->address, adm->conf_buf,
                              sizeof(adm->conf_buf), err, sizeof(err));
    if (rc != TSR_OK) {
        return tsr_admin_usage_error(adm, "invalid redis address (-a): %s",
                                     err);
    }

    adm->conf.connect_timeout_ms = (int) adm->timeout_ms;
    adm->conf.command_timeout_ms = (int) adm->timeout_ms;

    if (adm->conf.unix_path != NULL) {
        (void) snprintf(adm->where, sizeof(adm->where), "unix:%s",
                        adm->conf.unix_path);

    } else {
        if (adm->conf.host == NULL) {
            adm->conf.host = "127.0.0.1";
        }

        if (adm->conf.port == 0) {
            adm->conf.port = 6379;
        }

        (void) snprintf(adm->where, sizeof(adm->where),
                        strchr(adm->conf.host, ':') ? "[%s]:%d" : "%s:%d",
                        adm->conf.host, adm->conf.port);
    }

    if (adm->conf.db != 0) {
        n = strlen(adm->where);
        (void) snprintf(adm->where + n, sizeof(adm->where) - n, " db %d",
                        adm->conf.db);
    }

    if (adm->nkey_files == 0) {
        return TSR_ADMIN_OK;
    }

    adm->keys = tsr_keyring_create(err, sizeof(err));
    if (adm->keys == NULL) {
        tsr_admin_fail(adm, "%s", err);
        return TSR_ADMIN_FAILED;
    }

    for (i = 0; i < adm->nkey_files; i++) {
        if (tsr_keyring_add_file(adm->keys, adm->key_files[i], err,
                                 sizeof(err))
            != TSR_OK)
        {
            tsr_admin_fail(adm, "%s", err);
            return TSR_ADMIN_FAILED;
        }
    }

    return TSR_ADMIN_OK;
}


/*
 * One blocking connection: connect and command timeouts, AUTH (as an ACL
 * user with user=), SELECT, and a PING that tells whether authentication
 * is missing.
 */

static int
tsr_admin_connect(tsr_admin_t *adm)
{
    int               rc;
    char              err[TSR_SYNC_ERR_LEN];
    redisReply       *reply;
    tsr_tls_conf_t    tc;
    tsr_sync_conf_t   conf;

    if (adm->conf.cluster != NULL || adm->conf.sentinels != NULL) {
        tsr_admin_fail(adm, "cluster= and sentinel= addresses are not "
                       "supported by tsr-admin yet: give one node as "
                       "host:port");
        return TSR_ADMIN_FAILED;
    }

    memset(&conf, 0, sizeof(conf));
    conf.addr = adm->where;
    conf.host = adm->conf.host;
    conf.port = adm->conf.port;
    conf.path = adm->conf.unix_path;
    conf.user = adm->conf.user;
    conf.password = adm->conf.password;
    conf.password_len = (adm->conf.password != NULL)
                        ? strlen(adm->conf.password) : 0;
    conf.db = adm->conf.db;
    conf.info = 1;
    conf.connect_timeout_ms = (int) adm->timeout_ms;
    conf.command_timeout_ms = (int) adm->timeout_ms;

    if (adm->conf.tls) {
        if ((adm->conf.tls_cert_file == NULL)
            != (adm->conf.tls_key_file == NULL))
        {
            tsr_admin_fail(adm, "tls_cert_file= and tls_key_file= go "
                           "together");
            return TSR_ADMIN_FAILED;
        }

        memset(&tc, 0, sizeof(tc));
        tc.ca_file = adm->conf.tls_ca_file;
        tc.cert_file = adm->conf.tls_cert_file;
        tc.key_file = adm->conf.tls_key_file;
        tc.server_name = adm->conf.tls_server_name;
        tc.verify = !adm->conf.tls_no_verify;

        adm->tls = tsr_tls_create(&tc, err, sizeof(err));
        if (adm->tls == NULL) {
            tsr_admin_fail(adm, "%s", err);
            return TSR_ADMIN_FAILED;
        }

        conf.tls = adm->tls;
    }

    adm->redis = tsr_sync_connect(&conf, &rc, err, sizeof(err));
    if (adm->redis == NULL) {
        tsr_admin_fail(adm, "%s", err);
        return TSR_ADMIN_FAILED;
    }

    reply = tsr_admin_command(adm, "PING", "PING");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "PING on %s failed: %s%s", adm->where,
                       reply->str,
                       (adm->conf.password == NULL
                        && strncmp(reply->str, "NOAUTH", 6) == 0)
                       ? " (add password_file= to the address)" : "");
        freeReplyObject(reply);
        return TSR_ADMIN_FAILED;
    }

    freeReplyObject(reply);

    return TSR_ADMIN_OK;
}


/*
 * A command and its reply, error replies included; NULL (reported) when
 * the connection failed.  The caller frees the reply.
 */

static redisReply *
tsr_admin_command(tsr_admin_t *adm, const char *what, const char *fmt, ...)
{
    int          rc;
    va_list      args;
    redisReply  *reply;

    va_start(args, fmt);
    rc = tsr_sync_vcommand(adm->redis, &reply, what, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return NULL;
    }

    return reply;
}


/* queues a command of a pipeline; 0 or -1 (out of memory, reported) */

static int
tsr_admin_append(tsr_admin_t *adm, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_sync_vappend(adm->redis, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return -1;
    }

    return 0;
}


/* the next reply of a pipeline, as tsr_admin_command() */

static redisReply *
tsr_admin_reply(tsr_admin_t *adm, const char *what)
{
    redisReply  *reply;

    if (tsr_sync_reply(adm->redis, &reply, what) != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return NULL;
    }

    return reply;
}


/*
 * One SCAN step over "pattern" from "cursor" (updated; "0" when done).
 * *reply is the whole reply, its element[1] the array of key names, all
 * strings; the caller frees it.  Returns 0, or -1 (reported).
 */

static int
tsr_admin_scan(tsr_admin_t *adm, const char *pattern, char *cursor,
    size_t cursor_size, redisReply **reply)
{
    size_t       i;
    redisReply  *r, *keys;

    r = tsr_admin_command(adm, "SCAN", "SCAN %s MATCH %s COUNT %s", cursor,
                          pattern, TSR_ADMIN_SCAN_COUNT);
    if (r == NULL) {
        return -1;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "SCAN on %s failed: %s", adm->where, r->str);
        goto failed;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[0]->len == 0 || r->element[0]->len >= cursor_size
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        tsr_admin_fail(adm, "SCAN on %s: unexpected reply", adm->where);
        goto failed;
    }

    keys = r->element[1];

    for (i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            tsr_admin_fail(adm, "SCAN on %s: unexpected reply", adm->where);
            goto failed;
        }
    }

    memcpy(cursor, r->element[0]->str, r->element[0]->len);
    cursor[r->element[0]->len] = '\0';

    *reply = r;

    return 0;

failed:

    freeReplyObject(r);

    return -1;
}


/*
 * Whether "key" is a session key under the prefix:
 * <prefix>s:<16 hex>:<2 to 64 hex, even>; points *ctx and *id into it.
 */

static int
tsr_admin_session_key(tsr_admin_t *adm, const char *key, size_t len,
    const char **ctx, const char **id, size_t *idlen)
{
    size_t       head, n;
    const char  *p;

    head = adm->prefix_len + 2;

    if (len < head + TSR_ADMIN_CTX_HEX + 1 + 2
        || memcmp(key, adm->prefix, adm->prefix_len) != 0
        || key[adm->prefix_len] != 's' || key[adm->prefix_len + 1] != ':')
    {
        return -1;
    }

    p = key + head;

    if (!tsr_admin_is_hex(p, TSR_ADMIN_CTX_HEX)
        || p[TSR_ADMIN_CTX_HEX] != ':')
    {
        return -1;
    }

    n = len - head - TSR_ADMIN_CTX_HEX - 1;

    if (n % 2 != 0 || n > 2 * TSR_MAX_SESSION_ID
        || !tsr_admin_is_hex(p + TSR_ADMIN_CTX_HEX + 1, n))
    {
        return -1;
    }

    if (ctx != NULL) {
        *ctx = p;
        *id = p + TSR_ADMIN_CTX_HEX + 1;
        *idlen = n;
    }

    return 0;
}


/*
 * Whether "key" was met before (1), else remembers it (0); -1 when out of
 * memory.  Keys are remembered by 64 bits of their SHA-256.
 */

static int
tsr_admin_seen(tsr_admin_seen_t *s, const char *key, size_t len)
{
    size_t    i, j, size;
    uint64_t  h, *slots;
    uint8_t   md[SHA256_DIGEST_LENGTH];

    if (2 * (s->n + 1) > s->size) {
        size = s->size ? 2 * s->size : 1024;

        slots = calloc(size, sizeof(uint64_t));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i < s->size; i++) {
            if (s->slots[i] == 0) {
                continue;
            }

            for (j = s->slots[i] & (size - 1); slots[j] != 0;
                 j = (j + 1) & (size - 1))
            {
                /* void */
            }

            slots[j] = s->slots[i];
        }

        free(s->slots);
        s->slots = slots;
        s->size = size;
    }

    if (SHA256((const unsigned char *) key, len, md) == NULL) {
        return -1;
    }

    memcpy(&h, md, sizeof(uint64_t));

    if (h == 0) {
        /* 0 marks an empty slot */
        h = 1;
    }

    for (i = h & (s->size - 1); s->slots[i] != 0; i = (i + 1) & (s->size - 1))
    {
        if (s->slots[i] == h) {
            return 1;
        }
    }

    s->slots[i] = h;
    s->n++;

    return 0;
}


static void
tsr_admin_seen_free(tsr_admin_seen_t *s)
{
    free(s->slots);
    s->slots = NULL;
    s->size = 0;
    s->n = 0;
}


/* ---- check ---- */

static int
tsr_admin_check(tsr_admin_t *adm, int argc, char **argv)
{
    int  rc;

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (adm->conf.user != NULL) {
        printf("ok       connected to %s as user \"%s\"\n", adm->where,
               adm->conf.user);

    } else {
        printf("ok       connected to %s%s\n", adm->where,
               adm->conf.password ? " (AUTH with a password)" : "");
    }

    rc = tsr_admin_check_server(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    rc = tsr_admin_check_memory(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (adm->keys == NULL) {
        printf("note     no key file (-k): sealed values not checked\n");
        return TSR_ADMIN_OK;
    }

    rc = tsr_admin_check_keys(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    return tsr_admin_check_sessions(adm);
}


static int
tsr_admin_check_server(tsr_admin_t *adm)
{
    int          rc, major, minor, patch;
    redisReply  *reply;
    char         version[64];

    reply = tsr_admin_command(adm, "INFO server", "INFO server");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    rc = TSR_ADMIN_FAILED;

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "INFO server on %s failed: %s", adm->where,
                       reply->str);
        goto done;
    }

    if (reply->type != REDIS_REPLY_STRING
        || tsr_admin_info_field(reply->str, "redis_version", version,
                                sizeof(version))
           != 0
        || sscanf(version, "%d.%d.%d", &major, &minor, &patch) != 3)
    {
        tsr_admin_fail(adm, "INFO server on %s: no redis_version",
                       adm->where);
        goto done;
    }

    /* SET with PX came with 2.6.12, and so did everything else used */

    if (major < 2 || (major == 2 && (minor < 6 || (minor == 6
                                                    && patch < 12))))
    {
        tsr_admin_fail(adm, "redis %s on %s is too old: 2.6.12 or later is "
                       "needed", version, adm->where);
        goto done;
    }

    printf("ok       redis %s\n", version);

    if (major < 4) {
        printf("warning  redis %s has no UNLINK: flush deletes with DEL, "
               "which blocks Redis on large values\n", version);
    }

    /* as the module decides at connect */
    if (major < 6 || (major == 6 && minor < 2)) {
        printf("note     redis %s has no GETDEL (6.2): single use takes "
               "sessions with a script, so an ACL user needs +eval\n",
               version);
    }

    rc = TSR_ADMIN_OK;

done:

    freeReplyObject(reply);

    return rc;
}


/*
 * Eviction: session keys all have a TTL, so any policy but noeviction
 * keeps Redis writable when full.  The policy comes from INFO memory,
 * which ACL users without CONFIG may still read.
 */

static int
tsr_admin_check_memory(tsr_admin_t *adm)
{
    redisReply          *reply;
    unsigned long long   maxmemory;
    char                 policy[64], max[64], used[64];

    reply = tsr_admin_command(adm, "INFO memory", "INFO memory");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    if (reply->type != REDIS_REPLY_STRING
        || tsr_admin_info_field(reply->str, "maxmemory_policy", policy,
                                sizeof(policy))
           != 0)
    {
        printf("warning  cannot read maxmemory_policy from INFO memory: "
               "check that it is not noeviction\n");
        freeReplyObject(reply);
        return TSR_ADMIN_OK;
    }

    maxmemory = 0;

    if (tsr_admin_info_field(reply->str, "maxmemory", max, sizeof(max))
        == 0)
    {
        maxmemory = strtoull(max, NULL, 10);
    }

    if (tsr_admin_info_field(reply->str, "maxmemory_human", max,
                             sizeof(max))
        != 0)
    {
        (void) snprintf(max, sizeof(max), "%llu", maxmemory);
    }

    if (tsr_admin_info_field(reply->str, "used_memory_human", used,
                             sizeof(used))
        != 0)
    {
        (void) snprintf(used, sizeof(used), "?");
    }

    freeReplyObject(reply);

    if (strcmp(policy, "noeviction") == 0) {
        if (maxmemory == 0) {
            printf("warning  maxmemory-policy noeviction without maxmemory: "
                   "Redis grows until the host runs out of memory; set "
                   "maxmemory with allkeys-lru or volatile-lru\n");

        } else {
            printf("warning  maxmemory-policy noeviction: when %s is used "
                   "up, Redis refuses writes and new sessions are not "
                   "stored; use allkeys-lru or volatile-lru\n", max);
        }

    } else if (strncmp(policy, "allkeys-", 8) == 0
               || strncmp(policy, "volatile-", 9) == 0)
    {
        printf("ok       maxmemory-policy %s%s\n", policy,
               (policy[0] == 'v') ? " (every session key has a TTL)" : "");

    } else {
        printf("warning  maxmemory-policy %s is unknown to tsr-admin\n",
               policy);
    }

    if (maxmemory != 0) {
        printf("ok       memory %s used of maxmemory %s\n", used, max);

    } else {
        printf("ok       memory %s used, no maxmemory\n", used);
    }

    return TSR_ADMIN_OK;
}


/* the key files: their ids, and whether they open the ticket key ring */

static int
tsr_admin_check_keys(tsr_admin_t *adm)
{
    int             rc;
    size_t          i;
    tsr_tickets_t  *t;
    char            id[9], name[TSR_MAX_KEY_NAME + 1];
    tsr_tickets_info_t  info;

    for (i = 0; i < adm->nkey_files; i++) {
        (void) tsr_keyring_id(adm->keys, i, id);
        printf("ok       key file %s: key id %s%s\n", adm->key_files[i], id,
               (i == 0) ? " (seals)" : "");
    }

    t = tsr_admin_tickets_create(adm, 1);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    (void) tsr_tickets_ring_key(t, name, sizeof(name));

    rc = tsr_tickets_sync(t);

    if (rc == TSR_NOT_FOUND) {
        printf("note     no ticket key ring \"%s\" (nginx creates it with "
               "ssl_session_redis_ticket_keys on)\n", name);
        rc = TSR_ADMIN_OK;

    } else if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        rc = TSR_ADMIN_FAILED;

    } else {
        (void) tsr_tickets_info(t, &info);
        printf("ok       ticket key ring \"%s\" generation %llu opens with "
               "the key files\n", name, (unsigned long long) info.gen);
        rc = TSR_ADMIN_OK;
    }

    tsr_tickets_destroy(t);

    return rc;
}


/*
 * Opens up to TSR_ADMIN_SAMPLE sessions found in the first SCAN pages:
 * if none opens, the key files are not the fleet's.
 */

static int
tsr_admin_check_sessions(tsr_admin_t *adm)
{
    int               rc, r;
    size_t            i, pages, sampled, opened, plen;
    uint64_t          unknown, tampered, other;
    redisReply       *page, *val;
    tsr_admin_seen_t  seen;
    char              cursor[64], pattern[2 * TSR_ADMIN_MAX_PREFIX + 8];
    char              id[9], ids[TSR_ADMIN_SAMPLE * 9 + 1];
    uint8_t           plain[TSR_MAX_VALUE];

    memset(&seen, 0, sizeof(tsr_admin_seen_t));

    (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
    (void) strcpy(cursor, "0");

    sampled = 0;
    opened = 0;
    unknown = 0;
    tampered = 0;
    other = 0;
    ids[0] = '\0';
    rc = TSR_ADMIN_OK;

    for (pages = 0; pages < TSR_ADMIN_SAMPLE_PAGES; pages++) {

        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            rc = TSR_ADMIN_FAILED;
            goto done;
        }

        for (i = 0; i < page->element[1]->elements
                    && sampled < TSR_ADMIN_SAMPLE; i++)
        {
            val = page->element[1]->element[i];

            if (tsr_admin_session_key(adm, val->str, val->len, NULL, NULL,
                                      NULL)
                != 0
                || tsr_admin_seen(&seen, val->str, val->len) != 0)
            {
                continue;
            }

            val = tsr_admin_command(adm, "GET", "GET %b", val->str,
                                    val->len);
            if (val == NULL) {
                freeReplyObject(page);
                rc = TSR_ADMIN_FAILED;
                goto done;
            }

            if (val->type != REDIS_REPLY_STRING || val->len > TSR_MAX_VALUE)
            {
                /* gone meanwhile, or not ours */
                freeReplyObject(val);
                continue;
            }

            sampled++;
            plen = sizeof(plain);

            r = tsr_open(adm->keys, page->element[1]->element[i]->str,
                         page->element[1]->element[i]->len,
                         (uint8_t *) val->str, val->len, plain, &plen);

            if (r == TSR_OK) {
                opened++;
                OPENSSL_cleanse(plain, plen);

            } else if (r == TSR_SEAL_UNKNOWN_KEY) {
                unknown++;

                tsr_admin_key_id((uint8_t *) val->str, val->len, id);

                if (strstr(ids, id) == NULL
                    && strlen(ids) + 9 < sizeof(ids))
                {
                    (void) strcat(ids, ids[0] ? "," : "");
                    (void) strcat(ids, id);
                }

            } else if (r == TSR_SEAL_TAMPERED) {
                tampered++;

            } else {
                other++;
            }

            freeReplyObject(val);
        }

        freeReplyObject(page);

        if (sampled == TSR_ADMIN_SAMPLE || strcmp(cursor, "0") == 0) {
            break;
        }
    }

    if (sampled == 0) {
        printf("note     no sessions under \"%s\" to try the key files "
               "on\n", adm->prefix);

    } else if (opened == 0) {
        tsr_admin_fail(adm, "none of %zu sampled sessions opens with the "
                       "key files (%llu sealed under other keys%s%s, "
                       "%llu tampered, %llu malformed)", sampled,
                       (unsigned long long) unknown, ids[0] ? ": " : "",
                       ids, (unsigned long long) tampered,
                       (unsigned long long) other);
        rc = TSR_ADMIN_FAILED;

    } else if (opened < sampled) {
        printf("warning  %zu of %zu sampled sessions open with the key "
               "files (%llu sealed under other keys%s%s, %llu tampered, "
               "%llu malformed)\n", opened, sampled,
               (unsigned long long) unknown, ids[0] ? ": " : "", ids,
               (unsigned long long) tampered, (unsigned long long) other);

    } else {
        printf("ok       %zu of %zu sampled sessions open with the key "
               "files\n", opened, sampled);
    }

done:

    tsr_admin_seen_free(&seen);

    return rc;
}


/* ---- stats ---- */

static int
tsr_admin_stats(tsr_admin_t *adm, int argc, char **argv)
{
    int                 rc;
    redisReply         *page;
    tsr_admin_stats_t  *st;
    char                cursor[64];
    char                pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    st = calloc(1, sizeof(tsr_admin_stats_t));
    if (st == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    if (adm->context) {
        (void) snprintf(pattern, sizeof(pattern), "%ss:%s:*", adm->match,
                        adm->ctx);

    } else {
        (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
    }

    (void) strcpy(cursor, "0");

    rc = TSR_ADMIN_FAILED;

    do {
        if (st->examined >= adm->max_keys) {
            st->truncated = 1;
            break;
        }

        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            goto failed;
        }

        if (tsr_admin_stats_page(adm, st, page->element[1]) != 0) {
            freeReplyObject(page);
            goto failed;
        }

        freeReplyObject(page);

    } while (strcmp(cursor, "0") != 0);

    tsr_admin_stats_print(adm, st, pattern);

    rc = TSR_ADMIN_OK;

failed:

    tsr_admin_seen_free(&st->seen);
    free(st->ttls);
    free(st);

    return rc;
}


/*
 * PTTL, STRLEN (which also tells strings from other types) and, with
 * --memory, MEMORY USAGE for each new key of one SCAN page, pipelined.
 */

static int
tsr_admin_stats_page(tsr_admin_t *adm, tsr_admin_stats_t *st,
    redisReply *keys)
{
    int          rc, dup, ok;
    size_t       i, n, nalloc;
    uint64_t    *ttls;
    redisReply  *k, *ttl, *len, *mem;
    char        *fresh;

    fresh = calloc(keys->elements + 1, 1);
    if (fresh == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return -1;
    }

    rc = -1;
    n = 0;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        if (st->examined + n == adm->max_keys) {
            st->truncated = 1;
            break;
        }

        dup = tsr_admin_seen(&st->seen, k->str, k->len);

        if (dup == -1) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        if (dup) {
            continue;
        }

        fresh[i] = 1;
        n++;

        if (tsr_admin_append(adm, "PTTL %b", k->str, k->len) != 0
            || tsr_admin_append(adm, "STRLEN %b", k->str, k->len) != 0
            || (adm->memory
                && tsr_admin_append(adm, "MEMORY USAGE %b", k->str, k->len)
                   != 0))
        {
            goto failed;
        }
    }

    if (st->nttls + n > st->nalloc) {
        nalloc = st->nalloc ? st->nalloc : 1024;

        while (nalloc < st->nttls + n) {
            nalloc *= 2;
        }

        ttls = realloc(st->ttls, nalloc * sizeof(uint64_t));
        if (ttls == NULL) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        st->ttls = ttls;
        st->nalloc = nalloc;
    }

    for (i = 0; i < keys->elements; i++) {
        if (!fresh[i]) {
            continue;
        }

        k = keys->element[i];

        ttl = tsr_admin_reply(adm, "PTTL");
        len = (ttl != NULL) ? tsr_admin_reply(adm, "STRLEN") : NULL;
        mem = (len != NULL && adm->memory)
              ? tsr_admin_reply(adm, "MEMORY USAGE") : NULL;

        ok = (len != NULL && (mem != NULL || !adm->memory));

        if (ok) {
            ok = tsr_admin_stats_key(adm, st, k, ttl, len, mem);
        }

        if (ttl != NULL) {
            freeReplyObject(ttl);
        }

        if (len != NULL) {
            freeReplyObject(len);
        }

        if (mem != NULL) {
            freeReplyObject(mem);
        }

        if (!ok) {
            goto failed;
        }
    }

    rc = 0;

failed:

    free(fresh);

    return rc;
}


/* counts one key from its replies; 1, or 0 on a failure (reported) */

static int
tsr_admin_stats_key(tsr_admin_t *adm, tsr_admin_stats_t *st, redisReply *k,
    redisReply *ttl, redisReply *len, redisReply *mem)
{
    size_t       idlen;
    const char  *ctx, *id;

    st->examined++;

    if (len->type == REDIS_REPLY_ERROR
        && strncmp(len->str, "WRONGTYPE", 9) != 0)
    {
        tsr_admin_fail(adm, "STRLEN on %s failed: %s", adm->where,
                       len->str);
        return 0;
    }

    if (mem != NULL && mem->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "MEMORY USAGE on %s failed: %s", adm->where,
                       mem->str);
        return 0;
    }

    if (ttl->type != REDIS_REPLY_INTEGER || ttl->integer == -2
        || (mem != NULL && mem->type != REDIS_REPLY_INTEGER))
    {
        /* gone since SCAN saw it */
        return 1;
    }

    if (len->type != REDIS_REPLY_INTEGER
        || tsr_admin_session_key(adm, k->str, k->len, &ctx, &id, &idlen)
           != 0)
    {
        st->foreign++;
        return 1;
    }

    st->sessions++;
    st->bytes += (uint64_t) ((mem != NULL) ? mem->integer : len->integer);

    if (ttl->integer < 0) {
        st->no_ttl++;

    } else {
        st->ttls[st->nttls++] = (uint64_t) ttl->integer;
    }

    tsr_admin_stats_ctx(st, ctx);

    return 1;
}


/* counts a session of context "ctx" (16 hex) in an open-addressed table */

static void
tsr_admin_stats_ctx(tsr_admin_stats_t *st, const char *ctx)
{
    size_t    i, slot;
    uint64_t  fp;

    fp = 0;

    for (i = 0; i < TSR_ADMIN_CTX_HEX; i++) {
        fp = (fp << 4)
             | (uint64_t) (isdigit((unsigned char) ctx[i])
                           ? ctx[i] - '0'
                           : tolower((unsigned char) ctx[i]) - 'a' + 10);
    }

    /* the fingerprint is a hash already */

    slot = (size_t) (fp & (TSR_ADMIN_CTX_SLOTS - 1));

    for (i = 0; i < TSR_ADMIN_CTX_SLOTS; i++) {

        if (st->ctx[slot].n == 0) {
            if (st->nctx == TSR_ADMIN_MAX_CONTEXTS) {
                break;
            }

            st->ctx[slot].fp = fp;
            st->ctx[slot].n = 1;
            st->nctx++;
            return;
        }

        if (st->ctx[slot].fp == fp) {
            st->ctx[slot].n++;
            return;
        }

        slot = (slot + 1) & (TSR_ADMIN_CTX_SLOTS - 1);
    }

    st->other_ctx++;
}


static void
tsr_admin_stats_print(tsr_admin_t *adm, tsr_admin_stats_t *st,
    const char *pattern)
{
    size_t  i, n;
    char    min[TSR_ADMIN_TIME_LEN], med[TSR_ADMIN_TIME_LEN];
    char    max[TSR_ADMIN_TIME_LEN];

    printf("keys         %s on %s\n", pattern, adm->where);
    printf("sessions     %llu\n", (unsigned long long) st->sessions);

    if (st->sessions != 0) {
        printf("%-12s %llu (average %llu)\n",
               adm->memory ? "memory" : "bytes",
               (unsigned long long) st->bytes,
               (unsigned long long) (st->bytes / st->sessions));
    }

    if (st->nttls != 0) {
        qsort(st->ttls, st->nttls, sizeof(uint64_t), tsr_admin_u64_cmp);

        tsr_admin_fmt_duration(st->ttls[0], min, sizeof(min));
        tsr_admin_fmt_duration(st->ttls[st->nttls / 2], med, sizeof(med));
        tsr_admin_fmt_duration(st->ttls[st->nttls - 1], max, sizeof(max));

        printf("ttl          min %s, median %s, max %s\n", min, med, max);
    }

    if (st->no_ttl != 0) {
        printf("warning      %llu session%s without TTL: they never "
               "expire, and volatile-* policies never evict them\n",
               (unsigned long long) st->no_ttl, (st->no_ttl == 1) ? "" : "s");
    }

    if (st->foreign != 0) {
        printf("note         %llu other key%s match the pattern (not "
               "session keys, or not strings)\n",
               (unsigned long long) st->foreign,
               (st->foreign == 1) ? "" : "s");
    }

    if (st->nctx != 0) {
        /* the table's used slots, largest counts first */

        n = 0;

        for (i = 0; i < TSR_ADMIN_CTX_SLOTS; i++) {
            if (st->ctx[i].n != 0) {
                st->ctx[n++] = st->ctx[i];
            }
        }

        qsort(st->ctx, n, sizeof(tsr_admin_ctx_count_t), tsr_admin_ctx_cmp);

        printf("contexts     %zu%s\n", n, st->other_ctx ? " or more" : "");

        for (i = 0; i < n && i < TSR_ADMIN_SHOW_CONTEXTS; i++) {
            printf("  %016llx  %llu\n", (unsigned long long) st->ctx[i].fp,
                   (unsigned long long) st->ctx[i].n);
        }

        if (n > TSR_ADMIN_SHOW_CONTEXTS) {
            printf("  (%zu more)\n", n - TSR_ADMIN_SHOW_CONTEXTS);
        }
    }

    if (st->truncated) {
        printf("note         stopped after %llu keys (--max-keys); more "
               "remain\n", (unsigned long long) st->examined);
    }
}


/* ---- inspect ---- */

static int
tsr_admin_inspect(tsr_admin_t *adm, int argc, char **argv)
{
    int          rc, r;
    size_t       i, n, found, shown;
    redisReply  *page, *k;
    char         id[2 * TSR_MAX_SESSION_ID + 1], cursor[64];
    char         pattern[2 * TSR_ADMIN_MAX_PREFIX + 2 * TSR_MAX_SESSION_ID
                         + 32];
    char         keys[TSR_ADMIN_MAX_FOUND][TSR_MAX_KEY_NAME + 1];
    size_t       lens[TSR_ADMIN_MAX_FOUND];

    if (argc != 1) {
        return tsr_admin_usage_error(adm, argc ? "one session id expected"
                                               : "no session id given");
    }

    if (tsr_admin_parse_hex(argv[0], 2, 2 * TSR_MAX_SESSION_ID, id,
                            sizeof(id))
        != 0 || strlen(id) % 2 != 0)
    {
        return tsr_admin_usage_error(adm, "invalid session id: 1 to %d "
                                     "bytes in hex", TSR_MAX_SESSION_ID);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    found = 0;

    if (adm->context) {
        n = (size_t) snprintf(keys[0], sizeof(keys[0]), "%ss:%s:%s",
                              adm->prefix, adm->ctx, id);
        if (n >= sizeof(keys[0])) {
            return tsr_admin_usage_error(adm, "key name too long");
        }

        lens[0] = n;
        found = 1;

    } else {
        /* the context part is unknown: every context, one SCAN */

        (void) snprintf(pattern, sizeof(pattern), "%ss:*:%s", adm->match,
                        id);
        (void) strcpy(cursor, "0");

        for ( ;; ) {
            if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
                != 0)
            {
                return TSR_ADMIN_FAILED;
            }

            for (i = 0; i < page->element[1]->elements; i++) {
                k = page->element[1]->element[i];

                if (found == TSR_ADMIN_MAX_FOUND || k->len > TSR_MAX_KEY_NAME
                    || tsr_admin_session_key(adm, k->str, k->len, NULL,
                                             NULL, NULL)
                       != 0)
                {
                    continue;
                }

                /* SCAN may return a key twice */

                for (n = 0; n < found; n++) {
                    if (lens[n] == k->len
                        && memcmp(keys[n], k->str, k->len) == 0)
                    {
                        break;
                    }
                }

                if (n < found) {
                    continue;
                }

                memcpy(keys[found], k->str, k->len);
                keys[found][k->len] = '\0';
                lens[found++] = k->len;
            }

            freeReplyObject(page);

            if (strcmp(cursor, "0") == 0) {
                break;
            }
        }
    }

    rc = TSR_ADMIN_OK;
    shown = 0;

    for (i = 0; i < found; i++) {
        r = tsr_admin_inspect_key(adm, keys[i], lens[i], shown);

        if (r == TSR_ADMIN_GONE) {
            /* expired since SCAN saw it */
            continue;
        }

        shown++;

        if (r != TSR_ADMIN_OK) {
            rc = r;
        }
    }

    if (shown == 0) {
        tsr_admin_fail(adm, "no session with id %s under \"%s\" on %s", id,
                       adm->prefix, adm->where);
        return TSR_ADMIN_FAILED;
    }

    return rc;
}


/*
 * Shows one key; returns TSR_ADMIN_GONE (nothing printed) when it does not
 * exist, TSR_ADMIN_OK, or TSR_ADMIN_FAILED (reported).
 */

static int
tsr_admin_inspect_key(tsr_admin_t *adm, const char *key, size_t keylen,
    size_t shown)
{
    int          rc;
    size_t       i;
    redisReply  *ttl, *val;
    char         id[9], ours[9], buf[TSR_ADMIN_TIME_LEN];
    char         safe[TSR_ADMIN_SAFE_LEN];

    if (tsr_admin_append(adm, "PTTL %b", key, keylen) != 0
        || tsr_admin_append(adm, "GET %b", key, keylen) != 0)
    {
        return TSR_ADMIN_FAILED;
    }

    ttl = tsr_admin_reply(adm, "PTTL");
    if (ttl == NULL) {
        return TSR_ADMIN_FAILED;
    }

    val = tsr_admin_reply(adm, "GET");
    if (val == NULL) {
        freeReplyObject(ttl);
        return TSR_ADMIN_FAILED;
    }

    rc = TSR_ADMIN_FAILED;

    if (val->type == REDIS_REPLY_NIL) {
        rc = TSR_ADMIN_GONE;
        goto done;
    }

    (void) tsr_admin_safe(key, keylen, safe, sizeof(safe));

    if (val->type == REDIS_REPLY_ERROR) {
        if (strncmp(val->str, "WRONGTYPE", 9) == 0) {
            tsr_admin_fail(adm, "\"%s\" is not a string: not a session",
                           safe);

        } else {
            tsr_admin_fail(adm, "GET on %s failed: %s", adm->where,
                           val->str);
        }

        goto done;
    }

    if (val->type != REDIS_REPLY_STRING) {
        tsr_admin_fail(adm, "GET on %s: unexpected reply", adm->where);
        goto done;
    }

    if (shown) {
        printf("\n");
    }

    printf("key          %s\n", safe);

    if (ttl->type == REDIS_REPLY_INTEGER && ttl->integer >= 0) {
        tsr_admin_fmt_duration((uint64_t) ttl->integer, buf, sizeof(buf));
        printf("ttl          %s\n", buf);

    } else {
        printf("ttl          none: the key never expires\n");
    }

    printf("size         %zu bytes sealed\n", val->len);

    if (val->len > TSR_MAX_VALUE) {
        tsr_admin_fail(adm, "\"%s\" does not open: %zu bytes is over the "
                       "limit of %d", safe, val->len, TSR_MAX_VALUE);
        goto done;
    }

    if (val->len >= TSR_SEAL_OVERHEAD) {
        tsr_admin_key_id((uint8_t *) val->str, val->len, id);

        for (i = 0; adm->keys != NULL && i < adm->nkey_files; i++) {
            (void) tsr_keyring_id(adm->keys, i, ours);

            if (strcmp(id, ours) == 0) {
                break;
            }
        }

        if (adm->keys != NULL && i < adm->nkey_files) {
            printf("sealed with  key id %s (%s)\n", id, adm->key_files[i]);

        } else {
            printf("sealed with  key id %s\n", id);
        }
    }

    if (adm->keys == NULL) {
        printf("note         give the fleet key file (-k) to open it\n");
        rc = TSR_ADMIN_OK;
        goto done;
    }

    rc = tsr_admin_inspect_open(adm, key, keylen, (uint8_t *) val->str,
                                val->len);

done:

    freeReplyObject(ttl);
    freeReplyObject(val);

    return rc;
}


/* opens a sealed session for its key name, decodes it and shows it */

static int
tsr_admin_inspect_open(tsr_admin_t *adm, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen)
{
    int                   rc;
    size_t                plen, idlen;
    SSL_SESSION          *sess;
    const char           *ctx, *id;
    const unsigned char  *p;
    char                  safe[TSR_ADMIN_SAFE_LEN];
    uint8_t               plain[TSR_MAX_VALUE];

    (void) tsr_admin_safe(key, keylen, safe, sizeof(safe));

    plen = sizeof(plain);

    rc = tsr_open(adm->keys, key, keylen, val, vlen, plain, &plen);
    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "\"%s\" does not open with the key files: %s",
                       safe, tsr_strerror(rc));
        return TSR_ADMIN_FAILED;
    }

    p = plain;
    sess = d2i_SSL_SESSION(NULL, &p, (long) plen);

    /* the session's secrets are in "sess" now, or nowhere */
    OPENSSL_cleanse(plain, plen);

    if (sess == NULL || p != plain + plen) {
        ERR_clear_error();
        SSL_SESSION_free(sess);
        tsr_admin_fail(adm, "\"%s\" opens but holds no TLS session: "
                       "d2i_SSL_SESSION() failed", safe);
        return TSR_ADMIN_FAILED;
    }

    if (tsr_admin_session_key(adm, key, keylen, &ctx, &id, &idlen) != 0) {
        ctx = NULL;
        id = NULL;
        idlen = 0;
    }

    tsr_admin_print_session(sess, ctx, id, idlen);

    /* frees the master key cleansed */
    SSL_SESSION_free(sess);

    return TSR_ADMIN_OK;
}


/*
 * What a session says about itself, minus its secrets: the master key, a
 * ticket, the peer's certificate are never shown.
 */

static void
tsr_admin_print_session(const SSL_SESSION *sess, const char *key_ctx,
    const char *key_id, size_t idlen)
{
    size_t                i;
    long                  created, timeout;
    uint64_t              now;
    uint32_t              early;
    const char           *name, *version;
    unsigned int          len;
    const SSL_CIPHER     *cipher;
    const unsigned char  *p;
    unsigned char         md[SHA256_DIGEST_LENGTH];
    char                  hex[2 * TSR_MAX_SESSION_ID + 1];
    char                  when[TSR_ADMIN_TIME_LEN], ago[TSR_ADMIN_TIME_LEN];
    char                  safe[TSR_ADMIN_SAFE_LEN];

    now = tsr_admin_now();

    version = tsr_admin_version_name(SSL_SESSION_get_protocol_version(sess));

    if (version != NULL) {
        printf("protocol     %s\n", version);

    } else {
        printf("protocol     0x%04x\n", SSL_SESSION_get_protocol_version(sess));
    }

    cipher = SSL_SESSION_get0_cipher(sess);
    printf("cipher       %s\n",
           (cipher != NULL) ? SSL_CIPHER_get_name(cipher) : "(unknown)");

    created = SSL_SESSION_get_time(sess);
    timeout = SSL_SESSION_get_timeout(sess);

    if (created > 0) {
        tsr_admin_fmt_time((uint64_t) created * 1000, when, sizeof(when));
        tsr_admin_fmt_ago((uint64_t) created * 1000, now, ago, sizeof(ago));
        printf("created      %s (%s)\n", when, ago);
    }

    if (timeout > 0) {
        tsr_admin_fmt_duration((uint64_t) timeout * 1000, when, sizeof(when));
        tsr_admin_fmt_ago(((uint64_t) created + timeout) * 1000, now, ago,
                          sizeof(ago));
        printf("timeout      %s (%s %s)\n", when,
               ((uint64_t) (created + timeout) * 1000 > now)
               ? "expires" : "expired", ago);
    }

    name = SSL_SESSION_get0_hostname(sess);

    if (name != NULL) {
        printf("server name  %s\n",
               tsr_admin_safe(name, strlen(name), safe, sizeof(safe)));

    } else {
        printf("server name  (none: the client sent no SNI)\n");
    }

    p = SSL_SESSION_get_id(sess, &len);

    if (key_id != NULL && len * 2 == idlen && len <= TSR_MAX_SESSION_ID) {
        for (i = 0; i < len; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", p[i]);
        }

        printf("id length    %u bytes%s\n", len,
               (memcmp(hex, key_id, idlen) == 0)
               ? "" : ", NOT the id in the key name");

    } else {
        printf("id length    %u bytes, NOT the id in the key name\n", len);
    }

    p = SSL_SESSION_get0_id_context(sess, &len);

    if (SHA256(p, len, md) != NULL) {
        for (i = 0; i < TSR_ADMIN_CTX_HEX / 2; i++) {
            (void) snprintf(hex + 2 * i, 3, "%02x", md[i]);
        }

        printf("context      %s%s\n", hex,
               (key_ctx != NULL
                && memcmp(hex, key_ctx, TSR_ADMIN_CTX_HEX) == 0)
               ? "" : ", NOT the context in the key name");
    }

    SSL_SESSION_get0_alpn_selected(sess, &p, &i);

    if (i != 0) {
        printf("alpn         %s\n",
               tsr_admin_safe((const char *) p, i, safe, sizeof(safe)));
    }

    printf("client cert  %s\n",
           (SSL_SESSION_get0_peer((SSL_SESSION *) sess) != NULL)
           ? "yes" : "no");

    early = SSL_SESSION_get_max_early_data(sess);

    if (early != 0) {
        printf("early data   up to %u bytes\n", early);
    }

    printf("resumable    %s\n", SSL_SESSION_is_resumable(sess) ? "yes" : "no");
}


/* ---- tickets ---- */

static int
tsr_admin_tickets(tsr_admin_t *adm, int argc, char **argv)
{
    int             rc;
    tsr_tickets_t  *t;
    char            name[TSR_MAX_KEY_NAME + 1];

    if (argc != 1
        || (strcmp(argv[0], "show") != 0 && strcmp(argv[0], "rotate") != 0))
    {
        return tsr_admin_usage_error(adm, "expected \"show\" or \"rotate\"");
    }

    if (adm->keys == NULL) {
        return tsr_admin_usage_error(adm, "the ring is sealed: give the "
                                     "fleet key file with -k");
    }

    /* a reader first: rotate changes nothing unless a rotation is due */

    t = tsr_admin_tickets_create(adm, 1);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    (void) tsr_tickets_ring_key(t, name, sizeof(name));

    rc = tsr_tickets_sync(t);

    if (rc == TSR_NOT_FOUND && argv[0][0] == 'r') {
        tsr_tickets_destroy(t);
        return tsr_admin_tickets_rotate(adm, name);
    }

    if (rc == TSR_NOT_FOUND) {
        tsr_admin_fail(adm, "no ticket key ring \"%s\" on %s", name,
                       adm->where);
        rc = TSR_ADMIN_FAILED;
        goto done;
    }

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        rc = TSR_ADMIN_FAILED;
        goto done;
    }

    if (argv[0][0] == 'r') {
        if (tsr_tickets_due(t, 0)) {
            tsr_tickets_destroy(t);
            return tsr_admin_tickets_rotate(adm, name);
        }

        /* the operator asked: rotate before the period is over */

        tsr_tickets_destroy(t);
        return tsr_admin_tickets_rotate(adm, name);
    }

    tsr_admin_tickets_print(adm, t, name);
    rc = TSR_ADMIN_OK;

done:

    tsr_tickets_destroy(t);

    return rc;
}


/* creates the ring, or rotates it now, through tsr_tickets_rotate_now() */

static int
tsr_admin_tickets_rotate(tsr_admin_t *adm, const char *name)
{
    int                  rc;
    tsr_tickets_t       *t;
    tsr_tickets_info_t   info;
    tsr_tickets_stats_t  stats;

    t = tsr_admin_tickets_create(adm, 0);
    if (t == NULL) {
        return TSR_ADMIN_FAILED;
    }

    rc = tsr_tickets_rotate_now(t);
    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", tsr_tickets_error(t));
        tsr_tickets_destroy(t);
        return TSR_ADMIN_FAILED;
    }

    tsr_tickets_stats(t, &stats);
    (void) tsr_tickets_info(t, &info);

    if (stats.rotations == 0) {
        rc = TSR_ADMIN_FAILED;

        /* another node was first, or Redis' clock says not yet */

        if (tsr_tickets_due(t, 0)) {
            tsr_admin_fail(adm, "\"%s\" is not due for rotation by Redis' "
                           "clock yet (generation %llu)", name,
                           (unsigned long long) info.gen);

        } else {
            printf("another node rotated \"%s\" to generation %llu "
                   "meanwhile\n\n", name, (unsigned long long) info.gen);
            rc = TSR_ADMIN_OK;
        }

    } else if (info.gen == 1) {
        printf("created \"%s\" at generation 1\n\n", name);
        rc = TSR_ADMIN_OK;

    } else {
        printf("rotated \"%s\" to generation %llu\n\n", name,
               (unsigned long long) info.gen);
        rc = TSR_ADMIN_OK;
    }

    tsr_admin_tickets_print(adm, t, name);

    tsr_tickets_destroy(t);

    return rc;
}


static tsr_tickets_t *
tsr_admin_tickets_create(tsr_admin_t *adm, int no_rotate)
{
    tsr_tickets_t       *t;
    tsr_tickets_conf_t   tconf;
    char                 err[TSR_ADMIN_MSG_LEN];

    memset(&tconf, 0, sizeof(tsr_tickets_conf_t));

    tconf.store_conf = &adm->conf;
    tconf.keys = adm->keys;
    tconf.prefix = adm->prefix;
    tconf.scope = adm->scope;
    tconf.period_ms = adm->period_ms;
    tconf.lifetime_ms = adm->lifetime_ms;
    tconf.no_rotate = no_rotate ? 1 : 0;

    t = tsr_tickets_create(&tconf, err, sizeof(err));
    if (t == NULL) {
        tsr_admin_fail(adm, "%s", err);
    }

    return t;
}


/* the ring as tsr_tickets_info() describes it: names and times only */

static void
tsr_admin_tickets_print(tsr_admin_t *adm, tsr_tickets_t *t, const char *name)
{
    size_t                    i;
    uint64_t                  now;
    const char               *role;
    tsr_tickets_info_t        info;
    tsr_tickets_key_info_t   *k;
    char                      when[TSR_ADMIN_TIME_LEN];
    char                      ago[TSR_ADMIN_TIME_LEN];
    char                      enc[TSR_ADMIN_TIME_LEN + 16];
    char                      dec[TSR_ADMIN_TIME_LEN];

    if (tsr_tickets_info(t, &info) != TSR_OK) {
        return;
    }

    now = tsr_admin_now();

    printf("ring         %s on %s\n", name, adm->where);
    printf("generation   %llu\n", (unsigned long long) info.gen);

    tsr_admin_fmt_time(info.rotated_at_ms, when, sizeof(when));
    tsr_admin_fmt_ago(info.rotated_at_ms, now, ago, sizeof(ago));
    printf("rotated at   %s (%s, by Redis' clock)\n", when, ago);

    tsr_admin_fmt_time(info.due_at_ms, when, sizeof(when));
    tsr_admin_fmt_ago(info.due_at_ms, now, ago, sizeof(ago));
    printf("next due     %s (%s)\n", when, ago);

    tsr_admin_fmt_duration(info.period_ms, when, sizeof(when));
    tsr_admin_fmt_duration(info.lifetime_ms, ago, sizeof(ago));
    printf("period       %s, ticket lifetime %s\n", when, ago);

    printf("keys         %zu\n", info.nkeys);
    printf("  %-9s %-6s %-32s  %-22s %s\n", "role", "gen", "name",
           "encrypts until", "decrypts until");

    for (i = 0; i < info.nkeys; i++) {
        k = &info.keys[i];

        switch (k->role) {
        case TSR_TICKETS_NEXT:
            role = "next";
            break;
        case TSR_TICKETS_CURRENT:
            role = "current";
            break;
        case TSR_TICKETS_PREVIOUS:
            role = "previous";
            break;
        default:
            role = "?";
        }

        if (k->encrypt_until_ms == 0) {
            (void) strcpy(enc, "-");

        } else {
            tsr_admin_fmt_time(k->encrypt_until_ms, enc, sizeof(enc));
        }

        if (k->decrypt_until_ms == 0) {
            (void) strcpy(dec, k->role == TSR_TICKETS_PREVIOUS ? "-"
                                                                : "(kept)");

        } else {
            tsr_admin_fmt_time(k->decrypt_until_ms, dec, sizeof(dec));
        }

        printf("  %-9s %-6llu %-32s  %-22s %s\n", role,
               (unsigned long long) k->gen, k->name, enc, dec);
    }
}


/* ---- flush ---- */

static int
tsr_admin_flush(tsr_admin_t *adm, int argc, char **argv)
{
    int          rc, use_del;
    size_t       i, n;
    size_t      *lens;
    uint64_t     deleted;
    redisReply  *page, *r, *keys;
    const char **args;
    char         cursor[64];
    char         pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];
    char         what[TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    if (adm->all && adm->context) {
        return tsr_admin_usage_error(adm, "--all and --context exclude each "
                                     "other");
    }

    if (adm->all) {
        (void) snprintf(pattern, sizeof(pattern), "%s*", adm->match);
        (void) snprintf(what, sizeof(what), "%s*", adm->prefix);

    } else if (adm->context) {
        (void) snprintf(pattern, sizeof(pattern), "%ss:%s:*", adm->match,
                        adm->ctx);
        (void) snprintf(what, sizeof(what), "%ss:%s:*", adm->prefix,
                        adm->ctx);

    } else {
        (void) snprintf(pattern, sizeof(pattern), "%ss:*", adm->match);
        (void) snprintf(what, sizeof(what), "%ss:*", adm->prefix);
    }

    if (!adm->yes && !isatty(STDIN_FILENO)) {
        return tsr_admin_usage_error(adm, "refusing to delete without "
                                     "--yes: standard input is not a "
                                     "terminal");
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (!adm->yes) {
        rc = tsr_admin_confirm(adm, what);
        if (rc != TSR_ADMIN_OK) {
            return rc;
        }
    }

    (void) strcpy(cursor, "0");

    deleted = 0;
    use_del = 0;

    do {
        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            return TSR_ADMIN_FAILED;
        }

        keys = page->element[1];
        n = keys->elements;

        if (n == 0) {
            freeReplyObject(page);
            continue;
        }

        args = malloc((n + 1) * sizeof(char *));
        lens = malloc((n + 1) * sizeof(size_t));

        if (args == NULL || lens == NULL) {
            free(args);
            free(lens);
            freeReplyObject(page);
            tsr_admin_fail(adm, "out of memory");
            return TSR_ADMIN_FAILED;
        }

        for (i = 0; i < n; i++) {
            args[i + 1] = keys->element[i]->str;
            lens[i + 1] = keys->element[i]->len;
        }

        for ( ;; ) {
            args[0] = use_del ? "DEL" : "UNLINK";
            lens[0] = strlen(args[0]);

            r = NULL;

            if (tsr_sync_append_argv(adm->redis, (int) n + 1, args, lens)
                != TSR_OK
                || tsr_sync_reply(adm->redis, &r, args[0]) != TSR_OK)
            {
                tsr_admin_fail(adm, "%s", adm->redis->errstr);
                break;
            }

            /* UNLINK came with Redis 4.0 */

            if (r->type == REDIS_REPLY_ERROR && !use_del
                && strncasecmp(r->str, "ERR unknown command", 19) == 0)
            {
                freeReplyObject(r);
                use_del = 1;
                continue;
            }

            break;
        }

        free(args);
        free(lens);
        freeReplyObject(page);

        if (r == NULL) {
            goto failed;
        }

        if (r->type != REDIS_REPLY_INTEGER) {
            tsr_admin_fail(adm, "%s on %s failed: %s",
                           use_del ? "DEL" : "UNLINK", adm->where,
                           (r->type == REDIS_REPLY_ERROR) ? r->str
                                                          : "unexpected reply");
            freeReplyObject(r);
            goto failed;
        }

        deleted += (uint64_t) r->integer;
        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    printf("deleted %llu keys matching \"%s\" on %s\n",
           (unsigned long long) deleted, what, adm->where);

    return TSR_ADMIN_OK;

failed:

    if (deleted != 0) {
        fprintf(stderr, "tsr-admin: flush: %llu keys were deleted before "
                "the failure\n", (unsigned long long) deleted);
    }

    return TSR_ADMIN_FAILED;
}


static int
tsr_admin_confirm(tsr_admin_t *adm, const char *what)
{
    size_t  n;
    char    line[64];

    fprintf(stderr, "delete every key matching \"%s\" on %s? [y/N] ", what,
            adm->where);
    (void) fflush(stderr);

    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "\n");
        line[0] = '\0';
    }

    n = strcspn(line, "\r\n");
    line[n] = '\0';

    if (strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0) {
        return TSR_ADMIN_OK;
    }

    tsr_admin_fail(adm, "not confirmed: nothing deleted");

    return TSR_ADMIN_FAILED;
}


/* ---- fleet ---- */

static int
tsr_admin_fleet(tsr_admin_t *adm, int argc, char **argv)
{
    int                 rc;
    redisReply         *page;
    tsr_admin_fleet_t   fl;
    char                cursor[64];
    char                pattern[2 * TSR_ADMIN_MAX_PREFIX + 32];

    if (argc != 0) {
        return tsr_admin_usage_error(adm, "unexpected argument \"%s\"",
                                     argv[0]);
    }

    rc = tsr_admin_connect(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    memset(&fl, 0, sizeof(tsr_admin_fleet_t));

    fl.nodes = calloc(TSR_ADMIN_MAX_NODES, sizeof(tsr_admin_node_t));
    if (fl.nodes == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return TSR_ADMIN_FAILED;
    }

    (void) snprintf(pattern, sizeof(pattern), "%snode:*", adm->match);
    (void) strcpy(cursor, "0");

    rc = TSR_ADMIN_FAILED;

    do {
        if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &page)
            != 0)
        {
            goto done;
        }

        if (tsr_admin_fleet_page(adm, &fl, page->element[1]) != 0) {
            freeReplyObject(page);
            goto done;
        }

        freeReplyObject(page);

    } while (strcmp(cursor, "0") != 0);

    if (tsr_admin_fleet_sort(&fl) != 0) {
        tsr_admin_fail(adm, "out of memory");
        goto done;
    }

    rc = tsr_admin_fleet_print(adm, &fl);

done:

    tsr_admin_seen_free(&fl.seen);
    free(fl.nodes);
    free(fl.servers);

    return rc;
}


/* GET and PTTL of each registration of one SCAN page, pipelined */

static int
tsr_admin_fleet_page(tsr_admin_t *adm, tsr_admin_fleet_t *fl,
    redisReply *keys)
{
    int                rc, dup;
    char              *fresh;
    size_t             i, plen, n;
    redisReply        *k, *val, *ttl;
    const char        *id, *colon;
    tsr_admin_node_t  *node;

    fresh = calloc(keys->elements + 1, 1);
    if (fresh == NULL) {
        tsr_admin_fail(adm, "out of memory");
        return -1;
    }

    rc = -1;

    for (i = 0; i < keys->elements; i++) {
        k = keys->element[i];

        dup = tsr_admin_seen(&fl->seen, k->str, k->len);

        if (dup == -1) {
            tsr_admin_fail(adm, "out of memory");
            goto failed;
        }

        if (dup) {
            continue;
        }

        fresh[i] = 1;

        if (tsr_admin_append(adm, "GET %b", k->str, k->len) != 0
            || tsr_admin_append(adm, "PTTL %b", k->str, k->len) != 0)
        {
            goto failed;
        }
    }

    plen = adm->prefix_len + sizeof("node:") - 1;

    for (i = 0; i < keys->elements; i++) {
        if (!fresh[i]) {
            continue;
        }

        k = keys->element[i];

        val = tsr_admin_reply(adm, "GET");
        if (val == NULL) {
            goto failed;
        }

        ttl = tsr_admin_reply(adm, "PTTL");
        if (ttl == NULL) {
            freeReplyObject(val);
            goto failed;
        }

        if (val->type != REDIS_REPLY_STRING || k->len <= plen
            || memcmp(k->str, adm->prefix, adm->prefix_len) != 0)
        {
            /* expired meanwhile, or not a registration */
            goto next;
        }

        if (fl->nnodes == TSR_ADMIN_MAX_NODES
            || val->len > TSR_ADMIN_MAX_NODE_VALUE)
        {
            fl->skipped++;
            goto next;
        }

        node = &fl->nodes[fl->nnodes];
        node->index = fl->nnodes;

        id = k->str + plen;
        n = k->len - plen;

        (void) tsr_admin_safe(id, n, node->id, sizeof(node->id));

        colon = NULL;

        for ( ; n > 0; n--) {
            if (id[n - 1] == ':') {
                colon = id + n;
                break;
            }
        }

        (void) tsr_admin_safe(colon ? colon : "-",
                              colon ? (size_t) (k->str + k->len - colon) : 1,
                              node->proto, sizeof(node->proto));

        node->ttl_ms = (ttl->type == REDIS_REPLY_INTEGER) ? ttl->integer
                                                          : -1;
        node->pid = -1;
        node->time = -1;

        if (tsr_admin_fleet_parse(fl, fl->nnodes, val->str, val->len) != 0)
        {
            tsr_admin_fail(adm, "out of memory");
            freeReplyObject(val);
            freeReplyObject(ttl);
            goto failed;
        }

        fl->nnodes++;

    next:

        freeReplyObject(val);
        freeReplyObject(ttl);
    }

    rc = 0;

failed:

    free(fresh);

    return rc;
}


/*
 * A registration value, untrusted: lines it does not know are skipped,
 * malformed "server" lines counted.  Returns 0, or -1 out of memory.
 */

static int
tsr_admin_fleet_parse(tsr_admin_fleet_t *fl, size_t node, const char *val,
    size_t len)
{
    size_t               n, line, nlen, flen;
    char                *end;
    const char          *p, *last, *eol, *name, *fp, *listen;
    tsr_admin_node_t    *nd;
    tsr_admin_server_t  *s;
    char                 num[32];

    nd = &fl->nodes[node];

    p = val;
    last = val + len;

    for (line = 0; p < last; line++, p = eol + 1) {
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        n = eol - p;

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }

        if (line == 0) {
            if (n != 3 || memcmp(p, "v 1", 3) != 0) {
                (void) tsr_admin_safe(p, n < 8 ? n : 8, nd->version,
                                      sizeof(nd->version));
                if (nd->version[0] == '\0') {
                    (void) strcpy(nd->version, "?");
                }

                return 0;
            }

            continue;
        }

        if (n > 5 && memcmp(p, "host ", 5) == 0) {
            (void) tsr_admin_safe(p + 5, n - 5, nd->host, sizeof(nd->host));
            continue;
        }

        if ((n > 4 && memcmp(p, "pid ", 4) == 0)
            || (n > 5 && memcmp(p, "time ", 5) == 0))
        {
            flen = (p[0] == 'p') ? 4 : 5;

            if (n - flen >= sizeof(num)) {
                nd->bad_lines++;
                continue;
            }

            memcpy(num, p + flen, n - flen);
            num[n - flen] = '\0';

            errno = 0;

            if (p[0] == 'p') {
                nd->pid = strtoll(num, &end, 10);

            } else {
                nd->time = strtoll(num, &end, 10);
            }

            if (errno != 0 || *end != '\0' || end == num) {
                nd->bad_lines++;
            }

            continue;
        }

        if (n < 7 || memcmp(p, "server ", 7) != 0) {
            /* a line of a later format */
            continue;
        }

        /* server <name> <16 hex> <listen text> */

        name = p + 7;
        fp = memchr(name, ' ', n - 7);

        if (fp == NULL || fp == name
            || (size_t) (fp - name) >= TSR_ADMIN_NAME_LEN / 4
            || (size_t) (p + n - (fp + 1)) < TSR_ADMIN_CTX_HEX
            || !tsr_admin_is_hex(fp + 1, TSR_ADMIN_CTX_HEX)
            || (p + n > fp + 1 + TSR_ADMIN_CTX_HEX
                && fp[1 + TSR_ADMIN_CTX_HEX] != ' '))
        {
            nd->bad_lines++;
            continue;
        }

        nlen = fp - name;
        fp++;
        listen = fp + TSR_ADMIN_CTX_HEX;
        listen += (listen < p + n) ? 1 : 0;

        if (fl->nservers == TSR_ADMIN_MAX_SERVERS) {
            fl->skipped++;
            continue;
        }

        if (fl->nservers == fl->salloc) {
            n = fl->salloc ? 2 * fl->salloc : 64;

            s = realloc(fl->servers, n * sizeof(tsr_admin_server_t));
            if (s == NULL) {
                return -1;
            }

            fl->servers = s;
            fl->salloc = n;
        }

        s = &fl->servers[fl->nservers++];
        memset(s, 0, sizeof(tsr_admin_server_t));

        s->node = node;
        (void) strcpy(s->proto, nd->proto);
        (void) tsr_admin_safe(name, nlen, s->name, sizeof(s->name));

        for (n = 0; n < TSR_ADMIN_CTX_HEX; n++) {
            s->fp[n] = (char) tolower((unsigned char) fp[n]);
        }

        (void) tsr_admin_safe(listen, (size_t) (eol - listen)
                                      - ((eol > listen && eol[-1] == '\r')
                                         ? 1 : 0),
                              s->listen, sizeof(s->listen));

        nd->nservers++;
    }

    if (line == 0) {
        (void) strcpy(nd->version, "?");
    }

    return 0;
}


/* nodes by id, then servers by subsystem, name, node, fingerprint */

static int
tsr_admin_fleet_sort(tsr_admin_fleet_t *fl)
{
    size_t   i, *rank;

    qsort(fl->nodes, fl->nnodes, sizeof(tsr_admin_node_t),
          tsr_admin_node_cmp);

    /* the servers' node numbers, from registration order to sorted */

    rank = malloc((fl->nnodes + 1) * sizeof(size_t));
    if (rank == NULL) {
        return -1;
    }

    for (i = 0; i < fl->nnodes; i++) {
        rank[fl->nodes[i].index] = i;
    }

    for (i = 0; i < fl->nservers; i++) {
        fl->servers[i].node = rank[fl->servers[i].node];
    }

    free(rank);

    if (fl->nservers != 0) {
        qsort(fl->servers, fl->nservers, sizeof(tsr_admin_server_t),
              tsr_admin_server_cmp);
    }

    return 0;
}


/*
 * Nodes, then each server name (per subsystem) with its fingerprints; a
 * name whose fingerprints differ from node to node is a mismatch.
 */

static int
tsr_admin_fleet_print(tsr_admin_t *adm, tsr_admin_fleet_t *fl)
{
    int                  mismatch;
    size_t               i, j, k, a, c, d, nodes, bad, len;
    uint64_t             now;
    tsr_admin_node_t    *nd;
    tsr_admin_server_t  *s;
    char                 ago[TSR_ADMIN_TIME_LEN], ttl[TSR_ADMIN_TIME_LEN];
    char                 list[TSR_ADMIN_MSG_LEN / 2];

    if (fl->nnodes == 0) {
        printf("no nodes registered under \"%snode:\" on %s (nginx "
               "registers every 20 s while it runs with "
               "ssl_session_redis)\n", adm->prefix, adm->where);
        return TSR_ADMIN_OK;
    }

    now = tsr_admin_now();

    printf("nodes        %zu under \"%snode:\" on %s\n", fl->nnodes,
           adm->prefix, adm->where);

    for (i = 0; i < fl->nnodes; i++) {
        nd = &fl->nodes[i];

        if (nd->version[0] != '\0') {
            printf("  %s  unknown registration format \"%s\"\n", nd->id,
                   nd->version);
            continue;
        }

        if (nd->time > 0) {
            tsr_admin_fmt_ago((uint64_t) nd->time * 1000, now, ago,
                              sizeof(ago));

        } else {
            (void) strcpy(ago, "?");
        }

        if (nd->ttl_ms >= 0) {
            tsr_admin_fmt_duration((uint64_t) nd->ttl_ms, ttl, sizeof(ttl));

        } else {
            (void) strcpy(ttl, "never");
        }

        printf("  %s  host %s, pid %lld, updated %s, expires in %s, "
               "%zu server%s\n", nd->id, nd->host[0] ? nd->host : "?",
               nd->pid, ago, ttl, nd->nservers,
               (nd->nservers == 1) ? "" : "s");

        if (nd->bad_lines != 0) {
            printf("  %s  %zu malformed line%s skipped\n", nd->id,
                   nd->bad_lines, (nd->bad_lines == 1) ? "" : "s");
        }
    }

    printf("servers\n");

    bad = 0;
    list[0] = '\0';
    s = fl->servers;

    for (i = 0; i < fl->nservers; i = j) {

        /* [i, j): one name; [i, a): its first node's fingerprints */

        for (j = i + 1; j < fl->nservers
                        && strcmp(s[j].proto, s[i].proto) == 0
                        && strcmp(s[j].name, s[i].name) == 0; j++)
        {
            /* void */
        }

        for (a = i + 1; a < j && s[a].node == s[i].node; a++) {
            /* void */
        }

        mismatch = 0;
        nodes = 1;

        for (c = a; c < j; c = d) {
            for (d = c + 1; d < j && s[d].node == s[c].node; d++) {
                /* void */
            }

            nodes++;

            if (d - c != a - i) {
                mismatch = 1;
                continue;
            }

            for (k = 0; k < a - i; k++) {
                if (strcmp(s[c + k].fp, s[i + k].fp) != 0) {
                    mismatch = 1;
                }
            }
        }

        if (!mismatch) {
            printf("  ok        %-6s %s ", s[i].proto, s[i].name);

            for (k = i; k < a; k++) {
                printf("%c%s", (k == i) ? ' ' : ',', s[k].fp);
            }

            printf(" on %zu node%s\n", nodes, (nodes == 1) ? "" : "s");
            continue;
        }

        bad++;

        printf("  MISMATCH  %-6s %s\n", s[i].proto, s[i].name);

        for (c = i; c < j; c = d) {
            printf("           ");

            for (d = c; d < j && s[d].node == s[c].node; d++) {
                printf("%c%s", (d == c) ? ' ' : ',', s[d].fp);
            }

            printf(" on %s\n", fl->nodes[s[c].node].id);
        }

        len = strlen(list);

        if (bad <= TSR_ADMIN_SHOW_MISMATCHES) {
            (void) snprintf(list + len, sizeof(list) - len, "%s\"%s\" (%s)",
                            len ? ", " : "", s[i].name, s[i].proto);

        } else if (bad == TSR_ADMIN_SHOW_MISMATCHES + 1) {
            (void) snprintf(list + len, sizeof(list) - len, ", ...");
        }
    }

    if (fl->skipped != 0) {
        printf("note         %zu registrations or servers over tsr-admin's "
               "limits were skipped\n", fl->skipped);
    }

    if (bad != 0) {
        tsr_admin_fail(adm, "%zu server name%s with different session id "
                       "contexts across nodes, whose sessions are not "
                       "shared: %s", bad, (bad == 1) ? "" : "s", list);
        return TSR_ADMIN_MISMATCH;
    }

    return TSR_ADMIN_OK;
}


static int
tsr_admin_node_cmp(const void *a, const void *b)
{
    const tsr_admin_node_t  *x, *y;

    x = a;
    y = b;

    return strcmp(x->id, y->id);
}


static int
tsr_admin_server_cmp(const void *a, const void *b)
{
    int                        rc;
    const tsr_admin_server_t  *x, *y;

    x = a;
    y = b;

    rc = strcmp(x->proto, y->proto);
    if (rc != 0) {
        return rc;
    }

    rc = strcmp(x->name, y->name);
    if (rc != 0) {
        return rc;
    }

    if (x->node != y->node) {
        return (x->node < y->node) ? -1 : 1;
    }

    return strcmp(x->fp, y->fp);
}


/* ---- helpers ---- */

static const tsr_admin_command_t *
tsr_admin_find(const char *name)
{
    const tsr_admin_command_t  *cmd;

    for (cmd = tsr_admin_commands; cmd->name != NULL; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }

    return NULL;
}


static void
tsr_admin_usage(FILE *f, const tsr_admin_command_t *cmd)
{
    const tsr_admin_command_t  *c;

    if (cmd != NULL) {
        fprintf(f, "usage: tsr-admin %s\n\n%s\n", cmd->synopsis, cmd->help);
        fprintf(f, "Options of every command: -a ADDRESS, -k KEYFILE, "
                "-p PREFIX, -t TIMEOUT\n(see \"tsr-admin --help\" and "
                "tsr-admin(1)).\n");
        return;
    }

    fprintf(f, "usage: tsr-admin COMMAND [options] [arguments]\n\n"
            "Commands:\n");

    for (c = tsr_admin_commands; c->name != NULL; c++) {
        fprintf(f, "  %-9s %s\n", c->name, c->summary);
    }

    fprintf(f, "\n"
        "Options of every command:\n"
        "  -a, --address ADDRESS  as ssl_session_redis: host:port, host,\n"
        "                         [v6addr]:port or unix:/path, then\n"
        "                         password_file=FILE user=NAME db=N\n"
        "                         (default 127.0.0.1:6379; quote it)\n"
        "  -k, --key FILE         a fleet key file (32 raw bytes), as\n"
        "                         ssl_session_redis_fleet_key; repeatable\n"
        "  -p, --prefix PREFIX    as ssl_session_redis_prefix (default tsr:)"
        "\n"
        "  -t, --timeout TIME     connect and command timeout (default 2s)\n"
        "  -h, --help             this text; after a command, its own\n"
        "\n"
        "Exit status: 0 done, 1 usage error, 2 failure, 3 fleet mismatch.\n"
        "See tsr-admin(1).\n");
}


/* reports a usage error and returns TSR_ADMIN_USAGE */

static int
tsr_admin_usage_error(tsr_admin_t *adm, const char *fmt, ...)
{
    va_list  args;
    size_t   n;
    char     msg[TSR_ADMIN_MSG_LEN];

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    n = strlen(msg);
    (void) snprintf(msg + n, sizeof(msg) - n, "; see \"tsr-admin %s "
                    "--help\"", adm->cmd->name);

    tsr_admin_fail(adm, "%s", msg);

    return TSR_ADMIN_USAGE;
}


static void
tsr_admin_fail(tsr_admin_t *adm, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_admin_vfail(adm, fmt, args);
    va_end(args);
}


/* "tsr-admin: <command>: <message>", one line whatever the message holds */

static void
tsr_admin_vfail(tsr_admin_t *adm, const char *fmt, va_list args)
{
    char  *p;
    char   msg[TSR_ADMIN_MSG_LEN];

    (void) vsnprintf(msg, sizeof(msg), fmt, args);

    for (p = msg; *p != '\0'; p++) {
        if ((unsigned char) *p < ' ' || (unsigned char) *p == 0x7f) {
            *p = ' ';
        }
    }

    (void) fflush(stdout);
    fprintf(stderr, "tsr-admin: %s: %s\n", adm->cmd->name, msg);
}


/*
 * A time as in nginx: "500ms", "30s", "5m", "12h", "1d", or sums such as
 * "1h30m"; a bare number is milliseconds, or seconds with "bare_sec" (as
 * ssl_session_timeout).  Returns 0, or -1.
 */

static int
tsr_admin_parse_time(const char *s, int bare_sec, uint64_t *ms)
{
    uint64_t     total, n, unit;
    const char  *p;

    if (*s == '\0') {
        return -1;
    }

    total = 0;
    p = s;

    while (*p != '\0') {
        if (!isdigit((unsigned char) *p)) {
            return -1;
        }

        n = 0;

        while (isdigit((unsigned char) *p)) {
            n = n * 10 + (uint64_t) (*p++ - '0');

            if (n > 1000000000000ULL) {
                return -1;
            }
        }

        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;

        } else if (*p == '\0' && p != s && total == 0) {
            unit = bare_sec ? 1000 : 1;

        } else {
            switch (*p++) {
            case 's':
                unit = 1000;
                break;
            case 'm':
                unit = 60 * 1000;
                break;
            case 'h':
                unit = 60 * 60 * 1000;
                break;
            case 'd':
                unit = 24 * 60 * 60 * 1000;
                break;
            default:
                return -1;
            }
        }

        total += n * unit;

        if (total > 1000000000000000ULL) {
            return -1;
        }
    }

    *ms = total;

    return 0;
}


/* "min" to "max" hex digits, lowercased into out; 0, or -1 */

static int
tsr_admin_parse_hex(const char *s, size_t min, size_t max, char *out,
    size_t outlen)
{
    size_t  i, len;

    len = strlen(s);

    if (len < min || len > max || len >= outlen || !tsr_admin_is_hex(s, len))
    {
        return -1;
    }

    for (i = 0; i < len; i++) {
        out[i] = (char) tolower((unsigned char) s[i]);
    }

    out[len] = '\0';

    return 0;
}


static int
tsr_admin_is_hex(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!isxdigit((unsigned char) p[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * The value of a "name:value" line of an INFO reply, printable: it comes
 * from the server.  Returns 0, or -1.
 */

static int
tsr_admin_info_field(const char *info, const char *name, char *out,
    size_t outlen)
{
    size_t       i, nlen, vlen;
    const char  *p, *v;

    nlen = strlen(name);

    for (p = info; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n') {
            p++;
        }

        if (strncmp(p, name, nlen) != 0 || p[nlen] != ':') {
            continue;
        }

        v = p + nlen + 1;
        vlen = strcspn(v, "\r\n");

        if (vlen >= outlen) {
            vlen = outlen - 1;
        }

        for (i = 0; i < vlen; i++) {
            out[i] = (v[i] >= ' ' && v[i] < 0x7f) ? v[i] : '?';
        }

        out[vlen] = '\0';

        return 0;
    }

    return -1;
}


/*
 * Text from Redis made printable: bytes outside printable ASCII and the
 * backslash become \xNN; truncated with "..." to fit.  Returns "out".
 */

static const char *
tsr_admin_safe(const char *p, size_t len, char *out, size_t outlen)
{
    size_t          i, n;
    unsigned char   c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (n + 8 >= outlen) {
            (void) strcpy(out + n, "...");
            return out;
        }

        if (c >= ' ' && c < 0x7f && c != '\\') {
            out[n++] = (char) c;

        } else {
            n += (size_t) snprintf(out + n, outlen - n, "\\x%02x", c);
        }
    }

    out[n] = '\0';

    return out;
}


/* the public key id of a sealed value: version(1) | key id(4) | ... */

static void
tsr_admin_key_id(const uint8_t *val, size_t len, char *out)
{
    if (len < 5) {
        (void) strcpy(out, "?");
        return;
    }

    (void) snprintf(out, 9, "%02x%02x%02x%02x", val[1], val[2], val[3],
                    val[4]);
}


static void
tsr_admin_fmt_time(uint64_t ms, char *buf, size_t len)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);

    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        (void) snprintf(buf, len, "?");
    }
}


/* "850ms", "4.2s", "59s", "4m59s", "2h3m", "1d2h" */

static void
tsr_admin_fmt_duration(uint64_t ms, char *buf, size_t len)
{
    uint64_t  s;

    s = ms / 1000;

    if (ms < 1000) {
        (void) snprintf(buf, len, "%llums", (unsigned long long) ms);

    } else if (s < 10 && ms % 1000 >= 100) {
        (void) snprintf(buf, len, "%llu.%llus", (unsigned long long) s,
                        (unsigned long long) (ms % 1000 / 100));

    } else if (s < 60) {
        (void) snprintf(buf, len, "%llus", (unsigned long long) s);

    } else if (s < 3600) {
        (void) snprintf(buf, len, s % 60 ? "%llum%llus" : "%llum",
                        (unsigned long long) (s / 60),
                        (unsigned long long) (s % 60));

    } else if (s < 86400) {
        (void) snprintf(buf, len, s % 3600 / 60 ? "%lluh%llum" : "%lluh",
                        (unsigned long long) (s / 3600),
                        (unsigned long long) (s % 3600 / 60));

    } else {
        (void) snprintf(buf, len, s % 86400 / 3600 ? "%llud%lluh" : "%llud",
                        (unsigned long long) (s / 86400),
                        (unsigned long long) (s % 86400 / 3600));
    }
}


/* "5m ago", "in 4h" */

static void
tsr_admin_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *buf, size_t len)
{
    char  d[TSR_ADMIN_TIME_LEN - 8];

    if (then_ms <= now_ms) {
        tsr_admin_fmt_duration(now_ms - then_ms, d, sizeof(d));
        (void) snprintf(buf, len, "%s ago", d);

    } else {
        tsr_admin_fmt_duration(then_ms - now_ms, d, sizeof(d));
        (void) snprintf(buf, len, "in %s", d);
    }
}


static uint64_t
tsr_admin_now(void)
{
    struct timeval  tv;

    (void) gettimeofday(&tv, NULL);

    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}


static int
tsr_admin_u64_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x < y) ? -1 : (x > y);
}


/* larger counts first, then by fingerprint */

static int
tsr_admin_ctx_cmp(const void *a, const void *b)
{
    const tsr_admin_ctx_count_t  *x, *y;

    x = a;
    y = b;

    if (x->n != y->n) {
        return (x->n > y->n) ? -1 : 1;
    }

    return (x->fp < y->fp) ? -1 : (x->fp > y->fp);
}


static const char *
tsr_admin_version_name(int version)
{
    switch (version) {
    case TLS1_3_VERSION:
        return "TLSv1.3";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_VERSION:
        return "TLSv1";
    default:
        return NULL;
    }
}
