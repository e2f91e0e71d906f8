
#include "tsr_test.h"

int tsr_test_tls_placeholder_;
