
/*
 * Bounds on the replies a hiredis reader builds, for every core file
 * that reads from Redis; nothing a server sends is trusted.
 *
 * - hiredis 0.14 allocates an array's element pointers as soon as it
 *   reads "*<count>" (up to 2^31 - 1 of them), and walks every slot when
 *   it frees the reply: five bytes from a broken or hostile server map
 *   16 GB and stall the process for seconds, and nested arrays multiply
 *   that.  A bounded reader refuses a reply whose arrays, nested ones
 *   included, would hold more than TSR_RESP_MAX_ELEMENTS slots in all.
 *
 * - Those slots and the strings they point to are memory too: 256 bulk
 *   strings of 1 MB each pass every bound on unparsed bytes while the
 *   reply grows to 256 MB.  Each reply gets a budget of
 *   TSR_RESP_MAX_BYTES for its strings and its reply objects, children
 *   included, charged as the reader builds them.
 *
 * - A reply no command is waiting for is refused by the reader of an
 *   asynchronous connection (tsr_conn.c): hiredis' own asynchronous side
 *   abort()ed on one, and callers need not consider it.
 *
 * - On a subscribed connection (a sentinel's +switch-master) such replies
 *   are pub/sub messages: "*1\r\n$7\r\nmessage\r\n" from a broken or
 *   hostile sentinel once aborted the process in hiredis.  A bounded
 *   reader accepts a message only in the shapes the core subscribes for:
 *   an array of three, "subscribe", a string and an integer, or
 *   "message", a string and a string.
 *
 * A refused reply is a protocol error of the reader ("Out of memory"),
 * which drops the connection.  Bulk strings are buffered whole before they are
 * built; the caller bounds that with tsr_resp_pending() after each read
 * (tsr_conn's owners: the store and tsr_sync.c).
 */


#ifndef TSR_RESP_H_INCLUDED
#define TSR_RESP_H_INCLUDED


#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <openssl/crypto.h>


/*
 * Slots per reply.  The largest legitimate reply is CLUSTER SLOTS of a
 * big cluster; 8 MB of pointers at most.
 */
#define TSR_RESP_MAX_ELEMENTS  (1024 * 1024)

/*
 * Bytes per reply, strings and reply objects together: CLUSTER SLOTS of
 * a cluster whose slots are split in some 10000 ranges.
 */
#define TSR_RESP_MAX_BYTES     (16 * 1024 * 1024)

/* bytes of one reply held unparsed: far above any value the core keeps */
#define TSR_RESP_MAX_PENDING   (1024 * 1024)


#if (HIREDIS_MAJOR >= 1)
typedef size_t  tsr_resp_count_t;
#else
typedef int     tsr_resp_count_t;
#endif


/* the shape of the reply being read */
#define TSR_RESP_REPLY      0       /* an answer to a command */
#define TSR_RESP_PUSH       1       /* a pub/sub message, kind not known */
#define TSR_RESP_SUBSCRIBE  2       /* "subscribe", channel, count */
#define TSR_RESP_MESSAGE    3       /* "message", channel, payload */


/* what an asynchronous connection's replies may be, kept up to date by it */
typedef struct {
    size_t                            waiting;  /* commands awaiting
                                                   replies */
    int                               subscribed;   /* pub/sub messages
                                                       may come too */
} tsr_resp_async_t;


/* one per reader, living as long as the reader */
typedef struct {
    redisReplyObjectFunctions         fns;      /* the bounded set */
    const redisReplyObjectFunctions  *orig;     /* the reader's own */
    const tsr_resp_async_t           *async;    /* asynchronous: what
                                                   its replies may be */
    size_t                            left;     /* slots the reply being
                                                   read may still take */
    size_t                            bytes;    /* and bytes */
    int                               shape;    /* TSR_RESP_REPLY, ... */
} tsr_resp_t;


/*
 * A pub/sub message's element "idx" of "type": 0 names the kind, 1 the
 * channel, 2 is the payload or the subscription count.  Never an array.
 */

static inline int
tsr_resp_push_element(tsr_resp_t *b, int idx, int type, const char *str,
    size_t len)
{
    switch (idx) {

    case 0:
        if (type != REDIS_REPLY_STRING) {
            return -1;
        }

        if (len == sizeof("subscribe") - 1
            && memcmp(str, "subscribe", len) == 0)
        {
            b->shape = TSR_RESP_SUBSCRIBE;
            return 0;
        }

        if (len == sizeof("message") - 1 && memcmp(str, "message", len) == 0)
        {
            b->shape = TSR_RESP_MESSAGE;
            return 0;
        }

        return -1;

    case 1:
        return (type == REDIS_REPLY_STRING) ? 0 : -1;

    case 2:
        if (b->shape == TSR_RESP_SUBSCRIBE) {
            return (type == REDIS_REPLY_INTEGER) ? 0 : -1;
        }

        return (b->shape == TSR_RESP_MESSAGE && type == REDIS_REPLY_STRING)
               ? 0 : -1;

    default:
        return -1;
    }
}


/*
 * Whether the reader may build an object of "type" with "elements" slots
 * (arrays) or "len" bytes (strings): a new top-level reply is
 * allowed when a command awaits it (always, on a synchronous context) or
 * as a pub/sub message of the right shape on a subscribed one, and gets
 * fresh budgets of slots and bytes.  "type" is the object's: a nil bulk
 * string's task says REDIS_REPLY_STRING.
 */

static inline int
tsr_resp_check(const redisReadTask *task, int type, const char *str,
    size_t len, long long elements)
{
    size_t       cost;
    tsr_resp_t  *b = task->privdata;

    if (task->parent == NULL) {
        b->shape = TSR_RESP_REPLY;

        if (b->async != NULL && b->async->waiting == 0) {
            if (!b->async->subscribed
                || type != REDIS_REPLY_ARRAY || elements != 3)
            {
                return -1;
            }

            b->shape = TSR_RESP_PUSH;
        }

        b->left = TSR_RESP_MAX_ELEMENTS;
        b->bytes = TSR_RESP_MAX_BYTES;

    } else if (b->shape != TSR_RESP_REPLY
               && tsr_resp_push_element(b, task->idx, type, str, len) != 0)
    {
        return -1;
    }

    if (type == REDIS_REPLY_ARRAY) {
        if (elements < 0 || (size_t) elements > b->left) {
            return -1;
        }

        b->left -= (size_t) elements;

        cost = (size_t) elements * (sizeof(redisReply) + sizeof(void *));

    } else {
        cost = len + 1;
    }

    if (task->parent == NULL) {
        cost += sizeof(redisReply);
    }

    if (cost > b->bytes) {
        return -1;
    }

    b->bytes -= cost;

    return 0;
}


static inline void *
tsr_resp_array(const redisReadTask *task, tsr_resp_count_t elements)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_check(task, REDIS_REPLY_ARRAY, NULL, 0, (long long) elements)
        != 0)
    {
        return NULL;
    }

    return b->orig->createArray(task, elements);
}


static inline void *
tsr_resp_string(const redisReadTask *task, char *str, size_t len)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_check(task, task->type, str, len, 0) != 0) {
        return NULL;
    }

    return b->orig->createString(task, str, len);
}


static inline void *
tsr_resp_integer(const redisReadTask *task, long long value)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_check(task, REDIS_REPLY_INTEGER, NULL, 0, 0) != 0) {
        return NULL;
    }

    return b->orig->createInteger(task, value);
}


static inline void *
tsr_resp_nil(const redisReadTask *task)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_check(task, REDIS_REPLY_NIL, NULL, 0, 0) != 0) {
        return NULL;
    }

    return b->orig->createNil(task);
}


/*
 * Installs the bounds on a reader right after its context was created,
 * before it reads anything; "b" must outlive the reader.
 */

static inline void
tsr_resp_bound(redisReader *r, tsr_resp_t *b)
{
    if (r == NULL || r->fn == NULL || r->fn == &b->fns) {
        return;
    }

    b->orig = r->fn;
    b->fns = *r->fn;
    b->fns.createArray = tsr_resp_array;
    b->fns.createString = tsr_resp_string;
    b->fns.createInteger = tsr_resp_integer;
    b->fns.createNil = tsr_resp_nil;
    b->async = NULL;
    b->left = TSR_RESP_MAX_ELEMENTS;
    b->bytes = TSR_RESP_MAX_BYTES;
    b->shape = TSR_RESP_REPLY;

    r->fn = &b->fns;
    r->privdata = b;
}


/*
 * The same for the reader of an asynchronous connection, refusing
 * replies no command awaits ("a" says) unless they are pub/sub messages
 * of the right shape on a subscribed connection.
 */

static inline void
tsr_resp_bound_async(redisReader *r, tsr_resp_t *b, const tsr_resp_async_t *a)
{
    tsr_resp_bound(r, b);

    b->async = a;
}


/*
 * Wipes the reader's buffer once it holds no incomplete reply: the
 * replies it held were sessions.
 */

static inline void
tsr_resp_wipe(redisReader *r)
{
    if (r != NULL && r->buf != NULL && r->pos == r->len) {
        OPENSSL_cleanse(r->buf, sdsalloc(r->buf));
    }
}


/* Bytes of an incomplete reply the reader holds. */

static inline size_t
tsr_resp_pending(const redisReader *r)
{
    return (r != NULL && r->len > r->pos) ? r->len - r->pos : 0;
}


#endif /* TSR_RESP_H_INCLUDED */
