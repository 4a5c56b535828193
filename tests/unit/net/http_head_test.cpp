#include "net/http_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using allspark::net::has_token;
using allspark::net::HeadStatus;
using allspark::net::read_request_head;
using allspark::net::RequestHead;

constexpr std::size_t limit = 16 * 1024;

const std::string upgrade_head =
    "GET /v1/connect?auth_key=a.b.c&validation_key=x%2By HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "\r\n";

HeadStatus read(const std::string& bytes, RequestHead& head) { return read_request_head(bytes, limit, head); }

HeadStatus status_of(const std::string& bytes) {
  RequestHead head;
  return read(bytes, head);
}

TEST(HttpHead, TakesAnUpgradeAndKeepsWhatFollowsIt) {
  RequestHead head;
  ASSERT_EQ(read(upgrade_head + "\x81\x85rest", head), HeadStatus::taken);
  EXPECT_EQ(head.size, upgrade_head.size());
  EXPECT_EQ(head.request.method, "GET");
  EXPECT_EQ(head.request.path, "/v1/connect");
  EXPECT_EQ(head.request.query, "auth_key=a.b.c&validation_key=x%2By");
  EXPECT_EQ(head.request.query_param("validation_key"), "x+y");
  EXPECT_TRUE(head.request.websocket_upgrade);
  EXPECT_TRUE(head.keep_alive);
  // Names lower-cased, values trimmed, in order, as the Beast path gives them.
  ASSERT_EQ(head.request.headers.size(), 5u);
  EXPECT_EQ(head.request.headers[0].first, "host");
  EXPECT_EQ(head.request.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(head.request.header("upgrade"), "websocket");
}

TEST(HttpHead, TakesAPreconnectAndReadsKeepAlive) {
  RequestHead head;
  ASSERT_EQ(read("GET /v1/preconnect HTTP/1.1\r\nAuthorization:  Bearer k  \r\nConnection: close\r\n\r\n", head),
            HeadStatus::taken);
  EXPECT_EQ(head.request.path, "/v1/preconnect");
  EXPECT_EQ(head.request.query, "");
  EXPECT_EQ(head.request.header("authorization"), "Bearer k");
  EXPECT_FALSE(head.keep_alive);
  EXPECT_FALSE(head.request.websocket_upgrade);
  ASSERT_EQ(read("GET /v1/preconnect HTTP/1.1\r\nConnection: keep-alive, Foo\r\n\r\n", head), HeadStatus::taken);
  EXPECT_TRUE(head.keep_alive);
  ASSERT_EQ(read("GET /v1/preconnect HTTP/1.1\r\n\r\n", head), HeadStatus::taken);
  EXPECT_TRUE(head.keep_alive);
  EXPECT_TRUE(head.request.headers.empty());
}

TEST(HttpHead, UpgradeNeedsBothTokens) {
  RequestHead head;
  ASSERT_EQ(read("GET /v1/connect HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\n\r\n", head),
            HeadStatus::taken);
  EXPECT_TRUE(head.request.websocket_upgrade);
  ASSERT_EQ(read("GET /v1/connect HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", head), HeadStatus::taken);
  EXPECT_FALSE(head.request.websocket_upgrade);
  ASSERT_EQ(read("GET /v1/connect HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", head), HeadStatus::taken);
  EXPECT_FALSE(head.request.websocket_upgrade);
}

// Every split of the head before its blank line is incomplete, never a
// misread; the whole is taken.
TEST(HttpHead, EveryPrefixIsIncomplete) {
  for (std::size_t cut = 0; cut + 1 < upgrade_head.size(); ++cut) {
    EXPECT_EQ(status_of(upgrade_head.substr(0, cut)), HeadStatus::incomplete) << "cut at " << cut;
  }
  EXPECT_EQ(status_of(upgrade_head), HeadStatus::taken);
}

// Fed a byte at a time with the scanned offset carried over, the reader
// says incomplete until the last byte and then reads what one call reads;
// the offset only moves forward and stays within what was given.
TEST(HttpHead, AHeadFedAByteAtATimeIsScannedOnce) {
  RequestHead whole;
  ASSERT_EQ(read(upgrade_head, whole), HeadStatus::taken);
  std::size_t scanned = 0;
  RequestHead head;
  for (std::size_t size = 1; size < upgrade_head.size(); ++size) {
    const std::size_t before = scanned;
    ASSERT_EQ(read_request_head(std::string_view(upgrade_head).substr(0, size), limit, head, scanned),
              HeadStatus::incomplete)
        << size;
    EXPECT_GE(scanned, before);
    EXPECT_EQ(scanned, size);
  }
  ASSERT_EQ(read_request_head(upgrade_head, limit, head, scanned), HeadStatus::taken);
  EXPECT_EQ(head.size, whole.size);
  EXPECT_EQ(head.request.headers, whole.request.headers);
  // A bad byte in what arrives later is still seen.
  scanned = 0;
  ASSERT_EQ(read_request_head("GET /v1/connect HTTP/1.1\r\nX: a", limit, head, scanned), HeadStatus::incomplete);
  EXPECT_EQ(read_request_head("GET /v1/connect HTTP/1.1\r\nX: a\x01", limit, head, scanned), HeadStatus::not_taken);
}

TEST(HttpHead, LeavesEverythingElseToTheGeneralPath) {
  const std::string ok_tail = " HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string& bytes : std::vector<std::string>{
           "POST /v1/preconnect HTTP/1.1\r\nHost: x\r\n\r\n",        // another method
           "get /v1/preconnect HTTP/1.1\r\nHost: x\r\n\r\n",         // methods are case-sensitive
           "GET /v1/sessions" + ok_tail,                             // another path
           "GET /v1/preconnect/ HTTP/1.1\r\n\r\n",                   // not the same path
           "GET /v1/connectx" + ok_tail,
           "GET http://x/v1/connect" + ok_tail,                      // absolute-form
           "GET /v1/connect HTTP/1.0\r\n\r\n",                       // another version
           "GET  /v1/connect HTTP/1.1\r\n\r\n",                      // two spaces
           "GET /v1/connect?a=\x7f HTTP/1.1\r\n\r\n",               // a control byte in the target
           "GET /v1/connect HTTP/1.1\r\nContent-Length: 0\r\n\r\n",  // a body
           "GET /v1/connect HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
           "GET /v1/connect HTTP/1.1\r\nHost : x\r\n\r\n",           // space before the colon
           "GET /v1/connect HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", // obs-fold
           "GET /v1/connect HTTP/1.1\r\nNo colon\r\n\r\n",
           "GET /v1/connect HTTP/1.1\r\n: empty name\r\n\r\n",
           "GET /v1/connect HTTP/1.1\r\nHost: a\nb\r\n\r\n",          // a bare LF
           "GET /v1/connect HTTP/1.1\r\nHost: a\rb\r\n\r\n",          // a bare CR
           "GET /v1/connect HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n",      // obs-text
           "GET /v1/connect HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",  // repeated
           "GET /v1/connect HTTP/1.1\r\nUpgrade: websocket\r\nupgrade: h2c\r\n\r\n",
       }) {
    EXPECT_EQ(status_of(bytes), HeadStatus::not_taken) << bytes;
  }
}

TEST(HttpHead, GarbageIsNotWaitedFor) {
  EXPECT_EQ(status_of(std::string("\x16\x03\x01\x02\x00", 5)), HeadStatus::not_taken);  // a TLS hello
  EXPECT_EQ(status_of("GET /v1/connect HTTP/1.1\r\nX: \x01"), HeadStatus::not_taken);
}

TEST(HttpHead, LimitsTheHeadAndItsFields) {
  std::string big = "GET /v1/connect HTTP/1.1\r\nX: " + std::string(limit, 'a');
  EXPECT_EQ(status_of(big), HeadStatus::not_taken);
  EXPECT_EQ(status_of(big + "\r\n\r\n"), HeadStatus::not_taken);  // the end lies past the limit
  std::string fields = "GET /v1/connect HTTP/1.1\r\n";
  for (int i = 0; i < 64; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_of(fields + "\r\n"), HeadStatus::taken);
  EXPECT_EQ(status_of(fields + "X-64: v\r\n\r\n"), HeadStatus::not_taken);
}

TEST(HttpHead, TokenLists) {
  EXPECT_TRUE(has_token("Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("keep-alive ,\tUpgrade ", "upgrade"));
  EXPECT_TRUE(has_token(",,close", "close"));
  EXPECT_FALSE(has_token("upgraded", "upgrade"));
  EXPECT_FALSE(has_token("", "upgrade"));
  EXPECT_FALSE(has_token("up grade", "upgrade"));
}

}  // namespace
