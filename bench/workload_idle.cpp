// `idle`: C authenticated connections that send nothing. Measures the
// server's resident memory per idle connection (issue 7: at most 768 bytes at
// 19,000 connections) and, on the way, how fast they connected. Each
// connection is its own node `i<n>.<tag>` with no client, so every one costs
// the server a node as well as a connection.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>

#include "payload.hpp"
#include "run_loop.hpp"
#include "workloads.hpp"

namespace allspark::bench {
namespace {

// Descriptors the generator needs besides one per connection: stdio, the
// epoll, /proc files it reads, /dev/urandom.
constexpr std::uint64_t own_descriptors = 16;
// What the server needs besides one per idle connection, for the listener,
// its epolls, timers, the store's files and log: a guess with room to spare.
constexpr std::uint64_t server_own_descriptors = 64;

struct Moment {
  std::int64_t at_ns = 0;
  CpuTime bench_cpu;
  std::optional<CpuTime> server_cpu;
  MachineCpu machine;
};

Moment now_moment(int server_pid) {
  Moment m;
  m.at_ns = monotonic_ns();
  m.bench_cpu = self_cpu_time();
  if (server_pid > 0) m.server_cpu = process_cpu_time(server_pid);
  m.machine = machine_cpu_seconds();
  return m;
}

struct IdleReport {
  std::uint64_t connections = 0;
  double settle_s = 0, hold_s = 0;
  std::optional<ProcessMemory> before, after;  // before any connection; after the settle time
  std::optional<std::uint64_t> rss_after_close;
  double connect_s = 0;
  CpuTime bench_connect_cpu;
  std::optional<CpuTime> server_connect_cpu;
  double other_cpu_s = 0, steal_cpu_s = 0;  // the rest of the machine while connecting
  std::size_t open_after_settle = 0;
  std::uint64_t closed = 0, unexpected = 0;
};

double per_connection(std::uint64_t after, std::uint64_t before, std::uint64_t connections) {
  return (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(connections);
}

std::string mebibytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

std::string summary(const IdleReport& r) {
  char text[512];
  std::string line = "idle: " + std::to_string(r.connections) + " connections: ";
  if (r.before && r.after) {
    std::snprintf(text, sizeof text,
                  "%.0f bytes/connection of server RSS (anon %.0f, file %.0f; %s -> %s",
                  per_connection(r.after->rss, r.before->rss, r.connections),
                  per_connection(r.after->anon, r.before->anon, r.connections),
                  per_connection(r.after->file, r.before->file, r.connections), mebibytes(r.before->rss).c_str(),
                  mebibytes(r.after->rss).c_str());
    line += text;
    if (r.rss_after_close) line += ", " + mebibytes(*r.rss_after_close) + " after close";
    line += ")";
  } else {
    line += "server memory not measured (no --server-pid)";
  }
  double rate = r.connect_s > 0 ? static_cast<double>(r.connections) / r.connect_s : 0;
  std::snprintf(text, sizeof text, ", connected in %.2f s = %s connects/s", r.connect_s, format_count(rate).c_str());
  line += text;
  if (r.server_connect_cpu) {
    double cpu = r.server_connect_cpu->total();
    std::snprintf(text, sizeof text, ", server %.2f cpu-s => %s connects/server-cpu-s", cpu,
                  format_count(cpu > 0 ? static_cast<double>(r.connections) / cpu : 0).c_str());
    line += text;
  }
  std::snprintf(text, sizeof text, ", bench cpu %.2f cpu-s", r.bench_connect_cpu.total());
  line += text;
  if (r.open_after_settle != r.connections) {
    line += ", only " + std::to_string(r.open_after_settle) + " open after the settle time";
  }
  if (r.closed > 0) line += ", closed by server " + std::to_string(r.closed);
  if (r.unexpected > 0) line += ", unexpected messages " + std::to_string(r.unexpected);
  if (r.connect_s > 0 && (r.other_cpu_s + r.steal_cpu_s) / r.connect_s > 0.05) {
    std::snprintf(text, sizeof text, ", other load %.2f cpu-s + steal %.2f while connecting %s", r.other_cpu_s,
                  r.steal_cpu_s, r.server_connect_cpu ? "(noisy machine)" : "(the server's included: no --server-pid)");
    line += text;
  }
  return line;
}

std::string json(const IdleReport& r) {
  std::ostringstream out;
  out.precision(6);
  auto number = [&](const char* key, double value) { out << ",\"" << key << "\":" << value; };
  auto integer = [&](const char* key, std::uint64_t value) { out << ",\"" << key << "\":" << value; };
  out << "{\"workload\":\"idle\"";
  integer("connections", r.connections);
  number("settle_s", r.settle_s);
  number("hold_s", r.hold_s);
  if (r.before && r.after) {
    number("bytes_per_connection", per_connection(r.after->rss, r.before->rss, r.connections));
    number("anon_bytes_per_connection", per_connection(r.after->anon, r.before->anon, r.connections));
    number("file_bytes_per_connection", per_connection(r.after->file, r.before->file, r.connections));
    integer("rss_before", r.before->rss);
    integer("rss_after", r.after->rss);
    integer("rss_anon_before", r.before->anon);
    integer("rss_anon_after", r.after->anon);
    integer("rss_file_before", r.before->file);
    integer("rss_file_after", r.after->file);
  }
  if (r.rss_after_close) integer("rss_after_close", *r.rss_after_close);
  number("connect_s", r.connect_s);
  number("connects_per_s", r.connect_s > 0 ? static_cast<double>(r.connections) / r.connect_s : 0);
  number("bench_connect_cpu_s", r.bench_connect_cpu.total());
  number("bench_connect_user_s", r.bench_connect_cpu.user_s);
  number("bench_connect_system_s", r.bench_connect_cpu.system_s);
  if (r.server_connect_cpu) {
    double cpu = r.server_connect_cpu->total();
    number("server_connect_cpu_s", cpu);
    number("server_connect_user_s", r.server_connect_cpu->user_s);
    number("server_connect_system_s", r.server_connect_cpu->system_s);
    if (cpu > 0) number("connects_per_server_cpu_s", static_cast<double>(r.connections) / cpu);
  }
  number("other_cpu_s", r.other_cpu_s);
  number("steal_cpu_s", r.steal_cpu_s);
  integer("open_after_settle", r.open_after_settle);
  integer("closed", r.closed);
  integer("unexpected", r.unexpected);
  out << "}";
  return out.str();
}

// Keeps the pool alive for `seconds`: answers the server's pings (a silent
// connection is closed after 3 ping intervals) and notices closes. A progress
// line every `every_s` seconds.
void stay_idle(ClientPool& pool, double seconds, double every_s, const char* stage, const IdleReport& report,
               int server_pid) {
  const std::int64_t start = monotonic_ns();
  const std::int64_t end = start + static_cast<std::int64_t>(seconds * 1e9);
  const auto step = static_cast<std::int64_t>(every_s * 1e9);
  std::int64_t next_progress = start + step;
  MessageSink none;
  for (std::int64_t now = start; now < end; now = monotonic_ns()) {
    pool.poll(static_cast<int>(std::min<std::int64_t>((end - now) / 1'000'000 + 1, 100)), none);
    pool.flush();
    if (monotonic_ns() < next_progress) continue;
    next_progress += step;
    std::string memory = "-";
    if (report.before) {
      if (auto m = process_memory(server_pid)) {
        char text[96];
        std::snprintf(text, sizeof text, "%s (%+.0f B/connection)", mebibytes(m->rss).c_str(),
                      per_connection(m->rss, report.before->rss, report.connections));
        memory = text;
      }
    }
    std::fprintf(stderr, "[%5.1fs] %-7s %zu open  closed by server %llu  server rss %s\n",
                 static_cast<double>(monotonic_ns() - start) / 1e9, stage, pool.open_count(),
                 static_cast<unsigned long long>(pool.counters().closed), memory.c_str());
  }
}

}  // namespace

int run_idle(ArgReader& args, const CommonOptions& options) {
  if (options.peer != Peer::allspark) {
    std::fprintf(stderr, "allspark-bench idle: --peer %s: idle measures Allspark only\n", peer_name(options.peer));
    return 2;
  }
  std::uint64_t connections = 0;
  double settle_s = 3, hold_s = 0;
  if (!args.take_uint("--connections", 1, 10'000'000, connections) ||
      !args.take_double("--settle", 0, 3600, settle_s) || !args.take_double("--hold", 0, 7 * 86400, hold_s) ||
      !args.finish()) {
    std::fprintf(stderr, "allspark-bench idle: %s\n", args.error().c_str());
    return 2;
  }
  if (connections == 0) {
    std::fprintf(stderr, "allspark-bench idle: --connections C is required\n");
    return 2;
  }
  // One descriptor per connection here, and one per connection in the
  // server: say so now rather than time out halfway (main() has already
  // raised the soft limit to the hard one).
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && connections + own_descriptors > limit.rlim_cur) {
    std::fprintf(stderr,
                 "allspark-bench idle: --connections %llu needs %llu descriptors (one per connection plus %llu), "
                 "but this process may open only %llu (soft limit, raised to the hard limit %llu where allowed). "
                 "Lower --connections to at most %llu, or raise the hard limit (`ulimit -Hn`, as root).\n",
                 static_cast<unsigned long long>(connections),
                 static_cast<unsigned long long>(connections + own_descriptors),
                 static_cast<unsigned long long>(own_descriptors), static_cast<unsigned long long>(limit.rlim_cur),
                 static_cast<unsigned long long>(limit.rlim_max),
                 static_cast<unsigned long long>(limit.rlim_cur > own_descriptors ? limit.rlim_cur - own_descriptors : 0));
    return 2;
  }
  if (options.server_pid > 0) {
    auto server_limit = process_fd_limit(options.server_pid);
    std::uint64_t server_needs = connections + options.connect_batch + server_own_descriptors;
    if (server_limit && server_needs > *server_limit) {
      std::fprintf(stderr,
                   "allspark-bench idle: the server (pid %d) may open %llu descriptors; %llu idle connections "
                   "plus %zu connecting at once and its own files need about %llu. Lower --connections, or start "
                   "the server with a higher `ulimit -n`.\n",
                   options.server_pid, static_cast<unsigned long long>(*server_limit),
                   static_cast<unsigned long long>(connections), options.connect_batch,
                   static_cast<unsigned long long>(server_needs));
      return 2;
    }
  } else {
    std::fprintf(stderr, "allspark-bench idle: no --server-pid: the server's memory is not measured\n");
  }

  ClientPool pool(Endpoint{options.host, options.port}, options.secret);
  for (std::uint64_t i = 0; i < connections; ++i) pool.add(numbered_id("i", i, options.tag), "");

  IdleReport report;
  report.connections = connections;
  report.settle_s = settle_s;
  report.hold_s = hold_s;
  // The baseline: the server as started, before this run's first connection.
  if (options.server_pid > 0) {
    report.before = process_memory(options.server_pid);
    if (!report.before) {
      std::fprintf(stderr, "allspark-bench idle: cannot read /proc/%d/status: is --server-pid right?\n",
                   options.server_pid);
      return 2;
    }
  }

  Moment start = now_moment(options.server_pid);
  if (!connect_pool(pool, options, &report.connect_s)) return 1;
  Moment connected = now_moment(options.server_pid);
  report.bench_connect_cpu = connected.bench_cpu - start.bench_cpu;
  if (start.server_cpu && connected.server_cpu) report.server_connect_cpu = *connected.server_cpu - *start.server_cpu;
  double other = (connected.machine.busy_s - start.machine.busy_s) - report.bench_connect_cpu.total() -
                 (report.server_connect_cpu ? report.server_connect_cpu->total() : 0);
  report.other_cpu_s = other > 0 ? other : 0;
  report.steal_cpu_s = connected.machine.steal_s - start.machine.steal_s;

  stay_idle(pool, settle_s, 1, "settle", report, options.server_pid);
  if (options.server_pid > 0) report.after = process_memory(options.server_pid);
  report.open_after_settle = pool.open_count();

  if (hold_s > 0) {
    std::fprintf(stderr, "holding %zu connections open for %.0f s (server pid %d, this generator pid %d)\n",
                 pool.open_count(), hold_s, options.server_pid, static_cast<int>(::getpid()));
    stay_idle(pool, hold_s, 10, "hold", report, options.server_pid);
  }
  report.closed = pool.counters().closed;
  report.unexpected = pool.counters().unexpected;
  std::size_t open_at_end = pool.open_count();

  pool.close_all();
  if (options.server_pid > 0) {
    // What the server gives back once they are gone (allocator holes stay resident).
    ::usleep(2'000'000);
    report.rss_after_close = process_rss_bytes(options.server_pid);
  }

  std::printf("%s\n", summary(report).c_str());
  if (options.json) std::printf("%s\n", json(report).c_str());
  std::fflush(stdout);
  bool clean = report.open_after_settle == connections && open_at_end == connections && report.closed == 0 &&
               report.unexpected == 0;
  return clean ? 0 : 1;
}

}  // namespace allspark::bench
