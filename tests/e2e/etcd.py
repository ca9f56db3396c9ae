"""A one-member etcd of the test's own, for the arbiter's end-to-end tests
(docs/arbiter.md): started on free ports with a temporary data dir, waited
for until healthy, read with etcdctl (ETCDCTL_API=3) for assertions, and
stopped (SIGTERM) or killed (SIGKILL) by the test. etcd's log stays in the
temporary dir; its tail is printed when etcd fails to start.

    with Etcd() as e:                      # on 127.0.0.1
        ... etcd_endpoints = e.endpoint ...
        assert e.get("/remora/c/owner") == "a 1"

    e = Etcd(netns="remora-e", hosts=("10.0.1.3", "10.0.2.3"))
    # etcd runs under `ip netns exec remora-e` and listens on both
    # addresses (same port); e.endpoints lists them, comma-separated.

Needs /usr/bin/etcd and /usr/bin/etcdctl (scripts/setup installs
etcd-server and etcd-client).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_etcd():
    """Whether etcd and etcdctl are installed."""
    return os.access(ETCD, os.X_OK) and os.access(ETCDCTL, os.X_OK)


class EtcdError(Exception):
    pass


class Etcd:
    """One etcd member. netns: a network namespace name to run it in (ip
    netns exec); hosts: the numeric addresses it listens on for clients
    (the first one also for its peer port); port, peer_port: chosen free
    when None; timeout: how long to wait for health, in seconds."""

    def __init__(self, netns=None, hosts=("127.0.0.1",), port=None,
                 peer_port=None, name="remora-test", timeout=30.0):
        if not have_etcd():
            raise EtcdError(f"{ETCD} or {ETCDCTL} is missing: "
                            "scripts/setup installs etcd-server and "
                            "etcd-client")
        self.netns = netns
        self.hosts = tuple(hosts)
        self.port = port or _free_port()
        self.peer_port = peer_port or _free_port()
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="remora-etcd-")
        self.log_path = os.path.join(self.dir, "etcd.log")
        self.endpoints = ",".join(f"http://{h}:{self.port}"
                                  for h in self.hosts)
        self.endpoint = f"http://{self.hosts[0]}:{self.port}"
        self.proc = None
        self._log = None
        try:
            self._start(timeout)
        except BaseException:
            self.kill()
            self._cleanup()
            raise

    def _wrap(self):
        return ("ip", "netns", "exec", self.netns) if self.netns else ()

    def _start(self, timeout):
        peer = f"http://{self.hosts[0]}:{self.peer_port}"
        cmd = list(self._wrap()) + [
            ETCD, "--name", self.name,
            "--data-dir", os.path.join(self.dir, "data"),
            "--listen-client-urls", self.endpoints,
            "--advertise-client-urls", self.endpoints,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--initial-cluster-state", "new",
        ]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._fail(f"etcd exited with status {self.proc.returncode}")
            if self.healthy():
                return
            if time.monotonic() > deadline:
                self._fail(f"etcd not healthy on {self.endpoint} after "
                           f"{timeout:.0f} s")
            time.sleep(0.1)

    def _fail(self, what):
        tail = self.log_tail()
        raise EtcdError(f"{what}; the last lines of {self.log_path}:\n"
                        f"{tail}")

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return f"(no log: {e})"

    def etcdctl(self, *args, timeout=10.0):
        """Runs etcdctl against this etcd (in its namespace); returns the
        CompletedProcess (text, not checked)."""
        env = dict(os.environ, ETCDCTL_API="3")
        cmd = list(self._wrap()) + [ETCDCTL, "--endpoints", self.endpoint,
                                    "--dial-timeout", "2s",
                                    "--command-timeout", "3s"] + list(args)
        return subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def healthy(self):
        try:
            return self.etcdctl("endpoint", "health").returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def get(self, key):
        """The value of key (a str), or None when it does not exist."""
        r = self.etcdctl("get", "--print-value-only", key)
        if r.returncode != 0:
            raise EtcdError(f"etcdctl get {key}: {r.stderr.strip()}")
        out = r.stdout
        if out == "":
            return None
        return out[:-1] if out.endswith("\n") else out

    def stop(self, timeout=10.0):
        """SIGTERM, and wait; the data dir goes too."""
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        self._cleanup()

    def kill(self):
        """SIGKILL (a crash), and wait. The data dir stays, for the log,
        until stop()."""
        if self.proc and self.proc.poll() is None:
            self._signal(signal.SIGKILL)
            self.proc.wait()

    def _signal(self, sig):
        # Under `ip netns exec`, etcd is ip's child after an exec: same pid.
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def _cleanup(self):
        if self._log:
            self._log.close()
            self._log = None
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


if __name__ == "__main__":
    # A smoke test: start, write and read a key, stop.
    with Etcd() as e:
        r = e.etcdctl("put", "/remora/smoke/term", "7")
        assert r.returncode == 0, r.stderr
        assert e.get("/remora/smoke/term") == "7"
        assert e.get("/remora/smoke/none") is None
        print(f"etcd at {e.endpoint}: ok")
