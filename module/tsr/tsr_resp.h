
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
 * - hiredis' asynchronous side calls assert(), and so abort(), on a reply
 *   no command is waiting for unless it is an error reply: one extra
 *   reply from the server kills the process.  A bounded asynchronous
 *   reader refuses such a reply before hiredis sees it.
 *
 * A refused reply is a protocol error to hiredis ("Out of memory"), which
 * drops the connection.  Bulk strings are buffered whole before they are
 * built; a caller reading asynchronously bounds that with
 * tsr_resp_pending(), a synchronous one reads with tsr_resp_reply() or
 * tsr_resp_command().
 */


#ifndef TSR_RESP_H_INCLUDED
#define TSR_RESP_H_INCLUDED


#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/*
 * Slots per reply.  The largest legitimate reply is CLUSTER SLOTS of a
 * big cluster; 8 MB of pointers at most.
 */
#define TSR_RESP_MAX_ELEMENTS  (1024 * 1024)

/* bytes of one reply held unparsed: far above any value the core keeps */
#define TSR_RESP_MAX_PENDING   (1024 * 1024)


#if (HIREDIS_MAJOR >= 1)
typedef size_t  tsr_resp_count_t;
#else
typedef int     tsr_resp_count_t;
#endif


/* one per reader, living as long as the reader */
typedef struct {
    redisReplyObjectFunctions         fns;      /* the bounded set */
    const redisReplyObjectFunctions  *orig;     /* the reader's own */
    const redisAsyncContext          *ac;       /* asynchronous: its
                                                   waiting callbacks */
    size_t                            left;     /* slots the reply being
                                                   read may still take */
} tsr_resp_t;


/*
 * A new top-level reply: allowed when a command awaits it (always, on
 * a synchronous context), with a fresh budget of slots.
 */

static inline int
tsr_resp_root(const redisReadTask *task)
{
    tsr_resp_t  *b = task->privdata;

    if (task->parent != NULL) {
        return 0;
    }

    /* a subscribed context (a sentinel's +switch-master) gets messages */

    if (b->ac != NULL && b->ac->replies.head == NULL
        && !(b->ac->c.flags & REDIS_SUBSCRIBED))
    {
        return -1;
    }

    b->left = TSR_RESP_MAX_ELEMENTS;

    return 0;
}


static inline void *
tsr_resp_array(const redisReadTask *task, tsr_resp_count_t elements)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_root(task) != 0
        || (long long) elements < 0 || (size_t) elements > b->left)
    {
        return NULL;
    }

    b->left -= (size_t) elements;

    return b->orig->createArray(task, elements);
}


static inline void *
tsr_resp_string(const redisReadTask *task, char *str, size_t len)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_root(task) != 0) {
        return NULL;
    }

    return b->orig->createString(task, str, len);
}


static inline void *
tsr_resp_integer(const redisReadTask *task, long long value)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_root(task) != 0) {
        return NULL;
    }

    return b->orig->createInteger(task, value);
}


static inline void *
tsr_resp_nil(const redisReadTask *task)
{
    tsr_resp_t  *b = task->privdata;

    if (tsr_resp_root(task) != 0) {
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
    b->ac = NULL;
    b->left = TSR_RESP_MAX_ELEMENTS;

    r->fn = &b->fns;
    r->privdata = b;
}


/* The same for an asynchronous context, refusing unrequested replies. */

static inline void
tsr_resp_bound_async(redisAsyncContext *ac, tsr_resp_t *b)
{
    tsr_resp_bound(ac->c.reader, b);

    b->ac = ac;
}


/* Bytes of an incomplete reply the reader holds. */

static inline size_t
tsr_resp_pending(const redisReader *r)
{
    return (r != NULL && r->len > r->pos) ? r->len - r->pos : 0;
}


/*
 * The next reply on a synchronous context, its unparsed bytes bounded:
 * redisGetReply() buffers a bulk string of any announced length whole,
 * so "$2147483648" and a fast sender would have it hold 2 GB.  Sends
 * what is queued first.  NULL with c->err set on failure, as hiredis.
 */

static inline void *
tsr_resp_reply(redisContext *c)
{
    int    done;
    void  *reply;

    do {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            return NULL;
        }
    } while (!done);

    for ( ;; ) {
        reply = NULL;

        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            return NULL;
        }

        if (reply != NULL) {
            return reply;
        }

        if (tsr_resp_pending(c->reader) > TSR_RESP_MAX_PENDING) {
            c->err = REDIS_ERR_PROTOCOL;
            snprintf(c->errstr, sizeof(c->errstr), "a reply of more than "
                     "%d bytes", TSR_RESP_MAX_PENDING);
            return NULL;
        }

        if (redisBufferRead(c) != REDIS_OK) {
            return NULL;
        }
    }
}


/* redisvCommand() and redisCommand() with the bound above */

static inline void *
tsr_resp_vcommand(redisContext *c, const char *fmt, va_list args)
{
    if (redisvAppendCommand(c, fmt, args) != REDIS_OK) {
        return NULL;
    }

    return tsr_resp_reply(c);
}


static inline void *
tsr_resp_command(redisContext *c, const char *fmt, ...)
{
    void     *reply;
    va_list   args;

    va_start(args, fmt);
    reply = tsr_resp_vcommand(c, fmt, args);
    va_end(args);

    return reply;
}


#endif /* TSR_RESP_H_INCLUDED */
