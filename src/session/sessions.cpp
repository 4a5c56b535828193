// Messages to a session (PROTOCOL.md sections 4 and 6). The sender's shard
// checks them against its copy of the session; a message to the whole
// session goes to the session's home shard, which gives it the next
// session_seq, appends it to the log (one entry, whatever the number of
// members) and fans it out: to the members homed there at once, to every
// other shard holding members in one hand-off per batch, each of which
// delivers to its own members.
#include "session/sessions.hpp"

#include "protocol/frames.hpp"
#include "protocol/json.hpp"

namespace allspark::session {

using protocol::ErrorCode;
using protocol::Message;

Sessions::Sessions(core::Router& router, core::Offline& offline, store::Store& store, SessionsConfig config)
    : router_(router),
      offline_(offline),
      store_(store),
      config_(std::move(config)),
      shard_(router.config().shard),
      outbox_(router.config().shards),
      random_(std::random_device{}()) {
  if (!config_.post_answer) {
    config_.post_answer = [this](std::function<void()> work) {
      config_.post_to(shard_, [work = std::move(work)](Sessions&) { work(); });
    };
  }
}

Session* Sessions::find(std::string_view session_id) {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

const Session* Sessions::find(std::string_view session_id) const {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

core::Node* Sessions::local_node(std::string_view node_id) {
  return router_.home_of(node_id) == shard_ ? &router_.node_here(node_id) : nullptr;
}

void Sessions::restore(const store::SessionsSnapshot& snapshot) {
  for (const store::SessionRecord& record : snapshot.sessions) {
    sessions_[record.session_id] = std::make_unique<Session>(record, router_.config().shards);
  }
  for (const store::SessionMember& member : snapshot.members) {
    Session* session = find(member.session_id);
    if (session == nullptr) continue;
    session->add(member, local_node(member.node_id), router_.home_of(member.node_id));
    by_node_[member.node_id].push_back(member.session_id);
  }
}

void Sessions::refuse(core::Sender to, std::string_view id, ErrorCode code, std::string message) {
  router_.send_error(to, id, code, message);
}

void Sessions::to_shard(std::uint32_t shard, std::function<void(Sessions&)> work) {
  if (shard == shard_) {
    work(*this);
  } else {
    outbox_[shard].push_back(std::move(work));
  }
}

// Section 4: members only (else -5), unless the sender has the app role; a
// private message or a game member's message goes to one member's inbox path.
void Sessions::on_message(core::Connection& from, const Message& m, std::int64_t now_ms) {
  core::Sender sender{shard_, from.serial};
  Session* session = find(m.dest_session_id);
  if (session == nullptr) {
    return refuse(sender, m.id, ErrorCode::unknown_session,
                  "session \"" + std::string(m.dest_session_id) + "\" does not exist");
  }
  const Member* me = session->find(from.node->id);
  const bool app = from.role != protocol::Role::node;
  if (me == nullptr && (!app || m.type == -7)) {
    router_.reply(sender, protocol::unauthorized_frame(m.id, m.dest_session_id,
                                                       "node \"" + from.node->id + "\" is not a member of session \"" +
                                                           session->id() + "\""));
    return;
  }
  if (m.type == -7) return session_ack(from, m);
  if (m.type < 0) {
    return refuse(sender, m.id, ErrorCode::bad_field,
                  "type " + std::to_string(m.type) + " is not a message type a session accepts");
  }
  // The sender as members see it: an app may speak for a node (src_id), and
  // an anonymous member's id hides its node and client.
  std::string_view src_id = from.node->id;
  std::string_view src_client_id = from.node->client_id;
  if (app && !m.src_id.empty()) {
    src_id = m.src_id;
    const core::Node* node = router_.directory().find_node(src_id);
    src_client_id = node != nullptr ? std::string_view(node->client_id) : std::string_view();
    me = session->find(src_id);
  }
  std::string_view anonymous = me != nullptr ? std::string_view(me->anonymous_id) : std::string_view();
  if (!anonymous.empty()) {
    src_id = anonymous;
    src_client_id = {};
  }
  // Section 5: in a game session a member's message, private or not, goes to
  // the game master alone.
  if (session->is_game() && !app && from.node->id != session->record().game_master_node_id) {
    const Member* master = session->find(session->record().game_master_node_id);
    if (master == nullptr) {
      return refuse(sender, m.id, ErrorCode::no_destination, "the game master is not a member of the session");
    }
    return private_message(from, m, *master, anonymous, now_ms);
  }
  if (!m.dest_id.empty()) {
    const Member* to = session->resolve(m.dest_id);
    if (to == nullptr) {
      return refuse(sender, m.id, ErrorCode::no_destination,
                    std::string("\"").append(m.dest_id) + "\" is not a member of session \"" + session->id() + "\"");
    }
    return private_message(from, m, *to, anonymous, now_ms);
  }

  std::uint64_t track = 0;
  if (m.ack) {
    track = offline_.open_track(&from, sender, from.node->id, m.id, true, {});
    if (track == 0) return;  // a retry of a message already logged: answered
    offline_.expect(track, 1);  // the home shard reports once the entry is committed
  }
  Post post{session->id(), {}, {}, sender, track, m.ephemeral, now_ms, m.ack, {}, std::string(m.id)};
  build_tail(post.tail, src_id, src_client_id, now_ms, m);
  if (config_.notify) post.src_id = src_id;
  to_home(std::move(post));
}

void Sessions::build_tail(std::string& out, std::string_view src_id, std::string_view src_client_id,
                          std::int64_t now_ms, const Message& m) {
  protocol::append_id_field(out, "src_id", src_id);
  if (!src_client_id.empty()) {
    out += ',';
    protocol::append_id_field(out, "src_client_id", src_client_id);
  }
  out += ",\"timestamp\":";
  protocol::append_int(out, now_ms);
  for (std::string_view member : m.forwarded) {
    out += ',';
    out += member;
  }
  out += '}';
}

void Sessions::to_home(Post post) {
  const std::uint32_t home = home_of(post.session_id);
  if (home == shard_) return publish(std::move(post));
  outbox_[home].push_back([post = std::move(post)](Sessions& there) mutable { there.publish(std::move(post)); });
}

void Sessions::publish_http(core::Node& node, const Message& m, std::int64_t now_ms,
                            std::function<void(core::TrackResult)> done) {
  Session* session = find(m.dest_session_id);
  core::TrackResult refused;
  if (session == nullptr) {
    refused.error = ErrorCode::unknown_session;
    refused.error_message = "session \"" + std::string(m.dest_session_id) + "\" does not exist";
    return done(std::move(refused));
  }
  // An anonymous member is shown by its anonymous id also when an app speaks for it.
  const Member* as = session->find(node.id);
  std::string_view anonymous = as != nullptr ? std::string_view(as->anonymous_id) : std::string_view();
  core::Connection origin;  // the app, speaking for `node`; never a recipient
  origin.node = &node;
  origin.role = protocol::Role::app;
  if (!m.dest_id.empty()) {
    const Member* to = session->resolve(m.dest_id);
    if (to == nullptr) {
      refused.error = ErrorCode::no_destination;
      refused.error_message = std::string("\"").append(m.dest_id) + "\" is not a member of the session";
      return done(std::move(refused));
    }
    return private_message(origin, m, *to, anonymous, now_ms, std::move(done));
  }
  const std::string_view src_id = anonymous.empty() ? std::string_view(node.id) : anonymous;
  Post post{session->id(), {}, {}, {shard_, 0}, 0, m.ephemeral, now_ms, m.ack, std::move(done), std::string(m.id)};
  build_tail(post.tail, src_id, anonymous.empty() ? std::string_view(node.client_id) : std::string_view(), now_ms, m);
  if (config_.notify) post.src_id = src_id;
  to_home(std::move(post));
}

// Through the recipient's inbox path (section 6: -4 when it is offline),
// shown as the sender addressed it.
void Sessions::private_message(core::Connection& from, const Message& m, const Member& to,
                               std::string_view anonymous_src, std::int64_t now_ms,
                               std::function<void(core::TrackResult)> done) {
  Message copy = m;
  copy.dest_id = to.node_id;
  copy.dest_client_id = {};
  router_.route(from, copy, now_ms, std::move(done), {anonymous_src, to.anonymous_id});
}

// On the session's home shard.
void Sessions::publish(Post post) {
  Session* session = find(post.session_id);
  if (session == nullptr) {  // deleted on the way
    if (post.track != 0) router_.report(post.sender.shard, {post.track, false, 0, {}});
    if (post.done) {
      core::TrackResult refused;
      refused.error = ErrorCode::unknown_session;
      refused.error_message = "session \"" + post.session_id + "\" does not exist";
      post.done(std::move(refused));
    }
    return refuse(post.sender, post.id, ErrorCode::unknown_session, "session \"" + post.session_id + "\" does not exist");
  }
  counters_.messages.add();
  if (post.ephemeral) return fan_out(*session, post.tail, post, 0);
  const std::uint64_t seq = session->next_seq();
  store::LogEntry& entry = pending_log_.emplace_back();
  entry.session_id = session->id();
  entry.session_seq = seq;
  entry.stored_at_ms = post.now_ms;
  entry.body.reserve(post.tail.size() + 36);
  entry.body = "\"session_seq\":";
  protocol::append_int(entry.body, static_cast<std::int64_t>(seq));
  entry.body += ',';
  entry.body += post.tail;
  // Section 6: with `ack` the sender hears -7 once the entry is appended,
  // before anyone gets it; a plain message goes at once, logged behind it.
  if (post.ack) {
    pending_appends_.push_back({std::move(post), entry.body, seq});
    return;
  }
  fan_out(*session, entry.body, post, seq);
}

void Sessions::end_batch() {
  if (!pending_log_.empty()) {
    std::vector<store::LogEntry> entries;
    entries.swap(pending_log_);
    auto appends = std::make_shared<std::vector<Appending>>();
    appends->swap(pending_appends_);
    // Section 6: a plain message's entry may wait a few milliseconds for
    // company in its transaction (a crash may lose it); an `ack` waits for no one.
    const bool background = appends->empty();
    auto done = [this, appends](bool ok) {
      if (appends->empty()) return;
      config_.post_answer([this, appends, ok] { on_appended(*appends, ok); });
    };
    if (background) {
      store_.append_log_background(std::move(entries), std::move(done));
    } else {
      store_.append_log(std::move(entries), std::move(done));
    }
  }
  if (!pending_cursors_.empty()) {
    store_.move_cursors(std::move(pending_cursors_));
    pending_cursors_.clear();
  }
  for (std::uint32_t shard = 0; shard < outbox_.size(); ++shard) {
    if (outbox_[shard].empty()) continue;
    std::vector<std::function<void(Sessions&)>> work;
    work.swap(outbox_[shard]);
    config_.post_to(shard, [work = std::move(work)](Sessions& there) {
      for (const auto& step : work) step(there);
    });
  }
}

void Sessions::on_appended(std::vector<Appending>& appended, bool ok) {
  for (Appending& entry : appended) {
    if (entry.post.track != 0) router_.report(entry.post.sender.shard, {entry.post.track, ok, 0, {}});
    if (!ok) {
      if (entry.post.done) {
        core::TrackResult failed;
        failed.ok = false;
        entry.post.done(std::move(failed));
      }
      continue;
    }
    if (Session* session = find(entry.post.session_id)) fan_out(*session, entry.body, entry.post, entry.seq);
  }
}

void Sessions::fan_out(Session& session, std::string_view body, Post& post, std::uint64_t seq) {
  // Section 6: the webhook hears once of a logged message some member missed;
  // a publish is answered with every connection written to. Both need every
  // shard's part first.
  const bool gather = (config_.notify && seq != 0) || post.done;
  session.delivered(seq);
  std::vector<std::string> offline;
  const std::uint64_t delivered = deliver_local(session, body, post.sender, gather ? &offline : nullptr);
  counters_.fanned_out.add(delivered);
  const std::uint64_t gather_id = gather ? ++next_gather_ : 0;
  std::uint32_t reports = 0;
  for (std::uint32_t shard = 0; shard < outbox_.size(); ++shard) {
    if (shard == shard_ || !session.has_members_on(shard)) continue;
    ++reports;
    outbox_[shard].push_back([session_id = session.id(), body = std::string(body), except = post.sender, gather_id, seq,
                              home = shard_](Sessions& there) {
      Session* copy = there.find(session_id);
      std::vector<std::string> offline;
      std::uint64_t delivered = 0;
      if (copy != nullptr) {
        copy->delivered(seq);
        delivered = there.deliver_local(*copy, body, except, gather_id != 0 ? &offline : nullptr);
      }
      there.counters_.fanned_out.add(delivered);
      if (gather_id == 0) return;
      there.to_shard(home, [gather_id, delivered, offline = std::move(offline)](Sessions& h) mutable {
        h.gathered(gather_id, delivered, std::move(offline));
      });
    });
  }
  if (!gather) return;
  Gathered gathered{reports, session.id(), seq, std::move(post.src_id), delivered, std::move(offline),
                    std::move(post.done)};
  if (reports == 0) return finish(gathered);
  gathering_.emplace(gather_id, std::move(gathered));
}

std::uint64_t Sessions::deliver_local(Session& session, std::string_view body, core::Sender except,
                                      std::vector<std::string>* offline) {
  const core::Connection* skip = except.shard == shard_ ? router_.find(except.serial) : nullptr;
  core::Body* shared = core::Body::copy_of(body);
  std::uint64_t written = 0;
  for (core::Node* node : session.local()) {
    if (node->connections.empty()) {
      if (offline != nullptr) offline->push_back(node->id);
      continue;
    }
    written += router_.deliver(*node, skip, shared);
  }
  shared->release();
  return written;
}

void Sessions::gathered(std::uint64_t gather, std::uint64_t delivered, std::vector<std::string> offline) {
  auto it = gathering_.find(gather);
  if (it == gathering_.end()) return;
  Gathered& entry = it->second;
  entry.delivered += delivered;
  entry.offline.insert(entry.offline.end(), std::make_move_iterator(offline.begin()),
                       std::make_move_iterator(offline.end()));
  if (--entry.reports_left > 0) return;
  finish(entry);
  gathering_.erase(it);
}

// Section 6: {"session_id", "session_seq", "src_id", "offline_node_ids"?},
// the ids listed when they are at most 100.
void Sessions::finish(Gathered& gathered) {
  if (gathered.done) {
    core::TrackResult result;
    result.delivered = gathered.delivered;
    result.session_seq = gathered.seq;
    gathered.done(std::move(result));
  }
  const std::vector<std::string>& offline = gathered.offline;
  if (!config_.notify || gathered.seq == 0 || offline.empty()) return;
  const std::string& session_id = gathered.session_id;
  const std::uint64_t seq = gathered.seq;
  const std::string& src_id = gathered.src_id;
  std::string body = "{";
  protocol::append_id_field(body, "session_id", session_id);
  body += ",\"session_seq\":";
  protocol::append_int(body, static_cast<std::int64_t>(seq));
  body += ',';
  protocol::append_id_field(body, "src_id", src_id);
  if (offline.size() <= 100) {
    body += ",\"offline_node_ids\":[";
    for (std::size_t i = 0; i < offline.size(); ++i) {
      if (i > 0) body += ',';
      body += '"' + offline[i] + '"';  // ids need no escaping
    }
    body += ']';
  }
  config_.notify(body + "}");
}

// Section 6: {"type": -7, "dest_session_id", "seq"} moves the member's cursor
// on the session's home shard.
void Sessions::session_ack(core::Connection& from, const Message& m) {
  auto seq = m.seq.empty() ? std::nullopt : protocol::json_integer(m.seq);
  if (!seq || *seq < 0) {
    return refuse({shard_, from.serial}, m.id, ErrorCode::bad_field,
                  "a session ack (type -7) needs \"seq\": a non-negative integer");
  }
  std::string session_id(m.dest_session_id);
  to_shard(home_of(session_id), [session_id, node_id = from.node->id, seq = static_cast<std::uint64_t>(*seq)](
                                    Sessions& home) { home.move_cursor(session_id, node_id, seq); });
}

// Never backwards; past the newest session_seq it stops at the newest.
void Sessions::move_cursor(const std::string& session_id, const std::string& node_id, std::uint64_t seq) {
  Session* session = find(session_id);
  Member* member = session != nullptr ? session->find(node_id) : nullptr;
  if (member == nullptr) return;
  std::uint64_t cursor = std::min(seq, session->last_seq());
  if (cursor <= member->cursor) return;
  member->cursor = cursor;
  pending_cursors_.push_back({session_id, node_id, {}, cursor});
}

std::unordered_map<std::string, std::uint64_t> Sessions::replay_marks(std::string_view node_id) const {
  std::unordered_map<std::string, std::uint64_t> marks;
  auto it = by_node_.find(std::string(node_id));
  if (it == by_node_.end()) return marks;
  for (const std::string& session_id : it->second) {
    if (const Session* session = find(session_id)) marks.emplace(session_id, session->delivered_seq());
  }
  return marks;
}

Answer Sessions::acknowledge(const Caller& caller, const std::string& session_id, std::uint64_t seq) {
  if (auto refused = may_read(caller.node_id, protocol::Role::node, session_id)) {
    return {0, refused, *refused == ErrorCode::unknown_session ? "no such session" : "not a member of the session", {}};
  }
  move_cursor(session_id, caller.node_id, seq);
  return {200, std::nullopt, {}, "{}"};
}

std::optional<ErrorCode> Sessions::may_read(std::string_view node_id, protocol::Role role,
                                            std::string_view session_id) const {
  const Session* session = find(session_id);
  if (session == nullptr) return ErrorCode::unknown_session;
  if (role == protocol::Role::node && session->find(node_id) == nullptr) return ErrorCode::session_unauthorized;
  return std::nullopt;
}

}  // namespace allspark::session
