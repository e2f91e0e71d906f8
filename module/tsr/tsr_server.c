
/*
 * One Redis server's connection work (tsr_server.h): the single
 * server's store (tsr_single.c) and each node of a router (tsr_router.c)
 * alike.
 *
 * The synchronous side, on tsr_sync: connecting with backoff and the
 * setup's checks (the version, ROLE), commands and their replies, ASKING,
 * and the error replies a router hears of.  The asynchronous side, on
 * tsr_conn: the non-blocking connect and its setup commands, the name
 * resolved through the loop, the ring of send times that bounds the
 * commands awaiting replies, the reply callbacks, the circuit breaker,
 * the one loop timer (tsr_server_arm()), the adapter the connection
 * drives, and writes, which a router's node keeps so that a redirection
 * can send them again.
 */


#include "tsr_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "tsr_conn.h"
#include "tsr_caps.h"


static int tsr_server_closed(tsr_server_t *srv);
static int tsr_server_open(tsr_server_t *srv);
static int tsr_server_sync(tsr_server_t *srv, redisReply **reply,
    const char *name, const char *fmt, ...);
static int tsr_server_redirect_sync(tsr_server_t *srv,
    const redisReply *reply);
static void tsr_server_news(tsr_server_t *srv, const redisReply *reply);
static void tsr_server_event(tsr_server_t *node, int ev);
static int tsr_server_role_reply(tsr_server_t *srv, const redisReply *reply);
static void tsr_server_caps(tsr_server_t *srv, const tsr_caps_t *caps);
static int tsr_server_unknown_command(const redisReply *reply);
static int tsr_server_backoff(tsr_server_t *srv);
static void tsr_server_wipe_reply(redisReply *reply);
static void tsr_server_resolved(const char *ip, const char *err, void *arg);
static void tsr_server_async_failed(tsr_server_t *srv, int unresolved);
static void tsr_server_resolve_log(tsr_server_t *srv, const char *fmt, ...)
    TSR_PRINTF(2, 3);
static void tsr_server_setup_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_server_write_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_server_latency(tsr_server_t *srv, uint64_t us);
static void tsr_server_watch(tsr_server_t *srv);
static void tsr_server_flush_now(tsr_server_t *srv);
static void tsr_server_ev_add_read(void *data);
static void tsr_server_ev_del_read(void *data);
static void tsr_server_ev_add_write(void *data);
static void tsr_server_ev_del_write(void *data);
static void tsr_server_ev_cleanup(void *data);
static void tsr_server_sent_push(tsr_server_t *srv);
static int tsr_server_wcmd_send(tsr_server_t *srv, const char *name,
    const char *fmt, va_list args);
static void tsr_server_wcmd_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_server_wcmd_free(tsr_server_wcmd_t *w);
static void tsr_server_asking_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_server_write_reply(tsr_server_t *srv, const char *name,
    const redisReply *reply);
static int tsr_server_redirect(tsr_server_t *srv, const redisReply *reply,
    tsr_req_t *req, tsr_server_wcmd_t *w);
static int tsr_server_req_resend(tsr_server_t *srv, tsr_req_t *req, int ask);
static int tsr_server_wcmd_resend(tsr_server_t *srv, tsr_server_wcmd_t *w,
    int ask);


/*
 * GETDEL for Redis before 6.2: a script runs atomically as well.  GET of
 * a missing key is false in Lua, which EVAL returns as nil; GET of a key
 * holding another type raises WRONGTYPE, as GETDEL does.
 */
const char  tsr_server_getdel_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v then redis.call('DEL', KEYS[1]) end "
    "return v";


/*
 * Sorts a lookup's reply out: TSR_OK (the value is reply->str and
 * reply->len), TSR_NOT_FOUND for nil and for bad values (another type,
 * more than TSR_MAX_VALUE or "size" bytes), TSR_ESERVER for other error
 * replies; counts hits, misses and bad values.
 */

int
tsr_server_lookup_reply(tsr_server_t *srv, const char *name,
    const redisReply *reply, size_t keylen, size_t size)
{
    switch (reply->type) {

    case REDIS_REPLY_NIL:
        srv->stats.misses++;
        return TSR_NOT_FOUND;

    case REDIS_REPLY_STRING:
        if (reply->len > TSR_MAX_VALUE || reply->len > size) {
            srv->stats.bad_values++;
            tsr_server_set_error(srv, "%s on %s: value of %zu bytes under a "
                                 "key of %zu bytes is over the limit of %zu",
                                 name, srv->addr, reply->len, keylen,
                                 size < TSR_MAX_VALUE ? size
                                                      : (size_t) TSR_MAX_VALUE);
            return TSR_NOT_FOUND;
        }

        srv->stats.hits++;
        return TSR_OK;

    case REDIS_REPLY_ERROR:
        if (reply->str != NULL && strstr(reply->str, "WRONGTYPE") != NULL) {
            srv->stats.bad_values++;
            tsr_server_set_error(srv,
                                 "%s on %s: a key of %zu bytes holds "
                                 "another type", name, srv->addr, keylen);
            return TSR_NOT_FOUND;
        }

        tsr_server_reply_error(srv, name, reply);
        return TSR_ESERVER;

    default:
        srv->stats.bad_values++;
        tsr_server_set_error(srv,
                             "%s on %s: unexpected reply type %d for a key "
                             "of %zu bytes", name, srv->addr, reply->type,
                             keylen);
        return TSR_NOT_FOUND;
    }
}


/*
 * What the setup learned of the server.  Before 6.2 GETDEL is its
 * script from the start, not after a first refusal; a server that hides
 * its version (INFO renamed or forbidden, as some managed services do)
 * is assumed to have everything, which is said once.
 */

static void
tsr_server_caps(tsr_server_t *srv, const tsr_caps_t *caps)
{
    if (caps->state == TSR_CAPS_REFUSED) {
        if (!srv->caps_logged) {
            srv->caps_logged = 1;
            tsr_server_log(srv, TSR_LOG_INFO,
                           "redis at %s: %s; its version is not checked",
                           srv->addr, caps->text);
        }

        return;
    }

    if (caps->state == TSR_CAPS_KNOWN && caps->version < TSR_CAPS_GETDEL
        && !srv->getdel_eval)
    {
        srv->getdel_eval = 1;
        tsr_server_log(srv, TSR_LOG_INFO,
                       "redis at %s is %s: GETDEL needs "
                       "Redis 6.2 or later, single use takes sessions with "
                       "a script (EVAL) instead", srv->addr, caps->text);
    }
}


/* Redis before 6.2 answering GETDEL */

static int
tsr_server_unknown_command(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR
           && reply->len >= sizeof("ERR unknown command") - 1
           && memcmp(reply->str, "ERR unknown command",
                     sizeof("ERR unknown command") - 1)
              == 0;
}


/*
 * GETDEL, or its script once Redis said it does not know the command
 * (before 6.2); the switch is for the life of the store.
 */

int
tsr_server_getdel_reply(tsr_server_t *srv, const char *key, size_t keylen,
    redisReply **reply)
{
    int          rc;
    redisReply  *r;

    if (!srv->getdel_eval) {
        rc = tsr_server_command(srv, &r, "GETDEL", "GETDEL %b", key, keylen);
        if (rc != TSR_OK) {
            return rc;
        }

        if (!tsr_server_unknown_command(r)) {
            *reply = r;
            return TSR_OK;
        }

        tsr_server_free_reply(srv, r, 1);
        srv->getdel_eval = 1;

        tsr_server_log(srv, TSR_LOG_INFO,
                       "redis at %s has no GETDEL, using EVAL instead",
                       srv->addr);
    }

    return tsr_server_command(srv, reply, "EVAL", "EVAL %s 1 %b",
                              tsr_server_getdel_lua, key, keylen);
}


/*
 * Connects unless connected or backing off.  A connection the server has
 * closed while idle (a restart, its "timeout" setting) is replaced at once.
 */

int
tsr_server_ready(tsr_server_t *srv)
{
    int64_t  now;

    if (srv->ctx != NULL) {
        if (!tsr_server_closed(srv)) {
            return TSR_OK;
        }

        tsr_server_log(srv, TSR_LOG_INFO, "redis at %s closed the connection",
                       srv->addr);

        tsr_sync_free(srv->ctx);
        srv->ctx = NULL;

        return tsr_server_open(srv);
    }

    now = tsr_now_ms();

    if (now < srv->next_attempt) {
        tsr_server_set_error(srv,
                             "redis unavailable, next attempt in %lld ms: "
                             "%s", (long long) (srv->next_attempt - now),
                             srv->last);
        return TSR_ECONN;
    }

    return tsr_server_open(srv);
}


/*
 * An idle connection has nothing to read: anything readable is the end of
 * the stream, an error, or data we did not ask for.
 */

static int
tsr_server_closed(tsr_server_t *srv)
{
    return tsr_sync_closed(srv->ctx);
}


static int
tsr_server_open(tsr_server_t *srv)
{
    int               rc;
    uint64_t          deadline;
    redisReply       *reply;
    tsr_sync_conf_t   conf;

    memset(&conf, 0, sizeof(conf));
    conf.addr = srv->addr;
    conf.host = srv->host;
    conf.port = srv->port;
    conf.path = srv->unix_path;
    conf.user = srv->user;
    conf.password = srv->password;
    conf.password_len = srv->password_len;
    conf.db = srv->db;
    conf.info = !srv->no_caps;
    conf.connect_timeout_ms = srv->connect_timeout_ms;
    conf.command_timeout_ms = srv->command_timeout_ms;
    conf.tls = tsr_server_tls(srv);

    srv->ctx = tsr_sync_connect(&conf, &rc, srv->err, sizeof(srv->err));
    if (srv->ctx == NULL) {
        goto failed;
    }

    tsr_server_caps(srv, &srv->ctx->caps);

    deadline = srv->sync_deadline;
    if (deadline != 0) {
        tsr_sync_set_deadline(srv->ctx, deadline);
    }

    if (srv->verify_role) {
        rc = tsr_server_sync(srv, &reply, "ROLE", "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        rc = tsr_server_role_reply(srv, reply);
        freeReplyObject(reply);

        if (rc != TSR_OK) {
            tsr_server_event(srv, TSR_STORE_EV_NOT_MASTER);
            goto failed;
        }
    }

    srv->stats.connects++;
    srv->stats.tls_resumed += (srv->ctx->conn != NULL
                              && srv->ctx->conn->tls_resumed);
    srv->backoff_ms = srv->backoff_min_ms;
    srv->next_attempt = 0;
    srv->last[0] = '\0';

    tsr_server_log(srv, TSR_LOG_INFO, "connected to redis at %s", srv->addr);

    return TSR_OK;

failed:

    tsr_server_drop(srv);

    return rc;
}


/*
 * Closes the connection and schedules the next attempt; the delay doubles
 * with each failure in a row, up to backoff_max_ms.
 */

void
tsr_server_drop(tsr_server_t *srv)
{
    int  delay;

    tsr_sync_free(srv->ctx);
    srv->ctx = NULL;

    delay = tsr_server_backoff(srv);
    srv->next_attempt = tsr_now_ms() + delay;

    memcpy(srv->last, srv->err, sizeof(srv->last));

    tsr_server_log(srv, TSR_LOG_ERR, "%s, next attempt in %d ms", srv->err,
                   delay);
}


/* the delay before the next attempt; it doubles up to backoff_max_ms */

static int
tsr_server_backoff(tsr_server_t *srv)
{
    int  ms;

    ms = srv->backoff_ms;

    srv->backoff_ms = (ms > srv->backoff_max_ms / 2) ? srv->backoff_max_ms
                                                   : ms * 2;

    return ms;
}


/*
 * Sends a command (hiredis format, "%b" for binary strings) and reads its
 * reply; an I/O error or a timeout drops the connection.  The caller
 * frees *reply.
 */

int
tsr_server_command(tsr_server_t *srv, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int          rc;
    va_list      args;
    redisReply  *r;

    rc = tsr_server_ready(srv);
    if (rc != TSR_OK) {
        return rc;
    }

    if (srv->asking) {
        /* its error, if any, shows in the reply to the command */
        srv->asking = 0;

        rc = tsr_server_sync(srv, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_server_drop(srv);
            return rc;
        }

        freeReplyObject(r);
    }

    va_start(args, fmt);
    rc = tsr_server_vsync(srv, &r, name, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_server_drop(srv);
        return rc;
    }

    if (srv->hooks != NULL
        && tsr_server_redirect_sync(srv, r) == TSR_STORE_ERROR_REDIRECT)
    {
        freeReplyObject(r);
        return TSR_EREDIRECT;
    }

    *reply = r;

    return TSR_OK;
}


/*
 * As tsr_server_command(), for a command given as arguments; they may be
 * secret, and the formatted command is wiped (tsr_sync_append_argv()).
 */

int
tsr_server_command_argv(tsr_server_t *srv, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen)
{
    int          rc;
    redisReply  *r;

    rc = tsr_server_ready(srv);
    if (rc != TSR_OK) {
        return rc;
    }

    if (srv->asking) {
        srv->asking = 0;

        rc = tsr_server_sync(srv, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_server_drop(srv);
            return rc;
        }

        freeReplyObject(r);
    }

    rc = tsr_sync_append_argv(srv->ctx, argc, argv, argvlen);

    if (rc == TSR_OK) {
        rc = tsr_sync_reply(srv->ctx, &r, name);
    }

    if (rc != TSR_OK) {
        tsr_server_set_error(srv, "%s", srv->ctx->errstr);
        tsr_server_drop(srv);
        return rc;
    }

    if (srv->hooks != NULL
        && tsr_server_redirect_sync(srv, r) == TSR_STORE_ERROR_REDIRECT)
    {
        freeReplyObject(r);
        return TSR_EREDIRECT;
    }

    *reply = r;

    return TSR_OK;
}


/*
 * An error reply on a router's node: a redirection the router follows,
 * or news for it (a read-only replica, a cluster down).
 */

static int
tsr_server_redirect_sync(tsr_server_t *srv, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (srv->hooks->redirect != NULL
        && srv->hooks->redirect(reply, &srv->redirect) == TSR_OK)
    {
        return TSR_STORE_ERROR_REDIRECT;
    }

    tsr_server_news(srv, reply);

    return TSR_STORE_ERROR_OTHER;
}


/* error replies that tell a router its picture is stale */

static void
tsr_server_news(tsr_server_t *srv, const redisReply *reply)
{
    if (reply->len >= sizeof("READONLY") - 1
        && memcmp(reply->str, "READONLY", sizeof("READONLY") - 1) == 0)
    {
        tsr_server_event(srv, TSR_STORE_EV_READONLY);

    } else if (reply->len >= sizeof("CLUSTERDOWN") - 1
               && memcmp(reply->str, "CLUSTERDOWN",
                         sizeof("CLUSTERDOWN") - 1)
                  == 0)
    {
        tsr_server_event(srv, TSR_STORE_EV_CLUSTERDOWN);
    }
}


/* tells the router of "node" about it */

static void
tsr_server_event(tsr_server_t *node, int ev)
{
    if (node->hooks == NULL || node->hooks->event == NULL
        || node->hooks->gone(node->owner))
    {
        return;
    }

    node->hooks->event(node->owner, node, ev);
}


/*
 * ROLE's reply: an array whose first element is "master", "slave" or
 * "sentinel".  Returns TSR_OK for a master, or an error with a message.
 */

static int
tsr_server_role_reply(tsr_server_t *srv, const redisReply *reply)
{
    const redisReply  *role;

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_server_reply_error(srv, "ROLE", reply);
        return TSR_ESERVER;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        tsr_server_set_error(srv, "ROLE on %s: unexpected reply type %d",
                             srv->addr, reply->type);
        return TSR_EPROTO;
    }

    role = reply->element[0];

    if (role->len == sizeof("master") - 1
        && memcmp(role->str, "master", role->len) == 0)
    {
        return TSR_OK;
    }

    tsr_server_set_error(srv,
                         "redis at %s is not a master, its role is \"%.*s\"",
                         srv->addr, (int) (role->len < 16 ? role->len : 16),
                         role->str);

    return TSR_ESERVER;
}


/*
 * A command and its reply on the blocking connection; a failure's message
 * goes to the store's.
 */

static int
tsr_server_sync(tsr_server_t *srv, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_server_vsync(srv, reply, name, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_server_vsync(tsr_server_t *srv, redisReply **reply, const char *name,
    const char *fmt, va_list args)
{
    int  rc;

    rc = tsr_sync_vcommand(srv->ctx, reply, name, fmt, args);

    if (rc != TSR_OK) {
        tsr_server_set_error(srv, "%s", srv->ctx->errstr);
    }

    return rc;
}


/*
 * Error replies may echo arguments ("ERR unknown command 'X', with args
 * beginning with: ..."), and arguments are key names and values: keep the
 * text before that part, printable and short.
 */

void
tsr_server_reply_error(tsr_server_t *srv, const char *name,
    const redisReply *reply)
{
    char        text[TSR_STORE_REPLY_TEXT];
    size_t      i, n;
    const char  *args;

    n = (reply->str != NULL) ? reply->len : 0;

    if (n != 0) {
        args = strstr(reply->str, ", with args");
        if (args != NULL && (size_t) (args - reply->str) < n) {
            n = args - reply->str;
        }
    }

    if (n > sizeof(text) - 1) {
        n = sizeof(text) - 1;
    }

    for (i = 0; i < n; i++) {
        text[i] = (reply->str[i] >= 0x20 && reply->str[i] < 0x7f)
                  ? reply->str[i] : '?';
    }

    text[n] = '\0';

    tsr_server_set_error(srv, "%s on %s failed: %s", name, srv->addr, text);
}


/*
 * With "wipe", value bytes are erased from the reply and from hiredis'
 * read buffer first (best effort: hiredis' stack buffer is out of reach).
 */

void
tsr_server_free_reply(tsr_server_t *srv, redisReply *reply, int wipe)
{
    if (wipe) {
        tsr_server_wipe_reply(reply);

        if (srv->ctx != NULL) {
            tsr_sync_wipe(srv->ctx);
        }
    }

    freeReplyObject(reply);
}


static void
tsr_server_wipe_reply(redisReply *reply)
{
    size_t  i;

    if (reply->type == REDIS_REPLY_ARRAY && reply->element != NULL) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i] != NULL) {
                tsr_server_wipe_reply(reply->element[i]);
            }
        }
    }

    if (reply->str != NULL) {
        OPENSSL_cleanse(reply->str, reply->len);
    }
}


/* ---- the asynchronous side ---- */

/*
 * Starts a non-blocking connect.  The setup commands (AUTH, INFO,
 * SELECT, ROLE) are queued at once and go first on the wire, one round
 * trip; a sentinel without AUTH gets a PING, since only a reply proves
 * that Redis answers (hiredis reports the connect on the first write
 * event, which a host may post early).  The store is ready when the
 * last setup reply is in.
 */

void
tsr_server_async_connect(tsr_server_t *srv)
{
    int                 rc;
    char                err[TSR_CONN_ERR_LEN];
    const char         *call;
    tsr_conn_t         *c;
    tsr_conn_events_t   ev;

    call = "connect";

    ev.data = srv;
    ev.add_read = tsr_server_ev_add_read;
    ev.del_read = tsr_server_ev_del_read;
    ev.add_write = tsr_server_ev_add_write;
    ev.del_write = tsr_server_ev_del_write;
    ev.cleanup = tsr_server_ev_cleanup;

    c = tsr_conn_connect(srv->ip, srv->port, srv->unix_path,
                         tsr_server_tls(srv), &ev, srv, err, sizeof(err));
    if (c == NULL) {
        tsr_server_set_error(srv, "connecting to redis at %s failed: %s",
                             srv->addr, err);
        tsr_server_async_failed(srv, 0);
        return;
    }

    srv->conn = c;
    srv->fd = c->fd;
    srv->conn_state = TSR_STORE_CONNECTING;
    srv->conn_deadline = tsr_server_loop_now(srv) + srv->connect_timeout_ms
                        + srv->command_timeout_ms;
    srv->setup_left = 0;
    srv->closing = 0;
    srv->reading = 0;
    srv->writing = 0;
    srv->watched = 0;
    srv->broken = 0;
    srv->dropping = 0;
    srv->no_user = 0;

    if (srv->password != NULL) {
        if (srv->user != NULL) {
            rc = tsr_server_async_command(srv, tsr_server_setup_cb,
                                          (void *) "AUTH", "AUTH %s %b",
                                          srv->user, srv->password,
                                          srv->password_len);

        } else {
            rc = tsr_server_async_command(srv, tsr_server_setup_cb,
                                          (void *) "AUTH", "AUTH %b",
                                          srv->password, srv->password_len);
        }

        if (rc != TSR_OK) {
            goto failed;
        }

        srv->setup_left++;
    }

    /* the version, judged before the connection is used; after AUTH */
    if (!srv->no_caps) {
        rc = tsr_server_async_command(srv, tsr_server_setup_cb, (void *) "INFO",
                                      "INFO server");
        if (rc != TSR_OK) {
            goto failed;
        }

        srv->setup_left++;
    }

    if (srv->db != 0) {
        rc = tsr_server_async_command(srv, tsr_server_setup_cb,
                                      (void *) "SELECT", "SELECT %d", srv->db);
        if (rc != TSR_OK) {
            goto failed;
        }

        srv->setup_left++;
    }

    /* a master found through sentinels: still one? */
    if (srv->verify_role) {
        rc = tsr_server_async_command(srv, tsr_server_setup_cb, (void *) "ROLE",
                                      "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        srv->setup_left++;
    }

    if (srv->setup_left == 0) {
        rc = tsr_server_async_command(srv, tsr_server_setup_cb, (void *) "PING",
                                      "PING");
        if (rc != TSR_OK) {
            goto failed;
        }

        srv->setup_left++;
    }

    return;

failed:

    tsr_server_set_error(srv, "%s to %s: cannot queue the setup commands", call,
                         srv->addr);
    tsr_server_async_drop(srv);
}


/* whether there is somewhere to connect to, now or once resolved */

int
tsr_server_async_target(const tsr_server_t *srv)
{
    return srv->unix_path != NULL || srv->ip[0] != '\0' || srv->resolve;
}


/*
 * Asks the loop's resolver for the address of "host" before a connection
 * attempt; the attempt follows when it answers.  Until then lookups are
 * refused as while disconnected.
 */

void
tsr_server_async_resolve(tsr_server_t *srv)
{
    void  *handle;

    srv->resolving = 1;
    srv->resolve_handle = NULL;

    handle = srv->loop.resolve(srv->loop.data, srv->host, tsr_server_resolved,
                               srv);

    /* "done" may have run already, from inside resolve() */

    if (srv->resolving) {
        if (handle == NULL) {
            /* a broken promise: never wait on it */
            srv->resolving = 0;
            tsr_server_set_error(srv,
                                 "resolving redis host \"%s\" did not start",
                                 srv->host);
            tsr_server_async_failed(srv, 1);
            return;
        }

        srv->resolve_handle = handle;
    }
}


static void
tsr_server_resolved(const char *ip, const char *err, void *arg)
{
    tsr_server_t  *srv = arg;

    if (!srv->resolving || srv->destroying) {
        return;
    }

    srv->resolving = 0;
    srv->resolve_handle = NULL;

    if (ip == NULL || ip[0] == '\0' || strlen(ip) >= sizeof(srv->ip)) {
        tsr_server_set_error(srv, "cannot resolve redis host \"%s\": %s",
                             srv->host, (err != NULL) ? err : "no address");

        if (srv->ip[0] == '\0') {
            tsr_server_async_failed(srv, 1);
            tsr_server_arm(srv);
            return;
        }

        /* as upstream's "resolve" keeps its servers: the last address */

        tsr_server_resolve_log(srv, " (trying %s, its last address)", srv->ip);

        tsr_server_async_connect(srv);
        tsr_server_arm(srv);
        return;
    }

    if (strcmp(srv->ip, ip) != 0) {
        tsr_server_log(srv, TSR_LOG_INFO, "redis at %s resolved to %s",
                       srv->addr, ip);

        memcpy(srv->ip, ip, strlen(ip) + 1);
    }

    srv->resolve_err[0] = '\0';

    tsr_server_async_connect(srv);
    tsr_server_arm(srv);
}


/*
 * The name failure in "err", with "fmt": at TSR_LOG_ERR once per
 * TSR_STORE_RESOLVE_LOG or when the reason changes (TSR_LOG_LIMITED: the
 * host need not limit it again), else at TSR_LOG_DEBUG.
 */

static void
tsr_server_resolve_log(tsr_server_t *srv, const char *fmt, ...)
{
    int       level;
    char      more[TSR_STORE_IP_LEN + 64];
    va_list   args;
    uint64_t  now;

    now = tsr_server_loop_now(srv);
    level = TSR_LOG_DEBUG;

    if (strcmp(srv->resolve_err, srv->err) != 0
        || now >= srv->resolve_logged + TSR_STORE_RESOLVE_LOG)
    {
        level = TSR_LOG_ERR | TSR_LOG_LIMITED;
        srv->resolve_logged = now;
        memcpy(srv->resolve_err, srv->err, sizeof(srv->resolve_err));
    }

    va_start(args, fmt);
    tsr_verrf(more, sizeof(more), fmt, args);
    va_end(args);

    tsr_server_log(srv, level, "%s%s", srv->err, more);
}


/*
 * Frees the connection for the reason already in "err".  From inside a
 * hiredis callback the free waits until the callback returns; either
 * way pending callbacks run with NULL replies and cleanup follows, which
 * schedules the next attempt.
 */

void
tsr_server_async_drop(tsr_server_t *srv)
{
    if (srv->conn == NULL || srv->closing) {
        return;
    }

    srv->closing = 1;
    srv->dropping = 1;

    tsr_conn_free(srv->conn);
}


/*
 * A connection attempt failed or a connection went away: count, log,
 * and schedule the next attempt with the synchronous side's backoff.
 * A name that did not resolve ("unresolved") is such an attempt too,
 * logged once per TSR_STORE_RESOLVE_LOG or when the reason changes, and
 * not a breaker failure: without a connection lookups are refused
 * anyway, and the breaker's messages would repeat what that limit keeps
 * quiet.
 */

static void
tsr_server_async_failed(tsr_server_t *srv, int unresolved)
{
    int       delay;
    uint64_t  now;

    now = tsr_server_loop_now(srv);
    delay = tsr_server_backoff(srv);

    srv->reconnect_at = now + delay;
    srv->stats.errors++;

    memcpy(srv->last, srv->err, sizeof(srv->last));

    if (unresolved) {
        tsr_server_resolve_log(srv, ", next attempt in %d ms", delay);

    } else {
        tsr_server_log(srv, TSR_LOG_ERR, "%s, next attempt in %d ms", srv->err,
                       delay);
        tsr_server_breaker_fail(srv, now);
    }

    tsr_server_event(srv, TSR_STORE_EV_DOWN);
}


/*
 * Queues a command (hiredis format) with its reply callback and records
 * its send time.  Nothing is queued when the ring of send times is full.
 */

int
tsr_server_async_command(tsr_server_t *srv, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_server_async_vcommand(srv, fn, privdata, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_server_async_vcommand(tsr_server_t *srv, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, va_list args)
{
    if (srv->conn == NULL || srv->sent_count == srv->sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_vcommand(srv->conn, fn, privdata, fmt, args) != 0) {
        return TSR_ECONN;
    }

    tsr_server_sent_push(srv);

    return TSR_OK;
}


/*
 * GET and SET formatted by hand: hiredis' format parser costs more than
 * the rest of a lookup's client side.
 */

int
tsr_server_async_get(tsr_server_t *srv, tsr_req_t *req, const char *key,
    size_t keylen)
{
    int   n;
    char  cmd[64 + TSR_MAX_KEY_NAME];

    n = snprintf(cmd, sizeof(cmd), "*2\r\n$3\r\nGET\r\n$%zu\r\n", keylen);

    if (n < 0 || (size_t) n + keylen + 2 > sizeof(cmd)) {
        return TSR_EINVAL;
    }

    memcpy(cmd + n, key, keylen);
    memcpy(cmd + n + keylen, "\r\n", 2);

    return tsr_server_async_formatted(srv, tsr_server_get_cb, req, cmd,
                                      n + keylen + 2);
}


int
tsr_server_async_set(tsr_server_t *srv, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms)
{
    int      m, rc;
    char     ttl[24], *cmd, *p;
    size_t   len;

    m = snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long) ttl_ms);

    len = 64 + keylen + vlen + m;

    cmd = OPENSSL_malloc(len);
    if (cmd == NULL) {
        return TSR_ENOMEM;
    }

    p = cmd + snprintf(cmd, len, "*5\r\n$3\r\nSET\r\n$%zu\r\n", keylen);
    memcpy(p, key, keylen);
    p += keylen;
    p += snprintf(p, len - (p - cmd), "\r\n$%zu\r\n", vlen);

    if (vlen != 0) {
        memcpy(p, val, vlen);
        p += vlen;
    }

    p += snprintf(p, len - (p - cmd), "\r\n$2\r\nPX\r\n$%d\r\n%s\r\n", m,
                  ttl);

    rc = tsr_server_async_formatted(srv, tsr_server_write_cb, (void *) "SET",
                                    cmd, p - cmd);

    /* sealed bytes: nothing to wipe */
    OPENSSL_free(cmd);

    return rc;
}


/* a command formatted before, as a redirection sends it again */

int
tsr_server_async_formatted(tsr_server_t *srv, tsr_conn_reply_pt fn,
    void *privdata, const char *cmd, size_t len)
{
    if (srv->conn == NULL || srv->sent_count == srv->sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_formatted(srv->conn, fn, privdata, cmd, len) != 0) {
        return TSR_ECONN;
    }

    tsr_server_sent_push(srv);

    return TSR_OK;
}


/*
 * The loop's millisecond time serves deadlines and stall checks; the
 * lookup latency histogram needs microseconds: one clock_gettime() per
 * command sent.
 */

static void
tsr_server_sent_push(tsr_server_t *srv)
{
    size_t  i;

    i = (srv->sent_first + srv->sent_count) % srv->sent_size;

    srv->stats.commands++;
    srv->sent[i] = tsr_server_loop_now(srv);
    srv->sent_us[i] = tsr_now_us();
    srv->sent_count++;
}


uint64_t
tsr_server_sent_pop(tsr_server_t *srv)
{
    uint64_t  t;

    if (srv->sent_count == 0) {
        return 0;
    }

    t = srv->sent[srv->sent_first];

    srv->sent_first = (srv->sent_first + 1) % srv->sent_size;
    srv->sent_count--;
    srv->stats.replies++;

    return t;
}


/*
 * Whether SET or DEL may be queued: never past max_queued, so hiredis'
 * output buffer stays bounded while Redis does not read.
 */

int
tsr_server_writable(tsr_server_t *srv, const char *name)
{
    if (srv->conn_state != TSR_STORE_READY || srv->closing) {
        srv->stats.dropped++;
        tsr_server_set_error(srv, "%s dropped: not connected to redis at %s",
                             name, srv->addr);
        return 0;
    }

    if (srv->sent_count >= (size_t) srv->max_queued) {
        srv->stats.dropped++;
        tsr_server_set_error(srv,
                             "%s dropped: %zu commands await replies "
                             "from redis at %s", name, srv->sent_count,
                             srv->addr);
        return 0;
    }

    if (tsr_server_unsent(srv) >= TSR_STORE_MAX_UNSENT) {
        srv->stats.dropped++;
        tsr_server_set_error(srv,
                             "%s dropped: %zu bytes wait for redis at %s "
                             "to read", name, tsr_server_unsent(srv),
                             srv->addr);
        return 0;
    }

    return 1;
}


/* bytes of commands queued and not yet written */

size_t
tsr_server_unsent(const tsr_server_t *srv)
{
    return (srv->conn != NULL) ? tsr_conn_unsent(srv->conn) : 0;
}


static void
tsr_server_setup_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_server_t  *srv = c->data;
    redisReply    *reply = r;
    const char    *name = privdata;

    char          err[TSR_SYNC_ERR_LEN];
    tsr_caps_t    caps;

    (void) tsr_server_sent_pop(srv);

    if (reply == NULL) {
        srv->closing = 1;
        return;
    }

    if (srv->closing || srv->conn_state != TSR_STORE_CONNECTING) {
        return;
    }

    if (name[0] == 'I') {
        tsr_caps_info(&caps, reply);

        if (tsr_caps_check(&caps, srv->addr, srv->user != NULL, srv->no_user,
                           err, sizeof(err))
            != 0)
        {
            tsr_server_set_error(srv, "%s", err);
            tsr_server_async_drop(srv);
            return;
        }

        tsr_server_caps(srv, &caps);

    } else if (name[0] == 'R') {
        if (tsr_server_role_reply(srv, reply) != TSR_OK) {
            tsr_server_async_drop(srv);
            tsr_server_event(srv, TSR_STORE_EV_NOT_MASTER);
            return;
        }

    } else if (name[0] == 'A' && srv->user != NULL && !srv->no_caps
               && tsr_caps_auth_no_user(reply))
    {
        /* Redis before 6.0: told with its version by INFO, next */
        srv->no_user = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (name[0] == 'A' && srv->user != NULL
            && tsr_caps_auth_no_user(reply))
        {
            memset(&caps, 0, sizeof(caps));
            (void) tsr_caps_check(&caps, srv->addr, 1, 1, err, sizeof(err));
            tsr_server_set_error(srv, "%s", err);

        } else {
            tsr_server_reply_error(srv, name, reply);
        }

        tsr_server_async_drop(srv);
        return;

    } else if (reply->type != REDIS_REPLY_STATUS) {
        tsr_server_set_error(srv, "%s on %s: unexpected reply type %d", name,
                             srv->addr, reply->type);
        tsr_server_async_drop(srv);
        return;
    }

    if (--srv->setup_left > 0) {
        return;
    }

    srv->conn_state = TSR_STORE_READY;
    srv->stats.connects++;
    srv->stats.tls_resumed += c->tls_resumed;
    srv->backoff_ms = srv->backoff_min_ms;
    srv->last[0] = '\0';

    /* a new connection ends the open period: try it */
    if (srv->breaker == TSR_STORE_OPEN) {
        srv->breaker = TSR_STORE_HALF_OPEN;
    }

    tsr_server_log(srv, TSR_LOG_INFO, "connected to redis at %s", srv->addr);

    tsr_server_event(srv, TSR_STORE_EV_READY);
}


/*
 * The reply to a lookup, or NULL when the context goes away.  A caller
 * still waiting is answered; the request is freed in any case, unless
 * it goes on as the GETDEL script.
 */

void
tsr_server_get_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    int            rc;
    uint64_t       sent, now;
    tsr_req_t     *req = privdata;
    redisReply    *reply = r;
    tsr_server_t  *srv;

    srv = req->srv;

    sent = (srv->sent_count > 0) ? srv->sent_us[srv->sent_first] : 0;
    (void) tsr_server_sent_pop(srv);
    srv->lookups--;

    if (reply == NULL) {
        srv->closing = 1;

        if (req->done != NULL) {
            tsr_server_set_error(srv, "%s on %s failed: connection lost",
                                 tsr_server_req_name(req), srv->addr);
            tsr_server_complete(srv, req, TSR_ECONN, NULL);
        }

        tsr_server_req_free(req);
        return;
    }

    now = tsr_now_us();
    tsr_server_latency(srv, now > sent ? now - sent : 0);

    if (srv->hooks != NULL && reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_server_redirect(srv, reply, req, NULL)) {

        case TSR_STORE_ERROR_REDIRECT:
            /* it goes on, on another node */
            return;

        case TSR_STORE_ERROR_LOST:
            if (req->done != NULL) {
                tsr_server_complete(srv, req, TSR_ECONN, NULL);
            }

            tsr_server_req_free(req);
            return;
        }
    }

    if (req->getdel && !req->eval && tsr_server_unknown_command(reply)) {
        if (!srv->getdel_eval) {
            srv->getdel_eval = 1;
            tsr_server_log(srv, TSR_LOG_INFO,
                           "redis at %s has no GETDEL, using EVAL instead",
                           srv->addr);
        }

        req->eval = 1;

        /* the script goes after everything queued: the ring stays fair */
        if (!srv->closing
            && tsr_server_async_command(srv, tsr_server_get_cb, req,
                                        "EVAL %s 1 %b", tsr_server_getdel_lua,
                                        req->key, req->keylen)
               == TSR_OK)
        {
            srv->lookups++;
            return;
        }
    }

    if (req->done != NULL) {
        rc = tsr_server_lookup_reply(srv, tsr_server_req_name(req), reply,
                                     req->keylen, TSR_MAX_VALUE);
        tsr_server_complete(srv, req, rc, reply);
    }

    /* hiredis frees the reply after this callback; the value goes first */
    if (reply->type == REDIS_REPLY_STRING) {
        srv->wipe = 1;
    }

    tsr_server_wipe_reply(reply);
    tsr_server_req_free(req);
}


/* fire and forget: only counted, and errors logged (the host limits) */

static void
tsr_server_write_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_server_t  *srv = c->data;
    redisReply    *reply = r;
    const char    *name = privdata;

    (void) tsr_server_sent_pop(srv);

    if (reply == NULL) {
        /* lost with the connection, whose end is logged once */
        srv->closing = 1;
        srv->stats.errors++;
        return;
    }

    tsr_server_write_reply(srv, name, reply);
}


/* a write of a router's node, which a redirection sends again */

static void
tsr_server_wcmd_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_server_t       *srv = c->data;
    redisReply         *reply = r;
    tsr_server_wcmd_t  *w = privdata;

    (void) tsr_server_sent_pop(srv);

    if (reply == NULL) {
        srv->closing = 1;
        srv->stats.errors++;
        tsr_server_wcmd_free(w);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_server_redirect(srv, reply, NULL, w)) {

        case TSR_STORE_ERROR_REDIRECT:
            return;

        case TSR_STORE_ERROR_LOST:
            srv->stats.errors++;
            tsr_server_log(srv, TSR_LOG_ERR, "%s", srv->err);
            tsr_server_wcmd_free(w);
            return;
        }
    }

    tsr_server_write_reply(srv, w->name, reply);
    tsr_server_wcmd_free(w);
}


static void
tsr_server_wcmd_free(tsr_server_wcmd_t *w)
{
    OPENSSL_cleanse(w->cmd, w->len);
    redisFreeCommand(w->cmd);
    OPENSSL_free(w);
}


/* ASKING before a command redirected by ASK: only counted */

static void
tsr_server_asking_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_server_t  *srv = c->data;

    (void) tsr_server_sent_pop(srv);

    if (r == NULL) {
        srv->closing = 1;
    }
}


static void
tsr_server_write_reply(tsr_server_t *srv, const char *name,
    const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        srv->stats.errors++;
        tsr_server_reply_error(srv, name, reply);
        tsr_server_log(srv, TSR_LOG_ERR, "%s", srv->err);
        return;
    }

    if (name[0] == 'S'
        ? (reply->type == REDIS_REPLY_STATUS && reply->len == 2
           && memcmp(reply->str, "OK", 2) == 0)
        : reply->type == REDIS_REPLY_INTEGER)
    {
        return;
    }

    srv->stats.errors++;
    tsr_server_set_error(srv, "%s on %s: unexpected reply type %d", name,
                         srv->addr, reply->type);
    tsr_server_log(srv, TSR_LOG_ERR, "%s", srv->err);
}


/* an open breaker becomes half-open when its period is over */

int
tsr_server_breaker_state(tsr_server_t *srv, uint64_t now)
{
    if (srv->breaker == TSR_STORE_OPEN && now >= srv->breaker_until) {
        srv->breaker = TSR_STORE_HALF_OPEN;
    }

    return srv->breaker;
}


void
tsr_server_breaker_ok(tsr_server_t *srv)
{
    srv->failures = 0;

    if (srv->breaker == TSR_STORE_CLOSED) {
        return;
    }

    srv->breaker = TSR_STORE_CLOSED;
    srv->breaker_ms = srv->backoff_min_ms;

    tsr_server_log(srv, TSR_LOG_INFO, "circuit breaker for redis at %s closed",
                   srv->addr);
}


/*
 * Failures in a row open the breaker for the current backoff; one
 * failure while half-open opens it again for twice as long.  Failures
 * while open (of lookups sent before) change nothing.
 */

void
tsr_server_breaker_fail(tsr_server_t *srv, uint64_t now)
{
    srv->failures++;

    switch (tsr_server_breaker_state(srv, now)) {

    case TSR_STORE_CLOSED:
        if (srv->failures < srv->breaker_failures) {
            return;
        }

        break;

    case TSR_STORE_HALF_OPEN:
        srv->breaker_ms = (srv->breaker_ms > srv->backoff_max_ms / 2)
                         ? srv->backoff_max_ms : srv->breaker_ms * 2;
        break;

    default: /* TSR_STORE_OPEN */
        return;
    }

    srv->breaker = TSR_STORE_OPEN;
    srv->breaker_until = now + srv->breaker_ms;
    srv->stats.breaker_opened++;

    tsr_server_log(srv, TSR_LOG_WARN,
                   "circuit breaker for redis at %s open "
                   "for %d ms after %d failures in a row, the last: %s",
                   srv->addr, srv->breaker_ms, srv->failures, srv->err);
}


static void
tsr_server_latency(tsr_server_t *srv, uint64_t us)
{
    size_t  i;

    static const uint64_t  bounds[] = TSR_STORE_LATENCY_BOUNDS;

    for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        if (us <= bounds[i]) {
            break;
        }
    }

    srv->stats.latency[i]++;
    srv->stats.latency_sum_us += us;
}


/*
 * How long the oldest command may wait for its reply before the
 * connection counts as stuck (a stopped Redis keeps the socket open):
 * well past any deadline, so a merely slow Redis keeps its connection.
 */

uint64_t
tsr_server_stall_ms(tsr_server_t *srv)
{
    uint64_t  ms;

    ms = srv->max_timeout * TSR_STORE_STALL_FACTOR;

    return (ms > TSR_STORE_STALL_MIN) ? ms : TSR_STORE_STALL_MIN;
}


/*
 * Arms the single loop timer for the earliest of: the first deadline,
 * the connect deadline, the stall check of the oldest command, the next
 * connect attempt, or at once for a socket the loop refused.  A timer
 * that fires earlier than needed just re-arms, so it is moved only
 * forward in time.
 */

void
tsr_server_arm(tsr_server_t *srv)
{
    uint64_t  at, t, now;

    if (!srv->async || srv->destroying) {
        return;
    }

    at = (srv->head != NULL) ? srv->head->deadline : 0;
    t = 0;

    if (srv->conn != NULL) {
        if (srv->broken || srv->read_more) {
            t = 1;

        } else if (srv->conn_state == TSR_STORE_CONNECTING) {
            t = srv->conn_deadline;

        } else if (srv->sent_count > 0) {
            t = srv->sent[srv->sent_first] + tsr_server_stall_ms(srv);
        }

    } else if (tsr_server_async_target(srv) && !srv->parked
               && !srv->resolving)
    {
        t = (srv->reconnect_at != 0) ? srv->reconnect_at : 1;
    }

    if (t != 0 && (at == 0 || t < at)) {
        at = t;
    }

    if (at == 0 || (srv->timer_at != 0 && srv->timer_at <= at)) {
        return;
    }

    now = tsr_server_loop_now(srv);

    /*
     * Disarm first: a host may keep an armed timer whose new time is
     * close to the old one (nginx does within 300 ms).
     */
    if (srv->timer_at != 0) {
        srv->loop.timer(srv->loop.data, 0);
    }

    srv->loop.timer(srv->loop.data, (at > now) ? at - now : 1);
    srv->timer_at = at;
}


/*
 * What hiredis holds goes out in one write(): the commands queued since
 * the last one.  hiredis asks for a write event on each command it
 * queues, and the host runs it at the end of its loop turn (nginx: a
 * posted event), so the commands of one turn leave together and nothing
 * waits for a batch to fill.  SETs go earlier, see
 * tsr_server_write_done().
 */

void
tsr_server_handle_write(tsr_server_t *srv)
{
    srv->flushing = 1;

    if (tsr_conn_on_write(srv->conn) > 0) {
        srv->stats.writes++;
    }

    srv->flushing = 0;
}


uint64_t
tsr_server_loop_now(tsr_server_t *srv)
{
    return srv->loop.now(srv->loop.data);
}


/*
 * The adapter hiredis drives.  Interests are kept here and the loop told
 * on changes, and on each addWrite for new commands: hosts with edge-
 * triggered events flush on that call (the write edge may be spent), by
 * posting a write event.  Not on the addWrite of a write that stopped
 * at EAGAIN (a full buffer, or a connect still in progress that hiredis
 * took for done): the next edge will come, and a host running posted
 * events at once (nginx) would spin until then.  A refusal cannot be
 * handled inside hiredis: the timer drops the socket.
 */

static void
tsr_server_watch(tsr_server_t *srv)
{
    if (srv->broken) {
        return;
    }

    /* a failed watch may have registered something: unwatch it later */
    srv->watched = 1;

    if (srv->loop.watch(srv->loop.data, srv->fd, srv->reading, srv->writing)
        != 0)
    {
        srv->broken = 1;
    }
}


static void
tsr_server_ev_add_read(void *data)
{
    tsr_server_t  *srv = data;

    if (!srv->reading) {
        srv->reading = 1;
        tsr_server_watch(srv);
    }
}


static void
tsr_server_ev_del_read(void *data)
{
    tsr_server_t  *srv = data;

    if (srv->reading) {
        srv->reading = 0;
        tsr_server_watch(srv);
    }
}


static void
tsr_server_ev_add_write(void *data)
{
    tsr_server_t  *srv = data;

    if (srv->writing && srv->flushing) {
        return;
    }

    srv->writing = 1;
    tsr_server_watch(srv);
}


static void
tsr_server_ev_del_write(void *data)
{
    tsr_server_t  *srv = data;

    if (srv->writing) {
        srv->writing = 0;
        tsr_server_watch(srv);
    }
}


/*
 * The connection ends, after the NULL-reply callbacks and before it
 * closes the socket: the one place where a connection ends.
 */

static void
tsr_server_ev_cleanup(void *data)
{
    tsr_server_t  *srv = data;

    int          ready;
    tsr_conn_t  *c;

    c = srv->conn;

    if (srv->watched) {
        srv->loop.unwatch(srv->loop.data, srv->fd);
    }

    ready = (srv->conn_state == TSR_STORE_READY);

    if (!srv->dropping && !srv->destroying && !srv->quiet) {
        if (ready) {
            tsr_server_set_error(srv, "connection to redis at %s lost: %s",
                                 srv->addr,
                                 c->err ? c->errstr : "connection closed");

        } else {
            tsr_server_set_error(srv, "connecting to redis at %s failed: %s",
                                 srv->addr,
                                 c->err ? c->errstr : "connection closed");
        }
    }

    srv->conn = NULL;
    srv->read_more = 0;
    srv->fd = -1;
    srv->conn_state = TSR_STORE_IDLE;
    srv->setup_left = 0;
    srv->sent_first = 0;
    srv->sent_count = 0;
    srv->closing = 0;
    srv->reading = 0;
    srv->writing = 0;
    srv->watched = 0;
    srv->broken = 0;
    srv->dropping = 0;
    srv->wipe = 0;

    /* "flushing" stays: tsr_conn_on_write() may be on the stack */

    if (srv->destroying) {
        return;
    }

    if (srv->quiet) {
        /* closed on purpose by the router: no failure, no backoff */
        srv->quiet = 0;
        srv->reconnect_at = 0;

    } else {
        tsr_server_async_failed(srv, 0);
    }

    /* the router may have closed it from outside the store's calls */
    tsr_server_arm(srv);
}


/* ---- writes, and what a router's nodes do with redirections ---- */

/*
 * Queues SET or DEL (fire and forget).  A router's node keeps the
 * command, formatted, for a redirection to send again.
 */

void
tsr_server_write_async(tsr_server_t *srv, const char *name, int now,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    rc = TSR_OK;

    if (tsr_server_writable(srv, name)) {
        va_start(args, fmt);

        if (srv->hooks == NULL) {
            rc = tsr_server_async_vcommand(srv, tsr_server_write_cb,
                                           (void *) name, fmt, args);

        } else {
            rc = tsr_server_wcmd_send(srv, name, fmt, args);
        }

        va_end(args);
    }

    tsr_server_write_done(srv, name, rc, now);
}


/*
 * After a write was queued (or refused, "rc").  A DEL leaves with the
 * other commands of this loop turn, on the write event hiredis asked
 * for.  A SET leaves at once ("now"), with whatever this turn queued
 * before it: it stores a session whose client is being sent its
 * Finished in this very handshake call, and that client may offer it to
 * another node before this worker's turn ends.  In Redis first, then in
 * the client's hands: cross-node resumption does not depend on the
 * scheduler.  A SET whose caller holds the client's bytes until the
 * turn's write (TLS 1.3 tickets, tsr_store_set_later()) leaves with the
 * turn's other commands.
 */

void
tsr_server_write_done(tsr_server_t *srv, const char *name, int rc, int now)
{
    if (rc != TSR_OK) {
        srv->stats.dropped++;
        tsr_server_set_error(srv, "%s dropped: hiredis refused it", name);

    } else if (now) {
        tsr_server_flush_now(srv);
    }

    tsr_server_arm(srv);
}


/* not from inside hiredis, which must not be entered again */

static void
tsr_server_flush_now(tsr_server_t *srv)
{
    if (srv->conn == NULL || srv->conn_state != TSR_STORE_READY || srv->closing
        || srv->destroying || srv->flushing || srv->reading_now || srv->broken)
    {
        return;
    }

    tsr_server_handle_write(srv);
}


static int
tsr_server_wcmd_send(tsr_server_t *srv, const char *name, const char *fmt,
    va_list args)
{
    int                 rc, len;
    char               *cmd;
    tsr_server_wcmd_t  *w;

    w = OPENSSL_malloc(sizeof(tsr_server_wcmd_t));
    if (w == NULL) {
        return TSR_ENOMEM;
    }

    len = redisvFormatCommand(&cmd, fmt, args);
    if (len < 0) {
        OPENSSL_free(w);
        return TSR_ENOMEM;
    }

    w->name = name;
    w->cmd = cmd;
    w->len = len;
    w->redirected = 0;

    rc = tsr_server_async_formatted(srv, tsr_server_wcmd_cb, w, w->cmd, w->len);
    if (rc != TSR_OK) {
        tsr_server_wcmd_free(w);
    }

    return rc;
}


/*
 * An error reply to a command of a router's node, "req" or "w": a
 * redirection is followed once, to a node connected already (a lookup
 * keeps its deadline); anything else is news for the router.  Returns
 * TSR_STORE_ERROR_REDIRECT when the command went on elsewhere,
 * TSR_STORE_ERROR_LOST (with a message) when a redirection was not
 * followed or the cluster said it is down (no failure of the node's
 * for its breaker), else TSR_STORE_ERROR_OTHER.
 */

static int
tsr_server_redirect(tsr_server_t *srv, const redisReply *reply,
    tsr_req_t *req, tsr_server_wcmd_t *w)
{
    int            ask, rc;
    const char    *name;
    tsr_server_t  *target;

    if (reply->str == NULL || srv->hooks->gone(srv->owner)) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (srv->hooks->error == NULL) {
        tsr_server_news(srv, reply);
        return TSR_STORE_ERROR_OTHER;
    }

    target = NULL;
    ask = 0;

    rc = srv->hooks->error(srv->owner, srv, reply, &target, &ask);
    if (rc != TSR_STORE_ERROR_REDIRECT) {
        return rc;
    }

    name = (req != NULL) ? tsr_server_req_name(req) : w->name;

    if (req != NULL && req->done == NULL) {
        /* no caller waits any more */
        return TSR_STORE_ERROR_LOST;
    }

    if ((req != NULL && req->redirected) || (w != NULL && w->redirected)) {
        tsr_server_set_error(srv, "%s on %s: redirected twice, given up", name,
                             srv->addr);
        return TSR_STORE_ERROR_LOST;
    }

    if (target == NULL || target == srv || !tsr_server_usable(target)) {
        tsr_server_set_error(srv,
                             "%s on %s: redirected to %s, not connected yet",
                             name, srv->addr,
                             target != NULL ? target->addr : "a node");
        return TSR_STORE_ERROR_LOST;
    }

    rc = (req != NULL) ? tsr_server_req_resend(target, req, ask)
                       : tsr_server_wcmd_resend(target, w, ask);

    if (rc != TSR_OK) {
        tsr_server_set_error(srv,
                             "%s on %s: redirected to %s, which refused it",
                             name, srv->addr, target->addr);
        return TSR_STORE_ERROR_LOST;
    }

    return TSR_STORE_ERROR_REDIRECT;
}


/*
 * Sends a lookup again on "srv", after ASKING for an ASK redirection; it
 * moves to the node's list with its deadline.  Written with the node's
 * next write event, not at once: this runs inside another node's reply.
 */

static int
tsr_server_req_resend(tsr_server_t *srv, tsr_req_t *req, int ask)
{
    int            rc;
    tsr_server_t  *from;

    if (srv->sent_count + 2 > srv->sent_size
        || srv->sent_count >= (size_t) srv->max_queued)
    {
        return TSR_ERROR;
    }

    if (req->script && req->cmd == NULL) {
        /* its copy could not be kept */
        return TSR_ERROR;
    }

    if (ask
        && tsr_server_async_command(srv, tsr_server_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    if (req->script) {
        rc = tsr_server_async_formatted(srv, tsr_server_get_cb, req, req->cmd,
                                        req->cmdlen);

    } else if (req->eval) {
        rc = tsr_server_async_command(srv, tsr_server_get_cb, req,
                                      "EVAL %s 1 %b", tsr_server_getdel_lua,
                                      req->key, req->keylen);

    } else {
        rc = tsr_server_async_command(srv, tsr_server_get_cb, req, "%s %b",
                                      req->getdel ? "GETDEL" : "GET", req->key,
                                      req->keylen);
    }

    if (rc != TSR_OK) {
        return rc;
    }

    from = req->srv;

    tsr_server_req_unlink(from, req);

    req->srv = srv;
    req->redirected = 1;
    srv->lookups++;

    if (req->timeout > srv->max_timeout) {
        srv->max_timeout = req->timeout;
    }

    tsr_server_req_insert(srv, req);
    tsr_server_arm(srv);

    return TSR_OK;
}


static int
tsr_server_wcmd_resend(tsr_server_t *srv, tsr_server_wcmd_t *w, int ask)
{
    if (srv->sent_count + 2 > srv->sent_size
        || srv->sent_count >= (size_t) srv->max_queued)
    {
        return TSR_ERROR;
    }

    if (ask
        && tsr_server_async_command(srv, tsr_server_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    w->redirected = 1;

    if (tsr_server_async_formatted(srv, tsr_server_wcmd_cb, w, w->cmd, w->len)
        != TSR_OK)
    {
        return TSR_ERROR;
    }

    tsr_server_arm(srv);

    return TSR_OK;
}
