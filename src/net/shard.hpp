#pragma once
// A shard: one event loop on one thread that owns a Router and the WebSocket
// connections of its nodes (DESIGN.md "Threads and the hot path").
//
// The data path does not use Asio per connection: upgraded sockets sit in the
// shard's own edge-triggered epoll, whose single descriptor the Asio loop
// watches. Asio re-arms a descriptor with epoll_ctl on every wait; here a
// connection costs no epoll_ctl after it is added, reads go into one per-shard
// buffer, and every dirty connection is flushed with writev once per batch.
// See bench/README.md for the measurements behind this.
#include <sys/epoll.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/router.hpp"
#include "net/ws_connection.hpp"

namespace allspark::net {

struct ShardConfig {
  core::RouterConfig router;
  std::size_t max_message_bytes = 1048576;
  std::uint32_t ping_interval_ms = 25000;  // 0: no pings
};

// Written by the shard's thread, read by /metrics from any thread.
struct ShardCounters {
  core::Counter connections;        // open now
  core::Counter connections_total;  // accepted since start
  core::Counter bytes_in;
  core::Counter bytes_out;
  core::Counter pings_sent;
  core::Counter ping_timeouts;      // closed with 4000
};

class Shard {
 public:
  Shard(boost::asio::io_context& io, ShardConfig config);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void start();
  // Takes an upgraded, non-blocking socket, the bytes read past its HTTP
  // request and the 101 answer, which goes out first, in the same writev as
  // the welcome frame. Runs on the shard's thread.
  void adopt(int fd, const core::ConnectIdentity& identity, std::string_view leftover,
             std::string_view handshake_reply);

  // Runs `work` on this shard's thread (from any thread), then flushes what
  // it queued.
  void post_work(std::function<void()> work);
  // The same for store answers (called on the store's thread): they queue
  // until the store has run every callback of its transaction, then
  // hand_over_store_answers() wakes the shard once, which runs everything
  // queued by then in its order: one wake-up per transaction, not one per
  // callback.
  void post_store_answer(std::function<void()> work);
  void hand_over_store_answers();
  // Hands mail from another shard to this one (called on the other shard's
  // thread: it only posts).
  void post_mail(core::ShardMail mail);
  boost::asio::io_context& io() { return io_; }

  // Closes every connection with `code` (1001 when the server drains).
  void close_all(std::uint16_t code, std::string_view reason);

  core::Router& router() { return router_; }
  const ShardCounters& counters() const { return counters_; }
  std::size_t connection_count() const { return counters_.connections.get(); }

 private:
  friend struct ShardFrameHandler;

  void wait_for_events();
  void on_events();
  void read_from(WsConnection& ws, bool peer_hung_up);
  void feed(WsConnection& ws, std::uint8_t* data, std::size_t size);
  void on_message(WsConnection& ws, std::string_view text);
  void on_control(WsConnection& ws);
  void begin_close(WsConnection& ws, std::uint16_t code, std::string_view reason);
  void run_store_answers();
  void flush_dirty();
  void flush(WsConnection& ws);
  void destroy(WsConnection& ws);
  void sweep();
  void ping_tick();

  boost::asio::io_context& io_;
  ShardConfig config_;
  core::Router router_;
  int epoll_fd_ = -1;
  int answers_fd_ = -1;  // an eventfd in epoll_fd_: store answers are waiting
  boost::asio::posix::stream_descriptor epoll_watch_;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer ping_timer_;  // one timer for every connection's pings (no timer per connection)
  std::uint32_t ping_tick_ = 0;
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  std::unique_ptr<std::uint8_t[]> gather_;  // small pieces of the write being built (flush)
  std::array<epoll_event, 256> events_{};
  std::vector<iovec> iov_;
  std::vector<WsConnection*> closing_;
  std::vector<WsConnection*> dead_;
  std::vector<WsConnection*> read_again_;  // stopped reading to be fair to others
  std::vector<WsConnection*> all_;         // every live connection, for close_all
  std::int64_t now_ms_ = 0;
  ShardCounters counters_;
  std::mutex answers_mutex_;
  std::vector<std::function<void()>> answers_;  // guarded by answers_mutex_
  bool answers_signalled_ = false;              // guarded by answers_mutex_: answers_fd_ was written
  std::vector<std::function<void()>> answers_running_;  // the shard thread's: those being run
};

}  // namespace allspark::net
