#include "app/token_command.hpp"

#include <chrono>
#include <string>

#include "protocol/ids.hpp"
#include "protocol/token.hpp"

namespace allspark::app {

namespace {

// The value as it may appear in a one-line message.
std::string shown(const std::string& value) {
  std::string out;
  for (char c : value) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return out;
}

int fail(std::FILE* err, const std::string& message) {
  std::fprintf(err, "allspark: %s\n", message.c_str());
  return 2;
}

}  // namespace

int run_token_command(const TokenConfig& config, std::FILE* out, std::FILE* err) {
  // parse_command_line checks these too; a TokenConfig built in code has not been.
  constexpr const char* id_rule = "an id of 1 to 128 characters from A-Z a-z 0-9 . _ : @ -";
  if (!protocol::is_valid_id(config.node_id)) {
    return fail(err, std::string("--node-id: expected ") + id_rule + ", got '" +
                         shown(config.node_id) + "'");
  }
  if (!config.client_id.empty() && !protocol::is_valid_id(config.client_id)) {
    return fail(err, std::string("--client-id: expected ") + id_rule + ", got '" +
                         shown(config.client_id) + "'");
  }
  protocol::AuthClaims claims;
  claims.node_id = config.node_id;
  claims.client_id = config.client_id;
  if (config.role == "app") {
    claims.role = protocol::Role::app;
  } else if (config.role == "server") {
    claims.role = protocol::Role::server;
  } else if (config.role != "node") {
    return fail(err, "--role: expected one of node, app, server, got '" + shown(config.role) + "'");
  }
  if (config.ttl_seconds < 0) {
    return fail(err, "--ttl: expected 0 (no expiry) or more seconds, got '" +
                         std::to_string(config.ttl_seconds) + "'");
  }

  std::string error;
  const auto secret =
      resolve_secret(config.secret, config.secret_file, config.store, /*create=*/false, error);
  if (!secret) return fail(err, error);

  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::string key = protocol::mint_auth_key(claims, *secret, now, config.ttl_seconds);
  std::fprintf(out, "%s\n", key.c_str());
  return std::fflush(out) == 0 ? 0 : 1;
}

}  // namespace allspark::app
