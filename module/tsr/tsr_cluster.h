
/*
 * Private to tsr_cluster.c: the slot map of a Redis Cluster store and
 * how often it is read again; and the shape of a CLUSTER SLOTS range,
 * which tsr-admin reads too.
 */


#ifndef TSR_CLUSTER_H_INCLUDED
#define TSR_CLUSTER_H_INCLUDED


#include "tsr_server.h"


#define TSR_CLUSTER_SLOTS              16384
#define TSR_CLUSTER_DEFAULT_PORT       6379

/* CLUSTER SLOTS again, ms: after this long, when a master is down */
#define TSR_CLUSTER_REFRESH            5000
#define TSR_CLUSTER_REFRESH_DEGRADED   250
/* at least this long between two reads of the map, ms */
#define TSR_CLUSTER_REFRESH_MIN        100
/* a node no longer a master keeps its connection this long, ms */
#define TSR_CLUSTER_RETIRE             2000


/*
 * One range of a CLUSTER SLOTS reply, [start, end, [host, port, ...],
 * replicas...]: types, counts and the slot range checked, the master's
 * [host, port, ...] in *master (a string and an integer, their values
 * unchecked).  Returns 0, or -1 when it does not parse.
 */

static inline int
tsr_cluster_slots_range(const redisReply *range, long long *start,
    long long *end, const redisReply **master)
{
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
        || range->element[0]->type != REDIS_REPLY_INTEGER
        || range->element[1]->type != REDIS_REPLY_INTEGER
        || range->element[2]->type != REDIS_REPLY_ARRAY
        || range->element[2]->elements < 2
        || range->element[2]->element[0]->type != REDIS_REPLY_STRING
        || range->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return -1;
    }

    *start = range->element[0]->integer;
    *end = range->element[1]->integer;
    *master = range->element[2];

    return (*start < 0 || *start > *end || *end >= TSR_CLUSTER_SLOTS) ? -1
                                                                       : 0;
}


#endif /* TSR_CLUSTER_H_INCLUDED */
