/*
 * Promotion: the backup's replica becomes the running workload (docs/design.md,
 * "Promotion"). The replica's memfd is mapped into a new VM (no copy), the vCPU and
 * device state of its epoch are loaded (with the virtual clock, so guest
 * time never runs backwards), the console output the old primary may not
 * have released is released here, and the primary's pipeline (epoch.c)
 * takes the guest over as primary of the next term, unprotected until a
 * new backup attaches.
 */
#ifndef REMORA_BACKUP_PROMOTE_H
#define REMORA_BACKUP_PROMOTE_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "primary.h"
#include "replica.h"

struct promotion {
	uint64_t term;		 /* the new term */
	uint64_t released;	 /* console offset the old primary released */
	struct arbiter *arb;	 /* the lease won, or NULL (primary.h) */
	uint64_t lease_until_ns; /* surely held until */
	/* [cluster] key_file's key or tls_* context (conn.h), or NULL */
	const struct conn_cred *key;
	struct primary_net *net; /* prepared at start, or NULL (primary.h) */
	/* results */
	int sink;		  /* this node's console sink */
	size_t console_released;  /* bytes of the replica's tail released */
	uint64_t console_missing; /* bytes never held here (may be lost) */
	uint64_t vm_ns;		  /* making the VM and loading its state */
};

/*
 * Starts p as primary of pm->term on loop with the replica's guest, if the
 * replica can take over (replica_can_take_over()). Returns 0, or a
 * negative errno with one line in err; on failure nothing runs and the
 * replica is untouched.
 */
int promote(struct promotion *pm, struct primary *p, uv_loop_t *loop,
	    const struct config *cfg, const struct config_node *self,
	    const struct replica *r, char *err, size_t errlen);

/* After the promoted primary's loop has ended (primary_free() frees it). */
void promote_finish(struct promotion *pm);

#endif
