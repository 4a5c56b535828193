#pragma once
// A connection's bounded send queue of shared, already-serialised frames
// (DESIGN.md). A ring of small entries; an idle connection that never received
// holds no storage. The net layer frames and writes the entries (many per
// writev) and pops what was written.
#include <cstddef>
#include <cstdint>

#include "core/body.hpp"

namespace allspark::core {

enum class FrameKind : std::uint8_t { text, close, ping, pong, raw };  // raw: bytes as they are (the HTTP 101)

// One outgoing frame: an optional per-recipient head (owned by the recipient
// node, e.g. `{"dest_id":"phone1",`) followed by a shared body.
struct OutFrame {
  Body* body;
  const char* head;
  std::uint32_t head_len;
  FrameKind kind;

  std::size_t size() const { return head_len + body->size(); }
};

class SendQueue {
 public:
  SendQueue() = default;
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;
  ~SendQueue() { clear(); }

  // Takes a reference to frame.body. False (and nothing queued) when the
  // queue would pass `limit_bytes`: the connection is a slow consumer.
  bool push(const OutFrame& frame, std::size_t limit_bytes);

  bool empty() const { return count_ == 0; }
  std::size_t count() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  const OutFrame& at(std::size_t i) const { return ring_[(head_ + i) & (capacity_ - 1)]; }
  // Bytes of the front frame already written (a partial write), counted as
  // the writer frames them.
  std::size_t front_offset() const { return front_offset_; }
  void set_front_offset(std::size_t offset) { front_offset_ = static_cast<std::uint32_t>(offset); }

  // The front frame was written: releases it.
  void pop_front();
  // Drops everything queued.
  void clear();
  // Drops everything but a partly written front frame or an unwritten 101
  // (raw), which must go out for the stream to stay well-formed.
  void drop_unstarted();

 private:
  void grow();

  OutFrame* ring_ = nullptr;
  std::uint32_t capacity_ = 0;  // a power of two
  std::uint32_t head_ = 0;
  std::uint32_t count_ = 0;
  std::uint32_t front_offset_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace allspark::core
