#!/usr/bin/env bash
# kvc on the edge fixture's keypairs (spec 05 §8): the `"` and `,` keys in key_mapping.json
# (JSON escaping, bytewise order), the invalid-UTF-8 key (fallback U+00DC), and valid rows
# whose key1 is the missing key: they stay in the sequences with key code -1 (§8 steps 3–4:
# the row is [key1_press, key1_release, key1_mapped] and key1_mapped is -1 for the missing
# key). With NumPy, every .npy is also checked against an independent recomputation.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
need_shared kvc_edge || exit 0
LIB=build/libkeyetl.a
if ! [ -f "$LIB" ]; then fail kvc_edge "$LIB missing (run make first)"; exit 1; fi
T=$(mktmp); trap 'rm -rf "$T"' EXIT
if ! ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -Isrc tests/interop/npy_gen.c \
    "$LIB" -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm \
    -o "$T/npy_gen" 2>"$T/cc.err"; then
  fail kvc_edge "cannot build npy_gen: $(tail -n 1 "$T/cc.err")"; exit 1
fi
KP=$KEYETL_SHARED/data/edge/expected/keypairs/keypairs.csv
if ! "$T/npy_gen" kvc "$KP" "$T/out" csv 2>"$T/err"; then
  fail kvc_edge "kvc failed: $(tail -n 1 "$T/err")"; exit 1
fi
O=$T/out
U1=e1e1e1e1000000000000000000000001
# Line 2 and 3 of the mapping: the `"` key (JSON-escaped) sorts first, then `,`.
quote_first() { [ "$(sed -n 2p "$O/key_mapping.json")" = '  "\"": 0,' ]; }
comma_second() { [ "$(sed -n 3p "$O/key_mapping.json")" = '  ",": 1,' ]; }
check kvc_edge_quote_key_first quote_first
check kvc_edge_comma_key_second comma_second
check kvc_edge_invalid_utf8_key grep -qF '"\u00dc": 36,' "$O/key_mapping.json"
check kvc_edge_na_null_are_keys bash -c "grep -qF '\"NA\": ' '$O/key_mapping.json' && grep -qF '\"null\": ' '$O/key_mapping.json'"
check kvc_edge_size bash -c "grep -qF '\"key_mapping_size\": 38' '$O/metadata.json' && grep -qF '\"unique_users\": 3' '$O/metadata.json'"
# Pairs 95 (missing -> missing) and 96 (missing -> Key.shift) of U1 1_1_1 are valid: they
# stay in the sequences with key code -1.
missing_code() {
  grep -qE "^$U1,1_1_1,[0-9]+,1735660019336,1735660019416,-1\$" "$O/sequences.csv" &&
  grep -qE "^$U1,1_1_1,[0-9]+,1735660019636,1735660019726,-1\$" "$O/sequences.csv"
}
check kvc_edge_missing_key_code missing_code
check kvc_edge_mapped_missing bash -c "grep -F ',95,,,1735660019336.0,' '$O/keypairs_mapped.csv' | grep -q ',desktop,-1,-1\$'"
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c 'import numpy' 2>/dev/null; then
  "$PY" tests/interop/npy_check.py kvc "$KP" "$O" | sed 's/^\(PASS\|FAIL\) /\1 kvc_edge_/'
  check kvc_edge_npy_missing_key "$PY" -c "
import numpy as np
d = np.load('$O/test_platform_2/train.npy', allow_pickle=True).item()
a = d['$U1']['1_1_1']
rows = a.tolist()
assert [1735660019336, 1735660019416, -1] in rows and [1735660019636, 1735660019726, -1] in rows, rows[90:100]
"
else
  skip kvc_edge_npy "NumPy is not installed for /usr/bin/python3"
fi
