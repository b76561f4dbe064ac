#!/usr/bin/env bash
# bench/control_plane.sh: how fast OpenSLB's control plane is, measured by
# `slb-bench control-plane` against a fresh release `slb serve`.
#
#   bench/control_plane.sh                       # build (release), defaults: 100 changes, 1000 instances, 10 s per variant
#   CHANGES=20 INSTANCES=200 DURATION=3 bench/control_plane.sh   # a quicker look
#   BUILD=0 bench/control_plane.sh               # use target/release/{slb,slb-bench} as they are
#   SLB_BIN=/path/to/slb bench/control_plane.sh  # measure another slb binary
#
# What it measures (see crates/slb-bench/src/control_plane/): the time from an API answer to
# the data plane serving the change (backend switches on an HTTP and a TCP listener, new
# TCP listeners), CreateLoadBalancer instances/s, and DescribeLoadBalancers calls/s over
# that many instances with 8 concurrent clients (no PageSize, PageSize=10, PageSize=100).
#
# The node gets a scratch data directory under WORK_DIR (default: the system temp dir; its
# disk matters, the node fsyncs every write), its API on an ephemeral port of 127.0.0.1 and
# instance addresses from ADDRESS_POOL (127.77.0.0/16). slb-bench starts it and stops it by
# its PID, also when interrupted. The whole run is bounded by TIMEOUT seconds (timeout(1)
# sends SIGTERM, then SIGKILL 30 s later).
#
# Output: the report on stdout and in bench/results/control-plane-<date>.md (git-ignored).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

CHANGES=${CHANGES:-100}
INSTANCES=${INSTANCES:-1000}
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-8}
ADDRESS_POOL=${ADDRESS_POOL:-127.77.0.0/16}
WORK_DIR=${WORK_DIR:-}
BUILD=${BUILD:-1}
SLB_BIN=${SLB_BIN:-$TARGET_DIR/release/slb}
BENCH_BIN=$TARGET_DIR/release/slb-bench
TIMEOUT=${TIMEOUT:-900}
RESULTS_ROOT=${RESULTS_ROOT:-$BENCH_DIR/results}

log() { printf '[control_plane.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$BUILD" = 1 ]; then
  log "cargo build --release -p slb -p slb-bench"
  (cd "$REPO" && cargo build --release -p slb -p slb-bench)
fi
for bin in "$SLB_BIN" "$BENCH_BIN"; do
  [ -x "$bin" ] || { log "missing $bin (run without BUILD=0)"; exit 1; }
done

mkdir -p "$RESULTS_ROOT"
out="$RESULTS_ROOT/control-plane-$(date +%Y%m%d-%H%M%S).md"
args=(control-plane --slb-bin "$SLB_BIN" --changes "$CHANGES" --instances "$INSTANCES"
      --duration "$DURATION" --concurrency "$CONCURRENCY" --address-pool "$ADDRESS_POOL"
      --out "$out")
if [ -n "$WORK_DIR" ]; then
  args+=(--work-dir "$WORK_DIR")
fi
log "slb-bench ${args[*]} (at most ${TIMEOUT} s)"
timeout --signal=TERM --kill-after=30 "$TIMEOUT" "$BENCH_BIN" "${args[@]}"
log "results: $out"
