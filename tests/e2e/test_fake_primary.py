#!/usr/bin/env python3
"""fake_primary (the real primary pipeline over a synthetic workload)
against the real remora-backup: the replication protocol end to end with
no VM, so it runs where /dev/kvm is missing.

  test_fake_primary.py BUILD_DIR fake_primary=PATH

- sync: the backup syncs from fake_primary (epoch 1 pre-copy, epoch 2 the
  first checkpoint) and acknowledges checkpoints; its replica, written at a
  clean stop, holds exactly the pages the synthetic guest had at that
  epoch; a restarted backup gets a fresh sync on a new connection; both
  programs stop with status 0 on SIGTERM.
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import FakePrimaryCluster, Failure, main

PAGE = 4096
TRACKED = 16  # synth.h: SYNTH_TRACKED, SYNTH_CHANGED, synth_page_fill()
CHANGED = 2


def expected_pages(npages, last_epoch):
    """fake_primary's guest after checkpoints 2..last_epoch of a
    connection whose pre-copy epoch was 1: {pfn: bytes}."""
    version = [0] * TRACKED
    for e in range(2, last_epoch + 1):
        for k in range(CHANGED):
            version[(e * CHANGED + k) % TRACKED] += 1
    pages = {}
    for i in range(TRACKED):
        pfn = i * (npages - 1) // (TRACKED - 1)
        if version[i] % 4 == 3:
            pages[pfn] = bytes(PAGE)
        else:
            line = f"pfn {pfn} version {version[i]}\n".encode()
            pages[pfn] = (line * (PAGE // len(line) + 1))[:PAGE]
    return pages


def check_snapshot(path, mem, epoch):
    """The replica file (common/vmm/snapshot.c) holds fake_primary's
    guest at epoch, and zero everywhere else."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"REMORASN":
        raise Failure(f"{path}: not a snapshot (magic {data[:8]!r})")
    size, = struct.unpack_from("<Q", data, 24)
    off, = struct.unpack_from("<Q", data, 48)
    if size != mem or len(data) != off + size:
        raise Failure(f"{path}: {size} bytes of memory at {off} in a file "
                      f"of {len(data)}, want {mem}")
    want = expected_pages(mem // PAGE, epoch)
    zero = bytes(PAGE)
    for pfn in range(mem // PAGE):
        got = data[off + pfn * PAGE:off + (pfn + 1) * PAGE]
        if got != want.get(pfn, zero):
            raise Failure(f"replica at epoch {epoch}: page {pfn} is "
                          f"{got[:40]!r}..., want "
                          f"{want.get(pfn, zero)[:40]!r}...")
    return len(want)


def sync_and_resync(bindir, paths):
    c = FakePrimaryCluster(bindir, paths["fake_primary"])
    mem = 64 << 20
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start_backup()
        synced = c.wait_synced()
        c.wait_event("a", "acked", count=20, timeout=30)
        first = c.wait_replica(timeout=30)
        # one backup attached, once
        att = c.events("a", "state", to="syncing")
        if len(att) != 1 or not att[0]["why"].startswith("backup b "):
            raise Failure(f"want one backup attached, b: {att}\n"
                          f"{c.logs()}")
        if synced != 2 or first["epoch"] != 2:
            raise Failure(f"the first checkpoint is epoch 2: fake_primary "
                          f"synced at {synced}, replica consistent at "
                          f"{first['epoch']}\n{c.logs()}")
        a1 = c.acked()
        if a1 != sorted(set(a1)) or a1[0] > 2:
            raise Failure(f"Acks out of order or missing: {a1[:30]}")
        if [e["to"] for e in c.events("a", "state")] != ["syncing",
                                                         "protected"]:
            raise Failure(f"connection trouble while syncing\n{c.logs()}")

        if c.stop("b") != 0:
            raise Failure(f"backup exited non-zero\n{c.logs()}")
        snaps = c.events("b", "snapshot", path=c.snapshot)
        if not snaps:
            raise Failure(f"no snapshot at the backup's stop\n{c.logs()}")
        epoch = snaps[-1]["epoch"]
        if epoch < 20:
            raise Failure(f"replica at epoch {epoch} after 20 Acks")
        npages = check_snapshot(c.snapshot, mem, epoch)
        # on_backup_loss = pause (the default): it waits, paused
        c.wait_event("a", "state", 30, from_="protected",
                     to="waiting-paused")

        # A new backup process: a new connection, a fresh sync.
        last = max(c.acked())
        c.start_backup()
        again = c.wait_synced(count=2)
        if again <= last + 1:
            raise Failure(f"resync's first checkpoint {again}, but epoch "
                          f"{last} was acked before: epochs are reused")
        resync = c.wait_replica(count=2, timeout=30)
        if resync["epoch"] != again:
            raise Failure(f"resynced replica consistent at epoch "
                          f"{resync['epoch']}, fake_primary synced {again}"
                          f"\n{c.logs()}")
        c.wait_for("Acks after the resync",
                   lambda: max(c.acked()) >= again + 5, 30)
        if c.stop("b") != 0:
            raise Failure(f"backup exited non-zero\n{c.logs()}")
        c.wait_event("a", "state", 30, count=2, from_="protected",
                     to="waiting-paused")
        if c.stop("a") != 0:
            raise Failure(f"fake_primary exited non-zero\n{c.logs()}")
        return (f"replica at epoch {epoch} holds the {npages} written "
                f"pages exactly; resynced at epoch {again}")
    finally:
        c.cleanup()


def trickle_cannot_hold_the_slot(bindir, paths):
    """A client that connects first and sends a Hello one byte every 100
    ms (never a whole frame) is closed once heartbeat_timeout passes
    without its Hello, and the real backup attaches after it."""
    c = FakePrimaryCluster(bindir, paths["fake_primary"],
                           hb_interval="50ms", hb_timeout="300ms")
    stop = threading.Event()
    closed = []

    def trickle(sock):
        # a Hello header announcing 1000 bytes, then its payload, slowly
        data = struct.pack("<IB", 1000, 1) + bytes(1000)
        t0 = time.monotonic()
        for b in data:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([b]))
            except OSError:
                closed.append(time.monotonic() - t0)
                return
            time.sleep(0.1)

    try:
        c.start_fake_primary()
        ev = c.wait_listening("a")
        sock = socket.create_connection((ev["host"], ev["port"]))
        th = threading.Thread(target=trickle, args=(sock,), daemon=True)
        th.start()
        time.sleep(0.2)  # the trickle holds the backup's place now
        c.start_backup()
        c.wait_synced(timeout=20)
        c.wait_replica(timeout=20)
        c.wait_for("the trickle to be cut off", lambda: closed, 20)
        stop.set()
        sock.close()
        if c.stop("b") != 0 or c.stop("a") != 0:
            raise Failure(f"non-zero exit\n{c.logs()}")
        return (f"the trickling client was cut off after {closed[0]:.1f} "
                f"s; the backup attached")
    finally:
        stop.set()
        c.cleanup()


if __name__ == "__main__":
    main([("sync_and_resync", sync_and_resync),
          ("trickle_cannot_hold_the_slot", trickle_cannot_hold_the_slot)],
         needs_kvm=False)
