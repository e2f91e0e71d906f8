
#ifndef TSR_SEAL_H_INCLUDED
#define TSR_SEAL_H_INCLUDED

#include "tsr.h"

#endif
