
/*
 * One non-blocking connection to a Redis server: the socket, the commands
 * waiting to be written, the replies they wait for.  It owns every
 * system call on its socket; RESP is parsed with hiredis' public reader
 * API (redisReader*), bounded by tsr_resp.h.  Nothing here knows about
 * stores, topologies or event loops: the owner is told, through
 * tsr_conn_events_t, which events the socket needs, and calls
 * tsr_conn_on_write() and tsr_conn_on_read() when they happen.
 *
 * Commands are queued by tsr_conn_command() and tsr_conn_formatted() and
 * leave, all of them, in one write() on the next tsr_conn_on_write():
 * when that happens is the owner's choice (the end of its loop turn).
 * Each command has a callback that is called exactly once: with its
 * reply, or with NULL when the connection ends first.  After SUBSCRIBE,
 * every reply goes to the callback of the last SUBSCRIBE.
 *
 * A connection ends by tsr_conn_free(), or by itself on an I/O or
 * protocol error: the NULL replies are given, then events.cleanup is
 * called, then the socket is closed.  From inside a callback the end
 * waits until the callback has returned.  Sends never raise SIGPIPE.
 */


#ifndef TSR_CONN_H_INCLUDED
#define TSR_CONN_H_INCLUDED


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "tsr_resp.h"
#include "tsr_util.h"


#define TSR_CONN_READ_SIZE   16384      /* bytes per read() */
#define TSR_CONN_ERR_LEN     128

/* why a connection failed: tsr_conn_t's "err" */
#define TSR_CONN_EIO         1          /* connect, read, write, closed */
#define TSR_CONN_EPROTO      2          /* a reply that cannot be read */
#define TSR_CONN_ENOMEM      3


typedef struct tsr_conn_s  tsr_conn_t;


/*
 * TLS to Redis: one client context per address setting, shared by its
 * connections, with the last session of each server kept so that a
 * reconnect resumes it.
 */

#define TSR_TLS_SESSIONS     16

typedef struct {
    const char         *ca_file;        /* NULL: the system's store */
    const char         *cert_file;      /* a client certificate, or NULL */
    const char         *key_file;
    const char         *server_name;    /* SNI and the name verified;
                                           NULL: the address verified */
    int                 verify;         /* 0: any certificate (warned) */
} tsr_tls_conf_t;

typedef struct {
    char                peer[64];       /* "ip:port" or a socket path */
    SSL_SESSION        *session;
} tsr_tls_session_t;

typedef struct {
    SSL_CTX            *ctx;
    char               *server_name;
    int                 verify;
    unsigned            next;           /* the slot replaced next */
    tsr_tls_session_t   sessions[TSR_TLS_SESSIONS];
} tsr_tls_t;

typedef void (*tsr_conn_reply_pt)(tsr_conn_t *c, redisReply *reply,
    void *data);


/* what the socket needs from the owner's event loop */
typedef struct {
    void        *data;
    void       (*add_read)(void *data);
    void       (*del_read)(void *data);
    /* after each command queued, and while a write is left unfinished */
    void       (*add_write)(void *data);
    void       (*del_write)(void *data);
    /* the connection ends: after the NULL replies, before the close */
    void       (*cleanup)(void *data);
} tsr_conn_events_t;


typedef struct {
    tsr_conn_reply_pt   fn;
    void               *data;
    unsigned            subscribe:1;
} tsr_conn_cb_t;


struct tsr_conn_s {
    int                 fd;
    int                 err;            /* TSR_CONN_E*: it failed */
    char                errstr[TSR_CONN_ERR_LEN];
    void               *data;           /* the owner's, for callbacks */
    tsr_conn_events_t   ev;

    tsr_tls_t          *tls;            /* NULL: plain TCP */
    SSL                *ssl;
    char                peer[64];
    redisReader        *reader;
    tsr_resp_t          resp;           /* bounds on its replies */
    tsr_resp_async_t    awaits;         /* what they may be */

    /* bytes to write: out[pos] to out[len] */
    char               *out;
    size_t              out_pos;
    size_t              out_len;
    size_t              out_size;

    /* callbacks of commands awaiting replies, oldest first */
    tsr_conn_cb_t      *cbs;
    size_t              cb_first;
    size_t              cb_size;
    tsr_conn_cb_t       sub;            /* subscribed: every reply */

    int                 calling;        /* callbacks on the stack */
    unsigned            kept:1;         /* the callback keeps its reply */
    unsigned            connected:1;    /* and TLS' handshake done */
    unsigned            tcp_connected:1;
    unsigned            tls_resumed:1;  /* its handshake resumed */
    unsigned            subscribed:1;
    unsigned            freeing:1;      /* ends when callbacks return */
    unsigned            reading:1;      /* read interest asked for */
    unsigned            writing:1;      /* write interest asked for */
};


/*
 * Starts a connect to "ip" (numeric, IPv4 or IPv6) and "port", or to the
 * Unix socket "path" when it is not NULL, with TLS when "tls" is not NULL
 * (the handshake runs on the same events, before any command leaves).
 * NULL on failure, with the reason in "err".
 */
TSR_HIDDEN tsr_conn_t *tsr_conn_connect(const char *ip, int port,
    const char *path, tsr_tls_t *tls, const tsr_conn_events_t *ev,
    void *data, char *err, size_t errlen);

/* The TLS context of "conf"; NULL with a message on failure. */
TSR_HIDDEN tsr_tls_t *tsr_tls_create(const tsr_tls_conf_t *conf,
    char *err, size_t errlen);
TSR_HIDDEN void tsr_tls_destroy(tsr_tls_t *tls);

/* Queues a command, formatted as hiredis' redisvFormatCommand() does. */
TSR_HIDDEN int tsr_conn_vcommand(tsr_conn_t *c, tsr_conn_reply_pt fn,
    void *data, const char *fmt, va_list args);

/* Queues a command in RESP already; the bytes are copied. */
TSR_HIDDEN int tsr_conn_formatted(tsr_conn_t *c, tsr_conn_reply_pt fn,
    void *data, const char *cmd, size_t len);

/*
 * Writes what is queued, in one write(), completing the connect first.
 * Returns the bytes written, 0 when none could be, -1 when the
 * connection ended.
 */
TSR_HIDDEN ssize_t tsr_conn_on_write(tsr_conn_t *c);

/*
 * One read(), its replies to their callbacks.  Returns the bytes read
 * (TSR_CONN_READ_SIZE: there may be more), 0 when none were there, -1
 * when the connection ended.
 */
TSR_HIDDEN ssize_t tsr_conn_on_read(tsr_conn_t *c);

/*
 * Called from a reply callback: the reply is the callback's to free, not
 * freed when it returns.
 */
TSR_HIDDEN void tsr_conn_keep(tsr_conn_t *c);

/* Bytes queued and not written yet. */
TSR_HIDDEN size_t tsr_conn_unsent(const tsr_conn_t *c);

/* Commands awaiting replies. */
TSR_HIDDEN size_t tsr_conn_waiting(const tsr_conn_t *c);

/* Bytes of an incomplete reply held. */
TSR_HIDDEN size_t tsr_conn_pending(const tsr_conn_t *c);

/* Wipes what the reader holds, once it holds no incomplete reply. */
TSR_HIDDEN void tsr_conn_wipe_input(tsr_conn_t *c);

/* Ends the connection; see above. */
TSR_HIDDEN void tsr_conn_free(tsr_conn_t *c);


#endif /* TSR_CONN_H_INCLUDED */
