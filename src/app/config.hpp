#pragma once
// Command line of PROTOCOL.md section 10: `allspark serve`, `allspark token`,
// --help, --version. Parsing is pure; reading files (--secret-file, the
// secret kept beside the store) happens in resolve_secret().
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/secret.hpp"

namespace allspark::app {

struct ServeConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string store = "sqlite:./allspark-data/allspark.db";
  std::string secret;        // --secret
  std::string secret_file;   // --secret-file
  std::string server_id;     // empty: generated once, kept in the store folder
  std::string advertise_url; // empty: ws://host:port/v1/connect
  std::string proxy_url;
  unsigned threads = 0;      // 0: number of cores
  bool no_validation_key = false;
  std::size_t max_message_bytes = 1048576;
  std::string offline_webhook;
  std::vector<std::string> allowed_origins;  // "*" allows any
  unsigned ping_interval_seconds = 25;
  std::int64_t retention_seconds = 30LL * 24 * 3600;
  std::size_t inbox_max = 10000;
  std::size_t log_max = 10000;
  std::string log_level = "info";
};

struct TokenConfig {
  std::string node_id;
  std::string client_id;
  std::string role = "node";
  std::int64_t ttl_seconds = 0;  // 0: no exp
  std::string secret, secret_file, store = "sqlite:./allspark-data/allspark.db";
};

enum class Command { serve, token, exit };

struct CommandLine {
  Command command = Command::exit;
  int exit_status = 0;       // for Command::exit: 0 after --help/--version, 2 on an error
  std::string output;        // what to print (help, version, or the one-line error)
  ServeConfig serve;
  TokenConfig token;
};

// Parses argv. Unknown flags and values it cannot use give Command::exit,
// exit_status 2 and a one-line message naming the flag.
CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace allspark::app
