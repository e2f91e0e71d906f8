
#include "tsr_test.h"

int tsr_test_redis_placeholder_;
