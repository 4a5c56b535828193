#pragma once
// What callers queue for the SQLite store's thread (sqlite_store.cpp), one
// struct per Store call. Results are kept in the operation until the
// transaction is committed, then handed to `done`.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <future>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "store/store.hpp"

namespace allspark::store::sqlite {

// Node inboxes.
struct AppendOp {
  std::shared_ptr<const std::vector<InboxEntry>> entries;
  std::function<void(bool ok)> done;
};
struct AckOp {
  std::string node_id;
  std::uint64_t up_to_seq = 0;
};
struct FetchOp {
  std::string node_id;
  std::uint64_t after_seq = 0;
  std::uint64_t up_to_seq = 0;
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  std::function<void(std::vector<InboxEntry> entries, bool more)> done;
  std::vector<InboxEntry> entries;
  bool more = false;
};
struct LoadOp {
  std::promise<std::vector<InboxState>> done;
  std::vector<InboxState> states;
};
struct FlushOp {
  std::promise<void> done;
};
struct ClientNodeOp {
  std::string client_id;
  std::string node_id;
};
struct LoadClientNodesOp {
  std::promise<std::vector<std::pair<std::string, std::string>>> done;
  std::vector<std::pair<std::string, std::string>> members;
};
struct PushKeyOp {
  std::string node_id;
  std::string push_key;
};
struct LoadPushKeysOp {
  std::promise<std::vector<std::pair<std::string, std::string>>> done;
  std::vector<std::pair<std::string, std::string>> keys;
};
struct AckedIdsOp {
  std::vector<AckedId> ids;
};
struct LoadAckedIdsOp {
  std::int64_t since_ms = 0;
  std::promise<std::vector<AckedId>> done;
  std::vector<AckedId> ids;
};

// Sessions, their members and logs.
struct CreateSessionOp {
  SessionRecord session;
  std::vector<SessionMember> members;
  std::function<void(bool ok)> done;
};
struct DeleteSessionOp {
  std::string session_id;
  std::function<void(bool ok)> done;
};
struct PutMemberOp {
  SessionMember member;
  std::function<void(bool ok)> done;
};
struct RemoveMemberOp {
  std::string session_id;
  std::string node_id;
  std::function<void(bool ok)> done;
};
struct MoveCursorsOp {
  std::vector<SessionMember> cursors;
};
struct AppendLogOp {
  std::vector<LogEntry> entries;
  std::function<void(bool ok)> done;
  bool background = false;  // nobody waits for it
};
struct FetchLogOp {
  std::string session_id;
  std::uint64_t after_seq = 0;
  std::uint64_t up_to_seq = 0;
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  std::function<void(std::vector<LogEntry> entries, bool more, std::uint64_t last_seq)> done;
  std::vector<LogEntry> entries;
  bool more = false;
  std::uint64_t last_seq = 0;
};
struct FetchBacklogOp {
  std::string node_id;
  std::string after_session_id;
  std::uint64_t after_seq = 0;
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  std::function<void(std::vector<LogEntry> entries, bool more)> done;
  std::vector<LogEntry> entries;
  bool more = false;
};
struct LoadSessionsOp {
  std::promise<SessionsSnapshot> done;
  SessionsSnapshot snapshot;
};

using Operation =
    std::variant<AppendOp, AckOp, FetchOp, LoadOp, FlushOp, ClientNodeOp, LoadClientNodesOp, PushKeyOp,
                 LoadPushKeysOp, AckedIdsOp, LoadAckedIdsOp, CreateSessionOp, DeleteSessionOp, PutMemberOp,
                 RemoveMemberOp, MoveCursorsOp, AppendLogOp, FetchLogOp, FetchBacklogOp, LoadSessionsOp>;

// Writes answer done(ok): when their transaction fails they all fail with
// it, since any of them may be the cause. Every other operation (acks,
// cursors, reads, loads) runs again without them, so that no read shows a
// row that was rolled back and a disk that recovers loses no ack.
template <typename Op>
inline constexpr bool is_write =
    std::is_same_v<Op, AppendOp> || std::is_same_v<Op, AppendLogOp> || std::is_same_v<Op, CreateSessionOp> ||
    std::is_same_v<Op, DeleteSessionOp> || std::is_same_v<Op, PutMemberOp> || std::is_same_v<Op, RemoveMemberOp>;

// Work nobody waits for: a batch of only these may wait a few milliseconds
// for more before its transaction (group commit). Everything else (an
// inbox append whose -4 waits, a fetch, an HTTP change) is answered at once.
inline bool is_background(const Operation& op) {
  if (const auto* append = std::get_if<AppendLogOp>(&op)) return append->background;
  return std::holds_alternative<AckOp>(op) || std::holds_alternative<MoveCursorsOp>(op) ||
         std::holds_alternative<AckedIdsOp>(op) || std::holds_alternative<ClientNodeOp>(op) ||
         std::holds_alternative<PushKeyOp>(op);
}

}  // namespace allspark::store::sqlite
