
/*
 * The single server (tsr_topo_single): the store's own server does all
 * the work (tsr_server_ops.c); the ops table only points the store's
 * entry points at it.
 */


#include "tsr_topo.h"


static void
tsr_single_destroy(tsr_store_t *st)
{
    /* the store frees its server */
    return;
}


static int
tsr_single_connect(tsr_store_t *st)
{
    return tsr_server_connect(tsr_store_server(st));
}


static int
tsr_single_op(tsr_store_t *st, const tsr_store_op_t *op)
{
    return tsr_server_op(tsr_store_server(st), op);
}


static int
tsr_single_async(tsr_store_t *st, const tsr_loop_t *loop)
{
    tsr_server_t  *srv;

    srv = tsr_store_server(st);

    return tsr_server_async(srv, loop, srv->max_inflight,
                            srv->breaker_failures);
}


static tsr_req_t *
tsr_single_get_async(tsr_store_t *st, const char *name, const char *key,
    size_t keylen, int getdel, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg)
{
    return tsr_server_get_async(tsr_store_server(st), name, key, keylen, getdel,
                                timeout_ms, done, arg);
}


static void
tsr_single_timer(tsr_store_t *st)
{
    tsr_server_on_timer(tsr_store_server(st));
}


static void
tsr_single_read(tsr_store_t *st, int fd)
{
    tsr_server_on_read(tsr_store_server(st), fd);
}


static void
tsr_single_write(tsr_store_t *st, int fd)
{
    tsr_server_on_write(tsr_store_server(st), fd);
}


static int
tsr_single_state(const tsr_store_t *st)
{
    return tsr_server_state(tsr_store_server(st));
}


const tsr_topo_ops_t  tsr_topo_single = {
    .name = "single",
    .destroy = tsr_single_destroy,
    .connect = tsr_single_connect,
    .op = tsr_single_op,
    .async = tsr_single_async,
    .get_async = tsr_single_get_async,
    .on_timer = tsr_single_timer,
    .on_read = tsr_single_read,
    .on_write = tsr_single_write,
    .state = tsr_single_state,
    .eval = 1
};
