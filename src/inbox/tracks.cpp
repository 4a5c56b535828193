#include "inbox/tracks.hpp"

#include "protocol/frames.hpp"

namespace allspark::inbox {

using protocol::ErrorCode;

Tracks::Tracks(core::Router& router, TracksConfig config)
    : router_(router),
      config_(std::move(config)),
      retry_ids_(config_.retry_ids_max, config_.retry_window_ms,
                 {[this](std::uint64_t track) { return tracks_.contains(track); },
                  [this](std::uint64_t track, std::string_view key) { tracks_.at(track).key = key; }}) {}

// A message with `ack` (or a publish) gets a track; an id of the same node
// already acknowledged within the window is answered at once, one still
// being stored is answered with it.
std::uint64_t Tracks::open(core::Connection* from, core::Sender sender, std::string_view node_id, std::string_view id,
                           bool ack, std::function<void(core::TrackResult)> done) {
  std::int64_t now = 0;
  if (ack) {
    now = config_.now_ms();
    key_.clear();
    key_.append(node_id).append(1, ' ').append(id);
    if (auto known = retry_ids_.find(key_, now)) {
      counters_.retries.add();
      if (auto first = tracks_.find(known->track); first != tracks_.end()) {
        first->second.retries.push_back({sender, std::move(done)});
      } else {
        Track acknowledged;
        acknowledged.id = std::string(id);
        acknowledged.reports = 1;
        answer(acknowledged, sender, done, false);
      }
      return 0;
    }
  }
  std::uint64_t number = (++next_track_ << 1) | (done ? 1u : 0u);  // lists_stored
  Track& track = tracks_[number];
  track.sender = sender;
  track.id = std::string(id);
  track.done = std::move(done);
  if (ack) {
    track.key = retry_ids_.add(key_, {now, number}, now);
    track.at_ms = now;
  }
  if (from != nullptr) {
    from->waiting = true;
    ++waiting_[from->serial].in_flight;
    track.connection = from->serial;
  }
  return number;
}

void Tracks::expect(std::uint64_t number, std::uint32_t shards) {
  Track& track = tracks_.at(number);
  track.expected = true;
  track.remaining += shards;
  if (track.remaining <= 0) finish(number);
}

void Tracks::on_report(const core::TrackReport& report) {
  auto it = tracks_.find(report.track);
  if (it == tracks_.end()) return;
  Track& track = it->second;
  --track.remaining;
  ++track.reports;
  track.result.ok = track.result.ok && report.ok;
  track.result.delivered += report.delivered;
  track.result.stored.insert(track.result.stored.end(), report.stored.begin(), report.stored.end());
  if (track.expected && track.remaining <= 0) finish(report.track);
}

void Tracks::finish(std::uint64_t number) {
  auto it = tracks_.find(number);
  Track track = std::move(it->second);
  tracks_.erase(it);
  // The table holds each track in place and never shrinks by itself: after a
  // burst (thousands in flight) it lets go once nothing is left in flight.
  if (tracks_.empty() && tracks_.bucket_count() > 8192) tracks_.rehash(0);
  bool stored = track.result.ok && track.reports > 0;
  // Acknowledged: its id stays (the track is gone, so a retry is answered at
  // once). Not acknowledged: forgotten, so that a retry is stored anew.
  if (!track.key.empty() && stored && config_.remember) {
    std::size_t space = track.key.find(' ');
    config_.remember(track.key.substr(0, space), track.id, track.at_ms);
  } else if (!track.key.empty() && !stored) {
    retry_ids_.erase(track.key, number);
  }
  if (stored) counters_.acked.add();
  answer(track, track.sender, track.done, true);
  for (const Retry& retry : track.retries) answer(track, retry.sender, retry.done, false);
  if (track.connection == 0) return;
  auto waiting = waiting_.find(track.connection);
  if (waiting == waiting_.end()) return;
  if (--waiting->second.in_flight == 0 || !waiting->second.held.empty()) {
    // Later, on the shard's own turn: what waited goes on in its order.
    config_.post([this, serial = track.connection] { release(serial); });
  }
}

// -7 once every copy is stored (after any -4), -6 unavailable when a copy
// could not be; nothing when routing already answered (no recipient). A
// publish gets its result instead (a retry: `duplicate`, nothing new).
void Tracks::answer(const Track& track, core::Sender to, const std::function<void(core::TrackResult)>& done,
                    bool first) {
  bool stored = track.result.ok && track.reports > 0;
  if (done) {
    core::TrackResult result = first ? track.result : core::TrackResult{};
    result.ok = track.result.ok;
    result.duplicate = !first;
    if (track.reports == 0) {  // routing found no recipient (a client with no node)
      result.error = ErrorCode::unavailable;
      result.error_message = "no recipient: no node of this destination is known";
    }
    done(std::move(result));
    return;
  }
  if (stored) {
    router_.reply(to, protocol::stored_frame(track.id));
  } else if (!track.result.ok) {
    router_.send_error(to, track.id, ErrorCode::unavailable, "the store could not keep every copy: retry");
  }
}

bool Tracks::must_wait(const Waiting& waiting, bool routed, bool ack) const {
  if (!routed) return false;
  return ack ? waiting.in_flight >= config_.max_in_flight : waiting.in_flight > 0;
}

// Section 4: a message waits behind the same connection's earlier ones while
// they are being stored; acks themselves go on (the store keeps their order)
// up to `max_in_flight`.
bool Tracks::hold(core::Connection& from, std::string_view text, const protocol::Message& m) {
  auto it = waiting_.find(from.serial);
  if (it == waiting_.end()) {
    from.waiting = false;
    return false;
  }
  Waiting& waiting = it->second;
  if (waiting.releasing) return false;
  bool routed = m.type >= 0 && (!m.dest_id.empty() || !m.dest_client_id.empty() || !m.dest_session_id.empty());
  if (waiting.held.empty() && !must_wait(waiting, routed, m.ack)) return false;
  if (waiting.held_bytes + text.size() > config_.max_waiting_bytes) {
    router_.send_error({router_.config().shard, from.serial}, m.id, ErrorCode::rate_limited,
                       "too many messages wait behind this connection's acks: slow down and send it again");
    return true;
  }
  counters_.waited.add();
  waiting.held.push_back({std::string(text), routed, m.ack});
  waiting.held_bytes += text.size();
  return true;
}

void Tracks::release(std::uint64_t serial) {
  auto it = waiting_.find(serial);
  if (it == waiting_.end()) return;
  core::Connection* connection = router_.find(serial);
  if (connection == nullptr) {
    waiting_.erase(it);
    return;
  }
  Waiting& waiting = it->second;  // stable: on_message only touches this connection's entry
  while (!waiting.held.empty()) {
    if (must_wait(waiting, waiting.held.front().routed, waiting.held.front().ack)) return;
    Held next = std::move(waiting.held.front());
    waiting.held.pop_front();
    waiting.held_bytes -= next.text.size();
    waiting.releasing = true;
    router_.on_message(*connection, next.text, config_.now_ms());
    waiting.releasing = false;
  }
  if (waiting.in_flight == 0) {
    connection->waiting = false;
    waiting_.erase(it);
  }
}

void Tracks::on_detach(core::Connection& connection) {
  waiting_.erase(connection.serial);
  connection.waiting = false;
}

void Tracks::restore(std::string_view node_id, std::string_view id, std::int64_t at_ms) {
  key_.clear();
  key_.append(node_id).append(1, ' ').append(id);
  retry_ids_.add(key_, {at_ms, 0}, config_.now_ms());
}

}  // namespace allspark::inbox
