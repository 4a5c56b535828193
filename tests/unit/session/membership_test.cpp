// The HTTP API's membership changes (PROTOCOL.md section 5) on real shards
// and a real store: create, join, leave, reveal, delete, list and describe,
// their permissions and answers, and the -100/-103/-104 events members get.
#include <gtest/gtest.h>

#include "sessions_fixture.hpp"

using namespace allspark;
using namespace allspark::session::testing_support;
using protocol::Role;
using session::CreateRequest;

namespace {

// The anonymous id in a join answer, e.g. "anon-0123456789abcdef".
std::string anonymous_in(const std::string& body) {
  const std::string key = R"("anonymous_id":")";
  auto at = body.find(key);
  if (at == std::string::npos) return {};
  return body.substr(at + key.size(), body.find('"', at + key.size()) - at - key.size());
}

void expect_anonymous_id(const std::string& id) {
  EXPECT_EQ(id.size(), 21u) << id;
  EXPECT_EQ(id.rfind("anon-", 0), 0u) << id;
}

std::string describe_text(const std::string& id, const std::string& owner, const std::string& members,
                          const std::string& flags = R"("anyone_can_join":false,"allow_anonymous":false)") {
  return R"(200 {"session_id":")" + id + R"(","session_type":0,"owner_id":")" + owner +
         R"(","game_master_node_id":")" + owner + R"(",)" + flags + R"(,"description":null,"members":[)" + members +
         "]}";
}

class MembershipTest : public SessionsFixture {};

TEST_F(MembershipTest, CreateMakesTheOwnerTheGameMasterAndNodeIdsMembersAndAnnouncesNothing) {
  open();
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  CreateRequest request;
  request.session_id = "S";
  request.game_master_node_id = "g";
  request.node_ids = {"a", "o", "a"};
  request.description = R"("hi")";
  EXPECT_EQ(text_of(create("o", request)), R"(201 {"session_id":"S"})");
  EXPECT_EQ(text_of(describe("a", "S")),
            R"(200 {"session_id":"S","session_type":0,"owner_id":"o","game_master_node_id":"g",)"
            R"("anyone_can_join":false,"allow_anonymous":false,"description":"hi","members":["a","g","o"]})");
  EXPECT_TRUE(take(o).empty());
  EXPECT_TRUE(take(a).empty());
  EXPECT_EQ(text_of(shards[0].sessions->list({"a"}, "a")), R"(200 {"sessions":["S"]})");

  store::SessionsSnapshot stored = stored_sessions();
  ASSERT_EQ(stored.sessions.size(), 1u);
  EXPECT_EQ(stored.sessions[0].owner_id, "o");
  EXPECT_EQ(stored.sessions[0].game_master_node_id, "g");
  EXPECT_EQ(stored.sessions[0].description, R"("hi")");
  EXPECT_EQ(stored.members.size(), 3u);
  for (const store::SessionMember& m : stored.members) {
    EXPECT_EQ(m.anonymous_id, "") << m.node_id;
    EXPECT_EQ(m.cursor, 0u) << m.node_id;
  }
}

TEST_F(MembershipTest, AGameSessionWithoutIdGetsOneAndTheOwnerAsGameMaster) {
  open();
  CreateRequest request;
  request.session_type = 1;
  session::Answer answer = create("o", request);
  ASSERT_EQ(answer.status, 201);
  const std::string prefix = R"({"session_id":"s-)";
  ASSERT_EQ(answer.body.rfind(prefix, 0), 0u) << answer.body;
  std::string id = answer.body.substr(prefix.size() - 2, answer.body.size() - prefix.size());
  EXPECT_EQ(text_of(describe("o", id)),
            R"(200 {"session_id":")" + id + R"(","session_type":1,"owner_id":"o","game_master_node_id":"o",)"
            R"("anyone_can_join":false,"allow_anonymous":false,"description":null,"members":["o"]})");
}

TEST_F(MembershipTest, AnExistingSessionIdIsAConflict) {
  open();
  create_session("S", "o");
  CreateRequest again;
  again.session_id = "S";
  again.anyone_can_join = true;
  EXPECT_EQ(text_of(create("x", again)), "error:conflict");
  EXPECT_EQ(text_of(describe("o", "S")), describe_text("S", "o", R"("o")"));
}

// A change the store cannot keep takes effect nowhere: the caller is told
// to retry, and the next change is decided on the state before it. (The
// store refuses this create: a session "S" is already in the file, written
// behind the server's back.)
TEST_F(MembershipTest, AChangeTheStoreCannotKeepChangesNothing) {
  open(2);
  store::SessionRecord behind_the_back;
  behind_the_back.session_id = "S";
  behind_the_back.owner_id = behind_the_back.game_master_node_id = "someone";
  bool written = false;
  db->create_session(behind_the_back, {}, [&written](bool ok) { written = ok; });
  db->flush();
  ASSERT_TRUE(written);
  CreateRequest request;
  request.session_id = "S";
  EXPECT_EQ(text_of(create("o", request)), "error:unavailable");
  for (Shard& shard : shards) {
    EXPECT_EQ(text_of(shard.sessions->describe({"app", Role::app}, "S")), "error:unknown_session");
  }
  for (Shard& shard : shards) EXPECT_EQ(text_of(shard.sessions->list({"o"}, "o")), R"(200 {"sessions":[]})");
}

TEST_F(MembershipTest, AnAnonymousCreatorNeedsAllowAnonymous) {
  open();
  CreateRequest request;
  request.session_id = "S";
  request.anonymous = true;
  EXPECT_EQ(text_of(create("o", request)), "error:forbidden");
  EXPECT_EQ(text_of(describe("app", "S", Role::app)), "error:unknown_session");
  EXPECT_TRUE(stored_sessions().sessions.empty());

  request.allow_anonymous = true;
  EXPECT_EQ(text_of(create("o", request)), R"(201 {"session_id":"S"})");
  std::optional<store::SessionMember> owner = stored_member("S", "o");
  ASSERT_TRUE(owner);
  expect_anonymous_id(owner->anonymous_id);
  const std::string anon = owner->anonymous_id;
  // The owner and game master appear by the anonymous id alone.
  EXPECT_EQ(text_of(describe("o", "S")),
            R"(200 {"session_id":"S","session_type":0,"owner_id":")" + anon + R"(","game_master_node_id":")" + anon +
                R"(","anyone_can_join":false,"allow_anonymous":true,"description":null,"members":[")" + anon +
                R"("]})");
}

TEST_F(MembershipTest, JoiningAnOpenSessionAnnouncesToEveryMemberTheNewOneIncluded) {
  open();
  create_session("S", "o", {"a"}, true);
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  EXPECT_EQ(text_of(join("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_EQ(take(o), Frames{event("o", -100, "S", "b")});
  EXPECT_EQ(take(a), Frames{event("a", -100, "S", "b")});
  EXPECT_EQ(take(b), Frames{event("b", -100, "S", "b")});
  // Joining again changes nothing and announces nothing.
  EXPECT_EQ(text_of(join("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_TRUE(take(o).empty());
  EXPECT_TRUE(take(b).empty());
  EXPECT_EQ(text_of(describe("b", "S")), describe_text("S", "o", R"("a","b","o")",
                                                       R"("anyone_can_join":true,"allow_anonymous":false)"));
  EXPECT_EQ(text_of(shards[0].sessions->list({"b"}, "b")), R"(200 {"sessions":["S"]})");
}

// Changes of one session are decided one after the other: a second join
// called while the first is being stored sees it, and the node is announced once.
TEST_F(MembershipTest, AJoinWhileAnotherIsBeingStoredWaitsForIt) {
  open(2);
  create_session("S", "o", {}, true, true);  // open, anonymous allowed
  core::Connection& o = connect("o");
  std::vector<std::string> answers;
  const std::uint32_t home = shards[0].sessions->home_of("S");
  for (int i = 0; i < 2; ++i) {
    shards[home].sessions->join({"b"}, "S", {}, true, now,
                                [&answers](session::Answer answer) { answers.push_back(text_of(answer)); });
  }
  drain();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], answers[1]);
  std::optional<store::SessionMember> stored = stored_member("S", "b");
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->anonymous_id.empty());
  EXPECT_EQ(answers[0], R"(200 {"session_id":"S","node_id":"b","anonymous_id":")" + stored->anonymous_id + R"("})");
  EXPECT_EQ(take(o), Frames{event("o", -100, "S", stored->anonymous_id)});
}

// Section 6: a node that joins starts at the log's end.
TEST_F(MembershipTest, ANewMembersCursorStartsAtTheLogsEnd) {
  open();
  create_session("S", "o", {"a"}, true);
  core::Connection& o = connect("o");
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(o, R"({"dest_session_id":"S","payload":2})");
  ASSERT_EQ(text_of(join("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");
  std::optional<store::SessionMember> b = stored_member("S", "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->cursor, 2u);
  core::Connection* c = nullptr;
  EXPECT_TRUE(connect_and_replay(c, "b").empty());  // nothing before its join comes again
  EXPECT_EQ(connect_and_replay(c, "a").size(), 2u);  // a never acknowledged either
}

TEST_F(MembershipTest, OnlyTheOwnerOrAnAppAddsOthers) {
  open();
  create_session("S", "o", {"a"});
  EXPECT_EQ(text_of(join("b", "S")), "error:forbidden");          // closed to anyone
  EXPECT_EQ(text_of(join("a", "S", "c")), "error:forbidden");     // a member is not the owner
  EXPECT_EQ(text_of(join("o", "S", "b")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_EQ(text_of(join("app", "S", "c", false, Role::app)), R"(200 {"session_id":"S","node_id":"c"})");
  EXPECT_EQ(text_of(join("b", "nope")), "error:unknown_session");
  create_session("T", "o", {}, true);
  EXPECT_EQ(text_of(join("x", "T", "y")), "error:forbidden");  // open to itself, not to others
  EXPECT_EQ(text_of(describe("o", "S")), describe_text("S", "o", R"("a","b","c","o")"));
}

TEST_F(MembershipTest, AnAnonymousJoinNeedsAllowAnonymousAndIsAnnouncedByItsAnonymousId) {
  open();
  create_session("S", "o", {}, true, false);
  EXPECT_EQ(text_of(join("b", "S", "", true)), "error:forbidden");
  create_session("T", "o", {}, true, true);
  core::Connection& o = connect("o");
  core::Connection& b = connect("b");
  session::Answer answer = join("b", "T", "", true);
  const std::string anon = anonymous_in(answer.body);
  expect_anonymous_id(anon);
  EXPECT_EQ(text_of(answer), R"(200 {"session_id":"T","node_id":"b","anonymous_id":")" + anon + R"("})");
  EXPECT_EQ(take(o), Frames{event("o", -100, "T", anon)});
  EXPECT_EQ(take(b), Frames{event("b", -100, "T", anon)});
  EXPECT_EQ(text_of(describe("o", "T")), describe_text("T", "o", "\"" + anon + R"(","o")",
                                                       R"("anyone_can_join":true,"allow_anonymous":true)"));
  EXPECT_EQ(stored_member("T", "b")->anonymous_id, anon);
  EXPECT_EQ(text_of(join("b", "T")), text_of(answer));  // already in, as it is
}

TEST_F(MembershipTest, LeavingIsAnnouncedToTheRemainingMembersAndTheLeaver) {
  open();
  create_session("S", "o", {"a", "b"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  EXPECT_EQ(text_of(leave("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_EQ(take(o), Frames{event("o", -103, "S", "b")});
  EXPECT_EQ(take(a), Frames{event("a", -103, "S", "b")});
  EXPECT_EQ(take(b), Frames{event("b", -103, "S", "b")});
  EXPECT_EQ(text_of(describe("o", "S")), describe_text("S", "o", R"("a","o")"));
  EXPECT_EQ(text_of(shards[0].sessions->list({"b"}, "b")), R"(200 {"sessions":[]})");
  EXPECT_FALSE(stored_member("S", "b"));
  send(b, R"({"id":"m1","dest_session_id":"S"})");  // no longer a member
  EXPECT_EQ(take(b), Frames{R"({"type":-5,"id":"m1","dest_session_id":"S","payload":{"code":"session_unauthorized",)"
                            R"("message":"node \"b\" is not a member of session \"S\""}})"});
  EXPECT_TRUE(take(a).empty());
}

TEST_F(MembershipTest, AnAnonymousLeaverIsAnnouncedByItsAnonymousId) {
  open();
  create_session("S", "o", {}, true, true);
  core::Connection& o = connect("o");
  const std::string anon = anonymous_in(join("b", "S", "", true).body);
  take(o);
  EXPECT_EQ(text_of(leave("o", "S", "b")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_EQ(take(o), Frames{event("o", -103, "S", anon)});
}

TEST_F(MembershipTest, OnlyTheOwnerOrAnAppRemovesOthers) {
  open();
  create_session("S", "o", {"a", "b"});
  EXPECT_EQ(text_of(leave("a", "S", "b")), "error:forbidden");
  EXPECT_EQ(text_of(leave("o", "S", "b")), R"(200 {"session_id":"S","node_id":"b"})");
  EXPECT_EQ(text_of(leave("o", "S", "b")), "error:session_unauthorized");  // no longer a member
  EXPECT_EQ(text_of(leave("x", "S")), "error:session_unauthorized");
  EXPECT_EQ(text_of(leave("app", "S", "a", Role::app)), R"(200 {"session_id":"S","node_id":"a"})");
  EXPECT_EQ(text_of(leave("o", "nope")), "error:unknown_session");
  EXPECT_EQ(text_of(describe("o", "S")), describe_text("S", "o", R"("o")"));
}

TEST_F(MembershipTest, RevealIsAnnouncedWithTheAnonymousIdItReplaces) {
  open();
  create_session("S", "o", {}, true, true);
  core::Connection& o = connect("o");
  core::Connection& b = connect("b");
  const std::string anon = anonymous_in(join("b", "S", "", true).body);
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(o, R"({"dest_session_id":"S","payload":2})");
  send(b, R"({"type":-7,"dest_session_id":"S","seq":2})");
  send(b, R"({"type":-7,"dest_session_id":"S","seq":1})");  // never backwards, also in memory
  take(o);
  take(b);
  EXPECT_EQ(text_of(reveal("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");
  const std::string payload = R"({"anonymous_id":")" + anon + R"("})";
  EXPECT_EQ(take(o), Frames{event("o", -104, "S", "b", payload)});
  EXPECT_EQ(take(b), Frames{event("b", -104, "S", "b", payload)});
  EXPECT_EQ(text_of(describe("o", "S")), describe_text("S", "o", R"("b","o")",
                                                       R"("anyone_can_join":true,"allow_anonymous":true)"));
  std::optional<store::SessionMember> revealed = stored_member("S", "b");
  ASSERT_TRUE(revealed);
  EXPECT_EQ(revealed->anonymous_id, "");
  EXPECT_EQ(revealed->cursor, 2u);  // a reveal keeps the cursor
  // The anonymous id no longer names anyone.
  send(o, R"({"id":"p","dest_session_id":"S","dest_id":")" + anon + R"("})");
  EXPECT_EQ(take(o), Frames{R"({"type":-6,"id":"p","payload":{"code":"no_destination","message":"\")" + anon +
                            R"(\" is not a member of session \"S\""}})"});
  EXPECT_EQ(text_of(reveal("b", "S")), R"(200 {"session_id":"S","node_id":"b"})");  // nothing left to reveal
  EXPECT_TRUE(take(o).empty());
  EXPECT_EQ(text_of(reveal("x", "S")), "error:session_unauthorized");
  EXPECT_EQ(text_of(reveal("b", "nope")), "error:unknown_session");
}

TEST_F(MembershipTest, DeleteSendsEachMemberOneMinus103WithItsOwnVisibleId) {
  open();
  create_session("S", "o", {"a"}, true, true);
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  core::Connection& a2 = connect("a");
  core::Connection& b = connect("b");
  const std::string anon = anonymous_in(join("b", "S", "", true).body);
  send(o, R"({"dest_session_id":"S","payload":1})");
  for (core::Connection* c : {&o, &a, &a2, &b}) take(*c);
  EXPECT_EQ(text_of(remove("a", "S")), "error:forbidden");
  EXPECT_EQ(text_of(remove("o", "S")), R"(200 {"session_id":"S"})");
  EXPECT_EQ(take(o), Frames{event("o", -103, "S", "o")});
  EXPECT_EQ(take(a), Frames{event("a", -103, "S", "a")});
  EXPECT_EQ(take(a2), Frames{event("a", -103, "S", "a")});
  EXPECT_EQ(take(b), Frames{event("b", -103, "S", anon)});

  send(a, R"({"id":"m","dest_session_id":"S"})");
  EXPECT_EQ(take(a), Frames{R"({"type":-6,"id":"m","payload":{"code":"unknown_session",)"
                            R"("message":"session \"S\" does not exist"}})"});
  EXPECT_EQ(text_of(describe("o", "S")), "error:unknown_session");
  EXPECT_EQ(text_of(shards[0].sessions->list({"a"}, "a")), R"(200 {"sessions":[]})");
  EXPECT_EQ(text_of(remove("o", "S")), "error:unknown_session");
  EXPECT_TRUE(stored_sessions().sessions.empty());
  EXPECT_TRUE(stored_sessions().members.empty());
  EXPECT_TRUE(stored_log("S").empty());  // the log is dropped

  create_session("T", "o");
  EXPECT_EQ(text_of(remove("app", "T", Role::app)), R"(200 {"session_id":"T"})");
}

TEST_F(MembershipTest, ListAndDescribeAreForTheNodeItselfMembersAndApps) {
  open();
  create_session("T", "o", {"a"});
  create_session("S", "o", {"a"});
  auto& sessions = *shards[0].sessions;
  EXPECT_EQ(text_of(sessions.list({"a"}, "a")), R"(200 {"sessions":["S","T"]})");
  EXPECT_EQ(text_of(sessions.list({"b"}, "a")), "error:forbidden");
  EXPECT_EQ(text_of(sessions.list({"app", Role::app}, "a")), R"(200 {"sessions":["S","T"]})");
  EXPECT_EQ(text_of(sessions.list({"app", Role::server}, "o")), R"(200 {"sessions":["S","T"]})");
  EXPECT_EQ(text_of(sessions.list({"x"}, "x")), R"(200 {"sessions":[]})");
  EXPECT_EQ(text_of(describe("x", "S")), "error:session_unauthorized");
  EXPECT_EQ(text_of(describe("app", "S", Role::app)), describe_text("S", "o", R"("a","o")"));
  EXPECT_EQ(text_of(describe("a", "nope")), "error:unknown_session");
}

// Sessions, members, anonymous ids, cursors and session_seq come back after a
// restart (Sessions::restore).
TEST_F(MembershipTest, SessionsMembersCursorsAndSeqsSurviveARestart) {
  open();
  create_session("S", "o", {"a"}, true, true);
  const std::string anon = anonymous_in(join("b", "S", "", true).body);
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(o, R"({"dest_session_id":"S","payload":2})");
  send(a, R"({"type":-7,"dest_session_id":"S","seq":1})");
  const std::string before = text_of(describe("o", "S"));
  restart();
  EXPECT_EQ(text_of(describe("o", "S")), before);
  EXPECT_EQ(text_of(shards[0].sessions->list({"b"}, "b")), R"(200 {"sessions":["S"]})");
  core::Connection* a2 = nullptr;
  EXPECT_EQ(connect_and_replay(a2, "a"), Frames{R"({"dest_id":"a","session_seq":2,"src_id":"o","timestamp":)" +
                                                now_text + R"(,"dest_session_id":"S","payload":2})"});
  core::Connection& o2 = connect("o");
  take(o2);
  send(o2, R"({"dest_session_id":"S","payload":3})");
  EXPECT_EQ(take(*a2), Frames{R"({"dest_id":"a","session_seq":3,"src_id":"o","timestamp":)" + now_text +
                              R"(,"dest_session_id":"S","payload":3})"});
  send(o2, R"({"id":"p","dest_session_id":"S","dest_id":")" + anon + R"("})");  // b is offline
  EXPECT_EQ(take(o2), Frames{R"({"type":-4,"id":"p","src_id":")" + anon + R"("})"});
}

// Every shard keeps a copy of each session and announces to the members homed there.
TEST_F(MembershipTest, ChangesReachEveryShardAndItsMembers) {
  open(2);
  const std::string o = id_on(0, "o"), a = id_on(1, "a"), b = id_on(1, "b"), c = id_on(0, "c");
  create_session("S", o, {a}, true);
  core::Connection& co = connect(o);
  core::Connection& ca = connect(a);
  core::Connection& cb = connect(b);
  const std::string members = "\"" + a + "\",\"" + o + "\"";
  const std::string flags = R"("anyone_can_join":true,"allow_anonymous":false)";
  EXPECT_EQ(text_of(describe(o, "S", Role::node, 0)), describe_text("S", o, members, flags));
  EXPECT_EQ(text_of(describe(o, "S", Role::node, 1)), describe_text("S", o, members, flags));

  EXPECT_EQ(text_of(join(b, "S")), R"(200 {"session_id":"S","node_id":")" + b + R"("})");
  EXPECT_EQ(take(co), Frames{event(o, -100, "S", b)});
  EXPECT_EQ(take(ca), Frames{event(a, -100, "S", b)});
  EXPECT_EQ(take(cb), Frames{event(b, -100, "S", b)});
  EXPECT_EQ(text_of(shards[0].sessions->list({b}, b)), R"(200 {"sessions":["S"]})");
  EXPECT_EQ(text_of(shards[1].sessions->list({b}, b)), R"(200 {"sessions":["S"]})");

  ASSERT_EQ(text_of(join(c, "S")), R"(200 {"session_id":"S","node_id":")" + c + R"("})");
  EXPECT_EQ(take(ca), Frames{event(a, -100, "S", c)});
  EXPECT_EQ(text_of(leave(c, "S")), R"(200 {"session_id":"S","node_id":")" + c + R"("})");
  EXPECT_EQ(take(co), (Frames{event(o, -100, "S", c), event(o, -103, "S", c)}));
  EXPECT_EQ(take(cb), (Frames{event(b, -100, "S", c), event(b, -103, "S", c)}));
  EXPECT_EQ(take(ca), Frames{event(a, -103, "S", c)});

  EXPECT_EQ(text_of(remove(o, "S")), R"(200 {"session_id":"S"})");
  EXPECT_EQ(take(co), Frames{event(o, -103, "S", o)});
  EXPECT_EQ(take(ca), Frames{event(a, -103, "S", a)});
  EXPECT_EQ(take(cb), Frames{event(b, -103, "S", b)});
  EXPECT_EQ(text_of(describe(o, "S", Role::app, 0)), "error:unknown_session");
  EXPECT_EQ(text_of(describe(o, "S", Role::app, 1)), "error:unknown_session");
}

}  // namespace
