#!/usr/bin/env python3
"""Draw one migration as an SVG timeline from a migaccel-migrate --json report.

usage: timeline-svg.py REPORT.json OUT.svg [LABEL]

Top: bytes sent and bytes still to send; a tick per dirty-bitmap sync.
Bottom: the guest's dirty rate as QEMU measured it. A red band marks the
stun (source stopped .. completed, at least 2 px wide so that milliseconds
show); a dashed line marks the switch to postcopy and the moment a budget
forced stock precopy to complete. The title gives the verdict.
Only the final attempt is drawn; the report's samples are query-migrate
polls, 100 ms apart.
"""
import json
import sys
from xml.sax.saxutils import escape

W, H = 900, 430
LEFT, RIGHT = 70, 20
TOP_Y0, TOP_Y1 = 60, 250        # bytes panel
SYNC_Y = 264                    # sync ticks
BOT_Y0, BOT_Y1 = 296, 396       # dirty-rate panel
GIB = 1 << 30
MIB = 1 << 20


def nice_step(span, target=8):
    """A round tick interval giving about @target ticks over @span seconds."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300):
        if span / step <= target:
            return step
    return span / target


def fmt_ms(ms):
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def verdict(report):
    m = report["migration"]
    v = report.get("verify") or {}
    if v.get("result") == "skipped" or not v:
        mem = "memory not verified"
    elif v.get("differing_pages"):
        mem = f"{v['differing_pages']} pages DIFFER"
    else:
        mem = "memory identical"
    status = m.get("status") or "?"
    total = m.get("total_time_ms")
    stun = m.get("downtime_ms")
    parts = [status]
    if total is not None:
        parts.append(f"total {fmt_ms(total)}")
    if stun is not None:
        parts.append(f"stun {fmt_ms(stun)}")
    parts.append(mem)
    return ", ".join(parts)


def plugin_text(report):
    cfg = report["config"]
    if not cfg.get("plugin"):
        return "no plugin"
    props = cfg.get("accel_props") or []
    return "plugin, " + (", ".join(props) if props else "no options (the defaults)")


def events(report, attempt):
    """(t_s, label) of the stop and the switch, on the samples' clock."""
    out = {}
    start = attempt.get("started_real_us")
    anchor = (report.get("timeline") or {}).get("anchor_real_us")
    if start and anchor:
        out["stop"] = (anchor - start) / 1e6
    elif attempt.get("total_time_ms") is not None and attempt.get("downtime_ms") is not None:
        out["stop"] = (attempt["total_time_ms"] - attempt["downtime_ms"]) / 1000
    if attempt.get("postcopy_started_at_s") is not None:
        out["switch"] = attempt["postcopy_started_at_s"]
    conv = report["config"].get("converge_after_s")
    if conv and conv > 0 and attempt.get("samples") and attempt["samples"][-1][0] > conv:
        out["forced"] = conv
    return out


def render(report, label):
    attempt = report["attempts"][-1]
    cols = attempt.get("samples_columns") or []
    rows = [dict(zip(cols, s)) for s in attempt.get("samples") or []]
    rows = [r for r in rows if r["transferred_bytes"] >= 0]
    if not rows:
        raise SystemExit("the report has no samples (a driver from before samples, or no migration)")
    t_end = max(rows[-1]["t_s"], (attempt.get("total_time_ms") or 0) / 1000, 0.1)
    sent_max = max(max(r["transferred_bytes"] for r in rows),
                   max(r["remaining_bytes"] for r in rows), 1)
    rate_max = max(max((r["dirty_pages_rate"] for r in rows
                        if r["status"] == "active" and r["dirty_sync_count"] >= 2), default=0) * 4096,
                   MIB)

    def x(t):
        return LEFT + (W - LEFT - RIGHT) * t / t_end

    def y_top(v):
        return TOP_Y1 - (TOP_Y1 - TOP_Y0) * v / sent_max

    def y_bot(v):
        return BOT_Y1 - (BOT_Y1 - BOT_Y0) * v / rate_max

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">'
           f'{escape(label)}: {escape(verdict(report))}</text>',
           f'<text x="{LEFT}" y="40" fill="#555">{escape(report["config"].get("qemu") or "")}'
           f' · {escape(str(report["config"].get("mem")))} guest · {escape(plugin_text(report))}</text>']
    # axes and grid
    step = nice_step(t_end)
    t = 0
    while t <= t_end + 1e-9:
        svg.append(f'<line x1="{x(t):.1f}" y1="{TOP_Y0}" x2="{x(t):.1f}" y2="{BOT_Y1}" stroke="#eee"/>')
        svg.append(f'<text x="{x(t):.1f}" y="{BOT_Y1 + 16}" text-anchor="middle">{t:g} s</text>')
        t += step
    for y0, y1 in ((TOP_Y0, TOP_Y1), (BOT_Y0, BOT_Y1)):
        svg.append(f'<rect x="{LEFT}" y="{y0}" width="{W - LEFT - RIGHT}" height="{y1 - y0}" '
                   f'fill="none" stroke="#999"/>')
    svg.append(f'<text x="{LEFT - 6}" y="{TOP_Y0 + 4}" text-anchor="end">{sent_max / GIB:.1f} GiB</text>')
    svg.append(f'<text x="{LEFT - 6}" y="{TOP_Y1}" text-anchor="end">0</text>')
    svg.append(f'<text x="{LEFT - 6}" y="{BOT_Y0 + 4}" text-anchor="end">{rate_max / MIB:.0f} MiB/s</text>')
    svg.append(f'<text x="{LEFT - 6}" y="{BOT_Y1}" text-anchor="end">0</text>')
    svg.append(f'<text x="{LEFT}" y="{BOT_Y0 - 6}" fill="#d97706">'
               f'guest dirty rate while precopy ran (QEMU\'s, measured at each sync)</text>')
    # stun band and switch lines, under the curves
    ev = events(report, attempt)
    stun_ms = attempt.get("downtime_ms")
    if "stop" in ev and stun_ms is not None:
        x0 = x(ev["stop"])
        w = max(2.0, x(ev["stop"] + stun_ms / 1000) - x0)
        svg.append(f'<rect x="{x0:.1f}" y="{TOP_Y0}" width="{w:.1f}" height="{BOT_Y1 - TOP_Y0}" '
                   f'fill="#dc2626" opacity="0.35"/>')
        anchor = "end" if x0 > W / 2 else "start"
        tx = x0 - 4 if anchor == "end" else x0 + w + 4
        svg.append(f'<text x="{tx:.1f}" y="{TOP_Y0 + 14}" text-anchor="{anchor}" fill="#dc2626" '
                   f'font-weight="bold">stun {fmt_ms(stun_ms)}</text>')
    for key, text in (("switch", "switch to postcopy"), ("forced", "budget over: downtime-limit raised")):
        if key in ev:
            xs = x(ev[key])
            svg.append(f'<line x1="{xs:.1f}" y1="{TOP_Y0}" x2="{xs:.1f}" y2="{BOT_Y1}" '
                       f'stroke="#7c3aed" stroke-dasharray="4 3"/>')
            anchor = "end" if xs > W / 2 else "start"
            tx = xs - 4 if anchor == "end" else xs + 4
            svg.append(f'<text x="{tx:.1f}" y="{TOP_Y0 + 30}" text-anchor="{anchor}" '
                       f'fill="#7c3aed">{text}</text>')
    # curves
    sent = " ".join(f"{x(r['t_s']):.1f},{y_top(r['transferred_bytes']):.1f}" for r in rows)
    remaining = " ".join(f"{x(r['t_s']):.1f},{y_top(max(0, r['remaining_bytes'])):.1f}" for r in rows)
    svg.append(f'<polyline points="{sent}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    svg.append(f'<polyline points="{remaining}" fill="none" stroke="#6b7280" stroke-dasharray="5 3"/>')
    svg.append(f'<text x="{LEFT + 6}" y="{TOP_Y0 + 14}" fill="#2563eb">sent</text>')
    svg.append(f'<text x="{LEFT + 40}" y="{TOP_Y0 + 14}" fill="#6b7280">still to send</text>')
    # QEMU measures the rate at each sync: a step per sync, only while the
    # source runs precopy (after the stop the guest runs on the destination)
    measured = [r for r in rows if r["status"] == "active" and r["dirty_sync_count"] >= 2]
    if measured:
        pts = [f"{x(measured[0]['t_s']):.1f},{BOT_Y1}"]
        for a, b in zip(measured, measured[1:] + [None]):
            y = y_bot(max(0, a["dirty_pages_rate"]) * 4096)
            t_next = b["t_s"] if b else a["t_s"]
            pts += [f"{x(a['t_s']):.1f},{y:.1f}", f"{x(t_next):.1f},{y:.1f}"]
        pts.append(f"{x(measured[-1]['t_s']):.1f},{BOT_Y1}")
        svg.append(f'<polygon points="{" ".join(pts)}" fill="#f59e0b" opacity="0.5" stroke="#d97706"/>')
    else:
        svg.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{(BOT_Y0 + BOT_Y1) / 2 + 4}" '
                   f'text-anchor="middle" fill="#999">no precopy sync after the first pass: '
                   f'no dirty rate measured while the source ran</text>')
    # sync ticks: where the count went up between two polls
    syncs = 0
    prev = rows[0]["dirty_sync_count"]
    for r in rows[1:]:
        if r["dirty_sync_count"] > prev:
            xs = x(r["t_s"])
            svg.append(f'<line x1="{xs:.1f}" y1="{SYNC_Y - 7}" x2="{xs:.1f}" y2="{SYNC_Y + 5}" '
                       f'stroke="#111" stroke-width="1.5"/>')
            syncs += r["dirty_sync_count"] - prev
            prev = r["dirty_sync_count"]
    total_syncs = max(r["dirty_sync_count"] for r in rows)
    svg.append(f'<text x="{LEFT - 6}" y="{SYNC_Y + 4}" text-anchor="end">{total_syncs} syncs</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        report = json.load(f)
    label = argv[3] if len(argv) == 4 else argv[1]
    with open(argv[2], "w") as f:
        f.write(render(report, label))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
