
/*
 * Test helpers, TLS part: self-signed certificates, server and client
 * contexts, and complete handshakes in memory over a BIO pair.
 */


#include "tsr_test.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>


#define TSR_TEST_TLS_STEPS    1000
#define TSR_TEST_TLS_BUFSIZE  65536


static int tsr_test_tls_add_san(X509 *cert, const char *cn);
static int tsr_test_tls_step(SSL *ssl, int *done, const char *who);
static void tsr_test_tls_error(const char *what);


int
tsr_test_make_cert(const char *cn, EVP_PKEY **key, X509 **cert)
{
    uint64_t    serial;
    X509       *x;
    EVP_PKEY   *pkey;
    X509_NAME  *name;

    x = NULL;
    *key = NULL;
    *cert = NULL;

    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        tsr_test_tls_error("EVP_EC_gen()");
        goto failed;
    }

    x = X509_new();
    if (x == NULL) {
        tsr_test_tls_error("X509_new()");
        goto failed;
    }

    if (RAND_bytes((unsigned char *) &serial, sizeof(serial)) != 1) {
        tsr_test_tls_error("RAND_bytes()");
        goto failed;
    }

    name = X509_get_subject_name(x);

    if (X509_set_version(x, 2) != 1
        || ASN1_INTEGER_set_uint64(X509_get_serialNumber(x),
                                   serial >> 1) != 1
        || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400) == NULL
        || X509_set_pubkey(x, pkey) != 1
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *) cn, -1, -1, 0)
           != 1
        || X509_set_issuer_name(x, name) != 1
        || tsr_test_tls_add_san(x, cn) != 0
        || X509_sign(x, pkey, EVP_sha256()) == 0)
    {
        tsr_test_tls_error("building a certificate");
        goto failed;
    }

    *key = pkey;
    *cert = x;

    return 0;

failed:

    X509_free(x);
    EVP_PKEY_free(pkey);

    return -1;
}


int
tsr_test_write_cert(const char *cn, const char *key_path,
    const char *cert_path)
{
    int        rc;
    FILE      *f;
    X509      *cert;
    EVP_PKEY  *key;

    if (tsr_test_make_cert(cn, &key, &cert) != 0) {
        return -1;
    }

    rc = -1;

    f = fopen(key_path, "w");
    if (f == NULL) {
        perror(key_path);
        goto failed;
    }

    if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
        tsr_test_tls_error("PEM_write_PrivateKey()");
        fclose(f);
        goto failed;
    }

    if (fclose(f) != 0) {
        perror(key_path);
        goto failed;
    }

    f = fopen(cert_path, "w");
    if (f == NULL) {
        perror(cert_path);
        goto failed;
    }

    if (PEM_write_X509(f, cert) != 1) {
        tsr_test_tls_error("PEM_write_X509()");
        fclose(f);
        goto failed;
    }

    if (fclose(f) != 0) {
        perror(cert_path);
        goto failed;
    }

    rc = 0;

failed:

    X509_free(cert);
    EVP_PKEY_free(key);

    return rc;
}


SSL_CTX *
tsr_test_server_ctx(const char *cn, int version, const char *sid_ctx,
    int tickets)
{
    X509      *cert;
    SSL_CTX   *ctx;
    EVP_PKEY  *key;

    cert = NULL;
    key = NULL;

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tsr_test_tls_error("SSL_CTX_new()");
        goto failed;
    }

    if (tsr_test_make_cert(cn, &key, &cert) != 0) {
        goto failed;
    }

    if (SSL_CTX_set_min_proto_version(ctx, version) != 1
        || SSL_CTX_set_max_proto_version(ctx, version) != 1
        || SSL_CTX_use_certificate(ctx, cert) != 1
        || SSL_CTX_use_PrivateKey(ctx, key) != 1
        || SSL_CTX_check_private_key(ctx) != 1
        || SSL_CTX_set_session_id_context(ctx,
                                          (const unsigned char *) sid_ctx,
                                          (unsigned int) strlen(sid_ctx))
           != 1)
    {
        tsr_test_tls_error("setting up a server context");
        goto failed;
    }

    (void) SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER
                                               | SSL_SESS_CACHE_NO_INTERNAL);

    if (!tickets) {
        (void) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

    X509_free(cert);
    EVP_PKEY_free(key);

    return ctx;

failed:

    X509_free(cert);
    EVP_PKEY_free(key);
    SSL_CTX_free(ctx);

    return NULL;
}


SSL_CTX *
tsr_test_client_ctx(int version)
{
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        tsr_test_tls_error("SSL_CTX_new()");
        return NULL;
    }

    if (SSL_CTX_set_min_proto_version(ctx, version) != 1
        || SSL_CTX_set_max_proto_version(ctx, version) != 1)
    {
        tsr_test_tls_error("setting up a client context");
        SSL_CTX_free(ctx);
        return NULL;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    /* a client cache mode keeps TLSv1.3 tickets in the connection's session */
    (void) SSL_CTX_set_session_cache_mode(ctx,
                                          SSL_SESS_CACHE_CLIENT
                                          | SSL_SESS_CACHE_NO_INTERNAL_STORE);

    return ctx;
}


int
tsr_test_handshake(SSL_CTX *server, SSL_CTX *client, const char *sni,
    SSL_SESSION *offer, SSL_SESSION **out, int *reused)
{
    int             i, n, rc, sdone, cdone;
    SSL            *s, *c;
    BIO            *sbio, *cbio;
    unsigned char   buf[1];

    rc = -1;
    sdone = 0;
    cdone = 0;

    *reused = 0;

    if (out != NULL) {
        *out = NULL;
    }

    s = SSL_new(server);
    c = SSL_new(client);

    if (s == NULL || c == NULL) {
        tsr_test_tls_error("SSL_new()");
        goto failed;
    }

    if (BIO_new_bio_pair(&sbio, TSR_TEST_TLS_BUFSIZE,
                         &cbio, TSR_TEST_TLS_BUFSIZE) != 1)
    {
        tsr_test_tls_error("BIO_new_bio_pair()");
        goto failed;
    }

    SSL_set_bio(s, sbio, sbio);
    SSL_set_bio(c, cbio, cbio);

    SSL_set_accept_state(s);
    SSL_set_connect_state(c);

    if (sni != NULL && SSL_set_tlsext_host_name(c, sni) != 1) {
        tsr_test_tls_error("SSL_set_tlsext_host_name()");
        goto failed;
    }

    if (offer != NULL && SSL_set_session(c, offer) != 1) {
        tsr_test_tls_error("SSL_set_session()");
        goto failed;
    }

    for (i = 0; i < TSR_TEST_TLS_STEPS && !(sdone && cdone); i++) {

        if (tsr_test_tls_step(c, &cdone, "client") != 0
            || tsr_test_tls_step(s, &sdone, "server") != 0)
        {
            goto failed;
        }
    }

    if (!(sdone && cdone)) {
        fprintf(stderr, "tsr_test_handshake: stuck after %d steps\n", i);
        goto failed;
    }

    /*
     * The server has written its NewSessionTicket messages by now; the
     * client takes them in on its first read, which finds no data.
     */

    if (SSL_version(c) == TLS1_3_VERSION) {
        n = SSL_read(c, buf, sizeof(buf));

        if (n > 0 || SSL_get_error(c, n) != SSL_ERROR_WANT_READ) {
            fprintf(stderr, "tsr_test_handshake: reading tickets: %d\n", n);
            tsr_test_tls_error("SSL_read()");
            goto failed;
        }
    }

    *reused = SSL_session_reused(s);

    if (out != NULL) {
        *out = SSL_get1_session(c);
    }

    /*
     * A connection freed without a shutdown has its session removed from
     * the cache (remove callback included): close both ends as cleanly as
     * a real server would.
     */

    SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);

    rc = 0;

failed:

    SSL_free(s);
    SSL_free(c);

    ERR_clear_error();

    return rc;
}


static int
tsr_test_tls_add_san(X509 *cert, const char *cn)
{
    int              rc;
    X509V3_CTX       v3;
    X509_EXTENSION  *ext;
    char             san[512];

    if (snprintf(san, sizeof(san), "DNS:%s", cn) >= (int) sizeof(san)) {
        return -1;
    }

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);

    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext == NULL) {
        return -1;
    }

    rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;

    X509_EXTENSION_free(ext);

    return rc;
}


static int
tsr_test_tls_step(SSL *ssl, int *done, const char *who)
{
    int  n, err;

    if (*done) {
        return 0;
    }

    n = SSL_do_handshake(ssl);

    if (n == 1) {
        *done = 1;
        return 0;
    }

    err = SSL_get_error(ssl, n);

    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return 0;
    }

    fprintf(stderr, "tsr_test_handshake: %s: SSL_do_handshake() = %d, "
            "SSL_get_error() = %d\n", who, n, err);
    tsr_test_tls_error("SSL_do_handshake()");

    return -1;
}


static void
tsr_test_tls_error(const char *what)
{
    unsigned long  e;
    char           buf[256];

    fprintf(stderr, "%s failed\n", what);

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "    %s\n", buf);
    }
}
