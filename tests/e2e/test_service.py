#!/usr/bin/env python3
"""A protected network service end to end (issue 15): an unmodified
redis-server wrapped by a real remora-primary in host A, replicated to a
real remora-backup in host B, reached by a client at its own address,
10.79.0.100, whichever host runs it. The network is made of namespaces
only (tests/e2e/topo.py: a switch, a client, two hosts with a bridge br0
each, the bridge-mode layout of docs/service-network.md); nothing is sent
outside them.

  test_service.py BUILD_DIR

- checker-can-fail: tests/e2e/redischeck.py against a plain redis (no
  remora) in the same topology: a FLUSHALL behind its back is acknowledged
  writes lost, another client's INCR of its counter and a SET of one of
  its keys are contradictions; and bad-input's flood against it, told
  to expect 0.2 s between what the client sends and the service's
  answer, finds answers sooner. No check is vacuous.
- topology: the reference path (a plain redis behind host A's br0) answers
  PING from the client; then under remora: the service's host end joins
  br0 on both hosts, a's service is up and b's prepared (events), the
  client's redis-cli PING, SET and GET go through the service address,
  and the host end is gone when the daemons stop; with a bridge that
  does not exist, each daemon stops at start with one line naming it.
- output-commit: the backup acknowledges every epoch 2 s late
  (--inject-ack-delay 2s): a new connection's handshake and a SET's reply
  both take at least the delay (the SYN-ACK and the reply are held until
  the epoch that produced them is acknowledged), and do arrive.
- failover: 20 drills (drill.redis_drill_once), each a fresh pair: a
  redischeck client on one connection, SIGKILL of the primary at a random
  moment once the backup holds a replica, the backup's promotion (CRIU
  restore of redis with its TCP connections, eth0 up, gratuitous ARP):
  the client's connection survives, no acknowledged write is lost, no
  answer contradicts another, and the killed primary's service namespace
  is gone (nothing of it, CRIU included, outlives it to answer for the
  service's address on the old port). The outage (kill -> first reply after the
  backup's decision) is reported.
- switchover: 3 planned switchovers, the same drill with SIGTERM instead
  of SIGKILL (the primary drains a last epoch and stops; the backup
  promotes from exactly that state): the same three checks.
- bad-input: with the 2 s ack delay and max_held_bytes at its least
  (64K), from the client namespace, all at once: malformed frames (raw
  AF_PACKET: bad IPv4 headers, checksums, lengths, versions, options,
  fragments; TCP with impossible flags and offsets; UDP, ICMP, unknown
  protocols), 200 new connections, pipelined requests on 20 open ones
  (replies past max_held_bytes), malformed RESP on 5 more. No answer
  from the service reaches the client sooner than the delay after what
  it answers (a sniffer on the client's eth0 with kernel time stamps
  matches each TCP segment, RST, echo reply and ICMP error from the
  service to the client's packet it answers), the primary stays
  protected, every pipelined reply arrives complete and right, the new
  connections answer PING, and a redischeck client running through it
  all sees no reply sooner than the delay and no contradiction.

Needs root, the CRIU of scripts/build-criu (.criu/sbin/criu) passing
`criu check`, and redis-server (Debian package redis-server). Skips only
when not root; as root a missing piece is a failure. E2E_SEED sets the
drills' seed, E2E_ONLY=NAME runs one test. Timeouts only bound waits; the
checks are exact.
"""
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drill import redis_drill_once  # noqa: E402
from e2e import Failure, main  # noqa: E402
import redischeck  # noqa: E402
from topo import (BRIDGE, CLIENT_ADDR, REDIS, REDIS_PORT,  # noqa: E402
                  SERVICE_ADDR, SERVICE_IF, ServiceCluster, Topology)

SEED = int(os.environ.get("E2E_SEED", "1515"))
DRILLS = 20
SWITCHOVERS = 3
ACK_DELAY_S = 2.0
# A held packet is released at least ACK_DELAY_S after the epoch that made
# it closed; the margin is only the clocks' granularity (ms-rounded timers).
NOT_BEFORE_S = ACK_DELAY_S - 0.05
LIVENESS_S = 60.0


def need_redis():
    if not os.access(REDIS, os.X_OK):
        raise Failure(f"no {REDIS}: install the Debian package "
                      f"redis-server")


def checker(topo, timeout=30.0):
    return redischeck.Checker(lambda: topo.connect(timeout=timeout),
                              timeout=timeout)


# --- checker-can-fail ------------------------------------------------------

def checker_can_fail(bindir, paths):
    """The checker's verdicts against a plain redis: each kind of broken
    promise is caught."""
    need_redis()
    out = []
    with Topology() as t:
        ps = t.plain_service("a")
        t.wait_redis(30, "the plain redis")

        def other(*args):
            rc, text = t.redis_cli(*args)
            if rc != 0:
                raise Failure(f"redis-cli {' '.join(args)}: exit {rc}")
        cases = (
            ("FLUSHALL", lambda c: other("FLUSHALL"), "lost"),
            ("another INCR", lambda c: other("INCR", c.counter_key),
             "contradicted"),
            ("another SET", lambda c: other("SET", c.key(2), "x"),
             "contradicted"),
            ("nothing", lambda c: None, None),
        )
        for name, act, want in cases:
            c = checker(t, 10.0).start()
            try:
                c.wait_replies(20, timeout=30)
                act(c)
                c.wait_replies(len(c.answered()) + 4, timeout=30)
            finally:
                c.stop()
            v = c.verify()
            c.close()
            got = "lost" if v.acked_lost else "contradicted" \
                if v.contradicted else None
            if got != want or v.failed:
                raise Failure(f"checker, {name}: {v}; want "
                              f"{want or 'no violation'}")
            out.append(f"{name}: {v.acked_lost} lost, {v.contradicted} "
                       f"contradicted")
        # bad-input's check of what the service sent: the plain redis
        # answers at once, so it fails with any delay asked for
        try:
            flood(t, random.Random(SEED), 0.2)
        except Failure as e:
            if "sooner than 0.2 s after what they answer" not in str(e):
                raise
            out.append("the flood's sniffer: " + str(e).split(";")[0])
        else:
            raise Failure("the flood against the plain redis passed with "
                          "0.2 s asked for between a request and its "
                          "answer")
        ps.stop()
    return "; ".join(out)


# --- topology --------------------------------------------------------------

def bridge_ports(t, node):
    """The interfaces enslaved to br0 in host node's namespace."""
    p = t.run(node, "ip", "-br", "link", "show", "master", BRIDGE)
    return [ln.split()[0].split("@")[0] for ln in p.stdout.splitlines()]


def topology(bindir, paths):
    need_redis()
    with Topology() as t:
        ps = t.plain_service("a")
        ref_s = t.wait_redis(30, "the plain redis (reference path)")
        rc, out = t.redis_cli("PING")
        if (rc, out) != (0, "PONG"):
            raise Failure(f"redis-cli PING to the plain redis: exit {rc}, "
                          f"{out!r}")
        ps.stop()
        c = ServiceCluster(bindir, t)
        try:
            c.start_pair()
            up = c.wait_event("a", "service", action="up")
            c.wait_event("b", "service", action="prepared")
            for node in ("a", "b"):
                ports = bridge_ports(t, node)
                if SERVICE_IF not in ports or "uplink" not in ports:
                    raise Failure(f"host {node}'s {BRIDGE} has ports "
                                  f"{ports}; want uplink and {SERVICE_IF}"
                                  f"\n{c.logs()}")
            got = [t.redis_cli(*cmd) for cmd in
                   (("PING",), ("SET", "topo", "checked"),
                    ("GET", "topo"))]
            if got != [(0, "PONG"), (0, "OK"), (0, "checked")]:
                raise Failure(f"redis-cli through {SERVICE_ADDR}: {got}"
                              f"\n{c.logs()}")
            rc_b = c.stop("b")
            rc_a = c.stop("a")
            if (rc_a, rc_b) != (0, 0):
                raise Failure(f"SIGTERM: a exited {rc_a}, b {rc_b}\n"
                              f"{c.logs()}")
            left = {n: bridge_ports(t, n) for n in ("a", "b")}
            if any(SERVICE_IF in p for p in left.values()):
                raise Failure(f"after the daemons stopped, the bridges "
                              f"hold {left}: {SERVICE_IF} left behind")
            refused_bridge(c)
        finally:
            c.cleanup()
    up = {k: v for k, v in up.items()
          if k not in ("time", "t_ms", "node", "role", "event")}
    return (f"reference path answered in {ref_s:.2f} s; under remora "
            f"PING/SET/GET through {SERVICE_ADDR} (a's service event "
            f"{up}), host ends on both br0s, removed at stop")


def refused_bridge(c):
    """A bridge that does not exist: each daemon stops at start with status
    1 and one line that names it and says what to change; nothing of the
    service is left on the host."""
    bad = os.path.join(c.dir, "bad-bridge.conf")
    text = c.text(c.config)
    if text.count(f"bridge = {BRIDGE}\n") != 1:
        raise Failure(f"unexpected config layout: {c.config}")
    with open(bad, "w") as f:
        f.write(text.replace(f"bridge = {BRIDGE}\n", "bridge = nosuch0\n"))
    want = (f"[service] in {bad}: bridge nosuch0: no such interface on the "
            f"host (create it, or leave bridge out to route)")
    for node in ("a", "b"):
        p = c.start(node, wrap=c.topo.wrap(node), config=bad)
        rc = p.wait(60)
        errors = [ln for ln in c.text(c.log(node)).splitlines()
                  if " error: " in ln and "nosuch0" in ln]
        if rc != 1 or len(errors) != 1 or want not in errors[0]:
            raise Failure(f"node {node} with bridge = nosuch0: exit {rc}, "
                          f"error lines {errors}; want exit 1 and: {want}")
        links = c.topo.run(node, "ip", "-o", "link", "show").stdout
        if SERVICE_IF in links:
            raise Failure(f"node {node} left {SERVICE_IF} behind")


# --- output commit ---------------------------------------------------------

def output_commit(bindir, paths):
    need_redis()
    with Topology() as t:
        c = ServiceCluster(bindir, t)
        try:
            stats = os.path.join(c.dir, "a.stats")
            c.start_pair(backup_extra=("--inject-ack-delay",
                                       f"{ACK_DELAY_S:g}s"),
                         primary_extra=("--stats", stats))
            s = t.socket("client")
            s.settimeout(LIVENESS_S)
            t0 = time.monotonic()
            s.connect((SERVICE_ADDR, REDIS_PORT))
            connect_s = time.monotonic() - t0
            try:
                r = redischeck.Resp(s)
                t1 = time.monotonic()
                s.sendall(redischeck.encode("SET", "commit", "held"))
                # nothing may come back before the delay
                ready, _, _ = select.select([s], [], [], NOT_BEFORE_S)
                early = time.monotonic() - t1
                if ready:
                    raise Failure(f"the SET's reply (or the connection's "
                                  f"end) came {early:.3f} s after the "
                                  f"request, before the {ACK_DELAY_S} s "
                                  f"ack delay\n{c.logs()}")
                reply = r.read()
                reply_s = time.monotonic() - t1
                t2 = time.monotonic()
                got = r.call("GET", "commit")
                get_s = time.monotonic() - t2
            finally:
                s.close()
            if reply != "OK" or got != b"held":
                raise Failure(f"SET answered {reply!r}, GET {got!r}")
            if connect_s < NOT_BEFORE_S or get_s < NOT_BEFORE_S:
                raise Failure(f"connect took {connect_s:.3f} s, GET "
                              f"{get_s:.3f} s: one came back before the "
                              f"{ACK_DELAY_S} s ack delay\n{c.logs()}")
            if c.procs["a"].poll() is not None or \
                    c.last_state("a").get("to") != "protected":
                raise Failure(f"a is not protected: "
                              f"{c.last_state('a')}\n{c.logs()}")
        finally:
            c.cleanup()
    return (f"ack delay {ACK_DELAY_S} s: connect {connect_s:.2f} s, SET "
            f"reply {reply_s:.2f} s, GET {get_s:.2f} s")


# --- failover --------------------------------------------------------------

def failover(bindir, paths):
    need_redis()
    rng = random.Random(SEED)
    rs = []
    with Topology() as t:
        for i in range(DRILLS):
            r = redis_drill_once(bindir, t, rng, keep=True)
            if r.violation:
                raise Failure(f"drill {i + 1} (seed {SEED}): "
                              f"{r.violation}")
            if not r.same_connection:
                raise Failure(f"drill {i + 1} (seed {SEED}): the client's "
                              f"connection did not survive the failover: "
                              f"{[b[2] for b in r.breaks]}; "
                              f"{r.released()}")
            print(f"  drill {i + 1}/{DRILLS}: promote "
                  f"{r.promote_ms:.0f} ms, {r.released()}", flush=True)
            rs.append(r)
    out = sorted(r.outage_ms for r in rs)
    return (f"seed {SEED}: {DRILLS} kills, the connection survived each, "
            f"0 acknowledged writes lost, 0 contradictions; outage "
            f"{out[0]:.0f}/{out[len(out) // 2]:.0f}/{out[-1]:.0f} ms "
            f"(min/median/max), promote "
            f"{min(r.promote_ms for r in rs):.0f}.."
            f"{max(r.promote_ms for r in rs):.0f} ms")


def switchover(bindir, paths):
    """A planned switchover: SIGTERM to the primary drains it (a last
    epoch, acknowledged, everything released) and it stops; the backup
    promotes from exactly that state. As after a failure, the client's
    connection survives, nothing acknowledged is lost or contradicted."""
    need_redis()
    rng = random.Random(SEED + 1)
    rs = []
    with Topology() as t:
        for i in range(SWITCHOVERS):
            r = redis_drill_once(bindir, t, rng, keep=True,
                                 sig=signal.SIGTERM)
            if r.violation:
                raise Failure(f"switchover {i + 1}: {r.violation}")
            if not r.same_connection:
                raise Failure(f"switchover {i + 1}: the client's "
                              f"connection did not survive: "
                              f"{[b[2] for b in r.breaks]}")
            rs.append(r)
    out = sorted(r.outage_ms for r in rs)
    return (f"{SWITCHOVERS} switchovers (SIGTERM), the connection survived "
            f"each, 0 acknowledged writes lost, 0 contradictions; pause "
            f"{out[0]:.0f}..{out[-1]:.0f} ms")


# --- bad input -------------------------------------------------------------

PACKET_OUTGOING = 4
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
# In the pipelined flood, every BIG_EVERY-th SET is followed by a GET of a
# BIG_BYTES value. A held packet stays charged to its socket, so TCP
# sends little per epoch (TCP small queues): large replies are slow under
# the gate, and this keeps the flood's replies within the liveness bound.
BIG_EVERY = 10
BIG_BYTES = 8 * 1024
# bad-input's bound on held packet bytes: the least the config allows
FLOOD_MAX_HELD = "64K"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, dst, proto, payload, ihl=5, tot_len=None, ident=None,
         flags_frag=0, ttl=64, version=4, options=b"", check=None):
    """An IPv4 header (and payload), wrong in whatever way it is told."""
    room = max(0, ihl * 4 - 20)
    opts = options.ljust(room, b"\0")[:room]
    length = 20 + len(opts) + len(payload) if tot_len is None else tot_len
    h = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 15), 0,
                    length & 0xffff, random.randrange(65536)
                    if ident is None else ident, flags_frag, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + opts
    c = csum(h) if check is None else check
    h = h[:10] + struct.pack("!H", c) + h[12:]
    return h + payload


def tcp(src, dst, sport, dport, flags, seq=None, ack=0, data=b"",
        doff=5, good_sum=True, options=b""):
    """A TCP segment; doff (the header length in words) as told, even
    when it is impossible."""
    hdr = struct.pack("!HHIIBBHHH", sport, dport, random.randrange(1 << 32)
                      if seq is None else seq, ack, (doff & 15) << 4, flags,
                      65535, 0, 0) + options
    seg = hdr + data
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg) if good_sum else random.randrange(65536)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, data, length=None):
    n = 8 + len(data) if length is None else length
    seg = struct.pack("!HHHH", sport, dport, n & 0xffff, 0) + data
    return seg


def icmp(kind, code, data):
    h = struct.pack("!BBHI", kind, code, 0, random.randrange(1 << 32)) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


def garbage_frames(rng, n):
    """n malformed or hostile IPv4 packets from the client to the
    service, as IP packets (the Ethernet header is added by the
    sender)."""
    src, dst = CLIENT_ADDR, SERVICE_ADDR
    rb = rng.randbytes
    makers = [
        # the IP header itself
        lambda: ipv4(src, dst, 6, rb(40), check=rng.randrange(65536)),
        lambda: ipv4(src, dst, 6, rb(40), ihl=rng.randrange(0, 5)),
        lambda: ipv4(src, dst, 6, rb(20), ihl=15,
                     options=rb(40)),
        lambda: ipv4(src, dst, 6, rb(40), tot_len=rng.randrange(0, 20)),
        lambda: ipv4(src, dst, 6, rb(40), tot_len=rng.randrange(61,
                                                                65536)),
        lambda: ipv4(src, dst, 17, rb(30), version=rng.choice(
            [0, 1, 5, 6, 7, 15])),
        lambda: ipv4(src, dst, rng.randrange(256), rb(rng.randrange(200))),
        lambda: ipv4(src, dst, 6, rb(40), ttl=0),
        lambda: rb(rng.randrange(1, 60)),
        # fragments: a lone middle piece, an overlapping first piece, a
        # tiny first fragment that splits the TCP header
        lambda: ipv4(src, dst, 6, rb(64), ident=rng.randrange(65536),
                     flags_frag=0x2000 | rng.randrange(1, 0x1fff)),
        lambda: ipv4(src, dst, 17, rb(16), ident=4242, flags_frag=0x2000),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, 0x02)[:8],
                     flags_frag=0x2000),
        # TCP: impossible flags, bad offsets, bad sums, to redis and not
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, rng.choice(
                                          [0x00, 0x03, 0x29, 0x3f, 0xff,
                                           0x06, 0x12, 0x14]))),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, 0x18, data=rb(100),
                                      good_sum=False)),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, 0x02,
                                      doff=rng.choice([0, 1, 4, 15]))),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, 0x02, doff=15,
                                      options=rb(40))),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      rng.randrange(1, 65536), 0x02)),
        lambda: ipv4(src, dst, 6, tcp(src, dst, rng.randrange(1024, 65536),
                                      REDIS_PORT, 0x10,
                                      ack=rng.randrange(1 << 32),
                                      data=b"*1\r\n$4\r\nPING\r\n")),
        # UDP (port unreachable), wrong lengths; ICMP echo and junk
        lambda: ipv4(src, dst, 17, udp(src, dst, rng.randrange(1, 65536),
                                       rng.randrange(1, 65536), rb(20))),
        lambda: ipv4(src, dst, 17, udp(src, dst, 5353, REDIS_PORT, rb(20),
                                       length=rng.randrange(65536))),
        lambda: ipv4(src, dst, 1, icmp(8, 0, rb(32))),
        lambda: ipv4(src, dst, 1, icmp(rng.randrange(256),
                                       rng.randrange(256), rb(40))),
    ]
    return [rng.choice(makers)() for _ in range(n)]


SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK = 0x02, 0x01, 0x04, 0x10


class Pkt:
    """One IPv4 frame on the client's eth0: the kernel's time stamp (s,
    CLOCK_REALTIME: only differences are used), whether the client sent
    it, and what identifies it (unparsable parts stay None)."""
    __slots__ = ("t", "out", "proto", "ipid", "sport", "dport", "seq",
                 "ack", "flags", "consumed", "icmp", "inner")

    def __init__(self, t, out, frame):
        self.t, self.out = t, out
        self.sport = self.dport = self.seq = self.ack = None
        self.flags = self.consumed = self.icmp = self.inner = None
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        self.proto = ip[9]
        self.ipid = struct.unpack("!H", ip[4:6])[0]
        tot = struct.unpack("!H", ip[2:4])[0]
        l4 = ip[ihl:]
        if ihl < 20:
            return
        if self.proto == 6 and len(l4) >= 20:
            (self.sport, self.dport, self.seq, self.ack, off,
             self.flags) = struct.unpack("!HHIIBB", l4[:14])
            paylen = max(0, tot - ihl - (off >> 4) * 4)
            self.consumed = paylen + bool(self.flags & TCP_SYN) + \
                bool(self.flags & TCP_FIN)
        elif self.proto == 1 and len(l4) >= 8:
            kind = l4[0]
            if kind in (0, 8):
                self.icmp = (kind, l4[4:8])  # echo: its id and sequence
            else:
                self.icmp = (kind, None)
                inner = l4[8:]
                if len(inner) >= 20:  # an error: the packet it is about
                    self.inner = (struct.unpack("!H", inner[4:6])[0],
                                  inner[9])


class Sniffer:
    """Every IPv4 frame between the client and the service's address on
    the client's eth0, both ways, with the kernel's time stamps (a thread
    reading late does not move them). The socket's buffer is large and
    its drops are counted: a trigger missed would make the check unsound.

    early(d) is the exact check of output commit: every packet from the
    service that answers something the client sent (a TCP segment
    acknowledging a byte, SYN or FIN of the client; a RST answering a
    segment's ack; an echo reply; an ICMP error quoting a packet) came at
    least d s after the client first sent that thing, since the service
    cannot answer before it received it and its answer is held until the
    epoch it was made in is acknowledged. TCP flows whose start the
    sniffer did not see are left out (a retransmission could pass for the
    first send)."""

    def __init__(self, t):
        self.sock = t.socket("client", socket.AF_PACKET, socket.SOCK_RAW,
                             socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE,
                             256 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("eth0", 0))
        self.sock.settimeout(0.1)
        self.cl = socket.inet_aton(CLIENT_ADDR)
        self.svc = socket.inet_aton(SERVICE_ADDR)
        self.pkts = []
        self.drops = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, anc, _, addr = self.sock.recvmsg(
                    65536, socket.CMSG_SPACE(16))
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 34 or \
                    struct.unpack("!H", data[12:14])[0] != ETH_P_IP:
                continue
            src, dst = data[26:30], data[30:34]
            if (src, dst) == (self.cl, self.svc):
                out = True
            elif (src, dst) == (self.svc, self.cl):
                out = False
            else:
                continue
            ts = None
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, ns = struct.unpack("qq", raw[:16])
                    ts = sec + ns / 1e9
            if ts is None:
                continue
            try:
                self.pkts.append(Pkt(ts, out, data[:128]))
            except (IndexError, struct.error):
                pass

    def stop(self):
        """Stops reading; returns the frames the kernel dropped for want
        of room (must be 0 for early() to be sound)."""
        if self._stop.is_set():
            return self.drops
        self._stop.set()
        self.thread.join(5)
        st = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        self.drops += struct.unpack("II", st)[1]
        self.sock.close()
        return self.drops

    def early(self, not_before):
        """(early, matched, unmatched, least): the answers that came
        sooner than not_before s after their trigger, as (delay s, packet,
        trigger); how many answers were matched to a trigger, how many
        not; the least delay of a matched one. Call after stop()."""
        flows = {}
        echo = {}
        by_id = {}
        started = set()
        for p in self.pkts:
            if not p.out:
                continue
            if p.proto == 6 and p.sport is not None:
                flows.setdefault((p.sport, p.dport), []).append(p)
                if p.flags & TCP_SYN and not p.flags & TCP_ACK:
                    started.add((p.sport, p.dport))
            elif p.icmp and p.icmp[0] == 8:
                echo.setdefault(p.icmp[1], p)
            by_id.setdefault((p.ipid, p.proto), p)
        early, matched, unmatched, least = [], 0, 0, float("inf")
        for p in self.pkts:
            if p.out:
                continue
            trig = None
            if p.proto == 6 and p.sport is not None:
                key = (p.dport, p.sport)
                cands = flows.get(key, [])
                if p.flags & TCP_ACK and key in started:
                    trig = next((c for c in cands if c.consumed and 0 <
                                 (p.ack - c.seq) % (1 << 32) <=
                                 c.consumed), None)
                elif p.flags & TCP_RST:
                    trig = next((c for c in cands if c.flags & TCP_ACK and
                                 c.ack == p.seq), None)
            elif p.icmp and p.icmp[0] == 0:
                trig = echo.get(p.icmp[1])
            elif p.icmp and p.inner:
                trig = by_id.get(p.inner)
            if trig is None:
                unmatched += 1
                continue
            matched += 1
            least = min(least, p.t - trig.t)
            if p.t - trig.t < not_before:
                early.append((p.t - trig.t, p, trig))
        return early, matched, unmatched, least


def describe(p):
    if p.proto == 6:
        return (f"TCP {p.sport}->{p.dport} flags {p.flags:#04x} seq "
                f"{p.seq} ack {p.ack} ({p.consumed} consumed)")
    if p.proto == 1:
        return f"ICMP {p.icmp}"
    return f"IP protocol {p.proto} id {p.ipid}"


def wait_connected(socks, timeout, what, logs=lambda: ""):
    """Waits until every non-blocking connect of socks is done; a failed
    one, or one not done within timeout, fails the test."""
    deadline = time.monotonic() + timeout
    pending = list(socks)
    while pending and time.monotonic() < deadline:
        _, w, _ = select.select([], pending, [], 1.0)
        for s in w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise Failure(f"one of the {what} failed: "
                              f"{os.strerror(err)}\n{logs()}")
            pending.remove(s)
    if pending:
        raise Failure(f"{len(pending)} of {len(socks)} {what} not up "
                      f"within {timeout} s\n{logs()}")


def connect_many(t, n, timeout=LIVENESS_S):
    """n connections from the client to the service, made at once (each
    handshake is held like any output); returns them, blocking again."""
    socks = []
    try:
        for _ in range(n):
            s = t.socket("client")
            socks.append(s)
            s.setblocking(False)
            try:
                s.connect((SERVICE_ADDR, REDIS_PORT))
            except BlockingIOError:
                pass
        wait_connected(socks, timeout, "connections to the service")
        for s in socks:
            s.setblocking(True)
            s.settimeout(timeout)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise


def service_mac(t):
    p = t.run("client", "ip", "neigh", "show", SERVICE_ADDR)
    m = re.search(r"lladdr ([0-9a-f:]{17})", p.stdout)
    if not m:
        raise Failure(f"the client has no neighbour entry for "
                      f"{SERVICE_ADDR}: {p.stdout!r}")
    return bytes.fromhex(m[1].replace(":", ""))


def read_replies(r, n, deadline):
    """n replies from Resp r by the monotonic deadline."""
    out = []
    while len(out) < n:
        r.sock.settimeout(max(0.1, deadline - time.monotonic()))
        out.append(r.read())
    return out


def flood(t, rng, not_before, logs=lambda: ""):
    """From the client namespace of topo t, against the service: malformed
    frames, 200 new connections, pipelined requests on 20 open ones (with
    replies of many MiB) and malformed RESP on 5 more, all at once, with
    a redischeck client running through it. Checks, exactly, that no
    packet from the service answered the client sooner than not_before s
    after the client sent what it answers (Sniffer.early), that every
    pipelined reply is complete and right, that malformed RESP gets a
    protocol error, that the new connections all answer PING, and that
    the redischeck client saw no reply sooner than not_before and nothing
    contradicted. Returns a description; raises Failure."""
    try:
        return _flood(t, rng, not_before, logs)
    except (OSError, redischeck.RespError, TimeoutError) as e:
        raise Failure(f"{type(e).__name__}: {e}\n{logs()}")


def _flood(t, rng, not_before, logs):
    sn = chk = own = None
    opened, news = [], []
    try:
        sn = Sniffer(t)
        # 20 connections for pipelining, 5 for malformed RESP, and a
        # value whose GETs make replies past max_held_bytes
        opened = connect_many(t, 25)
        mac = service_mac(t)
        own = t.socket("client", socket.AF_PACKET, socket.SOCK_RAW,
                       socket.htons(ETH_P_IP))
        own.bind(("eth0", 0))
        eth = mac + own.getsockname()[4] + struct.pack("!H", ETH_P_IP)
        big = rng.randbytes(BIG_BYTES)
        if redischeck.Resp(opened[0]).call("SET", "big", big) != "OK":
            raise Failure("SET big did not answer OK")
        chk = checker(t).start()
        chk.wait_replies(1, timeout=LIVENESS_S)
        t0 = time.monotonic()
        pipes, bad = opened[:20], opened[20:]
        per = 50
        for i, s in enumerate(pipes):
            reqs = []
            for k in range(per):
                reqs.append(redischeck.encode("SET", f"f{i}:{k}",
                                              f"{i}-{k}"))
                reqs.append(redischeck.encode("INCR", f"fc{i}"))
                if k % BIG_EVERY == 0:
                    reqs.append(redischeck.encode("GET", "big"))
            s.sendall(b"".join(reqs))
        for s, junk in zip(bad, (b"*abc\r\n",
                                 b"*1\r\n$99999999999999\r\n",
                                 b"*1\r\n$4\r\nPI\r\n\r\n",
                                 rng.randbytes(4096),
                                 b"*3\r\n$3\r\nSET\r\n" * 1000)):
            s.sendall(junk)
        for _ in range(200):
            s = t.socket("client")
            news.append(s)
            s.setblocking(False)
            try:
                s.connect((SERVICE_ADDR, REDIS_PORT))
            except BlockingIOError:
                pass
        frames = garbage_frames(rng, 3000)
        for f in frames:
            own.send(eth + f[:1500])
        flood_s = time.monotonic() - t0
        # every pipelined reply, complete and right
        deadline = time.monotonic() + 2 * LIVENESS_S
        want = []
        for k in range(per):
            want += ["OK", k + 1] + ([big] if k % BIG_EVERY == 0 else [])
        for i, s in enumerate(pipes):
            try:
                got = read_replies(redischeck.Resp(s), len(want), deadline)
            except (OSError, redischeck.RespError) as e:
                raise Failure(f"pipelined connection {i}: {e}\n{logs()}")
            for j, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    raise Failure(f"pipelined connection {i}: reply {j} "
                                  f"is {g!r:.80}, want {w!r:.80}")
        # malformed RESP: a protocol error (then redis closes)
        for j, s in enumerate(bad[:3]):
            s.settimeout(LIVENESS_S)
            try:
                first = redischeck.Resp(s).read()
            except (OSError, redischeck.RespError) as e:
                first = e
            if not isinstance(first, redischeck.ErrorReply):
                raise Failure(f"malformed RESP #{j}: answered "
                              f"{first!r:.100}, want a protocol error")
        # the 200 new connections: all up, each answers PING
        wait_connected(news, LIVENESS_S, "flood connections", logs)
        for s in news:
            s.setblocking(True)
            s.sendall(redischeck.encode("PING"))
        deadline = time.monotonic() + LIVENESS_S
        for i, s in enumerate(news):
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                got = redischeck.Resp(s).read()
            except (OSError, redischeck.RespError) as e:
                got = e
            if got != "PONG":
                raise Failure(f"flood connection {i}: PING answered "
                              f"{got!r}\n{logs()}")
        drops = sn.stop()
        if drops:
            raise Failure(f"the sniffer's socket dropped {drops} frames: "
                          f"the check of what the service sent is "
                          f"incomplete (a harness problem)")
        early, matched, unmatched, least = sn.early(not_before)
        if early:
            d, p, trig = early[0]
            raise Failure(f"{len(early)} of {matched} answers from the "
                          f"service came sooner than {not_before} s after"
                          f" what they answer; the first after {d:.3f} s:"
                          f" {describe(p)}, answering {describe(trig)}\n"
                          f"{logs()}")
        if matched < len(news):
            raise Failure(f"only {matched} answers from the service were "
                          f"matched to what they answer, fewer than the "
                          f"{len(news)} SYN-ACKs: the check is vacuous")
        # the checker went on through it all
        try:
            chk.wait_replies(len(chk.answered()) + 3, timeout=LIVENESS_S)
        except TimeoutError as e:
            raise Failure(f"{e}\n{logs()}")
        chk.stop()
        v = chk.verify()
        quick = [r for r in chk.records
                 if r.recv is not None and r.recv - r.sent < not_before]
        if not v.ok() or quick:
            raise Failure(f"the checker through the flood: {v}; replies "
                          f"sooner than {not_before} s: {quick[:3]}")
        big_kib = len(pipes) * ((per - 1) // BIG_EVERY + 1) * len(big) / \
            1024
        return (f"{len(frames)} malformed packets, {len(news)} new "
                f"connections, {len(pipes)} x {len(want)} pipelined "
                f"requests ({big_kib:.0f} KiB of large replies) and 5 "
                f"malformed RESP streams in {flood_s:.2f} s: {matched} answers from "
                f"the service matched to what they answer, the soonest "
                f"{least:.3f} s after it ({unmatched} unmatched); all replies "
                f"right; the checker: {chk.summary()}")
    finally:
        if sn:
            sn.stop()
        if chk:
            chk.stop(grace=1.0)
            chk.close()
        for s in opened + news + ([own] if own else []):
            s.close()


def bad_input(bindir, paths):
    need_redis()
    rng = random.Random(SEED + 1)
    with Topology() as t:
        c = ServiceCluster(bindir, t, max_held_bytes=FLOOD_MAX_HELD)
        try:
            stats = os.path.join(c.dir, "a.stats")
            c.start_pair(backup_extra=("--inject-ack-delay",
                                       f"{ACK_DELAY_S:g}s"),
                         primary_extra=("--stats", stats))
            a_state = c.last_state("a")
            what = flood(t, rng, NOT_BEFORE_S, c.logs)
            # the primary stayed protected all along, the backup with it
            if c.procs["a"].poll() is not None:
                raise Failure(f"the primary exited\n{c.logs()}")
            moved = [e for e in c.events("a", "state")
                     if e["t_ms"] > a_state["t_ms"]]
            if a_state.get("to") != "protected" or moved:
                raise Failure(f"a's state: {a_state.get('to')}, then "
                              f"{moved}\n{c.logs()}")
            rc_b, rc_a = c.stop("b"), c.stop("a")
            if (rc_a, rc_b) != (0, 0):
                raise Failure(f"SIGTERM: a exited {rc_a}, b {rc_b}\n"
                              f"{c.logs()}")
            # the held packets reached max_held_bytes: epochs started
            # before their tick
            with open(stats) as f:
                early = json.load(f)["early_epochs"]
            if early < 1:
                raise Failure(f"no epoch started early with "
                              f"max_held_bytes {FLOOD_MAX_HELD}\n{c.logs()}")
        finally:
            c.cleanup()
    return (f"max_held_bytes {FLOOD_MAX_HELD}, ack delay {ACK_DELAY_S} s: "
            f"{what}; {early} epochs started early")


TESTS = [
    ("checker-can-fail", checker_can_fail),
    ("topology", topology),
    ("output-commit", output_commit),
    ("failover", failover),
    ("switchover", switchover),
    ("bad-input", bad_input),
]

if __name__ == "__main__":
    main(TESTS, needs_kvm=False, needs_criu=True)
