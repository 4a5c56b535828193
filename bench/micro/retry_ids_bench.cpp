// RetryIds (src/inbox/retry_ids.hpp) as `ack` uses it: each message a new id,
// find then add, in steady state (both generations full, per_generation as
// in tracks.hpp). Run:
//   taskset -c 1 build/<dir>/bench/allspark-micro --benchmark_filter=RetryIds --benchmark_repetitions=5
// The server touches other memory between acks (frames, tracks, the store's
// queue), so the `_busy` variants walk 2 MB of a buffer larger than the L3
// every 64 ids, outside the timed part: what is measured is RetryIds' own
// misses once its lines were evicted, not a table sitting in the cache.
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "inbox/retry_ids.hpp"

namespace {

using allspark::inbox::RetryIds;

constexpr std::size_t per_generation = 1u << 18;  // tracks.hpp retry_ids_max
constexpr std::int64_t window_ms = 10 * 60 * 1000;
constexpr std::size_t in_flight = 64;  // the newest tracks are still being stored

// "bench-recv-00001 m-123456": the node id and message id allspark-bench sends.
struct Ids {
  std::string key = "bench-recv-00001 m-";
  std::size_t prefix = key.size();
  std::string_view next(std::uint64_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    key.resize(prefix);
    key.append(digits, end);
    return key;
  }
};

// Memory touched between batches of ids: 2 MB of a 64 MB buffer, in turn.
struct OtherWork {
  static constexpr std::size_t total = 64u << 20;
  static constexpr std::size_t step = 2u << 20;
  std::vector<char> memory = std::vector<char>(total, 1);
  std::size_t at = 0;
  void touch() {
    for (std::size_t i = at; i < at + step; i += 64) ++memory[i];
    at = (at + step) % total;
    benchmark::ClobberMemory();
  }
};

void new_ids(benchmark::State& state, bool busy) {
  std::uint64_t track = 0;
  RetryIds ids(per_generation, window_ms,
               {[&track](std::uint64_t t) { return t + in_flight > track; }, [](std::uint64_t, std::string_view) {}});
  Ids keys;
  OtherWork other;
  // Steady state: both generations full of older ids.
  for (std::size_t i = 0; i < 3 * per_generation; ++i) {
    ++track;
    ids.add(keys.next(track), {0, track}, 0);
  }
  std::uint64_t found = 0;
  for (auto _ : state) {
    ++track;
    std::string_view key = keys.next(track);
    if (ids.find(key, 0)) ++found;
    benchmark::DoNotOptimize(ids.add(key, {0, track}, 0));
    if (busy && track % 64 == 0) {
      state.PauseTiming();
      other.touch();
      state.ResumeTiming();
    }
  }
  if (found != 0) state.SkipWithError("a new id was found");
  state.SetItemsProcessed(state.iterations());
}

// A retry: find an id added a generation ago (the rarer case, for balance).
void retried_ids(benchmark::State& state, bool busy) {
  std::uint64_t track = 0;
  RetryIds ids(per_generation, window_ms,
               {[](std::uint64_t) { return false; }, [](std::uint64_t, std::string_view) {}});
  Ids keys;
  OtherWork other;
  for (std::size_t i = 0; i < 3 * per_generation; ++i) {
    ++track;
    ids.add(keys.next(track), {0, track}, 0);
  }
  // Whichever generation the newest id went into, the newest per_generation are known.
  std::uint64_t first = track - per_generation + 1;
  std::uint64_t n = 0;
  std::uint64_t missing = 0;
  for (auto _ : state) {
    std::uint64_t id = first + (n * 40503) % per_generation;  // scattered over the generation
    ++n;
    if (!ids.find(keys.next(id), 0)) ++missing;
    if (busy && n % 64 == 0) {
      state.PauseTiming();
      other.touch();
      state.ResumeTiming();
    }
  }
  if (missing != 0) state.SkipWithError("a remembered id was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_RetryIds_new(benchmark::State& state) { new_ids(state, false); }
void BM_RetryIds_new_busy(benchmark::State& state) { new_ids(state, true); }
void BM_RetryIds_retry(benchmark::State& state) { retried_ids(state, false); }
void BM_RetryIds_retry_busy(benchmark::State& state) { retried_ids(state, true); }

BENCHMARK(BM_RetryIds_new);
BENCHMARK(BM_RetryIds_new_busy);
BENCHMARK(BM_RetryIds_retry);
BENCHMARK(BM_RetryIds_retry_busy);

}  // namespace
