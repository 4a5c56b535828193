#pragma once
// Per-connection state of an upgraded WebSocket on the data path: a plain
// struct (STYLE.md 3). It holds no read buffer: reads go into the shard's
// buffer, and only a message split across reads or fragments is assembled
// here. Owned by its shard's thread.
#include <cstdint>
#include <string>

#include "core/connection.hpp"
#include "net/frame_codec.hpp"

namespace allspark::net {

enum class WsState : std::uint8_t {
  open,
  closing,  // a close frame was queued; waiting for it to be written and for the peer
  dead,     // socket closed; freed after the current batch
};

struct WsConnection {
  core::Connection core;
  FrameDecoder decoder;
  std::string message;      // data frames being assembled (only while incomplete)
  std::string control;      // a control frame's payload being assembled
  std::int64_t closing_deadline_ms = 0;
  std::uint64_t frame_length = 0;
  std::uint64_t frame_received = 0;
  int fd = -1;
  std::uint32_t last_heard_tick = 0;  // the shard's ping tick when the peer last sent anything
  std::uint32_t slot = 0;             // its index in the shard's list of live connections
  Opcode frame_opcode = Opcode::continuation;  // of the current frame
  // One byte for the four flags, so that `slot` fits in what was padding.
  bool frame_fin : 1 = false;
  bool message_binary : 1 = false;
  bool peer_closed : 1 = false;  // the peer sent its close frame
  bool shut_down : 1 = false;    // our close frame was written and the write side shut
  WsState state = WsState::open;
};

// Memory per idle connection is a published figure (DESIGN.md): growing this
// struct is a decision, not an accident. Part 2 shrinks it further.
static_assert(sizeof(WsConnection) <= 248, "WsConnection grew: measure idle memory again");

}  // namespace allspark::net
