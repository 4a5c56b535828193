// libFuzzer target for the connect path's request-head reader
// (src/net/http_head.hpp).
//
// Input: one byte choosing the limit (64 + 64 * byte), then the bytes read
// from a connection.
//
// Invariants: the same bytes give the same answer twice, and in two reads
// with the scanned offset carried over; a taken head ends
// with its blank line within the limit, is GET of /v1/preconnect or
// /v1/connect, has lower-case token names and values without control bytes,
// no Content-Length or Transfer-Encoding, and reads the same with more bytes
// after it; one byte short of its end it is not taken; incomplete means no
// blank line yet and fewer bytes than the limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "net/http_head.hpp"

namespace {

using allspark::net::HeadStatus;
using allspark::net::read_request_head;
using allspark::net::RequestHead;

bool same(const RequestHead& a, const RequestHead& b) {
  return a.size == b.size && a.keep_alive == b.keep_alive && a.request.path == b.request.path &&
         a.request.query == b.request.query && a.request.headers == b.request.headers &&
         a.request.websocket_upgrade == b.request.websocket_upgrade;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t limit = 64 + 64 * static_cast<std::size_t>(data[0]);
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  RequestHead head;
  const HeadStatus status = read_request_head(bytes, limit, head);
  RequestHead again;
  FUZZ_CHECK(read_request_head(bytes, limit, again) == status);
  // Read in two parts, the scanned offset of the first carried over: the
  // same answer as in one.
  std::size_t scanned = 0;
  RequestHead part;
  if (read_request_head(std::string_view(bytes).substr(0, bytes.size() / 2), limit, part, scanned) ==
      HeadStatus::incomplete) {
    FUZZ_CHECK(scanned <= bytes.size() / 2);
    RequestHead rest;
    FUZZ_CHECK(read_request_head(bytes, limit, rest, scanned) == status);
  }
  if (status == HeadStatus::incomplete) {
    FUZZ_CHECK(bytes.size() < limit && bytes.find("\r\n\r\n") == std::string::npos);
    return 0;
  }
  if (status == HeadStatus::not_taken) return 0;
  FUZZ_CHECK(same(head, again));
  FUZZ_CHECK(head.size >= 4 && head.size <= bytes.size() && head.size <= limit);
  FUZZ_CHECK(std::string_view(bytes).substr(head.size - 4, 4) == "\r\n\r\n");
  FUZZ_CHECK(bytes.find("\r\n\r\n") == head.size - 4);
  FUZZ_CHECK(head.request.method == "GET");
  FUZZ_CHECK(head.request.path == "/v1/preconnect" || head.request.path == "/v1/connect");
  for (const auto& [name, value] : head.request.headers) {
    FUZZ_CHECK(!name.empty() && name != "content-length" && name != "transfer-encoding");
    for (char c : name) FUZZ_CHECK(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z') && c != ':');
    for (char c : value) FUZZ_CHECK((c >= 0x20 && c < 0x7f) || c == '\t');
  }
  RequestHead longer;
  FUZZ_CHECK(read_request_head(bytes + "GET /", limit, longer) == HeadStatus::taken && same(head, longer));
  RequestHead shorter;
  FUZZ_CHECK(read_request_head(std::string_view(bytes).substr(0, head.size - 1), limit, shorter) !=
             HeadStatus::taken);
  return 0;
}
