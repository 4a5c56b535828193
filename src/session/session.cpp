#include "session/session.hpp"

#include <algorithm>

#include "protocol/frames.hpp"

namespace allspark::session {

std::string random_id(std::string_view prefix, std::mt19937_64& random) {
  static constexpr char digits[] = "0123456789abcdef";
  std::uint64_t bits = random();
  std::string id(prefix);
  for (int i = 0; i < 16; ++i, bits >>= 4) id += digits[bits & 15];
  return id;
}

Member* Session::find(std::string_view node_id) {
  auto it = members_.find(node_id);
  return it == members_.end() ? nullptr : &it->second;
}

const Member* Session::find(std::string_view node_id) const {
  auto it = members_.find(node_id);
  return it == members_.end() ? nullptr : &it->second;
}

Member* Session::resolve(std::string_view id) {
  if (Member* member = find(id)) return member;
  auto it = by_anonymous_.find(std::string(id));
  return it == by_anonymous_.end() ? nullptr : find(it->second);
}

std::string_view Session::visible(std::string_view node_id) const {
  const Member* member = find(node_id);
  return member != nullptr ? std::string_view(member->visible_id()) : node_id;
}

Member& Session::add(store::SessionMember stored, core::Node* local, std::uint32_t home) {
  if (Member* existing = find(stored.node_id)) return *existing;
  Member member{stored.node_id, std::move(stored.anonymous_id), stored.cursor, local};
  if (!member.anonymous_id.empty()) by_anonymous_[member.anonymous_id] = member.node_id;
  if (local != nullptr) {
    ++local->sessions;
    local_.push_back(local);
  }
  ++per_shard_[home];
  std::string key = member.node_id;
  return members_.emplace(std::move(key), std::move(member)).first->second;
}

void Session::remove(std::string_view node_id, std::uint32_t home) {
  auto it = members_.find(node_id);
  if (it == members_.end()) return;
  Member& member = it->second;
  if (!member.anonymous_id.empty()) by_anonymous_.erase(member.anonymous_id);
  if (member.local != nullptr) {
    --member.local->sessions;
    std::erase(local_, member.local);
  }
  --per_shard_[home];
  members_.erase(it);
}

void Session::reveal(Member& member) {
  if (member.anonymous_id.empty()) return;
  by_anonymous_.erase(member.anonymous_id);
  member.anonymous_id.clear();
}

void Session::release_local() {
  for (core::Node* node : local_) --node->sessions;
  local_.clear();
}

// {"session_id", "session_type", "owner_id", "game_master_node_id",
// "anyone_can_join", "allow_anonymous", "description", "members"}: anonymous
// members, an anonymous owner or game master included, by their anonymous id.
std::string Session::describe() const {
  std::vector<std::string_view> ids;
  ids.reserve(members_.size());
  for (const auto& [node_id, member] : members_) ids.push_back(member.visible_id());
  std::sort(ids.begin(), ids.end());
  std::string out = "{";
  protocol::append_id_field(out, "session_id", record_.session_id);
  out += ",\"session_type\":";
  protocol::append_int(out, record_.session_type);
  out += ',';
  protocol::append_id_field(out, "owner_id", visible(record_.owner_id));
  out += ',';
  protocol::append_id_field(out, "game_master_node_id", visible(record_.game_master_node_id));
  out += record_.anyone_can_join ? ",\"anyone_can_join\":true" : ",\"anyone_can_join\":false";
  out += record_.allow_anonymous ? ",\"allow_anonymous\":true" : ",\"allow_anonymous\":false";
  out += ",\"description\":";
  out += record_.description;
  out += ",\"members\":[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += ids[i];  // ids need no escaping
    out += '"';
  }
  out += "]}";
  return out;
}

}  // namespace allspark::session
