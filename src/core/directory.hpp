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

  // Adds a live connection to a node, creating the node and recording it
  // under its client.
  Node& attach(Connection& connection, std::string_view node_id, std::string_view client_id);
  // Removes a live connection. A node with no connection and no client is forgotten.
  void detach(Connection& connection);

 private:
  void set_client(Node& node, std::string_view client_id);

  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> nodes_;
  std::unordered_map<std::string, Client, StringHash, std::equal_to<>> clients_;
};

}  // namespace allspark::core
