#include "net/connect_path.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <system_error>

#include "net/http_head.hpp"
#include "net/ws_handshake.hpp"

namespace allspark::net {

namespace {

constexpr std::size_t read_buffer_bytes = 16 * 1024;
// As the general path: a head that has not come whole by then is dropped.
constexpr std::int64_t head_timeout_ms = 30'000;

// An answer that may come before handle() returns (then it is written at
// once, after handle() returns) or later from another thread (then it is
// posted to the listener's thread).
struct PendingAnswer {
  std::mutex mutex;
  bool in_handle = true;                // guarded by mutex
  std::optional<HttpResponse> at_once;  // guarded by mutex
};

}  // namespace

ConnectPath::ConnectPath(boost::asio::io_context& io, HttpHandler& handler, UpgradeHandoff handoff,
                         GeneralHttp general, std::size_t head_limit)
    : io_(io),
      handler_(handler),
      handoff_(std::move(handoff)),
      general_(std::move(general)),
      head_limit_(head_limit),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      epoll_watch_(io),
      sweep_timer_(io),
      read_buffer_(new char[read_buffer_bytes]),
      alive_(std::make_shared<ConnectPath*>(this)) {
  if (epoll_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  epoll_watch_.assign(::dup(epoll_fd_));
}

ConnectPath::~ConnectPath() {
  alive_.reset();
  for (auto& [fd, connection] : connections_) ::close(fd);
  ::close(epoll_fd_);
}

void ConnectPath::start() {
  wait_for_events();
  sweep();
}

std::int64_t ConnectPath::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void ConnectPath::take(int fd) {
  Connection& connection = connections_[fd];
  connection = Connection{};
  connection.fd = fd;
  connection.serial = ++next_serial_;
  connection.deadline_ms = now_ms() + head_timeout_ms;
  // Edge-triggered: a request already there is reported at once, so there is
  // no read to try before it comes.
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    spdlog::error("epoll_ctl add: {}", std::strerror(errno));
    close(connection);
  }
}

void ConnectPath::wait_for_events() {
  epoll_watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this](const boost::system::error_code& error) {
                            if (!error) on_events();
                          });
}

void ConnectPath::on_events() {
  const int count = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
  for (int i = 0; i < count; ++i) {
    const int fd = events_[i].data.fd;
    const std::uint32_t flags = events_[i].events;
    auto found = connections_.find(fd);
    if (found == connections_.end()) continue;  // closed or handed on earlier in this batch
    const std::uint64_t serial = found->second.serial;
    if ((flags & EPOLLOUT) && !found->second.out.empty()) write_out(found->second);
    found = connections_.find(fd);
    if (found == connections_.end() || found->second.serial != serial) continue;
    if (flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_from(found->second);
  }
  if (count == static_cast<int>(events_.size())) {
    boost::asio::post(io_, [this] { on_events(); });
  } else {
    wait_for_events();
  }
}

void ConnectPath::read_from(Connection& connection) {
  const int fd = connection.fd;
  const std::uint64_t serial = connection.serial;
  // The connection as it is now, or null once it was closed or handed on.
  auto still = [this, fd, serial]() -> Connection* {
    auto found = connections_.find(fd);
    return found == connections_.end() || found->second.serial != serial ? nullptr : &found->second;
  };
  for (;;) {
    Connection* current = still();
    if (current == nullptr) return;
    const ssize_t n = ::read(fd, read_buffer_.get(), read_buffer_bytes);
    if (n > 0) {
      current->in.append(read_buffer_.get(), static_cast<std::size_t>(n));
      // Each chunk is looked at before the next is read: a request for the
      // general path (a body, say) leaves the rest of its bytes in the socket.
      serve(*current);
      current = still();
      if (current == nullptr) return;
      // More than a head while an answer is still being made: a client that
      // sends without reading is not kept.
      if (current->in.size() > 4 * head_limit_) {
        close(*current);
        return;
      }
      if (static_cast<std::size_t>(n) < read_buffer_bytes) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      close(*current);
      return;
    }
    // The peer closed: a request it sent whole is still answered (then the
    // connection closes); otherwise it is let go.
    current->close_after_write = true;
    if (!current->answering && current->out.empty()) close(*current);
    return;
  }
}

void ConnectPath::serve(Connection& connection) {
  if (connection.answering || !connection.out.empty()) return;  // one answer at a time, in order
  RequestHead head;
  switch (read_request_head(connection.in, head_limit_, head)) {
    case HeadStatus::incomplete: return;
    case HeadStatus::not_taken: to_general(connection); return;
    case HeadStatus::taken: break;
  }
  if (head.request.websocket_upgrade) {
    upgrade(connection, head.request, head.size);
    return;
  }
  connection.in.erase(0, head.size);
  connection.answering = true;
  const int fd = connection.fd;
  const std::uint64_t serial = connection.serial;
  const bool keep_alive = head.keep_alive && !connection.close_after_write;
  auto pending = std::make_shared<PendingAnswer>();
  std::weak_ptr<ConnectPath*> alive = alive_;
  boost::asio::io_context& io = io_;
  handler_.handle(head.request, [pending, alive, &io, fd, serial, keep_alive](HttpResponse response) {
    {
      const std::lock_guard lock(pending->mutex);
      if (pending->in_handle) {
        pending->at_once = std::move(response);
        return;
      }
    }
    boost::asio::post(io, [alive, fd, serial, keep_alive, response = std::move(response)] {
      if (auto self = alive.lock()) (*self)->answer(fd, serial, response, keep_alive);
    });
  });
  std::optional<HttpResponse> at_once;
  {
    const std::lock_guard lock(pending->mutex);
    pending->in_handle = false;
    at_once = std::move(pending->at_once);
  }
  if (at_once) answer(fd, serial, *at_once, keep_alive);
}

void ConnectPath::answer(int fd, std::uint64_t serial, const HttpResponse& response, bool keep_alive) {
  auto found = connections_.find(fd);
  if (found == connections_.end() || found->second.serial != serial) return;  // closed meanwhile
  Connection& connection = found->second;
  connection.answering = false;
  if (!keep_alive) connection.close_after_write = true;
  connection.out += serialize_response(response, keep_alive && !connection.close_after_write);
  write_out(connection);
}

void ConnectPath::upgrade(Connection& connection, const HttpRequest& request, std::size_t head_size) {
  UpgradeDecision decision = handler_.upgrade(request);
  std::optional<HttpResponse> refusal = std::move(decision.refusal);
  UpgradeAnswer websocket;
  if (!refusal) {
    websocket = answer_upgrade(request);
    refusal = std::move(websocket.refusal);
  }
  if (refusal) {
    connection.in.clear();
    connection.close_after_write = true;
    connection.out = serialize_response(*refusal, false);
    write_out(connection);
    return;
  }
  const int fd = connection.fd;
  std::string leftover = connection.in.substr(head_size);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  connections_.erase(fd);
  handoff_(fd, std::move(decision.identity), std::move(leftover), std::move(websocket.switching_protocols));
}

void ConnectPath::write_out(Connection& connection) {
  while (!connection.out.empty()) {
    const ssize_t n = ::write(connection.fd, connection.out.data(), connection.out.size());
    if (n > 0) {
      connection.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!connection.watching_out) {  // rare: the answer did not fit the socket's buffer
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        event.data.fd = connection.fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
        connection.watching_out = true;
      }
      return;
    }
    close(connection);
    return;
  }
  if (connection.close_after_write) {
    close(connection);
    return;
  }
  connection.deadline_ms = now_ms() + head_timeout_ms;  // kept alive: the next request's time starts
  serve(connection);  // a request sent behind this one
}

void ConnectPath::to_general(Connection& connection) {
  const int fd = connection.fd;
  std::string bytes = std::move(connection.in);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  connections_.erase(fd);
  general_(fd, std::move(bytes));
}

void ConnectPath::close(Connection& connection) {
  const int fd = connection.fd;
  ::close(fd);  // also takes it out of the epoll set
  connections_.erase(fd);
}

void ConnectPath::sweep() {
  const std::int64_t now = now_ms();
  std::vector<int> expired;
  for (const auto& [fd, connection] : connections_) {
    if (!connection.answering && connection.deadline_ms <= now) expired.push_back(fd);
  }
  for (int fd : expired) close(connections_.at(fd));
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) sweep();
  });
}

}  // namespace allspark::net
