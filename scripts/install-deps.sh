#!/usr/bin/env bash
# Installs everything keyetl needs to build, run and test, from Debian packages and the
# npm registry. Safe to run twice; does nothing when everything is present.
# Usage: scripts/install-deps.sh [--test]   (--test adds the test-only tools)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

build_pkgs=(build-essential pkg-config libzstd-dev libsnappy-dev zlib1g-dev libsqlite3-dev
            libjansson-dev libxxhash-dev libssl-dev)
test_pkgs=(clang libclang-rt-14-dev python3 python3-numpy nodejs npm chromium)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # node/npm may come from elsewhere on the image; accept a working binary.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # chromium is optional: its absence only skips the browser test.
  core=(); opt=()
  for p in "${missing[@]}"; do [ "$p" = chromium ] && opt+=("$p") || core+=("$p"); done
  [ ${#core[@]} -gt 0 ] && $SUDO apt-get install -y -qq --no-install-recommends "${core[@]}"
  [ ${#opt[@]} -gt 0 ] && { $SUDO apt-get install -y -qq "${opt[@]}" || echo "install-deps: chromium not installable; browser tests will be skipped"; }
fi

if [ "${1:-}" = "--test" ] && [ -f "$here/tests/interop/package.json" ]; then
  need_npm=0
  for m in @duckdb/node-api hyparquet hyparquet-compressors; do
    [ -d "$here/tests/interop/node_modules/$m" ] || need_npm=1
  done
  if [ $need_npm -eq 1 ]; then
    echo "install-deps: npm install in tests/interop"
    (cd "$here/tests/interop" && npm install --no-audit --no-fund --loglevel=error) ||
      echo "install-deps: npm install failed; Parquet interop tests will be skipped"
  fi
fi
exit 0
