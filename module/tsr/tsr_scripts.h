
/*
 * Redis scripts (redis-scripts/NAME.lua), embedded at build time by
 * tools/embed-scripts.sh into the generated tsr_scripts.c.  Callers load
 * them with SCRIPT LOAD, run them with EVALSHA and load them again on
 * NOSCRIPT; the SHA-1 that EVALSHA needs is computed at run time.
 */


#ifndef TSR_SCRIPTS_H_INCLUDED
#define TSR_SCRIPTS_H_INCLUDED


#include <stddef.h>

#include "tsr_util.h"



typedef struct {
    const char  *name;              /* file name without ".lua" */
    const char  *source;
    size_t       len;
} tsr_script_t;


extern const tsr_script_t  tsr_scripts[] TSR_HIDDEN;
extern const size_t        tsr_nscripts TSR_HIDDEN;


#endif /* TSR_SCRIPTS_H_INCLUDED */
