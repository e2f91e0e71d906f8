
/*
 * Fleet registration (tsr_fleet.h): what the formatter writes, the parser
 * reads back; values from Redis are hostile: every prefix of a good value,
 * lines too long, numbers that overflow, names over the limit, bytes that
 * are not text, and a value that is not a registration at all are read
 * without reading past their end (the test copies each into a buffer of
 * exactly its size, so that ASan catches a read beyond it).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tsr.h"
#include "tsr_fleet.h"
#include "tsr_test.h"


#define FP_A         "0123456789abcdef"
#define FP_B         "fedcba9876543210"
#define MAX_SEEN     16
#define EVIL         "evil\nserver x " FP_A " -"

typedef struct {
    size_t       n;
    char         name[MAX_SEEN][TSR_FLEET_MAX_NAME + 1];
    char         fp[MAX_SEEN][TSR_FLEET_FP_HEX + 1];
    char         listen[MAX_SEEN][64];
    int          stop_at;       /* return -5 at this server, or -1 */
    char         host[64];      /* node->host, copied before the free */
} seen_t;


static int on_server(void *data, const tsr_fleet_server_t *s);
static int parse_exact(const char *val, size_t len, tsr_fleet_node_t *node,
    seen_t *seen);


static int
on_server(void *data, const tsr_fleet_server_t *s)
{
    size_t   n;
    seen_t  *seen;

    seen = data;

    if (seen->stop_at >= 0 && (size_t) seen->stop_at == seen->n) {
        return -5;
    }

    if (seen->n == MAX_SEEN) {
        return 0;
    }

    CU_ASSERT(s->name_len <= TSR_FLEET_MAX_NAME);
    CU_ASSERT(strlen(s->fp) == TSR_FLEET_FP_HEX);

    memcpy(seen->name[seen->n], s->name, s->name_len);
    seen->name[seen->n][s->name_len] = '\0';
    (void) strcpy(seen->fp[seen->n], s->fp);

    n = s->listen_len < 63 ? s->listen_len : 63;
    memcpy(seen->listen[seen->n], s->listen, n);
    seen->listen[seen->n][n] = '\0';

    seen->n++;

    return 0;
}


/* parses a heap copy of exactly "len" bytes, no terminator */

static int
parse_exact(const char *val, size_t len, tsr_fleet_node_t *node,
    seen_t *seen)
{
    int    rc;
    char  *copy;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return -100;
    }

    memcpy(copy, val, len);
    memset(seen, 0, sizeof(seen_t));
    seen->stop_at = -1;

    rc = tsr_fleet_parse(copy, len, node, on_server, seen);

    if (rc == 0 && node->host != NULL && node->host_len < sizeof(seen->host))
    {
        memcpy(seen->host, node->host, node->host_len);
        seen->host[node->host_len] = '\0';
    }

    free(copy);

    return rc;
}


static void
test_formatted_value_parses_back(void)
{
    size_t            n;
    seen_t            seen;
    tsr_fleet_node_t  node;
    char              buf[1024];

    n = 0;

    CU_ASSERT_EQUAL(tsr_fleet_format_head(buf, sizeof(buf), &n,
                                          "web-1.example", 13, 4242,
                                          1700000000),
                    0);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n,
                                            "example.com", 11, FP_A,
                                            NULL, 0),
                    0);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, "", 0,
                                            "FEDCBA9876543210",
                                            "127.0.0.1:8443", 14),
                    0);

    CU_ASSERT_EQUAL(n, strlen("v 1\nhost web-1.example\npid 4242\n"
                              "time 1700000000\n"
                              "server example.com " FP_A " -\n"
                              "server - FEDCBA9876543210 127.0.0.1:8443\n"));
    CU_ASSERT_NSTRING_EQUAL(buf, "v 1\nhost web-1.example\npid 4242\n"
                            "time 1700000000\nserver example.com " FP_A
                            " -\nserver - FEDCBA9876543210 127.0.0.1:8443\n",
                            n);

    CU_ASSERT_EQUAL(parse_exact(buf, n, &node, &seen), 0);
    CU_ASSERT_EQUAL(node.version, TSR_FLEET_VERSION);
    CU_ASSERT_EQUAL(node.host_len, 13);
    CU_ASSERT_STRING_EQUAL(seen.host, "web-1.example");
    CU_ASSERT_EQUAL(node.pid, 4242);
    CU_ASSERT_EQUAL(node.time, 1700000000);
    CU_ASSERT_EQUAL(node.nservers, 2);
    CU_ASSERT_EQUAL(node.bad_lines, 0);

    CU_ASSERT_EQUAL(seen.n, 2);
    CU_ASSERT_STRING_EQUAL(seen.name[0], "example.com");
    CU_ASSERT_STRING_EQUAL(seen.fp[0], FP_A);
    CU_ASSERT_STRING_EQUAL(seen.listen[0], "-");
    CU_ASSERT_STRING_EQUAL(seen.name[1], "-");
    /* fingerprints come back lowercase, as in session keys */
    CU_ASSERT_STRING_EQUAL(seen.fp[1], FP_B);
    CU_ASSERT_STRING_EQUAL(seen.listen[1], "127.0.0.1:8443");
}


static void
test_formatter_refuses_what_does_not_fit(void)
{
    size_t  n, full;
    char    buf[64], name[TSR_FLEET_MAX_NAME + 2];

    n = 0;

    /* the head needs more than 8 bytes: nothing written */
    CU_ASSERT_EQUAL(tsr_fleet_format_head(buf, 8, &n, "h", 1, 1, 1), -1);
    CU_ASSERT_EQUAL(n, 0);

    CU_ASSERT_EQUAL(tsr_fleet_format_head(buf, sizeof(buf), &n, "h", 1, 1,
                                          1),
                    0);
    full = n;

    /* a server line that does not fit leaves the buffer as it was */
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n,
                                            "a-rather-long-name.example.com",
                                            30, FP_A, NULL, 0),
                    -1);
    CU_ASSERT_EQUAL(n, full);

    memset(name, 'a', sizeof(name));
    n = 0;
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, name,
                                            TSR_FLEET_MAX_NAME + 1, FP_A,
                                            NULL, 0),
                    -1);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, "x", 1,
                                            "0123456789abcdeg", NULL, 0),
                    -1);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, "x", 1,
                                            "0123", NULL, 0),
                    -1);
    CU_ASSERT_EQUAL(n, 0);
}


static void
test_formatter_keeps_lines_intact(void)
{
    size_t            n;
    seen_t            seen;
    tsr_fleet_node_t  node;
    char              buf[512];

    /* a newline in a host or server name must not forge a line */

    n = 0;
    CU_ASSERT_EQUAL(tsr_fleet_format_head(buf, sizeof(buf), &n, EVIL,
                                          strlen(EVIL), 1, 2),
                    0);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n,
                                            "a b\nc", 5, FP_A, "x\ny", 3),
                    0);

    CU_ASSERT_EQUAL(parse_exact(buf, n, &node, &seen), 0);
    CU_ASSERT_EQUAL(node.nservers, 1);
    CU_ASSERT_EQUAL(seen.n, 1);
    CU_ASSERT_STRING_EQUAL(seen.name[0], "a?b?c");
    CU_ASSERT_STRING_EQUAL(seen.listen[0], "x?y");
    CU_ASSERT_EQUAL(node.host_len, strlen(EVIL));
    CU_ASSERT_STRING_EQUAL(seen.host, "evil?server?x?" FP_A "?-");
}


static void
test_every_prefix_of_a_value_is_read_safely(void)
{
    size_t            n, len;
    seen_t            seen;
    tsr_fleet_node_t  node;
    char              buf[512];

    n = 0;
    CU_ASSERT_EQUAL(tsr_fleet_format_head(buf, sizeof(buf), &n, "node-a", 6,
                                          77, 1700000001),
                    0);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, "s1", 2,
                                            FP_A, NULL, 0),
                    0);
    CU_ASSERT_EQUAL(tsr_fleet_format_server(buf, sizeof(buf), &n, "s2", 2,
                                            FP_B, NULL, 0),
                    0);

    for (len = 0; len <= n; len++) {
        CU_ASSERT_EQUAL_FATAL(parse_exact(buf, len, &node, &seen), 0);
        CU_ASSERT(node.nservers <= 2);
        CU_ASSERT_EQUAL(node.nservers, seen.n);

        if (len < 3) {
            CU_ASSERT_EQUAL(node.version, 0);
        }
    }

    /* the whole value: both servers; cut inside the fingerprint: one */
    CU_ASSERT_EQUAL(node.nservers, 2);

    len = (size_t) (strstr(buf, FP_B) - buf) + 8;
    CU_ASSERT_EQUAL(parse_exact(buf, len, &node, &seen), 0);
    CU_ASSERT_EQUAL(node.nservers, 1);
    CU_ASSERT_EQUAL(node.bad_lines, 1);
}


static void
test_hostile_values_are_counted_not_trusted(void)
{
    seen_t            seen;
    tsr_fleet_node_t  node;
    char              name[TSR_FLEET_MAX_NAME + 64];
    char              val[2 * TSR_FLEET_MAX_NAME + 256];
    char             *big;
    const char       *v;

    /* not a registration: nothing read past the first line */
    v = "v 2\nhost x\nserver a " FP_A " -\n";
    CU_ASSERT_EQUAL(parse_exact(v, strlen(v), &node, &seen), 0);
    CU_ASSERT_EQUAL(node.version, 0);
    CU_ASSERT_EQUAL(node.first_len, 3);
    CU_ASSERT_EQUAL(node.nservers, 0);
    CU_ASSERT_EQUAL(seen.n, 0);

    /* overflowing and malformed numbers, unknown lines, CRLF */
    v = "v 1\r\npid 99999999999999999999999\r\ntime 12x\r\n"
        "later-line whatever\r\nserver ok " FP_A " 10.0.0.1:443\r\n"
        "server nofp\r\nserver  " FP_A " -\r\nserver bad 0123456789abcdeX\r\n"
        "server glued " FP_A "x\r\n";
    CU_ASSERT_EQUAL(parse_exact(v, strlen(v), &node, &seen), 0);
    CU_ASSERT_EQUAL(node.version, TSR_FLEET_VERSION);
    CU_ASSERT_EQUAL(node.bad_lines, 6);
    CU_ASSERT_EQUAL(node.nservers, 1);
    CU_ASSERT_EQUAL(seen.n, 1);
    CU_ASSERT_STRING_EQUAL(seen.listen[0], "10.0.0.1:443");
    CU_ASSERT_EQUAL(node.host, NULL);

    /* a NUL inside a number */
    CU_ASSERT_EQUAL(parse_exact("v 1\npid 12\0003\n", 13, &node, &seen), 0);
    CU_ASSERT_EQUAL(node.bad_lines, 1);

    /* a name at the limit is read, one byte over is not */
    memset(name, 'n', sizeof(name));
    (void) snprintf(val, sizeof(val), "v 1\nserver %.*s " FP_A " -\n"
                    "server %.*s " FP_A " -\n", TSR_FLEET_MAX_NAME, name,
                    TSR_FLEET_MAX_NAME + 1, name);
    CU_ASSERT_EQUAL(parse_exact(val, strlen(val), &node, &seen), 0);
    CU_ASSERT_EQUAL(node.nservers, 1);
    CU_ASSERT_EQUAL(node.bad_lines, 1);
    CU_ASSERT_EQUAL(strlen(seen.name[0]), TSR_FLEET_MAX_NAME);

    /* over the size limit: refused whole */
    big = calloc(TSR_FLEET_MAX_VALUE + 1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memcpy(big, "v 1\n", 4);
    memset(big + 4, 'x', TSR_FLEET_MAX_VALUE - 3);
    CU_ASSERT_EQUAL(tsr_fleet_parse(big, TSR_FLEET_MAX_VALUE + 1, &node,
                                    NULL, NULL),
                    -1);
    CU_ASSERT_EQUAL(tsr_fleet_parse(big, TSR_FLEET_MAX_VALUE, &node, NULL,
                                    NULL),
                    0);
    free(big);
}


static void
test_handler_can_stop_the_parse(void)
{
    seen_t            seen;
    tsr_fleet_node_t  node;
    const char       *v;

    v = "v 1\nserver a " FP_A " -\nserver b " FP_A " -\nserver c " FP_A
        " -\n";

    memset(&seen, 0, sizeof(seen_t));
    seen.stop_at = 1;

    CU_ASSERT_EQUAL(tsr_fleet_parse(v, strlen(v), &node, on_server, &seen),
                    -5);
    CU_ASSERT_EQUAL(seen.n, 1);

    /* without a handler the servers are still counted */
    CU_ASSERT_EQUAL(tsr_fleet_parse(v, strlen(v), &node, NULL, NULL), 0);
    CU_ASSERT_EQUAL(node.nservers, 3);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(formatted_value_parses_back),
        TSR_TEST(formatter_refuses_what_does_not_fit),
        TSR_TEST(formatter_keeps_lines_intact),
        TSR_TEST(every_prefix_of_a_value_is_read_safely),
        TSR_TEST(hostile_values_are_counted_not_trusted),
        TSR_TEST(handler_can_stop_the_parse)
    };

    return TSR_TEST_MAIN("fleet", NULL, NULL, tests);
}
