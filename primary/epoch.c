/*
 * The primary's epoch pipeline (see epoch.h for the states and events).
 *
 * Everything here runs on the loop thread except encoder_run(), which runs
 * on a libuv worker, one epoch at a time and in epoch order. The pipeline
 * is a small pool of slots (max_inflight_epochs + 1): an epoch takes a slot
 * at capture, is encoded, queued on the connection as whole frames, and
 * gives the slot back when the kernel has its bytes; the number of epochs
 * captured but not yet acknowledged is what max_inflight_epochs bounds.
 * pump() is called after every event and does whatever can be done next.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ctl.h"
#include "epoch.h"
#include "events.h"
#include "log.h"
#include "status.h"
#include "wire.h"

/* Pages of copies each slot starts with (it grows when an epoch needs). */
#define STAGE_PREALLOC_PAGES 2048u
/* Pages per pre-copy epoch: keeps progress visible, and fits the output a
 * slot reserved (so a sync never faults in new output buffers). With
 * max_inflight_epochs of them in flight the link stays busy. */
#define SYNC_CHUNK_PAGES STAGE_PREALLOC_PAGES
/* Nice value of encoder threads (see lower_worker_priority()). */
#define ENCODER_NICE 5
/* The connection's write-queue bound: a few of the largest epochs. */
#define SEND_QUEUE_MAX (512u << 20)

static void pump(struct primary *p);

static const char *const state_names[] = {
	[P_WAITING] = "waiting",   [P_DEGRADED] = "degraded",
	[P_SYNCING] = "syncing",   [P_PROTECTED] = "protected",
	[P_DRAINING] = "draining", [P_STOPPED] = "stopped",
};

const char *primary_state_name(enum primary_state s)
{
	return s <= P_STOPPED ? state_names[s] : "?";
}

/* The transition matrix of epoch.h: allowed[from] has bit (1 << to). */
static const unsigned allowed[] = {
	[P_WAITING] = 1u << P_SYNCING | 1u << P_STOPPED,
	[P_DEGRADED] = 1u << P_SYNCING | 1u << P_STOPPED,
	[P_SYNCING] = 1u << P_WAITING | 1u << P_DEGRADED | 1u << P_PROTECTED |
		      1u << P_STOPPED,
	[P_PROTECTED] = 1u << P_WAITING | 1u << P_DEGRADED | 1u << P_DRAINING |
			1u << P_STOPPED,
	[P_DRAINING] = 1u << P_STOPPED,
	[P_STOPPED] = 0,
};

static void enter_stopped(struct primary *p);

/* What a state change did with the held output (an event; returns n). */
static size_t output_event(const struct primary *p, const char *action,
			   size_t n)
{
	events_emit("output", EV_S("action", action), EV_U("bytes", n),
		    EV_U("epoch", p->acked));
	return n;
}

/* Performs and logs every state change: one line, with the epoch. */
static void set_state(struct primary *p, enum primary_state to, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static void set_state(struct primary *p, enum primary_state to, const char *fmt,
		      ...)
{
	enum primary_state from = p->state;
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!(allowed[from] & (1u << to))) {
		log_error("bug: no transition %s -> %s (%s)",
			  primary_state_name(from), primary_state_name(to),
			  why);
		return;
	}
	p->state = to;
	log_info("%s -> %s at epoch %llu: %s", primary_state_name(from),
		 primary_state_name(to), (unsigned long long)p->acked, why);
	events_emit("state", EV_S("from", primary_state_name(from)),
		    EV_S("to", primary_state_name(to)), EV_U("epoch", p->acked),
		    EV_U("term", p->term), EV_S("why", why));
	if (to == P_STOPPED)
		enter_stopped(p);
}

/* --- statistics ----------------------------------------------------------- */

static void sample(struct samples *s, uint64_t ns)
{
	uint64_t us = ns / 1000;

	s->v[s->n % STATS_SAMPLES] =
		us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	s->n++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Percentiles q[0..nq) (0..1) of the last `recent` kept samples, in
 * microseconds, with one sort; 0 if there are none.
 */
static void percentiles(const struct samples *s, size_t recent, const double *q,
			double *out, int nq)
{
	size_t n = s->n < STATS_SAMPLES ? (size_t)s->n : STATS_SAMPLES;
	uint32_t *v;
	size_t i;

	if (n > recent)
		n = recent;
	v = n ? malloc(n * sizeof(*v)) : NULL;
	for (i = 0; v && i < n; i++)
		v[i] = s->v[(s->n - n + i) % STATS_SAMPLES];
	if (v)
		qsort(v, n, sizeof(*v), cmp_u32);
	for (int k = 0; k < nq; k++)
		out[k] = v ? v[(size_t)(q[k] * (double)(n - 1) + 0.5)] : 0;
	free(v);
}

static double percentile(const struct samples *s, double q)
{
	double r;

	percentiles(s, STATS_SAMPLES, &q, &r, 1);
	return r;
}

/* Checkpoints per second between the first and the last Ack. */
static double epochs_per_s(const struct primary_stats *s)
{
	double secs = (double)(s->last_ack_ns - s->first_ack_ns) / 1e9;

	return secs > 0 && s->epochs > 1 ? (double)(s->epochs - 1) / secs : 0;
}

int primary_write_stats(const struct primary *p, const char *path)
{
	static const double q[] = {0.5, 0.99, 1.0};
	const struct primary_stats *st = &p->stats;
	double secs = (double)(st->last_ack_ns - st->first_ack_ns) / 1e9;
	FILE *f = fopen(path, "w");
	double pause[3];

	if (!f)
		return -errno;
	percentiles(&st->pause, STATS_SAMPLES, q, pause, 3);
	fprintf(f,
		"{\"epochs\": %llu, \"waits\": %llu, \"dirty_pages\": %llu, "
		"\"sent_pages\": %llu, \"raw_bytes\": %llu, "
		"\"wire_bytes\": %llu, \"sync_bytes\": %llu, "
		"\"seconds\": %.6f, \"epochs_per_s\": %.3f, "
		"\"pause_us_p50\": %.1f, \"pause_us_p99\": %.1f, "
		"\"pause_us_max\": %.1f, \"harvest_us_p50\": %.1f, "
		"\"copy_us_p50\": %.1f, \"ack_us_p50\": %.1f, "
		"\"ack_us_p99\": %.1f, \"sync_s\": %.6f, "
		"\"sync_rounds\": %u, \"sync_pages\": %llu, "
		"\"guest_run_s\": %.6f}\n",
		(unsigned long long)st->epochs, (unsigned long long)st->waits,
		(unsigned long long)st->dirty_pages,
		(unsigned long long)st->sent_pages,
		(unsigned long long)st->raw_bytes,
		(unsigned long long)st->wire_bytes,
		(unsigned long long)st->sync_bytes, secs, epochs_per_s(st),
		pause[0], pause[1], pause[2], percentile(&st->harvest, 0.5),
		percentile(&st->copy, 0.5), percentile(&st->ack, 0.5),
		percentile(&st->ack, 0.99), (double)st->sync_ns / 1e9, p->round,
		(unsigned long long)st->sync_pages,
		(double)((st->guest_end_ns ? st->guest_end_ns : now_ns()) -
			 st->guest_start_ns) /
			1e9);
	return fclose(f) ? -errno : 0;
}

/* --- the pipeline --------------------------------------------------------- */

/* Epochs captured on this connection and not yet acknowledged. */
static uint64_t inflight(const struct primary *p)
{
	return p->next_epoch - 1 - p->acked;
}

static struct slot *free_slot(struct primary *p)
{
	unsigned i;

	for (i = 0; i < p->nslots; i++)
		if (p->slots[i].st == SLOT_FREE)
			return &p->slots[i];
	return NULL;
}

static int room(struct primary *p)
{
	return inflight(p) < p->cfg->replication.max_inflight_epochs &&
	       free_slot(p) != NULL;
}

/* When epoch's guest resumed (checkpoints; 0 for pre-copy), for Ack latency. */
static uint64_t *resumed_at(struct primary *p, uint64_t epoch)
{
	return &p->resumed[epoch % p->nslots];
}

static void take_checkpoint(struct primary *p, int final)
{
	struct slot *sl = free_slot(p);
	uint64_t epoch = p->next_epoch;
	struct staged *s = &sl->s;
	int ret;

	ret = capture_checkpoint(p->vm, &p->ob, &p->copier, p->bitmap, p->carry,
				 epoch, final, s);
	if (ret) {
		/* Nothing was lost (capture.h); the next tick tries again. */
		log_error("epoch %llu: capture failed: %s",
			  (unsigned long long)epoch, vm_error(p->vm));
		return;
	}
	p->next_epoch++;
	sl->st = SLOT_CAPTURED;
	sl->conn_gen = p->conn_gen;
	*resumed_at(p, epoch) = s->resumed_ns;
	sample(&p->stats.pause, s->pause_ns);
	sample(&p->stats.harvest, s->harvest_ns);
	sample(&p->stats.copy, s->copy_ns);
	p->stats.dirty_pages += s->npages;
	if (final)
		p->final_epoch = epoch;
}

static void log_sync_progress(struct primary *p, int force)
{
	uint64_t now = now_ns();
	double secs = (double)(now - p->sync_start_ns) / 1e9;
	double mb = (double)p->stats.sync_bytes / 1e6;

	if (!force && now - p->last_progress_ns < 1000000000ull)
		return;
	p->last_progress_ns = now;
	log_info("sync round %u: %.0f%% of %zu pages queued, %.1f MB queued, "
		 "%.1f MB/s",
		 p->round,
		 p->round_n ? 100.0 * (double)p->round_pos / (double)p->round_n
			    : 100.0,
		 p->round_n, mb, secs > 0 ? mb / secs : 0.0);
}

/*
 * One step of the initial sync: queue the next chunk of the current round,
 * or (once the round is acknowledged) harvest the next round, or finish.
 * Returns 0 when nothing more can be done now.
 */
static int sync_step(struct primary *p)
{
	const struct config *cfg = p->cfg;
	uint64_t npages = vm_mem_size(p->vm) / VM_PAGE_SIZE;
	struct slot *sl;
	size_t n;
	long dirty;

	if (p->round_pos == p->round_n) {
		int first = !p->sync_listed;

		if (!first && p->acked < p->next_epoch - 1)
			return 0; /* the round is still on its way */
		dirty = capture_harvest(p->vm, p->bitmap, p->carry);
		if (dirty < 0) {
			log_error("sync: harvest failed: %s", vm_error(p->vm));
			return 0;
		}
		if (!first) {
			log_sync_progress(p, 1);
			p->round++;
		}
		if (!first &&
		    ((uint64_t)dirty <= cfg->replication.precopy_stop_pages ||
		     p->round >= cfg->replication.precopy_max_rounds)) {
			/* The rest goes in the first checkpoint. */
			size_t w, nw = vm_bitmap_bytes(p->vm) / 8;

			for (w = 0; w < nw; w++)
				p->carry[w] |= p->bitmap[w];
			p->tick_pending = 1;
			p->stats.sync_ns = now_ns() - p->sync_start_ns;
			set_state(p, P_PROTECTED,
				  "sync done in %u rounds, %.1f MB in %.2f s; "
				  "%ld pages left for the first checkpoint",
				  p->round, (double)p->stats.sync_bytes / 1e6,
				  (double)(now_ns() - p->sync_start_ns) / 1e9,
				  dirty);
			return 0;
		}
		/* Round 0: everything the guest holds; later rounds: what
		 * it wrote meanwhile. */
		if (first)
			p->round_n = capture_list_data(vm_mem_fd(p->vm), npages,
						       p->round_pfns);
		else
			p->round_n =
				capture_list(p->bitmap, npages, p->round_pfns);
		p->sync_listed = 1;
		p->round_pos = 0;
		if (p->round_n == 0)
			return 1; /* nothing dirty: straight to the next */
	}
	sl = free_slot(p);
	n = p->round_n - p->round_pos;
	if (n > SYNC_CHUNK_PAGES)
		n = SYNC_CHUNK_PAGES;
	if (staged_reserve(&sl->s, n, 0)) {
		log_error("sync: out of memory for %zu pages", n);
		return 0;
	}
	staged_set_precopy(&sl->s, p->next_epoch, p->round_pfns + p->round_pos,
			   n);
	*resumed_at(p, p->next_epoch) = 0;
	p->next_epoch++;
	p->round_pos += n;
	sl->st = SLOT_CAPTURED;
	sl->conn_gen = p->conn_gen;
	log_sync_progress(p, 0);
	return 1;
}

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

static void encode_work(uv_work_t *w)
{
	struct slot *sl = w->data;
	uint64_t t0 = now_ns();

	lower_worker_priority();

	encoder_run(&sl->p->enc, &sl->s, vm_mem(sl->p->vm));
	sl->s.encode_ns = now_ns() - t0;
}

static void encode_done(uv_work_t *w, int status)
{
	struct slot *sl = w->data;
	struct primary *p = sl->p;
	char why[256];

	(void)status;
	p->encoding = 0;
	if (sl->conn_gen != p->conn_gen || !p->conn) {
		sl->st = SLOT_FREE;
	} else if (sl->s.err) {
		sl->st = SLOT_FREE;
		snprintf(why, sizeof(why), "encoding epoch %llu failed: %s",
			 (unsigned long long)sl->s.epoch, strerror(-sl->s.err));
		log_error("%s", why);
		conn_close(p->conn, why);
	} else {
		sl->st = SLOT_ENCODED;
		log_debug("epoch %llu: %zu pages, %llu sent, %llu wire bytes, "
			  "encoded in %.2f ms",
			  (unsigned long long)sl->s.epoch, sl->s.npages,
			  (unsigned long long)sl->s.sent_pages,
			  (unsigned long long)sl->s.wire_bytes,
			  (double)sl->s.encode_ns / 1e6);
	}
	pump(p);
}

static struct slot *slot_with(struct primary *p, enum slot_state st,
			      uint64_t epoch)
{
	unsigned i;

	for (i = 0; i < p->nslots; i++)
		if (p->slots[i].st == st && p->slots[i].s.epoch == epoch &&
		    p->slots[i].conn_gen == p->conn_gen)
			return &p->slots[i];
	return NULL;
}

static void encode_next(struct primary *p)
{
	struct slot *sl;

	if (p->encoding || p->reset_pending)
		return;
	sl = slot_with(p, SLOT_CAPTURED, p->encode_epoch + 1);
	if (!sl)
		return;
	p->encode_epoch = sl->s.epoch;
	sl->st = SLOT_ENCODING;
	sl->work.data = sl;
	p->encoding = 1;
	if (uv_queue_work(p->loop, &sl->work, encode_work, encode_done)) {
		/* Cannot happen with a valid loop; fail loudly, lose nothing. */
		p->encoding = 0;
		sl->st = SLOT_CAPTURED;
		log_error("uv_queue_work failed");
	}
}

static void slot_sent(void *arg)
{
	struct slot *sl = arg;

	sl->st = SLOT_FREE;
}

static void send_ready(struct primary *p)
{
	struct slot *sl;
	uv_buf_t *bufs;
	size_t i;
	int ret;

	while (p->conn &&
	       (sl = slot_with(p, SLOT_ENCODED, p->sent_epoch + 1)) != NULL) {
		struct staged *s = &sl->s;

		if (conn_queued(p->conn) &&
		    conn_queued(p->conn) + s->wire_bytes >
			    conn_max_queued(p->conn))
			return; /* on_drain calls again */
		bufs = malloc(s->nframes * sizeof(*bufs));
		if (!bufs) {
			conn_close(p->conn, "out of memory sending an epoch");
			return;
		}
		for (i = 0; i < s->nframes; i++)
			bufs[i] = uv_buf_init((char *)s->out + s->frame_off[i],
					      (unsigned)s->frame_len[i]);
		sl->st = SLOT_SENDING;
		ret = conn_send(p->conn, bufs, (unsigned)s->nframes, slot_sent,
				sl);
		free(bufs);
		if (ret) {
			/* slot_sent has run; the connection is unusable. */
			if (p->conn)
				conn_close(p->conn, "cannot queue an epoch");
			return;
		}
		p->sent_epoch = s->epoch;
		if (s->precopy) {
			p->stats.sync_bytes += s->wire_bytes;
			p->stats.sync_pages += s->npages;
		} else {
			p->stats.raw_bytes += s->raw_bytes;
			p->stats.wire_bytes += s->wire_bytes;
			p->stats.sent_pages += s->sent_pages;
		}
	}
}

static void pump(struct primary *p)
{
	if (p->state == P_STOPPED)
		return;
	if (p->reset_pending && !p->encoding) {
		encoder_reset(&p->enc);
		p->reset_pending = 0;
	}
	if (p->conn && p->hello_done) {
		while (p->state == P_SYNCING && room(p) && sync_step(p))
			;
		if (p->state == P_PROTECTED && p->tick_pending && room(p)) {
			p->tick_pending = 0;
			take_checkpoint(p, 0);
		}
		if (p->state == P_DRAINING && !p->final_epoch && room(p))
			take_checkpoint(p, 1);
		encode_next(p);
		send_ready(p);
	}
}

/* --- events --------------------------------------------------------------- */

static void primary_on_tick(uv_timer_t *t)
{
	struct primary *p = t->data;

	if (p->state == P_DEGRADED)
		outbuf_flush(&p->ob); /* unprotected: out as it comes */
	if (p->state != P_PROTECTED)
		return;
	if (p->tick_pending || !room(p))
		p->stats.waits++; /* the pipeline is full: this epoch waits */
	p->tick_pending = 1;
	pump(p);
}

/*
 * Liveness, and how far the console stream is released: sent every
 * heartbeat_interval and right after every release, so that a promoted
 * backup knows which output the dead primary wrote.
 */
static void send_heartbeat(struct primary *p)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	hb.term = p->term;
	hb.last_epoch = p->sent_epoch;
	hb.released = outbuf_released(&p->ob);
	/* A full queue means frames are flowing: skipping is fine. */
	conn_send_msg(p->conn, WIRE_HEARTBEAT, &hb.base);
}

static void on_ack(struct primary *p, const Remora__Ack *a)
{
	uint64_t e, now = now_ns();
	char why[256];

	if (a->term != p->term) {
		snprintf(why, sizeof(why), "Ack of term %llu, ours is %llu",
			 (unsigned long long)a->term,
			 (unsigned long long)p->term);
		log_error("backup %s: %s", p->peer_name, why);
		conn_close(p->conn, why);
		return;
	}
	if (a->epoch <= p->acked || a->epoch > p->sent_epoch) {
		snprintf(why, sizeof(why),
			 "Ack for epoch %llu, expected %llu..%llu",
			 (unsigned long long)a->epoch,
			 (unsigned long long)p->acked + 1,
			 (unsigned long long)p->sent_epoch);
		log_error("backup %s: %s", p->peer_name, why);
		conn_close(p->conn, why);
		return;
	}
	for (e = p->acked + 1; e <= a->epoch; e++) {
		uint64_t t = *resumed_at(p, e);

		if (t) {
			sample(&p->stats.ack, now - t);
			p->stats.epochs++;
			if (!p->stats.first_ack_ns)
				p->stats.first_ack_ns = now;
			p->stats.last_ack_ns = now;
		}
	}
	p->acked = a->epoch;
	if (outbuf_release(&p->ob, a->epoch))
		send_heartbeat(p);
	if (p->state == P_DRAINING && p->final_epoch &&
	    p->acked >= p->final_epoch) {
		set_state(p, P_STOPPED,
			  "last epoch %llu acknowledged; all output released",
			  (unsigned long long)p->final_epoch);
		return;
	}
	pump(p);
}

static void refuse(struct primary *p, struct conn *c, int permanent,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct primary *p, struct conn *c, int permanent,
		   const char *fmt, ...)
{
	char reason[WIRE_REASON_MAX];
	Remora__Refuse r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	wire_refuse_init(&r, p->term, p->self->name, reason, permanent);
	conn_send_msg(c, WIRE_REFUSE, &r.base);
	conn_finish(c, reason);
}

/*
 * A primary of a higher term exists: this one stops its guest and releases
 * nothing more (its held output belongs to epochs the new primary has
 * either replayed from its replica or never seen).
 */
static void on_replaced(struct primary *p, const char *node, uint64_t term)
{
	size_t held;

	if (p->state == P_STOPPED)
		return;
	vm_pause(p->vm); /* first: nothing more is appended while counting */
	p->exit_code = EXIT_REPLACED;
	held = outbuf_held(&p->ob);
	outbuf_discard(&p->ob);
	events_emit("replaced", EV_S("by", *node ? node : ""),
		    EV_U("term", term), EV_U("own_term", p->term));
	events_emit("output", EV_S("action", "discarded"), EV_U("bytes", held),
		    EV_U("epoch", p->acked));
	set_state(p, P_STOPPED,
		  "replaced by %s in term %llu (this primary's term: %llu); "
		  "guest stopped, %zu bytes of held output discarded",
		  *node ? node : "another node", (unsigned long long)term,
		  (unsigned long long)p->term, held);
}

/* Another node says it is the primary of h->term, no later than ours. */
static void on_announced(struct primary *p, struct conn *c,
			 const Remora__Hello *h)
{
	log_warn("node %s says it is primary of term %llu; this node is "
		 "primary of term %llu: telling it",
		 h->node, (unsigned long long)h->term,
		 (unsigned long long)p->term);
	refuse(p, c, 0, "node %s is primary of term %llu", p->self->name,
	       (unsigned long long)p->term);
}

/*
 * Without a backup, this primary releases output as it comes: the policy
 * is continue, and it was protected before or was promoted. A fresh
 * primary keeps holding (epoch.h says why).
 */
static int releases_unprotected(const struct primary *p)
{
	return p->cfg->failover.on_backup_loss == CONFIG_BACKUP_LOSS_CONTINUE &&
	       (p->stats.epochs || p->promoted);
}

/* No backup any more (lost, or never there): what on_backup_loss says. */
static void lose_backup(struct primary *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lose_backup(struct primary *p, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (p->cfg->failover.on_backup_loss == CONFIG_BACKUP_LOSS_PAUSE) {
		if (vm_pause(p->vm) == 0)
			p->guest_paused = 1;
		set_state(p, P_WAITING,
			  "%s; guest paused and output held (%zu bytes) "
			  "until a backup attaches (on_backup_loss = pause)",
			  why, outbuf_held(&p->ob));
	} else if (releases_unprotected(p)) {
		size_t n = output_event(p, "released", outbuf_flush(&p->ob));

		set_state(p, P_DEGRADED,
			  "%s; unprotected: %zu bytes of held output released, "
			  "the guest runs on; a backup that attaches is synced",
			  why, n);
	} else {
		set_state(p, P_WAITING,
			  "%s; output held (%zu bytes) until a backup holds a "
			  "replica",
			  why, outbuf_held(&p->ob));
	}
}

/*
 * Copies and encoder output for a typical epoch, made outside any pause:
 * at start, before the guest runs, and again (a no-op then) when a backup
 * attaches. Only ever grows: cheap once done.
 */
static int reserve_slots(struct primary *p)
{
	unsigned i;
	int ret;

	for (i = 0; i < p->nslots; i++) {
		ret = staged_reserve(&p->slots[i].s, STAGE_PREALLOC_PAGES, 1);
		if (!ret)
			ret = staged_reserve_output(&p->slots[i].s,
						    STAGE_PREALLOC_PAGES);
		if (ret)
			return ret;
	}
	return 0;
}

static void on_hello(struct primary *p, struct conn *c, const Remora__Hello *h)
{
	const struct config *cfg = p->cfg;
	const struct config_node *peer = config_node(cfg, h->node);
	Remora__Hello me;

	if (h->protocol_version != WIRE_PROTOCOL_VERSION) {
		log_error("node %s speaks protocol %u, this primary %u; "
			  "run the same remora version on every node",
			  h->node, h->protocol_version, WIRE_PROTOCOL_VERSION);
		refuse(p, c, 1, "primary %s speaks protocol %u, not %u",
		       p->self->name, WIRE_PROTOCOL_VERSION,
		       h->protocol_version);
		return;
	}
	if (h->page_size != VM_PAGE_SIZE ||
	    h->guest_mem_bytes != cfg->workload.memory) {
		log_error("node %s expects %llu MiB of guest memory in %u-byte "
			  "pages, this guest has %llu MiB in %u-byte pages; "
			  "use the same remora.conf on every node",
			  h->node,
			  (unsigned long long)(h->guest_mem_bytes >> 20),
			  h->page_size,
			  (unsigned long long)(cfg->workload.memory >> 20),
			  VM_PAGE_SIZE);
		refuse(p, c, 1,
		       "primary %s runs a %llu MiB guest with %u-byte pages",
		       p->self->name,
		       (unsigned long long)(cfg->workload.memory >> 20),
		       VM_PAGE_SIZE);
		return;
	}
	if (strcmp(h->workload_id, cfg->cluster) != 0 || !peer ||
	    peer == p->self) {
		log_error("refusing %s: node '%s' of cluster '%s' is not a "
			  "node of cluster '%s' in %s",
			  conn_peer(c), h->node, h->workload_id, cfg->cluster,
			  cfg->path);
		refuse(p, c, 1, "primary %s: no node '%s' in cluster '%s'",
		       p->self->name, h->node, cfg->cluster);
		return;
	}
	/* Any node that knows a later term (a backup of the new primary,
	 * or the new primary itself): this primary has been replaced. */
	if (h->term > p->term) {
		on_replaced(
			p, h->role == REMORA__ROLE__ROLE_PRIMARY ? h->node : "",
			h->term);
		return;
	}
	if (h->role == REMORA__ROLE__ROLE_PRIMARY) {
		on_announced(p, c, h);
		return;
	}
	if (c != p->conn) {
		log_warn("refusing backup %s at %s: %s", h->node, conn_peer(c),
			 p->conn ? "a backup is already attached" : "stopping");
		refuse(p, c, 0, "primary %s %s", p->self->name,
		       p->conn ? "already has a backup" : "is stopping");
		return;
	}
	if (reserve_slots(p)) {
		log_error("backup %s at %s: out of memory for epoch copies "
			  "(%u x %u pages); not protecting",
			  h->node, conn_peer(c), p->nslots,
			  STAGE_PREALLOC_PAGES);
		refuse(p, c, 0, "primary %s is out of memory for epoch copies",
		       p->self->name);
		return;
	}
	wire_hello_init(&me, p->term, VM_PAGE_SIZE, cfg->workload.memory,
			cfg->cluster, p->self->name,
			REMORA__ROLE__ROLE_PRIMARY);
	if (conn_send_msg(c, WIRE_HELLO, &me.base)) {
		conn_close(c, "cannot send Hello");
		return;
	}
	snprintf(p->peer_name, sizeof(p->peer_name), "%s", h->node);
	p->hello_done = 1;
	p->conn_gen++;
	p->acked = p->sent_epoch = p->encode_epoch = p->next_epoch - 1;
	p->round = 0;
	p->round_n = p->round_pos = 0;
	p->sync_listed = 0;
	p->reset_pending = 1;
	p->sync_start_ns = p->last_progress_ns = now_ns();
	p->stats.sync_bytes = p->stats.sync_pages = 0;
	set_state(p, P_SYNCING,
		  "backup %s at %s attached; sending %llu MiB of guest memory",
		  h->node, conn_peer(c),
		  (unsigned long long)(cfg->workload.memory >> 20));
	if (p->guest_paused && vm_resume(p->vm) == 0) {
		p->guest_paused = 0;
		log_info("guest resumed: its output is held until the backup "
			 "holds a replica");
	}
	pump(p);
}

/* Extra connections: announcements, or backups to turn away. */
static void forget_extra(struct primary *p, struct conn *c)
{
	unsigned i;

	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i] == c)
			p->extra[i] = NULL;
}

static void on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct primary *p = opaque;
	char why[256];

	if (c != p->conn || !p->hello_done) {
		if (m->type == WIRE_HELLO) {
			on_hello(p, c, m->hello);
			return;
		}
		snprintf(why, sizeof(why), "%s before Hello",
			 wire_type_name(m->type));
		log_error("%s: %s", conn_peer(c), why);
		conn_close(c, why);
		return;
	}
	switch (m->type) {
	case WIRE_ACK:
		on_ack(p, m->ack);
		break;
	case WIRE_HEARTBEAT:
		break; /* liveness only: conn_last_rx_ms() moved */
	case WIRE_REFUSE:
		if (m->refuse->term > p->term) {
			on_replaced(p, m->refuse->primary, m->refuse->term);
			break;
		}
		snprintf(why, sizeof(why), "backup %s refused: %s",
			 p->peer_name, m->refuse->reason);
		log_error("%s", why);
		conn_close(c, why);
		break;
	default:
		snprintf(why, sizeof(why), "unexpected %s from backup",
			 wire_type_name(m->type));
		log_error("%s: %s", p->peer_name, why);
		conn_close(c, why);
		break;
	}
}

static void on_peer_lost(struct conn *c, const char *why, void *opaque)
{
	struct primary *p = opaque;
	int had_hello = p->hello_done;
	unsigned i;

	if (c != p->conn) {
		forget_extra(p, c);
		return;
	}
	p->conn = NULL;
	p->hello_done = 0;
	for (i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];

		/* An ENCODING slot is freed when its worker is done (its
		 * conn_gen is stale then); SENDING slots come back through
		 * their cancelled writes. */
		if (sl->st == SLOT_CAPTURED || sl->st == SLOT_ENCODED)
			sl->st = SLOT_FREE;
	}
	p->tick_pending = 0;
	p->conn_gen++;
	/* Unacknowledged epochs will never be: their output waits for the
	 * next backup's first checkpoint (or is released, unprotected). */
	outbuf_reopen(&p->ob);
	/* Epoch numbers go on from here: they are never reused. */
	p->acked = p->sent_epoch = p->encode_epoch = p->next_epoch - 1;
	if (!had_hello) {
		log_warn("connection from %s closed before a backup attached: "
			 "%s",
			 conn_peer(c), why);
		return;
	}
	if (p->state == P_DRAINING)
		set_state(p, P_STOPPED,
			  "backup %s lost while draining (%s); %zu bytes of "
			  "unacknowledged output discarded",
			  p->peer_name, why,
			  output_event(p, "discarded", outbuf_held(&p->ob)));
	else if (p->state == P_SYNCING || p->state == P_PROTECTED)
		lose_backup(p, "backup %s lost: %s", p->peer_name, why);
}

static void on_drain(struct conn *c, void *opaque)
{
	(void)c;
	pump(opaque);
}

static const struct conn_ops conn_ops = {
	.on_msg = on_msg,
	.on_close = on_peer_lost,
	.on_drain = on_drain,
};

/* A peer turned away at once: its frames are not read. */
static const struct conn_ops refused_ops = {0};

static void on_connection(uv_stream_t *server, int status)
{
	struct primary *p = server->data;
	int busy = p->conn != NULL || p->state == P_DRAINING ||
		   p->state == P_STOPPED;
	struct conn **slot = &p->conn;
	struct conn *c;
	unsigned i;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	/* A busy primary still reads a Hello: it may be a promoted node
	 * announcing a higher term. A few at a time, each for at most
	 * heartbeat_timeout (on_heartbeat). */
	for (i = 0; busy && i < EXTRA_MAX; i++)
		if (!p->extra[i])
			break;
	if (busy)
		slot = i < EXTRA_MAX ? &p->extra[i] : NULL;
	c = conn_new(p->loop, CONN_TCP, slot ? &conn_ops : &refused_ops, p,
		     SEND_QUEUE_MAX);
	if (!c) {
		log_error("out of memory accepting a connection");
		return;
	}
	if (uv_accept(server, conn_stream(c)) || conn_start(c)) {
		conn_close(c, "accept failed");
		return;
	}
	if (!slot) {
		log_warn("refusing %s: too many connections at once",
			 conn_peer(c));
		refuse(p, c, 0, "primary %s is busy", p->self->name);
		return;
	}
	*slot = c;
	if (!busy)
		log_info("connection from %s; waiting for its Hello",
			 conn_peer(c));
}

static void on_heartbeat(uv_timer_t *t)
{
	struct primary *p = t->data;
	uint64_t timeout_ms = p->cfg->failover.heartbeat_timeout_ns / 1000000;
	unsigned i;

	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i])
			conn_check_alive(p->extra[i], timeout_ms,
					 conn_peer(p->extra[i]));
	if (!p->conn)
		return;
	if (conn_check_alive(p->conn, timeout_ms,
			     p->hello_done ? p->peer_name : conn_peer(p->conn)))
		return;
	if (p->hello_done)
		send_heartbeat(p);
}

/* --- announcing a promotion ----------------------------------------------- */

static void announce_closed(struct conn *c, const char *why, void *opaque)
{
	struct announce *a = opaque;

	(void)c;
	(void)why;
	a->c = NULL;
}

static void announce_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct announce *a = opaque;
	struct primary *p = a->p;

	if (m->type == WIRE_REFUSE && m->refuse->term > p->term) {
		on_replaced(p, m->refuse->primary, m->refuse->term);
		return; /* enter_stopped() closed c */
	}
	if (m->type == WIRE_REFUSE)
		log_info("node %s heard that this node is primary of term %llu",
			 a->node->name, (unsigned long long)p->term);
	conn_close(c, "announced");
}

static const struct conn_ops announce_ops = {
	.on_msg = announce_msg,
	.on_close = announce_closed,
};

/* Connected: say this primary's term. */
static void announce_connected(struct conn *c, void *opaque)
{
	struct announce *a = opaque;
	struct primary *p = a->p;
	Remora__Hello h;

	wire_hello_init(&h, p->term, VM_PAGE_SIZE, p->cfg->workload.memory,
			p->cfg->cluster, p->self->name,
			REMORA__ROLE__ROLE_PRIMARY);
	if (conn_send_msg(c, WIRE_HELLO, &h.base))
		conn_close(c, "cannot send Hello");
}

/*
 * A promoted primary dials every other node now and then and says its term:
 * an old primary still running (a partition that healed, or one restarted
 * by mistake) hears it and stops. Nodes that do not listen cost a refused
 * connect; the attached backup is not dialled.
 */
static void on_announce(uv_timer_t *t)
{
	struct primary *p = t->data;
	uint64_t timeout_ms = p->cfg->failover.heartbeat_timeout_ns / 1000000;
	int i;

	for (i = 0; i < p->cfg->nnodes; i++) {
		struct announce *a = &p->announce[i];
		const struct config_node *n = &p->cfg->nodes[i];

		if (a->c) {
			conn_check_alive(a->c, timeout_ms, n->name);
			continue;
		}
		if (n == p->self ||
		    (p->hello_done && strcmp(n->name, p->peer_name) == 0))
			continue;
		a->p = p;
		a->node = n;
		a->c = conn_new(p->loop, CONN_TCP, &announce_ops, a, 1u << 16);
		if (!a->c)
			continue;
		/* A cut link drops SYNs: give up after heartbeat_timeout. */
		if (conn_connect(a->c, n->host, n->port, timeout_ms,
				 announce_connected))
			conn_close(a->c, "cannot connect");
	}
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct primary *p = t->data;

	if (p->state == P_DRAINING)
		set_state(p, P_STOPPED,
			  "no Ack for the last epoch %llu within "
			  "heartbeat_timeout; %zu bytes of unacknowledged "
			  "output discarded",
			  (unsigned long long)p->final_epoch,
			  output_event(p, "discarded", outbuf_held(&p->ob)));
}

static void begin_drain(struct primary *p, const char *why)
{
	if (p->state == P_PROTECTED) {
		set_state(p, P_DRAINING,
			  "%s; taking a last epoch and waiting for its Ack",
			  why);
		uv_timer_start(&p->drain_timer, on_drain_timeout,
			       p->cfg->failover.heartbeat_timeout_ns / 1000000,
			       0);
		pump(p);
	} else if (p->state == P_DEGRADED ||
		   (p->state == P_SYNCING && releases_unprotected(p))) {
		/* Unprotected (a syncing backup holds no replica yet): what
		 * the guest printed goes out, as it did until the sync. */
		vm_pause(p->vm);
		set_state(p, P_STOPPED,
			  "%s while unprotected; %zu bytes of "
			  "output released",
			  why,
			  output_event(p, "released", outbuf_flush(&p->ob)));
	} else if (p->state != P_DRAINING && p->state != P_STOPPED) {
		set_state(p, P_STOPPED,
			  "%s while %s; %zu bytes of unacknowledged output "
			  "discarded",
			  why, primary_state_name(p->state),
			  output_event(p, "discarded", outbuf_held(&p->ob)));
	}
}

void primary_signal(struct primary *p, int signum)
{
	if (p->state == P_STOPPED)
		return;
	if (p->stop_requested && p->state == P_DRAINING) {
		set_state(p, P_STOPPED, "second %s: not waiting any longer",
			  strsignal(signum));
		return;
	}
	p->stop_requested = 1;
	begin_drain(p, strsignal(signum));
}

static void on_signal(uv_signal_t *s, int signum)
{
	primary_signal(s->data, signum);
}

static void on_guest_async(uv_async_t *a)
{
	struct primary *p = a->data;
	struct vm_status st;

	p->stats.guest_end_ns = now_ns();
	vm_wait(p->vm, 0, &st);
	if (st.how == VM_EXITED) {
		p->exit_code = st.code;
		log_info("guest exited with code %d", st.code);
	} else {
		p->exit_code = st.how == VM_ABORTED   ? 134
			       : st.how == VM_CRASHED ? 139
						      : 70;
		log_error("guest stopped: %s", st.msg);
	}
	begin_drain(p, "the guest stopped");
}

/* vCPU thread. */
static void guest_stopped_cb(void *opaque)
{
	struct primary *p = opaque;

	uv_async_send(&p->guest_async);
}

static void console_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct primary *p = opaque;

	outbuf_append(&p->ob, buf, len);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void enter_stopped(struct primary *p)
{
	/* A paused guest cannot end by itself: no on_stop (and no
	 * uv_async_send) after guest_async is closed below. */
	vm_pause(p->vm);
	unsigned i;

	/* Replaced while a backup listens (it asked this primary to step
	 * down): its last word is how much output it released, so that the
	 * new primary repeats none of it. */
	if (p->conn && p->hello_done && p->exit_code == EXIT_REPLACED) {
		send_heartbeat(p);
		conn_finish(p->conn, "replaced");
	} else if (p->conn) {
		conn_close(p->conn, "primary stopped");
	}
	for (i = 0; i < EXTRA_MAX; i++)
		if (p->extra[i])
			conn_close(p->extra[i], "primary stopped");
	for (i = 0; i < CONFIG_NODES_MAX; i++)
		if (p->announce[i].c)
			conn_close(p->announce[i].c, "primary stopped");
	if (p->ctl) {
		ctl_close(p->ctl);
		p->ctl = NULL;
	}
	close_handle((uv_handle_t *)&p->announce_timer);
	close_handle((uv_handle_t *)&p->epoch_timer);
	close_handle((uv_handle_t *)&p->hb_timer);
	close_handle((uv_handle_t *)&p->drain_timer);
	close_handle((uv_handle_t *)&p->listener);
	if (!p->promoted) { /* its backup's watchers serve it */
		close_handle((uv_handle_t *)&p->sigterm);
		close_handle((uv_handle_t *)&p->sigint);
	}
	close_handle((uv_handle_t *)&p->guest_async);
}

int primary_start(struct primary *p, uv_loop_t *loop, const struct config *cfg,
		  const struct config_node *self, struct vm *vm,
		  const struct primary_opts *o)
{
	uint64_t interval_ms = cfg->replication.epoch_interval_ns / 1000000;
	uint64_t hb_ms = cfg->failover.heartbeat_interval_ns / 1000000;
	struct sockaddr_storage addr;
	unsigned i;
	int ret;

	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->cfg = cfg;
	p->self = self;
	p->vm = vm;
	p->term = o->term;
	p->promoted = o->promoted;
	p->next_epoch = 1;
	p->state = o->promoted ? P_DEGRADED : P_WAITING;
	p->nslots = cfg->replication.max_inflight_epochs + 1;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	p->resumed = calloc(p->nslots, sizeof(*p->resumed));
	p->bitmap = calloc(1, vm_bitmap_bytes(vm));
	p->carry = calloc(1, vm_bitmap_bytes(vm));
	p->round_pfns =
		malloc(vm_mem_size(vm) / VM_PAGE_SIZE * sizeof(*p->round_pfns));
	if (!p->slots || !p->resumed || !p->bitmap || !p->carry ||
	    !p->round_pfns)
		return -ENOMEM;
	for (i = 0; i < p->nslots; i++) {
		p->slots[i].p = p;
		ret = staged_init(&p->slots[i].s);
		if (ret)
			return ret;
	}
	ret = encoder_init(
		&p->enc, vm_mem_size(vm), cfg->replication.delta_cache,
		cfg->replication.delta,
		cfg->replication.compression == CONFIG_COMPRESSION_LZ4 ? 1 : 0,
		p->term);
	if (ret)
		return ret;
	/* Not for a promoted primary: it starts without a backup, and tens
	 * of MiB of page faults would lengthen the takeover (it reserves
	 * them when a backup attaches). */
	if (!p->promoted && (ret = reserve_slots(p)))
		return ret;
	ret = outbuf_init(&p->ob, o->sink_fd);
	if (ret)
		return ret;
	outbuf_set_offset(&p->ob, o->console_offset);
	if (copier_start(&p->copier))
		log_warn("no copy helper thread: pauses copy on one thread");

	ret = conn_addr(self->host, self->port, &addr);
	if (!ret)
		ret = uv_tcp_init(loop, &p->listener);
	if (!ret) {
		p->listener.data = p;
		ret = uv_tcp_bind(&p->listener, (struct sockaddr *)&addr, 0);
		if (!ret)
			ret = uv_listen((uv_stream_t *)&p->listener, 4,
					on_connection);
		if (ret)
			uv_close((uv_handle_t *)&p->listener, NULL);
	}
	if (ret) {
		log_error("cannot listen on %s:%u (replication_address of node "
			  "%s in %s): %s",
			  self->host, self->port, self->name, cfg->path,
			  uv_strerror(ret));
		return ret;
	}
	uv_timer_init(loop, &p->epoch_timer);
	uv_timer_init(loop, &p->hb_timer);
	uv_timer_init(loop, &p->drain_timer);
	uv_timer_init(loop, &p->announce_timer);
	p->epoch_timer.data = p->hb_timer.data = p->drain_timer.data = p;
	p->announce_timer.data = p;
	if (!p->promoted) {
		uv_signal_init(loop, &p->sigterm);
		uv_signal_init(loop, &p->sigint);
		p->sigterm.data = p->sigint.data = p;
		uv_signal_start(&p->sigterm, on_signal, SIGTERM);
		uv_signal_start(&p->sigint, on_signal, SIGINT);
	}
	uv_async_init(loop, &p->guest_async, on_guest_async);
	p->guest_async.data = p;
	uv_timer_start(&p->epoch_timer, primary_on_tick, interval_ms,
		       interval_ms);
	uv_timer_start(&p->hb_timer, on_heartbeat, hb_ms, hb_ms);
	if (p->promoted) {
		uint64_t ms = hb_ms < 50 ? 50 : hb_ms > 1000 ? 1000 : hb_ms;

		uv_timer_start(&p->announce_timer, on_announce, 0, ms);
	}
	log_info("listening on %s:%u for the backup; guest %s, %llu MiB; "
		 "epochs every %.1f ms",
		 self->host, self->port, cfg->workload.guest,
		 (unsigned long long)(cfg->workload.memory >> 20),
		 (double)cfg->replication.epoch_interval_ns / 1e6);
	return 0;
}

void primary_abort(struct primary *p, const char *why)
{
	if (p->state != P_STOPPED)
		set_state(p, P_STOPPED, "%s", why);
}

void primary_console_hooks(struct primary *p, struct vm_config *vc)
{
	vc->console = console_cb;
	vc->console_opaque = p;
	vc->on_stop = guest_stopped_cb;
	vc->stop_opaque = p;
}

void primary_finish(struct primary *p)
{
	unsigned i;

	for (i = 0; p->slots && i < p->nslots; i++)
		staged_destroy(&p->slots[i].s);
	free(p->slots);
	free(p->resumed);
	free(p->bitmap);
	free(p->carry);
	free(p->round_pfns);
	encoder_destroy(&p->enc);
	outbuf_destroy(&p->ob);
	copier_stop(&p->copier);
}

void primary_status(struct primary *p, struct node_status *st)
{
	static const double q[] = {0.5, 0.99};
	const struct primary_stats *s = &p->stats;
	double secs = (double)(s->last_ack_ns - s->first_ack_ns) / 1e9;
	double pause[2];

	snprintf(st->node, sizeof(st->node), "%s", p->self->name);
	snprintf(st->role, sizeof(st->role), "primary");
	snprintf(st->state, sizeof(st->state), "%s",
		 p->state == P_WAITING && p->guest_paused
			 ? "waiting-paused"
			 : primary_state_name(p->state));
	st->term = p->term;
	st->epoch = p->next_epoch - 1;
	st->acked = p->acked;
	st->held_bytes = outbuf_held(&p->ob);
	/* The recent pauses, sorted once: cheap on the loop thread. */
	percentiles(&s->pause, STATUS_SAMPLES, q, pause, 2);
	st->pause_us_p50 = pause[0];
	st->pause_us_p99 = pause[1];
	st->epochs_per_s = epochs_per_s(s);
	st->wire_mb_per_s = secs > 0 ? (double)(s->wire_bytes) / 1e6 / secs : 0;
	st->compression_ratio =
		s->wire_bytes ? (double)s->raw_bytes / (double)s->wire_bytes
			      : 0;
	snprintf(st->peer, sizeof(st->peer), "%s",
		 p->hello_done ? p->peer_name : "");
	st->since_last_frame_ms =
		p->conn ? (int64_t)(uv_now(p->loop) - conn_last_rx_ms(p->conn))
			: -1;
	st->heartbeat_timeout_ms =
		p->cfg->failover.heartbeat_timeout_ns / 1000000;
}
