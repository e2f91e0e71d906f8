
/*
 * Sealing: AES-256-GCM envelopes under keys shared by a fleet, the Redis
 * key names they are bound to, and the error strings of the core.
 */


#include "tsr_seal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tsr_util.h"


/*
 * HKDF-SHA256 parameters.  Every server of a fleet must derive the same
 * keys and ids from the same key file, so these strings are part of the
 * envelope format: changing one means a new envelope version.
 */
#define TSR_SEAL_HKDF_SALT     "tsr-seal-v1"
#define TSR_SEAL_HKDF_KEY      "tsr-seal-v1 aes-256-gcm key"
#define TSR_SEAL_HKDF_ID       "tsr-seal-v1 key id"

/* hex digits of SHA-256(sid_ctx) in a session key name */
#define TSR_SID_CTX_HEX_LEN    16

#define TSR_WHAT_LEN           (PATH_MAX + 24)


typedef struct {
    uint8_t          id[TSR_SEAL_KEY_ID_LEN];
    uint8_t          key[TSR_SEAL_KEY_LEN];
    EVP_CIPHER_CTX  *tmpl;          /* keyed once; copied per value */
} tsr_seal_key_t;


struct tsr_keyring_s {
    EVP_CIPHER      *cipher;
    EVP_MD          *sha256;
    size_t           nkeys;
    tsr_seal_key_t   keys[TSR_SEAL_MAX_KEYS];
};


static void tsr_seal_ssl_error(char *err, size_t errlen, const char *what,
    const char *call);
static int tsr_keyring_check_file(const uint8_t *buf, size_t len,
    long long size, const char *what, const char *path, char *err,
    size_t errlen);
static int tsr_keyring_push(tsr_keyring_t *kr, const char *what,
    const uint8_t *ikm, size_t len, char *err, size_t errlen);
static int tsr_seal_hkdf(EVP_KDF *kdf, const uint8_t *ikm, size_t len,
    const char *info, uint8_t *out, size_t outlen);
static int tsr_seal_gcm(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher,
    int enc, const uint8_t *key, const uint8_t *header, const char *name,
    size_t namelen, const uint8_t *in, size_t inlen, uint8_t *out,
    uint8_t *tag);
static void tsr_seal_name_check(const tsr_keyring_t *kr, const char *name,
    size_t namelen, uint8_t *check);
static void tsr_seal_hex(const uint8_t *p, size_t len, char *out);


const char *
tsr_strerror(int rc)
{
    switch (rc) {

    case TSR_OK:
        return "ok";

    case TSR_NOT_FOUND:
        return "not found";

    case TSR_AGAIN:
        return "incomplete input";

    case TSR_ERROR:
        return "error";

    case TSR_ENOMEM:
        return "out of memory";

    case TSR_EINVAL:
        return "invalid argument";

    case TSR_ECONN:
        return "connection failed";

    case TSR_ETIMEDOUT:
        return "timed out";

    case TSR_EPROTO:
        return "unexpected reply";

    case TSR_ETOOBIG:
        return "value too big";

    case TSR_ESERVER:
        return "server error";

    case TSR_EKEYFILE:
        return "bad key file";

    case TSR_SEAL_TRUNCATED:
        return "truncated value";

    case TSR_SEAL_VERSION:
        return "unknown envelope version";

    case TSR_SEAL_UNKNOWN_KEY:
        return "sealed under an unknown key";

    case TSR_SEAL_MOVED:
        return "value moved from another key";

    case TSR_SEAL_TAMPERED:
        return "tampered value";

    default:
        return "unknown error";
    }
}


tsr_keyring_t *
tsr_keyring_create(char *err, size_t errlen)
{
    tsr_keyring_t  *kr;

    kr = OPENSSL_zalloc(sizeof(tsr_keyring_t));
    if (kr == NULL) {
        tsr_errf(err, errlen, "key ring: out of memory");
        ERR_clear_error();
        return NULL;
    }

    /* fetched once: the cipher is used on every handshake */

    kr->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (kr->cipher == NULL) {
        tsr_seal_ssl_error(err, errlen, "key ring",
                           "EVP_CIPHER_fetch(\"AES-256-GCM\")");
        goto failed;
    }

    kr->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (kr->sha256 == NULL) {
        tsr_seal_ssl_error(err, errlen, "key ring",
                           "EVP_MD_fetch(\"SHA256\")");
        goto failed;
    }

    return kr;

failed:

    tsr_keyring_destroy(kr);
    return NULL;
}


int
tsr_keyring_add_file(tsr_keyring_t *kr, const char *path, char *err,
    size_t errlen)
{
    int          fd, rc, e;
    char         what[TSR_WHAT_LEN];
    size_t       len;
    ssize_t      n;
    struct stat  sb;
    uint8_t      buf[TSR_MAX_KEY_FILE + 1];

    if (kr == NULL || path == NULL) {
        tsr_errf(err, errlen, "key file: invalid argument");
        return TSR_EINVAL;
    }

    (void) snprintf(what, sizeof(what), "fleet key file \"%s\"", path);

    len = 0;
    rc = TSR_EKEYFILE;

    /* O_NONBLOCK: a FIFO must not hang the caller before it is rejected */

    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        e = errno;
        tsr_errf(err, errlen, "%s: open() failed: %s", what,
                 strerror(e));
        goto failed;
    }

    if (fstat(fd, &sb) == -1) {
        e = errno;
        tsr_errf(err, errlen, "%s: fstat() failed: %s", what,
                 strerror(e));
        goto failed;
    }

    if (!S_ISREG(sb.st_mode)) {
        tsr_errf(err, errlen, "%s is not a regular file", what);
        goto failed;
    }

    /*
     * The size may change between fstat() and read(): what was read is
     * checked, up to one byte more than a key for a file of the right
     * size, and enough of a bigger one to tell what it holds.
     */

    while (len < sizeof(buf)) {
        n = read(fd, buf + len, sizeof(buf) - len);

        if (n == -1) {
            e = errno;

            if (e == EINTR) {
                continue;
            }

            tsr_errf(err, errlen, "%s: read() failed: %s", what,
                     strerror(e));
            goto failed;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    (void) close(fd);
    fd = -1;

    if (tsr_keyring_check_file(buf, len, (long long) sb.st_size, what, path,
                               err, errlen)
        != TSR_OK)
    {
        goto failed;
    }

    rc = tsr_keyring_push(kr, what, buf, len, err, errlen);

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    OPENSSL_cleanse(buf, sizeof(buf));

    return rc;
}


/*
 * The documented format, and the one place that checks it for nginx and
 * tsr-admin alike: TSR_MIN_KEY_FILE to TSR_MAX_KEY_FILE raw bytes, as
 * "openssl rand 32 > file" writes them (32 to 4096: keys of earlier
 * releases keep working).  Text is not key material, whatever its length:
 * the message names the usual mistakes (a PEM file, hex or base64 from
 * "openssl rand -hex" or "-base64"), so that the operator knows what to
 * write instead.  Random bytes are all printable once in 10^14 files.
 */

static int
tsr_keyring_check_file(const uint8_t *buf, size_t len, long long size,
    const char *what, const char *path, char *err, size_t errlen)
{
    size_t       i, n;
    int          hex, b64;
    const char  *kind;

    /* a file that grew or shrank since fstat(): what was read counts */

    if (len <= TSR_MAX_KEY_FILE) {
        size = (long long) len;
    }

    kind = NULL;

    if (len >= 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
        kind = "PEM text (a certificate or a key, not key material)";

    } else {
        for (i = 0; i < len; i++) {
            if ((buf[i] < 0x20 || buf[i] > 0x7e)
                && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t')
            {
                break;
            }
        }

        if (i == len && len > 0) {
            n = len;

            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                             || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
            {
                n--;
            }

            hex = (n > 0);
            b64 = (n > 0);

            for (i = 0; i < n; i++) {
                if (!isxdigit(buf[i])) {
                    hex = 0;
                }

                if (!isalnum(buf[i]) && buf[i] != '+' && buf[i] != '/'
                    && buf[i] != '=' && buf[i] != '\n')
                {
                    b64 = 0;
                }
            }

            kind = hex ? "text (hex?)" : b64 ? "text (base64?)" : "text";
        }
    }

    if (kind == NULL && size >= TSR_MIN_KEY_FILE
        && size <= TSR_MAX_KEY_FILE)
    {
        return TSR_OK;
    }

    if (kind != NULL) {
        tsr_errf(err, errlen, "%s holds %lld bytes of %s; expected %d to %d "
                 "raw bytes, as \"openssl rand %d > %s\" makes", what, size,
                 kind, TSR_MIN_KEY_FILE, TSR_MAX_KEY_FILE, TSR_KEY_FILE_LEN,
                 path);

    } else {
        tsr_errf(err, errlen, "%s holds %lld bytes; expected %d to %d raw "
                 "bytes, as \"openssl rand %d > %s\" makes", what, size,
                 TSR_MIN_KEY_FILE, TSR_MAX_KEY_FILE, TSR_KEY_FILE_LEN, path);
    }

    return TSR_EKEYFILE;
}


int
tsr_keyring_add_key(tsr_keyring_t *kr, const uint8_t *ikm, size_t len,
    char *err, size_t errlen)
{
    if (kr == NULL || (ikm == NULL && len != 0)) {
        tsr_errf(err, errlen, "key: invalid argument");
        return TSR_EINVAL;
    }

    return tsr_keyring_push(kr, "key", ikm, len, err, errlen);
}


static int
tsr_keyring_push(tsr_keyring_t *kr, const char *what, const uint8_t *ikm,
    size_t len, char *err, size_t errlen)
{
    int              rc;
    EVP_KDF         *kdf;
    tsr_seal_key_t   k;

    if (len < TSR_MIN_KEY_FILE) {
        tsr_errf(err, errlen, "%s is %zu bytes, at least %d are "
                 "required", what, len, TSR_MIN_KEY_FILE);
        return TSR_EKEYFILE;
    }

    if (len > TSR_MAX_KEY_FILE) {
        tsr_errf(err, errlen, "%s is %zu bytes, at most %d are "
                 "allowed", what, len, TSR_MAX_KEY_FILE);
        return TSR_EKEYFILE;
    }

    if (kr->nkeys == TSR_SEAL_MAX_KEYS) {
        tsr_errf(err, errlen, "%s not added: a key ring holds at "
                 "most %d keys", what, TSR_SEAL_MAX_KEYS);
        return TSR_EINVAL;
    }

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) {
        tsr_seal_ssl_error(err, errlen, what, "EVP_KDF_fetch(\"HKDF\")");
        return TSR_ERROR;
    }

    rc = TSR_ERROR;

    /*
     * Two expansions with distinct info strings: the id is public, and
     * HKDF makes it independent of the cipher key.
     */

    if (tsr_seal_hkdf(kdf, ikm, len, TSR_SEAL_HKDF_KEY, k.key,
                      sizeof(k.key))
        != 0)
    {
        tsr_seal_ssl_error(err, errlen, what, "EVP_KDF_derive()");
        goto failed;
    }

    if (tsr_seal_hkdf(kdf, ikm, len, TSR_SEAL_HKDF_ID, k.id, sizeof(k.id))
        != 0)
    {
        tsr_seal_ssl_error(err, errlen, what, "EVP_KDF_derive()");
        goto failed;
    }

    k.tmpl = EVP_CIPHER_CTX_new();
    if (k.tmpl == NULL
        || EVP_CipherInit_ex2(k.tmpl, kr->cipher, k.key, NULL, 1, NULL) != 1)
    {
        EVP_CIPHER_CTX_free(k.tmpl);
        tsr_seal_ssl_error(err, errlen, what, "EVP_CipherInit_ex2()");
        goto failed;
    }

    kr->keys[kr->nkeys++] = k;

    rc = TSR_OK;

failed:

    OPENSSL_cleanse(&k, sizeof(k));
    EVP_KDF_free(kdf);

    return rc;
}


static int
tsr_seal_hkdf(EVP_KDF *kdf, const uint8_t *ikm, size_t len, const char *info,
    uint8_t *out, size_t outlen)
{
    int           rc;
    EVP_KDF_CTX  *kctx;
    OSSL_PARAM    params[5], *p;

    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL) {
        return -1;
    }

    p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                            (char *) "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                             (void *) ikm, len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                             (void *) TSR_SEAL_HKDF_SALT,
                                             sizeof(TSR_SEAL_HKDF_SALT) - 1);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                             (void *) info, strlen(info));
    *p = OSSL_PARAM_construct_end();

    rc = (EVP_KDF_derive(kctx, out, outlen, params) == 1) ? 0 : -1;

    /* freeing the context wipes its copy of the key material */

    EVP_KDF_CTX_free(kctx);

    return rc;
}


size_t
tsr_keyring_count(const tsr_keyring_t *kr)
{
    return (kr != NULL) ? kr->nkeys : 0;
}


int
tsr_keyring_id(const tsr_keyring_t *kr, size_t n, char out[9])
{
    if (kr == NULL || out == NULL || n >= kr->nkeys) {
        return TSR_EINVAL;
    }

    tsr_seal_hex(kr->keys[n].id, TSR_SEAL_KEY_ID_LEN, out);
    out[2 * TSR_SEAL_KEY_ID_LEN] = '\0';

    return TSR_OK;
}


void
tsr_keyring_destroy(tsr_keyring_t *kr)
{
    size_t  i;

    if (kr == NULL) {
        return;
    }

    /* the keyed contexts hold the keys: freeing them wipes them */
    for (i = 0; i < kr->nkeys; i++) {
        EVP_CIPHER_CTX_free(kr->keys[i].tmpl);
    }

    EVP_MD_free(kr->sha256);
    EVP_CIPHER_free(kr->cipher);
    OPENSSL_clear_free(kr, sizeof(tsr_keyring_t));
}


int
tsr_seal(const tsr_keyring_t *kr, const char *name, size_t namelen,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    int              rc;
    size_t           size;
    EVP_CIPHER_CTX  *ctx;

    if (kr == NULL || kr->nkeys == 0 || (name == NULL && namelen != 0)
        || namelen > TSR_MAX_KEY_NAME || (in == NULL && inlen != 0)
        || out == NULL || outlen == NULL)
    {
        return TSR_EINVAL;
    }

    if (inlen > TSR_MAX_SESSION) {
        *outlen = 0;
        return TSR_ETOOBIG;
    }

    size = inlen + TSR_SEAL_OVERHEAD;

    if (*outlen < size) {
        *outlen = 0;
        return TSR_EINVAL;
    }

    rc = TSR_ERROR;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_CIPHER_CTX_copy(ctx, kr->keys[0].tmpl) != 1) {
        goto failed;
    }

    out[0] = TSR_SEAL_V1;
    memcpy(out + TSR_SEAL_OFF_KEY_ID, kr->keys[0].id, TSR_SEAL_KEY_ID_LEN);
    tsr_seal_name_check(kr, name, namelen, out + TSR_SEAL_OFF_CHECK);

    /*
     * Random 96-bit nonces: fine for far more sessions than one key should
     * ever seal (the GCM bound is 2^32 messages per key); keys are rotated
     * long before that.
     */

    if (RAND_bytes(out + TSR_SEAL_OFF_NONCE, TSR_SEAL_NONCE_LEN) != 1) {
        goto failed;
    }

    if (tsr_seal_gcm(ctx, NULL, 1, NULL, out, name, namelen, in, inlen,
                     out + TSR_SEAL_OFF_DATA,
                     out + TSR_SEAL_OFF_DATA + inlen)
        != 0)
    {
        goto failed;
    }

    EVP_CIPHER_CTX_free(ctx);

    *outlen = size;

    return TSR_OK;

failed:

    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);

    OPENSSL_cleanse(out, size);
    *outlen = 0;

    return rc;
}


int
tsr_open(const tsr_keyring_t *kr, const char *name, size_t namelen,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    int              rc;
    size_t           i, size;
    uint8_t          check[TSR_SEAL_CHECK_LEN], tag[TSR_SEAL_TAG_LEN];
    EVP_CIPHER_CTX  *ctx;

    if (kr == NULL || kr->nkeys == 0 || (name == NULL && namelen != 0)
        || namelen > TSR_MAX_KEY_NAME || (in == NULL && inlen != 0)
        || out == NULL || outlen == NULL)
    {
        return TSR_EINVAL;
    }

    ctx = NULL;

    if (inlen > TSR_MAX_VALUE) {
        rc = TSR_ETOOBIG;
        goto failed;
    }

    if (inlen < TSR_SEAL_OVERHEAD) {
        rc = TSR_SEAL_TRUNCATED;
        goto failed;
    }

    size = inlen - TSR_SEAL_OVERHEAD;

    if (*outlen < size) {
        rc = TSR_EINVAL;
        goto failed;
    }

    if (in[0] != TSR_SEAL_V1) {
        rc = TSR_SEAL_VERSION;
        goto failed;
    }

    for (i = 0; i < kr->nkeys; i++) {
        if (memcmp(kr->keys[i].id, in + TSR_SEAL_OFF_KEY_ID,
                   TSR_SEAL_KEY_ID_LEN)
            == 0)
        {
            break;
        }
    }

    if (i == kr->nkeys) {
        rc = TSR_SEAL_UNKNOWN_KEY;
        goto failed;
    }

    rc = TSR_ERROR;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        goto failed;
    }

    memcpy(tag, in + TSR_SEAL_OFF_DATA + size, TSR_SEAL_TAG_LEN);

    /* two keys may share an id by chance: try every one that matches */

    for ( /* void */ ; i < kr->nkeys; i++) {

        if (memcmp(kr->keys[i].id, in + TSR_SEAL_OFF_KEY_ID,
                   TSR_SEAL_KEY_ID_LEN)
            != 0)
        {
            continue;
        }

        if (EVP_CIPHER_CTX_copy(ctx, kr->keys[i].tmpl) == 1
            && tsr_seal_gcm(ctx, NULL, 0, NULL, in, name,
                            namelen, in + TSR_SEAL_OFF_DATA, size, out, tag)
               == 0)
        {
            EVP_CIPHER_CTX_free(ctx);
            *outlen = size;
            return TSR_OK;
        }

        rc = TSR_SEAL_TAMPERED;
    }

    /*
     * The name check is not secret and not trusted: it only tells a value
     * copied to another key name from a damaged one, once GCM has failed
     * (the header, check included, is authenticated with the name).
     */

    if (rc == TSR_SEAL_TAMPERED) {
        tsr_seal_name_check(kr, name, namelen, check);

        if (memcmp(check, in + TSR_SEAL_OFF_CHECK, TSR_SEAL_CHECK_LEN) != 0) {
            rc = TSR_SEAL_MOVED;
        }
    }

failed:

    ERR_clear_error();
    EVP_CIPHER_CTX_free(ctx);

    /* GCM writes plaintext before it checks the tag */

    OPENSSL_cleanse(out, *outlen);
    *outlen = 0;

    return rc;
}


static int
tsr_seal_gcm(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, int enc,
    const uint8_t *key, const uint8_t *header, const char *name,
    size_t namelen, const uint8_t *in, size_t inlen, uint8_t *out,
    uint8_t *tag)
{
    int  n;

    /* sizes are capped by the callers, far below INT_MAX */

    if (EVP_CipherInit_ex2(ctx, cipher, key, header + TSR_SEAL_OFF_NONCE,
                           enc, NULL)
        != 1)
    {
        return -1;
    }

    if (!enc
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TSR_SEAL_TAG_LEN,
                               tag)
           != 1)
    {
        return -1;
    }

    if (EVP_CipherUpdate(ctx, NULL, &n, header, TSR_SEAL_HEADER_LEN) != 1) {
        return -1;
    }

    if (namelen != 0
        && EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *) name,
                            (int) namelen)
           != 1)
    {
        return -1;
    }

    n = 0;

    if (inlen != 0
        && (EVP_CipherUpdate(ctx, out, &n, in, (int) inlen) != 1
            || (size_t) n != inlen))
    {
        return -1;
    }

    if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1 || n != 0) {
        return -1;
    }

    if (enc
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TSR_SEAL_TAG_LEN,
                               tag)
           != 1)
    {
        return -1;
    }

    return 0;
}


int
tsr_session_key(const char *prefix, const uint8_t *sid_ctx,
    size_t sid_ctx_len, const uint8_t *id, size_t idlen, char *out,
    size_t outlen)
{
    char     *p;
    size_t    plen, len;
    uint8_t   md[SHA256_DIGEST_LENGTH];

    if ((sid_ctx == NULL && sid_ctx_len != 0) || id == NULL || idlen == 0
        || idlen > TSR_MAX_SESSION_ID || out == NULL)
    {
        return TSR_EINVAL;
    }

    if (prefix == NULL) {
        prefix = TSR_DEFAULT_PREFIX;
    }

    plen = strlen(prefix);

    if (plen > TSR_MAX_KEY_NAME) {
        return TSR_ETOOBIG;
    }

    len = plen + sizeof("s:") - 1 + TSR_SID_CTX_HEX_LEN + sizeof(":") - 1
          + 2 * idlen;

    if (len > TSR_MAX_KEY_NAME || len >= outlen) {
        return TSR_ETOOBIG;
    }

    if (SHA256(sid_ctx, sid_ctx_len, md) == NULL) {
        ERR_clear_error();
        return TSR_ERROR;
    }

    p = out;

    memcpy(p, prefix, plen);
    p += plen;

    *p++ = 's';
    *p++ = ':';

    tsr_seal_hex(md, TSR_SID_CTX_HEX_LEN / 2, p);
    p += TSR_SID_CTX_HEX_LEN;

    *p++ = ':';

    tsr_seal_hex(id, idlen, p);
    p += 2 * idlen;

    *p = '\0';

    return (int) len;
}


static void
tsr_seal_name_check(const tsr_keyring_t *kr, const char *name,
    size_t namelen, uint8_t *check)
{
    uint8_t  md[SHA256_DIGEST_LENGTH];

    /* a fetched digest: SHA256() looks the algorithm up on every call */
    (void) EVP_Digest(name, namelen, md, NULL, kr->sha256, NULL);
    memcpy(check, md, TSR_SEAL_CHECK_LEN);
}


static void
tsr_seal_hex(const uint8_t *p, size_t len, char *out)
{
    static const char  hex[] = "0123456789abcdef";

    while (len--) {
        *out++ = hex[*p >> 4];
        *out++ = hex[*p++ & 0xf];
    }
}


static void
tsr_seal_ssl_error(char *err, size_t errlen, const char *what,
    const char *call)
{
    char  buf[256];

    (void) tsr_err_openssl(buf, sizeof(buf));

    tsr_errf(err, errlen, "%s: %s failed: %s", what, call, buf);
}
