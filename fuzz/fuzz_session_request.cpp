// libFuzzer target for the session bodies of the HTTP API
// (src/protocol/session_request.hpp).
//
// Input: one mode character, then the body. (mode & 1): 0 parses it as a
// POST /v1/sessions body, 1 as a join body (and again as a leave body).
//
// Invariants: an accepted body gives valid ids only (session_id and
// game_master_node_id valid or empty, every node_id valid), a session_type
// of 0 or 1, a description that is null or a JSON string; a leave body never
// reads `anonymous`; a refusal has a code a body can get and a message; the
// same body gives the same answer twice (no state kept between calls).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/ids.hpp"
#include "protocol/session_request.hpp"

namespace {

using allspark::protocol::ErrorCode;

bool body_code(ErrorCode code) {
  return code == ErrorCode::bad_json || code == ErrorCode::not_an_object || code == ErrorCode::bad_field ||
         code == ErrorCode::bad_id;
}

bool id_or_empty(const std::string& id) { return id.empty() || allspark::protocol::is_valid_id(id); }

void check_create(std::string_view body) {
  allspark::protocol::SessionCreate request;
  auto error = allspark::protocol::parse_session_create(body, request);
  allspark::protocol::SessionCreate again;
  auto error_again = allspark::protocol::parse_session_create(body, again);
  FUZZ_CHECK(error.has_value() == error_again.has_value());
  if (error) {
    FUZZ_CHECK(body_code(error->code) && !error->message.empty());
    FUZZ_CHECK(error->code == error_again->code && error->message == error_again->message);
    return;
  }
  FUZZ_CHECK(id_or_empty(request.session_id) && id_or_empty(request.game_master_node_id));
  for (const std::string& node_id : request.node_ids) FUZZ_CHECK(allspark::protocol::is_valid_id(node_id));
  FUZZ_CHECK(request.session_type == 0 || request.session_type == 1);
  FUZZ_CHECK(request.description == "null" ||
             (request.description.size() >= 2 && request.description.front() == '"' &&
              request.description.back() == '"'));
  FUZZ_CHECK(request.node_ids == again.node_ids && request.description == again.description);
}

void check_membership(std::string_view body) {
  allspark::protocol::SessionMembership join;
  auto join_error = allspark::protocol::parse_session_membership(body, true, join);
  allspark::protocol::SessionMembership leave;
  auto leave_error = allspark::protocol::parse_session_membership(body, false, leave);
  if (join_error) FUZZ_CHECK(body_code(join_error->code) && !join_error->message.empty());
  if (leave_error) FUZZ_CHECK(body_code(leave_error->code) && !leave_error->message.empty());
  if (!join_error) {
    FUZZ_CHECK(id_or_empty(join.node_id));
    FUZZ_CHECK(!leave_error || leave_error->code != ErrorCode::bad_json);  // the same text scans the same
  }
  if (!leave_error) {
    FUZZ_CHECK(id_or_empty(leave.node_id) && !leave.anonymous);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    check_create(body);
  } else {
    check_membership(body);
  }
  return 0;
}
