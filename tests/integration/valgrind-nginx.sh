#!/bin/sh
#
# The distro nginx under valgrind memcheck, for
# tests/integration/test_valgrind: set as TSR_NGINX, it runs
# TSR_VALGRIND_NGINX (the real binary) with the arguments it is given and
# writes valgrind's report to TSR_VALGRIND_LOG.  Definite leaks count as
# errors; nginx's own known reports are suppressed by valgrind.supp.

dir=$(dirname "$0")

exec valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=40 --child-silent-after-fork=yes \
    --suppressions="$dir/valgrind.supp" \
    --log-file="${TSR_VALGRIND_LOG:-valgrind.log}" \
    "${TSR_VALGRIND_NGINX:-/usr/sbin/nginx}" "$@"
