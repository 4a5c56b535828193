#pragma once
// Plain HTTP request/response types between the net layer (which speaks
// HTTP/1.1 with Beast) and the api layer (which decides the answers). Keeps
// Beast's headers out of everything but listener.cpp. Cold path.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/router.hpp"

namespace allspark::net {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string path;     // without the query
  std::string query;    // after '?', raw
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool body_too_large = false;  // the body was over --max-message-bytes and was not read
  bool websocket_upgrade = false;

  // The first header of that (lower-case) name.
  std::optional<std::string_view> header(std::string_view name) const;
  // A query parameter, percent-decoded.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the api decides for a WebSocket upgrade on /v1/connect.
struct UpgradeDecision {
  std::optional<HttpResponse> refusal;  // set: answer this and do not upgrade
  core::ConnectIdentity identity;
};

// Called once with the answer, from any thread (an answer may come from a
// node's home shard).
using Respond = std::function<void(HttpResponse)>;

// Implemented by the api layer; called on the thread that runs the listener.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void handle(const HttpRequest& request, Respond respond) = 0;
  virtual UpgradeDecision upgrade(const HttpRequest& request) = 0;
};

}  // namespace allspark::net
