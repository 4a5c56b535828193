#!/usr/bin/env bash
# The workloads of bench/run.sh against Allspark and the peers a user would
# pick instead, each started here on loopback: NATS (nats-server's websocket
# listener; JetStream with file storage for `ack`), mosquitto (MQTT over
# websockets), a Socket.IO 4 server and a minimal `ws` relay (both Node,
# bench/peers/). The generator speaks each peer's protocol itself
# (`allspark-bench --peer`), so the client side costs the same for everyone.
# A fresh server per workload, pinned to core 0 (Allspark with --threads 1),
# the generator on core 1. Writes bench/results/compare.jsonl (the
# generator's JSON lines, with "peer" and "run" added), compare.md (the
# table) and compare.png (per server CPU-second, gnuplot).
#
#   bench/compare.sh                          # every peer, RUNS=1, DURATION=10
#   RUNS=3 DURATION=5 bench/compare.sh nats ws    # only the peers named
#   REPORT_ONLY=1 bench/compare.sh            # only rewrite the table and chart from compare.jsonl
#   WORKLOADS="rate ack" RUNS=3 RESULTS=/tmp/r bench/compare.sh   # only the workloads named
#
# Installs what is missing: nats-server, mosquitto, gnuplot-nox, jq (apt) and
# socket.io (npm, from package.json). Waits (up to QUIET_WAIT seconds, 60)
# for the rest of the machine to be idle before each run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build/release}"
runs="${RUNS:-1}"
duration="${DURATION:-10}"
warmup="${WARMUP:-2}"
quiet_wait="${QUIET_WAIT:-60}"
server_core="${SERVER_CORE:-0}"
bench_core="${BENCH_CORE:-1}"
results="${RESULTS:-$root/bench/results}"
secret="bench-secret-$$"

peers=(allspark nats mqtt socketio ws)
[ $# -gt 0 ] && peers=("$@")
# The same workloads as bench/run.sh; `ack` only where a publish is acknowledged
# once stored (Allspark, NATS JetStream).
workloads=(
  "pairs --pairs 500 --window 64"
  "fanout --members 1000 --publishers 4 --window 8"
  "ack --pairs 1 --window 64"
  "rate --rate 20000 --pairs 100"
)
has_ack() { [ "$1" = allspark ] || [ "$1" = nats ]; }
if [ -n "${WORKLOADS:-}" ]; then
  # A part of the table must not overwrite the committed whole.
  [ -n "${RESULTS:-}" ] || { echo "compare.sh: WORKLOADS needs RESULTS (a folder for the partial table)" >&2; exit 2; }
  chosen=()
  for name in $WORKLOADS; do
    found=""
    for workload in "${workloads[@]}"; do [ "${workload%% *}" = "$name" ] && found="$workload"; done
    [ -n "$found" ] || { echo "compare.sh: unknown workload '$name' (pairs, fanout, ack, rate)" >&2; exit 2; }
    chosen+=("$found")
  done
  workloads=("${chosen[@]}")
fi

[ -x "$build/allspark" ] && [ -x "$build/bench/allspark-bench" ] || {
  echo "compare.sh: build first: cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DALLSPARK_TESTS=OFF && cmake --build build/release -j2" >&2
  exit 2
}

# What the peers need, installed only when absent.
missing=()
command -v nats-server > /dev/null || missing+=(nats-server)
command -v mosquitto > /dev/null || missing+=(mosquitto)
command -v gnuplot > /dev/null || missing+=(gnuplot-nox)
command -v jq > /dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  echo "compare.sh: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
# Debian packages the daemons in /usr/sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin"
if [ ! -f "$root/node_modules/socket.io/package.json" ] || [ ! -f "$root/node_modules/ws/package.json" ]; then
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
fi

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  server_pid=""
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts on 127.0.0.1:$1 (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Starts peer $1 on core $server_core with a fresh state; sets server_pid
# and port (where the generator connects).
start_server() {
  local peer="$1" log="$work/$1.log"
  rm -rf "$work/state"; mkdir -p "$work/state"
  case "$peer" in
    allspark)
      taskset -c "$server_core" "$build/allspark" serve --port 0 --threads 1 --secret "$secret" \
        --store "sqlite:$work/state/allspark.db" > "$log" 2>&1 &
      server_pid=$!
      for _ in $(seq 1 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
      port="$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -1)"
      ;;
    nats)
      port="$(free_port)"
      cat > "$work/nats.conf" <<EOF
listen: "127.0.0.1:$(free_port)"
websocket { listen: "127.0.0.1:$port", no_tls: true }
jetstream { store_dir: "$work/state/jetstream" }
EOF
      taskset -c "$server_core" nats-server -c "$work/nats.conf" > "$log" 2>&1 &
      server_pid=$!
      ;;
    mqtt)
      # Debian's mosquitto 2.0.11 does not start with a websockets listener
      # alone: a plain MQTT listener comes first.
      port="$(free_port)"
      cat > "$work/mosquitto.conf" <<EOF
listener $(free_port) 127.0.0.1
listener $port 127.0.0.1
protocol websockets
allow_anonymous true
persistence false
EOF
      taskset -c "$server_core" mosquitto -c "$work/mosquitto.conf" > "$log" 2>&1 &
      server_pid=$!
      ;;
    socketio | ws)
      port="$(free_port)"
      local script="$root/bench/peers/socketio_server.js"
      [ "$peer" = ws ] && script="$root/bench/peers/ws_relay.js"
      NODE_PATH="$root/node_modules" taskset -c "$server_core" node "$script" "$port" 127.0.0.1 > "$log" 2>&1 &
      server_pid=$!
      ;;
    *)
      echo "compare.sh: unknown peer '$peer' (allspark, nats, mqtt, socketio, ws)" >&2
      exit 2
      ;;
  esac
  if [ -z "$port" ] || ! wait_port "$port"; then
    echo "compare.sh: $peer did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
}

mkdir -p "$results"
jsonl="$results/compare.jsonl"
machine="$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(uname -sr)"
busy_runs=0
[ -n "${REPORT_ONLY:-}" ] || : > "$jsonl"
[ -n "${REPORT_ONLY:-}" ] && workloads=()
# With RUNS over 1 the servers take turns (run 1 of each, then run 2 ...), so
# that a slow minute of the machine does not fall on one server's runs alone.
for workload in "${workloads[@]}"; do
  name="${workload%% *}"
  for run in $(seq 1 "$runs"); do
    for peer in "${peers[@]}"; do
      [ "$name" = ack ] && ! has_ack "$peer" && continue
      start_server "$peer"
      wait_quiet
      busy="$(machine_busy)"
      [ "$busy" -gt 10 ] && busy_runs=$((busy_runs + 1))
      echo "== $peer $workload (run $run, server pid $server_pid port $port, other load ${busy}% of a core)" >&2
      status=0
      # shellcheck disable=SC2086
      taskset -c "$bench_core" "$build/bench/allspark-bench" $workload --peer "$peer" --port "$port" \
        --secret "$secret" --server-pid "$server_pid" --duration "$duration" --warmup "$warmup" --json \
        > "$work/bench.out" 2> "$work/bench.err" || status=$?
      stop_server
      if [ "$(wc -l < "$work/bench.out")" -lt 2 ]; then
        echo "compare.sh: $peer $name failed (exit $status):" >&2
        tail -5 "$work/bench.err" >&2
        continue
      fi
      head -1 "$work/bench.out"
      json="$(sed -n 2p "$work/bench.out")"
      echo "${json%\}},\"peer\":\"$peer\",\"run\":$run,\"exit\":$status,\"other_load_before\":$busy}" >> "$jsonl"
    done
  done
done

# The table: one row per workload and server; several runs are listed a / b / c.
if [ -n "${REPORT_ONLY:-}" ]; then
  duration="$(jq -s '.[0].seconds | round' "$jsonl")"
  runs="$(jq -s 'map(.run) | max' "$jsonl")"
  warmup="?"
  busy_runs="$(jq -s '[.[] | select(.other_load_before > 10)] | length' "$jsonl")"
fi
caption="Machine: $machine. Server \`taskset -c $server_core\`, generator \`taskset -c $bench_core\`, loopback, 100-byte payloads, $duration s measured after $warmup s warm-up, $runs run(s) each, $(date -u +%Y-%m-%d)."
if [ "$busy_runs" -gt 0 ]; then
  caption="$caption **Busy machine**: $busy_runs run(s) started with over 10% of a core used by other work; see other_cpu_s in compare.jsonl."
fi
{
  echo "| workload | server | rate | per server CPU-second | p50 | p99 | lost / misrouted / out of order | server CPU | generator CPU |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  jq -rs '
    def count: if . >= 1e6 then "\(. / 1e4 | round / 100)M" elif . >= 1e3 then "\(. / 1e3 | round)k" else "\(round)" end;
    def ms: if . >= 1e9 then "\(. / 1e7 | round / 100) s" elif . >= 1e6 then "\(. / 1e5 | round / 10) ms" else "\(. / 1e3 | round) us" end;
    def pct: "\(. * 100 | round)%";
    def names: {"allspark": "Allspark", "nats": "NATS", "mqtt": "mosquitto (MQTT)", "socketio": "Socket.IO", "ws": "ws relay"};
    def server_name: if .workload == "ack" and .peer == "nats" then "NATS JetStream (file)" else names[.peer] end;
    def setup: if .workload == "pairs" then "pairs \(.pairs), window \(.window)"
               elif .workload == "fanout" then "fanout \(.members) members, \(.publishers) publishers, window \(.window)"
               elif .workload == "rate" then "rate \(.target_rate | round) msg/s open loop, \(.pairs) pairs (latency from the schedule)"
               else "ack \(.pairs) publisher, window \(.window)" end;
    group_by([.workload, .peer]) | sort_by(.[0] | [{"pairs": 0, "fanout": 1, "ack": 2, "rate": 3}[.workload], {"allspark": 0, "nats": 1, "mqtt": 2, "socketio": 3, "ws": 4}[.peer]])
    | .[] | . as $runs
    | [($runs[0] | setup), ($runs[0] | server_name),
       ([$runs[] | "\(.rate | count)"] | join(" / ")) + " \($runs[0].rate_unit)",
       ([$runs[] | (.per_server_cpu_s // 0) | count] | join(" / ")),
       ([$runs[] | .p50_ns | ms] | join(" / ")),
       ([$runs[] | .p99_ns | ms] | join(" / ")),
       ([$runs[] | "\(.lost) / \(.misrouted) / \(.out_of_order)"] | join(", ")),
       ([$runs[] | (.server_cpu_s // 0) / .seconds | pct] | join(" / ")),
       ([$runs[] | .bench_cpu_s / .seconds | pct] | join(" / "))]
    | "| " + join(" | ") + " |"' "$jsonl"
  echo
  echo "$caption"
} > "$results/compare.md"

# The chart: grouped bars of deliveries per server CPU-second (best run),
# one group per workload, one bar per server.
{
  printf 'workload'
  for peer in "${peers[@]}"; do printf ' %s' "$peer"; done
  echo
  for name in pairs fanout ack; do
    printf '%s' "$name"
    for peer in "${peers[@]}"; do
      value="$(jq -rs --arg w "$name" --arg p "$peer" \
        '[.[] | select(.workload == $w and .peer == $p) | .per_server_cpu_s // 0] | max // "-"' "$jsonl")"
      [ "$value" = null ] && value="-"
      printf ' %s' "$value"
    done
    echo
  done
} > "$work/chart.dat"
columns=$((${#peers[@]} + 1))
gnuplot <<EOF
set terminal pngcairo size 960,540 font "sans,11"
set output "$results/compare.png"
set title "Deliveries per server CPU-second (server on 1 core, loopback, 100-byte payloads; log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set datafile missing "-"
set logscale y
set yrange [1e4:*]
set format y "%.0s%c"
set grid ytics
set key top right
plot for [i=2:$columns] "$work/chart.dat" using i:xtic(1) title columnheader(i)
EOF
cat "$results/compare.md"
echo "results: $results/compare.md, $results/compare.png, $jsonl" >&2
