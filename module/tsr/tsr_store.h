
/*
 * Private to tsr_store.c: defaults and buffer sizes of the synchronous
 * Redis client.
 */


#ifndef TSR_STORE_H_INCLUDED
#define TSR_STORE_H_INCLUDED


#include "tsr.h"


#define TSR_STORE_DEFAULT_HOST         "127.0.0.1"
#define TSR_STORE_DEFAULT_PORT         6379
#define TSR_STORE_CONNECT_TIMEOUT      100     /* ms */
#define TSR_STORE_COMMAND_TIMEOUT      100     /* ms */
#define TSR_STORE_BACKOFF_MIN          50      /* ms */
#define TSR_STORE_BACKOFF_MAX          2000    /* ms */

/* room for "unix:" and a socket path, or "[" a host name "]:65535" */
#define TSR_STORE_ADDR_LEN             272
#define TSR_STORE_ERR_LEN              512
/* at most this much of a Redis error reply goes into a message */
#define TSR_STORE_REPLY_TEXT           128


#if defined(__GNUC__) || defined(__clang__)
#define TSR_STORE_PRINTF(fmt, args)                                          \
    __attribute__((format(printf, fmt, args)))
#else
#define TSR_STORE_PRINTF(fmt, args)
#endif


#endif /* TSR_STORE_H_INCLUDED */
