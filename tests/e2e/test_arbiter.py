"""Never two histories, with and without the etcd lease arbiter (issue 13).

Three network namespaces made by the test, joined by three point-to-point
veth pairs so that any one link can be cut: A (remora-primary) - B
(remora-backup) carries replication, A - E and B - E reach etcd (started by
the test in E, loopback-only data). No traffic leaves the namespaces.

Each case runs the counter guest (tick N per line) and checks the one
promise exactly: the ticks that node a released followed by those node b
released are 1, 2, 3, ... with none repeated and none missing. The cases:

  cut_primary_from_backup   a keeps the lease: b must not promote; healed,
                            b follows a again
  cut_primary_from_both     a's lease lapses: a releases nothing more; b
                            wins the lease and promotes; healed, a stops
  cut_backup_from_etcd      a is killed while b cannot reach etcd: b waits;
                            healed, b promotes
  frozen_primary            SIGSTOP of a past the lease: b promotes; the
                            resumed a releases nothing and stops
  killed_primary            SIGKILL of a: b promotes once the lease lapsed
  lost_reports              every release report a sends b is lost (a
                            proxy drops a's Heartbeats): b takes a's last
                            report from etcd and repeats nothing (loopback)

and the same partitions and freeze without an arbiter, on_backup_loss =
pause.
"""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Cluster, Failure, Skip, assert_continuous, main,  # noqa
                 free_port, now_ms, sh, ticks, waiting)
import chaos  # noqa: E402
from etcd import Etcd  # noqa: E402

TTL_S = 2  # lease_ttl
A_B = ("10.201.1.1", "10.201.1.2")  # a, b: replication
A_E = ("10.201.2.1", "10.201.2.2")  # a, etcd
B_E = ("10.201.3.1", "10.201.3.2")  # b, etcd


class Net:
    """Namespaces a, b, e and the three links between them."""

    def __init__(self):
        tag = str(os.getpid() % 10000)
        self.ns = {n: f"remora-{n}{tag}" for n in "abe"}
        self.links = {}  # "ab" -> (ns1, dev1, ns2, dev2)
        for n in self.ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        for pair, (x, y) in (("ab", A_B), ("ae", A_E), ("be", B_E)):
            n1, n2 = self.ns[pair[0]], self.ns[pair[1]]
            d1, d2 = f"r{pair}{tag}x", f"r{pair}{tag}y"
            sh("ip", "link", "add", d1, "type", "veth", "peer", "name", d2)
            sh("ip", "link", "set", d1, "netns", n1)
            sh("ip", "link", "set", d2, "netns", n2)
            sh("ip", "-n", n1, "addr", "add", f"{x}/24", "dev", d1)
            sh("ip", "-n", n2, "addr", "add", f"{y}/24", "dev", d2)
            self.links[pair] = (n1, d1, n2, d2)
            self.heal(pair)

    def wrap(self, node):
        return ("ip", "netns", "exec", self.ns[node])

    def cut(self, pair):
        n1, d1, n2, d2 = self.links[pair]
        sh("ip", "-n", n1, "link", "set", d1, "down")
        sh("ip", "-n", n2, "link", "set", d2, "down")

    def heal(self, pair):
        n1, d1, n2, d2 = self.links[pair]
        sh("ip", "-n", n1, "link", "set", d1, "up")
        sh("ip", "-n", n2, "link", "set", d2, "up")

    def cleanup(self):
        for n in self.ns.values():
            sh("ip", "netns", "del", n, check=False)


class Setup:
    """The net, etcd in e (if arbiter) and a counter cluster whose nodes
    run in a and b."""

    def __init__(self, bindir, guests, arbiter, loss="pause"):
        if os.geteuid() != 0:
            raise Skip("needs root for network namespaces")
        if not shutil.which("ip"):
            raise Failure("ip(8) is missing: scripts/setup installs "
                          "iproute2")
        self.net = Net()
        self.etcd = None
        self.c = None
        try:
            failover = f"on_backup_loss = {loss}\n"
            if arbiter:
                self.etcd = Etcd(netns=self.net.ns["e"],
                                 hosts=(A_E[1], B_E[1]))
                failover += ("arbiter = etcd\n"
                             f"etcd_endpoints = http://{A_E[1]}:"
                             f"{self.etcd.port},http://{B_E[1]}:"
                             f"{self.etcd.port}\n"
                             f"lease_ttl = {TTL_S}s\n")
            self.c = Cluster(bindir, guests["counter"],
                             "--interval 10 --count 0", hb_interval="50ms",
                             hb_timeout="300ms", extra_failover=failover)
            with open(self.c.config) as f:
                text = f.read()
            text = re.sub(r"(\[node a\]\nreplication_address = )\S+",
                          rf"\g<1>{A_B[0]}:7301", text)
            text = re.sub(r"(\[node b\]\nreplication_address = )\S+",
                          rf"\g<1>{A_B[1]}:7302", text)
            with open(self.c.config, "w") as f:
                f.write(text)
        except BaseException:
            self.cleanup()
            raise

    def start(self):
        self.c.start("b", wrap=self.net.wrap("b"))
        self.c.start("a", wrap=self.net.wrap("a"))
        self.c.wait_replica()
        self.c.wait_for("a's output", lambda: self.lines("a") >= 5)

    def kill_a(self):
        """SIGKILL of the primary: a crash, expected by the waits."""
        self.c.procs["a"]._expected = 1
        self.c.procs["a"].send_signal(signal.SIGKILL)

    def lines(self, node):
        c = self.c
        return c.lines(c.sink_a if node == "a" else c.sink_b)

    def history(self):
        """a's ticks then b's: must be one continuous history."""
        c = self.c
        got = ticks(c.text(c.sink_a)) + ticks(c.text(c.sink_b))
        try:
            assert_continuous(got)
        except Failure as e:
            raise Failure(f"{e}\n{c.logs()}")
        return got

    def no_promotion_for(self, seconds, why):
        """b does not promote within seconds (it must not: why)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.c.events("b", "promoted") or \
                    self.c.events("b", "state", to="promoting"):
                raise Failure(f"b promoted although {why}\n"
                              f"{self.c.logs()}")
            time.sleep(0.05)

    def cleanup(self):
        if self.c:
            self.c.cleanup()
        if self.etcd:
            self.etcd.stop()
        self.net.cleanup()


def released_after(c, node, t_ms):
    """Output node released after time t_ms (events)."""
    return [e for e in c.events(node, "output", action="released")
            if e["t_ms"] > t_ms and e["bytes"] > 0]


def cut_primary_from_backup(bindir, guests, arbiter=True):
    s = Setup(bindir, guests, arbiter, loss="continue" if arbiter
              else "pause")
    c = s.c
    try:
        s.start()
        s.net.cut("ab")
        if not arbiter:
            # the two nodes alone: b promotes; a pauses (holds output)
            c.wait_event("b", "promoted", term=2)
            c.wait_event("a", "state", from_="protected", to=waiting)
            c.wait_for("b's output", lambda: s.lines("b") >= 20)
            s.net.heal("ab")
            c.expect_replaced("a", "b", 2)
            c.stop("b")
            got = s.history()
            return f"b promoted, a replaced; tick 1..{got[-1]} continuous"
        # a keeps the lease: b declares a failed but may not promote
        c.wait_event("b", "state", to="fencing")
        c.wait_event("b", "lease", result="busy", holder="a")
        s.no_promotion_for(3 * TTL_S, "a kept the lease")
        # a runs on unprotected (continue) once the arbiter moved the term
        # past b's replica: that replica can never take over now
        c.wait_event("a", "state", from_=waiting, to="degraded", term=2)
        n = s.lines("a")
        c.wait_for("a's output to go on", lambda: s.lines("a") >= n + 20)
        s.net.heal("ab")
        c.wait_replica(count=2)
        # and the history goes on on b after a real failure, in the term
        # after a's second one
        s.kill_a()
        c.wait_event("b", "promoted", term=3)
        c.wait_for("b's output", lambda: s.lines("b") >= 20)
        c.stop("b")
        got = s.history()
        return (f"b held off while a kept the lease, a went on in term 2, "
                f"b followed it again after the heal and promoted after "
                f"the kill; tick "
                f"1..{got[-1]} continuous")
    finally:
        s.cleanup()


def cut_primary_from_both(bindir, guests):
    s = Setup(bindir, guests, True, loss="continue")
    c = s.c
    try:
        s.start()
        t_cut = now_ms()
        s.net.cut("ab")
        s.net.cut("ae")
        c.wait_event("a", "lease", state="lapsed")
        pm = c.wait_event("b", "promoted", term=2)
        # (which of a's lapse and b's promotion is written first is up to
        # the scheduler: a stalled a cannot release either, and checks
        # its lease before anything else when it runs again)
        lapsed = c.events("a", "lease", state="lapsed")[0]
        c.wait_for("b's output", lambda: s.lines("b") >= 20)
        late = released_after(c, "a", lapsed["t_ms"])
        if late:
            raise Failure(f"a released output after its lease lapsed: "
                          f"{late}\n{c.logs()}")
        s.net.heal("ae")
        s.net.heal("ab")
        c.expect_replaced("a", "b", 2)
        c.stop("b")
        got = s.history()
        return (f"a's lease lapsed {lapsed['t_ms'] - t_cut:.0f} ms after "
                f"the cut, b promoted {pm['t_ms'] - t_cut:.0f} ms after; "
                f"tick 1..{got[-1]} continuous")
    finally:
        s.cleanup()


def cut_backup_from_etcd(bindir, guests):
    s = Setup(bindir, guests, True)
    c = s.c
    try:
        s.start()
        s.net.cut("be")
        time.sleep(0.3)
        s.kill_a()
        c.wait_event("b", "state", to="fencing")
        c.wait_event("b", "lease", result="error")
        s.no_promotion_for(2 * TTL_S, "it cannot reach etcd")
        s.net.heal("be")
        c.wait_event("b", "promoted", term=2)
        c.wait_for("b's output", lambda: s.lines("b") >= 20)
        c.stop("b")
        got = s.history()
        return (f"b waited for etcd, then promoted; tick 1..{got[-1]} "
                f"continuous")
    finally:
        s.cleanup()


def frozen_primary(bindir, guests, arbiter=True):
    s = Setup(bindir, guests, arbiter,
              loss="continue" if arbiter else "pause")
    c = s.c
    try:
        s.start()
        c.procs["a"].send_signal(signal.SIGSTOP)
        t_stop = now_ms()
        c.wait_event("b", "promoted", term=2)
        c.wait_for("b's output", lambda: s.lines("b") >= 10)
        c.procs["a"].send_signal(signal.SIGCONT)
        c.expect_replaced("a", "b", 2)
        late = released_after(c, "a", t_stop)
        if late:
            raise Failure(f"the resumed a released held output: {late}\n"
                          f"{c.logs()}")
        c.wait_for("b's output", lambda: s.lines("b") >= 20)
        c.stop("b")
        got = s.history()
        return f"nothing released twice; tick 1..{got[-1]} continuous"
    finally:
        s.cleanup()


def killed_primary(bindir, guests):
    s = Setup(bindir, guests, True)
    c = s.c
    try:
        s.start()
        t_kill = now_ms()
        s.kill_a()
        pm = c.wait_event("b", "promoted", term=2)
        c.wait_for("b's output", lambda: s.lines("b") >= 20)
        c.stop("b")
        got = s.history()
        return (f"promoted {pm['t_ms'] - t_kill:.0f} ms after the kill "
                f"(lease_ttl {TTL_S} s); tick 1..{got[-1]} continuous")
    finally:
        s.cleanup()


def lost_reports(bindir, guests):
    """a's release reports never reach b (a proxy on the link drops every
    Heartbeat from a, the frame that carries them); a prints 100 ticks and
    falls quiet, all of them released; then a is killed. b knows from the
    link only what was released at the sync, so without etcd's copy of a's
    last report it would release a's ticks again at its promotion."""
    etcd = Etcd()
    c = proxy = None
    try:
        c = Cluster(bindir, guests["counter"],
                    "--interval 10 --count 100 --linger",
                    hb_interval="50ms", hb_timeout="300ms",
                    extra_failover=(f"arbiter = etcd\n"
                                    f"etcd_endpoints = {etcd.endpoint}\n"
                                    f"lease_ttl = {TTL_S}s\n"))
        proxy = chaos.ChaosProxy(free_port(), ("127.0.0.1", c.ports["a"]),
                                 rate=1.0, kinds=("drop",),
                                 only={("a->b", "Heartbeat")},
                                 log_path=os.path.join(c.dir, "chaos.log"))
        proxy.start()
        c.start("b", config=chaos.backup_config(c, proxy.port))
        c.start("a")
        c.wait_replica()
        c.wait_for("a's 100 ticks", lambda: len(ticks(c.text(c.sink_a)))
                   == 100, 60)
        released = len(c.text(c.sink_a).encode())
        key = "/remora/e2e/released"
        c.wait_for(f"etcd's {key} = '1 {released}'",
                   lambda: etcd.get(key) == f"1 {released}", 30)
        if not proxy.counts["drop"]:
            raise Failure("the proxy dropped no Heartbeat")
        c.procs["a"]._expected = 1
        c.procs["a"].send_signal(signal.SIGKILL)
        pm = c.wait_event("b", "promoted", term=2)
        rep = c.events("b", "release_report")
        if len(rep) != 1 or rep[0]["released"] != released or \
                rep[0]["term"] != 1 or rep[0]["link"] >= released:
            raise Failure(f"b's release_report events: {rep}, want one "
                          f"of term 1, released {released}, link below "
                          f"it\n{c.logs()}")
        c.stop("b")
        got = ticks(c.text(c.sink_a)) + ticks(c.text(c.sink_b))
        try:
            assert_continuous(got)
        except Failure as e:
            raise Failure(f"{e}\n{c.logs()}")
        if got[-1] != 100 or pm["console_released"] != 0:
            raise Failure(f"ticks end at {got[-1]}, b released "
                          f"{pm['console_released']} bytes for a: want "
                          f"100 and 0\n{c.logs()}")
        return (f"{proxy.counts['drop']} Heartbeats dropped; the link's "
                f"last report said {rep[0]['link']} of {released} bytes; "
                f"b repeated none of a's ticks")
    finally:
        if proxy:
            proxy.stop()
        if c:
            c.cleanup()
        etcd.stop()


if __name__ == "__main__":
    main([("cut_primary_from_backup", cut_primary_from_backup),
          ("cut_primary_from_both", cut_primary_from_both),
          ("cut_backup_from_etcd", cut_backup_from_etcd),
          ("frozen_primary", frozen_primary),
          ("killed_primary", killed_primary),
          ("lost_reports", lost_reports),
          ("cut_primary_from_backup_no_arbiter",
           lambda b, g: cut_primary_from_backup(b, g, arbiter=False)),
          ("frozen_primary_no_arbiter",
           lambda b, g: frozen_primary(b, g, arbiter=False))])
