#include "net/frame_codec.hpp"

namespace allspark::net {

namespace {

// RFC 6455 5.2: FIN, opcode, MASK, then the length in the fewest bytes (7
// bits, 126 + 16 bits, or 127 + 64 bits, big-endian). Returns the bytes written.
std::size_t write_header_base(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length, bool masked) {
  out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
  const std::uint8_t mask_bit = masked ? 0x80 : 0x00;
  if (length <= 125) {
    out[1] = static_cast<std::uint8_t>(mask_bit | length);
    return 2;
  }
  if (length <= 0xffff) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
    return 4;
  }
  out[1] = mask_bit | 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
  return 10;
}

// The key's big-endian bytes (wire order) as they sit in memory.
std::uint32_t mask_in_memory(std::uint32_t mask_key) {
  const std::uint8_t bytes[4] = {static_cast<std::uint8_t>(mask_key >> 24), static_cast<std::uint8_t>(mask_key >> 16),
                                 static_cast<std::uint8_t>(mask_key >> 8), static_cast<std::uint8_t>(mask_key)};
  std::uint32_t mask;
  std::memcpy(&mask, bytes, sizeof mask);
  return mask;
}

}  // namespace

std::size_t write_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length) {
  return write_header_base(out, op, fin, length, false);
}

std::size_t write_client_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length,
                                      std::uint32_t mask_key) {
  const std::size_t n = write_header_base(out, op, fin, length, true);
  for (int i = 0; i < 4; ++i) out[n + i] = static_cast<std::uint8_t>(mask_key >> (24 - 8 * i));  // RFC 6455 5.3
  return n + 4;
}

void apply_mask(std::uint8_t* data, std::size_t len, std::uint32_t mask_key, std::size_t phase) {
  detail::unmask(data, len, mask_in_memory(mask_key), phase);
}

}  // namespace allspark::net
