/*
 * A promotion made ahead (primary_prepare() in primary.h): the micro-VM a
 * promotion from a replica's memory would make, built while the backup
 * still follows its primary, so that the promotion itself only loads the
 * vCPU state of the replica's epoch and starts. What it holds depends on
 * the memory's file and the config, never on an epoch: the replica keeps
 * writing into that memory meanwhile, and the VM sees it (the same shared
 * pages), as long as its guest does not run.
 *
 * Loop thread only. Internal to primary/.
 */
#ifndef REMORA_PRIMARY_PREPARED_H
#define REMORA_PRIMARY_PREPARED_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "workloads.h"

struct prepared;

/*
 * The VM on mem_fd (mem_size bytes): memory mapped and registered with
 * dirty logging, the vCPU set up with its thread parked before the first
 * instruction (vm_start_parked()), the pipeline's slots and bitmaps, the
 * page-copy helper. 0, or -errno with one line in err.
 */
int prepared_make(struct prepared **out, const struct config *cfg, int mem_fd,
		  uint64_t mem_size, char *err, size_t errlen);

/* 1 if pv was made on the same file as mem_fd (not merely the same
 * descriptor number: a sync replaces the replica's memfd), else 0. */
int prepared_matches(const struct prepared *pv, int mem_fd);

/*
 * Loads the replica's vCPU state into pv's VM and makes it the workload m
 * (its destroy() frees it). pv is used up either way: on failure it is
 * freed, since a half-loaded vCPU is not worth keeping. 0, or -errno with
 * one line in err.
 */
int prepared_take(struct prepared *pv, const uint8_t *state, size_t state_len,
		  struct workload_made *m, char *err, size_t errlen);

/* Frees a VM never taken (NULL is fine). */
void prepared_free(struct prepared *pv);

#endif
