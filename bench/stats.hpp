#pragma once
// What a run measures: latency histograms, CPU time of the generator and of
// the server, and the summary line / JSON line printed at the end.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace allspark::bench {

// Log-linear histogram of nanoseconds: exact below 64 ns, then 32 buckets per
// power of two (about 3% wide). Fixed size: recording never allocates.
class LatencyHistogram {
 public:
  void record(std::int64_t ns) {
    auto v = static_cast<std::uint64_t>(ns < 0 ? 0 : ns);
    ++counts_[bucket(v)];
    ++count_;
    if (v > max_) max_ = v;
  }
  void reset() { *this = LatencyHistogram{}; }
  std::uint64_t count() const { return count_; }
  std::uint64_t max_ns() const { return max_; }
  // The value below which a fraction `q` (0..1) of the samples lie (bucket midpoint).
  std::uint64_t quantile_ns(double q) const;

 private:
  static constexpr int sub_bits = 5;
  static constexpr std::size_t linear = 64;
  static constexpr std::size_t buckets = linear + (64 - 6) * (1u << sub_bits);
  static std::size_t bucket(std::uint64_t v) {
    if (v < linear) return static_cast<std::size_t>(v);
    int exponent = 63 - __builtin_clzll(v);  // >= 6
    auto sub = static_cast<std::size_t>((v >> (exponent - sub_bits)) & ((1u << sub_bits) - 1));
    return linear + static_cast<std::size_t>(exponent - 6) * (1u << sub_bits) + sub;
  }
  static std::uint64_t bucket_mid(std::size_t index);

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

// Counters a workload updates per message.
struct Tally {
  std::uint64_t sent = 0;        // messages sent (a fan-out message counts once)
  std::uint64_t delivered = 0;   // messages received (a fan-out counts every copy)
  std::uint64_t misrouted = 0;   // received by the wrong node, or from the wrong sender
  std::uint64_t out_of_order = 0;
  std::uint64_t errors = 0;      // error frames from the server, unreadable messages
  std::string first_error;       // the first of them, for the human
  bool recording = false;        // in the measured part of the run
  LatencyHistogram latency;      // the measured part
  LatencyHistogram interval;     // since the last progress line

  void record_latency(std::int64_t ns) {
    interval.record(ns);
    if (recording) latency.record(ns);
  }
  void error(std::string_view what) {
    if (errors++ == 0) first_error = std::string(what.substr(0, 300));
  }
};

// CPU time of a process, split: user space, and the kernel working for it
// (system calls, and on loopback the TCP stack of the peer's packets too).
struct CpuTime {
  double user_s = 0;
  double system_s = 0;
  double total() const { return user_s + system_s; }
  CpuTime operator-(const CpuTime& other) const { return {user_s - other.user_s, system_s - other.system_s}; }
  CpuTime operator+(const CpuTime& other) const { return {user_s + other.user_s, system_s + other.system_s}; }
};

// This process (getrusage).
CpuTime self_cpu_time();
// Every thread of process `pid` (utime and stime of /proc/PID/stat).
std::optional<CpuTime> process_cpu_time(int pid);
// CPU seconds of the whole machine from /proc/stat: busy (user, nice,
// system, irq, softirq) and steal (taken by the hypervisor). On a shared
// machine, busy minus the server and the generator is someone else's load.
struct MachineCpu {
  double busy_s = 0;
  double steal_s = 0;
};
MachineCpu machine_cpu_seconds();

// Resident memory of process `pid` in bytes, from /proc/PID/status.
std::optional<std::uint64_t> process_rss_bytes(int pid);

// The same, split as the kernel counts it: VmRSS = RssAnon (heap, stacks) +
// RssFile (pages of the binary and libraries) + RssShmem. Per-connection
// state is anonymous memory; RssFile grows when code runs for the first time.
struct ProcessMemory {
  std::uint64_t rss = 0, anon = 0, file = 0, shmem = 0;
};
std::optional<ProcessMemory> process_memory(int pid);

// The soft limit on open descriptors of process `pid` ("Max open files" in
// /proc/PID/limits), or nullopt when it cannot be read or is unlimited.
std::optional<std::uint64_t> process_fd_limit(int pid);

struct Report {
  std::string workload;   // "pairs"
  std::string setup;      // "500 pairs window 64"
  std::vector<std::pair<std::string, double>> parameters;  // for the JSON line
  std::string rate_unit = "msg/s";
  double seconds = 0;             // measured time
  std::uint64_t delivered = 0;    // in the measured time
  std::uint64_t sent = 0;         // in the measured time
  std::uint64_t lost = 0;         // whole run
  std::uint64_t misrouted = 0, out_of_order = 0, errors = 0, closed = 0;
  std::string first_error;
  LatencyHistogram latency;
  CpuTime bench_cpu;
  std::optional<CpuTime> server_cpu;
  double other_cpu_s = 0;   // the rest of the machine (other processes, interrupts) in the measured time
  double steal_cpu_s = 0;
  std::optional<std::uint64_t> server_rss_bytes;
  std::uint64_t bench_sends = 0, bench_reads = 0;  // syscalls of the generator in the measured time
};

// "pairs: 500 pairs window 64: 812345 msg/s, p50 210us ..."
std::string summary_line(const Report& report);
// One JSON object on one line.
std::string json_line(const Report& report);
// "210us", "2.1ms"
std::string format_duration_ns(std::uint64_t ns);
// "828k", "1.52M"
std::string format_count(double value);

}  // namespace allspark::bench
