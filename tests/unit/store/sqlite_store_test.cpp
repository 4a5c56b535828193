#include "store/sqlite/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sqlite_store_fixture.hpp"
#include "store/sqlite/database.hpp"

using namespace allspark::store::testing_support;
using allspark::store::sqlite::Database;

namespace {

TEST_F(SqliteStoreTest, AppendFetchAckRoundtrip) {
  EXPECT_TRUE(append_now({entry_for("a", 1), entry_for("a", 2), entry_for("b", 1), entry_for("a", 3)}));

  const Fetched a = fetch_now("a", 0);
  ASSERT_EQ(a.entries.size(), 3u);
  EXPECT_FALSE(a.more);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const InboxEntry& got = a.entries[seq - 1];
    const InboxEntry want = entry_for("a", seq);
    EXPECT_EQ(got.node_id, want.node_id);
    EXPECT_EQ(got.seq, want.seq);
    EXPECT_EQ(got.stored_at_ms, want.stored_at_ms);
    EXPECT_EQ(got.frame, want.frame);  // byte for byte
  }
  EXPECT_EQ(seqs_of(fetch_now("b", 0)), std::vector<std::uint64_t>{1});
  EXPECT_TRUE(fetch_now("nobody", 0).entries.empty());

  store->ack("a", 2);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), std::vector<std::uint64_t>{3});
  EXPECT_EQ(seqs_of(fetch_now("b", 0)), std::vector<std::uint64_t>{1});  // other nodes untouched

  auto s = states();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s["a"].last_seq, 3u);
  EXPECT_EQ(s["a"].stored, 1u);
  EXPECT_EQ(s["b"].last_seq, 1u);
  EXPECT_EQ(s["b"].stored, 1u);

  const auto stats = store->stats();
  EXPECT_EQ(stats.entries_written, 4u);
  EXPECT_EQ(stats.entries_acked, 2u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_GE(stats.transactions, 1u);
  EXPECT_GE(stats.total_commit_us, stats.last_commit_us);
}

TEST_F(SqliteStoreTest, CallbacksRunInCallOrderAcrossThreads) {
  constexpr std::uint64_t per_thread = 400;
  std::mutex call_mutex;  // makes the order of calls known to the test
  std::vector<std::string> calls;
  std::vector<std::string> completions;  // written on the store's thread only
  int stale_fetches = 0;                 // likewise

  auto worker = [&](const std::string& node) {
    for (std::uint64_t seq = 1; seq <= per_thread; ++seq) {
      const std::lock_guard lock(call_mutex);
      const std::string id = node + "/" + std::to_string(seq);
      calls.push_back("append " + id);
      store->append({entry_for(node, seq)},
                    [&, id](bool ok) { completions.push_back((ok ? "append " : "FAILED ") + id); });
      if (seq % 10 == 0) {
        // Sees the append called just before, and the ack before that.
        calls.push_back("fetch " + id);
        store->fetch(node, 0, UINT64_MAX, 1000, 1u << 20, [&, id, seq](std::vector<InboxEntry> entries, bool) {
          if (entries.size() != 1 || entries.front().seq != seq) ++stale_fetches;
          completions.push_back("fetch " + id);
        });
      }
      store->ack(node, seq % 10 == 9 ? seq : 0);
      if (seq % 10 == 0) store->ack(node, seq);
    }
  };
  std::thread first(worker, "one");
  std::thread second(worker, "two");
  first.join();
  second.join();
  store->flush();

  EXPECT_EQ(completions, calls);
  EXPECT_EQ(stale_fetches, 0);
  EXPECT_TRUE(fetch_now("one", 0).entries.empty());
  EXPECT_EQ(store->stats().entries_written, 2 * per_thread);
}

TEST_F(SqliteStoreTest, SeqStateSurvivesAckAllAndReopen) {
  EXPECT_TRUE(append_now({entry_for("a", 1), entry_for("a", 2), entry_for("a", 3), entry_for("b", 7)}));
  store->ack("a", 3);
  store->ack("b", 100);
  auto s = states();
  EXPECT_EQ(s["a"].last_seq, 3u);
  EXPECT_EQ(s["a"].stored, 0u);
  EXPECT_EQ(s["b"].last_seq, 7u);

  reopen();
  s = states();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s["a"].last_seq, 3u);
  EXPECT_EQ(s["a"].stored, 0u);
  EXPECT_EQ(s["b"].last_seq, 7u);
  EXPECT_EQ(s["b"].stored, 0u);

  // An append of a seq a node already had (never happens; seqs only grow)
  // fails whole and changes nothing; the next one goes on.
  EXPECT_FALSE(append_now({entry_for("a", 4), entry_for("b", 2)}));
  EXPECT_FALSE(append_now({entry_for("a", 5), entry_for("a", 5)}));
  EXPECT_TRUE(append_now({entry_for("a", 4)}));
  reopen();
  s = states();
  EXPECT_EQ(s["a"].last_seq, 4u);
  EXPECT_EQ(s["a"].stored, 1u);
  EXPECT_EQ(s["b"].last_seq, 7u);
  EXPECT_EQ(s["b"].stored, 0u);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), std::vector<std::uint64_t>{4});
}

TEST_F(SqliteStoreTest, FetchHonoursLimitsAndByteBudget) {
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) entries.push_back(entry_for("a", seq));
  const std::size_t frame_bytes = entries.front().frame.size();  // seqs 1-9; 10 is one byte more
  std::size_t total_bytes = 0;
  for (const InboxEntry& entry : entries) total_bytes += entry.frame.size();
  EXPECT_TRUE(append_now(entries));

  Fetched f = fetch_now("a", 0, 3);
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(f.more);

  f = fetch_now("a", 0, 10);  // exactly what is there
  EXPECT_EQ(f.entries.size(), 10u);
  EXPECT_FALSE(f.more);

  f = fetch_now("a", 7);
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_FALSE(f.more);

  f = fetch_now("a", 10);
  EXPECT_TRUE(f.entries.empty());
  EXPECT_FALSE(f.more);

  f = fetch_now("a", 0, 100, 2 * frame_bytes + frame_bytes / 2);  // room for two and a half
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(f.more);

  f = fetch_now("a", 0, 100, total_bytes);  // the budget exactly
  EXPECT_EQ(f.entries.size(), 10u);
  EXPECT_FALSE(f.more);

  f = fetch_now("a", 0, 100, total_bytes - 1);  // one byte short: the last one waits
  EXPECT_EQ(f.entries.size(), 9u);
  EXPECT_TRUE(f.more);

  f = fetch_now("a", 4, 100, 1);  // smaller than any frame: still one
  EXPECT_EQ(seqs_of(f), std::vector<std::uint64_t>{5});
  EXPECT_TRUE(f.more);

  f = fetch_now("a", 9, 100, 1);  // the last one alone: nothing left out
  EXPECT_EQ(seqs_of(f), std::vector<std::uint64_t>{10});
  EXPECT_FALSE(f.more);

  f = fetch_now("a", UINT64_MAX);
  EXPECT_TRUE(f.entries.empty());
}

TEST_F(SqliteStoreTest, FlushWaitsForEverythingCalledBefore) {
  store->flush();  // an idle store returns at once

  constexpr int count = 2000;
  std::atomic<int> done{0};
  auto writer = [&](const std::string& node) {
    for (int i = 1; i <= count / 2; ++i) {
      store->append({entry_for(node, static_cast<std::uint64_t>(i))}, [&](bool ok) { done += ok ? 1 : 1000000; });
    }
    store->flush();  // two flushes in flight at once
  };
  std::thread first(writer, "one");
  std::thread second(writer, "two");
  first.join();
  second.join();
  EXPECT_EQ(done.load(), count);
  EXPECT_EQ(store->stats().entries_written, static_cast<std::uint64_t>(count));
  EXPECT_EQ(store->stats().queue_depth, 0u);

  // The destructor flushes too: callbacks ran and rows are there afterwards.
  done = 0;
  for (std::uint64_t seq = 1001; seq <= 1100; ++seq) {
    store->append({entry_for("one", seq)}, [&](bool ok) { done += ok; });
  }
  store.reset();
  EXPECT_EQ(done.load(), 100);
  reopen();
  EXPECT_EQ(states()["one"].stored, 1100u);
}

// Store::set_after_callbacks: the hook runs once per transaction, after
// every callback of it (how a shard gets one wake-up per transaction).
TEST_F(SqliteStoreTest, AfterCallbacksHookFollowsEachTransactionsCallbacks) {
  std::mutex mutex;
  std::vector<std::string> events;  // "cb", or "hook"
  store->set_after_callbacks([&] {
    const std::lock_guard lock(mutex);
    events.push_back("hook");
  });
  const auto before = store->stats().transactions;
  constexpr int count = 300;
  for (int i = 1; i <= count; ++i) {
    store->append({entry_for("n", static_cast<std::uint64_t>(i))}, [&](bool) {
      const std::lock_guard lock(mutex);
      events.push_back("cb");
    });
  }
  store->flush();  // returns once the hook of its own batch has run
  const auto transactions = store->stats().transactions - before;
  const std::lock_guard lock(mutex);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "hook");  // nothing answered after the last hook
  std::size_t callbacks = 0;
  std::size_t hooks = 0;
  for (const std::string& event : events) (event == "cb" ? callbacks : hooks) += 1;
  EXPECT_EQ(callbacks, static_cast<std::size_t>(count));
  // One per batch: each transaction's, and the flush's own (which may have none).
  EXPECT_GE(hooks, transactions);
  EXPECT_LE(hooks, transactions + 1);
  EXPECT_LT(hooks, static_cast<std::size_t>(count));  // many callbacks per hook
  store->set_after_callbacks({});  // `events` goes with this test
}

// Background work called right after a transaction (while the thread rests
// without being woken for it) is still committed within the linger, with no
// other call to carry it.
TEST_F(SqliteStoreTest, BackgroundWorkRightAfterATransactionIsCommittedAlone) {
  std::promise<void> stored;
  store->append({entry_for("n", 1), entry_for("n", 2)}, [&](bool) { stored.set_value(); });
  stored.get_future().wait();
  store->ack("n", 2);  // background: nobody waits for it
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (store->stats().entries_acked < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(store->stats().entries_acked, 2u);
  EXPECT_EQ(store->stats().queue_depth, 0u);
}

TEST_F(SqliteStoreTest, FailedTransactionFailsItsAppendsAndStoreGoesOn) {
  EXPECT_TRUE(append_now({entry_for("a", 1), entry_for("a", 2)}));
  {
    // Another connection plants a fault: inserts for node "poison" abort,
    // as a full disk would, every time.
    Database other;
    std::string error;
    ASSERT_TRUE(other.open(db_path(), error)) << error;
    ASSERT_TRUE(other.exec("CREATE TRIGGER poison BEFORE INSERT ON inbox_row WHEN NEW.node_id = 'poison' "
                           "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
                           error))
        << error;
  }

  // Hold the store's thread in a callback so that what follows is queued
  // together and runs as one transaction.
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  store->append({entry_for("a", 3)}, [&holding, released](bool) {
    holding.set_value();
    released.wait();
  });
  holding.get_future().wait();  // its transaction is over; the thread waits
  std::vector<bool> results;
  Fetched fetched;
  store->append({entry_for("a", 4)}, [&](bool ok) { results.push_back(ok); });
  store->append({entry_for("poison", 1)}, [&](bool ok) { results.push_back(ok); });
  store->ack("a", 1);
  store->fetch("a", 0, UINT64_MAX, 100, 1u << 20, [&](std::vector<InboxEntry> entries, bool more) {
    fetched = Fetched{std::move(entries), more};
  });
  release.set_value();
  store->flush();

  EXPECT_EQ(results, (std::vector<bool>{false, false}));  // every append of the transaction
  EXPECT_EQ(store->stats().failures, 2u);
  // The ack and the fetch ran again without the failed appends: no row that
  // was rolled back is ever shown.
  EXPECT_EQ(seqs_of(fetched), (std::vector<std::uint64_t>{2, 3}));

  // Later calls work.
  EXPECT_TRUE(append_now({entry_for("a", 4)}));
  EXPECT_FALSE(append_now({entry_for("poison", 2)}));
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(states()["a"].last_seq, 4u);
  EXPECT_EQ(states().count("poison"), 0u);
  EXPECT_EQ(store->stats().failures, 3u);
}

TEST_F(SqliteStoreTest, GivingASeqTwiceFails) {
  EXPECT_TRUE(append_now({entry_for("a", 1)}));
  EXPECT_FALSE(append_now({entry_for("a", 1, 5)}));
  const Fetched f = fetch_now("a", 0);
  ASSERT_EQ(f.entries.size(), 1u);
  EXPECT_EQ(f.entries.front().frame, frame_for("a", 1));  // the first one kept
}

// An append of many entries, nodes interleaved (each node's become rows of
// their own, inbox_rows.hpp): every entry lands, each node's last_seq is its
// highest; a seq given twice, even among new ones, fails the whole append
// and keeps nothing of it.
TEST_F(SqliteStoreTest, LargeAppendsKeepEveryRowAndFailWhole) {
  std::vector<InboxEntry> entries;
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    entries.push_back(entry_for("a", seq));
    if (seq <= 17) entries.push_back(entry_for("b", seq, 3));
  }
  ASSERT_EQ(entries.size(), 37u);
  EXPECT_TRUE(append_now(entries));
  const Fetched a = fetch_now("a", 0);
  ASSERT_EQ(a.entries.size(), 20u);
  for (std::uint64_t seq = 1; seq <= 20; ++seq) EXPECT_EQ(a.entries[seq - 1].frame, frame_for("a", seq));
  const Fetched b = fetch_now("b", 0);
  ASSERT_EQ(b.entries.size(), 17u);
  EXPECT_EQ(b.entries.back().frame, frame_for("b", 17, 3));
  auto s = states();
  EXPECT_EQ(s["a"].last_seq, 20u);
  EXPECT_EQ(s["b"].last_seq, 17u);

  std::vector<InboxEntry> twice;
  for (std::uint64_t seq = 21; seq <= 40; ++seq) twice.push_back(entry_for("a", seq));
  twice[7] = entry_for("a", 20);  // already kept
  EXPECT_FALSE(append_now(twice));
  EXPECT_EQ(fetch_now("a", 0).entries.size(), 20u);
  EXPECT_EQ(states()["a"].last_seq, 20u);
  EXPECT_EQ(store->stats().entries_written, 37u);
}

TEST_F(SqliteStoreTest, ManySmallAppendsShareFewTransactions) {
  constexpr int count = 10'000;
  const auto before = store->stats().transactions;
  std::atomic<int> ok_count{0};
  for (int i = 1; i <= count; ++i) {
    store->append({entry_for("n" + std::to_string(i % 50), static_cast<std::uint64_t>(i))},
                  [&](bool ok) { ok_count += ok; });
  }
  store->flush();
  const auto stats = store->stats();
  EXPECT_EQ(ok_count.load(), count);
  EXPECT_EQ(stats.entries_written, static_cast<std::uint64_t>(count));
  const auto transactions = stats.transactions - before;
  EXPECT_LT(transactions * 20, static_cast<std::uint64_t>(count)) << transactions << " transactions";
  RecordProperty("transactions", static_cast<int>(transactions));
}

// SIGKILL in the middle of appends: everything whose done(true) ran is on
// disk after a restart, byte for byte (PROTOCOL.md section 6, durability).
TEST(SqliteStoreCrashTest, AcknowledgedAppendsSurviveSigkill) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = (dir.path() / "allspark.db").string();
  auto node_of = [](std::uint64_t seq) { return "crash-" + std::to_string(seq % 3); };
  auto entry_of = [&](std::uint64_t seq) { return entry_for(node_of(seq), seq, seq % 7 * 150); };

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    std::string error;
    auto store = open_sqlite_store(path, error);
    if (!store) _exit(3);
    for (std::uint64_t seq = 1;; ++seq) {
      store->append({entry_of(seq)}, [fd = fds[1], seq](bool ok) {
        // 8 bytes: below PIPE_BUF, so each write is atomic.
        if (ok && write(fd, &seq, sizeof seq) != sizeof seq) _exit(4);
      });
      if (seq % 100 == 0) store->flush();  // bounds the queue; kills still land mid-batch
    }
  }
  close(fds[1]);

  constexpr std::size_t kill_after = 3050;  // mid-batch: while callbacks of a commit run
  std::vector<std::uint64_t> acknowledged;
  bool killed = false;
  for (;;) {
    pollfd pfd{fds[0], POLLIN, 0};
    if (poll(&pfd, 1, 10'000) <= 0) break;  // a hung child fails below
    std::uint64_t seq = 0;
    const ssize_t n = read(fds[0], &seq, sizeof seq);
    if (n != static_cast<ssize_t>(sizeof seq)) break;  // EOF: the child is gone
    acknowledged.push_back(seq);
    if (!killed && acknowledged.size() == kill_after) {
      kill(child, SIGKILL);  // then drain what it acknowledged before dying
      killed = true;
    }
  }
  if (!killed) kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  ASSERT_TRUE(killed) << "the child acknowledged only " << acknowledged.size();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  std::string error;
  auto store = open_sqlite_store(path, error);
  ASSERT_NE(store, nullptr) << error;
  std::map<std::uint64_t, InboxEntry> kept;
  for (int node = 0; node < 3; ++node) {
    store->fetch("crash-" + std::to_string(node), 0, UINT64_MAX, SIZE_MAX, SIZE_MAX,
                 [&](std::vector<InboxEntry> entries, bool) {
                   for (InboxEntry& entry : entries) kept[entry.seq] = std::move(entry);
                 });
  }
  std::map<std::string, std::uint64_t> last_seqs;
  for (const InboxState& state : store->load_inbox_states()) last_seqs[state.node_id] = state.last_seq;
  store->flush();

  std::size_t missing = 0;
  for (std::uint64_t seq : acknowledged) {
    const auto it = kept.find(seq);
    if (it == kept.end()) {
      ++missing;
      continue;
    }
    const InboxEntry want = entry_of(seq);
    EXPECT_EQ(it->second.node_id, want.node_id);
    EXPECT_EQ(it->second.stored_at_ms, want.stored_at_ms);
    EXPECT_EQ(it->second.frame, want.frame) << "seq " << seq;
    EXPECT_GE(last_seqs[want.node_id], seq);
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged";
  EXPECT_GE(acknowledged.size(), kill_after);
}

}  // namespace

namespace allspark::store {
namespace {

TEST_F(SqliteStoreTest, ClientMembershipsAreKeptOnceAndSurviveAReopen) {
  store->remember_client_node("alice", "phone");
  store->remember_client_node("alice", "laptop");
  store->remember_client_node("alice", "phone");  // again: kept once
  store->remember_client_node("bob", "tablet");
  store->flush();
  reopen();
  auto members = store->load_client_nodes();
  std::sort(members.begin(), members.end());
  EXPECT_EQ(members, (std::vector<std::pair<std::string, std::string>>{
                         {"alice", "laptop"}, {"alice", "phone"}, {"bob", "tablet"}}));
}

}  // namespace
}  // namespace allspark::store

namespace allspark::store {
namespace {

TEST_F(SqliteStoreTest, FetchStopsAtUpToSeqAndMoreOnlyCountsThatRange) {
  EXPECT_TRUE(append_now({entry_for("a", 1), entry_for("a", 2), entry_for("a", 3), entry_for("a", 4)}));
  Fetched got;
  store->fetch("a", 1, 3, 1000, 1u << 20, [&](std::vector<InboxEntry> entries, bool more) {
    got = Fetched{std::move(entries), more};
  });
  store->flush();
  EXPECT_EQ(seqs_of(got), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_FALSE(got.more);  // seq 4 exists, but outside the range
  store->fetch("a", 0, 3, 2, 1u << 20, [&](std::vector<InboxEntry> entries, bool more) {
    got = Fetched{std::move(entries), more};
  });
  store->flush();
  EXPECT_EQ(seqs_of(got), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(got.more);
}

}  // namespace
}  // namespace allspark::store

namespace allspark::store {
namespace {

TEST_F(SqliteStoreTest, InboxMaxKeepsTheNewestEntriesOfEachNodeAndCountsTheRest) {
  store.reset();
  std::string error;
  store = open_sqlite_store(db_path(), error, StoreLimits{.inbox_max = 3});
  ASSERT_TRUE(store) << error;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) EXPECT_TRUE(append_now({entry_for("a", seq)}));
  EXPECT_TRUE(append_now({entry_for("b", 1), entry_for("a", 6), entry_for("b", 2)}));
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_EQ(seqs_of(fetch_now("b", 0)), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(store->stats().dropped_inbox_max, 3u);
  EXPECT_EQ(states()["a"].last_seq, 6u);  // seq still only grows

  // Many at once: those past the limit are never written, and the limit
  // cuts through the row of the ones before (counted once each).
  std::vector<InboxEntry> burst;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) burst.push_back(entry_for("c", seq));
  EXPECT_TRUE(append_now(burst));
  EXPECT_EQ(seqs_of(fetch_now("c", 0)), (std::vector<std::uint64_t>{8, 9, 10}));
  EXPECT_EQ(store->stats().dropped_inbox_max, 10u);
  EXPECT_TRUE(append_now({entry_for("c", 11)}));
  EXPECT_EQ(seqs_of(fetch_now("c", 0)), (std::vector<std::uint64_t>{9, 10, 11}));
  EXPECT_EQ(store->stats().dropped_inbox_max, 11u);
  reopen();
  EXPECT_EQ(states()["c"].stored, 3u);
}

// The store again, with a retention of 1 s (its sweep then runs each second).
class RetentionTest : public SqliteStoreTest {
 protected:
  void reopen_with_retention() {
    store.reset();
    std::string error;
    store = open_sqlite_store(db_path(), error, StoreLimits{.retention_ms = 1000});
    ASSERT_TRUE(store) << error;
  }
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

TEST_F(RetentionTest, RetentionDropsOldEntriesInTheBackgroundAndCountsThem) {
  reopen_with_retention();
  const std::int64_t now = now_ms();
  InboxEntry old_entry = entry_for("a", 1);
  old_entry.stored_at_ms = now - 60'000;
  InboxEntry fresh = entry_for("a", 2);
  fresh.stored_at_ms = now + 60'000;
  EXPECT_TRUE(append_now({old_entry, fresh}));
  // The sweep runs each second when idle.
  for (int i = 0; i < 40 && store->stats().dropped_retention == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(store->stats().dropped_retention, 1u);
  EXPECT_EQ(seqs_of(fetch_now("a", 0)), std::vector<std::uint64_t>{2});
}

// The sweep keeps its deadline: a steady trickle of calls (here an ack every
// 200 ms, each waking the thread) does not put it off.
TEST_F(RetentionTest, RetentionSweepsUnderASteadyTrickleOfCalls) {
  reopen_with_retention();
  InboxEntry old_entry = entry_for("a", 1);
  old_entry.stored_at_ms = now_ms() - 60'000;
  EXPECT_TRUE(append_now({old_entry}));
  for (int i = 0; i < 25 && store->stats().dropped_retention == 0; ++i) {
    store->ack("b", static_cast<std::uint64_t>(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(store->stats().dropped_retention, 1u);
}


}  // namespace
}  // namespace allspark::store
