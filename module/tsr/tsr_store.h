
#ifndef TSR_STORE_H_INCLUDED
#define TSR_STORE_H_INCLUDED

#include "tsr.h"

#endif
