
/*
 * A TLS load generator for the benchmark: several client processes, each
 * running one connection at a time on a blocking socket to 127.0.0.1.
 *
 * Modes:
 *   full       every handshake without a session;
 *   resume     one full handshake per process (before the clock starts),
 *              then resumption of the newest session, on one server;
 *   cross      the same, alternating between two servers (a fleet behind
 *              a load balancer): each session is offered to the server
 *              that did not issue it;
 *   keepalive  requests on long-lived connections, one per process; the
 *              latency is that of each request.
 *
 * Protocols: "tls12" (session ids: the client refuses tickets), "tls12t"
 * (TLS 1.2 tickets), "tls13" (stateful or stateless tickets, as the
 * server's "ssl_session_tickets" decides).  A run is bounded by a count
 * and a duration; it prints handshakes (or requests) per second, the
 * resumption rate and latency percentiles, as text or as one JSON line.
 */


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>


#define BENCH_FULL          0
#define BENCH_RESUME        1
#define BENCH_CROSS         2
#define BENCH_KEEPALIVE     3

#define BENCH_MAX_PROCS     64
#define BENCH_MAX_SAMPLES   (1 << 20)
#define BENCH_IO_TIMEOUT    5000
#define BENCH_TICKET_WAIT   1000
#define BENCH_MAX_FAILURES  100
#define BENCH_START_WAIT    30000
#define BENCH_SNI           "bench.test"


typedef struct {
    int             mode;
    int             version;            /* TLS1_2_VERSION, TLS1_3_VERSION */
    int             tickets;            /* the client accepts tickets */
    int             ports[2];
    int             nports;
    int             procs;
    long            count;              /* handshakes, or requests */
    double          seconds;
    double          rate;               /* per second in all, 0: unpaced */
    int             request;            /* a request per connection */
    int             json;
    const char     *label;
} bench_conf_t;


/* one per process, in memory shared with the parent */
typedef struct {
    volatile int    ready;              /* warmed up, waiting for the go */
    int             done;
    long            handshakes;         /* completed */
    long            offered;            /* of them offering a session */
    long            resumed;
    long            failed;
    long            tickets;            /* sessions the server sent */
    long            requests;
    long            reconnects;         /* keepalive: connections made */
    long long       finished_us;        /* when the process stopped */
    long            nsamples;
    uint32_t        samples[BENCH_MAX_SAMPLES];     /* microseconds */
} bench_slot_t;


typedef struct {
    volatile long long  go_us;          /* start time, 0: not yet */
    bench_slot_t        slots[];
} bench_shared_t;


/* the state of a client process */
typedef struct {
    const bench_conf_t *conf;
    bench_slot_t       *slot;
    SSL_CTX            *ctx;
    SSL_SESSION        *received;       /* newest session from the server */
    long                nreceived;
    int                 fd;
    SSL                *ssl;
    char                buf[16384];
} bench_proc_t;


static long long bench_now_us(void);
static void bench_sleep_us(long long us);
static int bench_parse(int argc, char **argv, bench_conf_t *conf);
static void bench_usage(void);
static SSL_CTX *bench_client_ctx(const bench_conf_t *conf);
static int bench_new_session(SSL *ssl, SSL_SESSION *sess);
static int bench_connect(int port);
static int bench_open(bench_proc_t *bp, int port, SSL_SESSION *offer);
static void bench_close(bench_proc_t *bp);
static int bench_wait_tickets(bench_proc_t *bp);
static int bench_request(bench_proc_t *bp);
static int bench_read(bench_proc_t *bp, char *buf, size_t size);
static void bench_record(bench_slot_t *slot, long long us);
static void bench_child(const bench_conf_t *conf, bench_shared_t *sh,
    int index);
static void bench_wait_go(bench_shared_t *sh, bench_slot_t *slot);
static void bench_handshakes(bench_proc_t *bp, bench_shared_t *sh,
    int index);
static void bench_keepalive(bench_proc_t *bp, bench_shared_t *sh,
    int index);
static long bench_share(long total, int procs, int index);
static int bench_pace(const bench_conf_t *conf, long long start, long i,
    int index);
static int bench_cmp_u32(const void *a, const void *b);
static int bench_report(const bench_conf_t *conf, bench_shared_t *sh,
    long long start, long long end);


static int   bench_index = -1;
static char  bench_last_error[256];


static long long
bench_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
bench_sleep_us(long long us)
{
    struct timespec  ts;

    if (us <= 0) {
        return;
    }

    ts.tv_sec = (time_t) (us / 1000000);
    ts.tv_nsec = (long) (us % 1000000) * 1000;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


static void
bench_usage(void)
{
    fprintf(stderr,
        "usage: tsr-bench -p PORT[,PORT2] [options]\n"
        "  -m MODE     full | resume | cross (needs two ports) | keepalive\n"
        "              (default full)\n"
        "  -P PROTO    tls12 (session ids) | tls12t (TLS 1.2 tickets) |\n"
        "              tls13 (default tls12)\n"
        "  -c N        client processes (default 4)\n"
        "  -n N        at most N handshakes (requests in keepalive mode)\n"
        "              in all (default 1000000)\n"
        "  -t SECONDS  at most this long (default 5)\n"
        "  -r RATE     paced at RATE per second in all (default: as fast\n"
        "              as the server answers)\n"
        "  -k          one keep-alive HTTP request on each connection\n"
        "  -j          print one JSON object instead of text\n"
        "  -l LABEL    a label copied into the output\n");
}


static int
bench_parse(int argc, char **argv, bench_conf_t *conf)
{
    int    ch;
    char  *end;

    memset(conf, 0, sizeof(bench_conf_t));

    conf->mode = BENCH_FULL;
    conf->version = TLS1_2_VERSION;
    conf->procs = 4;
    conf->count = 1000000;
    conf->seconds = 5;
    conf->label = "";

    while ((ch = getopt(argc, argv, "p:m:P:c:n:t:r:kjl:h")) != -1) {
        switch (ch) {

        case 'p':
            conf->nports = sscanf(optarg, "%d,%d", &conf->ports[0],
                                  &conf->ports[1]);
            break;

        case 'm':
            if (strcmp(optarg, "full") == 0) {
                conf->mode = BENCH_FULL;

            } else if (strcmp(optarg, "resume") == 0) {
                conf->mode = BENCH_RESUME;

            } else if (strcmp(optarg, "cross") == 0) {
                conf->mode = BENCH_CROSS;

            } else if (strcmp(optarg, "keepalive") == 0) {
                conf->mode = BENCH_KEEPALIVE;

            } else {
                fprintf(stderr, "tsr-bench: unknown mode \"%s\"\n", optarg);
                return -1;
            }
            break;

        case 'P':
            if (strcmp(optarg, "tls12") == 0) {
                conf->version = TLS1_2_VERSION;
                conf->tickets = 0;

            } else if (strcmp(optarg, "tls12t") == 0) {
                conf->version = TLS1_2_VERSION;
                conf->tickets = 1;

            } else if (strcmp(optarg, "tls13") == 0) {
                conf->version = TLS1_3_VERSION;
                conf->tickets = 1;

            } else {
                fprintf(stderr, "tsr-bench: unknown protocol \"%s\"\n",
                        optarg);
                return -1;
            }
            break;

        case 'c':
            conf->procs = atoi(optarg);
            break;

        case 'n':
            conf->count = strtol(optarg, &end, 10);
            break;

        case 't':
            conf->seconds = strtod(optarg, &end);
            break;

        case 'r':
            conf->rate = strtod(optarg, &end);
            break;

        case 'k':
            conf->request = 1;
            break;

        case 'j':
            conf->json = 1;
            break;

        case 'l':
            conf->label = optarg;
            break;

        default:
            bench_usage();
            return -1;
        }
    }

    if (conf->nports < 1 || conf->ports[0] <= 0
        || (conf->mode == BENCH_CROSS && conf->nports != 2)
        || conf->procs < 1 || conf->procs > BENCH_MAX_PROCS
        || conf->count < 1 || conf->seconds <= 0 || conf->rate < 0)
    {
        bench_usage();
        return -1;
    }

    return 0;
}


/*
 * One context per process, shared by all its connections as a real
 * client's would be.  OpenSSL reports each session the server sends
 * (TLS 1.3 tickets come after the handshake) without caching any.
 */

static SSL_CTX *
bench_client_ctx(const bench_conf_t *conf)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return NULL;
    }

    if (SSL_CTX_set_min_proto_version(ctx, conf->version) != 1
        || SSL_CTX_set_max_proto_version(ctx, conf->version) != 1)
    {
        SSL_CTX_free(ctx);
        return NULL;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    if (!conf->tickets) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    /* tickets are records of their own: let SSL_read() return after one */
    SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);

    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                        | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, bench_new_session);

    return ctx;
}


/* keeps the newest session; returning 1 takes OpenSSL's reference */

static int
bench_new_session(SSL *ssl, SSL_SESSION *sess)
{
    bench_proc_t  *bp;

    bp = SSL_get_ex_data(ssl, bench_index);
    if (bp == NULL) {
        return 0;
    }

    if (bp->received != NULL) {
        SSL_SESSION_free(bp->received);
    }

    bp->received = sess;
    bp->nreceived++;

    return 1;
}


static int
bench_connect(int port)
{
    int                 fd, one;
    struct timeval      tv;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "socket() failed: %s", strerror(errno));
        return -1;
    }

    /* on Linux SO_SNDTIMEO also bounds a blocking connect() */

    tv.tv_sec = BENCH_IO_TIMEOUT / 1000;
    tv.tv_usec = (BENCH_IO_TIMEOUT % 1000) * 1000;

    one = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "setsockopt() failed: %s", strerror(errno));
        close(fd);
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "connect() to 127.0.0.1:%d failed: %s", port,
                 strerror(errno));
        close(fd);
        return -1;
    }

    return fd;
}


/*
 * Connects and completes a handshake offering "offer" (may be NULL).
 * With TLS 1.3 it also takes the tickets the server sends right after
 * the handshake, as a client must to resume later.  Returns 0, or -1
 * with the connection closed.
 */

static int
bench_open(bench_proc_t *bp, int port, SSL_SESSION *offer)
{
    int  rc;

    bp->fd = bench_connect(port);
    if (bp->fd == -1) {
        return -1;
    }

    bp->ssl = SSL_new(bp->ctx);
    if (bp->ssl == NULL || SSL_set_fd(bp->ssl, bp->fd) != 1
        || SSL_set_ex_data(bp->ssl, bench_index, bp) != 1
        || SSL_set_tlsext_host_name(bp->ssl, BENCH_SNI) != 1
        || (offer != NULL && SSL_set_session(bp->ssl, offer) != 1))
    {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "SSL_new() failed");
        goto failed;
    }

    rc = SSL_connect(bp->ssl);
    if (rc != 1) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "SSL_connect() to 127.0.0.1:%d failed: %d, %s", port,
                 SSL_get_error(bp->ssl, rc),
                 ERR_reason_error_string(ERR_peek_error()) != NULL
                 ? ERR_reason_error_string(ERR_peek_error())
                 : strerror(errno));
        goto failed;
    }

    if (bp->conf->version == TLS1_3_VERSION && !bp->conf->request
        && bench_wait_tickets(bp) != 0)
    {
        goto failed;
    }

    return 0;

failed:

    bench_close(bp);

    return -1;
}


static void
bench_close(bench_proc_t *bp)
{
    if (bp->ssl != NULL) {
        /* close_notify, as a well-behaved client sends; no wait for more */
        (void) SSL_shutdown(bp->ssl);
        SSL_free(bp->ssl);
        bp->ssl = NULL;
    }

    if (bp->fd != -1) {
        close(bp->fd);
        bp->fd = -1;
    }

    ERR_clear_error();
}


/*
 * TLS 1.3 servers send their tickets after the handshake: read records
 * until one came and nothing more is waiting on the socket.
 */

static int
bench_wait_tickets(bench_proc_t *bp)
{
    int             rc, err, i, timeout;
    long            before;
    char            buf[256];
    long long       deadline;
    struct pollfd   pfd;

    before = bp->nreceived;
    deadline = bench_now_us() + BENCH_TICKET_WAIT * 1000LL;

    for (i = 0; i < 100; i++) {
        timeout = (bp->nreceived > before) ? 0
                  : (int) ((deadline - bench_now_us()) / 1000);

        if (timeout < 0) {
            break;
        }

        if (SSL_has_pending(bp->ssl) == 0) {
            pfd.fd = bp->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;

            if (poll(&pfd, 1, timeout) <= 0) {
                break;
            }
        }

        rc = SSL_read(bp->ssl, buf, sizeof(buf));
        if (rc > 0) {
            continue;
        }

        err = SSL_get_error(bp->ssl, rc);
        if (err != SSL_ERROR_WANT_READ) {
            break;
        }
    }

    if (bp->nreceived == before) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "no TLS 1.3 ticket within %d ms", BENCH_TICKET_WAIT);
        return -1;
    }

    return 0;
}


/*
 * One "GET /" on the connection, keeping it open; reads the header and a
 * Content-Length body.  Returns 0, or -1 with the connection unusable.
 */

static int
bench_request(bench_proc_t *bp)
{
    int            n;
    char          *end, *p;
    size_t         len, hlen, need;
    static const char  req[] = "GET / HTTP/1.1\r\nHost: " BENCH_SNI "\r\n"
                               "\r\n";

    ERR_clear_error();

    if (SSL_write(bp->ssl, req, sizeof(req) - 1) != (int) sizeof(req) - 1) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "SSL_write() failed");
        return -1;
    }

    len = 0;
    end = NULL;

    while (end == NULL) {
        if (len >= sizeof(bp->buf) - 1) {
            return -1;
        }

        n = bench_read(bp, bp->buf + len, sizeof(bp->buf) - 1 - len);
        if (n <= 0) {
            return -1;
        }

        len += n;
        bp->buf[len] = '\0';
        end = strstr(bp->buf, "\r\n\r\n");
    }

    if (strncmp(bp->buf, "HTTP/1.1 200 ", 13) != 0) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "unexpected response \"%.20s\"", bp->buf);
        return -1;
    }

    hlen = (size_t) (end - bp->buf) + 4;
    need = (size_t) -1;

    for (p = bp->buf; p != NULL && p < end; p = strstr(p, "\r\n")) {
        p += (p[0] == '\r') ? 2 : 0;

        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            need = (size_t) strtoul(p + 15, NULL, 10);
            break;
        }
    }

    if (need > sizeof(bp->buf) - 1 - hlen) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "response without a usable Content-Length");
        return -1;
    }

    while (len < hlen + need) {
        n = bench_read(bp, bp->buf + len, hlen + need - len);
        if (n <= 0) {
            return -1;
        }

        len += n;
    }

    return 0;
}


/* application data: >0 bytes, 0 at the end, -1 on errors and timeouts */

static int
bench_read(bench_proc_t *bp, char *buf, size_t size)
{
    int  rc, err, i;

    for (i = 0; i < 1000; i++) {
        errno = 0;
        rc = SSL_read(bp->ssl, buf, (int) size);
        if (rc > 0) {
            return rc;
        }

        err = SSL_get_error(bp->ssl, rc);

        if (err == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }

        /* a ticket or another record without data: read on */
        if (err == SSL_ERROR_WANT_READ && errno != EAGAIN
            && errno != EWOULDBLOCK)
        {
            continue;
        }

        snprintf(bench_last_error, sizeof(bench_last_error),
                 "SSL_read() failed: %d", err);
        return -1;
    }

    return -1;
}


static void
bench_record(bench_slot_t *slot, long long us)
{
    if (slot->nsamples < BENCH_MAX_SAMPLES) {
        slot->samples[slot->nsamples++] = us > UINT32_MAX ? UINT32_MAX
                                                          : (uint32_t) us;
    }
}


/* this process's part of a total */

static long
bench_share(long total, int procs, int index)
{
    return total / procs + (index < total % procs ? 1 : 0);
}


/*
 * Paced runs start operation "i" of process "index" at
 * start + (i * procs + index) / rate: operations evenly spaced over all
 * the processes (not the processes in step, which would make bursts),
 * and a load that stays the same however fast the server answers.
 * Returns 0 when it is time, -1 when the run's time is over first.
 */

static int
bench_pace(const bench_conf_t *conf, long long start, long i, int index)
{
    long long  due, end;

    end = start + (long long) (conf->seconds * 1e6);

    if (conf->rate <= 0) {
        return bench_now_us() < end ? 0 : -1;
    }

    due = start + (long long) (((double) i * conf->procs + index)
                               / conf->rate * 1e6);

    if (due >= end) {
        return -1;
    }

    bench_sleep_us(due - bench_now_us());

    return 0;
}


static void
bench_child(const bench_conf_t *conf, bench_shared_t *sh, int index)
{
    bench_proc_t  bp;

    memset(&bp, 0, sizeof(bench_proc_t));

    bp.conf = conf;
    bp.slot = &sh->slots[index];
    bp.fd = -1;

    bp.ctx = bench_client_ctx(conf);
    if (bp.ctx == NULL) {
        fprintf(stderr, "tsr-bench: SSL_CTX_new() failed\n");
        _exit(1);
    }

    if (conf->mode == BENCH_KEEPALIVE) {
        bench_keepalive(&bp, sh, index);

    } else {
        bench_handshakes(&bp, sh, index);
    }

    bp.slot->finished_us = bench_now_us();
    bp.slot->done = 1;

    if (bp.slot->failed > 0) {
        fprintf(stderr, "tsr-bench: process %d: %ld failures, last: %s\n",
                index, bp.slot->failed, bench_last_error);
    }

    _exit(0);
}


static void
bench_wait_go(bench_shared_t *sh, bench_slot_t *slot)
{
    long long  limit;

    __atomic_store_n(&slot->ready, 1, __ATOMIC_SEQ_CST);

    limit = bench_now_us() + BENCH_START_WAIT * 1000LL;

    while (__atomic_load_n(&sh->go_us, __ATOMIC_SEQ_CST) == 0) {
        if (bench_now_us() > limit) {
            _exit(1);
        }

        bench_sleep_us(200);
    }
}


static void
bench_handshakes(bench_proc_t *bp, bench_shared_t *sh, int index)
{
    int             port, reused;
    long            i, n;
    long long       t0, t1, start;
    SSL_SESSION    *sess;
    bench_slot_t   *slot;
    const bench_conf_t  *conf;

    conf = bp->conf;
    slot = bp->slot;
    sess = NULL;

    /* resumption starts from a session of the first server, off the clock */

    if (conf->mode != BENCH_FULL) {
        if (bench_open(bp, conf->ports[0], NULL) != 0) {
            fprintf(stderr, "tsr-bench: warm-up failed: %s\n",
                    bench_last_error);
            _exit(1);
        }

        if (conf->request) {
            (void) bench_request(bp);
        }

        bench_close(bp);

        sess = bp->received;
        bp->received = NULL;

        if (sess == NULL) {
            fprintf(stderr, "tsr-bench: the server sent no session\n");
            _exit(1);
        }
    }

    bench_wait_go(sh, slot);

    start = sh->go_us;
    n = bench_share(conf->count, conf->procs, index);

    for (i = 0; i < n; i++) {
        if (bench_pace(conf, start, i, index) != 0) {
            break;
        }

        port = conf->ports[(conf->mode == BENCH_CROSS) ? (i + 1) % 2 : 0];

        t0 = bench_now_us();

        if (bench_open(bp, port, sess) != 0) {
            slot->failed++;

            if (slot->failed >= BENCH_MAX_FAILURES) {
                break;
            }

            continue;
        }

        reused = SSL_session_reused(bp->ssl);

        if (conf->request && bench_request(bp) != 0) {
            bench_close(bp);
            slot->failed++;
            continue;
        }

        bench_close(bp);

        t1 = bench_now_us();

        slot->handshakes++;
        slot->requests += conf->request;
        bench_record(slot, t1 - t0);

        if (sess != NULL) {
            slot->offered++;
            slot->resumed += reused ? 1 : 0;
        }

        /* a new session (a TLS 1.3 ticket, a fresh id) replaces the old */

        if (bp->received != NULL && conf->mode != BENCH_FULL) {
            SSL_SESSION_free(sess);
            sess = bp->received;
            bp->received = NULL;
        }
    }

    slot->tickets = bp->nreceived;

    SSL_SESSION_free(sess);
}


static void
bench_keepalive(bench_proc_t *bp, bench_shared_t *sh, int index)
{
    long            i, n;
    long long       t0, start;
    bench_slot_t   *slot;

    slot = bp->slot;

    if (bench_open(bp, bp->conf->ports[0], NULL) != 0) {
        fprintf(stderr, "tsr-bench: keep-alive connection failed: %s\n",
                bench_last_error);
        _exit(1);
    }

    slot->reconnects++;

    bench_wait_go(sh, slot);

    start = sh->go_us;
    n = bench_share(bp->conf->count, bp->conf->procs, index);

    for (i = 0; i < n; i++) {
        if (bench_pace(bp->conf, start, i, index) != 0) {
            break;
        }

        if (bp->ssl == NULL) {
            if (bench_open(bp, bp->conf->ports[0], NULL) != 0) {
                slot->failed++;

                if (slot->failed >= BENCH_MAX_FAILURES) {
                    break;
                }

                continue;
            }

            slot->reconnects++;
        }

        t0 = bench_now_us();

        if (bench_request(bp) != 0) {
            bench_close(bp);
            slot->failed++;
            continue;
        }

        slot->requests++;
        bench_record(slot, bench_now_us() - t0);
    }

    bench_close(bp);
}


static int
bench_cmp_u32(const void *a, const void *b)
{
    uint32_t  x, y;

    x = *(const uint32_t *) a;
    y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}


/* prints the results; returns 1 when nothing succeeded, else 0 */

static int
bench_report(const bench_conf_t *conf, bench_shared_t *sh, long long start,
    long long end)
{
    int            i;
    long           n, k, handshakes, offered, resumed, failed, tickets;
    long           requests;
    double         secs, ops, mean;
    uint32_t      *all, p50, p90, p99, max;
    bench_slot_t  *s;

    static const char *const  modes[] = { "full", "resume", "cross",
                                          "keepalive" };

    handshakes = offered = resumed = failed = tickets = requests = n = 0;

    for (i = 0; i < conf->procs; i++) {
        s = &sh->slots[i];
        handshakes += s->handshakes;
        offered += s->offered;
        resumed += s->resumed;
        failed += s->failed;
        tickets += s->tickets;
        requests += s->requests;
        n += s->nsamples;

        if (s->finished_us > end) {
            end = s->finished_us;
        }
    }

    all = malloc((n > 0 ? n : 1) * sizeof(uint32_t));
    if (all == NULL) {
        fprintf(stderr, "tsr-bench: out of memory\n");
        exit(1);
    }

    k = 0;
    mean = 0;

    for (i = 0; i < conf->procs; i++) {
        s = &sh->slots[i];
        memcpy(all + k, s->samples, s->nsamples * sizeof(uint32_t));
        k += s->nsamples;
    }

    qsort(all, n, sizeof(uint32_t), bench_cmp_u32);

    for (k = 0; k < n; k++) {
        mean += all[k];
    }

    mean = n > 0 ? mean / n : 0;
    p50 = n > 0 ? all[(n - 1) * 50 / 100] : 0;
    p90 = n > 0 ? all[(n - 1) * 90 / 100] : 0;
    p99 = n > 0 ? all[(n - 1) * 99 / 100] : 0;
    max = n > 0 ? all[n - 1] : 0;

    free(all);

    secs = (double) (end - start) / 1e6;
    ops = (conf->mode == BENCH_KEEPALIVE) ? requests : handshakes;

    if (conf->json) {
        printf("{\"label\":\"%s\",\"mode\":\"%s\",\"proto\":\"%s\","
               "\"procs\":%d,\"seconds\":%.3f,\"handshakes\":%ld,"
               "\"requests\":%ld,\"offered\":%ld,\"resumed\":%ld,"
               "\"failed\":%ld,\"tickets\":%ld,\"per_s\":%.1f,"
               "\"resume_rate\":%.6f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
               conf->label, modes[conf->mode],
               conf->version == TLS1_3_VERSION ? "tls13"
               : conf->tickets ? "tls12t" : "tls12",
               conf->procs, secs, handshakes, requests, offered, resumed,
               failed, tickets, secs > 0 ? ops / secs : 0.0,
               offered > 0 ? (double) resumed / offered : 0.0,
               mean / 1000, p50 / 1000.0, p90 / 1000.0, p99 / 1000.0,
               max / 1000.0);

        return ops > 0 ? 0 : 1;
    }

    printf("%s %s, %d processes, %.2f s: %ld %s, %.1f/s\n",
           modes[conf->mode],
           conf->version == TLS1_3_VERSION ? "TLS 1.3"
           : conf->tickets ? "TLS 1.2 tickets" : "TLS 1.2",
           conf->procs, secs, (long) ops,
           conf->mode == BENCH_KEEPALIVE ? "requests" : "handshakes",
           secs > 0 ? ops / secs : 0.0);

    if (offered > 0) {
        printf("  resumed %ld of %ld offered (%.3f %%)\n", resumed, offered,
               100.0 * resumed / offered);
    }

    printf("  latency ms: mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
           "max %.3f\n", mean / 1000, p50 / 1000.0, p90 / 1000.0,
           p99 / 1000.0, max / 1000.0);
    printf("  failed %ld, sessions received %ld\n", failed, tickets);

    return ops > 0 ? 0 : 1;
}


int
main(int argc, char **argv)
{
    int              i, status, ready;
    pid_t            pids[BENCH_MAX_PROCS];
    size_t           size;
    long long        limit, start, end;
    bench_conf_t     conf;
    bench_shared_t  *sh;

    if (bench_parse(argc, argv, &conf) != 0) {
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);

    bench_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (bench_index == -1) {
        return 1;
    }

    size = sizeof(bench_shared_t) + conf.procs * sizeof(bench_slot_t);

    /* pages are touched only as samples are written */
    sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (sh == MAP_FAILED) {
        fprintf(stderr, "tsr-bench: mmap() failed: %s\n", strerror(errno));
        return 1;
    }

    for (i = 0; i < conf.procs; i++) {
        pids[i] = fork();

        if (pids[i] == -1) {
            fprintf(stderr, "tsr-bench: fork() failed: %s\n",
                    strerror(errno));
            return 1;
        }

        if (pids[i] == 0) {
            bench_child(&conf, sh, i);
        }
    }

    /* the clock starts once every process is warmed up */

    limit = bench_now_us() + BENCH_START_WAIT * 1000LL;

    do {
        ready = 0;

        for (i = 0; i < conf.procs; i++) {
            ready += __atomic_load_n(&sh->slots[i].ready, __ATOMIC_SEQ_CST);
        }

        if (ready == conf.procs) {
            break;
        }

        if (waitpid(-1, &status, WNOHANG) > 0 || bench_now_us() > limit) {
            fprintf(stderr, "tsr-bench: a client process did not start\n");
            for (i = 0; i < conf.procs; i++) {
                kill(pids[i], SIGKILL);
            }
            return 1;
        }

        bench_sleep_us(500);

    } while (1);

    start = bench_now_us();
    __atomic_store_n(&sh->go_us, start, __ATOMIC_SEQ_CST);

    /* each process ends by count or time; a hung one is ended */

    limit = start + (long long) (conf.seconds * 1e6) + 2LL * BENCH_IO_TIMEOUT
            * 1000;

    for (i = 0; i < conf.procs; i++) {
        while (waitpid(pids[i], &status, WNOHANG) == 0) {
            if (bench_now_us() > limit) {
                kill(pids[i], SIGKILL);
            }

            bench_sleep_us(2000);
        }
    }

    end = start;

    return bench_report(&conf, sh, start, end);
}
