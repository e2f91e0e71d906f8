
/*
 * A TCP proxy process for integration tests: it forwards client bytes
 * to the target at once and holds every chunk the target sends for a
 * fixed delay before passing it on, so Redis looks slow without being
 * stopped.  127.0.0.1 only; the child lives at most TSR_PROXY_LIFETIME
 * and also ends when the test program that started it is gone.
 */


#include "tsr_test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif


#define TSR_PROXY_PAIRS      64
#define TSR_PROXY_CHUNK      16384
#define TSR_PROXY_QUEUED     (1024 * 1024)
#define TSR_PROXY_LIFETIME   (30 * 60 * 1000000LL)   /* microseconds */
#define TSR_PROXY_TICK       100000                   /* microseconds */


typedef struct tsr_proxy_chunk_s  tsr_proxy_chunk_t;

struct tsr_proxy_chunk_s {
    tsr_proxy_chunk_t  *next;
    long long           due;            /* when it may go to the client,
                                           in microseconds */
    size_t              len;
    size_t              sent;
    unsigned char       data[];
};

typedef struct {
    int                 cfd;            /* accepted client, -1 if free */
    int                 sfd;            /* connection to the target */
    int                 server_eof;
    long long           eof_due;        /* when the client sees the close */
    size_t              c2s_len;        /* client bytes not yet written */
    size_t              c2s_sent;
    size_t              queued;         /* bytes held for the client */
    tsr_proxy_chunk_t  *head;
    tsr_proxy_chunk_t  *tail;
    unsigned char       c2s[TSR_PROXY_CHUNK];
} tsr_proxy_pair_t;


static int tsr_proxy_nonblocking(int fd);
static void tsr_proxy_run(int lfd, int target_port, int delay_ms,
    pid_t parent);
static void tsr_proxy_accept(int lfd, tsr_proxy_pair_t *pairs,
    int target_port);
static int tsr_proxy_connect(int port);
static void tsr_proxy_close(tsr_proxy_pair_t *pr);
static int tsr_proxy_from_client(tsr_proxy_pair_t *pr);
static int tsr_proxy_to_server(tsr_proxy_pair_t *pr);
static int tsr_proxy_from_server(tsr_proxy_pair_t *pr, int delay_ms);
static long long tsr_proxy_now_us(void);
static int tsr_proxy_to_client(tsr_proxy_pair_t *pr, long long now);


static int
tsr_proxy_nonblocking(int fd)
{
    int  flags;

    flags = fcntl(fd, F_GETFL);
    if (flags == -1) {
        return -1;
    }

    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}


int
tsr_test_proxy_start(tsr_test_proxy_t *p, int target_port, int delay_ms)
{
    int                 lfd, one;
    pid_t               pid, parent;
    socklen_t           len;
    struct sockaddr_in  sin;

    memset(p, 0, sizeof(tsr_test_proxy_t));

    /*
     * The parent binds and listens before forking: the port is known
     * and accepts connections by the time this function returns.
     */

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
        || tsr_proxy_nonblocking(lfd) != 0)
    {
        fprintf(stderr, "proxy listen failed: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }

    parent = getpid();

    pid = fork();

    if (pid == -1) {
        fprintf(stderr, "fork() failed: %s\n", strerror(errno));
        close(lfd);
        return -1;
    }

    if (pid == 0) {
        tsr_proxy_run(lfd, target_port, delay_ms, parent);
        _exit(0);
    }

    close(lfd);

    p->port = ntohs(sin.sin_port);
    p->target_port = target_port;
    p->delay_ms = delay_ms;
    p->pid = pid;

    return 0;
}


int
tsr_test_proxy_stop(tsr_test_proxy_t *p)
{
    int    i, status;
    pid_t  r;

    if (p->pid == 0) {
        return 0;
    }

    kill(p->pid, SIGTERM);

    for (i = 0; i < 500; i++) {
        r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid || (r == -1 && errno != EINTR)) {
            p->pid = 0;
            return 0;
        }

        usleep(10000);
    }

    kill(p->pid, SIGKILL);
    waitpid(p->pid, &status, 0);
    p->pid = 0;

    return -1;
}


static void
tsr_proxy_run(int lfd, int target_port, int delay_ms, pid_t parent)
{
    int                i, n;
    nfds_t             nfds;
    struct timespec    ts;
    long long          now, start, wait;
    struct pollfd      fds[1 + 2 * TSR_PROXY_PAIRS];
    tsr_proxy_pair_t  *pairs, *pr;

    (void) signal(SIGTERM, SIG_DFL);
    (void) signal(SIGINT, SIG_DFL);
    (void) signal(SIGPIPE, SIG_IGN);

#ifdef __linux__
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif

    pairs = calloc(TSR_PROXY_PAIRS, sizeof(tsr_proxy_pair_t));
    if (pairs == NULL) {
        _exit(1);
    }

    for (i = 0; i < TSR_PROXY_PAIRS; i++) {
        pairs[i].cfd = -1;
        pairs[i].sfd = -1;
    }

    start = tsr_proxy_now_us();

    for ( ;; ) {
        now = tsr_proxy_now_us();

        if (now - start > TSR_PROXY_LIFETIME || getppid() != parent) {
            _exit(0);
        }

        fds[0].fd = lfd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        nfds = 1 + 2 * TSR_PROXY_PAIRS;
        wait = TSR_PROXY_TICK;

        for (i = 0; i < TSR_PROXY_PAIRS; i++) {
            pr = &pairs[i];

            fds[1 + 2 * i].fd = -1;
            fds[1 + 2 * i].events = 0;
            fds[1 + 2 * i].revents = 0;
            fds[2 + 2 * i].fd = -1;
            fds[2 + 2 * i].events = 0;
            fds[2 + 2 * i].revents = 0;

            if (pr->cfd == -1) {
                continue;
            }

            /* client side: read when nothing waits for the server */

            fds[1 + 2 * i].fd = pr->cfd;
            if (pr->c2s_len == 0) {
                fds[1 + 2 * i].events |= POLLIN;
            }

            if (pr->head != NULL) {
                if (pr->head->due <= now) {
                    fds[1 + 2 * i].events |= POLLOUT;

                } else if (pr->head->due - now < wait) {
                    wait = pr->head->due - now;
                }
            }

            if (pr->server_eof && pr->head == NULL) {
                if (pr->eof_due - now < wait) {
                    wait = pr->eof_due - now;
                }
            }

            /* server side: read while the queue has room */

            fds[2 + 2 * i].fd = pr->sfd;
            if (!pr->server_eof && pr->queued < TSR_PROXY_QUEUED) {
                fds[2 + 2 * i].events |= POLLIN;
            }

            if (pr->c2s_len != 0) {
                fds[2 + 2 * i].events |= POLLOUT;
            }
        }

        /* to the microsecond: replies held alike leave one by one */

        if (wait < 0) {
            wait = 0;
        }

        ts.tv_sec = wait / 1000000;
        ts.tv_nsec = (long) (wait % 1000000) * 1000;

        n = ppoll(fds, nfds, &ts, NULL);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            _exit(1);
        }

        now = tsr_proxy_now_us();

        for (i = 0; i < TSR_PROXY_PAIRS; i++) {
            pr = &pairs[i];

            if (pr->cfd == -1) {
                continue;
            }

            if ((fds[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))
                && pr->c2s_len == 0
                && tsr_proxy_from_client(pr) != 0)
            {
                tsr_proxy_close(pr);
                continue;
            }

            if ((fds[2 + 2 * i].revents & (POLLOUT | POLLERR))
                && pr->c2s_len != 0
                && tsr_proxy_to_server(pr) != 0)
            {
                tsr_proxy_close(pr);
                continue;
            }

            if ((fds[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))
                && !pr->server_eof
                && tsr_proxy_from_server(pr, delay_ms) != 0)
            {
                tsr_proxy_close(pr);
                continue;
            }

            if (tsr_proxy_to_client(pr, now) != 0) {
                tsr_proxy_close(pr);
                continue;
            }

            /* the target's close, too, reaches the client late */

            if (pr->server_eof && pr->head == NULL && pr->eof_due <= now) {
                tsr_proxy_close(pr);
            }
        }

        if (fds[0].revents & POLLIN) {
            tsr_proxy_accept(lfd, pairs, target_port);
        }
    }
}


static void
tsr_proxy_accept(int lfd, tsr_proxy_pair_t *pairs, int target_port)
{
    int                i, k, cfd, sfd, one;
    tsr_proxy_pair_t  *pr;

    for (k = 0; k < TSR_PROXY_PAIRS; k++) {
        cfd = accept(lfd, NULL, NULL);
        if (cfd == -1) {
            return;
        }

        pr = NULL;
        for (i = 0; i < TSR_PROXY_PAIRS; i++) {
            if (pairs[i].cfd == -1) {
                pr = &pairs[i];
                break;
            }
        }

        sfd = pr != NULL ? tsr_proxy_connect(target_port) : -1;

        if (sfd == -1 || tsr_proxy_nonblocking(cfd) != 0) {
            if (sfd != -1) {
                close(sfd);
            }
            close(cfd);
            continue;
        }

        one = 1;
        (void) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        pr->cfd = cfd;
        pr->sfd = sfd;
        pr->server_eof = 0;
        pr->eof_due = 0;
        pr->c2s_len = 0;
        pr->c2s_sent = 0;
        pr->queued = 0;
        pr->head = NULL;
        pr->tail = NULL;
    }
}


/* a blocking connect: the target is on loopback and answers at once */

static int
tsr_proxy_connect(int port)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || tsr_proxy_nonblocking(fd) != 0)
    {
        close(fd);
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    return fd;
}


static void
tsr_proxy_close(tsr_proxy_pair_t *pr)
{
    tsr_proxy_chunk_t  *ch, *next;

    for (ch = pr->head; ch != NULL; ch = next) {
        next = ch->next;
        free(ch);
    }

    if (pr->cfd != -1) {
        close(pr->cfd);
    }

    if (pr->sfd != -1) {
        close(pr->sfd);
    }

    pr->cfd = -1;
    pr->sfd = -1;
    pr->head = NULL;
    pr->tail = NULL;
    pr->queued = 0;
    pr->c2s_len = 0;
}


/* returns -1 when the pair is done (client closed or failed) */

static int
tsr_proxy_from_client(tsr_proxy_pair_t *pr)
{
    ssize_t  n;

    n = recv(pr->cfd, pr->c2s, sizeof(pr->c2s), 0);

    if (n > 0) {
        pr->c2s_len = (size_t) n;
        pr->c2s_sent = 0;
        return tsr_proxy_to_server(pr);
    }

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }

    return -1;
}


static int
tsr_proxy_to_server(tsr_proxy_pair_t *pr)
{
    ssize_t  n;

    while (pr->c2s_sent < pr->c2s_len) {
        n = send(pr->sfd, pr->c2s + pr->c2s_sent,
                 pr->c2s_len - pr->c2s_sent, MSG_NOSIGNAL);
        if (n > 0) {
            pr->c2s_sent += (size_t) n;
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            return 0;
        }

        return -1;
    }

    pr->c2s_len = 0;
    pr->c2s_sent = 0;

    return 0;
}


static int
tsr_proxy_from_server(tsr_proxy_pair_t *pr, int delay_ms)
{
    ssize_t             n;
    unsigned char       buf[TSR_PROXY_CHUNK];
    tsr_proxy_chunk_t  *ch;

    n = recv(pr->sfd, buf, sizeof(buf), 0);

    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
        pr->server_eof = 1;
        pr->eof_due = tsr_proxy_now_us() + delay_ms * 1000LL;
        return 0;
    }

    if (n == -1) {
        return 0;
    }

    ch = malloc(sizeof(tsr_proxy_chunk_t) + (size_t) n);
    if (ch == NULL) {
        return -1;
    }

    memcpy(ch->data, buf, (size_t) n);
    ch->next = NULL;
    ch->due = tsr_proxy_now_us() + delay_ms * 1000LL;
    ch->len = (size_t) n;
    ch->sent = 0;

    if (pr->tail != NULL) {
        pr->tail->next = ch;

    } else {
        pr->head = ch;
    }

    pr->tail = ch;
    pr->queued += (size_t) n;

    return 0;
}


static int
tsr_proxy_to_client(tsr_proxy_pair_t *pr, long long now)
{
    ssize_t             n;
    tsr_proxy_chunk_t  *ch;

    while (pr->head != NULL && pr->head->due <= now) {
        ch = pr->head;

        n = send(pr->cfd, ch->data + ch->sent, ch->len - ch->sent,
                 MSG_NOSIGNAL);

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            return 0;
        }

        if (n <= 0) {
            return -1;
        }

        ch->sent += (size_t) n;

        if (ch->sent < ch->len) {
            continue;
        }

        pr->head = ch->next;
        if (pr->head == NULL) {
            pr->tail = NULL;
        }

        pr->queued -= ch->len;
        free(ch);
    }

    return 0;
}


static long long
tsr_proxy_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
