#include "net/shard.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <spdlog/spdlog.h>
#include <system_error>

#include "protocol/utf8.hpp"

namespace allspark::net {

namespace {

constexpr std::size_t read_buffer_bytes = 256 * 1024;
// Reads per readiness event before other connections get their turn.
constexpr int reads_per_turn = 16;
constexpr std::int64_t closing_grace_ms = 2000;
// Each frame is up to three iovecs: header, per-recipient head, body.
constexpr std::size_t frames_per_writev = IOV_MAX / 3;
// Pieces shorter than this (every frame header, most heads and bodies) are
// copied into the shard's gather buffer, so that a run of small frames is one
// iovec: the kernel's cost per iovec segment was the largest single item of
// a fan-out's profile (bench/README.md "Gathering small frames").
constexpr std::size_t copy_below = 512;
constexpr std::size_t gather_bytes = 64 * 1024;
// Room a frame may take from the gather buffer: its header and two small pieces.
constexpr std::size_t gather_per_frame = 10 + 2 * copy_below;
// A frame's header (at most 10 bytes, built on the stack) is always copied.
static_assert(copy_below > 10);

constexpr std::int64_t sweep_interval_ms = 1000;
// A flush of this many connections (a sendmsg each) takes long enough that
// one more epoll_wait first costs next to nothing. What arrived while the
// batch was routed then goes out in the same writes: in a fan-out, the other
// publishers' messages, which come a few microseconds after the first's
// (bench/README.md "The shard's own loop").
constexpr std::size_t poll_again_from = 64;

std::int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// For the loop's timeouts: never goes back when the wall clock is set.
std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Adds `fd` to `epoll_fd` for reading, with `tag` as its event's pointer.
void watch(int epoll_fd, int fd, void* tag, const char* what) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = tag;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
}

Opcode opcode_of(core::FrameKind kind) {
  switch (kind) {
    case core::FrameKind::text: return Opcode::text;
    case core::FrameKind::close: return Opcode::close;
    case core::FrameKind::ping: return Opcode::ping;
    case core::FrameKind::pong: return Opcode::pong;
    case core::FrameKind::raw: break;
  }
  return Opcode::text;
}

// Writes the frame's RFC 6455 header into `out` (10 bytes at most) and
// returns its length; a raw entry (the HTTP 101) has none.
std::size_t write_header_of(const core::OutFrame& frame, std::uint8_t* out) {
  if (frame.kind == core::FrameKind::raw) return 0;
  return write_frame_header(out, opcode_of(frame.kind), true, frame.size());
}

// Queues a control frame (ping, pong, close). Control frames are tiny; they
// may pass the queue's limit so that a close always fits.
void send_control(core::Router& router, core::Connection& connection, core::FrameKind kind,
                  std::string_view payload) {
  core::Body* body = core::Body::copy_of(payload);
  if (connection.queue.push({body, nullptr, 0, kind}, SIZE_MAX)) router.mark_dirty(connection);
  body->release();
}

// RFC 6455 7.4: close codes a peer may send.
bool is_valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xff);
  payload += reason.substr(0, 123);
  return payload;
}

}  // namespace

// Receives the frame decoder's events for one connection (no virtual calls).
struct ShardFrameHandler {
  Shard& shard;
  WsConnection& ws;
  std::string_view direct;  // a whole text frame found in one read: no copy

  bool on_frame_start(Opcode op, bool fin, std::uint64_t length) {
    ws.frame_opcode = op;
    ws.frame_fin = fin;
    ws.frame_length = length;
    ws.frame_received = 0;
    direct = {};
    if (op == Opcode::binary) {
      // Messages are JSON text (PROTOCOL.md section 4); binary is refused
      // with RFC 6455's "cannot accept this type of data".
      shard.begin_close(ws, 1003, "binary frames are not supported: send JSON as text frames");
      return false;
    }
    if (op == Opcode::close || op == Opcode::ping || op == Opcode::pong) ws.control.clear();
    return true;
  }

  void on_frame_payload(std::span<std::uint8_t> chunk) {
    std::string_view bytes(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    bool first = ws.frame_received == 0;
    ws.frame_received += chunk.size();
    switch (ws.frame_opcode) {
      case Opcode::close:
      case Opcode::ping:
      case Opcode::pong: ws.control += bytes; return;
      case Opcode::text:
        if (first && ws.frame_fin && chunk.size() == ws.frame_length) {
          direct = bytes;
          return;
        }
        [[fallthrough]];
      default: ws.message += bytes; return;
    }
  }

  bool on_frame_end() {
    switch (ws.frame_opcode) {
      case Opcode::close:
      case Opcode::ping:
      case Opcode::pong: shard.on_control(ws); break;
      default:
        if (!ws.frame_fin) break;
        if (!direct.empty()) {
          shard.on_message(ws, direct);
        } else {
          shard.on_message(ws, ws.message);
          // An idle connection holds no buffer.
          std::string().swap(ws.message);
        }
        direct = {};
        break;
    }
    return ws.state == WsState::open;
  }
};

Shard::Shard(ShardConfig config)
    : config_(std::move(config)),
      router_(config_.router),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      read_buffer_(new std::uint8_t[read_buffer_bytes]),
      gather_(new std::uint8_t[gather_bytes]) {
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  // Tagged with the queues' addresses: no connection has them.
  watch(epoll_fd_, posted_.fd(), &posted_, "epoll_ctl (posted work)");
  watch(epoll_fd_, answers_.fd(), &answers_, "epoll_ctl (store answers)");
  iov_.resize(frames_per_writev * 3);
}

Shard::~Shard() {
  // Connections still open when the loop has stopped (a hand-off adopted
  // after the drain's close_all, one the drain's time limit cut short): their
  // sockets are closed and they are freed; nothing is left to write.
  for (WsConnection* ws : all_) {
    ::close(ws->fd);
    delete ws;
  }
  for (WsConnection* ws : dead_) delete ws;
  ::close(epoll_fd_);
}

void Shard::run() {
  running_ = true;
  std::int64_t next_sweep = steady_ms() + sweep_interval_ms;
  const bool pings = config_.ping_interval_ms > 0;
  std::int64_t next_ping = steady_ms() + config_.ping_interval_ms;
  bool more = false;  // events left over from the last batch: do not sleep
  while (running_) {
    int timeout = 0;
    if (!more) {
      std::int64_t next = pings ? std::min(next_sweep, next_ping) : next_sweep;
      timeout = static_cast<int>(std::clamp<std::int64_t>(next - steady_ms(), 0, INT_MAX));
    }
    int count = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), timeout);
    if (count < 0) {
      if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
      count = 0;
    }
    on_events(count);
    // Not while a connection waits for its next turn to read: it would get
    // two turns before anything is written.
    if (router_.dirty().size() >= poll_again_from && count < static_cast<int>(events_.size()) &&
        read_again_.empty()) {
      count = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
      on_events(std::max(count, 0));
    }
    std::int64_t now = steady_ms();
    if (now >= next_sweep) {
      sweep();
      next_sweep = now + sweep_interval_ms;
    }
    if (pings && now >= next_ping) {
      ping_tick();
      next_ping = now + config_.ping_interval_ms;
    }
    flush_dirty();
    // Only here, once nothing of this iteration (its events, the router's
    // dirty list) can point at a connection any more: work run in the middle
    // of a batch (an adopt, a close_all) must not free one that a later event
    // of the batch names.
    for (WsConnection* ws : dead_) delete ws;
    dead_.clear();
    more = count == static_cast<int>(events_.size()) || !read_again_.empty();
  }
}

void Shard::stop() {
  posted_.post([this] { running_ = false; });
}

// PROTOCOL.md section 10 (--ping-interval): a connection silent for one
// interval is pinged; one silent for three is closed with 4000.
void Shard::ping_tick() {
  now_ms_ = wall_clock_ms();
  ++ping_tick_;
  for (WsConnection* ws : std::vector<WsConnection*>(all_)) {
    if (ws->state != WsState::open) continue;
    std::uint32_t silent = ping_tick_ - ws->last_heard_tick;
    if (silent >= 3) {
      counters_.ping_timeouts.add();
      begin_close(*ws, 4000, "no answer to 3 pings");
    } else if (silent >= 1) {
      counters_.pings_sent.add();
      send_control(router_, ws->core, core::FrameKind::ping, {});
    }
  }
}

void Shard::on_events(int count) {
  now_ms_ = wall_clock_ms();
  std::vector<WsConnection*> again;
  again.swap(read_again_);
  for (WsConnection* ws : again) {
    if (ws->state != WsState::dead) read_from(*ws, true);
  }
  for (int i = 0; i < count; ++i) {
    void* tag = events_[i].data.ptr;
    if (tag == &posted_) {
      posted_.run();
      continue;
    }
    if (tag == &answers_) {
      answers_.run();
      continue;
    }
    auto* ws = static_cast<WsConnection*>(tag);
    if (ws->state == WsState::dead) continue;
    std::uint32_t flags = events_[i].events;
    if (flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      read_from(*ws, (flags & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
    }
    if ((flags & EPOLLOUT) && ws->state != WsState::dead && !ws->core.queue.empty()) flush(*ws);
  }
}

void Shard::adopt(int fd, const core::ConnectIdentity& identity, std::string_view leftover,
                  std::string_view handshake_reply) {
  now_ms_ = wall_clock_ms();
  auto* ws = new WsConnection();
  ws->fd = fd;
  ws->core.transport = ws;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = ws;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    spdlog::error("epoll_ctl add: {}", std::strerror(errno));
    ::close(fd);
    delete ws;
    return;
  }
  counters_.connections.add();
  counters_.connections_total.add();
  ws->last_heard_tick = ping_tick_;
  ws->slot = static_cast<std::uint32_t>(all_.size());
  all_.push_back(ws);
  // The 101 first, then the welcome and any replay that attach() queues: all
  // of it written by the flush below. A slow-consumer close keeps it
  // (SendQueue::drop_unstarted), so the close frame follows an HTTP answer.
  if (!handshake_reply.empty()) {
    core::Body* reply = core::Body::copy_of(handshake_reply);
    ws->core.queue.push({reply, nullptr, 0, core::FrameKind::raw}, SIZE_MAX);
    reply->release();
    router_.mark_dirty(ws->core);
  }
  router_.attach(ws->core, identity, now_ms_);
  if (!leftover.empty()) {
    std::memcpy(read_buffer_.get(), leftover.data(), leftover.size());
    feed(*ws, read_buffer_.get(), leftover.size());
  }
}

void Shard::read_from(WsConnection& ws, bool peer_hung_up) {
  for (int turn = 0; turn < reads_per_turn; ++turn) {
    ssize_t n = ::read(ws.fd, read_buffer_.get(), read_buffer_bytes);
    if (n > 0) {
      counters_.bytes_in.add(static_cast<std::uint64_t>(n));
      ws.last_heard_tick = ping_tick_;
      if (ws.state == WsState::open) feed(ws, read_buffer_.get(), static_cast<std::size_t>(n));
      // A closing connection's input is discarded until the peer's EOF.
      if (ws.state == WsState::dead) return;
      // A short read emptied the socket: edge-triggered epoll reports new
      // data. But an end of stream that came in the same event has no edge
      // left to report it: then read on until EOF.
      if (static_cast<std::size_t>(n) < read_buffer_bytes && !peer_hung_up) return;
      continue;
    }
    if (n == 0) {  // the peer closed its side
      destroy(ws);
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) destroy(ws);
    return;
  }
  read_again_.push_back(&ws);
}

void Shard::feed(WsConnection& ws, std::uint8_t* data, std::size_t size) {
  ShardFrameHandler handler{*this, ws, {}};
  CloseCode code = ws.decoder.feed(std::span<std::uint8_t>(data, size), config_.max_message_bytes, handler);
  if (code == CloseCode::too_big) {
    begin_close(ws, 1009, "message larger than " + std::to_string(config_.max_message_bytes) + " bytes");
  } else if (code != CloseCode::none) {
    begin_close(ws, static_cast<std::uint16_t>(code), "broken framing");
  }
}

void Shard::on_message(WsConnection& ws, std::string_view text) {
  // RFC 6455 8.1: a text message must be valid UTF-8.
  if (!protocol::is_valid_utf8(text)) {
    begin_close(ws, 1007, "text message is not valid UTF-8");
    return;
  }
  router_.on_message(ws.core, text, now_ms_);
}

void Shard::on_control(WsConnection& ws) {
  if (ws.frame_opcode == Opcode::ping) {
    send_control(router_, ws.core, core::FrameKind::pong, ws.control);
  } else if (ws.frame_opcode == Opcode::close) {
    // RFC 6455 5.5.1 and 7.4: echo the peer's code, then close the TCP side.
    std::string_view payload = ws.control;
    ws.peer_closed = true;
    if (payload.size() == 1) {
      begin_close(ws, 1002, "close frame with a 1-byte payload");
      return;
    }
    std::uint16_t code = 1000;
    if (payload.size() >= 2) {
      code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                        static_cast<std::uint8_t>(payload[1]));
      if (!is_valid_close_code(code)) {
        begin_close(ws, 1002, "invalid close code");
        return;
      }
      if (!protocol::is_valid_utf8(payload.substr(2))) {
        begin_close(ws, 1007, "close reason is not valid UTF-8");
        return;
      }
    }
    if (ws.state == WsState::open) {
      begin_close(ws, code, "");
    } else {
      destroy(ws);  // the answer to our own close
    }
  }
  ws.control.clear();
}

void Shard::begin_close(WsConnection& ws, std::uint16_t code, std::string_view reason) {
  if (ws.state != WsState::open) return;
  ws.state = WsState::closing;
  ws.core.close_code = code;
  ws.closing_deadline_ms = now_ms_ + closing_grace_ms;
  if (code == 4001) ws.core.queue.drop_unstarted();  // a slow consumer's backlog is dropped
  send_control(router_, ws.core, core::FrameKind::close, close_payload(code, reason));
  closing_.push_back(&ws);
  std::string().swap(ws.message);
}

// Posted work runs in the order posted, and flush_dirty() at the end of the
// batch writes what it queued (and hands on the mail it made).
void Shard::post_mail(core::ShardMail mail) {
  posted_.post([this, mail = std::move(mail)]() mutable { router_.receive(std::move(mail)); });
}

void Shard::post_work(std::function<void()> work) { posted_.post(std::move(work)); }

void Shard::post_store_answer(std::function<void()> work) { answers_.push(std::move(work)); }

// The store's thread writes an eventfd that the shard's own epoll watches,
// once per transaction, not once per callback.
void Shard::hand_over_store_answers() { answers_.wake(); }

void Shard::flush_dirty() {
  router_.end_batch();
  // Index loop: closing a connection may queue a close frame while we walk.
  for (std::size_t i = 0; i < router_.dirty().size(); ++i) {
    auto* ws = static_cast<WsConnection*>(router_.dirty()[i]->transport);
    if (ws->state == WsState::dead) continue;
    if (ws->state == WsState::open && ws->core.close_code != 0) {
      begin_close(*ws, ws->core.close_code,
                  ws->core.close_code == 4001 ? "slow consumer: send queue full" : "closed by the application");
    }
    flush(*ws);
  }
  router_.clear_dirty();
}

void Shard::flush(WsConnection& ws) {
  core::SendQueue& queue = ws.core.queue;
  std::uint8_t* const gather = gather_.get();
  while (!queue.empty()) {
    std::size_t frames = std::min(queue.count(), frames_per_writev);
    std::size_t iov_count = 0;
    std::size_t total = 0;
    std::size_t gathered = 0;
    std::size_t skip = queue.front_offset();
    // Appends bytes to the write: a small piece is copied onto the end of the
    // gather buffer (one iovec for a run of them), a large one is pointed at.
    auto add = [&](const void* base, std::size_t len) {
      if (skip >= len) {
        skip -= len;
        return;
      }
      const char* from = static_cast<const char*>(base) + skip;
      len -= skip;
      skip = 0;
      total += len;
      if (len < copy_below) {
        std::memcpy(gather + gathered, from, len);
        if (iov_count > 0 && static_cast<std::uint8_t*>(iov_[iov_count - 1].iov_base) +
                                     iov_[iov_count - 1].iov_len == gather + gathered) {
          iov_[iov_count - 1].iov_len += len;
        } else {
          iov_[iov_count].iov_base = gather + gathered;
          iov_[iov_count].iov_len = len;
          ++iov_count;
        }
        gathered += len;
        return;
      }
      iov_[iov_count].iov_base = const_cast<char*>(from);
      iov_[iov_count].iov_len = len;
      ++iov_count;
    };
    for (std::size_t f = 0; f < frames; ++f) {
      if (gathered + gather_per_frame > gather_bytes) break;  // the rest in the next write
      const core::OutFrame& frame = queue.at(f);
      std::uint8_t header[10];
      std::size_t header_len = write_header_of(frame, header);
      if (header_len > 0) add(header, header_len);
      if (frame.head_len > 0) add(frame.head, frame.head_len);
      add(frame.body->data(), frame.body->size());
    }
    // sendmsg for MSG_NOSIGNAL: a peer that reset the connection is an
    // error here, not a SIGPIPE that ends the process.
    msghdr message{};
    message.msg_iov = iov_.data();
    message.msg_iovlen = iov_count;
    ssize_t written = ::sendmsg(ws.fd, &message, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) destroy(ws);
      return;  // EPOLLOUT (edge-triggered) resumes the flush
    }
    counters_.bytes_out.add(static_cast<std::uint64_t>(written));
    // Pop what was written; remember how far into a partly written frame.
    std::size_t left = static_cast<std::size_t>(written) + queue.front_offset();
    while (!queue.empty()) {
      const core::OutFrame& frame = queue.at(0);
      std::uint8_t scratch[10];
      std::size_t whole = write_header_of(frame, scratch) + frame.size();
      if (left < whole) {
        queue.set_front_offset(left);
        break;
      }
      left -= whole;
      queue.pop_front();
    }
    if (static_cast<std::size_t>(written) < total) return;  // the socket is full
  }
  // A paced inbox replay asks for its next page once the last one is written.
  router_.on_drained(ws.core);
  if (ws.state == WsState::closing && !ws.shut_down) {
    // Our close frame is out (it is always the last frame queued).
    ws.shut_down = true;
    if (ws.peer_closed) {
      destroy(ws);
    } else {
      ::shutdown(ws.fd, SHUT_WR);
    }
  }
}

void Shard::close_all(std::uint16_t code, std::string_view reason) {
  now_ms_ = wall_clock_ms();
  for (WsConnection* ws : all_) begin_close(*ws, code, reason);
}

void Shard::destroy(WsConnection& ws) {
  if (ws.state == WsState::dead) return;
  ws.state = WsState::dead;
  router_.detach(ws.core);
  ::close(ws.fd);  // also removes it from the epoll set
  ws.fd = -1;
  counters_.connections.set(counters_.connections.get() - 1);
  std::erase(closing_, &ws);
  // Swapped out by its slot: O(1) however many connections the shard holds
  // (a search of the list made closing 19,000 connections quadratic).
  WsConnection* last = all_.back();
  all_[ws.slot] = last;
  last->slot = ws.slot;
  all_.pop_back();
  std::erase(read_again_, &ws);
  // Freed at the end of the loop's iteration (run): the batch's events and
  // the router's dirty list may still point at it.
  dead_.push_back(&ws);
}

void Shard::sweep() {
  // Connections that did not finish their close handshake in time.
  now_ms_ = wall_clock_ms();
  std::vector<WsConnection*> expired;
  for (WsConnection* ws : closing_) {
    if (ws->closing_deadline_ms <= now_ms_) expired.push_back(ws);
  }
  for (WsConnection* ws : expired) destroy(*ws);
  // An idle connection holds no buffers (DESIGN.md): the ring its last
  // frames grew goes back once it has drained. A busy connection allocates
  // it again at most once a second.
  for (WsConnection* ws : all_) {
    if (ws->core.queue.empty()) ws->core.queue.clear();
  }
}

}  // namespace allspark::net
