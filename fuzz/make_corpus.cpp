// Writes the seed corpora of the fuzz targets: real frames, real messages and
// real tokens (minted with the project's own mint_* functions), a few of each
// kind of refusal, all small. Usage: fuzz_make_corpus <fuzz/corpus>. The
// input layouts are the ones described at the top of each fuzz_*.cpp.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "net/frame_codec.hpp"
#include "protocol/token.hpp"
#include "token_inputs.hpp"

namespace {

namespace fs = std::filesystem;
using allspark::net::Opcode;
using Bytes = std::vector<std::uint8_t>;

void write_file(const fs::path& dir, std::string_view name, std::string_view content) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
}

// ---- frames -----------------------------------------------------------------

constexpr std::uint32_t rfc_key = 0x37fa213d;  // RFC 6455 5.7's masking key
constexpr unsigned no_limit = 0xffff;

// A client frame as a browser sends it: masked.
void client_frame(Bytes& out, Opcode op, bool fin, std::string_view payload, std::uint32_t key = rfc_key) {
  std::uint8_t header[14];
  const std::size_t n = allspark::net::write_client_frame_header(header, op, fin, payload.size(), key);
  out.insert(out.end(), header, header + n);
  const std::size_t start = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  allspark::net::apply_mask(out.data() + start, payload.size(), key);
}

void server_frame(Bytes& out, Opcode op, bool fin, std::string_view payload) {
  std::uint8_t header[10];
  const std::size_t n = allspark::net::write_frame_header(header, op, fin, payload.size());
  out.insert(out.end(), header, header + n);
  out.insert(out.end(), payload.begin(), payload.end());
}

// fuzz_frame_codec's layout: flags, limit, piece lengths, stream.
void frame_seed(const fs::path& dir, std::string_view name, const Bytes& stream, unsigned limit = 4096,
                const Bytes& pieces = {}, bool server_frames = false, unsigned stop_at = 0) {
  std::string content;
  content += static_cast<char>((stop_at << 1) | (server_frames ? 1 : 0));
  content += static_cast<char>(limit & 0xff);
  content += static_cast<char>(limit >> 8);
  content += static_cast<char>(pieces.size());
  content.append(pieces.begin(), pieces.end());
  content.append(stream.begin(), stream.end());
  write_file(dir, name, content);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  return payload += reason;
}

void frame_seeds(const fs::path& dir) {
  Bytes b;
  client_frame(b, Opcode::text, true, "Hello");
  frame_seed(dir, "text_hello", b);

  b.clear();
  client_frame(b, Opcode::text, true, R"({"dest_id":"bob","payload":{"text":"hi"}})", 0x01020304);
  frame_seed(dir, "text_message", b, 1024);

  b.clear();  // RFC 6455 5.4: control frames may come between fragments
  client_frame(b, Opcode::text, false, "Hel");
  client_frame(b, Opcode::ping, true, "ping");
  client_frame(b, Opcode::continuation, false, "l");
  client_frame(b, Opcode::continuation, true, "o");
  frame_seed(dir, "fragments_with_ping", b, 5);
  frame_seed(dir, "fragments_split_headers", b, 5, {1, 1, 3, 7, 0, 2});

  b.clear();
  client_frame(b, Opcode::close, true, close_payload(1000, "bye"));
  frame_seed(dir, "close_1000", b);

  b.clear();
  client_frame(b, Opcode::pong, true, "");
  client_frame(b, Opcode::binary, true, "");
  frame_seed(dir, "empty_pong_and_binary", b);

  b.clear();
  client_frame(b, Opcode::binary, true, std::string(200, 'x'));
  frame_seed(dir, "binary_16bit_length", b, no_limit, {9, 100});

  b.clear();  // the same length spelled with 64 bits (not minimal, accepted)
  b = {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5};
  frame_seed(dir, "binary_64bit_length", b);

  b.clear();
  client_frame(b, Opcode::text, true, "0123456789");
  frame_seed(dir, "exactly_the_limit", b, 10);
  frame_seed(dir, "over_the_limit", b, 9);

  b.clear();
  client_frame(b, Opcode::text, false, "012345");
  client_frame(b, Opcode::continuation, true, "6789a");
  frame_seed(dir, "fragments_over_the_limit", b, 10);

  b.clear();
  client_frame(b, Opcode::text, true, "a");
  client_frame(b, Opcode::text, true, "b");
  client_frame(b, Opcode::text, true, "c");
  frame_seed(dir, "handler_stops", b, no_limit, {}, false, 3);

  frame_seed(dir, "reserved_bits", {0xc1, 0x81, 1, 2, 3, 4, 'x'});
  frame_seed(dir, "reserved_opcode", {0x83, 0x80, 1, 2, 3, 4});
  frame_seed(dir, "unmasked_from_client", {0x81, 0x02, 'h', 'i'});
  frame_seed(dir, "continuation_first", {0x80, 0x80, 1, 2, 3, 4});
  frame_seed(dir, "long_ping", {0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4});
  frame_seed(dir, "length_top_bit", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4});
  // A header announcing 2^62 bytes, then only a few: the decoder must wait, not trust it.
  frame_seed(dir, "lying_64bit_length", {0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9}, no_limit);

  b.clear();
  server_frame(b, Opcode::text, true, R"({"type":-10,"payload":{"node_id":"n1"}})");
  server_frame(b, Opcode::close, true, close_payload(4001, "slow consumer"));
  frame_seed(dir, "server_frames", b, no_limit, {3}, true);
  b.clear();
  client_frame(b, Opcode::text, true, "masked");
  frame_seed(dir, "server_frame_masked", b, no_limit, {}, true);
}

// ---- messages ---------------------------------------------------------------

void message_seeds(const fs::path& dir) {
  const std::pair<std::string_view, std::string_view> messages[] = {
      {"to_node", R"({"dest_id":"bob","payload":{"text":"hi"}})"},
      {"to_client_with_ack", R"({"type":0,"id":"m-1","dest_client_id":"alice","ack":true,"payload":{"n":1}})"},
      {"to_session_ephemeral", R"({"dest_session_id":"room:1","ephemeral":true,"payload":"typing"})"},
      {"inbox_ack", R"({"type": -7, "seq": 42})"},
      {"fetch_inbox",
       R"({"type": -101, "payload": {"fetch_inbox": {"from_seq": 1, "to_seq": 9, "limit": 50, "session_id": "s1"}}})"},
      {"server_fields_dropped",
       R"({"dest_id":"n2","src_id":"app.1","src_client_id":"x","timestamp":1,"seq":3,"session_seq":4,"custom":[1,2.5e3,-0,null,true,false]})"},
      {"escapes", R"({"dest_id":"b\u006fb","k\u0065y":1,"payload":{"emoji":"\ud83d\ude00","s":"\"q\"\n\t\\\/"}})"},
      {"unicode", "{\"dest_id\":\"n\",\"payload\":\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80\"}"},
      {"whitespace", " {\n \"dest_id\" : \"bob\" ,\r\n\t\"payload\" : { } } "},
      {"empty_object", "{}"},
      {"numbers", R"({"type":9223372036854775807,"payload":[1e400,-1E-5,0.5,123456789012345678901234567890]})"},
      {"missing_value", R"({"x":[1,,2]})"},
      {"not_an_object", "[1,2]"},
      {"duplicate_id", R"({"id":"a","id":"b"})"},
      {"duplicate_escaped_key", R"({"id":"a","dest_id":"x","d\u0065st_id":"y"})"},
      {"type_not_integer", R"({"id":"m2","type":1.5})"},
      {"type_out_of_range", R"({"type":-9223372036854775809})"},
      {"ack_without_id", R"({"ack":true})"},
      {"ack_with_ephemeral", R"({"id":"m3","ack":true,"ephemeral":true})"},
      {"bad_id", R"({"id":"bad id!","dest_id":"n"})"},
      {"id_not_string", R"({"id":7,"dest_id":"n"})"},
      {"trailing_bytes", R"({"dest_id":"n"} x)"},
      {"lone_surrogate_key", R"({"\ud800":1,"\ud800":2})"},
  };
  for (const auto& [name, text] : messages) write_file(dir, name, text);
  // Deeper than max_json_depth (128).
  write_file(dir, "too_deep", "{\"payload\":" + std::string(130, '[') + std::string(130, ']') + "}");
}

// ---- tokens -----------------------------------------------------------------

void token_seeds(const fs::path& dir) {
  using namespace allspark::protocol;
  using namespace allspark::fuzz;
  // fuzz_token's modes: '0' auth key as is, '1' validation key as is, '2'
  // header and claims to sign as an auth key, '3' the same as a validation key.
  const auto auth = [](std::string_view node, std::string_view client, Role role, std::int64_t minted_at,
                       std::int64_t ttl) { return mint_auth_key({std::string(node), std::string(client), role, {}}, secret, minted_at, ttl); };
  write_file(dir, "auth_node", "0" + auth("phone1", "alice", Role::node, now, 3600));
  write_file(dir, "auth_app_no_exp", "0" + auth("backend", "", Role::app, now, 0));
  write_file(dir, "auth_server", "0" + auth("server-2", "", Role::server, now, 60));
  write_file(dir, "auth_expired", "0" + auth("phone1", "alice", Role::node, now - 7200, 3600));
  write_file(dir, "auth_other_secret", "0" + mint_auth_key({"phone1", "alice", Role::node, {}}, other_secret, now, 3600));
  write_file(dir, "auth_not_jwt", "0a.b");
  write_file(dir, "validation", "1" + mint_validation_key(node_id, server_id, secret, now));
  write_file(dir, "validation_other_node", "1" + mint_validation_key("node-2", server_id, secret, now));
  write_file(dir, "validation_expired", "1" + mint_validation_key(node_id, server_id, secret, now - 61));

  const std::pair<std::string_view, std::string_view> signed_auth[] = {
      {"claims_all", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}\n"
                     R"({"sub":"phone1","client_id":"alice","role":"app","iat":1700000000,"exp":1700003600,"nbf":1699990000})"},
      {"claims_fractional_exp", R"({"sub":"n1","exp":1700000000.5})"},
      {"claims_huge_exp", R"({"sub":"n1","exp":1e400})"},
      {"claims_escaped_sub", R"({"sub":"n\u0031","client_id":"c\u002d1"})"},
      {"claims_bad_types", R"({"sub":"n1","client_id":5,"role":"root"})"},
      {"claims_bad_id", R"({"sub":"not valid","exp":1800000000})"},
      {"header_hs512", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}\n{\"sub\":\"n1\"}"},
      {"header_alg_none", "{\"alg\":\"none\"}\n{\"sub\":\"n1\"}"},
      {"header_crit", "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}\n{\"sub\":\"n1\"}"},
      {"header_escaped_alg", "{\"alg\":\"HS\\u0032\\u0035\\u0036\"}\n{\"sub\":\"n1\"}"},
  };
  for (const auto& [name, text] : signed_auth) write_file(dir, "signed_auth_" + std::string(name), "2" + std::string(text));
  write_file(dir, "signed_validation", R"(3{"sub":"node-1","srv":"server-1","iat":1700000000,"exp":1700000060})");
  write_file(dir, "signed_validation_no_exp", R"(3{"sub":"node-1","srv":"server-1"})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory, e.g. fuzz/corpus>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  frame_seeds(root / "frame_codec");
  message_seeds(root / "message_decoder");
  token_seeds(root / "token");
  return 0;
}
