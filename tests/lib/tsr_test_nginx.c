
/*
 * nginx instances for integration tests: a prefix directory with
 * certificates, a generated nginx.conf loading the built modules, and
 * the master process run in the foreground of a child.
 */


#include "tsr_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>


#define TSR_TEST_DISTRO_MODULES  "/usr/lib/nginx/modules"


static const char *tsr_test_nginx_binary(void);
static int tsr_test_nginx_wait_ms(int ms);
static void tsr_test_nginx_env(void);
static int tsr_test_wait_exit(pid_t pid, int ms, int *status);


static const char *
tsr_test_nginx_binary(void)
{
    return tsr_test_require("TSR_NGINX", "nginx", "nginx");
}


/*
 * Start and stop bounds: "ms", or more from TSR_NGINX_WAIT_MS for an
 * nginx run slowly (under valgrind, say).
 */

static int
tsr_test_nginx_wait_ms(int ms)
{
    int          n;
    const char  *s;

    s = getenv("TSR_NGINX_WAIT_MS");
    n = (s != NULL) ? atoi(s) : 0;

    return (n > ms) ? n : ms;
}


/*
 * The modules of an --enable-asan build need the sanitizer runtime in
 * the distro nginx binary, which was built without it.
 */

static void
tsr_test_nginx_env(void)
{
    const char  *asan, *rt;

    asan = getenv("TSR_ASAN");
    rt = getenv("TSR_ASAN_RUNTIME");

    if (asan != NULL && strcmp(asan, "yes") == 0 && rt != NULL
        && rt[0] == '/')
    {
        setenv("LD_PRELOAD", rt, 1);

        /*
         * nginx does not free its cycle at exit: leaks are not ours.
         * Every dynamic module defines nginx's ngx_modules,
         * ngx_module_names and ngx_module_order, which nginx reads with
         * dlsym() on each module's own handle: not an ODR violation.
         */
        setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1:"
               "detect_odr_violation=0", 1);
    }
}


int
tsr_test_nginx_init(tsr_test_nginx_t *n, const char *tag,
    const char *const *cns)
{
    char  key[PATH_MAX], crt[PATH_MAX], logs[PATH_MAX];

    memset(n, 0, sizeof(tsr_test_nginx_t));

    if (tsr_test_mkdtemp(tag, n->dir, sizeof(n->dir)) != 0) {
        return -1;
    }

    snprintf(logs, sizeof(logs), "%s/logs", n->dir);
    if (mkdir(logs, 0755) != 0) {
        fprintf(stderr, "mkdir(\"%s\") failed: %s\n", logs, strerror(errno));
        return -1;
    }

    snprintf(n->conf, sizeof(n->conf), "%s/nginx.conf", n->dir);
    snprintf(n->error_log, sizeof(n->error_log), "%s/logs/error.log",
             n->dir);

    for ( /* void */ ; cns != NULL && *cns != NULL; cns++) {
        snprintf(key, sizeof(key), "%s/%s.key", n->dir, *cns);
        snprintf(crt, sizeof(crt), "%s/%s.crt", n->dir, *cns);

        if (tsr_test_write_cert(*cns, key, crt) != 0) {
            return -1;
        }
    }

    return 0;
}


int
tsr_test_nginx_write_conf(tsr_test_nginx_t *n, int stream, const char *level,
    const char *body)
{
    int          static_build;
    FILE        *f;
    const char  *mods, *distro, *st, *enabled;
    char         path[PATH_MAX + 16];

    /*
     * TSR_STATIC=1: the modules are built into TSR_NGINX, no load_module;
     * TSR_DISTRO_MODULES=none: stream is built in (an nginx built from
     * its sources), only the project's modules are loaded;
     * TSR_MODULES_ENABLED=DIR: the modules come from the snippets in DIR
     * (installed packages: /etc/nginx/modules-enabled), as the stock
     * nginx.conf includes them.
     */

    st = getenv("TSR_STATIC");
    static_build = (st != NULL && strcmp(st, "1") == 0);

    mods = getenv("TSR_MODULES");
    if (!static_build && (mods == NULL || mods[0] == '\0')) {
        fprintf(stderr, "TSR_MODULES is not set: run the tests with "
                "\"make check\"\n");
        return -1;
    }

    enabled = getenv("TSR_MODULES_ENABLED");
    if (enabled != NULL && enabled[0] != '\0') {
        static_build = 1;

        /*
         * The snippets say "modules/...", relative to the prefix, which
         * is the node's directory: modules/ there is TSR_MODULES.
         */

        if (mods == NULL || mods[0] == '\0'
            || snprintf(path, sizeof(path), "%s/modules", n->dir)
               >= (int) sizeof(path))
        {
            fprintf(stderr, "TSR_MODULES_ENABLED needs TSR_MODULES\n");
            return -1;
        }

        (void) unlink(path);

        if (symlink(mods, path) != 0) {
            fprintf(stderr, "symlink(\"%s\") failed: %s\n", path,
                    strerror(errno));
            return -1;
        }
    }

    distro = getenv("TSR_DISTRO_MODULES");
    if (distro == NULL || distro[0] == '\0') {
        distro = TSR_TEST_DISTRO_MODULES;
    }

    f = fopen(n->conf, "w");
    if (f == NULL) {
        fprintf(stderr, "fopen(\"%s\") failed: %s\n", n->conf,
                strerror(errno));
        return -1;
    }

    if (enabled != NULL && enabled[0] != '\0') {
        fprintf(f, "include %s/*.conf;\n", enabled);
    }

    if (stream && !static_build && strcmp(distro, "none") != 0) {
        fprintf(f, "load_module %s/ngx_stream_module.so;\n", distro);
    }

    if (!static_build) {
        fprintf(f, "load_module %s/ngx_http_ssl_session_redis_module.so;\n",
                mods);
    }

    if (stream && !static_build) {
        fprintf(f, "load_module %s/ngx_stream_ssl_session_redis_module.so;\n",
                mods);
    }

    fprintf(f, "daemon off;\n"
               "error_log %s/logs/error.log %s;\n"
               "pid %s/nginx.pid;\n"
               "events { worker_connections 1024; }\n"
               "%s\n",
            n->dir, level != NULL ? level : "info", n->dir,
            body != NULL ? body : "");

    if (fclose(f) != 0) {
        return -1;
    }

    return 0;
}


int
tsr_test_nginx_test_conf(tsr_test_nginx_t *n, char *out, size_t outlen)
{
    int          fds[2], status;
    pid_t        pid;
    size_t       len;
    ssize_t      r;
    const char  *nginx;

    nginx = tsr_test_nginx_binary();

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
        tsr_test_nginx_env();
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(nginx, nginx, "-t", "-q", "-p", n->dir, "-c", n->conf,
              (char *) NULL);
        _exit(127);
    }

    close(fds[1]);

    len = 0;
    for ( ;; ) {
        r = read(fds[0], out + len, outlen - 1 - len);
        if (r <= 0) {
            break;
        }
        len += r;
        if (len == outlen - 1) {
            break;
        }
    }
    out[len] = '\0';

    close(fds[0]);

    if (tsr_test_wait_exit(pid, 30000, &status) != 0) {
        return -1;
    }

    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}


int
tsr_test_nginx_start(tsr_test_nginx_t *n)
{
    int          fd, i, pidfd, wait;
    char         pidfile[PATH_MAX + 16], buf[32];
    pid_t        pid;
    ssize_t      r;
    const char  *nginx;

    nginx = tsr_test_nginx_binary();

    snprintf(pidfile, sizeof(pidfile), "%s/nginx.pid", n->dir);
    unlink(pidfile);

    pid = fork();

    if (pid == -1) {
        return -1;
    }

    if (pid == 0) {
        tsr_test_nginx_env();
        fd = open("/dev/null", O_RDWR);
        if (fd != -1) {
            dup2(fd, STDIN_FILENO);
        }
        execl(nginx, nginx, "-p", n->dir, "-c", n->conf, (char *) NULL);
        _exit(127);
    }

    n->pid = pid;

    /* ready once the master wrote its pid file after opening sockets */

    wait = tsr_test_nginx_wait_ms(5000);

    for (i = 0; i < wait / 10; i++) {
        pidfd = open(pidfile, O_RDONLY);
        if (pidfd != -1) {
            r = read(pidfd, buf, sizeof(buf) - 1);
            close(pidfd);
            if (r > 0) {
                tsr_test_sleep_ms(50);
                return 0;
            }
        }

        if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "nginx exited at start, see %s\n", n->error_log);
            n->pid = 0;
            return -1;
        }

        tsr_test_sleep_ms(10);
    }

    fprintf(stderr, "nginx did not start in %d ms, see %s\n", wait,
            n->error_log);
    tsr_test_nginx_stop(n);

    return -1;
}


int
tsr_test_nginx_signal(tsr_test_nginx_t *n, int sig)
{
    if (n->pid == 0) {
        return -1;
    }

    return kill(n->pid, sig);
}


int
tsr_test_nginx_stop(tsr_test_nginx_t *n)
{
    int  status;

    if (n->pid == 0) {
        return 0;
    }

    kill(n->pid, SIGQUIT);

    if (tsr_test_wait_exit(n->pid, tsr_test_nginx_wait_ms(10000), &status)
        != 0)
    {
        kill(n->pid, SIGKILL);
        waitpid(n->pid, &status, 0);
    }

    n->pid = 0;

    return 0;
}


int
tsr_test_nginx_log_problems(tsr_test_nginx_t *n)
{
    int  total, c;

    total = 0;

    c = tsr_test_grep_count(n->error_log, "[alert]");
    total += c > 0 ? c : 0;
    c = tsr_test_grep_count(n->error_log, "[crit]");
    total += c > 0 ? c : 0;
    c = tsr_test_grep_count(n->error_log, "[emerg]");
    total += c > 0 ? c : 0;
    c = tsr_test_grep_count(n->error_log, "exited on signal");
    total += c > 0 ? c : 0;

    return total;
}


static int
tsr_test_wait_exit(pid_t pid, int ms, int *status)
{
    int    i;
    pid_t  r;

    for (i = 0; i < ms; i += 10) {
        r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            return 0;
        }
        if (r == -1 && errno != EINTR) {
            return -1;
        }
        tsr_test_sleep_ms(10);
    }

    return -1;
}


int
tsr_test_nginx_get(int port, const char *path, char *buf, size_t size)
{
    int                 fd;
    char               *body;
    size_t              len;
    ssize_t             n;
    long long           start;
    struct timeval      tv;
    struct sockaddr_in  sin;
    char                req[256];

    buf[0] = '\0';

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;

    memset(&sin, 0, sizeof(struct sockaddr_in));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0
        || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0)
    {
        close(fd);
        return -1;
    }

    len = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);

    if (len >= sizeof(req) || write(fd, req, len) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    len = 0;
    start = tsr_test_now_ms();

    while (len < size - 1 && tsr_test_now_ms() - start < 5000) {
        n = read(fd, buf + len, size - 1 - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n <= 0) {
            break;
        }

        len += n;
    }

    close(fd);
    buf[len] = '\0';

    body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || body == NULL) {
        buf[0] = '\0';
        return -1;
    }

    memmove(buf, body + 4, strlen(body + 4) + 1);

    return 0;
}
