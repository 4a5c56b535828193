#pragma once
// MQTT 3.1.1 over WebSockets (subprotocol "mqtt", binary frames carrying a
// byte stream, MQTT 3.1.1 section 6): CONNECT/CONNACK, SUBSCRIBE/SUBACK at
// QoS 0, PUBLISH at QoS 0, and a resumable reader of the server's packets.
// Pure: bytes in, events out; ClientPool does the I/O.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace allspark::bench::mqtt {

// CONNECT (3.1): clean session, no keep-alive (the generator never idles).
std::string connect_packet(std::string_view client_id);
// SUBSCRIBE (3.8) to every topic at QoS 0.
std::string subscribe_packet(std::uint16_t packet_id, const std::vector<std::string>& topics);

// The fixed header and topic of a QoS 0 PUBLISH (3.3) whose payload is
// `body_size` bytes, into `out` (room for the topic + 7). Returns the bytes written.
std::size_t write_publish_head(char* out, std::string_view topic, std::size_t body_size);

// Reads whole packets from the start of `data` and returns the bytes they
// took, or npos when an event asked to stop or the stream is not MQTT.
// Events (each returns false to stop):
//   on_publish(topic, payload)   on_connack(return_code)   on_suback(granted)   on_other(type)
template <class Events>
std::size_t read_packets(std::string_view data, Events& events) {
  constexpr std::size_t stop = std::string_view::npos;
  std::size_t at = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  while (data.size() - at >= 2) {
    unsigned type = bytes[at] >> 4;
    // Remaining length: 1 to 4 bytes, 7 bits each (2.2.3).
    std::size_t length = 0, i = at + 1;
    unsigned shift = 0;
    for (;; ++i, shift += 7) {
      if (i >= data.size()) return at;
      if (shift > 21) return stop;
      length |= static_cast<std::size_t>(bytes[i] & 0x7f) << shift;
      if ((bytes[i] & 0x80) == 0) break;
    }
    std::size_t body = i + 1;
    if (data.size() - body < length) return at;
    std::string_view packet = data.substr(body, length);
    bool go_on = true;
    if (type == 3) {  // PUBLISH; QoS 0 has no packet id
      if (packet.size() < 2) return stop;
      std::size_t topic_size = (static_cast<std::size_t>(bytes[body]) << 8) | bytes[body + 1];
      if (packet.size() < 2 + topic_size) return stop;
      std::size_t skip = 2 + topic_size + (((bytes[at] >> 1) & 3) != 0 ? 2 : 0);
      if (packet.size() < skip) return stop;
      go_on = events.on_publish(packet.substr(2, topic_size), packet.substr(skip));
    } else if (type == 2) {  // CONNACK
      go_on = packet.size() >= 2 && events.on_connack(static_cast<unsigned char>(packet[1]));
    } else if (type == 9) {  // SUBACK: packet id, then a granted QoS (or 0x80) per topic
      go_on = packet.size() >= 2 && events.on_suback(packet.substr(2));
    } else {
      go_on = events.on_other(type);
    }
    if (!go_on) return stop;
    at = body + length;
  }
  return at;
}

}  // namespace allspark::bench::mqtt
