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

  // What the node has not acknowledged comes next, before any live message;
  // what this batch routed to it while offline is submitted first so that the
  // replay sees it.
  if (config_.store != nullptr && node.has_stored()) {
    end_batch();
    auto replay = std::make_unique<Replay>();
    replay->after_seq = node.acked_seq;
    replays_.emplace(connection.serial, std::move(replay));
    connection.replaying = true;
    fetch_replay_page(connection);
  }
}

// dest_client_id reaches the nodes that have connected with that client
// (section 4): every shard learns of them, and the store keeps them.
void Router::join_client(Node& node, std::string_view client_id, bool tell_other_shards) {
  if (!directory_.set_client(node, client_id) || !tell_other_shards) return;
  if (config_.store != nullptr) config_.store->remember_client_node(std::string(client_id), node.id);
  for (std::uint32_t shard = 0; shard < config_.shards; ++shard) {
    if (shard != config_.shard) outbox_[shard].members.push_back({std::string(client_id), node.id});
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
    if (home_of(state.node_id) != config_.shard) continue;
    Node& node = node_here(state.node_id);
    node.last_seq = state.last_seq;
    // Entries may have gaps (retention); what matters is whether any is kept.
    node.acked_seq = state.stored > 0 ? 0 : state.last_seq;
  }
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
  if (m.type == -7) {
    acknowledge(from, m);
    return;
  }
  if (m.type < 0) {
    // Section 7: -101 comes with the delivery issue; any other negative type
    // is not the client's to send.
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
  offline_.clear();
  bool any_recipient = false;
  auto visit_remote = [&](std::uint32_t home, std::string_view node_id) {
    std::int64_t& slot = remote_slot_[home];  // one body per shard per message
    std::vector<RemoteDelivery>& deliveries = outbox_[home].deliveries;
    if (slot < 0) {
      slot = static_cast<std::int64_t>(deliveries.size());
      deliveries.push_back({scratch_, {}, config_.shard, from.serial, std::string(m.id), m.ephemeral, now_ms});
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
      offline_.push_back(&node);
    } else {
      deliver(node, &from, body);
    }
  };
  for (std::int64_t& slot : remote_slot_) slot = -1;
  if (!m.dest_id.empty()) {
    // With a store, any node may have an inbox, also one that never connected.
    std::uint32_t home = home_of(m.dest_id);
    Node* node = config_.store != nullptr && home == config_.shard ? &node_here(m.dest_id)
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
  for (Node* node : offline_) store_for(*node, sender, m.id, m.ephemeral, *body, now_ms);
  body->release();
}

void Router::receive(ShardMail mail) {
  for (const Membership& member : mail.members) restore_member(member.client_id, member.node_id);
  for (const RemoteDelivery& delivery : mail.deliveries) {
    Body* body = Body::copy_of(delivery.body);
    for (const std::string& node_id : delivery.nodes) {
      Node& node = node_here(node_id);
      deliver_or_store(node, nullptr, {delivery.sender_shard, delivery.sender}, delivery.id, delivery.ephemeral,
                       body, delivery.now_ms);
    }
    body->release();
  }
  for (const RemoteFrame& frame : mail.frames) {
    if (Connection* connection = find(frame.connection)) send_frame(*connection, frame.frame);
  }
}

void Router::deliver_or_store(Node& node, const Connection* from, Sender sender, std::string_view id, bool ephemeral,
                              Body* body, std::int64_t now_ms) {
  if (node.connections.empty()) {
    store_for(node, sender, id, ephemeral, *body, now_ms);
  } else {
    deliver(node, from, body);
  }
}

void Router::deliver(Node& node, const Connection* from, Body* body) {
  for (Connection* connection : node.connections) {
    if (connection == from || connection->close_code != 0) continue;
    enqueue(*connection, {body, node.dest_head.data(), static_cast<std::uint32_t>(node.dest_head.size()),
                          FrameKind::text});
  }
}

// Section 6: a message to a node alone, for a node with no live connection,
// goes to its inbox with the next seq; the sender hears -4 once it is stored.
void Router::store_for(Node& node, Sender sender, std::string_view id, bool ephemeral, const Body& body,
                       std::int64_t now_ms) {
  if (ephemeral) {
    counters_.inbox_ephemeral_dropped.add();
    return;
  }
  if (config_.store == nullptr) {
    send_error(sender, id, ErrorCode::unavailable, "node \"" + node.id + "\" has no live connection");
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
  pending_replies_.push_back({sender, std::string(id), node.id});
}

void Router::end_batch() {
  if (!pending_entries_.empty()) {
    std::vector<store::InboxEntry> entries;
    entries.swap(pending_entries_);
    auto replies = std::make_shared<std::vector<PendingReply>>();
    replies->swap(pending_replies_);
    config_.store->append(std::move(entries), [this, replies](bool ok) {
      config_.post([this, replies, ok] { on_stored(*replies, ok); });
    });
  }
  for (std::uint32_t shard = 0; shard < config_.shards; ++shard) {
    if (outbox_[shard].empty()) continue;
    ShardMail mail;
    std::swap(mail, outbox_[shard]);
    config_.send_mail(shard, std::move(mail));
  }
}

void Router::on_stored(const std::vector<PendingReply>& replies, bool ok) {
  for (const PendingReply& pending : replies) {
    if (!ok) {
      counters_.inbox_store_failures.add();
      send_error(pending.sender, pending.id, ErrorCode::unavailable,
                 "the store could not keep the message for node \"" + pending.node + "\": retry");
      continue;
    }
    counters_.inbox_stored.add();
    std::string frame = "{\"type\":-4,";
    if (!pending.id.empty()) {
      append_id_field(frame, "id", pending.id);
      frame += ',';
    }
    append_id_field(frame, "src_id", pending.node);
    frame += '}';
    reply(pending.sender, std::move(frame));
  }
}

// Section 6: {"type": -7, "seq": N} removes everything up to N from the
// node's inbox. A seq beyond the newest acknowledges everything.
void Router::acknowledge(Connection& from, const Message& m) {
  Sender sender{config_.shard, from.serial};
  if (!m.dest_session_id.empty()) {
    send_error(sender, m.id, ErrorCode::unknown_session, "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  auto seq = m.seq.empty() ? std::nullopt : protocol::json_integer(m.seq);
  if (!seq || *seq < 0) {
    send_error(sender, m.id, ErrorCode::bad_field, "an ack (type -7) needs \"seq\": a non-negative integer");
    return;
  }
  Node& node = *from.node;
  std::uint64_t up_to = std::min<std::uint64_t>(static_cast<std::uint64_t>(*seq), node.last_seq);
  if (up_to <= node.acked_seq) return;
  node.acked_seq = up_to;
  if (config_.store != nullptr) config_.store->ack(node.id, up_to);
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
