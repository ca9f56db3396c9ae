#!/usr/bin/env python3
"""fake_primary against the real remora-backup: the replication protocol end
to end with no VM, so it runs where /dev/kvm is missing.

  test_fake_primary.py BUILD_DIR fake_primary=PATH

- sync: the backup syncs from fake_primary (epoch 1 pre-copy, epoch 2 the
  first checkpoint) and acknowledges checkpoints; its replica, written at a
  clean stop, holds exactly the pages fake_primary's guest had at that
  epoch; a restarted backup gets a fresh sync on a new connection; both
  programs stop with status 0 on SIGTERM.
"""
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import FakePrimaryCluster, Failure, main

PAGE = 4096
TRACKED = 16  # fake_primary.c: TRACKED, CHANGED, page_fill()
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


def acked(lines):
    return [int(ln.split()[1]) for ln in lines if ln.startswith("acked ")]


def sync_and_resync(bindir, paths):
    c = FakePrimaryCluster(bindir, paths["fake_primary"])
    mem = 64 << 20
    try:
        c.start_fake_primary()
        c.wait_out("listening ")
        c.start_backup()
        c.wait_out("synced epoch=", timeout=30)
        c.wait_out("acked ", count=20, timeout=30)
        c.wait_log("b", "replica consistent", timeout=30)
        lines = c.out_lines()
        hello = [ln for ln in lines if ln.startswith("hello ")]
        if len(hello) != 1 or not re.fullmatch(
                r"hello node=b term=\d+ role=backup", hello[0]):
            raise Failure(f"want one backup Hello from b, got {hello}\n"
                          f"{c.logs()}")
        if "synced epoch=2" not in lines:
            raise Failure(f"the first checkpoint is epoch 2: "
                          f"{[ln for ln in lines if 'synced' in ln]}\n"
                          f"{c.logs()}")
        a1 = acked(lines)
        if a1 != sorted(set(a1)) or a1[0] > 2:
            raise Failure(f"Acks out of order or missing: {a1[:30]}")
        if "lost" in lines or "refused" in c.text(c.out_a):
            raise Failure(f"connection trouble while syncing\n{c.logs()}")

        if c.stop("b") != 0:
            raise Failure(f"backup exited non-zero\n{c.logs()}")
        m = re.findall(r"replica at epoch (\d+) written", c.text(c.log("b")))
        if not m:
            raise Failure(f"no snapshot at the backup's stop\n{c.logs()}")
        epoch = int(m[-1])
        if epoch < 20:
            raise Failure(f"replica at epoch {epoch} after 20 Acks")
        npages = check_snapshot(c.snapshot, mem, epoch)
        c.wait_out("lost", timeout=30)

        # A new backup process: a new connection, a fresh sync.
        last = max(acked(c.out_lines()))
        c.start_backup()
        synced = c.wait_out("synced epoch=", count=2, timeout=30)
        again = int(synced[1].split("=")[1])
        if again <= last + 1:
            raise Failure(f"resync's first checkpoint {again}, but epoch "
                          f"{last} was acked before: epochs are reused")
        c.wait_log("b", "replica consistent", count=2, timeout=30)
        c.wait_for("Acks after the resync",
                   lambda: max(acked(c.out_lines())) >= again + 5, 30)
        if c.stop("b") != 0:
            raise Failure(f"backup exited non-zero\n{c.logs()}")
        c.wait_out("lost", count=2, timeout=30)
        if c.stop("a") != 0:
            raise Failure(f"fake_primary exited non-zero\n{c.logs()}")
        return (f"replica at epoch {epoch} holds the {npages} written "
                f"pages exactly; resynced at epoch {again}")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main([("sync_and_resync", sync_and_resync)], needs_kvm=False)
