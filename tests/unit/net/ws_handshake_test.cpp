#include "net/ws_handshake.hpp"

#include <gtest/gtest.h>

#include <string>

using allspark::net::is_valid_websocket_key;
using allspark::net::websocket_accept;

TEST(Handshake, AcceptValueOfTheRfcExample) {
  // RFC 6455 section 1.3 (the RFC's own value; also what `openssl sha1 | base64` gives).
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptValueOfOtherKeys) {
  // Computed independently: printf '%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11' KEY | openssl sha1 -binary | base64
  EXPECT_EQ(websocket_accept("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_EQ(websocket_accept("AQIDBAUGBwgJCgsMDQ4PEA=="), "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
  EXPECT_EQ(websocket_accept(""), "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
}

TEST(Handshake, ValidKeys) {
  EXPECT_TRUE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(is_valid_websocket_key("AQIDBAUGBwgJCgsMDQ4PEA=="));
  EXPECT_TRUE(is_valid_websocket_key("++++//////////////////=="));
}

TEST(Handshake, InvalidKeys) {
  EXPECT_FALSE(is_valid_websocket_key(""));
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));     // 23 characters
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));   // 25
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQAA"));    // no padding: 18 bytes
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZ==="));    // 15 bytes
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZ-=="));    // base64url is not base64
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25j ZQ="));
  EXPECT_FALSE(is_valid_websocket_key(std::string("dGhlIHNhbXBsZSBub25jZ\0==", 24)));
}
