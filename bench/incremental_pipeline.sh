#!/usr/bin/env bash
# Weekly-snapshot benchmark of the whole pipeline (05 §6.4): snapshot A = N synthetic users,
# B = A + M new users (hard links, as a growing upload folder). Runs `keyetl run --source B`
# (a) in an artifacts folder whose current version was built from A — the natural weekly
# run: a new full version that reuses A's unchanged users in clean and keypairs — and (b)
# from scratch in an empty artifacts folder, records per-stage wall times and the
# reused/processed counts, checks that every data table of (a) and (b) is identical, and
# writes bench/results/incremental-pipeline-<date>.md. It also measures the file-system floor
# the contract sets for any weekly run: `cp -al` of the snapshot (what download must create,
# 01 §3) and of the cleaned tree (what clean must create, 01 §5), added to the times of the
# four stages that recompute from the whole table (05 §6.4).
#
#   bench/incremental_pipeline.sh [N] [M] [FORMATS]      (defaults: 10000 500 parquet;
#   results of other FORMATS go to incremental-pipeline-<date>-<formats>.md)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
m=${2:-500}
formats=${3:-parquet}
make -j2 build/keyetl >/dev/null
BIN=$PWD/build/keyetl
tmp=${BENCH_WORK:-$(mktemp -d)}
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$BIN" synth --users "$n" --seed 3 "$tmp/A" >/dev/null
"$BIN" synth --users $((n + m)) --seed 3 "$tmp/C" >/dev/null
cp -al "$tmp/A" "$tmp/B"
(cd "$tmp/C" && for f in *; do [ -e "$tmp/A/$f" ] || ln "$f" "$tmp/B/$f"; done)
rm -rf "$tmp/C"

run() { # run ART SRC VID -> prints the run summary
  "$BIN" run --source "$2" --artifacts-dir "$1" --version-id "$3" --output-formats "$formats" \
    --set BATCH_SIZE=100 --quiet 2>/dev/null
}
# stage rows "| stage | seconds | reused | processed |" from a version's record
rows() {
  "$BIN" versions show "$2" --set "ARTIFACTS_DIR=$1" | /usr/bin/python3 -c '
import json, sys
rec = json.load(sys.stdin)
st = rec.get("stages", {})
for name in ["download_data", "clean_data", "extract_keypairs", "extract_kvc_features",
             "extract_features", "extract_top_il_features", "run_eda"]:
    s = st.get(name, {})
    inc = (s.get("stats") or {}).get("incremental") or {}
    print("| %s | %.2f | %s | %s |" % (name, s.get("duration_seconds", 0),
          inc.get("reused_users", "–"), inc.get("processed_users", "–")))
'
}
wall() { awk '/completed \(mode/ {for (i = 1; i <= NF; i++) if ($i == "in") print $(i + 1)}'; }

settle() { sync; sleep "${BENCH_SETTLE:-15}"; }
secs() { /usr/bin/python3 -c 'import sys, time, subprocess
t = time.monotonic(); subprocess.run(sys.argv[1:], check=True); print("%.2f" % (time.monotonic() - t))' "$@"; }
# seconds of the named stages in a version record
stage_sum() {
  "$BIN" versions show "$2" --set "ARTIFACTS_DIR=$1" | /usr/bin/python3 -c '
import json, sys
st = json.load(sys.stdin)["stages"]
print("%.2f" % sum(st[n]["duration_seconds"] for n in sys.argv[1:]))' "${@:3}"
}

run "$tmp/incr" "$tmp/A" a >/dev/null
settle
incr_wall=$(run "$tmp/incr" "$tmp/B" b | wall)
settle
full_wall=$(run "$tmp/full" "$tmp/B" b | wall)
settle
floor_raw=$(secs cp -al "$tmp/B" "$tmp/floor_raw")
settle
floor_clean=$(secs cp -al "$tmp/incr/b/cleaned_data" "$tmp/floor_clean")
recomputed=$(stage_sum "$tmp/incr" b extract_kvc_features extract_features extract_top_il_features run_eda)
floor=$(/usr/bin/python3 -c "import sys; print('%.1f' % sum(map(float, sys.argv[1:])))" "$floor_raw" "$floor_clean" "$recomputed")
same=identical
for d in cleaned_data keypairs statistical_features statistical_IL_top_10_features kvc_features \
  etl_metadata/keypairs; do
  diff -r --exclude='*.json' "$tmp/full/b/$d" "$tmp/incr/b/$d" >/dev/null || { same="DIFFERENT ($d)"; break; }
done

mkdir -p bench/results
suffix=; [ "$formats" = parquet ] || suffix=-${formats//,/-}
out=bench/results/incremental-pipeline-$(date +%Y-%m-%d)$suffix.md
{
  echo "# Weekly snapshot: whole pipeline, incremental vs from scratch ($(date +%Y-%m-%d))"
  echo
  echo "keyetl $("$BIN" --version | cut -d' ' -f2-), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')),"
  echo "OUTPUT_FORMATS=$formats, BATCH_SIZE=100, PARALLEL_WORKERS=$(nproc). Command: bench/incremental_pipeline.sh $n $m $formats."
  echo "Snapshot B = A ($n synthetic users) + $m new users; page cache warm."
  echo
  echo "Incremental (\`keyetl run --source B\` where the current version was built from A): **${incr_wall}**"
  echo
  echo "| stage | seconds | reused users | processed users |"
  echo "|---|---|---|---|"
  rows "$tmp/incr" b
  echo
  echo "From scratch (empty artifacts folder): **${full_wall}**"
  echo
  echo "| stage | seconds | reused users | processed users |"
  echo "|---|---|---|---|"
  rows "$tmp/full" b
  echo
  echo "Data files of both runs (cleaned_data, keypairs, feature tables, kvc_features, keypairs"
  echo "sidecars; JSON excluded: it carries version ids, paths and times): $same."
  echo
  echo "Contract floor of a weekly run (no run can be faster without changing the contract):"
  echo "\`cp -al\` of snapshot B ${floor_raw} s (the raw copy download must create) + \`cp -al\` of"
  echo "the cleaned tree ${floor_clean} s (the per-user layout clean must create) + kvc, features,"
  echo "top_il and eda of the incremental run ${recomputed} s (recomputed from the whole table) = **${floor} s**."
} >"$out"
cat "$out"
