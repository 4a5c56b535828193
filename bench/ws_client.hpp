#pragma once
// The generator's own WebSocket client: many connections on one thread, one
// edge-triggered epoll, non-blocking sockets with TCP_NODELAY. Frames queued
// during a loop turn go out in one send() per connection (flush()); reads go
// into one big pool-wide buffer and every complete text message is handed to
// the workload as a view into it. Not thread-safe: one thread owns a pool.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "handshake.hpp"
#include "net/frame_codec.hpp"
#include "peer.hpp"
#include "protocol/token.hpp"

namespace allspark::bench {

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
};

// Receives every text message of an open connection (for a peer: the body of
// each delivery, without the peer's own framing). `now_ns` is the
// monotonic clock right after the read that completed the message.
struct MessageSink {
  void* context = nullptr;
  void (*on_message)(void* context, std::uint32_t conn, std::string_view text, std::int64_t now_ns) = nullptr;
};

enum class Phase : std::uint8_t { idle, preconnect, upgrade, welcome, open, closed, failed };

struct PoolCounters {
  std::uint64_t reads = 0;          // read() calls that returned data
  std::uint64_t bytes_read = 0;
  std::uint64_t sends = 0;          // send() calls that wrote something
  std::uint64_t bytes_sent = 0;
  std::uint64_t send_blocked = 0;   // a send() that could not write everything (socket buffer full)
  std::uint64_t frames_received = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t closed = 0;         // open connections closed by the server or for a protocol error
  std::uint64_t unexpected = 0;     // messages with no sink (during connect)
  std::uint16_t last_close_code = 0;
};

// One connection's hot state.
struct Connection {
  int fd = -1;
  Phase phase = Phase::idle;
  bool dirty = false;          // in the pool's dirty list: has queued bytes to send
  bool write_blocked = false;  // waiting for EPOLLOUT
  bool read_eof = false;
  net::Opcode frame_op = net::Opcode::text;  // the frame being decoded (it may span reads)
  bool frame_fin = false;
  std::uint64_t frame_length = 0;
  std::size_t out_sent = 0;    // bytes of `out` already written
  net::ClientFrameDecoder decoder;  // server frames (never masked)
  std::string out;             // queued frames (or an HTTP request)
  std::string carry;           // an HTTP answer so far (while connecting)
  std::string message;         // a text message split across reads or fragments, so far
  std::string control;         // a control frame's payload split across reads, so far
  std::string stream;          // NATS, MQTT: the start of an operation not all here yet
  std::uint8_t greeting = 0;   // a peer's connect steps done after the upgrade (peer_pool.cpp)
};

class ClientPool {
 public:
  // `secret` mints Allspark's auth keys; a peer needs none.
  ClientPool(Endpoint endpoint, std::string secret, Peer peer = Peer::allspark);
  ~ClientPool();
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // Adds a connection for node `node_id` of client `client_id` (may be empty),
  // minting its auth key. Returns its index; nothing is connected yet.
  std::uint32_t add(std::string node_id, std::string client_id, protocol::Role role = protocol::Role::node);

  // A peer's connection receives what is sent to `name` (a NATS subject, an
  // MQTT topic, a Socket.IO or ws relay room; the node id itself needs none
  // on those two). Before connect_all; Allspark ignores it.
  void subscribe(std::uint32_t conn, std::string name);

  // Runs the connect flow (preconnect, upgrade, welcome; for a peer its own) of every connection
  // added and not yet open, with at most `batch` in progress at once. False
  // with `error` when one fails or `timeout_s` passes.
  bool connect_all(std::size_t batch, double timeout_s, std::string& error);

  // One loop turn: waits up to `timeout_ms` for readiness, reads everything
  // readable and hands each text message to `sink`. Does not flush.
  void poll(int timeout_ms, const MessageSink& sink);

  // Appends one masked text frame to the connection's queue (RFC 6455 5.2, 5.3).
  void queue_text(std::uint32_t conn, std::string_view text);
  // Queues `body` for `to` in the peer's framing (Allspark: the body is the
  // whole frame and carries its own destination; NATS: PUB to the subject,
  // with `reply` as reply subject when given; MQTT: PUBLISH to the topic;
  // Socket.IO: a "msg" event; ws relay: the body).
  void queue_message(std::uint32_t conn, std::string_view to, std::string_view body, std::string_view reply = {});
  // Writes every connection's queued frames: one send() per connection.
  void flush();

  // Sends a close frame on every open connection and closes the sockets.
  void close_all();

  std::size_t size() const { return connections_.size(); }
  std::size_t open_count() const;
  Phase phase(std::uint32_t conn) const { return connections_[conn].phase; }
  const std::string& node_id(std::uint32_t conn) const { return nodes_[conn].node_id; }
  const PoolCounters& counters() const { return counters_; }
  Peer peer() const { return peer_; }
  // Sends the upgrade on the preconnect's connection (keep-alive) when it
  // names the same server, as a native client may; a browser cannot.
  void set_reuse_preconnect(bool on) { reuse_preconnect_ = on; }
  // NATS: the subject of the delivery being handed to the sink (empty otherwise).
  std::string_view current_subject() const { return current_subject_; }
  // The first failure of a connection (handshake or protocol error), if any.
  const std::string& first_error() const { return first_error_; }

 private:
  struct NodeInfo {  // cold: used while connecting
    std::string node_id, client_id, auth_key, ws_key;
    PreconnectAnswer answer;
    std::vector<std::string> subscriptions;  // peers only
  };

  void start_preconnect(std::uint32_t conn);
  void start_upgrade(std::uint32_t conn);
  // peer_pool.cpp: a peer's connect steps, frames and framing.
  void start_peer_upgrade(std::uint32_t conn);
  void on_peer_upgraded(std::uint32_t conn);
  void on_peer_text(std::uint32_t conn, std::string_view text, std::int64_t now_ns, const MessageSink& sink);
  void on_stream(std::uint32_t conn, std::string_view bytes, std::int64_t now_ns, const MessageSink& sink);
  struct NatsEvents;
  struct MqttEvents;
  void become_open(std::uint32_t conn);
  void queue_frame_parts(std::uint32_t conn, net::Opcode op, std::string_view head, std::string_view body,
                         std::string_view tail);
  bool open_socket(std::uint32_t conn, const std::string& host, std::uint16_t port);
  void fail(std::uint32_t conn, std::string error);
  void on_event(std::uint32_t conn, std::uint32_t events, const MessageSink& sink);
  struct FrameEvents;
  void read_handshake(std::uint32_t conn);
  void read_frames(std::uint32_t conn, const MessageSink& sink);
  // Feeds server frames to the connection's decoder; false when the connection is gone.
  bool decode_frames(std::uint32_t conn, char* data, std::size_t size, std::int64_t now_ns, const MessageSink& sink);
  void on_text(std::uint32_t conn, std::string_view text, std::int64_t now_ns, const MessageSink& sink);
  void on_control(std::uint32_t conn, net::Opcode op, std::string_view payload);
  void queue_frame(std::uint32_t conn, net::Opcode op, std::string_view payload);
  void mark_dirty(std::uint32_t conn);
  void write_now(std::uint32_t conn);
  void close_socket(std::uint32_t conn, Phase phase);
  std::uint32_t next_mask();

  Endpoint endpoint_;
  std::string secret_;
  Peer peer_;
  bool reuse_preconnect_ = false;
  bool stream_peer_;  // peer_is_stream(peer_)
  std::string_view current_subject_;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  std::vector<NodeInfo> nodes_;
  std::vector<std::uint32_t> dirty_;
  std::vector<char> read_buffer_;
  std::uint64_t random_state_;
  PoolCounters counters_;
  std::size_t handshakes_done_ = 0;   // connections that reached open or failed in connect_all
  std::string first_error_;
};

// CLOCK_MONOTONIC in nanoseconds.
std::int64_t monotonic_ns();

}  // namespace allspark::bench
