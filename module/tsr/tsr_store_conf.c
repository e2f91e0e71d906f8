
/*
 * Redis addresses.  tsr_store_conf_parse() fills a tsr_store_conf_t from
 * an address ("host:port", "unix:/path", redis://, rediss:// and unix://
 * URIs, "cluster=" and "sentinel=" lists) and its parameters (password
 * files, users, "db", "master", "allow=" networks, "tls_*");
 * tsr_store_conf_resolve() replaces its host names with addresses at
 * configuration time.  Also the name resolution a store does itself
 * (tsr_server_resolve(), blocking, once) and the "allow=" check of the
 * nodes Redis names to a router (tsr_router_allowed()).
 */


#include "tsr_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/crypto.h>


/* parameters seen while parsing an address */
#define TSR_STORE_PASSWORD_FILE  0x01
#define TSR_STORE_USER           0x02
#define TSR_STORE_DB             0x04
#define TSR_STORE_MASTER         0x08
#define TSR_STORE_SENTINEL_PASSWORD_FILE  0x10
#define TSR_STORE_SENTINEL_USER  0x20
#define TSR_STORE_ALLOW          0x40
#define TSR_STORE_TLS            0x80
#define TSR_STORE_TLS_CA_FILE    0x100
#define TSR_STORE_TLS_VERIFY     0x200
#define TSR_STORE_TLS_NAME       0x400
#define TSR_STORE_TLS_CERT_FILE  0x800
#define TSR_STORE_TLS_KEY_FILE   0x1000
#define TSR_STORE_TLS_ANY        0x1f00


static char *tsr_store_conf_copy(char *buf, size_t buflen, size_t *used,
    const char *s, size_t len);
static void tsr_store_conf_reset(tsr_store_conf_t *conf);
static int tsr_store_is_numeric(const char *host);
static int tsr_store_parse_uri(tsr_store_conf_t *conf, const char *uri,
    size_t len, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static char *tsr_store_uri_part(char *buf, size_t buflen, size_t *used,
    const char *s, size_t len);
static int tsr_store_parse_db(const char *s, size_t len);
static int tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr,
    size_t len, char *buf, size_t buflen, size_t *used, char *err,
    size_t errlen);
static int tsr_store_parse_port(const char *s, size_t len);
static int tsr_store_parse_param(tsr_store_conf_t *conf, const char *param,
    size_t len, char *buf, size_t buflen, size_t *used, unsigned *seen,
    char *err, size_t errlen);
static int tsr_store_read_password(const char *name, size_t namelen,
    char *buf, size_t buflen, size_t *used, const char **out, char *err,
    size_t errlen);
static int tsr_store_resolve_host(const char *host, char *ip, size_t iplen,
    char *err, size_t errlen);
static int tsr_store_conf_append(char *buf, size_t buflen, size_t *used,
    const char *sep, const char *ip, int port, char *err, size_t errlen);


/*
 * Fills the address fields of "conf" (host, port, unix_path, user,
 * password, db, cluster, sentinels and their parameters) and leaves the
 * rest alone, so timeouts and the log callback may be set before or
 * after.
 */

int
tsr_store_conf_parse(tsr_store_conf_t *conf, const char *address, char *buf,
    size_t buflen, char *err, size_t errlen)
{
    int          first;
    size_t       used, len;
    unsigned     seen;
    const char  *p, *tok;

    if (conf == NULL || address == NULL || buf == NULL || buflen == 0) {
        tsr_errf(err, errlen, "invalid arguments");
        return TSR_EINVAL;
    }

    tsr_store_conf_reset(conf);

    used = 0;
    seen = 0;
    first = 1;
    p = address;

    for ( ;; ) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }

        if (*p == '\0') {
            break;
        }

        tok = p;

        while (*p != '\0' && *p != ' ' && *p != '\t') {
            p++;
        }

        len = p - tok;

        if (first) {
            if (tsr_store_parse_addr(conf, tok, len, buf, buflen, &used, err,
                                     errlen)
                != TSR_OK)
            {
                goto failed;
            }

            first = 0;
            continue;
        }

        if (tsr_store_parse_param(conf, tok, len, buf, buflen, &used, &seen,
                                  err, errlen)
            != TSR_OK)
        {
            goto failed;
        }
    }

    if (first) {
        tsr_errf(err, errlen, "the address is empty");
        goto failed;
    }

    if (conf->user != NULL && conf->password == NULL) {
        tsr_errf(err, errlen,
                 "redis parameter \"user\" needs \"password_file\"");
        goto failed;
    }

    if (conf->sentinel_user != NULL && conf->sentinel_password == NULL) {
        tsr_errf(err, errlen, "redis parameter \"sentinel_user\" needs "
                 "\"sentinel_password_file\"");
        goto failed;
    }

    if (conf->sentinels != NULL && conf->master_name == NULL) {
        tsr_errf(err, errlen, "a \"sentinel=\" address needs the "
                 "redis parameter \"master\"");
        goto failed;
    }

    if (conf->sentinels == NULL
        && (seen & (TSR_STORE_MASTER | TSR_STORE_SENTINEL_PASSWORD_FILE
                    | TSR_STORE_SENTINEL_USER)))
    {
        tsr_errf(err, errlen, "redis parameter \"%s\" needs a "
                 "\"sentinel=\" address",
                 (seen & TSR_STORE_MASTER) ? "master"
                 : (seen & TSR_STORE_SENTINEL_USER)
                         ? "sentinel_user" : "sentinel_password_file");
        goto failed;
    }

    if (conf->cluster != NULL && conf->db != 0) {
        tsr_errf(err, errlen, "a redis cluster has no databases: "
                 "redis parameter \"db\" must be 0");
        goto failed;
    }

    if (!conf->tls && (seen & TSR_STORE_TLS_ANY)) {
        tsr_errf(err, errlen, "redis parameters \"tls_*\" need "
                 "\"tls\" or a \"rediss://\" address");
        goto failed;
    }

    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        tsr_errf(err, errlen, "redis parameters \"tls_cert_file\" "
                 "and \"tls_key_file\" go together");
        goto failed;
    }

    /* the name as written is the name verified */

    if (conf->tls && conf->tls_server_name == NULL && conf->host != NULL
        && !tsr_store_is_numeric(conf->host))
    {
        conf->tls_server_name = conf->host;
    }

    return TSR_OK;

failed:

    /* a password may already be in "buf" */
    OPENSSL_cleanse(buf, buflen);

    tsr_store_conf_reset(conf);

    return TSR_EINVAL;
}


static void
tsr_store_conf_reset(tsr_store_conf_t *conf)
{
    conf->host = NULL;
    conf->port = 0;
    conf->unix_path = NULL;
    conf->user = NULL;
    conf->password = NULL;
    conf->db = 0;
    conf->cluster = NULL;
    conf->sentinels = NULL;
    conf->master_name = NULL;
    conf->sentinel_user = NULL;
    conf->sentinel_password = NULL;
    conf->allow = NULL;
    conf->tls = 0;
    conf->tls_no_verify = 0;
    conf->tls_ca_file = NULL;
    conf->tls_server_name = NULL;
    conf->tls_cert_file = NULL;
    conf->tls_key_file = NULL;
}


static int
tsr_store_is_numeric(const char *host)
{
    unsigned char  a[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, a) == 1
           || inet_pton(AF_INET6, host, a) == 1;
}


static int
tsr_store_parse_addr(tsr_store_conf_t *conf, const char *addr, size_t len,
    char *buf, size_t buflen, size_t *used, char *err, size_t errlen)
{
    int          port;
    size_t       hlen;
    const char  *host, *list, **dst;

    if (len >= sizeof("redis://") - 1
        && (memcmp(addr, "redis://", sizeof("redis://") - 1) == 0
            || memcmp(addr, "rediss://", sizeof("rediss://") - 1) == 0
            || memcmp(addr, "unix://", sizeof("unix://") - 1) == 0))
    {
        return tsr_store_parse_uri(conf, addr, len, buf, buflen, used, err,
                                   errlen);
    }

    if (len >= sizeof("unix:") - 1
        && memcmp(addr, "unix:", sizeof("unix:") - 1) == 0)
    {
        host = addr + sizeof("unix:") - 1;
        hlen = len - (sizeof("unix:") - 1);

        if (hlen == 0) {
            tsr_errf(err, errlen, "no path in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        if (hlen >= TSR_STORE_SUN_PATH) {
            tsr_errf(err, errlen,
                     "unix socket path too long in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        conf->unix_path = tsr_store_conf_copy(buf, buflen, used, host, hlen);
        if (conf->unix_path == NULL) {
            tsr_errf(err, errlen, "no room for \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        return TSR_OK;
    }

    dst = NULL;
    list = NULL;

    if (len >= sizeof("cluster=") - 1
        && memcmp(addr, "cluster=", sizeof("cluster=") - 1) == 0)
    {
        dst = &conf->cluster;
        list = addr + sizeof("cluster=") - 1;

    } else if (len >= sizeof("sentinel=") - 1
               && memcmp(addr, "sentinel=", sizeof("sentinel=") - 1) == 0)
    {
        dst = &conf->sentinels;
        list = addr + sizeof("sentinel=") - 1;
    }

    if (dst != NULL) {
        hlen = addr + len - list;

        if (tsr_store_parse_list(list, hlen, NULL, NULL, 0, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        *dst = tsr_store_conf_copy(buf, buflen, used, list, hlen);
        if (*dst == NULL) {
            tsr_errf(err, errlen, "no room for \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        return TSR_OK;
    }

    if (tsr_store_parse_host(addr, len, &host, &hlen, &port, err, errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    conf->host = tsr_store_conf_copy(buf, buflen, used, host, hlen);
    if (conf->host == NULL) {
        tsr_errf(err, errlen, "no room for \"%.*s\"",
                 (int) len, addr);
        return TSR_EINVAL;
    }

    conf->port = port ? port : TSR_STORE_DEFAULT_PORT;

    return TSR_OK;
}


/*
 * The URIs providers print: redis://[user[:password]@]host[:port][/db],
 * rediss://... for TLS, and unix:///path[?db=N].  User and password may
 * be percent-encoded.  Messages never quote the user information: it may
 * hold the password.
 */

static int
tsr_store_parse_uri(tsr_store_conf_t *conf, const char *uri, size_t len,
    char *buf, size_t buflen, size_t *used, char *err, size_t errlen)
{
    int          port, db;
    size_t       hlen, n;
    const char  *p, *end, *at, *slash, *colon, *host, *scheme;

    end = uri + len;
    db = 0;

    if (memcmp(uri, "unix://", sizeof("unix://") - 1) == 0) {
        scheme = "unix://";
        p = uri + sizeof("unix://") - 1;

        slash = memchr(p, '?', end - p);
        n = (slash != NULL) ? (size_t) (slash - p) : (size_t) (end - p);

        if (n == 0 || *p != '/') {
            tsr_errf(err, errlen, "no absolute path in \"%.*s\"",
                     (int) len, uri);
            return TSR_EINVAL;
        }

        if (n >= TSR_STORE_SUN_PATH) {
            tsr_errf(err, errlen, "unix socket path too long in redis "
                     "address \"%.*s\"", (int) len, uri);
            return TSR_EINVAL;
        }

        if (slash != NULL) {
            if (end - slash < 5 || memcmp(slash, "?db=", 4) != 0
                || (db = tsr_store_parse_db(slash + 4, end - slash - 4))
                   < 0)
            {
                tsr_errf(err, errlen, "invalid query in \"%.*s\": only "
                         "\"?db=N\" is known",
                         (int) len, uri);
                return TSR_EINVAL;
            }
        }

        conf->unix_path = tsr_store_conf_copy(buf, buflen, used, p, n);
        if (conf->unix_path == NULL) {
            goto noroom;
        }

        conf->db = db;

        return TSR_OK;
    }

    if (memcmp(uri, "rediss://", sizeof("rediss://") - 1) == 0) {
        scheme = "rediss://";
        conf->tls = 1;

    } else {
        scheme = "redis://";
    }

    p = uri + strlen(scheme);

    for (at = p; at + 3 <= end; at++) {
        if (memcmp(at, "://", 3) == 0) {
            tsr_errf(err, errlen, "a scheme after \"%s\": write it "
                     "once", scheme);
            return TSR_EINVAL;
        }
    }

    /* the authority ends at the path */

    slash = memchr(p, '/', end - p);
    if (slash == NULL) {
        slash = end;
    }

    at = NULL;

    for (host = p; host < slash; host++) {
        if (*host == '@') {
            at = host;
        }
    }

    host = p;

    if (at != NULL) {
        colon = memchr(p, ':', at - p);
        n = (colon != NULL) ? (size_t) (colon - p) : (size_t) (at - p);

        if (n > 0) {
            conf->user = tsr_store_uri_part(buf, buflen, used, p, n);
            if (conf->user == NULL) {
                tsr_errf(err, errlen, "invalid user in a %s redis "
                         "address", scheme);
                return TSR_EINVAL;
            }
        }

        if (colon != NULL && at - colon > 1) {
            conf->password = tsr_store_uri_part(buf, buflen, used, colon + 1,
                                                at - colon - 1);
            if (conf->password == NULL) {
                tsr_errf(err, errlen, "invalid password in a %s redis "
                         "address", scheme);
                return TSR_EINVAL;
            }
        }

        host = at + 1;
    }

    if (slash < end && end - slash > 1) {
        db = tsr_store_parse_db(slash + 1, end - slash - 1);

        if (db < 0) {
            tsr_errf(err, errlen, "invalid database \"%.*s\" in a %s "
                     "URI: a number from 0 is expected",
                     (int) (end - slash - 1), slash + 1, scheme);
            return TSR_EINVAL;
        }
    }

    if (tsr_store_parse_host(host, slash - host, &host, &hlen, &port, err,
                             errlen)
        != TSR_OK)
    {
        return TSR_EINVAL;
    }

    conf->host = tsr_store_conf_copy(buf, buflen, used, host, hlen);
    if (conf->host == NULL) {
        goto noroom;
    }

    conf->port = port ? port : TSR_STORE_DEFAULT_PORT;
    conf->db = db;

    return TSR_OK;

noroom:

    tsr_errf(err, errlen, "no room for a %s URI",
             scheme);

    return TSR_EINVAL;
}


/* a user or password of a URI, percent-decoded; NULL when malformed */

static char *
tsr_store_uri_part(char *buf, size_t buflen, size_t *used, const char *s,
    size_t len)
{
    int     hi, lo;
    char   *out, *q;
    size_t  i;

    out = tsr_store_conf_copy(buf, buflen, used, s, len);
    if (out == NULL) {
        return NULL;
    }

    q = out;

    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            *q++ = s[i];
            continue;
        }

        if (i + 2 >= len) {
            return NULL;
        }

        hi = OPENSSL_hexchar2int((unsigned char) s[i + 1]);
        lo = OPENSSL_hexchar2int((unsigned char) s[i + 2]);

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            return NULL;
        }

        *q++ = (char) (hi * 16 + lo);
        i += 2;
    }

    /* what decoding freed stays zeroed */
    memset(q, 0, (size_t) (out + len - q) + 1);

    return out;
}


/* 0..2^31-1 in decimal, or -1 */

static int
tsr_store_parse_db(const char *s, size_t len)
{
    size_t     i;
    long long  db;

    if (len == 0 || len > 10) {
        return -1;
    }

    db = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        db = db * 10 + (s[i] - '0');
    }

    return (db > 0x7fffffff) ? -1 : (int) db;
}


/*
 * Checks a list of nodes, "host:port" separated by commas, and with
 * "hosts" fills up to "n" entries of hosts (copied, the caller frees
 * them) and ports ("dflt" when none is written).  Returns TSR_OK, with
 * the count in *n, or TSR_EINVAL with a message.
 */

int
tsr_store_parse_list(const char *list, size_t len, char **hosts, int *ports,
    size_t n, char *err, size_t errlen)
{
    int          port;
    size_t       count, hlen, elen;
    const char  *p, *end, *comma, *host;

    end = list + len;
    p = list;
    count = 0;

    if (len == 0) {
        tsr_errf(err, errlen, "no nodes");
        return TSR_EINVAL;
    }

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        elen = (comma != NULL) ? (size_t) (comma - p) : (size_t) (end - p);

        if (elen == 0) {
            tsr_errf(err, errlen, "empty node in \"%.*s\"",
                     (int) len, list);
            return TSR_EINVAL;
        }

        if (count == TSR_STORE_MAX_LIST) {
            tsr_errf(err, errlen, "more than %d nodes in redis "
                     "address", TSR_STORE_MAX_LIST);
            return TSR_EINVAL;
        }

        if (tsr_store_parse_host(p, elen, &host, &hlen, &port, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        if (hosts != NULL && count < n) {
            hosts[count] = OPENSSL_strndup(host, hlen);
            if (hosts[count] == NULL) {
                tsr_errf(err, errlen, "out of memory");
                return TSR_ENOMEM;
            }

            ports[count] = port;
        }

        count++;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    return TSR_OK;
}


/*
 * "host:port", "host", "[v6addr]:port", "[v6addr]": *host points into
 * "addr"; *port is 0 when none is written.
 */

int
tsr_store_parse_host(const char *addr, size_t len, const char **host,
    size_t *hlen, int *port, char *err, size_t errlen)
{
    size_t       i;
    const char  *h, *rest, *end, *colon;

    end = addr + len;

    if (len > 0 && addr[0] == '[') {
        h = addr + 1;
        rest = memchr(h, ']', end - h);

        if (rest == NULL || rest == h || memchr(h, ':', rest - h) == NULL) {
            tsr_errf(err, errlen, "invalid IPv6 address in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }

        *hlen = rest - h;
        rest++;

        if (rest == end) {
            *port = 0;

        } else if (*rest == ':') {
            *port = tsr_store_parse_port(rest + 1, end - rest - 1);

        } else {
            *port = -1;
        }

    } else {
        h = addr;
        colon = memchr(addr, ':', len);

        if (colon == NULL) {
            *hlen = len;
            *port = 0;

        } else if (memchr(colon + 1, ':', end - colon - 1) != NULL) {
            tsr_errf(err, errlen, "an IPv6 address needs brackets, as "
                     "in \"[::1]:6379\"");
            return TSR_EINVAL;

        } else {
            *hlen = colon - addr;
            *port = tsr_store_parse_port(colon + 1, end - colon - 1);
        }

        if (*hlen == 0) {
            tsr_errf(err, errlen, "no host in \"%.*s\"",
                     (int) len, addr);
            return TSR_EINVAL;
        }
    }

    if (*port == -1) {
        tsr_errf(err, errlen, "invalid port in \"%.*s\": a number from "
                 "1 to 65535 is expected", (int) len, addr);
        return TSR_EINVAL;
    }

    for (i = 0; i < *hlen; i++) {
        if ((h[i] >= 'a' && h[i] <= 'z')
            || (h[i] >= 'A' && h[i] <= 'Z')
            || (h[i] >= '0' && h[i] <= '9')
            || strchr(".-_:%", h[i]) != NULL)
        {
            continue;
        }

        tsr_errf(err, errlen, "invalid host in \"%.*s\"",
                 (int) len, addr);
        return TSR_EINVAL;
    }

    *host = h;

    return TSR_OK;
}


/* 1..65535, or -1 */

static int
tsr_store_parse_port(const char *s, size_t len)
{
    int     port;
    size_t  i;

    if (len == 0 || len > 5) {
        return -1;
    }

    port = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        port = port * 10 + (s[i] - '0');
    }

    if (port < 1 || port > 65535) {
        return -1;
    }

    return port;
}


static int
tsr_store_parse_param(tsr_store_conf_t *conf, const char *param, size_t len,
    char *buf, size_t buflen, size_t *used, unsigned *seen, char *err,
    size_t errlen)
{
    size_t        i, nlen, vlen;
    unsigned      bit;
    long long     db;
    const char   *value, *msg, **dst;

    static const struct {
        const char  *name;
        unsigned     bit;
    } params[] = {
        { "password_file", TSR_STORE_PASSWORD_FILE },
        { "user", TSR_STORE_USER },
        { "db", TSR_STORE_DB },
        { "master", TSR_STORE_MASTER },
        { "sentinel_password_file", TSR_STORE_SENTINEL_PASSWORD_FILE },
        { "sentinel_user", TSR_STORE_SENTINEL_USER },
        { "allow", TSR_STORE_ALLOW },
        { "tls_ca_file", TSR_STORE_TLS_CA_FILE },
        { "tls_verify", TSR_STORE_TLS_VERIFY },
        { "tls_server_name", TSR_STORE_TLS_NAME },
        { "tls_cert_file", TSR_STORE_TLS_CERT_FILE },
        { "tls_key_file", TSR_STORE_TLS_KEY_FILE }
    };

    value = memchr(param, '=', len);

    if (len == 3 && memcmp(param, "tls", 3) == 0) {
        if (*seen & TSR_STORE_TLS) {
            msg = "duplicate";
            nlen = len;
            goto failed;
        }

        *seen |= TSR_STORE_TLS;
        conf->tls = 1;

        return TSR_OK;
    }

    /*
     * Messages quote the name only, up to "=": someone may try
     * "password=..." and the error log is no place for it.
     */
    nlen = (value != NULL) ? (size_t) (value - param) : len;
    msg = "unknown";

    if (value == NULL) {
        goto failed;
    }

    value++;
    vlen = len - nlen - 1;
    bit = 0;

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (nlen == strlen(params[i].name)
            && memcmp(param, params[i].name, nlen) == 0)
        {
            bit = params[i].bit;
            break;
        }
    }

    if (bit == 0) {
        goto failed;
    }

    if ((*seen & bit)
        || (bit == TSR_STORE_PASSWORD_FILE && conf->password != NULL)
        || (bit == TSR_STORE_USER && conf->user != NULL))
    {
        /* given twice, or in the address already */
        msg = "duplicate";
        goto failed;
    }

    *seen |= bit;

    if (vlen == 0) {
        msg = "empty";
        goto failed;
    }

    switch (bit) {

    case TSR_STORE_TLS_VERIFY:
        if (vlen == 2 && memcmp(value, "on", 2) == 0) {
            conf->tls_no_verify = 0;

        } else if (vlen == 3 && memcmp(value, "off", 3) == 0) {
            conf->tls_no_verify = 1;

        } else {
            msg = "invalid";
            nlen = len;
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_TLS_CA_FILE:
    case TSR_STORE_TLS_NAME:
    case TSR_STORE_TLS_CERT_FILE:
    case TSR_STORE_TLS_KEY_FILE:
        dst = (bit == TSR_STORE_TLS_CA_FILE) ? &conf->tls_ca_file
              : (bit == TSR_STORE_TLS_NAME) ? &conf->tls_server_name
              : (bit == TSR_STORE_TLS_CERT_FILE) ? &conf->tls_cert_file
              : &conf->tls_key_file;

        *dst = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (*dst == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_PASSWORD_FILE:
        return tsr_store_read_password(value, vlen, buf, buflen, used,
                                       &conf->password, err, errlen);

    case TSR_STORE_ALLOW:
        if (tsr_store_parse_nets(value, vlen, NULL, NULL, err, errlen)
            != TSR_OK)
        {
            return TSR_EINVAL;
        }

        conf->allow = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (conf->allow == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    case TSR_STORE_SENTINEL_PASSWORD_FILE:
        return tsr_store_read_password(value, vlen, buf, buflen, used,
                                       &conf->sentinel_password, err, errlen);

    case TSR_STORE_USER:
    case TSR_STORE_SENTINEL_USER:
    case TSR_STORE_MASTER:
        if (bit == TSR_STORE_MASTER) {
            dst = &conf->master_name;

            if (vlen > TSR_STORE_MAX_NAME) {
                msg = "too long";
                goto failed;
            }

            for (i = 0; i < vlen; i++) {
                if (value[i] < 0x21 || value[i] > 0x7e) {
                    msg = "invalid";
                    nlen = len;
                    goto failed;
                }
            }

        } else {
            dst = (bit == TSR_STORE_USER) ? &conf->user : &conf->sentinel_user;
        }

        *dst = tsr_store_conf_copy(buf, buflen, used, value, vlen);
        if (*dst == NULL) {
            msg = "no room for";
            goto failed;
        }

        return TSR_OK;

    default: /* TSR_STORE_DB */
        msg = "invalid";
        nlen = len;
        db = 0;

        for (i = 0; i < vlen; i++) {
            if (value[i] < '0' || value[i] > '9') {
                goto failed;
            }

            db = db * 10 + (value[i] - '0');

            if (db > INT_MAX) {
                goto failed;
            }
        }

        conf->db = (int) db;

        return TSR_OK;
    }

failed:

    tsr_errf(err, errlen, "%s redis parameter \"%.*s\"", msg, (int) nlen,
             param);

    return TSR_EINVAL;
}


/*
 * Reads a password into "buf", without one trailing newline (an editor
 * adds it; "\r\n" counts as one), and points *out at it.
 */

static int
tsr_store_read_password(const char *name, size_t namelen, char *buf,
    size_t buflen, size_t *used, const char **out, char *err, size_t errlen)
{
    int          fd;
    char        *pw, path[PATH_MAX];
    size_t       room, n;
    ssize_t      r;
    struct stat  st;

    fd = -1;
    n = 0;
    pw = buf + *used;
    room = buflen - *used;

    if (namelen >= sizeof(path)) {
        tsr_errf(err, errlen, "password file name too long");
        return TSR_EINVAL;
    }

    memcpy(path, name, namelen);
    path[namelen] = '\0';

    /* a FIFO or a device would block, or never end: regular files only */

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd == -1) {
        tsr_errf(err, errlen, "cannot open password file \"%s\": %s",
                 path, strerror(errno));
        goto failed;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        tsr_errf(err, errlen, "password file \"%s\" is not a regular "
                 "file", path);
        goto failed;
    }

    for ( ;; ) {
        if (n == room) {
            tsr_errf(err, errlen, "password file \"%s\" is too long",
                     path);
            goto failed;
        }

        r = read(fd, pw + n, room - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            tsr_errf(err, errlen, "cannot read password file \"%s\": %s",
                     path, strerror(errno));
            goto failed;
        }

        if (r == 0) {
            break;
        }

        n += r;
    }

    (void) close(fd);
    fd = -1;

    if (n > 0 && pw[n - 1] == '\n') {
        n--;

        if (n > 0 && pw[n - 1] == '\r') {
            n--;
        }
    }

    if (n == 0) {
        tsr_errf(err, errlen, "password file \"%s\" is empty", path);
        goto failed;
    }

    if (memchr(pw, '\0', n) != NULL) {
        tsr_errf(err, errlen, "password file \"%s\" holds a NUL byte",
                 path);
        goto failed;
    }

    /* n < room: the loop stopped at end of file with room left */
    pw[n] = '\0';
    *used += n + 1;
    *out = pw;

    return TSR_OK;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    OPENSSL_cleanse(pw, n);

    return TSR_EINVAL;
}


static char *
tsr_store_conf_copy(char *buf, size_t buflen, size_t *used, const char *s,
    size_t len)
{
    char  *p;

    if (buflen - *used < len + 1) {
        return NULL;
    }

    p = buf + *used;
    memcpy(p, s, len);
    p[len] = '\0';
    *used += len + 1;

    return p;
}


/*
 * The one blocking step of the asynchronous side, taken once at start-up:
 * hiredis would call getaddrinfo() on every connect.
 */

int
tsr_server_resolve(tsr_server_t *srv)
{
    return tsr_server_resolve_name(srv, srv->host, srv->ip, sizeof(srv->ip));
}


/*
 * "host" as a numeric address in ip[iplen]: IPv4 first, as hiredis' own
 * connect does; a numeric address is kept as written (an IPv6 scope
 * survives).  Messages go to "st".
 */

int
tsr_server_resolve_name(tsr_server_t *srv, const char *host, char *ip,
    size_t iplen)
{
    int                    rc;
    size_t                 i;
    const void            *addr;
    struct addrinfo        hints, *res;

    static const int       families[] = { AF_INET, AF_INET6 };

    if (tsr_store_numeric(host) && strlen(host) < iplen) {
        memcpy(ip, host, strlen(host) + 1);
        return TSR_OK;
    }

    res = NULL;
    rc = EAI_NONAME;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = families[i];
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc == 0) {
            break;
        }
    }

    if (rc != 0) {
        tsr_server_set_error(srv, "getaddrinfo() for redis at %s failed: %s",
                             host, gai_strerror(rc));
        return TSR_ECONN;
    }

    if (res->ai_family == AF_INET) {
        addr = &((struct sockaddr_in *) res->ai_addr)->sin_addr;

    } else {
        addr = &((struct sockaddr_in6 *) res->ai_addr)->sin6_addr;
    }

    if (inet_ntop(res->ai_family, addr, ip, iplen) == NULL) {
        tsr_server_set_error(srv, "inet_ntop() for redis at %s failed: %s",
                             host, strerror(errno));
        freeaddrinfo(res);
        ip[0] = '\0';
        return TSR_ECONN;
    }

    freeaddrinfo(res);

    tsr_server_log(srv, TSR_LOG_INFO, "redis at %s resolved to %s", host, ip);

    return TSR_OK;
}


/*
 * Configuration time: every host name of "conf" (the address, the seed
 * nodes of a cluster, the sentinels) replaced by the numeric address it
 * resolves to now, written into "buf".  Blocking, as nginx's own
 * resolution of upstream names at configuration time; afterwards no
 * connect, reconnect or failover of a store made from "conf" waits on a
 * resolver.
 */

int
tsr_store_conf_resolve(tsr_store_conf_t *conf, char *buf, size_t buflen,
    char *err, size_t errlen)
{
    int          rc;
    char        *hosts[TSR_STORE_MAX_LIST];
    int          ports[TSR_STORE_MAX_LIST];
    char         ip[TSR_STORE_IP_LEN];
    size_t       i, n, used;
    const char  *list, **field;

    used = 0;
    rc = TSR_OK;

    if (conf->unix_path != NULL) {
        return TSR_OK;
    }

    if (conf->cluster != NULL || conf->sentinels != NULL) {
        field = (conf->cluster != NULL) ? &conf->cluster : &conf->sentinels;
        list = *field;

        memset(hosts, 0, sizeof(hosts));

        rc = tsr_store_parse_list(list, strlen(list), hosts, ports,
                                  TSR_STORE_MAX_LIST, err, errlen);

        for (n = 0; rc == TSR_OK && n < TSR_STORE_MAX_LIST && hosts[n];
             n++)
        {
            rc = tsr_store_resolve_host(hosts[n], ip, sizeof(ip), err,
                                        errlen);

            if (rc == TSR_OK) {
                rc = tsr_store_conf_append(buf, buflen, &used, n ? "," : "",
                                           ip, ports[n], err, errlen);
            }
        }

        for (i = 0; i < TSR_STORE_MAX_LIST; i++) {
            OPENSSL_free(hosts[i]);
        }

        if (rc == TSR_OK) {
            *field = buf;
        }

        return rc;
    }

    if (conf->host == NULL) {
        return TSR_OK;
    }

    rc = tsr_store_resolve_host(conf->host, ip, sizeof(ip), err, errlen);
    if (rc != TSR_OK) {
        return rc;
    }

    if (strlen(ip) >= buflen) {
        tsr_errf(err, errlen, "no room for the address of \"%s\"",
                 conf->host);
        return TSR_EINVAL;
    }

    memcpy(buf, ip, strlen(ip) + 1);
    conf->host = buf;

    return TSR_OK;
}


/* "host" as a numeric address: the first IPv4 one, else IPv6 */

static int
tsr_store_resolve_host(const char *host, char *ip, size_t iplen, char *err,
    size_t errlen)
{
    int               rc;
    size_t            i;
    const void       *addr;
    struct addrinfo   hints, *res;

    static const int  families[] = { AF_INET, AF_INET6 };

    if (tsr_store_numeric(host)) {
        if (strlen(host) >= iplen) {
            tsr_errf(err, errlen, "redis host \"%s\" is too long",
                     host);
            return TSR_EINVAL;
        }

        memcpy(ip, host, strlen(host) + 1);
        return TSR_OK;
    }

    res = NULL;
    rc = EAI_NONAME;

    for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = families[i];
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc == 0) {
            break;
        }
    }

    if (rc != 0) {
        tsr_errf(err, errlen, "host not found in redis address \"%s\": "
                 "%s", host, gai_strerror(rc));
        return TSR_ECONN;
    }

    if (res->ai_family == AF_INET) {
        addr = &((struct sockaddr_in *) res->ai_addr)->sin_addr;

    } else {
        addr = &((struct sockaddr_in6 *) res->ai_addr)->sin6_addr;
    }

    if (inet_ntop(res->ai_family, addr, ip, iplen) == NULL) {
        tsr_errf(err, errlen, "inet_ntop() for redis host \"%s\" "
                 "failed: %s", host, strerror(errno));
        freeaddrinfo(res);
        return TSR_ECONN;
    }

    freeaddrinfo(res);

    return TSR_OK;
}


/* appends "<sep>ip:port" ("[ip]:port" for IPv6) to a node list in "buf" */

static int
tsr_store_conf_append(char *buf, size_t buflen, size_t *used,
    const char *sep, const char *ip, int port, char *err, size_t errlen)
{
    int     n, v6;
    char   *p;
    size_t  left;

    /* no port written: the list's own default applies when it is parsed */

    p = buf + *used;
    left = buflen - *used;
    v6 = (strchr(ip, ':') != NULL);

    if (port != 0) {
        n = v6 ? snprintf(p, left, "%s[%s]:%d", sep, ip, port)
               : snprintf(p, left, "%s%s:%d", sep, ip, port);

    } else {
        n = v6 ? snprintf(p, left, "%s[%s]", sep, ip)
               : snprintf(p, left, "%s%s", sep, ip);
    }

    if (n < 0 || (size_t) n >= buflen - *used) {
        tsr_errf(err, errlen, "no room for the resolved addresses");
        return TSR_EINVAL;
    }

    *used += (size_t) n;

    return TSR_OK;
}


/*
 * "allow=": networks "addr[/bits]" separated by commas, IPv4 or IPv6.
 * With "nets" NULL only checks; else *nets is allocated (the caller
 * frees it) with *n entries.
 */

int
tsr_store_parse_nets(const char *list, size_t len, tsr_store_net_t **nets,
    size_t *n, char *err, size_t errlen)
{
    char              addr[TSR_STORE_IP_LEN];
    size_t            count, elen, alen;
    long              bits;
    const char       *p, *end, *comma, *slash;
    tsr_store_net_t   net, *all;

    all = NULL;
    count = 0;
    p = list;
    end = list + len;

    if (nets != NULL) {
        all = OPENSSL_zalloc(TSR_STORE_MAX_LIST * sizeof(tsr_store_net_t));
        if (all == NULL) {
            tsr_errf(err, errlen, "out of memory");
            return TSR_ENOMEM;
        }
    }

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        elen = (comma != NULL) ? (size_t) (comma - p) : (size_t) (end - p);
        slash = memchr(p, '/', elen);
        alen = (slash != NULL) ? (size_t) (slash - p) : elen;

        if (count == TSR_STORE_MAX_LIST || alen == 0 || alen >= sizeof(addr))
        {
            goto invalid;
        }

        memcpy(addr, p, alen);
        addr[alen] = '\0';

        memset(&net, 0, sizeof(tsr_store_net_t));

        if (inet_pton(AF_INET, addr, net.addr) == 1) {
            net.family = AF_INET;
            net.bits = 32;

        } else if (inet_pton(AF_INET6, addr, net.addr) == 1) {
            net.family = AF_INET6;
            net.bits = 128;

        } else {
            goto invalid;
        }

        if (slash != NULL) {
            bits = 0;

            if (slash + 1 == p + elen) {
                goto invalid;
            }

            for (slash++; slash < p + elen; slash++) {
                if (*slash < '0' || *slash > '9' || bits > net.bits) {
                    goto invalid;
                }

                bits = bits * 10 + (*slash - '0');
            }

            if (bits > net.bits) {
                goto invalid;
            }

            net.bits = (int) bits;
        }

        if (all != NULL) {
            all[count] = net;
        }

        count++;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    if (nets != NULL) {
        *nets = all;
        *n = count;
    }

    return TSR_OK;

invalid:

    OPENSSL_free(all);

    tsr_errf(err, errlen, "invalid redis parameter \"allow=%.*s\": "
             "networks as addr[/bits], separated by commas", (int) len,
             list);

    return TSR_EINVAL;
}


int
tsr_router_allowed(tsr_router_t *router, const char *ip)
{
    int                     family, bits;
    size_t                  i, k;
    unsigned char           addr[16];
    const tsr_store_net_t  *net;

    if (router->nallow == 0) {
        return 1;
    }

    if (inet_pton(AF_INET, ip, addr) == 1) {
        family = AF_INET;

    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        family = AF_INET6;

    } else {
        return 0;
    }

    for (i = 0; i < router->nallow; i++) {
        net = &router->allow[i];

        if (net->family != family) {
            continue;
        }

        bits = net->bits;

        for (k = 0; bits >= 8; k++, bits -= 8) {
            if (addr[k] != net->addr[k]) {
                break;
            }
        }

        if (bits >= 8) {
            continue;
        }

        if (bits == 0
            || ((addr[k] ^ net->addr[k]) & (0xff << (8 - bits)) & 0xff) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* whether "host" is a numeric address, which resolves without waiting */

int
tsr_store_numeric(const char *host)
{
    int               rc;
    struct addrinfo   hints, *res;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;

    res = NULL;

    rc = getaddrinfo(host, NULL, &hints, &res);

    if (res != NULL) {
        freeaddrinfo(res);
    }

    return rc == 0;
}
