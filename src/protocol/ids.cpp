#include "protocol/ids.hpp"

#include <array>

namespace allspark::protocol {

namespace {
constexpr std::array<bool, 256> id_chars = [] {
  std::array<bool, 256> table{};
  for (char c = 'a'; c <= 'z'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c = 'A'; c <= 'Z'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c = '0'; c <= '9'; ++c) table[static_cast<unsigned char>(c)] = true;
  for (char c : std::string_view("._:@-")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();
}  // namespace

bool is_valid_id(std::string_view id) {
  if (id.empty() || id.size() > max_id_bytes) return false;
  for (char c : id) {
    if (!id_chars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

}  // namespace allspark::protocol
