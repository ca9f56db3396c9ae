/*
 * The part of an epoch that runs while the guest is stopped (DESIGN.md §4,
 * steps 2-4): pause, harvest the dirty log, copy the dirty pages and the
 * vCPU state aside, close the epoch's console output, resume. Everything
 * else (encoding, sending) happens after the guest runs again.
 *
 * A pre-copy round of the initial sync pauses only to harvest; its pages are
 * read later from live memory (they are sent again if written meanwhile).
 */
#ifndef REMORA_PRIMARY_CAPTURE_H
#define REMORA_PRIMARY_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "copier.h"
#include "outbuf.h"
#include "vm.h"

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

	/* Filled by the encoder (encoder.h). */
	uint8_t *out; /* frames, back to back (with gaps) */
	size_t out_len, out_cap;
	size_t *frame_off, *frame_len; /* one entry per frame */
	size_t nframes, frame_cap;
	uint64_t sent_pages; /* pages carried (UNCHANGED ones are not) */
	uint64_t raw_bytes;  /* page bytes before encoding */
	uint64_t wire_bytes; /* frame bytes */
	int err;	     /* encoder failure (negative errno) */
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

/*
 * Captures checkpoint epoch into s (see above). bitmap and carry:
 * vm_bitmap_bytes() each; carry starts zeroed and keeps the dirty bits of a
 * capture that failed after its harvest, for the next one. Returns 0; or a
 * negative errno with the guest resumed (if it was running) and nothing
 * lost: dirty bits stay in carry, console bytes in the open epoch.
 * stay_paused: leave the guest stopped afterwards (the last epoch). The
 * pages are copied by cp (copier.h).
 */
int capture_checkpoint(struct vm *vm, struct outbuf *ob, struct copier *cp,
		       uint64_t *bitmap, uint64_t *carry, uint64_t epoch,
		       int stay_paused, struct staged *s);

/*
 * Pre-copy: pauses only to harvest into bitmap (with carry, as above).
 * Returns the number of dirty pages or a negative errno.
 */
long capture_harvest(struct vm *vm, uint64_t *bitmap, uint64_t *carry);

/* Lists the set bits of bitmap (npages bits) into pfns; returns how many. */
size_t capture_list(const uint64_t *bitmap, uint64_t npages, uint64_t *pfns);

/*
 * Lists the pages of guest memory that hold data (lseek SEEK_DATA on the
 * memfd); the others are holes, zero on both sides, and need no sending.
 * Reading them would also allocate them.
 */
size_t capture_list_data(int fd, uint64_t npages, uint64_t *pfns);

/* Makes s a pre-copy epoch of these n pages (s must have room for n). */
void staged_set_precopy(struct staged *s, uint64_t epoch, const uint64_t *pfns,
			size_t n);

#endif
