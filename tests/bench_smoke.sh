#!/usr/bin/env bash
# Every allspark-bench workload, briefly, against a real allspark server on
# 127.0.0.1: each must end with its summary line and exit 0 (the generator
# exits 1 when anything was lost, misrouted or out of order). Numbers are
# not checked: speed is reported by the benchmarks, never asserted here.
#   tests/bench_smoke.sh ALLSPARK_BIN ALLSPARK_BENCH_BIN
set -uo pipefail
server_bin="$1"
bench_bin="$2"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" serve --host 127.0.0.1 --port 0 --threads 1 --secret smoke --store "sqlite:$work/store/allspark.db" \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
port="$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)"
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }

failed=0
run() {
  local name="$1"; shift
  local out
  out="$("$bench_bin" "$@" --port "$port" --secret smoke --server-pid "$server_pid" --duration 1 --warmup 0 \
    --grace 2 2> "$work/err")"
  local status=$?
  local summary
  summary="$(printf '%s\n' "$out" | grep "^$name:" | tail -1)"
  if [ "$status" -ne 0 ] || [ -z "$summary" ]; then
    echo "FAIL $name (exit $status): ${summary:-no summary line}"; tail -5 "$work/err"
    failed=$((failed + 1))
  else
    echo "ok   $summary"
  fi
}
run pairs pairs --pairs 20 --window 8
run ack ack --pairs 1 --window 16
run fanout fanout --members 50 --publishers 2 --window 4
run rate rate --rate 2000 --pairs 10
run connect connect --connections 100
run idle idle --connections 100 --settle 1
echo "$((6 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
