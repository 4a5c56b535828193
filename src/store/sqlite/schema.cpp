#include "store/sqlite/schema.hpp"

#include <array>
#include <string>

#include "store/sqlite/inbox_rows.hpp"

namespace allspark::store::sqlite {

namespace {

// Version 5's conversion of version 4's inbox: each run of a node's
// consecutive seqs becomes rows, within the limits of a row (inbox_rows.hpp).
bool convert_inbox(Database& db, std::string& error) {
  Statement select = db.prepare("SELECT node_id, seq, stored_at_ms, frame FROM inbox ORDER BY node_id, seq", error);
  Statement insert = db.prepare(insert_row_sql, error);
  if (!select.valid() || !insert.valid()) return false;
  RowWriter rows;
  for (;;) {
    const int rc = select.step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW || !rows.add(insert, select.column_text(0), static_cast<std::uint64_t>(select.column_int(1)),
                                      select.column_int(2), select.column_text(3))) {
      error = db.last_error();
      return false;
    }
  }
  select.reset();  // no statement may still read the table it drops
  if (!rows.flush(insert)) {
    error = db.last_error();
    return false;
  }
  return db.exec("DROP TABLE inbox", error);
}

// migrations[i] takes a file from version i to i + 1: its SQL, then its
// conversion in C++ (if any). A new version is one more entry here, never an
// edit of an earlier one: files in the field ran them.
struct Migration {
  const char* sql;
  bool (*convert)(Database& db, std::string& error) = nullptr;
};
const std::array<Migration, schema_version> migrations = {{
    // 1: node inboxes (PROTOCOL.md section 6).
    // `node` keeps each node's highest seq ever given, so a seq only grows
    // after every entry was acknowledged and across restarts.
    // `inbox` is clustered on its key (WITHOUT ROWID): every read and delete
    // is a range of one node's seqs, and an insert writes one b-tree instead
    // of a table and an index. Measured (bench/micro/sqlite_store_bench.cpp,
    // 250-byte frames): 2.1 vs 2.3-2.6 us per row appended and acknowledged
    // at 256 rows per transaction, 2.9 vs 3.2 us at 64.
    {R"sql(
      CREATE TABLE node (
        node_id  TEXT PRIMARY KEY NOT NULL,
        last_seq INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE inbox (
        node_id      TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        stored_at_ms INTEGER NOT NULL,
        frame        TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
      ) WITHOUT ROWID;
      CREATE TABLE push_key (
        node_id  TEXT PRIMARY KEY NOT NULL,
        push_key TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE client_node (
        client_id TEXT NOT NULL,
        node_id   TEXT NOT NULL,
        PRIMARY KEY (client_id, node_id)
      ) WITHOUT ROWID;
    )sql"},
    // 2: ids of messages sent with `ack` and answered -7, so that a retry
    // after a restart is not stored again; kept 10 minutes.
    {R"sql(
      CREATE TABLE acked_id (
        node_id TEXT NOT NULL,
        id      TEXT NOT NULL,
        at_ms   INTEGER NOT NULL,
        PRIMARY KEY (node_id, id)
      ) WITHOUT ROWID;
      CREATE INDEX acked_id_at ON acked_id (at_ms);
    )sql"},
    // 3: sessions, their members and cursors, and their logs (sections 5
    // and 6). `session.last_seq` is the highest session_seq ever given, as
    // node.last_seq is for inboxes. session_member_node answers "the
    // sessions of a node" (a connect's backlog); UNIQUE (true anyway) lets
    // SQLite read that backlog in order without sorting it. The log is
    // clustered on its key like the inbox; unlike the inbox it has an index
    // on stored_at_ms, so that the retention sweep is a range, not a scan
    // holding the store's thread. Measured (a sqlite3 script, 250-byte
    // bodies, 256 rows per transaction): a scan of 1M rows takes 90-120 ms
    // per sweep; the index costs 0.5-0.7 us per row appended (about 15%)
    // with the file in cache, nothing measurable past it.
    {R"sql(
      CREATE TABLE session (
        session_id          TEXT PRIMARY KEY NOT NULL,
        session_type        INTEGER NOT NULL,
        owner_id            TEXT NOT NULL,
        game_master_node_id TEXT NOT NULL,
        anyone_can_join     INTEGER NOT NULL,
        allow_anonymous     INTEGER NOT NULL,
        description         TEXT NOT NULL,
        last_seq            INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE session_member (
        session_id   TEXT NOT NULL,
        node_id      TEXT NOT NULL,
        anonymous_id TEXT NOT NULL DEFAULT '',
        cursor       INTEGER NOT NULL,
        PRIMARY KEY (session_id, node_id)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX session_member_node ON session_member (node_id, session_id);
      CREATE TABLE session_log (
        session_id   TEXT NOT NULL,
        session_seq  INTEGER NOT NULL,
        stored_at_ms INTEGER NOT NULL,
        body         TEXT NOT NULL,
        PRIMARY KEY (session_id, session_seq)
      ) WITHOUT ROWID;
      CREATE INDEX session_log_stored_at ON session_log (stored_at_ms);
    )sql"},
    // 4: acked ids by batch: one row per batch of ids answered -7 (about one
    // per transaction), `ids` a JSON array of [node_id, id, at_ms] and
    // `at_ms` the newest of them, so the whole row goes once that is past
    // the window. A row per id cost 1.7 us per acked message in `ack`
    // (bench/README.md): each id was an insert at a random place in two
    // b-trees, 40% of the store's time.
    {R"sql(
      CREATE TABLE acked_batch (
        at_ms INTEGER NOT NULL,
        ids   TEXT NOT NULL
      );
      CREATE INDEX acked_batch_at ON acked_batch (at_ms);
      INSERT INTO acked_batch (at_ms, ids)
        SELECT at_ms, json_array(json_array(node_id, id, at_ms)) FROM acked_id;
      DROP TABLE acked_id;
    )sql"},
    // 5: inbox entries by run: one row per run of a node's consecutive
    // seqs committed together (inbox_rows.hpp), keyed by its last seq, and
    // each node's floor_seq: every entry at or below it is gone
    // (acknowledged, or trimmed past --inbox-max). An ack deletes the rows
    // it covers whole and raises the floor through the one it cuts; reads
    // skip what is under the floor. A row per entry cost one b-tree insert
    // and one delete per message: 0.93 us per message against 0.47 us at 64
    // entries per transaction (a sqlite3 program, 200-byte frames). Retention
    // goes by row, once its newest entry (newest_ms) is past: a row's entries
    // were stored within a second of each other (inbox_rows.hpp).
    {R"sql(
      ALTER TABLE node ADD COLUMN floor_seq INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE inbox_row (
        node_id   TEXT NOT NULL,
        last_seq  INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        newest_ms INTEGER NOT NULL,
        entries   BLOB NOT NULL,
        PRIMARY KEY (node_id, last_seq)
      ) WITHOUT ROWID;
    )sql",
     convert_inbox},
}};

bool migrate(Database& db, std::string& error) {
  // IMMEDIATE: take the write lock before reading the version, so two
  // openers can never both run the same step.
  if (!db.exec("BEGIN IMMEDIATE", error)) return false;
  const std::int64_t version = db.query_int("PRAGMA user_version", error);
  bool ok = version >= 0;
  for (std::int64_t step = version; ok && step < schema_version; ++step) {
    const Migration& migration = migrations[static_cast<std::size_t>(step)];
    ok = db.exec(migration.sql, error) && (migration.convert == nullptr || migration.convert(db, error));
  }
  if (ok && version < schema_version) {
    ok = db.exec(("PRAGMA user_version = " + std::to_string(schema_version)).c_str(), error);
  }
  if (ok) ok = db.exec("COMMIT", error);
  if (!ok && db.in_transaction()) db.exec("ROLLBACK");
  return ok;
}

}  // namespace

bool prepare_schema(Database& db, std::string& error) {
  // A second connection (an operator's sqlite3 shell, a backup) may hold the
  // lock for a moment; wait rather than fail the store's transaction.
  sqlite3_busy_timeout(db.handle(), 5000);

  // The first read of the file: a file that is not a database fails here.
  const std::int64_t version = db.query_int("PRAGMA user_version", error);
  if (version < 0) return false;
  if (version > schema_version) {
    error = "schema version " + std::to_string(version) + " is newer than this allspark's (" +
            std::to_string(schema_version) + "); use a newer allspark or another store";
    return false;
  }
  if (sqlite3_db_readonly(db.handle(), "main") == 1) {
    error = "file is read-only";
    return false;
  }

  // WAL: readers never block the writer, and a commit appends to one file.
  // The mode is kept in the file itself.
  Statement journal = db.prepare("PRAGMA journal_mode = WAL", error);
  if (!journal.valid()) return false;
  if (journal.step() != SQLITE_ROW) {
    error = db.last_error();
    return false;
  }
  if (journal.column_text(0) != "wal") {
    error = "cannot use WAL journal mode (got " + std::string(journal.column_text(0)) + ")";
    return false;
  }
  journal.reset();

  // synchronous=NORMAL in WAL mode: a commit is written to the WAL (in the
  // OS's cache) before COMMIT returns, but fsync'ed only at checkpoints. So a
  // process crash or SIGKILL loses nothing committed; a power loss or kernel
  // crash can roll back the transactions committed since the last checkpoint
  // (at most ~1000 pages of WAL, in practice the last seconds of -4 answers),
  // never corrupting the file. FULL (an fsync per commit) would close that
  // window at the price of a disk flush per batch.
  if (!db.exec("PRAGMA synchronous = NORMAL", error)) return false;
  return migrate(db, error);
}

}  // namespace allspark::store::sqlite
