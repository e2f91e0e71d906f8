#!/bin/sh
#
# Instructions per handshake, with callgrind: one nginx process
# (master_process off) under valgrind, a private redis-server, and
# tsr-bench driving N handshakes after a warm-up; the counters are zeroed
# before the N and dumped after them, so start-up is not counted.
#
#   tsr_bench_profile.sh [-c nginx|l1|redis|off] [-m resume|full]
#                        [-P tls12|tls13] [-n N] [-o DIR]
#
# Environment as for make bench: TSR_MODULES (the built modules),
# TSR_BENCH (tsr-bench), TSR_NGINX, TSR_REDIS_SERVER, TSR_TMPDIR.
# Prints the total per handshake, the module's own instructions and the
# inclusive cost of its entry points; the callgrind file stays in DIR.

set -eu

cfg=redis
mode=resume
proto=tls12
n=1000

while getopts c:m:P:n:o: opt; do
    case $opt in
    c) cfg=$OPTARG ;;
    m) mode=$OPTARG ;;
    P) proto=$OPTARG ;;
    n) n=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '8,10p' "$0"; exit 2 ;;
    esac
done

nginx=${TSR_NGINX:-/usr/sbin/nginx}
redis=${TSR_REDIS_SERVER:-redis-server}
bench=${TSR_BENCH:-./tests/bench/tsr-bench}
mods=${TSR_MODULES:?set TSR_MODULES to the directory of the built modules}

for p in valgrind callgrind_control callgrind_annotate openssl python3; do
    command -v $p >/dev/null || { echo "$p not found: apt-get install" \
        "valgrind openssl python3" >&2; exit 1; }
done

base=${TSR_TMPDIR:-/tmp}
mkdir -p "$base"
dir=$(mktemp -d "$base/bench-profile.XXXXXX")
out=${out:-$dir}
mkdir -p "$dir/logs" "$out"

free_port() {
    # a port nobody listens on, from the kernel's ephemeral range
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rport=$(free_port)
port=$(free_port)

cleanup() {
    [ -n "${vpid:-}" ] && kill -QUIT "$vpid" 2>/dev/null && wait "$vpid" || :
    [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || :
}
trap cleanup EXIT INT TERM

"$redis" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" &
rpid=$!

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=bench.test -days 2 -keyout "$dir/bench.key" \
    -out "$dir/bench.crt" 2>/dev/null
openssl rand 32 > "$dir/fleet.key"
chmod 600 "$dir/fleet.key"

load=""
cache=""
module=""

case $cfg in
nginx) cache="ssl_session_cache shared:SSL:16m;" ;;
l1|redis)
    load="load_module $mods/ngx_http_ssl_session_redis_module.so;"
    # a lookup under valgrind takes longer than the default 20 ms
    module="ssl_session_redis 127.0.0.1:$rport;
    ssl_session_redis_fleet_key $dir/fleet.key;
    ssl_session_redis_lookup_timeout 2s;"
    [ "$cfg" = l1 ] && cache="ssl_session_cache shared:SSL:16m;" ;;
off) ;;
*) echo "unknown configuration \"$cfg\"" >&2; exit 2 ;;
esac

cat > "$dir/nginx.conf" <<EOF
$load
daemon off;
master_process off;
worker_processes 1;
error_log $dir/logs/error.log notice;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    ssl_certificate $dir/bench.crt;
    ssl_certificate_key $dir/bench.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_timeout 10m;
    ssl_session_tickets off;
    $cache
    $module
    server {
        listen 127.0.0.1:$port ssl;
        location / { return 200 "ok\n"; }
    }
}
EOF

file="$out/callgrind.$cfg.$mode.$proto"

valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$nginx" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/valgrind.log" &
vpid=$!

# up once it completes a handshake
i=0
until "$bench" -p "$port" -m full -n 1 -c 1 -t 5 -j >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 300 ] && { echo "nginx did not start: $dir" >&2; exit 1; }
    sleep 0.2
done

"$bench" -p "$port" -m "$mode" -P "$proto" -n 200 -c 2 -t 120 -j >/dev/null
callgrind_control -z "$vpid" >/dev/null
"$bench" -p "$port" -m "$mode" -P "$proto" -n "$n" -c 2 -t 600 \
    -l "$cfg" -j
callgrind_control -d "$vpid" >/dev/null

kill -QUIT "$vpid"
wait "$vpid" || :
vpid=""

dump="$file.1"

callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null \
    > "$out/inclusive.txt"

echo "instructions per handshake ($cfg, $mode $proto, $n handshakes):"

# self cost by object, straight from the file: callgrind_annotate 3.19
# attributes self cost oddly when inlined files switch
python3 - "$dump" "$n" <<'PY'
import collections, re, sys
names, selfc, obj, total = {}, collections.Counter(), {}, 0
fn = ob = None
call = False
for line in open(sys.argv[1]):
    if line[:1].isdigit() or line[:1] in '+-*':
        if call:
            call = False
        elif fn is not None:
            selfc[fn] += int(line.split()[1])
        continue
    key, _, val = line.rstrip('\n').partition('=')
    m = re.match(r'\((\d+)\)(?: (.*))?', val)
    if key in ('ob', 'fn', 'cob', 'cfn') and m:
        k = (key[-2:], m.group(1))
        if m.group(2) is not None:
            names[k] = m.group(2)
        val = names.get(k, '?')
    if key == 'ob':
        ob = val
    elif key == 'fn':
        fn = val
        obj.setdefault(fn, ob)
    elif key == 'calls':
        call = True
    elif line.startswith('summary:'):
        total = int(line.split()[1])
n = int(sys.argv[2])
own = sum(v for f, v in selfc.items() if 'ssl_session_redis_module' in obj[f])
print("  total                 %10.0f" % (total / n))
print("  module code, self     %10.0f" % (own / n))
PY

# entry points OpenSSL and nginx call into the module, callees included
# (tsr_ssl_info also runs nginx's own info callback, which it chains)
awk -v n="$n" '
    /:(ngx_ssl_session_redis_(bio_callback|read_handler|write_handler|timer_handler)|tsr_ssl_(info|get_session|new_session|remove_session)) \[/ {
        gsub(",", "", $1); f = $0; sub(/ \[.*/, "", f); sub(/.*:/, "", f)
        printf "    %-36s %8.0f\n", f, $1 / n; sum += $1 }
    END { printf "  module, inclusive     %10.0f\n", sum / n }
' "$out/inclusive.txt"
