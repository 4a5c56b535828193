#include "app/token_command.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "protocol/token.hpp"

namespace {

using allspark::app::run_token_command;
using allspark::app::TokenConfig;
using allspark::protocol::Role;
using allspark::protocol::TokenStatus;
using allspark::protocol::verify_auth_key;

std::int64_t seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs the command with out and err captured in temporary files.
struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string read_all(std::FILE* file) {
  std::rewind(file);
  std::string text;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  std::fclose(file);
  return text;
}

Outcome run(const TokenConfig& config) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  Outcome result;
  result.status = run_token_command(config, out, err);
  result.out = read_all(out);
  result.err = read_all(err);
  return result;
}

bool is_one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
}

// A store in a fresh temp folder and no ALLSPARK_SECRET, restored afterwards.
class TokenCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* saved = std::getenv("ALLSPARK_SECRET")) saved_env_ = saved;
    had_env_ = std::getenv("ALLSPARK_SECRET") != nullptr;
    ::unsetenv("ALLSPARK_SECRET");
    std::string pattern =
        (std::filesystem::temp_directory_path() / "allspark-token-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    config_.node_id = "phone1";
    config_.store = "sqlite:" + (dir_ / "data" / "allspark.db").string();
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    if (had_env_) {
      ::setenv("ALLSPARK_SECRET", saved_env_.c_str(), 1);
    } else {
      ::unsetenv("ALLSPARK_SECRET");
    }
  }
  std::string write_file(const std::filesystem::path& relative, const std::string& text) {
    const auto path = dir_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  // The key printed, checked against `secret`.
  static allspark::protocol::TokenResult verify_printed(const Outcome& result,
                                                        const std::string& secret) {
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_TRUE(is_one_line(result.out)) << result.out;
    EXPECT_EQ(result.err, "");
    return verify_auth_key(result.out.substr(0, result.out.size() - 1), secret, seconds_now());
  }

  std::filesystem::path dir_;
  TokenConfig config_;
  std::string saved_env_;
  bool had_env_ = false;
};

TEST_F(TokenCommand, PrintsAKeyThatVerifies) {
  config_.secret = "flag-secret";
  config_.client_id = "alice";
  config_.role = "app";
  config_.ttl_seconds = 3600;
  const auto verified = verify_printed(run(config_), "flag-secret");
  ASSERT_EQ(verified.status, TokenStatus::ok) << verified.message;
  EXPECT_EQ(verified.claims.node_id, "phone1");
  EXPECT_EQ(verified.claims.client_id, "alice");
  EXPECT_EQ(verified.claims.role, Role::app);
  ASSERT_TRUE(verified.claims.exp);
  EXPECT_NEAR(static_cast<double>(*verified.claims.exp), static_cast<double>(seconds_now() + 3600),
              5);
}

TEST_F(TokenCommand, NoTtlMeansNoExpiry) {
  config_.secret = "flag-secret";
  const auto verified = verify_printed(run(config_), "flag-secret");
  ASSERT_EQ(verified.status, TokenStatus::ok);
  EXPECT_EQ(verified.claims.exp, std::nullopt);
  EXPECT_EQ(verified.claims.role, Role::node);
  EXPECT_EQ(verified.claims.client_id, "");
}

TEST_F(TokenCommand, SecretOrderFlagFileEnvironmentStore) {
  write_file("data/secret", "store-secret\n");
  config_.secret_file = write_file("secret.txt", "file-secret\n");
  config_.secret = "flag-secret";
  ::setenv("ALLSPARK_SECRET", "env-secret", 1);
  EXPECT_EQ(verify_printed(run(config_), "flag-secret").status, TokenStatus::ok);
  config_.secret.clear();
  EXPECT_EQ(verify_printed(run(config_), "file-secret").status, TokenStatus::ok);
  config_.secret_file.clear();
  EXPECT_EQ(verify_printed(run(config_), "env-secret").status, TokenStatus::ok);
  ::unsetenv("ALLSPARK_SECRET");
  EXPECT_EQ(verify_printed(run(config_), "store-secret").status, TokenStatus::ok);
}

TEST_F(TokenCommand, NeverCreatesASecret) {
  const Outcome result = run(config_);
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_TRUE(is_one_line(result.err)) << result.err;
  EXPECT_EQ(result.err,
            "allspark: no secret: give --secret, --secret-file or ALLSPARK_SECRET, or start "
            "`allspark serve` once to create one\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "data"));
}

TEST_F(TokenCommand, UnreadableSecretFileIsOneLine) {
  config_.secret_file = (dir_ / "missing").string();
  const Outcome result = run(config_);
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_TRUE(is_one_line(result.err)) << result.err;
  EXPECT_EQ(result.err.rfind("allspark: --secret-file: ", 0), 0u) << result.err;
}

TEST_F(TokenCommand, ARedisStoreWithoutASecretIsOneLine) {
  config_.store = "redis://127.0.0.1:6379";
  const Outcome result = run(config_);
  EXPECT_EQ(result.status, 2);
  EXPECT_TRUE(is_one_line(result.err)) << result.err;
}

TEST_F(TokenCommand, BadIdsAndRoleAreOneLine) {
  config_.secret = "s";
  struct Case {
    std::string node_id, client_id, role, flag;
  };
  const Case cases[] = {
      {"", "", "node", "--node-id"},        {"has space", "", "node", "--node-id"},
      {"a\nb", "", "node", "--node-id"},    {std::string(129, 'x'), "", "node", "--node-id"},
      {"n1", "a/b", "node", "--client-id"}, {"n1", "", "admin", "--role"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.flag + " " + c.node_id + c.client_id + c.role);
    TokenConfig config = config_;
    config.node_id = c.node_id;
    config.client_id = c.client_id;
    config.role = c.role;
    const Outcome result = run(config);
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.out, "");
    EXPECT_TRUE(is_one_line(result.err)) << result.err;
    EXPECT_EQ(result.err.rfind("allspark: " + c.flag + ": ", 0), 0u) << result.err;
  }
}

TEST_F(TokenCommand, BadIdIsReportedBeforeAMissingSecret) {
  config_.node_id = "a b";
  const Outcome result = run(config_);
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.err.rfind("allspark: --node-id: ", 0), 0u) << result.err;
}

}  // namespace
