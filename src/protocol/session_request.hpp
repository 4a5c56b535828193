#pragma once
// The JSON bodies of the session calls (PROTOCOL.md section 5), checked
// whole: POST /v1/sessions and the join/leave bodies. Pure: text in, values
// or the section 8 error out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/errors.hpp"

namespace allspark::protocol {

struct SessionCreate {
  std::string session_id;  // empty: the server picks one
  std::int64_t session_type = 0;      // 0, or 1 for a game session
  std::string game_master_node_id;    // empty: the owner
  bool anyone_can_join = false;
  bool allow_anonymous = false;
  bool anonymous = false;             // the creator joins anonymously
  std::vector<std::string> node_ids;
  std::string description = "null";   // the JSON value as given: a string, or null
};

// The body of join (node_id?, anonymous?) and leave (node_id?).
struct SessionMembership {
  std::string node_id;  // empty: the caller
  bool anonymous = false;
};

struct BodyError {
  ErrorCode code;  // bad_json, not_an_object, bad_field or bad_id
  std::string message;
};

// An empty body counts as {}; unknown fields are ignored.
std::optional<BodyError> parse_session_create(std::string_view body, SessionCreate& out);
// `join`: the join body, else the leave body (no `anonymous`).
std::optional<BodyError> parse_session_membership(std::string_view body, bool join, SessionMembership& out);

}  // namespace allspark::protocol
