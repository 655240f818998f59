"""Shared by the benches' reporters: reading a results folder of driver
JSON reports, medians with their spread, and ratios to a reference arm.
Run files are named ARM-HOT-RUN.json; arms.txt lists the arms in the order
they ran (the first is the reference)."""
import glob
import json
import os
import re
import statistics


def load_runs(out):
    """{(hot, arm): [report, ...]} and the arms in their run order."""
    arms_file = os.path.join(out, "arms.txt")
    arms = open(arms_file).read().split() if os.path.exists(arms_file) else []
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        m = re.match(r"(.+)-(\d+)-(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            report = {"result": "unreadable", "error": str(e)}
        runs.setdefault((int(m[2]), m[1]), []).append(report)
        if m[1] not in arms:
            arms.append(m[1])
    return runs, arms


def values(seq):
    return [v for v in seq if v is not None]


def median(seq):
    v = values(seq)
    return statistics.median(v) if v else None


def spread(seq, digits=0):
    """'median [min-max]' of the values present, or '-'."""
    v = values(seq)
    if not v:
        return "-"
    f = f"{{:.{digits}f}}"
    m = f.format(statistics.median(v))
    if len(v) == 1:
        return m
    return f"{m} [{f.format(min(v))}-{f.format(max(v))}]"


def ratio(a, b, digits=2):
    return f"{a / b:.{digits}f}" if a is not None and b else "-"
