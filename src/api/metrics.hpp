#pragma once
// /metrics in Prometheus text format (PROTOCOL.md section 9): a snapshot of
// counters gathered from every shard and the store, formatted here.
#include <array>
#include <cstdint>
#include <string>

#include "protocol/errors.hpp"

namespace allspark::api {

struct MetricsSnapshot {
  std::uint64_t connections = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t slow_consumers = 0;
  std::uint64_t pings_sent = 0;
  std::uint64_t ping_timeouts = 0;
  std::array<std::uint64_t, static_cast<int>(protocol::ErrorCode::unavailable) + 1> errors{};
  std::uint64_t inbox_stored = 0;        // messages kept for offline nodes
  std::uint64_t inbox_dropped = 0;       // offline and ephemeral: not kept, by design
  std::uint64_t inbox_store_failures = 0;
  std::uint64_t acks_answered = 0;       // -7 once every copy was stored (and publishes)
  std::uint64_t ack_retries = 0;         // retries answered without storing again
  std::uint64_t ack_waited = 0;          // messages that waited behind their connection's acks
  std::uint64_t store_entries_written = 0;
  std::uint64_t store_entries_acked = 0;
  std::uint64_t store_transactions = 0;
  std::uint64_t store_queue_depth = 0;
  std::uint64_t store_last_commit_us = 0;
  std::uint64_t store_total_commit_us = 0;
  std::uint64_t store_damaged_rows = 0;  // inbox rows skipped as unreadable
  std::uint64_t inbox_dropped_inbox_max = 0;
  std::uint64_t inbox_dropped_retention = 0;
  std::uint64_t session_messages = 0;          // session messages numbered by their home shard
  std::uint64_t session_deliveries = 0;        // session messages queued to member connections
  std::uint64_t log_entries_written = 0;       // session log entries committed
  std::uint64_t log_dropped_log_max = 0;
  std::uint64_t log_dropped_retention = 0;
  std::uint64_t webhook_posted = 0;
  std::uint64_t webhook_delivered = 0;
  std::uint64_t webhook_retried = 0;
  std::uint64_t webhook_failed = 0;
  std::uint64_t webhook_dropped = 0;
  std::uint64_t webhook_queue_depth = 0;
  bool draining = false;
};

std::string format_metrics(const MetricsSnapshot& snapshot);

}  // namespace allspark::api
