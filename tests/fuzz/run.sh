#!/usr/bin/env bash
# Runs every libFuzzer harness (build-fuzz/fuzz_*) for a short while on its seed corpus.
# Prints PASS/FAIL/SKIP per harness. FUZZ_SECONDS (default 30) sets the time per harness.
set -u
cd "$(dirname "$0")/../.."
source tests/lib.sh
secs=${FUZZ_SECONDS:-30}
if ! command -v clang >/dev/null 2>&1; then
  skip fuzz_parquet_reader "clang not installed"
  exit 0
fi
if [ ! -x build-fuzz/fuzz_parquet_reader ]; then
  if ! make --no-print-directory build-fuzz/fuzz_parquet_reader >/tmp/fuzz-build.$$ 2>&1; then
    if grep -qi "fuzzer" /tmp/fuzz-build.$$; then skip fuzz_parquet_reader "libFuzzer unavailable"; else fail fuzz_parquet_reader "build failed: $(tail -n 2 /tmp/fuzz-build.$$ | tr '\n' ' ')"; fi
    rm -f /tmp/fuzz-build.$$
    exit 0
  fi
  rm -f /tmp/fuzz-build.$$
fi
work=$(mktemp -d /tmp/keyetl-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/parquet/* "$work/" 2>/dev/null
if ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz_parquet_reader -max_total_time="$secs" -rss_limit_mb=2048 \
     -malloc_limit_mb=1024 -artifact_prefix="$work/crash-" "$work" >"$work/log" 2>&1; then
  pass fuzz_parquet_reader
else
  fail fuzz_parquet_reader "$(grep -m1 -E 'ERROR|SUMMARY|deadly' "$work/log") (log: rerun tests/fuzz/run.sh)"
fi
