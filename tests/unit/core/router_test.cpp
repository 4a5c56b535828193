#include "core/router.hpp"

#include <gtest/gtest.h>

#include "queued_frames.hpp"

#include <memory>
#include <string>
#include <vector>

using allspark::core::Connection;
using allspark::core::ConnectIdentity;
using allspark::core::FrameKind;
using allspark::core::Router;
using allspark::core::RouterConfig;
using allspark::protocol::Role;

namespace {

constexpr std::int64_t now = 1'700'000'000'000;

RouterConfig config(std::size_t max_queue_bytes = 1u << 20) {
  RouterConfig c;
  c.server_id = "srv1";
  c.connection_prefix = "p-";
  c.max_queue_bytes = max_queue_bytes;
  return c;
}

class RouterTest : public ::testing::Test {
 protected:
  Router router{config()};
  std::vector<std::unique_ptr<Connection>> connections;

  Connection& connect(std::string node, std::string client = "", Role role = Role::node) {
    connections.push_back(std::make_unique<Connection>());
    Connection& c = *connections.back();
    router.attach(c, ConnectIdentity{std::move(node), std::move(client), role}, now);
    take(c);  // the welcome
    return c;
  }

  static std::vector<std::string> take(Connection& c) { return take_queued(c); }
};

TEST_F(RouterTest, WelcomeIsTheFirstFrame) {
  Connection c;
  router.attach(c, ConnectIdentity{"phone1", "alice", Role::node}, now);
  auto frames = take(c);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0],
            R"({"type":-10,"payload":{"node_id":"phone1","client_id":"alice","connection_id":"p-1","server_id":"srv1","server_time":1700000000000}})");
  router.detach(c);
}

TEST_F(RouterTest, WelcomeOmitsAMissingClient) {
  Connection c;
  router.attach(c, ConnectIdentity{"n", "", Role::node}, now);
  EXPECT_EQ(take(c)[0].find("client_id"), std::string::npos);
  router.detach(c);
}

TEST_F(RouterTest, DestIdReachesEveryOtherConnectionWithServerFields) {
  Connection& a = connect("a", "alice");
  Connection& b1 = connect("b", "bob");
  Connection& b2 = connect("b", "bob");
  router.on_message(a, R"({"dest_id":"b","src_id":"forged","timestamp":1,"x":[1, 2],"payload":{"k":"v"}})", now);
  std::string expected =
      R"({"dest_id":"b","src_id":"a","src_client_id":"alice","timestamp":1700000000000,"x":[1, 2],"payload":{"k":"v"}})";
  EXPECT_EQ(take(b1), std::vector<std::string>{expected});
  EXPECT_EQ(take(b2), std::vector<std::string>{expected});
  EXPECT_TRUE(take(a).empty());
}

TEST_F(RouterTest, NeverEchoedButReachesTheSendersOtherTabs) {
  Connection& tab1 = connect("a", "alice");
  Connection& tab2 = connect("a", "alice");
  router.on_message(tab1, R"({"dest_id":"a","payload":1})", now);
  EXPECT_TRUE(take(tab1).empty());
  EXPECT_EQ(take(tab2).size(), 1u);
}

TEST_F(RouterTest, DestClientIdReachesEachNodeOnceEvenWithDestId) {
  Connection& sender = connect("s", "sam");
  Connection& phone = connect("phone", "alice");
  Connection& laptop = connect("laptop", "alice");
  router.on_message(sender, R"({"dest_client_id":"alice","dest_id":"phone","payload":2})", now);
  auto to_phone = take(phone);
  auto to_laptop = take(laptop);
  ASSERT_EQ(to_phone.size(), 1u);
  ASSERT_EQ(to_laptop.size(), 1u);
  EXPECT_EQ(to_phone[0].rfind(R"({"dest_id":"phone",)", 0), 0u);
  EXPECT_EQ(to_laptop[0].rfind(R"({"dest_id":"laptop",)", 0), 0u);
  EXPECT_NE(to_laptop[0].find(R"("dest_client_id":"alice")"), std::string::npos);
}

TEST_F(RouterTest, OnlyAppRoleSpeaksForOthers) {
  Connection& app = connect("backend", "", Role::app);
  Connection& user = connect("u", "ursula");
  Connection& target = connect("t", "tom");
  router.on_message(app, R"({"dest_id":"t","src_id":"u"})", now);
  router.on_message(user, R"({"dest_id":"t","src_id":"backend"})", now);
  auto frames = take(target);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0].find(R"("src_id":"u","src_client_id":"ursula")"), std::string::npos);
  EXPECT_NE(frames[1].find(R"("src_id":"u","src_client_id":"ursula")"), std::string::npos);
}

TEST_F(RouterTest, PingIsRoutedNowhere) {
  Connection& a = connect("a");
  Connection& b = connect("b");
  router.on_message(a, R"({"type":3,"payload":"hi"})", now);
  EXPECT_TRUE(take(a).empty());
  EXPECT_TRUE(take(b).empty());
}

TEST_F(RouterTest, OfflineAndUnknownDestinationsAreUnavailable) {
  Connection& a = connect("a", "alice");
  {
    Connection& gone = connect("g", "gina");
    router.detach(gone);
  }
  router.on_message(a, R"({"id":"m1","dest_id":"g"})", now);
  router.on_message(a, R"({"id":"m2","dest_id":"nobody"})", now);
  router.on_message(a, R"({"id":"m3","dest_client_id":"nobody"})", now);
  auto frames = take(a);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], R"({"type":-6,"id":"m1","payload":{"code":"unavailable","message":"node \"g\" has no live connection"}})");
  EXPECT_NE(frames[1].find(R"("id":"m2","payload":{"code":"unavailable")"), std::string::npos);
  EXPECT_NE(frames[2].find(R"("id":"m3","payload":{"code":"unavailable")"), std::string::npos);
}

TEST_F(RouterTest, DecodeErrorsAnswerTheSenderOnly) {
  Connection& a = connect("a");
  Connection& b = connect("b");
  router.on_message(a, R"({"id":"m1","dest_id":"b","dest_id":"b"})", now);
  router.on_message(a, R"({"dest_id":"b",)", now);
  router.on_message(a, R"({"id":"m2","dest_session_id":"room"})", now);
  router.on_message(a, R"({"id":"m3","type":-7})", now);
  auto frames = take(a);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_NE(frames[0].find(R"({"type":-6,"id":"m1","payload":{"code":"bad_field")"), std::string::npos);
  EXPECT_NE(frames[1].find(R"({"type":-6,"payload":{"code":"bad_json")"), std::string::npos);
  EXPECT_NE(frames[2].find(R"("code":"unknown_session")"), std::string::npos);
  EXPECT_NE(frames[3].find(R"("id":"m3","payload":{"code":"bad_field")"), std::string::npos);
  EXPECT_TRUE(take(b).empty());
}

TEST_F(RouterTest, ASlowConsumerIsMarkedForClosingAndOthersStillReceive) {
  Router small{config(4096)};
  Connection sender, slow, fast;
  small.attach(sender, {"s", "", Role::node}, now);
  small.attach(slow, {"r", "room", Role::node}, now);
  small.attach(fast, {"f", "room", Role::node}, now);
  std::string message = R"({"dest_client_id":"room","payload":")" + std::string(1000, 'x') + "\"}";
  for (int i = 0; i < 10; ++i) {
    small.on_message(sender, message, now);
    take(fast);
  }
  EXPECT_EQ(slow.close_code, 4001);
  EXPECT_LE(slow.queue.bytes(), 4096u);
  EXPECT_EQ(fast.close_code, 0);
  EXPECT_EQ(small.counters().slow_consumers.get(), 1u);
  small.on_message(sender, message, now);
  EXPECT_EQ(take(fast).size(), 1u);
  for (Connection* c : {&sender, &slow, &fast}) small.detach(*c);
}

TEST_F(RouterTest, PerSenderOrderIsKept) {
  Connection& a = connect("a");
  Connection& b = connect("b");
  for (int i = 0; i < 100; ++i) {
    router.on_message(a, R"({"dest_id":"b","payload":)" + std::to_string(i) + "}", now);
  }
  auto frames = take(b);
  ASSERT_EQ(frames.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_NE(frames[i].find("\"payload\":" + std::to_string(i) + "}"), std::string::npos) << i;
  }
}

}  // namespace

namespace {

TEST(SendQueue, DropUnstartedKeepsAPartlyWrittenFrontFrame) {
  using allspark::core::Body;
  using allspark::core::SendQueue;
  SendQueue queue;
  for (int i = 0; i < 3; ++i) {
    Body* body = Body::copy_of("frame" + std::to_string(i));
    ASSERT_TRUE(queue.push({body, nullptr, 0, FrameKind::text}, 1000));
    body->release();
  }
  queue.drop_unstarted();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);

  for (int i = 0; i < 3; ++i) {
    Body* body = Body::copy_of("frame" + std::to_string(i));
    ASSERT_TRUE(queue.push({body, nullptr, 0, FrameKind::text}, 1000));
    body->release();
  }
  queue.set_front_offset(2);
  queue.drop_unstarted();
  ASSERT_EQ(queue.count(), 1u);
  EXPECT_EQ(queue.at(0).body->view(), "frame0");
  EXPECT_EQ(queue.bytes(), 6u);
}

// A slow-consumer close before the first write keeps the unwritten 101 (a
// raw entry at the front): the close frame must follow an HTTP answer.
TEST(SendQueue, DropUnstartedKeepsAnUnwrittenHandshakeReply) {
  using allspark::core::Body;
  using allspark::core::SendQueue;
  SendQueue queue;
  Body* reply = Body::copy_of("HTTP/1.1 101 Switching Protocols\r\n\r\n");
  ASSERT_TRUE(queue.push({reply, nullptr, 0, FrameKind::raw}, SIZE_MAX));
  reply->release();
  for (int i = 0; i < 2; ++i) {
    Body* body = Body::copy_of("frame" + std::to_string(i));
    ASSERT_TRUE(queue.push({body, nullptr, 0, FrameKind::text}, SIZE_MAX));
    body->release();
  }
  queue.drop_unstarted();
  ASSERT_EQ(queue.count(), 1u);
  EXPECT_EQ(queue.at(0).kind, FrameKind::raw);
  EXPECT_EQ(queue.bytes(), queue.at(0).size());
}

}  // namespace
