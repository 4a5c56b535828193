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

constexpr std::size_t min_read_bytes = 256 * 1024;
constexpr int max_events = 512;
constexpr std::uint8_t op_continuation = 0, op_text = 1, op_binary = 2, op_close = 8, op_ping = 9, op_pong = 10;

std::uint64_t load_be(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | p[i];
  return value;
}

// XORs `size` bytes from `in` into `out` with the 4-byte mask (RFC 6455 5.3),
// eight bytes at a time.
void masked_copy(unsigned char* out, const char* in, std::size_t size, const unsigned char mask[4]) {
  std::uint32_t mask32;
  std::memcpy(&mask32, mask, 4);
  std::uint64_t mask64 = (static_cast<std::uint64_t>(mask32) << 32) | mask32;
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, in + i, 8);
    word ^= mask64;
    std::memcpy(out + i, &word, 8);
  }
  for (; i < size; ++i) out[i] = static_cast<unsigned char>(in[i]) ^ mask[i & 3];
}

}  // namespace

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

ClientPool::ClientPool(Endpoint endpoint, std::string secret)
    : endpoint_(std::move(endpoint)), secret_(std::move(secret)), read_buffer_(min_read_bytes * 2) {
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

std::uint32_t ClientPool::add(std::string node_id, std::string client_id) {
  protocol::AuthClaims claims;
  claims.node_id = node_id;
  claims.client_id = client_id;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  NodeInfo info;
  info.auth_key = protocol::mint_auth_key(claims, secret_, now.count(), 24 * 3600);
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

std::size_t ClientPool::queued_bytes() const {
  std::size_t n = 0;
  for (const auto& c : connections_) n += c.out.size() - c.out_sent;
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
  connections_[conn].out = preconnect_request(endpoint_.host, endpoint_.port, nodes_[conn].auth_key);
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
  if (connecting) ++handshakes_done_;
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
    while (next < todo.size() && next - handshakes_done_ < batch) start_preconnect(todo[next++]);
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
    if (result == ParseResult::ok) {
      close_socket(conn, Phase::preconnect);
      start_upgrade(conn);
    }
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
  // What follows the 101 answer is frames: the welcome, perhaps more.
  std::string rest = c.carry.substr(header_bytes);
  c.carry.clear();
  std::size_t used = decode_frames(conn, rest.data(), rest.size(), monotonic_ns(), MessageSink{});
  if (c.fd >= 0) c.carry.assign(rest, used);
  if (c.read_eof && c.fd >= 0) fail(conn, "closed by the server after the upgrade");
}

void ClientPool::read_frames(std::uint32_t conn, const MessageSink& sink) {
  Connection& c = connections_[conn];
  for (;;) {
    std::size_t carry = c.carry.size();
    if (read_buffer_.size() < carry + min_read_bytes) read_buffer_.resize(carry + min_read_bytes);
    char* buffer = read_buffer_.data();
    if (carry > 0) std::memcpy(buffer, c.carry.data(), carry);
    std::size_t want = read_buffer_.size() - carry;
    ssize_t n = ::read(c.fd, buffer + carry, want);
    if (n > 0) {
      ++counters_.reads;
      counters_.bytes_read += static_cast<std::uint64_t>(n);
      std::size_t total = carry + static_cast<std::size_t>(n);
      std::size_t used = decode_frames(conn, buffer, total, monotonic_ns(), sink);
      if (c.fd < 0) return;  // closed while decoding
      c.carry.assign(buffer + used, total - used);
      // A short read drained the socket; edge-triggered epoll reports new data.
      if (static_cast<std::size_t>(n) < want) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or error
    if (c.phase == Phase::welcome) return fail(conn, "closed by the server before the welcome");
    ++counters_.closed;
    close_socket(conn, Phase::closed);
    return;
  }
}

std::size_t ClientPool::decode_frames(std::uint32_t conn, char* data, std::size_t size, std::int64_t now_ns,
                                      const MessageSink& sink) {
  Connection& c = connections_[conn];
  std::size_t pos = 0;
  while (size - pos >= 2) {
    const auto* p = reinterpret_cast<const unsigned char*>(data + pos);
    bool fin = (p[0] & 0x80) != 0;
    std::uint8_t opcode = p[0] & 0x0f;
    if ((p[0] & 0x70) != 0 || (p[1] & 0x80) != 0) {
      // RFC 6455 5.1, 5.2: a server frame is never masked; no extension is negotiated.
      fail(conn, "protocol error: reserved bits or a masked frame from the server");
      return pos;
    }
    std::uint64_t length = p[1] & 0x7f;
    std::size_t header = 2;
    if (length == 126) {
      if (size - pos < 4) break;
      length = load_be(p + 2, 2);
      header = 4;
    } else if (length == 127) {
      if (size - pos < 10) break;
      length = load_be(p + 2, 8);
      header = 10;
    }
    if (size - pos - header < length) break;
    std::string_view payload(data + pos + header, static_cast<std::size_t>(length));
    pos += header + static_cast<std::size_t>(length);
    ++counters_.frames_received;
    switch (opcode) {
      case op_text:
        if (fin) {
          on_text(conn, payload, now_ns, sink);
        } else {
          c.in_fragments = true;
          c.fragments.assign(payload);
        }
        break;
      case op_continuation:
        if (!c.in_fragments) break;
        c.fragments.append(payload);
        if (fin) {
          c.in_fragments = false;
          std::string whole = std::move(c.fragments);
          on_text(conn, whole, now_ns, sink);
        }
        break;
      case op_binary:
        ++counters_.unexpected;
        break;
      case op_ping:
        queue_frame(conn, op_pong, payload);
        break;
      case op_pong:
        break;
      case op_close: {
        const auto* body = reinterpret_cast<const unsigned char*>(payload.data());
        counters_.last_close_code = payload.size() >= 2 ? static_cast<std::uint16_t>(load_be(body, 2)) : 1005;
        if (c.phase == Phase::welcome) {
          fail(conn, "closed by the server with code " + std::to_string(counters_.last_close_code) + " " +
                         std::string(payload.substr(payload.size() >= 2 ? 2 : 0)));
        } else {
          ++counters_.closed;
          close_socket(conn, Phase::closed);
        }
        return pos;
      }
      default:
        fail(conn, "protocol error: unknown opcode " + std::to_string(opcode));
        return pos;
    }
    if (c.fd < 0) return pos;
  }
  return pos;
}

void ClientPool::on_text(std::uint32_t conn, std::string_view text, std::int64_t now_ns, const MessageSink& sink) {
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

void ClientPool::queue_text(std::uint32_t conn, std::string_view text) { queue_frame(conn, op_text, text); }

void ClientPool::queue_frame(std::uint32_t conn, std::uint8_t opcode, std::string_view payload) {
  Connection& c = connections_[conn];
  if (c.fd < 0) return;
  std::size_t size = payload.size();
  std::size_t header = size < 126 ? 2 : size < 65536 ? 4 : 10;
  std::size_t old = c.out.size();
  c.out.resize(old + header + 4 + size);
  auto* p = reinterpret_cast<unsigned char*>(c.out.data() + old);
  p[0] = static_cast<unsigned char>(0x80 | opcode);
  if (header == 2) {
    p[1] = static_cast<unsigned char>(0x80 | size);
  } else {
    p[1] = header == 4 ? 0x80 | 126 : 0x80 | 127;
    for (std::size_t i = 0; i < header - 2; ++i) p[header - 1 - i] = static_cast<unsigned char>(size >> (8 * i));
  }
  std::uint32_t mask = next_mask();
  std::memcpy(p + header, &mask, 4);
  masked_copy(p + header + 4, payload.data(), size, p + header);
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
    if (c.phase != Phase::open) return fail(conn, std::string("send: ") + std::strerror(errno));
    ++counters_.closed;
    close_socket(conn, Phase::closed);
    return;
  }
  c.out.clear();
  c.out_sent = 0;
}

void ClientPool::close_all() {
  static constexpr char normal_closure[] = {'\x03', '\xe8'};  // 1000
  for (std::uint32_t i = 0; i < connections_.size(); ++i) {
    if (connections_[i].phase == Phase::open) queue_frame(i, op_close, std::string_view(normal_closure, 2));
  }
  flush();
  for (std::uint32_t i = 0; i < connections_.size(); ++i) close_socket(i, Phase::closed);
}

}  // namespace allspark::bench
