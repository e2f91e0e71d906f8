#!/usr/bin/env bash
# Sets everything up and runs every test: the suites by feature ("make
# check"), the soak suites and the ASan pass ("make check-long": the fault
# table, nginx under valgrind, libFuzzer, then make check and make
# check-long again with the library, the tests and the nginx modules built
# under AddressSanitizer and UndefinedBehaviorSanitizer in build/asan), the
# nginx matrix when ../shared/nginx exists and the Debian packages as root.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
./autogen.sh > /dev/null 2>&1 || ./autogen.sh

run_suite() {
    local dir=$1
    shift
    echo "== $dir: configure $* && make check"
    rm -rf "$dir"
    mkdir -p "$dir"
    (
        cd "$dir"
        ../configure -q "$@"
        make -j"$(nproc)" > make.log 2>&1 || { tail -40 make.log; exit 1; }
        # one test program at a time: several of them measure latency and
        # race real daemons, and the machines may have two cores
        make check VERBOSE=1
    )
}

run_suite build

# the soak suites, then the ASan pass (build/asan)
echo "== build: make check-long"
(cd build && make check-long VERBOSE=1)

# the nginx versions operators run, when their sources are at hand
# (tests/compat/check-nginx.sh: 10 to 12 min cold on 2 cores: 5 versions
# dynamic + the newest static, 46 steps with HTTP/3 from 1.25 on)
if [ -d ../shared/nginx ]; then
    sources=$(cd ../shared/nginx && pwd)
    echo "== build: make check-nginx NGINX_SOURCES=$sources"
    (cd build && make check-nginx NGINX_SOURCES="$sources")
fi

# the Debian packages, installed and removed again: needs root
if [ "$(id -u)" -eq 0 ]; then
    echo "== build: make check-deb"
    (cd build && make check-deb)
fi

echo "all tests passed"
