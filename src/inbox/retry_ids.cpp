#include "inbox/retry_ids.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace allspark::inbox {

RetryIds::RetryIds(std::size_t per_generation, std::int64_t window_ms, Keep keep)
    : per_generation_(std::max<std::size_t>(per_generation, 1)), window_ms_(window_ms), keep_(std::move(keep)) {}

bool RetryIds::live(const Entry& entry) const { return entry.track != 0 && keep_.live && keep_.live(entry.track); }

std::optional<RetryIds::Entry> RetryIds::find(std::string_view key, std::int64_t now_ms) const {
  // The newer generation first: it holds the key's latest entry.
  for (const Generation* generation : {&newer_, &older_}) {
    if (auto it = generation->ids.find(key); it != generation->ids.end()) {
      // One still being stored is a retry whatever its age.
      if (it->second.at_ms < now_ms - window_ms_ && !live(it->second)) return std::nullopt;
      return it->second;
    }
  }
  return std::nullopt;
}

std::string_view RetryIds::add(std::string_view key, Entry entry, std::int64_t now_ms) {
  if (!older_.ids.empty() && older_.newest_ms < now_ms - window_ms_) drop(older_, newer_);  // past the window
  if (newer_.ids.size() - newer_.carried >= per_generation_) {
    std::swap(newer_, older_);
    drop(newer_, older_);
  }
  newer_.newest_ms = std::max(newer_.newest_ms, entry.at_ms);
  if (auto it = newer_.ids.find(key); it != newer_.ids.end()) {
    it->second = entry;  // an entry past the window (find said so), not one being stored
    return it->first;
  }
  std::string_view text = newer_.keep_text(key);
  newer_.ids.emplace(text, entry);
  return text;
}

void RetryIds::erase(std::string_view key, std::uint64_t track) {
  for (Generation* generation : {&newer_, &older_}) {
    if (auto it = generation->ids.find(key); it != generation->ids.end() && it->second.track == track) {
      generation->ids.erase(it);
      return;
    }
  }
}

// `gone` is emptied (its arena to be reused), but for ids still being stored
// whose latest entry it holds: they move to the newer generation, and their
// owner learns the new view of their text.
void RetryIds::drop(Generation& gone, const Generation& other) {
  std::vector<std::pair<std::string, Entry>> moving;
  for (const auto& [key, entry] : gone.ids) {
    if (live(entry) && !other.ids.contains(key)) moving.emplace_back(std::string(key), entry);
  }
  gone.clear();
  for (const auto& [key, entry] : moving) {
    std::string_view text = newer_.keep_text(key);
    newer_.ids.insert_or_assign(text, entry);
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

void RetryIds::Generation::clear() {
  ids.clear();
  large.clear();
  chunk = 0;  // the chunks are filled again from the first
  used = 0;
  newest_ms = 0;
  carried = 0;
}

}  // namespace allspark::inbox
