#!/usr/bin/env bash
# Installs what is missing, builds everything (warnings are errors) and runs
# every test: unit tests and integration tests against real allspark processes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
build="$root/build/test"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLSPARK_WERROR=ON >/dev/null
cmake --build "$build"
cd "$build"
ctest --output-on-failure -j2 "$@"
