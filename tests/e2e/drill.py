#!/usr/bin/env python3
"""Failover drills: start a primary and a backup on loopback, let the guest
run, SIGKILL the primary at a random moment, watch the backup take over,
and check what an outside observer saw.

One drill:
  1. remora-backup b and remora-primary a from one config (Cluster);
  2. wait until b holds a consistent replica, then a random time more;
  3. SIGKILL a; wait until b records its promotion (its "promoted"
     event) and its console sink has more output; stop b;
  4. the released console output of both nodes, a's sink then b's, must be
     exactly tick 1..M (counter), or carry a passed self-check of the
     promoted guest (memstress).

Measured from b's "promoted" event: detection (last frame from a until
the decision) and promote (decision until the guest runs), both in ms;
and from the sinks, the time from the promotion (the event's monotonic
time) to the first line b released.

  drill.py BUILD_DIR [--iterations N] [--workload counter|memstress]
           [--seed N] [--memory SIZE] [--json]

scripts/drill and scripts/demo run this; the e2e suite imports drill_once.
"""
import argparse
import json
import os
import random
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Cluster, Failure, assert_continuous, now_ms,  # noqa: E402
                 ticks)

WORKLOADS = {
    # A tick every 10 ms: a gap or a repeat shows at once.
    "counter": "--interval 10 --count 0",
    # Many pages written between epochs; self-check on request only.
    "memstress": "--pages 2048 --rate 0 --seed 7 --check-every 0",
}


class Result:
    def __init__(self):
        self.detect_ms = self.promote_ms = self.first_output_ms = None
        self.epoch = self.term = None
        self.released_a = self.released_b = 0
        self.violation = None

    def as_dict(self):
        return dict(detect_ms=self.detect_ms, promote_ms=self.promote_ms,
                    first_output_ms=self.first_output_ms,
                    epoch=self.epoch, released_a=self.released_a,
                    released_b=self.released_b, violation=self.violation)


def guest_path(bindir, workload):
    return os.path.join(bindir, "guest", "examples", workload + ".elf")


def check_counter(c, res):
    a = ticks(c.text(c.sink_a))
    b = ticks(c.text(c.sink_b))
    res.released_a, res.released_b = len(a), len(b)
    try:
        assert_continuous(a + b)
    except Failure as e:
        res.violation = (f"a released {len(a)} ticks (last "
                         f"{a[-1] if a else None}), b {len(b)} (first "
                         f"{b[0] if b else None}): {e}")


def check_memstress(c, res):
    lines = c.text(c.sink_b).splitlines()
    res.released_b = len(lines)
    res.released_a = len(c.text(c.sink_a).splitlines())
    # the promoted guest's console output (data, not a log)
    bad = [ln for ln in lines if "FAIL" in ln or "fail" in ln]
    ok = [ln for ln in lines if re.fullmatch(r"memstress step \d+ ok", ln)]
    if bad or not ok:
        res.violation = (f"promoted guest's self-check: "
                         f"{(bad or lines)[:3]!r}")


def drill_once(bindir, rng, workload="counter", memory="64M",
               hb_interval="50ms", hb_timeout="300ms", extra_failover="",
               keep=False):
    """Runs one drill; returns a Result (violation set on a failed check).
    Raises Failure when the cluster does not get as far as a promotion."""
    c = Cluster(bindir, guest_path(bindir, workload), WORKLOADS[workload],
                memory=memory, interval="25ms", hb_interval=hb_interval,
                hb_timeout=hb_timeout, extra_failover=extra_failover)
    res = Result()
    try:
        c.start_replicating()
        time.sleep(rng.uniform(0.1, 1.5))
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGKILL)
        c.procs["a"].wait(30)
        ev = c.wait_event("b", "promoted", timeout=60)
        res.term, res.epoch = ev["term"], ev["epoch"]
        res.detect_ms = ev["detect_ms"]
        res.promote_ms = ev["promote_ms"]
        start_b = len(c.text(c.sink_b))
        if workload == "counter":
            c.wait_for("b's first released line",
                       lambda: len(c.text(c.sink_b)) > start_b, 30)
            res.first_output_ms = now_ms() - ev["t_ms"]
            c.wait_for("20 lines released by b",
                       lambda: c.text(c.sink_b).count("\n") >= 20, 60)
        else:
            c.wait_for("the promoted guest's self-check",
                       lambda: "memstress step" in c.text(c.sink_b), 60)
        rc = c.stop("b")
        if rc != 0:
            raise Failure(f"promoted b exited {rc}\n{c.logs()}")
        (check_counter if workload == "counter" else check_memstress)(c,
                                                                       res)
        if res.violation and keep:
            res.violation += f" (logs kept in {c.dir})"
        return res
    finally:
        if not (keep and res.violation):
            c.cleanup()


def summary(results, hb_timeout_ms):
    def col(name):
        v = [getattr(r, name) for r in results
             if getattr(r, name) is not None]
        if not v:
            return "-", "-", "-"
        return (f"{min(v):.1f}", f"{statistics.median(v):.1f}",
                f"{max(v):.1f}")
    rows = [("detection ms", *col("detect_ms")),
            ("promote ms", *col("promote_ms")),
            ("first output ms", *col("first_output_ms"))]
    out = [f"{'':<18}{'min':>10}{'median':>10}{'max':>10}"]
    out += [f"{n:<18}{a:>10}{m:>10}{x:>10}" for n, a, m, x in rows]
    bad = [r for r in results if r.violation]
    out.append(f"drills {len(results)}, heartbeat_timeout "
               f"{hb_timeout_ms} ms, continuity violations {len(bad)}")
    out += [f"  violation: {r.violation}" for r in bad]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--workload", choices=sorted(WORKLOADS),
                    default="counter")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--memory", default="64M")
    ap.add_argument("--heartbeat-timeout-ms", type=int, default=300,
                    help="the cluster's heartbeat_timeout (default 300)")
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args()
    if o.iterations < 1:
        ap.error("--iterations must be at least 1")
    if o.heartbeat_timeout_ms < 100:
        ap.error("--heartbeat-timeout-ms must be at least 100")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("drill: /dev/kvm is not usable here; drills run real guests "
              "(needs KVM and root)", file=sys.stderr)
        return 77
    rng = random.Random(o.seed)
    results = []
    for i in range(o.iterations):
        try:
            r = drill_once(o.bindir, rng, o.workload, o.memory,
                           hb_timeout=f"{o.heartbeat_timeout_ms}ms",
                           keep=True)
        except Failure as e:
            print(f"drill {i + 1}/{o.iterations}: did not get as far as a "
                  f"promotion: {e}", file=sys.stderr)
            return 1
        results.append(r)
        print(f"drill {i + 1}/{o.iterations}: detection {r.detect_ms} ms, "
              f"promote {r.promote_ms} ms, epoch {r.epoch}, a released "
              f"{r.released_a} lines, b {r.released_b}: "
              f"{'VIOLATION ' + r.violation if r.violation else 'ok'}",
              file=sys.stderr, flush=True)
    if o.json:
        print(json.dumps({"seed": o.seed, "workload": o.workload,
                          "drills": [r.as_dict() for r in results]}))
    else:
        print(f"seed {o.seed}, workload {o.workload}")
        print(summary(results, o.heartbeat_timeout_ms))
    return 1 if any(r.violation for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
