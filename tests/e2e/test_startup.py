#!/usr/bin/env python3
"""Start-up refusals: a daemon told to use a path it cannot use stops at
once with status 1 and one line naming the path and what to change; it
never hangs on a FIFO, and a backup never starts when it could not take
over later. No KVM: a backup starts without it, and the primary reads its
guest and opens its console before it makes a VM.

  test_startup.py BUILD_DIR

- backup: console directory missing; console FIFO without a reader (and
  with one: it starts); --snapshot directory missing; fence_command naming
  a missing program; health_check_command whose shell /bin/sh is not
  executable (in a mount namespace; skipped where one cannot be made).
- primary: console directory missing; console FIFO without a reader; the
  guest a FIFO.
- -c naming a FIFO: remora-primary, remora-backup and remoractl.

Each daemon runs with a timeout: a hang fails the test, it does not stall
the suite.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Failure, Skip, free_port, main

TIMEOUT = 10  # seconds; a refusal takes milliseconds


class Setup:
    """A scratch directory with a two-node config whose parts a test
    changes: a's and b's console, the guest, the [failover] lines."""

    def __init__(self, bindir, console_a="a.console", console_b="b.console",
                 guest="guest.elf", failover=""):
        self.dir = tempfile.mkdtemp(prefix="remora-startup.")
        self.primary = os.path.join(bindir, "primary", "remora-primary")
        self.backup = os.path.join(bindir, "backup", "remora-backup")
        self.ctl = os.path.join(bindir, "ctl", "remoractl")
        self.config = self.path("remora.conf")
        self.guest = self.path(guest)
        if guest == "guest.elf":
            # Never run: the primary reads it, then needs KVM for the VM.
            with open(self.guest, "wb") as f:
                f.write(b"\x7fELF not really\n")
        with open(self.config, "w") as f:
            f.write(f"""[cluster]
name = startup

[node a]
replication_address = 127.0.0.1:{free_port()}
control_socket = {self.path("a.sock")}
role = primary
console = {self.path(console_a)}

[node b]
replication_address = 127.0.0.1:{free_port()}
control_socket = {self.path("b.sock")}
role = backup
console = {self.path(console_b)}

[workload]
guest = {self.guest}
memory = 4M

[failover]
heartbeat_interval = 100ms
heartbeat_timeout = 1s
{failover}
""")

    def path(self, name):
        return os.path.join(self.dir, name)

    def fifo(self, name):
        p = self.path(name)
        os.mkfifo(p)
        return p

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def run(cmd, what):
    """Runs cmd to its end (TIMEOUT at most, then kills it: a hang);
    returns (exit status, output lines)."""
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.output or b"").decode(errors="replace")
        raise Failure(f"{what}: still running after {TIMEOUT} s (hung, or "
                      f"started anyway); it printed:\n{out}")
    return p.returncode, p.stdout.decode(errors="replace").splitlines()


def expect_refusal(cmd, want, what):
    """cmd exits 1 with exactly one line, which contains want."""
    rc, lines = run(cmd, what)
    if rc != 1 or len(lines) != 1 or want not in lines[0]:
        raise Failure(f"{what}: exit {rc} with {len(lines)} lines:\n"
                      + "\n".join(lines) + f"\nwant exit 1 and one line "
                      f"with: {want}")
    return lines[0]


def backup(s, *extra):
    return [s.backup, "-c", s.config, "--node", "b", *extra]


def primary(s):
    return [s.primary, "-c", s.config, "--node", "a"]


DAEMON = {"backup": backup, "primary": primary}


def case(fn):
    """Runs fn(setup-maker) and removes what it made."""
    def wrapped(bindir, paths):
        made = []

        def setup(**kw):
            made.append(Setup(bindir, **kw))
            return made[-1]
        try:
            return fn(setup)
        finally:
            for s in made:
                s.cleanup()
    return wrapped


def console_dir_missing(role):
    """role's daemon whose console directory is missing."""
    node = "b" if role == "backup" else "a"

    @case
    def test(setup):
        s = setup(**{f"console_{node}": "nodir/console"})
        return expect_refusal(
            DAEMON[role](s), f"console {s.path('nodir/console')} of node "
            f"{node} in {s.config}: No such file or directory; create the "
            f"directory or change [node {node}] console",
            f"{role} whose console directory is missing")
    return test


def console_fifo_without_reader(role):
    """role's daemon whose console is a FIFO nobody reads."""
    node = "b" if role == "backup" else "a"

    @case
    def test(setup):
        s = setup()
        sink = s.fifo(f"{node}.console")
        return expect_refusal(
            DAEMON[role](s), f"console FIFO {sink} of node {node} in "
            f"{s.config} has no reader; start the reader first, or change "
            f"[node {node}] console",
            f"{role} whose console is a FIFO without a reader")
    return test


@case
def backup_starts_with_what_it_needs(setup):
    """The positive case: a console FIFO with its reader, a snapshot
    directory, a fence command naming a program that exists: the backup
    runs (looking for a primary) until told to stop."""
    s = setup(failover="fence_command = /bin/true\n"
              "health_check_command = true")
    sink = s.fifo("b.console")
    reader = os.open(sink, os.O_RDONLY | os.O_NONBLOCK)
    try:
        p = subprocess.Popen(backup(s, "--snapshot", s.path("r.snap")),
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(1.5)
        if p.poll() is not None:
            raise Failure(f"backup with a good config exited {p.returncode}:"
                          f"\n{p.stdout.read().decode(errors='replace')}")
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failure("backup did not stop on SIGTERM")
        out = p.stdout.read().decode(errors="replace")
        if rc != 0:
            raise Failure(f"backup stopped with {rc}, want 0:\n{out}")
    finally:
        os.close(reader)
    return "started with its console FIFO read, stopped with 0"


@case
def backup_snapshot_dir_missing(setup):
    s = setup()
    snap = s.path("nodir/r.snap")
    return expect_refusal(
        backup(s, "--snapshot", snap),
        f"--snapshot {snap}: directory {s.path('nodir')}: No such file or "
        f"directory; create it or change --snapshot",
        "backup whose --snapshot directory is missing")


@case
def backup_fence_program_missing(setup):
    s = setup(failover="fence_command = /nonexistent/fence-it --node a")
    return expect_refusal(
        backup(s), f"fence_command in {s.config} cannot run: "
        f"/nonexistent/fence-it: No such file or directory; install it or "
        f"change [failover] fence_command",
        "backup whose fence_command names a missing program")


@case
def backup_shell_missing(setup):
    """/bin/sh replaced, in a mount namespace of the backup's own, by a
    file that cannot be executed."""
    s = setup(failover="health_check_command = test -e /tmp")
    blank = s.path("not-a-shell")
    with open(blank, "w"):
        pass
    unshare = shutil.which("unshare")
    if not unshare:
        # util-linux, which scripts/setup installs: not a reason to skip.
        raise Failure("no unshare(1) to hide /bin/sh in a mount namespace; "
                      "run scripts/setup")
    wrap = [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
            'mount --bind "$0" /bin/sh && exec "$@"', blank]
    probe = subprocess.run(wrap + ["/bin/true"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
    if probe.returncode != 0:
        raise Skip("cannot bind-mount over /bin/sh in a mount namespace "
                   f"here: {probe.stderr.decode(errors='replace').strip()}")
    probe = subprocess.run(wrap + ["/bin/sh", "-c", "exit 0"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    if probe.returncode == 0:
        raise Failure("/bin/sh still runs under the bind mount: the test "
                      "cannot hide it")
    return expect_refusal(
        wrap + backup(s), f"health_check_command in {s.config} cannot run: "
        f"/bin/sh: not an executable file; install a POSIX shell there "
        f"(remora runs the command with /bin/sh -c)",
        "backup whose shell for health_check_command is not executable")


@case
def primary_guest_fifo(setup):
    s = setup(guest="guest.fifo")
    s.fifo("guest.fifo")
    return expect_refusal(
        primary(s), f"guest {s.guest} in {s.config}: a FIFO, not a regular "
        f"file; change [workload] guest",
        "primary whose guest is a FIFO")


@case
def config_fifo(setup):
    s = setup()
    conf = s.fifo("fifo.conf")
    got = []
    for prog, cmd in [("remora-backup", [s.backup, "-c", conf, "--node",
                                         "b"]),
                      ("remora-primary", [s.primary, "-c", conf, "--node",
                                          "a"]),
                      ("remoractl", [s.ctl, "-c", conf, "--node", "a",
                                     "status"])]:
        got.append(expect_refusal(
            cmd, f"{prog}: {conf}: a FIFO, not a regular file",
            f"{prog} whose -c is a FIFO"))
    return "; ".join(got)


if __name__ == "__main__":
    main([("backup_console_dir_missing", console_dir_missing("backup")),
          ("backup_console_fifo_without_reader",
           console_fifo_without_reader("backup")),
          ("backup_starts_with_what_it_needs",
           backup_starts_with_what_it_needs),
          ("backup_snapshot_dir_missing", backup_snapshot_dir_missing),
          ("backup_fence_program_missing", backup_fence_program_missing),
          ("backup_shell_missing", backup_shell_missing),
          ("primary_console_dir_missing", console_dir_missing("primary")),
          ("primary_console_fifo_without_reader",
           console_fifo_without_reader("primary")),
          ("primary_guest_fifo", primary_guest_fifo),
          ("config_fifo", config_fifo)],
         needs_kvm=False)
