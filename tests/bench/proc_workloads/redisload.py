#!/usr/bin/env python3
"""redis-server with KEYS keys and a client that writes, for bench_process.py.

  redisload.py KEYS PORT [READY_FILE]

Run as the wrapped command of a [workload] type = process: the service has
its own network namespace with only loopback, so nothing outside can reach
it, and the load must come from inside. Starts redis-server on
127.0.0.1:PORT (no persistence), fills it with KEYS keys of 100-byte values
(DEBUG POPULATE, so the load takes no client round trips), then writes
"ready RSS_KIB" (redis's used_memory_rss) to READY_FILE and stdout.

Then this process becomes the client: it execs bash (~2 MiB resident
where Python would be ~15, as big as a small redis, and dumped with it at
every epoch), which sends INCR on 1000 counter keys (ctr:0..999), one
command at a time over one connection (bash's /dev/tcp), as fast as redis
answers (a closed loop), and prints "progress N T" every 100 ms: N
commands answered, T its CLOCK_REALTIME seconds ($EPOCHREALTIME: bash has
no monotonic clock). So the measured progress is client-observed
throughput of a small, hot write set inside a KEYS-key dataset.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

VALUE_BYTES = 100


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()

    def reply(self):
        line = self.f.readline()
        if not line:
            raise SystemExit("redisload: redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise SystemExit(f"redisload: redis error: {rest.decode()}")
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        raise SystemExit(f"redisload: unexpected reply {line!r}")


def connect(port, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return Conn(port)
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"redisload: redis-server exited "
                                 f"({proc.returncode})")
            if time.monotonic() > deadline:
                raise SystemExit(f"redisload: redis-server does not answer "
                                 f"on 127.0.0.1:{port} after {seconds} s")
            time.sleep(0.05)


def rss_kib(info):
    for line in info.decode().splitlines():
        if line.startswith("used_memory_rss:"):
            return int(line.split(":")[1]) // 1024
    raise SystemExit("redisload: no used_memory_rss in INFO memory")


# The client, $1 the port. Inline commands ("INCR ctr:7\r\n") are valid
# redis protocol; a reply that is not an integer ends it.
CLIENT = r"""
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
n=0
next=$((${EPOCHREALTIME/./} + 100000))
while :; do
	for ((i = 0; i < 64; i++)); do
		printf 'INCR ctr:%d\r\n' $(((n + i) % 1000)) >&3
		read -r reply <&3 || { echo "redisload: redis closed" >&2; exit 1; }
		if [[ $reply != :* ]]; then
			echo "redisload: unexpected reply '$reply'" >&2
			exit 1
		fi
	done
	n=$((n + 64))
	t=$EPOCHREALTIME
	if ((${t/./} >= next)); then
		echo "progress $n $t"
		next=$((next + 100000))
		((next < ${t/./})) && next=$((${t/./} + 100000))
	fi
done
"""


def main():
    keys, port = int(sys.argv[1]), int(sys.argv[2])
    ready = sys.argv[3] if len(sys.argv) > 3 else None
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit("redisload: redis-server is not on PATH (Debian "
                         "package redis-server)")
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--enable-debug-command", "local",
         "--loglevel", "warning", "--daemonize", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    c = connect(port, proc)
    c.call("DEBUG", "POPULATE", keys, "key", VALUE_BYTES)
    got = int(c.call("DBSIZE"))
    if got != keys:
        raise SystemExit(f"redisload: DBSIZE {got} after populating {keys}")
    line = f"ready {rss_kib(c.call('INFO', 'memory'))}"
    if ready:
        with open(ready + ".tmp", "w") as f:
            f.write(line + "\n")
        os.rename(ready + ".tmp", ready)
    print(line, flush=True)
    c.s.close()
    bash = shutil.which("bash") or "/bin/bash"
    os.execv(bash, [bash, "-c", CLIENT, "redisload", str(port)])


if __name__ == "__main__":
    main()
