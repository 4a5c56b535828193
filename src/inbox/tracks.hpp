#pragma once
// The sender's side of `ack` and of server publishes (PROTOCOL.md sections 4,
// 6 and 9), on the sender's shard: one track per message, finished once every
// shard holding a recipient has stored its copies (then the -7, or the
// publish's answer); retries of an id already acknowledged; and the messages
// of a connection that wait behind its acks being stored. Owned by the
// shard's thread, like its router.
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "core/counter.hpp"
#include "core/router.hpp"
#include "inbox/retry_ids.hpp"

namespace allspark::inbox {

struct TracksConfig {
  std::int64_t retry_window_ms = 10 * 60 * 1000;  // section 6: a retry within 10 minutes is answered -7 alone
  std::size_t retry_ids_max = 1u << 18;           // the newest ids always remembered per shard (retry_ids.hpp)
  std::size_t max_in_flight = 4096;               // acks of one connection being stored; more wait
  std::size_t max_waiting_bytes = 8u << 20;       // what waits per connection; past it, rate_limited
  std::function<void(std::function<void()>)> post;  // runs work on the shard's thread, later
  std::function<std::int64_t()> now_ms;             // milliseconds since the epoch
  // An id answered -7, for the store (so that the window survives a restart).
  std::function<void(std::string_view node_id, std::string_view id, std::int64_t at_ms)> remember;
};

// Written by the shard, read by /metrics.
struct TracksCounters {
  core::Counter acked;    // -7 answers (and publishes answered), every copy stored
  core::Counter retries;  // retries of an id already stored, answered without storing
  core::Counter waited;   // messages that waited behind a connection's acks
};

class Tracks {
 public:
  Tracks(core::Router& router, TracksConfig config);

  std::uint64_t open(core::Connection* from, core::Sender sender, std::string_view node_id, std::string_view id,
                     bool ack, std::function<void(core::TrackResult)> done);
  // Whether a track's answer lists its stored copies (TrackResult::stored):
  // only a publish's does, so its number is odd; an ack's -7 needs no list,
  // and the recipients' shards do not build one (the number travels with
  // every copy).
  static bool lists_stored(std::uint64_t track) { return (track & 1) != 0; }
  void expect(std::uint64_t track, std::uint32_t shards);
  void on_report(const core::TrackReport& report);
  bool hold(core::Connection& from, std::string_view text, const protocol::Message& message);
  void on_detach(core::Connection& connection);
  // At start-up: an id of a node homed here answered -7 at `at_ms` (oldest first).
  void restore(std::string_view node_id, std::string_view id, std::int64_t at_ms);

  const TracksCounters& counters() const { return counters_; }
  void set_remember(decltype(TracksConfig::remember) remember) { config_.remember = std::move(remember); }

 private:
  struct Retry {
    core::Sender sender;
    std::function<void(core::TrackResult)> done;  // a publish's, else answered over WebSocket
  };
  struct Track {
    core::Sender sender;
    std::string id;
    std::string_view key;  // "<node_id> <id>" as retry_ids_ keeps it, empty when not an ack
    std::int64_t at_ms = 0;        // when it was sent
    std::uint64_t connection = 0;  // the waiting connection's serial, 0 for a publish
    std::int64_t remaining = 0;    // reports still to come, once `expected`
    std::uint32_t reports = 0;
    bool expected = false;
    core::TrackResult result;
    std::function<void(core::TrackResult)> done;
    std::vector<Retry> retries;  // the same id sent again while this one was stored
  };
  struct Held {
    std::string text;
    bool routed = false;  // has a destination: must keep its place behind acks
    bool ack = false;
  };
  struct Waiting {
    std::size_t in_flight = 0;
    std::deque<Held> held;
    std::size_t held_bytes = 0;
    bool releasing = false;
  };

  void finish(std::uint64_t track);
  void answer(const Track& track, core::Sender to, const std::function<void(core::TrackResult)>& done, bool first);
  void release(std::uint64_t serial);
  bool must_wait(const Waiting& waiting, bool routed, bool ack) const;

  core::Router& router_;
  TracksConfig config_;
  boost::unordered_flat_map<std::uint64_t, Track> tracks_;  // no node allocated per track
  std::unordered_map<std::uint64_t, Waiting> waiting_;  // by connection serial
  RetryIds retry_ids_;
  std::string key_;  // scratch for "<node_id> <id>"
  std::uint64_t next_track_ = 0;
  TracksCounters counters_;
};

}  // namespace allspark::inbox
