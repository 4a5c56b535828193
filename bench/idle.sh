#!/usr/bin/env bash
# The `idle` workload of bench/README.md: a fresh release server for each run
# (so that every baseline is a server that has never seen a connection),
# pinned to core 0 with --threads 1, the generator on core 1. Prints each
# summary line and writes the JSON lines to bench/results/idle.jsonl.
#
#   bench/idle.sh                          # 3 runs of 19,000 connections
#   CONNECTIONS=2000 RUNS=1 bench/idle.sh --hold 60
#
# Extra arguments go to allspark-bench. Like run.sh, it waits (up to
# QUIET_WAIT seconds) until the rest of the machine uses under 10% of a core.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build/release}"
runs="${RUNS:-3}"
connections="${CONNECTIONS:-19000}"
quiet_wait="${QUIET_WAIT:-600}"
server_core="${SERVER_CORE:-0}"
bench_core="${BENCH_CORE:-1}"
out="${OUT:-$root/bench/results/idle.jsonl}"
secret="bench-secret-$$"

[ -x "$build/allspark" ] && [ -x "$build/bench/allspark-bench" ] || {
  echo "idle.sh: build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DALLSPARK_TESTS=OFF && cmake --build build/release -j2" >&2
  exit 2
}

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

mkdir -p "$(dirname "$out")"
: > "$out"
for run in $(seq 1 "$runs"); do
  wait_quiet
  rm -rf "$work/store"
  taskset -c "$server_core" "$build/allspark" serve --port 0 --secret "$secret" --threads 1 \
    --store "sqlite:$work/store/allspark.db" > "$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
  port="$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)"
  [ -n "$port" ] || { echo "idle.sh: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
  status=0
  taskset -c "$bench_core" "$build/bench/allspark-bench" idle --connections "$connections" --port "$port" \
    --secret "$secret" --server-pid "$server_pid" --json "$@" > "$work/bench.out" || status=$?
  stop_server
  head -1 "$work/bench.out"
  json="$(sed -n 2p "$work/bench.out")"
  [ -n "$json" ] && echo "${json%\}},\"run\":$run,\"status\":$status}" >> "$out"
done
echo "results: $out" >&2
