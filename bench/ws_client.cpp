#include "ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>

#include "protocol/token.hpp"

namespace allspark::bench {
namespace {

constexpr std::size_t read_buffer_bytes = 256 * 1024;
constexpr int max_events = 512;
// Far above any message the server sends; the server enforces its own limit.
constexpr std::uint64_t max_message_bytes = std::uint64_t{1} << 30;
// Toward a loopback server, connections come from this many source addresses
// (127.0.0.1, 127.0.0.2, ...). From one address, the kernel looks for a free
// ephemeral port toward a destination by walking the range: with 19,000
// connections open that walk cost 0.5 ms of system time per connect (measured),
// the generator's limit, not the server's.
constexpr std::uint32_t loopback_sources = 32;

}  // namespace

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

ClientPool::ClientPool(Endpoint endpoint, std::string secret, Peer peer)
    : endpoint_(std::move(endpoint)), secret_(std::move(secret)), peer_(peer), stream_peer_(peer_is_stream(peer)), read_buffer_(read_buffer_bytes) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  std::random_device device;
  random_state_ = (static_cast<std::uint64_t>(device()) << 32) | device() | 1;
}

ClientPool::~ClientPool() {
  for (auto& c : connections_) {
    if (c.fd >= 0) ::close(c.fd);
  }
  ::close(epoll_fd_);
}

std::uint32_t ClientPool::next_mask() {
  // xorshift64*: masks need not be secret here, only varied.
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return static_cast<std::uint32_t>((random_state_ * 2685821657736338717ULL) >> 32);
}

std::uint32_t ClientPool::add(std::string node_id, std::string client_id, protocol::Role role) {
  protocol::AuthClaims claims;
  claims.node_id = node_id;
  claims.client_id = client_id;
  claims.role = role;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  NodeInfo info;
  if (peer_ == Peer::allspark) info.auth_key = protocol::mint_auth_key(claims, secret_, now.count(), 24 * 3600);
  info.ws_key = make_ws_key(random_state_ ^ connections_.size(), next_mask() * 0x9E3779B97F4A7C15ULL);
  info.node_id = std::move(node_id);
  info.client_id = std::move(client_id);
  nodes_.push_back(std::move(info));
  connections_.emplace_back();
  return static_cast<std::uint32_t>(connections_.size() - 1);
}

std::size_t ClientPool::open_count() const {
  std::size_t n = 0;
  for (const auto& c : connections_) n += c.phase == Phase::open;
  return n;
}

bool ClientPool::open_socket(std::uint32_t conn, const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  const char* ip = host == "localhost" ? "127.0.0.1" : host.c_str();
  if (inet_pton(AF_INET, ip, &address.sin_addr) != 1) {
    fail(conn, "'" + host + "' is not an IPv4 address");
    return false;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail(conn, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if ((ntohl(address.sin_addr.s_addr) >> 24) == 127) {
    // The port is still chosen by connect() (IP_BIND_ADDRESS_NO_PORT), per source address.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + conn % loopback_sources);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
      ::close(fd);
      fail(conn, std::string("bind to a loopback source address: ") + std::strerror(errno));
      return false;
    }
  }
  Connection& c = connections_[conn];
  c.fd = fd;
  c.write_blocked = true;  // until EPOLLOUT says the connect completed
  c.read_eof = false;
  c.carry.clear();
  c.out.clear();
  c.out_sent = 0;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.u64 = conn;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    fail(conn, std::string("epoll_ctl: ") + std::strerror(errno));
    return false;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
    fail(conn, "connect " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

void ClientPool::start_preconnect(std::uint32_t conn) {
  connections_[conn].phase = Phase::preconnect;
  if (!open_socket(conn, endpoint_.host, endpoint_.port)) return;
  connections_[conn].out =
      preconnect_request(endpoint_.host, endpoint_.port, nodes_[conn].auth_key, reuse_preconnect_);
}

void ClientPool::start_upgrade(std::uint32_t conn) {
  connections_[conn].phase = Phase::upgrade;
  const NodeInfo& info = nodes_[conn];
  if (!open_socket(conn, info.answer.ws_host, info.answer.ws_port)) return;
  connections_[conn].out = upgrade_request(info.answer, info.auth_key, info.ws_key);
}

void ClientPool::close_socket(std::uint32_t conn, Phase phase) {
  Connection& c = connections_[conn];
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.phase = phase;
  c.out.clear();
  c.out_sent = 0;
  c.carry.clear();
  c.write_blocked = false;
}

void ClientPool::fail(std::uint32_t conn, std::string error) {
  bool connecting = connections_[conn].phase != Phase::open;
  close_socket(conn, Phase::failed);
  if (connecting) {
    ++handshakes_done_;
  } else {
    ++counters_.closed;
  }
  if (first_error_.empty()) first_error_ = nodes_[conn].node_id + ": " + error;
}

bool ClientPool::connect_all(std::size_t batch, double timeout_s, std::string& error) {
  std::vector<std::uint32_t> todo;
  for (std::uint32_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].phase == Phase::idle) todo.push_back(i);
  }
  handshakes_done_ = 0;
  first_error_.clear();
  std::size_t next = 0;
  auto deadline = monotonic_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
  MessageSink none;
  while (handshakes_done_ < todo.size()) {
    while (next < todo.size() && next - handshakes_done_ < batch) {
      std::uint32_t conn = todo[next++];
      peer_ == Peer::allspark ? start_preconnect(conn) : start_peer_upgrade(conn);
    }
    if (!first_error_.empty()) break;
    poll(5, none);
    flush();
    if (!first_error_.empty()) break;
    if (monotonic_ns() > deadline) {
      first_error_ = "timeout: " + std::to_string(open_count()) + " of " + std::to_string(connections_.size()) +
                     " connections open after " + std::to_string(timeout_s) + " s";
      break;
    }
  }
  error = first_error_;
  return first_error_.empty();
}

void ClientPool::poll(int timeout_ms, const MessageSink& sink) {
  epoll_event events[max_events];
  int n = epoll_wait(epoll_fd_, events, max_events, timeout_ms);
  for (int i = 0; i < n; ++i) {
    on_event(static_cast<std::uint32_t>(events[i].data.u64), events[i].events, sink);
  }
}

void ClientPool::on_event(std::uint32_t conn, std::uint32_t events, const MessageSink& sink) {
  Connection& c = connections_[conn];
  if (c.fd < 0) return;
  bool connecting = c.phase == Phase::preconnect || c.phase == Phase::upgrade;
  if ((events & EPOLLERR) && connecting) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    fail(conn, std::string(c.phase == Phase::preconnect ? "preconnect: " : "upgrade: ") + std::strerror(error));
    return;
  }
  if ((events & EPOLLOUT) && c.write_blocked) {
    c.write_blocked = false;
    write_now(conn);
    if (c.fd < 0) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (c.phase == Phase::preconnect || c.phase == Phase::upgrade) {
      read_handshake(conn);
    } else {
      read_frames(conn, sink);
    }
  }
}

void ClientPool::read_handshake(std::uint32_t conn) {
  Connection& c = connections_[conn];
  for (;;) {
    ssize_t n = ::read(c.fd, read_buffer_.data(), read_buffer_.size());
    if (n > 0) {
      c.carry.append(read_buffer_.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      c.read_eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail(conn, std::string("read: ") + std::strerror(errno));
      return;
    }
    break;
  }
  std::string error;
  NodeInfo& info = nodes_[conn];
  if (c.phase == Phase::preconnect) {
    ParseResult result = parse_preconnect_answer(c.carry, c.read_eof, info.answer, error);
    if (result == ParseResult::failed) return fail(conn, error);
    if (result != ParseResult::ok) return;
    if (reuse_preconnect_ && info.answer.ws_host == endpoint_.host && info.answer.ws_port == endpoint_.port) {
      // HTTP/1.1 keep-alive: the upgrade goes on the same connection, one
      // TCP connection per connect instead of two.
      c.phase = Phase::upgrade;
      c.carry.clear();
      c.out = upgrade_request(info.answer, info.auth_key, info.ws_key);
      c.out_sent = 0;
      write_now(conn);
      return;
    }
    close_socket(conn, Phase::preconnect);
    start_upgrade(conn);
    return;
  }
  std::size_t header_bytes = 0;
  ParseResult result = parse_upgrade_answer(c.carry, info.ws_key, header_bytes, error);
  if (result == ParseResult::failed) return fail(conn, error);
  if (result == ParseResult::incomplete) {
    if (c.read_eof) fail(conn, "upgrade: connection closed before the answer");
    return;
  }
  c.phase = Phase::welcome;
  if (peer_ != Peer::allspark) on_peer_upgraded(conn);
  // What follows the 101 answer is frames: the welcome, perhaps more.
  std::string rest = c.carry.substr(header_bytes);
  c.carry.clear();
  c.carry.shrink_to_fit();
  if (!decode_frames(conn, rest.data(), rest.size(), monotonic_ns(), MessageSink{})) return;
  if (c.read_eof) fail(conn, "closed by the server after the upgrade");
}

// Decoder events for one feed: a text frame that arrives whole in one read is
// handed on as a view into the read buffer; anything split (across reads or
// fragments) is assembled in the connection first.
struct ClientPool::FrameEvents {
  ClientPool& pool;
  std::uint32_t conn;
  std::int64_t now_ns;
  const MessageSink& sink;
  std::string_view whole = {};  // the frame's payload when it came in one chunk of this feed

  static bool is_data(net::Opcode op) { return op == net::Opcode::text || op == net::Opcode::binary || op == net::Opcode::continuation; }

  bool on_frame_start(net::Opcode op, bool fin, std::uint64_t length) {
    Connection& c = pool.connections_[conn];
    c.frame_op = op;
    c.frame_fin = fin;
    c.frame_length = length;
    whole = {};
    return true;
  }
  void on_frame_payload(std::span<std::uint8_t> chunk) {
    std::string_view bytes(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    Connection& c = pool.connections_[conn];
    if (!is_data(c.frame_op)) {
      c.control.append(bytes);
    } else if (pool.stream_peer_) {
      // NATS, MQTT: frames only carry a byte stream; operations are read as it comes.
      if (c.fd >= 0) pool.on_stream(conn, bytes, now_ns, sink);
    } else if (chunk.size() == c.frame_length && c.frame_fin && c.frame_op != net::Opcode::continuation) {
      whole = bytes;  // the common case: no copy
    } else {
      c.message.append(bytes);
    }
  }
  bool on_frame_end() {
    Connection& c = pool.connections_[conn];
    if (!is_data(c.frame_op)) {
      std::string payload = std::move(c.control);
      c.control.clear();
      pool.on_control(conn, c.frame_op, payload);
    } else if (c.frame_fin && !pool.stream_peer_) {
      if (c.frame_op == net::Opcode::binary && pool.peer_ == Peer::allspark) {
        ++pool.counters_.unexpected;
        c.message.clear();
      } else if (c.frame_op != net::Opcode::continuation && c.message.empty()) {
        pool.on_text(conn, whole, now_ns, sink);  // whole in one chunk (or empty)
      } else {
        std::string text = std::move(c.message);
        c.message.clear();
        pool.on_text(conn, text, now_ns, sink);
      }
    }
    return pool.connections_[conn].fd >= 0;
  }
};

void ClientPool::read_frames(std::uint32_t conn, const MessageSink& sink) {
  Connection& c = connections_[conn];
  char* buffer = read_buffer_.data();
  for (;;) {
    ssize_t n = ::read(c.fd, buffer, read_buffer_.size());
    if (n > 0) {
      ++counters_.reads;
      counters_.bytes_read += static_cast<std::uint64_t>(n);
      if (!decode_frames(conn, buffer, static_cast<std::size_t>(n), monotonic_ns(), sink)) return;
      // A short read drained the socket; edge-triggered epoll reports new data.
      if (static_cast<std::size_t>(n) < read_buffer_.size()) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or error
    if (n == 0) return fail(conn, c.phase == Phase::welcome ? "closed by the server before the welcome"
                                                            : "connection closed by the server");
    return fail(conn, std::string("read: ") + std::strerror(errno));
  }
}

bool ClientPool::decode_frames(std::uint32_t conn, char* data, std::size_t size, std::int64_t now_ns,
                               const MessageSink& sink) {
  FrameEvents events{*this, conn, now_ns, sink};
  std::span<std::uint8_t> bytes(reinterpret_cast<std::uint8_t*>(data), size);
  net::CloseCode code = connections_[conn].decoder.feed(bytes, max_message_bytes, events);
  if (code != net::CloseCode::none) {
    fail(conn, "protocol error in a server frame (close code " + std::to_string(static_cast<int>(code)) + ")");
    return false;
  }
  return connections_[conn].fd >= 0;
}

void ClientPool::on_control(std::uint32_t conn, net::Opcode op, std::string_view payload) {
  ++counters_.frames_received;
  if (op == net::Opcode::ping) {
    queue_frame(conn, net::Opcode::pong, payload);
  } else if (op == net::Opcode::close) {
    const auto* body = reinterpret_cast<const unsigned char*>(payload.data());
    counters_.last_close_code =
        payload.size() >= 2 ? static_cast<std::uint16_t>((body[0] << 8) | body[1]) : std::uint16_t{1005};
    fail(conn, "closed by the server with code " + std::to_string(counters_.last_close_code) + " " +
                   std::string(payload.substr(payload.size() >= 2 ? 2 : 0)));
  }
}

void ClientPool::on_text(std::uint32_t conn, std::string_view text, std::int64_t now_ns, const MessageSink& sink) {
  ++counters_.frames_received;
  if (peer_ != Peer::allspark) return on_peer_text(conn, text, now_ns, sink);
  Connection& c = connections_[conn];
  if (c.phase == Phase::welcome) {
    if (!is_welcome(text)) return fail(conn, "expected the welcome frame, got " + std::string(text.substr(0, 200)));
    c.phase = Phase::open;
    ++handshakes_done_;
    return;
  }
  if (sink.on_message == nullptr) {
    ++counters_.unexpected;
    return;
  }
  sink.on_message(sink.context, conn, text, now_ns);
}

void ClientPool::queue_text(std::uint32_t conn, std::string_view text) { queue_frame(conn, net::Opcode::text, text); }

void ClientPool::queue_frame(std::uint32_t conn, net::Opcode op, std::string_view payload) {
  queue_frame_parts(conn, op, payload, {}, {});
}

// One frame whose payload is head + body + tail (a peer's framing around the body).
void ClientPool::queue_frame_parts(std::uint32_t conn, net::Opcode op, std::string_view head, std::string_view body,
                                   std::string_view tail) {
  Connection& c = connections_[conn];
  if (c.fd < 0) return;
  std::size_t size = head.size() + body.size() + tail.size();
  std::size_t old = c.out.size();
  c.out.resize(old + 14 + size);
  auto* p = reinterpret_cast<std::uint8_t*>(c.out.data() + old);
  std::uint32_t mask = next_mask();
  std::size_t header = net::write_client_frame_header(p, op, true, size, mask);
  if (!head.empty()) std::memcpy(p + header, head.data(), head.size());
  if (!body.empty()) std::memcpy(p + header + head.size(), body.data(), body.size());
  if (!tail.empty()) std::memcpy(p + header + head.size() + body.size(), tail.data(), tail.size());
  net::apply_mask(p + header, size, mask);
  c.out.resize(old + header + size);
  ++counters_.frames_sent;
  mark_dirty(conn);
}

void ClientPool::mark_dirty(std::uint32_t conn) {
  Connection& c = connections_[conn];
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(conn);
  }
}

void ClientPool::flush() {
  for (std::uint32_t conn : dirty_) {
    Connection& c = connections_[conn];
    c.dirty = false;
    if (!c.write_blocked && c.fd >= 0) write_now(conn);
  }
  dirty_.clear();
}

void ClientPool::write_now(std::uint32_t conn) {
  Connection& c = connections_[conn];
  while (c.out_sent < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      ++counters_.sends;
      counters_.bytes_sent += static_cast<std::uint64_t>(n);
      c.out_sent += static_cast<std::size_t>(n);
      if (c.out_sent < c.out.size()) {
        // A short write filled the socket buffer: EPOLLOUT (edge) says when there is room.
        c.write_blocked = true;
        ++counters_.send_blocked;
        return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) {
      c.write_blocked = true;
      ++counters_.send_blocked;
      return;
    }
    return fail(conn, std::string("send: ") + std::strerror(errno));
  }
  c.out.clear();
  c.out_sent = 0;
}

void ClientPool::close_all() {
  static constexpr char normal_closure[] = {'\x03', '\xe8'};  // 1000
  for (std::uint32_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].phase == Phase::open) queue_frame(i, net::Opcode::close, std::string_view(normal_closure, 2));
  }
  flush();
  for (std::uint32_t i = 0; i < connections_.size(); ++i) close_socket(i, Phase::closed);
}

}  // namespace allspark::bench
