#pragma once
// One live edge between a node and this server (PROTOCOL.md section 1): the
// state the router sees. The net layer embeds it in its own connection object
// and points `transport` back at that object. Owned by one shard's thread.
#include <cstdint>
#include <string>

#include "core/send_queue.hpp"
#include "protocol/token.hpp"

namespace allspark::core {

struct Node;

struct Connection {
  Node* node = nullptr;
  void* transport = nullptr;      // the net layer's connection object
  SendQueue queue;
  std::string id;                 // connection_id, server-generated
  std::uint64_t serial = 0;       // finds it again when a store answer comes back
  protocol::Role role = protocol::Role::node;
  std::uint16_t close_code = 0;   // a close the router asks for (4001 slow consumer)
  bool dirty = false;             // in the router's list of connections to flush
  bool attached = false;
  bool waiting = false;           // acks of its messages are in flight: the inbox decides what waits
  SendQueue* held = nullptr;      // set while its inbox is replayed: live frames wait here (section 3)
};

}  // namespace allspark::core
