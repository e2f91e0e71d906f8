
/*
 * libFuzzer target for tsr_hello_parse(): under every flags combination
 * an input must get one of the three documented answers, stay inside its
 * buffers (ASan, UBSan), and leave the result consistent; any violation
 * aborts.  Seeds: real ClientHellos in tests/fuzz/corpus/hello/, written
 * by tests/unit/test_hello with TSR_HELLO_CORPUS set to that directory.
 *
 *     clang -g -O1 -fsanitize=fuzzer,address,undefined -Imodule/tsr \
 *         tests/fuzz/fuzz_hello.c module/tsr/tsr_hello.c -o fuzz_hello
 *     ./fuzz_hello -max_total_time=300 corpus/ tests/fuzz/corpus/hello
 */


#include "tsr.h"

#include <stdlib.h>
#include <string.h>


#define FUZZ_FLAGS_ALL  (TSR_HELLO_TICKETS | TSR_HELLO_TLS13 | TSR_HELLO_TLS12)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_check(int rc, unsigned flags, const tsr_hello_t *h);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc, again, ok;
    unsigned     flags;
    tsr_hello_t  h, named;

    again = -1;
    ok = 0;
    memset(&named, 0, sizeof(tsr_hello_t));

    for (flags = 0; flags <= FUZZ_FLAGS_ALL; flags++) {

        /* garbage in "out" first: the parser must zero it itself */

        memset(&h, 0xa5, sizeof(tsr_hello_t));

        rc = tsr_hello_parse(data, size, flags, &h);

        fuzz_check(rc, flags, &h);

        /* record reassembly does not depend on the server's settings */

        if (again == -1) {
            again = (rc == TSR_AGAIN);

        } else if (again != (rc == TSR_AGAIN)) {
            abort();
        }

        /* nor does the server name */

        if (rc == TSR_OK) {
            if (ok
                && (h.server_name_len != named.server_name_len
                    || strcmp(h.server_name, named.server_name) != 0))
            {
                abort();
            }

            named = h;
            ok = 1;
        }
    }

    return 0;
}


static void
fuzz_check(int rc, unsigned flags, const tsr_hello_t *h)
{
    size_t                i;
    const unsigned char  *p;

    if (rc != TSR_OK && rc != TSR_AGAIN && rc != TSR_EPROTO) {
        abort();
    }

    if (rc != TSR_OK) {

        /* nothing but zeroes, padding included */

        p = (const unsigned char *) h;

        for (i = 0; i < sizeof(tsr_hello_t); i++) {
            if (p[i] != 0) {
                abort();
            }
        }

        return;
    }

    if (h->id_len > TSR_MAX_SESSION_ID
        || (h->lookup && h->id_len == 0)
        || (!h->lookup && (h->id_len != 0 || h->tls13))
        || (h->lookup && h->ticket)
        || (h->lookup
            && (flags & (TSR_HELLO_TLS12 | TSR_HELLO_TLS13)) == 0)
        || (h->tls13
            && (h->id_len != TSR_MAX_SESSION_ID
                || (flags & TSR_HELLO_TLS13) == 0
                || (flags & TSR_HELLO_TICKETS) != 0))
        || (h->ticket && (flags & TSR_HELLO_TICKETS) == 0))
    {
        abort();
    }

    if (h->server_name_len >= sizeof(h->server_name)
        || h->server_name[h->server_name_len] != '\0'
        || strlen(h->server_name) != h->server_name_len)
    {
        abort();
    }

    /* bytes past the id are untouched zeroes */

    for (i = h->id_len; i < sizeof(h->id); i++) {
        if (h->id[i] != 0) {
            abort();
        }
    }
}
