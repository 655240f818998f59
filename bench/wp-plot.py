#!/usr/bin/env python3
"""Plot median sync time against guest RAM from bench/wp-granularity.sh.

   bench/wp-plot.py RESULTS_DIR OUT.svg

Reads RESULTS_DIR/summary.json ("GiB/arm": median precopy sync ms) and
writes a log-log SVG, one line per arm. Plain Python: no plotting library
is needed on the machine that runs the bench.
"""
import json
import math
import sys

W, H = 640, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 30, 50
COLOURS = {"stock": "#c0392b", "4K": "#7f8c8d", "2M": "#2980b9", "1G": "#27ae60"}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = json.load(open(f"{src}/summary.json"))
    series = {}
    for key, ms in data.items():
        if ms is None:
            continue
        gib, arm = key.split("/")
        series.setdefault(arm, []).append((int(gib), ms))
    xs = [g for pts in series.values() for g, _ in pts]
    ys = [m for pts in series.values() for _, m in pts]
    if not xs:
        sys.exit("wp-plot: no data points")
    x0, x1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    if y0 == y1:
        y1 += 1

    def px(g):
        return LEFT + (math.log10(g) - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def py(ms):
        return H - BOTTOM - (math.log10(ms) - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">'
           'Median dirty-bitmap sync time during precopy (TCG, 256 MiB hot set)</text>']
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} ms</text>')
    for g in sorted(set(xs)):
        x = px(g)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{g} GiB</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">'
               'guest RAM (log scale)</text>')
    for i, (arm, pts) in enumerate(sorted(series.items())):
        pts.sort()
        colour = COLOURS.get(arm, "#000")
        path = " ".join(f"{px(g):.1f},{py(m):.1f}" for g, m in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for g, m in pts:
            out.append(f'<circle cx="{px(g):.1f}" cy="{py(m):.1f}" r="3" fill="{colour}"/>')
        label = "stock QEMU 7.2" if arm == "stock" else \
            f"series, loose, wp {arm}" if arm != "1G" else "ours: loose, wp 1G"
        ly = TOP + 20 + 18 * i
        out.append(f'<line x1="{W - RIGHT + 10}" y1="{ly}" x2="{W - RIGHT + 30}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{W - RIGHT + 34}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
