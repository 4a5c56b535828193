#include "stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace allspark::bench {

std::uint64_t LatencyHistogram::bucket_mid(std::size_t index) {
  if (index < linear) return index;
  std::size_t exponent = (index - linear) / (1u << sub_bits) + 6;
  std::uint64_t sub = (index - linear) % (1u << sub_bits);
  std::uint64_t width = std::uint64_t{1} << (exponent - sub_bits);
  return ((std::uint64_t{1} << sub_bits) + sub) * width + width / 2;
}

std::uint64_t LatencyHistogram::quantile_ns(double q) const {
  if (count_ == 0) return 0;
  auto target = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (target == 0) target = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(bucket_mid(i), max_);
  }
  return max_;
}

CpuTime self_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
}

std::optional<CpuTime> process_cpu_time(int pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!file || !std::getline(file, text)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from the last ')'. Field 3 is the state; utime and stime are 14 and 15.
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && (fields >> field); ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
  }
  auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return CpuTime{static_cast<double>(utime) / tick, static_cast<double>(stime) / tick};
}

MachineCpu machine_cpu_seconds() {
  std::ifstream file("/proc/stat");
  std::string label;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  file >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  MachineCpu cpu;
  if (label == "cpu") {
    cpu.busy_s = static_cast<double>(user + nice + system + irq + softirq) / tick;
    cpu.steal_s = static_cast<double>(steal) / tick;
  }
  return cpu;
}

std::optional<std::uint64_t> process_rss_bytes(int pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return std::nullopt;
}

std::optional<ProcessMemory> process_memory(int pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  ProcessMemory memory;
  bool found = false;
  auto kilobytes = [&](const char* key, std::uint64_t& out) {
    std::size_t length = std::char_traits<char>::length(key);
    if (line.compare(0, length, key) != 0) return;
    out = std::stoull(line.substr(length)) * 1024;
    found = true;
  };
  while (std::getline(file, line)) {
    kilobytes("VmRSS:", memory.rss);
    kilobytes("RssAnon:", memory.anon);
    kilobytes("RssFile:", memory.file);
    kilobytes("RssShmem:", memory.shmem);
  }
  if (!found) return std::nullopt;
  return memory;
}

std::optional<std::uint64_t> process_fd_limit(int pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(file, line)) {
    // "Max open files            20000                20000                files"
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    if (!(fields >> soft) || soft == "unlimited") return std::nullopt;
    return std::stoull(soft);
  }
  return std::nullopt;
}

std::string format_duration_ns(std::uint64_t ns) {
  char text[32];
  if (ns < 1000) {
    std::snprintf(text, sizeof text, "%lluns", static_cast<unsigned long long>(ns));
  } else if (ns < 1'000'000) {
    std::snprintf(text, sizeof text, "%lluus", static_cast<unsigned long long>((ns + 500) / 1000));
  } else if (ns < 1'000'000'000) {
    std::snprintf(text, sizeof text, "%.1fms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.2fs", static_cast<double>(ns) / 1e9);
  }
  return text;
}

std::string format_count(double value) {
  char text[32];
  if (value >= 1e6) {
    std::snprintf(text, sizeof text, "%.2fM", value / 1e6);
  } else if (value >= 1e3) {
    std::snprintf(text, sizeof text, "%.0fk", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", value);
  }
  return text;
}

std::string summary_line(const Report& r) {
  double rate = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0;
  char text[512];
  std::snprintf(text, sizeof text, "%s: %s: %.0f %s, p50 %s p99 %s p99.9 %s, lost %llu misrouted %llu out-of-order %llu",
                r.workload.c_str(), r.setup.c_str(), rate, r.rate_unit.c_str(),
                format_duration_ns(r.latency.quantile_ns(0.50)).c_str(),
                format_duration_ns(r.latency.quantile_ns(0.99)).c_str(),
                format_duration_ns(r.latency.quantile_ns(0.999)).c_str(),
                static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.misrouted),
                static_cast<unsigned long long>(r.out_of_order));
  std::string line = text;
  if (r.latency.count() == 0) {  // a workload that times no message (connect)
    std::size_t p50 = line.find(", p50 ");
    std::size_t lost = line.find(", lost ");
    line.erase(p50, lost - p50);
  }
  if (r.errors > 0) line += ", errors " + std::to_string(r.errors) + " (first: " + r.first_error + ")";
  if (r.closed > 0) {
    line += ", connections closed " + std::to_string(r.closed);
    if (r.errors == 0 && !r.first_error.empty()) line += " (first: " + r.first_error + ")";
  }
  if (r.server_cpu) {
    double server_s = r.server_cpu->total();
    double per_cpu = server_s > 0 ? static_cast<double>(r.delivered) / server_s : 0;
    // "msg/s" -> "msg", "acked msg/s" -> "acked msg", "deliveries/s" -> "deliveries"
    std::string unit = r.rate_unit.substr(0, r.rate_unit.rfind("/s"));
    std::snprintf(text, sizeof text, ", server %.2f cpu-s => %s %s/server-cpu-s", server_s,
                  format_count(per_cpu).c_str(), unit.c_str());
    line += text;
  }
  std::snprintf(text, sizeof text, ", bench cpu %.2f cpu-s", r.bench_cpu.total());
  line += text;
  // Someone else's load on the machine makes every number above doubtful: say so.
  if (r.seconds > 0 && (r.other_cpu_s + r.steal_cpu_s) / r.seconds > 0.05) {
    std::snprintf(text, sizeof text, ", other load %.2f cpu-s + steal %.2f %s", r.other_cpu_s, r.steal_cpu_s,
                  r.server_cpu ? "(noisy machine)" : "(the server's included: no --server-pid)");
    line += text;
  }
  return line;
}

std::string json_line(const Report& r) {
  std::ostringstream out;
  out.precision(6);
  auto number = [&](const char* key, double value) { out << ",\"" << key << "\":" << value; };
  auto integer = [&](const char* key, std::uint64_t value) { out << ",\"" << key << "\":" << value; };
  out << "{\"workload\":\"" << r.workload << "\"";
  for (const auto& [key, value] : r.parameters) number(key.c_str(), value);
  number("seconds", r.seconds);
  integer("sent", r.sent);
  integer("delivered", r.delivered);
  number("rate", r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0);
  out << ",\"rate_unit\":\"" << r.rate_unit << "\"";
  integer("p50_ns", r.latency.quantile_ns(0.50));
  integer("p99_ns", r.latency.quantile_ns(0.99));
  integer("p999_ns", r.latency.quantile_ns(0.999));
  integer("max_ns", r.latency.max_ns());
  integer("lost", r.lost);
  integer("misrouted", r.misrouted);
  integer("out_of_order", r.out_of_order);
  integer("errors", r.errors);
  integer("closed", r.closed);
  auto per_delivery = [&](const char* key, double seconds) {
    if (r.delivered > 0) number(key, seconds * 1e9 / static_cast<double>(r.delivered));
  };
  number("bench_cpu_s", r.bench_cpu.total());
  number("bench_user_s", r.bench_cpu.user_s);
  number("bench_system_s", r.bench_cpu.system_s);
  per_delivery("bench_cpu_ns_per_delivery", r.bench_cpu.total());
  per_delivery("bench_user_ns_per_delivery", r.bench_cpu.user_s);
  integer("bench_sends", r.bench_sends);
  integer("bench_reads", r.bench_reads);
  if (r.server_cpu) {
    double server_s = r.server_cpu->total();
    number("server_cpu_s", server_s);
    number("server_user_s", r.server_cpu->user_s);
    number("server_system_s", r.server_cpu->system_s);
    if (server_s > 0) number("per_server_cpu_s", static_cast<double>(r.delivered) / server_s);
    per_delivery("server_cpu_ns_per_delivery", server_s);
    per_delivery("server_user_ns_per_delivery", r.server_cpu->user_s);
  }
  number("other_cpu_s", r.other_cpu_s);
  number("steal_cpu_s", r.steal_cpu_s);
  if (r.server_rss_bytes) integer("server_rss_bytes", *r.server_rss_bytes);
  out << "}";
  return out.str();
}

}  // namespace allspark::bench
