// `pairs`: P sender nodes s<i> and P receiver nodes r<i>; each sender keeps W
// messages in flight to its receiver. The generator owns both ends: a
// delivery to r<i> lets s<i> send the next message.
#include <cstdio>
#include <string>
#include <vector>

#include "payload.hpp"
#include "run_loop.hpp"
#include "workloads.hpp"

namespace allspark::bench {
namespace {

constexpr std::uint32_t no_pair = ~0u;

struct Pair {
  std::uint32_t sender = 0;      // connection index
  std::uint32_t receiver = 0;
  std::uint64_t next_seq = 0;    // of the next message to send
  std::uint64_t expected_seq = 0;  // of the next message the receiver should see
  std::uint32_t credit = 0;      // messages the window allows to send now
  bool ready = false;            // in PairsWorkload::ready_
  std::string prefix;            // {"dest_id":"r<i>","payload":
  std::string sender_node;       // s<i>.tag
};

class PairsWorkload {
 public:
  PairsWorkload(ClientPool& pool, std::size_t pairs, std::uint32_t window, std::size_t payload_bytes,
                const std::string& tag)
      : pool_(pool), payload_bytes_(payload_bytes) {
    pairs_.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      Pair& p = pairs_[i];
      p.sender_node = numbered_id("s", i, tag);
      p.sender = pool.add(p.sender_node, numbered_id("cs", i, tag));
      p.receiver = pool.add(numbered_id("r", i, tag), numbered_id("cr", i, tag));
      p.prefix = message_prefix("dest_id", numbered_id("r", i, tag));
      p.credit = window;
      p.ready = true;
      ready_.push_back(static_cast<std::uint32_t>(i));
    }
    pair_of_receiver_.assign(pool.size(), no_pair);
    for (std::size_t i = 0; i < pairs; ++i) pair_of_receiver_[pairs_[i].receiver] = static_cast<std::uint32_t>(i);
  }

  bool sending = false;
  Tally& tally() { return tally_; }
  std::uint64_t in_flight() const { return tally_.sent - received_; }
  std::uint64_t lost() const { return in_flight(); }

  MessageSink sink() {
    return MessageSink{this, [](void* self, std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
                         static_cast<PairsWorkload*>(self)->on_message(conn, text, now_ns);
                       }};
  }

  void refill(std::int64_t now_ns) {
    if (!sending) return;
    for (std::uint32_t index : ready_) {
      Pair& p = pairs_[index];
      p.ready = false;
      for (; p.credit > 0; --p.credit) {
        scratch_.clear();
        append_message(scratch_, p.prefix, p.next_seq++, now_ns, payload_bytes_);
        pool_.queue_text(p.sender, scratch_);
        ++tally_.sent;
      }
    }
    ready_.clear();
  }

 private:
  void on_message(std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
    std::uint32_t index = pair_of_receiver_[conn];
    Delivery d = read_delivery(text, pool_.node_id(conn));
    if (d.has_type) return tally_.error(pool_.node_id(conn) + " got " + std::string(text));
    if (!d.complete) return tally_.error(pool_.node_id(conn) + " got an unreadable message " + std::string(text));
    if (index == no_pair) {
      ++tally_.misrouted;  // a sender never receives anything
      return;
    }
    Pair& p = pairs_[index];
    if (d.dest_id != pool_.node_id(conn) || d.src_id != p.sender_node) {
      ++tally_.misrouted;
      return;
    }
    tally_.record_latency(now_ns - d.sent_ns);
    ++tally_.delivered;
    ++received_;
    if (d.seq != p.expected_seq) ++tally_.out_of_order;
    if (d.seq >= p.expected_seq) p.expected_seq = d.seq + 1;
    ++p.credit;
    if (!p.ready) {
      p.ready = true;
      ready_.push_back(index);
    }
  }

  ClientPool& pool_;
  std::size_t payload_bytes_;
  std::vector<Pair> pairs_;
  std::vector<std::uint32_t> pair_of_receiver_;  // by connection index
  std::vector<std::uint32_t> ready_;             // pairs with credit
  std::uint64_t received_ = 0;
  std::string scratch_;
  Tally tally_;
};

}  // namespace

int run_pairs(ArgReader& args, const CommonOptions& options) {
  std::uint64_t pairs = 100, window = 16;
  if (!args.take_uint("--pairs", 1, 100000, pairs) || !args.take_uint("--window", 1, 1u << 20, window) ||
      !args.finish()) {
    std::fprintf(stderr, "allspark-bench pairs: %s\n", args.error().c_str());
    return 2;
  }
  ClientPool pool(Endpoint{options.host, options.port}, options.secret);
  PairsWorkload workload(pool, pairs, static_cast<std::uint32_t>(window), options.payload_bytes, options.tag);
  if (!connect_pool(pool, options)) return 1;
  Report report;
  report.workload = "pairs";
  report.setup = std::to_string(pairs) + " pairs window " + std::to_string(window);
  report.parameters = {{"pairs", static_cast<double>(pairs)},
                       {"window", static_cast<double>(window)},
                       {"payload_bytes", static_cast<double>(options.payload_bytes)}};
  run_timeline(pool, workload, options, report);
  return finish_run(pool, options, report);
}

}  // namespace allspark::bench
