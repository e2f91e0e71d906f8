
#ifndef _NGX_SSL_SESSION_REDIS_H_INCLUDED_
#define _NGX_SSL_SESSION_REDIS_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "tsr.h"

#endif
