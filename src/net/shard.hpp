#pragma once
// A shard: one event loop on one thread that owns a Router and the WebSocket
// connections of its nodes (DESIGN.md "Threads and the hot path").
//
// The loop is the shard's own: upgraded sockets sit in its edge-triggered
// epoll, and its thread waits in epoll_wait on that set alone. Work from
// other threads (hand-offs, mail, store answers) comes through eventfds in
// the same set; the sweep and the pings are the wait's timeout. No Asio on
// this thread: Asio's reactor would re-arm its descriptor with epoll_ctl and
// wait once more per wake-up. A connection costs no epoll_ctl after it is
// added, reads go into one per-shard buffer, and every dirty connection is
// flushed with one sendmsg per batch. See bench/README.md for the
// measurements behind this.
#include <sys/epoll.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/router.hpp"
#include "net/wake_queue.hpp"
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
  explicit Shard(ShardConfig config);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Runs the loop on the calling thread until stop().
  void run();
  // Any thread: run() returns after the batch it is in.
  void stop();
  // Takes an upgraded, non-blocking socket, the bytes read past its HTTP
  // request and the 101 answer, which goes out first, in the same writev as
  // the welcome frame. Runs on the shard's thread, from posted work: the
  // loop's iteration writes what it queued.
  void adopt(int fd, const core::ConnectIdentity& identity, std::string_view leftover,
             std::string_view handshake_reply);

  // Runs `work` on this shard's thread (from any thread), in the order
  // posted; the end of that loop iteration writes what it queued.
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

  // Closes every connection with `code` (1001 when the server drains). On
  // the shard's thread, from posted work.
  void close_all(std::uint16_t code, std::string_view reason);

  core::Router& router() { return router_; }
  const ShardCounters& counters() const { return counters_; }
  std::size_t connection_count() const { return counters_.connections.get(); }

 private:
  friend struct ShardFrameHandler;

  void on_events(int count);  // reads and routes; the caller flushes
  void read_from(WsConnection& ws, bool peer_hung_up);
  void feed(WsConnection& ws, std::uint8_t* data, std::size_t size);
  void on_message(WsConnection& ws, std::string_view text);
  void on_control(WsConnection& ws);
  void begin_close(WsConnection& ws, std::uint16_t code, std::string_view reason);
  void flush_dirty();
  void flush(WsConnection& ws);
  void destroy(WsConnection& ws);
  void sweep();
  void ping_tick();

  ShardConfig config_;
  core::Router router_;
  int epoll_fd_ = -1;
  WakeQueue posted_;   // post_work, post_mail: run in the order posted
  WakeQueue answers_;  // the store's answers, a transaction's at once
  bool running_ = false;
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
};

}  // namespace allspark::net
