#include "run_loop.hpp"

#include <cstdio>

namespace allspark::bench {

Snapshot take_snapshot(const Tally& tally, const PoolCounters& counters, int server_pid) {
  Snapshot s;
  s.at_ns = monotonic_ns();
  s.sent = tally.sent;
  s.delivered = tally.delivered;
  s.sends = counters.sends;
  s.reads = counters.reads;
  s.bench_cpu = self_cpu_time();
  if (server_pid > 0) s.server_cpu = process_cpu_time(server_pid);
  s.machine = machine_cpu_seconds();
  return s;
}

double other_cpu_seconds(const Snapshot& before, const Snapshot& after) {
  double other = (after.machine.busy_s - before.machine.busy_s) - (after.bench_cpu - before.bench_cpu).total();
  if (before.server_cpu && after.server_cpu) other -= (*after.server_cpu - *before.server_cpu).total();
  return other > 0 ? other : 0;
}

void print_progress(const char* stage, double elapsed_s, const Snapshot& before, const Snapshot& now,
                    Tally& tally, std::uint64_t in_flight, const std::string& rate_unit) {
  double seconds = static_cast<double>(now.at_ns - before.at_ns) / 1e9;
  if (seconds <= 0) return;
  double rate = static_cast<double>(now.delivered - before.delivered) / seconds;
  std::string server = "-";
  if (before.server_cpu && now.server_cpu) {
    server = std::to_string(static_cast<int>(100 * (*now.server_cpu - *before.server_cpu).total() / seconds)) + "%";
  }
  int bench = static_cast<int>(100 * (now.bench_cpu - before.bench_cpu).total() / seconds);
  int other = static_cast<int>(100 * (other_cpu_seconds(before, now) + now.machine.steal_s - before.machine.steal_s) / seconds);
  std::fprintf(stderr, "[%5.1fs] %-7s %9s %s  p50 %s p99 %s  in flight %llu  server cpu %s  bench cpu %d%%  other %d%%\n",
               elapsed_s, stage, format_count(rate).c_str(), rate_unit.c_str(),
               format_duration_ns(tally.interval.quantile_ns(0.5)).c_str(),
               format_duration_ns(tally.interval.quantile_ns(0.99)).c_str(),
               static_cast<unsigned long long>(in_flight), server.c_str(), bench, other);
  tally.interval.reset();
}

bool connect_pool(ClientPool& pool, const CommonOptions& options, double* seconds_out) {
  std::int64_t start = monotonic_ns();
  std::string error;
  // Generous: the server may be slow to accept a burst, but never this slow.
  double timeout_s = 30 + static_cast<double>(pool.size()) / 100;
  pool.set_reuse_preconnect(options.reuse_preconnect);
  if (!pool.connect_all(options.connect_batch, timeout_s, error)) {
    std::fprintf(stderr, "allspark-bench: connect failed: %s\n", error.c_str());
    return false;
  }
  double seconds = static_cast<double>(monotonic_ns() - start) / 1e9;
  if (seconds_out != nullptr) *seconds_out = seconds;
  std::fprintf(stderr, "connected %zu connections in %.2f s (%.0f/s)\n", pool.size(), seconds,
               static_cast<double>(pool.size()) / seconds);
  return true;
}

int finish_run(ClientPool& pool, const CommonOptions& options, Report& report) {
  if (options.peer != Peer::allspark) report.setup += std::string(", peer ") + peer_name(options.peer);
  std::printf("%s\n", summary_line(report).c_str());
  if (options.json) std::printf("%s\n", json_line(report).c_str());
  std::fflush(stdout);
  pool.close_all();
  bool clean = report.lost == 0 && report.misrouted == 0 && report.out_of_order == 0 && report.errors == 0 &&
               report.closed == 0;
  return clean ? 0 : 1;
}

}  // namespace allspark::bench
