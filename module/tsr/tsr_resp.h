
/*
 * Bounds on the replies a hiredis reader builds, for every core file
 * that reads from Redis.  hiredis 0.14 allocates an array's element
 * pointers as soon as it reads "*<count>" (up to 2^31 - 1 of them), and
 * walks every slot when it frees the reply: five bytes from a broken or
 * hostile server map 16 GB and stall the process for seconds, and nested
 * arrays multiply that.  tsr_resp_bound() makes a reader refuse a reply
 * whose arrays, nested ones included, would hold more than
 * TSR_RESP_MAX_ELEMENTS slots in all: hiredis reports it as a protocol
 * error ("Out of memory") and the connection is dropped.  Bulk strings
 * are buffered whole before they are built; a caller reading
 * asynchronously bounds that with tsr_resp_pending().
 */


#ifndef TSR_RESP_H_INCLUDED
#define TSR_RESP_H_INCLUDED


#include <stddef.h>

#include <hiredis/hiredis.h>


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
    size_t                            left;     /* slots the reply being
                                                   read may still take */
} tsr_resp_t;


static inline void *
tsr_resp_array(const redisReadTask *task, tsr_resp_count_t elements)
{
    tsr_resp_t  *b = task->privdata;

    /* the top level starts a new reply */

    if (task->parent == NULL) {
        b->left = TSR_RESP_MAX_ELEMENTS;
    }

    if ((long long) elements < 0 || (size_t) elements > b->left) {
        return NULL;
    }

    b->left -= (size_t) elements;

    return b->orig->createArray(task, elements);
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
    b->left = TSR_RESP_MAX_ELEMENTS;

    r->fn = &b->fns;
    r->privdata = b;
}


/* Bytes of an incomplete reply the reader holds. */

static inline size_t
tsr_resp_pending(const redisReader *r)
{
    return (r != NULL && r->len > r->pos) ? r->len - r->pos : 0;
}


#endif /* TSR_RESP_H_INCLUDED */
