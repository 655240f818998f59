#!/usr/bin/env python3
"""Print migaccel-migrate --json reports side by side, with ratios.

usage: compare-reports.py LABEL=REPORT.json [LABEL=REPORT.json ...]
The first report is the baseline of the ratio column.
"""
import json
import sys

ROWS = [
    ("result", lambda r: r["result"]),
    ("status", lambda r: r["migration"]["status"]),
    ("stun: QEMU downtime (ms)", lambda r: r["migration"]["downtime_ms"]),
    ("total time (ms)", lambda r: r["migration"]["total_time_ms"]),
    ("budget ran out (limit raised)", lambda r: budget_over(r)),
    ("sent (MiB)", lambda r: round(r["migration"]["transferred_bytes"] / 2**20, 1)),
    ("dirty-bitmap syncs", lambda r: r["migration"]["dirty_sync_count"]),
    ("sync time, all syncs (ms)", lambda r: round(r["syncs"]["total_ms"], 2)),
    ("sync time, longest (ms)", lambda r: round(r["syncs"]["max_ms"], 2)),
    ("switchover", lambda r: switchover(r)),
    ("discard bitmap: sent / raw (B)", lambda r: discard(r)),
    ("accel: loose syncs / tracking", lambda r: accel(r)),
    ("accel: transport", lambda r: src_stat(r, "transport_in_force")),
    ("accel: first pass left out (GiB)", lambda r: left_out(r)),
    ("memory verify", lambda r: verify(r)),
    ("guest check", lambda r: r["guest"]["check"]),
]


def src_stat(report, name):
    src = (report.get("accel_stats") or {}).get("src")
    if not isinstance(src, dict) or name not in src:
        return "-"
    return src[name]


def budget_over(report):
    after = report["config"].get("converge_after_s") or 0
    samples = report["attempts"][-1].get("samples") or []
    if after <= 0 or not samples:
        return "-"
    return "yes" if samples[-1][0] > after else "no"


def switchover(report):
    mode = src_stat(report, "switchover_mode")
    if mode != "-":
        return mode
    return "postcopy" if report["migration"]["postcopy_started_at_s"] is not None else "precopy"


def discard(report):
    wire, raw = src_stat(report, "discard_wire_bytes"), src_stat(report, "discard_raw_bytes")
    if wire in ("-", 0) and raw in ("-", 0):
        return "-"
    return f"{wire} / {raw}"


def accel(report):
    loose = src_stat(report, "trace_loose_syncs")
    gran = src_stat(report, "wp_granularity_in_force_bytes")
    if loose == "-":
        return "-"
    names = {4096: "4K", 2 << 20: "2M", 1 << 30: "1G"}
    return f"{loose} / {names.get(gran, gran)}"


def left_out(report):
    pages = src_stat(report, "first_pass_pages_unpopulated")
    return "-" if pages == "-" else round(pages * 4096 / 2**30, 2)


def verify(report):
    v = report["verify"]
    if v["result"] == "skipped":
        return "not run"
    if v["differing_pages"]:
        return f"{v['differing_pages']} of {v['pages']} pages differ"
    return f"identical ({v['pages']} pages)"


def cell(fn, report):
    try:
        return fn(report)
    except (KeyError, TypeError):
        return "-"


def main(argv):
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    labels, reports = [], []
    for arg in argv[1:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            reports.append(json.load(f))
        labels.append(label)
    head = ["metric"] + labels + ([f"{labels[1]}/{labels[0]}"] if len(labels) == 2 else [])
    rows = []
    for name, fn in ROWS:
        vals = [cell(fn, r) for r in reports]
        row = [name] + [str(v) for v in vals]
        if len(vals) == 2:
            a, b = vals
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
            row.append((f"{b / a:.2f}" if b / a >= 0.1 else f"{b / a:.3f}") if ok and a else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
