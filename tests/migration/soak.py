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
import argparse
import json
import os
import socket
import subprocess
import sys
import time

ACCEL_ARGS = ["trace-install=loose", "wp-granularity=1G", "switchover=bitmap",
              "transport=io_uring"]
# Accelerator stats that describe one migration: a leak of state from one
# migration into the next (a cancelled one included) changes them.
PER_MIGRATION = ["switchover_mode", "peer_state", "discard_format", "discard_blocks_encoded",
                 "prediscard_blocks_encoded", "transport_in_force", "transport_fallbacks",
                 "stream_opens", "wp_granularity_in_force_bytes", "trace_install_loose"]
# RSS may move with the guest and with TCG's translation cache, not with hops
RSS_MARGIN = 0.15
RSS_SLACK_KIB = 64 * 1024
FD_SLACK = 2


class Qmp:
    """A minimal QMP client: commands in order, events skipped."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no QMP socket at {path} after {timeout:.0f} s")
                time.sleep(0.05)
        self.sock.settimeout(60)
        self.buf = b""
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError(f"{name}: {reply['error'].get('desc')}")
            return reply.get("return")

    def close(self):
        self.sock.close()


class Vm:
    def __init__(self, opts, run_dir, name, incoming):
        self.name = name
        self.drv_sock = os.path.join(run_dir, f"{name}-drv.sock")
        self.own_sock = os.path.join(run_dir, f"{name}-soak.sock")
        self.serial = os.path.join(run_dir, f"{name}-serial.log")
        self.stderr_path = os.path.join(run_dir, f"{name}-stderr.log")
        argv = [opts.qemu, "-nodefaults", "-display", "none", "-machine", "pc",
                "-L", "/usr/share/qemu"]
        if os.path.isdir("/usr/share/seabios"):
            argv += ["-L", "/usr/share/seabios"]
        argv += ["-m", opts.mem, "-smp", "2", "-name", "debug-threads=on",
                 "-accel", "tcg,thread=multi",
                 "-qmp", f"unix:{self.drv_sock},server=on,wait=off",
                 "-qmp", f"unix:{self.own_sock},server=on,wait=off",
                 "-serial", f"file:{self.serial}",
                 "-kernel", os.path.join(opts.guest_dir, "vmlinuz"),
                 "-initrd", os.path.join(opts.guest_dir, "initramfs.cpio.gz"),
                 "-append", f"console=ttyS0 quiet mig.threads=2 mig.hot_mb={opts.hot_mb}",
                 "-object", "migration-accel,id=ma0,plugin=" + opts.plugin.replace(",", ",,") +
                 "".join(",args=" + a for a in ACCEL_ARGS)]
        if incoming:
            argv += ["-incoming", "defer", "-S"]
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=subprocess.STDOUT)
        self.qmp = Qmp(self.own_sock)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.qmp.cmd("quit")
            except (RuntimeError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.qmp.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_driver(opts, src, dst, run_dir, tag, extra):
    port = free_port()
    report = os.path.join(run_dir, f"{tag}.json")
    argv = [opts.driver, "--src-qmp", src.drv_sock, "--dst-qmp", dst.drv_sock,
            "--dst-uri", f"tcp:127.0.0.1:{port}", "--src-serial", src.serial,
            "--dst-serial", dst.serial, "--wait-serial", "mig: sec=", "--warmup", "1",
            "--capability", "postcopy-ram=on", "--json", report,
            "--run-dir", os.path.join(run_dir, tag)] + extra
    with open(os.path.join(run_dir, f"{tag}-driver.log"), "w") as log:
        status = subprocess.call(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        with open(report) as f:
            return status, json.load(f)
    except (OSError, ValueError):
        return status, None


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
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--hops", type=int, default=10)
    ap.add_argument("--cancel-every", type=int, default=5)
    ap.add_argument("--mem", default="2G")
    ap.add_argument("--hot-mb", type=int, default=128)
    ap.add_argument("--json")
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
        src.stop()
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
