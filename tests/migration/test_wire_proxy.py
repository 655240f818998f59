#!/usr/bin/env python3
"""Unit test of wire_proxy's scanners on a made-up stream: every message
is found at its place, decoys are not, and each damage does what it says.
Exit status 0 when every check passed."""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_proxy import Target, partial_prefix, scan_return_path, scan_stream  # noqa: E402

failed = 0


def check(name, cond):
    global failed
    print(("ok: " if cond else "FAIL: ") + name)
    failed += not cond


def ping(value):
    return b"\x08\x00\x02\x00\x04" + struct.pack(">I", value)


def discard(name, payload=b"xyz"):
    enc = b"MABM" + payload
    n = name.encode()
    body = b"\x4d" + bytes([len(n)]) + n + b"\x00" + struct.pack(">Q", len(enc))
    return b"\x08\x00\x06" + struct.pack(">H", len(body)) + body, enc


def stream():
    """(bytes, {subtype: [(start, end)]}) with decoys between messages."""
    parts, where, pos = [], {}, 0

    def add(data, sub=None):
        nonlocal pos
        if sub:
            where.setdefault(sub, []).append((pos, pos + len(data)))
        parts.append(data)
        pos += len(data)
    add(b"\x00" * 100 + ping(3) + b"\x08\x00\x02\x00\x04MX")  # stock ping, decoy
    add(ping(0x4d410001), "hello-ask")
    hdr, enc = discard("pc.ram")
    add(hdr + enc, "prediscard")
    add(b"\x08\x00\x06\x00\x10\x4d" + b"\x00" * 20)            # not a bitmap
    add(ping(0x4d420001), "ack-ping")
    hdr, enc = discard("pc.bios", b"abcdef")
    add(hdr + enc, "discard")
    add(ping(0x4d420002), "ack-ping")
    add(b"\xff" * 50)
    return b"".join(parts), where


def run_stream(data, target, chunk):
    """Feeds data in chunks as the proxy's pump does; returns what it sent."""
    out, buf, state = bytearray(), bytearray(), {"acks": 0}
    for i in range(0, len(data), chunk):
        buf += data[i:i + chunk]
        safe, cut = scan_stream(buf, 0, target, state)
        out += buf[:safe]
        if cut is not None:
            return bytes(out), True
        del buf[:safe]
    return bytes(out + buf), False


data, where = stream()
rng = random.Random(1)
for chunk in (1, 7, 4096):
    t = Target("none", 0, "flip", rng)
    out, cut = run_stream(data, t, chunk)
    check(f"chunk {chunk}: untouched stream passes as it came", out == data and not cut)
    check(f"chunk {chunk}: each message seen once (decoys not)",
          t.seen == {"hello-ask": 1, "prediscard": 1, "ack-ping": 2, "discard": 1})

for sub, spans in where.items():
    for nth, (s, e) in enumerate(spans):
        for op in ("flip", "drop", "duplicate", "truncate"):
            t = Target(sub, nth, op, random.Random(nth))
            out, cut = run_stream(data, t, 13)
            ok = t.done is not None
            if op == "drop":
                ok = ok and out == data[:s] + data[e:]
            elif op == "duplicate":
                ok = ok and out == data[:e] + data[s:e] + data[e:]
            elif op == "flip":
                diff = [i for i in range(len(data)) if out[i] != data[i]]
                ok = ok and len(out) == len(data) and len(diff) == 1 and s <= diff[0] < e
            else:
                ok = ok and cut and s < len(out) < e and out == data[:len(out)]
            check(f"{op} {sub} #{nth}: {t.done}", ok)

# only a tail that may begin a message is held back
check("tail: the start of a ping is held", partial_prefix(b"abc\x08\x00\x02") == 3)
check("tail: the start of a discard is held", partial_prefix(b"abc\x08\x00") == 2)
check("tail: anything else goes out", partial_prefix(b"abc\x08\x01") == 0)

# return path: be16 type, be16 length, payload
rp = (struct.pack(">HH", 2, 4) + struct.pack(">I", 1) +            # stock pong
      struct.pack(">HH", 2, 4) + struct.pack(">I", 0x6d610001) +   # hello-answer
      struct.pack(">HH", 4, 12) + b"\x00" * 12 +                   # page request
      struct.pack(">HH", 2, 4) + struct.pack(">I", 0x4d420001))    # ack-pong
t = Target("ack-pong", 0, "drop", random.Random(0))
buf = bytearray(rp)
safe, cut = scan_return_path(buf, t)
check("return path: ack-pong dropped, the rest intact",
      bytes(buf[:safe]) == rp[:-8] and t.seen == {"hello-answer": 1, "ack-pong": 1})
t = Target("hello-answer", 0, "flip", random.Random(0))
buf = bytearray(rp[:10])  # half a message: held back
safe, cut = scan_return_path(buf, t)
check("return path: a partial message is held back", safe == 8 and t.done is None)

# a receive bitmap: the message, then be64 size, the encoding, the end mark
def recv_bitmap(name, enc, compressed=True):
    size = len(enc) | (1 << 63 if compressed else 0)
    return (struct.pack(">HHB", 5, len(name) + 1, len(name)) + name +
            struct.pack(">Q", size) + enc + struct.pack(">Q", 0x0123456789abcdef))


rb = (recv_bitmap(b"pc.ram", b"MABM" + b"\x01" * 40) +
      recv_bitmap(b"vga.vram", b"\xff" * 16, compressed=False) +  # stock: not ours
      recv_bitmap(b"pc.bios", b"MABM\x02\x03") +
      struct.pack(">HH", 6, 4) + struct.pack(">I", 1))            # resume ack
first = len(recv_bitmap(b"pc.ram", b"MABM" + b"\x01" * 40))
bios = len(recv_bitmap(b"pc.bios", b"MABM\x02\x03"))
for op in ("drop", "duplicate", "flip"):
    t = Target("recv-bitmap", 1, op, random.Random(1))
    buf = bytearray(rb)
    safe, cut = scan_return_path(buf, t)
    want = {"drop": rb[:-bios - 8] + rb[-8:],
            "duplicate": rb[:-8] + rb[-bios - 8:-8] + rb[-8:]}.get(op)
    ok = safe == len(buf) and t.seen == {"recv-bitmap": 2} and "pc.bios" in (t.done or "")
    ok = ok and (bytes(buf) == want if want else
                 sum(a != b for a, b in zip(buf, rb)) == 1 and len(buf) == len(rb))
    check(f"return path: recv-bitmap #1 {op}: {t.done}", ok)
t = Target("recv-bitmap", 0, "flip", random.Random(0))
buf = bytearray(rb[:first - 3])  # the end mark not yet here: held back
safe, cut = scan_return_path(buf, t)
check("return path: a partial receive bitmap is held back", safe == 0 and t.done is None)

print(f"{failed} check(s) failed" if failed else "all checks passed")
sys.exit(1 if failed else 0)
