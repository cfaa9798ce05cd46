#!/usr/bin/env bash
# keypairs stage on the shared golden data (fpd-dev, edge).
#
# The clean stage is not needed: a small fixture builder lays out cleaned_data/ the way
# 01 §1 / §4 define it, from the raw snapshot and the expected complete-user list:
#   <p>_<uid>_<seq>.csv (seq <= 17, letter = "fit"[seq mod 3])
#     -> cleaned_data/desktop/raw_data/<uid>/<platform>_<video>_<session>_<uid>.csv
# Then `keyetl run -s keypairs --output-formats csv` and compare.py on the keypairs,
# invalid, malformed and json categories (the cleaning_report json is not produced here,
# so only the extraction_stats line of the json category is checked). Also checks that
# PARALLEL_WORKERS / BATCH_SIZE / the partitioned layout do not change a single byte.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
BIN=${KEYETL_BIN:-build/keyetl}
PY=/usr/bin/python3

build_layout() { # set_dir version_dir [partition_batch_size]
  local set=$1 vdir=$2 part=${3:-0}
  "$PY" - "$set" "$vdir" "$part" <<'PYEOF'
import os, re, shutil, sys
set_dir, vdir, part = sys.argv[1], sys.argv[2], int(sys.argv[3])
users = [l.strip() for l in open(os.path.join(set_dir, "expected/cleaned_data/desktop/metadata/complete_users.txt")) if l.strip()]
raw = os.path.join(set_dir, "web_app_data")
names = sorted(os.listdir(raw))
for i, uid in enumerate(sorted(users)):
    sub = "batch_%03d/%s" % (i // part + 1, uid) if part else uid
    dst = os.path.join(vdir, "cleaned_data/desktop/raw_data", sub)
    os.makedirs(dst, exist_ok=True)
    pat = re.compile(r"^([fit])_%s_(0|[1-9][0-9]*)\.csv$" % uid)
    for n in names:
        m = pat.match(n)
        if not m:
            continue
        seq = int(m.group(2))
        if seq > 17 or m.group(1) != "fit"[seq % 3]:
            continue
        p, v, s = seq % 3 + 1, (seq // 3) % 3 + 1, seq // 9 + 1
        shutil.copyfile(os.path.join(raw, n), os.path.join(dst, "%d_%d_%d_%s.csv" % (p, v, s, uid)))
PYEOF
}

# The edge golden keypairs.csv holds the invalid-UTF-8 key 0xDC as a raw byte (CASES #8),
# but 04 §1 requires the fallback rule (0xDC -> U+00DC, C3 9C) for every string written. We
# compare with a copy of the expected tables to which that rule has been applied; files that
# are valid UTF-8 are used as they are.
expected_utf8() { # expected_dir scratch_dir -> prints the dir to compare with
  "$PY" - "$1" "$2" <<'PYEOF'
import os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
changed = False
for rel in ("keypairs/keypairs.csv", "etl_metadata/keypairs/invalid_sequences.csv",
            "etl_metadata/keypairs/malformed_rows.csv"):
    p = os.path.join(src, rel)
    if not os.path.exists(p):
        continue
    b = open(p, "rb").read()
    try:
        b.decode("utf-8")
        continue
    except UnicodeDecodeError:
        pass
    if not changed:
        shutil.copytree(src, dst)
        changed = True
    t = b.decode("utf-8", "surrogateescape")
    t = "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in t)
    open(os.path.join(dst, rel), "wb").write(t.encode("utf-8"))
print(dst if changed else src)
PYEOF
}

run_kp() { # artifacts version extra-args...
  local art=$1 vid=$2; shift 2
  "$BIN" run --artifacts-dir "$art" --version-id "$vid" -s keypairs --output-formats csv --quiet "$@" >/dev/null 2>"$art/$vid.err"
}

same_outputs() { # dirA dirB
  for f in keypairs/keypairs.csv etl_metadata/keypairs/invalid_sequences.csv etl_metadata/keypairs/malformed_rows.csv; do
    if [ -e "$1/$f" ] || [ -e "$2/$f" ]; then cmp -s "$1/$f" "$2/$f" || { echo "$f differs"; return 1; }; fi
  done
  # extraction_stats.json: identical except the volatile keys (timestamp, version id, paths).
  diff <(grep -vE '"(timestamp|version_id|input_dir|output_dir)"' "$1/etl_metadata/keypairs/extraction_stats.json") \
       <(grep -vE '"(timestamp|version_id|input_dir|output_dir)"' "$2/etl_metadata/keypairs/extraction_stats.json") >/dev/null \
    || { echo "extraction_stats.json differs"; return 1; }
}

if [ ! -x "$BIN" ]; then skip keypairs_stage "binary $BIN not built"; exit 0; fi
need_shared keypairs_stage || exit 0
tmp=$(mktmp)
trap 'rm -rf "$tmp"' EXIT

for set in fpd-dev edge; do
  sd=$KEYETL_SHARED/data/$set
  if [ ! -d "$sd/expected" ]; then skip "keypairs_stage/$set" "$sd missing"; continue; fi
  build_layout "$sd" "$tmp/$set/v"
  if ! run_kp "$tmp/$set" v; then
    fail "keypairs_stage/$set" "keyetl failed: $(tail -n 2 "$tmp/$set/v.err" | tr '\n' ' ')"; continue
  fi
  exp=$(expected_utf8 "$sd/expected" "$tmp/$set/expected")
  out=$("$PY" "$KEYETL_SHARED/tools/compare.py" "$exp" "$tmp/$set/v" --only keypairs,invalid,malformed,json 2>&1)
  # The json category also lists cleaning_report.json, which this stage does not write.
  rel=$(echo "$out" | grep -E '^(PASS|FAIL) ' | grep -v 'cleaning_report.json')
  nfail=$(echo "$rel" | grep -c '^FAIL ')
  npass=$(echo "$rel" | grep -c '^PASS ')
  if [ "$nfail" -eq 0 ] && [ "$npass" -ge 3 ]; then
    pass "keypairs_stage/$set ($npass tables)"
  else
    fail "keypairs_stage/$set" "$(echo "$out" | grep -v '^PASS' | head -n 8 | tr '\n' ' ')"
  fi

  # Byte-identical for workers / batch sizes / partitioned layout.
  ok=1; why=""
  for args in "--set PARALLEL_WORKERS=1 --set BATCH_SIZE=1" "--set PARALLEL_WORKERS=2 --set BATCH_SIZE=100" \
              "--set PARALLEL_WORKERS=2 --set BATCH_SIZE=3"; do
    vid=w$(echo "$args" | tr -dc '0-9')
    mkdir -p "$tmp/$set/$vid" && cp -r "$tmp/$set/v/cleaned_data" "$tmp/$set/$vid/"
    # shellcheck disable=SC2086
    run_kp "$tmp/$set" "$vid" $args || { ok=0; why="run $args failed"; break; }
    r=$(same_outputs "$tmp/$set/v" "$tmp/$set/$vid") || { ok=0; why="$args: $r"; break; }
  done
  if [ $ok = 1 ]; then
    build_layout "$sd" "$tmp/$set/part" 2
    if run_kp "$tmp/$set" part; then
      r=$(same_outputs "$tmp/$set/v" "$tmp/$set/part") || { ok=0; why="partitioned layout: $r"; }
    else ok=0; why="partitioned run failed"; fi
  fi
  if [ $ok = 1 ]; then pass "keypairs_stage/$set/deterministic"; else fail "keypairs_stage/$set/deterministic" "$why"; fi
done
