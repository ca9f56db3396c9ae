#!/usr/bin/env python3
"""Continuous replication end to end: a real remora-primary streams a real
guest to a real remora-backup over loopback.

  test_replication.py BUILD_DIR counter=PATH memstress=PATH

- counter: stop both daemons after many acknowledged epochs; the replica,
  run from its snapshot, prints exactly the tick after the last one the
  console sink released, and the sink holds tick 1..M with no gap.
- memstress: at random moments the backup writes its replica; each one,
  run as a VM, passes memstress's self-check (no torn epoch); again with
  max_epoch_size small enough that epochs start before their tick.
- output commit: a backup that never acknowledges gets nothing released;
  one that acknowledges late gets every byte, in order.
- a guest printing flat out with no backup is held once its output
  reaches a quarter of guest memory, so the first checkpoint a backup
  then receives fits the backup's bound: it syncs, and the stream is
  continuous.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Cluster, Failure, assert_continuous,  # noqa: E402
                 expect_replica_continues, main, run_restored, ticks,
                 waiting)


def counter_continuity(bindir, guests):
    c = Cluster(bindir, guests["counter"],
                "--interval 10 --count 1000000")
    try:
        c.start_backup()
        c.start_primary()
        c.wait_replica()
        c.wait_for("40 released ticks",
                   lambda: c.lines(c.sink_a) >= 40)
        if c.stop("a") != 0:
            raise Failure(f"primary exited non-zero\n{c.logs()}")
        last = c.expect_drained("a")["epoch"]
        if c.stop("b") != 0:
            raise Failure(f"backup exited non-zero\n{c.logs()}")
        released = ticks(c.text(c.sink_a))
        assert_continuous(released)
        snaps = c.events("b", "snapshot", path=c.snapshot)
        if not snaps:
            raise Failure(f"no snapshot at exit\n{c.logs()}")
        # The replica written at exit holds the last epoch of the drain,
        # which the primary stopped on once the backup acknowledged it.
        if snaps[-1]["epoch"] != last:
            raise Failure(f"replica written at epoch {snaps[-1]['epoch']}, "
                          f"the primary drained at epoch {last}\n"
                          f"{c.logs()}")
        first = expect_replica_continues(c, released)
        return (f"released tick 1..{released[-1]}, replica at epoch "
                f"{last} continued with {first!r}")
    finally:
        c.cleanup()


def self_checked_snapshots(c, rng, n):
    """n replicas written at random moments, each run as a VM: memstress's
    self-check passes in every one (no torn epoch), and they advance.
    Returns the steps they reached."""
    steps = []
    for i in range(n):
        time.sleep(rng.uniform(0.02, 0.4))
        c.snapshot_now()
        keep = os.path.join(c.dir, f"moment{i}.snap")
        shutil.copy(c.snapshot, keep)
        line = run_restored(c.primary_bin, keep, 60)[0]
        # the restored guest's console output (data, not a log)
        m = re.fullmatch(r"memstress step (\d+) ok", line)
        if not m:
            raise Failure(f"replica {i} failed its self-check: {line!r}")
        steps.append(int(m.group(1)))
        os.unlink(keep)
    if steps != sorted(steps) or steps[0] == steps[-1]:
        raise Failure(f"replica did not advance: steps {steps}")
    return steps


def memstress_replicating(bindir, guests, **kw):
    """memstress rewriting 4096 pages flat out, b holding a replica."""
    c = Cluster(bindir, guests["memstress"],
                "--pages 4096 --rate 0 --seed 11 --check-every 0", **kw)
    try:
        c.start_backup()
        c.start_primary()
        c.wait_replica()
    except BaseException:
        c.cleanup()
        raise
    return c


def memstress_snapshots(bindir, guests):
    """Flat out over 4096 pages: with hot pages (the default), most of
    them are left writable and copied at every epoch."""
    rng = random.Random(int(os.environ.get("E2E_SEED", "4242")))
    c = memstress_replicating(bindir, guests, interval="10ms")
    try:
        steps = self_checked_snapshots(c, rng, 12)
        if c.stop("a") != 0:
            raise Failure(f"primary exited non-zero\n{c.logs()}")
        c.stop("b")
        return (f"12 replicas self-checked, memstress steps "
                f"{steps[0]}..{steps[-1]}")
    finally:
        c.cleanup()


def epochs_cut_at_max_epoch_size(bindir, guests):
    """max_epoch_size = 1M (256 pages) under a guest dirtying thousands
    per 200 ms interval, hot pages off: epochs start early, before their
    tick (full_epochs), and every replica is still whole."""
    rng = random.Random(int(os.environ.get("E2E_SEED", "4242")))
    c = memstress_replicating(
        bindir, guests, interval="200ms",
        extra_replication="max_epoch_size = 1M\nhot_pages = 0\n")
    try:
        steps = self_checked_snapshots(c, rng, 6)
        if c.stop("a") != 0:
            raise Failure(f"primary exited non-zero\n{c.logs()}")
        c.stop("b")
        with open(os.path.join(c.dir, "stats")) as f:
            st = json.load(f)
        if st["full_epochs"] < 1:
            raise Failure(f"no epoch started early: {st}")
        return (f"6 replicas self-checked (steps {steps[0]}..{steps[-1]}); "
                f"{st['full_epochs']} of {st['epochs']} epochs started "
                f"early, {st['staging_grown']} grew their slot")
    finally:
        c.cleanup()


def output_held_without_ack(bindir, guests):
    c = Cluster(bindir, guests["counter"], "--interval 5 --count 1000000",
                hb_timeout="1s")
    try:
        # Acks would come after an hour: nothing may be released.
        c.start_backup(["--inject-ack-delay", "1h"])
        c.start_primary()
        c.wait_event("a", "state", from_="waiting", to="syncing")
        time.sleep(1.0)  # 200 ticks' worth of output, all held
        c.stop("a")
        # Never protected: stopping discards what it held, and only that.
        out = c.events("a", "output")
        if len(out) != 1 or out[0]["action"] != "discarded" or \
                out[0]["bytes"] == 0 or \
                c.last_state("a").get("to") != "stopped":
            raise Failure(f"primary did not report held output as "
                          f"discarded: {out}\n{c.logs()}")
        if c.text(c.sink_a):
            raise Failure(f"output released without an Ack: "
                          f"{c.text(c.sink_a)[:200]!r}")
        c.stop("b")
        return f"{out[0]['bytes']} bytes held, none released, without Acks"
    finally:
        c.cleanup()


def output_released_after_late_ack(bindir, guests):
    c = Cluster(bindir, guests["counter"], "--interval 5 --count 1000000",
                hb_timeout="3s")
    try:
        c.start_backup(["--inject-ack-delay", "400ms"])
        c.start_primary()
        c.wait_event("a", "state", from_="syncing", to="protected")
        c.wait_for("released ticks",
                   lambda: c.text(c.sink_a).count("\n") >= 100)
        c.stop("a")
        c.stop("b")
        released = ticks(c.text(c.sink_a))
        assert_continuous(released)
        expect_replica_continues(c, released)
        return f"tick 1..{released[-1]} released with Acks 400 ms late"
    finally:
        c.cleanup()


def backup_reattaches(bindir, guests):
    # on_backup_loss = pause: nothing leaves while no backup holds the
    # epochs (test_failover.py covers continue).
    c = Cluster(bindir, guests["counter"], "--interval 10 --count 1000000",
                hb_timeout="1s", extra_failover="on_backup_loss = pause")
    try:
        c.start_backup()
        c.start_primary()
        c.wait_replica()
        c.wait_for("released ticks",
                   lambda: c.text(c.sink_a).count("\n") >= 20)
        c.stop("b", sig=9)
        c.wait_event("a", "state", from_="protected", to=waiting)
        held_from = len(ticks(c.text(c.sink_a)))
        time.sleep(0.5)
        if len(ticks(c.text(c.sink_a))) != held_from:
            raise Failure("output released with no backup attached")
        c.start_backup()
        c.wait_replica(count=2)  # the new backup's
        c.wait_for("output released again",
                   lambda: c.text(c.sink_a).count("\n") >= held_from + 60)
        c.stop("a")
        c.stop("b")
        released = ticks(c.text(c.sink_a))
        assert_continuous(released)
        expect_replica_continues(c, released)
        return (f"held at tick {held_from} without a backup; resynced; "
                f"tick 1..{released[-1]} continuous")
    finally:
        c.cleanup()


def wrong_role_refused(bindir, guests):
    """Each daemon refuses a node whose role in the file is the other's."""

    c = Cluster(bindir, guests["counter"], "--interval 10")
    try:
        for binary, node, want in (
                (c.primary_bin, "b", "[node b]: role is backup; start "
                 "remora-backup there"),
                (c.backup_bin, "a", "[node a]: role is primary; start "
                 "remora-primary there")):
            r = subprocess.run([binary, "-c", c.config, "--node", node],
                               capture_output=True, timeout=60)
            err = r.stderr.decode()
            if r.returncode != 1 or want not in err or \
                    err.count("\n") != 1:
                raise Failure(f"{binary} --node {node}: exit "
                              f"{r.returncode}, stderr {err!r}; want 1 "
                              f"and one line with {want!r}")
        return "both daemons refuse the other role's node in one line"
    finally:
        c.cleanup()


def guest_exit_drains(bindir, guests):
    """A guest that ends by itself: its last output is released after the
    last epoch is acknowledged, and the primary exits with its status."""
    c = Cluster(bindir, guests["counter"], "--interval 10 --count 300")
    try:
        c.start_backup()
        c.start_primary()
        p = c.procs["a"]
        p._expected = 1
        rc = p.wait(120)
        if rc != 0:
            raise Failure(f"primary exit {rc}, want the guest's 0\n"
                          f"{c.logs()}")
        released = ticks(c.text(c.sink_a))
        if released != list(range(1, 301)):
            raise Failure(f"released {len(released)} ticks, want exactly "
                          f"1..300 (the sync takes ~0.2 s of the 3 s)\n{c.logs()}")
        c.expect_drained("a")
        c.stop("b")
        return "tick 1..300 released, primary exited 0 after the last Ack"
    finally:
        c.cleanup()


def mismatched_backup_refused(bindir, guests):
    c = Cluster(bindir, guests["counter"], "--interval 10 --count 1000000")
    try:
        c.start_primary()
        c.wait_listening("a")
        # The backup's copy of the config disagrees on the guest's memory.
        other = os.path.join(c.dir, "other.conf")
        with open(c.config) as f, open(other, "w") as g:
            g.write(f.read().replace("memory = 64M", "memory = 128M"))
        b = c.start_backup(config=other)
        b._expected = 1
        rc = b.wait(60)
        # Refused at the Hello: never followed the primary, then stopped.
        if rc != 1 or c.events("b", "state", to="syncing") or \
                c.last_state("b").get("to") != "stopped":
            raise Failure(f"backup exit {rc}; want 1, stopped without "
                          f"syncing\n{c.logs()}")
        if c.events("a", "state", to="syncing"):
            raise Failure(f"the primary synced a refused backup\n"
                          f"{c.logs()}")
        # What the operator reads: the problem, and what to change.
        c.expect_wording({
            "b": ["primary refused: primary a runs a 64 MiB guest"],
            "a": ["use the same remora.conf on every node"]})
        if c.procs["a"].poll() is not None:
            raise Failure(f"the primary died of a bad backup\n{c.logs()}")
        c.stop("a")
        return "backup exited 1, refused for a 128 MiB guest; a runs on"
    finally:
        c.cleanup()


def chatty_guest_waits_for_its_backup(bindir, guests):
    c = Cluster(bindir, guests["counter"], "--interval 0 --count 0",
                memory="4M")
    try:
        c.start("a")
        ev = c.wait_event("a", "backpressure", 120, held=1)
        time.sleep(1.0)  # held: nothing more piles up
        held = c.status("a")["held_output_bytes"]
        # at most one epoch interval's output over the bound
        if ev["max"] != (4 << 20) // 4 or held > ev["max"] + (64 << 10):
            raise Failure(f"held {held} bytes, bound {ev['max']}: {ev}\n"
                          f"{c.logs()}")
        c.start("b")
        c.wait_replica()
        c.wait_event("a", "backpressure", 60, held=0)
        c.wait_for("output after the release",
                   lambda: len(c.text(c.sink_a)) > held + 100000)
        # the output delay the status reports: measured Acks on the
        # primary (microseconds, at least one), none on the backup
        sa, sb = c.status("a"), c.status("b")
        if not 0 < sa["ack_us_p50"] <= sa["ack_us_p99"] or \
                sb["ack_us_p50"] != 0 or sb["ack_us_p99"] != 0:
            raise Failure(f"status ack: a {sa}, b {sb}")
        if c.stop("a") != 0:
            raise Failure(f"primary exited non-zero\n{c.logs()}")
        c.stop("b")
        got = ticks(c.text(c.sink_a))
        assert_continuous(got)
        return (f"held at {held} bytes (bound {ev['max']}); synced; "
                f"tick 1..{got[-1]} continuous")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main([
        ("counter_continuity", counter_continuity),
        ("memstress_snapshots", memstress_snapshots),
        ("epochs_cut_at_max_epoch_size", epochs_cut_at_max_epoch_size),
        ("output_held_without_ack", output_held_without_ack),
        ("output_released_after_late_ack", output_released_after_late_ack),
        ("backup_reattaches", backup_reattaches),
        ("mismatched_backup_refused", mismatched_backup_refused),
        ("guest_exit_drains", guest_exit_drains),
        ("wrong_role_refused", wrong_role_refused),
        ("chatty_guest_waits_for_its_backup",
         chatty_guest_waits_for_its_backup),
    ])
