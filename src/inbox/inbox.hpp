#pragma once
// A shard's inbox side (PROTOCOL.md section 6): seq numbers of the nodes homed
// on the shard, batches for the store, -4 answers, paced replays on connect,
// acknowledgements. Owned by the shard's thread, like its router; store
// answers come back through `post`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/offline.hpp"
#include "core/router.hpp"
#include "inbox/tracks.hpp"
#include "protocol/json.hpp"
#include "store/store.hpp"

namespace allspark::inbox {

// Written by the shard, read by /metrics.
struct InboxCounters {
  core::Counter stored;             // kept for an offline node, answered -4
  core::Counter ephemeral_dropped;  // offline and ephemeral: not kept, by design
  core::Counter store_failures;     // the store failed: the sender got "unavailable"
};

struct InboxConfig {
  std::size_t replay_page_bytes = 256 * 1024;  // a backlog is replayed in pages of this size
  std::size_t fetch_bytes = 1u << 20;          // section 6: the messages of one -102 add up to at most this
  // Runs work on the shard's thread, later.
  std::function<void(std::function<void()>)> post;
  // Runs a store answer on the shard's thread (called from store callbacks:
  // the answers of one transaction may wait for its last callback). Empty:
  // `post`.
  std::function<void(std::function<void()>)> post_answer;
  // The offline webhook (--offline-webhook): called, from the shard's thread,
  // with the JSON body of one POST per message stored for an offline node.
  // Empty: no webhook.
  std::function<void(std::string body)> notify;
  // Section 6: may a node (with its role) read a session's log? nullopt: yes;
  // else unknown_session or session_unauthorized. Empty: there are no sessions.
  std::function<std::optional<protocol::ErrorCode>(std::string_view node_id, protocol::Role role,
                                                   std::string_view session_id)>
      session_access;
  // A connecting node's sessions, each with the highest session_seq delivered
  // on this shard: its log replay stops there (what follows comes live).
  std::function<std::unordered_map<std::string, std::uint64_t>(std::string_view node_id)> session_marks;
  // POST /v1/messages to a session: the session layer routes it (on this shard).
  std::function<void(core::Node& node, const protocol::Message& message, std::int64_t now_ms,
                     std::function<void(core::TrackResult)> done)>
      session_publish;
  // Acks and publishes; its `post` is this config's, its clock the system's when empty.
  TracksConfig tracks;
};

// The -102 payload: {"messages", "from_seq", "to_seq", "more", "server_time"}.
std::string fetch_payload(const std::vector<store::InboxEntry>& entries, bool more, std::uint64_t from_seq,
                          std::uint64_t to_seq);

class Inbox final : public core::Offline {
 public:
  Inbox(core::Router& router, store::Store& store, InboxConfig config);

  // At start-up: the seqs and push keys of the nodes homed on this shard.
  void restore(const std::vector<store::InboxState>& states,
               const std::vector<std::pair<std::string, std::string>>& push_keys);

  // At start-up: ids answered -7 in the last 10 minutes (section 6), oldest first.
  void restore_acked_ids(const std::vector<store::AckedId>& ids);

  void keep(core::Node& node, const core::KeepRequest& request, const core::Body& body,
            std::int64_t now_ms) override;
  void end_delivery(core::Sender sender, std::uint64_t track, std::uint64_t delivered) override;
  std::uint64_t open_track(core::Connection* from, core::Sender sender, std::string_view node_id, std::string_view id,
                           bool ack, std::function<void(core::TrackResult)> done) override {
    return tracks_.open(from, sender, node_id, id, ack, std::move(done));
  }
  void expect(std::uint64_t track, std::uint32_t shards) override { tracks_.expect(track, shards); }
  void on_report(const core::TrackReport& report) override { tracks_.on_report(report); }
  bool hold(core::Connection& from, std::string_view text, const protocol::Message& message) override {
    return tracks_.hold(from, text, message);
  }
  void on_attach(core::Connection& connection) override;
  void on_detach(core::Connection& connection) override;
  void acknowledge(core::Connection& connection, const protocol::Message& message) override;
  void request(core::Connection& connection, const protocol::Message& message) override;
  void on_drained(core::Connection& connection) override;
  void remember_client_node(std::string_view client_id, std::string_view node_id) override;
  void end_batch() override;

  // The same, for the HTTP API (GET /v1/inbox, POST /v1/inbox/ack), on the
  // node's home shard. `done` gets the -102 payload object.
  void fetch(const core::Node& node, std::optional<std::uint64_t> from_seq, std::optional<std::uint64_t> to_seq,
             std::size_t limit, std::function<void(std::string payload)> done);
  void acknowledge(core::Node& node, std::uint64_t seq);
  // A session's log (session_log.cpp), framed for `node`, who may read it.
  void fetch_log(const core::Node& node, std::string session_id, std::optional<std::uint64_t> from_seq,
                 std::optional<std::uint64_t> to_seq, std::size_t limit, std::function<void(std::string payload)> done);
  std::optional<protocol::ErrorCode> may_read_log(std::string_view node_id, protocol::Role role,
                                                  std::string_view session_id) const {
    if (!config_.session_access) return protocol::ErrorCode::unknown_session;
    return config_.session_access(node_id, role, session_id);
  }
  // POST /v1/messages (publish.cpp), on the home shard of `node_id`: routes
  // `text` as an app speaking for that node; `done` gets what was delivered
  // and stored, or the error, once every copy is stored.
  void publish(std::string_view node_id, std::string_view text, std::int64_t now_ms,
               std::function<void(core::TrackResult)> done);

  const InboxCounters& counters() const { return counters_; }
  const Tracks& tracks() const { return tracks_; }

 private:
  struct PendingReply {
    core::Sender sender;
    std::string id;      // the message id, if any
    std::string node;    // the recipient
    std::uint64_t seq;   // its seq there
    std::string src_id;  // the sender, for the webhook
    std::int64_t report = -1;  // its track's entry in the batch's reports, if tracked
    std::string alias;   // the recipient as the sender named it (an anonymous id), for -4
    bool ack = false;    // the stored copy (the batch's entry of the same index) goes to live connections
  };
  // One tracked delivery's copies in a batch, reported once they are stored.
  struct PendingReport {
    std::uint32_t shard = 0;  // the sender's
    core::TrackReport report;
    bool open = true;         // more copies of it may come in this batch
  };
  struct Replay {
    std::uint64_t after_seq = 0;
    std::uint64_t up_to = 0;  // what was stored before the connection: later copies come live
    core::SendQueue held;  // live frames that arrived during the replay
    bool fetching = false;
    bool inbox_done = false;  // then the sessions' logs, after the node's cursors
    std::string after_session;
    std::uint64_t after_session_seq = 0;
    bool marked = false;  // session_up_to is known (else every entry goes)
    std::unordered_map<std::string, std::uint64_t> session_up_to;  // beyond these, entries came live
  };

  void append_pending();
  void on_stored(const std::vector<store::InboxEntry>& entries, const std::vector<PendingReply>& replies,
                 std::vector<PendingReport>& reports, bool ok);
  std::uint64_t deliver_stored(const core::Node& node, const PendingReply& reply, std::string_view frame);
  void set_push_key(core::Connection& connection, core::Sender sender, std::string_view id,
                    const protocol::JsonMember& member);
  static constexpr std::size_t max_push_key_bytes = 4096;
  void fetch_page(core::Connection& connection);
  void on_page(std::uint64_t serial, std::vector<store::InboxEntry> entries, bool more);
  void fetch_log_page(core::Connection& connection, Replay& replay);
  void on_log_page(std::uint64_t serial, std::vector<store::LogEntry> entries, bool more);
  void end_replay(core::Connection& connection);


  core::Router& router_;
  protocol::JsonScanner payload_scanner_;  // a -101's payload
  protocol::JsonScanner fetch_scanner_;    // its fetch_inbox object
  protocol::MessageDecoder publish_decoder_;
  store::Store& store_;
  InboxConfig config_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Replay>> replays_;  // by connection serial
  std::vector<store::InboxEntry> pending_entries_;                      // for the store, at end_batch
  std::vector<PendingReply> pending_replies_;  // one per pending entry, in the same order
  std::vector<PendingReport> pending_reports_;
  std::vector<store::AckedId> pending_acked_ids_;  // for the store, at end_batch
  Tracks tracks_;
  std::unordered_map<std::string, std::string> push_keys_;  // of the nodes homed here that gave one
  InboxCounters counters_;
};

}  // namespace allspark::inbox
