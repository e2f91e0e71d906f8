
/*
 * tsr-admin's shared helpers: the Redis connection, SCAN, error
 * reporting, and parsing and formatting of times, hex and Redis text.
 */


#include "tsr_admin_util.h"


#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>


#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>


static int tsr_admin_tls(tsr_admin_t *adm);
static int tsr_admin_sentinel(tsr_admin_t *adm, tsr_sync_conf_t *conf);
static int tsr_admin_scan(tsr_admin_t *adm, const char *pattern,
    char *cursor, size_t cursor_size, redisReply **reply);
static void tsr_admin_json_key(tsr_admin_t *adm, const char *key);
static void tsr_admin_json_quote(const char *s, size_t len);


/*
 * One blocking connection: connect and command timeouts, AUTH (as an ACL
 * user with user=), SELECT, and a PING that tells whether authentication
 * is missing.  With cluster= only the slot map is read: the masters are
 * connected as tsr_admin_use() picks them.
 */

int
tsr_admin_connect(tsr_admin_t *adm)
{
    int               rc;
    char              err[TSR_SYNC_ERR_LEN];
    redisReply       *reply;
    tsr_sync_conf_t   conf;

    rc = tsr_admin_tls(adm);
    if (rc != TSR_ADMIN_OK) {
        return rc;
    }

    if (adm->conf.cluster != NULL) {
        return tsr_admin_cluster_map(adm);
    }

    tsr_admin_sync_conf(adm, &conf);
    conf.addr = adm->where;
    conf.host = adm->conf.host;
    conf.port = adm->conf.port;
    conf.path = adm->conf.unix_path;

    if (adm->conf.sentinels != NULL) {
        /* the master the sentinels name, then as a single server */

        rc = tsr_admin_sentinel(adm, &conf);
        if (rc != TSR_ADMIN_OK) {
            return rc;
        }
    }

    adm->redis = tsr_sync_connect(&conf, &rc, err, sizeof(err));
    if (adm->redis == NULL) {
        tsr_admin_fail(adm, "%s", err);
        return TSR_ADMIN_FAILED;
    }

    adm->nmasters = 1;

    if (adm->conf.sentinels != NULL) {
        /* a sentinel may lag a failover: the server must say "master" */

        reply = tsr_admin_command(adm, "INFO replication",
                                  "INFO replication");
        if (reply == NULL) {
            return TSR_ADMIN_FAILED;
        }

        rc = (reply->type == REDIS_REPLY_STRING
              && tsr_admin_info_field(reply->str, "role", err, sizeof(err))
                 == 0
              && strcmp(err, "master") == 0);

        freeReplyObject(reply);

        if (!rc) {
            tsr_admin_fail(adm, "%s is not a master (yet): the sentinels "
                           "are in a failover, try again", adm->where);
            return TSR_ADMIN_FAILED;
        }
    }

    return tsr_admin_ping(adm);
}


/* the TLS context of the address' tls parameters, once */

static int
tsr_admin_tls(tsr_admin_t *adm)
{
    char            err[TSR_SYNC_ERR_LEN];
    tsr_tls_conf_t  tc;

    if (!adm->conf.tls || adm->tls != NULL) {
        return TSR_ADMIN_OK;
    }

    if ((adm->conf.tls_cert_file == NULL) != (adm->conf.tls_key_file == NULL))
    {
        tsr_admin_fail(adm, "tls_cert_file= and tls_key_file= go together");
        return TSR_ADMIN_FAILED;
    }

    memset(&tc, 0, sizeof(tc));
    tc.ca_file = adm->conf.tls_ca_file;
    tc.cert_file = adm->conf.tls_cert_file;
    tc.key_file = adm->conf.tls_key_file;
    tc.server_name = adm->conf.tls_server_name;
    tc.verify = !adm->conf.tls_no_verify;

    adm->tls = tsr_tls_create(&tc, err, sizeof(err));
    if (adm->tls == NULL) {
        tsr_admin_fail(adm, "%s", err);
        return TSR_ADMIN_FAILED;
    }

    return TSR_ADMIN_OK;
}


/*
 * What every connection of the address shares: the credentials, db,
 * timeouts and TLS; the caller adds where it goes.
 */

void
tsr_admin_sync_conf(tsr_admin_t *adm, tsr_sync_conf_t *conf)
{
    memset(conf, 0, sizeof(tsr_sync_conf_t));
    conf->user = adm->conf.user;
    conf->password = adm->conf.password;
    conf->password_len = (adm->conf.password != NULL)
                         ? strlen(adm->conf.password) : 0;
    conf->db = adm->conf.db;
    conf->info = 1;
    conf->connect_timeout_ms = (int) adm->timeout_ms;
    conf->command_timeout_ms = (int) adm->timeout_ms;
    conf->tls = adm->tls;
}


/* PING on adm->redis: whether authentication is missing */

int
tsr_admin_ping(tsr_admin_t *adm)
{
    redisReply  *reply;

    reply = tsr_admin_command(adm, "PING", "PING");
    if (reply == NULL) {
        return TSR_ADMIN_FAILED;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "PING on %s failed: %s%s", adm->where,
                       reply->str,
                       (adm->conf.password == NULL
                        && strncmp(reply->str, "NOAUTH", 6) == 0)
                       ? " (add password_file= to the address)" : "");
        freeReplyObject(reply);
        return TSR_ADMIN_FAILED;
    }

    freeReplyObject(reply);

    return TSR_ADMIN_OK;
}


/*
 * Redis Sentinel: asks each sentinel in turn for the master of
 * master_name (SENTINEL get-master-addr-by-name), checks it against
 * allow= as the module does, and points "conf" and adm->where at it.
 */

static int
tsr_admin_sentinel(tsr_admin_t *adm, tsr_sync_conf_t *conf)
{
    int               rc, port;
    char             *end;
    size_t            n;
    tsr_sync_t       *s;
    redisReply       *reply;
    const char       *p, *next;
    tsr_sync_conf_t   sc;
    char              one[TSR_ADMIN_NAME_LEN], err[TSR_SYNC_ERR_LEN];

    if (adm->conf.master_name == NULL) {
        tsr_admin_fail(adm, "sentinel= needs master=");
        return TSR_ADMIN_FAILED;
    }

    err[0] = '\0';

    for (p = adm->conf.sentinels; *p != '\0'; p = next) {
        next = tsr_admin_list_next(p, &n, one, sizeof(one), &port);

        if (one[0] == '\0' || port == 0) {
            continue;
        }

        memset(&sc, 0, sizeof(tsr_sync_conf_t));
        sc.addr = p;
        sc.host = one;
        sc.port = port;
        sc.user = adm->conf.sentinel_user;
        sc.password = adm->conf.sentinel_password;
        sc.password_len = (sc.password != NULL) ? strlen(sc.password) : 0;
        sc.connect_timeout_ms = conf->connect_timeout_ms;
        sc.command_timeout_ms = conf->command_timeout_ms;
        sc.tls = conf->tls;

        s = tsr_sync_connect(&sc, &rc, err, sizeof(err));
        if (s == NULL) {
            continue;
        }

        rc = tsr_sync_command(s, &reply, "SENTINEL get-master-addr-by-name",
                              "SENTINEL get-master-addr-by-name %s",
                              adm->conf.master_name);

        if (rc != TSR_OK) {
            (void) snprintf(err, sizeof(err), "%s", s->errstr);
            tsr_sync_free(s);
            continue;
        }

        tsr_sync_free(s);

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[1]->type != REDIS_REPLY_STRING
            || reply->element[0]->len == 0
            || reply->element[0]->len >= sizeof(adm->master_host))
        {
            (void) snprintf(err, sizeof(err), "sentinel %.*s does not know "
                            "master \"%s\"", (int) n, p,
                            adm->conf.master_name);
            freeReplyObject(reply);
            continue;
        }

        memcpy(adm->master_host, reply->element[0]->str,
               reply->element[0]->len);
        adm->master_host[reply->element[0]->len] = '\0';

        errno = 0;
        port = (int) strtol(reply->element[1]->str, &end, 10);
        rc = (errno == 0 && *end == '\0' && port > 0 && port < 65536);

        freeReplyObject(reply);

        if (!rc) {
            (void) snprintf(err, sizeof(err), "sentinel %.*s named a bad "
                            "port", (int) n, p);
            continue;
        }

        if (!tsr_admin_allowed(adm->conf.allow, adm->master_host)) {
            tsr_admin_fail(adm, "the sentinels name %s as master \"%s\", "
                           "which is not in allow=", adm->master_host,
                           adm->conf.master_name);
            return TSR_ADMIN_FAILED;
        }

        conf->host = adm->master_host;
        conf->port = port;
        conf->path = NULL;
        adm->master_port = port;

        (void) snprintf(adm->where, sizeof(adm->where),
                        strchr(adm->master_host, ':') ? "[%s]:%d" : "%s:%d",
                        adm->master_host, port);

        if (adm->conf.db != 0) {
            n = strlen(adm->where);
            (void) snprintf(adm->where + n, sizeof(adm->where) - n,
                            " db %d", adm->conf.db);
        }

        conf->addr = adm->where;

        return TSR_ADMIN_OK;
    }

    tsr_admin_fail(adm, "no sentinel names master \"%s\"%s%s",
                   adm->conf.master_name, err[0] ? ": " : "", err);

    return TSR_ADMIN_FAILED;
}


/*
 * Whether "ip" is in one of the networks "addr[/bits],..." of allow= (NULL:
 * anywhere).  A name that is not an address is not.
 */

int
tsr_admin_allowed(const char *allow, const char *ip)
{
    int            af, bits, len;
    char          *slash;
    size_t         n, i;
    const char    *p, *next;
    unsigned char  a[16], b[16];
    char           net[TSR_ADMIN_NAME_LEN];

    if (allow == NULL) {
        return 1;
    }

    af = (strchr(ip, ':') != NULL) ? AF_INET6 : AF_INET;
    len = (af == AF_INET6) ? 16 : 4;

    if (inet_pton(af, ip, a) != 1) {
        return 0;
    }

    for (p = allow; *p != '\0'; p = next) {
        next = strchr(p, ',');
        n = (next != NULL) ? (size_t) (next - p) : strlen(p);
        next = (next != NULL) ? next + 1 : p + n;

        if (n == 0 || n >= sizeof(net)) {
            continue;
        }

        memcpy(net, p, n);
        net[n] = '\0';

        bits = len * 8;
        slash = strchr(net, '/');

        if (slash != NULL) {
            *slash = '\0';
            bits = atoi(slash + 1);
        }

        if (bits < 0 || bits > len * 8 || inet_pton(af, net, b) != 1) {
            continue;
        }

        for (i = 0; i < (size_t) bits / 8; i++) {
            if (a[i] != b[i]) {
                break;
            }
        }

        if (i < (size_t) bits / 8) {
            continue;
        }

        if (bits % 8 == 0
            || ((a[i] ^ b[i]) & (0xff << (8 - bits % 8)) & 0xff) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * One entry of a list "host:port,[v6addr]:port,..." as
 * tsr_store_conf_parse() checked it, from "p": its length in *len, its
 * host (without brackets) in "host", "" when it does not fit, and its
 * port, 0 when none is written.  Returns where the next entry starts
 * ("" at the end).
 */

const char *
tsr_admin_list_next(const char *p, size_t *len, char *host, size_t hostlen,
    int *port)
{
    size_t       n, h;
    const char  *next, *colon, *start;

    next = strchr(p, ',');
    n = (next != NULL) ? (size_t) (next - p) : strlen(p);
    next = (next != NULL) ? next + 1 : p + n;

    *len = n;
    *port = 0;
    host[0] = '\0';

    start = p;
    colon = NULL;

    if (n > 0 && p[0] == '[') {
        start = p + 1;
        colon = memchr(p, ']', n);

        if (colon == NULL) {
            return next;
        }

        h = (size_t) (colon - start);
        colon = (colon + 1 < p + n && colon[1] == ':') ? colon + 1 : NULL;

    } else {
        colon = memchr(p, ':', n);
        h = (colon != NULL) ? (size_t) (colon - p) : n;
    }

    if (h == 0 || h >= hostlen) {
        return next;
    }

    memcpy(host, start, h);
    host[h] = '\0';

    if (colon != NULL) {
        *port = atoi(colon + 1);

        if (*port < 0 || *port > 65535) {
            *port = 0;
        }
    }

    return next;
}


/*
 * A command and its reply, error replies included; NULL (reported) when
 * the connection failed.  The caller frees the reply.
 */

redisReply *
tsr_admin_command(tsr_admin_t *adm, const char *what, const char *fmt, ...)
{
    int          rc;
    va_list      args;
    redisReply  *reply;

    va_start(args, fmt);
    rc = tsr_sync_vcommand(adm->redis, &reply, what, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return NULL;
    }

    return reply;
}


/* queues a command of a pipeline; 0 or -1 (out of memory, reported) */

int
tsr_admin_append(tsr_admin_t *adm, const char *fmt, ...)
{
    int      rc;
    va_list  args;

    va_start(args, fmt);
    rc = tsr_sync_vappend(adm->redis, fmt, args);
    va_end(args);

    if (rc != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return -1;
    }

    return 0;
}


/* the next reply of a pipeline, as tsr_admin_command() */

redisReply *
tsr_admin_reply(tsr_admin_t *adm, const char *what)
{
    redisReply  *reply;

    if (tsr_sync_reply(adm->redis, &reply, what) != TSR_OK) {
        tsr_admin_fail(adm, "%s", adm->redis->errstr);
        return NULL;
    }

    return reply;
}


/*
 * SCAN over "pattern" on every master in turn (the one server without a
 * cluster), each page of key names given to "page".  Returns 0 when
 * everything was scanned, 1 when "page" stopped it before the end, -1 on
 * a failure (reported).  A cluster is left as a whole afterwards.
 */

int
tsr_admin_scan_all(tsr_admin_t *adm, const char *pattern,
    tsr_admin_page_pt page, void *data)
{
    int          rc;
    size_t       i;
    redisReply  *r;
    char         cursor[64];

    rc = 0;

    for (i = 0; i < adm->nmasters && rc == 0; i++) {
        if (tsr_admin_use(adm, i) != TSR_ADMIN_OK) {
            rc = -1;
            break;
        }

        (void) strcpy(cursor, "0");

        do {
            if (tsr_admin_scan(adm, pattern, cursor, sizeof(cursor), &r)
                != 0)
            {
                rc = -1;
                break;
            }

            rc = page(adm, r->element[1], data);

            freeReplyObject(r);

        } while (rc == 0 && strcmp(cursor, "0") != 0);

        if (rc == 1 && strcmp(cursor, "0") == 0 && i + 1 == adm->nmasters) {
            /* stopped, but there was nothing left */
            rc = 0;
        }
    }

    tsr_admin_leave(adm);

    return rc;
}


/*
 * One SCAN step over "pattern" from "cursor" (updated; "0" when done).
 * *reply is the whole reply, its element[1] the array of key names, all
 * strings; the caller frees it.  Returns 0, or -1 (reported).
 */

static int
tsr_admin_scan(tsr_admin_t *adm, const char *pattern, char *cursor,
    size_t cursor_size, redisReply **reply)
{
    size_t       i;
    redisReply  *r, *keys;

    r = tsr_admin_command(adm, "SCAN", "SCAN %s MATCH %s COUNT %s", cursor,
                          pattern, TSR_ADMIN_SCAN_COUNT);
    if (r == NULL) {
        return -1;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        tsr_admin_fail(adm, "SCAN on %s failed: %s", adm->where, r->str);
        goto failed;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[0]->len == 0 || r->element[0]->len >= cursor_size
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        tsr_admin_fail(adm, "SCAN on %s: unexpected reply", adm->where);
        goto failed;
    }

    keys = r->element[1];

    for (i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            tsr_admin_fail(adm, "SCAN on %s: unexpected reply", adm->where);
            goto failed;
        }
    }

    memcpy(cursor, r->element[0]->str, r->element[0]->len);
    cursor[r->element[0]->len] = '\0';

    *reply = r;

    return 0;

failed:

    freeReplyObject(r);

    return -1;
}


/*
 * Whether "key" is a session key under the prefix:
 * <prefix>s:<16 hex>:<2 to 64 hex, even>; points *ctx and *id into it.
 */

int
tsr_admin_session_key(tsr_admin_t *adm, const char *key, size_t len,
    const char **ctx, const char **id, size_t *idlen)
{
    size_t       head, n;
    const char  *p;

    head = adm->prefix_len + 2;

    if (len < head + TSR_ADMIN_CTX_HEX + 1 + 2
        || memcmp(key, adm->prefix, adm->prefix_len) != 0
        || key[adm->prefix_len] != 's' || key[adm->prefix_len + 1] != ':')
    {
        return -1;
    }

    p = key + head;

    if (!tsr_admin_is_hex(p, TSR_ADMIN_CTX_HEX)
        || p[TSR_ADMIN_CTX_HEX] != ':')
    {
        return -1;
    }

    n = len - head - TSR_ADMIN_CTX_HEX - 1;

    if (n % 2 != 0 || n > 2 * TSR_MAX_SESSION_ID
        || !tsr_admin_is_hex(p + TSR_ADMIN_CTX_HEX + 1, n))
    {
        return -1;
    }

    if (ctx != NULL) {
        *ctx = p;
        *id = p + TSR_ADMIN_CTX_HEX + 1;
        *idlen = n;
    }

    return 0;
}


/*
 * Whether "key" was met before (1), else remembers it (0); -1 when out of
 * memory.  Keys are remembered by 64 bits of their SHA-256.
 */

int
tsr_admin_seen(tsr_admin_seen_t *s, const char *key, size_t len)
{
    size_t    i, j, size;
    uint64_t  h, *slots;
    uint8_t   md[SHA256_DIGEST_LENGTH];

    if (2 * (s->n + 1) > s->size) {
        size = s->size ? 2 * s->size : 1024;

        slots = calloc(size, sizeof(uint64_t));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i < s->size; i++) {
            if (s->slots[i] == 0) {
                continue;
            }

            for (j = s->slots[i] & (size - 1); slots[j] != 0;
                 j = (j + 1) & (size - 1))
            {
                /* void */
            }

            slots[j] = s->slots[i];
        }

        free(s->slots);
        s->slots = slots;
        s->size = size;
    }

    if (SHA256((const unsigned char *) key, len, md) == NULL) {
        return -1;
    }

    memcpy(&h, md, sizeof(uint64_t));

    if (h == 0) {
        /* 0 marks an empty slot */
        h = 1;
    }

    for (i = h & (s->size - 1); s->slots[i] != 0; i = (i + 1) & (s->size - 1))
    {
        if (s->slots[i] == h) {
            return 1;
        }
    }

    s->slots[i] = h;
    s->n++;

    return 0;
}


void
tsr_admin_seen_free(tsr_admin_seen_t *s)
{
    free(s->slots);
    s->slots = NULL;
    s->size = 0;
    s->n = 0;
}


/* reports a usage error and returns TSR_ADMIN_USAGE */

int
tsr_admin_usage_error(tsr_admin_t *adm, const char *fmt, ...)
{
    va_list  args;
    size_t   n;
    char     msg[TSR_ADMIN_MSG_LEN];

    va_start(args, fmt);
    tsr_verrf(msg, sizeof(msg), fmt, args);
    va_end(args);

    n = strlen(msg);
    (void) snprintf(msg + n, sizeof(msg) - n, "; see \"tsr-admin %s "
                    "--help\"", adm->cmd->name);

    tsr_admin_fail(adm, "%s", msg);

    return TSR_ADMIN_USAGE;
}


void
tsr_admin_fail(tsr_admin_t *adm, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_admin_vfail(adm, fmt, args);
    va_end(args);
}


/* "tsr-admin: <command>: <message>", one line whatever the message holds */

void
tsr_admin_vfail(tsr_admin_t *adm, const char *fmt, va_list args)
{
    char  *p;
    char   msg[TSR_ADMIN_MSG_LEN];

    tsr_verrf(msg, sizeof(msg), fmt, args);

    for (p = msg; *p != '\0'; p++) {
        if ((unsigned char) *p < ' ' || (unsigned char) *p == 0x7f) {
            *p = ' ';
        }
    }

    (void) fflush(stdout);
    fprintf(stderr, "tsr-admin: %s: %s\n", adm->cmd->name, msg);

    /* for the "error" member of --json's document */
    (void) memcpy(adm->error, msg, sizeof(msg));
}


/*
 * The JSON writer.  Members are written as they come, so a failing command
 * still leaves a document: main() closes what is open and adds "exit" and
 * "error".  "key" is NULL for the elements of an array and for the
 * document itself.
 */

static void
tsr_admin_json_key(tsr_admin_t *adm, const char *key)
{
    tsr_admin_json_t  *j;

    j = &adm->out;

    if (j->depth > 0) {
        if (!j->first[j->depth - 1]) {
            (void) putchar(',');
        }

        j->first[j->depth - 1] = 0;
    }

    if (key != NULL) {
        tsr_admin_json_quote(key, strlen(key));
        (void) putchar(':');
    }
}


void
tsr_admin_json_open(tsr_admin_t *adm, const char *key, int array)
{
    tsr_admin_json_t  *j;

    j = &adm->out;

    tsr_admin_json_key(adm, key);

    if (j->depth == TSR_ADMIN_JSON_DEPTH) {
        /* not reached: the documents are shallow */
        abort();
    }

    (void) putchar(array ? '[' : '{');

    j->first[j->depth] = 1;
    j->close[j->depth] = array ? ']' : '}';
    j->depth++;
}


void
tsr_admin_json_close(tsr_admin_t *adm)
{
    tsr_admin_json_t  *j;

    j = &adm->out;

    if (j->depth > 0) {
        j->depth--;
        (void) putchar(j->close[j->depth]);
    }
}


void
tsr_admin_json_close_all(tsr_admin_t *adm)
{
    while (adm->out.depth > 0) {
        tsr_admin_json_close(adm);
    }
}


void
tsr_admin_json_str(tsr_admin_t *adm, const char *key, const char *s)
{
    if (s == NULL) {
        tsr_admin_json_null(adm, key);
        return;
    }

    tsr_admin_json_strn(adm, key, s, strlen(s));
}


void
tsr_admin_json_strn(tsr_admin_t *adm, const char *key, const char *s,
    size_t len)
{
    tsr_admin_json_key(adm, key);
    tsr_admin_json_quote(s, len);
}


/*
 * A string, escaped: quotes, backslashes and control characters as JSON
 * wants them, valid UTF-8 as it is, and any other byte (text from Redis
 * is untrusted) as U+FFFD, so that the document always parses.
 */

static void
tsr_admin_json_quote(const char *s, size_t len)
{
    size_t          i, n, k;
    uint32_t        cp;
    unsigned char   c;

    (void) putchar('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            (void) putchar('\\');
            (void) putchar(c);
            continue;
        }

        if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                (void) fputs("\\n", stdout);
                break;
            case '\r':
                (void) fputs("\\r", stdout);
                break;
            case '\t':
                (void) fputs("\\t", stdout);
                break;
            default:
                printf("\\u%04x", c);
            }

            continue;
        }

        if (c < 0x80) {
            (void) putchar(c);
            continue;
        }

        /* the length of a UTF-8 sequence, and its code point's range */

        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            cp = c & 0x1f;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            cp = c & 0x0f;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            cp = c & 0x07;

        } else {
            n = 0;
            cp = 0;
        }

        for (k = 1; n != 0 && k < n; k++) {
            if (i + k >= len || ((unsigned char) s[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }

            cp = (cp << 6) | ((unsigned char) s[i + k] & 0x3f);
        }

        if (n == 0 || (n == 3 && cp < 0x800)
            || (cp >= 0xd800 && cp <= 0xdfff) || (n == 4 && cp < 0x10000)
            || cp > 0x10ffff)
        {
            (void) fputs("\\ufffd", stdout);
            continue;
        }

        (void) fwrite(s + i, 1, n, stdout);
        i += n - 1;
    }

    (void) putchar('"');
}


void
tsr_admin_json_int(tsr_admin_t *adm, const char *key, long long n)
{
    tsr_admin_json_key(adm, key);
    printf("%lld", n);
}


void
tsr_admin_json_uint(tsr_admin_t *adm, const char *key, unsigned long long n)
{
    tsr_admin_json_key(adm, key);
    printf("%llu", n);
}


void
tsr_admin_json_bool(tsr_admin_t *adm, const char *key, int b)
{
    tsr_admin_json_key(adm, key);
    (void) fputs(b ? "true" : "false", stdout);
}


void
tsr_admin_json_null(tsr_admin_t *adm, const char *key)
{
    tsr_admin_json_key(adm, key);
    (void) fputs("null", stdout);
}


/*
 * A time as in nginx: "500ms", "30s", "5m", "12h", "1d", or sums such as
 * "1h30m"; a bare number is milliseconds, or seconds with "bare_sec" (as
 * ssl_session_timeout).  Returns 0, or -1.
 */

int
tsr_admin_parse_time(const char *s, int bare_sec, uint64_t *ms)
{
    uint64_t     total, n, unit;
    const char  *p;

    if (*s == '\0') {
        return -1;
    }

    total = 0;
    p = s;

    while (*p != '\0') {
        if (!isdigit((unsigned char) *p)) {
            return -1;
        }

        n = 0;

        while (isdigit((unsigned char) *p)) {
            n = n * 10 + (uint64_t) (*p++ - '0');

            if (n > 1000000000000ULL) {
                return -1;
            }
        }

        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;

        } else if (*p == '\0' && p != s && total == 0) {
            unit = bare_sec ? 1000 : 1;

        } else {
            switch (*p++) {
            case 's':
                unit = 1000;
                break;
            case 'm':
                unit = 60 * 1000;
                break;
            case 'h':
                unit = 60 * 60 * 1000;
                break;
            case 'd':
                unit = 24 * 60 * 60 * 1000;
                break;
            default:
                return -1;
            }
        }

        total += n * unit;

        if (total > 1000000000000000ULL) {
            return -1;
        }
    }

    *ms = total;

    return 0;
}


/* "min" to "max" hex digits, lowercased into out; 0, or -1 */

int
tsr_admin_parse_hex(const char *s, size_t min, size_t max, char *out,
    size_t outlen)
{
    size_t  i, len;

    len = strlen(s);

    if (len < min || len > max || len >= outlen || !tsr_admin_is_hex(s, len))
    {
        return -1;
    }

    for (i = 0; i < len; i++) {
        out[i] = (char) tolower((unsigned char) s[i]);
    }

    out[len] = '\0';

    return 0;
}


int
tsr_admin_is_hex(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!isxdigit((unsigned char) p[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * The value of a "name:value" line of an INFO reply, printable: it comes
 * from the server.  Returns 0, or -1.
 */

int
tsr_admin_info_field(const char *info, const char *name, char *out,
    size_t outlen)
{
    size_t       i, nlen, vlen;
    const char  *p, *v;

    nlen = strlen(name);

    for (p = info; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n') {
            p++;
        }

        if (strncmp(p, name, nlen) != 0 || p[nlen] != ':') {
            continue;
        }

        v = p + nlen + 1;
        vlen = strcspn(v, "\r\n");

        if (vlen >= outlen) {
            vlen = outlen - 1;
        }

        for (i = 0; i < vlen; i++) {
            out[i] = (v[i] >= ' ' && v[i] < 0x7f) ? v[i] : '?';
        }

        out[vlen] = '\0';

        return 0;
    }

    return -1;
}


/*
 * Text from Redis made printable: bytes outside printable ASCII and the
 * backslash become \xNN; truncated with "..." to fit.  Returns "out".
 */

const char *
tsr_admin_safe(const char *p, size_t len, char *out, size_t outlen)
{
    size_t          i, n;
    unsigned char   c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];

        if (n + 8 >= outlen) {
            (void) strcpy(out + n, "...");
            return out;
        }

        if (c >= ' ' && c < 0x7f && c != '\\') {
            out[n++] = (char) c;

        } else {
            n += (size_t) snprintf(out + n, outlen - n, "\\x%02x", c);
        }
    }

    out[n] = '\0';

    return out;
}


/* the public key id of a sealed value: version(1) | key id(4) | ... */

void
tsr_admin_key_id(const uint8_t *val, size_t len, char *out)
{
    if (len < 5) {
        (void) strcpy(out, "?");
        return;
    }

    (void) snprintf(out, 9, "%02x%02x%02x%02x", val[1], val[2], val[3],
                    val[4]);
}


void
tsr_admin_fmt_time(uint64_t ms, char *buf, size_t len)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);

    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        (void) snprintf(buf, len, "?");
    }
}


/* "850ms", "4.2s", "59s", "4m59s", "2h3m", "1d2h" */

void
tsr_admin_fmt_duration(uint64_t ms, char *buf, size_t len)
{
    uint64_t  s;

    s = ms / 1000;

    if (ms < 1000) {
        (void) snprintf(buf, len, "%llums", (unsigned long long) ms);

    } else if (s < 10 && ms % 1000 >= 100) {
        (void) snprintf(buf, len, "%llu.%llus", (unsigned long long) s,
                        (unsigned long long) (ms % 1000 / 100));

    } else if (s < 60) {
        (void) snprintf(buf, len, "%llus", (unsigned long long) s);

    } else if (s < 3600) {
        (void) snprintf(buf, len, s % 60 ? "%llum%llus" : "%llum",
                        (unsigned long long) (s / 60),
                        (unsigned long long) (s % 60));

    } else if (s < 86400) {
        (void) snprintf(buf, len, s % 3600 / 60 ? "%lluh%llum" : "%lluh",
                        (unsigned long long) (s / 3600),
                        (unsigned long long) (s % 3600 / 60));

    } else {
        (void) snprintf(buf, len, s % 86400 / 3600 ? "%llud%lluh" : "%llud",
                        (unsigned long long) (s / 86400),
                        (unsigned long long) (s % 86400 / 3600));
    }
}


/* "5m ago", "in 4h" */

void
tsr_admin_fmt_ago(uint64_t then_ms, uint64_t now_ms, char *buf, size_t len)
{
    char  d[TSR_ADMIN_TIME_LEN - 8];

    if (then_ms <= now_ms) {
        tsr_admin_fmt_duration(now_ms - then_ms, d, sizeof(d));
        (void) snprintf(buf, len, "%s ago", d);

    } else {
        tsr_admin_fmt_duration(then_ms - now_ms, d, sizeof(d));
        (void) snprintf(buf, len, "in %s", d);
    }
}
