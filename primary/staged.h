/*
 * One epoch's payload from capture until its frames have been written:
 * the pages (copied inside the pause for a checkpoint, listed for a
 * pre-copy epoch whose pages are read live), the vCPU and device state,
 * the epoch's console bytes, and the frames the encoder makes of them.
 * Whatever the workload, this is what the pipeline carries; the memory it
 * uses is reserved outside any pause, so that a capture rarely allocates.
 */
#ifndef REMORA_PRIMARY_STAGED_H
#define REMORA_PRIMARY_STAGED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h"

/* An output buffer replaced while frames in it may still be written. */
struct staged_retired {
	struct staged_retired *next;
	uint8_t *buf;
};

/* One epoch from capture until its frames have been written. */
struct staged {
	uint64_t epoch;
	int precopy;	/* pages are read live; no state, no console */
	uint64_t *pfns; /* ascending */
	size_t npages;
	uint8_t *pages;	    /* checkpoint: copies, npages * VM_PAGE_SIZE */
	size_t cap;	    /* pfns capacity, in pages */
	size_t pages_bytes; /* size of the pages mapping */
	uint8_t *state;	    /* VM_STATE_MAX bytes */
	size_t state_len;
	uint8_t *console; /* this epoch's console bytes (malloc()ed) */
	size_t console_len;
	uint64_t console_off;
	/* timings, ns */
	uint64_t pause_ns;   /* guest stopped: pause .. resume returned */
	uint64_t harvest_ns; /* of which: the dirty-log harvest */
	uint64_t copy_ns;    /* of which: copying pages and state */
	uint64_t resumed_ns; /* CLOCK_MONOTONIC when the guest ran again */
	uint64_t encode_ns;  /* encoder_run() */
	/* bytes the capture read from the workload: a VM's copied pages, a
	 * process's dump (CRIU's image files) */
	uint64_t capture_bytes;
	int grown;	    /* its capture grew the slot (inside the pause) */
	uint32_t hot_pages; /* of its pages, hot ones (vm.h) */

	/* Filled by the encoder (encoder.h). */
	uint8_t *out; /* frames, back to back (with gaps) */
	size_t out_len, out_cap;
	size_t *frame_off, *frame_len; /* one entry per frame */
	size_t nframes, frame_cap;
	uint64_t sent_pages; /* pages carried (UNCHANGED ones are not) */
	uint64_t raw_bytes;  /* page bytes before encoding */
	uint64_t wire_bytes; /* frame bytes */
	int err;	     /* encoder failure (negative errno) */

	/*
	 * Streaming: the loop sends an epoch's frames while the encoder still
	 * makes the rest. Under mu: the encoder moving out or the frame
	 * arrays (growth), and ready, the frames complete so far that the
	 * loop may send. The loop alone keeps queued, the frames it has
	 * handed to the connection. An output buffer the encoder replaces is
	 * kept on retired until the slot is reused, as queued frames may lie
	 * in it.
	 */
	pthread_mutex_t mu;
	size_t ready, queued;
	struct staged_retired *retired;
};

int staged_init(struct staged *s);
void staged_destroy(struct staged *s);

/*
 * Makes room for n pages (pfns and, if copies, prefaulted page copies).
 * Called with copies before the first capture so that a pause rarely
 * allocates.
 */
int staged_reserve(struct staged *s, size_t n, int copies);

/*
 * Prefaulted encoder output for an epoch of up to n pages, so that
 * encoding it never grows its output (page faults). Outside any pause, and
 * while no encoder uses s; the encoder grows it itself when an epoch needs
 * more. Returns 0 or -ENOMEM.
 */
int staged_reserve_output(struct staged *s, size_t n);

/* Makes s a pre-copy epoch of these n pages (s must have room for n). */
void staged_set_precopy(struct staged *s, uint64_t epoch, const uint64_t *pfns,
			size_t n);

/*
 * Encoder side: out must grow to cap bytes (its first out_len kept). The
 * old buffer is retired, not freed. 0 or -ENOMEM.
 */
int staged_grow_output(struct staged *s, size_t cap);

/* Empties s for epoch (a capture or a pre-copy fills it afterwards). */
void staged_begin(struct staged *s, uint64_t epoch, int precopy);

#endif
