#include "protocol/json.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace allspark::protocol {

namespace {

// What went wrong, kept apart from the message so the hot loop only records
// a code and a position; the text is built once, on the cold path.
enum class Fault : std::uint8_t { unexpected, end_of_text, control_char, bad_escape, too_deep, trailing };

enum : std::uint8_t { in_object = 0, in_array = 1 };

// Below this many members a pairwise compare beats sorting (and needs no storage).
constexpr std::size_t linear_duplicate_limit = 16;

constexpr bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr std::array<std::int8_t, 256> hex_values = [] {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 10; ++i) table['0' + i] = static_cast<std::int8_t>(i);
  for (int i = 0; i < 6; ++i) {
    table['a' + i] = static_cast<std::int8_t>(10 + i);
    table['A' + i] = static_cast<std::int8_t>(10 + i);
  }
  return table;
}();

// Bytes that end a plain run inside a string: the closing quote, an escape,
// or a control character that RFC 8259 section 7 forbids raw.
constexpr std::array<bool, 256> string_special = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[c] = true;
  table['"'] = true;
  table['\\'] = true;
  return table;
}();

inline const char* skip_whitespace(const char* p, const char* end) {
  while (p != end && is_whitespace(*p)) ++p;
  return p;
}

// Finds the first special byte (see string_special) at or after p, eight
// bytes at a time: most of a message is plain string bytes. Each test below
// flags the lowest matching byte exactly (borrows only spoil higher bytes),
// so the lowest flag of the union is the first special byte.
inline const char* find_string_special(const char* p, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      const std::uint64_t quote = word ^ (ones * '"');
      const std::uint64_t backslash = word ^ (ones * '\\');
      const std::uint64_t hit = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                                ((word - ones * 0x20) & ~word);
      if ((hit & highs) != 0) return p + (std::countr_zero(hit & highs) >> 3);
      p += 8;
    }
  }
  while (p != end && !string_special[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

struct ScanState {
  const char* fault_at = nullptr;
  Fault fault = Fault::unexpected;
};

// `p` is at an opening quote. Returns the byte after the closing quote, or
// nullptr with the fault recorded. Sets `escaped` when the string has a backslash.
[[gnu::always_inline]] inline const char* scan_string(const char* p, const char* end, ScanState& state, bool& escaped) {
  ++p;
  for (;;) {
    p = find_string_special(p, end);
    if (p == end) {
      state = {end, Fault::end_of_text};
      return nullptr;
    }
    const char c = *p;
    if (c == '"') return p + 1;
    if (c != '\\') {
      state = {p, Fault::control_char};
      return nullptr;
    }
    escaped = true;
    if (end - p < 2) {
      state = {end, Fault::end_of_text};
      return nullptr;
    }
    switch (p[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        p += 2;
        break;
      case 'u':
        for (int i = 2; i < 6; ++i) {
          if (p + i == end) {
            state = {end, Fault::end_of_text};
            return nullptr;
          }
          if (hex_values[static_cast<unsigned char>(p[i])] < 0) {
            state = {p, Fault::bad_escape};
            return nullptr;
          }
        }
        p += 6;
        break;
      default:
        state = {p, Fault::bad_escape};
        return nullptr;
    }
  }
}

// RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// What may follow (a delimiter, not a digit after a leading 0) is checked by the caller.
inline const char* scan_number(const char* p, const char* end, ScanState& state) {
  auto need_digit = [&](const char* at) {
    if (at == end) {
      state = {end, Fault::end_of_text};
      return false;
    }
    if (!is_digit(*at)) {
      state = {at, Fault::unexpected};
      return false;
    }
    return true;
  };
  if (*p == '-') ++p;
  if (!need_digit(p)) return nullptr;
  if (*p++ != '0') {
    while (p != end && is_digit(*p)) ++p;
  }
  if (p != end && *p == '.') {
    if (!need_digit(++p)) return nullptr;
    while (p != end && is_digit(*p)) ++p;
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    if (!need_digit(p)) return nullptr;
    while (p != end && is_digit(*p)) ++p;
  }
  return p;
}

inline const char* scan_literal(const char* p, const char* end, std::string_view word, ScanState& state) {
  for (char expected : word) {
    if (p == end) {
      state = {end, Fault::end_of_text};
      return nullptr;
    }
    if (*p != expected) {
      state = {p, Fault::unexpected};
      return nullptr;
    }
    ++p;
  }
  return p;
}

JsonKind kind_of(char first) {
  switch (first) {
    case '"': return JsonKind::string;
    case '{': return JsonKind::object;
    case '[': return JsonKind::array;
    case 't': return JsonKind::true_;
    case 'f': return JsonKind::false_;
    case 'n': return JsonKind::null;
    default: return JsonKind::number;
  }
}

void append_byte_name(std::string& out, char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) {
    out += '\'';
    out += c;
    out += '\'';
  } else {
    constexpr char digits[] = "0123456789abcdef";
    out += "byte 0x";
    out += digits[byte >> 4];
    out += digits[byte & 0xf];
  }
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

std::uint32_t hex4(const char* p) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 4) | static_cast<std::uint32_t>(hex_values[static_cast<unsigned char>(p[i])]);
  return value;
}

// Appends the unescaped form of `inner` (string content between the quotes,
// already validated). The result is never longer than `inner`: every escape
// shrinks or keeps its length, which lets the scanner reserve its scratch once.
// A \u escape of a surrogate that is not part of a pair is written as its
// own 3-byte sequence (WTF-8) rather than rejected: RFC 8259 section 8.2
// lets such a string through the grammar, so unescaping never fails on text
// the scanner accepted, and equal escapes still compare equal as keys.
void unescape_append(std::string& out, std::string_view inner) {
  const char* p = inner.data();
  const char* const end = p + inner.size();
  while (p != end) {
    const auto* backslash = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(end - p)));
    if (backslash == nullptr) {
      out.append(p, end);
      return;
    }
    out.append(p, backslash);
    p = backslash + 1;
    switch (*p++) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = hex4(p);
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          const std::uint32_t low = hex4(p + 2);
          if (low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            p += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default: out += p[-1]; break;  // '"', '\\' or '/': the character itself
    }
  }
}

// Replaces each raw key that has escapes with its decoded form in `scratch`.
// Reserving the worst case first keeps every view into scratch stable.
void unescape_keys(std::vector<JsonMember>& members, std::string& scratch) {
  std::size_t needed = 0;
  for (const JsonMember& member : members) {
    if (member.key.find('\\') != std::string_view::npos) needed += member.key.size();
  }
  scratch.reserve(needed);
  for (JsonMember& member : members) {
    if (member.key.find('\\') == std::string_view::npos) continue;
    const std::size_t start = scratch.size();
    unescape_append(scratch, member.key);
    member.key = std::string_view(scratch).substr(start);
  }
}

// The message goes back to the client inside a text frame, so it must be
// valid UTF-8 and short: a lone surrogate escape (kept as WTF-8 in the key)
// is shown as U+FFFD, and a long key is cut at a character boundary.
void describe_duplicate(std::string& error, std::string_view key) {
  constexpr std::size_t max_shown = 64;
  std::size_t shown = key.size();
  if (shown > max_shown) {
    shown = max_shown;
    while (shown > 0 && (static_cast<unsigned char>(key[shown]) & 0xc0) == 0x80) --shown;
  }
  std::string readable;
  for (std::size_t i = 0; i < shown; ++i) {
    // U+D800..U+DFFF encode as ED A0..BF xx; valid UTF-8 input never holds them.
    if (key[i] == '\xed' && i + 2 < key.size() && (static_cast<unsigned char>(key[i + 1]) & 0xe0) == 0xa0) {
      readable += "\xef\xbf\xbd";
      i += 2;
    } else {
      readable += key[i];
    }
  }
  error = "duplicate key ";
  append_json_string(error, readable);
  if (shown < key.size()) error += "...";
}

// PROTOCOL.md section 4: a top-level key named twice is refused. Reports the
// first member (in text order) whose key repeats an earlier one. Few keys:
// compare pairwise. Many: sort member indices by key, so a hostile message
// with 50,000 keys costs n log n, not n^2, and no hash can be made to collide.
JsonStatus find_duplicate_key(const std::vector<JsonMember>& members, std::vector<std::uint32_t>& order,
                              std::string& error) {
  const std::size_t count = members.size();
  if (count <= linear_duplicate_limit) {
    for (std::size_t i = 1; i < count; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (members[i].key == members[j].key) {
          describe_duplicate(error, members[i].key);
          return JsonStatus::duplicate_key;
        }
      }
    }
    return JsonStatus::ok;
  }
  order.resize(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = static_cast<std::uint32_t>(i);
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    const int by_key = members[a].key.compare(members[b].key);
    return by_key != 0 ? by_key < 0 : a < b;
  });
  // Within a run of equal keys the indices ascend, so each later one repeats
  // the first; the smallest such index is the first repeat in text order.
  std::size_t first_repeat = count;
  for (std::size_t i = 1; i < count; ++i) {
    if (members[order[i]].key == members[order[i - 1]].key) first_repeat = std::min<std::size_t>(first_repeat, order[i]);
  }
  if (first_repeat == count) return JsonStatus::ok;
  describe_duplicate(error, members[first_repeat].key);
  return JsonStatus::duplicate_key;
}

void describe_fault(std::string& error, const ScanState& state, std::size_t offset) {
  switch (state.fault) {
    case Fault::unexpected:
      error = "unexpected ";
      append_byte_name(error, *state.fault_at);
      break;
    case Fault::end_of_text: error = "unexpected end of text"; break;
    case Fault::control_char:
      error = "raw control character ";
      append_byte_name(error, *state.fault_at);
      error += " in a string";
      break;
    case Fault::bad_escape: error = "invalid escape in a string"; break;
    case Fault::too_deep:
      error = "nested deeper than ";
      error += std::to_string(max_json_depth);
      error += " levels";
      break;
    case Fault::trailing:
      error = "unexpected ";
      append_byte_name(error, *state.fault_at);
      error += " after the top-level value";
      break;
  }
  error += " at byte ";
  error += std::to_string(offset);
}

}  // namespace

JsonStatus JsonScanner::scan(std::string_view text) {
  members_.clear();
  scratch_.clear();
  error_.clear();
  // The stack is sized once; a local depth and pointer keep the loop in registers.
  if (stack_.size() < max_json_depth) stack_.resize(max_json_depth);
  std::uint8_t* const stack = stack_.data();
  std::size_t depth = 0;

  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = skip_whitespace(begin, end);
  const bool top_is_object = p != end && *p == '{';
  bool escaped_keys = false;
  ScanState state;

  // The member being read at depth 1 of a top-level object.
  const char* member_start = nullptr;
  const char* value_start = nullptr;
  std::string_view key;

  bool want_key = false;  // else a value
  for (;;) {
    if (want_key) {
      if (p == end) {
        state = {end, Fault::end_of_text};
        goto fail;
      }
      if (*p != '"') {
        state = {p, Fault::unexpected};
        goto fail;
      }
      const char* key_start = p;
      bool escaped = false;
      p = scan_string(p, end, state, escaped);
      if (p == nullptr) goto fail;
      const char* key_end = p;
      p = skip_whitespace(p, end);
      if (p == end || *p != ':') {
        state = {p, p == end ? Fault::end_of_text : Fault::unexpected};
        goto fail;
      }
      p = skip_whitespace(p + 1, end);
      if (depth == 1) {  // only objects take keys, so this is the top-level object
        member_start = key_start;
        value_start = p;
        // Raw for now; keys with escapes are decoded once the text is known valid.
        key = std::string_view(key_start + 1, static_cast<std::size_t>(key_end - key_start - 2));
        escaped_keys |= escaped;
      }
    }

    // One value.
    if (p == end) {
      state = {end, Fault::end_of_text};
      goto fail;
    }
    switch (*p) {
      case '{':
      case '[': {
        if (depth == max_json_depth) {
          state = {p, Fault::too_deep};
          goto fail;
        }
        const bool object = *p == '{';
        stack[depth++] = object ? in_object : in_array;
        p = skip_whitespace(p + 1, end);
        if (p != end && *p == (object ? '}' : ']')) {
          ++p;
          --depth;
          break;  // an empty container is a complete value
        }
        want_key = object;
        continue;
      }
      case '"': {
        bool escaped = false;
        p = scan_string(p, end, state, escaped);
        break;
      }
      case 't': p = scan_literal(p, end, "true", state); break;
      case 'f': p = scan_literal(p, end, "false", state); break;
      case 'n': p = scan_literal(p, end, "null", state); break;
      case '-': case '0': case '1': case '2': case '3': case '4':
      case '5': case '6': case '7': case '8': case '9':
        p = scan_number(p, end, state);
        break;
      default:
        state = {p, Fault::unexpected};
        goto fail;
    }
    if (p == nullptr) goto fail;

    // A value is complete: close every container that ends here, then find
    // where the next value or key starts.
    for (;;) {
      if (depth == 0) goto done;
      if (depth == 1 && top_is_object) {
        // Filled field by field in place: a temporary built on the stack and
        // copied as a whole stalled on store forwarding (measured: a fifth of the scan).
        JsonMember& member = members_.emplace_back();
        member.key = key;
        member.member = std::string_view(member_start, static_cast<std::size_t>(p - member_start));
        member.value = std::string_view(value_start, static_cast<std::size_t>(p - value_start));
        member.kind = kind_of(*value_start);
      }
      p = skip_whitespace(p, end);
      if (p == end) {
        state = {end, Fault::end_of_text};
        goto fail;
      }
      const bool object = stack[depth - 1] == in_object;
      if (*p == ',') {
        p = skip_whitespace(p + 1, end);
        want_key = object;
        break;
      }
      if (*p != (object ? '}' : ']')) {
        state = {p, Fault::unexpected};
        goto fail;
      }
      ++p;
      --depth;
    }
  }

done:
  p = skip_whitespace(p, end);
  if (p != end) {
    state = {p, Fault::trailing};
    goto fail;
  }
  if (!top_is_object) {
    members_.clear();
    error_ = "the top level is not an object";
    return JsonStatus::not_an_object;
  }
  if (escaped_keys) unescape_keys(members_, scratch_);
  return find_duplicate_key(members_, key_order_, error_);

fail:
  members_.clear();
  describe_fault(error_, state, static_cast<std::size_t>(state.fault_at - begin));
  return JsonStatus::bad_json;
}

bool json_string_value(std::string_view raw, std::string& out, std::string_view& result) {
  if (raw.size() < 2 || raw.front() != '"') return false;
  ScanState state;
  bool escaped = false;
  const char* const end = raw.data() + raw.size();
  if (scan_string(raw.data(), end, state, escaped) != end) return false;
  const std::string_view inner = raw.substr(1, raw.size() - 2);
  if (!escaped) {
    result = inner;
    return true;
  }
  out.clear();
  unescape_append(out, inner);
  result = out;
  return true;
}

std::optional<std::int64_t> json_integer(std::string_view raw) {
  // The JSON grammar, not from_chars' looser one: no '+', no leading zeros.
  const bool negative = !raw.empty() && raw.front() == '-';
  const std::string_view digits = raw.substr(negative ? 1 : 0);
  // 19 digits always fit in a uint64, and any int64 has at most 19.
  if (digits.empty() || digits.size() > 19 || (digits[0] == '0' && digits.size() > 1)) return std::nullopt;
  std::uint64_t magnitude = 0;
  for (char c : digits) {
    if (!is_digit(c)) return std::nullopt;
    magnitude = magnitude * 10 + static_cast<std::uint64_t>(c - '0');
  }
  constexpr std::uint64_t max = static_cast<std::uint64_t>(INT64_MAX);
  if (magnitude > max + (negative ? 1 : 0)) return std::nullopt;
  // Negating in unsigned arithmetic reaches INT64_MIN without overflow.
  return static_cast<std::int64_t>(negative ? 0 - magnitude : magnitude);
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char short_escapes[0x20] = {
      0, 0, 0, 0, 0, 0, 0, 0, 'b', 't', 'n', 0, 'f', 'r', 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0,   0,   0,   0, 0,   0,   0, 0,
  };
  constexpr char digits[] = "0123456789abcdef";
  out += '"';
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p != end) {
    const char* run_end = find_string_special(p, end);
    out.append(p, run_end);
    if (run_end == end) break;
    const auto c = static_cast<unsigned char>(*run_end);
    out += '\\';
    if (c == '"' || c == '\\') {
      out += static_cast<char>(c);
    } else if (short_escapes[c] != 0) {
      out += short_escapes[c];
    } else {
      out += "u00";
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
    p = run_end + 1;
  }
  out += '"';
}

}  // namespace allspark::protocol
