#!/usr/bin/env python3
"""Soak: one guest migrated back and forth, hop after hop.

QEMU cannot take an incoming migration into a process that has run, so
each hop's destination is a fresh QEMU and the ping-pong A -> B -> A ...
alternates two roles, not two processes. Every accelerator option is on
(loose, 1G, switchover=bitmap, io_uring) with postcopy-ram on both sides.
Before every --cancel-every'th hop the source first migrates to a
throw-away destination and that attempt is cancelled (migrate_cancel).

Each hop is one run of the migration driver against the two running
QEMUs (external mode): it migrates, compares guest memory page by page,
resumes the destination and checks the guest's own pattern. Between
hops this script reads, over a second QMP socket, the accelerator's
stats of the source, and the RSS and open descriptors of both QEMUs.
It judges that what a hop leaves behind does not grow: per-migration
stats equal the first hop's, descriptors stay put, RSS stays within a
margin. Prints one line per hop and a verdict; --json writes it all.
Exit status 0 when every hop passed and the figures stayed flat.
"""
import json
import os
import sys
import time

from qemu_pair import Vm, argument_parser, run_driver
# Accelerator stats that describe one migration: a leak of state from one
# migration into the next (a cancelled one included) changes them.
PER_MIGRATION = ["switchover_mode", "peer_state", "discard_format", "discard_blocks_encoded",
                 "prediscard_blocks_encoded", "transport_in_force", "transport_fallbacks",
                 "stream_opens", "wp_granularity_in_force_bytes", "trace_install_loose"]
# RSS may move with the guest and with TCG's translation cache, not with hops
RSS_MARGIN = 0.15
RSS_SLACK_KIB = 64 * 1024
FD_SLACK = 2


def hop(opts, run_dir, k, src, cancel):
    """Migrate src to a fresh destination; returns (destination, record)."""
    rec = {"hop": k, "cancelled_first": cancel, "errors": []}
    if cancel:
        throwaway = Vm(opts, run_dir, f"vm{k:02d}-cancelled", True)
        status, rep = run_driver(opts, src, throwaway, run_dir, f"hop{k:02d}-cancel",
                                 ["--scenario", "cancel", "--after", "0.5",
                                  "--max-bandwidth", "50M"])
        att = (rep or {}).get("attempts") or [{}]
        rec["cancel_status"] = att[0].get("status")
        if status != 0 or rec["cancel_status"] != "cancelled":
            rec["errors"].append(f"the cancelled attempt: driver status {status}, "
                                 f"migration {rec['cancel_status']}")
        throwaway.stop()
    dst = Vm(opts, run_dir, f"vm{k:02d}", True)
    status, rep = run_driver(opts, src, dst, run_dir, f"hop{k:02d}",
                             ["--verify", "--post-run", "2", "--max-bandwidth", "200M"])
    mig = (rep or {}).get("migration") or {}
    rec.update(driver_status=status, verify=(rep or {}).get("verify", {}).get("result"),
               status=mig.get("status"), downtime_ms=mig.get("downtime_ms"),
               total_ms=mig.get("total_time_ms"))
    if status != 0:
        rec["errors"].append(f"driver exit status {status} (log: hop{k:02d}-driver.log)")
    try:
        stats = src.qmp.cmd("qom-get", {"path": "/objects/ma0", "property": "stats"})
        rec["src_stats"] = {key: stats.get(key) for key in PER_MIGRATION}
    except RuntimeError as e:
        rec["errors"].append(f"source stats: {e}")
    # the source after its migration, the destination once it runs the guest
    rec.update(src_rss_kib=src.rss_kib(), src_fds=src.fds(),
               dst_rss_kib=dst.rss_kib(), dst_fds=dst.fds())
    src.stop()
    return dst, rec


def judge(hops):
    """Errors where a figure moved from the first hop's."""
    errors = []
    first = hops[0]
    for rec in hops:
        k = rec["hop"]
        errors += [f"hop {k}: {e}" for e in rec["errors"]]
        st = rec.get("src_stats") or {}
        if st.get("switchover_mode") != "bitmap" or st.get("peer_state") != "migaccel":
            errors.append(f"hop {k}: switchover {st.get('switchover_mode')}, peer "
                          f"{st.get('peer_state')}: expected the bitmap switchover with the "
                          "accelerator on both sides")
        if not str(st.get("transport_in_force")).startswith("io_uring"):
            errors.append(f"hop {k}: transport {st.get('transport_in_force')}, not io_uring")
        for key in PER_MIGRATION:
            if st.get(key) != (first.get("src_stats") or {}).get(key):
                errors.append(f"hop {k}: stat {key} = {st.get(key)!r}, hop 1 had "
                              f"{(first.get('src_stats') or {}).get(key)!r}")
        for role in ("src", "dst"):
            fds, fds0 = rec[f"{role}_fds"], first[f"{role}_fds"]
            if abs(fds - fds0) > FD_SLACK:
                errors.append(f"hop {k}: {role} has {fds} open descriptors, hop 1's had {fds0}")
            rss, rss0 = rec[f"{role}_rss_kib"], first[f"{role}_rss_kib"]
            if rss > rss0 * (1 + RSS_MARGIN) + RSS_SLACK_KIB:
                errors.append(f"hop {k}: {role} RSS {rss // 1024} MiB, hop 1's "
                              f"{rss0 // 1024} MiB")
    return errors


def main():
    ap = argument_parser(__doc__, mem="2G", hot_mb=128)
    ap.add_argument("--hops", type=int, default=10)
    ap.add_argument("--cancel-every", type=int, default=5)
    opts = ap.parse_args()
    os.makedirs(opts.run_dir, exist_ok=True)

    t0 = time.monotonic()
    src = Vm(opts, opts.run_dir, "vm00", False)
    hops, stop_reason = [], None
    print(f"soak: {opts.hops} hops, a cancelled attempt first on every hop divisible by {opts.cancel_every}; "
          f"run dir {opts.run_dir}")
    print(f"{'hop':>3} {'cancel':>6} {'status':>9} {'verify':>9} {'stun ms':>7} {'total ms':>8} "
          f"{'src RSS MiB':>11} {'src fds':>7} {'dst RSS MiB':>11} {'dst fds':>7}")
    try:
        for k in range(1, opts.hops + 1):
            cancel = opts.cancel_every > 0 and k % opts.cancel_every == 0
            dst, rec = hop(opts, opts.run_dir, k, src, cancel)
            hops.append(rec)
            src = dst
            print(f"{k:3d} {'yes' if cancel else '':>6} {rec['status'] or '-':>9} "
                  f"{rec['verify'] or '-':>9} {rec['downtime_ms'] or '-':>7} "
                  f"{rec['total_ms'] or '-':>8} {rec['src_rss_kib'] // 1024:11d} "
                  f"{rec['src_fds']:7d} {rec['dst_rss_kib'] // 1024:11d} {rec['dst_fds']:7d}"
                  + (f"  ERROR: {'; '.join(rec['errors'])}" if rec["errors"] else ""),
                  flush=True)
            if rec["errors"]:
                stop_reason = f"hop {k} failed"
                break
    finally:
        Vm.stop_all()
    errors = judge(hops) if hops else ["no hop ran"]
    verdict = "PASS" if not errors and not stop_reason else "FAIL"
    print(f"soak: {verdict}: {len(hops)} hops in {time.monotonic() - t0:.0f} s")
    for e in errors[:20]:
        print(f"  {e}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"verdict": verdict, "hops": hops, "errors": errors,
                       "rss_margin": RSS_MARGIN, "fd_slack": FD_SLACK}, f, indent=1)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
