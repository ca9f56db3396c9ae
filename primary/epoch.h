/*
 * The primary's epoch pipeline and its state machine (DESIGN.md §4).
 *
 * States (one handler per event; primary_set_state() performs and logs
 * every transition):
 *
 *   WAITING    no backup yet (a fresh start), or lost with on_backup_loss =
 *              pause: output is held; with pause the guest is paused too
 *   DEGRADED   unprotected: the backup was lost (on_backup_loss =
 *              continue) or this node was promoted; output is released as
 *              it comes; a backup that attaches is synced
 *   SYNCING    a backup said Hello: pre-copy rounds of all memory
 *   PROTECTED  checkpoint epochs flow and are acknowledged
 *   DRAINING   stopping (signal, or the guest ended): the guest is stopped,
 *              the last epoch waits for its Ack
 *   STOPPED    done (also: replaced by a primary of a higher term); the
 *              loop ends
 *
 *   from \ to   WAITING  DEGRADED  SYNCING  PROTECTED  DRAINING  STOPPED
 *   WAITING        -         -      hello       -          -      any
 *   DEGRADED       -         -      hello       -          -      any
 *   SYNCING      lost      lost       -      rounds done   -      any
 *   PROTECTED    lost      lost       -         -       stop/end  replaced
 *   DRAINING       -         -        -         -          -      any
 *
 * "lost" goes to WAITING with on_backup_loss = pause, or when this primary
 * was never protected (a fresh start holds its output until its first
 * backup: if it is an old primary restarted by mistake, a promoted node's
 * announcement stops it before anything leaves); else to DEGRADED.
 *
 * Events: primary_on_tick (epoch timer), on_encoded (worker finished),
 * on_ack, on_hello, on_peer_lost, on_heartbeat (timer), on_stop (signal),
 * on_guest_stopped (vCPU thread, through a uv_async), on_replaced (a higher
 * term heard of: in a Hello, a Refuse or an announcement's answer).
 *
 * Terms: a promoted node runs as primary of the next term and keeps telling
 * every other node so (on_announce): a primary of a lower term that hears it
 * stops its guest, releases nothing more and exits with EXIT_REPLACED.
 */
#ifndef REMORA_PRIMARY_EPOCH_H
#define REMORA_PRIMARY_EPOCH_H

#include <stdint.h>
#include <uv.h>

#include "capture.h"
#include "config.h"
#include "conn.h"
#include "encoder.h"
#include "outbuf.h"
#include "primary.h"
#include "vm.h"

enum primary_state {
	P_WAITING,
	P_DEGRADED,
	P_SYNCING,
	P_PROTECTED,
	P_DRAINING,
	P_STOPPED,
};

/* Where a staged epoch is in the pipeline. */
enum slot_state {
	SLOT_FREE,
	SLOT_CAPTURED,
	SLOT_ENCODING,
	SLOT_ENCODED,
	SLOT_SENDING
};

struct slot {
	struct staged s;
	enum slot_state st;
	uint64_t conn_gen; /* connection it was made for */
	uv_work_t work;
	struct primary *p;
};

/* Samples for percentiles: the last STATS_SAMPLES values. */
#define STATS_SAMPLES 65536u
/* remoractl status: the pause percentiles of the last this many. */
#define STATUS_SAMPLES 4096u
struct samples {
	uint32_t v[STATS_SAMPLES]; /* microseconds */
	uint64_t n;		   /* samples taken */
};

struct primary_stats {
	uint64_t epochs;		/* checkpoint epochs acknowledged */
	uint64_t waits;			/* ticks that found the pipeline full */
	uint64_t dirty_pages;		/* pages captured by checkpoints */
	uint64_t sent_pages;		/* pages carried (not UNCHANGED) */
	uint64_t raw_bytes, wire_bytes; /* checkpoint epochs */
	uint64_t sync_bytes;		/* wire bytes of pre-copy rounds */
	uint64_t sync_pages, sync_ns;	/* the last sync: pages, duration */
	uint64_t guest_start_ns, guest_end_ns;
	uint64_t first_ack_ns, last_ack_ns;
	struct samples pause, ack, harvest, copy;
};

#define EXIT_REPLACED PRIMARY_EXIT_REPLACED

/* How a primary starts. */
struct primary_opts {
	uint64_t term;		 /* 1 for a fresh start; a promotion's next */
	int promoted;		 /* start DEGRADED (a replica's guest) */
	uint64_t console_offset; /* stream offset of the next console byte */
	int sink_fd;		 /* released console output goes here */
};

/* One dial of another node, telling it this primary's term. */
struct announce {
	struct primary *p;
	const struct config_node *node;
	struct conn *c; /* NULL: idle */
};

struct primary {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct config_node *self;
	struct vm *vm;
	struct outbuf ob;
	struct encoder enc;
	struct copier copier;
	enum primary_state state;
	uint64_t term;
	int promoted;	  /* started from a replica */
	int own_vm;	  /* promoted: primary_free() destroys vm */
	int guest_paused; /* on_backup_loss = pause holds it */

	/* pipeline */
	struct slot *slots; /* max_inflight_epochs + 1 */
	unsigned nslots;
	uint64_t next_epoch;   /* the next epoch number (never reused) */
	uint64_t sent_epoch;   /* last epoch queued on the connection */
	uint64_t acked;	       /* last epoch acknowledged */
	uint64_t final_epoch;  /* DRAINING: the last epoch, 0 until taken */
	uint64_t encode_epoch; /* last epoch handed to the encoder */
	uint64_t *resumed;     /* per slot: when an epoch's guest resumed */
	int reset_pending;     /* the cache must be emptied (new backup) */
	int encoding;	       /* a worker is encoding a slot */
	int tick_pending;      /* the timer fired; a checkpoint is due */
	uint64_t *bitmap, *carry;

	/* initial sync */
	unsigned round;	      /* pre-copy round, from 0 */
	uint64_t *round_pfns; /* the round's dirty pages */
	size_t round_n, round_pos;
	int sync_listed; /* round 0's pages have been listed */
	uint64_t sync_start_ns, last_progress_ns;

	/* the backup */
	uv_tcp_t listener;
	struct conn *conn; /* NULL: none */
#define EXTRA_MAX 4
	struct conn *extra[EXTRA_MAX]; /* connections being turned away */
	int hello_done;
	uint64_t conn_gen;
	char peer_name[64];

	struct announce announce[CONFIG_NODES_MAX];
	uv_timer_t epoch_timer, hb_timer, drain_timer, announce_timer;
	uv_signal_t sigterm, sigint;
	uv_async_t guest_async;
	int stop_requested;

	struct primary_stats stats;
	int exit_code;
	struct ctl *ctl; /* the control socket: closed when the loop ends */
};

/* Sets everything up and starts the guest; the loop then runs it. */
int primary_start(struct primary *p, uv_loop_t *loop, const struct config *cfg,
		  const struct config_node *self, struct vm *vm,
		  const struct primary_opts *o);

/* The vm_config callbacks that feed console output and the guest's end
 * to p; set them before vm_create(), call primary_start() before vm_start(). */
void primary_console_hooks(struct primary *p, struct vm_config *vc);

/*
 * SIGTERM or SIGINT: the first drains (a last epoch, acknowledged), a
 * second while draining stops at once. A fresh primary watches both
 * signals itself; a promoted one does not, and the backup's own watchers,
 * which stay open across the promotion, call this (closing them could drop
 * a signal taken while the promotion ran).
 */
void primary_signal(struct primary *p, int signum);

/* Stops at once (the guest could not start): the loop then ends. */
void primary_abort(struct primary *p, const char *why);

/* After the loop returned: frees what primary_start() made. */
void primary_finish(struct primary *p);

const char *primary_state_name(enum primary_state s);

/* What remoractl status shows (status.h). */
struct node_status;
void primary_status(struct primary *p, struct node_status *st);

/* Writes the statistics as one JSON object (bench and tests). */
int primary_write_stats(const struct primary *p, const char *path);

#endif
