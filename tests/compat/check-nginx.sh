#!/bin/sh
# check-nginx.sh NGINX_SOURCES BUILDDIR: for each nginx-*.tar.gz in
# NGINX_SOURCES, builds it dynamic and static (build-nginx.sh) and runs
# tests/integration/test_http and test_stream against each build, one
# line per version, mode and step.  Each test run is bounded (240 s).

srcs=$1
bld=$2
here=$(cd "$(dirname "$0")" && pwd)
out="$bld/tests/compat"
mkdir -p "$out"

for t in "$srcs"/nginx-*.tar.gz; do
    v=$(basename "$t" .tar.gz)
    v=${v#nginx-}

    for mode in dynamic static; do
        dir="$out/$v-$mode"
        start=$(date +%s)

        if "$here/build-nginx.sh" "$t" "$dir" $mode; then
            echo "nginx $v $mode  build ok ($(( $(date +%s) - start ))s)"
        else
            echo "nginx $v $mode  build FAILED (see $dir/make.log)"
            continue
        fi

        for test in test_http test_stream; do
            tmp="$out/tmp-$v-$mode-$test"
            rm -rf "$tmp"; mkdir -p "$tmp"
            start=$(date +%s)
            TSR_NGINX="$dir/objs/nginx" TSR_MODULES="$dir/objs" \
            TSR_DISTRO_MODULES=none \
            TSR_STATIC=$( [ $mode = static ] && echo 1 || echo 0 ) \
            TSR_REDIS_SERVER=$(command -v redis-server) \
            TSR_REDIS_CLI=$(command -v redis-cli) \
            TSR_SRCDIR="$here/../.." TSR_TMPDIR="$tmp" \
            TSR_ADMIN="$bld/tools/tsr-admin" \
            timeout 240 "$bld/tests/integration/$test" \
                > "$out/$v-$mode-$test.log" 2>&1
            rc=$?
            sum=$(awk '$1 == "tests" { print $4 "/" $3 " passed" }' \
                  "$out/$v-$mode-$test.log")
            echo "nginx $v $mode  $test rc=$rc ${sum:-no summary}" \
                 "($(( $(date +%s) - start ))s)"
        done
    done
done
