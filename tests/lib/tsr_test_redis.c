
/*
 * Test helpers, common part and redis-server: temp dirs, free ports,
 * required programs, and a private redis-server per test suite.
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <hiredis/hiredis.h>

#include "tsr_test.h"


#define TSR_TEST_REQUIRED       8       /* programs remembered */
#define TSR_TEST_WAIT_MS        5000    /* start and stop bounds */
#define TSR_TEST_START_TRIES    3       /* new ports after a failed bind */
#define TSR_TEST_SUN_PATH       sizeof(((struct sockaddr_un *) 0)->sun_path)


typedef struct {
    char        name[64];
    char        path[PATH_MAX];
} tsr_test_program_t;


static int tsr_test_mkdir_p(const char *path);
static int tsr_test_redis_cat_certs(const char *to, const char *dir);
static int tsr_test_free_port_once(void);
static int tsr_test_redis_write_conf(tsr_test_redis_t *r);
static int tsr_test_redis_spawn(tsr_test_redis_t *r, const char *bin);
static int tsr_test_redis_wait(tsr_test_redis_t *r);
static int tsr_test_redis_reap(tsr_test_redis_t *r, int ms);
static redisContext *tsr_test_redis_connect(tsr_test_redis_t *r, int ms);
static void tsr_test_render(const redisReply *reply, char *out,
    size_t outlen, size_t *pos);
static void tsr_test_append(char *out, size_t outlen, size_t *pos,
    const char *s, size_t len);


static tsr_test_program_t  tsr_test_programs[TSR_TEST_REQUIRED];


int
tsr_test_mkdtemp(const char *tag, char *out, size_t outlen)
{
    int          n;
    const char  *base;

    base = getenv("TSR_TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }

    if (tsr_test_mkdir_p(base) != 0) {
        fprintf(stderr, "mkdir(\"%s\") failed: %s\n", base, strerror(errno));
        return -1;
    }

    n = snprintf(out, outlen, "%s/%s.XXXXXX", base, tag);
    if (n < 0 || (size_t) n >= outlen) {
        fprintf(stderr, "temp dir name too long under \"%s\"\n", base);
        return -1;
    }

    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "mkdtemp(\"%s\") failed: %s\n", out, strerror(errno));
        return -1;
    }

    if (chmod(out, 0755) != 0) {
        fprintf(stderr, "chmod(\"%s\") failed: %s\n", out, strerror(errno));
        return -1;
    }

    return 0;
}


static int
tsr_test_mkdir_p(const char *path)
{
    char    buf[PATH_MAX];
    char   *p;
    size_t  len;

    len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }

    memcpy(buf, path, len + 1);

    for (p = buf + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }

        *p = '\0';

        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            return -1;
        }

        *p = '/';
    }

    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        return -1;
    }

    return 0;
}


int
tsr_test_free_port(void)
{
    int  i, port, tries;

    /*
     * The kernel may hand the same free port to two binds in a row once
     * the first socket is closed: a node whose status and TLS servers got
     * one port failed to start in CI ("no ssl_certificate ... listen ...
     * ssl" for the status server).  No port is handed out twice by one
     * process.
     */

    static int   given[4096];
    static int   ngiven, next;

    for (tries = 0; tries < 64; tries++) {
        port = tsr_test_free_port_once();

        if (port == -1) {
            return -1;
        }

        for (i = 0; i < ngiven; i++) {
            if (given[i] == port) {
                break;
            }
        }

        if (i == ngiven) {
            given[next] = port;
            next = (next + 1) % 4096;

            if (ngiven < 4096) {
                ngiven++;
            }

            return port;
        }
    }

    fprintf(stderr, "no port not handed out before in 64 tries\n");

    return -1;
}


static int
tsr_test_free_port_once(void)
{
    int                 fd, port;
    socklen_t           len;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        fprintf(stderr, "socket() failed: %s\n", strerror(errno));
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    len = sizeof(sin);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
    {
        fprintf(stderr, "bind() to 127.0.0.1:0 failed: %s\n",
                strerror(errno));
        (void) close(fd);
        return -1;
    }

    port = ntohs(sin.sin_port);
    (void) close(fd);

    return port;
}


const char *
tsr_test_require(const char *env, const char *name, const char *package)
{
    const char  *path;

    path = tsr_test_find(env, name);
    if (path != NULL) {
        return path;
    }

    fprintf(stderr, "%s not found: apt-get install %s%s%s%s\n", name, package,
            env != NULL ? " (or set " : "", env != NULL ? env : "",
            env != NULL ? ")" : "");
    exit(1);
}


const char *
tsr_test_find(const char *env, const char *name)
{
    char         dirs[8192], *dir, *save;
    size_t       i;
    const char  *value, *path;

    value = (env != NULL) ? getenv(env) : NULL;
    if (value != NULL && value[0] != '\0' && access(value, X_OK) == 0) {
        return value;
    }

    for (i = 0; i < TSR_TEST_REQUIRED; i++) {
        if (strcmp(tsr_test_programs[i].name, name) == 0) {
            return tsr_test_programs[i].path;
        }

        if (tsr_test_programs[i].name[0] == '\0') {
            break;
        }
    }

    if (i == TSR_TEST_REQUIRED) {
        fprintf(stderr, "tsr_test_require(): too many programs\n");
        exit(1);
    }

    path = getenv("PATH");
    snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/sbin:/sbin",
             path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");

    for (dir = strtok_r(dirs, ":", &save);
         dir != NULL;
         dir = strtok_r(NULL, ":", &save))
    {
        snprintf(tsr_test_programs[i].path, sizeof(tsr_test_programs[i].path),
                 "%s/%s", dir, name);

        if (access(tsr_test_programs[i].path, X_OK) == 0) {
            snprintf(tsr_test_programs[i].name,
                     sizeof(tsr_test_programs[i].name), "%s", name);
            return tsr_test_programs[i].path;
        }
    }

    return NULL;
}


long long
tsr_test_now_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
tsr_test_write_file(const char *path, const void *data, size_t len, int mode)
{
    int          fd;
    size_t       done;
    ssize_t      n;
    const char  *p;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        fprintf(stderr, "open(\"%s\") failed: %s\n", path, strerror(errno));
        return -1;
    }

    /* the mode as asked, whatever the umask */
    if (fchmod(fd, (mode_t) mode) != 0) {
        fprintf(stderr, "fchmod(\"%s\") failed: %s\n", path, strerror(errno));
        goto failed;
    }

    p = data;

    for (done = 0; done < len; done += n) {
        n = write(fd, p + done, len - done);

        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            fprintf(stderr, "write(\"%s\") failed: %s\n", path,
                    strerror(errno));
            goto failed;
        }
    }

    if (close(fd) != 0) {
        fprintf(stderr, "close(\"%s\") failed: %s\n", path, strerror(errno));
        return -1;
    }

    return 0;

failed:

    (void) close(fd);

    return -1;
}


int
tsr_test_grep_count(const char *path, const char *needle)
{
    int      count;
    char    *line;
    FILE    *f;
    size_t   size;

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    count = 0;
    line = NULL;
    size = 0;

    while (getline(&line, &size, f) != -1) {
        if (strstr(line, needle) != NULL) {
            count++;
        }
    }

    free(line);
    (void) fclose(f);

    return count;
}


int
tsr_test_redis_start(tsr_test_redis_t *r)
{
    int          n, tries, picked;
    const char  *bin;

    if (r->pid != 0) {
        fprintf(stderr, "redis-server %d is already running\n",
                (int) r->pid);
        return -1;
    }

    bin = tsr_test_require("TSR_REDIS_SERVER", "redis-server",
                           "redis-server");

    if (r->dir[0] == '\0'
        && tsr_test_mkdtemp("redis", r->dir, sizeof(r->dir)) != 0)
    {
        return -1;
    }

    if (r->unix_path[0] == '\0') {
        n = snprintf(r->unix_path, sizeof(r->unix_path), "%s/redis.sock",
                     r->dir);

        if (n < 0 || (size_t) n >= TSR_TEST_SUN_PATH) {
            fprintf(stderr, "unix socket path \"%s/redis.sock\" too long "
                    "for redis-server, set a shorter TSR_TMPDIR\n", r->dir);
            r->unix_path[0] = '\0';
            return -1;
        }
    }

    /* a port we picked may be taken before redis binds it: pick again */
    picked = (r->port == 0);

    for (tries = 0; tries < TSR_TEST_START_TRIES; tries++) {
        if (r->port == 0) {
            r->port = tsr_test_free_port();
            if (r->port == -1) {
                r->port = 0;
                return -1;
            }
        }

        if (tsr_test_redis_write_conf(r) != 0
            || tsr_test_redis_spawn(r, bin) != 0)
        {
            return -1;
        }

        if (tsr_test_redis_wait(r) == 0) {
            return 0;
        }

        (void) tsr_test_redis_stop(r);

        if (!picked) {
            break;
        }

        r->port = 0;
    }

    fprintf(stderr, "redis-server did not start, see %s/redis.log\n", r->dir);

    return -1;
}


static int
tsr_test_redis_write_conf(tsr_test_redis_t *r)
{
    char         path[PATH_MAX + 16], text[8192];
    size_t       len;
    const char  *p;

    len = snprintf(text, sizeof(text),
                   "port %d\n"
                   "bind %s\n"
                   "unixsocket %s\n"
                   "unixsocketperm 777\n"
                   "save \"\"\n"
                   "appendonly no\n"
                   "dir %s\n"
                   "logfile %s/redis.log\n"
                   "daemonize no\n",
                   r->port,
                   (r->bind[0] != '\0') ? r->bind : "127.0.0.1",
                   r->unix_path, r->dir, r->dir);

    if (r->password[0] != '\0' && len < sizeof(text)) {
        len += snprintf(text + len, sizeof(text) - len, "requirepass \"");

        for (p = r->password; *p != '\0' && len + 3 < sizeof(text); p++) {
            if (*p == '"' || *p == '\\') {
                text[len++] = '\\';
            }

            text[len++] = *p;
        }

        if (len < sizeof(text)) {
            len += snprintf(text + len, sizeof(text) - len, "\"\n");
        }
    }

    if (r->extra[0] != '\0' && len < sizeof(text)) {
        len += snprintf(text + len, sizeof(text) - len, "%s\n", r->extra);
    }

    if (len >= sizeof(text)) {
        fprintf(stderr, "redis.conf too long\n");
        return -1;
    }

    snprintf(path, sizeof(path), "%s/redis.conf", r->dir);

    return tsr_test_write_file(path, text, len, 0644);
}


static int
tsr_test_redis_spawn(tsr_test_redis_t *r, const char *bin)
{
    char    conf[PATH_MAX + 16];
    char   *argv[4];
    pid_t   pid, parent;

    snprintf(conf, sizeof(conf), "%s/redis.conf", r->dir);

    argv[0] = (char *) bin;
    argv[1] = conf;
    argv[2] = r->sentinel ? (char *) "--sentinel" : NULL;
    argv[3] = NULL;

    parent = getpid();

    pid = fork();
    if (pid == -1) {
        fprintf(stderr, "fork() failed: %s\n", strerror(errno));
        return -1;
    }

    if (pid == 0) {
#if defined(__linux__)
        /* a crashed test program leaves no daemon behind */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);

        if (getppid() != parent) {
            _exit(1);
        }
#endif
        (void) parent;

        execv(bin, argv);
        fprintf(stderr, "execv(\"%s\") failed: %s\n", bin, strerror(errno));
        _exit(127);
    }

    r->pid = pid;

    return 0;
}


/* until it answers PING, it exits, or TSR_TEST_WAIT_MS pass */

static int
tsr_test_redis_wait(tsr_test_redis_t *r)
{
    int            status;
    pid_t          pid;
    long long      deadline;
    redisReply    *reply;
    redisContext  *c;

    deadline = tsr_test_now_ms() + TSR_TEST_WAIT_MS;

    while (tsr_test_now_ms() < deadline) {
        pid = waitpid(r->pid, &status, WNOHANG);

        if (pid == r->pid) {
            r->pid = 0;
            return -1;
        }

        c = tsr_test_redis_connect(r, 100);

        if (c != NULL) {
            reply = redisCommand(c, "PING");

            if (reply != NULL && reply->type == REDIS_REPLY_STATUS
                && strcmp(reply->str, "PONG") == 0)
            {
                freeReplyObject(reply);
                redisFree(c);
                return 0;
            }

            if (reply != NULL) {
                freeReplyObject(reply);
            }

            redisFree(c);
        }

        tsr_test_sleep_ms(10);
    }

    fprintf(stderr, "redis-server on port %d did not answer PING in %d ms\n",
            r->port, TSR_TEST_WAIT_MS);

    return -1;
}


int
tsr_test_redis_stop(tsr_test_redis_t *r)
{
    if (r->pid == 0) {
        return 0;
    }

    /* a stopped process handles SIGTERM only once continued */
    (void) kill(r->pid, SIGTERM);
    (void) kill(r->pid, SIGCONT);

    if (tsr_test_redis_reap(r, TSR_TEST_WAIT_MS) == 0) {
        return 0;
    }

    fprintf(stderr, "redis-server %d ignored SIGTERM for %d ms, killing it\n",
            (int) r->pid, TSR_TEST_WAIT_MS);

    (void) kill(r->pid, SIGKILL);
    (void) tsr_test_redis_reap(r, -1);

    return -1;
}


/* waits "ms" for the daemon to exit, -1: for ever */

static int
tsr_test_redis_reap(tsr_test_redis_t *r, int ms)
{
    int        status;
    pid_t      pid;
    long long  deadline;

    deadline = tsr_test_now_ms() + ms;

    for ( ;; ) {
        pid = waitpid(r->pid, &status, ms < 0 ? 0 : WNOHANG);

        if (pid == r->pid || (pid == -1 && errno == ECHILD)) {
            r->pid = 0;
            return 0;
        }

        if (pid == -1 && errno != EINTR) {
            fprintf(stderr, "waitpid(%d) failed: %s\n", (int) r->pid,
                    strerror(errno));
            return -1;
        }

        if (ms >= 0 && tsr_test_now_ms() >= deadline) {
            return -1;
        }

        if (ms >= 0) {
            tsr_test_sleep_ms(5);
        }
    }
}


int
tsr_test_redis_signal(tsr_test_redis_t *r, int sig)
{
    if (r->pid == 0) {
        fprintf(stderr, "redis-server is not running\n");
        return -1;
    }

    if (kill(r->pid, sig) != 0) {
        fprintf(stderr, "kill(%d, %d) failed: %s\n", (int) r->pid, sig,
                strerror(errno));
        return -1;
    }

    return 0;
}


int
tsr_test_redis_cmd(tsr_test_redis_t *r, char *out, size_t outlen,
    const char *fmt, ...)
{
    size_t         pos;
    va_list        args;
    redisReply    *reply;
    redisContext  *c;

    if (outlen > 0) {
        out[0] = '\0';
    }

    c = tsr_test_redis_connect(r, 1000);
    if (c == NULL) {
        fprintf(stderr, "cannot connect to redis-server on port %d\n",
                r->port);
        return -1;
    }

    va_start(args, fmt);
    reply = redisvCommand(c, fmt, args);
    va_end(args);

    if (reply == NULL) {
        fprintf(stderr, "redis command \"%s\" failed: %s\n", fmt, c->errstr);
        redisFree(c);
        return -1;
    }

    pos = 0;
    tsr_test_render(reply, out, outlen, &pos);

    freeReplyObject(reply);
    redisFree(c);

    return 0;
}


static long long
tsr_test_repl_offset(tsr_test_redis_t *r, const char *field)
{
    char        out[4096], *p;
    size_t      n;

    if (tsr_test_redis_cmd(r, out, sizeof(out), "INFO replication") != 0) {
        return -1;
    }

    n = strlen(field);

    for (p = out; (p = strstr(p, field)) != NULL; p += n) {
        if ((p == out || p[-1] == '\n') && p[n] == ':') {
            return strtoll(p + n + 1, NULL, 10);
        }
    }

    return -1;
}


int
tsr_test_redis_replicated(tsr_test_redis_t *master,
    tsr_test_redis_t *replica, long long ms)
{
    long long  want, have, deadline;

    want = tsr_test_repl_offset(master, "master_repl_offset");
    if (want < 0) {
        return -1;
    }

    deadline = tsr_test_now_ms() + ms;

    do {
        have = tsr_test_repl_offset(replica, "slave_repl_offset");
        if (have >= want) {
            return 0;
        }

        usleep(10000);

    } while (tsr_test_now_ms() < deadline);

    fprintf(stderr, "replica on port %d at offset %lld, the master at %lld "
            "after %lld ms\n", replica->port, have, want, ms);

    return -1;
}


int
tsr_test_redis_get_raw(tsr_test_redis_t *r, const char *key,
    unsigned char *out, size_t *outlen)
{
    int            rc;
    redisReply    *reply;
    redisContext  *c;

    c = tsr_test_redis_connect(r, 1000);
    if (c == NULL) {
        fprintf(stderr, "cannot connect to redis-server on port %d\n",
                r->port);
        return -1;
    }

    rc = -1;

    reply = redisCommand(c, "GET %s", key);

    if (reply == NULL) {
        fprintf(stderr, "GET failed: %s\n", c->errstr);

    } else if (reply->type != REDIS_REPLY_STRING) {
        if (reply->type != REDIS_REPLY_NIL) {
            fprintf(stderr, "GET returned reply type %d\n", reply->type);
        }

    } else if (reply->len > *outlen) {
        fprintf(stderr, "GET returned %zu bytes, room for %zu\n",
                reply->len, *outlen);

    } else {
        memcpy(out, reply->str, reply->len);
        *outlen = reply->len;
        rc = 0;
    }

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    redisFree(c);

    return rc;
}


/* a TCP connection, as the default user with r->password if set */

static redisContext *
tsr_test_redis_connect(tsr_test_redis_t *r, int ms)
{
    redisReply      *reply;
    redisContext    *c;
    struct timeval   tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    c = redisConnectWithTimeout((r->bind[0] != '\0') ? r->bind
                                                      : "127.0.0.1",
                                r->port, tv);
    if (c == NULL) {
        return NULL;
    }

    if (c->err) {
        redisFree(c);
        return NULL;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;
    (void) redisSetTimeout(c, tv);

    if (r->password[0] == '\0') {
        return c;
    }

    reply = redisCommand(c, "AUTH %s", r->password);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply != NULL) {
            fprintf(stderr, "AUTH failed: %s\n", reply->str);
            freeReplyObject(reply);
        }

        redisFree(c);
        return NULL;
    }

    freeReplyObject(reply);

    return c;
}


static void
tsr_test_render(const redisReply *reply, char *out, size_t outlen,
    size_t *pos)
{
    char    num[32];
    size_t  i;

    switch (reply->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        tsr_test_append(out, outlen, pos, reply->str, reply->len);
        break;

    case REDIS_REPLY_INTEGER:
        snprintf(num, sizeof(num), "%lld", reply->integer);
        tsr_test_append(out, outlen, pos, num, strlen(num));
        break;

    case REDIS_REPLY_NIL:
        tsr_test_append(out, outlen, pos, "(nil)", sizeof("(nil)") - 1);
        break;

    case REDIS_REPLY_ARRAY:
        for (i = 0; i < reply->elements; i++) {
            if (i > 0) {
                tsr_test_append(out, outlen, pos, "\n", 1);
            }

            tsr_test_render(reply->element[i], out, outlen, pos);
        }

        break;

    default:
        snprintf(num, sizeof(num), "(type %d)", reply->type);
        tsr_test_append(out, outlen, pos, num, strlen(num));
        break;
    }
}


/* appends what fits, always NUL-terminated */

static void
tsr_test_append(char *out, size_t outlen, size_t *pos, const char *s,
    size_t len)
{
    if (outlen == 0 || *pos >= outlen - 1) {
        return;
    }

    if (len > outlen - 1 - *pos) {
        len = outlen - 1 - *pos;
    }

    memcpy(out + *pos, s, len);
    *pos += len;
    out[*pos] = '\0';
}


void
tsr_test_sleep_ms(int ms)
{
    struct timespec  ts;

    if (ms <= 0) {
        return;
    }

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


/*
 * A redis-server with a TLS port beside its plain one (for the test
 * library's own commands): "redis.test" is its certificate and its own
 * CA, "other.test" a stranger's.
 */

int
tsr_test_redis_start_tls(tsr_test_redis_t *r, char *dir, size_t dirlen,
    int *tls_port, int auth_clients)
{
    memset(r, 0, sizeof(tsr_test_redis_t));

    if (tsr_test_tls_certs(dir, dirlen) != 0) {
        return -1;
    }

    *tls_port = tsr_test_free_port();

    if (*tls_port == -1
        || tsr_test_redis_add_tls(r, dir, *tls_port, auth_clients) != 0)
    {
        return -1;
    }

    return tsr_test_redis_start(r);
}


int
tsr_test_tls_certs(char *dir, size_t dirlen)
{
    char  key[256], crt[256];

    if (tsr_test_mkdtemp("redis-tls", dir, dirlen) != 0
        || strlen(dir) > 200)
    {
        return -1;
    }

    snprintf(key, sizeof(key), "%s/redis.key", dir);
    snprintf(crt, sizeof(crt), "%s/redis.crt", dir);

    if (tsr_test_write_cert("redis.test", key, crt) != 0) {
        return -1;
    }

    snprintf(key, sizeof(key), "%s/other.key", dir);
    snprintf(crt, sizeof(crt), "%s/other.crt", dir);

    if (tsr_test_write_cert("other.test", key, crt) != 0
        || chmod(key, 0600) != 0)
    {
        return -1;
    }

    /* clients' certificates are checked against both */

    snprintf(crt, sizeof(crt), "%s/both.crt", dir);

    return tsr_test_redis_cat_certs(crt, dir);
}


int
tsr_test_redis_add_tls(tsr_test_redis_t *r, const char *dir, int tls_port,
    int auth_clients)
{
    int     n;
    size_t  len;

    len = strlen(r->extra);

    n = snprintf(r->extra + len, sizeof(r->extra) - len,
                 "%s"
                 "tls-port %d\n"
                 "tls-cert-file %s/redis.crt\n"
                 "tls-key-file %s/redis.key\n"
                 "tls-ca-cert-file %s/both.crt\n"
                 "tls-auth-clients %s\n",
                 (len > 0 && r->extra[len - 1] != '\n') ? "\n" : "",
                 tls_port, dir, dir, dir,
                 auth_clients == 2 ? "optional" : auth_clients ? "yes" : "no");

    if (n < 0 || (size_t) n >= sizeof(r->extra) - len) {
        fprintf(stderr, "no room for the TLS lines in redis.conf\n");
        return -1;
    }

    return 0;
}


static int
tsr_test_redis_cat_certs(const char *to, const char *dir)
{
    int     rc;
    char    path[PATH_MAX], *text;
    FILE   *f;
    size_t  len, n;

    text = malloc(16384);
    if (text == NULL) {
        return -1;
    }

    len = 0;
    rc = 0;

    snprintf(path, sizeof(path), "%s/redis.crt", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        free(text);
        return -1;
    }

    len += fread(text, 1, 8192, f);
    fclose(f);

    snprintf(path, sizeof(path), "%s/other.crt", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        free(text);
        return -1;
    }

    n = fread(text + len, 1, 8192, f);
    fclose(f);

    rc = tsr_test_write_file(to, text, len + n, 0644);
    free(text);

    return rc;
}
