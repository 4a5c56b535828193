#pragma once
// The embedded store (DESIGN.md "embedded store"): one SQLite file in WAL
// mode, written by the store's own thread in batched transactions.
#include <memory>
#include <string>

#include "store/store.hpp"

namespace allspark::store {

// Opens (creating it and its folder if missing) the database at `path` and
// starts the store's thread. On failure: nullptr and a one-line `error`
// naming the path (unusable path, not a database, a newer schema).
std::unique_ptr<Store> open_sqlite_store(const std::string& path, std::string& error, StoreLimits limits = {});

}  // namespace allspark::store
