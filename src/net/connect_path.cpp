#include "net/connect_path.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <spdlog/spdlog.h>
#include <system_error>
#include <vector>

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

ConnectPath::Connection* ConnectPath::find(int fd, std::uint64_t serial) {
  auto found = connections_.find(fd);
  return found == connections_.end() || found->second.serial != serial ? nullptr : &found->second;
}

void ConnectPath::on_events() {
  const int count = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
  for (int i = 0; i < count; ++i) {
    const int fd = events_[i].data.fd;
    const std::uint32_t flags = events_[i].events;
    auto found = connections_.find(fd);
    if (found == connections_.end()) continue;  // closed or handed on earlier in this batch
    const std::uint64_t serial = found->second.serial;
    // One connection's failure (an exception from the handler, say) closes
    // that connection, not the server.
    try {
      if ((flags & EPOLLOUT) && !found->second.out.empty() && write_out(found->second)) serve(found->second);
      if (Connection* connection = find(fd, serial);
          connection != nullptr && (flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        read_from(*connection, (flags & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
      }
    } catch (const std::exception& error) {
      spdlog::error("connect path: {}", error.what());
      if (Connection* connection = find(fd, serial)) close(*connection);
    }
  }
  if (count == static_cast<int>(events_.size())) {
    std::weak_ptr<ConnectPath*> alive = alive_;
    boost::asio::post(io_, [alive] {
      if (auto self = alive.lock()) (*self)->on_events();
    });
  } else {
    wait_for_events();
  }
}

void ConnectPath::read_from(Connection& connection, bool peer_hung_up) {
  const int fd = connection.fd;
  const std::uint64_t serial = connection.serial;
  for (;;) {
    Connection* current = find(fd, serial);
    if (current == nullptr) return;
    const ssize_t n = ::read(fd, read_buffer_.get(), read_buffer_bytes);
    if (n > 0) {
      current->in.append(read_buffer_.get(), static_cast<std::size_t>(n));
      // Each chunk is looked at before the next is read: a request for the
      // general path (a body, say) leaves the rest of its bytes in the socket.
      serve(*current);
      current = find(fd, serial);
      if (current == nullptr) return;
      // More than a head while an answer is still being made: a client that
      // sends without reading is not kept.
      if (current->in.size() > 4 * head_limit_) {
        close(*current);
        return;
      }
      // A short read emptied the socket; but an end of stream that came in
      // the same event has no edge left to report it: then read on to it.
      if (static_cast<std::size_t>(n) < read_buffer_bytes && !peer_hung_up) return;
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

// Answers the requests in `in`, one after the other, until one is
// incomplete, awaited, blocked on a full socket or handed on. A loop, not a
// recursion: a client may pipeline many.
void ConnectPath::serve(Connection& first) {
  const int fd = first.fd;
  const std::uint64_t serial = first.serial;
  for (Connection* connection = &first; connection != nullptr; connection = find(fd, serial)) {
    if (connection->answering || !connection->out.empty()) return;  // one answer at a time, in order
    RequestHead head;
    switch (read_request_head(connection->in, head_limit_, head, connection->scanned)) {
      case HeadStatus::incomplete: return;
      case HeadStatus::not_taken: to_general(*connection); return;
      case HeadStatus::taken: break;
    }
    ++answered_;
    if (head.request.websocket_upgrade) {
      upgrade(*connection, head.request, head.size);
      return;
    }
    connection->in.erase(0, head.size);
    connection->scanned = 0;
    connection->answering = true;
    const bool keep_alive = head.keep_alive && !connection->close_after_write;
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
        auto self = alive.lock();
        if (!self) return;
        try {
          Connection* connection = (*self)->find(fd, serial);
          if (connection != nullptr && (*self)->answer(*connection, response, keep_alive)) {
            (*self)->serve(*connection);
          }
        } catch (const std::exception& error) {
          spdlog::error("connect path: {}", error.what());
          if (Connection* connection = (*self)->find(fd, serial)) (*self)->close(*connection);
        }
      });
    });
    std::optional<HttpResponse> at_once;
    {
      const std::lock_guard lock(pending->mutex);
      pending->in_handle = false;
      at_once = std::move(pending->at_once);
    }
    connection = find(fd, serial);
    if (!at_once || connection == nullptr || !answer(*connection, *at_once, keep_alive)) return;
  }
}

bool ConnectPath::answer(Connection& connection, const HttpResponse& response, bool keep_alive) {
  connection.answering = false;
  if (!keep_alive) connection.close_after_write = true;
  connection.out += serialize_response(response, keep_alive && !connection.close_after_write);
  return write_out(connection);
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

bool ConnectPath::write_out(Connection& connection) {
  while (!connection.out.empty()) {
    // MSG_NOSIGNAL: a peer that reset the connection is an error here, not
    // a SIGPIPE that ends the process.
    const ssize_t n = ::send(connection.fd, connection.out.data(), connection.out.size(), MSG_NOSIGNAL);
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
      return false;
    }
    close(connection);
    return false;
  }
  if (connection.close_after_write) {
    close(connection);
    return false;
  }
  connection.deadline_ms = now_ms() + head_timeout_ms;  // kept alive: the next request's time starts
  return true;
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
  // An answer that has not come by then either is given up (a late one
  // finds the connection gone).
  for (const auto& [fd, connection] : connections_) {
    if (connection.deadline_ms <= now) expired.push_back(fd);
  }
  for (int fd : expired) close(connections_.at(fd));
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error) sweep();
  });
}

}  // namespace allspark::net
