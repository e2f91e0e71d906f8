
/*
 * Unit tests for tsr_hello_parse(): real ClientHellos written by OpenSSL's
 * client into a memory BIO, the same hellos rewritten (split, truncated,
 * damaged), hand-built ones for single rules, and a real OpenSSL server's
 * get-session callback as the reference for the lookup decision.
 *
 * With TSR_HELLO_CORPUS set to a directory, the real ClientHellos are also
 * written there, one file each: the seed corpus of tests/fuzz/fuzz_hello.c.
 */


#include "tsr_hello.h"
#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include <openssl/err.h>
#include <openssl/ssl.h>


#define T_BUF                   4096
#define T_BIG                   (TSR_HELLO_MAX_PEEK + 1024)
#define T_SNI                   "one.test"
#define T_CN                    "hello.test"
#define T_SID_CTX               "test_hello"
#define T_ALL                   (TSR_HELLO_TICKETS | TSR_HELLO_TLS13     \
                                 | TSR_HELLO_TLS12)
#define T_NO_TICKETS            (TSR_HELLO_TLS13 | TSR_HELLO_TLS12)

/* offsets in a ClientHello in one record */
#define T_OFF_RLEN              3
#define T_OFF_MLEN              6
#define T_OFF_SID               43

/* the real ClientHellos, made once by the suite's init */
#define T_TLS12_FRESH           0
#define T_TLS12_FRESH_SNI       1
#define T_TLS12_ID              2
#define T_TLS12_TICKET          3
#define T_TLS12_EMPTY_TICKET    4
#define T_TLS13_FRESH           5
#define T_TLS13_FRESH_SNI       6
#define T_TLS13_STATEFUL        7
#define T_TLS13_STATEFUL_SNI    8
#define T_TLS13_STATELESS       9
#define T_NHELLOS               10


typedef struct {
    const char     *name;
    uint8_t         buf[T_BUF];
    size_t          len;
    uint8_t         sid[TSR_MAX_SESSION_ID];    /* the client's session id */
    size_t          sid_len;
    uint8_t         sent[TSR_MAX_SESSION_ID];   /* legacy_session_id sent */
    size_t          sent_len;
    uint8_t         server[TSR_MAX_SESSION_ID]; /* the server's session id */
    size_t          server_len;
} t_hello_t;


/* what a real OpenSSL server's get-session callback saw */
typedef struct {
    int             calls;
    uint8_t         id[TSR_MAX_SESSION_ID];
    size_t          id_len;
} t_oracle_t;


typedef struct {
    size_t          exts;       /* offset of the extensions block length */
    size_t          end;        /* end of the message */
} t_layout_t;


static int t_suite_init(void);
static int t_suite_clean(void);
static int t_make_hellos(void);
static int t_session(SSL_CTX *server, SSL_CTX *client, const char *sni,
    int expect, SSL_SESSION **sess, t_hello_t *h);
static int t_capture(SSL_CTX *client, SSL_SESSION *sess, const char *sni,
    const char *name, t_hello_t *h);
static SSL_CTX *t_client_ctx(int min, int max, int tickets);
static int t_new_session(SSL *ssl, SSL_SESSION *sess);
static SSL_SESSION *t_get_session(SSL *ssl, const unsigned char *id,
    int len, int *copy);
static int t_oracle(const uint8_t *buf, size_t len, unsigned flags,
    t_oracle_t *o);
static void t_write_corpus(const char *dir);
static void t_write_file(const char *dir, const char *name,
    const uint8_t *buf, size_t len);
static int t_layout(const uint8_t *buf, size_t len, t_layout_t *l);
static int t_find_ext(const uint8_t *buf, size_t len, unsigned type,
    size_t *data, size_t *dlen);
static size_t t_add_ext(uint8_t *buf, size_t len, unsigned type,
    const uint8_t *data, size_t dlen);
static size_t t_split(const uint8_t *in, size_t len, size_t at,
    uint8_t *out);
static size_t t_fragment(const uint8_t *in, size_t len, size_t size,
    uint8_t *out);
static size_t t_build(uint8_t *out, unsigned version, size_t sid_len,
    const uint8_t *exts, size_t exts_len);
static size_t t_ext(uint8_t *p, unsigned type, const uint8_t *data,
    size_t len);
static size_t t_ext_hex(uint8_t *p, unsigned type, const char *hex);
static size_t t_ext_psk(uint8_t *p, size_t id_len, size_t nids);
static size_t t_ext_sni(uint8_t *p, unsigned type, const char *name,
    size_t len);
static size_t t_fix(uint8_t *buf, size_t len);
static void t_put16(uint8_t *p, size_t v);
static void t_put24(uint8_t *p, size_t v);
static size_t t_get16(const uint8_t *p);
static void t_expect(const char *what, const uint8_t *buf, size_t len,
    unsigned flags, int rc, int lookup, size_t id_len);
static void t_expect_openssl(const char *what, const uint8_t *buf,
    size_t len);
static void t_expect_same(const tsr_hello_t *a, const tsr_hello_t *b);
static int t_zeroed(const tsr_hello_t *h);

static void test_tls12_offered_session_id_is_looked_up(void);
static void test_tls12_ticket_with_server_tickets_is_not_looked_up(void);
static void test_tls12_ticket_without_server_tickets_looks_up_id(void);
static void test_tls12_empty_ticket_extension_looks_up_id(void);
static void test_tls12_fresh_hello_has_no_lookup(void);
static void test_tls13_stateful_ticket_is_looked_up_by_identity(void);
static void test_tls13_identity_with_server_tickets_is_a_ticket(void);
static void test_tls13_stateless_ticket_is_not_looked_up(void);
static void test_tls13_fresh_hello_random_id_is_not_looked_up(void);
static void test_tls13_hello_without_server_tls13_uses_legacy_id(void);
static void test_no_version_flag_means_no_lookup(void);
static void test_server_name_is_captured(void);
static void test_server_name_rules(void);
static void test_every_prefix_is_incomplete(void);
static void test_split_records_give_same_result(void);
static void test_bytes_after_the_hello_are_ignored(void);
static void test_trailing_bytes_are_rejected(void);
static void test_bad_lengths_are_rejected(void);
static void test_sslv2_hello_is_rejected(void);
static void test_non_handshake_record_is_rejected(void);
static void test_oversize_hello_is_rejected(void);
static void test_duplicate_extension_is_rejected(void);
static void test_psk_not_last_is_rejected(void);
static void test_psk_rules_follow_openssl(void);
static void test_version_rules_follow_openssl(void);
static void test_decision_matches_openssl_server(void);
static void test_invalid_arguments_are_refused(void);


static t_hello_t    t_hellos[T_NHELLOS];
static t_oracle_t   t_seen;
static uint8_t      t_new_id[TSR_MAX_SESSION_ID];
static size_t       t_new_id_len;
static int          t_new_count;


static const tsr_test_t  tests[] = {
    TSR_TEST(tls12_offered_session_id_is_looked_up),
    TSR_TEST(tls12_ticket_with_server_tickets_is_not_looked_up),
    TSR_TEST(tls12_ticket_without_server_tickets_looks_up_id),
    TSR_TEST(tls12_empty_ticket_extension_looks_up_id),
    TSR_TEST(tls12_fresh_hello_has_no_lookup),
    TSR_TEST(tls13_stateful_ticket_is_looked_up_by_identity),
    TSR_TEST(tls13_identity_with_server_tickets_is_a_ticket),
    TSR_TEST(tls13_stateless_ticket_is_not_looked_up),
    TSR_TEST(tls13_fresh_hello_random_id_is_not_looked_up),
    TSR_TEST(tls13_hello_without_server_tls13_uses_legacy_id),
    TSR_TEST(no_version_flag_means_no_lookup),
    TSR_TEST(server_name_is_captured),
    TSR_TEST(server_name_rules),
    TSR_TEST(every_prefix_is_incomplete),
    TSR_TEST(split_records_give_same_result),
    TSR_TEST(bytes_after_the_hello_are_ignored),
    TSR_TEST(trailing_bytes_are_rejected),
    TSR_TEST(bad_lengths_are_rejected),
    TSR_TEST(sslv2_hello_is_rejected),
    TSR_TEST(non_handshake_record_is_rejected),
    TSR_TEST(oversize_hello_is_rejected),
    TSR_TEST(duplicate_extension_is_rejected),
    TSR_TEST(psk_not_last_is_rejected),
    TSR_TEST(psk_rules_follow_openssl),
    TSR_TEST(version_rules_follow_openssl),
    TSR_TEST(decision_matches_openssl_server),
    TSR_TEST(invalid_arguments_are_refused)
};


int
main(void)
{
    return TSR_TEST_MAIN("hello", t_suite_init, t_suite_clean, tests);
}


static int
t_suite_init(void)
{
    const char  *dir;

    if (t_make_hellos() != 0) {
        return -1;
    }

    dir = getenv("TSR_HELLO_CORPUS");

    if (dir != NULL && dir[0] != '\0') {
        t_write_corpus(dir);
    }

    return 0;
}


static int
t_suite_clean(void)
{
    return 0;
}


/*
 * Real ClientHellos: sessions come from complete in-memory handshakes with
 * servers set up like nginx (SSL_SESS_CACHE_NO_INTERNAL, tickets on or
 * off), and are then offered by a client whose first flight is captured.
 */

static int
t_make_hellos(void)
{
    int            rc;
    SSL_CTX       *s12, *s12t, *s13, *s13t, *c12, *c12t, *c13;
    SSL_SESSION   *id12, *tk12, *sf13, *sf13sni, *sl13;

    rc = -1;

    s12 = tsr_test_server_ctx(T_CN, TLS1_2_VERSION, T_SID_CTX, 0);
    s12t = tsr_test_server_ctx(T_CN, TLS1_2_VERSION, T_SID_CTX, 1);
    s13 = tsr_test_server_ctx(T_CN, TLS1_3_VERSION, T_SID_CTX, 0);
    s13t = tsr_test_server_ctx(T_CN, TLS1_3_VERSION, T_SID_CTX, 1);
    c12 = t_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, 0);
    c12t = t_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, 1);
    c13 = t_client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, 1);

    id12 = NULL;
    tk12 = NULL;
    sf13 = NULL;
    sf13sni = NULL;
    sl13 = NULL;

    if (s12 == NULL || s12t == NULL || s13 == NULL || s13t == NULL
        || c12 == NULL || c12t == NULL || c13 == NULL)
    {
        goto failed;
    }

    /* one ticket per handshake, so that its id is the server's last one */

    (void) SSL_CTX_set_num_tickets(s13, 1);
    (void) SSL_CTX_set_num_tickets(s13t, 1);

    /*
     * A TLS 1.2 server issuing a ticket makes no session id at all
     * (ssl_generate_session_id() when ticket_expected), so it reports no
     * new session.
     */

    if (t_session(s12, c12, NULL, 1, &id12, &t_hellos[T_TLS12_ID]) != 0
        || t_session(s12t, c12t, NULL, 0, &tk12, &t_hellos[T_TLS12_TICKET])
           != 0
        || t_session(s13, c13, NULL, 1, &sf13, &t_hellos[T_TLS13_STATEFUL])
           != 0
        || t_session(s13, c13, T_SNI, 1, &sf13sni,
                     &t_hellos[T_TLS13_STATEFUL_SNI]) != 0
        || t_session(s13t, c13, NULL, 1, &sl13,
                     &t_hellos[T_TLS13_STATELESS]) != 0)
    {
        goto failed;
    }

    /* the server with tickets off issued no ticket, the other one did */

    if (SSL_SESSION_has_ticket(id12) || !SSL_SESSION_has_ticket(tk12)) {
        fprintf(stderr, "t_make_hellos: unexpected tickets\n");
        goto failed;
    }

    /* the empty-ticket hello offers the id-only session with tickets on */

    memcpy(&t_hellos[T_TLS12_EMPTY_TICKET], &t_hellos[T_TLS12_ID],
           sizeof(t_hello_t));

    if (t_capture(c12t, NULL, NULL, "tls12_fresh", &t_hellos[T_TLS12_FRESH])
        != 0
        || t_capture(c12t, NULL, T_SNI, "tls12_fresh_sni",
                     &t_hellos[T_TLS12_FRESH_SNI]) != 0
        || t_capture(c12, id12, NULL, "tls12_id", &t_hellos[T_TLS12_ID])
           != 0
        || t_capture(c12t, tk12, NULL, "tls12_ticket",
                     &t_hellos[T_TLS12_TICKET]) != 0
        || t_capture(c12t, id12, NULL, "tls12_empty_ticket",
                     &t_hellos[T_TLS12_EMPTY_TICKET]) != 0
        || t_capture(c13, NULL, NULL, "tls13_fresh",
                     &t_hellos[T_TLS13_FRESH]) != 0
        || t_capture(c13, NULL, T_SNI, "tls13_fresh_sni",
                     &t_hellos[T_TLS13_FRESH_SNI]) != 0
        || t_capture(c13, sf13, NULL, "tls13_stateful",
                     &t_hellos[T_TLS13_STATEFUL]) != 0
        || t_capture(c13, sf13sni, T_SNI, "tls13_stateful_sni",
                     &t_hellos[T_TLS13_STATEFUL_SNI]) != 0
        || t_capture(c13, sl13, NULL, "tls13_stateless",
                     &t_hellos[T_TLS13_STATELESS]) != 0)
    {
        goto failed;
    }

    rc = 0;

failed:

    SSL_SESSION_free(id12);
    SSL_SESSION_free(tk12);
    SSL_SESSION_free(sf13);
    SSL_SESSION_free(sf13sni);
    SSL_SESSION_free(sl13);
    SSL_CTX_free(s12);
    SSL_CTX_free(s12t);
    SSL_CTX_free(s13);
    SSL_CTX_free(s13t);
    SSL_CTX_free(c12);
    SSL_CTX_free(c12t);
    SSL_CTX_free(c13);

    return rc;
}


/*
 * A complete handshake; keeps the client's session to offer and the id
 * of the last session the server reported to its new-session callback,
 * which is called "expect" times.
 */

static int
t_session(SSL_CTX *server, SSL_CTX *client, const char *sni, int expect,
    SSL_SESSION **sess, t_hello_t *h)
{
    int  reused;

    SSL_CTX_sess_set_new_cb(server, t_new_session);
    t_new_count = 0;
    t_new_id_len = 0;

    if (tsr_test_handshake(server, client, sni, NULL, sess, &reused) != 0
        || *sess == NULL)
    {
        fprintf(stderr, "t_session: handshake failed\n");
        return -1;
    }

    if (t_new_count != expect
        || t_new_id_len != (expect ? TSR_MAX_SESSION_ID : 0))
    {
        fprintf(stderr, "t_session: %s: %d new sessions, id of %zu bytes\n",
                SSL_CTX_get_max_proto_version(server) == TLS1_3_VERSION
                ? "TLSv1.3" : "TLSv1.2", t_new_count, t_new_id_len);
        return -1;
    }

    memcpy(h->server, t_new_id, t_new_id_len);
    h->server_len = t_new_id_len;

    return 0;
}


/* the client's first flight, as SSL_connect() writes it */

static int
t_capture(SSL_CTX *client, SSL_SESSION *sess, const char *sni,
    const char *name, t_hello_t *h)
{
    int                   n, rc;
    SSL                  *c;
    BIO                  *rbio, *wbio;
    unsigned int          len;
    const unsigned char  *id;

    rc = -1;
    h->name = name;

    c = SSL_new(client);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());

    if (c == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    SSL_set_bio(c, rbio, wbio);

    if ((sni != NULL && SSL_set_tlsext_host_name(c, sni) != 1)
        || (sess != NULL && SSL_set_session(c, sess) != 1))
    {
        goto failed;
    }

    n = SSL_connect(c);

    if (n != -1 || SSL_get_error(c, n) != SSL_ERROR_WANT_READ
        || BIO_ctrl_pending(wbio) > sizeof(h->buf))
    {
        goto failed;
    }

    n = BIO_read(wbio, h->buf, sizeof(h->buf));
    if (n <= 0) {
        goto failed;
    }

    h->len = (size_t) n;

    if (sess != NULL) {
        id = SSL_SESSION_get_id(sess, &len);
        memcpy(h->sid, id, len);
        h->sid_len = len;
    }

    /* legacy_session_id, read from its fixed offset */

    h->sent_len = h->buf[T_OFF_SID];

    if (h->len < T_OFF_SID + 1 + h->sent_len
        || h->sent_len > TSR_MAX_SESSION_ID)
    {
        goto failed;
    }

    memcpy(h->sent, h->buf + T_OFF_SID + 1, h->sent_len);

    rc = 0;

failed:

    if (rc != 0) {
        fprintf(stderr, "t_capture: \"%s\" failed\n", name);
        ERR_print_errors_fp(stderr);
    }

    SSL_free(c);
    ERR_clear_error();

    return rc;
}


static SSL_CTX *
t_client_ctx(int min, int max, int tickets)
{
    SSL_CTX  *ctx;

    ctx = tsr_test_client_ctx(max);
    if (ctx == NULL) {
        return NULL;
    }

    if (SSL_CTX_set_min_proto_version(ctx, min) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }

    if (!tickets) {
        (void) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

    return ctx;
}


static int
t_new_session(SSL *ssl, SSL_SESSION *sess)
{
    unsigned int          len;
    const unsigned char  *id;

    (void) ssl;

    id = SSL_SESSION_get_id(sess, &len);

    if (len <= sizeof(t_new_id)) {
        memcpy(t_new_id, id, len);
        t_new_id_len = len;
    }

    t_new_count++;

    return 0;
}


static SSL_SESSION *
t_get_session(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    (void) ssl;

    if (t_seen.calls++ == 0 && len > 0 && len <= TSR_MAX_SESSION_ID) {
        memcpy(t_seen.id, id, (size_t) len);
        t_seen.id_len = (size_t) len;
    }

    *copy = 0;

    return NULL;
}


/*
 * Feeds "buf" to a real OpenSSL server configured as "flags" describe,
 * the way nginx configures it (no internal cache lookups, and
 * SSL_OP_NO_ANTI_REPLAY), and reports its get-session calls.
 */

static int
t_oracle(const uint8_t *buf, size_t len, unsigned flags, t_oracle_t *o)
{
    SSL      *s;
    BIO      *rbio, *wbio;
    SSL_CTX  *ctx;

    memset(&t_seen, 0, sizeof(t_seen));

    s = NULL;

    ctx = tsr_test_server_ctx(T_CN, TLS1_3_VERSION, T_SID_CTX,
                              (flags & TSR_HELLO_TICKETS) != 0);
    if (ctx == NULL) {
        return -1;
    }

    if (SSL_CTX_set_min_proto_version(ctx,
                                      (flags & TSR_HELLO_TLS12)
                                      ? 0 : TLS1_3_VERSION) != 1
        || SSL_CTX_set_max_proto_version(ctx,
                                         (flags & TSR_HELLO_TLS13)
                                         ? TLS1_3_VERSION : TLS1_2_VERSION)
           != 1)
    {
        goto failed;
    }

    (void) SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
    SSL_CTX_sess_set_get_cb(ctx, t_get_session);

    s = SSL_new(ctx);
    rbio = BIO_new_mem_buf(buf, (int) len);
    wbio = BIO_new(BIO_s_mem());

    if (s == NULL || rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    /* a read-only memory BIO at its end must say "retry", not EOF */

    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(s, rbio, wbio);
    SSL_set_accept_state(s);

    (void) SSL_do_handshake(s);

    *o = t_seen;

    SSL_free(s);
    SSL_CTX_free(ctx);
    ERR_clear_error();

    return 0;

failed:

    SSL_free(s);
    SSL_CTX_free(ctx);
    ERR_clear_error();

    return -1;
}


static void
t_write_corpus(const char *dir)
{
    int       i;
    size_t    n;
    uint8_t   buf[T_BUF * 2];

    for (i = 0; i < T_NHELLOS; i++) {
        t_write_file(dir, t_hellos[i].name, t_hellos[i].buf,
                     t_hellos[i].len);
    }

    /* one spread over records, so the fuzzer starts with reassembly */

    n = t_split(t_hellos[T_TLS13_STATEFUL_SNI].buf,
                t_hellos[T_TLS13_STATEFUL_SNI].len, 2, buf);
    t_write_file(dir, "tls13_stateful_sni_split", buf, n);
}


static void
t_write_file(const char *dir, const char *name, const uint8_t *buf,
    size_t len)
{
    FILE  *f;
    char   path[1024];

    (void) snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "wb");

    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "writing \"%s\" failed\n", path);
    }
}


/* test helpers working on a real ClientHello in one record */

static int
t_layout(const uint8_t *buf, size_t len, t_layout_t *l)
{
    size_t  off;

    off = T_OFF_SID;
    off += 1 + buf[off];                    /* session id */
    off += 2 + t_get16(buf + off);          /* cipher suites */
    off += 1 + buf[off];                    /* compression methods */

    if (off + 2 > len || off + 2 + t_get16(buf + off) != len) {
        return -1;
    }

    l->exts = off;
    l->end = len;

    return 0;
}


static int
t_find_ext(const uint8_t *buf, size_t len, unsigned type, size_t *data,
    size_t *dlen)
{
    size_t      off, n;
    t_layout_t  l;

    if (t_layout(buf, len, &l) != 0) {
        return -1;
    }

    for (off = l.exts + 2; off + 4 <= l.end; off += 4 + n) {
        n = t_get16(buf + off + 2);

        if (t_get16(buf + off) == type) {
            *data = off + 4;
            *dlen = n;
            return 0;
        }
    }

    return -1;
}


/* appends an extension and fixes the three lengths above it */

static size_t
t_add_ext(uint8_t *buf, size_t len, unsigned type, const uint8_t *data,
    size_t dlen)
{
    size_t      add;
    t_layout_t  l;

    if (t_layout(buf, len, &l) != 0) {
        return 0;
    }

    add = t_ext(buf + len, type, data, dlen);

    t_put16(buf + l.exts, t_get16(buf + l.exts) + add);

    return t_fix(buf, len + add);
}


/* the payload of a one-record hello as two records, split at "at" */

static size_t
t_split(const uint8_t *in, size_t len, size_t at, uint8_t *out)
{
    size_t  n;

    n = len - TSR_HELLO_RECORD_HEADER;

    memcpy(out, in, TSR_HELLO_RECORD_HEADER);
    t_put16(out + T_OFF_RLEN, at);
    memcpy(out + 5, in + 5, at);

    memcpy(out + 5 + at, in, TSR_HELLO_RECORD_HEADER);
    t_put16(out + 5 + at + T_OFF_RLEN, n - at);
    memcpy(out + 10 + at, in + 5 + at, n - at);

    return len + TSR_HELLO_RECORD_HEADER;
}


/* the payload of a one-record hello in records of "size" bytes */

static size_t
t_fragment(const uint8_t *in, size_t len, size_t size, uint8_t *out)
{
    size_t  off, n, o;

    o = 0;

    for (off = TSR_HELLO_RECORD_HEADER; off < len; off += n) {
        n = len - off < size ? len - off : size;

        memcpy(out + o, in, TSR_HELLO_RECORD_HEADER);
        t_put16(out + o + T_OFF_RLEN, n);
        memcpy(out + o + TSR_HELLO_RECORD_HEADER, in + off, n);
        o += TSR_HELLO_RECORD_HEADER + n;
    }

    return o;
}


/*
 * A hand-built ClientHello in one record: TLS_AES_128_GCM_SHA256 and
 * ECDHE-ECDSA-AES128-GCM-SHA256, null compression, and "exts" as the
 * extensions block, or no block at all when "exts" is NULL.
 */

static size_t
t_build(uint8_t *out, unsigned version, size_t sid_len, const uint8_t *exts,
    size_t exts_len)
{
    size_t    i;
    uint8_t  *p;

    p = out + TSR_HELLO_RECORD_HEADER + TSR_HELLO_MSG_HEADER;

    t_put16(p, version);
    p += 2;

    memset(p, 0x11, TSR_HELLO_RANDOM_LEN);
    p += TSR_HELLO_RANDOM_LEN;

    *p++ = (uint8_t) sid_len;

    for (i = 0; i < sid_len; i++) {
        *p++ = (uint8_t) (0xa0 + i);
    }

    memcpy(p, "\x00\x04\x13\x01\xc0\x2b" "\x01\x00", 8);
    p += 8;

    if (exts != NULL) {
        t_put16(p, exts_len);
        memcpy(p + 2, exts, exts_len);
        p += 2 + exts_len;
    }

    out[0] = TSR_HELLO_RT_HANDSHAKE;
    out[1] = 3;
    out[2] = 1;
    out[5] = TSR_HELLO_MT_CLIENT_HELLO;

    return t_fix(out, (size_t) (p - out));
}


static size_t
t_ext(uint8_t *p, unsigned type, const uint8_t *data, size_t len)
{
    t_put16(p, type);
    t_put16(p + 2, len);

    if (len > 0) {
        memcpy(p + 4, data, len);
    }

    return 4 + len;
}


static size_t
t_ext_hex(uint8_t *p, unsigned type, const char *hex)
{
    size_t        n;
    unsigned int  b;
    uint8_t       data[256];

    for (n = 0; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
        if (hex[0] == ' ') {
            hex--;
            continue;
        }

        if (sscanf(hex, "%2x", &b) != 1 || n == sizeof(data)) {
            return 0;
        }

        data[n++] = (uint8_t) b;
    }

    return t_ext(p, type, data, n);
}


/* pre_shared_key with "nids" identities of "id_len" bytes, one binder */

static size_t
t_ext_psk(uint8_t *p, size_t id_len, size_t nids)
{
    size_t   i, n;
    uint8_t  data[1024];

    n = 2;

    for (i = 0; i < nids; i++) {
        t_put16(data + n, id_len);
        memset(data + n + 2, (int) (0x30 + i), id_len);
        memset(data + n + 2 + id_len, 0, 4);
        n += 2 + id_len + 4;
    }

    t_put16(data, n - 2);

    t_put16(data + n, 33);
    data[n + 2] = 32;
    memset(data + n + 3, 0x77, 32);
    n += 35;

    return t_ext(p, TSR_HELLO_EXT_PSK, data, n);
}


/* server_name with one entry */

static size_t
t_ext_sni(uint8_t *p, unsigned type, const char *name, size_t len)
{
    uint8_t  data[512];

    t_put16(data, len + 3);
    data[2] = (uint8_t) type;
    t_put16(data + 3, len);
    memcpy(data + 5, name, len);

    return t_ext(p, TSR_HELLO_EXT_SERVER_NAME, data, len + 5);
}


/* sets the record and message lengths of a one-record hello of "len" */

static size_t
t_fix(uint8_t *buf, size_t len)
{
    t_put16(buf + T_OFF_RLEN, len - TSR_HELLO_RECORD_HEADER);
    t_put24(buf + T_OFF_MLEN, len - TSR_HELLO_RECORD_HEADER
                              - TSR_HELLO_MSG_HEADER);

    return len;
}


static void
t_put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}


static void
t_put24(uint8_t *p, size_t v)
{
    p[0] = (uint8_t) (v >> 16);
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) v;
}


static size_t
t_get16(const uint8_t *p)
{
    return ((size_t) p[0] << 8) | p[1];
}


static void
t_expect(const char *what, const uint8_t *buf, size_t len, unsigned flags,
    int rc, int lookup, size_t id_len)
{
    int          got;
    tsr_hello_t  h;

    got = tsr_hello_parse(buf, len, flags, &h);

    if (got != rc || h.lookup != (unsigned) lookup || h.id_len != id_len) {
        fprintf(stderr, "\n    %s, flags %u: rc %d lookup %u id_len %zu, "
                "expected rc %d lookup %d id_len %zu\n", what, flags, got,
                h.lookup, h.id_len, rc, lookup, id_len);
    }

    CU_ASSERT_EQUAL(got, rc);
    CU_ASSERT_EQUAL(h.lookup, (unsigned) lookup);
    CU_ASSERT_EQUAL(h.id_len, id_len);

    if (rc != TSR_OK) {
        CU_ASSERT_TRUE(t_zeroed(&h));
    }
}


/*
 * For every server configuration "flags" can describe, the parser says
 * "lookup" exactly when a real OpenSSL server calls get-session, with
 * the same id.
 */

static void
t_expect_openssl(const char *what, const uint8_t *buf, size_t len)
{
    int          rc;
    unsigned     flags;
    t_oracle_t   o;
    tsr_hello_t  h;

    for (flags = 1; flags <= T_ALL; flags++) {

        if ((flags & (TSR_HELLO_TLS12 | TSR_HELLO_TLS13)) == 0) {
            continue;
        }

        CU_ASSERT_EQUAL_FATAL(t_oracle(buf, len, flags, &o), 0);

        rc = tsr_hello_parse(buf, len, flags, &h);

        if ((o.calls > 0) != (h.lookup == 1)
            || (h.lookup
                && (h.id_len != o.id_len
                    || memcmp(h.id, o.id, h.id_len) != 0)))
        {
            fprintf(stderr, "\n    %s, flags %u: rc %d lookup %u id_len "
                    "%zu, OpenSSL: %d calls, id_len %zu\n", what, flags, rc,
                    h.lookup, h.id_len, o.calls, o.id_len);
        }

        CU_ASSERT_EQUAL(o.calls > 0, h.lookup == 1);

        if (h.lookup && o.calls > 0) {
            CU_ASSERT_EQUAL(h.id_len, o.id_len);
            CU_ASSERT_EQUAL(memcmp(h.id, o.id, h.id_len), 0);
        }
    }
}


static void
t_expect_same(const tsr_hello_t *a, const tsr_hello_t *b)
{
    CU_ASSERT_EQUAL(a->lookup, b->lookup);
    CU_ASSERT_EQUAL(a->tls13, b->tls13);
    CU_ASSERT_EQUAL(a->ticket, b->ticket);
    CU_ASSERT_EQUAL(a->id_len, b->id_len);
    CU_ASSERT_EQUAL(memcmp(a->id, b->id, sizeof(a->id)), 0);
    CU_ASSERT_EQUAL(a->server_name_len, b->server_name_len);
    CU_ASSERT_STRING_EQUAL(a->server_name, b->server_name);
}


static int
t_zeroed(const tsr_hello_t *h)
{
    size_t  i;

    if (h->lookup || h->tls13 || h->ticket || h->id_len != 0
        || h->server_name_len != 0)
    {
        return 0;
    }

    for (i = 0; i < sizeof(h->id); i++) {
        if (h->id[i] != 0) {
            return 0;
        }
    }

    for (i = 0; i < sizeof(h->server_name); i++) {
        if (h->server_name[i] != '\0') {
            return 0;
        }
    }

    return 1;
}


static void
test_tls12_offered_session_id_is_looked_up(void)
{
    size_t       data, dlen;
    unsigned     flags;
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS12_ID];

    /* the client has tickets off: no session_ticket extension at all */

    CU_ASSERT_EQUAL(t_find_ext(t->buf, t->len, TSR_HELLO_EXT_TICKET, &data,
                               &dlen), -1);
    CU_ASSERT_EQUAL(t->sid_len, 32);
    CU_ASSERT_EQUAL(memcmp(t->sid, t->server, 32), 0);

    for (flags = 0; flags <= T_ALL; flags++) {

        if ((flags & TSR_HELLO_TLS12) == 0) {
            continue;
        }

        CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, flags, &h), TSR_OK);
        CU_ASSERT_EQUAL(h.lookup, 1);
        CU_ASSERT_EQUAL(h.tls13, 0);
        CU_ASSERT_EQUAL(h.ticket, 0);
        CU_ASSERT_EQUAL(h.id_len, 32);
        CU_ASSERT_EQUAL(memcmp(h.id, t->sid, 32), 0);
        CU_ASSERT_EQUAL(h.server_name_len, 0);
    }
}


static void
test_tls12_ticket_with_server_tickets_is_not_looked_up(void)
{
    size_t       data, dlen;
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS12_TICKET];

    CU_ASSERT_EQUAL_FATAL(t_find_ext(t->buf, t->len, TSR_HELLO_EXT_TICKET,
                                     &data, &dlen), 0);
    CU_ASSERT_TRUE(dlen > 0);
    CU_ASSERT_EQUAL(t->sent_len, 32);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 0);
    CU_ASSERT_EQUAL(h.ticket, 1);
    CU_ASSERT_EQUAL(h.tls13, 0);
    CU_ASSERT_EQUAL(h.id_len, 0);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len,
                                    TSR_HELLO_TICKETS | TSR_HELLO_TLS12, &h),
                    TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 0);
    CU_ASSERT_EQUAL(h.ticket, 1);
}


static void
test_tls12_ticket_without_server_tickets_looks_up_id(void)
{
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS12_TICKET];

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_NO_TICKETS, &h),
                    TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.ticket, 0);
    CU_ASSERT_EQUAL(h.tls13, 0);
    CU_ASSERT_EQUAL(h.id_len, t->sid_len);
    CU_ASSERT_EQUAL(memcmp(h.id, t->sid, t->sid_len), 0);
    CU_ASSERT_EQUAL(memcmp(h.id, t->sent, t->sent_len), 0);
}


static void
test_tls12_empty_ticket_extension_looks_up_id(void)
{
    size_t       data, dlen;
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS12_EMPTY_TICKET];

    CU_ASSERT_EQUAL_FATAL(t_find_ext(t->buf, t->len, TSR_HELLO_EXT_TICKET,
                                     &data, &dlen), 0);
    CU_ASSERT_EQUAL(dlen, 0);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.ticket, 0);
    CU_ASSERT_EQUAL(h.id_len, 32);
    CU_ASSERT_EQUAL(memcmp(h.id, t->server, 32), 0);
}


static void
test_tls12_fresh_hello_has_no_lookup(void)
{
    unsigned     flags;
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS12_FRESH];

    CU_ASSERT_EQUAL(t->sent_len, 0);

    for (flags = 0; flags <= T_ALL; flags++) {
        CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, flags, &h), TSR_OK);
        CU_ASSERT_TRUE(t_zeroed(&h));
    }
}


static void
test_tls13_stateful_ticket_is_looked_up_by_identity(void)
{
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS13_STATEFUL];

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_NO_TICKETS, &h),
                    TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.tls13, 1);
    CU_ASSERT_EQUAL(h.ticket, 0);
    CU_ASSERT_EQUAL(h.id_len, 32);
    CU_ASSERT_EQUAL(memcmp(h.id, t->server, 32), 0);

    /* never the random legacy_session_id */

    CU_ASSERT_EQUAL(t->sent_len, 32);
    CU_ASSERT_NOT_EQUAL(memcmp(h.id, t->sent, 32), 0);

    /* a TLS 1.3-only server decides the same */

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, TSR_HELLO_TLS13, &h),
                    TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.tls13, 1);
    CU_ASSERT_EQUAL(memcmp(h.id, t->server, 32), 0);
}


static void
test_tls13_identity_with_server_tickets_is_a_ticket(void)
{
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS13_STATEFUL];

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 0);
    CU_ASSERT_EQUAL(h.tls13, 0);
    CU_ASSERT_EQUAL(h.ticket, 1);
    CU_ASSERT_EQUAL(h.id_len, 0);
}


static void
test_tls13_stateless_ticket_is_not_looked_up(void)
{
    size_t       data, dlen;
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS13_STATELESS];

    /* the identity is an encrypted session, far longer than an id */

    CU_ASSERT_EQUAL_FATAL(t_find_ext(t->buf, t->len, TSR_HELLO_EXT_PSK,
                                     &data, &dlen), 0);
    CU_ASSERT_TRUE(t_get16(t->buf + data + 2) > 32);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 0);
    CU_ASSERT_EQUAL(h.ticket, 1);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_NO_TICKETS, &h),
                    TSR_OK);
    CU_ASSERT_TRUE(t_zeroed(&h));
}


static void
test_tls13_fresh_hello_random_id_is_not_looked_up(void)
{
    t_hello_t   *t;
    tsr_hello_t  h;

    t = &t_hellos[T_TLS13_FRESH];

    CU_ASSERT_EQUAL(t->sent_len, 32);

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);
    CU_ASSERT_TRUE(t_zeroed(&h));

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_NO_TICKETS, &h),
                    TSR_OK);
    CU_ASSERT_TRUE(t_zeroed(&h));
}


static void
test_tls13_hello_without_server_tls13_uses_legacy_id(void)
{
    int          i;
    t_hello_t   *t;
    tsr_hello_t  h;
    static int   idx[] = { T_TLS13_FRESH, T_TLS13_STATEFUL };

    for (i = 0; i < 2; i++) {
        t = &t_hellos[idx[i]];

        CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, TSR_HELLO_TLS12,
                                        &h), TSR_OK);
        CU_ASSERT_EQUAL(h.lookup, 1);
        CU_ASSERT_EQUAL(h.tls13, 0);
        CU_ASSERT_EQUAL(h.id_len, 32);
        CU_ASSERT_EQUAL(memcmp(h.id, t->sent, 32), 0);
    }
}


static void
test_no_version_flag_means_no_lookup(void)
{
    int          i;
    tsr_hello_t  h;

    for (i = 0; i < T_NHELLOS; i++) {
        CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[i].buf, t_hellos[i].len,
                                        0, &h), TSR_OK);
        CU_ASSERT_EQUAL(h.lookup, 0);
        CU_ASSERT_EQUAL(h.ticket, 0);

        CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[i].buf, t_hellos[i].len,
                                        TSR_HELLO_TICKETS, &h), TSR_OK);
        CU_ASSERT_EQUAL(h.lookup, 0);
        CU_ASSERT_EQUAL(h.ticket, 0);
    }

    /* a TLS 1.2 client and a TLS 1.3-only server */

    CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[T_TLS12_ID].buf,
                                    t_hellos[T_TLS12_ID].len,
                                    TSR_HELLO_TLS13, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 0);
}


static void
test_server_name_is_captured(void)
{
    int          i;
    unsigned     flags;
    tsr_hello_t  h, plain;
    static int   idx[] = { T_TLS12_FRESH_SNI, T_TLS13_FRESH_SNI,
                           T_TLS13_STATEFUL_SNI };

    for (i = 0; i < 3; i++) {
        for (flags = 0; flags <= T_ALL; flags++) {
            CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[idx[i]].buf,
                                            t_hellos[idx[i]].len, flags, &h),
                            TSR_OK);
            CU_ASSERT_EQUAL(h.server_name_len, strlen(T_SNI));
            CU_ASSERT_STRING_EQUAL(h.server_name, T_SNI);
        }
    }

    /* the same decision as without a name */

    CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[T_TLS13_STATEFUL_SNI].buf,
                                    t_hellos[T_TLS13_STATEFUL_SNI].len,
                                    T_NO_TICKETS, &h), TSR_OK);
    CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[T_TLS13_STATEFUL].buf,
                                    t_hellos[T_TLS13_STATEFUL].len,
                                    T_NO_TICKETS, &plain), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.tls13, 1);
    CU_ASSERT_EQUAL(h.lookup, plain.lookup);
    CU_ASSERT_EQUAL(memcmp(h.id, t_hellos[T_TLS13_STATEFUL_SNI].server, 32),
                    0);
    CU_ASSERT_EQUAL(plain.server_name_len, 0);
    CU_ASSERT_STRING_EQUAL(plain.server_name, "");
}


static void
test_server_name_rules(void)
{
    size_t       n, len;
    uint8_t      exts[1024], buf[T_BUF];
    char         name[300];
    tsr_hello_t  h;

    memset(name, 'a', sizeof(name));

    /* 255 bytes are kept, 256 are not */

    n = t_ext_sni(exts, 0, name, 255);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 255);
    CU_ASSERT_EQUAL(strlen(h.server_name), 255);
    CU_ASSERT_EQUAL(h.lookup, 1);

    n = t_ext_sni(exts, 0, name, 256);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.id_len, 32);

    /* empty, a NUL inside, another name type: no name, same decision */

    n = t_ext_sni(exts, 0, name, 0);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.lookup, 1);

    n = t_ext_sni(exts, 0, "a\0b.test", 8);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.server_name[0], '\0');
    CU_ASSERT_EQUAL(h.lookup, 1);

    n = t_ext_sni(exts, 7, "x.test", 6);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.lookup, 1);

    /* the first host_name entry of a list */

    n = t_ext_hex(exts, 0, "0012" "07 0002 7878" "00 0006 782e74657374"
                  "00 0001 79");
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 6);
    CU_ASSERT_STRING_EQUAL(h.server_name, "x.test");

    /* a broken list: no name, the decision stands */

    n = t_ext_hex(exts, 0, "000a" "00 0006 782e74657374");
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.id_len, 32);

    n = t_ext_hex(exts, 0, "0009" "00 0007 782e74657374");
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.server_name_len, 0);
    CU_ASSERT_EQUAL(h.lookup, 1);
}


static void
test_every_prefix_is_incomplete(void)
{
    int          i;
    size_t       n, len;
    t_hello_t   *t;
    tsr_hello_t  h;
    uint8_t      buf[T_BUF * 4];

    for (i = 0; i < T_NHELLOS; i++) {
        t = &t_hellos[i];

        for (n = 0; n < t->len; n++) {
            CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, n, T_ALL, &h),
                            TSR_AGAIN);
            CU_ASSERT_TRUE(t_zeroed(&h));
        }

        CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_ALL, &h), TSR_OK);

        /* and in 7-byte records, each prefix too */

        len = t_fragment(t->buf, t->len, 7, buf);

        for (n = 0; n < len; n++) {
            CU_ASSERT_EQUAL(tsr_hello_parse(buf, n, T_ALL, &h), TSR_AGAIN);
        }
    }

    CU_ASSERT_EQUAL(tsr_hello_parse(NULL, 0, T_ALL, &h), TSR_AGAIN);
}


static void
test_split_records_give_same_result(void)
{
    int          i;
    size_t       at, len, size;
    unsigned     flags;
    t_hello_t   *t;
    tsr_hello_t  one, two;
    uint8_t      buf[T_BUF * 6];

    for (i = 0; i < T_NHELLOS; i++) {
        t = &t_hellos[i];

        for (flags = 0; flags <= T_ALL; flags++) {

            CU_ASSERT_EQUAL_FATAL(tsr_hello_parse(t->buf, t->len, flags,
                                                  &one), TSR_OK);

            /* at every byte, the message header included */

            for (at = 1; at < t->len - TSR_HELLO_RECORD_HEADER; at++) {
                len = t_split(t->buf, t->len, at, buf);

                CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, flags, &two),
                                TSR_OK);
                t_expect_same(&one, &two);
            }

            for (size = 1; size <= 64; size *= 2) {
                len = t_fragment(t->buf, t->len, size, buf);

                CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, flags, &two),
                                TSR_OK);
                t_expect_same(&one, &two);
            }
        }
    }

    /* the decision on a split hello is the one OpenSSL makes */

    t = &t_hellos[T_TLS13_STATEFUL_SNI];
    len = t_split(t->buf, t->len, 100, buf);
    t_expect_openssl("split tls13_stateful_sni", buf, len);

    t = &t_hellos[T_TLS12_ID];
    len = t_fragment(t->buf, t->len, 16, buf);
    t_expect_openssl("fragmented tls12_id", buf, len);
}


static void
test_bytes_after_the_hello_are_ignored(void)
{
    size_t       len;
    t_hello_t   *t;
    tsr_hello_t  one, two;
    uint8_t      buf[T_BUF * 2];

    /* ChangeCipherSpec and early data, or anything, may follow */

    t = &t_hellos[T_TLS13_STATEFUL_SNI];

    memcpy(buf, t->buf, t->len);
    memcpy(buf + t->len, "\x14\x03\x03\x00\x01\x01" "\x17\x03\x03\x00\x20",
           11);
    len = t->len + 11;

    CU_ASSERT_EQUAL(tsr_hello_parse(t->buf, t->len, T_NO_TICKETS, &one),
                    TSR_OK);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_NO_TICKETS, &two), TSR_OK);
    t_expect_same(&one, &two);
    CU_ASSERT_EQUAL(two.lookup, 1);

    memset(buf + t->len, 0xff, 100);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, t->len + 100, T_NO_TICKETS, &two),
                    TSR_OK);
    t_expect_same(&one, &two);
}


static void
test_trailing_bytes_are_rejected(void)
{
    int          i;
    size_t       len;
    t_hello_t   *t;
    t_layout_t   l;
    uint8_t      buf[T_BUF + 16];

    for (i = 0; i < T_NHELLOS; i++) {
        t = &t_hellos[i];

        /* inside the message, after the extensions */

        memcpy(buf, t->buf, t->len);
        buf[t->len] = 0;
        len = t_fix(buf, t->len + 1);
        t_expect(t->name, buf, len, T_ALL, TSR_EPROTO, 0, 0);

        /* inside the record, after the message */

        memcpy(buf, t->buf, t->len);
        buf[t->len] = TSR_HELLO_RT_HANDSHAKE;
        t_put16(buf + T_OFF_RLEN, len - TSR_HELLO_RECORD_HEADER);
        t_expect(t->name, buf, len, T_ALL, TSR_EPROTO, 0, 0);

        /* in the last of two records, after the message */

        len = t_split(t->buf, t->len, 60, buf);
        buf[len] = 0;
        t_put16(buf + 5 + 60 + T_OFF_RLEN, t->len - 5 - 60 + 1);
        t_expect(t->name, buf, len + 1, T_ALL, TSR_EPROTO, 0, 0);
        t_expect(t->name, buf, len, T_ALL, TSR_AGAIN, 0, 0);

        /* the message shorter than its record says the same */

        memcpy(buf, t->buf, t->len);
        t_put24(buf + T_OFF_MLEN, t->len - TSR_HELLO_RECORD_HEADER
                                  - TSR_HELLO_MSG_HEADER - 1);
        t_expect(t->name, buf, t->len, T_ALL, TSR_EPROTO, 0, 0);
    }

    /* an extension block shorter than what follows */

    t = &t_hellos[T_TLS12_ID];

    memcpy(buf, t->buf, t->len);
    len = t_add_ext(buf, t->len, 0xfe00, (const uint8_t *) "x", 1);
    CU_ASSERT_EQUAL_FATAL(len, t->len + 5);
    t_expect("extension added", buf, len, T_ALL, TSR_OK, 1, 32);

    CU_ASSERT_EQUAL_FATAL(t_layout(buf, len, &l), 0);
    t_put16(buf + l.exts, t_get16(buf + l.exts) - 5);
    t_expect("extension outside the block", buf, len, T_ALL, TSR_EPROTO, 0,
             0);
}


static void
test_bad_lengths_are_rejected(void)
{
    size_t       len, n, data, dlen;
    t_hello_t   *t;
    uint8_t      buf[T_BUF], exts[64];

    t = &t_hellos[T_TLS12_ID];

    /* empty record, and a record over 2^14 */

    t_expect("empty record", (const uint8_t *) "\x16\x03\x01\x00\x00", 5,
             T_ALL, TSR_EPROTO, 0, 0);
    t_expect("empty record", (const uint8_t *) "\x16\x03\x01\x00\x00\x16", 6,
             T_ALL, TSR_EPROTO, 0, 0);
    t_expect("2^14 + 1", (const uint8_t *) "\x16\x03\x01\x40\x01", 5,
             T_ALL, TSR_EPROTO, 0, 0);

    /* the record length larger than the data: incomplete, not broken */

    memcpy(buf, t->buf, t->len);
    t_put16(buf + T_OFF_RLEN, t->len - 4);
    t_expect("record longer", buf, t->len, T_ALL, TSR_AGAIN, 0, 0);

    /* the message longer than the record: waits for another record */

    memcpy(buf, t->buf, t->len);
    t_put24(buf + T_OFF_MLEN, t->len - 8);
    t_expect("message longer", buf, t->len, T_ALL, TSR_AGAIN, 0, 0);

    /* a message too short for its random */

    t_expect("short random",
             (const uint8_t *) "\x16\x03\x01\x00\x08\x01\x00\x00\x04"
             "\x03\x03\x11\x11", 13, T_ALL, TSR_EPROTO, 0, 0);

    /* an empty message */

    t_expect("empty message",
             (const uint8_t *) "\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9,
             T_ALL, TSR_EPROTO, 0, 0);

    /* a session id of 33 bytes */

    len = t_build(buf, 0x0303, 33, NULL, 0);
    t_expect("session id 33", buf, len, T_ALL, TSR_EPROTO, 0, 0);
    len = t_build(buf, 0x0303, 32, NULL, 0);
    t_expect("session id 32", buf, len, T_ALL, TSR_OK, 1, 32);
    t_expect_openssl("no extensions", buf, len);

    /* the session id length past the end */

    len = t_build(buf, 0x0303, 0, NULL, 0);
    buf[T_OFF_SID] = 20;
    t_expect("session id past the end", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    /* odd and empty cipher suites, no compression method */

    len = t_build(buf, 0x0303, 0, NULL, 0);
    memcpy(buf + T_OFF_SID + 1, "\x00\x03\x13\x01\xc0" "\x01\x00", 7);
    len = t_fix(buf, T_OFF_SID + 1 + 7);
    t_expect("odd ciphers", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    memcpy(buf + T_OFF_SID + 1, "\x00\x00" "\x01\x00", 4);
    len = t_fix(buf, T_OFF_SID + 1 + 4);
    t_expect("no ciphers", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    memcpy(buf + T_OFF_SID + 1, "\x00\x02\x13\x01" "\x00", 5);
    len = t_fix(buf, T_OFF_SID + 1 + 5);
    t_expect("no compression", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    memcpy(buf + T_OFF_SID + 1, "\x00\x02\x13\x01" "\x01\x00", 6);
    len = t_fix(buf, T_OFF_SID + 1 + 6);
    t_expect("one cipher, null compression", buf, len, T_ALL, TSR_OK, 0, 0);

    /* an extension length past its block, a block with one byte */

    n = t_ext_hex(exts, 0xfe01, "0102");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("fine extension", buf, len, T_ALL, TSR_OK, 1, 32);
    buf[len - 3] = 3;
    t_expect("extension too long", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    len = t_build(buf, 0x0303, 32, (const uint8_t *) "\xfe", 1);
    t_expect("one-byte block", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    len = t_build(buf, 0x0303, 32, (const uint8_t *) "", 0);
    t_expect("empty block", buf, len, T_ALL, TSR_OK, 1, 32);

    /* the extension block length itself cut */

    len = t_build(buf, 0x0303, 32, NULL, 0);
    buf[len] = 0;
    len = t_fix(buf, len + 1);
    t_expect("half a block length", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    /* a real ticket extension whose length overruns the message */

    memcpy(buf, t_hellos[T_TLS12_TICKET].buf, t_hellos[T_TLS12_TICKET].len);
    len = t_hellos[T_TLS12_TICKET].len;
    CU_ASSERT_EQUAL_FATAL(t_find_ext(buf, len, TSR_HELLO_EXT_TICKET, &data,
                                     &dlen), 0);
    t_put16(buf + data - 2, 0xffff);
    t_expect("ticket overrun", buf, len, T_ALL, TSR_EPROTO, 0, 0);
}


static void
test_sslv2_hello_is_rejected(void)
{
    static const uint8_t  v2[] = {
        0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
        0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0x0a, 0xc0, 0x13,
        0xc0, 0x14, 0x00, 0x00, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
        0x12, 0x13
    };

    t_expect("sslv2", v2, sizeof(v2), T_ALL, TSR_EPROTO, 0, 0);
    t_expect("sslv2 first byte", v2, 1, T_ALL, TSR_EPROTO, 0, 0);
    t_expect_openssl("sslv2", v2, sizeof(v2));
}


static void
test_non_handshake_record_is_rejected(void)
{
    t_hello_t   *t;
    uint8_t      buf[T_BUF];

    t_expect("http", (const uint8_t *) "GET / HTTP/1.1\r\n", 16, T_ALL,
             TSR_EPROTO, 0, 0);
    t_expect("alert", (const uint8_t *) "\x15\x03\x01\x00\x02\x02\x28", 7,
             T_ALL, TSR_EPROTO, 0, 0);
    t_expect("change cipher spec", (const uint8_t *) "\x14\x03\x03", 3,
             T_ALL, TSR_EPROTO, 0, 0);

    t = &t_hellos[T_TLS12_ID];

    /* the real hello as application data, from the first byte on */

    memcpy(buf, t->buf, t->len);
    buf[0] = 23;
    t_expect("application data", buf, t->len, T_ALL, TSR_EPROTO, 0, 0);
    t_expect("application data", buf, 1, T_ALL, TSR_EPROTO, 0, 0);

    /* record version major other than 3 */

    memcpy(buf, t->buf, t->len);
    buf[1] = 2;
    t_expect("version 2", buf, 2, T_ALL, TSR_EPROTO, 0, 0);
    t_expect("version 2", buf, t->len, T_ALL, TSR_EPROTO, 0, 0);

    /* another handshake message: ServerHello */

    memcpy(buf, t->buf, t->len);
    buf[5] = 2;
    t_expect("server hello", buf, t->len, T_ALL, TSR_EPROTO, 0, 0);

    /* a second record of another type before the message is complete */

    t_split(t->buf, t->len, 50, buf);
    buf[5 + 50] = 21;
    t_expect("alert in between", buf, t->len + 5, T_ALL, TSR_EPROTO, 0, 0);
    t_expect("alert in between", buf, 5 + 50 + 1, T_ALL, TSR_EPROTO, 0, 0);
}


static void
test_oversize_hello_is_rejected(void)
{
    size_t           n, len, pad;
    uint8_t          exts[T_BIG];
    static uint8_t   buf[T_BIG * 2], frag[T_BIG * 3];

    /* a record that cannot fit: rejected from its header alone */

    t_expect("record 2^14", (const uint8_t *) "\x16\x03\x01\x40\x00", 5,
             T_ALL, TSR_EPROTO, 0, 0);

    /* a message announced larger than can fit */

    t_expect("message 2^14",
             (const uint8_t *) "\x16\x03\x01\x00\x04\x01\x00\x40\x00", 9,
             T_ALL, TSR_EPROTO, 0, 0);

    /* padding up to the limit: the largest one that fits is fine */

    pad = TSR_HELLO_MAX_PEEK - 200;

    n = t_ext(exts, 21, buf, pad);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_TRUE(len < TSR_HELLO_MAX_PEEK);
    t_expect("padded", buf, len, T_ALL, TSR_OK, 1, 32);

    pad += TSR_HELLO_MAX_PEEK - len;
    memset(exts, 0, sizeof(exts));
    n = t_ext(exts, 21, exts + 4, pad);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(len, TSR_HELLO_MAX_PEEK);
    t_expect("padded to the limit", buf, len, T_ALL, TSR_OK, 1, 32);

    n = t_ext(exts, 21, exts + 4, pad + 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("one byte over", buf, len, T_ALL, TSR_EPROTO, 0, 0);

    /* the same in two records: the second header costs 5 bytes */

    n = t_ext(exts, 21, exts + 4, pad);
    len = t_build(buf, 0x0303, 32, exts, n);
    len = t_split(buf, len, 1000, frag);
    t_expect("split at the limit", frag, len, T_ALL, TSR_EPROTO, 0, 0);

    /*
     * In small records the headers make it too large: that shows only
     * when the input reaches the limit, since record sizes may change.
     */

    n = t_ext(exts, 21, exts + 4, 8000);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL_FATAL(t_fragment(buf, len, 4, frag) > T_BIG, 1);
    t_expect("fragmented", frag, TSR_HELLO_MAX_PEEK - 6, T_ALL, TSR_AGAIN,
             0, 0);
    t_expect("fragmented", frag, TSR_HELLO_MAX_PEEK, T_ALL, TSR_EPROTO, 0,
             0);
    t_expect("fragmented", frag, T_BIG, T_ALL, TSR_EPROTO, 0, 0);

    len = t_fragment(buf, len, 1000, frag);
    t_expect("in 1000-byte records", frag, len, T_ALL, TSR_OK, 1, 32);
}


static void
test_duplicate_extension_is_rejected(void)
{
    size_t       len, data, dlen;
    t_hello_t   *t;
    uint8_t      buf[T_BUF + 64];

    t = &t_hellos[T_TLS12_FRESH_SNI];

    CU_ASSERT_EQUAL_FATAL(t_find_ext(t->buf, t->len,
                                     TSR_HELLO_EXT_SERVER_NAME, &data, &dlen),
                          0);

    memcpy(buf, t->buf, t->len);
    len = t_add_ext(buf, t->len, TSR_HELLO_EXT_SERVER_NAME, t->buf + data,
                    dlen);
    t_expect("second server_name", buf, len, T_ALL, TSR_EPROTO, 0, 0);
    t_expect_openssl("second server_name", buf, len);

    t = &t_hellos[T_TLS12_ID];

    memcpy(buf, t->buf, t->len);
    len = t_add_ext(buf, t->len, TSR_HELLO_EXT_TICKET, NULL, 0);
    t_expect("one empty ticket", buf, len, T_ALL, TSR_OK, 1, 32);
    len = t_add_ext(buf, len, TSR_HELLO_EXT_TICKET, NULL, 0);
    t_expect("two empty tickets", buf, len, T_ALL, TSR_EPROTO, 0, 0);
    t_expect_openssl("two empty tickets", buf, len);

    /* unknown types too, where OpenSSL would let it pass */

    memcpy(buf, t->buf, t->len);
    len = t_add_ext(buf, t->len, 0xfafa, NULL, 0);
    t_expect("one grease", buf, len, T_ALL, TSR_OK, 1, 32);
    len = t_add_ext(buf, len, 0xfafa, NULL, 0);
    t_expect("two grease", buf, len, T_ALL, TSR_EPROTO, 0, 0);
    len = t_add_ext(memcpy(buf, t->buf, t->len), t->len, 0xffff, NULL, 0);
    len = t_add_ext(buf, len, 0xffff, NULL, 0);
    t_expect("two 0xffff", buf, len, T_ALL, TSR_EPROTO, 0, 0);
}


static void
test_psk_not_last_is_rejected(void)
{
    size_t       len;
    unsigned     flags;
    t_hello_t   *t;
    uint8_t      buf[T_BUF + 64];

    t = &t_hellos[T_TLS13_STATEFUL];

    memcpy(buf, t->buf, t->len);
    len = t_add_ext(buf, t->len, 0xfe02, NULL, 0);

    for (flags = 0; flags <= T_ALL; flags++) {
        t_expect("pre_shared_key not last", buf, len, flags, TSR_EPROTO, 0,
                 0);
    }

    t_expect_openssl("pre_shared_key not last", buf, len);
}


static void
test_psk_rules_follow_openssl(void)
{
    size_t       n, len;
    uint8_t      exts[2048], buf[T_BUF];
    tsr_hello_t  h;

#define SV      n = t_ext_hex(exts, 43, "04 0304 0303")
#define MODES   n += t_ext_hex(exts + n, 45, "01 01")

    /* the rule itself: a first identity of 32 bytes */

    SV; MODES;
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_NO_TICKETS, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.tls13, 1);
    CU_ASSERT_EQUAL(h.id_len, 32);
    CU_ASSERT_EQUAL(h.id[0], 0x30);
    CU_ASSERT_EQUAL(h.id[31], 0x30);
    t_expect("psk 32", buf, len, T_ALL, TSR_OK, 0, 0);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.ticket, 1);
    t_expect_openssl("psk 32", buf, len);

    SV; MODES;
    n += t_ext_psk(exts + n, 32, 3);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk 32 x3", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("psk 32 x3", buf, len);

    /* other sizes are not session ids */

    SV; MODES;
    n += t_ext_psk(exts + n, 31, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk 31", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("psk 31", buf, len);

    SV; MODES;
    n += t_ext_psk(exts + n, 33, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk 33", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("psk 33", buf, len);

    /* an empty identity is fatal in OpenSSL: no lookup, no ticket */

    SV; MODES;
    n += t_ext_psk(exts + n, 0, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk 0", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.ticket, 0);
    t_expect_openssl("psk 0", buf, len);

    /* no identities */

    SV; MODES;
    n += t_ext_hex(exts + n, 41, "0000 0000");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk none", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("psk none", buf, len);

    /* broken identities */

    SV; MODES;
    n += t_ext_hex(exts + n, 41, "0005 0020 0102");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk broken", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("psk broken", buf, len);

    SV; MODES;
    n += t_ext_hex(exts + n, 41, "0030 0020");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk list overrun", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("psk list overrun", buf, len);

    SV; MODES;
    n += t_ext_hex(exts + n, 41, "0004 0020 0102");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk identity overrun", buf, len, T_NO_TICKETS, TSR_EPROTO, 0,
             0);
    t_expect_openssl("psk identity overrun", buf, len);

    SV; MODES;
    n += t_ext_hex(exts + n, 41, "0003 0001 aa");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk without age", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("psk without age", buf, len);

    /* in TLS 1.2 pre_shared_key is not even parsed */

    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, TSR_HELLO_TLS12, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.id[0], 0xa0);

    /* psk_key_exchange_modes: absent, psk_ke only, empty, broken */

    SV;
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("no modes", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("no modes", buf, len);

    SV;
    n += t_ext_hex(exts + n, 45, "01 00");
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("psk_ke", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect("psk_ke", buf, len, T_ALL, TSR_OK, 0, 0);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_ALL, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.ticket, 0);
    t_expect_openssl("psk_ke", buf, len);

    SV;
    n += t_ext_hex(exts + n, 45, "03 00 ff 01");
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("three modes", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("three modes", buf, len);

    SV;
    n += t_ext_hex(exts + n, 45, "00");
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("empty modes", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("empty modes", buf, len);

    SV;
    n += t_ext_hex(exts + n, 45, "02 01");
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("broken modes", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("broken modes", buf, len);

    /* modes and no pre_shared_key */

    SV; MODES;
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("modes only", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("modes only", buf, len);

#undef SV
#undef MODES
}


static void
test_version_rules_follow_openssl(void)
{
    size_t       n, len;
    uint8_t      exts[256], buf[T_BUF];
    tsr_hello_t  h;

    /* TLS 1.3 only, with a TLS 1.2 server: no version in common */

    n = t_ext_hex(exts, 43, "02 0304");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("1.3 only", buf, len, TSR_HELLO_TLS12, TSR_OK, 0, 0);
    t_expect("1.3 only", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("1.3 only", buf, len);

    /* supported_versions without 1.3 overrides legacy_version */

    n = t_ext_hex(exts, 43, "02 0303");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("1.2 listed", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("1.2 listed", buf, len);

    n = t_ext_hex(exts, 43, "06 7f1c 0a0a 0303");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("drafts and grease", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("drafts and grease", buf, len);

    /* malformed lists are fatal, whatever the server */

    n = t_ext_hex(exts, 43, "03 0304 03");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("odd list", buf, len, TSR_HELLO_TLS12, TSR_EPROTO, 0, 0);
    t_expect_openssl("odd list", buf, len);

    n = t_ext_hex(exts, 43, "02 0304 0303");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("list and more", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("list and more", buf, len);

    n = t_ext_hex(exts, 43, "");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("empty extension", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("empty extension", buf, len);

    n = t_ext_hex(exts, 43, "00");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("empty list", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("empty list", buf, len);

    /* an SSLv3 legacy_version, with and without supported_versions */

    n = t_ext_hex(exts, 43, "04 0304 0303");
    len = t_build(buf, 0x0300, 32, exts, n);
    t_expect("sslv3 legacy", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("sslv3 legacy", buf, len);

    len = t_build(buf, 0x0300, 32, NULL, 0);
    t_expect("sslv3", buf, len, T_NO_TICKETS, TSR_OK, 0, 0);
    t_expect_openssl("sslv3", buf, len);

    /* legacy versions above 1.2 mean 1.2 without supported_versions */

    len = t_build(buf, 0x0304, 32, NULL, 0);
    t_expect("legacy 1.3", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect("legacy 1.3", buf, len, TSR_HELLO_TLS13, TSR_OK, 0, 0);
    t_expect_openssl("legacy 1.3", buf, len);

    /* extended_master_secret is parsed before the lookup in TLS 1.2 */

    n = t_ext_hex(exts, 23, "00");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("ems not empty", buf, len, T_NO_TICKETS, TSR_EPROTO, 0, 0);
    t_expect_openssl("ems not empty", buf, len);

    n = t_ext_hex(exts, 23, "");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("ems", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("ems", buf, len);

    /* ... but not in TLS 1.3 */

    n = t_ext_hex(exts, 23, "00");
    n += t_ext_hex(exts + n, 43, "02 0304");
    n += t_ext_hex(exts + n, 45, "01 01");
    n += t_ext_psk(exts + n, 32, 1);
    len = t_build(buf, 0x0303, 32, exts, n);
    CU_ASSERT_EQUAL(tsr_hello_parse(buf, len, T_NO_TICKETS, &h), TSR_OK);
    CU_ASSERT_EQUAL(h.lookup, 1);
    CU_ASSERT_EQUAL(h.tls13, 1);
    t_expect_openssl("ems in 1.3", buf, len);

    /* TLS 1.2 tickets: any non-empty ticket, even a short one */

    n = t_ext_hex(exts, 35, "01");
    len = t_build(buf, 0x0303, 32, exts, n);
    t_expect("short ticket", buf, len, T_ALL, TSR_OK, 0, 0);
    t_expect("short ticket", buf, len, T_NO_TICKETS, TSR_OK, 1, 32);
    t_expect_openssl("short ticket", buf, len);

    n = t_ext_hex(exts, 35, "");
    len = t_build(buf, 0x0303, 1, exts, n);
    t_expect("one-byte id", buf, len, T_ALL, TSR_OK, 1, 1);
    t_expect_openssl("one-byte id", buf, len);
}


static void
test_decision_matches_openssl_server(void)
{
    int  i;

    for (i = 0; i < T_NHELLOS; i++) {
        t_expect_openssl(t_hellos[i].name, t_hellos[i].buf, t_hellos[i].len);
    }
}


static void
test_invalid_arguments_are_refused(void)
{
    tsr_hello_t  h;

    CU_ASSERT_EQUAL(tsr_hello_parse(t_hellos[0].buf, t_hellos[0].len,
                                    T_ALL, NULL), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_hello_parse(NULL, 10, T_ALL, &h), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_hello_parse(NULL, 0, T_ALL, &h), TSR_AGAIN);
    CU_ASSERT_TRUE(t_zeroed(&h));
}
