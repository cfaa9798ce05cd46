#!/usr/bin/python3
"""Checks kvc outputs with NumPy (spec 05 §8, §8.1). Run with Debian's /usr/bin/python3.

  npy_check.py fixture PATH.npy
      The boundary fixture written by npy_gen (values follow npy_gen.c's formula).
  npy_check.py kvc KEYPAIRS.csv OUTDIR [keys users train test]
      Recomputes the whole kvc result independently from KEYPAIRS.csv (mapping, mapped
      columns, splits, sequences) and compares every .npy (numpy.load(...).item()),
      key_mapping.json, metadata.json, keypairs_mapped.csv and sequences.csv with it.
      The optional numbers are the expected unique_keys, unique_users and per-split
      train/test sample counts (e.g. 62 21 252 126 for fpd-dev).
Prints one line per check ("PASS name" / "FAIL name: why") and exits 1 on failure.
"""
import csv
import io
import json
import os
import sys
import warnings

import numpy as np

failures = 0


def report(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")


def load(path):
    with open(path, "rb") as f:
        head = f.read(128)
    assert head[:10] == b"\x93NUMPY\x01\x00\x76\x00", "bad magic/header length"
    assert head[127:128] == b"\n", "header does not end with LF"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a deprecated module name would fail here
        return np.load(path, allow_pickle=True).item()


def check_fixture(path):
    d = load(path)
    long_user = "x" * 300
    report("fixture_users", list(d) == ["empty", long_user, "\u00fc"], repr(list(d))[:200])
    report("fixture_empty_inner", d.get("empty") == {}, repr(d.get("empty")))
    sizes = [1, 10, 11, 255, 256, 65535, 65536]
    inner = d.get(long_user, {})
    report("fixture_inputs", list(inner) == [f"n{n}" for n in sizes], repr(list(inner)))
    ok, why = True, ""
    for n in sizes:
        a = inner.get(f"n{n}")
        i = np.arange(n, dtype=np.int64)
        want = np.stack([i * 3 + n + 1735660000000, -(i + 1), i % 97 - 1], axis=1)
        if a is None or a.dtype != np.int64 or a.shape != (n, 3) or not np.array_equal(a, want):
            ok, why = False, f"array n{n}: {None if a is None else (a.dtype, a.shape)}"
            break
    report("fixture_arrays", ok, why)
    last = d.get("\u00fc", {})
    a = last.get("y" * 256)
    report("fixture_long_input_id_and_extremes",
           a is not None and a.tolist() == [[2**63 - 1, -2**63, 0]], repr(a))


def clean(s):
    """The 04 §1 fallback: bytes that are not UTF-8 become U+0080..U+00FF."""
    return "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in s)


def read_csv(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], [[clean(x) for x in r] for r in rows[1:]]


def check_kvc(kp_path, outdir, expect):
    header, rows = read_csv(kp_path)
    col = {n: i for i, n in enumerate(header)}
    k1, k2 = col["key1"], col["key2"]
    keys = sorted({r[k1] for r in rows if r[k1]} | {r[k2] for r in rows if r[k2]},
                  key=lambda s: s.encode("utf-8"))
    code = {k: i for i, k in enumerate(keys)}
    users = []
    for r in rows:
        if not users or users[-1] != r[col["user_id"]]:
            users.append(r[col["user_id"]])
    # Working set: valid rows, users and input ids in first-appearance order.
    seqs = {}
    for r in rows:
        if r[col["valid"]] != "True":
            continue
        iid = f"{r[col['platform_id']]}_{r[col['video_id']]}_{r[col['session_id']]}"
        press, release = int(float(r[col["key1_press"]])), int(float(r[col["key1_release"]]))
        seqs.setdefault(r[col["user_id"]], {}).setdefault(iid, []).append(
            [press, release, code[r[k1]] if r[k1] else -1])

    with open(os.path.join(outdir, "key_mapping.json"), "rb") as f:
        raw = f.read()
    km = json.loads(raw, object_pairs_hook=lambda p: p)
    report("key_mapping_order", km == [(k, i) for i, k in enumerate(keys)],
           f"{len(km)} entries vs {len(keys)}")
    report("key_mapping_ascii", all(b < 0x80 for b in raw) and not raw.endswith(b"\n"),
           "non-ASCII byte or trailing newline")

    with open(os.path.join(outdir, "metadata.json")) as f:
        md_text = f.read()
    md = json.loads(md_text, object_pairs_hook=lambda p: p)
    report("metadata_keys", [k for k, _ in md] ==
           ["stage", "version_id", "timestamp", "duration_seconds", "stats", "config"],
           repr([k for k, _ in md]))
    md = json.loads(md_text)  # plain dicts for lookups
    st = md["stats"]
    splits_want = {}
    for p in (1, 2, 3):
        tr = sum(1 for u in seqs.values() for i in u if not i.startswith(f"{p}_"))
        te = sum(1 for u in seqs.values() for i in u if i.startswith(f"{p}_"))
        splits_want[f"platform_{p}"] = {"train_users": len(seqs), "test_users": len(seqs),
                                        "train_samples": tr, "test_samples": te}
    report("metadata_stats",
           st["total_keypairs"] == len(rows) and st["unique_keys"] == len(keys) and
           st["unique_users"] == len(set(users)) and st["train_test_splits"] == splits_want and
           st["errors"] == [] and md["config"] == {"test_platforms": [1, 2, 3],
                                                   "filter_errors": True,
                                                   "key_mapping_size": len(keys)},
           json.dumps(st)[:300])
    if expect:
        nk, nu, ntr, nte = expect
        report("metadata_reference_counts",
               st["unique_keys"] == nk and st["unique_users"] == nu and all(
                   s == {"train_users": nu, "test_users": nu, "train_samples": ntr,
                         "test_samples": nte} for s in st["train_test_splits"].values()),
               json.dumps(st["train_test_splits"]))

    for p in (1, 2, 3):
        for part in ("train", "test"):
            name = f"npy_platform_{p}_{part}"
            try:
                d = load(os.path.join(outdir, f"test_platform_{p}", f"{part}.npy"))
            except Exception as e:  # noqa: BLE001 - report any load failure
                report(name, False, f"numpy.load failed: {e}")
                continue
            want_users = list(seqs)
            if list(d) != want_users:
                report(name, False, f"users {list(d)[:3]} vs {want_users[:3]}")
                continue
            why = ""
            for u in want_users:
                want = {i: a for i, a in seqs[u].items() if i.startswith(f"{p}_") == (part == "test")}
                if list(d[u]) != list(want):
                    why = f"user {u}: inputs {list(d[u])} vs {list(want)}"
                    break
                for i, a in want.items():
                    got = d[u][i]
                    if got.dtype != np.int64 or got.shape != (len(a), 3) or got.tolist() != a:
                        why = f"user {u} input {i}: {got.dtype} {got.shape}"
                        break
                if why:
                    break
            report(name, not why, why)

    mh, mrows = read_csv(os.path.join(outdir, "keypairs_mapped.csv"))
    ok = mh == header + ["key1_mapped", "key2_mapped"] and len(mrows) == len(rows)
    why = "header or row count"
    if ok:
        for n, (a, b) in enumerate(zip(rows, mrows)):
            want = a + [str(code[a[k1]]) if a[k1] else "-1", str(code[a[k2]]) if a[k2] else "-1"]
            if b != want:
                ok, why = False, f"row {n}: {b} vs {want}"
                break
    report("keypairs_mapped_csv", ok, why)

    sh, srows = read_csv(os.path.join(outdir, "sequences.csv"))
    want = [[u, i, str(j), str(r[0]), str(r[1]), str(r[2])]
            for u, ins in seqs.items() for i, a in ins.items() for j, r in enumerate(a)]
    report("sequences_csv", sh == ["user_id", "input_id", "position", "press", "release",
                                   "key_code"] and srows == want,
           f"{len(srows)} rows vs {len(want)}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "fixture":
        check_fixture(sys.argv[2])
    elif len(sys.argv) in (4, 8) and sys.argv[1] == "kvc":
        expect = [int(x) for x in sys.argv[4:8]] if len(sys.argv) == 8 else None
        check_kvc(sys.argv[2], sys.argv[3], expect)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
