// The shard's own loop, driven on the test's thread over socketpairs:
// run() returns after the iteration that runs a posted stop(). What matters
// here is the order inside one iteration: work posted from other threads
// (an adopt, a close_all) runs in the middle of a batch of epoll events, so
// it must not free a connection that a later event of the same batch names.
// Under the sanitized build (sanitize.suite) a use after free fails the test.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "frame_test_support.hpp"
#include "net/shard.hpp"

using allspark::core::ConnectIdentity;
using allspark::net::Opcode;
using allspark::net::Shard;
using allspark::net::ShardConfig;
using allspark::protocol::Role;

namespace {

struct Pair {
  int server = -1;  // the shard's end
  int client = -1;  // the test's end
};

Pair socket_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  return {fds[0], fds[1]};
}

// Everything the shard has written to `fd` so far (it is non-blocking).
std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

class ShardLoopTest : public ::testing::Test {
 protected:
  ShardLoopTest() : shard(config()) {}

  static ShardConfig config() {
    ShardConfig c;
    c.router.server_id = "srv";
    c.router.connection_prefix = "t-";
    c.ping_interval_ms = 0;
    return c;
  }

  // One pass of the loop over whatever is posted and ready by now.
  void run_once() {
    shard.stop();
    shard.run();
  }

  void adopt(const Pair& p, const std::string& node) {
    shard.post_work([this, fd = p.server, node] { shard.adopt(fd, ConnectIdentity{node, "", Role::node}, {}, {}); });
  }

  Shard shard;
};

TEST_F(ShardLoopTest, WorkPostedMidBatchDoesNotFreeAConnectionALaterEventNames) {
  Pair a = socket_pair();
  Pair b1 = socket_pair();
  Pair b2 = socket_pair();
  adopt(a, "node-a");
  adopt(b1, "node-b1");
  adopt(b2, "node-b2");
  run_once();
  ASSERT_EQ(shard.connection_count(), 3u);
  for (const Pair* p : {&a, &b1, &b2}) EXPECT_NE(drain(p->client).find("\"type\":-10"), std::string::npos) << "a welcome";
  // Once more: what adding the sockets and reading the welcomes made ready
  // is taken now, so that the batch below holds only the events it makes.
  run_once();

  // One batch: B1's peer gone, posted work that closes every connection
  // (the drain on SIGTERM), B2's peer gone. The posted work's event comes
  // before both peers' events or between them, never after both (on Linux
  // 6.18 it comes first: the level-triggered eventfd is back on the ready
  // list from the last pass). A flush inside that work would find both
  // peers gone and free both connections while an event of one is still
  // to be read.
  ::close(b1.client);
  shard.post_work([this] { shard.close_all(1001, "draining"); });
  ::close(b2.client);
  run_once();
  EXPECT_EQ(shard.connection_count(), 1u) << "A waits for its close answer; B1 and B2 are gone";

  // A gets the close frame, answers it and closes its side: then it goes
  // too (a closing connection waits for the peer's end of stream).
  const std::string close_frame = drain(a.client);
  ASSERT_GE(close_frame.size(), 4u);
  EXPECT_EQ(static_cast<std::uint8_t>(close_frame[0]), 0x88) << "a close frame";
  EXPECT_EQ((static_cast<std::uint8_t>(close_frame[2]) << 8) | static_cast<std::uint8_t>(close_frame[3]), 1001);
  const auto answer = client_frame(Opcode::close, true, close_frame.substr(2, 2));
  ASSERT_EQ(::write(a.client, answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
  ::close(a.client);
  run_once();
  EXPECT_EQ(shard.connection_count(), 0u);
}

TEST_F(ShardLoopTest, PostedWorkRunsInOrderAndOnce) {
  std::string seen;
  for (char ch : std::string("abc")) shard.post_work([&seen, ch] { seen += ch; });
  run_once();
  EXPECT_EQ(seen, "abc");
  // Nothing left over: a second pass runs only what is posted for it.
  shard.post_work([&seen] { seen += 'd'; });
  run_once();
  EXPECT_EQ(seen, "abcd");
}

TEST_F(ShardLoopTest, ConnectionsStillOpenAreClosedWhenTheShardGoes) {
  Pair a = socket_pair();
  {
    Shard leaving(config());
    leaving.post_work([&leaving, fd = a.server] { leaving.adopt(fd, ConnectIdentity{"node-a", "", Role::node}, {}, {}); });
    leaving.stop();
    leaving.run();
    ASSERT_EQ(leaving.connection_count(), 1u);
  }
  // The welcome, then the end of the stream: the shard's end was closed.
  EXPECT_NE(drain(a.client).find("\"type\":-10"), std::string::npos);
  char byte = 0;
  EXPECT_EQ(::read(a.client, &byte, 1), 0) << "the shard's end is still open";
  ::close(a.client);
}

}  // namespace
