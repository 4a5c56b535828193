// `rate`: open loop. P sender nodes s<i> and P receivers r<i>; messages are
// scheduled every 1/R seconds, round robin over the pairs, and sent when
// their time comes whatever is still in flight. Each message carries its
// scheduled time, so the latency reported counts the time a message waited
// to be sent behind a slow server as well (no coordinated omission); the
// latency from the actual send is reported beside it ("service").
#include <cstdio>
#include <string>
#include <vector>

#include "payload.hpp"
#include "run_loop.hpp"
#include "workloads.hpp"

namespace allspark::bench {
namespace {

constexpr std::uint32_t no_pair = ~0u;
constexpr std::size_t send_ring = 4096;  // actual send times kept per pair, by seq

struct RatePair {
  std::uint32_t sender = 0;
  std::uint32_t receiver = 0;
  std::uint64_t next_seq = 0;
  std::uint64_t expected_seq = 0;
  std::uint64_t received = 0;
  std::string prefix;
  std::string sender_node;
  std::string receiver_node;  // also the peers' subject, topic or id
  std::vector<std::int64_t> sent_ns;  // actual send time by seq % send_ring
};

class RateWorkload {
 public:
  static constexpr bool busy_poll = true;  // a send is due every 1/R s: never sleep in poll

  RateWorkload(ClientPool& pool, std::size_t pairs, double rate, std::size_t payload_bytes, const std::string& tag)
      : pool_(pool), payload_bytes_(payload_bytes), period_ns_(1e9 / rate) {
    pairs_.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      RatePair& p = pairs_[i];
      p.sender_node = numbered_id("s", i, tag);
      p.receiver_node = numbered_id("r", i, tag);
      p.sender = pool.add(p.sender_node, numbered_id("cs", i, tag));
      p.receiver = pool.add(p.receiver_node, numbered_id("cr", i, tag));
      p.prefix = message_prefix("dest_id", p.receiver_node);
      if (pool.peer() != Peer::allspark) {
        // {"dest_id":"r<i>","src_id":"s<i>","payload": the layout Allspark delivers
        p.prefix.resize(p.prefix.size() - std::string_view("\"payload\":").size());
        p.prefix += "\"src_id\":\"" + p.sender_node + "\",\"payload\":";
        pool.subscribe(p.receiver, p.receiver_node);
      }
      p.sent_ns.assign(send_ring, 0);
    }
    pair_of_receiver_.assign(pool.size(), no_pair);
    for (std::size_t i = 0; i < pairs; ++i) pair_of_receiver_[pairs_[i].receiver] = static_cast<std::uint32_t>(i);
  }

  bool sending = false;
  Tally& tally() { return tally_; }
  LatencyHistogram& service() { return service_; }
  std::uint64_t in_flight() const { return tally_.sent - received_; }
  std::uint64_t lost() const { return tally_.sent - received_; }

  MessageSink sink() {
    return MessageSink{this, [](void* self, std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
                         static_cast<RateWorkload*>(self)->on_message(conn, text, now_ns);
                       }};
  }

  // Every message whose scheduled time has come, each stamped with that time.
  void refill(std::int64_t now_ns) {
    if (!sending) {
      start_ns_ = 0;
      return;
    }
    if (start_ns_ == 0) start_ns_ = now_ns;
    for (;;) {
      auto due = start_ns_ + static_cast<std::int64_t>(static_cast<double>(scheduled_) * period_ns_);
      if (due > now_ns) break;
      RatePair& p = pairs_[scheduled_ % pairs_.size()];
      p.sent_ns[p.next_seq % send_ring] = now_ns;
      scratch_.clear();
      append_message(scratch_, p.prefix, p.next_seq++, due, payload_bytes_);
      pool_.queue_message(p.sender, p.receiver_node, scratch_);
      ++tally_.sent;
      ++scheduled_;
    }
  }

 private:
  void on_message(std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
    Delivery d = read_delivery(text, pool_.node_id(conn));
    if (d.has_type) return tally_.error(pool_.node_id(conn) + " got " + std::string(text));
    if (!d.complete) return tally_.error(pool_.node_id(conn) + " got an unreadable message " + std::string(text));
    std::uint32_t index = pair_of_receiver_[conn];
    if (index == no_pair || d.src_id != pairs_[index].sender_node || d.dest_id != pool_.node_id(conn)) {
      ++tally_.misrouted;
      return;
    }
    RatePair& p = pairs_[index];
    if (d.seq != p.expected_seq) ++tally_.out_of_order;
    if (d.seq >= p.expected_seq) p.expected_seq = d.seq + 1;
    ++received_;
    ++tally_.delivered;
    tally_.record_latency(now_ns - d.sent_ns);
    if (tally_.recording && p.next_seq - d.seq <= send_ring) service_.record(now_ns - p.sent_ns[d.seq % send_ring]);
  }

  ClientPool& pool_;
  std::size_t payload_bytes_;
  double period_ns_;
  std::int64_t start_ns_ = 0;
  std::uint64_t scheduled_ = 0;
  std::uint64_t received_ = 0;
  std::vector<RatePair> pairs_;
  std::vector<std::uint32_t> pair_of_receiver_;
  std::string scratch_;
  Tally tally_;
  LatencyHistogram service_;
};

}  // namespace

int run_rate(ArgReader& args, const CommonOptions& options) {
  std::uint64_t rate = 20000, pairs = 100;
  if (!args.take_uint("--rate", 1, 10'000'000, rate) || !args.take_uint("--pairs", 1, 100000, pairs) ||
      !args.finish()) {
    std::fprintf(stderr, "allspark-bench rate: %s\n", args.error().c_str());
    return 2;
  }
  ClientPool pool(Endpoint{options.host, options.port}, options.secret, options.peer);
  RateWorkload workload(pool, pairs, static_cast<double>(rate), options.payload_bytes, options.tag);
  if (!connect_pool(pool, options)) return 1;
  Report report;
  report.workload = "rate";
  report.setup = std::to_string(rate) + " msg/s over " + std::to_string(pairs) + " pairs";
  run_timeline(pool, workload, options, report);
  const LatencyHistogram& service = workload.service();
  report.parameters = {{"target_rate", static_cast<double>(rate)},
                       {"pairs", static_cast<double>(pairs)},
                       {"payload_bytes", static_cast<double>(options.payload_bytes)},
                       {"service_p50_us", static_cast<double>(service.quantile_ns(0.5)) / 1e3},
                       {"service_p99_us", static_cast<double>(service.quantile_ns(0.99)) / 1e3},
                       {"service_p999_us", static_cast<double>(service.quantile_ns(0.999)) / 1e3}};
  std::fprintf(stderr, "rate: from the actual send: p50 %s p99 %s p99.9 %s (the summary counts from the schedule)\n",
               format_duration_ns(service.quantile_ns(0.5)).c_str(), format_duration_ns(service.quantile_ns(0.99)).c_str(),
               format_duration_ns(service.quantile_ns(0.999)).c_str());
  return finish_run(pool, options, report);
}

}  // namespace allspark::bench
