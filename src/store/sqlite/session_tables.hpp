#pragma once
// The session tables (schema.cpp, version 3) behind prepared statements:
// sessions, their members with cursors, and their logs (PROTOCOL.md sections
// 5 and 6). Runs inside the transactions InboxTables opens, on the same
// connection. Owned by the store's thread; no locking here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/database.hpp"
#include "store/store.hpp"

namespace allspark::store::sqlite {

class SessionTables {
 public:
  // Prepares every statement once on `db`, which must outlive this object
  // (kept by its handle, which a move of the Database keeps valid). False
  // and `error` when one fails.
  bool open(Database& db, std::string& error);

  // A session with its first members; fails when the session_id exists.
  bool create(const SessionRecord& session, const std::vector<SessionMember>& members);
  // The session, its members and its log.
  bool remove(std::string_view session_id);
  // Adds or replaces a member of an existing session (skipped otherwise).
  bool put_member(const SessionMember& member);
  bool remove_member(std::string_view session_id, std::string_view node_id);
  // Raises existing members' cursors; never lowers one.
  bool move_cursors(const std::vector<SessionMember>& cursors);

  // Inserts the entries of existing sessions and raises their last_seq;
  // `written` counts rows.
  bool append(const std::vector<LogEntry>& entries, std::uint64_t& written);
  // Keeps only a session's newest `keep` entries; `removed` counts the rest.
  bool trim(std::string_view session_id, std::uint64_t keep, std::uint64_t& removed);
  // Drops every entry stored before `before_ms`.
  bool expire(std::int64_t before_ms, std::uint64_t& removed);

  // Store::fetch_log; `entries` is cleared first, `last_seq` is 0 for a
  // session that does not exist.
  bool fetch(const std::string& session_id, std::uint64_t after_seq, std::uint64_t up_to_seq,
             std::size_t max_entries, std::size_t max_bytes, std::vector<LogEntry>& entries, bool& more,
             std::uint64_t& last_seq);
  // Store::fetch_backlog; `entries` is cleared first.
  bool fetch_backlog(std::string_view node_id, std::string_view after_session_id, std::uint64_t after_seq,
                     std::size_t max_entries, std::size_t max_bytes, std::vector<LogEntry>& entries, bool& more);
  bool load(SessionsSnapshot& snapshot);

 private:
  bool insert_member(const SessionMember& member);
  // Reads log rows (session_id, session_seq, stored_at_ms, body) from a
  // stepped query under fetch()'s limits.
  static bool read_entries(Statement& query, std::size_t max_entries, std::size_t max_bytes,
                           std::vector<LogEntry>& entries, bool& more);

  sqlite3* db_ = nullptr;  // not owned: InboxTables' connection
  Statement insert_session_;
  Statement upsert_member_;
  Statement delete_member_;
  Statement delete_members_;
  Statement delete_log_;
  Statement delete_session_;
  Statement raise_cursor_;
  Statement insert_entry_;
  Statement raise_last_seq_;
  Statement trim_;
  Statement expire_;
  Statement select_log_;
  Statement select_last_seq_;
  Statement select_backlog_;
  Statement select_sessions_;
  Statement select_members_;
};

}  // namespace allspark::store::sqlite
