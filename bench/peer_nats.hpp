#pragma once
// NATS's client protocol over its WebSocket listener (the same text protocol
// as over TCP, carried in binary frames as a byte stream): the greeting
// (INFO, then CONNECT, SUBs and a PING whose PONG says the SUBs are in place),
// PUB, and a resumable reader of what the server sends. Pure: bytes in,
// events out; ClientPool does the I/O.
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace allspark::bench::nats {

// CONNECT {...}\r\n with verbose and pedantic off (no +OK per PUB).
std::string connect_text(std::string_view name);
// SUB <subject> <sid>\r\n
void append_sub(std::string& out, std::string_view subject, std::uint32_t sid);

// `PUB <subject> [reply] <size>\r\n` into `out` (room for subject + reply + 32);
// the body and a "\r\n" follow it. Returns the bytes written.
std::size_t write_pub_head(char* out, std::string_view subject, std::string_view reply, std::size_t body_size);
inline constexpr std::string_view crlf = "\r\n";

// Reads whole server operations from the start of `data` and returns the bytes
// they took (what remains is an incomplete operation), or npos when an event
// asked to stop or a line is not NATS. Events (each returns false to stop):
//   on_msg(subject, reply, body)   on_info()   on_ping()   on_pong()   on_err(line)
template <class Events>
std::size_t read_operations(std::string_view data, Events& events) {
  constexpr std::size_t stop = std::string_view::npos;
  std::size_t at = 0;
  while (at < data.size()) {
    const char* start = data.data() + at;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', data.size() - at));
    if (newline == nullptr) return at;
    auto line_size = static_cast<std::size_t>(newline - start);
    std::size_t next = at + line_size + 1;
    if (line_size > 0 && start[line_size - 1] == '\r') --line_size;
    std::string_view line(start, line_size);
    if (line.substr(0, 4) == "MSG ") {
      // MSG <subject> <sid> [reply-to] <#bytes>
      std::string_view tokens[4];
      std::size_t count = 0;
      std::string_view rest = line.substr(4);
      while (!rest.empty() && count < 4) {
        std::size_t space = rest.find(' ');
        if (space != 0) tokens[count++] = rest.substr(0, space);
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
      }
      if (count < 3) return stop;
      std::string_view size_text = tokens[count - 1];
      std::size_t size = 0;
      auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
      if (ec != std::errc() || end != size_text.data() + size_text.size()) return stop;
      if (data.size() - next < size + 2) return at;  // the body is not all here yet
      if (!events.on_msg(tokens[0], count == 4 ? tokens[2] : std::string_view(), data.substr(next, size))) return stop;
      at = next + size + 2;
      continue;
    }
    bool go_on = true;
    if (line == "PING") {
      go_on = events.on_ping();
    } else if (line == "PONG") {
      go_on = events.on_pong();
    } else if (line.substr(0, 5) == "INFO ") {
      go_on = events.on_info();
    } else if (line.substr(0, 4) == "-ERR") {
      go_on = events.on_err(line);
    } else if (line != "+OK") {
      go_on = events.on_err(line);
    }
    if (!go_on) return stop;
    at = next;
  }
  return at;
}

}  // namespace allspark::bench::nats
