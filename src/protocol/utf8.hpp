#pragma once
// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF), fast on ASCII. Used for WebSocket text messages (RFC 6455 8.1)
// and HTTP bodies.
#include <cstdint>
#include <string_view>

namespace allspark::protocol {

bool is_valid_utf8(std::string_view text);

// Validates text that arrives in pieces (the fragments of a WebSocket text
// message, RFC 6455 8.1: fail as soon as the bytes so far cannot start valid
// UTF-8). A sequence may be split across chunks at any byte.
class Utf8Validator {
 public:
  // False once the bytes fed so far (this chunk included) can never be valid
  // UTF-8; it stays false.
  bool feed(std::string_view chunk);
  // True if everything fed is valid and no sequence is left incomplete.
  bool finish() const { return !failed_ && need_ == 0; }

 private:
  // Checks the continuation bytes still expected that `p` holds; advances it.
  bool continue_sequence(const unsigned char*& p, const unsigned char* end);
  bool fail() {
    failed_ = true;
    return false;
  }

  std::uint8_t need_ = 0;    // continuation bytes still expected
  std::uint8_t low_ = 0x80;  // range of the next continuation byte
  std::uint8_t high_ = 0xbf;
  bool failed_ = false;
};

}  // namespace allspark::protocol
