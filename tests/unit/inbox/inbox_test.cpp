// The inbox layer with its router and a real SQLite store in a temp folder:
// -4 only once stored, the backlog before live frames on connect, acks.
#include "inbox/inbox.hpp"

#include <gtest/gtest.h>

#include "../core/queued_frames.hpp"
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>

#include "store/sqlite/sqlite_store.hpp"

using namespace allspark;

namespace {

constexpr std::int64_t now = 1'700'000'000'000;

class InboxTest : public ::testing::Test {
 protected:
  std::filesystem::path dir;
  std::unique_ptr<store::Store> db;
  std::unique_ptr<core::Router> router;
  std::unique_ptr<inbox::Inbox> box;
  std::vector<std::unique_ptr<core::Connection>> connections;
  // Store answers posted "to the shard": run by the test's thread in pump().
  std::mutex mutex;
  std::condition_variable posted;
  std::deque<std::function<void()>> work;
  std::int64_t clock = now;  // the tracks' clock
  inbox::TracksConfig tracks;

  void SetUp() override {
    char path[] = "/tmp/allspark-inbox-XXXXXX";
    dir = mkdtemp(path);
    open();
  }
  void TearDown() override {
    box.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }

  void open() {
    std::string error;
    db = store::open_sqlite_store((dir / "a.db").string(), error);
    ASSERT_TRUE(db) << error;
    core::RouterConfig config;
    config.server_id = "srv";
    router = std::make_unique<core::Router>(config);
    inbox::InboxConfig inbox_config;
    inbox_config.post = [this](std::function<void()> w) {
      std::lock_guard lock(mutex);
      work.push_back(std::move(w));
      posted.notify_one();
    };
    inbox_config.tracks = tracks;
    inbox_config.tracks.now_ms = [this] { return clock; };
    box = std::make_unique<inbox::Inbox>(*router, *db, inbox_config);
    box->restore(db->load_inbox_states(), db->load_push_keys());
    router->set_offline(box.get());
  }

  // A new server on the same store file (with `tracks` as they are now).
  void restart() {
    connections.clear();
    box.reset();
    db.reset();
    open();
  }

  // Ends the batch, then runs store answers until `expected` have come.
  void pump(std::size_t expected) {
    router->end_batch();
    for (std::size_t done = 0; done < expected; ++done) {
      std::unique_lock lock(mutex);
      ASSERT_TRUE(posted.wait_for(lock, std::chrono::seconds(5), [this] { return !work.empty(); }));
      auto w = std::move(work.front());
      work.pop_front();
      lock.unlock();
      w();
      router->end_batch();
    }
  }

  core::Connection& connect(const std::string& node) {
    connections.push_back(std::make_unique<core::Connection>());
    router->attach(*connections.back(), {node, "", protocol::Role::node}, now);
    return *connections.back();
  }

  static std::vector<std::string> take(core::Connection& c) { return take_queued(c); }
};

TEST_F(InboxTest, OfflineMessageIsAnsweredMinus4OnlyOnceStored) {
  core::Connection& a = connect("a");
  take(a);
  router->on_message(a, R"({"id":"m1","dest_id":"b","payload":1})", now);
  EXPECT_TRUE(take(a).empty());  // not before the store answered
  pump(1);
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-4,"id":"m1","src_id":"b"})"});
  EXPECT_EQ(box->counters().stored.get(), 1u);
}

TEST_F(InboxTest, BacklogComesBeforeLiveFramesAndAcksTrimIt) {
  core::Connection& a = connect("a");
  take(a);
  router->on_message(a, R"({"dest_id":"b","payload":1})", now);
  router->on_message(a, R"({"dest_id":"b","payload":2})", now);
  pump(1);
  take(a);
  core::Connection& b = connect("b");  // starts the replay
  router->on_message(a, R"({"dest_id":"b","payload":"live"})", now);
  pump(1);  // the page
  auto frames = take(b);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_NE(frames[0].find(R"("type":-10)"), std::string::npos);
  EXPECT_EQ(frames[1], R"({"dest_id":"b","seq":1,"src_id":"a","timestamp":1700000000000,"payload":1})");
  EXPECT_EQ(frames[2], R"({"dest_id":"b","seq":2,"src_id":"a","timestamp":1700000000000,"payload":2})");
  EXPECT_EQ(frames[3], R"({"dest_id":"b","src_id":"a","timestamp":1700000000000,"payload":"live"})");

  router->on_message(b, R"({"type":-7,"seq":1})", now);
  db->flush();
  router->detach(b);
  core::Connection& b2 = connect("b");
  pump(1);
  frames = take(b2);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[1].find(R"("seq":2,)"), std::string::npos);
}

TEST_F(InboxTest, SeqStateSurvivesAReopen) {
  core::Connection& a = connect("a");
  router->on_message(a, R"({"dest_id":"b"})", now);
  pump(1);
  restart();
  core::Connection& a2 = connect("a");
  router->on_message(a2, R"({"dest_id":"b"})", now);
  pump(1);
  EXPECT_EQ(router->directory().find_node("b")->last_seq, 2u);
}

// Section 4: with ack, a message waits for its copies to be stored; the
// same connection's later plain messages wait behind it, so order holds.
TEST_F(InboxTest, AckIsDeliveredOnceStoredAndLaterMessagesWaitBehindIt) {
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  take(a);
  take(b);
  router->on_message(a, R"({"id":"m1","dest_id":"b","ack":true,"payload":1})", now);
  router->on_message(a, R"({"dest_id":"b","payload":2})", now);
  router->on_message(a, R"({"id":"m3","dest_id":"b","ack":true,"payload":3})", now);
  EXPECT_TRUE(take(b).empty());  // nothing before the store answered
  pump(1);                       // m1 stored
  EXPECT_EQ(take(b), std::vector<std::string>{
                         R"({"dest_id":"b","seq":1,"src_id":"a","timestamp":1700000000000,"id":"m1","ack":true,"payload":1})"});
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-7,"id":"m1"})"});
  pump(2);  // what waited goes on, then m3 is stored
  auto frames = take(b);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], R"({"dest_id":"b","src_id":"a","timestamp":1700000000000,"payload":2})");
  EXPECT_NE(frames[1].find(R"("seq":2,)"), std::string::npos);
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-7,"id":"m3"})"});
  EXPECT_TRUE(a.waiting);
  pump(1);  // nothing waits any more
  EXPECT_FALSE(a.waiting);
}

// Section 6: a retry within 10 minutes is answered -7 alone; after that it is
// a new message. A retry while the first is still being stored is answered
// with it.
TEST_F(InboxTest, RetriesOfAnAckedIdAreAnsweredWithoutStoringWithinTheWindow) {
  core::Connection& a = connect("a");
  take(a);
  const char* m1 = R"({"id":"m1","dest_id":"c","ack":true})";
  router->on_message(a, m1, now);
  router->on_message(a, m1, now);  // while the first is being stored
  pump(2);
  EXPECT_EQ(take(a), (std::vector<std::string>{R"({"type":-4,"id":"m1","src_id":"c"})", R"({"type":-7,"id":"m1"})",
                                               R"({"type":-7,"id":"m1"})"}));
  clock += 10 * 60 * 1000;  // exactly 10 minutes: still a retry
  router->on_message(a, m1, now);
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-7,"id":"m1"})"});
  EXPECT_EQ(router->directory().find_node("c")->last_seq, 1u);
  clock += 1;
  router->on_message(a, m1, now);
  pump(2);
  EXPECT_EQ(take(a), (std::vector<std::string>{R"({"type":-4,"id":"m1","src_id":"c"})", R"({"type":-7,"id":"m1"})"}));
  EXPECT_EQ(router->directory().find_node("c")->last_seq, 2u);
  EXPECT_EQ(box->tracks().counters().retries.get(), 2u);
  EXPECT_EQ(box->tracks().counters().acked.get(), 2u);
}

// The newest retry_ids_max ids are always remembered, older ones may be
// forgotten (their retry is a new message), but never one still being
// stored: that one stays, and a retry of it is answered with it.
TEST_F(InboxTest, OldRetryIdsGoPastTheCapUnlessStillBeingStored) {
  tracks.retry_ids_max = 2;
  restart();
  core::Connection& a = connect("a");
  take(a);
  auto send = [&](core::Connection& from, const char* id) {
    router->on_message(from, R"({"id":")" + std::string(id) + R"(","dest_id":"c","ack":true})", now);
  };
  for (const char* id : {"m1", "m2", "m3", "m4", "m5"}) {
    send(a, id);
    pump(2);
  }
  take(a);
  send(a, "m4");  // among the newest two: -7 alone
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-7,"id":"m4"})"});
  send(a, "m1");  // four newer ids since: forgotten, stored again
  pump(2);
  EXPECT_EQ(take(a), (std::vector<std::string>{R"({"type":-4,"id":"m1","src_id":"c"})", R"({"type":-7,"id":"m1"})"}));
  EXPECT_EQ(router->directory().find_node("c")->last_seq, 6u);

  tracks.retry_ids_max = 1;
  restart();
  core::Connection& b = connect("b");
  take(b);
  for (const char* id : {"n1", "n2", "n3", "n1"}) send(b, id);  // n1 still being stored
  pump(2);
  EXPECT_EQ(take(b), (std::vector<std::string>{
                         R"({"type":-4,"id":"n1","src_id":"c"})", R"({"type":-4,"id":"n2","src_id":"c"})",
                         R"({"type":-4,"id":"n3","src_id":"c"})", R"({"type":-7,"id":"n1"})",
                         R"({"type":-7,"id":"n1"})", R"({"type":-7,"id":"n2"})", R"({"type":-7,"id":"n3"})"}));
  EXPECT_EQ(router->directory().find_node("c")->last_seq, 9u);  // n1 once, n2 once, n3 once
  EXPECT_EQ(box->tracks().counters().retries.get(), 1u);
  send(b, "n1");  // acknowledged, and moved past a generation's end: still remembered
  EXPECT_EQ(take(b), std::vector<std::string>{R"({"type":-7,"id":"n1"})"});
}

TEST_F(InboxTest, WhatWaitsBehindAcksIsBoundedWithRateLimited) {
  tracks.max_waiting_bytes = 100;
  restart();
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  take(a);
  take(b);
  router->on_message(a, R"({"id":"m1","dest_id":"b","ack":true})", now);
  std::string plain = R"({"dest_id":"b","payload":")" + std::string(30, 'x') + R"("})";
  router->on_message(a, plain, now);  // waits (about 50 bytes)
  router->on_message(a, R"({"id":"late","dest_id":"b","payload":")" + std::string(60, 'y') + R"("})", now);
  auto refused = take(a);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].find(R"("id":"late","payload":{"code":"rate_limited")"), std::string::npos) << refused[0];
  pump(2);
  EXPECT_EQ(take(b).size(), 2u);  // m1, then the plain one that waited
  EXPECT_EQ(take(a), std::vector<std::string>{R"({"type":-7,"id":"m1"})"});
}

// Section 9: a publish hears what was delivered and stored, or its error.
TEST_F(InboxTest, PublishAnswersDeliveredAndStoredOnceStored) {
  core::Connection& b = connect("b");
  take(b);
  std::optional<core::TrackResult> answer;
  box->publish("app", R"({"dest_id":"c","payload":1})", now, [&](core::TrackResult r) { answer = std::move(r); });
  EXPECT_FALSE(answer);  // not before c's copy is stored
  pump(1);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->ok);
  EXPECT_EQ(answer->delivered, 0u);
  ASSERT_EQ(answer->stored.size(), 1u);
  EXPECT_EQ(answer->stored[0].node_id, "c");
  EXPECT_EQ(answer->stored[0].seq, 1u);

  answer.reset();
  box->publish("app", R"({"dest_id":"b","payload":2})", now, [&](core::TrackResult r) { answer = std::move(r); });
  ASSERT_TRUE(answer);  // live only: nothing to wait for
  EXPECT_EQ(answer->delivered, 1u);
  EXPECT_TRUE(answer->stored.empty());
  EXPECT_EQ(take(b), std::vector<std::string>{R"({"dest_id":"b","src_id":"app","timestamp":1700000000000,"payload":2})"});

  answer.reset();
  box->publish("app", R"({"payload":2})", now, [&](core::TrackResult r) { answer = std::move(r); });
  ASSERT_TRUE(answer && answer->error);
  EXPECT_EQ(*answer->error, protocol::ErrorCode::no_destination);
}

}  // namespace
