// The embedded store's cost per row: rows appended and then acknowledged
// (inserted, later deleted) per second, by rows per transaction. Each
// iteration is one transaction: the acks of the previous batch and the
// appends of this one, then flush. On a temp folder (TMPDIR).
// Run: build/<dir>/bench/allspark-micro --benchmark_filter=SqliteStore
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"

namespace {

using allspark::store::InboxEntry;
using allspark::store::Store;

constexpr std::size_t node_count = 16;

class BenchFolder {
 public:
  BenchFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "allspark-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  BenchFolder(const BenchFolder&) = delete;
  BenchFolder& operator=(const BenchFolder&) = delete;
  ~BenchFolder() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A typical chat message as stored: ~250 bytes of JSON.
std::string frame_for(const std::string& node, std::uint64_t seq) {
  return R"({"type":1,"id":"m-)" + std::to_string(seq) + R"(","src_id":"sender-node-0001","dest_id":")" + node +
         R"(","seq":)" + std::to_string(seq) +
         R"(,"payload":{"text":"The quick brown fox jumps over the lazy dog, then checks its inbox.",)"
         R"("at":1700000000000}})";
}

struct Nodes {
  std::array<std::string, node_count> ids;
  std::array<std::uint64_t, node_count> last_seq{};
  std::array<std::uint64_t, node_count> acked{};
  std::size_t next = 0;

  Nodes() {
    for (std::size_t i = 0; i < node_count; ++i) ids[i] = "bench-node-" + std::to_string(i);
  }

  // The next `count` rows, spread over the nodes as a busy server's are.
  std::vector<InboxEntry> make_batch(std::size_t count) {
    std::vector<InboxEntry> entries;
    entries.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t n = next++ % node_count;
      const std::uint64_t seq = ++last_seq[n];
      entries.push_back(InboxEntry{ids[n], seq, 1'700'000'000'000, frame_for(ids[n], seq)});
    }
    return entries;
  }

  // Acknowledges every row appended so far: each row is inserted in one
  // transaction and deleted in the next.
  void ack_previous(Store& store) {
    for (std::size_t n = 0; n < node_count; ++n) {
      if (acked[n] == last_seq[n]) continue;
      store.ack(ids[n], last_seq[n]);
      acked[n] = last_seq[n];
    }
  }
};

std::unique_ptr<Store> open_or_skip(benchmark::State& state, const BenchFolder& folder) {
  std::string error;
  auto store = allspark::store::open_sqlite_store((folder.path() / "allspark.db").string(), error);
  if (!store) state.SkipWithError(error.c_str());
  return store;
}

void report(benchmark::State& state, const Store& store, std::int64_t rows) {
  const auto stats = store.stats();
  if (stats.failures != 0) state.SkipWithError("store failures");
  state.SetItemsProcessed(rows);
  const double transactions = static_cast<double>(stats.transactions);
  state.counters["rows_per_txn"] = transactions == 0 ? 0.0 : static_cast<double>(stats.entries_written) / transactions;
  // Microseconds of wall time per row appended and acknowledged.
  state.counters["us_per_row"] = benchmark::Counter(static_cast<double>(rows) / 1e6,
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One append call carrying the batch (a shard hands its rows over at once).
void BM_SqliteStore_AppendAck(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  BenchFolder folder;
  auto store = open_or_skip(state, folder);
  if (!store) return;
  Nodes nodes;
  std::int64_t rows = 0;
  for (auto _ : state) {
    // Rows are built first so that the acks and the append reach the queue
    // back to back and the store's thread takes them as one transaction.
    std::vector<InboxEntry> entries = nodes.make_batch(batch);
    nodes.ack_previous(*store);
    store->append(std::move(entries), [](bool) {});
    store->flush();
    rows += static_cast<std::int64_t>(batch);
  }
  report(state, *store, rows);
}
BENCHMARK(BM_SqliteStore_AppendAck)->Arg(1)->Arg(64)->Arg(256)->Arg(1024)->UseRealTime();

// The same rows as one append call each (the queue's own cost per call).
void BM_SqliteStore_AppendAckPerCall(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  BenchFolder folder;
  auto store = open_or_skip(state, folder);
  if (!store) return;
  Nodes nodes;
  std::int64_t rows = 0;
  for (auto _ : state) {
    std::vector<InboxEntry> entries = nodes.make_batch(batch);
    nodes.ack_previous(*store);
    for (InboxEntry& entry : entries) {
      std::vector<InboxEntry> one;  // not {entry}: an initializer list copies
      one.push_back(std::move(entry));
      store->append(std::move(one), [](bool) {});
    }
    store->flush();
    rows += static_cast<std::int64_t>(batch);
  }
  report(state, *store, rows);
}
BENCHMARK(BM_SqliteStore_AppendAckPerCall)->Arg(1)->Arg(64)->Arg(256)->Arg(1024)->UseRealTime();

}  // namespace
