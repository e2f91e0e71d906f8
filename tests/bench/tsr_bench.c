
/*
 * A TLS load generator for the benchmark: several client processes, each
 * keeping several connections in flight on non-blocking sockets to
 * 127.0.0.1 (poll() over them; each connection a state machine: connect,
 * handshake, TLS 1.3 tickets, optional request, close), as the clients of
 * a real server are many at once.
 *
 * Modes:
 *   full       every handshake without a session;
 *   resume     one full handshake per connection slot (before the clock
 *              starts), then resumption of the slot's newest session, on
 *              one server;
 *   cross      the same, alternating between two servers (a fleet behind
 *              a load balancer): each session is offered to the server
 *              that did not issue it;
 *   keepalive  requests on long-lived connections, one per slot; the
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
#define BENCH_MAX_CONNS     512
#define BENCH_MAX_SAMPLES   (1 << 20)
#define BENCH_IO_TIMEOUT    5000
#define BENCH_TICKET_WAIT   1000
#define BENCH_MAX_FAILURES  100
#define BENCH_START_WAIT    30000
#define BENCH_SNI           "bench.test"

/* connection states */
#define BENCH_IDLE          0
#define BENCH_CONNECT       1
#define BENCH_HANDSHAKE     2
#define BENCH_TICKETS       3
#define BENCH_WRITE         4
#define BENCH_READ          5

/* what a step of a connection came to */
#define BENCH_AGAIN         0
#define BENCH_DONE          1
#define BENCH_ERROR         -1


typedef struct {
    int             mode;
    int             version;            /* TLS1_2_VERSION, TLS1_3_VERSION */
    int             tickets;            /* the client accepts tickets */
    int             ports[2];
    int             nports;
    int             procs;
    int             conns;              /* in flight per process */
    long            count;              /* handshakes, or requests */
    double          seconds;
    double          rate;               /* per second in all, 0: unpaced */
    int             request;            /* a request per connection */
    int             json;
    int             sync;               /* "ready", then a line on stdin */
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


typedef struct bench_proc_s  bench_proc_t;


/* one connection slot: an operation at a time, its own session chain */
typedef struct {
    bench_proc_t       *bp;
    int                 state;
    int                 fd;
    SSL                *ssl;
    short               events;         /* POLLIN or POLLOUT awaited */
    unsigned            warmup:1;       /* not measured */
    unsigned            request:1;      /* this operation sends one */
    unsigned            offering:1;     /* a session was offered */
    unsigned            reused:1;
    unsigned            reconnect:1;    /* keepalive: handshake first */
    long                ops;            /* measured operations begun */
    SSL_SESSION        *sess;           /* offered next */
    SSL_SESSION        *received;       /* newest session from the server */
    long                nreceived;
    long                before;         /* nreceived when the op began */
    long long           t0;
    long long           deadline;       /* of the operation */
    long long           tickets_due;    /* TLS 1.3 tickets awaited until */
    size_t              len;            /* response bytes */
    char                buf[16384];
} bench_conn_t;


/* the state of a client process */
struct bench_proc_s {
    const bench_conf_t *conf;
    bench_slot_t       *slot;
    SSL_CTX            *ctx;
    int                 index;
    bench_conn_t       *conns;
    struct pollfd      *pfds;
    bench_conn_t      **polled;         /* the connection of each pfds[i] */
};


static long long bench_now_us(void);
static void bench_sleep_us(long long us);
static int bench_parse(int argc, char **argv, bench_conf_t *conf);
static void bench_usage(void);
static SSL_CTX *bench_client_ctx(const bench_conf_t *conf);
static int bench_new_session(SSL *ssl, SSL_SESSION *sess);
static int bench_begin(bench_conn_t *c, int port);
static int bench_step(bench_conn_t *c);
static void bench_connected(bench_conn_t *c);
static int bench_handshake(bench_conn_t *c);
static int bench_tickets(bench_conn_t *c);
static int bench_write(bench_conn_t *c);
static int bench_read(bench_conn_t *c);
static int bench_response(bench_conn_t *c);
static int bench_ssl_wait(bench_conn_t *c, int rc, const char *call);
static void bench_close(bench_conn_t *c);
static void bench_start(bench_proc_t *bp, bench_conn_t *c);
static void bench_finish(bench_proc_t *bp, bench_conn_t *c, int rc);
static void bench_record(bench_slot_t *slot, long long us);
static void bench_child(const bench_conf_t *conf, bench_shared_t *sh,
    int index);
static void bench_wait_go(bench_shared_t *sh, bench_slot_t *slot);
static void bench_loop(bench_proc_t *bp, bench_shared_t *sh, int warmup);
static long bench_share(long total, int procs, int index);
static long long bench_due(const bench_conf_t *conf, long long start,
    long i, int index);
static int bench_wait_line(void);
static int bench_cmp_u32(const void *a, const void *b);
static int bench_report(const bench_conf_t *conf, bench_shared_t *sh,
    long long start, long long end);


static int   bench_index = -1;
static char  bench_last_error[256];

static const char  bench_req[] = "GET / HTTP/1.1\r\nHost: " BENCH_SNI "\r\n"
                                 "\r\n";


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
        "  -i N        connections in flight per process (default 1)\n"
        "  -n N        at most N handshakes (requests in keepalive mode)\n"
        "              in all (default 1000000)\n"
        "  -t SECONDS  at most this long (default 5)\n"
        "  -r RATE     paced at RATE per second in all (default: as fast\n"
        "              as the server answers)\n"
        "  -k          one keep-alive HTTP request on each connection\n"
        "  -j          print one JSON object instead of text\n"
        "  -s          once warmed up print \"ready\" and start the clock\n"
        "              at a line on stdin (a caller's counters then leave\n"
        "              the warm-up out)\n"
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
    conf->conns = 1;
    conf->count = 1000000;
    conf->seconds = 5;
    conf->label = "";

    while ((ch = getopt(argc, argv, "p:m:P:c:i:n:t:r:kjsl:h")) != -1) {
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

        case 'i':
            conf->conns = atoi(optarg);
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

        case 's':
            conf->sync = 1;
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
        || conf->conns < 1 || conf->conns > BENCH_MAX_CONNS
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


/*
 * Keeps the newest session of the connection slot; returning 1 takes
 * OpenSSL's reference.
 */

static int
bench_new_session(SSL *ssl, SSL_SESSION *sess)
{
    bench_conn_t  *c;

    c = SSL_get_ex_data(ssl, bench_index);
    if (c == NULL) {
        return 0;
    }

    if (c->received != NULL) {
        SSL_SESSION_free(c->received);
    }

    c->received = sess;
    c->nreceived++;

    return 1;
}


/*
 * Starts an operation on a connection slot: a new connection to "port"
 * offering the slot's session, or with "port" 0 a request on the slot's
 * open connection.  Returns what the first step came to.
 */

static int
bench_begin(bench_conn_t *c, int port)
{
    int                 one;
    struct sockaddr_in  sin;

    c->t0 = bench_now_us();
    c->deadline = c->t0 + BENCH_IO_TIMEOUT * 1000LL;
    c->before = c->nreceived;
    c->len = 0;

    if (port == 0) {
        c->state = BENCH_WRITE;
        return bench_step(c);
    }

    c->offering = (c->sess != NULL);

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd == -1) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "socket() failed: %s", strerror(errno));
        return BENCH_ERROR;
    }

    one = 1;

    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
        != 0)
    {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "setsockopt() failed: %s", strerror(errno));
        return BENCH_ERROR;
    }

    c->ssl = SSL_new(c->bp->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1
        || SSL_set_ex_data(c->ssl, bench_index, c) != 1
        || SSL_set_tlsext_host_name(c->ssl, BENCH_SNI) != 1
        || (c->sess != NULL && SSL_set_session(c->ssl, c->sess) != 1))
    {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "SSL_new() failed");
        return BENCH_ERROR;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(c->fd, (struct sockaddr *) &sin, sizeof(sin)) == 0) {
        c->state = BENCH_HANDSHAKE;
        return bench_step(c);
    }

    if (errno != EINPROGRESS) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "connect() to 127.0.0.1:%d failed: %s", port,
                 strerror(errno));
        return BENCH_ERROR;
    }

    c->state = BENCH_CONNECT;
    c->events = POLLOUT;

    return BENCH_AGAIN;
}


/* advances a connection as far as it goes without waiting */

static int
bench_step(bench_conn_t *c)
{
    int        rc, err;
    socklen_t  len;

    for ( ;; ) {
        switch (c->state) {

        case BENCH_CONNECT:
            err = 0;
            len = sizeof(err);

            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                err = errno;
            }

            if (err != 0) {
                snprintf(bench_last_error, sizeof(bench_last_error),
                         "connect() failed: %s", strerror(err));
                return BENCH_ERROR;
            }

            c->state = BENCH_HANDSHAKE;
            break;

        case BENCH_HANDSHAKE:
            rc = bench_handshake(c);
            if (rc != BENCH_DONE) {
                return rc;
            }
            break;

        case BENCH_TICKETS:
            rc = bench_tickets(c);
            if (rc != BENCH_DONE) {
                return rc;
            }
            break;

        case BENCH_WRITE:
            rc = bench_write(c);
            if (rc != BENCH_DONE) {
                return rc;
            }
            break;

        case BENCH_READ:
            return bench_read(c);

        default:
            return BENCH_DONE;
        }
    }
}


/*
 * The handshake, then (TLS 1.3 without a request) the tickets the server
 * sends right after it, as a client must take them to resume later.
 */

static int
bench_handshake(bench_conn_t *c)
{
    int  rc;

    ERR_clear_error();

    rc = SSL_connect(c->ssl);
    if (rc != 1) {
        return bench_ssl_wait(c, rc, "SSL_connect()");
    }

    c->reused = SSL_session_reused(c->ssl) ? 1 : 0;

    if (c->bp->conf->version == TLS1_3_VERSION && !c->bp->conf->request) {
        c->state = BENCH_TICKETS;
        c->tickets_due = bench_now_us() + BENCH_TICKET_WAIT * 1000LL;
        return BENCH_DONE;
    }

    bench_connected(c);

    return BENCH_DONE;
}


/* after the handshake (and the tickets): the request, if any */

static void
bench_connected(bench_conn_t *c)
{
    if (!c->request) {
        c->state = BENCH_IDLE;
        return;
    }

    c->state = BENCH_WRITE;

    if (c->bp->conf->mode == BENCH_KEEPALIVE) {
        /* the latency of the request alone, not of the reconnection */
        c->t0 = bench_now_us();
    }
}


/*
 * TLS 1.3 servers send their tickets after the handshake: read records
 * until one came and nothing more is waiting on the socket.
 */

static int
bench_tickets(bench_conn_t *c)
{
    int            rc, err;
    char           buf[256];
    struct pollfd  pfd;

    for ( ;; ) {
        ERR_clear_error();

        rc = SSL_read(c->ssl, buf, sizeof(buf));
        if (rc > 0) {
            continue;
        }

        err = SSL_get_error(c->ssl, rc);

        if (err != SSL_ERROR_WANT_READ) {
            break;
        }

        if (SSL_has_pending(c->ssl)) {
            continue;
        }

        if (c->nreceived == c->before) {
            if (bench_now_us() >= c->tickets_due) {
                break;
            }

            c->events = POLLIN;
            return BENCH_AGAIN;
        }

        /* one came: take the others already here, as one flight */

        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;

        if (poll(&pfd, 1, 0) <= 0) {
            break;
        }
    }

    if (c->nreceived == c->before) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "no TLS 1.3 ticket within %d ms", BENCH_TICKET_WAIT);
        return BENCH_ERROR;
    }

    bench_connected(c);

    return BENCH_DONE;
}


/* one "GET /" on the connection, which stays open */

static int
bench_write(bench_conn_t *c)
{
    int  rc;

    ERR_clear_error();

    rc = SSL_write(c->ssl, bench_req, sizeof(bench_req) - 1);
    if (rc != (int) sizeof(bench_req) - 1) {
        return bench_ssl_wait(c, rc, "SSL_write()");
    }

    c->len = 0;
    c->state = BENCH_READ;

    return BENCH_DONE;
}


/* the response: the header and a Content-Length body */

static int
bench_read(bench_conn_t *c)
{
    int  rc;

    for ( ;; ) {
        if (c->len >= sizeof(c->buf) - 1) {
            snprintf(bench_last_error, sizeof(bench_last_error),
                     "response too long");
            return BENCH_ERROR;
        }

        ERR_clear_error();

        rc = SSL_read(c->ssl, c->buf + c->len,
                      (int) (sizeof(c->buf) - 1 - c->len));

        if (rc <= 0) {
            /* a ticket or another record without data: read on */
            if (SSL_get_error(c->ssl, rc) == SSL_ERROR_WANT_READ
                && SSL_has_pending(c->ssl))
            {
                continue;
            }

            return bench_ssl_wait(c, rc, "SSL_read()");
        }

        c->len += rc;
        c->buf[c->len] = '\0';

        rc = bench_response(c);
        if (rc != BENCH_AGAIN) {
            if (rc == BENCH_DONE) {
                c->state = BENCH_IDLE;
            }

            return rc;
        }
    }
}


/* whether the response in c->buf is whole */

static int
bench_response(bench_conn_t *c)
{
    char    *end, *p;
    size_t   hlen, need;

    end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return BENCH_AGAIN;
    }

    if (strncmp(c->buf, "HTTP/1.1 200 ", 13) != 0) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "unexpected response \"%.20s\"", c->buf);
        return BENCH_ERROR;
    }

    hlen = (size_t) (end - c->buf) + 4;
    need = (size_t) -1;

    for (p = c->buf; p != NULL && p < end; p = strstr(p, "\r\n")) {
        p += (p[0] == '\r') ? 2 : 0;

        if (strncasecmp(p, "Content-Length:", 15) == 0) {
            need = (size_t) strtoul(p + 15, NULL, 10);
            break;
        }
    }

    if (need > sizeof(c->buf) - 1 - hlen) {
        snprintf(bench_last_error, sizeof(bench_last_error),
                 "response without a usable Content-Length");
        return BENCH_ERROR;
    }

    return c->len >= hlen + need ? BENCH_DONE : BENCH_AGAIN;
}


/* what an SSL call that did not complete is waiting for, or the error */

static int
bench_ssl_wait(bench_conn_t *c, int rc, const char *call)
{
    int          err;
    const char  *reason;

    err = SSL_get_error(c->ssl, rc);

    if (err == SSL_ERROR_WANT_READ) {
        c->events = POLLIN;
        return BENCH_AGAIN;
    }

    if (err == SSL_ERROR_WANT_WRITE) {
        c->events = POLLOUT;
        return BENCH_AGAIN;
    }

    reason = ERR_reason_error_string(ERR_peek_error());

    snprintf(bench_last_error, sizeof(bench_last_error),
             "%s failed: %d, %s", call, err,
             err == SSL_ERROR_ZERO_RETURN ? "closed by the server"
             : reason != NULL ? reason
             : errno != 0 ? strerror(errno) : "connection closed");

    return BENCH_ERROR;
}


static void
bench_close(bench_conn_t *c)
{
    if (c->ssl != NULL) {
        /* close_notify, as a well-behaved client sends; no wait for more */
        (void) SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->state = BENCH_IDLE;

    ERR_clear_error();
}


/* the next operation of a connection slot */

static void
bench_start(bench_proc_t *bp, bench_conn_t *c)
{
    int                  port, rc;
    const bench_conf_t  *conf;

    conf = bp->conf;

    if (conf->mode == BENCH_KEEPALIVE) {
        /* the warm-up opens the connection, each operation is a request */
        c->request = c->warmup ? 0 : 1;
        c->reconnect = (c->ssl == NULL);
        port = (c->ssl == NULL) ? conf->ports[0] : 0;

    } else {
        c->request = conf->request;
        c->reconnect = 0;

        /* in cross mode the warm-up goes to the first server */
        port = conf->ports[(conf->mode == BENCH_CROSS && !c->warmup)
                           ? (c->ops + 1) % 2 : 0];
    }

    if (!c->warmup) {
        c->ops++;
    }

    rc = bench_begin(c, port);

    if (rc != BENCH_AGAIN) {
        bench_finish(bp, c, rc);
    }
}


/* an operation ended: its figures, the slot's session, the connection */

static void
bench_finish(bench_proc_t *bp, bench_conn_t *c, int rc)
{
    const bench_conf_t  *conf;

    conf = bp->conf;

    if (rc != BENCH_DONE) {
        bench_close(c);

        if (c->warmup) {
            fprintf(stderr, "tsr-bench: warm-up failed: %s\n",
                    bench_last_error);
            _exit(1);
        }

        bp->slot->failed++;
        return;
    }

    if (conf->mode == BENCH_KEEPALIVE) {
        bp->slot->reconnects += c->reconnect;

        if (!c->warmup) {
            bp->slot->requests++;
            bench_record(bp->slot, bench_now_us() - c->t0);
        }

        c->state = BENCH_IDLE;
        return;
    }

    bench_close(c);

    if (!c->warmup) {
        bp->slot->handshakes++;
        bp->slot->requests += c->request;
        bench_record(bp->slot, bench_now_us() - c->t0);

        if (c->offering) {
            bp->slot->offered++;
            bp->slot->resumed += c->reused;
        }
    }

    /* a new session (a TLS 1.3 ticket, a fresh id) replaces the old */

    if (c->received != NULL && conf->mode != BENCH_FULL) {
        if (c->sess != NULL) {
            SSL_SESSION_free(c->sess);
        }

        c->sess = c->received;
        c->received = NULL;
    }

    if (c->warmup && conf->mode != BENCH_FULL && c->sess == NULL) {
        fprintf(stderr, "tsr-bench: the server sent no session\n");
        _exit(1);
    }
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
 * start + (i * procs + index) / rate, on whichever of its connections is
 * free: operations evenly spaced over all the processes (not the
 * processes in step, which would make bursts), and a load that stays the
 * same however fast the server answers.
 */

static long long
bench_due(const bench_conf_t *conf, long long start, long i, int index)
{
    if (conf->rate <= 0) {
        return start;
    }

    return start + (long long) (((double) i * conf->procs + index)
                                / conf->rate * 1e6);
}


static void
bench_child(const bench_conf_t *conf, bench_shared_t *sh, int index)
{
    int            k;
    bench_conn_t  *c;
    bench_proc_t   bp;

    memset(&bp, 0, sizeof(bench_proc_t));

    bp.conf = conf;
    bp.slot = &sh->slots[index];
    bp.index = index;

    bp.ctx = bench_client_ctx(conf);
    bp.conns = calloc(conf->conns, sizeof(bench_conn_t));
    bp.pfds = calloc(conf->conns, sizeof(struct pollfd));
    bp.polled = calloc(conf->conns, sizeof(bench_conn_t *));

    if (bp.ctx == NULL || bp.conns == NULL || bp.pfds == NULL
        || bp.polled == NULL)
    {
        fprintf(stderr, "tsr-bench: SSL_CTX_new() failed\n");
        _exit(1);
    }

    for (k = 0; k < conf->conns; k++) {
        bp.conns[k].bp = &bp;
        bp.conns[k].fd = -1;
    }

    /*
     * Off the clock: resumption starts from a session of the first
     * server in every slot, keep-alive from open connections.
     */

    if (conf->mode != BENCH_FULL) {
        bench_loop(&bp, sh, 1);
    }

    bench_wait_go(sh, bp.slot);
    bench_loop(&bp, sh, 0);

    for (k = 0; k < conf->conns; k++) {
        c = &bp.conns[k];
        bench_close(c);
        bp.slot->tickets += c->nreceived;

        if (c->sess != NULL) {
            SSL_SESSION_free(c->sess);
        }

        if (c->received != NULL) {
            SSL_SESSION_free(c->received);
        }
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


/*
 * The event loop of a process: operations begin on free connection slots
 * while the count, the time and the pace allow, and those begun run to
 * their end.  The warm-up runs one operation per slot, unmeasured.
 */

static void
bench_loop(bench_proc_t *bp, bench_shared_t *sh, int warmup)
{
    int                  k, n, rc, stopping;
    long                 i, total;
    long long            now, start, end, due, wake;
    bench_conn_t        *c;
    struct timespec      ts;
    const bench_conf_t  *conf;

    conf = bp->conf;

    for (k = 0; k < conf->conns; k++) {
        bp->conns[k].warmup = warmup ? 1 : 0;
    }

    if (warmup) {
        start = bench_now_us();
        end = start + BENCH_START_WAIT * 1000LL;
        total = conf->conns;

    } else {
        start = sh->go_us;
        end = start + (long long) (conf->seconds * 1e6);
        total = bench_share(conf->count, conf->procs, bp->index);
    }

    i = 0;
    stopping = 0;

    for ( ;; ) {
        now = bench_now_us();
        wake = now + BENCH_IO_TIMEOUT * 1000LL;

        for (k = 0; k < conf->conns && !stopping; k++) {
            c = &bp->conns[k];

            if (c->state != BENCH_IDLE) {
                continue;
            }

            due = warmup ? now : bench_due(conf, start, i, bp->index);

            if (i >= total || now >= end || due >= end
                || bp->slot->failed >= BENCH_MAX_FAILURES)
            {
                stopping = 1;
                break;
            }

            if (due > now) {
                wake = due;
                break;
            }

            bench_start(bp, c);
            i++;

            /* over already (a prompt reply, a refused connection) */
            if (c->state == BENCH_IDLE) {
                now = bench_now_us();
                k--;
            }
        }

        n = 0;

        for (k = 0; k < conf->conns; k++) {
            c = &bp->conns[k];

            if (c->state == BENCH_IDLE) {
                continue;
            }

            bp->pfds[n].fd = c->fd;
            bp->pfds[n].events = c->events;
            bp->pfds[n].revents = 0;
            bp->polled[n++] = c;

            if (c->deadline < wake) {
                wake = c->deadline;
            }

            if (c->state == BENCH_TICKETS && c->tickets_due < wake) {
                wake = c->tickets_due;
            }
        }

        if (n == 0 && stopping) {
            break;
        }

        wake -= bench_now_us();
        wake = wake > 0 ? wake : 0;

        ts.tv_sec = (time_t) (wake / 1000000);
        ts.tv_nsec = (long) (wake % 1000000) * 1000;

        if (ppoll(bp->pfds, n, &ts, NULL) == -1 && errno != EINTR) {
            fprintf(stderr, "tsr-bench: ppoll() failed: %s\n",
                    strerror(errno));
            _exit(1);
        }

        now = bench_now_us();

        for (k = 0; k < n; k++) {
            c = bp->polled[k];

            if (bp->pfds[k].revents != 0
                || (c->state == BENCH_TICKETS && now >= c->tickets_due))
            {
                rc = bench_step(c);

            } else if (now >= c->deadline) {
                snprintf(bench_last_error, sizeof(bench_last_error),
                         "no progress within %d ms (state %d)",
                         BENCH_IO_TIMEOUT, c->state);
                rc = BENCH_ERROR;

            } else {
                continue;
            }

            if (rc != BENCH_AGAIN) {
                bench_finish(bp, c, rc);
            }
        }
    }
}


/* a line (or the end) on stdin within BENCH_START_WAIT; -1 if none */

static int
bench_wait_line(void)
{
    char           c;
    ssize_t        n;
    long long      limit, left;
    struct pollfd  pfd;

    limit = bench_now_us() + BENCH_START_WAIT * 1000LL;

    for ( ;; ) {
        left = (limit - bench_now_us()) / 1000;
        if (left <= 0) {
            return -1;
        }

        pfd.fd = STDIN_FILENO;
        pfd.events = POLLIN;
        pfd.revents = 0;

        if (poll(&pfd, 1, (int) left) <= 0) {
            continue;
        }

        n = read(STDIN_FILENO, &c, 1);

        if (n == 0 || (n == 1 && c == '\n')) {
            return 0;
        }

        if (n == -1 && errno != EINTR && errno != EAGAIN) {
            return -1;
        }
    }
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
               "\"procs\":%d,\"conns\":%d,\"inflight\":%d,"
               "\"seconds\":%.3f,\"handshakes\":%ld,"
               "\"requests\":%ld,\"offered\":%ld,\"resumed\":%ld,"
               "\"failed\":%ld,\"tickets\":%ld,\"per_s\":%.1f,"
               "\"resume_rate\":%.6f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
               conf->label, modes[conf->mode],
               conf->version == TLS1_3_VERSION ? "tls13"
               : conf->tickets ? "tls12t" : "tls12",
               conf->procs, conf->conns, conf->procs * conf->conns, secs,
               handshakes, requests, offered, resumed,
               failed, tickets, secs > 0 ? ops / secs : 0.0,
               offered > 0 ? (double) resumed / offered : 0.0,
               mean / 1000, p50 / 1000.0, p90 / 1000.0, p99 / 1000.0,
               max / 1000.0);

        return ops > 0 ? 0 : 1;
    }

    printf("%s %s, %d processes x %d connections, %.2f s: %ld %s, "
           "%.1f/s\n", modes[conf->mode],
           conf->version == TLS1_3_VERSION ? "TLS 1.3"
           : conf->tickets ? "TLS 1.2 tickets" : "TLS 1.2",
           conf->procs, conf->conns, secs, (long) ops,
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

    if (conf.sync) {
        printf("ready\n");
        fflush(stdout);

        if (bench_wait_line() != 0) {
            fprintf(stderr, "tsr-bench: no go on stdin\n");
            for (i = 0; i < conf.procs; i++) {
                kill(pids[i], SIGKILL);
            }
            return 1;
        }
    }

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
