
/*
 * Sealing internals: the envelope layout behind tsr_seal() and tsr_open().
 *
 *     version(1) | key id(4) | name check(4) | nonce(12) | ciphertext | tag(16)
 *
 * The first 9 bytes are the header; the GCM AAD is the header followed by
 * the Redis key name, so the header is authenticated as well.
 */


#ifndef TSR_SEAL_H_INCLUDED
#define TSR_SEAL_H_INCLUDED


#include "tsr.h"
#include "tsr_compat.h"


#define TSR_SEAL_V1            1
#define TSR_SEAL_KEY_ID_LEN    4
#define TSR_SEAL_CHECK_LEN     4
#define TSR_SEAL_NONCE_LEN     12
#define TSR_SEAL_TAG_LEN       16
#define TSR_SEAL_HEADER_LEN    (1 + TSR_SEAL_KEY_ID_LEN + TSR_SEAL_CHECK_LEN)

/* offsets into the envelope */
#define TSR_SEAL_OFF_KEY_ID    1
#define TSR_SEAL_OFF_CHECK     (TSR_SEAL_OFF_KEY_ID + TSR_SEAL_KEY_ID_LEN)
#define TSR_SEAL_OFF_NONCE     TSR_SEAL_HEADER_LEN
#define TSR_SEAL_OFF_DATA      (TSR_SEAL_OFF_NONCE + TSR_SEAL_NONCE_LEN)

#define TSR_SEAL_KEY_LEN       32     /* AES-256 */
#define TSR_SEAL_MAX_KEYS      16     /* keys in one ring */


/* the layout above must add up to the public overhead */
typedef char tsr_seal_layout_check_t[(TSR_SEAL_OFF_DATA + TSR_SEAL_TAG_LEN
                                      == TSR_SEAL_OVERHEAD) ? 1 : -1];


#endif /* TSR_SEAL_H_INCLUDED */
