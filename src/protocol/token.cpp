#include "protocol/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <system_error>

#include "protocol/ids.hpp"
#include "protocol/json.hpp"

namespace allspark::protocol {

namespace {

using Mac = HmacSha256;

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Maps a byte to its 6-bit value, or 0xff when it is not in the alphabet.
constexpr std::array<std::uint8_t, 256> base64url_values = [] {
  std::array<std::uint8_t, 256> table{};
  table.fill(0xff);
  for (std::size_t i = 0; i < base64url_alphabet.size(); ++i) {
    table[static_cast<unsigned char>(base64url_alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}();

// The one header we write. Any JWT library reading it sees a standard HS256 JWT.
constexpr std::string_view jwt_header = R"({"alg":"HS256","typ":"JWT"})";

// Validation keys are signed with HMAC-SHA256(secret, this label), so a
// validation key never verifies as an auth key and an auth key never verifies
// as a validation key (PROTOCOL.md section 2).
constexpr std::string_view validation_key_label = "allspark validation key v1";

std::string_view as_text(const Mac& mac) {
  return {reinterpret_cast<const char*>(mac.data()), mac.size()};
}

Mac derive_validation_secret(std::string_view secret) {
  Mac derived{};
  if (!HmacKey(secret).sign(validation_key_label, derived)) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return derived;
}

// header.payload.signature with both parts already JSON text.
std::string sign_jwt(std::string_view payload_json, const HmacKey& signing_key) {
  std::string token = base64url_encode(jwt_header);
  token += '.';
  token += base64url_encode(payload_json);
  Mac mac{};
  if (!signing_key.sign(token, mac)) throw std::runtime_error("HMAC-SHA256 failed");
  token += '.';
  token += base64url_encode(as_text(mac));
  return token;
}

// A NumericDate (RFC 7519 section 2) as whole seconds. A fraction is rounded
// up: for an integer `now`, `x <= now` holds exactly when `ceil(x) <= now`,
// so comparisons against whole seconds stay exact.
std::optional<std::int64_t> numeric_date(const JsonMember& member) {
  if (member.kind != JsonKind::number) return std::nullopt;
  if (auto whole = json_integer(member.value)) return whole;
  double value = 0;
  const char* first = member.value.data();
  const char* last = first + member.value.size();
  auto [end, error] = std::from_chars(first, last, value);
  // from_chars reports out-of-range for 1e400; JSON still calls it a number.
  if (end != last) return std::nullopt;
  if (error == std::errc::result_out_of_range) {
    return member.value.front() == '-' ? INT64_MIN : INT64_MAX;
  }
  if (error != std::errc{}) return std::nullopt;
  // 2^63 as a double; anything at or beyond it is clamped.
  constexpr double limit = 9223372036854775808.0;
  if (value >= limit) return INT64_MAX;
  if (value < -limit) return INT64_MIN;
  return static_cast<std::int64_t>(std::ceil(value));
}

const JsonMember* find_member(const JsonScanner& scanner, std::string_view key) {
  for (const JsonMember& member : scanner.members()) {
    if (member.key == key) return &member;
  }
  return nullptr;
}

// Reads a string member into `out`; false when it is not a string.
bool string_member(const JsonMember& member, std::string& out) {
  if (member.kind != JsonKind::string) return false;
  std::string scratch;
  std::string_view value;
  if (!json_string_value(member.value, scratch, value)) return false;
  out.assign(value);
  return true;
}

struct Failure {
  TokenStatus status = TokenStatus::ok;
  std::string message;
};

Failure fail(TokenStatus status, std::string message) { return {status, std::move(message)}; }

// Checks a compact JWS (RFC 7515 section 7.1) signed with HS256 under
// `signing_key` (none: nothing verifies) and leaves its decoded payload in `payload`. The header is
// read first (alg must be HS256), then the signature, and only then the
// payload: no claim is looked at before the signature has matched.
Failure verify_jws(std::string_view token, const HmacKey* signing_key, std::string_view what,
                   std::string& payload) {
  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return fail(TokenStatus::malformed,
                std::string(what) + " is not a JWT (header.payload.signature)");
  }
  const std::string_view header_part = token.substr(0, first_dot);
  const std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_part = token.substr(second_dot + 1);

  const std::optional<std::string> header = base64url_decode(header_part);
  if (!header) return fail(TokenStatus::malformed, std::string(what) + " header is not base64url");
  JsonScanner scanner;
  if (scanner.scan(*header) != JsonStatus::ok) {
    return fail(TokenStatus::malformed, std::string(what) + " header is not a JSON object");
  }
  const JsonMember* alg = find_member(scanner, "alg");
  std::string alg_name;
  if (alg == nullptr || !string_member(*alg, alg_name)) {
    return fail(TokenStatus::bad_algorithm, std::string(what) + " header names no algorithm (alg)");
  }
  if (alg_name != "HS256") {
    return fail(TokenStatus::bad_algorithm,
                std::string(what) + " algorithm must be HS256, not '" + alg_name + "'");
  }
  // RFC 7515 section 4.1.11: extensions listed in "crit" must be understood,
  // and we understand none.
  if (find_member(scanner, "crit") != nullptr) {
    return fail(TokenStatus::malformed,
                std::string(what) + " header lists critical extensions (crit) we do not support");
  }

  const std::optional<std::string> signature = base64url_decode(signature_part);
  if (!signature) {
    return fail(TokenStatus::malformed, std::string(what) + " signature is not base64url");
  }
  Mac expected{};
  const std::string_view signed_text = token.substr(0, second_dot);
  if (signing_key == nullptr || !signing_key->sign(signed_text, expected) ||
      signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return fail(TokenStatus::bad_signature, std::string(what) + " signature does not match");
  }

  std::optional<std::string> decoded = base64url_decode(payload_part);
  if (!decoded)
    return fail(TokenStatus::malformed, std::string(what) + " payload is not base64url");
  payload = std::move(*decoded);
  return {};
}

// The time claims shared by both kinds of key. `require_exp`: a validation
// key without an expiry would be valid forever.
Failure check_time_claims(const JsonScanner& scanner, std::int64_t now, std::string_view what,
                          bool require_exp, std::optional<std::int64_t>& exp_out) {
  std::optional<std::int64_t> nbf;
  if (const JsonMember* member = find_member(scanner, "exp")) {
    exp_out = numeric_date(*member);
    if (!exp_out) return fail(TokenStatus::malformed, std::string(what) + " exp is not a number");
  } else if (require_exp) {
    return fail(TokenStatus::malformed, std::string(what) + " has no exp");
  }
  if (const JsonMember* member = find_member(scanner, "nbf")) {
    nbf = numeric_date(*member);
    if (!nbf) return fail(TokenStatus::malformed, std::string(what) + " nbf is not a number");
  }
  if (exp_out && *exp_out <= now) return fail(TokenStatus::expired, std::string(what) + " expired");
  if (nbf && *nbf > now) {
    return fail(TokenStatus::expired, std::string(what) + " is not valid yet (nbf)");
  }
  return {};
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "node") return Role::node;
  if (name == "app") return Role::app;
  if (name == "server") return Role::server;
  return std::nullopt;
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::node: return "node";
    case Role::app: return "app";
    case Role::server: return "server";
  }
  return "node";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  const auto byte = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += base64url_alphabet[group >> 18 & 63];
    out += base64url_alphabet[group >> 12 & 63];
    out += base64url_alphabet[group >> 6 & 63];
    out += base64url_alphabet[group & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t group = byte(i) << 16;
    out += base64url_alphabet[group >> 18 & 63];
    out += base64url_alphabet[group >> 12 & 63];
  } else if (rest == 2) {
    const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8;
    out += base64url_alphabet[group >> 18 & 63];
    out += base64url_alphabet[group >> 12 & 63];
    out += base64url_alphabet[group >> 6 & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // A lone trailing character carries 6 bits, less than one byte.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    const std::uint8_t value = base64url_values[static_cast<unsigned char>(c)];
    if (value == 0xff) return std::nullopt;  // '=', '+', '/', whitespace, ...
    bits = bits << 6 | value;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>(bits >> bit_count & 0xff);
    }
  }
  // Leftover bits must be zero (RFC 4648 section 3.5): otherwise several texts
  // would decode to the same bytes and a signature would have many spellings.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

TokenKeys::TokenKeys(std::string_view secret)
    : verifies_(!secret.empty()), auth_(secret), validation_(as_text(derive_validation_secret(secret))) {}

TokenResult verify_auth_key(std::string_view key, std::string_view secret, std::int64_t now) {
  return verify_auth_key(key, TokenKeys(secret), now);
}

TokenResult verify_auth_key(std::string_view key, const TokenKeys& keys, std::int64_t now) {
  TokenResult result;
  const auto failed = [&result](Failure failure) {
    result.status = failure.status;
    result.message = std::move(failure.message);
    return result;
  };

  std::string payload;
  if (Failure failure = verify_jws(key, keys.verifies() ? &keys.auth() : nullptr, "auth key", payload);
      failure.status != TokenStatus::ok) {
    return failed(std::move(failure));
  }
  JsonScanner scanner;
  if (scanner.scan(payload) != JsonStatus::ok) {
    return failed(fail(TokenStatus::malformed, "auth key payload is not a JSON object"));
  }

  // Claim types first (malformed), then what makes the key unusable (401:
  // missing sub, expired), and bad_id (400) last, only for a key that is
  // otherwise good, as PROTOCOL.md section 3 orders them.
  AuthClaims claims;
  const JsonMember* client_id = find_member(scanner, "client_id");
  if (client_id != nullptr && !string_member(*client_id, claims.client_id)) {
    return failed(fail(TokenStatus::malformed, "auth key client_id is not a string"));
  }
  if (const JsonMember* role = find_member(scanner, "role")) {
    std::string name;
    std::optional<Role> parsed;
    if (string_member(*role, name)) parsed = parse_role(name);
    if (!parsed) {
      return failed(fail(TokenStatus::malformed, "auth key role must be node, app or server"));
    }
    claims.role = *parsed;
  }
  const JsonMember* sub = find_member(scanner, "sub");
  if (sub == nullptr || !string_member(*sub, claims.node_id)) {
    return failed(fail(TokenStatus::missing_sub, "auth key has no sub (the node id, a string)"));
  }
  if (Failure failure = check_time_claims(scanner, now, "auth key", false, claims.exp);
      failure.status != TokenStatus::ok) {
    return failed(std::move(failure));
  }
  if (!is_valid_id(claims.node_id)) {
    return failed(fail(TokenStatus::bad_id,
                       "auth key sub is not a valid node id (1 to 128 of A-Z a-z 0-9 . _ : @ -)"));
  }
  if (client_id != nullptr && !is_valid_id(claims.client_id)) {
    return failed(fail(TokenStatus::bad_id,
                       "auth key client_id is not a valid id (1 to 128 of A-Z a-z 0-9 . _ : @ -)"));
  }
  result.status = TokenStatus::ok;
  result.claims = std::move(claims);
  return result;
}

std::string mint_auth_key(const AuthClaims& claims, std::string_view secret, std::int64_t now,
                          std::int64_t ttl_seconds) {
  std::string payload = "{\"sub\":";
  append_json_string(payload, claims.node_id);
  if (!claims.client_id.empty()) {
    payload += ",\"client_id\":";
    append_json_string(payload, claims.client_id);
  }
  if (claims.role != Role::node) {
    payload += ",\"role\":";
    append_json_string(payload, role_name(claims.role));
  }
  payload += ",\"iat\":" + std::to_string(now);
  if (ttl_seconds > 0) payload += ",\"exp\":" + std::to_string(now + ttl_seconds);
  payload += '}';
  return sign_jwt(payload, HmacKey(secret));
}

std::string mint_validation_key(std::string_view node_id, std::string_view server_id,
                                std::string_view secret, std::int64_t now) {
  return mint_validation_key(node_id, server_id, TokenKeys(secret), now);
}

std::string mint_validation_key(std::string_view node_id, std::string_view server_id,
                                const TokenKeys& keys, std::int64_t now) {
  std::string payload = "{\"sub\":";
  append_json_string(payload, node_id);
  payload += ",\"srv\":";
  append_json_string(payload, server_id);
  payload += ",\"iat\":" + std::to_string(now);
  payload += ",\"exp\":" + std::to_string(now + validation_key_ttl_seconds);
  payload += '}';
  return sign_jwt(payload, keys.validation());
}

TokenStatus verify_validation_key(std::string_view key, std::string_view node_id,
                                  std::string_view server_id, std::string_view secret,
                                  std::int64_t now) {
  return verify_validation_key(key, node_id, server_id, TokenKeys(secret), now);
}

TokenStatus verify_validation_key(std::string_view key, std::string_view node_id,
                                  std::string_view server_id, const TokenKeys& keys,
                                  std::int64_t now) {
  if (!keys.verifies()) return TokenStatus::bad_signature;  // as for auth keys
  std::string payload;
  if (Failure failure = verify_jws(key, &keys.validation(), "validation key", payload);
      failure.status != TokenStatus::ok) {
    return failure.status;
  }
  JsonScanner scanner;
  if (scanner.scan(payload) != JsonStatus::ok) return TokenStatus::malformed;
  std::string sub;
  std::string srv;
  const JsonMember* sub_member = find_member(scanner, "sub");
  const JsonMember* srv_member = find_member(scanner, "srv");
  if (sub_member == nullptr || srv_member == nullptr || !string_member(*sub_member, sub) ||
      !string_member(*srv_member, srv)) {
    return TokenStatus::malformed;
  }
  std::optional<std::int64_t> exp;
  if (Failure failure = check_time_claims(scanner, now, "validation key", true, exp);
      failure.status != TokenStatus::ok) {
    return failure.status;
  }
  if (sub != node_id || srv != server_id) return TokenStatus::bad_id;
  return TokenStatus::ok;
}

}  // namespace allspark::protocol
