#!/usr/bin/env bash
# Golden end-to-end test: the whole pipeline on the shared snapshots (fpd-dev, edge) must
# reproduce every table of their expected/ trees (compare.py: "N passed, 0 failed"), and
# two runs with different worker/batch settings must give byte-identical data files.
set -u
. "$(dirname "$0")/../lib.sh"
BIN=${KEYETL_BIN:-build/keyetl}

golden() {
  local set=$1
  need_shared "golden/$set" || return 0
  local t; t=$(mktmp)
  if ! "$BIN" run --source "$KEYETL_SHARED/data/$set/web_app_data" --artifacts-dir "$t/a" \
       --version-id v --quiet >"$t/run.log" 2>&1; then
    fail "golden/$set/run" "keyetl run failed: $(tail -n 3 "$t/run.log" | tr '\n' ' ')"
    rm -rf "$t"; return
  fi
  pass "golden/$set/run"
  local exp
  exp=$(python3 "$(dirname "$0")/expected_utf8.py" "$KEYETL_SHARED/data/$set/expected" "$t/expected")
  python3 "$KEYETL_SHARED/tools/compare.py" "$exp" "$t/a/v" >"$t/cmp.txt" 2>&1
  while read -r status cat path rest; do
    path=${path%:}
    case "$status" in
      PASS) pass "golden/$set/$path" ;;
      FAIL) fail "golden/$set/$path" "$(grep -A3 " $path:" "$t/cmp.txt" | sed -n '2,4p' | tr '\n' ' ' | cut -c1-400)" ;;
    esac
  done < <(grep -E '^(PASS|FAIL) ' "$t/cmp.txt")
  tail -n 1 "$t/cmp.txt" | grep -qE '^[0-9]+ passed, 0 failed$' || fail "golden/$set/compare" "$(tail -n 1 "$t/cmp.txt")"

  # Every JSON file: strict RFC 8259 (NaN/Infinity rejected) and exactly the 04 §6 layout,
  # which is what Python's json.dumps(indent=2, ensure_ascii=True) produces.
  local jbad
  jbad=$(python3 - "$t/a/v" <<'PY'
import json, os, sys
def no_const(c): raise ValueError("non-finite number " + c)
bad = []
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith(".json"): continue
        p = os.path.join(root, f); t = open(p, encoding="utf-8").read()
        try:
            ok = json.dumps(json.loads(t, parse_constant=no_const), indent=2, ensure_ascii=True) == t
        except ValueError as e:
            ok = False
        if not ok: bad.append(os.path.relpath(p, sys.argv[1]))
print(" ".join(bad))
PY
)
  if [ -z "$jbad" ]; then pass "golden/$set/json_strict_and_layout"; else fail "golden/$set/json_strict_and_layout" "$jbad"; fi

  # Parquet and CSV twins hold identical values (04 §5): keyetl's own reader converts each
  # Parquet table back to CSV, which must equal the CSV written next to it byte for byte.
  local pq n=0 bad=""
  while read -r pq; do
    n=$((n + 1))
    "$BIN" convert "$pq" "$t/twin.csv" >/dev/null 2>&1 && cmp -s "$t/twin.csv" "${pq%.parquet}.csv" || bad="$bad ${pq#$t/a/v/}"
  done < <(find "$t/a/v" -name '*.parquet' | sort)
  if [ "$n" -ge 8 ] && [ -z "$bad" ]; then pass "golden/$set/parquet_equals_csv ($n tables)"
  else fail "golden/$set/parquet_equals_csv" "n=$n differing:$bad"; fi

  # Determinism across PARALLEL_WORKERS and BATCH_SIZE.
  "$BIN" run --source "$KEYETL_SHARED/data/$set/web_app_data" --artifacts-dir "$t/b" --version-id v --quiet \
     --set PARALLEL_WORKERS=1 --set BATCH_SIZE=1 >"$t/run2.log" 2>&1
  local diffs
  diffs=$(cd "$t/a/v" && find . -type f \( -name '*.csv' -o -name '*.parquet' -o -name '*.npy' -o -name '*.txt' \) \
          -not -path './logs/*' | sort | while read -r f; do cmp -s "$f" "$t/b/v/$f" || echo "$f"; done)
  if [ -z "$diffs" ]; then pass "golden/$set/deterministic_workers_batches"
  else fail "golden/$set/deterministic_workers_batches" "differ: $(echo $diffs | cut -c1-300)"; fi
  rm -rf "$t"
}

golden edge
golden fpd-dev

# The whole pipeline under AddressSanitizer + UBSan (leaks included) on the edge fixture.
asan_run() {
  need_shared "golden/edge/asan_pipeline" || return 0
  local bin=${KEYETL_BIN_ASAN:-build-asan/keyetl}
  [ -x "$bin" ] || { skip "golden/edge/asan_pipeline" "no ASan binary ($bin)"; return; }
  local t; t=$(mktmp)
  if "$bin" run --source "$KEYETL_SHARED/data/edge/web_app_data" --artifacts-dir "$t/a" --version-id v \
       --quiet >"$t/log" 2>&1 && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$t/log"; then
    pass "golden/edge/asan_pipeline"
  else
    fail "golden/edge/asan_pipeline" "$(grep -m3 -E 'Sanitizer|runtime error|FAIL' "$t/log" | tr '\n' ' ' | cut -c1-300)"
  fi
  rm -rf "$t"
}
asan_run
