/*
 * The primary's shell: the state machine of core.h carried out with
 * libuv, conn.c, the encoder and the output buffer (docs/design.md,
 * "Primary state machine"). Everything runs on the loop thread except the
 * encoder, which runs on a libuv worker, one epoch at a time.
 *
 * Internal to primary/: the rest of remora uses primary.h.
 */
#ifndef REMORA_PRIMARY_EPOCH_H
#define REMORA_PRIMARY_EPOCH_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "core.h"
#include "encoder.h"
#include "lease.h"
#include "outbuf.h"
#include "primary.h"
#include "stats.h"
#include "workload.h"

/* An epoch on the encoder's worker. */
struct encode_job {
	uv_work_t work;
	struct primary *p;
	unsigned slot;
	int reset; /* empty the delta cache first (a new backup) */
};

/* One dial of another node, telling it this primary's term. */
struct announce {
	struct primary *p;
	const struct config_node *node;
	struct conn *c; /* NULL: idle */
};

/* How a primary starts. */
struct primary_opts {
	uint64_t term;		 /* 1 for a fresh start; a promotion's next */
	int promoted;		 /* start DEGRADED (a replica's guest) */
	uint64_t console_offset; /* stream offset of the next console byte */
	int sink_fd;		 /* released console output goes here */
	int acked_events;	 /* an "acked" event per Ack (tests) */
	/* arbiter = etcd: the lease this primary holds (won for term),
	 * surely until lease_until_ns; NULL: primary_serve() takes it */
	struct arbiter *arb;
	uint64_t lease_until_ns;
	/* [cluster] key_file's key or tls_* context (conn.h), or NULL; NULL
	 * with either set: primary_serve() loads it */
	const struct conn_cred *key;
};

#define EXTRA_MAX 4

struct primary {
	uv_loop_t *loop;
	const struct config *cfg;
	const struct config_node *self;
	struct workload wl;
	/* What primary_free() must release besides (a promotion's VM). */
	void (*release)(void *owned);
	void *owned;
	struct pcore core;
	struct outbuf ob;
	struct encoder enc;
	uv_work_t cache_work;	 /* encoder_prefault() at start: */
	int cache_ret;		 /* its result */
	uint64_t cache_ns;	 /* and how long it took */
	struct encode_job *jobs; /* one per slot */
	struct primary_stats stats;
	/* When epoch e's guest resumed, at [e % nslots] (0: pre-copy), for
	 * its Ack latency: fewer epochs than slots are ever in flight. */
	uint64_t *resumed;
	int running;	  /* primary_run() is carrying out actions */
	int acked_events; /* primary_opts.acked_events */
	int output_held;  /* the guest is held: its output is at the bound */
	/* the console passes through until then (outbuf.h); 0: held */
	uint64_t passing_until;
	/* every connection's key or TLS (conn.h), or NULL */
	const struct conn_cred *key;
	struct lease lease;

	/* connections: the backup (or the one that may become it) is the
	 * core's peer; extras are being turned away or announce a term */
	uv_tcp_t listener;
	struct conn *peer;
	struct conn *extra[EXTRA_MAX];
	/* when each was accepted: its Hello is due within heartbeat_timeout */
	uint64_t peer_since, extra_since[EXTRA_MAX];
	uint64_t alive_ms; /* the loop last ran (stall_check) */
	unsigned *parked;  /* slots waiting for room on the connection */
	unsigned nparked;

	struct announce announce[CONFIG_NODES_MAX];
	uv_timer_t epoch_timer, hb_timer, drain_timer, announce_timer;
	uv_timer_t dirty_timer; /* the epoch's size so far (on_dirty_check) */
	uv_signal_t sigterm, sigint;
	uv_async_t guest_async;
	uv_async_t ready_async;	 /* the workload finished a capture */
	uv_async_t stream_async; /* the encoder published frames */
	uv_poll_t net_poll;	 /* the packet gate (wl.net) is readable */
	int net_failing;	 /* a gate call failed: logged once */
	struct ctl *ctl; /* the control socket: closed when the loop ends */
};

/* Sets everything up around workload wl (which it binds); the guest does
 * not run yet (primary_run_guest). */
int primary_start(struct primary *p, uv_loop_t *loop, const struct config *cfg,
		  const struct config_node *self, const struct workload *wl,
		  const struct primary_opts *o);

/*
 * Runs p around wl on a loop of its own until it stops (serve.c): starts
 * it, its control socket and the guest. Returns the exit status, or -1 if
 * it could not start (p is finished then). Otherwise the caller frees the
 * workload (a VM first: it feeds the output buffer), then primary_finish().
 */
int primary_serve(struct primary *p, const struct config *cfg,
		  const struct config_node *self, const struct workload *wl,
		  const struct primary_opts *o);

/* Stops at once (set-up failed after start): the loop then ends. */
void primary_abort(struct primary *p, const char *why, int exit_code);

/* After the loop returned: frees what primary_start() made. */
void primary_finish(struct primary *p);

/* Writes the statistics as one JSON object (bench and tests). */
int primary_write_stats(struct primary *p, const char *path);

/* Says this primary's Hello (its term) on c; closes c if it cannot. */
void primary_send_hello(struct primary *p, struct conn *c);

/* Carries out the core's queued actions (announce.c calls it too). */
void primary_run(struct primary *p);

/* The term announcements of a promoted primary (announce.c). */
void announce_start(struct primary *p);
void announce_stop(struct primary *p);

#endif
