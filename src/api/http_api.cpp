#include "api/http_api.hpp"

#include "protocol/json.hpp"
#include "protocol/token.hpp"

namespace allspark::api {

using net::HttpRequest;
using net::HttpResponse;
using protocol::ErrorCode;

namespace {


Route route_of(std::string_view path) {
  if (path == "/v1/preconnect") return Route::preconnect;
  if (path == "/v1/connect") return Route::connect;
  if (path == "/healthz") return Route::healthz;
  if (path == "/metrics") return Route::metrics;
  if (path == "/v1/cluster") return Route::cluster;
  if (path == "/v1/inbox") return Route::inbox;
  if (path == "/v1/inbox/ack") return Route::inbox_ack;
  if (path == "/v1/messages") return Route::messages;
  if (path == "/v1/sessions") return Route::sessions;
  constexpr std::string_view sessions = "/v1/sessions/";
  if (path.size() > sessions.size() && path.starts_with(sessions)) {
    std::string_view rest = path.substr(sessions.size());
    std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return Route::session;
    std::string_view action = rest.substr(slash);
    if (slash == 0 || action.find('/', 1) != std::string_view::npos) return Route::unknown;
    if (action == "/join") return Route::session_join;
    if (action == "/leave") return Route::session_leave;
    if (action == "/reveal") return Route::session_reveal;
  }
  constexpr std::string_view connections = "/v1/connections/";
  constexpr std::string_view close = "/close";
  if (path.size() > connections.size() + close.size() && path.starts_with(connections) && path.ends_with(close)) {
    return Route::connection_close;
  }
  return Route::unknown;
}

// The methods a route answers, as an Allow header lists them.
std::string_view methods_of(Route route) {
  switch (route) {
    case Route::sessions: return "GET, POST";
    case Route::session: return "GET, DELETE";
    case Route::inbox_ack:
    case Route::messages:
    case Route::connection_close:
    case Route::session_join:
    case Route::session_leave:
    case Route::session_reveal: return "POST";
    default: return "GET";
  }
}

bool allows(std::string_view methods, std::string_view method) {
  while (!methods.empty()) {
    std::size_t comma = methods.find(", ");
    if (methods.substr(0, comma) == method) return true;
    methods = comma == std::string_view::npos ? std::string_view() : methods.substr(comma + 2);
  }
  return false;
}

// Section 8: the path first, then the method, then the body size; all before
// authentication.
std::optional<HttpResponse> check_request(const HttpRequest& request, Route route) {
  if (route == Route::unknown) {
    return error_response(ErrorCode::not_found, "no such path: " + request.path);
  }
  const std::string methods(methods_of(route));
  if (!allows(methods, request.method)) {
    HttpResponse answer = error_response(ErrorCode::method_not_allowed,
                                         request.method + " is not allowed on " + request.path + "; use " + methods);
    answer.headers.emplace_back("Allow", methods);
    return answer;
  }
  if (request.body_too_large) {
    return error_response(ErrorCode::too_large, "request body larger than --max-message-bytes");
  }
  return std::nullopt;
}

// Section 2: `Authorization: Bearer KEY`, or `auth_key=KEY` where a browser
// cannot set headers.
std::optional<std::string> auth_key_of(const HttpRequest& request) {
  if (auto header = request.header("authorization")) {
    constexpr std::string_view bearer = "Bearer ";
    if (header->size() > bearer.size() && header->substr(0, bearer.size()) == bearer) {
      return std::string(header->substr(bearer.size()));
    }
  }
  return request.query_param("auth_key");
}

}  // namespace

Authenticated authenticate(const HttpRequest& request, const protocol::TokenKeys& keys, std::int64_t now) {
  auto key = auth_key_of(request);
  if (!key || key->empty()) {
    return {error_response(ErrorCode::unauthorized, "missing auth key: send Authorization: Bearer KEY or ?auth_key="), {}};
  }
  protocol::TokenResult result = protocol::verify_auth_key(*key, keys, now);
  if (result.status == protocol::TokenStatus::ok) return {std::nullopt, std::move(result.claims)};
  ErrorCode code = result.status == protocol::TokenStatus::bad_id ? ErrorCode::bad_id : ErrorCode::unauthorized;
  return {error_response(code, result.message), {}};
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The origin (scheme://host[:port]) of a ws/wss/http/https URL, as a browser writes it.
std::string origin_of(std::string_view url) {
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string scheme = lower(url.substr(0, scheme_end));
  if (scheme == "ws") scheme = "http";
  if (scheme == "wss") scheme = "https";
  std::string_view rest = url.substr(scheme_end + 3);
  return scheme + "://" + lower(rest.substr(0, rest.find('/')));
}

}  // namespace

HttpResponse error_response(ErrorCode code, std::string_view message) {
  HttpResponse answer;
  answer.status = protocol::http_status(code);
  answer.body = "{\"error\":{\"code\":\"";
  answer.body += protocol::code_name(code);
  answer.body += "\",\"message\":";
  protocol::append_json_string(answer.body, message);
  answer.body += "}}";
  return answer;
}

HttpApi::HttpApi(ApiConfig config, std::function<std::int64_t()> now_seconds, ServerHooks hooks)
    : config_(std::move(config)), keys_(config_.secret), now_seconds_(std::move(now_seconds)),
      hooks_(std::move(hooks)) {}

void HttpApi::set_port(std::uint16_t port) { config_.port = port; }

void HttpApi::handle(const HttpRequest& request, net::Respond respond) {
  Route route = route_of(request.path);
  auto origin = request.header("origin");
  if (request.method == "OPTIONS" && route != Route::unknown) return respond(preflight(request));
  // Section 8: browsers on allowed origins may read the answer.
  if (origin && config_.allowed_origins.size() > 0 && origin_allowed(*origin, request)) {
    respond = [respond, origin = std::string(*origin)](HttpResponse answer) {
      answer.headers.emplace_back("Access-Control-Allow-Origin", origin);
      answer.headers.emplace_back("Vary", "Origin");
      respond(std::move(answer));
    };
  }
  answer_for(request, route, std::move(respond));
}

void HttpApi::answer_for(const HttpRequest& request, Route route, net::Respond respond) {
  if (auto refusal = check_request(request, route)) return respond(*refusal);
  switch (route) {
    case Route::inbox: return inbox_fetch(request, std::move(respond));
    case Route::inbox_ack: return inbox_ack(request, std::move(respond));
    case Route::connection_close: return connection_close(request, std::move(respond));
    case Route::messages: return publish(request, std::move(respond));
    case Route::sessions:
    case Route::session:
    case Route::session_join:
    case Route::session_leave:
    case Route::session_reveal: return sessions(request, route, std::move(respond));
    default: return respond(answer_now(request, route));
  }
}

HttpResponse HttpApi::answer_now(const HttpRequest& request, Route route) {
  switch (route) {
    case Route::preconnect: return preconnect(request);
    case Route::connect:
      return error_response(ErrorCode::bad_field, "/v1/connect expects a WebSocket upgrade");
    case Route::healthz: {
      if (hooks_.draining && hooks_.draining()) return error_response(ErrorCode::unavailable, "draining");
      HttpResponse answer;
      answer.body = R"({"status":"serving"})";
      return answer;
    }
    case Route::metrics: {
      HttpResponse answer;
      answer.content_type = "text/plain; version=0.0.4";
      answer.body = hooks_.metrics_text ? hooks_.metrics_text() : std::string();
      return answer;
    }
    case Route::cluster: return cluster(request);
    default: break;
  }
  return error_response(ErrorCode::not_found, "no such path: " + request.path);
}

// This server as preconnect and /v1/cluster describe it, without the closing
// brace: {"server_id", "url", "host", "port", "proxy_url"?
std::string HttpApi::server_json() const {
  std::string body = "{\"server_id\":";
  protocol::append_json_string(body, config_.server_id);
  body += ",\"url\":";
  protocol::append_json_string(body, config_.url);
  body += ",\"host\":";
  protocol::append_json_string(body, config_.host);
  body += ",\"port\":" + std::to_string(config_.port);
  if (!config_.proxy_url.empty()) {
    body += ",\"proxy_url\":";
    protocol::append_json_string(body, config_.proxy_url);
  }
  return body;
}

// Section 9: the servers of the cluster, for the app role (alone: this one).
HttpResponse HttpApi::cluster(const HttpRequest& request) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
  if (who.refusal) return *who.refusal;
  if (who.claims.role == protocol::Role::node) {
    return error_response(ErrorCode::forbidden, "/v1/cluster is for the app role");
  }
  HttpResponse answer;
  std::string load = std::to_string(hooks_.load ? hooks_.load() : 0);
  answer.body = "{\"servers\":[" + server_json() + ",\"load\":" + load + "}]}";
  return answer;
}

// A CORS preflight needs no auth key; an origin that is not allowed gets 403
// without the allow header.
HttpResponse HttpApi::preflight(const HttpRequest& request) {
  auto origin = request.header("origin");
  if (!origin || !origin_allowed(*origin, request)) {
    return error_response(ErrorCode::forbidden, "origin " + std::string(origin.value_or("(none)")) + " is not allowed");
  }
  HttpResponse answer;
  answer.status = 204;
  answer.headers = {{"Access-Control-Allow-Origin", std::string(*origin)},
                    {"Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"},
                    {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
                    {"Access-Control-Max-Age", "600"},
                    {"Vary", "Origin"}};
  return answer;
}

HttpResponse HttpApi::preconnect(const HttpRequest& request) {
  std::int64_t now = now_seconds_();
  Authenticated who = authenticate(request, keys_, now);
  if (who.refusal) return *who.refusal;
  // Alone, this server is the least loaded one of its cluster.
  std::string body = server_json();
  body += ",\"validation_key\":";
  protocol::append_json_string(
      body, protocol::mint_validation_key(who.claims.node_id, config_.server_id, keys_, now));
  body += '}';
  HttpResponse answer;
  answer.body = std::move(body);
  answer.headers.emplace_back("Cache-Control", "no-store");
  return answer;
}

bool HttpApi::origin_allowed(std::string_view origin, const HttpRequest& request) const {
  std::string wanted = lower(origin);
  while (!wanted.empty() && wanted.back() == '/') wanted.pop_back();
  for (const std::string& allowed : config_.allowed_origins) {
    if (allowed == "*" || allowed == wanted) return true;
  }
  // The server's own origin: as the browser reached it, as advertised, or its proxy.
  if (auto host = request.header("host"); host && wanted == "http://" + lower(*host)) return true;
  if (wanted == origin_of(config_.url)) return true;
  return !config_.proxy_url.empty() && wanted == origin_of(config_.proxy_url);
}

net::UpgradeDecision HttpApi::upgrade(const HttpRequest& request) {
  net::UpgradeDecision decision;
  Route route = route_of(request.path);
  if (route != Route::connect) {
    decision.refusal = route == Route::unknown ? *check_request(request, route)
                                               : error_response(ErrorCode::bad_field, "WebSocket upgrades go to /v1/connect");
    return decision;
  }
  if (auto refusal = check_request(request, route)) {
    decision.refusal = std::move(refusal);
    return decision;
  }
  // Section 9: while draining, upgrades are refused so clients go elsewhere.
  if (hooks_.draining && hooks_.draining()) {
    decision.refusal = error_response(ErrorCode::unavailable, "server draining: reconnect through preconnect");
    return decision;
  }
  // Section 8: a browser page from another origin may not open a WebSocket
  // unless --allowed-origins names it. Clients without Origin are not browsers.
  if (auto origin = request.header("origin"); origin && !origin_allowed(*origin, request)) {
    decision.refusal = error_response(ErrorCode::forbidden, "origin " + std::string(*origin) + " is not allowed");
    return decision;
  }
  std::int64_t now = now_seconds_();
  // Section 3: the auth key is checked before the validation key.
  Authenticated who = authenticate(request, keys_, now);
  if (who.refusal) {
    decision.refusal = std::move(who.refusal);
    return decision;
  }
  if (config_.require_validation_key) {
    auto key = request.query_param("validation_key");
    if (!key || key->empty()) {
      decision.refusal = error_response(ErrorCode::forbidden, "missing validation key: ask /v1/preconnect first");
      return decision;
    }
    auto status = protocol::verify_validation_key(*key, who.claims.node_id, config_.server_id, keys_, now);
    if (status != protocol::TokenStatus::ok) {
      decision.refusal = error_response(
          ErrorCode::forbidden, status == protocol::TokenStatus::expired
                                    ? "validation key expired: ask /v1/preconnect again"
                                    : "validation key not valid for this node on this server");
      return decision;
    }
  }
  decision.identity.node_id = who.claims.node_id;
  decision.identity.client_id = who.claims.client_id;
  decision.identity.role = who.claims.role;
  return decision;
}

}  // namespace allspark::api
