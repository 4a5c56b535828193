#pragma once
// Command line of allspark-bench: the flags every workload shares, and a
// small reader for the flags of one workload. Errors are one line; main()
// prints it and exits 2.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "peer.hpp"

namespace allspark::bench {

struct CommonOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string secret;
  int server_pid = 0;            // 0: the server's CPU is not sampled
  double duration_s = 10;        // measured time, after the warm-up
  double warmup_s = 2;
  double grace_s = 2;            // after the last send: wait this long for what is still in flight
  std::size_t payload_bytes = 100;  // size of the JSON value of "payload"
  std::size_t connect_batch = 128;  // handshakes in progress at once
  std::string tag;               // appended to node ids so runs never share a node (default: random)
  bool json = false;
  bool reuse_preconnect = false;  // the upgrade on the preconnect's connection
  Peer peer = Peer::allspark;    // --peer: the server's kind (bench/compare.sh)
};

// The argv of one workload, after the subcommand. Each take_* removes the flag
// it finds; finish() reports anything left over as an unknown flag.
class ArgReader {
 public:
  ArgReader(int argc, const char* const* argv);

  bool take_string(std::string_view flag, std::string& out);
  bool take_uint(std::string_view flag, std::uint64_t min, std::uint64_t max, std::uint64_t& out);
  bool take_double(std::string_view flag, double min, double max, double& out);
  bool take_switch(std::string_view flag, bool& out);

  // Reads every common flag into `out`.
  bool take_common(CommonOptions& out);
  // True when no error was seen and no argument is left.
  bool finish();
  const std::string& error() const { return error_; }

 private:
  // Index of `flag` in args_, or -1; the value (if any) follows it.
  int find(std::string_view flag) const;
  bool take_value(std::string_view flag, std::string& out, bool& found);

  std::vector<std::string> args_;
  std::string error_;
};

}  // namespace allspark::bench
