
/*
 * Single use (ssl_session_redis_single_use) against real nginx nodes: a
 * session resumes at most once across the fleet, also when offered to
 * both nodes at once, and 0-RTT data replayed to the other node is not
 * accepted (without single use, the contrast: it is).  The nodes and
 * Redis are the fixture of test_tickets (nodes.c).
 *
 * TSR_TEST_ONLY=<substring> runs only the tests whose names contain it.
 */


#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>

#include "nodes.h"


#define SINGLE_ROUNDS     50
#define SEQ_ROUNDS        10
#define EARLY_MAX         16384


/* a client's 0-RTT request and what it sent */
typedef struct {
    int                 reused;
    int                 status;         /* SSL_get_early_data_status() */
    char                body[64];
    size_t              sent_len;       /* ClientHello and early data */
    uint8_t             sent[EARLY_MAX];
} early_t;


typedef struct {
    pthread_barrier_t  *barrier;
    node_t             *node;
    int                 version;
    SSL_SESSION        *offer;
    int                 rc;
    int                 reused;
} racer_t;


static void *racer(void *arg);
static void single_use_case(int version);
static int early_request(int port, SSL_SESSION *sess, early_t *e);
static int early_flush(SSL *ssl, BIO *wbio, int fd, early_t *e);
static int early_feed(BIO *rbio, int fd);
static int raw_replay(int port, const uint8_t *data, size_t len, int ms);
static int client_socket(int port, int timeout_ms);
static void early_case(int single_use);
static void test_tls12_single_use_resumes_once(void);
static void test_tls13_single_use_resumes_once(void);
static void test_early_data_replay_rejected_with_single_use(void);
static void test_early_data_replayed_without_single_use(void);


static void *
racer(void *arg)
{
    racer_t  *r = arg;

    hs_t  hs;

    (void) pthread_barrier_wait(r->barrier);

    r->rc = handshake(r->node, r->version, 0, r->offer, &hs);
    r->reused = hs.reused;
    hs_free(&hs);

    return NULL;
}


/*
 * Stateful sessions (TLS 1.2 session ids, TLS 1.3 stateful tickets),
 * single use.  Offered to node A, then node B: resumed once.  Offered to
 * both nodes at the same moment, SINGLE_ROUNDS times: exactly one of each
 * pair resumes.  Afterwards Redis no longer holds the session.
 */

static void
single_use_case(int version)
{
    int                i, k, once, twice, none, failed, left, seq_once;
    hs_t               hs;
    char               pattern[256];
    racer_t            r[2];
    pthread_t          tid[2];
    node_conf_t        nc;
    SSL_SESSION       *sess;
    pthread_barrier_t  barrier;

    once = 0;
    twice = 0;
    none = 0;
    failed = 0;
    left = 0;
    seq_once = 0;

    memset(&nc, 0, sizeof(node_conf_t));
    nc.single_use = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* one after the other */

    for (i = 0; i < SEQ_ROUNDS; i++) {
        if (handshake(&nodes[i % 2], version, 0, NULL, &hs) != 0
            || hs.sess == NULL
            || wait_stored(hs.sess, version, 2000) != 0)
        {
            hs_free(&hs);
            CU_FAIL("no stored session");
            continue;
        }

        sess = hs.sess;

        if (session_key_pattern(sess, version, pattern, sizeof(pattern))
            != 0)
        {
            SSL_SESSION_free(sess);
            CU_FAIL("no session id");
            continue;
        }

        k = 0;

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_B], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        CU_ASSERT_EQUAL(handshake(&nodes[NODE_A], version, 0, sess, &hs), 0);
        k += hs.reused;
        hs_free(&hs);

        seq_once += k == 1;
        left += session_keys(&redis, pattern);

        SSL_SESSION_free(sess);
    }

    CU_ASSERT_EQUAL(seq_once, SEQ_ROUNDS);

    /* both at once */

    if (pthread_barrier_init(&barrier, NULL, 2) != 0) {
        CU_FAIL("pthread_barrier_init() failed");
        goto done;
    }

    for (i = 0; i < SINGLE_ROUNDS; i++) {
        if (handshake(&nodes[i % 2], version, 0, NULL, &hs) != 0
            || hs.sess == NULL
            || wait_stored(hs.sess, version, 2000) != 0
            || session_key_pattern(hs.sess, version, pattern,
                                   sizeof(pattern))
               != 0)
        {
            hs_free(&hs);
            CU_FAIL("no stored session");
            continue;
        }

        sess = hs.sess;

        for (k = 0; k < 2; k++) {
            r[k].barrier = &barrier;
            r[k].node = &nodes[k];
            r[k].version = version;
            r[k].offer = sess;
            r[k].rc = -1;
            r[k].reused = 0;
        }

        for (k = 0; k < 2; k++) {
            if (pthread_create(&tid[k], NULL, racer, &r[k]) != 0) {
                CU_FAIL("pthread_create() failed");
                /* the barrier cannot be passed: give up on the test */
                SSL_SESSION_free(sess);
                goto done;
            }
        }

        for (k = 0; k < 2; k++) {
            (void) pthread_join(tid[k], NULL);
            failed += r[k].rc != 0;
        }

        switch (r[0].reused + r[1].reused) {
        case 0:
            none++;
            break;
        case 1:
            once++;
            break;
        default:
            twice++;
        }

        left += session_keys(&redis, pattern);

        SSL_SESSION_free(sess);
    }

    (void) pthread_barrier_destroy(&barrier);

    printf("\n    TLSv1.%d single use: offered to A then B then A, resumed "
           "once in %d of %d; offered to both at once, exactly one resumed "
           "in %d of %d (none %d, both %d); %d sessions left in redis ",
           version == TSR_TEST_TLS13 ? 3 : 2, seq_once, SEQ_ROUNDS, once,
           SINGLE_ROUNDS, none, twice, left);

    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(once, SINGLE_ROUNDS);
    CU_ASSERT_EQUAL(twice, 0);
    CU_ASSERT_EQUAL(left, 0);

done:

    stop_nodes();
    check_logs();
}


static void
test_tls12_single_use_resumes_once(void)
{
    single_use_case(TSR_TEST_TLS12);
}


static void
test_tls13_single_use_resumes_once(void)
{
    single_use_case(TSR_TEST_TLS13);
}


static int
client_socket(int port, int timeout_ms)
{
    int                 fd, one;
    struct timeval      tv;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    one = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0
        || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    {
        close(fd);
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }

    return fd;
}


/* sends what OpenSSL wrote into the memory BIO; keeps the first flight */

static int
early_flush(SSL *ssl, BIO *wbio, int fd, early_t *e)
{
    int      n;
    ssize_t  w;
    uint8_t  buf[4096];

    (void) ssl;

    for ( ;; ) {
        n = BIO_read(wbio, buf, sizeof(buf));
        if (n <= 0) {
            return 0;
        }

        if (e != NULL && e->sent_len + n <= sizeof(e->sent)) {
            memcpy(e->sent + e->sent_len, buf, n);
            e->sent_len += n;
        }

        w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w != n) {
            return -1;
        }
    }
}


/* one read from the socket into the memory BIO; 0 at EOF, -1 error */

static int
early_feed(BIO *rbio, int fd)
{
    ssize_t  n;
    uint8_t  buf[16384];

    n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        return n == 0 ? 0 : -1;
    }

    return BIO_write(rbio, buf, (int) n) == n ? 1 : -1;
}


/*
 * A TLS 1.3 client sending "GET /" as early data with "sess" (a copy is
 * used, so the caller may offer it again), over memory BIOs so that the
 * bytes of its first flight, ClientHello and early data, are kept for a
 * replay.  If the server rejects the early data, the request is sent again
 * after the handshake, as a browser would.  e->body is the response body:
 * "1" when the server saw the request as early data.
 */

static int
early_request(int port, SSL_SESSION *sess, early_t *e)
{
    int           fd, rc, err, i, got;
    BIO          *rbio, *wbio;
    SSL          *ssl;
    char          resp[4096], *body;
    size_t        written, len;
    SSL_CTX      *ctx;
    SSL_SESSION  *copy;
    static const char  req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n"
                               "Connection: close\r\n\r\n";

    memset(e, 0, sizeof(early_t));
    e->status = -1;

    rc = -1;
    fd = -1;
    ssl = NULL;
    copy = NULL;
    len = 0;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return -1;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    fd = client_socket(port, 3000);
    if (fd == -1) {
        goto failed;
    }

    ssl = SSL_new(ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());

    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);

    copy = SSL_SESSION_dup(sess);

    if (copy == NULL || SSL_set_session(ssl, copy) != 1
        || SSL_SESSION_get_max_early_data(copy) == 0)
    {
        fprintf(stderr, "the session allows no early data\n");
        goto failed;
    }

    /* memory BIOs never block: ClientHello and early data at once */

    if (SSL_write_early_data(ssl, req, sizeof(req) - 1, &written) != 1
        || written != sizeof(req) - 1)
    {
        fprintf(stderr, "SSL_write_early_data() failed\n");
        goto failed;
    }

    if (early_flush(ssl, wbio, fd, e) != 0) {
        goto failed;
    }

    for (i = 0; i < 1000; i++) {
        rc = SSL_do_handshake(ssl);
        if (rc == 1) {
            break;
        }

        err = SSL_get_error(ssl, rc);

        if (err != SSL_ERROR_WANT_READ
            || early_flush(ssl, wbio, fd, NULL) != 0
            || early_feed(rbio, fd) != 1)
        {
            fprintf(stderr, "early data handshake with 127.0.0.1:%d "
                    "failed\n", port);
            rc = -1;
            goto failed;
        }
    }

    rc = -1;

    e->status = SSL_get_early_data_status(ssl);
    e->reused = SSL_session_reused(ssl);

    /*
     * Accepted: the client's Finished stays in the BIO until the response
     * is read, so that the server answers the request while it is still
     * early data ($ssl_early_data "1"), as it does for a replay that never
     * sends a Finished.  Rejected: the request again, after the
     * handshake.
     */

    if (e->status != SSL_EARLY_DATA_ACCEPTED) {
        if (SSL_write(ssl, req, sizeof(req) - 1) != (int) sizeof(req) - 1
            || early_flush(ssl, wbio, fd, NULL) != 0)
        {
            goto failed;
        }
    }

    /* the response, to the end of the connection */

    for (i = 0; i < 1000; i++) {
        got = SSL_read(ssl, resp + len, (int) (sizeof(resp) - 1 - len));

        if (got > 0) {
            len += got;

            if (len == sizeof(resp) - 1) {
                break;
            }

            continue;
        }

        err = SSL_get_error(ssl, got);

        if (err == SSL_ERROR_ZERO_RETURN) {
            break;
        }

        if (err != SSL_ERROR_WANT_READ) {
            goto failed;
        }

        got = early_feed(rbio, fd);

        if (got == 0) {
            break;
        }

        if (got < 0) {
            goto failed;
        }
    }

    /* the Finished held back, if any; the server may have closed */
    (void) early_flush(ssl, wbio, fd, NULL);

    resp[len] = '\0';

    body = strstr(resp, "\r\n\r\n");

    if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 || body == NULL) {
        fprintf(stderr, "unexpected response: \"%.40s\"\n", resp);
        goto failed;
    }

    snprintf(e->body, sizeof(e->body), "%s", body + 4);
    e->body[strcspn(e->body, "\r\n")] = '\0';

    rc = 0;

failed:

    if (ssl != NULL) {
        SSL_free(ssl);
    }

    if (copy != NULL) {
        SSL_SESSION_free(copy);
    }

    if (fd != -1) {
        close(fd);
    }

    SSL_CTX_free(ctx);
    ERR_clear_error();

    return rc;
}


/*
 * Replays a captured first flight: the attacker has the bytes, not the
 * keys.  Reads whatever the server answers for "ms" or until it closes.
 */

static int
raw_replay(int port, const uint8_t *data, size_t len, int ms)
{
    int        fd, i;
    char       buf[4096];
    ssize_t    n;
    long long  deadline;

    fd = client_socket(port, 100);
    if (fd == -1) {
        return -1;
    }

    if (send(fd, data, len, MSG_NOSIGNAL) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    deadline = tsr_test_now_ms() + ms;

    for (i = 0; i < 10000 && tsr_test_now_ms() < deadline; i++) {
        n = recv(fd, buf, sizeof(buf), 0);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                       && errno != EINTR))
        {
            break;
        }
    }

    close(fd);

    return 0;
}


/*
 * ssl_early_data on, stateful TLS 1.3 tickets (nginx sets
 * SSL_OP_NO_ANTI_REPLAY: OpenSSL's own replay check, which only knows its
 * internal cache, is off).  A client resumes on node A with early data;
 * its first flight is replayed byte for byte to node B (an attacker has
 * the bytes, not the keys), then the same session is offered again with
 * early data by a client to node B.  The access logs tell what each node
 * processed as early data ("1|" lines).
 *
 * Single use: A accepts, B processes nothing of the replay and gives the
 * client a full handshake (early data rejected, the request goes after
 * the handshake).  Without single use, the contrast: B accepts both the
 * replay and the session, so 0-RTT requests can be replayed on any node
 * (RFC 8446, section 8) and ssl_early_data is unsafe for requests that
 * are not idempotent.
 */

static void
early_case(int single_use)
{
    int           i, early_a, replayed, replayed_a, early_b, lines_b;
    hs_t          hs;
    early_t      *e, *e2;
    node_conf_t   nc;

    e = NULL;
    e2 = NULL;
    hs.sess = NULL;

    e = calloc(1, sizeof(early_t));
    e2 = calloc(1, sizeof(early_t));

    if (e == NULL || e2 == NULL) {
        CU_FAIL("out of memory");
        goto done;
    }

    memset(&nc, 0, sizeof(node_conf_t));
    nc.single_use = single_use;
    nc.early_data = 1;

    if (setup_nodes(NODE_A, 2, &nc) != 0) {
        CU_FAIL("nodes did not start");
        goto done;
    }

    /* a session allowing early data, in Redis */

    for (i = 0; i < 10; i++) {
        if (handshake(&nodes[NODE_A], TSR_TEST_TLS13, 0, NULL, &hs) == 0
            && hs.sess != NULL
            && SSL_SESSION_get_max_early_data(hs.sess) > 0
            && wait_stored(hs.sess, TSR_TEST_TLS13, 2000) == 0)
        {
            break;
        }

        hs_free(&hs);
    }

    if (hs.sess == NULL) {
        CU_FAIL("no session with early data from node A");
        goto done;
    }

    if (truncate(nodes[NODE_A].access_log, 0) != 0
        || truncate(nodes[NODE_B].access_log, 0) != 0)
    {
        CU_FAIL("truncate() failed");
        goto done;
    }

    /* node A: resumed, early data accepted and answered as early data */

    CU_ASSERT_EQUAL(early_request(nodes[NODE_A].port, hs.sess, e), 0);

    /* node B: the first flight replayed */

    CU_ASSERT_EQUAL(raw_replay(nodes[NODE_B].port, e->sent, e->sent_len,
                               1000), 0);

    tsr_test_sleep_ms(200);

    early_a = log_lines(nodes[NODE_A].access_log, "1|r|GET /");
    replayed = log_lines(nodes[NODE_B].access_log, "GET /");

    /* and to node A itself */

    CU_ASSERT_EQUAL(raw_replay(nodes[NODE_A].port, e->sent, e->sent_len,
                               1000), 0);

    tsr_test_sleep_ms(200);

    replayed_a = log_lines(nodes[NODE_A].access_log, "GET /") - early_a;

    /* node B: the session offered again, with early data */

    CU_ASSERT_EQUAL(early_request(nodes[NODE_B].port, hs.sess, e2), 0);

    tsr_test_sleep_ms(200);

    early_b = log_lines(nodes[NODE_B].access_log, "1|r|GET /");
    lines_b = log_lines(nodes[NODE_B].access_log, "GET /");

    printf("\n    ssl_early_data on, single use %s: node A resumed %d, early "
           "data %s, body \"%s\"; the first flight (%zu bytes) replayed: "
           "%d request(s) processed by B, %d by A; the session again to "
           "node B: resumed %d, early data %s, body \"%s\"; early requests "
           "logged by A %d, by B %d ",
           single_use ? "on" : "off", e->reused,
           e->status == SSL_EARLY_DATA_ACCEPTED ? "accepted"
           : e->status == SSL_EARLY_DATA_REJECTED ? "rejected" : "not sent",
           e->body, e->sent_len, replayed, replayed_a, e2->reused,
           e2->status == SSL_EARLY_DATA_ACCEPTED ? "accepted"
           : e2->status == SSL_EARLY_DATA_REJECTED ? "rejected" : "not sent",
           e2->body, early_a, early_b);

    CU_ASSERT_EQUAL(e->reused, 1);
    CU_ASSERT_EQUAL(e->status, SSL_EARLY_DATA_ACCEPTED);
    CU_ASSERT_STRING_EQUAL(e->body, "1");
    CU_ASSERT_EQUAL(early_a, 1);

    if (single_use) {
        CU_ASSERT_EQUAL(replayed, 0);
        CU_ASSERT_EQUAL(replayed_a, 0);
        CU_ASSERT_EQUAL(e2->reused, 0);
        CU_ASSERT_EQUAL(e2->status, SSL_EARLY_DATA_REJECTED);
        CU_ASSERT_STRING_EQUAL(e2->body, "");
        CU_ASSERT_EQUAL(early_b, 0);
        CU_ASSERT_EQUAL(lines_b, 1);

    } else {
        /* what single use prevents: B runs the replayed request */
        CU_ASSERT_EQUAL(replayed, 1);
        CU_ASSERT_EQUAL(replayed_a, 1);
        CU_ASSERT_EQUAL(e2->reused, 1);
        CU_ASSERT_EQUAL(e2->status, SSL_EARLY_DATA_ACCEPTED);
        CU_ASSERT_EQUAL(early_b, 2);
    }

done:

    hs_free(&hs);
    free(e);
    free(e2);

    stop_nodes();
    check_logs();
}


static void
test_early_data_replay_rejected_with_single_use(void)
{
    early_case(1);
}


static void
test_early_data_replayed_without_single_use(void)
{
    early_case(0);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST_FN(test_tls12_single_use_resumes_once),
        TSR_TEST_FN(test_tls13_single_use_resumes_once),
        TSR_TEST_FN(test_early_data_replay_rejected_with_single_use),
        TSR_TEST_FN(test_early_data_replayed_without_single_use)
    };

    return TSR_TEST_MAIN("single_use", nodes_init_suite, nodes_clean_suite,
                         tests);
}
