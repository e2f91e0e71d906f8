
/*
 * tsr-admin: what ssl-session-redis keeps in Redis, seen by an operator.
 *
 * Subcommands check, stats, inspect, tickets show|rotate, flush and fleet.
 * The tool speaks to Redis on blocking connections (libtsr's synchronous
 * client) built from an address in the syntax of the ssl_session_redis
 * directive (parsed by tsr_store_conf_parse()): one server, the master
 * the sentinels name, or each master of a cluster in turn (see
 * tsr_admin_cluster.c).  SCAN, INFO and UNLINK are no business of the
 * core's store.  It opens sealed values with libtsr and reaches the ticket
 * key ring only through the tickets API.  It never prints secret bytes: no
 * master key, ticket, ticket key or password.  Errors are one line on
 * stderr; the exit status is 1 for a usage error, 2 for a failure, 3 when
 * "fleet" finds nodes that disagree.
 */


#include "tsr_admin_util.h"


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


#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>


static int tsr_admin_options(tsr_admin_t *adm, int argc, char **argv,
    int *first);
static int tsr_admin_setup(tsr_admin_t *adm);
static int tsr_admin_address(tsr_admin_t *adm);
static const tsr_admin_command_t *tsr_admin_find(const char *name);
static void tsr_admin_usage(FILE *f, const tsr_admin_command_t *cmd);


static const tsr_admin_command_t  tsr_admin_commands[] = {

    { "check", tsr_admin_check,
      TSR_ADMIN_O_PERIOD | TSR_ADMIN_O_LIFETIME,
      "connectivity, AUTH, version, eviction policy, key files",
      "check [options]",
      "Connects and authenticates, shows the Redis version and judges its\n"
      "eviction policy (with cluster=, of every master, and whether they\n"
      "serve all 16384 slots); with -k, tells whether the key files open\n"
      "the ticket key ring (if there is one) and a sample of the sessions.\n"
      "Exit status, as a monitoring plugin's:\n"
      "  0 ok        everything usable\n"
      "  1 warning   usable, but: noeviction or an unknown eviction policy,\n"
      "              INFO memory unreadable, Redis without UNLINK (< 4.0),\n"
      "              some sampled sessions not opening with the key files\n"
      "  2 critical  no connection, AUTH or PING refused, Redis < 2.6.12,\n"
      "              a cluster slot without a master,\n"
      "              a key file that does not load, a ticket key ring that\n"
      "              does not open, no sampled session opening\n"
      "      --period TIME     ssl_session_redis_ticket_rotation (12h)\n"
      "      --lifetime TIME   the longest ssl_session_timeout (5m)\n" },

    { "stats", tsr_admin_stats,
      TSR_ADMIN_O_CONTEXT | TSR_ADMIN_O_MAX_KEYS | TSR_ADMIN_O_MEMORY,
      "number, size and TTLs of the session keys",
      "stats [options]",
      "Counts the session keys under the prefix (SCAN, never KEYS) with\n"
      "their total size, their TTLs (min, median, max) and contexts; with\n"
      "cluster=, on every master, with each one's count.\n"
      "  -C, --context HEX     only sessions of this context fingerprint\n"
      "  -m, --memory          sizes from MEMORY USAGE (Redis' overhead\n"
      "                        included) instead of STRLEN\n"
      "  -n, --max-keys N      examine at most N keys (default 1000000)\n" },

    { "inspect", tsr_admin_inspect, TSR_ADMIN_O_CONTEXT,
      "one session: TTL, size; with -k protocol, cipher, age",
      "inspect [options] SESSION-ID-HEX",
      "Finds the session key(s) of a session id and shows TTL and size;\n"
      "with -k opens the value and shows protocol, cipher, creation time,\n"
      "timeout and server name, never secret bytes.\n"
      "  -C, --context HEX     the context fingerprint (16 hex digits) of\n"
      "                        the key, instead of scanning for it\n" },

    { "tickets", tsr_admin_tickets,
      TSR_ADMIN_O_PERIOD | TSR_ADMIN_O_LIFETIME,
      "show or rotate the fleet ticket key ring",
      "tickets show|rotate -k KEYFILE [options]",
      "show: the fleet ticket key ring: generation, rotation time, key\n"
      "names, roles and times (never key bytes).  rotate: creates the\n"
      "ring when there is none, or rotates it when its period has passed.\n"
      "      --period TIME     ssl_session_redis_ticket_rotation (12h)\n"
      "      --lifetime TIME   the longest ssl_session_timeout (5m)\n" },

    { "flush", tsr_admin_flush,
      TSR_ADMIN_O_CONTEXT | TSR_ADMIN_O_YES | TSR_ADMIN_O_ALL,
      "delete session keys (SCAN + UNLINK)",
      "flush [options]",
      "Deletes the session keys under the prefix (SCAN + UNLINK), after\n"
      "asking on a terminal; without one it needs --yes.  With cluster=,\n"
      "on every master, one UNLINK per hash slot.\n"
      "  -C, --context HEX     only sessions of this context fingerprint\n"
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


/*
 * -h, -p and -s are redis-cli's host, port and socket, so the prefix is
 * -P and the context -C; help is --help only.
 */
static const struct option  tsr_admin_long_options[] = {
    { "address",  required_argument, NULL, 'a' },
    { "host",     required_argument, NULL, 'h' },
    { "port",     required_argument, NULL, 'p' },
    { "socket",   required_argument, NULL, 's' },
    { "config",   required_argument, NULL, 'c' },
    { "server",   required_argument, NULL, TSR_ADMIN_OPT_SERVER },
    { "nginx",    required_argument, NULL, TSR_ADMIN_OPT_NGINX },
    { "key",      required_argument, NULL, 'k' },
    { "prefix",   required_argument, NULL, 'P' },
    { "timeout",  required_argument, NULL, 't' },
    { "json",     no_argument,       NULL, TSR_ADMIN_OPT_JSON },
    { "context",  required_argument, NULL, 'C' },
    { "period",   required_argument, NULL, TSR_ADMIN_OPT_PERIOD },
    { "lifetime", required_argument, NULL, TSR_ADMIN_OPT_LIFETIME },
    { "max-keys", required_argument, NULL, 'n' },
    { "memory",   no_argument,       NULL, 'm' },
    { "yes",      no_argument,       NULL, 'y' },
    { "all",      no_argument,       NULL, TSR_ADMIN_OPT_ALL },
    { "help",     no_argument,       NULL, TSR_ADMIN_OPT_HELP },
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

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
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

    if (adm->json) {
        tsr_admin_json_open(adm, NULL, 0);
        tsr_admin_json_str(adm, "command", cmd->name);
    }

    rc = tsr_admin_setup(adm);
    if (rc != TSR_ADMIN_OK) {
        goto done;
    }

    rc = cmd->handler(adm, argc - 1 - first, argv + 1 + first);

done:

    if (adm->json && adm->out.depth > 0) {
        /* what a failure left open, then how it ended */

        while (adm->out.depth > 1) {
            tsr_admin_json_close(adm);
        }

        tsr_admin_json_int(adm, "exit", rc);

        if (rc != TSR_ADMIN_OK && adm->error[0] != '\0') {
            tsr_admin_json_str(adm, "error", adm->error);
        }

        tsr_admin_json_close(adm);
        (void) putchar('\n');
    }

    if (fflush(stdout) != 0 && rc == TSR_ADMIN_OK) {
        fprintf(stderr, "tsr-admin: %s: cannot write the output: %s\n",
                cmd->name, strerror(errno));
        rc = TSR_ADMIN_FAILED;
    }

    tsr_admin_disconnect(adm);
    tsr_tls_destroy(adm->tls);

    tsr_keyring_destroy(adm->keys);

    for (first = 0; first < TSR_ADMIN_MAX_KEY_FILES; first++) {
        free(adm->nginx_keys[first]);
    }

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

    adm->prefix = TSR_DEFAULT_PREFIX;
    adm->timeout_ms = TSR_ADMIN_DEFAULT_TIMEOUT;
    adm->max_keys = TSR_ADMIN_DEFAULT_MAX;

    help = 0;
    opterr = 0;
    optind = 1;

    for ( ;; ) {
        c = getopt_long(argc, argv, ":a:h:p:s:c:k:P:t:C:n:my",
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

        case 'h':
            adm->host = optarg;
            break;

        case 'p':
            adm->port = optarg;
            break;

        case 's':
            adm->socket = optarg;
            break;

        case 'c':
            adm->config = optarg;
            break;

        case TSR_ADMIN_OPT_SERVER:
            adm->server = optarg;
            break;

        case TSR_ADMIN_OPT_NGINX:
            adm->nginx = optarg;
            break;

        case TSR_ADMIN_OPT_JSON:
            adm->json = 1;
            break;

        case 'k':
            if (adm->nkey_files == TSR_ADMIN_MAX_KEY_FILES) {
                return tsr_admin_usage_error(adm, "more than %d key files",
                                             TSR_ADMIN_MAX_KEY_FILES);
            }

            adm->key_files[adm->nkey_files++] = optarg;
            break;

        case 'P':
            adm->prefix = optarg;
            adm->prefix_set = 1;
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

        case 'C':
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

        case TSR_ADMIN_OPT_HELP:
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

    rc = tsr_admin_address(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

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
        return tsr_admin_usage_error(adm, "invalid redis address%s: %s",
                                     (adm->config != NULL
                                      && adm->address == adm->nginx_address)
                                     ? " in nginx's configuration" : "",
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

    /* a router's: tsr_admin_connect() names the sentinels' master */

    if (adm->conf.cluster != NULL) {
        (void) snprintf(adm->where, sizeof(adm->where), "cluster=%s",
                        adm->conf.cluster);

    } else if (adm->conf.sentinels != NULL) {
        (void) snprintf(adm->where, sizeof(adm->where),
                        "sentinel=%s master=%s", adm->conf.sentinels,
                        adm->conf.master_name != NULL
                        ? adm->conf.master_name : "");
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


/* ---- helpers ---- */

/*
 * The address, prefix and key files: from -c (nginx's configuration) if
 * given, overridden by -a, by -h/-p/-s (as redis-cli's), by -P and -k.
 */

static int
tsr_admin_address(tsr_admin_t *adm)
{
    int            rc;
    char          *end;
    size_t         i;
    unsigned long  port;
    const char    *host;

    if (adm->config != NULL) {
        rc = tsr_admin_nginx_config(adm);
        if (rc != TSR_ADMIN_OK) {
            return rc;
        }

        if (!adm->prefix_set && adm->nginx_prefix[0] != '\0') {
            adm->prefix = adm->nginx_prefix;
        }

        for (i = 0; adm->nkey_files == 0 && i < TSR_ADMIN_MAX_KEY_FILES
                    && adm->nginx_keys[i] != NULL; i++)
        {
            /* -k replaces the configuration's key files */
            adm->key_files[i] = adm->nginx_keys[i];
        }

        if (adm->nkey_files == 0) {
            adm->nkey_files = i;
        }

        if (adm->json) {
            tsr_admin_json_str(adm, "nginx_server", adm->nginx_source);
        }

    } else if (adm->server != NULL || adm->nginx != NULL) {
        return tsr_admin_usage_error(adm, "--server and --nginx go with -c");
    }

    if (adm->host == NULL && adm->port == NULL && adm->socket == NULL) {
        if (adm->address == NULL) {
            adm->address = (adm->config != NULL) ? adm->nginx_address
                                                 : TSR_ADMIN_DEFAULT_ADDRESS;
        }

        return TSR_ADMIN_OK;
    }

    if (adm->address != NULL) {
        return tsr_admin_usage_error(adm, "-a and -h, -p, -s exclude each "
                                     "other");
    }

    if (adm->socket != NULL) {
        if (adm->host != NULL || adm->port != NULL) {
            return tsr_admin_usage_error(adm, "-s and -h, -p exclude each "
                                         "other");
        }

        (void) snprintf(adm->addr_buf, sizeof(adm->addr_buf), "unix:%s",
                        adm->socket);
        adm->address = adm->addr_buf;

        return TSR_ADMIN_OK;
    }

    port = 6379;

    if (adm->port != NULL) {
        errno = 0;
        port = strtoul(adm->port, &end, 10);

        if (errno != 0 || end == adm->port || *end != '\0' || port == 0
            || port > 65535 || !isdigit((unsigned char) adm->port[0]))
        {
            return tsr_admin_usage_error(adm, "invalid port \"%s\"",
                                         adm->port);
        }
    }

    host = (adm->host != NULL) ? adm->host : "127.0.0.1";

    if (host[0] == '\0' || strpbrk(host, " /[]") != NULL) {
        return tsr_admin_usage_error(adm, "invalid host \"%s\"", host);
    }

    (void) snprintf(adm->addr_buf, sizeof(adm->addr_buf),
                    strchr(host, ':') ? "[%s]:%lu" : "%s:%lu", host, port);
    adm->address = adm->addr_buf;

    return TSR_ADMIN_OK;
}


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
        fprintf(f, "Options of every command: -a ADDRESS, -h HOST, -p PORT, "
                "-s SOCKET,\n-c NGINX.CONF, -k KEYFILE, -P PREFIX, "
                "-t TIMEOUT, --json\n(see \"tsr-admin --help\" and "
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
        "                         [v6addr]:port, unix:/path, redis://,\n"
        "                         rediss:// or unix:// URIs, sentinel=\n"
        "                         or cluster= (every master), then\n"
        "                         password_file=FILE user=NAME db=N\n"
        "                         (default 127.0.0.1:6379; quote it)\n"
        "  -h, --host HOST        as redis-cli: host (default 127.0.0.1),\n"
        "  -p, --port PORT        port (default 6379),\n"
        "  -s, --socket PATH      or unix socket; not with -a\n"
        "  -c, --config FILE      take the address, prefix, key files and\n"
        "                         ticket rotation from nginx's\n"
        "                         configuration (runs \"nginx -T -c FILE\");\n"
        "                         -a/-h/-p/-s, -P and -k override them\n"
        "      --server NAME      with -c: the http server with this\n"
        "                         server_name, or the stream server with\n"
        "                         this listen address (needed when servers\n"
        "                         differ)\n"
        "      --nginx PATH       with -c: the nginx binary (default\n"
        "                         /usr/sbin/nginx, else nginx on PATH)\n"
        "  -k, --key FILE         a fleet key file, as\n"
        "                         ssl_session_redis_fleet_key; repeatable\n"
        "  -P, --prefix PREFIX    as ssl_session_redis_prefix (default tsr:)"
        "\n"
        "  -t, --timeout TIME     connect and command timeout (default 2s)\n"
        "      --json             one JSON document on stdout, with \"exit\"\n"
        "                         and, on failure, \"error\"\n"
        "      --help             this text; after a command, its own\n"
        "\n"
        "Exit status: 0 done; 1 warning (check only); 2 failure, or\n"
        "critical for check; 3 fleet mismatch; 64 usage error.\n"
        "See tsr-admin(1).\n");
}
