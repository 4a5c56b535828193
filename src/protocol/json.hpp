#pragma once
// A validating JSON scanner (RFC 8259) for one object per message. It checks
// the whole text, lists the top-level members with their raw bytes so values
// can be forwarded byte for byte, and never recurses (deep nesting is bounded
// by max_json_depth, not by the stack). Pure: no I/O, no allocation once its
// scratch buffers have grown.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace allspark::protocol {

inline constexpr std::size_t max_json_depth = 128;

enum class JsonStatus : std::uint8_t {
  ok,
  bad_json,        // not valid JSON (syntax, control character, bad escape, nesting too deep, trailing bytes)
  not_an_object,   // valid JSON whose top level is not an object
  duplicate_key,   // the top-level object names a key twice (compared after unescaping)
};

enum class JsonKind : std::uint8_t { string, number, object, array, true_, false_, null };

// One top-level member of the scanned object.
struct JsonMember {
  std::string_view key;     // the key, unescaped (a view into the text, or into scanner scratch when it had escapes)
  std::string_view member;  // raw bytes from the key's opening quote to the value's last byte: `"key" : value`
  std::string_view value;   // raw bytes of the value alone
  JsonKind kind;
};

class JsonScanner {
 public:
  // Validates all of `text`; on ok, members() lists the top-level members in order
  // (on duplicate_key too, so a caller can still read other fields; empty otherwise).
  // The views stay valid until the next scan() and while `text` lives.
  JsonStatus scan(std::string_view text);
  std::span<const JsonMember> members() const { return members_; }
  // After a failure: a short human explanation, e.g. "unexpected ',' at byte 7".
  const std::string& error() const { return error_; }

 private:
  std::vector<JsonMember> members_;
  std::vector<std::uint8_t> stack_;
  std::vector<std::uint32_t> key_order_;  // member indices sorted by key, to find duplicates among many
  std::string scratch_;
  std::string error_;
};

// Unescapes a raw JSON string value (with its quotes) into `out`; false if it
// is not a valid JSON string. A value without backslashes is returned as a view
// without copying (out untouched).
bool json_string_value(std::string_view raw, std::string& out, std::string_view& result);

// Parses a raw JSON number that is an integer (no fraction or exponent) in the
// int64 range.
std::optional<std::int64_t> json_integer(std::string_view raw);

// Appends `text` as a JSON string literal (with quotes), escaping what RFC 8259
// requires. `text` is valid UTF-8.
void append_json_string(std::string& out, std::string_view text);

}  // namespace allspark::protocol
