/*
 * The primary's lease in the arbiter (lease.c): kept alive with the
 * heartbeats, trusted until its last renewal runs out. Internal to
 * primary/.
 */
#ifndef REMORA_PRIMARY_LEASE_H
#define REMORA_PRIMARY_LEASE_H

#include <stdint.h>
#include <uv.h>

struct arbiter;
struct primary;

/* The shell's part of the lease; arb NULL: no arbiter. */
struct lease {
	struct arbiter *arb; /* not owned: its maker frees it */
	uint64_t until_ns;   /* surely held until (now_ns clock) */
	uint64_t stall_ns;   /* when the last stall was noticed */
	int asking;	     /* gone: asked for again in our term */
	int error_logged;    /* an unanswered request said, this streak */
	uv_timer_t timer;    /* fires at until_ns */
};

/* Keeps arb's lease, held until until_ns (the lease rule of arbiter.h);
 * arb NULL: nothing to keep. Takes over arb's callback. */
void lease_start(struct primary *p, struct arbiter *arb, uint64_t until_ns);
/* Before every event that may release output: past until_ns it lapsed. */
void lease_check(struct primary *p);
/* The loop stalled: renewals asked before now prove nothing after it. */
void lease_stalled(struct primary *p);
/* The heartbeat tick: renew. */
void lease_tick(struct primary *p);
/* Holds the guest while its output is at the bound or the lease lapsed. */
void lease_apply_hold(struct primary *p);
/* Output was released up to offset: record it in the arbiter too. */
void lease_report(struct primary *p, uint64_t released);
/* PA_BUMP: move term on in the arbiter (pcore_on_bumped answers). */
void lease_bump(struct primary *p, uint64_t term);
/* Closes the timer (the stop). */
void lease_stop(struct primary *p);

#endif
