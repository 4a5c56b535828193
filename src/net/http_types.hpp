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

// {"error":{"code","message"}} with `status` (section 8), for the answers
// the net layer gives itself (malformed HTTP, a bad WebSocket handshake).
HttpResponse json_error(int status, std::string_view code, std::string_view message);

// The whole HTTP/1.1 answer as bytes: status line, Server, Content-Type (when
// there is a body or an error), the answer's headers, Connection: close when
// not kept alive, Content-Length, the body. The same fields the Beast path writes.
std::string serialize_response(const HttpResponse& answer, bool keep_alive);

// What the api decides for a WebSocket upgrade on /v1/connect.
struct UpgradeDecision {
  std::optional<HttpResponse> refusal;  // set: answer this and do not upgrade
  core::ConnectIdentity identity;
};

// Called once with the answer, from any thread (an answer may come from a
// node's home shard).
using Respond = std::function<void(HttpResponse)>;

// Takes an accepted upgrade to its node's home shard: the socket's
// descriptor, who it is, the bytes read past the HTTP request, and the 101
// answer, not written yet: the shard writes it with the welcome frame in one
// writev (one segment fewer per connect).
using UpgradeHandoff =
    std::function<void(int fd, core::ConnectIdentity identity, std::string leftover, std::string handshake_reply)>;

// Implemented by the api layer; called on the thread that runs the listener.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void handle(const HttpRequest& request, Respond respond) = 0;
  virtual UpgradeDecision upgrade(const HttpRequest& request) = 0;
};

}  // namespace allspark::net
