
/*
 * Fleet registration: every nginx node says in Redis which servers it runs
 * with which session id context, so that "tsr-admin fleet" can tell a fleet
 * whose nodes silently stopped sharing sessions (other certificates, other
 * client CA lists).  The module writes it, tsr-admin reads it; both go
 * through this file, so the format has one definition.
 *
 * The string key <prefix>node:<node id>, the node id being the hostname,
 * ":", then "http" or "stream", set with a TTL (TSR_FLEET_TTL_MS) to text
 * lines
 *
 *     v 1
 *     host <hostname>
 *     pid <master pid>
 *     time <unix seconds>
 *     server <name> <fingerprint> <listen text>
 *
 * with one "server" line per server: its name ("-" when it has none), the
 * first 16 hex digits of SHA-256(its session id context), as in session
 * keys, and free text up to the end of the line.  Readers skip lines they
 * do not know, so that the format can grow; "v" changes when a known line
 * changes meaning.  Values come from Redis: the parser treats them as
 * hostile and never reads past "len".
 */


#ifndef TSR_FLEET_H_INCLUDED
#define TSR_FLEET_H_INCLUDED


#include <stddef.h>


#define TSR_FLEET_VERSION      1
#define TSR_FLEET_FP_HEX       16          /* context fingerprint */
#define TSR_FLEET_MAX_NAME     255         /* a server name's bytes */
#define TSR_FLEET_MAX_VALUE    65536       /* what a reader accepts */
#define TSR_FLEET_TTL_MS       60000
#define TSR_FLEET_PERIOD_MS    20000       /* between announcements */


/* one parsed "server" line; pointers into the parsed value */
typedef struct {
    const char            *name;
    size_t                 name_len;
    char                   fp[TSR_FLEET_FP_HEX + 1];   /* lowercase */
    const char            *listen;
    size_t                 listen_len;
} tsr_fleet_server_t;

/* a parsed registration; pointers into the parsed value */
typedef struct {
    int                    version;     /* TSR_FLEET_VERSION, or 0 when the
                                           first line is something else */
    const char            *first;       /* the first line, with 0 */
    size_t                 first_len;
    const char            *host;        /* NULL when there is none */
    size_t                 host_len;
    long long              pid;         /* -1 when absent */
    long long              time;        /* -1 when absent */
    size_t                 nservers;
    size_t                 bad_lines;   /* malformed known lines */
} tsr_fleet_node_t;

/* called per well-formed "server" line; a negative return stops parsing */
typedef int (*tsr_fleet_server_pt)(void *data, const tsr_fleet_server_t *s);


/*
 * Appends the head lines ("v", "host", "pid", "time") to buf[*len..size),
 * advancing *len.  Bytes of "host" outside printable ASCII, and spaces,
 * become '?'.  Returns 0, or -1 (nothing written) when they do not fit.
 */
int tsr_fleet_format_head(char *buf, size_t size, size_t *len,
    const char *host, size_t host_len, long long pid, long long time);

/*
 * Appends one "server" line as tsr_fleet_format_head().  An empty name is
 * written "-"; "fp" is TSR_FLEET_FP_HEX hex digits; "listen" may be NULL
 * ("-").  Returns 0, or -1 (nothing written) when the line does not fit,
 * the name is over TSR_FLEET_MAX_NAME or "fp" is not hex.
 */
int tsr_fleet_format_server(char *buf, size_t size, size_t *len,
    const char *name, size_t name_len, const char *fp, const char *listen,
    size_t listen_len);

/*
 * Parses a registration value of "len" bytes into *node, calling "handler"
 * (if not NULL) for each well-formed "server" line.  Unknown lines are
 * skipped, malformed known ones counted in node->bad_lines; with a first
 * line other than "v 1" nothing more is read.  Returns 0, -1 when the
 * value is over TSR_FLEET_MAX_VALUE, or the handler's negative return.
 */
int tsr_fleet_parse(const char *val, size_t len, tsr_fleet_node_t *node,
    tsr_fleet_server_pt handler, void *data);


#endif /* TSR_FLEET_H_INCLUDED */
