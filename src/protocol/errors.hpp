#pragma once
// Error codes of PROTOCOL.md section 8, shared by WebSocket (-6) and HTTP answers.
#include <cstdint>
#include <string_view>

namespace allspark::protocol {

enum class ErrorCode : std::uint8_t {
  bad_json,
  not_an_object,
  bad_field,
  bad_id,
  no_destination,
  too_large,
  unknown_session,
  session_unauthorized,
  forbidden,
  unauthorized,
  not_found,
  method_not_allowed,
  conflict,
  rate_limited,
  unavailable,
};

// The wire name of a code, e.g. "bad_json".
std::string_view code_name(ErrorCode code);

// The HTTP status that fits a code (400, 401, 403, 404, 405, 409, 413, 429, 503).
int http_status(ErrorCode code);

}  // namespace allspark::protocol
