
#include "tsr_test.h"

int tsr_test_nginx_placeholder_;
