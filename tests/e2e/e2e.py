"""What the end-to-end tests share: a scratch directory, a config file for a
two-node loopback deployment, daemons started as real processes with their
logs captured, and waits with generous timeouts (liveness) whose failures
say what was awaited and show the logs.

Correctness is asserted exactly; time only bounds how long we wait.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip_without_kvm():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable here; the replication tests "
              "need KVM and root")
        sys.exit(SKIP)


class Failure(Exception):
    pass


# The backup's evidence when the primary went silent (backup/main.c).
SILENCE = re.compile(r"no frame from (?P<node>\S+) for (?P<ms>\d+) ms > "
                     r"heartbeat_timeout (?P<timeout>\d+) ms; last acked "
                     r"epoch (?P<epoch>\d+)")


class Skip(Exception):
    """A test that cannot run here (its reason says what is missing)."""


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A primary 'a' and a backup 'b' on loopback, from one config file."""

    def __init__(self, bindir, guest, args, memory="64M", interval="25ms",
                 inflight=4, hb_interval="100ms", hb_timeout="2s",
                 extra_replication="", extra_failover=""):
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="remora-e2e.")
        self.primary_bin = os.path.join(bindir, "primary", "remora-primary")
        self.backup_bin = os.path.join(bindir, "backup", "remora-backup")
        self.sink_a = os.path.join(self.dir, "a.console")
        self.sink_b = os.path.join(self.dir, "b.console")
        self.snapshot = os.path.join(self.dir, "replica.snap")
        self.config = os.path.join(self.dir, "remora.conf")
        self.procs = {}
        pa, pb = free_port(), free_port()
        with open(self.config, "w") as f:
            f.write(f"""[cluster]
name = e2e

[node a]
replication_address = 127.0.0.1:{pa}
control_socket = {self.dir}/a.sock
role = primary
console = {self.sink_a}

[node b]
replication_address = 127.0.0.1:{pb}
control_socket = {self.dir}/b.sock
role = backup
console = {self.sink_b}

[workload]
type = kvm
guest = {guest}
memory = {memory}
args = {args}

[replication]
epoch_interval = {interval}
max_inflight_epochs = {inflight}
{extra_replication}

[failover]
heartbeat_interval = {hb_interval}
heartbeat_timeout = {hb_timeout}
{extra_failover}
""")

    def log(self, name):
        return os.path.join(self.dir, name + ".log")

    def start(self, name, extra=()):
        binary = self.primary_bin if name == "a" else self.backup_bin
        cmd = [binary, "-c", self.config, "--node", name, *extra]
        out = open(self.log(name), "ab")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=out)
        out.close()
        return self.procs[name]

    def start_replicating(self):
        """The backup, then the primary; returns once the backup holds a
        consistent replica."""
        self.start("b")
        self.start("a")
        self.wait_log("b", "replica consistent")

    def said(self, name):
        """What node name has said about itself (its log)."""
        return self.text(self.log(name))

    def expect_replaced(self, name, by, term, timeout=60.0):
        """Node name, an old primary, exits 3 after saying it was
        replaced by node by in term term."""
        p = self.procs[name]
        p._expected = 1
        rc = p.wait(timeout)
        want = f"replaced by {by} in term {term}"
        if rc != 3 or want not in self.said(name):
            raise Failure(f"old primary {name}: exit {rc}, expected 3 after "
                          f"'{want}'\n{self.logs()}")

    def start_backup(self, extra=()):
        return self.start("b", ["--snapshot", self.snapshot, *extra])

    def start_primary(self, extra=()):
        return self.start("a", ["--stats", os.path.join(self.dir, "stats"),
                                *extra])

    def text(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logs(self):
        return "".join(f"--- {n} log ---\n{self.text(self.log(n))}"
                       for n in ("a", "b"))

    def wait_for(self, what, cond, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = cond()
            if v:
                return v
            for n, p in self.procs.items():
                if p.poll() is not None and getattr(p, "_expected", 0) == 0:
                    raise Failure(f"{n} exited ({p.returncode}) while "
                                  f"waiting for {what}\n{self.logs()}")
            time.sleep(0.02)
        raise Failure(f"timed out after {timeout} s waiting for {what}\n"
                      f"{self.logs()}")

    def wait_log(self, name, needle, timeout=60.0, count=1):
        return self.wait_for(
            f"'{needle}' in {name}'s log",
            lambda: self.text(self.log(name)).count(needle) >= count,
            timeout)

    def stop(self, name, sig=signal.SIGTERM, timeout=60.0):
        p = self.procs[name]
        p._expected = 1
        if p.poll() is None:
            p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failure(f"{name} did not stop within {timeout} s after "
                          f"{signal.Signals(sig).name}\n{self.logs()}")

    def snapshot_now(self, timeout=60.0):
        """Has the backup write its replica; returns the file's bytes."""
        try:
            os.unlink(self.snapshot)
        except FileNotFoundError:
            pass
        self.procs["b"].send_signal(signal.SIGUSR1)
        self.wait_for("the replica snapshot",
                      lambda: os.path.exists(self.snapshot), timeout)
        with open(self.snapshot, "rb") as f:
            return f.read()

    def cleanup(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", self.dir])


def ticks(text):
    """The tick numbers of counter output, checking every line's form."""
    out = []
    for line in text.splitlines():
        if not line.startswith("tick ") or not line[5:].isdigit():
            raise Failure(f"unexpected console line {line!r}")
        out.append(int(line[5:]))
    return out


def assert_continuous(nums, first=1):
    want = list(range(first, first + len(nums)))
    if nums != want:
        for i, (g, w) in enumerate(zip(nums, want)):
            if g != w:
                raise Failure(f"ticks not continuous at line {i + 1}: got "
                              f"{g}, want {w} (around: "
                              f"{nums[max(0, i - 3):i + 3]})")
        raise Failure(f"ticks not continuous: {nums[:10]}...")


def run_restored(primary_bin, snapshot, seconds, lines=1):
    """Runs a snapshot standalone; returns its first stdout lines."""
    p = subprocess.Popen([primary_bin, "--standalone", "--restore",
                          snapshot], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    got = []
    deadline = time.monotonic() + seconds
    try:
        while len(got) < lines and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            got.append(line.decode().rstrip("\n"))
    finally:
        p.kill()
        p.wait()
    if len(got) < lines:
        raise Failure(f"restored guest printed {got} within {seconds} s; "
                      f"stderr: {p.stderr.read().decode()}")
    return got


def main(tests, needs_kvm=True):
    """Runs tests (name, function(bindir, paths)) and reports each:
    BUILD_DIR NAME=PATH... on the command line, E2E_ONLY=NAME for one."""
    if needs_kvm:
        skip_without_kvm()
    bindir = sys.argv[1]
    paths = dict(a.split("=", 1) for a in sys.argv[2:])
    only = os.environ.get("E2E_ONLY")
    if only and only not in (name for name, _ in tests):
        print(f"E2E_ONLY={only}: no such test", file=sys.stderr)
        sys.exit(2)
    failed = 0
    for name, fn in tests:
        if only and only != name:
            continue
        t0 = time.monotonic()
        try:
            msg = fn(bindir, paths)
            print(f"ok: {name} ({time.monotonic() - t0:.1f} s): {msg}")
        except Skip as e:
            print(f"SKIP: {name}: {e}")
        except Failure as e:
            failed += 1
            print(f"FAIL: {name}: {e}")
    sys.exit(1 if failed else 0)


__all__ = ["Cluster", "FakePrimaryCluster", "Failure", "SILENCE", "Skip",
           "ticks", "assert_continuous",
           "run_restored", "main", "random"]


class FakePrimaryCluster(Cluster):
    """The same two-node config, with tests/e2e/fake_primary as node a
    (no VM, so no KVM needed) and the real remora-backup as b.
    fake_primary's stdout (one line per event) goes to a.out, its stderr
    to a.log."""

    def __init__(self, bindir, fake_bin, memory="64M", **kw):
        # The backup never runs the guest: the path only has to parse.
        super().__init__(bindir, "/nonexistent/guest.elf", "none",
                         memory=memory, **kw)
        self.fake_bin = fake_bin
        self.memory = memory
        self.out_a = os.path.join(self.dir, "a.out")
        with open(self.config) as f:
            text = f.read()
        sec = text.split("[node a]", 1)[1].split("[", 1)[0]
        self.addr_a = sec.split("replication_address = ", 1)[1].split()[0]

    def start_fake_primary(self, extra=()):
        cmd = [self.fake_bin, "--listen", self.addr_a, "--cluster", "e2e",
               "--node", "a", "--mem", self.memory, *extra]
        out = open(self.out_a, "ab")
        err = open(self.log("a"), "ab")
        self.procs["a"] = subprocess.Popen(cmd, stdout=out, stderr=err)
        out.close()
        err.close()
        return self.procs["a"]

    def start_synced(self, extra=()):
        """fake_primary (extra: its options), then the backup; returns
        once the backup holds a consistent replica."""
        self.start_fake_primary(extra)
        self.wait_out("listening ")
        self.start_backup()
        self.wait_out("synced epoch=", timeout=30)
        self.wait_log("b", "replica consistent at epoch", timeout=30)

    def said(self, name):
        # fake_primary reports its events on stdout
        return self.text(self.out_a) if name == "a" else super().said(name)

    def out_lines(self):
        return self.text(self.out_a).splitlines()

    def wait_out(self, prefix, count=1, timeout=60.0):
        """Waits for count lines of fake_primary's stdout starting with
        prefix; returns them all."""
        def found():
            lines = [ln for ln in self.out_lines() if ln.startswith(prefix)]
            return lines if len(lines) >= count else None
        return self.wait_for(f"{count} '{prefix}' line(s) from "
                             f"fake_primary", found, timeout)

    def logs(self):
        return (f"--- a stdout ---\n{self.text(self.out_a)}"
                + super().logs())
