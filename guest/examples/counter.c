/*
 * counter: the output-continuity witness for failover tests. It prints
 * "tick N" for N = 1, 2, ... at start + N * interval on the monotonic clock.
 * The tick count lives in guest memory, so a snapshot carries it: after a
 * restore or a failover the next line printed must be the next tick, with
 * none lost and none repeated.
 *
 *   counter [--interval MS] [--count N] [--linger]
 *
 * --interval: 100 ms by default. --count: 0 (the default) ticks forever;
 * after N ticks the program ends, or with --linger keeps running silently
 * (a service that has gone quiet: tests that need the output to stop while
 * the guest lives on).
 */
#include "remora.h"

/* Written every tick; volatile keeps it in memory, not in a register. */
static volatile uint64_t ticks;

static int usage(void)
{
	printf("usage: counter [--interval MS] [--count N] [--linger]\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t interval_ms = 100, count = 0, start, n;
	int linger = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--interval")) {
			if (!remora_parse_u64(argv[++i], &interval_ms))
				return usage();
		} else if (!strcmp(argv[i], "--count")) {
			if (!remora_parse_u64(argv[++i], &count))
				return usage();
		} else if (!strcmp(argv[i], "--linger")) {
			linger = 1;
		} else {
			return usage();
		}
	}

	start = remora_monotonic_ns();
	while (count == 0 || ticks < count) {
		n = ticks + 1;
		remora_sleep_until(start + n * interval_ms * 1000000);
		ticks = n;
		printf("tick %llu\n", (unsigned long long)n);
	}
	while (linger)
		remora_sleep_until(remora_monotonic_ns() + 3600000000000ull);
	return 0;
}
