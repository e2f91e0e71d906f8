
/*
 * tsr-admin's shared parts: the state of one run (tsr_admin_t), the
 * blocking Redis connections (one server, or a cluster's masters) and
 * their SCAN loop, error reporting, and the parsers and formatters every
 * subcommand uses.
 */


#ifndef TSR_ADMIN_UTIL_H_INCLUDED
#define TSR_ADMIN_UTIL_H_INCLUDED


#include "tsr.h"
#include "tsr_sync.h"
#include "tsr_util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <hiredis/hiredis.h>



/*
 * Exit statuses.  "check" follows monitoring plugins: 0 ok, 1 warning (the
 * setup works but something deserves attention), 2 critical (it does not
 * work); every other command exits 0 or 2, "fleet" 3 on a mismatch.  Usage
 * errors exit 64 (EX_USAGE of sysexits.h), which no monitoring system
 * mistakes for a state of Redis.
 */
#define TSR_ADMIN_OK              0
#define TSR_ADMIN_WARNING         1
#define TSR_ADMIN_FAILED          2
#define TSR_ADMIN_MISMATCH        3
#define TSR_ADMIN_USAGE           64
#define TSR_ADMIN_GONE            -1        /* a key expired meanwhile */

#define TSR_ADMIN_DEFAULT_ADDRESS "127.0.0.1:6379"
#define TSR_ADMIN_DEFAULT_TIMEOUT 2000          /* ms */
#define TSR_ADMIN_DEFAULT_MAX     1000000       /* keys stats examines */
#define TSR_ADMIN_MAX_KEY_FILES   16
#define TSR_ADMIN_MAX_PREFIX      64            /* as the directive */
#define TSR_ADMIN_CTX_HEX         16            /* context fingerprint */
#define TSR_ADMIN_SCAN_COUNT      "1000"
#define TSR_ADMIN_SAMPLE          20            /* sessions check opens */
#define TSR_ADMIN_SAMPLE_PAGES    100           /* SCAN calls it spends */
#define TSR_ADMIN_MAX_FOUND       16            /* keys inspect shows */
#define TSR_ADMIN_MAX_NODES       4096
#define TSR_ADMIN_MAX_SERVERS     16384
#define TSR_ADMIN_CTX_SLOTS       2048          /* stats' context table */
#define TSR_ADMIN_MAX_CONTEXTS    1024
#define TSR_ADMIN_SHOW_CONTEXTS   16
#define TSR_ADMIN_SHOW_MISMATCHES 5
#define TSR_ADMIN_MSG_LEN         1024
#define TSR_ADMIN_CONF_LEN        4096
#define TSR_ADMIN_WHERE_LEN       512
#define TSR_ADMIN_TIME_LEN        32
#define TSR_ADMIN_NAME_LEN        256
#define TSR_ADMIN_LISTEN_LEN      128
#define TSR_ADMIN_SAFE_LEN        (4 * TSR_MAX_KEY_NAME + 1)
#define TSR_ADMIN_JSON_DEPTH      16
#define TSR_ADMIN_ADDR_LEN        2048

/* options beyond the address, key, prefix, timeout and output ones */
#define TSR_ADMIN_O_CONTEXT       0x0001
#define TSR_ADMIN_O_PERIOD        0x0004
#define TSR_ADMIN_O_LIFETIME      0x0008
#define TSR_ADMIN_O_MAX_KEYS      0x0010
#define TSR_ADMIN_O_MEMORY        0x0020
#define TSR_ADMIN_O_YES           0x0040
#define TSR_ADMIN_O_ALL           0x0080

#define TSR_ADMIN_OPT_PERIOD      256
#define TSR_ADMIN_OPT_LIFETIME    257
#define TSR_ADMIN_OPT_ALL         258
#define TSR_ADMIN_OPT_VERSION     259
#define TSR_ADMIN_OPT_JSON        260
#define TSR_ADMIN_OPT_SERVER      261
#define TSR_ADMIN_OPT_NGINX       262
#define TSR_ADMIN_OPT_HELP        263


typedef struct tsr_admin_s  tsr_admin_t;

typedef int (*tsr_admin_handler_pt)(tsr_admin_t *adm, int argc,
    char **argv);

/*
 * What tsr_admin_scan_all() does with a page of key names (all strings),
 * on the master holding them: 0 goes on, 1 stops (enough), -1 is a
 * failure (reported).
 */
typedef int (*tsr_admin_page_pt)(tsr_admin_t *adm, redisReply *keys,
    void *data);

typedef struct {
    const char            *name;
    tsr_admin_handler_pt   handler;
    unsigned               options;         /* TSR_ADMIN_O_* */
    const char            *summary;
    const char            *synopsis;
    const char            *help;
} tsr_admin_command_t;

/*
 * The JSON writer: one document on stdout, built as the command goes;
 * containers still open when a command fails are closed by main().
 */
typedef struct {
    int                         depth;
    unsigned                    first[TSR_ADMIN_JSON_DEPTH];
    char                        close[TSR_ADMIN_JSON_DEPTH];
} tsr_admin_json_t;

/* a master of a cluster, as CLUSTER SLOTS or a redirection names it */
typedef struct {
    char                        host[TSR_ADMIN_NAME_LEN];
    int                         port;
    char                        where[TSR_ADMIN_NAME_LEN + 8];
    size_t                      slots;          /* it serves */
    tsr_sync_t                 *redis;          /* NULL: not connected */
    unsigned                    refused:1;      /* outside allow= */
} tsr_admin_master_t;

struct tsr_admin_s {
    const tsr_admin_command_t  *cmd;
    const char                 *address;
    const char                 *host;           /* -h, -p, -s */
    const char                 *port;
    const char                 *socket;
    const char                 *config;         /* -c nginx.conf */
    const char                 *server;
    const char                 *nginx;
    const char                 *key_files[TSR_ADMIN_MAX_KEY_FILES];
    size_t                      nkey_files;
    const char                 *prefix;
    size_t                      prefix_len;
    uint64_t                    timeout_ms;
    uint64_t                    period_ms;
    uint64_t                    lifetime_ms;
    uint64_t                    max_keys;
    unsigned                    context:1;
    unsigned                    memory:1;
    unsigned                    yes:1;
    unsigned                    all:1;
    unsigned                    json:1;
    unsigned                    prefix_set:1;

    unsigned                    warnings;       /* check's */
    tsr_admin_json_t            out;
    char                        error[TSR_ADMIN_MSG_LEN];   /* the last */

    tsr_store_conf_t            conf;
    tsr_sync_t                 *redis;
    tsr_tls_t                  *tls;
    tsr_keyring_t              *keys;

    char                        ctx[TSR_ADMIN_CTX_HEX + 1];
    char                        match[2 * TSR_ADMIN_MAX_PREFIX + 1];
    char                        where[TSR_ADMIN_WHERE_LEN];
    char                        conf_buf[TSR_ADMIN_CONF_LEN];
    char                        addr_buf[TSR_ADMIN_ADDR_LEN];   /* -h -p -s */
    char                        master_host[TSR_ADMIN_NAME_LEN];  /* from
                                                   the sentinels */
    int                         master_port;

    /*
     * cluster=: the masters of the slot map, the master of each slot
     * (index + 1, 0: none), the one spoken to (NULL: the cluster as a
     * whole, which adm->where names then).  Without a cluster, nmasters
     * is 1 and adm->redis the connection.
     */
    tsr_admin_master_t         *masters;
    size_t                      nmasters;
    size_t                      covered;        /* slots with a master */
    uint16_t                   *slots;
    tsr_admin_master_t         *master;
    char                        cluster[TSR_ADMIN_WHERE_LEN];
    char                        map_from[TSR_ADMIN_NAME_LEN + 8];

    /* what -c found in nginx's configuration, copied */
    char                        nginx_address[TSR_ADMIN_ADDR_LEN];
    char                        nginx_prefix[TSR_ADMIN_MAX_PREFIX + 1];
    char                        nginx_source[TSR_ADMIN_WHERE_LEN];
    char                       *nginx_keys[TSR_ADMIN_MAX_KEY_FILES];
};

/* key names already met: SCAN may return a key more than once */
typedef struct {
    uint64_t                   *slots;      /* name hashes, 0: empty */
    size_t                      size;       /* a power of two */
    size_t                      n;
} tsr_admin_seen_t;


int tsr_admin_connect(tsr_admin_t *adm);
void tsr_admin_sync_conf(tsr_admin_t *adm, tsr_sync_conf_t *conf);
int tsr_admin_ping(tsr_admin_t *adm);
int tsr_admin_allowed(const char *allow, const char *ip);
const char *tsr_admin_list_next(const char *p, size_t *len, char *host,
    size_t hostlen, int *port);
int tsr_admin_cluster_map(tsr_admin_t *adm);
int tsr_admin_use(tsr_admin_t *adm, size_t i);
int tsr_admin_redirected(const redisReply *r);
void tsr_admin_leave(tsr_admin_t *adm);
const char *tsr_admin_masters_note(tsr_admin_t *adm, char *buf, size_t len);
int tsr_admin_key_commands(tsr_admin_t *adm, const char *key,
    size_t keylen, const char *const *names, size_t n,
    redisReply **replies);
int tsr_admin_scan_all(tsr_admin_t *adm, const char *pattern,
    tsr_admin_page_pt page, void *data);
void tsr_admin_disconnect(tsr_admin_t *adm);
redisReply *tsr_admin_command(tsr_admin_t *adm, const char *what,
    const char *fmt, ...);
int tsr_admin_append(tsr_admin_t *adm, const char *fmt, ...);
redisReply *tsr_admin_reply(tsr_admin_t *adm, const char *what);
int tsr_admin_session_key(tsr_admin_t *adm, const char *key,
    size_t len, const char **ctx, const char **id, size_t *idlen);
int tsr_admin_seen(tsr_admin_seen_t *s, const char *key, size_t len);
void tsr_admin_seen_free(tsr_admin_seen_t *s);
int tsr_admin_usage_error(tsr_admin_t *adm, const char *fmt, ...)
    TSR_PRINTF(2, 3);
void tsr_admin_fail(tsr_admin_t *adm, const char *fmt, ...)
    TSR_PRINTF(2, 3);
void tsr_admin_vfail(tsr_admin_t *adm, const char *fmt, va_list args)
    TSR_PRINTF(2, 0);
int tsr_admin_parse_time(const char *s, int bare_sec, uint64_t *ms);
int tsr_admin_parse_hex(const char *s, size_t min, size_t max,
    char *out, size_t outlen);
int tsr_admin_is_hex(const char *p, size_t len);
int tsr_admin_info_field(const char *info, const char *name,
    char *out, size_t outlen);
const char *tsr_admin_safe(const char *p, size_t len, char *out,
    size_t outlen);
void tsr_admin_key_id(const uint8_t *val, size_t len, char *out);
void tsr_admin_fmt_time(uint64_t ms, char *buf, size_t len);
void tsr_admin_fmt_duration(uint64_t ms, char *buf, size_t len);
void tsr_admin_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *buf,
    size_t len);
void tsr_admin_json_open(tsr_admin_t *adm, const char *key, int array);
void tsr_admin_json_close(tsr_admin_t *adm);
void tsr_admin_json_close_all(tsr_admin_t *adm);
void tsr_admin_json_str(tsr_admin_t *adm, const char *key, const char *s);
void tsr_admin_json_strn(tsr_admin_t *adm, const char *key, const char *s,
    size_t len);
void tsr_admin_json_int(tsr_admin_t *adm, const char *key, long long n);
void tsr_admin_json_uint(tsr_admin_t *adm, const char *key,
    unsigned long long n);
void tsr_admin_json_bool(tsr_admin_t *adm, const char *key, int b);
void tsr_admin_json_null(tsr_admin_t *adm, const char *key);
int tsr_admin_nginx_config(tsr_admin_t *adm);
int tsr_admin_check(tsr_admin_t *adm, int argc, char **argv);
int tsr_admin_stats(tsr_admin_t *adm, int argc, char **argv);
int tsr_admin_inspect(tsr_admin_t *adm, int argc, char **argv);
int tsr_admin_tickets(tsr_admin_t *adm, int argc, char **argv);
int tsr_admin_flush(tsr_admin_t *adm, int argc, char **argv);
int tsr_admin_fleet(tsr_admin_t *adm, int argc, char **argv);
tsr_tickets_t *tsr_admin_tickets_create(tsr_admin_t *adm,
    int no_rotate);


#endif /* TSR_ADMIN_UTIL_H_INCLUDED */
