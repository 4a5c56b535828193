#pragma once
// Work handed to one shard's thread by others: queued under a mutex, and the
// shard's epoll woken through an eventfd at most once until the shard has
// taken what is queued (one wake-up for a burst of posts, not one each).
#include <functional>
#include <mutex>
#include <vector>

namespace allspark::net {

class WakeQueue {
 public:
  WakeQueue();
  ~WakeQueue();
  WakeQueue(const WakeQueue&) = delete;
  WakeQueue& operator=(const WakeQueue&) = delete;

  // The eventfd to watch (readable while something waits to be run).
  int fd() const { return fd_; }
  // Any thread. Queues `work` without waking the shard.
  void push(std::function<void()> work);
  // Any thread. Wakes the shard if something is queued and it was not
  // woken for it yet.
  void wake();
  // Any thread: push, then wake.
  void post(std::function<void()> work);
  // The shard's thread, when fd() is readable: runs everything queued by
  // now, in order. Work queued meanwhile wakes the shard again.
  void run();

 private:
  void signal();  // writes the eventfd

  int fd_ = -1;
  std::mutex mutex_;
  std::vector<std::function<void()>> queued_;  // guarded by mutex_
  bool signalled_ = false;                     // guarded by mutex_: fd_ was written
  std::vector<std::function<void()>> running_;  // the shard thread's: those being run
};

}  // namespace allspark::net
