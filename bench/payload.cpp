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

namespace {

// A walk over the top-level members of one JSON object that is cheap for the
// generator's own messages: short strings byte by byte, long ones (the
// padding) with one memchr. It trusts the server to send valid JSON.
class MemberWalk {
 public:
  explicit MemberWalk(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  // Moves to the next member; false at the end of the object (or of the
  // text). The value is skipped only when the walk goes on past it.
  bool next(std::string_view& key, const char*& value) {
    if (in_value_ && !skip_value()) return false;
    in_value_ = false;
    skip_space();
    if (p_ < end_ && (*p_ == '{' || *p_ == ',')) ++p_;
    skip_space();
    if (p_ >= end_ || *p_ != '"') return false;
    const char* key_start = p_ + 1;
    if (!skip_string()) return false;
    key = std::string_view(key_start, static_cast<std::size_t>(p_ - key_start - 1));
    skip_space();
    if (p_ >= end_ || *p_ != ':') return false;
    ++p_;
    skip_space();
    value = p_;
    in_value_ = true;
    return p_ < end_;
  }

 private:
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  // At an opening quote: moves past the closing one.
  bool skip_string() {
    const char* q = p_ + 1;
    for (;;) {
      const char* stop = q + 16 < end_ ? q + 16 : end_;
      while (q < stop && *q != '"' && *q != '\\') ++q;
      if (q == stop) {
        if (q == end_) return false;
        const auto* found = static_cast<const char*>(std::memchr(q, '"', static_cast<std::size_t>(end_ - q)));
        const auto* escape = static_cast<const char*>(std::memchr(q, '\\', static_cast<std::size_t>(end_ - q)));
        if (found == nullptr) return false;
        if (escape == nullptr || escape > found) {
          p_ = found + 1;
          return true;
        }
        q = escape;
      }
      if (*q == '"') {
        p_ = q + 1;
        return true;
      }
      q += 2;  // a backslash and the byte it escapes
      if (q >= end_) return false;
    }
  }
  bool skip_value() {
    if (p_ >= end_) return false;
    if (*p_ == '"') return skip_string();
    int depth = 0;
    while (p_ < end_) {
      char c = *p_;
      if (c == '"') {
        if (!skip_string()) return false;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) return true;  // the end of the enclosing object
        if (--depth == 0) {
          ++p_;
          return true;
        }
      } else if (c == ',' && depth == 0) {
        return true;
      }
      ++p_;
    }
    return depth == 0;
  }

  const char* p_;
  const char* end_;
  bool in_value_ = false;
};

}  // namespace

namespace {

// {"k":SEQ,"t":NS at the start of `payload`.
bool read_payload_numbers(std::string_view payload, Delivery& d) {
  if (payload.substr(0, 5) != "{\"k\":") return false;
  std::size_t digits = 5;
  while (digits < payload.size() && payload[digits] >= '0' && payload[digits] <= '9') ++digits;
  auto seq = leading_uint(payload.substr(5));
  if (!seq || payload.substr(digits, 5) != ",\"t\":") return false;
  auto sent = leading_uint(payload.substr(digits + 5));
  if (!sent) return false;
  d.seq = *seq;
  d.sent_ns = static_cast<std::int64_t>(*sent);
  return true;
}

// This server's layout, checked and read without a walk:
// {"dest_id":"<me>","src_id":"<src>", ... "payload":{"k":SEQ,"t":NS,...
bool read_known_layout(std::string_view text, std::string_view my_node, Delivery& d) {
  constexpr std::string_view dest_head = "{\"dest_id\":\"", src_head = "\"src_id\":";
  if (text.substr(0, dest_head.size()) != dest_head) return false;
  std::string_view rest = text.substr(dest_head.size());
  if (rest.substr(0, my_node.size()) != my_node || rest.substr(my_node.size(), 2) != "\",") return false;
  d.dest_id = rest.substr(0, my_node.size());
  rest.remove_prefix(my_node.size() + 2);
  constexpr std::string_view seq_head = "\"seq\":";
  if (rest.substr(0, seq_head.size()) == seq_head) {  // a stored copy
    auto seq = leading_uint(rest.substr(seq_head.size()));
    if (!seq) return false;
    d.inbox_seq = *seq;
    std::size_t comma = rest.find(',', seq_head.size());
    if (comma == std::string_view::npos) return false;
    rest.remove_prefix(comma + 1);
  }
  if (rest.substr(0, src_head.size()) != src_head) return false;
  auto src = leading_string(rest.substr(src_head.size()));
  if (!src) return false;
  d.src_id = *src;
  std::size_t payload_at = rest.find("{\"k\":");
  return payload_at != std::string_view::npos && read_payload_numbers(rest.substr(payload_at), d);
}

}  // namespace

Delivery read_delivery(std::string_view text, std::string_view my_node) {
  Delivery d;
  if (read_known_layout(text, my_node, d)) {
    d.complete = true;
    return d;
  }
  d = Delivery{};
  bool have_seq = false, have_sent = false;
  MemberWalk walk(text);
  std::string_view key;
  const char* value = nullptr;
  const char* end = text.data() + text.size();
  while (walk.next(key, value)) {
    std::string_view rest(value, static_cast<std::size_t>(end - value));
    if (key == "payload") {
      // Forwarded byte for byte: exactly {"k":SEQ,"t":NS,... as written.
      have_seq = have_sent = read_payload_numbers(rest, d);
      if (have_seq && !d.src_id.empty() && !d.dest_id.empty()) break;
    } else if (key == "src_id") {
      if (auto v = leading_string(rest)) d.src_id = *v;
    } else if (key == "dest_id" || key == "room") {  // "room": the peers' fan-out (workload_fanout.cpp)
      if (auto v = leading_string(rest)) d.dest_id = *v;
    } else if (key == "type") {
      d.has_type = true;
    }
    // The server writes its own frames' "type" first, so a delivery whose
    // four fields are found needs no more walking (the payload's padding is
    // never scanned when it comes last).
    if (have_seq && have_sent && !d.src_id.empty() && !d.dest_id.empty()) break;
  }
  d.complete = have_seq && have_sent && !d.src_id.empty() && !d.dest_id.empty();
  return d;
}

}  // namespace allspark::bench
