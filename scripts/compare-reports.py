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
    ("total time (ms)", lambda r: r["migration"]["total_time_ms"]),
    ("downtime (ms)", lambda r: r["migration"]["downtime_ms"]),
    ("setup time (ms)", lambda r: r["migration"]["setup_time_ms"]),
    ("transferred (MiB)", lambda r: round(r["migration"]["transferred_bytes"] / 2**20, 1)),
    ("dirty syncs", lambda r: r["migration"]["dirty_sync_count"]),
    ("memory verify", lambda r: verify(r)),
    ("guest lost writes (CORRUPT, dst)", lambda r: r["guest"]["dst_corrupt"]),
    ("guest check", lambda r: r["guest"]["check"]),
    ("accel: sync time total (ms)", lambda r: stat(r, "sync_ns_total", 1e6)),
    ("accel: sync time max (ms)", lambda r: stat(r, "sync_ns_max", 1e6)),
    ("accel: switchover (ms)", lambda r: stat(r, "src_switchover_ns_total", 1e6)),
    ("accel: dirty-log start (ms)", lambda r: stat(r, "dirty_log_start_ns_total", 1e6)),
]


def verify(report):
    v = report["verify"]
    if v["result"] == "skipped":
        return "not run"
    if v["differing_pages"]:
        return f"{v['differing_pages']} of {v['pages']} pages differ"
    return f"identical ({v['pages']} pages)"


def stat(report, name, scale):
    src = (report.get("accel_stats") or {}).get("src")
    if not isinstance(src, dict) or name not in src:
        return "-"
    return round(src[name] / scale, 2)


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
            row.append(f"{b / a:.2f}" if ok and a else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
