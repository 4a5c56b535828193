#include "inbox/retry_ids.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace allspark::inbox {

namespace {
constexpr std::size_t huge_page = std::size_t{2} << 20;
}

void* allocate_for_random_access(std::size_t bytes, std::size_t alignment) {
  if (bytes < huge_page) return ::operator new(bytes, std::align_val_t{alignment});
  std::size_t rounded = (bytes + huge_page - 1) & ~(huge_page - 1);
  void* memory = std::aligned_alloc(huge_page, rounded);
  if (memory == nullptr) throw std::bad_alloc();
  ::madvise(memory, rounded, MADV_HUGEPAGE);  // advice: without it (or if refused) small pages serve
  return memory;
}

void free_for_random_access(void* memory, std::size_t bytes, std::size_t alignment) {
  if (bytes < huge_page) {
    ::operator delete(memory, std::align_val_t{alignment});
  } else {
    std::free(memory);  // NOLINT(cppcoreguidelines-no-malloc): it came from aligned_alloc
  }
}

RetryIds::RetryIds(std::size_t per_generation, std::int64_t window_ms, Keep keep)
    : per_generation_(std::max<std::size_t>(per_generation, 1)),
      window_ms_(window_ms),
      keep_(std::move(keep)),
      lines_(1) {  // grown as ids come (an idle shard does not pay for a full table)
  older_.half = 1;
}

bool RetryIds::live(const Entry& entry) const { return entry.track != 0 && keep_.live && keep_.live(entry.track); }

std::optional<RetryIds::Entry> RetryIds::find(std::string_view key, std::int64_t now_ms) const {
  std::uint64_t h = hash(key);
  // The newer generation first: it holds the key's latest entry.
  for (const Generation* generation : {&newer_, &older_}) {
    if (std::uint32_t i = lookup(*generation, key, h); i != none) {
      const Entry& entry = generation->records[i].entry;
      // One still being stored is a retry whatever its age.
      if (entry.at_ms < now_ms - window_ms_ && !live(entry)) return std::nullopt;
      return entry;
    }
  }
  return std::nullopt;
}

std::string_view RetryIds::add(std::string_view key, Entry entry, std::int64_t now_ms) {
  if (older_.size != 0 && older_.newest_ms < now_ms - window_ms_) drop(older_, newer_);  // past the window
  // (Not size - carried: a carried id may since have been erased.)
  if (newer_.size >= per_generation_ + newer_.carried) {
    std::swap(newer_, older_);
    drop(newer_, older_);
  }
  newer_.newest_ms = std::max(newer_.newest_ms, entry.at_ms);
  std::uint64_t h = hash(key);
  if (std::uint32_t i = lookup(newer_, key, h); i != none) {
    newer_.records[i].entry = entry;  // an entry past the window (find said so), not one being stored
    return newer_.records[i].key;
  }
  std::string_view text = newer_.keep_text(key);
  insert(newer_, text, entry, h);
  return text;
}

void RetryIds::erase(std::string_view key, std::uint64_t track) {
  std::uint64_t h = hash(key);
  for (Generation* generation : {&newer_, &older_}) {
    if (std::uint32_t i = lookup(*generation, key, h); i != none && generation->records[i].entry.track == track) {
      generation->records[i].key = {};  // its slot stays, pointing at nothing found
      --generation->size;
      return;
    }
  }
}

// Linear probing, a line at a time: the chain of a key goes on into the
// next line only while the generation's slots in this one are all taken.
std::uint32_t RetryIds::lookup(const Generation& generation, std::string_view key, std::uint64_t hash) const {
  const std::size_t mask = lines_.size() - 1;
  for (std::size_t line = hash & mask;; line = (line + 1) & mask) {  // ends: never more than 3/4 full
    for (std::uint64_t slot : lines_[line].slots[generation.half]) {
      if (slot == 0) return none;
      if ((slot >> 32) != (hash >> 32)) continue;  // a fingerprint match is all but always the key
      std::uint32_t i = static_cast<std::uint32_t>(slot) - 1;
      const Record& record = generation.records[i];
      if (record.key.data() != nullptr && record.key == key) return i;
    }
  }
}

void RetryIds::place(const Generation& generation, std::uint64_t hash, std::uint32_t index) {
  const std::size_t mask = lines_.size() - 1;
  for (std::size_t line = hash & mask;; line = (line + 1) & mask) {
    for (std::uint64_t& slot : lines_[line].slots[generation.half]) {
      if (slot != 0) continue;
      slot = (hash & 0xffff'ffff'0000'0000) | (std::uint64_t{index} + 1);  // + 1: never 0, empty
      return;
    }
  }
}

// `text` is the key's, kept in the generation's arena; the key is not there yet.
void RetryIds::insert(Generation& generation, std::string_view text, Entry entry, std::uint64_t hash) {
  if (generation.records.size() + 1 > max_per_line * lines_.size()) {
    // Grown (or only rebuilt without erased records) to hold both generations at half load.
    std::size_t most = std::max(newer_.size, older_.size) + 1;
    rehash(std::bit_ceil(std::max<std::size_t>((most + 1) / 2, lines_.size())));
  }
  generation.records.push_back({text, entry});
  ++generation.size;
  place(generation, hash, static_cast<std::uint32_t>(generation.records.size() - 1));
}

void RetryIds::rehash(std::size_t lines) {
  lines_.assign(lines, Line{});
  for (Generation* generation : {&newer_, &older_}) {
    std::erase_if(generation->records, [](const Record& record) { return record.key.data() == nullptr; });
    for (std::size_t i = 0; i < generation->records.size(); ++i) {
      place(*generation, hash(generation->records[i].key), static_cast<std::uint32_t>(i));
    }
  }
}

// A sequential pass over the table, once per generation: no miss per id.
void RetryIds::clear(Generation& generation) {
  for (Line& line : lines_) std::ranges::fill(line.slots[generation.half], 0);
  generation.records.clear();
  generation.size = 0;
  generation.carried = 0;
  generation.newest_ms = 0;
  generation.large.clear();
  generation.chunk = 0;  // the chunks are filled again from the first
  generation.used = 0;
}

// `gone` is emptied (its arena to be reused), but for ids still being stored
// whose latest entry it holds: they move to the newer generation, and their
// owner learns the new view of their text.
void RetryIds::drop(Generation& gone, const Generation& other) {
  std::vector<std::pair<std::string, Entry>> moving;
  for (const Record& record : gone.records) {
    if (record.key.data() != nullptr && live(record.entry) && lookup(other, record.key, hash(record.key)) == none) {
      moving.emplace_back(std::string(record.key), record.entry);
    }
  }
  clear(gone);
  for (const auto& [key, entry] : moving) {
    std::string_view text = newer_.keep_text(key);
    insert(newer_, text, entry, hash(key));
    newer_.newest_ms = std::max(newer_.newest_ms, entry.at_ms);
    ++newer_.carried;
    if (keep_.moved) keep_.moved(entry.track, text);
  }
}

std::string_view RetryIds::Generation::keep_text(std::string_view key) {
  char* at = nullptr;
  if (key.size() > chunk_bytes) {  // never for valid ids (257 bytes at most); kept whole all the same
    at = large.emplace_back(std::make_unique<char[]>(key.size())).get();
  } else {
    if (chunk >= chunks.size() || used + key.size() > chunk_bytes) {
      if (chunk < chunks.size()) ++chunk;
      if (chunk == chunks.size()) chunks.push_back(std::make_unique<char[]>(chunk_bytes));
      used = 0;
    }
    at = chunks[chunk].get() + used;
    used += key.size();
  }
  std::memcpy(at, key.data(), key.size());
  return {at, key.size()};
}

}  // namespace allspark::inbox
