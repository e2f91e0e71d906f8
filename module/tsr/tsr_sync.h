
/*
 * The synchronous Redis client: one tsr_conn_t driven by poll() until a
 * reply or a deadline.  The store's blocking path, the ticket ring's
 * syncs, sentinel queries and tsr-admin all use it, so a connection
 * behaves the same everywhere (bounded replies, wiped buffers, no
 * SIGPIPE) and gets what tsr_conn gets.
 *
 * Every call returns TSR_OK or a TSR_E* code (tsr.h) with a message in
 * s->errstr naming the step and the address; after an I/O, protocol or
 * timeout failure the connection is closed and later calls fail with
 * TSR_ECONN.  Replies are hiredis' redisReply, freed by the caller with
 * freeReplyObject(); error replies are replies, not failures.
 */


#ifndef TSR_SYNC_H_INCLUDED
#define TSR_SYNC_H_INCLUDED


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include <hiredis/hiredis.h>

#include "tsr_conn.h"
#include "tsr_caps.h"


#define TSR_SYNC_ERR_LEN  256


typedef struct {
    const char         *addr;           /* as the user wrote it, for
                                           messages */
    const char         *host;           /* a name or a numeric address */
    int                 port;
    const char         *path;           /* a Unix socket, instead */
    const char         *user;           /* AUTH as this ACL user */
    const char         *password;       /* AUTH when not NULL */
    size_t              password_len;
    int                 db;             /* SELECT when not 0 */
    unsigned            info:1;         /* INFO server: s->caps */
    int                 connect_timeout_ms;
    int                 command_timeout_ms; /* each reply */
    tsr_tls_t          *tls;            /* NULL: plain */
} tsr_sync_conf_t;


typedef struct {
    tsr_conn_t         *conn;           /* NULL once closed */
    int                 rc;             /* the last failure */
    char                errstr[TSR_SYNC_ERR_LEN];
    char                why[TSR_CONN_ERR_LEN]; /* the connection's end */
    int                 why_rc;
    char                addr[128];
    int                 connect_timeout_ms;
    int                 command_timeout_ms;
    uint64_t            deadline;       /* monotonic ms; 0: none */
    tsr_caps_t          caps;           /* with conf->info */

    /* replies read and not taken yet, oldest first */
    redisReply        **replies;
    size_t              first;
    size_t              count;
    size_t              size;
    size_t              expected;       /* commands sent, replies due */

    unsigned            want_read:1;
    unsigned            want_write:1;
} tsr_sync_t;


/*
 * Connects (a host name is resolved here, blocking), then AUTH, INFO
 * (with conf->info) and SELECT.  A server that cannot serve the
 * connection (ACL users before 6.0) is refused with a message naming
 * its version.  NULL on failure with *rc and the message in "err".
 */
TSR_HIDDEN tsr_sync_t *tsr_sync_connect(const tsr_sync_conf_t *conf,
    int *rc, char *err, size_t errlen);

/* A command and its reply; "name" is the step named in messages. */
TSR_HIDDEN int tsr_sync_command(tsr_sync_t *s, redisReply **reply,
    const char *name, const char *fmt, ...);
TSR_HIDDEN int tsr_sync_vcommand(tsr_sync_t *s, redisReply **reply,
    const char *name, const char *fmt, va_list args);

/* Pipelining: commands queued, then their replies one by one. */
TSR_HIDDEN int tsr_sync_append(tsr_sync_t *s, const char *fmt, ...);
TSR_HIDDEN int tsr_sync_vappend(tsr_sync_t *s, const char *fmt,
    va_list args);
TSR_HIDDEN int tsr_sync_append_argv(tsr_sync_t *s, int argc,
    const char **argv, const size_t *lens);
TSR_HIDDEN int tsr_sync_reply(tsr_sync_t *s, redisReply **reply,
    const char *name);

/*
 * A deadline for everything that follows (monotonic ms, 0: none): each
 * reply waits for the earlier of it and command_timeout_ms.
 */
TSR_HIDDEN void tsr_sync_set_deadline(tsr_sync_t *s, uint64_t deadline);

/* An idle connection that has something to read was closed (or is bad). */
TSR_HIDDEN int tsr_sync_closed(tsr_sync_t *s);

/* Wipes what the reader holds (replies held values). */
TSR_HIDDEN void tsr_sync_wipe(tsr_sync_t *s);

TSR_HIDDEN void tsr_sync_free(tsr_sync_t *s);


#endif /* TSR_SYNC_H_INCLUDED */
