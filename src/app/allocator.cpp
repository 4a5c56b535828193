#include "app/allocator.hpp"

#if ALLSPARK_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace allspark::app {

#if ALLSPARK_WITH_JEMALLOC
std::string allocator_name() {
  const char* version = nullptr;
  std::size_t size = sizeof(version);
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) != 0 || version == nullptr) {
    return "jemalloc";
  }
  return std::string("jemalloc ") + version;
}

std::optional<std::uint64_t> thread_allocated_bytes() {
  std::uint64_t allocated = 0;
  std::size_t size = sizeof(allocated);
  if (mallctl("thread.allocated", &allocated, &size, nullptr, 0) != 0) return std::nullopt;
  return allocated;
}
#else
std::string allocator_name() { return "system malloc"; }

std::optional<std::uint64_t> thread_allocated_bytes() { return std::nullopt; }
#endif

}  // namespace allspark::app
