#include "handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "text_scan.hpp"

namespace allspark::bench {
namespace {

// Standard base64 with padding (RFC 4648 section 4), as Sec-WebSocket-Key
// and Sec-WebSocket-Accept use it.
std::string base64(const unsigned char* data, std::size_t size) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < size) n |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < size) n |= data[i + 2];
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < size ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < size ? alphabet[n & 63] : '=';
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The value of header `name` in an HTTP head (status line and headers), trimmed.
std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    std::size_t start = line + 2;
    std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view text = head.substr(start, end - start);
    std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && iequals(text.substr(0, colon), name)) {
      std::string_view value = text.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return value;
    }
    line = end;
  }
  return {};
}

int status_code(std::string_view head) {
  // "HTTP/1.1 200 OK"
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return 0;
  int code = 0;
  std::from_chars(head.data() + 9, head.data() + 12, code);
  return code;
}

std::string first_line(std::string_view text) {
  return std::string(text.substr(0, std::min(text.find("\r\n"), std::size_t{200})));
}

}  // namespace

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string preconnect_request(std::string_view host, std::uint16_t port, std::string_view auth_key,
                               bool keep_alive) {
  std::string out = "GET /v1/preconnect HTTP/1.1\r\nHost: ";
  out += host;
  out += ':';
  out += std::to_string(port);
  out += "\r\nAuthorization: Bearer ";
  out += auth_key;
  out += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  return out;
}

ParseResult parse_preconnect_answer(std::string_view data, bool at_eof, PreconnectAnswer& out,
                                    std::string& error) {
  std::size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (!at_eof) return ParseResult::incomplete;
    error = "preconnect: connection closed before the answer's headers";
    return ParseResult::failed;
  }
  std::string_view head = data.substr(0, head_end);
  std::string_view body = data.substr(head_end + 4);
  std::string_view length_text = header_value(head, "Content-Length");
  if (!length_text.empty()) {
    std::size_t length = 0;
    std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (body.size() < length) {
      if (!at_eof) return ParseResult::incomplete;
      error = "preconnect: connection closed inside the body";
      return ParseResult::failed;
    }
    body = body.substr(0, length);
  } else if (!at_eof) {
    return ParseResult::incomplete;  // no length: the body ends when the server closes
  }
  if (status_code(head) != 200) {
    error = "preconnect: " + first_line(head) + " " + std::string(body.substr(0, 200));
    return ParseResult::failed;
  }
  auto key = string_field(body, "\"validation_key\"");
  auto url = string_field(body, "\"url\"");
  if (!key || !url) {
    error = "preconnect: no validation_key or url in " + std::string(body.substr(0, 200));
    return ParseResult::failed;
  }
  out.validation_key = std::string(*key);
  // ws://HOST:PORT/PATH
  std::string_view rest = *url;
  if (rest.substr(0, 5) != "ws://") {
    error = "preconnect: url '" + std::string(*url) + "' is not ws://host:port/path";
    return ParseResult::failed;
  }
  rest.remove_prefix(5);
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.ws_path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::size_t colon = authority.rfind(':');
  out.ws_port = 80;
  if (colon != std::string_view::npos) {
    unsigned port = 0;
    std::from_chars(authority.data() + colon + 1, authority.data() + authority.size(), port);
    out.ws_port = static_cast<std::uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  out.ws_host = std::string(authority);
  return ParseResult::ok;
}

std::string make_ws_key(std::uint64_t random_a, std::uint64_t random_b) {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(random_a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(random_b >> (8 * i));
  }
  return base64(bytes, sizeof bytes);
}

std::string upgrade_request(const PreconnectAnswer& where, std::string_view auth_key,
                            std::string_view ws_key) {
  std::string out = "GET ";
  out += where.ws_path;
  out += where.ws_path.find('?') == std::string::npos ? '?' : '&';
  out += "auth_key=";
  out += url_encode(auth_key);
  out += "&validation_key=";
  out += url_encode(where.validation_key);
  out += " HTTP/1.1\r\nHost: ";
  out += where.ws_host;
  out += ':';
  out += std::to_string(where.ws_port);
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ";
  out += ws_key;
  out += "\r\n\r\n";
  return out;
}

ParseResult parse_upgrade_answer(std::string_view data, std::string_view ws_key,
                                 std::size_t& header_bytes, std::string& error) {
  std::size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return ParseResult::incomplete;
  std::string_view head = data.substr(0, head_end);
  if (status_code(head) != 101) {
    error = "upgrade: " + first_line(head) + " " + std::string(data.substr(head_end + 4, 200));
    return ParseResult::failed;
  }
  // RFC 6455 4.1: the accept value is base64(SHA-1(key + GUID)).
  std::string joined = std::string(ws_key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(joined.data(), joined.size(), digest, &digest_size, EVP_sha1(), nullptr);
  if (header_value(head, "Sec-WebSocket-Accept") != base64(digest, digest_size)) {
    error = "upgrade: wrong Sec-WebSocket-Accept";
    return ParseResult::failed;
  }
  header_bytes = head_end + 4;
  return ParseResult::ok;
}

bool is_welcome(std::string_view text) {
  std::string_view value = after_key(text, "\"type\"");
  return value.substr(0, 3) == "-10" && (value.size() == 3 || !std::isdigit(static_cast<unsigned char>(value[3])));
}

}  // namespace allspark::bench
