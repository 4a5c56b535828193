#pragma once
// HMAC-SHA256 (RFC 2104) under one key, made ready once: the key's inner and
// outer hash states are computed when the key is built, so a signature costs
// two SHA-256 finals. OpenSSL 3's one-shot HMAC() fetches the algorithm and
// keys a fresh context on every call: 2.2 us against 0.45 us here for a
// 180-byte token (bench/README.md, "connect").
#include <array>
#include <memory>
#include <string_view>

struct evp_md_ctx_st;

namespace allspark::protocol {

using HmacSha256 = std::array<unsigned char, 32>;

class HmacKey {
 public:
  explicit HmacKey(std::string_view key);
  ~HmacKey();
  HmacKey(HmacKey&&) noexcept;
  HmacKey& operator=(HmacKey&&) noexcept;

  // Safe to call from several threads at once: the prepared states are only read.
  bool sign(std::string_view data, HmacSha256& out) const;

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> inner_;  // SHA-256 after (key XOR ipad)
  std::unique_ptr<evp_md_ctx_st, Free> outer_;  // SHA-256 after (key XOR opad)
};

}  // namespace allspark::protocol
