#include "net/webhook.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <pthread.h>
#include <thread>
#include <vector>

#include "core/counter.hpp"

namespace allspark::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// The answer's body is read only so that the connection can be reused; a
// receiver has no reason to send much.
constexpr std::size_t max_answer_bytes = 64 * 1024;

[[noreturn]] void bad_url(std::string_view url, std::string_view why) {
  throw std::invalid_argument("offline webhook URL '" + std::string(url) + "': " + std::string(why));
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Attempts after the first wait initial, 2 initial, 4 initial... up to the cap.
std::chrono::milliseconds backoff(const WebhookConfig& config, unsigned failures) {
  std::uint64_t delay = config.initial_backoff_ms;
  for (unsigned i = 1; i < failures && delay < config.max_backoff_ms; ++i) delay *= 2;
  return std::chrono::milliseconds(std::min<std::uint64_t>(delay, config.max_backoff_ms));
}

}  // namespace

WebhookUrl parse_webhook_url(std::string_view url) {
  for (char c : url) {
    // They would end up in the request line.
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) bad_url(url, "spaces and control characters are not allowed");
  }
  if (url.starts_with("https://")) {
    bad_url(url, "https is not supported; give an http:// URL (a local TLS relay can forward it)");
  }
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) bad_url(url, "expected http://host[:port][/path]");
  std::string_view rest = url.substr(scheme.size());
  const std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  target = target.substr(0, target.find('#'));  // a fragment is never sent
  if (authority.find('@') != std::string_view::npos) bad_url(url, "user information is not supported");

  WebhookUrl parsed;
  std::string_view port;
  if (authority.starts_with('[')) {  // an IPv6 literal: [::1]:8080
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) bad_url(url, "unclosed '[' in the host");
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(url, "expected ':' and a port after ']'");
      port = after.substr(1);
      if (port.empty()) bad_url(url, "the port must be from 1 to 65535");
    }
  } else {
    const std::size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) bad_url(url, "the port must be from 1 to 65535");
    }
  }
  if (parsed.host.empty()) bad_url(url, "no host");
  if (!port.empty()) {
    const auto number = parse_port(port);
    if (!number) bad_url(url, "the port must be from 1 to 65535");
    parsed.port = *number;
  }
  if (target.empty() || target.front() == '?') {
    parsed.target = "/" + std::string(target);
  } else {
    parsed.target = std::string(target);
  }
  return parsed;
}

// Threads: post() and stats() run on any thread and touch only what is under
// `mutex` and the counters; everything else belongs to the webhook's own
// thread (the one running `io`).
struct Webhook::State {
  struct Job {
    std::string body;
    unsigned failures = 0;
  };

  // Keeps the list of streams with a request under way, so that stop() can
  // abort them.
  class ActiveStream {
   public:
    ActiveStream(std::vector<beast::tcp_stream*>& active, beast::tcp_stream* stream)
        : active_(active), stream_(stream) {
      active_.push_back(stream_);
    }
    ~ActiveStream() { std::erase(active_, stream_); }
    ActiveStream(const ActiveStream&) = delete;
    ActiveStream& operator=(const ActiveStream&) = delete;

   private:
    std::vector<beast::tcp_stream*>& active_;
    beast::tcp_stream* stream_;
  };

  const WebhookConfig config;
  const WebhookUrl url;
  const std::string host_header;
  const std::string service;  // the port, for the resolver
  // Set when the host is an address: no resolver then.
  std::optional<asio::ip::address> address;
  // First member with a loop: destroyed last, after every object using it.
  asio::io_context io{1};

  // Shared with post() and stats().
  std::mutex mutex;
  std::deque<Job> ready;    // waiting for a free request slot, oldest first
  std::size_t pending = 0;  // accepted and not finished (ready, in flight, awaiting a retry)
  bool pump_posted = false;
  bool closed = false;
  // Written under `mutex` (by any thread, one at a time), read by anyone.
  core::Counter posted, dropped, queue_depth;
  // Written by the webhook's thread only.
  core::Counter delivered, retried, failed;

  // The webhook's thread only.
  asio::steady_timer retry_timer{io};
  std::multimap<Clock::time_point, Job> retries;  // by when they are due
  std::vector<beast::tcp_stream> idle;            // keep-alive connections, last used at the back
  std::vector<beast::tcp_stream*> active;
  unsigned in_flight = 0;
  bool stopping = false;
  bool receiver_failing = false;  // logs once per outage, not once per post
  std::uint64_t dropped_at_stop = 0;

  std::thread thread;

  State(WebhookConfig webhook_config, WebhookUrl parsed)
      : config(std::move(webhook_config)),
        url(std::move(parsed)),
        host_header(make_host_header(url)),
        service(std::to_string(url.port)) {
    boost::system::error_code not_an_address;
    auto literal = asio::ip::make_address(url.host, not_an_address);
    if (!not_an_address) address = literal;
  }

  static std::string make_host_header(const WebhookUrl& url) {
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (url.port != 80) host += ":" + std::to_string(url.port);
    return host;
  }

  void start() {
    asio::co_spawn(io, retry_loop(), asio::detached);
    thread = std::thread([this] {
      pthread_setname_np(pthread_self(), "webhook");
      // A bug in a handler must not take the server down with it: log, go on.
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& error) {
          spdlog::error("offline webhook: {}", error.what());
        }
      }
    });
  }

  bool enqueue(std::string body) {
    {
      std::lock_guard lock(mutex);
      if (closed || pending >= config.max_queue) {
        dropped.add();
        return false;
      }
      ready.push_back(Job{std::move(body), 0});
      ++pending;
      posted.add();
      queue_depth.set(pending);
      if (pump_posted) return true;  // one wake-up per burst of posts
      pump_posted = true;
    }
    asio::post(io, [this] {
      {
        std::lock_guard lock(mutex);
        pump_posted = false;
      }
      pump();
    });
    return true;
  }

  // Settles `count` posts that are no longer pending.
  void settle(std::size_t count, bool as_dropped) {
    std::lock_guard lock(mutex);
    pending -= count;
    queue_depth.set(pending);
    if (as_dropped) dropped.add(count);
  }

  // Starts requests while slots are free. Owned by the webhook's thread.
  void pump() {
    while (!stopping && in_flight < config.max_in_flight) {
      Job job;
      {
        std::lock_guard lock(mutex);
        if (ready.empty()) return;
        job = std::move(ready.front());
        ready.pop_front();
      }
      if (job.failures > 0) retried.add();
      ++in_flight;
      asio::co_spawn(io, deliver(std::move(job)), asio::detached);
    }
  }

  asio::awaitable<void> deliver(Job job) {
    std::optional<std::string> error = co_await send(job.body);
    --in_flight;
    if (stopping) {
      settle(1, true);
      ++dropped_at_stop;
      co_return;
    }
    if (!error) {
      delivered.add();
      settle(1, false);
      if (receiver_failing) {
        receiver_failing = false;
        spdlog::info("offline webhook: {}:{} answers again", url.host, url.port);
      }
    } else {
      if (!receiver_failing) {
        receiver_failing = true;
        spdlog::warn("offline webhook: POST to {}:{}{} failed ({}); retrying, failures counted in /metrics",
                     url.host, url.port, url.target, *error);
      }
      ++job.failures;
      if (job.failures >= config.max_attempts) {
        failed.add();
        settle(1, false);
      } else {
        schedule_retry(std::move(job));
      }
    }
    pump();
  }

  void schedule_retry(Job job) {
    const auto due = Clock::now() + backoff(config, job.failures);
    const bool earliest = retries.empty() || due < retries.begin()->first;
    retries.emplace(due, std::move(job));
    if (earliest) retry_timer.cancel();  // retry_loop re-arms for the new first
  }

  // Moves retries that are due to the front of the queue: they are older
  // than anything posted since.
  asio::awaitable<void> retry_loop() {
    while (!stopping) {
      retry_timer.expires_at(retries.empty() ? Clock::time_point::max() : retries.begin()->first);
      // Aborted by schedule_retry or stop: either way the loop looks again.
      co_await retry_timer.async_wait(use_tuple);
      if (stopping) break;
      const auto now = Clock::now();
      std::vector<Job> due;
      while (!retries.empty() && retries.begin()->first <= now) {
        due.push_back(std::move(retries.begin()->second));
        retries.erase(retries.begin());
      }
      if (due.empty()) continue;
      {
        std::lock_guard lock(mutex);
        ready.insert(ready.begin(), std::make_move_iterator(due.begin()), std::make_move_iterator(due.end()));
      }
      pump();
    }
  }

  beast::tcp_stream take_idle() {
    beast::tcp_stream stream = std::move(idle.back());
    idle.pop_back();
    return stream;
  }

  asio::awaitable<boost::system::error_code> connect(beast::tcp_stream& stream) {
    boost::system::error_code error;
    if (address) {
      const tcp::endpoint endpoint(*address, url.port);
      auto [connect_error] = co_await stream.async_connect(endpoint, use_tuple);
      error = connect_error;
    } else {
      // Once per connection, so that a receiver that moves is found again.
      tcp::resolver resolver(io);
      auto [resolve_error, endpoints] = co_await resolver.async_resolve(url.host, service, use_tuple);
      if (resolve_error) co_return resolve_error;
      // stop() could not reach the resolver; the stream's cancel came too early.
      if (stopping) co_return asio::error::operation_aborted;
      auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, use_tuple);
      error = connect_error;
    }
    boost::system::error_code ignored;
    if (!error) stream.socket().set_option(tcp::no_delay(true), ignored);
    co_return error;
  }

  // One attempt: nullopt when answered 2xx, else why not.
  asio::awaitable<std::optional<std::string>> send(const std::string& body) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(config.request_timeout_ms);
    http::request<http::string_body> request{http::verb::post, url.target, 11};
    request.set(http::field::host, host_header);
    request.set(http::field::user_agent, "allspark");
    request.set(http::field::content_type, "application/json");
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();

    for (bool fresh_only = false;; fresh_only = true) {
      const bool reused = !fresh_only && !idle.empty();
      beast::tcp_stream stream = reused ? take_idle() : beast::tcp_stream(io);
      ActiveStream registered(active, &stream);
      stream.expires_at(deadline);
      if (!reused) {
        const boost::system::error_code connect_error = co_await connect(stream);
        if (stopping) co_return "stopped";
        if (connect_error) co_return "connect: " + connect_error.message();
      }
      auto [write_error, written] = co_await http::async_write(stream, request, use_tuple);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(max_answer_bytes);
      boost::system::error_code error = write_error;
      if (!error && !stopping) {
        auto [read_error, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
        error = read_error;
      }
      if (stopping) co_return "stopped";
      if (error && !parser.is_header_done()) {
        stream.close();
        // A kept-alive connection that the receiver closed while it was idle
        // fails before any answer: that is not the receiver failing, so try
        // once more at once on a new connection.
        if (reused && !parser.got_some() && error != beast::error::timeout) continue;
        co_return (error == beast::error::timeout ? std::string("timeout") : error.message());
      }
      // With the status known, the receiver has decided: a body that is too
      // long or cut short only costs the connection.
      const auto& answer = parser.get();
      const unsigned status = answer.result_int();
      if (!error && answer.keep_alive()) {
        stream.expires_never();
        idle.push_back(std::move(stream));
      } else {
        stream.close();
      }
      if (status >= 200 && status < 300) co_return std::nullopt;
      co_return "HTTP status " + std::to_string(status);
    }
  }

  // On the webhook's thread: aborts everything so that io.run() returns.
  void stop() {
    stopping = true;
    retry_timer.cancel();
    for (beast::tcp_stream* stream : active) stream->cancel();  // their deliver() drops them
    for (beast::tcp_stream& stream : idle) stream.close();
    idle.clear();
    std::size_t abandoned = retries.size();
    retries.clear();
    {
      std::lock_guard lock(mutex);
      abandoned += ready.size();
      ready.clear();
    }
    settle(abandoned, true);
    dropped_at_stop += abandoned;
  }
};

Webhook::Webhook(WebhookConfig config) {
  WebhookUrl url = parse_webhook_url(config.url);
  if (config.max_queue == 0 || config.max_attempts == 0 || config.max_in_flight == 0 ||
      config.request_timeout_ms == 0) {
    throw std::invalid_argument("offline webhook: max_queue, max_attempts, max_in_flight and request_timeout_ms must be at least 1");
  }
  state_ = std::make_unique<State>(std::move(config), std::move(url));
  state_->start();
}

Webhook::~Webhook() {
  {
    std::lock_guard lock(state_->mutex);
    state_->closed = true;
  }
  asio::post(state_->io, [state = state_.get()] { state->stop(); });
  state_->thread.join();
  if (state_->dropped_at_stop > 0) {
    spdlog::warn("offline webhook: {} posts still pending at shutdown were dropped", state_->dropped_at_stop);
  }
}

bool Webhook::post(std::string json_body) { return state_->enqueue(std::move(json_body)); }

WebhookStats Webhook::stats() const {
  WebhookStats stats;
  stats.posted = state_->posted.get();
  stats.delivered = state_->delivered.get();
  stats.retried = state_->retried.get();
  stats.failed = state_->failed.get();
  stats.dropped = state_->dropped.get();
  stats.queue_depth = state_->queue_depth.get();
  return stats;
}

}  // namespace allspark::net
