
/*
 * The core's event loop (tsr_loop_t) on nginx's: the sockets a store
 * watches as nginx connections, its deadline as a timer, its host name
 * resolved by nginx's resolver.
 */


#include "ngx_ssl_session_redis_glue.h"


/* sockets whose posted writes a flush runs (a cluster's masters) */
#define NGX_SSL_SESSION_REDIS_FLUSH_MAX    64


/* a resolution in flight, the handle given to the core */
typedef struct {
    ngx_resolver_ctx_t     *ctx;            /* NULL: answered */
    ngx_str_t               name;           /* follows the struct */
    tsr_loop_resolved_pt    done;
    void                   *arg;
    const char             *err;
    unsigned                starting:1;     /* in ngx_resolve_name() */
    unsigned                answered:1;
    char                    ip[NGX_SOCKADDR_STRLEN + 1];
} ngx_ssl_session_redis_resolve_t;


static int ngx_ssl_session_redis_loop_watch(void *data, int fd,
    int readable, int writable);
static void ngx_ssl_session_redis_loop_unwatch(void *data, int fd);
static void ngx_ssl_session_redis_loop_timer(void *data, uint64_t ms);
static uint64_t ngx_ssl_session_redis_loop_now(void *data);
static void *ngx_ssl_session_redis_loop_resolve(void *data, const char *host,
    tsr_loop_resolved_pt done, void *arg);
static void ngx_ssl_session_redis_loop_resolve_cancel(void *data,
    void *handle);
static void ngx_ssl_session_redis_resolve_handler(ngx_resolver_ctx_t *ctx);
static void ngx_ssl_session_redis_read_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_write_handler(ngx_event_t *ev);
static void ngx_ssl_session_redis_timer_handler(ngx_event_t *ev);
static ngx_connection_t *ngx_ssl_session_redis_find_conn(
    ngx_ssl_session_redis_store_t *rs, int fd);


void
ngx_ssl_session_redis_loop_init(ngx_cycle_t *cycle,
    ngx_ssl_session_redis_store_t *rs)
{
    tsr_loop_t              loop;
    tsr_store_async_conf_t  aconf;

    rs->log = cycle->log;

    /* nginx's debug log names a timer's connection: give it one */
    rs->timer.data = &ngx_ssl_session_redis_dumb;
    rs->timer.handler = ngx_ssl_session_redis_timer_handler;
    rs->timer.log = cycle->log;
    rs->timer.cancelable = 1;

    ngx_memzero(&loop, sizeof(tsr_loop_t));
    loop.data = rs;
    loop.watch = ngx_ssl_session_redis_loop_watch;
    loop.unwatch = ngx_ssl_session_redis_loop_unwatch;
    loop.timer = ngx_ssl_session_redis_loop_timer;
    loop.now = ngx_ssl_session_redis_loop_now;

    if (rs->resolver != NULL) {
        loop.resolve = ngx_ssl_session_redis_loop_resolve;
        loop.resolve_cancel = ngx_ssl_session_redis_loop_resolve_cancel;
    }

    ngx_memzero(&aconf, sizeof(tsr_store_async_conf_t));

    /*
     * Not fatal: a worker serves full handshakes while Redis is
     * away, and the store keeps trying to connect.
     */

    if (tsr_store_set_async(rs->store, &loop, &aconf) != TSR_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "ssl_session_redis \"%V\": %s", &rs->address,
                      tsr_store_error(rs->store));
    }
}


/* the store's event loop, on nginx's */

static int
ngx_ssl_session_redis_loop_watch(void *data, int fd, int readable,
    int writable)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    ngx_connection_t  *c;

    c = ngx_ssl_session_redis_find_conn(rs, fd);

    if (c == NULL) {
        c = ngx_get_connection(fd, rs->log);
        if (c == NULL) {
            return -1;
        }

        c->data = rs;
        c->read->handler = ngx_ssl_session_redis_read_handler;
        c->write->handler = ngx_ssl_session_redis_write_handler;
        c->read->log = rs->log;
        c->write->log = rs->log;

        if (rs->conn == NULL) {
            ngx_queue_init(&c->queue);
            rs->conn = c;

        } else {
            ngx_queue_insert_tail(&rs->conn->queue, &c->queue);
        }
    }

    /*
     * With epoll the socket is registered once, both ways, edge-triggered,
     * as nginx registers its own connections: no epoll_ctl() per command.
     * A write edge with nothing to write costs hiredis a look at an empty
     * buffer.  A write that meets a full socket is not posted again: the
     * store ignores hiredis' request to write from inside a write, and the
     * rest waits for the socket's next write edge.
     */

    if (ngx_event_flags & NGX_USE_EPOLL_EVENT) {
        if (!c->read->active && ngx_add_conn(c) != NGX_OK) {
            return -1;
        }

        if (writable) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return 0;
    }

    if (readable && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!readable && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if (writable) {
        if (!c->write->active) {
            if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
                != NGX_OK)
            {
                return -1;
            }
        }

        /* flush what was queued now: the write edge may be spent */
        ngx_post_event(c->write, &ngx_posted_events);

    } else if (c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


/*
 * A store may watch several sockets at once (Redis Cluster: one per
 * master; Sentinel: the master and a sentinel).  Their connections form
 * a ring through c->queue, which nginx uses for reusable connections
 * only; rs->conn is any one of them.
 */

static ngx_connection_t *
ngx_ssl_session_redis_find_conn(ngx_ssl_session_redis_store_t *rs, int fd)
{
    ngx_queue_t       *q;
    ngx_connection_t  *c;

    if (rs->conn == NULL) {
        return NULL;
    }

    q = &rs->conn->queue;

    do {
        c = ngx_queue_data(q, ngx_connection_t, queue);

        if (c->fd == fd) {
            return c;
        }

        q = ngx_queue_next(q);

    } while (q != &rs->conn->queue);

    return NULL;
}


static void
ngx_ssl_session_redis_loop_unwatch(void *data, int fd)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    ngx_queue_t       *q;
    ngx_connection_t  *c;

    c = ngx_ssl_session_redis_find_conn(rs, fd);

    if (c == NULL) {
        return;
    }

    /* the store closes the socket right after: epoll forgets it then */

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    q = ngx_queue_next(&c->queue);

    if (q == &c->queue) {
        rs->conn = NULL;

    } else {
        rs->conn = ngx_queue_data(q, ngx_connection_t, queue);
        ngx_queue_remove(&c->queue);
    }

    /* stale events of this batch are recognized by the -1 */
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_ssl_session_redis_loop_timer(void *data, uint64_t ms)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    if (ms == 0) {
        if (rs->timer.timer_set) {
            ngx_del_timer(&rs->timer);
        }

        return;
    }

    /*
     * ngx_add_timer() keeps an armed timer when the new time is within
     * 300 ms of the old one: a deadline moved earlier must not fire late.
     */

    if (rs->timer.timer_set) {
        ngx_del_timer(&rs->timer);
    }

    ngx_add_timer(&rs->timer, (ngx_msec_t) ms);
}


static uint64_t
ngx_ssl_session_redis_loop_now(void *data)
{
    return ngx_current_msec;
}


/*
 * The store's resolver: nginx's, as "server ... resolve" in an upstream
 * uses it.  One resolution in flight per store; "done" runs from inside
 * ngx_resolve_name() when the answer is cached, and then resolve()
 * returns NULL, as the core expects.
 */

static void *
ngx_ssl_session_redis_loop_resolve(void *data, const char *host,
    tsr_loop_resolved_pt done, void *arg)
{
    ngx_ssl_session_redis_store_t  *rs = data;

    size_t                             len;
    ngx_resolver_ctx_t                *ctx;
    ngx_ssl_session_redis_resolve_t   *rr;

    len = ngx_strlen(host);

    rr = ngx_alloc(sizeof(ngx_ssl_session_redis_resolve_t) + len + 1,
                   rs->log);
    if (rr == NULL) {
        done(NULL, "out of memory", arg);
        return NULL;
    }

    ngx_memzero(rr, sizeof(ngx_ssl_session_redis_resolve_t));
    rr->name.data = (u_char *) (rr + 1);
    rr->name.len = len;
    ngx_memcpy(rr->name.data, host, len + 1);
    rr->done = done;
    rr->arg = arg;

    ctx = ngx_resolve_start(rs->resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_free(rr);
        done(NULL, "ngx_resolve_start() failed", arg);
        return NULL;
    }

    ctx->name = rr->name;
    ctx->handler = ngx_ssl_session_redis_resolve_handler;
    ctx->data = rr;
    ctx->timeout = rs->resolver_timeout;

    rr->ctx = ctx;
    rr->starting = 1;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* nginx has freed "ctx" */
        ngx_free(rr);
        done(NULL, "ngx_resolve_name() failed", arg);
        return NULL;
    }

    rr->starting = 0;

    if (rr->ctx != NULL) {
        return rr;
    }

    /* answered from the cache, inside ngx_resolve_name() */

    done(rr->answered ? rr->ip : NULL, rr->err, arg);
    ngx_free(rr);

    return NULL;
}


static void
ngx_ssl_session_redis_loop_resolve_cancel(void *data, void *handle)
{
    ngx_ssl_session_redis_resolve_t  *rr = handle;

    if (rr == NULL) {
        return;
    }

    if (rr->ctx != NULL) {
        ngx_resolve_name_done(rr->ctx);
    }

    ngx_free(rr);
}


static void
ngx_ssl_session_redis_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_ssl_session_redis_resolve_t  *rr = ctx->data;

    size_t  len;

    if (ctx->state == NGX_OK && ctx->naddrs > 0) {
        len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                            (u_char *) rr->ip, sizeof(rr->ip) - 1, 0);
        rr->ip[len] = '\0';
        rr->answered = (len > 0);
        rr->err = "no address";

    } else if (ctx->state == NGX_OK) {
        rr->err = "no address";

    } else {
        rr->err = ngx_resolver_strerror(ctx->state);
    }

    ngx_resolve_name_done(ctx);
    rr->ctx = NULL;

    if (rr->starting) {
        return;
    }

    rr->done(rr->answered ? rr->ip : NULL, rr->err, rr->arg);
    ngx_free(rr);
}


/*
 * The writes the store's sockets have posted for the end of this turn,
 * now: what a connection held until its session's SET had left (a TLS
 * 1.3 ticket, a TLS 1.2 Finished) follows it, at the turn's first
 * release or when the connection must send early.
 */

void
ngx_ssl_session_redis_loop_flush(ngx_ssl_session_redis_store_t *rs)
{
    int                fds[NGX_SSL_SESSION_REDIS_FLUSH_MAX];
    ngx_uint_t         i, n;
    ngx_queue_t       *q;
    ngx_connection_t  *c;

    if (rs == NULL || rs->conn == NULL) {
        return;
    }

    /* by descriptor: a write may drop a socket, and free its connection */

    n = 0;
    q = &rs->conn->queue;

    do {
        c = ngx_queue_data(q, ngx_connection_t, queue);

        if (c->write->posted && n < NGX_SSL_SESSION_REDIS_FLUSH_MAX) {
            ngx_delete_posted_event(c->write);
            fds[n++] = c->fd;
        }

        q = ngx_queue_next(q);

    } while (q != &rs->conn->queue);

    for (i = 0; i < n; i++) {
        tsr_store_on_write_fd(rs->store, fds[i]);
    }
}


static void
ngx_ssl_session_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_ssl_session_redis_store_t  *rs = c->data;

    tsr_store_on_read_fd(rs->store, c->fd);
}


static void
ngx_ssl_session_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t               *c = ev->data;
    ngx_ssl_session_redis_store_t  *rs = c->data;

    tsr_store_on_write_fd(rs->store, c->fd);
}


static void
ngx_ssl_session_redis_timer_handler(ngx_event_t *ev)
{
    ngx_ssl_session_redis_store_t  *rs;

    rs = (ngx_ssl_session_redis_store_t *)
             ((u_char *) ev - offsetof(ngx_ssl_session_redis_store_t, timer));

    tsr_store_on_timer(rs->store);
}
