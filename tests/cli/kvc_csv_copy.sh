#!/usr/bin/env bash
# keypairs_mapped.csv is built from the lines of keypairs.csv plus the two code columns
# (stage_kvc.c). Checks: the result equals the formatting path byte for byte (a keypairs.csv
# with a foreign header is not copied but formatted), and a keypairs.csv that disagrees with
# the table fails the stage with a clear message instead of writing wrong rows.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
STAGE_BIN=${KEYETL_STAGE_BIN:-build/keyetl-stage}
suite_setup t
"$BIN" synth --users 6 --seed 8 "$t/s" >/dev/null 2>&1
"$BIN" run --source "$t/s" --artifacts-dir "$t/a" --version-id v --quiet -s download -s clean -s keypairs \
  --mode full >"$t/log" 2>&1 || { fail kvc_copy/setup "$(tail -n 2 "$t/log")"; exit 0; }
"$STAGE_BIN" --artifacts-dir "$t/a" --version-id v -s kvc >"$t/log" 2>&1 || { fail kvc_copy/run "$(tail -n 2 "$t/log")"; exit 0; }
cp "$t/a/v/kvc_features/keypairs_mapped.csv" "$t/copied.csv"
# a header keyetl did not write: the rows are formatted from the table instead
kp=$t/a/v/keypairs/keypairs.csv
cp "$kp" "$t/kp.orig"
{ echo "user_id,something_else"; tail -n +2 "$t/kp.orig"; } >"$kp"
"$STAGE_BIN" --artifacts-dir "$t/a" --version-id v -s kvc >"$t/log" 2>&1
if cmp -s "$t/a/v/kvc_features/keypairs_mapped.csv" "$t/copied.csv"; then pass kvc_copy/equals_formatted
else fail kvc_copy/equals_formatted "copied and formatted keypairs_mapped.csv differ"; fi
# a row of another user: the stage fails and names the file and line
awk 'NR==5{sub(/^[0-9a-f]+/,"ffffffffffffffffffffffffffffffff")}1' "$t/kp.orig" >"$kp"
if "$STAGE_BIN" --artifacts-dir "$t/a" --version-id v -s kvc >"$t/log" 2>&1; then
  fail kvc_copy/mismatch_fails "stage succeeded on a keypairs.csv that disagrees with the table"
elif grep -q "keypairs.csv line 5 does not match the keypairs table" "$t/log"; then pass kvc_copy/mismatch_fails
else fail kvc_copy/mismatch_fails "$(tail -n 1 "$t/log")"; fi
