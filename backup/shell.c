/*
 * The backup's shell (see shell.h): every libuv callback here hands its
 * event to the core (standby.h) and then carries out what the core queued,
 * in order, through act(). Carrying out an action can itself cause an
 * event (conn_close() reports the close at once, a command that cannot
 * start is reported at once, a promotion reports its result): the core
 * takes it then, and its actions join the queue behind the ones being
 * carried out, so actions never nest. What is decided here is only how:
 * which handle, which message, which log line for a failed write.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "arbiter.h"
#include "clock.h"
#include "command.h"
#include "conn.h"
#include "ctl.h"
#include "events.h"
#include "log.h"
#include "primary.h"
#include "shell.h"
#include "vm.h"

/* Acks and heartbeats only: a small bound. */
#define SEND_QUEUE_MAX (1u << 20)

static void act(struct backup *b);

static uint64_t now_ms(const struct backup *b)
{
	return uv_now(b->loop);
}

/* --- the connection to the primary ----------------------------------------*/

static void on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct backup *b = opaque;
	enum rx_state before = b->rx.st;
	struct rx_result res;

	(void)c;
	if (standby_on_frame(&b->sb, now_ms(b), m->type)) {
		receiver_on_msg(&b->rx, m, &res);
		if (b->r.stg.grown != b->stage_grown) {
			b->stage_grown = b->r.stg.grown;
			log_info("epoch %llu: staging grew to %zu pages while "
				 "it was received, past what [replication] "
				 "max_epoch_size reserved at start: growing "
				 "it delayed this Ack; raise max_epoch_size if "
				 "epochs this large are usual",
				 (unsigned long long)b->r.stg.epoch,
				 b->r.stg.pages_cap);
		}
		if (before == RX_HELLO && b->rx.st == RX_IDLE)
			standby_on_hello(&b->sb);
		standby_on_received(&b->sb, now_ms(b), &res);
	}
	act(b);
}

static void on_close(struct conn *c, const char *why, void *opaque)
{
	struct backup *b = opaque;

	(void)c;
	b->conn = NULL;
	receiver_lost(&b->rx);
	standby_on_closed(&b->sb, now_ms(b), why);
	act(b);
}

static const struct conn_ops ops = {
	.on_msg = on_msg,
	.on_close = on_close,
};

/* Connected (reading has started). */
static void on_connect(struct conn *c, void *opaque)
{
	struct backup *b = opaque;

	(void)c;
	standby_on_connected(&b->sb);
	act(b);
}

static void dial(struct backup *b, const struct config_node *n)
{
	int ret;

	b->conn = conn_new(b->loop, CONN_TCP, &ops, b, SEND_QUEUE_MAX);
	if (!b->conn) {
		log_error("out of memory for a connection");
		standby_on_closed(&b->sb, now_ms(b), "out of memory");
		return;
	}
	if (b->key)
		conn_set_cred(b->conn, b->key, 1, n->name);
	/* A cut link drops SYNs: give up after heartbeat_timeout. */
	ret = conn_connect(b->conn, n->host, n->port, b->sb.timeout_ms,
			   on_connect);
	if (ret) {
		log_error("connect to %s:%u: %s", n->host, n->port,
			  uv_strerror(ret));
		conn_close(b->conn, uv_strerror(ret));
	}
}

/* Says Hello as a backup to n, whose Hello the receiver then expects. */
static void hello(struct backup *b, const struct config_node *n)
{
	Remora__Hello h;

	b->rx.primary = n->name;
	receiver_reset(&b->rx);
	wire_hello_init(&h, b->rx.known_term, VM_PAGE_SIZE,
			b->cfg->workload.memory, b->cfg->cluster, b->self->name,
			REMORA__ROLE__ROLE_BACKUP);
	log_debug("connected to %s at %s", n->name, conn_peer(b->conn));
	if (conn_send_msg(b->conn, WIRE_HELLO, &h.base))
		conn_close(b->conn, "cannot send Hello");
}

static void send_ack(struct backup *b, uint64_t epoch, uint64_t term)
{
	Remora__Ack a = REMORA__ACK__INIT;

	a.epoch = epoch;
	a.term = term;
	if (conn_send_msg(b->conn, WIRE_ACK, &a.base))
		conn_close(b->conn, "cannot queue an Ack");
	else
		b->acked = epoch;
}

static void send_heartbeat(struct backup *b, uint64_t term, uint64_t epoch)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	hb.term = term;
	hb.last_epoch = epoch;
	conn_send_msg(b->conn, WIRE_HEARTBEAT, &hb.base);
}

/* A Refuse naming primary; returns what conn_send_msg() did. */
static int send_refuse(struct backup *b, uint64_t term, const char *primary,
		       const char *reason)
{
	Remora__Refuse f;

	wire_refuse_init(&f, term, primary, reason, 0);
	return conn_send_msg(b->conn, WIRE_REFUSE, &f.base);
}

/* --- timers and signals ---------------------------------------------------*/

/* The core's timers, told apart by their slot in b->timers. */
static void on_timer(uv_timer_t *t)
{
	struct backup *b = t->data;
	uint64_t now = now_ms(b);

	switch ((enum standby_timer)(t - b->timers)) {
	case SB_T_RETRY:
		standby_on_retry(&b->sb);
		break;
	case SB_T_SILENCE:
		standby_on_silence(&b->sb, now);
		break;
	case SB_T_ACK:
		standby_on_ack_timer(&b->sb, now);
		break;
	case SB_T_DEPOSE:
		standby_on_depose_timeout(&b->sb);
		break;
	case SB_T_FENCE:
		standby_on_fence_retry(&b->sb);
		break;
	case SB_T_HANDSHAKE:
		standby_on_handshake_timeout(&b->sb);
		break;
	}
	act(b);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct backup *b = t->data;

	/* A connection that is quiet but not yet failed (also a stuck
	 * handshake with something that is not a primary) is closed: its
	 * close is the event then. */
	if (!b->conn || !conn_check_alive(b->conn, b->sb.timeout_ms,
					  standby_primary(&b->sb)->name))
		standby_on_heartbeat(&b->sb);
	/* A lease won and not yet handed to the promoted primary (a fence
	 * may run meanwhile) is kept alive. */
	if (b->arb && b->sb.lease_term)
		arbiter_keepalive(b->arb);
	act(b);
}

/* The old primary's release report as etcd held it when we won. */
static void take_report(struct backup *b, const struct arbiter_result *r)
{
	uint64_t link = b->rx.released;

	if (!r->report_read) {
		log_warn("%s; a promotion may repeat output the old primary "
			 "released after its last report here",
			 r->why);
		return;
	}
	if (!r->report_found ||
	    !receiver_released(&b->rx, r->report_term, r->report_released))
		return;
	log_info("the arbiter says the primary of term %llu released its "
		 "console output up to offset %llu; its last report here said "
		 "%llu, so %llu bytes are not released again",
		 (unsigned long long)r->report_term,
		 (unsigned long long)r->report_released,
		 (unsigned long long)link,
		 (unsigned long long)(r->report_released - link));
	events_emit("release_report", EV_U("term", r->report_term),
		    EV_U("released", r->report_released), EV_U("link", link));
}

void shell_on_arbiter(const struct arbiter_result *r, void *opaque)
{
	static const enum standby_lease as[] = {
		[ARBITER_WON] = SB_LEASE_WON,
		[ARBITER_BUSY] = SB_LEASE_BUSY,
		[ARBITER_ERROR] = SB_LEASE_ERROR,
	};
	struct backup *b = opaque;

	if (r->outcome == ARBITER_WON || r->outcome == ARBITER_KEPT)
		b->lease_until_ns = arbiter_held_until(r);
	if (r->op != ARBITER_NEXT && r->op != ARBITER_ACQUIRE)
		return; /* keep-alives and revokes decide nothing here */
	if (r->outcome != ARBITER_WON && r->outcome != ARBITER_BUSY &&
	    r->outcome != ARBITER_ERROR)
		return;
	if ((int)r->outcome != b->lease_said) {
		events_emit("lease",
			    EV_S("result", arbiter_outcome_name(r->outcome)),
			    EV_S("holder", r->holder), EV_U("term", r->term),
			    EV_S("why", r->why));
		b->lease_said = (int)r->outcome;
	}
	if (r->outcome == ARBITER_WON)
		take_report(b, r);
	standby_on_lease(&b->sb, as[r->outcome], r->term, r->holder, r->why);
	act(b);
}

static void on_health_timer(uv_timer_t *t)
{
	struct backup *b = t->data;

	standby_on_health_tick(&b->sb);
	act(b);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct backup *b = s->data;

	standby_on_signal(&b->sb, signum, strsignal(signum));
	act(b);
}

/* --- operator commands ----------------------------------------------------*/

/* The variables fence and health-check commands see. */
static void command_env(struct backup *b, char buf[4][96], const char *env[5])
{
	snprintf(buf[0], 96, "REMORA_NODE=%s", b->self->name);
	snprintf(buf[1], 96, "REMORA_PEER=%s",
		 *b->rx.known_primary ? b->rx.known_primary
				      : standby_primary(&b->sb)->name);
	snprintf(buf[2], 96, "REMORA_TERM=%llu",
		 (unsigned long long)b->rx.known_term);
	snprintf(buf[3], 96, "REMORA_EPOCH=%llu",
		 (unsigned long long)b->r.epoch);
	for (int i = 0; i < 4; i++)
		env[i] = buf[i];
	env[4] = NULL;
}

static enum standby_outcome outcome(const struct command_result *r)
{
	return r->exited && r->status == 0 ? SB_PASSED : SB_FAILED;
}

static void fence_done(void *opaque, const struct command_result *r)
{
	struct backup *b = opaque;
	char what[384];

	b->fence = NULL;
	command_describe(r, what, sizeof(what));
	standby_on_fence_result(&b->sb, outcome(r), r->elapsed_ms, what);
	act(b);
}

static void health_done(void *opaque, const struct command_result *r)
{
	struct backup *b = opaque;
	char what[384];

	b->health = NULL;
	command_describe(r, what, sizeof(what));
	standby_on_health_result(&b->sb, now_ms(b), outcome(r), what);
	act(b);
}

static void run_fence(struct backup *b)
{
	const struct config *cfg = b->cfg;
	char buf[4][96];
	const char *env[5];
	int ret;

	command_env(b, buf, env);
	ret = command_run(&b->fence, b->loop, cfg->failover.fence_command,
			  cfg->failover.fence_timeout_ns / 1000000, env,
			  fence_done, b);
	if (ret) {
		b->fence = NULL;
		standby_on_fence_result(&b->sb, SB_NOT_RUN, 0, strerror(-ret));
	}
}

static void run_health(struct backup *b)
{
	const struct config *cfg = b->cfg;
	char buf[4][96];
	const char *env[5];
	int ret;

	command_env(b, buf, env);
	ret = command_run(&b->health, b->loop,
			  cfg->failover.health_check_command,
			  cfg->failover.health_check_timeout_ns / 1000000, env,
			  health_done, b);
	if (ret) {
		b->health = NULL;
		standby_on_health_result(&b->sb, now_ms(b), SB_NOT_RUN,
					 strerror(-ret));
	}
}

/* --- snapshots, handles, promotion ---------------------------------------*/

static void write_snapshot(struct backup *b)
{
	char err[512];

	if (!b->snapshot)
		return;
	if (replica_write_snapshot(&b->r, b->snapshot, err, sizeof(err))) {
		log_error("snapshot: %s", err);
		return;
	}
	b->snapshot_epoch = b->r.epoch;
	events_emit("snapshot", EV_U("epoch", b->r.epoch),
		    EV_S("path", b->snapshot));
	log_info("replica at epoch %llu written to %s",
		 (unsigned long long)b->r.epoch, b->snapshot);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* The backup's own handles, when it stops or once the primary's code runs
 * the loop (promoted). */
static void close_backup_handles(struct backup *b, int promoted)
{
	for (int i = 0; i < SB_NTIMERS; i++)
		close_handle((uv_handle_t *)&b->timers[i]);
	close_handle((uv_handle_t *)&b->hb_timer);
	close_handle((uv_handle_t *)&b->health_timer);
	close_handle((uv_handle_t *)&b->sigusr1);
	if (promoted) {
		/* They serve the primary now (SB_A_FORWARD): a SIGTERM
		 * taken during the promotion is queued for them, and closing
		 * them would drop it. They no longer keep the loop alive;
		 * shell_finish() closes them once it has ended. */
		uv_unref((uv_handle_t *)&b->sigterm);
		uv_unref((uv_handle_t *)&b->sigint);
		return;
	}
	close_handle((uv_handle_t *)&b->sigterm);
	close_handle((uv_handle_t *)&b->sigint);
}

void shell_finish(struct backup *b)
{
	close_handle((uv_handle_t *)&b->sigterm);
	close_handle((uv_handle_t *)&b->sigint);
}

static void promote_now(struct backup *b, const struct standby_action *a)
{
	char err[512], summary[SB_TEXT_MAX];
	double promote_ms;
	int ret;

	if (!b->p)
		b->p = primary_alloc();
	if (!b->p) {
		ret = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	} else {
		b->pm = (struct promotion){.term = a->term,
					   .released = a->released,
					   .arb = b->sb.lease_term ? b->arb
								   : NULL,
					   .lease_until_ns = b->lease_until_ns,
					   .key = b->key,
					   .net = b->net};
		/* The primary's own events (listening) come from here on. */
		events_set_role("primary");
		ret = promote(&b->pm, b->p, b->loop, b->cfg, b->self, &b->r,
			      err, sizeof(err));
	}
	if (ret) {
		events_set_role("backup");
		if (b->arb) /* the failed primary may have taken it over */
			arbiter_set_cb(b->arb, shell_on_arbiter, b);
		standby_on_promote_failed(&b->sb, now_ms(b), err);
		return;
	}
	primary_set_ctl(b->p, b->ctl); /* it closes it at its end */
	b->ctl = NULL;
	close_backup_handles(b, 1);
	/* Closing its watcher gave SIGUSR1 back its default (terminate);
	 * there is no replica to write any more. */
	signal(SIGUSR1, SIG_IGN);
	promote_ms = (double)(now_ns() - b->declared_ns) / 1e6;
	events_emit("promoted", EV_U("term", b->pm.term),
		    EV_U("epoch", b->r.epoch),
		    EV_U("detect_ms", b->sb.detect_ms),
		    EV_U("timeout_ms", b->sb.timeout_ms),
		    EV_F("promote_ms", promote_ms),
		    EV_F("vm_ms", (double)b->pm.vm_ns / 1e6),
		    EV_U("console_released", b->pm.console_released),
		    EV_U("console_missing", b->pm.console_missing));
	snprintf(summary, sizeof(summary),
		 "promoted to primary of term %llu from the replica at epoch "
		 "%llu: detection %llu ms (heartbeat_timeout %llu ms), "
		 "promote %.1f ms (workload made in %.1f ms); %zu bytes of "
		 "console output "
		 "released for the old primary%s",
		 (unsigned long long)b->pm.term, (unsigned long long)b->r.epoch,
		 (unsigned long long)b->sb.detect_ms,
		 (unsigned long long)b->sb.timeout_ms, promote_ms,
		 (double)b->pm.vm_ns / 1e6, b->pm.console_released,
		 b->pm.console_missing ? " (some output was never held here "
					 "and may be lost)"
				       : "");
	standby_on_promoted(&b->sb, summary);
}

static void stop_handles(struct backup *b)
{
	for (int i = 0; i < SPARE_WORKERS; i++) /* those not started */
		uv_cancel((uv_req_t *)&b->spare_work[i]);
	if (b->ctl) {
		ctl_close(b->ctl);
		b->ctl = NULL;
	}
	close_backup_handles(b, 0);
}

/* --- carrying out the core's actions -------------------------------------*/

static void carry_out(struct backup *b, const struct standby_action *a)
{
	uv_timer_t *t = &b->timers[a->timer];

	switch (a->type) {
	case SB_A_STATE:
		log_info("%s -> %s at epoch %llu: %s",
			 standby_state_name(a->from), standby_state_name(a->to),
			 (unsigned long long)a->epoch, a->text);
		events_emit("state", EV_S("from", standby_state_name(a->from)),
			    EV_S("to", standby_state_name(a->to)),
			    EV_U("epoch", a->epoch), EV_U("term", a->term),
			    EV_S("why", a->text));
		break;
	case SB_A_LOG:
		log_msg(a->level, a->file, a->line, "%s", a->text);
		break;
	case SB_A_DECISION:
		events_emit("decision", EV_S("cause", a->cause),
			    EV_S("action", a->action), EV_S("primary", a->name),
			    EV_U("epoch", a->epoch), EV_U("term", a->term),
			    EV_I("quiet_ms", a->quiet_ms),
			    EV_U("timeout_ms", a->timeout_ms),
			    EV_S("evidence", a->text),
			    EV_S("reason", a->reason));
		break;
	case SB_A_MARK:
		b->declared_ns = now_ns();
		break;
	case SB_A_DIAL:
		dial(b, b->sb.cands[a->cand]);
		break;
	case SB_A_HANDSHAKE_TIMEOUT: {
		const struct config_node *n = b->sb.cands[a->cand];

		events_emit("handshake_timeout", EV_S("primary", n->name),
			    EV_S("address", b->conn ? conn_peer(b->conn) : "?"),
			    EV_U("timeout_ms", a->ms));
		break;
	}
	case SB_A_HELLO:
		if (b->conn)
			hello(b, b->sb.cands[a->cand]);
		break;
	case SB_A_ACK:
		if (b->conn)
			send_ack(b, a->epoch, a->term);
		break;
	case SB_A_HEARTBEAT:
		if (b->conn)
			send_heartbeat(b, a->term, a->epoch);
		break;
	case SB_A_REFUSE:
		if (b->conn) {
			send_refuse(b, a->term, a->name, a->text);
			conn_finish(b->conn, a->text);
		}
		break;
	case SB_A_STEP_DOWN:
		if (b->conn && send_refuse(b, a->term, a->name, a->text))
			standby_on_step_down_unsent(&b->sb, now_ms(b));
		break;
	case SB_A_CLOSE:
		if (b->conn)
			conn_close(b->conn, a->text);
		break;
	case SB_A_ARM:
		if (!uv_is_closing((uv_handle_t *)t))
			uv_timer_start(t, on_timer, a->ms, 0);
		break;
	case SB_A_DISARM:
		uv_timer_stop(t);
		break;
	case SB_A_RUN_FENCE:
		run_fence(b);
		break;
	case SB_A_CANCEL_FENCE:
		if (b->fence)
			command_cancel(b->fence);
		break;
	case SB_A_RUN_HEALTH:
		run_health(b);
		break;
	case SB_A_CANCEL_HEALTH:
		if (b->health)
			command_cancel(b->health);
		break;
	case SB_A_ACQUIRE:
		/* Only the term after the replica's (a later one means a
		 * primary went on without this replica), or one this node
		 * won before and gave back without promoting. */
		if (a->term ? arbiter_acquire(b->arb, a->term)
			    : arbiter_acquire_next(b->arb, b->rx.known_term))
			standby_on_lease(&b->sb, SB_LEASE_ERROR, 0, "",
					 "too many requests queued");
		break;
	case SB_A_REVOKE:
		arbiter_revoke(b->arb);
		break;
	case SB_A_PROMOTE:
		promote_now(b, a);
		break;
	case SB_A_SNAPSHOT:
		if (!a->flag || b->snapshot_epoch != b->r.epoch)
			write_snapshot(b);
		break;
	case SB_A_FORWARD:
		primary_signal(b->p, a->signum);
		break;
	case SB_A_STOP:
		stop_handles(b);
		break;
	}
}

/* Carries out the queued actions, in order; an event caused by one of
 * them queues its own behind, for this same loop. */
static void act(struct backup *b)
{
	const struct standby_action *a;

	if (b->acting)
		return;
	b->acting = 1;
	while ((a = standby_next(&b->sb)))
		carry_out(b, a);
	b->acting = 0;
}

void shell_start(struct backup *b)
{
	const struct config *cfg = b->cfg;
	uint64_t hb_ms = cfg->failover.heartbeat_interval_ns / 1000000;
	uint64_t health_ms = cfg->failover.health_check_interval_ns / 1000000;

	for (int i = 0; i < SB_NTIMERS; i++) {
		uv_timer_init(b->loop, &b->timers[i]);
		b->timers[i].data = b;
	}
	uv_timer_init(b->loop, &b->hb_timer);
	uv_timer_init(b->loop, &b->health_timer);
	b->hb_timer.data = b->health_timer.data = b;
	uv_signal_init(b->loop, &b->sigterm);
	uv_signal_init(b->loop, &b->sigint);
	uv_signal_init(b->loop, &b->sigusr1);
	b->sigterm.data = b->sigint.data = b->sigusr1.data = b;
	uv_signal_start(&b->sigterm, on_signal, SIGTERM);
	uv_signal_start(&b->sigint, on_signal, SIGINT);
	uv_signal_start(&b->sigusr1, on_signal, SIGUSR1);
	uv_timer_start(&b->hb_timer, on_heartbeat, hb_ms, hb_ms);
	if (*cfg->failover.health_check_command)
		uv_timer_start(&b->health_timer, on_health_timer, health_ms,
			       health_ms);
	/* The first dial, as if the retry timer had fired. */
	standby_on_retry(&b->sb);
	act(b);
}
