#!/usr/bin/env python3
"""The replication link inside TLS ([cluster] tls_certificate,
tls_private_key, tls_ca) with the real remora-backup and fake_primary (the
real primary pipeline over a synthetic workload): runs without KVM. The
certificates are made with the openssl commands docs/operations.md gives
("TLS instead of a key"); without the openssl CLI the test fails, saying
that scripts/setup installs it.

  test_tls.py BUILD_DIR fake_primary=PATH

- tls_sync: both nodes have certificates of the cluster's CA: the backup
  syncs, reaches replicating and acknowledges checkpoints; after a SIGKILL
  of the primary it goes from replicating to connecting, as without TLS;
- other_ca: a backup whose certificate (and CA) is another CA's is
  refused: both sides emit "auth_refused" with cause "tls", and nothing is
  acknowledged.
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import FakePrimaryCluster, Failure, main  # noqa: E402


def openssl(*args, cwd):
    if not shutil.which("openssl"):
        raise Failure("the openssl command is missing; scripts/setup "
                      "installs it (package openssl)")
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True)
    if r.returncode:
        raise Failure(f"openssl {' '.join(args)}: {r.stderr.decode()}")


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_node(d, node, ca, out):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{out}.key", "-out", f"{out}.csr", "-subj",
            f"/CN={node}", cwd=d)
    with open(os.path.join(d, f"{out}.ext"), "w") as f:
        f.write(f"subjectAltName=DNS:{node}\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", f"{out}.csr", "-CA", f"{ca}.pem",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{out}.ext", "-out", f"{out}.pem", cwd=d)
    os.chmod(os.path.join(d, f"{out}.key"), 0o600)


def tls_lines(d, cert, ca):
    return (f"tls_certificate = {d}/{cert}.pem\n"
            f"tls_private_key = {d}/{cert}.key\n"
            f"tls_ca = {d}/{ca}.pem\n")


def cluster(bindir, paths):
    """A cluster whose config gives node a's certificate (what
    fake_primary reads), and b.conf, the same with node b's."""
    c = FakePrimaryCluster(bindir, paths["fake_primary"], hb_timeout="1s")
    c.pki = os.path.join(c.dir, "pki")
    os.mkdir(c.pki)
    make_ca(c.pki, "ca")
    make_ca(c.pki, "other-ca")
    make_node(c.pki, "a", "ca", "a")
    make_node(c.pki, "b", "ca", "b")
    make_node(c.pki, "b", "other-ca", "b-other")
    text = c.text(c.config)
    if text.count("[cluster]\n") != 1:
        raise Failure(f"unexpected config layout: {c.config}")
    c.conf_for = {}
    for name, cert, ca in (("a", "a", "ca"), ("b", "b", "ca"),
                           ("b-other", "b-other", "other-ca")):
        path = c.config if name == "a" else \
            os.path.join(c.dir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(text.replace("[cluster]\n", "[cluster]\n" +
                                 tls_lines(c.pki, cert, ca)))
        c.conf_for[name] = path
    return c


def tls_sync(bindir, paths):
    c = cluster(bindir, paths)
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start("b", config=c.conf_for["b"])
        c.wait_synced()
        c.wait_replica(timeout=30)
        c.wait_event("a", "acked", count=20, timeout=30)
        if c.events("a", "auth_refused") or c.events("b", "auth_refused"):
            raise Failure(f"a refusal in a good TLS cluster\n{c.logs()}")
        c.procs["a"]._expected = 1
        c.procs["a"].kill()
        c.wait_event("b", "state", timeout=30, from_="replicating",
                     to="connecting")
        return f"{len(c.acked())} epochs acknowledged over TLS"
    finally:
        c.cleanup()


def other_ca(bindir, paths):
    c = cluster(bindir, paths)
    try:
        c.start_fake_primary()
        c.wait_listening("a")
        c.start("b", config=c.conf_for["b-other"])
        ev = c.wait_event("b", "auth_refused", cause="tls")
        c.wait_event("a", "auth_refused", cause="tls")
        if "certificate verify failed" not in ev["why"]:
            raise Failure(f"the backup's refusal does not say the "
                          f"certificate failed: {ev}\n{c.logs()}")
        time.sleep(1)
        if c.acked() or c.events("b", "state", to="replicating"):
            raise Failure(f"a backup of another CA was acknowledged"
                          f"\n{c.logs()}")
        c.expect_wording({"b": ["TLS handshake failed: certificate verify "
                                "failed (unable to get local issuer "
                                "certificate)"]})
        return "refused on both sides"
    finally:
        c.cleanup()


if __name__ == "__main__":
    main([("tls_sync", tls_sync), ("other_ca", other_ca)], needs_kvm=False)
