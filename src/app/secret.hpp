#pragma once
// The HS256 secret (PROTOCOL.md section 2) and the store folder it may be
// kept in. Reads and creates files: not part of command-line parsing.
#include <optional>
#include <string>
#include <string_view>

namespace allspark::app {

// The folder that holds the SQLite database named by `store` ("sqlite:PATH").
std::string store_folder(const std::string& store);

// Finds the secret as PROTOCOL.md section 2 says: the flag, the file, the
// ALLSPARK_SECRET environment variable, else the one kept beside the store
// (created there, mode 0600, only when `create` is true). nullopt plus `error`
// when none is found or a file cannot be read.
std::optional<std::string> resolve_secret(const std::string& secret, const std::string& secret_file,
                                          const std::string& store, bool create, std::string& error);

// A value as it may appear inside a one-line message (the command line's
// and the secret's): no control bytes, not too long.
std::string printable(std::string_view value);

}  // namespace allspark::app
