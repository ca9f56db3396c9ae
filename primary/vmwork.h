/*
 * The micro-VM as the primary's workload (workload.h): captures go through
 * capture.c into the slots' staged copies, pre-copy rounds list the VM's
 * memory, pause/resume stop and restart its vCPU, and the VM's console and
 * end reach the primary through the sink it binds. Loop thread only, but
 * for the VM's callbacks (vCPU thread) and the copier inside a capture.
 */
#ifndef REMORA_PRIMARY_VMWORK_H
#define REMORA_PRIMARY_VMWORK_H

#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "workload.h"

struct vmwork {
	struct vm *vm;
	struct workload_sink sink;
	struct copier copier;
	struct staged *slots; /* nslots: one per pipeline slot */
	unsigned nslots;
	size_t epoch_pages; /* each slot's copies, reserved (reserve()) */
	uint64_t *bitmap, *carry;
	uint64_t *round_pfns; /* the pre-copy round's pages */
	/* Why the guest is stopped between captures: the core paused it
	 * (pause(), or the last epoch), or its output is held at the bound
	 * (hold()). It runs when neither holds. */
	int stopped, held;
};

/* The vm_config callbacks that feed the VM's console and end to v: set
 * them before vm_create(), call vmwork_init() after. */
void vmwork_hooks(struct vmwork *v, struct vm_config *vc);

/* One pipeline slot per epoch cfg lets be in flight, plus one, each for
 * [replication] max_epoch_size. 0, or -ENOMEM with err set; v owns vm from
 * here on (also on failure). */
int vmwork_init(struct vmwork *v, struct vm *vm, const struct config *cfg,
		char *err, size_t errlen);
/* Destroys the VM first (its vCPU thread feeds the sink), then the rest. */
void vmwork_destroy(struct vmwork *v);
struct workload vmwork_workload(struct vmwork *v);

#endif
