#pragma once
// The ids of `ack` messages a shard answered -7 (or is storing), by
// "<node_id> <id>", so that a retry within the window is answered without
// being stored again (PROTOCOL.md section 6). Owned by the shard's thread.
//
// Two generations, each an open-addressing table whose keys are views of its
// own arena: ids go into the newer one; once it holds `per_generation` ids,
// the older generation is dropped whole and the newer one becomes the older
// (the older one also goes once all of it is past the window). So at least
// the newest `per_generation` ids (and at most twice as many) are
// remembered, and nothing is done per id to forget it. An id still being
// stored is never forgotten, whatever its age: it moves to the newer
// generation (not counted there), and its owner is told its new view. At a high ack rate the
// tables do not fit in the cache and each lookup costs a miss or two: one id
// forgotten at a time (a FIFO plus an erase) cost three more per message,
// 7% of the server's CPU in `ack` (bench/README.md).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

namespace allspark::inbox {

class RetryIds {
 public:
  struct Entry {
    std::int64_t at_ms = 0;   // when the message was sent
    std::uint64_t track = 0;  // its track, while it may still be stored; 0 when restored
  };
  // Asked, when a generation is dropped, for each of its entries: is this
  // track still being stored? Such an entry moves to the newer generation
  // (an id being stored is never forgotten) and `moved` gets its new view.
  struct Keep {
    std::function<bool(std::uint64_t track)> live;
    std::function<void(std::uint64_t track, std::string_view key)> moved;
  };

  RetryIds(std::size_t per_generation, std::int64_t window_ms, Keep keep);

  // The entry of `key` remembered within the window at `now_ms`.
  std::optional<Entry> find(std::string_view key, std::int64_t now_ms) const;
  // Remembers `key` (replacing what it had); returns the view of its text
  // kept here, valid while it is remembered (or until `moved`).
  std::string_view add(std::string_view key, Entry entry, std::int64_t now_ms);
  // Forgets `key` if its entry is that of `track`.
  void erase(std::string_view key, std::uint64_t track);
  std::size_t size() const { return newer_.ids.size() + older_.ids.size(); }

 private:
  static constexpr std::size_t chunk_bytes = 64 * 1024;  // ids are at most a few hundred bytes
  struct Generation {
    boost::unordered_flat_map<std::string_view, Entry> ids;
    std::vector<std::unique_ptr<char[]>> chunks;  // the keys' text, kept across clears
    std::size_t chunk = 0;                        // the one being filled (if any)
    std::size_t used = 0;                         // bytes used in it
    std::vector<std::unique_ptr<char[]>> large;   // keys longer than a chunk
    std::int64_t newest_ms = 0;
    std::size_t carried = 0;  // ids still being stored, moved here from a dropped generation
    std::string_view keep_text(std::string_view key);
    void clear();
  };
  bool live(const Entry& entry) const;
  void drop(Generation& gone, const Generation& other);

  std::size_t per_generation_;
  std::int64_t window_ms_;
  Keep keep_;
  Generation newer_;
  Generation older_;
};

}  // namespace allspark::inbox
