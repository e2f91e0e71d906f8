
/*
 * The single server (tsr_topo_single): the entry points of the ops table
 * (tsr_topo.h) on the store's own connection.  A router's nodes are
 * stores of one server too, so these run on each node as well, when
 * tsr_router.c calls the public calls on it.  The connection work under
 * them (connecting, commands, replies, the breaker, the timer, the
 * loop's adapter) is tsr_server.c's.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>


/*
 * Reads of one socket per event: a Redis that keeps the socket full must
 * not keep the worker from its other connections; the rest is read on
 * the next turn of the loop.
 */
#define TSR_STORE_READS_PER_EVENT  8


static void tsr_store_single_destroy(tsr_store_t *st);
static int tsr_store_single_connect(tsr_store_t *st);
static int tsr_store_single_op(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_set(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_del(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_fetch(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_eval(tsr_store_t *st, const tsr_store_op_t *op);
static int tsr_store_single_lookup(tsr_store_t *st, const tsr_store_op_t *op,
    const char *name, int rc, redisReply *reply);
static int tsr_store_single_async(tsr_store_t *st, const tsr_loop_t *loop);
static tsr_req_t *tsr_store_single_get_async(tsr_store_t *st,
    const char *name, const char *key, size_t keylen, int getdel,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);
static void tsr_store_single_timer(tsr_store_t *st);
static void tsr_store_single_read(tsr_store_t *st, int fd);
static void tsr_store_single_write(tsr_store_t *st, int fd);
static int tsr_store_single_state(const tsr_store_t *st);


static int
tsr_store_single_connect(tsr_store_t *st)
{
    int  rc;

    rc = tsr_store_ready(st);

    if (rc != TSR_OK) {
        st->srv.stats.errors++;
    }

    return rc;
}


/* a single server has no nodes and no router state */

static void
tsr_store_single_destroy(tsr_store_t *st)
{
    return;
}


static int
tsr_store_single_op(tsr_store_t *st, const tsr_store_op_t *op)
{
    switch (op->op) {

    case TSR_STORE_OP_SET:
        return tsr_store_single_set(st, op);

    case TSR_STORE_OP_DEL:
        return tsr_store_single_del(st, op);

    case TSR_STORE_OP_EVAL:
        return tsr_store_single_eval(st, op);

    default: /* TSR_STORE_OP_GET, TSR_STORE_OP_GETDEL */
        return tsr_store_single_fetch(st, op);
    }
}


static int
tsr_store_single_set(tsr_store_t *st, const tsr_store_op_t *op)
{
    int             rc;
    size_t          keylen, vlen;
    uint64_t        ttl_ms;
    const char     *key;
    redisReply     *reply;
    const uint8_t  *val;

    key = op->key;
    keylen = op->keylen;
    val = op->val;
    vlen = op->vlen;
    ttl_ms = op->ttl_ms;

    st->srv.stats.sets++;

    /* a cluster node's SET keeps hiredis' formatting: redirections resend */

    if (st->srv.async && st->parent == NULL) {
        rc = TSR_OK;

        if (tsr_store_writable(st, "SET")) {
            rc = tsr_store_async_set(st, key, keylen, val, vlen, ttl_ms);
        }

        tsr_store_write_done(st, "SET", rc);

        return TSR_OK;
    }

    if (st->srv.async) {
        tsr_store_write_async(st, "SET", "SET %b %b PX %llu", key, keylen,
                              val != NULL ? (const void *) val : "", vlen,
                              (unsigned long long) ttl_ms);
        return TSR_OK;
    }

    rc = tsr_store_command(st, &reply, "SET", "SET %b %b PX %llu",
                           key, keylen, val != NULL ? (const void *) val : "",
                           vlen, (unsigned long long) ttl_ms);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_STATUS
        && reply->len == 2 && memcmp(reply->str, "OK", 2) == 0)
    {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "SET", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_store_set_error(st, "SET on %s: unexpected reply type %d",
                            st->srv.addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_store_free_reply(st, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        st->srv.stats.sets--;
        return rc;
    }

    st->srv.stats.errors++;

    return rc;
}


static int
tsr_store_single_del(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          rc;
    size_t       keylen;
    const char  *key;
    redisReply  *reply;

    key = op->key;
    keylen = op->keylen;

    st->srv.stats.dels++;

    if (st->srv.async) {
        tsr_store_write_async(st, "DEL", "DEL %b", key, keylen);
        return TSR_OK;
    }

    rc = tsr_store_command(st, &reply, "DEL", "DEL %b", key, keylen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "DEL", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_store_set_error(st, "DEL on %s: unexpected reply type %d",
                            st->srv.addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_store_free_reply(st, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        st->srv.stats.dels--;
        return rc;
    }

    st->srv.stats.errors++;

    return rc;
}


/*
 * EVALSHA; a server that has not cached the script (restarted, flushed)
 * gets SCRIPT LOAD and EVALSHA once more, so that the documented ACL
 * (+evalsha +script|load, not +eval) suffices.
 */

static int
tsr_store_single_eval(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          i, rc;
    char         sha[2 * SHA_DIGEST_LENGTH + 1];
    size_t       avlen[TSR_STORE_EVAL_ARGS + 4];
    uint8_t      md[SHA_DIGEST_LENGTH];
    const char  *av[TSR_STORE_EVAL_ARGS + 4];
    redisReply  *reply;

    static const char  hex[] = "0123456789abcdef";

    st->srv.stats.gets++;

    if (SHA1((const uint8_t *) op->script, op->script_len, md) == NULL) {
        (void) tsr_err_openssl(sha, sizeof(sha));
        tsr_store_set_error(st, "EVAL: SHA1() failed: %s", sha);
        rc = TSR_ERROR;
        goto failed;
    }

    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sha[2 * i] = hex[md[i] >> 4];
        sha[2 * i + 1] = hex[md[i] & 0x0f];
    }

    sha[2 * SHA_DIGEST_LENGTH] = '\0';

    av[0] = "EVALSHA";
    avlen[0] = sizeof("EVALSHA") - 1;
    av[1] = sha;
    avlen[1] = 2 * SHA_DIGEST_LENGTH;
    av[2] = "1";
    avlen[2] = 1;
    av[3] = op->key;
    avlen[3] = op->keylen;

    for (i = 0; i < op->argc; i++) {
        av[4 + i] = op->argv[i];
        avlen[4 + i] = (op->argvlen != NULL) ? op->argvlen[i]
                                             : strlen(op->argv[i]);
    }

    rc = tsr_store_command_argv(st, &reply, "EVALSHA", op->argc + 4, av,
                                avlen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL
        && reply->len >= sizeof("NOSCRIPT") - 1
        && memcmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1) == 0)
    {
        freeReplyObject(reply);

        tsr_store_log(st, TSR_LOG_INFO, "loading a script of %zu bytes "
                      "into redis at %s", op->script_len, st->srv.addr);

        rc = tsr_store_command(st, &reply, "SCRIPT LOAD", "SCRIPT LOAD %b",
                               op->script, op->script_len);
        if (rc != TSR_OK) {
            goto failed;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            tsr_store_reply_error(st, "SCRIPT LOAD", reply);
            freeReplyObject(reply);
            rc = TSR_ESERVER;
            goto failed;
        }

        if (reply->type != REDIS_REPLY_STRING
            || reply->len != 2 * SHA_DIGEST_LENGTH
            || strncasecmp(reply->str, sha, 2 * SHA_DIGEST_LENGTH) != 0)
        {
            tsr_store_set_error(st, "SCRIPT LOAD on %s: unexpected reply, "
                                "not the SHA-1 %s", st->srv.addr, sha);
            freeReplyObject(reply);
            rc = TSR_EPROTO;
            goto failed;
        }

        freeReplyObject(reply);

        rc = tsr_store_command_argv(st, &reply, "EVALSHA", op->argc + 4, av,
                                    avlen);
        if (rc != TSR_OK) {
            goto failed;
        }
    }

    return tsr_store_single_lookup(st, op, "EVAL", rc, reply);

failed:

    return tsr_store_single_lookup(st, op, "EVAL", rc, NULL);
}


static int
tsr_store_single_fetch(tsr_store_t *st, const tsr_store_op_t *op)
{
    int          rc, del;
    size_t       keylen;
    const char  *key, *name;
    redisReply  *reply;

    del = (op->op == TSR_STORE_OP_GETDEL);
    name = del ? "GETDEL" : "GET";
    key = op->key;
    keylen = op->keylen;
    reply = NULL;

    st->srv.stats.gets++;

    if (del) {
        rc = tsr_store_getdel_reply(st, key, keylen, &reply);

    } else {
        rc = tsr_store_command(st, &reply, name, "GET %b", key, keylen);
    }

    return tsr_store_single_lookup(st, op, name, rc, reply);
}


/*
 * The end of a synchronous lookup (GET, GETDEL, EVAL) whose command
 * returned "rc", and "reply" with TSR_OK: the value goes to the caller's
 * buffer, the reply is wiped and freed, and a failure is counted.
 */

static int
tsr_store_single_lookup(tsr_store_t *st, const tsr_store_op_t *op,
    const char *name, int rc, redisReply *reply)
{
    if (rc != TSR_OK) {
        goto failed;
    }

    rc = tsr_store_lookup_reply(st, name, reply, op->keylen, op->size);

    if (rc == TSR_OK) {
        memcpy(op->buf, reply->str, reply->len);
        *op->len = reply->len;
    }

    tsr_store_free_reply(st, reply, 1);

    if (rc >= 0) {
        return rc;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        /* the router asks the node named instead: not a lookup here */
        st->srv.stats.gets--;
        return rc;
    }

    st->srv.stats.errors++;

    return rc;
}


static int
tsr_store_single_async(tsr_store_t *st, const tsr_loop_t *loop)
{
    int  rc;

    /*
     * Commands go out only below max_queued, except the setup of a new
     * connection (the ring is empty then) and a script replacing the
     * GETDEL whose reply it follows.
     */
    st->srv.sent_size = st->srv.max_queued + TSR_STORE_SETUP_COMMANDS;

    st->srv.sent = OPENSSL_malloc(2 * st->srv.sent_size * sizeof(uint64_t));
    if (st->srv.sent == NULL) {
        tsr_store_set_error(st, "set_async: out of memory");
        return TSR_ENOMEM;
    }

    st->srv.sent_us = st->srv.sent + st->srv.sent_size;

    tsr_sync_free(st->srv.ctx);
    st->srv.ctx = NULL;

    st->srv.loop = *loop;
    st->srv.async = 1;
    st->srv.fd = -1;
    st->srv.conn_state = TSR_STORE_IDLE;
    st->srv.breaker = TSR_STORE_CLOSED;
    st->srv.breaker_ms = st->srv.backoff_min_ms;
    st->srv.backoff_ms = st->srv.backoff_min_ms;
    st->srv.max_timeout = st->srv.command_timeout_ms;
    st->srv.reconnect_at = 0;
    st->srv.last[0] = '\0';

    /* a name: the loop's resolver is asked before each attempt */

    if (st->srv.unix_path == NULL && loop->resolve != NULL
        && !tsr_store_numeric(st->srv.host))
    {
        st->srv.resolve = 1;

        /* host_addr first, as found at configuration time */

        if (st->srv.ip[0] != '\0') {
            tsr_store_async_connect(st);

        } else {
            tsr_store_async_resolve(st);
        }

        tsr_store_arm(st);

        return TSR_OK;
    }

    if (st->srv.unix_path == NULL) {
        rc = tsr_store_resolve(st);

        if (rc != TSR_OK) {
            /*
             * Asynchronous all the same, so nothing blocks later: it
             * refuses lookups and drops writes, with this message.
             */
            memcpy(st->srv.last, st->srv.err, sizeof(st->srv.last));
            return rc;
        }
    }

    tsr_store_async_connect(st);
    tsr_store_arm(st);

    return TSR_OK;
}


static tsr_req_t *
tsr_store_single_get_async(tsr_store_t *st, const char *name,
    const char *key, size_t keylen, int getdel, uint64_t timeout_ms,
    tsr_store_done_pt done, void *arg)
{
    int          rc, haskey;
    uint64_t     now;
    tsr_req_t   *req;

    st->srv.stats.gets++;

    now = tsr_store_loop_now(st);

    if (st->srv.conn_state != TSR_STORE_READY || st->srv.closing) {
        if (st->srv.last[0] != '\0') {
            tsr_store_set_error(st, "%s refused: not connected to redis at "
                                "%s: %s", name, st->srv.addr, st->srv.last);

        } else {
            tsr_store_set_error(st, "%s refused: not connected to redis at "
                                "%s yet", name, st->srv.addr);
        }

        goto refused;
    }

    if (tsr_store_breaker_state(st, now) == TSR_STORE_OPEN) {
        tsr_store_set_error(st, "%s refused: circuit breaker for redis at %s "
                            "open for %llu more ms", name, st->srv.addr,
                            (unsigned long long) (st->srv.breaker_until - now));
        goto refused;
    }

    if (st->srv.lookups >= st->srv.max_inflight) {
        tsr_store_set_error(st, "%s refused: %d lookups in flight to redis "
                            "at %s", name, st->srv.lookups, st->srv.addr);
        goto refused;
    }

    if (st->srv.sent_count >= (size_t) st->srv.max_queued
        || tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_store_set_error(st, "%s refused: %zu commands await replies from "
                            "redis at %s, %zu bytes unsent", name,
                            st->srv.sent_count, st->srv.addr, tsr_store_unsent(st));
        goto refused;
    }

    if (timeout_ms > TSR_STORE_MAX_TIMEOUT) {
        timeout_ms = TSR_STORE_MAX_TIMEOUT;
    }

    /* a router's node may have to send it again, elsewhere */
    haskey = (getdel || st->parent != NULL);

    req = OPENSSL_malloc(sizeof(tsr_req_t) + (haskey ? keylen : 0));
    if (req == NULL) {
        tsr_store_set_error(st, "%s: out of memory", name);
        goto refused;
    }

    req->prev = NULL;
    req->next = NULL;
    req->store = st;
    req->done = done;
    req->arg = arg;
    req->deadline = now + timeout_ms;
    req->timeout = timeout_ms;
    req->keylen = keylen;
    req->getdel = getdel ? 1 : 0;
    req->eval = 0;
    req->haskey = haskey;
    req->redirected = 0;
    req->script = 0;
    req->cmd = NULL;
    req->cmdlen = 0;

    if (haskey) {
        memcpy(req->key, key, keylen);
    }

    if (getdel && st->srv.getdel_eval) {
        req->eval = 1;
        rc = tsr_store_async_command(st, tsr_store_get_cb, req,
                                     "EVAL %s 1 %b", tsr_store_getdel_lua,
                                     key, keylen);

    } else if (!getdel) {
        rc = tsr_store_async_get(st, req, key, keylen);

    } else {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req, "%s %b",
                                     name, key, keylen);
    }

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s on %s: hiredis refused the command",
                            name, st->srv.addr);
        tsr_store_req_free(req);
        goto refused;
    }

    st->srv.lookups++;

    if (timeout_ms > st->srv.max_timeout) {
        st->srv.max_timeout = timeout_ms;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return req;

refused:

    st->srv.stats.refused++;

    return NULL;
}


static void
tsr_store_single_timer(tsr_store_t *st)
{
    uint64_t  now, first;

    st->srv.timer_at = 0;

    if (st->srv.read_more && st->srv.conn != NULL && !st->srv.closing) {
        tsr_store_on_read_fd(st, st->srv.fd);

        if (st->srv.destroying) {
            return;
        }
    }

    now = tsr_store_loop_now(st);

    /* the callers may start or cancel lookups: take the head each time */

    while (st->srv.head != NULL && st->srv.head->deadline <= now) {
        tsr_store_set_error(st, "%s on %s timed out after %llu ms",
                            tsr_store_req_name(st->srv.head), st->srv.addr,
                            (unsigned long long) st->srv.head->timeout);
        tsr_store_complete(st, st->srv.head, TSR_ETIMEDOUT, NULL);
    }

    if (st->srv.conn != NULL && !st->srv.closing) {
        if (st->srv.broken) {
            tsr_store_set_error(st, "the event loop refused the socket of "
                                "redis at %s", st->srv.addr);
            tsr_store_async_drop(st);

        } else if (st->srv.conn_state == TSR_STORE_CONNECTING) {
            if (now >= st->srv.conn_deadline) {
                tsr_store_set_error(st, "connecting to redis at %s timed "
                                    "out after %d ms", st->srv.addr,
                                    st->srv.connect_timeout_ms
                                    + st->srv.command_timeout_ms);
                tsr_store_async_drop(st);
            }

        } else if (st->srv.sent_count > 0) {
            first = st->srv.sent[st->srv.sent_first];

            if (now > first && now - first >= tsr_store_stall_ms(st)) {
                tsr_store_set_error(st, "redis at %s has not answered for "
                                    "%llu ms", st->srv.addr,
                                    (unsigned long long) (now - first));
                tsr_store_async_drop(st);
            }
        }
    }

    if (st->srv.conn == NULL && tsr_store_async_target(st) && !st->srv.parked
        && !st->srv.resolving && now >= st->srv.reconnect_at)
    {
        if (st->srv.resolve) {
            tsr_store_async_resolve(st);

        } else {
            tsr_store_async_connect(st);
        }
    }

    tsr_store_arm(st);
}


/*
 * hiredis reads at most 16 KiB per call and the host's events may be
 * edge-triggered: read again while the socket holds more.
 */

static void
tsr_store_single_read(tsr_store_t *st, int fd)
{
    int          reads;
    ssize_t      n;
    tsr_conn_t  *c;

    /* an event of a socket closed since */
    if (fd != -1 && fd != st->srv.fd) {
        return;
    }

    c = st->srv.conn;

    /* connects happen in tsr_store_on_timer() only: "c" or NULL here */

    st->srv.reading_now = 1;
    st->srv.read_more = 0;
    reads = 0;

    /*
     * A read that comes back short has emptied the socket (what arrives
     * later raises a new edge): no second read is needed to find out.
     */

    while (c != NULL) {
        if (reads++ == TSR_STORE_READS_PER_EVENT) {
            st->srv.read_more = 1;
            break;
        }

        n = tsr_conn_on_read(c);

        if (st->srv.conn != c) {
            /* the connection ended, "err" says why */
            break;
        }

        if (n > 0) {
            st->srv.stats.reads++;
        }

        /* a reply refused anyway must not grow for as long as it comes */

        if (tsr_conn_pending(c) > TSR_RESP_MAX_PENDING) {
            tsr_store_set_error(st, "redis at %s sent a reply of more than "
                                "%d bytes", st->srv.addr, TSR_RESP_MAX_PENDING);
            tsr_store_async_drop(st);
            break;
        }

        if (n < TSR_CONN_READ_SIZE) {
            break;
        }
    }

    st->srv.reading_now = 0;

    if (st->srv.wipe) {
        st->srv.wipe = 0;

        if (st->srv.conn != NULL) {
            tsr_conn_wipe_input(st->srv.conn);
        }
    }

    tsr_store_arm(st);
}


static void
tsr_store_single_write(tsr_store_t *st, int fd)
{
    if (fd != -1 && fd != st->srv.fd) {
        return;
    }

    if (st->srv.conn != NULL) {
        tsr_store_handle_write(st);
    }

    tsr_store_arm(st);
}


static int
tsr_store_single_state(const tsr_store_t *st)
{
    if (st->srv.breaker == TSR_STORE_OPEN) {
        return TSR_STORE_STATE_BREAKER_OPEN;
    }

    if (st->srv.conn_state == TSR_STORE_READY) {
        return TSR_STORE_STATE_UP;
    }

    return (st->srv.conn_state == TSR_STORE_CONNECTING) ? TSR_STORE_STATE_CONNECTING
                                              : TSR_STORE_STATE_DOWN;
}


const tsr_topo_ops_t  tsr_topo_single = {
    .name = "single",
    .destroy = tsr_store_single_destroy,
    .connect = tsr_store_single_connect,
    .op = tsr_store_single_op,
    .async = tsr_store_single_async,
    .get_async = tsr_store_single_get_async,
    .on_timer = tsr_store_single_timer,
    .on_read = tsr_store_single_read,
    .on_write = tsr_store_single_write,
    .state = tsr_store_single_state,
    .eval = 1
};
