
/*
 * Private to tsr_cluster.c: the slot map of a Redis Cluster store and
 * how often it is read again.
 */


#ifndef TSR_CLUSTER_H_INCLUDED
#define TSR_CLUSTER_H_INCLUDED


#include "tsr_store.h"


#define TSR_CLUSTER_SLOTS              16384
#define TSR_CLUSTER_DEFAULT_PORT       6379

/* CLUSTER SLOTS again, ms: after this long, when a master is down */
#define TSR_CLUSTER_REFRESH            5000
#define TSR_CLUSTER_REFRESH_DEGRADED   250
/* at least this long between two reads of the map, ms */
#define TSR_CLUSTER_REFRESH_MIN        100
/* a node no longer a master keeps its connection this long, ms */
#define TSR_CLUSTER_RETIRE             2000


#endif /* TSR_CLUSTER_H_INCLUDED */
