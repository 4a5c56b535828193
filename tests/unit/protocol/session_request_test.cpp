// The session bodies of the HTTP API (PROTOCOL.md section 5).
#include "protocol/session_request.hpp"

#include <gtest/gtest.h>

namespace allspark::protocol {
namespace {

std::optional<BodyError> create(std::string_view body, SessionCreate& out) { return parse_session_create(body, out); }

TEST(SessionRequest, AnEmptyBodyIsAnEmptyObject) {
  SessionCreate request;
  EXPECT_FALSE(create("", request));
  EXPECT_EQ(request.session_id, "");
  EXPECT_EQ(request.session_type, 0);
  EXPECT_EQ(request.description, "null");
  EXPECT_TRUE(request.node_ids.empty());
}

TEST(SessionRequest, EveryFieldIsRead) {
  SessionCreate request;
  ASSERT_FALSE(create(R"({"session_id":"room-1","session_type":1,"game_master_node_id":"gm","anyone_can_join":true,)"
                      R"("allow_anonymous":true,"anonymous":true,"node_ids":[ "a" , "b\u0063" ],)"
                      R"("description":"a \"room\"","unknown":[1]})",
                      request));
  EXPECT_EQ(request.session_id, "room-1");
  EXPECT_EQ(request.session_type, 1);
  EXPECT_EQ(request.game_master_node_id, "gm");
  EXPECT_TRUE(request.anyone_can_join);
  EXPECT_TRUE(request.allow_anonymous);
  EXPECT_TRUE(request.anonymous);
  EXPECT_EQ(request.node_ids, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(request.description, R"("a \"room\"")");  // kept as the JSON given
}

TEST(SessionRequest, EachBadFieldGetsItsCode) {
  struct Case {
    const char* body;
    ErrorCode code;
  };
  const Case cases[] = {
      {R"({"session_id":5})", ErrorCode::bad_field},
      {R"({"session_id":"bad id"})", ErrorCode::bad_id},
      {R"({"session_id":""})", ErrorCode::bad_id},
      {R"({"session_type":2})", ErrorCode::bad_field},
      {R"({"session_type":"1"})", ErrorCode::bad_field},
      {R"({"session_type":1.0})", ErrorCode::bad_field},
      {R"({"anyone_can_join":1})", ErrorCode::bad_field},
      {R"({"allow_anonymous":null})", ErrorCode::bad_field},
      {R"({"node_ids":"a"})", ErrorCode::bad_field},
      {R"({"node_ids":["a",1]})", ErrorCode::bad_field},
      {R"({"node_ids":["a",["b"]]})", ErrorCode::bad_field},
      {R"({"node_ids":["a","b c"]})", ErrorCode::bad_id},
      {R"({"game_master_node_id":"x/y"})", ErrorCode::bad_id},
      {R"({"description":5})", ErrorCode::bad_field},
      {R"({"description":{"a":1}})", ErrorCode::bad_field},
      {R"({"a":1,"a":2})", ErrorCode::bad_field},
      {R"([1,2])", ErrorCode::not_an_object},
      {R"({"session_id":"a")", ErrorCode::bad_json},
      {"{\"session_id\":\"\xff\"}", ErrorCode::bad_json},
  };
  for (const Case& c : cases) {
    SessionCreate request;
    auto error = create(c.body, request);
    ASSERT_TRUE(error) << c.body;
    EXPECT_EQ(error->code, c.code) << c.body;
    EXPECT_FALSE(error->message.empty()) << c.body;
  }
}

TEST(SessionRequest, JoinReadsNodeIdAndAnonymousLeaveOnlyNodeId) {
  SessionMembership join;
  ASSERT_FALSE(parse_session_membership(R"({"node_id":"n1","anonymous":true})", true, join));
  EXPECT_EQ(join.node_id, "n1");
  EXPECT_TRUE(join.anonymous);
  SessionMembership leave;
  ASSERT_FALSE(parse_session_membership(R"({"node_id":"n1","anonymous":true})", false, leave));
  EXPECT_EQ(leave.node_id, "n1");
  EXPECT_FALSE(leave.anonymous);
  SessionMembership bad;
  EXPECT_EQ(parse_session_membership(R"({"node_id":"n 1"})", false, bad)->code, ErrorCode::bad_id);
  EXPECT_EQ(parse_session_membership(R"({"anonymous":"yes"})", true, bad)->code, ErrorCode::bad_field);
  EXPECT_EQ(parse_session_membership(R"({"node_id":)", true, bad)->code, ErrorCode::bad_json);
  EXPECT_EQ(parse_session_membership(R"("n1")", true, bad)->code, ErrorCode::not_an_object);
}

}  // namespace
}  // namespace allspark::protocol
