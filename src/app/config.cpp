#include "app/config.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string_view>
#include <system_error>

#include "protocol/ids.hpp"

namespace allspark::app {

namespace {

constexpr std::string_view version_line = "allspark 0.1.0";
constexpr std::uint64_t max_message_bytes_limit = 64ULL * 1024 * 1024;  // 64 MiB
constexpr std::int64_t max_duration_seconds = 36500LL * 24 * 3600;      // 100 years

constexpr std::string_view id_rule = "an id of 1 to 128 characters from A-Z a-z 0-9 . _ : @ -";

std::string flag_error(std::string_view flag, std::string_view expected, std::string_view got) {
  std::string line = "allspark: ";
  line += flag;
  line += ": expected ";
  line += expected;
  line += ", got '";
  line += printable(got);
  line += "'\n";
  return line;
}

std::string flag_message(std::string_view flag, std::string_view message) {
  return "allspark: " + std::string(flag) + ": " + std::string(message) + "\n";
}

// Digits only: no sign, no spaces, no "0x"; nullopt when out of [min, max].
std::optional<std::uint64_t> integer_in(std::string_view text, std::uint64_t min,
                                        std::uint64_t max) {
  std::uint64_t value = 0;
  const char* last = text.data() + text.size();
  auto [end, error] = std::from_chars(text.data(), last, value);
  if (text.empty() || error != std::errc{} || end != last || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

// "30d", "12h", "90m", "45s" or bare seconds "3600" (PROTOCOL.md section 6).
std::optional<std::int64_t> duration_seconds(std::string_view text) {
  std::int64_t unit = 1;
  if (!text.empty()) {
    constexpr std::string_view units = "smhd";
    constexpr std::array<std::int64_t, 4> unit_seconds = {1, 60, 3600, 24 * 3600};
    if (const std::size_t at = units.find(text.back()); at != std::string_view::npos) {
      unit = unit_seconds[at];
      text.remove_suffix(1);
    }
  }
  const auto count = integer_in(text, 0, static_cast<std::uint64_t>(max_duration_seconds));
  if (!count || static_cast<std::int64_t>(*count) > max_duration_seconds / unit) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*count) * unit;
}

bool has_space_or_control(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// scheme://authority[/...] with one of `schemes`, a non-empty authority and,
// when it names a port, a port from 1 to 65535.
bool is_url(std::string_view text, std::initializer_list<std::string_view> schemes) {
  if (has_space_or_control(text)) return false;
  for (std::string_view scheme : schemes) {
    if (!text.starts_with(scheme) || !text.substr(scheme.size()).starts_with("://")) continue;
    std::string_view authority = text.substr(scheme.size() + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    const std::size_t bracket = authority.rfind(']');  // an IPv6 literal: [::1]:8080
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
      if (!integer_in(authority.substr(colon + 1), 1, 65535)) return false;
      authority = authority.substr(0, colon);
    }
    return !authority.empty();
  }
  return false;
}

std::optional<std::string> check_store(std::string_view store) {
  constexpr std::string_view expected = "sqlite:PATH or redis://host:port";
  if (store.starts_with("sqlite:")) {
    if (store.size() == 7) return std::string(expected);
    return std::nullopt;
  }
  if (store.starts_with("redis://")) {
    std::string_view authority = store.substr(8);
    if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || !is_url(store, {"redis"}) ||
        authority.find('/') != std::string_view::npos) {
      return std::string(expected);
    }
    return std::nullopt;
  }
  return std::string(expected);
}

// Browser origins as the Origin header spells them: scheme://host[:port],
// compared in lower case (RFC 6454 section 6.1 serialises them so).
std::optional<std::vector<std::string>> parse_origins(std::string_view text) {
  std::vector<std::string> origins;
  while (true) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty() && item.back() == '/') item.remove_suffix(1);
    if (item == "*") {
      origins.emplace_back(item);
    } else {
      if (!is_url(item, {"http", "https"})) return std::nullopt;
      const std::string_view authority = item.substr(item.find("://") + 3);
      if (authority.find_first_of("/?#") != std::string_view::npos) return std::nullopt;
      std::string origin(item);
      for (char& c : origin) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      origins.push_back(std::move(origin));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  // "*" means any origin: listing others beside it is a mistake to point out.
  if (origins.size() > 1) {
    for (const std::string& origin : origins) {
      if (origin == "*") return std::nullopt;
    }
  }
  return origins;
}

// One flag to check after CLI11 has split the command line: CLI11 only
// collects text, so that every bad value gets our own one-line message.
struct FlagCheck {
  CLI::Option* option;
  const std::string* text;
  // Stores the value, or returns what was expected when it cannot be used.
  std::function<std::optional<std::string>(const std::string&)> apply;
};

CLI::Option* add_text(CLI::App& app, std::vector<FlagCheck>& checks, std::string& text,
                      const std::string& name, const std::string& type_name,
                      const std::string& default_text, const std::string& description,
                      std::function<std::optional<std::string>(const std::string&)> apply) {
  CLI::Option* option = app.add_option(name, text, description)->type_name(type_name);
  if (!default_text.empty()) option->default_str(default_text);
  checks.push_back({option, &text, std::move(apply)});
  return option;
}

// Raw text of every value flag; only those given are checked and converted.
struct RawFlags {
  std::string host, port, store, secret, secret_file, server_id, advertise_url, proxy_url;
  std::string threads, max_message_bytes, offline_webhook, allowed_origins, ping_interval;
  std::string retention, inbox_max, log_max, log_level;
  std::string node_id, client_id, role, ttl;
  bool no_validation_key = false;
};

std::optional<std::string> non_empty(const std::string& value, std::string& out,
                                     std::string_view expected) {
  if (value.empty()) return std::string(expected);
  out = value;
  return std::nullopt;
}

std::optional<std::string> valid_id(const std::string& value, std::string& out) {
  if (!protocol::is_valid_id(value)) return std::string(id_rule);
  out = value;
  return std::nullopt;
}

std::optional<std::string> valid_store(const std::string& value, std::string& out) {
  if (auto problem = check_store(value)) return problem;
  out = value;
  return std::nullopt;
}

void add_secret_flags(CLI::App& command, std::vector<FlagCheck>& checks, RawFlags& raw,
                      std::string& secret, std::string& secret_file) {
  add_text(command, checks, raw.secret, "--secret", "S", "",
           "the HS256 secret; else --secret-file, else ALLSPARK_SECRET, else the one kept "
           "beside the SQLite database (a secret on the command line shows in ps)",
           [&secret](const std::string& v) { return non_empty(v, secret, "a non-empty secret"); });
  add_text(
      command, checks, raw.secret_file, "--secret-file", "PATH", "",
      "read the secret from this file (a trailing newline is ignored)",
      [&secret_file](const std::string& v) { return non_empty(v, secret_file, "a file path"); });
}

void add_serve_flags(CLI::App& serve, std::vector<FlagCheck>& checks, RawFlags& raw,
                     ServeConfig& config) {
  add_text(serve, checks, raw.host, "--host", "H", "127.0.0.1",
           "address to listen on, for WebSocket and HTTP alike",
           [&config](const std::string& v) -> std::optional<std::string> {
             if (v.empty() || has_space_or_control(v)) return "a host name or address";
             config.host = v;
             return std::nullopt;
           });
  add_text(serve, checks, raw.port, "--port", "P", "8080",
           "port to listen on; 0 lets the system pick a free port",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto port = integer_in(v, 0, 65535);
             if (!port) return "an integer from 0 to 65535";
             config.port = static_cast<std::uint16_t>(*port);
             return std::nullopt;
           });
  add_text(serve, checks, raw.store, "--store", "URL", config.store,
           "sqlite:PATH (embedded) or redis://host:port (redis:// is for the cluster, not "
           "available yet)",
           [&config](const std::string& v) { return valid_store(v, config.store); });
  add_secret_flags(serve, checks, raw, config.secret, config.secret_file);
  add_text(serve, checks, raw.server_id, "--server-id", "ID", "",
           "this server's node_id [generated once and kept in the store folder]",
           [&config](const std::string& v) { return valid_id(v, config.server_id); });
  add_text(
      serve, checks, raw.advertise_url, "--advertise-url", "URL", "",
      "the WebSocket URL that preconnect hands out for this server [ws://host:port/v1/connect]",
      [&config](const std::string& v) -> std::optional<std::string> {
        if (!is_url(v, {"ws", "wss", "http", "https"}))
          return "a ws://, wss://, http:// or https:// URL";
        config.advertise_url = v;
        return std::nullopt;
      });
  add_text(serve, checks, raw.proxy_url, "--proxy-url", "URL", "",
           "the public URL in front of this server, returned by preconnect as proxy_url",
           [&config](const std::string& v) -> std::optional<std::string> {
             if (!is_url(v, {"ws", "wss", "http", "https"}))
               return "a ws://, wss://, http:// or https:// URL";
             config.proxy_url = v;
             return std::nullopt;
           });
  add_text(serve, checks, raw.threads, "--threads", "N", "",
           "event-loop threads, one shard each [number of cores]; every node has a home shard",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto threads = integer_in(v, 1, 1024);
             if (!threads) return "an integer from 1 to 1024";
             config.threads = static_cast<unsigned>(*threads);
             return std::nullopt;
           });
  serve.add_flag("--no-validation-key", raw.no_validation_key,
                 "connect with the auth key alone (no preconnect validation key)");
  add_text(serve, checks, raw.max_message_bytes, "--max-message-bytes", "N", "1048576",
           "largest WebSocket message (and HTTP body) accepted, up to 64 MiB",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto bytes = integer_in(v, 1, max_message_bytes_limit);
             if (!bytes) return "an integer from 1 to 67108864 (64 MiB)";
             config.max_message_bytes = static_cast<std::size_t>(*bytes);
             return std::nullopt;
           });
  add_text(serve, checks, raw.offline_webhook, "--offline-webhook", "URL", "",
           "http:// URL that gets a POST {node_id, seq, src_id, push_key?} for each message stored "
           "for an offline node (retried, never blocking routing)",
           [&config](const std::string& v) -> std::optional<std::string> {
             if (!is_url(v, {"http"})) return "an http:// URL";
             config.offline_webhook = v;
             return std::nullopt;
           });
  add_text(
      serve, checks, raw.allowed_origins, "--allowed-origins", "LIST", "",
      "[none] comma-separated browser origins (https://app.example.com) allowed for CORS and "
      "WebSocket upgrades, or * for any",
      [&config](const std::string& v) -> std::optional<std::string> {
        auto origins = parse_origins(v);
        if (!origins)
          return "a comma-separated list of origins such as https://app.example.com, or * alone";
        config.allowed_origins = std::move(*origins);
        return std::nullopt;
      });
  add_text(serve, checks, raw.ping_interval, "--ping-interval", "SECONDS", "25",
           "WebSocket ping to idle connections; one silent for 3 intervals is closed (4000)",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto seconds = integer_in(v, 1, 86400);
             if (!seconds) return "an integer number of seconds from 1 to 86400";
             config.ping_interval_seconds = static_cast<unsigned>(*seconds);
             return std::nullopt;
           });
  add_text(serve, checks, raw.retention, "--retention", "DURATION", "30d",
           "how long inbox and session-log entries are kept: a number with a unit s, m, h or d, "
           "bare seconds; older inbox entries are dropped and counted",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto seconds = duration_seconds(v);
             if (!seconds || *seconds < 1) {
               return "a duration such as 30d, 12h, 90m, 45s or 3600 (seconds), at least 1 s";
             }
             config.retention_seconds = *seconds;
             return std::nullopt;
           });
  add_text(serve, checks, raw.inbox_max, "--inbox-max", "N", "10000",
           "most entries kept in one node's inbox; the oldest go first, counted",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto count = integer_in(v, 1, 1'000'000'000);
             if (!count) return "an integer from 1 to 1000000000";
             config.inbox_max = static_cast<std::size_t>(*count);
             return std::nullopt;
           });
  add_text(serve, checks, raw.log_max, "--log-max", "N", "10000",
           "most entries kept in one session's log; the oldest go first, counted",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto count = integer_in(v, 1, 1'000'000'000);
             if (!count) return "an integer from 1 to 1000000000";
             config.log_max = static_cast<std::size_t>(*count);
             return std::nullopt;
           });
  add_text(serve, checks, raw.log_level, "--log-level", "L", "info",
           "trace, debug, info, warn or error",
           [&config](const std::string& v) -> std::optional<std::string> {
             for (std::string_view level : {"trace", "debug", "info", "warn", "error"}) {
               if (v == level) {
                 config.log_level = v;
                 return std::nullopt;
               }
             }
             return "one of trace, debug, info, warn, error";
           });
}

void add_token_flags(CLI::App& token, std::vector<FlagCheck>& checks, RawFlags& raw,
                     TokenConfig& config) {
  add_text(token, checks, raw.node_id, "--node-id", "N", "", "the node id (sub) [required]",
           [&config](const std::string& v) { return valid_id(v, config.node_id); });
  add_text(token, checks, raw.client_id, "--client-id", "C", "",
           "the client (user) that owns the node",
           [&config](const std::string& v) { return valid_id(v, config.client_id); });
  add_text(token, checks, raw.role, "--role", "ROLE", "node", "node, app or server",
           [&config](const std::string& v) -> std::optional<std::string> {
             if (v != "node" && v != "app" && v != "server") return "one of node, app, server";
             config.role = v;
             return std::nullopt;
           });
  add_text(token, checks, raw.ttl, "--ttl", "SECONDS", "0",
           "lifetime of the key (3600, or with a unit: 90m, 12h, 30d); 0: no expiry",
           [&config](const std::string& v) -> std::optional<std::string> {
             const auto seconds = duration_seconds(v);
             if (!seconds) return "a number of seconds such as 3600 (or 90m, 12h, 30d), 0 for none";
             config.ttl_seconds = *seconds;
             return std::nullopt;
           });
  add_secret_flags(token, checks, raw, config.secret, config.secret_file);
  add_text(token, checks, raw.store, "--store", "URL", config.store,
           "the store whose folder keeps the secret `allspark serve` generated",
           [&config](const std::string& v) { return valid_store(v, config.store); });
}

CommandLine exit_with(int status, std::string output) {
  CommandLine line;
  line.command = Command::exit;
  line.exit_status = status;
  line.output = std::move(output);
  return line;
}

// CLI11's own messages for the errors it finds while splitting, in our one-line form.
std::string parse_error_line(const CLI::ParseError& error) {
  std::string_view what = error.what();
  what = what.substr(0, what.find('\n'));
  const std::size_t colon = what.find(": ");
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr && what.starts_with("--") &&
      colon != std::string_view::npos) {
    const std::string_view flag = what.substr(0, colon);
    if (what.find("At Most") != std::string_view::npos) {
      return flag_message(flag, "given more than once");
    }
    return flag_message(flag, "expected a value");
  }
  return "allspark: " + std::string(what) + "\n";
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  RawFlags raw;
  std::vector<FlagCheck> checks;

  CLI::App app("Allspark: a realtime WebSocket messaging router.", "allspark");
  app.set_version_flag("--version", std::string(version_line), "print the version and exit");
  // Unknown arguments are collected, not thrown, so that the message can name them.
  app.allow_extras();

  CLI::App* serve = app.add_subcommand("serve", "run a server");
  serve->allow_extras();
  add_serve_flags(*serve, checks, raw, result.serve);

  CLI::App* token = app.add_subcommand(
      "token", "print an auth key signed with the configured secret, for development");
  token->allow_extras();
  add_token_flags(*token, checks, raw, result.token);
  // Set after the subcommands, which would otherwise inherit it.
  app.footer(
      "Run `allspark serve --help` or `allspark token --help` for their flags. A bad flag or "
      "value stops with one line naming the flag and exit status 2; so does no command at all.");
  serve->footer(
      "Flags marked 'not available yet' are already checked, so scripts may use them; they take "
      "effect when their feature lands.");
  token->footer(
      "The secret is found as for `allspark serve`, but `token` never creates one: without one "
      "it stops with one line and exit status 2.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return exit_with(0, app.help());
  } catch (const CLI::CallForAllHelp&) {
    return exit_with(0, app.help("", CLI::AppFormatMode::All));
  } catch (const CLI::CallForVersion&) {
    return exit_with(0, std::string(version_line) + "\n");
  } catch (const CLI::ParseError& error) {
    return exit_with(2, parse_error_line(error));
  }

  // A value is checked before unknown arguments: `--host --port 1` makes
  // "--port" the host's value, and that is the mistake to point at.
  for (const FlagCheck& check : checks) {
    if (check.option->count() == 0) continue;
    const std::string flag = check.option->get_name();
    // CLI11 takes the word after a flag as its value even when it is a flag:
    // no value of ours starts with "--" except, perhaps, a secret.
    if (check.text->starts_with("--") && flag != "--secret") {
      return exit_with(2, flag_error(flag, "a value", *check.text));
    }
    if (auto expected = check.apply(*check.text)) {
      return exit_with(2, flag_error(flag, *expected, *check.text));
    }
  }
  for (const std::string& extra : app.remaining(true)) {
    if (extra.starts_with("-")) {
      return exit_with(2,
                       flag_message(extra.substr(0, extra.find('=')), "unknown flag (see --help)"));
    }
    return exit_with(2, "allspark: unexpected argument '" + printable(extra) + "' (see --help)\n");
  }

  if (serve->parsed()) {
    result.serve.no_validation_key = raw.no_validation_key;
    result.command = Command::serve;
    return result;
  }
  if (token->parsed()) {
    if (result.token.node_id.empty()) {
      return exit_with(2, flag_message("--node-id", "required: the node id to mint a key for"));
    }
    result.command = Command::token;
    return result;
  }
  // No command: one line that says what to run, not the whole help.
  return exit_with(2,
                   "allspark: no command: run `allspark serve` to start a server, `allspark "
                   "token --node-id N` to mint a key, or `allspark --help`\n");
}

}  // namespace allspark::app
