#!/usr/bin/env python3
"""dictcheck: a workload for `[workload] type = process` that keeps a large
Python dict changing under every dump and checks, after a restore, that
what came back is what was dumped (a CRIU "transition" test as a service).

  dictcheck.py [--mb N] [--seed N] [--interval-ms N] [--corrupt-after N]

It builds a dict of about N MB (default 100): integer keys 0..K-1, each
holding a 1 KiB bytearray of seeded random bytes. Then it loops: change a
few entries (some in place, some replaced by a new object), sleep 2 ms,
and every --interval-ms (default 100) print one line

  sum SEQ HEX ok

SEQ is 1, 2, 3, ... (one more each line, never skipped or repeated);
HEX (16 hex digits) is the dict's checksum as the program expects it: the
sum mod 2^64 of an 8-byte keyed BLAKE2b of every entry, kept up to date
incrementally as entries change. The keys are split into SLICES slices,
each with its expected sum; before each line one slice, in turn, is
recomputed from the dict itself and compared with its expected sum, so
the whole dict is verified every SLICES lines whatever its size, and a
line costs about size/SLICES of hashing. A mismatch (or a key that went
missing, or an entry of the wrong size) prints

  sum SEQ HEX BAD

and the program exits with status 1. Nothing else is ever printed on
stdout or stderr: a test reads every line of its console as one of these.
"""
import argparse
import hashlib
import random
import sys
import time

SLICES = 32  # the whole dict is verified every SLICES lines
VALUE = 1024  # bytes per entry
MASK = (1 << 64) - 1
CHANGES = 8  # entries changed per loop turn


def entry_sum(k, v):
    """An entry's checksum; the key is mixed in, so values that swap
    keys do not cancel out."""
    return int.from_bytes(hashlib.blake2b(
        v, digest_size=8, key=k.to_bytes(8, "little")).digest(), "little")


def slice_of(k, nkeys):
    return k * SLICES // nkeys


def slice_range(s, nkeys):
    """The keys of slice s: those k with slice_of(k) == s."""
    return range(-(-s * nkeys // SLICES), -(-(s + 1) * nkeys // SLICES))


def real_sum(d, s, nkeys):
    """Slice s's sum recomputed from the dict; None if an entry is
    missing or not what this program puts there."""
    total = 0
    for k in slice_range(s, nkeys):
        v = d.get(k)
        if not isinstance(v, bytearray) or len(v) != VALUE:
            return None
        total += entry_sum(k, v)
    return total & MASK


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--corrupt-after", type=int, default=0,
                    help="after line N, change one byte behind the "
                    "checksum's back (a self-test: a BAD line must follow "
                    "within SLICES lines)")
    o = ap.parse_args()
    nkeys = max(SLICES, int(o.mb * (1 << 20)) // VALUE)
    rng = random.Random(o.seed)
    d = {k: bytearray(rng.randbytes(VALUE)) for k in range(nkeys)}
    expect = [0] * SLICES
    for k, v in d.items():
        s = slice_of(k, nkeys)
        expect[s] = (expect[s] + entry_sum(k, v)) & MASK
    state = {"seq": 0, "total": sum(expect) & MASK}
    try:
        return run(o, d, nkeys, expect, rng, state)
    except Exception:
        # A restored dict so broken that checking it raised: still a BAD
        # line (then the traceback, on stderr).
        print(f"sum {state['seq'] + 1} {state['total']:016x} BAD",
              flush=True)
        raise


def run(o, d, nkeys, expect, rng, state):
    seq = 0
    turn = 0  # the slice the next line verifies
    every = o.interval_ms / 1e3
    due = time.monotonic() + every
    while True:
        for _ in range(CHANGES):
            k = rng.randrange(nkeys)
            s = slice_of(k, nkeys)
            old = d[k]
            before = entry_sum(k, old)
            if rng.random() < 0.5:
                at = rng.randrange(VALUE - 8)
                old[at:at + 8] = rng.randbytes(8)  # in place
                new = old
            else:
                new = d[k] = bytearray(rng.randbytes(VALUE))
            expect[s] = (expect[s] - before + entry_sum(k, new)) & MASK
        time.sleep(0.002)
        now = time.monotonic()
        if now < due:
            continue
        # One line per interval, never a burst to catch up: after a freeze
        # or a restore the next line is simply due one interval later.
        due = max(due + every, now)
        seq += 1
        ok = real_sum(d, turn, nkeys) == expect[turn]
        turn = (turn + 1) % SLICES
        total = sum(expect) & MASK
        state["seq"], state["total"] = seq, total
        verdict = "ok" if ok else "BAD"
        sys.stdout.write(f"sum {seq} {total:016x} {verdict}\n")
        sys.stdout.flush()
        if not ok:
            return 1
        if seq == o.corrupt_after:
            d[rng.randrange(nkeys)][0] ^= 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
