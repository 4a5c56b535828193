// MessageDecoder::decode against simdjson's DOM parser (DESIGN.md "JSON in":
// our own scanner only if measured faster). The DOM parser is the fair
// comparison: like ours it validates every value (simdjson's on-demand API
// skips what it is not asked for). Both reuse their buffers across messages.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <string>

#include "protocol/message.hpp"

namespace {

using allspark::protocol::DecodeError;
using allspark::protocol::JsonScanner;
using allspark::protocol::Message;
using allspark::protocol::MessageDecoder;

// A chat message as a browser sends it.
const std::string typical_message =
    R"({"type":1,"id":"msg-000123","dest_session_id":"room.lobby","ack":true,)"
    R"("payload":{"text":"hello, how are you doing today?","mentions":["alice"]}})";

// About 1 KB: a larger application payload with nesting, numbers and escapes.
std::string large_message() {
  std::string text = R"({"type":42,"id":"msg-9f8e7d6c","dest_id":"device-7.tab-2","dest_client_id":"user.1234",)";
  text += R"("payload":{"items":[)";
  for (int i = 0; i < 8; ++i) {
    if (i != 0) text += ',';
    text += R"({"sku":"item-)" + std::to_string(1000 + i) +
            R"(","qty":)" + std::to_string(i + 1) +
            R"(,"price":)" + std::to_string(19.5 + i) +
            R"(,"note":"line \"quoted\" \u00e9t\u00e9\n","tags":["a","b"],"ok":true})";
  }
  text += R"(],"total":-1234.5e-2,"meta":null},"payload1":"tail","x-trace":"abcdef0123456789"})";
  return text;
}

void set_counters(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["bytes"] = static_cast<double>(bytes);
}

void decode(benchmark::State& state, const std::string& text) {
  MessageDecoder decoder;
  Message message;
  DecodeError error;
  for (auto _ : state) {
    const bool ok = decoder.decode(text, message, error);
    if (!ok) state.SkipWithError(error.message.c_str());
    benchmark::DoNotOptimize(message);
  }
  set_counters(state, text.size());
}

void scan(benchmark::State& state, const std::string& text) {
  JsonScanner scanner;
  for (auto _ : state) {
    benchmark::DoNotOptimize(scanner.scan(text));
    benchmark::DoNotOptimize(scanner.members().data());
  }
  set_counters(state, text.size());
}

void simdjson_dom(benchmark::State& state, const std::string& text, bool read_fields) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(text);
  for (auto _ : state) {
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc) != simdjson::SUCCESS) state.SkipWithError("simdjson refused the text");
    if (read_fields) {  // roughly what decode() reads; raw bytes are not available in 3.0.1
      std::int64_t type = 0;
      std::string_view id;
      benchmark::DoNotOptimize(doc["type"].get(type));
      benchmark::DoNotOptimize(doc["id"].get(id));
      benchmark::DoNotOptimize(doc["dest_id"].get(id));
      benchmark::DoNotOptimize(doc["payload"].error());
    }
    benchmark::DoNotOptimize(doc);
  }
  set_counters(state, text.size());
}

const std::string large = large_message();

BENCHMARK_CAPTURE(decode, typical, typical_message);
BENCHMARK_CAPTURE(decode, large, large);
BENCHMARK_CAPTURE(scan, typical, typical_message);
BENCHMARK_CAPTURE(scan, large, large);
BENCHMARK_CAPTURE(simdjson_dom, typical, typical_message, false);
BENCHMARK_CAPTURE(simdjson_dom, large, large, false);
BENCHMARK_CAPTURE(simdjson_dom, typical_with_fields, typical_message, true);
BENCHMARK_CAPTURE(simdjson_dom, large_with_fields, large, true);

}  // namespace
