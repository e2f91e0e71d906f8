
/*
 * Fleet registration, see tsr_fleet.h: the one writer and the one reader
 * of the <prefix>node:<node id> values.
 */


#include "tsr_fleet.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int tsr_fleet_put(char *buf, size_t size, size_t *len,
    const char *p, size_t n, int printable);
static int tsr_fleet_is_hex(const char *p, size_t len);
static int tsr_fleet_number(const char *p, size_t n, long long *out);


int
tsr_fleet_format_head(char *buf, size_t size, size_t *len, const char *host,
    size_t host_len, long long pid, long long time)
{
    int     n;
    size_t  start;
    char    num[64];

    start = *len;

    n = snprintf(num, sizeof(num), "v %d\nhost ", TSR_FLEET_VERSION);

    if (tsr_fleet_put(buf, size, len, num, (size_t) n, 0) != 0
        || tsr_fleet_put(buf, size, len, host, host_len, 1) != 0)
    {
        goto failed;
    }

    n = snprintf(num, sizeof(num), "\npid %lld\ntime %lld\n", pid, time);

    if (tsr_fleet_put(buf, size, len, num, (size_t) n, 0) != 0) {
        goto failed;
    }

    return 0;

failed:

    *len = start;

    return -1;
}


int
tsr_fleet_format_server(char *buf, size_t size, size_t *len,
    const char *name, size_t name_len, const char *fp, const char *listen,
    size_t listen_len)
{
    size_t  start;

    if (name_len > TSR_FLEET_MAX_NAME || fp == NULL
        || strlen(fp) != TSR_FLEET_FP_HEX
        || !tsr_fleet_is_hex(fp, TSR_FLEET_FP_HEX))
    {
        return -1;
    }

    if (name_len == 0) {
        name = "-";
        name_len = 1;
    }

    if (listen == NULL || listen_len == 0) {
        listen = "-";
        listen_len = 1;
    }

    start = *len;

    if (tsr_fleet_put(buf, size, len, "server ", 7, 0) != 0
        || tsr_fleet_put(buf, size, len, name, name_len, 1) != 0
        || tsr_fleet_put(buf, size, len, " ", 1, 0) != 0
        || tsr_fleet_put(buf, size, len, fp, TSR_FLEET_FP_HEX, 0) != 0
        || tsr_fleet_put(buf, size, len, " ", 1, 0) != 0
        || tsr_fleet_put(buf, size, len, listen, listen_len, 1) != 0
        || tsr_fleet_put(buf, size, len, "\n", 1, 0) != 0)
    {
        *len = start;
        return -1;
    }

    return 0;
}


/*
 * A registration value, untrusted: lines it does not know are skipped,
 * malformed "server" lines counted.
 */

int
tsr_fleet_parse(const char *val, size_t len, tsr_fleet_node_t *node,
    tsr_fleet_server_pt handler, void *data)
{
    int                  rc;
    size_t               n, line, nlen, i;
    const char          *p, *last, *eol, *name, *fp, *listen;
    tsr_fleet_server_t   s;

    memset(node, 0, sizeof(tsr_fleet_node_t));
    node->pid = -1;
    node->time = -1;

    if (len > TSR_FLEET_MAX_VALUE) {
        return -1;
    }

    p = val;
    last = val + len;

    for (line = 0; p < last; line++, p = eol + 1) {
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        n = eol - p;

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }

        if (line == 0) {
            node->first = p;
            node->first_len = n;

            if (n != 3 || memcmp(p, "v 1", 3) != 0) {
                return 0;
            }

            node->version = TSR_FLEET_VERSION;
            continue;
        }

        if (n > 5 && memcmp(p, "host ", 5) == 0) {
            node->host = p + 5;
            node->host_len = n - 5;
            continue;
        }

        if (n > 4 && memcmp(p, "pid ", 4) == 0) {
            if (tsr_fleet_number(p + 4, n - 4, &node->pid) != 0) {
                node->bad_lines++;
            }

            continue;
        }

        if (n > 5 && memcmp(p, "time ", 5) == 0) {
            if (tsr_fleet_number(p + 5, n - 5, &node->time) != 0) {
                node->bad_lines++;
            }

            continue;
        }

        if (n < 7 || memcmp(p, "server ", 7) != 0) {
            /* a line of a later format */
            continue;
        }

        /* server <name> <16 hex> <listen text> */

        name = p + 7;
        fp = memchr(name, ' ', n - 7);

        if (fp == NULL || fp == name
            || (size_t) (fp - name) > TSR_FLEET_MAX_NAME
            || (size_t) (p + n - (fp + 1)) < TSR_FLEET_FP_HEX
            || !tsr_fleet_is_hex(fp + 1, TSR_FLEET_FP_HEX)
            || (p + n > fp + 1 + TSR_FLEET_FP_HEX
                && fp[1 + TSR_FLEET_FP_HEX] != ' '))
        {
            node->bad_lines++;
            continue;
        }

        nlen = fp - name;
        fp++;
        listen = fp + TSR_FLEET_FP_HEX;
        listen += (listen < p + n) ? 1 : 0;

        s.name = name;
        s.name_len = nlen;

        for (i = 0; i < TSR_FLEET_FP_HEX; i++) {
            s.fp[i] = (char) tolower((unsigned char) fp[i]);
        }

        s.fp[TSR_FLEET_FP_HEX] = '\0';
        s.listen = listen;
        s.listen_len = (size_t) (p + n - listen);

        node->nservers++;

        if (handler != NULL) {
            rc = handler(data, &s);
            if (rc < 0) {
                return rc;
            }
        }
    }

    return 0;
}


/* appends n bytes; with "printable", spaces and controls become '?' */

static int
tsr_fleet_put(char *buf, size_t size, size_t *len, const char *p, size_t n,
    int printable)
{
    size_t  i;

    if (*len > size || n > size - *len) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        buf[*len + i] = (printable && ((unsigned char) p[i] <= ' '
                                       || (unsigned char) p[i] >= 0x7f))
                        ? '?' : p[i];
    }

    *len += n;

    return 0;
}


static int
tsr_fleet_is_hex(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!isxdigit((unsigned char) p[i])) {
            return 0;
        }
    }

    return 1;
}


/* a decimal number of at most 31 characters; 0, or -1 */

static int
tsr_fleet_number(const char *p, size_t n, long long *out)
{
    char  *end;
    char   num[32];

    if (n >= sizeof(num) || memchr(p, '\0', n) != NULL) {
        return -1;
    }

    memcpy(num, p, n);
    num[n] = '\0';

    errno = 0;
    *out = strtoll(num, &end, 10);

    if (errno != 0 || *end != '\0' || end == num) {
        return -1;
    }

    return 0;
}
