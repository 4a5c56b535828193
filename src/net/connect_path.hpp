#pragma once
// The fast path of a connect (bench/README.md, "connect"): every accepted
// connection comes here first. Its request head is read on this path's own
// edge-triggered epoll (no Asio socket, no coroutine, no Beast parser); the two
// requests every client sends, GET /v1/preconnect and the upgrade on
// /v1/connect, are answered here (http_head.hpp says which heads it takes),
// and an accepted upgrade goes straight to its node's home shard. Any other
// request goes to the general HTTP path (Beast) with every byte read so far.
// Owned by the listener's thread.
#include <sys/epoll.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/http_types.hpp"

namespace allspark::net {

// Takes a connection to the general HTTP path, with the bytes already read.
using GeneralHttp = std::function<void(int fd, std::string bytes)>;

class ConnectPath {
 public:
  ConnectPath(boost::asio::io_context& io, HttpHandler& handler, UpgradeHandoff handoff, GeneralHttp general,
              std::size_t head_limit);
  ~ConnectPath();  // closes the connections it still holds
  ConnectPath(const ConnectPath&) = delete;
  ConnectPath& operator=(const ConnectPath&) = delete;

  void start();
  // A connection just accepted (non-blocking).
  void take(int fd);
  // Requests answered here (preconnects and upgrades, refused ones too).
  std::uint64_t answered() const { return answered_; }

 private:
  struct Connection {
    int fd = -1;
    std::uint64_t serial = 0;        // tells a late answer from a reused descriptor
    std::int64_t deadline_ms = 0;    // closed when its head has not come by then
    std::string in;                  // read and not yet consumed
    std::size_t scanned = 0;         // of `in`: known to hold no whole head yet
    std::string out;                 // an answer not yet written whole
    bool answering = false;          // the handler's answer is awaited
    bool close_after_write = false;  // not kept alive
    bool watching_out = false;       // EPOLLOUT added: the socket was full
  };

  void wait_for_events();
  void on_events();
  Connection* find(int fd, std::uint64_t serial);  // null once closed or handed on
  void read_from(Connection& connection, bool peer_hung_up);
  void serve(Connection& connection);
  void upgrade(Connection& connection, const HttpRequest& request, std::size_t head_size);
  // These two return true when the connection is still here, kept alive,
  // with nothing left to write: the caller may serve its next request.
  bool answer(Connection& connection, const HttpResponse& response, bool keep_alive);
  bool write_out(Connection& connection);
  void to_general(Connection& connection);
  void close(Connection& connection);
  void sweep();
  std::int64_t now_ms() const;

  boost::asio::io_context& io_;
  HttpHandler& handler_;
  UpgradeHandoff handoff_;
  GeneralHttp general_;
  std::size_t head_limit_;
  int epoll_fd_ = -1;
  boost::asio::posix::stream_descriptor epoll_watch_;
  boost::asio::steady_timer sweep_timer_;
  std::array<epoll_event, 128> events_{};
  std::unique_ptr<char[]> read_buffer_;
  std::unordered_map<int, Connection> connections_;  // by descriptor
  std::uint64_t next_serial_ = 0;
  std::uint64_t answered_ = 0;
  // Set while this object lives: a handler's answer posted after it is gone is dropped.
  std::shared_ptr<ConnectPath*> alive_;
};

}  // namespace allspark::net
