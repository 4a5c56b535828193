#!/usr/bin/env bash
# Runs the workloads of bench/README.md against a fresh release server: the
# server pinned to core 0, the generator to core 1, `perf stat` on the server
# during each measured window. Prints each summary line and writes the JSON
# lines (with the server's syscall counts added) to bench/results/latest.jsonl.
#
#   bench/run.sh                 # build/release, 3 runs of each workload
#   BUILD=build/x RUNS=1 DURATION=5 bench/run.sh pairs     # only the workloads named
#
# The machine must be otherwise idle: before each run the script waits (up to
# QUIET_WAIT seconds) until the rest of the machine uses under 10% of a core.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build/release}"
runs="${RUNS:-3}"
duration="${DURATION:-10}"
warmup="${WARMUP:-2}"
quiet_wait="${QUIET_WAIT:-600}"
server_core="${SERVER_CORE:-0}"
bench_core="${BENCH_CORE:-1}"
out="${OUT:-$root/bench/results/latest.jsonl}"
secret="bench-secret-$$"

workloads=(
  "pairs --pairs 500 --window 64"
  "fanout --members 1000 --publishers 4 --window 8"
  "ack --pairs 1 --window 64"
  "rate --rate 20000 --pairs 100"
  "connect --connections 2000"
)

[ -x "$build/allspark" ] && [ -x "$build/bench/allspark-bench" ] || {
  echo "run.sh: build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DALLSPARK_TESTS=OFF && cmake --build build/release -j2" >&2
  exit 2
}

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

taskset -c "$server_core" "$build/allspark" serve --port 0 --threads 1 --secret "$secret" \
  --store "sqlite:$work/store/allspark.db" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
port="$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)"
[ -n "$port" ] || { echo "run.sh: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
echo "server pid $server_pid on port $port ($(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores)" >&2

syscalls="read,readv,recvfrom,write,writev,sendto,sendmsg,epoll_wait,epoll_pwait,epoll_ctl"
events="task-clock,context-switches"
if perf stat -e syscalls:sys_enter_read true > /dev/null 2>&1; then
  for s in ${syscalls//,/ }; do events="$events,syscalls:sys_enter_$s"; done
fi

# CPU seconds (user + system) of each of the server's threads, by name
# ("allspark" is shard 0 and the listener, "store" the SQLite thread).
thread_cpu() {
  local tick; tick="$(getconf CLK_TCK)"
  for task in /proc/"$server_pid"/task/*; do
    awk -v name="$(cat "$task/comm")" -v tick="$tick" '{ sub(/^.*\) /, ""); printf "%s %.3f\n", name, ($12 + $13) / tick }' "$task/stat"
  done | awk '{ cpu[$1] += $2 } END { for (n in cpu) print n, cpu[n] }' | sort
}

mkdir -p "$(dirname "$out")"
: > "$out"
for workload in "${workloads[@]}"; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "${workload%% *}"; then continue; fi
  for run in $(seq 1 "$runs"); do
    wait_quiet
    taskset -c "$bench_core" "$build/bench/allspark-bench" $workload --port "$port" --secret "$secret" \
      --server-pid "$server_pid" --duration "$duration" --warmup "$warmup" --json \
      > "$work/bench.out" 2> "$work/bench.err" &
    bench_pid=$!
    for _ in $(seq 1 300); do grep -q '^connected' "$work/bench.err" && break; sleep 0.1; done
    sleep "$warmup"
    thread_cpu > "$work/threads.before"
    perf stat -x, -e "$events" -p "$server_pid" -- sleep "$duration" 2> "$work/perf.csv" || true
    thread_cpu > "$work/threads.after"
    wait "$bench_pid" || true
    head -1 "$work/bench.out"
    # The JSON line, with perf's counts of the server added as "perf_<event>".
    json="$(sed -n 2p "$work/bench.out")"
    extra="$(awk -F, '$1 ~ /^[0-9.]+$/ { n = $3; sub(/^syscalls:sys_enter_/, "", n); gsub(/-/, "_", n); printf ",\"perf_%s\":%s", n, $1 }' "$work/perf.csv")"
    # and each server thread's CPU seconds in that window as "thread_cpu_<name>".
    extra="$extra$(join "$work/threads.before" "$work/threads.after" | awk '{ n = $1; gsub(/-/, "_", n); printf ",\"thread_cpu_%s\":%.3f", n, $3 - $2 }')"
    echo "${json%\}}${extra},\"run\":$run}" >> "$out"
  done
done
echo "results: $out" >&2
