#include "store/sqlite/inbox_rows.hpp"

#include <algorithm>

namespace allspark::store::sqlite {

namespace {
void put(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

std::uint64_t get(std::string_view in, std::size_t at, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return value;
}
}  // namespace

void RowBuilder::clear() {
  heads_.clear();
  blob_.clear();
  oldest_ms_ = 0;
  newest_ms_ = 0;
}

bool RowBuilder::takes(std::int64_t stored_at_ms, std::size_t frame_bytes) const {
  if (count() == 0) return true;
  return count() < row_entries_max && blob_.size() + frame_bytes <= row_bytes_max &&
         std::max(newest_ms_, stored_at_ms) - std::min(oldest_ms_, stored_at_ms) <= row_span_ms;
}

void RowBuilder::add(std::int64_t stored_at_ms, std::string_view frame) {
  oldest_ms_ = count() == 0 ? stored_at_ms : std::min(oldest_ms_, stored_at_ms);
  newest_ms_ = count() == 0 ? stored_at_ms : std::max(newest_ms_, stored_at_ms);
  put(heads_, static_cast<std::uint64_t>(stored_at_ms), 8);
  put(heads_, frame.size(), 4);
  blob_ += frame;
}

std::string_view RowBuilder::finish() {
  blob_ += heads_;
  return blob_;
}

bool RowWriter::add(Statement& insert, std::string_view node_id, std::uint64_t seq, std::int64_t stored_at_ms,
                    std::string_view frame) {
  const bool next_in_run = row_.count() > 0 && node_id == node_id_ && seq == last_seq_ + 1;
  if (row_.count() > 0 && !(next_in_run && row_.takes(stored_at_ms, frame.size())) && !flush(insert)) return false;
  if (row_.count() == 0) {
    node_id_ = node_id;
    first_seq_ = seq;
  }
  row_.add(stored_at_ms, frame);
  last_seq_ = seq;
  return true;
}

bool RowWriter::flush(Statement& insert) {
  if (row_.count() == 0) return true;
  insert.bind(1, node_id_);
  insert.bind(2, to_sql(last_seq_));
  insert.bind(3, to_sql(first_seq_));
  insert.bind(4, static_cast<std::int64_t>(row_.count()));
  insert.bind(5, row_.newest_ms());
  insert.bind_blob(6, row_.finish());
  const bool ok = insert.run();
  row_.clear();
  return ok;
}

RowReader::RowReader(std::string_view blob, std::int64_t count) : blob_(blob) {
  if (count <= 0 || static_cast<std::uint64_t>(count) > blob.size() / RowBuilder::head_bytes) return;
  count_ = static_cast<std::size_t>(count);
  heads_at_ = blob.size() - count_ * RowBuilder::head_bytes;
  std::size_t frames = 0;
  for (std::size_t i = 0; i < count_; ++i) frames += get(blob_, heads_at_ + i * RowBuilder::head_bytes + 8, 4);
  valid_ = frames == heads_at_;
  if (!valid_) count_ = 0;
}

bool RowReader::next(std::int64_t& stored_at_ms, std::string_view& frame) {
  if (read_ == count_) return false;
  const std::size_t head = heads_at_ + read_ * RowBuilder::head_bytes;
  stored_at_ms = static_cast<std::int64_t>(get(blob_, head, 8));
  const std::size_t size = get(blob_, head + 8, 4);
  frame = blob_.substr(frame_at_, size);
  frame_at_ += size;
  ++read_;
  return true;
}

}  // namespace allspark::store::sqlite
