#pragma once
// What fuzz_token and the corpus generator must agree on: the secret, the
// clock and the ids the fuzz target verifies against, and how it signs.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/token.hpp"

namespace allspark::fuzz {

inline constexpr std::string_view secret = "fuzz-secret-0123456789";
inline constexpr std::string_view other_secret = "another-secret";
inline constexpr std::string_view node_id = "node-1";
inline constexpr std::string_view server_id = "server-1";
inline constexpr std::int64_t now = 1'700'000'000;
inline constexpr std::string_view standard_header = R"({"alg":"HS256","typ":"JWT"})";

inline std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac.data(), &length);
  FUZZ_CHECK(length == mac.size());
  return {reinterpret_cast<const char*>(mac.data()), mac.size()};
}

// PROTOCOL.md section 2 signs validation keys with a key derived from the
// secret; token.cpp names the label. fuzz_token checks at start-up that the
// two still agree, so that its mode 3 cannot silently stop reaching the claims.
inline std::string validation_signing_key() { return hmac_sha256(secret, "allspark validation key v1"); }

// A compact JWS of any header and claims text, HS256 under `signing_key`.
inline std::string sign(std::string_view header_json, std::string_view claims_json, std::string_view signing_key) {
  std::string token = protocol::base64url_encode(header_json) + '.' + protocol::base64url_encode(claims_json);
  token += '.' + protocol::base64url_encode(hmac_sha256(signing_key, token));
  return token;
}

}  // namespace allspark::fuzz
