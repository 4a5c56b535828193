#include "api/http_api.hpp"

#include "protocol/json.hpp"
#include "protocol/token.hpp"

namespace allspark::api {

using net::HttpRequest;
using net::HttpResponse;
using protocol::ErrorCode;

namespace {

enum class Route { preconnect, connect, unknown };

Route route_of(std::string_view path) {
  if (path == "/v1/preconnect") return Route::preconnect;
  if (path == "/v1/connect") return Route::connect;
  return Route::unknown;
}

// Section 8: the path first, then the method, then the body size; all before
// authentication.
std::optional<HttpResponse> check_request(const HttpRequest& request, Route route) {
  if (route == Route::unknown) {
    return error_response(ErrorCode::not_found, "no such path: " + request.path);
  }
  if (request.method != "GET") {
    HttpResponse answer = error_response(ErrorCode::method_not_allowed,
                                         request.method + " is not allowed on " + request.path + "; use GET");
    answer.headers.emplace_back("Allow", "GET");
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

struct Authenticated {
  std::optional<HttpResponse> refusal;
  protocol::AuthClaims claims;
};

Authenticated authenticate(const HttpRequest& request, const std::string& secret, std::int64_t now) {
  auto key = auth_key_of(request);
  if (!key || key->empty()) {
    return {error_response(ErrorCode::unauthorized, "missing auth key: send Authorization: Bearer KEY or ?auth_key="), {}};
  }
  protocol::TokenResult result = protocol::verify_auth_key(*key, secret, now);
  if (result.status == protocol::TokenStatus::ok) return {std::nullopt, std::move(result.claims)};
  ErrorCode code = result.status == protocol::TokenStatus::bad_id ? ErrorCode::bad_id : ErrorCode::unauthorized;
  return {error_response(code, result.message), {}};
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

HttpApi::HttpApi(ApiConfig config, std::function<std::int64_t()> now_seconds)
    : config_(std::move(config)), now_seconds_(std::move(now_seconds)) {}

void HttpApi::set_port(std::uint16_t port) { config_.port = port; }

HttpResponse HttpApi::handle(const HttpRequest& request) {
  Route route = route_of(request.path);
  if (auto refusal = check_request(request, route)) return *refusal;
  switch (route) {
    case Route::preconnect: return preconnect(request);
    case Route::connect:
      return error_response(ErrorCode::bad_field, "/v1/connect expects a WebSocket upgrade");
    case Route::unknown: break;
  }
  return error_response(ErrorCode::not_found, "no such path: " + request.path);
}

HttpResponse HttpApi::preconnect(const HttpRequest& request) {
  std::int64_t now = now_seconds_();
  Authenticated who = authenticate(request, config_.secret, now);
  if (who.refusal) return *who.refusal;
  // Alone, this server is the least loaded one of its cluster.
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
  body += ",\"validation_key\":";
  protocol::append_json_string(
      body, protocol::mint_validation_key(who.claims.node_id, config_.server_id, config_.secret, now));
  body += '}';
  HttpResponse answer;
  answer.body = std::move(body);
  answer.headers.emplace_back("Cache-Control", "no-store");
  return answer;
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
  std::int64_t now = now_seconds_();
  // Section 3: the auth key is checked before the validation key.
  Authenticated who = authenticate(request, config_.secret, now);
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
    auto status = protocol::verify_validation_key(*key, who.claims.node_id, config_.server_id, config_.secret, now);
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
