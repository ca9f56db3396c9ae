/*
 * The primary's state machine (primary/core.c) without I/O: a fake
 * workload records what the core asks of it, and every test checks the
 * actions the core queues. Every state meets every event (the matrix
 * test), then the details: the sync, the pipeline's order and bounds,
 * Acks, Hellos, losing the backup under each policy, stopping, and the
 * broken invariants that must stop the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "core.h"
#include "primary.h"

#define PAGE	   4096u
#define MEM	   (64u << 20)
#define BACKUP	   0x1001 /* connection ids */
#define OTHER	   0x2002
#define INFLIGHT   2u
#define SYNC_CHUNK 2048u

/* --- a fake workload ------------------------------------------------------ */

struct fake {
	int captures, finals, harvests, lists, defers, stages, reserves;
	int pauses, resumes;
	uint64_t last_epoch;
	int capture_ret, stage_ret, reserve_ret;
	long harvest_ret; /* pages each harvest finds */
	size_t list_ret;  /* pages each list finds */
};

static int f_capture(void *w, unsigned slot, uint64_t epoch, int final)
{
	struct fake *f = w;

	(void)slot;
	if (f->capture_ret)
		return f->capture_ret;
	f->captures++;
	f->finals += final;
	f->last_epoch = epoch;
	return 0;
}

static long f_harvest(void *w)
{
	struct fake *f = w;

	f->harvests++;
	return f->harvest_ret;
}

static size_t f_list(void *w, int all)
{
	struct fake *f = w;

	(void)all;
	f->lists++;
	return f->list_ret;
}

static void f_defer(void *w)
{
	((struct fake *)w)->defers++;
}

static int f_stage(void *w, unsigned slot, uint64_t epoch, size_t pos, size_t n)
{
	struct fake *f = w;

	(void)slot;
	(void)pos;
	(void)n;
	if (f->stage_ret)
		return f->stage_ret;
	f->stages++;
	f->last_epoch = epoch;
	return 0;
}

static int f_reserve(void *w)
{
	struct fake *f = w;

	f->reserves++;
	return f->reserve_ret;
}

static int f_pause(void *w)
{
	((struct fake *)w)->pauses++;
	return 0;
}

static int f_resume(void *w)
{
	((struct fake *)w)->resumes++;
	return 0;
}

static const struct workload_ops fake_ops = {
	.capture = f_capture,
	.harvest = f_harvest,
	.list = f_list,
	.defer = f_defer,
	.stage = f_stage,
	.reserve = f_reserve,
	.pause = f_pause,
	.resume = f_resume,
};

/* --- the fixture ---------------------------------------------------------- */

struct t {
	struct config cfg;
	struct fake f;
	struct pcore c;
	/* the actions of the last drain */
	struct pcore_action act[256];
	int nact;
	int bugs;
	char bug[256];
};

static struct t *cur; /* for the bug hook: one test at a time */

static void catch_bug(const char *file, int line, const char *what)
{
	(void)file;
	(void)line;
	cur->bugs++;
	snprintf(cur->bug, sizeof(cur->bug), "%s", what);
}

static const char conf[] = "[cluster]\n"
			   "name = t\n"
			   "[node a]\n"
			   "replication_address = 127.0.0.1:7301\n"
			   "role = primary\n"
			   "[node b]\n"
			   "replication_address = 127.0.0.1:7302\n"
			   "role = backup\n"
			   "[workload]\n"
			   "type = kvm\n"
			   "guest = /g.elf\n"
			   "memory = 64M\n"
			   "[replication]\n"
			   "max_inflight_epochs = 2\n"
			   "precopy_stop_pages = 10\n"
			   "precopy_max_rounds = 3\n"
			   "[failover]\n"
			   "on_backup_loss = %s\n";

static int with_arbiter; /* start() makes the core hold a lease */

static void start(struct t *t, const char *loss, int promoted)
{
	char text[sizeof(conf) + 32], err[256];
	struct pcore_opts o = {0};
	int n;

	memset(t, 0, sizeof(*t));
	cur = t;
	n = snprintf(text, sizeof(text), conf, loss);
	assert_int_equal(config_parse(text, (size_t)n, "t.conf", "/", &t->cfg,
				      err, sizeof(err)),
			 0);
	o.cfg = &t->cfg;
	o.self = config_node(&t->cfg, "a");
	o.term = promoted ? 2 : 1;
	o.promoted = promoted;
	o.arbiter = with_arbiter;
	o.nslots = INFLIGHT + 1;
	o.page_size = PAGE;
	o.wl = (struct workload){.ops = &fake_ops, .w = &t->f};
	o.bug = catch_bug;
	assert_int_equal(pcore_init(&t->c, &o), 0);
	t->f.list_ret = 5;
	t->f.harvest_ret = 3;
}

static void stop_fixture(struct t *t)
{
	assert_int_equal(t->bugs, 0);
	pcore_destroy(&t->c);
}

/* Drains the core's queue into t->act (a test plays the shell). */
static int drain(struct t *t)
{
	const struct pcore_action *a;

	t->nact = 0;
	while ((a = pcore_next(&t->c)) != NULL) {
		assert_true(t->nact < 256);
		t->act[t->nact++] = *a;
	}
	return t->nact;
}

/* How many actions of type were drained; *first: the first of them. */
static int count(const struct t *t, enum pcore_act type,
		 const struct pcore_action **first)
{
	int i, n = 0;

	for (i = 0; i < t->nact; i++)
		if (t->act[i].type == type) {
			if (!n && first)
				*first = &t->act[i];
			n++;
		}
	return n;
}

static const struct pcore_action *only(const struct t *t, enum pcore_act type)
{
	const struct pcore_action *a = NULL;

	assert_int_equal(count(t, type, &a), 1);
	return a;
}

static void hello(struct t *t, uint64_t conn, const char *node, uint64_t term,
		  Remora__Role role)
{
	Remora__Hello h;
	struct wire_msg m = {.type = WIRE_HELLO, .hello = &h};

	wire_hello_init(&h, term, PAGE, MEM, "t", node, role);
	pcore_on_msg(&t->c, conn, &m);
}

static void ack(struct t *t, uint64_t epoch, uint64_t term)
{
	Remora__Ack a = REMORA__ACK__INIT;
	struct wire_msg m = {.type = WIRE_ACK, .ack = &a};

	a.epoch = epoch;
	a.term = term;
	pcore_on_msg(&t->c, BACKUP, &m);
}

/*
 * Plays the encoder and the connection for every epoch in the actions
 * drained last and queued since, until nothing more moves; t->act is
 * empty afterwards.
 */
static void flow(struct t *t)
{
	int i, more = 1;

	while (more) {
		more = 0;
		for (i = 0; i < t->nact; i++) {
			if (t->act[i].type == PA_ENCODE) {
				pcore_on_encoded(&t->c, t->act[i].slot, 0);
				more = 1;
			} else if (t->act[i].type == PA_SEND) {
				pcore_on_sent(&t->c, t->act[i].slot);
				more = 1;
			}
		}
		if (drain(t))
			more = 1;
	}
}

/* Brings a fresh core to each state. */
static void to_syncing(struct t *t)
{
	assert_int_equal(pcore_on_accept(&t->c, BACKUP), 1);
	hello(t, BACKUP, "b", t->c.term, REMORA__ROLE__ROLE_BACKUP);
	assert_int_equal(t->c.state, PC_SYNCING);
	flow(t);
}

static void to_protected(struct t *t)
{
	to_syncing(t);
	/* Round 0 (one chunk) acknowledged: the next harvest finds 3 pages,
	 * under precopy_stop_pages: the sync is done. */
	ack(t, t->c.sent_epoch, t->c.term);
	assert_int_equal(t->c.state, PC_PROTECTED);
	flow(t);
	assert_int_equal(t->f.captures, 1); /* the first checkpoint: due */
	ack(t, t->c.sent_epoch, t->c.term);
	flow(t);
}

static void to_state(struct t *t, enum pcore_state s)
{
	switch (s) {
	case PC_WAITING:
		start(t, "continue", 0);
		break;
	case PC_PAUSED:
		start(t, "pause", 0);
		to_protected(t);
		pcore_on_closed(&t->c, BACKUP, "gone");
		break;
	case PC_DEGRADED:
		start(t, "continue", 1);
		break;
	case PC_SYNCING:
		start(t, "continue", 0);
		to_syncing(t);
		break;
	case PC_PROTECTED:
		start(t, "continue", 0);
		to_protected(t);
		break;
	case PC_DRAINING:
		start(t, "continue", 0);
		to_protected(t);
		pcore_on_signal(&t->c, "Terminated");
		break;
	case PC_STOPPED:
		start(t, "continue", 0);
		pcore_on_abort(&t->c, "test", 9);
		break;
	}
	drain(t);
	flow(t);
	assert_int_equal(t->c.state, s);
}

/* A protected core whose next checkpoint was just taken: its ENCODE is in
 * t->act. */
static void protected_tick(struct t *t)
{
	start(t, "continue", 0);
	to_protected(t);
	pcore_on_tick(&t->c);
	drain(t);
}

/* --- every state meets every event ---------------------------------------- */

enum ev {
	E_TICK,
	E_HB,
	E_ACCEPT,
	E_HELLO,
	E_ACK,
	E_CLOSED,
	E_SIGNAL,
	E_GUEST,
	E_DRAIN_TIMEOUT,
	E_REPLACED,
	E_ABORT,
	E_STALLED,
	NEV
};

static const char *const ev_names[] = {
	"tick",	  "heartbeat", "accept",	"hello",    "ack",   "closed",
	"signal", "guest end", "drain timeout", "replaced", "abort", "stalled"};

static void fire(struct t *t, enum ev e)
{
	switch (e) {
	case E_TICK:
		pcore_on_tick(&t->c);
		break;
	case E_HB:
		pcore_on_heartbeat_tick(&t->c);
		break;
	case E_ACCEPT:
		pcore_on_accept(&t->c, OTHER);
		break;
	case E_HELLO: /* a backup on a fresh connection */
		if (pcore_on_accept(&t->c, OTHER))
			hello(t, OTHER, "b", t->c.term,
			      REMORA__ROLE__ROLE_BACKUP);
		else
			hello(t, OTHER, "b", t->c.term,
			      REMORA__ROLE__ROLE_BACKUP);
		break;
	case E_ACK:
		if (t->c.sent_epoch > t->c.acked)
			ack(t, t->c.sent_epoch, t->c.term);
		break;
	case E_CLOSED:
		pcore_on_closed(&t->c, BACKUP, "eof");
		break;
	case E_SIGNAL:
		pcore_on_signal(&t->c, "Terminated");
		break;
	case E_GUEST:
		pcore_on_guest_stopped(&t->c, 7);
		break;
	case E_DRAIN_TIMEOUT:
		pcore_on_drain_timeout(&t->c);
		break;
	case E_REPLACED:
		pcore_on_replaced(&t->c, "b", 9);
		break;
	case E_ABORT:
		pcore_on_abort(&t->c, "test", 5);
		break;
	case E_STALLED:
		pcore_on_stalled(&t->c, 1000);
		break;
	case NEV:
		break;
	}
	flow(t);
}

/*
 * The state each (state, event) pair leads to; the table of core.h, seen
 * from the events. A transition that core.h does not allow would trip the
 * bug hook (checked after each pair).
 */
#define W  PC_WAITING
#define PS PC_PAUSED
#define D  PC_DEGRADED
#define SY PC_SYNCING
#define PR PC_PROTECTED
#define DR PC_DRAINING
#define ST PC_STOPPED
static const enum pcore_state next[PC_NSTATES][NEV] = {
	/*            tick hb accept hello ack closed signal guest drain-to
	   replaced abort stalled */
	[PC_WAITING] = {W, W, W, SY, W, W, ST, ST, W, ST, ST, W},
	[PC_PAUSED] = {PS, PS, PS, SY, PS, PS, ST, ST, PS, ST, ST, PS},
	[PC_DEGRADED] = {D, D, D, SY, D, D, ST, ST, D, ST, ST, D},
	/* syncing: the Ack of round 0 ends the sync */
	[PC_SYNCING] = {SY, SY, SY, SY, PR, W, ST, ST, SY, ST, ST, SY},
	/* protected: closed: continue, but protected before: degraded */
	[PC_PROTECTED] = {PR, PR, PR, PR, PR, D, DR, DR, PR, ST, ST, PR},
	/* draining: the flow() after the signal got the last epoch out;
	   its Ack stops */
	[PC_DRAINING] = {DR, DR, DR, DR, ST, ST, ST, DR, ST, ST, ST, DR},
	[PC_STOPPED] = {ST, ST, ST, ST, ST, ST, ST, ST, ST, ST, ST, ST},
};

static void every_state_every_event(void **state)
{
	struct t *t = malloc(sizeof(*t));
	int s, e;

	(void)state;
	for (s = 0; s < PC_NSTATES; s++)
		for (e = 0; e < NEV; e++) {
			to_state(t, (enum pcore_state)s);
			fire(t, (enum ev)e);
			if (t->c.state != next[s][e] || t->bugs)
				fail_msg("%s + %s: %s (want %s)%s%s",
					 pcore_state_name((enum pcore_state)s),
					 ev_names[e],
					 pcore_state_name(t->c.state),
					 pcore_state_name(next[s][e]),
					 t->bugs ? "; bug: " : "",
					 t->bugs ? t->bug : "");
			stop_fixture(t);
		}
	free(t);
}

/* The table in core.h is the one core.c checks: the states an event can
 * reach from each state are allowed there, and nothing leaves STOPPED. */
static void transitions_match_the_table(void **state)
{
	int s, e;

	(void)state;
	for (s = 0; s < PC_NSTATES; s++)
		for (e = 0; e < NEV; e++)
			if ((int)next[s][e] != s)
				assert_true(pcore_transition_allowed(
					(enum pcore_state)s, next[s][e]));
	for (s = 0; s < PC_NSTATES; s++)
		assert_false(pcore_transition_allowed(PC_STOPPED,
						      (enum pcore_state)s));
	assert_false(pcore_transition_allowed(PC_DRAINING, PC_PROTECTED));
	assert_false(pcore_transition_allowed(PC_WAITING, PC_PROTECTED));
	assert_false(pcore_transition_allowed(PC_DEGRADED, PC_WAITING));
}

/* --- the sync ------------------------------------------------------------- */

static void sync_rounds_until_few_pages(void **state)
{
	struct t t;
	const struct pcore_action *a;

	(void)state;
	start(&t, "continue", 0);
	t.f.list_ret = SYNC_CHUNK + 5; /* round 0: two chunks */
	t.f.harvest_ret = 50;	       /* over precopy_stop_pages */
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	a = only(&t, PA_HELLO);
	assert_int_equal(a->conn, BACKUP);
	assert_int_equal(t.f.reserves, 1);
	assert_int_equal(t.f.stages, 2); /* both chunks: two slots */
	assert_int_equal(count(&t, PA_PROGRESS, NULL), 2);
	assert_int_equal(only(&t, PA_ENCODE)->flag, 1); /* a fresh cache */
	/* Encoded and sent; round 1 waits for round 0's Acks. */
	flow(&t);
	assert_int_equal(t.c.sent_epoch, 2);
	assert_int_equal(t.f.harvests, 1);
	ack(&t, 1, 1);
	flow(&t);
	assert_int_equal(t.f.harvests, 1); /* epoch 2 still on its way */
	t.f.list_ret = 5;
	ack(&t, 2, 1);
	flow(&t);
	assert_int_equal(t.f.harvests, 2); /* round 1: 5 pages listed */
	assert_int_equal(t.c.round, 1);
	assert_int_equal(t.c.state, PC_SYNCING);
	t.f.harvest_ret = 4; /* few enough */
	ack(&t, 3, 1);
	drain(&t);
	assert_int_equal(t.c.state, PC_PROTECTED);
	assert_int_equal(t.f.defers, 1); /* the rest: first checkpoint */
	assert_int_equal(t.f.captures, 1);
	assert_int_equal(t.f.last_epoch, 4);
	stop_fixture(&t);
}

static void sync_stops_after_max_rounds(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	t.f.harvest_ret = 1000; /* the guest writes a lot */
	to_syncing(&t);
	ack(&t, t.c.sent_epoch, 1); /* round 0 */
	flow(&t);
	ack(&t, t.c.sent_epoch, 1); /* round 1 */
	flow(&t);
	assert_int_equal(t.c.state, PC_SYNCING);
	ack(&t, t.c.sent_epoch, 1); /* round 2 */
	flow(&t);
	assert_int_equal(t.c.state, PC_PROTECTED);
	assert_int_equal(t.c.round, 3);
	stop_fixture(&t);
}

static void sync_empty_round_goes_on(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	t.f.list_ret = 0; /* a guest with no data yet */
	t.f.harvest_ret = 2;
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	/* Round 0 listed nothing: the next harvest ends the sync at once. */
	assert_int_equal(t.c.state, PC_PROTECTED);
	assert_int_equal(t.f.stages, 0);
	stop_fixture(&t);
}

/*
 * A workload whose pause runs on its own thread (a process's CRIU dump)
 * says -EINPROGRESS: no error, no epoch taken, the loop goes on; when it
 * is ready the core asks again, and the epoch is taken then. Harvests too.
 */
static void capture_in_progress(void **state)
{
	struct t t;
	uint64_t next;
	int taken;

	(void)state;
	start(&t, "continue", 0);
	t.f.harvest_ret = -EINPROGRESS;
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	assert_int_equal(count(&t, PA_LOG, NULL), 0);
	assert_int_equal(t.f.stages, 0);
	assert_int_equal(t.c.state, PC_SYNCING);
	t.f.harvest_ret = 3;
	pcore_on_workload_ready(&t.c);
	flow(&t);
	assert_int_equal(t.f.stages, 1);
	ack(&t, t.c.sent_epoch, t.c.term);
	assert_int_equal(t.c.state, PC_PROTECTED);

	flow(&t); /* the first checkpoint, due at once */
	taken = t.f.captures;
	t.f.capture_ret = -EINPROGRESS;
	next = t.c.next_epoch;
	pcore_on_tick(&t.c);
	drain(&t);
	pcore_on_tick(&t.c); /* a tick meanwhile: still one epoch due */
	drain(&t);
	assert_int_equal(count(&t, PA_LOG, NULL), 0);
	assert_int_equal(t.c.next_epoch, next);
	assert_int_equal(t.f.captures, taken);
	t.f.capture_ret = 0;
	pcore_on_workload_ready(&t.c);
	flow(&t);
	assert_int_equal(t.f.captures, taken + 1);
	assert_int_equal(t.f.last_epoch, next);
	assert_int_equal(t.c.next_epoch, next + 1);
	pcore_on_workload_ready(&t.c); /* nothing due: nothing taken */
	flow(&t);
	assert_int_equal(t.f.captures, taken + 1);
	stop_fixture(&t);
}

static void failed_harvest_is_retried(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	t.f.harvest_ret = -EIO;
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	assert_int_equal(count(&t, PA_LOG, NULL), 1);
	assert_int_equal(t.f.stages, 0);
	t.f.harvest_ret = 3;
	pcore_on_drain(&t.c); /* any later event tries again */
	drain(&t);
	assert_int_equal(t.f.stages, 1);
	stop_fixture(&t);
}

/* --- the pipeline --------------------------------------------------------- */

static void ticks_wait_when_full(void **state)
{
	struct t t;
	uint64_t e;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	e = t.c.next_epoch;
	pcore_on_tick(&t.c);
	flow(&t);
	pcore_on_tick(&t.c);
	flow(&t);
	/* max_inflight_epochs (2) sent, none acknowledged: the third tick
	 * waits, and so does the fourth (one checkpoint owed, not two). */
	pcore_on_tick(&t.c);
	pcore_on_tick(&t.c);
	drain(&t);
	assert_int_equal(t.c.next_epoch, e + 2);
	assert_int_equal(t.c.waits, 2);
	assert_int_equal(t.c.due, 1);
	ack(&t, e, 1); /* room: the owed checkpoint is taken at once */
	drain(&t);
	assert_int_equal(t.c.next_epoch, e + 3);
	assert_int_equal(t.c.due, 0);
	stop_fixture(&t);
}

static void encodes_one_at_a_time_in_order(void **state)
{
	struct t t;
	const struct pcore_action *a;
	unsigned s1;

	(void)state;
	protected_tick(&t);
	s1 = only(&t, PA_ENCODE)->slot;
	assert_int_equal(only(&t, PA_ENCODE)->flag, 0); /* same backup */
	pcore_on_tick(&t.c);
	drain(&t);
	assert_int_equal(count(&t, PA_ENCODE, NULL), 0); /* worker busy */
	pcore_on_encoded(&t.c, s1, 0);
	drain(&t);
	a = only(&t, PA_SEND);
	assert_int_equal(a->slot, s1);
	assert_int_equal(count(&t, PA_ENCODE, NULL), 1); /* the next one */
	stop_fixture(&t);
}

static void failed_encoding_closes(void **state)
{
	struct t t;
	unsigned slot;

	(void)state;
	protected_tick(&t);
	slot = only(&t, PA_ENCODE)->slot;
	pcore_on_encoded(&t.c, slot, -ENOMEM);
	drain(&t);
	assert_int_equal(only(&t, PA_CLOSE)->conn, BACKUP);
	assert_int_equal(t.c.slots[slot].st, SLOT_FREE);
	stop_fixture(&t);
}

/* An epoch encoded for a backup that is gone is dropped, not sent. */
static void stale_encoding_dropped(void **state)
{
	struct t t;
	unsigned slot;

	(void)state;
	protected_tick(&t);
	slot = only(&t, PA_ENCODE)->slot;
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	pcore_on_encoded(&t.c, slot, 0);
	drain(&t);
	assert_int_equal(count(&t, PA_SEND, NULL), 0);
	assert_int_equal(t.c.slots[slot].st, SLOT_FREE);
	stop_fixture(&t);
}

/* Broken invariants: completions for slots in the wrong state. */
static void slot_events_out_of_order_are_bugs(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	pcore_on_encoded(&t.c, 0, 0);
	assert_int_equal(t.bugs, 1);
	assert_non_null(strstr(t.bug, "not encoding"));
	pcore_on_sent(&t.c, 1);
	assert_int_equal(t.bugs, 2);
	assert_non_null(strstr(t.bug, "not sending"));
	pcore_on_sent(&t.c, 99);
	assert_int_equal(t.bugs, 3);
	t.bugs = 0;
	stop_fixture(&t);
}

/* --- Acks ----------------------------------------------------------------- */

static void ack_releases_output(void **state)
{
	struct t t;
	const struct pcore_action *a;
	uint64_t e;

	(void)state;
	protected_tick(&t);
	flow(&t);
	pcore_on_tick(&t.c);
	flow(&t);
	e = t.c.sent_epoch;
	ack(&t, e, 1); /* one Ack for two epochs */
	drain(&t);
	a = only(&t, PA_RELEASE);
	assert_int_equal(a->a, e - 2);
	assert_int_equal(a->b, e);
	assert_int_equal(t.c.acked, e);
	stop_fixture(&t);
}

static void bad_acks_close(void **state)
{
	struct t t;
	uint64_t e;

	(void)state;
	protected_tick(&t);
	flow(&t);
	e = t.c.sent_epoch;
	ack(&t, e, 2); /* another term */
	drain(&t);
	assert_non_null(strstr(only(&t, PA_CLOSE)->text, "term 2"));
	assert_int_equal(t.c.acked, e - 1);
	ack(&t, e + 1, 1); /* not sent yet */
	drain(&t);
	assert_non_null(strstr(only(&t, PA_CLOSE)->text, "expected"));
	ack(&t, e - 1, 1); /* acknowledged already */
	drain(&t);
	only(&t, PA_CLOSE);
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	stop_fixture(&t);
}

/* --- Hellos --------------------------------------------------------------- */

static void mismatched_hellos_refused_for_good(void **state)
{
	static const struct {
		uint32_t version, page;
		uint64_t mem;
		const char *cluster, *node;
	} bad[] = {
		{WIRE_PROTOCOL_VERSION + 1, PAGE, MEM, "t", "b"},
		{WIRE_PROTOCOL_VERSION, 8192, MEM, "t", "b"},
		{WIRE_PROTOCOL_VERSION, PAGE, MEM * 2, "t", "b"},
		{WIRE_PROTOCOL_VERSION, PAGE, MEM, "other", "b"},
		{WIRE_PROTOCOL_VERSION, PAGE, MEM, "t", "zz"},
		{WIRE_PROTOCOL_VERSION, PAGE, MEM, "t", "a"}, /* itself */
	};
	struct t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Remora__Hello h;
		struct wire_msg m = {.type = WIRE_HELLO, .hello = &h};
		const struct pcore_action *r;

		start(&t, "continue", 0);
		assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
		wire_hello_init(&h, 1, bad[i].page, bad[i].mem, bad[i].cluster,
				bad[i].node, REMORA__ROLE__ROLE_BACKUP);
		h.protocol_version = bad[i].version;
		pcore_on_msg(&t.c, BACKUP, &m);
		drain(&t);
		r = only(&t, PA_REFUSE);
		assert_int_equal(r->conn, BACKUP);
		assert_int_equal(r->flag, 1);
		assert_int_equal(t.c.state, PC_WAITING);
		assert_int_equal(t.f.reserves, 0);
		stop_fixture(&t);
	}
}

static void second_backup_refused(void **state)
{
	struct t t;
	const struct pcore_action *r;

	(void)state;
	start(&t, "continue", 0);
	to_syncing(&t);
	assert_int_equal(pcore_on_accept(&t.c, OTHER), 0); /* extra */
	hello(&t, OTHER, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	r = only(&t, PA_REFUSE);
	assert_int_equal(r->conn, OTHER);
	assert_int_equal(r->flag, 0); /* it may retry */
	assert_non_null(strstr(r->text, "already has a backup"));
	assert_int_equal(t.c.state, PC_SYNCING);
	stop_fixture(&t);
}

static void frames_before_hello_close(void **state)
{
	struct t t;
	Remora__Ack a = REMORA__ACK__INIT;
	struct wire_msg m = {.type = WIRE_ACK, .ack = &a};

	(void)state;
	start(&t, "continue", 0);
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	pcore_on_msg(&t.c, BACKUP, &m);
	drain(&t);
	assert_non_null(strstr(only(&t, PA_CLOSE)->text, "before Hello"));
	stop_fixture(&t);
}

static void out_of_memory_refuses(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	t.f.reserve_ret = -ENOMEM;
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	assert_non_null(strstr(only(&t, PA_REFUSE)->text, "out of memory"));
	assert_int_equal(t.c.state, PC_WAITING);
	stop_fixture(&t);
}

/* A node announcing the same or a lower term is told ours; a higher term
 * (from any node, in a Hello or a Refuse) replaces this primary. */
static void terms(void **state)
{
	struct t t;
	const struct pcore_action *a;
	Remora__Refuse r = REMORA__REFUSE__INIT;
	struct wire_msg m = {.type = WIRE_REFUSE, .refuse = &r};

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_accept(&t.c, OTHER);
	hello(&t, OTHER, "b", 1, REMORA__ROLE__ROLE_PRIMARY);
	drain(&t);
	assert_non_null(strstr(only(&t, PA_REFUSE)->text, "term 1"));
	assert_int_equal(t.c.state, PC_PROTECTED);

	hello(&t, OTHER, "b", 2, REMORA__ROLE__ROLE_PRIMARY);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(t.c.exit_code, PRIMARY_EXIT_REPLACED);
	a = only(&t, PA_REPLACED);
	assert_string_equal(a->text, "b");
	assert_int_equal(a->a, 2);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	/* Its backup hears how much output it released, then the end. */
	only(&t, PA_HEARTBEAT);
	assert_int_equal(only(&t, PA_FINISH)->conn, BACKUP);
	only(&t, PA_STOP);
	assert_true(t.f.pauses >= 1);
	stop_fixture(&t);

	start(&t, "continue", 0);
	to_protected(&t);
	r.term = 3;
	r.primary = "c";
	r.reason = "newer";
	pcore_on_msg(&t.c, BACKUP, &m);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_string_equal(only(&t, PA_REPLACED)->text, "c");
	stop_fixture(&t);

	start(&t, "continue", 0);
	to_protected(&t);
	r.term = 1; /* no newer term: an ordinary refusal */
	pcore_on_msg(&t.c, BACKUP, &m);
	drain(&t);
	only(&t, PA_CLOSE);
	assert_int_equal(t.c.state, PC_PROTECTED);
	stop_fixture(&t);
}

/* --- losing the backup ---------------------------------------------------- */

static void lost_backup_policies(void **state)
{
	struct t t;

	(void)state;
	/* continue, protected before: unprotected, output released */
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_DEGRADED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_RELEASE);
	only(&t, PA_REOPEN);
	assert_true(pcore_releases_now(&t.c));
	stop_fixture(&t);

	/* continue, never protected: holds (core.h says why) */
	start(&t, "continue", 0);
	to_syncing(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_WAITING);
	assert_int_equal(only(&t, PA_STATE)->out, PO_KEEP);
	assert_false(pcore_releases_now(&t.c));
	stop_fixture(&t);

	/* pause: the guest stops, and runs again when a backup attaches */
	start(&t, "pause", 0);
	to_protected(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_PAUSED);
	assert_int_equal(t.f.pauses, 1);
	assert_int_equal(only(&t, PA_STATE)->out, PO_KEEP);
	to_syncing(&t);
	assert_int_equal(t.f.resumes, 1);
	stop_fixture(&t);

	/* a promoted primary that loses its first backup: unprotected */
	start(&t, "continue", 1);
	to_syncing(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_DEGRADED);
	stop_fixture(&t);
}

/* Epoch numbers are never reused; a new backup starts a fresh cache. */
static void reattach_continues_epochs(void **state)
{
	struct t t;
	uint64_t e;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_tick(&t.c);
	drain(&t); /* captured and on the encoder: never acknowledged */
	e = t.c.next_epoch;
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.acked, e - 1);
	pcore_on_encoded(&t.c,
			 t.c.slots[0].st == SLOT_ENCODING   ? 0
			 : t.c.slots[1].st == SLOT_ENCODING ? 1
							    : 2,
			 0);
	drain(&t);
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	drain(&t);
	assert_int_equal(t.f.last_epoch, e);
	assert_int_equal(only(&t, PA_ENCODE)->flag, 1);
	stop_fixture(&t);
}

/* --- a primary that stalled ---------------------------------------------- */

/*
 * Frozen past heartbeat_timeout, then the backup's connection ends: the
 * backup may have taken over, so nothing held is released, whatever the
 * policy; what it sent before the stall (an Ack read late) proves nothing.
 */
static void stalled_primary_releases_nothing(void **state)
{
	struct t t;
	uint64_t before;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_tick(&t.c);
	flow(&t); /* an epoch out, its Ack not read yet */
	before = t.c.sent_epoch;
	pcore_on_stalled(&t.c, 1016);
	drain(&t);
	assert_int_equal(t.c.suspect, 1);
	only(&t, PA_LOG);
	ack(&t, before, 1); /* sent before the stall: read only now */
	drain(&t);
	assert_int_equal(t.c.suspect, 1);
	/* and its output waits: the backup may have released it itself */
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	assert_int_equal(t.c.acked, before);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_WAITING);
	assert_int_equal(only(&t, PA_STATE)->out, PO_KEEP);
	assert_non_null(strstr(only(&t, PA_STATE)->text, "stalled"));
	/* A later backup of this term attaches: trust comes back. */
	to_syncing(&t);
	assert_int_equal(t.c.suspect, 0);
	stop_fixture(&t);
}

/* The backup acknowledges an epoch sent after the stall: it still
 * follows, and losing it later is an ordinary loss. */
static void stall_cleared_by_a_later_ack(void **state)
{
	struct t t;
	const struct pcore_action *r;
	uint64_t held;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_tick(&t.c);
	flow(&t);
	held = t.c.sent_epoch; /* sent before the stall */
	pcore_on_stalled(&t.c, 500);
	drain(&t);
	ack(&t, held, 1); /* read late: held back */
	pcore_on_tick(&t.c);
	flow(&t);
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	ack(&t, t.c.sent_epoch, 1); /* sent after: it still follows */
	drain(&t);
	assert_int_equal(t.c.suspect, 0);
	r = only(&t, PA_RELEASE); /* everything acknowledged, at last */
	assert_int_equal(r->a, held - 1);
	assert_int_equal(r->b, t.c.sent_epoch);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_DEGRADED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_RELEASE);
	stop_fixture(&t);

	/* without a backup there is nobody to have taken over */
	start(&t, "continue", 1);
	pcore_on_stalled(&t.c, 500);
	assert_int_equal(drain(&t), 0);
	assert_int_equal(t.c.suspect, 0);
	stop_fixture(&t);
}

/* Draining when the stall came: the last epoch's Ack, read late, releases
 * nothing. */
static void stalled_drain_releases_nothing(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_signal(&t.c, "Terminated");
	flow(&t);
	pcore_on_stalled(&t.c, 900);
	drain(&t);
	ack(&t, t.c.final_epoch, 1);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	stop_fixture(&t);
}

/* --- the arbiter's lease ------------------------------------------------ */

static void start_leased(struct t *t, const char *loss, int promoted)
{
	with_arbiter = 1;
	start(t, loss, promoted);
	with_arbiter = 0;
	assert_int_equal(t->c.lease, PL_HELD);
}

/* A lapsed lease holds every Ack's output back; renewed, it all goes. */
static void lapsed_lease_releases_nothing(void **state)
{
	struct t t;
	const struct pcore_action *r;
	uint64_t first;

	(void)state;
	start_leased(&t, "continue", 0);
	to_protected(&t);
	pcore_on_tick(&t.c);
	flow(&t);
	first = t.c.released;
	pcore_on_lease_lapsed(&t.c, "no renewal for 2000 ms");
	drain(&t);
	assert_int_equal(pcore_lease_lapsed(&t.c), 1);
	assert_non_null(strstr(only(&t, PA_LOG)->text, "lease lapsed"));
	ack(&t, t.c.sent_epoch, 1);
	pcore_on_tick(&t.c);
	flow(&t);
	ack(&t, t.c.sent_epoch, 1);
	drain(&t);
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	assert_int_equal(t.c.released, first);
	/* lapsing twice says nothing new */
	pcore_on_lease_lapsed(&t.c, "again");
	assert_int_equal(drain(&t), 0);
	pcore_on_lease_held(&t.c, 0);
	drain(&t);
	assert_int_equal(pcore_lease_lapsed(&t.c), 0);
	r = only(&t, PA_RELEASE);
	assert_int_equal(r->a, first);
	assert_int_equal(r->b, t.c.acked);
	/* held again: Acks release at once */
	pcore_on_tick(&t.c);
	flow(&t);
	ack(&t, t.c.sent_epoch, 1);
	drain(&t);
	assert_int_equal(only(&t, PA_RELEASE)->b, t.c.sent_epoch);
	stop_fixture(&t);
}

/* Losing the backup while the lease lapsed releases nothing, whatever
 * the policy; neither does a stop, nor a promoted primary's flow. */
static void lapsed_lease_keeps_output_on_loss_and_stop(void **state)
{
	struct t t;

	(void)state;
	start_leased(&t, "continue", 0);
	to_protected(&t);
	pcore_on_lease_lapsed(&t.c, "etcd said the lease is gone");
	drain(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_WAITING);
	assert_int_equal(only(&t, PA_STATE)->out, PO_KEEP);
	stop_fixture(&t);

	start_leased(&t, "continue", 1); /* promoted: DEGRADED */
	assert_int_equal(pcore_releases_now(&t.c), 1);
	pcore_on_lease_lapsed(&t.c, "no renewal");
	drain(&t);
	assert_int_equal(pcore_releases_now(&t.c), 0);
	pcore_on_signal(&t.c, "Terminated");
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	stop_fixture(&t);

	start_leased(&t, "pause", 0);
	to_protected(&t);
	pcore_on_signal(&t.c, "Terminated");
	flow(&t);
	pcore_on_lease_lapsed(&t.c, "no renewal");
	drain(&t);
	ack(&t, t.c.final_epoch, 1);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	assert_non_null(strstr(only(&t, PA_STATE)->text, "lease lapsed"));
	stop_fixture(&t);
}

/* A renewal asked for after a stall proves nobody took over: the suspect
 * primary releases what its backup acknowledged. An older one does not. */
static void fresh_lease_clears_a_stall(void **state)
{
	struct t t;
	uint64_t held;

	(void)state;
	start_leased(&t, "pause", 0);
	to_protected(&t);
	pcore_on_tick(&t.c);
	flow(&t);
	held = t.c.sent_epoch;
	pcore_on_stalled(&t.c, 1200);
	drain(&t);
	ack(&t, held, 1);
	drain(&t);
	assert_int_equal(count(&t, PA_RELEASE, NULL), 0);
	pcore_on_lease_held(&t.c, 0); /* asked before the stall */
	assert_int_equal(drain(&t), 0);
	assert_int_equal(t.c.suspect, 1);
	pcore_on_lease_held(&t.c, 1);
	drain(&t);
	assert_int_equal(t.c.suspect, 0);
	assert_int_equal(only(&t, PA_RELEASE)->b, held);
	stop_fixture(&t);

	/* without an arbiter the lease events mean nothing */
	start(&t, "continue", 1);
	pcore_on_lease_lapsed(&t.c, "x");
	pcore_on_lease_held(&t.c, 1);
	assert_int_equal(drain(&t), 0);
	assert_int_equal(pcore_releases_now(&t.c), 1);
	stop_fixture(&t);
}

/* Losing the backup with continue and an arbiter: held until the term
 * moved past the backup's replica, then unprotected in the new term; no
 * backup attaches meanwhile; a later term means replaced. */
static void continue_with_arbiter_moves_the_term(void **state)
{
	struct t t;
	const struct pcore_action *b;

	(void)state;
	start_leased(&t, "continue", 0);
	to_protected(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(t.c.state, PC_WAITING);
	assert_int_equal(only(&t, PA_STATE)->out, PO_KEEP);
	b = only(&t, PA_BUMP);
	assert_int_equal(b->a, 1);
	assert_int_equal(pcore_on_accept(&t.c, OTHER), 0); /* not now */
	pcore_on_heartbeat_tick(&t.c); /* asked already: not again */
	assert_int_equal(drain(&t), 0);
	pcore_on_bumped(&t.c, 0, 1, "a"); /* no: asked again next tick */
	assert_int_equal(drain(&t), 0);
	pcore_on_heartbeat_tick(&t.c);
	drain(&t);
	only(&t, PA_BUMP);
	pcore_on_bumped(&t.c, 1, 2, "a");
	drain(&t);
	assert_int_equal(t.c.term, 2);
	assert_int_equal(t.c.state, PC_DEGRADED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_RELEASE);
	/* a backup of the new term attaches, and is lost: bump again */
	assert_int_equal(pcore_on_accept(&t.c, BACKUP), 1);
	hello(&t, BACKUP, "b", 2, REMORA__ROLE__ROLE_BACKUP);
	flow(&t);
	ack(&t, t.c.sent_epoch, 2);
	flow(&t);
	pcore_on_closed(&t.c, BACKUP, "eof");
	drain(&t);
	assert_int_equal(only(&t, PA_BUMP)->a, 2);
	pcore_on_bumped(&t.c, 0, 3, "b"); /* b took term 3: replaced */
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	stop_fixture(&t);

	/* promoted: no replica of its term exists, it goes on at once */
	start_leased(&t, "continue", 1);
	assert_int_equal(t.c.state, PC_DEGRADED);
	stop_fixture(&t);
}

/* --- stopping ------------------------------------------------------------- */

static void drain_then_stop(void **state)
{
	struct t t;
	uint64_t last;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_signal(&t.c, "Terminated");
	drain(&t);
	assert_int_equal(t.c.state, PC_DRAINING);
	only(&t, PA_DRAIN_TIMER);
	assert_int_equal(t.f.finals, 1); /* the last epoch, guest stays */
	last = t.c.final_epoch;
	assert_int_equal(last, t.f.last_epoch);
	flow(&t);
	ack(&t, last, 1);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_RELEASE);
	only(&t, PA_RELEASE);
	assert_int_equal(only(&t, PA_CLOSE)->conn, BACKUP);
	only(&t, PA_STOP);
	assert_int_equal(t.c.exit_code, 0);
	stop_fixture(&t);
}

static void guest_end_drains_with_its_status(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 0);
	to_protected(&t);
	pcore_on_guest_stopped(&t.c, 139);
	flow(&t);
	assert_int_equal(t.c.state, PC_DRAINING);
	pcore_on_drain_timeout(&t.c);
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	assert_int_equal(t.c.exit_code, 139);
	stop_fixture(&t);
}

static void stop_unprotected_releases(void **state)
{
	struct t t;

	(void)state;
	start(&t, "continue", 1);
	pcore_on_signal(&t.c, "Interrupt");
	drain(&t);
	assert_int_equal(t.c.state, PC_STOPPED);
	assert_int_equal(only(&t, PA_STATE)->out, PO_RELEASE);
	assert_int_equal(count(&t, PA_CLOSE, NULL), 0); /* no backup */
	only(&t, PA_STOP);
	stop_fixture(&t);

	/* never protected: what it held was never acknowledged */
	start(&t, "continue", 0);
	to_syncing(&t);
	pcore_on_signal(&t.c, "Interrupt");
	drain(&t);
	assert_int_equal(only(&t, PA_STATE)->out, PO_DISCARD);
	only(&t, PA_CLOSE);
	stop_fixture(&t);
}

/* Nothing happens once stopped: late events are ignored. */
static void stopped_is_final(void **state)
{
	struct t t;

	(void)state;
	to_state(&t, PC_STOPPED);
	assert_int_equal(t.c.exit_code, 9);
	pcore_on_signal(&t.c, "Terminated");
	pcore_on_replaced(&t.c, "b", 5);
	pcore_on_guest_stopped(&t.c, 1);
	hello(&t, BACKUP, "b", 1, REMORA__ROLE__ROLE_BACKUP);
	assert_int_equal(drain(&t), 0);
	assert_int_equal(t.c.exit_code, 9);
	stop_fixture(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_state_every_event),
		cmocka_unit_test(transitions_match_the_table),
		cmocka_unit_test(sync_rounds_until_few_pages),
		cmocka_unit_test(sync_stops_after_max_rounds),
		cmocka_unit_test(sync_empty_round_goes_on),
		cmocka_unit_test(capture_in_progress),
		cmocka_unit_test(failed_harvest_is_retried),
		cmocka_unit_test(ticks_wait_when_full),
		cmocka_unit_test(encodes_one_at_a_time_in_order),
		cmocka_unit_test(failed_encoding_closes),
		cmocka_unit_test(stale_encoding_dropped),
		cmocka_unit_test(slot_events_out_of_order_are_bugs),
		cmocka_unit_test(ack_releases_output),
		cmocka_unit_test(bad_acks_close),
		cmocka_unit_test(mismatched_hellos_refused_for_good),
		cmocka_unit_test(second_backup_refused),
		cmocka_unit_test(frames_before_hello_close),
		cmocka_unit_test(out_of_memory_refuses),
		cmocka_unit_test(terms),
		cmocka_unit_test(lost_backup_policies),
		cmocka_unit_test(reattach_continues_epochs),
		cmocka_unit_test(stalled_primary_releases_nothing),
		cmocka_unit_test(stall_cleared_by_a_later_ack),
		cmocka_unit_test(stalled_drain_releases_nothing),
		cmocka_unit_test(lapsed_lease_releases_nothing),
		cmocka_unit_test(lapsed_lease_keeps_output_on_loss_and_stop),
		cmocka_unit_test(fresh_lease_clears_a_stall),
		cmocka_unit_test(continue_with_arbiter_moves_the_term),
		cmocka_unit_test(drain_then_stop),
		cmocka_unit_test(guest_end_drains_with_its_status),
		cmocka_unit_test(stop_unprotected_releases),
		cmocka_unit_test(stopped_is_final),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
