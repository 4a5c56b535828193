#include "store/sqlite/database.hpp"

#include <utility>

namespace allspark::store::sqlite {

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

void Statement::bind(int index, std::string_view text) {
  // SQLITE_STATIC: the caller's string outlives the step; no copy per row.
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void Statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
}

bool Statement::run() {
  const int rc = sqlite3_step(stmt_);
  sqlite3_reset(stmt_);
  return rc == SQLITE_DONE;
}

std::string_view Statement::column_text(int column) {
  // column_text before column_bytes: the documented order that avoids a
  // second conversion.
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return text == nullptr ? std::string_view{} : std::string_view{text, static_cast<std::size_t>(size)};
}

std::string_view Statement::column_blob(int column) {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return bytes == nullptr ? std::string_view{} : std::string_view{bytes, static_cast<std::size_t>(size)};
}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

bool Database::open(const std::string& path, std::string& error) {
  // Before SQLite initializes (the first open): no memory statistics, which
  // took a global mutex on every allocation SQLite made (2% of the server's
  // CPU in `ack`, bench/README.md). Nothing here reads them.
  static const bool configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)configured;
  sqlite3_close_v2(std::exchange(db_, nullptr));
  // NOMUTEX: the connection is used by one thread at a time (the store's),
  // so SQLite's own per-call mutex would be pure cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    error = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(std::exchange(db_, nullptr));
    return false;
  }
  sqlite3_extended_result_codes(db_, 1);
  return true;
}

bool Database::exec(const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  error = message != nullptr ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return false;
}

Statement Database::prepare(std::string_view sql, std::string& error) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
  if (rc != SQLITE_OK) {
    error = sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    return Statement{};
  }
  return Statement{stmt};
}

std::int64_t Database::query_int(const char* sql, std::string& error) {
  Statement statement = prepare(sql, error);
  if (!statement.valid()) return -1;
  const int rc = statement.step();
  if (rc != SQLITE_ROW) {
    error = sqlite3_errmsg(db_);
    return -1;
  }
  return statement.column_int(0);
}

}  // namespace allspark::store::sqlite
