#pragma once
// The session layer's tests share this: one or two shards, each a real
// core::Router with its inbox::Inbox and session::Sessions, over one real
// SQLite store in a temp folder. Everything that would cross to a shard's
// thread (store answers, post_to, shard mail) goes into one queue that the
// test drains on its own thread, so a test sees the shards as the server
// does, one turn at a time.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/queued_frames.hpp"
#include "../store/sqlite_store_fixture.hpp"
#include "inbox/inbox.hpp"
#include "session/sessions.hpp"

namespace allspark::session::testing_support {

inline constexpr std::int64_t now = 1'700'000'000'000;
inline const std::string now_text = "1700000000000";

// "201 {...}" for an answer, "error:<code>" for a refusal: one string to compare.
inline std::string text_of(const Answer& answer) {
  if (answer.error) return "error:" + std::string(protocol::code_name(*answer.error));
  return std::to_string(answer.status) + " " + answer.body;
}

// A -100/-103/-104 event as the member `to` receives it (PROTOCOL.md section 5).
inline std::string event(const std::string& to, int type, const std::string& session_id, const std::string& src_id,
                         const std::string& payload = {}) {
  std::string out = R"({"dest_id":")" + to + R"(","type":)" + std::to_string(type) + R"(,"dest_session_id":")" +
                    session_id + R"(","src_id":")" + src_id + '"';
  if (!payload.empty()) out += R"(,"payload":)" + payload;
  return out + R"(,"timestamp":)" + now_text + "}";
}

using Frames = std::vector<std::string>;

class SessionsFixture : public ::testing::Test {
 protected:
  struct Shard {
    std::unique_ptr<core::Router> router;
    std::unique_ptr<inbox::Inbox> inbox;
    std::unique_ptr<Sessions> sessions;
  };

  void SetUp() override { ASSERT_FALSE(dir.path().empty()); }

  void TearDown() override {
    if (db) db->flush();  // no store answer comes after this
    {
      std::lock_guard lock(mutex);
      work.clear();
    }
    shards.clear();
    connections.clear();
    db.reset();
  }

  // `count` shards over one store; call once per test, before anything else.
  void open(std::uint32_t count = 1) {
    std::string error;
    db = store::open_sqlite_store((dir.path() / "a.db").string(), error);
    ASSERT_TRUE(db) << error;
    shards.resize(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      core::RouterConfig config;
      config.server_id = "srv";
      config.connection_prefix = "c" + std::to_string(i) + "-";
      config.shard = i;
      config.shards = count;
      config.send_mail = [this](std::uint32_t to, core::ShardMail mail) {
        post(to, [this, to, mail = std::move(mail)]() mutable { shards[to].router->receive(std::move(mail)); });
      };
      shards[i].router = std::make_unique<core::Router>(config);
      inbox::InboxConfig inbox_config;
      inbox_config.post = [this, i](std::function<void()> w) { post(i, std::move(w)); };
      inbox_config.tracks.now_ms = [] { return now; };
      inbox_config.session_access = [this, i](std::string_view node_id, protocol::Role role,
                                              std::string_view session_id) {
        return shards[i].sessions->may_read(node_id, role, session_id);
      };
      inbox_config.session_publish = [this, i](core::Node& node, const protocol::Message& m, std::int64_t now_ms,
                                               std::function<void(core::TrackResult)> done) {
        shards[i].sessions->publish_http(node, m, now_ms, std::move(done));
      };
      shards[i].inbox = std::make_unique<inbox::Inbox>(*shards[i].router, *db, inbox_config);
      shards[i].inbox->restore(db->load_inbox_states(), db->load_push_keys());
      shards[i].router->set_offline(shards[i].inbox.get());
      SessionsConfig sessions_config;
      sessions_config.post_to = [this](std::uint32_t to, std::function<void(Sessions&)> w) {
        post(to, [this, to, w = std::move(w)] { w(*shards[to].sessions); });
      };
      sessions_config.notify = [this](std::string body) { webhook.push_back(std::move(body)); };
      shards[i].sessions = std::make_unique<Sessions>(*shards[i].router, *shards[i].inbox, *db, sessions_config);
      shards[i].sessions->restore(db->load_sessions());
      shards[i].router->set_sessions(shards[i].sessions.get());
    }
  }

  // A restart: everything dropped but the store's folder, then opened again.
  void restart() {
    const auto count = static_cast<std::uint32_t>(shards.size());
    TearDown();
    webhook.clear();
    open(count);
  }

  // Called from any thread (the store's included): runs on the test's thread in drain().
  void post(std::uint32_t shard, std::function<void()> w) {
    std::lock_guard lock(mutex);
    work.emplace_back(shard, std::move(w));
  }

  // Ends every shard's batch and runs what was posted, each followed by its
  // shard's end of batch, until nothing is left. store->flush() returns once
  // every store answer called before it has been posted.
  void drain() {
    for (int round = 0; round < 100; ++round) {
      for (Shard& shard : shards) shard.router->end_batch();
      db->flush();
      std::deque<std::pair<std::uint32_t, std::function<void()>>> batch;
      {
        std::lock_guard lock(mutex);
        batch.swap(work);
      }
      if (batch.empty()) return;
      for (auto& [shard, w] : batch) {
        w();
        shards[shard].router->end_batch();
      }
    }
    FAIL() << "the shards never went quiet";
  }

  // Runs only what was posted to `target` so far (each followed by its end of
  // batch); work for other shards stays queued, in order, ahead of anything
  // this posts.
  void run_posted_to(std::uint32_t target) {
    std::deque<std::pair<std::uint32_t, std::function<void()>>> batch, others;
    {
      std::lock_guard lock(mutex);
      batch.swap(work);
    }
    for (auto& item : batch) {
      if (item.first != target) {
        others.push_back(std::move(item));
        continue;
      }
      item.second();
      shards[target].router->end_batch();
    }
    std::lock_guard lock(mutex);
    work.insert(work.begin(), std::make_move_iterator(others.begin()), std::make_move_iterator(others.end()));
  }

  // A connection of `node` on its home shard, its welcome (and any replay) taken.
  core::Connection& connect(const std::string& node, const std::string& client = {},
                            protocol::Role role = protocol::Role::node) {
    connections.push_back(std::make_unique<core::Connection>());
    core::Connection& c = *connections.back();
    router_of(node).attach(c, {node, client, role}, now);
    drain();
    Frames frames = take_queued(c);
    EXPECT_FALSE(frames.empty());
    if (!frames.empty()) {
      EXPECT_EQ(frames[0].rfind(R"({"type":-10,)", 0), 0u) << frames[0];
    }
    return c;
  }
  // Like connect, but keeps what came after the welcome (a replay).
  Frames connect_and_replay(core::Connection*& out, const std::string& node) {
    connections.push_back(std::make_unique<core::Connection>());
    out = connections.back().get();
    router_of(node).attach(*out, {node, "", protocol::Role::node}, now);
    drain();
    Frames frames = take_queued(*out);
    if (!frames.empty()) frames.erase(frames.begin());  // the welcome
    return frames;
  }
  void disconnect(core::Connection& c) { shards[c.node->home].router->detach(c); }

  // POST /v1/messages: an app speaking for `node_id`, on that node's home shard.
  core::TrackResult publish(const std::string& node_id, const std::string& text) {
    std::optional<core::TrackResult> result;
    shards[home_of(node_id)].inbox->publish(node_id, text, now,
                                            [&result](core::TrackResult r) { result = std::move(r); });
    drain();
    EXPECT_TRUE(result) << "no answer";
    return result.value_or(core::TrackResult{});
  }

  std::uint32_t home_of(std::string_view id) const { return shards[0].router->home_of(id); }
  core::Router& router_of(std::string_view node_id) { return *shards[home_of(node_id)].router; }
  Sessions& home_sessions(std::string_view session_id) { return *shards[home_of(session_id)].sessions; }

  // A message from `from`, routed by its shard, then everything it set off.
  void send(core::Connection& from, const std::string& text) {
    shards[from.node->home].router->on_message(from, text, now);
    drain();
  }
  static Frames take(core::Connection& c) { return take_queued(c); }

  // The HTTP API's calls, on the session's home shard, answered once every shard has the change.
  template <typename Call>
  Answer call(const std::string& session_id, Call&& call_it) {
    std::optional<Answer> answer;
    call_it(home_sessions(session_id), [&answer](Answer a) { answer = std::move(a); });
    drain();
    EXPECT_TRUE(answer) << "no answer";
    return answer.value_or(Answer{});
  }
  Answer create(const std::string& owner, CreateRequest request, protocol::Role role = protocol::Role::node) {
    std::string id = request.session_id;
    return call(id, [&](Sessions& s, Done done) { s.create({owner, role}, std::move(request), now, std::move(done)); });
  }
  // A plain session S (or `id`) owned by `owner`, with `members`.
  void create_session(const std::string& id, const std::string& owner, std::vector<std::string> members = {},
                      bool anyone_can_join = false, bool allow_anonymous = false) {
    CreateRequest request;
    request.session_id = id;
    request.node_ids = std::move(members);
    request.anyone_can_join = anyone_can_join;
    request.allow_anonymous = allow_anonymous;
    ASSERT_EQ(text_of(create(owner, std::move(request))), R"(201 {"session_id":")" + id + R"("})");
  }
  Answer join(const std::string& caller, const std::string& id, const std::string& node = {}, bool anonymous = false,
              protocol::Role role = protocol::Role::node) {
    return call(id, [&](Sessions& s, Done done) { s.join({caller, role}, id, node, anonymous, now, std::move(done)); });
  }
  Answer leave(const std::string& caller, const std::string& id, const std::string& node = {},
               protocol::Role role = protocol::Role::node) {
    return call(id, [&](Sessions& s, Done done) { s.leave({caller, role}, id, node, now, std::move(done)); });
  }
  Answer reveal(const std::string& caller, const std::string& id) {
    return call(id, [&](Sessions& s, Done done) { s.reveal({caller, protocol::Role::node}, id, now, std::move(done)); });
  }
  Answer remove(const std::string& caller, const std::string& id, protocol::Role role = protocol::Role::node) {
    return call(id, [&](Sessions& s, Done done) { s.remove({caller, role}, id, now, std::move(done)); });
  }
  Answer describe(const std::string& caller, const std::string& id, protocol::Role role = protocol::Role::node,
                  std::uint32_t shard = 0) {
    return shards[shard].sessions->describe({caller, role}, id);
  }

  // What the store keeps, once everything before is committed.
  store::SessionsSnapshot stored_sessions() {
    db->flush();
    return db->load_sessions();
  }
  std::optional<store::SessionMember> stored_member(const std::string& session_id, const std::string& node_id) {
    for (store::SessionMember& m : stored_sessions().members) {
      if (m.session_id == session_id && m.node_id == node_id) return m;
    }
    return std::nullopt;
  }
  std::vector<store::LogEntry> stored_log(const std::string& session_id) {
    std::vector<store::LogEntry> out;
    db->fetch_log(session_id, 0, UINT64_MAX, 1000, 1u << 20,
                  [&out](std::vector<store::LogEntry> entries, bool, std::uint64_t) { out = std::move(entries); });
    db->flush();
    return out;
  }

  // A node id homed on `shard` (ids hash to shards): `prefix` and a number.
  std::string id_on(std::uint32_t shard, const std::string& prefix) const {
    for (int i = 0;; ++i) {
      std::string id = prefix + std::to_string(i);
      if (home_of(id) == shard) return id;
    }
  }

  store::testing_support::TempDir dir;
  std::unique_ptr<store::Store> db;
  std::vector<Shard> shards;
  std::vector<std::unique_ptr<core::Connection>> connections;
  std::vector<std::string> webhook;  // the offline webhook's bodies
  std::mutex mutex;
  std::deque<std::pair<std::uint32_t, std::function<void()>>> work;
};

}  // namespace allspark::session::testing_support
