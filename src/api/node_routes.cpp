// The HTTP routes answered on a node's home shard (PROTOCOL.md sections 6
// and 9): GET /v1/inbox, POST /v1/inbox/ack, POST /v1/messages,
// POST /v1/connections/{id}/close.
#include <charconv>
#include <chrono>

#include "api/http_api.hpp"
#include "protocol/ids.hpp"
#include "protocol/json.hpp"
#include "protocol/utf8.hpp"

namespace allspark::api {

using net::HttpRequest;
using net::HttpResponse;
using protocol::ErrorCode;

namespace {

HttpResponse json_answer(std::string body) {
  HttpResponse answer;
  answer.body = std::move(body);
  return answer;
}

// A query parameter that must be an unsigned integer when present.
bool read_seq(const HttpRequest& request, std::string_view name, std::optional<std::uint64_t>& out) {
  auto text = request.query_param(name);
  if (!text) return true;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || text->empty()) return false;
  out = value;
  return true;
}

// Section 9: 202 {"delivered", "stored": [{"node_id", "seq"}]}, and
// "duplicate": true for a retry of an id already stored (nothing new done).
HttpResponse publish_answer(const core::TrackResult& result) {
  if (result.error) return error_response(*result.error, result.error_message);
  if (!result.ok) return error_response(ErrorCode::unavailable, "the store could not keep every copy: retry");
  HttpResponse answer;
  answer.status = 202;
  answer.body = "{\"delivered\":" + std::to_string(result.delivered) + ",\"stored\":[";
  for (std::size_t i = 0; i < result.stored.size(); ++i) {
    if (i > 0) answer.body += ',';
    answer.body += "{\"node_id\":\"" + result.stored[i].node_id + "\",\"seq\":" +  // ids need no escaping
                   std::to_string(result.stored[i].seq) + "}";
  }
  answer.body += ']';
  if (result.session_seq != 0) answer.body += ",\"session_seq\":" + std::to_string(result.session_seq);
  answer.body += result.duplicate ? ",\"duplicate\":true}" : "}";
  return answer;
}

}  // namespace

// Section 9: POST /v1/messages (app role) publishes one message of section 4
// as the node its `src_id` names (else the app's own node), on that node's
// home shard, where the retries of its ids are remembered.
void HttpApi::publish(const HttpRequest& request, net::Respond respond) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
  if (who.refusal) return respond(*who.refusal);
  if (who.claims.role == protocol::Role::node) {
    return respond(error_response(ErrorCode::forbidden, "publishing over HTTP is for the app role"));
  }
  if (!protocol::is_valid_utf8(request.body)) {
    return respond(error_response(ErrorCode::bad_json, "the body is not valid UTF-8"));
  }
  std::string node_id = who.claims.node_id;
  protocol::JsonScanner scanner;
  if (scanner.scan(request.body) == protocol::JsonStatus::ok) {
    for (const protocol::JsonMember& member : scanner.members()) {
      std::string key;
      std::string_view value;
      if (member.key == "src_id" && member.kind == protocol::JsonKind::string &&
          protocol::json_string_value(member.value, key, value) && protocol::is_valid_id(value)) {
        node_id = std::string(value);
      }
    }
  }  // else the router's decoder gives the error
  std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  hooks_.on_home_shard(node_id, [node_id, body = request.body, now_ms, respond](core::Router&, inbox::Inbox& inbox) {
    inbox.publish(node_id, body, now_ms, [respond](core::TrackResult result) { respond(publish_answer(result)); });
  });
}

// Section 6: GET /v1/inbox?from_seq=&to_seq=&limit=&session_id= answers the
// -102 payload for the caller's node.
void HttpApi::inbox_fetch(const HttpRequest& request, net::Respond respond) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
  if (who.refusal) return respond(*who.refusal);
  std::optional<std::uint64_t> from_seq, to_seq, limit;
  if (!read_seq(request, "from_seq", from_seq) || !read_seq(request, "to_seq", to_seq)) {
    return respond(error_response(ErrorCode::bad_field, "from_seq and to_seq must be non-negative integers"));
  }
  if (!read_seq(request, "limit", limit) || (limit && (*limit < 1 || *limit > 1000))) {
    return respond(error_response(ErrorCode::bad_field, "limit must be an integer from 1 to 1000"));
  }
  if (from_seq && to_seq && *from_seq > *to_seq) {
    return respond(error_response(ErrorCode::bad_field, "from_seq is after to_seq"));
  }
  std::string node_id = who.claims.node_id;
  if (auto session_id = request.query_param("session_id")) {
    if (!protocol::is_valid_id(*session_id)) return respond(error_response(ErrorCode::bad_id, "session_id is not a valid id"));
    // Section 6: a session's history, for its members and apps.
    protocol::Role role = who.claims.role;
    return hooks_.on_home_shard(node_id, [node_id, role, session_id = std::string(*session_id), from_seq, to_seq, limit,
                                          respond](core::Router& router, inbox::Inbox& inbox) {
      if (auto refused = inbox.may_read_log(node_id, role, session_id)) {
        return respond(error_response(*refused, *refused == ErrorCode::unknown_session
                                                    ? "session \"" + session_id + "\" does not exist"
                                                    : "only members and apps read a session's log"));
      }
      inbox.fetch_log(router.node_here(node_id), session_id, from_seq, to_seq, limit.value_or(100),
                      [respond](std::string payload) { respond(json_answer(std::move(payload))); });
    });
  }
  hooks_.on_home_shard(node_id, [node_id, from_seq, to_seq, limit, respond](core::Router& router, inbox::Inbox& inbox) {
    inbox.fetch(router.node_here(node_id), from_seq, to_seq, limit.value_or(100),
                [respond](std::string payload) { respond(json_answer(std::move(payload))); });
  });
}

// Section 6: POST /v1/inbox/ack {"seq": N} acknowledges the caller's inbox up to N.
void HttpApi::inbox_ack(const HttpRequest& request, net::Respond respond) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
  if (who.refusal) return respond(*who.refusal);
  protocol::JsonScanner scanner;
  switch (scanner.scan(request.body)) {
    case protocol::JsonStatus::ok: break;
    case protocol::JsonStatus::not_an_object: return respond(error_response(ErrorCode::not_an_object, "the body must be a JSON object"));
    case protocol::JsonStatus::duplicate_key: return respond(error_response(ErrorCode::bad_field, scanner.error()));
    case protocol::JsonStatus::bad_json: return respond(error_response(ErrorCode::bad_json, scanner.error()));
  }
  std::optional<std::int64_t> seq;
  std::optional<std::string> session_id;
  for (const protocol::JsonMember& member : scanner.members()) {
    if (member.key == "session_id") {
      std::string scratch;
      std::string_view value;
      if (member.kind != protocol::JsonKind::string || !protocol::json_string_value(member.value, scratch, value) ||
          !protocol::is_valid_id(value)) {
        return respond(error_response(ErrorCode::bad_id, "session_id must be a valid session id"));
      }
      session_id = std::string(value);
    }
    if (member.key == "seq" && member.kind == protocol::JsonKind::number) seq = protocol::json_integer(member.value);
  }
  if (!seq || *seq < 0) return respond(error_response(ErrorCode::bad_field, "\"seq\" must be a non-negative integer"));
  std::string node_id = who.claims.node_id;
  std::uint64_t up_to = static_cast<std::uint64_t>(*seq);
  if (session_id) {
    // Section 6: moves the node's cursor in that session, on the session's home shard.
    session::Caller caller{node_id, who.claims.role};
    return hooks_.on_session_home(*session_id, [caller, session_id = *session_id, up_to, respond](session::Sessions& sessions) {
      session::Answer answer = sessions.acknowledge(caller, session_id, up_to);
      respond(answer.error ? error_response(*answer.error, answer.message) : json_answer(answer.body));
    });
  }
  hooks_.on_home_shard(node_id, [node_id, up_to, respond](core::Router& router, inbox::Inbox& inbox) {
    inbox.acknowledge(router.node_here(node_id), up_to);
    respond(json_answer("{}"));
  });
}

// Section 9: POST /v1/connections/{node_id}/close (app role) closes every
// connection of that node with 4003.
void HttpApi::connection_close(const HttpRequest& request, net::Respond respond) {
  Authenticated who = authenticate(request, keys_, now_seconds_());
  if (who.refusal) return respond(*who.refusal);
  if (who.claims.role == protocol::Role::node) {
    return respond(error_response(ErrorCode::forbidden, "closing connections is for the app role"));
  }
  constexpr std::size_t prefix = std::string_view("/v1/connections/").size();
  std::string node_id = request.path.substr(prefix, request.path.size() - prefix - std::string_view("/close").size());
  if (!protocol::is_valid_id(node_id)) return respond(error_response(ErrorCode::bad_id, "not a valid node id"));
  hooks_.on_home_shard(node_id, [node_id, respond](core::Router& router, inbox::Inbox&) {
    std::size_t closed = router.close_node(node_id, 4003);
    respond(json_answer("{\"closed\":" + std::to_string(closed) + "}"));
  });
}

}  // namespace allspark::api
