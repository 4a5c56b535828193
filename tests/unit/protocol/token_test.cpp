#include "protocol/token.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using allspark::protocol::AuthClaims;
using allspark::protocol::base64url_decode;
using allspark::protocol::base64url_encode;
using allspark::protocol::mint_auth_key;
using allspark::protocol::mint_validation_key;
using allspark::protocol::Role;
using allspark::protocol::TokenStatus;
using allspark::protocol::verify_auth_key;
using allspark::protocol::verify_validation_key;

constexpr std::string_view secret = "allspark-test-secret";
constexpr std::int64_t now = 1700000000;

// base64url without padding, done with OpenSSL's standard base64 so that the
// tokens below are made without the code under test.
std::string openssl_base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(length));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::string openssl_hmac(const EVP_MD* digest, std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  static const unsigned char no_key = 0;
  const void* key_bytes = key.empty() ? static_cast<const void*>(&no_key) : key.data();
  HMAC(digest, key_bytes, static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  return {reinterpret_cast<const char*>(mac), length};
}

// A JWT from header and payload JSON texts, signed with HMAC over `digest`.
std::string hand_made(std::string_view header, std::string_view payload,
                      std::string_view key = secret, const EVP_MD* digest = EVP_sha256()) {
  const std::string signed_text = openssl_base64url(header) + "." + openssl_base64url(payload);
  return signed_text + "." + openssl_base64url(openssl_hmac(digest, key, signed_text));
}

constexpr std::string_view hs256 = R"({"alg":"HS256","typ":"JWT"})";

TokenStatus status_of(std::string_view payload, std::int64_t at = now) {
  return verify_auth_key(hand_made(hs256, payload), secret, at).status;
}

// --- base64url (RFC 4648 section 5, section 10 test vectors) ---

TEST(TokenBase64url, EncodesTheRfcVectorsWithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");  // the two url-safe characters
}

TEST(TokenBase64url, RoundTripsEveryByteAndLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t length = 0; length <= bytes.size(); ++length) {
    const std::string_view part(bytes.data(), length);
    const std::string encoded = base64url_encode(part);
    EXPECT_EQ(encoded, openssl_base64url(part));
    EXPECT_EQ(base64url_decode(encoded), std::string(part)) << length;
  }
}

TEST(TokenBase64url, RejectsPaddingAndForeignCharacters) {
  for (std::string_view bad : std::vector<std::string_view>{
           "Zg==", "Zg=", "Zm8=", "Zm9v+A", "Zm9v/A", "Zm 9v", "Zm9v\n", "Zm9v\xc3\xa9", "Z",
           "Zm9vY", "Zg.", std::string_view("Zm\0v", 4)}) {
    EXPECT_EQ(base64url_decode(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(base64url_decode(""), "");
}

TEST(TokenBase64url, RejectsNonZeroTrailingBits) {
  // "Zg" is the only spelling of "f": "Zh" would decode to it too, letting a
  // signature have several spellings.
  EXPECT_EQ(base64url_decode("Zg"), "f");
  EXPECT_EQ(base64url_decode("Zh"), std::nullopt);
  EXPECT_EQ(base64url_decode("Zm8"), "fo");
  EXPECT_EQ(base64url_decode("Zm9"), std::nullopt);
}

// --- auth keys ---

TEST(TokenAuthKey, MintedKeyVerifies) {
  AuthClaims claims;
  claims.node_id = "phone1";
  claims.client_id = "alice";
  claims.role = Role::app;
  const auto result = verify_auth_key(mint_auth_key(claims, secret, now, 3600), secret, now);
  ASSERT_EQ(result.status, TokenStatus::ok) << result.message;
  EXPECT_EQ(result.claims.node_id, "phone1");
  EXPECT_EQ(result.claims.client_id, "alice");
  EXPECT_EQ(result.claims.role, Role::app);
  EXPECT_EQ(result.claims.exp, now + 3600);
  EXPECT_TRUE(result.message.empty());
}

TEST(TokenAuthKey, MintWritesOnlyWhatIsNeeded) {
  AuthClaims claims;
  claims.node_id = "n1";
  const std::string key = mint_auth_key(claims, secret, now, 0);
  const std::string payload =
      *base64url_decode(key.substr(key.find('.') + 1, key.rfind('.') - key.find('.') - 1));
  EXPECT_EQ(payload, R"({"sub":"n1","iat":1700000000})");
  EXPECT_EQ(key.substr(0, key.find('.')), openssl_base64url(hs256));
  const auto result = verify_auth_key(key, secret, now + 100 * 365 * 86400LL);
  ASSERT_EQ(result.status, TokenStatus::ok);
  EXPECT_EQ(result.claims.role, Role::node);
  EXPECT_EQ(result.claims.client_id, "");
  EXPECT_EQ(result.claims.exp, std::nullopt);
}

// Made once with Node's crypto module, independently of this code:
//   node -e 'const c=require("crypto"),s="allspark-test-secret";
//     const h=Buffer.from(JSON.stringify({alg:"HS256",typ:"JWT"})).toString("base64url");
//     const p=Buffer.from(JSON.stringify({sub:"phone1",client_id:"alice",role:"app",
//       iat:1700000000,exp:1700003600})).toString("base64url");
//     console.log(h+"."+p+"."+c.createHmac("sha256",s).update(h+"."+p).digest("base64url"))'
constexpr std::string_view node_minted =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJwaG9uZTEiLCJjbGllbnRfaWQiOiJhbGljZSIsInJvbGUiOiJhcHAiLCJpYXQiOjE3MDAwMDAwMDAsImV4"
    "cCI6MTcwMDAwMzYwMH0.l2PKYIfrMhwKso88LNmqIAgIRZWZTa_EpnC-q_KhrAM";

TEST(TokenAuthKey, KeyMintedByNodeCryptoVerifies) {
  const auto result = verify_auth_key(node_minted, secret, now);
  ASSERT_EQ(result.status, TokenStatus::ok) << result.message;
  EXPECT_EQ(result.claims.node_id, "phone1");
  EXPECT_EQ(result.claims.client_id, "alice");
  EXPECT_EQ(result.claims.role, Role::app);
  EXPECT_EQ(result.claims.exp, 1700003600);
}

TEST(TokenAuthKey, MintIsByteForByteWhatNodeCryptoMakes) {
  AuthClaims claims;
  claims.node_id = "phone1";
  claims.client_id = "alice";
  claims.role = Role::app;
  EXPECT_EQ(mint_auth_key(claims, secret, now, 3600), node_minted);
}

TEST(TokenAuthKey, HandMadeKeyVerifies) {
  const std::string key =
      hand_made(R"({"typ":"JWT", "alg":"HS256"})",
                R"({ "sub" : "tab-7", "client_id":"bob", "role":"server", "exp": 1700000001,
                     "iat": 1699999999, "extra": {"nested": [1, 2, null]} })");
  const auto result = verify_auth_key(key, secret, now);
  ASSERT_EQ(result.status, TokenStatus::ok) << result.message;
  EXPECT_EQ(result.claims.node_id, "tab-7");
  EXPECT_EQ(result.claims.client_id, "bob");
  EXPECT_EQ(result.claims.role, Role::server);
}

// RFC 7515 appendix A.1: the example HS256 JWS, its JWK key "k" decoded. Its
// payload has no `sub`, so the best it can do is pass the signature check and
// be refused as missing_sub; with any other key it is bad_signature.
TEST(TokenAuthKey, Rfc7515AppendixA1SignatureVerifies) {
  constexpr std::string_view rfc_token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
      "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const auto key = base64url_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  ASSERT_TRUE(key);
  EXPECT_EQ(verify_auth_key(rfc_token, *key, 1300819379).status, TokenStatus::missing_sub);
  EXPECT_EQ(verify_auth_key(rfc_token, secret, 1300819379).status, TokenStatus::bad_signature);
  // Its exp (1300819380) is checked too, once sub is there: shown with our own key.
  EXPECT_EQ(status_of(R"({"sub":"joe","exp":1300819380})", 1300819380), TokenStatus::expired);
}

TEST(TokenAuthKey, OnlyHs256IsAccepted) {
  const std::string payload = R"({"sub":"n1"})";
  const auto status = [&](std::string_view header, const EVP_MD* digest = EVP_sha256()) {
    return verify_auth_key(hand_made(header, payload, secret, digest), secret, now).status;
  };
  EXPECT_EQ(status(R"({"alg":"none","typ":"JWT"})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":"HS512","typ":"JWT"})", EVP_sha512()), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":"HS384"})", EVP_sha384()), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":"RS256"})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":"hs256"})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":"HS256 "})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"typ":"JWT"})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":null})"), TokenStatus::bad_algorithm);
  EXPECT_EQ(status(R"({"alg":["HS256"]})"), TokenStatus::bad_algorithm);
  // An unsigned token ("alg":"none", empty signature), the classic JWT attack.
  const std::string unsigned_key =
      openssl_base64url(R"({"alg":"none"})") + "." + openssl_base64url(payload) + ".";
  const auto result = verify_auth_key(unsigned_key, secret, now);
  EXPECT_EQ(result.status, TokenStatus::bad_algorithm);
  EXPECT_NE(result.message.find("HS256"), std::string::npos) << result.message;
  // An escaped spelling of HS256 is still HS256 (JSON equality).
  EXPECT_EQ(status(R"({"alg":"HS25\u0036"})"), TokenStatus::ok);
}

TEST(TokenAuthKey, HeaderMustBeAJsonObjectWithoutCriticalExtensions) {
  const std::string payload = R"({"sub":"n1"})";
  EXPECT_EQ(verify_auth_key(hand_made("[\"HS256\"]", payload), secret, now).status,
            TokenStatus::malformed);
  EXPECT_EQ(verify_auth_key(hand_made("not json", payload), secret, now).status,
            TokenStatus::malformed);
  EXPECT_EQ(
      verify_auth_key(hand_made(R"({"alg":"HS256","alg":"none"})", payload), secret, now).status,
      TokenStatus::malformed);
  EXPECT_EQ(
      verify_auth_key(hand_made(R"({"alg":"HS256","crit":["exp"]})", payload), secret, now).status,
      TokenStatus::malformed);
}

TEST(TokenAuthKey, TamperingIsCaught) {
  const std::string key = hand_made(hs256, R"({"sub":"n1","role":"node"})");
  const std::string other = hand_made(hs256, R"({"sub":"n1","role":"app"})", "another secret");
  const std::size_t first_dot = key.find('.');
  const std::size_t second_dot = key.rfind('.');
  // The payload of a key signed with another secret, under this key's signature.
  const std::string swapped = key.substr(0, first_dot) +
                              other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                              key.substr(second_dot);
  EXPECT_EQ(verify_auth_key(swapped, secret, now).status, TokenStatus::bad_signature);
  EXPECT_EQ(verify_auth_key(other, secret, now).status, TokenStatus::bad_signature);

  std::string flipped = key;
  flipped[second_dot + 5] = flipped[second_dot + 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_auth_key(flipped, secret, now).status, TokenStatus::bad_signature);
  std::string payload_flipped = key;
  payload_flipped[first_dot + 3] = payload_flipped[first_dot + 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_auth_key(payload_flipped, secret, now).status, TokenStatus::bad_signature);
  // A signature cut short, or empty.
  EXPECT_EQ(verify_auth_key(key.substr(0, key.size() - 3), secret, now).status,
            TokenStatus::bad_signature);
  EXPECT_EQ(verify_auth_key(key.substr(0, second_dot + 1), secret, now).status,
            TokenStatus::bad_signature);
  const auto result = verify_auth_key(key, "wrong secret", now);
  EXPECT_EQ(result.status, TokenStatus::bad_signature);
  EXPECT_EQ(result.message, "auth key signature does not match");
  EXPECT_EQ(verify_auth_key(key, secret, now).status, TokenStatus::ok);
}

TEST(TokenAuthKey, AnEmptySecretVerifiesNothing) {
  const std::string key = hand_made(hs256, R"({"sub":"n1"})", "");
  EXPECT_EQ(verify_auth_key(key, "", now).status, TokenStatus::bad_signature);
}

// The server builds its TokenKeys once and checks every key with them: they
// agree with the secret's own checks, keys minted either way verify either
// way, and keys built from an empty secret verify nothing either.
TEST(TokenKeys, PreparedKeysAgreeWithTheSecret) {
  const allspark::protocol::TokenKeys keys(secret);
  const std::string auth = mint_auth_key({"n1", "c1", Role::node, {}}, secret, now, 60);
  EXPECT_EQ(verify_auth_key(auth, keys, now).status, TokenStatus::ok);
  EXPECT_EQ(verify_auth_key(auth, keys, now).claims.client_id, "c1");
  EXPECT_EQ(verify_auth_key(auth, keys, now + 60).status, TokenStatus::expired);
  EXPECT_EQ(verify_auth_key(auth, allspark::protocol::TokenKeys("other"), now).status, TokenStatus::bad_signature);
  const std::string minted = mint_validation_key("n1", "srv-a", keys, now);
  EXPECT_EQ(minted, mint_validation_key("n1", "srv-a", secret, now));
  EXPECT_EQ(verify_validation_key(minted, "n1", "srv-a", secret, now), TokenStatus::ok);
  EXPECT_EQ(verify_validation_key(minted, "n1", "srv-a", keys, now), TokenStatus::ok);
  EXPECT_EQ(verify_validation_key(minted, "n2", "srv-a", keys, now), TokenStatus::bad_id);
  // A validation key is no auth key under the same prepared keys, nor the reverse.
  EXPECT_EQ(verify_auth_key(minted, keys, now).status, TokenStatus::bad_signature);
  EXPECT_EQ(verify_validation_key(auth, "n1", "srv-a", keys, now), TokenStatus::bad_signature);
  const allspark::protocol::TokenKeys empty("");
  EXPECT_FALSE(empty.verifies());
  EXPECT_EQ(verify_auth_key(hand_made(hs256, R"({"sub":"n1"})", ""), empty, now).status, TokenStatus::bad_signature);
  EXPECT_EQ(verify_validation_key(mint_validation_key("n1", "srv-a", empty, now), "n1", "srv-a", empty, now),
            TokenStatus::bad_signature);
}

TEST(TokenAuthKey, NotThreeBase64urlParts) {
  const std::string key = hand_made(hs256, R"({"sub":"n1"})");
  const std::size_t first_dot = key.find('.');
  for (const std::string& bad :
       {std::string(), std::string("."), std::string(".."), std::string("a.b"), key + ".x",
        key.substr(0, first_dot), key + "=", key.substr(0, first_dot) + "=" + key.substr(first_dot),
        "!" + key, key + " "}) {
    const auto result = verify_auth_key(bad, secret, now);
    EXPECT_NE(result.status, TokenStatus::ok) << bad;
    EXPECT_TRUE(result.status == TokenStatus::malformed ||
                result.status == TokenStatus::bad_signature)
        << bad;
  }
  EXPECT_EQ(verify_auth_key("a.b", secret, now).status, TokenStatus::malformed);
  EXPECT_EQ(verify_auth_key(key + ".x", secret, now).status, TokenStatus::malformed);
  EXPECT_EQ(verify_auth_key(key + "=", secret, now).status, TokenStatus::malformed);
}

TEST(TokenAuthKey, PayloadMustBeAJsonObject) {
  EXPECT_EQ(status_of(R"(["n1"])"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"("n1")"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1",})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1"} x)"), TokenStatus::malformed);
  // A duplicate claim would be read differently by different parsers.
  EXPECT_EQ(status_of(R"({"sub":"n1","sub":"admin"})"), TokenStatus::malformed);
}

TEST(TokenAuthKey, Expiry) {
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1700000001})"), TokenStatus::ok);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1700000000})"), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1699999999})"), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":-5})"), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":0})"), TokenStatus::expired);
  const auto result = verify_auth_key(hand_made(hs256, R"({"sub":"n1","exp":1})"), secret, now);
  EXPECT_EQ(result.message, "auth key expired");
}

TEST(TokenAuthKey, ExpiryMayBeANumberThatIsNotAnInteger) {
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1.7e9})", 1699999999), TokenStatus::ok);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1.7e9})", 1700000000), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1700000000.0})", 1700000000), TokenStatus::expired);
  const auto half =
      verify_auth_key(hand_made(hs256, R"({"sub":"n1","exp":1700000000.5})"), secret, 1700000000);
  ASSERT_EQ(half.status, TokenStatus::ok);
  EXPECT_EQ(half.claims.exp, 1700000001);  // rounded up: expired from 1700000001 on
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1700000000.5})", 1700000001), TokenStatus::expired);
  // Beyond int64 and beyond double: far future, far past.
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":99999999999999999999999})"), TokenStatus::ok);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1e400})"), TokenStatus::ok);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":-1e400})"), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":1E10})"), TokenStatus::ok);
}

TEST(TokenAuthKey, ExpiryOfTheWrongTypeIsMalformed) {
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":"1800000000"})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":null})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1","exp":true})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1","nbf":"0"})"), TokenStatus::malformed);
}

TEST(TokenAuthKey, NotBefore) {
  EXPECT_EQ(status_of(R"({"sub":"n1","nbf":1700000000})"), TokenStatus::ok);
  EXPECT_EQ(status_of(R"({"sub":"n1","nbf":1699999000})"), TokenStatus::ok);
  const auto result =
      verify_auth_key(hand_made(hs256, R"({"sub":"n1","nbf":1700000001})"), secret, now);
  EXPECT_EQ(result.status, TokenStatus::expired);
  EXPECT_NE(result.message.find("not valid yet"), std::string::npos) << result.message;
  EXPECT_EQ(status_of(R"({"sub":"n1","nbf":1700000000.5})"), TokenStatus::expired);
}

TEST(TokenAuthKey, SubMustBeAString) {
  EXPECT_EQ(status_of(R"({})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"client_id":"alice"})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"sub":42})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"sub":null})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"sub":["n1"]})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"sub":{"id":"n1"}})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"Sub":"n1"})"), TokenStatus::missing_sub);
}

TEST(TokenAuthKey, SubMustBeAValidId) {
  EXPECT_EQ(status_of(R"({"sub":""})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"a b"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":" n1"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"a/b"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"\u00e9"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"a\u0000b"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of("{\"sub\":\"" + std::string(129, 'x') + "\"}"), TokenStatus::bad_id);
  EXPECT_EQ(status_of("{\"sub\":\"" + std::string(128, 'x') + "\"}"), TokenStatus::ok);
  // The id is compared after JSON unescaping.
  const auto escaped =
      verify_auth_key(hand_made(hs256, R"({"sub":"\u0070hone:1@a.b_c-d"})"), secret, now);
  ASSERT_EQ(escaped.status, TokenStatus::ok);
  EXPECT_EQ(escaped.claims.node_id, "phone:1@a.b_c-d");
}

TEST(TokenAuthKey, ClientId) {
  EXPECT_EQ(status_of(R"({"sub":"n1","client_id":5})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1","client_id":null})"), TokenStatus::malformed);
  EXPECT_EQ(status_of(R"({"sub":"n1","client_id":""})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"n1","client_id":"a/b"})"), TokenStatus::bad_id);
  EXPECT_EQ(status_of(R"({"sub":"n1","client_id":"alice"})"), TokenStatus::ok);
}

TEST(TokenAuthKey, Roles) {
  const auto role_of = [](std::string_view payload) {
    return verify_auth_key(hand_made(hs256, payload), secret, now).claims.role;
  };
  EXPECT_EQ(role_of(R"({"sub":"n1"})"), Role::node);
  EXPECT_EQ(role_of(R"({"sub":"n1","role":"node"})"), Role::node);
  EXPECT_EQ(role_of(R"({"sub":"n1","role":"app"})"), Role::app);
  EXPECT_EQ(role_of(R"({"sub":"n1","role":"server"})"), Role::server);
  for (std::string_view bad : {R"({"sub":"n1","role":"admin"})", R"({"sub":"n1","role":"App"})",
                               R"({"sub":"n1","role":""})", R"({"sub":"n1","role":1})",
                               R"({"sub":"n1","role":null})", R"({"sub":"n1","role":["app"]})"}) {
    EXPECT_EQ(status_of(bad), TokenStatus::malformed) << bad;
  }
  EXPECT_EQ(allspark::protocol::role_name(Role::node), "node");
  EXPECT_EQ(allspark::protocol::role_name(Role::app), "app");
  EXPECT_EQ(allspark::protocol::role_name(Role::server), "server");
}

TEST(TokenAuthKey, MintedRolesRoundTrip) {
  for (Role role : {Role::node, Role::app, Role::server}) {
    AuthClaims claims;
    claims.node_id = "n1";
    claims.role = role;
    const auto result = verify_auth_key(mint_auth_key(claims, secret, now, 60), secret, now);
    ASSERT_EQ(result.status, TokenStatus::ok);
    EXPECT_EQ(result.claims.role, role);
  }
}

TEST(TokenAuthKey, WhatIsRefusedFirst) {
  // Wrong claim types first, then the 401 cases (no sub, expired), and bad_id
  // (400) only for a key that would otherwise be accepted.
  EXPECT_EQ(status_of(R"({"sub":"","exp":1})"), TokenStatus::expired);
  EXPECT_EQ(status_of(R"({"exp":1})"), TokenStatus::missing_sub);
  EXPECT_EQ(status_of(R"({"sub":"","role":"root"})"), TokenStatus::malformed);
  // The signature before any claim: a forged expired key is a bad signature.
  EXPECT_EQ(
      verify_auth_key(hand_made(hs256, R"({"sub":"n1","exp":1})", "forger"), secret, now).status,
      TokenStatus::bad_signature);
}

// --- validation keys ---

TEST(TokenValidationKey, BoundToNodeServerAndSixtySeconds) {
  const std::string key = mint_validation_key("phone1", "srv-a", secret, now);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-a", secret, now), TokenStatus::ok);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-a", secret, now + 59), TokenStatus::ok);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-a", secret, now + 60), TokenStatus::expired);
  EXPECT_EQ(verify_validation_key(key, "phone2", "srv-a", secret, now), TokenStatus::bad_id);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-b", secret, now), TokenStatus::bad_id);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-a", "other secret", now),
            TokenStatus::bad_signature);
  EXPECT_EQ(verify_validation_key("", "phone1", "srv-a", secret, now), TokenStatus::malformed);
}

TEST(TokenValidationKey, IsAStandardHs256Jwt) {
  const std::string key = mint_validation_key("phone1", "srv-a", secret, now);
  EXPECT_EQ(key.substr(0, key.find('.')), openssl_base64url(hs256));
  const std::size_t first_dot = key.find('.');
  EXPECT_EQ(base64url_decode(key.substr(first_dot + 1, key.rfind('.') - first_dot - 1)),
            R"({"sub":"phone1","srv":"srv-a","iat":1700000000,"exp":1700000060})");
}

TEST(TokenValidationKey, NeverPassesForAnAuthKeyNorTheReverse) {
  const std::string validation = mint_validation_key("phone1", "srv-a", secret, now);
  EXPECT_EQ(verify_auth_key(validation, secret, now).status, TokenStatus::bad_signature);
  AuthClaims claims;
  claims.node_id = "phone1";
  const std::string auth = mint_auth_key(claims, secret, now, 60);
  EXPECT_EQ(verify_validation_key(auth, "phone1", "srv-a", secret, now),
            TokenStatus::bad_signature);
  // Even an auth key carrying the validation claims, signed with the secret itself.
  const std::string look_alike =
      hand_made(hs256, R"({"sub":"phone1","srv":"srv-a","iat":1700000000,"exp":1700000060})");
  EXPECT_EQ(verify_validation_key(look_alike, "phone1", "srv-a", secret, now),
            TokenStatus::bad_signature);
}

TEST(TokenValidationKey, TamperedOrOtherAlgorithmIsRefused) {
  const std::string key = mint_validation_key("phone1", "srv-a", secret, now);
  std::string flipped = key;
  flipped[key.rfind('.') + 2] = flipped[key.rfind('.') + 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify_validation_key(flipped, "phone1", "srv-a", secret, now),
            TokenStatus::bad_signature);
  const std::string payload = key.substr(key.find('.'), key.rfind('.') - key.find('.'));
  EXPECT_EQ(verify_validation_key(openssl_base64url(R"({"alg":"none"})") + payload + ".", "phone1",
                                  "srv-a", secret, now),
            TokenStatus::bad_algorithm);
  EXPECT_EQ(verify_validation_key(key, "phone1", "srv-a", "", now), TokenStatus::bad_signature);
}

TEST(TokenValidationKey, ClaimsMustBeThere) {
  // Signed as a validation key is (HMAC-SHA256 of the secret and the label),
  // but missing a claim.
  const std::string derived = openssl_hmac(EVP_sha256(), secret, "allspark validation key v1");
  const auto status = [&](std::string_view payload) {
    return verify_validation_key(hand_made(hs256, payload, derived), "phone1", "srv-a", secret,
                                 now);
  };
  EXPECT_EQ(status(R"({"sub":"phone1","srv":"srv-a","exp":1700000060})"), TokenStatus::ok);
  EXPECT_EQ(status(R"({"sub":"phone1","srv":"srv-a"})"), TokenStatus::malformed);  // no exp
  EXPECT_EQ(status(R"({"sub":"phone1","exp":1700000060})"), TokenStatus::malformed);
  EXPECT_EQ(status(R"({"srv":"srv-a","exp":1700000060})"), TokenStatus::malformed);
  EXPECT_EQ(status(R"({"sub":1,"srv":"srv-a","exp":1700000060})"), TokenStatus::malformed);
  EXPECT_EQ(status(R"({"sub":"phone1","srv":"srv-a","exp":"x"})"), TokenStatus::malformed);
}

}  // namespace
