#include "net/http_head.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>

namespace allspark::net {

namespace {

constexpr std::size_t max_header_fields = 64;

// RFC 9110 section 5.6.2: tchar.
constexpr std::array<bool, 256> token_chars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!token_chars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// Visible ASCII: the request-target and field values (no obs-text here).
bool is_visible(char c) { return c >= 0x21 && c <= 0x7e; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The request line: GET SP origin-form SP HTTP/1.1 (section 3).
bool read_request_line(std::string_view line, HttpRequest& request) {
  constexpr std::string_view method = "GET ";
  constexpr std::string_view version = " HTTP/1.1";
  if (line.size() <= method.size() + version.size() || line.substr(0, method.size()) != method ||
      line.substr(line.size() - version.size()) != version) {
    return false;
  }
  std::string_view target = line.substr(method.size(), line.size() - method.size() - version.size());
  if (target.empty() || target.front() != '/') return false;
  for (char c : target) {
    if (!is_visible(c)) return false;
  }
  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (path != "/v1/preconnect" && path != "/v1/connect") return false;
  request.method = "GET";
  request.path = std::string(path);
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  return true;
}

}  // namespace

bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

HeadStatus read_request_head(std::string_view bytes, std::size_t limit, RequestHead& out) {
  std::size_t scanned = 0;
  return read_request_head(bytes, limit, out, scanned);
}

HeadStatus read_request_head(std::string_view bytes, std::size_t limit, RequestHead& out, std::size_t& scanned) {
  const std::string_view window = bytes.substr(0, limit);
  scanned = std::min(scanned, window.size());
  // The blank line may begin up to 3 bytes before what was scanned.
  const std::size_t from = scanned < 3 ? 0 : scanned - 3;
  const std::size_t end = window.find("\r\n\r\n", from);
  if (end == std::string_view::npos) {
    // A control byte or obs-text already read means this is not for us:
    // say so now rather than wait for the limit (a TLS hello, say).
    for (char c : window.substr(scanned)) {
      if (c == '\n' || c == '\r' || c == '\t' || c == ' ' || is_visible(c)) continue;
      return HeadStatus::not_taken;
    }
    scanned = window.size();
    return bytes.size() >= limit ? HeadStatus::not_taken : HeadStatus::incomplete;
  }
  out = RequestHead{};
  std::string_view head = bytes.substr(0, end + 2);  // every line with its CRLF
  std::size_t line_end = head.find("\r\n");
  if (!read_request_line(head.substr(0, line_end), out.request)) return HeadStatus::not_taken;
  head.remove_prefix(line_end + 2);
  std::optional<std::string_view> connection;
  std::optional<std::string_view> upgrade;
  while (!head.empty()) {
    line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    head.remove_prefix(line_end + 2);
    // name ":" OWS value OWS; no space before the colon, no obs-fold, no
    // bare CR or LF, no obs-text (section 5).
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return HeadStatus::not_taken;
    std::string_view value = line.substr(colon + 1);
    for (char c : value) {
      if (!is_visible(c) && c != ' ' && c != '\t') return HeadStatus::not_taken;
    }
    value = trim(value);
    std::string name(line.substr(0, colon));
    for (char& c : name) c = lower(c);
    // A body, or a field whose repetition Beast and this reader might read
    // differently: the general path decides.
    if (name == "content-length" || name == "transfer-encoding") return HeadStatus::not_taken;
    if (name == "connection" || name == "upgrade") {
      std::optional<std::string_view>& seen = name == "connection" ? connection : upgrade;
      if (seen) return HeadStatus::not_taken;
      seen = value;
    }
    if (out.request.headers.size() == max_header_fields) return HeadStatus::not_taken;
    out.request.headers.emplace_back(std::move(name), std::string(value));
  }
  out.keep_alive = !connection || !has_token(*connection, "close");
  // RFC 6455 section 4.2.1 as Beast's is_upgrade reads it: GET, HTTP/1.1,
  // Connection lists "upgrade", Upgrade lists "websocket".
  out.request.websocket_upgrade = connection && upgrade && has_token(*connection, "upgrade") &&
                                  has_token(*upgrade, "websocket");
  out.size = end + 4;
  return HeadStatus::taken;
}

}  // namespace allspark::net
