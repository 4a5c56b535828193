#pragma once
// A client's message (PROTOCOL.md section 4), decoded and validated once.
// The decoder validates the whole text (every value, not only the fields it
// reads) and keeps the members to forward as raw bytes.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/errors.hpp"
#include "protocol/json.hpp"

namespace allspark::protocol {

struct Message {
  std::int64_t type = 0;               // default 0; must be a JSON integer
  std::string_view id;                 // empty when absent; else a valid id
  std::string_view dest_id;            // empty when absent; else a valid id
  std::string_view dest_client_id;     // idem
  std::string_view dest_session_id;    // idem
  std::string_view src_id;             // as the client wrote it (only app/server roles may use it); valid id
  bool ack = false;                    // requires id; not with ephemeral
  bool ephemeral = false;
  std::string_view payload;            // raw JSON of "payload", empty when absent
  std::string_view seq;                // raw JSON of "seq" (read by acks, -7), empty when absent; never forwarded
  // Raw `"key":value` text of every top-level member to forward, in order,
  // that is every member except those the server sets: dest_id, src_id,
  // src_client_id, timestamp, seq, session_seq.
  std::span<const std::string_view> forwarded;
};

struct DecodeError {
  ErrorCode code;
  std::string message;   // for a human: what was wrong
  std::string_view id;   // the message id when it could be read (valid id), else empty
};

class MessageDecoder {
 public:
  // Decodes `text` (valid UTF-8) into `out`. Returns false and fills `error`
  // when it is not acceptable: bad_json (not JSON), not_an_object,
  // bad_field (duplicate top-level key; type not an integer; id/dest_*/src_id
  // not a string; ack or ephemeral not a bool; ack without id; ack with
  // ephemeral), bad_id (an id field that is a string but not a valid id).
  // Views in `out` point into `text` or into this decoder, valid until the
  // next decode().
  bool decode(std::string_view text, Message& out, DecodeError& error);

 private:
  JsonScanner scanner_;
  std::vector<std::string_view> forwarded_;
  std::string scratch_[6];
};

}  // namespace allspark::protocol
