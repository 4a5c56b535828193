#pragma once
// The malloc the server runs on. Every build but the sanitizer and fuzz ones
// links jemalloc (CMake option ALLSPARK_JEMALLOC): its per-thread caches keep
// a batch's allocations off glibc's slow path (bench/README.md "The
// allocator"). Those two keep the system's, which the sanitizers replace.
#include <cstdint>
#include <optional>
#include <string>

namespace allspark::app {

// "jemalloc 5.3.0-0-g…" or "system malloc", for the start-up line.
std::string allocator_name();

// Bytes the calling thread has allocated since it started, when the
// allocator counts them (jemalloc's "thread.allocated"); else nullopt.
std::optional<std::uint64_t> thread_allocated_bytes();

}  // namespace allspark::app
