// `fanout`: M member connections, nodes m<i> of one session ("room"), and S
// publisher nodes p<j> with the app role (which may send to any session
// without being a member) sending `dest_session_id: "room"`. The session is
// created over HTTP first. With `--via client` the members are instead the
// nodes of one client and the publishers send `dest_client_id`. Every
// message is delivered M times; a publisher's window counts messages until
// all M copies have arrived.
// With --peer the members subscribe to the room (a NATS subject, an MQTT
// topic, a Socket.IO or ws relay room) and each publisher sends
// {"room":"room.<tag>","src_id":"p<j>.<tag>","payload":...} to it.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "http_call.hpp"
#include "payload.hpp"
#include "run_loop.hpp"
#include "workloads.hpp"

namespace allspark::bench {
namespace {

constexpr std::uint32_t not_member = ~0u;

struct Publisher {
  std::uint32_t conn = 0;
  std::uint64_t next_seq = 0;       // of the next message to send
  std::uint64_t completed_seq = 0;  // messages before this one have reached every member
  std::uint32_t credit = 0;
  bool ready = false;
  std::string node;                 // p<j>.tag
  std::string prefix;               // peers: {"room":"room.tag","src_id":"p<j>.tag","payload":
  std::vector<std::uint32_t> copies_left;  // by seq % window: members still to receive it
};

class FanoutWorkload {
 public:
  FanoutWorkload(ClientPool& pool, std::size_t members, std::size_t publishers, std::uint32_t window,
                 std::size_t payload_bytes, const std::string& tag, bool via_session)
      : pool_(pool), members_(members), window_(window), payload_bytes_(payload_bytes),
        peer_(pool.peer() != Peer::allspark) {
    room_ = "room." + tag;
    for (std::size_t i = 0; i < members; ++i) {
      member_conns_.push_back(pool.add(numbered_id("m", i, tag), via_session ? std::string() : room_));
      if (peer_) pool.subscribe(member_conns_.back(), room_);
    }
    publishers_.resize(publishers);
    for (std::size_t j = 0; j < publishers; ++j) {
      Publisher& p = publishers_[j];
      p.node = numbered_id("p", j, tag);
      p.conn = pool.add(p.node, numbered_id("pub", j, tag), via_session ? protocol::Role::app : protocol::Role::node);
      p.credit = window;
      p.ready = true;
      p.copies_left.assign(window, 0);
      p.prefix = "{\"room\":\"" + room_ + "\",\"src_id\":\"" + p.node + "\",\"payload\":";
      ready_.push_back(static_cast<std::uint32_t>(j));
    }
    prefix_ = message_prefix(via_session ? "dest_session_id" : "dest_client_id", room_);
    member_of_conn_.assign(pool.size(), not_member);
    for (std::size_t i = 0; i < members; ++i) member_of_conn_[member_conns_[i]] = static_cast<std::uint32_t>(i);
    expected_seq_.assign(members * publishers, 0);
  }

  // POST /v1/sessions {"session_id": room, "node_ids": members}, as an app.
  bool create_session(const Endpoint& endpoint, const std::string& secret, std::string& error) const {
    protocol::AuthClaims claims;
    claims.node_id = "bench-app";
    claims.role = protocol::Role::app;
    std::string body = "{\"session_id\":\"" + room_ + "\",\"node_ids\":[";
    for (std::size_t i = 0; i < member_conns_.size(); ++i) {
      if (i > 0) body += ',';
      body += '"' + pool_.node_id(member_conns_[i]) + '"';
    }
    body += "]}";
    HttpAnswer answer;
    std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    if (!http_call(endpoint, "POST", "/v1/sessions", protocol::mint_auth_key(claims, secret, now, 3600), body, answer,
                   error)) {
      return false;
    }
    if (answer.status != 201) error = "POST /v1/sessions answered " + std::to_string(answer.status) + " " + answer.body;
    return answer.status == 201;
  }

  bool sending = false;
  Tally& tally() { return tally_; }
  std::uint64_t in_flight() const {
    std::uint64_t n = 0;
    for (const auto& p : publishers_) n += p.next_seq - p.completed_seq;
    return n;
  }
  // Copies that never arrived.
  std::uint64_t lost() const {
    std::uint64_t n = 0;
    for (const auto& p : publishers_) {
      for (std::uint64_t seq = p.completed_seq; seq < p.next_seq; ++seq) n += p.copies_left[seq % window_];
    }
    return n;
  }

  MessageSink sink() {
    return MessageSink{this, [](void* self, std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
                         static_cast<FanoutWorkload*>(self)->on_message(conn, text, now_ns);
                       }};
  }

  void refill(std::int64_t now_ns) {
    if (!sending) return;
    for (std::uint32_t index : ready_) {
      Publisher& p = publishers_[index];
      p.ready = false;
      for (; p.credit > 0; --p.credit) {
        p.copies_left[p.next_seq % window_] = static_cast<std::uint32_t>(members_);
        scratch_.clear();
        append_message(scratch_, peer_ ? p.prefix : prefix_, p.next_seq++, now_ns, payload_bytes_);
        pool_.queue_message(p.conn, room_, scratch_);
        ++tally_.sent;
      }
    }
    ready_.clear();
  }

 private:
  // The publisher index of node "p<j>.tag", or publishers_.size().
  std::size_t publisher_index(std::string_view node) const {
    std::size_t j = 0, i = 1;
    if (node.empty() || node[0] != 'p') return publishers_.size();
    for (; i < node.size() && node[i] >= '0' && node[i] <= '9'; ++i) j = j * 10 + static_cast<std::size_t>(node[i] - '0');
    if (j >= publishers_.size() || node != publishers_[j].node) return publishers_.size();
    return j;
  }

  void on_message(std::uint32_t conn, std::string_view text, std::int64_t now_ns) {
    Delivery d = read_delivery(text, pool_.node_id(conn));
    if (d.has_type) return tally_.error(pool_.node_id(conn) + " got " + std::string(text));
    if (!d.complete) return tally_.error(pool_.node_id(conn) + " got an unreadable message " + std::string(text));
    std::uint32_t member = member_of_conn_[conn];
    std::size_t j = publisher_index(d.src_id);
    if (member == not_member || j == publishers_.size() || d.dest_id != (peer_ ? room_ : pool_.node_id(conn))) {
      ++tally_.misrouted;
      return;
    }
    Publisher& p = publishers_[j];
    if (d.seq < p.completed_seq || d.seq >= p.next_seq ||
        p.copies_left[d.seq % window_] == 0) {
      ++tally_.out_of_order;  // a duplicate, or a seq never sent
      return;
    }
    std::uint64_t& expected = expected_seq_[member * publishers_.size() + j];
    if (d.seq < expected) {
      ++tally_.out_of_order;  // this member saw it (or a later one) already
      return;
    }
    if (d.seq != expected) ++tally_.out_of_order;
    expected = d.seq + 1;
    tally_.record_latency(now_ns - d.sent_ns);
    ++tally_.delivered;
    if (--p.copies_left[d.seq % window_] == 0) {
      // Per-sender order makes completions arrive in order; a gap waits here.
      while (p.completed_seq < p.next_seq && p.copies_left[p.completed_seq % window_] == 0) {
        ++p.completed_seq;
        ++p.credit;
      }
      if (p.credit > 0 && !p.ready) {
        p.ready = true;
        ready_.push_back(static_cast<std::uint32_t>(j));
      }
    }
  }

  ClientPool& pool_;
  std::size_t members_;
  std::uint32_t window_;
  std::size_t payload_bytes_;
  bool peer_;                                  // --peer other than allspark
  std::string room_;
  std::string prefix_;
  std::vector<std::uint32_t> member_conns_;
  std::vector<std::uint32_t> member_of_conn_;  // by connection index
  std::vector<Publisher> publishers_;
  std::vector<std::uint64_t> expected_seq_;    // [member][publisher]
  std::vector<std::uint32_t> ready_;           // publishers with credit
  std::string scratch_;
  Tally tally_;
};

}  // namespace

int run_fanout(ArgReader& args, const CommonOptions& options) {
  std::uint64_t members = 100, publishers = 1, window = 8;
  std::string via = "session";
  if (!args.take_uint("--members", 1, 1000000, members) || !args.take_uint("--publishers", 1, 10000, publishers) ||
      !args.take_uint("--window", 1, 1u << 16, window) || !args.take_string("--via", via) ||
      (via != "session" && via != "client") || !args.finish()) {
    std::fprintf(stderr, "allspark-bench fanout: %s\n",
                 args.error().empty() ? "--via is session or client" : args.error().c_str());
    return 2;
  }
  Endpoint endpoint{options.host, options.port};
  ClientPool pool(endpoint, options.secret, options.peer);
  FanoutWorkload workload(pool, members, publishers, static_cast<std::uint32_t>(window), options.payload_bytes,
                          options.tag, via == "session");
  std::string error;
  if (options.peer == Peer::allspark && via == "session" && !workload.create_session(endpoint, options.secret, error)) {
    std::fprintf(stderr, "allspark-bench fanout: cannot create the session: %s\n", error.c_str());
    return 1;
  }
  if (!connect_pool(pool, options)) return 1;
  Report report;
  report.workload = "fanout";
  report.rate_unit = "deliveries/s";
  report.setup = std::to_string(members) + " members " + std::to_string(publishers) + " publishers window " +
                 std::to_string(window) + (options.peer == Peer::allspark ? " via " + via : std::string(" to a room"));
  report.parameters = {{"members", static_cast<double>(members)},
                       {"publishers", static_cast<double>(publishers)},
                       {"window", static_cast<double>(window)},
                       {"payload_bytes", static_cast<double>(options.payload_bytes)}};
  run_timeline(pool, workload, options, report);
  return finish_run(pool, options, report);
}

}  // namespace allspark::bench
