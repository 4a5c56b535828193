#include "net/ws_handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace allspark::net {

namespace {
constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 1.3

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}
}  // namespace

std::string websocket_accept(std::string_view sec_websocket_key) {
  std::string input;
  input.reserve(sec_websocket_key.size() + websocket_guid.size());
  input.append(sec_websocket_key).append(websocket_guid);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_len, EVP_sha1(), nullptr) != 1 || digest_len != 20) {
    throw std::runtime_error("SHA-1 failed");
  }
  unsigned char encoded[4 * ((20 + 2) / 3) + 1];  // 28 characters and EVP_EncodeBlock's NUL
  const int encoded_len = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(encoded_len));
}

UpgradeAnswer answer_upgrade(const HttpRequest& request) {
  UpgradeAnswer answer;
  auto key = request.header("sec-websocket-key");
  auto version = request.header("sec-websocket-version");
  if (!version || *version != "13") {
    answer.refusal = json_error(426, "bad_field", "Sec-WebSocket-Version must be 13");
    answer.refusal->headers.emplace_back("Sec-WebSocket-Version", "13");
  } else if (!key || !is_valid_websocket_key(*key)) {
    answer.refusal = json_error(400, "bad_field", "missing or malformed Sec-WebSocket-Key");
  } else {
    answer.switching_protocols =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
        websocket_accept(*key) + "\r\n\r\n";
  }
  return answer;
}

bool is_valid_websocket_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  return std::all_of(key.begin(), key.begin() + 22, is_base64_char);
}

}  // namespace allspark::net
