#!/usr/bin/env bash
# Interop: tables written by keyetl's table writer (write_samples.c, linked with
# build/libkeyetl.a) are read by DuckDB and hyparquet (check.mjs) and compared value by value
# with their CSV twins. SKIP when node or tests/interop/node_modules is missing.
set -u
cd "$(dirname "$0")/../.."
source tests/lib.sh
if ! command -v node >/dev/null 2>&1 || [ ! -d tests/interop/node_modules/@duckdb/node-api ]; then
  skip parquet_interop "node_modules missing (run: cd tests/interop && npm install)"
  exit 0
fi
if [ ! -f build/libkeyetl.a ]; then fail parquet_interop "build/libkeyetl.a missing (run make)"; exit 0; fi
tmp=$(mktmp)
trap 'rm -rf "$tmp"' EXIT
if ! cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -o "$tmp/write_samples" tests/interop/write_samples.c \
     build/libkeyetl.a -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm 2>"$tmp/cc.log"; then
  fail parquet_interop "cannot build write_samples: $(head -n 3 "$tmp/cc.log" | tr '\n' ' ')"; exit 0
fi
mkdir -p "$tmp/out"
if ! "$tmp/write_samples" "$tmp/out"; then fail parquet_interop "write_samples failed"; exit 0; fi
(cd tests/interop && node check.mjs "$tmp/out")

# Every Parquet table the pipeline writes for the real snapshot (keypairs, feature and top-k
# tables, kvc tables), checked the same way against its CSV twin.
if [ -n "${KEYETL_SHARED:-}" ] && [ -d "$KEYETL_SHARED/data/fpd-dev/web_app_data" ]; then
  if build/keyetl run --source "$KEYETL_SHARED/data/fpd-dev/web_app_data" --artifacts-dir "$tmp/art" \
       --version-id v --quiet >"$tmp/run.log" 2>&1; then
    mkdir -p "$tmp/pipe"
    find "$tmp/art/v" -name '*.parquet' | sort | while read -r pq; do
      rel=${pq#$tmp/art/v/}; flat=${rel//\//__}
      cp "$pq" "$tmp/pipe/$flat"; cp "${pq%.parquet}.csv" "$tmp/pipe/${flat%.parquet}.csv"
    done
    (cd tests/interop && CHECK_ANY_TABLE=1 node check.mjs "$tmp/pipe") | sed 's/^\(PASS\|FAIL\) /\1 fpd-dev-pipeline\//'
  else
    fail parquet_interop_pipeline "keyetl run failed: $(tail -n 2 "$tmp/run.log" | tr '\n' ' ')"
  fi
else
  skip parquet_interop_pipeline "../shared is absent (fpd-dev snapshot not available)"
fi
