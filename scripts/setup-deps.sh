#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the demo need
# (libpcre3-dev: nginx 1.18's rewrite module in make check-nginx; the
# debhelper line: make check-deb; chromium: the HTTP/3 client of
# test_quic in make check-nginx; prometheus and python3-prometheus-client:
# tests/integration/test_promtool, which skips without them).
# Runs apt-get only when something is missing; needs root then.
set -euo pipefail

packages=(
    build-essential autoconf automake libtool pkg-config
    libssl-dev libhiredis-dev libcunit1-dev
    nginx nginx-dev libnginx-mod-stream
    redis-server redis-tools
    clang libclang-rt-14-dev valgrind gnuplot-nox
    libpcre3-dev
    debhelper dpkg-dev fakeroot lintian
    chromium
    prometheus python3-prometheus-client
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages' services from starting: tests and the
# demo run private instances on free loopback ports
had_policy=no
[ -e /usr/sbin/policy-rc.d ] && had_policy=yes
if [ $had_policy = no ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
if [ $had_policy = no ]; then
    rm -f /usr/sbin/policy-rc.d
fi
