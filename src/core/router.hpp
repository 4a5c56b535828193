#pragma once
// The heart: routes each decoded message to every live connection concerned
// (PROTOCOL.md section 4), serialising the body once for all recipients, and
// queues frames on connections. Owned by one shard's thread; no I/O: the net
// layer feeds it complete text messages and flushes the connections it marks
// dirty.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

#include "core/connection.hpp"
#include "core/counter.hpp"
#include "core/directory.hpp"
#include "protocol/errors.hpp"
#include "protocol/message.hpp"
#include "store/store.hpp"

namespace allspark::core {

struct RouterConfig {
  std::string server_id;
  std::string connection_prefix;           // makes connection ids unique across restarts
  std::size_t max_queue_bytes = 8u << 20;  // past this a connection is a slow consumer (4001)
  store::Store* store = nullptr;           // null: nothing is kept (offline is "unavailable")
  // Runs a store callback on the router's own thread (the shard posts it).
  std::function<void(std::function<void()>)> post;
  std::size_t replay_page_bytes = 256 * 1024;  // an inbox is replayed in pages of this size
};

struct ConnectIdentity {
  std::string node_id;
  std::string client_id;
  protocol::Role role = protocol::Role::node;
};

// Written by the router's shard, read by /metrics from any thread.
struct RouterCounters {
  Counter messages_in;
  Counter frames_out;
  Counter slow_consumers;
  Counter errors[static_cast<int>(protocol::ErrorCode::unavailable) + 1];  // by code
  Counter inbox_stored;            // kept for an offline node, answered -4
  Counter inbox_ephemeral_dropped; // offline and ephemeral: not kept, by design
  Counter inbox_store_failures;    // the store failed: the sender got "unavailable"
};

class Router {
 public:
  explicit Router(RouterConfig config);

  // A connection was upgraded: records it under its node and queues the
  // welcome frame (section 3).
  void attach(Connection& connection, const ConnectIdentity& identity, std::int64_t now_ms);
  // The connection is gone: it is forgotten and its queue dropped.
  void detach(Connection& connection);

  // One complete text message (valid UTF-8) from `from`.
  void on_message(Connection& from, std::string_view text, std::int64_t now_ms);

  // Queues a control frame (ping, pong, close) on a connection.
  void send_control(Connection& connection, FrameKind kind, std::string_view payload);

  // At start-up: every node's inbox seq as the store kept it.
  void restore_inbox(const std::vector<store::InboxState>& states);
  // End of a read batch: what was routed to offline nodes goes to the store
  // in one call.
  void end_batch();
  // The connection's send queue drained: a paced inbox replay continues.
  void on_drained(Connection& connection);

  // Connections with frames to write or a close to perform since the last
  // clear_dirty(). Entries may have been detached meanwhile (attached false).
  std::span<Connection* const> dirty() const { return dirty_; }
  void clear_dirty();

  const RouterCounters& counters() const { return counters_; }
  const Directory& directory() const { return directory_; }

 private:
  void route(Connection& from, const protocol::Message& message, std::int64_t now_ms);
  // Queues `body` (with the node's head) on every live connection of `node` but `from`.
  void deliver(Node& node, const Connection& from, Body* body);
  void send_error(Connection& to, std::string_view id, protocol::ErrorCode code, std::string_view text);
  void store_for(Node& node, const Connection& from, const protocol::Message& m, const Body& body, std::int64_t now_ms);
  struct PendingReply {
    std::uint64_t sender;  // connection serial
    std::string id;        // the message id, if any
    std::string node;      // the offline recipient
  };
  void on_stored(const std::vector<PendingReply>& replies, bool ok);
  void acknowledge(Connection& from, const protocol::Message& m);
  void fetch_replay_page(Connection& connection);
  void on_replay_page(std::uint64_t serial, std::vector<store::InboxEntry> entries, bool more);
  Connection* find(std::uint64_t serial) const;
  void enqueue(Connection& to, const OutFrame& frame);
  void mark_dirty(Connection& connection);

  RouterConfig config_;
  Directory directory_;
  protocol::MessageDecoder decoder_;
  protocol::Message message_;
  protocol::DecodeError decode_error_;
  std::string scratch_;  // the body being serialised
  std::vector<Connection*> dirty_;
  std::vector<Node*> offline_;
  struct Replay {
    std::uint64_t after_seq = 0;
    SendQueue held;  // live frames that arrived during the replay
    bool fetching = false;
  };
  std::unordered_map<std::uint64_t, Connection*> by_serial_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Replay>> replays_;
  // Routed to offline nodes in this batch: the entries, and for each the
  // sender and the -4 (or error) it gets once the store answers.
  std::vector<store::InboxEntry> pending_entries_;
  std::vector<PendingReply> pending_replies_;
  std::uint64_t route_mark_ = 0;
  std::uint64_t next_connection_ = 0;
  RouterCounters counters_;
};

}  // namespace allspark::core
