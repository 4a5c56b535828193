#pragma once
// A counter written by one thread (its shard) and read by any (/metrics):
// relaxed load and store, no locked read-modify-write on the hot path.
#include <atomic>
#include <cstdint>

namespace allspark::core {

class Counter {
 public:
  void add(std::uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(std::uint64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace allspark::core
