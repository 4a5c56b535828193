#pragma once
// RFC 6455 frame codec for the data path: a pure, resumable state machine.
// Bytes in, events out; headers split across reads are handled; payloads are
// delivered as unmasked views into the caller's buffer (unmasked in place).
// No I/O, no allocation. Message assembly (fragments) is the caller's job; the
// decoder enforces the framing rules and the message size limit.
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

// Decodes frames sent by a client (which must be masked, RFC 6455 5.3).
// Handler requirements (no virtual calls; templates):
//   bool on_frame_start(Opcode op, bool fin, std::uint64_t length);
//       a frame header was read; for continuation frames `op` is continuation.
//       Return false to stop feeding (the connection is going away).
//   void on_frame_payload(std::span<std::uint8_t> chunk);   // unmasked; may be called 0..n times
//   bool on_frame_end();                                     // false: stop feeding
class FrameDecoder {
 public:
  // Feeds `data` (modified: payload is unmasked in place). Returns
  // CloseCode::none when all of it was consumed (an incomplete frame is
  // remembered), or the close code for a violation:
  //   protocol_error (1002): reserved bits set, unknown opcode, unmasked frame,
  //     control frame fragmented or longer than 125, 64-bit length with the
  //     top bit set, continuation with no message started, a new data frame
  //     inside a fragmented message;
  //   too_big (1009): the message (all its fragments together) would exceed
  //     max_message_bytes (exactly the limit is accepted).
  // If the handler returns false, returns CloseCode::none and `stopped()` is true.
  template <class Handler>
  CloseCode feed(std::span<std::uint8_t> data, std::uint64_t max_message_bytes, Handler& handler);

  bool stopped() const { return stopped_; }
  // True between the first fragment of a message and its final fragment.
  bool in_message() const { return in_message_; }

 private:
  // Small on purpose: one per connection.
  std::uint64_t remaining_ = 0;       // payload bytes left in the current frame
  std::uint64_t message_bytes_ = 0;   // bytes of the current (fragmented) message so far
  std::uint8_t header_[14] = {};      // a header split across reads
  std::uint8_t header_len_ = 0;
  std::uint8_t mask_[4] = {};
  std::uint8_t mask_offset_ = 0;
  bool in_payload_ = false;
  bool in_message_ = false;
  bool stopped_ = false;
};

// Writes a server frame header (never masked) into `out` (at least 10 bytes);
// returns its length: 2, 4 or 10.
std::size_t write_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t length);

}  // namespace allspark::net

#include "net/frame_codec_impl.hpp"
