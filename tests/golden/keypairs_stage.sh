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
STAGE_BIN=${KEYETL_STAGE_BIN:-build/keyetl-stage}
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
  "$STAGE_BIN" --artifacts-dir "$art" --version-id "$vid" -s keypairs --output-formats csv --quiet "$@" >/dev/null 2>"$art/$vid.err"
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
tmp=$(mktmp)
trap 'rm -rf "$tmp"' EXIT

# ---- synthetic layout: worked example (02 §9), read error, devices, partitions ---------------
U=0123456789abcdef0123456789abcdef
V=fedcba9876543210fedcba9876543210
worked="$tmp/syn/v/cleaned_data/desktop/raw_data/$U"
mkdir -p "$worked" "$tmp/syn/v/cleaned_data/mobile/raw_data/batch_001/$U" "$tmp/syn/v/cleaned_data/desktop/raw_data/batch_002/$V"
printf 'Press or Release,Key,Time\nP,a,100\nP,a,150\nP,a,200\nR,a,260\nP,b,300\nR,b,380\nR,c,390\nP,d,400\nR,d,350\nP,",410\nR,",470\nP,,,480\nR,,,530\nP;e;545\nP,T,560\nR,t,580\np,q,610\nP,,620\nR,,700\nP,z,1.7e3x\n\nP,NA,720\nR,NA,790\n' >"$worked/1_1_1_$U.csv"
ln -s /nonexistent/file "$worked/1_1_2_$U.csv"             # unreadable: file_read_error
printf 'x\n' >"$worked/notes.txt"; printf 'x\n' >"$worked/1_1_$U.csv"  # not keystroke files
printf 'P,m,1\nR,m,2\nP,n,3\nR,n,4\n' >"$tmp/syn/v/cleaned_data/mobile/raw_data/batch_001/$U/2_1_1_$U.csv"
printf 'P,k,1\nR,k,2\nP,l,3\n' >"$tmp/syn/v/cleaned_data/desktop/raw_data/batch_002/$V/3_1_1_$V.csv"
if "$STAGE_BIN" --artifacts-dir "$tmp/syn" --version-id v -s keypairs --output-formats csv --device-types desktop,mobile --quiet >/dev/null 2>"$tmp/syn/err"; then
  kp="$tmp/syn/v/keypairs/keypairs.csv"; meta="$tmp/syn/v/etl_metadata/keypairs"
  # rows: U desktop (worked example, 10 rows), U mobile (1 row), then V (1 row, invalid)
  order=$("$PY" -c 'import csv,sys,itertools; r=list(csv.reader(open(sys.argv[1],newline="")))[1:]; print(" ".join("%d:%s,%s" % (len(list(g)), k[0], k[1]) for k, g in itertools.groupby(r, key=lambda x: (x[0], x[19]))), end=" ")' "$kp")
  want="10:$U,desktop 1:$U,mobile 1:$V,desktop "
  if [ "$order" = "$want" ]; then pass keypairs_stage/synthetic_order; else fail keypairs_stage/synthetic_order "got '$order'"; fi
  if grep -q "\"Read error in 1_1_2_$U.csv: No such file or directory\"" "$meta/processing_log.json" &&
     tr -d ' \n' <"$meta/extraction_stats.json" | grep -q '"error_distribution":{"Missingkey1release;Missingkey2release":1,"Missingkey1release":1,"Missingkey2press(orphanrelease)":1,"Missingkey1press(orphanrelease)":1,"NegativeHoldLatency":1,"file_read_error":1,"Missingkey2release":1},"user_count":3}' &&
     tr -d ' \n' <"$meta/extraction_stats.json" | grep -q '"total_files":4,"processed_files":4,"skipped_files":0,"total_keypairs":12,"valid_keypairs":6,"invalid_keypairs":6,"validity_rate":50.0,"malformed_rows":3,"outlier_keypairs":2'; then
    pass keypairs_stage/synthetic_read_error_and_counters
  else
    fail keypairs_stage/synthetic_read_error_and_counters "$(tr -d '\n' <"$meta/extraction_stats.json")"
  fi
  # a rerun replaces both folders: processing_log.json (no read error any more) disappears
  rm "$worked/1_1_2_$U.csv" "$tmp/syn/v/cleaned_data/desktop/raw_data/batch_002/$V/3_1_1_$V.csv"
  "$STAGE_BIN" --artifacts-dir "$tmp/syn" --version-id v -s keypairs --output-formats csv --quiet >/dev/null 2>&1
  if [ ! -e "$meta/processing_log.json" ] && [ -e "$meta/invalid_sequences.csv" ] && [ ! -e "$tmp/syn/v/.keypairs.partial" ] &&
     [ "$(ls "$tmp/syn/v/keypairs")" = keypairs.csv ]; then
    pass keypairs_stage/synthetic_rerun_replaces_outputs
  else
    fail keypairs_stage/synthetic_rerun_replaces_outputs "$(ls -a "$meta" "$tmp/syn/v" | tr '\n' ' ')"
  fi
else
  fail keypairs_stage/synthetic "keyetl failed: $(tail -n 2 "$tmp/syn/err" | tr '\n' ' ')"
fi

need_shared keypairs_stage || exit 0

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
