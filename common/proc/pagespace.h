/*
 * A process workload's page space: where each page of the wrapped process
 * lives in the flat memory the epoch pipeline replicates ([workload]
 * memory bytes, a page per slot), so that the micro-VM's machinery (delta
 * against the last sent copy, pre-copy, the backup's replica) carries a
 * process too. A page is named by its owner (the dumped task's pid in its
 * namespace, or a shared-memory id) and its virtual page number; it keeps
 * its slot from one dump to the next for as long as it exists, so the
 * next epoch's delta is against the same page's last content. Pages gone
 * from a dump give their slots back.
 *
 * Per dump: pagespace_begin(), pagespace_slot() for every page dumped,
 * pagespace_end(). Pure code: no I/O, never exits; allocation only in
 * pagespace_init().
 */
#ifndef REMORA_PROC_PAGESPACE_H
#define REMORA_PROC_PAGESPACE_H

#include <stddef.h>
#include <stdint.h>

struct pagespace_entry;

struct pagespace {
	struct pagespace_entry *tab; /* open addressing, 2^k >= 2 x nslots */
	uint32_t mask;
	uint32_t nslots;
	uint32_t used;	/* slots held */
	uint32_t *free; /* free slots, a stack; lowest on top at start */
	uint32_t nfree;
	uint32_t epoch;	   /* the current dump's number (1, 2, ...) */
	uint32_t assigned; /* this dump: pages given a new slot */
	uint32_t released; /* last pagespace_end(): slots given back */
	uint32_t tombs;	   /* deleted entries still in tab */
};

/* nslots slots (> 0). 0 or -ENOMEM / -EINVAL. */
int pagespace_init(struct pagespace *ps, uint32_t nslots);
void pagespace_free(struct pagespace *ps);

/* A dump starts: every page is unseen until pagespace_slot() names it. */
void pagespace_begin(struct pagespace *ps);

/*
 * The slot of (owner, vpn) in this dump: its slot from the last dump, or a
 * free one (*fresh = 1: its content there is stale). -ENOSPC when every
 * slot is held (the process has more pages than [workload] memory), and
 * -EEXIST when the page was already named in this dump.
 */
long pagespace_slot(struct pagespace *ps, uint32_t owner, uint64_t vpn,
		    int *fresh);

/* The dump ended: pages it did not name give their slots back. Returns
 * how many. */
uint32_t pagespace_end(struct pagespace *ps);

#endif
