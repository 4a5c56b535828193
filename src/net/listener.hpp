#pragma once
// Accepts TCP connections (accept4) and gives each to the connect path
// (connect_path.hpp), which answers preconnect and the upgrade itself; every
// other request is spoken here with Beast until a WebSocket upgrade hands the
// socket to a shard. The only file with Beast's headers (DESIGN.md "Build time").
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "net/http_types.hpp"

namespace allspark::net {

struct ListenerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port
  std::size_t max_body_bytes = 1048576;
};

class Listener {
 public:
  // Binds at once; throws std::system_error naming the address when it cannot.
  Listener(boost::asio::io_context& io, ListenerConfig config, HttpHandler& handler, UpgradeHandoff handoff);
  ~Listener();
  void start();
  std::uint16_t port() const;
  // Requests the connect path answered itself (not through Beast).
  std::uint64_t connect_path_answers() const;
  // Stops accepting new connections.
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace allspark::net
