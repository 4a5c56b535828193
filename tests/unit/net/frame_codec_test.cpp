// RFC 6455 framing rules: encodings, opcodes, control frames, fragments, limits.
#include "frame_test_support.hpp"

namespace {

// ---- RFC 6455 5.7 examples --------------------------------------------------

TEST(FrameCodec, DecodesTheRfcMaskedHello) {
  Recorder r;
  ASSERT_EQ(feed_all({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, r), CloseCode::none);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].op, Opcode::text);
  EXPECT_TRUE(r.frames[0].fin);
  EXPECT_EQ(r.frames[0].length, 5u);
  EXPECT_EQ(r.frames[0].payload, "Hello");
  EXPECT_EQ(r.trace, "SPE");
}

TEST(FrameCodec, ClientDecoderReadsTheRfcUnmaskedExamples) {
  Recorder r;
  const Bytes bytes{0x81, 0x05, 'H', 'e', 'l', 'l', 'o',                       // single frame
                    0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o',           // fragmented
                    0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};                      // ping
  ASSERT_EQ(feed_all<ClientFrameDecoder>(bytes, r), CloseCode::none);
  ASSERT_EQ(r.frames.size(), 4u);
  EXPECT_EQ(r.frames[0].payload, "Hello");
  EXPECT_EQ(r.frames[1].op, Opcode::text);
  EXPECT_FALSE(r.frames[1].fin);
  EXPECT_EQ(r.frames[1].payload, "Hel");
  EXPECT_EQ(r.frames[2].op, Opcode::continuation);
  EXPECT_TRUE(r.frames[2].fin);
  EXPECT_EQ(r.frames[2].payload, "lo");
  EXPECT_EQ(r.frames[3].op, Opcode::ping);
}

TEST(FrameCodec, WritesTheRfcMaskedHello) {
  EXPECT_EQ(client_frame(Opcode::text, true, "Hello"),
            (Bytes{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(server_frame(Opcode::text, true, "Hello"), (Bytes{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(server_frame(Opcode::ping, true, "Hello"), (Bytes{0x89, 0x05, 'H', 'e', 'l', 'l', 'o'}));
}

// ---- lengths ----------------------------------------------------------------

TEST(FrameCodec, WritesMinimalLengthEncodings) {
  std::uint8_t h[14];
  EXPECT_EQ(write_frame_header(h, Opcode::binary, true, 0), 2u);
  EXPECT_EQ(h[0], 0x82);
  EXPECT_EQ(h[1], 0x00);
  EXPECT_EQ(write_frame_header(h, Opcode::binary, false, 125), 2u);
  EXPECT_EQ(h[0], 0x02);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(write_frame_header(h, Opcode::binary, true, 126), 4u);
  EXPECT_EQ((Bytes(h, h + 4)), (Bytes{0x82, 126, 0x00, 0x7e}));
  EXPECT_EQ(write_frame_header(h, Opcode::binary, true, 256), 4u);  // RFC 6455 5.7
  EXPECT_EQ((Bytes(h, h + 4)), (Bytes{0x82, 0x7e, 0x01, 0x00}));
  EXPECT_EQ(write_frame_header(h, Opcode::binary, true, 65535), 4u);
  EXPECT_EQ((Bytes(h, h + 4)), (Bytes{0x82, 126, 0xff, 0xff}));
  EXPECT_EQ(write_frame_header(h, Opcode::binary, true, 65536), 10u);  // RFC 6455 5.7
  EXPECT_EQ((Bytes(h, h + 10)), (Bytes{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(write_frame_header(h, Opcode::text, true, 0x0102030405060708), 10u);
  EXPECT_EQ((Bytes(h, h + 10)), (Bytes{0x81, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8}));

  EXPECT_EQ(write_client_frame_header(h, Opcode::text, true, 125, 0x01020304), 6u);
  EXPECT_EQ((Bytes(h, h + 6)), (Bytes{0x81, 0xfd, 1, 2, 3, 4}));
  EXPECT_EQ(write_client_frame_header(h, Opcode::text, true, 65535, 0x01020304), 8u);
  EXPECT_EQ((Bytes(h, h + 8)), (Bytes{0x81, 0xfe, 0xff, 0xff, 1, 2, 3, 4}));
  EXPECT_EQ(write_client_frame_header(h, Opcode::close, true, 65536, 0xa1b2c3d4), 14u);
  EXPECT_EQ((Bytes(h, h + 14)), (Bytes{0x88, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0xa1, 0xb2, 0xc3, 0xd4}));
}

TEST(FrameCodec, DecodesEveryLengthEncodingAtItsBoundaries) {
  for (std::size_t n : {0, 1, 125, 126, 127, 65535, 65536, 100000}) {
    SCOPED_TRACE(n);
    const std::string payload = text_of_length(n);
    Bytes bytes = client_frame(Opcode::binary, true, payload);
    const std::size_t header = n <= 125 ? 6 : n <= 65535 ? 8 : 14;
    EXPECT_EQ(bytes.size(), header + n);
    Recorder r;
    ASSERT_EQ(feed_all(bytes, r), CloseCode::none);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0].length, n);
    EXPECT_EQ(r.frames[0].payload, payload);
    EXPECT_TRUE(r.frames[0].ended);

    Recorder rc;
    ASSERT_EQ(feed_all<ClientFrameDecoder>(server_frame(Opcode::binary, true, payload), rc), CloseCode::none);
    ASSERT_EQ(rc.frames.size(), 1u);
    EXPECT_EQ(rc.frames[0].payload, payload);
  }
}

// Decision: non-minimal 16- and 64-bit lengths are accepted (the value is exact).
TEST(FrameCodec, AcceptsNonMinimalLengthEncodings) {
  Recorder r;
  const Bytes bytes = concat({raw_frame(0x81, 126, {0, 5}, "short"), raw_frame(0x81, 127, {0, 0, 0, 0, 0, 0, 0, 5}, "hello"),
                              raw_frame(0x82, 127, {0, 0, 0, 0, 0, 0, 0, 200}, text_of_length(200)),
                              raw_frame(0x82, 126, {0, 0}, "")});
  ASSERT_EQ(feed_all(bytes, r), CloseCode::none);
  ASSERT_EQ(r.frames.size(), 4u);
  EXPECT_EQ(r.frames[0].payload, "short");
  EXPECT_EQ(r.frames[1].payload, "hello");
  EXPECT_EQ(r.frames[2].payload, text_of_length(200));
  EXPECT_EQ(r.frames[3].length, 0u);
  EXPECT_EQ(r.trace, "SPESPESPESE");
}

TEST(FrameCodec, RejectsA64BitLengthWithTheTopBitSet) {
  EXPECT_EQ(decode_error(raw_frame(0x82, 127, {0x80, 0, 0, 0, 0, 0, 0, 1}, "")), CloseCode::protocol_error);
  EXPECT_EQ(decode_error(raw_frame(0x82, 127, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "")),
            CloseCode::protocol_error);
  // The largest legal length is a size question, not a framing one.
  EXPECT_EQ(decode_error(raw_frame(0x82, 127, {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "")),
            CloseCode::none);
  EXPECT_EQ(decode_error(raw_frame(0x82, 127, {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ""), 1 << 20),
            CloseCode::too_big);
}

// ---- framing rules -----------------------------------------------------------

TEST(FrameCodec, ServerDecoderRejectsUnmaskedFrames) {
  EXPECT_EQ(decode_error(raw_frame(0x81, 5, {}, "Hello", false)), CloseCode::protocol_error);
  EXPECT_EQ(decode_error(raw_frame(0x89, 0, {}, "", false)), CloseCode::protocol_error);
  Recorder r;
  EXPECT_EQ(feed_all(server_frame(Opcode::text, true, "Hello"), r), CloseCode::protocol_error);
  EXPECT_TRUE(r.frames.empty());
}

TEST(FrameCodec, ClientDecoderRejectsMaskedFrames) {
  Recorder r;
  EXPECT_EQ(feed_all<ClientFrameDecoder>(client_frame(Opcode::text, true, "Hello"), r), CloseCode::protocol_error);
  EXPECT_TRUE(r.frames.empty());
}

TEST(FrameCodec, RejectsReservedBits) {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
    SCOPED_TRACE(static_cast<int>(rsv));
    EXPECT_EQ(decode_error(raw_frame(0x81 | rsv, 2, {}, "hi")), CloseCode::protocol_error);
    EXPECT_EQ(decode_error(raw_frame(0x89 | rsv, 0, {}, "")), CloseCode::protocol_error);
  }
}

TEST(FrameCodec, AcceptsKnownOpcodesAndRejectsReservedOnes) {
  for (std::uint8_t op = 0; op < 16; ++op) {
    SCOPED_TRACE(static_cast<int>(op));
    const bool known = op == 1 || op == 2 || op == 8 || op == 9 || op == 10;
    EXPECT_EQ(decode_error(raw_frame(0x80 | op, 1, {}, "x")), known ? CloseCode::none : CloseCode::protocol_error);
  }
}

TEST(FrameCodec, ControlFramesMustBeFinalAndAtMost125Bytes) {
  for (std::uint8_t op : {0x8, 0x9, 0xa}) {
    SCOPED_TRACE(static_cast<int>(op));
    EXPECT_EQ(decode_error(raw_frame(op, 0, {}, "")), CloseCode::protocol_error);  // FIN clear
    EXPECT_EQ(decode_error(raw_frame(0x80 | op, 125, {}, text_of_length(125))), CloseCode::none);
    EXPECT_EQ(decode_error(raw_frame(0x80 | op, 126, {0, 126}, text_of_length(126))), CloseCode::protocol_error);
    // Even a small length in a 16- or 64-bit field: control lengths are 7-bit.
    EXPECT_EQ(decode_error(raw_frame(0x80 | op, 126, {0, 5}, "hello")), CloseCode::protocol_error);
    EXPECT_EQ(decode_error(raw_frame(0x80 | op, 127, {0, 0, 0, 0, 0, 0, 0, 5}, "hello")), CloseCode::protocol_error);
  }
}

TEST(FrameCodec, ContinuationNeedsAMessageInProgress) {
  EXPECT_EQ(decode_error(client_frame(Opcode::continuation, true, "x")), CloseCode::protocol_error);
  EXPECT_EQ(decode_error(client_frame(Opcode::continuation, false, "x")), CloseCode::protocol_error);
  // ... also after a message has finished.
  EXPECT_EQ(decode_error(concat({client_frame(Opcode::text, false, "a"), client_frame(Opcode::continuation, true, "b"),
                                 client_frame(Opcode::continuation, true, "c")})),
            CloseCode::protocol_error);
}

TEST(FrameCodec, NoNewDataFrameInsideAFragmentedMessage) {
  for (Opcode op : {Opcode::text, Opcode::binary}) {
    for (bool fin : {true, false}) {
      Recorder r;
      EXPECT_EQ(feed_all(concat({client_frame(Opcode::text, false, "a"), client_frame(op, fin, "b")}), r),
                CloseCode::protocol_error);
      EXPECT_EQ(r.frames.size(), 1u);  // the bad frame is never announced
    }
  }
}

TEST(FrameCodec, FragmentsWithAnInterleavedPing) {
  FrameDecoder decoder;
  Recorder r;
  Bytes first = client_frame(Opcode::text, false, "Hel");
  ASSERT_EQ(decoder.feed(first, no_limit, r), CloseCode::none);
  EXPECT_TRUE(decoder.in_message());
  Bytes middle = concat({client_frame(Opcode::ping, true, "p"), client_frame(Opcode::continuation, false, "l"),
                         client_frame(Opcode::pong, true, ""), client_frame(Opcode::close, true, "")});
  ASSERT_EQ(decoder.feed(middle, no_limit, r), CloseCode::none);
  EXPECT_TRUE(decoder.in_message());
  Bytes last = client_frame(Opcode::continuation, true, "o");
  ASSERT_EQ(decoder.feed(last, no_limit, r), CloseCode::none);
  EXPECT_FALSE(decoder.in_message());

  ASSERT_EQ(r.frames.size(), 6u);
  const Opcode ops[] = {Opcode::text, Opcode::ping, Opcode::continuation, Opcode::pong, Opcode::close,
                        Opcode::continuation};
  const bool fins[] = {false, true, false, true, true, true};
  const char* payloads[] = {"Hel", "p", "l", "", "", "o"};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(r.frames[i].op, ops[i]) << i;
    EXPECT_EQ(r.frames[i].fin, fins[i]) << i;
    EXPECT_EQ(r.frames[i].payload, payloads[i]) << i;
  }
  // A new message may follow.
  Bytes next = client_frame(Opcode::binary, true, "next");
  EXPECT_EQ(decoder.feed(next, no_limit, r), CloseCode::none);
}

TEST(FrameCodec, InMessageIsFalseInTheFinalFragmentsEnd) {
  struct Probe {
    const FrameDecoder* decoder;
    std::string seen;
    bool on_frame_start(Opcode, bool, std::uint64_t) {
      seen += decoder->in_message() ? 'm' : '-';
      return true;
    }
    void on_frame_payload(std::span<std::uint8_t>) {}
    bool on_frame_end() {
      seen += decoder->in_message() ? 'M' : '_';
      return true;
    }
  };
  FrameDecoder decoder;
  Probe probe{&decoder, {}};
  Bytes bytes = concat({client_frame(Opcode::text, true, "one"), client_frame(Opcode::text, false, "t"),
                        client_frame(Opcode::ping, true, ""), client_frame(Opcode::continuation, true, "wo")});
  ASSERT_EQ(decoder.feed(bytes, no_limit, probe), CloseCode::none);
  EXPECT_EQ(probe.seen, "-_mMmM-_");
}

// ---- zero-length frames ------------------------------------------------------

TEST(FrameCodec, ZeroLengthFramesStartAndEnd) {
  Recorder r;
  const Bytes bytes = concat({client_frame(Opcode::text, true, ""), client_frame(Opcode::binary, false, ""),
                              client_frame(Opcode::continuation, false, ""), client_frame(Opcode::ping, true, ""),
                              client_frame(Opcode::continuation, true, ""), client_frame(Opcode::close, true, "")});
  ASSERT_EQ(feed_all(bytes, r), CloseCode::none);
  EXPECT_EQ(r.trace, "SESESESESESE");
  ASSERT_EQ(r.frames.size(), 6u);
  for (const Frame& f : r.frames) EXPECT_TRUE(f.ended);
}

// ---- size limit --------------------------------------------------------------

TEST(FrameCodec, LimitOnASingleFrame) {
  const std::string payload = text_of_length(1000);
  EXPECT_EQ(decode_error(client_frame(Opcode::text, true, payload), 1000), CloseCode::none);
  EXPECT_EQ(decode_error(client_frame(Opcode::text, true, payload), 999), CloseCode::too_big);
  EXPECT_EQ(decode_error(client_frame(Opcode::binary, true, ""), 0), CloseCode::none);
  EXPECT_EQ(decode_error(client_frame(Opcode::binary, true, "x"), 0), CloseCode::too_big);
}

TEST(FrameCodec, LimitCountsAllFragmentsButNotControlFrames) {
  const auto message = [](std::size_t last) {
    return concat({client_frame(Opcode::binary, false, text_of_length(400)),
                   client_frame(Opcode::ping, true, text_of_length(125)),
                   client_frame(Opcode::continuation, false, text_of_length(300)),
                   client_frame(Opcode::continuation, true, text_of_length(last))});
  };
  EXPECT_EQ(decode_error(message(300), 1000), CloseCode::none);  // exactly the limit
  Recorder r;
  EXPECT_EQ(feed_all(message(301), r, 1000), CloseCode::too_big);
  EXPECT_EQ(r.frames.size(), 3u);  // the frame that crosses the limit is never announced
  // The count starts again with each message.
  EXPECT_EQ(decode_error(concat({message(300), message(300)}), 1000), CloseCode::none);
  EXPECT_EQ(decode_error(concat({message(300), client_frame(Opcode::text, true, text_of_length(1000))}), 1000),
            CloseCode::none);
}

TEST(FrameCodec, TooBigIsDecidedFromTheHeaderAlone) {
  // Only the header of a 1 GiB frame arrives: the answer must not wait for the payload.
  std::uint8_t h[14];
  const std::size_t n = write_client_frame_header(h, Opcode::text, true, std::uint64_t{1} << 30, rfc_key);
  FrameDecoder decoder;
  Recorder r;
  EXPECT_EQ(decoder.feed(std::span(h, n), 1 << 20, r), CloseCode::too_big);
  EXPECT_TRUE(r.frames.empty());

  // The same across fragments: the second header alone crosses the limit.
  FrameDecoder second;
  Recorder r2;
  Bytes first = client_frame(Opcode::text, false, text_of_length(600));
  ASSERT_EQ(second.feed(first, 1000, r2), CloseCode::none);
  const std::size_t m = write_client_frame_header(h, Opcode::continuation, true, 401, rfc_key);
  EXPECT_EQ(second.feed(std::span(h, m), 1000, r2), CloseCode::too_big);
  EXPECT_EQ(r2.frames.size(), 1u);
}

}  // namespace
