
/*
 * placeholder until written
 */

#include "tsr_store.h"

int tsr_store_placeholder_;
