
/*
 * One Redis server, as a store of one connection uses it: the single
 * server's store (tsr_single.c) and each node of a router (tsr_router.c)
 * alike.
 *
 * The synchronous side, on tsr_sync: connecting with backoff and the
 * setup's checks (the version, ROLE), commands and their replies, ASKING,
 * and the error replies a router hears of.  The asynchronous side, on
 * tsr_conn: the non-blocking connect and its setup commands, the name
 * resolved through the loop, the ring of send times that bounds the
 * commands awaiting replies, the reply callbacks, the circuit breaker,
 * the one loop timer (tsr_store_arm()), the adapter the connection
 * drives, and writes, which a router's node keeps so that a redirection
 * can send them again.
 */


#include "tsr_store.h"
#include "tsr_topo.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "tsr_conn.h"
#include "tsr_caps.h"


static int tsr_store_closed(tsr_store_t *st);
static int tsr_store_open(tsr_store_t *st);
static int tsr_store_sync(tsr_store_t *st, redisReply **reply,
    const char *name, const char *fmt, ...);
static int tsr_store_router_error_sync(tsr_store_t *st,
    const redisReply *reply);
static void tsr_store_router_news(tsr_store_t *st, const redisReply *reply);
static void tsr_store_router_event(tsr_store_t *node, int ev);
static int tsr_store_role_reply(tsr_store_t *st, const redisReply *reply);
static void tsr_store_caps(tsr_store_t *st, const tsr_caps_t *caps);
static int tsr_store_unknown_command(const redisReply *reply);
static int tsr_store_backoff(tsr_store_t *st);
static void tsr_store_wipe_reply(redisReply *reply);
static void tsr_store_resolved(const char *ip, const char *err, void *arg);
static void tsr_store_async_failed(tsr_store_t *st, int unresolved);
static void tsr_store_resolve_log(tsr_store_t *st, const char *fmt, ...)
    TSR_PRINTF(2, 3);
static void tsr_store_setup_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_write_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_latency(tsr_store_t *st, uint64_t us);
static void tsr_store_watch(tsr_store_t *st);
static void tsr_store_flush_now(tsr_store_t *st);
static void tsr_store_ev_add_read(void *data);
static void tsr_store_ev_del_read(void *data);
static void tsr_store_ev_add_write(void *data);
static void tsr_store_ev_del_write(void *data);
static void tsr_store_ev_cleanup(void *data);
static void tsr_store_sent_push(tsr_store_t *st);
static int tsr_store_wcmd_send(tsr_store_t *st, const char *name,
    const char *fmt, va_list args);
static void tsr_store_wcmd_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_wcmd_free(tsr_store_wcmd_t *w);
static void tsr_store_asking_cb(tsr_conn_t *c, redisReply *r,
    void *privdata);
static void tsr_store_write_reply(tsr_store_t *st, const char *name,
    const redisReply *reply);
static int tsr_store_router_error(tsr_store_t *st, const redisReply *reply,
    tsr_req_t *req, tsr_store_wcmd_t *w);
static int tsr_store_req_resend(tsr_store_t *st, tsr_req_t *req, int ask);
static int tsr_store_wcmd_resend(tsr_store_t *st, tsr_store_wcmd_t *w,
    int ask);


/*
 * GETDEL for Redis before 6.2: a script runs atomically as well.  GET of
 * a missing key is false in Lua, which EVAL returns as nil; GET of a key
 * holding another type raises WRONGTYPE, as GETDEL does.
 */
const char  tsr_store_getdel_lua[] =
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
tsr_store_lookup_reply(tsr_store_t *st, const char *name,
    const redisReply *reply, size_t keylen, size_t size)
{
    switch (reply->type) {

    case REDIS_REPLY_NIL:
        st->srv.stats.misses++;
        return TSR_NOT_FOUND;

    case REDIS_REPLY_STRING:
        if (reply->len > TSR_MAX_VALUE || reply->len > size) {
            st->srv.stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: value of %zu bytes under a "
                                "key of %zu bytes is over the limit of %zu",
                                name, st->srv.addr, reply->len, keylen,
                                size < TSR_MAX_VALUE ? size
                                                     : (size_t) TSR_MAX_VALUE);
            return TSR_NOT_FOUND;
        }

        st->srv.stats.hits++;
        return TSR_OK;

    case REDIS_REPLY_ERROR:
        if (reply->str != NULL && strstr(reply->str, "WRONGTYPE") != NULL) {
            st->srv.stats.bad_values++;
            tsr_store_set_error(st, "%s on %s: a key of %zu bytes holds "
                                "another type", name, st->srv.addr, keylen);
            return TSR_NOT_FOUND;
        }

        tsr_store_reply_error(st, name, reply);
        return TSR_ESERVER;

    default:
        st->srv.stats.bad_values++;
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d for a key "
                            "of %zu bytes", name, st->srv.addr, reply->type,
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
tsr_store_caps(tsr_store_t *st, const tsr_caps_t *caps)
{
    if (caps->state == TSR_CAPS_REFUSED) {
        if (!st->srv.caps_logged) {
            st->srv.caps_logged = 1;
            tsr_store_log(st, TSR_LOG_INFO, "redis at %s: %s; its version "
                          "is not checked", st->srv.addr, caps->text);
        }

        return;
    }

    if (caps->state == TSR_CAPS_KNOWN && caps->version < TSR_CAPS_GETDEL
        && !st->srv.getdel_eval)
    {
        st->srv.getdel_eval = 1;
        tsr_store_log(st, TSR_LOG_INFO, "redis at %s is %s: GETDEL needs "
                      "Redis 6.2 or later, single use takes sessions with "
                      "a script (EVAL) instead", st->srv.addr, caps->text);
    }
}


/* Redis before 6.2 answering GETDEL */

static int
tsr_store_unknown_command(const redisReply *reply)
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
tsr_store_getdel_reply(tsr_store_t *st, const char *key, size_t keylen,
    redisReply **reply)
{
    int          rc;
    redisReply  *r;

    if (!st->srv.getdel_eval) {
        rc = tsr_store_command(st, &r, "GETDEL", "GETDEL %b", key, keylen);
        if (rc != TSR_OK) {
            return rc;
        }

        if (!tsr_store_unknown_command(r)) {
            *reply = r;
            return TSR_OK;
        }

        tsr_store_free_reply(st, r, 1);
        st->srv.getdel_eval = 1;

        tsr_store_log(st, TSR_LOG_INFO, "redis at %s has no GETDEL, "
                      "using EVAL instead", st->srv.addr);
    }

    return tsr_store_command(st, reply, "EVAL", "EVAL %s 1 %b",
                             tsr_store_getdel_lua, key, keylen);
}


/*
 * Connects unless connected or backing off.  A connection the server has
 * closed while idle (a restart, its "timeout" setting) is replaced at once.
 */

int
tsr_store_ready(tsr_store_t *st)
{
    int64_t  now;

    if (st->srv.ctx != NULL) {
        if (!tsr_store_closed(st)) {
            return TSR_OK;
        }

        tsr_store_log(st, TSR_LOG_INFO, "redis at %s closed the connection",
                      st->srv.addr);

        tsr_sync_free(st->srv.ctx);
        st->srv.ctx = NULL;

        return tsr_store_open(st);
    }

    now = tsr_now_ms();

    if (now < st->srv.next_attempt) {
        tsr_store_set_error(st, "redis unavailable, next attempt in %lld ms: "
                            "%s", (long long) (st->srv.next_attempt - now),
                            st->srv.last);
        return TSR_ECONN;
    }

    return tsr_store_open(st);
}


/*
 * An idle connection has nothing to read: anything readable is the end of
 * the stream, an error, or data we did not ask for.
 */

static int
tsr_store_closed(tsr_store_t *st)
{
    return tsr_sync_closed(st->srv.ctx);
}


static int
tsr_store_open(tsr_store_t *st)
{
    int               rc;
    uint64_t          deadline;
    redisReply       *reply;
    tsr_sync_conf_t   conf;

    memset(&conf, 0, sizeof(conf));
    conf.addr = st->srv.addr;
    conf.host = st->srv.host;
    conf.port = st->srv.port;
    conf.path = st->srv.unix_path;
    conf.user = st->srv.user;
    conf.password = st->srv.password;
    conf.password_len = st->srv.password_len;
    conf.db = st->srv.db;
    conf.info = !st->srv.no_caps;
    conf.connect_timeout_ms = st->srv.connect_timeout_ms;
    conf.command_timeout_ms = st->srv.command_timeout_ms;
    conf.tls = tsr_store_tls(st);

    st->srv.ctx = tsr_sync_connect(&conf, &rc, st->srv.err, sizeof(st->srv.err));
    if (st->srv.ctx == NULL) {
        goto failed;
    }

    tsr_store_caps(st, &st->srv.ctx->caps);

    deadline = (st->parent != NULL) ? st->parent->srv.sync_deadline
                                    : st->srv.sync_deadline;
    if (deadline != 0) {
        tsr_sync_set_deadline(st->srv.ctx, deadline);
    }

    if (st->srv.verify_role) {
        rc = tsr_store_sync(st, &reply, "ROLE", "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        rc = tsr_store_role_reply(st, reply);
        freeReplyObject(reply);

        if (rc != TSR_OK) {
            tsr_store_router_event(st, TSR_STORE_EV_NOT_MASTER);
            goto failed;
        }
    }

    st->srv.stats.connects++;
    st->srv.stats.tls_resumed += (st->srv.ctx->conn != NULL
                              && st->srv.ctx->conn->tls_resumed);
    st->srv.backoff_ms = st->srv.backoff_min_ms;
    st->srv.next_attempt = 0;
    st->srv.last[0] = '\0';

    tsr_store_log(st, TSR_LOG_INFO, "connected to redis at %s", st->srv.addr);

    return TSR_OK;

failed:

    tsr_store_drop(st);

    return rc;
}


/*
 * Closes the connection and schedules the next attempt; the delay doubles
 * with each failure in a row, up to backoff_max_ms.
 */

void
tsr_store_drop(tsr_store_t *st)
{
    int  delay;

    tsr_sync_free(st->srv.ctx);
    st->srv.ctx = NULL;

    delay = tsr_store_backoff(st);
    st->srv.next_attempt = tsr_now_ms() + delay;

    memcpy(st->srv.last, st->srv.err, sizeof(st->srv.last));

    tsr_store_log(st, TSR_LOG_ERR, "%s, next attempt in %d ms", st->srv.err,
                  delay);
}


/* the delay before the next attempt; it doubles up to backoff_max_ms */

static int
tsr_store_backoff(tsr_store_t *st)
{
    int  ms;

    ms = st->srv.backoff_ms;

    st->srv.backoff_ms = (ms > st->srv.backoff_max_ms / 2) ? st->srv.backoff_max_ms
                                                   : ms * 2;

    return ms;
}


/*
 * Sends a command (hiredis format, "%b" for binary strings) and reads its
 * reply; an I/O error or a timeout drops the connection.  The caller
 * frees *reply.
 */

int
tsr_store_command(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int          rc;
    va_list      args;
    redisReply  *r;

    rc = tsr_store_ready(st);
    if (rc != TSR_OK) {
        return rc;
    }

    if (st->srv.asking) {
        /* its error, if any, shows in the reply to the command */
        st->srv.asking = 0;

        rc = tsr_store_sync(st, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_store_drop(st);
            return rc;
        }

        freeReplyObject(r);
    }

    va_start(args, fmt);
    rc = tsr_store_vsync(st, &r, name, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_store_drop(st);
        return rc;
    }

    if (st->parent != NULL
        && tsr_store_router_error_sync(st, r) == TSR_STORE_ERROR_REDIRECT)
    {
        freeReplyObject(r);
        return TSR_EREDIRECT;
    }

    *reply = r;

    return TSR_OK;
}


/*
 * As tsr_store_command(), for a command given as arguments; they may be
 * secret, and the formatted command is wiped (tsr_sync_append_argv()).
 */

int
tsr_store_command_argv(tsr_store_t *st, redisReply **reply,
    const char *name, int argc, const char **argv, const size_t *argvlen)
{
    int          rc;
    redisReply  *r;

    rc = tsr_store_ready(st);
    if (rc != TSR_OK) {
        return rc;
    }

    if (st->srv.asking) {
        st->srv.asking = 0;

        rc = tsr_store_sync(st, &r, "ASKING", "ASKING");
        if (rc != TSR_OK) {
            tsr_store_drop(st);
            return rc;
        }

        freeReplyObject(r);
    }

    rc = tsr_sync_append_argv(st->srv.ctx, argc, argv, argvlen);

    if (rc == TSR_OK) {
        rc = tsr_sync_reply(st->srv.ctx, &r, name);
    }

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s", st->srv.ctx->errstr);
        tsr_store_drop(st);
        return rc;
    }

    if (st->parent != NULL
        && tsr_store_router_error_sync(st, r) == TSR_STORE_ERROR_REDIRECT)
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
tsr_store_router_error_sync(tsr_store_t *st, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (st->parent->topo->redirect != NULL
        && st->parent->topo->redirect(reply, &st->srv.redirect) == TSR_OK)
    {
        return TSR_STORE_ERROR_REDIRECT;
    }

    tsr_store_router_news(st, reply);

    return TSR_STORE_ERROR_OTHER;
}


/* error replies that tell a router its picture is stale */

static void
tsr_store_router_news(tsr_store_t *st, const redisReply *reply)
{
    if (reply->len >= sizeof("READONLY") - 1
        && memcmp(reply->str, "READONLY", sizeof("READONLY") - 1) == 0)
    {
        tsr_store_router_event(st, TSR_STORE_EV_READONLY);

    } else if (reply->len >= sizeof("CLUSTERDOWN") - 1
               && memcmp(reply->str, "CLUSTERDOWN",
                         sizeof("CLUSTERDOWN") - 1)
                  == 0)
    {
        tsr_store_router_event(st, TSR_STORE_EV_CLUSTERDOWN);
    }
}


/* tells the router of "node" about it */

static void
tsr_store_router_event(tsr_store_t *node, int ev)
{
    tsr_store_t  *st;

    st = node->parent;

    if (st == NULL || st->srv.destroying) {
        return;
    }

    if (st->topo->event != NULL) {
        st->topo->event(st, node, ev);
    }
}


/*
 * ROLE's reply: an array whose first element is "master", "slave" or
 * "sentinel".  Returns TSR_OK for a master, or an error with a message.
 */

static int
tsr_store_role_reply(tsr_store_t *st, const redisReply *reply)
{
    const redisReply  *role;

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_store_reply_error(st, "ROLE", reply);
        return TSR_ESERVER;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        tsr_store_set_error(st, "ROLE on %s: unexpected reply type %d",
                            st->srv.addr, reply->type);
        return TSR_EPROTO;
    }

    role = reply->element[0];

    if (role->len == sizeof("master") - 1
        && memcmp(role->str, "master", role->len) == 0)
    {
        return TSR_OK;
    }

    tsr_store_set_error(st, "redis at %s is not a master, its role is "
                        "\"%.*s\"", st->srv.addr,
                        (int) (role->len < 16 ? role->len : 16), role->str);

    return TSR_ESERVER;
}


/*
 * A command and its reply on the blocking connection; a failure's message
 * goes to the store's.
 */

static int
tsr_store_sync(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_store_vsync(st, reply, name, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_store_vsync(tsr_store_t *st, redisReply **reply, const char *name,
    const char *fmt, va_list args)
{
    int  rc;

    rc = tsr_sync_vcommand(st->srv.ctx, reply, name, fmt, args);

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s", st->srv.ctx->errstr);
    }

    return rc;
}


/*
 * Error replies may echo arguments ("ERR unknown command 'X', with args
 * beginning with: ..."), and arguments are key names and values: keep the
 * text before that part, printable and short.
 */

void
tsr_store_reply_error(tsr_store_t *st, const char *name,
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

    tsr_store_set_error(st, "%s on %s failed: %s", name, st->srv.addr, text);
}


/*
 * With "wipe", value bytes are erased from the reply and from hiredis'
 * read buffer first (best effort: hiredis' stack buffer is out of reach).
 */

void
tsr_store_free_reply(tsr_store_t *st, redisReply *reply, int wipe)
{
    if (wipe) {
        tsr_store_wipe_reply(reply);

        if (st->srv.ctx != NULL) {
            tsr_sync_wipe(st->srv.ctx);
        }
    }

    freeReplyObject(reply);
}


static void
tsr_store_wipe_reply(redisReply *reply)
{
    size_t  i;

    if (reply->type == REDIS_REPLY_ARRAY && reply->element != NULL) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i] != NULL) {
                tsr_store_wipe_reply(reply->element[i]);
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
tsr_store_async_connect(tsr_store_t *st)
{
    int                 rc;
    char                err[TSR_CONN_ERR_LEN];
    const char         *call;
    tsr_conn_t         *c;
    tsr_conn_events_t   ev;

    call = "connect";

    ev.data = st;
    ev.add_read = tsr_store_ev_add_read;
    ev.del_read = tsr_store_ev_del_read;
    ev.add_write = tsr_store_ev_add_write;
    ev.del_write = tsr_store_ev_del_write;
    ev.cleanup = tsr_store_ev_cleanup;

    c = tsr_conn_connect(st->srv.ip, st->srv.port, st->srv.unix_path,
                         tsr_store_tls(st), &ev, st, err,
                         sizeof(err));
    if (c == NULL) {
        tsr_store_set_error(st, "connecting to redis at %s failed: %s",
                            st->srv.addr, err);
        tsr_store_async_failed(st, 0);
        return;
    }

    st->srv.conn = c;
    st->srv.fd = c->fd;
    st->srv.conn_state = TSR_STORE_CONNECTING;
    st->srv.conn_deadline = tsr_store_loop_now(st) + st->srv.connect_timeout_ms
                        + st->srv.command_timeout_ms;
    st->srv.setup_left = 0;
    st->srv.closing = 0;
    st->srv.reading = 0;
    st->srv.writing = 0;
    st->srv.watched = 0;
    st->srv.broken = 0;
    st->srv.dropping = 0;
    st->srv.no_user = 0;

    if (st->srv.password != NULL) {
        if (st->srv.user != NULL) {
            rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                         (void *) "AUTH", "AUTH %s %b",
                                         st->srv.user, st->srv.password,
                                         st->srv.password_len);

        } else {
            rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                         (void *) "AUTH", "AUTH %b",
                                         st->srv.password, st->srv.password_len);
        }

        if (rc != TSR_OK) {
            goto failed;
        }

        st->srv.setup_left++;
    }

    /* the version, judged before the connection is used; after AUTH */
    if (!st->srv.no_caps) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "INFO",
                                     "INFO server");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->srv.setup_left++;
    }

    if (st->srv.db != 0) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb,
                                     (void *) "SELECT", "SELECT %d", st->srv.db);
        if (rc != TSR_OK) {
            goto failed;
        }

        st->srv.setup_left++;
    }

    /* a master found through sentinels: still one? */
    if (st->srv.verify_role) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "ROLE",
                                     "ROLE");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->srv.setup_left++;
    }

    if (st->srv.setup_left == 0) {
        rc = tsr_store_async_command(st, tsr_store_setup_cb, (void *) "PING",
                                     "PING");
        if (rc != TSR_OK) {
            goto failed;
        }

        st->srv.setup_left++;
    }

    return;

failed:

    tsr_store_set_error(st, "%s to %s: cannot queue the setup commands",
                        call, st->srv.addr);
    tsr_store_async_drop(st);
}


/* whether there is somewhere to connect to, now or once resolved */

int
tsr_store_async_target(const tsr_store_t *st)
{
    return st->srv.unix_path != NULL || st->srv.ip[0] != '\0' || st->srv.resolve;
}


/*
 * Asks the loop's resolver for the address of "host" before a connection
 * attempt; the attempt follows when it answers.  Until then lookups are
 * refused as while disconnected.
 */

void
tsr_store_async_resolve(tsr_store_t *st)
{
    void  *handle;

    st->srv.resolving = 1;
    st->srv.resolve_handle = NULL;

    handle = st->srv.loop.resolve(st->srv.loop.data, st->srv.host, tsr_store_resolved,
                              st);

    /* "done" may have run already, from inside resolve() */

    if (st->srv.resolving) {
        if (handle == NULL) {
            /* a broken promise: never wait on it */
            st->srv.resolving = 0;
            tsr_store_set_error(st, "resolving redis host \"%s\" did not "
                                "start", st->srv.host);
            tsr_store_async_failed(st, 1);
            return;
        }

        st->srv.resolve_handle = handle;
    }
}


static void
tsr_store_resolved(const char *ip, const char *err, void *arg)
{
    tsr_store_t  *st = arg;

    if (!st->srv.resolving || st->srv.destroying) {
        return;
    }

    st->srv.resolving = 0;
    st->srv.resolve_handle = NULL;

    if (ip == NULL || ip[0] == '\0' || strlen(ip) >= sizeof(st->srv.ip)) {
        tsr_store_set_error(st, "cannot resolve redis host \"%s\": %s",
                            st->srv.host, (err != NULL) ? err : "no address");

        if (st->srv.ip[0] == '\0') {
            tsr_store_async_failed(st, 1);
            tsr_store_arm(st);
            return;
        }

        /* as upstream's "resolve" keeps its servers: the last address */

        tsr_store_resolve_log(st, " (trying %s, its last address)", st->srv.ip);

        tsr_store_async_connect(st);
        tsr_store_arm(st);
        return;
    }

    if (strcmp(st->srv.ip, ip) != 0) {
        tsr_store_log(st, TSR_LOG_INFO, "redis at %s resolved to %s",
                      st->srv.addr, ip);

        memcpy(st->srv.ip, ip, strlen(ip) + 1);
    }

    st->srv.resolve_err[0] = '\0';

    tsr_store_async_connect(st);
    tsr_store_arm(st);
}


/*
 * The name failure in "err", with "fmt": at TSR_LOG_ERR once per
 * TSR_STORE_RESOLVE_LOG or when the reason changes (TSR_LOG_LIMITED: the
 * host need not limit it again), else at TSR_LOG_DEBUG.
 */

static void
tsr_store_resolve_log(tsr_store_t *st, const char *fmt, ...)
{
    int       level;
    char      more[TSR_STORE_IP_LEN + 64];
    va_list   args;
    uint64_t  now;

    now = tsr_store_loop_now(st);
    level = TSR_LOG_DEBUG;

    if (strcmp(st->srv.resolve_err, st->srv.err) != 0
        || now >= st->srv.resolve_logged + TSR_STORE_RESOLVE_LOG)
    {
        level = TSR_LOG_ERR | TSR_LOG_LIMITED;
        st->srv.resolve_logged = now;
        memcpy(st->srv.resolve_err, st->srv.err, sizeof(st->srv.resolve_err));
    }

    va_start(args, fmt);
    tsr_verrf(more, sizeof(more), fmt, args);
    va_end(args);

    tsr_store_log(st, level, "%s%s", st->srv.err, more);
}


/*
 * Frees the connection for the reason already in "err".  From inside a
 * hiredis callback the free waits until the callback returns; either
 * way pending callbacks run with NULL replies and cleanup follows, which
 * schedules the next attempt.
 */

void
tsr_store_async_drop(tsr_store_t *st)
{
    if (st->srv.conn == NULL || st->srv.closing) {
        return;
    }

    st->srv.closing = 1;
    st->srv.dropping = 1;

    tsr_conn_free(st->srv.conn);
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
tsr_store_async_failed(tsr_store_t *st, int unresolved)
{
    int       delay;
    uint64_t  now;

    now = tsr_store_loop_now(st);
    delay = tsr_store_backoff(st);

    st->srv.reconnect_at = now + delay;
    st->srv.stats.errors++;

    memcpy(st->srv.last, st->srv.err, sizeof(st->srv.last));

    if (unresolved) {
        tsr_store_resolve_log(st, ", next attempt in %d ms", delay);

    } else {
        tsr_store_log(st, TSR_LOG_ERR, "%s, next attempt in %d ms", st->srv.err,
                      delay);
        tsr_store_breaker_fail(st, now);
    }

    tsr_store_router_event(st, TSR_STORE_EV_DOWN);
}


/*
 * Queues a command (hiredis format) with its reply callback and records
 * its send time.  Nothing is queued when the ring of send times is full.
 */

int
tsr_store_async_command(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_store_async_vcommand(st, fn, privdata, fmt, args);
    va_end(args);

    return rc;
}


int
tsr_store_async_vcommand(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *fmt, va_list args)
{
    if (st->srv.conn == NULL || st->srv.sent_count == st->srv.sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_vcommand(st->srv.conn, fn, privdata, fmt, args) != 0) {
        return TSR_ECONN;
    }

    tsr_store_sent_push(st);

    return TSR_OK;
}


/*
 * GET and SET formatted by hand: hiredis' format parser costs more than
 * the rest of a lookup's client side.
 */

int
tsr_store_async_get(tsr_store_t *st, tsr_req_t *req, const char *key,
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

    return tsr_store_async_formatted(st, tsr_store_get_cb, req, cmd,
                                     n + keylen + 2);
}


int
tsr_store_async_set(tsr_store_t *st, const char *key, size_t keylen,
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

    rc = tsr_store_async_formatted(st, tsr_store_write_cb, (void *) "SET",
                                   cmd, p - cmd);

    /* sealed bytes: nothing to wipe */
    OPENSSL_free(cmd);

    return rc;
}


/* a command formatted before, as a redirection sends it again */

int
tsr_store_async_formatted(tsr_store_t *st, tsr_conn_reply_pt fn,
    void *privdata, const char *cmd, size_t len)
{
    if (st->srv.conn == NULL || st->srv.sent_count == st->srv.sent_size) {
        return TSR_ERROR;
    }

    if (tsr_conn_formatted(st->srv.conn, fn, privdata, cmd, len) != 0) {
        return TSR_ECONN;
    }

    tsr_store_sent_push(st);

    return TSR_OK;
}


/*
 * The loop's millisecond time serves deadlines and stall checks; the
 * lookup latency histogram needs microseconds: one clock_gettime() per
 * command sent.
 */

static void
tsr_store_sent_push(tsr_store_t *st)
{
    size_t  i;

    i = (st->srv.sent_first + st->srv.sent_count) % st->srv.sent_size;

    st->srv.stats.commands++;
    st->srv.sent[i] = tsr_store_loop_now(st);
    st->srv.sent_us[i] = tsr_now_us();
    st->srv.sent_count++;
}


uint64_t
tsr_store_sent_pop(tsr_store_t *st)
{
    uint64_t  t;

    if (st->srv.sent_count == 0) {
        return 0;
    }

    t = st->srv.sent[st->srv.sent_first];

    st->srv.sent_first = (st->srv.sent_first + 1) % st->srv.sent_size;
    st->srv.sent_count--;
    st->srv.stats.replies++;

    return t;
}


/*
 * Whether SET or DEL may be queued: never past max_queued, so hiredis'
 * output buffer stays bounded while Redis does not read.
 */

int
tsr_store_writable(tsr_store_t *st, const char *name)
{
    if (st->srv.conn_state != TSR_STORE_READY || st->srv.closing) {
        st->srv.stats.dropped++;
        tsr_store_set_error(st, "%s dropped: not connected to redis at %s",
                            name, st->srv.addr);
        return 0;
    }

    if (st->srv.sent_count >= (size_t) st->srv.max_queued) {
        st->srv.stats.dropped++;
        tsr_store_set_error(st, "%s dropped: %zu commands await replies "
                            "from redis at %s", name, st->srv.sent_count,
                            st->srv.addr);
        return 0;
    }

    if (tsr_store_unsent(st) >= TSR_STORE_MAX_UNSENT) {
        st->srv.stats.dropped++;
        tsr_store_set_error(st, "%s dropped: %zu bytes wait for redis at %s "
                            "to read", name, tsr_store_unsent(st), st->srv.addr);
        return 0;
    }

    return 1;
}


/* bytes of commands queued and not yet written */

size_t
tsr_store_unsent(const tsr_store_t *st)
{
    return (st->srv.conn != NULL) ? tsr_conn_unsent(st->srv.conn) : 0;
}


static void
tsr_store_setup_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;
    redisReply   *reply = r;
    const char   *name = privdata;

    char          err[TSR_SYNC_ERR_LEN];
    tsr_caps_t    caps;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        st->srv.closing = 1;
        return;
    }

    if (st->srv.closing || st->srv.conn_state != TSR_STORE_CONNECTING) {
        return;
    }

    if (name[0] == 'I') {
        tsr_caps_info(&caps, reply);

        if (tsr_caps_check(&caps, st->srv.addr, st->srv.user != NULL, st->srv.no_user,
                           err, sizeof(err))
            != 0)
        {
            tsr_store_set_error(st, "%s", err);
            tsr_store_async_drop(st);
            return;
        }

        tsr_store_caps(st, &caps);

    } else if (name[0] == 'R') {
        if (tsr_store_role_reply(st, reply) != TSR_OK) {
            tsr_store_async_drop(st);
            tsr_store_router_event(st, TSR_STORE_EV_NOT_MASTER);
            return;
        }

    } else if (name[0] == 'A' && st->srv.user != NULL && !st->srv.no_caps
               && tsr_caps_auth_no_user(reply))
    {
        /* Redis before 6.0: told with its version by INFO, next */
        st->srv.no_user = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (name[0] == 'A' && st->srv.user != NULL
            && tsr_caps_auth_no_user(reply))
        {
            memset(&caps, 0, sizeof(caps));
            (void) tsr_caps_check(&caps, st->srv.addr, 1, 1, err, sizeof(err));
            tsr_store_set_error(st, "%s", err);

        } else {
            tsr_store_reply_error(st, name, reply);
        }

        tsr_store_async_drop(st);
        return;

    } else if (reply->type != REDIS_REPLY_STATUS) {
        tsr_store_set_error(st, "%s on %s: unexpected reply type %d", name,
                            st->srv.addr, reply->type);
        tsr_store_async_drop(st);
        return;
    }

    if (--st->srv.setup_left > 0) {
        return;
    }

    st->srv.conn_state = TSR_STORE_READY;
    st->srv.stats.connects++;
    st->srv.stats.tls_resumed += c->tls_resumed;
    st->srv.backoff_ms = st->srv.backoff_min_ms;
    st->srv.last[0] = '\0';

    /* a new connection ends the open period: try it */
    if (st->srv.breaker == TSR_STORE_OPEN) {
        st->srv.breaker = TSR_STORE_HALF_OPEN;
    }

    tsr_store_log(st, TSR_LOG_INFO, "connected to redis at %s", st->srv.addr);

    tsr_store_router_event(st, TSR_STORE_EV_READY);
}


/*
 * The reply to a lookup, or NULL when the context goes away.  A caller
 * still waiting is answered; the request is freed in any case, unless
 * it goes on as the GETDEL script.
 */

void
tsr_store_get_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    int           rc;
    uint64_t      sent, now;
    tsr_req_t    *req = privdata;
    redisReply   *reply = r;
    tsr_store_t  *st;

    st = req->store;

    sent = (st->srv.sent_count > 0) ? st->srv.sent_us[st->srv.sent_first] : 0;
    (void) tsr_store_sent_pop(st);
    st->srv.lookups--;

    if (reply == NULL) {
        st->srv.closing = 1;

        if (req->done != NULL) {
            tsr_store_set_error(st, "%s on %s failed: connection lost",
                                tsr_store_req_name(req), st->srv.addr);
            tsr_store_complete(st, req, TSR_ECONN, NULL);
        }

        tsr_store_req_free(req);
        return;
    }

    now = tsr_now_us();
    tsr_store_latency(st, now > sent ? now - sent : 0);

    if (st->parent != NULL && reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_store_router_error(st, reply, req, NULL)) {

        case TSR_STORE_ERROR_REDIRECT:
            /* it goes on, on another node */
            return;

        case TSR_STORE_ERROR_LOST:
            if (req->done != NULL) {
                tsr_store_complete(st, req, TSR_ECONN, NULL);
            }

            tsr_store_req_free(req);
            return;
        }
    }

    if (req->getdel && !req->eval && tsr_store_unknown_command(reply)) {
        if (!st->srv.getdel_eval) {
            st->srv.getdel_eval = 1;
            tsr_store_log(st, TSR_LOG_INFO, "redis at %s has no GETDEL, "
                          "using EVAL instead", st->srv.addr);
        }

        req->eval = 1;

        /* the script goes after everything queued: the ring stays fair */
        if (!st->srv.closing
            && tsr_store_async_command(st, tsr_store_get_cb, req,
                                       "EVAL %s 1 %b", tsr_store_getdel_lua,
                                       req->key, req->keylen)
               == TSR_OK)
        {
            st->srv.lookups++;
            return;
        }
    }

    if (req->done != NULL) {
        rc = tsr_store_lookup_reply(st, tsr_store_req_name(req), reply,
                                    req->keylen, TSR_MAX_VALUE);
        tsr_store_complete(st, req, rc, reply);
    }

    /* hiredis frees the reply after this callback; the value goes first */
    if (reply->type == REDIS_REPLY_STRING) {
        st->srv.wipe = 1;
    }

    tsr_store_wipe_reply(reply);
    tsr_store_req_free(req);
}


/* fire and forget: only counted, and errors logged (the host limits) */

static void
tsr_store_write_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;
    redisReply   *reply = r;
    const char   *name = privdata;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        /* lost with the connection, whose end is logged once */
        st->srv.closing = 1;
        st->srv.stats.errors++;
        return;
    }

    tsr_store_write_reply(st, name, reply);
}


/* a write of a router's node, which a redirection sends again */

static void
tsr_store_wcmd_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t       *st = c->data;
    redisReply        *reply = r;
    tsr_store_wcmd_t  *w = privdata;

    (void) tsr_store_sent_pop(st);

    if (reply == NULL) {
        st->srv.closing = 1;
        st->srv.stats.errors++;
        tsr_store_wcmd_free(w);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        switch (tsr_store_router_error(st, reply, NULL, w)) {

        case TSR_STORE_ERROR_REDIRECT:
            return;

        case TSR_STORE_ERROR_LOST:
            st->srv.stats.errors++;
            tsr_store_log(st, TSR_LOG_ERR, "%s", st->srv.err);
            tsr_store_wcmd_free(w);
            return;
        }
    }

    tsr_store_write_reply(st, w->name, reply);
    tsr_store_wcmd_free(w);
}


static void
tsr_store_wcmd_free(tsr_store_wcmd_t *w)
{
    OPENSSL_cleanse(w->cmd, w->len);
    redisFreeCommand(w->cmd);
    OPENSSL_free(w);
}


/* ASKING before a command redirected by ASK: only counted */

static void
tsr_store_asking_cb(tsr_conn_t *c, redisReply *r, void *privdata)
{
    tsr_store_t  *st = c->data;

    (void) tsr_store_sent_pop(st);

    if (r == NULL) {
        st->srv.closing = 1;
    }
}


static void
tsr_store_write_reply(tsr_store_t *st, const char *name,
    const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        st->srv.stats.errors++;
        tsr_store_reply_error(st, name, reply);
        tsr_store_log(st, TSR_LOG_ERR, "%s", st->srv.err);
        return;
    }

    if (name[0] == 'S'
        ? (reply->type == REDIS_REPLY_STATUS && reply->len == 2
           && memcmp(reply->str, "OK", 2) == 0)
        : reply->type == REDIS_REPLY_INTEGER)
    {
        return;
    }

    st->srv.stats.errors++;
    tsr_store_set_error(st, "%s on %s: unexpected reply type %d", name,
                        st->srv.addr, reply->type);
    tsr_store_log(st, TSR_LOG_ERR, "%s", st->srv.err);
}


/* an open breaker becomes half-open when its period is over */

int
tsr_store_breaker_state(tsr_store_t *st, uint64_t now)
{
    if (st->srv.breaker == TSR_STORE_OPEN && now >= st->srv.breaker_until) {
        st->srv.breaker = TSR_STORE_HALF_OPEN;
    }

    return st->srv.breaker;
}


void
tsr_store_breaker_ok(tsr_store_t *st)
{
    st->srv.failures = 0;

    if (st->srv.breaker == TSR_STORE_CLOSED) {
        return;
    }

    st->srv.breaker = TSR_STORE_CLOSED;
    st->srv.breaker_ms = st->srv.backoff_min_ms;

    tsr_store_log(st, TSR_LOG_INFO, "circuit breaker for redis at %s closed",
                  st->srv.addr);
}


/*
 * Failures in a row open the breaker for the current backoff; one
 * failure while half-open opens it again for twice as long.  Failures
 * while open (of lookups sent before) change nothing.
 */

void
tsr_store_breaker_fail(tsr_store_t *st, uint64_t now)
{
    st->srv.failures++;

    switch (tsr_store_breaker_state(st, now)) {

    case TSR_STORE_CLOSED:
        if (st->srv.failures < st->srv.breaker_failures) {
            return;
        }

        break;

    case TSR_STORE_HALF_OPEN:
        st->srv.breaker_ms = (st->srv.breaker_ms > st->srv.backoff_max_ms / 2)
                         ? st->srv.backoff_max_ms : st->srv.breaker_ms * 2;
        break;

    default: /* TSR_STORE_OPEN */
        return;
    }

    st->srv.breaker = TSR_STORE_OPEN;
    st->srv.breaker_until = now + st->srv.breaker_ms;
    st->srv.stats.breaker_opened++;

    tsr_store_log(st, TSR_LOG_WARN, "circuit breaker for redis at %s open "
                  "for %d ms after %d failures in a row, the last: %s",
                  st->srv.addr, st->srv.breaker_ms, st->srv.failures, st->srv.err);
}


static void
tsr_store_latency(tsr_store_t *st, uint64_t us)
{
    size_t  i;

    static const uint64_t  bounds[] = TSR_STORE_LATENCY_BOUNDS;

    for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        if (us <= bounds[i]) {
            break;
        }
    }

    st->srv.stats.latency[i]++;
    st->srv.stats.latency_sum_us += us;
}


/*
 * How long the oldest command may wait for its reply before the
 * connection counts as stuck (a stopped Redis keeps the socket open):
 * well past any deadline, so a merely slow Redis keeps its connection.
 */

uint64_t
tsr_store_stall_ms(tsr_store_t *st)
{
    uint64_t  ms;

    ms = st->srv.max_timeout * TSR_STORE_STALL_FACTOR;

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
tsr_store_arm(tsr_store_t *st)
{
    uint64_t  at, t, now;

    if (!st->srv.async || st->srv.destroying) {
        return;
    }

    at = (st->srv.head != NULL) ? st->srv.head->deadline : 0;
    t = 0;

    if (st->srv.conn != NULL) {
        if (st->srv.broken || st->srv.read_more) {
            t = 1;

        } else if (st->srv.conn_state == TSR_STORE_CONNECTING) {
            t = st->srv.conn_deadline;

        } else if (st->srv.sent_count > 0) {
            t = st->srv.sent[st->srv.sent_first] + tsr_store_stall_ms(st);
        }

    } else if (tsr_store_async_target(st) && !st->srv.parked
               && !st->srv.resolving)
    {
        t = (st->srv.reconnect_at != 0) ? st->srv.reconnect_at : 1;
    }

    if (t != 0 && (at == 0 || t < at)) {
        at = t;
    }

    if (at == 0 || (st->srv.timer_at != 0 && st->srv.timer_at <= at)) {
        return;
    }

    now = tsr_store_loop_now(st);

    /*
     * Disarm first: a host may keep an armed timer whose new time is
     * close to the old one (nginx does within 300 ms).
     */
    if (st->srv.timer_at != 0) {
        st->srv.loop.timer(st->srv.loop.data, 0);
    }

    st->srv.loop.timer(st->srv.loop.data, (at > now) ? at - now : 1);
    st->srv.timer_at = at;
}


/*
 * What hiredis holds goes out in one write(): the commands queued since
 * the last one.  hiredis asks for a write event on each command it
 * queues, and the host runs it at the end of its loop turn (nginx: a
 * posted event), so the commands of one turn leave together and nothing
 * waits for a batch to fill.  SETs go earlier, see
 * tsr_store_write_done().
 */

void
tsr_store_handle_write(tsr_store_t *st)
{
    st->srv.flushing = 1;

    if (tsr_conn_on_write(st->srv.conn) > 0) {
        st->srv.stats.writes++;
    }

    st->srv.flushing = 0;
}


uint64_t
tsr_store_loop_now(tsr_store_t *st)
{
    return st->srv.loop.now(st->srv.loop.data);
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
tsr_store_watch(tsr_store_t *st)
{
    if (st->srv.broken) {
        return;
    }

    /* a failed watch may have registered something: unwatch it later */
    st->srv.watched = 1;

    if (st->srv.loop.watch(st->srv.loop.data, st->srv.fd, st->srv.reading, st->srv.writing)
        != 0)
    {
        st->srv.broken = 1;
    }
}


static void
tsr_store_ev_add_read(void *data)
{
    tsr_store_t  *st = data;

    if (!st->srv.reading) {
        st->srv.reading = 1;
        tsr_store_watch(st);
    }
}


static void
tsr_store_ev_del_read(void *data)
{
    tsr_store_t  *st = data;

    if (st->srv.reading) {
        st->srv.reading = 0;
        tsr_store_watch(st);
    }
}


static void
tsr_store_ev_add_write(void *data)
{
    tsr_store_t  *st = data;

    if (st->srv.writing && st->srv.flushing) {
        return;
    }

    st->srv.writing = 1;
    tsr_store_watch(st);
}


static void
tsr_store_ev_del_write(void *data)
{
    tsr_store_t  *st = data;

    if (st->srv.writing) {
        st->srv.writing = 0;
        tsr_store_watch(st);
    }
}


/*
 * The connection ends, after the NULL-reply callbacks and before it
 * closes the socket: the one place where a connection ends.
 */

static void
tsr_store_ev_cleanup(void *data)
{
    tsr_store_t  *st = data;

    int          ready;
    tsr_conn_t  *c;

    c = st->srv.conn;

    if (st->srv.watched) {
        st->srv.loop.unwatch(st->srv.loop.data, st->srv.fd);
    }

    ready = (st->srv.conn_state == TSR_STORE_READY);

    if (!st->srv.dropping && !st->srv.destroying && !st->srv.quiet) {
        if (ready) {
            tsr_store_set_error(st, "connection to redis at %s lost: %s",
                                st->srv.addr,
                                c->err ? c->errstr : "connection closed");

        } else {
            tsr_store_set_error(st, "connecting to redis at %s failed: %s",
                                st->srv.addr,
                                c->err ? c->errstr : "connection closed");
        }
    }

    st->srv.conn = NULL;
    st->srv.read_more = 0;
    st->srv.fd = -1;
    st->srv.conn_state = TSR_STORE_IDLE;
    st->srv.setup_left = 0;
    st->srv.sent_first = 0;
    st->srv.sent_count = 0;
    st->srv.closing = 0;
    st->srv.reading = 0;
    st->srv.writing = 0;
    st->srv.watched = 0;
    st->srv.broken = 0;
    st->srv.dropping = 0;
    st->srv.wipe = 0;

    /* "flushing" stays: tsr_conn_on_write() may be on the stack */

    if (st->srv.destroying) {
        return;
    }

    if (st->srv.quiet) {
        /* closed on purpose by the router: no failure, no backoff */
        st->srv.quiet = 0;
        st->srv.reconnect_at = 0;

    } else {
        tsr_store_async_failed(st, 0);
    }

    /* the router may have closed it from outside the store's calls */
    tsr_store_arm(st);
}


/* ---- writes, and what a router's nodes do with redirections ---- */

/*
 * Queues SET or DEL (fire and forget).  A router's node keeps the
 * command, formatted, for a redirection to send again.
 */

void
tsr_store_write_async(tsr_store_t *st, const char *name, const char *fmt,
    ...)
{
    int      rc;
    va_list  args;

    rc = TSR_OK;

    if (tsr_store_writable(st, name)) {
        va_start(args, fmt);

        if (st->parent == NULL) {
            rc = tsr_store_async_vcommand(st, tsr_store_write_cb,
                                          (void *) name, fmt, args);

        } else {
            rc = tsr_store_wcmd_send(st, name, fmt, args);
        }

        va_end(args);
    }

    tsr_store_write_done(st, name, rc);
}


/*
 * After a write was queued (or refused, "rc").  A DEL leaves with the
 * other commands of this loop turn, on the write event hiredis asked
 * for.  A SET leaves at once, with whatever this turn queued before it:
 * it stores a session whose client is being sent its ticket or Finished
 * in this very handshake call (TLS 1.3 tickets are written after the
 * new session callback), and that client may offer it to another node
 * before this worker's turn ends.  In Redis first, then in the client's
 * hands: cross-node resumption does not depend on the scheduler.
 */

void
tsr_store_write_done(tsr_store_t *st, const char *name, int rc)
{
    if (rc != TSR_OK) {
        st->srv.stats.dropped++;
        tsr_store_set_error(st, "%s dropped: hiredis refused it", name);

    } else if (strcmp(name, "SET") == 0) {
        tsr_store_flush_now(st);
    }

    tsr_store_arm(st);
}


/* not from inside hiredis, which must not be entered again */

static void
tsr_store_flush_now(tsr_store_t *st)
{
    if (st->srv.conn == NULL || st->srv.conn_state != TSR_STORE_READY || st->srv.closing
        || st->srv.destroying || st->srv.flushing || st->srv.reading_now || st->srv.broken)
    {
        return;
    }

    tsr_store_handle_write(st);
}


static int
tsr_store_wcmd_send(tsr_store_t *st, const char *name, const char *fmt,
    va_list args)
{
    int                rc, len;
    char              *cmd;
    tsr_store_wcmd_t  *w;

    w = OPENSSL_malloc(sizeof(tsr_store_wcmd_t));
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

    rc = tsr_store_async_formatted(st, tsr_store_wcmd_cb, w, w->cmd, w->len);
    if (rc != TSR_OK) {
        tsr_store_wcmd_free(w);
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
tsr_store_router_error(tsr_store_t *st, const redisReply *reply,
    tsr_req_t *req, tsr_store_wcmd_t *w)
{
    int           ask, rc;
    const char   *name;
    tsr_store_t  *target;

    if (reply->str == NULL || st->parent->srv.destroying) {
        return TSR_STORE_ERROR_OTHER;
    }

    if (st->parent->topo->error == NULL) {
        tsr_store_router_news(st, reply);
        return TSR_STORE_ERROR_OTHER;
    }

    target = NULL;
    ask = 0;

    rc = st->parent->topo->error(st->parent, st, reply, &target, &ask);
    if (rc != TSR_STORE_ERROR_REDIRECT) {
        return rc;
    }

    name = (req != NULL) ? tsr_store_req_name(req) : w->name;

    if (req != NULL && req->done == NULL) {
        /* no caller waits any more */
        return TSR_STORE_ERROR_LOST;
    }

    if ((req != NULL && req->redirected) || (w != NULL && w->redirected)) {
        tsr_store_set_error(st, "%s on %s: redirected twice, given up",
                            name, st->srv.addr);
        return TSR_STORE_ERROR_LOST;
    }

    if (target == NULL || target == st || !tsr_store_node_ready(target)) {
        tsr_store_set_error(st, "%s on %s: redirected to %s, not connected "
                            "yet", name, st->srv.addr,
                            target != NULL ? target->srv.addr : "a node");
        return TSR_STORE_ERROR_LOST;
    }

    rc = (req != NULL) ? tsr_store_req_resend(target, req, ask)
                       : tsr_store_wcmd_resend(target, w, ask);

    if (rc != TSR_OK) {
        tsr_store_set_error(st, "%s on %s: redirected to %s, which refused "
                            "it", name, st->srv.addr, target->srv.addr);
        return TSR_STORE_ERROR_LOST;
    }

    return TSR_STORE_ERROR_REDIRECT;
}


/*
 * Sends a lookup again on "st", after ASKING for an ASK redirection; it
 * moves to the node's list with its deadline.  Written with the node's
 * next write event, not at once: this runs inside another node's reply.
 */

static int
tsr_store_req_resend(tsr_store_t *st, tsr_req_t *req, int ask)
{
    int           rc;
    tsr_store_t  *from;

    if (st->srv.sent_count + 2 > st->srv.sent_size
        || st->srv.sent_count >= (size_t) st->srv.max_queued)
    {
        return TSR_ERROR;
    }

    if (req->script && req->cmd == NULL) {
        /* its copy could not be kept */
        return TSR_ERROR;
    }

    if (ask
        && tsr_store_async_command(st, tsr_store_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    if (req->script) {
        rc = tsr_store_async_formatted(st, tsr_store_get_cb, req, req->cmd,
                                       req->cmdlen);

    } else if (req->eval) {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req,
                                     "EVAL %s 1 %b", tsr_store_getdel_lua,
                                     req->key, req->keylen);

    } else {
        rc = tsr_store_async_command(st, tsr_store_get_cb, req, "%s %b",
                                     req->getdel ? "GETDEL" : "GET",
                                     req->key, req->keylen);
    }

    if (rc != TSR_OK) {
        return rc;
    }

    from = req->store;

    tsr_store_req_unlink(from, req);

    req->store = st;
    req->redirected = 1;
    st->srv.lookups++;

    if (req->timeout > st->srv.max_timeout) {
        st->srv.max_timeout = req->timeout;
    }

    tsr_store_req_insert(st, req);
    tsr_store_arm(st);

    return TSR_OK;
}


static int
tsr_store_wcmd_resend(tsr_store_t *st, tsr_store_wcmd_t *w, int ask)
{
    if (st->srv.sent_count + 2 > st->srv.sent_size
        || st->srv.sent_count >= (size_t) st->srv.max_queued)
    {
        return TSR_ERROR;
    }

    if (ask
        && tsr_store_async_command(st, tsr_store_asking_cb, NULL, "ASKING")
           != TSR_OK)
    {
        return TSR_ERROR;
    }

    w->redirected = 1;

    if (tsr_store_async_formatted(st, tsr_store_wcmd_cb, w, w->cmd, w->len)
        != TSR_OK)
    {
        return TSR_ERROR;
    }

    tsr_store_arm(st);

    return TSR_OK;
}
