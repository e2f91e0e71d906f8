
/*
 * tsr-admin, the built program run as a subprocess ($TSR_ADMIN, under
 * $TSR_ADMIN_WRAPPER if set, valgrind for instance), against private
 * redis-servers: plain TCP, a unix socket, requirepass through
 * password_file=, an ACL user; real sessions made by in-memory handshakes
 * through libtsr, a tampered one, the ticket key ring, flush with and
 * without --yes (on a pipe and on a terminal), and fleet registrations,
 * synthetic ones and one written by a real nginx; every command through
 * Sentinel and through a Redis Cluster.  Every failure must be
 * one line on stderr with exit status 64 (usage) or 2; no output may hold
 * secret bytes.
 */


#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tsr.h"
#include "tsr_tickets.h"
#include "tsr_test.h"


#define OUT_SIZE        65536
#define ERR_SIZE        8192
#define CMD_SIZE        4096
#define RUN_TIMEOUT_MS  120000      /* valgrind is slow */
#define MAX_ARGS        64
#define SID_CTX         "tsr-admin-test"
#define CTX_HEX         16
#define MANY            2500        /* more than two SCAN pages */

#define STDIN_NULL      0
#define STDIN_PIPE      1
#define STDIN_TTY       2



typedef struct {
    int         status;             /* exit status, -1: signal, timeout */
    char        out[OUT_SIZE];
    char        err[ERR_SIZE];
} run_t;


static int init_suite(void);
static int clean_suite(void);
static int run(run_t *res, int mode, const char *input, ...);
static int run_argv(run_t *res, int mode, const char *input,
    const char **args);
static int expect(run_t *res, int status, const char *what);
static int one_line(const char *err);
static int flushall(tsr_test_redis_t *r);
static long long count_keys(tsr_test_redis_t *r, const char *pattern);
static int fill(tsr_test_redis_t *r, const char *head, int n, int size,
    int ttl);
static void ctx_hex(const char *sid_ctx, char *out);
static void to_hex(const uint8_t *p, size_t len, char *out);
static int make_session(int version, const char *sni, char *key,
    size_t keylen, uint8_t *master, size_t *mlen);
static int servername(SSL *ssl, int *ad, void *arg);
static int set_node(tsr_test_redis_t *r, const char *id, const char *lines);
static void inspect_real_session(int version);

static void test_help_lists_commands_and_each_command_has_help(void);
static void test_usage_errors_exit_64_with_one_line(void);
static void test_check_passes_on_tcp_and_shows_version(void);
static void test_check_warns_on_noeviction_only(void);
static void test_check_fails_in_one_line_when_redis_refuses(void);
static void test_check_authenticates_with_password_file(void);
static void test_check_authenticates_as_acl_user(void);
static void test_check_works_over_unix_socket(void);
static void test_check_names_the_version_a_setting_needs(void);
static void test_readme_admin_acl_rule_suffices(void);
static void test_check_and_stats_over_tls(void);
static void test_check_tells_whether_key_file_opens_ring(void);
static void test_check_fails_when_no_sampled_session_opens(void);
static void test_stats_of_empty_prefix_is_zero(void);
static void test_stats_counts_sessions_bytes_ttls_contexts(void);
static void test_stats_treats_glob_characters_in_prefix_literally(void);
static void test_inspect_shows_tls12_session_without_secrets(void);
static void test_inspect_shows_tls13_session_without_secrets(void);
static void test_inspect_with_context_reads_key_directly(void);
static void test_inspect_of_tampered_value_does_not_open(void);
static void test_inspect_with_other_fleet_key_does_not_open(void);
static void test_inspect_of_missing_id_fails(void);
static void test_tickets_rotate_creates_then_waits_for_period(void);
static void test_tickets_show_has_names_never_key_bytes(void);
static void test_tickets_need_key_file_and_ring(void);
static void test_flush_refuses_without_yes_when_not_a_tty(void);
static void test_flush_with_yes_deletes_only_sessions(void);
static void test_flush_asks_on_a_terminal(void);
static void test_flush_all_and_context(void);
static void test_fleet_without_nodes_says_so(void);
static void test_fleet_flags_differing_fingerprints(void);
static void test_fleet_lists_a_real_nginx_node(void);
static int json_holds(const char *doc, const char *expr);
static int bash_out(const char *script, char *out, size_t outlen);
static void test_json_is_one_document_for_every_command(void);
static void test_check_exits_ok_warning_critical(void);
static void test_host_port_socket_and_uris(void);
static const char *asan_nginx(const char *where, const char *nginx,
    char *buf, size_t size);
static void test_config_reads_nginx_configuration(void);
static void test_config_accepts_renamed_directives(void);
static void test_bash_completion_completes(void);
static void test_every_command_works_through_sentinel(void);
static int cluster_master_of(tsr_test_cluster_t *cl, int *owner,
    const char *key);
static void test_every_command_works_through_cluster(void);
static void cluster_resharding(tsr_test_cluster_t *cl, int *owner,
    const int *masters, int nm, const char *a, int taken);
static void test_cluster_without_a_seed_answering_fails(void);
static void test_fleet_registers_every_server_past_64(void);


/*
 * alice may do anything; tsr-admin has the README's rule for tsr-admin;
 * nobody else but the default user
 */
/* an eviction policy check judges ok: its warnings are tested on purpose */
static tsr_test_redis_t  redis = {
    .extra = "maxmemory 100mb\nmaxmemory-policy allkeys-lru\n"
             "user alice on >alice-pw ~* +@all\n"
             "user tsr-admin on >admin-pw resetkeys ~tsr:* resetchannels "
             "-@all +ping +info +select +scan +get +pttl +strlen "
             "+memory|usage +unlink +del +script|load +evalsha +time +set"
};

static tsr_test_redis_t  secured = {
    .password = "s3cret pass",
    .extra = "maxmemory 100mb\nmaxmemory-policy volatile-lru\n"
};

static const char       *admin;
static char              dir[PATH_MAX];
static char              fleet_key[PATH_MAX + 32];
static char              other_key[PATH_MAX + 32];
static char              addr[PATH_MAX + 64];
static char              addr_unix[PATH_MAX + 64];
static char              addr_acl[2 * PATH_MAX];
static char              addr_acl_bad[2 * PATH_MAX];
static char              addr_admin[2 * PATH_MAX];
static char              alice_pass[PATH_MAX + 32];
static char              addr_secured[2 * PATH_MAX];
static char              addr_secured_bad[2 * PATH_MAX];
static char              addr_secured_none[PATH_MAX];
static char              reply[CMD_SIZE];
static run_t             res;


static int
init_suite(void)
{
    char     path[PATH_MAX + 32];
    uint8_t  key[32];

    if (tsr_test_redis_start(&redis) != 0
        || tsr_test_redis_start(&secured) != 0
        || tsr_test_mkdtemp("admin", dir, sizeof(dir)) != 0)
    {
        return -1;
    }

    snprintf(fleet_key, sizeof(fleet_key), "%s/fleet.key", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", dir);

    if (RAND_bytes(key, sizeof(key)) != 1
        || tsr_test_write_file(fleet_key, key, sizeof(key), 0600) != 0
        || RAND_bytes(key, sizeof(key)) != 1
        || tsr_test_write_file(other_key, key, sizeof(key), 0600) != 0)
    {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/alice.pass", dir);
    if (tsr_test_write_file(path, "alice-pw\n", 9, 0600) != 0) {
        return -1;
    }

    snprintf(addr_acl, sizeof(addr_acl),
             "127.0.0.1:%d user=alice password_file=%s", redis.port, path);
    snprintf(alice_pass, sizeof(alice_pass), "%s", path);

    snprintf(path, sizeof(path), "%s/admin.pass", dir);
    if (tsr_test_write_file(path, "admin-pw\n", 9, 0600) != 0) {
        return -1;
    }

    snprintf(addr_admin, sizeof(addr_admin),
             "127.0.0.1:%d user=tsr-admin password_file=%s", redis.port,
             path);

    snprintf(path, sizeof(path), "%s/secured.pass", dir);
    if (tsr_test_write_file(path, "s3cret pass\n", 12, 0600) != 0) {
        return -1;
    }

    snprintf(addr_secured, sizeof(addr_secured),
             "127.0.0.1:%d password_file=%s", secured.port, path);

    snprintf(path, sizeof(path), "%s/wrong.pass", dir);
    if (tsr_test_write_file(path, "wrong-pw\n", 9, 0600) != 0) {
        return -1;
    }

    snprintf(addr_acl_bad, sizeof(addr_acl_bad),
             "127.0.0.1:%d user=alice password_file=%s", redis.port, path);
    snprintf(addr_secured_bad, sizeof(addr_secured_bad),
             "127.0.0.1:%d password_file=%s", secured.port, path);
    snprintf(addr_secured_none, sizeof(addr_secured_none), "127.0.0.1:%d",
             secured.port);

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", redis.port);
    snprintf(addr_unix, sizeof(addr_unix), "unix:%s", redis.unix_path);

    return 0;
}


static int
clean_suite(void)
{
    int  rc;

    rc = 0;
    rc |= tsr_test_redis_stop(&redis);
    rc |= tsr_test_redis_stop(&secured);

    return rc;
}


/*
 * Runs tsr-admin with the NULL-terminated arguments; stdin is /dev/null,
 * a pipe fed with "input", or a terminal (a pseudo-terminal) fed with it.
 * Returns 0 when the program ran (its status in res->status), -1 if not.
 */

static int
run(run_t *r, int mode, const char *input, ...)
{
    int          n;
    va_list      ap;
    const char  *args[MAX_ARGS];

    va_start(ap, input);

    for (n = 0; n < MAX_ARGS - 1; n++) {
        args[n] = va_arg(ap, const char *);
        if (args[n] == NULL) {
            break;
        }
    }

    va_end(ap);

    args[n] = NULL;

    return run_argv(r, mode, input, args);
}


static int
run_argv(run_t *r, int mode, const char *input, const char **args)
{
    int            i, n, status, master, in[2], out[2], err[2], open_fds;
    char          *wrapper, *w, *save;
    char          *argv[2 * MAX_ARGS];
    pid_t          pid;
    size_t         olen, elen;
    ssize_t        got;
    long long      deadline;
    struct pollfd  pfd[2];
    char           buf[4096];

    memset(r, 0, sizeof(run_t));
    r->status = -1;

    n = 0;
    wrapper = NULL;

    if (getenv("TSR_ADMIN_WRAPPER") != NULL
        && getenv("TSR_ADMIN_WRAPPER")[0] != '\0')
    {
        wrapper = strdup(getenv("TSR_ADMIN_WRAPPER"));
        if (wrapper == NULL) {
            return -1;
        }

        for (w = strtok_r(wrapper, " ", &save); w != NULL && n < MAX_ARGS;
             w = strtok_r(NULL, " ", &save))
        {
            argv[n++] = w;
        }
    }

    argv[n++] = (char *) admin;

    for (i = 0; args[i] != NULL; i++) {
        argv[n++] = (char *) args[i];
    }

    argv[n] = NULL;

    master = -1;
    in[0] = in[1] = -1;

    if (pipe(out) != 0 || pipe(err) != 0) {
        free(wrapper);
        return -1;
    }

    if (mode == STDIN_PIPE && pipe(in) != 0) {
        free(wrapper);
        return -1;
    }

    if (mode == STDIN_TTY) {
        master = posix_openpt(O_RDWR | O_NOCTTY);

        if (master == -1 || grantpt(master) != 0 || unlockpt(master) != 0) {
            free(wrapper);
            return -1;
        }
    }

    pid = fork();

    if (pid == -1) {
        free(wrapper);
        return -1;
    }

    if (pid == 0) {
        if (mode == STDIN_TTY) {
            (void) setsid();
            i = open(ptsname(master), O_RDWR);

        } else if (mode == STDIN_PIPE) {
            i = in[0];

        } else {
            i = open("/dev/null", O_RDONLY);
        }

        if (i == -1 || dup2(i, 0) == -1 || dup2(out[1], 1) == -1
            || dup2(err[1], 2) == -1)
        {
            _exit(126);
        }

        for (i = 3; i < 1024; i++) {
            (void) close(i);
        }

        execv(argv[0], argv);
        _exit(127);
    }

    free(wrapper);

    (void) close(out[1]);
    (void) close(err[1]);

    if (mode == STDIN_PIPE) {
        (void) close(in[0]);

        if (input != NULL) {
            (void) write(in[1], input, strlen(input));
        }

        (void) close(in[1]);
    }

    if (mode == STDIN_TTY && input != NULL) {
        (void) write(master, input, strlen(input));
    }

    olen = 0;
    elen = 0;
    open_fds = 2;
    deadline = tsr_test_now_ms() + RUN_TIMEOUT_MS;

    pfd[0].fd = out[0];
    pfd[1].fd = err[0];

    while (open_fds > 0 && tsr_test_now_ms() < deadline) {
        pfd[0].events = POLLIN;
        pfd[1].events = POLLIN;

        if (poll(pfd, 2, 1000) < 0 && errno != EINTR) {
            break;
        }

        for (i = 0; i < 2; i++) {
            if (pfd[i].fd == -1 || pfd[i].revents == 0) {
                continue;
            }

            got = read(pfd[i].fd, buf, sizeof(buf));

            if (got <= 0) {
                (void) close(pfd[i].fd);
                pfd[i].fd = -1;
                open_fds--;
                continue;
            }

            if (i == 0 && olen + got < sizeof(r->out)) {
                memcpy(r->out + olen, buf, got);
                olen += got;

            } else if (i == 1 && elen + got < sizeof(r->err)) {
                memcpy(r->err + elen, buf, got);
                elen += got;
            }
        }
    }

    for (i = 0; i < 2; i++) {
        if (pfd[i].fd != -1) {
            (void) close(pfd[i].fd);
        }
    }

    if (open_fds > 0) {
        (void) kill(pid, SIGKILL);
        fprintf(stderr, "tsr-admin %s: timed out\n", args[0]);
    }

    if (master != -1) {
        (void) close(master);
    }

    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }

    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    return 0;
}


/* whether it exited with "status", showing what it said when not */

static int
expect(run_t *r, int status, const char *what)
{
    if (r->status == status) {
        return 1;
    }

    fprintf(stderr, "\n%s: exit status %d, expected %d\n--- stdout\n%s"
            "--- stderr\n%s---\n", what, r->status, status, r->out, r->err);

    return 0;
}


/* a single line, "tsr-admin: " first, newline-terminated */

static int
one_line(const char *err)
{
    size_t  len;

    len = strlen(err);

    return len > 11 && strncmp(err, "tsr-admin: ", 11) == 0
           && err[len - 1] == '\n' && strchr(err, '\n') == err + len - 1;
}


static int
flushall(tsr_test_redis_t *r)
{
    return tsr_test_redis_cmd(r, reply, sizeof(reply), "FLUSHALL");
}


static long long
count_keys(tsr_test_redis_t *r, const char *pattern)
{
    if (tsr_test_redis_cmd(r, reply, sizeof(reply),
                           "EVAL %s 0 %s",
                           "return #redis.call('KEYS', ARGV[1])", pattern)
        != 0)
    {
        return -1;
    }

    return atoll(reply);
}


/*
 * "n" keys named <head><64 hex digits of i>, values of "size" bytes, TTL
 * ttl + i seconds (none with ttl 0); in one script, the test's own.
 */

static int
fill(tsr_test_redis_t *r, const char *head, int n, int size, int ttl)
{
    static const char  script[] =
        "for i = 1, tonumber(ARGV[1]) do "
        "  local k = KEYS[1] .. string.format('%064x', i) "
        "  redis.call('SET', k, string.rep('x', tonumber(ARGV[2]))) "
        "  if tonumber(ARGV[3]) > 0 then "
        "    redis.call('EXPIRE', k, tonumber(ARGV[3]) + i) "
        "  end "
        "end";

    return tsr_test_redis_cmd(r, reply, sizeof(reply), "EVAL %s 1 %s %d %d %d",
                              script, head, n, size, ttl);
}


/* the first 16 hex digits of SHA-256(sid_ctx), as in the session keys */

static void
ctx_hex(const char *sid_ctx, char *out)
{
    uint8_t  md[SHA256_DIGEST_LENGTH];

    SHA256((const uint8_t *) sid_ctx, strlen(sid_ctx), md);
    to_hex(md, CTX_HEX / 2, out);
}


static void
to_hex(const uint8_t *p, size_t len, char *out)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }

    out[2 * len] = '\0';
}


/*
 * A real session in Redis: an in-memory handshake with a server context
 * bound to the store through libtsr, under the fleet key.  Returns 0 with
 * the key name and the session's master key (as the client has it, the
 * same bytes) for the caller to look for in the output.
 */

static int
make_session(int version, const char *sni, char *key, size_t keylen,
    uint8_t *master, size_t *mlen)
{
    int               rc, reused;
    SSL_CTX          *server, *client;
    tsr_ssl_t        *b;
    SSL_SESSION      *sess;
    tsr_store_t      *st;
    tsr_keyring_t    *kr;
    tsr_ssl_conf_t    conf;
    tsr_store_conf_t  sconf;
    char              err[512];

    rc = -1;
    server = NULL;
    client = NULL;
    sess = NULL;
    st = NULL;

    kr = tsr_keyring_create(err, sizeof(err));
    if (kr == NULL || tsr_keyring_add_file(kr, fleet_key, err, sizeof(err))
                      != TSR_OK)
    {
        fprintf(stderr, "key ring: %s\n", err);
        goto failed;
    }

    memset(&sconf, 0, sizeof(sconf));
    sconf.host = "127.0.0.1";
    sconf.port = redis.port;
    sconf.connect_timeout_ms = 2000;
    sconf.command_timeout_ms = 2000;

    st = tsr_store_create(&sconf, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "tsr_store_create(): %s\n", err);
        goto failed;
    }

    server = tsr_test_server_ctx("one.test", version, SID_CTX, 0);
    client = tsr_test_client_ctx(version);
    if (server == NULL || client == NULL) {
        goto failed;
    }

    /* one TLS 1.3 ticket, so one key */
    (void) SSL_CTX_set_num_tickets(server, 1);

    /* as nginx: OpenSSL keeps the server name only if a callback took it */
    SSL_CTX_set_tlsext_servername_callback(server, servername);

    memset(&conf, 0, sizeof(conf));
    conf.store = st;
    conf.keys = kr;
    conf.sid_ctx = (const uint8_t *) SID_CTX;
    conf.sid_ctx_len = strlen(SID_CTX);

    b = tsr_ssl_ctx_attach(server, &conf, err, sizeof(err));
    if (b == NULL) {
        fprintf(stderr, "tsr_ssl_ctx_attach(): %s\n", err);
        goto failed;
    }

    if (flushall(&redis) != 0
        || tsr_test_handshake(server, client, sni, NULL, &sess, &reused)
           != 0
        || sess == NULL)
    {
        goto failed;
    }

    *mlen = SSL_SESSION_get_master_key(sess, master, *mlen);

    if (tsr_test_redis_cmd(&redis, key, keylen, "KEYS tsr:s:*") != 0
        || strchr(key, '\n') != NULL || strncmp(key, "tsr:s:", 6) != 0)
    {
        fprintf(stderr, "expected one session key, found \"%s\"\n", key);
        goto failed;
    }

    rc = 0;

failed:

    SSL_SESSION_free(sess);
    SSL_CTX_free(server);
    SSL_CTX_free(client);
    tsr_store_destroy(st);
    tsr_keyring_destroy(kr);

    return rc;
}


static int
servername(SSL *ssl, int *ad, void *arg)
{
    return SSL_TLSEXT_ERR_OK;
}


/* a node registration, as nginx writes it: <prefix>node:<id>, EX 60 */

static int
set_node(tsr_test_redis_t *r, const char *id, const char *lines)
{
    char  val[4096];

    snprintf(val, sizeof(val), "v 1\nhost %.*s\npid 4242\ntime %lld\n%s",
             (int) strcspn(id, ":"), id, (long long) time(NULL), lines);

    return tsr_test_redis_cmd(r, reply, sizeof(reply),
                              "SET tsr:node:%s %s EX 60", id, val);
}


/* ---- help and usage ---- */

static void
test_help_lists_commands_and_each_command_has_help(void)
{
    size_t       i;
    const char  *cmds[] = { "check", "stats", "inspect", "tickets", "flush",
                            "fleet" };

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "--help", NULL), 0);
    CU_ASSERT(expect(&res, 0, "--help"));

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, cmds[i]));
    }

    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "--address"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "password_file="));

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, cmds[i], "--help",
                                  NULL), 0);
        CU_ASSERT(expect(&res, 0, cmds[i]));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "usage: tsr-admin"));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, cmds[i]));
        CU_ASSERT_STRING_EQUAL(res.err, "");
    }

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "--version", NULL), 0);
    CU_ASSERT(expect(&res, 0, "--version"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "tsr-admin "));
}


static void
test_usage_errors_exit_64_with_one_line(void)
{
    size_t  i;

    static const struct {
        const char  *args[6];
        const char  *says;
    } cases[] = {
        { { NULL }, "usage" },
        { { "frobnicate", NULL }, "unknown command \"frobnicate\"" },
        { { "check", "--bogus", NULL }, "unknown option \"--bogus\"" },
        { { "check", "-Z", NULL }, "unknown option \"-Z\"" },
        { { "check", "-a", NULL }, "needs a value" },
        { { "check", "--yes", NULL }, "\"--yes\" does not apply" },
        { { "check", "extra", NULL }, "unexpected argument \"extra\"" },
        { { "check", "-a", "127.0.0.1:99999", NULL }, "invalid" },
        { { "check", "-a", "127.0.0.1 frob=1", NULL }, "frob" },
        { { "check", "-P", "has space", NULL }, "invalid prefix" },
        { { "check", "-t", "soon", NULL }, "invalid timeout" },
        { { "stats", "-C", "xyz", NULL }, "invalid context" },
        { { "stats", "-n", "-5", NULL }, "invalid number" },
        { { "inspect", NULL }, "no session id" },
        { { "inspect", "abc", NULL }, "invalid session id" },
        { { "inspect", "zz", NULL }, "invalid session id" },
        { { "tickets", NULL }, "expected \"show\" or \"rotate\"" },
        { { "tickets", "show", NULL }, "-k" },
        { { "flush", "--all", "-C", "0123456789abcdef", "--yes", NULL },
          "exclude" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(run_argv(&res, STDIN_NULL, NULL,
                                       (const char **) cases[i].args), 0);
        CU_ASSERT(expect(&res, 64, cases[i].says));

        if (i == 0) {
            /* no command at all: the usage text */
            CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "usage: tsr-admin"));
            continue;
        }

        CU_ASSERT(one_line(res.err));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err, cases[i].says));

        if (strstr(res.err, cases[i].says) == NULL) {
            fprintf(stderr, "\nexpected \"%s\" in: %s", cases[i].says,
                    res.err);
        }
    }
}


/* ---- check ---- */

static void
test_check_passes_on_tcp_and_shows_version(void)
{
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "check"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "connected to 127.0.0.1:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok       redis "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "maxmemory"));
    CU_ASSERT_STRING_EQUAL(res.err, "");
}


static void
test_check_warns_on_noeviction_only(void)
{
    size_t  i;

    static const struct {
        const char  *policy;
        int          warns;
    } cases[] = {
        { "noeviction", 1 },
        { "allkeys-lru", 0 },
        { "allkeys-random", 0 },
        { "volatile-ttl", 0 },
        { "volatile-lru", 0 }
    };

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory 100mb"), 0);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                           "CONFIG SET maxmemory-policy %s",
                                           cases[i].policy), 0);

        CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                                  addr, NULL), 0);
        /* a warning is check's exit status 1 */
        CU_ASSERT(expect(&res, cases[i].warns, cases[i].policy));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, cases[i].policy));

        if (cases[i].warns) {
            CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "warning  maxmemory-policy"
                                                   " noeviction"));
            CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "refuses writes"));

        } else {
            CU_ASSERT_PTR_NULL(strstr(res.out, "warning"));
        }
    }

    /* Redis' defaults */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory-policy "
                                       "noeviction"), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory 0"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 1, "check, noeviction without maxmemory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "noeviction without maxmemory"));

    /* the suite's setting again */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory 100mb"), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory-policy "
                                       "allkeys-lru"), 0);
}


static void
test_check_fails_in_one_line_when_redis_refuses(void)
{
    int   port;
    char  a[64];

    port = tsr_test_free_port();
    CU_ASSERT_FATAL(port > 0);

    snprintf(a, sizeof(a), "127.0.0.1:%d", port);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "check, refused"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, a));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "refused"));

    /* every command that talks to Redis says the same */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "stats, refused"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, a));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "fleet, refused"));
    CU_ASSERT(one_line(res.err));
}


static void
test_check_authenticates_with_password_file(void)
{
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_secured, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check with password_file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "AUTH"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "s3cret"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_secured_bad, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check with a wrong password"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "AUTH"));
    CU_ASSERT_PTR_NULL(strstr(res.err, "wrong-pw"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_secured_none, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check without a password"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "NOAUTH"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "password_file="));
}


static void
test_check_authenticates_as_acl_user(void)
{
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_acl, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check as alice"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "as user \"alice\""));
    CU_ASSERT_PTR_NULL(strstr(res.out, "alice-pw"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_acl_bad, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check as alice, wrong password"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "AUTH as user \"alice\""));
    CU_ASSERT_PTR_NULL(strstr(res.err, "wrong-pw"));
}


/*
 * Against the fake speaking as older Redis: user= before 6.0 is refused
 * with the module's message; before 6.2 a note says how single use runs.
 */

static void
test_check_names_the_version_a_setting_needs(void)
{
    char                   a[2 * PATH_MAX], want[256];
    tsr_test_fakeredis_t   fake;

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "5.0.7"),
                          0);

    snprintf(a, sizeof(a), "127.0.0.1:%d user=alice password_file=%s",
             fake.port, alice_pass);
    snprintf(want, sizeof(want), "redis at 127.0.0.1:%d is 5.0.7: user= "
             "needs ACL users, Redis 6.0 or later", fake.port);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "check as alice on 5.0.7"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, want));
    CU_ASSERT_PTR_NULL(strstr(res.err, "alice-pw"));

    tsr_test_fakeredis_stop(&fake);

    CU_ASSERT_EQUAL_FATAL(tsr_test_fakeredis_start_version(&fake,
                              TSR_TEST_FAKE_NORMAL, "6.0.16"),
                          0);

    snprintf(a, sizeof(a), "127.0.0.1:%d user=alice password_file=%s",
             fake.port, alice_pass);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              NULL), 0);
    /* the fake has no INFO memory: a warning */
    CU_ASSERT(expect(&res, 1, "check as alice on 6.0.16"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok       redis 6.0.16\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "note     redis 6.0.16 has no "
                                           "GETDEL (6.2): single use takes "
                                           "sessions with a script"));

    tsr_test_fakeredis_stop(&fake);
}


/*
 * The README's ACL rule for tsr-admin: every subcommand that reads or
 * changes the fleet's keys works under it, and it reaches nothing else.
 */

static void
test_readme_admin_acl_rule_suffices(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr_admin, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate as tsr-admin"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr_admin, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show as tsr-admin"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_admin, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -k as tsr-admin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "as user \"tsr-admin\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok       memory "));

    /* sessions, as stand-ins: check -k would find them malformed */
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 3, 10, 100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "other:s:0123456789abcdef:", 2, 10, 100),
                    0);
    CU_ASSERT_EQUAL(set_node(&redis, "web1:http", ""), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a",
                              addr_admin, NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats as tsr-admin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     3\n"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a",
                              addr_admin, NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet as tsr-admin"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a",
                              addr_admin, "--yes", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush --yes as tsr-admin"));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 0);
    CU_ASSERT_EQUAL(count_keys(&redis, "other:*"), 2);

    /* the prefix is the limit */
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a",
                              addr_admin, "-P", "other:", NULL), 0);
    CU_ASSERT(expect(&res, 2, "stats -P other: as tsr-admin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "NOPERM"));
}


static void
test_check_works_over_unix_socket(void)
{
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a",
                              addr_unix, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check over unix"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "connected to unix:"));

    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 3, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a",
                              addr_unix, NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats over unix"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     3\n"));
}


static void
test_check_tells_whether_key_file_opens_ring(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -k, no ring"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "key id"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "no ticket key ring"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -k, ring"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "generation 1 opens"));

    /* the fleet key as second key still opens; another fleet's does not */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", other_key, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -k other -k fleet"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", other_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check -k other"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));

    /* a missing key file is a failure too */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", "/nonexistent/fleet.key", NULL), 0);
    CU_ASSERT(expect(&res, 2, "check -k missing"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "/nonexistent/fleet.key"));
}


static void
test_check_fails_when_no_sampled_session_opens(void)
{
    char     key[TSR_MAX_KEY_NAME + 1];
    uint8_t  master[64];
    size_t   mlen;

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS12, "one.test", key,
                                       sizeof(key), master, &mlen), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -k, a session"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "1 of 1 sampled sessions open"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", other_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check -k other, a session"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "none of 1 sampled sessions"));
}


/* ---- stats ---- */

static void
test_stats_of_empty_prefix_is_zero(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "other:s:0123456789abcdef:", 5, 10, 100),
                    0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats, empty"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     0\n"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "ttl"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "-P", "other:", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats, other prefix"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     5\n"));
}


static void
test_stats_counts_sessions_bytes_ttls_contexts(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    /* TTLs 1001..3500 s in one context, 10 without TTL in another */

    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", MANY, 100,
                         1000), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:fedcba9876543210:", 10, 50, 0), 0);

    /* not sessions: a list, a malformed name, other prefixes, a ring */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "RPUSH tsr:s:0123456789abcdef:aa x"),
                    0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:s:nonsense x"), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:tk:default x"), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsrx:s:0123456789abcdef:", 7, 10, 100),
                    0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2510\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "bytes        250500 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ttl          min 16m"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "median 37m"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "max 58m"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "10 sessions without TTL"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "2 other keys"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "contexts     2\n"
                                           "  0123456789abcdef  2500\n"
                                           "  fedcba9876543210  10\n"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "-C", "FEDCBA9876543210", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     10\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "bytes        500 "));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "--memory", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats --memory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2510\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "memory       "));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "-n", "100", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "stopped after 100 keys"));
}


static void
test_stats_treats_glob_characters_in_prefix_literally(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "a*[b]?\\:s:0123456789abcdef:", 4, 10,
                         100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "aX[b]?\\:s:0123456789abcdef:", 3, 10,
                         100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "axbq\\:s:0123456789abcdef:", 2, 10, 100),
                    0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "-P", "a*[b]?\\:", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -p with glob characters"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     4\n"));
}


/* ---- inspect ---- */

static void
inspect_real_session(int version)
{
    char        *id, hex[2 * 64 + 1];
    size_t       mlen;
    uint8_t      master[64];
    const char  *proto;
    char         key[TSR_MAX_KEY_NAME + 1], ctx[CTX_HEX + 1];

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(version, "one.test", key,
                                       sizeof(key), master, &mlen), 0);
    CU_ASSERT_FATAL(mlen >= 32);

    ctx_hex(SID_CTX, ctx);
    CU_ASSERT_EQUAL(strncmp(key + 6, ctx, CTX_HEX), 0);

    id = key + 6 + CTX_HEX + 1;

    /* without the key file: where it is, not what */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              id, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, key));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ttl          "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "bytes sealed"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "cipher"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, id, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect -k"));

    proto = (version == TSR_TEST_TLS13) ? "protocol     TLSv1.3\n"
                                        : "protocol     TLSv1.2\n";

    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, proto));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "cipher       "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "created      "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "timeout      "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "server name  one.test\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "id length    32 bytes\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "context      "));
    CU_ASSERT_PTR_NULL(strstr(res.out, "NOT the"));
    CU_ASSERT_STRING_EQUAL(res.err, "");

    /* never the master key, in hex or raw */

    to_hex(master, mlen, hex);
    CU_ASSERT_PTR_NULL(strstr(res.out, hex));
    CU_ASSERT_PTR_NULL(memmem(res.out, strlen(res.out), master, mlen));

    hex[16] = '\0';
    CU_ASSERT_PTR_NULL(strstr(res.out, hex));
}


static void
test_inspect_shows_tls12_session_without_secrets(void)
{
    inspect_real_session(TSR_TEST_TLS12);
}


static void
test_inspect_shows_tls13_session_without_secrets(void)
{
    inspect_real_session(TSR_TEST_TLS13);
}


static void
test_inspect_with_context_reads_key_directly(void)
{
    char     *id;
    size_t    mlen;
    uint8_t   master[64];
    char      key[TSR_MAX_KEY_NAME + 1], ctx[CTX_HEX + 1];

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS12, NULL, key,
                                       sizeof(key), master, &mlen), 0);

    ctx_hex(SID_CTX, ctx);
    id = key + 6 + CTX_HEX + 1;

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, "-C", ctx, id, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect -c"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "server name  (none"));

    /* another context: no such key */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-C", "0000000000000000", id, NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect -c other"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no session"));
}


static void
test_inspect_of_tampered_value_does_not_open(void)
{
    char     *id;
    size_t    mlen, vlen;
    uint8_t   master[64], val[TSR_MAX_VALUE];
    char      key[TSR_MAX_KEY_NAME + 1];

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS13, "one.test", key,
                                       sizeof(key), master, &mlen), 0);

    vlen = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_get_raw(&redis, key, val, &vlen),
                          0);
    CU_ASSERT_FATAL(vlen > TSR_SEAL_OVERHEAD);

    val[vlen - 20] ^= 0x01;

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET %s %b KEEPTTL", key, val, vlen),
                    0);

    id = key + 6 + CTX_HEX + 1;

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, id, NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect tampered"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "tampered"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, key));

    /* what needs no key is still shown */
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "bytes sealed"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "cipher"));

    /* a value moved to another key name does not open either */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:s:0000000000000000:%s %b",
                                       id, val, vlen), 0);
    val[vlen - 20] ^= 0x01;
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:s:0000000000000000:%s %b",
                                       id, val, vlen), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, "-C", "0000000000000000", id,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect moved"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));

    /* a value that is no session at all */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:s:0000000000000000:%s %s",
                                       id, "short"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, "-C", "0000000000000000", id,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect short"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));
}


static void
test_inspect_with_other_fleet_key_does_not_open(void)
{
    size_t    mlen;
    uint8_t   master[64];
    char      key[TSR_MAX_KEY_NAME + 1];

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS12, "one.test", key,
                                       sizeof(key), master, &mlen), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", other_key, key + 6 + CTX_HEX + 1, NULL),
                          0);
    CU_ASSERT(expect(&res, 2, "inspect, other key"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "unknown key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sealed with  key id "));
}


static void
test_inspect_of_missing_id_fails(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "00112233", NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect, missing"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no session with id 00112233"));
    CU_ASSERT_STRING_EQUAL(res.out, "");

    /* a key of another type under that id */

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "RPUSH tsr:s:0123456789abcdef:"
                                       "00112233 x"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "00112233", NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect, a list"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "not a string"));
}


/* ---- tickets ---- */

static void
test_tickets_rotate_creates_then_waits_for_period(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate, create"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "created \"tsr:tk:default\" at "
                                           "generation 1"));

    /* not due: the operator's rotate rotates anyway, keeping the old key */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate, forced"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "rotated \"tsr:tk:default\" to "
                                           "generation 2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "previous"));

    /* with a short period, due after it */

    tsr_test_sleep_ms(1100);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, "--period", "1s",
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate --period 1s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "rotated \"tsr:tk:default\" to "
                                           "generation 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "previous"));

    /* --scope is gone: nginx has one ring per prefix, "default" */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, "--scope",
                              "stream", NULL), 0);
    CU_ASSERT(expect(&res, 64, "tickets rotate --scope stream"));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:tk:*"), 1);
}


static void
test_tickets_show_has_names_never_key_bytes(void)
{
    int             n;
    size_t          len, plen, i;
    uint8_t         val[TSR_MAX_VALUE], plain[TSR_TICKETS_RING_MAX];
    const uint8_t  *r;
    tsr_keyring_t  *kr;
    char            hex[2 * TSR_TICKETS_AES_LEN + 1], err[256];

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ring         tsr:tk:default"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "generation   1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "rotated at   "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "keys         2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "  next      2 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "  current   1 "));

    /* open the ring here (the test knows the layout) and compare */

    len = sizeof(val);
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_get_raw(&redis, "tsr:tk:default",
                                                 val, &len), 0);

    kr = tsr_keyring_create(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_file(kr, fleet_key, err,
                                               sizeof(err)), TSR_OK);

    plen = sizeof(plain);
    CU_ASSERT_EQUAL_FATAL(tsr_open(kr, "tsr:tk:default", 14,
                                   val + TSR_TICKETS_HEADER_LEN,
                                   len - TSR_TICKETS_HEADER_LEN, plain, &plen),
                          TSR_OK);
    tsr_keyring_destroy(kr);

    n = plain[TSR_TICKETS_RING_HEAD - 1];
    CU_ASSERT_EQUAL(n, 2);

    for (i = 0; i < (size_t) n; i++) {
        r = plain + TSR_TICKETS_RING_HEAD + i * TSR_TICKETS_RECORD_LEN;

        to_hex(r + TSR_TICKETS_OFF_NAME, TSR_TICKETS_NAME_LEN, hex);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, hex));

        to_hex(r + TSR_TICKETS_OFF_HMAC, TSR_TICKETS_HMAC_LEN, hex);
        CU_ASSERT_PTR_NULL(strstr(res.out, hex));
        hex[16] = '\0';
        CU_ASSERT_PTR_NULL(strstr(res.out, hex));

        to_hex(r + TSR_TICKETS_OFF_AES, TSR_TICKETS_AES_LEN, hex);
        CU_ASSERT_PTR_NULL(strstr(res.out, hex));
        hex[16] = '\0';
        CU_ASSERT_PTR_NULL(strstr(res.out, hex));
    }

    OPENSSL_cleanse(plain, sizeof(plain));
}


static void
test_tickets_need_key_file_and_ring(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "tickets show, no ring"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no ticket key ring "
                                           "\"tsr:tk:default\""));

    /* show never creates it */
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:tk:*"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr, "-k", other_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "tickets show, other key"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "does not open"));

    /* a ring that does not open is never replaced */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", other_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "tickets rotate, other key"));
    CU_ASSERT(one_line(res.err));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr, "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show, ring kept"));
}


/* ---- flush ---- */

static void
test_flush_refuses_without_yes_when_not_a_tty(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 5, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 64, "flush, /dev/null"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--yes"));

    /* "y" on a pipe is no confirmation */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_PIPE, "y\n", "flush", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 64, "flush, pipe"));
    CU_ASSERT(one_line(res.err));

    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 5);
}


static void
test_flush_with_yes_deletes_only_sessions(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", MANY, 10, 100),
                    0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:fedcba9876543210:", 10, 10, 0), 0);
    CU_ASSERT_EQUAL(fill(&redis, "other:s:0123456789abcdef:", 5, 10, 100),
                    0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:tk:default x"), 0);
    CU_ASSERT_EQUAL(set_node(&redis, "web1:http", ""), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              "--yes", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush --yes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "deleted 2510 keys matching "
                                           "\"tsr:s:*\""));

    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 0);
    CU_ASSERT_EQUAL(count_keys(&redis, "other:*"), 5);
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:tk:*"), 1);
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:node:*"), 1);

    /* nothing left: still fine */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              "-y", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush -y, empty"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "deleted 0 keys"));
}


static void
test_flush_asks_on_a_terminal(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 5, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_TTY, "n\n", "flush", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "flush on a tty, no"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "delete every key matching "
                                           "\"tsr:s:*\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "nothing deleted"));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 5);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_TTY, "y\n", "flush", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush on a tty, yes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "deleted 5 keys"));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 0);
}


static void
test_flush_all_and_context(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 5, 10, 100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:fedcba9876543210:", 3, 10, 100), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:tk:default x"), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsrx:s:0123456789abcdef:", 2, 10, 100),
                    0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              "-C", "fedcba9876543210", "--yes", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush -c"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "deleted 3 keys"));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:s:*"), 5);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              "--all", "--yes", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush --all"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "deleted 6 keys matching "
                                           "\"tsr:*\""));
    CU_ASSERT_EQUAL(count_keys(&redis, "tsr:*"), 0);
    CU_ASSERT_EQUAL(count_keys(&redis, "tsrx:*"), 2);
}


/* ---- fleet ---- */

static void
test_fleet_without_nodes_says_so(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet, empty"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "no nodes registered"));
}


static void
test_fleet_flags_differing_fingerprints(void)
{
    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL(set_node(&redis, "web1:http",
                             "server one.test 0123456789abcdef 443 ssl\n"
                             "server - 2222222222222222 -\n"), 0);
    CU_ASSERT_EQUAL(set_node(&redis, "web2:http",
                             "server one.test 0123456789abcdef -\n"
                             "server - 2222222222222222 -\n"
                             "unknown line of a later version\n"
                             "server broken\n"), 0);

    /* the same name in stream, with another context, is not compared */
    CU_ASSERT_EQUAL(set_node(&redis, "web2:stream",
                             "server one.test 4444444444444444 -\n"), 0);

    /* a later format is listed, not misread */
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "SET tsr:node:web9:http %s EX 60",
                                       "v 2\nserver one.test 9999\n"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet, consistent"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "nodes        4 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "web1:http  host web1, pid 4242"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "1 malformed line skipped"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "unknown registration format "
                                           "\"v 2\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok        http   one.test  "
                                           "0123456789abcdef on 2 nodes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok        stream one.test  "
                                           "4444444444444444 on 1 node"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "MISMATCH"));

    /* web3 serves one.test with another certificate */

    CU_ASSERT_EQUAL(set_node(&redis, "web3:http",
                             "server one.test 89abcdef01234567 -\n"
                             "server - 2222222222222222 -\n"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr,
                              NULL), 0);
    CU_ASSERT(expect(&res, 3, "fleet, mismatch"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "\"one.test\" (http)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "MISMATCH  http   one.test\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, " 89abcdef01234567 on web3:http"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, " 0123456789abcdef on web1:http"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok        http   -  "
                                           "2222222222222222 on 3 nodes"));
}


/*
 * The registration as the nginx module writes it: a node with one http
 * server shows up within a few seconds of starting, consistent; a second
 * node with another certificate for the same name is flagged.
 */

static void
test_fleet_lists_a_real_nginx_node(void)
{
    int                i, port, found, running;
    char               host[256], id[300], body[16384];
    tsr_test_nginx_t   node;

    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_init(&node, "admin-fleet", cns), 0);

    port = tsr_test_free_port();
    CU_ASSERT_FATAL(port > 0);

    snprintf(body, sizeof(body),
             "worker_processes 1;\n"
             "http {\n"
             "  access_log off;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name one.test;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_session_tickets off;\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    location / { return 200 \"ok\\n\"; }\n"
             "  }\n"
             "}\n",
             port, node.dir, node.dir, redis.port, fleet_key);

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_write_conf(&node, 0, "info", body),
                          0);
    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_start(&node), 0);

    running = 1;
    found = 0;

    /* the first registration comes a second after the worker starts */

    for (i = 0; i < 100 && !found; i++) {
        found = (count_keys(&redis, "tsr:node:*") == 1);

        if (!found) {
            tsr_test_sleep_ms(100);
        }
    }

    CU_ASSERT_FATAL(found);

    CU_ASSERT_EQUAL(gethostname(host, sizeof(host) - 1), 0);
    host[sizeof(host) - 1] = '\0';

    for (i = 0; host[i] != '\0'; i++) {
        host[i] = (char) tolower((unsigned char) host[i]);
    }

    snprintf(id, sizeof(id), "%s:http  host ", host);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr, NULL),
                    0);
    CU_ASSERT(expect(&res, 0, "fleet, real node"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "nodes        1 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, id));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ok        http   one.test  "));
    CU_ASSERT_PTR_NULL(strstr(res.out, "malformed"));

    /* another node serving one.test with another certificate */

    CU_ASSERT_EQUAL(set_node(&redis, "zz-other:http",
                             "server one.test 0000000000000000 -\n"), 0);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr, NULL),
                    0);
    CU_ASSERT(expect(&res, 3, "fleet, real node and a mismatch"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "\"one.test\" (http)"));

    if (running) {
        CU_ASSERT_EQUAL(tsr_test_nginx_stop(&node), 0);
        CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node), 0);
    }
}


/* ---- scripting: --json, addresses, nginx's configuration, completion */

/*
 * Whether "doc" is one JSON document for which the Python expression
 * "expr" (over the parsed document "d") holds: python3's json module is
 * the judge, not a parser of the test's own.
 */

static int
json_holds(const char *doc, const char *expr)
{
    int    status;
    char   path[PATH_MAX + 32], code[CMD_SIZE];
    pid_t  pid;

    snprintf(path, sizeof(path), "%s/doc.json", dir);
    snprintf(code, sizeof(code),
             "import json, sys\n"
             "d = json.load(open(sys.argv[1]))\n"
             "sys.exit(0 if (%s) else 1)\n", expr);

    if (tsr_test_write_file(path, doc, strlen(doc), 0600) != 0) {
        return 0;
    }

    pid = fork();

    if (pid == 0) {
        execlp("python3", "python3", "-c", code, path, (char *) NULL);
        _exit(127);
    }

    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return 0;
    }

    if (WEXITSTATUS(status) != 0) {
        fprintf(stderr, "\nJSON check failed (%d): %s\n--- document\n%s\n",
                WEXITSTATUS(status), expr, doc);
        return 0;
    }

    return 1;
}


/* runs a bash script; its standard output, NUL-terminated, in "out" */

static int
bash_out(const char *script, char *out, size_t outlen)
{
    int    n;
    FILE  *f;
    char   path[PATH_MAX + 32], cmd[2 * PATH_MAX];
    size_t len;

    snprintf(path, sizeof(path), "%s/script.sh", dir);

    if (tsr_test_write_file(path, script, strlen(script), 0600) != 0) {
        return -1;
    }

    snprintf(cmd, sizeof(cmd), "bash %s", path);

    f = popen(cmd, "r");
    if (f == NULL) {
        return -1;
    }

    len = fread(out, 1, outlen - 1, f);
    out[len] = '\0';
    n = pclose(f);

    return (n == 0) ? 0 : -1;
}


static void
test_json_is_one_document_for_every_command(void)
{
    char        *id, hex[2 * 64 + 1], args[CMD_SIZE];
    size_t       mlen;
    uint8_t      master[64];
    char         key[TSR_MAX_KEY_NAME + 1];

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS12, "one.test", key,
                                       sizeof(key), master, &mlen), 0);
    id = key + 6 + CTX_HEX + 1;

    /* a name with a quote, a backslash, a control byte and bad UTF-8 */
    CU_ASSERT_EQUAL(set_node(&redis, "web\"1\\:http",
                             "server a\"b\\\\c\x01\xff 0123456789abcdef -\n"),
                    0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", fleet_key, "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "check --json"));
    CU_ASSERT(json_holds(res.out, "d['command'] == 'check' "
                         "and d['status'] == 'ok' and d['exit'] == 0 "
                         "and d['warnings'] == 0 and 'error' not in d "
                         "and all(c['status'] in ('ok', 'note') "
                         "for c in d['checks']) "
                         "and any('sampled sessions open' in c['message'] "
                         "for c in d['checks'])"));

    /* stand-ins, which check -k would find malformed */
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 3, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats --json"));
    CU_ASSERT(json_holds(res.out, "d['command'] == 'stats' "
                         "and d['sessions'] == 4 and d['bytes'] > 30 "
                         "and isinstance(d['ttl_ms']['max'], int) "
                         "and d['ttl_ms']['min'] <= d['ttl_ms']['max'] "
                         "and sorted(c['sessions'] for c in d['contexts']) "
                         "== [1, 3] and d['truncated'] is False"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "-k", fleet_key, "--json", id, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect --json"));
    snprintf(args, sizeof(args), "d['command'] == 'inspect' "
             "and len(d['sessions']) == 1 "
             "and d['sessions'][0]['key'] == '%s' "
             "and d['sessions'][0]['opened'] is True "
             "and d['sessions'][0]['protocol'] == 'TLSv1.2' "
             "and d['sessions'][0]['server_name'] == 'one.test' "
             "and d['sessions'][0]['id_length'] == 32 "
             "and d['sessions'][0]['id_matches_key'] is True "
             "and d['sessions'][0]['ttl_ms'] > 0", key);
    CU_ASSERT(json_holds(res.out, args));

    /* never the master key, in hex or raw */
    to_hex(master, mlen, hex);
    CU_ASSERT_PTR_NULL(strstr(res.out, hex));
    CU_ASSERT_PTR_NULL(memmem(res.out, strlen(res.out), master, mlen));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-k", fleet_key, "--json", NULL),
                          0);
    CU_ASSERT(expect(&res, 0, "tickets rotate --json"));
    CU_ASSERT(json_holds(res.out, "d['action'] == 'created' "
                         "and d['generation'] == 1 "
                         "and d['ring'] == 'tsr:tk:default' "
                         "and len(d['keys']) >= 2 "
                         "and {k['role'] for k in d['keys']} "
                         ">= {'current', 'next'} "
                         "and all(len(k['name']) == 32 for k in d['keys'])"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "show",
                              "-a", addr, "-k", fleet_key, "--json", NULL),
                          0);
    CU_ASSERT(expect(&res, 0, "tickets show --json"));
    CU_ASSERT(json_holds(res.out, "'action' not in d "
                         "and d['generation'] == 1 "
                         "and d['due_at_ms'] > d['rotated_at_ms'] > 0"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet --json"));
    CU_ASSERT(json_holds(res.out, "d['command'] == 'fleet' "
                         "and d['nodes'][0]['id'].startswith('web\"1') "
                         "and d['nodes'][0]['subsystem'] == 'http' "
                         "and d['servers'][0]['name'].startswith('a\"b') "
                         "and d['servers'][0]['mismatch'] is False "
                         "and d['mismatches'] == 0"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "flush", "-a", addr,
                              "--yes", "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush --json"));
    CU_ASSERT(json_holds(res.out, "d['deleted'] == 4 "
                         "and d['pattern'] == 'tsr:s:*'"));

    /* failures and usage errors are documents too, with "error" */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", addr,
                              "--json", "abcd", NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect --json, no session"));
    CU_ASSERT(json_holds(res.out, "d['exit'] == 2 and d['sessions'] == [] "
                         "and 'no session with id abcd' in d['error']"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", addr,
                              "--json", "extra", NULL), 0);
    CU_ASSERT(expect(&res, 64, "stats --json extra"));
    CU_ASSERT(json_holds(res.out, "d['exit'] == 64 "
                         "and 'unexpected argument' in d['error']"));
}


/* the exit status of check as a monitoring plugin reads it */

static void
test_check_exits_ok_warning_critical(void)
{
    int      port;
    char     a[64], key[TSR_MAX_KEY_NAME + 1];
    size_t   mlen;
    uint8_t  master[64];

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "check, ok"));
    CU_ASSERT(json_holds(res.out, "d['status'] == 'ok' and d['exit'] == 0"));

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory-policy "
                                       "noeviction"), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 1, "check, warning"));
    CU_ASSERT(json_holds(res.out, "d['status'] == 'warning' "
                         "and d['warnings'] == 1 and d['exit'] == 1 "
                         "and [c['status'] for c in d['checks']]"
                         ".count('warning') == 1"));

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&redis, reply, sizeof(reply),
                                       "CONFIG SET maxmemory-policy "
                                       "allkeys-lru"), 0);

    /* some sampled sessions opening, some not: a warning */

    mlen = sizeof(master);
    CU_ASSERT_EQUAL_FATAL(make_session(TSR_TEST_TLS12, "one.test", key,
                                       sizeof(key), master, &mlen), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 1, 60, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 1, "check, one of two sessions opens"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "warning  1 of 2 sampled"));

    /* critical: nothing listening, or no sampled session opening */

    port = tsr_test_free_port();
    CU_ASSERT_FATAL(port > 0);
    snprintf(a, sizeof(a), "127.0.0.1:%d", port);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 2, "check, critical"));
    CU_ASSERT(json_holds(res.out, "d['status'] == 'critical' "
                         "and d['exit'] == 2 and 'refused' in d['error']"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-k", other_key, NULL), 0);
    CU_ASSERT(expect(&res, 2, "check -k other, critical"));

    /* the help documents the three */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "--help",
                              NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "0 ok"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "1 warning"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "2 critical"));
}


static void
test_host_port_socket_and_uris(void)
{
    char  port[16], uri[2 * PATH_MAX], want[64];

    snprintf(port, sizeof(port), "%d", redis.port);
    snprintf(want, sizeof(want), "connected to 127.0.0.1:%d", redis.port);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-h",
                              "127.0.0.1", "-p", port, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -h -p"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    /* -h defaults to 127.0.0.1, as redis-cli */
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "--port",
                              port, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check --port"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-s",
                              addr_unix + 5, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "connected to unix:"));

    snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/0", redis.port);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", uri,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -a redis://"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    snprintf(uri, sizeof(uri), "unix://%s", addr_unix + 5);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", uri,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -a unix://"));
    CU_ASSERT(json_holds(res.out, "d['redis'].startswith('unix:')"));

    /* the URI's credentials reach AUTH */
    snprintf(uri, sizeof(uri), "redis://alice:alice-pw@127.0.0.1:%d",
             redis.port);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", uri,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -a redis://alice:...@"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "as user \"alice\""));
    CU_ASSERT_PTR_NULL(strstr(res.out, "alice-pw"));

    /* mixed forms are usage errors */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", addr,
                              "-p", port, NULL), 0);
    CU_ASSERT(expect(&res, 64, "-a with -p"));
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-s", "/x",
                              "-h", "127.0.0.1", NULL), 0);
    CU_ASSERT(expect(&res, 64, "-s with -h"));
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-p",
                              "65536", NULL), 0);
    CU_ASSERT(expect(&res, 64, "-p 65536"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "invalid port"));
}


/*
 * -c: a real nginx configuration, read by the real "nginx -T": an http
 * server inheriting the address and key from http{}, one with its own
 * prefix in an included file, a stream server on a unix socket.
 */

/*
 * Under --enable-asan: a script in "where" that runs "nginx" with the
 * sanitizer runtime preloaded, returned in "buf"; else "nginx" itself.
 */

static const char *
asan_nginx(const char *where, const char *nginx, char *buf, size_t size)
{
    char         script[3 * PATH_MAX];
    const char  *asan, *rt;

    asan = getenv("TSR_ASAN");
    rt = getenv("TSR_ASAN_RUNTIME");

    if (asan == NULL || strcmp(asan, "yes") != 0 || rt == NULL
        || rt[0] != '/')
    {
        return nginx;
    }

    snprintf(buf, size, "%s/nginx-asan.sh", where);
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "exec env LD_PRELOAD='%s' ASAN_OPTIONS='detect_leaks=0:"
             "abort_on_error=1:detect_odr_violation=0' '%s' \"$@\"\n",
             rt, nginx);

    if (tsr_test_write_file(buf, script, strlen(script), 0700) != 0) {
        return nginx;
    }

    return buf;
}


static void
test_config_reads_nginx_configuration(void)
{
    const char        *nginx;
    char               body[65536], inc[16384], path[2 * PATH_MAX];
    char               conf_dir[PATH_MAX], args[CMD_SIZE];
    char               wrapper[PATH_MAX + 32];
    int                p1, p2, p3;
    tsr_test_nginx_t   node;

    static const char *const  cns[] = { "one.test", NULL };

    nginx = tsr_test_require("TSR_NGINX", "nginx", "nginx");

    CU_ASSERT_EQUAL(flushall(&redis), 0);
    CU_ASSERT_EQUAL(fill(&redis, "cfg:s:0123456789abcdef:", 3, 10, 100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "two:s:0123456789abcdef:", 2, 10, 100), 0);
    CU_ASSERT_EQUAL(fill(&redis, "tsr:s:0123456789abcdef:", 1, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_init(&node, "admin-conf", cns), 0);

    p1 = tsr_test_free_port();
    p2 = tsr_test_free_port();
    p3 = tsr_test_free_port();

    snprintf(conf_dir, sizeof(conf_dir), "%s", node.conf);
    *strrchr(conf_dir, '/') = '\0';

    /*
     * The modules of an --enable-asan build load only into an nginx with
     * the sanitizer runtime preloaded, as tsr_test_nginx_start() runs it:
     * "nginx -T" is run the same way, through a wrapper given as --nginx.
     */
    nginx = asan_nginx(conf_dir, nginx, wrapper, sizeof(wrapper));

    snprintf(inc, sizeof(inc),
             "server {\n"
             "  listen 127.0.0.1:%d ssl;\n"
             "  server_name two.test;\n"
             "  ssl_certificate %s/one.test.crt;\n"
             "  ssl_certificate_key %s/one.test.key;\n"
             "  ssl_session_redis_prefix 'two:';\n"
             "}\n", p2, node.dir, node.dir);

    snprintf(path, sizeof(path), "%s/two.inc", conf_dir);
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(path, inc, strlen(inc), 0600),
                          0);

    snprintf(body, sizeof(body),
             "http {\n"
             "  access_log off;\n"
             "  # comments; \"quotes\" { and braces } are not directives\n"
             "  ssl_session_redis \"127.0.0.1:%d\";\n"
             "  ssl_session_redis_fleet_key %s;\n"
             "  ssl_session_redis_ticket_rotation 6h;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    server_name one.test www.one.test;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_session_redis_prefix cfg:;\n"
             "    location / { return 200 \"ok;\\n\"; }\n"
             "  }\n"
             "  include two.inc;\n"
             "}\n"
             "stream {\n"
             "  server {\n"
             "    listen 127.0.0.1:%d ssl;\n"
             "    ssl_certificate %s/one.test.crt;\n"
             "    ssl_certificate_key %s/one.test.key;\n"
             "    ssl_session_redis %s;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    return ok;\n"
             "  }\n"
             "}\n",
             redis.port, fleet_key, p1, node.dir, node.dir, p3, node.dir,
             node.dir, addr_unix, other_key);

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_write_conf(&node, 1, "info", body),
                          0);

    /* three servers that differ: --server is needed */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, NULL), 0);
    CU_ASSERT(expect(&res, 64, "stats -c, ambiguous"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--server"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "\"one.test\" (http)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "\"two.test\" (http)"));

    /* by server_name: the prefix of the server, the address of http{} */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "WWW.one.test", "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c --server www.one.test"));
    snprintf(args, sizeof(args), "d['sessions'] == 3 "
             "and d['pattern'] == 'cfg:s:*' "
             "and d['redis'] == '127.0.0.1:%d' "
             "and 'one.test' in d['nginx_server']", redis.port);
    CU_ASSERT(json_holds(res.out, args));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "two.test", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c --server two.test (included)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2\n"));

    /* the key file comes along: check opens the ring with it */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate",
                              "-a", addr, "-P", "cfg:", "-k", fleet_key,
                              NULL), 0);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "one.test", NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, fleet_key));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "ticket key ring \"cfg:tk:default\""
                                           " generation 1 opens"));

    /* stream servers by listen address, or its port */

    snprintf(args, sizeof(args), "%d", p3);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server", args,
                              "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c --server PORT (stream)"));
    CU_ASSERT(json_holds(res.out, "d['sessions'] == 1 "
                         "and d['redis'].startswith('unix:') "
                         "and d['nginx_server'].startswith('stream')"));

    /* options override the configuration */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "one.test", "-P", "two:", NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c -P"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2\n"));

    /* errors: an unknown server, a configuration nginx rejects */

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "three.test", NULL), 0);
    CU_ASSERT(expect(&res, 2, "stats -c --server three.test"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no server \"three.test\""));

    CU_ASSERT_EQUAL(tsr_test_write_file(path, "server {", 8, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c",
                              node.conf, "--nginx", nginx, "--server",
                              "one.test", NULL), 0);
    CU_ASSERT(expect(&res, 2, "stats -c, broken configuration"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "nginx"));

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "--server",
                              "one.test", NULL), 0);
    CU_ASSERT(expect(&res, 64, "--server without -c"));
}


/*
 * The directives renamed on another branch, as "nginx -T" will print
 * them: a stand-in nginx (--nginx) prints such a dump, with an include.
 */

static void
test_config_accepts_renamed_directives(void)
{
    char  script[PATH_MAX + 64], dump[PATH_MAX + 64], text[32768];
    char  sh[4 * PATH_MAX], conf[PATH_MAX + 64];

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    snprintf(conf, sizeof(conf), "%s/renamed/nginx.conf", dir);
    snprintf(text, sizeof(text),
             "# configuration file %s:\n"
             "http {\n"
             "    ssl_session_redis 127.0.0.1:%d;\n"
             "    ssl_session_redis_fleet_key %s;\n"
             "    ssl_session_redis_lookup_timeout 5ms;\n"
             "    ssl_session_redis_ticket_keys on;\n"
             "    include conf.d/*.conf;\n"
             "}\n"
             "\n"
             "# configuration file %s/renamed/conf.d/a.conf:\n"
             "server { server_name new.test; ssl_session_redis_prefix new:; }"
             "\n\n",
             conf, redis.port, fleet_key, dir);

    snprintf(dump, sizeof(dump), "%s/renamed.dump", dir);
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(dump, text, strlen(text),
                                              0600), 0);

    snprintf(script, sizeof(script), "%s/fake-nginx", dir);
    snprintf(sh, sizeof(sh), "#!/bin/sh\n"
             "[ \"$1 $2 $3 $4\" = \"-T -q -c %s\" ] || exit 1\n"
             "cat %s\n", conf, dump);
    CU_ASSERT_EQUAL_FATAL(tsr_test_write_file(script, sh, strlen(sh), 0700),
                          0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-c", conf,
                              "--nginx", script, "--json", NULL), 0);
    CU_ASSERT(expect(&res, 0, "check -c, renamed directives"));
    CU_ASSERT(json_holds(res.out, "'new.test' in d['nginx_server'] "
                         "and any('fleet.key' in c['message'] "
                         "for c in d['checks'])"));

    CU_ASSERT_EQUAL(fill(&redis, "new:s:0123456789abcdef:", 2, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-c", conf,
                              "--nginx", script, NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats -c, renamed directives"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2\n"));
}


/* the installed completion completes commands, options and operands */

static void
test_bash_completion_completes(void)
{
    const char  *src;
    char         script[2 * PATH_MAX], out[4096];

    src = getenv("TSR_SRCDIR");
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);

    snprintf(script, sizeof(script),
             ". %s/tools/tsr-admin.bash-completion\n"
             "complete -p tsr-admin\n"
             "t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _tsr_admin;"
             " echo \"$# ${COMPREPLY[*]}\"; }\n"
             "t tsr-admin st\n"
             "t tsr-admin tickets ''\n"
             "t tsr-admin flush --y\n"
             "t tsr-admin check --js\n"
             "t tsr-admin stats --sc\n", src);

    CU_ASSERT_EQUAL_FATAL(bash_out(script, out, sizeof(out)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "complete -F _tsr_admin tsr-admin"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 stats\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 show rotate\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 --yes\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 --json\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 \n"));
}


/*
 * Issue 13: every subcommand with a sentinel= address, against a real
 * Sentinel setup (a master, its replica, three sentinels): the master is
 * the one the sentinels name, allow= is enforced, a sentinel that does
 * not answer is skipped; cluster= is refused in one clear line.
 */

static void
test_every_command_works_through_sentinel(void)
{
    int                   m, rc;
    char                  a[1024], bad[2 * PATH_MAX], want[64];
    char                  args[CMD_SIZE];
    tsr_test_sentinel_t   st;

    memset(&st, 0, sizeof(tsr_test_sentinel_t));

    CU_ASSERT_EQUAL_FATAL(tsr_test_sentinel_start(&st), 0);

    m = tsr_test_sentinel_master(&st);
    CU_ASSERT_FATAL(m == 0 || m == 1);

    snprintf(a, sizeof(a), "sentinel=127.0.0.1:%d,%s master=%s "
             "allow=127.0.0.0/8", tsr_test_free_port(), st.sentinels,
             st.name);
    snprintf(want, sizeof(want), "127.0.0.1:%d", st.data[m].port);

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&st.data[m], reply, sizeof(reply),
                                       "CONFIG SET maxmemory 100mb"), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&st.data[m], reply, sizeof(reply),
                                       "CONFIG SET maxmemory-policy "
                                       "allkeys-lru"), 0);

    rc = run(&res, STDIN_NULL, NULL, "check", "-a", a, "-k", fleet_key,
             "--json", NULL);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(expect(&res, 0, "check through sentinel"));
    snprintf(args, sizeof(args), "d['status'] == 'ok' "
             "and 'connected to %s' in d['checks'][0]['message']", want);
    CU_ASSERT(json_holds(res.out, args));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate", "-a", a,
                        "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate through sentinel"));
    CU_ASSERT_EQUAL(count_keys(&st.data[m], "tsr:tk:default"), 1);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "tickets", "show", "-a", a,
                        "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show through sentinel"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "generation   1\n"));

    CU_ASSERT_EQUAL(fill(&st.data[m], "tsr:s:0123456789abcdef:", 3, 10,
                         100), 0);
    CU_ASSERT_EQUAL(set_node(&st.data[m], "web1:http",
                             "server one.test 0123456789abcdef -\n"), 0);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a, "--json",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats through sentinel"));
    snprintf(args, sizeof(args), "d['sessions'] == 3 and d['redis'] == '%s'",
             want);
    CU_ASSERT(json_holds(res.out, args));

    snprintf(args, sizeof(args), "%064x", 2);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a, args,
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect through sentinel"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "key          tsr:s:"));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", a, NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet through sentinel"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "web1:http"));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "flush", "-a", a, "--yes",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush through sentinel"));
    CU_ASSERT_EQUAL(count_keys(&st.data[m], "tsr:s:*"), 0);

    /* the master named outside allow= is refused, before any AUTH */

    snprintf(bad, sizeof(bad), "sentinel=%s master=%s allow=10.0.0.0/8",
             st.sentinels, st.name);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", bad, NULL),
                    0);
    CU_ASSERT(expect(&res, 2, "stats, master outside allow="));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "not in allow="));

    snprintf(bad, sizeof(bad), "sentinel=%s master=nosuchmaster",
             st.sentinels);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", bad, NULL),
                    0);
    CU_ASSERT(expect(&res, 2, "stats, unknown master"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "nosuchmaster"));

    CU_ASSERT_EQUAL(tsr_test_sentinel_stop(&st), 0);
}


/* the master of a key's slot in "cl", by a cache of the slots asked */

static int
cluster_master_of(tsr_test_cluster_t *cl, int *owner, const char *key)
{
    int  slot;

    slot = tsr_store_key_slot(key, strlen(key));

    if (owner[slot] == -1) {
        owner[slot] = tsr_test_cluster_master_of(cl, slot, -1);
    }

    return owner[slot];
}


/*
 * A real cluster of three masters (and their replicas): sessions and
 * node registrations on every master, each written on the master of its
 * slot, then every command through cluster= with every node as a seed.
 */

static void
test_every_command_works_through_cluster(void)
{
    int                  i, k, m, n, nm, masters[TSR_TEST_CLUSTER_NODES];
    int                  per[TSR_TEST_CLUSTER_NODES], on[2], seen, slot;
    int                 *owner;
    char                 a[1024], bad[1024], key[256], want[128],
                         line[512];
    char                 ida[41], idb[41];
    char                 args[CMD_SIZE];
    size_t               len;
    tsr_test_cluster_t   cl;
    tsr_test_fakeredis_t fake;

    static const int     total = 300, tagged = 5;

    owner = malloc(16384 * sizeof(int));
    CU_ASSERT_PTR_NOT_NULL_FATAL(owner);

    for (i = 0; i < 16384; i++) {
        owner[i] = -1;
    }

    memset(&cl, 0, sizeof(tsr_test_cluster_t));

    if (tsr_test_cluster_start(&cl) != 0) {
        free(owner);
        CU_FAIL_FATAL("the redis cluster did not start");
    }

    /* the masters, as redis-cli made them: three slot ranges */

    nm = 0;

    for (i = 0; i < 16384; i += 1024) {
        m = tsr_test_cluster_master_of(&cl, i, -1);
        CU_ASSERT_FATAL(m >= 0);

        for (k = 0; k < nm && masters[k] != m; k++) {
            /* void */
        }

        if (k == nm) {
            masters[nm++] = m;
        }
    }

    CU_ASSERT_EQUAL_FATAL(nm, 3);

    for (k = 0; k < nm; k++) {
        per[masters[k]] = 0;

        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[masters[k]], reply,
                                           sizeof(reply),
                                           "CONFIG SET maxmemory 100mb"), 0);
        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[masters[k]], reply,
                                           sizeof(reply),
                                           "CONFIG SET maxmemory-policy "
                                           "allkeys-lru"), 0);
    }

    snprintf(a, sizeof(a), "cluster=%s", cl.seeds);

    /* check: the map, then every master by name */

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "check", "-a", a, "-k",
                        fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "check through cluster"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "3 masters serve all 16384 "
                                  "slots"));

    for (k = 0; k < nm; k++) {
        snprintf(want, sizeof(want), "master 127.0.0.1:%d: connected, "
                 "serves ", cl.node[masters[k]].port);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));
        snprintf(want, sizeof(want), "master 127.0.0.1:%d: maxmemory-policy "
                 "allkeys-lru", cl.node[masters[k]].port);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));
    }

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "check", "-a", a, "--json",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "check --json through cluster"));
    CU_ASSERT(json_holds(res.out, "d['status'] == 'ok' and len(set(c['master']"
                         " for c in d['checks'] if 'master' in c)) == 3"));

    /* tickets, through the core's store */

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "tickets", "rotate", "-a", a,
                        "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets rotate through cluster"));
    m = cluster_master_of(&cl, owner, "tsr:tk:default");
    CU_ASSERT_FATAL(m >= 0);
    CU_ASSERT_EQUAL(count_keys(&cl.node[m], "tsr:tk:default"), 1);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "tickets", "show", "-a", a,
                        "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show through cluster"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "generation   1\n"));

    /* sessions, each on the master of its slot, and tagged keys */

    for (i = 0; i < total; i++) {
        snprintf(key, sizeof(key), "tsr:s:0123456789abcdef:%064x", i);
        m = cluster_master_of(&cl, owner, key);
        CU_ASSERT_FATAL(m >= 0);
        CU_ASSERT_EQUAL_FATAL(tsr_test_redis_cmd(&cl.node[m], reply,
                                                 sizeof(reply),
                                                 "SET %s sealed EX 100", key),
                              0);
        per[m]++;
    }

    for (i = 0; i < tagged; i++) {
        /* keys of one slot: flush deletes them together */
        snprintf(key, sizeof(key), "tsr:s:{flush}:%d", i);
        m = cluster_master_of(&cl, owner, key);
        CU_ASSERT_FATAL(m >= 0);
        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[m], reply,
                                           sizeof(reply), "SET %s x", key),
                        0);
    }

    /* node registrations until two masters hold some */

    on[0] = -1;
    on[1] = -1;
    n = 0;

    for (i = 0; i < 32 && on[1] == -1; i++) {
        snprintf(want, sizeof(want), "web%d:http", i);
        snprintf(key, sizeof(key), "tsr:node:%s", want);
        m = cluster_master_of(&cl, owner, key);
        CU_ASSERT_FATAL(m >= 0);
        CU_ASSERT_EQUAL(set_node(&cl.node[m], want,
                                 "server one.test 0123456789abcdef -\n"), 0);
        n++;

        if (on[0] == -1) {
            on[0] = m;

        } else if (m != on[0]) {
            on[1] = i;
        }
    }

    CU_ASSERT_FATAL(on[1] != -1);

    /* stats: every master, in sum and one by one */

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a, "--json",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats through cluster"));

    len = (size_t) snprintf(args, sizeof(args), "d['sessions'] == %d and "
                            "d['other_keys'] == %d and {m['redis']: "
                            "m['sessions'] for m in d['masters']} == {",
                            total, tagged);

    for (k = 0; k < nm; k++) {
        CU_ASSERT(per[masters[k]] > 0);
        len += (size_t) snprintf(args + len, sizeof(args) - len,
                                 "%s'127.0.0.1:%d': %d", k ? ", " : "",
                                 cl.node[masters[k]].port, per[masters[k]]);
    }

    snprintf(args + len, sizeof(args) - len, "}");
    CU_ASSERT(json_holds(res.out, args));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a, NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats through cluster, text"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "masters      3 scanned\n"));
    snprintf(want, sizeof(want), "sessions     %d\n", total);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    /* a dead seed first: the next one answers */

    snprintf(bad, sizeof(bad), "cluster=127.0.0.1:%d,%s",
             tsr_test_free_port(), cl.seeds);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", bad, "--json",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats through cluster, a seed dead"));
    snprintf(args, sizeof(args), "d['sessions'] == %d", total);
    CU_ASSERT(json_holds(res.out, args));

    /* inspect: sessions on two masters, found by SCAN and by slot */

    seen = -1;

    for (i = 0, k = 0; i < total && k < 2; i++) {
        snprintf(key, sizeof(key), "tsr:s:0123456789abcdef:%064x", i);
        m = cluster_master_of(&cl, owner, key);

        if (m == seen) {
            continue;
        }

        seen = m;
        k++;

        snprintf(args, sizeof(args), "%064x", i);

        if (k == 1) {
            /* the context unknown: SCAN on every master */
            CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a,
                                args, NULL), 0);

        } else {
            /* the key known: the master of its slot */
            CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a,
                                "-C", "0123456789abcdef", args, NULL), 0);
        }

        CU_ASSERT(expect(&res, 0, "inspect through cluster"));
        snprintf(line, sizeof(line), "key          %s\nmaster       "
                 "127.0.0.1:%d\n", key, cl.node[m].port);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, line));
    }

    CU_ASSERT_EQUAL(k, 2);

    snprintf(args, sizeof(args), "%064x", total + 1);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a, "-C",
                        "0123456789abcdef", args, NULL), 0);
    CU_ASSERT(expect(&res, 2, "inspect of a missing id through cluster"));
    CU_ASSERT(one_line(res.err));

    /* fleet: registrations of two masters */

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", a, NULL), 0);
    CU_ASSERT(expect(&res, 0, "fleet through cluster"));
    snprintf(want, sizeof(want), "nodes        %d under \"tsr:node:\"", n);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "web0:http"));
    snprintf(want, sizeof(want), "web%d:http", on[1]);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    /* flush: one UNLINK per slot, every master emptied */

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "flush", "-a", a, "--yes",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush through cluster"));
    CU_ASSERT_PTR_NULL(strstr(res.err, "CROSSSLOT"));
    snprintf(want, sizeof(want), "deleted %d keys matching \"tsr:s:*\" on "
             "cluster=", total + tagged);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    for (k = 0; k < nm; k++) {
        CU_ASSERT_EQUAL(count_keys(&cl.node[masters[k]], "tsr:s:*"), 0);
    }

    CU_ASSERT_EQUAL(count_keys(&cl.node[on[0]], "tsr:node:*") > 0, 1);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "tickets", "show", "-a", a,
                        "-k", fleet_key, NULL), 0);
    CU_ASSERT(expect(&res, 0, "tickets show after flush through cluster"));

    /* masters that are not seeds, outside allow=: never connected */

    snprintf(bad, sizeof(bad), "cluster=127.0.0.1:%d allow=10.0.0.0/8",
             cl.node[masters[0]].port);
    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", bad, NULL),
                    0);
    CU_ASSERT(expect(&res, 2, "stats, masters outside allow="));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "not in allow="));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "check", "-a", bad, NULL),
                    0);
    CU_ASSERT(expect(&res, 2, "check, masters outside allow="));
    snprintf(want, sizeof(want), "master 127.0.0.1:%d: connected",
             cl.node[masters[0]].port);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "critical"));

    /*
     * inspect of a key whose slot is migrating, the key moved already:
     * its master answers ASK, then the slot moves for good (MOVED, if
     * the node asked for the map has not heard of it yet).
     */

    snprintf(key, sizeof(key), "tsr:s:0123456789abcdef:%064x", 0);
    snprintf(args, sizeof(args), "%064x", 0);
    m = cluster_master_of(&cl, owner, key);
    n = masters[(m == masters[0]) ? 1 : 0];
    slot = tsr_store_key_slot(key, strlen(key));

    CU_ASSERT_EQUAL_FATAL(tsr_test_cluster_node_id(&cl, m, ida, sizeof(ida)),
                          0);
    CU_ASSERT_EQUAL_FATAL(tsr_test_cluster_node_id(&cl, n, idb, sizeof(idb)),
                          0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[m], reply, sizeof(reply),
                                       "SET %s sealed EX 100", key), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[n], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d IMPORTING %s",
                                       slot, ida), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[m], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d MIGRATING %s",
                                       slot, idb), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[m], reply, sizeof(reply),
                                       "MIGRATE 127.0.0.1 %d %s 0 5000",
                                       cl.node[n].port, key), 0);
    CU_ASSERT_STRING_EQUAL(reply, "OK");

    snprintf(want, sizeof(want), "master       127.0.0.1:%d\n",
             cl.node[n].port);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a, "-C",
                        "0123456789abcdef", args, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect through cluster, ASK"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[n], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d NODE %s", slot,
                                       idb), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl.node[m], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d NODE %s", slot,
                                       idb), 0);

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", a, "-C",
                        "0123456789abcdef", args, NULL), 0);
    CU_ASSERT(expect(&res, 0, "inspect through cluster, slot moved"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

    /*
     * Whether the node asked for the map had heard of the move above is
     * up to the cluster's gossip; a map stale for sure: a seed (a fake)
     * that names itself the master of every slot, and answers the key's
     * commands with MOVED to its master, within allow=.
     */

    if (tsr_test_fakeredis_start_moved(&fake, cl.node[n].port) != 0) {
        CU_FAIL("the fake cluster node did not start");

    } else {
        snprintf(bad, sizeof(bad),
                 "cluster=127.0.0.1:%d allow=127.0.0.1/32", fake.port);

        CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "inspect", "-a", bad,
                            "-C", "0123456789abcdef", args, NULL), 0);
        CU_ASSERT(expect(&res, 0, "inspect through cluster, a stale map: "
                         "MOVED"));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, want));

        tsr_test_fakeredis_stop(&fake);
    }

    cluster_resharding(&cl, owner, masters, nm, a, slot);

    CU_ASSERT_EQUAL(tsr_test_cluster_stop(&cl), 0);

    free(owner);
}


/*
 * stats and flush while a slot moves (a resharding): three session keys
 * of one slot, two of them migrated to the importing master already.
 * SCAN on that master shows those two, which it answers with MOVED
 * until the slot is its own: stats leaves them out and says so; flush
 * deletes them where Redis points (ASK from the slot's master).  Both
 * failed on the first redirection before.  "taken" is a slot not to use.
 */

static void
cluster_resharding(tsr_test_cluster_t *cl, int *owner, const int *masters,
    int nm, const char *a, int taken)
{
    int   i, j, m, n, slot;
    char  keys[3][128], ida[41], idb[41];

    CU_ASSERT_FATAL(nm >= 2);

    snprintf(keys[0], sizeof(keys[0]), "tsr:s:0123456789abcdef:%064x", 7);
    slot = tsr_store_key_slot(keys[0], strlen(keys[0]));

    if (slot == taken) {
        snprintf(keys[0], sizeof(keys[0]), "tsr:s:0123456789abcdef:%064x",
                 8);
        slot = tsr_store_key_slot(keys[0], strlen(keys[0]));
    }

    /* two more ids of the slot: one in 16384 names is */

    for (i = 1, j = 9; i < 3 && j < 1000000; j++) {
        snprintf(keys[i], sizeof(keys[i]), "tsr:s:0123456789abcdef:%064x",
                 j);

        if (tsr_store_key_slot(keys[i], strlen(keys[i])) == slot) {
            i++;
        }
    }

    CU_ASSERT_EQUAL_FATAL(i, 3);

    m = cluster_master_of(cl, owner, keys[0]);
    CU_ASSERT_FATAL(m >= 0);

    n = masters[(m == masters[0]) ? 1 : 0];

    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl->node[m], reply,
                                           sizeof(reply),
                                           "SET %s sealed EX 100", keys[i]),
                        0);
    }

    CU_ASSERT_EQUAL_FATAL(tsr_test_cluster_node_id(cl, m, ida, sizeof(ida)),
                          0);
    CU_ASSERT_EQUAL_FATAL(tsr_test_cluster_node_id(cl, n, idb, sizeof(idb)),
                          0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl->node[n], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d IMPORTING %s",
                                       slot, ida), 0);
    CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl->node[m], reply, sizeof(reply),
                                       "CLUSTER SETSLOT %d MIGRATING %s",
                                       slot, idb), 0);
    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(tsr_test_redis_cmd(&cl->node[m], reply,
                                           sizeof(reply),
                                           "MIGRATE 127.0.0.1 %d %s 0 5000",
                                           cl->node[n].port, keys[i]), 0);
        CU_ASSERT_STRING_EQUAL(reply, "OK");
    }

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a, NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats through cluster, a slot moving"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "note         2 keys left out: "
                                  "their slot moved between masters "
                                  "while scanned"));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "flush", "-a", a, "--yes",
                        NULL), 0);
    CU_ASSERT(expect(&res, 0, "flush through cluster, a slot moving"));

    for (i = 0; i < nm; i++) {
        CU_ASSERT_EQUAL(count_keys(&cl->node[masters[i]], "tsr:s:*"), 0);
    }
}


/* cluster= whose seeds are all down: every command, one line, exit 2 */

static void
test_cluster_without_a_seed_answering_fails(void)
{
    int          i;
    char         a[256];
    const char  *argv[8];

    static const char *const  cmds[] = { "check", "stats", "inspect",
                                         "flush", "fleet", NULL };

    snprintf(a, sizeof(a), "cluster=127.0.0.1:%d,127.0.0.1:%d",
             tsr_test_free_port(), tsr_test_free_port());

    for (i = 0; cmds[i] != NULL; i++) {
        argv[0] = cmds[i];
        argv[1] = "-a";
        argv[2] = a;
        argv[3] = (i == 2) ? "00ff" : (i == 3) ? "--yes" : NULL;
        argv[4] = NULL;

        CU_ASSERT_EQUAL(run_argv(&res, STDIN_NULL, NULL, argv), 0);
        CU_ASSERT(expect(&res, 2, cmds[i]));
        CU_ASSERT(one_line(res.err));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no seed of cluster="));
    }
}


/*
 * A node registers all its servers in one record, however many: the
 * registration once stopped at 64 servers, and cut a record at 4 KB.
 */

static void
test_fleet_registers_every_server_past_64(void)
{
    int               i, port, found, n;
    char              host[256], key[512], name[64];
    char             *p;
    size_t            len, vlen;
    tsr_test_nginx_t  node;

    static char               body[65536];
    static unsigned char      val[16384];
    static const char *const  cns[] = { "one.test", NULL };

    tsr_test_require("TSR_NGINX", "nginx", "nginx");

    CU_ASSERT_EQUAL(flushall(&redis), 0);

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_init(&node, "admin-fleet70", cns),
                          0);

    port = tsr_test_free_port();
    CU_ASSERT_FATAL(port > 0);

    len = (size_t) snprintf(body, sizeof(body),
                            "worker_processes 1;\n"
                            "http {\n"
                            "  access_log off;\n"
                            "  ssl_certificate %s/one.test.crt;\n"
                            "  ssl_certificate_key %s/one.test.key;\n"
                            "  ssl_session_redis 127.0.0.1:%d;\n"
                            "  ssl_session_redis_fleet_key %s;\n",
                            node.dir, node.dir, redis.port, fleet_key);

    for (i = 0; i < 70; i++) {
        len += (size_t) snprintf(body + len, sizeof(body) - len,
                                 "  server {\n"
                                 "    listen 127.0.0.1:%d ssl;\n"
                                 "    server_name "
                                 "server-number-%02d.fleet.example.test;\n"
                                 "  }\n", port, i);
    }

    (void) snprintf(body + len, sizeof(body) - len, "}\n");

    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_write_conf(&node, 0, "info", body),
                          0);
    CU_ASSERT_EQUAL_FATAL(tsr_test_nginx_start(&node), 0);

    CU_ASSERT_EQUAL(gethostname(host, sizeof(host) - 1), 0);
    host[sizeof(host) - 1] = '\0';

    for (i = 0; host[i] != '\0'; i++) {
        host[i] = (char) tolower((unsigned char) host[i]);
    }

    snprintf(key, sizeof(key), "tsr:node:%s:http", host);

    /* the first registration comes a second after the worker starts */

    found = 0;

    for (i = 0; i < 100 && !found; i++) {
        found = (count_keys(&redis, "tsr:node:*") == 1);

        if (!found) {
            tsr_test_sleep_ms(100);
        }
    }

    CU_ASSERT_FATAL(found);

    vlen = sizeof(val) - 1;
    CU_ASSERT_EQUAL_FATAL(tsr_test_redis_get_raw(&redis, key, val, &vlen), 0);
    val[vlen] = '\0';

    /* every server, each on a whole line, more than 4 KB of them */

    CU_ASSERT(vlen > 4096);
    CU_ASSERT(vlen > 0 && val[vlen - 1] == '\n');

    n = 0;

    for (p = strstr((char *) val, "\nserver "); p != NULL;
         p = strstr(p + 1, "\nserver "))
    {
        n++;
    }

    CU_ASSERT_EQUAL(n, 70);

    for (i = 0; i < 70; i += 23) {
        snprintf(name, sizeof(name),
                 "\nserver server-number-%02d.fleet.example.test ", i);
        CU_ASSERT_PTR_NOT_NULL(strstr((char *) val, name));
    }

    CU_ASSERT_PTR_NOT_NULL(strstr((char *) val,
                           "\nserver server-number-69.fleet.example.test "));

    CU_ASSERT_EQUAL(run(&res, STDIN_NULL, NULL, "fleet", "-a", addr, NULL),
                    0);
    CU_ASSERT(expect(&res, 0, "fleet, 70 servers"));
    CU_ASSERT_PTR_NULL(strstr(res.out, "malformed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out,
                           "server-number-69.fleet.example.test"));

    CU_ASSERT_EQUAL(tsr_test_nginx_stop(&node), 0);
    CU_ASSERT_EQUAL(tsr_test_nginx_log_problems(&node), 0);
}

int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(help_lists_commands_and_each_command_has_help),
        TSR_TEST(usage_errors_exit_64_with_one_line),
        TSR_TEST(check_passes_on_tcp_and_shows_version),
        TSR_TEST(check_warns_on_noeviction_only),
        TSR_TEST(check_fails_in_one_line_when_redis_refuses),
        TSR_TEST(check_authenticates_with_password_file),
        TSR_TEST(check_authenticates_as_acl_user),
        TSR_TEST(check_works_over_unix_socket),
        TSR_TEST(check_names_the_version_a_setting_needs),
        TSR_TEST(readme_admin_acl_rule_suffices),
        TSR_TEST(check_and_stats_over_tls),
        TSR_TEST(check_tells_whether_key_file_opens_ring),
        TSR_TEST(check_fails_when_no_sampled_session_opens),
        TSR_TEST(stats_of_empty_prefix_is_zero),
        TSR_TEST(stats_counts_sessions_bytes_ttls_contexts),
        TSR_TEST(stats_treats_glob_characters_in_prefix_literally),
        TSR_TEST(inspect_shows_tls12_session_without_secrets),
        TSR_TEST(inspect_shows_tls13_session_without_secrets),
        TSR_TEST(inspect_with_context_reads_key_directly),
        TSR_TEST(inspect_of_tampered_value_does_not_open),
        TSR_TEST(inspect_with_other_fleet_key_does_not_open),
        TSR_TEST(inspect_of_missing_id_fails),
        TSR_TEST(tickets_rotate_creates_then_waits_for_period),
        TSR_TEST(tickets_show_has_names_never_key_bytes),
        TSR_TEST(tickets_need_key_file_and_ring),
        TSR_TEST(flush_refuses_without_yes_when_not_a_tty),
        TSR_TEST(flush_with_yes_deletes_only_sessions),
        TSR_TEST(flush_asks_on_a_terminal),
        TSR_TEST(flush_all_and_context),
        TSR_TEST(fleet_without_nodes_says_so),
        TSR_TEST(fleet_flags_differing_fingerprints),
        TSR_TEST(fleet_lists_a_real_nginx_node),
        TSR_TEST(json_is_one_document_for_every_command),
        TSR_TEST(check_exits_ok_warning_critical),
        TSR_TEST(host_port_socket_and_uris),
        TSR_TEST(config_reads_nginx_configuration),
        TSR_TEST(config_accepts_renamed_directives),
        TSR_TEST(bash_completion_completes),
        TSR_TEST(every_command_works_through_sentinel),
        TSR_TEST(every_command_works_through_cluster),
        TSR_TEST(cluster_without_a_seed_answering_fails),
        TSR_TEST(fleet_registers_every_server_past_64)
    };

    (void) signal(SIGPIPE, SIG_IGN);

    admin = tsr_test_require("TSR_ADMIN", "tsr-admin",
                             "ssl-session-redis (run make first)");
    (void) tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                            "redis-server");

    return TSR_TEST_MAIN("admin", init_suite, clean_suite, tests);
}


static void
test_check_and_stats_over_tls(void)
{
    int               port;
    char              tdir[256], a[1024];
    tsr_test_redis_t  tr;

    if (tsr_test_redis_start_tls(&tr, tdir, sizeof(tdir), &port, 1) != 0) {
        CU_FAIL("redis with TLS did not start");
        return;
    }

    snprintf(a, sizeof(a), "rediss://127.0.0.1:%d tls_ca_file=%s/redis.crt "
             "tls_server_name=redis.test tls_cert_file=%s/other.crt "
             "tls_key_file=%s/other.key", port, tdir, tdir, tdir);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              NULL), 0);
    /* Redis' default noeviction, without maxmemory: a warning */
    CU_ASSERT(expect(&res, 1, "check over TLS"));

    CU_ASSERT_EQUAL(fill(&tr, "tsr:s:0123456789abcdef:", 2, 10, 100), 0);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "stats", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 0, "stats over TLS"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "sessions     2\n"));

    /* a name the certificate does not have: one clear line */

    snprintf(a, sizeof(a), "rediss://127.0.0.1:%d tls_ca_file=%s/redis.crt "
             "tls_server_name=other.test tls_cert_file=%s/other.crt "
             "tls_key_file=%s/other.key", port, tdir, tdir, tdir);

    CU_ASSERT_EQUAL_FATAL(run(&res, STDIN_NULL, NULL, "check", "-a", a,
                              NULL), 0);
    CU_ASSERT(expect(&res, 2, "check over TLS, wrong name"));
    CU_ASSERT(one_line(res.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "hostname mismatch"));

    (void) tsr_test_redis_stop(&tr);
}
