#include "inbox/inbox.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>

#include "protocol/frames.hpp"
#include "protocol/ids.hpp"
#include "protocol/json.hpp"

namespace allspark::inbox {

using protocol::ErrorCode;

namespace {
void append_int(std::string& out, std::uint64_t value) { protocol::append_int(out, static_cast<std::int64_t>(value)); }

// What a batch's vectors keep reserved for the next batch, at most.
constexpr std::size_t max_reserved = 1024;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TracksConfig tracks_config(const InboxConfig& config) {
  TracksConfig tracks = config.tracks;
  tracks.post = config.post;
  if (!tracks.now_ms) tracks.now_ms = system_now_ms;
  return tracks;
}
}  // namespace

Inbox::Inbox(core::Router& router, store::Store& store, InboxConfig config)
    : router_(router), store_(store), config_(std::move(config)), tracks_(router, tracks_config(config_)) {
  if (!config_.post_answer) config_.post_answer = config_.post;
  tracks_.set_remember([this](std::string_view node_id, std::string_view id, std::int64_t at_ms) {
    pending_acked_ids_.push_back({std::string(node_id), std::string(id), at_ms});
  });
}

void Inbox::restore_acked_ids(const std::vector<store::AckedId>& ids) {
  for (const store::AckedId& acked : ids) {
    if (router_.home_of(acked.node_id) == router_.config().shard) tracks_.restore(acked.node_id, acked.id, acked.at_ms);
  }
}

void Inbox::restore(const std::vector<store::InboxState>& states,
                    const std::vector<std::pair<std::string, std::string>>& push_keys) {
  for (const auto& [node_id, push_key] : push_keys) {
    if (router_.home_of(node_id) == router_.config().shard) push_keys_[node_id] = push_key;
  }
  for (const store::InboxState& state : states) {
    if (router_.home_of(state.node_id) != router_.config().shard) continue;
    core::Node& node = router_.node_here(state.node_id);
    node.last_seq = state.last_seq;
    // Entries may have gaps (retention); what matters is whether any is kept.
    node.acked_seq = state.stored > 0 ? 0 : state.last_seq;
  }
}

// A message to a node alone, for a node with no live connection (or any
// recipient of an `ack`), goes to its inbox with the next seq; the sender
// hears -4 once it is stored, a live node gets the stored copy then.
void Inbox::keep(core::Node& node, const core::KeepRequest& request, const core::Body& body, std::int64_t now_ms) {
  if (request.ephemeral) {
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
  PendingReply& reply = pending_replies_.emplace_back(
      PendingReply{request.sender, std::string(request.id), node.id, seq, std::string(request.src_id), -1,
                   std::string(request.dest_alias), request.ack});
  if (request.track == 0) return;
  if (pending_reports_.empty() || !pending_reports_.back().open ||
      pending_reports_.back().report.track != request.track || pending_reports_.back().shard != request.sender.shard) {
    pending_reports_.push_back({request.sender.shard, {request.track, true, 0, {}}, true});
  }
  reply.report = static_cast<std::int64_t>(pending_reports_.size() - 1);
}

// A tracked delivery's recipients here are all seen: with copies in this
// batch, its report waits for the store; else it goes now.
void Inbox::end_delivery(core::Sender sender, std::uint64_t track, std::uint64_t delivered) {
  if (!pending_reports_.empty() && pending_reports_.back().open && pending_reports_.back().report.track == track &&
      pending_reports_.back().shard == sender.shard) {
    pending_reports_.back().report.delivered += delivered;
    pending_reports_.back().open = false;
    return;
  }
  router_.report(sender.shard, {track, true, delivered, {}});
}

void Inbox::end_batch() {
  // The entries (which someone waits for) before the acked ids (which nobody
  // does): the store's thread then wakes once for both, where an id alone
  // first woke it to linger for company.
  append_pending();
  if (!pending_acked_ids_.empty()) {
    std::size_t batch = pending_acked_ids_.size();
    store_.remember_acked_ids(std::move(pending_acked_ids_));
    pending_acked_ids_.clear();
    pending_acked_ids_.reserve(std::min(batch, max_reserved));  // the next batch is likely as big
  }
}

void Inbox::append_pending() {
  if (pending_entries_.empty()) return;
  // The store lets go of the entries once they are committed: the answer
  // reads the stored copies from them and frees them here, on this thread.
  auto entries = std::make_shared<std::vector<store::InboxEntry>>();
  entries->swap(pending_entries_);
  auto replies = std::make_shared<std::vector<PendingReply>>();
  replies->swap(pending_replies_);
  auto reports = std::make_shared<std::vector<PendingReport>>();
  reports->swap(pending_reports_);
  // As above: the next batch grows no vector (a burst's size is not kept).
  pending_entries_.reserve(std::min(entries->size(), max_reserved));
  pending_replies_.reserve(std::min(replies->size(), max_reserved));
  pending_reports_.reserve(std::min(reports->size(), max_reserved));
  // (Moved, not copied, into the callback and the answer: the store's
  // thread must not hold the last reference.)
  std::shared_ptr<const std::vector<store::InboxEntry>> stored = entries;
  store_.append(std::move(stored), [this, entries = std::move(entries), replies = std::move(replies),
                                    reports = std::move(reports)](bool ok) mutable {
    config_.post_answer([this, entries = std::move(entries), replies = std::move(replies),
                         reports = std::move(reports), ok] { on_stored(*entries, *replies, *reports, ok); });
  });
}

void Inbox::on_stored(const std::vector<store::InboxEntry>& entries, const std::vector<PendingReply>& replies,
                      std::vector<PendingReport>& reports, bool ok) {
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const PendingReply& pending = replies[i];
    core::TrackReport* report = pending.report >= 0 ? &reports[static_cast<std::size_t>(pending.report)].report : nullptr;
    if (!ok) {
      counters_.store_failures.add();
      if (report != nullptr) {
        report->ok = false;  // the track answers the sender once
      } else {
        router_.send_error(pending.sender, pending.id, ErrorCode::unavailable,
                           "the store could not keep the message for node \"" + pending.node + "\": retry");
      }
      continue;
    }
    counters_.stored.add();
    if (report != nullptr && Tracks::lists_stored(report->track)) report->stored.push_back({pending.node, pending.seq});
    if (pending.ack) {
      const core::Node* node = router_.directory().find_node(pending.node);
      if (node != nullptr && !node->connections.empty()) {
        std::uint64_t written = deliver_stored(*node, pending, entries[i].frame);
        if (report != nullptr) report->delivered += written;
        continue;  // live: no -4, no webhook
      }
    }
    if (config_.notify) {
      // Section 6: {"node_id", "seq", "src_id", "push_key"?}, ids need no escaping.
      std::string body = "{\"node_id\":\"" + pending.node + "\",\"seq\":" + std::to_string(pending.seq) +
                         ",\"src_id\":\"" + pending.src_id + "\"";
      if (auto key = push_keys_.find(pending.node); key != push_keys_.end()) {
        body += ",\"push_key\":";
        protocol::append_json_string(body, key->second);
      }
      config_.notify(body + "}");
    }
    router_.reply(pending.sender, protocol::offline_frame(pending.id, pending.alias.empty() ? pending.node : pending.alias));
  }
  // After the -4s: the sender's -7 (or publish answer) comes once every shard reported.
  for (PendingReport& pending : reports) router_.report(pending.shard, std::move(pending.report));
}

// An `ack` copy, now stored, to the node's live connections but the sender's;
// a connection whose replay already covers this seq gets it from there.
std::uint64_t Inbox::deliver_stored(const core::Node& node, const PendingReply& reply, std::string_view frame) {
  core::Body* body = core::Body::copy_of(frame);
  std::uint64_t written = 0;
  for (core::Connection* connection : node.connections) {
    if (connection->close_code != 0) continue;
    if (reply.sender.shard == router_.config().shard && connection->serial == reply.sender.serial) continue;
    if (auto replay = replays_.find(connection->serial); replay != replays_.end() && replay->second->up_to >= reply.seq) {
      continue;
    }
    router_.enqueue(*connection, {body, nullptr, 0, core::FrameKind::text});
    ++written;
  }
  body->release();
  return written;
}

void Inbox::remember_client_node(std::string_view client_id, std::string_view node_id) {
  store_.remember_client_node(std::string(client_id), std::string(node_id));
}

// Section 3: after the welcome, what the node has not acknowledged, before any
// live message. What this batch kept for the node (and logged in its
// sessions) is submitted first so that the replay sees it.
void Inbox::on_attach(core::Connection& connection) {
  // A member of a session asks the store for the log after its cursors.
  if (!connection.node->has_stored() && connection.node->sessions == 0) return;
  router_.end_batch();  // this batch's inbox copies and log entries first
  auto replay = std::make_unique<Replay>();
  replay->after_seq = connection.node->acked_seq;
  replay->up_to = connection.node->last_seq;
  replay->inbox_done = !connection.node->has_stored();
  if (connection.node->sessions > 0 && config_.session_marks) {
    replay->session_up_to = config_.session_marks(connection.node->id);
    replay->marked = true;
  }
  connection.held = &replay->held;
  replays_.emplace(connection.serial, std::move(replay));
  fetch_page(connection);
}

void Inbox::on_detach(core::Connection& connection) {
  tracks_.on_detach(connection);
  connection.held = nullptr;
  replays_.erase(connection.serial);
}

void Inbox::fetch_page(core::Connection& connection) {
  Replay& replay = *replays_.at(connection.serial);
  replay.fetching = true;
  if (replay.inbox_done) return fetch_log_page(connection, replay);
  std::uint64_t serial = connection.serial;
  store_.fetch(connection.node->id, replay.after_seq, replay.up_to, 1000, config_.replay_page_bytes,
               [this, serial](std::vector<store::InboxEntry> entries, bool more) {
                 config_.post_answer([this, serial, entries = std::move(entries), more]() mutable {
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
  replay.inbox_done = true;
  if (connection->node->sessions > 0) {
    // Then the sessions' logs; straight away when nothing waits to be drained.
    if (entries.empty()) fetch_page(*connection);
    return;
  }
  end_replay(*connection);
}

// The backlog is out: the live frames that waited follow, in order.
void Inbox::end_replay(core::Connection& connection) {
  auto it = replays_.find(connection.serial);
  Replay& replay = *it->second;
  connection.held = nullptr;
  while (!replay.held.empty()) {
    router_.enqueue(connection, replay.held.at(0));
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
  acknowledge(*connection.node, static_cast<std::uint64_t>(*seq));
}

void Inbox::acknowledge(core::Node& node, std::uint64_t seq) {
  std::uint64_t up_to = std::min(seq, node.last_seq);
  if (up_to <= node.acked_seq) return;
  node.acked_seq = up_to;
  store_.ack(node.id, up_to);
}

// Section 6, fetching on demand: {"type": -101, "payload": {"fetch_inbox":
// {"from_seq", "to_seq", "limit"}}} is answered by -102 with the messages of
// that inclusive range, oldest first, at most `limit` (1 to 1000, default
// 100) and 1 MiB of message text (at least one), `more` when some were left out.
void Inbox::request(core::Connection& connection, const protocol::Message& m) {
  using protocol::JsonKind;
  using protocol::JsonStatus;
  core::Sender sender{router_.config().shard, connection.serial};
  auto refuse = [&](std::string_view text) { router_.send_error(sender, m.id, ErrorCode::bad_field, text); };
  if (m.payload.empty() || payload_scanner_.scan(m.payload) != JsonStatus::ok) {
    return refuse("a -101 request needs a \"payload\" object such as {\"fetch_inbox\": {}}");
  }
  std::optional<std::string_view> fetch_object;
  for (const protocol::JsonMember& member : payload_scanner_.members()) {
    if (member.key == "fetch_inbox") fetch_object = member.value;
    if (member.key == "push_key") return set_push_key(connection, sender, m.id, member);
  }
  if (!fetch_object || fetch_scanner_.scan(*fetch_object) != JsonStatus::ok) {
    return refuse("a -101 payload needs \"fetch_inbox\": an object with from_seq, to_seq, limit");
  }
  std::optional<std::uint64_t> from_seq;
  std::optional<std::uint64_t> to_seq;
  std::int64_t limit = 100;
  std::string_view session_id;
  std::string unescaped;  // session_id, when its JSON text has escapes
  for (const protocol::JsonMember& member : fetch_scanner_.members()) {
    // -1 stands for "not an integer in range": every valid value is >= 0.
    std::int64_t number = -1;
    if (member.kind == JsonKind::number) number = protocol::json_integer(member.value).value_or(-1);
    if (member.key == "from_seq" || member.key == "to_seq") {
      if (number < 0) return refuse(std::string(member.key) + " must be a non-negative integer");
      (member.key == "from_seq" ? from_seq : to_seq) = static_cast<std::uint64_t>(number);
    } else if (member.key == "limit") {
      if (number < 1 || number > 1000) return refuse("limit must be an integer from 1 to 1000");
      limit = number;
    } else if (member.key == "session_id") {
      if (member.kind != JsonKind::string || !protocol::json_string_value(member.value, unescaped, session_id) ||
          !protocol::is_valid_id(session_id)) {
        return router_.send_error(sender, m.id, ErrorCode::bad_id, "session_id must be a valid session id");
      }
    }
  }
  if (from_seq && to_seq && *from_seq > *to_seq) return refuse("from_seq is after to_seq");
  std::string id(m.id);
  if (!session_id.empty()) {
    // Section 6: members and apps read a session's history, whatever the cursor.
    if (auto refused = may_read_log(connection.node->id, connection.role, session_id)) {
      if (*refused == ErrorCode::session_unauthorized) {
        return router_.reply(sender, protocol::unauthorized_frame(m.id, session_id, "not a member of the session"));
      }
      return router_.send_error(sender, m.id, *refused, "session \"" + std::string(session_id) + "\" does not exist");
    }
    return fetch_log(*connection.node, std::string(session_id), from_seq, to_seq, static_cast<std::size_t>(limit),
                     [this, sender, id](std::string payload) {
                       router_.reply(sender, protocol::config_response_frame(id, payload));
                     });
  }
  fetch(*connection.node, from_seq, to_seq, static_cast<std::size_t>(limit), [this, sender, id](std::string payload) {
    router_.reply(sender, protocol::config_response_frame(id, payload));
  });
}

// Section 6: {"type": -101, "payload": {"push_key": "..."}} keeps the node's
// push key for the offline webhook, answered by -102 {"push_key"}.
void Inbox::set_push_key(core::Connection& connection, core::Sender sender, std::string_view id,
                         const protocol::JsonMember& member) {
  std::string key;
  std::string_view value;
  if (member.kind != protocol::JsonKind::string || !protocol::json_string_value(member.value, key, value) ||
      value.size() > max_push_key_bytes) {
    return router_.send_error(sender, id, ErrorCode::bad_field,
                              "push_key must be a string of at most " + std::to_string(max_push_key_bytes) + " bytes");
  }
  const std::string& node_id = connection.node->id;
  push_keys_[node_id] = std::string(value);
  store_.set_push_key(node_id, std::string(value));
  std::string payload = "{\"push_key\":";
  protocol::append_json_string(payload, value);
  router_.reply(sender, protocol::config_response_frame(id, payload + "}"));
}

void Inbox::fetch(const core::Node& node, std::optional<std::uint64_t> from_seq, std::optional<std::uint64_t> to_seq,
                  std::size_t limit, std::function<void(std::string payload)> done) {
  std::uint64_t after = from_seq && *from_seq > 0 ? *from_seq - 1 : 0;
  std::uint64_t up_to = to_seq ? *to_seq : node.last_seq;
  store_.fetch(node.id, after, up_to, limit, config_.fetch_bytes,
               [this, from_seq, to_seq, up_to, done = std::move(done)](std::vector<store::InboxEntry> entries,
                                                                        bool more) mutable {
                 config_.post_answer([from_seq, to_seq, up_to, entries = std::move(entries), more, done = std::move(done)] {
                   // The range used: as asked, else the oldest and newest seq (0 and 0 when empty).
                   std::uint64_t first = from_seq ? *from_seq : entries.empty() ? 0 : entries.front().seq;
                   std::uint64_t last = to_seq ? *to_seq : entries.empty() ? 0 : up_to;
                   done(fetch_payload(entries, more, first, last));
                 });
               });
}

// {"messages": [...], "from_seq", "to_seq", "more", "server_time"}, each
// message exactly as it is delivered.
std::string fetch_payload(const std::vector<store::InboxEntry>& entries, bool more, std::uint64_t from_seq,
                          std::uint64_t to_seq) {
  std::size_t size = 128;
  for (const store::InboxEntry& entry : entries) size += entry.frame.size() + 1;
  std::string out;
  out.reserve(size);
  out = "{\"messages\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    out += entries[i].frame;
  }
  out += "],\"from_seq\":";
  append_int(out, from_seq);
  out += ",\"to_seq\":";
  append_int(out, to_seq);
  out += more ? ",\"more\":true" : ",\"more\":false";
  out += ",\"server_time\":";
  append_int(out, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count()));
  out += '}';
  return out;
}

}  // namespace allspark::inbox
