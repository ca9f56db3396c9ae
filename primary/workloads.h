/*
 * The one place that knows the workload types ([workload] type): it makes
 * the workload a primary runs, from the config (remora-primary) or from a
 * backup's replica (promotion); it also implements primary.h's
 * primary_state_check(), primary_preflight() and the workload's log and
 * status lines. Everything else sees a struct
 * workload (workload.h).
 */
#ifndef REMORA_PRIMARY_WORKLOADS_H
#define REMORA_PRIMARY_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "primary.h"
#include "workload.h"

struct prepared; /* prepared.h */

/* A workload and what it owns. */
struct workload_made {
	struct workload wl;
	void *owned;
	void (*destroy)(void *owned); /* frees owned (the guest first) */
	uint64_t make_ns; /* making it (from a replica: restoring) */
};

/*
 * A fresh workload for node self (not running until its start()): 0, or
 * -errno with one line in err that names what to change.
 */
int workloads_make(const struct config *cfg, const struct config_node *self,
		   struct workload_made *m, char *err, size_t errlen);

/*
 * The workload a replica holds (promotion), ready to run. *ready: a VM
 * made ahead (primary_prepare()), or NULL; taken (set to NULL) when it was
 * made for img's memory, left to its owner otherwise.
 */
int workloads_restore(const struct config *cfg, const struct config_node *self,
		      const struct primary_image *img, struct prepared **ready,
		      struct workload_made *m, char *err, size_t errlen);

/*
 * Reads a whole regular file (a guest image, at most 256 MiB). 0, or a
 * negative errno with why set (a FIFO or a device is refused, without
 * blocking on it: paths.h).
 */
int workloads_read_file(const char *path, uint8_t **buf, size_t *len, char *why,
			size_t whylen);

#endif
