#!/usr/bin/env python3
"""The backup's failure detector, fencing, health check, terms and status,
end to end against fake_primary (no VM, so no KVM needed): the real
remora-backup decides; where KVM is missing its promotion then fails with
a clear line, which the tests accept, because the decision is what they
check.

  test_detector.py BUILD_DIR fake_primary=PATH

- silence: a primary that stops sending is declared failed only after
  heartbeat_timeout, with the evidence in one line;
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
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import SILENCE, FakePrimaryCluster, Failure, main  # noqa: E402

DECISION = re.compile(r"-> (deposing|fencing|promoting) at epoch (\d+): (.*)")


def cluster(paths, failover="", hb_timeout="300ms"):
    return FakePrimaryCluster(os.environ["E2E_BINDIR"],
                              paths["fake_primary"], hb_interval="50ms",
                              hb_timeout=hb_timeout,
                              extra_failover=failover)


def synced(c):
    c.start_synced(["--hb-interval-ms", "50"])


def decision(c, timeout=30):
    return c.wait_for("the backup's decision",
                      lambda: DECISION.search(c.text(c.log("b"))), timeout)


def after_decision(c):
    """What followed the decision: the promotion where KVM works, else the
    clear refusal to go on that its absence must give."""
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        want = r"promoted to primary of term 2"
    else:
        want = r"cannot promote: open /dev/kvm: [^\n]+"
    return c.wait_for(f"'{want}' in b's log", lambda: re.search(
        want, c.text(c.log("b"))), 30).group(0)


def silence(bindir, paths):
    c = cluster(paths)
    try:
        synced(c)
        c.procs["a"].send_signal(signal.SIGUSR1)  # hung, link still up
        t0 = time.monotonic()
        m = decision(c)
        waited = (time.monotonic() - t0) * 1e3
        ev = SILENCE.search(m.group(3))
        # exact from the last frame (ev); the signal can come up to a
        # heartbeat after it
        if not ev or ev["node"] != "a" or int(ev["ms"]) <= 300 or \
                waited < 200:
            raise Failure(f"decision {m.group(0)!r} {waited:.0f} ms after "
                          f"the primary went silent\n{c.logs()}")
        if int(ev["epoch"]) != int(m.group(2)) or int(ev["epoch"]) < 2:
            raise Failure(f"last acked epoch {ev['epoch']} vs replica "
                          f"epoch {m.group(2)}\n{c.logs()}")
        then = after_decision(c)
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            # The silence goes on: the detector decides again (every
            # heartbeat_timeout) and tries to promote again.
            c.wait_for("a second decision on the silence", lambda: len(
                [ln for ln in c.text(c.log("b")).splitlines()
                 if SILENCE.search(ln) and "-> promoting" in ln]) >= 2, 30)
            then += "; decided again"
        return f"{m.group(3)[:90]}...; then: {then[:90]}"
    finally:
        c.cleanup()


def connection_loss_wait(bindir, paths):
    c = cluster(paths)
    try:
        synced(c)
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGUSR2)  # closes, exits
        t0 = time.monotonic()
        c.wait_log("b", "primary a lost")
        m = decision(c)
        waited = (time.monotonic() - t0) * 1e3
        ev = SILENCE.search(m.group(3))
        # exact from the last frame (ev); the signal can come up to a
        # heartbeat after it
        if not ev or ev["node"] != "a" or int(ev["ms"]) <= 300 or \
                waited < 200:
            raise Failure(f"decided {waited:.0f} ms after the connection "
                          f"broke: {m.group(0)!r}\n{c.logs()}")
        return f"decided after {ev['ms']} ms of silence, not at the break"
    finally:
        c.cleanup()


def connection_loss_promote(bindir, paths):
    c = cluster(paths, "on_connection_loss = promote", hb_timeout="30s")
    try:
        synced(c)
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGUSR2)
        m = decision(c, timeout=20)
        if "on_connection_loss = promote" not in m.group(3):
            raise Failure(f"decision {m.group(0)!r}\n{c.logs()}")
        return m.group(3)[:100]
    finally:
        c.cleanup()


def fence_fails(bindir, paths):
    c = cluster(paths, "fence_command = echo no power; exit 1")
    try:
        synced(c)
        c.procs["a"].send_signal(signal.SIGUSR1)
        m = decision(c)
        if m.group(1) != "fencing":
            raise Failure(f"decision without fencing: {m.group(0)!r}")
        c.wait_log("b", "fence_command failed (exit 1: no power)", count=3)
        log = c.text(c.log("b"))
        if "-> promoting" in log or "cannot promote" in log:
            raise Failure(f"went on although fencing failed\n{c.logs()}")
        return "three failed fence attempts, no promotion"
    finally:
        c.cleanup()


def fence_ok(bindir, paths):
    c = cluster(paths)
    seen = os.path.join(c.dir, "fenced")
    with open(c.config, "a") as f:
        f.write(f"fence_command = echo $REMORA_PEER $REMORA_TERM > "
                f"{seen}\n")
    try:
        synced(c)
        c.procs["a"].send_signal(signal.SIGUSR1)
        c.wait_log("b", "fence_command succeeded")
        c.wait_log("b", "-> promoting")
        with open(seen) as f:
            got = f.read().split()
        if got != ["a", "1"]:
            raise Failure(f"fence_command saw {got}, want ['a', '1']")
        return f"fenced a (term 1), then: {after_decision(c)[:70]}"
    finally:
        c.cleanup()


def health_check(bindir, paths):
    c = cluster(paths, hb_timeout="30s")
    down = os.path.join(c.dir, "down")
    with open(c.config, "a") as f:
        f.write(f"health_check_command = test ! -e {down}\n"
                "health_check_interval = 50ms\n")
    try:
        synced(c)
        time.sleep(0.3)
        if DECISION.search(c.text(c.log("b"))):
            raise Failure(f"decided while the check passed\n{c.logs()}")
        open(down, "w").close()
        m = decision(c, timeout=20)
        if m.group(1) != "deposing" or \
                "health_check_command failed (exit 1)" not in m.group(3):
            raise Failure(f"decision {m.group(0)!r}\n{c.logs()}")
        # The primary still talks: it is asked to step down, and does.
        c.expect_replaced("a", "b", 2, timeout=30)
        c.wait_log("b", "deposing -> promoting at epoch "
                        f"{m.group(2)}: primary a stepped down")
        return m.group(3)[:80] + "; a stepped down"
    finally:
        c.cleanup()


def stale_term(bindir, paths):
    c = cluster(paths, hb_timeout="30s")
    try:
        c.start_fake_primary(["--term", "5", "--hb-interval-ms", "50"])
        c.wait_out("listening ")
        c.start_backup()
        c.wait_out("synced epoch=", timeout=30)
        c.stop("a")
        del c.procs["a"]
        os.unlink(c.out_a)
        c.start_fake_primary(["--term", "3", "--hb-interval-ms", "50"])
        c.expect_replaced("a", "a", 5, timeout=30)
        c.wait_log("b", "is primary of term 3, but a has been primary "
                        "since term 5")
        return "a primary of term 3 was told term 5 and stopped"
    finally:
        c.cleanup()


def status(bindir, paths):
    c = cluster(paths, hb_timeout="30s")
    try:
        synced(c)
        ctl = os.path.join(bindir, "ctl", "remoractl")
        p = subprocess.run([ctl, "-c", c.config, "--node", "b", "status",
                            "--json"], capture_output=True, text=True,
                           timeout=30)
        if p.returncode != 0:
            raise Failure(f"remoractl: {p.returncode} {p.stderr}")
        st = json.loads(p.stdout)
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
    os.environ["E2E_BINDIR"] = sys.argv[1]
    main([("silence", silence),
          ("connection_loss_wait", connection_loss_wait),
          ("connection_loss_promote", connection_loss_promote),
          ("fence_fails", fence_fails),
          ("fence_ok", fence_ok),
          ("health_check", health_check),
          ("stale_term", stale_term),
          ("status", status)], needs_kvm=False)
