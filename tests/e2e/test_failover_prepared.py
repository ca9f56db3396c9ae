#!/usr/bin/env python3
"""A promotion made ahead, end to end: real daemons, the counter guest.

  test_failover_prepared.py BUILD_DIR counter=PATH

- resync_then_promote: the backup makes the promotion's VM on its replica
  as soon as the replica is consistent. The connection is then cut (ss -K,
  root): the backup dials the primary again, and the new sync replaces the
  replica's memfd; the backup makes the VM again on the new memory. The
  primary is killed: the backup promotes on that VM (its log says so), and
  its output continues the primary's exactly.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Cluster, Failure, Skip, assert_continuous,  # noqa: E402
                 main, sh, ticks)

MADE = "VM for a promotion made ahead"
USED = "promoting on the VM made ahead"


def made(c):
    return c.text(c.log("b")).count(MADE)


def cut_link(c):
    """Aborts b's connection to a (the kernel resets it on both ends)."""
    sh("ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{c.ports['a']}")


def resync_then_promote(bindir, guests):
    if os.geteuid() != 0:
        raise Skip("cutting a connection (ss -K) needs root")
    c = Cluster(bindir, guests["counter"], "--interval 10 --count 0",
                hb_interval="50ms", hb_timeout="2s")
    try:
        c.start_replicating()
        c.wait_for("the VM made ahead", lambda: made(c) >= 1, 30)
        cut_link(c)
        c.wait_replica(count=2, timeout=30)
        c.wait_for("the VM made again on the resynced replica",
                   lambda: made(c) >= 2, 30)
        n = c.lines(c.sink_a)
        c.wait_for("a's output", lambda: c.lines(c.sink_a) >= n + 10, 30)
        c.stop("a", signal.SIGKILL, 30)
        c.wait_event("b", "promoted", timeout=30)
        if USED not in c.text(c.log("b")):
            raise Failure(f"b promoted without the VM made ahead\n"
                          f"{c.logs()}")
        c.wait_for("b's output", lambda: c.lines(c.sink_b) >= 10, 30)
        rc = c.stop("b")
        if rc != 0:
            raise Failure(f"promoted b exited {rc}\n{c.logs()}")
        got = ticks(c.text(c.sink_a)) + ticks(c.text(c.sink_b))
        assert_continuous(got)
        return (f"VM made {made(c)} times; promoted on the one of the "
                f"second sync; tick 1..{got[-1]} continuous")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main([("resync_then_promote", resync_then_promote)])
