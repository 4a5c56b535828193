#pragma once
// What the router hands to the durable side of delivery (src/inbox): messages
// for nodes with no live connection, messages sent with `ack`, new
// connections that may have a backlog, acknowledgements, and the tracks that
// tell a sender once every copy is stored. A cold boundary (offline
// recipients, acks, connects), so a virtual interface; the live path of a
// plain message never calls it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/body.hpp"
#include "core/shard_mail.hpp"
#include "protocol/message.hpp"

namespace allspark::core {

struct Connection;
struct Node;

// Where -4 and errors go: a connection, maybe on another shard.
struct Sender {
  std::uint32_t shard = 0;
  std::uint64_t serial = 0;
};

// How one recipient's copy is kept (PROTOCOL.md section 6).
struct KeepRequest {
  Sender sender;
  std::string_view id;      // the message id, for -4 and errors
  std::string_view src_id;  // the sender as the recipient sees it
  bool ephemeral = false;
  bool ack = false;         // stored also for a live node, which gets the stored copy
  std::uint64_t track = 0;  // the sender shard's track (ack or a server publish); 0: none
  std::string_view dest_alias;  // the recipient as the sender named it (its anonymous id), for -4
};

// What a server publish (POST /v1/messages) is answered with, or an ack's end.
struct TrackResult {
  bool ok = true;                   // false: some copy could not be stored
  bool duplicate = false;           // a retry of an id already acknowledged
  std::uint64_t delivered = 0;      // live connections written to
  std::vector<StoredCopy> stored;   // every copy kept in an inbox
  std::uint64_t session_seq = 0;    // a message to a whole session: its place in the log
  std::optional<protocol::ErrorCode> error;  // a publish that could not be routed
  std::string error_message;
};

class Offline {
 public:
  virtual ~Offline() = default;
  // A copy for `node`, homed on this shard: it has no live connection, or the
  // message has `ack`.
  virtual void keep(Node& node, const KeepRequest& request, const Body& body, std::int64_t now_ms) = 0;
  // The end of one tracked message's recipients on this shard, `delivered`
  // being the live connections written to: the track hears once its copies
  // here are stored.
  virtual void end_delivery(Sender sender, std::uint64_t track, std::uint64_t delivered) = 0;

  // On the sender's shard: a message with `ack` (or a server publish, `done`
  // set) from `from` (null for a publish) is about to be routed. Returns its
  // track, or 0 when it is a retry of an id already acknowledged (answered).
  virtual std::uint64_t open_track(Connection* from, Sender sender, std::string_view node_id, std::string_view id,
                                   bool ack, std::function<void(TrackResult)> done) = 0;
  // Every copy went to `shards` shards, each of which reports once.
  virtual void expect(std::uint64_t track, std::uint32_t shards) = 0;
  virtual void on_report(const TrackReport& report) = 0;
  // A message from a connection with acks in flight: true when it must wait
  // (it was copied and comes back through Router::on_message later).
  virtual bool hold(Connection& from, std::string_view text, const protocol::Message& message) = 0;

  // After the welcome: queue what the node has not acknowledged.
  virtual void on_attach(Connection& connection) = 0;
  virtual void on_detach(Connection& connection) = 0;
  // A {"type": -7, ...} from the connection's node.
  virtual void acknowledge(Connection& connection, const protocol::Message& message) = 0;
  // A {"type": -101, ...} config request (fetch_inbox) from the connection.
  virtual void request(Connection& connection, const protocol::Message& message) = 0;
  // The connection's send queue was written out (a paced replay goes on).
  virtual void on_drained(Connection& connection) = 0;
  // A node connected with a client_id for the first time.
  virtual void remember_client_node(std::string_view client_id, std::string_view node_id) = 0;
  // End of a batch: what was kept goes to the store in one call.
  virtual void end_batch() = 0;
};

// Messages naming dest_session_id (acks included) go to the session layer (src/session).
class SessionHook {
 public:
  virtual ~SessionHook() = default;
  virtual void on_message(Connection& from, const protocol::Message& message, std::int64_t now_ms) = 0;
  virtual void end_batch() = 0;  // before the inbox's: private messages are kept there
};

}  // namespace allspark::core
