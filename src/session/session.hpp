#pragma once
// One session (PROTOCOL.md section 5): its settings, its members (some of
// them anonymous) and the members homed on this shard. Every shard keeps a
// copy, changed in the same order: the session's home shard decides each
// change and hands it to the others. The home shard alone also gives the
// log's session_seq and keeps the members' cursors. No I/O.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/directory.hpp"
#include "store/store.hpp"

namespace allspark::session {

// `prefix` and 16 hex digits: a generated session id ("s-") or anonymous id ("anon-").
std::string random_id(std::string_view prefix, std::mt19937_64& random);

struct Member {
  std::string node_id;
  std::string anonymous_id;    // empty: not anonymous
  std::uint64_t cursor = 0;    // on the home shard: the last session_seq acknowledged
  core::Node* local = nullptr;  // the node, when it is homed on this shard

  // How other members see it: its anonymous id where it has one.
  const std::string& visible_id() const { return anonymous_id.empty() ? node_id : anonymous_id; }
};

class Session {
 public:
  explicit Session(store::SessionRecord record, std::uint32_t shards)
      : record_(std::move(record)), delivered_seq_(record_.last_seq), per_shard_(shards, 0) {}

  const store::SessionRecord& record() const { return record_; }
  const std::string& id() const { return record_.session_id; }
  bool is_game() const { return record_.session_type == 1; }
  std::uint64_t last_seq() const { return record_.last_seq; }
  // The home shard gives the next session_seq.
  std::uint64_t next_seq() { return ++record_.last_seq; }
  // The highest session_seq delivered to this shard's members: a member
  // connecting now got everything after it live, so its replay stops there.
  std::uint64_t delivered_seq() const { return delivered_seq_; }
  void delivered(std::uint64_t seq) { delivered_seq_ = std::max(delivered_seq_, seq); }

  Member* find(std::string_view node_id);
  const Member* find(std::string_view node_id) const;
  // A member named by its node_id or its anonymous id (a private message's dest_id).
  Member* resolve(std::string_view id);
  bool anonymous_id_taken(std::string_view id) const { return by_anonymous_.contains(std::string(id)); }
  // How members see `node_id`: its anonymous id where it is an anonymous member.
  std::string_view visible(std::string_view node_id) const;

  // Adds a member; `local` is its node when homed on this shard (its
  // `sessions` count is raised so the directory keeps it).
  Member& add(store::SessionMember member, core::Node* local, std::uint32_t home);
  // Removes a member (no-op when it is not one).
  void remove(std::string_view node_id, std::uint32_t home);
  // The member's node_id is shown from now on.
  void reveal(Member& member);
  // Lets go of every local node (the session is deleted).
  void release_local();

  const std::map<std::string, Member, std::less<>>& members() const { return members_; }
  // Members homed on this shard: the fan-out's list.
  const std::vector<core::Node*>& local() const { return local_; }
  // Shards other than `self` that hold members.
  bool has_members_on(std::uint32_t shard) const { return per_shard_[shard] > 0; }

  // The GET /v1/sessions/{id} answer (section 5).
  std::string describe() const;

 private:
  store::SessionRecord record_;
  std::uint64_t delivered_seq_ = 0;
  std::map<std::string, Member, std::less<>> members_;           // by node_id
  std::unordered_map<std::string, std::string> by_anonymous_;    // anonymous id -> node_id
  std::vector<core::Node*> local_;
  std::vector<std::uint32_t> per_shard_;  // member count by home shard
};

}  // namespace allspark::session
