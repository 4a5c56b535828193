#pragma once
// The WebSocket opening handshake's key check and accept value (RFC 6455 4.2).
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.hpp"

namespace allspark::net {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2 item 5.4):
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). Throws
// std::runtime_error only if OpenSSL cannot hash.
std::string websocket_accept(std::string_view sec_websocket_key);

// True if `key` is the base64 of 16 bytes (RFC 6455 4.1): 22 base64
// characters then "==". The unused low bits of the 22nd character are not
// checked: the key is only hashed, never decoded.
bool is_valid_websocket_key(std::string_view key);

// RFC 6455 4.2.1-4.2.2 for an upgrade the api has accepted: the 101 answer,
// or a refusal (426 unless Sec-WebSocket-Version is 13, 400 without a valid
// Sec-WebSocket-Key).
struct UpgradeAnswer {
  std::optional<HttpResponse> refusal;
  std::string switching_protocols;  // the 101's bytes, when not refused
};
UpgradeAnswer answer_upgrade(const HttpRequest& request);

}  // namespace allspark::net
