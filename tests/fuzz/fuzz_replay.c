
/*
 * The plain-test side of the fuzz targets fuzz_open, fuzz_reply and
 * fuzz_tickets: linked with one of them (built with -DTSR_FUZZ_REPLAY by
 * any compiler) it replays that target's seeds, every regular file of
 * $TSR_SRCDIR/tests/fuzz/corpus/<name> (or the files named as
 * arguments), each in full and every prefix of it, in exact-size
 * buffers so that a sanitizer sees any read past the end.
 *
 *     fuzz_open                   replays tests/fuzz/corpus/open
 *     fuzz_open FILE...           replays those files
 *     fuzz_open --seeds DIR       writes the target's seeds into DIR
 */


#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"


#define FUZZ_MAX_FILE      65536
#define FUZZ_PREFIXES_MAX  4096     /* longer inputs: every 16th prefix */


static int fuzz_replay_dir(const char *dir);
static int fuzz_replay_file(const char *path);


int
main(int argc, char **argv)
{
    int          i, n;
    char         dir[4096];
    const char  *src;

    if (LLVMFuzzerInitialize(&argc, &argv) != 0) {
        fprintf(stderr, "%s: initialization failed\n", fuzz_name);
        return 1;
    }

    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
        n = fuzz_write_seeds(argv[2]);
        if (n < 0) {
            return 1;
        }

        printf("%s: %d seeds written to \"%s\"\n", fuzz_name, n, argv[2]);
        return 0;
    }

    if (argc > 1) {
        for (i = 1; i < argc; i++) {
            if (fuzz_replay_file(argv[i]) != 0) {
                return 1;
            }
        }

        printf("%s: %d inputs passed\n", fuzz_name, argc - 1);
        return 0;
    }

    src = getenv("TSR_SRCDIR");

    (void) snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
                    (src != NULL) ? src : ".", fuzz_name);

    n = fuzz_replay_dir(dir);
    if (n <= 0) {
        fprintf(stderr, "%s: no seeds replayed from \"%s\"\n", fuzz_name,
                dir);
        return 1;
    }

    printf("%s: %d seeds and their prefixes passed\n", fuzz_name, n);

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
    size_t    len, n, step;
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

    step = (len > FUZZ_PREFIXES_MAX) ? 16 : 1;

    for (n = 0; /* void */ ; n += step) {
        if (n > len) {
            n = len;
        }

        p = malloc(n > 0 ? n : 1);
        if (p == NULL) {
            free(buf);
            return -1;
        }

        memcpy(p, buf, n);
        (void) LLVMFuzzerTestOneInput(p, n);
        free(p);

        if (n == len) {
            break;
        }
    }

    free(buf);

    return 0;
}


/* writes one seed file "dir/name"; 0 or -1 */

int
fuzz_seed(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    FILE  *f;
    char   path[8192];

    (void) snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    if (fwrite(data, 1, len, f) != len) {
        (void) fclose(f);
        return -1;
    }

    return fclose(f) == 0 ? 0 : -1;
}
