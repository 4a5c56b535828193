#include "app/server.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <csignal>
#include <functional>
#include <pthread.h>
#include <thread>
#include <vector>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/allocator.hpp"
#include "api/http_api.hpp"
#include "api/metrics.hpp"
#include "core/shard_mail.hpp"
#include "inbox/inbox.hpp"
#include "net/listener.hpp"
#include "net/webhook.hpp"
#include "net/shard.hpp"
#include "session/sessions.hpp"
#include "protocol/ids.hpp"
#include "store/sqlite/sqlite_store.hpp"

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
  // Every write to a socket says MSG_NOSIGNAL; this is for any that does
  // not: a peer's reset is an error to handle, never the end of the process.
  std::signal(SIGPIPE, SIG_IGN);
  set_up_logging(config.log_level);
  if (config.store.rfind("redis://", 0) == 0) {
    std::fprintf(stderr, "allspark: --store: redis:// is for the cluster, which is not built yet; use sqlite:PATH\n");
    return 2;
  }
  std::string error;
  bool secret_exists_beside_store =
      std::filesystem::exists(std::filesystem::path(store_folder(config.store)) / "secret");
  auto secret = resolve_secret(config.secret, config.secret_file, config.store, true, error);
  if (!secret) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }
  bool generated_secret = config.secret.empty() && config.secret_file.empty() && !std::getenv("ALLSPARK_SECRET") &&
                          !secret_exists_beside_store;
  if (!lock_store(config, error)) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }
  auto server_id = resolve_server_id(config, error);
  if (!server_id) {
    std::fprintf(stderr, "allspark: %s\n", error.c_str());
    return 2;
  }

  // --threads shards, each its own event loop on its own thread; this thread
  // runs the listener's Asio loop (accept, HTTP, upgrades): docs/threading.md.
  const unsigned shard_count = config.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : config.threads;
  boost::asio::io_context io(1);
  // Declared after the io_context, and closed (flushed, its thread joined)
  // by close_store below, before the shards its answers go to are destroyed.
  store::StoreLimits limits;
  limits.inbox_max = config.inbox_max;
  limits.log_max = config.log_max;
  limits.retention_ms = config.retention_seconds * 1000;
  std::unique_ptr<store::Store> store =
      store::open_sqlite_store(config.store.substr(std::string("sqlite:").size()), error, limits);
  if (!store) {
    std::fprintf(stderr, "allspark: --store: %s\n", error.c_str());
    return 2;
  }
  std::vector<std::unique_ptr<net::Shard>> shards;
  // The offline webhook has a thread of its own: a slow receiver never blocks
  // a shard. Declared here so that it outlives the store's last callbacks.
  std::unique_ptr<net::Webhook> webhook;
  std::vector<std::unique_ptr<inbox::Inbox>> inboxes;  // one per shard, owned by its thread
  std::vector<std::unique_ptr<session::Sessions>> sessions;  // one per shard, each a copy of every session
  // Destroyed before those four, whichever way run_server returns: the
  // store commits what is queued and runs its callbacks and its hook while
  // the shards, the webhook, inboxes and sessions they reach still exist.
  struct StoreCloser {
    std::unique_ptr<store::Store>& store;
    ~StoreCloser() { store.reset(); }
  } close_store{store};
  net::ShardConfig shard_config;
  shard_config.router.server_id = *server_id;
  shard_config.router.connection_prefix = random_hex(3) + "-";
  shard_config.router.shards = shard_count;
  shard_config.router.send_mail = [&shards](std::uint32_t to, core::ShardMail mail) {
    shards[to]->post_mail(std::move(mail));
  };
  shard_config.max_message_bytes = config.max_message_bytes;
  shard_config.ping_interval_ms = config.ping_interval_seconds * 1000;
  // A slow consumer may fall this far behind before it is closed (4001).
  shard_config.router.max_queue_bytes = std::max<std::size_t>(8u << 20, 4 * config.max_message_bytes);
  // Per-node seq and "has stored messages" live in memory: a connect touches no disk.
  const std::vector<store::InboxState> inbox_states = store->load_inbox_states();
  // Section 6: retries within 10 minutes of an -7 are answered alone, also across a restart.
  const std::vector<store::AckedId> acked_ids = store->load_acked_ids(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() -
      inbox::TracksConfig{}.retry_window_ms);
  const auto memberships = store->load_client_nodes();
  const auto push_keys = store->load_push_keys();
  const store::SessionsSnapshot session_snapshot = store->load_sessions();
  if (!config.offline_webhook.empty()) {
    try {
      webhook = std::make_unique<net::Webhook>(net::WebhookConfig{config.offline_webhook});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "allspark: --offline-webhook: %s\n", e.what());
      return 2;
    }
  }
  for (unsigned i = 0; i < shard_count; ++i) {
    shard_config.router.shard = i;
    // Connection ids stay unique across shards: the shard is part of them.
    std::string prefix = shard_config.router.connection_prefix;
    shard_config.router.connection_prefix = prefix + std::to_string(i) + "-";
    shards.push_back(std::make_unique<net::Shard>(shard_config));
    shard_config.router.connection_prefix = prefix;
    net::Shard& shard = *shards.back();
    inbox::InboxConfig inbox_config;
    inbox_config.post = [&shard](std::function<void()> work) { shard.post_work(std::move(work)); };
    inbox_config.post_answer = [&shard](std::function<void()> work) { shard.post_store_answer(std::move(work)); };
    if (webhook) inbox_config.notify = [&webhook](std::string body) { webhook->post(std::move(body)); };
    inbox_config.session_access = [&sessions, i](std::string_view node_id, protocol::Role role,
                                                 std::string_view session_id) {
      return sessions[i]->may_read(node_id, role, session_id);
    };
    inbox_config.session_marks = [&sessions, i](std::string_view node_id) {
      return sessions[i]->replay_marks(node_id);
    };
    inbox_config.session_publish = [&sessions, i](core::Node& node, const protocol::Message& m, std::int64_t now_ms,
                                                  std::function<void(core::TrackResult)> done) {
      sessions[i]->publish_http(node, m, now_ms, std::move(done));
    };
    inboxes.push_back(std::make_unique<inbox::Inbox>(shard.router(), *store, inbox_config));
    inboxes.back()->restore(inbox_states, push_keys);
    inboxes.back()->restore_acked_ids(acked_ids);
    shard.router().set_offline(inboxes.back().get());
    for (const auto& [client_id, node_id] : memberships) shards.back()->router().restore_member(client_id, node_id);
    session::SessionsConfig sessions_config;
    sessions_config.post_to = [&shards, &sessions](std::uint32_t to, std::function<void(session::Sessions&)> work) {
      session::Sessions& there = *sessions[to];
      shards[to]->post_work([&there, work = std::move(work)] { work(there); });
    };
    sessions_config.post_answer = [&shard](std::function<void()> work) { shard.post_store_answer(std::move(work)); };
    if (webhook) sessions_config.notify = [&webhook](std::string body) { webhook->post(std::move(body)); };
    sessions.push_back(std::make_unique<session::Sessions>(shard.router(), *inboxes.back(), *store, sessions_config));
    sessions.back()->restore(session_snapshot);
    shard.router().set_sessions(sessions.back().get());
  }
  // Each transaction's answers wake a shard once (Store::set_after_callbacks).
  store->set_after_callbacks([&shards] {
    for (const auto& shard : shards) shard->hand_over_store_answers();
  });
  auto total_connections = [&shards] {
    std::uint64_t n = 0;
    for (const auto& shard : shards) n += shard->connection_count();
    return n;
  };

  api::ApiConfig api_config;
  api_config.secret = *secret;
  api_config.server_id = *server_id;
  api_config.proxy_url = config.proxy_url;
  api_config.require_validation_key = !config.no_validation_key;
  api_config.allowed_origins = config.allowed_origins;
  std::atomic<bool> draining = false;
  api::ServerHooks hooks;
  hooks.draining = [&draining] { return draining.load(); };
  hooks.load = total_connections;
  hooks.metrics_text = [&] {
    api::MetricsSnapshot m;
    for (const auto& shard : shards) {
      const net::ShardCounters& sc = shard->counters();
      const core::RouterCounters& rc = shard->router().counters();
      m.connections += sc.connections.get();
      m.connections_total += sc.connections_total.get();
      m.bytes_in += sc.bytes_in.get();
      m.bytes_out += sc.bytes_out.get();
      m.pings_sent += sc.pings_sent.get();
      m.ping_timeouts += sc.ping_timeouts.get();
      m.messages_in += rc.messages_in.get();
      m.frames_out += rc.frames_out.get();
      m.slow_consumers += rc.slow_consumers.get();
      for (std::size_t i = 0; i < m.errors.size(); ++i) m.errors[i] += rc.errors[i].get();
    }
    for (const auto& inbox : inboxes) {
      m.inbox_stored += inbox->counters().stored.get();
      m.inbox_dropped += inbox->counters().ephemeral_dropped.get();
      m.inbox_store_failures += inbox->counters().store_failures.get();
      m.acks_answered += inbox->tracks().counters().acked.get();
      m.ack_retries += inbox->tracks().counters().retries.get();
      m.ack_waited += inbox->tracks().counters().waited.get();
    }
    if (webhook) {
      net::WebhookStats ws = webhook->stats();
      m.webhook_posted = ws.posted;
      m.webhook_delivered = ws.delivered;
      m.webhook_retried = ws.retried;
      m.webhook_failed = ws.failed;
      m.webhook_dropped = ws.dropped;
      m.webhook_queue_depth = ws.queue_depth;
    }
    store::StoreStats ss = store->stats();
    m.store_entries_written = ss.entries_written;
    m.store_entries_acked = ss.entries_acked;
    m.store_transactions = ss.transactions;
    m.store_queue_depth = ss.queue_depth;
    m.store_last_commit_us = ss.last_commit_us;
    m.store_total_commit_us = ss.total_commit_us;
    m.inbox_dropped_inbox_max = ss.dropped_inbox_max;
    m.inbox_dropped_retention = ss.dropped_retention;
    m.log_entries_written = ss.log_entries_written;
    m.log_dropped_log_max = ss.log_dropped_log_max;
    m.log_dropped_retention = ss.log_dropped_retention;
    m.store_damaged_rows = ss.damaged_rows;
    for (const auto& s : sessions) {
      m.session_messages += s->counters().messages.get();
      m.session_deliveries += s->counters().fanned_out.get();
    }
    m.draining = draining;
    return api::format_metrics(m);
  };
  hooks.on_home_shard = [&shards, &inboxes](const std::string& node_id,
                                            std::function<void(core::Router&, inbox::Inbox&)> work) {
    std::uint32_t home = shards[0]->router().home_of(node_id);
    net::Shard& shard = *shards[home];
    inbox::Inbox& inbox = *inboxes[home];
    shard.post_work([&shard, &inbox, work = std::move(work)] { work(shard.router(), inbox); });
  };
  hooks.on_session_home = [&shards, &sessions](const std::string& session_id,
                                               std::function<void(session::Sessions&)> work) {
    std::uint32_t home = shards[0]->router().home_of(session_id);
    session::Sessions& there = *sessions[home];
    shards[home]->post_work([&there, work = std::move(work)] { work(there); });
  };
  api::HttpApi http_api(api_config, now_seconds, hooks);

  // After the upgrade a connection moves to its node's home shard for life.
  net::UpgradeHandoff handoff = [&shards](int fd, core::ConnectIdentity identity, std::string leftover,
                                          std::string handshake_reply) {
    net::Shard& home = *shards[shards[0]->router().home_of(identity.node_id)];
    home.post_work([&home, fd, identity = std::move(identity), leftover = std::move(leftover),
                    handshake_reply = std::move(handshake_reply)] { home.adopt(fd, identity, leftover, handshake_reply); });
  };
  std::unique_ptr<net::Listener> listener;
  try {
    listener = std::make_unique<net::Listener>(
        io, net::ListenerConfig{config.host, config.port, config.max_message_bytes}, http_api, handoff);
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

  // SIGTERM: tell clients to reconnect elsewhere (1001), give them a moment
  // to close, hand what is stored to disk, exit 0 (PROTOCOL.md section 9).
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain_timer(io);
  std::function<void(int)> wait_for_drain = [&](int ticks_left) {
    if (total_connections() == 0 || ticks_left == 0) {
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
    for (auto& shard : shards) {
      shard->post_work([&shard] { shard->close_all(1001, "server draining: reconnect through preconnect"); });
    }
    wait_for_drain(60);
  });

  listener->start();
  if (generated_secret) {
    std::printf("allspark: generated a secret in %s/secret; mint an auth key with:\n"
                "  allspark token --store %s --node-id phone1 --client-id alice\n",
                store_folder(config.store).c_str(), config.store.c_str());
  }
  std::printf("allspark %s listening on http://%s:%u (server_id %s, %u shards, %s)\n", "0.1.0", config.host.c_str(),
              static_cast<unsigned>(port), server_id->c_str(), shard_count, allocator_name().c_str());
  std::fflush(stdout);
  // SIGINT and SIGTERM are this thread's (the signal_set above): the
  // shards' threads start with them blocked, so their waits are not cut short.
  sigset_t stop_signals;
  sigset_t previous;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < shard_count; ++i) {
    threads.emplace_back([&shards, i] {
      pthread_setname_np(pthread_self(), ("shard-" + std::to_string(i)).c_str());
      shards[i]->run();
    });
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  io.run();
  for (auto& shard : shards) shard->stop();
  for (auto& thread : threads) thread.join();
  // Nothing stored is lost on the way out (section 9).
  store->flush();
  return 0;
}

}  // namespace allspark::app
