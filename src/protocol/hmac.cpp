#include "protocol/hmac.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>

namespace allspark::protocol {

namespace {

constexpr std::size_t block_bytes = 64;  // SHA-256's block

evp_md_ctx_st* hash_after_block(const unsigned char* block) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, block, block_bytes) != 1) {
    EVP_MD_CTX_free(ctx);
    throw std::runtime_error("SHA-256 is not available");
  }
  return ctx;
}

}  // namespace

void HmacKey::Free::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

HmacKey::HmacKey(std::string_view key) {
  // RFC 2104 section 2: a key longer than a block is hashed first, a shorter
  // one padded with zeros.
  unsigned char padded[block_bytes] = {};
  if (key.size() > block_bytes) {
    unsigned int length = 0;
    if (EVP_Digest(key.data(), key.size(), padded, &length, EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("SHA-256 is not available");
    }
  } else if (!key.empty()) {
    std::memcpy(padded, key.data(), key.size());
  }
  unsigned char inner_block[block_bytes];
  unsigned char outer_block[block_bytes];
  for (std::size_t i = 0; i < block_bytes; ++i) {
    inner_block[i] = static_cast<unsigned char>(padded[i] ^ 0x36);
    outer_block[i] = static_cast<unsigned char>(padded[i] ^ 0x5c);
  }
  inner_.reset(hash_after_block(inner_block));
  outer_.reset(hash_after_block(outer_block));
  OPENSSL_cleanse(padded, sizeof padded);
  OPENSSL_cleanse(inner_block, sizeof inner_block);
  OPENSSL_cleanse(outer_block, sizeof outer_block);
}

HmacKey::~HmacKey() = default;
HmacKey::HmacKey(HmacKey&&) noexcept = default;
HmacKey& HmacKey::operator=(HmacKey&&) noexcept = default;

bool HmacKey::sign(std::string_view data, HmacSha256& out) const {
  std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
  HmacSha256 inner_hash{};
  unsigned int inner_length = 0;
  unsigned int outer_length = 0;
  const bool ok = ctx && inner_ && EVP_MD_CTX_copy_ex(ctx.get(), inner_.get()) == 1 &&
                  EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), inner_hash.data(), &inner_length) == 1 &&
                  inner_length == inner_hash.size() && EVP_MD_CTX_copy_ex(ctx.get(), outer_.get()) == 1 &&
                  EVP_DigestUpdate(ctx.get(), inner_hash.data(), inner_hash.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), out.data(), &outer_length) == 1 && outer_length == out.size();
  OPENSSL_cleanse(inner_hash.data(), inner_hash.size());
  return ok;
}

}  // namespace allspark::protocol
