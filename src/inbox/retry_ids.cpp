#include "inbox/retry_ids.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace allspark::inbox {

RetryIds::RetryIds(std::size_t per_generation, std::int64_t window_ms, Keep keep)
    : per_generation_(std::max<std::size_t>(per_generation, 1)), window_ms_(window_ms), keep_(std::move(keep)) {}

std::optional<RetryIds::Entry> RetryIds::find(std::string_view key, std::int64_t now_ms) const {
  // The newer generation first: it holds the key's latest entry.
  for (const Generation* generation : {&newer_, &older_}) {
    if (auto it = generation->ids.find(key); it != generation->ids.end()) {
      if (it->second.at_ms < now_ms - window_ms_) return std::nullopt;
      return it->second;
    }
  }
  return std::nullopt;
}

std::string_view RetryIds::add(std::string_view key, Entry entry, std::int64_t now_ms) {
  if (!older_.ids.empty() && older_.newest_ms < now_ms - window_ms_) older_.clear();  // all past the window
  if (newer_.ids.size() >= per_generation_) rotate();
  if (auto it = newer_.ids.find(key); it != newer_.ids.end()) {
    it->second = entry;
    newer_.newest_ms = std::max(newer_.newest_ms, entry.at_ms);
    return it->first;
  }
  std::string_view text = newer_.keep_text(key);
  newer_.ids.emplace(text, entry);
  newer_.newest_ms = std::max(newer_.newest_ms, entry.at_ms);
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

// The older generation goes, but for ids still being stored, which move to
// the new one; the newer becomes the older.
void RetryIds::rotate() {
  std::swap(newer_, older_);
  Generation& dropped = newer_;  // now the one to fill
  std::vector<std::pair<std::string_view, Entry>> live;
  if (keep_.live) {
    for (const auto& [key, entry] : dropped.ids) {
      // A key in the newer generation too has its latest entry there.
      if (entry.track != 0 && keep_.live(entry.track) && !older_.ids.contains(key)) live.emplace_back(key, entry);
    }
  }
  // The live keys' text is copied out before the arena is reused.
  std::vector<std::string> texts;
  texts.reserve(live.size());
  for (const auto& [key, entry] : live) texts.emplace_back(key);
  dropped.clear();
  for (std::size_t i = 0; i < live.size(); ++i) {
    std::string_view text = dropped.keep_text(texts[i]);
    dropped.ids.emplace(text, live[i].second);
    dropped.newest_ms = std::max(dropped.newest_ms, live[i].second.at_ms);
    if (keep_.moved) keep_.moved(live[i].second.track, text);
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
}

}  // namespace allspark::inbox
