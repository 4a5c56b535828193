// `pairs`: P sender nodes s<i> and P receiver nodes r<i>; each sender keeps W
// messages in flight to its receiver. The generator owns both ends: a
// delivery to r<i> lets s<i> send the next message.
// `ack`: the same with `"ack": true` (PROTOCOL.md section 6): a message is in
// flight until its sender got the -7, which is what is counted and timed;
// receivers check every stored copy and acknowledge their inbox every
// --recipient-ack messages, as a client of the guarantee does.
// With --peer, the body names its sender itself ({"dest_id":..,"src_id":..,
// "payload":..}) and goes to the receiver's subject or topic (ws relay,
// Socket.IO: to the node registered under that id). `ack` on NATS publishes
// into a JetStream stream with file storage, with a reply subject per
// message: a message is in flight until its PubAck; receivers read the live
// copy of a plain subscription.
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
  std::string receiver_node;     // r<i>.tag: also the peers' subject, topic or id
  std::string inbox;             // NATS ack: "_INBOX.<tag>.<i>." + seq is each message's reply subject
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
      : pool_(pool), payload_bytes_(payload_bytes), ack_(ack), peer_(pool.peer() != Peer::allspark) {
    pairs_.resize(pairs);
    for (std::size_t i = 0; i < pairs; ++i) {
      Pair& p = pairs_[i];
      p.sender_node = numbered_id("s", i, tag);
      p.receiver_node = numbered_id("r", i, tag);
      p.sender = pool.add(p.sender_node, numbered_id("cs", i, tag));
      p.receiver = pool.add(p.receiver_node, numbered_id("cr", i, tag));
      p.prefix = message_prefix("dest_id", p.receiver_node);
      if (peer_) {
        // {"dest_id":"r<i>","src_id":"s<i>","payload": the layout Allspark delivers
        p.prefix.resize(p.prefix.size() - std::string_view("\"payload\":").size());
        p.prefix += "\"src_id\":\"" + p.sender_node + "\",\"payload\":";
        pool.subscribe(p.receiver, p.receiver_node);
        if (ack_.enabled) {
          p.inbox = "_INBOX." + tag + "." + std::to_string(i) + ".";
          pool.subscribe(p.sender, p.inbox + "*");
          p.sent_ns.assign(2 * window, 0);
        }
      } else if (ack_.enabled) {
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

  // NATS ack: a JetStream stream with file storage on every receiver's
  // subject, created through the JetStream API ($JS.API.STREAM.CREATE.<name>).
  bool create_stream(const std::string& tag, std::string& error) {
    std::string name = "ALLSPARK_ACK_" + tag;
    for (char& ch : name) {
      if (ch == '.' || ch == '*' || ch == '>' || ch == ' ') ch = '_';
    }
    std::string config = "{\"name\":\"" + name + "\",\"subjects\":[";
    for (std::size_t i = 0; i < pairs_.size(); ++i) config += (i > 0 ? ",\"" : "\"") + pairs_[i].receiver_node + '"';
    config += "],\"storage\":\"file\"}";
    Pair& first = pairs_[0];
    pool_.queue_message(first.sender, "$JS.API.STREAM.CREATE." + name, config, first.inbox + "create");
    pool_.flush();
    std::string answer;
    MessageSink sink{&answer, [](void* context, std::uint32_t, std::string_view text, std::int64_t) {
                       *static_cast<std::string*>(context) = std::string(text);
                     }};
    std::int64_t deadline = monotonic_ns() + 10'000'000'000;
    while (answer.empty() && monotonic_ns() < deadline && pool_.open_count() == pool_.size()) {
      pool_.poll(5, sink);
      pool_.flush();
    }
    if (answer.empty()) error = "no answer to " + name + "'s creation " + pool_.first_error();
    if (answer.find("\"error\"") != std::string::npos) error = answer;
    return error.empty();
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
        if (ack_.enabled && peer_) {
          // JetStream: the reply subject carries the seq its PubAck answers.
          p.sent_ns[p.next_seq % p.sent_ns.size()] = now_ns;
          reply_.assign(p.inbox);
          char digits[24];
          reply_.append(digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, p.next_seq).ptr - digits));
          append_message(scratch_, p.prefix, p.next_seq++, now_ns, payload_bytes_);
          pool_.queue_message(p.sender, p.receiver_node, scratch_, reply_);
          ++tally_.sent;
          continue;
        }
        if (ack_.enabled) {
          // {"dest_id":"r<i>","ack":true,"id":"<seq>","payload":{...}}
          p.sent_ns[p.next_seq % p.sent_ns.size()] = now_ns;
          scratch_ += p.prefix;
          scratch_ += std::to_string(p.next_seq);
          append_message(scratch_, "\",\"payload\":", p.next_seq++, now_ns, payload_bytes_);
        } else {
          append_message(scratch_, p.prefix, p.next_seq++, now_ns, payload_bytes_);
        }
        pool_.queue_message(p.sender, p.receiver_node, scratch_);
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
    if (peer_) return;  // a plain subscription's live copy: no inbox seq
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
    if (peer_) return on_pub_ack(index, text, now_ns);
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

  // JetStream's PubAck {"stream":..,"seq":N} on the reply subject "<inbox><seq>".
  void on_pub_ack(std::uint32_t index, std::string_view text, std::int64_t now_ns) {
    Pair& p = pairs_[index];
    std::string_view subject = pool_.current_subject();
    std::uint64_t seq = 0;
    bool ok = subject.substr(0, p.inbox.size()) == p.inbox;
    auto digits = subject.substr(std::min(p.inbox.size(), subject.size()));
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (!ok || ec != std::errc() || end != digits.data() + digits.size() || seq >= p.next_seq ||
        p.next_seq - seq > p.sent_ns.size() / 2 || text.find("\"error\"") != std::string_view::npos ||
        text.find("\"seq\":") == std::string_view::npos) {
      return tally_.error(p.sender_node + " got " + std::string(subject) + " " + std::string(text));
    }
    done(index, now_ns - p.sent_ns[seq % p.sent_ns.size()]);
  }

  ClientPool& pool_;
  std::size_t payload_bytes_;
  AckOptions ack_;
  bool peer_;                                    // --peer other than allspark
  std::string reply_;                            // NATS ack: the reply subject being written
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
  if (ack.enabled && options.peer != Peer::allspark && options.peer != Peer::nats) {
    std::fprintf(stderr, "allspark-bench ack: --peer %s has no acknowledged publish here (allspark, nats)\n",
                 peer_name(options.peer));
    return 2;
  }
  ack.recipient_every = static_cast<std::uint32_t>(every);
  ClientPool pool(Endpoint{options.host, options.port}, options.secret, options.peer);
  PairsWorkload workload(pool, pairs, static_cast<std::uint32_t>(window), options.payload_bytes, options.tag, ack);
  if (!connect_pool(pool, options)) return 1;
  std::string error;
  if (ack.enabled && options.peer == Peer::nats && !workload.create_stream(options.tag, error)) {
    std::fprintf(stderr, "allspark-bench ack: cannot create the JetStream stream: %s\n", error.c_str());
    return 1;
  }
  Report report;
  report.workload = name;
  report.setup = std::to_string(pairs) + " pairs window " + std::to_string(window);
  report.parameters = {{"pairs", static_cast<double>(pairs)},
                       {"window", static_cast<double>(window)},
                       {"payload_bytes", static_cast<double>(options.payload_bytes)}};
  if (ack.enabled && options.peer == Peer::nats) {
    report.setup += " JetStream file storage";
    report.rate_unit = "acked msg/s";
  } else if (ack.enabled) {
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
