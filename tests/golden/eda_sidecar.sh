#!/usr/bin/env bash
# eda from the keypairs quality-scan sidecar (etl_metadata/keypairs/eda_quality_scan.tsv):
# analysis_results.json and report.html must be byte-identical (timestamps aside) whether eda
# replays the sidecar or scans the keystroke files. On the edge and fpd-dev snapshots, on
# fpd-dev with added traps (a file id > 2^31-1 that keypairs ignores but eda reads, the same
# user folder plain and in a batch_0 partition), with other DEVICE_TYPES (falls back), and
# after an incremental run (reused users' records carried from the base: same sidecar bytes
# as a from-scratch run).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
suite_setup t
SCF=etl_metadata/keypairs/eda_quality_scan.tsv

strip() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}/TS/g' "$1"; }
eda() { "$BIN" run --source "$1" --artifacts-dir "$2" --version-id v -s eda --mode full --quiet "${@:3}" >>"$t/log" 2>&1; }
# both_paths NAME SRC ART [--set ...]: eda with the sidecar, then without; outputs must match
both_paths() {
  local name=$1 src=$2 art=$3; shift 3
  local d=$art/v/eda_reports/data_quality
  if [ ! -s "$art/v/$SCF" ]; then fail "$name/sidecar_written" "no $SCF"; return; fi
  eda "$src" "$art" "$@" || { fail "$name/eda" "$(tail -n 2 "$t/log" | tr '\n' ' ')"; return; }
  grep -q "quality scan from the keypairs sidecar" "$art/v/logs/"* || { fail "$name/sidecar_used" "log says no"; return; }
  cp "$d/analysis_results.json" "$t/with.json"; cp "$d/report.html" "$t/with.html"
  mv "$art/v/$SCF" "$t/sc.bak"
  eda "$src" "$art" "$@" || { fail "$name/eda_scan" "$(tail -n 2 "$t/log" | tr '\n' ' ')"; return; }
  mv "$t/sc.bak" "$art/v/$SCF"
  if cmp -s <(strip "$t/with.json") <(strip "$d/analysis_results.json") &&
     cmp -s <(strip "$t/with.html") <(strip "$d/report.html"); then
    pass "$name/identical_with_and_without_sidecar"
  else
    fail "$name/identical_with_and_without_sidecar" "$(diff <(strip "$t/with.json") <(strip "$d/analysis_results.json") | head -n 4 | tr '\n' ' ')"
  fi
}
pipeline() { "$BIN" run --source "$1" --artifacts-dir "$2" --version-id v -s download -s clean -s keypairs --mode full --quiet >>"$t/log" 2>&1; }

if need_shared eda_sidecar/shared; then
  for ds in edge fpd-dev; do
    if pipeline "$KEYETL_SHARED/data/$ds/web_app_data" "$t/$ds"; then
      both_paths "eda_sidecar/$ds" "$KEYETL_SHARED/data/$ds/web_app_data" "$t/$ds"
    else fail "eda_sidecar/$ds/run" "$(tail -n 2 "$t/log" | tr '\n' ' ')"; fi
  done
  # traps, on a copy of the fpd-dev version: rerun keypairs after editing cleaned_data
  src=$KEYETL_SHARED/data/fpd-dev/web_app_data
  if [ -d "$t/fpd-dev/v" ]; then
    raw=$t/fpd-dev/v/cleaned_data/desktop/raw_data
    u=$(ls "$raw" | sort | tail -n 1); f=$(ls "$raw/$u" | grep -E '\.csv$' | head -n 1)
    big="9999999999_${f#*_}"
    printf 'Press or Release,Key,Time\nP,a,100\nP,a,110\nR,z,120\nP,\t%%,130\n' >"$raw/$u/$big"
    mkdir -p "$raw/batch_0/$u"
    printf 'Press or Release,Key,Time\nP,q,5\n' >"$raw/batch_0/$u/$f"
    if "$BIN" run --source "$src" --artifacts-dir "$t/fpd-dev" --version-id v -s keypairs --mode full --quiet >>"$t/log" 2>&1; then
      if grep -q "^R	$big	double_press:1,orphan_release:1	2$" "$t/fpd-dev/v/$SCF"; then pass eda_sidecar/traps/big_id_recorded
      else fail eda_sidecar/traps/big_id_recorded "no entry for $big"; fi
      both_paths eda_sidecar/traps "$src" "$t/fpd-dev"
      if grep -q "\"${u}_$big\"" "$t/fpd-dev/v/eda_reports/data_quality/analysis_results.json"; then
        pass eda_sidecar/traps/big_id_in_results
      else fail eda_sidecar/traps/big_id_in_results "unreleased keys of $big missing"; fi
      eda "$src" "$t/fpd-dev" --set DEVICE_TYPES=desktop,mobile
      if grep -q "scanning the keystroke files: .*other DEVICE_TYPES" "$t/fpd-dev/v/logs/"*; then pass eda_sidecar/device_types_fallback
      else fail eda_sidecar/device_types_fallback "no fallback logged"; fi
    else fail eda_sidecar/traps/keypairs "$(tail -n 2 "$t/log" | tr '\n' ' ')"; fi
  fi
fi

# incremental: the carried sidecar equals a from-scratch one
"$BIN" synth --users 8 --seed 5 "$t/sa" >/dev/null 2>&1 && "$BIN" synth --users 2 --seed 99 "$t/sx" >/dev/null 2>&1 ||
  { fail eda_sidecar/incr/synth "synth failed"; exit 0; }
mkdir -p "$t/sb"; cp "$t"/sa/* "$t/sb/"; cp "$t"/sx/* "$t/sb/"
run() { "$BIN" run --quiet --output-formats parquet "$@" >>"$t/log" 2>&1; }
if run --source "$t/sa" --artifacts-dir "$t/inc" && run --source "$t/sb" --artifacts-dir "$t/inc" &&
   run --source "$t/sb" --artifacts-dir "$t/scr" --no-incremental; then
  vi=$("$BIN" versions current --set ARTIFACTS_DIR="$t/inc"); vs=$("$BIN" versions current --set ARTIFACTS_DIR="$t/scr")
  if [ -s "$t/inc/$vi/$SCF" ] && cmp -s "$t/inc/$vi/$SCF" "$t/scr/$vs/$SCF"; then
    pass eda_sidecar/incr/carried_equals_scratch
  else fail eda_sidecar/incr/carried_equals_scratch "sidecars differ or absent"; fi
  if grep -q "quality scan from the keypairs sidecar" "$t/inc/$vi/logs/"*; then pass eda_sidecar/incr/used
  else fail eda_sidecar/incr/used "eda did not use the carried sidecar"; fi
else fail eda_sidecar/incr/run "$(tail -n 2 "$t/log" | tr '\n' ' ')"; fi
