
/*
 * What a Redis server can do, learned when a connection is set up: its
 * version from "INFO server", and the clear refusal when the connection
 * asks for something the server lacks (ACL users before 6.0).  The
 * synchronous client and the store's asynchronous side both use it, so
 * a server is judged the same way by nginx, the ticket ring and
 * tsr-admin.
 */


#ifndef TSR_CAPS_H_INCLUDED
#define TSR_CAPS_H_INCLUDED


#include <stddef.h>

#include <hiredis/hiredis.h>

#include "tsr_conn.h"


#define tsr_caps_version(major, minor, patch)                                \
    ((unsigned) (major) * 1000000 + (unsigned) (minor) * 1000                \
     + (unsigned) (patch))

#define TSR_CAPS_ACL        tsr_caps_version(6, 0, 0)     /* AUTH user pass */
#define TSR_CAPS_GETDEL     tsr_caps_version(6, 2, 0)

#define TSR_CAPS_UNKNOWN    0   /* INFO not asked (yet) */
#define TSR_CAPS_KNOWN      1   /* "version" and "text" are set */
#define TSR_CAPS_REFUSED    2   /* INFO failed or showed no version:
                                   "text" says why; assume everything */


typedef struct {
    int                 state;          /* TSR_CAPS_* */
    unsigned            version;        /* tsr_caps_version() */
    char                text[64];       /* "6.0.16", or why unknown */
} tsr_caps_t;


/*
 * Judges the reply to "INFO server" into "caps".  The reply is the
 * server's: any type, any size; only a "redis_version:" line of three
 * numbers of at most three digits each is taken.
 */
TSR_HIDDEN void tsr_caps_info(tsr_caps_t *caps, const redisReply *reply);

/*
 * Whether an error reply to "AUTH user password" is how Redis before 6.0
 * refuses it ("ERR wrong number of arguments for 'auth' command").
 */
TSR_HIDDEN int tsr_caps_auth_no_user(const redisReply *reply);

/*
 * The refusal of a connection to "addr": with "no_user" (AUTH took no
 * user name), or with "user" and a server known to be older than 6.0,
 * writes "redis at ADDR is VERSION: user= needs ACL users, Redis 6.0 or
 * later" into err and returns -1; otherwise 0.
 */
TSR_HIDDEN int tsr_caps_check(const tsr_caps_t *caps, const char *addr,
    int user, int no_user, char *err, size_t errlen);


#endif /* TSR_CAPS_H_INCLUDED */
