#pragma once
// RFC 6455 frame codec for the data path: a pure, resumable state machine.
// Bytes in, events out; headers split across reads are handled; payloads are
// delivered as unmasked views into the caller's buffer (unmasked in place).
// No I/O, no allocation. Message assembly (fragments) is the caller's job; the
// decoder enforces the framing rules and the message size limit.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace allspark::net {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// Close codes (RFC 6455 7.4.1 and PROTOCOL.md section 8).
enum class CloseCode : std::uint16_t {
  none = 0,
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  invalid_payload = 1007,
  too_big = 1009,
  ping_timeout = 4000,
  slow_consumer = 4001,
  auth_expired = 4002,
  closed_by_app = 4003,
};

// What a decoder calls back (no virtual calls; templates):
//   bool on_frame_start(Opcode op, bool fin, std::uint64_t length);
//       a whole frame header was read and passed every check; for
//       continuation frames `op` is continuation. Return false to stop.
//   void on_frame_payload(std::span<std::uint8_t> chunk);
//       unmasked, never empty, in order; called 0..n times per frame (0 for
//       an empty frame; the chunks of one frame sum to its length).
//   bool on_frame_end();
//       called once per frame after its last payload byte (at once after
//       on_frame_start for an empty frame). Return false to stop.
template <class H>
concept FrameHandler = requires(H& h, Opcode op, bool fin, std::uint64_t length, std::span<std::uint8_t> chunk) {
  { h.on_frame_start(op, fin, length) } -> std::convertible_to<bool>;
  h.on_frame_payload(chunk);
  { h.on_frame_end() } -> std::convertible_to<bool>;
};

// Who sent the frames a decoder reads: clients must mask, servers must not
// (RFC 6455 5.1, 5.3).
enum class Sender : std::uint8_t { client, server };

// Decodes frames sent by `sender`. The server uses FrameDecoder (masks
// required); tests and the load generator use ClientFrameDecoder (masks
// forbidden). One implementation: the rules differ only in the MASK bit.
template <Sender sender>
class BasicFrameDecoder {
 public:
  // Feeds `data` (modified: payload is unmasked in place). Returns
  // CloseCode::none when all of it was consumed (an incomplete frame is
  // remembered), or the close code for a violation:
  //   protocol_error (1002): reserved bits set, unknown opcode, a frame
  //     unmasked (from a client) or masked (from a server), control frame
  //     fragmented or longer than 125, 64-bit length with the top bit set,
  //     continuation with no message started, a new data frame inside a
  //     fragmented message;
  //   too_big (1009): the message (all its fragments together) would exceed
  //     max_message_bytes (exactly the limit is accepted). Decided from the
  //     header, before any of that frame's payload is delivered.
  // Rule checks on a header happen before on_frame_start for it. If the
  // handler returns false, returns CloseCode::none at once (the rest of
  // `data` is not consumed) and `stopped()` is true. After an error or a
  // stop, later calls return the same result and consume nothing.
  template <FrameHandler Handler>
  CloseCode feed(std::span<std::uint8_t> data, std::uint64_t max_message_bytes, Handler& handler);

  bool stopped() const { return stopped_; }
  // True from the header of a non-final data frame to the header of the
  // final one (so in on_frame_end of a data frame, false means "message
  // complete"). Control frames inside a fragmented message leave it true.
  bool in_message() const { return in_message_; }

 private:
  CloseCode check_first_bytes(std::uint8_t b0, std::uint8_t b1) const;
  template <FrameHandler Handler>
  CloseCode start_frame(const std::uint8_t* header, std::uint64_t max_message_bytes, Handler& handler);
  CloseCode fail(CloseCode code) {
    error_ = code;
    return code;
  }

  // Small on purpose: one per connection (STYLE.md item 3).
  std::uint64_t remaining_ = 0;      // payload bytes left in the current frame; > 0: in a payload
  std::uint64_t message_bytes_ = 0;  // bytes of the current fragmented message so far
  std::uint32_t mask_ = 0;           // the 4 masking-key bytes in wire order, as stored in memory
  CloseCode error_ = CloseCode::none;
  std::uint8_t header_[14] = {};     // a header split across reads (2 + 8 + 4 bytes at most)
  std::uint8_t header_len_ = 0;
  std::uint8_t mask_phase_ = 0;      // key byte for the next payload byte (RFC 6455 5.3: j mod 4)
  bool in_message_ = false;
  bool stopped_ = false;
};

using FrameDecoder = BasicFrameDecoder<Sender::client>;
using ClientFrameDecoder = BasicFrameDecoder<Sender::server>;
static_assert(sizeof(FrameDecoder) <= 40, "per-connection state: keep it small");

// Writes a server frame header (never masked) into `out` (at least 10 bytes);
// returns its length: 2, 4 or 10. Lengths use the minimal encoding (RFC 6455
// 5.2); `length` must be below 2^63.
std::size_t write_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length);

// Writes a client frame header (masked with `mask_key`, whose big-endian
// bytes are the masking key on the wire) into `out` (at least 14 bytes);
// returns its length: 6, 8 or 14. The caller masks the payload with
// apply_mask(payload, length, mask_key).
std::size_t write_client_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length,
                                      std::uint32_t mask_key);

// XORs `data` with the masking key (RFC 6455 5.3), in place; `phase` is the
// index (mod 4) within the payload of data[0], for a payload masked in parts.
// Masking twice restores the data.
void apply_mask(std::uint8_t* data, std::size_t len, std::uint32_t mask_key, std::size_t phase = 0);

}  // namespace allspark::net

#include "net/frame_codec_impl.hpp"
