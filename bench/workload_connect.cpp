// `connect`: authenticated connects per second. Rounds of C connections, each
// the real flow of PROTOCOL.md section 3 (preconnect with the auth key, the
// upgrade with the validation key, the welcome), at most --connect-batch in
// progress at once; after each round every connection is closed and the
// server given a moment to let go of them. Only the connecting is measured:
// time, the generator's CPU and the server's.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "payload.hpp"
#include "run_loop.hpp"
#include "workloads.hpp"

namespace allspark::bench {
namespace {

// The server's CPU time so far; zero without --server-pid.
CpuTime server_cpu(int pid) { return pid > 0 ? process_cpu_time(pid).value_or(CpuTime{}) : CpuTime{}; }

}  // namespace

int run_connect(ArgReader& args, const CommonOptions& options) {
  std::uint64_t connections = 2000;
  if (!args.take_uint("--connections", 1, 1'000'000, connections) || !args.finish()) {
    std::fprintf(stderr, "allspark-bench connect: %s\n", args.error().c_str());
    return 2;
  }
  Report report;
  report.workload = "connect";
  report.rate_unit = "connects/s";
  report.setup = std::to_string(connections) + " connections per round, " + std::to_string(options.connect_batch) +
                 " at once";
  report.parameters = {{"connections", static_cast<double>(connections)},
                       {"connect_batch", static_cast<double>(options.connect_batch)}};
  const std::int64_t start = monotonic_ns();
  const auto warmup_ns = static_cast<std::int64_t>(options.warmup_s * 1e9);
  const auto end_ns = warmup_ns + static_cast<std::int64_t>(options.duration_s * 1e9);
  std::uint64_t round = 0;
  while (monotonic_ns() - start < end_ns) {
    const bool measured = monotonic_ns() - start >= warmup_ns;
    ClientPool pool(Endpoint{options.host, options.port}, options.secret);
    std::string tag = options.tag + "-" + std::to_string(round++);
    for (std::uint64_t i = 0; i < connections; ++i) pool.add(numbered_id("c", i, tag), {});
    CpuTime bench_before = self_cpu_time();
    CpuTime server_before = server_cpu(options.server_pid);
    MachineCpu machine_before = machine_cpu_seconds();
    double seconds = 0;
    if (!connect_pool(pool, options, &seconds)) return 1;
    CpuTime bench = self_cpu_time() - bench_before;
    CpuTime server = server_cpu(options.server_pid) - server_before;
    MachineCpu machine_after = machine_cpu_seconds();
    if (measured) {
      report.seconds += seconds;
      report.delivered += connections;
      report.sent += connections;
      report.bench_cpu = report.bench_cpu + bench;
      if (options.server_pid > 0) report.server_cpu = report.server_cpu.value_or(CpuTime{}) + server;
      report.other_cpu_s += machine_after.busy_s - machine_before.busy_s - server.total() - bench.total();
      report.steal_cpu_s += machine_after.steal_s - machine_before.steal_s;
    }
    report.closed += pool.counters().closed;
    pool.close_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server lets go of them
  }
  if (report.server_cpu && report.seconds > 0) {
    std::fprintf(stderr, "connect: the server used %.0f%% of a core while connecting\n",
                 100 * report.server_cpu->total() / report.seconds);
  }
  std::printf("%s\n", summary_line(report).c_str());
  if (options.json) std::printf("%s\n", json_line(report).c_str());
  std::fflush(stdout);
  return report.closed == 0 ? 0 : 1;
}

}  // namespace allspark::bench
