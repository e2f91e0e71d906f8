
/*
 * OpenSSL binding of libtsr: private header.
 */


#ifndef TSR_SSL_H_INCLUDED
#define TSR_SSL_H_INCLUDED


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tsr.h"
#include "tsr_compat.h"
#include "tsr_util.h"



#endif /* TSR_SSL_H_INCLUDED */
