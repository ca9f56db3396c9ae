/*
 * The running backup: the state machine of standby.c carried out on a
 * libuv loop. shell.c turns the loop's callbacks (the connection to the
 * primary, timers, signals, fence and health-check commands) into the
 * core's events and carries out the actions it queues, with conn.c,
 * command.c, the receiver and the replica, and promote.c once it decides
 * to take over. main.c owns the process: options, set-up, the loop and
 * the exit status.
 */
#ifndef REMORA_BACKUP_SHELL_H
#define REMORA_BACKUP_SHELL_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "promote.h"
#include "receiver.h"
#include "replica.h"
#include "standby.h"

/* The most threads that prefault the spare replica memory, slice by
 * slice (start_spare() leaves one core to the loop). */
#define SPARE_WORKERS 2

struct backup {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct config_node *self;
	const char *snapshot; /* --snapshot FILE, or NULL */
	struct replica r;
	struct receiver rx;
	struct standby sb;
	int acting; /* carrying out actions: events meanwhile only queue */

	struct conn *conn; /* to the primary: dialling or open */
	/* [cluster] key_file's key or tls_* context (main.c; conn.h), or
	 * NULL */
	const struct conn_cred *key;
	/* [service]: the service's network, prepared at start (main.c) */
	struct primary_net *net;
	struct command *health, *fence;
	/* arbiter = etcd: its client (main.c makes and frees it), and the
	 * lease won, surely held until lease_until_ns */
	struct arbiter *arb;
	uint64_t lease_until_ns;
	int lease_said; /* the last acquire result emitted as an event */
	uint64_t acked; /* last epoch acknowledged (status) */
	uint64_t snapshot_epoch; /* the epoch --snapshot last wrote */
	uint64_t declared_ns;	 /* SB_A_MARK: promotion time from here */

	/* promotion: p is kept across failed attempts (handles of a failed
	 * start may still be closing on the loop) */
	struct primary *p;
	struct promotion pm;

	uv_timer_t timers[SB_NTIMERS]; /* the core's, one-shot */
	uv_timer_t hb_timer, health_timer;
	uv_signal_t sigterm, sigint, sigusr1;
	struct ctl *ctl; /* handed to the primary once promoted */
	/* the spare replica memory, prefaulted by workers (replica.h) */
	uv_work_t spare_work[SPARE_WORKERS];
	uint8_t *spare_mem;	/* what they fill (replica_spare_fill()) */
	uint64_t spare_next;	/* atomic: the next slice to take */
	int spare_ret;		/* atomic: the first failure, or 0 */
	unsigned spare_pending; /* workers not done yet */
	uint64_t spare_start_ns;
	uint64_t stage_grown; /* r.stg.grown already reported */
};

/* The arbiter's answers (main.c passes it to arbiter_new()). */
struct arbiter_result;
void shell_on_arbiter(const struct arbiter_result *r, void *opaque);

/*
 * Starts the backup's handles on b->loop (b->r, b->rx and b->sb set up)
 * and dials the first candidate.
 */
void shell_start(struct backup *b);

/* Once the loop has ended: the promoted primary's watchers it kept open. */
void shell_finish(struct backup *b);

#endif
