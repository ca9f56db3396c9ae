"""A protected network service's test network (issue 15), made only of
network namespaces the test creates: nothing is sent outside them.

The bridge-mode layout of docs/service-network.md, on one machine:

  client ns            switch ns                host A ns
  eth0 10.79.0.2 ==== pc ─┐                ┌─ uplink ─ br0 10.79.0.11
                           sw0 ── pa ====== ┘   (the service's veth host
                           │                      end joins br0)
                           └── pb ============ uplink ─ br0 10.79.0.12
                                                host B ns

Every name has a random suffix and the creating process's pid
(rmt-PID-SUFFIX-ROLE), so that parallel runs do not meet; a run's
namespaces are removed at its cleanup even when it failed, and namespaces
of a run whose process is gone (a killed test) are swept at the next
start. The veth pairs are made inside the namespaces (the peer put
directly in its own), so the host never sees them.

The service's address, 10.79.0.100/24, is on the same L2 (no gateway).
The daemons run inside host A and host B with `nsenter --net` and not
`ip netns exec`, which also remounts /sys and so loses the cgroup2 mount
a process workload needs.

ServiceCluster is e2e.Cluster with a [service] section and the nodes'
replication addresses on the hosts' bridges; plain_service() runs the same
program in a namespace of its own with the same veth and bridge path but
no remora (the physical reference of the benchmark).
"""
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from e2e import (Cluster, Failure, PROCESS_ENVIRONMENT,  # noqa: E402
                 remove_leftovers, sh)

PREFIX = "rmt-"
NETNS_DIR = "/run/netns"
SUBNET = "10.79.0"
CLIENT_ADDR = f"{SUBNET}.2"
HOST_ADDR = {"a": f"{SUBNET}.11", "b": f"{SUBNET}.12"}
SERVICE_ADDR = f"{SUBNET}.100"
PREFIXLEN = 24
REDIS_PORT = 6379
REPLICATION_PORT = {"a": 7301, "b": 7302}
BRIDGE = "br0"
# The service's veth host end in a host namespace (one node per host).
SERVICE_IF = "rm-svc"
# The reference's: another name, so that a leftover never looks like
# remora's own.
PLAIN_IF = "rf-svc"
# The reference's eth0 MAC: locally administered, fixed.
PLAIN_MAC = "02:79:00:00:00:64"
REDIS = "/usr/bin/redis-server"
REDIS_ARGV = [REDIS, "--bind", "0.0.0.0", "--port", str(REDIS_PORT),
              "--protected-mode", "no", "--save", "", "--appendonly", "no",
              "--daemonize", "no"]

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name):
    return os.path.join(NETNS_DIR, name)


def _netns_names():
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def sweep_stale():
    """Removes rmt-PID-* namespaces whose process PID is gone (a killed
    run's): returns their names. A live run's are left alone. Processes
    still inside one (a daemon or redis of that run) are killed first."""
    gone = []
    for name in _netns_names():
        m = re.match(rf"{PREFIX}(\d+)-", name)
        if not m or os.path.exists(f"/proc/{m[1]}"):
            continue
        kill_inside(name)
        sh("ip", "netns", "del", name, check=False)
        gone.append(name)
    return gone


def kill_inside(name):
    """SIGKILLs every process whose network namespace is netns name
    (ip netns pids); waits a little for them to go."""
    p = sh("ip", "netns", "pids", name, check=False)
    pids = [int(x) for x in p.stdout.split()] if p.returncode == 0 else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
        time.sleep(0.02)


def _in_netns(name, fn):
    """fn() run by a short-lived thread that joined netns name (setns
    changes only the calling thread's namespace); returns its result. A
    socket stays in the namespace it was made in, whichever thread uses
    it later."""
    out = {}

    def run():
        try:
            fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {name}: {os.strerror(e)}")
            finally:
                os.close(fd)
            out["v"] = fn()
        except BaseException as e:  # handed to the caller
            out["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def ns_socket(name, family=socket.AF_INET, type=socket.SOCK_STREAM,
              proto=0):
    """A socket made in netns name."""
    return _in_netns(name, lambda: socket.socket(family, type, proto))


def wrap_of(name):
    """The command prefix that runs a program in netns name, keeping the
    caller's mounts (the cgroup2 mount among them)."""
    return ("nsenter", f"--net={netns_path(name)}")


class Topology:
    """The switch, the client and the two hosts (namespaces and links);
    cleanup() removes it all. Use as a context manager."""

    def __init__(self):
        if os.geteuid() != 0:
            raise Failure("the service topology needs root (network "
                          "namespaces)")
        for tool in ("ip", "nsenter"):
            if not shutil.which(tool):
                raise Failure(f"{tool} is missing: scripts/setup installs "
                              f"iproute2 and util-linux")
        self.swept = sweep_stale()
        tag = f"{PREFIX}{os.getpid()}-{random.randrange(16**6):06x}"
        self.ns = {role: f"{tag}-{role}"
                   for role in ("sw", "client", "a", "b")}
        self.extra = []  # namespaces made later (plain services)
        self.procs = []  # processes started inside (ns_popen)
        try:
            self._build()
        except BaseException:
            self.cleanup()
            raise

    def _ip(self, ns, *args):
        p = sh("ip", "-n", ns, *args, check=False)
        if p.returncode != 0:
            raise Failure(f"ip -n {ns} {' '.join(args)}: exit "
                          f"{p.returncode}: {p.stderr.decode().strip()}")
        return p.stdout.decode()

    def _build(self):
        for ns in self.ns.values():
            p = sh("ip", "netns", "add", ns, check=False)
            if p.returncode != 0:
                raise Failure(f"ip netns add {ns}: "
                              f"{p.stderr.decode().strip()}")
            self._ip(ns, "link", "set", "lo", "up")
        sw = self.ns["sw"]
        self._ip(sw, "link", "add", "sw0", "type", "bridge", "stp_state",
                 "0")
        self._ip(sw, "link", "set", "sw0", "up")
        # the client: eth0 straight on the switch
        self._ip(sw, "link", "add", "pc", "type", "veth", "peer", "name",
                 "eth0", "netns", self.ns["client"])
        self._ip(sw, "link", "set", "pc", "master", "sw0", "up")
        cl = self.ns["client"]
        self._ip(cl, "addr", "add", f"{CLIENT_ADDR}/{PREFIXLEN}", "dev",
                 "eth0")
        self._ip(cl, "link", "set", "eth0", "up")
        # the hosts: an uplink on br0, the host's address on br0
        for node in ("a", "b"):
            host = self.ns[node]
            port = "p" + node
            self._ip(sw, "link", "add", port, "type", "veth", "peer",
                     "name", "uplink", "netns", host)
            self._ip(sw, "link", "set", port, "master", "sw0", "up")
            self._ip(host, "link", "add", BRIDGE, "type", "bridge",
                     "stp_state", "0")
            self._ip(host, "link", "set", "uplink", "master", BRIDGE, "up")
            self._ip(host, "addr", "add",
                     f"{HOST_ADDR[node]}/{PREFIXLEN}", "dev", BRIDGE)
            self._ip(host, "link", "set", BRIDGE, "up")

    # --- running things inside --------------------------------------------

    def wrap(self, role):
        """Command prefix for role's namespace (a, b, client, sw)."""
        return wrap_of(self.ns[role])

    def run(self, role, *cmd, timeout=60, check=True):
        """Runs cmd in role's namespace; its CompletedProcess (text)."""
        p = subprocess.run([*self.wrap(role), *cmd], capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise Failure(f"{' '.join(cmd)} in {role}: exit "
                          f"{p.returncode}: {(p.stderr or p.stdout)[-500:]}")
        return p

    def popen(self, role, *cmd, **kw):
        """Starts cmd in role's namespace (killed at cleanup)."""
        p = subprocess.Popen([*self.wrap(role), *cmd], **kw)
        self.procs.append(p)
        return p

    def socket(self, role, family=socket.AF_INET, type=socket.SOCK_STREAM,
               proto=0):
        return ns_socket(self.ns[role], family, type, proto)

    def connect(self, addr=SERVICE_ADDR, port=REDIS_PORT, timeout=30.0,
                role="client"):
        """A TCP connection from role's namespace (the client's) to
        addr:port; its timeout stays set on the socket."""
        s = self.socket(role)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except BaseException:
            s.close()
            raise
        return s

    def redis_cli(self, *args, timeout=60):
        """redis-cli from the client namespace to the service address;
        returns (exit status, stdout stripped)."""
        p = self.run("client", "redis-cli", "-h", SERVICE_ADDR, "-p",
                     str(REDIS_PORT), *args, timeout=timeout, check=False)
        return p.returncode, p.stdout.strip()

    def wait_redis(self, timeout=60.0, what="the service"):
        """Until a PING through the service address from the client gets
        PONG; returns the seconds it took."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            try:
                s = self.connect(timeout=min(5.0, timeout))
                try:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    got = b""
                    while not got.endswith(b"\r\n"):
                        chunk = s.recv(64)
                        if not chunk:
                            break
                        got += chunk
                    if got == b"+PONG\r\n":
                        return time.monotonic() - t0
                    last = f"answered {got!r}"
                finally:
                    s.close()
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise Failure(f"{what} did not answer PING at {SERVICE_ADDR}:"
                      f"{REDIS_PORT} from the client within {timeout} s "
                      f"(last: {last})")

    def fdb(self):
        """The client's neighbours and the MACs sw0 learned, for failure
        messages."""
        p = sh("ip", "-n", self.ns["client"], "neigh", check=False)
        q = sh("bridge", "-n", self.ns["sw"], "fdb", "show", "br", "sw0",
               check=False)
        learned = [ln for ln in q.stdout.decode().splitlines()
                   if "permanent" not in ln and " self" not in ln]
        return (f"client neighbours: {p.stdout.decode().strip()}\n"
                f"sw0 learned: {'; '.join(learned)}\n")

    def links(self, role):
        """`ip -br link` and `ip -br addr` of role's namespace."""
        return self._ip(self.ns[role], "-br", "addr")

    def has_link(self, role, name):
        """Whether role's namespace has a link called name."""
        return sh("ip", "-n", self.ns[role], "link", "show", name,
                  check=False).returncode == 0

    # --- the unprotected reference -----------------------------------------

    def plain_service(self, node="a", argv=REDIS_ARGV, log=None):
        """argv in a namespace of its own behind host node's br0 through
        a veth (PLAIN_IF, eth0 with the service address): the path of a
        protected service, without remora. Returns a PlainService; its
        stop() removes it all (cleanup() does too)."""
        return PlainService(self, node, argv, log)

    def cleanup(self):
        """Kills what runs inside, removes every namespace of this run."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in list(self.ns.values()) + self.extra:
            kill_inside(ns)
            sh("ip", "netns", "del", ns, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


class PlainService:
    """A program in a namespace made like the one remora makes for a
    service, plumbed by hand (iproute2) the same way: the reference."""

    def __init__(self, topo, node, argv, log=None):
        self.topo = topo
        self.ns = f"{topo.ns['sw'][:-3]}-ref{node}"
        topo.extra.append(self.ns)
        host = topo.ns[node]
        self.host = host
        sh("ip", "netns", "add", self.ns)
        try:
            topo._ip(self.ns, "link", "set", "lo", "up")
            topo._ip(host, "link", "add", PLAIN_IF, "type", "veth", "peer",
                     "name", "eth0", "netns", self.ns)
            topo._ip(self.ns, "link", "set", "eth0", "address", PLAIN_MAC)
            topo._ip(self.ns, "addr", "add",
                     f"{SERVICE_ADDR}/{PREFIXLEN}", "dev", "eth0")
            topo._ip(host, "link", "set", PLAIN_IF, "master", BRIDGE, "up")
            topo._ip(self.ns, "link", "set", "eth0", "up")
            out = open(log, "ab") if log else subprocess.DEVNULL
            self.proc = subprocess.Popen(
                [*wrap_of(self.ns), *argv], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin"})
            if log:
                out.close()
            topo.procs.append(self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        p = getattr(self, "proc", None)
        if p and p.poll() is None:
            p.kill()
            p.wait()
        kill_inside(self.ns)
        sh("ip", "-n", self.host, "link", "del", PLAIN_IF, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        if self.ns in self.topo.extra:
            self.topo.extra.remove(self.ns)


class ServiceCluster(Cluster):
    """e2e.Cluster running redis-server (type = process) with [service]:
    node a in host A, b in host B (start them with wrap=topo.wrap(name),
    or start_node), replication over the hosts' bridges, the service at
    SERVICE_ADDR on a veth whose host end joins each host's br0.

    max_held_bytes None leaves the key out (the daemon's default, 16M)."""

    def __init__(self, bindir, topo, interval="100ms", memory="256M",
                 max_held_bytes="16M", command=None, hb_interval="50ms",
                 hb_timeout="1s", **kw):
        super().__init__(bindir, workload="process",
                         command=command or REDIS_ARGV,
                         environment=PROCESS_ENVIRONMENT, memory=memory,
                         interval=interval, hb_interval=hb_interval,
                         hb_timeout=hb_timeout, **kw)
        self.topo = topo
        text = self.text(self.config)
        # A cluster name of this run's own: cgroups and run directories
        # are named after it, and other e2e runs on the machine use "e2e"
        if text.count("name = e2e\n") != 1:
            raise Failure(f"unexpected config layout: {self.config}")
        self.name = f"svc{os.getpid()}"
        self.killed = []  # (node, pid) of daemons SIGKILLed
        text = text.replace("name = e2e\n", f"name = {self.name}\n")
        for node in ("a", "b"):
            old = f"replication_address = 127.0.0.1:{self.ports[node]}\n"
            if text.count(old) != 1:
                raise Failure(f"unexpected config layout: {self.config}")
            text = text.replace(old, f"replication_address = "
                                f"{HOST_ADDR[node]}:"
                                f"{REPLICATION_PORT[node]}\n")
        self.ports = dict(REPLICATION_PORT)
        service = (f"[service]\naddress = {SERVICE_ADDR}/{PREFIXLEN}\n"
                   f"bridge = {BRIDGE}\ninterface = {SERVICE_IF}\n")
        if max_held_bytes is not None:
            service += f"max_held_bytes = {max_held_bytes}\n"
        if text.count("[replication]\n") != 1:
            raise Failure(f"unexpected config layout: {self.config}")
        # before [replication]: [failover] stays the last section
        # (append_failover)
        text = text.replace("[replication]\n", service + "\n[replication]\n")
        with open(self.config, "w") as f:
            f.write(text)

    def start_node(self, name, extra=()):
        """Node name's daemon inside its host's namespace."""
        return self.start(name, extra, wrap=self.topo.wrap(name))

    def start_pair(self, backup_extra=(), timeout=120.0, primary_extra=()):
        """b, then a; returns once b holds a replica and the service
        answers through its address."""
        self.start_node("b", backup_extra)
        self.start_node("a", primary_extra)
        self.wait_replica(timeout=timeout)
        self.topo.wait_redis(timeout)

    def kill(self, name, sig=signal.SIGKILL):
        """sig (SIGKILL; SIGTERM: a drained stop, a planned switchover)
        to node name, expected by the waits; returns the monotonic time
        (seconds) just before the signal, once the node has exited."""
        p = self.procs[name]
        p._expected = 1
        t = time.monotonic()
        p.send_signal(sig)
        p.wait(30)
        if sig == signal.SIGKILL:
            self.killed.append((name, p.pid))
        elif p.returncode != 0:
            raise Failure(f"node {name} exited {p.returncode} after "
                          f"{signal.Signals(sig).name}\n{self.logs()}")
        return t

    def cleanup(self):
        super().cleanup()
        for p in self.procs.values():
            if p.returncode is not None and p.returncode < 0:
                self.killed.append((None, p.pid))
        for node in ("a", "b"):
            for _, pid in self.killed:
                remove_leftovers(self.name, node, pid)

    def logs(self):
        out = super().logs()
        try:
            out += "--- switch ---\n" + self.topo.fdb()
        except Exception as e:  # only for a failure message
            out += f"--- switch: {e} ---\n"
        return out
