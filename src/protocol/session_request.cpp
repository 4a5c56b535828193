#include "protocol/session_request.hpp"

#include "protocol/ids.hpp"
#include "protocol/json.hpp"
#include "protocol/utf8.hpp"

namespace allspark::protocol {

namespace {

std::optional<BodyError> scan(std::string_view body, JsonScanner& scanner) {
  if (!is_valid_utf8(body)) return BodyError{ErrorCode::bad_json, "the body is not valid UTF-8"};
  switch (scanner.scan(body)) {
    case JsonStatus::ok: return std::nullopt;
    case JsonStatus::not_an_object: return BodyError{ErrorCode::not_an_object, "the body must be a JSON object"};
    case JsonStatus::duplicate_key: return BodyError{ErrorCode::bad_field, scanner.error()};
    case JsonStatus::bad_json: return BodyError{ErrorCode::bad_json, scanner.error()};
  }
  return std::nullopt;
}

std::optional<BodyError> read_id(const JsonMember& member, std::string& out) {
  std::string scratch;
  std::string_view value;
  if (member.kind != JsonKind::string || !json_string_value(member.value, scratch, value)) {
    return BodyError{ErrorCode::bad_field, std::string(member.key) + " must be a string"};
  }
  if (!is_valid_id(value)) {
    return BodyError{ErrorCode::bad_id, std::string(member.key) + " is not a valid id: 1 to 128 bytes of [A-Za-z0-9._:@-]"};
  }
  out = std::string(value);
  return std::nullopt;
}

std::optional<BodyError> read_bool(const JsonMember& member, bool& out) {
  if (member.kind != JsonKind::true_ && member.kind != JsonKind::false_) {
    return BodyError{ErrorCode::bad_field, std::string(member.key) + " must be true or false"};
  }
  out = member.kind == JsonKind::true_;
  return std::nullopt;
}

// An array of ids. The text is valid JSON already (the scanner checked it),
// so a small walk suffices: strings separated by commas, or anything else.
std::optional<BodyError> read_ids(const JsonMember& member, std::vector<std::string>& out) {
  BodyError not_ids{ErrorCode::bad_field, std::string(member.key) + " must be an array of node ids"};
  if (member.kind != JsonKind::array) return not_ids;
  std::string_view text = member.value.substr(1, member.value.size() - 2);
  auto skip_space = [&text] {
    while (!text.empty() && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r')) {
      text.remove_prefix(1);
    }
  };
  for (skip_space(); !text.empty(); skip_space()) {
    if (text[0] != '"') return not_ids;
    std::size_t end = 1;
    while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
    std::string scratch;
    std::string_view value;
    if (end >= text.size() || !json_string_value(text.substr(0, end + 1), scratch, value)) return not_ids;
    if (!is_valid_id(value)) {
      return BodyError{ErrorCode::bad_id, std::string("\"").append(value.substr(0, 140)) + "\" in " +
                                              std::string(member.key) + " is not a valid id"};
    }
    out.emplace_back(value);
    text.remove_prefix(end + 1);
    skip_space();
    if (!text.empty() && text[0] == ',') text.remove_prefix(1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<BodyError> parse_session_create(std::string_view body, SessionCreate& out) {
  if (body.empty()) return std::nullopt;
  JsonScanner scanner;
  if (auto error = scan(body, scanner)) return error;
  for (const JsonMember& member : scanner.members()) {
    std::optional<BodyError> error;
    if (member.key == "session_id") {
      error = read_id(member, out.session_id);
    } else if (member.key == "session_type") {
      auto type = member.kind == JsonKind::number ? json_integer(member.value) : std::nullopt;
      if (!type || (*type != 0 && *type != 1)) return BodyError{ErrorCode::bad_field, "session_type must be 0 or 1"};
      out.session_type = *type;
    } else if (member.key == "game_master_node_id") {
      error = read_id(member, out.game_master_node_id);
    } else if (member.key == "anyone_can_join") {
      error = read_bool(member, out.anyone_can_join);
    } else if (member.key == "allow_anonymous") {
      error = read_bool(member, out.allow_anonymous);
    } else if (member.key == "anonymous") {
      error = read_bool(member, out.anonymous);
    } else if (member.key == "node_ids") {
      error = read_ids(member, out.node_ids);
    } else if (member.key == "description") {
      if (member.kind != JsonKind::string && member.kind != JsonKind::null) {
        return BodyError{ErrorCode::bad_field, "description must be a string or null"};
      }
      out.description = std::string(member.value);  // kept as the JSON text given
    }
    if (error) return error;
  }
  return std::nullopt;
}

std::optional<BodyError> parse_session_membership(std::string_view body, bool join, SessionMembership& out) {
  if (body.empty()) return std::nullopt;
  JsonScanner scanner;
  if (auto error = scan(body, scanner)) return error;
  for (const JsonMember& member : scanner.members()) {
    std::optional<BodyError> error;
    if (member.key == "node_id") error = read_id(member, out.node_id);
    if (member.key == "anonymous" && join) error = read_bool(member, out.anonymous);
    if (error) return error;
  }
  return std::nullopt;
}

}  // namespace allspark::protocol
