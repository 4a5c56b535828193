#include "peer.hpp"

#include "handshake.hpp"

namespace allspark::bench {

std::optional<Peer> peer_from_name(std::string_view name) {
  if (name == "allspark") return Peer::allspark;
  if (name == "nats") return Peer::nats;
  if (name == "mqtt") return Peer::mqtt;
  if (name == "socketio") return Peer::socketio;
  if (name == "ws") return Peer::ws;
  return std::nullopt;
}

const char* peer_name(Peer peer) {
  switch (peer) {
    case Peer::allspark: return "allspark";
    case Peer::nats: return "nats";
    case Peer::mqtt: return "mqtt";
    case Peer::socketio: return "socketio";
    case Peer::ws: return "ws";
  }
  return "?";
}

std::string peer_upgrade_request(Peer peer, std::string_view host, std::uint16_t port, std::string_view node_id,
                                 const std::vector<std::string>& rooms, std::string_view ws_key) {
  std::string target = "/";
  if (peer == Peer::mqtt) target = "/mqtt";
  if (peer == Peer::socketio || peer == Peer::ws) {
    target = peer == Peer::socketio ? "/socket.io/?EIO=4&transport=websocket&id=" : "/?id=";
    target += url_encode(node_id);
    std::string joined;
    for (const auto& room : rooms) {
      if (room == node_id) continue;  // the id is registered anyway
      if (!joined.empty()) joined += ',';
      joined += room;
    }
    if (!joined.empty()) target += "&rooms=" + url_encode(joined);
  }
  std::string out = "GET " + target + " HTTP/1.1\r\nHost: ";
  out += host;
  out += ':';
  out += std::to_string(port);
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ";
  out += ws_key;
  // MQTT over WebSockets names its subprotocol (MQTT 3.1.1 section 6).
  if (peer == Peer::mqtt) out += "\r\nSec-WebSocket-Protocol: mqtt";
  out += "\r\n\r\n";
  return out;
}

}  // namespace allspark::bench
