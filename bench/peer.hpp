#pragma once
// Which server the generator talks to (`--peer`): Allspark itself, or one of
// the peers a user would pick instead (bench/compare.sh starts them). Each
// peer's protocol is spoken by the generator itself (peer_nats, peer_mqtt,
// peer_socketio; the `ws` relay is bench/peers/ws_relay.js), so the client
// side costs the same for everyone. ClientPool switches on it: a switch, not
// a virtual call, on the hot path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allspark::bench {

enum class Peer : std::uint8_t { allspark, nats, mqtt, socketio, ws };

std::optional<Peer> peer_from_name(std::string_view name);
const char* peer_name(Peer peer);

// NATS and MQTT are byte streams carried in WebSocket frames (a message may
// span frames, a frame may hold many); the others send one message a frame.
inline bool peer_is_stream(Peer peer) { return peer == Peer::nats || peer == Peer::mqtt; }

// The upgrade request that opens a peer's connection for node `node_id`
// (Allspark's own connect flow is in handshake.hpp). Socket.IO and the ws
// relay learn the node and its rooms from the query string.
std::string peer_upgrade_request(Peer peer, std::string_view host, std::uint16_t port, std::string_view node_id,
                                 const std::vector<std::string>& rooms, std::string_view ws_key);

}  // namespace allspark::bench
