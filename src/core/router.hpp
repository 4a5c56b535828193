#pragma once
// The heart: routes each decoded message to every live connection concerned
// (PROTOCOL.md section 4), serialising the body once for all recipients, and
// keeps what offline nodes must get (section 6). One router per shard, owned
// by that shard's thread; no I/O: the net layer feeds it complete messages and
// flushes the connections it marks dirty, the store answers through `post`,
// and other shards through `send_mail`.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/connection.hpp"
#include "core/counter.hpp"
#include "core/directory.hpp"
#include "core/shard_mail.hpp"
#include "protocol/errors.hpp"
#include "protocol/message.hpp"
#include "store/store.hpp"

namespace allspark::core {

struct RouterConfig {
  std::string server_id;
  std::string connection_prefix;           // makes connection ids unique across restarts
  std::size_t max_queue_bytes = 8u << 20;  // past this a connection is a slow consumer (4001)
  store::Store* store = nullptr;           // null: nothing is kept (offline is "unavailable")
  // Runs a store answer on the router's own thread (the shard posts it).
  std::function<void(std::function<void()>)> post;
  std::size_t replay_page_bytes = 256 * 1024;  // an inbox is replayed in pages of this size
  std::uint32_t shard = 0;                     // this router's shard, of `shards`
  std::uint32_t shards = 1;
  // Hands a batch to another shard's router (receive() runs there).
  std::function<void(std::uint32_t shard, ShardMail mail)> send_mail;
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
  Counter inbox_stored;             // kept for an offline node, answered -4
  Counter inbox_ephemeral_dropped;  // offline and ephemeral: not kept, by design
  Counter inbox_store_failures;     // the store failed: the sender got "unavailable"
};

class Router {
 public:
  explicit Router(RouterConfig config);

  // The shard that owns a node (a hash of its id).
  std::uint32_t home_of(std::string_view node_id) const;

  // A connection was upgraded (on its node's home shard): records it, queues
  // the welcome, then the node's inbox (section 3).
  void attach(Connection& connection, const ConnectIdentity& identity, std::int64_t now_ms);
  // The connection is gone: it is forgotten and its queue dropped.
  void detach(Connection& connection);

  // One complete text message (valid UTF-8) from `from`.
  void on_message(Connection& from, std::string_view text, std::int64_t now_ms);
  // A batch another shard handed over.
  void receive(ShardMail mail);

  // Queues a control frame (ping, pong, close) on a connection.
  void send_control(Connection& connection, FrameKind kind, std::string_view payload);

  // At start-up: inbox seqs (of the nodes homed here) and client memberships.
  void restore_inbox(const std::vector<store::InboxState>& states);
  void restore_member(std::string_view client_id, std::string_view node_id);
  // End of a batch: offline entries go to the store in one call, mail to
  // each other shard in one hand-off.
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
  struct Sender {  // where -4 and errors go: a connection, maybe on another shard
    std::uint32_t shard;
    std::uint64_t serial;
  };
  struct PendingReply {
    Sender sender;
    std::string id;    // the message id, if any
    std::string node;  // the offline recipient
  };
  struct Replay {
    std::uint64_t after_seq = 0;
    SendQueue held;  // live frames that arrived during the replay
    bool fetching = false;
  };

  void route(Connection& from, const protocol::Message& message, std::int64_t now_ms);
  // Queues `body` (with the node's head) on every live connection of `node` but `from`.
  void deliver(Node& node, const Connection* from, Body* body);
  void deliver_or_store(Node& node, const Connection* from, Sender sender, std::string_view id, bool ephemeral,
                        Body* body, std::int64_t now_ms);
  void store_for(Node& node, Sender sender, std::string_view id, bool ephemeral, const Body& body,
                 std::int64_t now_ms);
  void on_stored(const std::vector<PendingReply>& replies, bool ok);
  void acknowledge(Connection& from, const protocol::Message& m);
  void fetch_replay_page(Connection& connection);
  void on_replay_page(std::uint64_t serial, std::vector<store::InboxEntry> entries, bool more);
  void join_client(Node& node, std::string_view client_id, bool tell_other_shards);

  // Replies to a sender, wherever it is.
  void reply(Sender to, std::string frame);
  void send_error(Sender to, std::string_view id, protocol::ErrorCode code, std::string_view text);
  void send_frame(Connection& to, std::string_view frame);
  void enqueue(Connection& to, const OutFrame& frame);
  void mark_dirty(Connection& connection);
  Connection* find(std::uint64_t serial) const;
  Node& node_here(std::string_view node_id);

  RouterConfig config_;
  Directory directory_;
  protocol::MessageDecoder decoder_;
  protocol::Message message_;
  protocol::DecodeError decode_error_;
  std::string scratch_;  // the body being serialised
  std::vector<Connection*> dirty_;
  std::vector<Node*> offline_;
  std::vector<std::int64_t> remote_slot_;  // per shard: this message's RemoteDelivery, or -1
  std::vector<ShardMail> outbox_;          // per shard, sent at end_batch
  std::unordered_map<std::uint64_t, Connection*> by_serial_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Replay>> replays_;
  std::vector<store::InboxEntry> pending_entries_;  // for the store, at end_batch
  std::vector<PendingReply> pending_replies_;
  std::uint64_t route_mark_ = 0;
  std::uint64_t next_connection_ = 0;
  RouterCounters counters_;
};

}  // namespace allspark::core
