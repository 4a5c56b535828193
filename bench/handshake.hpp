#pragma once
// The text of the connect flow (PROTOCOL.md section 3): the preconnect
// request and its answer, the WebSocket upgrade (RFC 6455 4.1) and the
// welcome frame. Pure: bytes in, results out; ClientPool does the I/O.
#include <cstdint>
#include <string>
#include <string_view>

namespace allspark::bench {

enum class ParseResult : std::uint8_t { incomplete, ok, failed };

// `keep_alive`: the same connection then carries the upgrade.
std::string preconnect_request(std::string_view host, std::uint16_t port, std::string_view auth_key,
                               bool keep_alive = false);

struct PreconnectAnswer {
  std::string validation_key;
  std::string ws_host;       // from "url": ws://HOST:PORT/PATH
  std::uint16_t ws_port = 0;
  std::string ws_path;
};

// `data` is everything read so far; `at_eof` when the server closed.
ParseResult parse_preconnect_answer(std::string_view data, bool at_eof, PreconnectAnswer& out,
                                    std::string& error);

// `ws_key` is the Sec-WebSocket-Key (base64 of 16 random bytes).
std::string upgrade_request(const PreconnectAnswer& where, std::string_view auth_key,
                            std::string_view ws_key);
std::string make_ws_key(std::uint64_t random_a, std::uint64_t random_b);

// On ok, `header_bytes` is the length of the 101 answer; what follows it is
// already WebSocket frames.
ParseResult parse_upgrade_answer(std::string_view data, std::string_view ws_key,
                                 std::size_t& header_bytes, std::string& error);

// True for the welcome frame's text: {"type": -10, ...}.
bool is_welcome(std::string_view text);

// Percent-encodes a query parameter value (JWTs are base64url and dots, so
// this is a copy in practice).
std::string url_encode(std::string_view text);

}  // namespace allspark::bench
