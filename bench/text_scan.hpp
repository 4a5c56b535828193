#pragma once
// Finding a few fields in JSON text by search, without parsing it: the
// generator reads its own fields ("k", "t", "src_id", ...) from messages it
// wrote itself, so it stays far cheaper per message than the server.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace allspark::bench {

// The text right after `"key"` and its colon (spaces skipped), or empty when
// the key does not occur. `quoted_key` includes the quotes: "\"k\"".
inline std::string_view after_key(std::string_view text, std::string_view quoted_key) {
  std::size_t at = text.find(quoted_key);
  if (at == std::string_view::npos) return {};
  std::size_t i = at + quoted_key.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  if (i >= text.size() || text[i] != ':') return {};
  ++i;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  return text.substr(i);
}

// A JSON string without escapes at the start of `text` (the generator's own
// ids never need escapes); nullopt otherwise.
inline std::optional<std::string_view> leading_string(std::string_view text) {
  if (text.empty() || text[0] != '"') return std::nullopt;
  std::size_t end = text.find('"', 1);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view value = text.substr(1, end - 1);
  if (value.find('\\') != std::string_view::npos) return std::nullopt;
  return value;
}

// A non-negative decimal integer at the start of `text`.
inline std::optional<std::uint64_t> leading_uint(std::string_view text) {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size() && i < 20 && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i == 0) return std::nullopt;
  return value;
}

inline std::optional<std::string_view> string_field(std::string_view text, std::string_view quoted_key) {
  return leading_string(after_key(text, quoted_key));
}

inline std::optional<std::uint64_t> uint_field(std::string_view text, std::string_view quoted_key) {
  return leading_uint(after_key(text, quoted_key));
}

}  // namespace allspark::bench
