// The listener on a real loopback socket, driven by a raw client: what it
// hands a shard after an upgrade (the socket as the data path needs it, the
// 101 not yet written) and a plain HTTP answer.
#include "net/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace {

using allspark::net::HttpRequest;
using allspark::net::HttpResponse;
using allspark::net::Listener;
using allspark::net::ListenerConfig;
using allspark::net::Respond;
using allspark::net::UpgradeDecision;

struct Handler final : allspark::net::HttpHandler {
  void handle(const HttpRequest& request, Respond respond) override {
    HttpResponse answer;
    answer.body = "{\"path\":\"" + request.path + "\"}";
    if (request.method != "GET") answer.body = request.method + " " + request.path + " " + request.body;
    respond(std::move(answer));
  }
  UpgradeDecision upgrade(const HttpRequest&) override {
    UpgradeDecision decision;
    decision.identity.node_id = "n1";
    return decision;
  }
};

struct Handoff {
  int fd = -1;
  std::string node_id;
  std::string leftover;
  std::string reply;
};

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  return fd;
}

void send_all(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
}

// What the peer sent within `ms`, until it closed (then `closed` is set) or
// went quiet.
std::string read_for(int fd, int ms, bool* closed = nullptr) {
  std::string out;
  char buffer[4096];
  pollfd ready{fd, POLLIN, 0};
  while (::poll(&ready, 1, ms) == 1) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0 && closed != nullptr) *closed = true;
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

class ListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_.emplace(io_, ListenerConfig{"127.0.0.1", 0, 1 << 20}, handler_,
                      [this](int fd, allspark::core::ConnectIdentity identity, std::string leftover, std::string reply) {
                        handoff_ = {fd, identity.node_id, std::move(leftover), std::move(reply)};
                      });
    listener_->start();
  }
  void TearDown() override {
    if (handoff_ && handoff_->fd >= 0) ::close(handoff_->fd);
  }
  // Runs the listener's loop until `done` or two seconds pass.
  template <typename Done>
  void run_until(Done done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
  }

  // What the listener answers on `client` until it closes (then `closed` is
  // set) or goes quiet for two seconds, read on another thread while this one
  // runs the listener.
  std::string answer_on(int client, bool* closed = nullptr) {
    std::string answer;
    std::atomic<bool> answered = false;
    std::thread reader([&] {
      answer = read_for(client, 2000, closed);
      answered = true;
    });
    run_until([&] { return answered.load(); });
    reader.join();
    return answer;
  }

  struct Exchange {
    std::string answer;
    bool closed = false;  // the listener closed the connection after it
  };
  // Sends `request` on a new connection and reads what comes back.
  Exchange exchange(const std::string& request) {
    int client = connect_to(listener_->port());
    send_all(client, request);
    Exchange result;
    result.answer = answer_on(client, &result.closed);
    ::close(client);
    return result;
  }

  boost::asio::io_context io_;
  Handler handler_;
  std::optional<Listener> listener_;
  std::optional<Handoff> handoff_;
};

TEST_F(ListenerTest, AnUpgradeHandsTheShardANonBlockingNoDelaySocketAndTheUnwritten101) {
  int client = connect_to(listener_->port());
  send_all(client,
           "GET /v1/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
           "\x81\x80");  // the start of a first frame, sent at once with the request
  run_until([&] { return handoff_.has_value(); });
  ASSERT_TRUE(handoff_.has_value());
  EXPECT_EQ(handoff_->node_id, "n1");
  EXPECT_EQ(listener_->connect_path_answers(), 1u);  // not through Beast
  EXPECT_EQ(handoff_->leftover, "\x81\x80");
  // RFC 6455 section 1.3's example key and its accept value.
  EXPECT_EQ(handoff_->reply,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  // The shard writes the 101 (with the welcome): the listener has written nothing.
  EXPECT_EQ(read_for(client, 100), "");
  // The data path needs the socket non-blocking, and without Nagle (set once
  // on the listener and inherited).
  EXPECT_NE(::fcntl(handoff_->fd, F_GETFL) & O_NONBLOCK, 0);
  int no_delay = 0;
  socklen_t length = sizeof no_delay;
  ASSERT_EQ(::getsockopt(handoff_->fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, &length), 0);
  EXPECT_NE(no_delay, 0);
  // The socket is the client's: what is written to it arrives.
  ASSERT_EQ(::write(handoff_->fd, handoff_->reply.data(), handoff_->reply.size()),
            static_cast<ssize_t>(handoff_->reply.size()));
  EXPECT_EQ(read_for(client, 1000), handoff_->reply);
  ::close(client);
}

TEST_F(ListenerTest, APlainRequestIsAnsweredAndClosedWhenAsked) {
  const auto [answer, closed] = exchange("GET /v1/preconnect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(listener_->connect_path_answers(), 1u);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\n\r\n{\"path\":\"/v1/preconnect\"}"), std::string::npos) << answer;
  EXPECT_FALSE(handoff_.has_value());
}

// Two preconnects in one write: both answered, in order, on the kept connection.
TEST_F(ListenerTest, PipelinedRequestsAreAnsweredInOrder) {
  const auto [answer, closed] = exchange(
      "GET /v1/preconnect?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /v1/preconnect?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(listener_->connect_path_answers(), 2u);
  const std::size_t first = answer.find("HTTP/1.1 200 OK");
  const std::size_t second = answer.find("HTTP/1.1 200 OK", first + 1);
  ASSERT_NE(second, std::string::npos) << answer;
  EXPECT_EQ(answer.substr(first, second - first).find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close", second), std::string::npos) << answer;
}

// A head that comes a few bytes at a time is still taken, and a request the
// fast path does not take (a body) is answered by the general path with
// every byte, the ones read before the hand-over included.
TEST_F(ListenerTest, SlowHeadsAndBodiesAreAnswered) {
  int slow = connect_to(listener_->port());
  const int one = 1;
  ::setsockopt(slow, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // each piece its own segment
  const std::string head = "GET /v1/preconnect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (std::size_t at = 0; at < head.size(); at += 7) {
    send_all(slow, head.substr(at, 7));
    io_.run_for(std::chrono::milliseconds(5));  // the listener reads each piece as it comes
    io_.restart();
  }
  int post = connect_to(listener_->port());
  send_all(post, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhel");
  const std::string slow_answer = answer_on(slow);
  EXPECT_EQ(listener_->connect_path_answers(), 1u);  // the slow head: here
  send_all(post, "lo");
  const std::string post_answer = answer_on(post);
  EXPECT_EQ(listener_->connect_path_answers(), 1u);  // the body: through Beast
  EXPECT_NE(slow_answer.find("{\"path\":\"/v1/preconnect\"}"), std::string::npos) << slow_answer;
  EXPECT_NE(post_answer.find("\r\n\r\nPOST /v1/messages hello"), std::string::npos) << post_answer;
  ::close(slow);
  ::close(post);
}

TEST_F(ListenerTest, AnUpgradeWithAnotherVersionIsRefusedAndClosed) {
  const auto [answer, closed] = exchange(
      "GET /v1/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(listener_->connect_path_answers(), 1u);
  EXPECT_EQ(answer.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  EXPECT_FALSE(handoff_.has_value());
}

// A client that pipelines two requests and closes at once: the first answer
// draws a reset, and the second write must fail, not raise SIGPIPE (which
// would end this test's process as it would end the server's).
TEST_F(ListenerTest, APeerThatResetsEndsItsConnectionNotTheProcess) {
  for (int round = 0; round < 20; ++round) {
    int client = connect_to(listener_->port());
    send_all(client,
             "GET /v1/preconnect HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/preconnect HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /v1/preconnect HTTP/1.1\r\nHost: x\r\n\r\n");
    ::close(client);
  }
  io_.run_for(std::chrono::milliseconds(200));
  io_.restart();
  EXPECT_NE(exchange("GET /v1/preconnect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").answer.find(
                "{\"path\":\"/v1/preconnect\"}"),
            std::string::npos);
}

}  // namespace
