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

Delivery read_delivery(std::string_view text) {
  Delivery d;
  bool have_seq = false, have_sent = false;
  const char* p = text.data();
  const char* end = p + text.size();
  auto skip_space = [&](const char* at) {
    while (at < end && (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')) ++at;
    return at;
  };
  for (;;) {
    const auto* open = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
    if (open == nullptr) break;
    const char* close = open + 1;
    for (;;) {  // the closing quote, past escapes
      close = static_cast<const char*>(std::memchr(close, '"', static_cast<std::size_t>(end - close)));
      if (close == nullptr) return d;
      const char* back = close;
      while (back > open + 1 && back[-1] == '\\') --back;
      if ((close - back) % 2 == 0) break;
      ++close;
    }
    std::string_view token(open + 1, static_cast<std::size_t>(close - open - 1));
    const char* after = skip_space(close + 1);
    if (after >= end || *after != ':') {  // a string value, not a key
      p = close + 1;
      continue;
    }
    const char* value = skip_space(after + 1);
    std::string_view rest(value, static_cast<std::size_t>(end - value));
    if (token == "k") {
      if (auto v = leading_uint(rest)) d.seq = *v, have_seq = true;
    } else if (token == "t") {
      if (auto v = leading_uint(rest)) d.sent_ns = static_cast<std::int64_t>(*v), have_sent = true;
    } else if (token == "src_id") {
      if (auto v = leading_string(rest)) d.src_id = *v;
    } else if (token == "dest_id") {
      if (auto v = leading_string(rest)) d.dest_id = *v;
    } else if (token == "type") {
      d.has_type = true;
    }
    p = value;
  }
  d.complete = have_seq && have_sent && !d.src_id.empty() && !d.dest_id.empty();
  return d;
}

}  // namespace allspark::bench
