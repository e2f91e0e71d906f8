
/*
 * The core's shared helpers (tsr_util.c, hidden in libtsr, so compiled
 * in here): the error formatter, the OpenSSL error queue's description,
 * the clocks.
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include <CUnit/Basic.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "tsr_util.h"
#include "tsr_test.h"


static void test_errf_formats_and_truncates_with_a_terminator(void);
static void test_errf_ignores_a_missing_buffer(void);
static void test_err_openssl_describes_the_last_entry_and_clears(void);
static void test_err_openssl_on_an_empty_queue_says_so(void);
static void test_monotonic_clocks_agree_and_never_go_back(void);
static void test_unix_ms_is_the_wall_clock(void);


static void
test_errf_formats_and_truncates_with_a_terminator(void)
{
    char  buf[8];

    tsr_errf(buf, sizeof(buf), "%s %d", "ab", 12);
    CU_ASSERT_STRING_EQUAL(buf, "ab 12");

    memset(buf, 'x', sizeof(buf));
    tsr_errf(buf, sizeof(buf), "%s", "a message longer than the buffer");
    CU_ASSERT_EQUAL(buf[sizeof(buf) - 1], '\0');
    CU_ASSERT_STRING_EQUAL(buf, "a messa");
}


static void
test_errf_ignores_a_missing_buffer(void)
{
    char  buf[4];

    tsr_errf(NULL, 16, "%s", "nothing");

    buf[0] = 'k';
    tsr_errf(buf, 0, "%s", "nothing");
    CU_ASSERT_EQUAL(buf[0], 'k');
}


static void
test_err_openssl_describes_the_last_entry_and_clears(void)
{
    char  buf[256];

    ERR_clear_error();

    /* an unknown cipher: EVP_CIPHER_fetch() leaves an entry */
    CU_ASSERT_PTR_NULL(EVP_CIPHER_fetch(NULL, "no-such-cipher", NULL));
    CU_ASSERT_NOT_EQUAL(ERR_peek_last_error(), 0);

    CU_ASSERT_EQUAL(tsr_err_openssl(buf, sizeof(buf)), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "error:"));
    CU_ASSERT_EQUAL(ERR_peek_error(), 0);
}


static void
test_err_openssl_on_an_empty_queue_says_so(void)
{
    char  buf[64];

    ERR_clear_error();

    CU_ASSERT_EQUAL(tsr_err_openssl(buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "no OpenSSL error reported");
}


static void
test_monotonic_clocks_agree_and_never_go_back(void)
{
    int       i;
    int64_t   ms, prev_ms;
    uint64_t  us, prev_us;

    prev_ms = tsr_now_ms();
    prev_us = tsr_now_us();

    CU_ASSERT(prev_ms > 0);

    /* one clock: microseconds over 1000 are the milliseconds, give or take */
    CU_ASSERT((int64_t) (prev_us / 1000) - prev_ms <= 1);
    CU_ASSERT((int64_t) (prev_us / 1000) - prev_ms >= -1);

    for (i = 0; i < 1000; i++) {
        ms = tsr_now_ms();
        us = tsr_now_us();

        if (ms < prev_ms || us < prev_us) {
            break;
        }

        prev_ms = ms;
        prev_us = us;
    }

    CU_ASSERT_EQUAL(i, 1000);
}


static void
test_unix_ms_is_the_wall_clock(void)
{
    uint64_t  ms, sec;

    sec = (uint64_t) time(NULL);
    ms = tsr_unix_ms();

    CU_ASSERT(ms / 1000 >= sec);
    CU_ASSERT(ms / 1000 <= sec + 1);
}


int
main(void)
{
    static const tsr_test_t  tests[] = {
        TSR_TEST(errf_formats_and_truncates_with_a_terminator),
        TSR_TEST(errf_ignores_a_missing_buffer),
        TSR_TEST(err_openssl_describes_the_last_entry_and_clears),
        TSR_TEST(err_openssl_on_an_empty_queue_says_so),
        TSR_TEST(monotonic_clocks_agree_and_never_go_back),
        TSR_TEST(unix_ms_is_the_wall_clock)
    };

    return TSR_TEST_MAIN("util", NULL, NULL, tests);
}
