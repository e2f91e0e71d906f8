#!/bin/sh
# check-deb.sh BUILDDIR: the Debian packages, end to end (as root).
#
# Copies the source tree (files git knows, committed or not) to
# BUILDDIR/tests/package, builds the packages there with
# "dpkg-buildpackage -b -us -uc", runs lintian (no errors allowed),
# installs the three packages with apt-get, checks that the snippets are
# enabled after Debian's stream module, runs the cross-node resumption
# tests (http and stream, TLS 1.2 ids and TLS 1.3 stateful) with the
# stock /usr/sbin/nginx loading the modules through
# /etc/nginx/modules-enabled, and removes the packages again.  One line
# per step; exit status 1 if anything failed.

bld=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$bld/tests/package"
pkgs="libnginx-mod-http-ssl-session-redis libnginx-mod-stream-ssl-session-redis tsr-admin"
failed=0

if [ -z "$bld" ]; then
    echo "usage: $0 BUILDDIR" >&2
    exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "$0: installs packages: run as root" >&2
    exit 2
fi

for p in $pkgs; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
       | grep -q "install ok installed"
    then
        echo "$0: $p is installed already; remove it first" >&2
        exit 2
    fi
done

line() {
    printf 'deb %-28s %s\n' "$1" "$2"
}

fail() {
    line "$1" "FAILED ($2)"
    failed=1
}

ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src="$out/ssl-session-redis-${ver%-*}"

rm -rf "$out"
mkdir -p "$src"

# the tree as git sees it, without build output
(cd "$top" && git ls-files --cached --others --exclude-standard -z \
    | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar -c --null -T - -f -) | tar -x -C "$src"

start=$(date +%s)

if (cd "$src" && dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1
then
    line build "ok ($(( $(date +%s) - start ))s)"
else
    fail build "$out/build.log"
    exit 1
fi

changes=$(ls "$out"/*.changes)

# lintian: errors fail, everything else is listed
lintian --fail-on error --tag-display-limit 0 "$changes" \
    > "$out/lintian.log" 2>&1
rc=$?
tags=$(grep -c '^[EWIP]:' "$out/lintian.log")

if [ $rc -eq 0 ]; then
    line lintian "ok, no errors ($tags other tags, $out/lintian.log)"
else
    fail lintian "$out/lintian.log"
fi

# no service start or reload while installing: the tests run their own
had_policy=yes
if [ ! -e /usr/sbin/policy-rc.d ]; then
    had_policy=no
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi

if DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
       --no-install-recommends "$out"/*.deb > "$out/install.log" 2>&1
then
    line install ok
else
    fail install "$out/install.log"
fi

enabled=/etc/nginx/modules-enabled
order=$(ls "$enabled" | grep -n -e 'mod-stream.conf$' \
        -e 'ssl-session-redis.conf$' | tr '\n' ' ')

case "$order" in
*mod-stream.conf*mod-http-ssl-session-redis.conf*mod-stream-ssl-session-redis.conf*)
    line snippets "ok ($order)" ;;
*mod-http-ssl-session-redis.conf*mod-stream.conf*mod-stream-ssl-session-redis.conf*)
    line snippets "ok ($order)" ;;
*)
    fail snippets "order: $order" ;;
esac

if man -w tsr-admin > /dev/null 2>&1 && [ -x /usr/bin/tsr-admin ]; then
    line tsr-admin "ok ($(man -w tsr-admin))"
else
    fail tsr-admin "no /usr/bin/tsr-admin or no man page"
fi

# the completion must define itself for the command when sourced
comp=/usr/share/bash-completion/completions/tsr-admin

if [ -f "$comp" ] \
   && bash -c ". '$comp' && complete -p tsr-admin" > /dev/null 2>&1; then
    line completion "ok ($comp)"
else
    fail completion "no $comp, or it does not complete tsr-admin"
fi

for test in test_http test_stream; do
    tmp="$out/tmp-$test"
    mkdir -p "$tmp"
    start=$(date +%s)

    TSR_NGINX=/usr/sbin/nginx TSR_MODULES_ENABLED=$enabled \
    TSR_MODULES=/usr/lib/nginx/modules TSR_TMPDIR="$tmp" \
    TSR_REDIS_SERVER=$(command -v redis-server) \
    TSR_REDIS_CLI=$(command -v redis-cli) TSR_SRCDIR="$top" \
    TSR_ADMIN=/usr/bin/tsr-admin TSR_TEST_ONLY=resumes_across_nodes \
    timeout 600 "$bld/tests/integration/$test" > "$out/$test.log" 2>&1
    rc=$?

    sum=$(awk '$1 == "tests" { print $4 "/" $3 " passed" }' "$out/$test.log")

    if [ $rc -eq 0 ] && [ -n "$sum" ]; then
        line "$test cross-node" "$sum ($(( $(date +%s) - start ))s)"
    else
        fail "$test cross-node" "rc=$rc, $out/$test.log"
    fi
done

if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkgs \
       > "$out/remove.log" 2>&1 \
   && ! ls "$enabled" | grep -q ssl-session-redis \
   && [ ! -e /usr/lib/nginx/modules/ngx_http_ssl_session_redis_module.so ]
then
    line remove ok
else
    fail remove "$out/remove.log"
fi

if [ $had_policy = no ]; then
    rm -f /usr/sbin/policy-rc.d
fi

exit $failed
