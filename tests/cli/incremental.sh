#!/usr/bin/env bash
# Incremental processing through the command line (spec 05 §6.4), with the default output
# formats (Parquet + CSV): a weekly snapshot B that gains users, loses one and changes one
# file is run (a) incrementally on top of the version of snapshot A and (b) from scratch.
# Every data file must be byte-identical, JSON equal except volatile keys, and the stage
# records must say how many users were reused.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
suite_setup t

"$BIN" synth --users 14 --seed 5 "$t/a" >/dev/null 2>&1 || { fail incr/synth "synth failed"; exit 0; }
"$BIN" synth --users 3 --seed 99 "$t/extra" >/dev/null 2>&1 || { fail incr/synth "synth failed"; exit 0; }
mkdir -p "$t/b"
cp "$t"/a/* "$t/b/"
cp "$t"/extra/* "$t/b/"
# lose the first user, change one keystroke file of the last complete-looking user
first=$(ls "$t/a" | grep -oE '^[0-9a-f]{32}' | sort -u | head -n 1)
rm -f "$t"/b/*"$first"*
victim=$(ls "$t/b" | grep -E '^f_[0-9a-f]{32}_0\.csv$' | tail -n 1)
printf 'P,x,1735660999000\nR,x,1735660999090\n' >>"$t/b/$victim"

run() { "$BIN" run --quiet "$@" >>"$t/log" 2>&1; }
run --source "$t/a" --artifacts-dir "$t/inc" || { fail incr/run-a "$(tail -n 2 "$t/log")"; exit 0; }
run --source "$t/b" --artifacts-dir "$t/inc" || { fail incr/run-b "$(tail -n 2 "$t/log")"; exit 0; }
run --source "$t/b" --artifacts-dir "$t/scratch" --no-incremental || { fail incr/run-scratch "$(tail -n 2 "$t/log")"; exit 0; }

vinc=$("$BIN" versions current --set ARTIFACTS_DIR="$t/inc")
vscr=$("$BIN" versions current --set ARTIFACTS_DIR="$t/scratch")
A=$t/inc/$vinc; B=$t/scratch/$vscr

diffs=$(cd "$B" && find . -type f \( -name '*.csv' -o -name '*.parquet' -o -name '*.npy' -o -name '*.txt' \) \
        -not -path './logs/*' -not -path './raw_data/*' | sort | while read -r f; do cmp -s "$f" "$A/$f" || echo "$f"; done)
nfiles=$(cd "$B" && find . -type f \( -name '*.csv' -o -name '*.parquet' \) | wc -l)
if [ -z "$diffs" ] && [ "$nfiles" -gt 20 ]; then pass "incr/data_files_identical ($nfiles tables)"
else fail incr/data_files_identical "differ: $(echo $diffs | cut -c1-300)"; fi

jsondiff=$(/usr/bin/env python3 - "$A" "$B" <<'PY'
import json, os, sys
VOL = {"timestamp", "start_time", "end_time", "extraction_time", "processing_time", "total_time",
       "duration_seconds", "version_id", "input_dir", "output_dir", "destination", "data_paths",
       "incremental", "source"}
def strip(o):
    if isinstance(o, dict): return {k: strip(v) for k, v in o.items() if k not in VOL}
    if isinstance(o, list): return [strip(v) for v in o]
    return o
a, b = sys.argv[1], sys.argv[2]
bad = []
for root, _, files in os.walk(b):
    for f in files:
        if not f.endswith(".json") or "/logs" in root or "raw_data" in root: continue
        rel = os.path.relpath(os.path.join(root, f), b)
        x = strip(json.load(open(os.path.join(a, rel))))
        y = strip(json.load(open(os.path.join(b, rel))))
        if x != y: bad.append(rel)
print(" ".join(bad))
PY
)
[ -z "$jsondiff" ] && pass incr/json_equal_except_volatile || fail incr/json_equal_except_volatile "$jsondiff"

rec=$("$BIN" versions show "$vinc" --set ARTIFACTS_DIR="$t/inc")
reused=$(echo "$rec" | python3 -c 'import json,sys; r=json.load(sys.stdin); s=r["stages"]; print(s["clean_data"]["stats"]["incremental"]["reused_users"], s["extract_keypairs"]["stats"]["incremental"]["reused_users"], r["metadata"].get("base_version") is not None)' 2>&1)
set -- $reused
if [ "${1:-0}" -ge 10 ] && [ "${2:-0}" -ge 1 ] && [ "${3:-}" = True ]; then pass "incr/stage_records_reuse (clean $1, keypairs $2 users reused)"
else fail incr/stage_records_reuse "got: $reused"; fi

# A growing upload folder (the same RAW_SOURCE every week): download takes the sha256 of
# files whose name, size and mtime equal the base manifest entry instead of reading them
# (01 §3.2 step 4); the manifest's file list must equal a from-scratch one.
g=$t/grow
"$BIN" synth --users 10 --seed 21 "$g/src" >/dev/null 2>&1
"$BIN" synth --users 2 --seed 22 "$g/new" >/dev/null 2>&1
"$BIN" run --source "$g/src" --artifacts-dir "$g/inc" --quiet >>"$t/log" 2>&1
changed=$(ls "$g/src" | grep -E '^i_[0-9a-f]{32}_1\.csv$' | head -n 1)   # an existing user's file
cp "$g"/new/* "$g/src/"
printf 'P,y,1735660999000\nR,y,1735660999080\n' >>"$g/src/$changed"
"$BIN" run --source "$g/src" --artifacts-dir "$g/inc" --log-level INFO >"$g/inc.log" 2>&1
"$BIN" run --source "$g/src" --artifacts-dir "$g/scr" --no-incremental --quiet >>"$t/log" 2>&1
ga=$g/inc/$("$BIN" versions current --set ARTIFACTS_DIR="$g/inc"); gb=$g/scr/$("$BIN" versions current --set ARTIFACTS_DIR="$g/scr")
total=$(ls "$g/src" | wc -l); new=$(ls "$g/new" | wc -l)
want=$((total - new - 1))
if grep -q "download .*| $want of $total files unchanged since base version" "$g/inc.log"; then
  pass "incr/download_reuses_base_hashes ($want of $total files not re-read)"
else
  fail incr/download_reuses_base_hashes "expected $want of $total reused: $(grep -m1 'unchanged since' "$g/inc.log")"
fi
same=$(python3 -c "import json,sys; a,b=(json.load(open(p+'/etl_metadata/download/manifest.json'))['files'] for p in sys.argv[1:3]); print(a==b and len(a)==int(sys.argv[3]))" "$ga" "$gb" "$total")
[ "$same" = True ] && pass incr/download_manifest_equals_scratch || fail incr/download_manifest_equals_scratch "file lists differ"
d=$(cd "$gb" && find . -type f \( -name '*.csv' -o -name '*.parquet' -o -name '*.npy' \) -not -path './raw_data/*' | sort |
    while read -r f; do cmp -s "$f" "$ga/$f" || echo "$f"; done)
[ -z "$d" ] && pass incr/grown_folder_data_identical || fail incr/grown_folder_data_identical "$d"
