
/*
 * libtsr: TLS sessions and ticket keys in Redis, for any OpenSSL server.
 *
 * Objects are opaque and created with *_create(), freed with *_destroy();
 * *_destroy(NULL) does nothing.  Option structs are the only public
 * structs; an all-zero struct means "defaults".  Calls return TSR_OK (0),
 * TSR_NOT_FOUND (a miss, not an error) or a negative TSR_E* code; the
 * object keeps a message for the last failure.  The library never prints,
 * exits or aborts; it logs through an optional callback only.
 */


#ifndef TSR_H_INCLUDED
#define TSR_H_INCLUDED


#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>


#ifdef __cplusplus
extern "C" {
#endif


#define TSR_OK                  0
#define TSR_NOT_FOUND           1
#define TSR_AGAIN               2     /* incomplete input, call again */

#define TSR_ERROR              -1     /* generic failure, see the message */
#define TSR_ENOMEM             -2
#define TSR_EINVAL             -3     /* bad argument or configuration */
#define TSR_ECONN              -4     /* cannot connect, connection lost */
#define TSR_ETIMEDOUT          -5
#define TSR_EPROTO             -6     /* unexpected reply from Redis */
#define TSR_ETOOBIG            -7     /* value over a size limit */
#define TSR_ESERVER            -8     /* Redis answered with an error */
#define TSR_EKEYFILE           -9     /* key file missing, unreadable, short */

/* tsr_open() rejections, one code per cause */
#define TSR_SEAL_TRUNCATED    -20
#define TSR_SEAL_VERSION      -21     /* unknown envelope version */
#define TSR_SEAL_UNKNOWN_KEY  -22     /* sealed under a key we do not have */
#define TSR_SEAL_MOVED        -23     /* sealed for another Redis key name */
#define TSR_SEAL_TAMPERED     -24     /* authentication tag mismatch */

/* limits */
#define TSR_MAX_VALUE          16384  /* largest value read from Redis */
#define TSR_MAX_SESSION        (TSR_MAX_VALUE - TSR_SEAL_OVERHEAD)
#define TSR_MAX_SESSION_ID     32
#define TSR_MAX_KEY_NAME       256
#define TSR_KEY_FILE_LEN       32     /* a fleet key file: as made */
#define TSR_MIN_KEY_FILE       32     /* bytes of key material, at least */
#define TSR_MAX_KEY_FILE       4096
#define TSR_SEAL_OVERHEAD      (1 + 4 + 4 + 12 + 16)
#define TSR_DEFAULT_PREFIX     "tsr:"


/* log levels, as syslog */
#define TSR_LOG_ERR             3
#define TSR_LOG_WARN            4
#define TSR_LOG_INFO            6
#define TSR_LOG_DEBUG           7
/*
 * or'ed into a level: the core limits this message itself (a host name
 * that does not resolve: once per 10 s); a host limiting the core's
 * messages lets it through, or it may be lost for that long
 */
#define TSR_LOG_LIMITED         0x100

typedef void (*tsr_log_pt)(int level, const char *msg, void *data);


/*
 * Error code to a short static string ("not found", "tampered value", ...).
 */
const char *tsr_strerror(int rc);


/* ---- sealing: AES-256-GCM envelopes under fleet keys ---- */

typedef struct tsr_keyring_s  tsr_keyring_t;

/*
 * Creates an empty key ring.  Returns NULL (and a message in err) on
 * allocation failure.  The caller frees it with tsr_keyring_destroy().
 */
tsr_keyring_t *tsr_keyring_create(char *err, size_t errlen);

/*
 * Adds the key in file "path", a fleet key file: TSR_MIN_KEY_FILE to
 * TSR_MAX_KEY_FILE raw bytes of random data, as "openssl rand 32 > path"
 * writes them.  A file of another length, or of text (PEM, hex, base64,
 * whatever its length), is rejected with
 * a message that says what it holds.  The first key added seals; every
 * key added opens.  The file's bytes and everything derived in between
 * are wiped.  Returns TSR_OK or TSR_EKEYFILE with a message naming the
 * file.
 */
int tsr_keyring_add_file(tsr_keyring_t *kr, const char *path, char *err,
    size_t errlen);

/*
 * Same as tsr_keyring_add_file() for key material already in memory, of
 * TSR_MIN_KEY_FILE to TSR_MAX_KEY_FILE bytes; the ring keeps only derived
 * keys, never a pointer to "ikm".
 */
int tsr_keyring_add_key(tsr_keyring_t *kr, const uint8_t *ikm, size_t len,
    char *err, size_t errlen);

/* Number of keys in the ring. */
size_t tsr_keyring_count(const tsr_keyring_t *kr);

/*
 * Public 4-byte identifier of key "n" (0 = the sealing key) as 8 hex
 * digits plus NUL in "out"; derived one-way, safe to log and compare
 * across a fleet.  Returns TSR_OK or TSR_EINVAL.
 */
int tsr_keyring_id(const tsr_keyring_t *kr, size_t n, char out[9]);

void tsr_keyring_destroy(tsr_keyring_t *kr);

/*
 * Seals "in" for the Redis key "name" (the AAD): writes
 * version(1) | key id(4) | name check(4) | nonce(12) | ciphertext | tag(16)
 * into "out", whose size is *outlen on entry (at least
 * inlen + TSR_SEAL_OVERHEAD); *outlen is the sealed length on return.
 * Returns TSR_OK, TSR_EINVAL (empty ring, small buffer) or TSR_ERROR.
 */
int tsr_seal(const tsr_keyring_t *kr, const char *name, size_t namelen,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);

/*
 * Opens a value sealed by tsr_seal() for the same "name".  "out" has
 * room for *outlen bytes on entry (inlen - TSR_SEAL_OVERHEAD suffices);
 * *outlen is the plaintext length on return.  On failure nothing is left
 * in "out".  Returns TSR_OK or one of the TSR_SEAL_* codes, TSR_EINVAL.
 */
int tsr_open(const tsr_keyring_t *kr, const char *name, size_t namelen,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);


/* ---- Redis key space ---- */

/*
 * Session key name: <prefix>s:<first 16 hex of SHA-256(sid_ctx)>:<hex id>.
 * Writes a NUL-terminated name into out[outlen] and returns its length,
 * or a negative code (TSR_EINVAL: id too long, TSR_ETOOBIG: no room).
 */
int tsr_session_key(const char *prefix, const uint8_t *sid_ctx,
    size_t sid_ctx_len, const uint8_t *id, size_t idlen, char *out,
    size_t outlen);


/* ---- store: a Redis client moving opaque bytes with a TTL ---- */

typedef struct tsr_store_s  tsr_store_t;

typedef struct {
    const char  *host;              /* default "127.0.0.1" */
    /*
     * A numeric address "host" resolved to before (by
     * tsr_store_conf_resolve() at configuration time, say), for a loop
     * that resolves (tsr_loop_t's resolve()): the first attempt goes
     * there, and so does an attempt when the name does not resolve;
     * NULL: none.
     */
    const char  *host_addr;
    int          port;              /* default 6379 */
    const char  *unix_path;         /* if set, host and port are unused */
    const char  *user;              /* ACL user for AUTH, or NULL */
    const char  *password;          /* AUTH password, or NULL */
    int          db;                /* SELECT db, default 0 */
    /*
     * Redis Cluster: seed nodes, "host:port" (or "[v6addr]:port")
     * separated by commas; the masters are learned from them (CLUSTER
     * SLOTS) and keys routed by hash slot.  host, port and unix_path are
     * unused, db must be 0; user and password apply to every node.
     */
    const char  *cluster;
    /*
     * Redis Sentinel: the sentinels, listed as "cluster" lists nodes, and
     * the name of the master they monitor (both required); host, port
     * and unix_path are unused.  The master found is reached with user,
     * password and db; the sentinels with their own credentials.
     */
    const char  *sentinels;
    const char  *master_name;
    const char  *sentinel_user;     /* ACL user for AUTH to sentinels */
    const char  *sentinel_password; /* AUTH password of the sentinels */
    /*
     * Cluster and Sentinel: networks, "addr[/bits]" separated by commas,
     * where nodes named by Redis may be (MOVED, ASK, CLUSTER SLOTS,
     * +switch-master); they receive user and password.  NULL: anywhere.
     */
    const char  *allow;
    /*
     * TLS to Redis (and to sentinels), "rediss://" or "tls": the CA file
     * (NULL: the system's store), the name verified and sent as SNI
     * (NULL: the host as written; an address is verified as one), a
     * client certificate for Redis' tls-auth-clients.
     */
    unsigned     tls:1;
    unsigned     tls_no_verify:1;   /* any certificate: tests only */
    const char  *tls_ca_file;
    const char  *tls_server_name;
    const char  *tls_cert_file;
    const char  *tls_key_file;
    int          connect_timeout_ms;    /* default 100 */
    int          command_timeout_ms;    /* default 100 */
    int          backoff_min_ms;    /* first reconnect delay, default 50 */
    int          backoff_max_ms;    /* longest reconnect delay, default 2000 */
    unsigned     never_block:1;     /* synchronous calls fail with
                                       TSR_EINVAL (an event-loop host's
                                       master process, for instance) */
    tsr_log_pt   log;
    void        *log_data;
} tsr_store_conf_t;

/*
 * Lookup round trips by upper bound in microseconds (CLOCK_MONOTONIC),
 * 50 us to 5 s; the last bucket is unbounded.
 */
#define TSR_STORE_LATENCY_BOUNDS                                              \
    { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,       \
      250000, 500000, 1000000, 2500000, 5000000 }
#define TSR_STORE_LATENCY_BUCKETS  17

typedef struct {
    uint64_t     gets;              /* lookups asked for, refused ones too */
    uint64_t     hits;
    uint64_t     misses;
    uint64_t     sets;              /* writes asked for, dropped ones too */
    uint64_t     dels;
    uint64_t     errors;            /* connection, timeout, server errors;
                                       asynchronous: also lookups and
                                       writes lost with a connection */
    uint64_t     bad_values;        /* non-string reply or over the limit */
    uint64_t     connects;
    uint64_t     tls_resumed;       /* connects whose TLS handshake
                                       resumed the server's last session */

    /* asynchronous side only */
    uint64_t     refused;           /* lookups refused at once: not
                                       connected, circuit breaker open,
                                       in-flight or queue limit */
    uint64_t     dropped;           /* SET and DEL never sent: not
                                       connected or queue limit */
    uint64_t     timeouts;          /* lookups past their deadline (also
                                       in errors) */
    uint64_t     breaker_opened;    /* times the circuit breaker opened */
    /*
     * Round trips of lookups Redis answered, late ones included, counted
     * in the first bucket whose bound (TSR_STORE_LATENCY_BOUNDS) they do
     * not exceed; not cumulative.
     */
    uint64_t     latency[TSR_STORE_LATENCY_BUCKETS];
    uint64_t     latency_sum_us;    /* of those round trips */

    /*
     * The socket: commands queued and replies taken, and the system
     * calls that moved them (writes and reads that moved bytes).  The
     * commands of one loop turn leave in one write: commands / writes
     * is the batch size.
     */
    uint64_t     commands;
    uint64_t     writes;
    uint64_t     replies;
    uint64_t     reads;
} tsr_store_stats_t;

/*
 * Parses an address as written in configuration: "host:port", "host"
 * (port 6379), "[v6addr]:port", "unix:/path", a Redis Cluster as
 * "cluster=host:port,host:port,..." (seed nodes), or Redis Sentinel as
 * "sentinel=host:port,host:port,..." with "master=NAME"; then optional
 * space separated parameters "password_file=FILE", "user=NAME", "db=N"
 * (not with a cluster), "allow=NET,..." (cluster and Sentinel: where the
 * nodes Redis names may be), and for Sentinel "sentinel_password_file=FILE",
 * "sentinel_user=NAME".  Strings in "conf" point into "buf" (size
 * buflen), which the caller keeps as long as "conf" is used; passwords
 * read from files are in "buf" too and the caller wipes it.  Returns
 * TSR_OK or TSR_EINVAL with a message.
 */
int tsr_store_conf_parse(tsr_store_conf_t *conf, const char *address,
    char *buf, size_t buflen, char *err, size_t errlen);

/*
 * Replaces every host name in "conf" (the address, a cluster's seed
 * nodes, the sentinels) by the numeric address it resolves to now,
 * written into "buf" (size buflen; the caller keeps it as long as "conf"
 * is used).  Blocks in getaddrinfo(): for configuration time, as nginx
 * resolves upstream names.  A store made from the result never waits on
 * a resolver.  Returns TSR_OK, or an error with a message naming the
 * host.
 */
int tsr_store_conf_resolve(tsr_store_conf_t *conf, char *buf, size_t buflen,
    char *err, size_t errlen);

/*
 * Creates a synchronous client.  It copies what it keeps from "conf" and
 * connects lazily, on first use; after a failure it waits the backoff
 * before the next attempt (calls fail fast with TSR_ECONN meanwhile).
 * A cluster client loads the slot map on first use and follows MOVED
 * and ASK redirections (once per call); a Sentinel client asks the
 * sentinels for the master and checks its ROLE before using it, and
 * asks again after losing it.  Returns NULL with a message in err on
 * bad configuration.
 */
tsr_store_t *tsr_store_create(const tsr_store_conf_t *conf, char *err,
    size_t errlen);

/* Connects now if not connected.  Returns TSR_OK or an error. */
int tsr_store_connect(tsr_store_t *st);

/*
 * GET "key" into buf; *len is the buffer size on entry, the value length
 * on return.  A missing key is TSR_NOT_FOUND.  A value of another type or
 * longer than TSR_MAX_VALUE or *len counts as a bad value and returns
 * TSR_NOT_FOUND as well (the store never trusts Redis).
 */
int tsr_store_get(tsr_store_t *st, const char *key, size_t keylen,
    uint8_t *buf, size_t *len);

/* As tsr_store_get(), atomically deleting the key (GETDEL). */
int tsr_store_getdel(tsr_store_t *st, const char *key, size_t keylen,
    uint8_t *buf, size_t *len);

/*
 * Runs "script" (EVALSHA; SCRIPT LOAD and EVALSHA again when Redis has
 * not cached it) with the one key "key" and "argc" arguments (at most
 * TSR_STORE_EVAL_ARGS), for a script that answers as GET does, a string
 * or nil, and blocks for the answer.  It goes where GET of "key" goes:
 * the one server, the master of the key's slot (following MOVED and
 * ASK), or the master the sentinels name.  The answer is read into buf
 * as tsr_store_get() reads a value: *vlen is the buffer size on entry,
 * the value length on return; nil is TSR_NOT_FOUND, an error reply
 * TSR_ESERVER.  A script is not sent twice after a lost connection: it
 * may have run.
 */
int tsr_store_eval(tsr_store_t *st, const char *script, size_t len,
    const char *key, size_t keylen, int argc, const char **argv,
    const size_t *argvlen, uint8_t *buf, size_t *vlen);

/* SET key value PX ttl_ms.  ttl_ms must be > 0. */
int tsr_store_set(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms);

/*
 * tsr_store_set() whose SET, on an asynchronous store, leaves with the
 * other commands of this loop turn (its write event) instead of at once:
 * for a caller that holds back whatever lets a client use the session
 * until that write (TLS 1.3 tickets, see tsr_ssl_conf_t's hold).  On a
 * synchronous store it is tsr_store_set().
 */
int tsr_store_set_later(tsr_store_t *st, const char *key, size_t keylen,
    const uint8_t *val, size_t vlen, uint64_t ttl_ms);

/* DEL key; deleting a missing key is TSR_OK. */
int tsr_store_del(tsr_store_t *st, const char *key, size_t keylen);

/* Message for the last failure; valid until the next call. */
const char *tsr_store_error(const tsr_store_t *st);

void tsr_store_stats(const tsr_store_t *st, tsr_store_stats_t *stats);

/* Closes the connection and frees everything. */
void tsr_store_destroy(tsr_store_t *st);


/* ---- store, asynchronous side: driven by the host's event loop ---- */

/*
 * The end of a resolution started by tsr_loop_t's resolve(): "ip" is a
 * numeric address (NUL-terminated, valid during the call), or NULL and
 * "err" says why the name did not resolve.
 */
typedef void (*tsr_loop_resolved_pt)(const char *ip, const char *err,
    void *arg);

/*
 * The host's event loop, as the store needs it.  The store calls these
 * from inside its own calls; the host calls tsr_store_on_read_fd(),
 * tsr_store_on_write_fd() and tsr_store_on_timer() when the events
 * happen, never from inside one of these callbacks.
 *
 * A store of one Redis server has one socket at a time.  Cluster and
 * Sentinel stores have several at once (one per master, one to a
 * sentinel), each watched, unwatched and reported on its own: the host
 * keeps its state per socket and passes the socket back with each event.
 */
typedef struct {
    void        *data;
    /*
     * watch "fd" for the given interests (either may be 0), replacing
     * the interests given for "fd" before; 0 or -1
     */
    int        (*watch)(void *data, int fd, int readable, int writable);
    /* forget "fd"; the store closes it itself right after */
    void       (*unwatch)(void *data, int fd);
    /* (re)arm the single store timer "ms" from now; 0 disarms it */
    void       (*timer)(void *data, uint64_t ms);
    /* monotonic milliseconds */
    uint64_t   (*now)(void *data);
    /*
     * Optional, both or neither: a resolver that never blocks.  With it,
     * a store of one Redis server addressed by a host name resolves the
     * name before every connection attempt (the first, every reconnect,
     * every retry while it fails, but the first when the configuration
     * gave an address, host_addr) and connects to the address found.  A
     * name that does not resolve is logged at most once per 10 s unless
     * the reason changes; the attempt goes to the last address found (or
     * host_addr), or with none counts as failed (backoff, lookups
     * refused meanwhile).  Without it, names are resolved once,
     * blocking, by tsr_store_set_async().  Cluster and Sentinel stores
     * do not use it.
     *
     * resolve() starts resolving "host" (copied if kept) and returns a
     * handle; "done" is called exactly once, later, or from inside
     * resolve(), which then returns NULL; resolve() that cannot start
     * calls "done" with an error and returns NULL.  resolve_cancel()
     * stops a resolution in flight: "done" is not called for it.
     */
    void      *(*resolve)(void *data, const char *host,
                          tsr_loop_resolved_pt done, void *arg);
    void       (*resolve_cancel)(void *data, void *handle);
} tsr_loop_t;

typedef struct tsr_req_s  tsr_req_t;

/*
 * Completion of an asynchronous lookup: rc is TSR_OK with the value,
 * TSR_NOT_FOUND, TSR_ETIMEDOUT (the deadline passed), TSR_ECONN or
 * another error.  "val" is valid during the call only and is wiped
 * afterwards.  Called exactly once unless the request was cancelled.
 */
typedef void (*tsr_store_done_pt)(int rc, const uint8_t *val, size_t len,
    void *arg);

typedef struct {
    int          max_inflight;      /* lookups in flight, default 256 */
    int          breaker_failures;  /* consecutive failures that open
                                       the circuit breaker, default 5 */
} tsr_store_async_conf_t;

/*
 * Makes "st" asynchronous on "loop" (copied).  From then on
 * tsr_store_set() and tsr_store_del() queue their command and return at
 * once (fire and forget; failures are counted), the synchronous gets
 * fail with TSR_EINVAL, and the connection is opened without blocking,
 * with hostnames resolved once here, or through the loop's resolve()
 * before every attempt when it has one.  Returns TSR_OK or an error.
 */
int tsr_store_set_async(tsr_store_t *st, const tsr_loop_t *loop,
    const tsr_store_async_conf_t *aconf);

/*
 * Starts GET (or GETDEL with "getdel") of "key", to complete through
 * "done" within "timeout_ms".  Returns a handle that stays valid until
 * "done" runs or tsr_store_cancel() is called; NULL when the request is
 * refused at once (in-flight limit, circuit breaker open, not connected
 * yet: the caller proceeds without the value), see tsr_store_error().
 */
tsr_req_t *tsr_store_get_async(tsr_store_t *st, const char *key,
    size_t keylen, int getdel, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg);

/*
 * Starts EVAL of "script" with the one key "key" and "argc" arguments
 * (at most TSR_STORE_EVAL_ARGS, copied), for a script that answers as
 * GET does, a string or nil; completes through "done" as a lookup does,
 * under the same deadline, in-flight limit and circuit breaker.  It is
 * routed as GET is (see tsr_store_eval()), on every topology.
 */
#define TSR_STORE_EVAL_ARGS  8

tsr_req_t *tsr_store_eval_async(tsr_store_t *st, const char *script,
    size_t len, const char *key, size_t keylen, int argc, const char **argv,
    const size_t *argvlen, uint64_t timeout_ms, tsr_store_done_pt done,
    void *arg);

/* "done" will not be called for "req"; it is freed when Redis answers. */
void tsr_store_cancel(tsr_req_t *req);

/*
 * Event entry points for the host (see tsr_loop_t): "fd" is the socket
 * that became readable or writable, as given to watch(); -1 tries every
 * socket of the store.  Events for a socket no longer watched are
 * ignored.
 */
void tsr_store_on_read_fd(tsr_store_t *st, int fd);
void tsr_store_on_write_fd(tsr_store_t *st, int fd);
void tsr_store_on_timer(tsr_store_t *st);

/* As tsr_store_on_read_fd() and _write_fd() with -1. */
void tsr_store_on_read(tsr_store_t *st);
void tsr_store_on_write(tsr_store_t *st);

/* Lookups in flight now, over all connections. */
int tsr_store_inflight(const tsr_store_t *st);

/*
 * The Redis Cluster hash slot of a key, 0 to 16383: CRC16 (XMODEM) of
 * the key, or of its hash tag (the part between the first "{" and the
 * next "}", when not empty), modulo 16384.  Keys with the same tag live
 * on the same node.
 */
int tsr_store_key_slot(const char *key, size_t keylen);

#define TSR_STORE_STATE_DOWN          0   /* not connected, or sync */
#define TSR_STORE_STATE_CONNECTING    1
#define TSR_STORE_STATE_UP            2
#define TSR_STORE_STATE_BREAKER_OPEN  3   /* lookups refused for now */

/*
 * The asynchronous connection's state, one of TSR_STORE_STATE_*.  For a
 * cluster: UP when every master of the slot map is, else BREAKER_OPEN
 * when a master's breaker is open, CONNECTING when one connects, DOWN;
 * for Sentinel, the state of the connection to the master.
 */
int tsr_store_state(const tsr_store_t *st);


/* ---- ClientHello: will OpenSSL look a session up, and for which id ---- */

#define TSR_HELLO_TICKETS       0x01    /* server issues tickets (no
                                           SSL_OP_NO_TICKET) */
#define TSR_HELLO_TLS13         0x02    /* server may negotiate TLS 1.3 */
#define TSR_HELLO_TLS12         0x04    /* server may negotiate TLS 1.2 */

#define TSR_HELLO_MAX_PEEK      16384   /* never look further than this */

typedef struct {
    unsigned     lookup:1;          /* OpenSSL will call get-session */
    unsigned     tls13:1;           /* the lookup is a TLS 1.3 PSK */
    unsigned     ticket:1;          /* a stateless ticket was offered */
    size_t       id_len;
    uint8_t      id[TSR_MAX_SESSION_ID];
    size_t       server_name_len;   /* 0 if no SNI */
    char         server_name[256];  /* NUL-terminated host_name */
} tsr_hello_t;

/*
 * Parses the start of a TLS connection as received ("buf", "len" bytes:
 * one or more records) without allocating.  Returns TSR_OK with "out"
 * filled when the ClientHello is complete, TSR_AGAIN when more bytes are
 * needed, TSR_EPROTO when it is not a ClientHello this parser can read
 * (SSLv2, malformed, longer than TSR_HELLO_MAX_PEEK): then no lookup.
 * Advisory only: OpenSSL parses everything again; on any doubt it says
 * "no lookup".
 */
int tsr_hello_parse(const uint8_t *buf, size_t len, unsigned flags,
    tsr_hello_t *out);


/* ---- OpenSSL binding: session callbacks on an SSL_CTX ---- */

typedef struct tsr_ssl_s  tsr_ssl_t;

typedef struct {
    tsr_store_t     *store;         /* required; not owned */
    tsr_keyring_t   *keys;          /* required; not owned */
    const char      *prefix;        /* default TSR_DEFAULT_PREFIX */
    /*
     * The session id context, 1 to SSL_MAX_SID_CTX_LENGTH bytes; required.
     * OpenSSL has no getter for it, so attach sets it on the context
     * itself and keys sessions by it.
     */
    const uint8_t   *sid_ctx;
    size_t           sid_ctx_len;
    unsigned         sync_lookup:1; /* get-session callback asks the store */
    unsigned         no_store:1;    /* never write or delete (read only) */
    /*
     * Single use: lookups take the session and delete it atomically
     * (GETDEL), so it resumes at most once across the fleet; the chained
     * first level is neither asked nor written.
     */
    unsigned         single_use:1;
    unsigned         log_debug:1;   /* format and pass debug messages */
    tsr_log_pt       log;
    void            *log_data;
    /*
     * Optional, asked by the new-session callback: 1 when the caller
     * holds what "ssl" sends (its write BIO) until the store's commands
     * of this loop turn were written, so that the SET leaves with them
     * (tsr_store_set_later()) and still reaches Redis before the client
     * has its TLS 1.3 ticket (OpenSSL writes it right after the callback)
     * or TLS 1.2 Finished (written before it: the caller must have held
     * it already); 0 (or no hook) sends the SET at once.
     */
    int            (*hold)(SSL *ssl, void *data);
    void            *hold_data;
} tsr_ssl_conf_t;

typedef struct {
    uint64_t         stored;        /* sessions written */
    uint64_t         store_skipped; /* stateless tickets, oversized */
    uint64_t         store_errors;
    uint64_t         lookups;       /* get-session callbacks */
    uint64_t         l1_hits;       /* served by the chained callback */
    uint64_t         hits;          /* served from the store */
    uint64_t         misses;
    uint64_t         open_failures; /* value did not open or decode */
    uint64_t         removed;
} tsr_ssl_stats_t;

/*
 * Installs new/get/remove session callbacks on a server "ctx".  Callbacks
 * already installed there (e.g. nginx's shared cache) are kept and
 * chained in front, as a local first level.  Sessions are stored sealed
 * with TTL = their remaining lifetime; sessions riding in TLS 1.3
 * stateless tickets and sessions over TSR_MAX_SESSION are not stored.
 * The store and key ring must outlive "ctx" or be detached first.
 * Returns the binding (freed with tsr_ssl_detach() or when "ctx" is
 * freed, whichever is first) or NULL with a message in err.
 */
tsr_ssl_t *tsr_ssl_ctx_attach(SSL_CTX *ctx, const tsr_ssl_conf_t *conf,
    char *err, size_t errlen);

/* The binding attached to "ctx", or NULL. */
tsr_ssl_t *tsr_ssl_ctx_get(SSL_CTX *ctx);

/*
 * Restores the callbacks found at attach time and frees the binding.
 */
void tsr_ssl_detach(SSL_CTX *ctx);

/*
 * Redis key name for a session id on this binding (the context's sid_ctx
 * and the configured prefix); as tsr_session_key().
 */
int tsr_ssl_session_key(tsr_ssl_t *b, const uint8_t *id, size_t idlen,
    char *out, size_t outlen);

/*
 * Hands the result of a lookup made out of band (the asynchronous one)
 * to the connection "ssl": the next get-session callbacks for "id" return
 * "sess", or nothing when "sess" is NULL, without asking the chained
 * first level or the store.  Takes a reference of its own; the slot is
 * released when "ssl" is freed or replaced; a NULL "id" clears it.
 * Returns TSR_OK, TSR_EINVAL (the session's own id is not "id") or
 * TSR_ENOMEM.
 */
int tsr_ssl_set_session(SSL *ssl, const uint8_t *id, size_t idlen,
    SSL_SESSION *sess);

/*
 * Asks the first-level cache chained at attach time (if any) for "id",
 * as OpenSSL's lookup would.  Returns a session the caller frees with
 * SSL_SESSION_free(), or NULL.
 */
SSL_SESSION *tsr_ssl_cached_session(tsr_ssl_t *b, SSL *ssl,
    const uint8_t *id, size_t idlen);

/*
 * Offers "sess" (found by an out-of-band lookup) to the first-level cache
 * chained at attach time, as OpenSSL would have on a new session; the
 * caller keeps its reference.  Nothing happens without such a cache.
 */
void tsr_ssl_cache_session(tsr_ssl_t *b, SSL *ssl, SSL_SESSION *sess);

/*
 * Decodes a sealed value read from the store for key "name" into a new
 * session (caller frees with SSL_SESSION_free()).  Returns NULL when it
 * does not open or decode; *rc then holds the reason.
 */
SSL_SESSION *tsr_ssl_session_open(tsr_ssl_t *b, const char *name,
    size_t namelen, const uint8_t *val, size_t vlen, int *rc);

void tsr_ssl_stats(const tsr_ssl_t *b, tsr_ssl_stats_t *stats);


/* ---- ticket keys: one ring per fleet and scope, rotated in Redis ---- */

/*
 * Stateless session tickets (RFC 5077, and TLS 1.3's) under keys shared
 * by a fleet.  A key is 80 bytes, nginx's layout: name(16) | HMAC-SHA256
 * key(32) | AES-256-CBC key(32).  The ring holds up to
 * TSR_TICKETS_MAX_KEYS keys: the current key encrypts for one period; the
 * next key, published a period early, only decrypts, so a node whose ring
 * is a little stale still opens tickets of a node that has rotated; the
 * previous keys decrypt (asking for a new ticket) until every ticket they
 * issued has expired: the time they stopped encrypting plus the ticket
 * lifetime plus one period.
 *
 * In Redis the ring is the string <prefix>tk:<scope>: a clear header,
 * generation (8 bytes, big-endian) | rotated at (8 bytes, big-endian
 * milliseconds of the Redis server's clock), then the ring sealed with
 * tsr_seal() for that key name.  It has no TTL.  Any node may rotate once
 * a period has passed since "rotated at"; redis-scripts/ticket_rotate.lua
 * makes that a compare-and-set on the generation, so the fleet rotates
 * exactly once per period however many nodes race.
 *
 * The ticket callback reads memory only.  Times are Unix milliseconds;
 * the fleet's clocks are assumed to agree within a small part of a period
 * (only the rotation itself is judged by Redis' clock).  An object is not
 * thread-safe: one per thread, or the host serializes its calls against
 * the handshakes using it.
 */

#define TSR_TICKETS_MAX_KEYS      8
#define TSR_TICKETS_NAME_LEN      16
#define TSR_TICKETS_DEFAULT_SCOPE "default"
#define TSR_TICKETS_DEFAULT_PERIOD    43200000    /* 12 h, in ms */
#define TSR_TICKETS_DEFAULT_LIFETIME  300000      /* 5 min, in ms */

/* key roles */
#define TSR_TICKETS_NEXT          1
#define TSR_TICKETS_CURRENT       2
#define TSR_TICKETS_PREVIOUS      3

typedef struct tsr_tickets_s  tsr_tickets_t;

typedef struct {
    /*
     * Redis for tsr_tickets_sync(), which runs on a synchronous store of
     * its own with this address, of any form: one server, cluster= (the
     * master of the ring's slot) or sentinel= (their master); copied,
     * never_block makes it fail.  NULL: the ring comes through
     * tsr_tickets_load_value() only.
     */
    const tsr_store_conf_t  *store_conf;
    tsr_keyring_t           *keys;          /* fleet keys sealing the
                                               ring; required, not owned */
    const char              *prefix;        /* default TSR_DEFAULT_PREFIX */
    const char              *scope;         /* default
                                               TSR_TICKETS_DEFAULT_SCOPE */
    uint64_t                 period_ms;     /* rotation period, at least
                                               100 ms; default 12 h */
    /*
     * The longest a ticket is accepted: the session timeout of the
     * contexts attached (SSL_CTX_get_timeout(), in ms).  Default 5 min.
     */
    uint64_t                 lifetime_ms;
    unsigned                 no_rotate:1;   /* sync only reads: never
                                               creates nor rotates */
    tsr_log_pt               log;
    void                    *log_data;
} tsr_tickets_conf_t;

typedef struct {
    uint64_t         issued;        /* tickets encrypted */
    uint64_t         not_issued;    /* encryption refused: no ring, or the
                                       current key's period is over */
    uint64_t         decrypted;     /* tickets whose key was found */
    uint64_t         renewed;       /* of those, a new ticket asked for */
    uint64_t         unknown_key;   /* key unknown or expired: a full
                                       handshake */
    uint64_t         rotations;     /* rings this object wrote to Redis,
                                       the first generation included */
    uint64_t         loads;         /* rings accepted */
    uint64_t         load_errors;   /* values rejected; the ring in use
                                       stays */
} tsr_tickets_stats_t;

typedef struct {
    char             name[2 * TSR_TICKETS_NAME_LEN + 1];   /* hex */
    int              role;          /* TSR_TICKETS_NEXT, ... */
    uint64_t         gen;           /* the generation it encrypts in */
    /*
     * Current key: when this node stops encrypting with it unless a newer
     * ring arrives (rotated at + period + period / 4); previous key: when
     * it stopped; next key: 0.
     */
    uint64_t         encrypt_until_ms;
    /* previous key: when it stops decrypting; others: 0 (while kept) */
    uint64_t         decrypt_until_ms;
} tsr_tickets_key_info_t;

typedef struct {
    uint64_t                gen;            /* 0: no ring loaded */
    uint64_t                rotated_at_ms;  /* Redis' clock */
    uint64_t                due_at_ms;      /* next rotation, at the
                                               earliest */
    uint64_t                period_ms;
    uint64_t                lifetime_ms;
    size_t                  nkeys;
    tsr_tickets_key_info_t  keys[TSR_TICKETS_MAX_KEYS];    /* newest
                                                               first */
} tsr_tickets_info_t;

/*
 * Creates a ticket key ring for conf->scope, empty until the first
 * successful tsr_tickets_sync() or tsr_tickets_load_value().  Copies
 * what it keeps from "conf" except the fleet key ring, which must outlive
 * it.  Returns NULL with a message in err on bad configuration.  Freed
 * with tsr_tickets_destroy().
 */
tsr_tickets_t *tsr_tickets_create(const tsr_tickets_conf_t *conf,
    char *err, size_t errlen);

/*
 * Detaches every context still attached, wipes the keys and frees "t".
 */
void tsr_tickets_destroy(tsr_tickets_t *t);

/*
 * Installs the ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb)
 * on a server "ctx", replacing key files and OpenSSL's own per-context
 * keys; SSL_OP_NO_TICKET still turns tickets off.  OpenSSL calls the
 * callback of the context a connection started on, which serves it from
 * the object attached to the connection's context at that moment (SNI
 * may have switched it): attach the same object to every context sharing
 * a listener.  Attaching again replaces the previous object.  "ctx" uses
 * "t" until detached, freed, or "t" is destroyed, whichever is first;
 * each may go first.  Logs a warning when the context's session timeout
 * exceeds the ticket lifetime.  Returns TSR_OK, TSR_EINVAL, TSR_ENOMEM.
 */
int tsr_tickets_attach(tsr_tickets_t *t, SSL_CTX *ctx);

/* Removes the callback from "ctx", if attached. */
void tsr_tickets_detach(SSL_CTX *ctx);

/*
 * Synchronously, on connections closed before returning (within the
 * connect timeout of conf->store_conf plus one command timeout for all
 * its commands together, however slowly Redis answers): reads the
 * ring and loads it; creates it when absent; rotates it when a period
 * has passed, or at once when Redis holds an older ring than this one
 * (the script decides, by Redis' clock; when another node was first,
 * reads the ring again).  Meant for start-up, command
 * line tools and hosts without an event loop.  Returns TSR_OK when a ring
 * is loaded, TSR_NOT_FOUND when there is none (no_rotate), or an error:
 * the ring in use stays, and tsr_tickets_error() says why.
 */
int tsr_tickets_sync(tsr_tickets_t *t);

/*
 * Loads the ring from "val", the value of the ring's key fetched by the
 * host (an asynchronous GET, say).  Nothing in it is trusted: it must
 * open with the fleet keys under this very key name and pass every
 * check, or it is rejected, counted, and the ring in use stays.  The
 * ticket callback sees the old ring or the new one, never a mix.
 * A ring of a generation older than the one in use is refused too.
 * Returns TSR_OK, TSR_ETOOBIG, TSR_EPROTO (malformed, or older), a
 * TSR_SEAL_* code.
 */
int tsr_tickets_load_value(tsr_tickets_t *t, const uint8_t *val,
    size_t len);

/*
 * As tsr_tickets_sync(), but rotates now even when no period has passed
 * (an operator's decision, e.g. after a key leaked): still a
 * compare-and-set on the generation, so a node rotating at the same
 * moment makes it one rotation.  Previous keys are kept as usual.
 */
int tsr_tickets_rotate_now(tsr_tickets_t *t);

/*
 * For a host on an event loop: what tsr_tickets_sync() does, as one
 * asynchronous request through "st" (made asynchronous, one Redis
 * server): builds the next generation of the ring in use (the first
 * without one), runs the rotation script, and has "done" called with
 * the ring stored afterwards (the new one, or another node's when it
 * was first or no period has passed), to hand to
 * tsr_tickets_load_value().  Call it when tsr_tickets_due() says so.
 * Returns the request, to cancel with tsr_store_cancel(), or NULL when
 * refused (see tsr_store_error(), tsr_tickets_error()).
 */
tsr_req_t *tsr_tickets_rotate_async(tsr_tickets_t *t, tsr_store_t *st,
    uint64_t timeout_ms, tsr_store_done_pt done, void *arg);

/*
 * The ring's Redis key name, NUL-terminated in out[outlen]; returns its
 * length or TSR_ETOOBIG.
 */
int tsr_tickets_ring_key(const tsr_tickets_t *t, char *out, size_t outlen);

/*
 * Whether the ring should be rotated at "now_ms" (0: now): 1 when no ring
 * is loaded, a period has passed since it was rotated, or the last ring
 * read was older than the one in use (Redis rolled back), else 0; 0 too
 * when the last ring read did not load (it may be sealed with a fleet
 * key this node lacks: never overwritten).  Hosts
 * refreshing asynchronously read the ring more often than that.
 */
int tsr_tickets_due(const tsr_tickets_t *t, uint64_t now_ms);

/*
 * The current key's name, in hex (out needs 2 * TSR_TICKETS_NAME_LEN + 1
 * bytes).  Returns TSR_OK, TSR_NOT_FOUND (no ring) or TSR_EINVAL.
 */
int tsr_tickets_key_name(const tsr_tickets_t *t, char *out, size_t len);

/*
 * Describes the ring in use, key names and times, never key bytes.
 * Returns TSR_OK or TSR_NOT_FOUND (no ring; info->gen is 0).
 */
int tsr_tickets_info(const tsr_tickets_t *t, tsr_tickets_info_t *info);

void tsr_tickets_stats(const tsr_tickets_t *t, tsr_tickets_stats_t *stats);

/* Message for the last failure; valid until the next call. */
const char *tsr_tickets_error(const tsr_tickets_t *t);


#ifdef __cplusplus
}
#endif

#endif /* TSR_H_INCLUDED */
