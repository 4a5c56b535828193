#include "api/metrics.hpp"

namespace allspark::api {

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, std::uint64_t value) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

}  // namespace

std::string format_metrics(const MetricsSnapshot& s) {
  std::string out;
  metric(out, "allspark_connections", "gauge", "Open WebSocket connections.", s.connections);
  metric(out, "allspark_connections_total", "counter", "WebSocket connections accepted since start.", s.connections_total);
  metric(out, "allspark_messages_in_total", "counter", "Messages received from clients.", s.messages_in);
  metric(out, "allspark_frames_out_total", "counter", "Frames queued to clients.", s.frames_out);
  metric(out, "allspark_bytes_in_total", "counter", "WebSocket bytes read.", s.bytes_in);
  metric(out, "allspark_bytes_out_total", "counter", "WebSocket bytes written.", s.bytes_out);
  metric(out, "allspark_slow_consumers_total", "counter", "Connections closed with 4001 (send queue full).", s.slow_consumers);
  metric(out, "allspark_pings_sent_total", "counter", "Pings sent to idle connections.", s.pings_sent);
  metric(out, "allspark_ping_timeouts_total", "counter", "Connections closed with 4000 (no answer to 3 pings).", s.ping_timeouts);
  out += "# HELP allspark_errors_total Error answers (-6 and -5) by code.\n# TYPE allspark_errors_total counter\n";
  for (std::size_t i = 0; i < s.errors.size(); ++i) {
    out += "allspark_errors_total{code=\"";
    out += protocol::code_name(static_cast<protocol::ErrorCode>(i));
    out += "\"} ";
    out += std::to_string(s.errors[i]);
    out += '\n';
  }
  metric(out, "allspark_inbox_stored_total", "counter",
         "Copies stored in a node's inbox (for offline nodes, and for every recipient of an ack).", s.inbox_stored);
  metric(out, "allspark_acks_total", "counter", "Messages answered -7 (or published) once every copy was stored.",
         s.acks_answered);
  metric(out, "allspark_ack_retries_total", "counter", "Retries of an id already stored, answered without storing again.",
         s.ack_retries);
  metric(out, "allspark_ack_waited_total", "counter", "Messages that waited behind their connection's acks being stored.",
         s.ack_waited);
  metric(out, "allspark_inbox_ephemeral_dropped_total", "counter",
         "Ephemeral messages for offline nodes, not stored by design.", s.inbox_dropped);
  metric(out, "allspark_inbox_store_failures_total", "counter", "Messages the store failed to keep (sender told unavailable).",
         s.inbox_store_failures);
  out += "# HELP allspark_inbox_dropped_total Inbox entries dropped by a limit (--inbox-max, --retention).\n"
         "# TYPE allspark_inbox_dropped_total counter\n";
  out += "allspark_inbox_dropped_total{reason=\"inbox_max\"} " + std::to_string(s.inbox_dropped_inbox_max) + "\n";
  out += "allspark_inbox_dropped_total{reason=\"retention\"} " + std::to_string(s.inbox_dropped_retention) + "\n";
  metric(out, "allspark_store_entries_written_total", "counter", "Inbox entries committed.", s.store_entries_written);
  metric(out, "allspark_session_messages_total", "counter", "Messages to a whole session.", s.session_messages);
  metric(out, "allspark_session_deliveries_total", "counter", "Session messages queued to member connections.",
         s.session_deliveries);
  metric(out, "allspark_store_log_entries_written_total", "counter",
         "Session log entries committed (one per session message, whatever the number of members).",
         s.log_entries_written);
  out += "# HELP allspark_log_dropped_total Session log entries dropped by a limit (--log-max, --retention).\n"
         "# TYPE allspark_log_dropped_total counter\n";
  out += "allspark_log_dropped_total{reason=\"log_max\"} " + std::to_string(s.log_dropped_log_max) + "\n";
  out += "allspark_log_dropped_total{reason=\"retention\"} " + std::to_string(s.log_dropped_retention) + "\n";
  metric(out, "allspark_store_entries_acked_total", "counter", "Inbox entries removed by acknowledgement.", s.store_entries_acked);
  metric(out, "allspark_store_transactions_total", "counter", "Store transactions committed.", s.store_transactions);
  metric(out, "allspark_store_damaged_rows_total", "counter",
         "Inbox rows skipped by a fetch because they could not be read (the store's file was damaged).",
         s.store_damaged_rows);
  metric(out, "allspark_store_queue_depth", "gauge", "Operations waiting for the store's thread.", s.store_queue_depth);
  metric(out, "allspark_store_last_commit_microseconds", "gauge", "Duration of the latest store transaction.",
         s.store_last_commit_us);
  metric(out, "allspark_store_commit_microseconds_total", "counter", "Time spent in store transactions.",
         s.store_total_commit_us);
  metric(out, "allspark_webhook_posted_total", "counter", "Offline webhook POSTs queued.", s.webhook_posted);
  metric(out, "allspark_webhook_delivered_total", "counter", "Offline webhook POSTs answered 2xx.", s.webhook_delivered);
  metric(out, "allspark_webhook_retries_total", "counter", "Offline webhook attempts after the first.", s.webhook_retried);
  metric(out, "allspark_webhook_failed_total", "counter", "Offline webhook POSTs given up after every retry.",
         s.webhook_failed);
  metric(out, "allspark_webhook_dropped_total", "counter", "Offline webhook POSTs dropped (queue full or shutdown).",
         s.webhook_dropped);
  metric(out, "allspark_webhook_queue_depth", "gauge", "Offline webhook POSTs not finished yet.", s.webhook_queue_depth);
  metric(out, "allspark_draining", "gauge", "1 while the server drains after SIGTERM.", s.draining ? 1 : 0);
  return out;
}

}  // namespace allspark::api
