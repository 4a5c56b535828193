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
#include <utility>
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

// A session (PROTOCOL.md section 5) as the store keeps it.
struct SessionRecord {
  std::string session_id;
  std::int64_t session_type = 0;     // 0, or 1 for a game session
  std::string owner_id;
  std::string game_master_node_id;
  bool anyone_can_join = false;
  bool allow_anonymous = false;
  std::string description = "null";  // the JSON value as given: a string's quoted text, or null
  std::uint64_t last_seq = 0;        // the highest session_seq given; only grows, across trims and restarts
};

// One member node of a session.
struct SessionMember {
  std::string session_id;
  std::string node_id;
  std::string anonymous_id;  // empty when the member is not anonymous
  std::uint64_t cursor = 0;  // the last session_seq it acknowledged (section 6)
};

// One entry of a session's log: one per message, whatever the number of members.
struct LogEntry {
  std::string session_id;
  std::uint64_t session_seq = 0;  // per session, only grows
  std::int64_t stored_at_ms = 0;
  std::string body;               // the frame after its per-recipient head `{"dest_id":"<node>",`
};

struct SessionsSnapshot {
  std::vector<SessionRecord> sessions;  // with their last_seq
  std::vector<SessionMember> members;   // with their cursors
};

struct StoreStats {
  std::uint64_t entries_written = 0;
  std::uint64_t entries_acked = 0;      // removed by acknowledgement
  std::uint64_t transactions = 0;
  std::uint64_t queue_depth = 0;        // operations waiting for the store's thread
  std::uint64_t last_commit_us = 0;     // duration of the latest transaction
  std::uint64_t total_commit_us = 0;
  std::uint64_t failures = 0;
  std::uint64_t dropped_inbox_max = 0;  // oldest entries dropped past --inbox-max
  std::uint64_t dropped_retention = 0;  // entries dropped past --retention
  std::uint64_t log_entries_written = 0;  // session log entries appended (one per session message)
  std::uint64_t log_dropped_log_max = 0;  // oldest log entries dropped past --log-max
  std::uint64_t log_dropped_retention = 0;  // log entries dropped past --retention
  std::uint64_t damaged_rows = 0;           // inbox rows a fetch skipped: unreadable (the file was damaged)
};

// What the store keeps (PROTOCOL.md section 6); 0 means no limit.
struct StoreLimits {
  std::uint64_t inbox_max = 0;    // entries per node: the oldest go first
  std::uint64_t log_max = 0;      // entries per session log: the oldest go first
  std::int64_t retention_ms = 0;  // entries older than this are dropped
  std::uint32_t linger_ms = 5;    // how long background work may wait for company in a transaction
                                  // (and the store's thread rests after one before it sleeps)
};

struct AckedId {
  std::string node_id;
  std::string id;
  std::int64_t at_ms = 0;  // when it was sent
};

class Store {
 public:
  virtual ~Store() = default;

  // At start-up only (blocking): every node that has an inbox seq.
  virtual std::vector<InboxState> load_inbox_states() = 0;

  // Appends entries (their seqs were given by the node's home shard). `done`
  // runs once they are committed (ok) or failed. The store lets go of
  // `entries` before `done` runs: a caller keeping a reference reads the
  // stored frames in its answer, and frees them on its own thread.
  virtual void append(std::shared_ptr<const std::vector<InboxEntry>> entries, std::function<void(bool ok)> done) = 0;
  void append(std::vector<InboxEntry> entries, std::function<void(bool ok)> done) {
    append(std::make_shared<const std::vector<InboxEntry>>(std::move(entries)), std::move(done));
  }

  // Removes a node's entries with seq <= up_to_seq.
  virtual void ack(std::string node_id, std::uint64_t up_to_seq) = 0;

  // A node's entries with after_seq < seq <= up_to_seq, oldest first: at most
  // max_entries, and frames adding up to at most max_bytes (at least one entry
  // when any). `more` is true when entries of that range were left out. Sees
  // every append called before.
  virtual void fetch(std::string node_id, std::uint64_t after_seq, std::uint64_t up_to_seq, std::size_t max_entries,
                     std::size_t max_bytes,
                     std::function<void(std::vector<InboxEntry> entries, bool more)> done) = 0;

  // Records that a node has connected with a client_id, so that
  // dest_client_id reaches it while it is offline, also after a restart.
  virtual void remember_client_node(std::string client_id, std::string node_id) = 0;
  // At start-up only (blocking): every (client_id, node_id) remembered.
  virtual std::vector<std::pair<std::string, std::string>> load_client_nodes() = 0;

  // A node's push key for the offline webhook (section 6), replacing any.
  virtual void set_push_key(std::string node_id, std::string push_key) = 0;
  // At start-up only (blocking): every (node_id, push_key).
  virtual std::vector<std::pair<std::string, std::string>> load_push_keys() = 0;

  // Message ids a node sent with `ack` that were answered -7 (section 6: a
  // retry within 10 minutes is not stored again, also after a restart).
  virtual void remember_acked_ids(std::vector<AckedId> ids) = 0;
  // At start-up only (blocking): the ids remembered at or after `since_ms`.
  // Older ones are dropped by the store as it goes.
  virtual std::vector<AckedId> load_acked_ids(std::int64_t since_ms) = 0;

  // Sessions (sections 5 and 6). Each `done` runs once the change is
  // committed (ok) or failed.
  // A new session with its first members.
  virtual void create_session(SessionRecord session, std::vector<SessionMember> members,
                              std::function<void(bool ok)> done) = 0;
  // Drops a session, its members and its log.
  virtual void delete_session(std::string session_id, std::function<void(bool ok)> done) = 0;
  // Adds a member or replaces it (a reveal clears its anonymous_id).
  virtual void put_member(SessionMember member, std::function<void(bool ok)> done) = 0;
  virtual void remove_member(std::string session_id, std::string node_id, std::function<void(bool ok)> done) = 0;
  // Raises members' cursors (never lowers one); members that are gone are skipped.
  virtual void move_cursors(std::vector<SessionMember> cursors) = 0;
  // Appends log entries (their session_seqs were given by the session's home
  // shard) and raises each session's last_seq; keeps at most log_max entries
  // per session. Entries of a session that no longer exists are skipped.
  virtual void append_log(std::vector<LogEntry> entries, std::function<void(bool ok)> done) = 0;
  // The same for entries nobody waits for (plain session messages): their
  // transaction may wait up to linger_ms for more work, so that one commit
  // carries many. What is called later still sees them.
  virtual void append_log_background(std::vector<LogEntry> entries, std::function<void(bool ok)> done) = 0;
  // A session's entries with after_seq < session_seq <= up_to_seq, oldest
  // first, limited as fetch() is; `last_seq` is the session's.
  virtual void fetch_log(std::string session_id, std::uint64_t after_seq, std::uint64_t up_to_seq,
                         std::size_t max_entries, std::size_t max_bytes,
                         std::function<void(std::vector<LogEntry> entries, bool more, std::uint64_t last_seq)> done) = 0;
  // What a node has not acknowledged in all its sessions: the entries after
  // its cursor in each, ordered by (session_id, session_seq), starting after
  // the position (after_session_id, after_seq); limited as fetch() is.
  virtual void fetch_backlog(std::string node_id, std::string after_session_id, std::uint64_t after_seq,
                             std::size_t max_entries, std::size_t max_bytes,
                             std::function<void(std::vector<LogEntry> entries, bool more)> done) = 0;
  // At start-up only (blocking): every session and member.
  virtual SessionsSnapshot load_sessions() = 0;

  // Blocks until everything called before is committed (shutdown).
  virtual void flush() = 0;

  // Runs `hook` on the store's thread once all the callbacks of a
  // transaction have run (set once, before the first call that has a
  // callback). Callers whose callbacks only queue work for their thread hand
  // it over here: one wake-up of that thread per transaction, which then does
  // not preempt the store between two of its callbacks.
  virtual void set_after_callbacks(std::function<void()> hook) = 0;

  // Thread-safe snapshot for /metrics.
  virtual StoreStats stats() const = 0;
};

}  // namespace allspark::store
