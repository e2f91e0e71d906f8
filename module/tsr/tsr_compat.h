
/*
 * OpenSSL version differences.  The core is written against OpenSSL 3:
 * HKDF comes from EVP_KDF and ciphers are fetched once per key ring, so
 * that nothing on the handshake path does an implicit algorithm lookup.
 */


#ifndef TSR_COMPAT_H_INCLUDED
#define TSR_COMPAT_H_INCLUDED


#include <openssl/opensslv.h>


#if (OPENSSL_VERSION_NUMBER < 0x30000000L)
#error "libtsr needs OpenSSL 3.0 or later (EVP_KDF, EVP_CIPHER_fetch)"
#endif


#endif /* TSR_COMPAT_H_INCLUDED */
