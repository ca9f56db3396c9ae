#!/usr/bin/env python3
"""Protected network service benchmark (issue 15): what remora costs
redis-server's clients, and what a failover costs them.

The network is tests/e2e/topo.py's, namespaces only: a client, a switch,
host A and host B with a bridge br0 each; the service's address
10.79.0.100 is on a veth whose host end joins host A's br0 (the primary's)
or, after a failover, host B's. Every figure comes from the client
namespace, through the switch and the bridge.

Throughput and latency: redis-benchmark (the Debian package's, 7.x) with
50 clients (-c), SET and GET (-t set,get, random keys among 10,000: -r),
CSV output (its own p50 and p99 per test), against

- unprotected: the same redis-server command in a namespace plumbed by
  hand the same way (veth into host A's br0, eth0 with the service
  address): the physical reference, with the same path and no remora;
- protected: remora-primary in host A (the service's namespace, output
  held until the epoch is acknowledged) and remora-backup in host B, at
  epoch_interval 25, 100 and 200 ms (--intervals).

Both are measured for each interval, one right after the other. A pilot
of 10 requests per client sizes the measured run to about --seconds.
rps is SET and GET together (2n requests over the two tests' time); p50
and p99 are the worse of SET's and GET's (redis-benchmark prints them per
test; percentiles of two runs do not combine exactly). Each client waits
for its reply before sending again, so protected rps is bounded by about
clients per epoch: the added latency (protected p50 - unprotected p50) is
what output commit promises, about the interval plus a dump and an Ack.

Failover: --drills N (default 10) drills of tests/e2e/drill.py's
redis_drill_once at --failover-interval (default 100 ms): a fresh pair, a
redischeck client on one TCP connection, SIGKILL of the primary at a
random moment once the backup holds a replica; outage = kill -> the
client's first reply after the backup's decision (detection included:
heartbeat_timeout, --heartbeat-timeout-ms, default 500); whether the
connection survived (same_connection) or the client had to reconnect;
acknowledged writes lost and answers contradicted (both must be 0).

  bench_service.py BUILD_DIR [--json] [--intervals 25,100,200] [--drills N]
                   [--seconds S] [--clients N] [--failover-interval MS]
                   [--heartbeat-timeout-ms N]

--json prints exactly {"runs": [{"interval_ms", "rps_protected",
"rps_unprotected", "p50_ms_protected", "p99_ms_protected",
"p50_ms_unprotected", "p99_ms_unprotected"}], "failover": {"drills",
"outage_ms_p50", "outage_ms_max", "same_connection", "reconnected",
"acked_lost", "contradicted", "heartbeat_timeout_ms"}}.

Needs root, the CRIU of scripts/build-criu and redis-server /
redis-benchmark. The machine is shared and may be loaded (2 cores here):
read the protected figures against the unprotected ones of the same run.
Exits 1 when a drill lost an acknowledged write or contradicted one.
"""
import argparse
import csv
import io
import json
import os
import random
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from e2e import Failure, criu_missing  # noqa: E402
from drill import redis_drill_once  # noqa: E402
import topo as topology  # noqa: E402

BENCHMARK = "/usr/bin/redis-benchmark"
KEYSPACE = 10_000
PILOT_PER_CLIENT = 10


def say(msg):
    print(f"bench service: {msg}", file=sys.stderr, flush=True)


def parse_csv(text):
    """redis-benchmark --csv: {test: {column: float}} (7.x: "test",
    "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
    "p95_latency_ms", "p99_latency_ms", "max_latency_ms")."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:2] != ["test", "rps"]:
        raise Failure(f"redis-benchmark --csv printed no header: "
                      f"{text[:300]!r}")
    head = rows[0]
    out = {}
    for row in rows[1:]:
        if len(row) != len(head):
            continue
        out[row[0]] = {k: float(v) for k, v in zip(head[1:], row[1:])}
    for t in ("SET", "GET"):
        if t not in out or "p99_latency_ms" not in out[t]:
            raise Failure(f"redis-benchmark --csv: no {t} row with p99: "
                          f"{text[:300]!r}")
    return out


def benchmark(t, clients, n, timeout):
    """redis-benchmark from the client namespace: returns (rps of SET and
    GET together, p50 ms, p99 ms, the parsed rows)."""
    p = t.run("client", BENCHMARK, "-h", topology.SERVICE_ADDR, "-p",
              str(topology.REDIS_PORT), "-c", str(clients), "-n", str(n),
              "-r", str(KEYSPACE), "-t", "set,get", "--csv",
              timeout=timeout, check=False)
    if p.returncode != 0:
        raise Failure(f"redis-benchmark: exit {p.returncode}: "
                      f"{(p.stderr or p.stdout)[-500:]}")
    rows = parse_csv(p.stdout)
    s, g = rows["SET"], rows["GET"]
    rps = 2 * n / (n / s["rps"] + n / g["rps"])
    return (rps, max(s["p50_latency_ms"], g["p50_latency_ms"]),
            max(s["p99_latency_ms"], g["p99_latency_ms"]), rows)


def measured(t, clients, seconds, what):
    """A pilot, then a run sized to about `seconds`."""
    pilot = clients * PILOT_PER_CLIENT
    rps, _, _, _ = benchmark(t, clients, pilot, 600)
    n = max(pilot, int(rps * seconds / 2))  # two tests of n each
    say(f"{what}: pilot {rps:.0f} rps, measuring {n} requests per test")
    return benchmark(t, clients, n, 120 + 20 * seconds)


def unprotected(t, clients, seconds):
    ps = t.plain_service("a")
    try:
        t.wait_redis(60, "the unprotected redis")
        return measured(t, clients, seconds, "unprotected")
    finally:
        ps.stop()


def protected(bindir, t, interval, clients, seconds):
    """Returns benchmark()'s tuple and whether a stayed protected."""
    c = topology.ServiceCluster(bindir, t, interval=f"{interval}ms")
    try:
        c.start_pair()
        prot = c.wait_event("a", "state", to="protected", timeout=120)
        res = measured(t, clients, seconds, f"protected, {interval} ms")
        lost = [e.get("why", e["to"]) for e in
                c.events("a", "state", from_="protected")
                if e["t_ms"] > prot["t_ms"]]
        for why in lost:
            say(f"{interval} ms: NOT protected for the whole run: {why}")
        c.stop("b")
        c.stop("a")
        return res, not lost
    finally:
        c.cleanup()


def failover(bindir, t, drills, interval, hb_ms, seed):
    rng = random.Random(seed)
    rs = []
    for i in range(drills):
        r = redis_drill_once(bindir, t, rng, interval=f"{interval}ms",
                             hb_timeout=f"{hb_ms}ms", keep=True)
        say(f"drill {i + 1}/{drills}: detection {r.detect_ms} ms, promote "
            f"{r.promote_ms:.0f} ms, {r.released()}")
        rs.append(r)
    out = [r.outage_ms for r in rs if r.outage_ms is not None]
    same = sum(1 for r in rs if r.same_connection)
    return {
        "drills": drills,
        "outage_ms_p50": statistics.median(out) if out else None,
        "outage_ms_max": max(out) if out else None,
        "same_connection": same,
        "reconnected": drills - same,
        "acked_lost": sum(r.acked_lost or 0 for r in rs),
        "contradicted": sum(r.contradicted or 0 for r in rs),
        "heartbeat_timeout_ms": hb_ms,
    }, rs


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def print_tables(runs, fo, kept, rs, clients):
    print(f"redis-benchmark -c {clients} -t set,get -r {KEYSPACE}, from "
          f"the client namespace (rps: SET and GET together; p50/p99: the "
          f"worse of the two, ms)")
    print(f"{'interval':>9}{'rps prot':>10}{'rps unprot':>11}{'ratio':>7}"
          f"{'p50 prot':>9}{'p99 prot':>9}{'p50 unp':>9}{'p99 unp':>9}"
          f"{'added p50':>10}{'p50/int':>8}")
    for r, ok in zip(runs, kept):
        added = r["p50_ms_protected"] - r["p50_ms_unprotected"]
        print(f"{r['interval_ms']:>7}ms{r['rps_protected']:>10.0f}"
              f"{r['rps_unprotected']:>11.0f}"
              f"{r['rps_protected'] / r['rps_unprotected']:>7.3f}"
              f"{r['p50_ms_protected']:>9.1f}{r['p99_ms_protected']:>9.1f}"
              f"{r['p50_ms_unprotected']:>9.2f}"
              f"{r['p99_ms_unprotected']:>9.2f}{added:>10.1f}"
              f"{r['p50_ms_protected'] / r['interval_ms']:>8.2f}"
              f"{'' if ok else '  ! lost its backup during the run'}")
    print()
    if fo["drills"]:
        outs = sorted(r.outage_ms for r in rs if r.outage_ms is not None)
        print(f"failover: {fo['drills']} drills, heartbeat_timeout "
              f"{fo['heartbeat_timeout_ms']} ms: outage (kill -> first "
              f"reply) min {fmt(outs[0] if outs else None, '.0f')}, p50 "
              f"{fmt(fo['outage_ms_p50'], '.0f')}, max "
              f"{fmt(fo['outage_ms_max'], '.0f')} ms; promote "
              f"{fmt(statistics.median([r.promote_ms for r in rs]), '.0f')}"
              f" ms (median)")
        print(f"  same_connection {fo['same_connection']}, reconnected "
              f"{fo['reconnected']}, acked_lost {fo['acked_lost']}, "
              f"contradicted {fo['contradicted']}")
        for r in rs:
            if r.violation:
                print(f"  violation: {r.violation}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--intervals", default="25,100,200",
                    help="epoch_interval values in ms (>= 20)")
    ap.add_argument("--drills", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=8.0,
                    help="measured time per redis-benchmark run (about)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--failover-interval", type=int, default=100)
    ap.add_argument("--heartbeat-timeout-ms", type=int, default=500)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    o = ap.parse_args()
    intervals = [int(x) for x in o.intervals.split(",") if x]
    if any(iv < 20 for iv in intervals):
        ap.error("--intervals: a process workload's epoch_interval is at "
                 "least 20 ms")
    if o.drills < 0 or o.clients < 1:
        ap.error("--drills >= 0 and --clients >= 1")
    why = criu_missing()
    for prog in (topology.REDIS, BENCHMARK):
        if not why and not os.access(prog, os.X_OK):
            why = f"no {prog} (Debian packages redis-server, redis-tools)"
    if not why and not shutil.which("nsenter"):
        why = "no nsenter (util-linux)"
    if why:
        print(f"SKIP: {why}")
        return 0
    runs, kept = [], []
    with topology.Topology() as t:
        for iv in intervals:
            say(f"{iv} ms: unprotected reference")
            ref = unprotected(t, o.clients, o.seconds)
            say(f"{iv} ms: unprotected {ref[0]:.0f} rps, p50 {ref[1]:.2f}"
                f" ms, p99 {ref[2]:.2f} ms; protected")
            prot, ok = protected(o.bindir, t, iv, o.clients, o.seconds)
            say(f"{iv} ms: protected {prot[0]:.0f} rps, p50 "
                f"{prot[1]:.1f} ms, p99 {prot[2]:.1f} ms")
            runs.append({"interval_ms": iv,
                         "rps_protected": prot[0],
                         "rps_unprotected": ref[0],
                         "p50_ms_protected": prot[1],
                         "p99_ms_protected": prot[2],
                         "p50_ms_unprotected": ref[1],
                         "p99_ms_unprotected": ref[2]})
            kept.append(ok)
        say(f"failover: {o.drills} drills at {o.failover_interval} ms, "
            f"heartbeat_timeout {o.heartbeat_timeout_ms} ms, seed "
            f"{o.seed}")
        fo, rs = failover(o.bindir, t, o.drills, o.failover_interval,
                          o.heartbeat_timeout_ms, o.seed)
    if o.json:
        print(json.dumps({"runs": runs, "failover": fo}))
    else:
        print_tables(runs, fo, kept, rs, o.clients)
    return 1 if fo["acked_lost"] or fo["contradicted"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"bench service: FAIL: {e}", file=sys.stderr)
        sys.exit(1)
