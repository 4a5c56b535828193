#include "store/sqlite/sqlite_store.hpp"

#include <atomic>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <future>
#include <mutex>
#include <stdexcept>
#include <pthread.h>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "store/sqlite/database.hpp"
#include "store/sqlite/inbox_tables.hpp"
#include "store/sqlite/operations.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/session_tables.hpp"

namespace allspark::store {

namespace {

using namespace sqlite;  // the backend's own parts: tables and operations

// Threads: callers (shards, start-up, shutdown) only touch the queue under
// mutex_; everything else, the connection included, belongs to thread_.
class SqliteStore final : public Store {
 public:
  SqliteStore(InboxTables tables, SessionTables sessions, StoreLimits limits)
      : tables_(std::move(tables)), sessions_(std::move(sessions)), limits_(limits), thread_([this] { run(); }) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Commits everything queued, runs its callbacks, then stops the thread.
  ~SqliteStore() override {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  std::vector<InboxState> load_inbox_states() override {
    LoadOp op;
    auto result = op.done.get_future();
    push(std::move(op));
    return result.get();  // throws when the store cannot be read
  }

  using Store::append;
  void append(std::shared_ptr<const std::vector<InboxEntry>> entries, std::function<void(bool ok)> done) override {
    push(AppendOp{std::move(entries), std::move(done)});
  }

  void ack(std::string node_id, std::uint64_t up_to_seq) override {
    push(AckOp{std::move(node_id), up_to_seq});
  }

  void fetch(std::string node_id, std::uint64_t after_seq, std::uint64_t up_to_seq, std::size_t max_entries,
             std::size_t max_bytes,
             std::function<void(std::vector<InboxEntry> entries, bool more)> done) override {
    push(FetchOp{std::move(node_id), after_seq, up_to_seq, max_entries, max_bytes, std::move(done), {}, false});
  }

  void remember_client_node(std::string client_id, std::string node_id) override {
    push(ClientNodeOp{std::move(client_id), std::move(node_id)});
  }

  std::vector<std::pair<std::string, std::string>> load_client_nodes() override {
    LoadClientNodesOp op;
    auto result = op.done.get_future();
    push(std::move(op));
    return result.get();
  }

  void set_push_key(std::string node_id, std::string push_key) override {
    push(PushKeyOp{std::move(node_id), std::move(push_key)});
  }

  std::vector<std::pair<std::string, std::string>> load_push_keys() override {
    LoadPushKeysOp op;
    auto result = op.done.get_future();
    push(std::move(op));
    return result.get();
  }

  void remember_acked_ids(std::vector<AckedId> ids) override { push(AckedIdsOp{std::move(ids)}); }

  std::vector<AckedId> load_acked_ids(std::int64_t since_ms) override {
    LoadAckedIdsOp op;
    op.since_ms = since_ms;
    auto result = op.done.get_future();
    push(std::move(op));
    return result.get();
  }

  void create_session(SessionRecord session, std::vector<SessionMember> members,
                      std::function<void(bool ok)> done) override {
    push(CreateSessionOp{std::move(session), std::move(members), std::move(done)});
  }

  void delete_session(std::string session_id, std::function<void(bool ok)> done) override {
    push(DeleteSessionOp{std::move(session_id), std::move(done)});
  }

  void put_member(SessionMember member, std::function<void(bool ok)> done) override {
    push(PutMemberOp{std::move(member), std::move(done)});
  }

  void remove_member(std::string session_id, std::string node_id, std::function<void(bool ok)> done) override {
    push(RemoveMemberOp{std::move(session_id), std::move(node_id), std::move(done)});
  }

  void move_cursors(std::vector<SessionMember> cursors) override { push(MoveCursorsOp{std::move(cursors)}); }

  void append_log(std::vector<LogEntry> entries, std::function<void(bool ok)> done) override {
    push(AppendLogOp{std::move(entries), std::move(done), false});
  }

  void append_log_background(std::vector<LogEntry> entries, std::function<void(bool ok)> done) override {
    push(AppendLogOp{std::move(entries), std::move(done), true});
  }

  void fetch_log(std::string session_id, std::uint64_t after_seq, std::uint64_t up_to_seq, std::size_t max_entries,
                 std::size_t max_bytes,
                 std::function<void(std::vector<LogEntry> entries, bool more, std::uint64_t last_seq)> done) override {
    push(FetchLogOp{std::move(session_id), after_seq, up_to_seq, max_entries, max_bytes, std::move(done), {}, false,
                    0});
  }

  void fetch_backlog(std::string node_id, std::string after_session_id, std::uint64_t after_seq,
                     std::size_t max_entries, std::size_t max_bytes,
                     std::function<void(std::vector<LogEntry> entries, bool more)> done) override {
    push(FetchBacklogOp{std::move(node_id), std::move(after_session_id), after_seq, max_entries, max_bytes,
                        std::move(done), {}, false});
  }

  SessionsSnapshot load_sessions() override {
    LoadSessionsOp op;
    auto result = op.done.get_future();
    push(std::move(op));
    return result.get();
  }

  // Must not be called from a callback: it would wait for its own thread.
  void flush() override {
    FlushOp op;
    auto committed = op.done.get_future();
    push(std::move(op));
    committed.wait();
  }

  void set_after_callbacks(std::function<void()> hook) override {
    const std::lock_guard lock(mutex_);
    after_callbacks_ = std::move(hook);
  }

  StoreStats stats() const override {
    constexpr auto relaxed = std::memory_order_relaxed;
    // By name: a field added to StoreStats in the middle cannot shift the others.
    return StoreStats{.entries_written = entries_written_.load(relaxed),
                      .entries_acked = entries_acked_.load(relaxed),
                      .transactions = transactions_.load(relaxed),
                      .queue_depth = queue_depth_.load(relaxed),
                      .last_commit_us = last_commit_us_.load(relaxed),
                      .total_commit_us = total_commit_us_.load(relaxed),
                      .failures = failures_.load(relaxed),
                      .dropped_inbox_max = dropped_inbox_max_.load(relaxed),
                      .dropped_retention = dropped_retention_.load(relaxed),
                      .log_entries_written = log_entries_written_.load(relaxed),
                      .log_dropped_log_max = log_dropped_log_max_.load(relaxed),
                      .log_dropped_retention = log_dropped_retention_.load(relaxed),
                      .damaged_rows = damaged_rows_.load(relaxed)};
  }

 private:
  void push(Operation op) {
    bool wake = false;
    {
      const std::lock_guard lock(mutex_);
      const bool urgent = !sqlite::is_background(op);
      // The thread sleeps on an empty queue, or lingers over background work
      // (or rests after a transaction) until work someone waits for comes:
      // one wake-up per batch, not one per call.
      wake = (sleeping_ && queue_.empty()) || (urgent && !urgent_queued_);
      urgent_queued_ = urgent_queued_ || urgent;
      if (queue_.empty()) queued_at_ = std::chrono::steady_clock::now();
      queue_.push_back(std::move(op));
      queue_depth_.store(queue_.size(), std::memory_order_relaxed);
    }
    if (wake) wake_.notify_one();
  }

  void run() {
    pthread_setname_np(pthread_self(), "store");  // top -H, and the benchmarks' per-thread CPU
    const std::chrono::milliseconds linger(limits_.linger_ms);
    // With a retention, what is too old is dropped every tenth of the
    // retention, at least each second, at most each minute: on a deadline,
    // so that a steady trickle of calls cannot put it off.
    const bool sweeps = limits_.retention_ms > 0;
    const auto sweep_every =
        std::chrono::milliseconds(std::clamp<std::int64_t>(limits_.retention_ms / 10, 1000, 60000));
    auto next_sweep = std::chrono::steady_clock::now() + sweep_every;
    auto sweep_if_due = [&] {
      if (!sweeps || std::chrono::steady_clock::now() < next_sweep) return;
      expire();
      next_sweep = std::chrono::steady_clock::now() + sweep_every;
    };
    std::vector<Operation> batch;
    std::function<void()> after_callbacks;
    bool resting = false;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        auto urgent = [this] { return urgent_queued_ || stopping_; };
        // Resting, for linger_ms after a transaction: background work is
        // queued without a wake-up and looked at when the rest ends, so the
        // acked ids and acks that follow a transaction's answers cost no
        // wake-up of their own. Work someone waits for ends the rest.
        if (resting && queue_.empty() && linger.count() > 0) wake_.wait_for(lock, linger, urgent);
        resting = false;
        if (queue_.empty() && !stopping_) {
          // Asleep: any call wakes the thread (and the sweep's deadline).
          sleeping_ = true;
          auto woken = [this] { return !queue_.empty() || stopping_; };
          bool sweep_due = false;
          if (sweeps) {
            sweep_due = !wake_.wait_until(lock, next_sweep, woken);
          } else {
            wake_.wait(lock, woken);
          }
          sleeping_ = false;
          if (sweep_due) {
            lock.unlock();
            sweep_if_due();
            continue;
          }
        }
        if (queue_.empty()) return;  // stopping, and everything is done
        // Group commit: background work alone (plain session log entries,
        // acks, cursors) waits up to linger_ms from its call for company,
        // unless work that someone waits for arrives first.
        if (!urgent_queued_ && !stopping_ && linger.count() > 0) wake_.wait_until(lock, queued_at_ + linger, urgent);
        urgent_queued_ = false;
        // Everything queued goes into one transaction: the commit, not the
        // row, is what costs (DESIGN.md: 4-7 us per row at 256 per commit).
        batch.swap(queue_);
        queue_depth_.store(0, std::memory_order_relaxed);
        after_callbacks = after_callbacks_;  // the server's captures one reference: copied without allocating
      }
      process(batch, after_callbacks);
      batch.clear();  // keeps its capacity for the next swap
      resting = true;
      sweep_if_due();
    }
  }

  void process(std::vector<Operation>& batch, const std::function<void()>& after_callbacks) {
    std::size_t writes = 0;
    std::size_t others = 0;  // acks, cursors, fetches, loads
    for (const Operation& operation : batch) {
      std::visit(
          [&](const auto& op) {
            using Op = std::decay_t<decltype(op)>;
            if constexpr (is_write<Op>) {
              ++writes;
            } else if constexpr (!std::is_same_v<Op, FlushOp>) {
              ++others;
            }
          },
          operation);
    }
    bool writes_ok = true;
    bool others_ok = true;
    if (writes + others > 0 && !transact(batch, true)) {
      // Every write of the failed transaction fails; the rest runs again
      // without them (operations.hpp, is_write).
      writes_ok = writes == 0;
      others_ok = others == 0 || transact(batch, false);
      failures_.fetch_add((writes_ok ? 0 : writes) + (others_ok ? 0 : others), std::memory_order_relaxed);
    }
    finish(batch, writes_ok, others_ok);
    if (after_callbacks) after_callbacks();
    // Last: a flush returns once the hook too has run (at shutdown, no
    // answer reaches a shard after flush()).
    for (Operation& operation : batch) {
      if (auto* flush = std::get_if<FlushOp>(&operation)) flush->done.set_value();
    }
  }

  // Section 6: a session's log keeps at most log_max entries, the oldest go
  // first (each session of the appended entries once).
  bool trim_log(const std::vector<LogEntry>& entries, std::uint64_t& trimmed) {
    if (limits_.log_max == 0) return true;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i + 1 < entries.size() && entries[i + 1].session_id == entries[i].session_id) continue;
      if (!sessions_.trim(entries[i].session_id, limits_.log_max, trimmed)) return false;
    }
    return true;
  }

  // One transaction over the batch, in call order. On failure everything is
  // rolled back and false returned; stats count committed work only.
  bool transact(std::vector<Operation>& batch, bool with_writes) {
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t log_written = 0;
    std::uint64_t log_trimmed = 0;
    bool ok = tables_.begin();
    for (std::size_t i = 0; ok && i < batch.size(); ++i) {
      ok = std::visit(
          [&](auto& op) {
            using Op = std::decay_t<decltype(op)>;
            if constexpr (is_write<Op>) {
              if (!with_writes) return true;
            }
            if constexpr (std::is_same_v<Op, AppendOp>) {
              return tables_.append(*op.entries);  // trimmed to inbox_max as it is written
            } else if constexpr (std::is_same_v<Op, AckOp>) {
              return tables_.ack(op.node_id, op.up_to_seq);
            } else if constexpr (std::is_same_v<Op, FetchOp>) {
              return tables_.fetch(op.node_id, op.after_seq, op.up_to_seq, op.max_entries, op.max_bytes, op.entries,
                                   op.more);
            } else if constexpr (std::is_same_v<Op, LoadOp>) {
              return tables_.load_states(op.states);
            } else if constexpr (std::is_same_v<Op, ClientNodeOp>) {
              return tables_.add_member(op.client_id, op.node_id);
            } else if constexpr (std::is_same_v<Op, LoadClientNodesOp>) {
              return tables_.load_members(op.members);
            } else if constexpr (std::is_same_v<Op, PushKeyOp>) {
              return tables_.set_push_key(op.node_id, op.push_key);
            } else if constexpr (std::is_same_v<Op, LoadPushKeysOp>) {
              return tables_.load_push_keys(op.keys);
            } else if constexpr (std::is_same_v<Op, AckedIdsOp>) {
              return tables_.remember_acked_ids(op.ids);
            } else if constexpr (std::is_same_v<Op, LoadAckedIdsOp>) {
              return tables_.load_acked_ids(op.since_ms, op.ids);
            } else if constexpr (std::is_same_v<Op, CreateSessionOp>) {
              return sessions_.create(op.session, op.members);
            } else if constexpr (std::is_same_v<Op, DeleteSessionOp>) {
              return sessions_.remove(op.session_id);
            } else if constexpr (std::is_same_v<Op, PutMemberOp>) {
              return sessions_.put_member(op.member);
            } else if constexpr (std::is_same_v<Op, RemoveMemberOp>) {
              return sessions_.remove_member(op.session_id, op.node_id);
            } else if constexpr (std::is_same_v<Op, MoveCursorsOp>) {
              return sessions_.move_cursors(op.cursors);
            } else if constexpr (std::is_same_v<Op, AppendLogOp>) {
              return sessions_.append(op.entries, log_written) && trim_log(op.entries, log_trimmed);
            } else if constexpr (std::is_same_v<Op, FetchLogOp>) {
              return sessions_.fetch(op.session_id, op.after_seq, op.up_to_seq, op.max_entries, op.max_bytes,
                                     op.entries, op.more, op.last_seq);
            } else if constexpr (std::is_same_v<Op, FetchBacklogOp>) {
              return sessions_.fetch_backlog(op.node_id, op.after_session_id, op.after_seq, op.max_entries,
                                             op.max_bytes, op.entries, op.more);
            } else if constexpr (std::is_same_v<Op, LoadSessionsOp>) {
              return sessions_.load(op.snapshot);
            } else {
              return true;  // a flush only waits for the commit
            }
          },
          batch[i]);
    }
    if (ok) ok = tables_.commit();
    if (!ok) {
      last_error_ = tables_.last_error();
      tables_.rollback();
      return false;
    }
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    const InboxTables::Counts& inbox = tables_.counts();
    entries_written_.fetch_add(inbox.written, std::memory_order_relaxed);
    entries_acked_.fetch_add(inbox.acked, std::memory_order_relaxed);
    dropped_inbox_max_.fetch_add(inbox.trimmed, std::memory_order_relaxed);
    damaged_rows_.fetch_add(inbox.damaged, std::memory_order_relaxed);
    log_entries_written_.fetch_add(log_written, std::memory_order_relaxed);
    log_dropped_log_max_.fetch_add(log_trimmed, std::memory_order_relaxed);
    transactions_.fetch_add(1, std::memory_order_relaxed);
    last_commit_us_.store(us, std::memory_order_relaxed);
    total_commit_us_.fetch_add(us, std::memory_order_relaxed);
    return true;
  }

  // Callbacks run after the commit, on this thread, in call order.
  void finish(std::vector<Operation>& batch, bool writes_ok, bool others_ok) {
    for (Operation& operation : batch) {
      std::visit(
          [&](auto& op) {
            using Op = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<Op, AppendOp>) {
              op.entries.reset();  // the caller's to free, on its own thread
              if (op.done) op.done(writes_ok);
            } else if constexpr (is_write<Op>) {
              if (op.done) op.done(writes_ok);
            } else if constexpr (std::is_same_v<Op, FetchOp>) {
              if (!others_ok) {
                op.entries.clear();
                op.more = false;
              }
              if (op.done) op.done(std::move(op.entries), op.more);
            } else if constexpr (std::is_same_v<Op, LoadOp>) {
              if (others_ok) {
                op.done.set_value(std::move(op.states));
              } else {
                // Start-up must not go on with seqs it could not read: they
                // would be given again.
                op.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("sqlite store: cannot load inbox states: " + last_error_)));
              }
            } else if constexpr (std::is_same_v<Op, FetchLogOp>) {
              if (!others_ok) {
                op.entries.clear();
                op.more = false;
                op.last_seq = 0;
              }
              if (op.done) op.done(std::move(op.entries), op.more, op.last_seq);
            } else if constexpr (std::is_same_v<Op, FetchBacklogOp>) {
              if (!others_ok) {
                op.entries.clear();
                op.more = false;
              }
              if (op.done) op.done(std::move(op.entries), op.more);
            } else if constexpr (std::is_same_v<Op, LoadClientNodesOp>) {
              if (others_ok) {
                op.done.set_value(std::move(op.members));
              } else {
                op.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("sqlite store: cannot load client memberships: " + last_error_)));
              }
            } else if constexpr (std::is_same_v<Op, LoadPushKeysOp>) {
              if (others_ok) {
                op.done.set_value(std::move(op.keys));
              } else {
                op.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("sqlite store: cannot load push keys: " + last_error_)));
              }
            } else if constexpr (std::is_same_v<Op, LoadAckedIdsOp>) {
              if (others_ok) {
                op.done.set_value(std::move(op.ids));
              } else {
                op.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("sqlite store: cannot load acked ids: " + last_error_)));
              }
            } else if constexpr (std::is_same_v<Op, LoadSessionsOp>) {
              if (others_ok) {
                op.done.set_value(std::move(op.snapshot));
              } else {
                // As for inbox states: session_seqs that cannot be read would be given again.
                op.done.set_exception(std::make_exception_ptr(
                    std::runtime_error("sqlite store: cannot load sessions: " + last_error_)));
              }
            }
          },
          operation);
    }
  }

  // Section 6: entries older than the retention go, in a transaction of
  // their own; counted, never silent.
  void expire() {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    std::uint64_t removed = 0;
    std::uint64_t log_removed = 0;
    bool ok = tables_.begin() && tables_.expire(now - limits_.retention_ms, removed) &&
              sessions_.expire(now - limits_.retention_ms, log_removed) &&
              tables_.forget_acked_ids(now - acked_id_keep_ms) && tables_.commit();
    if (!ok) {
      tables_.rollback();
      return;
    }
    dropped_retention_.fetch_add(removed, std::memory_order_relaxed);
    log_dropped_retention_.fetch_add(log_removed, std::memory_order_relaxed);
  }

  static constexpr std::int64_t acked_id_keep_ms = 10 * 60 * 1000;  // section 6's retry window
  InboxTables tables_;      // owns the connection and its transactions
  SessionTables sessions_;  // on tables_' connection
  StoreLimits limits_;
  std::string last_error_;  // of the latest failed transaction (store thread)

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Operation> queue_;  // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  bool urgent_queued_ = false;    // guarded by mutex_: the queue holds work someone waits for
  bool sleeping_ = false;         // guarded by mutex_: the thread waits for any call
  std::chrono::steady_clock::time_point queued_at_;  // guarded by mutex_: when the queue last stopped being empty
  std::function<void()> after_callbacks_;            // guarded by mutex_ (the thread copies it per batch)

  std::atomic<std::uint64_t> entries_written_{0};
  std::atomic<std::uint64_t> entries_acked_{0};
  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> queue_depth_{0};
  std::atomic<std::uint64_t> last_commit_us_{0};
  std::atomic<std::uint64_t> total_commit_us_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> dropped_inbox_max_{0};
  std::atomic<std::uint64_t> dropped_retention_{0};
  std::atomic<std::uint64_t> log_entries_written_{0};
  std::atomic<std::uint64_t> log_dropped_log_max_{0};
  std::atomic<std::uint64_t> log_dropped_retention_{0};
  std::atomic<std::uint64_t> damaged_rows_{0};

  std::thread thread_;  // last: starts once every member above exists
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, std::string& error, StoreLimits limits) {
  auto fail = [&](const std::string& reason) {
    error = "sqlite store " + path + ": " + reason;
    return nullptr;
  };
  if (path.empty()) return fail("empty path");
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return fail("cannot create folder " + parent.string() + ": " + ec.message());
  }
  std::string reason;
  sqlite::Database db;
  if (!db.open(path, reason) || !sqlite::prepare_schema(db, reason)) return fail(reason);
  InboxTables tables;
  if (!tables.open(std::move(db), limits.inbox_max, reason)) return fail(reason);
  SessionTables sessions;
  if (!sessions.open(tables.database(), reason)) return fail(reason);
  return std::make_unique<SqliteStore>(std::move(tables), std::move(sessions), limits);
}

}  // namespace allspark::store
