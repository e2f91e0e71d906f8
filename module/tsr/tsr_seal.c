
/*
 * placeholder until written
 */

#include "tsr_seal.h"

int tsr_seal_placeholder_;
