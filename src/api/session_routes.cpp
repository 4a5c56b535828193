// The HTTP API of sessions (PROTOCOL.md section 5): bodies checked here, the
// change decided and answered on the session's home shard (src/session).
#include <chrono>
#include <random>

#include "api/http_api.hpp"
#include "protocol/ids.hpp"
#include "protocol/session_request.hpp"

namespace allspark::api {

using net::HttpRequest;
using net::HttpResponse;
using protocol::ErrorCode;

namespace {

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
  return session::random_id("s-", random);
}

}  // namespace

void HttpApi::sessions(const HttpRequest& request, Route route, net::Respond respond) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
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

  if (route == Route::sessions) {
    protocol::SessionCreate create;
    if (auto error = protocol::parse_session_create(request.body, create)) {
      return respond(error_response(error->code, error->message));
    }
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
  protocol::SessionMembership body;
  if (auto error = protocol::parse_session_membership(request.body, route == Route::session_join, body)) {
    return respond(error_response(error->code, error->message));
  }
  if (route != Route::session_join && route != Route::session_leave) body = {};  // no fields of its own
  std::string node_id = std::move(body.node_id);
  bool anonymous = body.anonymous;
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
