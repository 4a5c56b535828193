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

#include "store/sqlite/database.hpp"

namespace allspark::store::sqlite {

// What one row may hold. A fetch reads whole rows, so a long run (an
// offline node's backlog) is cut into rows of a few dozen KiB; and the
// retention, which drops whole rows once their newest entry is past it,
// keeps no entry much longer than asked (its sweep runs each second at best).
inline constexpr std::size_t row_entries_max = 256;
inline constexpr std::size_t row_bytes_max = 64 * 1024;  // of frames; a larger frame is a row alone
inline constexpr std::int64_t row_span_ms = 1000;        // between its oldest and newest entry

// Builds one row's blob; reused from row to row (keeps its capacity).
class RowBuilder {
 public:
  void clear();
  // Whether the row, within the limits above, takes one more entry (the
  // next seq of the same node: the caller's to check). An empty row takes any.
  bool takes(std::int64_t stored_at_ms, std::size_t frame_bytes) const;
  void add(std::int64_t stored_at_ms, std::string_view frame);
  std::size_t count() const { return heads_.size() / head_bytes; }
  std::int64_t newest_ms() const { return newest_ms_; }
  // The blob; the builder must be cleared before the next add().
  std::string_view finish();

  static constexpr std::size_t head_bytes = 12;

 private:
  std::string heads_;
  std::string blob_;  // the frames, then the heads once finished
  std::int64_t oldest_ms_ = 0;
  std::int64_t newest_ms_ = 0;
};

// The statement a RowWriter writes rows with (prepared by its owner).
inline constexpr const char* insert_row_sql =
    "INSERT INTO inbox_row (node_id, last_seq, first_seq, count, newest_ms, entries) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

// Writes entries, given in order (by node, then seq), as rows: a row ends
// where the node changes, a seq is not the next one, or the row is full.
// Used by the store and by the conversion of version 4's inbox.
class RowWriter {
 public:
  // `insert` is insert_row_sql; false when a row could not be written.
  bool add(Statement& insert, std::string_view node_id, std::uint64_t seq, std::int64_t stored_at_ms,
           std::string_view frame);
  // Writes the row under way, if any.
  bool flush(Statement& insert);

 private:
  RowBuilder row_;
  std::string node_id_;
  std::uint64_t first_seq_ = 0;
  std::uint64_t last_seq_ = 0;
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
