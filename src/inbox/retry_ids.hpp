#pragma once
// The ids of `ack` messages a shard answered -7 (or is storing), by
// "<node_id> <id>", so that a retry within the window is answered without
// being stored again (PROTOCOL.md section 6). Owned by the shard's thread.
//
// Two generations, each with its own records and arena of key text: ids go
// into the newer one; once it holds `per_generation` ids, the older
// generation is dropped whole and the newer one becomes the older (the
// older one also goes once all of it is past the window). So at least the
// newest `per_generation` ids (and at most twice as many) are remembered,
// and nothing is done per id to forget it. An id still being stored is
// never forgotten, whatever its age: it moves to the newer generation (not
// counted there), and its owner is told its new view.
//
// At a high ack rate none of this fits in the cache, and nearly every id is
// new, so what counts is the misses of a new id. Both generations share one
// open-addressing table whose 64-byte lines hold 4 slots of each, so the
// line a key hashes to answers for both in one miss, and `add` writes its
// slot into that line, already cached. A slot is 8 bytes, a fingerprint of
// the key's hash and the index of its record; records and key text are
// appended in order, so their writes do not miss. Two flat maps cost three
// misses per new id (bench/micro/retry_ids_bench.cpp).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allspark::inbox {

// Memory for a table that is read at random: from 2 MB up it is given in
// 2 MB pages where the kernel allows it (madvise, MADV_HUGEPAGE), so a lookup
// costs its cache miss and not also a TLB miss and a page walk. Such a block
// is 2 MB-aligned and its size rounded up to whole 2 MB; a smaller one has
// `alignment` (at most 2 MB).
void* allocate_for_random_access(std::size_t bytes, std::size_t alignment);
void free_for_random_access(void* memory, std::size_t bytes, std::size_t alignment);

template <typename T>
struct RandomAccessAllocator {
  using value_type = T;
  RandomAccessAllocator() = default;
  template <typename U>
  RandomAccessAllocator(const RandomAccessAllocator<U>&) {}  // NOLINT(google-explicit-constructor): rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_for_random_access(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) { free_for_random_access(p, n * sizeof(T), alignof(T)); }
};
template <typename T, typename U>
bool operator==(const RandomAccessAllocator<T>&, const RandomAccessAllocator<U>&) {
  return true;  // stateless: any one frees what another gave
}

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
  std::size_t size() const { return newer_.size + older_.size; }

  // The hash a key is filed by: its low bits pick the line, its high 32 bits
  // are the fingerprint. Public for the tests, which look for collisions.
  static std::uint64_t hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  std::size_t lines() const { return lines_.size(); }

 private:
  static constexpr std::size_t chunk_bytes = 64 * 1024;  // ids are at most a few hundred bytes
  static constexpr std::size_t slots_per_line = 4;       // of each generation
  static constexpr std::size_t max_per_line = 3;         // grown beyond (load 3/4); sized for 2 (1/2)

  struct Record {
    std::string_view key;  // in the generation's arena; null once erased
    Entry entry;
  };
  // A slot: the fingerprint (the hash's high 32 bits) above the record's
  // index; 0 is empty. Slots are never emptied one by one (an erased record
  // keeps its slot), so a lookup stops at the first empty slot of its chain.
  struct alignas(64) Line {
    std::uint64_t slots[2][slots_per_line] = {};  // by Generation::half
  };
  static_assert(sizeof(Line) == 64, "one cache line answers for both generations");
  struct Generation {
    int half = 0;                  // its slots in each line
    std::vector<Record> records;   // by slot index, in the order added
    std::size_t size = 0;          // records not erased
    std::size_t carried = 0;       // ids still being stored, moved here from a dropped generation
    std::int64_t newest_ms = 0;
    std::vector<std::unique_ptr<char[]>> chunks;  // the keys' text, kept across clears
    std::size_t chunk = 0;                        // the one being filled (if any)
    std::size_t used = 0;                         // bytes used in it
    std::vector<std::unique_ptr<char[]>> large;   // keys longer than a chunk
    std::string_view keep_text(std::string_view key);
  };

  static constexpr std::uint32_t none = ~std::uint32_t{0};
  // The index of `key`'s record in `generation`, or `none`.
  std::uint32_t lookup(const Generation& generation, std::string_view key, std::uint64_t hash) const;
  void insert(Generation& generation, std::string_view text, Entry entry, std::uint64_t hash);
  void place(const Generation& generation, std::uint64_t hash, std::uint32_t index);
  void rehash(std::size_t lines);
  void clear(Generation& generation);
  bool live(const Entry& entry) const;
  void drop(Generation& gone, const Generation& other);

  std::size_t per_generation_;
  std::int64_t window_ms_;
  Keep keep_;
  std::vector<Line, RandomAccessAllocator<Line>> lines_;  // a power of two of them
  Generation newer_;
  Generation older_;
};

}  // namespace allspark::inbox
