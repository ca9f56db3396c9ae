/*
 * Tests of the backup's state machine (backup/standby.h), no loop, no
 * sockets, no clock: each test feeds the core events with times it picks
 * and checks the actions it queues and the state it ends in. A small
 * stand-in for the shell (settle()) carries out what must come back as an
 * event at once: a CLOSE or a REFUSE ends the connection, as conn_close()
 * reports it synchronously in the daemon.
 *
 * The core's bug hook is replaced by one that records what it said and
 * longjmps out, so that forbidden transitions and events that contradict
 * what the core knows are seen to trip it.
 *
 * test_matrix drives every state (reached by real event sequences) with
 * every event and checks the state it ends in, or the bug; the other tests
 * check the actions of the cases that matter: silence exactly past
 * heartbeat_timeout, held-off decisions and their re-arm, deposing,
 * fencing (success, failure, called off), health checks, connection loss
 * under both policies, promotion failure, signals in every state, the
 * refusal paths, candidates, the handshake deadline, delayed Acks.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "receiver.h"
#include "replica.h"
#include "standby.h"

#define TIMEOUT 300u /* heartbeat_timeout, ms */
#define RETRY	50u  /* heartbeat_interval, ms */
#define T0	100000u

/* ---- the bug hook -------------------------------------------------------- */

static jmp_buf bug_jmp;
static int bug_armed; /* a bug is expected: longjmp to bug_jmp */
static char bug_what[256];

static void test_bug(const char *file, int line, const char *what)
{
	(void)file;
	(void)line;
	snprintf(bug_what, sizeof(bug_what), "%s", what);
	if (!bug_armed)
		fail_msg("unexpected bug: %s", what);
	longjmp(bug_jmp, 1);
}

/* Runs stmt, which must trip the bug hook saying something with what. */
#define EXPECT_BUG(stmt, what)                                           \
	do {                                                             \
		bug_what[0] = 0;                                         \
		bug_armed = 1;                                           \
		if (setjmp(bug_jmp) == 0) {                              \
			stmt;                                            \
			bug_armed = 0;                                   \
			fail_msg("no bug from %s", #stmt);               \
		}                                                        \
		bug_armed = 0;                                           \
		if (!strstr(bug_what, (what)))                           \
			fail_msg("bug '%s' does not say '%s'", bug_what, \
				 (what));                                \
	} while (0)

/* ---- the fixture --------------------------------------------------------- */

#define MAXGOT 512

struct fx {
	struct config cfg;
	struct replica r;
	struct receiver rx;
	struct standby s;
	uint64_t now;
	struct standby_action got[MAXGOT]; /* since the last clear() */
	size_t n;
};

static void add_node(struct config *c, const char *name, uint16_t port,
		     enum config_role role)
{
	struct config_node *n = &c->nodes[c->nnodes++];

	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->host, sizeof(n->host), "127.0.0.1");
	n->port = port;
	n->role = role;
}

/* Options of a fixture. */
struct setup {
	const char *fence;  /* fence_command */
	const char *health; /* health_check_command */
	int promote_on_loss;
	int third_node; /* a second candidate, c */
	int arbiter;	/* arbiter = etcd */
	uint64_t ack_delay_ms;
};

static struct fx *fx_new(const struct setup *o)
{
	static const struct setup none;
	struct standby_opts so = {0};
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (!o)
		o = &none;
	snprintf(f->cfg.cluster, sizeof(f->cfg.cluster), "wl-test");
	add_node(&f->cfg, "a", 7301, CONFIG_ROLE_PRIMARY);
	add_node(&f->cfg, "b", 7302, CONFIG_ROLE_BACKUP);
	if (o->third_node)
		add_node(&f->cfg, "c", 7303, CONFIG_ROLE_BACKUP);
	f->cfg.failover.heartbeat_interval_ns = RETRY * 1000000ull;
	f->cfg.failover.heartbeat_timeout_ns = TIMEOUT * 1000000ull;
	f->cfg.failover.on_connection_loss = o->promote_on_loss
						     ? CONFIG_CONN_LOSS_PROMOTE
						     : CONFIG_CONN_LOSS_WAIT;
	snprintf(f->cfg.failover.fence_command,
		 sizeof(f->cfg.failover.fence_command), "%s",
		 o->fence ? o->fence : "");
	f->cfg.failover.arbiter =
		o->arbiter ? CONFIG_ARBITER_ETCD : CONFIG_ARBITER_NONE;
	snprintf(f->cfg.failover.health_check_command,
		 sizeof(f->cfg.failover.health_check_command), "%s",
		 o->health ? o->health : "");
	f->rx.r = &f->r;
	f->rx.primary = "a";
	so.cfg = &f->cfg;
	so.self = &f->cfg.nodes[1];
	so.rx = &f->rx;
	so.ack_delay_ms = o->ack_delay_ms;
	so.debug = 1; /* the LOG_DEBUG lines are checked too */
	assert_int_equal(standby_init(&f->s, &so), 0);
	f->s.bug = test_bug;
	f->now = T0;
	return f;
}

static void fx_free(struct fx *f)
{
	standby_destroy(&f->s);
	free(f);
}

static void clear(struct fx *f)
{
	f->n = 0;
}

/*
 * Drains, and carries out what the daemon's shell reports back at once:
 * CLOSE and REFUSE end the connection (the receiver forgets it, as
 * receiver_lost() does), until nothing more is queued.
 */
static void settle(struct fx *f)
{
	const struct standby_action *a;

	while ((a = standby_next(&f->s))) {
		assert_true(f->n < MAXGOT);
		f->got[f->n++] = *a;
		if (a->type == SB_A_CLOSE || a->type == SB_A_REFUSE) {
			char why[SB_TEXT_MAX];

			snprintf(why, sizeof(why), "%s", a->text);
			f->rx.st = RX_HELLO;
			standby_on_closed(&f->s, f->now, why);
		}
	}
}

static size_t count(const struct fx *f, enum standby_act type)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n; i++)
		n += f->got[i].type == type;
	return n;
}

/* The i-th action of type (from 0), or NULL. */
static const struct standby_action *nth(const struct fx *f,
					enum standby_act type, size_t i)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->got[k].type == type && i-- == 0)
			return &f->got[k];
	return NULL;
}

static const struct standby_action *find(const struct fx *f,
					 enum standby_act type)
{
	return nth(f, type, 0);
}

/* Position of the first action of type, or -1. */
static int pos(const struct fx *f, enum standby_act type)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->got[k].type == type)
			return (int)k;
	return -1;
}

/* The last arming of timer t, or NULL (a disarm after it counts). */
static const struct standby_action *armed(const struct fx *f,
					  enum standby_timer t)
{
	const struct standby_action *a = NULL;

	for (size_t k = 0; k < f->n; k++) {
		if (f->got[k].timer != t)
			continue;
		if (f->got[k].type == SB_A_ARM)
			a = &f->got[k];
		else if (f->got[k].type == SB_A_DISARM)
			a = NULL;
	}
	return a;
}

static int disarmed(const struct fx *f, enum standby_timer t)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->got[k].type == SB_A_DISARM && f->got[k].timer == t)
			return 1;
	return 0;
}

/* A log line at level containing text. */
static int logged(const struct fx *f, enum log_level level, const char *text)
{
	for (size_t k = 0; k < f->n; k++)
		if (f->got[k].type == SB_A_LOG && f->got[k].level == level &&
		    strstr(f->got[k].text, text))
			return 1;
	return 0;
}

/* The only state change since clear(): from -> to, its why. */
static const char *changed(const struct fx *f, enum standby_state from,
			   enum standby_state to)
{
	const struct standby_action *a = find(f, SB_A_STATE);

	assert_non_null(a);
	assert_int_equal(count(f, SB_A_STATE), 1);
	assert_string_equal(standby_state_name(a->from),
			    standby_state_name(from));
	assert_string_equal(standby_state_name(a->to), standby_state_name(to));
	return a->text;
}

static void assert_state(const struct fx *f, enum standby_state st)
{
	assert_string_equal(standby_state_name(f->s.state),
			    standby_state_name(st));
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s, part);
}

/* ---- getting to each state ----------------------------------------------- */

/* The receiver's verdicts, as it would give them. */
static struct rx_result verdict(enum rx_verdict v, uint64_t epoch,
				int synced_now)
{
	struct rx_result r = {
		.verdict = v, .epoch = epoch, .synced_now = synced_now};

	snprintf(r.why, sizeof(r.why), "some protocol error");
	return r;
}

/* Dials the current candidate and connects: our Hello is out. */
static void dial(struct fx *f)
{
	clear(f);
	standby_on_retry(&f->s);
	settle(f);
	assert_non_null(find(f, SB_A_DIAL));
	standby_on_connected(&f->s);
	settle(f);
	assert_non_null(find(f, SB_A_HELLO));
}

/* A frame at now (passed to the receiver: the return is checked). */
static void frame(struct fx *f, enum wire_type type)
{
	assert_int_equal(standby_on_frame(&f->s, f->now, type), 1);
}

/* The primary's Hello comes and is accepted (term 1, primary a). */
static void accepted(struct fx *f)
{
	frame(f, WIRE_HELLO);
	f->rx.st = RX_IDLE;
	f->rx.term = 1;
	if (!f->rx.known_term) {
		f->rx.known_term = 1;
		snprintf(f->rx.known_primary, sizeof(f->rx.known_primary), "a");
	}
	standby_on_hello(&f->s);
	settle(f);
}

/* The first checkpoint of the connection, epoch e, is applied. */
static void synced(struct fx *f, uint64_t e)
{
	struct rx_result r = verdict(RX_ACK, e, 1);

	frame(f, WIRE_EPOCH_COMMIT);
	f->r.epoch = e;
	f->r.applied_pages = 42;
	standby_on_received(&f->s, f->now, &r);
	settle(f);
}

static void to_replicating(struct fx *f)
{
	dial(f);
	accepted(f);
	assert_state(f, SB_SYNCING);
	synced(f, 5);
	assert_state(f, SB_REPLICATING);
}

/* Silence: time passes past heartbeat_timeout and the timer fires. */
static void silence(struct fx *f)
{
	f->now = f->s.last_rx_ms + TIMEOUT + 1;
	clear(f);
	standby_on_silence(&f->s, f->now);
	settle(f);
}

/* A replicating backup (options o) that the primary's silence has just
 * moved on: the decision's actions are in f->got. */
static struct fx *silenced(const struct setup *o)
{
	struct fx *f = fx_new(o);

	to_replicating(f);
	silence(f);
	return f;
}

/* Options that make each state reachable. */
static struct setup setup_for(enum standby_state st)
{
	struct setup o = {0};

	if (st == SB_FENCING)
		o.fence = "fence-it";
	if (st == SB_DEPOSING)
		o.health = "check-it";
	return o;
}

/*
 * A fixture in state st, by real events. SEEKING, CONNECTING and FENCING
 * hold a connection whose Hello is out (so connection events apply);
 * SYNCING, REPLICATING and DEPOSING follow the primary; PROMOTING,
 * PRIMARY and STOPPED hold none. In FENCING the fence runs; in PROMOTING
 * the PROMOTE action has been taken.
 */
static struct fx *reach(enum standby_state st)
{
	struct setup o = setup_for(st);
	struct fx *f = fx_new(&o);

	switch (st) {
	case SB_SEEKING:
		dial(f);
		break;
	case SB_CONNECTING:
		to_replicating(f);
		clear(f);
		standby_on_closed(&f->s, f->now, "reset by peer");
		f->rx.st = RX_HELLO;
		settle(f);
		f->now += RETRY;
		dial(f);
		break;
	case SB_SYNCING:
		dial(f);
		accepted(f);
		break;
	case SB_REPLICATING:
		to_replicating(f);
		break;
	case SB_DEPOSING:
		to_replicating(f);
		standby_on_health_tick(&f->s);
		f->now += 10;
		standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
		settle(f);
		break;
	case SB_FENCING:
		to_replicating(f);
		silence(f);
		f->now += RETRY;
		dial(f);
		break;
	case SB_PROMOTING:
		to_replicating(f);
		silence(f);
		break;
	case SB_PRIMARY:
		to_replicating(f);
		silence(f);
		standby_on_promoted(&f->s, "promoted");
		settle(f);
		break;
	case SB_STOPPED:
		to_replicating(f);
		standby_on_signal(&f->s, SIGTERM, "Terminated");
		settle(f);
		break;
	}
	assert_state(f, st);
	clear(f);
	return f;
}

/* ---- the transition table ------------------------------------------------ */

/* The table of standby.h, as the comment draws it. */
static void test_table(void **state)
{
	static const char *const rows[SB_NSTATES] = {
		/* CONNECTING SYNCING REPLIC DEPOSING FENCING PROMOTING
		 * PRIMARY STOPPED, SEEKING first */
		[SB_SEEKING] = "--+-----+",   [SB_CONNECTING] = "--+--++-+",
		[SB_SYNCING] = "-+-++++-+",   [SB_REPLICATING] = "-+--+++-+",
		[SB_DEPOSING] = "-----++-+",  [SB_FENCING] = "--+---+-+",
		[SB_PROMOTING] = "-+-----++", [SB_PRIMARY] = "---------",
		[SB_STOPPED] = "---------",
	};

	(void)state;
	for (int from = 0; from < SB_NSTATES; from++)
		for (int to = 0; to < SB_NSTATES; to++) {
			int want = rows[from][to] == '+';

			if (standby_may(from, to) != want)
				fail_msg("%s -> %s: table says %d, want %d",
					 standby_state_name(from),
					 standby_state_name(to),
					 standby_may(from, to), want);
		}
}

/* ---- every state with every event ---------------------------------------- */

enum ev {
	E_RETRY,
	E_CONNECTED,
	E_FRAME,
	E_HELLO,
	E_APPLIED,
	E_SYNCED,
	E_CLOSE_VERDICT,
	E_REFUSED,
	E_FATAL,
	E_CLOSED,
	E_STEP_DOWN_UNSENT,
	E_SILENCE,
	E_ACK_TIMER,
	E_DEPOSE_TIMEOUT,
	E_FENCE_RETRY,
	E_HEARTBEAT,
	E_HEALTH_TICK,
	E_HEALTH_FAILED,
	E_FENCE_PASSED,
	E_FENCE_FAILED,
	E_PROMOTED,
	E_PROMOTE_FAILED,
	E_SIGTERM,
	E_SIGUSR1,
	E_HANDSHAKE_TIMEOUT,
	E_COUNT,
};

static const char *const ev_names[E_COUNT] = {
	"retry",	  "connected",	      "frame",
	"hello",	  "applied",	      "synced",
	"close verdict",  "refused",	      "fatal",
	"closed",	  "step-down unsent", "silence",
	"ack timer",	  "depose timeout",   "fence retry",
	"heartbeat",	  "health tick",      "health failed",
	"fence passed",	  "fence failed",     "promoted",
	"promote failed", "SIGTERM",	      "SIGUSR1",
	"handshake",
};

static void fire(struct fx *f, enum ev e)
{
	struct rx_result r;

	switch (e) {
	case E_RETRY:
		standby_on_retry(&f->s);
		break;
	case E_CONNECTED:
		standby_on_connected(&f->s);
		break;
	case E_FRAME:
		standby_on_frame(&f->s, f->now, WIRE_HEARTBEAT);
		break;
	case E_HELLO:
		f->rx.term = f->rx.known_term;
		standby_on_hello(&f->s);
		break;
	case E_APPLIED:
		r = verdict(RX_ACK, f->r.epoch + 1, 0);
		standby_on_received(&f->s, f->now, &r);
		break;
	case E_SYNCED:
		r = verdict(RX_ACK, f->r.epoch + 1, 1);
		standby_on_received(&f->s, f->now, &r);
		break;
	case E_CLOSE_VERDICT:
		r = verdict(RX_CLOSE, 0, 0);
		standby_on_received(&f->s, f->now, &r);
		break;
	case E_REFUSED:
		r = verdict(RX_CLOSE, 0, 0);
		r.refuse = 1;
		standby_on_received(&f->s, f->now, &r);
		break;
	case E_FATAL:
		r = verdict(RX_FATAL, 0, 0);
		standby_on_received(&f->s, f->now, &r);
		break;
	case E_CLOSED:
		standby_on_closed(&f->s, f->now, "closed by peer");
		break;
	case E_STEP_DOWN_UNSENT:
		standby_on_step_down_unsent(&f->s, f->now);
		break;
	case E_SILENCE:
		f->now = f->s.last_rx_ms + TIMEOUT + 1;
		standby_on_silence(&f->s, f->now);
		break;
	case E_ACK_TIMER:
		standby_on_ack_timer(&f->s, f->now);
		break;
	case E_DEPOSE_TIMEOUT:
		standby_on_depose_timeout(&f->s);
		break;
	case E_FENCE_RETRY:
		standby_on_fence_retry(&f->s);
		break;
	case E_HEARTBEAT:
		standby_on_heartbeat(&f->s);
		break;
	case E_HEALTH_TICK:
		standby_on_health_tick(&f->s);
		break;
	case E_HEALTH_FAILED:
		standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
		break;
	case E_FENCE_PASSED:
		standby_on_fence_result(&f->s, SB_PASSED, 5, "exit 0");
		break;
	case E_FENCE_FAILED:
		standby_on_fence_result(&f->s, SB_FAILED, 5, "exit 1");
		break;
	case E_PROMOTED:
		standby_on_promoted(&f->s, "promoted");
		break;
	case E_PROMOTE_FAILED:
		standby_on_promote_failed(&f->s, f->now, "no KVM");
		break;
	case E_SIGTERM:
		standby_on_signal(&f->s, SIGTERM, "Terminated");
		break;
	case E_SIGUSR1:
		standby_on_signal(&f->s, SIGUSR1, "User defined signal 1");
		break;
	case E_HANDSHAKE_TIMEOUT:
		standby_on_handshake_timeout(&f->s);
		break;
	case E_COUNT:
		break;
	}
}

/*
 * What each event does in each state as reach() leaves it: the state it
 * ends in (after the shell's immediate reports), '=' for the same state,
 * or '!' for a bug. Letters: k seeking, c connecting, s syncing,
 * r replicating, d deposing, f fencing, p promoting, P primary, S stopped.
 * Columns in the order of enum ev, in groups of four:
 *
 *   retry connected frame hello | applied synced close-verdict refused |
 *   fatal closed step-down-unsent silence | ack-timer depose-timeout
 *   fence-retry heartbeat | health-tick health-failed fence-passed
 *   fence-failed | promoted promote-failed SIGTERM SIGUSR1 |
 *   handshake-timeout
 *
 * The handshake deadline changes no state: where a Hello is awaited
 * (seeking, connecting, fencing) it closes the connection and the next
 * candidate is dialled; elsewhere it came too late and does nothing.
 */
static const char *const matrix[SB_NSTATES] = {
	[SB_SEEKING] = "=!=s !!== S=!! ==== =!!! !!S= =",
	[SB_CONNECTING] = "=!=s !!== S=!p ==== =!!! !!S= =",
	[SB_SYNCING] = "=!=! =rcc Sc!= ==== =!!! !!S= =",
	[SB_REPLICATING] = "=!=! =!cc Sc!p ==== =!!! !!S= =",
	[SB_DEPOSING] = "=!=! ==== =pp= =p== =!!! !!S= =",
	[SB_FENCING] = "=!=s !!== S=!! ==== =!p= !!S= =",
	[SB_PROMOTING] = "=!!! !!!! !!!! ==== =!!! PcS= =",
	[SB_PRIMARY] = "=!!! !!!! !!!! ==== =!!! !!== =",
	[SB_STOPPED] = "=!!! !!!! !!!! ==== =!!! !!== =",
};

static char state_letter(enum standby_state st)
{
	return "kcsrdfpPS"[st];
}

/* What fire(e) did to f: '=', a state letter, or '!' for a bug. */
static char outcome(struct fx *f, enum ev e)
{
	enum standby_state before = f->s.state;

	bug_armed = 1;
	if (setjmp(bug_jmp)) {
		bug_armed = 0;
		return '!';
	}
	fire(f, e);
	settle(f);
	bug_armed = 0;
	return f->s.state == before ? '=' : state_letter(f->s.state);
}

static void test_matrix(void **state)
{
	(void)state;
	for (int st = 0; st < SB_NSTATES; st++) {
		const char *row = matrix[st];

		for (int e = 0; e < E_COUNT; e++, row++) {
			struct fx *f = reach(st);
			char got = outcome(f, e);

			while (*row == ' ')
				row++;
			if (got != *row)
				fail_msg("%s, %s: got '%c', want '%c'",
					 standby_state_name(st), ev_names[e],
					 got, *row);
			fx_free(f);
		}
	}
}

/* ---- the failure detector ------------------------------------------------ */

/* Silence is declared when quiet > heartbeat_timeout, not at it; frames
 * move the deadline without a timer start each. */
static void test_silence_exact(void **state)
{
	struct fx *f = reach(SB_REPLICATING);
	uint64_t last = f->s.last_rx_ms;
	const struct standby_action *d;

	(void)state;
	/* frames while the timer runs: no new timer start */
	for (int i = 1; i <= 10; i++) {
		f->now = last + 10 * i;
		frame(f, WIRE_HEARTBEAT);
	}
	settle(f);
	assert_int_equal(count(f, SB_A_ARM), 0);
	last = f->now;
	/* the timer armed at the first frame fires early: moved on, to 1 ms
	 * past the latest frame's deadline */
	f->now = T0 + TIMEOUT + 1;
	standby_on_silence(&f->s, f->now);
	settle(f);
	assert_null(find(f, SB_A_DECISION));
	assert_int_equal(armed(f, SB_T_SILENCE)->ms,
			 last + TIMEOUT + 1 - f->now);
	/* exactly heartbeat_timeout of quiet: not yet */
	clear(f);
	f->now = last + TIMEOUT;
	standby_on_silence(&f->s, f->now);
	settle(f);
	assert_null(find(f, SB_A_DECISION));
	assert_int_equal(armed(f, SB_T_SILENCE)->ms, 1);
	assert_state(f, SB_REPLICATING);
	/* one more millisecond: declared */
	clear(f);
	f->now = last + TIMEOUT + 1;
	standby_on_silence(&f->s, f->now);
	settle(f);
	d = find(f, SB_A_DECISION);
	assert_non_null(d);
	assert_string_equal(d->cause, "silence");
	assert_string_equal(d->action, "promoting");
	assert_string_equal(d->name, "a");
	assert_int_equal(d->quiet_ms, TIMEOUT + 1);
	assert_int_equal(d->timeout_ms, TIMEOUT);
	assert_int_equal(d->epoch, 5);
	assert_int_equal(d->term, 1);
	assert_string_equal(d->text, "no frame from a for 301 ms > "
				     "heartbeat_timeout 300 ms");
	assert_string_equal(changed(f, SB_REPLICATING, SB_PROMOTING),
			    "no frame from a for 301 ms > heartbeat_timeout "
			    "300 ms; last acked epoch 5; promoting");
	assert_int_equal(f->s.detect_ms, TIMEOUT + 1);
	/* the mark, the close, then the promotion: term + 1 */
	assert_true(pos(f, SB_A_MARK) < pos(f, SB_A_CLOSE));
	assert_string_equal(find(f, SB_A_CLOSE)->text,
			    "primary declared failed");
	assert_true(pos(f, SB_A_CLOSE) < pos(f, SB_A_PROMOTE));
	assert_int_equal(find(f, SB_A_PROMOTE)->term, 2);
	assert_true(disarmed(f, SB_T_RETRY));
	/* the close of a connection we closed is no "primary lost" */
	assert_state(f, SB_PROMOTING);
	assert_null(armed(f, SB_T_RETRY));
	fx_free(f);
}

/* A replica that never held a checkpoint: held off, still watching, and
 * decided again every heartbeat_timeout while the silence lasts. */
static void test_held_off_rearmed(void **state)
{
	struct fx *f = reach(SB_SYNCING);
	const struct standby_action *d;

	(void)state;
	silence(f);
	d = find(f, SB_A_DECISION);
	assert_string_equal(d->action, "held_off");
	assert_contains(d->reason, "never held a consistent replica");
	assert_true(logged(f, LOG_WARN,
			   "; but this backup never held a "
			   "consistent replica"));
	assert_true(logged(f, LOG_WARN,
			   "not promoting, still looking for a "
			   "primary"));
	assert_int_equal(count(f, SB_A_STATE), 0);
	assert_state(f, SB_SYNCING);
	assert_int_equal(armed(f, SB_T_SILENCE)->ms, TIMEOUT);
	/* within the hold-off, no other evidence decides */
	clear(f);
	f->now += TIMEOUT - 1;
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
	settle(f);
	assert_null(find(f, SB_A_DECISION));
	/* heartbeat_timeout after the first decision: again */
	clear(f);
	f->now += 1;
	standby_on_silence(&f->s, f->now);
	settle(f);
	d = find(f, SB_A_DECISION);
	assert_non_null(d);
	assert_string_equal(d->action, "held_off");
	assert_int_equal(d->quiet_ms, 2 * TIMEOUT + 1);
	assert_int_equal(armed(f, SB_T_SILENCE)->ms, TIMEOUT);
	fx_free(f);
}

/* The primary released output past the replica's end: promoting would
 * repeat it. Held off; still watching. */
static void test_held_off_stale(void **state)
{
	struct fx *f = reach(SB_REPLICATING);
	const struct standby_action *d;

	(void)state;
	f->rx.released = 1000; /* the replica's console ends at 0 */
	silence(f);
	d = find(f, SB_A_DECISION);
	assert_string_equal(d->action, "held_off");
	assert_string_equal(d->cause, "silence");
	assert_contains(d->reason, "promoting would repeat output");
	assert_state(f, SB_REPLICATING);
	assert_null(find(f, SB_A_CLOSE));
	assert_null(find(f, SB_A_PROMOTE));
	assert_non_null(armed(f, SB_T_SILENCE));
	/* a frame after all: followed as before */
	clear(f);
	frame(f, WIRE_HEARTBEAT);
	settle(f);
	assert_state(f, SB_REPLICATING);
	fx_free(f);
}

/* A failed health check while the primary still talks: asked to step
 * down, then taken over once it has gone, without repeating output. */
static void test_deposing(void **state)
{
	struct setup o = {.health = "check"};
	struct fx *f = fx_new(&o);
	const struct standby_action *a;
	struct rx_result r;

	(void)state;
	to_replicating(f);
	clear(f);
	standby_on_health_tick(&f->s);
	settle(f);
	assert_non_null(find(f, SB_A_RUN_HEALTH));
	/* one at a time */
	clear(f);
	standby_on_health_tick(&f->s);
	settle(f);
	assert_int_equal(f->n, 0);
	f->now += 20;
	standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
	settle(f);
	a = find(f, SB_A_DECISION);
	assert_string_equal(a->cause, "health_check");
	assert_string_equal(a->action, "deposing");
	assert_int_equal(a->quiet_ms, 20);
	assert_string_equal(a->text, "health_check_command failed (exit 1)");
	assert_string_equal(changed(f, SB_REPLICATING, SB_DEPOSING),
			    "health_check_command failed (exit 1); last acked "
			    "epoch 5; asking primary a to step down first "
			    "(waiting at most 300 ms)");
	a = find(f, SB_A_STEP_DOWN);
	assert_int_equal(a->term, 2);
	assert_string_equal(a->name, "b");
	assert_string_equal(a->text, "node b takes over in term 2: "
				     "health_check_command failed (exit 1)");
	assert_int_equal(armed(f, SB_T_DEPOSE)->ms, TIMEOUT);
	assert_null(find(f, SB_A_CLOSE));
	/* only Heartbeats reach the receiver; nothing is acked */
	assert_int_equal(standby_on_frame(&f->s, f->now, WIRE_EPOCH_BEGIN), 0);
	assert_int_equal(standby_on_frame(&f->s, f->now, WIRE_HEARTBEAT), 1);
	clear(f);
	r = verdict(RX_ACK, 6, 0);
	standby_on_received(&f->s, f->now, &r);
	r = verdict(RX_FATAL, 0, 0);
	standby_on_received(&f->s, f->now, &r);
	standby_on_heartbeat(&f->s);
	settle(f);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->got[0].type, SB_A_HEARTBEAT);
	assert_state(f, SB_DEPOSING);
	/* its last report, then it closes */
	f->rx.released = 77;
	f->r.tail_len = 80;
	clear(f);
	standby_on_closed(&f->s, f->now, "peer closed the connection");
	settle(f);
	a = find(f, SB_A_DECISION);
	assert_string_equal(a->cause, "stepped_down");
	assert_string_equal(a->action, "promoting");
	assert_string_equal(changed(f, SB_DEPOSING, SB_PROMOTING),
			    "primary a stepped down (peer closed the "
			    "connection); it released console output up to "
			    "byte 77; last acked epoch 5; promoting");
	assert_true(disarmed(f, SB_T_DEPOSE));
	a = find(f, SB_A_PROMOTE);
	assert_int_equal(a->term, 2);
	assert_int_equal(a->released, 77);
	/* the detection time is the decision's, not the step-down's */
	assert_int_equal(f->s.detect_ms, 20);
	fx_free(f);
}

/* No answer to the step-down within heartbeat_timeout: closed, and the
 * takeover goes on (fencing first when configured). */
static void test_depose_timeout(void **state)
{
	struct setup o = {.health = "check", .fence = "fence"};
	struct fx *f = fx_new(&o);

	(void)state;
	to_replicating(f);
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
	settle(f);
	assert_state(f, SB_DEPOSING);
	clear(f);
	f->now += TIMEOUT;
	standby_on_depose_timeout(&f->s);
	settle(f);
	assert_string_equal(find(f, SB_A_CLOSE)->text,
			    "no answer to the step-down within 300 ms");
	assert_contains(changed(f, SB_DEPOSING, SB_FENCING),
			"primary a stepped down (no answer to the step-down "
			"within 300 ms)");
	assert_string_equal(find(f, SB_A_DECISION)->action, "fencing");
	assert_non_null(find(f, SB_A_RUN_FENCE));
	/* fencing keeps dialling */
	assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
	fx_free(f);
}

/* The step-down cannot even be queued: closed, taken over at once. */
static void test_step_down_unsent(void **state)
{
	struct fx *f = reach(SB_DEPOSING);

	(void)state;
	standby_on_step_down_unsent(&f->s, f->now);
	settle(f);
	assert_string_equal(find(f, SB_A_CLOSE)->text,
			    "primary declared failed");
	assert_string_equal(changed(f, SB_DEPOSING, SB_PROMOTING),
			    "health_check_command failed (exit 1); last acked "
			    "epoch 5; promoting");
	assert_string_equal(find(f, SB_A_DECISION)->cause, "health_check");
	assert_non_null(find(f, SB_A_PROMOTE));
	fx_free(f);
}

/* Health checks: only while watching; one that cannot run is said, not
 * evidence; a failed one with the primary quiet takes over at once. */
static void test_health_check(void **state)
{
	struct setup o = {.health = "check"};
	struct fx *f = fx_new(&o);

	(void)state;
	dial(f);
	clear(f);
	standby_on_health_tick(&f->s); /* seeking: nobody to check */
	settle(f);
	assert_int_equal(f->n, 0);
	accepted(f);
	synced(f, 3);
	clear(f);
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_NOT_RUN,
				 "Cannot allocate memory");
	settle(f);
	assert_true(logged(f, LOG_ERROR,
			   "health_check_command: cannot run: "
			   "Cannot allocate memory"));
	assert_null(find(f, SB_A_DECISION));
	clear(f);
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_PASSED, "exit 0");
	settle(f);
	assert_null(find(f, SB_A_DECISION));
	/* quiet for heartbeat_timeout (the silence timer not yet run) */
	clear(f);
	f->now += TIMEOUT;
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_FAILED,
				 "timed out after 100 ms");
	settle(f);
	assert_string_equal(find(f, SB_A_DECISION)->action, "promoting");
	assert_string_equal(changed(f, SB_REPLICATING, SB_PROMOTING),
			    "health_check_command failed (timed out after 100 "
			    "ms); last acked epoch 3; promoting");
	assert_null(find(f, SB_A_STEP_DOWN));
	fx_free(f);
}

/* ---- fencing ------------------------------------------------------------- */

static void test_fence_ok(void **state)
{
	struct fx *f = reach(SB_FENCING);

	(void)state;
	standby_on_fence_result(&f->s, SB_PASSED, 12, "exit 0");
	settle(f);
	assert_string_equal(changed(f, SB_FENCING, SB_PROMOTING),
			    "fence_command succeeded in 12 ms; promoting");
	assert_true(pos(f, SB_A_MARK) < pos(f, SB_A_STATE));
	/* the dial in progress ends: nothing more from any old primary */
	assert_string_equal(find(f, SB_A_CLOSE)->text, "promoting");
	assert_true(disarmed(f, SB_T_RETRY));
	assert_int_equal(find(f, SB_A_PROMOTE)->term, 2);
	assert_null(find(f, SB_A_DECISION));
	fx_free(f);
}

/* A failed fence never promotes: tried again every heartbeat_timeout,
 * one at a time. */
static void test_fence_fails(void **state)
{
	struct setup o = {.fence = "fence"};
	struct fx *f = silenced(&o);

	(void)state;
	assert_string_equal(changed(f, SB_REPLICATING, SB_FENCING),
			    "no frame from a for 301 ms > heartbeat_timeout "
			    "300 ms; last acked epoch 5; fencing a first");
	assert_string_equal(find(f, SB_A_DECISION)->action, "fencing");
	assert_int_equal(count(f, SB_A_RUN_FENCE), 1);
	assert_null(find(f, SB_A_PROMOTE));
	for (int i = 0; i < 3; i++) {
		clear(f);
		standby_on_fence_retry(&f->s); /* still running: nothing */
		settle(f);
		assert_int_equal(f->n, 0);
		standby_on_fence_result(&f->s, SB_FAILED, 3,
					"exit 1: no power");
		settle(f);
		assert_true(logged(f, LOG_ERROR,
				   "fence_command failed (exit 1: no power): "
				   "not promoting, a second primary must never "
				   "run; trying again in 300 ms"));
		assert_int_equal(armed(f, SB_T_FENCE)->ms, TIMEOUT);
		assert_int_equal(count(f, SB_A_STATE), 0);
		clear(f);
		f->now += TIMEOUT;
		standby_on_fence_retry(&f->s);
		settle(f);
		assert_int_equal(count(f, SB_A_RUN_FENCE), 1);
	}
	/* a command that cannot even start: the same retry */
	clear(f);
	standby_on_fence_result(&f->s, SB_NOT_RUN, 0, "Cannot allocate memory");
	settle(f);
	assert_true(logged(f, LOG_ERROR,
			   "fence_command: cannot run: Cannot "
			   "allocate memory; trying again in 300 "
			   "ms"));
	assert_non_null(armed(f, SB_T_FENCE));
	assert_state(f, SB_FENCING);
	fx_free(f);
}

/* The primary answers while fencing: called off, the fence killed; its
 * end then changes nothing, and a new failover waits for it. */
static void test_fence_called_off(void **state)
{
	struct fx *f = reach(SB_FENCING);

	(void)state;
	accepted(f);
	assert_string_equal(changed(f, SB_FENCING, SB_SYNCING),
			    "primary a (term 1) accepted us; failover called "
			    "off; receiving the initial sync");
	assert_true(disarmed(f, SB_T_FENCE));
	assert_non_null(find(f, SB_A_CANCEL_FENCE));
	assert_true(f->s.fence_running);
	/* silence again before the killed fence has ended: one at a time */
	synced(f, 6);
	silence(f);
	assert_state(f, SB_FENCING);
	assert_null(find(f, SB_A_RUN_FENCE));
	/* its end decides: killed, so failed, so retried */
	clear(f);
	standby_on_fence_result(&f->s, SB_FAILED, 1, "killed by signal 9");
	settle(f);
	assert_non_null(armed(f, SB_T_FENCE));
	assert_state(f, SB_FENCING);
	fx_free(f);
}

/* A fence ends after being called off: nothing follows. */
static void test_fence_end_after_call_off(void **state)
{
	struct fx *f = reach(SB_FENCING);

	(void)state;
	accepted(f);
	clear(f);
	standby_on_fence_result(&f->s, SB_PASSED, 1, "exit 0");
	settle(f);
	assert_int_equal(f->n, 0);
	assert_false(f->s.fence_running);
	assert_state(f, SB_SYNCING);
	fx_free(f);
}

/* ---- the arbiter ----------------------------------------------------------- */

/* Silence with an arbiter: the lease is asked for, once at a time; busy,
 * asked again every retry without promoting; won, promoted in its term. */
static void test_lease_taken_before_promoting(void **state)
{
	struct setup o = {.arbiter = 1};
	struct fx *f = silenced(&o);

	(void)state;
	assert_string_equal(changed(f, SB_REPLICATING, SB_FENCING),
			    "no frame from a for 301 ms > heartbeat_timeout "
			    "300 ms; last acked epoch 5; taking the lease "
			    "from a first");
	assert_int_equal(count(f, SB_A_ACQUIRE), 1);
	assert_null(find(f, SB_A_PROMOTE));
	for (int i = 0; i < 3; i++) {
		clear(f);
		standby_on_fence_retry(&f->s); /* asked already: nothing */
		settle(f);
		assert_int_equal(f->n, 0);
		standby_on_lease(&f->s, i == 1 ? SB_LEASE_ERROR : SB_LEASE_BUSY,
				 4, "a", "etcd http://127.0.0.1:1: refused");
		settle(f);
		/* said once per failover, whatever comes back */
		assert_int_equal(count(f, SB_A_LOG), i == 0 ? 1 : 0);
		if (i == 0)
			assert_true(logged(
				f, LOG_WARN,
				"a still holds the lease (term 4): it may "
				"still release output, so this node does not "
				"promote; asking again every 50 ms"));
		assert_int_equal(armed(f, SB_T_FENCE)->ms, RETRY);
		assert_int_equal(count(f, SB_A_STATE), 0);
		clear(f);
		standby_on_fence_retry(&f->s);
		settle(f);
		assert_int_equal(count(f, SB_A_ACQUIRE), 1);
	}
	clear(f);
	standby_on_lease(&f->s, SB_LEASE_WON, 5, "", "");
	settle(f);
	assert_string_equal(changed(f, SB_FENCING, SB_PROMOTING),
			    "lease won in term 5: the old primary releases "
			    "nothing any more; promoting");
	assert_true(pos(f, SB_A_MARK) < pos(f, SB_A_STATE));
	assert_int_equal(find(f, SB_A_PROMOTE)->term, 5);
	/* a failed promotion gives the lease back */
	clear(f);
	standby_on_promote_failed(&f->s, f->now, "no /dev/kvm");
	settle(f);
	assert_int_equal(count(f, SB_A_REVOKE), 1);
	assert_int_equal(f->s.lease_term, 0);
	fx_free(f);
}

/*
 * A term won and given back without promoting (the promotion failed) is
 * asked for again as is: etcd's term is already that one, so the term
 * after the replica's can never be won any more. Once the replica is of
 * another term, that term is stale and the next one is asked for.
 */
/* A promotion failed at f->now: the silence, still going on, decides
 * again once the hold-off is over. */
static void again(struct fx *f)
{
	f->now += TIMEOUT;
	clear(f);
	standby_on_silence(&f->s, f->now);
	settle(f);
}

static void test_lease_own_term_again(void **state)
{
	struct setup o = {.arbiter = 1};
	struct fx *f = silenced(&o);

	(void)state;
	assert_int_equal(find(f, SB_A_ACQUIRE)->term, 0);
	clear(f);
	standby_on_lease(&f->s, SB_LEASE_WON, 2, "", "");
	settle(f);
	assert_int_equal(find(f, SB_A_PROMOTE)->term, 2);
	clear(f);
	standby_on_promote_failed(&f->s, f->now, "address already in use");
	settle(f);
	assert_int_equal(count(f, SB_A_REVOKE), 1);
	assert_int_equal(f->s.own_term, 2);
	/* the silence goes on: decided again after the hold-off */
	again(f);
	assert_state(f, SB_FENCING);
	assert_int_equal(find(f, SB_A_ACQUIRE)->term, 2);
	clear(f);
	standby_on_lease(&f->s, SB_LEASE_WON, 2, "", "");
	settle(f);
	assert_int_equal(find(f, SB_A_PROMOTE)->term, 2);
	assert_int_equal(f->s.own_term, 0);
	/* given back again, then a replica of term 2 (another primary):
	 * stale */
	clear(f);
	standby_on_promote_failed(&f->s, f->now, "address already in use");
	settle(f);
	assert_int_equal(f->s.own_term, 2);
	f->rx.known_term = 2;
	again(f);
	assert_state(f, SB_FENCING);
	assert_int_equal(find(f, SB_A_ACQUIRE)->term, 0);
	fx_free(f);
}

/* With both an arbiter and a fence_command: the lease, then the fence;
 * an error asks again; the primary answering calls it off and gives a
 * lease won back, also one won after the call-off. */
static void test_lease_then_fence(void **state)
{
	struct setup o = {.arbiter = 1, .fence = "fence"};
	struct fx *f = silenced(&o);

	(void)state;
	assert_int_equal(count(f, SB_A_ACQUIRE), 1);
	assert_int_equal(count(f, SB_A_RUN_FENCE), 0);
	clear(f);
	standby_on_lease(&f->s, SB_LEASE_ERROR, 0, "",
			 "etcd http://127.0.0.1:2379: Couldn't connect to "
			 "server");
	settle(f);
	assert_true(logged(f, LOG_ERROR,
			   "arbiter: etcd http://127.0.0.1:2379: Couldn't "
			   "connect to server; not promoting without the "
			   "lease; asking again every 50 ms"));
	clear(f);
	standby_on_fence_retry(&f->s);
	standby_on_lease(&f->s, SB_LEASE_WON, 2, "", "");
	settle(f);
	assert_int_equal(count(f, SB_A_RUN_FENCE), 1);
	assert_state(f, SB_FENCING);
	dial(f);
	accepted(f); /* the old primary answers */
	assert_int_equal(count(f, SB_A_REVOKE), 1);
	assert_int_equal(f->s.lease_term, 0);
	assert_state(f, SB_SYNCING);
	standby_on_fence_result(&f->s, SB_PASSED, 1, "exit 0");
	synced(f, 6);
	silence(f);
	assert_state(f, SB_FENCING);
	assert_int_equal(count(f, SB_A_ACQUIRE), 1);
	dial(f);
	accepted(f); /* answers again while the lease is asked for */
	clear(f);
	standby_on_lease(&f->s, SB_LEASE_WON, 3, "", "");
	settle(f);
	assert_int_equal(count(f, SB_A_REVOKE), 1);
	assert_state(f, SB_SYNCING);
	/* an answer nobody asked for is a bug */
	EXPECT_BUG(standby_on_lease(&f->s, SB_LEASE_BUSY, 3, "a", ""),
		   "a lease answer nobody asked for");
	fx_free(f);
}

/* Stopping with the lease won gives it back. */
static void test_lease_given_back_on_stop(void **state)
{
	struct setup o = {.arbiter = 1, .fence = "fence"};
	struct fx *f = silenced(&o);

	(void)state;
	standby_on_lease(&f->s, SB_LEASE_WON, 2, "", "");
	settle(f);
	clear(f);
	standby_on_signal(&f->s, SIGTERM, "Terminated");
	settle(f);
	assert_int_equal(count(f, SB_A_REVOKE), 1);
	assert_state(f, SB_STOPPED);
	fx_free(f);
}

/* ---- connections --------------------------------------------------------- */

static void test_connection_lost_wait(void **state)
{
	struct fx *f = reach(SB_REPLICATING);

	(void)state;
	standby_on_closed(&f->s, f->now, "peer closed the connection");
	settle(f);
	assert_string_equal(changed(f, SB_REPLICATING, SB_CONNECTING),
			    "primary a lost: peer closed the connection; "
			    "replica stays at epoch 5");
	assert_null(find(f, SB_A_DECISION));
	assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
	/* the silence clock runs on: declared when it is past */
	silence(f);
	assert_string_equal(find(f, SB_A_DECISION)->cause, "silence");
	assert_string_equal(changed(f, SB_CONNECTING, SB_PROMOTING),
			    "no frame from a for 301 ms > heartbeat_timeout "
			    "300 ms; last acked epoch 5; promoting");
	fx_free(f);
}

static void test_connection_lost_promote(void **state)
{
	struct setup o = {.promote_on_loss = 1};
	struct fx *f = fx_new(&o);
	const struct standby_action *d;

	(void)state;
	to_replicating(f);
	clear(f);
	f->now += 7;
	standby_on_closed(&f->s, f->now, "reset by peer");
	settle(f);
	assert_int_equal(count(f, SB_A_STATE), 2);
	assert_int_equal(nth(f, SB_A_STATE, 0)->to, SB_CONNECTING);
	assert_int_equal(nth(f, SB_A_STATE, 1)->from, SB_CONNECTING);
	assert_int_equal(nth(f, SB_A_STATE, 1)->to, SB_PROMOTING);
	d = find(f, SB_A_DECISION);
	assert_string_equal(d->cause, "connection_lost");
	assert_string_equal(d->text, "connection to primary a lost (reset by "
				     "peer), on_connection_loss = promote");
	assert_int_equal(d->quiet_ms, 7);
	assert_null(armed(f, SB_T_RETRY));
	assert_non_null(find(f, SB_A_PROMOTE));
	fx_free(f);
}

/* Dials every other node in turn, the configured primary first, and
 * says "no primary answers" once a round. */
static void test_candidates(void **state)
{
	struct setup o = {.third_node = 1};
	struct fx *f = fx_new(&o);

	(void)state;
	assert_int_equal(f->s.ncands, 2);
	assert_string_equal(standby_primary(&f->s)->name, "a");
	for (int round = 0; round < 2; round++) {
		clear(f);
		standby_on_retry(&f->s);
		settle(f);
		assert_int_equal(find(f, SB_A_DIAL)->cand, 0);
		standby_on_closed(&f->s, f->now, "connection refused");
		settle(f);
		assert_int_equal(count(f, SB_A_LOG), 0);
		assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
		clear(f);
		standby_on_retry(&f->s);
		settle(f);
		assert_int_equal(find(f, SB_A_DIAL)->cand, 1);
		standby_on_closed(&f->s, f->now, "connection refused");
		settle(f);
		assert_int_equal(logged(f, LOG_INFO,
					"no primary answers yet (last tried c "
					"at 127.0.0.1:7303: connection "
					"refused); still trying"),
				 round == 0);
	}
	/* a connection resets it: said again after the next full round */
	dial(f);
	standby_on_closed(&f->s, f->now, "answered as a backup");
	dial(f);
	clear(f);
	standby_on_closed(&f->s, f->now, "connection refused");
	settle(f);
	assert_true(logged(f, LOG_INFO, "no primary answers yet"));
	fx_free(f);
}

/*
 * The handshake deadline: connected, our Hello out, the primary's Hello
 * must be accepted within heartbeat_timeout. Something that accepts and
 * then says nothing (or trickles a Hello: its bytes never reach the core as
 * a frame) is closed at the deadline, with an event and a warning said once
 * until a primary accepts us, and the next candidate is dialled.
 */
static void test_handshake_deadline(void **state)
{
	struct setup o = {.third_node = 1};
	struct fx *f = fx_new(&o);
	const struct standby_action *a;

	(void)state;
	/* armed with our Hello, for heartbeat_timeout */
	dial(f);
	assert_true(pos(f, SB_A_HELLO) < pos(f, SB_A_ARM));
	assert_int_equal(armed(f, SB_T_HANDSHAKE)->ms, TIMEOUT);

	/* it fires: given up, with the event before the close */
	f->now += TIMEOUT;
	clear(f);
	standby_on_handshake_timeout(&f->s);
	settle(f);
	a = find(f, SB_A_HANDSHAKE_TIMEOUT);
	assert_non_null(a);
	assert_int_equal(a->cand, 0);
	assert_int_equal(a->ms, TIMEOUT);
	assert_true(logged(f, LOG_WARN,
			   "a at 127.0.0.1:7301 accepted the connection but "
			   "gave no Hello within heartbeat_timeout 300 ms; "
			   "not a primary that answers: trying the next "
			   "node"));
	assert_string_equal(find(f, SB_A_CLOSE)->text,
			    "no Hello within heartbeat_timeout 300 ms");
	assert_true(pos(f, SB_A_HANDSHAKE_TIMEOUT) < pos(f, SB_A_CLOSE));
	assert_int_equal(count(f, SB_A_STATE), 0);
	assert_state(f, SB_SEEKING);
	assert_int_equal(f->s.link, SB_LINK_NONE);
	assert_true(disarmed(f, SB_T_HANDSHAKE));
	/* the next candidate, after the usual pause */
	assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
	assert_string_equal(standby_primary(&f->s)->name, "c");

	/* the same there: the warning is not said twice */
	dial(f);
	assert_int_equal(find(f, SB_A_DIAL)->cand, 1);
	clear(f);
	standby_on_handshake_timeout(&f->s);
	settle(f);
	assert_int_equal(find(f, SB_A_HANDSHAKE_TIMEOUT)->cand, 1);
	assert_false(logged(f, LOG_WARN, "gave no Hello"));
	assert_true(logged(f, LOG_DEBUG,
			   "c at 127.0.0.1:7303 accepted the connection but "
			   "gave no Hello"));
	/* the end of a round: the warning said why, not once a round */
	assert_false(logged(f, LOG_INFO, "no primary answers yet"));
	assert_non_null(find(f, SB_A_CLOSE));
	assert_string_equal(standby_primary(&f->s)->name, "a");

	/* a peer that closes first: the deadline goes with it */
	dial(f);
	clear(f);
	standby_on_closed(&f->s, f->now, "reset by peer");
	settle(f);
	assert_true(disarmed(f, SB_T_HANDSHAKE));
	assert_null(armed(f, SB_T_HANDSHAKE));

	/* a primary that answers in time: disarmed, and a late firing does
	 * nothing */
	while (strcmp(standby_primary(&f->s)->name, "a")) {
		dial(f);
		standby_on_closed(&f->s, f->now, "reset by peer");
		settle(f);
	}
	dial(f);
	f->now += TIMEOUT - 1;
	accepted(f);
	assert_state(f, SB_SYNCING);
	assert_true(disarmed(f, SB_T_HANDSHAKE));
	assert_null(armed(f, SB_T_HANDSHAKE));
	clear(f);
	standby_on_handshake_timeout(&f->s);
	settle(f);
	assert_int_equal(f->n, 0);
	assert_int_equal(f->s.link, SB_LINK_FOLLOWING);

	/* lost, redialled: the deadline holds in connecting too, and the
	 * warning is said again after a primary accepted us */
	standby_on_closed(&f->s, f->now, "reset by peer");
	f->rx.st = RX_HELLO;
	settle(f);
	assert_state(f, SB_CONNECTING);
	dial(f);
	assert_int_equal(armed(f, SB_T_HANDSHAKE)->ms, TIMEOUT);
	clear(f);
	standby_on_handshake_timeout(&f->s);
	settle(f);
	assert_true(logged(f, LOG_WARN, "gave no Hello"));
	assert_non_null(find(f, SB_A_CLOSE));
	assert_state(f, SB_CONNECTING);
	fx_free(f);
}

/* The receiver's verdicts: close, refuse (said once until a primary is
 * followed again), fatal. */
static void test_refusals(void **state)
{
	struct fx *f = reach(SB_SEEKING);
	const struct standby_action *a;
	struct rx_result r = verdict(RX_CLOSE, 0, 0);

	(void)state;
	f->rx.known_term = 5;
	snprintf(f->rx.known_primary, sizeof(f->rx.known_primary), "a");
	snprintf(r.why, sizeof(r.why),
		 "node a is primary of term 3, but a "
		 "has been primary since term 5");
	r.refuse = 1;
	for (int i = 0; i < 2; i++) {
		clear(f);
		frame(f, WIRE_HELLO);
		standby_on_received(&f->s, f->now, &r);
		settle(f);
		assert_int_equal(
			logged(f, LOG_WARN,
			       "node a is primary of term 3, but a has "
			       "been primary since term 5; told it "
			       "so"),
			i == 0);
		/* said before the peer can learn it and stop */
		if (i == 0)
			assert_true(pos(f, SB_A_LOG) < pos(f, SB_A_REFUSE));
		a = find(f, SB_A_REFUSE);
		assert_int_equal(a->term, 5);
		assert_string_equal(a->name, "a");
		assert_string_equal(a->text, r.why);
		assert_null(find(f, SB_A_CLOSE)); /* REFUSE finishes it */
		assert_state(f, SB_SEEKING);
		assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
		dial(f);
	}
	/* a plain close verdict: logged as an error */
	clear(f);
	r = verdict(RX_CLOSE, 0, 0);
	standby_on_received(&f->s, f->now, &r);
	settle(f);
	assert_true(logged(f, LOG_ERROR, "some protocol error"));
	assert_string_equal(find(f, SB_A_CLOSE)->text, "some protocol error");
	/* fatal: stops with status 1 */
	dial(f);
	r = verdict(RX_FATAL, 0, 0);
	snprintf(r.why, sizeof(r.why),
		 "primary a runs 64 MiB of guest "
		 "memory, this backup holds 32 MiB");
	clear(f);
	standby_on_received(&f->s, f->now, &r);
	settle(f);
	assert_true(logged(f, LOG_ERROR, "this backup holds 32 MiB"));
	assert_string_equal(find(f, SB_A_CLOSE)->text, r.why);
	assert_string_equal(changed(f, SB_SEEKING, SB_STOPPED),
			    "replica at epoch 0");
	assert_non_null(find(f, SB_A_STOP));
	assert_null(find(f, SB_A_SNAPSHOT));
	assert_int_equal(f->s.exit_code, 1);
	fx_free(f);
}

/* ---- promotion ----------------------------------------------------------- */

static void test_promotion(void **state)
{
	struct fx *f = reach(SB_PROMOTING);

	(void)state;
	standby_on_promoted(&f->s, "promoted to primary of term 2");
	settle(f);
	assert_string_equal(changed(f, SB_PROMOTING, SB_PRIMARY),
			    "promoted to primary of term 2");
	/* then signals go to the primary; SIGUSR1 has nothing to write */
	clear(f);
	standby_on_signal(&f->s, SIGTERM, "Terminated");
	standby_on_signal(&f->s, SIGUSR1, "User defined signal 1");
	standby_on_signal(&f->s, SIGINT, "Interrupt");
	settle(f);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->got[0].type, SB_A_FORWARD);
	assert_int_equal(f->got[0].signum, SIGTERM);
	assert_int_equal(f->got[1].signum, SIGINT);
	fx_free(f);
}

/* A failed promotion: back to connecting, the replica untouched, a
 * snapshot if it moved on, retried after heartbeat_timeout. */
static void test_promotion_fails(void **state)
{
	struct fx *f = reach(SB_PROMOTING);
	uint64_t failed_at;

	(void)state;
	failed_at = f->now;
	standby_on_promote_failed(&f->s, f->now,
				  "open /dev/kvm: No such file or directory");
	settle(f);
	assert_string_equal(changed(f, SB_PROMOTING, SB_CONNECTING),
			    "cannot promote: open /dev/kvm: No such file or "
			    "directory; the replica stays at epoch 5; trying "
			    "again in 300 ms");
	assert_int_equal(find(f, SB_A_SNAPSHOT)->flag, 1);
	assert_int_equal(armed(f, SB_T_RETRY)->ms, RETRY);
	assert_int_equal(armed(f, SB_T_SILENCE)->ms, TIMEOUT);
	/* held off meanwhile */
	clear(f);
	f->now = failed_at + TIMEOUT - 1;
	standby_on_health_tick(&f->s);
	standby_on_health_result(&f->s, f->now, SB_FAILED, "exit 1");
	settle(f);
	assert_null(find(f, SB_A_DECISION));
	/* the silence goes on: decided again, promoting again */
	clear(f);
	f->now = failed_at + TIMEOUT;
	standby_on_silence(&f->s, f->now);
	settle(f);
	assert_string_equal(find(f, SB_A_DECISION)->action, "promoting");
	assert_string_equal(find(f, SB_A_DECISION)->cause, "silence");
	assert_non_null(find(f, SB_A_PROMOTE));
	assert_state(f, SB_PROMOTING);
	fx_free(f);
}

/* A primary that comes back after a failed promotion is followed. */
static void test_promotion_fails_primary_back(void **state)
{
	struct fx *f = reach(SB_PROMOTING);

	(void)state;
	standby_on_promote_failed(&f->s, f->now, "no KVM");
	settle(f);
	f->now += RETRY;
	dial(f);
	accepted(f);
	assert_string_equal(changed(f, SB_CONNECTING, SB_SYNCING),
			    "primary a (term 1) accepted us; receiving the "
			    "initial sync");
	fx_free(f);
}

/* ---- signals ------------------------------------------------------------- */

static void test_sigterm_everywhere(void **state)
{
	(void)state;
	for (int st = 0; st < SB_NSTATES; st++) {
		struct fx *f = reach(st);
		int conn = f->s.link != SB_LINK_NONE;
		int fence = f->s.fence_running;
		char line[128];

		standby_on_signal(&f->s, SIGTERM, "Terminated");
		settle(f);
		if (st == SB_PRIMARY) {
			assert_int_equal(f->n, 1);
			assert_int_equal(find(f, SB_A_FORWARD)->signum,
					 SIGTERM);
		} else if (st == SB_STOPPED) {
			assert_int_equal(f->n, 0);
		} else {
			snprintf(line, sizeof(line),
				 "Terminated: stopping with the replica at "
				 "epoch %llu",
				 (unsigned long long)f->r.epoch);
			assert_true(logged(f, LOG_INFO, line));
			assert_true(pos(f, SB_A_LOG) < pos(f, SB_A_SNAPSHOT));
			assert_int_equal(find(f, SB_A_SNAPSHOT)->flag, 0);
			assert_int_equal(count(f, SB_A_CLOSE), conn);
			assert_int_equal(count(f, SB_A_CANCEL_FENCE), fence);
			changed(f, st, SB_STOPPED);
			assert_true(pos(f, SB_A_STATE) < pos(f, SB_A_STOP));
			assert_int_equal(f->s.exit_code, 0);
			assert_state(f, SB_STOPPED);
		}
		fx_free(f);
	}
}

static void test_sigusr1(void **state)
{
	struct fx *f = reach(SB_REPLICATING);

	(void)state;
	standby_on_signal(&f->s, SIGUSR1, "User defined signal 1");
	settle(f);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->got[0].type, SB_A_SNAPSHOT);
	assert_int_equal(f->got[0].flag, 0);
	assert_state(f, SB_REPLICATING);
	fx_free(f);
}

/* ---- Acks and heartbeats ------------------------------------------------- */

static void test_acks(void **state)
{
	struct fx *f = reach(SB_SYNCING);
	struct rx_result r = verdict(RX_ACK, 1, 0);
	const struct standby_action *a;

	(void)state;
	f->rx.term = 4;
	standby_on_received(&f->s, f->now, &r);
	settle(f);
	a = find(f, SB_A_ACK);
	assert_int_equal(a->epoch, 1);
	assert_int_equal(a->term, 4);
	assert_true(logged(f, LOG_DEBUG, "applied epoch 1"));
	/* Heartbeats carry the term and the replica's epoch */
	clear(f);
	f->r.epoch = 9;
	standby_on_heartbeat(&f->s);
	settle(f);
	a = find(f, SB_A_HEARTBEAT);
	assert_int_equal(a->term, 4);
	assert_int_equal(a->epoch, 9);
	assert_int_equal(f->s.applied, 1);
	/* without --verbose the per-epoch line is not even queued */
	clear(f);
	f->s.debug = 0;
	r = verdict(RX_ACK, 2, 0);
	standby_on_received(&f->s, f->now, &r);
	settle(f);
	assert_int_equal(find(f, SB_A_ACK)->epoch, 2);
	assert_int_equal(count(f, SB_A_LOG), 0);
	fx_free(f);
}

static void test_delayed_acks(void **state)
{
	struct setup o = {.ack_delay_ms = 100};
	struct fx *f = fx_new(&o);
	struct rx_result r;

	(void)state;
	dial(f);
	accepted(f);
	clear(f);
	for (uint64_t e = 1; e <= 3; e++) {
		r = verdict(RX_ACK, e, 0);
		standby_on_received(&f->s, f->now, &r);
		f->now += 10;
	}
	settle(f);
	assert_null(find(f, SB_A_ACK));
	assert_int_equal(count(f, SB_A_ARM), 1);
	assert_int_equal(armed(f, SB_T_ACK)->ms, 100);
	/* the first is due: sent, the timer moved on to the second */
	clear(f);
	f->now = T0 + 100;
	standby_on_ack_timer(&f->s, f->now);
	settle(f);
	assert_int_equal(count(f, SB_A_ACK), 1);
	assert_int_equal(find(f, SB_A_ACK)->epoch, 1);
	assert_int_equal(armed(f, SB_T_ACK)->ms, 10);
	/* a close drops the rest: Acks for a dead connection mean nothing */
	clear(f);
	standby_on_closed(&f->s, f->now, "reset by peer");
	settle(f);
	assert_true(disarmed(f, SB_T_ACK));
	clear(f);
	f->now += 1000;
	standby_on_ack_timer(&f->s, f->now);
	settle(f);
	assert_null(find(f, SB_A_ACK));
	fx_free(f);
}

/* Many Acks due at once: sent in bounded batches, the timer at 0 for the
 * rest, none lost, in order. */
static void test_delayed_ack_flood(void **state)
{
	struct setup o = {.ack_delay_ms = 5};
	struct fx *f = fx_new(&o);
	struct rx_result r;
	uint64_t next = 1;

	(void)state;
	dial(f);
	accepted(f);
	for (uint64_t e = 1; e <= 150; e++) {
		r = verdict(RX_ACK, e, 0);
		standby_on_received(&f->s, f->now, &r);
		clear(f);
		settle(f);
	}
	f->now += 1000;
	for (int round = 0; round < 3; round++) {
		clear(f);
		standby_on_ack_timer(&f->s, f->now);
		settle(f);
		for (size_t i = 0; i < count(f, SB_A_ACK); i++)
			assert_int_equal(nth(f, SB_A_ACK, i)->epoch, next++);
		/* bounded: the first event does not send them all */
		if (round == 0)
			assert_true(next <= 150);
		if (next <= 150)
			assert_int_equal(armed(f, SB_T_ACK)->ms, 0);
	}
	assert_int_equal(next, 151);
	fx_free(f);
}

/* ---- forbidden transitions ----------------------------------------------- */

/* Events that contradict what the core knows trip the hook; the state is
 * left as it was. */
static void test_bugs(void **state)
{
	struct fx *f = reach(SB_REPLICATING);
	struct rx_result r = verdict(RX_ACK, 6, 1);

	(void)state;
	EXPECT_BUG(standby_on_promoted(&f->s, "x"),
		   "no transition replicating -> primary");
	EXPECT_BUG(standby_on_promote_failed(&f->s, f->now, "x"),
		   "no transition replicating -> connecting");
	EXPECT_BUG(standby_on_received(&f->s, f->now, &r),
		   "no transition replicating -> replicating");
	EXPECT_BUG(standby_on_hello(&f->s), "following");
	EXPECT_BUG(standby_on_connected(&f->s), "connected");
	EXPECT_BUG(standby_on_step_down_unsent(&f->s, f->now), "step-down");
	EXPECT_BUG(standby_on_fence_result(&f->s, SB_PASSED, 1, "x"), "fence");
	EXPECT_BUG(standby_on_health_result(&f->s, f->now, SB_PASSED, "x"),
		   "health");
	assert_state(f, SB_REPLICATING);
	/* nothing of a connection once it is closed, or closing */
	clear(f);
	standby_on_closed(&f->s, f->now, "gone");
	settle(f);
	EXPECT_BUG(standby_on_frame(&f->s, f->now, WIRE_HEARTBEAT), "gone");
	EXPECT_BUG(standby_on_closed(&f->s, f->now, "again"), "never opened");
	fx_free(f);

	f = reach(SB_SEEKING);
	r = verdict(RX_CLOSE, 0, 0);
	standby_on_received(&f->s, f->now, &r); /* CLOSE queued */
	EXPECT_BUG(standby_on_frame(&f->s, f->now, WIRE_HEARTBEAT), "closing");
	fx_free(f);

	/* a state that says "following" without the connection that does
	 * (set by hand: no event sequence gets there) */
	f = reach(SB_SYNCING);
	f->s.link = SB_LINK_HELLO;
	EXPECT_BUG(standby_on_closed(&f->s, f->now, "gone"),
		   "syncing without a primary followed");
	fx_free(f);

	/* an Ack before the primary accepted us */
	f = reach(SB_SEEKING);
	r = verdict(RX_ACK, 1, 0);
	EXPECT_BUG(standby_on_received(&f->s, f->now, &r),
		   "applied in state seeking");
	fx_free(f);

	/* after the end, nothing but signals and stray timers */
	f = reach(SB_STOPPED);
	EXPECT_BUG(standby_on_promoted(&f->s, "x"),
		   "no transition stopped -> primary");
	EXPECT_BUG(standby_on_silence(&f->s, f->now), "unarmed");
	fx_free(f);
}

/* By default a bug ends the process with abort() (a core to read): seen
 * in a child, whose stderr says what. */
static void test_default_hook(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fx *f = fx_new(NULL);
		struct standby_opts so = {
			.cfg = &f->cfg, .self = &f->cfg.nodes[1], .rx = &f->rx};

		standby_destroy(&f->s);
		if (standby_init(&f->s, &so)) /* with its default hook */
			_exit(2);
		standby_on_promoted(&f->s, "never");
		_exit(0); /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- main ---------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_silence_exact),
		cmocka_unit_test(test_held_off_rearmed),
		cmocka_unit_test(test_held_off_stale),
		cmocka_unit_test(test_deposing),
		cmocka_unit_test(test_depose_timeout),
		cmocka_unit_test(test_step_down_unsent),
		cmocka_unit_test(test_health_check),
		cmocka_unit_test(test_fence_ok),
		cmocka_unit_test(test_fence_fails),
		cmocka_unit_test(test_fence_called_off),
		cmocka_unit_test(test_fence_end_after_call_off),
		cmocka_unit_test(test_lease_taken_before_promoting),
		cmocka_unit_test(test_lease_then_fence),
		cmocka_unit_test(test_lease_own_term_again),
		cmocka_unit_test(test_lease_given_back_on_stop),
		cmocka_unit_test(test_connection_lost_wait),
		cmocka_unit_test(test_connection_lost_promote),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_promotion),
		cmocka_unit_test(test_promotion_fails),
		cmocka_unit_test(test_promotion_fails_primary_back),
		cmocka_unit_test(test_sigterm_everywhere),
		cmocka_unit_test(test_sigusr1),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_delayed_acks),
		cmocka_unit_test(test_delayed_ack_flood),
		cmocka_unit_test(test_bugs),
		cmocka_unit_test(test_default_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
