#!/bin/sh
#
# Where a worker's time goes per handshake: one nginx process
# (master_process off), a private redis-server, and tsr-bench driving N
# handshakes after a warm-up, with one of three tools on the worker for
# the N only (start-up and warm-up are not counted):
#
#   callgrind  instructions per handshake (nginx under valgrind), the
#              module's own and its entry points' (the default)
#   strace     system calls per handshake, by name (strace -c -f)
#   perf       CPU per handshake (user, kernel) and where it goes
#              (perf record -g, cpu-clock), kernel symbols included
#
#   tsr_bench_profile.sh [-T callgrind|strace|perf] [-c nginx|l1|redis|off]
#                        [-m resume|full] [-P tls12|tls13] [-n N]
#                        [-i IN_FLIGHT] [-A] [-u] [-o DIR]
#
# -i keeps that many connections in flight per client process (2
# processes; default 1), -A sets multi_accept on, -u has the module reach
# Redis through its unix socket.  Environment as for make bench: TSR_MODULES (the built
# modules), TSR_BENCH (tsr-bench), TSR_NGINX, TSR_REDIS_SERVER,
# TSR_TMPDIR.  The tool's raw output stays in DIR.

set -eu

tool=callgrind
cfg=redis
mode=resume
proto=tls12
n=1000
inflight=1
unix=""
accept=""

while getopts T:c:m:P:n:i:Auo: opt; do
    case $opt in
    T) tool=$OPTARG ;;
    c) cfg=$OPTARG ;;
    m) mode=$OPTARG ;;
    P) proto=$OPTARG ;;
    n) n=$OPTARG ;;
    i) inflight=$OPTARG ;;
    A) accept="multi_accept on;" ;;
    u) unix=1 ;;
    o) out=$OPTARG ;;
    *) sed -n '15,17p' "$0"; exit 2 ;;
    esac
done

case $tool in
callgrind) need="valgrind callgrind_control callgrind_annotate" ;;
strace) need=strace ;;
perf) need=perf ;;
*) echo "unknown tool \"$tool\"" >&2; exit 2 ;;
esac

nginx=${TSR_NGINX:-/usr/sbin/nginx}
redis=${TSR_REDIS_SERVER:-redis-server}
bench=${TSR_BENCH:-./tests/bench/tsr-bench}
mods=${TSR_MODULES:?set TSR_MODULES to the directory of the built modules}

for p in $need openssl python3; do
    command -v $p >/dev/null || { echo "$p not found: apt-get install" \
        "valgrind strace linux-perf openssl python3" >&2; exit 1; }
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
    [ -n "${tpid:-}" ] && kill -INT "$tpid" 2>/dev/null || :
    [ -n "${vpid:-}" ] && kill -QUIT "$vpid" 2>/dev/null && wait "$vpid" || :
    [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null || :
}
trap cleanup EXIT INT TERM

"$redis" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
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
    raddr=127.0.0.1:$rport
    [ -n "$unix" ] && raddr=unix:$dir/redis.sock
    module="ssl_session_redis $raddr;
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
events { worker_connections 4096; $accept }
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

tag=$cfg.$mode.$proto.$inflight${accept:+.A}
file="$out/$tool.$tag"

if [ "$tool" = callgrind ]; then
    valgrind --tool=callgrind --callgrind-out-file="$file" \
        "$nginx" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/valgrind.log" &
else
    "$nginx" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/nginx.log" &
fi
vpid=$!

# up once it completes a handshake
i=0
until "$bench" -p "$port" -m full -n 1 -c 1 -t 5 -j >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 300 ] && { echo "nginx did not start: $dir" >&2; exit 1; }
    sleep 0.2
done

measure() {
    "$bench" -p "$port" -m "$mode" -P "$proto" -n "$n" -c 2 -i "$inflight" \
        -t 600 -l "$cfg" -j
}

# CPU time of the worker so far, in ns: on the CPU (schedstat), and the
# user and kernel split (clock ticks)
cpu() {
    awk '{ printf "%s ", $1 }' "/proc/$vpid/schedstat"
    awk '{ print $14, $15 }' "/proc/$vpid/stat"
}

"$bench" -p "$port" -m "$mode" -P "$proto" -n 200 -c 2 -t 120 -j >/dev/null

case $tool in
callgrind)
    callgrind_control -z "$vpid" >/dev/null
    measure
    callgrind_control -d "$vpid" >/dev/null ;;
strace)
    strace -c -f -p "$vpid" -o "$file" 2>"$dir/strace.log" &
    tpid=$!
    sleep 1
    measure
    kill -INT "$tpid"; wait "$tpid" || :; tpid="" ;;
perf)
    perf record -q -g -e cpu-clock -p "$vpid" -o "$file" \
        2>"$dir/perf.log" &
    tpid=$!
    sleep 1
    before=$(cpu)
    measure
    after=$(cpu)
    kill -INT "$tpid"; wait "$tpid" || :; tpid="" ;;
esac

kill -QUIT "$vpid"
wait "$vpid" || :
vpid=""

if [ "$tool" = strace ]; then
    echo "system calls per handshake ($tag: $cfg, $mode $proto," \
         "$inflight in flight per process, $n handshakes):"
    awk -v n="$n" '
        $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            name = $NF; calls = $4
            printf "  %-16s %8.2f\n", name, calls / n; sum += calls }
        END { printf "  %-16s %8.2f\n", "all", sum / n }' "$file"
    exit 0
fi

if [ "$tool" = perf ]; then
    tick=$(getconf CLK_TCK)
    echo "worker CPU per handshake ($tag: $cfg, $mode $proto," \
         "$inflight in flight per process, $n handshakes):"
    echo "$before $after" | awk -v n="$n" -v t="$tick" '{
        cpu = ($4 - $1) / 1000 / n
        u = $5 - $2; k = $6 - $3
        printf "  %.1f us (user %.0f %%, kernel %.0f %%)\n", cpu,
               100 * u / (u + k + 1e-9), 100 * k / (u + k + 1e-9) }'
    echo "where it goes (self, share of the worker's samples):"
    perf report -i "$file" --no-children --sort dso,sym --stdio \
        2>/dev/null | grep -E '^ +[0-9.]+%' | head -40 \
        > "$out/perf-top.$tag.txt"
    cat "$out/perf-top.$tag.txt"
    exit 0
fi

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
