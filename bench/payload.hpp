#pragma once
// The generator's messages: {"dest_id":"r1.tag","payload":{"k":SEQ,"t":NS,"pad":"xx..."}}
// where the "payload" value is padded to exactly --payload bytes, and the
// few fields read back from what the server delivers.
#include <cstdint>
#include <string>
#include <string_view>

namespace allspark::bench {

// "<stem><n>.<tag>", e.g. "s12.a1b2c3": the generator's node and client ids.
std::string numbered_id(std::string_view stem, std::size_t n, std::string_view tag);

// `{"dest_id":"r1.tag","payload":` or `{"dest_client_id":"room.tag","payload":`
std::string message_prefix(std::string_view destination_field, std::string_view destination);

// Appends prefix + the payload object of `payload_bytes` bytes (longer only when
// the numbers alone do not fit) + the closing brace.
void append_message(std::string& out, std::string_view prefix, std::uint64_t seq, std::int64_t sent_ns,
                    std::size_t payload_bytes);

// What the generator reads back from a delivered message.
struct Delivery {
  std::uint64_t seq = 0;      // payload "k"
  std::uint64_t inbox_seq = 0;  // the server's "seq" of a stored copy (ack), 0 when live
  std::int64_t sent_ns = 0;   // payload "t"
  std::string_view src_id;
  std::string_view dest_id;   // or "room" (a peer's fan-out)
  bool has_type = false;      // a "type" member: a protocol frame (error, section 7/8), never ours
  bool complete = false;      // k, t, src_id and dest_id were all found
};

// Reads a message delivered to node `my_node`. The server's own layout
// ({"dest_id":"<me>","src_id":...,"payload":...}) is checked and read
// directly; any other is walked member by member (no full parse: these are
// the generator's own messages).
Delivery read_delivery(std::string_view text, std::string_view my_node);

}  // namespace allspark::bench
