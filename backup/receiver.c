/*
 * The backup's conversation state machine (see receiver.h):
 *
 *   HELLO --Hello ok--> IDLE --EpochBegin(last+1)--> EPOCH
 *   EPOCH --PageBatch / CpuState / DeviceState of that epoch--> EPOCH
 *   EPOCH --EpochCommit verified--> IDLE (Ack)
 *   Heartbeat anywhere after Hello; anything else closes.
 *
 * The first epoch of a connection must be a pre-copy epoch (it starts a
 * sync); its number is the primary's to choose, and each later one is
 * exactly one more. Pre-copy epochs stop at the first checkpoint.
 *
 * An epoch may carry at most epoch_frames_max() frames; its console
 * output is bounded by the replica (replica_add_console()). Past either, the
 * epoch is discarded and the connection closed, naming the bound.
 *
 * Terms: every message after Hello carries the primary's term, which may not
 * change on a connection. A primary whose term is below the highest one
 * heard of (on any connection) has been replaced: it is refused, with that
 * term, so that it learns it and stops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "receiver.h"
#include "vm.h"

/*
 * The frames one epoch may carry, EpochBegin to EpochCommit (Heartbeats
 * between them are not the epoch's): a PageBatch carries at least one page
 * and no page twice, so at most one per guest page; as many console
 * DeviceState frames (a primary sends one per 4 MiB, WIRE_CONSOLE_MAX, of
 * output bounded by the guest memory size; empty ones cost nothing else,
 * so only this stops an endless epoch of them); EpochBegin, CpuState and
 * EpochCommit.
 */
static uint64_t epoch_frames_max(uint64_t mem_size)
{
	return 2 * (mem_size / VM_PAGE_SIZE) + 3;
}

void receiver_reset(struct receiver *rx)
{
	replica_discard(rx->r);
	rx->st = RX_HELLO;
	rx->last = 0;
	rx->synced = 0;
}

/* The primary's report that its console stream is released up to
 * released (the link's, or another way's): only forward. 1 if it moved. */
static int advance_released(struct receiver *rx, uint64_t released)
{
	if (released <= rx->released)
		return 0;
	rx->released = released;
	replica_console_released(rx->r, released);
	return 1;
}

void receiver_lost(struct receiver *rx)
{
	replica_discard(rx->r);
	rx->st = RX_HELLO;
}

static void verdict(struct rx_result *out, enum rx_verdict v, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

static void verdict(struct rx_result *out, enum rx_verdict v, const char *fmt,
		    ...)
{
	va_list ap;

	out->verdict = v;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
}

/*
 * An epoch-scoped message must name the epoch in progress, and the epoch
 * must not pass its bound on frames.
 */
static int in_epoch(struct receiver *rx, const struct wire_msg *m,
		    uint64_t epoch, struct rx_result *out)
{
	uint64_t max = epoch_frames_max(rx->mem_size);

	if (rx->st != RX_EPOCH || epoch != rx->r->stg.epoch) {
		replica_discard(rx->r);
		if (rx->st == RX_EPOCH)
			verdict(out, RX_CLOSE,
				"%s for epoch %llu inside epoch %llu",
				wire_type_name(m->type),
				(unsigned long long)epoch,
				(unsigned long long)rx->r->stg.epoch);
		else
			verdict(out, RX_CLOSE,
				"%s for epoch %llu outside an "
				"epoch",
				wire_type_name(m->type),
				(unsigned long long)epoch);
		return 0;
	}
	if (++rx->frames > max) {
		replica_discard(rx->r);
		verdict(out, RX_CLOSE,
			"epoch %llu: more than %llu frames, the bound for "
			"%llu MiB of guest memory (a page batch and a console "
			"frame per guest page, EpochBegin, CpuState, "
			"EpochCommit); epoch discarded, replica stays at "
			"epoch %llu",
			(unsigned long long)epoch, (unsigned long long)max,
			(unsigned long long)(rx->mem_size >> 20),
			(unsigned long long)rx->r->epoch);
		return 0;
	}
	return 1;
}

static void on_hello(struct receiver *rx, const Remora__Hello *h,
		     struct rx_result *out)
{
	char err[256];

	if (h->protocol_version != WIRE_PROTOCOL_VERSION) {
		verdict(out, RX_FATAL,
			"primary %s speaks protocol %u, this backup %u; run "
			"the same remora version on both nodes",
			h->node, h->protocol_version, WIRE_PROTOCOL_VERSION);
		return;
	}
	if (h->page_size != VM_PAGE_SIZE ||
	    h->guest_mem_bytes != rx->mem_size) {
		verdict(out, RX_FATAL,
			"primary %s runs %llu MiB of guest memory in %u-byte "
			"pages, this backup holds %llu MiB in %u-byte pages; "
			"use the same remora.conf on both nodes",
			h->node, (unsigned long long)(h->guest_mem_bytes >> 20),
			h->page_size, (unsigned long long)(rx->mem_size >> 20),
			VM_PAGE_SIZE);
		return;
	}
	if (strcmp(h->workload_id, rx->cluster) ||
	    strcmp(h->node, rx->primary)) {
		verdict(out, RX_FATAL,
			"the peer is node '%s' of cluster '%s', expected "
			"primary '%s' of cluster '%s'",
			h->node, h->workload_id, rx->primary, rx->cluster);
		return;
	}
	if (h->role != REMORA__ROLE__ROLE_PRIMARY) {
		verdict(out, RX_CLOSE, "node %s answered as a backup", h->node);
		return;
	}
	if (h->term < rx->known_term) {
		out->refuse = 1;
		verdict(out, RX_CLOSE,
			"node %s is primary of term %llu, but %s has been "
			"primary since term %llu",
			h->node, (unsigned long long)h->term, rx->known_primary,
			(unsigned long long)rx->known_term);
		return;
	}
	if (replica_sync_begin(rx->r, err, sizeof(err))) {
		verdict(out, RX_CLOSE, "%s", err);
		return;
	}
	rx->term = rx->known_term = h->term;
	snprintf(rx->known_primary, sizeof(rx->known_primary), "%s", h->node);
	rx->st = RX_IDLE;
	out->verdict = RX_OK;
}

/* The sender's term of a message after Hello. */
static uint64_t msg_term(const struct wire_msg *m)
{
	switch (m->type) {
	case WIRE_EPOCH_BEGIN:
		return m->begin->term;
	case WIRE_PAGE_BATCH:
		return m->batch->term;
	case WIRE_CPU_STATE:
		return m->cpu->term;
	case WIRE_DEVICE_STATE:
		return m->device->term;
	case WIRE_EPOCH_COMMIT:
		return m->commit->term;
	case WIRE_ACK:
		return m->ack->term;
	case WIRE_HEARTBEAT:
		return m->heartbeat->term;
	case WIRE_HELLO:
		return m->hello->term;
	case WIRE_REFUSE:
		return m->refuse->term;
	}
	return 0;
}

static void on_begin(struct receiver *rx, const Remora__EpochBegin *b,
		     struct rx_result *out)
{
	char err[256];

	if (rx->st != RX_IDLE) {
		replica_discard(rx->r);
		verdict(out, RX_CLOSE,
			"EpochBegin %llu inside epoch %llu (no commit)",
			(unsigned long long)b->epoch,
			(unsigned long long)rx->r->stg.epoch);
		return;
	}
	if (rx->last && b->epoch != rx->last + 1) {
		verdict(out, RX_CLOSE, "epoch %llu after epoch %llu",
			(unsigned long long)b->epoch,
			(unsigned long long)rx->last);
		return;
	}
	if (!rx->last && !b->precopy) {
		verdict(out, RX_CLOSE,
			"first epoch %llu is not a pre-copy epoch (no sync)",
			(unsigned long long)b->epoch);
		return;
	}
	if (rx->synced && b->precopy) {
		verdict(out, RX_CLOSE,
			"pre-copy epoch %llu after the sync finished",
			(unsigned long long)b->epoch);
		return;
	}
	if (replica_epoch_begin(rx->r, b->epoch, b->precopy, err,
				sizeof(err))) {
		verdict(out, RX_CLOSE, "%s", err);
		return;
	}
	rx->st = RX_EPOCH;
	rx->frames = 1;
	out->verdict = RX_OK;
}

static void on_commit(struct receiver *rx, const Remora__EpochCommit *c,
		      struct rx_result *out)
{
	int precopy = rx->r->stg.precopy;
	char err[256];

	if (replica_commit(rx->r, c->epoch, c->pages, c->checksum, err,
			   sizeof(err))) {
		verdict(out, RX_CLOSE,
			"%s; discarded, replica stays at epoch "
			"%llu",
			err, (unsigned long long)rx->r->epoch);
		return;
	}
	rx->st = RX_IDLE;
	rx->last = c->epoch;
	if (!precopy && !rx->synced) {
		rx->synced = 1;
		out->synced_now = 1;
	}
	out->verdict = RX_ACK;
	out->epoch = c->epoch;
}

void receiver_on_msg(struct receiver *rx, const struct wire_msg *m,
		     struct rx_result *out)
{
	char err[384];

	memset(out, 0, sizeof(*out));
	if (m->type == WIRE_REFUSE) {
		const Remora__Refuse *f = m->refuse;

		if (f->term > rx->known_term) {
			rx->known_term = f->term;
			snprintf(rx->known_primary, sizeof(rx->known_primary),
				 "%s", f->primary);
		}
		replica_discard(rx->r);
		verdict(out, m->refuse->permanent ? RX_FATAL : RX_CLOSE,
			"primary refused: %s", m->refuse->reason);
		rx->st = RX_HELLO;
		return;
	}
	if (rx->st == RX_HELLO) {
		if (m->type == WIRE_HELLO)
			on_hello(rx, m->hello, out);
		else
			verdict(out, RX_CLOSE, "%s before Hello",
				wire_type_name(m->type));
		return;
	}
	if (msg_term(m) != rx->term) {
		replica_discard(rx->r);
		verdict(out, RX_CLOSE,
			"%s of term %llu from the primary of term %llu",
			wire_type_name(m->type),
			(unsigned long long)msg_term(m),
			(unsigned long long)rx->term);
		rx->st = RX_HELLO;
		return;
	}
	switch (m->type) {
	case WIRE_HEARTBEAT:
		advance_released(rx, m->heartbeat->released);
		break;
	case WIRE_EPOCH_BEGIN:
		on_begin(rx, m->begin, out);
		break;
	case WIRE_PAGE_BATCH:
		if (!in_epoch(rx, m, m->batch->epoch, out))
			break;
		if (replica_add_batch(rx->r, m->batch->batch.data,
				      m->batch->batch.len, err, sizeof(err))) {
			replica_discard(rx->r);
			verdict(out, RX_CLOSE, "%s; epoch discarded", err);
		}
		break;
	case WIRE_CPU_STATE:
		if (!in_epoch(rx, m, m->cpu->epoch, out))
			break;
		if (replica_set_state(rx->r, m->cpu->state.data,
				      m->cpu->state.len, err, sizeof(err))) {
			replica_discard(rx->r);
			verdict(out, RX_CLOSE, "%s; epoch discarded", err);
		}
		break;
	case WIRE_DEVICE_STATE:
		if (!in_epoch(rx, m, m->device->epoch, out))
			break;
		if (strcmp(m->device->device, "console") != 0) {
			replica_discard(rx->r);
			verdict(out, RX_CLOSE, "state of unknown device '%s'",
				m->device->device);
		} else if (replica_add_console(rx->r, m->device->offset,
					       m->device->data.data,
					       m->device->data.len, err,
					       sizeof(err))) {
			replica_discard(rx->r);
			verdict(out, RX_CLOSE,
				"%s; epoch discarded, replica stays at epoch "
				"%llu",
				err, (unsigned long long)rx->r->epoch);
		}
		break;
	case WIRE_EPOCH_COMMIT:
		if (!in_epoch(rx, m, m->commit->epoch, out))
			break;
		on_commit(rx, m->commit, out);
		break;
	default:
		replica_discard(rx->r);
		verdict(out, RX_CLOSE, "unexpected %s from the primary",
			wire_type_name(m->type));
		break;
	}
	if (out->verdict == RX_CLOSE)
		rx->st = RX_HELLO;
}

int receiver_released(struct receiver *rx, uint64_t term, uint64_t released)
{
	return term == rx->known_term && advance_released(rx, released);
}
