
/*
 * libFuzzer target for opening what Redis returns: tsr_open() on any
 * bytes, seal-then-open round trips with tampering, and
 * tsr_ssl_session_open() on sealed values whose plaintext is any bytes
 * (what a fleet member holding the key could have sealed: the DER decode
 * must hold too).  The first input byte picks the mode:
 *
 *   0  name length | name | envelope         tsr_open() under two keys
 *   1  name length | name | flip | plaintext seal, open, open under
 *                                            another name, open with one
 *                                            bit flipped
 *   2  plaintext                             seal for a session key,
 *                                            tsr_ssl_session_open()
 *
 * Any answer outside the documented ones, plaintext left behind by a
 * failed open, a round trip that does not return the bytes, or a
 * tampered value that opens aborts.  Seeds: tests/fuzz/corpus/open,
 * written by the replay build ("fuzz_open --seeds DIR").
 */


#include "tsr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"


#define FUZZ_MAX_NAME  96


const char  *fuzz_name = "open";

static tsr_keyring_t  *fuzz_ring;       /* key A seals, key B opens too */
static tsr_keyring_t  *fuzz_ring_b;     /* key B alone */
static tsr_keyring_t  *fuzz_ring_c;     /* a key of another fleet */
static tsr_store_t    *fuzz_store;
static SSL_CTX        *fuzz_ctx;
static tsr_ssl_t      *fuzz_binding;

static const uint8_t   fuzz_key_a[32] = "fuzz key A: 32 bytes of secret!";
static const uint8_t   fuzz_key_b[32] = "fuzz key B: 32 bytes of secret!";
static const uint8_t   fuzz_key_c[32] = "fuzz key C: another fleet's key";
static const uint8_t   fuzz_sid_ctx[] = "fuzz sid_ctx";
static const uint8_t   fuzz_id[32] = "0123456789abcdef0123456789abcdef";


static void fuzz_cleanup(void);
static void fuzz_mode_open(const uint8_t *data, size_t size);
static void fuzz_mode_roundtrip(const uint8_t *data, size_t size);
static void fuzz_mode_session(const uint8_t *data, size_t size);
static void fuzz_check_open(const tsr_keyring_t *kr, const char *name,
    size_t namelen, const uint8_t *in, size_t inlen);
static int fuzz_all_zero(const uint8_t *p, size_t len);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char              err[256];
    tsr_ssl_conf_t    bconf;
    tsr_store_conf_t  sconf;

    (void) argc;
    (void) argv;

    fuzz_ring = tsr_keyring_create(err, sizeof(err));
    fuzz_ring_b = tsr_keyring_create(err, sizeof(err));
    fuzz_ring_c = tsr_keyring_create(err, sizeof(err));

    if (fuzz_ring == NULL || fuzz_ring_b == NULL || fuzz_ring_c == NULL
        || tsr_keyring_add_key(fuzz_ring, fuzz_key_a, sizeof(fuzz_key_a),
                               err, sizeof(err))
           != TSR_OK
        || tsr_keyring_add_key(fuzz_ring, fuzz_key_b, sizeof(fuzz_key_b),
                               err, sizeof(err))
           != TSR_OK
        || tsr_keyring_add_key(fuzz_ring_b, fuzz_key_b, sizeof(fuzz_key_b),
                               err, sizeof(err))
           != TSR_OK
        || tsr_keyring_add_key(fuzz_ring_c, fuzz_key_c, sizeof(fuzz_key_c),
                               err, sizeof(err))
           != TSR_OK)
    {
        return -1;
    }

    /* a store that is never used: the binding only needs one */

    memset(&sconf, 0, sizeof(tsr_store_conf_t));
    sconf.unix_path = "/nonexistent/fuzz.sock";
    sconf.never_block = 1;

    fuzz_store = tsr_store_create(&sconf, err, sizeof(err));
    fuzz_ctx = SSL_CTX_new(TLS_server_method());

    if (fuzz_store == NULL || fuzz_ctx == NULL) {
        return -1;
    }

    memset(&bconf, 0, sizeof(tsr_ssl_conf_t));
    bconf.store = fuzz_store;
    bconf.keys = fuzz_ring;
    bconf.sid_ctx = fuzz_sid_ctx;
    bconf.sid_ctx_len = sizeof(fuzz_sid_ctx) - 1;
    bconf.no_store = 1;

    fuzz_binding = tsr_ssl_ctx_attach(fuzz_ctx, &bconf, err, sizeof(err));

    (void) atexit(fuzz_cleanup);

    return fuzz_binding != NULL ? 0 : -1;
}


/* everything freed at exit, so that a leak checker sees real leaks only */

static void
fuzz_cleanup(void)
{
    SSL_CTX_free(fuzz_ctx);
    tsr_store_destroy(fuzz_store);
    tsr_keyring_destroy(fuzz_ring);
    tsr_keyring_destroy(fuzz_ring_b);
    tsr_keyring_destroy(fuzz_ring_c);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        fuzz_mode_open(data + 1, size - 1);
        break;

    case 1:
        fuzz_mode_roundtrip(data + 1, size - 1);
        break;

    default:
        fuzz_mode_session(data + 1, size - 1);
        break;
    }

    return 0;
}


static void
fuzz_mode_open(const uint8_t *data, size_t size)
{
    size_t  namelen;

    if (size == 0) {
        return;
    }

    namelen = data[0];

    if (namelen > size - 1) {
        namelen = size - 1;
    }

    fuzz_check_open(fuzz_ring, (const char *) data + 1, namelen,
                    data + 1 + namelen, size - 1 - namelen);
    fuzz_check_open(fuzz_ring_c, (const char *) data + 1, namelen,
                    data + 1 + namelen, size - 1 - namelen);
}


/*
 * Opens "in" into buffers of every interesting size: exact, one short,
 * generous; checks the documented answers and that a failure leaves
 * nothing behind.
 */

static void
fuzz_check_open(const tsr_keyring_t *kr, const char *name, size_t namelen,
    const uint8_t *in, size_t inlen)
{
    int       rc, i;
    size_t    size, outlen, sizes[3];
    uint8_t  *out;

    size = (inlen > TSR_SEAL_OVERHEAD) ? inlen - TSR_SEAL_OVERHEAD : 0;

    sizes[0] = size;
    sizes[1] = size > 0 ? size - 1 : 0;
    sizes[2] = size + 64;

    for (i = 0; i < 3; i++) {
        out = malloc(sizes[i] > 0 ? sizes[i] : 1);
        if (out == NULL) {
            abort();
        }

        memset(out, 0xa5, sizes[i]);
        outlen = sizes[i];

        rc = tsr_open(kr, name, namelen, in, inlen, out, &outlen);

        switch (rc) {

        case TSR_OK:
            if (outlen != size || sizes[i] < size) {
                abort();
            }

            break;

        case TSR_SEAL_TRUNCATED:
        case TSR_SEAL_VERSION:
        case TSR_SEAL_UNKNOWN_KEY:
        case TSR_SEAL_MOVED:
        case TSR_SEAL_TAMPERED:
        case TSR_ETOOBIG:
        case TSR_EINVAL:
            /* nothing of a plaintext may stay */
            if (outlen != 0 || !fuzz_all_zero(out, sizes[i])) {
                abort();
            }

            break;

        default:
            abort();
        }

        free(out);
    }
}


static void
fuzz_mode_roundtrip(const uint8_t *data, size_t size)
{
    int       rc;
    size_t    namelen, plen, slen, olen, flip;
    uint8_t  *sealed, *opened;
    char      name[FUZZ_MAX_NAME + 2];

    if (size < 2) {
        return;
    }

    namelen = data[0] % (FUZZ_MAX_NAME + 1);

    if (namelen > size - 2) {
        namelen = size - 2;
    }

    memcpy(name, data + 1, namelen);
    flip = data[1 + namelen];

    plen = size - 2 - namelen;

    if (plen > TSR_MAX_SESSION) {
        plen = TSR_MAX_SESSION;
    }

    slen = plen + TSR_SEAL_OVERHEAD;

    sealed = malloc(slen);
    opened = malloc(plen > 0 ? plen : 1);

    if (sealed == NULL || opened == NULL) {
        abort();
    }

    rc = tsr_seal(fuzz_ring, name, namelen, data + 2 + namelen, plen, sealed,
                  &slen);

    if (rc != TSR_OK || slen != plen + TSR_SEAL_OVERHEAD) {
        abort();
    }

    /* back, by the sealing key and by a ring holding it second */

    olen = plen;
    rc = tsr_open(fuzz_ring, name, namelen, sealed, slen, opened, &olen);

    if (rc != TSR_OK || olen != plen
        || (plen > 0 && memcmp(opened, data + 2 + namelen, plen) != 0))
    {
        abort();
    }

    /* another fleet's key, another key name */

    olen = plen;
    if (tsr_open(fuzz_ring_c, name, namelen, sealed, slen, opened, &olen)
        == TSR_OK)
    {
        abort();
    }

    name[namelen] = 'x';

    olen = plen;
    if (tsr_open(fuzz_ring, name, namelen + 1, sealed, slen, opened, &olen)
        == TSR_OK)
    {
        abort();
    }

    /* any single bit flipped anywhere */

    sealed[(flip * 7) % slen] ^= (uint8_t) (1u << (flip % 8));

    olen = plen;
    if (tsr_open(fuzz_ring, name, namelen, sealed, slen, opened, &olen)
        == TSR_OK)
    {
        abort();
    }

    fuzz_check_open(fuzz_ring, name, namelen, sealed, slen);

    free(sealed);
    free(opened);
}


static void
fuzz_mode_session(const uint8_t *data, size_t size)
{
    int            rc, keylen, n;
    size_t         slen;
    uint8_t       *sealed;
    unsigned int   idlen;
    SSL_SESSION   *sess;
    char           key[TSR_MAX_KEY_NAME];

    if (size > TSR_MAX_SESSION) {
        size = TSR_MAX_SESSION;
    }

    keylen = tsr_ssl_session_key(fuzz_binding, fuzz_id, sizeof(fuzz_id), key,
                                 sizeof(key));
    if (keylen <= 0) {
        abort();
    }

    slen = size + TSR_SEAL_OVERHEAD;

    sealed = malloc(slen);
    if (sealed == NULL) {
        abort();
    }

    if (tsr_seal(fuzz_ring, key, keylen, data, size, sealed, &slen)
        != TSR_OK)
    {
        abort();
    }

    rc = 0;
    sess = tsr_ssl_session_open(fuzz_binding, key, keylen, sealed, slen, &rc);

    if (sess == NULL) {
        if (rc != TSR_EPROTO && rc != TSR_SEAL_TRUNCATED) {
            abort();
        }

    } else {
        if (rc != TSR_OK) {
            abort();
        }

        (void) SSL_SESSION_get_id(sess, &idlen);

        if (idlen == 0 || idlen > TSR_MAX_SESSION_ID) {
            abort();
        }

        /* what came out encodes again */

        n = i2d_SSL_SESSION(sess, NULL);
        if (n <= 0) {
            abort();
        }

        SSL_SESSION_free(sess);
    }

    /* the same value under another key name never opens */

    key[keylen - 1] ^= 1;

    sess = tsr_ssl_session_open(fuzz_binding, key, keylen, sealed, slen, &rc);
    if (sess != NULL) {
        abort();
    }

    free(sealed);
}


static int
fuzz_all_zero(const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }

    return 1;
}


#ifdef TSR_FUZZ_REPLAY

static int fuzz_add(const char *dir, int *n, const char *name,
    const uint8_t *data, size_t len);
static int fuzz_sealed_seed(const char *dir, int *n, const char *file,
    tsr_keyring_t *kr, const char *name, const uint8_t *plain,
    size_t plen);
static int fuzz_session_der(int version, const char *host, uint8_t *out,
    size_t size);


int
fuzz_write_seeds(const char *dir)
{
    int      n, len;
    uint8_t  der[4096];
    char     key[TSR_MAX_KEY_NAME];
    uint8_t  plain[] = "a session's worth of bytes";

    static const uint8_t  rt[] =
        "\x01\x0etsr:s:00112233\x05plaintext";

    n = 0;

    len = tsr_ssl_session_key(fuzz_binding, fuzz_id, sizeof(fuzz_id), key,
                              sizeof(key));
    if (len <= 0) {
        return -1;
    }

    /* mode 0: envelopes that open, by either key, and ones that do not */

    if (fuzz_sealed_seed(dir, &n, "open_key_a", fuzz_ring, key, plain,
                         sizeof(plain) - 1) != 0
        || fuzz_sealed_seed(dir, &n, "open_key_b", fuzz_ring_b, key, plain,
                            sizeof(plain) - 1) != 0
        || fuzz_sealed_seed(dir, &n, "open_other_fleet", fuzz_ring_c, key,
                            plain, sizeof(plain) - 1) != 0
        || fuzz_sealed_seed(dir, &n, "open_empty", fuzz_ring, "", plain, 0)
           != 0
        || fuzz_add(dir, &n, "roundtrip", rt, sizeof(rt) - 1) != 0)
    {
        return -1;
    }

    /* mode 2: sessions as OpenSSL encodes them */

    der[0] = 2;

    len = fuzz_session_der(TLS1_2_VERSION, NULL, der + 1, sizeof(der) - 1);
    if (len <= 0 || fuzz_add(dir, &n, "session_tls12", der, len + 1) != 0) {
        return -1;
    }

    len = fuzz_session_der(TLS1_3_VERSION, "one.test", der + 1,
                           sizeof(der) - 1);
    if (len <= 0
        || fuzz_add(dir, &n, "session_tls13_sni", der, len + 1) != 0)
    {
        return -1;
    }

    return n;
}


static int
fuzz_add(const char *dir, int *n, const char *name, const uint8_t *data,
    size_t len)
{
    if (fuzz_seed(dir, name, data, len) != 0) {
        return -1;
    }

    (*n)++;

    return 0;
}


/* mode 0: 0 | name length | name | envelope */

static int
fuzz_sealed_seed(const char *dir, int *n, const char *file, tsr_keyring_t *kr,
    const char *name, const uint8_t *plain, size_t plen)
{
    size_t   namelen, slen;
    uint8_t  buf[1024];

    namelen = strlen(name);

    buf[0] = 0;
    buf[1] = (uint8_t) namelen;
    memcpy(buf + 2, name, namelen);

    slen = sizeof(buf) - 2 - namelen;

    if (tsr_seal(kr, name, namelen, plain, plen, buf + 2 + namelen, &slen)
        != TSR_OK)
    {
        return -1;
    }

    return fuzz_add(dir, n, file, buf, 2 + namelen + slen);
}


/* a session as a server would make it, DER-encoded */

static int
fuzz_session_der(int version, const char *host, uint8_t *out, size_t size)
{
    int                n;
    SSL               *ssl;
    SSL_CTX           *ctx;
    SSL_SESSION       *sess;
    unsigned char     *p;
    const SSL_CIPHER  *cipher;
    uint8_t            master[48];

    static const unsigned char  tls12[] = { 0xc0, 0x2f };
    static const unsigned char  tls13[] = { 0x13, 0x01 };

    memset(master, 0x42, sizeof(master));

    ctx = SSL_CTX_new(TLS_method());
    ssl = (ctx != NULL) ? SSL_new(ctx) : NULL;
    sess = SSL_SESSION_new();

    n = -1;

    if (ssl == NULL || sess == NULL) {
        goto done;
    }

    cipher = SSL_CIPHER_find(ssl, version == TLS1_3_VERSION ? tls13 : tls12);

    if (cipher == NULL
        || SSL_SESSION_set1_id(sess, fuzz_id, sizeof(fuzz_id)) != 1
        || SSL_SESSION_set1_id_context(sess, fuzz_sid_ctx,
                                       sizeof(fuzz_sid_ctx) - 1) != 1
        || SSL_SESSION_set1_master_key(sess, master,
                                       version == TLS1_3_VERSION ? 32 : 48)
           != 1
        || SSL_SESSION_set_protocol_version(sess, version) != 1
        || SSL_SESSION_set_cipher(sess, cipher) != 1
        || SSL_SESSION_set_timeout(sess, 600) != 1
        || (host != NULL && SSL_SESSION_set1_hostname(sess, host) != 1))
    {
        goto done;
    }

    n = i2d_SSL_SESSION(sess, NULL);

    if (n <= 0 || (size_t) n > size) {
        n = -1;
        goto done;
    }

    p = out;
    n = i2d_SSL_SESSION(sess, &p);

done:

    SSL_SESSION_free(sess);
    SSL_free(ssl);
    SSL_CTX_free(ctx);

    return n;
}

#endif
