#pragma once
// Socket.IO 4 over a WebSocket (engine.io protocol 4, Socket.IO protocol 5):
// the server opens with engine.io "0{...}", the client joins the default
// namespace with "40" and is in when "40{...}" comes back; engine.io pings
// "2" are answered "3"; events travel as `42["msg",{...}]`. The generator's
// server is bench/peers/socketio_server.js.
#include <string_view>

namespace allspark::bench::socketio {

inline constexpr std::string_view join = "40";
inline constexpr std::string_view pong = "3";
inline constexpr std::string_view event_head = "42[\"msg\",";
inline constexpr std::string_view event_tail = "]";

enum class Packet { open, joined, refused, ping, event, other };

// What a text frame from the server is; for an event, `body` is its argument.
inline Packet classify(std::string_view text, std::string_view& body) {
  if (text.substr(0, event_head.size()) == event_head && text.size() > event_head.size() && text.back() == ']') {
    body = text.substr(event_head.size(), text.size() - event_head.size() - 1);
    return Packet::event;
  }
  if (text == "2") return Packet::ping;
  if (text.substr(0, 2) == "0{") return Packet::open;
  if (text.substr(0, 2) == "40") return Packet::joined;
  if (text.substr(0, 2) == "44") return Packet::refused;
  return Packet::other;
}

}  // namespace allspark::bench::socketio
