#include "net/listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <spdlog/spdlog.h>

#include "net/connect_path.hpp"
#include "net/ws_handshake.hpp"

namespace allspark::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit_bytes = 16 * 1024;
constexpr auto http_timeout = std::chrono::seconds(30);
// After a 413 the rest of the body is read and dropped, for at most this long
// and this much, so that the client, still sending, reads the answer instead
// of a reset (a lingering close, as HTTP servers do).
constexpr auto drain_timeout = std::chrono::seconds(2);
constexpr std::size_t drain_bytes = 64u << 20;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpRequest to_request(const http::request_parser<http::string_body>& parser) {
  const auto& message = parser.get();
  HttpRequest request;
  request.method = std::string(message.method_string());
  std::string_view target = message.target();
  std::size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  for (const auto& field : message) {
    request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  request.websocket_upgrade = beast::websocket::is_upgrade(message);
  return request;
}

http::response<http::string_body> to_beast(const HttpResponse& answer, bool keep_alive) {
  http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
  response.set(http::field::server, "allspark");
  if (!answer.body.empty() || answer.status >= 400) response.set(http::field::content_type, answer.content_type);
  for (const auto& [name, value] : answer.headers) response.set(name, value);
  response.body() = answer.body;
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

}  // namespace

struct Listener::State : std::enable_shared_from_this<Listener::State> {
  asio::io_context& io;
  ListenerConfig config;
  HttpHandler& handler;
  UpgradeHandoff handoff;
  tcp::acceptor acceptor;
  tcp protocol = tcp::v4();  // of the listening socket, and so of every accepted one
  // Every accepted connection starts there; what it does not answer comes
  // back to session() below.
  ConnectPath connect_path;
  bool stopped = false;

  State(asio::io_context& io_context, ListenerConfig listener_config, HttpHandler& http_handler, UpgradeHandoff to_shard)
      : io(io_context), config(std::move(listener_config)), handler(http_handler), handoff(std::move(to_shard)),
        acceptor(io),
        connect_path(io, handler, handoff, [this](int fd, std::string bytes) { general(fd, std::move(bytes)); },
                     header_limit_bytes) {}

  // accept4 until the backlog is empty: non-blocking sockets at once, and no
  // Asio socket (its registration with Asio's reactor) for the fast path.
  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [error] = co_await acceptor.async_wait(tcp::acceptor::wait_read, use_tuple);
      if (error || stopped) co_return;
      for (;;) {
        int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          try {
            connect_path.take(fd);
          } catch (const std::exception& failure) {  // out of memory: this connection only
            spdlog::error("accept: {}", failure.what());
            ::close(fd);
          }
          continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          // Out of descriptors and the like: wait a little instead of spinning.
          spdlog::warn("accept: {}", std::strerror(errno));
          asio::steady_timer pause(io, std::chrono::milliseconds(50));
          co_await pause.async_wait(use_tuple);
        }
        break;
      }
    }
  }

  // A connection the fast path does not answer, with what it read of it.
  void general(int fd, std::string bytes) {
    tcp::socket socket(io);
    boost::system::error_code error;
    socket.assign(protocol, fd, error);
    if (error) {
      ::close(fd);
      return;
    }
    asio::co_spawn(io, session(std::move(socket), std::move(bytes)), asio::detached);
  }

  asio::awaitable<void> session(tcp::socket socket, std::string already_read) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    if (!already_read.empty()) {
      auto space = buffer.prepare(already_read.size());
      std::memcpy(space.data(), already_read.data(), already_read.size());
      buffer.commit(already_read.size());
    }
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(header_limit_bytes);
      // Content-Length is checked below so that the path and method are
      // decided first (section 8); the limit then applies to chunked bodies.
      parser.body_limit(boost::none);
      stream.expires_after(http_timeout);
      auto [read_error, header_bytes] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
      if (read_error) {
        // (Named, not temporaries: GCC 12 destroys a temporary in a co_await twice.)
        if (read_error == http::error::header_limit) {
          HttpResponse refusal = json_error(431, "too_large", "request headers too large");
          co_await reply(stream, refusal, false);
        } else if (read_error != http::error::end_of_stream && read_error != beast::error::timeout &&
                   read_error != asio::error::eof && read_error != asio::error::connection_reset) {
          HttpResponse refusal = json_error(400, "bad_field", "malformed HTTP request");
          co_await reply(stream, refusal, false);
        }
        co_return;
      }
      HttpRequest request = to_request(parser);
      auto length = parser.content_length();
      if (length && *length > config.max_body_bytes) {
        request.body_too_large = true;
      } else if (!parser.is_done()) {
        parser.body_limit(config.max_body_bytes);
        auto [body_error, body_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (body_error == http::error::body_limit) {
          request.body_too_large = true;
        } else if (body_error) {
          co_return;
        } else {
          request.body = std::move(parser.get().body());
        }
      } else {
        request.body = std::move(parser.get().body());
      }
      bool keep_alive = parser.get().keep_alive() && !request.body_too_large;

      if (request.websocket_upgrade) {
        UpgradeDecision decision = handler.upgrade(request);
        if (!decision.refusal) {
          co_await upgrade(stream, buffer, request, decision.identity);
          co_return;
        }
        co_await reply(stream, *decision.refusal, false);
        co_return;
      }
      HttpResponse answer = co_await answer_of(request);
      const bool replied = co_await reply(stream, answer, keep_alive);
      if (replied && request.body_too_large) co_await drain(stream);
      if (!replied || !keep_alive) co_return;
    }
  }

  // Reads and drops what the peer still sends, until it closes, or the
  // time or byte budget runs out.
  asio::awaitable<void> drain(beast::tcp_stream& stream) {
    std::array<char, 16384> scratch;
    stream.expires_after(drain_timeout);
    for (std::size_t dropped = 0; dropped < drain_bytes;) {
      auto [error, bytes] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
      if (error) break;
      dropped += bytes;
    }
  }

  // The handler's answer, which may come from another thread: it is posted
  // back to this session's executor.
  asio::awaitable<HttpResponse> answer_of(const HttpRequest& request) {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(HttpResponse)>(
        [this, &request, executor](auto completion) {
          auto shared = std::make_shared<decltype(completion)>(std::move(completion));
          handler.handle(request, [shared, executor](HttpResponse answer) {
            asio::post(executor, [shared, answer = std::move(answer)]() mutable { (*shared)(std::move(answer)); });
          });
        },
        asio::use_awaitable);
  }

  asio::awaitable<bool> reply(beast::tcp_stream& stream, const HttpResponse& answer, bool keep_alive) {
    auto response = to_beast(answer, keep_alive);
    stream.expires_after(http_timeout);
    auto [error, bytes] = co_await http::async_write(stream, response, use_tuple);
    if (!keep_alive) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    co_return !error;
  }

  // RFC 6455 4.2.2: hand the socket to the data path with its 101 answer.
  asio::awaitable<void> upgrade(beast::tcp_stream& stream, beast::flat_buffer& buffer, const HttpRequest& request,
                                const core::ConnectIdentity& identity) {
    UpgradeAnswer answer = answer_upgrade(request);
    if (answer.refusal) {
      co_await reply(stream, *answer.refusal, false);
      co_return;
    }
    stream.expires_never();
    std::string leftover(static_cast<const char*>(buffer.data().data()), buffer.size());
    tcp::socket socket = stream.release_socket();
    // The shard takes it non-blocking. Asio made it so for the reads above
    // (the check reads Asio's own flag: no system call).
    boost::system::error_code ignored;
    if (!socket.native_non_blocking()) socket.native_non_blocking(true, ignored);
    int fd = socket.release();
    handoff(fd, identity, std::move(leftover), std::move(answer.switching_protocols));
  }
};

Listener::Listener(asio::io_context& io, ListenerConfig config, HttpHandler& handler, UpgradeHandoff handoff)
    : state_(std::make_shared<State>(io, std::move(config), handler, std::move(handoff))) {
  tcp::endpoint endpoint(asio::ip::make_address(state_->config.host), state_->config.port);
  state_->protocol = endpoint.protocol();
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  // Nagle ruins latency. Set on the listener, it is inherited by every
  // accepted socket (Linux copies it; tests/unit/net/listener_test.cpp checks),
  // which saves a setsockopt per connection.
  state_->acceptor.set_option(tcp::no_delay(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen(asio::socket_base::max_listen_connections);
  state_->acceptor.non_blocking(true);  // accept4 in accept_loop
}

Listener::~Listener() { stop(); }

void Listener::start() {
  state_->connect_path.start();
  asio::co_spawn(state_->io, state_->accept_loop(), asio::detached);
}

std::uint64_t Listener::connect_path_answers() const { return state_->connect_path.answered(); }

std::uint16_t Listener::port() const { return state_->acceptor.local_endpoint().port(); }

void Listener::stop() {
  state_->stopped = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

}  // namespace allspark::net
