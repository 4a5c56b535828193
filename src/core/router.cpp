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
  connection.serial = ++next_connection_;
  connection.id = config_.connection_prefix;
  connection.id += std::to_string(connection.serial);
  by_serial_.emplace(connection.serial, &connection);
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

  // Section 3: what the node has not acknowledged comes next, before any live
  // message; what this batch routed to it while offline is submitted first so
  // that the replay sees it.
  if (config_.store != nullptr && connection.node->has_stored()) {
    end_batch();
    auto replay = std::make_unique<Replay>();
    replay->after_seq = connection.node->acked_seq;
    replays_.emplace(connection.serial, std::move(replay));
    connection.replaying = true;
    fetch_replay_page(connection);
  }
}

void Router::detach(Connection& connection) {
  connection.queue.clear();
  by_serial_.erase(connection.serial);
  replays_.erase(connection.serial);
  connection.replaying = false;
  directory_.detach(connection);
}

Connection* Router::find(std::uint64_t serial) const {
  auto it = by_serial_.find(serial);
  return it == by_serial_.end() ? nullptr : it->second;
}

void Router::restore_inbox(const std::vector<store::InboxState>& states) {
  for (const store::InboxState& state : states) {
    Node& node = directory_.ensure_node(state.node_id);
    node.last_seq = state.last_seq;
    // Entries may have gaps (retention); what matters is whether any is kept.
    node.acked_seq = state.stored > 0 ? 0 : state.last_seq;
  }
}

void Router::fetch_replay_page(Connection& connection) {
  Replay& replay = *replays_.at(connection.serial);
  replay.fetching = true;
  std::uint64_t serial = connection.serial;
  config_.store->fetch(connection.node->id, replay.after_seq, 1000, config_.replay_page_bytes,
                       [this, serial](std::vector<store::InboxEntry> entries, bool more) {
                         config_.post([this, serial, entries = std::move(entries), more]() mutable {
                           on_replay_page(serial, std::move(entries), more);
                         });
                       });
}

void Router::on_replay_page(std::uint64_t serial, std::vector<store::InboxEntry> entries, bool more) {
  Connection* connection = find(serial);
  auto it = replays_.find(serial);
  if (connection == nullptr || it == replays_.end()) return;
  Replay& replay = *it->second;
  replay.fetching = false;
  for (const store::InboxEntry& entry : entries) {
    // Each exactly as first delivered (section 6); the page size keeps the
    // queue under its limit, so a large inbox is paced, not a slow consumer.
    Body* body = Body::copy_of(entry.frame);
    connection->queue.push({body, nullptr, 0, FrameKind::text}, SIZE_MAX);
    body->release();
    replay.after_seq = entry.seq;
  }
  mark_dirty(*connection);
  if (more) return;  // on_drained asks for the next page
  // The inbox is out: the live frames that waited follow, in order.
  connection->replaying = false;
  while (!replay.held.empty()) {
    enqueue(*connection, replay.held.at(0));
    replay.held.pop_front();
  }
  replays_.erase(it);
}

void Router::on_drained(Connection& connection) {
  if (!connection.replaying) return;
  auto it = replays_.find(connection.serial);
  if (it != replays_.end() && !it->second->fetching) fetch_replay_page(connection);
}

void Router::on_message(Connection& from, std::string_view text, std::int64_t now_ms) {
  counters_.messages_in.add();
  if (!decoder_.decode(text, message_, decode_error_)) {
    send_error(from, decode_error_.id, decode_error_.code, decode_error_.message);
    return;
  }
  const Message& m = message_;
  if (m.type == -7) {
    acknowledge(from, m);
    return;
  }
  if (m.type < 0) {
    // Section 7: -101 comes with the delivery issue; any other negative type
    // is not the client's to send.
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
    // With a store, any node may have an inbox, also one that never connected.
    Node* node = config_.store != nullptr ? &directory_.ensure_node(m.dest_id) : directory_.find_node(m.dest_id);
    if (node != nullptr) {
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
  for (Node* node : offline_) store_for(*node, from, m, *body, now_ms);
  body->release();
}

// Section 6: a message to a node alone, for a node with no live connection,
// goes to its inbox with the next seq; the sender hears -4 once it is stored.
void Router::store_for(Node& node, const Connection& from, const Message& m, const Body& body, std::int64_t now_ms) {
  if (m.ephemeral) {
    counters_.inbox_ephemeral_dropped.add();
    return;
  }
  if (config_.store == nullptr) {
    send_error(const_cast<Connection&>(from), m.id, ErrorCode::unavailable,
               "node \"" + node.id + "\" has no live connection");
    return;
  }
  std::uint64_t seq = ++node.last_seq;
  store::InboxEntry& entry = pending_entries_.emplace_back();
  entry.node_id = node.id;
  entry.seq = seq;
  entry.stored_at_ms = now_ms;
  entry.frame.reserve(node.dest_head.size() + 24 + body.size());
  entry.frame = node.dest_head;
  entry.frame += "\"seq\":";
  append_int(entry.frame, static_cast<std::int64_t>(seq));
  entry.frame += ',';
  entry.frame += body.view();
  pending_replies_.push_back({from.serial, std::string(m.id), node.id});
}

void Router::end_batch() {
  if (pending_entries_.empty()) return;
  std::vector<store::InboxEntry> entries;
  entries.swap(pending_entries_);
  auto replies = std::make_shared<std::vector<PendingReply>>();
  replies->swap(pending_replies_);
  config_.store->append(std::move(entries), [this, replies](bool ok) {
    config_.post([this, replies, ok] { on_stored(*replies, ok); });
  });
}

void Router::on_stored(const std::vector<PendingReply>& replies, bool ok) {
  for (const PendingReply& reply : replies) {
    if (ok) counters_.inbox_stored.add(); else counters_.inbox_store_failures.add();
    Connection* sender = find(reply.sender);
    if (sender == nullptr) continue;  // gone: the message is stored all the same
    if (!ok) {
      send_error(*sender, reply.id, ErrorCode::unavailable,
                 "the store could not keep the message for node \"" + reply.node + "\": retry");
      continue;
    }
    scratch_.assign("{\"type\":-4,");
    if (!reply.id.empty()) {
      append_id_field(scratch_, "id", reply.id);
      scratch_ += ',';
    }
    append_id_field(scratch_, "src_id", reply.node);
    scratch_ += '}';
    Body* body = Body::copy_of(scratch_);
    enqueue(*sender, {body, nullptr, 0, FrameKind::text});
    body->release();
  }
}

// Section 6: {"type": -7, "seq": N} removes everything up to N from the
// node's inbox. A seq beyond the newest acknowledges everything.
void Router::acknowledge(Connection& from, const Message& m) {
  if (!m.dest_session_id.empty()) {
    send_error(from, m.id, ErrorCode::unknown_session,
               "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  auto seq = m.seq.empty() ? std::nullopt : protocol::json_integer(m.seq);
  if (!seq || *seq < 0) {
    send_error(from, m.id, ErrorCode::bad_field, "an ack (type -7) needs \"seq\": a non-negative integer");
    return;
  }
  Node& node = *from.node;
  std::uint64_t up_to = std::min<std::uint64_t>(static_cast<std::uint64_t>(*seq), node.last_seq);
  if (up_to <= node.acked_seq) return;
  node.acked_seq = up_to;
  if (config_.store != nullptr) config_.store->ack(node.id, up_to);
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
  SendQueue& queue = to.replaying ? replays_.at(to.serial)->held : to.queue;
  if (!queue.push(frame, config_.max_queue_bytes)) {
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
