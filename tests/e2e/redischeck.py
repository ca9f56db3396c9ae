#!/usr/bin/env python3
"""A redis client that checks what a protected redis promised (issue 15).

It keeps ONE TCP connection to the service and, one request at a time
(nothing pipelined), alternates

  INCR PREFIX:counter          the reply is the counter's new value
  SET  PREFIX:key:N VALUE      VALUE unique to this run and N

and records every reply it received: those are the acknowledged requests,
which the world has seen and which a failover must keep. A request whose
reply never came (the connection broke under it, or stayed silent for
`timeout` seconds) is indeterminate: it may or may not have been applied.
When the connection breaks it notes it, reconnects and goes on.

Checked as the replies come (each a contradiction when it fails):

- an INCR reply is an integer and exactly the previous INCR reply + 1 +
  at most the number of indeterminate INCRs in between (no value seen
  twice, none going back, none skipped that nobody sent);
- a SET reply is +OK.

verify(), after the failover (on the same connection, or a new one if it
broke), reads the counter and every key this run ever set with one MGET:

- counter >= the last INCR reply (else acknowledged increments were lost)
  and <= it + the indeterminate INCRs after it (else increments appeared
  that nobody sent, or one was applied twice);
- every acknowledged SET is there with its value (missing: lost; another
  value: contradicted), an indeterminate one is absent or has its value,
  and the key after the last one sent is absent.

outage(t) measures, from a moment t (the kill, time.monotonic(), the
clock of the daemons' events), the time to the first reply received after
it (or after another moment, e.g. the backup's decision, so that a reply
released before the kill and still on the wire is not counted) and
whether that reply came on the connection in use at t.

Liveness timeouts are generous (30 s by default); the checks are exact.

  redischeck.py HOST [PORT] [--seconds S]   (a standalone run, then verify)
"""
import argparse
import os
import socket
import sys
import threading
import time

DEFAULT_TIMEOUT = 30.0


class RespError(Exception):
    """A reply that is not RESP, or the connection's end mid-reply."""


class ErrorReply:
    """A RESP error reply (-ERR ...): a value, not an exception."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"-{self.text}"

    def __eq__(self, other):
        return isinstance(other, ErrorReply) and other.text == self.text


def encode(*args):
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """One RESP connection over a connected socket (its timeout is the
    socket's)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RespError("the server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > 1 << 20:
                raise RespError("a reply line longer than 1 MiB")
            self._fill()

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, end = self.buf[:n], self.buf[n:n + 2]
        self.buf = self.buf[n + 2:]
        if end != b"\r\n":
            raise RespError(f"bulk string of {n} bytes not followed by "
                            f"CRLF: {end!r}")
        return data

    def read(self):
        """One reply: str (simple), int, bytes or None (bulk), list, or an
        ErrorReply."""
        line = self._line()
        if not line:
            raise RespError("an empty reply line")
        kind, rest = line[:1], line[1:]
        try:
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                return ErrorReply(rest.decode("utf-8", "replace"))
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else self._bytes(n)
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [self.read() for _ in range(n)]
        except ValueError:
            pass
        raise RespError(f"not a RESP reply: {line[:100]!r}")

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.read()


class Record:
    """One request: kind incr or set, its sequence number n, the value
    sent (set), when it was sent and answered (monotonic s; recv None:
    no reply), on which connection, and the reply."""
    __slots__ = ("kind", "n", "value", "sent", "recv", "conn", "reply")

    def __init__(self, kind, n, value, sent, conn):
        self.kind, self.n, self.value = kind, n, value
        self.sent, self.conn = sent, conn
        self.recv = self.reply = None

    def __repr__(self):
        return (f"{self.kind} #{self.n} on conn {self.conn} sent "
                f"{self.sent:.3f} reply {self.reply!r} at "
                f"{self.recv if self.recv is None else round(self.recv, 3)}")


class Checker:
    """The client; connect() returns a connected socket (its timeout is
    set here). start() runs it in a thread, stop() ends it."""

    def __init__(self, connect, timeout=DEFAULT_TIMEOUT, prefix=None):
        self.connect_fn = connect
        self.timeout = timeout
        self.prefix = prefix or f"rc{os.getpid()}x{os.urandom(4).hex()}"
        self.counter_key = f"{self.prefix}:counter"
        self.records = []  # every request, in order
        self.breaks = []  # (monotonic s, conn, why)
        self.connects = []  # (monotonic s, conn)
        self.contradictions = []  # text, one per contradiction
        self.errors = []  # connect failures etc. (text)
        self.conn = 0  # the current connection's number (1, 2, ...)
        self._resp = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._last_incr = None  # last INCR reply (int)
        self._pending_incr = 0  # indeterminate INCRs since it

    def key(self, n):
        return f"{self.prefix}:key:{n}"

    # --- running --------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self, grace=None):
        """Ends the loop once the request in flight is answered (at most
        grace s, the liveness timeout by default; then the connection is
        shut down and that request is indeterminate)."""
        self._stop.set()
        if not self._thread:
            return
        self._thread.join(self.timeout if grace is None else grace)
        if self._thread.is_alive():
            r = self._resp
            if r:
                try:
                    r.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._thread.join(self.timeout)
        if self._thread.is_alive():
            raise RuntimeError("the checker's thread does not end")

    def close(self):
        if self._resp:
            self._resp.close()
            self._resp = None

    def _connect(self):
        """Until connected (the liveness timeout per attempt) or stopped;
        a connection that could not be made is an error."""
        t0 = time.monotonic()
        while not self._stop.is_set():
            try:
                s = self.connect_fn()
                s.settimeout(self.timeout)
                with self._lock:
                    self.conn += 1
                    self._resp = Resp(s)
                    self.connects.append((time.monotonic(), self.conn))
                return True
            except OSError as e:
                if time.monotonic() - t0 > self.timeout:
                    self.errors.append(f"no connection for "
                                       f"{time.monotonic() - t0:.1f} s: "
                                       f"{e}")
                    t0 = time.monotonic()
                time.sleep(0.05)
        return False

    def _run(self):
        n = 0
        while not self._stop.is_set():
            if self._resp is None and not self._connect():
                return
            n += 1
            if n % 2:
                rec = Record("incr", n, None, 0.0, self.conn)
                args = ("INCR", self.counter_key)
            else:
                rec = Record("set", n, f"v{n}-{os.urandom(6).hex()}", 0.0,
                             self.conn)
                args = ("SET", self.key(n), rec.value)
            rec.sent = time.monotonic()
            with self._lock:
                self.records.append(rec)
            try:
                reply = self._resp.call(*args)
            except (OSError, RespError) as e:
                # socket.timeout is an OSError: silence for `timeout` s
                why = "no reply for %.0f s" % self.timeout \
                    if isinstance(e, socket.timeout) else str(e) or \
                    type(e).__name__
                with self._lock:
                    self.breaks.append((time.monotonic(), self.conn, why))
                    if rec.kind == "incr":
                        self._pending_incr += 1
                self._resp.close()
                self._resp = None
                continue
            t = time.monotonic()
            with self._lock:
                rec.recv, rec.reply = t, reply
                self._judge(rec)

    def _judge(self, rec):
        """The checks made as a reply comes (under the lock)."""
        if rec.kind == "set":
            if rec.reply != "OK":
                self.contradictions.append(f"{rec}: SET did not answer OK")
            return
        v = rec.reply
        if not isinstance(v, int) or isinstance(v, bool):
            self.contradictions.append(f"{rec}: INCR did not answer an "
                                       f"integer")
            self._pending_incr += 1  # applied or not: unknown
            return
        last, pend = self._last_incr, self._pending_incr
        if last is None:
            ok = 1 <= v <= 1 + pend
            want = f"1..{1 + pend}"
        else:
            ok = last + 1 <= v <= last + 1 + pend
            want = f"{last + 1}..{last + 1 + pend}"
        if not ok:
            what = "seen before" if last is not None and v <= last else \
                "skipped values nobody sent"
            self.contradictions.append(
                f"{rec}: INCR answered {v}, want {want} (last reply "
                f"{last}, {pend} indeterminate since): {what}")
        if last is None or v > last:
            self._last_incr = v
        self._pending_incr = 0

    # --- reading what happened ---------------------------------------------

    def answered(self, after=0.0):
        """The requests answered after monotonic time `after`."""
        with self._lock:
            return [r for r in self.records
                    if r.recv is not None and r.recv > after]

    def wait_replies(self, count, after=0.0, timeout=None, what=None):
        """Until count replies arrived after `after`; returns the
        count-th. Raises TimeoutError (with what was seen)."""
        deadline = time.monotonic() + (timeout or 2 * self.timeout)
        while True:
            got = self.answered(after)
            if len(got) >= count:
                return got[count - 1]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what or 'the checker'}: {len(got)} of {count} "
                    f"replies after {after:.3f} within "
                    f"{timeout or 2 * self.timeout:.0f} s; "
                    f"{self.summary()}")
            if self._thread and not self._thread.is_alive():
                raise TimeoutError(f"the checker's thread ended; "
                                   f"{self.summary()}")
            time.sleep(0.01)

    def conn_at(self, t):
        """The connection in use at monotonic time t (0: none yet)."""
        with self._lock:
            c = [n for when, n in self.connects if when <= t]
        return c[-1] if c else 0

    def outage(self, t_kill, after=None):
        """(ms from t_kill to the first reply received after max(t_kill,
        after), whether it came on the connection in use at t_kill with
        no break between); (None, None) if there is none yet."""
        start = max(t_kill, after or t_kill)
        got = self.answered(start)
        if not got:
            return None, None
        first = got[0]
        conn = self.conn_at(t_kill)
        with self._lock:
            broke = [b for b in self.breaks if t_kill < b[0] <= first.recv]
        same = first.conn == conn and not broke
        return (first.recv - t_kill) * 1e3, same

    def broke_after(self, t):
        with self._lock:
            return [b for b in self.breaks if b[0] > t]

    def summary(self):
        with self._lock:
            rs = list(self.records)
            answered = sum(1 for r in rs if r.recv is not None)
            return (f"{len(rs)} requests, {answered} answered, "
                    f"{self.conn} connection(s), {len(self.breaks)} "
                    f"break(s) {[b[2] for b in self.breaks][:3]}, "
                    f"{len(self.contradictions)} contradiction(s), last "
                    f"INCR {self._last_incr}")

    # --- after the failover ---------------------------------------------

    def verify(self):
        """Reads the counter and every key set, one MGET (on the current
        connection, or a new one), once stopped. Returns a Verdict."""
        if self._thread and self._thread.is_alive():
            raise RuntimeError("verify() while the checker runs")
        v = Verdict()
        with self._lock:
            rs = list(self.records)
            last, pend = self._last_incr, self._pending_incr
            v.contradictions = list(self.contradictions)
        sets = [r for r in rs if r.kind == "set"]
        last_n = max((r.n for r in rs), default=0)
        keys = [self.counter_key] + [self.key(r.n) for r in sets] + \
            [self.key(last_n + 2)]
        reply = None
        for attempt in range(2):
            if self._resp is None:
                self._stop.clear()
                ok = self._connect()
                self._stop.set()
                if not ok:
                    break
            try:
                reply = self._resp.call("MGET", *keys)
                break
            except (OSError, RespError) as e:
                v.notes.append(f"verify: {e} (attempt {attempt + 1})")
                self._resp.close()
                self._resp = None
        if not isinstance(reply, list) or len(reply) != len(keys):
            v.failed = f"MGET of {len(keys)} keys answered {reply!r:.200}"
            return v
        counter, got, absent = reply[0], reply[1:-1], reply[-1]
        v.counter = counter
        v.last_incr = last
        acked_incr = last is not None
        if counter is None:
            if acked_incr:
                v.lost.append(f"counter is gone; its last INCR reply was "
                              f"{last}")
        else:
            try:
                c = int(counter)
            except ValueError:
                c = None
                v.contradictions.append(f"counter is {counter!r}, not a "
                                        f"number")
            if c is not None:
                base = last or 0
                if acked_incr and c < last:
                    v.lost.append(f"counter {c} below its last INCR reply "
                                  f"{last}")
                elif c > base + pend:
                    v.contradictions.append(
                        f"counter {c} above its last INCR reply {last} + "
                        f"{pend} indeterminate INCR(s)")
        for r, g in zip(sets, got):
            want = r.value.encode()
            if r.reply == "OK":
                v.acked_sets += 1
                if g is None:
                    v.lost.append(f"{self.key(r.n)} (acknowledged "
                                  f"{r.recv:.3f}) is gone")
                elif g != want:
                    v.contradictions.append(f"{self.key(r.n)} is {g!r}, "
                                            f"acknowledged {want!r}")
            elif g is not None and g != want:
                v.contradictions.append(f"{self.key(r.n)} (indeterminate)"
                                        f" is {g!r}, sent {want!r}")
        if absent is not None:
            v.contradictions.append(f"{self.key(last_n + 2)}, never sent, "
                                    f"is {absent!r}")
        return v


class Verdict:
    """What verify() found: lost (acknowledged writes gone, one text
    each), contradictions (answers that contradict acknowledged ones or
    each other, including those seen while running), failed (verify got
    no usable answer)."""

    def __init__(self):
        self.lost = []
        self.contradictions = []
        self.notes = []
        self.failed = None
        self.counter = None
        self.last_incr = None
        self.acked_sets = 0

    @property
    def acked_lost(self):
        return len(self.lost)

    @property
    def contradicted(self):
        return len(self.contradictions)

    def ok(self):
        return not (self.lost or self.contradictions or self.failed)

    def __str__(self):
        if self.failed:
            return f"verify failed: {self.failed}"
        head = (f"counter {self.counter!r} (last INCR reply "
                f"{self.last_incr}), {self.acked_sets} acknowledged SETs; "
                f"{self.acked_lost} acknowledged lost, {self.contradicted} "
                f"contradicted")
        details = self.lost[:5] + self.contradictions[:5]
        return head + ("".join(f"\n  {d}" for d in details))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", nargs="?", type=int, default=6379)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    o = ap.parse_args()
    c = Checker(lambda: socket.create_connection((o.host, o.port),
                                                 o.timeout),
                timeout=o.timeout)
    c.start()
    time.sleep(o.seconds)
    c.stop()
    v = c.verify()
    c.close()
    print(c.summary())
    print(v)
    return 0 if v.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
