
/*
 * Test helpers, the CUnit main of every test program: one suite from a
 * table of tests, the subset TSR_TEST_ONLY names, the output mode and
 * the exit status.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "tsr_test.h"


static int tsr_test_selected(const char *name, const char *only);


/*
 * "only" is a comma-separated list of substrings; a test runs when its
 * name contains one of them.
 */
static int
tsr_test_selected(const char *name, const char *only)
{
    size_t       len;
    char         part[256];
    const char  *p, *end;

    for (p = only; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }

        len = (size_t) (end - p);
        if (len == 0 || len >= sizeof(part)) {
            continue;
        }

        memcpy(part, p, len);
        part[len] = '\0';

        if (strstr(name, part) != NULL) {
            return 1;
        }
    }

    return 0;
}


int
tsr_test_main(const char *suite_name, int (*init)(void), int (*clean)(void),
    const tsr_test_t *tests, size_t n)
{
    int                rc;
    size_t             i, added;
    CU_pSuite          suite;
    const char        *only, *quiet, *list;
    CU_RunSummary     *sum;

    only = getenv("TSR_TEST_ONLY");
    if (only == NULL || only[0] == '\0') {
        /* the name test_faults documented first */
        only = getenv("TSR_FAULT_ONLY");
    }

    if (only != NULL && only[0] == '\0') {
        only = NULL;
    }

    list = getenv("TSR_TEST_LIST");
    if (list != NULL && list[0] != '\0' && strcmp(list, "0") != 0) {
        for (i = 0; i < n; i++) {
            if (only == NULL || tsr_test_selected(tests[i].name, only)) {
                printf("%s: %s\n", suite_name, tests[i].name);
            }
        }

        return 0;
    }

    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CU_initialize_registry() failed\n");
        return 1;
    }

    suite = CU_add_suite(suite_name, init, clean);
    if (suite == NULL) {
        fprintf(stderr, "CU_add_suite(\"%s\") failed\n", suite_name);
        goto failed;
    }

    added = 0;

    for (i = 0; i < n; i++) {
        if (only != NULL && !tsr_test_selected(tests[i].name, only)) {
            continue;
        }

        if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL) {
            fprintf(stderr, "CU_add_test(\"%s\") failed\n", tests[i].name);
            goto failed;
        }

        added++;
    }

    if (added == 0) {
        /* a typo in TSR_TEST_ONLY must not pass as a green run */
        fprintf(stderr, "%s: no test name contains \"%s\" (TSR_TEST_ONLY)\n",
                suite_name, only != NULL ? only : "");
        goto failed;
    }

    quiet = getenv("TSR_TEST_QUIET");

    CU_basic_set_mode((quiet != NULL && quiet[0] != '\0'
                       && strcmp(quiet, "0") != 0)
                      ? CU_BRM_NORMAL : CU_BRM_VERBOSE);

    if (CU_basic_run_tests() != CUE_SUCCESS) {
        fprintf(stderr, "CU_basic_run_tests() failed: %s\n",
                CU_get_error_msg());
        goto failed;
    }

    sum = CU_get_run_summary();

    /*
     * CU_get_error() reports only framework errors: the verdict is the
     * failed assertions, tests and suites (an init that fails).
     */
    rc = (CU_get_number_of_failures() != 0 || sum->nTestsFailed != 0
          || sum->nSuitesFailed != 0) ? 1 : 0;

    CU_cleanup_registry();

    return rc;

failed:

    CU_cleanup_registry();

    return 1;
}
