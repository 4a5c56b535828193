#pragma once
// The inbox tables (schema.cpp) behind prepared statements: what one
// transaction of the store's thread does, step by step. Owned by the store's
// thread; no locking here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/database.hpp"
#include "store/store.hpp"

namespace allspark::store::sqlite {

class InboxTables {
 public:
  // Takes a connection already at schema_version (prepare_schema) and
  // prepares every statement once. False and `error` when one fails.
  bool open(Database db, std::string& error);

  bool begin() { return begin_.run(); }
  bool commit() { return commit_.run(); }
  // Ends a failed transaction, if SQLite has not already rolled it back.
  void rollback();

  // Inserts the entries and raises each node's last_seq; `written` counts rows.
  bool append(const std::vector<InboxEntry>& entries, std::uint64_t& written);
  // Removes a node's entries up to `up_to_seq`; `removed` counts rows.
  bool ack(std::string_view node_id, std::uint64_t up_to_seq, std::uint64_t& removed);
  // Store::fetch's limits; `entries` is cleared first.
  bool fetch(const std::string& node_id, std::uint64_t after_seq, std::uint64_t up_to_seq, std::size_t max_entries,
             std::size_t max_bytes, std::vector<InboxEntry>& entries, bool& more);
  // Every node with a last_seq, with its count of stored entries.
  bool load_states(std::vector<InboxState>& states);
  // Client memberships (dest_client_id to offline nodes).
  bool add_member(std::string_view client_id, std::string_view node_id);
  bool load_members(std::vector<std::pair<std::string, std::string>>& members);
  // Keeps only a node's newest `keep` entries; `removed` counts the rest.
  bool trim(std::string_view node_id, std::uint64_t keep, std::uint64_t& removed);
  // Drops every entry stored before `before_ms`.
  bool expire(std::int64_t before_ms, std::uint64_t& removed);
  // Push keys for the offline webhook.
  bool set_push_key(std::string_view node_id, std::string_view push_key);
  bool load_push_keys(std::vector<std::pair<std::string, std::string>>& keys);

  bool remember_acked_ids(const std::vector<AckedId>& ids);
  // Drops ids older than `since_ms`, then loads the others.
  bool load_acked_ids(std::int64_t since_ms, std::vector<AckedId>& ids);
  bool forget_acked_ids(std::int64_t before_ms);

  std::string last_error() const { return db_.last_error(); }
  // The connection, for the other tables' statements (SessionTables): one
  // connection, so one transaction covers every table.
  Database& database() { return db_; }

 private:
  Database db_;
  Statement begin_;
  Statement commit_;
  Statement rollback_;
  Statement insert_entry_;
  Statement insert_entries_;  // rows_per_insert rows in one statement
  Statement raise_last_seq_;
  Statement delete_up_to_;
  Statement select_after_;
  Statement select_states_;
  Statement insert_member_;
  Statement select_members_;
  Statement upsert_push_key_;
  Statement trim_;
  Statement expire_;
  Statement select_push_keys_;
  Statement insert_acked_batch_;
  Statement select_acked_ids_;
  Statement delete_acked_ids_;
};

}  // namespace allspark::store::sqlite
