#!/usr/bin/env python3
"""The process workload end to end ([workload] type = process): a real
remora-primary runs an unmodified program under CRIU, a real remora-backup
keeps its replica and restores it when the primary is SIGKILLed.

  test_process.py BUILD_DIR

- tick loop: a bash loop printing "tick N" every 10 ms; 5 drills (drill.py,
  workload process), each killing a at a random moment once b holds a
  replica: a's sink then b's is exactly tick 1..M.
- dictcheck: tests/workloads/dictcheck.py with a 30 MB dict (memory 256M),
  2 drills (workload process-python): a's lines then b's are "sum SEQ HEX
  ok" with SEQ exactly 1..M, none BAD, and b's restored process verified
  its whole dict. First, without remora, dictcheck itself must print BAD
  and exit 1 for a byte changed behind its back, and the drill's checker
  must flag a gap, a repeat, a BAD line and a foreign line.
- bad command: a program that does not exist (a path, or a name not on
  the service's PATH) is a start-up refusal: remora-primary exits 1 with
  one line naming the program and why, before it listens.
- data_directory: a loop that appends a line to a file in the data
  directory and prints the file's line count as "tick N"; 2 kills: the
  count continues on b (the file travelled with the epochs) and nothing
  was written to the host's directory (the tmpfs is the service's own).

Needs root and the CRIU of scripts/build-criu (.criu/sbin/criu) passing
`criu check`; skips, saying which is missing, otherwise. The seed of the
random kills is printed (E2E_SEED sets it). Timeouts only bound waits;
the checks are exact.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drill import (DICT_LINES, DICTCHECK, Result,  # noqa: E402
                   check_counter, check_dictcheck, drill_once,
                   wait_b_released, wait_promoted)
from e2e import Cluster, Failure, main, ticks  # noqa: E402

SEED = int(os.environ.get("E2E_SEED", "7171"))
# The correctness checks do not depend on detection time: a heartbeat
# timeout well above a dump's pause keeps a loaded machine from looking
# like a dead primary before the kill.
HB_TIMEOUT = "1s"


def drills(bindir, workload, n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        r = drill_once(bindir, rng, workload, hb_timeout=HB_TIMEOUT,
                       keep=True)
        if r.violation:
            raise Failure(f"drill {i + 1} (seed {seed}): {r.violation}")
        out.append(r)
    return out


def tick_loop(bindir, paths):
    rs = drills(bindir, "process", 5, SEED)
    return (f"seed {SEED}: 5 kills, ticks continuous; a released "
            f"{[r.released_a for r in rs]}, b {[r.released_b for r in rs]};"
            f" promote {min(r.promote_ms for r in rs):.0f}.."
            f"{max(r.promote_ms for r in rs):.0f} ms")


def run_dictcheck(*args, timeout=120):
    p = subprocess.run([sys.executable, DICTCHECK, *args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.splitlines(), p.stderr


def read_text(path):
    with open(path) as f:
        return f.read()


def dictcheck_can_fail(bindir, paths):
    """dictcheck prints BAD for a changed byte, and the drill's checker
    catches each kind of broken history: neither check is vacuous."""
    rc, out, err = run_dictcheck("--mb", "4", "--corrupt-after", "3",
                                 "--interval-ms", "20")
    if rc != 1 or not out or not out[-1].endswith(" BAD") or \
            len(out) > 3 + DICT_LINES or err or \
            any(not ln.endswith(" ok") for ln in out[:-1]):
        raise Failure(f"dictcheck with a corrupted entry: exit {rc}, "
                      f"lines {out[:3]}..{out[-2:]}, stderr {err!r}; "
                      f"expected ok lines, then BAD within {DICT_LINES} "
                      f"lines, exit 1")
    good = [f"sum {i} {i:016x} ok" for i in range(1, 7)]
    cases = {
        "continuous": (good[:3], good[3:], False),
        "gap": (good[:3], good[4:], True),
        "repeat": (good[:3], good[2:], True),
        "BAD": (good[:3], good[3:4] + ["sum 5 0000000000000005 BAD"], True),
        "foreign line": (good[:3], ["Traceback (most recent call last):"],
                         True),
    }
    d = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                     f"remora-dictcheck.{os.getpid()}")
    os.makedirs(d, exist_ok=True)
    try:
        for name, (a, b, bad) in cases.items():
            c = types.SimpleNamespace(sink_a=os.path.join(d, "a"),
                                      sink_b=os.path.join(d, "b"))
            for path, lines in ((c.sink_a, a), (c.sink_b, b)):
                with open(path, "w") as f:
                    f.write("".join(ln + "\n" for ln in lines))
            c.text = read_text
            res = Result()
            check_dictcheck(c, res)
            if bool(res.violation) != bad:
                raise Failure(f"drill checker, {name}: violation "
                              f"{res.violation!r}")
    finally:
        subprocess.run(["rm", "-rf", d])
    return (f"a changed byte: BAD at line {len(out)}, exit 1; the "
            f"checker flags gap, repeat, BAD and foreign lines")


def dictcheck_failover(bindir, paths):
    rs = drills(bindir, "process-python", 2, SEED + 1)
    for i, r in enumerate(rs):
        if r.released_a < 1 or r.released_b < DICT_LINES:
            raise Failure(f"drill {i + 1}: a released {r.released_a} "
                          f"lines, b {r.released_b}; expected a at least "
                          f"1, b {DICT_LINES} (a whole check of the dict)")
    return (f"seed {SEED + 1}: 2 kills, SEQ continuous, all ok; a released"
            f" {[r.released_a for r in rs]}, b {[r.released_b for r in rs]}")


def bad_command(bindir, paths):
    """A command that cannot run is a start-up refusal, as for any other
    path the config names (test_startup.py): exit 1 and exactly one line,
    which names the program and why; before anything listens."""
    out = []
    for prog, why in (("/nonexistent/remora-e2e-no-such-program",
                       "No such file or directory"),
                      ("remora-e2e-no-such-program", "/usr/bin:/bin")):
        c = Cluster(bindir, workload="process", command=[prog, "--flag"])
        try:
            try:
                p = subprocess.run(
                    [c.primary_bin, "-c", c.config, "--node", "a",
                     "--events", c.events_file("a")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True, timeout=30)
            except subprocess.TimeoutExpired as e:
                raise Failure(f"remora-primary with command {prog}: still "
                              f"running after 30 s; it printed:\n"
                              f"{e.output}")
            lines = p.stdout.splitlines()
            if p.returncode != 1 or len(lines) != 1 or \
                    prog not in lines[0] or why not in lines[0] or \
                    c.events("a", "listening"):
                raise Failure(f"command {prog}: exit {p.returncode} with "
                              f"{len(lines)} lines:\n{p.stdout}\nwant exit "
                              f"1 and one line naming {prog} and "
                              f"{why!r}, before listening")
            out.append(lines[0].split(": ", 1)[-1])
        finally:
            c.cleanup()
    return "; ".join(out)


# Appends to a file in the data directory and prints its line count: the
# count lives only in the file.
DATA_LOOP = ("while :; do echo x >> {d}/lines; n=$(wc -l < {d}/lines); "
             "echo tick $n; sleep 0.01; done")


def data_directory(bindir, paths):
    rng = random.Random(SEED + 2)
    counts = []
    for i in range(2):
        # On the host, the (empty) directory the service's tmpfs is
        # mounted on.
        d = tempfile.mkdtemp(prefix="remora-e2e-data.")
        c = Cluster(bindir, workload="process", data_directory=d,
                    command=["/bin/bash", "-c", DATA_LOOP.format(d=d)],
                    hb_interval="50ms", hb_timeout=HB_TIMEOUT)
        keep = False
        try:
            c.start_replicating()
            c.wait_for("a's first released line",
                       lambda: "\n" in c.text(c.sink_a), 120)
            time.sleep(rng.uniform(0.1, 1.5))
            c.stop("a", signal.SIGKILL)
            wait_promoted(c)
            wait_b_released(c)
            rc = c.stop("b")
            if rc != 0:
                raise Failure(f"promoted b exited {rc}\n{c.logs()}")
            res = Result()
            check_counter(c, res)
            if res.violation:
                raise Failure(f"the line count did not continue on b: "
                              f"{res.violation}")
            host = os.listdir(d)
            if host:
                raise Failure(f"the service's data directory leaked to "
                              f"the host: {d} holds {host}")
            counts.append((ticks(c.text(c.sink_a))[-1:],
                           ticks(c.text(c.sink_b))[-1]))
        except Failure as e:
            keep = True
            raise Failure(f"kill {i + 1} (seed {SEED + 2}): {e}\n(logs "
                          f"kept in {c.dir})")
        finally:
            if not keep:
                c.cleanup()
                os.rmdir(d)
            else:
                for p in c.procs.values():
                    if p.poll() is None:
                        p.kill()
                        p.wait()
    return (f"seed {SEED + 2}: 2 kills, the file's line count continued "
            f"on b (a's last, b's last: {counts}); nothing on the host")


TESTS = [
    ("bad-command", bad_command),
    ("tick-loop", tick_loop),
    ("dictcheck-can-fail", dictcheck_can_fail),
    ("dictcheck", dictcheck_failover),
    ("data-directory", data_directory),
]

if __name__ == "__main__":
    main(TESTS, needs_kvm=False, needs_criu=True)
