#pragma once
// The store's schema and how a database file reaches it: connection settings
// (WAL, synchronous, busy timeout) and the migrations, versioned with
// `PRAGMA user_version` from the first release.
#include <string>

#include "store/sqlite/database.hpp"

namespace allspark::store::sqlite {

// The version this code writes. A file with a higher one came from a newer
// Allspark and is refused rather than misread.
inline constexpr int schema_version = 5;

// Sets the connection up and migrates the file to schema_version. On failure
// returns false with a one-line reason in `error`.
bool prepare_schema(Database& db, std::string& error);

}  // namespace allspark::store::sqlite
