
/*
 * Private to the store (tsr_store.c, tsr_single.c, tsr_router.c): the
 * store object and what its files call of each other.  The topologies
 * see it through tsr_topo.h only.
 *
 * A store of one Redis server has one server (tsr_server.h).  Redis
 * Cluster and Sentinel stores are routers (tsr_router.h): they own
 * servers of their own, their nodes (one per cluster master; the master
 * and one sentinel), which run on the router's event loop through a
 * small adapter and do all the connection work, deadlines, breakers and
 * bounds included.  Nodes tell their router about connections and about
 * error replies through their hooks (tsr_server_hooks_t); the router
 * decides where keys go.
 */


#ifndef TSR_STORE_H_INCLUDED
#define TSR_STORE_H_INCLUDED


#include "tsr_router.h"


/*
 * The store: a server (srv) and its topology.  A store of one server
 * connects through srv; a router keeps its settings, loop, counts of
 * its own and last error there, and its nodes in "router".
 */

struct tsr_store_s {
    tsr_server_t        srv;
    const tsr_topo_ops_t  *topo;
    tsr_router_t        router;             /* Redis Cluster, Sentinel */
    unsigned            never_block:1;
};


/* ---- tsr_store.c: the store object and its lookups ---- */

TSR_HIDDEN void tsr_store_set_error(tsr_store_t *st,
    const char *fmt, ...) TSR_PRINTF(2, 3);
TSR_HIDDEN void tsr_store_log(tsr_store_t *st, int level,
    const char *fmt, ...) TSR_PRINTF(3, 4);
TSR_HIDDEN int tsr_store_fetch(tsr_store_t *st, int del, const char *key,
    size_t keylen, uint8_t *buf, size_t *len);
TSR_HIDDEN void tsr_store_stats_add(tsr_store_stats_t *to,
    const tsr_store_stats_t *from);

/*
 * Closes the synchronous connections of "st" and of its nodes without
 * counting a failure: a caller that uses a store once in a while (the
 * ticket ring) does not hold idle connections.  The next call connects
 * again, to the server the topology names then.
 */
TSR_HIDDEN void tsr_store_close(tsr_store_t *st);

/*
 * One deadline (monotonic ms, 0: none) for every synchronous exchange of
 * "st" and its nodes from now on, however slowly Redis answers: a caller
 * that waits on a whole series of commands (the ticket ring at start-up)
 * bounds the series, not each reply.
 */
TSR_HIDDEN void tsr_store_set_deadline(tsr_store_t *st, uint64_t deadline);


#endif /* TSR_STORE_H_INCLUDED */
