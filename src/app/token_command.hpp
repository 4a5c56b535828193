#pragma once
// `allspark token` (PROTOCOL.md sections 2 and 10): prints an auth key signed
// with the configured secret, for development. Never creates a secret.
#include <cstdio>

#include "app/config.hpp"

namespace allspark::app {

// Prints the key and a newline on `out` and returns 0; on a bad id or role,
// or when no secret is found, prints one line on `err` and returns 2.
int run_token_command(const TokenConfig& config, std::FILE* out, std::FILE* err);

}  // namespace allspark::app
