// libFuzzer target for the RFC 6455 frame decoder (src/net/frame_codec.hpp).
//
// Input: [flags] [limit, 2 bytes LE] [n] [n piece lengths, 1 byte each] [stream]
//   flags bit 0: read server frames (ClientFrameDecoder: masks forbidden)
//         instead of client frames (FrameDecoder: masks required);
//   flags bits 1-7: the handler returns false at its k-th on_frame_start or
//         on_frame_end (0: never);
//   limit: max_message_bytes, 0xffff meaning no limit (UINT64_MAX);
//   the stream is fed in pieces of the given lengths, then the rest at once.
//
// Invariants: the handler contract of frame_codec.hpp (payload chunks are
// never empty, lie in the piece being fed and add up to the announced length;
// frames follow the fragmentation rules and the message limit; nothing is
// called back after an error or a stop, and later feeds repeat the result);
// bytes outside the delivered payload are left untouched; and the decoder is
// resumable: fed whole, in the fuzzer's pieces or byte by byte, it reports
// the same frames, payload bytes and result.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_check.hpp"
#include "net/frame_codec.hpp"

namespace {

using allspark::net::ClientFrameDecoder;
using allspark::net::CloseCode;
using allspark::net::FrameDecoder;
using allspark::net::Opcode;

bool is_control(Opcode op) { return (static_cast<std::uint8_t>(op) & 0x08) != 0; }

// Checks every callback against the contract and logs what was decoded.
template <class Decoder>
struct Recorder {
  Recorder(const Decoder& d, std::uint64_t message_limit, unsigned stop_after)
      : decoder(d), limit(message_limit), stop_at(stop_after) {}

  const Decoder& decoder;
  std::uint64_t limit;
  unsigned stop_at;  // 0: never stop

  std::string log;       // frame headers and payload bytes, to compare runs
  bool done = false;     // an error or a stop was reported: no callback may follow
  bool stopped = false;  // the handler returned false
  unsigned calls = 0;    // on_frame_start and on_frame_end calls so far

  bool in_frame = false;
  std::uint64_t length = 0;    // announced payload length of the current frame
  std::uint64_t received = 0;  // payload bytes of it delivered so far
  bool in_message = false;     // a fragmented data message is open (own model)
  std::uint64_t message_bytes = 0;

  std::span<std::uint8_t> piece;       // what is being fed now
  std::vector<std::uint8_t> delivered; // per byte of `piece`: handed out as payload

  bool on_frame_start(Opcode op, bool fin, std::uint64_t frame_length) {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(!in_frame);
    const bool known_opcode = op == Opcode::continuation || op == Opcode::text || op == Opcode::binary ||
                              op == Opcode::close || op == Opcode::ping || op == Opcode::pong;
    FUZZ_CHECK(known_opcode);
    FUZZ_CHECK((frame_length >> 63) == 0);
    if (is_control(op)) {
      FUZZ_CHECK(fin && frame_length <= 125);  // RFC 6455 5.5
    } else {
      // RFC 6455 5.4: a continuation exactly when a message is open.
      FUZZ_CHECK((op == Opcode::continuation) == in_message);
      message_bytes = (op == Opcode::continuation ? message_bytes : 0) + frame_length;
      FUZZ_CHECK(message_bytes <= limit);
      in_message = !fin;
    }
    FUZZ_CHECK(decoder.in_message() == in_message);
    in_frame = true;
    length = frame_length;
    received = 0;
    log += 'S';
    log += static_cast<char>(op);
    log += fin ? 'F' : 'f';
    log.append(reinterpret_cast<const char*>(&frame_length), sizeof frame_length);
    return count_call();
  }

  void on_frame_payload(std::span<std::uint8_t> chunk) {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(in_frame);
    FUZZ_CHECK(!chunk.empty());
    // A view into the caller's buffer, never a copy.
    FUZZ_CHECK(chunk.data() >= piece.data() && chunk.data() + chunk.size() <= piece.data() + piece.size());
    received += chunk.size();
    FUZZ_CHECK(received <= length);
    const auto at = static_cast<std::size_t>(chunk.data() - piece.data());
    for (std::size_t i = at; i < at + chunk.size(); ++i) {
      FUZZ_CHECK(!delivered[i]);  // each byte once
      delivered[i] = 1;
    }
    log.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  }

  bool on_frame_end() {
    FUZZ_CHECK(!done);
    FUZZ_CHECK(in_frame);
    FUZZ_CHECK(received == length);
    in_frame = false;
    log += 'E';
    return count_call();
  }

  bool count_call() {
    if (++calls != stop_at) return true;
    done = stopped = true;
    return false;
  }
};

struct Outcome {
  std::string log;
  CloseCode result = CloseCode::none;
  bool stopped = false;
  bool operator==(const Outcome&) const = default;
};

// Feeds `stream` in pieces of `lengths` (clamped), then whatever is left,
// checking the decoder's promises after each feed.
template <class Decoder>
Outcome decode(std::span<const std::uint8_t> stream, std::span<const std::size_t> lengths, std::uint64_t limit,
               unsigned stop_at) {
  Decoder decoder;
  Recorder<Decoder> recorder{decoder, limit, stop_at};
  Outcome outcome;
  std::size_t offset = 0;
  for (std::size_t i = 0; i <= lengths.size(); ++i) {
    const std::size_t left = stream.size() - offset;
    const std::size_t n = i < lengths.size() ? std::min(lengths[i], left) : left;
    const std::span<const std::uint8_t> original = stream.subspan(offset, n);
    // Each piece in an allocation of its own, so ASan sees a read past it.
    std::vector<std::uint8_t> piece(original.begin(), original.end());
    recorder.piece = piece;
    recorder.delivered.assign(n, 0);

    const bool done_before = recorder.done;
    const CloseCode code = decoder.feed(piece, limit, recorder);
    if (done_before) {
      FUZZ_CHECK(code == outcome.result);  // later calls repeat the result
    } else if (code != CloseCode::none) {
      FUZZ_CHECK(code == CloseCode::protocol_error || code == CloseCode::too_big);
      FUZZ_CHECK(!recorder.stopped);
      outcome.result = code;
      recorder.done = true;
    }
    FUZZ_CHECK(decoder.stopped() == recorder.stopped);

    // Only payload is unmasked in place; a server's frames are not masked at all.
    const bool masked = std::is_same_v<Decoder, FrameDecoder>;
    for (std::size_t b = 0; b < n; ++b) {
      if (!recorder.delivered[b] || !masked) FUZZ_CHECK(piece[b] == original[b]);
    }
    offset += n;
  }
  outcome.log = std::move(recorder.log);
  outcome.stopped = recorder.stopped;
  return outcome;
}

template <class Decoder>
void check_resumable(std::span<const std::uint8_t> stream, std::span<const std::size_t> lengths,
                     std::uint64_t limit, unsigned stop_at) {
  const Outcome whole = decode<Decoder>(stream, {}, limit, stop_at);
  const Outcome pieces = decode<Decoder>(stream, lengths, limit, stop_at);
  FUZZ_CHECK(whole == pieces);
  // Byte by byte is the hardest case for split headers; short streams only, to stay fast.
  if (stream.size() <= 512) {
    const std::vector<std::size_t> ones(stream.size(), 1);
    FUZZ_CHECK(whole == decode<Decoder>(stream, ones, limit, stop_at));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const unsigned limit16 = data[1] | (data[2] << 8);
  const std::uint64_t limit = limit16 == 0xffff ? UINT64_MAX : limit16;
  const std::size_t piece_count = std::min<std::size_t>(data[3], size - 4);
  const std::vector<std::size_t> lengths(data + 4, data + 4 + piece_count);
  const std::span<const std::uint8_t> stream(data + 4 + piece_count, size - 4 - piece_count);
  const unsigned stop_at = flags >> 1;
  if ((flags & 1) != 0) {
    check_resumable<ClientFrameDecoder>(stream, lengths, limit, stop_at);
  } else {
    check_resumable<FrameDecoder>(stream, lengths, limit, stop_at);
  }
  return 0;
}
