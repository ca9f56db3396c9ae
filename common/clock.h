/*
 * The one monotonic clock every daemon, library and benchmark reads, so
 * that durations computed in different modules (a pause measured by the
 * capture, its Ack latency measured by the pipeline) are comparable.
 */
#ifndef REMORA_CLOCK_H
#define REMORA_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds: never jumps with the wall clock. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
