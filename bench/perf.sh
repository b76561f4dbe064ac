#!/usr/bin/env bash
# bench/perf.sh: OpenSLB against nginx, HAProxy and a direct connection, every row in one run.
#
#   bench/perf.sh                    # install what is missing, build, RUNS=3 pinned runs, print + write the table
#   RUNS=1 DUR=5 bench/perf.sh       # a quick look
#   SECTIONS='ka h2' bench/perf.sh   # a subset: mem ka close h2 tls_full tcp tcp_pp udp big
#   PROXIES='openslb nginx' ...      # a subset of proxies (direct always runs)
#   bench/perf.sh table DIR...       # print the table again for earlier runs (medians over all of them)
#   bench/perf.sh up                 # start the whole fleet pinned and keep it up (UP_SECS, 1800) for profiling
#   SLB_BIN=/path/to/slb BUILD=0 ... # measure a given binary
#   FLOOR=0 ...                      # skip the minimal relay (below)
#
# Rows (each for direct, nginx, HAProxy and OpenSLB, all proxies pinned alike):
#   mem      RSS at rest (fresh process) and per idle keep-alive client connection (IDLE_CONNS open)
#   ka       HTTP/1.1 keep-alive, 100-byte body, wrk -c64: req/s, p50, p99, proxy CPU per request
#   close    HTTP/1.1, a new connection per request: req/s, proxy CPU per request
#   h2       HTTP/2 over TLS 1.3, keep-alive, h2load -c64 -m10: req/s, proxy CPU per request
#   tls_full TLS 1.3 full handshake per request (listeners with resumption off): handshakes/s
#   tcp      TCP bulk (iperf3, one stream): Gbit/s, proxy CPU per MiB
#   tcp_pp   the same with the PROXY protocol on (v2; nginx can only send v1), through a relay
#            (HAProxy accept-proxy, pinned with the backends) that strips it in front of iperf3
#   udp      UDP (iperf3 -u -b 2G -l 1400): delivered Gbit/s and loss (HAProxy has no UDP)
#   big      1 MiB responses: MiB/s, proxy CPU per MiB
# On the tcp, tcp_pp and big rows a minimal blocking relay (`slb-bench relay`: a thread per
# direction, read and write, nothing else) also runs in the proxy's place, pinned alike: the
# floor of any user-space hop on this host, printed in a second table beside direct.
#
# Topology, all on 127.0.0.1, ports PORT_BASE (28000) + offset:
#   backends   2 x nginx (1 worker): HTTP 81/82, TLS+h2 481/482, TLS without resumption 491/492
#   iperf3     -s on 201; PROXY-stripping relay (HAProxy accept-proxy) 202 -> 201
#   nginx      http 90, tls(h2) 443, tls-full 453, stream tcp+udp 211, stream tcp proxy_protocol 212
#   HAProxy    http 91, tls(h2) 444, tls-full 454, tcp 210, tcp send-proxy-v2 213
#   OpenSLB    http 95, https 445, https-full 455, tcp+udp 215, tcp ProxyProtocolV2 216, API 298
#   relay      tcp 230 -> 201, tcp PROXY v2 231 -> 202, http 232 -> 81 and 82 in turn (FLOOR=1)
# Pinning (PIN=1): every proxy on CPU 1; load generators and backends on CPU 0.
# Several workers per proxy (nginx worker_processes, HAProxy nbthread, OpenSLB --workers, all
# WORKERS): give the proxies as many CPUs, e.g. on an 8-CPU host
#   WORKERS=4 PROXY_CPU=4-7 LG_CPU=0-3 bench/perf.sh
# Every load is bounded (wrk -d, h2load -D, iperf3 -t, each under timeout(1)); every daemon is
# started here and stopped by its PID. Results: bench/results/perf-<date>/ (table.md, results.tsv,
# raw/, logs/). The proxy CPU is user+sys of its process tree from /proc (softirq excluded).
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

RUNS=${RUNS:-3}
DUR=${DUR:-10}                 # seconds per measured load
WARMUP=${WARMUP:-2}            # unmeasured seconds before each wrk/h2load load
CONNS=${CONNS:-64}
H2_STREAMS=${H2_STREAMS:-10}   # h2load -m: concurrent streams per connection
IDLE_CONNS=${IDLE_CONNS:-10000}
UDP_BW=${UDP_BW:-2G}
UDP_LEN=${UDP_LEN:-1400}
SECTIONS=${SECTIONS:-"mem ka close h2 tls_full tcp tcp_pp udp big"}
PROXIES=${PROXIES:-"nginx haproxy openslb"}
PIN=${PIN:-1}
LG_CPU=${LG_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
WORKERS=${WORKERS:-1}          # worker processes/threads of every proxy (see above)
PORT_BASE=${PORT_BASE:-28000}
INSTALL=${INSTALL:-1}          # 0 = never apt-get install
BUILD=${BUILD:-1}              # 0 = use target/release/{slb,slb-bench} as they are
FLOOR=${FLOOR:-1}              # 1 = the minimal relay on the tcp, tcp_pp and big rows too
QUIET_MAX=${QUIET_MAX:-10}     # before each load: wait until the machine is <= this % busy ...
QUIET_SECS=${QUIET_SECS:-3}    # ... for this many seconds in a row ...
QUIET_WAIT=${QUIET_WAIT:-120}  # ... but at most this long (then measure and flag NOT_QUIET)
FOREIGN_MAX=${FOREIGN_MAX:-15} # other processes above this % of a CPU during a load: repeat it ...
RETRIES=${RETRIES:-2}          # ... at most this many times (the last attempt is kept, flagged)
PAUSE=${PAUSE:-1}
SLB_LOG=${SLB_LOG:-warn}
RESULTS_ROOT=${RESULTS_ROOT:-$BENCH_DIR/results}

P() { echo $((PORT_BASE + $1)); }
BE1=$(P 81); BE2=$(P 82); BE1_TLS=$(P 481); BE2_TLS=$(P 482); BE1_FULL=$(P 491); BE2_FULL=$(P 492)
IPERF=$(P 201); RELAY=$(P 202)
declare -A HTTP=([nginx]=$(P 90) [haproxy]=$(P 91) [openslb]=$(P 95) [floor]=$(P 232))
declare -A TLS=([nginx]=$(P 443) [haproxy]=$(P 444) [openslb]=$(P 445))
declare -A TLSFULL=([nginx]=$(P 453) [haproxy]=$(P 454) [openslb]=$(P 455))
declare -A TCP=([nginx]=$(P 211) [haproxy]=$(P 210) [openslb]=$(P 215) [floor]=$(P 230))
declare -A TCP_PP=([nginx]=$(P 212) [haproxy]=$(P 213) [openslb]=$(P 216) [floor]=$(P 231))
declare -A UDP=([nginx]=$(P 211) [openslb]=$(P 215))
API=$(P 298)

log() { printf '[perf %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
pinned() { local cpu=$1; shift; if [[ $PIN == 1 ]]; then taskset -c "$cpu" "$@"; else "$@"; fi; }
port_busy() { ss -Htuln "sport = :$1" | grep -q .; }
wait_port() { local i; for i in $(seq 1 100); do port_busy "$1" && return 0; sleep 0.1; done; return 1; }

# ---------------------------------------------------------------- the table
# table TSV... -> markdown: medians over runs, OpenSLB / best peer, OpenSLB / direct.
table() {
    cat "$@" | grep -v '^#' | awk -F'\t' '
    function isnum(v) { return v ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
    function med(list,   n, i, j, x, t, k, v) {
        n = split(list, x, ","); k = 0
        for (i = 1; i <= n; i++) if (isnum(x[i])) { k++; v[k] = x[i] + 0 }
        if (k == 0) return "-"
        for (i = 2; i <= k; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j+1] = v[j]; v[j+1] = t }
        return (k % 2) ? v[(k+1)/2] : (v[k/2] + v[k/2+1]) / 2
    }
    function add(key, val) { if (isnum(val)) acc[key] = (key in acc) ? acc[key] "," val : val }
    function f(v) { if (!isnum(v)) return "-"; v += 0; return v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : sprintf("%.2f", v) }
    # one metric line: label, test, field, higher-is-better?
    function line(label, t, fld, hib,   g, v, best, bn, o, r1, r2, s) {
        for (g = 1; g <= 4; g++) { v[g] = med(acc[t SUBSEP tg[g] SUBSEP fld]) }
        if (fld == "pct" || fld == "cost") v[1] = "-"
        if (v[1] == "-" && v[2] == "-" && v[3] == "-" && v[4] == "-") return
        best = "-"; bn = ""
        for (g = 2; g <= 3; g++) if (isnum(v[g]) && (best == "-" || (hib > 0 ? v[g] > best : v[g] < best))) { best = v[g]; bn = tn[g] }
        o = v[4]
        r1 = (isnum(o) && isnum(best) && best > 0) ? sprintf("%.2f (%s)", o / best, bn) : "-"
        r2 = (isnum(o) && isnum(v[1]) && v[1] > 0) ? sprintf("%.2f", o / v[1]) : "-"
        s = sprintf("| %s | %s | %s | %s | %s | %s | %s |", label, f(v[1]), f(v[2]), f(v[3]), f(v[4]), r1, r2)
        if (hib >= 0 && isnum(o) && isnum(best)) s = s ((hib ? o >= best : o <= best) ? " ok" : " **miss**")
        print s
    }
    # The minimal relay beside direct and OpenSLB, on the rows where it ran.
    function floor_table(   i, t, d, r, o, rc, oc, any) {
        for (i = 1; i <= 9; i++) {
            t = order[i]; r = med(acc[t SUBSEP "floor" SUBSEP "v"])
            if (r == "-") continue
            if (!any++) {
                print ""
                print "A minimal relay in the proxy'"'"'s place (`slb-bench relay`: a blocking thread per direction, read and write; pinned alike), the floor of a user-space hop on this host:"
                print ""
                print "| test | direct | minimal relay | OpenSLB | relay / direct | OpenSLB / relay | relay CPU | OpenSLB CPU |"
                print "|---|---|---|---|---|---|---|---|"
            }
            d = med(acc[t SUBSEP "direct" SUBSEP "v"]); o = med(acc[t SUBSEP "openslb" SUBSEP "v"])
            rc = med(acc[t SUBSEP "floor" SUBSEP "cost"]); oc = med(acc[t SUBSEP "openslb" SUBSEP "cost"])
            printf "| %s, %s | %s | %s | %s | %s | %s | %s | %s |\n", name[t], unit[t], f(d), f(r), f(o),
                (isnum(d) && d > 0) ? sprintf("%.2f", r / d) : "-", (isnum(o) && r > 0) ? sprintf("%.2f", o / r) : "-",
                f(rc) " " cu[t], f(oc) " " cu[t]
        }
    }
    BEGIN { tg[1] = "direct"; tg[2] = "nginx"; tg[3] = "haproxy"; tg[4] = "openslb"; tn[2] = "nginx"; tn[3] = "HAProxy"
            split("mem ka close h2 tls_full tcp tcp_pp udp big", order, " ")
            name["ka"] = "HTTP/1.1 keep-alive"; name["close"] = "HTTP/1.1 new connection per request"
            name["h2"] = "HTTP/2 over TLS 1.3 keep-alive"; name["tls_full"] = "TLS 1.3 full handshakes"
            name["tcp"] = "TCP bulk"; name["tcp_pp"] = "TCP bulk, PROXY protocol on"; name["udp"] = "UDP (iperf3 -u -b 2G)"
            name["big"] = "1 MiB responses" }
    # run test target value unit p50 p99 aux aux_unit cost cost_unit cpu_pct elapsed note
    # a flagged sample (machine busy, or an error) counts only when its test has no clean one
    { nr_all++; rows[nr_all] = $0; if ($14 !~ /CONTAMINATED|NOT_QUIET|error/) clean[$2 SUBSEP $3]++ }
    END {
        for (r = 1; r <= nr_all; r++) {
            split(rows[r], c, "\t"); k = c[2] SUBSEP c[3]
            if (c[14] ~ /CONTAMINATED|NOT_QUIET|error/) { if (clean[k]) { bad[k]++; continue } flagged[k] = 1 }
            add(k SUBSEP "v", c[4]); add(k SUBSEP "p50", c[6]); add(k SUBSEP "p99", c[7]); add(k SUBSEP "aux", c[8])
            add(k SUBSEP "cost", c[10]); add(k SUBSEP "pct", c[12]); unit[c[2]] = c[5]; cu[c[2]] = c[11]; if (++samples[k] > nr) nr = samples[k]
        }
        printf "Medians of up to %d run(s). Ratios: OpenSLB / the better of nginx and HAProxy (which one), and / direct.\n", nr
        print "ok / **miss**: OpenSLB at least as good as the better peer on that line (higher throughput; lower CPU, latency, loss, memory)."
        print ""
        print "| test | direct | nginx | HAProxy | OpenSLB | OpenSLB / best peer | OpenSLB / direct |"
        print "|---|---|---|---|---|---|---|"
        for (i = 1; i <= 9; i++) {
            t = order[i]
            if (t == "mem") {
                line("RSS at rest, MiB", "mem_rest", "v", 0)
                line("RSS with idle keep-alive connections, MiB", "mem_idle", "aux", 0)
                line("memory per idle connection, KiB", "mem_idle", "v", 0)
                continue
            }
            if (!(t in unit)) continue
            line(name[t] ", " unit[t], t, "v", 1)
            if (t == "ka" || t == "close" || t == "tls_full") { line("… p50 ms", t, "p50", 0); line("… p99 ms", t, "p99", 0) }
            if (t == "h2") line("… mean latency ms", t, "p50", 0)
            if (t == "udp") line("… loss %", t, "aux", 0)
            if (t == "tcp" || t == "tcp_pp") line("… retransmits", t, "aux", 0)
            line("… proxy CPU " cu[t], t, "cost", 0)
            line("… proxy CPU %", t, "pct", -1)
        }
        floor_table()
        for (k in bad) { split(k, kk, SUBSEP); printf "\nleft out: %d flagged sample(s) of %s %s (machine busy or error; a clean one exists)", bad[k], kk[1], kk[2] }
        for (k in flagged) { split(k, kk, SUBSEP); printf "\n**flagged**: %s %s has only samples taken while the machine was busy or with errors (see raw/)", kk[1], kk[2] }
        print ""
    }'
}

if [[ ${1:-} == table ]]; then
    shift; (( $# > 0 )) || die "usage: $0 table RESULTS_DIR..."
    tsvs=(); for d in "$@"; do if [[ -f $d ]]; then tsvs+=("$d"); else tsvs+=("$d/results.tsv"); fi; done
    table "${tsvs[@]}"; exit 0
fi
CMD=${1:-run}
[[ $CMD == run || $CMD == up ]] || { sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 1; }

# ---------------------------------------------------------------- install, build
missing=()
for b in nginx:nginx haproxy:haproxy wrk:wrk h2load:nghttp2-client iperf3:iperf3 jq:jq openssl:openssl \
         taskset:util-linux ss:iproute2 curl:curl; do
    command -v "${b%%:*}" >/dev/null || missing+=("${b#*:}")
done
[[ -r /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
if (( ${#missing[@]} > 0 )); then
    [[ $INSTALL == 1 ]] || die "missing packages: ${missing[*]} (INSTALL=0)"
    sudo_cmd=(); [[ $(id -u) != 0 ]] && sudo_cmd=(sudo)
    # Debian starts nginx/haproxy services on install; a policy-rc.d that says no keeps :80 free.
    added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null && "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d && added_policy=1
    fi
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >&2 \
        || { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >&2; } \
        || die "apt-get install ${missing[*]} failed"
    [[ $added_policy == 1 ]] && "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d
fi
if [[ $BUILD == 1 ]]; then
    log "cargo build --release -p slb -p slb-bench"
    (cd "$REPO" && cargo build --release -p slb -p slb-bench) >&2 || die "cargo build failed"
fi
SLB=${SLB_BIN:-$REPO/target/release/slb}; SLB_BENCH=${SLB_BENCH_BIN:-$REPO/target/release/slb-bench}
[[ " $PROXIES " != *" openslb "* || -x $SLB ]] || die "no $SLB (cargo build --release -p slb)"
# The relay runs only where it is measured.
[[ $FLOOR == 1 && " $SECTIONS " =~ " "(tcp|tcp_pp|big)" " ]] || FLOOR=0
[[ " $SECTIONS " != *" mem "* && $FLOOR == 0 || -x $SLB_BENCH ]] || die "no $SLB_BENCH (cargo build --release -p slb-bench)"

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$RESULTS_ROOT/perf-$STAMP
RUN=$OUT/run; RAW=$OUT/raw; LOGS=$OUT/logs; TSV=$OUT/results.tsv
mkdir -p "$RUN/www/big" "$RAW" "$LOGS" || die "cannot create $OUT"
for p in $(P 81) $(P 82) $(P 481) $(P 482) $(P 491) $(P 492) "$IPERF" "$RELAY" "$API" \
         "${HTTP[@]}" "${TLS[@]}" "${TLSFULL[@]}" "${TCP[@]}" "${TCP_PP[@]}"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (ss -tulnp); set another PORT_BASE"
done
NOFILE=$(ulimit -Hn); [[ $NOFILE == unlimited || $NOFILE -gt 65536 ]] && NOFILE=65536
ulimit -Sn "$NOFILE"
(( NOFILE > IDLE_CONNS + 1000 )) || log "hard open-file limit $NOFILE is tight for IDLE_CONNS=$IDLE_CONNS"
# HAProxy reserves two descriptors per connection it admits (client and server side) and refuses
# to start when maxconn does not fit the open-file limit, so it may hold fewer idle connections.
HAPROXY_MAXCONN=$(( (NOFILE - 64) / 2 )); (( HAPROXY_MAXCONN > IDLE_CONNS + 2000 )) && HAPROXY_MAXCONN=$((IDLE_CONNS + 2000))
idle_conns_of() { if [[ $1 == haproxy ]] && (( IDLE_CONNS > HAPROXY_MAXCONN - 64 )); then echo $((HAPROXY_MAXCONN - 64)); else echo "$IDLE_CONNS"; fi; }

# ---------------------------------------------------------------- daemons
declare -A PID_OF
start_bg() {  # name cpu cmd... (taskset execs, so $! is the daemon)
    local name=$1 cpu=$2; shift 2
    if [[ $PIN == 1 ]]; then taskset -c "$cpu" "$@" >"$LOGS/$name.out" 2>&1 & else "$@" >"$LOGS/$name.out" 2>&1 & fi
    PID_OF[$name]=$!
}
stop_one() {
    local pid=${PID_OF[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "PID_OF[$1]"
}
stop_all() { local n; for n in "${!PID_OF[@]}"; do stop_one "$n"; done; }
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM HUP

tree_pids() { local p=$1 c; [[ -d /proc/$p ]] || return 0; echo "$p"; for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done; }
pids_of() { [[ $1 == direct || -z ${PID_OF[$1]:-} ]] || tree_pids "${PID_OF[$1]}"; }
ticks_of() { local t=0 p v; for p in "$@"; do v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}'); t=$((t + ${v:-0})); done; echo "$t"; }
rss_kib() { local t=0 p v; for p in "$@"; do v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null); t=$((t + ${v:-0})); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

render() {  # template -> $RUN/name with @VAR@ replaced from the environment of this script
    local src=$BENCH_DIR/conf/$1 dst=$RUN/${1%.in}
    local user_line=""; [[ $(id -u) == 0 ]] && user_line="user nobody nogroup;"
    sed -e "s|@RUN@|$RUN|g" -e "s|@USER_LINE@|$user_line|g" -e "s|@NOFILE@|$NOFILE|g" -e "s|@IDLE_MAX@|$((IDLE_CONNS + 2000))|g" -e "s|@HAPROXY_MAXCONN@|$HAPROXY_MAXCONN|g" -e "s|@WORKERS@|$WORKERS|g" \
        -e "s|@BE1@|$BE1|g" -e "s|@BE2@|$BE2|g" -e "s|@IPERF@|$IPERF|g" -e "s|@RELAY@|$RELAY|g" \
        -e "s|@NGINX_HTTP@|${HTTP[nginx]}|g" -e "s|@NGINX_TLS@|${TLS[nginx]}|g" -e "s|@NGINX_TLSFULL@|${TLSFULL[nginx]}|g" \
        -e "s|@NGINX_TCP@|${TCP[nginx]}|g" -e "s|@NGINX_TCP_PP@|${TCP_PP[nginx]}|g" \
        -e "s|@HAPROXY_HTTP@|${HTTP[haproxy]}|g" -e "s|@HAPROXY_TLS@|${TLS[haproxy]}|g" -e "s|@HAPROXY_TLSFULL@|${TLSFULL[haproxy]}|g" \
        -e "s|@HAPROXY_TCP@|${TCP[haproxy]}|g" -e "s|@HAPROXY_TCP_PP@|${TCP_PP[haproxy]}|g" \
        "$src" >"$dst"
}

prepare_files() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$RUN/key.pem" \
        -out "$RUN/cert.pem" -days 3650 -subj /CN=localhost >/dev/null 2>&1 || die "openssl failed"
    cat "$RUN/cert.pem" "$RUN/key.pem" >"$RUN/combined.pem"
    head -c 1048576 /dev/urandom >"$RUN/www/big/1m.bin"
    local b; for b in backend1 backend2; do mkdir -p "$RUN/tmp/$b"; done; mkdir -p "$RUN/tmp/nginx-proxy"
    render backend.conf.in; render nginx-proxy.conf.in; render haproxy.cfg.in; render relay.cfg.in
    local i
    for i in 1 2; do
        local port=$((PORT_BASE + 80 + i)) tls=$((PORT_BASE + 480 + i)) full=$((PORT_BASE + 490 + i))
        sed -e "s|@NAME@|backend$i|g" -e "s|@PORT@|$port|g" -e "s|@TLSPORT@|$tls|g" -e "s|@TLSFULLPORT@|$full|g" \
            "$RUN/backend.conf" >"$RUN/backend$i.conf"
    done
    chmod -R a+rX "$RUN"
}

start_backends() {
    start_bg backend1 "$LG_CPU" nginx -c "$RUN/backend1.conf" -g 'daemon off;'
    start_bg backend2 "$LG_CPU" nginx -c "$RUN/backend2.conf" -g 'daemon off;'
    start_bg iperf3-server "$LG_CPU" iperf3 -s -B 127.0.0.1 -p "$IPERF"
    start_bg relay "$LG_CPU" haproxy -f "$RUN/relay.cfg" -db
    local p; for p in "$BE1" "$BE2" "$BE1_TLS" "$BE1_FULL" "$IPERF" "$RELAY"; do wait_port "$p" || die "backend port $p did not open (logs: $LOGS)"; done
}

# OpenSLB's configuration, made once through the API as a user would, then restored by every
# start of `slb serve` from its data directory.
SLB_DATA=$OUT/slb-data
SERVE_ARGS=(serve --data-dir "$SLB_DATA" --api-addr "127.0.0.1:$API" --region local --zone local-a --zone local-b
            --address-pool 127.0.0.1/32 --access-log off --workers "$WORKERS")
call() {
    local out rc
    { printf '$ slb call'; printf ' %q' "$@"; echo; } >>"$LOGS/prepare.log"
    out=$("$SLB" call --endpoint "http://127.0.0.1:$API" --data-dir "$SLB_DATA" "$@" 2>&1); rc=$?
    printf '%s\n' "$out" >>"$LOGS/prepare.log"
    (( rc == 0 )) || { printf '%s\n' "$out" >&2; die "slb call $1 failed; log: $LOGS/prepare.log"; }
    printf '%s\n' "$out"
}
prepare_openslb() {
    RUST_LOG=info "$SLB" "${SERVE_ARGS[@]}" >"$LOGS/prepare-serve.log" 2>&1 &
    local pid=$! lb group cert
    PID_OF[prepare]=$pid
    wait_port "$API" || die "slb serve did not start (log: $LOGS/prepare-serve.log)"
    lb=$(call CreateLoadBalancer --RegionId local --Address 127.0.0.1 --AddressType intranet --LoadBalancerName perf | jq -r .LoadBalancerId)
    local common=(--RegionId local --LoadBalancerId "$lb" --Bandwidth -1 --Scheduler rr)
    call AddBackendServers --RegionId local --LoadBalancerId "$lb" --BackendServers '[{"ServerId":"127.0.0.1","Type":"ip","Weight":100}]' >/dev/null
    call CreateLoadBalancerTCPListener "${common[@]}" --ListenerPort "${TCP[openslb]}" --BackendServerPort "$IPERF" --HealthCheckSwitch off >/dev/null
    call CreateLoadBalancerUDPListener "${common[@]}" --ListenerPort "${UDP[openslb]}" --BackendServerPort "$IPERF" --HealthCheckSwitch off >/dev/null
    call CreateLoadBalancerTCPListener "${common[@]}" --ListenerPort "${TCP_PP[openslb]}" --BackendServerPort "$RELAY" --HealthCheckSwitch off \
        --ProxyProtocolV2Enabled true >/dev/null
    group=$(call CreateVServerGroup --RegionId local --LoadBalancerId "$lb" --VServerGroupName perf-http \
        --BackendServers "[{\"ServerId\":\"127.0.0.1\",\"Type\":\"ip\",\"Port\":$BE1,\"Weight\":100},{\"ServerId\":\"127.0.0.1\",\"Type\":\"ip\",\"Port\":$BE2,\"Weight\":100}]" \
        | jq -r .VServerGroupId)
    local l7=("${common[@]}" --VServerGroupId "$group" --StickySession off --Gzip off --HealthCheck off --IdleTimeout 60)
    call CreateLoadBalancerHTTPListener "${l7[@]}" --ListenerPort "${HTTP[openslb]}" >/dev/null
    cert=$(call UploadServerCertificate --RegionId local --ServerCertificate "$(cat "$RUN/cert.pem")" \
        --PrivateKey "$(cat "$RUN/key.pem")" --ServerCertificateName perf | jq -r .ServerCertificateId)
    local tls=("${l7[@]}" --ServerCertificateId "$cert" --TLSCipherPolicy tls_cipher_policy_1_2_strict_with_1_3)
    call CreateLoadBalancerHTTPSListener "${tls[@]}" --ListenerPort "${TLS[openslb]}" --EnableHttp2 on >/dev/null
    call CreateLoadBalancerHTTPSListener "${tls[@]}" --ListenerPort "${TLSFULL[openslb]}" --TLSSessionResumption off >/dev/null
    local port proto
    for port in "${TCP[openslb]}" "${TCP_PP[openslb]}" "${HTTP[openslb]}" "${TLS[openslb]}" "${TLSFULL[openslb]}"; do
        call StartLoadBalancerListener --RegionId local --LoadBalancerId "$lb" --ListenerPort "$port" >/dev/null
    done
    call StartLoadBalancerListener --RegionId local --LoadBalancerId "$lb" --ListenerPort "${UDP[openslb]}" --ListenerProtocol udp >/dev/null
    wait_port "${TLSFULL[openslb]}" || die "OpenSLB listeners did not open (log: $LOGS/prepare-serve.log)"
    call DescribeLoadBalancerAttribute --RegionId local --LoadBalancerId "$lb" >"$OUT/slb-config.json"
    stop_one prepare
    local p; for p in "$API" "${HTTP[openslb]}"; do for _ in $(seq 1 50); do port_busy "$p" || break; sleep 0.1; done; done
}

start_proxies() {
    local p
    for p in $PROXIES; do
        case $p in
            nginx) start_bg nginx "$PROXY_CPU" nginx -c "$RUN/nginx-proxy.conf" -g 'daemon off;' ;;
            haproxy) start_bg haproxy "$PROXY_CPU" haproxy -f "$RUN/haproxy.cfg" -db ;;
            openslb) start_bg openslb "$PROXY_CPU" env RUST_LOG="$SLB_LOG" "$SLB" "${SERVE_ARGS[@]}" ;;
            *) die "unknown proxy $p" ;;
        esac
    done
    if [[ $FLOOR == 1 ]]; then
        start_bg floor "$PROXY_CPU" "$SLB_BENCH" relay --secs $((RUNS * 3600)) --route "127.0.0.1:${TCP[floor]}=127.0.0.1:$IPERF" \
            --route-proxy-v2 "127.0.0.1:${TCP_PP[floor]}=127.0.0.1:$RELAY" --route "127.0.0.1:${HTTP[floor]}=127.0.0.1:$BE1,127.0.0.1:$BE2"
        wait_port "${HTTP[floor]}" || die "the minimal relay did not open its ports (log: $LOGS/floor.out)"
    fi
    for p in $PROXIES; do wait_port "${HTTP[$p]}" && wait_port "${TLSFULL[$p]}" || die "$p did not open its ports (logs: $LOGS/$p.out)"; done
    sleep 1
}
stop_proxies() { local p; for p in $PROXIES; do stop_one "$p"; done; stop_one floor; }

# ---------------------------------------------------------------- measuring
busy_pct() {  # whole machine busy % over $1 s
    local a b
    a=$(awk '$1=="cpu"{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat); sleep "$1"
    b=$(awk '$1=="cpu"{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; printf "%.1f", (d > 0 ? 100*(y[1]-x[1])/d : 0)}'
}
NOTE=""
wait_quiet() {
    local waited=0 quiet=0 busy
    while (( quiet < QUIET_SECS )); do
        busy=$(busy_pct 1); waited=$((waited + 1))
        if awk -v b="$busy" -v m="$QUIET_MAX" 'BEGIN{exit !(b <= m)}'; then quiet=$((quiet + 1)); else quiet=0; fi
        (( waited >= QUIET_WAIT && quiet < QUIET_SECS )) && { NOTE="NOT_QUIET"; return; }
    done
}
proc_ticks() { awk '$1=="cpu"{print $2+$3+$4}' /proc/stat; }   # user+nice+system of all processes
cpu_snap() { awk '$1 ~ /^cpu[0-9]+$/ {printf "%s %d %d %d ", $1, $2+$3+$4, $7+$8, $2+$3+$4+$5+$6+$7+$8+$9} END {print ""}' /proc/stat; }
cpu_busy() {  # before after -> "cpu0=busy%(softirq%) cpu1=..." (busy includes softirq, which no process is charged)
    awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i + 3 <= n; i += 4) { d = y[i+3] - x[i+3]; if (d <= 0) d = 1
            printf "%s=%.0f%%(si%.0f%%) ", x[i], 100 * (y[i+1] - x[i+1] + y[i+2] - x[i+2]) / d, 100 * (y[i+2] - x[i+2]) / d } }'
}

# measure target rawfile cmd...: runs the load pinned on the load generator's CPU between
# snapshots; sets M_SEC (proxy CPU s), M_ELAPSED, M_PCT; repeats if other work ran meanwhile.
measure() {
    local target=$1 raw=$2 attempt t0 t1 px0 px1 all0 all1 be0 be1 lg foreign c0; shift 2
    { printf '%q ' "$@"; echo; } >"$raw.cmd"
    for (( attempt = 1; ; attempt++ )); do
        NOTE=""; wait_quiet
        # shellcheck disable=SC2046
        px0=$(ticks_of $(pids_of "$target")); be0=$(ticks_of $(backend_pids)); all0=$(proc_ticks); c0=$(cpu_snap); t0=$(date +%s%N)
        { TIMEFORMAT='%3U %3S'; time pinned "$LG_CPU" timeout $((DUR + WARMUP + 30)) "$@" >"$raw" 2>&1; } 2>"$raw.time"
        t1=$(date +%s%N)
        # shellcheck disable=SC2046
        px1=$(ticks_of $(pids_of "$target")); be1=$(ticks_of $(backend_pids)); all1=$(proc_ticks); M_CPUS=$(cpu_busy "$c0" "$(cpu_snap)")
        M_ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
        M_SEC=$(awk -v d=$((px1 - px0)) -v hz="$HZ" 'BEGIN{printf "%.4f", d/hz}')
        M_PCT=$(awk -v s="$M_SEC" -v e="$M_ELAPSED" 'BEGIN{printf "%.1f", 100*s/e}')
        lg=$(awk '{print $1+$2}' "$raw.time")
        foreign=$(awk -v all=$((all1 - all0)) -v px=$((px1 - px0)) -v be=$((be1 - be0)) -v lg="$lg" -v hz="$HZ" -v e="$M_ELAPSED" \
            'BEGIN{f = (all - px - be) / hz - lg; if (f < 0) f = 0; printf "%.1f", 100 * f / e}')
        awk -v f="$foreign" -v m="$FOREIGN_MAX" 'BEGIN{exit !(f <= m)}' && break
        if (( attempt > RETRIES )); then NOTE="$NOTE CONTAMINATED(foreign=$foreign%)"; break; fi
        log "other processes used $foreign% of a CPU during $(basename "$raw"); repeating"
        sleep "$PAUSE"
    done
}
backend_pids() { local n; for n in backend1 backend2 iperf3-server relay; do [[ -n ${PID_OF[$n]:-} ]] && tree_pids "${PID_OF[$n]}"; done; }

emit() {  # test target value unit p50 p99 aux aux_unit cost cost_unit
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$@" "${M_PCT:--}" "${M_ELAPSED:--}" "${NOTE# }" >>"$TSV"
    log "$(printf '%-8s %-8s %12s %-7s p50=%s p99=%s %s=%s cost=%s %s proxy=%s%% %s%s' "$1" "$2" "$3" "$4" "$5" "$6" "$8" "$7" "$9" "${10}" "${M_PCT:--}" "${M_CPUS:-}" "${NOTE# }")"
}
per() {  # cpu_seconds units -> µs per unit ("-" for direct)
    awk -v s="$M_SEC" -v n="$1" -v t="$2" 'BEGIN{ if (t == "direct" || n <= 0) print "-"; else printf "%.2f", 1e6 * s / n }'
}

# wrk output -> "rps p50_ms p99_ms requests errors mib_per_s"
parse_wrk() {
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         function mib(v) { if (v ~ /GB$/) return v*1024; if (v ~ /MB$/) return v+0; if (v ~ /KB$/) return v/1024; return v/1048576 }
         /requests in/ { req = $1 } /^Requests\/sec:/ { rps = $2 } /^Transfer\/sec:/ { tr = mib($2) }
         $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
         /Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 } /Non-2xx or 3xx/ { err += $5 }
         END { printf "%s %.3f %.3f %s %d %.2f\n", (rps == "" ? "-" : rps), p50, p99, (req == "" ? 0 : req), err, tr }' "$1"
}
run_wrk() {  # test target url [wrk args...]
    local test=$1 target=$2 url=$3 raw rps p50 p99 req err tr; shift 3
    raw=$RAW/run$RUN_ID.$test.$target.txt
    (( WARMUP > 0 )) && pinned "$LG_CPU" timeout $((WARMUP + 20)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null 2>&1
    measure "$target" "$raw" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url"
    read -r rps p50 p99 req err tr < <(parse_wrk "$raw")
    (( err > 0 )) && NOTE="$NOTE error=$err"
    if [[ $test == big ]]; then
        emit "$test" "$target" "$tr" MiB/s "$p50" "$p99" "$rps" req/s "$(per "$(awk -v m="$tr" -v d="$DUR" 'BEGIN{print m*d}')" "$target")" µs/MiB
    else
        emit "$test" "$target" "$rps" req/s "$p50" "$p99" "$err" errors "$(per "$req" "$target")" µs/req
    fi
    sleep "$PAUSE"
}
run_h2() {  # target url
    local target=$1 url=$2 raw rps mean req
    raw=$RAW/run$RUN_ID.h2.$target.txt
    # The warm-up is a load of its own, outside the CPU window, as for wrk: h2load's
    # --warm-up-time would leave its seconds in the proxy's CPU but not in the request count.
    (( WARMUP > 0 )) && pinned "$LG_CPU" timeout $((WARMUP + 20)) h2load -c"$CONNS" -m"$H2_STREAMS" -t1 -D"$WARMUP" "$url" >/dev/null 2>&1
    measure "$target" "$raw" h2load -c"$CONNS" -m"$H2_STREAMS" -t1 -D"$DUR" "$url"
    # "finished in 10.00s, 51234.50 req/s, ..."; "requests: N total, N started, N done, N succeeded, N failed"
    read -r rps req mean < <(awk '/^finished in/ { gsub(",", ""); r = $4 } /^requests:/ { n = $8 }
        /^time for request:/ { m = $6 } END { u = (m ~ /us$/) ? m/1000 : (m ~ /ms$/) ? m+0 : m*1000; print (r == "" ? "-" : r), (n == "" ? 0 : n), u }' "$raw")
    grep -q 'h2' <(grep -i 'Application protocol' "$raw") || NOTE="$NOTE error=no-h2"
    emit h2 "$target" "$rps" req/s "$mean" - - - "$(per "$req" "$target")" µs/req
    sleep "$PAUSE"
}
run_iperf() {  # test target port [iperf3 args...]
    local test=$1 target=$2 port=$3 raw gbps aux aux_unit mib; shift 3
    raw=$RAW/run$RUN_ID.$test.$target.json
    measure "$target" "$raw" iperf3 -c 127.0.0.1 -p "$port" -t "$DUR" -J "$@"
    if [[ $test == udp ]]; then
        read -r gbps aux < <(jq -r '"\(.end.sum_received.bits_per_second / 1e9) \(.end.sum_received.lost_percent)"' "$raw" 2>/dev/null || echo "- -")
        aux_unit=loss%
    else
        read -r gbps aux < <(jq -r '"\(.end.sum_received.bits_per_second / 1e9) \(.end.sum_sent.retransmits)"' "$raw" 2>/dev/null || echo "- -")
        aux_unit=retransmits
    fi
    [[ -n $(jq -r '.error // empty' "$raw" 2>/dev/null) || $gbps == null ]] && { NOTE="$NOTE error=iperf3"; gbps=-; }
    mib=$(awk -v g="$gbps" -v d="$DUR" 'BEGIN{ print (g == "-") ? 0 : g * 1e9 / 8 * d / 1048576 }')
    emit "$test" "$target" "$gbps" Gbit/s - - "$aux" "$aux_unit" "$(per "$mib" "$target")" µs/MiB
    sleep "$PAUSE"
}

# ---------------------------------------------------------------- sections
# The proxies in a different order each run (run 1 as listed, run 2 starting from the second,
# ...): the host drifts between faster and slower spells, and a fixed order would put the
# same proxy into the same part of every section.
rotated() { local -a a=($PROXIES); local n=${#a[@]} i; for (( i = 0; i < n; i++ )); do echo "${a[$(( (i + RUN_ID - 1) % n ))]}"; done; }
targets() { echo direct $(rotated); }
# ... and the minimal relay, in the rotation, on the rows that measure it
with_floor() { local PROXIES=$PROXIES; [[ $FLOOR == 1 ]] && PROXIES="$PROXIES floor"; "$@"; }
sec_ka() { local t; for t in $(targets); do run_wrk ka "$t" "http://127.0.0.1:$(http_port "$t")/"; done; }
sec_close() { local t; for t in $(targets); do run_wrk close "$t" "http://127.0.0.1:$(http_port "$t")/" -H 'Connection: close'; done; }
sec_big() { local t; for t in $(with_floor targets); do run_wrk big "$t" "http://127.0.0.1:$(http_port "$t")/big/1m.bin"; done; }
sec_h2() { local t p; for t in $(targets); do p=$BE1_TLS; [[ $t != direct ]] && p=${TLS[$t]}; run_h2 "$t" "https://127.0.0.1:$p/"; done; }
sec_tls_full() {
    local t p
    for t in $(targets); do p=$BE1_FULL; [[ $t != direct ]] && p=${TLSFULL[$t]}; run_wrk tls_full "$t" "https://127.0.0.1:$p/" -H 'Connection: close'; done
}
sec_tcp() { local t p; for t in $(with_floor targets); do p=$IPERF; [[ $t != direct ]] && p=${TCP[$t]}; run_iperf tcp "$t" "$p"; done; }
sec_tcp_pp() { local t; for t in $(with_floor rotated); do run_iperf tcp_pp "$t" "${TCP_PP[$t]}"; done; }
sec_udp() {
    local t p
    for t in $(targets); do
        [[ $t == haproxy ]] && continue
        p=$IPERF; [[ $t != direct ]] && p=${UDP[$t]}
        run_iperf udp "$t" "$p" -u -b "$UDP_BW" -l "$UDP_LEN"
    done
}
http_port() { if [[ $1 == direct ]]; then echo "$BE1"; else echo "${HTTP[$1]}"; fi; }

# RSS of each fresh proxy at rest; then IDLE_CONNS keep-alive client connections, each after
# one request, held open while the proxy's RSS is read.
sec_mem_rest() {
    local p; M_PCT=-; M_ELAPSED=-; NOTE=""
    # shellcheck disable=SC2046
    for p in $PROXIES; do emit mem_rest "$p" "$(awk -v k="$(rss_kib $(pids_of "$p"))" 'BEGIN{printf "%.2f", k/1024}')" MiB - - - - - -; done
}
sec_mem_idle() {
    local p before after ready pid n i want
    for p in $PROXIES; do
        want=$(idle_conns_of "$p")
        wait_quiet
        # shellcheck disable=SC2046
        before=$(rss_kib $(pids_of "$p")); ready=$RAW/run$RUN_ID.idle.$p.ready; rm -f "$ready"
        pinned "$LG_CPU" "$SLB_BENCH" idle-conns --addr "127.0.0.1:${HTTP[$p]}" --conns "$want" --hold 120 \
            --ready-file "$ready" >"$RAW/run$RUN_ID.idle.$p.txt" 2>&1 &
        pid=$!
        for i in $(seq 1 600); do [[ -s $ready ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        # Let the proxy settle: what it holds for idle connections, not for the requests that
        # opened them. OpenSLB frees a burst's spare buffers within two 500 ms trims and
        # jemalloc returns the pages after its 1 s decay; at 2 s the reading caught that
        # mid-way in some runs (0.65 against 0.77-0.79 KiB per connection in one run set).
        sleep 4
        # shellcheck disable=SC2046
        after=$(rss_kib $(pids_of "$p")); n=$(awk '{print $2}' "$ready" 2>/dev/null)
        # `pinned` is a function, so $! is the subshell running it: end the client below it
        # too. Left alive, the 10,000 connections it holds (for --hold) stayed open into the
        # loads that follow, and every proxy's keep-alive p99 there read 4-5 ms, not 1-1.5.
        # shellcheck disable=SC2046
        kill -TERM $(tree_pids "$pid") 2>/dev/null; wait "$pid" 2>/dev/null
        M_PCT=-; M_ELAPSED=-; NOTE=""
        [[ ${n:-0} == "$want" ]] || NOTE="error=only_${n:-0}_of_${want}_connections"
        emit mem_idle "$p" "$(awk -v a="$after" -v b="$before" -v n="${n:-0}" 'BEGIN{ if (n > 0) printf "%.2f", (a-b)/n; else print "-"}')" KiB/conn \
            - - "$(awk -v a="$after" 'BEGIN{printf "%.1f", a/1024}')" "MiB_with_${n:-0}_conns" - -
        sleep 3   # connections close
    done
}

# ---------------------------------------------------------------- run
{
    echo "# bench/perf.sh $STAMP on $(uname -n): $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo "# slb $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$([[ -n $(git -C "$REPO" status --porcelain 2>/dev/null | grep -v '^??' | head -1) ]] && echo ' (uncommitted changes)'); $(nginx -v 2>&1); $(haproxy -v 2>/dev/null | head -1); $(wrk -v 2>&1 | head -1); h2load $(h2load --version 2>&1 | awk '{print $2}'); $(iperf3 -v | head -1)"
    echo "# PIN=$PIN (proxy CPU $PROXY_CPU, load+backends CPU $LG_CPU) WORKERS=$WORKERS DUR=$DUR CONNS=$CONNS H2_STREAMS=$H2_STREAMS IDLE_CONNS=$IDLE_CONNS UDP=-b $UDP_BW -l $UDP_LEN"
    printf '#run\ttest\ttarget\tvalue\tunit\tp50_ms\tp99_ms\taux\taux_unit\tcost\tcost_unit\tproxy_cpu_pct\telapsed_s\tnote\n'
} >"$TSV"
log "results in $OUT"
prepare_files
start_backends
[[ " $PROXIES " == *" openslb "* ]] && prepare_openslb
if [[ $CMD == up ]]; then
    # The whole fleet, pinned, for profiling by hand; stopped by Ctrl-C or after UP_SECS.
    start_proxies
    log "up for ${UP_SECS:-1800}s (Ctrl-C ends): backends $BE1 $BE2 (tls $BE1_TLS), iperf3 $IPERF, relay $RELAY"
    for p in $PROXIES; do log "$p pid=${PID_OF[$p]}: http ${HTTP[$p]} tls ${TLS[$p]} tls-full ${TLSFULL[$p]} tcp ${TCP[$p]} tcp-pp ${TCP_PP[$p]} udp ${UDP[$p]:--}"; done
    [[ $FLOOR == 1 ]] && log "minimal relay pid=${PID_OF[floor]}: http ${HTTP[floor]} tcp ${TCP[floor]} tcp-pp ${TCP_PP[floor]}"
    sleep "${UP_SECS:-1800}" & wait $!   # wait, so that Ctrl-C/TERM run the trap at once
    exit 0
fi
for (( RUN_ID = 1; RUN_ID <= RUNS; RUN_ID++ )); do
    log "run $RUN_ID/$RUNS: sections $SECTIONS"
    start_proxies
    # Memory first, on fresh processes: after the loads every proxy keeps pools and caches
    # that idle connections would then reuse, and the per-connection figure would be noise.
    # Then fresh processes again for the loads: after 10,000 connections HAProxy's keep-alive
    # rate fell from ~100k to ~27k req/s in the same run (its pools of idle server
    # connections), which would measure the idle test, not the proxy.
    if [[ " $SECTIONS " == *" mem "* ]]; then
        sec_mem_rest; sec_mem_idle
        stop_proxies; start_proxies
    fi
    for s in $SECTIONS; do [[ $s == mem ]] || "sec_$s"; done
    stop_proxies
done
{ grep '^# ' "$TSV" | grep -v '^#run'; echo; table "$TSV"; } | tee "$OUT/table.md"
log "table: $OUT/table.md"
