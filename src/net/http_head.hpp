#pragma once
// A strict reader of the two HTTP/1.1 request heads every connect sends (GET
// /v1/preconnect, then the upgrade on GET /v1/connect), so that the listener
// answers them without a Beast parser and coroutine per request (bench/README.md,
// "connect"). It takes only what it is sure of: anything else (another method,
// path or version, a body, a repeated Connection or Upgrade, obs-fold, a byte
// outside the grammar, a head over the limit) is not taken and goes to Beast,
// which answers it as before. Pure: bytes in, a request out, no I/O.
#include <cstddef>
#include <string_view>

#include "net/http_types.hpp"

namespace allspark::net {

enum class HeadStatus : std::uint8_t {
  incomplete,  // no end of head yet, and under the limit: read more
  taken,       // `out` holds the request; `out_size` bytes of `bytes` were its head
  not_taken,   // hand every byte read so far to the general HTTP path
};

struct RequestHead {
  HttpRequest request;
  bool keep_alive = true;  // HTTP/1.1: unless Connection lists "close"
  std::size_t size = 0;    // bytes of the head, its blank line included
};

// Reads the head at the start of `bytes` (RFC 9112 sections 2-5). `limit`:
// the most bytes a head may take. `scanned`: how many of the first bytes an
// earlier call found incomplete (no blank line, no byte out of place); it is
// moved on, so a head that comes a byte at a time is scanned once, not once
// per read. Start it at 0 for each new head.
HeadStatus read_request_head(std::string_view bytes, std::size_t limit, RequestHead& out, std::size_t& scanned);
HeadStatus read_request_head(std::string_view bytes, std::size_t limit, RequestHead& out);

// True when the comma-separated list `value` holds `token` (case-insensitive),
// as in Connection: keep-alive, Upgrade.
bool has_token(std::string_view value, std::string_view token);

}  // namespace allspark::net
