"""What the end-to-end tests share: a scratch directory, a config file for a
two-node loopback deployment, daemons started as real processes with their
logs and their structured events captured, and waits with generous
timeouts (liveness) whose failures say what was awaited and show the logs
and events.

Tests read what the daemons decided from their events (--events FILE: one
JSON object per line, common/events.h), never from the wording of log
lines, which is for humans and may change. A test may make at most one
explicit check of a log line's wording where that wording is what an
operator relies on (expect_wording), and never waits on one.

Correctness is asserted exactly; time only bounds how long we wait.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def have_kvm():
    """Whether /dev/kvm is usable here (a guest can run)."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def skip_without_kvm():
    if not have_kvm():
        print("SKIP: /dev/kvm is not usable here; the replication tests "
              "need KVM and root")
        sys.exit(SKIP)


class Failure(Exception):
    pass


def now_ms():
    """The events' clock: t_ms is CLOCK_MONOTONIC in ms (common/clock.h),
    the clock of time.monotonic() on Linux."""
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1e3


def waiting(state):
    """A primary state without a backup: "waiting", or a more explicit
    form of it ("waiting-paused")."""
    return state == "waiting" or state.startswith("waiting-")


def _match(ev, event, where, want):
    """ev is event `event` (None: any) whose fields equal want's values
    (or satisfy them, for a callable), and where(ev) holds. A trailing
    underscore is dropped from a key: from_="protected" matches "from"."""
    if event is not None and ev.get("event") != event:
        return False
    for key, w in want.items():
        key = key[:-1] if key.endswith("_") else key
        if key not in ev:
            return False
        if not (w(ev[key]) if callable(w) else ev[key] == w):
            return False
    return where is None or bool(where(ev))


def _describe(event, where, want):
    def one(k, w):
        if not callable(w):
            return f"{k.rstrip('_')}={w!r}"
        name = getattr(w, "__name__", "<lambda>")
        return (f"{k.rstrip('_')} satisfying "
                f"{'a predicate' if name == '<lambda>' else name + '()'}")
    fields = ", ".join(one(k, w) for k, w in want.items())
    return (f"'{event or 'any'}' event" + (f" with {fields}" if fields
                                           else "")
            + (" (and a predicate)" if where else ""))


def compact(ev):
    """One event as one short line, for failure messages."""
    try:
        return _compact(ev)
    except (TypeError, ValueError):
        return json.dumps(ev)


def _compact(ev):
    skip = {"t_ms", "time", "node", "role", "event"}
    head = f"{ev.get('t_ms', 0):12.1f} {ev.get('role', '?'):<7} " \
        f"{ev.get('event', '?')}"
    if ev.get("event") == "state":
        skip |= {"from", "to", "why"}
        head += f" {ev.get('from')} -> {ev.get('to')}"
    rest = []
    for k, v in ev.items():
        if k in skip:
            continue
        if isinstance(v, str) and len(v) > 90:
            v = v[:87] + "..."
        rest.append(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}")
    why = ev.get("why") if ev.get("event") == "state" else None
    line = " ".join([head, *rest])
    if why:
        line += f": {why[:100]}{'...' if len(why) > 100 else ''}"
    return line


def parse_events(data, path):
    """The events in data (bytes of an events file): one dict per
    complete line; a last line without its newline is being written and
    left out. Returns (events, bytes used). A complete line that is not a
    JSON object with an event name is a daemon bug."""
    end = data.rfind(b"\n") + 1
    evs = []
    for line in data[:end].splitlines():
        try:
            ev = json.loads(line)
        except ValueError as e:
            ev = e
        if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
            raise Failure(f"{path}: an event line is not a JSON object with "
                          f"an event name ({ev}): {line[:300]!r}")
        evs.append(ev)
    return evs, end


def read_events(path):
    """Every complete event in the file at path ([] if there is none)."""
    try:
        with open(path, "rb") as f:
            return parse_events(f.read(), path)[0]
    except FileNotFoundError:
        return []


class Skip(Exception):
    """A test that cannot run here (its reason says what is missing)."""


def fence_calls(path):
    """How many times fence_command ran (it appends a line each time)."""
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


# A process workload's environment unless a test says otherwise: only
# PATH, as a service gets nothing it is not given.
PROCESS_ENVIRONMENT = ["PATH=/usr/bin:/bin"]


def config_words(words):
    """words (a list) as one value of a words key (command, environment):
    a word with anything but plain characters in single quotes, or, if it
    holds one, in double quotes with \\ and \" escaped. A string is
    taken as a value already written."""
    if isinstance(words, str):
        return words
    out = []
    for w in words:
        if w and all(ch.isalnum() or ch in "_@%+=:,./-" for ch in w):
            out.append(w)
        elif "'" not in w and "\n" not in w:
            out.append(f"'{w}'")
        elif "\n" not in w:
            out.append('"' + w.replace("\\", "\\\\").replace('"', '\\"')
                       + '"')
        else:
            raise ValueError(f"a config word cannot hold a newline: {w!r}")
    return " ".join(out)


def source_root():
    """The repository this file is in (tests/e2e/ is two levels down)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))


def criu_missing():
    """Why a process workload cannot run here (None if it can): it needs
    root (namespaces, cgroup v2) and the CRIU that scripts/build-criu
    installs in .criu/, which must pass `criu check`."""
    if os.geteuid() != 0:
        return "not root; a process workload needs namespaces and cgroup v2"
    criu = os.path.join(source_root(), ".criu", "sbin", "criu")
    if not os.access(criu, os.X_OK):
        return f"no CRIU at {criu} (scripts/build-criu installs it)"
    try:
        p = subprocess.run([criu, "check"], capture_output=True, text=True,
                           timeout=60)
    except subprocess.TimeoutExpired:
        return f"{criu} check did not finish within 60 s"
    if p.returncode != 0:
        last = (p.stderr or p.stdout).strip().splitlines()
        return (f"{criu} check failed (exit {p.returncode}): "
                f"{last[-1] if last else 'no output'}")
    return None


def skip_without_criu():
    """Skips where a process workload cannot run (not root); as root a
    missing or failing CRIU is a failure: scripts/setup builds it then."""
    why = criu_missing()
    if why and os.geteuid() != 0:
        print(f"SKIP: {why}")
        sys.exit(SKIP)
    if why:
        print(f"FAIL: {why}; scripts/setup (as root) builds CRIU")
        sys.exit(1)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A primary 'a' and a backup 'b' on loopback, from one config file."""

    def __init__(self, bindir, guest=None, args=None, memory="64M",
                 interval=None, inflight=4, hb_interval="100ms",
                 hb_timeout="2s", extra_replication="", extra_failover="",
                 workload="kvm", command=None,
                 environment=PROCESS_ENVIRONMENT, data_directory=None,
                 directory=None):
        """workload "kvm" (the default): guest and args, epochs every 25
        ms. workload "process": no guest or args; command (a list of
        words, or a config value as is), environment (likewise: KEY=VALUE
        words, the service's whole environment), data_directory (made if
        missing; True: self.data_dir, DIR/data) and directory as
        [workload] has them; epochs every 200 ms, the process default."""
        if workload not in ("kvm", "process"):
            raise ValueError(f"workload {workload!r}: kvm or process")
        if workload == "process" and (guest is not None or
                                      args is not None or not command):
            raise ValueError("a process workload has a command and no "
                             "guest or args")
        self.dir = tempfile.mkdtemp(prefix="remora-e2e.")
        self.data_dir = None
        if workload == "kvm":
            interval = interval or "25ms"
            section = f"""type = kvm
guest = {guest}
memory = {memory}
args = {args}
"""
        else:
            interval = interval or "200ms"
            section = (f"type = process\ncommand = {config_words(command)}\n"
                       f"environment = {config_words(environment)}\n"
                       f"memory = {memory}\n")
            # Paths, not words: written as they are.
            if directory:
                section += f"directory = {directory}\n"
            if data_directory:
                if data_directory is True:
                    data_directory = os.path.join(self.dir, "data")
                os.makedirs(data_directory, exist_ok=True)
                self.data_dir = data_directory
                section += f"data_directory = {data_directory}\n"
        self.workload = workload
        self.bindir = bindir
        self.primary_bin = os.path.join(bindir, "primary", "remora-primary")
        self.backup_bin = os.path.join(bindir, "backup", "remora-backup")
        self.sink_a = os.path.join(self.dir, "a.console")
        self.sink_b = os.path.join(self.dir, "b.console")
        self.snapshot = os.path.join(self.dir, "replica.snap")
        self.config = os.path.join(self.dir, "remora.conf")
        self.procs = {}
        self._events = {}  # name -> (bytes parsed, [event dicts])
        pa, pb = free_port(), free_port()
        self.ports = {"a": pa, "b": pb}  # replication_address, 127.0.0.1
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
{section}
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

    def events_file(self, name):
        return os.path.join(self.dir, name + ".events")

    def append_failover(self, text):
        """Adds text (whole lines) to the config's [failover] section, the
        last one; before the daemons start."""
        with open(self.config, "a") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def add_key_file(self, key_path, config=None):
        """Adds [cluster] key_file = key_path to the config (or to a copy
        of it written to config); before the daemons start."""
        text = self.text(self.config)
        if text.count("[cluster]\n") != 1:
            raise Failure(f"unexpected config layout: {self.config}")
        text = text.replace("[cluster]\n",
                            f"[cluster]\nkey_file = {key_path}\n")
        with open(config or self.config, "w") as f:
            f.write(text)

    def start(self, name, extra=(), wrap=(), config=None):
        """Starts the real daemon of node name (wrap: a command it runs
        under, such as ip netns exec; config: another config file than
        the cluster's), its events going to events_file(name) and its log
        to log(name); a restarted node appends to both."""
        binary = self.primary_bin if name == "a" else self.backup_bin
        cmd = [*wrap, binary, "-c", config or self.config, "--node", name,
               "--events", self.events_file(name), *extra]
        out = open(self.log(name), "ab")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=out)
        out.close()
        return self.procs[name]

    def start_replicating(self):
        """The backup, then the primary; returns once the backup holds a
        consistent replica."""
        self.start("b")
        self.start("a")
        self.wait_replica()

    def wait_replica(self, count=1, timeout=60.0):
        """Waits until the backup has held a consistent replica count
        times (count syncs completed); returns that state event."""
        return self.wait_event("b", "state", to="replicating", count=count,
                               timeout=timeout)

    # --- structured events -------------------------------------------------

    def all_events(self, name):
        """Every event node name has written so far, oldest first: one
        dict per complete line (a line being written is left for the next
        call). A complete line that is not a JSON object is a daemon bug."""
        path = self.events_file(name)
        done, evs = self._events.get(name, (0, []))
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < done:
                    done, evs = 0, []  # a new file
                f.seek(done)
                data = f.read()
        except FileNotFoundError:
            return []
        new, end = parse_events(data, path)
        evs = evs + new
        self._events[name] = (done + end, evs)
        return evs

    def reset_events(self, name):
        """Removes node name's events file (its next process starts a new
        one) and forgets what was read of it."""
        try:
            os.unlink(self.events_file(name))
        except FileNotFoundError:
            pass
        self._events.pop(name, None)

    def events(self, name, event=None, where=None, **want):
        """Node name's events so far, oldest first: those named event
        (None: all) whose fields equal want's values, or satisfy them
        where a value is a callable (to=waiting); where(ev) may test the
        whole event. A trailing underscore names a keyword: from_=...."""
        return [ev for ev in self.all_events(name)
                if _match(ev, event, where, want)]

    def wait_event(self, name, event, timeout=60.0, count=1, where=None,
                   **want):
        """Waits until node name has written count events matching as in
        events(); returns the count-th."""
        def found():
            evs = self.events(name, event, where, **want)
            return evs[count - 1] if len(evs) >= count else None
        what = _describe(event, where, want)
        return self.wait_for(f"{count} {what} from {name}" if count > 1
                             else f"{what} from {name}", found, timeout)

    def last_state(self, name):
        """Node name's last state event ({} if none yet)."""
        st = self.events(name, "state")
        return st[-1] if st else {}

    def expect_replaced(self, name, by, term, timeout=60.0):
        """Node name, an old primary, stops with exit status 3, having
        recorded that node by is primary of term term: its last state is
        stopped."""
        p = self.procs[name]
        p._expected = 1
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"old primary {name} still runs {timeout} s "
                          f"later; expected it replaced by {by} in term "
                          f"{term}\n{self.logs()}")
        rep = self.events(name, "replaced")
        if rc != 3 or len(rep) != 1 or rep[0]["by"] != by or \
                rep[0]["term"] != term or \
                self.last_state(name).get("to") != "stopped":
            raise Failure(f"old primary {name}: exit {rc}, replaced "
                          f"{rep}; expected exit 3, replaced by {by} in "
                          f"term {term}, stopped\n{self.logs()}")

    def expect_fencing_retried(self, calls, attempts=4, timeout=60.0):
        """fence_command (which appends $REMORA_PEER to the file calls,
        then fails) runs again and again, always told a, and b does not
        go on to promote. A fourth attempt starts only once the third has
        failed."""
        self.wait_for(f"{attempts} fence attempts",
                      lambda: fence_calls(calls) >= attempts, timeout)
        if fence_calls(calls) != self.text(calls).split().count("a"):
            raise Failure(f"fence_command was told another peer: "
                          f"{self.text(calls)!r}")
        if self.events("b", "promoted") or \
                self.events("b", "state", to="promoting") or \
                self.text(self.sink_b):
            raise Failure(f"promoted although fencing failed\n"
                          f"{self.logs()}")

    def expect_drained(self, name):
        """Node name, a primary, drained as it stopped: a last epoch taken
        after the drain began was acknowledged and nothing held was
        discarded (a drain timeout or a lost backup discards). Returns
        the draining -> stopped state event."""
        st = self.events(name, "state")
        drain = [e for e in st if e["to"] == "draining"]
        stop = [e for e in st if e["from"] == "draining" and
                e["to"] == "stopped"]
        discarded = self.events(name, "output", action="discarded")
        if len(drain) != 1 or len(stop) != 1 or discarded or \
                stop[0]["epoch"] <= drain[0]["epoch"]:
            raise Failure(f"{name} did not drain: draining {drain}, "
                          f"stopped {stop}, output discarded "
                          f"{discarded}\n{self.logs()}")
        return stop[0]

    def expect_wording(self, want):
        """The one check a test may make of log wording, where the words
        are what an operator relies on (the problem and what to change).
        want: {node: [phrase, ...]}; each must be in that node's log, or
        for a (phrase, n) pair, at least n times. Never waited on: call
        it once the events say the line was written."""
        for name, phrases in want.items():
            text = self.text(self.log(name))
            missing = []
            for ph in phrases:
                ph, n = ph if isinstance(ph, tuple) else (ph, 1)
                if text.count(ph) < n:
                    missing.append(f"{ph!r} x{n}" if n > 1 else repr(ph))
            if missing:
                raise Failure(f"operator-facing wording: {name}'s log lacks "
                              f"{', '.join(missing)}\n{self.logs()}")

    def wait_listening(self, name, timeout=60.0):
        """Waits until primary name has bound its replication port."""
        return self.wait_event(name, "listening", timeout)

    def status(self, name):
        """remoractl status --json of node name, as a dict."""
        ctl = os.path.join(self.bindir, "ctl", "remoractl")
        p = subprocess.run([ctl, "-c", self.config, "--node", name,
                            "status", "--json"], capture_output=True,
                           text=True, timeout=30)
        if p.returncode != 0:
            raise Failure(f"remoractl --node {name} status: exit "
                          f"{p.returncode}: {p.stderr}\n{self.logs()}")
        return json.loads(p.stdout)

    def start_backup(self, extra=(), config=None):
        return self.start("b", ["--snapshot", self.snapshot, *extra],
                          config=config)

    def start_primary(self, extra=()):
        return self.start("a", ["--stats", os.path.join(self.dir, "stats"),
                                *extra])

    def text(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def lines(self, path):
        """Whole lines in path so far (a console sink, say)."""
        return self.text(path).count("\n")

    def events_text(self, name):
        """Node name's events, one compact line each ("" if none)."""
        try:
            return "".join(compact(ev) + "\n"
                           for ev in self.all_events(name))
        except Failure as e:
            return f"{e}\n{self.text(self.events_file(name))}"

    def logs(self):
        out = []
        for n in ("a", "b"):
            out.append(f"--- {n} log ---\n{self.text(self.log(n))}")
            ev = self.events_text(n)
            if ev:
                out.append(f"--- {n} events ---\n{ev}")
        return "".join(out)

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
        """Has the backup write its replica; returns the file's bytes once
        the backup says it is written."""
        n = len(self.events("b", "snapshot"))
        try:
            os.unlink(self.snapshot)
        except FileNotFoundError:
            pass
        self.procs["b"].send_signal(signal.SIGUSR1)
        self.wait_event("b", "snapshot", count=n + 1, path=self.snapshot,
                        timeout=timeout)
        with open(self.snapshot, "rb") as f:
            return f.read()

    def cleanup(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", self.dir])


def sh(*cmd, check=True):
    """A set-up command (ip netns ...): its output captured."""
    return subprocess.run(cmd, check=check, capture_output=True)


def write_key(path, data):
    """A key file as key_file wants it: mode 0600 from its creation."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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


def expect_replica_continues(c, released, seconds=30):
    """The backup's snapshot (c.snapshot), run standalone, prints exactly
    the tick after released[-1], the last one the sink released."""
    first = run_restored(c.primary_bin, c.snapshot, seconds)[0]
    if first != f"tick {released[-1] + 1}":
        raise Failure(f"sink released tick 1..{released[-1]}, the replica "
                      f"continued with {first!r}\n{c.logs()}")
    return first


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


def remove_leftovers(cluster, node, pid):
    """What a SIGKILLed daemon (pid) of node of cluster leaves: its run
    directory in /dev/shm and its empty cgroup, both
    remora-CLUSTER-NODE-PID (its next start would sweep them). Returns
    None, or the cgroup it could not remove (not empty?)."""
    name = f"remora-{cluster}-{node}-{pid}"
    shutil.rmtree(f"/dev/shm/{name}", ignore_errors=True)
    root = None
    with open("/proc/self/mounts") as f:
        for line in f:
            w = line.split()
            if w[2] == "cgroup2":
                root = w[1]
                break
    if not root:
        return None
    with open("/proc/self/cgroup") as f:
        own = [ln.split(":", 2)[2].strip() for ln in f
               if ln.startswith("0::")]
    cg = os.path.join(root, (own[0] if own else "/").lstrip("/"), name)
    for _ in range(50):
        try:
            os.rmdir(cg)
            return None
        except FileNotFoundError:
            return None
        except OSError:
            time.sleep(0.1)
    return cg


def main(tests, needs_kvm=True, needs_criu=False):
    """Runs tests (name, function(bindir, paths)) and reports each:
    BUILD_DIR NAME=PATH... on the command line, E2E_ONLY=NAME for one.
    needs_criu: a process workload's (root, .criu/sbin/criu passing criu
    check)."""
    if needs_kvm:
        skip_without_kvm()
    if needs_criu:
        skip_without_criu()
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


__all__ = ["Cluster", "FakePrimaryCluster", "Failure", "Skip", "fence_calls",
           "write_key", "sh",
           "ticks", "assert_continuous", "now_ms", "waiting", "read_events",
           "have_kvm", "expect_replica_continues", "run_restored", "main",
           "random", "config_words", "criu_missing", "skip_without_criu",
           "source_root", "PROCESS_ENVIRONMENT", "remove_leftovers"]


class FakePrimaryCluster(Cluster):
    """The same two-node config, with tests/e2e/fake_primary as node a:
    the real primary pipeline over a synthetic workload (no VM, so no KVM
    needed), writing the primary's events like remora-primary, plus one
    "acked" event per Ack; the real remora-backup is b. A test fails a
    with SIGSTOP (hung, its connections up) or SIGKILL (crashed)."""

    def __init__(self, bindir, fake_bin, memory="64M", **kw):
        # The backup never runs the guest: the path only has to parse.
        super().__init__(bindir, "/nonexistent/guest.elf", "none",
                         memory=memory, **kw)
        self.fake_bin = fake_bin

    def start_fake_primary(self, extra=()):
        cmd = [self.fake_bin, "-c", self.config, "--node", "a",
               "--events", self.events_file("a"), *extra]
        out = open(self.log("a"), "ab")
        self.procs["a"] = subprocess.Popen(cmd, stdout=out, stderr=out)
        out.close()
        return self.procs["a"]

    def acked(self):
        """The epochs fake_primary saw acknowledged, in order."""
        return [e["epoch"] for e in self.events("a", "acked")]

    def wait_synced(self, count=1, timeout=30.0):
        """Waits for the count-th sync to complete: a's first Ack after
        its count-th move to protected; returns that epoch, the first
        checkpoint of the sync."""
        prot = self.wait_event("a", "state", timeout, count=count,
                               to="protected")
        first = self.wait_event(
            "a", "acked", timeout,
            where=lambda e: e["t_ms"] >= prot["t_ms"] and
            e["epoch"] > prot["epoch"])
        return first["epoch"]

    def start_synced(self, extra=()):
        """fake_primary (extra: its options), then the backup; returns
        once the backup holds a consistent replica."""
        self.start_fake_primary(extra)
        self.wait_listening("a")
        self.start_backup()
        self.wait_synced()
        self.wait_replica(timeout=30)
