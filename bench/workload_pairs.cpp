// `pairs`: P sender nodes s<i> and P receiver nodes r<i>; each sender keeps W
// messages in flight to its receiver. The generator owns both ends: a
// delivery to r<i> lets s<i> send the next message.
// `ack`: the same with `"ack": true` (PROTOCOL.md section 6): a message is in
// flight until its sender got the -7, which is what is counted and timed;
// receivers check every stored copy and acknowledge their inbox every
// --recipient-ack messages, as a client of the guarantee does.
#include <algorithm>
#include <charconv>
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
  std::string prefix;            // {"dest_id":"r<i>","payload": (ack: ...,"ack":true,"id":")
  std::string sender_node;       // s<i>.tag
  std::vector<std::int64_t> sent_ns;  // ack: send time by seq % size (at most W in flight)
  std::uint64_t inbox_seq = 0;        // ack: the receiver's newest stored seq
  std::uint64_t unacknowledged = 0;   // ack: deliveries since the receiver's last -7
};

struct AckOptions {
  bool enabled = false;
  std::uint32_t recipient_every = 32;  // a receiver acknowledges its inbox every N messages
};

class PairsWorkload {
 public:
  PairsWorkload(ClientPool& pool, std::size_t pairs, std::uint32_t window, std::size_t payload_bytes,
                const std::string& tag, AckOptions ack)
      : pool_(pool), payload_bytes_(payload_bytes), ack_(ack) {
    pairs_.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      Pair& p = pairs_[i];
      p.sender_node = numbered_id("s", i, tag);
      p.sender = pool.add(p.sender_node, numbered_id("cs", i, tag));
      p.receiver = pool.add(numbered_id("r", i, tag), numbered_id("cr", i, tag));
      p.prefix = message_prefix("dest_id", numbered_id("r", i, tag));
      if (ack_.enabled) {
        p.prefix.resize(p.prefix.size() - std::string_view(",\"payload\":").size());
        p.prefix += ",\"ack\":true,\"id\":\"";
        p.sent_ns.assign(2 * window, 0);
      }
      p.credit = window;
      p.ready = true;
      ready_.push_back(static_cast<std::uint32_t>(i));
    }
    pair_of_receiver_.assign(pool.size(), no_pair);
    pair_of_sender_.assign(pool.size(), no_pair);
    for (std::size_t i = 0; i < pairs; ++i) {
      pair_of_receiver_[pairs_[i].receiver] = static_cast<std::uint32_t>(i);
      pair_of_sender_[pairs_[i].sender] = static_cast<std::uint32_t>(i);
    }
  }

  bool sending = false;
  Tally& tally() { return tally_; }
  std::uint64_t in_flight() const { return tally_.sent - received_; }
  // With ack, a message counts once its -7 came and its copy was delivered.
  std::uint64_t lost() const { return tally_.sent - std::min(received_, ack_.enabled ? deliveries_ : received_); }

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
        if (ack_.enabled) {
          // {"dest_id":"r<i>","ack":true,"id":"<seq>","payload":{...}}
          p.sent_ns[p.next_seq % p.sent_ns.size()] = now_ns;
          scratch_ += p.prefix;
          scratch_ += std::to_string(p.next_seq);
          append_message(scratch_, "\",\"payload\":", p.next_seq++, now_ns, payload_bytes_);
        } else {
          append_message(scratch_, p.prefix, p.next_seq++, now_ns, payload_bytes_);
        }
        pool_.queue_text(p.sender, scratch_);
        ++tally_.sent;
      }
    }
    ready_.clear();
  }

 private:
  void on_message(std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
    if (ack_.enabled && pair_of_sender_[conn] != no_pair) return on_sender_frame(pair_of_sender_[conn], text, now_ns);
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
    if (d.seq != p.expected_seq) ++tally_.out_of_order;
    if (d.seq >= p.expected_seq) p.expected_seq = d.seq + 1;
    if (ack_.enabled) return on_stored_copy(index, d);
    done(index, now_ns - d.sent_ns);
  }

  // A message of pair `index` is done (delivered, or with ack answered -7):
  // counted, timed, and its window may send the next.
  void done(std::uint32_t index, std::int64_t latency_ns) {
    Pair& p = pairs_[index];
    tally_.record_latency(latency_ns);
    ++tally_.delivered;
    ++received_;
    ++p.credit;
    if (!p.ready) {
      p.ready = true;
      ready_.push_back(index);
    }
  }

  // A receiver's stored copy: it must carry the next inbox seq; every
  // `recipient_every` copies the receiver acknowledges its inbox.
  void on_stored_copy(std::uint32_t index, const Delivery& d) {
    Pair& p = pairs_[index];
    ++deliveries_;
    if (d.inbox_seq <= p.inbox_seq) {
      tally_.error(pool_.node_id(p.receiver) + " got a copy without a new inbox seq");
      return;
    }
    p.inbox_seq = d.inbox_seq;
    if (++p.unacknowledged >= ack_.recipient_every) {
      p.unacknowledged = 0;
      pool_.queue_text(p.receiver, "{\"type\":-7,\"seq\":" + std::to_string(p.inbox_seq) + "}");
    }
  }

  // {"type":-7,"id":"<seq>"}: every copy of that message is stored.
  void on_sender_frame(std::uint32_t index, std::string_view text, std::int64_t now_ns) {
    constexpr std::string_view head = "{\"type\":-7,\"id\":\"";
    Pair& p = pairs_[index];
    std::uint64_t seq = 0;
    auto digits = text.substr(std::min(head.size(), text.size()));
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (text.substr(0, head.size()) != head || ec != std::errc() || seq >= p.next_seq ||
        p.next_seq - seq > p.sent_ns.size() / 2) {
      return tally_.error(p.sender_node + " got " + std::string(text));
    }
    done(index, now_ns - p.sent_ns[seq % p.sent_ns.size()]);
  }

  ClientPool& pool_;
  std::size_t payload_bytes_;
  AckOptions ack_;
  std::vector<std::uint32_t> pair_of_sender_;    // by connection index
  std::uint64_t deliveries_ = 0;                 // ack: stored copies received
  std::vector<Pair> pairs_;
  std::vector<std::uint32_t> pair_of_receiver_;  // by connection index
  std::vector<std::uint32_t> ready_;             // pairs with credit
  std::uint64_t received_ = 0;
  std::string scratch_;
  Tally tally_;
};

}  // namespace

namespace {

int run(ArgReader& args, const CommonOptions& options, AckOptions ack) {
  const char* name = ack.enabled ? "ack" : "pairs";
  std::uint64_t pairs = ack.enabled ? 1 : 100, window = ack.enabled ? 64 : 16, every = 32;
  bool ok = args.take_uint("--pairs", 1, 100000, pairs) && args.take_uint("--window", 1, 1u << 20, window);
  if (ok && ack.enabled) ok = args.take_uint("--recipient-ack", 1, 1u << 20, every);
  if (!ok || !args.finish()) {
    std::fprintf(stderr, "allspark-bench %s: %s\n", name, args.error().c_str());
    return 2;
  }
  ack.recipient_every = static_cast<std::uint32_t>(every);
  ClientPool pool(Endpoint{options.host, options.port}, options.secret);
  PairsWorkload workload(pool, pairs, static_cast<std::uint32_t>(window), options.payload_bytes, options.tag, ack);
  if (!connect_pool(pool, options)) return 1;
  Report report;
  report.workload = name;
  report.setup = std::to_string(pairs) + " pairs window " + std::to_string(window);
  report.parameters = {{"pairs", static_cast<double>(pairs)},
                       {"window", static_cast<double>(window)},
                       {"payload_bytes", static_cast<double>(options.payload_bytes)}};
  if (ack.enabled) {
    report.setup += " recipient ack every " + std::to_string(every);
    report.rate_unit = "acked msg/s";
    report.parameters.emplace_back("recipient_ack", static_cast<double>(every));
  }
  run_timeline(pool, workload, options, report);
  return finish_run(pool, options, report);
}

}  // namespace

int run_pairs(ArgReader& args, const CommonOptions& options) { return run(args, options, AckOptions{}); }

int run_ack(ArgReader& args, const CommonOptions& options) { return run(args, options, AckOptions{true, 32}); }

}  // namespace allspark::bench
