#!/usr/bin/env python3
"""What a peer can make the real remora-backup hold, and for how long, with
a small Python peer on loopback in the primary's place (no VM, no KVM: the
peer speaks the framing of docs/wire.md itself).

  test_bounds.py BUILD_DIR

- console_flood: a "primary" that completes a valid Hello and a pre-copy
  epoch, then streams 4 MiB console DeviceState frames inside one
  checkpoint epoch: the backup refuses the epoch once the console output it
  holds would pass the guest memory size, says so (the syncing ->
  connecting state event names the bound), and its memory stays within
  that bound;
- trickle: a listener at the primary's address accepts the backup's dial
  and trickles a Hello one byte every 400 ms: the backup gives up at
  heartbeat_timeout (a handshake_timeout event), closes, and dials again,
  round after round.
"""
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Cluster, Failure, main  # noqa: E402
import wirefmt  # noqa: E402
from wirefmt import (ACK, DEVICE_STATE, EPOCH_BEGIN, EPOCH_COMMIT,  # noqa
                     HELLO, f_bytes, f_int, frame)

MIB = 1 << 20
TERM = 1
WIRE_CONSOLE_MAX = 4 * MIB
XXH3_EMPTY = 0x2D06800538D394C2  # XXH3-64 of no bytes: an empty epoch


def hello(mem, cluster="e2e", node="a"):
    return wirefmt.hello(TERM, mem, cluster, node)


def epoch_begin(epoch, precopy):
    return frame(EPOCH_BEGIN, f_int(1, epoch) + f_int(2, TERM) +
                 f_int(3, 1 if precopy else 0))


def epoch_commit(epoch, pages, checksum):
    return frame(EPOCH_COMMIT, f_int(1, epoch) + f_int(2, TERM) +
                 f_int(3, pages) + f_int(4, checksum))


def console(epoch, offset, data):
    return frame(DEVICE_STATE, f_int(1, epoch) + f_int(2, TERM) +
                 f_bytes(3, "console") + f_int(4, offset) +
                 f_bytes(5, data))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise Failure(f"the backup closed the connection after "
                          f"{len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_frame(s):
    length, ftype = struct.unpack("<IB", recv_exact(s, 5))
    return ftype, recv_exact(s, length)


def read_until(s, want):
    """Frames from the backup until one of type want (Heartbeats pass)."""
    while True:
        ftype, payload = read_frame(s)
        if ftype == want:
            return payload


# --- the cluster: node a is the Python peer -----------------------------

def cluster(hb_timeout, memory="16M"):
    return Cluster(os.environ["E2E_BINDIR"], "/nonexistent/guest.elf",
                   "none", memory=memory, hb_interval="100ms",
                   hb_timeout=hb_timeout)


def primary_port(c):
    """Node a's port in c's config: where the backup dials."""
    with open(c.config) as f:
        text = f.read()
    sect = text.split("[node a]", 1)[1].split("[node b]", 1)[0]
    addr = sect.split("replication_address = ", 1)[1].split("\n", 1)[0]
    return int(addr.rsplit(":", 1)[1])


def listen(c):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", primary_port(c)))
    s.listen(4)
    return s


def accept(c, srv, timeout):
    """The backup's next dial (the daemon must stay up meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.procs["b"].poll() is not None:
            raise Failure(f"the backup exited ({c.procs['b'].returncode})"
                          f"\n{c.logs()}")
        r, _, _ = select.select([srv], [], [], 0.05)
        if r:
            conn, _ = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn, time.monotonic()
    raise Failure(f"the backup did not dial within {timeout} s\n{c.logs()}")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Failure(f"no {field} in /proc/{pid}/status")


# --- the tests -------------------------------------------------------------

def console_flood(bindir, paths):
    mem = 16 * MIB
    c = cluster("2s", memory="16M")
    srv = listen(c)
    asan = os.environ.get("ASAN_OPTIONS")
    try:
        # An ASan build keeps freed blocks aside (its quarantine): each
        # frame's buffers would count as held. Without it (harmless for
        # other builds), what the backup holds is what it keeps.
        os.environ["ASAN_OPTIONS"] = ":".join(
            o for o in (asan, "quarantine_size_mb=0",
                        "thread_local_quarantine_size_kb=0") if o)
        b = c.start("b")
        if asan is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = asan
        conn, _ = accept(c, srv, 30)
        read_until(conn, HELLO)  # the backup's
        conn.sendall(hello(mem))
        c.wait_event("b", "state", 30, to="syncing")
        # A sync must start with a pre-copy epoch: an empty one.
        conn.sendall(epoch_begin(1, True) + epoch_commit(1, 0, XXH3_EMPTY))
        read_until(conn, ACK)
        # The backup prefaults spare replica memory (shared) at start:
        # the baseline comes once it is in.
        c.wait_for("the spare replica memory prefaulted",
                   lambda: status_kib(b.pid, "RssShmem") * 1024 >= mem, 30)
        base = status_kib(b.pid, "VmRSS")

        # One checkpoint epoch, then console output until the backup
        # stops taking it (or 8 times the guest memory went in).
        conn.sendall(epoch_begin(2, False))
        data = b"x" * WIRE_CONSOLE_MAX
        sent = 0
        closed = None
        while sent < 8 * mem:
            try:
                conn.sendall(console(2, sent, data))
            except (BrokenPipeError, ConnectionResetError) as e:
                closed = e
                break
            sent += len(data)
        if closed is None:
            # Everything went into the socket: did the backup close?
            conn.settimeout(10)
            try:
                closed = conn.recv(1 << 16) == b"" or None
            except (ConnectionResetError, socket.timeout):
                closed = True
        peak = status_kib(b.pid, "VmHWM")
        if not closed:
            raise Failure(f"the backup took {sent >> 20} MiB of console "
                          f"output in one epoch of a {mem >> 20} MiB "
                          f"guest and kept the connection\n{c.logs()}")
        st = c.wait_event("b", "state", 30, from_="syncing",
                          to="connecting")
        bound = ("console output held for the primary would pass 16 MiB, "
                 "the guest memory size (workload.memory)")
        if bound not in st["why"] or \
                "epoch discarded, replica stays at epoch 0" not in st["why"]:
            raise Failure(f"the close does not name the bound: "
                          f"{st['why']!r}\n{c.logs()}")
        # What it held for the epoch, at its peak: the bound, half of it
        # more while the buffer grew (realloc holds old and new; with
        # meson's MALLOC_PERTURB_ all of the new is touched at once), one
        # frame being read and one decoded (4 MiB each), and the
        # allocator's slack. Not the output sent: 8 times the bound.
        grew = (peak - base) * 1024
        if grew > mem * 3 // 2 + 2 * WIRE_CONSOLE_MAX + 4 * MIB:
            raise Failure(f"the backup grew by {grew >> 20} MiB (VmRSS "
                          f"{base >> 10} MiB -> peak {peak >> 10} MiB) for "
                          f"{sent >> 20} MiB of console output sent; the "
                          f"bound on what it holds is {mem >> 20} MiB"
                          f"\n{c.logs()}")
        c.expect_wording({"b": [bound]})
        conn.close()
        # It dials again, as after any refused epoch.
        again, _ = accept(c, srv, 10)
        again.close()
        return (f"closed after {sent >> 20} MiB sent, grew by "
                f"{grew / MIB:.1f} MiB (bound {mem >> 20} MiB)")
    finally:
        srv.close()
        c.cleanup()


def trickle(bindir, paths):
    timeout = 1.0  # heartbeat_timeout
    margin = 0.6  # scheduling, and the 100 ms heartbeat tick
    c = cluster("1s")
    srv = listen(c)
    rounds = 3
    held = []
    try:
        c.start("b")
        for r in range(rounds):
            conn, t0 = accept(c, srv, timeout + margin + 1.0)
            read_until(conn, HELLO)
            msg = hello(16 * MIB)
            i = 0
            gone = None
            # One byte every 400 ms: each would reset a liveness check
            # that counts bytes; the whole Hello would take 16 s.
            while gone is None and time.monotonic() - t0 < timeout + 5:
                if i < len(msg) - 1:
                    try:
                        conn.sendall(msg[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        gone = time.monotonic()
                        break
                    i += 1
                rd, _, _ = select.select([conn], [], [], 0.4)
                if rd:
                    try:
                        if conn.recv(4096) == b"":
                            gone = time.monotonic()
                    except ConnectionResetError:
                        gone = time.monotonic()
            conn.close()
            if gone is None:
                raise Failure(f"round {r + 1}: the backup still waits for "
                              f"the Hello {timeout + 5:.0f} s after "
                              f"connecting ({i} bytes trickled); its "
                              f"heartbeat_timeout is {timeout} s\n"
                              f"{c.logs()}")
            held.append(gone - t0)
            if not timeout - 0.1 <= held[-1] <= timeout + margin:
                raise Failure(f"round {r + 1}: the backup gave up after "
                              f"{held[-1]:.2f} s, want heartbeat_timeout "
                              f"{timeout} s (+{margin} s)\n{c.logs()}")
        # Each round said why: a handshake_timeout event.
        evs = c.wait_event("b", "handshake_timeout", 10, count=rounds,
                           primary="a", timeout_ms=1000)
        port = primary_port(c)
        if evs["address"] != f"127.0.0.1:{port}":
            raise Failure(f"handshake_timeout names {evs['address']}, the "
                          f"peer is 127.0.0.1:{port}")
        if c.events("b", "state"):
            raise Failure(f"a state change without a primary\n{c.logs()}")
        c.expect_wording({"b": ["accepted the connection but gave no Hello "
                                "within heartbeat_timeout 1000 ms"]})
        return ("gave up after " +
                ", ".join(f"{h:.2f}" for h in held) + " s; dialled again")
    finally:
        srv.close()
        c.cleanup()


if __name__ == "__main__":
    os.environ["E2E_BINDIR"] = sys.argv[1]
    main([("console_flood", console_flood),
          ("trickle", trickle)], needs_kvm=False)
