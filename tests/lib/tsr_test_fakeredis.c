
/*
 * A fake Redis for fault injection: a child process on a loopback port
 * that speaks enough RESP to stand in for Redis (PING, AUTH, SELECT,
 * INFO, GET, GETDEL, SET, DEL, the GETDEL script through EVAL, an in-memory
 * table of values) and, in its fault modes, answers the data commands
 * with what a broken or hostile server would send.  The parent switches
 * modes through a pipe; every switch closes the open connections, as a
 * server replaced by another would.
 */


#include "tsr_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif


#define TSR_FAKE_CLIENTS      64            /* connections at a time */
#define TSR_FAKE_IN_MAX       (256 * 1024)  /* a command, at most */
#define TSR_FAKE_OUT_MAX      (8 * 1024 * 1024)
#define TSR_FAKE_ARGS         16
#define TSR_FAKE_SLOTS        8192          /* values kept */
#define TSR_FAKE_VALUE_MAX    (64 * 1024)
#define TSR_FAKE_HUGE_SENT    (1024 * 1024) /* of the 2^31 announced */
#define TSR_FAKE_LIFETIME     (30 * 60 * 1000)
#define TSR_FAKE_DRIP_MS      1900          /* DRIP: between two bytes */
#define TSR_FAKE_DRIP_LEN     4096          /* DRIP: the value's bytes */

#define tsr_fake_nelts(a)     (sizeof(a) / sizeof(a[0]))


typedef struct {
    int             fd;
    unsigned        split:1;            /* one byte per send() */
    unsigned        reset:1;            /* RST once "out" is sent */
    unsigned        stuck:1;            /* answers nothing any more */
    unsigned        deaf:1;             /* reads nothing any more */
    unsigned        drip:1;             /* a byte every TSR_FAKE_DRIP_MS */
    long long       next_drip;
    size_t          in_len;
    size_t          out_len;
    size_t          out_size;
    char           *in;
    char           *out;
} tsr_fake_client_t;


typedef struct {
    char           *key;
    size_t          key_len;
    char           *val;
    size_t          val_len;
    int             asked;          /* TRAILING: its first GET answered */
} tsr_fake_slot_t;


typedef struct {
    int             mode;
    int             port;               /* its own, for CLUSTER SLOTS */
    int             moved_to;           /* MOVED: the port named */
    unsigned        turn;               /* rotates the fault replies */
    unsigned        version;            /* major * 10000 + minor * 100 +
                                           patch; 0: INFO refused */
    const char     *version_text;
    tsr_fake_slot_t slots[TSR_FAKE_SLOTS];
} tsr_fake_t;


typedef struct {
    const char     *data;
    size_t          len;
    size_t          pad;                /* bytes of a value that follow */
} tsr_fake_reply_t;


typedef struct {
    size_t          n;
    const char     *arg[TSR_FAKE_ARGS];
    size_t          len[TSR_FAKE_ARGS];
} tsr_fake_cmd_t;


static int tsr_fake_moved(tsr_fake_t *fk, tsr_fake_client_t *c,
    tsr_fake_cmd_t *cmd);
static void tsr_fake_run(int lfd, int ctl, int mode, const char *version,
    pid_t parent);
static int tsr_fake_setup(tsr_fake_t *fk, tsr_fake_client_t *c,
    tsr_fake_cmd_t *cmd);
static int tsr_fake_start_unix(tsr_test_fakeredis_t *f, int mode);
static int tsr_fake_spawn(tsr_test_fakeredis_t *f, int lfd, int mode);
static void tsr_fake_accept(int lfd, tsr_fake_client_t *cl);
static void tsr_fake_close(tsr_fake_client_t *c, int rst);
static int tsr_fake_read(tsr_fake_t *fk, tsr_fake_client_t *c);
static int tsr_fake_write(tsr_fake_client_t *c);
static ssize_t tsr_fake_parse(const char *p, size_t len, tsr_fake_cmd_t *cmd);
static int tsr_fake_command(tsr_fake_t *fk, tsr_fake_client_t *c,
    tsr_fake_cmd_t *cmd);
static int tsr_fake_normal(tsr_fake_t *fk, tsr_fake_client_t *c,
    tsr_fake_cmd_t *cmd);
static int tsr_fake_fault(tsr_fake_t *fk, tsr_fake_client_t *c,
    tsr_fake_cmd_t *cmd);
static int tsr_fake_is(const tsr_fake_cmd_t *cmd, size_t i, const char *s);
static tsr_fake_slot_t *tsr_fake_find(tsr_fake_t *fk, const char *key,
    size_t len, int create);
static int tsr_fake_append(tsr_fake_client_t *c, const char *data,
    size_t len);
static int tsr_fake_append_str(tsr_fake_client_t *c, const char *s);
static int tsr_fake_append_bulk(tsr_fake_client_t *c, const char *data,
    size_t len);
static int tsr_fake_nonblocking(int fd);
static int tsr_fake_drip(tsr_fake_client_t *c);


/*
 * Malformed RESP: an unknown type byte, lengths and integers that are
 * not numbers, a bulk string whose terminator is wrong, a negative
 * array length other than -1, a line without CR, nesting deeper than
 * hiredis supports.
 */

#define tsr_fake_reply(s)  { s, sizeof(s) - 1, 0 }

static const tsr_fake_reply_t  tsr_fake_garbage[] = {
    tsr_fake_reply("?what is this\r\n"),
    tsr_fake_reply("$abc\r\nxyz\r\n"),
    tsr_fake_reply(":12a\r\n"),
    tsr_fake_reply("*-5x\r\n"),
    tsr_fake_reply("$3\r\nabcdefgh\r\n"),
    tsr_fake_reply("$-7\r\n"),
    tsr_fake_reply("+OK\n\n\n\n"),
    tsr_fake_reply("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
                   ":1\r\n"),
    tsr_fake_reply("\x00\x01\x02\xff\xfe\r\n"),
    tsr_fake_reply("$99999999999999999999999\r\n"),
    tsr_fake_reply("*2147483647\r\n:1\r\n:2\r\n")
};


/*
 * Well-formed replies of the wrong type for GET and SET, the two Redis
 * error replies a store may meet, and values that are no session.
 */

static const tsr_fake_reply_t  tsr_fake_wrong[] = {
    tsr_fake_reply(":42\r\n"),
    tsr_fake_reply("*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    tsr_fake_reply("+OK\r\n"),
    tsr_fake_reply("-WRONGTYPE Operation against a key holding the wrong "
                   "kind of value\r\n"),
    tsr_fake_reply("-ERR something went wrong\r\n"),
    tsr_fake_reply("*-1\r\n"),
    tsr_fake_reply("*0\r\n"),
    tsr_fake_reply("$0\r\n\r\n"),
    tsr_fake_reply("$16\r\n0123456789abcdef\r\n"),
    tsr_fake_reply("*3\r\n:1\r\n*1\r\n$2\r\nxy\r\n$-1\r\n"),
    tsr_fake_reply("-OOM command not allowed when used memory > "
                   "'maxmemory'.\r\n"),
    { "$16385\r\n", 8, TSR_MAX_VALUE + 1 }     /* over the store's limit */
};


int
tsr_test_fakeredis_start(tsr_test_fakeredis_t *f, int mode)
{
    return tsr_test_fakeredis_start_version(f, mode, NULL);
}


/* MOVED: the port its redirections name, handed to the child by fork() */

static int  tsr_fake_moved_to;
static int  tsr_fake_own_port;              /* in the child */


int
tsr_test_fakeredis_start_moved(tsr_test_fakeredis_t *f, int to_port)
{
    int  rc;

    if (to_port < 1 || to_port > 65535) {
        return -1;
    }

    tsr_fake_moved_to = to_port;
    rc = tsr_test_fakeredis_start_version(f, TSR_TEST_FAKE_MOVED, NULL);
    tsr_fake_moved_to = 0;

    return rc;
}


int
tsr_test_fakeredis_start_version(tsr_test_fakeredis_t *f, int mode,
    const char *version)
{
    int                 lfd, one;
    socklen_t           len;
    struct sockaddr_in  sin;

    memset(f, 0, sizeof(tsr_test_fakeredis_t));
    f->ctl = -1;

    if (version == NULL) {
        version = TSR_TEST_FAKE_VERSION;
    }

    if (strlen(version) >= sizeof(f->version)) {
        fprintf(stderr, "fake redis: version \"%s\" too long\n", version);
        return -1;
    }

    memcpy(f->version, version, strlen(version) + 1);

    if (mode < TSR_TEST_FAKE_NORMAL || mode > TSR_TEST_FAKE_LAST) {
        fprintf(stderr, "fake redis: unknown mode %d\n", mode);
        return -1;
    }

    if (mode == TSR_TEST_FAKE_MOVED && tsr_fake_moved_to == 0) {
        fprintf(stderr, "fake redis: MOVED needs the port it names "
                "(tsr_test_fakeredis_start_moved())\n");
        return -1;
    }

    /* bound before the fork: the port accepts once this returns */

    if (mode == TSR_TEST_FAKE_DEAF) {
        return tsr_fake_start_unix(f, mode);
    }

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd == -1) {
        fprintf(stderr, "socket() failed: %s\n", strerror(errno));
        return -1;
    }

    one = 1;
    (void) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));


    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = 0;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    len = sizeof(sin);

    if (bind(lfd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(lfd, 128) != 0
        || getsockname(lfd, (struct sockaddr *) &sin, &len) != 0
        || tsr_fake_nonblocking(lfd) != 0)
    {
        fprintf(stderr, "fake redis: listen failed: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }

    f->port = ntohs(sin.sin_port);

    return tsr_fake_spawn(f, lfd, mode);
}


/*
 * DEAF listens on a unix socket: there the unread bytes a client may
 * queue are its send buffer (208 KiB by default), which the store's
 * queue bound exceeds, while over loopback TCP the kernel sizes the
 * buffer for 64 KiB segments.
 */

static int
tsr_fake_start_unix(tsr_test_fakeredis_t *f, int mode)
{
    int                 lfd;
    char                dir[PATH_MAX];
    struct sockaddr_un  sun;

    if (tsr_test_mkdtemp("fake-redis", dir, sizeof(dir)) != 0) {
        return -1;
    }

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;

    if (snprintf(f->unix_path, sizeof(f->unix_path), "%s/redis.sock", dir)
        >= (int) sizeof(sun.sun_path))
    {
        fprintf(stderr, "fake redis: socket path too long in \"%s\"\n", dir);
        return -1;
    }

    memcpy(sun.sun_path, f->unix_path, strlen(f->unix_path));

    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd == -1) {
        fprintf(stderr, "socket() failed: %s\n", strerror(errno));
        return -1;
    }

    /* nginx's workers may run as another user */

    if (bind(lfd, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || chmod(f->unix_path, 0777) != 0
        || listen(lfd, 128) != 0
        || tsr_fake_nonblocking(lfd) != 0)
    {
        fprintf(stderr, "fake redis: listen failed: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }

    return tsr_fake_spawn(f, lfd, mode);
}


/* the fake's process on listening socket "lfd", which it takes over */

static int
tsr_fake_spawn(tsr_test_fakeredis_t *f, int lfd, int mode)
{
    int    ctl[2];
    pid_t  pid, parent;

    if (pipe(ctl) != 0) {
        fprintf(stderr, "pipe() failed: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }

    parent = getpid();

    fflush(stdout);
    fflush(stderr);

    pid = fork();

    if (pid == -1) {
        fprintf(stderr, "fork() failed: %s\n", strerror(errno));
        close(lfd);
        close(ctl[0]);
        close(ctl[1]);
        return -1;
    }

    if (pid == 0) {
        close(ctl[1]);
        tsr_fake_own_port = f->port;
        tsr_fake_run(lfd, ctl[0], mode, f->version, parent);
        _exit(0);
    }

    close(lfd);
    close(ctl[0]);

    (void) fcntl(ctl[1], F_SETFD, FD_CLOEXEC);

    f->mode = mode;
    f->pid = pid;
    f->ctl = ctl[1];

    return 0;
}


int
tsr_test_fakeredis_set_mode(tsr_test_fakeredis_t *f, int mode)
{
    unsigned char  m;

    if (f->pid == 0 || mode < TSR_TEST_FAKE_NORMAL
        || mode > TSR_TEST_FAKE_LAST)
    {
        return -1;
    }

    m = (unsigned char) mode;

    if (write(f->ctl, &m, 1) != 1) {
        fprintf(stderr, "fake redis: write() to the control pipe failed: "
                "%s\n", strerror(errno));
        return -1;
    }

    f->mode = mode;

    /* the switch is done once the child has read the byte */

    usleep(20000);

    return 0;
}


int
tsr_test_fakeredis_stop(tsr_test_fakeredis_t *f)
{
    int    i, status;
    pid_t  r;

    if (f->pid == 0) {
        return 0;
    }

    /* end of the control pipe: the child exits */

    close(f->ctl);
    f->ctl = -1;

    for (i = 0; i < 500; i++) {
        r = waitpid(f->pid, &status, WNOHANG);
        if (r == f->pid || (r == -1 && errno != EINTR)) {
            f->pid = 0;
            return 0;
        }

        usleep(10000);
    }

    kill(f->pid, SIGKILL);
    waitpid(f->pid, &status, 0);
    f->pid = 0;

    return -1;
}


const char *
tsr_test_fakeredis_mode_name(int mode)
{
    static const char  *names[] = {
        "normal", "malformed RESP", "wrong reply types", "bulk length 2^31",
        "replies split byte by byte", "reset mid-reply",
        "no reply to commands", "no reply at all", "an extra reply",
        "a key's first GET before its SET",
        "stops reading after the setup",
        "a byte every 1.9 s",
        "a stale slot map: MOVED"
    };

    if (mode < TSR_TEST_FAKE_NORMAL || mode > TSR_TEST_FAKE_LAST) {
        return "?";
    }

    return names[mode];
}


static void
tsr_fake_run(int lfd, int ctl, int mode, const char *version, pid_t parent)
{
    unsigned            major, minor, patch;
    int                 i, n, dripping;
    ssize_t             r;
    long long           start, now;
    tsr_fake_t         *fk;
    unsigned char       m[16];
    struct pollfd       fds[2 + TSR_FAKE_CLIENTS];
    tsr_fake_client_t   cl[TSR_FAKE_CLIENTS];

    (void) signal(SIGTERM, SIG_DFL);
    (void) signal(SIGINT, SIG_DFL);
    (void) signal(SIGPIPE, SIG_IGN);

#if defined(__linux__)
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif

    if (getppid() != parent) {
        _exit(1);
    }

    fk = calloc(1, sizeof(tsr_fake_t));
    if (fk == NULL) {
        _exit(1);
    }

    fk->mode = mode;
    fk->port = tsr_fake_own_port;
    fk->moved_to = tsr_fake_moved_to;
    fk->version_text = version;

    if (sscanf(version, "%u.%u.%u", &major, &minor, &patch) == 3) {
        fk->version = major * 10000 + minor * 100 + patch;
    }

    for (i = 0; i < TSR_FAKE_CLIENTS; i++) {
        memset(&cl[i], 0, sizeof(tsr_fake_client_t));
        cl[i].fd = -1;
    }

    start = tsr_test_now_ms();

    for ( ;; ) {
        if (tsr_test_now_ms() - start > TSR_FAKE_LIFETIME
            || getppid() != parent)
        {
            _exit(0);
        }

        fds[0].fd = lfd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = ctl;
        fds[1].events = POLLIN;
        fds[1].revents = 0;

        dripping = 0;

        for (i = 0; i < TSR_FAKE_CLIENTS; i++) {
            fds[2 + i].fd = cl[i].fd;
            fds[2 + i].events = cl[i].deaf ? 0 : POLLIN;
            fds[2 + i].revents = 0;

            if (cl[i].out_len > 0 && cl[i].drip) {
                dripping = 1;

            } else if (cl[i].out_len > 0) {
                fds[2 + i].events |= POLLOUT;
            }
        }

        n = poll(fds, 2 + TSR_FAKE_CLIENTS, dripping ? 50 : 1000);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            _exit(1);
        }

        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            r = read(ctl, m, sizeof(m));

            if (r == 0 || (r == -1 && errno != EINTR)) {
                _exit(0);
            }

            if (r > 0) {
                fk->mode = m[r - 1];
                fk->turn = 0;

                for (i = 0; i < TSR_FAKE_CLIENTS; i++) {
                    tsr_fake_close(&cl[i], 0);
                }

                continue;
            }
        }

        for (i = 0; i < TSR_FAKE_CLIENTS; i++) {
            if (cl[i].fd == -1) {
                continue;
            }

            if ((fds[2 + i].revents & POLLOUT)
                && tsr_fake_write(&cl[i]) != 0)
            {
                tsr_fake_close(&cl[i], cl[i].reset);
                continue;
            }

            if (cl[i].deaf && (fds[2 + i].revents & (POLLHUP | POLLERR))) {
                tsr_fake_close(&cl[i], 0);
                continue;
            }

            if ((fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
                && !cl[i].deaf
                && tsr_fake_read(fk, &cl[i]) != 0)
            {
                tsr_fake_close(&cl[i], 0);
                continue;
            }

            if (cl[i].drip) {
                now = tsr_test_now_ms();

                if (cl[i].out_len == 0 || now < cl[i].next_drip) {
                    continue;
                }

                r = send(cl[i].fd, cl[i].out, 1, MSG_NOSIGNAL);

                if (r == -1 && errno != EAGAIN && errno != EINTR) {
                    tsr_fake_close(&cl[i], 0);
                    continue;
                }

                if (r == 1) {
                    memmove(cl[i].out, cl[i].out + 1, --cl[i].out_len);
                    cl[i].next_drip = now + TSR_FAKE_DRIP_MS;
                }

                continue;
            }

            /* whatever fits in the socket goes at once */

            if (cl[i].out_len > 0 && tsr_fake_write(&cl[i]) != 0) {
                tsr_fake_close(&cl[i], cl[i].reset);
            }
        }

        if (fds[0].revents & POLLIN) {
            tsr_fake_accept(lfd, cl);
        }
    }
}


static void
tsr_fake_accept(int lfd, tsr_fake_client_t *cl)
{
    int  i, fd, one;

    for ( ;; ) {
        fd = accept(lfd, NULL, NULL);
        if (fd == -1) {
            return;
        }

        for (i = 0; i < TSR_FAKE_CLIENTS; i++) {
            if (cl[i].fd == -1) {
                break;
            }
        }

        if (i == TSR_FAKE_CLIENTS || tsr_fake_nonblocking(fd) != 0) {
            close(fd);
            continue;
        }

        one = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        memset(&cl[i], 0, sizeof(tsr_fake_client_t));
        cl[i].fd = fd;
        cl[i].in = malloc(TSR_FAKE_IN_MAX);

        if (cl[i].in == NULL) {
            tsr_fake_close(&cl[i], 0);
        }
    }
}


/* with "rst" the peer sees a reset instead of an orderly close */

static void
tsr_fake_close(tsr_fake_client_t *c, int rst)
{
    struct linger  lg;

    if (c->fd == -1) {
        return;
    }

    if (rst) {
        lg.l_onoff = 1;
        lg.l_linger = 0;
        (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }

    close(c->fd);
    free(c->in);
    free(c->out);

    memset(c, 0, sizeof(tsr_fake_client_t));
    c->fd = -1;
}


static int
tsr_fake_read(tsr_fake_t *fk, tsr_fake_client_t *c)
{
    size_t          off;
    ssize_t         n, used;
    tsr_fake_cmd_t  cmd;

    for ( ;; ) {
        if (c->in_len == TSR_FAKE_IN_MAX) {
            return -1;
        }

        n = read(c->fd, c->in + c->in_len, TSR_FAKE_IN_MAX - c->in_len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }

        if (n <= 0) {
            return -1;
        }

        c->in_len += n;
    }

    off = 0;

    while (off < c->in_len) {
        used = tsr_fake_parse(c->in + off, c->in_len - off, &cmd);

        if (used == -1) {
            return -1;
        }

        if (used == 0) {
            break;
        }

        off += used;

        if (c->stuck || c->reset) {
            continue;
        }

        if (tsr_fake_command(fk, c, &cmd) != 0) {
            return -1;
        }
    }

    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;

    return 0;
}


static int
tsr_fake_write(tsr_fake_client_t *c)
{
    size_t   len;
    ssize_t  n;

    while (c->out_len > 0) {
        len = c->split ? 1 : c->out_len;

        n = send(c->fd, c->out, len, MSG_NOSIGNAL);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }

        if (n <= 0) {
            return -1;
        }

        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }

    /* a reset mid-reply: the first half went out, now the RST */

    return c->reset ? -1 : 0;
}


/*
 * One command as hiredis sends it: an array of bulk strings.  Returns
 * the bytes it takes, 0 when incomplete, -1 when malformed.
 */

static ssize_t
tsr_fake_parse(const char *p, size_t len, tsr_fake_cmd_t *cmd)
{
    long         n, k;
    size_t       i, pos;
    char        *end;
    const char  *nl;

    nl = memchr(p, '\n', len);
    if (nl == NULL) {
        return 0;
    }

    if (p[0] != '*') {
        return -1;
    }

    n = strtol(p + 1, &end, 10);
    if (n < 1 || n > TSR_FAKE_ARGS || *end != '\r') {
        return -1;
    }

    pos = nl - p + 1;
    cmd->n = n;

    for (i = 0; i < (size_t) n; i++) {
        if (pos >= len) {
            return 0;
        }

        nl = memchr(p + pos, '\n', len - pos);
        if (nl == NULL) {
            return 0;
        }

        if (p[pos] != '$') {
            return -1;
        }

        k = strtol(p + pos + 1, &end, 10);
        if (k < 0 || k > TSR_FAKE_IN_MAX || *end != '\r') {
            return -1;
        }

        pos = nl - p + 1;

        if (pos + k + 2 > len) {
            return 0;
        }

        cmd->arg[i] = p + pos;
        cmd->len[i] = k;
        pos += k + 2;
    }

    return pos;
}


static int
tsr_fake_command(tsr_fake_t *fk, tsr_fake_client_t *c, tsr_fake_cmd_t *cmd)
{
    if (fk->mode == TSR_TEST_FAKE_MUTE) {
        c->stuck = 1;
        return 0;
    }

    /* the connection setup works in every other mode */

    if (tsr_fake_is(cmd, 0, "PING") || tsr_fake_is(cmd, 0, "AUTH")
        || tsr_fake_is(cmd, 0, "SELECT") || tsr_fake_is(cmd, 0, "INFO"))
    {
        return tsr_fake_setup(fk, c, cmd);
    }

    switch (fk->mode) {

    case TSR_TEST_FAKE_NORMAL:
    case TSR_TEST_FAKE_TRAILING:
        return tsr_fake_normal(fk, c, cmd);

    case TSR_TEST_FAKE_SPLIT:
        c->split = 1;
        return tsr_fake_normal(fk, c, cmd);

    case TSR_TEST_FAKE_DEAF:
        /* no reply, and not a byte read from now on */
        c->stuck = 1;
        c->deaf = 1;
        return 0;

    case TSR_TEST_FAKE_DRIP:
        /* a reply that is never late for a read, and never complete */
        c->drip = 1;
        return tsr_fake_drip(c);

    case TSR_TEST_FAKE_MOVED:
        return tsr_fake_moved(fk, c, cmd);

    case TSR_TEST_FAKE_EXTRA:
        if (tsr_fake_normal(fk, c, cmd) != 0) {
            return -1;
        }

        /* and one more reply nobody asked for */
        return tsr_fake_append_str(c, ":1\r\n");

    default:
        return tsr_fake_fault(fk, c, cmd);
    }
}


/* PING, AUTH, SELECT and INFO as the fake's version answers them */

static int
tsr_fake_setup(tsr_fake_t *fk, tsr_fake_client_t *c, tsr_fake_cmd_t *cmd)
{
    int   n;
    char  info[256];

    if (tsr_fake_is(cmd, 0, "PING")) {
        return tsr_fake_append_str(c, "+PONG\r\n");
    }

    if (tsr_fake_is(cmd, 0, "INFO")) {
        if (fk->version == 0) {
            /* renamed away, as some managed services do */
            return tsr_fake_append_str(c, "-ERR unknown command `INFO`, "
                                       "with args beginning with: \r\n");
        }

        n = snprintf(info, sizeof(info), "# Server\r\nredis_version:%s\r\n"
                     "redis_mode:standalone\r\n", fk->version_text);

        return tsr_fake_append_bulk(c, info, (size_t) n);
    }

    /* before 6.0 AUTH takes the password alone */
    if (tsr_fake_is(cmd, 0, "AUTH") && cmd->n != 2
        && fk->version != 0 && fk->version < 60000)
    {
        return tsr_fake_append_str(c, "-ERR wrong number of arguments for "
                                   "'auth' command\r\n");
    }

    return tsr_fake_append_str(c, "+OK\r\n");
}


static int
tsr_fake_normal(tsr_fake_t *fk, tsr_fake_client_t *c, tsr_fake_cmd_t *cmd)
{
    int               del;
    char             *val;
    size_t            klen;
    const char       *k;
    tsr_fake_slot_t  *s;

    del = 0;

    if ((tsr_fake_is(cmd, 0, "GET") || tsr_fake_is(cmd, 0, "GETDEL"))
        && cmd->n == 2)
    {
        del = tsr_fake_is(cmd, 0, "GETDEL");
        k = cmd->arg[1];
        klen = cmd->len[1];

        if (del && fk->version != 0 && fk->version < 60200) {
            return tsr_fake_append_str(c, "-ERR unknown command `GETDEL`, "
                                       "with args beginning with: \r\n");
        }

    } else if (tsr_fake_is(cmd, 0, "EVAL") && cmd->n == 4) {
        /* the store's GETDEL script for Redis before 6.2 */
        del = 1;
        k = cmd->arg[3];
        klen = cmd->len[3];

    } else if (tsr_fake_is(cmd, 0, "SET") && cmd->n >= 3) {
        if (cmd->len[2] > TSR_FAKE_VALUE_MAX) {
            return tsr_fake_append_str(c, "-ERR value too large\r\n");
        }

        s = tsr_fake_find(fk, cmd->arg[1], cmd->len[1], 1);
        if (s == NULL) {
            return tsr_fake_append_str(c, "-OOM no room\r\n");
        }

        val = malloc(cmd->len[2] + 1);
        if (val == NULL) {
            return -1;
        }

        memcpy(val, cmd->arg[2], cmd->len[2]);
        free(s->val);
        s->val = val;
        s->val_len = cmd->len[2];

        return tsr_fake_append_str(c, "+OK\r\n");

    } else if (tsr_fake_is(cmd, 0, "DEL") && cmd->n == 2) {
        s = tsr_fake_find(fk, cmd->arg[1], cmd->len[1], 0);
        if (s == NULL) {
            return tsr_fake_append_str(c, ":0\r\n");
        }

        free(s->key);
        free(s->val);
        memset(s, 0, sizeof(tsr_fake_slot_t));

        return tsr_fake_append_str(c, ":1\r\n");

    } else {
        return tsr_fake_append_str(c, "-ERR unknown command\r\n");
    }

    s = tsr_fake_find(fk, k, klen, 0);
    if (s == NULL) {
        return tsr_fake_append_str(c, "$-1\r\n");
    }

    /* as if the GET had run before the SET another client sent first */
    if (fk->mode == TSR_TEST_FAKE_TRAILING && !del && !s->asked) {
        s->asked = 1;
        return tsr_fake_append_str(c, "$-1\r\n");
    }

    if (tsr_fake_append_bulk(c, s->val, s->val_len) != 0) {
        return -1;
    }

    if (del) {
        free(s->key);
        free(s->val);
        memset(s, 0, sizeof(tsr_fake_slot_t));
    }

    return 0;
}


/*
 * A cluster node that believes it serves every slot until a command
 * names a key: then the key's slot is the moved node's.  A switch to
 * this mode keeps the port named at the start (none: an error reply).
 */

static int
tsr_fake_moved(tsr_fake_t *fk, tsr_fake_client_t *c, tsr_fake_cmd_t *cmd)
{
    int   n;
    char  buf[128];

    if (tsr_fake_is(cmd, 0, "CLUSTER") && tsr_fake_is(cmd, 1, "SLOTS")) {
        n = snprintf(buf, sizeof(buf),
                     "*1\r\n*3\r\n:0\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n"
                     ":%d\r\n", 16383, fk->port);

        return tsr_fake_append(c, buf, (size_t) n);
    }

    if (cmd->n < 2 || fk->moved_to == 0) {
        return tsr_fake_append_str(c, "-ERR unknown command\r\n");
    }

    n = snprintf(buf, sizeof(buf), "-MOVED %d 127.0.0.1:%d\r\n",
                 tsr_store_key_slot(cmd->arg[1], cmd->len[1]), fk->moved_to);

    return tsr_fake_append(c, buf, (size_t) n);
}


static int
tsr_fake_fault(tsr_fake_t *fk, tsr_fake_client_t *c, tsr_fake_cmd_t *cmd)
{
    size_t                   len;
    const char              *reply;
    const tsr_fake_reply_t  *r;

    switch (fk->mode) {

    case TSR_TEST_FAKE_GARBAGE:
        r = &tsr_fake_garbage[fk->turn++ % tsr_fake_nelts(tsr_fake_garbage)];
        return tsr_fake_append(c, r->data, r->len);

    case TSR_TEST_FAKE_WRONG_TYPE:
        r = &tsr_fake_wrong[fk->turn++ % tsr_fake_nelts(tsr_fake_wrong)];

        if (tsr_fake_append(c, r->data, r->len) != 0) {
            return -1;
        }

        if (r->pad == 0) {
            return 0;
        }

        for (len = 0; len < r->pad; len++) {
            if (tsr_fake_append(c, "v", 1) != 0) {
                return -1;
            }
        }

        return tsr_fake_append_str(c, "\r\n");

    case TSR_TEST_FAKE_HUGE_BULK:
        /* the announced 2^31 bytes never all come: only the first MiB */

        if (tsr_fake_append_str(c, "$2147483648\r\n") != 0) {
            return -1;
        }

        for (len = 0; len < TSR_FAKE_HUGE_SENT; len += 16) {
            if (tsr_fake_append(c, "0123456789abcdef", 16) != 0) {
                return -1;
            }
        }

        c->stuck = 1;
        return 0;

    case TSR_TEST_FAKE_RESET:
        /* half of a real reply, then the reset */

        if (tsr_fake_is(cmd, 0, "SET")) {
            reply = "+OK\r\n";

        } else {
            reply = "$1200\r\n0123456789abcdef0123456789abcdef";
        }

        c->reset = 1;
        return tsr_fake_append(c, reply, strlen(reply) / 2 + 1);

    case TSR_TEST_FAKE_SILENT:
        return 0;

    default:
        return -1;
    }
}


static int
tsr_fake_is(const tsr_fake_cmd_t *cmd, size_t i, const char *s)
{
    size_t  len;

    len = strlen(s);

    return i < cmd->n && cmd->len[i] == len
           && strncasecmp(cmd->arg[i], s, len) == 0;
}


/* open addressing on a small table; a full table evicts at random */

static tsr_fake_slot_t *
tsr_fake_find(tsr_fake_t *fk, const char *key, size_t len, int create)
{
    size_t            i, h, n;
    tsr_fake_slot_t  *s, *free_slot;

    h = 5381;
    for (i = 0; i < len; i++) {
        h = h * 33 + (unsigned char) key[i];
    }

    free_slot = NULL;

    for (n = 0; n < TSR_FAKE_SLOTS; n++) {
        s = &fk->slots[(h + n) % TSR_FAKE_SLOTS];

        if (s->key == NULL) {
            if (free_slot == NULL) {
                free_slot = s;
            }

            if (n > 64) {
                break;
            }

            continue;
        }

        if (s->key_len == len && memcmp(s->key, key, len) == 0) {
            return s;
        }
    }

    if (!create) {
        return NULL;
    }

    if (free_slot == NULL) {
        free_slot = &fk->slots[h % TSR_FAKE_SLOTS];
        free(free_slot->key);
        free(free_slot->val);
        memset(free_slot, 0, sizeof(tsr_fake_slot_t));
    }

    free_slot->key = malloc(len + 1);
    if (free_slot->key == NULL) {
        return NULL;
    }

    memcpy(free_slot->key, key, len);
    free_slot->key_len = len;

    return free_slot;
}


static int
tsr_fake_append(tsr_fake_client_t *c, const char *data, size_t len)
{
    char    *p;
    size_t   size;

    if (c->out_len + len > TSR_FAKE_OUT_MAX) {
        return -1;
    }

    if (c->out_len + len > c->out_size) {
        size = c->out_size ? c->out_size : 4096;

        while (size < c->out_len + len) {
            size *= 2;
        }

        p = realloc(c->out, size);
        if (p == NULL) {
            return -1;
        }

        c->out = p;
        c->out_size = size;
    }

    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;

    return 0;
}


static int
tsr_fake_append_str(tsr_fake_client_t *c, const char *s)
{
    return tsr_fake_append(c, s, strlen(s));
}


static int
tsr_fake_append_bulk(tsr_fake_client_t *c, const char *data, size_t len)
{
    char  head[32];

    snprintf(head, sizeof(head), "$%zu\r\n", len);

    if (tsr_fake_append_str(c, head) != 0
        || tsr_fake_append(c, data, len) != 0
        || tsr_fake_append_str(c, "\r\n") != 0)
    {
        return -1;
    }

    return 0;
}


static int
tsr_fake_drip(tsr_fake_client_t *c)
{
    char  head[32];
    char  val[TSR_FAKE_DRIP_LEN];

    memset(val, 'x', sizeof(val));
    snprintf(head, sizeof(head), "$%d\r\n", TSR_FAKE_DRIP_LEN);

    if (tsr_fake_append_str(c, head) != 0
        || tsr_fake_append(c, val, sizeof(val)) != 0
        || tsr_fake_append_str(c, "\r\n") != 0)
    {
        return -1;
    }

    return 0;
}


static int
tsr_fake_nonblocking(int fd)
{
    int  flags;

    flags = fcntl(fd, F_GETFL, 0);
    if (flags == -1) {
        return -1;
    }

    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
