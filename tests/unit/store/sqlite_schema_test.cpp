// The SQLite store's file: WAL at the current schema version, migrations
// from earlier versions, files it must refuse, and the acked ids (schema v2,
// by batch since v4).
// Sessions (schema v3) have their own file, sqlite_sessions_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sqlite_store_fixture.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

using namespace allspark::store::testing_support;
using allspark::store::sqlite::Database;

namespace {

// The acked_id table as schema versions 2 and 3 made it.
constexpr const char* version_two_acked_id =
    "CREATE TABLE acked_id (node_id TEXT NOT NULL, id TEXT NOT NULL, at_ms INTEGER NOT NULL, "
    "PRIMARY KEY (node_id, id)) WITHOUT ROWID; CREATE INDEX acked_id_at ON acked_id (at_ms); ";

// Runs `sql` on a closed store's file: the file as an older (or newer)
// allspark left it.
void rewrite_file(const std::string& path, const std::string& sql) {
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(path, error)) << error;
  ASSERT_TRUE(db.exec(sql.c_str(), error)) << error;
}

// Makes a closed store's file what version 4 wrote: one inbox row per entry
// (`entries`, the inbox), node without floor_seq. `last_seqs` are the
// nodes' (node_id, last_seq). Older versions only lack later tables.
void rewrite_as_version_four(const std::string& path, const std::vector<InboxEntry>& entries,
                             const std::vector<std::pair<std::string, std::uint64_t>>& last_seqs) {
  ASSERT_NO_FATAL_FAILURE(rewrite_file(
      path,
      "DROP TABLE inbox_row; DROP TABLE node; "
      "CREATE TABLE node (node_id TEXT PRIMARY KEY NOT NULL, last_seq INTEGER NOT NULL) WITHOUT ROWID; "
      "CREATE TABLE inbox (node_id TEXT NOT NULL, seq INTEGER NOT NULL, stored_at_ms INTEGER NOT NULL, "
      "frame TEXT NOT NULL, PRIMARY KEY (node_id, seq)) WITHOUT ROWID; PRAGMA user_version = 4"));
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(path, error)) << error;
  auto insert = db.prepare("INSERT INTO inbox VALUES (?1, ?2, ?3, ?4)", error);
  ASSERT_TRUE(insert.valid()) << error;
  ASSERT_TRUE(db.exec("BEGIN", error)) << error;
  for (const InboxEntry& entry : entries) {
    insert.bind(1, entry.node_id);
    insert.bind(2, static_cast<std::int64_t>(entry.seq));
    insert.bind(3, entry.stored_at_ms);
    insert.bind(4, entry.frame);
    ASSERT_TRUE(insert.run()) << db.last_error();
  }
  auto node = db.prepare("INSERT INTO node VALUES (?1, ?2)", error);
  ASSERT_TRUE(node.valid()) << error;
  for (const auto& [node_id, last_seq] : last_seqs) {
    node.bind(1, node_id);
    node.bind(2, static_cast<std::int64_t>(last_seq));
    ASSERT_TRUE(node.run()) << db.last_error();
  }
  ASSERT_TRUE(db.exec("COMMIT", error)) << error;
}

TEST_F(SqliteStoreTest, FreshFileIsWalAtTheCurrentSchemaVersion) {
  store.reset();
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(db_path(), error)) << error;
  EXPECT_EQ(db.query_int("PRAGMA user_version", error), allspark::store::sqlite::schema_version);
  auto mode = db.prepare("PRAGMA journal_mode", error);
  ASSERT_EQ(mode.step(), SQLITE_ROW);
  EXPECT_EQ(mode.column_text(0), "wal");
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  store.reset();
  ASSERT_NO_FATAL_FAILURE(
      rewrite_file(db_path(), "PRAGMA user_version = " + std::to_string(allspark::store::sqlite::schema_version + 1)));
  std::string error;
  EXPECT_EQ(open_sqlite_store(db_path(), error), nullptr);
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
  EXPECT_NE(error.find(db_path()), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, NonDatabaseFileIsRefused) {
  const std::string path = (dir.path() / "notes.txt").string();
  {
    std::ofstream out(path);
    for (int i = 0; i < 100; ++i) out << "these are somebody's notes, not a database\n";
  }
  std::string error;
  EXPECT_EQ(open_sqlite_store(path, error), nullptr);
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, UnusablePathsAreRefusedAndMissingFoldersCreated) {
  std::string error;
  const std::string under_a_file = (dir.path() / "notes.txt" / "store.db").string();
  std::ofstream(dir.path() / "notes.txt") << "a file";
  EXPECT_EQ(open_sqlite_store(under_a_file, error), nullptr);
  EXPECT_NE(error.find("cannot create folder"), std::string::npos) << error;

  error.clear();
  EXPECT_EQ(open_sqlite_store(dir.path().string(), error), nullptr);  // a folder
  EXPECT_FALSE(error.empty());

  error.clear();
  const std::string deep = (dir.path() / "x" / "y" / "z" / "store.db").string();
  EXPECT_NE(open_sqlite_store(deep, error), nullptr) << error;
  EXPECT_TRUE(std::filesystem::exists(deep));
}

// Section 6: ids answered -7 are kept for the retry window, across a reopen;
// older ones are dropped as they are loaded.
TEST_F(SqliteStoreTest, AckedIdsSurviveAReopenAndOldOnesGo) {
  store->remember_acked_ids({{"a", "m1", 1000}, {"a", "m2", 5000}, {"b", "m1", 3000}});
  store->remember_acked_ids({{"a", "m1", 6000}});  // the same id again: the newer time
  store->flush();
  reopen();
  auto ids = store->load_acked_ids(2000);
  ASSERT_EQ(ids.size(), 3u);  // oldest first
  EXPECT_EQ(ids[0].node_id + " " + ids[0].id, "b m1");
  EXPECT_EQ(ids[1].node_id + " " + ids[1].id, "a m2");
  EXPECT_EQ(ids[2].node_id + " " + ids[2].id + " " + std::to_string(ids[2].at_ms), "a m1 6000");
  EXPECT_EQ(store->load_acked_ids(5500).size(), 1u);
  EXPECT_EQ(store->load_acked_ids(0).size(), 1u);  // the others were dropped by the load before
}

// Version 3's acked ids (one row per id) become batches; ids, times and the
// window are kept, and ids with quotes or backslashes survive the JSON.
TEST_F(SqliteStoreTest, VersionThreeAckedIdsBecomeBatches) {
  store.reset();
  ASSERT_NO_FATAL_FAILURE(rewrite_as_version_four(db_path(), {}, {}));
  ASSERT_NO_FATAL_FAILURE(rewrite_file(
      db_path(), "DROP TABLE acked_batch; " + std::string(version_two_acked_id) +
                     "INSERT INTO acked_id VALUES ('a', 'm1', 1000), ('a', 'm2', 5000), ('b', 'm1', 3000); "
                     "PRAGMA user_version = 3"));
  reopen();
  store->remember_acked_ids({{"a", "m1", 6000}, {"c", "q\"\\\n", 4000}});
  store->flush();
  // "a m1" is in a migrated row (1000) and in the new one (6000): once, the newer.
  auto all = store->load_acked_ids(0);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].node_id + " " + all[3].id + " " + std::to_string(all[3].at_ms), "a m1 6000");
  auto ids = store->load_acked_ids(2000);
  ASSERT_EQ(ids.size(), 4u);  // oldest first, each once at its newest time
  EXPECT_EQ(ids[0].node_id + " " + ids[0].id, "b m1");
  EXPECT_EQ(ids[1].node_id + " " + ids[1].id, "c q\"\\\n");
  EXPECT_EQ(ids[2].node_id + " " + ids[2].id, "a m2");
  EXPECT_EQ(ids[3].node_id + " " + ids[3].id + " " + std::to_string(ids[3].at_ms), "a m1 6000");
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(db_path(), error)) << error;
  EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'acked_id'", error), 0);
  // Three rows migrated and one new; the load dropped the one past the window.
  EXPECT_EQ(db.query_int("SELECT count(*) FROM acked_batch", error), 3);
}

// A file of schema version 1 (the first release) is migrated in place and
// keeps its inbox.
TEST_F(SqliteStoreTest, VersionOneFileIsMigratedAndKeepsItsInbox) {
  store.reset();
  // Back to what version 1 wrote: later migrations only add tables (and
  // version 5 changes the inbox's).
  ASSERT_NO_FATAL_FAILURE(rewrite_as_version_four(db_path(), {entry_for("n", 1)}, {{"n", 1}}));
  ASSERT_NO_FATAL_FAILURE(rewrite_file(db_path(),
                                       "DROP TABLE session_log; DROP TABLE session_member; DROP TABLE session; "
                                       "DROP TABLE acked_batch; PRAGMA user_version = 1"));
  reopen();
  store->remember_acked_ids({{"a", "m1", 1000}});
  store->flush();
  EXPECT_EQ(store->load_acked_ids(0).size(), 1u);
  auto states = store->load_inbox_states();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].last_seq, 1u);
}

// A file of schema version 2 gets the session tables and keeps its inbox,
// its seqs and its acked ids.
TEST_F(SqliteStoreTest, VersionTwoFileIsMigratedAndKeepsItsInboxAndAckedIds) {
  bool ok = false;
  store.reset();
  ASSERT_NO_FATAL_FAILURE(rewrite_as_version_four(db_path(), {entry_for("n", 1), entry_for("n", 2), entry_for("m", 7)},
                                                  {{"n", 2}, {"m", 7}}));
  // Version 2's acked ids were one row per id.
  ASSERT_NO_FATAL_FAILURE(rewrite_file(
      db_path(), "DROP TABLE session_log; DROP TABLE session_member; DROP TABLE session; DROP TABLE acked_batch; " +
                     std::string(version_two_acked_id) +
                     "INSERT INTO acked_id VALUES ('n', 'm1', 1000); PRAGMA user_version = 2"));
  reopen();
  store->flush();
  {
    Database db;
    std::string error;
    ASSERT_TRUE(db.open(db_path(), error)) << error;
    EXPECT_EQ(db.query_int("PRAGMA user_version", error), allspark::store::sqlite::schema_version);
    // session, session_member, session_log and their two indexes.
    EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'session%'", error), 5);
  }

  auto states = store->load_inbox_states();
  ASSERT_EQ(states.size(), 2u);
  std::uint64_t stored = 0;
  for (const auto& state : states) stored += state.stored;
  EXPECT_EQ(stored, 3u);
  std::vector<InboxEntry> fetched;
  store->fetch("n", 0, UINT64_MAX, 100, 1u << 20, [&](std::vector<InboxEntry> entries, bool) {
    fetched = std::move(entries);
  });
  store->flush();
  ASSERT_EQ(fetched.size(), 2u);
  EXPECT_EQ(fetched[1].frame, frame_for("n", 2));
  auto ids = store->load_acked_ids(0);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].node_id + " " + ids[0].id + " " + std::to_string(ids[0].at_ms), "n m1 1000");

  // The new tables work.
  allspark::store::SessionRecord session;
  session.session_id = "s";
  session.owner_id = "n";
  session.game_master_node_id = "n";
  store->create_session(session, {{"s", "n", "", 0}}, [&](bool r) { ok = r; });
  store->flush();
  EXPECT_TRUE(ok);
  EXPECT_EQ(store->load_sessions().members.size(), 1u);
}

// Version 4's inbox (a row per entry) becomes runs: every entry, frame and
// seq is kept, gaps (retention) split runs, a long run is cut into rows of
// row_entries_max, and what was acknowledged stays acknowledged.
TEST_F(SqliteStoreTest, VersionFourInboxBecomesRunsAndKeepsEveryEntry) {
  store.reset();
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 3; seq <= 5; ++seq) entries.push_back(entry_for("a", seq, seq));  // 1-2 acknowledged
  for (std::uint64_t seq = 8; seq <= 9; ++seq) entries.push_back(entry_for("a", seq));       // 6-7 expired
  for (std::uint64_t seq = 1; seq <= 300; ++seq) entries.push_back(entry_for("b", seq));
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {  // a day apart: the retention drops them one by one
    entries.push_back(entry_for("d", seq));
    entries.back().stored_at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq) * 86'400'000;
  }
  ASSERT_NO_FATAL_FAILURE(
      rewrite_as_version_four(db_path(), entries, {{"a", 12}, {"b", 300}, {"c", 4}, {"d", 3}}));
  reopen();

  auto s = states();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s["a"].last_seq, 12u);
  EXPECT_EQ(s["a"].stored, 5u);
  EXPECT_EQ(s["b"].stored, 300u);
  EXPECT_EQ(s["c"].last_seq, 4u);
  EXPECT_EQ(s["c"].stored, 0u);
  Fetched a = fetch_now("a", 0);
  EXPECT_EQ(seqs_of(a), (std::vector<std::uint64_t>{3, 4, 5, 8, 9}));
  ASSERT_EQ(a.entries.size(), 5u);
  EXPECT_EQ(a.entries[1].frame, frame_for("a", 4, 4));
  EXPECT_EQ(a.entries[1].stored_at_ms, entry_for("a", 4).stored_at_ms);
  Fetched b = fetch_now("b", 250);
  ASSERT_EQ(b.entries.size(), 50u);
  EXPECT_EQ(b.entries.front().seq, 251u);
  EXPECT_EQ(b.entries.back().frame, frame_for("b", 300));
  {
    Database db;
    std::string error;
    ASSERT_TRUE(db.open(db_path(), error)) << error;
    EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'inbox'", error), 0);
    // a: 3-5 and 8-9; b: 1-256 and 257-300; d: one row per day.
    EXPECT_EQ(db.query_int("SELECT count(*) FROM inbox_row", error), 7);
    EXPECT_EQ(db.query_int("SELECT count(*) FROM inbox_row WHERE node_id = 'd' AND count = 1", error), 3);
  }
  // It goes on from there: seqs past the last, acks through a row.
  EXPECT_TRUE(append_now({entry_for("a", 13)}));
  store->ack("a", 4);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{5, 8, 9, 13}));
}

}  // namespace
