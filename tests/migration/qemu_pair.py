"""Running QEMUs for the Python harnesses (soak.py, hostile_wire.py).

Each Vm gets two QMP sockets: one for the migration driver (external
mode), one for the harness, which reads stats, RSS and descriptors
between the driver's runs.
"""
import argparse
import json
import os
import socket
import subprocess
import time

ACCEL_ARGS = ["trace-install=loose", "wp-granularity=1G", "switchover=bitmap",
              "transport=io_uring"]


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
    instances = []  # every QEMU started, so that none outlives its harness

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
        self.qmp = None
        Vm.instances.append(self)
        self.qmp = Qmp(self.own_sock)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    @classmethod
    def stop_all(cls):
        for vm in cls.instances:
            vm.stop()

    def stop(self):
        if self.proc.poll() is None:
            try:
                if self.qmp:
                    self.qmp.cmd("quit")
            except (RuntimeError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.qmp:
            self.qmp.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_driver(opts, src, dst, run_dir, tag, extra, port=None):
    """One driver run from src to dst (listening on port); returns its
    exit status and JSON report (None if it wrote none)."""
    port = port or free_port()
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


def argument_parser(doc, mem, hot_mb):
    """The options every harness takes: what to run and where."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    for name in ("--qemu", "--plugin", "--driver", "--guest-dir", "--run-dir"):
        ap.add_argument(name, required=True)
    ap.add_argument("--mem", default=mem)
    ap.add_argument("--hot-mb", type=int, default=hot_mb)
    ap.add_argument("--json")
    return ap
