/*
 * A synthetic workload (primary/workload.h) for fake_primary: the real
 * primary pipeline over a "guest" that needs no KVM. Its memory is
 * anonymous; TRACKED pages spread over it (the first and the last among
 * them) hold text, and each checkpoint epoch E, before it is captured, the
 * guest "runs": pages (E * CHANGED + k) % TRACKED, k < CHANGED, move to
 * their next version and it prints ticks_per_epoch lines "tick N\n". A
 * page's content at a version is synth_page_fill()'s; the e2e tests
 * recompute a replica from the epoch numbers (test_fake_primary.py).
 *
 * The guest never writes between captures, so a pre-copy harvest after
 * round 0 finds nothing and the sync ends: epoch 1 is the pre-copy of the
 * first backup, epoch 2 its first checkpoint.
 */
#ifndef REMORA_TESTS_SYNTH_H
#define REMORA_TESTS_SYNTH_H

#include <stdint.h>

#include "staged.h"
#include "workload.h"

#define SYNTH_PAGE    4096u
#define SYNTH_TRACKED 16u
#define SYNTH_CHANGED 2u

struct synth {
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t pfn[SYNTH_TRACKED];
	uint64_t version[SYNTH_TRACKED];
	size_t ntracked;
	/* Written since the last harvest or capture; listed by the last
	 * harvest (the next round's pages). */
	uint8_t dirty[SYNTH_TRACKED], harvested[SYNTH_TRACKED];
	uint64_t round_pfns[SYNTH_TRACKED];
	uint64_t ticks_per_epoch, tick;
	struct staged *slots;
	unsigned nslots;
	struct workload_sink sink;
	int paused, held; /* pause() and hold(): no steps while either */
};

/* A page's content at a version: text lines; every fourth version zero. */
void synth_page_fill(uint8_t *p, uint64_t pfn, uint64_t version);

/* 0 or -errno. */
int synth_init(struct synth *s, uint64_t mem_size, uint64_t ticks_per_epoch,
	       unsigned nslots);
void synth_destroy(struct synth *s);
struct workload synth_workload(struct synth *s);

#endif
