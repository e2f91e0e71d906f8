
/*
 * Private to tsr_store.c: defaults, limits and buffer sizes of the Redis
 * client, synchronous and asynchronous.
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

/* asynchronous side */
#define TSR_STORE_MAX_INFLIGHT         256     /* lookups */
#define TSR_STORE_BREAKER_FAILURES     5
#define TSR_STORE_QUEUE_FACTOR         4       /* commands awaiting replies,
                                                  per allowed lookup */
#define TSR_STORE_SETUP_COMMANDS       2       /* AUTH, SELECT (or PING) */
#define TSR_STORE_STALL_MIN            1000    /* ms without replies, at
                                                  least, before a drop */
#define TSR_STORE_STALL_FACTOR         4       /* times the longest timeout */
#define TSR_STORE_LIMIT                1000000 /* max_inflight and breaker
                                                  failures, at most */
#define TSR_STORE_MAX_TIMEOUT          86400000    /* a lookup's, ms */

/* room for "unix:" and a socket path, or "[" a host name "]:65535" */
#define TSR_STORE_ADDR_LEN             272
#define TSR_STORE_ERR_LEN              512
/* a numeric IPv6 address with a scope ("%eth0") */
#define TSR_STORE_IP_LEN               64
/* at most this much of a Redis error reply goes into a message */
#define TSR_STORE_REPLY_TEXT           128


#if defined(__GNUC__) || defined(__clang__)
#define TSR_STORE_PRINTF(fmt, args)                                          \
    __attribute__((format(printf, fmt, args)))
#else
#define TSR_STORE_PRINTF(fmt, args)
#endif


#endif /* TSR_STORE_H_INCLUDED */
