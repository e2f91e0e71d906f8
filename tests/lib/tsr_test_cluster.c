
/*
 * Test helpers: a Redis Cluster (three masters, three replicas) and a
 * Sentinel setup (a master, a replica, three sentinels), all private
 * redis-servers on loopback, plus redis-cli runs with a time bound.
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
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "tsr_test.h"


#define TSR_TEST_CLUSTER_WAIT   20000   /* ms for a cluster to form */
#define TSR_TEST_CLI_ARGS       64


static int tsr_test_cluster_conf(tsr_test_cluster_t *cl, int i);
static int tsr_test_cluster_synced(tsr_test_cluster_t *cl);
static int tsr_test_sentinel_tls(tsr_test_sentinel_t *s, tsr_test_redis_t *r,
    int *tls_port);
static int tsr_test_field(const char *text, const char *name, char *value,
    size_t len);
static void tsr_test_msleep(int ms);
static pid_t tsr_test_spawn(char **argv, int out);
static int tsr_test_vcli(char *out, size_t outlen, int ms, va_list args);


int
tsr_test_cluster_start(tsr_test_cluster_t *cl)
{
    int          i, rc, n;
    char        *argv[TSR_TEST_CLI_ARGS], addr[TSR_TEST_CLUSTER_NODES][32];
    size_t       len, tls_len;
    const char  *cli;
    pid_t        pid;
    int          fd;
    char         log[PATH_MAX + 32];

    cli = tsr_test_require("TSR_REDIS_CLI", "redis-cli", "redis-tools");

    len = 0;
    tls_len = 0;

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {

        /* a port picked may be taken meanwhile: pick again */

        for (n = 0; n < 3; n++) {
            cl->node[i].port = 0;

            if (tsr_test_cluster_conf(cl, i) == 0
                && tsr_test_redis_start(&cl->node[i]) == 0)
            {
                break;
            }
        }

        if (n == 3) {
            fprintf(stderr, "cluster node %d did not start\n", i);
            goto failed;
        }

        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", cl->node[i].port);

        len += snprintf(cl->seeds + len, sizeof(cl->seeds) - len, "%s%s",
                        i > 0 ? "," : "", addr[i]);

        if (cl->tls_dir != NULL) {
            tls_len += snprintf(cl->tls_seeds + tls_len,
                                sizeof(cl->tls_seeds) - tls_len,
                                "%s127.0.0.1:%d", i > 0 ? "," : "",
                                cl->tls_port[i]);
        }
    }

    n = 0;
    argv[n++] = (char *) cli;
    argv[n++] = (char *) "--cluster";
    argv[n++] = (char *) "create";

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        argv[n++] = addr[i];
    }

    argv[n++] = (char *) "--cluster-replicas";
    argv[n++] = (char *) "1";
    argv[n++] = (char *) "--cluster-yes";
    argv[n] = NULL;

    snprintf(log, sizeof(log), "%s/cluster-create.log", cl->node[0].dir);

    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        fprintf(stderr, "open(\"%s\") failed: %s\n", log, strerror(errno));
        goto failed;
    }

    pid = tsr_test_spawn(argv, fd);
    (void) close(fd);

    if (pid == -1) {
        goto failed;
    }

    rc = tsr_test_wait_child(pid, TSR_TEST_CLUSTER_WAIT);
    if (rc != 0) {
        fprintf(stderr, "redis-cli --cluster create failed (%d), see %s\n",
                rc, log);
        goto failed;
    }

    if (tsr_test_cluster_wait_ok(cl, TSR_TEST_CLUSTER_WAIT) != 0) {
        goto failed;
    }

    return 0;

failed:

    (void) tsr_test_cluster_stop(cl);

    return -1;
}


/* ports picked here: the cluster bus port must be free as well */

static int
tsr_test_cluster_conf(tsr_test_cluster_t *cl, int i)
{
    int                bus, n;
    tsr_test_redis_t  *r;

    r = &cl->node[i];

    if (r->port == 0) {
        r->port = tsr_test_free_port();
    }

    /* the kernel may hand out the same free port twice in a row */

    bus = -1;

    for (n = 0; n < 10 && (bus == -1 || bus == r->port); n++) {
        bus = tsr_test_free_port();
    }

    if (r->port == -1 || bus == -1 || bus == r->port) {
        return -1;
    }

    snprintf(r->extra, sizeof(r->extra),
             "cluster-enabled yes\n"
             "cluster-config-file nodes.conf\n"
             "cluster-node-timeout %d\n"
             "cluster-port %d\n"
             "repl-diskless-sync yes\n"
             "repl-diskless-sync-delay 0\n",
             cl->node_timeout > 0 ? cl->node_timeout : 1000, bus);

    if (cl->tls_dir == NULL) {
        return 0;
    }

    /* the bus and replication over TLS, as a TLS-only provider runs them */

    cl->tls_port[i] = -1;

    for (n = 0; n < 10 && (cl->tls_port[i] == -1 || cl->tls_port[i] == bus
                           || cl->tls_port[i] == r->port); n++)
    {
        cl->tls_port[i] = tsr_test_free_port();
    }

    if (cl->tls_port[i] == -1 || cl->tls_port[i] == bus
        || cl->tls_port[i] == r->port)
    {
        return -1;
    }

    n = strlen(r->extra);
    snprintf(r->extra + n, sizeof(r->extra) - n,
             "tls-cluster yes\n"
             "tls-replication yes\n");

    return tsr_test_redis_add_tls(r, cl->tls_dir, cl->tls_port[i], 0);
}


int
tsr_test_cluster_stop(tsr_test_cluster_t *cl)
{
    int  i, rc;

    rc = 0;

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        if (tsr_test_redis_stop(&cl->node[i]) != 0) {
            rc = -1;
        }
    }

    return rc;
}


int
tsr_test_cluster_wait_ok(tsr_test_cluster_t *cl, int ms)
{
    int        i, slot, ok, m, first;
    char       out[4096], value[64];
    long long  end;

    end = tsr_test_now_ms() + ms;

    for ( ;; ) {
        ok = 1;
        first = -1;

        for (i = 0; i < TSR_TEST_CLUSTER_NODES && ok; i++) {
            if (cl->node[i].pid == 0) {
                continue;
            }

            if (tsr_test_redis_cmd(&cl->node[i], out, sizeof(out),
                                   "CLUSTER INFO")
                != 0
                || tsr_test_field(out, "cluster_state", value, sizeof(value))
                   != 0
                || strcmp(value, "ok") != 0
                || tsr_test_field(out, "cluster_slots_ok", value,
                                  sizeof(value))
                   != 0
                || strcmp(value, "16384") != 0)
            {
                ok = 0;
            }

            if (first == -1) {
                first = i;
            }
        }

        /* every node names the same master for a few slots */

        for (slot = 0; ok && slot < 16384; slot += 4096) {
            m = tsr_test_cluster_master_of(cl, slot, first);

            for (i = 0; i < TSR_TEST_CLUSTER_NODES && ok; i++) {
                if (cl->node[i].pid != 0
                    && tsr_test_cluster_master_of(cl, slot, i) != m)
                {
                    ok = 0;
                }
            }
        }

        if (ok && tsr_test_cluster_synced(cl)) {
            return 0;
        }

        if (tsr_test_now_ms() >= end) {
            fprintf(stderr, "the redis cluster did not settle in %d ms\n",
                    ms);
            return -1;
        }

        tsr_test_msleep(50);
    }
}


/* every running replica's link to its master is up */

static int
tsr_test_cluster_synced(tsr_test_cluster_t *cl)
{
    int   i;
    char  out[8192], value[64];

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        if (cl->node[i].pid == 0) {
            continue;
        }

        if (tsr_test_redis_cmd(&cl->node[i], out, sizeof(out),
                               "INFO replication")
            != 0
            || tsr_test_field(out, "role", value, sizeof(value)) != 0)
        {
            return 0;
        }

        if (strcmp(value, "slave") == 0
            && (tsr_test_field(out, "master_link_status", value,
                               sizeof(value))
                != 0
                || strcmp(value, "up") != 0))
        {
            return 0;
        }
    }

    return 1;
}


int
tsr_test_cluster_master_of(tsr_test_cluster_t *cl, int slot, int asked)
{
    int    i, port, field, lo, hi;
    char   out[8192], *p, *line, *save, *tok, *tsave;

    if (asked == -1) {
        for (asked = 0; asked < TSR_TEST_CLUSTER_NODES; asked++) {
            if (cl->node[asked].pid != 0) {
                break;
            }
        }
    }

    if (asked >= TSR_TEST_CLUSTER_NODES || cl->node[asked].pid == 0) {
        return -1;
    }

    /* CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> ... <slots>" */

    if (tsr_test_redis_cmd(&cl->node[asked], out, sizeof(out),
                           "CLUSTER NODES")
        != 0)
    {
        return -1;
    }

    for (line = strtok_r(out, "\n", &save);
         line != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        if (strstr(line, "master") == NULL || strstr(line, "fail") != NULL) {
            continue;
        }

        port = 0;
        field = 0;

        for (tok = strtok_r(line, " ", &tsave);
             tok != NULL;
             tok = strtok_r(NULL, " ", &tsave), field++)
        {
            if (field == 1) {
                p = strchr(tok, ':');
                port = (p != NULL) ? atoi(p + 1) : 0;
                continue;
            }

            if (field < 8 || tok[0] == '[') {
                continue;
            }

            lo = atoi(tok);
            p = strchr(tok, '-');
            hi = (p != NULL) ? atoi(p + 1) : lo;

            if (slot >= lo && slot <= hi) {
                for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
                    if (cl->node[i].port == port) {
                        return i;
                    }
                }

                return -1;
            }
        }
    }

    return -1;
}


int
tsr_test_cluster_replica_of(tsr_test_cluster_t *cl, int master)
{
    int   i;
    char  out[4096], value[64];

    for (i = 0; i < TSR_TEST_CLUSTER_NODES; i++) {
        if (i == master || cl->node[i].pid == 0) {
            continue;
        }

        if (tsr_test_redis_cmd(&cl->node[i], out, sizeof(out),
                               "INFO replication")
            != 0
            || tsr_test_field(out, "master_port", value, sizeof(value)) != 0)
        {
            continue;
        }

        if (atoi(value) == cl->node[master].port) {
            return i;
        }
    }

    return -1;
}


int
tsr_test_cluster_node_id(tsr_test_cluster_t *cl, int i, char *id, size_t len)
{
    char  out[128];

    if (tsr_test_redis_cmd(&cl->node[i], out, sizeof(out), "CLUSTER MYID")
        != 0
        || strlen(out) != 40 || len < 41)
    {
        return -1;
    }

    memcpy(id, out, 41);

    return 0;
}


/* "name:value" of an INFO-style text, without the "\r" */

static int
tsr_test_field(const char *text, const char *name, char *value, size_t len)
{
    size_t       n, i;
    const char  *p;

    n = strlen(name);

    for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n') {
            p++;
        }

        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;

            for (i = 0; i + 1 < len && p[i] != '\0' && p[i] != '\r'
                        && p[i] != '\n';
                 i++)
            {
                value[i] = p[i];
            }

            value[i] = '\0';
            return 0;
        }
    }

    return -1;
}


int
tsr_test_redis_cli(char *out, size_t outlen, int ms, ...)
{
    int      rc;
    va_list  args;

    va_start(args, ms);
    rc = tsr_test_vcli(out, outlen, ms, args);
    va_end(args);

    return rc;
}


static int
tsr_test_vcli(char *out, size_t outlen, int ms, va_list args)
{
    int          n, rc, fds[2];
    char        *argv[TSR_TEST_CLI_ARGS];
    size_t       len;
    ssize_t      r;
    pid_t        pid;
    long long    end;
    const char  *arg;

    argv[0] = (char *) tsr_test_require("TSR_REDIS_CLI", "redis-cli",
                                        "redis-tools");

    for (n = 1; n < TSR_TEST_CLI_ARGS - 1; n++) {
        arg = va_arg(args, const char *);
        argv[n] = (char *) arg;

        if (arg == NULL) {
            break;
        }
    }

    argv[n] = NULL;

    if (pipe(fds) != 0) {
        return -1;
    }

    (void) fcntl(fds[0], F_SETFL, O_NONBLOCK);

    pid = tsr_test_spawn(argv, fds[1]);
    (void) close(fds[1]);

    if (pid == -1) {
        (void) close(fds[0]);
        return -1;
    }

    len = 0;
    end = tsr_test_now_ms() + ms;

    for ( ;; ) {
        r = read(fds[0], out + len, outlen > len + 1 ? outlen - len - 1 : 0);

        if (r > 0) {
            len += r;
            continue;
        }

        if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
            break;
        }

        if (tsr_test_now_ms() >= end) {
            break;
        }

        tsr_test_msleep(5);
    }

    (void) close(fds[0]);

    if (outlen > 0) {
        out[len < outlen ? len : outlen - 1] = '\0';
    }

    rc = tsr_test_wait_child(pid, (int) (end - tsr_test_now_ms()));

    return rc;
}


pid_t
tsr_test_redis_cli_spawn(const char *log, ...)
{
    int          n, fd;
    char        *argv[TSR_TEST_CLI_ARGS];
    pid_t        pid;
    va_list      args;
    const char  *arg;

    argv[0] = (char *) tsr_test_require("TSR_REDIS_CLI", "redis-cli",
                                        "redis-tools");

    va_start(args, log);

    for (n = 1; n < TSR_TEST_CLI_ARGS - 1; n++) {
        arg = va_arg(args, const char *);
        argv[n] = (char *) arg;

        if (arg == NULL) {
            break;
        }
    }

    va_end(args);

    argv[n] = NULL;

    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        fprintf(stderr, "open(\"%s\") failed: %s\n", log, strerror(errno));
        return -1;
    }

    pid = tsr_test_spawn(argv, fd);
    (void) close(fd);

    return pid;
}


/* a child with "out" as its stdout and stderr, dying with the test */

static pid_t
tsr_test_spawn(char **argv, int out)
{
    int    null;
    pid_t  pid, parent;

    parent = getpid();

    pid = fork();
    if (pid == -1) {
        fprintf(stderr, "fork() failed: %s\n", strerror(errno));
        return -1;
    }

    if (pid == 0) {
#if defined(__linux__)
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);

        if (getppid() != parent) {
            _exit(1);
        }
#endif
        (void) parent;

        null = open("/dev/null", O_RDONLY);
        if (null != -1) {
            (void) dup2(null, 0);
        }

        (void) dup2(out, 1);
        (void) dup2(out, 2);

        execv(argv[0], argv);
        _exit(127);
    }

    return pid;
}


int
tsr_test_wait_child(pid_t pid, int ms)
{
    int        status;
    pid_t      r;
    long long  end;

    end = tsr_test_now_ms() + (ms > 0 ? ms : 0);

    for ( ;; ) {
        r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }

        if (r == -1 && errno != EINTR) {
            return -1;
        }

        if (tsr_test_now_ms() >= end) {
            fprintf(stderr, "child %d still runs after %d ms, killing it\n",
                    (int) pid, ms);
            (void) kill(pid, SIGKILL);
            (void) waitpid(pid, &status, 0);
            return -1;
        }

        tsr_test_msleep(5);
    }
}


/* ---- Sentinel ---- */

int
tsr_test_sentinel_start(tsr_test_sentinel_t *s)
{
    int        i, ok, tls;
    char       out[8192], value[64];
    size_t     len, tls_len;
    long long  end;

    if (s->name[0] == '\0') {
        snprintf(s->name, sizeof(s->name), "tsrmaster");
    }

    tls = (s->tls_dir != NULL);

    snprintf(s->data[0].extra, sizeof(s->data[0].extra),
             "repl-diskless-sync yes\n"
             "repl-diskless-sync-delay 0\n"
             "%s", tls ? "tls-replication yes\n" : "");

    if (tls && tsr_test_sentinel_tls(s, &s->data[0], &s->data_tls_port[0])
               != 0)
    {
        goto failed;
    }

    if (tsr_test_redis_start(&s->data[0]) != 0) {
        goto failed;
    }

    /* with TLS, replication and the sentinels use the TLS ports only */

    snprintf(s->data[1].extra, sizeof(s->data[1].extra),
             "replicaof 127.0.0.1 %d\n"
             "repl-diskless-sync yes\n"
             "repl-diskless-sync-delay 0\n"
             "%s",
             tls ? s->data_tls_port[0] : s->data[0].port,
             tls ? "tls-replication yes\n" : "");

    if (tls && tsr_test_sentinel_tls(s, &s->data[1], &s->data_tls_port[1])
               != 0)
    {
        goto failed;
    }

    if (tsr_test_redis_start(&s->data[1]) != 0) {
        goto failed;
    }

    len = 0;
    tls_len = 0;

    for (i = 0; i < TSR_TEST_SENTINELS; i++) {
        s->sentinel[i].sentinel = 1;

        snprintf(s->sentinel[i].extra, sizeof(s->sentinel[i].extra),
                 "sentinel monitor %s 127.0.0.1 %d 2\n"
                 "sentinel down-after-milliseconds %s %d\n"
                 "sentinel failover-timeout %s %d\n"
                 "sentinel parallel-syncs %s 1\n"
                 "%s",
                 s->name, tls ? s->data_tls_port[0] : s->data[0].port,
                 s->name, s->down_after_ms > 0 ? s->down_after_ms : 500,
                 s->name,
                 s->failover_timeout_ms > 0 ? s->failover_timeout_ms : 3000,
                 s->name, tls ? "tls-replication yes\n" : "");

        if (tls && tsr_test_sentinel_tls(s, &s->sentinel[i],
                                         &s->sentinel_tls_port[i])
                   != 0)
        {
            goto failed;
        }

        if (tsr_test_redis_start(&s->sentinel[i]) != 0) {
            goto failed;
        }

        len += snprintf(s->sentinels + len, sizeof(s->sentinels) - len,
                        "%s127.0.0.1:%d", i > 0 ? "," : "",
                        s->sentinel[i].port);

        if (tls) {
            tls_len += snprintf(s->tls_sentinels + tls_len,
                                sizeof(s->tls_sentinels) - tls_len,
                                "%s127.0.0.1:%d", i > 0 ? "," : "",
                                s->sentinel_tls_port[i]);
        }
    }

    end = tsr_test_now_ms() + TSR_TEST_CLUSTER_WAIT;

    for ( ;; ) {
        ok = (tsr_test_redis_cmd(&s->data[1], out, sizeof(out),
                                 "INFO replication")
              == 0
              && tsr_test_field(out, "master_link_status", value,
                                sizeof(value))
                 == 0
              && strcmp(value, "up") == 0);

        for (i = 0; ok && i < TSR_TEST_SENTINELS; i++) {
            ok = (tsr_test_redis_cmd(&s->sentinel[i], out, sizeof(out),
                                     "SENTINEL MASTER %s", s->name)
                  == 0
                  && strstr(out, "num-slaves\n1") != NULL
                  && strstr(out, "num-other-sentinels\n2") != NULL);
        }

        if (ok) {
            return 0;
        }

        if (tsr_test_now_ms() >= end) {
            fprintf(stderr, "the sentinels did not settle in %d ms\n",
                    TSR_TEST_CLUSTER_WAIT);
            goto failed;
        }

        tsr_test_msleep(100);
    }

failed:

    (void) tsr_test_sentinel_stop(s);

    return -1;
}


int
tsr_test_sentinel_stop(tsr_test_sentinel_t *s)
{
    int  i, rc;

    rc = 0;

    for (i = 0; i < TSR_TEST_SENTINELS; i++) {
        rc |= tsr_test_redis_stop(&s->sentinel[i]);
    }

    rc |= tsr_test_redis_stop(&s->data[0]);
    rc |= tsr_test_redis_stop(&s->data[1]);

    return rc;
}


/*
 * A TLS port for "r" (not its plain one, which stays for the test's own
 * checks) with the sentinel's certificates.
 */

static int
tsr_test_sentinel_tls(tsr_test_sentinel_t *s, tsr_test_redis_t *r,
    int *tls_port)
{
    int  n;

    if (r->port == 0) {
        r->port = tsr_test_free_port();
    }

    *tls_port = -1;

    for (n = 0; n < 10 && (*tls_port == -1 || *tls_port == r->port); n++) {
        *tls_port = tsr_test_free_port();
    }

    if (r->port == -1 || *tls_port == -1 || *tls_port == r->port) {
        return -1;
    }

    return tsr_test_redis_add_tls(r, s->tls_dir, *tls_port, 0);
}


int
tsr_test_sentinel_master(tsr_test_sentinel_t *s)
{
    int    i, port;
    char   out[256], *nl;

    for (i = 0; i < TSR_TEST_SENTINELS; i++) {
        if (s->sentinel[i].pid == 0
            || tsr_test_redis_cmd(&s->sentinel[i], out, sizeof(out),
                                  "SENTINEL get-master-addr-by-name %s",
                                  s->name)
               != 0)
        {
            continue;
        }

        nl = strchr(out, '\n');
        if (nl == NULL) {
            continue;
        }

        port = atoi(nl + 1);

        if (s->tls_dir != NULL) {
            return (port == s->data_tls_port[0]) ? 0
                   : (port == s->data_tls_port[1]) ? 1 : -1;
        }

        return (port == s->data[0].port) ? 0
               : (port == s->data[1].port) ? 1 : -1;
    }

    return -1;
}


int
tsr_test_sentinel_wait_switch(tsr_test_sentinel_t *s, int old, int ms)
{
    char       out[256];
    long long  end;

    end = tsr_test_now_ms() + ms;

    for ( ;; ) {
        if (tsr_test_sentinel_master(s) == 1 - old
            && tsr_test_redis_cmd(&s->data[1 - old], out, sizeof(out), "ROLE")
               == 0
            && strncmp(out, "master", 6) == 0)
        {
            return 0;
        }

        if (tsr_test_now_ms() >= end) {
            return -1;
        }

        tsr_test_msleep(20);
    }
}


static void
tsr_test_msleep(int ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}
