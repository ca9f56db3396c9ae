#!/usr/bin/env python3
"""The backup's failure detector, fencing, health check, terms and status,
end to end against fake_primary (no VM, so no KVM needed): the real
remora-backup decides; where KVM is missing its promotion then fails with
a clear line, which the tests accept, because the decision is what they
check.

  test_detector.py BUILD_DIR fake_primary=PATH

- silence: a primary that stops sending is declared failed only after
  heartbeat_timeout, with the evidence in the decision event;
- connection loss, wait-timeout: the clock starts, the decision waits for
  heartbeat_timeout; promote: the decision comes at once;
- fence_command exiting 1: no promotion, retried; exiting 0: it saw
  REMORA_PEER and the promotion goes ahead;
- health_check_command failing: the primary is declared failed while it
  still talks;
- a primary of a lower term than one already followed is refused with the
  current term and exits as replaced;
- remoractl status shows the backup following the primary.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (FakePrimaryCluster, Failure, have_kvm,  # noqa: E402
                 main, now_ms)

# What a decision does when it is not held off.
TAKES_OVER = ("deposing", "fencing", "promoting")


def cluster(bindir, paths, failover="", hb_timeout="300ms"):
    return FakePrimaryCluster(bindir, paths["fake_primary"],
                              hb_interval="50ms", hb_timeout=hb_timeout,
                              extra_failover=failover)


def decision(c, timeout=30):
    """The backup's first decision to take over (not held off), and the
    state change it made: (decision event, state event)."""
    d = c.wait_event("b", "decision", timeout, action=lambda a: a in
                     TAKES_OVER)
    st = c.wait_event("b", "state", timeout, to=d["action"])
    return d, st


def after_decision(c):
    """What followed the decision: the promotion where KVM works, else the
    clear refusal to go on that its absence must give (the promotion
    fails, the backup goes back to connecting)."""
    if have_kvm():
        ev = c.wait_event("b", "promoted", 30, term=2)
        return f"promoted to primary of term {ev['term']}"
    ev = c.wait_event("b", "state", 30, from_="promoting",
                      to="connecting")
    # What the operator reads: why it cannot promote.
    c.expect_wording({"b": ["cannot promote: open /dev/kvm: "]})
    return f"no KVM: promotion failed at epoch {ev['epoch']}, connecting"


def silence_evidence(d, primary="a", timeout_ms=300):
    """d is a decision on primary's silence longer than timeout_ms."""
    return d["cause"] == "silence" and d["primary"] == primary and \
        d["timeout_ms"] == timeout_ms and d["quiet_ms"] > timeout_ms


def silence(bindir, paths):
    c = cluster(bindir, paths)
    try:
        c.start_synced()
        c.procs["a"].send_signal(signal.SIGSTOP)  # hung, link still up
        t0 = now_ms()
        d, st = decision(c)
        waited = now_ms() - t0
        # exact from the last frame (quiet_ms); the signal can come up to
        # a heartbeat after it
        if not silence_evidence(d) or d["action"] != "promoting" or \
                waited < 200:
            raise Failure(f"decision {d} {waited:.0f} ms after the "
                          f"primary went silent\n{c.logs()}")
        if st["epoch"] != d["epoch"] or d["epoch"] < 2:
            raise Failure(f"decided at epoch {d['epoch']}, promoting at "
                          f"epoch {st['epoch']}\n{c.logs()}")
        then = after_decision(c)
        if not have_kvm():
            # The silence goes on: the detector decides again (every
            # heartbeat_timeout) and tries to promote again.
            again = c.wait_event("b", "decision", 30, count=2,
                                 action="promoting", cause="silence")
            if not silence_evidence(again):
                raise Failure(f"second decision {again}\n{c.logs()}")
            then += "; decided again"
        return (f"{d['cause']} of {d['primary']} for {d['quiet_ms']} ms > "
                f"{d['timeout_ms']} ms at epoch {d['epoch']}: "
                f"{d['action']}; then: {then[:90]}")
    finally:
        c.cleanup()


def connection_loss_wait(bindir, paths):
    c = cluster(bindir, paths)
    try:
        c.start_synced()
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGKILL)  # crashed: closed
        t0 = now_ms()
        lost = c.wait_event("b", "state", from_="replicating",
                            to="connecting")
        d, _ = decision(c)
        waited = now_ms() - t0
        # exact from the last frame (quiet_ms); the signal can come up to
        # a heartbeat after it
        if not silence_evidence(d) or waited < 200 or \
                d["t_ms"] <= lost["t_ms"]:
            raise Failure(f"decided {waited:.0f} ms after the connection "
                          f"broke: {d}\n{c.logs()}")
        return (f"decided after {d['quiet_ms']} ms of silence, not at the "
                f"break")
    finally:
        c.cleanup()


def connection_loss_promote(bindir, paths):
    c = cluster(bindir, paths, "on_connection_loss = promote",
                hb_timeout="30s")
    try:
        c.start_synced()
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGKILL)
        d, _ = decision(c, timeout=20)
        # at once: long before heartbeat_timeout (30 s)
        if d["cause"] != "connection_lost" or d["primary"] != "a" or \
                d["action"] != "promoting" or \
                not 0 <= d["quiet_ms"] < d["timeout_ms"]:
            raise Failure(f"decision {d}\n{c.logs()}")
        return (f"{d['cause']}: {d['action']} after {d['quiet_ms']} ms "
                f"(heartbeat_timeout {d['timeout_ms']} ms)")
    finally:
        c.cleanup()


def fence_fails(bindir, paths):
    c = cluster(bindir, paths)
    calls = os.path.join(c.dir, "fence.calls")
    c.append_failover(f"fence_command = echo $REMORA_PEER >> {calls}; "
                      f"echo no power; exit 1")
    try:
        c.start_synced()
        c.procs["a"].send_signal(signal.SIGSTOP)
        d, _ = decision(c)
        if d["action"] != "fencing" or not silence_evidence(d):
            raise Failure(f"decision without fencing: {d}\n{c.logs()}")
        c.expect_fencing_retried(calls)
        # What the operator reads: each failure, with the command's
        # status and output.
        c.expect_wording({"b": [("fence_command failed (exit 1: no power)",
                                 3)]})
        return "three failed fence attempts, no promotion"
    finally:
        c.cleanup()


def fence_ok(bindir, paths):
    c = cluster(bindir, paths)
    seen = os.path.join(c.dir, "fenced")
    c.append_failover(f"fence_command = echo $REMORA_PEER $REMORA_TERM > "
                      f"{seen}")
    try:
        c.start_synced()
        c.procs["a"].send_signal(signal.SIGSTOP)
        d, _ = decision(c)
        if d["action"] != "fencing" or not silence_evidence(d):
            raise Failure(f"decision without fencing: {d}\n{c.logs()}")
        # fence_command exited 0: promoting
        c.wait_event("b", "state", from_="fencing", to="promoting")
        with open(seen) as f:
            got = f.read().split()
        if got != ["a", "1"]:
            raise Failure(f"fence_command saw {got}, want ['a', '1']")
        return f"fenced a (term 1), then: {after_decision(c)[:70]}"
    finally:
        c.cleanup()


def health_check(bindir, paths):
    c = cluster(bindir, paths, hb_timeout="30s")
    down = os.path.join(c.dir, "down")
    c.append_failover(f"health_check_command = test ! -e {down}\n"
                      "health_check_interval = 50ms")
    try:
        c.start_synced()
        time.sleep(0.3)
        if c.events("b", "decision"):
            raise Failure(f"decided while the check passed\n{c.logs()}")
        open(down, "w").close()
        d, st = decision(c, timeout=20)
        # while the primary still talks (heartbeat_timeout is 30 s)
        if d["action"] != "deposing" or d["cause"] != "health_check" or \
                d["primary"] != "a" or st["epoch"] != d["epoch"] or \
                not 0 <= d["quiet_ms"] < d["timeout_ms"]:
            raise Failure(f"decision {d}\n{c.logs()}")
        # What the operator reads: the check and how it failed.
        if "health_check_command failed (exit 1)" not in d["evidence"]:
            raise Failure(f"decision evidence {d['evidence']!r}\n"
                          f"{c.logs()}")
        # The primary still talks: it is asked to step down, and does.
        c.expect_replaced("a", "b", 2, timeout=30)
        down_ev = c.wait_event("b", "decision", cause="stepped_down")
        step = c.wait_event("b", "state", from_="deposing", to="promoting")
        if down_ev["action"] != "promoting" or down_ev["primary"] != "a" \
                or down_ev["epoch"] != d["epoch"] or \
                step["epoch"] != d["epoch"]:
            raise Failure(f"deposed at epoch {d['epoch']}, then {down_ev}, "
                          f"{step}\n{c.logs()}")
        return (f"{d['cause']} at epoch {d['epoch']}: deposing; a stepped "
                f"down; promoting at epoch {step['epoch']}")
    finally:
        c.cleanup()


def stale_term(bindir, paths):
    c = cluster(bindir, paths, hb_timeout="30s")
    try:
        c.start_synced(["--term", "5"])
        c.stop("a")
        del c.procs["a"]
        c.reset_events("a")
        c.start_fake_primary(["--term", "3"])
        # b's Hello names term 5: a primary of term 3 has been replaced
        # (a backup's Hello does not say by whom)
        c.expect_replaced("a", "", 5, timeout=30)
        # refused at its Hello: b followed only the primary of term 5
        if len(c.events("b", "state", to="syncing")) != 1 or \
                c.events("b", "decision"):
            raise Failure(f"b followed the primary of term 3\n{c.logs()}")
        # What the operator reads: both terms.
        c.expect_wording({"a": ["replaced by another node in term 5 "
                                "(this primary's term: 3)"]})
        return "a primary of term 3 heard term 5 and stopped"
    finally:
        c.cleanup()


def status(bindir, paths):
    c = cluster(bindir, paths, hb_timeout="30s")
    try:
        c.start_synced()
        st = c.status("b")
        want = {"node": "b", "role": "backup", "state": "replicating",
                "term": 1, "peer": "a", "heartbeat_timeout_ms": 30000}
        bad = {k: st.get(k) for k in want if st.get(k) != want[k]}
        if bad or st["epoch"] < 2 or not 0 <= st["since_last_frame_ms"] \
                < 30000:
            raise Failure(f"status {st}, want {want}")
        return f"replicating from a at epoch {st['epoch']}"
    finally:
        c.cleanup()


if __name__ == "__main__":
    main([("silence", silence),
          ("connection_loss_wait", connection_loss_wait),
          ("connection_loss_promote", connection_loss_promote),
          ("fence_fails", fence_fails),
          ("fence_ok", fence_ok),
          ("health_check", health_check),
          ("stale_term", stale_term),
          ("status", status)], needs_kvm=False)
