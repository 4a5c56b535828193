#!/usr/bin/env bash
# Installs what Allspark needs to build, run and test, from Debian 12's archive
# and the npm registry. Idempotent: when everything is present it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang-14 with libclang-rt-14-dev (only recommended by clang, so named
# here): libFuzzer and the sanitizer runtimes for the fuzz targets.
pkgs=(g++ clang-14 libclang-rt-14-dev cmake ninja-build pkg-config git ca-certificates
      libboost1.81-dev libssl-dev libspdlog-dev libcli11-dev libsqlite3-dev
      libsimdjson-dev libjemalloc-dev libgtest-dev libbenchmark-dev
      chromium python3-websockets procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# node and npm: keep whatever node is present (it may not be Debian's).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# JavaScript test clients (ws, playwright-core): only when the lock file changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
