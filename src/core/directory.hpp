#pragma once
// The node/client model of one shard: which nodes exist, their live
// connections, and which nodes each client owns (PROTOCOL.md section 1).
// Owned by the shard's thread; no locks.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace allspark::core {

struct Connection;

struct Node {
  std::string id;
  std::string client_id;                 // empty when its keys name no client
  std::string dest_head;                 // `{"dest_id":"<id>",`: the per-recipient head of its frames
  std::vector<Connection*> connections;  // live ones
  std::uint64_t route_mark = 0;          // de-duplicates a node within one routing
  std::uint64_t last_seq = 0;            // inbox: the highest seq given (PROTOCOL.md section 6)
  std::uint64_t acked_seq = 0;           // inbox: everything up to here was acknowledged
  std::uint32_t home = 0;                // the shard that owns it; elsewhere it is a shadow
  std::uint32_t sessions = 0;            // memberships: a member node stays known

  bool has_stored() const { return last_seq > acked_seq; }
};

struct Client {
  std::vector<Node*> nodes;  // nodes that have connected with this client_id
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Directory {
 public:
  Node* find_node(std::string_view node_id) const;
  Client* find_client(std::string_view client_id) const;

  // The node, created when it is new (a destination may have an inbox before
  // it ever connects).
  Node& ensure_node(std::string_view node_id);
  // Records that a node belongs to a client (it connected with that
  // client_id); true when that is new.
  bool set_client(Node& node, std::string_view client_id);

  // Adds a live connection to a node, creating the node.
  Node& attach(Connection& connection, std::string_view node_id);
  // Removes a live connection. A node with no connection, no client and no
  // inbox is forgotten.
  void detach(Connection& connection);

 private:
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> nodes_;
  std::unordered_map<std::string, Client, StringHash, std::equal_to<>> clients_;
};

}  // namespace allspark::core
