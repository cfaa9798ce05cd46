#!/usr/bin/env bash
# features_stage.sh — `keyetl run -s features -s top_il` on a version whose keypairs table is
# the expected one of each shared data set; the feature and top-k tables must match the
# expected ones (compare.py --only features).
#
# Known deviation accepted for `edge`: its expected files keep the invalid byte 0xDC raw in
# five column names (HL_\xDC_*); spec 04 §1 writes it as U+00DC (HL_Ü_*). compare.py then
# lists those columns as missing/extra while every compared cell is equal.
set -u
. "$(dirname "$0")/../lib.sh"
BIN=${KEYETL_BIN:-build/keyetl}
STAGE_BIN=${KEYETL_STAGE_BIN:-build/keyetl-stage}
need_shared features_stage || exit 0

for set in fpd-dev edge; do
  name="features_stage_$set"
  exp="$KEYETL_SHARED/data/$set/expected"
  [ -f "$exp/keypairs/keypairs.csv" ] || { skip "$name" "no expected keypairs for $set"; continue; }
  art=$(mktmp)
  vid=golden-features
  mkdir -p "$art/$vid/keypairs"
  cp "$exp/keypairs/keypairs.csv" "$art/$vid/keypairs/"
  out=$("$STAGE_BIN" --artifacts-dir "$art" --version-id "$vid" -s features -s top_il \
        --output-formats csv --quiet 2>&1)
  rc=$?
  if [ $rc -ne 0 ]; then
    if echo "$out" | grep -q "not in this build\|not implemented yet"; then
      skip "$name" "the keypairs-table reader is not in this build"
    else
      fail "$name" "keyetl exited $rc: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    fi
    rm -rf "$art"; continue
  fi
  cmp=$(/usr/bin/python3 "$KEYETL_SHARED/tools/compare.py" --only features "$exp" "$art/$vid" 2>&1)
  crc=$?
  if [ $crc -eq 0 ]; then
    pass "$name"
  elif [ "$set" = edge ] && ! echo "$cmp" | grep '^FAIL ' | grep -qv ', 0 differ' \
       && ! echo "$cmp" | grep '^       - ' | grep -qv 'HL_\\udcdc_\|HL_Ü_'; then
    pass "$name"
  else
    fail "$name" "$(echo "$cmp" | grep -A3 '^FAIL' | head -n 8 | tr '\n' ' ')"
  fi
  rm -rf "$art"
done
