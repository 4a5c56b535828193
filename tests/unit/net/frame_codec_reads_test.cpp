// The frame decoder fed the way sockets deliver bytes: split at any point,
// many frames at once; masking across pieces; handler stops; sticky errors.
#include "frame_test_support.hpp"

namespace {

void expect_same_frames(const Recorder& a, const Recorder& b) {
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (std::size_t i = 0; i < a.frames.size(); ++i) {
    EXPECT_EQ(a.frames[i].op, b.frames[i].op) << i;
    EXPECT_EQ(a.frames[i].fin, b.frames[i].fin) << i;
    EXPECT_EQ(a.frames[i].length, b.frames[i].length) << i;
    EXPECT_EQ(a.frames[i].payload, b.frames[i].payload) << i;
    EXPECT_EQ(a.frames[i].ended, b.frames[i].ended) << i;
  }
}

TEST(FrameCodec, OneByteAtATime) {
  Recorder whole;
  ASSERT_EQ(feed_all(a_stream_of_frames(), whole), CloseCode::none);
  ASSERT_EQ(whole.frames.size(), 8u);
  EXPECT_EQ(whole.frames[4].payload, text_of_length(70000));
  EXPECT_EQ(whole.frames[7].payload, "\x03\xe8");

  Recorder bytewise;
  ASSERT_EQ(feed_in_pieces(a_stream_of_frames(), {1}, bytewise), CloseCode::none);
  expect_same_frames(whole, bytewise);
}

TEST(FrameCodec, EverySplitPointOfTwoFrames) {
  const Bytes bytes = concat({client_frame(Opcode::binary, true, text_of_length(130)),
                              client_frame(Opcode::text, true, text_of_length(70000), 0x0badf00d)});
  Recorder whole;
  ASSERT_EQ(feed_all(bytes, whole), CloseCode::none);
  for (std::size_t split = 0; split <= 160; ++split) {
    Recorder r;
    ASSERT_EQ(feed_in_pieces(bytes, {split == 0 ? bytes.size() : split, bytes.size()}, r), CloseCode::none);
    expect_same_frames(whole, r);
  }
  // ... and splits inside the second frame's 14-byte header.
  for (std::size_t split = 136; split <= 150; ++split) {
    Recorder r;
    ASSERT_EQ(feed_in_pieces(bytes, {split, 1, bytes.size()}, r), CloseCode::none);
    expect_same_frames(whole, r);
  }
}

TEST(FrameCodec, RandomPieces) {
  const Bytes bytes = a_stream_of_frames();
  Recorder whole;
  ASSERT_EQ(feed_all(bytes, whole), CloseCode::none);
  std::mt19937 rng(6455);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 64; ++i) sizes.push_back(1 + rng() % (round % 2 == 0 ? 20 : 5000));
    Recorder r;
    ASSERT_EQ(feed_in_pieces(bytes, sizes, r), CloseCode::none);
    expect_same_frames(whole, r);
  }
}

TEST(FrameCodec, ManyFramesInOneBuffer) {
  Bytes bytes;
  for (int i = 0; i < 1000; ++i) {
    const Bytes f = client_frame(i % 3 == 0 ? Opcode::binary : Opcode::text, true, text_of_length(i % 200),
                                 0x9e3779b9u * static_cast<std::uint32_t>(i));
    bytes.insert(bytes.end(), f.begin(), f.end());
  }
  Recorder r;
  ASSERT_EQ(feed_all(bytes, r), CloseCode::none);
  ASSERT_EQ(r.frames.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(r.frames[i].payload, text_of_length(i % 200)) << i;
    EXPECT_TRUE(r.frames[i].ended);
  }
}

TEST(FrameCodec, SplitHeaderErrorsComeAsSoonAsTwoBytesArrive) {
  FrameDecoder decoder;
  Recorder r;
  Bytes first{0x81};
  EXPECT_EQ(decoder.feed(first, no_limit, r), CloseCode::none);
  Bytes second{0x7f};  // unmasked, 64-bit length to come
  EXPECT_EQ(decoder.feed(second, no_limit, r), CloseCode::protocol_error);
}

TEST(FrameCodec, SplitHeaderTooBigAndTopBit) {
  std::uint8_t h[14];
  const std::size_t n = write_client_frame_header(h, Opcode::binary, true, 70000, rfc_key);
  ASSERT_EQ(n, 14u);
  FrameDecoder decoder;
  Recorder r;
  for (std::size_t i = 0; i + 1 < n; ++i) ASSERT_EQ(decoder.feed(std::span(h + i, 1), 65536, r), CloseCode::none);
  EXPECT_EQ(decoder.feed(std::span(h + n - 1, 1), 65536, r), CloseCode::too_big);

  Bytes top = raw_frame(0x82, 127, {0x80, 0, 0, 0, 0, 0, 0, 0}, "");
  Recorder r2;
  EXPECT_EQ(feed_in_pieces(top, {1}, r2), CloseCode::protocol_error);
}

// ---- masking -----------------------------------------------------------------

void reference_mask(std::uint8_t* data, std::size_t len, std::uint32_t key, std::size_t phase) {
  const std::uint8_t k[4] = {static_cast<std::uint8_t>(key >> 24), static_cast<std::uint8_t>(key >> 16),
                             static_cast<std::uint8_t>(key >> 8), static_cast<std::uint8_t>(key)};
  for (std::size_t i = 0; i < len; ++i) data[i] ^= k[(phase + i) % 4];
}

TEST(FrameCodec, ApplyMaskMatchesTheReferenceAtEveryAlignmentAndPhase) {
  std::mt19937 rng(1);
  alignas(16) std::uint8_t buffer[128];
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t len = 0; len <= 100; ++len) {
      for (std::size_t phase = 0; phase < 8; ++phase) {
        const std::uint32_t key = static_cast<std::uint32_t>(rng());
        for (auto& b : buffer) b = static_cast<std::uint8_t>(rng());
        Bytes expected(buffer + offset, buffer + offset + len);
        reference_mask(expected.data(), len, key, phase);
        apply_mask(buffer + offset, len, key, phase);
        ASSERT_EQ(Bytes(buffer + offset, buffer + offset + len), expected)
            << "offset " << offset << " len " << len << " phase " << phase;
      }
    }
  }
}

TEST(FrameCodec, UnmaskingKeepsThePhaseAcrossPieces) {
  std::string payload(1001, '\0');
  std::mt19937 rng(2);
  for (char& c : payload) c = static_cast<char>(rng());
  const Bytes bytes = client_frame(Opcode::binary, true, payload, 0xc0ffee11);
  for (std::size_t piece : {1, 2, 3, 5, 7, 9, 13, 17, 100}) {
    Recorder r;
    ASSERT_EQ(feed_in_pieces(bytes, {piece}, r), CloseCode::none);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0].payload, payload) << piece;
  }
}

// ---- handler stop and sticky results ---------------------------------------------

TEST(FrameCodec, StopInFrameStart) {
  FrameDecoder decoder;
  Recorder r;
  r.stop_at_start = 1;
  Bytes bytes = concat({client_frame(Opcode::text, true, "one"), client_frame(Opcode::text, true, "two"),
                        client_frame(Opcode::text, true, "three")});
  EXPECT_EQ(decoder.feed(bytes, no_limit, r), CloseCode::none);
  EXPECT_TRUE(decoder.stopped());
  EXPECT_EQ(r.trace, "SPES");  // no payload or end for the stopped frame
  Bytes more = client_frame(Opcode::text, true, "four");
  EXPECT_EQ(decoder.feed(more, no_limit, r), CloseCode::none);
  EXPECT_EQ(r.trace, "SPES");
}

TEST(FrameCodec, StopInFrameStartOfAnEmptyFrameSkipsItsEnd) {
  FrameDecoder decoder;
  Recorder r;
  r.stop_at_start = 0;
  Bytes bytes = concat({client_frame(Opcode::close, true, ""), client_frame(Opcode::text, true, "x")});
  EXPECT_EQ(decoder.feed(bytes, no_limit, r), CloseCode::none);
  EXPECT_TRUE(decoder.stopped());
  EXPECT_EQ(r.trace, "S");
}

TEST(FrameCodec, StopInFrameEnd) {
  for (int stop : {0, 1}) {
    FrameDecoder decoder;
    Recorder r;
    r.stop_at_end = stop;
    Bytes bytes = concat({client_frame(Opcode::close, true, ""), client_frame(Opcode::text, true, "x"),
                          client_frame(Opcode::text, true, "y")});
    EXPECT_EQ(decoder.feed(bytes, no_limit, r), CloseCode::none);
    EXPECT_TRUE(decoder.stopped());
    EXPECT_EQ(r.trace, stop == 0 ? "SE" : "SESPE");
  }
}

TEST(FrameCodec, ErrorsAreSticky) {
  FrameDecoder decoder;
  Recorder r;
  Bytes bad = raw_frame(0x83, 0, {}, "");
  EXPECT_EQ(decoder.feed(bad, no_limit, r), CloseCode::protocol_error);
  EXPECT_FALSE(decoder.stopped());
  Bytes good = client_frame(Opcode::text, true, "x");
  EXPECT_EQ(decoder.feed(good, no_limit, r), CloseCode::protocol_error);
  EXPECT_TRUE(r.frames.empty());
}

TEST(FrameCodec, EmptyFeedDoesNothing) {
  FrameDecoder decoder;
  Recorder r;
  EXPECT_EQ(decoder.feed(std::span<std::uint8_t>(), no_limit, r), CloseCode::none);
  EXPECT_TRUE(r.trace.empty());
  EXPECT_FALSE(decoder.in_message());
}

TEST(FrameCodec, StateIsSmall) { EXPECT_LE(sizeof(FrameDecoder), 40u); }

}  // namespace
