#pragma once
// The heart: routes each decoded message to every live connection concerned
// (PROTOCOL.md section 4), serialising the body once for all recipients, and
// queues frames on connections. Owned by one shard's thread; no I/O: the net
// layer feeds it complete text messages and flushes the connections it marks
// dirty.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/connection.hpp"
#include "core/counter.hpp"
#include "core/directory.hpp"
#include "protocol/errors.hpp"
#include "protocol/message.hpp"

namespace allspark::core {

struct RouterConfig {
  std::string server_id;
  std::string connection_prefix;           // makes connection ids unique across restarts
  std::size_t max_queue_bytes = 8u << 20;  // past this a connection is a slow consumer (4001)
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

  // Queues a control frame (pong, close) on a connection.
  void send_control(Connection& connection, FrameKind kind, std::string_view payload);

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
  std::uint64_t route_mark_ = 0;
  std::uint64_t next_connection_ = 0;
  RouterCounters counters_;
};

}  // namespace allspark::core
