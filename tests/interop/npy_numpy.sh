#!/usr/bin/env bash
# NumPy interop of the kvc .npy files (spec 05 §8.1): every file written must load with
# numpy.load(path, allow_pickle=True).item() and hold the exact users, inputs, shapes,
# dtype int64 and values. Uses Debian's /usr/bin/python3 (the one with python3-numpy).
#   npy_fixture      boundary fixture written by the C writer (tests/interop/npy_gen.c)
#   npy_fpd_dev_*    kvc outputs for fpd-dev's keypairs.csv, recomputed independently
#   npy_deterministic two runs give byte-identical files
# Until the keypairs table reader is merged, the kvc writer is driven by npy_gen's
# test-only keypairs.csv loader (same code path as the stage after the reader).
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import numpy' 2>/dev/null; then
  skip npy_numpy "NumPy is not installed for /usr/bin/python3 (apt-get install python3-numpy)"
  exit 0
fi
LIB=build/libkeyetl.a
if ! [ -f "$LIB" ]; then fail npy_numpy "$LIB missing (run make first)"; exit 1; fi
T=$(mktmp); trap 'rm -rf "$T"' EXIT
if ! ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O1 -Isrc \
    tests/interop/npy_gen.c "$LIB" -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto \
    -lpthread -lm -o "$T/npy_gen" 2>"$T/cc.err"; then
  fail npy_gen_build "$(tail -n 3 "$T/cc.err" | tr '\n' ' ')"; exit 1
fi
pass npy_gen_build

if "$T/npy_gen" fixture "$T/fixture.npy"; then
  "$PY" tests/interop/npy_check.py fixture "$T/fixture.npy" | sed 's/^\(PASS\|FAIL\) /\1 npy_/'
else
  fail npy_fixture "npy_gen fixture failed"
fi

need_shared npy_fpd_dev || exit 0
KP=$KEYETL_SHARED/data/fpd-dev/expected/keypairs/keypairs.csv
if "$T/npy_gen" kvc "$KP" "$T/fpd" csv 2>"$T/err"; then
  "$PY" tests/interop/npy_check.py kvc "$KP" "$T/fpd" 62 21 252 126 | sed 's/^\(PASS\|FAIL\) /\1 npy_fpd_dev_/'
  "$T/npy_gen" kvc "$KP" "$T/fpd2" csv 2>>"$T/err"
  same=yes
  for f in key_mapping.json keypairs_mapped.csv sequences.csv test_platform_{1,2,3}/{train,test}.npy; do
    cmp -s "$T/fpd/$f" "$T/fpd2/$f" || { same="$f differs"; break; }
  done
  [ "$same" = yes ] && pass npy_deterministic || fail npy_deterministic "$same"
else
  fail npy_fpd_dev "npy_gen kvc failed: $(tail -n 1 "$T/err")"
fi

# The stage itself (kx_stage_kvc over the keypairs table reader), on a version folder that
# holds fpd-dev's expected keypairs.csv: `keyetl run -s kvc` with the default formats.
BIN=${KEYETL_BIN:-build/keyetl}
STAGE_BIN=${KEYETL_STAGE_BIN:-build/keyetl-stage}
mkdir -p "$T/art/v/keypairs" && cp "$KP" "$T/art/v/keypairs/"
if "$STAGE_BIN" --artifacts-dir "$T/art" --version-id v --quiet -s kvc >"$T/run.log" 2>&1; then
  V=$T/art/v
  "$PY" tests/interop/npy_check.py kvc "$V/keypairs/keypairs.csv" "$V/kvc_features" 62 21 252 126 |
    sed 's/^\(PASS\|FAIL\) /\1 npy_stage_fpd_dev_/'
  [ -f "$V/kvc_features/sequences.parquet" ] && pass npy_stage_sequences_parquet ||
    fail npy_stage_sequences_parquet "kvc_features/sequences.parquet missing"
  same=yes
  for f in test_platform_{1,2,3}/{train,test}.npy; do
    cmp -s "$V/kvc_features/$f" "$T/fpd/$f" || { same="$f differs"; break; }
  done
  [ "$same" = yes ] && pass npy_stage_same_as_writer || fail npy_stage_same_as_writer "$same"
elif grep -qiE 'Parquet output is not available' "$T/run.log"; then
  skip npy_stage_fpd_dev "kvc stage needs the Parquet writer (sequences.parquet): not in this build yet"
else
  fail npy_stage_fpd_dev "keyetl run -s kvc failed: $(tail -n 2 "$T/run.log" | tr '\n' ' ' | cut -c1-300)"
fi
