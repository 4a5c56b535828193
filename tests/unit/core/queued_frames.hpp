#pragma once
// For the core's tests: what a connection's send queue holds, as the frame
// texts a client would read (per-recipient head + shared body), emptying it.
#include <string>
#include <vector>

#include "core/connection.hpp"

inline std::vector<std::string> take_queued(allspark::core::Connection& c) {
  std::vector<std::string> frames;
  while (!c.queue.empty()) {
    const auto& f = c.queue.at(0);
    frames.emplace_back(std::string(f.head, f.head_len) + std::string(f.body->view()));
    c.queue.pop_front();
  }
  return frames;
}
