// libFuzzer target for the token parser (src/protocol/token.hpp).
//
// Input: one mode character, then the text. By (mode & 3), so '0'..'3':
//   0: the text is an auth key, verified as it is;
//   1: the text is a validation key for node-1 on server-1, verified as it is;
//   2: the text is "<header JSON>\n<claims JSON>" (no newline: the claims
//      under the standard header), signed here with the secret, so that
//      verification gets past the signature to the header and claims;
//   3: the same, signed as a validation key.
// A forged signature is out of a fuzzer's reach: modes 2 and 3 are how it
// explores the claims.
//
// Invariants: an accepted auth key has a valid sub (and client_id), an exp
// in the future if any, mints again into a key with the same claims, and is
// refused under another secret and as a validation key (and the other way
// round); a refusal says why. base64url: decode(encode(x)) == x, and a text
// that decodes encodes back to itself (one spelling per byte string).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/ids.hpp"
#include "protocol/token.hpp"
#include "token_inputs.hpp"

namespace {

using namespace allspark::protocol;
using namespace allspark::fuzz;

void check_auth_key(std::string_view key) {
  const TokenResult result = verify_auth_key(key, secret, now);
  if (result.status != TokenStatus::ok) {
    FUZZ_CHECK(!result.message.empty());
    return;
  }
  const AuthClaims& claims = result.claims;
  FUZZ_CHECK(is_valid_id(claims.node_id));
  FUZZ_CHECK(claims.client_id.empty() || is_valid_id(claims.client_id));
  FUZZ_CHECK(!claims.exp || *claims.exp > now);

  const TokenResult again = verify_auth_key(mint_auth_key(claims, secret, now, claims.exp ? *claims.exp - now : 0),
                                            secret, now);
  FUZZ_CHECK(again.status == TokenStatus::ok);
  FUZZ_CHECK(again.claims.node_id == claims.node_id && again.claims.client_id == claims.client_id &&
             again.claims.role == claims.role && again.claims.exp == claims.exp);

  FUZZ_CHECK(verify_auth_key(key, other_secret, now).status == TokenStatus::bad_signature);
  FUZZ_CHECK(verify_validation_key(key, claims.node_id, server_id, secret, now) != TokenStatus::ok);
}

void check_validation_key(std::string_view key) {
  if (verify_validation_key(key, node_id, server_id, secret, now) != TokenStatus::ok) return;
  FUZZ_CHECK(verify_validation_key(key, node_id, server_id, other_secret, now) == TokenStatus::bad_signature);
  FUZZ_CHECK(verify_validation_key(key, "node-2", server_id, secret, now) == TokenStatus::bad_id);
  FUZZ_CHECK(verify_validation_key(key, node_id, "server-2", secret, now) == TokenStatus::bad_id);
  FUZZ_CHECK(verify_auth_key(key, secret, now).status != TokenStatus::ok);
}

void check_base64url(std::string_view bytes) {
  const std::string encoded = base64url_encode(bytes);
  const std::optional<std::string> decoded = base64url_decode(encoded);
  FUZZ_CHECK(decoded && *decoded == bytes);
  if (const std::optional<std::string> as_text = base64url_decode(bytes)) {
    FUZZ_CHECK(base64url_encode(*as_text) == bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string claims = R"({"sub":"node-1","srv":"server-1","exp":1700000060})";
  FUZZ_CHECK(verify_validation_key(sign(standard_header, claims, validation_signing_key()), node_id, server_id,
                                   secret, now) == TokenStatus::ok);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_base64url(text);

  const std::size_t newline = text.find('\n');
  const std::string_view header = newline == std::string_view::npos ? standard_header : text.substr(0, newline);
  const std::string_view claims = newline == std::string_view::npos ? text : text.substr(newline + 1);
  switch (data[0] & 3) {
    case 0: check_auth_key(text); break;
    case 1: check_validation_key(text); break;
    case 2: check_auth_key(sign(header, claims, secret)); break;
    case 3: check_validation_key(sign(header, claims, validation_signing_key())); break;
  }
  return 0;
}
