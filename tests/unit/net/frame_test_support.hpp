#pragma once
// Shared by the frame codec's tests: a recorder of decoder events and ways
// to build and feed frames. Test-only; each test file gets its own copy.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "net/frame_codec.hpp"

namespace {

using allspark::net::apply_mask;
using allspark::net::ClientFrameDecoder;
using allspark::net::CloseCode;
using allspark::net::FrameDecoder;
using allspark::net::Opcode;
using allspark::net::write_client_frame_header;
using allspark::net::write_frame_header;

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint64_t no_limit = UINT64_MAX;
constexpr std::uint32_t rfc_key = 0x37fa213d;  // RFC 6455 5.7's masking key

struct Frame {
  Opcode op;
  bool fin;
  std::uint64_t length;
  std::string payload;
  bool ended = false;
};

// Records every callback and checks the handler contract as it goes.
struct Recorder {
  std::vector<Frame> frames;
  std::string trace;  // "S" start, "P" payload, "E" end
  int stop_at_start = -1;  // index of the frame whose on_frame_start returns false
  int stop_at_end = -1;

  bool on_frame_start(Opcode op, bool fin, std::uint64_t length) {
    EXPECT_TRUE(frames.empty() || frames.back().ended) << "start before the previous frame ended";
    frames.push_back({op, fin, length, {}});
    trace += 'S';
    return static_cast<int>(frames.size()) - 1 != stop_at_start;
  }
  void on_frame_payload(std::span<std::uint8_t> chunk) {
    EXPECT_FALSE(chunk.empty());
    EXPECT_FALSE(frames.empty());
    EXPECT_FALSE(frames.back().ended);
    frames.back().payload.append(chunk.begin(), chunk.end());
    EXPECT_LE(frames.back().payload.size(), frames.back().length);
    if (trace.empty() || trace.back() != 'P') trace += 'P';
  }
  bool on_frame_end() {
    EXPECT_FALSE(frames.empty());
    EXPECT_EQ(frames.back().payload.size(), frames.back().length);
    frames.back().ended = true;
    trace += 'E';
    return static_cast<int>(frames.size()) - 1 != stop_at_end;
  }
};

static_assert(allspark::net::FrameHandler<Recorder>);

// A client frame as a browser sends it (masked, minimal length).
inline Bytes client_frame(Opcode op, bool fin, std::string_view payload, std::uint32_t key = rfc_key) {
  Bytes out(14 + payload.size());
  const std::size_t n = write_client_frame_header(out.data(), op, fin, payload.size(), key);
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(n));
  apply_mask(out.data() + n, payload.size(), key);
  out.resize(n + payload.size());
  return out;
}

inline Bytes server_frame(Opcode op, bool fin, std::string_view payload) {
  Bytes out(10 + payload.size());
  const std::size_t n = write_frame_header(out.data(), op, fin, payload.size());
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(n));
  out.resize(n + payload.size());
  return out;
}

// A hand-made frame: first byte, length field as given (len7 plus extended
// bytes, to write non-minimal encodings), masked with rfc_key if `masked`.
inline Bytes raw_frame(std::uint8_t b0, std::uint8_t len7, const Bytes& extended, std::string_view payload,
                bool masked = true) {
  // Built with push_back: GCC 12 warns falsely (-Warray-bounds) on vector::insert here.
  Bytes out;
  out.reserve(14 + payload.size());
  out.push_back(b0);
  out.push_back(static_cast<std::uint8_t>(len7 | (masked ? 0x80 : 0)));
  for (std::uint8_t b : extended) out.push_back(b);
  if (masked) {
    for (std::uint8_t b : {0x37, 0xfa, 0x21, 0x3d}) out.push_back(b);
  }
  const std::size_t start = out.size();
  for (char c : payload) out.push_back(static_cast<std::uint8_t>(c));
  if (masked) apply_mask(out.data() + start, payload.size(), rfc_key);
  return out;
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

template <class Decoder = FrameDecoder>
inline CloseCode feed_all(Bytes bytes, Recorder& recorder, std::uint64_t limit = no_limit) {
  Decoder decoder;
  return decoder.feed(bytes, limit, recorder);
}

// Feeds `bytes` in pieces of the given sizes (cycled); stops at the first error.
template <class Decoder = FrameDecoder>
inline CloseCode feed_in_pieces(Bytes bytes, const std::vector<std::size_t>& sizes, Recorder& recorder,
                         std::uint64_t limit = no_limit) {
  Decoder decoder;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < bytes.size(); ++i) {
    const std::size_t n = std::min(sizes[i % sizes.size()], bytes.size() - pos);
    const CloseCode code = decoder.feed(std::span(bytes.data() + pos, n), limit, recorder);
    if (code != CloseCode::none) return code;
    pos += n;
  }
  return CloseCode::none;
}

inline std::string text_of_length(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

inline CloseCode decode_error(const Bytes& bytes, std::uint64_t limit = no_limit) {
  Recorder recorder;
  return feed_all(bytes, recorder, limit);
}

// ---- split input -------------------------------------------------------------

inline Bytes a_stream_of_frames() {
  return concat({client_frame(Opcode::text, true, "Hello"), client_frame(Opcode::binary, false, text_of_length(130)),
                 client_frame(Opcode::ping, true, "ping!"), client_frame(Opcode::continuation, false, ""),
                 client_frame(Opcode::continuation, true, text_of_length(70000), 0xdeadbeef),
                 client_frame(Opcode::pong, true, ""), client_frame(Opcode::text, true, text_of_length(3), 0x01020304),
                 client_frame(Opcode::close, true, "\x03\xe8")});
}
}  // namespace
