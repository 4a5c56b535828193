// The retry-id table on its own (PROTOCOL.md section 6's retry window): the
// window's edge, generations, and ids still being stored, which are never
// forgotten and whose text moves with them.
#include "inbox/retry_ids.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

using allspark::inbox::RetryIds;

namespace {

constexpr std::int64_t window = 600'000;

struct RetryIdsTest : ::testing::Test {
  std::set<std::uint64_t> live;                       // tracks still being stored
  std::map<std::uint64_t, std::string_view> views;    // as the owner keeps them
  RetryIds ids{2, window,
               {[this](std::uint64_t track) { return live.contains(track); },
                [this](std::uint64_t track, std::string_view key) { views[track] = key; }}};

  void add(const std::string& key, std::uint64_t track, std::int64_t at_ms = 0) {
    views[track] = ids.add(key, {at_ms, track}, at_ms);
  }
  bool known(const std::string& key, std::int64_t now_ms = 0) { return ids.find(key, now_ms).has_value(); }
};

TEST_F(RetryIdsTest, AnIdIsKnownUntilTheEndOfTheWindowExactly) {
  add("a m1", 1, 1000);
  EXPECT_TRUE(known("a m1", 1000 + window));
  EXPECT_FALSE(known("a m1", 1000 + window + 1));
  EXPECT_FALSE(known("a m2", 1000));
  EXPECT_EQ(views[1], "a m1");
}

TEST_F(RetryIdsTest, TheNewestPerGenerationIdsAreAlwaysKnownOlderOnesGo) {
  for (int i = 1; i <= 5; ++i) add("a m" + std::to_string(i), static_cast<std::uint64_t>(i));
  // Generations of 2: {m5} and {m3, m4}; m1 and m2 were dropped.
  EXPECT_FALSE(known("a m1"));
  EXPECT_FALSE(known("a m2"));
  EXPECT_TRUE(known("a m3"));
  EXPECT_TRUE(known("a m4"));
  EXPECT_TRUE(known("a m5"));
  EXPECT_EQ(ids.size(), 3u);
}

TEST_F(RetryIdsTest, AnIdBeingStoredIsNeverForgottenAndItsTextMoves) {
  add("a m1", 1);
  add("bbbbbbbb m2", 2);  // being stored, not first in its arena
  live.insert(2);
  const char* before = views[2].data();
  for (int i = 3; i <= 8; ++i) add("a m" + std::to_string(i), static_cast<std::uint64_t>(i));
  EXPECT_FALSE(known("a m1"));
  EXPECT_TRUE(known("bbbbbbbb m2"));
  // Its owner's view was moved and still reads its text, though the old place was reused.
  EXPECT_EQ(views[2], "bbbbbbbb m2");
  EXPECT_NE(views[2].data(), before);
  // Past the window, too, while it is being stored; then it ages out.
  EXPECT_TRUE(known("bbbbbbbb m2", 10 * window));
  add("a late", 9, 10 * window);  // the older generation, all past the window, goes
  EXPECT_TRUE(known("bbbbbbbb m2", 10 * window));
  EXPECT_EQ(views[2], "bbbbbbbb m2");
  live.clear();
  EXPECT_FALSE(known("bbbbbbbb m2", 10 * window));
}

TEST_F(RetryIdsTest, IdsBeingStoredDoNotShortenAGeneration) {
  for (int i = 1; i <= 4; ++i) {
    add("a live" + std::to_string(i), static_cast<std::uint64_t>(100 + i));
    live.insert(static_cast<std::uint64_t>(100 + i));
  }
  add("a m1", 1);  // the four live ids were carried into this generation
  add("a m2", 2);
  add("a m3", 3);  // only now is the generation full of new ids
  EXPECT_TRUE(known("a m1"));
  EXPECT_TRUE(known("a m2"));
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(known("a live" + std::to_string(i)));
}

TEST_F(RetryIdsTest, EraseForgetsOnlyTheEntryOfThatTrack) {
  add("a m1", 1);
  ids.erase("a m1", 2);
  EXPECT_TRUE(known("a m1"));
  ids.erase("a m1", 1);
  EXPECT_FALSE(known("a m1"));
}

TEST_F(RetryIdsTest, AnIdErasedThenAddedAgainIsFoundWithItsNewEntry) {
  add("a m1", 1, 5);
  ids.erase("a m1", 1);  // its slot stays, its record is gone
  add("a m1", 2, 7);
  ASSERT_TRUE(known("a m1", 7));
  EXPECT_EQ(ids.find("a m1", 7)->track, 2u);
  ids.erase("a m1", 1);  // the old track's erase no longer applies
  EXPECT_TRUE(known("a m1", 7));
  EXPECT_EQ(ids.size(), 1u);
}

// Erasing ids carried into the newer generation must not make it look full
// (fewer ids than were carried): the older one, with ids among the newest,
// would be dropped early.
TEST_F(RetryIdsTest, ErasingCarriedIdsDoesNotDropTheOlderGenerationEarly) {
  add("a live", 100);
  live.insert(100);
  add("a m1", 1);
  add("a m2", 2);  // {a live, m1} is the older generation, {m2} the newer
  add("a m3", 3);
  add("a m4", 4);  // {m2, m3} older; {a live (carried), m4} newer
  ids.erase("a m4", 4);  // both stores failed: forgotten
  live.erase(100);
  ids.erase("a live", 100);
  add("a m5", 5);
  // m5 and m3 are the newest two ids.
  EXPECT_TRUE(known("a m5"));
  EXPECT_TRUE(known("a m3"));
  EXPECT_TRUE(known("a m2"));
}

// Two keys whose hashes share the fingerprint (the high 32 bits): with two
// ids per generation the table has a single line, so they share it too.
TEST_F(RetryIdsTest, KeysWithTheSameFingerprintAreToldApart) {
  std::unordered_map<std::uint32_t, std::string> seen;
  std::string first, second;
  for (int i = 0; second.empty(); ++i) {
    std::string key = "a m" + std::to_string(i);
    auto [it, added] = seen.emplace(static_cast<std::uint32_t>(RetryIds::hash(key) >> 32), key);
    if (!added) first = it->second, second = key;
  }
  ASSERT_EQ(ids.lines(), 1u);
  add(first, 1, 10);
  EXPECT_FALSE(known(second, 10));
  add(second, 2, 20);
  EXPECT_EQ(ids.find(first, 20)->track, 1u);
  EXPECT_EQ(ids.find(second, 20)->track, 2u);
  EXPECT_EQ(views[1], first);
  EXPECT_EQ(views[2], second);
  ids.erase(second, 1);  // not its track
  ids.erase(first, 1);
  EXPECT_FALSE(known(first, 20));
  EXPECT_EQ(ids.find(second, 20)->track, 2u);
}

TEST_F(RetryIdsTest, ManyIdsBeingStoredGrowTheTableAndAreAllKept) {
  for (std::uint64_t i = 1; i <= 200; ++i) {
    add("a live" + std::to_string(i), 1000 + i);
    live.insert(1000 + i);
  }
  for (std::uint64_t i = 1; i <= 20; ++i) add("a m" + std::to_string(i), i);
  EXPECT_GT(ids.lines(), 16u);
  for (std::uint64_t i = 1; i <= 200; ++i) {
    EXPECT_TRUE(known("a live" + std::to_string(i)));
    EXPECT_EQ(views[1000 + i], "a live" + std::to_string(i));
  }
  EXPECT_TRUE(known("a m20"));
  EXPECT_FALSE(known("a m1"));
  EXPECT_EQ(ids.size(), 200u + 4u);  // m19 and m20 in the newer generation, m17 and m18 in the older
}

// A table of several megabytes, grown from a small one (its lines then come
// from allocate_for_random_access's 2 MB path): every id of the two
// generations is found, and a generation dropped in it leaves the newer one
// whole.
TEST(RetryIdsLarge, ATableOfSeveralMegabytesKeepsEveryIdOfBothGenerations) {
  constexpr std::size_t per_generation = 1u << 17;
  RetryIds ids{per_generation, window, {}};
  auto key = [](std::size_t i) { return "node-" + std::to_string(i % 7) + " m" + std::to_string(i); };
  for (std::size_t i = 0; i < 2 * per_generation; ++i) ids.add(key(i), {0, 0}, 0);
  EXPECT_GE(ids.lines() * 64, std::size_t{4} << 20);
  EXPECT_EQ(ids.size(), 2 * per_generation);
  std::size_t missing = 0;
  for (std::size_t i = 0; i < 2 * per_generation; ++i) missing += ids.find(key(i), 0) ? 0 : 1;
  EXPECT_EQ(missing, 0u);
  ids.add(key(2 * per_generation), {0, 0}, 0);  // the older generation goes
  EXPECT_FALSE(ids.find(key(0), 0));
  EXPECT_TRUE(ids.find(key(per_generation), 0));
  EXPECT_TRUE(ids.find(key(2 * per_generation), 0));
  EXPECT_EQ(ids.size(), per_generation + 1);
}

// From 2 MB up a block is 2 MB-aligned (so the kernel can back it with 2 MB
// pages) and usable to its end; a smaller one has the alignment asked.
TEST(RandomAccessMemory, LargeBlocksAreAlignedToTwoMegabytesSmallOnesAsAsked) {
  constexpr std::size_t mb = std::size_t{1} << 20;
  for (std::size_t bytes : {2 * mb, 3 * mb, 8 * mb + 1}) {
    void* block = allspark::inbox::allocate_for_random_access(bytes, 64);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % (2 * mb), 0u) << bytes;
    std::memset(block, 1, bytes);  // all of it is ours (ASan would say otherwise)
    allspark::inbox::free_for_random_access(block, bytes, 64);
  }
  for (std::size_t bytes : {std::size_t{64}, mb, 2 * mb - 1}) {
    void* block = allspark::inbox::allocate_for_random_access(bytes, 64);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 64, 0u) << bytes;
    std::memset(block, 1, bytes);
    allspark::inbox::free_for_random_access(block, bytes, 64);
  }
}

// The same rules, written plainly (two maps of std::string), against which
// RetryIds is checked on random traffic shaped as Tracks sends it: an id is
// added only when `find` did not know it, erased when its store failed.
struct Model {
  struct Generation {
    std::unordered_map<std::string, RetryIds::Entry> ids;
    std::int64_t newest_ms = 0;
    std::size_t carried = 0;
  };
  std::size_t per_generation;
  const std::set<std::uint64_t>& live;
  Generation newer, older;

  bool is_live(const RetryIds::Entry& entry) const { return entry.track != 0 && live.contains(entry.track); }
  std::optional<RetryIds::Entry> find(const std::string& key, std::int64_t now_ms) const {
    for (const Generation* generation : {&newer, &older}) {
      if (auto it = generation->ids.find(key); it != generation->ids.end()) {
        if (it->second.at_ms < now_ms - window && !is_live(it->second)) return std::nullopt;
        return it->second;
      }
    }
    return std::nullopt;
  }
  void drop(Generation& gone, const Generation& other) {
    std::vector<std::pair<std::string, RetryIds::Entry>> moving;
    for (const auto& [key, entry] : gone.ids) {
      if (is_live(entry) && !other.ids.contains(key)) moving.emplace_back(key, entry);
    }
    gone = {};
    for (const auto& [key, entry] : moving) {
      newer.ids[key] = entry;
      newer.newest_ms = std::max(newer.newest_ms, entry.at_ms);
      ++newer.carried;
    }
  }
  void add(const std::string& key, RetryIds::Entry entry, std::int64_t now_ms) {
    if (!older.ids.empty() && older.newest_ms < now_ms - window) drop(older, newer);
    if (newer.ids.size() >= per_generation + newer.carried) {
      std::swap(newer, older);
      drop(newer, older);
    }
    newer.newest_ms = std::max(newer.newest_ms, entry.at_ms);
    newer.ids[key] = entry;
  }
  void erase(const std::string& key, std::uint64_t track) {
    for (Generation* generation : {&newer, &older}) {
      if (auto it = generation->ids.find(key); it != generation->ids.end() && it->second.track == track) {
        generation->ids.erase(it);
        return;
      }
    }
  }
};

void check_against_model(std::size_t per_generation, std::size_t distinct_keys, std::uint32_t seed) {
  SCOPED_TRACE("per_generation " + std::to_string(per_generation) + ", seed " + std::to_string(seed));
  std::set<std::uint64_t> live;
  std::map<std::uint64_t, std::string_view> views;
  std::map<std::uint64_t, std::string> keys;  // of the live tracks
  RetryIds ids{per_generation, window,
               {[&](std::uint64_t track) { return live.contains(track); },
                [&](std::uint64_t track, std::string_view key) { views[track] = key; }}};
  Model model{per_generation, live, {}, {}};
  std::mt19937 random(seed);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random); };
  std::int64_t now = 0;
  std::uint64_t next_track = 0;
  for (int step = 0; step < 20000; ++step) {
    now += pick(10) == 0 ? static_cast<std::int64_t>(pick(window / 2)) : 1;
    std::string key = "n" + std::to_string(pick(3)) + " m" + std::to_string(pick(distinct_keys));
    auto known = ids.find(key, now);
    auto expected = model.find(key, now);
    ASSERT_EQ(known.has_value(), expected.has_value()) << key << " at step " << step;
    if (known) {
      ASSERT_EQ(known->track, expected->track) << key;
      ASSERT_EQ(known->at_ms, expected->at_ms) << key;
    } else {
      std::uint64_t track = pick(8) == 0 ? 0 : ++next_track;  // 0: restored at start-up
      views[track] = ids.add(key, {now, track}, now);
      model.add(key, {now, track}, now);
      ASSERT_EQ(views[track], key);
      if (track != 0 && pick(2) == 0) {
        live.insert(track);
        keys[track] = key;
      }
    }
    if (!live.empty() && pick(3) == 0) {  // a track finishes: stored, or (1 in 4) not, and forgotten
      auto it = std::next(live.begin(), static_cast<std::ptrdiff_t>(pick(live.size())));
      std::uint64_t track = *it;
      live.erase(it);
      if (pick(4) == 0) {
        ids.erase(keys[track], track);
        model.erase(keys[track], track);
      }
      keys.erase(track);
    }
    ASSERT_EQ(ids.size(), model.newer.ids.size() + model.older.ids.size()) << "at step " << step;
    for (const auto& [track, key] : keys) ASSERT_EQ(views[track], key) << "track " << track;
  }
}

TEST(RetryIdsModel, SmallGenerationsWithChainsOverFewLines) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) check_against_model(3, 12, seed);
}

TEST(RetryIdsModel, LargerGenerationsThatGrowTheTable) {
  for (std::uint32_t seed = 1; seed <= 3; ++seed) check_against_model(200, 300, seed);
}

}  // namespace
