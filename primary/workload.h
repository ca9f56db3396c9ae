/*
 * The workload as the epoch engine (core.c) sees it: something that can be
 * paused, captured into a pipeline slot, and listed for the initial sync.
 * The micro-VM (vmwork.c) is one implementation; tests drive the core with
 * a fake one. Every call is synchronous and runs on the loop thread: a
 * checkpoint's pause is exactly the capture call.
 */
#ifndef REMORA_PRIMARY_WORKLOAD_H
#define REMORA_PRIMARY_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

struct workload_ops {
	/*
	 * Captures checkpoint epoch into slot: pause, harvest, copy, resume
	 * (final: stay paused, it is the last). 0, or a negative errno with
	 * nothing lost (the next capture carries what this one harvested).
	 */
	int (*capture)(void *w, unsigned slot, uint64_t epoch, int final);
	/* Pre-copy: what changed since the last harvest; pages or -errno. */
	long (*harvest)(void *w);
	/* Lists a round's pages: every page holding data (all), or those the
	 * last harvest found. Returns how many. */
	size_t (*list)(void *w, int all);
	/* The last harvest's pages go to the first checkpoint instead. */
	void (*defer)(void *w);
	/* Stages listed pages [pos, pos + n) as pre-copy epoch in slot. */
	int (*stage)(void *w, unsigned slot, uint64_t epoch, size_t pos,
		     size_t n);
	/* Reserves every slot's copies for a typical epoch (outside any
	 * pause; a no-op once done). 0 or -ENOMEM. */
	int (*reserve)(void *w);
	/* Stops / restarts the guest (0 or -errno; stopping twice is fine). */
	int (*pause)(void *w);
	int (*resume)(void *w);
};

struct workload {
	const struct workload_ops *ops;
	void *w;
};

#endif
