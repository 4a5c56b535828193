#pragma once
// The timeline every workload shares: connect, warm up, measure, stop sending
// and wait a grace period for what is in flight, then report. A progress line
// goes to stderr each second; the summary (and JSON) to stdout.
//
// A Workload provides:
//   MessageSink sink();                 messages from the pool
//   void refill(std::int64_t now_ns);   queue every send its window allows (while sending)
//   std::uint64_t in_flight() const;    sent and not yet (fully) delivered
//   std::uint64_t lost() const;         at the end: what never arrived
//   Tally& tally();
//   bool sending;
#include <cstdint>
#include <optional>
#include <string>

#include "options.hpp"
#include "stats.hpp"
#include "ws_client.hpp"

namespace allspark::bench {

struct Snapshot {
  std::int64_t at_ns = 0;
  std::uint64_t sent = 0, delivered = 0, sends = 0, reads = 0;
  CpuTime bench_cpu;
  std::optional<CpuTime> server_cpu;
  MachineCpu machine;
};

// CPU seconds of the machine between two snapshots not spent by the server
// or the generator.
double other_cpu_seconds(const Snapshot& before, const Snapshot& after);

Snapshot take_snapshot(const Tally& tally, const PoolCounters& counters, int server_pid);

// One progress line on stderr; resets tally.interval.
void print_progress(const char* stage, double elapsed_s, const Snapshot& before, const Snapshot& now,
                    Tally& tally, std::uint64_t in_flight, const std::string& rate_unit);

// Opens every connection of the pool (printing how long it took, also into
// `seconds` when given). False after printing the error.
bool connect_pool(ClientPool& pool, const CommonOptions& options, double* seconds = nullptr);

// Prints the summary line (and JSON line), closes the pool. Returns the exit
// status: 0, or 1 when anything was lost, misrouted, out of order or an error.
int finish_run(ClientPool& pool, const CommonOptions& options, Report& report);

template <class Workload>
void run_timeline(ClientPool& pool, Workload& workload, const CommonOptions& options, Report& report) {
  Tally& tally = workload.tally();
  MessageSink sink = workload.sink();
  const std::int64_t start = monotonic_ns();
  const std::int64_t measure_at = start + static_cast<std::int64_t>(options.warmup_s * 1e9);
  const std::int64_t stop_at = measure_at + static_cast<std::int64_t>(options.duration_s * 1e9);
  const std::int64_t give_up_at = stop_at + static_cast<std::int64_t>(options.grace_s * 1e9);
  enum class Stage { warmup, measure, drain } stage = Stage::warmup;
  const char* stage_names[] = {"warm-up", "measure", "drain"};

  Snapshot last = take_snapshot(tally, pool.counters(), options.server_pid);
  Snapshot measure_start, measure_end;
  std::int64_t next_progress = start + 1'000'000'000;
  workload.sending = true;
  workload.refill(start);
  pool.flush();
  int poll_ms = 1;
  if constexpr (requires { Workload::busy_poll; }) poll_ms = Workload::busy_poll ? 0 : 1;
  for (;;) {
    pool.poll(poll_ms, sink);
    std::int64_t now = monotonic_ns();
    if (stage == Stage::warmup && now >= measure_at) {
      measure_start = take_snapshot(tally, pool.counters(), options.server_pid);
      tally.recording = true;
      stage = Stage::measure;
    }
    if (stage == Stage::measure && now >= stop_at) {
      measure_end = take_snapshot(tally, pool.counters(), options.server_pid);
      tally.recording = false;
      workload.sending = false;
      stage = Stage::drain;
    }
    if (stage == Stage::drain && (workload.in_flight() == 0 || now >= give_up_at)) break;
    workload.refill(now);
    pool.flush();
    if (now >= next_progress) {
      Snapshot current = take_snapshot(tally, pool.counters(), options.server_pid);
      print_progress(stage_names[static_cast<int>(stage)], static_cast<double>(now - start) / 1e9, last, current,
                     tally, workload.in_flight(), report.rate_unit);
      last = current;
      next_progress += 1'000'000'000;
    }
  }
  report.seconds = static_cast<double>(measure_end.at_ns - measure_start.at_ns) / 1e9;
  report.sent = measure_end.sent - measure_start.sent;
  report.delivered = measure_end.delivered - measure_start.delivered;
  report.bench_cpu = measure_end.bench_cpu - measure_start.bench_cpu;
  report.bench_sends = measure_end.sends - measure_start.sends;
  report.bench_reads = measure_end.reads - measure_start.reads;
  if (measure_start.server_cpu && measure_end.server_cpu) {
    report.server_cpu = *measure_end.server_cpu - *measure_start.server_cpu;
  }
  report.other_cpu_s = other_cpu_seconds(measure_start, measure_end);
  report.steal_cpu_s = measure_end.machine.steal_s - measure_start.machine.steal_s;
  if (options.server_pid > 0) report.server_rss_bytes = process_rss_bytes(options.server_pid);
  report.latency = tally.latency;
  report.lost = workload.lost();
  report.misrouted = tally.misrouted;
  report.out_of_order = tally.out_of_order;
  report.errors = tally.errors;
  report.first_error = tally.first_error.empty() ? pool.first_error() : tally.first_error;
  report.closed = pool.counters().closed;
}

}  // namespace allspark::bench
