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

Router::Router(RouterConfig config)
    : config_(std::move(config)), remote_slot_(config_.shards, -1), outbox_(config_.shards) {}

std::uint32_t Router::home_of(std::string_view node_id) const {
  if (config_.shards == 1) return 0;
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(node_id) % config_.shards);
}

Node& Router::node_here(std::string_view node_id) {
  Node& node = directory_.ensure_node(node_id);
  node.home = home_of(node_id);
  return node;
}

void Router::attach(Connection& connection, const ConnectIdentity& identity, std::int64_t now_ms) {
  connection.serial = ++next_connection_;
  connection.id = config_.connection_prefix;
  connection.id += std::to_string(connection.serial);
  connection.role = identity.role;
  by_serial_.emplace(connection.serial, &connection);
  Node& node = directory_.attach(connection, identity.node_id);
  node.home = config_.shard;
  join_client(node, identity.client_id, true);

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
  send_frame(connection, scratch_);

  // What the node has not acknowledged comes next, before any live message.
  if (offline_ != nullptr) offline_->on_attach(connection);
}

// dest_client_id reaches the nodes that have connected with that client
// (section 4): every shard learns of them, and the store keeps them.
void Router::join_client(Node& node, std::string_view client_id, bool tell_other_shards) {
  if (!directory_.set_client(node, client_id) || !tell_other_shards) return;
  if (offline_ != nullptr) offline_->remember_client_node(client_id, node.id);
  for (std::uint32_t shard = 0; shard < config_.shards; ++shard) {
    if (shard != config_.shard) outbox_[shard].members.push_back({std::string(client_id), node.id});
  }
}

void Router::detach(Connection& connection) {
  if (offline_ != nullptr) offline_->on_detach(connection);
  connection.queue.clear();
  by_serial_.erase(connection.serial);
  directory_.detach(connection);
}

Connection* Router::find(std::uint64_t serial) const {
  auto it = by_serial_.find(serial);
  return it == by_serial_.end() ? nullptr : it->second;
}

void Router::restore_member(std::string_view client_id, std::string_view node_id) {
  join_client(node_here(node_id), client_id, false);
}

void Router::on_message(Connection& from, std::string_view text, std::int64_t now_ms) {
  counters_.messages_in.add();
  Sender sender{config_.shard, from.serial};
  if (!decoder_.decode(text, message_, decode_error_)) {
    send_error(sender, decode_error_.id, decode_error_.code, decode_error_.message);
    return;
  }
  const Message& m = message_;
  if (m.type == -7 && offline_ != nullptr) {
    offline_->acknowledge(from, m);
    return;
  }
  if (m.type == -101 && offline_ != nullptr) {
    offline_->request(from, m);
    return;
  }
  if (m.type < 0) {
    // Section 7: the other negative types are not the client's to send.
    send_error(sender, m.id, ErrorCode::bad_field,
               "type " + std::to_string(m.type) + " is not a message type this server accepts");
    return;
  }
  if (!m.dest_session_id.empty()) {
    send_error(sender, m.id, ErrorCode::unknown_session,
               "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  if (m.dest_id.empty() && m.dest_client_id.empty()) return;  // a ping: routed nowhere
  route(from, m, now_ms);
}

void Router::route(Connection& from, const Message& m, std::int64_t now_ms) {
  // The sender as recipients see it: only app and server roles speak for others.
  const Node* sender_node = from.node;
  std::string_view src_id = sender_node->id;
  std::string_view src_client_id = sender_node->client_id;
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
  Sender sender{config_.shard, from.serial};

  // Recipients: the union of dest_id and the nodes of dest_client_id, each
  // once; those homed on another shard go there in this batch's mail.
  ++route_mark_;
  offline_nodes_.clear();
  bool any_recipient = false;
  auto visit_remote = [&](std::uint32_t home, std::string_view node_id) {
    std::int64_t& slot = remote_slot_[home];  // one body per shard per message
    std::vector<RemoteDelivery>& deliveries = outbox_[home].deliveries;
    if (slot < 0) {
      slot = static_cast<std::int64_t>(deliveries.size());
      deliveries.push_back(
          {scratch_, {}, config_.shard, from.serial, std::string(m.id), std::string(src_id), m.ephemeral, now_ms});
    }
    deliveries[static_cast<std::size_t>(slot)].nodes.emplace_back(node_id);
  };
  auto visit = [&](Node& node) {
    if (node.route_mark == route_mark_) return;
    node.route_mark = route_mark_;
    any_recipient = true;
    if (node.home != config_.shard) {
      visit_remote(node.home, node.id);
    } else if (node.connections.empty()) {
      offline_nodes_.push_back(&node);
    } else {
      deliver(node, &from, body);
    }
  };
  for (std::int64_t& slot : remote_slot_) slot = -1;
  if (!m.dest_id.empty()) {
    // With a store, any node may have an inbox, also one that never connected.
    std::uint32_t home = home_of(m.dest_id);
    Node* node = offline_ != nullptr && home == config_.shard ? &node_here(m.dest_id)
                                                                  : directory_.find_node(m.dest_id);
    if (node != nullptr) {
      visit(*node);
    } else if (home != config_.shard) {  // its home shard knows it (or keeps its inbox)
      any_recipient = true;
      visit_remote(home, m.dest_id);
    } else {
      any_recipient = true;
      send_error(sender, m.id, ErrorCode::unavailable, "node \"" + std::string(m.dest_id) + "\" has no live connection");
    }
  }
  if (!m.dest_client_id.empty()) {
    if (Client* client = directory_.find_client(m.dest_client_id)) {
      for (Node* node : client->nodes) visit(*node);
    }
    if (!any_recipient) {
      send_error(sender, m.id, ErrorCode::unavailable,
                 "client \"" + std::string(m.dest_client_id) + "\" has no live connection");
    }
  }
  for (Node* node : offline_nodes_) keep(*node, sender, m.id, src_id, m.ephemeral, body, now_ms);
  body->release();
}

void Router::receive(ShardMail mail) {
  for (const Membership& member : mail.members) restore_member(member.client_id, member.node_id);
  for (const RemoteDelivery& delivery : mail.deliveries) {
    Body* body = Body::copy_of(delivery.body);
    for (const std::string& node_id : delivery.nodes) {
      Node& node = node_here(node_id);
      Sender sender{delivery.sender_shard, delivery.sender};
      if (node.connections.empty()) {
        keep(node, sender, delivery.id, delivery.src_id, delivery.ephemeral, body, delivery.now_ms);
      } else {
        deliver(node, nullptr, body);
      }
    }
    body->release();
  }
  for (const RemoteFrame& frame : mail.frames) {
    if (Connection* connection = find(frame.connection)) send_frame(*connection, frame.frame);
  }
}

void Router::deliver(Node& node, const Connection* from, Body* body) {
  for (Connection* connection : node.connections) {
    if (connection == from || connection->close_code != 0) continue;
    enqueue(*connection, {body, node.dest_head.data(), static_cast<std::uint32_t>(node.dest_head.size()),
                          FrameKind::text});
  }
}

// Section 6: a message for a node with no live connection is the inbox's;
// without one, the sender is told it cannot be delivered.
void Router::keep(Node& node, Sender sender, std::string_view id, std::string_view src_id, bool ephemeral, Body* body,
                  std::int64_t now_ms) {
  if (offline_ != nullptr) {
    offline_->keep(node, sender, id, src_id, ephemeral, *body, now_ms);
  } else if (!ephemeral) {
    send_error(sender, id, ErrorCode::unavailable, "node \"" + node.id + "\" has no live connection");
  }
}

void Router::end_batch() {
  if (offline_ != nullptr) offline_->end_batch();
  for (std::uint32_t shard = 0; shard < config_.shards; ++shard) {
    if (outbox_[shard].empty()) continue;
    ShardMail mail;
    std::swap(mail, outbox_[shard]);
    config_.send_mail(shard, std::move(mail));
  }
}

void Router::reply(Sender to, std::string frame) {
  if (to.shard != config_.shard) {
    outbox_[to.shard].frames.push_back({to.serial, std::move(frame)});
  } else if (Connection* connection = find(to.serial)) {
    send_frame(*connection, frame);
  }
}

void Router::send_error(Sender to, std::string_view id, ErrorCode code, std::string_view text) {
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
  reply(to, std::move(frame));
}

void Router::send_frame(Connection& to, std::string_view frame) {
  Body* body = Body::copy_of(frame);
  enqueue(to, {body, nullptr, 0, FrameKind::text});
  body->release();
}

std::size_t Router::close_node(std::string_view node_id, std::uint16_t code) {
  Node* node = directory_.find_node(node_id);
  if (node == nullptr) return 0;
  std::size_t closed = 0;
  for (Connection* connection : node->connections) {
    if (connection->close_code != 0) continue;
    connection->close_code = code;
    mark_dirty(*connection);
    ++closed;
  }
  return closed;
}

void Router::send_control(Connection& connection, FrameKind kind, std::string_view payload) {
  Body* body = Body::copy_of(payload);
  // Control frames are tiny; they may pass the limit so a close always fits.
  if (connection.queue.push({body, nullptr, 0, kind}, SIZE_MAX)) mark_dirty(connection);
  body->release();
}

void Router::enqueue(Connection& to, const OutFrame& frame) {
  if (to.close_code != 0) return;
  SendQueue& queue = to.held != nullptr ? *to.held : to.queue;
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
