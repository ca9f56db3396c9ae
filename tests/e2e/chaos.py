#!/usr/bin/env python3
"""A fault-injection TCP proxy for the replication link (stdlib and e2e.py).

It listens on a loopback port and forwards every connection to the
primary's replication address, both directions, reading the frame stream
(docs/wire.md: `length:le32 type:u8 payload`) so that it can hurt it one
frame at a time. With probability `rate` per frame, one fault, picked at
random among `kinds`:

  delay      hold the frame 1..50 ms, then forward it (and what follows)
  drop       leave the frame out and go on
  duplicate  forward the frame twice
  reorder    hold the frame until the next one has gone out
  truncate   forward the header and part of the payload, then close both
             sides of the connection (a peer cut off mid-frame)
  corrupt    flip one byte of the payload (frames with a payload only)
  stall      stop forwarding this direction for 100..1000 ms, then resume
             (longer than a short heartbeat_timeout: a passing partition)

On a cluster with a key ([cluster] key_file, docs/wire.md
"Authentication") each direction starts with an untagged Challenge (type
10) and every later frame carries a 16-byte tag after its payload, outside
its length: the proxy sees the Challenge and from then on moves each frame
with its tag, so faults still apply per frame. Every fault but delay and
stall then fails authentication at the receiver, which closes the
connection (one line in its log): that is expected, and what the key is
for. The Challenge is always forwarded untouched.

The first frame of each direction (the Hello) is forwarded untouched
unless hello=True: a corrupted Hello is refused as a configuration
mismatch, for good, which tests nothing else. Everything is drawn from
one random.Random(seed); thread scheduling still decides the order in
which the two directions draw, so a seed gives the same kinds of runs, not
the same byte streams. Every fault is a line of the log file:

  t_ms conn N dir b->a frame K type T len L FAULT detail

Use from Python (ChaosProxy(...).start(), .counts, .stop()) or run it:

  chaos.py --listen PORT --target HOST:PORT [--seed N] [--rate R]
           [--log FILE] [--kinds delay,drop,...] [--hello]
"""
import argparse
import collections
import os
import random
import socket
import struct
import sys
import threading
import time

from e2e import now_ms

KINDS = ("delay", "drop", "duplicate", "reorder", "truncate", "corrupt",
         "stall")
TYPES = {1: "Hello", 2: "EpochBegin", 3: "PageBatch", 4: "CpuState",
         5: "DeviceState", 6: "EpochCommit", 7: "Ack", 8: "Heartbeat",
         9: "Refuse"}


class _Closed(Exception):
    pass


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except OSError:
            chunk = b""
        if not chunk:
            raise _Closed(bytes(buf))
        buf += chunk
    return bytes(buf)


CHALLENGE = 10  # docs/wire.md: the untagged first frame on a keyed link
AUTH_TAG = 16  # bytes of tag after each later frame's payload


class ChaosProxy:
    def __init__(self, listen_port, target, seed=0, rate=0.01,
                 log_path=None, kinds=KINDS, hello=False,
                 listen_host="127.0.0.1", only=None):
        """only: a set of (direction, type name) pairs, e.g.
        {("a->b", "Heartbeat")}: faults hit those frames only (None: any
        frame)."""
        for k in kinds:
            if k not in KINDS:
                raise ValueError(f"unknown fault kind {k!r}")
        self.target = target
        self.rate = rate
        self.kinds = tuple(kinds)
        self.hello = hello
        self.only = only
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.frames = 0
        self.conns = 0
        self.log = open(log_path, "a", buffering=1) if log_path else None
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((listen_host, listen_port))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.stopping = False

    # --- public -----------------------------------------------------------

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            _close(s)
        if self.log:
            with self.lock:
                self.log.close()
                self.log = None

    # --- internals ----------------------------------------------------------

    def _note(self, conn, direction, idx, ftype, length, kind, detail=""):
        t = now_ms()  # the daemons' events' clock
        with self.lock:
            self.counts[kind] += 1
            if self.log:
                self.log.write(f"{t:.1f} conn {conn} dir {direction} frame "
                               f"{idx} type {TYPES.get(ftype, ftype)} len "
                               f"{length} {kind} {detail}".rstrip() + "\n")

    def _draw(self, payload_len):
        """The fault for one frame (None: none) and its parameter."""
        with self.lock:
            self.frames += 1
            if self.rng.random() >= self.rate:
                return None, 0
            kinds = [k for k in self.kinds
                     if k != "corrupt" or payload_len > 0]
            if not kinds:
                return None, 0
            kind = self.rng.choice(kinds)
            if kind == "delay":
                return kind, self.rng.randint(1, 50)
            if kind == "stall":
                return kind, self.rng.randint(100, 1000)
            if kind == "truncate":
                return kind, self.rng.randint(0, max(0, payload_len - 1))
            if kind == "corrupt":
                return kind, (self.rng.randrange(payload_len),
                              self.rng.randint(1, 255))
            return kind, 0

    def _accept(self):
        while not self.stopping:
            try:
                down, _ = self.lsock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:
                _close(down)
                continue
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns += 1
                conn = self.conns
                self.socks += [down, up]
            pair = (down, up)
            # down is the backup (it dials), up the primary
            threading.Thread(target=self._pump, daemon=True,
                             args=(conn, "b->a", down, up, pair)).start()
            threading.Thread(target=self._pump, daemon=True,
                             args=(conn, "a->b", up, down, pair)).start()

    def _pump(self, conn, direction, src, dst, pair):
        held = None  # a reordered frame, sent after the next one
        idx = 0
        tag = 0  # bytes after each payload: 16 once a Challenge went by
        first = 1  # frames forwarded untouched (the Hello; + Challenge)
        try:
            while True:
                try:
                    header = _recv_exact(src, 5)
                except _Closed as e:
                    if e.args[0]:  # a partial header: pass it on
                        dst.sendall(e.args[0])
                    break
                length, ftype = struct.unpack("<IB", header)
                try:
                    payload = _recv_exact(src, length + tag)
                except _Closed as e:
                    dst.sendall(header + e.args[0])
                    break
                idx += 1
                frame = header + payload
                if idx == 1 and ftype == CHALLENGE:
                    tag, first = AUTH_TAG, 2
                    dst.sendall(frame)
                    continue
                kind, arg = (None, 0)
                if (idx > first or self.hello) and (
                        self.only is None or
                        (direction, TYPES.get(ftype)) in self.only):
                    kind, arg = self._draw(length)
                out = [frame]
                if kind == "delay":
                    self._note(conn, direction, idx, ftype, length, kind,
                               f"{arg} ms")
                    time.sleep(arg / 1e3)
                elif kind == "stall":
                    self._note(conn, direction, idx, ftype, length, kind,
                               f"{arg} ms")
                    time.sleep(arg / 1e3)
                elif kind == "drop":
                    self._note(conn, direction, idx, ftype, length, kind)
                    out = []
                elif kind == "duplicate":
                    self._note(conn, direction, idx, ftype, length, kind)
                    out = [frame, frame]
                elif kind == "corrupt":
                    pos, x = arg
                    b = bytearray(frame)
                    b[5 + pos] ^= x
                    self._note(conn, direction, idx, ftype, length, kind,
                               f"byte {pos} ^= 0x{x:02x}")
                    out = [bytes(b)]
                elif kind == "truncate":
                    self._note(conn, direction, idx, ftype, length, kind,
                               f"after {arg} of {length} payload bytes")
                    if held:
                        dst.sendall(held)
                    dst.sendall(frame[:5 + arg])
                    break
                if kind == "reorder" and held is None:
                    self._note(conn, direction, idx, ftype, length, kind,
                               "held until after the next frame")
                    held = frame
                    continue
                data = b"".join(out)
                if held is not None:
                    data += held
                    held = None
                if data:
                    dst.sendall(data)
            if held is not None:
                dst.sendall(held)
        except OSError:
            pass
        # one side ended (or a truncation): end the whole connection, as
        # a broken link would
        for s in pair:
            _close(s)


def backup_config(c, proxy_port):
    """A copy of Cluster c's config in which node a (the primary b dials)
    is the proxy; the rest, cluster name and nodes included, stays the
    same. Start b with it: c.start("b", config=backup_config(c, port))."""
    text = c.text(c.config)
    real = f"replication_address = 127.0.0.1:{c.ports['a']}\n"
    if text.count(real) != 1:
        raise RuntimeError(f"unexpected config layout: no {real!r}")
    path = os.path.join(c.dir, "remora-b.conf")
    with open(path, "w") as f:
        f.write(text.replace(real, f"replication_address = 127.0.0.1:"
                                   f"{proxy_port}\n"))
    return path


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", required=True, help="HOST:PORT")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--log")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--hello", action="store_true",
                    help="fault the Hello frames too")
    o = ap.parse_args()
    host, port = o.target.rsplit(":", 1)
    p = ChaosProxy(o.listen, (host, int(port)), o.seed, o.rate, o.log,
                   o.kinds.split(","), o.hello).start()
    print(f"chaos: 127.0.0.1:{p.port} -> {o.target}, seed {o.seed}, rate "
          f"{o.rate}", file=sys.stderr)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        p.stop()
        print(dict(p.counts), file=sys.stderr)


if __name__ == "__main__":
    main()
