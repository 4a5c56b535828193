// The offline webhook's client against a real HTTP receiver: a small
// thread-per-connection server on 127.0.0.1 that records what it gets and
// answers as each test tells it to.
#include "net/webhook.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using allspark::net::parse_webhook_url;
using allspark::net::Webhook;
using allspark::net::WebhookConfig;
using allspark::net::WebhookStats;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// Polls `done` until it holds or `limit` passes; every test is bounded.
bool wait_until(const std::function<bool()>& done, milliseconds limit = milliseconds(5000)) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// How the receiver answers one request.
struct Reply {
  enum class Kind { answer, silent, hang_up };
  Kind kind = Kind::answer;
  int status = 200;
  int delay_ms = 0;
  bool close_after = false;  // answer, then close without saying "Connection: close"
  std::size_t body_bytes = 2;

  static Reply ok() { return {}; }
  static Reply with_status(int status) { return {Kind::answer, status, 0, false}; }
  static Reply slow(int delay_ms) { return {Kind::answer, 200, delay_ms, false}; }
  static Reply silent() { return {Kind::silent, 0, 0, false}; }    // never answers
  static Reply hang_up() { return {Kind::hang_up, 0, 0, false}; }  // closes without answering
  static Reply ok_then_close() { return {Kind::answer, 200, 0, true}; }
  static Reply ok_with_body(std::size_t bytes) { return {Kind::answer, 200, 0, false, bytes}; }
};

struct Request {
  std::string method;
  std::string target;
  std::string host;
  std::string content_type;
  std::string body;
  std::size_t content_length = 0;
  int connection = 0;  // which connection (in accept order) carried it
  Clock::time_point at;
};

class Receiver {
 public:
  Receiver() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error("bind/listen");
    }
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~Receiver() {
    stopping_ = true;
    {
      std::lock_guard lock(mutex_);
      // Wakes connection threads blocked in recv; descriptors are closed
      // only after the threads are gone, so none is reused under them.
      for (int fd : connection_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    accept_thread_.join();
    for (std::thread& thread : connection_threads_) thread.join();
    for (int fd : connection_fds_) ::close(fd);
    ::close(listen_fd_);
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& target = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }

  // The replies to the next requests, in order; then `otherwise`.
  void plan(std::vector<Reply> replies, Reply otherwise = Reply::ok()) {
    std::lock_guard lock(mutex_);
    planned_.assign(replies.begin(), replies.end());
    otherwise_ = otherwise;
  }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t request_count() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
  }
  int connections() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(connection_fds_.size());
  }
  int most_concurrent() const { return most_concurrent_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd waiting{listen_fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      const int index = static_cast<int>(connection_fds_.size());
      connection_fds_.push_back(fd);
      connection_threads_.emplace_back([this, fd, index] { serve(fd, index); });
    }
  }

  Reply next_reply() {
    std::lock_guard lock(mutex_);
    if (planned_.empty()) return otherwise_;
    Reply reply = planned_.front();
    planned_.pop_front();
    return reply;
  }

  void serve(int fd, int connection) {
    std::string input;
    char chunk[4096];
    for (;;) {
      // One whole request: headers, then Content-Length bytes of body.
      std::size_t header_end;
      while ((header_end = input.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        input.append(chunk, static_cast<std::size_t>(n));
      }
      Request request = parse_head(input.substr(0, header_end));
      const std::size_t body_length = request.content_length;
      while (input.size() < header_end + 4 + body_length) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        input.append(chunk, static_cast<std::size_t>(n));
      }
      request.body = input.substr(header_end + 4, body_length);
      input.erase(0, header_end + 4 + body_length);
      request.connection = connection;
      request.at = Clock::now();
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      const int now_serving = ++serving_;
      int seen = most_concurrent_.load();
      while (now_serving > seen && !most_concurrent_.compare_exchange_weak(seen, now_serving)) {
      }
      const Reply reply = next_reply();
      if (reply.kind == Reply::Kind::hang_up) {
        --serving_;
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      if (reply.kind == Reply::Kind::silent) {
        --serving_;
        continue;  // reads on: the client gives up and closes
      }
      const auto until = Clock::now() + milliseconds(reply.delay_ms);
      while (Clock::now() < until && !stopping_) std::this_thread::sleep_for(milliseconds(2));
      --serving_;
      const std::string answer = "HTTP/1.1 " + std::to_string(reply.status) + " Whatever\r\nContent-Length: " +
                                 std::to_string(reply.body_bytes) + "\r\n\r\n" + std::string(reply.body_bytes, 'x');
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) return;
      if (reply.close_after) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
    }
  }

  // Request line and the headers the tests look at (names are case-insensitive).
  static Request parse_head(const std::string& head) {
    Request request;
    std::size_t line_end = head.find("\r\n");
    const std::string first = head.substr(0, line_end);
    const std::size_t space = first.find(' ');
    request.method = first.substr(0, space);
    request.target = first.substr(space + 1, first.rfind(' ') - space - 1);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-length") request.content_length = std::stoul(value);
      if (name == "content-type") request.content_type = value;
      if (name == "host") request.host = value;
    }
    return request;
  }

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> serving_{0};
  std::atomic<int> most_concurrent_{0};
  mutable std::mutex mutex_;
  std::deque<Reply> planned_;
  Reply otherwise_;
  std::vector<Request> requests_;
  std::vector<int> connection_fds_;
  std::vector<std::thread> connection_threads_;
  std::thread accept_thread_;
};

// A local port where nobody listens: connections are refused at once.
std::string unreachable_url() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/hook";
}

std::string offline_body(int seq) {
  return R"({"node_id":"n-)" + std::to_string(seq % 7) + R"(","seq":)" + std::to_string(seq) +
         R"(,"src_id":"sender","push_key":"k\"é"})";
}

TEST(WebhookUrl, Parses) {
  auto url = parse_webhook_url("http://127.0.0.1:8080/hooks/offline?x=1#frag");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 8080);
  EXPECT_EQ(url.target, "/hooks/offline?x=1");
  url = parse_webhook_url("http://localhost");
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/");
  url = parse_webhook_url("http://hooks.local:1?a=b");
  EXPECT_EQ(url.port, 1);
  EXPECT_EQ(url.target, "/?a=b");
  url = parse_webhook_url("http://[::1]:9000/p");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 9000);
  EXPECT_EQ(url.target, "/p");
}

TEST(WebhookUrl, Rejects) {
  for (const char* bad : {"", "hooks.local", "http://", "http:///path", "http://h:0/", "http://h:65536/",
                          "http://h:/", "http://h:8x/", "http://[::1/", "http://[::1]x/", "http://u:p@h/",
                          "http://h/a b", "ftp://h/", "ws://h/"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_webhook_url(bad), std::invalid_argument);
  }
  try {
    parse_webhook_url("https://hooks.example.com/x");
    FAIL() << "https accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("https is not supported"), std::string::npos) << error.what();
  }
  EXPECT_THROW(Webhook(WebhookConfig{.url = "https://127.0.0.1/x"}), std::invalid_argument);
}

TEST(Webhook, DeliversInOrderWithExactBodiesOnOneKeptAliveConnection) {
  Receiver receiver;
  constexpr int count = 100;
  {
    Webhook webhook(WebhookConfig{.url = receiver.url("/hooks/offline?x=1"), .max_in_flight = 1});
    for (int seq = 1; seq <= count; ++seq) ASSERT_TRUE(webhook.post(offline_body(seq)));
    ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == count; }));
    const WebhookStats stats = webhook.stats();
    EXPECT_EQ(stats.posted, static_cast<std::uint64_t>(count));
    EXPECT_EQ(stats.retried, 0u);
    EXPECT_EQ(stats.failed, 0u);
    EXPECT_EQ(stats.dropped, 0u);
    EXPECT_EQ(stats.queue_depth, 0u);
  }
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(requests[i].method, "POST");
    EXPECT_EQ(requests[i].target, "/hooks/offline?x=1");
    EXPECT_EQ(requests[i].host, "127.0.0.1:" + std::to_string(receiver.port()));
    EXPECT_EQ(requests[i].content_type, "application/json");
    EXPECT_EQ(requests[i].body, offline_body(i + 1));
    EXPECT_EQ(requests[i].connection, 0);
  }
  EXPECT_EQ(receiver.connections(), 1);
}

TEST(Webhook, SendsConcurrentlyUpToMaxInFlight) {
  Receiver receiver;
  receiver.plan({}, Reply::slow(200));
  const auto start = Clock::now();
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_in_flight = 4});
  for (int seq = 1; seq <= 12; ++seq) ASSERT_TRUE(webhook.post(offline_body(seq)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 12; }));
  const long long elapsed = ms_since(start);
  EXPECT_GE(elapsed, 3 * 200 - 10);  // 12 posts, 4 at a time
  EXPECT_LT(elapsed, 12 * 200);      // ... not one at a time
  EXPECT_LE(receiver.most_concurrent(), 4);
  EXPECT_GE(receiver.most_concurrent(), 2);
  EXPECT_LE(receiver.connections(), 4);
  std::set<std::string> bodies;
  for (const Request& request : receiver.requests()) bodies.insert(request.body);
  EXPECT_EQ(bodies.size(), 12u);
}

TEST(Webhook, RetriesAfterTwo500s) {
  Receiver receiver;
  receiver.plan({Reply::with_status(500), Reply::with_status(500)});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .initial_backoff_ms = 20});
  ASSERT_TRUE(webhook.post(offline_body(1)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const Request& request : requests) EXPECT_EQ(request.body, offline_body(1));
  const WebhookStats stats = webhook.stats();
  EXPECT_EQ(stats.retried, 2u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.queue_depth, 0u);
}

TEST(Webhook, AnyNon2xxIsAFailure) {
  Receiver receiver;
  receiver.plan({Reply::with_status(404), Reply::with_status(302), Reply::with_status(503),
                 Reply::with_status(204)});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .initial_backoff_ms = 10});
  ASSERT_TRUE(webhook.post("{}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  EXPECT_EQ(receiver.request_count(), 4u);
  EXPECT_EQ(webhook.stats().retried, 3u);
}

TEST(Webhook, GivesUpAfterMaxAttemptsWithBackoff) {
  Receiver receiver;
  receiver.plan({}, Reply::with_status(500));
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_attempts = 4, .initial_backoff_ms = 50});
  ASSERT_TRUE(webhook.post(offline_body(1)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().failed == 1; }));
  const WebhookStats stats = webhook.stats();
  EXPECT_EQ(stats.delivered, 0u);
  EXPECT_EQ(stats.retried, 3u);
  EXPECT_EQ(stats.queue_depth, 0u);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 4u);
  // Waits of 50, 100 and 200 ms between the attempts (2 ms of slack for the clocks).
  const long long expected[] = {50, 100, 200};
  for (int i = 0; i < 3; ++i) {
    const auto gap = std::chrono::duration_cast<milliseconds>(requests[i + 1].at - requests[i].at).count();
    EXPECT_GE(gap, expected[i] - 2) << "before attempt " << i + 2;
  }
  EXPECT_GE(std::chrono::duration_cast<milliseconds>(requests[3].at - requests[0].at).count(), 350 - 2);
  // Nothing more once it gave up.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(receiver.request_count(), 4u);
}

TEST(Webhook, BackoffIsCapped) {
  Receiver receiver;
  receiver.plan({}, Reply::with_status(500));
  const auto start = Clock::now();
  Webhook webhook(WebhookConfig{
      .url = receiver.url(), .max_attempts = 5, .initial_backoff_ms = 40, .max_backoff_ms = 40});
  ASSERT_TRUE(webhook.post("{}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().failed == 1; }));
  // 4 waits of 40 ms, where doubling would have waited 600.
  const long long elapsed = ms_since(start);
  EXPECT_GE(elapsed, 160 - 2);
  EXPECT_LT(elapsed, 550);
}

TEST(Webhook, TimesOutASilentReceiverThenRetries) {
  Receiver receiver;
  receiver.plan({Reply::silent()});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .initial_backoff_ms = 10, .request_timeout_ms = 300});
  ASSERT_TRUE(webhook.post(offline_body(7)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, offline_body(7));
  // The 300 ms run from the start of the attempt (connect included), a few
  // ms before the receiver has the request: loosely, then.
  EXPECT_GE(std::chrono::duration_cast<milliseconds>(requests[1].at - requests[0].at).count(), 300 - 30);
  EXPECT_NE(requests[0].connection, requests[1].connection);  // a timed-out connection is not reused
  EXPECT_EQ(webhook.stats().retried, 1u);
}

TEST(Webhook, RetriesWhenTheReceiverHangsUp) {
  Receiver receiver;
  receiver.plan({Reply::hang_up()});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .initial_backoff_ms = 10});
  ASSERT_TRUE(webhook.post("{}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  EXPECT_EQ(receiver.request_count(), 2u);
  EXPECT_EQ(webhook.stats().retried, 1u);
}

TEST(Webhook, AKeptAliveConnectionClosedWhileIdleIsReplacedWithoutARetry) {
  Receiver receiver;
  receiver.plan({Reply::ok_then_close()});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_in_flight = 1});
  ASSERT_TRUE(webhook.post(offline_body(1)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  std::this_thread::sleep_for(milliseconds(50));  // the receiver's close reaches the idle connection
  ASSERT_TRUE(webhook.post(offline_body(2)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 2; }));
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].body, offline_body(2));
  EXPECT_EQ(requests[1].connection, 1);
  EXPECT_EQ(webhook.stats().retried, 0u);
  EXPECT_EQ(webhook.stats().failed, 0u);
}

TEST(Webhook, A2xxWithAnOversizedBodyIsDelivered) {
  Receiver receiver;
  receiver.plan({Reply::ok_with_body(1 << 20)});
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_in_flight = 1});
  ASSERT_TRUE(webhook.post("{\"a\":1}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1; }));
  ASSERT_TRUE(webhook.post("{\"a\":2}"));  // on a new connection: the old one was closed unread
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 2; }));
  EXPECT_EQ(webhook.stats().retried, 0u);
  EXPECT_EQ(receiver.request_count(), 2u);
  EXPECT_EQ(receiver.connections(), 2);
}

TEST(Webhook, CountsFailuresWhenNobodyListens) {
  Webhook webhook(WebhookConfig{.url = unreachable_url(), .max_attempts = 3, .initial_backoff_ms = 5});
  for (int seq = 1; seq <= 20; ++seq) ASSERT_TRUE(webhook.post(offline_body(seq)));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().failed == 20; }));
  const WebhookStats stats = webhook.stats();
  EXPECT_EQ(stats.delivered, 0u);
  EXPECT_EQ(stats.retried, 40u);
  EXPECT_EQ(stats.queue_depth, 0u);
}

TEST(Webhook, PostNeverBlocks) {
  Webhook webhook(WebhookConfig{.url = unreachable_url(), .max_attempts = 1});
  const auto start = Clock::now();
  for (int seq = 1; seq <= 10000; ++seq) ASSERT_TRUE(webhook.post(offline_body(seq)));
  const long long elapsed = ms_since(start);
  std::printf("10,000 post() calls: %lld ms\n", elapsed);
  EXPECT_LT(elapsed, 500);
  EXPECT_EQ(webhook.stats().posted, 10000u);
  // They all fail (quickly: connection refused) and are counted.
  ASSERT_TRUE(wait_until([&] { return webhook.stats().failed == 10000; }, milliseconds(8000)));
  EXPECT_EQ(webhook.stats().queue_depth, 0u);
}

TEST(Webhook, DropsWhenTheQueueIsFull) {
  Receiver receiver;
  receiver.plan({}, Reply::silent());
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_queue = 5, .max_in_flight = 1});
  for (int seq = 1; seq <= 5; ++seq) EXPECT_TRUE(webhook.post(offline_body(seq)));
  EXPECT_FALSE(webhook.post(offline_body(6)));
  EXPECT_FALSE(webhook.post(offline_body(7)));
  WebhookStats stats = webhook.stats();
  EXPECT_EQ(stats.posted, 5u);
  EXPECT_EQ(stats.dropped, 2u);
  EXPECT_EQ(stats.queue_depth, 5u);
}

TEST(Webhook, QueueRoomComesBackAsPostsFinish) {
  Receiver receiver;
  receiver.plan({}, Reply::slow(100));
  Webhook webhook(WebhookConfig{.url = receiver.url(), .max_queue = 2, .max_in_flight = 1});
  EXPECT_TRUE(webhook.post("{\"a\":1}"));
  EXPECT_TRUE(webhook.post("{\"a\":2}"));
  EXPECT_FALSE(webhook.post("{\"a\":3}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 2; }));
  EXPECT_TRUE(webhook.post("{\"a\":4}"));
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 3; }));
  EXPECT_EQ(webhook.stats().dropped, 1u);
}

TEST(Webhook, DestructorReturnsQuicklyWithRequestsInFlightAndQueued) {
  Receiver receiver;
  receiver.plan({}, Reply::slow(5000));
  auto webhook = std::make_unique<Webhook>(WebhookConfig{.url = receiver.url(), .max_in_flight = 2});
  for (int seq = 1; seq <= 1000; ++seq) ASSERT_TRUE(webhook->post(offline_body(seq)));
  ASSERT_TRUE(wait_until([&] { return receiver.request_count() == 2; }));
  const auto start = Clock::now();
  webhook.reset();
  EXPECT_LT(ms_since(start), 1000);
}

TEST(Webhook, DestructorReturnsQuicklyWithRetriesPending) {
  auto webhook = std::make_unique<Webhook>(
      WebhookConfig{.url = unreachable_url(), .initial_backoff_ms = 10000});
  for (int seq = 1; seq <= 100; ++seq) ASSERT_TRUE(webhook->post(offline_body(seq)));
  std::this_thread::sleep_for(milliseconds(100));  // each has failed once and waits 10 s
  EXPECT_EQ(webhook->stats().queue_depth, 100u);
  EXPECT_EQ(webhook->stats().failed, 0u);
  const auto start = Clock::now();
  webhook.reset();
  EXPECT_LT(ms_since(start), 1000);
}

TEST(Webhook, PostsFromManyThreads) {
  Receiver receiver;
  Webhook webhook(WebhookConfig{.url = receiver.url()});
  std::vector<std::thread> shards;
  for (int shard = 0; shard < 4; ++shard) {
    shards.emplace_back([&webhook, shard] {
      for (int i = 0; i < 250; ++i) webhook.post(offline_body(shard * 1000 + i));
    });
  }
  for (std::thread& thread : shards) thread.join();
  ASSERT_TRUE(wait_until([&] { return webhook.stats().delivered == 1000; }));
  EXPECT_EQ(webhook.stats().posted, 1000u);
  std::set<std::string> bodies;
  for (const Request& request : receiver.requests()) bodies.insert(request.body);
  EXPECT_EQ(bodies.size(), 1000u);
}

}  // namespace
