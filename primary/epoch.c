/*
 * The primary's shell (epoch.h): turns libuv callbacks into core events and
 * carries out the actions the core queues (primary_run). It decides
 * nothing about the protocol; it owns the handles, the connections, the
 * encoder worker, the output buffer and the statistics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "epoch.h"
#include "events.h"
#include "log.h"
#include "netout.h"
#include "workloads.h"
#include "status.h"
#include "wire.h"

/* Nice value of encoder threads (see lower_worker_priority()). */
#define ENCODER_NICE 5
/* The connection's write-queue bound: a few of the largest epochs. */
#define SEND_QUEUE_MAX (512u << 20)

static uint64_t id_of(const struct conn *c)
{
	return (uint64_t)(uintptr_t)c;
}

static struct conn *conn_of(uint64_t id)
{
	return (struct conn *)(uintptr_t)id;
}

static struct staged *staged_of(const struct primary *p, unsigned slot)
{
	return p->wl.ops->staged(p->wl.w, slot);
}

static uint64_t timeout_ms(const struct primary *p)
{
	return p->cfg->failover.heartbeat_timeout_ns / 1000000;
}

/* --- the encoder worker --------------------------------------------------- */

/*
 * The pause is the latency that matters; encoding is throughput. With few
 * cores, a worker encoding the last epoch would otherwise compete on equal
 * terms with the loop thread copying the next one while the guest waits.
 * Per thread, once (libuv's pool threads live as long as the process).
 */
static void lower_worker_priority(void)
{
	static __thread int done;

	if (!done) {
		done = 1;
		setpriority(PRIO_PROCESS, (id_t)gettid(), ENCODER_NICE);
	}
}

static void close_handle(uv_handle_t *h);

static void encode_work(uv_work_t *w)
{
	struct encode_job *j = w->data;
	const struct workload *wl = &j->p->wl;
	struct staged *s = wl->ops->staged(wl->w, j->slot);
	uint64_t t0 = now_ns();

	lower_worker_priority();
	/* Only this worker touches the encoder, one epoch at a time. */
	if (j->reset)
		encoder_reset(&j->p->enc);
	encoder_run(&j->p->enc, s, wl->ops->memory(wl->w));
	s->encode_ns = now_ns() - t0;
}

static void encode_done(uv_work_t *w, int status)
{
	struct encode_job *j = w->data;
	struct primary *p = j->p;
	struct staged *s = staged_of(p, j->slot);

	(void)status;
	if (p->core.state == PC_STOPPED) /* do_stop() left it open */
		close_handle((uv_handle_t *)&p->stream_async);
	if (!s->precopy && !s->err)
		stats_sample(&p->stats.encode, s->encode_ns);
	if (!s->err)
		log_debug("epoch %llu: %zu pages, %llu sent, %llu wire bytes, "
			  "encoded in %.2f ms",
			  (unsigned long long)s->epoch, s->npages,
			  (unsigned long long)s->sent_pages,
			  (unsigned long long)s->wire_bytes,
			  (double)s->encode_ns / 1e6);
	pcore_on_encoded(&p->core, j->slot, s->err);
	primary_run(p);
}

static void do_encode(struct primary *p, unsigned slot, int reset)
{
	struct encode_job *j = &p->jobs[slot];

	j->p = p;
	j->slot = slot;
	j->reset = reset;
	j->work.data = j;
	if (uv_queue_work(p->loop, &j->work, encode_work, encode_done)) {
		/* Cannot happen with a valid loop: say so, and the epoch
		 * fails like a failed encoding (the backup resyncs). */
		log_error("uv_queue_work failed");
		pcore_on_encoded(&p->core, slot, -EIO);
	}
}

/* --- sending -------------------------------------------------------------- */

static void slot_sent(void *arg)
{
	struct encode_job *j = arg;
	const struct staged *s = staged_of(j->p, j->slot);

	if (!s->precopy && !s->err)
		stats_sample(&j->p->stats.sent, now_ns() - s->resumed_ns);
	pcore_on_sent(&j->p->core, j->slot);
	primary_run(j->p);
}

/*
 * Queues slot's frames from s->queued on: those the encoder has published
 * (final 0, while it encodes the rest; no callback), or all of them (final
 * 1, the encoded epoch: slot_sent runs once the kernel has the bytes, or on
 * failure; writes complete in order, so the earlier ones are done too).
 * 0, or -ENOBUFS when the queue has no room yet: frames not queued while
 * encoding wait for the final call, and a final call that finds no room
 * parks the slot until on_drain.
 */
static int queue_frames(struct primary *p, unsigned slot, int final)
{
	struct staged *s = staged_of(p, slot);
	struct conn *c = p->peer;
	size_t i, n, bytes = 0;
	uv_buf_t *bufs;
	int ret;

	pthread_mutex_lock(&s->mu);
	n = final ? s->nframes : s->ready;
	for (i = s->queued; i < n; i++)
		bytes += s->frame_len[i];
	if (n == s->queued && !final) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (conn_queued(c) && conn_queued(c) + bytes > conn_max_queued(c)) {
		pthread_mutex_unlock(&s->mu);
		return -ENOBUFS;
	}
	bufs = malloc((n - s->queued + 1) * sizeof(*bufs));
	for (i = s->queued; bufs && i < n; i++)
		bufs[i - s->queued] =
			uv_buf_init((char *)s->out + s->frame_off[i],
				    (unsigned)s->frame_len[i]);
	pthread_mutex_unlock(&s->mu);
	if (!bufs) {
		if (final)
			slot_sent(&p->jobs[slot]);
		conn_close(c, "out of memory sending an epoch");
		return 0;
	}
	ret = conn_send(c, bufs, (unsigned)(n - s->queued),
			final ? slot_sent : NULL,
			final ? &p->jobs[slot] : NULL);
	free(bufs);
	if (!ret)
		s->queued = n;
	else if (final && p->peer)
		conn_close(p->peer, "cannot queue an epoch");
	return 0;
}

/*
 * The encoder published frames (any thread: encoder.h's notify). The loop
 * sends them at once if their epoch is next in line and nothing waits
 * for room before it.
 */
static void stream_notify(void *arg)
{
	struct primary *p = arg;

	uv_async_send(&p->stream_async);
}

static void on_stream_async(uv_async_t *a)
{
	struct primary *p = a->data;
	int slot = pcore_streaming(&p->core);

	if (slot >= 0 && p->peer && !p->nparked)
		queue_frames(p, (unsigned)slot, 0);
}

static void count_sent(struct primary *p, const struct staged *s)
{
	if (s->precopy) {
		p->stats.sync_bytes += s->wire_bytes;
		p->stats.sync_pages += s->npages;
	} else {
		p->stats.raw_bytes += s->raw_bytes;
		p->stats.capture_bytes += s->capture_bytes;
		p->stats.wire_bytes += s->wire_bytes;
		p->stats.sent_pages += s->sent_pages;
	}
}

/* Epochs go out in order: one that waits for room holds the later ones. */
static void do_send(struct primary *p, unsigned slot)
{
	count_sent(p, staged_of(p, slot));
	if (p->nparked || queue_frames(p, slot, 1))
		p->parked[p->nparked++] = slot;
}

static void send_parked(struct primary *p)
{
	unsigned i = 0;

	while (i < p->nparked && p->peer && !queue_frames(p, p->parked[i], 1))
		i++;
	memmove(p->parked, p->parked + i, (p->nparked - i) * sizeof(unsigned));
	p->nparked -= i;
}

/* The connection is gone: parked epochs were never handed to it. */
static void drop_parked(struct primary *p)
{
	while (p->nparked) {
		unsigned slot = p->parked[--p->nparked];

		pcore_on_sent(&p->core, slot);
	}
}

/*
 * Liveness, and how far the console stream is released: sent every
 * heartbeat_interval and right after every release, so that a promoted
 * backup knows which output the dead primary wrote.
 */
static void send_heartbeat(struct primary *p)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct conn *c = conn_of(pcore_backup(&p->core));

	if (!c)
		return;
	hb.term = p->core.term;
	hb.last_epoch = p->core.sent_epoch;
	hb.released = outbuf_released(&p->ob);
	/* A full queue means frames are flowing: skipping is fine. */
	conn_send_msg(c, WIRE_HEARTBEAT, &hb.base);
}

void primary_send_hello(struct primary *p, struct conn *c)
{
	Remora__Hello me;

	wire_hello_init(&me, p->core.term, p->wl.page_size, p->wl.mem_size,
			p->cfg->cluster, p->self->name,
			REMORA__ROLE__ROLE_PRIMARY);
	if (conn_send_msg(c, WIRE_HELLO, &me.base))
		conn_close(c, "cannot send Hello");
}

static void send_refuse(struct primary *p, struct conn *c, int permanent,
			const char *reason)
{
	Remora__Refuse r;

	wire_refuse_init(&r, p->core.term, p->self->name, reason, permanent);
	conn_send_msg(c, WIRE_REFUSE, &r.base);
	conn_finish(c, reason);
}

/* --- carrying out actions ------------------------------------------------- */

/* A new epoch in slot: its pause, for the statistics and its Ack latency. */
static void do_captured(struct primary *p, unsigned slot, int precopy)
{
	const struct staged *s = staged_of(p, slot);

	p->resumed[s->epoch % p->core.nslots] = precopy ? 0 : s->resumed_ns;
	if (precopy)
		return;
	stats_sample(&p->stats.pause, s->pause_ns);
	stats_sample(&p->stats.harvest, s->harvest_ns);
	stats_sample(&p->stats.copy, s->copy_ns);
	p->stats.dirty_pages += s->npages;
	p->stats.staging_grown += (uint64_t)s->grown;
	p->stats.hot_pages += s->hot_pages;
}

/*
 * A packet gate call's result: its failures are logged once until it
 * works again (the gate fails closed: what it holds waits, or is dropped
 * by the kernel, never let out early).
 */
static void net_done(struct primary *p, const char *what, int ret)
{
	char why[160];

	if (ret >= 0) {
		if (p->net_failing)
			log_info("packet gate works again (%s)", what);
		p->net_failing = 0;
		return;
	}
	if (p->net_failing)
		return;
	p->net_failing = 1;
	netout_why(p->wl.net, why, sizeof(why));
	log_error("packet gate, %s: %s; the service's packets wait", what,
		  *why ? why : strerror(-ret));
}

/* Acknowledged epochs (from, to]: their Ack latency, and their output. */
static void do_release(struct primary *p, uint64_t from, uint64_t to)
{
	uint64_t e, now = now_ns();
	size_t n;

	for (e = from + 1; e <= to; e++) {
		uint64_t t = p->resumed[e % p->core.nslots];

		if (!t)
			continue; /* pre-copy */
		stats_sample(&p->stats.ack, now - t);
		p->stats.epochs++;
		if (!p->stats.first_ack_ns)
			p->stats.first_ack_ns = now;
		p->stats.last_ack_ns = now;
	}
	if (p->wl.net)
		net_done(p, "releasing", netout_release(p->wl.net, to));
	n = outbuf_release(&p->ob, to);
	if (n) {
		send_heartbeat(p);
		lease_report(p, outbuf_released(&p->ob));
	}
	if (p->acked_events)
		events_emit("acked", EV_U("epoch", to), EV_U("released", n));
}

static void log_progress(struct primary *p, const struct pcore_action *a,
			 int force)
{
	uint64_t now = now_ns();
	double secs = (double)(now - p->stats.sync_start_ns) / 1e9;
	double mb = (double)p->stats.sync_bytes / 1e6;

	if (!force && now - p->stats.last_progress_ns < 1000000000ull)
		return;
	p->stats.last_progress_ns = now;
	log_info("sync round %d: %.0f%% of %llu pages staged, %.1f MB queued, "
		 "%.1f MB/s",
		 a->flag, a->b ? 100.0 * (double)a->a / (double)a->b : 100.0,
		 (unsigned long long)a->b, mb, secs > 0 ? mb / secs : 0.0);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void do_stop(struct primary *p)
{
	unsigned i;

	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i])
			conn_close(p->extra[i], "primary stopped");
	announce_stop(p);
	if (p->ctl) {
		ctl_close(p->ctl);
		p->ctl = NULL;
	}
	close_handle((uv_handle_t *)&p->announce_timer);
	close_handle((uv_handle_t *)&p->epoch_timer);
	close_handle((uv_handle_t *)&p->dirty_timer);
	close_handle((uv_handle_t *)&p->hb_timer);
	close_handle((uv_handle_t *)&p->drain_timer);
	if (p->wl.net)
		close_handle((uv_handle_t *)&p->net_poll);
	lease_stop(p);
	close_handle((uv_handle_t *)&p->listener);
	if (!p->core.promoted) { /* its backup's watchers serve it */
		close_handle((uv_handle_t *)&p->sigterm);
		close_handle((uv_handle_t *)&p->sigint);
	}
	/* The guest is paused (the core did it): no uv_async_send any more. */
	close_handle((uv_handle_t *)&p->guest_async);
	/* Paused: the workload's dump thread (if any) is joined. */
	close_handle((uv_handle_t *)&p->ready_async);
	/* The encoder may still notify: then encode_done() closes it. */
	if (!pcore_encoding(&p->core))
		close_handle((uv_handle_t *)&p->stream_async);
}

static void on_drain_timeout(uv_timer_t *t);

/*
 * Unprotected (degraded, continue): console output goes out as the guest
 * writes it (a promoted node's first output), with an arbiter only until
 * the lease's bound. Held again at the state change that ends it, before
 * that state's actions.
 */
static void update_passing(struct primary *p)
{
	uint64_t until = 0;

	/* With an arbiter, only while the lease surely holds (lease.h): the
	 * appending thread checks the clock, not the loop. */
	if (pcore_releases_now(&p->core))
		until = p->lease.arb ? p->lease.until_ns : UINT64_MAX;
	if (until == p->passing_until)
		return;
	/* Held packets go when passing starts; a lease renewal only moves
	 * its bound (on_net_readable() releases what comes meanwhile). */
	if (until && !p->passing_until && p->wl.net)
		net_done(p, "releasing", netout_flush(p->wl.net));
	p->passing_until = until;
	outbuf_pass_through(&p->ob, until);
}

/* One line and one event per state change, with the held output's fate. */
static void do_state(struct primary *p, const struct pcore_action *a)
{
	static const char *const fate[] = {
		[PO_KEEP] = "held",
		[PO_RELEASE] = "released",
		[PO_DISCARD] = "discarded",
	};
	char extra[160] = "";
	size_t n;

	if (a->out == PO_RELEASE)
		n = outbuf_flush(&p->ob);
	else
		n = outbuf_held(&p->ob);
	if (a->out == PO_DISCARD)
		outbuf_discard(&p->ob);
	update_passing(p);
	if (p->wl.net && a->out == PO_RELEASE)
		net_done(p, "releasing", netout_flush(p->wl.net));
	if (p->wl.net && a->out == PO_DISCARD)
		net_done(p, "dropping", netout_discard(p->wl.net));
	if (a->out != PO_KEEP)
		events_emit("output", EV_S("action", fate[a->out]),
			    EV_U("bytes", n), EV_U("epoch", p->core.acked));
	if (a->to == PC_SYNCING) {
		p->stats.sync_start_ns = p->stats.last_progress_ns = now_ns();
		p->stats.sync_bytes = p->stats.sync_pages = 0;
	}
	if (a->from == PC_SYNCING && a->to == PC_PROTECTED) {
		p->stats.sync_ns = now_ns() - p->stats.sync_start_ns;
		p->stats.sync_rounds = p->core.round;
		snprintf(extra, sizeof(extra), " (%.1f MB in %.2f s)",
			 (double)p->stats.sync_bytes / 1e6,
			 (double)p->stats.sync_ns / 1e9);
	}
	log_info("%s -> %s at epoch %llu: %s%s; %zu bytes of %s",
		 pcore_state_name(a->from), pcore_state_name(a->to),
		 (unsigned long long)p->core.acked, a->text, extra, n,
		 a->out == PO_DISCARD	? "unacknowledged output discarded"
		 : a->out == PO_RELEASE ? "held output released"
					: "output held");
	events_emit("state", EV_S("from", pcore_state_name(a->from)),
		    EV_S("to", pcore_state_name(a->to)),
		    EV_U("epoch", p->core.acked), EV_U("term", p->core.term),
		    EV_S("why", a->text));
}

static enum log_level log_level(int level)
{
	return level == PC_ERROR  ? LOG_ERROR
	       : level == PC_WARN ? LOG_WARN
				  : LOG_INFO;
}

static void carry_out(struct primary *p, const struct pcore_action *a)
{
	switch (a->type) {
	case PA_STATE:
		do_state(p, a);
		break;
	case PA_LOG:
		log_msg(log_level(a->flag), __FILE__, __LINE__, "%s", a->text);
		break;
	case PA_HELLO:
		log_info("backup %s connected from %s", a->text,
			 conn_peer(conn_of(a->conn)));
		primary_send_hello(p, conn_of(a->conn));
		break;
	case PA_REFUSE:
		send_refuse(p, conn_of(a->conn), a->flag, a->text);
		break;
	case PA_CLOSE:
		if (a->flag)
			log_msg(log_level(a->flag), __FILE__, __LINE__,
				"%s: %s", conn_peer(conn_of(a->conn)), a->text);
		conn_close(conn_of(a->conn), a->text);
		break;
	case PA_FINISH:
		conn_finish(conn_of(a->conn), a->text);
		break;
	case PA_HEARTBEAT:
		send_heartbeat(p);
		break;
	case PA_CAPTURED:
		do_captured(p, a->slot, a->flag);
		break;
	case PA_ENCODE:
		/* One encode at a time: the worker is idle, the term (moved
		 * on by the arbiter, maybe) is set for the next epoch. */
		p->enc.term = p->core.term;
		do_encode(p, a->slot, a->flag);
		break;
	case PA_BUMP:
		lease_bump(p, a->a);
		break;
	case PA_SEND:
		do_send(p, a->slot);
		break;
	case PA_RELEASE:
		do_release(p, a->a, a->b);
		break;
	case PA_REOPEN:
		outbuf_reopen(&p->ob);
		if (p->wl.net)
			netout_reopen(p->wl.net);
		break;
	case PA_DRAIN_TIMER:
		uv_timer_start(&p->drain_timer, on_drain_timeout, timeout_ms(p),
			       0);
		break;
	case PA_PROGRESS:
		log_progress(p, a, a->a == a->b);
		break;
	case PA_REPLACED:
		events_emit("replaced", EV_S("by", a->text), EV_U("term", a->a),
			    EV_U("own_term", p->core.term));
		break;
	case PA_STOP:
		do_stop(p);
		break;
	}
}

void primary_run(struct primary *p)
{
	const struct pcore_action *next;
	struct pcore_action a;

	/* Carrying one out may call back into the core (a connection that
	 * closes at once): the outer call goes on with what that queued. */
	if (p->running)
		return;
	p->running = 1;
	while ((next = pcore_next(&p->core)) != NULL) {
		a = *next;
		carry_out(p, &a);
	}
	p->running = 0;
	update_passing(p);
}

/* --- events from libuv ---------------------------------------------------- */

static int forget_extra(struct primary *p, struct conn *c)
{
	unsigned i;

	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i] == c) {
			p->extra[i] = NULL;
			return 1;
		}
	return 0;
}

/*
 * Whether this loop stalled: the heartbeat timer wakes it at least every
 * heartbeat_interval, so a gap longer than heartbeat_timeout since it last
 * ran means the process did not run (frozen, stopped, starved). Checked
 * first in every callback that feeds the core: after a stall, what the
 * backup sent meanwhile is read before any timer runs, and must be judged
 * knowing that (core.h, suspect). Returns 1 after a stall.
 */
static int stall_check(struct primary *p)
{
	uint64_t now = uv_now(p->loop), last = p->alive_ms;

	p->alive_ms = now;
	if (!last || now - last <= timeout_ms(p)) {
		lease_check(p);
		return 0;
	}
	lease_stalled(p);
	lease_check(p);
	pcore_on_stalled(&p->core, now - last);
	return 1;
}

static void on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct primary *p = opaque;

	stall_check(p);
	pcore_on_msg(&p->core, id_of(c), m);
	primary_run(p);
}

static void on_close(struct conn *c, const char *why, void *opaque)
{
	struct primary *p = opaque;

	if (forget_extra(p, c))
		return;
	stall_check(p);
	pcore_on_closed(&p->core, id_of(c), why);
	if (c == p->peer) {
		p->peer = NULL;
		drop_parked(p); /* only ever the backup's epochs */
	}
	primary_run(p);
}

static void on_drain(struct conn *c, void *opaque)
{
	struct primary *p = opaque;

	if (c == p->peer)
		send_parked(p);
	pcore_on_drain(&p->core);
	primary_run(p);
}

static const struct conn_ops conn_ops = {
	.on_msg = on_msg,
	.on_close = on_close,
	.on_drain = on_drain,
};

static void on_connection(uv_stream_t *server, int status)
{
	struct primary *p = server->data;
	struct conn *c;
	unsigned i;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	c = conn_new(p->loop, CONN_TCP, &conn_ops, p, SEND_QUEUE_MAX);
	if (!c) {
		log_error("out of memory accepting a connection");
		return;
	}
	if (p->key)
		conn_set_cred(c, p->key, 0, NULL);
	if (uv_accept(server, conn_stream(c)) || conn_start(c)) {
		conn_close(c, "accept failed");
		return;
	}
	if (pcore_on_accept(&p->core, id_of(c))) {
		p->peer = c;
		p->peer_since = uv_now(p->loop);
		log_info("connection from %s; waiting for its Hello",
			 conn_peer(c));
		return;
	}
	/* A busy primary still reads a Hello: it may be a promoted node
	 * announcing a higher term. A few at a time, each for at most
	 * heartbeat_timeout (on_heartbeat). */
	for (i = 0; i < EXTRA_MAX; i++)
		if (!p->extra[i]) {
			p->extra[i] = c;
			p->extra_since[i] = uv_now(p->loop);
			return;
		}
	log_warn("refusing %s: too many connections at once", conn_peer(c));
	send_refuse(p, c, 0, "primary is busy");
}

/*
 * Output commit's bound: held output may not grow without end (nothing is
 * released while no backup acknowledges, and the backup holds at most the
 * guest memory size of it: docs/wire.md). At a quarter of guest memory the
 * guest is held stopped until its output is down to an eighth; checked
 * every tick, so it overshoots by at most one epoch interval's output.
 */
static void backpressure(struct primary *p)
{
	size_t held = outbuf_held(&p->ob);
	uint64_t max = p->wl.mem_size / 4;

	if (!p->output_held && held > max) {
		p->output_held = 1;
		lease_apply_hold(p);
		events_emit("backpressure", EV_U("held", 1),
			    EV_U("bytes", held), EV_U("max", max));
		log_warn("%zu bytes of output held, over %llu (a quarter of "
			 "guest memory): the guest waits until a backup "
			 "acknowledges them",
			 held, (unsigned long long)max);
	} else if (p->output_held && held <= max / 2) {
		p->output_held = 0;
		lease_apply_hold(p);
		events_emit("backpressure", EV_U("held", 0),
			    EV_U("bytes", held), EV_U("max", max));
		log_info("output held down to %zu bytes: the guest runs on",
			 held);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct primary *p = t->data;

	stall_check(p);
	backpressure(p);
	pcore_on_tick(&p->core);
	primary_run(p);
}

/*
 * An epoch must fit the copies its slot reserved (max_epoch_size), or its
 * pause would allocate: once the pages written since the last one reach
 * three quarters of that, the next epoch starts now rather than at its
 * tick. Checked a few times per interval, while the guest runs.
 */
static void on_dirty_check(uv_timer_t *t)
{
	struct primary *p = t->data;
	long n;

	if (p->core.state != PC_PROTECTED || p->core.due)
		return;
	n = p->wl.ops->dirty_now(p->wl.w);
	if (n < 0 || (size_t)n < p->wl.epoch_pages / 4 * 3)
		return;
	p->stats.full_epochs++;
	pcore_on_tick(&p->core);
	primary_run(p);
}

static void on_heartbeat(uv_timer_t *t)
{
	struct primary *p = t->data;
	uint64_t now = uv_now(p->loop);
	unsigned i;

	if (stall_check(p)) {
		/* What the peers sent meanwhile is not read yet: their
		 * silence is this process's own. Judge them next time. A
		 * renewal asked for now proves whether anyone took over. */
		lease_tick(p);
		pcore_on_heartbeat_tick(&p->core);
		primary_run(p);
		return;
	}
	/* A connection that has not said Hello within heartbeat_timeout is
	 * closed: a trickle of bytes must not hold the backup's place. */
	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i] && now - p->extra_since[i] > timeout_ms(p))
			conn_close(p->extra[i], "no Hello within "
						"heartbeat_timeout");
	if (p->peer && !pcore_backup(&p->core) &&
	    now - p->peer_since > timeout_ms(p))
		conn_close(p->peer, "no Hello within heartbeat_timeout");
	/* Quiet connections are closed (on_close tells the core). */
	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i])
			conn_check_alive(p->extra[i], timeout_ms(p),
					 conn_peer(p->extra[i]));
	if (p->peer)
		conn_check_alive(p->peer, timeout_ms(p),
				 pcore_backup(&p->core) ? p->core.peer_name
							: conn_peer(p->peer));
	lease_tick(p);
	pcore_on_heartbeat_tick(&p->core);
	primary_run(p);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct primary *p = t->data;

	pcore_on_drain_timeout(&p->core);
	primary_run(p);
}

void primary_signal(struct primary *p, int signum)
{
	pcore_on_signal(&p->core, strsignal(signum));
	primary_run(p);
}

static void on_signal(uv_signal_t *s, int signum)
{
	primary_signal(s->data, signum);
}

static void on_guest_async(uv_async_t *a)
{
	struct primary *p = a->data;
	char why[256];
	int code;

	p->stats.guest_end_ns = now_ns();
	code = p->wl.ops->ended(p->wl.w, why, sizeof(why));
	if (!*why)
		log_info("the workload exited with code %d", code);
	else
		log_error("the workload stopped: %s", why);
	pcore_on_guest_stopped(&p->core, code);
	primary_run(p);
}

/*
 * The service sent packets: held in the open epoch. Unprotected, they go
 * out at once; when the held ones reach max_held_bytes, the next epoch
 * starts now rather than at its tick (its Ack releases them sooner).
 */
static void on_net_readable(uv_poll_t *h, int status, int events)
{
	struct primary *p = h->data;
	struct netout *net = p->wl.net;

	(void)events;
	if (status < 0) {
		net_done(p, "polling", status);
		return;
	}
	stall_check(p); /* the lease too: releasing is an output event */
	net_done(p, "reading", netout_read(net));
	if (pcore_releases_now(&p->core))
		net_done(p, "releasing", netout_flush(net));
	else if (netout_full(net) && !p->core.due) {
		p->stats.early_epochs++;
		pcore_on_tick(&p->core);
	}
	primary_run(p);
}

static void on_ready_async(uv_async_t *a)
{
	struct primary *p = a->data;

	pcore_on_workload_ready(&p->core);
	primary_run(p);
}

/* Any thread (the workload's): a capture it started is done. */
static void workload_ready(void *opaque)
{
	struct primary *p = opaque;

	uv_async_send(&p->ready_async);
}

/* Any thread (the vCPU's): the guest ended by itself. */
static void guest_ended(void *opaque)
{
	struct primary *p = opaque;

	uv_async_send(&p->guest_async);
}

/* --- set-up and the end --------------------------------------------------- */

static int listen_on(struct primary *p)
{
	const struct config_node *self = p->self;
	struct sockaddr_storage addr;
	int ret;

	ret = conn_addr(self->host, self->port, &addr);
	if (!ret)
		ret = uv_tcp_init(p->loop, &p->listener);
	if (!ret) {
		p->listener.data = p;
		ret = uv_tcp_bind(&p->listener, (struct sockaddr *)&addr, 0);
		if (!ret)
			ret = uv_listen((uv_stream_t *)&p->listener, 4,
					on_connection);
		if (ret)
			uv_close((uv_handle_t *)&p->listener, NULL);
	}
	if (ret)
		log_error("cannot listen on %s:%u (replication_address of node "
			  "%s in %s): %s",
			  self->host, self->port, self->name, p->cfg->path,
			  uv_strerror(ret));
	return ret;
}

/* The delta cache made resident off the loop (encoder_prefault()). */
static void cache_work(uv_work_t *w)
{
	struct primary *p = w->data;
	uint64_t t0 = now_ns();

	lower_worker_priority();
	p->cache_ret = encoder_prefault(&p->enc);
	p->cache_ns = now_ns() - t0;
}

static void cache_done(uv_work_t *w, int status)
{
	struct primary *p = w->data;

	(void)status;
	if (p->cache_ret)
		log_debug("delta cache left to fill on demand: %s",
			  strerror(-p->cache_ret));
	else
		log_debug("delta cache resident in %.2f s",
			  (double)p->cache_ns / 1e9);
}

int primary_start(struct primary *p, uv_loop_t *loop, const struct config *cfg,
		  const struct config_node *self, const struct workload *wl,
		  const struct primary_opts *o)
{
	struct workload_sink sink = {.ob = &p->ob,
				     .ended = guest_ended,
				     .ready = workload_ready,
				     .arg = p};
	uint64_t interval_ms = cfg->replication.epoch_interval_ns / 1000000;
	uint64_t hb_ms = cfg->failover.heartbeat_interval_ns / 1000000;
	unsigned nslots = cfg->replication.max_inflight_epochs + 1;
	char what[1024];
	struct pcore_opts co = {.cfg = cfg,
				.self = self,
				.term = o->term,
				.promoted = o->promoted,
				.arbiter = o->arb != NULL,
				.nslots = nslots,
				.page_size = wl->page_size,
				.wl = *wl};
	int ret;

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->cfg = cfg;
	p->self = self;
	p->wl = *wl;
	p->acked_events = o->acked_events;
	p->key = o->key;
	p->jobs = calloc(nslots, sizeof(*p->jobs));
	p->parked = calloc(nslots, sizeof(*p->parked));
	p->resumed = calloc(nslots, sizeof(*p->resumed));
	if (!p->jobs || !p->parked || !p->resumed)
		return -ENOMEM;
	wl->ops->bind(wl->w, &sink);
	ret = pcore_init(&p->core, &co);
	if (ret)
		return ret;
	ret = encoder_init(
		&p->enc, wl->mem_size, cfg->replication.delta_cache,
		cfg->replication.delta,
		cfg->replication.compression == CONFIG_COMPRESSION_LZ4 ? 1 : 0,
		o->term);
	if (ret)
		return ret;
	p->enc.notify = stream_notify;
	p->enc.notify_arg = p;
	/* Not for a promoted primary: it starts without a backup, and tens
	 * of MiB of page faults would lengthen the takeover (it reserves
	 * them when a backup attaches). */
	if (!o->promoted && (ret = wl->ops->reserve(wl->w)))
		return ret;
	/* Before a backup attaches (the loop ends only once it is done);
	 * not for a promoted primary, whose guest should have the CPUs. */
	p->cache_work.data = p;
	if (!o->promoted &&
	    uv_queue_work(loop, &p->cache_work, cache_work, cache_done))
		log_debug("delta cache: uv_queue_work failed");
	ret = outbuf_init(&p->ob, o->sink_fd);
	if (ret)
		return ret;
	outbuf_set_offset(&p->ob, o->console_offset);
	ret = listen_on(p);
	if (ret)
		return ret;
	uv_timer_init(loop, &p->epoch_timer);
	uv_timer_init(loop, &p->hb_timer);
	uv_timer_init(loop, &p->drain_timer);
	uv_timer_init(loop, &p->announce_timer);
	uv_timer_init(loop, &p->dirty_timer);
	p->epoch_timer.data = p->hb_timer.data = p->drain_timer.data = p;
	p->dirty_timer.data = p;
	p->announce_timer.data = p;
	if (!o->promoted) {
		uv_signal_init(loop, &p->sigterm);
		uv_signal_init(loop, &p->sigint);
		p->sigterm.data = p->sigint.data = p;
		uv_signal_start(&p->sigterm, on_signal, SIGTERM);
		uv_signal_start(&p->sigint, on_signal, SIGINT);
	}
	lease_start(p, o->arb, o->lease_until_ns);
	uv_async_init(loop, &p->guest_async, on_guest_async);
	p->guest_async.data = p;
	uv_async_init(loop, &p->ready_async, on_ready_async);
	p->ready_async.data = p;
	uv_async_init(loop, &p->stream_async, on_stream_async);
	p->stream_async.data = p;
	if (wl->net) {
		ret = uv_poll_init(loop, &p->net_poll, netout_fd(wl->net));
		if (ret)
			return ret;
		p->net_poll.data = p;
		uv_poll_start(&p->net_poll, UV_READABLE, on_net_readable);
	}
	uv_timer_start(&p->epoch_timer, on_tick, interval_ms, interval_ms);
	if (wl->ops->dirty_now && wl->epoch_pages) {
		uint64_t ms = interval_ms / 4 > 2 ? interval_ms / 4 : 2;

		uv_timer_start(&p->dirty_timer, on_dirty_check, ms, ms);
	}
	uv_timer_start(&p->hb_timer, on_heartbeat, hb_ms, hb_ms);
	if (o->promoted)
		announce_start(p);
	if (cfg->failover.on_backup_loss == CONFIG_BACKUP_LOSS_CONTINUE &&
	    !o->arb)
		log_warn("on_backup_loss = continue: if the link to the backup "
			 "is "
			 "cut rather than the backup dead, the backup promotes "
			 "and both nodes release output; use pause, or a "
			 "fence_command that cuts this node off "
			 "(docs/failover.md)");
	/* A promoted primary starts unprotected: its first output need not
	 * wait for a tick. */
	update_passing(p);
	events_emit("listening", EV_S("host", self->host),
		    EV_U("port", self->port), EV_U("term", o->term));
	primary_describe_workload(cfg, what, sizeof(what));
	log_info("listening on %s:%u for the backup; %s; epochs every %.1f ms",
		 self->host, self->port, what,
		 (double)cfg->replication.epoch_interval_ns / 1e6);
	return 0;
}

void primary_abort(struct primary *p, const char *why, int exit_code)
{
	pcore_on_abort(&p->core, why, exit_code);
	primary_run(p);
}

void primary_finish(struct primary *p)
{
	pcore_destroy(&p->core);
	free(p->jobs);
	free(p->parked);
	free(p->resumed);
	p->jobs = NULL;
	p->parked = NULL;
	p->resumed = NULL;
	encoder_destroy(&p->enc);
	outbuf_destroy(&p->ob);
}

int primary_write_stats(struct primary *p, const char *path)
{
	p->stats.waits = p->core.waits;
	if (!p->stats.sync_rounds)
		p->stats.sync_rounds = p->core.round;
	return stats_write(&p->stats, path);
}

void primary_status(struct primary *p, struct node_status *st)
{
	static const double q[] = {0.5, 0.99};
	const struct primary_stats *s = &p->stats;
	double secs = (double)(s->last_ack_ns - s->first_ack_ns) / 1e9;
	struct conn *backup = conn_of(pcore_backup(&p->core));
	double pause[2], ack[2];

	snprintf(st->node, sizeof(st->node), "%s", p->self->name);
	snprintf(st->role, sizeof(st->role), "primary");
	snprintf(st->state, sizeof(st->state), "%s",
		 pcore_state_name(p->core.state));
	st->term = p->core.term;
	st->epoch = p->core.next_epoch - 1;
	st->acked = p->core.acked;
	st->held_bytes = outbuf_held(&p->ob);
	if (p->wl.net)
		st->held_bytes += netout_held_bytes(p->wl.net);
	/* The recent pauses and Acks, each sorted once: cheap on the loop
	 * thread, and only when asked. */
	stats_percentiles(&s->pause, STATUS_SAMPLES, q, pause, 2);
	st->pause_us_p50 = pause[0];
	st->pause_us_p99 = pause[1];
	stats_percentiles(&s->ack, STATUS_SAMPLES, q, ack, 2);
	st->ack_us_p50 = ack[0];
	st->ack_us_p99 = ack[1];
	st->epochs_per_s = stats_epochs_per_s(s);
	st->wire_mb_per_s = secs > 0 ? (double)(s->wire_bytes) / 1e6 / secs : 0;
	st->compression_ratio =
		s->wire_bytes ? (double)s->raw_bytes / (double)s->wire_bytes
			      : 0;
	snprintf(st->peer, sizeof(st->peer), "%.63s",
		 backup ? p->core.peer_name : "");
	st->since_last_frame_ms =
		p->peer ? (int64_t)(uv_now(p->loop) - conn_last_rx_ms(p->peer))
			: -1;
	st->heartbeat_timeout_ms = timeout_ms(p);
	primary_workload_status(p->cfg, st->pause_us_p50, st->workload,
				sizeof(st->workload));
}
