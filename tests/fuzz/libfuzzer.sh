#!/bin/sh
#
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and
# UBSan over the core's own sources, and runs each for FUZZ_TIME seconds
# (default 30) on its seed corpus; new inputs go to tests/fuzz/work/NAME,
# crashes to tests/fuzz/work/NAME-crash-*.  Run from the build tree, as
# make check and make fuzz do:
#
#     tests/fuzz/libfuzzer.sh [NAME...]        hello open reply tickets
#
# Without clang's libFuzzer (Debian: clang, libclang-rt-14-dev) it says
# so and exits 77, which make check reports as a skip.

set -u

srcdir=${TSR_SRCDIR:-${srcdir:-.}}
cc=${FUZZ_CC:-clang}
time=${FUZZ_TIME:-30}
cflags=${FUZZ_CFLAGS:--g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined}
work=tests/fuzz/work
names=${*:-hello open reply tickets}

skip() {
    echo "libfuzzer: $1: skipping the libFuzzer runs" \
         "(apt-get install clang libclang-rt-14-dev)"
    exit 77
}

command -v "$cc" >/dev/null 2>&1 || skip "$cc not found"

mkdir -p "$work" || exit 1

echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)
{ return d == 0 && n > 0; }' > "$work/probe.c"
"$cc" $cflags "$work/probe.c" -o "$work/probe" >/dev/null 2>&1 \
    || skip "$cc cannot link -fsanitize=fuzzer"
rm -f "$work/probe" "$work/probe.c"

libs=$(pkg-config --libs libssl libcrypto hiredis) || exit 1
incs=$(pkg-config --cflags libssl libcrypto hiredis) || exit 1

# the core as the library builds it: every module/tsr/*.c, and the
# embedded Redis scripts generated into the build tree
scripts=module/tsr/tsr_scripts.c
core=

for f in "$srcdir"/module/tsr/*.c; do
    case $f in
    */tsr_scripts.c) ;;
    *) core="$core $f" ;;
    esac
done

if [ ! -f "$scripts" ]; then
    echo "libfuzzer: $scripts is missing: run make first"
    exit 1
fi

status=0

# the core once, instrumented for every target (rebuilt when changed)
mkdir -p "$work/core" || exit 1
objs=
nolink=$(echo "$cflags" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/')

for f in $core "$scripts"; do
    o="$work/core/$(basename "$f" .c).o"
    objs="$objs $o"

    if [ ! -f "$o" ] || [ -n "$(find "$f" "$srcdir"/module/tsr/*.h -newer "$o" \
            2>/dev/null | head -1)" ]; then
        # shellcheck disable=SC2086
        if ! "$cc" $nolink -I"$srcdir/module/tsr" -Imodule/tsr $incs \
                -c "$f" -o "$o" > "$work/core.build.log" 2>&1; then
            cat "$work/core.build.log"
            echo "libfuzzer: building $o failed"
            exit 1
        fi
    fi
done

for name in $names; do
    src="$srcdir/tests/fuzz/fuzz_$name.c"
    bin="tests/fuzz/fuzz_${name}_libfuzzer"
    corpus="$srcdir/tests/fuzz/corpus/$name"

    if [ ! -f "$src" ] || [ ! -d "$corpus" ]; then
        echo "libfuzzer: no target \"$name\""
        status=1
        continue
    fi

    # relinked when the target or any core object is newer than it
    if [ ! -x "$bin" ] || [ -n "$(find "$src" $objs -newer "$bin" \
            2>/dev/null | head -1)" ]; then
        echo "libfuzzer: building $bin"
        # shellcheck disable=SC2086
        if ! "$cc" $cflags -I"$srcdir/module/tsr" -I"$srcdir/tests/fuzz" \
                -Imodule/tsr $incs "$src" $objs $libs -o "$bin" \
                > "$work/$name.build.log" 2>&1; then
            cat "$work/$name.build.log"
            echo "libfuzzer: building $bin failed"
            status=1
            continue
        fi
    fi

    mkdir -p "$work/$name"
    rm -f "$work/$name-crash-"* "$work/$name-leak-"* "$work/$name-oom-"* \
          "$work/$name-timeout-"*

    echo "libfuzzer: $name for $time s"

    # bounded twice: libFuzzer's own clock, and a watchdog around it
    timeout -k 10 $((time + 120)) "./$bin" -max_total_time="$time" \
        -timeout=10 -rss_limit_mb=2048 -max_len=20000 -print_final_stats=1 \
        -artifact_prefix="$work/$name-" "$work/$name" "$corpus" \
        > "$work/$name.log" 2>&1
    rc=$?

    # the run's figures: executions, speed, coverage, corpus
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
        "$work/$name.log" | sed "s/^/libfuzzer: $name: /"
    grep -E '^#[0-9]+.*DONE' "$work/$name.log" | tail -1 \
        | sed "s/^/libfuzzer: $name: /"

    if [ $rc -ne 0 ]; then
        tail -40 "$work/$name.log"
        ls "$work/$name-"* 2>/dev/null
        echo "libfuzzer: $name FAILED (exit $rc), log in $work/$name.log"
        status=1
    fi
done

exit $status
