#!/bin/sh
# check-nginx.sh NGINX_SOURCES BUILDDIR
#
# The compatibility matrix: every nginx-*.tar.gz in NGINX_SOURCES is built
# with the modules (build-nginx.sh, cached in BUILDDIR/tests/compat) and
# the compat suite runs against each build, one line per version, mode
# and step:
#
#   http-cross-node    TLS 1.2 ids, TLS 1.3 stateful; 2 nodes, 1 Redis
#   stream-cross-node  the same over stream
#   sni                sessions resume under their own server name only
#   fleet-tickets      fleet ticket keys resume across nodes, http, stream
#   slow-redis         Redis 500 ms late: other requests unaffected
#   reload             "nginx -s reload" with lookups in flight
#   quic               nginx >= 1.25 (built with http_v3): chromium over
#                      QUIC, fleet tickets resume across nodes, QUIC
#                      handshakes do not wait on a stopped Redis;
#                      "skipped: no chromium" when chromium is missing
#                      or cannot run (TSR_CHROMIUM names another binary);
#                      run once more if it fails, and the line says so
#
# Environment:
#   NGINX_STATIC  versions also built with the modules inside nginx
#                 (--add-module): "all", "none" or a list (default: the
#                 newest tarball);
#   NGINX_SUITE   "compat" (default) or "full": all of test_http and
#                 test_stream instead of their compat steps;
#   TSR_REDIS_SERVER, TSR_REDIS_CLI, TSR_SRCDIR, TSR_ADMIN as "make check"
#                 sets them.
# Each test run is bounded (600 s).  Exit status 1 if anything failed.

srcs=$1
bld=$2
here=$(cd "$(dirname "$0")" && pwd)
out="$bld/tests/compat"
suite=${NGINX_SUITE:-compat}
failed=0

if [ -z "$srcs" ] || [ -z "$bld" ]; then
    echo "usage: $0 NGINX_SOURCES BUILDDIR" >&2
    exit 2
fi

tarballs=$(ls "$srcs"/nginx-*.tar.gz 2>/dev/null | sort -V)

if [ -z "$tarballs" ]; then
    echo "$0: no nginx-*.tar.gz in $srcs" >&2
    exit 2
fi

newest=$(basename "$(echo "$tarballs" | tail -n 1)" .tar.gz)
static=${NGINX_STATIC:-${newest#nginx-}}

mkdir -p "$out"

: "${TSR_REDIS_SERVER:=$(command -v redis-server)}"
: "${TSR_REDIS_CLI:=$(command -v redis-cli)}"
: "${TSR_SRCDIR:=$here/../..}"
: "${TSR_ADMIN:=$bld/tools/tsr-admin}"
export TSR_REDIS_SERVER TSR_REDIS_CLI TSR_SRCDIR TSR_ADMIN


# step NAME TEST ONLY [RETRIES]: one line; the log in
# $out/$v-$mode-NAME.log.  A failed run prints its log's last lines (CI
# keeps only what is printed); with RETRIES it runs again, as many times,
# and the line says what happened on each run.

step() {
    name=$1
    test=$2
    only=$3
    tries=$(( ${4:-0} + 1 ))
    log="$out/$v-$mode-$name.log"
    tmp="$out/tmp-$v-$mode-$name"
    start=$(date +%s)
    n=0

    while [ $n -lt $tries ]; do
        n=$((n + 1))

        rm -rf "$tmp"
        mkdir -p "$tmp"

        TSR_NGINX="$dir/objs/nginx" TSR_MODULES="$dir/objs" \
        TSR_DISTRO_MODULES=none TSR_STATIC=$st TSR_TMPDIR="$tmp" \
        TSR_TEST_ONLY="$only" \
        timeout 600 "$bld/tests/integration/$test" > "$log" 2>&1
        rc=$?

        # CUnit's summary: "tests  total ran passed failed inactive"
        sum=$(awk '$1 == "tests" { print $4 "/" $3 " passed" }' "$log")

        if [ $rc -eq 77 ]; then
            # the test says why on its first line: "skipped: no chromium"
            res=$(grep -m 1 '^skipped: ' "$log" | sed 's/ (.*//')
            res=${res:-skipped}
            sum=-
            break
        elif [ $rc -eq 0 ] && [ -n "$sum" ] && [ "${sum%%/*}" != 0 ]; then
            res=ok
            [ $n -gt 1 ] && res="ok (run $n of $tries: the first failed)"
            break
        fi

        res="FAILED (rc=$rc, $log)"

        echo "--- nginx $v $mode $name: rc=$rc, the end of $log:"
        grep -v '^ *$' "$log" | tail -n 30 | sed 's/^/    /'
        echo "---"

        cp "$log" "$log.run$n"
        rm -rf "$tmp.failed"
        mv "$tmp" "$tmp.failed"
    done

    case "$res" in
    FAILED*) failed=1 ;;
    esac

    rm -rf "$tmp"

    printf 'nginx %-7s %-8s %-18s %-12s %-4s (%ss)\n' "$v" "$mode" "$name" \
           "${sum:-no summary}" "$res" "$(( $(date +%s) - start ))"
}


# HTTP/3: build-nginx.sh adds --with-http_v3_module from 1.25 on

quic_step() {
    case "$v" in
    1.1[0-9].*|1.2[0-4].*) ;;
    # a headless browser over QUIC on a loaded machine: once more if
    # it fails (the first run's end is printed, and its line says so)
    *) step quic test_quic "" 1 ;;
    esac
}


for t in $tarballs; do
    v=$(basename "$t" .tar.gz)
    v=${v#nginx-}

    modes=dynamic

    case " $static " in
    *" all "*|*" $v "*) modes="dynamic static" ;;
    esac

    for mode in $modes; do
        dir="$out/$v-$mode"
        st=$( [ $mode = static ] && echo 1 || echo 0 )
        start=$(date +%s)

        if "$here/build-nginx.sh" "$t" "$dir" $mode; then
            printf 'nginx %-7s %-8s %-18s %-12s %-4s (%ss)\n' "$v" "$mode" \
                   build - ok "$(( $(date +%s) - start ))"
        else
            printf 'nginx %-7s %-8s %-18s %-12s %s\n' "$v" "$mode" build - \
                   "FAILED ($dir/configure.log, $dir/make.log)"
            failed=1
            continue
        fi

        if [ "$suite" = full ]; then
            step http test_http ""
            step stream test_stream ""
            step fleet-tickets test_tickets tickets_resume_across_nodes
            quic_step
            continue
        fi

        step http-cross-node test_http resumes_across_nodes
        step stream-cross-node test_stream resumes_across_nodes
        step sni test_http not_resumed_under_other_sni
        step fleet-tickets test_tickets tickets_resume_across_nodes
        step slow-redis test_http slow_redis
        step reload test_http reload_with_lookups_in_flight

        quic_step
    done
done

exit $failed
