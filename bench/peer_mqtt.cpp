#include "peer_mqtt.hpp"

#include <cstring>

namespace allspark::bench::mqtt {
namespace {

// Remaining length (2.2.3) into `out`; returns its bytes.
std::size_t write_length(char* out, std::size_t length) {
  std::size_t n = 0;
  do {
    auto byte = static_cast<unsigned char>(length & 0x7f);
    length >>= 7;
    if (length > 0) byte |= 0x80;
    out[n++] = static_cast<char>(byte);
  } while (length > 0);
  return n;
}

void append_string(std::string& out, std::string_view text) {
  out += static_cast<char>(text.size() >> 8);
  out += static_cast<char>(text.size() & 0xff);
  out += text;
}

std::string packet(unsigned char first, const std::string& body) {
  char length[4];
  std::string out(1, static_cast<char>(first));
  out.append(length, write_length(length, body.size()));
  return out + body;
}

}  // namespace

std::string connect_packet(std::string_view client_id) {
  std::string body;
  append_string(body, "MQTT");
  body += '\x04';  // protocol level 4: 3.1.1
  body += '\x02';  // clean session
  body += '\0';    // keep-alive 0: off
  body += '\0';
  append_string(body, client_id);
  return packet(0x10, body);
}

std::string subscribe_packet(std::uint16_t packet_id, const std::vector<std::string>& topics) {
  std::string body;
  body += static_cast<char>(packet_id >> 8);
  body += static_cast<char>(packet_id & 0xff);
  for (const auto& topic : topics) {
    append_string(body, topic);
    body += '\0';  // QoS 0
  }
  return packet(0x82, body);  // SUBSCRIBE has flags 0010 (3.8.1)
}

std::size_t write_publish_head(char* out, std::string_view topic, std::size_t body_size) {
  out[0] = '\x30';  // PUBLISH, QoS 0, no retain
  std::size_t n = 1 + write_length(out + 1, 2 + topic.size() + body_size);
  out[n++] = static_cast<char>(topic.size() >> 8);
  out[n++] = static_cast<char>(topic.size() & 0xff);
  std::memcpy(out + n, topic.data(), topic.size());
  return n + topic.size();
}

}  // namespace allspark::bench::mqtt
