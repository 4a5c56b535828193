#include "store/sqlite/inbox_tables.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "protocol/frames.hpp"
#include "protocol/json.hpp"

namespace allspark::store::sqlite {

namespace {
// Entries of a row (first_seq, count) at or under `floor`.
std::uint64_t hidden(std::uint64_t floor, std::uint64_t first_seq, std::uint64_t count) {
  return floor < first_seq ? 0 : std::min(count, floor - first_seq + 1);
}
}  // namespace

bool InboxTables::open(Database db, std::uint64_t inbox_max, std::string& error) {
  db_ = std::move(db);
  inbox_max_ = inbox_max;
  const std::pair<Statement*, const char*> statements[] = {
      {&begin_, "BEGIN IMMEDIATE"},  // the only writer: take the lock up front
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&insert_row_, insert_row_sql},
      {&raise_last_seq_,
       // No change when the node already had a seq at or past ?3, the
       // lowest appended: a seq is never given twice.
       "INSERT INTO node (node_id, last_seq) VALUES (?1, ?2) "
       "ON CONFLICT (node_id) DO UPDATE SET last_seq = excluded.last_seq WHERE last_seq < ?3"},
      {&select_node_, "SELECT last_seq, floor_seq FROM node WHERE node_id = ?1"},
      // (Not DELETE ... RETURNING: SQLite gathers what it returns in a
      // temporary b-tree, opened and closed for each statement; that was
      // about half of raising the floor, bench/README.md "ack".)
      {&select_rows_above_, "SELECT first_seq, count, last_seq FROM inbox_row WHERE node_id = ?1 AND last_seq > ?2 "
                            "ORDER BY last_seq"},
      {&delete_rows_up_to_, "DELETE FROM inbox_row WHERE node_id = ?1 AND last_seq <= ?2"},
      {&set_floor_, "UPDATE node SET floor_seq = ?2 WHERE node_id = ?1"},
      {&select_rows_after_,
       "SELECT first_seq, count, entries FROM inbox_row WHERE node_id = ?1 AND last_seq > ?2 ORDER BY last_seq"},
      {&select_states_,
       "SELECT n.node_id, n.last_seq, "
       "(SELECT coalesce(sum(r.count - max(0, min(r.count, n.floor_seq - r.first_seq + 1))), 0) "
       " FROM inbox_row AS r WHERE r.node_id = n.node_id) "
       "FROM node AS n"},
      {&insert_member_, "INSERT OR IGNORE INTO client_node (client_id, node_id) VALUES (?1, ?2)"},
      {&select_members_, "SELECT client_id, node_id FROM client_node"},
      {&upsert_push_key_,
       "INSERT INTO push_key (node_id, push_key) VALUES (?1, ?2) "
       "ON CONFLICT (node_id) DO UPDATE SET push_key = excluded.push_key"},
      {&select_push_keys_, "SELECT node_id, push_key FROM push_key"},
      {&count_expired_,
       "SELECT coalesce(sum(r.count - max(0, min(r.count, n.floor_seq - r.first_seq + 1))), 0) "
       "FROM inbox_row AS r JOIN node AS n ON n.node_id = r.node_id WHERE r.newest_ms < ?1"},
      {&expire_, "DELETE FROM inbox_row WHERE newest_ms < ?1"},
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

bool InboxTables::begin() {
  counts_ = {};
  error_.clear();
  pending_count_ = 0;
  pending_index_.clear();
  return begin_.run();
}

bool InboxTables::commit() { return write_pending() && commit_.run(); }

void InboxTables::rollback() {
  pending_count_ = 0;
  pending_index_.clear();
  // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) roll back by themselves;
  // a ROLLBACK then would only add an error.
  if (db_.in_transaction()) rollback_.run();
}

bool InboxTables::fail(std::string error) {
  error_ = std::move(error);
  return false;
}

bool InboxTables::append(const std::vector<InboxEntry>& entries) {
  for (const InboxEntry& entry : entries) {
    auto [at, added] = pending_index_.try_emplace(entry.node_id, pending_count_);
    if (added) {
      if (pending_count_ == pending_.size()) pending_.emplace_back();
      Pending& pending = pending_[pending_count_++];
      pending.node_id = entry.node_id;
      pending.entries.clear();
      pending.first_seq = entry.seq;
    } else if (entry.seq <= pending_[at->second].last_seq) {
      return fail("seq " + std::to_string(entry.seq) + " of node \"" + entry.node_id + "\" appended after seq " +
                  std::to_string(pending_[at->second].last_seq));
    }
    Pending& pending = pending_[at->second];
    pending.entries.push_back(&entry);
    pending.last_seq = entry.seq;
  }
  counts_.written += entries.size();
  return true;
}

bool InboxTables::write_pending() {
  for (std::size_t i = 0; i < pending_count_; ++i) {
    if (!write(pending_[i])) return false;
  }
  pending_count_ = 0;
  pending_index_.clear();
  return true;
}

bool InboxTables::write(Pending& pending) {
  raise_last_seq_.bind(1, pending.node_id);
  raise_last_seq_.bind(2, to_sql(pending.last_seq));
  raise_last_seq_.bind(3, to_sql(pending.first_seq));
  if (!raise_last_seq_.run()) return false;
  if (db_.changes() == 0) {
    return fail("seq " + std::to_string(pending.first_seq) + " of node \"" + std::string(pending.node_id) +
                "\" is not past the node's last seq");
  }
  // Section 6: a node keeps at most inbox_max entries, the oldest go first:
  // pending ones under the floor are never written, the rows under it go.
  const std::uint64_t floor = inbox_max_ > 0 && pending.last_seq > inbox_max_ ? pending.last_seq - inbox_max_ : 0;
  std::size_t i = 0;
  while (i < pending.entries.size() && pending.entries[i]->seq <= floor) ++i;
  counts_.trimmed += i;
  // A row per run of consecutive seqs, within the limits of a row.
  for (; i < pending.entries.size(); ++i) {
    const InboxEntry& entry = *pending.entries[i];
    if (!rows_.add(insert_row_, entry.node_id, entry.seq, entry.stored_at_ms, entry.frame)) return false;
  }
  if (!rows_.flush(insert_row_)) return false;
  if (floor == 0) return true;
  bool found = false;
  std::uint64_t last_seq = 0;
  std::uint64_t old_floor = 0;
  return read_node(pending.node_id, found, last_seq, old_floor) &&
         raise_floor(pending.node_id, old_floor, floor, counts_.trimmed);
}

bool InboxTables::read_node(std::string_view node_id, bool& found, std::uint64_t& last_seq, std::uint64_t& floor) {
  ResetOnExit reset{select_node_};
  select_node_.bind(1, node_id);
  const int rc = select_node_.step();
  found = rc == SQLITE_ROW;
  if (found) {
    last_seq = static_cast<std::uint64_t>(select_node_.column_int(0));
    floor = static_cast<std::uint64_t>(select_node_.column_int(1));
  }
  return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

bool InboxTables::raise_floor(std::string_view node_id, std::uint64_t old_floor, std::uint64_t floor,
                              std::uint64_t& removed) {
  if (floor <= old_floor) return true;
  // The rows above the old floor, oldest first, up to the one the new floor
  // cuts (if any): those wholly under it go, the one it cuts stays with its
  // entries under the floor hidden from every read. (None is wholly under
  // the old floor: each raise deletes those.)
  bool deleting = false;
  {
    ResetOnExit reset{select_rows_above_};
    select_rows_above_.bind(1, node_id);
    select_rows_above_.bind(2, to_sql(old_floor));
    for (;;) {
      const int rc = select_rows_above_.step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return false;
      const auto first_seq = static_cast<std::uint64_t>(select_rows_above_.column_int(0));
      const auto count = static_cast<std::uint64_t>(select_rows_above_.column_int(1));
      const auto last_seq = static_cast<std::uint64_t>(select_rows_above_.column_int(2));
      removed += hidden(floor, first_seq, count) - hidden(old_floor, first_seq, count);
      if (last_seq > floor) break;  // the row the floor cuts, or one above it
      deleting = true;
    }
  }
  if (deleting) {
    delete_rows_up_to_.bind(1, node_id);
    delete_rows_up_to_.bind(2, to_sql(floor));
    if (!delete_rows_up_to_.run()) return false;
  }
  set_floor_.bind(1, node_id);
  set_floor_.bind(2, to_sql(floor));
  return set_floor_.run();
}

bool InboxTables::ack(std::string_view node_id, std::uint64_t up_to_seq) {
  // Never past the node's last seq (written or pending): a later entry is
  // not acknowledged in advance.
  std::uint64_t last_pending = 0;
  if (auto at = pending_index_.find(node_id); at != pending_index_.end()) {
    Pending& pending = pending_[at->second];
    last_pending = pending.last_seq;
    std::size_t acked = 0;
    while (acked < pending.entries.size() && pending.entries[acked]->seq <= up_to_seq) ++acked;
    pending.entries.erase(pending.entries.begin(), pending.entries.begin() + static_cast<std::ptrdiff_t>(acked));
    counts_.acked += acked;
  }
  bool found = false;
  std::uint64_t last_written = 0;
  std::uint64_t old_floor = 0;
  if (!read_node(node_id, found, last_written, old_floor)) return false;
  if (!found) return true;  // nothing written yet
  return raise_floor(node_id, old_floor, std::min(up_to_seq, std::max(last_written, last_pending)), counts_.acked);
}

bool InboxTables::expire(std::int64_t before_ms, std::uint64_t& removed) {
  {
    ResetOnExit reset{count_expired_};
    count_expired_.bind(1, before_ms);
    if (count_expired_.step() != SQLITE_ROW) return false;
    removed += static_cast<std::uint64_t>(count_expired_.column_int(0));
  }
  ResetOnExit reset{expire_};
  expire_.bind(1, before_ms);
  return expire_.run();
}

bool InboxTables::fetch(const std::string& node_id, std::uint64_t after_seq, std::uint64_t up_to_seq,
                        std::size_t max_entries, std::size_t max_bytes, std::vector<InboxEntry>& entries,
                        bool& more) {
  entries.clear();
  more = false;
  if (!write_pending()) return false;  // a fetch sees every append called before
  bool found = false;
  std::uint64_t last_seq = 0;
  std::uint64_t floor = 0;
  if (!read_node(node_id, found, last_seq, floor)) return false;
  if (!found) return true;
  after_seq = std::max(after_seq, floor);
  ResetOnExit reset{select_rows_after_};
  select_rows_after_.bind(1, node_id);
  select_rows_after_.bind(2, to_sql(after_seq));
  std::size_t bytes = 0;
  for (;;) {
    const int rc = select_rows_after_.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    const auto first_seq = static_cast<std::uint64_t>(select_rows_after_.column_int(0));
    RowReader row(select_rows_after_.column_blob(2), select_rows_after_.column_int(1));
    // A damaged row (the file was changed under the server) is skipped:
    // failing the fetch would fail its whole transaction at each of the
    // node's connects, and the node could never get past it. Counted (/metrics).
    if (!row.valid()) {
      ++counts_.damaged;
      continue;
    }
    std::int64_t stored_at_ms = 0;
    std::string_view frame;
    for (std::uint64_t seq = first_seq; row.next(stored_at_ms, frame); ++seq) {
      if (seq <= after_seq) continue;
      if (seq > up_to_seq) return true;
      // The byte budget never leaves an answer empty: a frame larger than the
      // budget still goes alone, or the node could never get past it.
      if (entries.size() == max_entries || (!entries.empty() && bytes + frame.size() > max_bytes)) {
        more = true;
        return true;
      }
      bytes += frame.size();
      entries.push_back(InboxEntry{node_id, seq, stored_at_ms, std::string(frame)});
    }
  }
}

bool InboxTables::load_states(std::vector<InboxState>& states) {
  states.clear();
  if (!write_pending()) return false;
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
