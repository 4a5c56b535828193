// Messages to a session (PROTOCOL.md sections 4 and 6) on real routers, inboxes
// and a real store: who gets them and how they look, one log entry per
// message, private and game messages, anonymous senders, ephemeral and `ack`
// messages, session acks and cursors, and the same across two shards.
#include <gtest/gtest.h>

#include "sessions_fixture.hpp"

using namespace allspark;
using namespace allspark::session::testing_support;
using protocol::Role;
using session::CreateRequest;

namespace {

// A message as member `to` gets it: the server's fields, then `rest` (what the
// sender wrote, as forwarded). `seq` 0: no session_seq (private, ephemeral).
std::string got(const std::string& to, std::uint64_t seq, const std::string& src, const std::string& client,
                const std::string& rest) {
  std::string out = R"({"dest_id":")" + to + R"(",)";
  if (seq != 0) out += R"("session_seq":)" + std::to_string(seq) + ",";
  out += R"("src_id":")" + src + '"';
  if (!client.empty()) out += R"(,"src_client_id":")" + client + '"';
  return out + R"(,"timestamp":)" + now_text + "," + rest + "}";
}

std::string unauthorized(const std::string& id, const std::string& node, const std::string& session_id) {
  std::string head = id.empty() ? "" : R"("id":")" + id + R"(",)";
  return R"({"type":-5,)" + head + R"("dest_session_id":")" + session_id +
         R"(","payload":{"code":"session_unauthorized","message":"node \")" + node +
         R"(\" is not a member of session \")" + session_id + R"(\""}})";
}

std::string error(const std::string& id, const std::string& code, const std::string& message) {
  std::string head = id.empty() ? "" : R"("id":")" + id + R"(",)";
  return R"({"type":-6,)" + head + R"("payload":{"code":")" + code + R"(","message":")" + message + R"("}})";
}

class SessionsTest : public SessionsFixture {
 protected:
  std::uint64_t log_entries() {
    db->flush();
    return db->stats().log_entries_written;
  }
  std::uint64_t cursor_of(const std::string& session_id, const std::string& node_id) {
    auto member = stored_member(session_id, node_id);
    EXPECT_TRUE(member) << node_id;
    return member ? member->cursor : UINT64_MAX;
  }
  // Joins `node` anonymously to an open session that allows it; its anonymous id.
  std::string join_anonymously(const std::string& node, const std::string& id) {
    session::Answer answer = join(node, id, "", true);
    const std::string key = R"("anonymous_id":")";
    auto at = answer.body.find(key);
    EXPECT_NE(at, std::string::npos) << text_of(answer);
    return at == std::string::npos ? "" : answer.body.substr(at + key.size(), 21);
  }
};

TEST_F(SessionsTest, AMembersMessageReachesEveryOtherMemberConnectionButNotTheSendingOne) {
  open();
  create_session("S", "o", {"a", "b"});
  core::Connection& o1 = connect("o", "co");
  core::Connection& o2 = connect("o", "co");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  const std::string rest = R"("id":"m1","dest_session_id":"S","payload":{"x":1})";
  send(o1, R"({"id":"m1","dest_session_id":"S","payload":{"x":1}})");
  EXPECT_TRUE(take(o1).empty());
  EXPECT_EQ(take(o2), Frames{got("o", 1, "o", "co", rest)});  // the sender's other tab
  EXPECT_EQ(take(a), Frames{got("a", 1, "o", "co", rest)});
  EXPECT_EQ(take(b), Frames{got("b", 1, "o", "co", rest)});

  send(o1, R"({"dest_session_id":"S","payload":2})");
  for (auto [c, to] : {std::pair{&o2, "o"}, {&a, "a"}, {&b, "b"}}) {
    EXPECT_EQ(take(*c), Frames{got(to, 2, "o", "co", R"("dest_session_id":"S","payload":2)")});
  }
  send(a, R"({"dest_session_id":"S","payload":3,"src_id":"forged","timestamp":1,"session_seq":9})");
  const std::string third = R"("dest_session_id":"S","payload":3)";
  EXPECT_EQ(take(o1), Frames{got("o", 3, "a", "", third)});
  EXPECT_EQ(take(o2), Frames{got("o", 3, "a", "", third)});
  EXPECT_EQ(take(b), Frames{got("b", 3, "a", "", third)});
  EXPECT_TRUE(take(a).empty());
  EXPECT_EQ(shards[0].sessions->counters().messages.get(), 3u);
  EXPECT_EQ(shards[0].sessions->counters().fanned_out.get(), 9u);
}

// Section 6: one log entry per message, whatever the number of members; the
// webhook hears once per message some member missed.
TEST_F(SessionsTest, EachMessageIsLoggedOnceAndTheWebhookNamesWhoMissedIt) {
  open();
  create_session("S", "o", {"a", "b", "c", "d"});
  core::Connection& o = connect("o");
  connect("a");
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(o, R"({"dest_session_id":"S","payload":2})");
  EXPECT_EQ(log_entries(), 2u);
  std::vector<store::LogEntry> log = stored_log("S");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].session_seq, 1u);
  EXPECT_EQ(log[0].body, R"("session_seq":1,"src_id":"o","timestamp":)" + now_text +
                             R"(,"dest_session_id":"S","payload":1})");
  EXPECT_EQ(log[1].session_seq, 2u);
  EXPECT_EQ(log[1].stored_at_ms, now);
  EXPECT_EQ(webhook, (std::vector<std::string>{
                         R"({"session_id":"S","session_seq":1,"src_id":"o","offline_node_ids":["b","c","d"]})",
                         R"({"session_id":"S","session_seq":2,"src_id":"o","offline_node_ids":["b","c","d"]})"}));
  EXPECT_EQ(stored_sessions().sessions.at(0).last_seq, 2u);
}

TEST_F(SessionsTest, ANonMemberGetsMinus5AndNothingIsRoutedOrLogged) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& a = connect("a");
  core::Connection& x = connect("x");
  send(x, R"({"id":"m1","dest_session_id":"S","payload":1})");
  EXPECT_EQ(take(x), Frames{unauthorized("m1", "x", "S")});
  EXPECT_EQ(take(x), Frames{});
  send(x, R"({"dest_session_id":"S","dest_id":"a"})");  // a private message too
  EXPECT_EQ(take(x), Frames{unauthorized("", "x", "S")});
  EXPECT_TRUE(take(a).empty());
  EXPECT_EQ(log_entries(), 0u);
}

TEST_F(SessionsTest, AnUnknownSessionGetsMinus6) {
  open();
  core::Connection& x = connect("x");
  send(x, R"({"id":"m1","dest_session_id":"nope","payload":1})");
  EXPECT_EQ(take(x), Frames{error("m1", "unknown_session", R"(session \"nope\" does not exist)")});
  create_session("S", "x");
  send(x, R"({"id":"e","type":-100,"dest_session_id":"S"})");  // the protocol's own types are not the client's
  EXPECT_EQ(take(x), Frames{error("e", "bad_field", "type -100 is not a message type a session accepts")});
}

TEST_F(SessionsTest, AnAppSendsToAnySessionAndMaySpeakForANode) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& app = connect("backend", "", Role::app);
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  send(app, R"({"dest_session_id":"S","payload":1})");
  EXPECT_EQ(take(o), Frames{got("o", 1, "backend", "", R"("dest_session_id":"S","payload":1)")});
  EXPECT_EQ(take(a), Frames{got("a", 1, "backend", "", R"("dest_session_id":"S","payload":1)")});
  send(app, R"({"src_id":"o","dest_session_id":"S","payload":2})");
  EXPECT_EQ(take(a), Frames{got("a", 2, "o", "", R"("dest_session_id":"S","payload":2)")});
  EXPECT_TRUE(take(app).empty());
}

// Section 9: POST /v1/messages to a session is answered with the connections
// written to and the message's session_seq.
TEST_F(SessionsTest, APublishOverHttpIsAnsweredWithDeliveredAndSessionSeq) {
  open();
  create_session("S", "o", {"a", "b"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  core::TrackResult result = publish("backend", R"({"dest_session_id":"S","payload":1})");
  EXPECT_TRUE(result.ok);
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.delivered, 2u);
  EXPECT_EQ(result.session_seq, 1u);
  EXPECT_EQ(take(o), Frames{got("o", 1, "backend", "", R"("dest_session_id":"S","payload":1)")});
  EXPECT_EQ(take(a), Frames{got("a", 1, "backend", "", R"("dest_session_id":"S","payload":1)")});
  result = publish("backend", R"({"id":"p2","dest_session_id":"S","ack":true})");
  EXPECT_EQ(result.session_seq, 2u);
  EXPECT_EQ(log_entries(), 2u);
  result = publish("backend", R"({"dest_session_id":"nope"})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(*result.error, protocol::ErrorCode::unknown_session);
  result = publish("backend", R"({"dest_session_id":"S","dest_id":"x"})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(*result.error, protocol::ErrorCode::no_destination);
}

// An app speaking for an anonymous member (over WebSocket with `src_id`, or
// POST /v1/messages) shows it by its anonymous id: section 4, src_id is "its
// anonymous id inside that session", with no src_client_id.
TEST_F(SessionsTest, AnAppSpeakingForAnAnonymousMemberShowsItsAnonymousId) {
  open();
  create_session("S", "o", {}, true, true);
  const std::string anon = join_anonymously("b", "S");
  core::Connection& app = connect("backend", "", Role::app);
  core::Connection& o = connect("o");
  send(app, R"({"src_id":"b","dest_session_id":"S","payload":1})");
  EXPECT_EQ(take(o), Frames{got("o", 1, anon, "", R"("dest_session_id":"S","payload":1)")});
  publish("b", R"({"dest_session_id":"S","payload":2})");
  EXPECT_EQ(take(o), Frames{got("o", 2, anon, "", R"("dest_session_id":"S","payload":2)")});
  publish("b", R"({"dest_session_id":"S","dest_id":"o","payload":3})");
  EXPECT_EQ(take(o), Frames{got("o", 0, anon, "", R"("dest_session_id":"S","payload":3)")});
}

TEST_F(SessionsTest, APrivateMessageGoesToThatMemberAloneByNodeIdOrAnonymousId) {
  open();
  create_session("S", "o", {"a"}, true, true);
  const std::string anon = join_anonymously("b", "S");
  core::Connection& o = connect("o", "co");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  send(o, R"({"dest_session_id":"S","dest_id":"a","payload":1})");
  EXPECT_EQ(take(a), Frames{got("a", 0, "o", "co", R"("dest_session_id":"S","payload":1)")});
  EXPECT_TRUE(take(b).empty());
  send(o, R"({"dest_session_id":"S","dest_id":")" + anon + R"(","payload":2})");
  EXPECT_EQ(take(b), Frames{got("b", 0, "o", "co", R"("dest_session_id":"S","payload":2)")});
  EXPECT_TRUE(take(a).empty());
  EXPECT_TRUE(take(o).empty());
  EXPECT_EQ(log_entries(), 0u);  // private messages are the inbox's, not the log's

  send(o, R"({"id":"p","dest_session_id":"S","dest_id":"x"})");
  EXPECT_EQ(take(o), Frames{error("p", "no_destination", R"(\"x\" is not a member of session \"S\")")});
}

// Section 6: -4 names an offline recipient as the sender addressed it.
TEST_F(SessionsTest, APrivateMessageToAnOfflineAnonymousMemberIsStoredAndAnsweredWithItsAnonymousId) {
  open();
  create_session("S", "o", {}, true, true);
  const std::string anon = join_anonymously("b", "S");
  core::Connection& o = connect("o");
  send(o, R"({"id":"p","dest_session_id":"S","dest_id":")" + anon + R"(","payload":1})");
  EXPECT_EQ(take(o), Frames{R"({"type":-4,"id":"p","src_id":")" + anon + R"("})"});
  core::Connection* b = nullptr;
  EXPECT_EQ(connect_and_replay(b, "b"),
            Frames{R"({"dest_id":"b","seq":1,"src_id":"o","timestamp":)" + now_text +
                   R"(,"id":"p","dest_session_id":"S","payload":1})"});
}

// Section 5: in a game session a member's message goes to the game master
// alone; the game master's, or an app's, to every member.
TEST_F(SessionsTest, InAGameSessionMembersTalkToTheGameMasterWhoTalksToAll) {
  open();
  CreateRequest request;
  request.session_id = "G";
  request.session_type = 1;
  request.game_master_node_id = "g";
  request.node_ids = {"a", "b"};
  ASSERT_EQ(text_of(create("o", request)), R"(201 {"session_id":"G"})");
  core::Connection& o = connect("o");
  core::Connection& g = connect("g");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  core::Connection& app = connect("backend", "", Role::app);
  send(a, R"({"dest_session_id":"G","payload":"move"})");
  EXPECT_EQ(take(g), Frames{got("g", 0, "a", "", R"("dest_session_id":"G","payload":"move")")});
  send(o, R"({"dest_session_id":"G","payload":"owner"})");  // the owner is a member like any
  EXPECT_EQ(take(g), Frames{got("g", 0, "o", "", R"("dest_session_id":"G","payload":"owner")")});
  EXPECT_TRUE(take(b).empty());
  EXPECT_TRUE(take(o).empty());
  EXPECT_EQ(log_entries(), 0u);

  send(g, R"({"dest_session_id":"G","payload":"tick"})");
  for (auto [c, to] : {std::pair{&o, "o"}, {&a, "a"}, {&b, "b"}}) {
    EXPECT_EQ(take(*c), Frames{got(to, 1, "g", "", R"("dest_session_id":"G","payload":"tick")")});
  }
  EXPECT_TRUE(take(g).empty());
  send(app, R"({"dest_session_id":"G","payload":"news"})");
  for (auto [c, to] : {std::pair{&o, "o"}, {&g, "g"}, {&a, "a"}, {&b, "b"}}) {
    EXPECT_EQ(take(*c), Frames{got(to, 2, "backend", "", R"("dest_session_id":"G","payload":"news")")});
  }
}

// Section 5: in a game session "a message from a member goes to the game
// master only", a private message (dest_id another member) too.
TEST_F(SessionsTest, InAGameSessionAMembersPrivateMessageReachesNoOtherMember) {
  open();
  CreateRequest request;
  request.session_id = "G";
  request.session_type = 1;
  request.game_master_node_id = "g";
  request.node_ids = {"a", "b"};
  ASSERT_EQ(text_of(create("o", request)), R"(201 {"session_id":"G"})");
  connect("g");
  core::Connection& a = connect("a");
  core::Connection& b = connect("b");
  send(a, R"({"dest_session_id":"G","dest_id":"b","payload":"secret"})");
  EXPECT_TRUE(take(b).empty());
}

TEST_F(SessionsTest, AnAnonymousSenderIsShownByItsAnonymousIdWithoutClient) {
  open();
  create_session("S", "o", {}, true, true);
  const std::string anon = join_anonymously("b", "S");
  core::Connection& o = connect("o");
  core::Connection& b = connect("b", "cb");
  send(b, R"({"dest_session_id":"S","payload":1})");
  EXPECT_EQ(take(o), Frames{got("o", 1, anon, "", R"("dest_session_id":"S","payload":1)")});
  send(b, R"({"dest_session_id":"S","dest_id":"o","payload":2})");
  EXPECT_EQ(take(o), Frames{got("o", 0, anon, "", R"("dest_session_id":"S","payload":2)")});
  std::vector<store::LogEntry> log = stored_log("S");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].body, R"("session_seq":1,"src_id":")" + anon + R"(","timestamp":)" + now_text +
                             R"(,"dest_session_id":"S","payload":1})");  // no node_id, no client
}

TEST_F(SessionsTest, AnEphemeralMessageHasNoSessionSeqNoLogEntryAndNoWebhook) {
  open();
  create_session("S", "o", {"a", "offline"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  send(o, R"({"dest_session_id":"S","ephemeral":true,"payload":"typing"})");
  EXPECT_EQ(take(a), Frames{got("a", 0, "o", "", R"("dest_session_id":"S","ephemeral":true,"payload":"typing")")});
  EXPECT_EQ(log_entries(), 0u);
  EXPECT_TRUE(webhook.empty());
  send(o, R"({"dest_session_id":"S","payload":1})");  // the next logged one is still 1
  EXPECT_EQ(take(a), Frames{got("a", 1, "o", "", R"("dest_session_id":"S","payload":1)")});
  EXPECT_EQ(webhook.size(), 1u);
}

// Section 6: with `ack` the sender hears -7 once the entry is appended, and
// only then do members get it; a later message of the same connection waits
// behind it; a retry is answered -7 alone.
TEST_F(SessionsTest, AnAckedMessageIsAnsweredOnceLoggedThenDelivered) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  const std::string m1 = R"({"id":"m1","dest_session_id":"S","ack":true,"payload":1})";
  shards[0].router->on_message(o, m1, now);
  shards[0].router->on_message(o, R"({"dest_session_id":"S","payload":2})", now);
  shards[0].router->end_batch();  // the entry goes to the store
  EXPECT_EQ(stored_log("S").size(), 1u);
  EXPECT_TRUE(take(o).empty());  // its answer is still on the way back to the shard
  EXPECT_TRUE(take(a).empty());
  drain();
  EXPECT_EQ(take(o), Frames{R"({"type":-7,"id":"m1"})"});
  EXPECT_EQ(take(a), (Frames{got("a", 1, "o", "", R"("id":"m1","dest_session_id":"S","ack":true,"payload":1)"),
                             got("a", 2, "o", "", R"("dest_session_id":"S","payload":2)")}));
  send(o, m1);
  EXPECT_EQ(take(o), Frames{R"({"type":-7,"id":"m1"})"});
  EXPECT_TRUE(take(a).empty());
  EXPECT_EQ(log_entries(), 2u);
}

TEST_F(SessionsTest, ASessionAckMovesTheCursorNeverBackwardsAndAtMostToTheNewest) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  for (int i = 1; i <= 3; ++i) send(o, R"({"dest_session_id":"S","payload":)" + std::to_string(i) + "}");
  take(a);
  send(a, R"({"type":-7,"dest_session_id":"S","seq":2})");
  EXPECT_EQ(cursor_of("S", "a"), 2u);
  send(a, R"({"type":-7,"dest_session_id":"S","seq":1})");
  EXPECT_EQ(cursor_of("S", "a"), 2u);
  send(a, R"({"type":-7,"dest_session_id":"S","seq":99})");
  EXPECT_EQ(cursor_of("S", "a"), 3u);
  EXPECT_EQ(cursor_of("S", "o"), 0u);  // live delivery moves no cursor
  EXPECT_TRUE(take(a).empty());

  send(a, R"({"type":-7,"id":"k","dest_session_id":"S","seq":-1})");
  EXPECT_EQ(take(a), Frames{error("k", "bad_field", R"(a session ack (type -7) needs \"seq\": a non-negative integer)")});
  send(a, R"({"type":-7,"dest_session_id":"nope","seq":1})");
  EXPECT_EQ(take(a), Frames{error("", "unknown_session", R"(session \"nope\" does not exist)")});
  core::Connection& x = connect("x");
  send(x, R"({"type":-7,"dest_session_id":"S","seq":1})");
  EXPECT_EQ(take(x), Frames{unauthorized("", "x", "S")});
  core::Connection& app = connect("backend", "", Role::app);
  send(app, R"({"type":-7,"dest_session_id":"S","seq":1})");  // an app has no cursor either
  EXPECT_EQ(take(app), Frames{unauthorized("", "backend", "S")});

  // The same over HTTP (POST /v1/inbox/ack).
  EXPECT_EQ(text_of(shards[0].sessions->acknowledge({"o"}, "S", 2)), "200 {}");
  drain();  // the shard's end of batch hands the cursor to the store
  EXPECT_EQ(cursor_of("S", "o"), 2u);
  EXPECT_EQ(text_of(shards[0].sessions->acknowledge({"x"}, "S", 2)), "error:session_unauthorized");
  EXPECT_EQ(text_of(shards[0].sessions->acknowledge({"o"}, "nope", 2)), "error:unknown_session");
}

// Section 3: a connecting member gets the log after its cursor, its own
// messages included.
TEST_F(SessionsTest, AConnectingMemberGetsTheLogAfterItsCursor) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& o = connect("o");
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(o, R"({"dest_session_id":"S","payload":2})");
  core::Connection* a = nullptr;
  const Frames both{got("a", 1, "o", "", R"("dest_session_id":"S","payload":1)"),
                    got("a", 2, "o", "", R"("dest_session_id":"S","payload":2)")};
  EXPECT_EQ(connect_and_replay(a, "a"), both);
  send(*a, R"({"type":-7,"dest_session_id":"S","seq":1})");
  disconnect(*a);
  EXPECT_EQ(connect_and_replay(a, "a"), Frames{both[1]});
  core::Connection* o2 = nullptr;
  EXPECT_EQ(connect_and_replay(o2, "o").size(), 2u);
}

// Section 6: -101 fetch_inbox with session_id reads the log (Sessions::may_read):
// members and apps only, whatever the cursor.
TEST_F(SessionsTest, TheLogIsFetchedByMembersAndAppsOnly) {
  open();
  create_session("S", "o", {"a"});
  core::Connection& o = connect("o");
  core::Connection& a = connect("a");
  core::Connection& x = connect("x");
  core::Connection& app = connect("backend", "", Role::app);
  send(o, R"({"dest_session_id":"S","payload":1})");
  send(a, R"({"type":-7,"dest_session_id":"S","seq":1})");
  take(a);
  const std::string fetch = R"({"type":-101,"id":"f","payload":{"fetch_inbox":{"session_id":"S"}}})";
  for (auto [c, to] : {std::pair{&a, "a"}, {&app, "backend"}}) {
    send(*c, fetch);
    Frames frames = take(*c);
    ASSERT_EQ(frames.size(), 1u);
    const std::string head = R"({"type":-102,"id":"f","payload":{"messages":[)" +
                             got(to, 1, "o", "", R"("dest_session_id":"S","payload":1)") +
                             R"(],"from_seq":1,"to_seq":1,"more":false,"server_time":)";
    EXPECT_EQ(frames[0].substr(0, head.size()), head);
  }
  send(x, fetch);
  EXPECT_EQ(take(x), Frames{R"({"type":-5,"id":"f","dest_session_id":"S","payload":{"code":"session_unauthorized",)"
                            R"("message":"not a member of the session"}})"});
}

// Two shards: the session's home shard numbers and logs, each shard delivers
// to the members homed there.
TEST_F(SessionsTest, AcrossTwoShardsEveryMemberGetsEachMessageOnce) {
  open(2);
  const std::string s = id_on(1, "S");  // homed on the shard the owner is not
  const std::string o = id_on(0, "o"), c = id_on(0, "c"), a = id_on(1, "a"), b = id_on(1, "b");
  const std::string d = id_on(0, "d"), x = id_on(1, "x");  // d offline, away from the home shard
  create_session(s, o, {a, b, c, d});
  core::Connection& co = connect(o, "co");
  core::Connection& cc = connect(c);
  core::Connection& ca = connect(a);
  core::Connection& cb = connect(b);
  core::Connection& cx = connect(x);
  const std::string rest = R"("dest_session_id":")" + s + R"(","payload":1)";
  send(co, R"({"dest_session_id":")" + s + R"(","payload":1})");
  EXPECT_TRUE(take(co).empty());
  EXPECT_EQ(take(cc), Frames{got(c, 1, o, "co", rest)});
  EXPECT_EQ(take(ca), Frames{got(a, 1, o, "co", rest)});
  EXPECT_EQ(take(cb), Frames{got(b, 1, o, "co", rest)});
  EXPECT_EQ(webhook, std::vector<std::string>{R"({"session_id":")" + s + R"(","session_seq":1,"src_id":")" + o +
                                              R"(","offline_node_ids":[")" + d + R"("]})"});

  const std::string acked = R"("id":"m2","dest_session_id":")" + s + R"(","ack":true,"payload":2)";
  send(ca, R"({"id":"m2","dest_session_id":")" + s + R"(","ack":true,"payload":2})");
  EXPECT_EQ(take(ca), Frames{R"({"type":-7,"id":"m2"})"});
  EXPECT_EQ(take(co), Frames{got(o, 2, a, "", acked)});
  EXPECT_EQ(take(cc), Frames{got(c, 2, a, "", acked)});
  EXPECT_EQ(take(cb), Frames{got(b, 2, a, "", acked)});
  EXPECT_EQ(log_entries(), 2u);
  EXPECT_EQ(shards[1].sessions->counters().messages.get(), 2u);  // numbered on the home shard alone
  EXPECT_EQ(shards[0].sessions->counters().messages.get(), 0u);

  send(cx, R"({"id":"m3","dest_session_id":")" + s + R"("})");
  EXPECT_EQ(take(cx), Frames{unauthorized("m3", x, s)});
  send(cc, R"({"type":-7,"dest_session_id":")" + s + R"(","seq":2})");
  EXPECT_EQ(cursor_of(s, c), 2u);
  send(co, R"({"dest_session_id":")" + s + R"(","dest_id":")" + b + R"(","payload":3})");
  EXPECT_EQ(take(cb), Frames{got(b, 0, o, "co", R"("dest_session_id":")" + s + R"(","payload":3)")});
  EXPECT_TRUE(take(ca).empty());
}

// A message that reaches the session's home shard after the session was
// deleted is refused with -6 unknown_session carrying its id (section 8).
TEST_F(SessionsTest, AMessageOvertakenByTheSessionsDeletionIsRefusedWithItsId) {
  open(2);
  const std::string s = id_on(1, "S"), o = id_on(0, "o");
  create_session(s, o);
  core::Connection& co = connect(o);
  std::optional<session::Answer> answer;
  shards[1].sessions->remove({o}, s, now, [&answer](session::Answer a) { answer = std::move(a); });
  shards[1].router->end_batch();
  db->flush();         // the store has the deletion and its answer is posted
  run_posted_to(1);    // the home shard applies it; shard 0 still has its copy
  shards[0].router->on_message(co, R"({"id":"m1","dest_session_id":")" + s + R"("})", now);  // on its way
  drain();
  ASSERT_TRUE(answer);
  // The deletion reached o's shard first (its -103), then the refusal came back.
  EXPECT_EQ(take(co), (Frames{event(o, -103, s, o),
                              error("m1", "unknown_session", R"(session \")" + s + R"(\" does not exist)")}));
}

}  // namespace
