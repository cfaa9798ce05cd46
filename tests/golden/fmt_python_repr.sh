#!/usr/bin/env bash
# kx_fmt_double against Python's own repr() (spec 04 §2) on ~100k doubles, and against the
# slow printf/strtod reference (tests/unit/test_fmt_ref.c) on 500k more
# (FMT_CROSS_N=... per kind to run more).
# Needs build/libkeyetl.a (make), a C compiler and /usr/bin/python3; SKIPs without them.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

py=/usr/bin/python3
lib=build/libkeyetl.a
if [ ! -x "$py" ]; then skip fmt_python_repr "/usr/bin/python3 not found"; exit 0; fi
if [ ! -f "$lib" ]; then skip fmt_python_repr "$lib not built (run make)"; exit 0; fi
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then skip fmt_python_repr "no C compiler"; exit 0; fi

tmp=$(mktmp)
trap 'rm -rf "$tmp"' EXIT
if ! out=$("$cc" -std=c11 -D_DEFAULT_SOURCE -O2 -Isrc -Itests/unit -o "$tmp/fmt_check" \
      tests/golden/fmt_check.c tests/unit/test_fmt_ref.c "$lib" -lm 2>&1); then
  fail fmt_python_repr "cannot build tests/golden/fmt_check.c: $(echo "$out" | head -n 3 | tr '\n' ' ')"
  exit 0
fi

if ! "$tmp/fmt_check" dump 100000 >"$tmp/pairs.txt"; then
  fail fmt_python_repr "fmt_check dump failed"
else
  # Each line: "<hex> <our text>"; Python parses the hex exactly and prints its repr.
  res=$("$py" - "$tmp/pairs.txt" <<'PY'
import sys
bad = 0
n = 0
with open(sys.argv[1]) as f:
    for line in f:
        h, ours = line.split()
        want = repr(float.fromhex(h))
        n += 1
        if want != ours:
            bad += 1
            if bad <= 5:
                print("mismatch %s: ours %s python %s" % (h, ours, want))
print("%d values, %d mismatches" % (n, bad))
sys.exit(1 if bad else 0)
PY
  )
  if [ $? -eq 0 ]; then pass "fmt_python_repr ($(echo "$res" | tail -n 1))"
  else fail fmt_python_repr "$(echo "$res" | tr '\n' ' ')"; fi
fi

# FMT_CROSS_N values of each kind (random bits, typical); the reference costs ~8 us each.
if res=$("$tmp/fmt_check" cross "${FMT_CROSS_N:-250000}"); then pass "fmt_reference_crosscheck ($res)"
else fail fmt_reference_crosscheck "$(echo "$res" | tr '\n' ' ')"; fi
