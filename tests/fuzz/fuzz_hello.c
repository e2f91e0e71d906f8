
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
 *
 * Built with -DTSR_FUZZ_REPLAY instead, by any compiler, it is a plain
 * test program: it runs the seeds (the files named as arguments, or
 * $TSR_SRCDIR/tests/fuzz/corpus/hello) and every prefix of each.
 */


#include "tsr.h"

#include <stdlib.h>
#include <string.h>

#ifdef TSR_FUZZ_REPLAY
#include <dirent.h>
#include <stdio.h>
#endif


#define FUZZ_FLAGS_ALL  (TSR_HELLO_TICKETS | TSR_HELLO_TLS13 | TSR_HELLO_TLS12)
#define FUZZ_MAX_FILE   65536


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_check(int rc, unsigned flags, const tsr_hello_t *h);
#ifdef TSR_FUZZ_REPLAY
static int fuzz_replay_dir(const char *dir);
static int fuzz_replay_file(const char *path);
#endif


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

        /* a caller that peeked the limit never waits for more */

        if (rc == TSR_AGAIN && size >= TSR_HELLO_MAX_PEEK) {
            abort();
        }

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


#ifdef TSR_FUZZ_REPLAY

int
main(int argc, char **argv)
{
    int          i, n;
    char         dir[4096];
    const char  *src;

    if (argc > 1) {
        for (i = 1; i < argc; i++) {
            if (fuzz_replay_file(argv[i]) != 0) {
                return 1;
            }
        }

        printf("fuzz_hello: %d inputs passed\n", argc - 1);
        return 0;
    }

    src = getenv("TSR_SRCDIR");

    (void) snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/hello",
                    (src != NULL) ? src : ".");

    n = fuzz_replay_dir(dir);
    if (n <= 0) {
        fprintf(stderr, "fuzz_hello: no seeds replayed from \"%s\"\n", dir);
        return 1;
    }

    printf("fuzz_hello: %d seeds and their prefixes passed\n", n);

    return 0;
}


/* replays every regular file of "dir"; returns their number or -1 */

static int
fuzz_replay_dir(const char *dir)
{
    int             n;
    DIR            *d;
    char            path[8192];
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {

        if (de->d_name[0] == '.') {
            continue;
        }

        (void) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);

        if (fuzz_replay_file(path) != 0) {
            n = -1;
            break;
        }

        n++;
    }

    (void) closedir(d);

    return n;
}


static int
fuzz_replay_file(const char *path)
{
    FILE     *f;
    size_t    len, n;
    uint8_t  *buf, *p;

    buf = malloc(FUZZ_MAX_FILE);
    if (buf == NULL) {
        return -1;
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        free(buf);
        return -1;
    }

    len = fread(buf, 1, FUZZ_MAX_FILE, f);
    (void) fclose(f);

    /* exact-size copies, so that a sanitizer sees any read past the end */

    for (n = 0; n <= len; n++) {
        p = malloc(n > 0 ? n : 1);
        if (p == NULL) {
            free(buf);
            return -1;
        }

        memcpy(p, buf, n);
        (void) LLVMFuzzerTestOneInput(p, n);
        free(p);
    }

    free(buf);

    return 0;
}

#endif
