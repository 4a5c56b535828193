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
  metric(out, "allspark_inbox_stored_total", "counter", "Messages stored in the inbox of an offline node.", s.inbox_stored);
  metric(out, "allspark_inbox_ephemeral_dropped_total", "counter",
         "Ephemeral messages for offline nodes, not stored by design.", s.inbox_dropped);
  metric(out, "allspark_inbox_store_failures_total", "counter", "Messages the store failed to keep (sender told unavailable).",
         s.inbox_store_failures);
  metric(out, "allspark_store_entries_written_total", "counter", "Inbox entries committed.", s.store_entries_written);
  metric(out, "allspark_store_entries_acked_total", "counter", "Inbox entries removed by acknowledgement.", s.store_entries_acked);
  metric(out, "allspark_store_transactions_total", "counter", "Store transactions committed.", s.store_transactions);
  metric(out, "allspark_store_queue_depth", "gauge", "Operations waiting for the store's thread.", s.store_queue_depth);
  metric(out, "allspark_store_last_commit_microseconds", "gauge", "Duration of the latest store transaction.",
         s.store_last_commit_us);
  metric(out, "allspark_store_commit_microseconds_total", "counter", "Time spent in store transactions.",
         s.store_total_commit_us);
  metric(out, "allspark_draining", "gauge", "1 while the server drains after SIGTERM.", s.draining ? 1 : 0);
  return out;
}

}  // namespace allspark::api
