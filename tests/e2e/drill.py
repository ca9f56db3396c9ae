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
     exactly tick 1..M (counter, process), or carry a passed self-check of
     the promoted guest (memstress), or be dictcheck's lines "sum SEQ HEX
     ok" with SEQ exactly 1..M and no BAD line (process-python).

Workloads: counter and memstress are guests under KVM; process and
process-python are [workload] type = process (root and the CRIU of
scripts/build-criu; epochs every 200 ms): process is a bash loop printing
"tick N" every 10 ms, process-python tests/workloads/dictcheck.py with a
30 MB dict (memory 256M), which verifies its whole dict every 32 lines.
For both, step 2 also waits for a's first released line, and step 3 for
40 of b's lines with process-python, so the restored dict was checked.

Measured from b's "promoted" event: detection (last frame from a until
the decision) and promote (decision until the guest runs), both in ms;
and from the sinks, the time from the promotion (the event's monotonic
time) to the first line b released.

  drill.py BUILD_DIR [--iterations N]
           [--workload counter|memstress|process|process-python|redis]
           [--seed N] [--memory SIZE] [--json]
           [--chaos [--chaos-rate R] [--chaos-kinds delay,drop,...]
            [--arbiter] [--auth]]

--chaos: the backup dials a fault-injection proxy (chaos.py) instead of
the primary (its copy of the config gives node a the proxy's address);
each drill lets the cluster run under faults for a random 1..3 s without
waiting for a replica, then SIGKILLs the primary and checks the same
continuity (a's sink then b's is tick 1..M). A backup that never held a
consistent replica cannot promote: counted as "no replica at the kill",
not a violation, but then a must have released nothing (output only
leaves a primary once a backup acknowledged it). The faults injected are
counted, and logged per drill in chaos.log beside the daemons' logs.
--arbiter: one etcd on loopback for the whole run, and every drill's
cluster (a name of its own) uses it: arbiter = etcd, lease_ttl 2 s.
--auth: every drill's cluster has a key_file: a fault in a frame fails its
tag and closes the connection instead of reaching the daemons.

--workload redis: redis-server as a protected network service (type =
process with [service], issue 15) on the namespaces of tests/e2e/topo.py
(one topology for the run): a in host A, b in host B, and a redischeck.py
client in the client namespace on one TCP connection to the service
address, running through the kill. Per drill: whether the client's
connection survived the failover (same_connection) or had to reconnect,
acknowledged writes lost and answers contradicted after it (both must be
0), and the outage: kill -> the client's first reply after b's decision.

scripts/drill and scripts/demo run this; the e2e suite imports drill_once
(and redis_drill_once).
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Cluster, Failure, assert_continuous,  # noqa: E402
                 criu_missing, free_port, have_kvm, now_ms, ticks,
                 write_key)
import chaos  # noqa: E402
from etcd import Etcd  # noqa: E402
import redischeck  # noqa: E402
import topo as topology  # noqa: E402

WORKLOADS = {
    # A tick every 10 ms: a gap or a repeat shows at once.
    "counter": "--interval 10 --count 0",
    # Many pages written between epochs; self-check on request only.
    "memstress": "--pages 2048 --rate 0 --seed 7 --check-every 0",
}

DICTCHECK = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "workloads", "dictcheck.py")
DICT_MB = 30
# dictcheck verifies one of 32 slices of its dict per line: after this many
# lines from the restored process, all of it was checked at least once.
DICT_LINES = 32 + 8
# [workload] type = process: the command and the page space it needs.
PROCESSES = {
    # A tick every 10 ms (and a fork of sleep): a gap or a repeat shows.
    "process": (["/bin/bash", "-c", "i=0; while :; do i=$((i+1)); "
                 "echo tick $i; sleep 0.01; done"], "64M"),
    # About 30 MB of dict changing under every dump, checked by itself;
    # the interpreter and the dict's overhead take it past 40 MB.
    "process-python": (["/usr/bin/python3", DICTCHECK, "--mb",
                        str(DICT_MB)], "256M"),
}


class Result:
    def __init__(self):
        self.detect_ms = self.promote_ms = self.first_output_ms = None
        self.recovery_ms = None  # the kill -> b's first released output
        self.epoch = self.term = None
        self.released_a = self.released_b = 0
        self.violation = None

    def promoted(self, ev):
        """Takes the figures of b's "promoted" event ev."""
        self.term, self.epoch = ev["term"], ev["epoch"]
        self.detect_ms = ev["detect_ms"]
        self.promote_ms = ev["promote_ms"]

    def released(self):
        """What each node released, and the verdict, for a progress line."""
        return (f"a released {self.released_a} lines, b {self.released_b}: "
                + ("VIOLATION " + self.violation if self.violation
                   else "ok"))

    def as_dict(self):
        return dict(detect_ms=self.detect_ms, promote_ms=self.promote_ms,
                    first_output_ms=self.first_output_ms,
                    recovery_ms=self.recovery_ms, epoch=self.epoch, released_a=self.released_a,
                    released_b=self.released_b, violation=self.violation)


def guest_path(bindir, workload):
    return os.path.join(bindir, "guest", "examples", workload + ".elf")


def workload_cluster(bindir, workload, memory=None, **kw):
    """A Cluster running workload (a name of WORKLOADS or PROCESSES);
    memory None: the workload's own (64M for a guest)."""
    if workload in PROCESSES:
        command, mem = PROCESSES[workload]
        return Cluster(bindir, workload="process", command=command,
                       memory=memory or mem, **kw)
    return Cluster(bindir, guest_path(bindir, workload), WORKLOADS[workload],
                   memory=memory or "64M", interval="25ms", **kw)


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


DICT_LINE = re.compile(r"sum (\d+) ([0-9a-f]{16}) (ok|BAD)")


def check_dictcheck(c, res):
    """a's lines then b's are dictcheck's "sum SEQ HEX ok", SEQ exactly
    1..M: no line lost or repeated, and no check failed (BAD), on either
    side."""
    got = {}
    for name, sink in (("a", c.sink_a), ("b", c.sink_b)):
        got[name] = c.text(sink).splitlines()
    res.released_a, res.released_b = len(got["a"]), len(got["b"])
    seqs = []
    for name in ("a", "b"):
        for i, line in enumerate(got[name]):
            m = DICT_LINE.fullmatch(line)
            if not m or m[3] != "ok":
                res.violation = (f"{name}'s line {i + 1} of "
                                 f"{len(got[name])} is {line!r}"
                                 + (" (the dict failed its check)" if m
                                    else " (not a dictcheck line)"))
                return
            seqs.append(int(m[1]))
    try:
        assert_continuous(seqs)
    except Failure as e:
        res.violation = (f"a released {len(got['a'])} lines (last "
                         f"{got['a'][-1] if got['a'] else None!r}), b "
                         f"{len(got['b'])} (first "
                         f"{got['b'][0] if got['b'] else None!r}): {e}")


def wait_b_released(c, lines=20):
    c.wait_for(f"{lines} lines released by b",
               lambda: c.text(c.sink_b).count("\n") >= lines, 60)


def wait_dict_checked(c):
    """Until b released DICT_LINES lines (its restored dictcheck has
    verified its whole dict), or a BAD line, after which dictcheck exits
    and so may b: that is judged by check_dictcheck, not here."""
    b = c.procs["b"]
    b._expected = 1

    def done():
        text = c.text(c.sink_b)
        return text.count("\n") >= DICT_LINES or " BAD" in text or \
            b.poll() is not None
    c.wait_for(f"{DICT_LINES} lines released by b", done, 120)
    b._expected = 0


def end_drill(c, keep_logs):
    """A drill's cluster at its end: cleaned up, or (keep_logs: a
    violation or a failure under --keep) its daemons killed and its
    directory left for the logs."""
    if not keep_logs:
        c.cleanup()
        return
    for p in c.procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def first_output(c, timeout=60):
    """From the kill on, polls b's events and console every millisecond:
    returns b's "promoted" event and the ms from it to the first byte the
    promoted guest wrote to b's console. b's console is empty until its
    promotion writes the replica's tail (console_released bytes, before
    the event), so the guest's first byte is the size passing that; the
    sample's time is late by at most one poll (a 20 ms wait_for would
    measure itself)."""
    deadline = time.monotonic() + timeout
    ev = None
    while time.monotonic() < deadline:
        t = now_ms()
        try:
            size = os.path.getsize(c.sink_b)
        except FileNotFoundError:
            size = 0
        if ev is None:
            evs = c.events("b", "promoted")
            ev = evs[0] if evs else None
        if ev is not None and size > ev["console_released"]:
            return ev, max(0.0, t - ev["t_ms"])
        time.sleep(0.001)
    raise Failure(f"no output from the promoted b within {timeout} s\n"
                  f"{c.logs()}")


def wait_promoted(c, timeout=60):
    """Waits for b's "promoted" event; returns it. A promotion that fails
    (b records promoting -> connecting and tries again) names the log of
    the CRIU restore that failed, which b deletes: the first three are
    copied into c.dir as restore-N.log, kept with the daemons' logs."""
    copied = []

    def promoted():
        for ev in c.events("b", "state", from_="promoting"):
            m = re.search(r"\(log: ([^)]+)\)", ev.get("why", ""))
            if m and len(copied) < 3 and ev["t_ms"] not in copied:
                copied.append(ev["t_ms"])
                try:
                    shutil.copy(m[1], os.path.join(
                        c.dir, f"restore-{len(copied)}.log"))
                except OSError:
                    pass
        evs = c.events("b", "promoted")
        return evs[0] if evs else None
    return c.wait_for("'promoted' event from b", promoted, timeout)


def drill_once(bindir, rng, workload="counter", memory=None,
               hb_interval="50ms", hb_timeout="300ms", extra_failover="",
               keep=False):
    """Runs one drill; returns a Result (violation set on a failed check).
    Raises Failure when the cluster does not get as far as a promotion.
    memory None: the workload's own (64M for a guest)."""
    c = workload_cluster(bindir, workload, memory, hb_interval=hb_interval,
                         hb_timeout=hb_timeout,
                         extra_failover=extra_failover)
    res = Result()
    failed = False
    try:
        c.start_replicating()
        if workload in PROCESSES:
            # dictcheck builds its dict before its first line: a kill
            # before it would leave a with nothing released.
            c.wait_for("a's first released line",
                       lambda: "\n" in c.text(c.sink_a), 120)
        time.sleep(rng.uniform(0.1, 1.5))
        c.procs["a"]._expected = 1
        t_kill = now_ms()
        c.procs["a"].send_signal(signal.SIGKILL)
        c.procs["a"].wait(30)
        if workload != "memstress":
            ev, res.first_output_ms = first_output(c)
            res.recovery_ms = ev["t_ms"] + res.first_output_ms - t_kill
        else:
            ev = wait_promoted(c)
        res.promoted(ev)
        if workload != "memstress":
            if workload == "process-python":
                wait_dict_checked(c)
            else:
                wait_b_released(c)
        else:
            c.wait_for("the promoted guest's self-check",
                       lambda: "memstress step" in c.text(c.sink_b), 60)
        rc = c.stop("b")
        if workload == "process-python":
            check_dictcheck(c, res)
            if res.violation and rc != 0:
                res.violation += f" (then b exited {rc})"
        if rc != 0 and not res.violation:
            raise Failure(f"promoted b exited {rc}\n{c.logs()}")
        if workload in ("counter", "process"):
            check_counter(c, res)
        elif workload == "memstress":
            check_memstress(c, res)
        if res.violation and keep:
            res.violation += f" (logs kept in {c.dir})"
        return res
    except Failure as e:
        if not keep:
            raise
        failed = True
        raise Failure(f"{e}\n(logs kept in {c.dir})")
    finally:
        end_drill(c, keep and (res.violation or failed))


class RedisResult(Result):
    """A redis drill: Result's promotion figures plus the client's view."""

    def __init__(self):
        super().__init__()
        self.outage_ms = None
        self.same_connection = None
        self.acked_lost = self.contradicted = None
        self.replies_before = self.replies_after = 0
        self.breaks = []
        self.verdict = None

    @property
    def reconnected(self):
        return self.same_connection is False

    def as_dict(self):
        d = super().as_dict()
        d.update(outage_ms=self.outage_ms,
                 same_connection=self.same_connection,
                 reconnected=self.reconnected, acked_lost=self.acked_lost,
                 contradicted=self.contradicted,
                 replies_before=self.replies_before,
                 replies_after=self.replies_after,
                 breaks=[b[2] for b in self.breaks])
        return d

    def released(self):
        outage = "-" if self.outage_ms is None else \
            f"{self.outage_ms:.0f}"
        conn = "same connection" if self.same_connection else \
            "RECONNECTED"
        return (f"{self.replies_before} replies before the kill, "
                f"{self.replies_after} after; outage {outage} ms, {conn}: "
                + ("VIOLATION " + self.violation if self.violation
                   else "ok"))


def redis_drill_once(bindir, topo, rng, interval="100ms", hb_interval="50ms",
                     hb_timeout="1s", keep=False, max_held_bytes="16M",
                     replies_after=5, sig=signal.SIGKILL):
    """One drill of the protected redis on topo (a topo.Topology): a
    fresh pair (b, then a), a redischeck client once the service answers,
    sig to a (SIGKILL; SIGTERM: a planned switchover, a drains and stops)
    at a random moment once the client has 3 replies, b's
    promotion, the client's first reply after b's decision (the outage),
    replies_after more, a's service namespace gone (its host end
    deleted), then verify(). Returns a RedisResult (violation:
    acknowledged writes lost or answers contradicted); raises Failure
    when the cluster does not get that far."""
    c = topology.ServiceCluster(bindir, topo, interval=interval,
                                hb_interval=hb_interval,
                                hb_timeout=hb_timeout,
                                max_held_bytes=max_held_bytes)
    res = RedisResult()
    chk = None
    failed = False
    try:
        c.start_pair()
        chk = redischeck.Checker(lambda: topo.connect(timeout=30.0))
        chk.start()
        try:
            chk.wait_replies(3, what="the client before the kill")
            time.sleep(rng.uniform(0.1, 1.5))
            res.replies_before = len(chk.answered())
            t_kill = c.kill("a", sig)
            ev = wait_promoted(c)
            res.promoted(ev)
            # b's decision: no reply after it can come from a
            decided = (ev["t_ms"] - ev["promote_ms"]) / 1e3
            chk.wait_replies(replies_after, after=decided, timeout=60,
                             what="the client after the promotion")
        except TimeoutError as e:
            raise Failure(f"{e}\n{c.logs()}")
        # Nothing of a's may answer for the service any more: its host
        # end (and with it the old namespace's eth0) went with it.
        c.wait_for(f"host A's {topology.SERVICE_IF} to go with a (else "
                   f"the old namespace's eth0 answers for the service's "
                   f"address)",
                   lambda: not topo.has_link("a", topology.SERVICE_IF),
                   timeout=30.0)
        res.outage_ms, res.same_connection = chk.outage(t_kill, decided)
        res.breaks = chk.broke_after(t_kill)
        chk.stop()
        res.replies_after = len(chk.answered(decided))
        v = chk.verify()
        res.verdict = v
        res.acked_lost, res.contradicted = v.acked_lost, v.contradicted
        if not v.ok():
            res.violation = f"{v} [{chk.summary()}]"
        rc = c.stop("b")
        if rc != 0 and not res.violation:
            raise Failure(f"promoted b exited {rc}\n{c.logs()}")
        if res.violation and keep:
            res.violation += f" (logs kept in {c.dir})"
        return res
    except Failure as e:
        if not keep:
            raise
        failed = True
        raise Failure(f"{e}\n(logs kept in {c.dir})")
    finally:
        if chk:
            chk.stop(grace=1.0)
            chk.close()
            if keep and (res.violation or failed):
                # the client's side, beside the daemons' logs
                with open(os.path.join(c.dir, "checker.txt"), "w") as f:
                    f.write(f"{chk.summary()}\n{res.verdict}\n"
                            f"breaks {chk.breaks}\nconnects "
                            f"{chk.connects}\nerrors {chk.errors}\n")
                    f.writelines(f"{r!r}\n" for r in chk.records)
        end_drill(c, keep and (res.violation or failed))


def min_median_max(results, name):
    """The min, median and max of attribute name over results (those that
    have it), formatted for a summary row; dashes without any."""
    v = [getattr(r, name) for r in results if getattr(r, name) is not None]
    if not v:
        return "-", "-", "-"
    return f"{min(v):.1f}", f"{statistics.median(v):.1f}", f"{max(v):.1f}"


def redis_summary(results, hb_timeout_ms):
    """The redis drills' table: promotion figures, the outage, and the
    client's counts."""
    def col(name):
        return min_median_max(results, name)
    rows = [("detection ms", *col("detect_ms")),
            ("promote ms", *col("promote_ms")),
            ("outage ms", *col("outage_ms"))]
    out = [f"{'':<18}{'min':>10}{'median':>10}{'max':>10}"]
    out += [f"{n:<18}{a:>10}{m:>10}{x:>10}" for n, a, m, x in rows]
    same = sum(1 for r in results if r.same_connection)
    out.append(f"drills {len(results)}, heartbeat_timeout {hb_timeout_ms} "
               f"ms: same_connection {same}, reconnected "
               f"{len(results) - same}, acked_lost "
               f"{sum(r.acked_lost or 0 for r in results)}, contradicted "
               f"{sum(r.contradicted or 0 for r in results)}")
    out += [f"  violation: {r.violation}" for r in results if r.violation]
    return "\n".join(out)


def redis_main(o, rng):
    """scripts/drill --workload redis: o.iterations drills on one
    topology."""
    hb = f"{o.heartbeat_timeout_ms}ms"
    results = []
    with topology.Topology() as topo:
        for i in range(o.iterations):
            try:
                r = redis_drill_once(o.bindir, topo, rng, hb_timeout=hb,
                                     keep=True)
            except Failure as e:
                print(f"drill {i + 1}/{o.iterations}: did not get as far "
                      f"as a promotion: {e}", file=sys.stderr)
                return 1
            results.append(r)
            print(f"drill {i + 1}/{o.iterations}: detection {r.detect_ms} "
                  f"ms, promote {r.promote_ms:.1f} ms, epoch {r.epoch}, "
                  f"{r.released()}", file=sys.stderr, flush=True)
    same = sum(1 for r in results if r.same_connection)
    if o.json:
        print(json.dumps({
            "seed": o.seed, "workload": o.workload,
            "drills": [r.as_dict() for r in results],
            "same_connection": same, "reconnected": len(results) - same,
            "acked_lost": sum(r.acked_lost or 0 for r in results),
            "contradicted": sum(r.contradicted or 0 for r in results)}))
    else:
        print(f"seed {o.seed}, workload redis")
        print(redis_summary(results, o.heartbeat_timeout_ms))
    return 1 if any(r.violation for r in results) else 0


class ChaosResult(Result):
    def __init__(self):
        super().__init__()
        self.outcome = None  # promoted, no-replica, promoted-early
        self.faults = {}
        self.run_s = None
        self.a_rc = None
        self.seed = None
        # b took the old primary's release report from etcd (arbiter):
        # the link's last report was behind it
        self.etcd_report = False

    def as_dict(self):
        d = super().as_dict()
        d.update(outcome=self.outcome, faults=self.faults,
                 run_s=self.run_s, a_rc=self.a_rc, seed=self.seed,
                 etcd_report=self.etcd_report)
        return d


def chaos_once(bindir, rng, rate=0.01, kinds=chaos.KINDS, memory="64M",
               hb_interval="50ms", hb_timeout="300ms", keep=False,
               etcd=None, index=0, auth=False):
    """One chaos drill (counter workload): b dials a through a ChaosProxy;
    faults for a random 1..3 s, then a is SIGKILLed. Returns a
    ChaosResult (violation set on a failed check); raises Failure when
    something other than continuity goes wrong (b has a replica but does
    not promote, a daemon exits unexpectedly)."""
    workload = "counter"
    failover = ""
    if etcd:
        failover = (f"arbiter = etcd\netcd_endpoints = {etcd.endpoint}\n"
                    f"lease_ttl = 2s\n")
    c = Cluster(bindir, guest_path(bindir, workload), WORKLOADS[workload],
                memory=memory, interval="25ms", hb_interval=hb_interval,
                hb_timeout=hb_timeout, extra_failover=failover)
    if etcd:
        # each drill its own keys in etcd: nothing left by the last one
        text = c.text(c.config).replace("name = e2e\n",
                                        f"name = chaos-{index}\n", 1)
        with open(c.config, "w") as f:
            f.write(text)
    if auth:
        key = os.path.join(c.dir, "cluster.key")
        write_key(key, os.urandom(32))
        c.add_key_file(key)
    res = ChaosResult()
    res.seed = rng.randrange(1 << 32)
    proxy = chaos.ChaosProxy(free_port(), ("127.0.0.1", c.ports["a"]),
                             seed=res.seed, rate=rate, kinds=kinds,
                             log_path=os.path.join(c.dir, "chaos.log"))
    failed = True
    try:
        proxy.start()
        c.start("b", config=chaos.backup_config(c, proxy.port))
        c.start("a")
        # Under faults either may end on its own (a replaced by a promoted
        # b after a long stall, b refused): judged below, not here.
        c.procs["a"]._expected = 1
        c.procs["b"]._expected = 1
        c.wait_event("a", "listening", timeout=60)
        res.run_s = rng.uniform(1.0, 3.0)
        time.sleep(res.run_s)
        a = c.procs["a"]
        if a.poll() is None:
            a.send_signal(signal.SIGKILL)
        res.a_rc = a.wait(30)
        t_kill = time.monotonic()
        hb_ms = float(hb_timeout.rstrip("ms"))
        settle = 2.0 + 4 * hb_ms / 1e3  # stalled frames (<= 1 s) included

        def settled():
            if c.events("b", "promoted"):
                return "promoted"
            if c.procs["b"].poll() is not None:
                return "b exited"
            if time.monotonic() - t_kill > settle and \
                    not c.events("b", "state", to="replicating"):
                return "no replica"
            return None
        how = c.wait_for("b's promotion (it held a replica)", settled, 60)
        if how == "b exited":
            raise Failure(f"b exited ({c.procs['b'].returncode}) after a "
                          f"was killed\n{c.logs()}")
        if how == "promoted":
            res.promoted(c.events("b", "promoted")[0])
            res.etcd_report = bool(c.events("b", "release_report"))
            res.outcome = "promoted" if res.a_rc == -signal.SIGKILL \
                else "promoted-early"
            wait_b_released(c)
            rc = c.stop("b")
            if rc != 0:
                raise Failure(f"promoted b exited {rc}\n{c.logs()}")
            check_counter(c, res)
        else:
            res.outcome = "no-replica"
            rc = c.stop("b")
            if rc != 0:
                raise Failure(f"b exited {rc} on SIGTERM\n{c.logs()}")
            check_counter(c, res)
            if not res.violation and res.released_a:
                res.violation = (f"a released {res.released_a} ticks but "
                                 f"b never held a consistent replica "
                                 f"(nothing was acknowledged)")
        failed = False
        return res
    finally:
        proxy.stop()
        res.faults = dict(proxy.counts)
        if res.violation:
            res.violation += f" [chaos seed {res.seed}]"
            if keep:
                res.violation += f" (logs kept in {c.dir})"
        end_drill(c, keep and (res.violation or failed))


def chaos_summary(results, hb_timeout_ms, rate, failures):
    out = [summary([r for r in results if r.outcome != "no-replica"],
                   hb_timeout_ms).rsplit("\ndrills", 1)[0]]
    outcomes = collections.Counter(r.outcome for r in results)
    faults = collections.Counter()
    for r in results:
        faults.update(r.faults)
    out.append(f"chaos drills {len(results) + len(failures)}, rate {rate}"
               f" per frame, heartbeat_timeout {hb_timeout_ms} ms")
    out.append("outcomes: " + ", ".join(
        f"{k} {outcomes.get(k, 0)}" for k in
        ("promoted", "promoted-early", "no-replica")) +
        f", failed {len(failures)}")
    out.append(f"{'fault':<12}{'injected':>10}")
    out += [f"{k:<12}{faults.get(k, 0):>10}" for k in chaos.KINDS]
    out.append(f"{'total':<12}{sum(faults.values()):>10}")
    bad = [r for r in results if r.violation]
    reports = sum(1 for r in results if r.etcd_report)
    if reports:
        out.append(f"promotions that took the released offset from etcd "
                   f"(the link's report was behind): {reports}")
    out.append(f"continuity violations {len(bad)}")
    out += [f"  violation: {r.violation}" for r in bad]
    out += [f"  failed: {f}" for f in failures]
    return "\n".join(out)


def summary(results, hb_timeout_ms):
    def col(name):
        return min_median_max(results, name)
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
    ap.add_argument("--workload",
                    choices=sorted(WORKLOADS) + sorted(PROCESSES) +
                    ["redis"],
                    default="counter")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--memory", default=None,
                    help="[workload] memory (default: 64M; 256M for "
                    "process-python)")
    ap.add_argument("--heartbeat-timeout-ms", type=int, default=None,
                    help="the cluster's heartbeat_timeout (default 300; "
                    "1000 for redis)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--chaos", action="store_true",
                    help="b dials a through a fault-injection proxy")
    ap.add_argument("--chaos-rate", type=float, default=0.01,
                    help="faults per frame (default 0.01)")
    ap.add_argument("--arbiter", action="store_true",
                    help="--chaos with arbiter = etcd (an etcd on "
                    "loopback for the run)")
    ap.add_argument("--auth", action="store_true",
                    help="--chaos with a key_file: every frame tagged")
    ap.add_argument("--chaos-kinds", default=",".join(chaos.KINDS),
                    help="faults to pick from (default: all)")
    o = ap.parse_args()
    if o.iterations < 1:
        ap.error("--iterations must be at least 1")
    if o.heartbeat_timeout_ms is None:
        o.heartbeat_timeout_ms = 1000 if o.workload == "redis" else 300
    if o.heartbeat_timeout_ms < 100:
        ap.error("--heartbeat-timeout-ms must be at least 100")
    if o.workload in PROCESSES or o.workload == "redis":
        why = criu_missing() or (
            None if os.access(topology.REDIS, os.X_OK) else
            f"no {topology.REDIS} (Debian package redis-server)"
            if o.workload == "redis" else None)
        if why:
            print(f"drill: {o.workload} cannot run here: {why}",
                  file=sys.stderr)
            return 77
    elif not have_kvm():
        print("drill: /dev/kvm is not usable here; drills run real guests "
              "(needs KVM and root)", file=sys.stderr)
        return 77
    rng = random.Random(o.seed)
    if o.chaos:
        return chaos_main(o, rng)
    if o.workload == "redis":
        return redis_main(o, rng)
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
              f"promote {r.promote_ms} ms, epoch {r.epoch}, "
              f"{r.released()}",
              file=sys.stderr, flush=True)
    if o.json:
        print(json.dumps({"seed": o.seed, "workload": o.workload,
                          "drills": [r.as_dict() for r in results]}))
    else:
        print(f"seed {o.seed}, workload {o.workload}")
        print(summary(results, o.heartbeat_timeout_ms))
    return 1 if any(r.violation for r in results) else 0


def chaos_main(o, rng):
    if o.workload != "counter":
        print("drill: --chaos runs the counter workload", file=sys.stderr)
        return 2
    kinds = o.chaos_kinds.split(",")
    results, failures = [], []
    etcd = Etcd() if o.arbiter else None
    try:
        return chaos_loop(o, rng, kinds, results, failures, etcd)
    finally:
        if etcd:
            etcd.stop()


def chaos_loop(o, rng, kinds, results, failures, etcd):
    for i in range(o.iterations):
        try:
            r = chaos_once(o.bindir, rng, o.chaos_rate, kinds,
                           o.memory or "64M",
                           hb_timeout=f"{o.heartbeat_timeout_ms}ms",
                           keep=True, etcd=etcd, index=i, auth=o.auth)
        except Failure as e:
            msg = str(e)
            print(f"chaos drill {i + 1}/{o.iterations}: FAILED: {msg}",
                  file=sys.stderr, flush=True)
            failures.append(f"drill {i + 1}: {msg.splitlines()[0]}")
            continue
        results.append(r)
        faults = ", ".join(f"{k} {v}" for k, v in sorted(r.faults.items()))
        print(f"chaos drill {i + 1}/{o.iterations}: {r.outcome} after "
              f"{r.run_s:.2f} s (a exit {r.a_rc}), faults [{faults or '-'}]"
              f", {r.released()}"
              f"{' (released offset from etcd)' if r.etcd_report else ''}",
              file=sys.stderr, flush=True)
    if o.json:
        print(json.dumps({"seed": o.seed, "chaos_rate": o.chaos_rate,
                          "drills": [r.as_dict() for r in results],
                          "failures": failures}))
    else:
        print(f"seed {o.seed}, workload counter, chaos")
        print(chaos_summary(results, o.heartbeat_timeout_ms, o.chaos_rate,
                            failures))
    return 1 if failures or any(r.violation for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
