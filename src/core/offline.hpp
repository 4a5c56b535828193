#pragma once
// What the router hands to the durable side of delivery (src/inbox): messages
// for nodes with no live connection, new connections that may have a backlog,
// acknowledgements. A cold boundary (offline recipients, connects, acks), so
// a virtual interface; the live path never calls it.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/body.hpp"
#include "protocol/message.hpp"

namespace allspark::core {

struct Connection;
struct Node;

// Where -4 and errors go: a connection, maybe on another shard.
struct Sender {
  std::uint32_t shard = 0;
  std::uint64_t serial = 0;
};

class Offline {
 public:
  virtual ~Offline() = default;
  // A message for `node`, which has no live connection here (its home shard).
  // `src_id` is the sender as the recipient sees it.
  virtual void keep(Node& node, Sender sender, std::string_view id, std::string_view src_id, bool ephemeral,
                    const Body& body, std::int64_t now_ms) = 0;
  // After the welcome: queue what the node has not acknowledged.
  virtual void on_attach(Connection& connection) = 0;
  virtual void on_detach(Connection& connection) = 0;
  // A {"type": -7, ...} from the connection's node.
  virtual void acknowledge(Connection& connection, const protocol::Message& message) = 0;
  // A {"type": -101, ...} config request (fetch_inbox) from the connection.
  virtual void request(Connection& connection, const protocol::Message& message) = 0;
  // The connection's send queue was written out (a paced replay goes on).
  virtual void on_drained(Connection& connection) = 0;
  // A node connected with a client_id for the first time.
  virtual void remember_client_node(std::string_view client_id, std::string_view node_id) = 0;
  // End of a batch: what was kept goes to the store in one call.
  virtual void end_batch() = 0;
};

}  // namespace allspark::core
