
/*
 * Unit tests for sealing: key rings, envelopes, session key names and
 * error strings.  Needs no daemon; key files go to a private directory
 * under $TSR_TMPDIR (or /tmp).
 */


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/sha.h>

#include "tsr.h"
#include "tsr_test.h"


#define TEST_NAME       "tsr:s:0011223344556677:aabb"
#define TEST_NAME_LEN   (sizeof(TEST_NAME) - 1)
#define TEST_ERR_LEN    1024


static int test_suite_init(void);
static int test_suite_cleanup(void);
static int test_path(const char *file, char *path, size_t pathlen);
static void test_fill(uint8_t *p, size_t len, unsigned seed);
static int test_write_file(const char *file, const uint8_t *data, size_t len,
    char *path, size_t pathlen);
static tsr_keyring_t *test_ring(unsigned seed);
static int test_seal_fixed(tsr_keyring_t *kr, size_t len, uint8_t *out,
    size_t *outlen);
static int test_is_wiped(const uint8_t *p, size_t len);

static void test_seal_then_open_returns_same_bytes(void);
static void test_seal_rejects_input_over_max_session(void);
static void test_open_accepts_envelope_of_reference_implementation(void);
static void test_open_rejects_every_truncated_length(void);
static void test_open_rejects_cut_tag(void);
static void test_open_rejects_unknown_version(void);
static void test_open_rejects_value_sealed_under_foreign_key(void);
static void test_open_rejects_value_moved_to_another_name(void);
static void test_open_reports_each_flipped_bit_by_field(void);
static void test_open_wipes_output_on_failure(void);
static void test_seal_and_open_reject_small_output_buffer(void);
static void test_seal_and_open_reject_empty_ring(void);
static void test_rotated_ring_opens_old_values_and_seals_with_new_key(void);
static void test_key_file_missing_is_rejected_naming_the_file(void);
static void test_key_file_directory_is_rejected_naming_the_file(void);
static void test_key_file_unreadable_is_rejected(void);
static void test_key_file_of_31_bytes_is_rejected_naming_the_file(void);
static void test_key_file_of_32_to_4096_raw_bytes_is_accepted(void);
static void test_key_file_of_text_is_rejected_naming_what_it_holds(void);
static void test_key_file_empty_or_over_4096_bytes_is_rejected(void);
static void test_same_key_file_gives_same_id_in_two_rings(void);
static void test_different_key_files_give_different_ids(void);
static void test_key_id_is_pinned_for_known_key(void);
static void test_add_key_rejects_short_and_long_material(void);
static void test_ring_holds_at_most_16_keys(void);
static void test_two_seals_of_same_input_differ(void);
static void test_session_key_matches_known_vector(void);
static void test_session_key_rejects_bad_id_length(void);
static void test_session_key_rejects_small_buffer(void);
static void test_strerror_names_every_code_distinctly(void);
static void test_destroy_null_does_nothing(void);


static char     test_dir[PATH_MAX];

/* big buffers live here, not on the stack */
static uint8_t  test_in[TSR_MAX_VALUE];
static uint8_t  test_sealed[TSR_MAX_VALUE];
static uint8_t  test_opened[TSR_MAX_VALUE];

/*
 * Envelope computed with Python's "cryptography" AESGCM, independently of
 * libtsr: key material 00 01 .. 1f, name TEST_NAME, nonce 00 01 .. 0b,
 * plaintext "session bytes".  It pins the format a fleet shares.
 */
static const uint8_t  test_reference[] =
    "\x01\xad\x33\x0a\x44\x39\x25\xfb\x58\x00\x01\x02\x03\x04\x05\x06"
    "\x07\x08\x09\x0a\x0b\x26\x0c\x2e\x53\x22\xb6\x06\xa6\x4c\x1f\xdd"
    "\x96\x9e\x4a\x21\x00\x1b\x80\x62\x1f\x30\xc0\x66\xb7\xb1\x12\x12"
    "\xd7\x6b";


static int
test_suite_init(void)
{
    const char  *base;

    base = getenv("TSR_TMPDIR");

    if (base == NULL || base[0] == '\0') {
        base = "/tmp";

    } else if (mkdir(base, 0755) == -1 && errno != EEXIST) {
        fprintf(stderr, "mkdir(\"%s\") failed: %s\n", base, strerror(errno));
        return -1;
    }

    if (snprintf(test_dir, sizeof(test_dir), "%s/test_seal.XXXXXX", base)
        >= (int) sizeof(test_dir))
    {
        return -1;
    }

    if (mkdtemp(test_dir) == NULL) {
        fprintf(stderr, "mkdtemp(\"%s\") failed: %s\n", test_dir,
                strerror(errno));
        return -1;
    }

    return 0;
}


static int
test_suite_cleanup(void)
{
    DIR            *dir;
    char            path[PATH_MAX];
    struct dirent  *de;

    dir = opendir(test_dir);
    if (dir == NULL) {
        return -1;
    }

    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        if (test_path(de->d_name, path, sizeof(path)) != 0) {
            continue;
        }

        if (unlink(path) == -1) {
            (void) chmod(path, 0700);
            (void) rmdir(path);
        }
    }

    (void) closedir(dir);

    return rmdir(test_dir);
}


static int
test_path(const char *file, char *path, size_t pathlen)
{
    int  n;

    n = snprintf(path, pathlen, "%s/%s", test_dir, file);

    return (n < 0 || (size_t) n >= pathlen) ? -1 : 0;
}


static void
test_fill(uint8_t *p, size_t len, unsigned seed)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p[i] = (uint8_t) (seed * 131 + i * 7 + (i >> 8));
    }
}


static int
test_write_file(const char *file, const uint8_t *data, size_t len,
    char *path, size_t pathlen)
{
    int      fd;
    ssize_t  n;

    if (test_path(file, path, pathlen) != 0) {
        return -1;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1) {
        return -1;
    }

    n = (len != 0) ? write(fd, data, len) : 0;

    if (close(fd) == -1 || n != (ssize_t) len) {
        return -1;
    }

    return 0;
}


static tsr_keyring_t *
test_ring(unsigned seed)
{
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    if (kr == NULL) {
        return NULL;
    }

    test_fill(ikm, sizeof(ikm), seed);

    if (tsr_keyring_add_key(kr, ikm, sizeof(ikm), NULL, 0) != TSR_OK) {
        tsr_keyring_destroy(kr);
        return NULL;
    }

    return kr;
}


static int
test_seal_fixed(tsr_keyring_t *kr, size_t len, uint8_t *out, size_t *outlen)
{
    test_fill(test_in, len, 99);
    *outlen = TSR_MAX_VALUE;

    return tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, len, out, outlen);
}


static int
test_is_wiped(const uint8_t *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }

    return 1;
}


static void
test_seal_then_open_returns_same_bytes(void)
{
    size_t          i, len, sealedlen, openedlen;
    tsr_keyring_t  *kr;

    static const size_t  lens[] = {
        0, 1, 15, 16, 17, 255, 1000, 4096, TSR_MAX_SESSION
    };

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        len = lens[i];
        test_fill(test_in, len, (unsigned) i);

        /* exactly enough room both ways */

        sealedlen = len + TSR_SEAL_OVERHEAD;
        CU_ASSERT_EQUAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, len,
                                 test_sealed, &sealedlen),
                        TSR_OK);
        CU_ASSERT_EQUAL(sealedlen, len + TSR_SEAL_OVERHEAD);
        CU_ASSERT_EQUAL(test_sealed[0], 1);

        openedlen = len;
        CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                                 sealedlen, test_opened, &openedlen),
                        TSR_OK);
        CU_ASSERT_EQUAL(openedlen, len);
        CU_ASSERT(memcmp(test_opened, test_in, len) == 0);
    }

    tsr_keyring_destroy(kr);
}


static void
test_seal_rejects_input_over_max_session(void)
{
    size_t          sealedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    sealedlen = sizeof(test_sealed);
    CU_ASSERT_EQUAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in,
                             TSR_MAX_SESSION + 1, test_sealed, &sealedlen),
                    TSR_ETOOBIG);

    tsr_keyring_destroy(kr);
}


static void
test_open_accepts_envelope_of_reference_implementation(void)
{
    char            id[9];
    size_t          i, openedlen;
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    tsr_keyring_t  *kr;

    for (i = 0; i < sizeof(ikm); i++) {
        ikm[i] = (uint8_t) i;
    }

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(kr, ikm, sizeof(ikm), NULL, 0),
                          TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 0, id), TSR_OK);
    CU_ASSERT_STRING_EQUAL(id, "ad330a44");

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_reference,
                             sizeof(test_reference) - 1, test_opened,
                             &openedlen),
                    TSR_OK);
    CU_ASSERT_EQUAL(openedlen, sizeof("session bytes") - 1);
    CU_ASSERT(memcmp(test_opened, "session bytes", openedlen) == 0);

    tsr_keyring_destroy(kr);
}


static void
test_open_rejects_every_truncated_length(void)
{
    size_t          len, sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    /* an empty plaintext seals to exactly the overhead */

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 0, test_sealed, &sealedlen),
                          TSR_OK);
    CU_ASSERT_EQUAL_FATAL(sealedlen, TSR_SEAL_OVERHEAD);

    for (len = 0; len < TSR_SEAL_OVERHEAD; len++) {
        openedlen = sizeof(test_opened);
        CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                                 len, test_opened, &openedlen),
                        TSR_SEAL_TRUNCATED);
        CU_ASSERT_EQUAL(openedlen, 0);
    }

    openedlen = 0;
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_OK);

    tsr_keyring_destroy(kr);
}


static void
test_open_rejects_cut_tag(void)
{
    size_t          cut, sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 100, test_sealed, &sealedlen),
                          TSR_OK);

    /* still long enough to parse: the tag no longer matches */

    for (cut = 1; cut <= 16; cut++) {
        openedlen = sizeof(test_opened);
        CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                                 sealedlen - cut, test_opened, &openedlen),
                        TSR_SEAL_TAMPERED);
    }

    tsr_keyring_destroy(kr);
}


static void
test_open_rejects_unknown_version(void)
{
    size_t          i, sealedlen, openedlen;
    tsr_keyring_t  *kr;

    static const uint8_t  versions[] = { 0, 2, 0x81, 0xff };

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 10, test_sealed, &sealedlen),
                          TSR_OK);

    for (i = 0; i < sizeof(versions); i++) {
        test_sealed[0] = versions[i];
        openedlen = sizeof(test_opened);
        CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                                 sealedlen, test_opened, &openedlen),
                        TSR_SEAL_VERSION);
    }

    tsr_keyring_destroy(kr);
}


static void
test_open_rejects_value_sealed_under_foreign_key(void)
{
    size_t          sealedlen, openedlen;
    tsr_keyring_t  *kr, *foreign;

    kr = test_ring(1);
    foreign = test_ring(2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(foreign);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(foreign, 10, test_sealed,
                                          &sealedlen),
                          TSR_OK);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_SEAL_UNKNOWN_KEY);

    tsr_keyring_destroy(kr);
    tsr_keyring_destroy(foreign);
}


static void
test_open_rejects_value_moved_to_another_name(void)
{
    size_t          sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 10, test_sealed, &sealedlen),
                          TSR_OK);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, "tsr:s:0011223344556677:aabc",
                             TEST_NAME_LEN, test_sealed, sealedlen,
                             test_opened, &openedlen),
                    TSR_SEAL_MOVED);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN - 1, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_SEAL_MOVED);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, NULL, 0, test_sealed, sealedlen,
                             test_opened, &openedlen),
                    TSR_SEAL_MOVED);

    tsr_keyring_destroy(kr);
}


static void
test_open_reports_each_flipped_bit_by_field(void)
{
    int             expect;
    size_t          pos, bit, sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 64, test_sealed, &sealedlen),
                          TSR_OK);

    /*
     * version(1) | key id(4) | name check(4) | nonce(12) | data | tag(16):
     * every flipped bit is caught, and by the check for its field.
     */

    for (pos = 0; pos < sealedlen; pos++) {

        if (pos == 0) {
            expect = TSR_SEAL_VERSION;

        } else if (pos < 5) {
            expect = TSR_SEAL_UNKNOWN_KEY;

        } else if (pos < 9) {
            expect = TSR_SEAL_MOVED;

        } else {
            expect = TSR_SEAL_TAMPERED;
        }

        for (bit = 0; bit < 8; bit++) {
            test_sealed[pos] ^= (uint8_t) (1u << bit);

            memset(test_opened, 0xa5, 64);
            openedlen = 64;

            CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN,
                                     test_sealed, sealedlen, test_opened,
                                     &openedlen),
                            expect);
            CU_ASSERT_EQUAL(openedlen, 0);
            CU_ASSERT(test_is_wiped(test_opened, 64));

            test_sealed[pos] ^= (uint8_t) (1u << bit);
        }
    }

    openedlen = 64;
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_OK);

    tsr_keyring_destroy(kr);
}


static void
test_open_wipes_output_on_failure(void)
{
    size_t          sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 1000, test_sealed, &sealedlen),
                          TSR_OK);

    /* a bad tag: GCM has already written the plaintext out */

    test_sealed[sealedlen - 1] ^= 1;

    memset(test_opened, 0xa5, 1000);
    openedlen = 1000;

    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_SEAL_TAMPERED);
    CU_ASSERT_EQUAL(openedlen, 0);
    CU_ASSERT(test_is_wiped(test_opened, 1000));

    tsr_keyring_destroy(kr);
}


static void
test_seal_and_open_reject_small_output_buffer(void)
{
    size_t          sealedlen, openedlen;
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(test_in, 100, 3);

    sealedlen = 100 + TSR_SEAL_OVERHEAD - 1;
    CU_ASSERT_EQUAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, 100,
                             test_sealed, &sealedlen),
                    TSR_EINVAL);

    sealedlen = 0;
    CU_ASSERT_EQUAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, 0,
                             test_sealed, &sealedlen),
                    TSR_EINVAL);

    sealedlen = 100 + TSR_SEAL_OVERHEAD;
    CU_ASSERT_EQUAL_FATAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, 100,
                                   test_sealed, &sealedlen),
                          TSR_OK);

    openedlen = 99;
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(openedlen, 0);

    tsr_keyring_destroy(kr);
}


static void
test_seal_and_open_reject_empty_ring(void)
{
    size_t          sealedlen, openedlen;
    tsr_keyring_t  *kr, *empty;

    kr = test_ring(1);
    empty = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(empty);
    CU_ASSERT_EQUAL(tsr_keyring_count(empty), 0);

    CU_ASSERT_EQUAL(test_seal_fixed(empty, 10, test_sealed, &sealedlen),
                    TSR_EINVAL);

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr, 10, test_sealed, &sealedlen),
                          TSR_OK);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(empty, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_EINVAL);

    tsr_keyring_destroy(kr);
    tsr_keyring_destroy(empty);
}


static void
test_rotated_ring_opens_old_values_and_seals_with_new_key(void)
{
    char            id[9], newid[9];
    size_t          sealedlen, openedlen;
    uint8_t         old[TSR_MIN_KEY_FILE], new[TSR_MIN_KEY_FILE + 8];
    tsr_keyring_t  *oldring, *newring, *both;

    test_fill(old, sizeof(old), 10);
    test_fill(new, sizeof(new), 11);

    oldring = tsr_keyring_create(NULL, 0);
    newring = tsr_keyring_create(NULL, 0);
    both = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(oldring);
    CU_ASSERT_PTR_NOT_NULL_FATAL(newring);
    CU_ASSERT_PTR_NOT_NULL_FATAL(both);

    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(oldring, old, sizeof(old),
                                              NULL, 0),
                          TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(newring, new, sizeof(new),
                                              NULL, 0),
                          TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(both, new, sizeof(new),
                                              NULL, 0),
                          TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(both, old, sizeof(old),
                                              NULL, 0),
                          TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_count(both), 2);

    /* a value of the old ring: the new key alone cannot open it */

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(oldring, 50, test_sealed,
                                          &sealedlen),
                          TSR_OK);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(newring, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_SEAL_UNKNOWN_KEY);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(both, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_OK);
    CU_ASSERT_EQUAL(openedlen, 50);
    CU_ASSERT(memcmp(test_opened, test_in, 50) == 0);

    /* [new, old] seals with the new key only */

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(both, 50, test_sealed, &sealedlen),
                          TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_id(both, 0, id), TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_id(newring, 0, newid), TSR_OK);
    CU_ASSERT_STRING_EQUAL(id, newid);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(oldring, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_SEAL_UNKNOWN_KEY);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(newring, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_OK);

    tsr_keyring_destroy(oldring);
    tsr_keyring_destroy(newring);
    tsr_keyring_destroy(both);
}


static void
test_key_file_missing_is_rejected_naming_the_file(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_path("missing.key", path, sizeof(path)), 0);

    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(ENOENT)));
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    tsr_keyring_destroy(kr);
}


static void
test_key_file_directory_is_rejected_naming_the_file(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    CU_ASSERT_EQUAL_FATAL(test_path("dir.key", path, sizeof(path)), 0);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);

    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    tsr_keyring_destroy(kr);
}


static void
test_key_file_unreadable_is_rejected(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    tsr_keyring_t  *kr;

    /*
     * Root reads a mode 000 file anyway, so there is nothing to test as
     * root; the directory case above covers a file that cannot be read.
     */

    if (geteuid() == 0) {
        printf("(as root: mode 000 case skipped) ");
        return;
    }

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(ikm, sizeof(ikm), 20);
    CU_ASSERT_EQUAL_FATAL(test_write_file("mode000.key", ikm, sizeof(ikm),
                                          path, sizeof(path)),
                          0);
    CU_ASSERT_EQUAL_FATAL(chmod(path, 0), 0);

    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, strerror(EACCES)));

    tsr_keyring_destroy(kr);
}


static void
test_key_file_of_31_bytes_is_rejected_naming_the_file(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    char            expect[2 * PATH_MAX + 128];
    uint8_t         ikm[TSR_MIN_KEY_FILE - 1];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(ikm, sizeof(ikm), 21);
    CU_ASSERT_EQUAL_FATAL(test_write_file("short.key", ikm, sizeof(ikm),
                                          path, sizeof(path)),
                          0);

    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);

    (void) snprintf(expect, sizeof(expect),
                    "fleet key file \"%s\" holds 31 bytes; expected 32 to "
                    "4096 raw bytes, as \"openssl rand 32 > %s\" makes", path,
                    path);
    CU_ASSERT_STRING_EQUAL(err, expect);
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    tsr_keyring_destroy(kr);
}


static void
test_key_file_of_32_to_4096_raw_bytes_is_accepted(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(test_in, TSR_MAX_KEY_FILE, 22);

    CU_ASSERT_EQUAL_FATAL(test_write_file("min.key", test_in,
                                          TSR_MIN_KEY_FILE, path,
                                          sizeof(path)),
                          0);
    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_OK);
    CU_ASSERT_STRING_EQUAL(err, "");

    /* keys of earlier releases: raw key material of 33 to 4096 bytes */

    CU_ASSERT_EQUAL_FATAL(test_write_file("33.key", test_in,
                                          TSR_KEY_FILE_LEN + 1, path,
                                          sizeof(path)),
                          0);
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_OK);

    CU_ASSERT_EQUAL_FATAL(test_write_file("max.key", test_in,
                                          TSR_MAX_KEY_FILE, path,
                                          sizeof(path)),
                          0);
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 3);

    tsr_keyring_destroy(kr);
}


/* what "openssl rand -hex" and "-base64" write, and a PEM file */

static void
test_key_file_of_text_is_rejected_naming_what_it_holds(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    size_t          i;
    tsr_keyring_t  *kr;

    static const struct {
        const char  *text;
        const char  *holds;
    } files[] = {
        { "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
          "holds 59 bytes of PEM text (a certificate or a key, not key "
          "material); expected 32 to 4096 raw bytes" },
        { "3f8a0c55e2b14d7a9c06e1f2d3b4a59687c8e9f0a1b2c3d4e5f60718293a4b5c\n",
          "holds 65 bytes of text (hex?); expected 32 to 4096 raw bytes" },
        { "P4oMVeKxTXqcBuHy07SllofI6fChssPU5fYHGCk6S1w=\n",
          "holds 45 bytes of text (base64?); expected 32 to 4096 raw bytes" },
        { "3f8a0c55e2b14d7a9c06e1f2d3b4a59\n",
          "holds 32 bytes of text (hex?); expected 32 to 4096 raw bytes" },
        { "a passphrase, not a random key!\n",
          "holds 32 bytes of text; expected 32 to 4096 raw bytes" }
    };

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(test_write_file("text.key",
                                              (const uint8_t *) files[i].text,
                                              strlen(files[i].text), path,
                                              sizeof(path)),
                              0);
        err[0] = '\0';
        CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                        TSR_EKEYFILE);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, files[i].holds));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"openssl rand 32 > "));
    }

    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    tsr_keyring_destroy(kr);
}


static void
test_key_file_empty_or_over_4096_bytes_is_rejected(void)
{
    char            path[PATH_MAX], err[TEST_ERR_LEN];
    char            expect[2 * PATH_MAX + 128];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(test_in, TSR_MAX_KEY_FILE + 1, 23);

    CU_ASSERT_EQUAL_FATAL(test_write_file("big.key", test_in,
                                          TSR_MAX_KEY_FILE + 1, path,
                                          sizeof(path)),
                          0);
    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);
    (void) snprintf(expect, sizeof(expect),
                    "fleet key file \"%s\" holds 4097 bytes; expected "
                    "32 to 4096 raw bytes, as \"openssl rand 32 > %s\" makes",
                    path, path);
    CU_ASSERT_STRING_EQUAL(err, expect);

    CU_ASSERT_EQUAL_FATAL(test_write_file("empty.key", test_in, 0, path,
                                          sizeof(path)),
                          0);
    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_file(kr, path, err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "holds 0 bytes;"));

    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    tsr_keyring_destroy(kr);
}


static void
test_same_key_file_gives_same_id_in_two_rings(void)
{
    char            path[PATH_MAX], id1[9], id2[9], id3[9];
    size_t          sealedlen, openedlen;
    uint8_t         ikm[TSR_KEY_FILE_LEN];
    tsr_keyring_t  *kr1, *kr2, *kr3;

    test_fill(ikm, sizeof(ikm), 30);
    CU_ASSERT_EQUAL_FATAL(test_write_file("fleet.key", ikm, sizeof(ikm),
                                          path, sizeof(path)),
                          0);

    kr1 = tsr_keyring_create(NULL, 0);
    kr2 = tsr_keyring_create(NULL, 0);
    kr3 = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr3);

    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_file(kr1, path, NULL, 0), TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_file(kr2, path, NULL, 0), TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(kr3, ikm, sizeof(ikm), NULL,
                                              0),
                          TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_id(kr1, 0, id1), TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_id(kr2, 0, id2), TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_id(kr3, 0, id3), TSR_OK);
    CU_ASSERT_EQUAL(strlen(id1), 8);
    CU_ASSERT_EQUAL(strspn(id1, "0123456789abcdef"), 8);
    CU_ASSERT_STRING_EQUAL(id1, id2);
    CU_ASSERT_STRING_EQUAL(id1, id3);

    /* and one server opens what another sealed */

    CU_ASSERT_EQUAL_FATAL(test_seal_fixed(kr1, 200, test_sealed, &sealedlen),
                          TSR_OK);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr2, TEST_NAME, TEST_NAME_LEN, test_sealed,
                             sealedlen, test_opened, &openedlen),
                    TSR_OK);
    CU_ASSERT_EQUAL(openedlen, 200);
    CU_ASSERT(memcmp(test_opened, test_in, 200) == 0);

    tsr_keyring_destroy(kr1);
    tsr_keyring_destroy(kr2);
    tsr_keyring_destroy(kr3);
}


static void
test_different_key_files_give_different_ids(void)
{
    char            path1[PATH_MAX], path2[PATH_MAX], id1[9], id2[9];
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    tsr_keyring_t  *kr;

    test_fill(ikm, sizeof(ikm), 40);
    CU_ASSERT_EQUAL_FATAL(test_write_file("a.key", ikm, sizeof(ikm), path1,
                                          sizeof(path1)),
                          0);

    /* one bit apart */

    ikm[sizeof(ikm) - 1] ^= 1;
    CU_ASSERT_EQUAL_FATAL(test_write_file("b.key", ikm, sizeof(ikm), path2,
                                          sizeof(path2)),
                          0);

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_file(kr, path1, NULL, 0), TSR_OK);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_file(kr, path2, NULL, 0), TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 0, id1), TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 1, id2), TSR_OK);
    CU_ASSERT_STRING_NOT_EQUAL(id1, id2);

    tsr_keyring_destroy(kr);
}


static void
test_key_id_is_pinned_for_known_key(void)
{
    char            id[9];
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    size_t          i;
    tsr_keyring_t  *kr;

    /*
     * HKDF-SHA256(ikm = 00 01 .. 1f, salt "tsr-seal-v1",
     * info "tsr-seal-v1 key id"), computed with Python's hmac module:
     * servers of different versions in one fleet must agree on it.
     */

    for (i = 0; i < sizeof(ikm); i++) {
        ikm[i] = (uint8_t) i;
    }

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);
    CU_ASSERT_EQUAL_FATAL(tsr_keyring_add_key(kr, ikm, sizeof(ikm), NULL, 0),
                          TSR_OK);

    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 0, id), TSR_OK);
    CU_ASSERT_STRING_EQUAL(id, "ad330a44");

    tsr_keyring_destroy(kr);
}


static void
test_add_key_rejects_short_and_long_material(void)
{
    char            err[TEST_ERR_LEN];
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(test_in, TSR_MAX_KEY_FILE + 1, 50);

    err[0] = '\0';
    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, test_in, TSR_MIN_KEY_FILE - 1,
                                        err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_STRING_EQUAL(err, "key is 31 bytes, at least 32 are required");

    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, test_in, 0, err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, test_in, TSR_MAX_KEY_FILE + 1,
                                        err, sizeof(err)),
                    TSR_EKEYFILE);
    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, NULL, TSR_MIN_KEY_FILE, err,
                                        sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_keyring_add_key(NULL, test_in, TSR_MIN_KEY_FILE, err,
                                        sizeof(err)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 0);

    CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, test_in, TSR_MAX_KEY_FILE, err,
                                        sizeof(err)),
                    TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 1);

    tsr_keyring_destroy(kr);
}


static void
test_ring_holds_at_most_16_keys(void)
{
    char            id[9], err[TEST_ERR_LEN];
    uint8_t         ikm[TSR_MIN_KEY_FILE];
    unsigned        i;
    tsr_keyring_t  *kr;

    kr = tsr_keyring_create(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    for (i = 0; i < 16; i++) {
        test_fill(ikm, sizeof(ikm), 100 + i);
        CU_ASSERT_EQUAL(tsr_keyring_add_key(kr, ikm, sizeof(ikm), NULL, 0),
                        TSR_OK);
    }

    err[0] = '\0';
    test_fill(ikm, sizeof(ikm), 200);
    CU_ASSERT_NOT_EQUAL(tsr_keyring_add_key(kr, ikm, sizeof(ikm), err,
                                            sizeof(err)),
                        TSR_OK);
    CU_ASSERT_NOT_EQUAL(err[0], '\0');
    CU_ASSERT_EQUAL(tsr_keyring_count(kr), 16);

    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 15, id), TSR_OK);
    CU_ASSERT_EQUAL(tsr_keyring_id(kr, 16, id), TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_keyring_id(NULL, 0, id), TSR_EINVAL);

    tsr_keyring_destroy(kr);
}


static void
test_two_seals_of_same_input_differ(void)
{
    size_t          len1, len2, openedlen;
    uint8_t         first[100 + TSR_SEAL_OVERHEAD];
    tsr_keyring_t  *kr;

    kr = test_ring(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kr);

    test_fill(test_in, 100, 60);

    len1 = sizeof(first);
    CU_ASSERT_EQUAL_FATAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, 100,
                                   first, &len1),
                          TSR_OK);
    len2 = sizeof(test_sealed);
    CU_ASSERT_EQUAL_FATAL(tsr_seal(kr, TEST_NAME, TEST_NAME_LEN, test_in, 100,
                                   test_sealed, &len2),
                          TSR_OK);

    CU_ASSERT_EQUAL(len1, len2);

    /* same header, fresh nonce, so different ciphertext and tag */

    CU_ASSERT(memcmp(first, test_sealed, 9) == 0);
    CU_ASSERT(memcmp(first + 9, test_sealed + 9, 12) != 0);
    CU_ASSERT(memcmp(first + 21, test_sealed + 21, len1 - 21) != 0);

    openedlen = sizeof(test_opened);
    CU_ASSERT_EQUAL(tsr_open(kr, TEST_NAME, TEST_NAME_LEN, first, len1,
                             test_opened, &openedlen),
                    TSR_OK);

    tsr_keyring_destroy(kr);
}


static void
test_session_key_matches_known_vector(void)
{
    int            rc;
    char           out[TSR_MAX_KEY_NAME + 1], expect[TSR_MAX_KEY_NAME + 1];
    char           hex[2 * SHA256_DIGEST_LENGTH + 1];
    size_t         i;
    uint8_t        md[SHA256_DIGEST_LENGTH], id[TSR_MAX_SESSION_ID];

    static const uint8_t  sid_ctx[] = "nginx";
    static const uint8_t  short_id[] = { 0x00, 0x01, 0xab, 0xff };

    /* first 16 hex digits of SHA-256("nginx"), also checked by hand */

    (void) SHA256(sid_ctx, sizeof(sid_ctx) - 1, md);

    for (i = 0; i < sizeof(md); i++) {
        (void) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }

    CU_ASSERT(strncmp(hex, "5be1ecc7935f1dd8", 16) == 0);

    rc = tsr_session_key(NULL, sid_ctx, sizeof(sid_ctx) - 1, short_id,
                         sizeof(short_id), out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "tsr:s:5be1ecc7935f1dd8:0001abff");
    CU_ASSERT_EQUAL(rc, (int) strlen("tsr:s:5be1ecc7935f1dd8:0001abff"));

    rc = tsr_session_key("app1:", sid_ctx, sizeof(sid_ctx) - 1, short_id, 1,
                         out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "app1:s:5be1ecc7935f1dd8:00");
    CU_ASSERT_EQUAL(rc, (int) strlen(out));

    rc = tsr_session_key("", sid_ctx, sizeof(sid_ctx) - 1, short_id, 1, out,
                         sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "s:5be1ecc7935f1dd8:00");

    /* a TLS 1.3 stateful ticket id is 32 bytes */

    for (i = 0; i < sizeof(id); i++) {
        id[i] = (uint8_t) (0xe0 + i);
    }

    (void) snprintf(expect, sizeof(expect), "tsr:s:%.16s:", hex);

    for (i = 0; i < sizeof(id); i++) {
        (void) snprintf(expect + strlen(expect), 3, "%02x", id[i]);
    }

    rc = tsr_session_key(NULL, sid_ctx, sizeof(sid_ctx) - 1, id, sizeof(id),
                         out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, expect);
    CU_ASSERT_EQUAL(rc, (int) strlen(expect));
}


static void
test_session_key_rejects_bad_id_length(void)
{
    char     out[TSR_MAX_KEY_NAME + 1];
    uint8_t  id[TSR_MAX_SESSION_ID + 1];

    memset(id, 0x11, sizeof(id));

    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, id, 0,
                                    out, sizeof(out)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, id,
                                    TSR_MAX_SESSION_ID + 1, out, sizeof(out)),
                    TSR_EINVAL);
    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, NULL, 4,
                                    out, sizeof(out)),
                    TSR_EINVAL);
    CU_ASSERT(tsr_session_key(NULL, (const uint8_t *) "x", 1, id,
                              TSR_MAX_SESSION_ID, out, sizeof(out))
              > 0);
}


static void
test_session_key_rejects_small_buffer(void)
{
    int      len;
    char     out[TSR_MAX_KEY_NAME + 1];
    uint8_t  id[4] = { 1, 2, 3, 4 };

    len = tsr_session_key(NULL, (const uint8_t *) "x", 1, id, sizeof(id),
                          out, sizeof(out));
    CU_ASSERT_FATAL(len > 0);

    /* room for the name but not for its NUL */

    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, id,
                                    sizeof(id), out, (size_t) len),
                    TSR_ETOOBIG);
    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, id,
                                    sizeof(id), out, 0),
                    TSR_ETOOBIG);
    CU_ASSERT_EQUAL(tsr_session_key(NULL, (const uint8_t *) "x", 1, id,
                                    sizeof(id), out, (size_t) len + 1),
                    len);
}


static void
test_strerror_names_every_code_distinctly(void)
{
    size_t       i, j;
    const char  *s, *unknown;

    static const int  codes[] = {
        TSR_OK, TSR_NOT_FOUND, TSR_AGAIN, TSR_ERROR, TSR_ENOMEM, TSR_EINVAL,
        TSR_ECONN, TSR_ETIMEDOUT, TSR_EPROTO, TSR_ETOOBIG, TSR_ESERVER,
        TSR_EKEYFILE, TSR_SEAL_TRUNCATED, TSR_SEAL_VERSION,
        TSR_SEAL_UNKNOWN_KEY, TSR_SEAL_MOVED, TSR_SEAL_TAMPERED
    };

    unknown = tsr_strerror(-1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(unknown);
    CU_ASSERT(unknown[0] != '\0');

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        s = tsr_strerror(codes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT(s[0] != '\0');
        CU_ASSERT_STRING_NOT_EQUAL(s, unknown);

        for (j = 0; j < i; j++) {
            CU_ASSERT_STRING_NOT_EQUAL(s, tsr_strerror(codes[j]));
        }
    }
}


static void
test_destroy_null_does_nothing(void)
{
    tsr_keyring_destroy(NULL);
    CU_ASSERT_EQUAL(tsr_keyring_count(NULL), 0);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(seal_then_open_returns_same_bytes),
        TSR_TEST(seal_rejects_input_over_max_session),
        TSR_TEST(open_accepts_envelope_of_reference_implementation),
        TSR_TEST(open_rejects_every_truncated_length),
        TSR_TEST(open_rejects_cut_tag),
        TSR_TEST(open_rejects_unknown_version),
        TSR_TEST(open_rejects_value_sealed_under_foreign_key),
        TSR_TEST(open_rejects_value_moved_to_another_name),
        TSR_TEST(open_reports_each_flipped_bit_by_field),
        TSR_TEST(open_wipes_output_on_failure),
        TSR_TEST(seal_and_open_reject_small_output_buffer),
        TSR_TEST(seal_and_open_reject_empty_ring),
        TSR_TEST(rotated_ring_opens_old_values_and_seals_with_new_key),
        TSR_TEST(key_file_missing_is_rejected_naming_the_file),
        TSR_TEST(key_file_directory_is_rejected_naming_the_file),
        TSR_TEST(key_file_unreadable_is_rejected),
        TSR_TEST(key_file_of_31_bytes_is_rejected_naming_the_file),
        TSR_TEST(key_file_of_32_to_4096_raw_bytes_is_accepted),
        TSR_TEST(key_file_of_text_is_rejected_naming_what_it_holds),
        TSR_TEST(key_file_empty_or_over_4096_bytes_is_rejected),
        TSR_TEST(same_key_file_gives_same_id_in_two_rings),
        TSR_TEST(different_key_files_give_different_ids),
        TSR_TEST(key_id_is_pinned_for_known_key),
        TSR_TEST(add_key_rejects_short_and_long_material),
        TSR_TEST(ring_holds_at_most_16_keys),
        TSR_TEST(two_seals_of_same_input_differ),
        TSR_TEST(session_key_matches_known_vector),
        TSR_TEST(session_key_rejects_bad_id_length),
        TSR_TEST(session_key_rejects_small_buffer),
        TSR_TEST(strerror_names_every_code_distinctly),
        TSR_TEST(destroy_null_does_nothing)
    };

    return TSR_TEST_MAIN("seal", test_suite_init, test_suite_cleanup, tests);
}
