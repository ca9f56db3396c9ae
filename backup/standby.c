/*
 * The backup's state machine (see standby.h for the states, the table and
 * the events). Every handler reads the time it is given, changes state only
 * through set_state(), and queues what the shell must do; nothing here
 * blocks, allocates more than the delayed-Ack list, or fails except by
 * calling s->bug.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invariant.h"
#include "standby.h"

/* Actions one event may queue: far more than any handler needs (the Ack
 * timer sends at most SB_ACKS_PER_EVENT). */
#define SB_QUEUE	  128u
#define SB_ACKS_PER_EVENT 64u

#define BIT(st)	 (1u << (st))
#define WATCHING (BIT(SB_CONNECTING) | BIT(SB_SYNCING) | BIT(SB_REPLICATING))
#define ALIVE	 (~(BIT(SB_PRIMARY) | BIT(SB_STOPPED)) & ((1u << SB_NSTATES) - 1))

static const char *const state_names[SB_NSTATES] = {
	[SB_SEEKING] = "seeking",     [SB_CONNECTING] = "connecting",
	[SB_SYNCING] = "syncing",     [SB_REPLICATING] = "replicating",
	[SB_DEPOSING] = "deposing",   [SB_FENCING] = "fencing",
	[SB_PROMOTING] = "promoting", [SB_PRIMARY] = "primary",
	[SB_STOPPED] = "stopped",
};

/* The table in standby.h; STOPPED from every state but the last two. */
static const unsigned allowed[SB_NSTATES] = {
	[SB_SEEKING] = BIT(SB_SYNCING) | BIT(SB_STOPPED),
	[SB_CONNECTING] = BIT(SB_SYNCING) | BIT(SB_FENCING) |
			  BIT(SB_PROMOTING) | BIT(SB_STOPPED),
	[SB_SYNCING] = BIT(SB_CONNECTING) | BIT(SB_REPLICATING) |
		       BIT(SB_DEPOSING) | BIT(SB_FENCING) | BIT(SB_PROMOTING) |
		       BIT(SB_STOPPED),
	[SB_REPLICATING] = BIT(SB_CONNECTING) | BIT(SB_DEPOSING) |
			   BIT(SB_FENCING) | BIT(SB_PROMOTING) |
			   BIT(SB_STOPPED),
	[SB_DEPOSING] = BIT(SB_FENCING) | BIT(SB_PROMOTING) | BIT(SB_STOPPED),
	[SB_FENCING] = BIT(SB_SYNCING) | BIT(SB_PROMOTING) | BIT(SB_STOPPED),
	[SB_PROMOTING] = BIT(SB_CONNECTING) | BIT(SB_PRIMARY) | BIT(SB_STOPPED),
	[SB_PRIMARY] = 0,
	[SB_STOPPED] = 0,
};

const char *standby_state_name(enum standby_state st)
{
	return (unsigned)st < SB_NSTATES ? state_names[st] : "?";
}

int standby_may(enum standby_state from, enum standby_state to)
{
	return (unsigned)from < SB_NSTATES && (unsigned)to < SB_NSTATES &&
	       (allowed[from] & BIT(to)) != 0;
}

const struct config_node *standby_primary(const struct standby *s)
{
	return s->cands[s->cand];
}

static uint64_t replica_epoch(const struct standby *s)
{
	return s->rx->r->epoch;
}

static void bug_at(struct standby *s, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bug_at(struct standby *s, int line, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	s->bug(__FILE__, line, what);
}

#define bug(s, ...) bug_at((s), __LINE__, __VA_ARGS__)

/* --- the action queue ----------------------------------------------------*/

static struct standby_action *push(struct standby *s, enum standby_act type)
{
	struct standby_action *a;

	if (s->tail - s->head >= SB_QUEUE) {
		bug(s, "%u actions queued by one event", SB_QUEUE);
		a = &s->q[SB_QUEUE]; /* the spill slot, never handed out */
	} else {
		a = &s->q[s->tail++ % SB_QUEUE];
	}
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

const struct standby_action *standby_next(struct standby *s)
{
	if (s->head == s->tail)
		return NULL;
	return &s->q[s->head++ % SB_QUEUE];
}

static void say_at(struct standby *s, const char *file, int line,
		   enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void say_at(struct standby *s, const char *file, int line,
		   enum log_level level, const char *fmt, ...)
{
	struct standby_action *a;
	va_list ap;

	if (level == LOG_DEBUG && !s->debug)
		return; /* not formatted per epoch only to be dropped */
	a = push(s, SB_A_LOG);
	a->level = level;
	a->file = file;
	a->line = line;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

#define say(s, level, ...) say_at((s), __FILE__, __LINE__, (level), __VA_ARGS__)

static void arm(struct standby *s, enum standby_timer t, uint64_t ms)
{
	struct standby_action *a = push(s, SB_A_ARM);

	a->timer = t;
	a->ms = ms;
}

static void disarm(struct standby *s, enum standby_timer t)
{
	push(s, SB_A_DISARM)->timer = t;
}

static void arm_silence(struct standby *s, uint64_t ms)
{
	arm(s, SB_T_SILENCE, ms);
	s->silence_armed = 1;
}

/* Asks for the connection to close, once; its end comes back as
 * standby_on_closed(). */
static void close_link(struct standby *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void close_link(struct standby *s, const char *fmt, ...)
{
	struct standby_action *a;
	va_list ap;

	if (s->link == SB_LINK_NONE || s->closing)
		return;
	a = push(s, SB_A_CLOSE);
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
	s->closing = 1;
}

/* --- the one transition function -----------------------------------------*/

/*
 * Moves to `to` if the state is one of `expect` (what the caller knows it
 * must be) and the table allows it; anything else is a bug. Logs and
 * emits the change through SB_A_STATE.
 */
static void set_state_at(struct standby *s, int line, unsigned expect,
			 enum standby_state to, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void set_state_at(struct standby *s, int line, unsigned expect,
			 enum standby_state to, const char *fmt, ...)
{
	struct standby_action *a;
	va_list ap;

	if (!(expect & BIT(s->state)) || !standby_may(s->state, to)) {
		bug_at(s, line, "no transition %s -> %s here",
		       standby_state_name(s->state), standby_state_name(to));
		return;
	}
	a = push(s, SB_A_STATE);
	a->from = s->state;
	a->to = to;
	a->epoch = replica_epoch(s);
	a->term = s->rx->known_term;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
	s->state = to;
}

#define set_state(s, expect, to, ...) \
	set_state_at((s), __LINE__, (expect), (to), __VA_ARGS__)

/* Events that need a connection in one of the link states of mask. */
static int link_is(struct standby *s, int line, unsigned mask,
		   const char *event)
{
	if ((mask & BIT(s->link)) && !s->closing)
		return 1;
	bug_at(s, line, "%s with the connection %s%s (state %s)", event,
	       s->link == SB_LINK_NONE	     ? "gone"
	       : s->link == SB_LINK_DIALLING ? "dialling"
	       : s->link == SB_LINK_HELLO    ? "waiting for the Hello"
					     : "following",
	       s->closing ? ", closing" : "", standby_state_name(s->state));
	return 0;
}

#define expect_link(s, mask, event) link_is((s), __LINE__, (mask), (event))

/* --- set-up ---------------------------------------------------------------*/

int standby_init(struct standby *s, const struct standby_opts *o)
{
	const struct config *cfg = o->cfg;
	const struct config_node *first =
		config_node_by_role(cfg, CONFIG_ROLE_PRIMARY);
	uint64_t retry = cfg->failover.heartbeat_interval_ns / 1000000;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->self = o->self;
	s->rx = o->rx;
	s->ack_delay_ms = o->ack_delay_ms;
	s->debug = o->debug;
	s->timeout_ms = cfg->failover.heartbeat_timeout_ns / 1000000;
	s->retry_ms = retry < 50 ? 50 : retry > 1000 ? 1000 : retry;
	s->bug = invariant_broken;
	s->state = SB_SEEKING;
	/* The other nodes, the configured primary first. */
	if (first && first != o->self)
		s->cands[s->ncands++] = first;
	for (int i = 0; i < cfg->nnodes; i++)
		if (&cfg->nodes[i] != o->self && &cfg->nodes[i] != first)
			s->cands[s->ncands++] = &cfg->nodes[i];
	if (!s->ncands)
		return -EINVAL;
	s->q = calloc(SB_QUEUE + 1, sizeof(*s->q));
	return s->q ? 0 : -ENOMEM;
}

void standby_destroy(struct standby *s)
{
	free(s->q);
	free(s->acks);
	s->q = NULL;
	s->acks = NULL;
}

/* --- the decision ---------------------------------------------------------*/

static int watching(const struct standby *s)
{
	return (WATCHING & BIT(s->state)) != 0;
}

/* The "decision" event: what the detector saw and what it does. */
static void decision(struct standby *s, uint64_t now, const char *action,
		     const char *reason)
{
	struct standby_action *a = push(s, SB_A_DECISION);

	a->cause = s->cause;
	a->action = action;
	snprintf(a->name, sizeof(a->name), "%s", s->rx->known_primary);
	a->epoch = replica_epoch(s);
	a->term = s->rx->known_term;
	a->quiet_ms = s->last_rx_ms ? (int64_t)(now - s->last_rx_ms) : -1;
	a->timeout_ms = s->timeout_ms;
	snprintf(a->text, sizeof(a->text), "%s", s->evidence);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
}

static void begin_promote(struct standby *s)
{
	struct standby_action *a;

	if (s->health_running)
		push(s, SB_A_CANCEL_HEALTH);
	/* Nothing more from any old primary: this replica is the guest. */
	disarm(s, SB_T_RETRY);
	close_link(s, "promoting");
	a = push(s, SB_A_PROMOTE);
	/* The arbiter's term, or the next after the last one known. */
	a->term = s->lease_term ? s->lease_term : s->rx->known_term + 1;
	a->released = s->rx->released;
}

static void run_fence(struct standby *s)
{
	if (s->fence_running)
		return; /* one at a time: its end decides */
	s->fence_running = 1;
	push(s, SB_A_RUN_FENCE);
}

/* A failover needs the arbiter's lease first. */
static int arbitrated(const struct standby *s)
{
	return s->cfg->failover.arbiter != CONFIG_ARBITER_NONE;
}

/* Gives a lease won back: this node is not promoting after all. */
static void give_lease_back(struct standby *s)
{
	if (!s->lease_term)
		return;
	s->own_term = s->lease_term;
	s->lease_term = 0;
	push(s, SB_A_REVOKE);
}

static void ask_lease(struct standby *s)
{
	struct standby_action *a;

	if (s->lease_asking)
		return; /* one at a time: its answer decides */
	s->lease_asking = 1;
	a = push(s, SB_A_ACQUIRE);
	a->term = s->own_term == s->rx->known_term + 1 ? s->own_term : 0;
}

/* FENCING: the lease first (with an arbiter), then fence_command. */
static void fence_step(struct standby *s)
{
	if (arbitrated(s) && !s->lease_term) {
		ask_lease(s);
		return;
	}
	if (*s->cfg->failover.fence_command) {
		run_fence(s);
		return;
	}
	push(s, SB_A_MARK);
	set_state(s, BIT(SB_FENCING), SB_PROMOTING,
		  "lease won in term %llu: the old primary releases nothing "
		  "any more; promoting",
		  (unsigned long long)s->lease_term);
	begin_promote(s);
}

/* Fences (if configured), then promotes, on s->evidence. */
static void take_over(struct standby *s, uint64_t now)
{
	const unsigned from = WATCHING | BIT(SB_DEPOSING);
	unsigned long long epoch = replica_epoch(s);

	if (arbitrated(s) || *s->cfg->failover.fence_command) {
		decision(s, now, "fencing", "");
		s->lease_logged = 0;
		set_state(s, from, SB_FENCING,
			  "%s; last acked epoch %llu; %s %s first", s->evidence,
			  epoch,
			  arbitrated(s) ? "taking the lease from" : "fencing",
			  s->rx->known_primary);
		fence_step(s);
		return;
	}
	decision(s, now, "promoting", "");
	set_state(s, from, SB_PROMOTING, "%s; last acked epoch %llu; promoting",
		  s->evidence, epoch);
	begin_promote(s);
}

/*
 * The primary failed a check but still talks: tell it that this node
 * takes over in the next term, and wait (at most heartbeat_timeout) for
 * it to stop. Its last frame says how much console output it released,
 * so promotion repeats none of it.
 */
static void depose(struct standby *s, uint64_t now)
{
	struct standby_action *a;

	decision(s, now, "deposing", "");
	set_state(s, BIT(SB_SYNCING) | BIT(SB_REPLICATING), SB_DEPOSING,
		  "%s; last acked epoch %llu; asking primary %s to step down "
		  "first (waiting at most %llu ms)",
		  s->evidence, (unsigned long long)replica_epoch(s),
		  s->rx->known_primary, (unsigned long long)s->timeout_ms);
	a = push(s, SB_A_STEP_DOWN);
	a->term = s->rx->known_term + 1;
	snprintf(a->name, sizeof(a->name), "%s", s->self->name);
	snprintf(a->text, WIRE_REASON_MAX,
		 "node %s takes over in term %llu: %.300s", s->self->name,
		 (unsigned long long)a->term, s->evidence);
	arm(s, SB_T_DEPOSE, s->timeout_ms);
}

/*
 * The primary is declared failed on evidence: take over if it is watched,
 * no decision was taken within heartbeat_timeout, and the replica can take
 * over without losing or repeating released output.
 */
static void declare(struct standby *s, uint64_t now, const char *cause,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void declare(struct standby *s, uint64_t now, const char *cause,
		    const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (!watching(s) || now < s->hold_off_ms)
		return;
	va_start(ap, fmt);
	vsnprintf(s->evidence, sizeof(s->evidence), fmt, ap);
	va_end(ap);
	s->hold_off_ms = now + s->timeout_ms;
	s->cause = cause;
	if (replica_can_take_over(s->rx->r, s->rx->released, why,
				  sizeof(why))) {
		decision(s, now, "held_off", why);
		say(s, LOG_WARN,
		    "%s; but %s; not promoting, still looking for a primary",
		    s->evidence, why);
		return;
	}
	s->detect_ms = s->last_rx_ms ? now - s->last_rx_ms : 0;
	push(s, SB_A_MARK);
	if (s->link == SB_LINK_FOLLOWING && !s->closing && s->last_rx_ms &&
	    now - s->last_rx_ms < s->timeout_ms) {
		depose(s, now);
		return;
	}
	close_link(s, "primary declared failed");
	take_over(s, now);
}

/* --- the connection -------------------------------------------------------*/

void standby_on_retry(struct standby *s)
{
	struct standby_action *a;

	if (s->link != SB_LINK_NONE ||
	    (BIT(s->state) &
	     (BIT(SB_PROMOTING) | BIT(SB_PRIMARY) | BIT(SB_STOPPED))))
		return;
	s->link = SB_LINK_DIALLING;
	a = push(s, SB_A_DIAL);
	a->cand = s->cand;
}

void standby_on_connected(struct standby *s)
{
	if (!expect_link(s, BIT(SB_LINK_DIALLING), "connected"))
		return;
	s->link = SB_LINK_HELLO;
	s->waiting_logged = 0;
	push(s, SB_A_HELLO)->cand = s->cand;
	/* A deadline of its own, whatever the shell's liveness check counts:
	 * a peer that accepts and then trickles its Hello, or says nothing,
	 * must not hold this backup away from the real primary. */
	arm(s, SB_T_HANDSHAKE, s->timeout_ms);
}

int standby_on_frame(struct standby *s, uint64_t now, enum wire_type type)
{
	if (!expect_link(s, BIT(SB_LINK_HELLO) | BIT(SB_LINK_FOLLOWING),
			 "a frame"))
		return 0;
	s->last_rx_ms = now;
	/* Moved lazily: standby_on_silence() looks at last_rx_ms. */
	if (!s->silence_armed)
		arm_silence(s, s->timeout_ms + 1);
	/* Deposing, nothing more is applied or acked; only the primary's
	 * last report counts: how much output it released. */
	if (s->state == SB_DEPOSING)
		return type == WIRE_HEARTBEAT;
	return 1;
}

void standby_on_hello(struct standby *s)
{
	int called_off = s->state == SB_FENCING;

	if (!expect_link(s, BIT(SB_LINK_HELLO), "a Hello accepted"))
		return;
	s->link = SB_LINK_FOLLOWING;
	s->refused_logged = 0;
	s->handshake_logged = 0;
	disarm(s, SB_T_HANDSHAKE);
	if (called_off) {
		/* The fence must not kill the primary this backup follows
		 * again; a lease won goes back (the old primary lost it
		 * anyway: it learns so and stops, and the next failover
		 * takes a later term). */
		disarm(s, SB_T_FENCE);
		if (s->fence_running)
			push(s, SB_A_CANCEL_FENCE);
		give_lease_back(s);
	}
	set_state(s, BIT(SB_SEEKING) | BIT(SB_CONNECTING) | BIT(SB_FENCING),
		  SB_SYNCING,
		  "primary %s (term %llu) accepted us%s; receiving the "
		  "initial sync",
		  standby_primary(s)->name, (unsigned long long)s->rx->term,
		  called_off ? "; failover called off" : "");
}

static void ack(struct standby *s, uint64_t now, uint64_t epoch)
{
	struct standby_action *a;

	if (!s->ack_delay_ms) {
		a = push(s, SB_A_ACK);
		a->epoch = epoch;
		a->term = s->rx->term;
		return;
	}
	if (s->nacks == s->ack_cap) {
		size_t cap = s->ack_cap ? 2 * s->ack_cap : 64;
		struct standby_ack *n = realloc(s->acks, cap * sizeof(*n));

		if (!n) {
			close_link(s, "out of memory");
			return;
		}
		s->acks = n;
		s->ack_cap = cap;
	}
	s->acks[s->nacks++] = (struct standby_ack){
		.epoch = epoch, .due_ms = now + s->ack_delay_ms};
	if (s->nacks == 1)
		arm(s, SB_T_ACK, s->ack_delay_ms);
}

static void stop(struct standby *s, const char *why)
{
	give_lease_back(s);
	if (s->fence_running)
		push(s, SB_A_CANCEL_FENCE);
	if (s->health_running)
		push(s, SB_A_CANCEL_HEALTH);
	close_link(s, "%s", why);
	set_state(s, ALIVE, SB_STOPPED, "replica at epoch %llu",
		  (unsigned long long)replica_epoch(s));
	push(s, SB_A_STOP);
	s->silence_armed = 0; /* STOP closes the timers */
}

void standby_on_received(struct standby *s, uint64_t now,
			 const struct rx_result *res)
{
	struct standby_action *a;

	if (!expect_link(s, BIT(SB_LINK_HELLO) | BIT(SB_LINK_FOLLOWING),
			 "a receiver verdict"))
		return;
	if (s->state == SB_DEPOSING)
		return; /* a Heartbeat's report: nothing to answer */
	switch (res->verdict) {
	case RX_OK:
		return;
	case RX_ACK:
		if (s->link != SB_LINK_FOLLOWING ||
		    !(BIT(s->state) &
		      (BIT(SB_SYNCING) | BIT(SB_REPLICATING)))) {
			bug(s, "epoch %llu applied in state %s",
			    (unsigned long long)res->epoch,
			    standby_state_name(s->state));
			return;
		}
		s->applied++;
		if (res->synced_now)
			set_state(s, BIT(SB_SYNCING), SB_REPLICATING,
				  "replica consistent at epoch %llu: sync "
				  "complete, %llu pages applied",
				  (unsigned long long)res->epoch,
				  (unsigned long long)s->rx->r->applied_pages);
		else
			say(s, LOG_DEBUG, "applied epoch %llu",
			    (unsigned long long)res->epoch);
		ack(s, now, res->epoch);
		return;
	case RX_CLOSE:
		if (res->refuse) {
			/* Said before the peer can learn it and stop. */
			if (!s->refused_logged)
				say(s, LOG_WARN, "%s; told it so", res->why);
			s->refused_logged = 1;
			a = push(s, SB_A_REFUSE);
			a->term = s->rx->known_term;
			snprintf(a->name, sizeof(a->name), "%s",
				 s->rx->known_primary);
			snprintf(a->text, sizeof(a->text), "%s", res->why);
			s->closing = 1;
			return;
		}
		say(s, LOG_ERROR, "%s", res->why);
		close_link(s, "%s", res->why);
		return;
	case RX_FATAL:
		say(s, LOG_ERROR, "%s", res->why);
		s->exit_code = 1;
		stop(s, res->why);
		return;
	}
}

/* A dial or handshake that came to nothing: the next node, and say so
 * once a round. */
static void next_candidate(struct standby *s, const char *why)
{
	const struct config_node *n = standby_primary(s);
	int last = s->cand == s->ncands - 1;

	if (last && !s->waiting_logged)
		say(s, LOG_INFO,
		    "no primary answers yet (last tried %s at %s:%u: %s); "
		    "still trying",
		    n->name, n->host, n->port, why);
	if (last)
		s->waiting_logged = 1;
	s->cand = (s->cand + 1) % s->ncands;
}

void standby_on_closed(struct standby *s, uint64_t now, const char *why)
{
	int followed = s->link == SB_LINK_FOLLOWING;
	unsigned long long epoch = replica_epoch(s);

	if (s->link == SB_LINK_NONE) {
		bug(s, "a connection closed that was never opened (%s)", why);
		return;
	}
	if (!followed &&
	    (BIT(s->state) &
	     (BIT(SB_SYNCING) | BIT(SB_REPLICATING) | BIT(SB_DEPOSING)))) {
		bug(s, "%s without a primary followed",
		    standby_state_name(s->state));
		return;
	}
	if (s->link == SB_LINK_HELLO)
		disarm(s, SB_T_HANDSHAKE);
	s->link = SB_LINK_NONE;
	s->closing = 0;
	if (s->nacks) {
		s->nacks = 0; /* Acks for a dead connection mean nothing */
		disarm(s, SB_T_ACK);
	}
	switch (s->state) {
	case SB_DEPOSING:
		disarm(s, SB_T_DEPOSE);
		snprintf(s->evidence, sizeof(s->evidence),
			 "primary %s stepped down (%.300s); it released "
			 "console output up to byte %llu",
			 s->rx->known_primary, why,
			 (unsigned long long)s->rx->released);
		s->cause = "stepped_down";
		take_over(s, now);
		break;
	case SB_SYNCING:
	case SB_REPLICATING:
		set_state(s, BIT(SB_SYNCING) | BIT(SB_REPLICATING),
			  SB_CONNECTING,
			  "primary %s lost: %s; replica stays at epoch %llu",
			  standby_primary(s)->name, why, epoch);
		if (s->cfg->failover.on_connection_loss ==
		    CONFIG_CONN_LOSS_PROMOTE)
			declare(s, now, "connection_lost",
				"connection to primary %s lost (%.300s), "
				"on_connection_loss = promote",
				standby_primary(s)->name, why);
		break;
	case SB_PRIMARY:
	case SB_STOPPED:
		return;
	default:
		if (!followed)
			next_candidate(s, why);
		break;
	}
	if (BIT(s->state) & (BIT(SB_SEEKING) | WATCHING | BIT(SB_FENCING)))
		arm(s, SB_T_RETRY, s->retry_ms);
}

void standby_on_step_down_unsent(struct standby *s, uint64_t now)
{
	if (s->state != SB_DEPOSING) {
		bug(s, "a step-down unsent in state %s",
		    standby_state_name(s->state));
		return;
	}
	disarm(s, SB_T_DEPOSE);
	close_link(s, "primary declared failed");
	take_over(s, now);
}

/* --- timers and ticks -----------------------------------------------------*/

/*
 * The silence deadline: armed by a frame when not running, it fires
 * heartbeat_timeout after the first of them and moves itself on to the
 * latest frame's deadline, so a silence is declared within a millisecond
 * of heartbeat_timeout at the cost of one timer start per
 * heartbeat_timeout, not per frame. While the primary is still watched
 * after a decision (held off, or the promotion failed), it fires again
 * every heartbeat_timeout.
 */
void standby_on_silence(struct standby *s, uint64_t now)
{
	uint64_t quiet = now - s->last_rx_ms;

	if (!s->silence_armed) {
		bug(s, "the silence timer fired unarmed");
		return;
	}
	s->silence_armed = 0;
	if (quiet <= s->timeout_ms) {
		arm_silence(s, s->timeout_ms - quiet + 1);
		return;
	}
	declare(s, now, "silence",
		"no frame from %s for %llu ms > heartbeat_timeout %llu ms",
		s->rx->known_primary, (unsigned long long)quiet,
		(unsigned long long)s->timeout_ms);
	if (watching(s))
		arm_silence(s, s->timeout_ms);
}

void standby_on_ack_timer(struct standby *s, uint64_t now)
{
	size_t i = 0;

	while (i < s->nacks && s->acks[i].due_ms <= now &&
	       i < SB_ACKS_PER_EVENT) {
		struct standby_action *a = push(s, SB_A_ACK);

		a->epoch = s->acks[i++].epoch;
		a->term = s->rx->term;
	}
	if (i) { /* none due: acks may still be NULL */
		memmove(s->acks, s->acks + i,
			(s->nacks - i) * sizeof(*s->acks));
		s->nacks -= i;
	}
	if (s->nacks)
		arm(s, SB_T_ACK,
		    s->acks[0].due_ms > now ? s->acks[0].due_ms - now : 0);
}

void standby_on_depose_timeout(struct standby *s)
{
	if (s->state != SB_DEPOSING)
		return;
	/* standby_on_closed() goes on with the takeover. */
	close_link(s, "no answer to the step-down within %llu ms",
		   (unsigned long long)s->timeout_ms);
}

/*
 * Connected, our Hello out, and no Hello accepted within heartbeat_timeout:
 * whatever answers there (a primary too slow to answer, or something that
 * accepts and trickles bytes) is given up for the next candidate, so that it
 * cannot hold this backup away from the real primary. Said at warning level
 * once until a primary accepts us, then quietly: it repeats every round.
 */
void standby_on_handshake_timeout(struct standby *s)
{
	const struct config_node *n = standby_primary(s);
	struct standby_action *a;

	if (s->link != SB_LINK_HELLO || s->closing)
		return; /* accepted, or closing, as it fired */
	a = push(s, SB_A_HANDSHAKE_TIMEOUT);
	a->cand = s->cand;
	a->ms = s->timeout_ms;
	say(s, s->handshake_logged ? LOG_DEBUG : LOG_WARN,
	    "%s at %s:%u accepted the connection but gave no Hello within "
	    "heartbeat_timeout %llu ms; not a primary that answers: trying "
	    "the next node",
	    n->name, n->host, n->port, (unsigned long long)s->timeout_ms);
	s->handshake_logged = 1;
	/* That says why no primary answers: not again every round. */
	s->waiting_logged = 1;
	close_link(s, "no Hello within heartbeat_timeout %llu ms",
		   (unsigned long long)s->timeout_ms);
}

void standby_on_fence_retry(struct standby *s)
{
	if (s->state == SB_FENCING)
		fence_step(s);
}

void standby_on_heartbeat(struct standby *s)
{
	struct standby_action *a;

	if (s->link != SB_LINK_FOLLOWING || s->closing)
		return;
	a = push(s, SB_A_HEARTBEAT);
	a->term = s->rx->term;
	a->epoch = replica_epoch(s);
}

void standby_on_health_tick(struct standby *s)
{
	if (s->health_running || !watching(s))
		return;
	s->health_running = 1;
	push(s, SB_A_RUN_HEALTH);
}

/* --- results ---------------------------------------------------------------*/

void standby_on_health_result(struct standby *s, uint64_t now,
			      enum standby_outcome o, const char *what)
{
	if (!s->health_running) {
		bug(s, "a health check ended that was not running");
		return;
	}
	s->health_running = 0;
	if (o == SB_NOT_RUN)
		say(s, LOG_ERROR, "health_check_command: cannot run: %s", what);
	else if (o == SB_FAILED)
		declare(s, now, "health_check",
			"health_check_command failed (%.400s)", what);
}

void standby_on_fence_result(struct standby *s, enum standby_outcome o,
			     uint64_t elapsed_ms, const char *what)
{
	if (!s->fence_running) {
		bug(s, "a fence ended that was not running");
		return;
	}
	s->fence_running = 0;
	if (s->state != SB_FENCING)
		return; /* called off: the primary came back, or stopping */
	if (o == SB_PASSED) {
		push(s, SB_A_MARK);
		set_state(s, BIT(SB_FENCING), SB_PROMOTING,
			  "fence_command succeeded in %llu ms; promoting",
			  (unsigned long long)elapsed_ms);
		begin_promote(s);
		return;
	}
	/* The lease (if any) stays ours while the fence is retried. */
	if (o == SB_FAILED)
		say(s, LOG_ERROR,
		    "fence_command failed (%s): not promoting, a second "
		    "primary must never run; trying again in %llu ms",
		    what, (unsigned long long)s->timeout_ms);
	else
		say(s, LOG_ERROR,
		    "fence_command: cannot run: %s; trying again in %llu ms",
		    what, (unsigned long long)s->timeout_ms);
	arm(s, SB_T_FENCE, s->timeout_ms);
}

void standby_on_lease(struct standby *s, enum standby_lease r, uint64_t term,
		      const char *holder, const char *why)
{
	if (!s->lease_asking) {
		bug(s, "a lease answer nobody asked for");
		return;
	}
	s->lease_asking = 0;
	if (r == SB_LEASE_WON) {
		s->lease_term = term;
		s->own_term = 0;
		if (s->state != SB_FENCING) {
			/* called off (the primary answered) or stopping */
			give_lease_back(s);
			return;
		}
		say(s, LOG_INFO, "lease won in term %llu",
		    (unsigned long long)term);
		fence_step(s);
		return;
	}
	if (s->state != SB_FENCING)
		return;
	if (!s->lease_logged) {
		if (r == SB_LEASE_BUSY && *holder)
			say(s, LOG_WARN,
			    "%s still holds the lease (term %llu): it may "
			    "still release output, so this node does not "
			    "promote; asking again every %llu ms",
			    holder, (unsigned long long)term,
			    (unsigned long long)s->retry_ms);
		else if (r == SB_LEASE_BUSY)
			say(s, LOG_WARN,
			    "the term moved on to %llu without this replica "
			    "(term %llu): a primary released output it does "
			    "not hold, so it must not take over; asking again "
			    "every %llu ms",
			    (unsigned long long)term,
			    (unsigned long long)s->rx->known_term,
			    (unsigned long long)s->retry_ms);
		else
			say(s, LOG_ERROR,
			    "arbiter: %s; not promoting without the lease; "
			    "asking again every %llu ms",
			    why, (unsigned long long)s->retry_ms);
	}
	s->lease_logged = 1;
	arm(s, SB_T_FENCE, s->retry_ms);
}

void standby_on_promoted(struct standby *s, const char *summary)
{
	set_state(s, BIT(SB_PROMOTING), SB_PRIMARY, "%s", summary);
	/* The shell closed the backup's timers. */
	s->silence_armed = 0;
}

void standby_on_promote_failed(struct standby *s, uint64_t now, const char *err)
{
	set_state(s, BIT(SB_PROMOTING), SB_CONNECTING,
		  "cannot promote: %s; the replica stays at epoch %llu; "
		  "trying again in %llu ms",
		  err, (unsigned long long)replica_epoch(s),
		  (unsigned long long)s->timeout_ms);
	if (s->state != SB_CONNECTING)
		return;
	give_lease_back(s);
	s->hold_off_ms = now + s->timeout_ms;
	push(s, SB_A_SNAPSHOT)->flag = 1; /* if the replica moved on */
	arm(s, SB_T_RETRY, s->retry_ms);  /* the old primary may come back */
	/* While the silence lasts, it decides again. */
	if (!s->silence_armed)
		arm_silence(s, s->timeout_ms);
}

void standby_on_signal(struct standby *s, int signum, const char *name)
{
	if (s->state == SB_PRIMARY) {
		/* SIGUSR1 has no replica to write any more. */
		if (signum != SIGUSR1)
			push(s, SB_A_FORWARD)->signum = signum;
		return;
	}
	if (s->state == SB_STOPPED)
		return;
	if (signum == SIGUSR1) {
		push(s, SB_A_SNAPSHOT);
		return;
	}
	say(s, LOG_INFO, "%s: stopping with the replica at epoch %llu", name,
	    (unsigned long long)replica_epoch(s));
	push(s, SB_A_SNAPSHOT);
	stop(s, "stopping");
}
