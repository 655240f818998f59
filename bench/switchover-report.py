#!/usr/bin/env python3
"""Tables of bench/switchover.sh (and bench/network-downtime.sh): per
hot-set size and arm, the median [min-max] over the runs of what users
feel at the switch, where the time goes on one clock, and total time
against the first arm.
    bench/switchover-report.py RESULTS_DIR"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import load_runs, median, ratio, spread  # noqa: E402

out = sys.argv[1]
runs, arms = load_runs(out)
ref = arms[0] if arms else None


def completed(r):
    return (r.get("migration") or {}).get("status") == "completed"


def went_postcopy(r):
    return any(e["side"] == "src" and e["event"] == "MIGRATION postcopy-active"
               for e in (r.get("timeline") or {}).get("events", []))


def mark(r, key):
    return ((r.get("timeline") or {}).get("marks_ms") or {}).get(key)


def net(r, key):
    return (r.get("network") or {}).get(key)


def fault(r, key):
    return (r.get("faults") or {}).get(key)


def forced(r):
    # --converge-after raised the downtime limit: precopy did not converge
    return completed(r) and not went_postcopy(r) and r["migration"]["total_time_ms"] > 20000


rows = []
for hot in sorted({h for h, _ in runs}):
    for arm in arms:
        reps = runs.get((hot, arm))
        if not reps:
            continue
        done = [r for r in reps if completed(r)]
        rows.append(dict(
            hot=hot, arm=arm, n=len(reps), done=done,
            ok=sum(1 for r in reps if r.get("result") == "pass"),
            postcopy=sum(1 for r in done if went_postcopy(r)),
            forced=sum(1 for r in done if forced(r)),
            total=median([r["migration"]["total_time_ms"] / 1000 for r in done])))
tot_ref = {row["hot"]: row["total"] for row in rows if row["arm"] == ref}
print(f"switchover bench ({out}): median [min-max] over the runs")
print(f"\nwhat users feel (ms; pings every 10 ms):")
print(f"{'hot':>5} {'arm':15} {'ok':>5} {'how':>9} {'QEMU downtime':>14} {'ping gap':>15}"
      f" {'lost':>9} {'TCP stall':>15}")
for row in rows:
    d = row["done"]
    how = f"{row['postcopy']}pc" + (f" {row['forced']}forc" if row["forced"] else "")
    print(f"{row['hot']:>5} {row['arm']:15} {row['ok']:>2}/{row['n']:<2} {how:>9}"
          f" {spread([r['migration']['downtime_ms'] for r in d]):>14}"
          f" {spread([net(r, 'switchover_gap_ms') for r in d]):>15}"
          f" {spread([net(r, 'pings_lost') for r in d]):>9}"
          f" {spread([net(r, 'tcp_longest_gap_ms') for r in d]):>15}")
print(f"\nwhere the time goes (ms from the source's stop, medians) and total time:")
print(f"{'hot':>5} {'arm':15} {'dst runs':>8} {'announce':>8} {'guest tx':>8}"
      f" {'1st reply':>9} {'faults<100':>10} {'fault ms':>8} {'postcopy s':>10}"
      f" {'total s':>15} {'vs ' + (ref or '-'):>10}")
for row in rows:
    d = row["done"]
    pc = [r for r in d if went_postcopy(r)]
    fmt = lambda v, p=0: "-" if v is None else f"{v:.{p}f}"
    print(f"{row['hot']:>5} {row['arm']:15}"
          f" {fmt(median([mark(r, 'dst RESUME') for r in d]), 1):>8}"
          f" {fmt(median([mark(r, 'net first announce') for r in d]), 1):>8}"
          f" {fmt(median([mark(r, 'net first guest frame') for r in d])):>8}"
          f" {fmt(median([mark(r, 'net first ping reply') for r in d])):>9}"
          f" {fmt(median([fault(r, 'window_requests') for r in pc])):>10}"
          f" {fmt(median([fault(r, 'latency_median_ms') for r in pc]), 1):>8}"
          f" {fmt(median([mark(r, 'dst MIGRATION completed') / 1000 for r in pc if mark(r, 'dst MIGRATION completed') is not None]), 2):>10}"
          f" {spread([r['migration']['total_time_ms'] / 1000 for r in d], 2):>15}"
          f" {ratio(row['total'], tot_ref.get(row['hot'])):>10}")
print("\nok = driver checks passed (the guest's pattern check on the destination included);"
      " how = runs that switched to postcopy (pc), runs whose precopy was forced to"
      " complete after 20 s (forc); ping gap = the gap in ping replies around the switch;"
      " guest tx = the guest's first frame from the destination; faults<100 = page faults"
      " in the first 100 ms after the destination ran; fault ms = their median service"
      " time over the whole postcopy; postcopy s = from the stop to the last page in.")
def cpu(r, side, vcpus):
    """--trace-cpu: (ran, waited) ms summed over the side's vCPU threads
    (vcpus True), its other threads (False) or all of them (None)"""
    c = r.get("cpu_after_run")
    if not c:
        return None, None
    ts = [t for t in c["threads"] if t["side"] == side and
          (vcpus is None or t["name"].startswith("CPU ") == vcpus)]
    return sum(t["ran_ms"] for t in ts), sum(t["waited_ms"] for t in ts)


if any(r.get("cpu_after_run") for row in rows for r in row["done"]):
    print("\nhost CPU in the first 100 ms after the destination ran (--trace-cpu; ms, medians):")
    print(f"{'hot':>5} {'arm':15} {'dst vCPUs ran':>13} {'waited':>7} {'dst others ran':>14}"
          f" {'src ran':>8}")
    for row in rows:
        d = [r for r in row["done"] if r.get("cpu_after_run")]
        fmt = lambda v: "-" if v is None else f"{v:.0f}"
        print(f"{row['hot']:>5} {row['arm']:15}"
              f" {fmt(median([cpu(r, 'dst', True)[0] for r in d])):>13}"
              f" {fmt(median([cpu(r, 'dst', True)[1] for r in d])):>7}"
              f" {fmt(median([cpu(r, 'dst', False)[0] for r in d])):>14}"
              f" {fmt(median([cpu(r, 'src', None)[0] for r in d])):>8}")
if rows:
    print("\ngoals (issue 17): ping gap median <= 30 ms, pings lost <= 2, TCP stall <= 100 ms,"
          f" total <= 1.0 x {ref} where {ref} converged")
    for row in rows:
        if row["arm"] == ref:
            continue
        d = row["done"]
        gap = median([net(r, "switchover_gap_ms") for r in d])
        lost = median([net(r, "pings_lost") for r in d])
        tcp = median([net(r, "tcp_longest_gap_ms") for r in d])
        ref_rows = [x for x in rows if x["arm"] == ref and x["hot"] == row["hot"]]
        conv = ref_rows and ref_rows[0]["forced"] == 0 and ref_rows[0]["done"]
        verdict = lambda ok: "met" if ok else "MISSED"
        tot = (verdict(row["total"] is not None and row["total"] <= tot_ref[row["hot"]])
               if conv else f"n/a ({ref} did not converge)")
        print(f"  {row['hot']:>5} MiB {row['arm']:15} gap {verdict(gap is not None and gap <= 30)},"
              f" lost {verdict(lost is not None and lost <= 2)},"
              f" TCP {verdict(tcp is not None and tcp <= 100)}, total {tot}")
