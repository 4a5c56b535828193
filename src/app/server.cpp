#include "app/server.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api/http_api.hpp"
#include "api/metrics.hpp"
#include "net/listener.hpp"
#include "net/shard.hpp"
#include "protocol/ids.hpp"

namespace allspark::app {

namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// --server-id, else the id generated once and kept in the store folder.
std::optional<std::string> resolve_server_id(const ServeConfig& config, std::string& error) {
  if (!config.server_id.empty()) return config.server_id;
  std::filesystem::path folder = store_folder(config.store);
  std::filesystem::path file = folder / "server-id";
  std::ifstream in(file);
  std::string id;
  if (in && std::getline(in, id) && protocol::is_valid_id(id)) return id;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  id = "srv-" + random_hex(6);
  std::ofstream out(file, std::ios::trunc);
  out << id << '\n';
  if (!out) {
    error = "--store: cannot write " + file.string();
    return std::nullopt;
  }
  return id;
}

// One SQLite store belongs to one server process (PROTOCOL.md section 10):
// an flock on a file in the store folder, released when the process dies.
bool lock_store(const ServeConfig& config, std::string& error) {
  std::filesystem::path folder = store_folder(config.store);
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  std::string path = (folder / "allspark.lock").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "--store: cannot open " + path;
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    error = "--store: " + config.store + " is held by another running server";
    return false;
  }
  return true;  // the descriptor stays open for the life of the process
}

std::int64_t now_seconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

void set_up_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("allspark");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

}  // namespace

int run_server(const ServeConfig& config) {
  set_up_logging(config.log_level);
  if (config.store.rfind("redis://", 0) == 0) {
    std::fprintf(stderr, "allspark: --store: redis:// is for the cluster, which is not built yet; use sqlite:PATH\n");
    return 2;
  }
  std::string error;
  if (!lock_store(config, error)) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }
  bool secret_exists_beside_store =
      std::filesystem::exists(std::filesystem::path(store_folder(config.store)) / "secret");
  auto secret = resolve_secret(config.secret, config.secret_file, config.store, true, error);
  if (!secret) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }
  bool generated_secret = config.secret.empty() && config.secret_file.empty() && !std::getenv("ALLSPARK_SECRET") &&
                          !secret_exists_beside_store;
  auto server_id = resolve_server_id(config, error);
  if (!server_id) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }

  boost::asio::io_context io(1);
  net::ShardConfig shard_config;
  shard_config.router.server_id = *server_id;
  shard_config.router.connection_prefix = random_hex(3) + "-";
  shard_config.max_message_bytes = config.max_message_bytes;
  shard_config.ping_interval_ms = config.ping_interval_seconds * 1000;
  // A slow consumer may fall this far behind before it is closed (4001).
  shard_config.router.max_queue_bytes = std::max<std::size_t>(8u << 20, 4 * config.max_message_bytes);
  net::Shard shard(io, shard_config);

  api::ApiConfig api_config;
  api_config.secret = *secret;
  api_config.server_id = *server_id;
  api_config.proxy_url = config.proxy_url;
  api_config.require_validation_key = !config.no_validation_key;
  api_config.allowed_origins = config.allowed_origins;
  bool draining = false;
  api::ServerHooks hooks;
  hooks.draining = [&draining] { return draining; };
  hooks.load = [&shard] { return shard.connection_count(); };
  hooks.metrics_text = [&] {
    api::MetricsSnapshot m;
    const net::ShardCounters& sc = shard.counters();
    const core::RouterCounters& rc = shard.router().counters();
    m.connections = sc.connections.get();
    m.connections_total = sc.connections_total.get();
    m.bytes_in = sc.bytes_in.get();
    m.bytes_out = sc.bytes_out.get();
    m.pings_sent = sc.pings_sent.get();
    m.ping_timeouts = sc.ping_timeouts.get();
    m.messages_in = rc.messages_in.get();
    m.frames_out = rc.frames_out.get();
    m.slow_consumers = rc.slow_consumers.get();
    for (std::size_t i = 0; i < m.errors.size(); ++i) m.errors[i] = rc.errors[i].get();
    m.draining = draining;
    return api::format_metrics(m);
  };
  api::HttpApi http_api(api_config, now_seconds, hooks);

  std::unique_ptr<net::Listener> listener;
  try {
    listener = std::make_unique<net::Listener>(
        io, net::ListenerConfig{config.host, config.port, config.max_message_bytes}, http_api, shard);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "allspark: --host/--port: cannot listen on %s:%u: %s\n", config.host.c_str(),
                 static_cast<unsigned>(config.port), e.what());
    return 2;
  }
  std::uint16_t port = listener->port();
  api_config.host = config.host;
  api_config.port = port;
  if (config.advertise_url.empty()) {
    api_config.url = "ws://" + config.host + ":" + std::to_string(port) + "/v1/connect";
  } else {
    api_config.url = config.advertise_url;
    // host and port of the advertised URL: scheme://host[:port]/...
    std::string_view rest = config.advertise_url;
    rest.remove_prefix(rest.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    std::size_t colon = rest.rfind(':');
    bool secure = config.advertise_url.rfind("wss", 0) == 0 || config.advertise_url.rfind("https", 0) == 0;
    api_config.host = std::string(rest.substr(0, colon));
    api_config.port = colon == std::string_view::npos
                          ? (secure ? 443 : 80)
                          : static_cast<std::uint16_t>(std::stoi(std::string(rest.substr(colon + 1))));
  }
  http_api = api::HttpApi(api_config, now_seconds, hooks);

  // SIGTERM: stop accepting, tell clients to reconnect elsewhere (1001),
  // give them a moment to close, exit 0 (PROTOCOL.md section 9).
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain_timer(io);
  std::function<void(int)> wait_for_drain = [&](int ticks_left) {
    if (shard.connection_count() == 0 || ticks_left == 0) {
      listener->stop();
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&, ticks_left](const boost::system::error_code&) { wait_for_drain(ticks_left - 1); });
  };
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    spdlog::info("signal {}: draining", signal);
    // The listener stays open meanwhile: /healthz and upgrades answer 503.
    draining = true;
    shard.close_all(1001, "server draining: reconnect through preconnect");
    wait_for_drain(60);
  });

  shard.start();
  listener->start();
  if (generated_secret) {
    std::printf("allspark: generated a secret in %s/secret; mint an auth key with:\n"
                "  allspark token --store %s --node-id phone1 --client-id alice\n",
                store_folder(config.store).c_str(), config.store.c_str());
  }
  if (config.threads > 1) spdlog::info("--threads {}: one event loop for now (shards come with part 2)", config.threads);
  std::printf("allspark %s listening on http://%s:%u (server_id %s)\n", "0.1.0", config.host.c_str(),
              static_cast<unsigned>(port), server_id->c_str());
  std::fflush(stdout);
  io.run();
  return 0;
}

}  // namespace allspark::app
