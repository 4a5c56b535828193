#include "core/send_queue.hpp"

#include <cstdlib>
#include <new>

namespace allspark::core {

namespace {
constexpr std::uint32_t initial_capacity = 8;
// A drained queue keeps a small ring (no allocation per message for a busy
// connection) but gives back a large one grown by a burst.
constexpr std::uint32_t kept_capacity = 64;
}  // namespace

bool SendQueue::push(const OutFrame& frame, std::size_t limit_bytes) {
  std::size_t size = frame.size();
  if (bytes_ + size > limit_bytes) return false;
  if (count_ == capacity_) grow();
  ring_[(head_ + count_) & (capacity_ - 1)] = frame;
  ++count_;
  bytes_ += size;
  frame.body->retain();
  return true;
}

void SendQueue::grow() {
  std::uint32_t capacity = capacity_ == 0 ? initial_capacity : capacity_ * 2;
  auto* ring = static_cast<OutFrame*>(std::malloc(sizeof(OutFrame) * capacity));
  if (ring == nullptr) throw std::bad_alloc();
  for (std::uint32_t i = 0; i < count_; ++i) ring[i] = at(i);
  std::free(ring_);
  ring_ = ring;
  capacity_ = capacity;
  head_ = 0;
}

void SendQueue::pop_front() {
  OutFrame& front = ring_[head_];
  bytes_ -= front.size();
  front.body->release();
  head_ = (head_ + 1) & (capacity_ - 1);
  --count_;
  front_offset_ = 0;
  if (count_ == 0 && capacity_ > kept_capacity) clear();
}

void SendQueue::drop_unstarted() {
  std::uint32_t keep = front_offset_ > 0 || (count_ > 0 && ring_[head_].kind == FrameKind::raw) ? 1 : 0;
  while (count_ > keep) {
    OutFrame& last = ring_[(head_ + count_ - 1) & (capacity_ - 1)];
    bytes_ -= last.size();
    last.body->release();
    --count_;
  }
  if (count_ == 0) clear();
}

void SendQueue::clear() {
  for (std::uint32_t i = 0; i < count_; ++i) ring_[(head_ + i) & (capacity_ - 1)].body->release();
  std::free(ring_);
  ring_ = nullptr;
  capacity_ = head_ = count_ = front_offset_ = 0;
  bytes_ = 0;
}

}  // namespace allspark::core
