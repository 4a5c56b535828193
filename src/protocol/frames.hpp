#pragma once
// The frames the server writes itself (PROTOCOL.md sections 3, 6, 7 and 8):
// welcome (-10), recipient offline (-4), stored (-7), config response
// (-102) and errors (-6). Pure text building; ids need no escaping (they are
// checked ids), human texts are escaped.
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/errors.hpp"

namespace allspark::protocol {

void append_int(std::string& out, std::int64_t value);
// `"key":"id"`.
void append_id_field(std::string& out, std::string_view key, std::string_view id);

struct Welcome {
  std::string_view node_id, client_id, connection_id, server_id;
  std::int64_t server_time_ms = 0;
};
// {"type":-10,"payload":{"node_id","client_id"?,"connection_id","server_id","server_time"}}
std::string welcome_frame(const Welcome& welcome);
// {"type":-6,"id"?,"payload":{"code","message"}}
std::string error_frame(std::string_view id, ErrorCode code, std::string_view message);
// {"type":-4,"id"?,"src_id"}: stored for the offline node `src_id`.
std::string offline_frame(std::string_view id, std::string_view src_id);
// {"type":-7,"id"}: every copy of the sender's message `id` is stored.
std::string stored_frame(std::string_view id);
// {"type":-5,"id"?,"dest_session_id","payload":{"code":"session_unauthorized","message"}}
std::string unauthorized_frame(std::string_view id, std::string_view session_id, std::string_view message);
// {"type":-102,"id"?,"payload":<payload JSON>}
std::string config_response_frame(std::string_view id, std::string_view payload);

}  // namespace allspark::protocol
