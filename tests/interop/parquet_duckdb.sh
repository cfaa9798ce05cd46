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
