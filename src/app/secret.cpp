// Where the HS256 secret comes from (PROTOCOL.md section 2): --secret,
// --secret-file, ALLSPARK_SECRET, or the one kept beside the SQLite store.
#include "app/secret.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>

namespace allspark::app {

namespace {

constexpr std::size_t max_secret_file_bytes = 64 * 1024;

std::optional<std::string> read_secret_file(const std::string& path, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot read '" + printable(path) + "': " + std::strerror(errno);
    return std::nullopt;
  }
  std::string secret(max_secret_file_bytes + 1, '\0');
  file.read(secret.data(), static_cast<std::streamsize>(secret.size()));
  if (file.bad()) {
    error = "cannot read '" + printable(path) + "'";
    return std::nullopt;
  }
  secret.resize(static_cast<std::size_t>(file.gcount()));
  if (secret.size() > max_secret_file_bytes) {
    error = "'" + printable(path) + "' is larger than 64 KiB";
    return std::nullopt;
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    error = "'" + printable(path) + "' is empty";
    return std::nullopt;
  }
  return secret;
}

// 32 random bytes as hex, written with mode 0600 and O_EXCL: when two
// processes race, the loser reads the winner's secret.
std::optional<std::string> create_secret_file(const std::filesystem::path& path,
                                              std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path().empty() ? "." : path.parent_path(), ec);
  if (ec) {
    error =
        "--store: cannot create the folder of '" + printable(path.string()) + "': " + ec.message();
    return std::nullopt;
  }
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    error = "cannot generate a secret: the system random generator failed";
    return std::nullopt;
  }
  constexpr std::string_view hex = "0123456789abcdef";
  std::string secret;
  for (unsigned char byte : bytes) {
    secret += hex[byte >> 4];
    secret += hex[byte & 15];
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    auto kept = read_secret_file(path.string(), error);
    if (!kept) error = "--store: secret " + error;
    return kept;
  }
  if (fd < 0) {
    error = "--store: cannot create '" + printable(path.string()) + "': " + std::strerror(errno);
    return std::nullopt;
  }
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    error = "--store: cannot write '" + printable(path.string()) + "'";
    std::filesystem::remove(path, ec);
    return std::nullopt;
  }
  return secret;
}

}  // namespace

// A value as it may appear inside a one-line message: no control bytes, not too long.
std::string printable(std::string_view value) {
  constexpr std::size_t max_shown = 80;
  std::string out;
  for (char c : value.substr(0, max_shown)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
  if (value.size() > max_shown) out += "...";
  return out;
}

std::string store_folder(const std::string& store) {
  constexpr std::string_view prefix = "sqlite:";
  if (!store.starts_with(prefix)) return {};
  const std::filesystem::path path(store.substr(prefix.size()));
  const std::string folder = path.parent_path().string();
  return folder.empty() ? "." : folder;
}

std::optional<std::string> resolve_secret(const std::string& secret, const std::string& secret_file,
                                          const std::string& store, bool create,
                                          std::string& error) {
  if (!secret.empty()) return secret;
  if (!secret_file.empty()) {
    std::string why;
    auto from_file = read_secret_file(secret_file, why);
    if (!from_file) error = "--secret-file: " + why;
    return from_file;
  }
  if (const char* env = std::getenv("ALLSPARK_SECRET"); env != nullptr) {
    if (*env == '\0') {
      error = "ALLSPARK_SECRET is set but empty";
      return std::nullopt;
    }
    return std::string(env);
  }
  if (!store.starts_with("sqlite:")) {
    // Every server of a cluster must verify the same keys: no local secret.
    error = "no secret: a cluster (" + printable(store) +
            ") needs a shared one: give --secret, --secret-file or ALLSPARK_SECRET";
    return std::nullopt;
  }
  const std::filesystem::path path = std::filesystem::path(store_folder(store)) / "secret";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string why;
    auto kept = read_secret_file(path.string(), why);
    if (!kept) error = "--store: secret " + why;
    return kept;
  }
  if (!create) {
    error =
        "no secret: give --secret, --secret-file or ALLSPARK_SECRET, or start `allspark serve` "
        "once to create one";
    return std::nullopt;
  }
  return create_secret_file(path, error);
}

}  // namespace allspark::app
