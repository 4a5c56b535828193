#include "protocol/hmac.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using allspark::protocol::HmacKey;
using allspark::protocol::HmacSha256;

std::string hex(const HmacSha256& mac) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : mac) {
    out += digits[byte >> 4];
    out += digits[byte & 15];
  }
  return out;
}

std::string sign(std::string_view key, std::string_view data) {
  HmacSha256 mac{};
  EXPECT_TRUE(HmacKey(key).sign(data, mac));
  return hex(mac);
}

// OpenSSL's one-shot HMAC(), the reference the prepared key must agree with.
std::string reference(std::string_view key, std::string_view data) {
  static constexpr unsigned char no_key = 0;
  HmacSha256 mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data()),
       static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
       &length);
  EXPECT_EQ(length, mac.size());
  return hex(mac);
}

// RFC 4231 section 4: test cases 1, 2, 6 and 7 (a 20-byte key, a short key,
// and a 131-byte key, longer than a block, which is hashed first).
TEST(HmacKey, MatchesRfc4231Vectors) {
  EXPECT_EQ(sign(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(sign(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(sign(std::string(131, '\xaa'),
                 "This is a test using a larger than block-size key and a larger than block-size data. The key "
                 "needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

// Around the block size (64 bytes) keys are padded, used as they are or
// hashed; empty keys and empty data are allowed.
TEST(HmacKey, AgreesWithOpenSslForEveryKeyLengthAroundTheBlock) {
  const std::vector<std::string> data = {"", "x", std::string(55, 'd'), std::string(64, 'd'), std::string(1000, 'e')};
  for (std::size_t length : {0, 1, 31, 32, 63, 64, 65, 127, 128, 200}) {
    std::string key(length, '\0');
    for (std::size_t i = 0; i < length; ++i) key[i] = static_cast<char>(i * 7 + 1);
    for (const std::string& text : data) {
      EXPECT_EQ(sign(key, text), reference(key, text)) << "key of " << length << " bytes, " << text.size() << " bytes";
    }
  }
}

TEST(HmacKey, OneKeySignsManyTimesAndTellsKeysApart) {
  HmacKey key("secret-one");
  HmacSha256 first{}, second{}, other{};
  ASSERT_TRUE(key.sign("payload", first));
  ASSERT_TRUE(key.sign("payload", second));
  ASSERT_TRUE(HmacKey("secret-two").sign("payload", other));
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
  EXPECT_EQ(hex(first), reference("secret-one", "payload"));
}

// The server's keys are shared by every thread (TokenKeys).
TEST(HmacKey, ConcurrentSignaturesWithOneKeyAgree) {
  const HmacKey key("shared-secret");
  const std::string expected = reference("shared-secret", "the same token");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        HmacSha256 mac{};
        if (!key.sign("the same token", mac) || hex(mac) != expected) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int count : mismatches) EXPECT_EQ(count, 0);
}

TEST(HmacKey, MovedKeyStillSigns) {
  HmacKey first("moved");
  HmacKey second(std::move(first));
  HmacSha256 mac{};
  ASSERT_TRUE(second.sign("data", mac));
  EXPECT_EQ(hex(mac), reference("moved", "data"));
}

}  // namespace
