#pragma once
// The template part of frame_codec.hpp; include that header, not this one.
#include <algorithm>
#include <bit>
#include <cstring>

namespace allspark::net {

namespace detail {

// The 4 masking-key bytes as they sit in memory (wire order), rotated so that
// key byte `phase` comes first.
inline std::uint32_t rotate_mask(std::uint32_t mask, std::size_t phase) {
  const int bits = static_cast<int>((phase & 3) * 8);
  if constexpr (std::endian::native == std::endian::little) {
    return std::rotr(mask, bits);
  } else {
    return std::rotl(mask, bits);
  }
}

// RFC 6455 5.3: byte i of the payload is XORed with key byte (i mod 4).
// `mask` holds the key bytes in wire order as stored in memory; data[0] is
// payload byte number `phase` (mod 4). Bytes up to an 8-byte boundary one by
// one, then 8 at a time with a 64-bit mask word, then the tail.
inline void unmask(std::uint8_t* data, std::size_t len, std::uint32_t mask, std::size_t phase) {
  std::uint8_t key[4];
  std::memcpy(key, &mask, sizeof key);
  std::size_t i = 0;
  while (i < len && (reinterpret_cast<std::uintptr_t>(data + i) & 7) != 0) {
    data[i] ^= key[(phase + i) & 3];
    ++i;
  }
  if (len - i >= 8) {
    const std::uint64_t word = rotate_mask(mask, phase + i);
    const std::uint64_t mask64 = (word << 32) | word;  // both halves equal: byte order does not matter
    for (; len - i >= 8; i += 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, data + i, 8);
      chunk ^= mask64;
      std::memcpy(data + i, &chunk, 8);
    }
  }
  for (; i < len; ++i) data[i] ^= key[(phase + i) & 3];
}

// Header bytes announced by the second byte (RFC 6455 5.2): 2, then 0, 2 or 8
// bytes of extended length, then 4 bytes of masking key if MASK is set.
constexpr std::size_t header_size(std::uint8_t b1) {
  const std::uint8_t len7 = b1 & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) != 0 ? 4 : 0);
}

inline std::uint64_t load_big_endian(const std::uint8_t* p, std::size_t n) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < n; ++i) value = (value << 8) | p[i];
  return value;
}

}  // namespace detail

// The checks that need only the first two bytes, so that a split header
// fails as early as possible.
template <Sender sender>
CloseCode BasicFrameDecoder<sender>::check_first_bytes(std::uint8_t b0, std::uint8_t b1) const {
  // RFC 6455 5.2: RSV1-3 must be 0 (no extension is ever negotiated).
  if ((b0 & 0x70) != 0) return CloseCode::protocol_error;
  // RFC 6455 5.1: a server closes on an unmasked frame, a client on a masked one.
  const bool masked = (b1 & 0x80) != 0;
  if (masked != (sender == Sender::client)) return CloseCode::protocol_error;
  switch (b0 & 0x0f) {
    case 0x0:  // RFC 6455 5.4: a continuation needs a message in progress
      return in_message_ ? CloseCode::none : CloseCode::protocol_error;
    case 0x1:
    case 0x2:  // RFC 6455 5.4: no new data message inside a fragmented one
      return in_message_ ? CloseCode::protocol_error : CloseCode::none;
    case 0x8:
    case 0x9:
    case 0xa:  // RFC 6455 5.5: control frames are never fragmented, at most 125 bytes
      return (b0 & 0x80) != 0 && (b1 & 0x7f) <= 125 ? CloseCode::none : CloseCode::protocol_error;
    default:  // RFC 6455 5.2: 0x3-0x7 and 0xB-0xF are reserved
      return CloseCode::protocol_error;
  }
}

template <Sender sender>
template <FrameHandler Handler>
CloseCode BasicFrameDecoder<sender>::start_frame(const std::uint8_t* header, std::uint64_t max_message_bytes,
                                                 Handler& handler) {
  const std::uint8_t b0 = header[0];
  const std::uint8_t b1 = header[1];
  if (const CloseCode code = check_first_bytes(b0, b1); code != CloseCode::none) return fail(code);
  const bool fin = (b0 & 0x80) != 0;
  const auto op = static_cast<Opcode>(b0 & 0x0f);

  // RFC 6455 5.2 asks for the minimal length encoding; a non-minimal 16- or
  // 64-bit one is accepted all the same: the length it gives is exact, and
  // refusing it would protect nothing.
  std::uint64_t length = b1 & 0x7f;
  const std::uint8_t* rest = header + 2;
  if (length == 126) {
    length = detail::load_big_endian(rest, 2);
    rest += 2;
  } else if (length == 127) {
    length = detail::load_big_endian(rest, 8);
    rest += 8;
    if ((length >> 63) != 0) return fail(CloseCode::protocol_error);  // RFC 6455 5.2: MSB must be 0
  }
  if constexpr (sender == Sender::client) std::memcpy(&mask_, rest, sizeof mask_);
  mask_phase_ = 0;

  if ((b0 & 0x08) == 0) {  // a data frame: the limit counts the whole message (PROTOCOL.md 8)
    const std::uint64_t before = op == Opcode::continuation ? message_bytes_ : 0;
    if (before > max_message_bytes || length > max_message_bytes - before) return fail(CloseCode::too_big);
    in_message_ = !fin;
    message_bytes_ = fin ? 0 : before + length;
  }

  remaining_ = length;
  if (!handler.on_frame_start(op, fin, length)) {
    stopped_ = true;
  } else if (length == 0 && !handler.on_frame_end()) {
    stopped_ = true;
  }
  return CloseCode::none;
}

template <Sender sender>
template <FrameHandler Handler>
CloseCode BasicFrameDecoder<sender>::feed(std::span<std::uint8_t> data, std::uint64_t max_message_bytes,
                                          Handler& handler) {
  if (error_ != CloseCode::none || stopped_) return error_;
  std::uint8_t* p = data.data();
  std::uint8_t* const end = p + data.size();
  while (p != end) {
    if (remaining_ == 0) {
      // A header. Fast path: all of it is in this buffer.
      const std::uint8_t* header = p;
      const auto avail = static_cast<std::size_t>(end - p);
      if (header_len_ == 0 && avail >= 2 && avail >= detail::header_size(p[1])) {
        p += detail::header_size(p[1]);
      } else {
        // Slow path: gather it in header_ across calls, 2 bytes first, then
        // as many as they announce.
        for (;;) {
          const std::size_t need = header_len_ < 2 ? 2 : detail::header_size(header_[1]);
          if (header_len_ == need) break;
          if (p == end) return CloseCode::none;
          const std::size_t take = std::min(need - header_len_, static_cast<std::size_t>(end - p));
          std::memcpy(header_ + header_len_, p, take);
          header_len_ = static_cast<std::uint8_t>(header_len_ + take);
          p += take;
          if (header_len_ == 2) {
            if (const CloseCode code = check_first_bytes(header_[0], header_[1]); code != CloseCode::none) {
              return fail(code);
            }
          }
        }
        header = header_;
        header_len_ = 0;
      }
      if (const CloseCode code = start_frame(header, max_message_bytes, handler); code != CloseCode::none) {
        return code;
      }
      if (stopped_) return CloseCode::none;
      continue;
    }

    // Payload: as much of the current frame as this buffer holds.
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, static_cast<std::size_t>(end - p)));
    if constexpr (sender == Sender::client) {
      detail::unmask(p, take, mask_, mask_phase_);
      mask_phase_ = static_cast<std::uint8_t>((mask_phase_ + take) & 3);
    }
    handler.on_frame_payload(std::span<std::uint8_t>(p, take));
    p += take;
    remaining_ -= take;
    if (remaining_ == 0 && !handler.on_frame_end()) {
      stopped_ = true;
      return CloseCode::none;
    }
  }
  return CloseCode::none;
}

}  // namespace allspark::net
