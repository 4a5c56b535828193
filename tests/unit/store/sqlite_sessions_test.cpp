// The SQLite store's sessions (PROTOCOL.md sections 5 and 6): sessions and
// their members with cursors, session logs with their last_seq, the backlog
// of a node, and what the limits drop.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "sqlite_store_fixture.hpp"

using namespace allspark::store::testing_support;
using allspark::store::LogEntry;
using allspark::store::SessionMember;
using allspark::store::SessionRecord;
using allspark::store::SessionsSnapshot;
using allspark::store::StoreLimits;

namespace {

// A log entry's body as the server would store it: the frame after its
// per-recipient head, with bytes a text-mangling layer would break.
std::string body_for(const std::string& session, std::uint64_t seq, std::size_t padding = 0) {
  return R"("type":1,"src_id":"s","dest_session_id":")" + session + R"(","session_seq":)" + std::to_string(seq) +
         R"(,"data":"h\u00e9llo \u0000 \"q\" ✓ )" + std::string(padding, 'x') + R"("})";
}

LogEntry log_for(const std::string& session, std::uint64_t seq, std::size_t padding = 0) {
  return LogEntry{session, seq, 1'700'000'000'000 + static_cast<std::int64_t>(seq), body_for(session, seq, padding)};
}

SessionRecord session_for(const std::string& id, const std::string& owner = "owner") {
  SessionRecord session;
  session.session_id = id;
  session.owner_id = owner;
  session.game_master_node_id = owner;
  return session;
}

std::string text_of(const SessionRecord& s) {
  return s.session_id + " type=" + std::to_string(s.session_type) + " owner=" + s.owner_id +
         " gm=" + s.game_master_node_id + " join=" + std::to_string(s.anyone_can_join) +
         " anon=" + std::to_string(s.allow_anonymous) + " desc=" + s.description +
         " last=" + std::to_string(s.last_seq);
}

std::string text_of(const SessionMember& m) {
  return m.session_id + "/" + m.node_id + " anon=" + m.anonymous_id + " cursor=" + std::to_string(m.cursor);
}

template <typename T>
std::vector<std::string> texts_of(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const T& item : items) out.push_back(text_of(item));
  return out;
}

struct LogFetched {
  std::vector<LogEntry> entries;
  bool more = false;
  std::uint64_t last_seq = 0;
};

// "session:seq" for each entry, in order.
std::vector<std::string> positions_of(const std::vector<LogEntry>& entries) {
  std::vector<std::string> out;
  for (const LogEntry& entry : entries) out.push_back(entry.session_id + ":" + std::to_string(entry.session_seq));
  return out;
}

std::vector<std::uint64_t> seqs_of(const LogFetched& fetched) {
  std::vector<std::uint64_t> out;
  for (const LogEntry& entry : fetched.entries) out.push_back(entry.session_seq);
  return out;
}

class SqliteSessionsTest : public SqliteStoreTest {
 protected:
  void reopen_with(StoreLimits limits) {
    store.reset();
    std::string error;
    store = open_sqlite_store(db_path(), error, limits);
    ASSERT_NE(store, nullptr) << error;
  }

  // Each runs one call and waits for its callback (flush returns after it).
  bool create_now(const SessionRecord& session, std::vector<SessionMember> members) {
    int result = -1;
    store->create_session(session, std::move(members), [&](bool ok) { result = ok; });
    store->flush();
    return result == 1;
  }
  bool delete_now(const std::string& session_id) {
    int result = -1;
    store->delete_session(session_id, [&](bool ok) { result = ok; });
    store->flush();
    return result == 1;
  }
  bool put_member_now(SessionMember member) {
    int result = -1;
    store->put_member(std::move(member), [&](bool ok) { result = ok; });
    store->flush();
    return result == 1;
  }
  bool remove_member_now(const std::string& session_id, const std::string& node_id) {
    int result = -1;
    store->remove_member(session_id, node_id, [&](bool ok) { result = ok; });
    store->flush();
    return result == 1;
  }
  bool append_log_now(std::vector<LogEntry> entries) {
    int result = -1;
    store->append_log(std::move(entries), [&](bool ok) { result = ok; });
    store->flush();
    return result == 1;
  }
  LogFetched fetch_log_now(const std::string& session_id, std::uint64_t after, std::uint64_t up_to = UINT64_MAX,
                           std::size_t max_entries = 1000, std::size_t max_bytes = 1u << 20) {
    LogFetched out;
    out.last_seq = 12345;  // must be overwritten
    store->fetch_log(session_id, after, up_to, max_entries, max_bytes,
                     [&](std::vector<LogEntry> entries, bool more, std::uint64_t last_seq) {
                       out = LogFetched{std::move(entries), more, last_seq};
                     });
    store->flush();
    return out;
  }
  LogFetched backlog_now(const std::string& node_id, const std::string& after_session_id, std::uint64_t after_seq,
                         std::size_t max_entries = 1000, std::size_t max_bytes = 1u << 20) {
    LogFetched out;
    store->fetch_backlog(node_id, after_session_id, after_seq, max_entries, max_bytes,
                         [&](std::vector<LogEntry> entries, bool more) {
                           out = LogFetched{std::move(entries), more, 0};
                         });
    store->flush();
    return out;
  }
  // session/node -> cursor, from load_sessions.
  std::map<std::string, std::uint64_t> cursors() {
    std::map<std::string, std::uint64_t> out;
    for (const SessionMember& m : store->load_sessions().members) out[m.session_id + "/" + m.node_id] = m.cursor;
    return out;
  }
  std::uint64_t last_seq_of(const std::string& session_id) {
    for (const SessionRecord& s : store->load_sessions().sessions) {
      if (s.session_id == session_id) return s.last_seq;
    }
    return UINT64_MAX;  // no such session
  }
};

TEST_F(SqliteSessionsTest, CreatedSessionsAndMembersLoadAfterAReopen) {
  SessionRecord game = session_for("game-1", "alice");
  game.session_type = 1;
  game.game_master_node_id = "gm";
  game.anyone_can_join = true;
  game.allow_anonymous = true;
  game.description = R"("a \"quoted\" d\u00e9scription ✓")";
  SessionRecord chat = session_for("chat", "bob");  // defaults: type 0, flags off, description null
  chat.last_seq = 40;                               // kept as given

  EXPECT_TRUE(
      create_now(game, {{"game-1", "alice", "", 0}, {"game-1", "gm", "", 0}, {"game-1", "ghost", "anon-7", 3}}));
  EXPECT_TRUE(create_now(chat, {{"chat", "bob", "", 0}}));
  EXPECT_FALSE(create_now(session_for("chat", "mallory"), {}));  // an existing session_id
  reopen();

  const SessionsSnapshot snapshot = store->load_sessions();
  EXPECT_EQ(texts_of(snapshot.sessions),
            (std::vector<std::string>{
                "chat type=0 owner=bob gm=bob join=0 anon=0 desc=null last=40",
                R"(game-1 type=1 owner=alice gm=gm join=1 anon=1 desc="a \"quoted\" d\u00e9scription ✓" last=0)"}));
  EXPECT_EQ(texts_of(snapshot.members), (std::vector<std::string>{
                                            "chat/bob anon= cursor=0",
                                            "game-1/alice anon= cursor=0",
                                            "game-1/ghost anon=anon-7 cursor=3",
                                            "game-1/gm anon= cursor=0",
                                        }));
}

TEST_F(SqliteSessionsTest, PutMemberAddsOrReplacesAndRemoveMemberRemoves) {
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "owner", "", 0}, {"s", "shy", "anon-1", 4}}));
  EXPECT_TRUE(put_member_now({"s", "shy", "", 2}));      // a reveal: the anonymous id goes, the cursor stays higher
  EXPECT_TRUE(put_member_now({"s", "late", "anon-2", 9}));
  EXPECT_TRUE(remove_member_now("s", "owner"));
  EXPECT_TRUE(remove_member_now("s", "nobody"));          // nothing to do is no failure
  EXPECT_TRUE(put_member_now({"gone", "shy", "", 0}));    // a session that does not exist: skipped
  reopen();
  EXPECT_EQ(texts_of(store->load_sessions().members),
            (std::vector<std::string>{"s/late anon=anon-2 cursor=9", "s/shy anon= cursor=4"}));
}

TEST_F(SqliteSessionsTest, DeleteSessionDropsItsMembersAndLogOnly) {
  ASSERT_TRUE(create_now(session_for("one"), {{"one", "a", "", 0}, {"one", "b", "", 0}}));
  ASSERT_TRUE(create_now(session_for("two"), {{"two", "a", "", 0}}));
  ASSERT_TRUE(append_log_now({log_for("one", 1), log_for("one", 2), log_for("two", 1)}));

  EXPECT_TRUE(delete_now("one"));
  EXPECT_TRUE(delete_now("never-was"));
  const SessionsSnapshot snapshot = store->load_sessions();
  ASSERT_EQ(snapshot.sessions.size(), 1u);
  EXPECT_EQ(snapshot.sessions[0].session_id, "two");
  EXPECT_EQ(texts_of(snapshot.members), std::vector<std::string>{"two/a anon= cursor=0"});
  LogFetched one = fetch_log_now("one", 0);
  EXPECT_TRUE(one.entries.empty());
  EXPECT_EQ(one.last_seq, 0u);
  EXPECT_EQ(positions_of(backlog_now("a", "", 0).entries), std::vector<std::string>{"two:1"});

  // The same id again is a new session: empty log, seqs from the start.
  ASSERT_TRUE(create_now(session_for("one"), {{"one", "c", "", 0}}));
  EXPECT_EQ(last_seq_of("one"), 0u);
  EXPECT_TRUE(fetch_log_now("one", 0).entries.empty());
  EXPECT_TRUE(append_log_now({log_for("one", 1)}));
  EXPECT_EQ(seqs_of(fetch_log_now("one", 0)), std::vector<std::uint64_t>{1});
}

TEST_F(SqliteSessionsTest, AppendLogRaisesLastSeqSkipsUnknownSessionsAndSurvivesARestart) {
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}}));
  ASSERT_TRUE(create_now(session_for("t"), {{"t", "a", "", 0}}));
  // Runs of sessions interleave; "x" does not exist.
  EXPECT_TRUE(append_log_now({log_for("s", 1), log_for("s", 2), log_for("x", 1), log_for("t", 1), log_for("s", 3, 2000),
                              log_for("x", 2)}));
  EXPECT_EQ(store->stats().log_entries_written, 4u);
  EXPECT_EQ(store->stats().entries_written, 0u);  // the inbox's count is apart

  reopen();
  const LogFetched s = fetch_log_now("s", 0);
  ASSERT_EQ(s.entries.size(), 3u);
  EXPECT_EQ(s.last_seq, 3u);
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const LogEntry want = log_for("s", seq, seq == 3 ? 2000 : 0);
    const LogEntry& got = s.entries[seq - 1];
    EXPECT_EQ(got.session_id, "s");
    EXPECT_EQ(got.session_seq, seq);
    EXPECT_EQ(got.stored_at_ms, want.stored_at_ms);
    EXPECT_EQ(got.body, want.body);  // byte for byte
  }
  EXPECT_EQ(fetch_log_now("t", 0).last_seq, 1u);
  const LogFetched x = fetch_log_now("x", 0);
  EXPECT_TRUE(x.entries.empty());
  EXPECT_EQ(x.last_seq, 0u);
  EXPECT_EQ(last_seq_of("x"), UINT64_MAX);  // no session made up for it

  // last_seq only grows: an older seq given late does not lower it.
  EXPECT_TRUE(append_log_now({log_for("s", 9), log_for("s", 5)}));
  EXPECT_EQ(last_seq_of("s"), 9u);
  EXPECT_TRUE(append_log_now({log_for("s", 7)}));
  EXPECT_EQ(last_seq_of("s"), 9u);
  // A seq given twice fails the append, as for inboxes.
  EXPECT_FALSE(append_log_now({log_for("s", 9, 5)}));
  EXPECT_EQ(fetch_log_now("s", 8).entries.at(0).body, body_for("s", 9));
  EXPECT_EQ(store->stats().log_entries_written, 3u);  // since the reopen
  EXPECT_EQ(store->stats().failures, 1u);
}

TEST_F(SqliteSessionsTest, FetchLogHonoursRangesLimitsAndByteBudget) {
  ASSERT_TRUE(create_now(session_for("s"), {}));
  std::vector<LogEntry> entries;
  for (std::uint64_t seq = 1; seq <= 10; ++seq) entries.push_back(log_for("s", seq));
  const std::size_t body_bytes = entries.front().body.size();  // seqs 1-9; 10 is one byte more
  std::size_t total_bytes = 0;
  for (const LogEntry& entry : entries) total_bytes += entry.body.size();
  ASSERT_TRUE(append_log_now(entries));

  LogFetched f = fetch_log_now("s", 0, UINT64_MAX, 3);
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(f.more);
  EXPECT_EQ(f.last_seq, 10u);

  f = fetch_log_now("s", 0, UINT64_MAX, 10);
  EXPECT_EQ(f.entries.size(), 10u);
  EXPECT_FALSE(f.more);

  f = fetch_log_now("s", 3, 6);  // after 3, up to 6 inclusive
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_FALSE(f.more);  // 7-10 exist, but outside the range
  EXPECT_EQ(f.last_seq, 10u);

  f = fetch_log_now("s", 3, 6, 2);
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_TRUE(f.more);

  f = fetch_log_now("s", 0, UINT64_MAX, 100, 2 * body_bytes + body_bytes / 2);
  EXPECT_EQ(seqs_of(f), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(f.more);

  f = fetch_log_now("s", 0, UINT64_MAX, 100, total_bytes);
  EXPECT_EQ(f.entries.size(), 10u);
  EXPECT_FALSE(f.more);

  f = fetch_log_now("s", 0, UINT64_MAX, 100, total_bytes - 1);
  EXPECT_EQ(f.entries.size(), 9u);
  EXPECT_TRUE(f.more);

  f = fetch_log_now("s", 4, UINT64_MAX, 100, 1);  // smaller than any body: still one
  EXPECT_EQ(seqs_of(f), std::vector<std::uint64_t>{5});
  EXPECT_TRUE(f.more);

  f = fetch_log_now("s", 10);
  EXPECT_TRUE(f.entries.empty());
  EXPECT_FALSE(f.more);
  EXPECT_EQ(f.last_seq, 10u);

  f = fetch_log_now("s", UINT64_MAX);
  EXPECT_TRUE(f.entries.empty());

  f = fetch_log_now("nobody", 0);
  EXPECT_TRUE(f.entries.empty());
  EXPECT_EQ(f.last_seq, 0u);
}

TEST_F(SqliteSessionsTest, BacklogFollowsCursorsAcrossSessionsAndPagesByPosition) {
  // n is in alpha (acknowledged up to 2) and gamma (nothing acknowledged);
  // beta is someone else's.
  ASSERT_TRUE(create_now(session_for("alpha"), {{"alpha", "n", "", 2}, {"alpha", "m", "", 0}}));
  ASSERT_TRUE(create_now(session_for("beta"), {{"beta", "m", "", 0}}));
  ASSERT_TRUE(create_now(session_for("gamma"), {{"gamma", "n", "anon-n", 0}}));
  ASSERT_TRUE(append_log_now({log_for("gamma", 1), log_for("alpha", 1), log_for("beta", 1), log_for("alpha", 2),
                              log_for("gamma", 2), log_for("alpha", 3), log_for("beta", 2), log_for("alpha", 4),
                              log_for("gamma", 3)}));

  LogFetched all = backlog_now("n", "", 0);
  EXPECT_EQ(positions_of(all.entries),
            (std::vector<std::string>{"alpha:3", "alpha:4", "gamma:1", "gamma:2", "gamma:3"}));
  EXPECT_FALSE(all.more);
  EXPECT_EQ(all.entries.at(2).body, body_for("gamma", 1));
  EXPECT_EQ(all.entries.at(2).stored_at_ms, log_for("gamma", 1).stored_at_ms);

  // Pages of two, each starting after the last position given.
  LogFetched page = backlog_now("n", "", 0, 2);
  EXPECT_EQ(positions_of(page.entries), (std::vector<std::string>{"alpha:3", "alpha:4"}));
  EXPECT_TRUE(page.more);
  page = backlog_now("n", "alpha", 4, 2);
  EXPECT_EQ(positions_of(page.entries), (std::vector<std::string>{"gamma:1", "gamma:2"}));
  EXPECT_TRUE(page.more);
  page = backlog_now("n", "gamma", 2, 2);
  EXPECT_EQ(positions_of(page.entries), std::vector<std::string>{"gamma:3"});
  EXPECT_FALSE(page.more);
  page = backlog_now("n", "gamma", 3, 2);
  EXPECT_TRUE(page.entries.empty());
  EXPECT_FALSE(page.more);

  // A position before the cursor does not go back past it; one between
  // sessions starts at the next.
  EXPECT_EQ(positions_of(backlog_now("n", "alpha", 1, 1).entries), std::vector<std::string>{"alpha:3"});
  EXPECT_EQ(positions_of(backlog_now("n", "beta", 0, 1).entries), std::vector<std::string>{"gamma:1"});
  EXPECT_EQ(positions_of(backlog_now("n", "alpha", 99, 1).entries), std::vector<std::string>{"gamma:1"});

  // The byte budget: one entry per page when it is smaller than any body.
  page = backlog_now("n", "alpha", 3, 1000, 1);
  EXPECT_EQ(positions_of(page.entries), std::vector<std::string>{"alpha:4"});
  EXPECT_TRUE(page.more);

  // Acknowledging moves what is left.
  store->move_cursors({{"alpha", "n", "", 4}, {"gamma", "n", "", 1}});
  EXPECT_EQ(positions_of(backlog_now("n", "", 0).entries), (std::vector<std::string>{"gamma:2", "gamma:3"}));
  EXPECT_EQ(positions_of(backlog_now("m", "", 0).entries),
            (std::vector<std::string>{"alpha:1", "alpha:2", "alpha:3", "alpha:4", "beta:1", "beta:2"}));
  EXPECT_TRUE(backlog_now("stranger", "", 0).entries.empty());
}

TEST_F(SqliteSessionsTest, MoveCursorsNeverLowersOneAndSkipsMembersThatAreGone) {
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}, {"s", "b", "anon-b", 0}}));
  store->move_cursors({{"s", "a", "", 5}, {"s", "b", "", 3}});
  store->move_cursors({{"s", "a", "", 2}, {"s", "b", "", 7}, {"s", "ghost", "", 9}, {"t", "a", "", 4}});
  store->flush();
  EXPECT_EQ(cursors(), (std::map<std::string, std::uint64_t>{{"s/a", 5}, {"s/b", 7}}));
  reopen();
  const SessionsSnapshot snapshot = store->load_sessions();
  EXPECT_EQ(texts_of(snapshot.members),
            (std::vector<std::string>{"s/a anon= cursor=5", "s/b anon=anon-b cursor=7"}));  // anonymous id kept
  EXPECT_EQ(snapshot.sessions.size(), 1u);
}

TEST_F(SqliteSessionsTest, LogMaxKeepsTheNewestEntriesOfEachSessionAndCountsTheRest) {
  reopen_with(StoreLimits{.log_max = 3});
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}}));
  ASSERT_TRUE(create_now(session_for("t"), {{"t", "a", "", 0}}));
  for (std::uint64_t seq = 1; seq <= 5; ++seq) EXPECT_TRUE(append_log_now({log_for("s", seq)}));
  EXPECT_TRUE(append_log_now({log_for("t", 1), log_for("s", 6), log_for("t", 2)}));
  EXPECT_EQ(seqs_of(fetch_log_now("s", 0)), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_EQ(seqs_of(fetch_log_now("t", 0)), (std::vector<std::uint64_t>{1, 2}));
  const auto stats = store->stats();
  EXPECT_EQ(stats.log_dropped_log_max, 3u);
  EXPECT_EQ(stats.log_entries_written, 8u);
  EXPECT_EQ(stats.dropped_inbox_max, 0u);
  EXPECT_EQ(last_seq_of("s"), 6u);  // the seq still only grows
  // The backlog of a member that acknowledged nothing starts at what is left.
  EXPECT_EQ(positions_of(backlog_now("a", "", 0).entries),
            (std::vector<std::string>{"s:4", "s:5", "s:6", "t:1", "t:2"}));
}

TEST_F(SqliteSessionsTest, RetentionDropsOldLogEntriesInTheBackgroundAndCountsThem) {
  reopen_with(StoreLimits{.retention_ms = 1000});
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}}));
  LogEntry old_entry = log_for("s", 1);
  old_entry.stored_at_ms = now - 60'000;
  LogEntry fresh = log_for("s", 2);
  fresh.stored_at_ms = now + 60'000;
  ASSERT_TRUE(append_log_now({old_entry, fresh}));
  // The sweep runs each second when idle.
  for (int i = 0; i < 40 && store->stats().log_dropped_retention == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(store->stats().log_dropped_retention, 1u);
  EXPECT_EQ(store->stats().dropped_retention, 0u);  // the inbox's count is apart
  const LogFetched f = fetch_log_now("s", 0);
  EXPECT_EQ(seqs_of(f), std::vector<std::uint64_t>{2});
  EXPECT_EQ(f.last_seq, 2u);
}

// A failed transaction fails every write in it (any may be the cause);
// cursor moves and reads run again without them.
TEST_F(SqliteSessionsTest, FailedTransactionFailsItsWritesAndRerunsCursorsAndReads) {
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}}));
  ASSERT_TRUE(append_log_now({log_for("s", 1), log_for("s", 2)}));

  // Hold the store's thread in a callback so that what follows is queued
  // together and runs as one transaction.
  std::promise<void> holding;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  store->delete_session("unused", [&holding, released](bool) {
    holding.set_value();
    released.wait();
  });
  holding.get_future().wait();
  std::vector<std::string> results;
  LogFetched fetched;
  store->create_session(session_for("t"), {{"t", "a", "", 0}},
                        [&](bool ok) { results.push_back(ok ? "create ok" : "create failed"); });
  store->append_log({log_for("s", 3)}, [&](bool ok) { results.push_back(ok ? "log ok" : "log failed"); });
  store->append_log({log_for("s", 2, 1)}, [&](bool ok) { results.push_back(ok ? "dup ok" : "dup failed"); });
  store->move_cursors({{"s", "a", "", 2}});
  store->fetch_log("s", 0, UINT64_MAX, 100, 1u << 20,
                   [&](std::vector<LogEntry> entries, bool more, std::uint64_t last) {
                     fetched = LogFetched{std::move(entries), more, last};
                   });
  release.set_value();
  store->flush();

  EXPECT_EQ(results, (std::vector<std::string>{"create failed", "log failed", "dup failed"}));
  EXPECT_EQ(store->stats().failures, 3u);
  EXPECT_EQ(seqs_of(fetched), (std::vector<std::uint64_t>{1, 2}));  // nothing rolled back is shown
  EXPECT_EQ(fetched.last_seq, 2u);
  EXPECT_EQ(cursors(), (std::map<std::string, std::uint64_t>{{"s/a", 2}}));  // the cursor moved all the same
  EXPECT_EQ(last_seq_of("t"), UINT64_MAX);
}

}  // namespace

// Group commit: background entries (plain session messages) wait for company
// in one transaction, yet everything called after them sees them, and work
// someone waits for is not held back by them.
TEST_F(SqliteSessionsTest, BackgroundEntriesShareATransactionAndAreSeenByWhatFollows) {
  ASSERT_TRUE(create_now(session_for("s"), {{"s", "a", "", 0}}));
  const std::uint64_t transactions_before = store->stats().transactions;
  std::promise<void> all_done;
  int done = 0;
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    store->append_log_background({log_for("s", seq)}, [&](bool ok) {
      EXPECT_TRUE(ok);
      if (++done == 20) all_done.set_value();
    });
  }
  // No flush: the store commits them on its own.
  ASSERT_EQ(all_done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  // 20 calls, far fewer commits (one when they all arrived within the linger).
  EXPECT_LT(store->stats().transactions - transactions_before, 20u);
  EXPECT_EQ(store->stats().log_entries_written, 20u);

  // A fetch called right after a background append sees it.
  store->append_log_background({log_for("s", 21)}, [](bool) {});
  EXPECT_EQ(seqs_of(fetch_log_now("s", 20)), std::vector<std::uint64_t>{21});
  EXPECT_EQ(backlog_now("a", "", 0).entries.size(), 21u);
}
