"""The Python side of the bench library (the shell side is bench/lib.sh,
the C side bench/benchstat.h), shared by the benches' reporters: reading a
results folder of driver JSON reports, medians with their spread,
nearest-rank percentiles, and ratios to a reference arm. Run files are
named ARM-HOT-RUN.json (load_runs) or ARM-RUN.json (load_arm_runs);
arms.txt lists the arms (the first is the reference)."""
import glob
import json
import math
import os
import re
import statistics


def _load(out, pattern, key):
    """{key(match): [report, ...]} of the JSON files whose names match
    @pattern (group 1: the arm), and the arms in order (arms.txt first).
    A report that cannot be read counts as a run with result 'unreadable'."""
    arms_file = os.path.join(out, "arms.txt")
    arms = open(arms_file).read().split() if os.path.exists(arms_file) else []
    runs = {}
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        m = re.match(pattern, os.path.basename(path))
        if not m:
            continue
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            report = {"result": "unreadable", "error": str(e)}
        runs.setdefault(key(m), []).append(report)
        if m[1] not in arms:
            arms.append(m[1])
    return runs, arms


def load_runs(out):
    """{(hot, arm): [report, ...]} of ARM-HOT-RUN.json files, and the arms."""
    return _load(out, r"(.+)-(\d+)-(\d+)\.json$", lambda m: (int(m[2]), m[1]))


def load_arm_runs(out):
    """{arm: [report, ...]} of ARM-RUN.json files, and the arms."""
    return _load(out, r"(.+)-(\d+)\.json$", lambda m: m[1])


def completed(reports):
    """The reports whose migration completed."""
    return [r for r in reports if ((r.get("migration") or {}).get("status")) == "completed"]


def pct(seq, p):
    """Nearest-rank percentile p (0-100) of the values present, or None."""
    v = sorted(values(seq))
    if not v:
        return None
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


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
