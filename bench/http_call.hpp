#pragma once
// One blocking HTTP/1.1 request to the server (set-up only, never timed):
// how a workload creates what it needs first, such as fanout's session.
#include <string>
#include <string_view>

#include "ws_client.hpp"

namespace allspark::bench {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// Sends `method path` with `Authorization: Bearer auth_key` and `body`, reads
// the whole answer (the server closes after it). False with `error` when the
// server cannot be reached or the answer is not HTTP.
bool http_call(const Endpoint& endpoint, std::string_view method, std::string_view path, std::string_view auth_key,
               std::string_view body, HttpAnswer& answer, std::string& error);

}  // namespace allspark::bench
