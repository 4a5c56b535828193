// libFuzzer target for the message decoder (src/protocol/message.hpp).
//
// Input: the text of one WebSocket message. The server validates UTF-8
// before decoding (RFC 6455 8.1), so other input is skipped.
//
// Invariants: on success every forwarded member is a view into the input,
// names no field the server sets, and "{" + forwarded members joined by ","
// + "}" scans again as a JSON object with exactly those members (so what a
// recipient gets is valid JSON); id fields hold valid ids; ack comes with an
// id and without ephemeral. On failure the code is one the decoder
// documents, an echoed id is valid and the message is valid UTF-8 (it goes
// back in a text frame). A decoder reused after another message decodes as
// a fresh one does (the server keeps one per shard).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "protocol/ids.hpp"
#include "protocol/json.hpp"
#include "protocol/message.hpp"
#include "protocol/utf8.hpp"

namespace {

using namespace allspark::protocol;

bool within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool set_by_server(std::string_view key) {
  return key == "dest_id" || key == "src_id" || key == "src_client_id" || key == "timestamp" || key == "seq" ||
         key == "session_seq";
}

bool empty_or_valid_id(std::string_view id) { return id.empty() || is_valid_id(id); }

// What one decode produced, copied out of the decoder's views.
struct Result {
  bool ok = false;
  ErrorCode code{};
  std::string message;
  std::string error_id;
  std::vector<std::string> fields;  // type, ids, flags and payload, as text
  std::vector<std::string> forwarded;
  bool operator==(const Result&) const = default;
};

Result decode_and_check(MessageDecoder& decoder, std::string_view text) {
  Message message;
  DecodeError error;
  Result result;
  result.ok = decoder.decode(text, message, error);
  if (!result.ok) {
    FUZZ_CHECK(error.code == ErrorCode::bad_json || error.code == ErrorCode::not_an_object ||
               error.code == ErrorCode::bad_field || error.code == ErrorCode::bad_id);
    FUZZ_CHECK(empty_or_valid_id(error.id));
    FUZZ_CHECK(!error.message.empty());
    FUZZ_CHECK(is_valid_utf8(error.message));
    result.code = error.code;
    result.message = error.message;
    result.error_id = error.id;
    return result;
  }

  FUZZ_CHECK(empty_or_valid_id(message.id));
  FUZZ_CHECK(empty_or_valid_id(message.dest_id));
  FUZZ_CHECK(empty_or_valid_id(message.dest_client_id));
  FUZZ_CHECK(empty_or_valid_id(message.dest_session_id));
  FUZZ_CHECK(empty_or_valid_id(message.src_id));
  FUZZ_CHECK(!message.ack || (!message.id.empty() && !message.ephemeral));
  FUZZ_CHECK(message.payload.empty() || within(message.payload, text));

  std::string joined = "{";
  for (std::string_view member : message.forwarded) {
    FUZZ_CHECK(within(member, text));
    if (joined.size() > 1) joined += ',';
    joined += member;
    result.forwarded.emplace_back(member);
  }
  joined += '}';
  JsonScanner scanner;
  FUZZ_CHECK(scanner.scan(joined) == JsonStatus::ok);
  FUZZ_CHECK(scanner.members().size() == message.forwarded.size());
  for (std::size_t i = 0; i < message.forwarded.size(); ++i) {
    FUZZ_CHECK(scanner.members()[i].member == message.forwarded[i]);
    FUZZ_CHECK(!set_by_server(scanner.members()[i].key));
  }

  result.fields = {std::to_string(message.type), std::string(message.id), std::string(message.dest_id),
                   std::string(message.dest_client_id), std::string(message.dest_session_id),
                   std::string(message.src_id), message.ack ? "ack" : "", message.ephemeral ? "ephemeral" : "",
                   std::string(message.payload)};
  return result;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!is_valid_utf8(text)) return 0;
  MessageDecoder fresh;
  const Result first = decode_and_check(fresh, text);
  // A decoder whose scratch buffers already hold another message's escaped
  // ids and members must give the same answer.
  MessageDecoder reused;
  Message warm_up;
  DecodeError warm_up_error;
  FUZZ_CHECK(reused.decode(R"({"id":"m\u0031","dest_id":"n\u0032","src_id":"s\u0033","k\u0034":[1,{"a":2}]})",
                           warm_up, warm_up_error));
  FUZZ_CHECK(decode_and_check(reused, text) == first);
  return 0;
}
