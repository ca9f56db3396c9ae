/*
 * The primary's epoch pipeline and its state machine (DESIGN.md §4).
 *
 * States (one handler per event; primary_set_state() performs and logs
 * every transition):
 *
 *   WAITING    no backup: the guest runs, its output is held
 *   SYNCING    a backup said Hello: pre-copy rounds of all memory
 *   PROTECTED  checkpoint epochs flow and are acknowledged
 *   DRAINING   stopping (signal, or the guest ended): the guest is stopped,
 *              the last epoch waits for its Ack
 *   STOPPED    done; the loop ends
 *
 *   from \ to   WAITING  SYNCING  PROTECTED  DRAINING  STOPPED
 *   WAITING        -      hello       -          -       stop/end
 *   SYNCING      lost       -      rounds done   -       stop/end
 *   PROTECTED    lost       -         -       stop/end      -
 *   DRAINING       -        -         -          -     acked/lost/timeout
 *
 * Events: primary_on_tick (epoch timer), on_encoded (worker finished),
 * on_ack, on_hello, on_peer_lost, on_heartbeat (timer), on_stop (signal),
 * on_guest_stopped (vCPU thread, through a uv_async).
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
#include "vm.h"

enum primary_state {
	P_WAITING,
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
	int hello_done;
	uint64_t conn_gen;
	char peer_name[64];

	uv_timer_t epoch_timer, hb_timer, drain_timer;
	uv_signal_t sigterm, sigint;
	uv_async_t guest_async;
	int stop_requested;

	struct primary_stats stats;
	int exit_code;
};

/* Sets everything up and starts the guest; the loop then runs it. */
int primary_start(struct primary *p, uv_loop_t *loop, const struct config *cfg,
		  const struct config_node *self, struct vm *vm, int sink_fd);

/* The vm_config callbacks that feed console output and the guest's end
 * to p; set them before vm_create(), call primary_start() before vm_start(). */
void primary_console_hooks(struct primary *p, struct vm_config *vc);

/* After the loop returned: frees what primary_start() made. */
void primary_finish(struct primary *p);

const char *primary_state_name(enum primary_state s);

/* Writes the statistics as one JSON object (bench and tests). */
int primary_write_stats(const struct primary *p, const char *path);

#endif
