#include "payload.hpp"

#include <charconv>
#include <cstring>

#include "text_scan.hpp"

namespace allspark::bench {

std::string numbered_id(std::string_view stem, std::size_t n, std::string_view tag) {
  std::string out(stem);
  out += std::to_string(n);
  out += '.';
  out += tag;
  return out;
}

std::string message_prefix(std::string_view destination_field, std::string_view destination) {
  std::string out = "{\"";
  out += destination_field;
  out += "\":\"";
  out += destination;
  out += "\",\"payload\":";
  return out;
}

void append_message(std::string& out, std::string_view prefix, std::uint64_t seq, std::int64_t sent_ns,
                    std::size_t payload_bytes) {
  char seq_text[24], sent_text[24];
  auto seq_size = static_cast<std::size_t>(std::to_chars(seq_text, seq_text + sizeof seq_text, seq).ptr - seq_text);
  auto sent_size =
      static_cast<std::size_t>(std::to_chars(sent_text, sent_text + sizeof sent_text, sent_ns).ptr - sent_text);
  // {"k":SEQ,"t":NS,"pad":"xx"}
  constexpr std::string_view k = "{\"k\":", t = ",\"t\":", pad = ",\"pad\":\"";
  std::size_t fixed = k.size() + seq_size + t.size() + sent_size + pad.size() + 2;
  std::size_t pad_size = payload_bytes > fixed ? payload_bytes - fixed : 0;
  out += prefix;
  out += k;
  out.append(seq_text, seq_size);
  out += t;
  out.append(sent_text, sent_size);
  out += pad;
  out.append(pad_size, 'x');
  out += "\"}}";
}

std::optional<Delivery> read_delivery(std::string_view text) {
  // The payload is forwarded byte for byte, so "k" and "t" are where we wrote them.
  std::size_t payload_at = text.find("{\"k\":");
  if (payload_at == std::string_view::npos) return std::nullopt;
  std::string_view payload = text.substr(payload_at);
  auto seq = leading_uint(payload.substr(5));
  auto sent = uint_field(payload, "\"t\"");
  // The server-set fields sit outside the payload, before or after it; the
  // padding holds only 'x', so a search over the whole text finds them.
  auto src = string_field(text, "\"src_id\"");
  auto dest = string_field(text, "\"dest_id\"");
  if (!seq || !sent || !src || !dest) return std::nullopt;
  Delivery d;
  d.seq = *seq;
  d.sent_ns = static_cast<std::int64_t>(*sent);
  d.src_id = *src;
  d.dest_id = *dest;
  return d;
}

bool has_type(std::string_view text) { return text.find("\"type\"") != std::string_view::npos; }

}  // namespace allspark::bench
