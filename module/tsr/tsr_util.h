
/*
 * One helper of each kind for every file of the core: the attribute
 * macros, the error formatter, the clocks, and the allocation family.
 * Nothing here is part of libtsr's interface.
 *
 * Memory: the core allocates with OpenSSL's family only (OPENSSL_malloc,
 * OPENSSL_zalloc, OPENSSL_realloc, OPENSSL_strdup, OPENSSL_strndup,
 * OPENSSL_free), and frees anything that held a secret (a password, a
 * session, a key, a command carrying either) with OPENSSL_clear_free()
 * or after OPENSSL_cleanse().  One family, because it is the one that
 * can wipe, it follows the memory hooks an embedder installs with
 * CRYPTO_set_mem_functions(), and the OpenSSL-facing code (sessions,
 * ticket keys, sealing) needs it anyway; mixing it with malloc() would
 * make every free a question of origin.  What hiredis allocates (its
 * reader, redisReply, formatted commands) stays hiredis' and is freed
 * with hiredis' functions (freeReplyObject(), redisFreeCommand()).
 */


#ifndef TSR_UTIL_H_INCLUDED
#define TSR_UTIL_H_INCLUDED


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include <openssl/crypto.h>


#if defined(__GNUC__) || defined(__clang__)
#define TSR_PRINTF(fmt, args)  __attribute__((format(printf, fmt, args)))
#define TSR_HIDDEN             __attribute__((visibility("hidden")))
#else
#define TSR_PRINTF(fmt, args)
#define TSR_HIDDEN
#endif


/*
 * Formats into err (errlen bytes, always terminated, truncated if too
 * long); does nothing when err is NULL or errlen is 0, so constructors
 * may pass their caller's optional buffer straight through.
 */
TSR_HIDDEN void tsr_errf(char *err, size_t errlen, const char *fmt, ...)
    TSR_PRINTF(3, 4);
TSR_HIDDEN void tsr_verrf(char *err, size_t errlen, const char *fmt,
    va_list args) TSR_PRINTF(3, 0);

/*
 * Describes the last entry of the thread's OpenSSL error queue in buf
 * ("no OpenSSL error reported" when empty) and clears the queue, as every
 * failure path must.  Returns 1 when there was an entry, 0 otherwise.
 */
TSR_HIDDEN int tsr_err_openssl(char *buf, size_t len);

/* CLOCK_MONOTONIC in milliseconds: deadlines, immune to the wall clock */
TSR_HIDDEN int64_t tsr_now_ms(void);

/* CLOCK_MONOTONIC in microseconds: latencies */
TSR_HIDDEN uint64_t tsr_now_us(void);

/* CLOCK_REALTIME in milliseconds since the epoch, the scale of Redis' TIME */
TSR_HIDDEN uint64_t tsr_unix_ms(void);


#endif /* TSR_UTIL_H_INCLUDED */
