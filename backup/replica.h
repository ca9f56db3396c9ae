/*
 * The backup's replica: guest memory in a memfd plus the vCPU state blob of
 * the last applied epoch and the console output not yet released, and the
 * staging area an epoch is received into (DESIGN.md §5).
 *
 * An epoch is decoded into staging as its batches arrive; at its commit the
 * page count and checksum are verified and only then are the pages copied
 * into the replica, in one step on one thread: the replica is always exactly
 * the primary at some epoch boundary, never a mix. A discarded epoch leaves
 * no trace.
 *
 * A sync (a new primary connection) builds a second memfd from pre-copy
 * epochs; it replaces the current replica when its first checkpoint epoch
 * commits, so the last good replica survives a sync that never finishes.
 *
 * What a primary can make it hold is bounded by the guest memory size
 * (docs/wire.md, "What the backup holds"): an epoch's pages by the guest's
 * pages (each at most once), its vCPU state by VM_STATE_MAX, and console
 * output -- the epoch in staging plus the tail of applied epochs the primary
 * has not reported released -- by console_max. Past a bound the epoch is
 * refused with the bound named, and the replica is untouched.
 *
 * No libuv, never exits: every function returns 0 or a negative errno with
 * one line in err.
 */
#ifndef REMORA_BACKUP_REPLICA_H
#define REMORA_BACKUP_REPLICA_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

struct replica_stage {
	int open;
	uint64_t epoch;
	int precopy;
	uint64_t *pfns;	  /* in arrival order (ascending within a batch) */
	uint8_t *pages;	  /* checkpoint: decoded pages, n * page size */
	size_t n, cap;	  /* pages so far; capacity of pfns */
	size_t pages_cap; /* capacity of pages, in pages */
	uint64_t grown;	  /* times pages grew inside a receive */
	uint64_t *seen;	  /* bitmap: pfns already in this epoch */
	XXH3_state_t *hash;
	uint8_t *state; /* CpuState blob, VM_STATE_MAX bytes */
	size_t state_len;
	uint8_t *console; /* DeviceState "console" bytes, contiguous */
	size_t console_len, console_cap;
	uint64_t console_off;
	int console_seen; /* a console frame came (perhaps empty) */
};

struct replica {
	uint64_t mem_size, npages;
	int hugetlb; /* [workload] memory_backing = hugetlb */
	int fd;	     /* the replica: consistent at epoch */
	uint8_t *mem;
	int next_fd; /* a sync in progress builds this; -1 otherwise */
	uint8_t *next;
	/* Zero memory for the next sync, prefaulted ahead; -1 if none. */
	int spare_fd;
	uint8_t *spare;
	/* The spare's memory while a worker still prefaults it, wherever
	 * it went (spare, next or mem); NULL: no worker. Memory dropped
	 * meanwhile is parked, unmapped once the worker is done. */
	uint8_t *filling;
	int parked_fd;
	uint8_t *parked;
	uint64_t epoch; /* last applied checkpoint epoch, 0 = none */
	uint8_t *state; /* its vCPU state blob */
	size_t state_len;
	/*
	 * Console output of applied epochs (each checkpoint's DeviceState
	 * "console") that the primary has not said it released: stream
	 * offsets tail_off.. up to the end of the replica's epoch. A promoted
	 * backup releases it (the primary may have died between an Ack and
	 * writing that output), so none of it may be dropped: a primary that
	 * would make it pass console_max is refused instead.
	 */
	uint8_t *tail;
	size_t tail_len, tail_cap;
	uint64_t tail_off;
	/* The bound on console output held for the primary: tail_len plus
	 * the console bytes in staging. The guest memory size. */
	uint64_t console_max;
	struct replica_stage stg;
	uint8_t *scratch; /* a decompressed batch body */
	size_t scratch_cap;
	uint64_t applied_pages; /* statistics */
	/* Checks an epoch's state blob for this replica (the workload type's
	 * own check, workloads.h); NULL: a VM's (vm_state_parse()). */
	int (*check_state)(const uint8_t *blob, size_t len, uint64_t mem_size,
			   char *why, size_t whylen);
};

/* hugetlb: every memory of the replica in 2 MiB pages (vmm/ram.h), and
 * the spare made here too: the backup holds twice memory from its first
 * sync on, so a pool short of that is refused now. */
int replica_init(struct replica *r, uint64_t mem_size, int hugetlb, char *err,
		 size_t errlen);
void replica_destroy(struct replica *r);

/*
 * Staging for a checkpoint of up to bytes of pages (the guest's at most),
 * made and prefaulted now, as the primary does for its slots
 * ([replication] max_epoch_size): such an epoch is then received without
 * growing its staging or taking a page fault in it. A larger one still
 * grows it, inside the receive (stg.grown counts those). 0, or -ENOMEM
 * with one line in err.
 */
int replica_stage_reserve(struct replica *r, uint64_t bytes, char *err,
			  size_t errlen);

/*
 * The spare: zero memory for the first sync, so that the sync does not
 * fill a fresh memfd one page fault at a time (seconds for a guest of
 * GiBs; see prefault.h). replica_spare_make() makes it (on the loop,
 * cheap: nothing is touched yet; a hugetlb replica_init() made it
 * already). Then a worker thread prefaults the memory replica_spare_fill()
 * returns with prefault_shared(), touching nothing else of r; a sync may
 * take it meanwhile and write to it (the worker populates ahead of the
 * decoder: two threads take the faults). replica_spare_ready() (loop,
 * after the worker) ends it: the spare, if not taken, stays for the next
 * sync, or is dropped if ok is 0.
 */
int replica_spare_make(struct replica *r, char *err, size_t errlen);
uint8_t *replica_spare_fill(struct replica *r);
void replica_spare_ready(struct replica *r, int ok);

/* Starts building a fresh replica (zero memory) for a new sync: the spare
 * if there is one (ready, or still being filled), else a new memfd. */
int replica_sync_begin(struct replica *r, char *err, size_t errlen);

/* Opens staging for an epoch (precopy: part of a sync, no vCPU state). */
int replica_epoch_begin(struct replica *r, uint64_t epoch, int precopy,
			char *err, size_t errlen);

/* Decodes a pack.c batch into staging. */
int replica_add_batch(struct replica *r, const uint8_t *batch, size_t len,
		      char *err, size_t errlen);

/* Stores the epoch's state blob (checked with r->check_state). */
int replica_set_state(struct replica *r, const uint8_t *blob, size_t len,
		      char *err, size_t errlen);

/*
 * Appends console bytes; offsets must continue each other. -ENOBUFS if the
 * tail and the epoch's console bytes would pass console_max (err names the
 * bound and what holds it).
 */
int replica_add_console(struct replica *r, uint64_t offset, const uint8_t *data,
			size_t len, char *err, size_t errlen);

/*
 * Verifies pages and checksum against staging and applies the epoch.
 * Returns 0; on any error staging is discarded and the replica untouched.
 */
int replica_commit(struct replica *r, uint64_t epoch, uint64_t pages,
		   uint64_t checksum, char *err, size_t errlen);

/* The primary has released its console stream up to offset. */
void replica_console_released(struct replica *r, uint64_t offset);

/* Stream offset just past the replica's console output (0: none yet). */
uint64_t replica_console_end(const struct replica *r);

/*
 * 0 if the replica can take over from a primary that reported releasing
 * console output up to released; otherwise -EAGAIN (no consistent
 * replica) or -ESTALE (promoting would repeat output), with why in one
 * line. The one takeover predicate: the failure detector (standby.c)
 * decides with it, and promote() checks it again.
 */
int replica_can_take_over(const struct replica *r, uint64_t released, char *why,
			  size_t len);

/* Drops the epoch in staging, if any. */
void replica_discard(struct replica *r);

/* Writes the replica as a snapshot file (snapshot.h); needs epoch > 0. */
int replica_write_snapshot(const struct replica *r, const char *path, char *err,
			   size_t errlen);

#endif
