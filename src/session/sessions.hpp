#pragma once
// A shard's sessions (PROTOCOL.md sections 4, 5 and 6): a copy of every
// session and its members, messages to a session (checked on the sender's
// shard, numbered and logged on the session's home shard, fanned out by each
// shard to the members homed there), session acks, and the membership
// changes of the HTTP API with their events (-100, -103, -104). Owned by the
// shard's thread; other shards answer through `post_to`, the store through
// `post_answer`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/offline.hpp"
#include "core/router.hpp"
#include "protocol/session_request.hpp"
#include "core/directory.hpp"
#include "session/session.hpp"
#include "store/store.hpp"

namespace allspark::session {

class Sessions;

struct SessionsConfig {
  // Runs `work` on a shard's thread (this one's included) with that shard's
  // Sessions, then flushes what it queued.
  std::function<void(std::uint32_t shard, std::function<void(Sessions&)> work)> post_to;
  // Runs a store answer on this shard's thread (called from store callbacks,
  // like InboxConfig::post_answer). Empty: post_to this shard.
  std::function<void(std::function<void()> work)> post_answer;
  // The offline webhook: one POST body per session message some member missed.
  std::function<void(std::string body)> notify;
};

// Who calls the HTTP API.
struct Caller {
  std::string node_id;
  protocol::Role role = protocol::Role::node;
  bool is_app() const { return role != protocol::Role::node; }
};

// An HTTP answer: an error (its status follows from the code) or a JSON body.
struct Answer {
  int status = 200;
  std::optional<protocol::ErrorCode> error;
  std::string message;  // the error's, for a human
  std::string body;
};
using Done = std::function<void(Answer)>;

// POST /v1/sessions, its body already checked.
using CreateRequest = protocol::SessionCreate;

// Written by the shard, read by /metrics.
struct SessionCounters {
  core::Counter messages;   // session messages routed (numbered on this home shard)
  core::Counter fanned_out; // deliveries to member connections
};

class Sessions final : public core::SessionHook {
 public:
  Sessions(core::Router& router, core::Offline& offline, store::Store& store, SessionsConfig config);

  // At start-up: every session, member and cursor.
  void restore(const store::SessionsSnapshot& snapshot);
  // The shard that owns a session: its log, session_seq and cursors.
  std::uint32_t home_of(std::string_view session_id) const { return router_.home_of(session_id); }

  void on_message(core::Connection& from, const protocol::Message& message, std::int64_t now_ms) override;
  void end_batch() override;

  // Section 5, on the session's home shard; `done` runs once every shard has
  // the change (membership.cpp).
  void create(const Caller& caller, CreateRequest request, std::int64_t now_ms, Done done);
  void join(const Caller& caller, const std::string& session_id, std::string node_id, bool anonymous,
            std::int64_t now_ms, Done done);
  void leave(const Caller& caller, const std::string& session_id, std::string node_id, std::int64_t now_ms,
             Done done);
  void reveal(const Caller& caller, const std::string& session_id, std::int64_t now_ms, Done done);
  void remove(const Caller& caller, const std::string& session_id, std::int64_t now_ms, Done done);
  // On any shard.
  Answer describe(const Caller& caller, const std::string& session_id) const;
  Answer list(const Caller& caller, const std::string& node_id) const;
  // Section 6: may the node read the session's log? nullopt: yes.
  std::optional<protocol::ErrorCode> may_read(std::string_view node_id, protocol::Role role,
                                              std::string_view session_id) const;
  // POST /v1/messages to a session (section 9), on the home shard of the
  // node the app speaks for; `done` hears once it is routed (and logged, with `ack`).
  void publish_http(core::Node& node, const protocol::Message& message, std::int64_t now_ms,
                    std::function<void(core::TrackResult)> done);
  // For a connection's replay, on the node's home shard: each session of the
  // node with the highest session_seq delivered here so far. What came after
  // it reaches the connection live, so the replay stops there.
  std::unordered_map<std::string, std::uint64_t> replay_marks(std::string_view node_id) const;
  // POST /v1/inbox/ack {"session_id", "seq"}, on the home shard.
  Answer acknowledge(const Caller& caller, const std::string& session_id, std::uint64_t seq);

  const SessionCounters& counters() const { return counters_; }

 private:
  struct Change;
  // A message to the whole session, on its way to the session's home shard.
  struct Post {
    std::string session_id;
    std::string tail;  // the body after session_seq: `"src_id":...}`
    std::string src_id;  // for the webhook (only with one)
    core::Sender sender;
    std::uint64_t track = 0;  // with `ack`
    bool ephemeral = false;
    std::int64_t now_ms = 0;
    bool ack = false;
    std::function<void(core::TrackResult)> done;  // a publish over HTTP
    std::string id;  // the message id, for an error
  };
  // An `ack` message, numbered, waiting for its log entry to be committed.
  struct Appending {
    Post post;
    std::string body;
    std::uint64_t seq = 0;
  };

  Session* find(std::string_view session_id);
  const Session* find(std::string_view session_id) const;
  void refuse(core::Sender to, std::string_view id, protocol::ErrorCode code, std::string message);
  void private_message(core::Connection& from, const protocol::Message& m, const Member& to,
                       std::string_view anonymous_src, std::int64_t now_ms,
                       std::function<void(core::TrackResult)> done = {});
  void session_ack(core::Connection& from, const protocol::Message& m);
  void move_cursor(const std::string& session_id, const std::string& node_id, std::uint64_t seq);
  // On the home shard: numbers, logs and fans out a message.
  void publish(Post post);
  void on_appended(std::vector<Appending>& appended, bool ok);
  void fan_out(Session& session, std::string_view body, Post& post, std::uint64_t seq);
  // Delivers to the members homed here; returns the offline ones' ids when asked.
  std::uint64_t deliver_local(Session& session, std::string_view body, core::Sender except,
                              std::vector<std::string>* offline);
  // The body after session_seq, serialised once for every member, into `out`.
  static void build_tail(std::string& out, std::string_view src_id, std::string_view src_client_id,
                         std::int64_t now_ms, const protocol::Message& m);
  // Hands a message to the session's home shard (this one: at once).
  void to_home(Post post);
  struct Gathered;
  void gathered(std::uint64_t gather, std::uint64_t delivered, std::vector<std::string> offline);
  void finish(Gathered& gathered);
  void to_shard(std::uint32_t shard, std::function<void(Sessions&)> work);

  // membership.cpp
  void apply(const Change& change);
  void commit(std::shared_ptr<const Change> change, Answer answer, Done done, bool ok);
  // True when a change of the session is being stored: `step` runs after it.
  bool park(const std::string& session_id, std::function<void()> step);
  void announce(Session& session, std::int64_t type, std::string_view src_id, std::string_view payload,
                std::int64_t now_ms);
  void announce_to(Session& session, core::Node& node, std::string_view src_id, std::int64_t now_ms);
  std::string new_anonymous_id(const Session& session);
  core::Node* local_node(std::string_view node_id);

  core::Router& router_;
  core::Offline& offline_;
  store::Store& store_;
  SessionsConfig config_;
  std::uint32_t shard_ = 0;
  template <class Value>
  using ById = std::unordered_map<std::string, Value, core::StringHash, std::equal_to<>>;  // found by views
  ById<std::unique_ptr<Session>> sessions_;
  ById<std::vector<std::string>> by_node_;  // node_id -> its session ids
  // Sessions with a change being stored, and the calls waiting behind it.
  std::unordered_map<std::string, std::vector<std::function<void()>>> parked_;
  std::vector<store::LogEntry> pending_log_;         // for the store, at end_batch
  std::vector<Appending> pending_appends_;           // `ack` messages of those entries
  std::vector<store::SessionMember> pending_cursors_;
  std::vector<std::vector<std::function<void(Sessions&)>>> outbox_;  // per shard, sent at end_batch
  // A fan-out whose shards report back: for the webhook (who missed it) or
  // for a publish's answer (how many connections got it).
  struct Gathered {
    std::uint32_t reports_left = 0;
    std::string session_id;
    std::uint64_t seq = 0;
    std::string src_id;
    std::uint64_t delivered = 0;
    std::vector<std::string> offline;
    std::function<void(core::TrackResult)> done;
  };
  std::unordered_map<std::uint64_t, Gathered> gathering_;
  std::uint64_t next_gather_ = 0;
  std::mt19937_64 random_;
  SessionCounters counters_;
};

}  // namespace allspark::session
