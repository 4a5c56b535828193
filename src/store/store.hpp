#pragma once
// The Store: what the server keeps so that nothing accepted is lost
// (PROTOCOL.md section 6). One interface, one folder per backend (sqlite/,
// later redis/). A cold boundary: calls never block a shard; each returns at
// once and its callback runs on the store's own thread, in call order, once
// the work is durable. The caller posts results back to its own thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace allspark::store {

// One message kept in a node's inbox, exactly as it is delivered.
struct InboxEntry {
  std::string node_id;
  std::uint64_t seq = 0;          // per node, only grows
  std::int64_t stored_at_ms = 0;  // when the server accepted it
  std::string frame;              // the JSON text as delivered (with dest_id and seq)
};

// A node's inbox as the server keeps it in memory (so a connect touches no disk).
struct InboxState {
  std::string node_id;
  std::uint64_t last_seq = 0;   // the highest seq ever given, also after acks and restarts
  std::uint64_t stored = 0;     // entries kept now
};

struct StoreStats {
  std::uint64_t entries_written = 0;
  std::uint64_t entries_acked = 0;      // removed by acknowledgement
  std::uint64_t transactions = 0;
  std::uint64_t queue_depth = 0;        // operations waiting for the store's thread
  std::uint64_t last_commit_us = 0;     // duration of the latest transaction
  std::uint64_t total_commit_us = 0;
  std::uint64_t failures = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // At start-up only (blocking): every node that has an inbox seq.
  virtual std::vector<InboxState> load_inbox_states() = 0;

  // Appends entries (their seqs were given by the node's home shard). `done`
  // runs once they are committed (ok) or failed.
  virtual void append(std::vector<InboxEntry> entries, std::function<void(bool ok)> done) = 0;

  // Removes a node's entries with seq <= up_to_seq.
  virtual void ack(std::string node_id, std::uint64_t up_to_seq) = 0;

  // A node's entries with seq > after_seq, oldest first: at most max_entries,
  // and frames adding up to at most max_bytes (at least one entry when any).
  // `more` is true when entries were left out. Sees every append called before.
  virtual void fetch(std::string node_id, std::uint64_t after_seq, std::size_t max_entries,
                     std::size_t max_bytes,
                     std::function<void(std::vector<InboxEntry> entries, bool more)> done) = 0;

  // Blocks until everything called before is committed (shutdown).
  virtual void flush() = 0;

  // Thread-safe snapshot for /metrics.
  virtual StoreStats stats() const = 0;
};

}  // namespace allspark::store
