// The SQLite store's file: WAL at the current schema version, migrations
// from earlier versions, files it must refuse, and the acked ids (schema v2).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sqlite_store_fixture.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

using namespace allspark::store::testing_support;
using allspark::store::sqlite::Database;

namespace {

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
  {
    Database db;
    std::string error;
    ASSERT_TRUE(db.open(db_path(), error)) << error;
    std::string newer = "PRAGMA user_version = " + std::to_string(allspark::store::sqlite::schema_version + 1);
    ASSERT_TRUE(db.exec(newer.c_str(), error)) << error;
  }
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

// A file of schema version 1 (the first release) is migrated in place and
// keeps its inbox.
TEST_F(SqliteStoreTest, VersionOneFileIsMigratedAndKeepsItsInbox) {
  bool ok = false;
  store->append({entry_for("n", 1)}, [&](bool r) { ok = r; });
  store->flush();
  ASSERT_TRUE(ok);
  store.reset();
  {
    Database db;
    std::string error;
    ASSERT_TRUE(db.open(db_path(), error)) << error;
    ASSERT_TRUE(db.exec("DROP TABLE acked_id; PRAGMA user_version = 1", error)) << error;
  }
  reopen();
  store->remember_acked_ids({{"a", "m1", 1000}});
  store->flush();
  EXPECT_EQ(store->load_acked_ids(0).size(), 1u);
  auto states = store->load_inbox_states();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].last_seq, 1u);
}

}  // namespace
