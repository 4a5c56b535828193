#pragma once
// A frame body serialised once and shared by every recipient of a fan-out
// (DESIGN.md "Threads and the hot path"). Reference-counted without atomics:
// a body lives on the shard that made it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace allspark::core {

class Body {
 public:
  static Body* copy_of(std::string_view bytes) {
    void* memory = std::malloc(sizeof(Body) + bytes.size());
    if (memory == nullptr) throw std::bad_alloc();
    auto* body = new (memory) Body(static_cast<std::uint32_t>(bytes.size()));
    if (!bytes.empty()) std::memcpy(body->data(), bytes.data(), bytes.size());
    return body;
  }

  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::uint32_t size() const { return size_; }
  std::string_view view() const { return {data(), size_}; }

  void retain() { ++refs_; }
  void release() {
    if (--refs_ == 0) {
      this->~Body();
      std::free(this);
    }
  }

 private:
  explicit Body(std::uint32_t size) : size_(size) {}
  std::uint32_t refs_ = 1;
  std::uint32_t size_;
};

}  // namespace allspark::core
