#pragma once
// The SQLite store's tests share this: a temp folder per test, frames with
// bytes a text-mangling layer would break, and a fixture with one store open.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"

namespace allspark::store::testing_support {

using allspark::store::InboxEntry;
using allspark::store::InboxState;
using allspark::store::open_sqlite_store;
using allspark::store::Store;

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "allspark-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A frame as the server would store it, with bytes that a text-mangling
// layer would break (UTF-8, an escaped NUL, quotes).
inline std::string frame_for(const std::string& node, std::uint64_t seq, std::size_t padding = 0) {
  return R"({"type":1,"src_id":"s","dest_id":")" + node + R"(","seq":)" + std::to_string(seq) +
         R"(,"data":"h\u00e9llo \u0000 \"q\" ✓ )" + std::string(padding, 'x') + R"("})";
}

inline InboxEntry entry_for(const std::string& node, std::uint64_t seq, std::size_t padding = 0) {
  return InboxEntry{node, seq, 1'700'000'000'000 + static_cast<std::int64_t>(seq), frame_for(node, seq, padding)};
}

struct Fetched {
  std::vector<InboxEntry> entries;
  bool more = false;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir.path().empty());
    reopen();
  }

  void reopen() {
    store.reset();  // at most one store per file
    std::string error;
    store = open_sqlite_store(db_path(), error);
    ASSERT_NE(store, nullptr) << error;
  }

  std::string db_path() const { return (dir.path() / "data" / "allspark.db").string(); }

  bool append_now(std::vector<InboxEntry> entries) {
    bool result = false;
    store->append(std::move(entries), [&](bool ok) { result = ok; });
    store->flush();  // the callback ran before flush returns
    return result;
  }

  Fetched fetch_now(const std::string& node, std::uint64_t after, std::size_t max_entries = 1000,
                    std::size_t max_bytes = 1u << 20) {
    Fetched out;
    store->fetch(node, after, UINT64_MAX, max_entries, max_bytes, [&](std::vector<InboxEntry> entries, bool more) {
      out = Fetched{std::move(entries), more};
    });
    store->flush();
    return out;
  }

  std::map<std::string, InboxState> states() {
    std::map<std::string, InboxState> out;
    for (InboxState& state : store->load_inbox_states()) out[state.node_id] = state;
    return out;
  }

  TempDir dir;
  std::unique_ptr<Store> store;
};

inline std::vector<std::uint64_t> seqs_of(const Fetched& fetched) {
  std::vector<std::uint64_t> out;
  for (const InboxEntry& entry : fetched.entries) out.push_back(entry.seq);
  return out;
}

}  // namespace allspark::store::testing_support
