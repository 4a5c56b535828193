#include "core/directory.hpp"

#include <algorithm>

#include "core/connection.hpp"

namespace allspark::core {

Node* Directory::find_node(std::string_view node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

Client* Directory::find_client(std::string_view client_id) const {
  auto it = clients_.find(client_id);
  return it == clients_.end() ? nullptr : const_cast<Client*>(&it->second);
}

Node& Directory::ensure_node(std::string_view node_id) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) {
    auto node = std::make_unique<Node>();
    node->id = node_id;
    // Ids are from [A-Za-z0-9._:@-]: nothing to escape.
    node->dest_head = "{\"dest_id\":\"" + node->id + "\",";
    it = nodes_.emplace(node->id, std::move(node)).first;
  }
  return *it->second;
}

Node& Directory::attach(Connection& connection, std::string_view node_id) {
  Node& node = ensure_node(node_id);
  node.connections.push_back(&connection);
  connection.node = &node;
  connection.attached = true;
  return node;
}

bool Directory::set_client(Node& node, std::string_view client_id) {
  if (node.client_id == client_id || client_id.empty()) return false;
  if (!node.client_id.empty()) {
    auto it = clients_.find(node.client_id);
    if (it != clients_.end()) {
      std::erase(it->second.nodes, &node);
      if (it->second.nodes.empty()) clients_.erase(it);
    }
  }
  node.client_id = client_id;
  if (!client_id.empty()) {
    auto it = clients_.find(client_id);
    if (it == clients_.end()) it = clients_.emplace(std::string(client_id), Client{}).first;
    it->second.nodes.push_back(&node);
  }
  return true;
}

void Directory::detach(Connection& connection) {
  if (!connection.attached) return;
  connection.attached = false;
  Node* node = connection.node;
  std::erase(node->connections, &connection);
  // A node of a client stays known, so that the client's offline nodes can be
  // told apart from unknown ones.
  // A node with an inbox keeps its seq, which only grows.
  if (node->connections.empty() && node->client_id.empty() && node->last_seq == 0 && node->sessions == 0)
    nodes_.erase(node->id);
}

}  // namespace allspark::core
