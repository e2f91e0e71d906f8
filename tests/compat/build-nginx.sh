#!/bin/sh
# build-nginx.sh VERSION_TARBALL_OR_DIR OUTDIR [static|dynamic]
#
# Extracts an nginx source tree (a git archive of a release tag, or a
# directory) into OUTDIR, configures it with http_ssl, http_v2, stream,
# stream_ssl and debug (and http_v3 from 1.25 on, where HTTP/3 is in
# nginx), plus this project's modules, and builds it:
# "static" puts the modules into the nginx binary, "dynamic" (the
# default) builds the binary and the two .so (OUTDIR/objs) through
# --with-compat, as a user building for a packaged nginx does.
#
# Modules the tests do not use are left out to save build time.  A tree
# already configured the same way (same sources, mode, flags and
# module/config) is only made again: make rebuilds what changed.

set -e

src=$1
out=$2
mode=${3:-dynamic}
top=$(cd "$(dirname "$0")/../.." && pwd)

if [ -z "$src" ] || [ -z "$out" ]; then
    echo "usage: $0 VERSION_TARBALL_OR_DIR OUTDIR [static|dynamic]" >&2
    exit 2
fi

case "$mode" in
static)  add="--add-module=$top/module" ;;
dynamic) add="--with-compat --add-dynamic-module=$top/module" ;;
*)       echo "$0: unknown mode \"$mode\"" >&2; exit 2 ;;
esac

without=
for m in charset gzip ssi userid access auth_basic mirror autoindex geo \
         map split_clients referer proxy fastcgi uwsgi scgi grpc memcached \
         limit_conn limit_req empty_gif browser upstream_hash \
         upstream_ip_hash upstream_least_conn upstream_random \
         upstream_keepalive upstream_zone
do
    without="$without --without-http_${m}_module"
done

for m in limit_conn access geo map split_clients upstream_hash \
         upstream_least_conn upstream_random upstream_zone
do
    without="$without --without-stream_${m}_module"
done

if [ -d "$src" ]; then
    sum=$(cd "$src" && find . -type f | sort | xargs cksum | cksum)
else
    sum=$(cksum < "$src")
fi

stamp="$sum
$mode $add $without
$(cksum < "$top/module/config")
$(cksum < "$0")"

if [ -f "$out/objs/Makefile" ] && [ -f "$out/build.stamp" ] \
   && [ "$(cat "$out/build.stamp")" = "$stamp" ]
then
    cd "$out"

else
    rm -rf "$out"
    mkdir -p "$out"

    if [ -d "$src" ]; then
        cp -R "$src"/. "$out"
    else
        tar xzf "$src" -C "$out" --strip-components=1
    fi

    cd "$out"

    if [ -x auto/configure ]; then
        configure=auto/configure
    else
        configure=./configure
    fi

    version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
              src/core/nginx.h)

    case "$version" in
    1.18.*|1.19.*|1.20.*)
        # its own code uses OpenSSL 3.0 deprecated calls (ENGINE_*)
        cc_opt="-Wno-error=deprecated-declarations"
        ;;
    *)
        cc_opt=
        ;;
    esac

    # HTTP/3 came with 1.25.0; with OpenSSL 3.0 nginx builds it on its
    # OpenSSL compatibility layer (src/event/quic/*openssl_compat*)

    case "$version" in
    1.1[0-9].*|1.2[0-4].*)
        v3=
        ;;
    *)
        v3=--with-http_v3_module
        ;;
    esac

    $configure --with-debug --with-http_ssl_module --with-http_v2_module \
        $v3 --with-stream --with-stream_ssl_module $without \
        ${cc_opt:+--with-cc-opt="$cc_opt"} $add > configure.log 2>&1

    echo "$stamp" > build.stamp
fi

make -j2 > make.log 2>&1

if [ "$mode" = dynamic ]; then
    make -j2 modules >> make.log 2>&1
    test -f objs/ngx_http_ssl_session_redis_module.so
    test -f objs/ngx_stream_ssl_session_redis_module.so
fi

test -x objs/nginx
