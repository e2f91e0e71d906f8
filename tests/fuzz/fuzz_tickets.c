
/*
 * libFuzzer target for the ticket key ring read from Redis,
 * tsr_tickets_load_value().  Each input first loads a valid ring (the
 * baseline), then one built from the input; the first byte picks how:
 *
 *   0  value                          the value as Redis would return it
 *   1  gen(8) | rotated_at(8) | ring  the clear header as given, the
 *                                     ring plaintext sealed under the
 *                                     ring's key name with the fleet key:
 *                                     what a fleet member could write,
 *                                     so the decoder behind the seal is
 *                                     reached
 *
 * A rejected value must leave the baseline in use; an accepted one must
 * describe a ring that keeps the documented invariants (2 to
 * TSR_TICKETS_MAX_KEYS keys, newest first, one current key of the
 * header's generation, one next key, a generation not below the
 * baseline's: an older ring is a rollback and refused).  Anything else
 * aborts.  An accepted newer ring stays in use, so the next input starts
 * from a fresh ring state, the baseline loaded again.  Seeds:
 * tests/fuzz/corpus/tickets, written by the replay build.
 */


#include "tsr.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"


#define FUZZ_HEADER      16
#define FUZZ_RING_MAX    (1 + 8 + 8 + 1 + TSR_TICKETS_MAX_KEYS * 96)
#define FUZZ_PERIOD      3600000ULL
#define FUZZ_BUILT       1700000000000ULL


const char  *fuzz_name = "tickets";

static tsr_keyring_t  *fuzz_ring;
static tsr_tickets_t  *fuzz_t;
static tsr_tickets_conf_t  fuzz_conf;
static char            fuzz_key[TSR_MAX_KEY_NAME];
static int             fuzz_keylen;
static uint8_t         fuzz_base[1024];
static size_t          fuzz_base_len;

static const uint8_t   fuzz_fleet[32] = "fuzz fleet key, 32 bytes long!!";


static void fuzz_cleanup(void);
static int fuzz_load_base(void);
static size_t fuzz_build_ring(uint8_t *p, uint64_t gen, uint64_t built,
    size_t nkeys);
static int fuzz_value(const uint8_t *header, const uint8_t *ring,
    size_t rlen, uint8_t *out, size_t *outlen);
static void fuzz_put64(uint8_t *p, uint64_t v);
static uint64_t fuzz_get64(const uint8_t *p);
static void fuzz_check_ring(uint64_t gen);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t              rlen;
    uint8_t             ring[FUZZ_RING_MAX], header[FUZZ_HEADER];
    char                err[256];

    (void) argc;
    (void) argv;

    fuzz_ring = tsr_keyring_create(err, sizeof(err));

    if (fuzz_ring == NULL
        || tsr_keyring_add_key(fuzz_ring, fuzz_fleet, sizeof(fuzz_fleet),
                               err, sizeof(err))
           != TSR_OK)
    {
        return -1;
    }

    memset(&fuzz_conf, 0, sizeof(tsr_tickets_conf_t));
    fuzz_conf.keys = fuzz_ring;
    fuzz_conf.period_ms = FUZZ_PERIOD;
    fuzz_conf.lifetime_ms = 300000;

    fuzz_t = tsr_tickets_create(&fuzz_conf, err, sizeof(err));
    if (fuzz_t == NULL) {
        return -1;
    }

    (void) atexit(fuzz_cleanup);

    fuzz_keylen = tsr_tickets_ring_key(fuzz_t, fuzz_key, sizeof(fuzz_key));
    if (fuzz_keylen <= 0) {
        return -1;
    }

    /* the baseline: generation 7, three keys */

    rlen = fuzz_build_ring(ring, 7, FUZZ_BUILT, 3);
    fuzz_put64(header, 7);
    fuzz_put64(header + 8, FUZZ_BUILT + 5);

    fuzz_base_len = sizeof(fuzz_base);

    if (fuzz_value(header, ring, rlen, fuzz_base, &fuzz_base_len) != 0
        || tsr_tickets_load_value(fuzz_t, fuzz_base, fuzz_base_len)
           != TSR_OK)
    {
        return -1;
    }

    return 0;
}


/*
 * The baseline in use again.  After an accepted newer ring, the older
 * baseline is (rightly) refused as a rollback: the ring state starts over.
 */

static int
fuzz_load_base(void)
{
    char  err[256];

    if (tsr_tickets_load_value(fuzz_t, fuzz_base, fuzz_base_len) == TSR_OK) {
        return 0;
    }

    tsr_tickets_destroy(fuzz_t);

    fuzz_t = tsr_tickets_create(&fuzz_conf, err, sizeof(err));
    if (fuzz_t == NULL) {
        return -1;
    }

    return tsr_tickets_load_value(fuzz_t, fuzz_base, fuzz_base_len) == TSR_OK
           ? 0 : -1;
}


/* everything freed at exit, so that a leak checker sees real leaks only */

static void
fuzz_cleanup(void)
{
    tsr_tickets_destroy(fuzz_t);
    tsr_keyring_destroy(fuzz_ring);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int       rc;
    size_t    vlen;
    uint8_t  *val;

    if (size == 0) {
        return 0;
    }

    if (fuzz_load_base() != 0) {
        abort();
    }

    if (data[0] % 2 == 0) {
        val = malloc(size - 1 > 0 ? size - 1 : 1);
        if (val == NULL) {
            abort();
        }

        memcpy(val, data + 1, size - 1);
        vlen = size - 1;

    } else {
        if (size < 1 + FUZZ_HEADER) {
            return 0;
        }

        vlen = size - 1 - FUZZ_HEADER + FUZZ_HEADER + TSR_SEAL_OVERHEAD;

        if (vlen > TSR_MAX_VALUE) {
            return 0;
        }

        val = malloc(vlen);
        if (val == NULL) {
            abort();
        }

        if (fuzz_value(data + 1, data + 1 + FUZZ_HEADER,
                       size - 1 - FUZZ_HEADER, val, &vlen) != 0)
        {
            abort();
        }
    }

    rc = tsr_tickets_load_value(fuzz_t, val, vlen);

    switch (rc) {

    case TSR_OK:
        if (fuzz_get64(val) < 7) {
            abort();
        }

        fuzz_check_ring(fuzz_get64(val));
        break;

    case TSR_ETOOBIG:
    case TSR_EPROTO:
    case TSR_SEAL_TRUNCATED:
    case TSR_SEAL_VERSION:
    case TSR_SEAL_UNKNOWN_KEY:
    case TSR_SEAL_MOVED:
    case TSR_SEAL_TAMPERED:
        /* the ring in use stays */
        fuzz_check_ring(7);
        break;

    default:
        abort();
    }

    free(val);

    return 0;
}


static void
fuzz_check_ring(uint64_t gen)
{
    size_t              i, current, next;
    char                name[2 * TSR_TICKETS_NAME_LEN + 1];
    tsr_tickets_info_t  info;

    if (tsr_tickets_info(fuzz_t, &info) != TSR_OK || info.gen != gen
        || info.nkeys < 2 || info.nkeys > TSR_TICKETS_MAX_KEYS)
    {
        abort();
    }

    current = 0;
    next = 0;

    for (i = 0; i < info.nkeys; i++) {
        if (i > 0 && info.keys[i].gen >= info.keys[i - 1].gen) {
            abort();
        }

        if (info.keys[i].role == TSR_TICKETS_CURRENT) {
            current++;

            if (info.keys[i].gen != gen) {
                abort();
            }

        } else if (info.keys[i].role == TSR_TICKETS_NEXT) {
            next++;

            if (info.keys[i].gen != gen + 1) {
                abort();
            }

        } else if (info.keys[i].role != TSR_TICKETS_PREVIOUS
                   || info.keys[i].gen >= gen)
        {
            abort();
        }
    }

    if (current != 1 || next != 1
        || tsr_tickets_key_name(fuzz_t, name, sizeof(name)) != TSR_OK
        || strcmp(name, info.keys[1].name) != 0)
    {
        abort();
    }
}


/* a valid ring plaintext: keys gen + 1 (next) down to gen + 2 - nkeys */

static size_t
fuzz_build_ring(uint8_t *p, uint64_t gen, uint64_t built, size_t nkeys)
{
    size_t    i, len;
    uint64_t  kgen;
    uint8_t  *r;

    p[0] = 1;
    fuzz_put64(p + 1, gen);
    fuzz_put64(p + 9, built);
    p[17] = (uint8_t) nkeys;

    len = 18;

    for (i = 0; i < nkeys; i++) {
        r = p + len;
        kgen = gen + 1 - i;

        fuzz_put64(r, kgen);

        /* keys older than gen - 1 stopped before this generation began */
        fuzz_put64(r + 8, (kgen + 1 < gen) ? built - 1000 * (gen - kgen) : 0);

        memset(r + 16, (int) (0x10 + kgen), 16);     /* name */
        memset(r + 32, (int) (0x20 + kgen), 32);     /* hmac */
        memset(r + 64, (int) (0x40 + kgen), 32);     /* aes */

        len += 96;
    }

    return len;
}


/* header | tsr_seal(ring) under the ring's key name */

static int
fuzz_value(const uint8_t *header, const uint8_t *ring, size_t rlen,
    uint8_t *out, size_t *outlen)
{
    size_t  slen;

    if (*outlen < FUZZ_HEADER + rlen + TSR_SEAL_OVERHEAD) {
        return -1;
    }

    memcpy(out, header, FUZZ_HEADER);
    slen = *outlen - FUZZ_HEADER;

    if (tsr_seal(fuzz_ring, fuzz_key, fuzz_keylen, ring, rlen,
                 out + FUZZ_HEADER, &slen)
        != TSR_OK)
    {
        return -1;
    }

    *outlen = FUZZ_HEADER + slen;

    return 0;
}


static void
fuzz_put64(uint8_t *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}


static uint64_t
fuzz_get64(const uint8_t *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


#ifdef TSR_FUZZ_REPLAY

#include <stdio.h>


int
fuzz_write_seeds(const char *dir)
{
    int       n;
    size_t    nkeys, rlen, vlen;
    uint8_t   buf[2048], ring[FUZZ_RING_MAX];
    char      name[64];

    n = 0;

    for (nkeys = 2; nkeys <= TSR_TICKETS_MAX_KEYS; nkeys += 3) {

        /* mode 1: header and plaintext */

        buf[0] = 1;
        fuzz_put64(buf + 1, 42);
        fuzz_put64(buf + 9, FUZZ_BUILT + 100);
        rlen = fuzz_build_ring(buf + 1 + FUZZ_HEADER, 42, FUZZ_BUILT, nkeys);

        snprintf(name, sizeof(name), "plain_%zu_keys", nkeys);

        if (fuzz_seed(dir, name, buf, 1 + FUZZ_HEADER + rlen) != 0) {
            return -1;
        }

        n++;

        /* mode 0: the sealed value */

        memcpy(ring, buf + 1 + FUZZ_HEADER, rlen);
        buf[0] = 0;
        vlen = sizeof(buf) - 1;

        if (fuzz_value(buf + 1, ring, rlen, buf + 1, &vlen) != 0) {
            return -1;
        }

        snprintf(name, sizeof(name), "sealed_%zu_keys", nkeys);

        if (fuzz_seed(dir, name, buf, 1 + vlen) != 0) {
            return -1;
        }

        n++;
    }

    /* the baseline itself, and a ring of another generation's header */

    buf[0] = 0;
    memcpy(buf + 1, fuzz_base, fuzz_base_len);

    if (fuzz_seed(dir, "sealed_baseline", buf, 1 + fuzz_base_len) != 0) {
        return -1;
    }

    n++;

    buf[0] = 1;
    fuzz_put64(buf + 1, 9);
    fuzz_put64(buf + 9, FUZZ_BUILT);
    rlen = fuzz_build_ring(buf + 1 + FUZZ_HEADER, 8, FUZZ_BUILT, 3);

    if (fuzz_seed(dir, "plain_header_mismatch", buf, 1 + FUZZ_HEADER + rlen)
        != 0)
    {
        return -1;
    }

    n++;

    return n;
}

#endif
