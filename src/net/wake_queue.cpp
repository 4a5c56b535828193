#include "net/wake_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <spdlog/spdlog.h>
#include <system_error>

namespace allspark::net {

WakeQueue::WakeQueue() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

WakeQueue::~WakeQueue() { ::close(fd_); }

void WakeQueue::push(std::function<void()> work) {
  const std::lock_guard lock(mutex_);
  queued_.push_back(std::move(work));
}

void WakeQueue::wake() {
  {
    const std::lock_guard lock(mutex_);
    if (queued_.empty() || signalled_) return;
    signalled_ = true;
  }
  signal();
}

void WakeQueue::post(std::function<void()> work) {
  bool wanted = false;
  {
    const std::lock_guard lock(mutex_);
    queued_.push_back(std::move(work));
    wanted = !signalled_;
    signalled_ = true;
  }
  if (wanted) signal();
}

void WakeQueue::signal() {
  std::uint64_t one = 1;
  if (::write(fd_, &one, sizeof one) < 0 && errno != EAGAIN) {
    spdlog::error("wake eventfd: {}", std::strerror(errno));
  }
}

void WakeQueue::run() {
  std::uint64_t count = 0;
  if (::read(fd_, &count, sizeof count) < 0 && errno != EAGAIN) {
    spdlog::error("wake eventfd: {}", std::strerror(errno));
  }
  {
    const std::lock_guard lock(mutex_);
    running_.swap(queued_);  // both keep their capacity from one wake-up to the next
    signalled_ = false;
  }
  for (const auto& work : running_) work();
  running_.clear();
}

}  // namespace allspark::net
