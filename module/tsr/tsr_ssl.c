
/*
 * placeholder until written
 */

#include "tsr_ssl.h"

int tsr_ssl_placeholder_;
