
/*
 * Private to tsr_sentinel.c: Redis Sentinel defaults.
 */


#ifndef TSR_SENTINEL_H_INCLUDED
#define TSR_SENTINEL_H_INCLUDED


#include "tsr_server.h"


#define TSR_SENTINEL_DEFAULT_PORT      26379
#define TSR_SENTINEL_CHANNEL           "+switch-master"

/*
 * The subscription is renewed this often, ms: the sentinel's answer
 * proves the connection alive (a stopped sentinel is left after the
 * node's stall time), and a subscribed connection takes no PING that
 * hiredis 0.14 could match to a callback.
 */
#define TSR_SENTINEL_KEEPALIVE         1000

/* the master is asked for again at most this often, ms */
#define TSR_SENTINEL_REQUERY           1000


#endif /* TSR_SENTINEL_H_INCLUDED */
