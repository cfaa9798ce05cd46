#!/usr/bin/env bash
# keyetl benchmark: the whole pipeline (download -> top_il, plus kvc and eda) on synthetic
# snapshots of 10, 100, 1,000 and 10,000 users and on the fpd-dev snapshot, with
# Parquet+CSV and with Parquet only. Each stage runs as its own process (`-s STAGE` on the
# same version) so wall time, CPU time and peak RSS are measured per stage, and in total.
# Then the same pipeline runs once more as one `keyetl run` process (the way a user runs
# it), for the end-to-end column. Results go to bench/results/<date>.md together with the
# machine description and the Python pipeline's published table.
#
# The file system is settled (sync + a pause) after generating a snapshot and after
# deleting artifacts: ext4 writes back and frees hundreds of thousands of inodes in the
# background, and linking the same inodes meanwhile measured up to 2x slower.
#
#   bench/run.sh [--sizes "10 100 1000 10000"] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build/keyetl
sizes="10 100 1000 10000"
out=bench/results/$(date +%Y-%m-%d).md
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/run.sh [--sizes LIST] [--out FILE]"; exit 2 ;;
  esac
done
work=${BENCH_WORK:-$PWD/bench/work}
rm -rf "$work"; mkdir -p "$work"
stages="download clean keypairs kvc features top_il eda"
settle() { sync; sleep "${BENCH_SETTLE:-15}"; }

# measure LABEL FORMATS SOURCE: runs each stage, appends a table row per stage + total.
measure() {
  local label=$1 formats=$2 src=$3
  local art=$work/art-$label-${formats//,/+}
  rm -rf "$art"
  local tw=0 tc=0 tr=0 st wall cpu rss
  local row="| $label | $formats |"
  for st in $stages; do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
      "$BIN" run --source "$src" --artifacts-dir "$art" --version-id b --mode full -s "$st" \
      --output-formats "$formats" --quiet --set BATCH_SIZE=100 >"$work/run.log" 2>&1 ||
      { echo "stage $st failed for $label ($formats):"; tail -5 "$work/run.log"; return 1; }
    read -r wall u s rss <"$work/time.txt"
    cpu=$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a+b}')
    tw=$(awk -v a="$tw" -v b="$wall" 'BEGIN{printf "%.2f", a+b}'); tc=$(awk -v a="$tc" -v b="$cpu" 'BEGIN{printf "%.2f", a+b}')
    [ "$rss" -gt "$tr" ] && tr=$rss
    row="$row ${wall}s / ${cpu}s / $((rss / 1024))MB |"
  done
  rm -rf "$art"; settle
  local one=$work/one-$label-${formats//,/+}
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
    "$BIN" run --source "$src" --artifacts-dir "$one" --mode full --output-formats "$formats" --quiet \
    --set BATCH_SIZE=100 >"$work/run.log" 2>&1 || { echo "one-process run failed for $label:"; tail -5 "$work/run.log"; return 1; }
  read -r wall u s rss <"$work/time.txt"
  cpu=$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a+b}')
  rm -rf "$one"; settle
  echo "$row **${tw}s** / ${tc}s / $((tr / 1024))MB | **${wall}s** / ${cpu}s / $((rss / 1024))MB |" >>"$work/rows.md"
  echo "$label $formats stages total wall ${tw}s cpu ${tc}s peak ${tr}KB; one process ${wall}s"
}

: >"$work/rows.md"
for n in $sizes; do
  "$BIN" synth --users "$n" --seed 42 "$work/snap-$n" >/dev/null
  settle
  src="$work/snap-$n"; [ -d "$src/web_app_data" ] && src="$src/web_app_data"
  measure "synth-$n" parquet,csv "$src"
  measure "synth-$n" parquet "$src"
done
if [ -n "${KEYETL_SHARED:-}" ] || [ -d ../shared/data/fpd-dev ]; then
  shared=${KEYETL_SHARED:-../shared}
  measure fpd-dev parquet,csv "$shared/data/fpd-dev/web_app_data"
  measure fpd-dev parquet "$shared/data/fpd-dev/web_app_data"
fi

{
  echo "# keyetl benchmark, $(date +%Y-%m-%d)"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)."
  echo "keyetl $("$BIN" --version | cut -d' ' -f2-), BATCH_SIZE=100, PARALLEL_WORKERS=$(nproc) (default)."
  echo "Stage columns: each stage run as its own process (\`-s STAGE\` on one version); 'stages total'"
  echo "is their sum. 'one process': the whole pipeline as one \`keyetl run\` (end to end, as users run it)."
  echo "Cells are wall / CPU (user+sys) / peak RSS."
  echo
  echo "| data | formats | download | clean | keypairs | kvc | features | top_il | eda | stages total | one process |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$work/rows.md"
  echo
  echo "## The Python pipeline, for comparison"
  echo
  echo "Published scalability table of the Python pipeline: 10 users 5 s; 100 users 50 s (optimized 30 s,"
  echo "distributed 20 s); 1,000 users 8–10 min (3–4 min, 1–2 min); 10,000 users 1–2 h (15–20 min,"
  echo "5–10 min). On this machine class it needs 235 s for the real 61-user snapshot V0907 (clean 0.8 s,"
  echo "keypairs 29 s, features 203 s, top-k 1.4 s) and 550 MB of memory."
} >"$out"
echo "results written to $out"
