#pragma once
// The heart: routes each decoded message to every live connection concerned
// (PROTOCOL.md section 4), serialising the body once for all recipients, and
// keeps what offline nodes must get (section 6). One router per shard, owned
// by that shard's thread; no I/O: the net layer feeds it complete messages and
// flushes the connections it marks dirty, the store answers through the
// shard (Shard::post_store_answer), and other shards through `send_mail`.
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
#include "core/offline.hpp"
#include "core/shard_mail.hpp"
#include "protocol/errors.hpp"
#include "protocol/message.hpp"

namespace allspark::core {

struct RouterConfig {
  std::string server_id;
  std::string connection_prefix;           // makes connection ids unique across restarts
  std::size_t max_queue_bytes = 8u << 20;  // past this a connection is a slow consumer (4001)
  std::uint32_t shard = 0;                     // this router's shard, of `shards`
  std::uint32_t shards = 1;
  // Hands a batch to another shard's router (receive() runs there).
  std::function<void(std::uint32_t shard, ShardMail mail)> send_mail;
};

// A session's private message (src/session): an anonymous sender, and the recipient as named (for -4).
struct RouteAs { std::string_view anonymous_src, dest_alias; };

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
};

class Router {
 public:
  explicit Router(RouterConfig config);
  // Where messages for offline nodes go (src/inbox). Without one, an offline
  // node is answered "unavailable".
  void set_offline(Offline* offline) { offline_ = offline; }
  void set_sessions(SessionHook* sessions) { sessions_ = sessions; }
  const RouterConfig& config() const { return config_; }

  // The shard that owns a node (a hash of its id).
  std::uint32_t home_of(std::string_view node_id) const;

  // A connection was upgraded (on its node's home shard): records it, queues
  // the welcome, then the node's inbox (section 3).
  void attach(Connection& connection, const ConnectIdentity& identity, std::int64_t now_ms);
  // The connection is gone: it is forgotten and its queue dropped.
  void detach(Connection& connection);

  // One complete text message (valid UTF-8) from `from`.
  void on_message(Connection& from, std::string_view text, std::int64_t now_ms);
  // Routes a decoded message from `from` (section 4). With `done` (a server
  // publish, section 9) it is tracked: `done` gets what was delivered and
  // stored once every copy is stored (its routing errors go to no one:
  // `done` hears of no recipient).
  void route(Connection& from, const protocol::Message& message, std::int64_t now_ms,
             std::function<void(TrackResult)> done = {}, RouteAs as = {});
  // A batch another shard handed over.
  void receive(ShardMail mail);

  // Closes every connection of a node homed here with `code` (4003: closed
  // by the application); returns how many.
  std::size_t close_node(std::string_view node_id, std::uint16_t code);

  // At start-up: client memberships.
  void restore_member(std::string_view client_id, std::string_view node_id);
  // End of a batch: mail to each other shard in one hand-off.
  void end_batch();
  // The connection's send queue was written out.
  void on_drained(Connection& connection) {
    if (offline_ != nullptr && connection.held != nullptr) offline_->on_drained(connection);
  }

  // For the inbox: nodes, connections and replies, wherever the sender is.
  Node& node_here(std::string_view node_id);
  Connection* find(std::uint64_t serial) const;
  void reply(Sender to, std::string frame);
  // A tracked delivery's copies on this shard are stored: to the sender's shard.
  void report(std::uint32_t shard, TrackReport report);
  void send_error(Sender to, std::string_view id, protocol::ErrorCode code, std::string_view text);
  void send_frame(Connection& to, std::string_view frame);
  void enqueue(Connection& to, const OutFrame& frame);
  void mark_dirty(Connection& connection);

  // Connections with frames to write or a close to perform since the last
  // clear_dirty(). Entries may have been detached meanwhile (attached false).
  std::span<Connection* const> dirty() const { return dirty_; }
  void clear_dirty();

  const RouterCounters& counters() const { return counters_; }
  const Directory& directory() const { return directory_; }

  // Queues `body` (with the node's head) on every live connection of `node`
  // but `from`; returns how many.
  std::uint64_t deliver(Node& node, const Connection* from, Body* body);

 private:
  void keep(Node& node, const KeepRequest& request, Body* body, std::int64_t now_ms);
  void join_client(Node& node, std::string_view client_id, bool tell_other_shards);

  RouterConfig config_;
  Directory directory_;
  protocol::MessageDecoder decoder_;
  protocol::Message message_;
  protocol::DecodeError decode_error_;
  std::string scratch_;  // the body being serialised
  std::vector<Connection*> dirty_;
  std::vector<Node*> kept_nodes_;
  std::vector<std::int64_t> remote_slot_;  // per shard: this message's RemoteDelivery, or -1
  std::vector<ShardMail> outbox_;          // per shard, sent at end_batch
  std::unordered_map<std::uint64_t, Connection*> by_serial_;
  Offline* offline_ = nullptr;
  SessionHook* sessions_ = nullptr;
  std::uint64_t route_mark_ = 0;
  std::uint64_t next_connection_ = 0;
  RouterCounters counters_;
};

}  // namespace allspark::core
