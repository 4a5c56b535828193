// allspark-bench: Allspark's load generator. See bench/README.md.
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "options.hpp"
#include "workloads.hpp"

namespace {

constexpr const char* usage =
    "usage: allspark-bench WORKLOAD [flags]\n"
    "\n"
    "workloads:\n"
    "  pairs   --pairs P --window W          P sender->receiver node pairs, W messages in flight each\n"
    "  ack     --pairs P (1) --window W (64) --recipient-ack N (32)\n"
    "                                        pairs with \"ack\": true: a message is in flight until its -7;\n"
    "                                        receivers acknowledge their inbox every N copies\n"
    "  fanout  --members M --publishers S --window W [--via session|client]\n"
    "                                        one session of M member nodes (created over HTTP), S app-role\n"
    "                                        publishers sending dest_session_id (--via client: dest_client_id)\n"
    "  rate    --rate R (20000) --pairs P (100)\n"
    "                                        open loop: a message every 1/R s round robin over P pairs;\n"
    "                                        latency from the scheduled send time (and from the actual one)\n"
    "  connect --connections C (2000)        rounds of C authenticated connects (preconnect, upgrade,\n"
    "                                        welcome), --connect-batch at once: connects/s, server CPU\n"
    "  idle    --connections C [--settle SECONDS (3)] [--hold SECONDS (0)]\n"
    "                                        C idle connections (one node each): server RSS per connection\n"
    "                                        (needs --server-pid) and connects/s; --hold keeps them open\n"
    "\n"
    "common flags:\n"
    "  --host H (127.0.0.1)  --port P (8080)  --secret S (required: auth keys are minted in-process)\n"
    "  --peer allspark|nats|mqtt|socketio|ws (allspark)\n"
    "                        the server's kind: the same workloads in a peer's protocol (bench/compare.sh;\n"
    "                        ack: allspark and nats JetStream); --secret is only for allspark\n"
    "  --server-pid PID      sample the server's CPU time from /proc/PID/stat\n"
    "  --duration SECONDS (10) measured time, after --warmup SECONDS (2); then --grace SECONDS (2)\n"
    "                        for what is still in flight\n"
    "  --payload BYTES (100) size of the JSON value of \"payload\"\n"
    "  --connect-batch N (128) handshakes in progress at once\n"
    "  --reuse-preconnect    send the upgrade on the preconnect's connection (keep-alive)\n"
    "  --tag T               suffix of node ids (default: random, so runs never share a node)\n"
    "  --json                also print one JSON line of results\n";

// Each connection is a descriptor: ask for as many as the hard limit allows.
void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace allspark::bench;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string_view workload = argv[1];
  ArgReader args(argc - 2, argv + 2);
  CommonOptions options;
  if (!args.take_common(options)) {
    std::fprintf(stderr, "allspark-bench: %s\n", args.error().c_str());
    return 2;
  }
  raise_fd_limit();
  try {
    if (workload == "pairs") return run_pairs(args, options);
    if (workload == "ack") return run_ack(args, options);
    if (workload == "fanout") return run_fanout(args, options);
    if (workload == "idle") return run_idle(args, options);
    if (workload == "rate") return run_rate(args, options);
    if (workload == "connect") return run_connect(args, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "allspark-bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "allspark-bench: unknown workload '%.*s'\n%s", static_cast<int>(workload.size()),
               workload.data(), usage);
  return 2;
}
