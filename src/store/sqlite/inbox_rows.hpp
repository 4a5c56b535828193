#pragma once
// How entries are packed into a row of the `inbox_row` table (schema.cpp,
// version 5): one row holds a run of one node's entries with consecutive
// seqs, committed together, so the b-tree does one insert and one delete
// per run instead of one per entry.
//
// The row's `entries` blob: the frames one after the other, then for each
// entry its stored_at_ms (8 bytes) and its frame's length (4 bytes),
// little-endian. Entry i has seq first_seq + i (a column of the row), and
// the row's `count` column says how many there are.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace allspark::store::sqlite {

// At most this many entries in a row: a fetch reads whole rows, and a long
// run (an offline node's backlog) is kept in rows of a few dozen KiB.
inline constexpr std::size_t row_entries_max = 256;

// A row's entries were stored within this span of each other, so that the
// retention, which drops whole rows once their newest entry is past it,
// keeps no entry much longer than asked (its sweep runs each second at best).
inline constexpr std::int64_t row_span_ms = 1000;

// Builds one row's blob; reused from row to row (keeps its capacity).
class RowBuilder {
 public:
  void clear();
  void add(std::int64_t stored_at_ms, std::string_view frame);
  std::size_t count() const { return heads_.size() / head_bytes; }
  std::int64_t newest_ms() const { return newest_ms_; }
  // The blob; the builder must be cleared before the next add().
  std::string_view finish();

  static constexpr std::size_t head_bytes = 12;

 private:
  std::string heads_;
  std::string blob_;  // the frames, then the heads once finished
  std::int64_t newest_ms_ = 0;
};

// Reads a row's entries in order. valid() is false when the blob does not
// hold `count` entries (a damaged file): nothing is read from it then.
class RowReader {
 public:
  RowReader(std::string_view blob, std::int64_t count);
  bool valid() const { return valid_; }
  std::size_t count() const { return count_; }
  // The next entry; false after the last one.
  bool next(std::int64_t& stored_at_ms, std::string_view& frame);

 private:
  std::string_view blob_;
  std::size_t count_ = 0;
  std::size_t heads_at_ = 0;  // where the heads start (the frames' total size)
  std::size_t read_ = 0;      // entries read
  std::size_t frame_at_ = 0;  // where the next entry's frame starts
  bool valid_ = false;
};

}  // namespace allspark::store::sqlite
