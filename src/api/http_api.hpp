#pragma once
// The HTTP API of PROTOCOL.md: preconnect (section 3) and the WebSocket
// connect decision (auth key, then validation key), with the error answers of
// section 8. Unknown paths and wrong methods are decided before authentication.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inbox/inbox.hpp"
#include "net/http_types.hpp"
#include "session/sessions.hpp"
#include "protocol/token.hpp"

namespace allspark::api {

struct ApiConfig {
  std::string secret;
  std::string server_id;
  std::string url;        // the WebSocket URL preconnect hands out
  std::string host;       // of that URL
  std::uint16_t port = 0; // of that URL
  std::string proxy_url;  // returned as proxy_url when set
  bool require_validation_key = true;
  std::vector<std::string> allowed_origins;  // lower-case; "*" allows any
};

enum class Route {
  preconnect, connect, healthz, metrics, cluster, inbox, inbox_ack, messages, connection_close,
  sessions, session, session_join, session_leave, session_reveal, unknown
};

// What the API asks of the running server (wired by app::Server).
struct ServerHooks {
  std::function<bool()> draining;             // SIGTERM received
  std::function<std::string()> metrics_text;  // Prometheus text
  std::function<std::uint64_t()> load;        // this server's load for /v1/cluster and preconnect
  // Runs `work` on a node's home shard, with that shard's router and inbox.
  std::function<void(const std::string& node_id, std::function<void(core::Router&, inbox::Inbox&)> work)> on_home_shard;
  // Runs `work` on a session's home shard, with that shard's sessions.
  std::function<void(const std::string& session_id, std::function<void(session::Sessions&)> work)> on_session_home;
};

struct Authenticated {
  std::optional<net::HttpResponse> refusal;
  protocol::AuthClaims claims;
};
// Section 2: the auth key of a request, checked.
Authenticated authenticate(const net::HttpRequest& request, const protocol::TokenKeys& keys, std::int64_t now);

class HttpApi final : public net::HttpHandler {
 public:
  // `now_seconds` is the clock tokens are checked against.
  HttpApi(ApiConfig config, std::function<std::int64_t()> now_seconds, ServerHooks hooks);

  void handle(const net::HttpRequest& request, net::Respond respond) override;
  net::UpgradeDecision upgrade(const net::HttpRequest& request) override;

  // Called once the listener knows its port (--port 0).
  void set_port(std::uint16_t port);

 private:
  void answer_for(const net::HttpRequest& request, Route route, net::Respond respond);
  net::HttpResponse answer_now(const net::HttpRequest& request, Route route);
  net::HttpResponse preflight(const net::HttpRequest& request);
  net::HttpResponse preconnect(const net::HttpRequest& request);
  net::HttpResponse cluster(const net::HttpRequest& request);
  // node_routes.cpp: answered on the node's home shard.
  void inbox_fetch(const net::HttpRequest& request, net::Respond respond);
  void inbox_ack(const net::HttpRequest& request, net::Respond respond);
  void connection_close(const net::HttpRequest& request, net::Respond respond);
  void publish(const net::HttpRequest& request, net::Respond respond);
  // session_routes.cpp: section 5, answered on the session's home shard.
  void sessions(const net::HttpRequest& request, Route route, net::Respond respond);
  std::string server_json() const;
  bool origin_allowed(std::string_view origin, const net::HttpRequest& request) const;

  ApiConfig config_;
  protocol::TokenKeys keys_;  // config_.secret, ready to sign and verify with
  std::function<std::int64_t()> now_seconds_;
  ServerHooks hooks_;
};

// {"error":{"code","message"}} with the status that fits the code.
net::HttpResponse error_response(protocol::ErrorCode code, std::string_view message);

}  // namespace allspark::api
