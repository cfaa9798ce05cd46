#!/usr/bin/env bash
# Incremental reuse benchmark (05 §6.4): snapshot A = N synthetic users, B = A + M new users
# (hard links, as a growing upload folder). Times clean + keypairs on B from scratch and
# with A's version as base, checks that every data file is identical, and writes
# bench/results/incremental-<date>.md.   Usage: bench/incremental_bench.sh [N] [M]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
m=${2:-50}
make -j2 build/libkeyetl.a build/keyetl >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -std=c11 -D_DEFAULT_SOURCE -O2 -Isrc -o "$tmp/bench" bench/incremental_bench.c build/libkeyetl.a \
  -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm
build/keyetl synth --users "$n" --seed 3 "$tmp/A" >/dev/null
build/keyetl synth --users $((n + m)) --seed 3 "$tmp/C" >/dev/null
find "$tmp/A" -type f -exec touch -d '1 hour ago' {} +
cp -al "$tmp/A" "$tmp/B"
# the new users: C's files whose names are not in A
(cd "$tmp/C" && for f in *; do [ -e "$tmp/A/$f" ] || ln "$f" "$tmp/B/$f"; done)
for v in base full incr; do mkdir -p "$tmp/$v/raw_data"; done
cp -al "$tmp/A" "$tmp/base/raw_data/web_app_data"
cp -al "$tmp/B" "$tmp/full/raw_data/web_app_data"
cp -al "$tmp/B" "$tmp/incr/raw_data/web_app_data"
"$tmp/bench" "$tmp/base" >/dev/null
full=$("$tmp/bench" "$tmp/full")
incr=$("$tmp/bench" "$tmp/incr" "$tmp/base")
same=identical
for d in cleaned_data keypairs etl_metadata/keypairs; do
  diff -r --exclude="*.json" "$tmp/full/$d" "$tmp/incr/$d" >/dev/null || same=DIFFERENT
done
mkdir -p bench/results
out=bench/results/incremental-$(date +%Y-%m-%d).md
{
  echo "# Incremental clean + keypairs ($(date +%Y-%m-%d))"
  echo
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'),"
  echo "$(nproc) cores shared with other jobs (indicative). Command: bench/incremental_bench.sh $n $m"
  echo "(snapshot B = $n synthetic users + $m new, hard-linked like a growing upload folder;"
  echo "PARALLEL_WORKERS=2, BATCH_SIZE=100, CSV output; page cache warm)."
  echo
  echo "From scratch (no base):"
  echo
  echo "| stage | seconds | reused | processed |"
  echo "|---|---|---|---|"
  echo "$full"
  echo
  echo "Incremental (base = version of A):"
  echo
  echo "| stage | seconds | reused | processed |"
  echo "|---|---|---|---|"
  echo "$incr"
  echo
  echo "Data files (cleaned_data, keypairs, etl_metadata/keypairs; JSON excluded, it carries version paths) of both runs: $same."
} >"$out"
cat "$out"
