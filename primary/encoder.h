/*
 * The encoder: turns a staged epoch into the frames that carry it
 * (EpochBegin, PageBatch..., CpuState, DeviceState, EpochCommit), on a worker
 * thread, off the vCPU and loop threads.
 *
 * Each page is encoded against the copy last sent for its pfn (codec.h),
 * found in the delta cache: a direct-mapped cache of delta_cache bytes,
 * page slots tagged with their pfn (a cache as big as guest memory holds
 * every page). A page not in the cache is sent ZERO or RAW. The cache
 * mirrors what the backup holds, so it is reset whenever a new backup
 * attaches. Only one encode runs at a time: epochs are encoded in order.
 *
 * Batches are LZ4-compressed while that pays. A batch that LZ4 shrinks by
 * less than 1/32 (random or encrypted guest data) makes the next 1, 2, 4
 * ... ENCODER_LZ4_BACKOFF_MAX batches go stored without trying, built in
 * place in the output: on such data LZ4 costs more than copying the page
 * and saves nothing, on either end. The first batch that compresses again
 * ends the back-off.
 */
#ifndef REMORA_PRIMARY_ENCODER_H
#define REMORA_PRIMARY_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "staged.h"

#define ENCODER_BATCH_PAGES 256u
/* At most this many batches go stored untried between two LZ4 tries. */
#define ENCODER_LZ4_BACKOFF_MAX 32u

struct encoder {
	uint64_t term;
	uint64_t npages;  /* guest pages */
	int delta;	  /* 0: never delta-encode (config delta = off) */
	int acceleration; /* LZ4 acceleration; 0 = compression none */
	uint64_t nslots;  /* cache slots (0: no cache) */
	uint64_t *tags;	  /* pfn + 1 per slot, 0 = empty */
	uint8_t *cache;	  /* nslots pages */
	uint8_t *body;	  /* a batch body under construction */
	size_t body_cap;
	uint8_t *page;	  /* one page: a live page read once */
	uint8_t *scratch; /* one encoded page */
	/* LZ4 back-off: batches still to store untried, and the length of
	 * the last back-off (0: the last try paid) */
	unsigned lz4_skip, lz4_backoff;
	/* Called on the encoder's thread each time whole batches are ready
	 * to be sent (staged.h, streaming), or NULL. */
	void (*notify)(void *arg);
	void *notify_arg;
};

/* cache_bytes is rounded down to whole pages and capped at guest memory. */
int encoder_init(struct encoder *e, uint64_t mem_size, uint64_t cache_bytes,
		 int delta, int acceleration, uint64_t term);
void encoder_destroy(struct encoder *e);

/*
 * Makes the delta cache resident (prefault_shared()), so that a first sync
 * does not fill it one page fault at a time: on a virtualized host that
 * took a 1 GiB guest's sync about 1 s for the first 256 MiB. Changes no
 * byte, so it may run on any thread, while encoder_run() runs; not while
 * encoder_destroy() does. 0, or -ENOMEM / -EINVAL as prefault_shared().
 */
int encoder_prefault(struct encoder *e);

/* Forgets every cached page (a new backup holds nothing yet). */
void encoder_reset(struct encoder *e);

/*
 * Encodes s into s->out / s->frame_*; pre-copy pages are read from mem (the
 * live guest). Returns 0 or a negative errno (also left in s->err).
 *
 * As each full batch is made, the frames so far (EpochBegin and the
 * batches) are published (s->ready) and e->notify runs, so that they can
 * be sent while the rest is encoded; the rest (a last batch short of
 * ENCODER_BATCH_PAGES, CpuState, DeviceState, EpochCommit) only by the
 * return.
 */
int encoder_run(struct encoder *e, struct staged *s, const uint8_t *mem);

#endif
