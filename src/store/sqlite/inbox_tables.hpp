#pragma once
// The inbox tables (schema.cpp) behind prepared statements: what one
// transaction of the store's thread does, step by step. Owned by the store's
// thread; no locking here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "store/sqlite/database.hpp"
#include "store/sqlite/inbox_rows.hpp"
#include "store/store.hpp"

namespace allspark::store::sqlite {

class InboxTables {
 public:
  // What the transaction under way did to the inboxes (for the store's stats).
  struct Counts {
    std::uint64_t written = 0;  // entries appended
    std::uint64_t acked = 0;    // entries removed by acknowledgement
    std::uint64_t trimmed = 0;  // entries dropped past inbox_max
    std::uint64_t damaged = 0;  // rows a fetch skipped: unreadable
  };

  // Takes a connection already at schema_version (prepare_schema) and
  // prepares every statement once; each node keeps at most `inbox_max`
  // entries (0: no limit). False and `error` when one fails.
  bool open(Database db, std::uint64_t inbox_max, std::string& error);

  bool begin();
  // Writes what is pending (append), then commits.
  bool commit();
  // Ends a failed transaction, if SQLite has not already rolled it back.
  void rollback();
  const Counts& counts() const { return counts_; }

  // Appends entries, which stay pending, grouped by node, until the commit
  // or a read: each run of a node's consecutive seqs is then one row
  // (inbox_rows.hpp). `entries` must outlive the transaction. A node's seqs
  // must go up, past every seq it had; else the append fails.
  bool append(const std::vector<InboxEntry>& entries);
  // Removes a node's entries up to `up_to_seq` (never past the node's
  // last_seq): pending ones are never written.
  bool ack(std::string_view node_id, std::uint64_t up_to_seq);
  // Store::fetch's limits; `entries` is cleared first.
  bool fetch(const std::string& node_id, std::uint64_t after_seq, std::uint64_t up_to_seq, std::size_t max_entries,
             std::size_t max_bytes, std::vector<InboxEntry>& entries, bool& more);
  // Every node with a last_seq, with its count of stored entries.
  bool load_states(std::vector<InboxState>& states);
  // Client memberships (dest_client_id to offline nodes).
  bool add_member(std::string_view client_id, std::string_view node_id);
  bool load_members(std::vector<std::pair<std::string, std::string>>& members);
  // Drops every row whose newest entry was stored before `before_ms`.
  bool expire(std::int64_t before_ms, std::uint64_t& removed);
  // Push keys for the offline webhook.
  bool set_push_key(std::string_view node_id, std::string_view push_key);
  bool load_push_keys(std::vector<std::pair<std::string, std::string>>& keys);

  bool remember_acked_ids(const std::vector<AckedId>& ids);
  // Drops ids older than `since_ms`, then loads the others.
  bool load_acked_ids(std::int64_t since_ms, std::vector<AckedId>& ids);
  bool forget_acked_ids(std::int64_t before_ms);

  std::string last_error() const { return error_.empty() ? db_.last_error() : error_; }
  // The connection, for the other tables' statements (SessionTables): one
  // connection, so one transaction covers every table.
  Database& database() { return db_; }

 private:
  // A node's entries appended in this transaction and not yet written.
  struct Pending {
    std::string_view node_id;                // the entries' own
    std::vector<const InboxEntry*> entries;  // seqs going up
    std::uint64_t first_seq = 0;             // the lowest appended (also if acknowledged since)
    std::uint64_t last_seq = 0;              // the highest appended
  };
  bool write_pending();
  bool write(Pending& pending);
  // A node's row in `node`; `found` is false when it has none.
  bool read_node(std::string_view node_id, bool& found, std::uint64_t& last_seq, std::uint64_t& floor);
  // Raises a node's floor from `old_floor` to `floor` (if higher): rows
  // wholly under it go, `removed` counts the entries it hides.
  bool raise_floor(std::string_view node_id, std::uint64_t old_floor, std::uint64_t floor, std::uint64_t& removed);
  bool fail(std::string error);

  Database db_;
  std::uint64_t inbox_max_ = 0;
  Counts counts_;
  std::string error_;  // the reason of a failure SQLite did not see (cleared by begin)
  std::vector<Pending> pending_;  // its first pending_count_ are in use (the others keep their capacity)
  std::size_t pending_count_ = 0;
  boost::unordered_flat_map<std::string_view, std::size_t> pending_index_;  // node_id to its place in pending_
  RowWriter rows_;

  Statement begin_;
  Statement commit_;
  Statement rollback_;
  Statement insert_row_;
  Statement raise_last_seq_;
  Statement select_node_;
  Statement select_rows_above_;
  Statement delete_rows_up_to_;
  Statement set_floor_;
  Statement select_rows_after_;
  Statement select_states_;
  Statement insert_member_;
  Statement select_members_;
  Statement upsert_push_key_;
  Statement count_expired_;
  Statement expire_;
  Statement select_push_keys_;
  Statement insert_acked_batch_;
  Statement select_acked_ids_;
  Statement delete_acked_ids_;
};

}  // namespace allspark::store::sqlite
