// The HTTP API of sessions (PROTOCOL.md section 5): bodies checked here, the
// change decided and answered on the session's home shard (src/session).
#include <chrono>
#include <random>

#include "api/http_api.hpp"
#include "protocol/ids.hpp"
#include "protocol/json.hpp"
#include "protocol/utf8.hpp"

namespace allspark::api {

using net::HttpRequest;
using net::HttpResponse;
using protocol::ErrorCode;
using protocol::JsonKind;
using protocol::JsonMember;

namespace {

struct BodyError {
  ErrorCode code;
  std::string message;
};

// A body that must be a JSON object; an empty body counts as {}.
std::optional<BodyError> scan_body(const HttpRequest& request, protocol::JsonScanner& scanner) {
  if (request.body.empty()) return std::nullopt;
  if (!protocol::is_valid_utf8(request.body)) return BodyError{ErrorCode::bad_json, "the body is not valid UTF-8"};
  switch (scanner.scan(request.body)) {
    case protocol::JsonStatus::ok: return std::nullopt;
    case protocol::JsonStatus::not_an_object: return BodyError{ErrorCode::not_an_object, "the body must be a JSON object"};
    case protocol::JsonStatus::duplicate_key: return BodyError{ErrorCode::bad_field, scanner.error()};
    case protocol::JsonStatus::bad_json: return BodyError{ErrorCode::bad_json, scanner.error()};
  }
  return std::nullopt;
}

std::optional<BodyError> read_id(const JsonMember& member, std::string& out) {
  std::string scratch;
  std::string_view value;
  if (member.kind != JsonKind::string || !protocol::json_string_value(member.value, scratch, value)) {
    return BodyError{ErrorCode::bad_field, std::string(member.key) + " must be a string"};
  }
  if (!protocol::is_valid_id(value)) {
    return BodyError{ErrorCode::bad_id, std::string(member.key) + " is not a valid id: 1 to 128 bytes of [A-Za-z0-9._:@-]"};
  }
  out = std::string(value);
  return std::nullopt;
}

std::optional<BodyError> read_bool(const JsonMember& member, bool& out) {
  if (member.kind != JsonKind::true_ && member.kind != JsonKind::false_) {
    return BodyError{ErrorCode::bad_field, std::string(member.key) + " must be true or false"};
  }
  out = member.kind == JsonKind::true_;
  return std::nullopt;
}

// An array of ids (already valid JSON): ["a", "b"].
std::optional<BodyError> read_ids(const JsonMember& member, std::vector<std::string>& out) {
  BodyError not_strings{ErrorCode::bad_field, std::string(member.key) + " must be an array of node ids"};
  if (member.kind != JsonKind::array) return not_strings;
  std::string_view text = member.value.substr(1, member.value.size() - 2);
  auto skip_space = [&text] {
    while (!text.empty() && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r')) text.remove_prefix(1);
  };
  for (skip_space(); !text.empty(); skip_space()) {
    if (text[0] != '"') return not_strings;
    std::size_t end = 1;
    while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
    std::string scratch;
    std::string_view value;
    if (!protocol::json_string_value(text.substr(0, end + 1), scratch, value)) return not_strings;
    if (!protocol::is_valid_id(value)) {
      return BodyError{ErrorCode::bad_id, std::string("\"").append(value.substr(0, 140)) + "\" in " + std::string(member.key) +
                                              " is not a valid id"};
    }
    out.emplace_back(value);
    text.remove_prefix(end + 1);
    skip_space();
    if (!text.empty() && text[0] == ',') text.remove_prefix(1);
  }
  return std::nullopt;
}

std::optional<BodyError> read_create(const protocol::JsonScanner& scanner, session::CreateRequest& out) {
  for (const JsonMember& member : scanner.members()) {
    std::optional<BodyError> error;
    if (member.key == "session_id") {
      error = read_id(member, out.session_id);
    } else if (member.key == "session_type") {
      auto type = member.kind == JsonKind::number ? protocol::json_integer(member.value) : std::nullopt;
      if (!type || (*type != 0 && *type != 1)) return BodyError{ErrorCode::bad_field, "session_type must be 0 or 1"};
      out.session_type = *type;
    } else if (member.key == "game_master_node_id") {
      error = read_id(member, out.game_master_node_id);
    } else if (member.key == "anyone_can_join") {
      error = read_bool(member, out.anyone_can_join);
    } else if (member.key == "allow_anonymous") {
      error = read_bool(member, out.allow_anonymous);
    } else if (member.key == "anonymous") {
      error = read_bool(member, out.anonymous);
    } else if (member.key == "node_ids") {
      error = read_ids(member, out.node_ids);
    } else if (member.key == "description") {
      if (member.kind != JsonKind::string && member.kind != JsonKind::null) {
        return BodyError{ErrorCode::bad_field, "description must be a string or null"};
      }
      out.description = std::string(member.value);  // kept as the JSON text given
    }
    if (error) return error;
  }
  return std::nullopt;
}

HttpResponse answer_of(const session::Answer& answer) {
  if (answer.error) return error_response(*answer.error, answer.message);
  HttpResponse response;
  response.status = answer.status;
  response.body = answer.body;
  return response;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string generated_session_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::uint64_t bits = random();
  std::string id = "s-";
  for (int i = 0; i < 16; ++i, bits >>= 4) id += digits[bits & 15];
  return id;
}

}  // namespace

void HttpApi::sessions(const HttpRequest& request, Route route, net::Respond respond) {
  Authenticated who = authenticate(request, config_.secret, now_seconds_());
  if (who.refusal) return respond(*who.refusal);
  session::Caller caller{who.claims.node_id, who.claims.role};
  auto reply = [respond](session::Answer answer) { respond(answer_of(answer)); };

  if (route == Route::sessions && request.method == "GET") {
    std::string node_id = request.query_param("node_id").value_or(caller.node_id);
    if (!protocol::is_valid_id(node_id)) return respond(error_response(ErrorCode::bad_id, "node_id is not a valid id"));
    // Every shard has every session: any one answers.
    return hooks_.on_session_home(node_id, [caller, node_id, reply](session::Sessions& sessions) {
      reply(sessions.list(caller, node_id));
    });
  }

  protocol::JsonScanner scanner;
  if (auto error = scan_body(request, scanner)) return respond(error_response(error->code, error->message));
  if (route == Route::sessions) {
    session::CreateRequest create;
    if (auto error = read_create(scanner, create)) return respond(error_response(error->code, error->message));
    if (create.session_id.empty()) create.session_id = generated_session_id();
    std::string session_id = create.session_id;
    return hooks_.on_session_home(session_id, [caller, create = std::move(create), reply](session::Sessions& sessions) mutable {
      sessions.create(caller, std::move(create), now_ms(), reply);
    });
  }

  // /v1/sessions/{id}[/join|/leave|/reveal]
  constexpr std::size_t prefix = std::string_view("/v1/sessions/").size();
  std::string session_id = request.path.substr(prefix, request.path.find('/', prefix) - prefix);
  if (!protocol::is_valid_id(session_id)) {
    return respond(error_response(ErrorCode::bad_id, "the session id in the path is not a valid id"));
  }
  std::string node_id;
  bool anonymous = false;
  if (!request.body.empty()) {
    for (const JsonMember& member : scanner.members()) {
      std::optional<BodyError> error;
      if (member.key == "node_id" && route != Route::session_reveal) error = read_id(member, node_id);
      if (member.key == "anonymous" && route == Route::session_join) error = read_bool(member, anonymous);
      if (error) return respond(error_response(error->code, error->message));
    }
  }
  hooks_.on_session_home(session_id, [route, method = request.method, caller, session_id, node_id, anonymous,
                                      reply](session::Sessions& sessions) {
    switch (route) {
      case Route::session_join: return sessions.join(caller, session_id, node_id, anonymous, now_ms(), reply);
      case Route::session_leave: return sessions.leave(caller, session_id, node_id, now_ms(), reply);
      case Route::session_reveal: return sessions.reveal(caller, session_id, now_ms(), reply);
      default: break;
    }
    if (method == "DELETE") return sessions.remove(caller, session_id, now_ms(), reply);
    reply(sessions.describe(caller, session_id));
  });
}

}  // namespace allspark::api
