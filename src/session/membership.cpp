// Membership changes (PROTOCOL.md section 5). The session's home shard
// decides a change; once the store has it, the home shard applies it, then
// every other shard, in the same order, and only then is the HTTP call
// answered: a node that left cannot send one more message. Later changes of
// the same session wait meanwhile, so each is decided on the state before
// it. Each shard announces a change (-100, -103, -104) to the members homed
// there.
#include <algorithm>
#include <atomic>

#include "protocol/frames.hpp"
#include "session/sessions.hpp"

namespace allspark::session {

using protocol::ErrorCode;

struct Sessions::Change {
  enum class Kind { create, join, leave, reveal, remove } kind = Kind::create;
  std::string session_id;
  store::SessionRecord record;                // create
  std::vector<store::SessionMember> members;  // create: the first members; join: the new one
  std::string node_id;                        // leave, reveal
  std::string anonymous_id;                   // reveal: the id it replaces
  std::int64_t now_ms = 0;
};

namespace {

Answer refused(ErrorCode code, std::string message) { return {0, code, std::move(message), {}}; }

Answer ok_answer(std::string body, int status = 200) { return {status, std::nullopt, {}, std::move(body)}; }

std::string membership_body(const std::string& session_id, const std::string& node_id,
                            const std::string& anonymous_id) {
  std::string out = "{";
  protocol::append_id_field(out, "session_id", session_id);
  out += ',';
  protocol::append_id_field(out, "node_id", node_id);
  if (!anonymous_id.empty()) {
    out += ',';
    protocol::append_id_field(out, "anonymous_id", anonymous_id);
  }
  return out + "}";
}

bool may_manage(const Caller& caller, const Session& session) {
  return caller.is_app() || caller.node_id == session.record().owner_id;
}

}  // namespace

std::string Sessions::new_anonymous_id(const Session& session) {
  for (;;) {
    std::string id = random_id("anon-", random_);
    if (!session.anonymous_id_taken(id) && session.find(id) == nullptr) return id;
  }
}

// The HTTP API names the session (it needs the id to find the home shard);
// a call without one gets one here.
void Sessions::create(const Caller& caller, CreateRequest request, std::int64_t now_ms, Done done) {
  if (request.session_id.empty()) request.session_id = random_id("s-", random_);
  std::string id = request.session_id;
  if (park(id, [this, caller, request, now_ms, done]() mutable { create(caller, std::move(request), now_ms, done); })) {
    return;
  }
  if (find(request.session_id) != nullptr) {
    return done(refused(ErrorCode::conflict, "session \"" + request.session_id + "\" already exists"));
  }
  if (request.anonymous && !request.allow_anonymous) {
    return done(refused(ErrorCode::forbidden, "an anonymous creator needs \"allow_anonymous\": true"));
  }
  auto change = std::make_shared<Change>();
  change->kind = Change::Kind::create;
  change->session_id = request.session_id;
  change->now_ms = now_ms;
  store::SessionRecord& record = change->record;
  record.session_id = request.session_id;
  record.session_type = request.session_type;
  record.owner_id = caller.node_id;
  record.game_master_node_id = request.game_master_node_id.empty() ? caller.node_id : request.game_master_node_id;
  record.anyone_can_join = request.anyone_can_join;
  record.allow_anonymous = request.allow_anonymous;
  record.description = request.description;
  // The owner, the game master and node_ids, each once.
  Session scratch(record, 1);
  auto add = [&](const std::string& node_id, bool anonymous) {
    if (std::any_of(change->members.begin(), change->members.end(),
                    [&](const store::SessionMember& m) { return m.node_id == node_id; })) {
      return;
    }
    store::SessionMember member{record.session_id, node_id, anonymous ? new_anonymous_id(scratch) : "", 0};
    scratch.add(member, nullptr, 0);
    change->members.push_back(std::move(member));
  };
  add(caller.node_id, request.anonymous);
  add(record.game_master_node_id, false);
  for (const std::string& node_id : request.node_ids) add(node_id, false);
  parked_[change->session_id];  // in flight: later changes of this session wait for it
  std::string body = "{";
  protocol::append_id_field(body, "session_id", record.session_id);
  Answer answer = ok_answer(body + "}", 201);
  store_.create_session(record, change->members, [this, change, answer, done](bool ok) {
    config_.post_answer([this, change, answer, done, ok] { commit(change, answer, done, ok); });
  });
}

void Sessions::join(const Caller& caller, const std::string& session_id, std::string node_id, bool anonymous,
                    std::int64_t now_ms, Done done) {
  if (park(session_id, [=, this] { join(caller, session_id, node_id, anonymous, now_ms, done); })) return;
  Session* session = find(session_id);
  if (session == nullptr) return done(refused(ErrorCode::unknown_session, "no such session"));
  if (node_id.empty()) node_id = caller.node_id;
  const bool itself = node_id == caller.node_id;
  if (!may_manage(caller, *session) && !(itself && session->record().anyone_can_join)) {
    return done(refused(ErrorCode::forbidden, itself ? "this session is not open to anyone: the owner adds members"
                                                     : "only the owner or an app adds other nodes"));
  }
  if (anonymous && !session->record().allow_anonymous) {
    return done(refused(ErrorCode::forbidden, "this session does not allow anonymous members"));
  }
  if (const Member* member = session->find(node_id)) {  // already in: nothing changes
    return done(ok_answer(membership_body(session_id, node_id, member->anonymous_id)));
  }
  auto change = std::make_shared<Change>();
  change->kind = Change::Kind::join;
  change->session_id = session_id;
  change->now_ms = now_ms;
  // Section 6: a node that joins starts at the log's end.
  change->members.push_back(
      {session_id, node_id, anonymous ? new_anonymous_id(*session) : "", session->last_seq()});
  parked_[change->session_id];  // in flight: later changes of this session wait for it
  Answer answer = ok_answer(membership_body(session_id, node_id, change->members[0].anonymous_id));
  store_.put_member(change->members[0], [this, change, answer, done](bool ok) {
    config_.post_answer([this, change, answer, done, ok] { commit(change, answer, done, ok); });
  });
}

void Sessions::leave(const Caller& caller, const std::string& session_id, std::string node_id, std::int64_t now_ms,
                     Done done) {
  if (park(session_id, [=, this] { leave(caller, session_id, node_id, now_ms, done); })) return;
  Session* session = find(session_id);
  if (session == nullptr) return done(refused(ErrorCode::unknown_session, "no such session"));
  if (node_id.empty()) node_id = caller.node_id;
  if (node_id != caller.node_id && !may_manage(caller, *session)) {
    return done(refused(ErrorCode::forbidden, "only the owner or an app removes other nodes"));
  }
  if (session->find(node_id) == nullptr) {
    return done(refused(ErrorCode::session_unauthorized, "\"" + node_id + "\" is not a member of the session"));
  }
  auto change = std::make_shared<Change>();
  change->kind = Change::Kind::leave;
  change->session_id = session_id;
  change->node_id = node_id;
  change->now_ms = now_ms;
  parked_[change->session_id];  // in flight: later changes of this session wait for it
  Answer answer = ok_answer(membership_body(session_id, node_id, {}));
  store_.remove_member(session_id, node_id, [this, change, answer, done](bool ok) {
    config_.post_answer([this, change, answer, done, ok] { commit(change, answer, done, ok); });
  });
}

void Sessions::reveal(const Caller& caller, const std::string& session_id, std::int64_t now_ms, Done done) {
  if (park(session_id, [=, this] { reveal(caller, session_id, now_ms, done); })) return;
  Session* session = find(session_id);
  if (session == nullptr) return done(refused(ErrorCode::unknown_session, "no such session"));
  Member* member = session->find(caller.node_id);
  if (member == nullptr) {
    return done(refused(ErrorCode::session_unauthorized, "\"" + caller.node_id + "\" is not a member of the session"));
  }
  Answer answer = ok_answer(membership_body(session_id, caller.node_id, {}));
  if (member->anonymous_id.empty()) return done(answer);  // nothing to reveal
  auto change = std::make_shared<Change>();
  change->kind = Change::Kind::reveal;
  change->session_id = session_id;
  change->node_id = caller.node_id;
  change->anonymous_id = member->anonymous_id;
  change->now_ms = now_ms;
  store::SessionMember stored{session_id, caller.node_id, {}, member->cursor};
  parked_[change->session_id];  // in flight: later changes of this session wait for it
  store_.put_member(std::move(stored), [this, change, answer, done](bool ok) {
    config_.post_answer([this, change, answer, done, ok] { commit(change, answer, done, ok); });
  });
}

void Sessions::remove(const Caller& caller, const std::string& session_id, std::int64_t now_ms, Done done) {
  if (park(session_id, [=, this] { remove(caller, session_id, now_ms, done); })) return;
  Session* session = find(session_id);
  if (session == nullptr) return done(refused(ErrorCode::unknown_session, "no such session"));
  if (!may_manage(caller, *session)) return done(refused(ErrorCode::forbidden, "only the owner or an app deletes a session"));
  auto change = std::make_shared<Change>();
  change->kind = Change::Kind::remove;
  change->session_id = session_id;
  change->now_ms = now_ms;
  parked_[change->session_id];  // in flight: later changes of this session wait for it
  std::string body = "{";
  protocol::append_id_field(body, "session_id", session_id);
  Answer answer = ok_answer(body + "}");
  store_.delete_session(session_id, [this, change, answer, done](bool ok) {
    config_.post_answer([this, change, answer, done, ok] { commit(change, answer, done, ok); });
  });
}

// On the home shard once the store has the change: every other shard applies
// it, the last one answers.
// On the home shard once the store has the change: it applies here, then on
// every other shard, the last one answers; then the next change of the
// session that waited goes. A change the store could not keep is applied
// nowhere.
void Sessions::commit(std::shared_ptr<const Change> change, Answer answer, Done done, bool ok) {
  const std::uint32_t shards = static_cast<std::uint32_t>(outbox_.size());
  if (!ok) {
    done(refused(ErrorCode::unavailable, "the store could not keep the change: retry"));
  } else {
    apply(*change);
    if (shards == 1) {
      done(std::move(answer));
    } else {
      auto left = std::make_shared<std::atomic<std::uint32_t>>(shards - 1);
      for (std::uint32_t shard = 0; shard < shards; ++shard) {
        if (shard == shard_) continue;
        config_.post_to(shard, [change, answer, done, left](Sessions& there) {
          there.apply(*change);
          if (left->fetch_sub(1) == 1) done(answer);
        });
      }
    }
  }
  auto it = parked_.find(change->session_id);
  if (it == parked_.end()) return;
  std::vector<std::function<void()>> waiting = std::move(it->second);
  parked_.erase(it);
  for (auto& step : waiting) step();  // each may start a change, and the rest wait again
}

bool Sessions::park(const std::string& session_id, std::function<void()> step) {
  auto it = parked_.find(session_id);
  if (it == parked_.end()) return false;
  it->second.push_back(std::move(step));
  return true;
}

void Sessions::apply(const Change& change) {
  using Kind = Change::Kind;
  if (change.kind == Kind::create) {
    auto session = std::make_unique<Session>(change.record, router_.config().shards);
    for (const store::SessionMember& member : change.members) {
      session->add(member, local_node(member.node_id), router_.home_of(member.node_id));
      by_node_[member.node_id].push_back(change.session_id);
    }
    sessions_[change.session_id] = std::move(session);
    return;  // creating a session announces nothing
  }
  Session* session = find(change.session_id);
  if (session == nullptr) return;
  auto forget = [this, &change](const std::string& node_id) {
    auto it = by_node_.find(node_id);
    if (it == by_node_.end()) return;
    std::erase(it->second, change.session_id);
    if (it->second.empty()) by_node_.erase(it);
  };
  switch (change.kind) {
    case Kind::join: {
      const store::SessionMember& member = change.members[0];
      session->add(member, local_node(member.node_id), router_.home_of(member.node_id));
      by_node_[member.node_id].push_back(change.session_id);
      // -100 to every member, the new one included.
      announce(*session, -100, member.anonymous_id.empty() ? member.node_id : member.anonymous_id, {}, change.now_ms);
      break;
    }
    case Kind::leave: {
      // -103 to the remaining members and the node that left.
      announce(*session, -103, session->visible(change.node_id), {}, change.now_ms);
      session->remove(change.node_id, router_.home_of(change.node_id));
      forget(change.node_id);
      break;
    }
    case Kind::reveal: {
      if (Member* member = session->find(change.node_id)) session->reveal(*member);
      std::string payload = "{";
      protocol::append_id_field(payload, "anonymous_id", change.anonymous_id);
      announce(*session, -104, change.node_id, payload + "}", change.now_ms);
      break;
    }
    case Kind::remove: {
      // Each member gets one -103 whose src_id is itself.
      for (const auto& [node_id, member] : session->members()) {
        if (member.local != nullptr) announce_to(*session, *member.local, member.visible_id(), change.now_ms);
        forget(node_id);
      }
      session->release_local();
      sessions_.erase(change.session_id);
      break;
    }
    case Kind::create: break;
  }
}

namespace {

// `"type":T,"dest_session_id":"S","src_id":"X","payload"?:P,"timestamp":MS}`:
// the body after a member's head.
std::string event_body(std::int64_t type, const std::string& session_id, std::string_view src_id,
                       std::string_view payload, std::int64_t now_ms) {
  std::string out = "\"type\":";
  protocol::append_int(out, type);
  out += ',';
  protocol::append_id_field(out, "dest_session_id", session_id);
  out += ',';
  protocol::append_id_field(out, "src_id", src_id);
  if (!payload.empty()) {
    out += ",\"payload\":";
    out += payload;
  }
  out += ",\"timestamp\":";
  protocol::append_int(out, now_ms);
  return out + "}";
}

}  // namespace

// Events are live only: never stored, no seq (section 5).
void Sessions::announce(Session& session, std::int64_t type, std::string_view src_id, std::string_view payload,
                        std::int64_t now_ms) {
  core::Body* body = core::Body::copy_of(event_body(type, session.id(), src_id, payload, now_ms));
  for (core::Node* node : session.local()) router_.deliver(*node, nullptr, body);
  body->release();
}

void Sessions::announce_to(Session& session, core::Node& node, std::string_view src_id, std::int64_t now_ms) {
  core::Body* body = core::Body::copy_of(event_body(-103, session.id(), src_id, {}, now_ms));
  router_.deliver(node, nullptr, body);
  body->release();
}

Answer Sessions::describe(const Caller& caller, const std::string& session_id) const {
  const Session* session = find(session_id);
  if (session == nullptr) return refused(ErrorCode::unknown_session, "no such session");
  if (!caller.is_app() && session->find(caller.node_id) == nullptr) {
    return refused(ErrorCode::session_unauthorized, "only members and apps may read a session");
  }
  return ok_answer(session->describe());
}

Answer Sessions::list(const Caller& caller, const std::string& node_id) const {
  if (node_id != caller.node_id && !caller.is_app()) {
    return refused(ErrorCode::forbidden, "a node lists its own sessions; an app lists anyone's");
  }
  std::vector<std::string> ids;
  if (auto it = by_node_.find(node_id); it != by_node_.end()) ids = it->second;
  std::sort(ids.begin(), ids.end());
  std::string body = "{\"sessions\":[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) body += ',';
    body += '"' + ids[i] + '"';  // ids need no escaping
  }
  return ok_answer(body + "]}");
}

}  // namespace allspark::session
