
/*
 * Test helpers: private redis-server and nginx daemons on free loopback
 * ports in temp dirs, self-signed certificates, in-memory TLS handshakes.
 * Helpers report problems on stderr and return -1 / NULL; a missing
 * daemon binary is a hard failure naming the Debian package.
 */


#ifndef TSR_TEST_H_INCLUDED
#define TSR_TEST_H_INCLUDED


#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "tsr.h"


/* ---- common ---- */

/*
 * Creates a fresh private directory under $TSR_TMPDIR (or /tmp) named
 * after "tag", mode 0755 so nginx workers running as nobody can reach
 * sockets in it.  Returns 0 and the path in "out".
 */
int tsr_test_mkdtemp(const char *tag, char *out, size_t outlen);

/* A TCP port on 127.0.0.1 nobody listens on right now, or -1. */
int tsr_test_free_port(void);

/*
 * Path of a required program from the environment variable "env" (as
 * set by make check) or found in PATH / sbin; exits the test program
 * with status 1 and a message naming "package" when it is missing.
 */
const char *tsr_test_require(const char *env, const char *name,
    const char *package);

/* As tsr_test_require(), but NULL when missing: for optional tools. */
const char *tsr_test_find(const char *env, const char *name);

/* Milliseconds on the monotonic clock. */
long long tsr_test_now_ms(void);

/* Sleeps "ms" milliseconds, signals notwithstanding. */
void tsr_test_sleep_ms(int ms);

/* Writes "len" bytes to a new file "path" with mode "mode"; 0 or -1. */
int tsr_test_write_file(const char *path, const void *data, size_t len,
    int mode);

/* Counts lines of file "path" containing "needle"; -1 if unreadable. */
int tsr_test_grep_count(const char *path, const char *needle);


/* ---- redis-server ---- */

typedef struct {
    int         port;                   /* TCP port on 127.0.0.1 */
    char        dir[PATH_MAX];          /* its working directory */
    char        unix_path[PATH_MAX];    /* its unix socket */
    char        password[64];           /* requirepass, "" for none */
    char        extra[2048];            /* extra redis.conf lines */
    pid_t       pid;                    /* 0 when stopped */
    int         sentinel;               /* runs as a sentinel */
    char        bind[64];               /* its address, "": 127.0.0.1
                                           (any of 127/8 on Linux) */
} tsr_test_redis_t;

/*
 * Starts a private redis-server: zeroes nothing but fills port, dir and
 * unix_path when they are empty, writes a redis.conf (bind r->bind or
 * 127.0.0.1,
 * no persistence, unixsocketperm 777, plus r->password and r->extra),
 * waits until it answers PING (at most 5 s).  With r->sentinel set it
 * runs "redis-server redis.conf --sentinel".  Returns 0 or -1.
 */
int tsr_test_redis_start(tsr_test_redis_t *r);

/* Stops it (SIGTERM, waits, SIGKILL after 5 s).  0 or -1. */
int tsr_test_redis_stop(tsr_test_redis_t *r);

/* Sends a signal (SIGSTOP, SIGCONT, ...) to it. */
int tsr_test_redis_signal(tsr_test_redis_t *r, int sig);

/*
 * Runs one command (hiredis format string) on a fresh connection with
 * AUTH if needed, and returns the reply rendered as text in "out":
 * strings and status as is, integers in decimal, nil as "(nil)", errors
 * as "ERR ...", arrays as their elements joined by '\n'.  Returns 0, or
 * -1 when the command could not be sent.
 */
int tsr_test_redis_cmd(tsr_test_redis_t *r, char *out, size_t outlen,
    const char *fmt, ...);

/*
 * Waits until "replica" has applied everything "master" had written when
 * called (its slave_repl_offset reaches the master's master_repl_offset),
 * at most "ms".  Returns 0, or -1 on a timeout.  WAIT on a connection of
 * its own proves nothing: it waits only for that connection's writes.
 */
int tsr_test_redis_replicated(tsr_test_redis_t *master,
    tsr_test_redis_t *replica, long long ms);

/*
 * Starts a redis-server (as tsr_test_redis_start(), "r" zeroed here) with
 * a TLS port too, *tls_port: a new directory "dir" holds its certificate
 * redis.crt for "redis.test", its own CA, and other.crt/other.key for
 * "other.test", a stranger; client certificates are required with
 * "auth_clients" and accepted from either.  Returns 0 or -1.
 */
int tsr_test_redis_start_tls(tsr_test_redis_t *r, char *dir, size_t dirlen,
    int *tls_port, int auth_clients);

/*
 * The certificates of tsr_test_redis_start_tls() alone, in a new
 * directory "dir": redis.crt/redis.key ("redis.test"), other.crt/
 * other.key ("other.test") and both.crt.  Returns 0 or -1.
 */
int tsr_test_tls_certs(char *dir, size_t dirlen);

/*
 * The redis.conf lines that open "tls_port" with the certificates in
 * "dir" (made by tsr_test_tls_certs()), appended to r->extra; client
 * certificates: "auth_clients" 0 not asked for, 1 required, 2 checked
 * when given ("tls-auth-clients optional").  0 or -1.
 */
int tsr_test_redis_add_tls(tsr_test_redis_t *r, const char *dir,
    int tls_port, int auth_clients);

/* Same, but binary-safe for a value: out receives the raw bytes. */
int tsr_test_redis_get_raw(tsr_test_redis_t *r, const char *key,
    unsigned char *out, size_t *outlen);


/* ---- TLS ---- */

#define TSR_TEST_TLS12  TLS1_2_VERSION
#define TSR_TEST_TLS13  TLS1_3_VERSION

/*
 * Makes a self-signed P-256 certificate for "cn" (also as a DNS SAN).
 * Returns 0; the caller frees *key and *cert.
 */
int tsr_test_make_cert(const char *cn, EVP_PKEY **key, X509 **cert);

/* Writes a key and certificate for "cn" as PEM files; 0 or -1. */
int tsr_test_write_cert(const char *cn, const char *key_path,
    const char *cert_path);

/*
 * A server SSL_CTX with a fresh certificate for "cn", protocol pinned
 * to "version", a server session cache (SSL_SESS_CACHE_SERVER |
 * SSL_SESS_CACHE_NO_INTERNAL), session id context "sid_ctx", and with
 * "tickets" 0 SSL_OP_NO_TICKET is set (TLS 1.2 session ids, TLS 1.3
 * stateful tickets).  Returns NULL on failure.
 */
SSL_CTX *tsr_test_server_ctx(const char *cn, int version,
    const char *sid_ctx, int tickets);

/* A client SSL_CTX pinned to "version", verification off. */
SSL_CTX *tsr_test_client_ctx(int version);

/*
 * Runs a complete handshake between new SSL objects of "server" and
 * "client" in memory (BIO pair), offering "offer" (may be NULL) and
 * sending server name "sni" (may be NULL).  For TLS 1.3 it also reads
 * the post-handshake tickets.  On return *reused says whether the
 * session was resumed and *out (if not NULL) holds the client's session
 * to offer next time (caller frees).  Returns 0 when the handshake
 * completed, -1 when it failed.
 */
int tsr_test_handshake(SSL_CTX *server, SSL_CTX *client, const char *sni,
    SSL_SESSION *offer, SSL_SESSION **out, int *reused);


/* ---- TLS clients over TCP, against real servers ---- */

typedef struct {
    int             version;        /* TSR_TEST_TLS12 or TSR_TEST_TLS13 */
    const char     *sni;            /* server name to send, or NULL */
    int             tickets;        /* client accepts/offers tickets */
    SSL_SESSION    *offer;          /* session to offer, or NULL */
    int             request;        /* 1: HTTP GET then read to close;
                                       2: read to close (stream) */
    int             timeout_ms;     /* per handshake, default 5000 */
    int            *sessions;       /* if not NULL: receives how many
                                       sessions OpenSSL reported new on
                                       this connection (TLS 1.3: tickets
                                       received; TLS 1.2: 1 after a full
                                       handshake that made a resumable
                                       session, 0 when resumed) */
    int             dribble;        /* > 0: the client sends in pieces of
                                       this many bytes, 1 ms apart */
    int             pad;            /* > 0: the ClientHello carries a
                                       private extension (type 65000) of
                                       this many bytes; over 16 KiB it
                                       spans two records */
    SSL_SESSION    *psk2;           /* TLS 1.3: offered after "offer" as
                                       a second PSK identity, its ticket;
                                       OpenSSL's client binds it as an
                                       external PSK, so a server that
                                       selects it fails the binder */
    const char     *ciphers;        /* TLS 1.2 cipher list, or NULL */
} tsr_test_client_t;

/*
 * Connects to 127.0.0.1:"port", completes a handshake as "opts" say,
 * performs the request if any (for TLS 1.3 this also receives the
 * session tickets; without a request the client still waits up to 200
 * ms for tickets), and closes.  *reused tells whether the session was
 * resumed; *out (if not NULL) receives the session to offer next time
 * (caller frees).  Returns 0 on a completed handshake (and request),
 * -1 on failure.
 */
int tsr_test_tls_once(int port, const tsr_test_client_t *opts,
    SSL_SESSION **out, int *reused);

typedef struct tsr_test_conn_s  tsr_test_conn_t;

/* Opens a TLS keep-alive connection for repeated HTTP requests. */
tsr_test_conn_t *tsr_test_http_open(int port, int version);

/*
 * Sends "GET /" and reads the whole response (Content-Length); returns
 * the elapsed milliseconds, or -1 on failure.
 */
long long tsr_test_http_get(tsr_test_conn_t *conn);

void tsr_test_http_close(tsr_test_conn_t *conn);


/* ---- a TCP proxy that delays what the server sends ---- */

typedef struct {
    int             port;           /* where it listens */
    int             target_port;    /* where it forwards */
    int             delay_ms;       /* server-to-client delay */
    pid_t           pid;
} tsr_test_proxy_t;

/*
 * Starts a proxy process on a free loopback port forwarding to
 * 127.0.0.1:target_port and holding every chunk the server sends for
 * delay_ms before passing it on.  Returns 0 or -1.
 */
int tsr_test_proxy_start(tsr_test_proxy_t *p, int target_port,
    int delay_ms);

int tsr_test_proxy_stop(tsr_test_proxy_t *p);


/* ---- event loop ---- */

#define TSR_TEST_LOOP_FDS  64

typedef struct {
    int             fd;             /* -1: a free entry */
    int             readable;
    int             writable;
    int             posted;         /* a write event is posted */
} tsr_test_loop_fd_t;

/*
 * A poll() event loop for one asynchronous store, as tsr_loop_t asks:
 * sockets, one timer, monotonic milliseconds (tsr_test_now_ms()).
 * Level-triggered, unlike nginx's epoll; but like nginx's glue, a
 * watch() asking for writability also posts a write event, and posted
 * events run at once, again and again while they post themselves (a
 * spin, counted as a misuse after 1000 rounds).  Events go to the store
 * with their socket (tsr_store_on_read_fd()).  The counters let tests
 * check how the store used the loop.
 */
typedef struct {
    tsr_store_t    *store;          /* whose entry points run() calls */
    int             fd;             /* the socket watched last, -1 when
                                       none is watched */
    int             readable;       /* its interests */
    int             writable;
    long long       timer_at;       /* when the timer fires, 0: disarmed */
    int             posted;         /* a write event is posted (any) */
    int             fail_watch;     /* set: watch() fails */
    int             multi;          /* set: several sockets at once are
                                       expected (Cluster, Sentinel) */
    int             nfds;           /* sockets watched now */
    int             max_fds;        /* the most at once */
    int             watches;        /* calls of watch() */
    int             unwatches;      /* calls of unwatch() */
    int             timers;         /* calls of timer() */
    int             misuses;        /* unwatch() of a socket not watched,
                                       watch() of a second one without
                                       "multi", or a posted write event
                                       spinning */
    tsr_test_loop_fd_t  fds[TSR_TEST_LOOP_FDS];
} tsr_test_loop_t;

/*
 * Zeroes "tl" (no sockets) and fills "loop" with callbacks on it; set
 * tl->store after tsr_store_set_async().
 */
void tsr_test_loop_init(tsr_test_loop_t *tl, tsr_loop_t *loop);

/*
 * Polls and dispatches events and the timer to tl->store for "ms"
 * milliseconds, or until "*stop" (if "stop" is not NULL) is non-zero.
 * Returns 0, or -1 when poll() fails.
 */
int tsr_test_loop_run(tsr_test_loop_t *tl, int ms, const int *stop);


/* ---- nginx ---- */

typedef struct {
    char        dir[1024];              /* prefix: conf, logs, certs */
    char        conf[PATH_MAX];         /* nginx.conf path */
    char        error_log[PATH_MAX];
    pid_t       pid;                    /* master, 0 when stopped */
} tsr_test_nginx_t;

/*
 * Prepares a prefix directory for an instance: logs/, a certificate pair
 * per name in "cns" (NULL-terminated; files <dir>/<cn>.key, <cn>.crt).
 */
int tsr_test_nginx_init(tsr_test_nginx_t *n, const char *tag,
    const char *const *cns);

/*
 * Writes nginx.conf: the load_module lines for Debian's stream module
 * and both of ours (with "stream" 0 the stream modules are omitted),
 * error_log at "level", pid, then "body" verbatim.
 */
int tsr_test_nginx_write_conf(tsr_test_nginx_t *n, int stream,
    const char *level, const char *body);

/*
 * Runs "nginx -t" on the instance; returns its exit status and its
 * output (stderr) in "out".
 */
int tsr_test_nginx_test_conf(tsr_test_nginx_t *n, char *out, size_t outlen);

/*
 * A plain HTTP/1.0 GET of "path" from 127.0.0.1:"port" (a status
 * listener, say), 5 s at most: 0 and the body of a 200 response,
 * NUL-terminated, in "buf", or -1.
 */
int tsr_test_nginx_get(int port, const char *path, char *buf, size_t size);

/* Starts the master (daemon off, in the background); 0 or -1. */
int tsr_test_nginx_start(tsr_test_nginx_t *n);

/* Sends a signal to the master (SIGHUP for reload). */
int tsr_test_nginx_signal(tsr_test_nginx_t *n, int sig);

/* Stops it (SIGQUIT, then SIGTERM/SIGKILL) and waits. */
int tsr_test_nginx_stop(tsr_test_nginx_t *n);

/*
 * Lines in error.log at [alert], [crit] or [emerg], and worker crashes
 * ("exited on signal"); 0 means a clean log.
 */
int tsr_test_nginx_log_problems(tsr_test_nginx_t *n);


/* ---- a fake Redis that misbehaves on command ---- */

/*
 * Modes.  In all but MUTE the connection setup (PING, AUTH, SELECT, INFO)
 * is answered as Redis of the fake's version would; the modes differ in how they answer the data
 * commands (GET, GETDEL, SET, DEL, EVAL).  EXTRA sends a reply no command
 * asked for, which hiredis' asynchronous side answers with abort()
 * unless the reader refuses it first (module/tsr/tsr_resp.h).
 */
#define TSR_TEST_FAKE_NORMAL      0   /* a small Redis: values in memory */
#define TSR_TEST_FAKE_GARBAGE     1   /* malformed RESP */
#define TSR_TEST_FAKE_WRONG_TYPE  2   /* integers, arrays, status and error
                                         replies, a value over 16 KiB */
#define TSR_TEST_FAKE_HUGE_BULK   3   /* "$2147483648", 1 MiB of it, then
                                         nothing more on the connection */
#define TSR_TEST_FAKE_SPLIT       4   /* as NORMAL, one byte per send() */
#define TSR_TEST_FAKE_RESET       5   /* half a reply, then a TCP reset */
#define TSR_TEST_FAKE_SILENT      6   /* data commands never answered */
#define TSR_TEST_FAKE_MUTE        7   /* nothing ever answered */
#define TSR_TEST_FAKE_EXTRA       8   /* as NORMAL, then a reply more */
#define TSR_TEST_FAKE_TRAILING    9   /* as NORMAL, but the first GET of a
                                         key answers "not found", as when
                                         it overtook the key's SET */
#define TSR_TEST_FAKE_DEAF        10  /* answers the setup, then reads
                                         nothing more, on a unix socket:
                                         the client's writes fill its
                                         socket (a full socket) */
#define TSR_TEST_FAKE_DRIP        11  /* answers the setup, then every
                                         data command with a 4 KiB value
                                         sent a byte every 1.9 s, within
                                         any read timeout of 2 s */
#define TSR_TEST_FAKE_MOVED       12  /* a cluster node with a stale map:
                                         CLUSTER SLOTS gives it all the
                                         slots, every data command is
                                         answered "MOVED <slot> <to>"
                                         (tsr_test_fakeredis_start_moved) */
#define TSR_TEST_FAKE_LAST        TSR_TEST_FAKE_MOVED

/* the version INFO shows unless another is given */
#define TSR_TEST_FAKE_VERSION     "7.2.4"

typedef struct {
    int         port;                   /* TCP port on 127.0.0.1 */
    char        unix_path[108];         /* DEAF: its unix socket instead */
    int         mode;                   /* TSR_TEST_FAKE_* */
    char        version[16];            /* redis_version in INFO */
    int         ctl;                    /* control pipe to the process */
    pid_t       pid;                    /* 0 when stopped */
} tsr_test_fakeredis_t;

/*
 * Starts a fake Redis process in "mode" on a free loopback port (it
 * accepts connections once this returns).  Returns 0 or -1.
 */
int tsr_test_fakeredis_start(tsr_test_fakeredis_t *f, int mode);

/*
 * As tsr_test_fakeredis_start(), as Redis "version" ("5.0.7", NULL: the
 * default): INFO shows it, before 6.0 AUTH with a user fails with "wrong
 * number of arguments", before 6.2 GETDEL is an unknown command.  ""
 * answers INFO as unknown (renamed), everything else as the default.
 */
int tsr_test_fakeredis_start_version(tsr_test_fakeredis_t *f, int mode,
    const char *version);

/*
 * Starts a fake in TSR_TEST_FAKE_MOVED: its CLUSTER SLOTS names itself
 * the master of every slot, and each data command is answered with
 * "MOVED <the key's slot> 127.0.0.1:<to_port>", as by a node whose slot
 * has moved on to the node at to_port.  Returns 0 or -1.
 */
int tsr_test_fakeredis_start_moved(tsr_test_fakeredis_t *f, int to_port);

/*
 * Switches the mode; the fake closes every open connection, as a
 * restarted server would, and keeps its values.  Returns 0 or -1.
 */
int tsr_test_fakeredis_set_mode(tsr_test_fakeredis_t *f, int mode);

/* Stops the process and waits for it.  0 or -1. */
int tsr_test_fakeredis_stop(tsr_test_fakeredis_t *f);

/* A mode's name for reports ("malformed RESP", ...). */
const char *tsr_test_fakeredis_mode_name(int mode);


/* ---- a TLS front for a plain test server ---- */

typedef struct {
    int         port;                   /* TLS on 127.0.0.1 */
    int         target;                 /* the plain port behind it */
    pid_t       pid;                    /* 0 when stopped */
} tsr_test_tlsfront_t;

/*
 * Starts a process that accepts TLS on a free loopback port, with the
 * certificate "redis.test" in "dir" (see tsr_test_tls_certs()), and
 * passes the plaintext both ways to 127.0.0.1:target_port, piece by
 * piece; the target's close or reset reaches the client.  0 or -1.
 */
int tsr_test_tlsfront_start(tsr_test_tlsfront_t *t, const char *dir,
    int target_port);

/* Stops it and every connection's process.  0 or -1. */
int tsr_test_tlsfront_stop(tsr_test_tlsfront_t *t);


/* ---- a DNS server on loopback ---- */

#define TSR_TEST_DNS_ANSWER     0   /* A queries for the name: its address */
#define TSR_TEST_DNS_NXDOMAIN   1   /* the name does not exist */
#define TSR_TEST_DNS_SILENT     2   /* queries for the name go unanswered */

typedef struct tsr_test_dns_state_s  tsr_test_dns_state_t;

typedef struct {
    int                     port;   /* UDP port on 127.0.0.1 */
    pid_t                   pid;    /* 0 when stopped */
    tsr_test_dns_state_t   *state;  /* shared with the process */
} tsr_test_dns_t;

/*
 * Starts a DNS server process for one name ("d" zeroed here): A queries
 * for "name" are answered with "ipv4" and a TTL of "ttl" seconds, other
 * types with no record, other names with NXDOMAIN.  It answers once this
 * returns.  Returns 0 or -1.
 */
int tsr_test_dns_start(tsr_test_dns_t *d, const char *name,
    const char *ipv4, int ttl);

/*
 * Switches to "mode" (TSR_TEST_DNS_*) and, when "ipv4" is not NULL, to
 * that address, from the next query on.  Returns 0 or -1.
 */
int tsr_test_dns_set(tsr_test_dns_t *d, int mode, const char *ipv4);

/* A queries for the name received so far, answered or not. */
long tsr_test_dns_queries(const tsr_test_dns_t *d);

/* Stops the process and waits for it.  0 or -1. */
int tsr_test_dns_stop(tsr_test_dns_t *d);


/* ---- Redis Cluster and Sentinel on loopback ---- */

#define TSR_TEST_CLUSTER_NODES  6       /* 3 masters, 3 replicas */
#define TSR_TEST_SENTINELS      3

typedef struct {
    int                 node_timeout;       /* cluster-node-timeout, ms;
                                               0: 1000 */
    const char         *tls_dir;            /* certificates: every node
                                               also has a TLS port, and
                                               the bus and replication
                                               run over TLS; NULL: none */
    tsr_test_redis_t    node[TSR_TEST_CLUSTER_NODES];
    int                 tls_port[TSR_TEST_CLUSTER_NODES];
    char                seeds[512];         /* "127.0.0.1:port,..." */
    char                tls_seeds[512];     /* the same by TLS ports */
} tsr_test_cluster_t;

/*
 * Starts six cluster-enabled redis-servers (each in its own directory,
 * with a cluster bus port of its own), makes them a cluster of three
 * masters with a replica each ("redis-cli --cluster create
 * --cluster-replicas 1"), and waits until every node says
 * cluster_state:ok and every replica has synced (at most 20 s).
 * Returns 0 or -1.
 */
int tsr_test_cluster_start(tsr_test_cluster_t *cl);

/* Stops every node still running.  0 or -1. */
int tsr_test_cluster_stop(tsr_test_cluster_t *cl);

/*
 * Waits until every running node says cluster_state:ok and agrees on the
 * master of each slot; at most "ms".  0 or -1.
 */
int tsr_test_cluster_wait_ok(tsr_test_cluster_t *cl, int ms);

/*
 * The index of the node serving "slot" as master according to node
 * "asked" (-1: the first running node), or -1.
 */
int tsr_test_cluster_master_of(tsr_test_cluster_t *cl, int slot,
    int asked);

/* The index of a replica of node "master", or -1. */
int tsr_test_cluster_replica_of(tsr_test_cluster_t *cl, int master);

/* Node "i"'s cluster node id (40 hex digits) in "id"; 0 or -1. */
int tsr_test_cluster_node_id(tsr_test_cluster_t *cl, int i, char *id,
    size_t len);

/*
 * Runs redis-cli with the NULL-terminated arguments and returns its exit
 * status (output, stdout and stderr, in "out"), or -1 when it could not
 * run or took longer than "ms" (then it is killed).
 */
int tsr_test_redis_cli(char *out, size_t outlen, int ms, ...);

/*
 * Starts redis-cli with the NULL-terminated arguments in the background
 * (output to "log"); returns its pid or -1.
 */
pid_t tsr_test_redis_cli_spawn(const char *log, ...);

/*
 * Waits up to "ms" for child "pid"; returns its exit status, or -1 (it
 * is killed then).
 */
int tsr_test_wait_child(pid_t pid, int ms);

typedef struct {
    int                 down_after_ms;      /* 0: 500 */
    int                 failover_timeout_ms;    /* 0: 3000 */
    char                name[32];           /* "": "tsrmaster" */
    tsr_test_redis_t    data[2];            /* the first master, then its
                                               replica */
    tsr_test_redis_t    sentinel[TSR_TEST_SENTINELS];
    char                sentinels[256];     /* "127.0.0.1:port,..." */
    const char         *tls_dir;            /* certificates: every process
                                               also has a TLS port, and
                                               replication and the
                                               sentinels' own links run
                                               over TLS; NULL: none */
    int                 data_tls_port[2];
    int                 sentinel_tls_port[TSR_TEST_SENTINELS];
    char                tls_sentinels[256]; /* the sentinels by TLS port */
} tsr_test_sentinel_t;

/*
 * Starts a master, its replica and three sentinels monitoring it
 * (quorum 2, s->down_after_ms, s->failover_timeout_ms), and waits until
 * the replica has synced and every sentinel knows the replica and the
 * other sentinels (at most 20 s).  Returns 0 or -1.
 */
int tsr_test_sentinel_start(tsr_test_sentinel_t *s);

/* Stops every process still running.  0 or -1. */
int tsr_test_sentinel_stop(tsr_test_sentinel_t *s);

/*
 * The index in s->data of the master the first answering sentinel
 * names, or -1.
 */
int tsr_test_sentinel_master(tsr_test_sentinel_t *s);

/*
 * Waits up to "ms" until the sentinels name data[1 - old] and it says
 * role master.  0 or -1.
 */
int tsr_test_sentinel_wait_switch(tsr_test_sentinel_t *s, int old, int ms);


/* ---- a fleet: two nginx nodes on one Redis (tsr_test_fleet.c) ---- */

/* tsr_test_connect() flags: a request kind, or'ed with TSR_TEST_TICKETS */
#define TSR_TEST_HTTP       1       /* an HTTP GET, read to close */
#define TSR_TEST_STREAM     2       /* read to close */
#define TSR_TEST_REQUEST    3       /* the request kind bits */
#define TSR_TEST_TICKETS    0x10    /* the client accepts tickets */

/*
 * tsr_test_tls_once() with the usual options: the request kind and
 * tickets from "flags" (0: neither), no server name, 5 s per handshake;
 * *reused is 0 unless the session was resumed.  Returns 0 or -1.
 */
int tsr_test_connect(int port, int version, int flags, SSL_SESSION *offer,
    SSL_SESSION **out, int *reused);

/*
 * Starts "n" with a fresh error.log (*running = 1 once it runs) and
 * waits, 5 s at most, until a TLS 1.3 handshake on "port" with the
 * request kind in "flags" succeeds, then "settle_ms" more (the worker
 * meets Redis on its first lookup).  Returns 0 or -1.
 */
int tsr_test_nginx_start_serving(tsr_test_nginx_t *n, int port, int flags,
    int settle_ms, int *running);

typedef struct {
    tsr_test_nginx_t  node[2];      /* node[0] holds one.test's pair */
    int               port[2];
    int               running[2];
    int               stream;       /* stream servers instead of http */
    int               settle_ms;    /* wait after a start, default 100 */
    char              key_file[PATH_MAX + 16];   /* 48 random bytes */
} tsr_test_fleet_t;

/*
 * Prepares two nodes "<tag>-a" and "<tag>-b" with free ports and a fleet
 * key file; nothing runs yet.  Returns 0 or -1.
 */
int tsr_test_fleet_init(tsr_test_fleet_t *f, const char *tag, int stream);

/*
 * Writes both nodes' nginx.conf: one server on the node's port with
 * one.test's certificate, TLS 1.2 and 1.3, tickets off (sessions by id
 * and stateful TLS 1.3 tickets), "ssl_session_redis address", the key
 * file, and the directives in "extra" (full lines, may be NULL).
 */
int tsr_test_fleet_write(tsr_test_fleet_t *f, const char *address,
    const char *extra);

/* Starts node "i" with a fresh log and waits for one handshake there. */
int tsr_test_fleet_start_node(tsr_test_fleet_t *f, int i);

/* Starts both nodes; 0 or -1. */
int tsr_test_fleet_start(tsr_test_fleet_t *f);

/* Stops the nodes that run. */
void tsr_test_fleet_stop(tsr_test_fleet_t *f);

/* tsr_test_connect() to node "i" with the fleet's request kind. */
int tsr_test_fleet_connect(tsr_test_fleet_t *f, int i, int version,
    SSL_SESSION *offer, SSL_SESSION **out, int *reused);

/* a run of handshakes alternating between the nodes, around an event */
typedef struct {
    int             handshakes;
    int             failed;
    int             offered;
    int             resumed;
    long long       event;          /* ms on the monotonic clock, 0: none */
    long long       last_miss;      /* after the event, ms; -1: none */
    int             offered_after;  /* offers after the last miss */
    int             during;         /* offers before the event ended */
    int             resumed_during;
    SSL_SESSION    *offer;
} tsr_test_load_t;

/*
 * One handshake on the node whose turn it is, offering the session the
 * previous one received, counted in "l"; "ended": the event is over.
 */
void tsr_test_fleet_load_step(tsr_test_fleet_t *f, tsr_test_load_t *l,
    int version, int ended);

/* Frees the session a load holds. */
void tsr_test_load_done(tsr_test_load_t *l);

/*
 * tsr_test_nginx_log_problems() of node "i", naming its log on stderr
 * when there are any; 0: a clean log.
 */
int tsr_test_fleet_log_problems(tsr_test_fleet_t *f, int i);

/*
 * Starts both nodes, runs "n" handshakes alternating between them (until
 * "max_failed" failed), each offering the session the previous one
 * received, prints a line of figures naming "what", and stops the
 * nodes.  The counts are in "l" (its session freed).  Returns -1 when
 * the nodes did not start, else 0.
 */
int tsr_test_fleet_cross_node(tsr_test_fleet_t *f, tsr_test_load_t *l,
    int version, int n, int max_failed, const char *what);


/* ---- the CUnit main of every test program (tsr_test_main.c) ---- */

typedef struct {
    const char     *name;           /* the name CUnit prints */
    void          (*fn)(void);
} tsr_test_t;

/* a table entry for test_NAME(), or for a function named as it runs */
#define TSR_TEST(name)  { #name, test_##name }
#define TSR_TEST_FN(f)  { #f, f }

/*
 * Runs the "n" tests of "tests" as one CUnit suite "suite" with the
 * suite's "init" and "clean" (either may be NULL), and returns the
 * program's exit status: 0 when every assertion, test and the suite's
 * init passed, else 1.  The environment chooses:
 *   TSR_TEST_ONLY=a,b   only tests whose name contains "a" or "b"
 *                       (TSR_FAULT_ONLY is an older name); naming no
 *                       test at all is a failure, not an empty pass
 *   TSR_TEST_QUIET=1    CUnit's summary only (default: every test;
 *                       TSR_TEST_VERBOSE is the programs' own detail)
 *   TSR_TEST_LIST=1     print "suite: test" lines and exit 0
 */
int tsr_test_main(const char *suite, int (*init)(void), int (*clean)(void),
    const tsr_test_t *tests, size_t n);

#define TSR_TEST_MAIN(suite, init, clean, tests)                              \
    tsr_test_main(suite, init, clean, tests, sizeof(tests) / sizeof(tests[0]))


#endif /* TSR_TEST_H_INCLUDED */
