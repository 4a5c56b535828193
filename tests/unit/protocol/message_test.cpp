#include "protocol/message.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

// Counts heap allocations so a test can prove the decoder allocates nothing
// per message once its buffers have grown (DESIGN.md "Threads and the hot path").
namespace {
std::atomic<long> allocations{0};
}  // namespace

// GCC sees free() in a replaced operator delete as a mismatch with new; here
// they are a matched pair by construction.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

using allspark::protocol::code_name;
using allspark::protocol::DecodeError;
using allspark::protocol::ErrorCode;
using allspark::protocol::Message;
using allspark::protocol::MessageDecoder;

namespace {

std::vector<std::string> forwarded(const Message& message) {
  return {message.forwarded.begin(), message.forwarded.end()};
}

TEST(Message, DecodesEveryField) {
  const std::string text =
      R"({"type":5,"id":"m1","dest_id":"n2","dest_client_id":"c1","dest_session_id":"s1",)"
      R"("payload":{"text":"hi"},"payload1":[1, 2],"ack":true,"x-custom":null})";
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_TRUE(decoder.decode(text, message, error)) << error.message;
  EXPECT_EQ(message.type, 5);
  EXPECT_EQ(message.id, "m1");
  EXPECT_EQ(message.dest_id, "n2");
  EXPECT_EQ(message.dest_client_id, "c1");
  EXPECT_EQ(message.dest_session_id, "s1");
  EXPECT_EQ(message.src_id, "");
  EXPECT_TRUE(message.ack);
  EXPECT_FALSE(message.ephemeral);
  EXPECT_EQ(message.payload, R"({"text":"hi"})");
  // Everything except dest_id, in order, as written.
  EXPECT_EQ(forwarded(message),
            (std::vector<std::string>{R"("type":5)", R"("id":"m1")", R"("dest_client_id":"c1")",
                                      R"("dest_session_id":"s1")", R"("payload":{"text":"hi"})",
                                      R"("payload1":[1, 2])", R"("ack":true)", R"("x-custom":null)"}));
}

TEST(Message, DefaultsWhenFieldsAreAbsent) {
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_TRUE(decoder.decode(" { } ", message, error)) << error.message;
  EXPECT_EQ(message.type, 0);
  EXPECT_TRUE(message.id.empty());
  EXPECT_TRUE(message.dest_id.empty());
  EXPECT_TRUE(message.dest_client_id.empty());
  EXPECT_TRUE(message.dest_session_id.empty());
  EXPECT_TRUE(message.src_id.empty());
  EXPECT_FALSE(message.ack);
  EXPECT_FALSE(message.ephemeral);
  EXPECT_TRUE(message.payload.empty());
  EXPECT_TRUE(message.forwarded.empty());
}

TEST(Message, FieldsTheServerSetsAreNotForwarded) {
  const std::string text =
      R"({ "src_id" : "app.node", "src_client_id":5,"timestamp":"soon","seq":-1,"session_seq":{},)"
      R"("dest_id":"n1","type":-7 ,"payload2":"p2","ephemeral":true,"ack":false})";
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_TRUE(decoder.decode(text, message, error)) << error.message;
  EXPECT_EQ(message.src_id, "app.node");  // read, for the app and server roles, but never forwarded
  EXPECT_EQ(message.dest_id, "n1");
  EXPECT_EQ(message.type, -7);
  EXPECT_TRUE(message.ephemeral);
  EXPECT_FALSE(message.ack);
  EXPECT_EQ(forwarded(message), (std::vector<std::string>{R"("type":-7)", R"("payload2":"p2")",
                                                          R"("ephemeral":true)", R"("ack":false)"}));
}

TEST(Message, IdsMayBeEscaped) {
  const std::string text = R"({"id":"m\u0031","dest_id":"a\/b","src_id":"\u0041"})";
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_FALSE(decoder.decode(text, message, error));  // '/' is not an id character
  EXPECT_EQ(error.code, ErrorCode::bad_id);
  EXPECT_EQ(error.message, R"(field "dest_id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))");
  EXPECT_EQ(error.id, "m1");

  ASSERT_TRUE(decoder.decode(R"({"id":"m\u0031","dest_id":"a\u002eb","src_id":"\u0041"})", message, error));
  EXPECT_EQ(message.id, "m1");
  EXPECT_EQ(message.dest_id, "a.b");
  EXPECT_EQ(message.src_id, "A");
  EXPECT_EQ(forwarded(message), (std::vector<std::string>{R"("id":"m\u0031")"}));  // the raw bytes
}

struct ErrorCase {
  std::string text;
  ErrorCode code;
  std::string message;
  std::string id;  // echoed
};

TEST(Message, RefusesWhatIsNotAcceptable) {
  const std::string long_id(129, 'x');
  const std::vector<ErrorCase> cases = {
      {R"({"id":"m1",)", ErrorCode::bad_json, "unexpected end of text at byte 11", ""},
      {R"({"id":"m1","payload":[1,,2]})", ErrorCode::bad_json, "unexpected ',' at byte 24", ""},
      {R"({"id":"m1"} {})", ErrorCode::bad_json, "unexpected '{' after the top-level value at byte 12", ""},
      {R"(["id","m1"])", ErrorCode::not_an_object, "a message must be a JSON object", ""},
      {R"("m1")", ErrorCode::not_an_object, "a message must be a JSON object", ""},
      {R"({"id":"m1","a":1,"a":2})", ErrorCode::bad_field, R"(duplicate key "a")", "m1"},
      {R"({"src_id":"a","id":"m1","src\u005fid":"b"})", ErrorCode::bad_field, R"(duplicate key "src_id")", "m1"},
      {R"({"id":"m1","id":"m2"})", ErrorCode::bad_field, R"(duplicate key "id")", ""},
      {R"({"id":"bad id","a":1,"a":2})", ErrorCode::bad_field, R"(duplicate key "a")", ""},
      {R"({"type":"1","id":"m1"})", ErrorCode::bad_field, R"(field "type" must be an integer)", "m1"},
      {R"({"type":1.5,"id":"m1"})", ErrorCode::bad_field, R"(field "type" must be an integer)", "m1"},
      {R"({"type":1.0})", ErrorCode::bad_field, R"(field "type" must be an integer)", ""},
      {R"({"type":1e3})", ErrorCode::bad_field, R"(field "type" must be an integer)", ""},
      {R"({"type":9223372036854775808})", ErrorCode::bad_field, R"(field "type" must be an integer)", ""},
      {R"({"type":true})", ErrorCode::bad_field, R"(field "type" must be an integer)", ""},
      {R"({"type":null})", ErrorCode::bad_field, R"(field "type" must be an integer)", ""},
      {R"({"id":5})", ErrorCode::bad_field, R"(field "id" must be a string)", ""},
      {R"({"id":null})", ErrorCode::bad_field, R"(field "id" must be a string)", ""},
      {R"({"id":"bad id"})", ErrorCode::bad_id,
       R"(field "id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", ""},
      {R"({"id":""})", ErrorCode::bad_id, R"(field "id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))",
       ""},
      {"{\"id\":\"" + long_id + "\"}", ErrorCode::bad_id,
       R"(field "id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", ""},
      {R"({"dest_id":["n1"],"id":"m1"})", ErrorCode::bad_field, R"(field "dest_id" must be a string)", "m1"},
      {R"({"dest_id":"n 1","id":"m1"})", ErrorCode::bad_id,
       R"(field "dest_id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", "m1"},
      {R"({"id":"m1","dest_client_id":1})", ErrorCode::bad_field, R"(field "dest_client_id" must be a string)",
       "m1"},
      {"{\"id\":\"m1\",\"dest_client_id\":\"\xc3\xa9\"}", ErrorCode::bad_id,
       R"(field "dest_client_id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", "m1"},
      {R"({"id":"m1","dest_session_id":{}})", ErrorCode::bad_field, R"(field "dest_session_id" must be a string)",
       "m1"},
      {R"({"id":"m1","dest_session_id":"s#1"})", ErrorCode::bad_id,
       R"(field "dest_session_id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", "m1"},
      {R"({"id":"m1","src_id":false})", ErrorCode::bad_field, R"(field "src_id" must be a string)", "m1"},
      {R"({"id":"m1","src_id":"a\nb"})", ErrorCode::bad_id,
       R"(field "src_id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", "m1"},
      {R"({"ack":"yes","id":"m1"})", ErrorCode::bad_field, R"(field "ack" must be true or false)", "m1"},
      {R"({"ack":1,"id":"m1"})", ErrorCode::bad_field, R"(field "ack" must be true or false)", "m1"},
      {R"({"ephemeral":null,"id":"m1"})", ErrorCode::bad_field, R"(field "ephemeral" must be true or false)",
       "m1"},
      {R"({"ack":true})", ErrorCode::bad_field, R"(field "ack" requires an "id")", ""},
      {R"({"ack":true,"id":"m1","ephemeral":true})", ErrorCode::bad_field,
       R"(field "ack" cannot be used with "ephemeral")", "m1"},
      // An invalid id is the first failure; ack then has no id either, but one error is enough.
      {R"({"ack":true,"id":"bad id"})", ErrorCode::bad_id,
       R"(field "id" is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-]))", ""},
      // The first failure in text order is reported.
      {R"({"dest_id":1,"type":"x","id":"m9"})", ErrorCode::bad_field, R"(field "dest_id" must be a string)", "m9"},
      {R"({"id":"m\u0031","type":[]})", ErrorCode::bad_field, R"(field "type" must be an integer)", "m1"},
  };
  MessageDecoder decoder;
  for (const ErrorCase& c : cases) {
    Message message;
    DecodeError error{ErrorCode::unavailable, "stale", "stale"};
    EXPECT_FALSE(decoder.decode(c.text, message, error)) << c.text;
    EXPECT_EQ(code_name(error.code), code_name(c.code)) << c.text;
    EXPECT_EQ(error.message, c.message) << c.text;
    EXPECT_EQ(error.id, c.id) << c.text;
  }
}

TEST(Message, AcceptsTheBoundaries) {
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  const std::string max_id(128, 'x');
  const std::string longest = "{\"id\":\"" + max_id + "\"}";  // views point into it: keep it alive
  ASSERT_TRUE(decoder.decode(longest, message, error)) << error.message;
  EXPECT_EQ(message.id, max_id);
  ASSERT_TRUE(decoder.decode(R"({"type":-9223372036854775808})", message, error)) << error.message;
  EXPECT_EQ(message.type, INT64_MIN);
  ASSERT_TRUE(decoder.decode(R"({"type":-0})", message, error)) << error.message;
  EXPECT_EQ(message.type, 0);
  ASSERT_TRUE(decoder.decode(R"({"ack":false,"ephemeral":true})", message, error)) << error.message;
  ASSERT_TRUE(decoder.decode(R"({"ack":true,"id":"m1","ephemeral":false})", message, error)) << error.message;
  EXPECT_TRUE(message.ack);
  ASSERT_TRUE(decoder.decode(R"({"payload":null})", message, error)) << error.message;
  EXPECT_EQ(message.payload, "null");
  ASSERT_TRUE(decoder.decode(R"({"Type":"x","ID":5,"ids":{},"dest":1})", message, error)) << error.message;
  EXPECT_EQ(message.type, 0);  // keys are case-sensitive: these are unknown fields, forwarded
  EXPECT_EQ(message.forwarded.size(), 4u);
}

TEST(Message, NothingLeaksFromOneDecodeToTheNext) {
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_TRUE(decoder.decode(R"({"type":3,"id":"m1","ack":true,"payload":1,"a":2,"dest_id":"n"})", message, error));
  ASSERT_FALSE(decoder.decode(R"({"type":"x"})", message, error));
  EXPECT_EQ(error.id, "");
  ASSERT_TRUE(decoder.decode(R"({"b":1})", message, error));
  EXPECT_EQ(message.type, 0);
  EXPECT_TRUE(message.id.empty());
  EXPECT_TRUE(message.dest_id.empty());
  EXPECT_FALSE(message.ack);
  EXPECT_TRUE(message.payload.empty());
  EXPECT_EQ(forwarded(message), (std::vector<std::string>{R"("b":1)"}));
}

TEST(Message, DecodingAllocatesNothingOnceWarm) {
  const std::string text =
      R"({"type":1,"id":"msg-000123","dest_session_id":"room.42","dest_id":"n\u0032","ack":true,)"
      R"("payload":{"text":"hello there","n":[1,2,3],"ok":true}})";
  const std::string bad = R"({"type":"x","id":"msg-000123"})";
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  ASSERT_TRUE(decoder.decode(text, message, error)) << error.message;
  ASSERT_FALSE(decoder.decode(bad, message, error));
  const long before = allocations.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(decoder.decode(text, message, error));
    ASSERT_FALSE(decoder.decode(bad, message, error));
  }
  EXPECT_EQ(allocations.load() - before, 0);
  EXPECT_EQ(message.dest_id, "");
}

}  // namespace
