#include "protocol/frames.hpp"

#include <charconv>

#include "protocol/json.hpp"

namespace allspark::protocol {

namespace {
// `{"type":N,` then `"id":"<id>",` when there is one.
std::string head(std::string_view type, std::string_view id) {
  std::string out = "{\"type\":";
  out += type;
  out += ',';
  if (!id.empty()) {
    append_id_field(out, "id", id);
    out += ',';
  }
  return out;
}
}  // namespace

void append_int(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void append_id_field(std::string& out, std::string_view key, std::string_view id) {
  out += '"';
  out += key;
  out += "\":\"";
  out += id;
  out += '"';
}

std::string welcome_frame(const Welcome& w) {
  std::string out = "{\"type\":-10,\"payload\":{";
  append_id_field(out, "node_id", w.node_id);
  if (!w.client_id.empty()) {
    out += ',';
    append_id_field(out, "client_id", w.client_id);
  }
  out += ',';
  append_id_field(out, "connection_id", w.connection_id);
  out += ',';
  append_id_field(out, "server_id", w.server_id);
  out += ",\"server_time\":";
  append_int(out, w.server_time_ms);
  out += "}}";
  return out;
}

std::string error_frame(std::string_view id, ErrorCode code, std::string_view message) {
  std::string out = head("-6", id);
  out += "\"payload\":{\"code\":\"";
  out += code_name(code);
  out += "\",\"message\":";
  append_json_string(out, message);
  out += "}}";
  return out;
}

std::string unauthorized_frame(std::string_view id, std::string_view session_id, std::string_view message) {
  std::string out = head("-5", id);
  append_id_field(out, "dest_session_id", session_id);
  out += ",\"payload\":{\"code\":\"session_unauthorized\",\"message\":";
  append_json_string(out, message);
  out += "}}";
  return out;
}

std::string offline_frame(std::string_view id, std::string_view src_id) {
  std::string out = head("-4", id);
  append_id_field(out, "src_id", src_id);
  out += '}';
  return out;
}

std::string stored_frame(std::string_view id) {
  std::string out = "{\"type\":-7,";
  append_id_field(out, "id", id);
  out += '}';
  return out;
}

std::string config_response_frame(std::string_view id, std::string_view payload) {
  std::string out = head("-102", id);
  out += "\"payload\":";
  out += payload;
  out += '}';
  return out;
}

}  // namespace allspark::protocol
