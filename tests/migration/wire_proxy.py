"""A TCP proxy between two QEMUs that damages one accelerator message.

It relays the migration stream (source -> destination) and the return
path (destination -> source) of one connection, finds the accelerator's
own messages in them and, for the one chosen, flips a byte, truncates the
stream inside it, duplicates it or drops it. Everything else passes
untouched, so what the QEMUs do next is their answer to that message.

The messages (docs/switchover.md, patches 0007/0009 of the 10.0 series):
  migration stream, QEMU_VM_COMMAND (0x08), be16 command, be16 length:
    hello-ask   MIG_CMD_PING (2), be32 0x4d41xxxx ("MA" | features)
    ack-ping    MIG_CMD_PING (2), be32 0x4d42xxxx ("MB" | tag): after the
                pre-discard (tag 1) and the discard (tag 2)
    discard     MIG_CMD_POSTCOPY_RAM_DISCARD (6): 0x4d, u8 n, name, 0,
                be64 enc_len, then enc_len bytes of MABM: one per RAM
                block, before ack-ping 1 the pre-discard, after it the
                discard of the switchover
  return path, be16 type, be16 length:
    hello-answer MIG_RP_MSG_PONG (2), be32 0x6d61xxxx ("ma" | features)
    ack-pong     MIG_RP_MSG_PONG (2), be32 0x4d42xxxx (the ack-ping echoed,
                 or "MN": a NAK)
    recv-bitmap  MIG_RP_MSG_RECV_BITMAP (5): u8 n, name; then, outside the
                 message, be64 (1 << 63 | enc_len), enc_len bytes of MABM,
                 be64 end mark: one per RAM block, on the connection of a
                 postcopy recovery
The stream is scanned, not parsed: a match must have every field right
(command, length, magic, the name's terminator, the bitmap's "MABM"), so
guest pages that happen to hold the bytes are not mistaken for one.
"""
import random
import select
import socket
import struct
import threading

KINDS = {
    "ping": ["hello-ask", "hello-answer", "ack-ping", "ack-pong"],
    "discard": ["discard"],
    "prediscard": ["prediscard"],
    "recvbitmap": ["recv-bitmap"],
}
OPS = ["flip", "truncate", "duplicate", "drop"]
PING_PREFIX = b"\x08\x00\x02\x00\x04M"
DISCARD_PREFIX = b"\x08\x00\x06"
CHUNK = 1 << 20
IDLE_FLUSH_S = 0.05


class Target:
    """Which message to damage (its nth occurrence) and how."""

    def __init__(self, subtype, nth, op, rng):
        self.subtype, self.nth, self.op, self.rng = subtype, nth, op, rng
        self.seen = {}
        self.done = None      # what was done, once done
        self.close = False    # truncate: end both connections

    def offer(self, subtype, buf, start, end, info=""):
        """A message buf[start:end); damages it if it is the target.
        Returns how buf changed: (new end, bytes to forward before closing)."""
        n = self.seen.get(subtype, 0)
        self.seen[subtype] = n + 1
        if self.done or subtype != self.subtype or n != self.nth:
            return end, None
        size = end - start
        new_end, cut = end, None
        if self.op.startswith("flip"):
            at = self.rng.randrange(size)
            mask = self.rng.randrange(1, 256)
            if self.op != "flip":  # flip@AT^MASK: reproduce a given flip
                at, mask = (int(x, 0) for x in self.op[5:].split("^"))
            buf[start + at] ^= mask
            what = f"flipped byte {at} of {size} (xor 0x{mask:02x})"
        elif self.op == "drop":
            del buf[start:end]
            what, new_end = f"dropped its {size} bytes", start
        elif self.op == "duplicate":
            buf[end:end] = buf[start:end]
            what, new_end = f"sent its {size} bytes twice", end + size
        else:
            cut = start + self.rng.randrange(1, size) if size > 1 else start
            what = f"cut the stream after {cut - start} of its {size} bytes"
            self.close = True
        self.done = f"{subtype} #{n} {info} {what}".replace("  ", " ")
        return new_end, cut


def partial_prefix(buf):
    """Length of the longest tail of buf that is a proper prefix of a
    message's first bytes."""
    for k in range(len(PING_PREFIX) - 1, 0, -1):
        if buf.endswith(PING_PREFIX[:k]) or buf.endswith(DISCARD_PREFIX[:k]):
            return k
    return 0


def scan_stream(buf, pos, target, state):
    """Scans buf from pos for the source's messages. Returns (safe, cut):
    bytes before safe may be forwarded; cut, if set, ends the stream."""
    while True:
        p = buf.find(PING_PREFIX, pos)
        d = buf.find(DISCARD_PREFIX, pos)
        cands = [x for x in (p, d) if x >= 0]
        if not cands:
            # hold back only a tail that may begin a message
            return max(pos, len(buf) - partial_prefix(buf)), None
        i = min(cands)
        if i == p:
            if len(buf) < i + 9:
                return i, None
            if buf[i + 6] in b"AB":
                sub = "hello-ask" if buf[i + 6] == ord("A") else "ack-ping"
                if sub == "ack-ping":
                    state["acks"] += 1
                end, cut = target.offer(sub, buf, i, i + 9)
                if cut is not None:
                    return cut, cut
                pos = end
                continue
            pos = i + 1
            continue
        # discard bitmap: 0x08 0x0006 len 0x4d n name 0 be64 enc "MABM"...
        if len(buf) < i + 7:
            return i, None
        (length,) = struct.unpack_from(">H", buf, i + 3)
        n = buf[i + 6]
        if buf[i + 5] != 0x4d or length != n + 11:
            pos = i + 1
            continue
        if len(buf) < i + 5 + length + 4:
            return i, None
        if buf[i + 7 + n] != 0 or buf[i + 5 + length:i + 9 + length] != b"MABM":
            pos = i + 1
            continue
        (enc_len,) = struct.unpack_from(">Q", buf, i + 8 + n)
        end = i + 5 + length + enc_len
        if len(buf) < end:
            return i, None
        name = bytes(buf[i + 7:i + 7 + n]).decode(errors="replace")
        sub = "prediscard" if state["acks"] == 0 else "discard"
        end, cut = target.offer(sub, buf, i, end, f"('{name}')")
        if cut is not None:
            return cut, cut
        pos = end


def scan_return_path(buf, target):
    """Parses the return path's messages; returns (safe, cut) as scan_stream."""
    pos = 0
    while len(buf) >= pos + 4:
        mtype, length = struct.unpack_from(">HH", buf, pos)
        end = pos + 4 + length
        if len(buf) < end:
            break
        if mtype == 2 and length == 4:
            magic = bytes(buf[pos + 4:pos + 6])
            sub = {b"ma": "hello-answer", b"MB": "ack-pong", b"MN": "ack-pong"}.get(magic)
            if sub:
                end, cut = target.offer(sub, buf, pos, end)
                if cut is not None:
                    return cut, cut
        elif mtype == 5 and length >= 2 and length == buf[pos + 4] + 1:
            # the bitmap follows the message: take both as one
            if len(buf) < end + 8:
                break
            (size,) = struct.unpack_from(">Q", buf, end)
            compressed = size >> 63
            end += 8 + (size & ~(1 << 63)) + 8
            if len(buf) < end:
                break
            if compressed and buf[pos + 4 + length + 8:pos + 4 + length + 12] == b"MABM":
                name = bytes(buf[pos + 5:pos + 4 + length]).decode(errors="replace")
                end, cut = target.offer("recv-bitmap", buf, pos, end, f"('{name}')")
                if cut is not None:
                    return cut, cut
        pos = end
    return pos, None


class Proxy:
    """Listens on 127.0.0.1:port and relays to dst_port, damaging target."""

    def __init__(self, dst_port, target):
        self.dst_port, self.target = dst_port, target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.dst_port))
            for x in (c, s):
                x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns += [c, s]
                first = len(self.conns) == 2
            state = {"acks": 0}
            # only the first connection is the main channel
            fwd = threading.Thread(target=self._pump, daemon=True,
                                   args=(c, s, lambda b, p: scan_stream(b, p, self.target, state)
                                         if first else (len(b), None)))
            back = threading.Thread(target=self._pump, daemon=True,
                                    args=(s, c, lambda b, p: scan_return_path(b, self.target)
                                          if first else (len(b), None)))
            fwd.start()
            back.start()
            self.threads += [fwd, back]

    def _pump(self, src, dst, scan):
        buf, pos = bytearray(), 0
        # A sender that waits for an answer sends nothing more: bytes held
        # back for a message that may straddle chunks go out once the
        # line is idle (such a message is then passed undamaged).
        try:
            while True:
                if buf and not select.select([src], [], [], IDLE_FLUSH_S)[0]:
                    dst.sendall(buf)
                    buf = bytearray()
                    continue
                data = src.recv(CHUNK)
                if not data:
                    break
                if self.target.done:
                    if buf:
                        dst.sendall(buf)
                        buf = bytearray()
                    dst.sendall(data)
                    continue
                buf += data
                safe, cut = scan(buf, pos)
                dst.sendall(buf[:safe])
                if cut is not None:
                    self._close_all()
                    return
                del buf[:safe]
                pos = 0
            if buf:
                dst.sendall(buf)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            self._close_all()

    def _close_all(self):
        # Reset, not only shut down: a peer that keeps sending must learn
        # at once that the connection is gone, as from a crashed endpoint.
        # A FIN alone left the source's sends waiting on a zero window that
        # the orphaned socket kept advertising for a minute.
        with self.lock:
            for x in self.conns:
                try:
                    x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                x.close()

    def stop(self):
        self.lsock.close()
        self._close_all()
        with self.lock:
            for x in self.conns:
                x.close()


def random_target(kind, rng):
    subtype = rng.choice(KINDS[kind])
    # ack-ping/pong: the pre-discard's (0) or the discard's (1); a bitmap:
    # one of the first RAM blocks (a 1 GiB pc machine has six)
    nth = rng.randrange(2) if subtype.startswith("ack") else \
        rng.randrange(6) if kind != "ping" else 0
    return Target(subtype, nth, rng.choice(OPS), rng)
