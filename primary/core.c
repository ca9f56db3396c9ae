/*
 * The primary's state machine (see core.h for the states, the table and
 * the pipeline). Every handler ends in pump(), which does whatever the
 * pipeline can do next: stage a sync chunk, take a checkpoint, hand the
 * next epoch to the encoder, send what is encoded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "invariant.h"
#include "primary.h"

/* Pages per pre-copy epoch: keeps progress visible, and fits the output a
 * slot reserved (so a sync never faults in new output buffers). With
 * max_inflight_epochs of them in flight the link stays busy. */
#define SYNC_CHUNK_PAGES 2048u

/* A broken invariant (core.h): c->bug says so and, unless a test
 * replaced it, stops the process. */
#define BUG(...)                                           \
	do {                                               \
		char bug_[256];                            \
		snprintf(bug_, sizeof(bug_), __VA_ARGS__); \
		c->bug(__FILE__, __LINE__, bug_);          \
	} while (0)

static const char *const state_names[] = {
	[PC_WAITING] = "waiting",     [PC_PAUSED] = "waiting-paused",
	[PC_DEGRADED] = "degraded",   [PC_SYNCING] = "syncing",
	[PC_PROTECTED] = "protected", [PC_DRAINING] = "draining",
	[PC_STOPPED] = "stopped",
};

const char *pcore_state_name(enum pcore_state s)
{
	return (unsigned)s < PC_NSTATES ? state_names[s] : "?";
}

/* The table of core.h: allowed[from] has bit (1 << to). */
#define BIT(s) (1u << (s))
static const unsigned allowed[PC_NSTATES] = {
	[PC_WAITING] = BIT(PC_DEGRADED) | BIT(PC_SYNCING) | BIT(PC_STOPPED),
	[PC_PAUSED] = BIT(PC_SYNCING) | BIT(PC_STOPPED),
	[PC_DEGRADED] = BIT(PC_SYNCING) | BIT(PC_STOPPED),
	[PC_SYNCING] = BIT(PC_WAITING) | BIT(PC_PAUSED) | BIT(PC_DEGRADED) |
		       BIT(PC_PROTECTED) | BIT(PC_STOPPED),
	[PC_PROTECTED] = BIT(PC_WAITING) | BIT(PC_PAUSED) | BIT(PC_DEGRADED) |
			 BIT(PC_DRAINING) | BIT(PC_STOPPED),
	[PC_DRAINING] = BIT(PC_STOPPED),
	[PC_STOPPED] = 0,
};

int pcore_transition_allowed(enum pcore_state from, enum pcore_state to)
{
	return (unsigned)from < PC_NSTATES && (unsigned)to < PC_NSTATES &&
	       (allowed[from] & BIT(to)) != 0;
}

/* --- the action queue ----------------------------------------------------- */

static struct pcore_action *push(struct pcore *c, enum pcore_act type)
{
	struct pcore_action *a;

	if (c->tail - c->head == PCORE_QUEUE) {
		BUG("action queue full (%u actions)", PCORE_QUEUE);
		return NULL;
	}
	a = &c->q[c->tail++ % PCORE_QUEUE];
	memset(a, 0, offsetof(struct pcore_action, text));
	a->type = type;
	a->text[0] = '\0';
	return a;
}

const struct pcore_action *pcore_next(struct pcore *c)
{
	if (c->head == c->tail)
		return NULL;
	return &c->q[c->head++ % PCORE_QUEUE];
}

static void vtext(struct pcore_action *a, const char *fmt, va_list ap)
{
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
}

static void say(struct pcore *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct pcore *c, int level, const char *fmt, ...)
{
	struct pcore_action *a = push(c, PA_LOG);
	va_list ap;

	if (!a)
		return;
	a->flag = level;
	va_start(ap, fmt);
	vtext(a, fmt, ap);
	va_end(ap);
}

static void conn_act(struct pcore *c, enum pcore_act type, uint64_t conn,
		     int flag, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void conn_act(struct pcore *c, enum pcore_act type, uint64_t conn,
		     int flag, const char *fmt, ...)
{
	struct pcore_action *a = push(c, type);
	va_list ap;

	if (!a)
		return;
	a->conn = conn;
	a->flag = flag;
	va_start(ap, fmt);
	vtext(a, fmt, ap);
	va_end(ap);
}

static void slot_act(struct pcore *c, enum pcore_act type, unsigned slot,
		     int flag)
{
	struct pcore_action *a = push(c, type);

	if (a) {
		a->slot = slot;
		a->flag = flag;
	}
}

static void enter_stopped(struct pcore *c);

/*
 * The one place the state changes: checks the table, queues the line the
 * shell logs (and its event) with what happens to the held output.
 */
static void core_set(struct pcore *c, enum pcore_state to,
		     enum pcore_output out, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void core_set(struct pcore *c, enum pcore_state to,
		     enum pcore_output out, const char *fmt, ...)
{
	enum pcore_state from = c->state;
	struct pcore_action *a;
	va_list ap;

	if (!(allowed[from] & BIT(to))) {
		BUG("no transition %s -> %s", pcore_state_name(from),
		    pcore_state_name(to));
		return;
	}
	c->state = to;
	a = push(c, PA_STATE);
	if (a) {
		a->from = from;
		a->to = to;
		a->out = out;
		va_start(ap, fmt);
		vtext(a, fmt, ap);
		va_end(ap);
	}
	if (to == PC_STOPPED)
		enter_stopped(c);
}

/* --- the pipeline --------------------------------------------------------- */

/* Epochs taken on this attachment and not yet acknowledged. */
static uint64_t inflight(const struct pcore *c)
{
	return c->next_epoch - 1 - c->acked;
}

static int free_slot(const struct pcore *c)
{
	unsigned i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].st == SLOT_FREE)
			return (int)i;
	return -1;
}

static int room(const struct pcore *c)
{
	return inflight(c) < c->cfg->replication.max_inflight_epochs &&
	       free_slot(c) >= 0;
}

static int slot_with(const struct pcore *c, enum slot_state st, uint64_t epoch)
{
	unsigned i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].st == st && c->slots[i].epoch == epoch &&
		    c->slots[i].gen == c->gen)
			return (int)i;
	return -1;
}

static int encoding(const struct pcore *c)
{
	unsigned i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i].st == SLOT_ENCODING)
			return 1;
	return 0;
}

static void take(struct pcore *c, int slot, int precopy)
{
	c->slots[slot].st = SLOT_CAPTURED;
	c->slots[slot].epoch = c->next_epoch++;
	c->slots[slot].gen = c->gen;
	slot_act(c, PA_CAPTURED, (unsigned)slot, precopy);
}

static void take_checkpoint(struct pcore *c, int final)
{
	int slot = free_slot(c);
	int ret;

	ret = c->wl.ops->capture(c->wl.w, (unsigned)slot, c->next_epoch, final);
	if (ret == -EINPROGRESS) {
		/* Its pause runs on; pcore_on_workload_ready() asks again. */
		c->due = !final;
		return;
	}
	if (ret) {
		/* Nothing was lost (workload.h); the next tick tries again. */
		say(c, PC_ERROR, "epoch %llu: capture failed: %s",
		    (unsigned long long)c->next_epoch, strerror(-ret));
		return;
	}
	if (final)
		c->final_epoch = c->next_epoch;
	take(c, slot, 0);
}

/* Ends the sync: what the guest wrote meanwhile goes in the first
 * checkpoint, which is due at once. */
static void sync_done(struct pcore *c, long dirty)
{
	c->wl.ops->defer(c->wl.w);
	c->due = 1;
	core_set(c, PC_PROTECTED, PO_KEEP,
		 "sync done in %u rounds, %llu pages; %ld pages left for the "
		 "first checkpoint",
		 c->round, (unsigned long long)c->sync_pages, dirty);
}

/*
 * One step of the initial sync: stage the next chunk of the current
 * round, or (once the round is acknowledged) harvest the next round, or
 * finish. Returns 0 when nothing more can be done now.
 */
static int sync_step(struct pcore *c)
{
	const struct config *cfg = c->cfg;
	size_t n;
	long dirty;
	int slot, ret;

	if (c->round_pos == c->round_n) {
		int first = !c->listed;

		if (!first && c->acked < c->next_epoch - 1)
			return 0; /* the round is still on its way */
		dirty = c->wl.ops->harvest(c->wl.w);
		if (dirty == -EINPROGRESS)
			return 0; /* pcore_on_workload_ready() goes on */
		if (dirty < 0) {
			say(c, PC_ERROR, "sync: harvest failed: %s",
			    strerror((int)-dirty));
			return 0;
		}
		if (!first)
			c->round++;
		if (!first &&
		    ((uint64_t)dirty <= cfg->replication.precopy_stop_pages ||
		     c->round >= cfg->replication.precopy_max_rounds)) {
			sync_done(c, dirty);
			return 0;
		}
		/* Round 0: everything the guest holds; later rounds: what
		 * it wrote meanwhile. */
		c->round_n = c->wl.ops->list(c->wl.w, first);
		c->listed = 1;
		c->round_pos = 0;
		if (c->round_n == 0)
			return 1; /* nothing dirty: straight to the next */
	}
	slot = free_slot(c);
	n = c->round_n - c->round_pos;
	if (n > SYNC_CHUNK_PAGES)
		n = SYNC_CHUNK_PAGES;
	ret = c->wl.ops->stage(c->wl.w, (unsigned)slot, c->next_epoch,
			       c->round_pos, n);
	if (ret) {
		say(c, PC_ERROR, "sync: cannot stage %zu pages: %s", n,
		    strerror(-ret));
		return 0;
	}
	take(c, slot, 1);
	c->round_pos += n;
	c->sync_pages += n;
	{
		struct pcore_action *a = push(c, PA_PROGRESS);

		if (a) {
			a->a = c->round_pos;
			a->b = c->round_n;
			a->flag = (int)c->round;
		}
	}
	return 1;
}

static void encode_next(struct pcore *c)
{
	int slot;

	if (encoding(c))
		return;
	slot = slot_with(c, SLOT_CAPTURED, c->encode_epoch + 1);
	if (slot < 0)
		return;
	c->encode_epoch = c->slots[slot].epoch;
	c->slots[slot].st = SLOT_ENCODING;
	/* The delta cache holds what the last backup has: a new one has
	 * nothing, so its first epoch starts from an empty cache. */
	slot_act(c, PA_ENCODE, (unsigned)slot,
		 c->slots[slot].epoch == c->gen_first);
}

static void send_ready(struct pcore *c)
{
	int slot;

	while ((slot = slot_with(c, SLOT_ENCODED, c->sent_epoch + 1)) >= 0) {
		c->slots[slot].st = SLOT_SENDING;
		c->sent_epoch = c->slots[slot].epoch;
		slot_act(c, PA_SEND, (unsigned)slot, 0);
	}
}

static void pump(struct pcore *c)
{
	if (c->state == PC_STOPPED || c->peer != PEER_ATTACHED)
		return;
	while (c->state == PC_SYNCING && room(c) && sync_step(c))
		;
	if (c->state == PC_PROTECTED && c->due && room(c)) {
		c->due = 0;
		take_checkpoint(c, 0);
	}
	if (c->state == PC_DRAINING && !c->final_epoch && room(c))
		take_checkpoint(c, 1);
	encode_next(c);
	send_ready(c);
}

/* --- losing and stopping -------------------------------------------------- */

static void enter_stopped(struct pcore *c)
{
	/* A paused guest cannot end by itself: nothing more is appended. */
	c->wl.ops->pause(c->wl.w);
	/* Replaced while a backup listens (it asked this primary to step
	 * down): its last word is how much output it released, so that the
	 * new primary repeats none of it. */
	if (c->peer == PEER_ATTACHED && c->exit_code == PRIMARY_EXIT_REPLACED) {
		push(c, PA_HEARTBEAT);
		conn_act(c, PA_FINISH, c->peer_conn, 0, "replaced");
	} else if (c->peer != PEER_NONE) {
		conn_act(c, PA_CLOSE, c->peer_conn, 0, "primary stopped");
	}
	push(c, PA_STOP);
}

/*
 * Output may leave this node: no stall put it in doubt, and with an
 * arbiter it surely holds the lease (no other node can have promoted).
 */
static int may_release(const struct pcore *c)
{
	return !c->suspect && c->lease != PL_LAPSED;
}

/*
 * Without a backup, this primary releases output as it comes: the policy
 * is continue, and it was protected before or was promoted. A fresh
 * primary keeps holding (core.h says why).
 */
static int releases_unprotected(const struct pcore *c)
{
	return c->cfg->failover.on_backup_loss == CONFIG_BACKUP_LOSS_CONTINUE &&
	       (c->checkpoints || c->promoted) && may_release(c);
}

/* Releases what was acknowledged and is still held, if it may go out. */
static void release_acked(struct pcore *c)
{
	struct pcore_action *r;

	if (!may_release(c) || c->released >= c->acked)
		return;
	r = push(c, PA_RELEASE);
	if (r) {
		r->a = c->released;
		r->b = c->acked;
	}
	c->released = c->acked;
}

static void ask_bump(struct pcore *c)
{
	struct pcore_action *a;

	if (c->bump_asked)
		return;
	c->bump_asked = 1;
	a = push(c, PA_BUMP);
	if (a)
		a->a = c->term;
}

/* No backup any more (lost, or never there): what on_backup_loss says. */
static void lose_backup(struct pcore *c, const char *why)
{
	if (c->cfg->failover.on_backup_loss == CONFIG_BACKUP_LOSS_PAUSE) {
		int ret = c->wl.ops->pause(c->wl.w);

		if (ret)
			say(c, PC_ERROR, "cannot pause the guest: %s",
			    strerror(-ret));
		core_set(c, PC_PAUSED, PO_KEEP,
			 "%s; guest paused and output held until a backup "
			 "attaches (on_backup_loss = pause)",
			 why);
	} else if (releases_unprotected(c) && c->lease != PL_NONE &&
		   !c->promoted_only) {
		/* The backup holds a replica of this term: before output it
		 * does not hold goes out, the arbiter moves the term on, so
		 * that replica can never take over (core.h, bumping). */
		core_set(
			c, PC_WAITING, PO_KEEP,
			"%s; output held until the arbiter moves the term past "
			"the backup's replica",
			why);
		c->bumping = 1;
		ask_bump(c);
	} else if (releases_unprotected(c)) {
		core_set(c, PC_DEGRADED, PO_RELEASE,
			 "%s; unprotected: held output released, the guest "
			 "runs on; a backup that attaches is synced",
			 why);
	} else {
		core_set(c, PC_WAITING, PO_KEEP,
			 "%s; output held until a backup holds a replica%s",
			 why,
			 c->suspect ? " (this primary stalled: its backup may "
				      "have taken over)"
				    : "");
	}
}

static void begin_drain(struct pcore *c, const char *why)
{
	switch (c->state) {
	case PC_PROTECTED:
		core_set(c, PC_DRAINING, PO_KEEP,
			 "%s; taking a last epoch and waiting for its Ack",
			 why);
		push(c, PA_DRAIN_TIMER);
		pump(c);
		return;
	case PC_DEGRADED:
		/* Unprotected: what the guest printed goes out (unless the
		 * lease lapsed: another node may hold the history now). */
		c->wl.ops->pause(c->wl.w);
		core_set(c, PC_STOPPED,
			 may_release(c) ? PO_RELEASE : PO_DISCARD,
			 "%s while unprotected%s", why,
			 may_release(c) ? "" : " (the lease lapsed)");
		return;
	case PC_SYNCING:
		/* A syncing backup holds no replica yet: as before it. */
		if (releases_unprotected(c)) {
			c->wl.ops->pause(c->wl.w);
			core_set(c, PC_STOPPED, PO_RELEASE,
				 "%s while unprotected", why);
			return;
		}
		/* fall through */
	case PC_WAITING:
	case PC_PAUSED:
		core_set(c, PC_STOPPED, PO_DISCARD, "%s while %s", why,
			 pcore_state_name(c->state));
		return;
	case PC_DRAINING:
		core_set(c, PC_STOPPED, PO_DISCARD,
			 "%s while draining: not waiting any longer", why);
		return;
	case PC_STOPPED:
		return;
	}
}

/* --- events --------------------------------------------------------------- */

void pcore_on_tick(struct pcore *c)
{
	if (c->state != PC_PROTECTED)
		return;
	if (c->due || !room(c))
		c->waits++; /* the pipeline is full: this epoch waits */
	c->due = 1;
	pump(c);
}

void pcore_on_stalled(struct pcore *c, uint64_t stalled_ms)
{
	if (c->state == PC_STOPPED || c->peer != PEER_ATTACHED || c->suspect)
		return;
	c->suspect = 1;
	c->suspect_epoch = c->sent_epoch;
	say(c, PC_WARN,
	    "this primary did not run for %llu ms > heartbeat_timeout %llu "
	    "ms: backup %s may have taken over; nothing held is released "
	    "unless it is heard from again",
	    (unsigned long long)stalled_ms,
	    (unsigned long long)(c->cfg->failover.heartbeat_timeout_ns /
				 1000000),
	    c->peer_name);
}

void pcore_on_heartbeat_tick(struct pcore *c)
{
	if (c->state != PC_STOPPED && c->peer == PEER_ATTACHED)
		push(c, PA_HEARTBEAT);
	if (c->bumping && c->state == PC_WAITING)
		ask_bump(c); /* the last one was not answered yes */
}

void pcore_on_bumped(struct pcore *c, int won, uint64_t term,
		     const char *holder)
{
	c->bump_asked = 0;
	if (!c->bumping || c->state == PC_STOPPED)
		return;
	if (!won) {
		if (term > c->term)
			pcore_on_replaced(c, holder, term);
		return; /* asked again on the next heartbeat tick */
	}
	c->bumping = 0;
	c->term = term;
	c->promoted_only = 1; /* no replica of this term exists */
	if (c->state == PC_WAITING)
		core_set(c, PC_DEGRADED, PO_RELEASE,
			 "term %llu: the lost backup's replica can no longer "
			 "take over; unprotected: held output released, the "
			 "guest runs on",
			 (unsigned long long)term);
}

int pcore_on_accept(struct pcore *c, uint64_t conn)
{
	/* Not while the term moves: the backup would follow the old one. */
	if (c->peer != PEER_NONE || c->state == PC_DRAINING ||
	    c->state == PC_STOPPED || c->bumping)
		return 0;
	c->peer = PEER_HELLO;
	c->peer_conn = conn;
	return 1;
}

static void on_ack(struct pcore *c, const Remora__Ack *a)
{
	uint64_t from = c->acked;

	if (a->term != c->term) {
		conn_act(c, PA_CLOSE, c->peer_conn, PC_ERROR,
			 "Ack of term %llu, ours is %llu",
			 (unsigned long long)a->term,
			 (unsigned long long)c->term);
		return;
	}
	if (a->epoch <= c->acked || a->epoch > c->sent_epoch) {
		conn_act(c, PA_CLOSE, c->peer_conn, PC_ERROR,
			 "Ack for epoch %llu, expected %llu..%llu",
			 (unsigned long long)a->epoch,
			 (unsigned long long)c->acked + 1,
			 (unsigned long long)c->sent_epoch);
		return;
	}
	c->acked = a->epoch;
	if (c->state == PC_PROTECTED || c->state == PC_DRAINING)
		c->checkpoints += a->epoch - from;
	/* Suspect: an Ack read late may predate a takeover whose new
	 * primary released that output itself; it waits (core.h). So does
	 * everything while the lease lapsed. */
	release_acked(c);
	if (c->state == PC_DRAINING && c->final_epoch &&
	    c->acked >= c->final_epoch) {
		core_set(c, PC_STOPPED,
			 may_release(c) ? PO_RELEASE : PO_DISCARD,
			 "last epoch %llu acknowledged; %s",
			 (unsigned long long)c->final_epoch,
			 c->suspect ? "its output not released: this primary "
				      "stalled, its backup may have taken over"
			 : c->lease == PL_LAPSED
				 ? "its output not released: the lease lapsed"
				 : "all output released");
		return;
	}
	pump(c);
}

/* Names the term ours, in a Refuse that ends conn. */
static void refuse(struct pcore *c, uint64_t conn, int permanent,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct pcore *c, uint64_t conn, int permanent,
		   const char *fmt, ...)
{
	struct pcore_action *a = push(c, PA_REFUSE);
	va_list ap;

	if (!a)
		return;
	a->conn = conn;
	a->flag = permanent;
	va_start(ap, fmt);
	vtext(a, fmt, ap);
	va_end(ap);
}

/* A Hello that is not for us at all: a permanent refusal, or 0. */
static int hello_mismatch(struct pcore *c, uint64_t conn,
			  const Remora__Hello *h)
{
	const struct config *cfg = c->cfg;
	const struct config_node *peer = config_node(cfg, h->node);

	if (h->protocol_version != WIRE_PROTOCOL_VERSION) {
		say(c, PC_ERROR,
		    "node %s speaks protocol %u, this primary %u; run the "
		    "same remora version on every node",
		    h->node, h->protocol_version, WIRE_PROTOCOL_VERSION);
		refuse(c, conn, 1, "primary %s speaks protocol %u, not %u",
		       c->self->name, WIRE_PROTOCOL_VERSION,
		       h->protocol_version);
		return 1;
	}
	if (h->page_size != c->page_size ||
	    h->guest_mem_bytes != cfg->workload.memory) {
		say(c, PC_ERROR,
		    "node %s expects %llu MiB of guest memory in %u-byte "
		    "pages, this guest has %llu MiB in %u-byte pages; use the "
		    "same remora.conf on every node",
		    h->node, (unsigned long long)(h->guest_mem_bytes >> 20),
		    h->page_size,
		    (unsigned long long)(cfg->workload.memory >> 20),
		    c->page_size);
		refuse(c, conn, 1,
		       "primary %s runs a %llu MiB guest with %u-byte pages",
		       c->self->name,
		       (unsigned long long)(cfg->workload.memory >> 20),
		       c->page_size);
		return 1;
	}
	if (strcmp(h->workload_id, cfg->cluster) != 0 || !peer ||
	    peer == c->self) {
		say(c, PC_ERROR,
		    "refusing node '%s' of cluster '%s': not a node of "
		    "cluster '%s' in %s",
		    h->node, h->workload_id, cfg->cluster, cfg->path);
		refuse(c, conn, 1, "primary %s: no node '%s' in cluster '%s'",
		       c->self->name, h->node, cfg->cluster);
		return 1;
	}
	return 0;
}

static void attach(struct pcore *c, uint64_t conn, const Remora__Hello *h)
{
	int ret = c->wl.ops->reserve(c->wl.w);

	if (ret) {
		say(c, PC_ERROR,
		    "backup %s: out of memory for epoch copies (%u slots); "
		    "not protecting",
		    h->node, c->nslots);
		refuse(c, conn, 0,
		       "primary %s is out of memory for epoch copies",
		       c->self->name);
		return;
	}
	snprintf(c->peer_name, sizeof(c->peer_name), "%s", h->node);
	c->peer = PEER_ATTACHED;
	c->promoted_only = 0; /* a replica of this term is being made */
	c->suspect = 0;	      /* a backup of this term: nobody took over */
	c->gen++;
	c->acked = c->sent_epoch = c->encode_epoch = c->next_epoch - 1;
	c->released = c->acked;
	c->gen_first = c->next_epoch;
	c->round = 0;
	c->round_n = c->round_pos = 0;
	c->listed = 0;
	c->sync_pages = 0;
	conn_act(c, PA_HELLO, conn, 0, "%s", h->node);
	if (c->state == PC_PAUSED) {
		ret = c->wl.ops->resume(c->wl.w);
		if (ret)
			say(c, PC_ERROR, "cannot resume the guest: %s",
			    strerror(-ret));
		else
			say(c, PC_INFO,
			    "guest resumed: its output is held "
			    "until the backup holds a replica");
	}
	core_set(c, PC_SYNCING, PO_KEEP,
		 "backup %s attached; sending %llu MiB of workload memory",
		 h->node, (unsigned long long)(c->cfg->workload.memory >> 20));
	pump(c);
}

static void on_hello(struct pcore *c, uint64_t conn, const Remora__Hello *h)
{
	if (hello_mismatch(c, conn, h))
		return;
	/* Any node that knows a later term (a backup of the new primary,
	 * or the new primary itself): this primary has been replaced. */
	if (h->term > c->term) {
		pcore_on_replaced(
			c, h->role == REMORA__ROLE__ROLE_PRIMARY ? h->node : "",
			h->term);
		return;
	}
	if (h->role == REMORA__ROLE__ROLE_PRIMARY) {
		say(c, PC_WARN,
		    "node %s says it is primary of term %llu; this node is "
		    "primary of term %llu: telling it",
		    h->node, (unsigned long long)h->term,
		    (unsigned long long)c->term);
		refuse(c, conn, 0, "node %s is primary of term %llu",
		       c->self->name, (unsigned long long)c->term);
		return;
	}
	if (c->peer != PEER_HELLO || conn != c->peer_conn) {
		say(c, PC_WARN, "refusing backup %s: %s", h->node,
		    c->peer != PEER_NONE ? "a backup is already attached"
					 : "stopping");
		refuse(c, conn, 0, "primary %s %s", c->self->name,
		       c->peer != PEER_NONE ? "already has a backup"
		       : c->bumping	    ? "is moving to a new term"
					    : "is stopping");
		return;
	}
	attach(c, conn, h);
}

void pcore_on_msg(struct pcore *c, uint64_t conn, const struct wire_msg *m)
{
	if (c->state == PC_STOPPED)
		return;
	if (c->peer != PEER_ATTACHED || conn != c->peer_conn) {
		if (m->type == WIRE_HELLO) {
			on_hello(c, conn, m->hello);
			return;
		}
		conn_act(c, PA_CLOSE, conn, PC_ERROR, "%s before Hello",
			 wire_type_name(m->type));
		return;
	}
	if (c->suspect && m->type == WIRE_ACK &&
	    m->ack->epoch > c->suspect_epoch && m->ack->term == c->term) {
		/* It acknowledged an epoch sent after the stall: it still
		 * follows this primary, it did not take over. */
		c->suspect = 0;
		say(c, PC_INFO,
		    "backup %s acknowledged epoch %llu after the stall: it "
		    "still follows this primary",
		    c->peer_name, (unsigned long long)m->ack->epoch);
	}
	switch (m->type) {
	case WIRE_ACK:
		on_ack(c, m->ack);
		break;
	case WIRE_HEARTBEAT:
		break; /* liveness only: the shell saw the frame */
	case WIRE_REFUSE:
		if (m->refuse->term > c->term) {
			pcore_on_replaced(c, m->refuse->primary,
					  m->refuse->term);
			break;
		}
		conn_act(c, PA_CLOSE, conn, PC_ERROR, "backup %s refused: %s",
			 c->peer_name, m->refuse->reason);
		break;
	default:
		conn_act(c, PA_CLOSE, conn, PC_ERROR,
			 "unexpected %s from backup", wire_type_name(m->type));
		break;
	}
}

void pcore_on_closed(struct pcore *c, uint64_t conn, const char *why)
{
	enum pcore_peer was = c->peer;
	unsigned i;

	if (was == PEER_NONE || conn != c->peer_conn)
		return; /* an extra connection: the shell forgets it */
	c->peer = PEER_NONE;
	c->peer_conn = 0;
	for (i = 0; i < c->nslots; i++) {
		struct pcore_slot *s = &c->slots[i];

		/* An ENCODING slot is freed when its worker is done (its
		 * gen is stale then); SENDING slots come back through their
		 * cancelled writes. */
		if (s->st == SLOT_CAPTURED || s->st == SLOT_ENCODED)
			s->st = SLOT_FREE;
	}
	c->due = 0;
	c->gen++;
	/* Epoch numbers go on from here: they are never reused. Output of
	 * unacknowledged epochs waits for the next backup's first checkpoint
	 * (or is released, unprotected). */
	c->acked = c->sent_epoch = c->encode_epoch = c->next_epoch - 1;
	c->released = c->acked;
	push(c, PA_REOPEN);
	if (was == PEER_HELLO) {
		say(c, PC_WARN,
		    "a connection closed before a backup "
		    "attached: %s",
		    why);
		return;
	}
	if (c->state == PC_DRAINING)
		core_set(c, PC_STOPPED, PO_DISCARD,
			 "backup %s lost while draining (%s)", c->peer_name,
			 why);
	else if (c->state == PC_SYNCING || c->state == PC_PROTECTED) {
		char line[384];

		snprintf(line, sizeof(line), "backup %s lost: %s", c->peer_name,
			 why);
		lose_backup(c, line);
	}
}

void pcore_on_drain(struct pcore *c)
{
	pump(c);
}

void pcore_on_encoded(struct pcore *c, unsigned slot, int err)
{
	struct pcore_slot *s;

	if (slot >= c->nslots || c->slots[slot].st != SLOT_ENCODING) {
		BUG("encoded: slot %u is not encoding", slot);
		return;
	}
	s = &c->slots[slot];
	if (s->gen != c->gen || c->peer != PEER_ATTACHED) {
		s->st = SLOT_FREE; /* made for a connection that is gone */
	} else if (err) {
		s->st = SLOT_FREE;
		conn_act(c, PA_CLOSE, c->peer_conn, PC_ERROR,
			 "encoding epoch %llu failed: %s",
			 (unsigned long long)s->epoch, strerror(-err));
	} else {
		s->st = SLOT_ENCODED;
	}
	pump(c);
}

void pcore_on_sent(struct pcore *c, unsigned slot)
{
	if (slot >= c->nslots || c->slots[slot].st != SLOT_SENDING) {
		BUG("sent: slot %u is not sending", slot);
		return;
	}
	c->slots[slot].st = SLOT_FREE;
	pump(c);
}

void pcore_on_signal(struct pcore *c, const char *name)
{
	begin_drain(c, name);
}

void pcore_on_guest_stopped(struct pcore *c, int exit_code)
{
	if (c->state == PC_STOPPED)
		return;
	c->exit_code = exit_code;
	/* Draining already: its last epoch is taken or on its way. */
	if (c->state != PC_DRAINING)
		begin_drain(c, "the guest stopped");
}

void pcore_on_workload_ready(struct pcore *c)
{
	pump(c);
}

void pcore_on_drain_timeout(struct pcore *c)
{
	if (c->state == PC_DRAINING)
		core_set(c, PC_STOPPED, PO_DISCARD,
			 "no Ack for the last epoch %llu within "
			 "heartbeat_timeout",
			 (unsigned long long)c->final_epoch);
}

/*
 * A primary of a higher term exists: this one stops its guest and releases
 * nothing more (its held output belongs to epochs the new primary has
 * either replayed from its replica or never seen).
 */
void pcore_on_replaced(struct pcore *c, const char *node, uint64_t term)
{
	struct pcore_action *a;

	if (c->state == PC_STOPPED)
		return;
	c->wl.ops->pause(c->wl.w); /* first: nothing more is appended */
	c->exit_code = PRIMARY_EXIT_REPLACED;
	a = push(c, PA_REPLACED);
	if (a) {
		a->a = term;
		snprintf(a->text, sizeof(a->text), "%s", node);
	}
	core_set(c, PC_STOPPED, PO_DISCARD,
		 "replaced by %s in term %llu (this primary's term: %llu); "
		 "guest stopped",
		 *node ? node : "another node", (unsigned long long)term,
		 (unsigned long long)c->term);
}

void pcore_on_lease_held(struct pcore *c, int fresh)
{
	if (c->state == PC_STOPPED || c->lease == PL_NONE)
		return;
	if (fresh && c->suspect) {
		c->suspect = 0;
		say(c, PC_INFO,
		    "the lease was renewed after the stall: no other node "
		    "took over");
	}
	if (c->lease == PL_LAPSED) {
		c->lease = PL_HELD;
		say(c, PC_INFO,
		    "lease held again in term %llu: output may go out, the "
		    "guest runs",
		    (unsigned long long)c->term);
	}
	release_acked(c);
}

void pcore_on_lease_lapsed(struct pcore *c, const char *why)
{
	if (c->state == PC_STOPPED || c->lease != PL_HELD)
		return;
	c->lease = PL_LAPSED;
	say(c, PC_WARN,
	    "lease lapsed at epoch %llu (%s): another node may promote; "
	    "nothing is released and the guest is held until the lease is "
	    "held again",
	    (unsigned long long)c->acked, why);
}

void pcore_on_abort(struct pcore *c, const char *why, int exit_code)
{
	if (c->state == PC_STOPPED)
		return;
	c->exit_code = exit_code;
	core_set(c, PC_STOPPED, PO_DISCARD, "%s", why);
}

/* --- set-up and questions ------------------------------------------------- */

int pcore_init(struct pcore *c, const struct pcore_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->cfg = o->cfg;
	c->self = o->self;
	c->wl = o->wl;
	c->page_size = o->page_size;
	c->term = o->term;
	c->promoted = o->promoted;
	c->promoted_only = o->promoted;
	c->lease = o->arbiter ? PL_HELD : PL_NONE;
	c->state = o->promoted ? PC_DEGRADED : PC_WAITING;
	c->next_epoch = 1;
	c->bug = o->bug ? o->bug : invariant_broken;
	c->nslots = o->nslots;
	c->slots = calloc(o->nslots, sizeof(*c->slots));
	return c->slots ? 0 : -ENOMEM;
}

void pcore_destroy(struct pcore *c)
{
	free(c->slots);
	c->slots = NULL;
}

int pcore_releases_now(const struct pcore *c)
{
	return c->state == PC_DEGRADED && may_release(c);
}

int pcore_lease_lapsed(const struct pcore *c)
{
	return c->lease == PL_LAPSED;
}

int pcore_streaming(const struct pcore *c)
{
	if (c->peer != PEER_ATTACHED)
		return -1;
	return slot_with(c, SLOT_ENCODING, c->sent_epoch + 1);
}

int pcore_encoding(const struct pcore *c)
{
	return encoding(c);
}

uint64_t pcore_backup(const struct pcore *c)
{
	return c->peer == PEER_ATTACHED ? c->peer_conn : 0;
}
