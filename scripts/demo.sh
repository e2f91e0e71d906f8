#!/usr/bin/env bash
# Sets everything up, builds, and runs the live demo: a private Redis and
# two nginx nodes on loopback, TLS clients resuming sessions across them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
./autogen.sh > /dev/null 2>&1 || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure -q
make -j"$(nproc)" > make.log 2>&1 || { tail -40 make.log; exit 1; }
make -s demo
