
/*
 * Test helpers: a small DNS server on loopback (UDP, 127.0.0.1) for one
 * name, answering A queries with an address the test changes while it
 * runs, or NXDOMAIN, or nothing.  Its state lives in memory shared with
 * the test program, so a change holds from the next query on.
 */


#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "tsr_test.h"


#define TSR_DNS_HEADER      12
#define TSR_DNS_MAX_MSG     512
#define TSR_DNS_TYPE_A      1
#define TSR_DNS_CLASS_IN    1
#define TSR_DNS_NXDOMAIN    3
#define TSR_DNS_WAIT_MS     5000


struct tsr_test_dns_state_s {
    volatile int            mode;           /* TSR_TEST_DNS_* */
    volatile uint32_t       addr;           /* network order */
    volatile long           queries;        /* A queries for the name */
    int                     ttl;
    char                    name[256];
};


static void tsr_dns_run(int fd, tsr_test_dns_state_t *state, pid_t parent);
static ssize_t tsr_dns_answer(tsr_test_dns_state_t *state,
    const unsigned char *q, size_t qlen, unsigned char *out, int *silent);


int
tsr_test_dns_start(tsr_test_dns_t *d, const char *name, const char *ipv4,
    int ttl)
{
    int                  fd;
    pid_t                pid, parent;
    socklen_t            len;
    struct in_addr       in;
    struct sockaddr_in   sin;

    memset(d, 0, sizeof(tsr_test_dns_t));

    if (strlen(name) >= sizeof(d->state->name)
        || inet_pton(AF_INET, ipv4, &in) != 1)
    {
        fprintf(stderr, "dns: bad name \"%s\" or address \"%s\"\n", name,
                ipv4);
        return -1;
    }

    d->state = mmap(NULL, sizeof(tsr_test_dns_state_t),
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                    0);
    if (d->state == MAP_FAILED) {
        fprintf(stderr, "mmap() failed: %s\n", strerror(errno));
        d->state = NULL;
        return -1;
    }

    memset(d->state, 0, sizeof(tsr_test_dns_state_t));
    memcpy(d->state->name, name, strlen(name) + 1);
    d->state->addr = in.s_addr;
    d->state->ttl = ttl;
    d->state->mode = TSR_TEST_DNS_ANSWER;

    /* bound before the fork: it answers once this returns */

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == -1) {
        fprintf(stderr, "socket() failed: %s\n", strerror(errno));
        goto failed;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sin);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
    {
        fprintf(stderr, "dns: bind() failed: %s\n", strerror(errno));
        close(fd);
        goto failed;
    }

    d->port = ntohs(sin.sin_port);

    parent = getpid();

    fflush(stdout);
    fflush(stderr);

    pid = fork();

    if (pid == -1) {
        fprintf(stderr, "fork() failed: %s\n", strerror(errno));
        close(fd);
        goto failed;
    }

    if (pid == 0) {
        tsr_dns_run(fd, d->state, parent);
        _exit(0);
    }

    close(fd);
    d->pid = pid;

    return 0;

failed:

    munmap(d->state, sizeof(tsr_test_dns_state_t));
    d->state = NULL;

    return -1;
}


int
tsr_test_dns_set(tsr_test_dns_t *d, int mode, const char *ipv4)
{
    struct in_addr  in;

    if (d->state == NULL) {
        return -1;
    }

    if (ipv4 != NULL) {
        if (inet_pton(AF_INET, ipv4, &in) != 1) {
            fprintf(stderr, "dns: bad address \"%s\"\n", ipv4);
            return -1;
        }

        d->state->addr = in.s_addr;
    }

    d->state->mode = mode;

    return 0;
}


long
tsr_test_dns_queries(const tsr_test_dns_t *d)
{
    return (d->state != NULL) ? d->state->queries : -1;
}


int
tsr_test_dns_stop(tsr_test_dns_t *d)
{
    int        status;
    long long  end;

    if (d->pid != 0) {
        (void) kill(d->pid, SIGTERM);

        end = tsr_test_now_ms() + TSR_DNS_WAIT_MS;

        while (waitpid(d->pid, &status, WNOHANG) == 0) {
            if (tsr_test_now_ms() > end) {
                (void) kill(d->pid, SIGKILL);
                (void) waitpid(d->pid, &status, 0);
                break;
            }

            usleep(10000);
        }

        d->pid = 0;
    }

    if (d->state != NULL) {
        munmap(d->state, sizeof(tsr_test_dns_state_t));
        d->state = NULL;
    }

    return 0;
}


static void
tsr_dns_run(int fd, tsr_test_dns_state_t *state, pid_t parent)
{
    int                  silent;
    ssize_t              n, len;
    socklen_t            slen;
    struct pollfd        pfd;
    struct sockaddr_in   from;
    unsigned char        q[TSR_DNS_MAX_MSG], out[TSR_DNS_MAX_MSG];

#if defined(__linux__)
    /* a crashed test program leaves no server behind */
    (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif

    for ( ;; ) {
        if (getppid() != parent) {
            return;
        }

        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;

        if (poll(&pfd, 1, 1000) <= 0) {
            continue;
        }

        slen = sizeof(from);

        n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *) &from, &slen);
        if (n <= 0) {
            continue;
        }

        len = tsr_dns_answer(state, q, n, out, &silent);

        if (len > 0 && !silent) {
            (void) sendto(fd, out, len, 0, (struct sockaddr *) &from, slen);
        }
    }
}


/*
 * The answer to query "q": the question echoed, then one A record for
 * the name in ANSWER mode; no record for other types (NODATA), NXDOMAIN
 * for other names or in NXDOMAIN mode.  -1 for what is not a query.
 */

static ssize_t
tsr_dns_answer(tsr_test_dns_state_t *state, const unsigned char *q,
    size_t qlen, unsigned char *out, int *silent)
{
    int             match, mode;
    size_t          pos, nlen, qend;
    uint16_t        qtype;
    uint32_t        ttl;
    char            name[256];
    unsigned char  *p;

    *silent = 0;

    if (qlen < TSR_DNS_HEADER || (q[2] & 0x80) || q[4] != 0 || q[5] != 1) {
        return -1;
    }

    /* the question's name, labels to dots */

    pos = TSR_DNS_HEADER;
    nlen = 0;

    while (pos < qlen && q[pos] != 0) {
        if ((q[pos] & 0xc0) || pos + 1 + q[pos] > qlen
            || nlen + q[pos] + 1 >= sizeof(name))
        {
            return -1;
        }

        if (nlen > 0) {
            name[nlen++] = '.';
        }

        memcpy(name + nlen, q + pos + 1, q[pos]);
        nlen += q[pos];
        pos += 1 + q[pos];
    }

    if (pos + 5 > qlen) {
        return -1;
    }

    name[nlen] = '\0';
    qtype = (q[pos + 1] << 8) | q[pos + 2];
    qend = pos + 5;

    match = (strcasecmp(name, state->name) == 0);
    mode = state->mode;

    if (match && qtype == TSR_DNS_TYPE_A) {
        state->queries++;
    }

    if (mode == TSR_TEST_DNS_SILENT && match) {
        *silent = 1;
        return 0;
    }

    memcpy(out, q, qend);

    out[2] = 0x80 | (q[2] & 0x01) | 0x04;       /* QR, RD as asked, AA */
    out[3] = 0x80;                              /* RA, NOERROR */
    out[6] = 0;                                 /* answers */
    out[7] = 0;
    memset(out + 8, 0, 4);                      /* authority, additional */

    if (!match || mode == TSR_TEST_DNS_NXDOMAIN) {
        out[3] |= TSR_DNS_NXDOMAIN;
        return qend;
    }

    if (qtype != TSR_DNS_TYPE_A) {
        return qend;
    }

    out[7] = 1;

    p = out + qend;
    ttl = (uint32_t) state->ttl;

    *p++ = 0xc0;                                /* the question's name */
    *p++ = TSR_DNS_HEADER;
    *p++ = 0;
    *p++ = TSR_DNS_TYPE_A;
    *p++ = 0;
    *p++ = TSR_DNS_CLASS_IN;
    *p++ = (ttl >> 24) & 0xff;
    *p++ = (ttl >> 16) & 0xff;
    *p++ = (ttl >> 8) & 0xff;
    *p++ = ttl & 0xff;
    *p++ = 0;
    *p++ = 4;

    memcpy(p, (const void *) &state->addr, 4);
    p += 4;

    return p - out;
}
