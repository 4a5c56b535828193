#include "protocol/message.hpp"

#include "protocol/ids.hpp"

namespace allspark::protocol {

namespace {

// The fields the decoder reads or drops (PROTOCOL.md section 4). Everything
// else is `other`: forwarded untouched.
enum class Field : std::uint8_t {
  other,
  type,
  id,
  dest_id,
  dest_client_id,
  dest_session_id,
  src_id,
  src_client_id,
  ack,
  ephemeral,
  payload,
  timestamp,
  seq,
  session_seq,
};

// A switch on the length first: most keys are then settled by one compare.
Field field_of(std::string_view key) {
  switch (key.size()) {
    case 2: return key == "id" ? Field::id : Field::other;
    case 3: return key == "ack" ? Field::ack : key == "seq" ? Field::seq : Field::other;
    case 4: return key == "type" ? Field::type : Field::other;
    case 6: return key == "src_id" ? Field::src_id : Field::other;
    case 7: return key == "dest_id" ? Field::dest_id : key == "payload" ? Field::payload : Field::other;
    case 9: return key == "ephemeral" ? Field::ephemeral : key == "timestamp" ? Field::timestamp : Field::other;
    case 11: return key == "session_seq" ? Field::session_seq : Field::other;
    case 13: return key == "src_client_id" ? Field::src_client_id : Field::other;
    case 14: return key == "dest_client_id" ? Field::dest_client_id : Field::other;
    case 15: return key == "dest_session_id" ? Field::dest_session_id : Field::other;
    default: return Field::other;
  }
}

// Members the server sets itself on what a recipient gets: never forwarded as sent.
bool set_by_server(Field field) {
  switch (field) {
    case Field::dest_id:
    case Field::src_id:
    case Field::src_client_id:
    case Field::timestamp:
    case Field::seq:
    case Field::session_seq: return true;
    default: return false;
  }
}

void describe_field(std::string& message, std::string_view key, std::string_view what) {
  message = "field ";
  append_json_string(message, key);
  message += ' ';
  message += what;
}

}  // namespace

bool MessageDecoder::decode(std::string_view text, Message& out, DecodeError& error) {
  // Field by field: `out = Message{}` compiled to a `rep stos` that cost a
  // sixth of a decode (measured).
  out.type = 0;
  out.id = {};  // not chained: a chain reads each store back (a store-forwarding stall)
  out.dest_id = {};
  out.dest_client_id = {};
  out.dest_session_id = {};
  out.src_id = {};
  out.payload = {};
  out.seq = {};
  out.ack = false;
  out.ephemeral = false;
  out.forwarded = {};
  forwarded_.clear();

  switch (scanner_.scan(text)) {
    case JsonStatus::ok:
      break;
    case JsonStatus::bad_json:
      error.code = ErrorCode::bad_json;
      error.message = scanner_.error();
      error.id = {};
      return false;
    case JsonStatus::not_an_object:
      error.code = ErrorCode::not_an_object;
      error.message = "a message must be a JSON object";
      error.id = {};
      return false;
    case JsonStatus::duplicate_key: {
      error.code = ErrorCode::bad_field;
      error.message = scanner_.error();
      // Still echo the id, unless it is the key named twice (then which one?).
      std::string_view id;
      int ids = 0;
      for (const JsonMember& member : scanner_.members()) {
        if (member.key != "id") continue;
        ++ids;
        std::string_view value;
        if (member.kind == JsonKind::string && json_string_value(member.value, scratch_[0], value) &&
            is_valid_id(value)) {
          id = value;
        }
      }
      error.id = ids == 1 ? id : std::string_view();
      return false;
    }
  }

  // Every member is read even after a failure so that the error can still
  // echo a valid id; the first failure in text order is the one reported.
  bool failed = false;
  auto fail = [&](ErrorCode code, std::string_view key, std::string_view what) {
    if (failed) return;
    failed = true;
    error.code = code;
    describe_field(error.message, key, what);
  };
  // An id field: a JSON string (escapes allowed) whose value is a valid id.
  auto read_id = [&](const JsonMember& member, std::string& scratch, std::string_view& target) {
    if (member.kind != JsonKind::string) return fail(ErrorCode::bad_field, member.key, "must be a string");
    // The scanner validated the string: without a backslash its bytes are the value.
    std::string_view value = member.value.substr(1, member.value.size() - 2);
    if (value.find('\\') != std::string_view::npos) {
      std::string_view unescaped;  // apart from `value`, which then stays in registers
      json_string_value(member.value, scratch, unescaped);
      value = unescaped;
    }
    if (!is_valid_id(value)) {
      return fail(ErrorCode::bad_id, member.key, "is not a valid id (1 to 128 bytes of [A-Za-z0-9._:@-])");
    }
    target = value;
  };
  auto read_bool = [&](const JsonMember& member, bool& target) {
    if (member.kind == JsonKind::true_) {
      target = true;
    } else if (member.kind != JsonKind::false_) {
      fail(ErrorCode::bad_field, member.key, "must be true or false");
    }
  };

  for (const JsonMember& member : scanner_.members()) {
    const Field field = field_of(member.key);
    switch (field) {
      case Field::type: {
        const auto type = member.kind == JsonKind::number ? json_integer(member.value) : std::nullopt;
        if (type) {
          out.type = *type;
        } else {
          fail(ErrorCode::bad_field, member.key, "must be an integer");
        }
        break;
      }
      case Field::id: read_id(member, scratch_[0], out.id); break;
      case Field::dest_id: read_id(member, scratch_[1], out.dest_id); break;
      case Field::dest_client_id: read_id(member, scratch_[2], out.dest_client_id); break;
      case Field::dest_session_id: read_id(member, scratch_[3], out.dest_session_id); break;
      case Field::src_id: read_id(member, scratch_[4], out.src_id); break;
      case Field::ack: read_bool(member, out.ack); break;
      case Field::ephemeral: read_bool(member, out.ephemeral); break;
      case Field::payload: out.payload = member.value; break;
      case Field::seq: out.seq = member.value; break;
      default: break;
    }
    if (!set_by_server(field)) forwarded_.push_back(member.member);
  }

  if (out.ack && out.id.empty()) fail(ErrorCode::bad_field, "ack", "requires an \"id\"");
  if (out.ack && out.ephemeral) fail(ErrorCode::bad_field, "ack", "cannot be used with \"ephemeral\"");
  if (failed) {
    error.id = out.id;
    return false;
  }
  out.forwarded = forwarded_;
  return true;
}

}  // namespace allspark::protocol
