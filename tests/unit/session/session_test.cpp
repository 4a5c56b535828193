// One session as a pure model (PROTOCOL.md section 5): members by node id
// and by anonymous id, reveal, the local nodes and their `sessions` counts,
// members per shard, and the GET /v1/sessions/{id} answer.
#include "session/session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/connection.hpp"

using namespace allspark;
using session::Member;
using session::Session;

namespace {

store::SessionRecord record_for(const std::string& id, const std::string& owner = "o") {
  store::SessionRecord record;
  record.session_id = id;
  record.owner_id = owner;
  record.game_master_node_id = owner;
  return record;
}

store::SessionMember member(const std::string& node_id, const std::string& anonymous_id = {},
                            std::uint64_t cursor = 0) {
  return {"S", node_id, anonymous_id, cursor};
}

std::vector<std::string> visible_ids(const Session& s) {
  std::vector<std::string> out;
  for (const auto& [node_id, m] : s.members()) out.push_back(node_id + "=" + m.visible_id());
  return out;
}

TEST(SessionTest, AMemberIsFoundAndResolvedByItsNodeId) {
  Session s(record_for("S"), 1);
  Member& a = s.add(member("a", {}, 7), nullptr, 0);
  EXPECT_EQ(a.node_id, "a");
  EXPECT_EQ(a.cursor, 7u);
  EXPECT_EQ(a.local, nullptr);
  EXPECT_EQ(s.find("a"), &a);
  EXPECT_EQ(s.resolve("a"), &a);
  EXPECT_EQ(std::as_const(s).find("a"), &a);
  EXPECT_EQ(s.find("b"), nullptr);
  EXPECT_EQ(s.resolve("b"), nullptr);
  EXPECT_EQ(s.visible("a"), "a");
  EXPECT_EQ(s.visible("stranger"), "stranger");  // not a member: shown as named
  EXPECT_EQ(s.members().size(), 1u);
}

TEST(SessionTest, AnAnonymousMemberResolvesByBothIdsButIsFoundOnlyByNodeId) {
  Session s(record_for("S"), 1);
  s.add(member("a"), nullptr, 0);
  Member& b = s.add(member("b", "anon-1"), nullptr, 0);
  EXPECT_EQ(b.visible_id(), "anon-1");
  EXPECT_EQ(s.find("b"), &b);
  EXPECT_EQ(s.find("anon-1"), nullptr);  // find is by node_id alone
  EXPECT_EQ(s.resolve("anon-1"), &b);    // a private message's dest_id may be either
  EXPECT_EQ(s.resolve("b"), &b);
  EXPECT_TRUE(s.anonymous_id_taken("anon-1"));
  EXPECT_FALSE(s.anonymous_id_taken("anon-2"));
  EXPECT_EQ(s.visible("b"), "anon-1");
  EXPECT_EQ(visible_ids(s), (std::vector<std::string>{"a=a", "b=anon-1"}));
}

TEST(SessionTest, AddingAMemberTwiceKeepsTheFirst) {
  core::Directory directory;
  core::Node& a = directory.ensure_node("a");
  Session s(record_for("S"), 2);
  Member& first = s.add(member("a", {}, 3), &a, 1);
  Member& again = s.add(member("a", "anon-x", 9), &a, 1);
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(again.cursor, 3u);
  EXPECT_EQ(again.anonymous_id, "");
  EXPECT_FALSE(s.anonymous_id_taken("anon-x"));
  EXPECT_EQ(a.sessions, 1u);
  EXPECT_EQ(s.local().size(), 1u);
  s.remove("a", 1);
  EXPECT_FALSE(s.has_members_on(1));  // counted once
}

TEST(SessionTest, RemovingAMemberForgetsItsAnonymousIdAndStrangersAreANoOp) {
  Session s(record_for("S"), 2);
  s.add(member("a"), nullptr, 0);
  s.add(member("b", "anon-1"), nullptr, 1);
  s.remove("b", 1);
  EXPECT_EQ(s.find("b"), nullptr);
  EXPECT_EQ(s.resolve("anon-1"), nullptr);
  EXPECT_FALSE(s.anonymous_id_taken("anon-1"));
  EXPECT_EQ(s.visible("b"), "b");
  s.remove("stranger", 0);  // no-op: the count of shard 0 is untouched
  EXPECT_TRUE(s.has_members_on(0));
  EXPECT_EQ(visible_ids(s), std::vector<std::string>{"a=a"});
}

TEST(SessionTest, RevealShowsTheNodeIdAndRetiresTheAnonymousId) {
  Session s(record_for("S"), 1);
  Member& b = s.add(member("b", "anon-1", 4), nullptr, 0);
  s.reveal(b);
  EXPECT_EQ(b.anonymous_id, "");
  EXPECT_EQ(b.visible_id(), "b");
  EXPECT_EQ(b.cursor, 4u);
  EXPECT_EQ(s.resolve("anon-1"), nullptr);
  EXPECT_EQ(s.resolve("b"), &b);
  EXPECT_FALSE(s.anonymous_id_taken("anon-1"));
  EXPECT_EQ(s.visible("b"), "b");
  Member& c = s.add(member("c"), nullptr, 0);
  s.reveal(c);  // not anonymous: nothing changes
  EXPECT_EQ(c.visible_id(), "c");
  EXPECT_EQ(s.members().size(), 2u);
}

TEST(SessionTest, LocalMembersRaiseAndLowerTheirNodesSessionCounts) {
  core::Directory directory;
  core::Node& a = directory.ensure_node("a");
  core::Node& b = directory.ensure_node("b");
  Session s1(record_for("S1"), 1);
  Session s2(record_for("S2"), 1);
  s1.add(member("a"), &a, 0);
  s1.add(member("b"), &b, 0);
  s1.add(member("remote"), nullptr, 0);  // homed elsewhere: not in the fan-out list
  s2.add(member("a"), &a, 0);
  EXPECT_EQ(a.sessions, 2u);
  EXPECT_EQ(b.sessions, 1u);
  EXPECT_EQ(s1.local(), (std::vector<core::Node*>{&a, &b}));
  EXPECT_EQ(s2.local(), std::vector<core::Node*>{&a});
  s1.remove("a", 0);
  EXPECT_EQ(a.sessions, 1u);
  EXPECT_EQ(s1.local(), std::vector<core::Node*>{&b});
  s1.release_local();  // deleted: every local node let go
  EXPECT_EQ(b.sessions, 0u);
  EXPECT_TRUE(s1.local().empty());
  s2.release_local();
  EXPECT_EQ(a.sessions, 0u);
}

// A member node with no connection stays in the directory (its Node is
// pointed at by the session); once it is no member, a detach forgets it.
TEST(SessionTest, TheDirectoryKeepsANodeThatIsAMember) {
  core::Directory directory;
  core::Connection connection;
  core::Node& a = directory.attach(connection, "a");
  Session s(record_for("S"), 1);
  s.add(member("a"), &a, 0);
  directory.detach(connection);
  EXPECT_EQ(directory.find_node("a"), &a);
  s.remove("a", 0);
  core::Connection again;
  directory.attach(again, "a");
  directory.detach(again);
  EXPECT_EQ(directory.find_node("a"), nullptr);
}

TEST(SessionTest, MembersAreCountedPerHomeShard) {
  Session s(record_for("S"), 3);
  s.add(member("a"), nullptr, 0);
  s.add(member("b"), nullptr, 2);
  s.add(member("c"), nullptr, 2);
  EXPECT_TRUE(s.has_members_on(0));
  EXPECT_FALSE(s.has_members_on(1));
  EXPECT_TRUE(s.has_members_on(2));
  s.remove("b", 2);
  EXPECT_TRUE(s.has_members_on(2));
  s.remove("c", 2);
  EXPECT_FALSE(s.has_members_on(2));
  s.remove("a", 0);
  EXPECT_FALSE(s.has_members_on(0));
}

TEST(SessionTest, SessionSeqGoesOnFromTheRecordsLastSeq) {
  store::SessionRecord record = record_for("S");
  record.last_seq = 5;
  Session s(record, 1);
  EXPECT_FALSE(s.is_game());
  EXPECT_EQ(s.last_seq(), 5u);
  EXPECT_EQ(s.next_seq(), 6u);
  EXPECT_EQ(s.next_seq(), 7u);
  EXPECT_EQ(s.last_seq(), 7u);
  EXPECT_EQ(s.record().last_seq, 7u);
  record.session_type = 1;
  EXPECT_TRUE(Session(record, 1).is_game());
}

TEST(SessionTest, DescribeListsEverySettingAndTheMembersSorted) {
  store::SessionRecord record = record_for("room-1", "owner");
  record.anyone_can_join = true;
  record.description = R"("a \"quoted\" room")";  // raw JSON, as given
  Session s(record, 1);
  s.add(member("owner"), nullptr, 0);
  s.add(member("zed"), nullptr, 0);
  s.add(member("b-2"), nullptr, 0);
  EXPECT_EQ(s.describe(),
            R"({"session_id":"room-1","session_type":0,"owner_id":"owner","game_master_node_id":"owner",)"
            R"("anyone_can_join":true,"allow_anonymous":false,"description":"a \"quoted\" room",)"
            R"("members":["b-2","owner","zed"]})");
}

// Anonymous members, the owner and the game master included, appear only by
// their anonymous ids, and the list is sorted by what is shown.
TEST(SessionTest, DescribeShowsAnonymousMembersOwnerAndGameMasterByAnonymousId) {
  store::SessionRecord record = record_for("G", "a-owner");
  record.session_type = 1;
  record.game_master_node_id = "c-master";
  record.allow_anonymous = true;
  Session s(record, 1);
  s.add(member("a-owner", "x-1"), nullptr, 0);
  s.add(member("b"), nullptr, 0);
  s.add(member("c-master", "anon-0"), nullptr, 0);
  EXPECT_EQ(s.describe(),
            R"({"session_id":"G","session_type":1,"owner_id":"x-1","game_master_node_id":"anon-0",)"
            R"("anyone_can_join":false,"allow_anonymous":true,"description":null,)"
            R"("members":["anon-0","b","x-1"]})");
  s.reveal(*s.find("a-owner"));
  EXPECT_EQ(s.describe(),
            R"({"session_id":"G","session_type":1,"owner_id":"a-owner","game_master_node_id":"anon-0",)"
            R"("anyone_can_join":false,"allow_anonymous":true,"description":null,)"
            R"("members":["a-owner","anon-0","b"]})");
}

TEST(SessionTest, DescribeOfAnEmptySessionWithAnObjectDescription) {
  store::SessionRecord record = record_for("E", "gone");
  record.description = R"({"k":[1,2]})";
  Session s(record, 1);
  EXPECT_EQ(s.describe(),
            R"({"session_id":"E","session_type":0,"owner_id":"gone","game_master_node_id":"gone",)"
            R"("anyone_can_join":false,"allow_anonymous":false,"description":{"k":[1,2]},"members":[]})");
}

}  // namespace
