// Micro-benchmarks of the data path's parsing: frame decoding, unmasking,
// UTF-8 validation. Run: build/<dir>/bench/allspark-micro --benchmark_filter=Frame\|Utf8
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net/frame_codec.hpp"
#include "protocol/utf8.hpp"

namespace {

using allspark::net::CloseCode;
using allspark::net::FrameDecoder;
using allspark::net::Opcode;

struct CountingHandler {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  bool on_frame_start(Opcode, bool, std::uint64_t) { return true; }
  void on_frame_payload(std::span<std::uint8_t> chunk) {
    bytes += chunk.size();
    benchmark::DoNotOptimize(chunk.data());
  }
  bool on_frame_end() {
    ++frames;
    return true;
  }
};

std::vector<std::uint8_t> masked_frames(std::size_t count, std::size_t payload_size) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t header[14];
    const std::uint32_t key = 0x9e3779b9u * static_cast<std::uint32_t>(i + 1);
    const std::size_t n = allspark::net::write_client_frame_header(header, Opcode::text, true, payload_size, key);
    out.insert(out.end(), header, header + n);
    const std::size_t start = out.size();
    for (std::size_t j = 0; j < payload_size; ++j) out.push_back(static_cast<std::uint8_t>('a' + j % 26));
    allspark::net::apply_mask(out.data() + start, payload_size, key);
  }
  return out;
}

// Unmasking happens in place, so each pass flips the payload between masked
// and clear: the work is the same every time, and no copy is timed.
void frame_decode(benchmark::State& state, std::size_t frames_per_buffer) {
  std::vector<std::uint8_t> buffer = masked_frames(frames_per_buffer, 100);
  CountingHandler handler;
  for (auto _ : state) {
    FrameDecoder decoder;
    const CloseCode code = decoder.feed(buffer, 1 << 20, handler);
    benchmark::DoNotOptimize(code);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(handler.frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buffer.size()));
}

void BM_FrameDecodeMaskedText100(benchmark::State& state) { frame_decode(state, 1); }
BENCHMARK(BM_FrameDecodeMaskedText100);

void BM_FrameDecodeMaskedText100x64(benchmark::State& state) { frame_decode(state, 64); }
BENCHMARK(BM_FrameDecodeMaskedText100x64);

void BM_FrameUnmask(benchmark::State& state) {
  std::vector<std::uint8_t> data(static_cast<std::size_t>(state.range(0)), 0x5a);
  for (auto _ : state) {
    allspark::net::apply_mask(data.data() + 1, data.size() - 1, 0x01020304);  // unaligned start
    benchmark::DoNotOptimize(data.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (data.size() - 1)));
}
BENCHMARK(BM_FrameUnmask)->Arg(101)->Arg(4097)->Arg(65537);

void utf8_validate(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(allspark::protocol::is_valid_utf8(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_Utf8Ascii1K(benchmark::State& state) {
  std::string text;
  while (text.size() < 1024) text += "{\"type\":1,\"dest_id\":\"phone1\",\"payload\":{\"text\":\"hello\"}} ";
  text.resize(1024);
  utf8_validate(state, text);
}
BENCHMARK(BM_Utf8Ascii1K);

void BM_Utf8Mixed1K(benchmark::State& state) {
  // Latin, Greek, CJK and an emoji between ASCII: 1-4 byte sequences.
  const std::string piece = "caf\xc3\xa9 \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 ok; ";
  std::string text;
  while (text.size() + piece.size() <= 1024) text += piece;
  while (text.size() < 1024) text += ' ';
  utf8_validate(state, text);
}
BENCHMARK(BM_Utf8Mixed1K);

}  // namespace
