#!/usr/bin/env bash
# Lists every CUnit test of the built test programs with the number of
# assertions it ran: docs/testing-inventory.md is made with it.
#
#   scripts/test-inventory.sh BUILDDIR OUT.tsv [PROGRAM...]
#   scripts/test-inventory.sh --make BUILDDIR OUT.tsv [MAKE ARGS...]
#
# The first form runs each program as make check runs it (the
# AM_TESTS_ENVIRONMENT variables); the second runs "make MAKE ARGS" in
# BUILDDIR (make check, say) and records what its test programs ran.
# Either way the programs run under an LD_PRELOAD shim that wraps CUnit's
# CU_add_test() (to list tests, even those without assertions) and
# CU_assertImplementation() (to count assertions by the running test).
# OUT.tsv gets one line per test: program, test, assertions; and a
# "# program seconds=N" line per program (from its first CU_add_test()
# to its exit).  Without PROGRAM arguments the first form runs every
# CUnit program of the source tree (tests/unit, tests/integration).
# TSR_SRCDIR and TSR_MODULES may point elsewhere (an older checkout,
# another build's modules).
set -euo pipefail

mode=run
if [ "${1:-}" = --make ]; then
    mode=make
    shift
fi

builddir=$(cd "$1" && pwd)
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
srcdir=${TSR_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/cu_count.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <CUnit/CUnit.h>

CU_pTest CU_get_current_test(void);

#define MAX_TESTS  1024

static char      *names[MAX_TESTS];
static CU_pTest   tests[MAX_TESTS];
static unsigned   counts[MAX_TESTS];
static unsigned   ntests;
static pid_t      owner;
static struct timespec  started;

CU_pTest
CU_add_test(CU_pSuite suite, const char *name, CU_TestFunc fn)
{
    static CU_pTest (*real)(CU_pSuite, const char *, CU_TestFunc);
    CU_pTest  t;

    if (real == NULL) {
        real = (CU_pTest (*)(CU_pSuite, const char *, CU_TestFunc))
            dlsym(RTLD_NEXT, "CU_add_test");
    }

    if (owner != getpid()) {
        owner = getpid();
        clock_gettime(CLOCK_MONOTONIC, &started);
    }

    t = real(suite, name, fn);
    if (t != NULL && ntests < MAX_TESTS) {
        names[ntests] = strdup(name);
        tests[ntests++] = t;
    }

    return t;
}

CU_BOOL
CU_assertImplementation(CU_BOOL value, unsigned int line,
    const char *condition, const char *file, const char *function,
    CU_BOOL fatal)
{
    static CU_BOOL (*real)(CU_BOOL, unsigned int, const char *,
                           const char *, const char *, CU_BOOL);
    CU_pTest  cur;
    unsigned  i;

    if (real == NULL) {
        real = (CU_BOOL (*)(CU_BOOL, unsigned int, const char *,
                            const char *, const char *, CU_BOOL))
            dlsym(RTLD_NEXT, "CU_assertImplementation");
    }

    cur = CU_get_current_test();
    for (i = 0; i < ntests; i++) {
        if (tests[i] == cur) {
            counts[i]++;
            break;
        }
    }

    return real(value, line, condition, file, function, fatal);
}

__attribute__((destructor)) static void
dump(void)
{
    char             exe[4096], *prog, *p;
    ssize_t          n;
    const char      *path;
    FILE            *f;
    unsigned         i;
    struct timespec  now;

    path = getenv("CU_COUNT_OUT");
    if (path == NULL || ntests == 0 || owner != getpid()) {
        return;
    }

    /* tests/unit/.libs/lt-test_x or tests/unit/test_x, from the build */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return;
    }

    exe[n] = '\0';
    prog = strstr(exe, "/tests/");
    prog = (prog != NULL) ? prog + 1 : exe;
    p = strstr(prog, ".libs/");
    if (p != NULL) {
        memmove(p, p + 6, strlen(p + 6) + 1);
    }

    p = strstr(prog, "/lt-");
    if (p != NULL) {
        memmove(p + 1, p + 4, strlen(p + 4) + 1);
    }

    clock_gettime(CLOCK_MONOTONIC, &now);

    f = fopen(path, "a");
    if (f == NULL) {
        return;
    }

    fprintf(f, "# %s seconds=%ld\n", prog, (long) (now.tv_sec - started.tv_sec));

    for (i = 0; i < ntests; i++) {
        fprintf(f, "%s\t%s\t%u\n", prog, names[i], counts[i]);
    }

    fclose(f);
}
C
cc -shared -fPIC -O1 -o "$work/cu_count.so" "$work/cu_count.c" -ldl

export CU_COUNT_OUT=$work/counts
: > "$CU_COUNT_OUT"

if [ "$mode" = make ]; then
    rc=0
    (cd "$builddir" && LD_PRELOAD="$work/cu_count.so" make "$@") || rc=$?
    cp "$CU_COUNT_OUT" "$out"
    echo "make $*: exit $rc" >&2
    exit $rc
fi

if [ $# -eq 0 ]; then
    set -- $(cd "$srcdir" && ls tests/unit/test_*.c tests/integration/test_*.c \
        | sed 's|\.c$||')
fi

export TSR_NGINX=${TSR_NGINX:-/usr/sbin/nginx}
export TSR_REDIS_SERVER=${TSR_REDIS_SERVER:-/usr/bin/redis-server}
export TSR_REDIS_CLI=${TSR_REDIS_CLI:-/usr/bin/redis-cli}
export TSR_MODULES=${TSR_MODULES:-$builddir/nginx-build/objs}
export TSR_SRCDIR=$srcdir
export TSR_TMPDIR=$builddir/tests/tmp
export TSR_ASAN=${TSR_ASAN:-no}
export TSR_ADMIN=$builddir/tools/tsr-admin
mkdir -p "$TSR_TMPDIR"

for prog in "$@"; do
    [ -x "$builddir/$prog" ] || { echo "skip $prog: not built" >&2; continue; }
    rc=0
    (cd "$builddir" && LD_PRELOAD="$work/cu_count.so" "./$prog" \
        > "$work/log" 2>&1) || rc=$?
    echo "$prog: exit $rc" >&2
done

cp "$CU_COUNT_OUT" "$out"
