#!/usr/bin/env python3
"""Hostile bytes on the wire: random damage to the accelerator's messages.

Each trial migrates the guest through wire_proxy.Proxy, which damages one
accelerator message (a random one of the chosen kind: flipped, truncated,
duplicated or dropped), with every acceleration on and postcopy-ram on
both sides. Allowed outcomes:
  completed   the migration completed and memory is byte-identical;
  refused     it failed, the source kept running, and a retry to a fresh
              destination without the proxy completed byte-identical
              (counted apart: whether the QEMUs' error lines name the
              damaged message).
  recovered   (receive bitmaps, sent only when a paused postcopy resumes)
              the damaged recovery failed with both sides paused again,
              and the next migrate-recover completed byte-identical.
Never allowed: a QEMU killed by a signal (crash), an attempt not ended
after --hang-s (hang), a completed migration with different memory, a
source that stopped running, a failed retry, or a failed recovery
(the guest ran on the destination by then). The guest runs on: each
trial's destination becomes the next one's source.
Prints one line per trial and counts per kind and outcome; --json writes
them all. Exit status 0 when no trial had a forbidden outcome.
"""
import collections
import json
import os
import random
import re
import subprocess
import sys
import time

from qemu_pair import ACCEL_ARGS, Vm, argument_parser, free_port, run_driver
from wire_proxy import KINDS, OPS, Proxy, Target, random_target

# Every trial needs the switch and a postcopy phase to damage: never a
# precopy completion (the first pass, leaving out what the guest never
# touched, can take 0.1 s and leave almost nothing dirty), and the switch
# right after the first pass, whatever that pass left
ACCEL_ARGS.extend(["precopy-downtime-max-ms=0", "precopy-max-passes=1"])

# what an error line must mention to name the damaged message
NAMES = {
    "ping": r"PING|PONG|ping|pong|migration-accel|accelerator|return path|RP",
    "discard": r"DISCARD|discard",
    "prediscard": r"DISCARD|discard",
    "recvbitmap": r"receive bitmap|RECV_BITMAP|recv.?bitmap|bitmap",
}
ALLOWED = ("completed", "refused-named", "refused-unnamed", "recovered-named",
           "recovered-unnamed", "untouched")


def error_lines(path, since=0):
    """The lines of a QEMU's stderr from byte offset since on."""
    try:
        with open(path, errors="replace") as f:
            f.seek(since)
            return [line.strip() for line in f if line.strip()]
    except OSError:
        return []


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def trial(opts, k, src, kind, rng):
    """Returns (outcome, record, the source for the next trial)."""
    target = random_target(kind, rng)
    if opts.damage:
        subtype, nth, op = opts.damage.split(":")
        target = Target(subtype, int(nth), op, rng)
    rec = {"trial": k, "kind": kind, "subtype": target.subtype, "nth": target.nth,
           "op": target.op}
    if kind == "recvbitmap":
        return trial_recovery(opts, k, src, kind, target, rec)
    src_log_at = log_size(src.stderr_path)
    dst = Vm(opts, opts.run_dir, f"t{k:03d}", True)
    port = free_port()
    proxy = Proxy(port, target)
    t0 = time.monotonic()
    status, rep = run_driver(opts, src, dst, opts.run_dir, f"t{k:03d}",
                             ["--verify", "--post-run", "3", "--warmup", "0.5",
                              "--migrate-timeout", str(opts.hang_s),
                              "--src-uri", f"tcp:127.0.0.1:{proxy.port}"], port=port)
    rec["seconds"] = round(time.monotonic() - t0, 1)
    proxy.stop()
    rec["damage"] = target.done
    att = ((rep or {}).get("attempts") or [{}])[-1]
    rec["status"] = att.get("status")
    # the migration's own time: a first trial also waits for the guest to boot
    rec["attempt_s"] = att["driver_wall_ms"] / 1000 if att.get("driver_wall_ms") \
        else rec["seconds"]
    rec["verify"] = ((rep or {}).get("verify") or {}).get("result")
    if rec["status"] != "completed":
        try:
            dst.proc.wait(5)  # a refusing destination exits
        except subprocess.TimeoutExpired:
            pass
    dst_rc, src_rc = dst.proc.poll(), src.proc.poll()
    rec["dst_exit"], rec["src_exit"] = dst_rc, src_rc
    # the first error lines of each side: what it said when it refused
    rec["dst_errors"] = error_lines(dst.stderr_path)[:6]
    rec["src_errors"] = [line for line in error_lines(src.stderr_path, src_log_at)
                         if "INFO" not in line][:6]
    rec["errors"] = rec["dst_errors"] + rec["src_errors"]
    if (dst_rc is not None and dst_rc < 0) or (src_rc is not None and src_rc < 0):
        return "CRASH", rec, None
    if rec["status"] == "completed":
        if rec["verify"] != "identical" or status != 0:
            return "DIFFERENT" if rec["verify"] == "mismatch" else "CHECK-FAILED", rec, dst
        src.stop()
        return ("completed" if target.done else "untouched"), rec, dst
    if src_rc is not None:
        return "SOURCE-DIED", rec, None
    try:
        mig = src.qmp.cmd("query-migrate").get("status")
        # "failed" is set before the source's vCPUs are restarted (a
        # bottom half does that): give it a moment
        for _ in range(100):
            run = src.qmp.cmd("query-status").get("status")
            if run == "running" or mig != "failed":
                break
            time.sleep(0.1)
    except RuntimeError as e:
        rec["src_qmp_error"] = str(e)
        return "SOURCE-LOST", rec, None
    rec["src_migration"], rec["src_runstate"] = mig, run
    if mig in ("active", "postcopy-active", "device", "setup", "pre-switchover") or \
            (rec["status"] or "").startswith("timeout") or rec["attempt_s"] >= opts.hang_s:
        return "HANG", rec, None
    if run != "running":
        return "SOURCE-STOPPED", rec, None
    dst.stop()
    retry = Vm(opts, opts.run_dir, f"t{k:03d}-retry", True)
    rstatus, rrep = run_driver(opts, src, retry, opts.run_dir, f"t{k:03d}-retry",
                               ["--verify", "--post-run", "3", "--warmup", "0.5"])
    rec["retry_verify"] = ((rrep or {}).get("verify") or {}).get("result")
    if rstatus != 0 or rec["retry_verify"] != "identical":
        return "RETRY-FAILED", rec, retry
    src.stop()
    if not target.done:
        return "untouched", rec, retry
    named = any(re.search(NAMES[kind], e) for e in rec["errors"])
    return ("refused-named" if named else "refused-unnamed"), rec, retry


def driver_log_text(opts, k):
    try:
        with open(os.path.join(opts.run_dir, f"t{k:03d}-driver.log")) as f:
            return f.read()
    except OSError:
        return ""


def trial_recovery(opts, k, src, kind, target, rec):
    """The receive bitmaps only travel in a postcopy recovery: pause the
    migration in postcopy, then resume it through the proxy. The guest
    runs on the destination by then, so there is nothing to refuse to: a
    damaged recovery must fail with both sides paused again, and the
    driver's next migrate-recover (through the proxy, now passing
    everything) must complete byte-identical."""
    src_log_at = log_size(src.stderr_path)
    dst = Vm(opts, opts.run_dir, f"t{k:03d}", True)
    recover_port = free_port()
    proxy = Proxy(recover_port, target)
    t0 = time.monotonic()
    status, rep = run_driver(opts, src, dst, opts.run_dir, f"t{k:03d}",
                             ["--verify", "--post-run", "3", "--warmup", "0.5",
                              "--migrate-timeout", str(opts.hang_s),
                              "--scenario", "postcopy-pause", "--after", "0.3",
                              "--param", "max-postcopy-bandwidth=20971520",
                              # postcopy must start: no precopy completion,
                              # and a first pass long enough for the guest to
                              # dirty pages (uncapped, it can end in 0.1 s
                              # with nothing dirty, and complete by precopy)
                              "--downtime-limit", "1", "--max-bandwidth", "100M",
                              "--dst-recover-uri", f"tcp:127.0.0.1:{recover_port}",
                              "--src-recover-uri", f"tcp:127.0.0.1:{proxy.port}"])
    rec["seconds"] = round(time.monotonic() - t0, 1)
    proxy.stop()
    rec["damage"] = target.done
    att = ((rep or {}).get("attempts") or [{}])[-1]
    rec["status"] = att.get("status")
    rec["recover_attempts"] = att.get("postcopy_recover_attempts")
    rec["paused_s"] = att.get("postcopy_paused_s")
    rec["verify"] = ((rep or {}).get("verify") or {}).get("result")
    dst_rc, src_rc = dst.proc.poll(), src.proc.poll()
    rec["dst_exit"], rec["src_exit"] = dst_rc, src_rc
    rec["dst_errors"] = error_lines(dst.stderr_path)[:6]
    rec["src_errors"] = [line for line in error_lines(src.stderr_path, src_log_at)
                         if "INFO" not in line][:6]
    rec["errors"] = rec["dst_errors"] + rec["src_errors"]
    if (dst_rc is not None and dst_rc < 0) or (src_rc is not None and src_rc < 0):
        return "CRASH", rec, None
    # the driver gave up waiting, or the recovery itself took too long
    # (the time from the pause until postcopy ran again)
    if "60 s after migrate resume" in driver_log_text(opts, k) or \
            (rec["paused_s"] or 0) >= opts.hang_s:
        return "HANG", rec, None
    if rec["status"] != "completed":
        # the guest ran on the destination: a failed recovery lost it
        return "RECOVERY-FAILED", rec, None
    if rec["verify"] != "identical" or status != 0:
        return "DIFFERENT" if rec["verify"] == "mismatch" else "CHECK-FAILED", rec, dst
    src.stop()
    if not target.done:
        return "untouched", rec, dst
    if (rec["recover_attempts"] or 0) <= 1:
        return "completed", rec, dst
    named = any(re.search(NAMES[kind], e) for e in rec["errors"])
    return ("recovered-named" if named else "recovered-unnamed"), rec, dst


def main():
    ap = argument_parser(__doc__, mem="1G", hot_mb=64)
    ap.add_argument("--trials", type=int, default=100, help="per kind")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--hang-s", type=int, default=30)
    ap.add_argument("--damage", metavar="SUBTYPE:N:OP",
                    help="damage this message in every trial instead of a random one, "
                    "e.g. prediscard:0:drop or hello-ask:0:flip@4^0xd5 (to reproduce one)")
    opts = ap.parse_args()
    if opts.damage:
        parts = opts.damage.split(":")
        subtypes = [t for ts in KINDS.values() for t in ts]
        if len(parts) != 3 or parts[0] not in subtypes or not parts[1].isdigit() \
                or not (parts[2] in OPS or re.fullmatch(r"flip@\d+\^(0x)?[0-9a-f]+", parts[2])):
            ap.error(f"--damage {opts.damage}: expected SUBTYPE:N:OP, SUBTYPE one of "
                     f"{', '.join(subtypes)}, OP one of {', '.join(OPS)} or flip@BYTE^MASK")
    os.makedirs(opts.run_dir, exist_ok=True)
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    kinds = opts.kinds.split(",")
    for kind in kinds:
        if kind not in KINDS:
            ap.error(f"unknown kind {kind} (known: {', '.join(KINDS)})")
    plan = [kind for kind in kinds for _ in range(opts.trials)]
    rng.shuffle(plan)
    print(f"hostile-wire: {len(plan)} trials ({opts.trials} per kind: {', '.join(kinds)}), "
          f"seed {seed}, run dir {opts.run_dir}", flush=True)
    counts = collections.defaultdict(collections.Counter)
    records = []
    src = Vm(opts, opts.run_dir, "t000-boot", False)
    t0 = time.monotonic()
    try:
        for k, kind in enumerate(plan, 1):
            outcome, rec, nxt = trial(opts, k, src, kind, rng)
            rec["outcome"] = outcome
            records.append(rec)
            counts[kind][outcome] += 1
            print(f"{k:4d} {kind:10s} {outcome:15s} {rec['seconds']:5.1f}s "
                  f"{rec['damage'] or rec['subtype'] + ' not seen'}"
                  + ("" if outcome in ALLOWED else f"  errors: {rec['errors']}"), flush=True)
            if nxt is None:
                print("hostile-wire: no source left to go on with", flush=True)
                break
            src = nxt
    finally:
        Vm.stop_all()
    bad = sum(n for c in counts.values() for o, n in c.items() if o not in ALLOWED)
    print(f"hostile-wire: {'PASS' if not bad else 'FAIL'}: {len(records)} trials in "
          f"{time.monotonic() - t0:.0f} s, {bad} with a forbidden outcome")
    for kind in kinds:
        print(f"  {kind:10s} " + ", ".join(f"{o} {n}" for o, n in sorted(counts[kind].items())))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"seed": seed, "counts": counts, "trials": records}, f, indent=1)
    return 0 if not bad and len(records) == len(plan) else 1


if __name__ == "__main__":
    sys.exit(main())
