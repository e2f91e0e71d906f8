
/*
 * HTTP/3 (QUIC) with a real browser: Debian's chromium, headless, forced
 * to QUIC for one origin, against real nginx built --with-http_v3_module
 * (OpenSSL 3.0: nginx's OpenSSL compatibility layer) and a real
 * redis-server, everything on 127.0.0.1.
 *
 * - fleet tickets resume QUIC across nodes: node A serves the page and
 *   its first request over QUIC (a full handshake), then stops; node B
 *   starts on the same port, sharing A's Redis and fleet key, and the
 *   page's next request opens a new QUIC connection to B, which must
 *   resume ($ssl_session_reused "r") from A's ticket; the same server
 *   keeps serving TLS over TCP beside QUIC;
 * - a QUIC handshake never waits on Redis: with Redis stopped (SIGSTOP)
 *   and stateful sessions (each new connection offers a session to look
 *   up), TLS over TCP waits for its lookup up to the deadline, as
 *   designed, while every QUIC request still completes at once.
 *
 * The page's chromium runs at most CHROMIUM_MS; every wait is bounded.
 * Exit status 77 (skipped) with "skipped: no chromium" when chromium is
 * missing or cannot run, "skipped: nginx without http_v3" when the nginx
 * has no HTTP/3.
 *
 * Environment as the other integration tests, plus TSR_CHROMIUM (default:
 * chromium in PATH).  TSR_TEST_ONLY=<substring> runs only the tests whose
 * names contain it.
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "tsr_test.h"


#define HOST              "one.test"
#define CHROMIUM_MS       60000       /* one browser run, at most */
#define PROBE_MS          30000
#define READY_MS          20000       /* the page waits for node B */
#define FAST_MS           1500        /* a request that did not wait */
#define LOOKUP_TIMEOUT    "3s"        /* ssl_session_redis_lookup_timeout */
#define LOOKUP_WAIT_MS    2500        /* a lookup that waited, at least */
#define OUT_MAX           65536


typedef struct {
    tsr_test_nginx_t    nginx;
    char                access_log[PATH_MAX + 32];
    int                 running;
} node_t;


static int init_suite(void);
static int clean_suite(void);
static int free_port(void);
static int spki_hash(const char *cert, char *out, size_t outlen);
static const char *chromium_path(void);
static pid_t chromium_start(const char *url, const char *out,
    const char *err);
static int chromium_wait(pid_t pid, int ms);
static int chromium_run(const char *url, char *result, size_t len);
static int chromium_result(const char *path, char *result, size_t len);
static int chromium_probe(void);
static int nginx_has_v3(void);
static int write_page(const char *name, const char *script);
static int write_node(node_t *nd, int tickets, int ctl);
static int start_node(node_t *nd);
static void stop_node(node_t *nd);
static int wait_log(const char *path, const char *needle, int ms);
static int field(const char *result, const char *name, char *out,
    size_t len, long *ms);
static void test_quic_tickets_resume_across_nodes(void);
static void test_quic_handshake_does_not_wait_on_redis(void);


static tsr_test_redis_t   redis;
static node_t             nodes[2];
static int                port;            /* TCP and UDP, both nodes */
static int                ctl_port;        /* node B's "ready" origin */
static char               root[PATH_MAX];  /* pages, certificates */
static char               key_file[PATH_MAX + 16];
static char               spki[64];
static char               tmp[PATH_MAX];


static int
init_suite(void)
{
    unsigned char             key[32];
    char                      cert[PATH_MAX + 32];
    static const char *const  cns[] = { HOST, NULL };

    tsr_test_require("TSR_REDIS_SERVER", "redis-server", "redis-server");

    memset(&redis, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_redis_start(&redis) != 0
        || tsr_test_nginx_init(&nodes[0].nginx, "quic-a", cns) != 0
        || tsr_test_nginx_init(&nodes[1].nginx, "quic-b", NULL) != 0
        || tsr_test_mkdtemp("quic-chromium", tmp, sizeof(tmp)) != 0)
    {
        return -1;
    }

    /* both nodes serve node A's certificate and pages */

    snprintf(root, sizeof(root), "%s", nodes[0].nginx.dir);
    snprintf(nodes[0].access_log, sizeof(nodes[0].access_log),
             "%.1024s/logs/access.log", nodes[0].nginx.dir);
    snprintf(nodes[1].access_log, sizeof(nodes[1].access_log),
             "%.1024s/logs/access.log", nodes[1].nginx.dir);

    snprintf(cert, sizeof(cert), "%s/%s.crt", root, HOST);

    if (spki_hash(cert, spki, sizeof(spki)) != 0) {
        return -1;
    }

    if (RAND_bytes(key, sizeof(key)) != 1) {
        return -1;
    }

    snprintf(key_file, sizeof(key_file), "%s/fleet.key", root);

    if (tsr_test_write_file(key_file, key, sizeof(key), 0600) != 0) {
        return -1;
    }

    OPENSSL_cleanse(key, sizeof(key));

    port = free_port();
    ctl_port = free_port();

    if (port == -1 || ctl_port == -1 || port == ctl_port) {
        return -1;
    }

    return 0;
}


static int
clean_suite(void)
{
    stop_node(&nodes[0]);
    stop_node(&nodes[1]);

    if (redis.pid != 0) {
        tsr_test_redis_signal(&redis, SIGCONT);
    }

    tsr_test_redis_stop(&redis);

    return 0;
}


/* a port free for TCP (tsr_test_free_port()) and for UDP as well */

static int
free_port(void)
{
    int                 i, p, fd, rc;
    struct sockaddr_in  sin;

    for (i = 0; i < 50; i++) {
        p = tsr_test_free_port();
        if (p == -1) {
            return -1;
        }

        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd == -1) {
            return -1;
        }

        memset(&sin, 0, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((unsigned short) p);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        rc = bind(fd, (struct sockaddr *) &sin, sizeof(sin));
        close(fd);

        if (rc == 0) {
            return p;
        }
    }

    return -1;
}


/*
 * base64(SHA-256(SubjectPublicKeyInfo)): chromium's QUIC accepts no
 * untrusted certificate, not even with --ignore-certificate-errors, but
 * one whose key is in --ignore-certificate-errors-spki-list.
 */

static int
spki_hash(const char *cert, char *out, size_t outlen)
{
    int             len;
    FILE           *f;
    X509           *x;
    unsigned char  *der;
    unsigned char   md[32];

    f = fopen(cert, "r");
    if (f == NULL) {
        return -1;
    }

    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);

    if (x == NULL) {
        return -1;
    }

    der = NULL;
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    X509_free(x);

    if (len <= 0 || outlen < 45
        || EVP_Digest(der, (size_t) len, md, NULL, EVP_sha256(), NULL) != 1)
    {
        OPENSSL_free(der);
        return -1;
    }

    OPENSSL_free(der);

    (void) EVP_EncodeBlock((unsigned char *) out, md, sizeof(md));

    return 0;
}


static const char *
chromium_path(void)
{
    size_t       n;
    const char  *env, *path, *p, *e;
    static char  buf[PATH_MAX];

    env = getenv("TSR_CHROMIUM");
    if (env != NULL && env[0] != '\0') {
        return access(env, X_OK) == 0 ? env : NULL;
    }

    path = getenv("PATH");
    if (path == NULL) {
        path = "/usr/bin:/bin";
    }

    for (p = path; *p != '\0'; p = (*e == ':') ? e + 1 : e) {
        e = strchr(p, ':');
        if (e == NULL) {
            e = p + strlen(p);
        }

        n = (size_t) (e - p);

        if (n > 0 && n + sizeof("/chromium") < sizeof(buf)) {
            memcpy(buf, p, n);
            memcpy(buf + n, "/chromium", sizeof("/chromium"));

            if (access(buf, X_OK) == 0) {
                return buf;
            }
        }
    }

    return NULL;
}


/*
 * Starts chromium headless on "url" in a process group of its own, with
 * a fresh profile and HOME under the test's directory; the DOM goes to
 * file "out", the browser's messages to "err".
 */

static pid_t
chromium_start(const char *url, const char *out, const char *err)
{
    int          fd;
    pid_t        pid;
    const char  *bin;
    char         profile[PATH_MAX + 64], quic[128], pin[128], rules[128];
    char         dir[PATH_MAX + 32];
    static int   runs;

    bin = chromium_path();
    if (bin == NULL) {
        return -1;
    }

    snprintf(dir, sizeof(dir), "%s/run%d", tmp, ++runs);
    snprintf(profile, sizeof(profile), "--user-data-dir=%s/profile", dir);
    snprintf(quic, sizeof(quic), "--origin-to-force-quic-on=%s:%d", HOST,
             port);
    snprintf(pin, sizeof(pin), "--ignore-certificate-errors-spki-list=%s",
             spki);
    snprintf(rules, sizeof(rules), "--host-resolver-rules=MAP %s 127.0.0.1",
             HOST);

    if (mkdir(dir, 0700) != 0) {
        return -1;
    }

    pid = fork();

    if (pid != 0) {
        return pid;
    }

    (void) setpgid(0, 0);

    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd != -1) {
        (void) dup2(fd, STDOUT_FILENO);
        close(fd);
    }

    fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd != -1) {
        (void) dup2(fd, STDERR_FILENO);
        close(fd);
    }

    (void) setenv("HOME", dir, 1);

    execl(bin, bin, "--headless", "--no-sandbox", "--disable-gpu",
          "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", profile, pin,
          rules, "--enable-quic", quic, "--dump-dom", url, (char *) NULL);

    _exit(127);
}


/*
 * Waits up to "ms" for chromium to exit, then kills whatever is left of
 * its process group.  Returns its exit status, or -1 if it had to be
 * killed.
 */

static int
chromium_wait(pid_t pid, int ms)
{
    int        status, rc;
    long long  end;

    end = tsr_test_now_ms() + ms;
    rc = -1;

    for ( ;; ) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }

        if (tsr_test_now_ms() >= end) {
            fprintf(stderr, "chromium still running after %d ms: "
                    "killed\n", ms);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }

        tsr_test_sleep_ms(50);
    }

    /* renderers and helpers that outlived the browser */
    (void) kill(-pid, SIGKILL);

    return rc;
}


/* the page's result: the text of its <pre id="o"> */

static int
chromium_result(const char *path, char *result, size_t len)
{
    size_t       n;
    FILE        *f;
    char        *p, *e;
    static char  buf[OUT_MAX];

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    p = strstr(buf, "<pre id=\"o\">");
    if (p == NULL) {
        return -1;
    }

    p += sizeof("<pre id=\"o\">") - 1;

    e = strstr(p, "</pre>");
    if (e == NULL || (size_t) (e - p) >= len) {
        return -1;
    }

    memcpy(result, p, (size_t) (e - p));
    result[e - p] = '\0';

    return 0;
}


static int
chromium_run(const char *url, char *result, size_t len)
{
    int    rc;
    pid_t  pid;
    char   out[PATH_MAX + 32], err[PATH_MAX + 32];

    snprintf(out, sizeof(out), "%s/dom.html", tmp);
    snprintf(err, sizeof(err), "%s/chromium.log", tmp);

    pid = chromium_start(url, out, err);
    if (pid == -1) {
        return -1;
    }

    rc = chromium_wait(pid, CHROMIUM_MS);

    if (rc != 0 || chromium_result(out, result, len) != 0) {
        fprintf(stderr, "chromium: exit %d, no result (%s, %s)\n", rc, out,
                err);
        return -1;
    }

    return 0;
}


/* chromium here starts, renders a page and exits */

static int
chromium_probe(void)
{
    int    rc;
    pid_t  pid;
    char   out[PATH_MAX + 32], err[PATH_MAX + 32], result[64];

    if (chromium_path() == NULL) {
        return -1;
    }

    snprintf(out, sizeof(out), "%s/probe.html", tmp);
    snprintf(err, sizeof(err), "%s/probe.log", tmp);

    pid = chromium_start("data:text/html,<pre id=\"o\">ok</pre>", out, err);
    if (pid == -1) {
        return -1;
    }

    rc = chromium_wait(pid, PROBE_MS);

    if (rc != 0 || chromium_result(out, result, sizeof(result)) != 0
        || strcmp(result, "ok") != 0)
    {
        fprintf(stderr, "chromium does not run here: exit %d (%s)\n", rc,
                err);
        return -1;
    }

    return 0;
}


/* "nginx -V" names --with-http_v3_module */

static int
nginx_has_v3(void)
{
    int          found;
    FILE        *f;
    const char  *bin;
    char         cmd[PATH_MAX + 32], line[8192];

    bin = tsr_test_require("TSR_NGINX", "nginx", "nginx");

    snprintf(cmd, sizeof(cmd), "'%s' -V 2>&1", bin);

    f = popen(cmd, "r");
    if (f == NULL) {
        return 0;
    }

    found = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "--with-http_v3_module") != NULL) {
            found = 1;
        }
    }

    (void) pclose(f);

    return found;
}


static int
write_page(const char *name, const char *script)
{
    int   len;
    char  path[PATH_MAX + 64], page[8192];

    /*
     * Synchronous requests finish before the load event, when
     * --dump-dom prints the DOM.  get() answers "<body>@<ms>".
     */

    len = snprintf(page, sizeof(page),
        "<html><body><pre id=\"o\"></pre><script>\n"
        "var out = [];\n"
        "function get(u) {\n"
        "  var t = Date.now(), r;\n"
        "  try {\n"
        "    var x = new XMLHttpRequest();\n"
        "    x.open('GET', u, false); x.send();\n"
        "    r = x.status == 200 ? x.responseText : 'status' + x.status;\n"
        "  } catch (e) { r = 'error'; }\n"
        "  return r + '@' + (Date.now() - t);\n"
        "}\n"
        "function wait(ms) { var t = Date.now();"
        " while (Date.now() - t < ms) {} }\n"
        "%s\n"
        "document.getElementById('o').textContent = out.join(' ');\n"
        "</script></body></html>\n", script);

    if (len < 0 || (size_t) len >= sizeof(page)) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/%s", root, name);

    return tsr_test_write_file(path, page, (size_t) len, 0644);
}


/*
 * A node on "port", TCP and QUIC, with the fleet's Redis and key;
 * "tickets": fleet tickets, else stateful sessions; "ctl": also a TCP
 * origin on ctl_port answering /ready (node B).
 */

static int
write_node(node_t *nd, int tickets, int ctl)
{
    int   len;
    char  body[16384], ready[1024];

    ready[0] = '\0';

    if (ctl) {
        len = snprintf(ready, sizeof(ready),
            "  server {\n"
            "    listen 127.0.0.1:%d ssl;\n"
            "    ssl_certificate %s/%s.crt;\n"
            "    ssl_certificate_key %s/%s.key;\n"
            "    location = /ready {\n"
            "      add_header Access-Control-Allow-Origin * always;\n"
            "      default_type text/plain;\n"
            "      return 200 ready;\n"
            "    }\n"
            "  }\n", ctl_port, root, HOST, root, HOST);

        if (len < 0 || (size_t) len >= sizeof(ready)) {
            return -1;
        }
    }

    /*
     * keepalive_timeout 1s closes an idle QUIC connection, so that the
     * page's next request needs a new one (0 would close every QUIC
     * connection on its first packet).
     */

    len = snprintf(body, sizeof(body),
        "worker_processes 1;\n"
        "http {\n"
        "  log_format q '$request_uri $server_protocol "
        "$ssl_session_reused';\n"
        "  access_log %s q;\n"
        "  server {\n"
        "    listen 127.0.0.1:%d ssl;\n"
        "    listen 127.0.0.1:%d quic reuseport;\n"
        "    server_name %s;\n"
        "    ssl_certificate %s/%s.crt;\n"
        "    ssl_certificate_key %s/%s.key;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    ssl_session_tickets %s;\n"
        "    ssl_session_timeout 10m;\n"
        "    ssl_session_redis 127.0.0.1:%d;\n"
        "    ssl_session_redis_fleet_key %s;\n"
        "    ssl_session_redis_lookup_timeout " LOOKUP_TIMEOUT ";\n"
        "%s"
        "    add_header Alt-Svc 'h3=\":%d\"; ma=86400' always;\n"
        "    keepalive_timeout 1s;\n"
        "    location = /r {\n"
        "      default_type text/plain;\n"
        "      return 200 \"$server_protocol:$ssl_session_reused\";\n"
        "    }\n"
        "    location = / { return 200 \"ok\\n\"; }\n"
        "    location / { root %s; }\n"
        "  }\n"
        "%s"
        "}\n",
        nd->access_log, port, port, HOST, root, HOST, root, HOST,
        tickets ? "on" : "off", redis.port, key_file,
        tickets ? "    ssl_session_redis_ticket_keys on;\n" : "",
        port, root, ready);

    if (len < 0 || (size_t) len >= sizeof(body)) {
        return -1;
    }

    return tsr_test_nginx_write_conf(&nd->nginx, 0, "info", body);
}


/* starts a node with fresh logs; it serves once TLS over TCP completes */

static int
start_node(node_t *nd)
{
    int                i, reused;
    tsr_test_client_t  opts;

    if ((truncate(nd->nginx.error_log, 0) != 0 && errno != ENOENT)
        || (truncate(nd->access_log, 0) != 0 && errno != ENOENT))
    {
        return -1;
    }

    if (tsr_test_nginx_start(&nd->nginx) != 0) {
        return -1;
    }

    nd->running = 1;

    memset(&opts, 0, sizeof(tsr_test_client_t));
    opts.version = TSR_TEST_TLS13;
    opts.tickets = 1;
    opts.request = 1;
    opts.timeout_ms = 5000;

    for (i = 0; i < 50; i++) {
        if (tsr_test_tls_once(port, &opts, NULL, &reused) == 0) {
            return 0;
        }

        tsr_test_sleep_ms(100);
    }

    return -1;
}


static void
stop_node(node_t *nd)
{
    if (nd->running) {
        tsr_test_nginx_stop(&nd->nginx);
        nd->running = 0;
    }
}


static int
wait_log(const char *path, const char *needle, int ms)
{
    long long  end;

    end = tsr_test_now_ms() + ms;

    do {
        if (tsr_test_grep_count(path, needle) > 0) {
            return 0;
        }

        tsr_test_sleep_ms(50);

    } while (tsr_test_now_ms() < end);

    return -1;
}


/*
 * "name=<value>@<ms>" in the page's result: the value into "out" and the
 * milliseconds into *ms.  Returns 0 or -1.
 */

static int
field(const char *result, const char *name, char *out, size_t len,
    long *ms)
{
    size_t       n;
    const char  *p, *at, *e;
    char         key[32];

    snprintf(key, sizeof(key), "%s=", name);

    for (p = result; (p = strstr(p, key)) != NULL; p++) {
        if (p == result || p[-1] == ' ') {
            break;
        }
    }

    if (p == NULL) {
        return -1;
    }

    p += strlen(key);

    e = strchr(p, ' ');
    if (e == NULL) {
        e = p + strlen(p);
    }

    at = memchr(p, '@', (size_t) (e - p));
    if (at == NULL) {
        at = e;
    }

    n = (size_t) (at - p);

    if (n >= len) {
        return -1;
    }

    memcpy(out, p, n);
    out[n] = '\0';

    if (ms != NULL) {
        *ms = (at < e) ? strtol(at + 1, NULL, 10) : -1;
    }

    return 0;
}


/*
 * Node A serves the page and request 1 (a full QUIC handshake, whose
 * tickets the browser keeps), then stops; node B starts on the same
 * port and says so on its "ready" origin, which the page polls over
 * TCP; the page's requests 2 and 3 need new QUIC connections (A's was
 * closed, B's idles out between them): 2 resumes with A's ticket, 3
 * with B's.
 */

static void
test_quic_tickets_resume_across_nodes(void)
{
    int                rc, reused;
    long               ms;
    pid_t              pid;
    char               url[256], script[2048], out[PATH_MAX + 32];
    char               err[PATH_MAX + 32], result[1024], v[64];
    tsr_test_client_t  opts;

    snprintf(script, sizeof(script),
        "out.push('1=' + get('/r?n=1'));\n"
        "var t = Date.now(), ok = false;\n"
        "while (!ok && Date.now() - t < %d) {\n"
        "  ok = get('https://%s:%d/ready').indexOf('ready@') == 0;\n"
        "  if (!ok) { wait(100); }\n"
        "}\n"
        "out.push('ready=' + ok + '@' + (Date.now() - t));\n"
        "wait(1200);\n"
        "out.push('2=' + get('/r?n=2'));\n"
        "wait(1600);\n"
        "out.push('3=' + get('/r?n=3'));\n",
        READY_MS, HOST, ctl_port);

    /* what an earlier test's failure may have left running */
    stop_node(&nodes[0]);
    stop_node(&nodes[1]);

    CU_ASSERT_FATAL(write_page("cross.html", script) == 0);
    CU_ASSERT_FATAL(write_node(&nodes[0], 1, 0) == 0);
    CU_ASSERT_FATAL(write_node(&nodes[1], 1, 1) == 0);
    CU_ASSERT_FATAL(start_node(&nodes[0]) == 0);

    snprintf(url, sizeof(url), "https://%s:%d/cross.html", HOST, port);
    snprintf(out, sizeof(out), "%s/dom.html", tmp);
    snprintf(err, sizeof(err), "%s/chromium.log", tmp);

    pid = chromium_start(url, out, err);
    CU_ASSERT_FATAL(pid != -1);

    /* the browser holds A's tickets once request 1 is answered */

    rc = wait_log(nodes[0].access_log, "/r?n=1 ", 30000);
    CU_ASSERT(rc == 0);

    stop_node(&nodes[0]);

    if (rc == 0) {
        CU_ASSERT(start_node(&nodes[1]) == 0);
    }

    rc = chromium_wait(pid, CHROMIUM_MS);
    CU_ASSERT(rc == 0);

    memset(result, 0, sizeof(result));
    CU_ASSERT(chromium_result(out, result, sizeof(result)) == 0);

    printf("\n    page: %s\n    ", result);

    CU_ASSERT(field(result, "1", v, sizeof(v), NULL) == 0
              && strcmp(v, "HTTP/3.0:.") == 0);
    CU_ASSERT(field(result, "ready", v, sizeof(v), NULL) == 0
              && strcmp(v, "true") == 0);
    CU_ASSERT(field(result, "2", v, sizeof(v), &ms) == 0
              && strcmp(v, "HTTP/3.0:r") == 0);
    CU_ASSERT(field(result, "3", v, sizeof(v), NULL) == 0
              && strcmp(v, "HTTP/3.0:r") == 0);

    /* each node's own view: A made the session, B resumed it */

    CU_ASSERT(tsr_test_grep_count(nodes[0].access_log,
                                  "/r?n=1 HTTP/3.0 .") == 1);
    CU_ASSERT(tsr_test_grep_count(nodes[0].access_log, "/r?n=2 ") == 0);
    CU_ASSERT(tsr_test_grep_count(nodes[1].access_log,
                                  "/r?n=2 HTTP/3.0 r") == 1);
    CU_ASSERT(tsr_test_grep_count(nodes[1].access_log,
                                  "/r?n=3 HTTP/3.0 r") == 1);

    /* TLS over TCP beside QUIC, and TCP sessions resume too */

    memset(&opts, 0, sizeof(tsr_test_client_t));
    opts.version = TSR_TEST_TLS13;
    opts.tickets = 1;
    opts.request = 1;
    opts.timeout_ms = 5000;

    CU_ASSERT(tsr_test_tls_once(port, &opts, &opts.offer, &reused) == 0);
    CU_ASSERT(opts.offer != NULL);

    if (opts.offer != NULL) {
        CU_ASSERT(tsr_test_tls_once(port, &opts, NULL, &reused) == 0
                  && reused);
        SSL_SESSION_free(opts.offer);
    }

    CU_ASSERT(tsr_test_nginx_log_problems(&nodes[1].nginx) == 0);

    stop_node(&nodes[1]);

    CU_ASSERT(tsr_test_nginx_log_problems(&nodes[0].nginx) == 0);
}


/*
 * Stateful sessions (ssl_session_tickets off): every new connection
 * offers a session that only Redis has.  With Redis stopped, TLS over
 * TCP waits for its lookup until the deadline (the control: Redis
 * really does not answer), while QUIC handshakes, which never wait,
 * complete at once.
 */

static void
test_quic_handshake_does_not_wait_on_redis(void)
{
    int                i, reused;
    long               ms;
    long long          start, took;
    char               url[256], result[1024], v[64], name[8];
    tsr_test_client_t  opts;

    stop_node(&nodes[0]);
    stop_node(&nodes[1]);

    CU_ASSERT_FATAL(write_page("paused.html",
        "out.push('1=' + get('/r?n=1'));\n"
        "wait(1600);\n"
        "out.push('2=' + get('/r?n=2'));\n"
        "wait(1600);\n"
        "out.push('3=' + get('/r?n=3'));\n") == 0);

    CU_ASSERT_FATAL(write_node(&nodes[0], 0, 0) == 0);
    CU_ASSERT_FATAL(start_node(&nodes[0]) == 0);

    /* a session in Redis to offer over TCP */

    memset(&opts, 0, sizeof(tsr_test_client_t));
    opts.version = TSR_TEST_TLS13;
    opts.tickets = 1;
    opts.request = 1;
    opts.timeout_ms = 10000;

    CU_ASSERT(tsr_test_tls_once(port, &opts, &opts.offer, &reused) == 0);
    CU_ASSERT_FATAL(opts.offer != NULL);
    tsr_test_sleep_ms(200);

    CU_ASSERT_FATAL(tsr_test_redis_signal(&redis, SIGSTOP) == 0);

    start = tsr_test_now_ms();
    CU_ASSERT(tsr_test_tls_once(port, &opts, NULL, &reused) == 0);
    took = tsr_test_now_ms() - start;

    printf("\n    Redis stopped: TCP handshake offering a session %lld ms "
           "(its lookup waits up to " LOOKUP_TIMEOUT ")\n", took);

    CU_ASSERT(took >= LOOKUP_WAIT_MS);
    SSL_SESSION_free(opts.offer);

    snprintf(url, sizeof(url), "https://%s:%d/paused.html", HOST, port);

    start = tsr_test_now_ms();
    memset(result, 0, sizeof(result));
    CU_ASSERT(chromium_run(url, result, sizeof(result)) == 0);
    took = tsr_test_now_ms() - start;

    CU_ASSERT(tsr_test_redis_signal(&redis, SIGCONT) == 0);

    printf("    Redis stopped: page over QUIC in %lld ms: %s\n    ", took,
           result);

    for (i = 1; i <= 3; i++) {
        snprintf(name, sizeof(name), "%d", i);

        CU_ASSERT(field(result, name, v, sizeof(v), &ms) == 0
                  && strncmp(v, "HTTP/3.0:", 9) == 0
                  && ms >= 0 && ms < FAST_MS);
    }

    /* requests 2 and 3 came on new QUIC connections offering sessions */

    CU_ASSERT(tsr_test_grep_count(nodes[0].access_log,
                                  "/r?n=3 HTTP/3.0") == 1);

    CU_ASSERT(tsr_test_nginx_log_problems(&nodes[0].nginx) == 0);

    stop_node(&nodes[0]);
}


int
main(void)
{
    char          probe_dir[PATH_MAX];

    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_quic_tickets_resume_across_nodes),
        TSR_TEST_FN(test_quic_handshake_does_not_wait_on_redis)
    };

    setvbuf(stdout, NULL, _IONBF, 0);

    if (!nginx_has_v3()) {
        printf("skipped: nginx without http_v3 (--with-http_v3_module)\n");
        return 77;
    }

    if (tsr_test_mkdtemp("quic-probe", probe_dir, sizeof(probe_dir)) != 0) {
        return 1;
    }

    snprintf(tmp, sizeof(tmp), "%s", probe_dir);

    if (chromium_probe() != 0) {
        printf("skipped: no chromium (%s)\n",
               chromium_path() == NULL ? "not found"
                                       : "it does not run here");
        return 77;
    }

    return TSR_TEST_MAIN("quic", init_suite, clean_suite, tests);
}
