#include "app/allocator.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace allspark::app {
namespace {

#if ALLSPARK_WITH_JEMALLOC
// Linked, and in use: malloc itself goes through jemalloc, whose count of
// this thread's allocations grows by what is asked.
TEST(Allocator, MallocIsJemallocWhenTheBuildLinksIt) {
  EXPECT_EQ(allocator_name().rfind("jemalloc ", 0), 0u) << allocator_name();
  std::optional<std::uint64_t> before = thread_allocated_bytes();
  ASSERT_TRUE(before.has_value());
  constexpr std::size_t size = 1u << 20;
  auto* block = static_cast<char*>(std::malloc(size));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, size);
  asm volatile("" : : "r"(block) : "memory");  // the block is used: the call stays
  std::optional<std::uint64_t> after = thread_allocated_bytes();
  std::free(block);
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(*after - *before, size);
}
#else
TEST(Allocator, TheSystemMallocCountsNothing) {
  EXPECT_EQ(allocator_name(), "system malloc");
  EXPECT_FALSE(thread_allocated_bytes().has_value());
}
#endif

}  // namespace
}  // namespace allspark::app
