#pragma once
// Identifiers (node_id, client_id, session_id, message id): PROTOCOL.md section 1.
#include <string_view>

namespace allspark::protocol {

inline constexpr std::size_t max_id_bytes = 128;

// 1 to 128 bytes from [A-Za-z0-9._:@-].
bool is_valid_id(std::string_view id);

}  // namespace allspark::protocol
