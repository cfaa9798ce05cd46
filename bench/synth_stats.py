#!/usr/bin/python3
"""Summary statistics of a keypairs.csv (spec 02 §5), to compare synthetic data with real data.

usage: bench/synth_stats.py KEYPAIRS_CSV [LABEL]

Prints one markdown table row block: HL and IL quantiles (valid rows), keypairs per user
(median, min, max), validity rate, outlier rate and its causes, share of negative IL, share
of the top keys. Standard library only (csv module); quantiles by linear interpolation.
"""
import csv
import sys
from collections import Counter


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def fmt_q(values):
    v = sorted(values)
    return "/".join("%.0f" % quantile(v, q) for q in (0.25, 0.5, 0.75, 0.99))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    path = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else path
    hl, il = [], []
    per_user = Counter()
    keys = Counter()
    total = valid = outliers = hl_low = hl_high = il_big = neg_il = 0
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        for row in csv.DictReader(f):
            total += 1
            per_user[row["user_id"]] += 1
            keys[row["key1"]] += 1
            if row["outlier"] == "True":
                outliers += 1
            if row["valid"] != "True":
                continue
            valid += 1
            if row["HL"]:
                h = float(row["HL"])
                hl.append(h)
                hl_low += h < 30
                hl_high += h > 2000
            if row["IL"]:
                i = float(row["IL"])
                il.append(i)
                il_big += abs(i) > 1000
                neg_il += i < 0
    counts = sorted(per_user.values())
    pct = lambda n, d: 100.0 * n / d if d else 0.0
    top = ", ".join("%s %.1f%%" % (k or "∅", pct(n, total)) for k, n in keys.most_common(6))
    print("| metric | %s |" % label)
    print("|---|---|")
    print("| users with pairs | %d |" % len(per_user))
    print("| keypairs | %d |" % total)
    print("| keypairs per user (median, min–max) | %.0f (%d–%d) |"
          % (quantile(counts, 0.5), counts[0] if counts else 0, counts[-1] if counts else 0))
    print("| validity rate %% | %.3f |" % pct(valid, total))
    print("| outlier rate %% | %.1f |" % pct(outliers, total))
    print("| outlier causes %% of valid: HL<30 / HL>2000 / abs(IL)>1000 | %.2f / %.2f / %.1f |"
          % (pct(hl_low, valid), pct(hl_high, valid), pct(il_big, valid)))
    print("| HL q1/median/q3/p99 ms | %s |" % fmt_q(hl))
    print("| IL q1/median/q3/p99 ms | %s |" % fmt_q(il))
    print("| negative IL %% | %.1f |" % pct(neg_il, len(il)))
    print("| top key1 | %s |" % top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
