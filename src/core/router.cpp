#include "core/router.hpp"

#include <charconv>

#include "protocol/json.hpp"

namespace allspark::core {

using protocol::ErrorCode;
using protocol::Message;
using protocol::Role;

namespace {

void append_int(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

// Appends `"key":"value"` where value is an id (nothing to escape).
void append_id_field(std::string& out, std::string_view key, std::string_view id) {
  out += '"';
  out += key;
  out += "\":\"";
  out += id;
  out += '"';
}

}  // namespace

Router::Router(RouterConfig config) : config_(std::move(config)) {}

void Router::attach(Connection& connection, const ConnectIdentity& identity, std::int64_t now_ms) {
  connection.id = config_.connection_prefix;
  connection.id += std::to_string(++next_connection_);
  connection.role = identity.role;
  directory_.attach(connection, identity.node_id, identity.client_id);

  // Section 3: the welcome is the first frame.
  scratch_.assign("{\"type\":-10,\"payload\":{");
  append_id_field(scratch_, "node_id", identity.node_id);
  if (!identity.client_id.empty()) {
    scratch_ += ',';
    append_id_field(scratch_, "client_id", identity.client_id);
  }
  scratch_ += ',';
  append_id_field(scratch_, "connection_id", connection.id);
  scratch_ += ',';
  append_id_field(scratch_, "server_id", config_.server_id);
  scratch_ += ",\"server_time\":";
  append_int(scratch_, now_ms);
  scratch_ += "}}";
  Body* body = Body::copy_of(scratch_);
  enqueue(connection, {body, nullptr, 0, FrameKind::text});
  body->release();
}

void Router::detach(Connection& connection) {
  connection.queue.clear();
  directory_.detach(connection);
}

void Router::on_message(Connection& from, std::string_view text, std::int64_t now_ms) {
  counters_.messages_in.add();
  if (!decoder_.decode(text, message_, decode_error_)) {
    send_error(from, decode_error_.id, decode_error_.code, decode_error_.message);
    return;
  }
  const Message& m = message_;
  if (m.type < 0) {
    // Section 7: the protocol's own types this server handles come with the
    // inbox and sessions; any other negative type is refused.
    send_error(from, m.id, ErrorCode::bad_field,
               "type " + std::to_string(m.type) + " is not a message type this server accepts");
    return;
  }
  if (!m.dest_session_id.empty()) {
    send_error(from, m.id, ErrorCode::unknown_session,
               "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  if (m.dest_id.empty() && m.dest_client_id.empty()) return;  // a ping: routed nowhere
  route(from, m, now_ms);
}

void Router::route(Connection& from, const Message& m, std::int64_t now_ms) {
  // The sender as recipients see it: only app and server roles speak for others.
  const Node* sender = from.node;
  std::string_view src_id = sender->id;
  std::string_view src_client_id = sender->client_id;
  if (!m.src_id.empty() && from.role != Role::node) {
    src_id = m.src_id;
    const Node* on_behalf = directory_.find_node(src_id);
    src_client_id = on_behalf != nullptr ? std::string_view(on_behalf->client_id) : std::string_view();
  }

  // The body after the per-recipient head, serialised once for every recipient.
  scratch_.clear();
  append_id_field(scratch_, "src_id", src_id);
  if (!src_client_id.empty()) {
    scratch_ += ',';
    append_id_field(scratch_, "src_client_id", src_client_id);
  }
  scratch_ += ",\"timestamp\":";
  append_int(scratch_, now_ms);
  for (std::string_view member : m.forwarded) {
    scratch_ += ',';
    scratch_ += member;
  }
  scratch_ += '}';
  Body* body = Body::copy_of(scratch_);

  // Recipients: the union of dest_id and the nodes of dest_client_id, each once.
  ++route_mark_;
  offline_.clear();
  bool any_recipient = false;
  auto visit = [&](Node& node) {
    if (node.route_mark == route_mark_) return;
    node.route_mark = route_mark_;
    any_recipient = true;
    if (node.connections.empty()) {
      offline_.push_back(&node);
    } else {
      deliver(node, from, body);
    }
  };
  if (!m.dest_id.empty()) {
    if (Node* node = directory_.find_node(m.dest_id)) {
      visit(*node);
    } else {
      any_recipient = true;
      send_error(from, m.id, ErrorCode::unavailable,
                 "node \"" + std::string(m.dest_id) + "\" has no live connection");
    }
  }
  if (!m.dest_client_id.empty()) {
    if (Client* client = directory_.find_client(m.dest_client_id)) {
      for (Node* node : client->nodes) visit(*node);
    }
    if (!any_recipient) {
      send_error(from, m.id, ErrorCode::unavailable,
                 "client \"" + std::string(m.dest_client_id) + "\" has no live connection");
    }
  }
  // Until the inbox exists (part 2), a message for a node with no live
  // connection cannot be kept: the sender is told, one error per node.
  for (Node* node : offline_) {
    send_error(from, m.id, ErrorCode::unavailable,
               "node \"" + node->id + "\" has no live connection");
  }
  body->release();
}

void Router::deliver(Node& node, const Connection& from, Body* body) {
  for (Connection* connection : node.connections) {
    if (connection == &from || connection->close_code != 0) continue;
    enqueue(*connection, {body, node.dest_head.data(), static_cast<std::uint32_t>(node.dest_head.size()),
                          FrameKind::text});
  }
}

void Router::send_error(Connection& to, std::string_view id, ErrorCode code, std::string_view text) {
  counters_.errors[static_cast<int>(code)].add();
  std::string frame = "{\"type\":-6,";
  if (!id.empty()) {
    append_id_field(frame, "id", id);
    frame += ',';
  }
  frame += "\"payload\":{\"code\":\"";
  frame += protocol::code_name(code);
  frame += "\",\"message\":";
  protocol::append_json_string(frame, text);
  frame += "}}";
  Body* body = Body::copy_of(frame);
  enqueue(to, {body, nullptr, 0, FrameKind::text});
  body->release();
}

void Router::send_control(Connection& connection, FrameKind kind, std::string_view payload) {
  Body* body = Body::copy_of(payload);
  // Control frames are tiny; they may pass the limit so a close always fits.
  if (connection.queue.push({body, nullptr, 0, kind}, SIZE_MAX)) mark_dirty(connection);
  body->release();
}

void Router::enqueue(Connection& to, const OutFrame& frame) {
  if (to.close_code != 0) return;
  if (!to.queue.push(frame, config_.max_queue_bytes)) {
    // Section 8: a slow consumer is closed with 4001, never allowed to grow
    // memory without bound.
    counters_.slow_consumers.add();
    to.close_code = 4001;
  } else {
    counters_.frames_out.add();
  }
  mark_dirty(to);
}

void Router::mark_dirty(Connection& connection) {
  if (connection.dirty) return;
  connection.dirty = true;
  dirty_.push_back(&connection);
}

void Router::clear_dirty() {
  for (Connection* connection : dirty_) connection->dirty = false;
  dirty_.clear();
}

}  // namespace allspark::core
