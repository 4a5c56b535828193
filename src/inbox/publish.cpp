// POST /v1/messages (PROTOCOL.md section 9): a backend's message, checked as
// a WebSocket message is, then routed as the node it speaks for, tracked
// until every copy is stored.
#include "inbox/inbox.hpp"

namespace allspark::inbox {

using protocol::ErrorCode;

void Inbox::publish(std::string_view node_id, std::string_view text, std::int64_t now_ms,
                    std::function<void(core::TrackResult)> done) {
  auto refuse = [&](ErrorCode code, std::string message) {
    core::TrackResult refused;
    refused.error = code;
    refused.error_message = std::move(message);
    done(std::move(refused));
  };
  protocol::Message m;
  protocol::DecodeError error;
  if (!publish_decoder_.decode(text, m, error)) return refuse(error.code, error.message);
  if (m.type < 0) return refuse(ErrorCode::bad_field, "a published message needs a type >= 0");
  if (!m.dest_session_id.empty()) {
    if (!config_.session_publish) return refuse(ErrorCode::unknown_session, "no such session");
    return config_.session_publish(router_.node_here(node_id), m, now_ms, std::move(done));
  }
  if (m.dest_id.empty() && m.dest_client_id.empty()) {  // a publish is never a ping
    return refuse(ErrorCode::no_destination, "a published message needs dest_id or dest_client_id");
  }
  core::Connection origin;  // the app, speaking for `node_id`; never a recipient
  origin.node = &router_.node_here(node_id);
  origin.role = protocol::Role::app;
  router_.route(origin, m, now_ms, std::move(done));
}

}  // namespace allspark::inbox
