#!/usr/bin/env python3
"""A Python service holding a dict of MIB MiB, for bench_process.py.

  dictload.py MIB busy|idle [READY_FILE]

Builds a dict of MIB MiB of 1 KiB bytearray values (pseudo-random bytes,
so LZ4 gets no free win), then writes "ready RSS_KIB" to READY_FILE (the
benchmark waits on it: the service runs in its own namespaces but sees the
same files) and to stdout.

busy: mutates one byte at a time in a hot set of 1 MiB of the values (the
first 1024 keys), round and round, and prints "progress N T" every 100 ms:
N mutations so far, T its CLOCK_REALTIME seconds (as redisload.py's bash
client, which has no other clock), so a rate can be taken over any window.
Time spent frozen counts: it is what protection costs.
idle: never touches the dict again and prints nothing; it sleeps.
"""
import os
import random
import sys
import time

VALUE = 1024  # bytes per value
HOT = 1024    # values in the hot set: 1 MiB
BATCH = 4096  # mutations between looks at the clock


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def main():
    mib, mode = int(sys.argv[1]), sys.argv[2]
    ready = sys.argv[3] if len(sys.argv) > 3 else None
    rng = random.Random(mib)
    d = {k: bytearray(rng.randbytes(VALUE))
         for k in range(mib * (1 << 20) // VALUE)}
    line = f"ready {rss_kib()}"
    if ready:
        with open(ready + ".tmp", "w") as f:
            f.write(line + "\n")
        os.rename(ready + ".tmp", ready)
    print(line, flush=True)
    if mode == "idle":
        while True:
            time.sleep(3600)
    hot = min(HOT, len(d))
    n = base = 0
    next_print = time.monotonic() + 0.1
    while True:
        for j in range(BATCH):
            v = d[(base + j) % hot]
            p = (j * 61) & (VALUE - 1)
            v[p] = (v[p] + 1) & 255
        n += BATCH
        base += BATCH + 1
        t = time.monotonic()
        if t >= next_print:
            print(f"progress {n} {time.time():.6f}", flush=True)
            next_print += 0.1
            if next_print < t:
                next_print = t + 0.1


if __name__ == "__main__":
    main()
