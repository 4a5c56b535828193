#include "core/router.hpp"

#include "protocol/frames.hpp"

namespace allspark::core {

using protocol::ErrorCode;
using protocol::Message;
using protocol::Role;
using protocol::append_id_field;
using protocol::append_int;

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
  send_frame(connection, protocol::welcome_frame(
                             {identity.node_id, identity.client_id, connection.id, config_.server_id, now_ms}));

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
  // Section 4: a message waits behind the same connection's earlier ones
  // while those are being stored.
  if (from.waiting && offline_ != nullptr && offline_->hold(from, text, m)) return;
  if (!m.dest_session_id.empty() && sessions_ != nullptr) {
    sessions_->on_message(from, m, now_ms);  // acks to a session included
    return;
  }
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
  if (!m.dest_session_id.empty()) {  // a router without sessions (unit tests)
    send_error(sender, m.id, ErrorCode::unknown_session,
               "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  if (m.dest_id.empty() && m.dest_client_id.empty()) return;  // a ping: routed nowhere
  route(from, m, now_ms);
}

void Router::route(Connection& from, const Message& m, std::int64_t now_ms, std::function<void(TrackResult)> done,
                   RouteAs as) {
  // The sender as recipients see it: only app and server roles speak for others.
  const Node* sender_node = from.node;
  std::string_view src_id = sender_node->id;
  std::string_view src_client_id = sender_node->client_id;
  if (!m.src_id.empty() && from.role != Role::node) {
    src_id = m.src_id;
    const Node* on_behalf = directory_.find_node(src_id);
    src_client_id = on_behalf != nullptr ? std::string_view(on_behalf->client_id) : std::string_view();
  }
  if (!as.anonymous_src.empty()) src_id = as.anonymous_src, src_client_id = {};
  Sender sender{config_.shard, from.serial};

  // Section 6: with `ack` (and for a publish) the sender hears once every
  // copy is stored; live recipients of an `ack` get the stored copy.
  std::uint64_t track = 0;
  if (m.ack || done) {
    if (offline_ == nullptr) {
      send_error(sender, m.id, ErrorCode::unavailable, "this server has no store to keep the message");
      if (done) done({});
      return;
    }
    track = offline_->open_track(done ? nullptr : &from, sender, sender_node->id, m.id, m.ack, std::move(done));
    if (track == 0) return;  // a retry of a message already stored: answered
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

  // Recipients: the union of dest_id and the nodes of dest_client_id, each
  // once; those homed on another shard go there in this batch's mail.
  ++route_mark_;
  kept_nodes_.clear();
  bool any_recipient = false;
  bool local_recipient = false;
  const bool store_live = m.ack;  // a local: enqueue's writes cannot make the compiler reload it per node
  std::uint64_t delivered = 0;
  std::uint32_t shards = 0;
  auto visit_remote = [&](std::uint32_t home, std::string_view node_id) {
    std::int64_t& slot = remote_slot_[home];  // one body per shard per message
    std::vector<RemoteDelivery>& deliveries = outbox_[home].deliveries;
    if (slot < 0) {
      slot = static_cast<std::int64_t>(deliveries.size());
      deliveries.push_back({scratch_, {}, config_.shard, from.serial, std::string(m.id), std::string(src_id),
                            m.ephemeral, m.ack, track, now_ms, std::string(as.dest_alias)});
      ++shards;
    }
    deliveries[static_cast<std::size_t>(slot)].nodes.emplace_back(node_id);
  };
  auto visit = [&](Node& node) {
    if (node.route_mark == route_mark_) return;
    node.route_mark = route_mark_;
    any_recipient = true;
    if (node.home != config_.shard) {
      visit_remote(node.home, node.id);
      return;
    }
    local_recipient = true;
    if (node.connections.empty() || store_live) {
      kept_nodes_.push_back(&node);
    } else {
      delivered += deliver(node, &from, body);
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
  KeepRequest request{sender, m.id, src_id, m.ephemeral, m.ack, track, as.dest_alias};
  for (Node* node : kept_nodes_) keep(*node, request, body, now_ms);
  body->release();
  if (track == 0) return;
  if (local_recipient) {
    offline_->end_delivery(sender, track, delivered);
    ++shards;
  }
  offline_->expect(track, shards);  // last: it may finish the track
}

void Router::receive(ShardMail mail) {
  for (const Membership& member : mail.members) restore_member(member.client_id, member.node_id);
  for (const RemoteDelivery& delivery : mail.deliveries) {
    Body* body = Body::copy_of(delivery.body);
    KeepRequest request{{delivery.sender_shard, delivery.sender}, delivery.id, delivery.src_id, delivery.ephemeral,
                        delivery.ack, delivery.track, delivery.dest_alias};
    std::uint64_t delivered = 0;
    for (const std::string& node_id : delivery.nodes) {
      Node& node = node_here(node_id);
      if (node.connections.empty() || delivery.ack) {
        keep(node, request, body, delivery.now_ms);
      } else {
        delivered += deliver(node, nullptr, body);
      }
    }
    if (delivery.track != 0 && offline_ != nullptr) offline_->end_delivery(request.sender, delivery.track, delivered);
    body->release();
  }
  for (const RemoteFrame& frame : mail.frames) {
    if (Connection* connection = find(frame.connection)) send_frame(*connection, frame.frame);
  }
  for (const TrackReport& report : mail.reports) {
    if (offline_ != nullptr) offline_->on_report(report);
  }
}

std::uint64_t Router::deliver(Node& node, const Connection* from, Body* body) {
  std::uint64_t written = 0;
  for (Connection* connection : node.connections) {
    if (connection == from || connection->close_code != 0) continue;
    enqueue(*connection, {body, node.dest_head.data(), static_cast<std::uint32_t>(node.dest_head.size()),
                          FrameKind::text});
    ++written;
  }
  return written;
}

// Section 6: a message for a node with no live connection (or with `ack`) is
// the inbox's; without one, the sender is told it cannot be delivered.
void Router::keep(Node& node, const KeepRequest& request, Body* body, std::int64_t now_ms) {
  if (offline_ != nullptr) {
    offline_->keep(node, request, *body, now_ms);
  } else if (!request.ephemeral) {
    send_error(request.sender, request.id, ErrorCode::unavailable, "node \"" + node.id + "\" has no live connection");
  }
}

void Router::end_batch() {
  if (sessions_ != nullptr) sessions_->end_batch();
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

void Router::report(std::uint32_t shard, TrackReport report) {
  if (shard != config_.shard) {
    outbox_[shard].reports.push_back(std::move(report));
  } else if (offline_ != nullptr) {
    offline_->on_report(report);
  }
}

void Router::send_error(Sender to, std::string_view id, ErrorCode code, std::string_view text) {
  counters_.errors[static_cast<int>(code)].add();
  reply(to, protocol::error_frame(id, code, text));
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
