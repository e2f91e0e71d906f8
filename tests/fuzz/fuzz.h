
/*
 * What a fuzz target (tests/fuzz/fuzz_*.c) provides, for libFuzzer and
 * for the replay driver of make check (fuzz_replay.c).
 */


#ifndef TSR_FUZZ_H_INCLUDED
#define TSR_FUZZ_H_INCLUDED


#include <stddef.h>
#include <stdint.h>


/* the corpus directory's name under tests/fuzz/corpus */
extern const char  *fuzz_name;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay builds only: writes the seeds into "dir", returns their number */
int fuzz_write_seeds(const char *dir);
int fuzz_seed(const char *dir, const char *name, const uint8_t *data,
    size_t len);


#endif /* TSR_FUZZ_H_INCLUDED */
