#!/usr/bin/env python3
"""Tables of bench/switchover.sh: per hot-set size and arm, medians over
the repetitions of QEMU's downtime, the ping gap at switchover (what a
client sees), the guest's longest write gap on the destination, total
time, and what the accelerator sent; goals and ratios to stock precopy.
    bench/switchover-report.py RESULTS_DIR"""
import glob, json, os, re, statistics, sys

out = sys.argv[1]
runs = {}
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"([ABCD])-(\d+)-(\d+)\.json$", os.path.basename(p))
    if m:
        runs.setdefault((int(m[2]), m[1]), []).append(json.load(open(p)))

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def fmt(v, d=0):
    return "-" if v is None else f"{v:.{d}f}"

ARMS = {"A": "stock precopy", "B": "ours precopy", "C": "ours bitmap",
        "D": "ours bitmap+uring"}
print(f"bitmap switchover bench: 4 GiB TCG guest, 2 vCPUs, pings every 10 ms ({out})")
print(f"{'hot MiB':>7} {'arm':14} {'ok':>5} {'conv':>4} {'downtime':>9} {'ping gap':>9} "
      f"{'lost':>5} {'dst gap':>8} {'total s':>8} {'vs A':>5} {'pc s':>6} {'disc B':>7} {'raw B':>7}")
goals = []
for hot in sorted({h for h, _ in runs}):
    tot = {}
    for arm in "ABCD":
        reps = runs.get((hot, arm), [])
        if not reps:
            continue
        done = [r for r in reps if r["migration"] and r["migration"]["status"] == "completed"]
        ok = sum(1 for r in reps if r["result"] == "pass")
        net = [r["network"] for r in done if r.get("network")]
        dt = med([r["migration"]["downtime_ms"] for r in done])
        gap = med([x["switchover_gap_ms"] for x in net])
        lost = med([x["pings_lost"] for x in net])
        dgap = med([(r["guest"].get("dst_max_gap_us") or 0) / 1000 for r in done if r.get("guest")])
        tt = med([r["migration"]["total_time_ms"] / 1000 for r in done])
        tot[arm] = tt
        pc = med([r["migration"]["total_time_ms"] / 1000 - r["migration"]["postcopy_started_at_s"]
                  for r in done if r["migration"].get("postcopy_started_at_s") is not None])
        src = [((r.get("accel_stats") or {}).get("src") or {}) for r in done]
        disc = med([s.get("discard_wire_bytes") for s in src if s.get("discard_format") == "compressed"])
        raw = med([s.get("discard_raw_bytes") for s in src if s.get("discard_format") == "compressed"])
        conv = sum(1 for r in done if r["migration"]["total_time_ms"] > 20000 and arm in "AB")
        vs = f"{tt / tot['A']:.2f}" if tt and tot.get("A") else "-"
        print(f"{hot:>7} {ARMS[arm]:14} {ok:>2}/{len(reps):<2} {conv:>4} {fmt(dt):>9} {fmt(gap):>9} "
              f"{fmt(lost):>5} {fmt(dgap):>8} {fmt(tt, 1):>8} {vs:>5} {fmt(pc, 1):>6} "
              f"{fmt(disc):>7} {fmt(raw):>7}")
        if arm in "CD":
            goals.append((hot, arm, dt, gap, tt, tot.get("A"), ok, len(reps)))
print("\ncolumns: ok = driver checks passed (incl. the guest's pattern check on the destination)"
      "; conv = runs longer than 20 s of precopy, completed by --converge-after raising the"
      " downtime limit; downtime = query-migrate (ms); ping gap = longest gap between ping"
      " replies around switchover (ms); lost = pings lost; dst gap = the guest's longest write"
      " gap on the destination (ms); total = query-migrate total-time; pc s = seconds in"
      " postcopy; disc B / raw B = compressed discard bytes sent / raw bitmap bytes")
print("\ngoals for the bitmap switchover (arms C and D):")
for hot, arm, dt, gap, tt, ta, ok, nrep in goals:
    print(f"  {hot:>5} MiB {arm}: downtime <= 50 ms: {'PASS' if dt is not None and dt <= 50 else 'FAIL'}"
          f" ({fmt(dt)} ms; ping gap {fmt(gap)} ms); total <= 1.10 x stock precopy: "
          f"{'PASS' if tt and ta and tt <= 1.10 * ta else 'FAIL'} ({fmt(tt, 1)} vs {fmt(ta, 1)} s);"
          f" checks passed {ok}/{nrep}")
