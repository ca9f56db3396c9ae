/*
 * The primary's lease in the arbiter (arbiter = etcd; docs/design.md,
 * "Arbiter"): kept alive on every heartbeat tick, and trusted only until
 * the instant the lease rule of arbiter.h gives (the last renewal's send
 * time plus its TTL, less a margin for the two clocks' rates). Past that
 * instant the core releases nothing and the guest is held; a renewal in
 * time lets it go on. A lease etcd says is gone is asked for again in this
 * primary's own term, which succeeds only if nobody took a later one;
 * otherwise this primary has been replaced.
 */
#include <string.h>

#include "arbiter.h"
#include "clock.h"
#include "epoch.h"
#include "events.h"
#include "lease.h"
#include "log.h"

void lease_apply_hold(struct primary *p)
{
	p->wl.ops->hold(p->wl.w,
			p->output_held || pcore_lease_lapsed(&p->core));
}

static void lapse(struct primary *p, const char *why)
{
	if (pcore_lease_lapsed(&p->core))
		return;
	pcore_on_lease_lapsed(&p->core, why);
	if (!pcore_lease_lapsed(&p->core))
		return; /* stopped meanwhile */
	events_emit("lease", EV_S("state", "lapsed"),
		    EV_U("term", p->core.term), EV_U("epoch", p->core.acked),
		    EV_S("why", why));
	lease_apply_hold(p);
}

void lease_check(struct primary *p)
{
	if (!p->lease.arb || p->core.lease != PL_HELD)
		return;
	if (now_ns() >= p->lease.until_ns)
		lapse(p, "not renewed in time");
}

static void on_timer(uv_timer_t *t)
{
	struct primary *p = t->data;

	lease_check(p);
	primary_run(p);
}

static void arm(struct primary *p)
{
	uint64_t now = now_ns();
	uint64_t ms = p->lease.until_ns > now
			      ? (p->lease.until_ns - now + 999999) / 1000000
			      : 0;

	uv_timer_start(&p->lease.timer, on_timer, ms, 0);
}

static void held(struct primary *p, const struct arbiter_result *r)
{
	int was_lapsed = pcore_lease_lapsed(&p->core);
	uint64_t until = arbiter_held_until(r);

	p->lease.error_logged = 0;
	if (until <= now_ns())
		return; /* an answer too late to trust: the timer decides */
	if (until > p->lease.until_ns)
		p->lease.until_ns = until;
	arm(p);
	pcore_on_lease_held(&p->core, r->sent_ns > p->lease.stall_ns);
	if (was_lapsed && !pcore_lease_lapsed(&p->core)) {
		events_emit("lease", EV_S("state", "held"),
			    EV_U("term", p->core.term),
			    EV_U("epoch", p->core.acked));
		lease_apply_hold(p);
	}
}

static void on_result(const struct arbiter_result *r, void *opaque)
{
	struct primary *p = opaque;

	if (p->core.state == PC_STOPPED)
		return;
	if (r->op == ARBITER_BUMP) {
		if (r->outcome == ARBITER_ERROR && !p->lease.error_logged) {
			log_warn("lease: moving the term on: %s; asking again",
				 r->why);
			p->lease.error_logged = 1;
		}
		pcore_on_bumped(&p->core, r->outcome == ARBITER_WON, r->term,
				r->holder);
		primary_run(p);
		return;
	}
	switch (r->outcome) {
	case ARBITER_WON:
		p->lease.asking = 0;
		log_info("lease taken again in term %llu: nobody took over",
			 (unsigned long long)r->term);
		held(p, r);
		break;
	case ARBITER_KEPT:
		held(p, r);
		break;
	case ARBITER_LOST:
		lapse(p, "etcd says the lease is gone");
		if (!p->lease.asking &&
		    arbiter_acquire(p->lease.arb, p->core.term) == 0)
			p->lease.asking = 1;
		break;
	case ARBITER_BUSY:
		p->lease.asking = 0;
		if (r->term > p->core.term)
			pcore_on_replaced(&p->core, r->holder, r->term);
		else
			log_warn("lease: %s holds it in term %llu; asking "
				 "again",
				 *r->holder ? r->holder : "nobody",
				 (unsigned long long)r->term);
		break;
	case ARBITER_ERROR:
		if (r->op == ARBITER_ACQUIRE)
			p->lease.asking = 0;
		if (!p->lease.error_logged)
			log_warn("lease: %s; output is released only until "
				 "the lease's last renewal runs out",
				 r->why);
		p->lease.error_logged = 1;
		break;
	case ARBITER_RELEASED:
		break;
	}
	primary_run(p);
}

void lease_start(struct primary *p, struct arbiter *arb, uint64_t until_ns)
{
	p->lease.arb = arb;
	p->lease.until_ns = until_ns;
	uv_timer_init(p->loop, &p->lease.timer);
	p->lease.timer.data = p;
	if (!arb)
		return;
	arbiter_set_cb(arb, on_result, p);
	arm(p);
}

void lease_stalled(struct primary *p)
{
	p->lease.stall_ns = now_ns();
}

void lease_tick(struct primary *p)
{
	if (!p->lease.arb || p->core.state == PC_STOPPED)
		return;
	if (p->lease.asking) /* gone: the acquire decides */
		return;
	arbiter_keepalive(p->lease.arb);
}

/*
 * The heartbeat after a release tells the backup how far output went; if
 * that report is lost with the link (a one-way stall, a dropped frame) and
 * this primary then dies, the backup would release it again. etcd keeps a
 * copy that the backup reads when it wins the next term.
 */
void lease_report(struct primary *p, uint64_t released)
{
	if (p->lease.arb && p->core.lease == PL_HELD)
		arbiter_report(p->lease.arb, p->core.term, released);
}

void lease_bump(struct primary *p, uint64_t term)
{
	if (!p->lease.arb || arbiter_bump(p->lease.arb, term))
		pcore_on_bumped(&p->core, 0, 0, "");
}

void lease_stop(struct primary *p)
{
	if (!uv_is_closing((uv_handle_t *)&p->lease.timer))
		uv_close((uv_handle_t *)&p->lease.timer, NULL);
}
