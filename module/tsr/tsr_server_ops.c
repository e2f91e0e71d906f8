
/*
 * The operations on one Redis server: a store of one server runs them on
 * its own (tsr_single.c), a router on each of its nodes (tsr_router.c).
 * Creating and freeing a server, SET, DEL, GET and EVAL on the
 * synchronous side; lookups, scripts and the loop's events on the
 * asynchronous one, and a lookup's life from its command to its answer.
 * The connection work under them (connecting, commands, replies, the
 * breaker, the timer, the loop's adapter) is tsr_server.c's.
 */


#include "tsr_server.h"

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


static int tsr_server_set(tsr_server_t *srv, const tsr_store_op_t *op);
static int tsr_server_del(tsr_server_t *srv, const tsr_store_op_t *op);
static int tsr_server_fetch(tsr_server_t *srv, const tsr_store_op_t *op);
static int tsr_server_eval(tsr_server_t *srv, const tsr_store_op_t *op);
static int tsr_server_lookup(tsr_server_t *srv, const tsr_store_op_t *op,
    const char *name, int rc, redisReply *reply);
static int tsr_server_start(tsr_server_t *srv, const tsr_loop_t *loop);


int
tsr_server_connect(tsr_server_t *srv)
{
    int  rc;

    rc = tsr_server_ready(srv);

    if (rc != TSR_OK) {
        srv->stats.errors++;
    }

    return rc;
}


int
tsr_server_op(tsr_server_t *srv, const tsr_store_op_t *op)
{
    switch (op->op) {

    case TSR_STORE_OP_SET:
        return tsr_server_set(srv, op);

    case TSR_STORE_OP_DEL:
        return tsr_server_del(srv, op);

    case TSR_STORE_OP_EVAL:
        return tsr_server_eval(srv, op);

    default: /* TSR_STORE_OP_GET, TSR_STORE_OP_GETDEL */
        return tsr_server_fetch(srv, op);
    }
}


static int
tsr_server_set(tsr_server_t *srv, const tsr_store_op_t *op)
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

    srv->stats.sets++;

    /* a cluster node's SET keeps hiredis' formatting: redirections resend */

    if (srv->async && srv->hooks == NULL) {
        rc = TSR_OK;

        if (tsr_server_writable(srv, "SET")) {
            rc = tsr_server_async_set(srv, key, keylen, val, vlen, ttl_ms);
        }

        tsr_server_write_done(srv, "SET", rc, !op->later);

        return TSR_OK;
    }

    if (srv->async) {
        tsr_server_write_async(srv, "SET", !op->later, "SET %b %b PX %llu",
                               key, keylen,
                               val != NULL ? (const void *) val : "", vlen,
                               (unsigned long long) ttl_ms);
        return TSR_OK;
    }

    rc = tsr_server_command(srv, &reply, "SET", "SET %b %b PX %llu", key,
                            keylen, val != NULL ? (const void *) val : "", vlen,
                            (unsigned long long) ttl_ms);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_STATUS
        && reply->len == 2 && memcmp(reply->str, "OK", 2) == 0)
    {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_server_reply_error(srv, "SET", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_server_set_error(srv, "SET on %s: unexpected reply type %d",
                             srv->addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_server_free_reply(srv, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        srv->stats.sets--;
        return rc;
    }

    srv->stats.errors++;

    return rc;
}


static int
tsr_server_del(tsr_server_t *srv, const tsr_store_op_t *op)
{
    int          rc;
    size_t       keylen;
    const char  *key;
    redisReply  *reply;

    key = op->key;
    keylen = op->keylen;

    srv->stats.dels++;

    if (srv->async) {
        tsr_server_write_async(srv, "DEL", 0, "DEL %b", key, keylen);
        return TSR_OK;
    }

    rc = tsr_server_command(srv, &reply, "DEL", "DEL %b", key, keylen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = TSR_OK;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        tsr_server_reply_error(srv, "DEL", reply);
        rc = TSR_ESERVER;

    } else {
        tsr_server_set_error(srv, "DEL on %s: unexpected reply type %d",
                             srv->addr, reply->type);
        rc = TSR_EPROTO;
    }

    tsr_server_free_reply(srv, reply, 0);

    if (rc == TSR_OK) {
        return TSR_OK;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        srv->stats.dels--;
        return rc;
    }

    srv->stats.errors++;

    return rc;
}


/*
 * EVALSHA; a server that has not cached the script (restarted, flushed)
 * gets SCRIPT LOAD and EVALSHA once more, so that the documented ACL
 * (+evalsha +script|load, not +eval) suffices.
 */

static int
tsr_server_eval(tsr_server_t *srv, const tsr_store_op_t *op)
{
    int          i, rc;
    char         sha[2 * SHA_DIGEST_LENGTH + 1];
    size_t       avlen[TSR_STORE_EVAL_ARGS + 4];
    uint8_t      md[SHA_DIGEST_LENGTH];
    const char  *av[TSR_STORE_EVAL_ARGS + 4];
    redisReply  *reply;

    static const char  hex[] = "0123456789abcdef";

    srv->stats.gets++;

    if (SHA1((const uint8_t *) op->script, op->script_len, md) == NULL) {
        (void) tsr_err_openssl(sha, sizeof(sha));
        tsr_server_set_error(srv, "EVAL: SHA1() failed: %s", sha);
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

    rc = tsr_server_command_argv(srv, &reply, "EVALSHA", op->argc + 4, av,
                                 avlen);
    if (rc != TSR_OK) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL
        && reply->len >= sizeof("NOSCRIPT") - 1
        && memcmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1) == 0)
    {
        freeReplyObject(reply);

        tsr_server_log(srv, TSR_LOG_INFO,
                       "loading a script of %zu bytes into redis at %s",
                       op->script_len, srv->addr);

        rc = tsr_server_command(srv, &reply, "SCRIPT LOAD", "SCRIPT LOAD %b",
                                op->script, op->script_len);
        if (rc != TSR_OK) {
            goto failed;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            tsr_server_reply_error(srv, "SCRIPT LOAD", reply);
            freeReplyObject(reply);
            rc = TSR_ESERVER;
            goto failed;
        }

        if (reply->type != REDIS_REPLY_STRING
            || reply->len != 2 * SHA_DIGEST_LENGTH
            || strncasecmp(reply->str, sha, 2 * SHA_DIGEST_LENGTH) != 0)
        {
            tsr_server_set_error(srv,
                                 "SCRIPT LOAD on %s: unexpected reply, "
                                 "not the SHA-1 %s", srv->addr, sha);
            freeReplyObject(reply);
            rc = TSR_EPROTO;
            goto failed;
        }

        freeReplyObject(reply);

        rc = tsr_server_command_argv(srv, &reply, "EVALSHA", op->argc + 4, av,
                                     avlen);
        if (rc != TSR_OK) {
            goto failed;
        }
    }

    return tsr_server_lookup(srv, op, "EVAL", rc, reply);

failed:

    return tsr_server_lookup(srv, op, "EVAL", rc, NULL);
}


static int
tsr_server_fetch(tsr_server_t *srv, const tsr_store_op_t *op)
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

    srv->stats.gets++;

    if (del) {
        rc = tsr_server_getdel_reply(srv, key, keylen, &reply);

    } else {
        rc = tsr_server_command(srv, &reply, name, "GET %b", key, keylen);
    }

    return tsr_server_lookup(srv, op, name, rc, reply);
}


/*
 * The end of a synchronous lookup (GET, GETDEL, EVAL) whose command
 * returned "rc", and "reply" with TSR_OK: the value goes to the caller's
 * buffer, the reply is wiped and freed, and a failure is counted.
 */

static int
tsr_server_lookup(tsr_server_t *srv, const tsr_store_op_t *op,
    const char *name, int rc, redisReply *reply)
{
    if (rc != TSR_OK) {
        goto failed;
    }

    rc = tsr_server_lookup_reply(srv, name, reply, op->keylen, op->size);

    if (rc == TSR_OK) {
        memcpy(op->buf, reply->str, reply->len);
        *op->len = reply->len;
    }

    tsr_server_free_reply(srv, reply, 1);

    if (rc >= 0) {
        return rc;
    }

failed:

    if (rc == TSR_EREDIRECT) {
        /* the router asks the node named instead: not a lookup here */
        srv->stats.gets--;
        return rc;
    }

    srv->stats.errors++;

    return rc;
}


static int
tsr_server_start(tsr_server_t *srv, const tsr_loop_t *loop)
{
    int  rc;

    /*
     * Commands go out only below max_queued, except the setup of a new
     * connection (the ring is empty then) and a script replacing the
     * GETDEL whose reply it follows.
     */
    srv->sent_size = srv->max_queued + TSR_STORE_SETUP_COMMANDS;

    srv->sent = OPENSSL_malloc(2 * srv->sent_size * sizeof(uint64_t));
    if (srv->sent == NULL) {
        tsr_server_set_error(srv, "set_async: out of memory");
        return TSR_ENOMEM;
    }

    srv->sent_us = srv->sent + srv->sent_size;

    tsr_sync_free(srv->ctx);
    srv->ctx = NULL;

    srv->loop = *loop;
    srv->async = 1;
    srv->fd = -1;
    srv->conn_state = TSR_STORE_IDLE;
    srv->breaker = TSR_STORE_CLOSED;
    srv->breaker_ms = srv->backoff_min_ms;
    srv->backoff_ms = srv->backoff_min_ms;
    srv->max_timeout = srv->command_timeout_ms;
    srv->reconnect_at = 0;
    srv->last[0] = '\0';

    /* a name: the loop's resolver is asked before each attempt */

    if (srv->unix_path == NULL && loop->resolve != NULL
        && !tsr_store_numeric(srv->host))
    {
        srv->resolve = 1;

        /* host_addr first, as found at configuration time */

        if (srv->ip[0] != '\0') {
            tsr_server_async_connect(srv);

        } else {
            tsr_server_async_resolve(srv);
        }

        tsr_server_arm(srv);

        return TSR_OK;
    }

    if (srv->unix_path == NULL) {
        rc = tsr_server_resolve(srv);

        if (rc != TSR_OK) {
            /*
             * Asynchronous all the same, so nothing blocks later: it
             * refuses lookups and drops writes, with this message.
             */
            memcpy(srv->last, srv->err, sizeof(srv->last));
            return rc;
        }
    }

    tsr_server_async_connect(srv);
    tsr_server_arm(srv);

    return TSR_OK;
}


tsr_req_t *
tsr_server_get_async(tsr_server_t *srv, const char *name,
    const char *key, size_t keylen, int getdel, uint64_t timeout_ms,
    tsr_store_done_pt done, void *arg)
{
    int          rc, haskey;
    uint64_t     now;
    tsr_req_t   *req;

    srv->stats.gets++;

    now = tsr_server_loop_now(srv);

    if (srv->conn_state != TSR_STORE_READY || srv->closing) {
        if (srv->last[0] != '\0') {
            tsr_server_set_error(srv,
                                 "%s refused: not connected to redis at "
                                 "%s: %s", name, srv->addr, srv->last);

        } else {
            tsr_server_set_error(srv,
                                 "%s refused: not connected to redis at "
                                 "%s yet", name, srv->addr);
        }

        goto refused;
    }

    if (tsr_server_breaker_state(srv, now) == TSR_STORE_OPEN) {
        tsr_server_set_error(srv,
                             "%s refused: circuit breaker for redis at %s "
                             "open for %llu more ms", name, srv->addr,
                             (unsigned long long) (srv->breaker_until - now));
        goto refused;
    }

    if (srv->lookups >= srv->max_inflight) {
        tsr_server_set_error(srv,
                             "%s refused: %d lookups in flight to redis "
                             "at %s", name, srv->lookups, srv->addr);
        goto refused;
    }

    if (srv->sent_count >= (size_t) srv->max_queued
        || tsr_server_unsent(srv) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_server_set_error(srv,
                             "%s refused: %zu commands await replies from "
                             "redis at %s, %zu bytes unsent", name,
                             srv->sent_count, srv->addr,
                             tsr_server_unsent(srv));
        goto refused;
    }

    if (timeout_ms > TSR_STORE_MAX_TIMEOUT) {
        timeout_ms = TSR_STORE_MAX_TIMEOUT;
    }

    /* a router's node may have to send it again, elsewhere */
    haskey = (getdel || srv->hooks != NULL);

    req = OPENSSL_malloc(sizeof(tsr_req_t) + (haskey ? keylen : 0));
    if (req == NULL) {
        tsr_server_set_error(srv, "%s: out of memory", name);
        goto refused;
    }

    req->prev = NULL;
    req->next = NULL;
    req->srv = srv;
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

    if (getdel && srv->getdel_eval) {
        req->eval = 1;
        rc = tsr_server_async_command(srv, tsr_server_get_cb, req,
                                      "EVAL %s 1 %b", tsr_server_getdel_lua,
                                      key, keylen);

    } else if (!getdel) {
        rc = tsr_server_async_get(srv, req, key, keylen);

    } else {
        rc = tsr_server_async_command(srv, tsr_server_get_cb, req, "%s %b",
                                      name, key, keylen);
    }

    if (rc != TSR_OK) {
        tsr_server_set_error(srv, "%s on %s: hiredis refused the command", name,
                             srv->addr);
        tsr_server_req_free(req);
        goto refused;
    }

    srv->lookups++;

    if (timeout_ms > srv->max_timeout) {
        srv->max_timeout = timeout_ms;
    }

    tsr_server_req_insert(srv, req);
    tsr_server_arm(srv);

    return req;

refused:

    srv->stats.refused++;

    return NULL;
}


void
tsr_server_on_timer(tsr_server_t *srv)
{
    uint64_t  now, first;

    if (!srv->async || srv->destroying) {
        return;
    }

    srv->timer_at = 0;

    if (srv->read_more && srv->conn != NULL && !srv->closing) {
        tsr_server_on_read(srv, srv->fd);

        if (srv->destroying) {
            return;
        }
    }

    now = tsr_server_loop_now(srv);

    /* the callers may start or cancel lookups: take the head each time */

    while (srv->head != NULL && srv->head->deadline <= now) {
        tsr_server_set_error(srv, "%s on %s timed out after %llu ms",
                             tsr_server_req_name(srv->head), srv->addr,
                             (unsigned long long) srv->head->timeout);
        tsr_server_complete(srv, srv->head, TSR_ETIMEDOUT, NULL);
    }

    if (srv->conn != NULL && !srv->closing) {
        if (srv->broken) {
            tsr_server_set_error(srv,
                                 "the event loop refused the socket of "
                                 "redis at %s", srv->addr);
            tsr_server_async_drop(srv);

        } else if (srv->conn_state == TSR_STORE_CONNECTING) {
            if (now >= srv->conn_deadline) {
                tsr_server_set_error(srv, "connecting to redis at %s timed "
                                     "out after %d ms", srv->addr,
                                     srv->connect_timeout_ms
                                     + srv->command_timeout_ms);
                tsr_server_async_drop(srv);
            }

        } else if (srv->sent_count > 0) {
            first = srv->sent[srv->sent_first];

            if (now > first && now - first >= tsr_server_stall_ms(srv)) {
                tsr_server_set_error(srv,
                                     "redis at %s has not answered for "
                                     "%llu ms", srv->addr,
                                     (unsigned long long) (now - first));
                tsr_server_async_drop(srv);
            }
        }
    }

    if (srv->conn == NULL && tsr_server_async_target(srv) && !srv->parked
        && !srv->resolving && now >= srv->reconnect_at)
    {
        if (srv->resolve) {
            tsr_server_async_resolve(srv);

        } else {
            tsr_server_async_connect(srv);
        }
    }

    tsr_server_arm(srv);
}


/*
 * hiredis reads at most 16 KiB per call and the host's events may be
 * edge-triggered: read again while the socket holds more.
 */

void
tsr_server_on_read(tsr_server_t *srv, int fd)
{
    int          reads;
    ssize_t      n;
    tsr_conn_t  *c;

    if (!srv->async || srv->destroying) {
        return;
    }

    /* an event of a socket closed since */
    if (fd != -1 && fd != srv->fd) {
        return;
    }

    c = srv->conn;

    /* connects happen in tsr_server_on_timer() only: "c" or NULL here */

    srv->reading_now = 1;
    srv->read_more = 0;
    reads = 0;

    /*
     * A read that comes back short has emptied the socket (what arrives
     * later raises a new edge): no second read is needed to find out.
     */

    while (c != NULL) {
        if (reads++ == TSR_STORE_READS_PER_EVENT) {
            srv->read_more = 1;
            break;
        }

        n = tsr_conn_on_read(c);

        if (srv->conn != c) {
            /* the connection ended, "err" says why */
            break;
        }

        if (n > 0) {
            srv->stats.reads++;
        }

        /* a reply refused anyway must not grow for as long as it comes */

        if (tsr_conn_pending(c) > TSR_RESP_MAX_PENDING) {
            tsr_server_set_error(srv,
                                 "redis at %s sent a reply of more than "
                                 "%d bytes", srv->addr, TSR_RESP_MAX_PENDING);
            tsr_server_async_drop(srv);
            break;
        }

        if (n < TSR_CONN_READ_SIZE) {
            break;
        }
    }

    srv->reading_now = 0;

    if (srv->wipe) {
        srv->wipe = 0;

        if (srv->conn != NULL) {
            tsr_conn_wipe_input(srv->conn);
        }
    }

    tsr_server_arm(srv);
}


void
tsr_server_on_write(tsr_server_t *srv, int fd)
{
    if (!srv->async || srv->destroying) {
        return;
    }

    if (fd != -1 && fd != srv->fd) {
        return;
    }

    if (srv->conn != NULL) {
        tsr_server_handle_write(srv);
    }

    tsr_server_arm(srv);
}


int
tsr_server_state(const tsr_server_t *srv)
{
    if (!srv->async) {
        return TSR_STORE_STATE_DOWN;
    }

    if (srv->breaker == TSR_STORE_OPEN) {
        return TSR_STORE_STATE_BREAKER_OPEN;
    }

    if (srv->conn_state == TSR_STORE_READY) {
        return TSR_STORE_STATE_UP;
    }

    return (srv->conn_state == TSR_STORE_CONNECTING)
           ? TSR_STORE_STATE_CONNECTING : TSR_STORE_STATE_DOWN;
}


/* ---- a server's life ---- */

int
tsr_server_init(tsr_server_t *srv, const tsr_store_conf_t *conf, char *err,
    size_t errlen)
{
    if (conf->port < 0 || conf->port > 65535) {
        tsr_errf(err, errlen, "invalid redis port %d", conf->port);
        return TSR_EINVAL;
    }

    if (conf->db < 0) {
        tsr_errf(err, errlen, "invalid redis db %d", conf->db);
        return TSR_EINVAL;
    }

    if (conf->connect_timeout_ms < 0 || conf->command_timeout_ms < 0
        || conf->backoff_min_ms < 0 || conf->backoff_max_ms < 0)
    {
        tsr_errf(err, errlen, "negative redis timeout");
        return TSR_EINVAL;
    }

    if (conf->unix_path != NULL
        && (conf->unix_path[0] == '\0'
            || strlen(conf->unix_path) >= TSR_STORE_SUN_PATH))
    {
        tsr_errf(err, errlen, "invalid unix socket path \"%s\"",
                 conf->unix_path);
        return TSR_EINVAL;
    }

    if (conf->unix_path == NULL && conf->host != NULL
        && conf->host[0] == '\0')
    {
        tsr_errf(err, errlen, "empty redis host");
        return TSR_EINVAL;
    }

    if (conf->user != NULL
        && (conf->password == NULL || conf->password[0] == '\0'))
    {
        tsr_errf(err, errlen, "redis user \"%s\" needs a password", conf->user);
        return TSR_EINVAL;
    }

    srv->port = conf->port ? conf->port : TSR_STORE_DEFAULT_PORT;
    srv->db = conf->db;
    srv->connect_timeout_ms = conf->connect_timeout_ms
                              ? conf->connect_timeout_ms
                              : TSR_STORE_CONNECT_TIMEOUT;
    srv->command_timeout_ms = conf->command_timeout_ms
                              ? conf->command_timeout_ms
                              : TSR_STORE_COMMAND_TIMEOUT;
    srv->backoff_min_ms = conf->backoff_min_ms ? conf->backoff_min_ms
                                               : TSR_STORE_BACKOFF_MIN;
    srv->backoff_max_ms = conf->backoff_max_ms ? conf->backoff_max_ms
                                               : TSR_STORE_BACKOFF_MAX;
    srv->log = conf->log;
    srv->log_data = conf->log_data;

    if (srv->backoff_max_ms < srv->backoff_min_ms) {
        tsr_errf(err, errlen,
                 "redis backoff_max_ms %d is below backoff_min_ms %d",
                 srv->backoff_max_ms, srv->backoff_min_ms);
        return TSR_EINVAL;
    }

    srv->backoff_ms = srv->backoff_min_ms;
    srv->fd = -1;

    return TSR_OK;
}


int
tsr_server_address(tsr_server_t *srv, const tsr_store_conf_t *conf,
    char *err, size_t errlen)
{
    if (conf->unix_path != NULL) {
        srv->unix_path = OPENSSL_strdup(conf->unix_path);
        if (srv->unix_path == NULL) {
            tsr_errf(err, errlen, "out of memory");
            return TSR_ENOMEM;
        }

        snprintf(srv->addr, sizeof(srv->addr), "unix:%s", srv->unix_path);

        return TSR_OK;
    }

    srv->host = OPENSSL_strdup(conf->host != NULL ? conf->host
                                                  : TSR_STORE_DEFAULT_HOST);
    if (srv->host == NULL) {
        tsr_errf(err, errlen, "out of memory");
        return TSR_ENOMEM;
    }

    snprintf(srv->addr, sizeof(srv->addr),
             strchr(srv->host, ':') != NULL ? "[%s]:%d" : "%s:%d", srv->host,
             srv->port);

    if (conf->host_addr != NULL) {
        if (strlen(conf->host_addr) >= sizeof(srv->ip)
            || !tsr_store_numeric(conf->host_addr))
        {
            tsr_errf(err, errlen,
                     "invalid address \"%s\" of redis host \"%s\"",
                     conf->host_addr, srv->host);
            return TSR_EINVAL;
        }

        memcpy(srv->ip, conf->host_addr, strlen(conf->host_addr) + 1);
    }

    return TSR_OK;
}


int
tsr_server_credentials(tsr_server_t *srv, const tsr_store_conf_t *conf,
    char *err, size_t errlen)
{
    if (conf->user != NULL) {
        srv->user = OPENSSL_strdup(conf->user);
        if (srv->user == NULL) {
            goto nomem;
        }
    }

    if (conf->tls) {
        srv->tls = tsr_server_tls_create(conf, err, errlen);
        if (srv->tls == NULL) {
            return TSR_ERROR;
        }
    }

    if (conf->password != NULL && conf->password[0] != '\0') {
        srv->password_len = strlen(conf->password);

        srv->password = OPENSSL_malloc(srv->password_len + 1);
        if (srv->password == NULL) {
            goto nomem;
        }

        memcpy(srv->password, conf->password, srv->password_len + 1);
    }

    return TSR_OK;

nomem:

    tsr_errf(err, errlen, "out of memory");

    return TSR_ENOMEM;
}


tsr_server_t *
tsr_server_create(const tsr_store_conf_t *conf, char *err, size_t errlen)
{
    tsr_server_t  *srv;

    srv = OPENSSL_zalloc(sizeof(tsr_server_t));
    if (srv == NULL) {
        tsr_errf(err, errlen, "out of memory");
        return NULL;
    }

    if (tsr_server_init(srv, conf, err, errlen) != TSR_OK
        || tsr_server_address(srv, conf, err, errlen) != TSR_OK
        || tsr_server_credentials(srv, conf, err, errlen) != TSR_OK)
    {
        tsr_server_destroy(srv);
        return NULL;
    }

    return srv;
}


/*
 * Releases what "srv" holds.  Not from inside a "done" callback: hiredis
 * would free the context only after that callback returns, and the
 * server is gone by then.
 */

void
tsr_server_free(tsr_server_t *srv)
{
    tsr_req_t  *req;

    tsr_sync_free(srv->ctx);
    srv->ctx = NULL;

    if (srv->async) {
        srv->destroying = 1;

        /* no callers are answered from here on; hiredis frees requests */

        for (req = srv->head; req != NULL; req = req->next) {
            req->done = NULL;
        }

        srv->head = NULL;
        srv->tail = NULL;

        if (srv->resolving) {
            srv->loop.resolve_cancel(srv->loop.data, srv->resolve_handle);
            srv->resolving = 0;
            srv->resolve_handle = NULL;
        }

        /* runs every reply callback with NULL, then cleanup (unwatch) */
        if (srv->conn != NULL) {
            tsr_conn_free(srv->conn);
            srv->conn = NULL;
        }

        srv->loop.timer(srv->loop.data, 0);
        OPENSSL_free(srv->sent);
        srv->sent = NULL;
    }

    if (srv->password != NULL) {
        OPENSSL_clear_free(srv->password, srv->password_len);
        srv->password = NULL;
    }

    OPENSSL_free(srv->host);
    OPENSSL_free(srv->unix_path);
    OPENSSL_free(srv->user);
    srv->host = NULL;
    srv->unix_path = NULL;
    srv->user = NULL;

    if (!srv->tls_borrowed) {
        tsr_tls_destroy(srv->tls);
    }

    srv->tls = NULL;
}


void
tsr_server_destroy(tsr_server_t *srv)
{
    if (srv == NULL) {
        return;
    }

    tsr_server_free(srv);
    OPENSSL_free(srv);
}


void
tsr_server_close(tsr_server_t *srv)
{
    if (srv->ctx != NULL) {
        tsr_sync_free(srv->ctx);
        srv->ctx = NULL;
    }
}


int
tsr_server_async(tsr_server_t *srv, const tsr_loop_t *loop,
    int max_inflight, int breaker_failures)
{
    srv->max_inflight = max_inflight ? max_inflight : TSR_STORE_MAX_INFLIGHT;
    srv->breaker_failures = breaker_failures ? breaker_failures
                                             : TSR_STORE_BREAKER_FAILURES;
    srv->max_queued = srv->max_inflight * TSR_STORE_QUEUE_FACTOR;

    return tsr_server_start(srv, loop);
}


int
tsr_server_usable(const tsr_server_t *srv)
{
    return srv->async && srv->conn != NULL
           && srv->conn_state == TSR_STORE_READY && !srv->closing;
}


/* ---- messages ---- */

void
tsr_server_set_error(tsr_server_t *srv, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_verrf(srv->err, sizeof(srv->err), fmt, args);
    va_end(args);
}


void
tsr_server_log(tsr_server_t *srv, int level, const char *fmt, ...)
{
    char     msg[TSR_STORE_ERR_LEN + 64];
    va_list  args;

    if (srv->log == NULL) {
        return;
    }

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    srv->log(level, msg, srv->log_data);
}


tsr_tls_t *
tsr_server_tls(const tsr_server_t *srv)
{
    return srv->tls;
}


/*
 * The TLS context of an address's settings: a store's, which its cluster
 * nodes, its master and its sentinels share, or the ticket ring's.
 */

tsr_tls_t *
tsr_server_tls_create(const tsr_store_conf_t *conf, char *err, size_t errlen)
{
    char            msg[TSR_CONN_ERR_LEN + 64];
    tsr_tls_t      *tls;
    tsr_tls_conf_t  tc;

    memset(&tc, 0, sizeof(tc));
    tc.ca_file = conf->tls_ca_file;
    tc.cert_file = conf->tls_cert_file;
    tc.key_file = conf->tls_key_file;
    tc.verify = !conf->tls_no_verify;

    /* a name as written, else the address itself is verified */
    tc.server_name = conf->tls_server_name;

    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        tsr_errf(err, errlen,
                 "redis parameters \"tls_cert_file\" "
                 "and \"tls_key_file\" go together");
        return NULL;
    }

    tls = tsr_tls_create(&tc, msg, sizeof(msg));
    if (tls == NULL) {
        tsr_errf(err, errlen, "%s", msg);
    }

    return tls;
}


/* ---- a lookup's life ---- */

const char *
tsr_server_req_name(const tsr_req_t *req)
{
    return req->eval ? "EVAL" : (req->getdel ? "GETDEL" : "GET");
}


/*
 * Answers the caller of a waiting lookup; the message for a failure is
 * in "err" already.  A lost connection counts for the breaker once, in
 * tsr_server_async_failed(), not once per lookup.
 */

void
tsr_server_complete(tsr_server_t *srv, tsr_req_t *req, int rc,
    const redisReply *reply)
{
    tsr_store_done_pt  done;

    tsr_server_req_unlink(srv, req);

    done = req->done;
    req->done = NULL;

    switch (rc) {

    case TSR_OK:
    case TSR_NOT_FOUND:
        tsr_server_breaker_ok(srv);
        break;

    case TSR_ECONN:
        srv->stats.errors++;
        break;

    case TSR_ETIMEDOUT:
        srv->stats.timeouts++;
        /* fall through */

    default:
        srv->stats.errors++;
        tsr_server_breaker_fail(srv, tsr_server_loop_now(srv));
        break;
    }

    if (rc == TSR_OK) {
        done(rc, (const uint8_t *) reply->str, reply->len, req->arg);

    } else {
        done(rc, NULL, 0, req->arg);
    }
}


/* in deadline order, searched from the tail: deadlines mostly grow */

void
tsr_server_req_insert(tsr_server_t *srv, tsr_req_t *req)
{
    tsr_req_t  *p;

    for (p = srv->tail; p != NULL && p->deadline > req->deadline; p = p->prev)
    {
        /* void */
    }

    req->prev = p;
    req->next = (p != NULL) ? p->next : srv->head;

    if (req->next != NULL) {
        req->next->prev = req;

    } else {
        srv->tail = req;
    }

    if (p != NULL) {
        p->next = req;

    } else {
        srv->head = req;
    }
}


void
tsr_server_req_unlink(tsr_server_t *srv, tsr_req_t *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;

    } else {
        srv->head = req->next;
    }

    if (req->next != NULL) {
        req->next->prev = req->prev;

    } else {
        srv->tail = req->prev;
    }

    req->prev = NULL;
    req->next = NULL;
}


/* a key name holds the session id in hex: wiped too */

void
tsr_server_req_free(tsr_req_t *req)
{
    if (req->haskey) {
        OPENSSL_cleanse(req->key, req->keylen);
    }

    if (req->cmd != NULL) {
        OPENSSL_cleanse(req->cmd, req->cmdlen);
        OPENSSL_free(req->cmd);
    }

    OPENSSL_free(req);
}


/*
 * A caller's script, answering as a lookup; the store checked its
 * arguments.
 */

tsr_req_t *
tsr_server_eval_async(tsr_server_t *srv, const char *script, size_t len,
    const char *key, size_t keylen, int argc, const char **argv,
    const size_t *argvlen, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg)
{
    int          i, n, rc;
    char        *cmd;
    size_t       avlen[TSR_STORE_EVAL_ARGS + 4];
    uint64_t     now;
    tsr_req_t   *req;
    const char  *av[TSR_STORE_EVAL_ARGS + 4];

    srv->stats.gets++;

    now = tsr_server_loop_now(srv);

    if (srv->conn_state != TSR_STORE_READY || srv->closing
        || tsr_server_breaker_state(srv, now) == TSR_STORE_OPEN
        || srv->lookups >= srv->max_inflight
        || srv->sent_count >= (size_t) srv->max_queued
        || tsr_server_unsent(srv) >= TSR_STORE_MAX_UNSENT)
    {
        tsr_server_set_error(srv,
                             "EVAL refused: redis at %s is not "
                             "connected, or busy", srv->addr);
        goto refused;
    }

    if (timeout_ms > TSR_STORE_MAX_TIMEOUT) {
        timeout_ms = TSR_STORE_MAX_TIMEOUT;
    }

    av[0] = "EVAL";
    avlen[0] = 4;
    av[1] = script;
    avlen[1] = len;
    av[2] = "1";
    avlen[2] = 1;
    av[3] = key;
    avlen[3] = keylen;

    for (i = 0; i < argc; i++) {
        av[4 + i] = argv[i];
        avlen[4 + i] = (argvlen != NULL) ? argvlen[i] : strlen(argv[i]);
    }

    n = redisFormatCommandArgv(&cmd, argc + 4, av, avlen);
    if (n < 0) {
        tsr_server_set_error(srv, "EVAL: out of memory");
        goto refused;
    }

    req = OPENSSL_malloc(sizeof(tsr_req_t));
    if (req == NULL) {
        OPENSSL_cleanse(cmd, n);
        redisFreeCommand(cmd);
        tsr_server_set_error(srv, "EVAL: out of memory");
        goto refused;
    }

    req->prev = NULL;
    req->next = NULL;
    req->srv = srv;
    req->done = done;
    req->arg = arg;
    req->deadline = now + timeout_ms;
    req->timeout = timeout_ms;
    req->keylen = keylen;
    req->getdel = 0;
    req->eval = 1;
    req->haskey = 0;
    req->redirected = 0;
    req->script = 1;
    req->cmd = NULL;
    req->cmdlen = 0;

    rc = tsr_server_async_formatted(srv, tsr_server_get_cb, req, cmd, n);

    /*
     * A router's node keeps the command, for the node a redirection
     * names; elsewhere it goes at once.  The caller's arguments may be
     * secret: wiped in either case.
     */

    if (rc == TSR_OK && srv->hooks != NULL) {
        req->cmd = OPENSSL_malloc(n);

        if (req->cmd != NULL) {
            memcpy(req->cmd, cmd, n);
            req->cmdlen = n;
        }
    }

    OPENSSL_cleanse(cmd, n);
    redisFreeCommand(cmd);

    if (rc != TSR_OK) {
        tsr_server_set_error(srv, "EVAL on %s: hiredis refused the command",
                             srv->addr);
        tsr_server_req_free(req);
        goto refused;
    }

    srv->lookups++;

    if (timeout_ms > srv->max_timeout) {
        srv->max_timeout = timeout_ms;
    }

    tsr_server_req_insert(srv, req);
    tsr_server_arm(srv);

    return req;

refused:

    srv->stats.refused++;

    return NULL;
}
