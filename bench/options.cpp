#include "options.hpp"

#include <charconv>
#include <cstdio>
#include <random>

namespace allspark::bench {

ArgReader::ArgReader(int argc, const char* const* argv) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    // --flag=value is the same as --flag value
    auto eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      args_.push_back(arg.substr(0, eq));
      args_.push_back(arg.substr(eq + 1));
    } else {
      args_.push_back(std::move(arg));
    }
  }
}

int ArgReader::find(std::string_view flag) const {
  for (std::size_t i = 0; i < args_.size(); ++i) {
    if (args_[i] == flag) return static_cast<int>(i);
  }
  return -1;
}

bool ArgReader::take_value(std::string_view flag, std::string& out, bool& found) {
  found = false;
  int i = find(flag);
  if (i < 0) return true;
  auto at = static_cast<std::size_t>(i);
  if (at + 1 >= args_.size()) {
    error_ = std::string(flag) + " needs a value";
    return false;
  }
  out = args_[at + 1];
  args_.erase(args_.begin() + i, args_.begin() + i + 2);
  found = true;
  return true;
}

bool ArgReader::take_string(std::string_view flag, std::string& out) {
  bool found = false;
  return take_value(flag, out, found);
}

bool ArgReader::take_uint(std::string_view flag, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  std::string text;
  bool found = false;
  if (!take_value(flag, text, found)) return false;
  if (!found) return true;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    error_ = std::string(flag) + ": expected an integer from " + std::to_string(min) + " to " +
             std::to_string(max) + ", got '" + text + "'";
    return false;
  }
  out = value;
  return true;
}

bool ArgReader::take_double(std::string_view flag, double min, double max, double& out) {
  std::string text;
  bool found = false;
  if (!take_value(flag, text, found)) return false;
  if (!found) return true;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= min && value <= max)) {
    error_ = std::string(flag) + ": expected a number from " + std::to_string(min) + " to " +
             std::to_string(max) + ", got '" + text + "'";
    return false;
  }
  out = value;
  return true;
}

bool ArgReader::take_switch(std::string_view flag, bool& out) {
  int i = find(flag);
  if (i < 0) return true;
  args_.erase(args_.begin() + i);
  out = true;
  return true;
}

bool ArgReader::take_common(CommonOptions& out) {
  std::uint64_t port = out.port, pid = 0, payload = out.payload_bytes, batch = out.connect_batch;
  bool ok = take_string("--host", out.host) && take_uint("--port", 1, 65535, port) &&
            take_string("--secret", out.secret) && take_uint("--server-pid", 1, 1u << 30, pid) &&
            take_double("--duration", 0.1, 86400, out.duration_s) &&
            take_double("--warmup", 0, 3600, out.warmup_s) &&
            take_double("--grace", 0, 3600, out.grace_s) &&
            take_uint("--payload", 30, 1 << 20, payload) &&
            take_uint("--connect-batch", 1, 100000, batch) && take_string("--tag", out.tag) &&
            take_switch("--json", out.json) && take_switch("--reuse-preconnect", out.reuse_preconnect);
  std::string peer = peer_name(out.peer);
  ok = ok && take_string("--peer", peer);
  if (!ok) return false;
  if (auto kind = peer_from_name(peer)) {
    out.peer = *kind;
  } else {
    error_ = "--peer: expected allspark, nats, mqtt, socketio or ws, got '" + peer + "'";
    return false;
  }
  out.port = static_cast<std::uint16_t>(port);
  out.server_pid = static_cast<int>(pid);
  out.payload_bytes = payload;
  out.connect_batch = batch;
  if (out.secret.empty() && out.peer == Peer::allspark) {
    error_ = "--secret is required (the server's secret: the generator mints its own auth keys)";
    return false;
  }
  if (out.tag.empty()) {
    // Node ids differ from run to run, so a stored inbox of an earlier run
    // never replays into this one.
    char text[16];
    std::snprintf(text, sizeof text, "%06x", static_cast<unsigned>(std::random_device{}() & 0xffffff));
    out.tag = text;
  }
  return true;
}

bool ArgReader::finish() {
  if (!error_.empty()) return false;
  if (!args_.empty()) {
    error_ = "unknown argument '" + args_.front() + "'";
    return false;
  }
  return true;
}

}  // namespace allspark::bench
