#include "peer_nats.hpp"

namespace allspark::bench::nats {

std::string connect_text(std::string_view name) {
  std::string out = R"(CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"lang":"c++","version":"1",)";
  out += R"("protocol":1,"echo":false,"headers":false,"name":")";
  out += name;
  out += "\"}\r\n";
  return out;
}

void append_sub(std::string& out, std::string_view subject, std::uint32_t sid) {
  out += "SUB ";
  out += subject;
  out += ' ';
  out += std::to_string(sid);
  out += "\r\n";
}

std::size_t write_pub_head(char* out, std::string_view subject, std::string_view reply, std::size_t body_size) {
  char* p = out;
  std::memcpy(p, "PUB ", 4);
  p += 4;
  std::memcpy(p, subject.data(), subject.size());
  p += subject.size();
  *p++ = ' ';
  if (!reply.empty()) {
    std::memcpy(p, reply.data(), reply.size());
    p += reply.size();
    *p++ = ' ';
  }
  p = std::to_chars(p, p + 24, body_size).ptr;
  *p++ = '\r';
  *p++ = '\n';
  return static_cast<std::size_t>(p - out);
}

}  // namespace allspark::bench::nats
