
#ifndef TSR_SSL_H_INCLUDED
#define TSR_SSL_H_INCLUDED

#include "tsr.h"

#endif
