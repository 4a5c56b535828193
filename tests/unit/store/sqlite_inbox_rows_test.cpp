// The inbox's rows (schema v5, src/store/sqlite/inbox_rows.hpp): entries
// committed together share a row; acks and limits cut through rows by the
// node's floor; rows have bounded size; damaged rows harm nothing else.
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <string>
#include <vector>

#include "sqlite_store_fixture.hpp"
#include "store/sqlite/database.hpp"

using namespace allspark::store::testing_support;
using allspark::store::sqlite::Database;

namespace {

// Entries committed together are one row (inbox_rows.hpp): an ack cutting
// through it hides what it covers, from fetches and from the counts, also
// after a reopen; each entry is counted once, and the row goes once all of
// it is acknowledged. An ack past the last seq acknowledges no later entry.
TEST_F(SqliteStoreTest, AcksCutThroughARowAndCountEachEntryOnce) {
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) entries.push_back(entry_for("a", seq));
  EXPECT_TRUE(append_now(entries));
  store->ack("a", 4);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(seqs_of(fetch_now("a", 6, 2)), (std::vector<std::uint64_t>{7, 8}));
  store->ack("a", 4);
  store->ack("a", 2);
  store->ack("a", 7);
  store->flush();
  EXPECT_EQ(store->stats().entries_acked, 7u);
  reopen();
  EXPECT_EQ(states()["a"].stored, 3u);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{8, 9, 10}));
  store->ack("a", 100);
  EXPECT_TRUE(append_now({entry_for("a", 11)}));
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), std::vector<std::uint64_t>{11});
  EXPECT_EQ(store->stats().entries_acked, 3u);  // since the reopen
  store.reset();
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(db_path(), error)) << error;
  EXPECT_EQ(db.query_int("SELECT count(*) FROM inbox_row", error), 1);  // 11's
}

// Acks over several rows: those wholly under one go, the one it cuts stays,
// and each entry is counted once however the acks fall (at a row's end,
// inside a row, across rows, under the floor; one row per commit here:
// 1-4, 5-8, 9-12).
TEST_F(SqliteStoreTest, AnAckOverSeveralRowsDeletesThoseUnderItAndCutsTheNext) {
  for (std::uint64_t first = 1; first <= 9; first += 4) {
    std::vector<InboxEntry> entries;
    for (std::uint64_t seq = first; seq < first + 4; ++seq) entries.push_back(entry_for("a", seq));
    ASSERT_TRUE(append_now(entries));
  }
  auto rows = [this] {
    Database db;
    std::string error;
    EXPECT_TRUE(db.open(db_path(), error)) << error;
    return db.query_int("SELECT count(*) FROM inbox_row WHERE node_id = 'a'", error);
  };
  EXPECT_EQ(rows(), 3);
  store->ack("a", 4);  // the end of a row
  store->flush();
  EXPECT_EQ(store->stats().entries_acked, 4u);
  EXPECT_EQ(rows(), 2);  // 1-4 gone
  store->ack("a", 6);
  store->flush();
  EXPECT_EQ(store->stats().entries_acked, 6u);
  EXPECT_EQ(rows(), 2);  // 5-8 cut
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{7, 8, 9, 10, 11, 12}));
  store->ack("a", 10);
  store->ack("a", 8);  // under the floor: nothing
  store->flush();
  EXPECT_EQ(store->stats().entries_acked, 10u);
  EXPECT_EQ(rows(), 1);  // 5-8 gone, 9-12 cut
  reopen();
  EXPECT_EQ(states()["a"].stored, 2u);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{11, 12}));
  store->ack("a", 12);
  store->flush();
  EXPECT_EQ(store->stats().entries_acked, 2u);  // since the reopen
  EXPECT_EQ(rows(), 0);
  EXPECT_TRUE(seqs_of(fetch_now("a", 0)).empty());
}

// A row holds at most row_bytes_max of frames (a larger frame is a row
// alone), so that a fetch never reads a huge row for one page; every frame
// comes back whole.
TEST_F(SqliteStoreTest, LargeFramesAreCutIntoRowsOfBoundedSize) {
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) entries.push_back(entry_for("a", seq, 30'000));
  entries.push_back(entry_for("a", 6, 100'000));
  entries.push_back(entry_for("a", 7));
  EXPECT_TRUE(append_now(entries));
  const Fetched fetched = fetch_now("a", 0, 1000, 1u << 20);
  ASSERT_EQ(fetched.entries.size(), 7u);
  for (std::size_t i = 0; i < 7; ++i) EXPECT_EQ(fetched.entries[i].frame, entries[i].frame);
  EXPECT_EQ(seqs_of(fetch_now("a", 4, 1000, 1)), std::vector<std::uint64_t>{5});  // a page of one
  store.reset();
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(db_path(), error)) << error;
  // 1-2 and 3-4 (60 KB each), 5, 6 alone (100 KB), 7.
  EXPECT_EQ(db.query_int("SELECT count(*) FROM inbox_row", error), 5);
  EXPECT_LE(db.query_int("SELECT max(length(entries)) FROM inbox_row WHERE count > 1", error), 64 * 1024 + 24);
}

// A row whose blob was damaged under the server is skipped: the node gets
// the rest of its inbox, and the other work of the transaction goes on.
TEST_F(SqliteStoreTest, ADamagedRowIsSkippedAndHarmsNothingElse) {
  EXPECT_TRUE(append_now({entry_for("a", 1), entry_for("a", 2)}));
  EXPECT_TRUE(append_now({entry_for("a", 3)}));
  {
    Database other;
    std::string error;
    ASSERT_TRUE(other.open(db_path(), error)) << error;
    ASSERT_TRUE(other.exec("UPDATE inbox_row SET entries = x'0102' WHERE node_id = 'a' AND first_seq = 1", error))
        << error;
  }
  bool ok = false;
  store->append({entry_for("b", 1)}, [&](bool r) { ok = r; });
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), std::vector<std::uint64_t>{3});
  EXPECT_TRUE(ok);
  EXPECT_EQ(seqs_of(fetch_now("b", 0)), std::vector<std::uint64_t>{1});
  EXPECT_EQ(store->stats().damaged_rows, 1u);  // for /metrics
  store->ack("a", 3);
  EXPECT_TRUE(fetch_now("a", 0).entries.empty());
}

// An ack queued in the same transaction as the entries it covers: they are
// never written (nothing to lose: the node has them), yet counted as written
// and acknowledged, and the append still succeeds.
TEST_F(SqliteStoreTest, EntriesAcknowledgedBeforeTheirCommitAreNeverWritten) {
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  store->remember_client_node("c", "x");
  store->flush();
  // Hold the store's thread so that what follows is one transaction.
  store->fetch("x", 0, UINT64_MAX, 1, 1, [&holding, released](std::vector<InboxEntry>, bool) {
    holding.set_value();
    released.wait();
  });
  holding.get_future().wait();
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) entries.push_back(entry_for("a", seq));
  bool ok = false;
  store->append(entries, [&](bool r) { ok = r; });
  store->ack("a", 3);
  release.set_value();
  store->flush();
  EXPECT_TRUE(ok);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(store->stats().entries_written, 5u);
  EXPECT_EQ(store->stats().entries_acked, 3u);
  EXPECT_EQ(states()["a"].last_seq, 5u);
  store.reset();
  Database db;
  std::string error;
  ASSERT_TRUE(db.open(db_path(), error)) << error;
  EXPECT_EQ(db.query_int("SELECT min(first_seq) FROM inbox_row WHERE node_id = 'a'", error), 4);
}

}  // namespace
