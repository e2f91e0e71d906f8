
/*
 * The distro nginx loads both modules, accepts good configurations and
 * rejects bad ones at "nginx -t" with a message naming the directive or
 * the value.
 */


#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <CUnit/Basic.h>

#include "tsr_test.h"


#define OUT_SIZE  16384


static int init_suite(void);
static int run_conf(int stream, const char *fmt);
static void write_key(const char *name, size_t len, int mode);
static void write_text(const char *name, const char *text);
static int has_key_error(const char *name, const char *holds);
static int write_password(const char *name, int mode);
static void test_loads_both_modules_and_accepts_good_config(void);
static void test_module_off_is_accepted_without_key(void);
static void test_bad_port_is_rejected(void);
static void test_unknown_parameter_is_rejected(void);
static void test_missing_key_file_is_rejected_naming_it(void);
static void test_short_key_file_is_rejected(void);
static void test_missing_key_directive_is_rejected(void);
static void test_duplicate_address_is_rejected(void);
static void test_bad_prefix_is_rejected(void);
static void test_zero_timeout_is_rejected(void);
static void test_uri_addresses_and_tls_parameters(void);
static void test_world_readable_key_warns(void);
static void test_missing_password_file_is_rejected(void);
static void test_stream_bad_address_is_rejected(void);
static void test_server_without_ssl_is_rejected(void);
static void test_tickets_with_cluster_and_sentinel_are_accepted(void);
static void test_cluster_with_db_is_rejected(void);
static void test_default_server_without_module_warns(void);
static void test_tickets_disagreeing_on_listener_warn(void);
static int run_listener(const char *main, const char *first,
    const char *second);
static void test_single_use_of_non_default_server_is_rejected(void);
static void test_timeout_of_non_default_server_is_rejected(void);
static void test_prefix_of_non_default_server_is_rejected(void);
static void test_single_use_without_default_redis_is_rejected(void);
static void test_listener_agreeing_on_settings_is_accepted(void);
static void test_relative_password_file_is_found_under_prefix(void);
static void test_password_fifo_is_rejected_without_hanging(void);
static void test_readable_password_file_warns(void);
static void test_session_cache_off_is_rejected(void);
static void test_session_cache_builtin_warns(void);
static void test_key_file_of_other_length_is_rejected(void);
static void test_key_file_of_text_is_rejected_naming_it(void);
static void test_db_out_of_range_is_rejected(void);
static void test_former_names_warn_and_still_work(void);


static tsr_test_nginx_t  nginx;
static char              out[OUT_SIZE];


static int
init_suite(void)
{
    static const char *const  cns[] = { "one.test", NULL };

    if (tsr_test_nginx_init(&nginx, "config", cns) != 0) {
        return -1;
    }

    write_key("fleet.key", 32, 0600);
    write_key("short.key", 31, 0600);
    write_key("long.key", 48, 0600);
    write_key("huge.key", 4097, 0600);
    write_key("open.key", 32, 0644);

    /* what "openssl req", "rand -hex 32" and "rand -base64 32" write */
    write_text("pem.key", "-----BEGIN PRIVATE KEY-----\n"
               "MC4CAQAwBQYDK2VwBCIEIHbUgsQ4bLbTnW1D3fPkyXv2nZ8Y8wz6Ehy4pPYl\n"
               "-----END PRIVATE KEY-----\n");
    write_text("hex.key", "3f8a0c55e2b14d7a9c06e1f2d3b4a59687c8e9f0a1b2c3d4"
               "e5f60718293a4b5c\n");
    write_text("base64.key", "P4oMVeKxTXqcBuHy07SllofI6fChssPU5fYHGCk6S1w=\n");

    /* 32 bytes, the right length, but hex text all the same */
    write_text("hex32.key", "3f8a0c55e2b14d7a9c06e1f2d3b4a59\n");

    if (write_password("pass.txt", 0600) != 0
        || write_password("open.pass", 0644) != 0)
    {
        return -1;
    }

    return 0;
}


static void
write_key(const char *name, size_t len, int mode)
{
    char           path[PATH_MAX + 64];
    unsigned char  key[4200];
    size_t         i;

    if (len > sizeof(key)) {
        return;
    }

    for (i = 0; i < len; i++) {
        key[i] = (unsigned char) (i * 37 + 11);
    }

    snprintf(path, sizeof(path), "%s/%s", nginx.dir, name);
    (void) tsr_test_write_file(path, key, len, mode);
}


static void
write_text(const char *name, const char *text)
{
    char  path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", nginx.dir, name);
    (void) tsr_test_write_file(path, text, strlen(text), 0600);
}


/* nginx -t said exactly what key file "name" holds and what to write */

static int
has_key_error(const char *name, const char *holds)
{
    char  msg[2 * PATH_MAX + 512];

    snprintf(msg, sizeof(msg),
             "invalid \"ssl_session_redis_fleet_key\": fleet key file "
             "\"%s/%s\" holds %s; expected 32 to 4096 raw bytes, as "
             "\"openssl rand 32 > %s/%s\" makes in ",
             nginx.dir, name, holds, nginx.dir, name);

    return strstr(out, "[emerg] ") != NULL && strstr(out, msg) != NULL;
}


/*
 * Writes a configuration whose body is "fmt" with every "@D" replaced
 * by the prefix directory, runs "nginx -t", returns its status.
 */

static int
run_conf(int stream, const char *fmt)
{
    char        body[8192];
    const char  *p;
    size_t       len, dlen;

    len = 0;
    dlen = strlen(nginx.dir);

    for (p = fmt; *p != '\0' && len < sizeof(body) - dlen - 1; p++) {
        if (p[0] == '@' && p[1] == 'D') {
            memcpy(body + len, nginx.dir, dlen);
            len += dlen;
            p++;
            continue;
        }
        body[len++] = *p;
    }
    body[len] = '\0';

    if (tsr_test_nginx_write_conf(&nginx, stream, "info", body) != 0) {
        return -1;
    }

    return tsr_test_nginx_test_conf(&nginx, out, sizeof(out));
}


#define HTTP_SERVER(directives)                                              \
    "http {\n"                                                               \
    "  server {\n"                                                           \
    "    listen 127.0.0.1:1 ssl;\n"                                          \
    "    ssl_certificate @D/one.test.crt;\n"                                 \
    "    ssl_certificate_key @D/one.test.key;\n"                             \
    directives                                                               \
    "  }\n"                                                                  \
    "}\n"

#define STREAM_SERVER(directives)                                            \
    "stream {\n"                                                             \
    "  server {\n"                                                           \
    "    listen 127.0.0.1:2 ssl;\n"                                          \
    "    ssl_certificate @D/one.test.crt;\n"                                 \
    "    ssl_certificate_key @D/one.test.key;\n"                             \
    directives                                                               \
    "    return ok;\n"                                                       \
    "  }\n"                                                                  \
    "}\n"


static void
test_loads_both_modules_and_accepts_good_config(void)
{
    int  rc;

    rc = run_conf(1,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 db=2;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_lookup_timeout 50ms;\n"
                    "ssl_session_redis_prefix edge:;\n")
        STREAM_SERVER("ssl_session_redis unix:@D/redis.sock;\n"
                      "ssl_session_redis_fleet_key @D/fleet.key;\n"));

    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "nginx -t said:\n%s\n", out);
    }
}


static void
test_module_off_is_accepted_without_key(void)
{
    CU_ASSERT_EQUAL(run_conf(0, HTTP_SERVER("ssl_session_redis off;\n")), 0);
}


static void
test_bad_port_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:99999;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "invalid redis address \"127.0.0.1:99999\""));
}


static void
test_unknown_parameter_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 colour=blue;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid redis address"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "colour=blue"));
}


static void
test_missing_key_file_is_rejected_naming_it(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/nonexistent.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ssl_session_redis_fleet_key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nonexistent.key"));
}


static void
test_short_key_file_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/short.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "short.key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "31"));
}


static void
test_missing_key_directive_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "no \"ssl_session_redis_fleet_key\" is defined"));
}


static void
test_duplicate_address_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis 127.0.0.1:6380;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_redis\" directive is duplicate"));
}


static void
test_bad_prefix_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_prefix \"a b\";\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid key prefix \"a b\""));
}


static void
test_zero_timeout_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_lookup_timeout 0;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ssl_session_redis_lookup_timeout"));

    /* durations are shown as written, the bound in the same units */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_lookup_timeout 30s;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "invalid \"ssl_session_redis_lookup_timeout\" "
                           "\"30s\": must be more than 0 and at most 10s"));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n"
                    "ssl_session_redis_ticket_rotation 500ms;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid "
                                       "\"ssl_session_redis_ticket_rotation\" "
                                       "\"500ms\": must be at least 1s "
                                       "and at most 366d"));

    /* above the core's bound: said in the directive's words */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n"
                    "ssl_session_redis_ticket_rotation 367d;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid "
                                       "\"ssl_session_redis_ticket_rotation\" "
                                       "\"367d\": must be at least 1s "
                                       "and at most 366d in "));
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n"
                    "ssl_session_redis_ticket_rotation 366d;\n")), 0);
}


static void
test_world_readable_key_warns(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/open.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[warn]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "open.key"));
}


static void
test_missing_password_file_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 "
                    "password_file=@D/nopass;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nopass"));
}


static void
test_stream_bad_address_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(1,
        STREAM_SERVER("ssl_session_redis 127.0.0.1:;\n"
                      "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid redis address"));
}


static void
test_server_without_ssl_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        "http {\n"
        "  server {\n"
        "    listen 127.0.0.1:3;\n"
        "    server_name plain.test;\n"
        "    ssl_session_redis 127.0.0.1:6379;\n"
        "    ssl_session_redis_fleet_key @D/fleet.key;\n"
        "  }\n"
        "}\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"plain.test\", which has no ssl"));
}


static void
test_tickets_with_cluster_and_sentinel_are_accepted(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis cluster=127.0.0.1:7000,"
                    "127.0.0.1:7001;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n")), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "[emerg]"));

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis sentinel=127.0.0.1:26379,"
                    "127.0.0.1:26380 master=sessions;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n")), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "[emerg]"));
}


static void
test_cluster_with_db_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis cluster=127.0.0.1:7000 db=1;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid redis address"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"db\" must be 0"));
}


static void
test_default_server_without_module_warns(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        "http {\n"
        "  server {\n"
        "    listen 127.0.0.1:4 ssl;\n"
        "    server_name first.test;\n"
        "    ssl_certificate @D/one.test.crt;\n"
        "    ssl_certificate_key @D/one.test.key;\n"
        "  }\n"
        "  server {\n"
        "    listen 127.0.0.1:4 ssl;\n"
        "    server_name second.test;\n"
        "    ssl_certificate @D/one.test.crt;\n"
        "    ssl_certificate_key @D/one.test.key;\n"
        "    ssl_session_redis 127.0.0.1:6379;\n"
        "    ssl_session_redis_fleet_key @D/fleet.key;\n"
        "  }\n"
        "}\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[warn]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "is enabled for server \"second.test\" but not "
                           "for \"first.test\""));
}


static void
test_tickets_disagreeing_on_listener_warn(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        "http {\n"
        "  ssl_session_redis 127.0.0.1:6379;\n"
        "  ssl_session_redis_fleet_key @D/fleet.key;\n"
        "  server {\n"
        "    listen 127.0.0.1:5 ssl;\n"
        "    server_name first.test;\n"
        "    ssl_certificate @D/one.test.crt;\n"
        "    ssl_certificate_key @D/one.test.key;\n"
        "    ssl_session_tickets off;\n"
        "  }\n"
        "  server {\n"
        "    listen 127.0.0.1:5 ssl;\n"
        "    server_name second.test;\n"
        "    ssl_certificate @D/one.test.crt;\n"
        "    ssl_certificate_key @D/one.test.key;\n"
        "  }\n"
        "}\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_tickets\" of server "
                           "\"second.test\" differs"));
}


/*
 * One listener, 127.0.0.1:6, with two servers: "main" goes to the http
 * block, "first" to the default server, "second" to the other one.
 */

static int
run_listener(const char *main, const char *first, const char *second)
{
    int    len;
    char   fmt[4096];

    len = snprintf(fmt, sizeof(fmt),
                   "http {\n"
                   "%s"
                   "  server {\n"
                   "    listen 127.0.0.1:6 ssl;\n"
                   "    server_name first.test;\n"
                   "    ssl_certificate @D/one.test.crt;\n"
                   "    ssl_certificate_key @D/one.test.key;\n"
                   "%s"
                   "  }\n"
                   "  server {\n"
                   "    listen 127.0.0.1:6 ssl;\n"
                   "    server_name second.test;\n"
                   "    ssl_certificate @D/one.test.crt;\n"
                   "    ssl_certificate_key @D/one.test.key;\n"
                   "%s"
                   "  }\n"
                   "}\n", main, first, second);

    if (len < 0 || (size_t) len >= sizeof(fmt)) {
        return -1;
    }

    return run_conf(0, fmt);
}


#define REDIS_MAIN                                                           \
    "  ssl_session_redis 127.0.0.1:6379;\n"                                  \
    "  ssl_session_redis_fleet_key @D/fleet.key;\n"


/*
 * Sessions are looked up (before SNI) and stored with the default
 * server's settings: a non-default server's single use, timeout or
 * prefix would be silently ignored, so "nginx -t" refuses them, naming
 * the directive, the servers and the listener.
 */

static void
test_single_use_of_non_default_server_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_listener(REDIS_MAIN, "",
                            "    ssl_session_redis_single_use on;\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[emerg]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_redis_single_use\" of server "
                           "\"second.test\" differs from that of "
                           "\"first.test\", the default server of "
                           "127.0.0.1:6"));
    printf("\n    %s ", out);
}


static void
test_timeout_of_non_default_server_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_listener(REDIS_MAIN, "",
                            "    ssl_session_redis_lookup_timeout 50ms;\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_redis_lookup_timeout\" of server "
                           "\"second.test\" differs"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "127.0.0.1:6"));
}


static void
test_prefix_of_non_default_server_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_listener(REDIS_MAIN,
                            "    ssl_session_redis_prefix a:;\n",
                            "    ssl_session_redis_prefix b:;\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_redis_prefix\" of server "
                           "\"second.test\" differs"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "127.0.0.1:6"));
}


static void
test_single_use_without_default_redis_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_listener("", "",
                            "    ssl_session_redis 127.0.0.1:6379;\n"
                            "    ssl_session_redis_fleet_key @D/fleet.key;\n"
                            "    ssl_session_redis_single_use on;\n"), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
                           "\"ssl_session_redis_single_use\" of server "
                           "\"second.test\" cannot apply on "
                           "127.0.0.1:6"));
}


static void
test_listener_agreeing_on_settings_is_accepted(void)
{
    CU_ASSERT_EQUAL(run_listener(REDIS_MAIN
                        "  ssl_session_redis_single_use on;\n",
                        "    ssl_session_redis_lookup_timeout 50ms;\n"
                        "    ssl_session_redis_prefix a:;\n",
                        "    ssl_session_redis_lookup_timeout 50ms;\n"
                        "    ssl_session_redis_prefix a:;\n"), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "[emerg]"));
}


static int
write_password(const char *name, int mode)
{
    char  path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", nginx.dir, name);

    /* chmod: the umask must not make it stricter than asked */
    if (tsr_test_write_file(path, "secret\n", 7, mode) != 0
        || chmod(path, mode) != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * A relative file name means the same as for key files and certificates
 * (nginx's prefix), not "nginx -t"'s working directory.
 */

static void
test_relative_password_file_is_found_under_prefix(void)
{
    int  rc;

    rc = run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 "
                    "password_file=pass.txt;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"));

    printf("\n    nginx -t: %d %s ", rc, out);

    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NULL(strstr(out, "[emerg]"));
    CU_ASSERT_PTR_NULL(strstr(out, "[warn]"));
}


/*
 * A FIFO as the password file: "nginx -t" used to block in open() until
 * a writer came.  A writer comes after 3 s (and finds no reader when the
 * file is refused at once), so the test ends either way.
 */

static void
test_password_fifo_is_rejected_without_hanging(void)
{
    int         rc, fd, status;
    char        path[PATH_MAX + 64];
    pid_t       pid;
    long long   start, elapsed;

    snprintf(path, sizeof(path), "%s/pass.fifo", nginx.dir);
    (void) unlink(path);

    if (mkfifo(path, 0600) != 0) {
        CU_FAIL("mkfifo() failed");
        return;
    }

    pid = fork();

    if (pid == 0) {
        sleep(3);
        fd = open(path, O_WRONLY | O_NONBLOCK);
        if (fd != -1) {
            close(fd);
        }
        _exit(0);
    }

    start = tsr_test_now_ms();

    rc = run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 "
                    "password_file=@D/pass.fifo;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"));

    elapsed = tsr_test_now_ms() - start;

    printf("\n    nginx -t: %d after %lld ms: %s ", rc, elapsed, out);

    if (pid > 0) {
        (void) waitpid(pid, &status, 0);
    }

    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT(elapsed < 2500);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "is not a regular file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "pass.fifo"));
}


static void
test_readable_password_file_warns(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 "
                    "password_file=@D/open.pass;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[warn]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "password file"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "open.pass"));
    CU_ASSERT_PTR_NULL(strstr(out, "secret"));
}


/*
 * The module used to turn "ssl_session_cache off" into a Redis cache and
 * drop "builtin" without a word.
 */

static void
test_session_cache_off_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_cache off;\n"
                    "ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ssl_session_cache\" is \"off\""));

    CU_ASSERT_NOT_EQUAL(run_conf(1,
        STREAM_SERVER("ssl_session_cache off;\n"
                      "ssl_session_redis 127.0.0.1:6379;\n"
                      "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ssl_session_cache\" is \"off\""));

    /* without the module, as before */
    CU_ASSERT_EQUAL(run_conf(0, HTTP_SERVER("ssl_session_cache off;\n")), 0);
}


static void
test_session_cache_builtin_warns(void)
{
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_cache builtin:1000 shared:S:1m;\n"
                    "ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "[warn]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ssl_session_cache builtin\""));

    /* none (the default) and shared: are what the module expects */
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_cache shared:S:1m;\n"
                    "ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "[warn]"));
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_loads_both_modules_and_accepts_good_config),
        TSR_TEST_FN(test_module_off_is_accepted_without_key),
        TSR_TEST_FN(test_bad_port_is_rejected),
        TSR_TEST_FN(test_unknown_parameter_is_rejected),
        TSR_TEST_FN(test_missing_key_file_is_rejected_naming_it),
        TSR_TEST_FN(test_short_key_file_is_rejected),
        TSR_TEST_FN(test_missing_key_directive_is_rejected),
        TSR_TEST_FN(test_duplicate_address_is_rejected),
        TSR_TEST_FN(test_bad_prefix_is_rejected),
        TSR_TEST_FN(test_zero_timeout_is_rejected),
        TSR_TEST_FN(test_uri_addresses_and_tls_parameters),
        TSR_TEST_FN(test_world_readable_key_warns),
        TSR_TEST_FN(test_missing_password_file_is_rejected),
        TSR_TEST_FN(test_stream_bad_address_is_rejected),
        TSR_TEST_FN(test_server_without_ssl_is_rejected),
        TSR_TEST_FN(test_tickets_with_cluster_and_sentinel_are_accepted),
        TSR_TEST_FN(test_cluster_with_db_is_rejected),
        TSR_TEST_FN(test_default_server_without_module_warns),
        TSR_TEST_FN(test_tickets_disagreeing_on_listener_warn),
        TSR_TEST_FN(test_single_use_of_non_default_server_is_rejected),
        TSR_TEST_FN(test_timeout_of_non_default_server_is_rejected),
        TSR_TEST_FN(test_prefix_of_non_default_server_is_rejected),
        TSR_TEST_FN(test_single_use_without_default_redis_is_rejected),
        TSR_TEST_FN(test_listener_agreeing_on_settings_is_accepted),
        TSR_TEST_FN(test_relative_password_file_is_found_under_prefix),
        TSR_TEST_FN(test_password_fifo_is_rejected_without_hanging),
        TSR_TEST_FN(test_readable_password_file_warns),
        TSR_TEST_FN(test_session_cache_off_is_rejected),
        TSR_TEST_FN(test_session_cache_builtin_warns),
        TSR_TEST_FN(test_key_file_of_other_length_is_rejected),
        TSR_TEST_FN(test_key_file_of_text_is_rejected_naming_it),
        TSR_TEST_FN(test_db_out_of_range_is_rejected),
        TSR_TEST_FN(test_former_names_warn_and_still_work)
    };

    return TSR_TEST_MAIN("config", init_suite, NULL, tests);
}


/*
 * URIs as providers print them, and TLS parameters: a password in a URI
 * works but is warned about and never shown; bad TLS files fail nginx -t.
 */

static void
test_uri_addresses_and_tls_parameters(void)
{
    char  expect[PATH_MAX + 256];

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis redis://alice:t0p%40secret@127.0.0.1:6380/2;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "password_file="));
    CU_ASSERT_PTR_NULL(strstr(out, "t0p"));

    /* an error quotes the address without its password */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis redis://alice:t0p%40secret@127.0.0.1:6380/x;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid database \"x\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "alice:***@"));
    CU_ASSERT_PTR_NULL(strstr(out, "t0p"));

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis unix:///run/redis/redis-server.sock?db=3;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis rediss://127.0.0.1:6380 tls_verify=off;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"tls_verify=off\" accepts any "
                                  "certificate"));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis rediss://127.0.0.1:6380 "
                    "tls_ca_file=@D/nonexistent.pem;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nonexistent.pem"));

    /* the parameter and the first reason, not OpenSSL's "system lib" */

    snprintf(expect, sizeof(expect), "TLS: tls_ca_file \"%s/nonexistent.pem\": "
             "No such file or directory in ", nginx.dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, expect));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis rediss://127.0.0.1:6380 "
                    "tls_cert_file=@D/one.test.key "
                    "tls_key_file=@D/one.test.key;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    snprintf(expect, sizeof(expect), "TLS: tls_cert_file \"%s/one.test.key\": "
             "no start line in ", nginx.dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, expect));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6380 tls_verify=off;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "need \"tls\""));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis redis://:pw@127.0.0.1 "
                    "password_file=@D/fleet.key;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "duplicate"));
}


/* the documented format: 32 to 4096 raw bytes, "openssl rand 32 > file" */

static void
test_key_file_of_other_length_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/short.key;\n")), 0);
    CU_ASSERT(has_key_error("short.key", "31 bytes"));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/huge.key;\n")), 0);
    CU_ASSERT(has_key_error("huge.key", "4097 bytes"));

    CU_ASSERT_NOT_EQUAL(run_conf(1,
        STREAM_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                      "ssl_session_redis_fleet_key @D/huge.key;\n")), 0);
    CU_ASSERT(has_key_error("huge.key", "4097 bytes"));

    /* a longer key of an earlier release keeps working */

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/long.key;\n")), 0);

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
}


static void
test_key_file_of_text_is_rejected_naming_it(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/pem.key;\n")), 0);
    CU_ASSERT(has_key_error("pem.key", "115 bytes of PEM text (a certificate "
                            "or a key, not key material)"));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/hex.key;\n")), 0);
    CU_ASSERT(has_key_error("hex.key", "65 bytes of text (hex?)"));

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/base64.key;\n")), 0);
    CU_ASSERT(has_key_error("base64.key", "45 bytes of text (base64?)"));

    /* the right length is not enough */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/hex32.key;\n")), 0);
    CU_ASSERT(has_key_error("hex32.key", "32 bytes of text (hex?)"));

    if (CU_get_number_of_failures() != 0) {
        fprintf(stderr, "nginx -t said:\n%s\n", out);
    }
}


/* Redis has "databases 16" unless told otherwise: SELECT 16 fails later */

static void
test_db_out_of_range_is_rejected(void)
{
    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 db=99;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "[emerg] "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "invalid redis address \"127.0.0.1:6379 db=99\": database 99 is "
        "out of range, expected 0 to 15 (Redis' default \"databases 16\") "
        "in "));

    CU_ASSERT_NOT_EQUAL(run_conf(1,
        STREAM_SERVER("ssl_session_redis redis://127.0.0.1:6379/16;\n"
                      "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "invalid redis address \"redis://127.0.0.1:6379/16\": database 16 "
        "is out of range, expected 0 to 15 (Redis' default \"databases "
        "16\") in "));

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379 db=15;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n")), 0);
}


/*
 * The names before the renames keep working, with nginx's warning for a
 * deprecated directive; what each sets still takes effect.
 */

static void
test_former_names_warn_and_still_work(void)
{
    CU_ASSERT_EQUAL(run_conf(1,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_key @D/fleet.key;\n"
                    "ssl_session_redis_timeout 50ms;\n"
                    "ssl_session_redis_tickets on;\n")
        STREAM_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                      "ssl_session_redis_key @D/fleet.key;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "[warn] "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "the \"ssl_session_redis_key\" directive is deprecated, use the "
        "\"ssl_session_redis_fleet_key\" directive instead in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "the \"ssl_session_redis_timeout\" directive is deprecated, use the "
        "\"ssl_session_redis_lookup_timeout\" directive instead in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "the \"ssl_session_redis_tickets\" directive is deprecated, use the "
        "\"ssl_session_redis_ticket_keys\" directive instead in "));

    /* the key file is read: a bad one fails */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_key @D/short.key;\n")), 0);
    CU_ASSERT(has_key_error("short.key", "31 bytes"));

    /* the deadline is set, and checked */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_timeout 30s;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "invalid \"ssl_session_redis_timeout\" "
                                       "\"30s\": must be more than 0 and at "
                                       "most 10s"));

    /* tickets are on: with a cluster and with sentinels too */

    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis cluster=127.0.0.1:7000;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_tickets on;\n")), 0);
    CU_ASSERT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis sentinel=127.0.0.1:26379 "
                    "master=mymaster;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_ticket_keys on;\n")), 0);
    CU_ASSERT_PTR_NULL(strstr(out, "is not supported"));

    /* an old name and its new one together are one directive twice */

    CU_ASSERT_NOT_EQUAL(run_conf(0,
        HTTP_SERVER("ssl_session_redis 127.0.0.1:6379;\n"
                    "ssl_session_redis_fleet_key @D/fleet.key;\n"
                    "ssl_session_redis_lookup_timeout 50ms;\n"
                    "ssl_session_redis_timeout 60ms;\n")), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out,
        "\"ssl_session_redis_timeout\" directive is duplicate"));
}
