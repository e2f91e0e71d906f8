
/*
 * The core's shared helpers (tsr_util.h): error formatting, OpenSSL's
 * error queue, clocks.
 */


#include "tsr_util.h"

#include <stdio.h>
#include <time.h>

#include <openssl/err.h>


void
tsr_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tsr_verrf(err, errlen, fmt, args);
    va_end(args);
}


void
tsr_verrf(char *err, size_t errlen, const char *fmt, va_list args)
{
    if (err == NULL || errlen == 0) {
        return;
    }

    (void) vsnprintf(err, errlen, fmt, args);
}


int
tsr_err_openssl(char *buf, size_t len)
{
    unsigned long  e;

    e = ERR_peek_last_error();

    if (e != 0) {
        ERR_error_string_n(e, buf, len);

    } else {
        (void) snprintf(buf, len, "no OpenSSL error reported");
    }

    ERR_clear_error();

    return e != 0;
}


int64_t
tsr_now_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


uint64_t
tsr_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}


uint64_t
tsr_unix_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}
