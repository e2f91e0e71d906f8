
/*
 * ClientHello parser: from the bytes a client sent before OpenSSL reads
 * them, decides whether OpenSSL 3.0 will call the get-session callback and
 * with which id, so that the session can be fetched from Redis first.
 *
 * The decisions mirror OpenSSL 3.0: tls_process_client_hello() and
 * tls_early_post_process_client_hello() in ssl/statem/statem_srvr.c,
 * ssl_choose_server_version() in statem_lib.c, tls_collect_extensions() in
 * extensions.c, ssl_get_prev_session() in ssl/ssl_sess.c,
 * tls_get_ticket_from_client() in ssl/t1_lib.c, and
 * tls_parse_ctos_psk_kex_modes(), tls_parse_ctos_psk() and
 * tls_get_stateful_ticket() in extensions_srvr.c.  The answer is advisory:
 * OpenSSL parses everything again, so where this parser is stricter the
 * cost is a session that was not prefetched, never a failed handshake.
 *
 * Bounded: only the first TSR_HELLO_MAX_PEEK bytes of input are examined
 * (a caller that has that many never gets TSR_AGAIN), every length is
 * checked before use, and nothing is allocated; the stack holds the
 * reassembled message and a bitmap of extension types, about 24 KiB.  The
 * input must start with the first ClientHello: a ChangeCipherSpec before a
 * second one (after HelloRetryRequest) is refused like any other record.
 */


#include "tsr_hello.h"

#include <string.h>


/* the extensions the decision reads, as indexes into tsr_hello_msg_t */
#define TSR_HELLO_X_SERVER_NAME     0
#define TSR_HELLO_X_EMS             1
#define TSR_HELLO_X_TICKET          2
#define TSR_HELLO_X_PSK             3
#define TSR_HELLO_X_VERSIONS        4
#define TSR_HELLO_X_PSK_MODES       5
#define TSR_HELLO_NX                6

#define tsr_hello_has(m, x)         (((m)->present & (1u << (x))) != 0)

/* what ssl_choose_server_version() will pick */
#define TSR_HELLO_PROTO_NONE        0
#define TSR_HELLO_PROTO_TLS12       1       /* TLS 1.2 or lower */
#define TSR_HELLO_PROTO_TLS13       2


typedef struct {
    const uint8_t     *pos;
    const uint8_t     *end;
} tsr_hello_span_t;


typedef struct {
    unsigned           version;             /* legacy_version */
    tsr_hello_span_t   session_id;
    unsigned           present;             /* 1 << TSR_HELLO_X_* */
    tsr_hello_span_t   ext[TSR_HELLO_NX];
} tsr_hello_msg_t;


static int tsr_hello_reassemble(const uint8_t *buf, size_t len,
    uint8_t *msg, size_t *msg_len);
static int tsr_hello_read_body(const uint8_t *p, size_t len,
    tsr_hello_msg_t *m);
static int tsr_hello_read_extensions(tsr_hello_span_t *s,
    tsr_hello_msg_t *m);
static void tsr_hello_server_name(const tsr_hello_msg_t *m,
    tsr_hello_t *out);
static int tsr_hello_version(const tsr_hello_msg_t *m, unsigned flags,
    int *proto);
static int tsr_hello_tls13(const tsr_hello_msg_t *m, unsigned flags,
    tsr_hello_t *out);
static int tsr_hello_tls12(const tsr_hello_msg_t *m, unsigned flags,
    tsr_hello_t *out);
static size_t tsr_hello_left(const tsr_hello_span_t *s);
static int tsr_hello_u8(tsr_hello_span_t *s, unsigned *v);
static int tsr_hello_u16(tsr_hello_span_t *s, unsigned *v);
static int tsr_hello_skip(tsr_hello_span_t *s, size_t n);
static int tsr_hello_vec(tsr_hello_span_t *s, size_t lenbytes,
    tsr_hello_span_t *v);


int
tsr_hello_parse(const uint8_t *buf, size_t len, unsigned flags,
    tsr_hello_t *out)
{
    int               rc, proto;
    size_t            n;
    tsr_hello_msg_t   m;
    uint8_t           msg[TSR_HELLO_MAX_PEEK];

    if (out == NULL || (buf == NULL && len != 0)) {
        return TSR_EINVAL;
    }

    memset(out, 0, sizeof(tsr_hello_t));

    rc = tsr_hello_reassemble(buf, len, msg, &n);
    if (rc != TSR_OK) {
        return rc;
    }

    rc = tsr_hello_read_body(msg + TSR_HELLO_MSG_HEADER,
                             n - TSR_HELLO_MSG_HEADER, &m);
    if (rc != TSR_OK) {
        return rc;
    }

    /* the server name is reported whatever the decision */

    tsr_hello_server_name(&m, out);

    rc = tsr_hello_version(&m, flags, &proto);
    if (rc != TSR_OK) {
        goto failed;
    }

    switch (proto) {

    case TSR_HELLO_PROTO_TLS13:
        rc = tsr_hello_tls13(&m, flags, out);
        break;

    case TSR_HELLO_PROTO_TLS12:
        rc = tsr_hello_tls12(&m, flags, out);
        break;

    default:
        rc = TSR_OK;
    }

    if (rc != TSR_OK) {
        goto failed;
    }

    return TSR_OK;

failed:

    memset(out, 0, sizeof(tsr_hello_t));
    return rc;
}


/*
 * Collects the handshake message, header included, from the plaintext
 * records at the start of "buf" into "msg" (TSR_HELLO_MAX_PEEK bytes).
 * Whatever follows the record that completes the message (ChangeCipherSpec,
 * early data) is not looked at.
 */

static int
tsr_hello_reassemble(const uint8_t *buf, size_t len, uint8_t *msg,
    size_t *msg_len)
{
    size_t  off, avail, rlen, have, total;

    /*
     * An SSLv2-compatible ClientHello starts with a 2-byte length whose
     * high bit is set; OpenSSL never resumes a session from one ("isv2").
     */

    if (len > 0 && (buf[0] & 0x80) != 0) {
        return TSR_EPROTO;
    }

    off = 0;
    have = 0;
    total = 0;

    for ( ;; ) {

        /* each record carries at least one byte: see below */

        if (off + TSR_HELLO_RECORD_HEADER + 1 > TSR_HELLO_MAX_PEEK) {
            return TSR_EPROTO;
        }

        /* reject what is not a handshake record as soon as it shows */

        avail = len - off;

        if (avail > 0 && buf[off] != TSR_HELLO_RT_HANDSHAKE) {
            return TSR_EPROTO;
        }

        if (avail > 1 && buf[off + 1] != TSR_HELLO_VERSION_MAJOR) {
            return TSR_EPROTO;
        }

        if (avail < TSR_HELLO_RECORD_HEADER) {
            return TSR_AGAIN;
        }

        rlen = ((size_t) buf[off + 3] << 8) | buf[off + 4];

        /*
         * OpenSSL 3.0 skips up to 32 empty records, but RFC 8446 forbids
         * empty handshake fragments and no client sends them.
         */

        if (rlen == 0 || rlen > TSR_HELLO_MAX_RECORD
            || off + TSR_HELLO_RECORD_HEADER + rlen > TSR_HELLO_MAX_PEEK)
        {
            return TSR_EPROTO;
        }

        if (avail - TSR_HELLO_RECORD_HEADER < rlen) {
            return TSR_AGAIN;
        }

        /*
         * The record that completes the ClientHello must end with it: TLS
         * 1.3 requires it (OpenSSL checks), and before TLS 1.3 a client
         * has nothing else to send until the server answers.
         */

        if (total != 0 && have + rlen > total) {
            return TSR_EPROTO;
        }

        /* have + rlen <= off + rlen, less one header, fits in msg */

        memcpy(msg + have, buf + off + TSR_HELLO_RECORD_HEADER, rlen);
        have += rlen;
        off += TSR_HELLO_RECORD_HEADER + rlen;

        if (total == 0 && have >= TSR_HELLO_MSG_HEADER) {

            if (msg[0] != TSR_HELLO_MT_CLIENT_HELLO) {
                return TSR_EPROTO;
            }

            total = TSR_HELLO_MSG_HEADER + (((size_t) msg[1] << 16)
                                            | ((size_t) msg[2] << 8)
                                            | msg[3]);

            if (have > total) {
                return TSR_EPROTO;
            }

            /* the rest needs one more record header at least */

            if (have < total
                && off + TSR_HELLO_RECORD_HEADER + (total - have)
                   > TSR_HELLO_MAX_PEEK)
            {
                return TSR_EPROTO;
            }
        }

        if (total != 0 && have == total) {
            *msg_len = total;
            return TSR_OK;
        }
    }
}


/*
 * The ClientHello body as tls_process_client_hello() reads it; a failure
 * here is one OpenSSL answers with a fatal alert.
 */

static int
tsr_hello_read_body(const uint8_t *p, size_t len, tsr_hello_msg_t *m)
{
    size_t            n;
    tsr_hello_span_t  s, ciphers, comp, exts;

    memset(m, 0, sizeof(tsr_hello_msg_t));

    s.pos = p;
    s.end = p + len;

    if (tsr_hello_u16(&s, &m->version) != TSR_OK
        || tsr_hello_skip(&s, TSR_HELLO_RANDOM_LEN) != TSR_OK
        || tsr_hello_vec(&s, 1, &m->session_id) != TSR_OK
        || tsr_hello_vec(&s, 2, &ciphers) != TSR_OK
        || tsr_hello_vec(&s, 1, &comp) != TSR_OK)
    {
        return TSR_EPROTO;
    }

    if (tsr_hello_left(&m->session_id) > TSR_MAX_SESSION_ID) {
        return TSR_EPROTO;
    }

    n = tsr_hello_left(&ciphers);

    if (n < 2 || n % 2 != 0) {
        return TSR_EPROTO;
    }

    if (tsr_hello_left(&comp) == 0) {
        return TSR_EPROTO;
    }

    /* the extensions block may be absent, but then nothing may follow */

    if (tsr_hello_left(&s) == 0) {
        return TSR_OK;
    }

    if (tsr_hello_vec(&s, 2, &exts) != TSR_OK || tsr_hello_left(&s) != 0) {
        return TSR_EPROTO;
    }

    return tsr_hello_read_extensions(&exts, m);
}


static int
tsr_hello_read_extensions(tsr_hello_span_t *s, tsr_hello_msg_t *m)
{
    int               x;
    unsigned          type;
    tsr_hello_span_t  data;
    uint8_t           seen[65536 / 8];

    memset(seen, 0, sizeof(seen));

    while (tsr_hello_left(s) > 0) {

        if (tsr_hello_u16(s, &type) != TSR_OK
            || tsr_hello_vec(s, 2, &data) != TSR_OK)
        {
            return TSR_EPROTO;
        }

        /*
         * OpenSSL rejects a repeated extension only if it knows the type;
         * any repeat is refused here, which costs a prefetch at most.
         */

        if ((seen[type >> 3] & (1u << (type & 7))) != 0) {
            return TSR_EPROTO;
        }

        seen[type >> 3] |= (uint8_t) (1u << (type & 7));

        /* RFC 8446 4.2.11: pre_shared_key must come last, in any version */

        if (type == TSR_HELLO_EXT_PSK && tsr_hello_left(s) != 0) {
            return TSR_EPROTO;
        }

        switch (type) {

        case TSR_HELLO_EXT_SERVER_NAME:
            x = TSR_HELLO_X_SERVER_NAME;
            break;

        case TSR_HELLO_EXT_EMS:
            x = TSR_HELLO_X_EMS;
            break;

        case TSR_HELLO_EXT_TICKET:
            x = TSR_HELLO_X_TICKET;
            break;

        case TSR_HELLO_EXT_PSK:
            x = TSR_HELLO_X_PSK;
            break;

        case TSR_HELLO_EXT_VERSIONS:
            x = TSR_HELLO_X_VERSIONS;
            break;

        case TSR_HELLO_EXT_PSK_MODES:
            x = TSR_HELLO_X_PSK_MODES;
            break;

        default:
            x = -1;
        }

        if (x >= 0) {
            m->present |= 1u << x;
            m->ext[x] = data;
        }
    }

    return TSR_OK;
}


/*
 * Reports the first host_name.  OpenSSL accepts exactly one entry and
 * fails the handshake otherwise, but the lookup happens either way, so a
 * bad list only means no name here.
 */

static void
tsr_hello_server_name(const tsr_hello_msg_t *m, tsr_hello_t *out)
{
    size_t            n;
    unsigned          type;
    tsr_hello_span_t  s, list, name;

    if (!tsr_hello_has(m, TSR_HELLO_X_SERVER_NAME)) {
        return;
    }

    s = m->ext[TSR_HELLO_X_SERVER_NAME];

    if (tsr_hello_vec(&s, 2, &list) != TSR_OK || tsr_hello_left(&s) != 0) {
        return;
    }

    while (tsr_hello_left(&list) > 0) {

        if (tsr_hello_u8(&list, &type) != TSR_OK
            || tsr_hello_vec(&list, 2, &name) != TSR_OK)
        {
            return;
        }

        if (type != TSR_HELLO_SNI_HOST_NAME) {
            continue;
        }

        n = tsr_hello_left(&name);

        /* a NUL would cut the C string short; OpenSSL refuses one too */

        if (n == 0 || n > sizeof(out->server_name) - 1
            || memchr(name.pos, '\0', n) != NULL)
        {
            return;
        }

        memcpy(out->server_name, name.pos, n);
        out->server_name[n] = '\0';
        out->server_name_len = n;

        return;
    }
}


/*
 * The version ssl_choose_server_version() will pick, as far as "flags"
 * tell: TSR_HELLO_TLS12 stands for "TLS 1.2 or lower", since the server's
 * minimum version is not known here.
 */

static int
tsr_hello_version(const tsr_hello_msg_t *m, unsigned flags, int *proto)
{
    unsigned          v, tls12, tls13;
    tsr_hello_span_t  s, list;

    *proto = TSR_HELLO_PROTO_NONE;

    if (!tsr_hello_has(m, TSR_HELLO_X_VERSIONS)) {

        /*
         * The legacy version is the client's highest and TLS 1.3 needs
         * supported_versions; SSLv3 is not built into OpenSSL 3.0.
         */

        if (m->version >= TSR_HELLO_TLS1_0 && (flags & TSR_HELLO_TLS12)) {
            *proto = TSR_HELLO_PROTO_TLS12;
        }

        return TSR_OK;
    }

    /* a malformed list is fatal whatever the server's versions */

    s = m->ext[TSR_HELLO_X_VERSIONS];

    if (tsr_hello_vec(&s, 1, &list) != TSR_OK
        || tsr_hello_left(&s) != 0
        || tsr_hello_left(&list) % 2 != 0)
    {
        return TSR_EPROTO;
    }

    tls12 = 0;
    tls13 = 0;

    while (tsr_hello_u16(&list, &v) == TSR_OK) {

        if (v == TSR_HELLO_TLS1_3) {
            tls13 = 1;

        } else if (v >= TSR_HELLO_TLS1_0 && v <= TSR_HELLO_TLS1_2) {
            tls12 = 1;
        }
    }

    /* beside supported_versions, a legacy version of SSLv3 is refused */

    if (m->version < TSR_HELLO_TLS1_0) {
        return TSR_OK;
    }

    if (tls13 && (flags & TSR_HELLO_TLS13)) {
        *proto = TSR_HELLO_PROTO_TLS13;

    } else if (tls12 && (flags & TSR_HELLO_TLS12)) {
        *proto = TSR_HELLO_PROTO_TLS12;
    }

    return TSR_OK;
}


/*
 * TLS 1.3: ssl_get_prev_session() parses psk_key_exchange_modes, then
 * pre_shared_key; the legacy session id is random and never looked up.
 * With tickets on, identities are stateless tickets that are decrypted;
 * with SSL_OP_NO_TICKET (and, as nginx always sets SSL_OP_NO_ANTI_REPLAY,
 * only then) an identity of exactly 32 bytes is a session id looked up in
 * the cache (tls_get_stateful_ticket()).
 */

static int
tsr_hello_tls13(const tsr_hello_msg_t *m, unsigned flags, tsr_hello_t *out)
{
    size_t            n;
    unsigned          mode, dhe;
    tsr_hello_span_t  s, modes, ids, id;

    if (!tsr_hello_has(m, TSR_HELLO_X_PSK_MODES)) {
        return TSR_OK;
    }

    s = m->ext[TSR_HELLO_X_PSK_MODES];

    if (tsr_hello_vec(&s, 1, &modes) != TSR_OK
        || tsr_hello_left(&s) != 0
        || tsr_hello_left(&modes) == 0)
    {
        return TSR_EPROTO;
    }

    /*
     * Without a mode OpenSSL accepts, pre_shared_key is ignored: psk_ke
     * counts only with SSL_OP_ALLOW_NO_DHE_KEX, which nginx never sets.
     */

    dhe = 0;

    while (tsr_hello_u8(&modes, &mode) == TSR_OK) {
        if (mode == TSR_HELLO_PSK_DHE_KE) {
            dhe = 1;
        }
    }

    if (!dhe || !tsr_hello_has(m, TSR_HELLO_X_PSK)) {
        return TSR_OK;
    }

    s = m->ext[TSR_HELLO_X_PSK];

    if (tsr_hello_vec(&s, 2, &ids) != TSR_OK) {
        return TSR_EPROTO;
    }

    if (tsr_hello_left(&ids) == 0) {
        return TSR_OK;
    }

    if (tsr_hello_vec(&ids, 2, &id) != TSR_OK
        || tsr_hello_skip(&ids, 4) != TSR_OK)
    {
        return TSR_EPROTO;
    }

    /*
     * OpenSSL tries the identities in order until one resumes; clients
     * offer one, so only the first is considered.  An empty one is fatal.
     */

    n = tsr_hello_left(&id);

    if (n == 0) {
        return TSR_OK;
    }

    if (flags & TSR_HELLO_TICKETS) {
        out->ticket = 1;
        return TSR_OK;
    }

    if (n != TSR_HELLO_STATEFUL_ID_LEN) {
        return TSR_OK;
    }

    out->lookup = 1;
    out->tls13 = 1;
    out->id_len = n;
    memcpy(out->id, id.pos, n);

    return TSR_OK;
}


/*
 * TLS 1.2 and lower: with tickets on, a non-empty session_ticket is
 * decrypted and, whatever comes of it, the session id is not looked up
 * (ssl_get_prev_session(), tls_get_ticket_from_client()); otherwise a
 * non-empty session id is.
 */

static int
tsr_hello_tls12(const tsr_hello_msg_t *m, unsigned flags, tsr_hello_t *out)
{
    size_t  n;

    /* parsed before the session: extended_master_secret must be empty */

    if (tsr_hello_has(m, TSR_HELLO_X_EMS)
        && tsr_hello_left(&m->ext[TSR_HELLO_X_EMS]) != 0)
    {
        return TSR_EPROTO;
    }

    if ((flags & TSR_HELLO_TICKETS)
        && tsr_hello_has(m, TSR_HELLO_X_TICKET)
        && tsr_hello_left(&m->ext[TSR_HELLO_X_TICKET]) != 0)
    {
        out->ticket = 1;
        return TSR_OK;
    }

    n = tsr_hello_left(&m->session_id);

    if (n == 0) {
        return TSR_OK;
    }

    out->lookup = 1;
    out->id_len = n;
    memcpy(out->id, m->session_id.pos, n);

    return TSR_OK;
}


static size_t
tsr_hello_left(const tsr_hello_span_t *s)
{
    return (size_t) (s->end - s->pos);
}


static int
tsr_hello_u8(tsr_hello_span_t *s, unsigned *v)
{
    if (tsr_hello_left(s) < 1) {
        return TSR_EPROTO;
    }

    *v = s->pos[0];
    s->pos++;

    return TSR_OK;
}


static int
tsr_hello_u16(tsr_hello_span_t *s, unsigned *v)
{
    if (tsr_hello_left(s) < 2) {
        return TSR_EPROTO;
    }

    *v = ((unsigned) s->pos[0] << 8) | s->pos[1];
    s->pos += 2;

    return TSR_OK;
}


static int
tsr_hello_skip(tsr_hello_span_t *s, size_t n)
{
    if (tsr_hello_left(s) < n) {
        return TSR_EPROTO;
    }

    s->pos += n;

    return TSR_OK;
}


/* a vector with a 1- or 2-byte length prefix */

static int
tsr_hello_vec(tsr_hello_span_t *s, size_t lenbytes, tsr_hello_span_t *v)
{
    int       rc;
    unsigned  n;

    rc = (lenbytes == 1) ? tsr_hello_u8(s, &n) : tsr_hello_u16(s, &n);

    if (rc != TSR_OK || tsr_hello_left(s) < n) {
        return TSR_EPROTO;
    }

    v->pos = s->pos;
    v->end = s->pos + n;
    s->pos += n;

    return TSR_OK;
}
