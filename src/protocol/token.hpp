#pragma once
// Auth keys and validation keys: JWT HS256 (RFC 7519, RFC 7515), PROTOCOL.md
// sections 2 and 3. Only HS256 is accepted; `exp` (and `nbf`) are checked
// here, not trusted to a library.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/hmac.hpp"

namespace allspark::protocol {

enum class Role : std::uint8_t { node, app, server };
std::string_view role_name(Role role);

struct AuthClaims {
  std::string node_id;     // `sub`
  std::string client_id;   // empty when the key has none
  Role role = Role::node;
  std::optional<std::int64_t> exp;  // seconds since the epoch
};

enum class TokenStatus : std::uint8_t {
  ok,
  malformed,      // not three base64url parts, header/payload not JSON objects, claims of the wrong type
  bad_algorithm,  // header alg is not "HS256"
  bad_signature,
  expired,        // exp <= now (or nbf > now)
  missing_sub,    // sub absent or not a string
  bad_id,         // sub (or client_id) is a string but not a valid id
};

struct TokenResult {
  TokenStatus status = TokenStatus::malformed;
  AuthClaims claims;
  std::string message;  // for a human, when status != ok
};

// The server's secret made ready to sign and verify with: the HMAC states of
// the auth-key secret and of the validation-key secret derived from it,
// computed once (a connect checks three keys and mints one). Read-only after
// construction, so one instance serves every thread.
class TokenKeys {
 public:
  explicit TokenKeys(std::string_view secret);
  // An empty secret would make every key forgeable: it verifies nothing.
  bool verifies() const { return verifies_; }
  const HmacKey& auth() const { return auth_; }
  const HmacKey& validation() const { return validation_; }

 private:
  bool verifies_;
  HmacKey auth_;
  HmacKey validation_;
};

// Verifies an auth key signed with `secret`. `now` is seconds since the epoch.
TokenResult verify_auth_key(std::string_view key, const TokenKeys& keys, std::int64_t now);
TokenResult verify_auth_key(std::string_view key, std::string_view secret, std::int64_t now);

// Mints an auth key (HS256). ttl_seconds <= 0: no exp claim.
std::string mint_auth_key(const AuthClaims& claims, std::string_view secret, std::int64_t now,
                          std::int64_t ttl_seconds);

// Validation keys (section 3): bound to a node and a server, valid 60 s, signed
// with a key derived from the secret so that one can never pass for an auth key.
inline constexpr std::int64_t validation_key_ttl_seconds = 60;
std::string mint_validation_key(std::string_view node_id, std::string_view server_id,
                                const TokenKeys& keys, std::int64_t now);
std::string mint_validation_key(std::string_view node_id, std::string_view server_id,
                                std::string_view secret, std::int64_t now);
// ok, or: malformed, bad_algorithm, bad_signature, expired, or bad_id when it
// was minted for another node or another server.
TokenStatus verify_validation_key(std::string_view key, std::string_view node_id,
                                  std::string_view server_id, const TokenKeys& keys,
                                  std::int64_t now);
TokenStatus verify_validation_key(std::string_view key, std::string_view node_id,
                                  std::string_view server_id, std::string_view secret,
                                  std::int64_t now);

// base64url without padding (RFC 4648 section 5).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace allspark::protocol
