/*
 * The workload as the epoch engine (core.c) sees it: something that can be
 * paused, captured into a pipeline slot, and listed for the initial sync.
 * The micro-VM (vmwork.c) is one implementation; fake_primary runs the
 * same pipeline over a synthetic one (tests/e2e), and the core's unit test
 * over a fake. Every call but memory() is synchronous and runs on the loop
 * thread: a checkpoint's pause is exactly the capture call.
 */
#ifndef REMORA_PRIMARY_WORKLOAD_H
#define REMORA_PRIMARY_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

struct netout;
struct outbuf;
struct staged;

/* Exit statuses of a guest that did not exit by itself (remora-primary's
 * too): it aborted, crashed, or the workload failed it. */
#define WORKLOAD_EXIT_ABORTED 134
#define WORKLOAD_EXIT_CRASHED 139
#define WORKLOAD_EXIT_FAILED  70

/* What the primary gives its workload before anything runs. */
struct workload_sink {
	/* Console output goes here, held until its epoch is acknowledged;
	 * a capture closes the epoch's part of it. */
	struct outbuf *ob;
	/* The guest ended by itself (from any thread). */
	void (*ended)(void *arg);
	/* A capture or harvest that said -EINPROGRESS is done (from any
	 * thread): call it again for its result. */
	void (*ready)(void *arg);
	void *arg;
};

struct workload_ops {
	void (*bind)(void *w, const struct workload_sink *sink);
	/* Runs the guest: 0, or -errno with error() saying why. */
	int (*start)(void *w);
	/* After sink->ended: the process's exit status, and why in one line
	 * (why is empty for a clean exit). */
	int (*ended)(void *w, char *why, size_t len);
	/* The last error, one line. */
	const char *(*error)(void *w);
	/* Slot's staged epoch (staged.h), for the encoder and the sender. */
	struct staged *(*staged)(void *w, unsigned slot);
	/* The memory pre-copy pages are read from, live (mem_size bytes;
	 * read by the encoder's worker thread). */
	const uint8_t *(*memory)(void *w);

	/*
	 * Captures checkpoint epoch into slot: pause, harvest, copy, resume
	 * (final: stay paused, it is the last). 0, or a negative errno with
	 * nothing lost (the next capture carries what this one harvested).
	 * A workload whose pause is long (a process: a CRIU dump) may start
	 * it and say -EINPROGRESS; it calls sink->ready when it is done, and
	 * the next call (same epoch) takes the result.
	 */
	int (*capture)(void *w, unsigned slot, uint64_t epoch, int final);
	/* Pre-copy: what changed since the last harvest; pages or -errno
	 * (-EINPROGRESS as for capture). A VM leaves out its hot pages,
	 * which every checkpoint copies anyway (vm.h); list() has them. */
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
	/*
	 * Holds the guest stopped while on, whatever pause() and resume()
	 * say, and releases it (if nothing else stops it) when off: output
	 * commit's backpressure, the held output being at its bound. A
	 * capture or a harvest leaves a held guest stopped.
	 */
	int (*hold)(void *w, int on);
	/* While it runs: pages the next capture would copy so far (changes
	 * nothing), or -errno. NULL: not known (a process). */
	long (*dirty_now)(void *w);
};

struct workload {
	const struct workload_ops *ops;
	void *w;
	/* The packets it sends, held like its console output (a process
	 * workload with [service]; its capture closes the gate's epoch), or
	 * NULL: it has no network. */
	struct netout *net;
	uint64_t mem_size;  /* bytes of memory the sync sends */
	uint32_t page_size; /* its page size, as the wire says */
	/* pages one capture copies without allocating; 0: no such bound */
	size_t epoch_pages;
};

#endif
