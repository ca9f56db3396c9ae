/*
 * Epoch encoding (see encoder.h). Frames are written back to back into the
 * staged epoch's output buffer; a page batch is compressed straight into
 * place behind room for its frame prefix, so batch bytes are written once
 * and sent from where they lie (hence small gaps between frames).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "bytes.h"
#include "codec.h"
#include "encoder.h"
#include "frame.h"
#include "hash.h"
#include "pack.h"
#include "prefault.h"
#include "wire.h"

int encoder_init(struct encoder *e, uint64_t mem_size, uint64_t cache_bytes,
		 int delta, int acceleration, uint64_t term)
{
	memset(e, 0, sizeof(*e));
	e->term = term;
	e->npages = mem_size / VM_PAGE_SIZE;
	e->delta = delta;
	e->acceleration = acceleration;
	e->nslots = cache_bytes / VM_PAGE_SIZE;
	if (e->nslots > e->npages)
		e->nslots = e->npages;
	if (!delta)
		e->nslots = 0;
	e->body_cap = pack_body_bound(ENCODER_BATCH_PAGES, VM_PAGE_SIZE);
	e->body = malloc(e->body_cap);
	e->page = malloc(VM_PAGE_SIZE);
	e->scratch = malloc(CODEC_BOUND(VM_PAGE_SIZE));
	if (!e->body || !e->page || !e->scratch)
		goto fail;
	if (e->nslots) {
		e->tags = calloc(e->nslots, sizeof(*e->tags));
		/* Made resident at start (encoder_prefault()); a promoted
		 * primary's only as it fills them. */
		e->cache = mmap(
			NULL, e->nslots * VM_PAGE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (!e->tags || e->cache == MAP_FAILED) {
			e->cache = NULL;
			goto fail;
		}
		/* Fewer page faults filling it (where THP is on madvise). */
		madvise(e->cache, e->nslots * VM_PAGE_SIZE, MADV_HUGEPAGE);
	}
	return 0;
fail:
	encoder_destroy(e);
	return -ENOMEM;
}

void encoder_destroy(struct encoder *e)
{
	if (e->cache)
		munmap(e->cache, e->nslots * VM_PAGE_SIZE);
	free(e->tags);
	free(e->body);
	free(e->page);
	free(e->scratch);
	memset(e, 0, sizeof(*e));
}

int encoder_prefault(struct encoder *e)
{
	return e->nslots ? prefault_shared(e->cache, e->nslots * VM_PAGE_SIZE)
			 : 0;
}

void encoder_reset(struct encoder *e)
{
	if (e->nslots)
		memset(e->tags, 0, e->nslots * sizeof(*e->tags));
}

/* Room for len more output bytes (staged_grow_output(): frames already
 * published may be in flight). */
static int out_reserve(struct staged *s, size_t len)
{
	size_t cap = s->out_cap ? s->out_cap : (1u << 20);

	if (s->out_len + len <= s->out_cap)
		return 0;
	while (cap < s->out_len + len)
		cap *= 2;
	return staged_grow_output(s, cap);
}

static int add_frame(struct staged *s, size_t off, size_t len)
{
	if (s->nframes == s->frame_cap) {
		size_t cap = s->frame_cap ? 2 * s->frame_cap : 64;
		size_t *o, *l;
		int ret = 0;

		/* The loop reads published entries under mu. */
		pthread_mutex_lock(&s->mu);
		o = realloc(s->frame_off, cap * sizeof(*o));
		if (o)
			s->frame_off = o;
		l = o ? realloc(s->frame_len, cap * sizeof(*l)) : NULL;
		if (l) {
			s->frame_len = l;
			s->frame_cap = cap;
		} else {
			ret = -ENOMEM;
		}
		pthread_mutex_unlock(&s->mu);
		if (ret)
			return ret;
	}
	s->frame_off[s->nframes] = off;
	s->frame_len[s->nframes] = len;
	s->nframes++;
	s->wire_bytes += len;
	return 0;
}

/* The frames made so far may be sent (encoder.h, notify). */
static void publish(const struct encoder *e, struct staged *s)
{
	pthread_mutex_lock(&s->mu);
	s->ready = s->nframes;
	pthread_mutex_unlock(&s->mu);
	if (e->notify)
		e->notify(e->notify_arg);
}

static int put_msg(struct staged *s, enum wire_type type,
		   const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	int ret;

	if (len > wire_type_max(type))
		return -E2BIG;
	ret = out_reserve(s, FRAME_HEADER_SIZE + len);
	if (ret)
		return ret;
	frame_put_header(s->out + s->out_len, (uint8_t)type, len);
	protobuf_c_message_pack(msg, s->out + s->out_len + FRAME_HEADER_SIZE);
	ret = add_frame(s, s->out_len, FRAME_HEADER_SIZE + len);
	s->out_len += FRAME_HEADER_SIZE + len;
	return ret;
}

/*
 * Opens a batch for at most left more pages: built aside to be compressed,
 * or, while LZ4 does not pay (or compression is off), in place in s->out,
 * behind room for the frame prefix and the batch header, to be stored.
 */
static int batch_open(struct encoder *e, struct staged *s,
		      struct pack_writer *w, size_t left)
{
	size_t at, cap = e->body_cap;
	int ret;

	if (e->acceleration && !e->lz4_skip)
		return pack_init(w, e->body, e->body_cap, VM_PAGE_SIZE);
	if (left < ENCODER_BATCH_PAGES)
		cap = pack_body_bound(left ? left : 1, VM_PAGE_SIZE);
	ret = out_reserve(s, WIRE_BATCH_PREFIX_MAX + pack_batch_bound(cap));
	if (ret)
		return ret;
	at = s->out_len + WIRE_BATCH_PREFIX_MAX + PACK_HEADER_SIZE;
	return pack_init(w, s->out + at, cap, VM_PAGE_SIZE);
}

/* After a batch LZ4 was tried on: back off if it did not pay. */
static void lz4_judge(struct encoder *e, size_t body_len, size_t stored_len)
{
	if (stored_len > body_len - body_len / 32) {
		e->lz4_backoff = e->lz4_backoff ? 2 * e->lz4_backoff : 1;
		if (e->lz4_backoff > ENCODER_LZ4_BACKOFF_MAX)
			e->lz4_backoff = ENCODER_LZ4_BACKOFF_MAX;
		e->lz4_skip = e->lz4_backoff;
	} else {
		e->lz4_backoff = 0;
	}
}

/* Finishes the batch in w (batch_open()) as a PageBatch frame. */
static int put_batch(struct encoder *e, struct staged *s, struct pack_writer *w)
{
	size_t bound = pack_batch_bound(w->len), plen, at;
	uint8_t prefix[WIRE_BATCH_PREFIX_MAX];
	int in_place = w->body != e->body;
	long blen;
	int ret;

	if (!in_place) {
		ret = out_reserve(s, WIRE_BATCH_PREFIX_MAX + bound);
		if (ret)
			return ret;
	}
	at = s->out_len + WIRE_BATCH_PREFIX_MAX;
	blen = pack_finish(w, in_place ? 0 : e->acceleration, s->out + at,
			   bound);
	if (blen < 0)
		return (int)blen;
	if (!in_place)
		lz4_judge(e, w->len, (size_t)blen - PACK_HEADER_SIZE);
	else if (e->lz4_skip)
		e->lz4_skip--;
	plen = wire_batch_prefix(prefix, s->epoch, e->term, (size_t)blen);
	if (plen == 0)
		return -E2BIG; /* cannot happen with ENCODER_BATCH_PAGES */
	memcpy(s->out + at - plen, prefix, plen);
	ret = add_frame(s, at - plen, plen + (size_t)blen);
	s->out_len = at + (size_t)blen;
	return ret;
}

int encoder_run(struct encoder *e, struct staged *s, const uint8_t *mem)
{
	Remora__EpochBegin begin = REMORA__EPOCH_BEGIN__INIT;
	Remora__CpuState cpu = REMORA__CPU_STATE__INIT;
	Remora__DeviceState dev = REMORA__DEVICE_STATE__INIT;
	Remora__EpochCommit commit = REMORA__EPOCH_COMMIT__INIT;
	XXH3_state_t *h = XXH3_createState();
	struct pack_writer w;
	uint8_t le[8];
	size_t i;
	int ret;

	if (!h)
		return s->err = -ENOMEM;
	XXH3_64bits_reset(h);
	begin.epoch = s->epoch;
	begin.term = e->term;
	begin.precopy = s->precopy;
	begin.dirty_pages = s->npages;
	ret = put_msg(s, WIRE_EPOCH_BEGIN, &begin.base);
	if (!ret)
		ret = batch_open(e, s, &w, s->npages);

	for (i = 0; !ret && i < s->npages; i++) {
		uint64_t pfn = s->pfns[i];
		const uint8_t *page, *old = NULL, *payload;
		uint64_t slot = 0;
		size_t len;
		int kind, k;

		if (s->precopy) {
			/* Read the live page once: encode, cache and hash
			 * must all see the same bytes. */
			memcpy(e->page, mem + pfn * VM_PAGE_SIZE, VM_PAGE_SIZE);
			page = e->page;
		} else {
			page = s->pages + i * VM_PAGE_SIZE;
		}
		if (e->nslots) {
			slot = pfn % e->nslots;
			if (e->tags[slot] == pfn + 1)
				old = e->cache + slot * VM_PAGE_SIZE;
		}
		kind = codec_encode_ref(old, page, VM_PAGE_SIZE, e->scratch,
					&len, &payload);
		if (kind < 0) {
			ret = kind;
			break;
		}
		s->raw_bytes += VM_PAGE_SIZE;
		if (kind == CODEC_UNCHANGED)
			continue;
		k = pack_add(&w, pfn, kind, payload, len);
		if (k == -ENOSPC) {
			ret = put_batch(e, s, &w);
			if (!ret)
				ret = batch_open(e, s, &w, s->npages - i);
			if (!ret)
				k = pack_add(&w, pfn, kind, payload, len);
		}
		if (!ret)
			ret = k;
		if (ret)
			break;
		if (w.count == ENCODER_BATCH_PAGES) {
			ret = put_batch(e, s, &w);
			if (!ret)
				publish(e, s);
			if (!ret)
				ret = batch_open(e, s, &w, s->npages - i - 1);
		}
		if (e->nslots) {
			memcpy(e->cache + slot * VM_PAGE_SIZE, page,
			       VM_PAGE_SIZE);
			e->tags[slot] = pfn + 1;
		}
		put_le64(le, pfn);
		hash_update(h, le, 8);
		hash_update(h, page, VM_PAGE_SIZE);
		s->sent_pages++;
	}
	if (!ret && w.count)
		ret = put_batch(e, s, &w);

	if (!ret && !s->precopy) {
		cpu.epoch = s->epoch;
		cpu.term = e->term;
		cpu.state.data = s->state;
		cpu.state.len = s->state_len;
		hash_update(h, s->state, s->state_len);
		ret = put_msg(s, WIRE_CPU_STATE, &cpu.base);
	}
	/* A checkpoint's console bytes (a pre-copy round has none), in
	 * frames of at most WIRE_CONSOLE_MAX; without any, one empty frame,
	 * so that the replica always knows where the stream stands (after a
	 * sync, the primary may have released output the backup never saw).
	 * The checksum covers the stream offset and the bytes: they are what
	 * a promotion releases. */
	if (!ret && !s->precopy) {
		put_le64(le, s->console_off);
		hash_update(h, le, sizeof(le));
		if (s->console_len)
			hash_update(h, s->console, s->console_len);
		i = 0;
		do {
			size_t n = s->console_len - i;

			dev.epoch = s->epoch;
			dev.term = e->term;
			dev.device = "console";
			dev.offset = s->console_off + i;
			dev.data.data = n ? s->console + i : NULL;
			dev.data.len =
				n < WIRE_CONSOLE_MAX ? n : WIRE_CONSOLE_MAX;
			ret = put_msg(s, WIRE_DEVICE_STATE, &dev.base);
			i += dev.data.len;
		} while (!ret && i < s->console_len);
	}
	if (!ret) {
		commit.epoch = s->epoch;
		commit.term = e->term;
		commit.pages = s->sent_pages;
		commit.checksum = XXH3_64bits_digest(h);
		ret = put_msg(s, WIRE_EPOCH_COMMIT, &commit.base);
	}
	XXH3_freeState(h);
	if (ret && e->nslots)
		encoder_reset(e); /* the cache may be ahead of the backup */
	return s->err = ret;
}
