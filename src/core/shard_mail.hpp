#pragma once
// What one shard hands another, once per batch (DESIGN.md "Threads and the
// hot path"): messages for nodes homed there, frames for connections held
// there, which nodes belong to which client, and track reports. Plain values:
// bodies are copied once per shard, never shared across threads.
#include <cstdint>
#include <string>
#include <vector>

namespace allspark::core {

struct RemoteDelivery {
  std::string body;                // serialised once, after the per-recipient head
  std::vector<std::string> nodes;  // recipients homed on the receiving shard
  std::uint32_t sender_shard = 0;  // where -4, errors and the track's report go back to
  std::uint64_t sender = 0;        // the sending connection's serial there
  std::string id;                  // the message id, for -4 and errors
  std::string src_id;              // the sender as recipients see it
  bool ephemeral = false;
  bool ack = false;                // stored for live recipients too
  std::uint64_t track = 0;         // the sender shard's track, 0: none
  std::int64_t now_ms = 0;
  std::string dest_alias;          // the recipient as the sender named it, for -4
};

struct RemoteFrame {
  std::uint64_t connection = 0;  // serial on the receiving shard
  std::string frame;
};

struct Membership {
  std::string client_id;
  std::string node_id;
};

struct StoredCopy {
  std::string node_id;
  std::uint64_t seq = 0;
};

// A recipient shard's answer to a tracked delivery: its copies are stored.
struct TrackReport {
  std::uint64_t track = 0;
  bool ok = true;
  std::uint64_t delivered = 0;
  std::vector<StoredCopy> stored;
};

struct ShardMail {
  std::vector<RemoteDelivery> deliveries;
  std::vector<RemoteFrame> frames;
  std::vector<Membership> members;
  std::vector<TrackReport> reports;  // after the frames: a -7 comes after any -4

  bool empty() const { return deliveries.empty() && frames.empty() && members.empty() && reports.empty(); }
};

}  // namespace allspark::core
