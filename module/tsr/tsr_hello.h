
/*
 * ClientHello parsing internals: the wire constants tsr_hello_parse()
 * reads (RFC 8446 section 4, RFC 5246 section 6.2, RFC 6066, RFC 5077).
 */


#ifndef TSR_HELLO_H_INCLUDED
#define TSR_HELLO_H_INCLUDED


#include "tsr.h"


/* record layer */
#define TSR_HELLO_RECORD_HEADER     5       /* type(1) version(2) length(2) */
#define TSR_HELLO_MAX_RECORD        16384   /* 2^14, plaintext */
#define TSR_HELLO_RT_HANDSHAKE      22
#define TSR_HELLO_VERSION_MAJOR     3

/* handshake layer */
#define TSR_HELLO_MSG_HEADER        4       /* type(1) length(3) */
#define TSR_HELLO_MT_CLIENT_HELLO   1
#define TSR_HELLO_RANDOM_LEN        32

/* protocol versions */
#define TSR_HELLO_TLS1_0            0x0301
#define TSR_HELLO_TLS1_2            0x0303
#define TSR_HELLO_TLS1_3            0x0304

/* extension types */
#define TSR_HELLO_EXT_SERVER_NAME   0
#define TSR_HELLO_EXT_EMS           23      /* extended_master_secret */
#define TSR_HELLO_EXT_TICKET        35      /* session_ticket */
#define TSR_HELLO_EXT_PSK           41      /* pre_shared_key */
#define TSR_HELLO_EXT_VERSIONS      43      /* supported_versions */
#define TSR_HELLO_EXT_PSK_MODES     45      /* psk_key_exchange_modes */

#define TSR_HELLO_SNI_HOST_NAME     0
#define TSR_HELLO_PSK_DHE_KE        1

/* a TLS 1.3 stateful ticket is the server's 32-byte session id */
#define TSR_HELLO_STATEFUL_ID_LEN   32


#endif /* TSR_HELLO_H_INCLUDED */
