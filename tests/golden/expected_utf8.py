#!/usr/bin/env python3
"""expected_utf8.py SRC DST — prints the expected tree to compare an engine run with.

The edge fixture's expected CSV files hold the invalid-UTF-8 key 0xDC as a raw byte (edge
CASES #8), but spec 04 §1 requires every written string to be valid UTF-8, with each stray
byte replaced by the code point of the same value (0xDC -> U+00DC). When SRC has such files,
this copies SRC to DST applying exactly that rule to them and prints DST; otherwise it
prints SRC. Nothing else is changed, so the comparison stays as strict as the fixture.
"""
import os
import shutil
import sys


def fallback(b):
    t = b.decode("utf-8", "surrogateescape")
    return "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in t).encode("utf-8")


def main():
    src, dst = sys.argv[1], sys.argv[2]
    bad = []
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".csv"):
                continue
            p = os.path.join(root, f)
            try:
                open(p, "rb").read().decode("utf-8")
            except UnicodeDecodeError:
                bad.append(os.path.relpath(p, src))
    if not bad:
        print(src)
        return
    shutil.copytree(src, dst)
    for root, dirs, files in os.walk(dst):  # the shared tree is read-only; the copy is ours
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
    for rel in bad:
        p = os.path.join(dst, rel)
        data = open(p, "rb").read()
        open(p, "wb").write(fallback(data))
    print(dst)


if __name__ == "__main__":
    main()
