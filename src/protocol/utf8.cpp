#include "protocol/utf8.hpp"

#include <array>
#include <cstddef>
#include <cstring>

namespace allspark::protocol {

namespace {

// What a byte means as the first of a sequence (RFC 3629 section 4): how many
// continuation bytes follow and the range allowed for the first of them; the
// rest are always 80..BF. `need` 0 for a byte >= 0x80 means it cannot start a
// sequence: a continuation byte, C0/C1 (overlong), F5..FF (above U+10FFFF).
struct Lead {
  std::uint8_t need = 0;
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xbf;
};

constexpr std::array<Lead, 256> leads = [] {
  std::array<Lead, 256> table{};
  for (int c = 0xc2; c <= 0xdf; ++c) table[c] = {1, 0x80, 0xbf};
  table[0xe0] = {2, 0xa0, 0xbf};  // no overlong 3-byte forms
  for (int c = 0xe1; c <= 0xef; ++c) table[c] = {2, 0x80, 0xbf};
  table[0xed] = {2, 0x80, 0x9f};  // no surrogates U+D800..DFFF
  table[0xf0] = {3, 0x90, 0xbf};  // no overlong 4-byte forms
  for (int c = 0xf1; c <= 0xf3; ++c) table[c] = {3, 0x80, 0xbf};
  table[0xf4] = {3, 0x80, 0x8f};  // nothing above U+10FFFF
  return table;
}();

constexpr std::uint64_t high_bits = 0x8080808080808080;

bool is_continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

}  // namespace

bool Utf8Validator::continue_sequence(const unsigned char*& p, const unsigned char* end) {
  for (; need_ != 0 && p != end; ++p) {
    if (*p < low_ || *p > high_) return false;
    --need_;
    low_ = 0x80;
    high_ = 0xbf;
  }
  return true;
}

bool Utf8Validator::feed(std::string_view chunk) {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(chunk.data());
  const auto* const end = p + chunk.size();

  if (!continue_sequence(p, end)) return fail();  // one begun in an earlier chunk

  while (p != end) {
    if (*p < 0x80) {
      // A run of ASCII: 16 bytes at a time while no byte has its high bit
      // set, then byte by byte up to the run's end.
      while (end - p >= 16) {
        std::uint64_t a;
        std::uint64_t b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + 8, 8);
        if (((a | b) & high_bits) != 0) break;
        p += 16;
      }
      while (p != end && *p < 0x80) ++p;
      continue;
    }

    const unsigned char c = *p++;
    const Lead lead = leads[c];
    if (lead.need == 0) return fail();
    if (end - p >= lead.need) {  // the whole sequence is here
      if (p[0] < lead.low || p[0] > lead.high) return fail();
      for (int i = 1; i < lead.need; ++i) {
        if (!is_continuation(p[i])) return fail();
      }
      p += lead.need;
      continue;
    }
    // The sequence goes on in the next chunk: check what is here, keep the rest.
    need_ = lead.need;
    low_ = lead.low;
    high_ = lead.high;
    if (!continue_sequence(p, end)) return fail();
  }
  return true;
}

bool is_valid_utf8(std::string_view text) {
  Utf8Validator validator;
  return validator.feed(text) && validator.finish();
}

}  // namespace allspark::protocol
