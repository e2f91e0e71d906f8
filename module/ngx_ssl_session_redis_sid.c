
/*
 * The module's session id context: nginx's own, read back from the
 * context nginx built, extended with the client verification settings,
 * and its fingerprint as the Redis keys and the fleet registration show
 * it.
 */


#include "ngx_ssl_session_redis_glue.h"


static ngx_int_t ngx_ssl_session_redis_nginx_sid_ctx(ngx_conf_t *cf,
    SSL_CTX *ssl_ctx, u_char *out, unsigned int *outlen);
static void ngx_ssl_session_redis_probe_info(const SSL *ssl, int where,
    int ret);
static ngx_int_t ngx_ssl_session_redis_sid_ctx_verify(EVP_MD_CTX *md,
    SSL_CTX *ssl_ctx, ngx_uint_t verify);
static int ngx_ssl_session_redis_cmp_digest(const void *a, const void *b);


/*
 * The module's session id context: nginx's own, as the running nginx
 * computed it, extended with the client verification settings.
 */

ngx_int_t
ngx_ssl_session_redis_sid_ctx(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    ngx_uint_t verify, u_char *out, unsigned int *outlen)
{
    EVP_MD_CTX    *md;
    unsigned int   len;
    u_char         nginx[SSL_MAX_SID_CTX_LENGTH];

    if (ngx_ssl_session_redis_nginx_sid_ctx(cf, ssl_ctx, nginx, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (EVP_DigestInit_ex(md, EVP_sha1(), NULL) == 0
        || EVP_DigestUpdate(md, nginx, len) == 0
        || ngx_ssl_session_redis_sid_ctx_verify(md, ssl_ctx, verify)
           != NGX_OK
        || EVP_DigestFinal_ex(md, out, outlen) == 0)
    {
        goto failed;
    }

    EVP_MD_CTX_free(md);

    return NGX_OK;

failed:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return NGX_ERROR;
}


/*
 * The session id context nginx set on the context.  nginx computes it
 * in ngx_ssl_session_id_context() from inputs that move between versions
 * (1.27.4 moved the server certificates from the context's ex_data to
 * the ngx_ssl_t), so it is read back rather than computed again.
 * OpenSSL has no getter for a context's, only for a session's, and a
 * connection copies its context's into every session it makes: a client
 * connection on the context writes a ClientHello into memory and its new
 * session tells.  Nothing is sent and no server callback runs; nginx's
 * info callback is replaced on that connection, and callbacks of nginx's
 * that run for a ClientHello (QUIC's transport parameters with the
 * OpenSSL compatibility layer) find a connection that is not QUIC.
 */

static ngx_int_t
ngx_ssl_session_redis_nginx_sid_ctx(ngx_conf_t *cf, SSL_CTX *ssl_ctx,
    u_char *out, unsigned int *outlen)
{
    BIO                  *rbio, *wbio;
    SSL                  *ssl;
    ngx_int_t             rc;
    unsigned int          len;
    SSL_SESSION          *sess;
    ngx_connection_t      c;
    const unsigned char  *p;

    rc = NGX_ERROR;

    ssl = SSL_new(ssl_ctx);
    if (ssl == NULL) {
        goto failed;
    }

    ngx_memzero(&c, sizeof(ngx_connection_t));
    c.type = SOCK_STREAM;
    c.log = cf->log;
    c.fd = (ngx_socket_t) -1;

    if (SSL_set_ex_data(ssl, ngx_ssl_connection_index, &c) == 0) {
        goto failed;
    }

    SSL_set_info_callback(ssl, ngx_ssl_session_redis_probe_info);

    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());

    if (rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto failed;
    }

    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_connect_state(ssl);

    /* stops for the ServerHello that never comes */
    (void) SSL_do_handshake(ssl);

    sess = SSL_get_session(ssl);
    if (sess == NULL) {
        goto failed;
    }

    p = SSL_SESSION_get0_id_context(sess, &len);

    if (len == 0 || len > SSL_MAX_SID_CTX_LENGTH) {
        goto failed;
    }

    ngx_memcpy(out, p, len);
    *outlen = len;

    rc = NGX_OK;

failed:

    /* a session of an unfinished handshake leaves no cache */

    if (ssl != NULL) {
        SSL_free(ssl);
    }

    ERR_clear_error();

    return rc;
}


static void
ngx_ssl_session_redis_probe_info(const SSL *ssl, int where, int ret)
{
    /* stands in for nginx's and the module's */
}


/*
 * Stricter than nginx, whose context stops at the client CA names:
 * servers that verify clients differently never share sessions.  The
 * ssl_verify_client value ("on" and "optional" look the same to
 * OpenSSL), the verify mode and depth, and every CA certificate and CRL
 * in the store go in, so that a session made where no certificate was
 * asked for, or under another CRL or CA, never resumes where
 * verification is stricter.  Store objects are taken in digest order:
 * the store's own order depends on its lookups.
 */

static ngx_int_t
ngx_ssl_session_redis_sid_ctx_verify(EVP_MD_CTX *md, SSL_CTX *ssl_ctx,
    ngx_uint_t verify)
{
    int                    i, n, k, mode, depth;
    u_char                *digests, *p;
    X509_OBJECT           *obj;
    X509_STORE            *store;
    unsigned int           len;
    STACK_OF(X509_OBJECT) *objs;
    u_char                 head[9];

    mode = SSL_CTX_get_verify_mode(ssl_ctx);
    depth = SSL_CTX_get_verify_depth(ssl_ctx);

    head[0] = (u_char) verify;

    for (k = 0; k < 4; k++) {
        head[1 + k] = (u_char) ((unsigned int) mode >> (24 - 8 * k));
        head[5 + k] = (u_char) ((unsigned int) depth >> (24 - 8 * k));
    }

    if (EVP_DigestUpdate(md, head, sizeof(head)) == 0) {
        return NGX_ERROR;
    }

    store = SSL_CTX_get_cert_store(ssl_ctx);
    objs = (store != NULL) ? X509_STORE_get0_objects(store) : NULL;
    n = (objs != NULL) ? sk_X509_OBJECT_num(objs) : 0;

    if (n <= 0) {
        return NGX_OK;
    }

    digests = OPENSSL_malloc((size_t) n * (SHA_DIGEST_LENGTH + 1));
    if (digests == NULL) {
        return NGX_ERROR;
    }

    p = digests;

    for (i = 0; i < n; i++, p += SHA_DIGEST_LENGTH + 1) {
        obj = sk_X509_OBJECT_value(objs, i);
        len = 0;

        switch (X509_OBJECT_get_type(obj)) {

        case X509_LU_X509:
            p[0] = 'c';
            k = X509_digest(X509_OBJECT_get0_X509(obj), EVP_sha1(), p + 1,
                            &len);
            break;

        case X509_LU_CRL:
            p[0] = 'r';
            k = X509_CRL_digest(X509_OBJECT_get0_X509_CRL(obj), EVP_sha1(),
                                p + 1, &len);
            break;

        default:
            p[0] = '?';
            k = 1;
            len = SHA_DIGEST_LENGTH;
            ngx_memzero(p + 1, SHA_DIGEST_LENGTH);
            break;
        }

        if (k == 0 || len != SHA_DIGEST_LENGTH) {
            OPENSSL_free(digests);
            return NGX_ERROR;
        }
    }

    qsort(digests, n, SHA_DIGEST_LENGTH + 1,
          ngx_ssl_session_redis_cmp_digest);

    k = EVP_DigestUpdate(md, digests, (size_t) n * (SHA_DIGEST_LENGTH + 1));

    OPENSSL_free(digests);

    return (k == 0) ? NGX_ERROR : NGX_OK;
}


static int
ngx_ssl_session_redis_cmp_digest(const void *a, const void *b)
{
    return ngx_memcmp(a, b, SHA_DIGEST_LENGTH + 1);
}


/* the first 16 hex digits of SHA-256(sid_ctx), as in the Redis keys */

ngx_int_t
ngx_ssl_session_redis_fingerprint(const u_char *sid_ctx, size_t len,
    u_char *fp)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    if (SHA256(sid_ctx, len, md) == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    ngx_hex_dump(fp, md, 8);
    fp[16] = '\0';

    return NGX_OK;
}
