#!/usr/bin/env bash
# User-space instructions per proxied HTTP/1.1 keep-alive request (valgrind's callgrind), for
# OpenSLB, nginx and HAProxy on the same backends.
#
#   bench/callgrind.sh                          # N=2000 requests over one connection, each proxy
#   N=5000 PROXIES='openslb nginx' bench/callgrind.sh
#   SLB_BIN=/tmp/slb-old bench/callgrind.sh     # another OpenSLB build (A/B)
#   H2=1 N=4000 bench/callgrind.sh              # HTTP/2 over TLS instead (h2load -c4 -m10)
#
# Why: on this shared 2-core VM a proxy's CPU time per request moves ±10 % between runs, so
# a change worth 1-2 % only shows as an instruction count. This counts user space only (the
# kernel's share, ~80 % of a keep-alive request here, is the same syscalls for all three).
#
# How: starts the bench/perf.sh fleet (`bench/perf.sh up`, BUILD=0 INSTALL=0), then for each
# proxy stops the fleet's copy and runs the same command line under callgrind (nginx without
# its master process), sends 50 warm-up requests with curl over one keep-alive connection,
# zeroes the counters, sends N more, and dumps. Loads stay on 127.0.0.1 and are bounded by N;
# only processes this script started are stopped, by PID. Prints a table and writes it to
# bench/results/callgrind-<date>.md.
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${N:-2000}
PROXIES=${PROXIES:-"openslb nginx haproxy"}
PORT_BASE=${PORT_BASE:-28000}
PROXY_CPU=${PROXY_CPU:-1}      # the CPU bench/perf.sh pins every proxy to
H2=${H2:-0}                     # 1: HTTP/2 over TLS 1.3 through the fleet's TLS listeners

log() { printf '[callgrind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
port_busy() { ss -Htln "sport = :$1" | grep -q .; }
wait_port() { local i; for i in $(seq 1 300); do port_busy "$1" && return 0; sleep 0.2; done; return 1; }

if ! command -v valgrind >/dev/null; then
    sudo_cmd=(); [[ $(id -u) != 0 ]] && sudo_cmd=(sudo)
    log "apt-get install valgrind"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq valgrind >&2 || die "cannot install valgrind"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$BENCH_DIR/results/callgrind-$STAMP
mkdir -p "$OUT" || die "cannot create $OUT"
FLEET_LOG=$OUT/fleet.log
UP_SECS=3600 BUILD=0 INSTALL=0 PORT_BASE=$PORT_BASE PROXIES="$PROXIES" \
    "$BENCH_DIR/perf.sh" up >"$FLEET_LOG" 2>&1 &
FLEET=$!
VG=
cleanup() {
    [[ -n $VG ]] && kill "$VG" 2>/dev/null && wait "$VG" 2>/dev/null
    kill "$FLEET" 2>/dev/null; wait "$FLEET" 2>/dev/null
}
trap cleanup EXIT
for _ in $(seq 1 600); do grep -q "up for" "$FLEET_LOG" && break; kill -0 "$FLEET" 2>/dev/null || break; sleep 0.5; done
grep -q "up for" "$FLEET_LOG" || die "bench/perf.sh up did not start (log: $FLEET_LOG)"

# measure NAME: runs the fleet's copy of proxy NAME under callgrind; sets IR to the
# instructions per request.
IR=
measure() {
    local name=$1 port pid cmd=() dump total fleet_dir i kind=http
    [[ $H2 == 1 ]] && kind=tls
    # The fleet's line for this proxy names its pid and ports ("NAME pid=N: http P tls P ...").
    pid=$(sed -n "s/.*\] $name pid=\([0-9]*\):.*/\1/p" "$FLEET_LOG" | tail -1)
    port=$(sed -n "s/.*\] $name pid=[0-9]*:.* $kind \([0-9]*\) .*/\1/p" "$FLEET_LOG" | tail -1)
    [[ -n $port ]] || die "no $kind port for $name in the fleet's log"
    [[ -n $pid && -r /proc/$pid/cmdline ]] || die "no running $name in the fleet"
    if [[ $name == nginx ]]; then
        # nginx rewrites its command line, and its master forks the worker that serves,
        # which callgrind would not follow: the same configuration, without a master.
        fleet_dir=$(sed -n 's/.*results in \(.*\)$/\1/p' "$FLEET_LOG" | head -1)
        cmd=(nginx -c "$fleet_dir/run/nginx-proxy.conf" -g "daemon off; master_process off;")
    else
        # taskset execs, so this is the daemon's own command line.
        mapfile -d '' -t cmd <"/proc/$pid/cmdline"
    fi
    # valgrind keeps a few descriptors of the hard limit, and HAProxy refuses to start when
    # its configured `ulimit-n` no longer fits: a copy without it (one connection is all
    # this needs).
    if [[ $name == haproxy ]]; then
        for i in "${!cmd[@]}"; do
            if [[ ${cmd[$i]} == -f ]]; then
                sed -e '/^ *ulimit-n /d' -e 's/^\( *maxconn \).*/\11000/' "${cmd[$((i + 1))]}" >"$OUT/haproxy.cfg"
                cmd[$((i + 1))]=$OUT/haproxy.cfg
            fi
        done
    fi
    kill "$pid"; for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for _ in $(seq 1 50); do port_busy "$port" || break; sleep 0.1; done
    # On the fleet's proxy CPU, as bench/perf.sh runs it: OpenSLB sizes its runtime by the
    # CPUs it may use (one: the current-thread scheduler), and unpinned it would measure
    # the two-worker multi-thread one instead.
    taskset -c "$PROXY_CPU" valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
        --callgrind-out-file="$OUT/$name.%p" "${cmd[@]}" >"$OUT/$name.log" 2>&1 &
    VG=$!
    wait_port "$port" || die "$name under valgrind did not listen (log: $OUT/$name.log)"
    sleep 1
    if [[ $H2 == 1 ]]; then
        # Four connections with ten streams each; their four handshakes fall inside the
        # counted window (about 450 instructions per request at N=4000).
        taskset -c 0 h2load -n 500 -c4 -m10 "https://127.0.0.1:$port/" >/dev/null 2>&1 || die "$name: warm-up requests failed"
        callgrind_control -z "$VG" >/dev/null
        taskset -c 0 h2load -n "$N" -c4 -m10 "https://127.0.0.1:$port/" >"$OUT/$name.h2load" 2>&1
        callgrind_control -d "$VG" >/dev/null
    else
        curl -s "http://127.0.0.1:$port/[1-50]" -o /dev/null || die "$name: warm-up requests failed"
        callgrind_control -z "$VG" >/dev/null
        curl -s -w '%{http_code}\n' "http://127.0.0.1:$port/[1-$N]" -o /dev/null >"$OUT/$name.codes"
        callgrind_control -d "$VG" >/dev/null
    fi
    sleep 1
    kill "$VG"; wait "$VG" 2>/dev/null; VG=
    if [[ $H2 == 1 ]]; then
        grep -q "^status codes: $N 2xx" "$OUT/$name.h2load" || die "$name: not all $N requests answered 2xx (see $OUT/$name.h2load)"
    else
        [[ $(grep -c '^200$' "$OUT/$name.codes") == "$N" ]] || die "$name: not all $N requests answered 200"
    fi
    dump=$(ls "$OUT/$name".*.1 2>/dev/null | head -1)
    [[ -n $dump ]] || die "$name: no callgrind dump"
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump")
    IR=$((total / N))
}

rows=()
for p in $PROXIES; do
    log "$p"
    measure "$p"
    rows+=("| $p | $IR |")
done
{
    if [[ $H2 == 1 ]]; then
        echo "# bench/callgrind.sh $STAMP: user-space instructions per HTTP/2 request over TLS 1.3"
    else
        echo "# bench/callgrind.sh $STAMP: user-space instructions per HTTP/1.1 keep-alive request"
    fi
    echo "# slb $(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null); $(nginx -v 2>&1); $(haproxy -v 2>/dev/null | head -1); $(valgrind --version)"
    if [[ $H2 == 1 ]]; then
        echo "# $N requests after 500 warm-up ones, h2load -c4 -m10 (four connections, handshakes included)"
    else
        echo "# $N requests after 50 warm-up ones, curl over one connection (Host, User-Agent, Accept)"
    fi
    echo
    echo "| proxy | instructions per request |"
    echo "|---|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT/table.md"
log "table: $OUT/table.md (callgrind dumps beside it: callgrind_annotate --inclusive=no FILE)"
