#!/usr/bin/env bash
# report_chromium.sh — renders EDA reports in headless Chromium: screenshot not blank, every
# section title and one <svg> per figure in the DOM, no external resource referenced.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  skip browser/report_chromium "chromium is not installed (scripts/install-deps.sh --test installs it)"
  exit 0
fi
if [ ! -f build/libkeyetl.a ]; then
  fail browser/report_chromium "build/libkeyetl.a missing (run make)"
  exit 1
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

tmp=$(mktmp)
trap 'rm -rf "$tmp"' EXIT
gen=$tmp/gen_report
if ! cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -o "$gen" tests/browser/gen_report.c \
     build/libkeyetl.a -lzstd -lsnappy -lz -lsqlite3 -ljansson -lxxhash -lcrypto -lpthread -lm 2>"$tmp/cc.log"; then
  fail browser/report_chromium "cannot build gen_report: $(head -3 "$tmp/cc.log" | tr '\n' ' ')"
  exit 1
fi

chrome() {
  # no network, no first-run, throw-away profile
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chrome.log"
}

sections=("Feature Definitions" "Executive Summary" "Data Quality Issues" "Timing Feature Analysis"
  "User Performance" "Visualizations" "Extreme Hold Latency" "Negative Value Analysis" "Typing Pattern Analysis"
  "Data Quality Assessment" "Recommendations" "Reproducing This Analysis")

check_report() { # name n_users
  local name=$1 n=$2 dir=$tmp/$1
  mkdir -p "$dir"
  if ! "$gen" "$dir" "$n"; then fail "browser/$name" "gen_report failed"; return; fi
  local html=$dir/report.html
  # 1. self-contained: no external or relative resource
  if grep -qiE 'https?://|src=|<link|@import|url\((["'"'"']?)[^#]' "$html"; then
    fail "browser/${name}_self_contained" "external reference: $(grep -oiE 'https?://[^" ]*|src=[^ ]*|<link[^>]*|@import[^;]*|url\([^#][^)]*\)' "$html" | head -1)"
  else
    pass "browser/${name}_self_contained"
  fi
  # 2. DOM after rendering: section titles, figures with svg
  chrome --dump-dom "file://$html" >"$dir/dom.html"
  local missing=""
  for s in "${sections[@]}"; do grep -q ">[0-9]*\. $s</h2>" "$dir/dom.html" || missing="$missing [$s]"; done
  for f in fig-a fig-b fig-u; do
    "$PY" - "$dir/dom.html" "$f" <<'PYEOF' || missing="$missing [$f svg]"
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<figure id="%s">(.*?)</figure>' % sys.argv[2], dom, re.S)
sys.exit(0 if m and m.group(1).count("<svg") >= 1 and "<title>" in m.group(1) else 1)
PYEOF
  done
  grep -q "<svg" <(sed -n '/id="s1"/,/<\/section>/p' "$dir/dom.html") || missing="$missing [diagram svg]"
  grep -q "<title>Keystroke Data Analysis Report</title>" "$dir/dom.html" || missing="$missing [title]"
  if [ -n "$missing" ]; then fail "browser/${name}_dom" "missing:$missing"; else pass "browser/${name}_dom"; fi
  # 3. screenshot is not blank: decode the PNG and count non-white pixels
  chrome --screenshot="$dir/shot.png" --window-size=1280,2000 --hide-scrollbars "file://$html" >/dev/null
  local verdict
  verdict=$("$PY" - "$dir/shot.png" <<'PYEOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, typ = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if typ == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), "unexpected PNG format"
        bpp = 3 if ctype == 2 else 4
    elif typ == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
nonwhite = colored = 0
i = 0
for y in range(h):
    f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 4):  # sample every 4th pixel
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if r < 235 or g < 235 or bl < 235: nonwhite += 1
        if max(r, g, bl) - min(r, g, bl) > 40: colored += 1
    prev = line
total = (w // 4) * h
print("ok" if nonwhite > total * 0.02 and colored > 50 else "blank", nonwhite, colored, total)
PYEOF
)
  case "$verdict" in
    ok*) pass "browser/${name}_screenshot" ;;
    *) fail "browser/${name}_screenshot" "rendered page looks blank ($verdict)" ;;
  esac
  if [ -n "${KEEP_SCREENSHOT:-}" ]; then cp "$dir/shot.png" "$KEEP_SCREENSHOT-$name.png"; fi
}

check_report report_few_users 6
check_report report_many_users 40
