// Two routers as two shards, the hand-off between them done by hand: what one
// shard routes to nodes homed on the other arrives there, once, in order, and
// answers come back to the sender's shard.
#include <gtest/gtest.h>

#include "queued_frames.hpp"

#include <memory>
#include <string>
#include <vector>

#include "core/router.hpp"

using allspark::core::Connection;
using allspark::core::ConnectIdentity;
using allspark::core::Router;
using allspark::core::RouterConfig;
using allspark::core::ShardMail;
using allspark::protocol::Role;

namespace {

constexpr std::int64_t now = 1'700'000'000'000;

class ShardMailTest : public ::testing::Test {
 protected:
  std::vector<std::pair<std::uint32_t, ShardMail>> mailbox;
  std::unique_ptr<Router> shard[2];
  std::vector<std::unique_ptr<Connection>> connections;

  void SetUp() override {
    for (std::uint32_t i = 0; i < 2; ++i) {
      RouterConfig c;
      c.server_id = "srv";
      c.connection_prefix = std::to_string(i) + "-";
      c.shard = i;
      c.shards = 2;
      c.send_mail = [this](std::uint32_t to, ShardMail mail) { mailbox.emplace_back(to, std::move(mail)); };
      shard[i] = std::make_unique<Router>(c);
    }
  }

  // A node id homed on `home`.
  std::string node_on(std::uint32_t home, const std::string& prefix) {
    for (int i = 0;; ++i) {
      std::string id = prefix + std::to_string(i);
      if (shard[0]->home_of(id) == home) return id;
    }
  }

  Connection& connect(const std::string& node, const std::string& client = "") {
    connections.push_back(std::make_unique<Connection>());
    Connection& c = *connections.back();
    shard[shard[0]->home_of(node)]->attach(c, ConnectIdentity{node, client, Role::node}, now);
    take(c);
    pump();
    return c;
  }

  // Ends both shards' batches and delivers the mail until there is none.
  void pump() {
    for (int round = 0; round < 10; ++round) {
      shard[0]->end_batch();
      shard[1]->end_batch();
      if (mailbox.empty()) return;
      auto mails = std::move(mailbox);
      mailbox.clear();
      for (auto& [to, mail] : mails) shard[to]->receive(std::move(mail));
    }
  }

  static std::vector<std::string> take(Connection& c) { return take_queued(c); }
};

TEST_F(ShardMailTest, HomeIsAStableHashOfTheNodeId) {
  EXPECT_EQ(shard[0]->home_of("phone1"), shard[1]->home_of("phone1"));
  EXPECT_NE(node_on(0, "x"), node_on(1, "x"));
}

TEST_F(ShardMailTest, DestIdOnAnotherShardArrivesThroughOneHandOff) {
  std::string a = node_on(0, "a");
  std::string b = node_on(1, "b");
  Connection& ca = connect(a, "alice");
  Connection& cb = connect(b);
  shard[0]->on_message(ca, R"({"dest_id":")" + b + R"(","payload":{"k":1}})", now);
  EXPECT_TRUE(take(cb).empty());  // not before the hand-off
  shard[0]->end_batch();
  ASSERT_EQ(mailbox.size(), 1u);
  EXPECT_EQ(mailbox[0].first, 1u);
  pump();
  EXPECT_EQ(take(cb), std::vector<std::string>{R"({"dest_id":")" + b + R"(","src_id":")" + a +
                                               R"(","src_client_id":"alice","timestamp":1700000000000,"payload":{"k":1}})"});
  EXPECT_TRUE(take(ca).empty());
}

TEST_F(ShardMailTest, DestClientIdReachesNodesOnBothShardsOnceEach) {
  std::string p0 = node_on(0, "p");
  std::string p1 = node_on(1, "p");
  std::string s = node_on(0, "s");
  Connection& c0 = connect(p0, "carol");
  Connection& c1 = connect(p1, "carol");
  Connection& cs = connect(s);
  shard[0]->on_message(cs, R"({"dest_client_id":"carol","payload":"hi"})", now);
  pump();
  auto to0 = take(c0);
  auto to1 = take(c1);
  ASSERT_EQ(to0.size(), 1u);
  ASSERT_EQ(to1.size(), 1u);
  EXPECT_EQ(to0[0].rfind(R"({"dest_id":")" + p0 + "\",", 0), 0u);
  EXPECT_EQ(to1[0].rfind(R"({"dest_id":")" + p1 + "\",", 0), 0u);
  EXPECT_TRUE(take(cs).empty());
}

TEST_F(ShardMailTest, AnswersComeBackToTheSendersShard) {
  // Without a store an offline node is "unavailable": the error is made on
  // the recipient's home shard and must reach the sender on the other one.
  std::string a = node_on(0, "a");
  std::string gone = node_on(1, "g");
  Connection& ca = connect(a);
  Connection& cg = connect(gone);
  shard[1]->detach(cg);
  shard[0]->on_message(ca, R"({"id":"m1","dest_id":")" + gone + R"("})", now);
  pump();
  auto frames = take(ca);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_NE(frames[0].find(R"({"type":-6,"id":"m1","payload":{"code":"unavailable")"), std::string::npos);
}

TEST_F(ShardMailTest, OrderFromOneSenderIsKeptAcrossShards) {
  std::string a = node_on(0, "a");
  std::string b = node_on(1, "b");
  Connection& ca = connect(a);
  Connection& cb = connect(b);
  for (int i = 0; i < 50; ++i) {
    shard[0]->on_message(ca, R"({"dest_id":")" + b + R"(","payload":)" + std::to_string(i) + "}", now);
    if (i % 7 == 0) pump();  // several batches
  }
  pump();
  auto frames = take(cb);
  ASSERT_EQ(frames.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_NE(frames[i].find("\"payload\":" + std::to_string(i) + "}"), std::string::npos);
}

}  // namespace
