#!/usr/bin/env bash
# Lists every CUnit test of the built test programs with the number of
# assertions it ran: docs/testing-inventory.md is made with it.
#
#   scripts/test-inventory.sh BUILDDIR OUT.tsv [PROGRAM...]
#
# Each program runs as make check runs it (the AM_TESTS_ENVIRONMENT
# variables), under an LD_PRELOAD shim that wraps CUnit's CU_add_test()
# (to list tests, even those without assertions) and
# CU_assertImplementation() (to count assertions by the running test).
# OUT.tsv gets one line per test: program, test, assertions, and the
# program's exit status and run time on its first line for that program.
# Without PROGRAM arguments it runs every CUnit program of the source
# tree (tests/unit, tests/integration).  TSR_SRCDIR and TSR_MODULES may
# point elsewhere (an older checkout, another build's modules).
set -euo pipefail

builddir=$(cd "$1" && pwd)
out=$2
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
#include <unistd.h>
#include <CUnit/CUnit.h>

CU_pTest CU_get_current_test(void);

#define MAX_TESTS  1024

static char      *names[MAX_TESTS];
static CU_pTest   tests[MAX_TESTS];
static unsigned   counts[MAX_TESTS];
static unsigned   ntests;
static pid_t      owner;

CU_pTest
CU_add_test(CU_pSuite suite, const char *name, CU_TestFunc fn)
{
    static CU_pTest (*real)(CU_pSuite, const char *, CU_TestFunc);
    CU_pTest  t;

    if (real == NULL) {
        real = (CU_pTest (*)(CU_pSuite, const char *, CU_TestFunc))
            dlsym(RTLD_NEXT, "CU_add_test");
    }

    owner = getpid();
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
    const char  *path, *prog;
    FILE        *f;
    unsigned     i;

    path = getenv("CU_COUNT_OUT");
    prog = getenv("CU_COUNT_PROG");
    if (path == NULL || prog == NULL || ntests == 0 || owner != getpid()) {
        return;
    }

    f = fopen(path, "a");
    if (f == NULL) {
        return;
    }

    for (i = 0; i < ntests; i++) {
        fprintf(f, "%s\t%s\t%u\n", prog, names[i], counts[i]);
    }

    fclose(f);
}
C
cc -shared -fPIC -O1 -o "$work/cu_count.so" "$work/cu_count.c" -ldl

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

: > "$out"
for prog in "$@"; do
    [ -x "$builddir/$prog" ] || { echo "skip $prog: not built" >&2; continue; }
    start=$(date +%s)
    rc=0
    (cd "$builddir" && CU_COUNT_OUT="$work/counts" CU_COUNT_PROG="$prog" \
        LD_PRELOAD="$work/cu_count.so" "./$prog" \
        > "$work/$(basename "$prog").log" 2>&1) || rc=$?
    end=$(date +%s)
    echo "# $prog exit=$rc seconds=$((end - start))" >> "$out"
    grep -P "^\Q$prog\E\t" "$work/counts" >> "$out" || true
    echo "$prog: exit $rc, $((end - start)) s" >&2
done
