#pragma once
// The Server wires the parts together in one place (STYLE.md 4): config,
// secret and server id, the shard with its router, the HTTP API, the listener.
#include <string>

#include "app/config.hpp"

namespace allspark::app {

// Runs `allspark serve` until SIGTERM or SIGINT. Returns the exit status; a
// start-up problem is one line on stderr and status 2.
int run_server(const ServeConfig& config);

}  // namespace allspark::app
