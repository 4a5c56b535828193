#!/usr/bin/env bash
# Runs one fuzz target for a while on a scratch copy of its seed corpus, so
# the committed corpus never changes. A crash, leak, timeout or broken
# invariant fails the run; the input that caused it is kept in <artifacts>.
# Usage: fuzz/run.sh <fuzz binary> <seed corpus dir> <seconds> [<artifacts dir>]
set -euo pipefail
binary=$1 seeds=$2 seconds=$3
artifacts=${4:-${TMPDIR:-/tmp}/allspark-fuzz-artifacts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$seeds"/. "$work"/
mkdir -p "$artifacts"
# -timeout: one input taking over 10 s is a hang, a bug of its own.
exec_args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
           -artifact_prefix="$artifacts/$(basename "$binary")-")
"$binary" "${exec_args[@]}" "$work"
