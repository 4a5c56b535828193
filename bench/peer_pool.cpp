// ClientPool's side of the peers (`--peer`): each peer's connect steps after
// the WebSocket upgrade, its frames in, and its framing of a message out.
// Allspark's own flow is in ws_client.cpp.
#include <string>

#include "peer_mqtt.hpp"
#include "peer_nats.hpp"
#include "peer_socketio.hpp"
#include "ws_client.hpp"

namespace allspark::bench {

void ClientPool::subscribe(std::uint32_t conn, std::string name) {
  nodes_[conn].subscriptions.push_back(std::move(name));
}

void ClientPool::become_open(std::uint32_t conn) {
  connections_[conn].phase = Phase::open;
  ++handshakes_done_;
}

// Straight to the upgrade on the endpoint: peers have no preconnect.
void ClientPool::start_peer_upgrade(std::uint32_t conn) {
  Connection& c = connections_[conn];
  c.phase = Phase::upgrade;
  c.greeting = 0;
  if (!open_socket(conn, endpoint_.host, endpoint_.port)) return;
  const NodeInfo& info = nodes_[conn];
  c.out = peer_upgrade_request(peer_, endpoint_.host, endpoint_.port, info.node_id, info.subscriptions, info.ws_key);
}

// Right after the 101: the client speaks first on MQTT; the others wait for
// the server (NATS INFO, engine.io open, the relay's "ready").
void ClientPool::on_peer_upgraded(std::uint32_t conn) {
  if (peer_ == Peer::mqtt) queue_frame(conn, net::Opcode::binary, mqtt::connect_packet(nodes_[conn].node_id));
}

void ClientPool::on_peer_text(std::uint32_t conn, std::string_view text, std::int64_t now_ns,
                              const MessageSink& sink) {
  ++counters_.frames_received;
  Connection& c = connections_[conn];
  if (peer_ == Peer::ws) {
    if (c.phase == Phase::open) {
      if (sink.on_message == nullptr) return void(++counters_.unexpected);
      return sink.on_message(sink.context, conn, text, now_ns);
    }
    if (text != "ready") return fail(conn, "expected the relay's ready, got " + std::string(text.substr(0, 200)));
    return become_open(conn);
  }
  // Socket.IO
  std::string_view body;
  switch (socketio::classify(text, body)) {
    case socketio::Packet::event:
      if (c.phase != Phase::open || sink.on_message == nullptr) return void(++counters_.unexpected);
      return sink.on_message(sink.context, conn, body, now_ns);
    case socketio::Packet::ping:
      return queue_text(conn, socketio::pong);
    case socketio::Packet::open:
      if (c.phase == Phase::welcome && c.greeting == 0) {
        c.greeting = 1;
        return queue_text(conn, socketio::join);
      }
      break;
    case socketio::Packet::joined:
      if (c.phase == Phase::welcome && c.greeting == 1) return become_open(conn);
      break;
    case socketio::Packet::refused:
    case socketio::Packet::other:
      break;
  }
  fail(conn, "unexpected Socket.IO packet " + std::string(text.substr(0, 200)));
}

struct ClientPool::NatsEvents {
  ClientPool& pool;
  std::uint32_t conn;
  std::int64_t now_ns;
  const MessageSink& sink;

  bool on_msg(std::string_view subject, std::string_view, std::string_view body) {
    ++pool.counters_.frames_received;
    if (pool.connections_[conn].phase != Phase::open || sink.on_message == nullptr) {
      ++pool.counters_.unexpected;
      return true;
    }
    pool.current_subject_ = subject;
    sink.on_message(sink.context, conn, body, now_ns);
    pool.current_subject_ = {};
    return pool.connections_[conn].fd >= 0;
  }
  // INFO opens the greeting: CONNECT, the SUBs, and a PING whose PONG says
  // the server has processed them.
  bool on_info() {
    Connection& c = pool.connections_[conn];
    if (c.phase != Phase::welcome || c.greeting != 0) return true;
    c.greeting = 1;
    const NodeInfo& info = pool.nodes_[conn];
    std::string text = nats::connect_text(info.node_id);
    std::uint32_t sid = 0;
    for (const auto& subject : info.subscriptions) nats::append_sub(text, subject, ++sid);
    text += "PING\r\n";
    pool.queue_frame(conn, net::Opcode::binary, text);
    return true;
  }
  bool on_ping() {
    pool.queue_frame(conn, net::Opcode::binary, "PONG\r\n");
    return true;
  }
  bool on_pong() {
    Connection& c = pool.connections_[conn];
    if (c.phase == Phase::welcome && c.greeting == 1) pool.become_open(conn);
    return true;
  }
  bool on_err(std::string_view line) {
    pool.fail(conn, "NATS: " + std::string(line.substr(0, 200)));
    return false;
  }
};

struct ClientPool::MqttEvents {
  ClientPool& pool;
  std::uint32_t conn;
  std::int64_t now_ns;
  const MessageSink& sink;

  bool on_publish(std::string_view topic, std::string_view payload) {
    ++pool.counters_.frames_received;
    if (pool.connections_[conn].phase != Phase::open || sink.on_message == nullptr) {
      ++pool.counters_.unexpected;
      return true;
    }
    pool.current_subject_ = topic;
    sink.on_message(sink.context, conn, payload, now_ns);
    pool.current_subject_ = {};
    return pool.connections_[conn].fd >= 0;
  }
  bool on_connack(unsigned char code) {
    Connection& c = pool.connections_[conn];
    if (code != 0) {
      pool.fail(conn, "MQTT CONNACK refused with code " + std::to_string(code));
      return false;
    }
    if (c.phase != Phase::welcome || c.greeting != 0) return true;
    const auto& topics = pool.nodes_[conn].subscriptions;
    if (topics.empty()) {
      pool.become_open(conn);
    } else {
      c.greeting = 1;
      pool.queue_frame(conn, net::Opcode::binary, mqtt::subscribe_packet(1, topics));
    }
    return true;
  }
  bool on_suback(std::string_view granted) {
    Connection& c = pool.connections_[conn];
    if (granted.find('\x80') != std::string_view::npos) {
      pool.fail(conn, "MQTT SUBACK refused a topic");
      return false;
    }
    if (c.phase == Phase::welcome && c.greeting == 1) pool.become_open(conn);
    return true;
  }
  bool on_other(unsigned) { return true; }  // PINGRESP and the like
};

void ClientPool::on_stream(std::uint32_t conn, std::string_view bytes, std::int64_t now_ns,
                           const MessageSink& sink) {
  Connection& c = connections_[conn];
  // Read in place from the read buffer; only an operation split across
  // frames or reads is gathered in `stream` first.
  std::string_view data = bytes;
  if (!c.stream.empty()) {
    c.stream.append(bytes);
    data = c.stream;
  }
  std::size_t used = 0;
  if (peer_ == Peer::nats) {
    NatsEvents events{*this, conn, now_ns, sink};
    used = nats::read_operations(data, events);
  } else {
    MqttEvents events{*this, conn, now_ns, sink};
    used = mqtt::read_packets(data, events);
  }
  if (c.fd < 0) return;
  if (used == std::string_view::npos) {
    return fail(conn, std::string(peer_name(peer_)) + ": unreadable server data " + std::string(data.substr(0, 120)));
  }
  if (c.stream.empty()) {
    if (used < data.size()) c.stream.assign(data.substr(used));
  } else {
    c.stream.erase(0, used);
  }
}

void ClientPool::queue_message(std::uint32_t conn, std::string_view to, std::string_view body,
                               std::string_view reply) {
  switch (peer_) {
    case Peer::allspark:
    case Peer::ws:
      return queue_frame(conn, net::Opcode::text, body);
    case Peer::socketio:
      return queue_frame_parts(conn, net::Opcode::text, socketio::event_head, body, socketio::event_tail);
    case Peer::nats: {
      char head[512];
      if (to.size() + reply.size() + 32 > sizeof head) return fail(conn, "NATS subject too long");
      std::size_t size = nats::write_pub_head(head, to, reply, body.size());
      return queue_frame_parts(conn, net::Opcode::binary, std::string_view(head, size), body, nats::crlf);
    }
    case Peer::mqtt: {
      char head[512];
      if (to.size() + 8 > sizeof head) return fail(conn, "MQTT topic too long");
      std::size_t size = mqtt::write_publish_head(head, to, body.size());
      return queue_frame_parts(conn, net::Opcode::binary, std::string_view(head, size), body, {});
    }
  }
}

}  // namespace allspark::bench
