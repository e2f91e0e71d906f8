#!/bin/sh
#
# make check's run of the benchmark: one short repetition of every case
# (no memory test) at 8 connections in flight (2 client processes x 4
# non-blocking connections), checked for what does not depend on the
# machine's speed: Redis commands per handshake and cross-node resumption
# (tsr-bench-run -C).  Ratios of speed, and the levels 1 and 64, are for
# make bench on a quiet machine, not for a test.

set -u

out=tests/tmp/bench-smoke

exec ./tests/bench/tsr-bench-run -b ./tests/bench/tsr-bench -o "$out" \
    -r 1 -t 1 -m 0 -c 2 -i 8 -C
