#!/usr/bin/env bash
# Benchmarks kx_fmt_double (src/io/fmt.c) against the old printf/strtod search kept in
# tests/unit/test_fmt_ref.c; writes bench/results/fmt-<date>.md and prints it.
# Usage: bench/fmt_bench.sh [N]   (N doubles in total, default 10,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
make -j2 build/libkeyetl.a >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -Isrc -Itests/unit -o "$tmp/fmt_bench" \
  bench/fmt_bench.c tests/unit/test_fmt_ref.c build/libkeyetl.a -lm
mkdir -p bench/results
out=bench/results/fmt-$(date +%Y-%m-%d).md
{
  echo "# kx_fmt_double benchmark ($(date +%Y-%m-%d))"
  echo
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(${CC:-cc} --version | head -n 1),"
  echo "-O2, CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "(shared with other jobs: numbers are indicative). Command: bench/fmt_bench.sh $n"
  echo
  "$tmp/fmt_bench" "$n"
} >"$out"
cat "$out"
echo "written: $out"
