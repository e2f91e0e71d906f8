
/*
 * OpenSSL binding: wraps the new/get/remove session callbacks of a server
 * SSL_CTX, so that new sessions are sealed into the store and sessions the
 * context does not know are looked up there.  Callbacks found on the
 * context (nginx's shared cache, say) stay in front as a local first level.
 * The info callback is wrapped too, only to remember which context each
 * connection started on (see tsr_ssl_pin()), and a ticket decryption
 * callback holds sessions from tickets to the server-name rule.
 */


#include "tsr_ssl.h"


#define TSR_SSL_MSG_LEN  256


typedef int (*tsr_ssl_new_pt)(SSL *ssl, SSL_SESSION *sess);
typedef SSL_SESSION *(*tsr_ssl_get_pt)(SSL *ssl, const unsigned char *id,
    int len, int *copy);
typedef void (*tsr_ssl_remove_pt)(SSL_CTX *ctx, SSL_SESSION *sess);
typedef void (*tsr_ssl_info_pt)(const SSL *ssl, int where, int ret);


struct tsr_ssl_s {
    tsr_store_t        *store;
    tsr_keyring_t      *keys;
    char               *prefix;
    uint8_t             sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    size_t              sid_ctx_len;

    /* "<prefix>s:<16 hex of SHA-256(sid_ctx)>:", the same for every key */
    char                key_prefix[TSR_MAX_KEY_NAME];
    size_t              key_prefix_len;

    /* what attach found on the context, restored by detach */
    tsr_ssl_new_pt      new_cb;
    tsr_ssl_get_pt      get_cb;
    tsr_ssl_remove_pt   remove_cb;
    tsr_ssl_info_pt     info_cb;
    long                mode;

    tsr_log_pt          log;
    void               *log_data;
    time_t              last_error;

    int               (*hold)(SSL *ssl, void *data);
    void               *hold_data;

    /*
     * Plain counters, no atomics: nginx runs one event loop per worker, so
     * a binding is used by one thread at a time.  A threaded host may lose
     * an increment now and then, which statistics can afford.
     */
    tsr_ssl_stats_t     stats;

    unsigned            sync_lookup:1;
    unsigned            no_store:1;
    unsigned            single_use:1;
    unsigned            debug:1;
};


/* a session handed over by tsr_ssl_set_session(), one per connection */
typedef struct {
    SSL_SESSION        *sess;
    size_t              idlen;
    uint8_t             id[TSR_MAX_SESSION_ID];
} tsr_ssl_slot_t;


static int tsr_ssl_indexes(void);
static void tsr_ssl_init_indexes(void);
static void tsr_ssl_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp);
static void tsr_ssl_pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp);
static void tsr_ssl_slot_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
    int idx, long argl, void *argp);
static int tsr_ssl_conn_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from,
    void **from_d, int idx, long argl, void *argp);
static void tsr_ssl_free(tsr_ssl_t *b);
static void tsr_ssl_pin(SSL *ssl);
static tsr_ssl_t *tsr_ssl_conn_binding(SSL *ssl);
static int tsr_ssl_new_session(SSL *ssl, SSL_SESSION *sess);
static void tsr_ssl_store(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess);
static SSL_SESSION *tsr_ssl_get_session(SSL *ssl, const unsigned char *id,
    int len, int *copy);
static SSL_SESSION *tsr_ssl_fetch(tsr_ssl_t *b, SSL *ssl,
    const unsigned char *id, size_t len);
static SSL_SESSION *tsr_ssl_serve(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess,
    int *copy);
static int tsr_ssl_same_name(SSL *ssl, const SSL_SESSION *sess);
static void tsr_ssl_remove_session(SSL_CTX *ctx, SSL_SESSION *sess);
static SSL_TICKET_RETURN tsr_ssl_ticket(SSL *ssl, SSL_SESSION *sess,
    const unsigned char *keyname, size_t keyname_len,
    SSL_TICKET_STATUS status, void *arg);
static void tsr_ssl_info(const SSL *ssl, int where, int ret);
static int tsr_ssl_session_name(tsr_ssl_t *b, const SSL_SESSION *sess,
    char *out, size_t outlen);
static uint32_t tsr_ssl_hash(const uint8_t *id, size_t len);
static void tsr_ssl_log(tsr_ssl_t *b, int level, const char *fmt, ...)
    TSR_PRINTF(3, 4);
static void tsr_ssl_log_error(tsr_ssl_t *b, int level, const char *call,
    const char *detail);
static void tsr_ssl_set_error(char *err, size_t errlen, const char *fmt, ...)
    TSR_PRINTF(3, 4);


static CRYPTO_ONCE  tsr_ssl_once = CRYPTO_ONCE_STATIC_INIT;
static int          tsr_ssl_ctx_index = -1;
static int          tsr_ssl_pin_index = -1;
static int          tsr_ssl_slot_index = -1;
static int          tsr_ssl_sess_index = -1;

/* ex_data of a session reported new on its own connection (see remove) */
static char         tsr_ssl_own;


tsr_ssl_t *
tsr_ssl_ctx_attach(SSL_CTX *ctx, const tsr_ssl_conf_t *conf, char *err,
    size_t errlen)
{
    int          n;
    long         mode;
    tsr_ssl_t   *b, *old;
    const char  *prefix;
    uint8_t      id[TSR_MAX_SESSION_ID];
    char         name[TSR_MAX_KEY_NAME];

    b = NULL;

    if (ctx == NULL || conf == NULL) {
        tsr_ssl_set_error(err, errlen, "no SSL context or configuration");
        goto failed;
    }

    if (conf->store == NULL) {
        tsr_ssl_set_error(err, errlen, "no store");
        goto failed;
    }

    if (conf->keys == NULL) {
        tsr_ssl_set_error(err, errlen, "no key ring");
        goto failed;
    }

    if (conf->sid_ctx == NULL || conf->sid_ctx_len == 0
        || conf->sid_ctx_len > SSL_MAX_SID_CTX_LENGTH)
    {
        tsr_ssl_set_error(err, errlen,
                          "session id context of %zu bytes, "
                          "must be 1 to %d bytes",
                          conf->sid_ctx == NULL ? 0 : conf->sid_ctx_len,
                          SSL_MAX_SID_CTX_LENGTH);
        goto failed;
    }

    prefix = conf->prefix != NULL ? conf->prefix : TSR_DEFAULT_PREFIX;

    /* the longest key this binding will build must fit */
    memset(id, 0, sizeof(id));

    n = tsr_session_key(prefix, conf->sid_ctx, conf->sid_ctx_len, id,
                        sizeof(id), name, sizeof(name));
    if (n < 0) {
        tsr_ssl_set_error(err, errlen, "key prefix \"%.64s\" is invalid "
                          "or too long: %s", prefix, tsr_strerror(n));
        goto failed;
    }

    if (tsr_ssl_indexes() != TSR_OK) {
        tsr_ssl_set_error(err, errlen, "SSL_get_ex_new_index() failed");
        goto failed;
    }

    b = OPENSSL_zalloc(sizeof(tsr_ssl_t));
    if (b == NULL) {
        tsr_ssl_set_error(err, errlen, "out of memory");
        goto failed;
    }

    b->prefix = OPENSSL_strdup(prefix);
    if (b->prefix == NULL) {
        tsr_ssl_set_error(err, errlen, "out of memory");
        goto failed;
    }

    b->store = conf->store;
    b->keys = conf->keys;
    memcpy(b->sid_ctx, conf->sid_ctx, conf->sid_ctx_len);
    b->sid_ctx_len = conf->sid_ctx_len;
    b->sync_lookup = conf->sync_lookup;
    b->no_store = conf->no_store;
    b->single_use = conf->single_use;
    b->log = conf->log;
    b->log_data = conf->log_data;
    b->debug = conf->log_debug;
    b->hold = conf->hold;
    b->hold_data = conf->hold_data;

    /* the name of the longest id, less the id's hex digits */
    b->key_prefix_len = (size_t) n - 2 * sizeof(id);
    memcpy(b->key_prefix, name, b->key_prefix_len);

    /*
     * Attaching again replaces the binding but keeps what the first attach
     * found: the context's callbacks are ours by now, and saving them
     * would make every wrapper call itself.
     */

    old = SSL_CTX_get_ex_data(ctx, tsr_ssl_ctx_index);

    if (old != NULL) {
        b->new_cb = old->new_cb;
        b->get_cb = old->get_cb;
        b->remove_cb = old->remove_cb;
        b->info_cb = old->info_cb;
        b->mode = old->mode;

    } else {
        b->new_cb = SSL_CTX_sess_get_new_cb(ctx);
        b->get_cb = SSL_CTX_sess_get_get_cb(ctx);
        b->remove_cb = SSL_CTX_sess_get_remove_cb(ctx);
        b->info_cb = SSL_CTX_get_info_callback(ctx);
        b->mode = SSL_CTX_get_session_cache_mode(ctx);
    }

    if (SSL_CTX_set_ex_data(ctx, tsr_ssl_ctx_index, b) != 1) {
        tsr_ssl_set_error(err, errlen, "SSL_CTX_set_ex_data() failed");
        goto failed;
    }

    tsr_ssl_free(old);

    /* cannot fail: the length is checked above */
    (void) SSL_CTX_set_session_id_context(ctx, b->sid_ctx,
                                          (unsigned int) b->sid_ctx_len);

    /*
     * OpenSSL reports new sessions only with SSL_SESS_CACHE_SERVER, and
     * its internal cache would only hold a second copy of what the store
     * and the chained cache keep.
     */

    mode = SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL
           | (b->mode & SSL_SESS_CACHE_NO_AUTO_CLEAR);

    (void) SSL_CTX_set_session_cache_mode(ctx, mode);

    SSL_CTX_sess_set_new_cb(ctx, tsr_ssl_new_session);
    SSL_CTX_sess_set_get_cb(ctx, tsr_ssl_get_session);
    SSL_CTX_sess_set_remove_cb(ctx, tsr_ssl_remove_session);
    SSL_CTX_set_info_callback(ctx, tsr_ssl_info);

    /* nginx sets none; its ticket key callback is another one */
    (void) SSL_CTX_set_session_ticket_cb(ctx, NULL, tsr_ssl_ticket, NULL);

    return b;

failed:

    tsr_ssl_free(b);

    return NULL;
}


tsr_ssl_t *
tsr_ssl_ctx_get(SSL_CTX *ctx)
{
    if (ctx == NULL || tsr_ssl_indexes() != TSR_OK) {
        return NULL;
    }

    return SSL_CTX_get_ex_data(ctx, tsr_ssl_ctx_index);
}


void
tsr_ssl_detach(SSL_CTX *ctx)
{
    tsr_ssl_t  *b;

    b = tsr_ssl_ctx_get(ctx);
    if (b == NULL) {
        return;
    }

    SSL_CTX_sess_set_new_cb(ctx, b->new_cb);
    SSL_CTX_sess_set_get_cb(ctx, b->get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, b->remove_cb);
    SSL_CTX_set_info_callback(ctx, b->info_cb);
    (void) SSL_CTX_set_session_ticket_cb(ctx, NULL, NULL, NULL);
    (void) SSL_CTX_set_session_cache_mode(ctx, b->mode);

    /* cannot fail: the slot exists since attach */
    (void) SSL_CTX_set_ex_data(ctx, tsr_ssl_ctx_index, NULL);

    tsr_ssl_free(b);
}


int
tsr_ssl_session_key(tsr_ssl_t *b, const uint8_t *id, size_t idlen,
    char *out, size_t outlen)
{
    size_t  i;

    static const char  hex[] = "0123456789abcdef";

    if (b == NULL || id == NULL || idlen == 0 || idlen > TSR_MAX_SESSION_ID
        || out == NULL)
    {
        return TSR_EINVAL;
    }

    if (b->key_prefix_len + 2 * idlen >= outlen) {
        return TSR_ETOOBIG;
    }

    memcpy(out, b->key_prefix, b->key_prefix_len);
    out += b->key_prefix_len;

    for (i = 0; i < idlen; i++) {
        *out++ = hex[id[i] >> 4];
        *out++ = hex[id[i] & 0xf];
    }

    *out = '\0';

    return (int) (b->key_prefix_len + 2 * idlen);
}


int
tsr_ssl_set_session(SSL *ssl, const uint8_t *id, size_t idlen,
    SSL_SESSION *sess)
{
    unsigned int          sidlen;
    tsr_ssl_slot_t       *slot;
    const unsigned char  *sid;

    if (ssl == NULL || idlen > TSR_MAX_SESSION_ID
        || (id == NULL && idlen != 0))
    {
        return TSR_EINVAL;
    }

    /* a session is served only under its own id */

    if (sess != NULL) {
        sid = SSL_SESSION_get_id(sess, &sidlen);

        if (sidlen != idlen || memcmp(sid, id, idlen) != 0) {
            return TSR_EINVAL;
        }
    }

    if (tsr_ssl_indexes() != TSR_OK) {
        return TSR_ENOMEM;
    }

    slot = SSL_get_ex_data(ssl, tsr_ssl_slot_index);

    if (slot == NULL) {
        if (id == NULL) {
            return TSR_OK;
        }

        slot = OPENSSL_zalloc(sizeof(tsr_ssl_slot_t));
        if (slot == NULL) {
            return TSR_ENOMEM;
        }

        if (SSL_set_ex_data(ssl, tsr_ssl_slot_index, slot) != 1) {
            ERR_clear_error();
            OPENSSL_free(slot);
            return TSR_ENOMEM;
        }
    }

    /* take the new reference first: "sess" may be the one held already */

    if (sess != NULL) {
        (void) SSL_SESSION_up_ref(sess);
    }

    if (slot->sess != NULL) {
        SSL_SESSION_free(slot->sess);
    }

    /*
     * With an id the slot holds the host's decision for it, a session or
     * none: either way the lookup does not go on to the first level or
     * the store, so a session the host refused is not resumed from there.
     */

    slot->sess = sess;
    slot->idlen = id != NULL ? idlen : 0;

    if (slot->idlen != 0) {
        memcpy(slot->id, id, idlen);
    }

    return TSR_OK;
}


SSL_SESSION *
tsr_ssl_cached_session(tsr_ssl_t *b, SSL *ssl, const uint8_t *id,
    size_t idlen)
{
    int           copy;
    SSL_SESSION  *sess;

    if (b == NULL || b->get_cb == NULL || b->single_use || ssl == NULL
        || id == NULL || idlen == 0 || idlen > TSR_MAX_SESSION_ID)
    {
        return NULL;
    }

    /*
     * As OpenSSL asks: "copy" starts at 1, and a callback that hands out
     * a fresh object sets it to 0; either way the caller gets its own
     * reference.
     */

    copy = 1;

    sess = b->get_cb(ssl, id, (int) idlen, &copy);

    if (sess != NULL && copy) {
        (void) SSL_SESSION_up_ref(sess);
    }

    return sess;
}


void
tsr_ssl_cache_session(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess)
{
    if (b == NULL || ssl == NULL || sess == NULL || b->new_cb == NULL
        || b->single_use)
    {
        return;
    }

    /*
     * OpenSSL does not report sessions found by a lookup as new: write
     * this one back to the chained cache, as its own entry would be.  The
     * callback keeps the reference it is given when it returns 1.
     */

    (void) SSL_SESSION_up_ref(sess);

    if (b->new_cb(ssl, sess) == 0) {
        SSL_SESSION_free(sess);
    }
}


SSL_SESSION *
tsr_ssl_session_open(tsr_ssl_t *b, const char *name, size_t namelen,
    const uint8_t *val, size_t vlen, int *rc)
{
    int                   r;
    size_t                len, size;
    uint8_t              *buf;
    unsigned int          idlen;
    SSL_SESSION          *sess;
    const unsigned char  *p;

    buf = NULL;
    sess = NULL;
    size = 0;

    if (b == NULL || name == NULL || val == NULL) {
        r = TSR_EINVAL;
        goto failed;
    }

    if (vlen > TSR_MAX_VALUE) {
        r = TSR_ETOOBIG;
        goto failed;
    }

    if (vlen <= TSR_SEAL_OVERHEAD) {
        r = TSR_SEAL_TRUNCATED;
        goto failed;
    }

    size = vlen - TSR_SEAL_OVERHEAD;

    buf = OPENSSL_malloc(size);
    if (buf == NULL) {
        r = TSR_ENOMEM;
        goto failed;
    }

    len = size;

    r = tsr_open(b->keys, name, namelen, val, vlen, buf, &len);
    if (r != TSR_OK) {
        goto failed;
    }

    /* an opened value is authentic, yet decode it as carefully as any */

    p = buf;
    sess = d2i_SSL_SESSION(NULL, &p, (long) len);

    if (sess == NULL || p != buf + len) {
        r = TSR_EPROTO;
        goto failed;
    }

    (void) SSL_SESSION_get_id(sess, &idlen);

    if (idlen == 0 || idlen > TSR_MAX_SESSION_ID) {
        r = TSR_EPROTO;
        goto failed;
    }

    OPENSSL_cleanse(buf, size);
    OPENSSL_free(buf);

    if (rc != NULL) {
        *rc = TSR_OK;
    }

    return sess;

failed:

    /* a value that does not decode leaves entries nobody should report */
    ERR_clear_error();

    SSL_SESSION_free(sess);

    if (buf != NULL) {
        OPENSSL_cleanse(buf, size);
        OPENSSL_free(buf);
    }

    if (b != NULL) {
        b->stats.open_failures++;
    }

    if (rc != NULL) {
        *rc = r;
    }

    return NULL;
}


void
tsr_ssl_stats(const tsr_ssl_t *b, tsr_ssl_stats_t *stats)
{
    if (b == NULL) {
        memset(stats, 0, sizeof(tsr_ssl_stats_t));
        return;
    }

    *stats = b->stats;
}


static int
tsr_ssl_indexes(void)
{
    if (!CRYPTO_THREAD_run_once(&tsr_ssl_once, tsr_ssl_init_indexes)) {
        return TSR_ERROR;
    }

    if (tsr_ssl_ctx_index < 0 || tsr_ssl_pin_index < 0
        || tsr_ssl_slot_index < 0 || tsr_ssl_sess_index < 0)
    {
        return TSR_ERROR;
    }

    return TSR_OK;
}


static void
tsr_ssl_init_indexes(void)
{
    /*
     * Indexes live as long as the process: OpenSSL never reuses them, and
     * a library loaded again (nginx reloads) keeps its statics.
     */

    tsr_ssl_ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                 tsr_ssl_ctx_free);
    tsr_ssl_pin_index = SSL_get_ex_new_index(0, NULL, NULL,
                                             tsr_ssl_conn_dup,
                                             tsr_ssl_pin_free);
    tsr_ssl_slot_index = SSL_get_ex_new_index(0, NULL, NULL,
                                              tsr_ssl_conn_dup,
                                              tsr_ssl_slot_free);

    /* a mark, no memory: SSL_SESSION_dup() may copy it as it is */
    tsr_ssl_sess_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL, NULL,
                                                      NULL);
}


static void
tsr_ssl_ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
    tsr_ssl_free(ptr);
}


static void
tsr_ssl_pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
    SSL_CTX_free(ptr);
}


static void
tsr_ssl_slot_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
    tsr_ssl_slot_t  *slot;

    slot = ptr;

    if (slot == NULL) {
        return;
    }

    SSL_SESSION_free(slot->sess);
    OPENSSL_free(slot);
}


static int
tsr_ssl_conn_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from,
    void **from_d, int idx, long argl, void *argp)
{
    /*
     * SSL_dup() copies ex_data pointers: a copy would be freed twice.  A
     * duplicate starts without a slot and finds its context anew.
     */

    *from_d = NULL;

    return 1;
}


static void
tsr_ssl_free(tsr_ssl_t *b)
{
    if (b == NULL) {
        return;
    }

    OPENSSL_free(b->prefix);
    OPENSSL_cleanse(b, sizeof(tsr_ssl_t));
    OPENSSL_free(b);
}


/*
 * OpenSSL runs the session callbacks of the connection's first context
 * (its "session_ctx"), yet an SNI callback may have switched the context
 * by the time a new session is reported, and OpenSSL has no getter for
 * the first one.  Chaining the switched context's saved callbacks would
 * be wrong (nginx's own crash on a context without a shared zone), so
 * the first context is remembered, with a reference, when the handshake
 * starts or the first lookup runs, both before SNI is processed.
 */

static void
tsr_ssl_pin(SSL *ssl)
{
    SSL_CTX  *ctx;

    if (SSL_get_ex_data(ssl, tsr_ssl_pin_index) != NULL) {
        return;
    }

    ctx = SSL_get_SSL_CTX(ssl);

    if (ctx == NULL || SSL_CTX_up_ref(ctx) != 1) {
        return;
    }

    if (SSL_set_ex_data(ssl, tsr_ssl_pin_index, ctx) != 1) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
    }
}


static tsr_ssl_t *
tsr_ssl_conn_binding(SSL *ssl)
{
    SSL_CTX  *ctx;

    ctx = SSL_get_ex_data(ssl, tsr_ssl_pin_index);

    if (ctx == NULL) {
        ctx = SSL_get_SSL_CTX(ssl);
    }

    return SSL_CTX_get_ex_data(ctx, tsr_ssl_ctx_index);
}


static int
tsr_ssl_new_session(SSL *ssl, SSL_SESSION *sess)
{
    int         rc;
    tsr_ssl_t  *b;

    b = tsr_ssl_conn_binding(ssl);
    if (b == NULL) {
        return 0;
    }

    /*
     * OpenSSL reports every TLSv1.3 ticket as a new session, stateless
     * ones too, with a random id nobody will ever look up: the ticket
     * itself carries the session.  Skip them, chained cache included:
     * nginx 1.22 fills its shared cache with such entries, 1.23.2 skips
     * them with this very test.  Stateful tickets (SSL_OP_NO_TICKET) are
     * real cache entries and are kept.
     */

    if (SSL_version(ssl) == TLS1_3_VERSION
        && (SSL_get_options(ssl) & SSL_OP_NO_TICKET) == 0)
    {
        b->stats.store_skipped++;
        return 0;
    }

    /*
     * This connection's own session, whose handshake has just completed:
     * the one the remove callback may delete from the store.
     */

    if (SSL_SESSION_set_ex_data(sess, tsr_ssl_sess_index, &tsr_ssl_own)
        != 1)
    {
        ERR_clear_error();
    }

    /* the chained callback's 1 says it kept OpenSSL's reference: pass it on */

    rc = 0;

    /* single use: a node's first level could serve a session twice */

    if (b->new_cb != NULL && !b->single_use) {
        rc = b->new_cb(ssl, sess);
    }

    if (!b->no_store) {
        tsr_ssl_store(b, ssl, sess);
    }

    return rc;
}


static void
tsr_ssl_store(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess)
{
    int                   n, rc;
    size_t                len, slen, size, namelen;
    int64_t               ttl;
    uint8_t              *der, *sealed;
    unsigned char        *p;
    unsigned int          idlen;
    const unsigned char  *id;
    char                  name[TSR_MAX_KEY_NAME];

    id = SSL_SESSION_get_id(sess, &idlen);

    if (idlen == 0 || idlen > TSR_MAX_SESSION_ID) {
        b->stats.store_skipped++;
        return;
    }

    /* the remaining lifetime, as OpenSSL will judge it on resumption */

    ttl = ((int64_t) SSL_SESSION_get_time(sess)
           + SSL_SESSION_get_timeout(sess) - (int64_t) time(NULL)) * 1000;

    if (ttl <= 0) {
        b->stats.store_skipped++;
        tsr_ssl_log(b, TSR_LOG_DEBUG, "expired session not stored, "
                    "id %u bytes #%08x", idlen, tsr_ssl_hash(id, idlen));
        return;
    }

    n = i2d_SSL_SESSION(sess, NULL);

    if (n <= 0) {
        ERR_clear_error();
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "i2d_SSL_SESSION()",
                          "cannot encode");
        return;
    }

    if ((size_t) n > TSR_MAX_SESSION) {
        b->stats.store_skipped++;
        tsr_ssl_log(b, TSR_LOG_DEBUG, "session of %d bytes not stored, "
                    "over %d, id %u bytes #%08x", n, (int) TSR_MAX_SESSION,
                    idlen, tsr_ssl_hash(id, idlen));
        return;
    }

    rc = tsr_ssl_session_name(b, sess, name, sizeof(name));

    if (rc < 0) {
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "tsr_session_key()",
                          tsr_strerror(rc));
        return;
    }

    namelen = (size_t) rc;
    len = (size_t) n;
    slen = len + TSR_SEAL_OVERHEAD;
    size = len + slen;

    der = OPENSSL_malloc(size);
    if (der == NULL) {
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "OPENSSL_malloc()",
                          "out of memory");
        return;
    }

    sealed = der + len;
    p = der;

    if (i2d_SSL_SESSION(sess, &p) != n) {
        ERR_clear_error();
        rc = TSR_ERROR;

    } else {
        rc = tsr_seal(b->keys, name, namelen, der, len, sealed, &slen);
    }

    if (rc == TSR_OK) {

        /*
         * A TLS 1.3 ticket is written after this callback, a TLS 1.2
         * server's Finished before it: when the host holds them back
         * until the turn's commands are written, the SET goes with those;
         * else at once, ahead of the ticket, or as soon as can be after
         * the Finished.
         */

        if (b->hold != NULL && b->hold(ssl, b->hold_data)) {
            rc = tsr_store_set_later(b->store, name, namelen, sealed, slen,
                                     (uint64_t) ttl);

        } else {
            rc = tsr_store_set(b->store, name, namelen, sealed, slen,
                               (uint64_t) ttl);
        }

        if (rc != TSR_OK) {
            b->stats.store_errors++;
            tsr_ssl_log_error(b, TSR_LOG_ERR, "tsr_store_set()",
                              tsr_store_error(b->store));
        }

    } else {
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "tsr_seal()", tsr_strerror(rc));
    }

    OPENSSL_cleanse(der, size);
    OPENSSL_free(der);

    if (rc == TSR_OK) {
        b->stats.stored++;
        tsr_ssl_log(b, TSR_LOG_DEBUG, "session stored, id %u bytes #%08x, "
                    "%zu bytes, ttl %lld ms", idlen, tsr_ssl_hash(id, idlen),
                    slen, (long long) ttl);
    }
}


static SSL_SESSION *
tsr_ssl_get_session(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    tsr_ssl_t       *b;
    SSL_SESSION     *sess;
    tsr_ssl_slot_t  *slot;

    /* lookups run before SNI is processed */
    tsr_ssl_pin(ssl);

    b = tsr_ssl_conn_binding(ssl);
    if (b == NULL) {
        return NULL;
    }

    b->stats.lookups++;

    if (len <= 0 || len > TSR_MAX_SESSION_ID) {
        b->stats.misses++;
        return NULL;
    }

    slot = SSL_get_ex_data(ssl, tsr_ssl_slot_index);

    if (slot != NULL && slot->idlen == (size_t) len
        && memcmp(slot->id, id, (size_t) len) == 0)
    {
        if (slot->sess == NULL) {
            b->stats.misses++;
            return NULL;
        }

        /*
         * OpenSSL takes a reference of its own and the slot keeps its own:
         * after a HelloRetryRequest the same id is looked up again.
         */

        *copy = 1;

        sess = tsr_ssl_serve(b, ssl, slot->sess, copy);
        if (sess == NULL) {
            return NULL;
        }

        b->stats.hits++;

        tsr_ssl_log(b, TSR_LOG_DEBUG, "session from the connection slot, "
                    "id %d bytes #%08x", len, tsr_ssl_hash(id, len));

        return sess;
    }

    /*
     * The slot comes first: a host that prefetched the session from the
     * first level already put it there, and asking again costs a second
     * lookup and decode.
     */

    if (b->get_cb != NULL && !b->single_use) {
        sess = b->get_cb(ssl, id, len, copy);

        if (sess != NULL) {
            /* the chained callback has set "copy" as it hands the session */
            sess = tsr_ssl_serve(b, ssl, sess, copy);

            if (sess != NULL) {
                b->stats.l1_hits++;
            }

            return sess;
        }
    }

    sess = NULL;

    if (b->sync_lookup) {
        sess = tsr_ssl_fetch(b, ssl, id, (size_t) len);
    }

    if (sess == NULL) {
        b->stats.misses++;
        return NULL;
    }

    /* a fresh object: OpenSSL takes over our reference */

    *copy = 0;

    sess = tsr_ssl_serve(b, ssl, sess, copy);
    if (sess == NULL) {
        return NULL;
    }

    b->stats.hits++;

    return sess;
}


/*
 * Every session the get-session callback hands to OpenSSL passes here,
 * from the slot, the first level or the store alike: the host's own
 * checks ran only where its ClientHello parser agreed to look up, and
 * OpenSSL asks for more (a ClientHello over the host's limit, a second
 * PSK identity, one the parser declines).  Returns the session with
 * "*copy" as OpenSSL must take it, or NULL, the reference handed in
 * dropped when "*copy" was 0.
 */

static SSL_SESSION *
tsr_ssl_serve(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess, int *copy)
{
    SSL_SESSION  *dup;

    if (!tsr_ssl_same_name(ssl, sess)) {
        if (!*copy) {
            SSL_SESSION_free(sess);
        }

        b->stats.misses++;

        tsr_ssl_log(b, TSR_LOG_DEBUG, "session made for another server "
                    "name, not resumed");

        return NULL;
    }

    if (SSL_SESSION_get_ex_data(sess, tsr_ssl_sess_index) == NULL) {
        return sess;
    }

    /*
     * The very object a connection reported new, kept by the first level:
     * with its mark, a failure of this handshake would delete it from the
     * store.  This connection gets a copy without the mark.
     */

    dup = SSL_SESSION_dup(sess);

    if (!*copy) {
        SSL_SESSION_free(sess);
    }

    if (dup == NULL) {
        ERR_clear_error();
        b->stats.misses++;
        return NULL;
    }

    (void) SSL_SESSION_set_ex_data(dup, tsr_ssl_sess_index, NULL);

    *copy = 0;

    return dup;
}


/*
 * Stricter than OpenSSL and nginx: a session resumes only under the
 * server name it was made for (RFC 6066, section 3), compared without
 * regard to ASCII case; no name matches only no name.  OpenSSL parses
 * the server_name extension after the lookup, yet the ClientHello is at
 * hand during it; without one to read the answer is no.
 */

static int
tsr_ssl_same_name(SSL *ssl, const SSL_SESSION *sess)
{
    size_t                len, n, i;
    const char           *name;
    unsigned char         c, d;
    const unsigned char  *p;

    if (SSL_client_hello_get0_random(ssl, &p) == 0) {
        return 0;
    }

    name = SSL_SESSION_get0_hostname(sess);
    n = (name != NULL) ? strlen(name) : 0;

    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len))
    {
        return n == 0;
    }

    /* a list of one host_name, the only form OpenSSL accepts */

    if (len < 5
        || (((size_t) p[0] << 8) | p[1]) != len - 2
        || p[2] != TLSEXT_NAMETYPE_host_name
        || (((size_t) p[3] << 8) | p[4]) != len - 5
        || len - 5 != n)
    {
        return 0;
    }

    p += 5;

    for (i = 0; i < n; i++) {
        c = p[i];
        d = (unsigned char) name[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (d >= 'A' && d <= 'Z') {
            d |= 0x20;
        }

        if (c != d) {
            return 0;
        }
    }

    return 1;
}


static SSL_SESSION *
tsr_ssl_fetch(tsr_ssl_t *b, SSL *ssl, const unsigned char *id, size_t len)
{
    int                   rc, n;
    size_t                vlen, namelen;
    uint8_t              *val;
    unsigned int          slen;
    SSL_SESSION          *sess;
    const unsigned char  *sid;
    char                  name[TSR_MAX_KEY_NAME];

    n = tsr_ssl_session_key(b, id, len, name, sizeof(name));
    if (n < 0) {
        return NULL;
    }

    namelen = (size_t) n;

    val = OPENSSL_malloc(TSR_MAX_VALUE);
    if (val == NULL) {
        return NULL;
    }

    sess = NULL;
    vlen = TSR_MAX_VALUE;

    /* single use: taken atomically, so one node alone resumes it */

    if (b->single_use) {
        rc = tsr_store_getdel(b->store, name, namelen, val, &vlen);

    } else {
        rc = tsr_store_get(b->store, name, namelen, val, &vlen);
    }

    if (rc == TSR_OK) {
        sess = tsr_ssl_session_open(b, name, namelen, val, vlen, &rc);

        if (sess == NULL) {
            tsr_ssl_log_error(b, TSR_LOG_WARN, "tsr_ssl_session_open()",
                              rc == TSR_EPROTO ? "session does not decode"
                                               : tsr_strerror(rc));
        }

    } else if (rc == TSR_NOT_FOUND) {
        tsr_ssl_log(b, TSR_LOG_DEBUG, "session not in the store, "
                    "id %zu bytes #%08x", len, tsr_ssl_hash(id, len));

    } else {
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "tsr_store_get()",
                          tsr_store_error(b->store));
    }

    OPENSSL_cleanse(val, TSR_MAX_VALUE);
    OPENSSL_free(val);

    if (sess == NULL) {
        return NULL;
    }

    /* sealed under this very name, yet never trust what came back */

    sid = SSL_SESSION_get_id(sess, &slen);

    if (slen != len || memcmp(sid, id, len) != 0) {
        b->stats.open_failures++;
        SSL_SESSION_free(sess);
        tsr_ssl_log_error(b, TSR_LOG_WARN, "tsr_ssl_session_open()",
                          "session id differs from the key");
        return NULL;
    }

    tsr_ssl_cache_session(b, ssl, sess);

    tsr_ssl_log(b, TSR_LOG_DEBUG, "session found in the store, "
                "id %zu bytes #%08x", len, tsr_ssl_hash(id, len));

    return sess;
}


static void
tsr_ssl_remove_session(SSL_CTX *ctx, SSL_SESSION *sess)
{
    int         rc;
    tsr_ssl_t  *b;
    char        name[TSR_MAX_KEY_NAME];

    /*
     * OpenSSL calls this on its "session_ctx", for sessions it no longer
     * trusts: a failed client verification in nginx, a connection freed
     * without a clean shutdown, an expired session found by a lookup, a
     * flush of the internal cache, and any fatal alert, sent or received,
     * while a connection holds a session.
     *
     * The last one would let anyone delete anyone's session fleet-wide:
     * a ClientHello with a victim's TLS 1.2 session id (sent in clear)
     * and a cipher list without its cipher, or a Finished that does not
     * verify, ends in an alert while the looked-up session is the
     * connection's; so does a ticket of one's own with a victim's id as
     * the ClientHello's session id, which OpenSSL gives the decrypted
     * session.  RFC 5246, section 7.2.2, asks to forget the session of
     * a failed connection: the one that connection's own handshake made,
     * not one another client merely offered, which proves nothing before
     * its Finished.
     *
     * So the store loses only a session reported new on this very
     * connection (marked by the new-session callback once its handshake
     * completed): its id was chosen by this server for that client.
     * Anything else, a session found by a lookup or decrypted from a
     * ticket, leaves the store alone and only goes from the chained
     * cache, as in stock nginx, on this host only; a lookup warms that
     * cache again from the store.  Expired sessions need no delete:
     * their keys expire with them.
     */

    b = SSL_CTX_get_ex_data(ctx, tsr_ssl_ctx_index);
    if (b == NULL) {
        return;
    }

    if (b->remove_cb != NULL) {
        b->remove_cb(ctx, sess);
    }

    if (b->no_store
        || SSL_SESSION_get_ex_data(sess, tsr_ssl_sess_index) != &tsr_ssl_own)
    {
        return;
    }

    rc = tsr_ssl_session_name(b, sess, name, sizeof(name));
    if (rc < 0) {
        return;
    }

    rc = tsr_store_del(b->store, name, (size_t) rc);

    if (rc != TSR_OK) {
        b->stats.store_errors++;
        tsr_ssl_log_error(b, TSR_LOG_ERR, "tsr_store_del()",
                          tsr_store_error(b->store));
        return;
    }

    b->stats.removed++;
}


/*
 * Sessions from tickets (stateless, TLS 1.2 and 1.3: the fleet's keys or
 * the host's own) never pass the get-session callback: this is where the
 * server-name rule holds for them.  OpenSSL calls it while it decrypts,
 * with the ClientHello at hand.  A refused ticket is one that does not
 * decrypt: a full handshake, and a new ticket, as without this callback.
 */

static SSL_TICKET_RETURN
tsr_ssl_ticket(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname,
    size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
    tsr_ssl_t  *b;

    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW)
    {
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    if (sess == NULL || !tsr_ssl_same_name(ssl, sess)) {
        b = tsr_ssl_conn_binding(ssl);

        if (b != NULL) {
            tsr_ssl_log(b, TSR_LOG_DEBUG, "ticket made for another server "
                        "name, not resumed");
        }

        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }

    return (status == SSL_TICKET_SUCCESS) ? SSL_TICKET_RETURN_USE
                                          : SSL_TICKET_RETURN_USE_RENEW;
}


static void
tsr_ssl_info(const SSL *ssl, int where, int ret)
{
    SSL_CTX    *ctx, *first;
    tsr_ssl_t  *b;

    if ((where & SSL_CB_HANDSHAKE_START) && SSL_is_server(ssl)) {
        tsr_ssl_pin((SSL *) ssl);
    }

    /*
     * OpenSSL picks the callback of the current context once per step, so
     * right after an SNI switch this may still run for the first context.
     */

    ctx = SSL_get_SSL_CTX(ssl);

    if (SSL_CTX_get_info_callback(ctx) != tsr_ssl_info) {
        first = SSL_get_ex_data(ssl, tsr_ssl_pin_index);

        if (first != NULL) {
            ctx = first;
        }
    }

    b = SSL_CTX_get_ex_data(ctx, tsr_ssl_ctx_index);

    if (b != NULL && b->info_cb != NULL) {
        b->info_cb(ssl, where, ret);
    }
}


static int
tsr_ssl_session_name(tsr_ssl_t *b, const SSL_SESSION *sess, char *out,
    size_t outlen)
{
    unsigned int          idlen;
    const unsigned char  *id;

    /*
     * Keyed by the context the callbacks run on (the connection's
     * session context), as lookups are, not by the session's own session
     * id context: a session made after the connection switched contexts
     * (a server that picks a context by name in its ClientHello callback)
     * carries the other context's.  OpenSSL still compares the session's
     * own with the connection's when it resumes.
     */

    id = SSL_SESSION_get_id(sess, &idlen);

    return tsr_ssl_session_key(b, id, idlen, out, outlen);
}


/* FNV-1a: a short tag to tell ids apart in logs, not to hide them */

static uint32_t
tsr_ssl_hash(const uint8_t *id, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= id[i];
        h *= 16777619u;
    }

    return h;
}


static void
tsr_ssl_log(tsr_ssl_t *b, int level, const char *fmt, ...)
{
    va_list  args;
    char     msg[TSR_SSL_MSG_LEN];

    if (b->log == NULL || (level >= TSR_LOG_DEBUG && !b->debug)) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    b->log(level, msg, b->log_data);
}


static void
tsr_ssl_log_error(tsr_ssl_t *b, int level, const char *call,
    const char *detail)
{
    time_t  now;

    /* at most once a second: a dead store fails every handshake */

    now = time(NULL);

    if (b->log == NULL || now == b->last_error) {
        return;
    }

    b->last_error = now;

    tsr_ssl_log(b, level, "%s failed: %s", call,
                detail != NULL ? detail : "unknown error");
}


static void
tsr_ssl_set_error(char *err, size_t errlen, const char *fmt, ...)
{
    int      queued;
    size_t   n;
    va_list  args;
    char     buf[TSR_SSL_MSG_LEN];

    queued = tsr_err_openssl(buf, sizeof(buf));

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(err, errlen, fmt, args);
    va_end(args);

    if (queued) {
        n = strlen(err);
        (void) snprintf(err + n, errlen - n, " (SSL: %s)", buf);
    }
}
