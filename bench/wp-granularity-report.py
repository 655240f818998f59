#!/usr/bin/env python3
"""Table for bench/wp-granularity.sh: sync time per guest size and arm.

Sync durations come from QEMU's trace log of the source (one
migration_bitmap_sync_start/_end pair per sync, microsecond timestamps).
The first sync (migration setup) and the last (stop-and-copy, VM stopped)
are reported apart from the syncs during precopy, which are what a running
guest waits for on the big QEMU lock.
"""
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import median, pct  # noqa: E402

TRACE = re.compile(r"\d+@(\d+\.\d+):migration_bitmap_sync_(start|end)")
GIB = 1 << 30
DIRTY_BLOCK_BYTES = 8 * GIB        # DIRTY_MEMORY_BLOCK_SIZE pages of 4 KiB
CLIENTS = 3                        # migration, VGA, code


def sync_times_ms(trace_dir):
    """Durations of every sync in the one trace log that has any."""
    for path in sorted(glob.glob(os.path.join(trace_dir, "*.log"))):
        start, out = None, []
        with open(path, errors="replace") as f:
            for line in f:
                m = TRACE.match(line)
                if not m:
                    continue
                t = float(m.group(1))
                if m.group(2) == "start":
                    start = t
                elif start is not None:
                    out.append((t - start) * 1e3)
                    start = None
        if out:
            return out
    return []


def tracking_bytes(gib, arm):
    """Bytes of dirty-tracking structures for the guest RAM, by their sizes."""
    ram = gib * GIB
    blocks = math.ceil(ram / DIRTY_BLOCK_BYTES)
    pages = ram // 4096
    dirty_memory = CLIENTS * blocks * (DIRTY_BLOCK_BYTES // 4096 // 8)
    bmap = pages // 8                          # RAMBlock.bmap
    clear_bmap = math.ceil(pages / (1 << 18) / 8)
    summary = 0 if arm == "stock" else CLIENTS * blocks * (4096 + 64) // 8
    return dirty_memory + bmap + clear_bmap + summary



def fmt(x, d=2):
    return "-" if x is None else f"{x:.{d}f}"


def main():
    out, sizes, arms, cmdline, nfail = sys.argv[1], sys.argv[2].split(), \
        sys.argv[3].split(), sys.argv[4], int(sys.argv[5])
    head = ["GiB", "arm", "ok/runs", "verify", "syncs (precopy)",
            "precopy sync ms p50 / p90 / max", "vs stock p50",
            "setup sync ms", "final sync ms", "setup time ms",
            "downtime ms", "total s", "words read / later sync (full scan)",
            "tracking KiB"]
    rows, summary = [], {}
    for gib in sizes:
        base = None
        for arm in arms:
            logs = sorted(glob.glob(f"{out}/g{gib}-{arm}-*.log"))
            precopy, setup, final, ok, ident = [], [], [], 0, 0
            setup_t, down, total, words = [], [], [], []
            for log in logs:
                name = os.path.basename(log)[:-4]
                try:
                    r = json.load(open(f"{out}/{name}.json"))
                except (OSError, ValueError):
                    continue
                mig = r.get("migration") or {}
                if mig.get("status") != "completed":
                    continue
                ok += r.get("result") == "pass"
                ident += (r.get("verify") or {}).get("result") == "identical"
                t = sync_times_ms(f"{out}/trace-{name}")
                if len(t) >= 3:
                    setup.append(t[0])
                    final.append(t[-1])
                    precopy += t[1:-1]
                setup_t.append(mig.get("setup_time_ms"))
                down.append(mig.get("downtime_ms"))
                total.append(mig.get("total_time_ms", 0) / 1000)
                st = (r.get("accel_stats") or {}).get("src") or {}
                if st.get("wp_summary_block_syncs") and mig.get("dirty_sync_count", 0) > 1:
                    # Every page is dirty since boot, so the setup sync reads
                    # all of the bitmap; the rest is the later syncs' share.
                    full = mig["ram_total_bytes"] // 4096 // 64
                    words.append(max(0, st["wp_words_read"] - full) /
                                 (mig["dirty_sync_count"] - 1))
            p50 = pct(precopy, 50) if precopy else None
            if arm == "stock":
                base = p50
            ratio = fmt(base / p50, 1) + "x faster" if base and p50 else "-"
            med = median
            rows.append([gib, arm, f"{ok}/{len(logs)}", f"{ident}/{len(logs)} identical",
                         str(len(precopy)),
                         " / ".join(fmt(pct(precopy, p)) for p in (50, 90)) +
                         f" / {fmt(max(precopy))}" if precopy else "-",
                         ratio if arm != "stock" else "1",
                         fmt(med(setup)), fmt(med(final)), fmt(med(setup_t), 0),
                         fmt(med(down), 0), fmt(med(total), 1),
                         (fmt(med(words), 0) if words else "-") +
                         f" ({int(gib) * GIB // 4096 // 64})",
                         fmt(tracking_bytes(int(gib), arm) / 1024, 1)])
            summary[(gib, arm)] = p50
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print(f"\nwp-granularity: dirty bitmap sync cost against guest RAM (results in {out})")
    print(f"command: {cmdline}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |")
    # Growth from the smallest to the largest guest, per arm
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        for arm in arms:
            a, b = summary.get((lo, arm)), summary.get((hi, arm))
            if a and b:
                print(f"growth {lo} -> {hi} GiB, {arm}: p50 sync {fmt(a)} -> {fmt(b)} ms "
                      f"({fmt(b / a, 1)}x)")
    with open(f"{out}/summary.json", "w") as f:
        json.dump({f"{g}/{a}": v for (g, a), v in summary.items()}, f, indent=1)
    print(f"failed runs: {nfail}")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
