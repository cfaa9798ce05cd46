#!/usr/bin/env bash
# Parquet write/read throughput of keyetl's native writer vs DuckDB on a keypairs-like table
# (default 10 million rows; BENCH_ROWS to change). Heavy: run once, results go to
# bench/results/parquet-<date>.md. DuckDB runs with 1 thread (keyetl writes one table on one
# thread) and, for reference, with 2 threads.
set -eu
cd "$(dirname "$0")/.."
rows=${BENCH_ROWS:-10000000}
work=bench/work/parquet
mkdir -p "$work" bench/results
make --no-print-directory -j2 build/libkeyetl.a >/dev/null
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -o "$work/parquet_bench" bench/parquet_bench.c \
   build/libkeyetl.a -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm
k=$("$work/parquet_bench" "$rows" "$PWD/$work/keyetl.parquet")
echo "keyetl: $k"
if [ -d tests/interop/node_modules/@duckdb/node-api ]; then
  cp bench/parquet_duckdb.mjs tests/interop/.bench_duckdb.mjs
  d1=$(cd tests/interop && node .bench_duckdb.mjs "$rows" "$PWD/../../$work/duckdb1.parquet" 1)
  d2=$(cd tests/interop && node .bench_duckdb.mjs "$rows" "$PWD/../../$work/duckdb2.parquet" 2)
  rm -f tests/interop/.bench_duckdb.mjs
else
  d1="write_s=NA read_s=NA"; d2=$d1
fi
echo "duckdb 1 thread: $d1"; echo "duckdb 2 threads: $d2"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
kw=$(get "$k" write_s); kr=$(get "$k" read_s); kb=$(get "$k" bytes)
dw1=$(get "$d1" write_s); dr1=$(get "$d1" read_s); dw2=$(get "$d2" write_s)
db1=$(stat -c %s "$work/duckdb1.parquet" 2>/dev/null || echo NA)
mb=$(awk -v b="$kb" 'BEGIN{printf "%.1f", b/1e6}')
out=bench/results/parquet-$(date +%Y-%m-%d).md
{
  echo "# Parquet writer benchmark ($(date +%Y-%m-%d))"
  echo
  echo "Keypairs-like table, $rows rows x 20 columns (5 strings, 4 int64, 9 doubles, 2 booleans), ZSTD,"
  echo "row groups of 65,536 rows. Machine: $(nproc) cores, shared with other jobs (numbers are indicative)."
  echo "Generation of the input data is excluded on both sides."
  echo
  echo "| writer | write s | rows/s | file MB | read s |"
  echo "|---|---|---|---|---|"
  awk -v r="$rows" -v w="$kw" -v m="$mb" -v rd="$kr" 'BEGIN{printf "| keyetl (native, 1 thread) | %.2f | %.0f | %s | %.2f |\n", w, r/w, m, rd}'
  awk -v r="$rows" -v w="$dw1" -v b="$db1" -v rd="$dr1" 'BEGIN{printf "| DuckDB COPY, 1 thread | %.2f | %.0f | %.1f | %.2f (scan) |\n", w, r/w, b/1e6, rd}'
  awk -v r="$rows" -v w="$dw2" 'BEGIN{printf "| DuckDB COPY, 2 threads | %.2f | %.0f | | |\n", w, r/w}'
  echo
  awk -v a="$kw" -v b="$dw1" -v c="$dw2" 'BEGIN{printf "Write time ratio keyetl / DuckDB: %.2f (1 thread), %.2f (2 threads); < 1 means keyetl is faster.\n", a/b, a/c}'
  echo
  echo "keyetl write MB/s (file bytes): $(awk -v b="$kb" -v w="$kw" 'BEGIN{printf "%.1f", b/1e6/w}')."
  echo "keyetl read decodes every column into arrays; DuckDB's read is an aggregate scan over a few columns."
} >"$out"
cat "$out"
