
/*
 * Ticket keys: the layout of the ring as stored in Redis and its limits.
 *
 * value   = gen(8) | rotated_at(8) | tsr_seal(ring, AAD = the key name)
 * ring    = version(1) | gen(8) | built_ms(8) | nkeys(1) | record...
 * record  = gen(8) | stop_ms(8) | name(16) | hmac(32) | aes(32)
 *
 * All integers are big-endian.  The header is written by the rotation
 * script (rotated_at is the Redis server's clock); the sealed copy of gen
 * ties the ring to its header, so a sealed ring moved under another
 * header is rejected, and built_ms (the builder's clock) bounds how far a
 * forged rotated_at can stretch the current key's period.
 *
 * A record's gen is the generation in which the key encrypts: gen + 1 is
 * the next key, gen the current key, lower ones previous keys.  stop_ms
 * is when a previous key stopped encrypting, for keys older than gen - 1;
 * the key of gen - 1 stopped when this generation began (rotated_at), and
 * the current and next keys have not stopped: 0 for all three.
 */


#ifndef TSR_TICKETS_H_INCLUDED
#define TSR_TICKETS_H_INCLUDED


#include "tsr.h"
#include "tsr_compat.h"
#include "tsr_util.h"


#define TSR_TICKETS_RING_V1       1

#define TSR_TICKETS_HEADER_LEN    16
#define TSR_TICKETS_RING_HEAD     (1 + 8 + 8 + 1)
#define TSR_TICKETS_HMAC_LEN      32
#define TSR_TICKETS_AES_LEN       32
#define TSR_TICKETS_KEY_LEN       (TSR_TICKETS_NAME_LEN + TSR_TICKETS_HMAC_LEN \
                                   + TSR_TICKETS_AES_LEN)
#define TSR_TICKETS_RECORD_LEN    (8 + 8 + TSR_TICKETS_KEY_LEN)
#define TSR_TICKETS_RING_MAX      (TSR_TICKETS_RING_HEAD                      \
                                   + TSR_TICKETS_MAX_KEYS                     \
                                     * TSR_TICKETS_RECORD_LEN)
#define TSR_TICKETS_VALUE_MAX     (TSR_TICKETS_HEADER_LEN                     \
                                   + TSR_TICKETS_RING_MAX + TSR_SEAL_OVERHEAD)

/* offsets into a record */
#define TSR_TICKETS_OFF_STOP      8
#define TSR_TICKETS_OFF_NAME      16
#define TSR_TICKETS_OFF_HMAC      (TSR_TICKETS_OFF_NAME + TSR_TICKETS_NAME_LEN)
#define TSR_TICKETS_OFF_AES       (TSR_TICKETS_OFF_HMAC + TSR_TICKETS_HMAC_LEN)

/* limits of the configuration */
#define TSR_TICKETS_MIN_PERIOD    100                       /* ms */
#define TSR_TICKETS_MAX_PERIOD    (366ULL * 86400 * 1000)   /* ms */
#define TSR_TICKETS_MAX_LIFETIME  (366ULL * 86400 * 1000)   /* ms */
#define TSR_TICKETS_MAX_SCOPE     128

#define TSR_TICKETS_SCRIPT        "ticket_rotate"
#define TSR_TICKETS_ERR_LEN       512
#define TSR_TICKETS_ROLLBACK_LOG  60      /* s between logs of a refused
                                             older ring */



#endif /* TSR_TICKETS_H_INCLUDED */
