
#include "ngx_ssl_session_redis.h"

int ngx_ssl_session_redis_placeholder_;
