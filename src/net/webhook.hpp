#pragma once
// The offline webhook's client (PROTOCOL.md section 6, `--offline-webhook`):
// POSTs JSON bodies to one http:// URL from a thread of its own, so that a
// slow or dead receiver never blocks a shard. Bounded queue, retries with
// backoff, keep-alive connections; every outcome is counted for /metrics.
// Beast and Asio stay in webhook.cpp (DESIGN.md "Build time").
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace allspark::net {

struct WebhookConfig {
  // http://host[:port][/path][?query]; host may be [IPv6]. https is not
  // supported: put a local relay (or a TLS-terminating proxy) in front.
  std::string url;
  std::size_t max_queue = 10000;          // posts accepted and not finished yet (queued, in flight, awaiting a retry)
  unsigned max_attempts = 5;              // the first try included
  unsigned initial_backoff_ms = 200;      // before the 2nd attempt; doubles after each failure ...
  unsigned max_backoff_ms = 10000;        // ... up to this
  unsigned request_timeout_ms = 5000;     // connect + send + whole answer
  unsigned max_in_flight = 8;             // concurrent requests, one connection each
};

// What a URL names, split for the request.
struct WebhookUrl {
  std::string host;    // without brackets for IPv6
  std::uint16_t port = 80;
  std::string target;  // path and query, at least "/"
};

// Throws std::invalid_argument saying what is wrong (https included).
WebhookUrl parse_webhook_url(std::string_view url);

struct WebhookStats {
  std::uint64_t posted = 0;       // accepted by post()
  std::uint64_t delivered = 0;    // answered 2xx
  std::uint64_t retried = 0;      // attempts after the first
  std::uint64_t failed = 0;       // given up after max_attempts
  std::uint64_t dropped = 0;      // refused by a full queue, or still pending at destruction
  std::uint64_t queue_depth = 0;  // accepted and not yet delivered, failed or dropped
};

class Webhook {
 public:
  // Parses the URL (throws std::invalid_argument) and starts the thread.
  explicit Webhook(WebhookConfig config);
  // Returns within about a second whatever the receiver does: requests in
  // flight are aborted, and what is still queued or awaiting a retry is
  // dropped (counted in `dropped`, logged once). A receiver named by a DNS
  // name that does not resolve may hold it for the resolver's own timeout.
  ~Webhook();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  // Thread-safe, never waits on the network. Queues one POST of `json_body`;
  // false (and counted as dropped) when max_queue posts are pending.
  // Posts leave in order, but with max_in_flight > 1, or after a retry, they
  // may arrive out of order: receivers order by `seq`.
  bool post(std::string json_body);

  // Any thread; each field is read on its own (relaxed), not as one snapshot.
  WebhookStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace allspark::net
