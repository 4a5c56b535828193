#include "protocol/errors.hpp"

namespace allspark::protocol {

std::string_view code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json: return "bad_json";
    case ErrorCode::not_an_object: return "not_an_object";
    case ErrorCode::bad_field: return "bad_field";
    case ErrorCode::bad_id: return "bad_id";
    case ErrorCode::no_destination: return "no_destination";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unknown_session: return "unknown_session";
    case ErrorCode::session_unauthorized: return "session_unauthorized";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::method_not_allowed: return "method_not_allowed";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::unavailable: return "unavailable";
  }
  return "unknown";
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json:
    case ErrorCode::not_an_object:
    case ErrorCode::bad_field:
    case ErrorCode::bad_id:
    case ErrorCode::no_destination: return 400;
    case ErrorCode::unauthorized: return 401;
    case ErrorCode::forbidden:
    case ErrorCode::session_unauthorized: return 403;
    case ErrorCode::not_found:
    case ErrorCode::unknown_session: return 404;
    case ErrorCode::method_not_allowed: return 405;
    case ErrorCode::conflict: return 409;
    case ErrorCode::too_large: return 413;
    case ErrorCode::rate_limited: return 429;
    case ErrorCode::unavailable: return 503;
  }
  return 500;
}

}  // namespace allspark::protocol
