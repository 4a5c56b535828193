// Session logs on the node's side (PROTOCOL.md section 6): after its inbox, a
// connecting member gets, session by session, the log entries after its
// cursor, paced like the inbox; and -101 / GET /v1/inbox with session_id read
// a session's history. A log entry is kept once, without a recipient: each
// node's head (`{"dest_id":"<node>",`) goes in front as it is sent.
#include "inbox/inbox.hpp"
#include "protocol/frames.hpp"

namespace allspark::inbox {

void Inbox::fetch_log_page(core::Connection& connection, Replay& replay) {
  std::uint64_t serial = connection.serial;
  store_.fetch_backlog(connection.node->id, replay.after_session, replay.after_session_seq, 1000,
                       config_.replay_page_bytes,
                       [this, serial](std::vector<store::LogEntry> entries, bool more) {
                         config_.post_answer([this, serial, entries = std::move(entries), more]() mutable {
                           on_log_page(serial, std::move(entries), more);
                         });
                       });
}

void Inbox::on_log_page(std::uint64_t serial, std::vector<store::LogEntry> entries, bool more) {
  core::Connection* connection = router_.find(serial);
  auto it = replays_.find(serial);
  if (connection == nullptr || it == replays_.end()) return;
  Replay& replay = *it->second;
  replay.fetching = false;
  const std::string& head = connection->node->dest_head;
  std::size_t queued = 0;
  for (const store::LogEntry& entry : entries) {
    replay.after_session = entry.session_id;
    replay.after_session_seq = entry.session_seq;
    // Past what this shard had delivered at the connect, the entry came (or
    // comes) live, held behind the replay: not twice.
    if (replay.marked) {
      auto up_to = replay.session_up_to.find(entry.session_id);
      if (up_to == replay.session_up_to.end() || entry.session_seq > up_to->second) continue;
    }
    core::Body* body = core::Body::copy_of(entry.body);
    connection->queue.push({body, head.data(), static_cast<std::uint32_t>(head.size()), core::FrameKind::text},
                           SIZE_MAX);
    body->release();
    ++queued;
  }
  router_.mark_dirty(*connection);
  if (!more) return end_replay(*connection);
  if (queued == 0) fetch_page(*connection);  // nothing to drain: on at once
  // else on_drained asks for the next page
}

void Inbox::fetch_log(const core::Node& node, std::string session_id, std::optional<std::uint64_t> from_seq,
                      std::optional<std::uint64_t> to_seq, std::size_t limit,
                      std::function<void(std::string payload)> done) {
  std::uint64_t after = from_seq && *from_seq > 0 ? *from_seq - 1 : 0;
  std::uint64_t up_to = to_seq ? *to_seq : UINT64_MAX;
  store_.fetch_log(std::move(session_id), after, up_to, limit, config_.fetch_bytes,
                   [this, head = node.dest_head, from_seq, to_seq, done = std::move(done)](
                       std::vector<store::LogEntry> entries, bool more, std::uint64_t last_seq) {
                     config_.post_answer([head, from_seq, to_seq, entries = std::move(entries), more, last_seq, done] {
                       // Each message exactly as it is delivered to this node.
                       std::vector<store::InboxEntry> framed;
                       framed.reserve(entries.size());
                       for (const store::LogEntry& entry : entries) {
                         framed.push_back({{}, entry.session_seq, entry.stored_at_ms, head + entry.body});
                       }
                       std::uint64_t first = from_seq ? *from_seq : framed.empty() ? 0 : framed.front().seq;
                       std::uint64_t last = to_seq ? *to_seq : framed.empty() ? 0 : last_seq;
                       done(fetch_payload(framed, more, first, last));
                     });
                   });
}

}  // namespace allspark::inbox
