#!/usr/bin/env python3
"""The authenticated replication link ([cluster] key_file, issue 13) with
the real remora-backup and fake_primary (the real primary pipeline over a
synthetic workload): runs without KVM.

  test_auth.py BUILD_DIR fake_primary=PATH

- keyed_sync: both nodes have the key: the backup syncs and acknowledges
  checkpoints as usual; a forger on the primary's port (a raw TCP client
  with no key) sends Hello(term 2, role primary) and Hello(term 2^64-1,
  role primary), before and after a Challenge of its own, and a forged
  frame with a made-up tag: the primary logs one line per forgery, keeps
  its term and keeps being acknowledged; after a SIGKILL of the primary the
  backup goes from replicating to connecting, as it does without a key (a
  promotion needs KVM: test_failover.py);
- forged_primary: a listener at the primary's address answers the backup's
  dial with Hello(term 2^64-1, role primary) and no Challenge: the backup
  logs "did not authenticate", and then syncs from the real primary, whose
  term 1 it would have refused had it taken the forged one;
- wrong_key: a backup with a different key_file is refused: a tag fails,
  the line says so, nothing is acknowledged.
- keyless_backup: a backup without key_file says the primary
  authenticates its frames and that key_file must be set on it too;
- chaos_tagged: through chaos.py's proxy, which must see the Challenge and
  move each later frame with its tag: with no faults the backup syncs; with
  corrupted frames each one fails authentication and closes the connection.
"""
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import FakePrimaryCluster, Failure, main, write_key  # noqa: E402
import wirefmt  # noqa: E402
from wirefmt import CHALLENGE, f_bytes, f_int  # noqa: E402

def hello(term, node="mallory"):
    return wirefmt.hello(term, 64 << 20, node=node)


def challenge():
    return wirefmt.frame(CHALLENGE, f_int(1, 1) + f_bytes(2, os.urandom(32)) +
                 f_int(3, 1))


def cluster(bindir, paths, key=True):
    c = FakePrimaryCluster(bindir, paths["fake_primary"], hb_timeout="1s")
    c.key = os.path.join(c.dir, "cluster.key")
    write_key(c.key, os.urandom(32))
    if key:
        c.add_key_file(c.key)
    return c


def refused(c, name, cause, count=1):
    """Waits for node name's count-th "auth_refused" event of cause."""
    return c.wait_event(name, "auth_refused", count=count, cause=cause)


def forge(port, data, wait=2.0):
    """Connects to the primary's port, sends data, and returns once the
    daemon closed the connection (what it sent back is not looked at)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], 0.1)
            if r:
                try:
                    if s.recv(65536) == b"":
                        return True
                except ConnectionResetError:
                    return True
        return False
    finally:
        s.close()


def keyed_sync(bindir, paths):
    c = cluster(bindir, paths)
    try:
        c.start_synced()
        c.wait_event("a", "acked", count=10, timeout=30)
        port = c.ports["a"]
        # No Challenge: the first frame is the forged Hello.
        for n, term in enumerate((2, (1 << 64) - 1), 1):
            if not forge(port, hello(term)):
                raise Failure(f"the primary kept a forger (term {term}) "
                              f"connected\n{c.logs()}")
            refused(c, "a", "unauthenticated", count=n)
        # A Challenge anyone could send, then the Hello: untagged, then
        # with 16 bytes of made-up tag.
        for n, tail in enumerate((b"", bytes(16)), 1):
            forge(port, challenge() + hello((1 << 64) - 1) + tail)
        ev = refused(c, "a", "bad_tag")
        if "(Hello, " not in ev["why"]:
            raise Failure(f"the forged frame's refusal does not name a "
                          f"Hello: {ev}\n{c.logs()}")
        c.expect_wording({"a": [
            "did not authenticate (is [cluster] key_file set on both "
            "nodes?)", "failed authentication (a different key_file, or "
            "forged)"]})
        if c.procs["a"].poll() is not None:
            raise Failure(f"the primary stopped on a forged Hello\n"
                          f"{c.logs()}")
        acked = len(c.acked())
        c.wait_event("a", "acked", count=acked + 10, timeout=30)
        if c.events("a", "replaced") or \
                any(e["term"] != 1 for e in c.events("a", "state")):
            raise Failure(f"the primary took a forged term\n{c.logs()}")
        # Failure detection is unchanged by the key.
        c.procs["a"]._expected = 1
        c.procs["a"].kill()
        c.wait_event("b", "state", timeout=30, from_="replicating",
                     to="connecting")
        return f"{len(c.acked())} epochs acknowledged, 4 forgeries dropped"
    finally:
        c.cleanup()


def forged_primary(bindir, paths):
    c = cluster(bindir, paths)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", c.ports["a"]))
    srv.listen(4)
    try:
        c.start("b")
        r, _, _ = select.select([srv], [], [], 10)
        if not r:
            raise Failure(f"the backup did not dial\n{c.logs()}")
        conn, _ = srv.accept()
        conn.sendall(hello((1 << 64) - 1, node="a"))
        refused(c, "b", "unauthenticated")
        conn.close()
        srv.close()
        srv = None
        # The real primary, term 1: the backup syncs from it.
        c.start_fake_primary()
        c.wait_listening("a")
        c.wait_synced()
        c.wait_replica(timeout=30)
        return "the backup ignored a forged term and synced from term 1"
    finally:
        if srv:
            srv.close()
        c.cleanup()


def wrong_key(bindir, paths):
    c = cluster(bindir, paths)
    other = os.path.join(c.dir, "other.key")
    other_conf = os.path.join(c.dir, "other.conf")
    write_key(other, os.urandom(32))
    with open(c.config) as f:
        t = f.read()
    with open(other_conf, "w") as f:
        f.write(t.replace(f"key_file = {c.key}", f"key_file = {other}"))
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start("b", config=other_conf)
        refused(c, "a", "bad_tag")
        time.sleep(1)
        if c.acked():
            raise Failure(f"a backup with another key was acknowledged"
                          f"\n{c.logs()}")
        return "refused"
    finally:
        c.cleanup()


def keyless_backup(bindir, paths):
    c = cluster(bindir, paths)
    plain = os.path.join(c.dir, "plain.conf")
    with open(c.config) as f:
        t = f.read()
    with open(plain, "w") as f:
        f.write(t.replace(f"key_file = {c.key}\n", ""))
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start("b", config=plain)
        refused(c, "b", "keyless")
        c.expect_wording({"b": ["authenticates its frames: set [cluster] "
                                "key_file on this node too"]})
        if c.acked():
            raise Failure(f"a backup without the key was acknowledged"
                          f"\n{c.logs()}")
        return "refused"
    finally:
        c.cleanup()


def chaos_tagged(bindir, paths):
    from chaos import ChaosProxy
    c = cluster(bindir, paths)
    via = os.path.join(c.dir, "via-proxy.conf")
    port = c.ports["a"]
    proxy = ChaosProxy(0, ("127.0.0.1", port), seed=1, rate=0.0).start()
    with open(c.config) as f:
        t = f.read()
    with open(via, "w") as f:
        f.write(t.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy.port}", 1))
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start("b", config=via)
        c.wait_synced()
        c.wait_event("a", "acked", count=20, timeout=30)
        proxy.rate, proxy.kinds = 0.2, ("corrupt",)
        refused(c, "b", "bad_tag")
        return f"synced through the proxy; {dict(proxy.counts)} caught"
    finally:
        proxy.stop()
        c.cleanup()


if __name__ == "__main__":
    main([("keyed_sync", keyed_sync), ("forged_primary", forged_primary),
          ("wrong_key", wrong_key), ("keyless_backup", keyless_backup),
          ("chaos_tagged", chaos_tagged)],
         needs_kvm=False)
