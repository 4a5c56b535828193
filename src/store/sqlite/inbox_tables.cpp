#include "store/sqlite/inbox_tables.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "protocol/frames.hpp"
#include "protocol/json.hpp"

namespace allspark::store::sqlite {

namespace {
constexpr int rows_per_insert = 16;

// INSERT of `rows` rows: (?1, ?2, ?3, ?4), (?5, ...
std::string insert_sql(int rows) {
  std::string sql = "INSERT INTO inbox (node_id, seq, stored_at_ms, frame) VALUES ";
  for (int parameter = 1; parameter <= rows * 4; ++parameter) {
    sql += parameter % 4 == 1 ? (parameter > 1 ? "), (?" : "(?") : ", ?";
    sql += std::to_string(parameter);
  }
  return sql + ")";
}

// Binds `entry` as row `row` (from 0) of an insert_sql statement.
void bind_row(Statement& insert, int row, const InboxEntry& entry) {
  insert.bind(row * 4 + 1, entry.node_id);
  insert.bind(row * 4 + 2, to_sql(entry.seq));
  insert.bind(row * 4 + 3, entry.stored_at_ms);
  insert.bind(row * 4 + 4, entry.frame);
}
}  // namespace

bool InboxTables::open(Database db, std::string& error) {
  db_ = std::move(db);
  const std::string insert_one = insert_sql(1);
  const std::string insert_many = insert_sql(rows_per_insert);
  const std::pair<Statement*, const char*> statements[] = {
      {&begin_, "BEGIN IMMEDIATE"},  // the only writer: take the lock up front
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&insert_entry_, insert_one.c_str()},
      {&insert_entries_, insert_many.c_str()},
      {&raise_last_seq_,
       "INSERT INTO node (node_id, last_seq) VALUES (?1, ?2) "
       "ON CONFLICT (node_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)"},
      {&delete_up_to_, "DELETE FROM inbox WHERE node_id = ?1 AND seq <= ?2"},
      {&select_after_,
       "SELECT seq, stored_at_ms, frame FROM inbox WHERE node_id = ?1 AND seq > ?2 AND seq <= ?4 ORDER BY seq "
       "LIMIT ?3"},
      {&select_states_,
       "SELECT n.node_id, n.last_seq, (SELECT count(*) FROM inbox AS i WHERE i.node_id = n.node_id) "
       "FROM node AS n"},
      {&insert_member_, "INSERT OR IGNORE INTO client_node (client_id, node_id) VALUES (?1, ?2)"},
      {&select_members_, "SELECT client_id, node_id FROM client_node"},
      {&upsert_push_key_,
       "INSERT INTO push_key (node_id, push_key) VALUES (?1, ?2) "
       "ON CONFLICT (node_id) DO UPDATE SET push_key = excluded.push_key"},
      {&select_push_keys_, "SELECT node_id, push_key FROM push_key"},
      {&trim_,
       // The newest `keep` seqs (a node's seqs are given one by one): a seek,
       // where OFFSET ?2 walked `keep` rows on every append.
       "DELETE FROM inbox WHERE node_id = ?1 AND seq <= "
       "(SELECT last_seq FROM node WHERE node_id = ?1) - ?2"},
      {&expire_, "DELETE FROM inbox WHERE stored_at_ms < ?1"},
      {&insert_acked_batch_, "INSERT INTO acked_batch (at_ms, ids) VALUES (?1, ?2)"},
      {&select_acked_ids_,
       // Each id once, at its newest time, oldest first.
       // (Names unlike json_each's own columns, `id` among them.)
       "SELECT json_extract(j.value, '$[0]') AS acked_node, json_extract(j.value, '$[1]') AS acked_id, "
       "max(json_extract(j.value, '$[2]')) AS acked_at "
       "FROM acked_batch AS b, json_each(b.ids) AS j WHERE b.at_ms >= ?1 "
       "GROUP BY acked_node, acked_id HAVING acked_at >= ?1 ORDER BY acked_at"},
      {&delete_acked_ids_, "DELETE FROM acked_batch WHERE at_ms < ?1"},
  };
  for (const auto& [statement, sql] : statements) {
    *statement = db_.prepare(sql, error);
    if (!statement->valid()) return false;
  }
  return true;
}

void InboxTables::rollback() {
  // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) roll back by themselves;
  // a ROLLBACK then would only add an error.
  if (db_.in_transaction()) rollback_.run();
}

bool InboxTables::append(const std::vector<InboxEntry>& entries, std::uint64_t& written) {
  // Rows go rows_per_insert to a statement (one step, not one per row), the
  // rest one by one.
  std::size_t i = 0;
  for (; i + rows_per_insert <= entries.size(); i += rows_per_insert) {
    for (int row = 0; row < rows_per_insert; ++row) {
      bind_row(insert_entries_, row, entries[i + static_cast<std::size_t>(row)]);
    }
    if (!insert_entries_.run()) return false;
    written += rows_per_insert;
  }
  for (; i < entries.size(); ++i) {
    bind_row(insert_entry_, 0, entries[i]);
    if (!insert_entry_.run()) return false;
    ++written;
  }
  // One last_seq update per run of entries for the same node (the usual
  // call carries one node's messages), not one per row.
  std::size_t run_start = 0;
  for (std::size_t j = 0; j < entries.size(); ++j) {
    const bool run_ends = j + 1 == entries.size() || entries[j + 1].node_id != entries[j].node_id;
    if (!run_ends) continue;
    std::uint64_t run_max = 0;
    for (std::size_t k = run_start; k <= j; ++k) run_max = std::max(run_max, entries[k].seq);
    raise_last_seq_.bind(1, entries[j].node_id);
    raise_last_seq_.bind(2, to_sql(run_max));
    if (!raise_last_seq_.run()) return false;
    run_start = j + 1;
  }
  return true;
}

bool InboxTables::ack(std::string_view node_id, std::uint64_t up_to_seq, std::uint64_t& removed) {
  delete_up_to_.bind(1, node_id);
  delete_up_to_.bind(2, to_sql(up_to_seq));
  if (!delete_up_to_.run()) return false;
  removed += static_cast<std::uint64_t>(db_.changes());
  return true;
}

bool InboxTables::trim(std::string_view node_id, std::uint64_t keep, std::uint64_t& removed) {
  ResetOnExit reset{trim_};
  trim_.bind(1, node_id);
  trim_.bind(2, to_sql(keep));
  if (!trim_.run()) return false;
  removed += static_cast<std::uint64_t>(db_.changes());
  return true;
}

bool InboxTables::expire(std::int64_t before_ms, std::uint64_t& removed) {
  ResetOnExit reset{expire_};
  expire_.bind(1, before_ms);
  if (!expire_.run()) return false;
  removed += static_cast<std::uint64_t>(db_.changes());
  return true;
}

bool InboxTables::fetch(const std::string& node_id, std::uint64_t after_seq, std::uint64_t up_to_seq,
                        std::size_t max_entries,
                        std::size_t max_bytes, std::vector<InboxEntry>& entries, bool& more) {
  entries.clear();
  more = false;
  ResetOnExit reset{select_after_};
  select_after_.bind(1, node_id);
  select_after_.bind(2, to_sql(after_seq));
  select_after_.bind(3, limit_past(max_entries));
  select_after_.bind(4, to_sql(up_to_seq));
  std::size_t bytes = 0;
  for (;;) {
    const int rc = select_after_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    const std::string_view frame = select_after_.column_text(2);
    // The byte budget never leaves an answer empty: a frame larger than the
    // budget still goes alone, or the node could never get past it.
    if (entries.size() == max_entries || (!entries.empty() && bytes + frame.size() > max_bytes)) {
      more = true;
      return true;
    }
    bytes += frame.size();
    entries.push_back(InboxEntry{node_id, static_cast<std::uint64_t>(select_after_.column_int(0)),
                                 select_after_.column_int(1), std::string(frame)});
  }
}

bool InboxTables::load_states(std::vector<InboxState>& states) {
  states.clear();
  ResetOnExit reset{select_states_};
  for (;;) {
    const int rc = select_states_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    states.push_back(InboxState{std::string(select_states_.column_text(0)),
                                static_cast<std::uint64_t>(select_states_.column_int(1)),
                                static_cast<std::uint64_t>(select_states_.column_int(2))});
  }
}

bool InboxTables::add_member(std::string_view client_id, std::string_view node_id) {
  ResetOnExit reset{insert_member_};
  insert_member_.bind(1, client_id);
  insert_member_.bind(2, node_id);
  return insert_member_.run();
}

bool InboxTables::load_members(std::vector<std::pair<std::string, std::string>>& members) {
  members.clear();
  ResetOnExit reset{select_members_};
  for (;;) {
    const int rc = select_members_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    members.emplace_back(std::string(select_members_.column_text(0)), std::string(select_members_.column_text(1)));
  }
}

bool InboxTables::set_push_key(std::string_view node_id, std::string_view push_key) {
  ResetOnExit reset{upsert_push_key_};
  upsert_push_key_.bind(1, node_id);
  upsert_push_key_.bind(2, push_key);
  return upsert_push_key_.run();
}

bool InboxTables::load_push_keys(std::vector<std::pair<std::string, std::string>>& keys) {
  keys.clear();
  ResetOnExit reset{select_push_keys_};
  for (;;) {
    const int rc = select_push_keys_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    keys.emplace_back(std::string(select_push_keys_.column_text(0)), std::string(select_push_keys_.column_text(1)));
  }
}

// One row for the whole call: [[node_id, id, at_ms], ...] under the newest at_ms.
bool InboxTables::remember_acked_ids(const std::vector<AckedId>& ids) {
  if (ids.empty()) return true;
  std::string json;
  json.reserve(ids.size() * 48);
  json += '[';
  std::int64_t newest = ids.front().at_ms;
  for (const AckedId& acked : ids) {
    if (json.size() > 1) json += ',';
    json += '[';
    protocol::append_json_string(json, acked.node_id);
    json += ',';
    protocol::append_json_string(json, acked.id);
    json += ',';
    protocol::append_int(json, acked.at_ms);
    json += ']';
    newest = std::max(newest, acked.at_ms);
  }
  json += ']';
  ResetOnExit reset{insert_acked_batch_};
  insert_acked_batch_.bind(1, newest);
  insert_acked_batch_.bind(2, json);
  return insert_acked_batch_.run();
}

bool InboxTables::forget_acked_ids(std::int64_t before_ms) {
  ResetOnExit reset{delete_acked_ids_};
  delete_acked_ids_.bind(1, before_ms);
  return delete_acked_ids_.run();
}

bool InboxTables::load_acked_ids(std::int64_t since_ms, std::vector<AckedId>& ids) {
  ids.clear();
  if (!forget_acked_ids(since_ms)) return false;
  ResetOnExit reset{select_acked_ids_};
  select_acked_ids_.bind(1, since_ms);
  for (;;) {
    const int rc = select_acked_ids_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    ids.push_back({std::string(select_acked_ids_.column_text(0)), std::string(select_acked_ids_.column_text(1)),
                   select_acked_ids_.column_int(2)});
  }
}

}  // namespace allspark::store::sqlite
