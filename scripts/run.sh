#!/usr/bin/env bash
# Installs what is missing, builds a release binary and starts the server.
# Any argument is passed to `allspark serve` (see `allspark serve --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DALLSPARK_TESTS=OFF -DALLSPARK_BENCH=ON >/dev/null
cmake --build "$root/build/release" --target allspark allspark-bench
exec "$root/build/release/allspark" serve "$@"
