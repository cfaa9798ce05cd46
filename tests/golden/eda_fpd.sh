#!/usr/bin/env bash
# EDA analyses on the real snapshot (fpd-dev): analysis_results.json of a pipeline run is
# checked against values recomputed independently, in Python, from the expected keypairs
# table of the contract (spec 05 §7.1 definitions; quantiles as 03 §5).
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
need_shared eda/fpd-dev || exit 0
suite_setup t
if ! "$BIN" run --source "$KEYETL_SHARED/data/fpd-dev/web_app_data" --artifacts-dir "$t/a" --version-id v \
     -s download -s clean -s keypairs -s eda --mode full --quiet >"$t/log" 2>&1; then
  fail eda/fpd-dev/run "$(tail -n 2 "$t/log" | tr '\n' ' ')"; exit 0
fi
python3 - "$KEYETL_SHARED/data/fpd-dev/expected/keypairs/keypairs.csv" \
  "$t/a/v/eda_reports/data_quality/analysis_results.json" "$t/a/v/eda_reports/data_quality/summary_stats.json" <<'PY'
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
res = json.load(open(sys.argv[2]))
summ = json.load(open(sys.argv[3]))
MOD = {"Key.alt", "Key.alt_l", "Key.alt_r", "Key.caps_lock", "Key.cmd", "Key.cmd_l", "Key.cmd_r", "Key.ctrl",
       "Key.ctrl_l", "Key.ctrl_r", "Key.fn", "Key.option", "Key.option_l", "Key.option_r", "Key.shift",
       "Key.shift_l", "Key.shift_r", "Key.tab", "Key.win", "Key.win_l", "Key.win_r"}
def check(name, ok, why=""):
    print(("PASS " if ok else "FAIL ") + "eda/fpd-dev/" + name + ("" if ok else ": " + why))
def close(a, b, tol=1e-9):
    return a is not None and b is not None and abs(a - b) <= tol * max(1.0, abs(b))
def q(xs, p):
    h = (len(xs) - 1) * p; lo = math.floor(h); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])

valid = [r for r in rows if r["valid"] == "True"]
s = res["summary"]
check("summary", s["total_keypairs"] == len(rows) and s["valid_keypairs"] == len(valid)
      and s["invalid_keypairs"] == len(rows) - len(valid)
      and close(s["validity_rate"], len(valid) / len(rows) * 100)
      and s["unique_users"] == len({r["user_id"] for r in rows}) and s["device_types"] == ["desktop"],
      json.dumps(s))
check("summary_stats_json_is_summary", summ == s, "summary_stats.json differs from summary")
for f in ("HL", "IL", "PL", "RL"):
    xs = sorted(float(r[f]) for r in valid if r[f] != "")
    st = res["timing_stats"][f]
    n = len(xs); mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    want = {"count": n, "mean": mean, "std": std, "min": xs[0], "max": xs[-1], "median": q(xs, 0.5),
            "q25": q(xs, 0.25), "q75": q(xs, 0.75), "negative_count": sum(x < 0 for x in xs),
            "zero_count": sum(x == 0 for x in xs), "outlier_threshold_low": q(xs, 0.01),
            "outlier_threshold_high": q(xs, 0.99)}
    bad = [k for k, v in want.items() if not (st.get(k) == v if isinstance(v, int) else close(st.get(k), v))]
    check("timing_stats_" + f, not bad, "%s: got %s want %s" % (bad, [st.get(k) for k in bad], [want[k] for k in bad]))
neg_il = [r for r in valid if r["IL"] != "" and float(r["IL"]) < 0]
neg_rl = [r for r in valid if r["RL"] != "" and float(r["RL"]) < 0]
na = res["negative_analysis"]
check("negative_IL", na["negative_IL"]["total_count"] == len(neg_il)
      and na["negative_IL"]["expected_count"] == sum(r["key1"] in MOD for r in neg_il)
      and na["negative_IL"]["unexpected_count"] == sum(r["key1"] not in MOD for r in neg_il),
      json.dumps({k: na["negative_IL"][k] for k in ("total_count", "expected_count", "unexpected_count")}))
check("negative_RL", na["negative_RL"]["total_count"] == len(neg_rl)
      and na["negative_RL"]["with_negative_IL"] == sum(r["IL"] != "" and float(r["IL"]) < 0 for r in neg_rl),
      json.dumps({k: na["negative_RL"][k] for k in ("total_count", "with_negative_IL")}))
check("negative_users", na["summary"]["users_with_negative_il"] == len({r["user_id"] for r in neg_il})
      and na["summary"]["users_with_negative_rl"] == len({r["user_id"] for r in neg_rl}), json.dumps(na["summary"]))
hl = [float(r["HL"]) for r in valid if r["HL"] != ""]
ext = [h for h in hl if h > 5000]
eh = res["extreme_hl_analysis"]
check("extreme_hl", eh["total_extreme_count"] == len(ext) and close(eh["percentage_of_valid"], len(ext) / len(hl) * 100)
      and [c["hl_ms"] for c in eh["extreme_cases"]] == sorted(ext, reverse=True)[:50], json.dumps(eh["total_extreme_count"]))
users = {}
for r in rows:
    u = users.setdefault(r["user_id"], [0, 0, 0])
    u[0] += 1; u[1] += r["valid"] == "True"; u[2] += r["outlier"] == "True"
us = res["user_stats"]
lst = us if isinstance(us, list) else [v for k, v in us.items() if k != "all_users"]
got = {e["user_id"]: e for e in lst}
bad = [u for u, (t, v, o) in users.items() if u not in got or got[u]["total_keypairs"] != t or got[u]["valid_keypairs"] != v
       or got[u]["outlier_count"] != o or not close(got[u]["validity_rate"], v / t * 100)
       or not close(got[u]["outlier_rate"], o / v * 100 if v else 0.0)]
check("user_stats", not bad and len(got) == len(users), "users differing: %s" % bad[:3])
PY
