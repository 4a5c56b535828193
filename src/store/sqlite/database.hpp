#pragma once
// Thin owners of SQLite's C handles (a connection, a prepared statement), so
// that every path, error ones included, finalizes and closes. Owned by one
// thread at a time: the store's thread once the store runs.
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace allspark::store::sqlite {

inline constexpr std::uint64_t max_sql_int = 0x7fff'ffff'ffff'ffff;

// SQLite integers are signed 64-bit. A seq past 2^63 never happens in
// practice, but clamping keeps "after UINT64_MAX" meaning "nothing" and
// "ack up to UINT64_MAX" meaning "everything" instead of wrapping negative.
inline std::int64_t to_sql(std::uint64_t value) {
  return static_cast<std::int64_t>(value < max_sql_int ? value : max_sql_int);
}

// A LIMIT one row past `max_entries` (-1: none), which tells a fetch
// whether entries were left out.
inline std::int64_t limit_past(std::size_t max_entries) {
  return max_entries < max_sql_int ? static_cast<std::int64_t>(max_entries) + 1 : -1;
}

// A prepared statement kept for the life of the connection and reset after
// every use, so the hot store loop never parses SQL again.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  ~Statement() { sqlite3_finalize(stmt_); }

  bool valid() const { return stmt_ != nullptr; }

  // `text` must stay alive until reset() (bound without a copy).
  void bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, std::string_view text);
  void bind_blob(int index, std::string_view bytes);

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  // Runs a statement that returns no rows to completion; resets it.
  bool run();
  void reset() { sqlite3_reset(stmt_); }

  std::int64_t column_int(int column) { return sqlite3_column_int64(stmt_, column); }
  std::string_view column_text(int column);
  std::string_view column_blob(int column);

 private:
  friend class Database;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when a query's scope ends, whichever way it ends.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& statement) : statement_(statement) {}
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { statement_.reset(); }

 private:
  Statement& statement_;
};

class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Database& operator=(Database&& other) noexcept;
  // sqlite3_close_v2 closes once the last statement is finalized, so the
  // order in which owners are destroyed does not matter.
  ~Database() { sqlite3_close_v2(db_); }

  // Opens (creating if missing) a database for reading and writing. On
  // failure returns false and sets `error` to SQLite's reason.
  bool open(const std::string& path, std::string& error);

  // Runs one or more statements without results (pragmas, DDL, BEGIN/COMMIT).
  bool exec(const char* sql, std::string& error);
  bool exec(const char* sql) {
    std::string ignored;
    return exec(sql, ignored);
  }
  // A statement kept for reuse (SQLITE_PREPARE_PERSISTENT). An empty
  // Statement and `error` set on failure.
  Statement prepare(std::string_view sql, std::string& error);
  // The single integer a pragma or query returns; -1 and `error` on failure.
  std::int64_t query_int(const char* sql, std::string& error);

  bool in_transaction() const { return db_ != nullptr && sqlite3_get_autocommit(db_) == 0; }
  int changes() const { return sqlite3_changes(db_); }
  std::string last_error() const { return sqlite3_errmsg(db_); }
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace allspark::store::sqlite
