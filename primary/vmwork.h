/*
 * The micro-VM as the primary's workload (workload.h): captures go through
 * capture.c into the slots' staged copies, pre-copy rounds list the VM's
 * memory, and pause/resume stop and restart its vCPU. Loop thread only;
 * the copier helper thread works inside a capture.
 */
#ifndef REMORA_PRIMARY_VMWORK_H
#define REMORA_PRIMARY_VMWORK_H

#include <stdint.h>

#include "capture.h"
#include "stats.h"
#include "workload.h"

struct vmwork {
	struct vm *vm;
	struct outbuf *ob; /* the console: closed at each checkpoint */
	struct primary_stats *stats;
	struct copier copier;
	struct staged *slots; /* nslots: one per pipeline slot */
	unsigned nslots;
	/* When epoch e's guest resumed, at [e % nslots] (0: pre-copy): for
	 * its Ack latency. Fewer epochs than slots are ever in flight. */
	uint64_t *resumed;
	uint64_t *bitmap, *carry;
	uint64_t *round_pfns; /* the pre-copy round's pages */
	int paused;	      /* pause() stopped the guest */
};

/* 0 or -errno; the workload to give the core is vmwork_workload(). */
int vmwork_init(struct vmwork *v, struct vm *vm, struct outbuf *ob,
		struct primary_stats *stats, unsigned nslots);
void vmwork_destroy(struct vmwork *v);
struct workload vmwork_workload(struct vmwork *v);

#endif
