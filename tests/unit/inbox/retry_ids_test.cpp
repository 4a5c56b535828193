// The retry-id table on its own (PROTOCOL.md section 6's retry window): the
// window's edge, generations, and ids still being stored, which are never
// forgotten and whose text moves with them.
#include "inbox/retry_ids.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

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

}  // namespace
