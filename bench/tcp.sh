#!/usr/bin/env bash
# bench/tcp.sh: OpenSLB's TCP listener against nginx (stream) and HAProxy (mode tcp) and a
# direct connection, over the same backends, in one run of the shared harness (peers.sh).
#
#   bench/tcp.sh                 # build slb (release) if needed, one pinned run of the tcp section
#   HTTP=1 bench/tcp.sh          # also HTTP keep-alive and Connection: close through an HTTP listener
#   HTTP=1 HTTP_MODE=l4 bench/tcp.sh   # ... or through a second TCP listener
#   RUNS=3 bench/tcp.sh          # three runs back to back, medians in the table
#   PIN=0 bench/tcp.sh           # no CPU pinning
#   PPV2=1 SECTIONS=tcp bench/tcp.sh   # TCP throughput with PROXY protocol v2 on (HAProxy accept-proxy in front of iperf3)
#   UDP=1 SECTIONS='tcp udp' bench/tcp.sh   # UDP throughput and loss (iperf3 -u) through a UDP listener
#   HTTP=1 TLS=1 KEYSERVER=1 SECTIONS=tls bench/tcp.sh  # HTTPS keys on a key server (own process)
#   bench/tcp.sh table DIR       # print the table again for an earlier run (DIR = its results folder)
#
# What it does:
#   1. builds target/release/slb (cargo build --release -p slb; SLB_BIN=... skips the build);
#   2. prepares a scratch data directory: starts `slb serve` on it, configures through
#      `slb call` one instance at 127.0.0.1 with a TCP listener SLB_TCP_PORT -> 127.0.0.1:27201
#      (the harness's iperf3 server), and with HTTP=1 a second TCP listener SLB_HTTP_PORT -> a
#      VServer group of the two nginx backends 27081 + 27082, round robin; health checks off
#      (the peers have none either); then stops that node by its PID;
#   3. runs the shared harness with EXTRA_CMD = `slb serve` on that data directory, which
#      restores the listeners at start; the harness starts it pinned on the proxy CPU, waits
#      for its listener ports, measures the process's CPU time and peak RSS from /proc, and
#      stops it by PID;
#   4. prints a compact table from the harness's results.tsv: throughput, x direct, proxy CPU
#      time per MiB (per request for HTTP), proxy CPU %, peak RSS.
#
# Requirements (Debian/Ubuntu):
#   apt-get install -y nginx libnginx-mod-stream haproxy wrk iperf3 jq util-linux iproute2
# (put an `exit 101` /usr/sbin/policy-rc.d in place first if you do not want the packages to
# start system nginx/haproxy services; this script never uses them.)
#
# Everything listens on 127.0.0.1. Every load is bounded by the harness (iperf3 -t / wrk -d under
# timeout(1)) and the whole harness run by TIMEOUT seconds. Processes are stopped by PID only.
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

PEERS_SH=${PEERS_SH:-$(cd "$REPO/.." && pwd)/shared/bench/peers.sh}
SLB_BIN=${SLB_BIN:-}                    # set to use a prebuilt binary (no cargo build)
BUILD=${BUILD:-1}                       # 0 = do not run cargo build, use target/release/slb as is
HTTP=${HTTP:-0}                         # 1 = also run HTTP_SECTIONS through a second listener
HTTP_MODE=${HTTP_MODE:-l7}              # l7 = an HTTP listener (terminates HTTP, pools backends); l4 = a TCP listener
HTTP_SECTIONS=${HTTP_SECTIONS:-"ka close"}
TLS=${TLS:-0}                           # 1 (with HTTP=1) = also the harness's tls section through an HTTPS listener
PPV2=${PPV2:-0}                         # 1 = TCP listener with ProxyProtocolV2Enabled, through a PROXY-accepting HAProxy to iperf3
UDP=${UDP:-0}                           # 1 = also the harness's udp section through a UDP listener on SLB_TCP_PORT
KEYSERVER=${KEYSERVER:-0}               # 1 = keys on `slb keyserver` (pinned with the proxy), signatures remote
EXTRA_NAME=${EXTRA_NAME:-openslb}
PORT_BASE=${PORT_BASE:-27000}           # must match the harness's PORT_BASE (passed through)
SLB_TCP_PORT=${SLB_TCP_PORT:-$((PORT_BASE + 215))}
SLB_HTTP_PORT=${SLB_HTTP_PORT:-$((PORT_BASE + 95))}
SLB_API_PORT=${SLB_API_PORT:-$((PORT_BASE + 298))}
SLB_KEYSERVER_PORT=${SLB_KEYSERVER_PORT:-$((PORT_BASE + 297))}
SLB_TLS_PORT=${SLB_TLS_PORT:-$((PORT_BASE + 445))}
SLB_TLSFULL_PORT=${SLB_TLSFULL_PORT:-$((PORT_BASE + 455))}  # HTTPS with TLSSessionResumption=off (tls_full)
SLB_HEALTH_CHECK=${SLB_HEALTH_CHECK:-off}  # on = TCP health checks every 2 s (they also probe iperf3 -s)
SLB_ACCESS_LOG=${SLB_ACCESS_LOG:-off}      # like the peers' configs (access_log off); a path or stdout to measure its cost
SLB_LOG=${SLB_LOG:-warn}                # RUST_LOG of the measured node
RESULTS_ROOT=${RESULTS_ROOT:-$BENCH_DIR/results}
RUN_DIR=${RUN_DIR:-$BENCH_DIR/run}      # the harness's rendered configs, cert, 1 MiB file (reused)

IPERF_PORT=$((PORT_BASE + 201))
BE1_PORT=$((PORT_BASE + 81)); BE2_PORT=$((PORT_BASE + 82))

log() { printf '[tcp.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- the table
# table TSV... -> compact table (medians over runs; flagged samples dropped when a clean one exists)
table() {
    local f
    for f in "$@"; do grep -v '^#' "$f" | grep -v '^run	'; done | awk -F'\t' -v extra="$EXTRA_NAME" '
    function isnum(v) { return v ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
    function med(list,   n, i, j, x, t, k, v) {
        n = split(list, x, ","); k = 0
        for (i = 1; i <= n; i++) if (isnum(x[i])) { k++; v[k] = x[i] + 0 }
        if (k == 0) return "-"
        for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j+1] = v[j]; v[j+1] = t }
        return (k % 2) ? v[(k+1)/2] : (v[k/2] + v[k/2+1]) / 2
    }
    function mx(list,   n, i, x, m) { n = split(list, x, ","); m = ""; for (i = 1; i <= n; i++) if (isnum(x[i]) && (m == "" || x[i]+0 > m)) m = x[i]+0; return m == "" ? "-" : m }
    function add(arr, key, val) { arr[key] = (key in arr) ? arr[key] "," val : val }
    function fmt(v, d) { return isnum(v) ? sprintf("%." d "f", v) : "-" }
    {
        nr++; row[nr] = $0
        k = $2 SUBSEP $3 SUBSEP $4
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        total[k]++
        if ($25 !~ /CONTAMINATED|NOT_QUIET/) clean[k]++
    }
    END {
        for (r = 1; r <= nr; r++) {
            split(row[r], c, "\t"); k = c[2] SUBSEP c[3] SUBSEP c[4]
            bad = (c[25] ~ /CONTAMINATED|NOT_QUIET/)
            if (clean[k] > 0 && bad) continue
            used[k]++; unit[k] = c[6]; cu[k] = c[15]; au[k] = c[12]
            add(val, k, c[5]); add(cost, k, c[14]); add(pct, k, c[13]); add(hwm, k, c[23]); add(aux, k, c[11]); add(p99, k, c[8]); add(err, k, c[9])
            if (bad) flag[k] = " (flagged: machine busy)"
            if (c[25] ~ /error=/) flag[k] = flag[k] " (error, see raw/)"
        }
        last = ""
        for (o = 1; o <= nk; o++) {
            k = order[o]; split(k, kk, SUBSEP)
            if (kk[1] != last) {
                last = kk[1]
                printf "\n%s\n\n", (kk[1] == 1 ? "pinned: proxy on CPU 1; iperf3/wrk client and backends on CPU 0" : "unpinned")
                printf "| %-6s | %-8s | %14s | %8s | %15s | %11s | %13s | %-5s | %s\n", "test", "target", "throughput", "x direct", "proxy CPU/unit", "proxy CPU %", "peak RSS MiB", "n", "notes"
                printf "|--------|----------|----------------|----------|-----------------|-------------|---------------|-------|------\n"
            }
            m = med(val[k]); dk = kk[1] SUBSEP kk[2] SUBSEP "direct"
            dm = (dk in val) ? med(val[dk]) : "-"
            ratio = (isnum(m) && isnum(dm) && dm > 0) ? sprintf("%.2f", m / dm) : "-"
            u = unit[k]; tp = (u == "Gbit/s") ? fmt(m, 2) " " u : fmt(m, 0) " " u
            cm = med(cost[k]); cs = isnum(cm) ? sprintf((cm < 100 ? "%.1f %s" : "%.0f %s"), cm, cu[k]) : "-"
            if (isnum(cm)) costm[k] = cm
            h = mx(hwm[k]); hs = isnum(h) ? sprintf("%.1f", h / 1024) : "-"
            note = ""
            if (au[k] == "retr") note = "retransmits " fmt(med(aux[k]), 0)
            else if (u == "req/s") note = "p99 " fmt(med(p99[k]), 2) " ms"
            if (isnum(mx(err[k])) && mx(err[k]) > 0) note = note ", errors " mx(err[k])
            printf "| %-6s | %-8s | %14s | %8s | %15s | %11s | %13s | %-5s | %s%s\n", kk[2], kk[3], tp, ratio, cs, fmt(med(pct[k]), 1), hs, used[k] "/" total[k], note, flag[k]
        }
        # OpenSLB CPU per unit against each peer, same test and pinning
        hdr = 0
        for (o = 1; o <= nk; o++) {
            k = order[o]; split(k, kk, SUBSEP)
            if (kk[3] != extra || !(k in costm)) continue
            line = ""
            for (o2 = 1; o2 <= nk; o2++) {
                k2 = order[o2]; split(k2, q, SUBSEP)
                if (q[1] != kk[1] || q[2] != kk[2] || q[3] == extra || q[3] == "direct" || !(k2 in costm) || costm[k2] <= 0) continue
                line = line sprintf("  %.2fx %s", costm[k] / costm[k2], q[3])
            }
            if (line != "") {
                if (!hdr) { printf "\n%s CPU time per unit relative to the peers (< 1 = cheaper):\n", extra; hdr = 1 }
                printf "  %s %-6s%s\n", (kk[1] == 1 ? "pinned  " : "unpinned"), kk[2], line
            }
        }
        print ""
        print "throughput: iperf3 receiver Gbit/s (tcp), wrk req/s (ka, close); x direct = median(proxy) / median(direct)."
        print "proxy CPU/unit: user+sys CPU seconds of the proxy process tree during the test / MiB moved (or requests);"
        print "softirq (kernel loopback TCP work) is charged to no process and is excluded. Lower is better; this is the"
        print "number to compare, throughput mostly shows which CPU saturated first. peak RSS: VmHWM summed over the"
        print "process tree, cumulative since the proxy started. n = samples used / taken (busy-machine samples dropped)."
    }'
}

if [[ ${1:-} == table ]]; then
    shift; (( $# > 0 )) || die "usage: $0 table RESULTS_DIR..."
    tsvs=()
    for d in "$@"; do
        if [[ -f $d ]]; then tsvs+=("$d"); else while IFS= read -r f; do tsvs+=("$f"); done < <(find "$d" -name results.tsv | sort); fi
    done
    (( ${#tsvs[@]} > 0 )) || die "no results.tsv under $*"
    table "${tsvs[@]}"; exit 0
fi
[[ -z ${1:-} || ${1:-} == run ]] || { sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 1; }

# ---------------------------------------------------------------- preflight
[[ -f $PEERS_SH ]] || die "shared harness not found at PEERS_SH=$PEERS_SH (expected ../shared/bench/peers.sh next to the repository; set PEERS_SH=/path/to/peers.sh)"
PEERS_RUN=(bash "$PEERS_SH")
missing=""
for b in nginx haproxy wrk iperf3 jq taskset ss timeout curl; do command -v "$b" >/dev/null || missing="$missing $b"; done
[[ -r /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing="$missing ngx_stream_module(libnginx-mod-stream)"
[[ -z $missing ]] || die "missing:$missing. Install: apt-get install -y nginx libnginx-mod-stream haproxy wrk iperf3 jq curl"

port_busy() { ss -Htln "sport = :$1" | grep -q .; }
[[ $TLS == 1 && $HTTP != 1 ]] && die "TLS=1 needs HTTP=1 (the HTTPS listener uses the HTTP backends' group)"
for p in "$SLB_API_PORT" "$SLB_TCP_PORT" $([[ $HTTP == 1 ]] && echo "$SLB_HTTP_PORT") $([[ $TLS == 1 ]] && echo "$SLB_TLS_PORT $SLB_TLSFULL_PORT") $([[ $KEYSERVER == 1 ]] && echo "$SLB_KEYSERVER_PORT"); do
    port_busy "$p" && die "127.0.0.1:$p is already in use by another process (ss -tlnp); pick another PORT_BASE or SLB_*_PORT"
done

# ---------------------------------------------------------------- build
if [[ -z $SLB_BIN ]]; then
    SLB_BIN=$REPO/target/release/slb
    if [[ $BUILD == 1 ]]; then
        log "cargo build --release -p slb (a no-op when up to date)"
        (cd "$REPO" && cargo build --release -p slb) >&2 || die "cargo build --release -p slb failed"
    fi
fi
[[ -x $SLB_BIN ]] || die "no slb binary at $SLB_BIN (build with: cargo build --release -p slb)"

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$RESULTS_ROOT/tcp-$STAMP
DATA=$OUT/slb-data
mkdir -p "$OUT" "$DATA" "$RUN_DIR" || die "cannot create $OUT"
{
    echo "slb: $SLB_BIN ($(stat -c '%y' "$SLB_BIN" | cut -d. -f1)); $("$SLB_BIN" --version 2>/dev/null)"
    echo "repo: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$([[ -n $(git -C "$REPO" status --porcelain 2>/dev/null | grep -v '^??' | head -1) ]] && echo ' (uncommitted changes)')"
    echo "harness: $PEERS_SH ($(sha256sum "$PEERS_SH" | cut -c1-12))"
} >"$OUT/versions.txt"

# ---------------------------------------------------------------- prepare the node's configuration
PREP_PID=""
stop_prep() {
    [[ -n $PREP_PID ]] || return 0
    if kill -0 "$PREP_PID" 2>/dev/null; then
        kill -TERM "$PREP_PID" 2>/dev/null
        local i; for i in $(seq 1 100); do kill -0 "$PREP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PREP_PID" 2>/dev/null && { log "slb serve pid=$PREP_PID ignored TERM for 10 s, sending KILL"; kill -KILL "$PREP_PID" 2>/dev/null; }
    fi
    wait "$PREP_PID" 2>/dev/null
    PREP_PID=""
}
KS_PID=""
stop_keyserver() {
    [[ -n $KS_PID ]] || return 0
    kill -TERM "$KS_PID" 2>/dev/null
    local i; for i in $(seq 1 100); do kill -0 "$KS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$KS_PID" 2>/dev/null && kill -KILL "$KS_PID" 2>/dev/null
    wait "$KS_PID" 2>/dev/null
    KS_PID=""
}
trap 'stop_prep; stop_keyserver' EXIT
trap 'stop_prep; stop_keyserver; exit 130' INT TERM HUP

SERVE_ARGS=(serve --data-dir "$DATA" --api-addr "127.0.0.1:$SLB_API_PORT" --region local --zone local-a --zone local-b --address-pool 127.0.0.1/32 --access-log "$SLB_ACCESS_LOG")
if [[ $KEYSERVER == 1 ]]; then
    # The key server on the proxy's CPU, so that the proxy CPU column plus the key server's
    # CPU (reported below) is the whole cost of a remote-key handshake on this machine.
    KS_DATA=$OUT/keyserver-data
    KS_PIN=(); [[ ${PIN:-1} == 1 ]] && KS_PIN=(taskset -c 1)
    RUST_LOG=info "${KS_PIN[@]}" "$SLB_BIN" keyserver --listen "127.0.0.1:$SLB_KEYSERVER_PORT" --data-dir "$KS_DATA" >"$OUT/keyserver.log" 2>&1 &
    KS_PID=$!
    for i in $(seq 1 100); do [[ -s $KS_DATA/keyserver.addr ]] && break; sleep 0.1; done
    [[ -s $KS_DATA/keyserver.addr ]] || die "slb keyserver did not start (log: $OUT/keyserver.log)"
    SERVE_ARGS+=(--keyserver "127.0.0.1:$SLB_KEYSERVER_PORT" --keyserver-tls-dir "$KS_DATA/pki")
fi
log "preparing $DATA: slb ${SERVE_ARGS[*]}"
RUST_LOG=info "$SLB_BIN" "${SERVE_ARGS[@]}" >"$OUT/prepare-serve.log" 2>&1 &
PREP_PID=$!
up=0
for i in $(seq 1 200); do   # <= 20 s
    kill -0 "$PREP_PID" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$SLB_API_PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
done
if [[ $up != 1 ]]; then
    if grep -q panicked "$OUT/prepare-serve.log"; then grep -m1 -A1 panicked "$OUT/prepare-serve.log" >&2; else tail -20 "$OUT/prepare-serve.log" >&2; fi
    die "slb serve did not answer on 127.0.0.1:$SLB_API_PORT (log: $OUT/prepare-serve.log)"
fi

call() {  # ACTION --Param value ... -> JSON on stdout; dies on an API error
    local out rc
    { printf '$ slb call'; printf ' %q' "$@"; echo; } >>"$OUT/prepare.log"
    out=$("$SLB_BIN" call --endpoint "http://127.0.0.1:$SLB_API_PORT" --data-dir "$DATA" "$@" 2>&1); rc=$?
    printf '%s\n' "$out" >>"$OUT/prepare.log"
    (( rc == 0 )) || { printf '%s\n' "$out" >&2; die "slb call $1 failed (rc=$rc); log: $OUT/prepare.log"; }
    printf '%s\n' "$out"
}

LB=$(call CreateLoadBalancer --RegionId local --Address 127.0.0.1 --AddressType intranet --LoadBalancerName bench-tcp | jq -r '.LoadBalancerId // empty')
[[ -n $LB ]] || die "CreateLoadBalancer returned no LoadBalancerId (see $OUT/prepare.log)"
HC=(--HealthCheckSwitch "$SLB_HEALTH_CHECK")
[[ $SLB_HEALTH_CHECK == on ]] && HC+=(--HealthCheckType tcp --healthCheckInterval 2)

# TCP throughput: listener -> the harness's iperf3 server (one backend, like the peers)
TCP_BACKEND_PORT=$IPERF_PORT
PP_ARGS=()
if [[ $PPV2 == 1 ]]; then
    # iperf3 does not read PROXY headers: a HAProxy that does (accept-proxy), pinned with the
    # backends, relays to it. Its CPU is not in the proxy column; OpenSLB's is.
    PP_PORT=$((PORT_BASE + 202))
    cat >"$OUT/haproxy-accept-proxy.cfg" <<CFG
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend pp
    bind 127.0.0.1:$PP_PORT accept-proxy
    default_backend iperf
backend iperf
    server iperf 127.0.0.1:$IPERF_PORT
CFG
    PP_PIN=(); [[ ${PIN:-1} == 1 ]] && PP_PIN=(taskset -c 0)
    "${PP_PIN[@]}" haproxy -f "$OUT/haproxy-accept-proxy.cfg" -db >"$OUT/haproxy-accept-proxy.log" 2>&1 &
    PP_PID=$!
    trap 'stop_prep; stop_keyserver; kill "$PP_PID" 2>/dev/null' EXIT
    TCP_BACKEND_PORT=$PP_PORT
    PP_ARGS=(--ProxyProtocolV2Enabled true)
fi
call AddBackendServers --RegionId local --LoadBalancerId "$LB" \
    --BackendServers '[{"ServerId":"127.0.0.1","Type":"ip","Weight":100}]' >/dev/null
call CreateLoadBalancerTCPListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TCP_PORT" \
    --BackendServerPort "$TCP_BACKEND_PORT" --Bandwidth -1 --Scheduler rr "${HC[@]}" "${PP_ARGS[@]}" >/dev/null
call StartLoadBalancerListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TCP_PORT" >/dev/null
if [[ $UDP == 1 ]]; then
    # iperf3 -u: its control connection takes the TCP listener, the datagrams this one
    # (UDP has its own port space, so both share SLB_TCP_PORT like nginx's stream block).
    call CreateLoadBalancerUDPListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TCP_PORT" \
        --BackendServerPort "$IPERF_PORT" --Bandwidth -1 --Scheduler rr --HealthCheckSwitch off >/dev/null
    call StartLoadBalancerListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TCP_PORT" --ListenerProtocol udp >/dev/null
fi

if [[ $HTTP == 1 ]]; then
    # HTTP through an L4 listener: both nginx backends, round robin, as the peers' HTTP proxies
    # (which terminate HTTP, so they are not the same work; see README).
    GROUP=$(call CreateVServerGroup --RegionId local --LoadBalancerId "$LB" --VServerGroupName bench-http \
        --BackendServers "[{\"ServerId\":\"127.0.0.1\",\"Type\":\"ip\",\"Port\":$BE1_PORT,\"Weight\":100},{\"ServerId\":\"127.0.0.1\",\"Type\":\"ip\",\"Port\":$BE2_PORT,\"Weight\":100}]" \
        | jq -r '.VServerGroupId // empty')
    [[ -n $GROUP ]] || die "CreateVServerGroup returned no VServerGroupId (see $OUT/prepare.log)"
    if [[ $HTTP_MODE == l7 ]]; then
        # Like the peers' HTTP proxies: no gzip, no stickiness, health checks as for TCP.
        call CreateLoadBalancerHTTPListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_HTTP_PORT" \
            --VServerGroupId "$GROUP" --Bandwidth -1 --Scheduler rr --StickySession off --Gzip off \
            --HealthCheck "$SLB_HEALTH_CHECK" >/dev/null
    else
        call CreateLoadBalancerTCPListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_HTTP_PORT" \
            --VServerGroupId "$GROUP" --Bandwidth -1 --Scheduler rr "${HC[@]}" >/dev/null
    fi
    call StartLoadBalancerListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_HTTP_PORT" >/dev/null
    if [[ $TLS == 1 ]]; then
        # The harness's certificate (ECDSA P-256), made here the way peers.sh makes it when
        # this is the first run, so that every proxy serves the same one.
        if [[ ! -s $RUN_DIR/cert.pem ]]; then
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$RUN_DIR/key.pem" -out "$RUN_DIR/cert.pem" -days 3650 -subj /CN=localhost \
                >/dev/null 2>&1 || die "openssl cert generation failed"
            cat "$RUN_DIR/cert.pem" "$RUN_DIR/key.pem" >"$RUN_DIR/combined.pem"
        fi
        CERT=$(call UploadServerCertificate --RegionId local --ServerCertificate "$(cat "$RUN_DIR/cert.pem")" \
            --PrivateKey "$(cat "$RUN_DIR/key.pem")" --ServerCertificateName bench | jq -r '.ServerCertificateId // empty')
        [[ -n $CERT ]] || die "UploadServerCertificate returned no ServerCertificateId (see $OUT/prepare.log)"
        # TLS 1.3 like the peers' listeners; HTTP/2 stays on (wrk speaks HTTP/1.1 and offers no ALPN).
        call CreateLoadBalancerHTTPSListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TLS_PORT" \
            --VServerGroupId "$GROUP" --Bandwidth -1 --Scheduler rr --StickySession off --Gzip off \
            --HealthCheck "$SLB_HEALTH_CHECK" --ServerCertificateId "$CERT" \
            --TLSCipherPolicy tls_cipher_policy_1_2_strict_with_1_3 >/dev/null
        call StartLoadBalancerListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TLS_PORT" >/dev/null
        # The same with resumption off, for the harness's full-handshake test (tls_full).
        call CreateLoadBalancerHTTPSListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TLSFULL_PORT" \
            --VServerGroupId "$GROUP" --Bandwidth -1 --Scheduler rr --StickySession off --Gzip off \
            --HealthCheck "$SLB_HEALTH_CHECK" --ServerCertificateId "$CERT" \
            --TLSCipherPolicy tls_cipher_policy_1_2_strict_with_1_3 --TLSSessionResumption off >/dev/null
        call StartLoadBalancerListener --RegionId local --LoadBalancerId "$LB" --ListenerPort "$SLB_TLSFULL_PORT" >/dev/null
    fi
fi
# a record of what was measured (not needed for the run, so failures here are not fatal)
( call DescribeLoadBalancerAttribute --RegionId local --LoadBalancerId "$LB"
  call DescribeLoadBalancerListeners --RegionId local --LoadBalancerId "$LB" ) >"$OUT/slb-config.json" 2>/dev/null

# the listener must actually be bound before we rely on the restart restoring it
for i in $(seq 1 50); do port_busy "$SLB_TCP_PORT" && break; sleep 0.1; done
port_busy "$SLB_TCP_PORT" || die "the started listener is not listening on 127.0.0.1:$SLB_TCP_PORT (log: $OUT/prepare-serve.log)"
stop_prep
log "configured $LB: tcp :$SLB_TCP_PORT -> :$IPERF_PORT$([[ $HTTP == 1 ]] && echo ", $([[ $HTTP_MODE == l7 ]] && echo http || echo tcp) :$SLB_HTTP_PORT -> :$BE1_PORT,:$BE2_PORT (rr)"); health checks $SLB_HEALTH_CHECK; node stopped"
for p in "$SLB_API_PORT" "$SLB_TCP_PORT"; do
    for i in $(seq 1 50); do port_busy "$p" || break; sleep 0.1; done
    port_busy "$p" && die "127.0.0.1:$p still in use after the preparing node stopped"
done

# ---------------------------------------------------------------- the measured run
SECTIONS=${SECTIONS:-tcp$([[ $HTTP == 1 ]] && echo " $HTTP_SECTIONS")$([[ $TLS == 1 ]] && echo " tls")}
RUNS=${RUNS:-1}; QUIET_WAIT=${QUIET_WAIT:-150}; RETRIES=${RETRIES:-2}; DUR=${DUR:-10}
ntests=0; for s in $SECTIONS; do ntests=$((ntests + 4)); done
TIMEOUT=${TIMEOUT:-$(( (QUIET_WAIT + DUR + 15) * (RETRIES + 1) * ntests * RUNS + 120 ))}

# peers.sh runs `bash -c "exec $EXTRA_CMD"` pinned; env(1) execs, so the PID it records is slb's.
EXTRA_CMD=$(printf '%q ' env "RUST_LOG=$SLB_LOG" "$SLB_BIN" "${SERVE_ARGS[@]}")
env_vars=(EXTRA_NAME="$EXTRA_NAME" EXTRA_CMD="$EXTRA_CMD" EXTRA_TCP_PORT="$SLB_TCP_PORT"
          SECTIONS="$SECTIONS" RUNS="$RUNS" QUIET_WAIT="$QUIET_WAIT" RETRIES="$RETRIES" DUR="$DUR"
          PORT_BASE="$PORT_BASE" RUN_DIR="$RUN_DIR" RESULTS_DIR="$OUT")
[[ $HTTP == 1 ]] && env_vars+=(EXTRA_HTTP_PORT="$SLB_HTTP_PORT")
[[ $UDP == 1 ]] && env_vars+=(EXTRA_UDP_PORT="$SLB_TCP_PORT")
[[ $TLS == 1 ]] && env_vars+=(EXTRA_TLS_PORT="$SLB_TLS_PORT" EXTRA_TLSFULL_PORT="$SLB_TLSFULL_PORT")
log "harness: SECTIONS='$SECTIONS' RUNS=$RUNS PIN=${PIN:-1}, at most ${TIMEOUT}s; raw output in $OUT"
env "${env_vars[@]}" timeout --kill-after=30 "$TIMEOUT" "${PEERS_RUN[@]}" run </dev/null >"$OUT/peers-summary.md" 2>"$OUT/peers.log"
rc=$?
grep -E '^\[..:..:..\] (tcp|ka|close|ERROR|machine|foreign)' "$OUT/peers.log" >&2
(( rc == 0 )) || { tail -15 "$OUT/peers.log" >&2; log "harness exited with rc=$rc (124 = TIMEOUT ${TIMEOUT}s reached); log: $OUT/peers.log"; }

mapfile -t tsvs < <(find "$OUT" -name results.tsv | sort)
(( ${#tsvs[@]} > 0 )) || die "no results.tsv produced (log: $OUT/peers.log)"
ks_line=""
if [[ -n $KS_PID ]]; then
    # utime + stime (clock ticks) of the key server over the whole run, and its signature count
    ks_ticks=$(awk '{print $14 + $15}' "/proc/$KS_PID/stat" 2>/dev/null)
    stop_keyserver
    ks_sigs=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/keyserver.log" | grep -o 'signatures=[0-9]*' | tail -1 | cut -d= -f2)
    ks_line=$(awk -v t="${ks_ticks:-0}" -v hz="$(getconf CLK_TCK)" -v n="${ks_sigs:-0}" 'BEGIN {
        s = t / hz; printf "key server (pinned with the proxy): %d signatures, %.2f CPU s over the run, %s per signature", n, s, (n > 0 ? sprintf("%.0f us", s * 1e6 / n) : "-") }')
fi
{
    echo "# bench/tcp.sh $STAMP: OpenSLB TCP listener vs nginx stream vs HAProxy mode tcp vs direct"
    grep -h '^# \(peers.sh\|versions\|pinning\)' "${tsvs[0]}"
    sed 's/^/# /' "$OUT/versions.txt"
    table "${tsvs[@]}"
    [[ -n $ks_line ]] && echo "$ks_line"
} | tee "$OUT/table.md"
log "table: $OUT/table.md; harness summary (all CPU columns): $OUT/peers-summary.md"
exit "$rc"
