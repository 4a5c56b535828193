#include "inbox/inbox.hpp"

#include <charconv>

#include "protocol/json.hpp"

namespace allspark::inbox {

using protocol::ErrorCode;

namespace {
void append_int(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}
}  // namespace

Inbox::Inbox(core::Router& router, store::Store& store, InboxConfig config)
    : router_(router), store_(store), config_(std::move(config)) {}

void Inbox::restore(const std::vector<store::InboxState>& states) {
  for (const store::InboxState& state : states) {
    if (router_.home_of(state.node_id) != router_.config().shard) continue;
    core::Node& node = router_.node_here(state.node_id);
    node.last_seq = state.last_seq;
    // Entries may have gaps (retention); what matters is whether any is kept.
    node.acked_seq = state.stored > 0 ? 0 : state.last_seq;
  }
}

// A message to a node alone, for a node with no live connection, goes to its
// inbox with the next seq; the sender hears -4 once it is stored.
void Inbox::keep(core::Node& node, core::Sender sender, std::string_view id, bool ephemeral, const core::Body& body,
                 std::int64_t now_ms) {
  if (ephemeral) {
    counters_.ephemeral_dropped.add();
    return;
  }
  std::uint64_t seq = ++node.last_seq;
  store::InboxEntry& entry = pending_entries_.emplace_back();
  entry.node_id = node.id;
  entry.seq = seq;
  entry.stored_at_ms = now_ms;
  // Stored exactly as it is delivered: the recipient's head with its seq.
  entry.frame.reserve(node.dest_head.size() + 24 + body.size());
  entry.frame = node.dest_head;
  entry.frame += "\"seq\":";
  append_int(entry.frame, seq);
  entry.frame += ',';
  entry.frame += body.view();
  pending_replies_.push_back({sender, std::string(id), node.id});
}

void Inbox::end_batch() {
  if (pending_entries_.empty()) return;
  std::vector<store::InboxEntry> entries;
  entries.swap(pending_entries_);
  auto replies = std::make_shared<std::vector<PendingReply>>();
  replies->swap(pending_replies_);
  store_.append(std::move(entries), [this, replies](bool ok) {
    config_.post([this, replies, ok] { on_stored(*replies, ok); });
  });
}

void Inbox::on_stored(const std::vector<PendingReply>& replies, bool ok) {
  for (const PendingReply& pending : replies) {
    if (!ok) {
      counters_.store_failures.add();
      router_.send_error(pending.sender, pending.id, ErrorCode::unavailable,
                         "the store could not keep the message for node \"" + pending.node + "\": retry");
      continue;
    }
    counters_.stored.add();
    std::string frame = "{\"type\":-4,";
    if (!pending.id.empty()) frame += "\"id\":\"" + pending.id + "\",";  // ids need no escaping
    frame += "\"src_id\":\"" + pending.node + "\"}";
    router_.reply(pending.sender, std::move(frame));
  }
}

void Inbox::remember_client_node(std::string_view client_id, std::string_view node_id) {
  store_.remember_client_node(std::string(client_id), std::string(node_id));
}

// Section 3: after the welcome, what the node has not acknowledged, before any
// live message. What this batch kept for the node is submitted first so that
// the replay sees it.
void Inbox::on_attach(core::Connection& connection) {
  if (!connection.node->has_stored()) return;
  end_batch();
  auto replay = std::make_unique<Replay>();
  replay->after_seq = connection.node->acked_seq;
  connection.held = &replay->held;
  replays_.emplace(connection.serial, std::move(replay));
  fetch_page(connection);
}

void Inbox::on_detach(core::Connection& connection) {
  connection.held = nullptr;
  replays_.erase(connection.serial);
}

void Inbox::fetch_page(core::Connection& connection) {
  Replay& replay = *replays_.at(connection.serial);
  replay.fetching = true;
  std::uint64_t serial = connection.serial;
  store_.fetch(connection.node->id, replay.after_seq, 1000, config_.replay_page_bytes,
               [this, serial](std::vector<store::InboxEntry> entries, bool more) {
                 config_.post([this, serial, entries = std::move(entries), more]() mutable {
                   on_page(serial, std::move(entries), more);
                 });
               });
}

void Inbox::on_page(std::uint64_t serial, std::vector<store::InboxEntry> entries, bool more) {
  core::Connection* connection = router_.find(serial);
  auto it = replays_.find(serial);
  if (connection == nullptr || it == replays_.end()) return;
  Replay& replay = *it->second;
  replay.fetching = false;
  for (const store::InboxEntry& entry : entries) {
    // Each exactly as first delivered; the page size keeps the queue under
    // its limit, so a large inbox is paced, not a slow consumer.
    core::Body* body = core::Body::copy_of(entry.frame);
    connection->queue.push({body, nullptr, 0, core::FrameKind::text}, SIZE_MAX);
    body->release();
    replay.after_seq = entry.seq;
  }
  router_.mark_dirty(*connection);
  if (more) return;  // on_drained asks for the next page
  // The backlog is out: the live frames that waited follow, in order.
  connection->held = nullptr;
  while (!replay.held.empty()) {
    router_.enqueue(*connection, replay.held.at(0));
    replay.held.pop_front();
  }
  replays_.erase(it);
}

void Inbox::on_drained(core::Connection& connection) {
  auto it = replays_.find(connection.serial);
  if (it != replays_.end() && !it->second->fetching) fetch_page(connection);
}

// Section 6: {"type": -7, "seq": N} removes everything up to N from the
// node's inbox. A seq beyond the newest acknowledges everything.
void Inbox::acknowledge(core::Connection& connection, const protocol::Message& m) {
  core::Sender sender{router_.config().shard, connection.serial};
  if (!m.dest_session_id.empty()) {
    router_.send_error(sender, m.id, ErrorCode::unknown_session,
                       "session \"" + std::string(m.dest_session_id) + "\" does not exist");
    return;
  }
  auto seq = m.seq.empty() ? std::nullopt : protocol::json_integer(m.seq);
  if (!seq || *seq < 0) {
    router_.send_error(sender, m.id, ErrorCode::bad_field, "an ack (type -7) needs \"seq\": a non-negative integer");
    return;
  }
  core::Node& node = *connection.node;
  std::uint64_t up_to = std::min<std::uint64_t>(static_cast<std::uint64_t>(*seq), node.last_seq);
  if (up_to <= node.acked_seq) return;
  node.acked_seq = up_to;
  store_.ack(node.id, up_to);
}

}  // namespace allspark::inbox
