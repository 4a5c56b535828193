#include "store/sqlite/session_tables.hpp"

#include <algorithm>
#include <utility>

namespace allspark::store::sqlite {

bool SessionTables::open(Database& db, std::string& error) {
  db_ = db.handle();
  const std::pair<Statement*, const char*> statements[] = {
      {&insert_session_,
       "INSERT INTO session (session_id, session_type, owner_id, game_master_node_id, anyone_can_join, "
       "allow_anonymous, description, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      // Only for a session that exists: a join racing a delete leaves no
      // member behind. A replaced member keeps the higher cursor (section 6:
      // a cursor never goes back).
      {&upsert_member_,
       "INSERT INTO session_member (session_id, node_id, anonymous_id, cursor) "
       "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM session WHERE session_id = ?1) "
       "ON CONFLICT (session_id, node_id) DO UPDATE SET anonymous_id = excluded.anonymous_id, "
       "cursor = max(cursor, excluded.cursor)"},
      {&delete_member_, "DELETE FROM session_member WHERE session_id = ?1 AND node_id = ?2"},
      {&delete_members_, "DELETE FROM session_member WHERE session_id = ?1"},
      {&delete_log_, "DELETE FROM session_log WHERE session_id = ?1"},
      {&delete_session_, "DELETE FROM session WHERE session_id = ?1"},
      {&raise_cursor_,
       "UPDATE session_member SET cursor = max(cursor, ?3) WHERE session_id = ?1 AND node_id = ?2"},
      // A plain session message is appended in the background (section 6),
      // so its session may have been deleted since: skipped, not failed.
      {&insert_entry_,
       "INSERT INTO session_log (session_id, session_seq, stored_at_ms, body) "
       "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM session WHERE session_id = ?1)"},
      {&raise_last_seq_, "UPDATE session SET last_seq = max(last_seq, ?2) WHERE session_id = ?1"},
      {&trim_,
       // Keeps the seqs after last_seq - keep: the newest `keep` entries, as
       // session_seqs are given one by one. A seek, where OFFSET ?2 walked
       // `keep` rows on every append (58 us per entry at 10,000).
       "DELETE FROM session_log WHERE session_id = ?1 AND session_seq <= "
       "(SELECT last_seq FROM session WHERE session_id = ?1) - ?2"},
      {&expire_, "DELETE FROM session_log WHERE stored_at_ms < ?1"},
      {&select_log_,
       "SELECT session_id, session_seq, stored_at_ms, body FROM session_log "
       "WHERE session_id = ?1 AND session_seq > ?2 AND session_seq <= ?4 ORDER BY session_seq LIMIT ?3"},
      {&select_last_seq_, "SELECT last_seq FROM session WHERE session_id = ?1"},
      // Strictly after (?2, ?3) and after the cursor. Ordered by the member's
      // session_id: with session_member_node unique, SQLite reads in that
      // order and stops at the limit instead of sorting the whole backlog.
      {&select_backlog_,
       "SELECT l.session_id, l.session_seq, l.stored_at_ms, l.body "
       "FROM session_member AS m JOIN session_log AS l ON l.session_id = m.session_id "
       "AND l.session_seq > max(m.cursor, CASE WHEN m.session_id = ?2 THEN ?3 ELSE 0 END) "
       "WHERE m.node_id = ?1 AND m.session_id >= ?2 ORDER BY m.session_id, l.session_seq LIMIT ?4"},
      {&select_sessions_,
       "SELECT session_id, session_type, owner_id, game_master_node_id, anyone_can_join, allow_anonymous, "
       "description, last_seq FROM session ORDER BY session_id"},
      {&select_members_,
       "SELECT session_id, node_id, anonymous_id, cursor FROM session_member ORDER BY session_id, node_id"},
  };
  for (const auto& [statement, sql] : statements) {
    *statement = db.prepare(sql, error);
    if (!statement->valid()) return false;
  }
  return true;
}

bool SessionTables::create(const SessionRecord& session, const std::vector<SessionMember>& members) {
  insert_session_.bind(1, session.session_id);
  insert_session_.bind(2, session.session_type);
  insert_session_.bind(3, session.owner_id);
  insert_session_.bind(4, session.game_master_node_id);
  insert_session_.bind(5, std::int64_t{session.anyone_can_join});
  insert_session_.bind(6, std::int64_t{session.allow_anonymous});
  insert_session_.bind(7, session.description);
  insert_session_.bind(8, to_sql(session.last_seq));
  if (!insert_session_.run()) return false;
  return std::all_of(members.begin(), members.end(), [this](const SessionMember& m) { return insert_member(m); });
}

bool SessionTables::remove(std::string_view session_id) {
  for (Statement* statement : {&delete_log_, &delete_members_, &delete_session_}) {
    statement->bind(1, session_id);
    if (!statement->run()) return false;
  }
  return true;
}

bool SessionTables::put_member(const SessionMember& member) { return insert_member(member); }

bool SessionTables::insert_member(const SessionMember& member) {
  upsert_member_.bind(1, member.session_id);
  upsert_member_.bind(2, member.node_id);
  upsert_member_.bind(3, member.anonymous_id);
  upsert_member_.bind(4, to_sql(member.cursor));
  return upsert_member_.run();
}

bool SessionTables::remove_member(std::string_view session_id, std::string_view node_id) {
  delete_member_.bind(1, session_id);
  delete_member_.bind(2, node_id);
  return delete_member_.run();
}

bool SessionTables::move_cursors(const std::vector<SessionMember>& cursors) {
  for (const SessionMember& member : cursors) {
    raise_cursor_.bind(1, member.session_id);
    raise_cursor_.bind(2, member.node_id);
    raise_cursor_.bind(3, to_sql(member.cursor));
    if (!raise_cursor_.run()) return false;
  }
  return true;
}

bool SessionTables::append(const std::vector<LogEntry>& entries, std::uint64_t& written) {
  // One last_seq update per run of entries for the same session, as the
  // inbox does per node.
  std::uint64_t run_max = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LogEntry& entry = entries[i];
    insert_entry_.bind(1, entry.session_id);
    insert_entry_.bind(2, to_sql(entry.session_seq));
    insert_entry_.bind(3, entry.stored_at_ms);
    insert_entry_.bind(4, entry.body);
    if (!insert_entry_.run()) return false;
    written += static_cast<std::uint64_t>(sqlite3_changes(db_));
    run_max = std::max(run_max, entry.session_seq);

    if (i + 1 < entries.size() && entries[i + 1].session_id == entry.session_id) continue;
    raise_last_seq_.bind(1, entry.session_id);
    raise_last_seq_.bind(2, to_sql(run_max));
    if (!raise_last_seq_.run()) return false;
    run_max = 0;
  }
  return true;
}

bool SessionTables::trim(std::string_view session_id, std::uint64_t keep, std::uint64_t& removed) {
  trim_.bind(1, session_id);
  trim_.bind(2, to_sql(keep));
  if (!trim_.run()) return false;
  removed += static_cast<std::uint64_t>(sqlite3_changes(db_));
  return true;
}

bool SessionTables::expire(std::int64_t before_ms, std::uint64_t& removed) {
  expire_.bind(1, before_ms);
  if (!expire_.run()) return false;
  removed += static_cast<std::uint64_t>(sqlite3_changes(db_));
  return true;
}

bool SessionTables::read_entries(Statement& query, std::size_t max_entries, std::size_t max_bytes,
                                 std::vector<LogEntry>& entries, bool& more) {
  std::size_t bytes = 0;
  for (;;) {
    const int rc = query.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    const std::string_view body = query.column_text(3);
    // As InboxTables::fetch: a body larger than the budget still goes alone.
    if (entries.size() == max_entries || (!entries.empty() && bytes + body.size() > max_bytes)) {
      more = true;
      return true;
    }
    bytes += body.size();
    entries.push_back(LogEntry{std::string(query.column_text(0)), static_cast<std::uint64_t>(query.column_int(1)),
                               query.column_int(2), std::string(body)});
  }
}

bool SessionTables::fetch(const std::string& session_id, std::uint64_t after_seq, std::uint64_t up_to_seq,
                          std::size_t max_entries, std::size_t max_bytes, std::vector<LogEntry>& entries,
                          bool& more, std::uint64_t& last_seq) {
  entries.clear();
  more = false;
  last_seq = 0;
  {
    ResetOnExit reset{select_last_seq_};
    select_last_seq_.bind(1, session_id);
    const int rc = select_last_seq_.step();
    if (rc == SQLITE_ROW) {
      last_seq = static_cast<std::uint64_t>(select_last_seq_.column_int(0));
    } else if (rc != SQLITE_DONE) {
      return false;
    }
  }
  ResetOnExit reset{select_log_};
  select_log_.bind(1, session_id);
  select_log_.bind(2, to_sql(after_seq));
  select_log_.bind(3, limit_past(max_entries));
  select_log_.bind(4, to_sql(up_to_seq));
  return read_entries(select_log_, max_entries, max_bytes, entries, more);
}

bool SessionTables::fetch_backlog(std::string_view node_id, std::string_view after_session_id,
                                  std::uint64_t after_seq, std::size_t max_entries, std::size_t max_bytes,
                                  std::vector<LogEntry>& entries, bool& more) {
  entries.clear();
  more = false;
  ResetOnExit reset{select_backlog_};
  select_backlog_.bind(1, node_id);
  select_backlog_.bind(2, after_session_id);
  select_backlog_.bind(3, to_sql(after_seq));
  select_backlog_.bind(4, limit_past(max_entries));
  return read_entries(select_backlog_, max_entries, max_bytes, entries, more);
}

bool SessionTables::load(SessionsSnapshot& snapshot) {
  snapshot.sessions.clear();
  snapshot.members.clear();
  {
    ResetOnExit reset{select_sessions_};
    for (;;) {
      const int rc = select_sessions_.step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return false;
      Statement& row = select_sessions_;
      snapshot.sessions.push_back(SessionRecord{std::string(row.column_text(0)), row.column_int(1),
                                                std::string(row.column_text(2)), std::string(row.column_text(3)),
                                                row.column_int(4) != 0, row.column_int(5) != 0,
                                                std::string(row.column_text(6)),
                                                static_cast<std::uint64_t>(row.column_int(7))});
    }
  }
  ResetOnExit reset{select_members_};
  for (;;) {
    const int rc = select_members_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    Statement& row = select_members_;
    snapshot.members.push_back(SessionMember{std::string(row.column_text(0)), std::string(row.column_text(1)),
                                             std::string(row.column_text(2)),
                                             static_cast<std::uint64_t>(row.column_int(3))});
  }
}

}  // namespace allspark::store::sqlite
