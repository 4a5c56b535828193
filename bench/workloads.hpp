#pragma once
// One entry point per workload (a file each, workload_<name>.cpp; `ack` is
// `pairs` with acks). Each
// reads its own flags after the common ones and returns the exit status.
#include "options.hpp"

namespace allspark::bench {

int run_pairs(ArgReader& args, const CommonOptions& options);
int run_ack(ArgReader& args, const CommonOptions& options);  // workload_pairs.cpp: pairs with ack
int run_fanout(ArgReader& args, const CommonOptions& options);
int run_idle(ArgReader& args, const CommonOptions& options);
int run_rate(ArgReader& args, const CommonOptions& options);
int run_connect(ArgReader& args, const CommonOptions& options);

}  // namespace allspark::bench
