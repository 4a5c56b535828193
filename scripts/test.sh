#!/usr/bin/env bash
# Installs what is missing, builds everything (warnings are errors in every
# build) and runs every test. Three builds, each in a folder of its own:
#   build/asan  the suite with ASan+UBSan (gcc; no benchmarks);
#   build/fuzz  the libFuzzer targets of fuzz/ (clang), nothing else;
#   build/test  the suite, whose ctest runs unit and integration tests and
#               also, as tests, the other two: sanitize.suite (build/asan's
#               ctest; any sanitizer report fails it) and fuzz.<target> (each
#               target fuzzed on a copy of its seeds for $ALLSPARK_FUZZ_SECONDS,
#               default 20).
# So the last line is one ctest summary that covers every check. Arguments go
# to that ctest (e.g. -R router; -E 'sanitize|fuzz' skips the slow ones).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Each phase's wall time, printed before the tests start: CI must stay well
# under 20 minutes, and this says where they go.
phases=""
phase_start=$SECONDS
phase_done() {
  phases+="$1 $((SECONDS - phase_start)) s, "
  phase_start=$SECONDS
}
"$root/scripts/setup.sh"
phase_done setup

# Compile time is most of a CI run, and debug information is much of it, so
# both suites' builds keep line tables only (-g1: a report still names file
# and line); the sanitized one is built at -O1, as ASan's authors advise,
# which halves its compile time against -O2 -g.
asan="$root/build/asan"
cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLSPARK_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DALLSPARK_SANITIZE=ON -DALLSPARK_BENCH=OFF >/dev/null
cmake --build "$asan" -j2
phase_done "asan build"

fuzz="$root/build/fuzz"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DALLSPARK_WERROR=ON -DALLSPARK_FUZZ=ON -DALLSPARK_TESTS=OFF -DALLSPARK_BENCH=OFF >/dev/null
cmake --build "$fuzz" -j2 --target fuzz_frame_codec fuzz_message_decoder fuzz_token fuzz_session_request \
  fuzz_http_head
phase_done "fuzz build"

build="$root/build/test"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLSPARK_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DALLSPARK_SANITIZED_BUILD="$asan" -DALLSPARK_FUZZ_BUILD="$fuzz" \
  -DALLSPARK_FUZZ_SECONDS="${ALLSPARK_FUZZ_SECONDS:-20}" >/dev/null
cmake --build "$build" -j2
phase_done "test build"
echo "test.sh: ${phases%, } (the tests follow)"
cd "$build"
ctest --output-on-failure -j2 "$@"
