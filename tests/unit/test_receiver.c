/*
 * Protocol tests for the backup (backup/receiver.h over backup/replica.h),
 * no KVM needed. A fake primary keeps a guest memory it mutates between
 * epochs and a mirror of what it has sent (the delta base the backup holds),
 * and has tests/support/fake_epochs.c build its epochs the way
 * primary/encoder.c does: EpochBegin, pack.c batches of codec_encode()d
 * pages, CpuState (a minimal valid state.c blob), the console as
 * DeviceState, and EpochCommit with the XXH3 checksum over (pfn as le64,
 * page) in order, then the blob. Every message is encoded with
 * wire_encode() and decoded with wire_decode() before receiver_on_msg()
 * sees it, so the tests take the daemon's path.
 *
 * The happy path checks Acks, synced_now and that the replica equals the
 * fake guest after every checkpoint (and that a resync leaves it alone until
 * its first checkpoint). Then each attack (a mutated epoch: corrupted batch,
 * wrong checksum or count, missing or bad vCPU state, duplicate pfn, console
 * gap, messages of another epoch, epochs out of order, ...) is run in three
 * places: a checkpoint after the sync, the first checkpoint of a resync, and
 * a pre-copy epoch of a resync. Each must end the connection with its own
 * reason and leave the replica byte for byte as it was (memory, epoch, vCPU
 * state, console), and a fresh connection must then sync correctly.
 *
 * The bounds on what a primary can make the backup hold (docs/wire.md,
 * "What the backup holds"): console output streamed inside one epoch, a
 * console tail never reported released, an epoch padded with empty frames
 * and one with more pages than the guest are each refused naming the bound,
 * with the replica untouched and no more held than the bound; a primary
 * that reports its releases runs on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "fake_epochs.h"
#include "frame.h"
#include "pack.h"
#include "receiver.h"
#include "prefault.h"
#include "replica.h"
#include "state.h"
#include "testutil.h"
#include "vm.h"
#include "wire.h"

#define PS	VM_PAGE_SIZE
#define MEM	(8u << 20)
#define NPAGES	(MEM / PS)
#define BATCH	16u /* pages per batch: every epoch has several */
#define PRECOPY 64u /* pages per pre-copy epoch */
#define TERM	3u
#define CLUSTER "wl-test"
#define PRIMARY "node-a"
/* Our blobs are about 1 KiB; state.c's are bigger, VM_STATE_MAX at most. */
#define STATE_CAP FAKE_STATE_MAX
#define MAXB	  256u /* batches per epoch */

/* ---- helpers ------------------------------------------------------------ */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- frames ------------------------------------------------------------- */

struct frame {
	enum wire_type type;
	uint8_t *p; /* the whole frame, header included */
	size_t len;
};

static struct frame enc(enum wire_type type, const ProtobufCMessage *msg)
{
	struct frame f = {.type = type};

	assert_int_equal(wire_encode(type, msg, &f.p, &f.len), 0);
	return f;
}

static struct frame f_hello(uint32_t version, uint32_t page_size, uint64_t mem,
			    const char *cluster, const char *node)
{
	Remora__Hello h = REMORA__HELLO__INIT;

	h.protocol_version = version;
	h.term = TERM;
	h.page_size = page_size;
	h.guest_mem_bytes = mem;
	h.workload_id = (char *)cluster;
	h.node = (char *)node;
	h.role = REMORA__ROLE__ROLE_PRIMARY;
	return enc(WIRE_HELLO, &h.base);
}

static struct frame f_good_hello(void)
{
	return f_hello(WIRE_PROTOCOL_VERSION, PS, MEM, CLUSTER, PRIMARY);
}

static struct frame f_begin(uint64_t epoch, int precopy)
{
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;

	b.epoch = epoch;
	b.term = TERM;
	b.precopy = precopy;
	return enc(WIRE_EPOCH_BEGIN, &b.base);
}

static struct frame f_batch(uint64_t epoch, const uint8_t *batch, size_t len)
{
	Remora__PageBatch b = REMORA__PAGE_BATCH__INIT;

	b.epoch = epoch;
	b.term = TERM;
	b.batch.data = (uint8_t *)batch;
	b.batch.len = len;
	return enc(WIRE_PAGE_BATCH, &b.base);
}

static struct frame f_cpu(uint64_t epoch, const uint8_t *blob, size_t len)
{
	Remora__CpuState c = REMORA__CPU_STATE__INIT;

	c.epoch = epoch;
	c.term = TERM;
	c.state.data = (uint8_t *)blob;
	c.state.len = len;
	return enc(WIRE_CPU_STATE, &c.base);
}

static struct frame f_dev(uint64_t epoch, const char *device, uint64_t offset,
			  const void *data, size_t len)
{
	Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;

	d.epoch = epoch;
	d.term = TERM;
	d.device = (char *)device;
	d.offset = offset;
	d.data.data = (uint8_t *)data;
	d.data.len = len;
	return enc(WIRE_DEVICE_STATE, &d.base);
}

static struct frame f_commit(uint64_t epoch, uint64_t pages, uint64_t sum)
{
	Remora__EpochCommit c = REMORA__EPOCH_COMMIT__INIT;

	c.epoch = epoch;
	c.term = TERM;
	c.pages = pages;
	c.checksum = sum;
	return enc(WIRE_EPOCH_COMMIT, &c.base);
}

static struct frame f_heartbeat(uint64_t last)
{
	Remora__Heartbeat h = REMORA__HEARTBEAT__INIT;

	h.term = TERM;
	h.last_epoch = last;
	return enc(WIRE_HEARTBEAT, &h.base);
}

static struct frame f_ack(uint64_t epoch)
{
	Remora__Ack a = REMORA__ACK__INIT;

	a.epoch = epoch;
	a.term = TERM;
	return enc(WIRE_ACK, &a.base);
}

static struct frame f_refuse(const char *reason)
{
	Remora__Refuse r = REMORA__REFUSE__INIT;

	r.term = TERM;
	r.reason = (char *)reason;
	return enc(WIRE_REFUSE, &r.base);
}

/* ---- the fake primary --------------------------------------------------- */

/* One epoch as frames, plus what the tests need to forge variants of it. */
struct epoch {
	uint64_t epoch;
	int precopy;
	struct frame *f;
	size_t n, cap;
	size_t nbatches;
	uint8_t *braw[MAXB]; /* each batch's bytes */
	size_t blen[MAXB];
	uint64_t bpfn[MAXB]; /* each batch's first pfn */
	uint64_t pages, checksum;
	uint8_t state[STATE_CAP];
	size_t state_len;
	char line[128];	     /* the usual console output */
	const char *console; /* line, or epoch_opts.big */
	size_t console_len;
	uint64_t console_off;
};

struct fake {
	struct rng rng;
	uint8_t *mem;	 /* the guest */
	uint8_t *mirror; /* what the backup holds: the delta base */
	uint8_t *dirty;	 /* per pfn: to be sent */
	uint64_t epoch;	 /* last epoch built */
	uint64_t console_off;
	uint64_t *pend; /* pfns the last epoch built covered */
	size_t npend;
	struct fake_page *list; /* the pages of the epoch being built */
	uint8_t *body, *out;	/* for batches the tests forge */
	size_t body_cap, out_cap;
};

static void ep_push(struct epoch *e, struct frame f)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 32;
		e->f = realloc(e->f, e->cap * sizeof(*e->f));
		assert_non_null(e->f);
	}
	e->f[e->n++] = f;
}

static void ep_insert(struct epoch *e, size_t at, struct frame f)
{
	assert_true(at <= e->n);
	ep_push(e, f);
	memmove(&e->f[at + 1], &e->f[at], (e->n - 1 - at) * sizeof(*e->f));
	e->f[at] = f;
}

static void ep_remove(struct epoch *e, size_t at)
{
	assert_true(at < e->n);
	free(e->f[at].p);
	memmove(&e->f[at], &e->f[at + 1], (e->n - 1 - at) * sizeof(*e->f));
	e->n--;
}

static void ep_replace(struct epoch *e, size_t at, struct frame f)
{
	assert_true(at < e->n);
	free(e->f[at].p);
	e->f[at] = f;
}

/* Index of the nth (from 0) frame of a type; fails the test if none. */
static size_t ep_find(const struct epoch *e, enum wire_type type, size_t nth)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->f[i].type == type && nth-- == 0)
			return i;
	fail_msg("epoch %llu has no %s number %zu",
		 (unsigned long long)e->epoch, wire_type_name(type), nth);
	return 0;
}

static void ep_free(struct epoch *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->f[i].p);
	for (size_t i = 0; i < e->nbatches; i++)
		free(e->braw[i]);
	free(e->f);
	memset(e, 0, sizeof(*e));
}

/* Rewrites one page of the guest, in one of the ways that give each kind. */
static void touch_page(struct fake *fk, uint64_t pfn)
{
	uint8_t *p = fk->mem + pfn * PS;
	char line[64];
	size_t n, k;

	switch (rnd_below(&fk->rng, 5)) {
	case 0: /* ZERO */
		memset(p, 0, PS);
		break;
	case 1: /* a few bytes: DELTA */
		n = 1 + rnd_below(&fk->rng, 8);
		for (k = 0; k < n; k++)
			p[rnd_below(&fk->rng, PS)] ^= rnd_nz(&fk->rng);
		break;
	case 2: /* noise: RAW */
		fill_random(&fk->rng, p, PS);
		break;
	case 3: /* text: compresses well */
		n = (size_t)snprintf(line, sizeof(line), "pfn %llu says %llu\n",
				     (unsigned long long)pfn,
				     (unsigned long long)rnd(&fk->rng) % 1000);
		for (k = 0; k < PS; k++)
			p[k] = (uint8_t)line[k % n];
		break;
	default: /* written with what it held: dirty, unchanged */
		break;
	}
	fk->dirty[pfn] = 1;
}

static void fake_touch(struct fake *fk, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		touch_page(fk, rnd_below(&fk->rng, NPAGES));
}

static void fake_init(struct fake *fk, uint64_t seed)
{
	memset(fk, 0, sizeof(*fk));
	fk->rng.s = seed;
	fk->mem = calloc(1, MEM);
	fk->mirror = calloc(1, MEM);
	fk->dirty = calloc(1, NPAGES);
	fk->pend = calloc(NPAGES, sizeof(*fk->pend));
	fk->list = calloc(NPAGES, sizeof(*fk->list));
	fk->body_cap = pack_body_bound(BATCH, PS);
	fk->body = malloc(fk->body_cap);
	fk->out_cap = pack_batch_bound(fk->body_cap);
	fk->out = malloc(fk->out_cap);
	assert_true(fk->mem && fk->mirror && fk->dirty && fk->pend &&
		    fk->list && fk->body && fk->out);
	fake_touch(fk, 300);
}

static void fake_free(struct fake *fk)
{
	free(fk->mem);
	free(fk->mirror);
	free(fk->dirty);
	free(fk->pend);
	free(fk->list);
	free(fk->body);
	free(fk->out);
}

/*
 * A new connection: the backup builds its new replica from zero pages, so
 * that is the delta base, and every page is to be sent. The first epoch's
 * number is the primary's choice.
 */
static void fake_new_sync(struct fake *fk, uint64_t first_epoch)
{
	memset(fk->mirror, 0, MEM);
	memset(fk->dirty, 1, NPAGES);
	fk->epoch = first_epoch - 1;
}

struct epoch_opts {
	int precopy;
	int stored;  /* batches stored, not LZ4-compressed */
	int console; /* checkpoint: some console output, in two frames */
	/* checkpoint: this console output instead (big_len bytes) */
	const char *big;
	size_t big_len;
};

/* Cuts a buffer of whole frames into e's list, keeping each batch's bytes. */
static void ep_split(struct epoch *e, const struct fake_buf *b)
{
	size_t off = 0, at, len;
	uint8_t type;
	int ret;

	while ((at = off,
		ret = fake_frames_next(b->p, b->len, &off, &type, &len)) == 1) {
		struct frame f = {.type = type, .p = malloc(len), .len = len};

		assert_non_null(f.p);
		memcpy(f.p, b->p + at, len);
		if (type == WIRE_PAGE_BATCH) {
			struct wire_msg m;
			char err[256];

			if (wire_decode(type, f.p + FRAME_HEADER_SIZE,
					len - FRAME_HEADER_SIZE, &m, err,
					sizeof(err)))
				fail_msg("our PageBatch: %s", err);
			assert_true(e->nbatches < MAXB);
			e->blen[e->nbatches] = m.batch->batch.len;
			e->braw[e->nbatches] = malloc(m.batch->batch.len);
			assert_non_null(e->braw[e->nbatches]);
			memcpy(e->braw[e->nbatches], m.batch->batch.data,
			       m.batch->batch.len);
			e->nbatches++;
			wire_msg_free(&m);
		}
		ep_push(e, f);
	}
	assert_int_equal(ret, 0);
}

/*
 * Builds the next epoch from the dirty pages: a pre-copy epoch takes at most
 * PRECOPY pages, a checkpoint all of them. Pages the backup already holds
 * are not sent (but count as covered). Nothing changes in the fake until
 * fake_acked().
 */
static void fake_epoch(struct fake *fk, struct epoch *e,
		       const struct epoch_opts *o)
{
	struct fake_epoch_spec spec = {
		.term = TERM,
		.precopy = o->precopy,
		.page_size = PS,
		.pages = fk->list,
		.batch_pages = BATCH,
		.stored = o->stored,
		.console_frames = 2, /* the console attacks need two */
	};
	struct fake_buf b = {0};
	size_t n = 0;

	memset(e, 0, sizeof(*e));
	e->epoch = ++fk->epoch;
	e->precopy = o->precopy;
	fk->npend = 0;
	for (uint64_t pfn = 0; pfn < NPAGES; pfn++) {
		const uint8_t *page = fk->mem + pfn * PS;
		const uint8_t *old = fk->mirror + pfn * PS;

		if (!fk->dirty[pfn])
			continue;
		if (o->precopy && n == PRECOPY)
			break;
		fk->pend[fk->npend++] = pfn;
		if (!memcmp(old, page, PS))
			continue; /* the codec's UNCHANGED: not sent */
		if (n % BATCH == 0)
			e->bpfn[n / BATCH] = pfn;
		fk->list[n++] = (struct fake_page){pfn, page, old};
	}
	e->pages = n;
	spec.epoch = e->epoch;
	spec.npages = n;
	if (!o->precopy) {
		e->state_len =
			fake_state_blob(e->state, e->epoch, FAKE_STATE_OK);
		spec.state = e->state;
		spec.state_len = e->state_len;
	}
	if (!o->precopy && o->big) {
		e->console = o->big;
		e->console_len = o->big_len;
	} else if (!o->precopy && o->console) {
		e->console = e->line;
		e->console_len = (size_t)snprintf(e->line, sizeof(e->line),
						  "guest: epoch %llu done\n",
						  (unsigned long long)e->epoch);
	}
	if (!o->precopy) { /* every checkpoint places the stream */
		e->console_off = fk->console_off;
		spec.console = e->console;
		spec.console_len = e->console_len;
		spec.console_off = e->console_off;
	}
	assert_int_equal(fake_epochs_build(&spec, &b, &e->checksum), 0);
	ep_split(e, &b);
	fake_buf_free(&b);
}

/* The backup acknowledged e: its pages are now the delta base. */
static void fake_acked(struct fake *fk, const struct epoch *e)
{
	for (size_t i = 0; i < fk->npend; i++) {
		uint64_t pfn = fk->pend[i];

		memcpy(fk->mirror + pfn * PS, fk->mem + pfn * PS, PS);
		fk->dirty[pfn] = 0;
	}
	fk->console_off += e->console_len;
}

/* ---- the backup side ---------------------------------------------------- */

struct env {
	struct replica r;
	struct receiver rx;
	struct fake fk;
};

static struct env *env_new(uint64_t seed)
{
	struct env *v = calloc(1, sizeof(*v));
	char err[256];

	assert_non_null(v);
	if (replica_init(&v->r, MEM, 0, err, sizeof(err)))
		fail_msg("replica_init: %s", err);
	v->rx.r = &v->r;
	v->rx.mem_size = MEM;
	v->rx.cluster = CLUSTER;
	v->rx.primary = PRIMARY;
	receiver_reset(&v->rx);
	fake_init(&v->fk, seed);
	return v;
}

static void env_free(struct env *v)
{
	replica_destroy(&v->r);
	fake_free(&v->fk);
	free(v);
}

static const char *verdict_name(enum rx_verdict v)
{
	switch (v) {
	case RX_OK:
		return "OK";
	case RX_ACK:
		return "ACK";
	case RX_CLOSE:
		return "CLOSE";
	case RX_FATAL:
		return "FATAL";
	}
	return "?";
}

/* Decodes f as the daemon does and hands it to the receiver. */
static void feed(struct env *v, const struct frame *f, struct rx_result *out)
{
	struct wire_msg m;
	char err[256] = "";

	assert_true(f->len >= FRAME_HEADER_SIZE);
	assert_int_equal(get_le32(f->p), f->len - FRAME_HEADER_SIZE);
	assert_int_equal(f->p[4], f->type);
	if (wire_decode(f->p[4], f->p + FRAME_HEADER_SIZE,
			f->len - FRAME_HEADER_SIZE, &m, err, sizeof(err)))
		fail_msg("wire_decode(%s): %s", wire_type_name(f->type), err);
	receiver_on_msg(&v->rx, &m, out);
	wire_msg_free(&m);
}

/* Feeds f and checks the verdict and, when want is set, the reason. */
static void expect(struct env *v, const struct frame *f,
		   enum rx_verdict verdict, const char *want)
{
	struct rx_result out;

	feed(v, f, &out);
	if (out.verdict != verdict || (want && !strstr(out.why, want)))
		fail_msg("%s: verdict %s (\"%s\"), want %s with \"%s\"",
			 wire_type_name(f->type), verdict_name(out.verdict),
			 out.why, verdict_name(verdict), want ? want : "");
}

/* The same for a frame made for the occasion, which it frees. */
static void feed_expect(struct env *v, struct frame f, enum rx_verdict verdict,
			const char *want)
{
	expect(v, &f, verdict, want);
	free(f.p);
}

/* All frames of e but the last are taken silently, the last is acked. */
static void deliver(struct env *v, const struct epoch *e, int synced_now)
{
	struct rx_result out;

	for (size_t i = 0; i + 1 < e->n; i++) {
		feed(v, &e->f[i], &out);
		if (out.verdict != RX_OK)
			fail_msg("epoch %llu frame %zu (%s): verdict %s (%s)",
				 (unsigned long long)e->epoch, i,
				 wire_type_name(e->f[i].type),
				 verdict_name(out.verdict), out.why);
	}
	feed(v, &e->f[e->n - 1], &out);
	if (out.verdict != RX_ACK)
		fail_msg("epoch %llu commit: verdict %s (%s)",
			 (unsigned long long)e->epoch,
			 verdict_name(out.verdict), out.why);
	assert_int_equal(out.epoch, e->epoch);
	assert_int_equal(out.synced_now, synced_now);
}

/* The replica is the fake guest at checkpoint e. */
static void assert_replica(const struct env *v, const struct epoch *e)
{
	assert_int_equal(v->r.epoch, e->epoch);
	for (uint64_t pfn = 0; pfn < NPAGES; pfn++)
		if (memcmp(v->r.mem + pfn * PS, v->fk.mem + pfn * PS, PS))
			fail_msg("epoch %llu: replica page %llu differs from "
				 "the primary's",
				 (unsigned long long)e->epoch,
				 (unsigned long long)pfn);
	assert_int_equal(v->r.state_len, e->state_len);
	assert_memory_equal(v->r.state, e->state, e->state_len);
	/* The console output held for a promotion ends with e's. */
	assert_int_equal(replica_console_end(&v->r), v->fk.console_off);
	if (e->console_len) {
		assert_true(v->r.tail_len >= e->console_len);
		assert_memory_equal(v->r.tail + v->r.tail_len - e->console_len,
				    e->console, e->console_len);
		assert_int_equal(replica_console_end(&v->r) - e->console_len,
				 e->console_off);
	}
}

/* Delivers checkpoint e (perhaps altered by the caller), checks the
 * replica against it and frees it. */
static void apply_checkpoint(struct env *v, struct epoch *e, int synced_now)
{
	deliver(v, e, synced_now);
	fake_acked(&v->fk, e);
	assert_replica(v, e);
	ep_free(e);
}

/* Builds, delivers and checks one epoch. */
static void run_epoch(struct env *v, const struct epoch_opts *o, int synced_now)
{
	struct epoch e;

	fake_epoch(&v->fk, &e, o);
	deliver(v, &e, synced_now);
	fake_acked(&v->fk, &e);
	if (!o->precopy)
		assert_replica(v, &e);
	ep_free(&e);
}

/* A new connection: our Hello is out, the primary's arrives. */
static void new_connection(struct env *v, uint64_t first_epoch)
{
	receiver_reset(&v->rx);
	feed_expect(v, f_good_hello(), RX_OK, NULL);
	fake_new_sync(&v->fk, first_epoch);
}

static const struct epoch_opts precopy = {.precopy = 1};
static const struct epoch_opts checkpoint = {.console = 1};

static void full_sync(struct env *v, uint64_t first_epoch, int nprecopy,
		      int ncheckpoints)
{
	new_connection(v, first_epoch);
	for (int i = 0; i < nprecopy; i++) {
		run_epoch(v, &precopy, 0);
		fake_touch(&v->fk, 20);
	}
	for (int i = 0; i < ncheckpoints; i++) {
		run_epoch(v, &checkpoint, i == 0);
		fake_touch(&v->fk, 40);
	}
}

/* A copy of everything a failed epoch must leave alone. */
struct snap {
	uint8_t *mem;
	uint64_t epoch;
	uint8_t state[VM_STATE_MAX];
	size_t state_len;
	uint8_t *tail;
	size_t tail_len;
	uint64_t tail_off;
};

static void snap_take(struct snap *s, const struct replica *r)
{
	s->mem = malloc(MEM);
	assert_non_null(s->mem);
	memcpy(s->mem, r->mem, MEM);
	s->epoch = r->epoch;
	memcpy(s->state, r->state, r->state_len);
	s->state_len = r->state_len;
	s->tail = malloc(r->tail_len + 1);
	assert_non_null(s->tail);
	if (r->tail_len)
		memcpy(s->tail, r->tail, r->tail_len);
	s->tail_len = r->tail_len;
	s->tail_off = r->tail_off;
}

static void assert_untouched(const struct snap *s, const struct replica *r)
{
	assert_int_equal(r->epoch, s->epoch);
	for (uint64_t pfn = 0; pfn < NPAGES; pfn++)
		if (memcmp(r->mem + pfn * PS, s->mem + pfn * PS, PS))
			fail_msg("replica page %llu changed (replica at epoch "
				 "%llu)",
				 (unsigned long long)pfn,
				 (unsigned long long)r->epoch);
	assert_int_equal(r->state_len, s->state_len);
	assert_memory_equal(r->state, s->state, s->state_len);
	assert_int_equal(r->tail_len, s->tail_len);
	if (s->tail_len)
		assert_memory_equal(r->tail, s->tail, s->tail_len);
	assert_int_equal(r->tail_off, s->tail_off);
}

static void snap_free(struct snap *s)
{
	free(s->mem);
	free(s->tail);
}

/* After a close, the connection is dead until the next Hello. */
static void assert_needs_hello(struct env *v)
{
	feed_expect(v, f_heartbeat(0), RX_CLOSE, "Heartbeat before Hello");
}

/* ---- the happy path ----------------------------------------------------- */

static void test_state_blob_is_valid(void **state)
{
	static const struct {
		enum fake_state_fault fault;
		const char *why;
	} c[] = {
		{FAKE_STATE_OK, NULL},
		{FAKE_STATE_CR3, "CR3 0x3000"},
		{FAKE_STATE_MAGIC, "bad magic"},
		{FAKE_STATE_LEN, "length"},
		{FAKE_STATE_NO_CLOCK, "clock missing"},
	};
	uint8_t b[STATE_CAP];
	struct vm_state_view view;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t len = fake_state_blob(b, 7, c[i].fault);
		int ret = vm_state_parse(b, len, &view, err, sizeof(err));

		if (!c[i].why) {
			if (ret)
				fail_msg("our blob does not parse: %s", err);
		} else {
			assert_int_not_equal(ret, 0);
			if (!strstr(err, c[i].why))
				fail_msg("fault %d: \"%s\", want \"%s\"",
					 c[i].fault, err, c[i].why);
		}
	}
}

static void test_happy_path(void **state)
{
	struct env *v = env_new(1);
	struct snap s;
	struct epoch e;

	(void)state;
	/* A fresh backup: zero memory, no epoch. */
	snap_take(&s, &v->r);
	new_connection(v, 1);
	for (int i = 0; i < 3; i++) {
		run_epoch(v, &precopy, 0);
		/* Pre-copy epochs build the next replica, not this one. */
		assert_untouched(&s, &v->r);
		feed_expect(v, f_heartbeat(v->fk.epoch), RX_OK, NULL);
		fake_touch(&v->fk, 20);
	}
	snap_free(&s);

	/* The first checkpoint makes the replica consistent: synced_now. */
	run_epoch(v, &checkpoint, 1);
	for (int i = 0; i < 5; i++) {
		fake_touch(&v->fk, 40);
		/* Checkpoints with and without console output, LZ4 or not. */
		run_epoch(v,
			  &(struct epoch_opts){.console = i % 2,
					       .stored = i == 3},
			  0);
	}

	/* A heartbeat inside an epoch is fine too. */
	fake_touch(&v->fk, 40);
	fake_epoch(&v->fk, &e, &checkpoint);
	ep_insert(&e, 2, f_heartbeat(e.epoch - 1));
	apply_checkpoint(v, &e, 0);

	/*
	 * A new connection resyncs, numbering its epochs from wherever it
	 * likes; the replica stays as it was until its first checkpoint.
	 */
	fake_touch(&v->fk, 200);
	snap_take(&s, &v->r);
	new_connection(v, 100);
	for (int i = 0; i < 4; i++) {
		run_epoch(v, &precopy, 0);
		assert_untouched(&s, &v->r);
		fake_touch(&v->fk, 20);
	}
	snap_free(&s);
	run_epoch(v, &checkpoint, 1);
	assert_int_equal(v->r.epoch, 104);
	fake_touch(&v->fk, 40);
	run_epoch(v, &checkpoint, 0);
	env_free(v);
}

/*
 * Staging made ahead (replica_stage_reserve(), max_epoch_size) takes a
 * checkpoint that fits without growing or moving; a larger one grows it
 * inside the receive, is counted, and applies all the same.
 */
static void test_stage_reserved(void **state)
{
	struct env *v = env_new(5);
	char err[256];
	uint8_t *pages;
	uint64_t before;

	(void)state;
	assert_int_equal(
		replica_stage_reserve(&v->r, 600 * PS, err, sizeof(err)), 0);
	pages = v->r.stg.pages;
	assert_non_null(pages);
	assert_int_equal(v->r.stg.pages_cap, 1024); /* 600, rounded up */
	/* Again: nothing moves. */
	assert_int_equal(
		replica_stage_reserve(&v->r, 600 * PS, err, sizeof(err)), 0);
	assert_ptr_equal(v->r.stg.pages, pages);

	full_sync(v, 1, 2, 1);
	for (unsigned touch = 100; touch <= 900; touch += 400) {
		fake_touch(&v->fk, touch);
		before = v->r.applied_pages;
		run_epoch(v, &checkpoint, 0);
		assert_true(v->r.applied_pages - before >= touch / 2);
		assert_true(v->r.applied_pages - before <= 1024);
		assert_ptr_equal(v->r.stg.pages, pages);
	}
	assert_int_equal(v->r.stg.grown, 0);

	/* Most of the guest's 2048 pages: past the 1024 reserved. */
	fake_touch(&v->fk, 8000);
	before = v->r.applied_pages;
	run_epoch(v, &checkpoint, 0);
	assert_true(v->r.applied_pages - before > 1024);
	assert_true(v->r.stg.grown >= 1);
	assert_int_equal(v->r.stg.pages_cap, NPAGES);

	assert_int_equal(
		replica_stage_reserve(&v->r, 1ull << 40, err, sizeof(err)), 0);
	assert_int_equal(v->r.stg.pages_cap, NPAGES);
	env_free(v);
}

/* A pre-copy epoch that carries nothing, a checkpoint with no page: both
 * are legal epochs. */
static void test_empty_epochs(void **state)
{
	struct env *v = env_new(2);
	struct epoch e;

	(void)state;
	new_connection(v, 1);
	/* Everything in pre-copy epochs, then an empty one. */
	while (memchr(v->fk.dirty, 1, NPAGES))
		run_epoch(v, &precopy, 0);
	fake_epoch(&v->fk, &e, &precopy);
	assert_int_equal(e.pages, 0);
	deliver(v, &e, 0);
	fake_acked(&v->fk, &e);
	ep_free(&e);
	/* A checkpoint without pages: only the vCPU state. */
	fake_epoch(&v->fk, &e, &checkpoint);
	assert_int_equal(e.pages, 0);
	apply_checkpoint(v, &e, 1);
	env_free(v);
}

/* ---- Hello -------------------------------------------------------------- */

static void test_hello_mismatch(void **state)
{
	static const struct {
		uint32_t version, page_size;
		uint64_t mem;
		const char *cluster, *node, *why;
	} c[] = {
		{WIRE_PROTOCOL_VERSION + 1, PS, MEM, CLUSTER, PRIMARY,
		 "speaks protocol 4, this backup 3"},
		{WIRE_PROTOCOL_VERSION, PS, 2 * MEM, CLUSTER, PRIMARY,
		 "runs 16 MiB of guest memory"},
		{WIRE_PROTOCOL_VERSION, PS, MEM - PS, CLUSTER, PRIMARY,
		 "this backup holds 8 MiB"},
		{WIRE_PROTOCOL_VERSION, 2 * PS, MEM, CLUSTER, PRIMARY,
		 "in 8192-byte pages, this backup holds 8 MiB in 4096-byte"},
		{WIRE_PROTOCOL_VERSION, PS, MEM, "other", PRIMARY,
		 "of cluster 'other', expected primary 'node-a' of cluster "
		 "'wl-test'"},
		{WIRE_PROTOCOL_VERSION, PS, MEM, CLUSTER, "node-b",
		 "the peer is node 'node-b'"},
	};
	struct env *v = env_new(3);
	struct snap s;

	(void)state;
	full_sync(v, 1, 1, 2);
	snap_take(&s, &v->r);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		receiver_reset(&v->rx);
		feed_expect(v,
			    f_hello(c[i].version, c[i].page_size, c[i].mem,
				    c[i].cluster, c[i].node),
			    RX_FATAL, c[i].why);
		assert_untouched(&s, &v->r);
		assert_needs_hello(v);
	}
	snap_free(&s);
	/* The right primary is still served. */
	full_sync(v, 1, 1, 1);
	env_free(v);
}

static void test_before_hello(void **state)
{
	uint8_t blob[STATE_CAP], batch[64];
	size_t len = fake_state_blob(blob, 1, FAKE_STATE_OK);
	struct env *v = env_new(4);
	struct snap s;

	(void)state;
	memset(batch, 1, sizeof(batch));
	full_sync(v, 1, 1, 1);
	snap_take(&s, &v->r);
	receiver_reset(&v->rx);
	feed_expect(v, f_begin(1, 1), RX_CLOSE, "EpochBegin before Hello");
	feed_expect(v, f_batch(1, batch, sizeof(batch)), RX_CLOSE,
		    "PageBatch before Hello");
	feed_expect(v, f_cpu(1, blob, len), RX_CLOSE, "CpuState before Hello");
	feed_expect(v, f_dev(1, "console", 0, "x", 1), RX_CLOSE,
		    "DeviceState before Hello");
	feed_expect(v, f_commit(1, 0, 0), RX_CLOSE, "EpochCommit before Hello");
	feed_expect(v, f_heartbeat(0), RX_CLOSE, "Heartbeat before Hello");
	feed_expect(v, f_ack(1), RX_CLOSE, "Ack before Hello");
	feed_expect(v, f_refuse("no room"), RX_CLOSE,
		    "primary refused: no room");
	assert_untouched(&s, &v->r);
	snap_free(&s);
	full_sync(v, 1, 1, 1);
	env_free(v);
}

/* ---- epoch order -------------------------------------------------------- */

static void test_first_epoch_not_precopy(void **state)
{
	struct env *v = env_new(5);
	struct snap s;
	struct epoch e;

	(void)state;
	full_sync(v, 1, 2, 2);
	snap_take(&s, &v->r);
	new_connection(v, 1);
	fake_epoch(&v->fk, &e, &checkpoint);
	expect(v, &e.f[0], RX_CLOSE, "first epoch 1 is not a pre-copy epoch");
	assert_untouched(&s, &v->r);
	assert_needs_hello(v);
	ep_free(&e);
	snap_free(&s);
	full_sync(v, 1, 1, 1);
	env_free(v);
}

/* Epoch-scoped messages while no epoch is open. */
static void test_outside_epoch(void **state)
{
	uint8_t blob[STATE_CAP], batch[64];
	size_t len = fake_state_blob(blob, 1, FAKE_STATE_OK);
	struct env *v = env_new(6);

	(void)state;
	memset(batch, 1, sizeof(batch));
	full_sync(v, 1, 2, 2);
	for (int i = 0; i < 4; i++) {
		uint64_t next = v->r.epoch + 1;
		struct frame f = i == 0	  ? f_batch(next, batch, sizeof(batch))
				 : i == 1 ? f_cpu(next, blob, len)
				 : i == 2 ? f_dev(next, "console", 0, "x", 1)
					  : f_commit(next, 0, 0);
		struct snap s;
		char want[128];

		snprintf(want, sizeof(want),
			 "%s for epoch %llu outside an epoch",
			 wire_type_name(f.type), (unsigned long long)next);
		snap_take(&s, &v->r);
		feed_expect(v, f, RX_CLOSE, want);
		assert_untouched(&s, &v->r);
		assert_needs_hello(v);
		snap_free(&s);
		/* A fresh connection and sync for the next one. */
		full_sync(v, 1, 1, 1);
	}
	env_free(v);
}

/* ---- attacks: a mutated epoch in three places --------------------------- */

enum place {
	AT_STEADY,  /* a checkpoint after the sync finished */
	AT_SYNC_CP, /* the first checkpoint of a resync */
	AT_SYNC_PC, /* a pre-copy epoch of a resync */
	NPLACES,
};

#define CP  (1u << AT_STEADY | 1u << AT_SYNC_CP)
#define ALL (CP | 1u << AT_SYNC_PC)

/*
 * Turns e into the attack; returns the index of the frame that must end the
 * connection and writes the reason's expected fragment into want.
 */
typedef size_t (*mutate_fn)(struct env *v, struct epoch *e, char *want,
			    size_t wlen);

struct attack {
	const char *name;
	mutate_fn mutate;
	unsigned places;
	int stored;    /* build the epoch with stored batches */
	int at_commit; /* the commit fails: "replica stays at epoch N" */
};

static size_t m_flip_stored(struct env *v, struct epoch *e, char *want,
			    size_t wlen)
{
	uint8_t *b = e->braw[1];
	size_t len = e->blen[1];

	(void)v;
	assert_true(e->nbatches >= 2);
	assert_int_equal(b[5], PACK_STORED);
	b[PACK_HEADER_SIZE + (len - PACK_HEADER_SIZE) / 2] ^= 0x20;
	ep_replace(e, 2, f_batch(e->epoch, b, len));
	snprintf(want, wlen,
		 "epoch %llu: bad page batch: batch checksum mismatch; epoch "
		 "discarded",
		 (unsigned long long)e->epoch);
	return 2;
}

static size_t m_flip_lz4(struct env *v, struct epoch *e, char *want,
			 size_t wlen)
{
	size_t i;

	(void)v;
	/* The last compressed batch that is not the first. */
	for (i = e->nbatches - 1; i > 0 && e->braw[i][5] != PACK_LZ4; i--)
		;
	if (i == 0)
		fail_msg("epoch %llu: no LZ4 batch after the first of %zu",
			 (unsigned long long)e->epoch, e->nbatches);
	e->braw[i][PACK_HEADER_SIZE + (e->blen[i] - PACK_HEADER_SIZE) / 3] ^=
		0x01;
	ep_replace(e, 1 + i, f_batch(e->epoch, e->braw[i], e->blen[i]));
	snprintf(want, wlen,
		 "epoch %llu: bad page batch: ", (unsigned long long)e->epoch);
	return 1 + i;
}

static size_t m_batch_page_size(struct env *v, struct epoch *e, char *want,
				size_t wlen)
{
	(void)v;
	assert_true(e->nbatches >= 2);
	e->braw[1][6]++; /* log2(page size) */
	ep_replace(e, 2, f_batch(e->epoch, e->braw[1], e->blen[1]));
	snprintf(want, wlen, "bad page batch: batch page size differs");
	return 2;
}

static size_t m_checksum(struct env *v, struct epoch *e, char *want,
			 size_t wlen)
{
	(void)v;
	ep_replace(e, e->n - 1,
		   f_commit(e->epoch, e->pages, e->checksum ^ 0x100));
	snprintf(want, wlen,
		 "epoch %llu: checksum %016llx, primary says %016llx",
		 (unsigned long long)e->epoch, (unsigned long long)e->checksum,
		 (unsigned long long)(e->checksum ^ 0x100));
	return e->n - 1;
}

static size_t m_pages_more(struct env *v, struct epoch *e, char *want,
			   size_t wlen)
{
	(void)v;
	ep_replace(e, e->n - 1, f_commit(e->epoch, e->pages + 1, e->checksum));
	snprintf(want, wlen, "%llu pages announced, %llu received",
		 (unsigned long long)e->pages + 1,
		 (unsigned long long)e->pages);
	return e->n - 1;
}

static size_t m_pages_less(struct env *v, struct epoch *e, char *want,
			   size_t wlen)
{
	(void)v;
	assert_true(e->pages > 0);
	ep_replace(e, e->n - 1, f_commit(e->epoch, e->pages - 1, e->checksum));
	snprintf(want, wlen, "%llu pages announced, %llu received",
		 (unsigned long long)e->pages - 1,
		 (unsigned long long)e->pages);
	return e->n - 1;
}

/* The last batch's pages, all of them again, in one more batch. */
static size_t m_batch_twice(struct env *v, struct epoch *e, char *want,
			    size_t wlen)
{
	size_t at = 1 + e->nbatches;

	(void)v;
	ep_insert(e, at,
		  f_batch(e->epoch, e->braw[e->nbatches - 1],
			  e->blen[e->nbatches - 1]));
	snprintf(want, wlen, "epoch %llu: page %llu sent twice",
		 (unsigned long long)e->epoch,
		 (unsigned long long)e->bpfn[e->nbatches - 1]);
	return at;
}

/* A batch of new pages and then one the first batch already carried. */
static size_t m_dup_pfn(struct env *v, struct epoch *e, char *want, size_t wlen)
{
	struct fake *fk = &v->fk;
	uint64_t dup = e->bpfn[0], fresh[3], pfn;
	struct pack_writer w;
	size_t at = 1 + e->nbatches, nf = 0;
	long blen;

	/* dup is the first page sent: those below it are not in the epoch. */
	for (pfn = 0; pfn < dup && nf < 3; pfn++)
		fresh[nf++] = pfn;
	assert_int_equal(pack_init(&w, fk->body, fk->body_cap, PS), 0);
	for (size_t i = 0; i < nf; i++)
		assert_int_equal(pack_add(&w, fresh[i], CODEC_RAW, fk->mem, PS),
				 0);
	assert_int_equal(pack_add(&w, dup, CODEC_ZERO, NULL, 0), 0);
	blen = pack_finish(&w, 1, fk->out, fk->out_cap);
	assert_true(blen > 0);
	ep_insert(e, at, f_batch(e->epoch, fk->out, (size_t)blen));
	snprintf(want, wlen, "epoch %llu: page %llu sent twice",
		 (unsigned long long)e->epoch, (unsigned long long)dup);
	return at;
}

static size_t m_no_cpu(struct env *v, struct epoch *e, char *want, size_t wlen)
{
	(void)v;
	ep_remove(e, ep_find(e, WIRE_CPU_STATE, 0));
	snprintf(want, wlen, "epoch %llu: committed without vCPU state",
		 (unsigned long long)e->epoch);
	return e->n - 1;
}

static size_t bad_blob(struct epoch *e, enum fake_state_fault fault, char *want,
		       size_t wlen, const char *why)
{
	uint8_t b[STATE_CAP];
	size_t len = fake_state_blob(b, e->epoch, fault);
	size_t at = ep_find(e, WIRE_CPU_STATE, 0);

	ep_replace(e, at, f_cpu(e->epoch, b, len));
	snprintf(want, wlen, "epoch %llu: bad workload state: vCPU state: %s",
		 (unsigned long long)e->epoch, why);
	return at;
}

static size_t m_blob_cr3(struct env *v, struct epoch *e, char *want,
			 size_t wlen)
{
	(void)v;
	return bad_blob(e, FAKE_STATE_CR3, want, wlen,
			"code segment 0x1b or CR3 0x3000 is not the VMM's");
}

static size_t m_blob_magic(struct env *v, struct epoch *e, char *want,
			   size_t wlen)
{
	(void)v;
	return bad_blob(e, FAKE_STATE_MAGIC, want, wlen, "bad magic");
}

static size_t m_blob_len(struct env *v, struct epoch *e, char *want,
			 size_t wlen)
{
	(void)v;
	return bad_blob(e, FAKE_STATE_LEN, want, wlen, "length");
}

static size_t m_blob_no_clock(struct env *v, struct epoch *e, char *want,
			      size_t wlen)
{
	(void)v;
	return bad_blob(e, FAKE_STATE_NO_CLOCK, want, wlen,
			"registers, FPU or clock missing");
}

static size_t m_cpu_twice(struct env *v, struct epoch *e, char *want,
			  size_t wlen)
{
	size_t at = ep_find(e, WIRE_CPU_STATE, 0) + 1;

	(void)v;
	ep_insert(e, at, f_cpu(e->epoch, e->state, e->state_len));
	snprintf(want, wlen, "epoch %llu: vCPU state sent twice",
		 (unsigned long long)e->epoch);
	return at;
}

static size_t m_cpu_in_precopy(struct env *v, struct epoch *e, char *want,
			       size_t wlen)
{
	uint8_t b[STATE_CAP];
	size_t len = fake_state_blob(b, e->epoch, FAKE_STATE_OK);

	(void)v;
	ep_insert(e, e->n - 1, f_cpu(e->epoch, b, len));
	snprintf(want, wlen, "vCPU state outside a checkpoint epoch");
	return e->n - 2;
}

static size_t m_console_gap(struct env *v, struct epoch *e, char *want,
			    size_t wlen)
{
	size_t at = ep_find(e, WIRE_DEVICE_STATE, 1);
	size_t half = e->console_len / 2;

	(void)v;
	ep_replace(e, at,
		   f_dev(e->epoch, "console", e->console_off + half + 1,
			 e->console + half, e->console_len - half));
	snprintf(want, wlen, "epoch %llu: console bytes at %llu, expected %llu",
		 (unsigned long long)e->epoch,
		 (unsigned long long)(e->console_off + half + 1),
		 (unsigned long long)(e->console_off + half));
	return at;
}

static size_t m_console_overlap(struct env *v, struct epoch *e, char *want,
				size_t wlen)
{
	size_t at = ep_find(e, WIRE_DEVICE_STATE, 1);
	size_t half = e->console_len / 2;

	(void)v;
	ep_replace(e, at,
		   f_dev(e->epoch, "console", e->console_off + half - 1,
			 e->console + half - 1, e->console_len - half + 1));
	snprintf(want, wlen, "console bytes at %llu, expected %llu",
		 (unsigned long long)(e->console_off + half - 1),
		 (unsigned long long)(e->console_off + half));
	return at;
}

/* One console byte flipped in flight (the frame itself well-formed): the
 * checksum covers console bytes (protocol 2), so the epoch is refused. */
static size_t m_console_flip(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	size_t at = ep_find(e, WIRE_DEVICE_STATE, 1);
	size_t half = e->console_len / 2;
	char *bad = malloc(e->console_len - half);

	(void)v;
	assert_non_null(bad);
	memcpy(bad, e->console + half, e->console_len - half);
	bad[0] ^= 0x20;
	ep_replace(e, at,
		   f_dev(e->epoch, "console", e->console_off + half, bad,
			 e->console_len - half));
	free(bad);
	snprintf(want, wlen, "primary says %016llx",
		 (unsigned long long)e->checksum);
	return e->n - 1;
}

static size_t m_console_in_precopy(struct env *v, struct epoch *e, char *want,
				   size_t wlen)
{
	(void)v;
	ep_insert(e, e->n - 1, f_dev(e->epoch, "console", 0, "hi\n", 3));
	snprintf(want, wlen, "console output outside a checkpoint epoch");
	return e->n - 2;
}

static size_t m_unknown_device(struct env *v, struct epoch *e, char *want,
			       size_t wlen)
{
	(void)v;
	ep_insert(e, e->n - 1, f_dev(e->epoch, "disk", 0, "blk", 3));
	snprintf(want, wlen, "state of unknown device 'disk'");
	return e->n - 2;
}

static size_t m_begin_inside(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	(void)v;
	ep_insert(e, 2, f_begin(e->epoch + 1, e->precopy));
	snprintf(want, wlen, "EpochBegin %llu inside epoch %llu (no commit)",
		 (unsigned long long)e->epoch + 1,
		 (unsigned long long)e->epoch);
	return 2;
}

static size_t m_begin_again(struct env *v, struct epoch *e, char *want,
			    size_t wlen)
{
	(void)v;
	ep_insert(e, 2, f_begin(e->epoch, e->precopy));
	snprintf(want, wlen, "EpochBegin %llu inside epoch %llu (no commit)",
		 (unsigned long long)e->epoch, (unsigned long long)e->epoch);
	return 2;
}

/* Replaces the frame at `at` by the same message for epoch e->epoch + 1. */
static size_t other_epoch(struct epoch *e, size_t at, struct frame f,
			  char *want, size_t wlen)
{
	ep_replace(e, at, f);
	snprintf(want, wlen, "%s for epoch %llu inside epoch %llu",
		 wire_type_name(f.type), (unsigned long long)e->epoch + 1,
		 (unsigned long long)e->epoch);
	return at;
}

static size_t m_batch_other(struct env *v, struct epoch *e, char *want,
			    size_t wlen)
{
	(void)v;
	assert_true(e->nbatches >= 2);
	return other_epoch(e, 2, f_batch(e->epoch + 1, e->braw[1], e->blen[1]),
			   want, wlen);
}

static size_t m_cpu_other(struct env *v, struct epoch *e, char *want,
			  size_t wlen)
{
	(void)v;
	return other_epoch(e, ep_find(e, WIRE_CPU_STATE, 0),
			   f_cpu(e->epoch + 1, e->state, e->state_len), want,
			   wlen);
}

static size_t m_device_other(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	(void)v;
	return other_epoch(e, ep_find(e, WIRE_DEVICE_STATE, 1),
			   f_dev(e->epoch + 1, "console", 0, "x", 1), want,
			   wlen);
}

static size_t m_commit_other(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	(void)v;
	return other_epoch(e, e->n - 1,
			   f_commit(e->epoch + 1, e->pages, e->checksum), want,
			   wlen);
}

static size_t m_commit_older(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	(void)v;
	ep_replace(e, e->n - 1, f_commit(e->epoch - 1, e->pages, e->checksum));
	snprintf(want, wlen, "EpochCommit for epoch %llu inside epoch %llu",
		 (unsigned long long)e->epoch - 1,
		 (unsigned long long)e->epoch);
	return e->n - 1;
}

static size_t m_skip(struct env *v, struct epoch *e, char *want, size_t wlen)
{
	(void)v;
	ep_replace(e, 0, f_begin(e->epoch + 1, e->precopy));
	snprintf(want, wlen, "epoch %llu after epoch %llu",
		 (unsigned long long)e->epoch + 1,
		 (unsigned long long)e->epoch - 1);
	return 0;
}

static size_t m_repeat(struct env *v, struct epoch *e, char *want, size_t wlen)
{
	(void)v;
	ep_replace(e, 0, f_begin(e->epoch - 1, e->precopy));
	snprintf(want, wlen, "epoch %llu after epoch %llu",
		 (unsigned long long)e->epoch - 1,
		 (unsigned long long)e->epoch - 1);
	return 0;
}

static size_t m_precopy_after_sync(struct env *v, struct epoch *e, char *want,
				   size_t wlen)
{
	(void)v;
	ep_replace(e, 0, f_begin(e->epoch, 1));
	snprintf(want, wlen, "pre-copy epoch %llu after the sync finished",
		 (unsigned long long)e->epoch);
	return 0;
}

/* A Refuse mid-epoch ends the conversation: what follows needs a Hello. */
static size_t m_refuse(struct env *v, struct epoch *e, char *want, size_t wlen)
{
	(void)v;
	ep_insert(e, 2, f_refuse("shutting down"));
	snprintf(want, wlen, "primary refused: shutting down");
	return 2;
}

static size_t m_hello_inside(struct env *v, struct epoch *e, char *want,
			     size_t wlen)
{
	(void)v;
	ep_insert(e, 2, f_good_hello());
	snprintf(want, wlen, "unexpected Hello from the primary");
	return 2;
}

static size_t m_ack_inside(struct env *v, struct epoch *e, char *want,
			   size_t wlen)
{
	(void)v;
	ep_insert(e, 2, f_ack(e->epoch));
	snprintf(want, wlen, "unexpected Ack from the primary");
	return 2;
}

#define ATTACK(fn, ...)                                    \
	{                                                  \
		.name = #fn, .mutate = m_##fn, __VA_ARGS__ \
	}

static const struct attack attacks[] = {
	ATTACK(flip_stored, .places = ALL, .stored = 1),
	ATTACK(flip_lz4, .places = ALL),
	ATTACK(batch_page_size, .places = ALL),
	ATTACK(checksum, .places = ALL, .at_commit = 1),
	ATTACK(pages_more, .places = ALL, .at_commit = 1),
	ATTACK(pages_less, .places = ALL, .at_commit = 1),
	ATTACK(batch_twice, .places = ALL),
	ATTACK(dup_pfn, .places = ALL),
	ATTACK(no_cpu, .places = CP, .at_commit = 1),
	ATTACK(blob_cr3, .places = CP),
	ATTACK(blob_magic, .places = CP),
	ATTACK(blob_len, .places = CP),
	ATTACK(blob_no_clock, .places = CP),
	ATTACK(cpu_twice, .places = CP),
	ATTACK(cpu_in_precopy, .places = 1u << AT_SYNC_PC),
	ATTACK(console_gap, .places = CP),
	ATTACK(console_overlap, .places = CP),
	ATTACK(console_flip, .places = CP, .at_commit = 1),
	ATTACK(console_in_precopy, .places = 1u << AT_SYNC_PC),
	ATTACK(unknown_device, .places = ALL),
	ATTACK(begin_inside, .places = ALL),
	ATTACK(begin_again, .places = ALL),
	ATTACK(batch_other, .places = ALL),
	ATTACK(cpu_other, .places = CP),
	ATTACK(device_other, .places = CP),
	ATTACK(commit_other, .places = ALL),
	ATTACK(commit_older, .places = ALL),
	ATTACK(skip, .places = ALL),
	ATTACK(repeat, .places = ALL),
	ATTACK(precopy_after_sync, .places = 1u << AT_STEADY),
	ATTACK(refuse, .places = ALL),
	ATTACK(hello_inside, .places = ALL),
	ATTACK(ack_inside, .places = ALL),
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

static const char *const place_name[NPLACES] = {"after the sync",
						"first checkpoint of a resync",
						"pre-copy epoch of a resync"};

static void run_attack_at(const struct attack *a, enum place place)
{
	struct env *v = env_new(100 + place);
	struct epoch_opts o = {.console = 1, .stored = a->stored};
	struct rx_result out;
	struct snap s;
	struct epoch e;
	char want[256], stays[64];
	size_t at;

	full_sync(v, 1, 2, 2);
	fake_touch(&v->fk, 200);
	if (place != AT_STEADY) {
		/* A new connection; the old replica must survive it. */
		new_connection(v, 1);
		for (int i = 0; i < 2; i++) {
			run_epoch(v, &precopy, 0);
			fake_touch(&v->fk, 20);
		}
	}
	o.precopy = place == AT_SYNC_PC;
	snap_take(&s, &v->r);
	fake_epoch(&v->fk, &e, &o);
	want[0] = '\0';
	at = a->mutate(v, &e, want, sizeof(want));
	for (size_t i = 0; i < at; i++) {
		feed(v, &e.f[i], &out);
		if (out.verdict != RX_OK)
			fail_msg("%s %s: frame %zu (%s) before the attack: %s "
				 "(%s)",
				 a->name, place_name[place], i,
				 wire_type_name(e.f[i].type),
				 verdict_name(out.verdict), out.why);
	}
	feed(v, &e.f[at], &out);
	snprintf(stays, sizeof(stays), "replica stays at epoch %llu",
		 (unsigned long long)s.epoch);
	if (out.verdict != RX_CLOSE || !strstr(out.why, want) ||
	    (a->at_commit && !strstr(out.why, stays)))
		fail_msg("%s %s: %s gave %s (\"%s\"), want CLOSE with "
			 "\"%s\"%s%s",
			 a->name, place_name[place],
			 wire_type_name(e.f[at].type),
			 verdict_name(out.verdict), out.why, want,
			 a->at_commit ? " and " : "",
			 a->at_commit ? stays : "");
	assert_untouched(&s, &v->r);
	/* Whatever else the connection had in flight is not taken. */
	if (at + 1 < e.n) {
		feed(v, &e.f[e.n - 1], &out);
		if (out.verdict != RX_CLOSE ||
		    !strstr(out.why, "EpochCommit before Hello"))
			fail_msg("%s %s: the commit after the close gave %s "
				 "(\"%s\"), want CLOSE with \"EpochCommit "
				 "before Hello\"",
				 a->name, place_name[place],
				 verdict_name(out.verdict), out.why);
		assert_untouched(&s, &v->r);
	}
	ep_free(&e);
	snap_free(&s);

	/* The primary reconnects and resyncs: that works. */
	full_sync(v, 1, 2, 2);
	env_free(v);
}

static void run_attack(void **state)
{
	const struct attack *a = *state;

	for (int p = 0; p < NPLACES; p++)
		if (a->places & 1u << p)
			run_attack_at(a, (enum place)p);
}

/*
 * Terms: the backup remembers the highest term it has followed and refuses
 * (telling it that term and its primary) a primary of a lower one; every
 * message after Hello must carry the connection's term; a Refuse that names
 * a higher term is remembered; Heartbeat.released trims the console tail the
 * backup keeps for a promotion.
 */
static struct frame f_hello_as(uint64_t term, Remora__Role role)
{
	Remora__Hello h = REMORA__HELLO__INIT;

	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.term = term;
	h.page_size = PS;
	h.guest_mem_bytes = MEM;
	h.workload_id = CLUSTER;
	h.node = PRIMARY;
	h.role = role;
	return enc(WIRE_HELLO, &h.base);
}

static void test_terms(void **state)
{
	struct env *v = env_new(21);
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	struct frame f;
	struct rx_result out;
	uint64_t end;
	struct snap s;

	(void)state;
	full_sync(v, 1, 1, 3);
	assert_int_equal(v->rx.known_term, TERM);
	assert_string_equal(v->rx.known_primary, PRIMARY);

	/* The console bytes of applied epochs are kept until released. */
	end = replica_console_end(&v->r);
	assert_true(end > 0);
	assert_int_equal(v->r.tail_off + v->r.tail_len, end);
	assert_int_equal(v->r.tail_off, 0);
	hb.term = TERM;
	hb.released = end - 3;
	f = enc(WIRE_HEARTBEAT, &hb.base);
	expect(v, &f, RX_OK, NULL);
	free(f.p);
	assert_int_equal(v->rx.released, end - 3);
	assert_int_equal(v->r.tail_off, end - 3);
	assert_int_equal(v->r.tail_len, 3);
	/* Never backwards. */
	hb.released = 1;
	f = enc(WIRE_HEARTBEAT, &hb.base);
	expect(v, &f, RX_OK, NULL);
	free(f.p);
	assert_int_equal(v->rx.released, end - 3);
	assert_int_equal(v->r.tail_len, 3);
	/* Released past the replica (a primary that ran unprotected): the
	 * replica's end stays put, so promotion sees released > end. */
	hb.released = end + 100;
	f = enc(WIRE_HEARTBEAT, &hb.base);
	expect(v, &f, RX_OK, NULL);
	free(f.p);
	assert_int_equal(v->rx.released, end + 100);
	assert_int_equal(replica_console_end(&v->r), end);
	assert_int_equal(v->r.tail_len, 0);

	/* A message of another term on this connection. */
	hb.term = TERM + 1;
	f = enc(WIRE_HEARTBEAT, &hb.base);
	expect(v, &f, RX_CLOSE,
	       "Heartbeat of term 4 from the primary of term 3");
	free(f.p);

	/* A primary of an older term: refused, told the current one. */
	snap_take(&s, &v->r);
	receiver_reset(&v->rx);
	f = f_hello_as(TERM - 1, REMORA__ROLE__ROLE_PRIMARY);
	feed(v, &f, &out);
	free(f.p);
	assert_int_equal(out.verdict, RX_CLOSE);
	assert_int_equal(out.refuse, 1);
	assert_non_null(strstr(out.why, "node node-a is primary of term 2, "
					"but node-a has been primary since "
					"term 3"));
	assert_untouched(&s, &v->r);
	assert_needs_hello(v);

	/* Something that answers as a backup is no primary. */
	receiver_reset(&v->rx);
	feed_expect(v, f_hello_as(TERM, REMORA__ROLE__ROLE_BACKUP), RX_CLOSE,
		    "node node-a answered as a backup");
	assert_untouched(&s, &v->r);

	/* A refusal that names a newer term and its primary. */
	receiver_reset(&v->rx);
	rf.term = 9;
	rf.reason = "replaced";
	rf.primary = "node-c";
	f = enc(WIRE_REFUSE, &rf.base);
	expect(v, &f, RX_CLOSE, "primary refused: replaced");
	free(f.p);
	assert_int_equal(v->rx.known_term, 9);
	assert_string_equal(v->rx.known_primary, "node-c");
	receiver_reset(&v->rx);
	f = f_hello_as(TERM, REMORA__ROLE__ROLE_PRIMARY);
	feed(v, &f, &out);
	free(f.p);
	assert_int_equal(out.refuse, 1);
	assert_non_null(
		strstr(out.why, "node-c has been primary since term 9"));
	assert_untouched(&s, &v->r);
	snap_free(&s);
	env_free(v);
}

/*
 * A Refuse between epochs ends the connection like any other close: a whole
 * valid epoch after it must not be applied.
 */
static void test_refuse_then_epoch(void **state)
{
	struct env *v = env_new(7);
	struct snap s;
	struct epoch e;

	(void)state;
	full_sync(v, 1, 1, 2);
	fake_touch(&v->fk, 40);
	snap_take(&s, &v->r);
	feed_expect(v, f_refuse("going away"), RX_CLOSE,
		    "primary refused: going away");
	fake_epoch(&v->fk, &e, &checkpoint);
	expect(v, &e.f[0], RX_CLOSE, "EpochBegin before Hello");
	assert_untouched(&s, &v->r);
	ep_free(&e);
	snap_free(&s);
	env_free(v);
}

/*
 * Console frames with no bytes: harmless in place (the primary never sends
 * them, the wire allows them), but they must not bend the contiguity rule.
 * "Empty at 1000, then 5 bytes at 0" is a gap like any other.
 */
static void test_console_empty_chunk(void **state)
{
	struct env *v = env_new(8);
	struct snap s;
	struct epoch e;
	size_t at;

	(void)state;
	full_sync(v, 1, 1, 2);

	/* An empty chunk where the output starts: accepted, changes nothing. */
	fake_touch(&v->fk, 40);
	fake_epoch(&v->fk, &e, &checkpoint);
	at = ep_find(&e, WIRE_DEVICE_STATE, 0);
	ep_insert(&e, at, f_dev(e.epoch, "console", e.console_off, NULL, 0));
	apply_checkpoint(v, &e, 0);

	/* An empty chunk elsewhere in the stream, then the real bytes. */
	fake_touch(&v->fk, 40);
	snap_take(&s, &v->r);
	fake_epoch(&v->fk, &e, &checkpoint);
	at = ep_find(&e, WIRE_DEVICE_STATE, 0);
	ep_insert(&e, at,
		  f_dev(e.epoch, "console", e.console_off + 1000, NULL, 0));
	for (size_t i = 0; i < at + 1; i++)
		expect(v, &e.f[i], RX_OK, NULL);
	expect(v, &e.f[at + 1], RX_CLOSE, "console bytes at");
	assert_untouched(&s, &v->r);
	ep_free(&e);
	snap_free(&s);
	env_free(v);
}

/* ---- bounds on what the primary can make the backup hold ---------------- */

/* The bounds of docs/wire.md, "What the backup holds", for MEM. */
#define CONSOLE_MAX	 MEM /* console output held: the guest memory */
#define EPOCH_FRAMES_MAX (2 * NPAGES + 3)

/* Reads the console bound's refusal: its bound, what held it, the replica. */
static void assert_console_refusal(const struct rx_result *out,
				   uint64_t replica_epoch)
{
	char stays[64];

	snprintf(stays, sizeof(stays),
		 "; epoch discarded, replica stays at epoch %llu",
		 (unsigned long long)replica_epoch);
	if (out->verdict != RX_CLOSE ||
	    !strstr(out->why,
		    "console output held for the primary would pass "
		    "8 MiB, the guest memory size (workload.memory)") ||
	    !strstr(out->why, stays))
		fail_msg("verdict %s (\"%s\"), want CLOSE naming the console "
			 "bound and \"%s\"",
			 verdict_name(out->verdict), out->why, stays);
}

/*
 * A primary that streams console output inside one epoch (4 MiB frames, or
 * any size) is refused once the epoch's bytes would pass the bound; the
 * backup has held no more than that, and its replica is untouched.
 */
static void test_console_flood(void **state)
{
	const size_t chunk = 1u << 20;
	char *junk = malloc(chunk);
	struct env *v = env_new(500);
	struct rx_result out = {0};
	uint64_t off, tail;
	size_t at, taken = 0;
	struct snap s;
	struct epoch e;

	(void)state;
	assert_non_null(junk);
	memset(junk, 'x', chunk);
	full_sync(v, 1, 1, 2);
	tail = v->r.tail_len; /* the synced checkpoints' output */
	assert_true(tail > 0);
	fake_touch(&v->fk, 40);
	snap_take(&s, &v->r);
	fake_epoch(&v->fk, &e, &checkpoint);
	at = ep_find(&e, WIRE_DEVICE_STATE, 0);
	for (size_t i = 0; i < at; i++)
		expect(v, &e.f[i], RX_OK, NULL);
	/* Four times the guest memory, unless the backup stops it. */
	off = e.console_off;
	for (size_t i = 0; i < 4 * CONSOLE_MAX / chunk; i++) {
		struct frame f = f_dev(e.epoch, "console", off, junk, chunk);

		feed(v, &f, &out);
		free(f.p);
		if (out.verdict != RX_OK)
			break;
		taken += chunk;
		off += chunk;
	}
	if (out.verdict == RX_OK)
		fail_msg("took %zu bytes of console output in one epoch, the "
			 "guest memory being %u",
			 taken, MEM);
	assert_console_refusal(&out, s.epoch);
	/* Everything it could take, and no more. */
	assert_int_equal(taken, (CONSOLE_MAX - tail) / chunk * chunk);
	assert_true(v->r.stg.console_cap <= CONSOLE_MAX);
	assert_untouched(&s, &v->r);
	assert_needs_hello(v);
	ep_free(&e);
	snap_free(&s);
	free(junk);
	/* The primary reconnects with a sane epoch: served. */
	full_sync(v, 1, 1, 2);
	env_free(v);
}

/* A heartbeat saying the primary released its output up to offset. */
static void released(struct env *v, uint64_t offset)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct frame f;

	hb.term = TERM;
	hb.released = offset;
	f = enc(WIRE_HEARTBEAT, &hb.base);
	expect(v, &f, RX_OK, NULL);
	free(f.p);
}

/*
 * The console tail of applied epochs is kept until the primary reports it
 * released: one that never does while its guest keeps writing fills it up
 * and is refused, saying how much it never reported; none of the tail is
 * dropped (a promotion owes all of it). One that reports its releases runs
 * on indefinitely with the same output.
 */
static void test_console_never_released(void **state)
{
	const size_t mib = 1u << 20;
	char *big = malloc(mib);
	struct env *v = env_new(501);
	struct epoch_opts chatty = {.big = big, .big_len = mib};
	struct rx_result out;
	uint64_t start;
	struct snap s;
	struct epoch e;
	size_t at;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < mib; i++)
		big[i] = (char)('a' + i % 26);
	full_sync(v, 1, 1, 1);
	released(v, replica_console_end(&v->r));
	assert_int_equal(v->r.tail_len, 0);
	start = replica_console_end(&v->r);

	/* Eight epochs of 1 MiB, never reported: exactly the bound. */
	for (int i = 0; i < 8; i++) {
		fake_touch(&v->fk, 10);
		run_epoch(v, &chatty, 0);
	}
	assert_int_equal(v->r.tail_len, CONSOLE_MAX);
	assert_int_equal(v->r.tail_off, start);

	/* The ninth: refused at its first console byte. */
	fake_touch(&v->fk, 10);
	snap_take(&s, &v->r);
	fake_epoch(&v->fk, &e, &chatty);
	at = ep_find(&e, WIRE_DEVICE_STATE, 0);
	for (size_t i = 0; i < at; i++)
		expect(v, &e.f[i], RX_OK, NULL);
	feed(v, &e.f[at], &out);
	assert_console_refusal(&out, s.epoch);
	{
		char want[160];

		snprintf(want, sizeof(want),
			 "%u of applied epochs it has not reported released "
			 "(Heartbeat.released), from byte %llu",
			 CONSOLE_MAX, (unsigned long long)start);
		if (!strstr(out.why, want))
			fail_msg("\"%s\" does not say \"%s\"", out.why, want);
	}
	assert_untouched(&s, &v->r);
	ep_free(&e);
	snap_free(&s);

	/* It comes back and reports its releases: 3 x the bound goes by. */
	new_connection(v, 1);
	released(v, replica_console_end(&v->r));
	run_epoch(v, &precopy, 0);
	run_epoch(v, &chatty, 1);
	for (int i = 0; i < 24; i++) {
		released(v, replica_console_end(&v->r));
		fake_touch(&v->fk, 10);
		run_epoch(v, &chatty, 0);
		assert_true(v->r.tail_len <= mib);
	}
	assert_true(v->r.tail_cap <= CONSOLE_MAX);
	free(big);
	env_free(v);
}

/*
 * While the backup was away the primary ran on alone and released console
 * output past the replica's end; a new connection syncs again. Its first
 * checkpoint has no console bytes, yet it says where the stream stands,
 * so the replica ends there and can take over from a primary that
 * released up to it (before, it was refused as "promoting would repeat
 * output" until the service printed again).
 */
static void test_console_placed_after_resync(void **state)
{
	struct env *v = env_new(502);
	struct epoch_opts quiet = {0};
	char why[256];

	(void)state;
	full_sync(v, 1, 1, 1);
	run_epoch(v, &checkpoint, 0); /* output, reported released */
	released(v, replica_console_end(&v->r));
	assert_int_equal(replica_can_take_over(&v->r, v->fk.console_off, why,
					       sizeof(why)),
			 0);

	/* Alone, the primary releases 1000 bytes the backup never sees. */
	v->fk.console_off += 1000;
	assert_int_equal(replica_can_take_over(&v->r, v->fk.console_off, why,
					       sizeof(why)),
			 -ESTALE);
	new_connection(v, 50);
	released(v, v->fk.console_off);
	run_epoch(v, &precopy, 0);
	run_epoch(v, &quiet, 1);
	assert_int_equal(replica_console_end(&v->r), v->fk.console_off);
	assert_int_equal(v->r.tail_len, 0);
	if (replica_can_take_over(&v->r, v->fk.console_off, why, sizeof(why)))
		fail_msg("after the resync: %s", why);
	env_free(v);
}

/* A batch of ZERO pages first..first + n - 1, as a PageBatch frame. */
static struct frame f_zero_batch(uint64_t epoch, uint64_t first, size_t n)
{
	size_t cap = pack_body_bound(n, PS), out_cap = pack_batch_bound(cap);
	uint8_t *body = malloc(cap), *out = malloc(out_cap);
	struct pack_writer w;
	struct frame f;
	long len;

	assert_true(body && out);
	assert_int_equal(pack_init(&w, body, cap, PS), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pack_add(&w, first + i, CODEC_ZERO, NULL, 0),
				 0);
	len = pack_finish(&w, 1, out, out_cap);
	assert_true(len > 0);
	f = f_batch(epoch, out, (size_t)len);
	free(body);
	free(out);
	return f;
}

/*
 * Pages: each at most once per epoch, so an epoch stages no more than the
 * guest's pages. A batch that would take it past them is refused before
 * anything is reserved for it.
 */
static void test_epoch_pages(void **state)
{
	struct env *v = env_new(503);
	struct snap s;
	char want[160];

	(void)state;
	full_sync(v, 1, 1, 2);
	snap_take(&s, &v->r);
	new_connection(v, 1);
	feed_expect(v, f_begin(1, 1), RX_OK, NULL);
	feed_expect(v, f_zero_batch(1, 0, NPAGES / 2), RX_OK, NULL);
	feed_expect(v, f_zero_batch(1, NPAGES / 2, NPAGES / 2), RX_OK, NULL);
	assert_true(v->r.stg.cap <= NPAGES);
	snprintf(want, sizeof(want),
		 "epoch 1: %u pages and a batch of 1, more than the guest's "
		 "%u pages: a page is sent twice",
		 NPAGES, NPAGES);
	feed_expect(v, f_zero_batch(1, 5, 1), RX_CLOSE, want);
	assert_true(v->r.stg.cap <= NPAGES);
	assert_untouched(&s, &v->r);
	assert_needs_hello(v);
	snap_free(&s);
	full_sync(v, 1, 1, 1);
	env_free(v);
}

/* e with empty console frames where its output starts, to n frames. */
static void pad_frames(struct epoch *e, size_t n)
{
	size_t at = ep_find(e, WIRE_DEVICE_STATE, 0);

	while (e->n < n)
		ep_insert(e, at,
			  f_dev(e->epoch, "console", e->console_off, NULL, 0));
}

/*
 * Frames per epoch: empty console frames cost the backup nothing to hold,
 * so only the bound on frames ends an epoch made of them. An epoch of
 * exactly the bound is applied; one frame more is refused.
 */
static void test_epoch_frames(void **state)
{
	struct env *v = env_new(502);
	struct rx_result out;
	char want[160];
	struct snap s;
	struct epoch e;

	(void)state;
	full_sync(v, 1, 1, 2);
	fake_touch(&v->fk, 40);
	fake_epoch(&v->fk, &e, &checkpoint);
	pad_frames(&e, EPOCH_FRAMES_MAX);
	apply_checkpoint(v, &e, 0);

	fake_touch(&v->fk, 40);
	snap_take(&s, &v->r);
	fake_epoch(&v->fk, &e, &checkpoint);
	pad_frames(&e, EPOCH_FRAMES_MAX + 1);
	for (size_t i = 0; i + 1 < e.n; i++)
		expect(v, &e.f[i], RX_OK, NULL);
	feed(v, &e.f[e.n - 1], &out);
	snprintf(want, sizeof(want),
		 "epoch %llu: more than %u frames, the bound for 8 MiB of "
		 "guest memory",
		 (unsigned long long)e.epoch, EPOCH_FRAMES_MAX);
	if (out.verdict != RX_CLOSE || !strstr(out.why, want) ||
	    !strstr(out.why, "replica stays at epoch"))
		fail_msg("verdict %s (\"%s\"), want CLOSE with \"%s\"",
			 verdict_name(out.verdict), out.why, want);
	assert_untouched(&s, &v->r);
	assert_needs_hello(v);
	ep_free(&e);
	snap_free(&s);
	full_sync(v, 1, 1, 1);
	env_free(v);
}

/* ---- lost connections --------------------------------------------------- */

/* Half an epoch, then the connection drops; a new one works. */
static void test_lost_mid_epoch(void **state)
{
	(void)state;
	for (int pc = 0; pc < 2; pc++) {
		struct env *v = env_new(200 + pc);
		struct rx_result out;
		struct snap s;
		struct epoch e;

		full_sync(v, 1, 2, 2);
		fake_touch(&v->fk, 200);
		if (pc) {
			new_connection(v, 1);
			run_epoch(v, &precopy, 0);
			fake_touch(&v->fk, 20);
		}
		snap_take(&s, &v->r);
		fake_epoch(&v->fk, &e, pc ? &precopy : &checkpoint);
		assert_true(e.n > 3);
		for (size_t i = 0; i < e.n / 2; i++) {
			feed(v, &e.f[i], &out);
			assert_int_equal(out.verdict, RX_OK);
		}
		receiver_lost(&v->rx);
		assert_untouched(&s, &v->r);
		/* The rest of it, from a dead connection, is refused. */
		feed(v, &e.f[e.n - 1], &out);
		assert_int_equal(out.verdict, RX_CLOSE);
		assert_untouched(&s, &v->r);
		ep_free(&e);
		snap_free(&s);
		full_sync(v, 1, 2, 3);
		env_free(v);
	}
}

/*
 * A sync that dies halfway does not replace the last good replica: full
 * sync and checkpoints, then a new connection's pre-copy epochs (its new
 * replica half built), then the connection is lost.
 */
static void test_sync_dies_halfway(void **state)
{
	struct env *v = env_new(300);
	struct snap s;

	(void)state;
	full_sync(v, 1, 3, 4);
	fake_touch(&v->fk, 500);
	snap_take(&s, &v->r);
	new_connection(v, 1);
	for (int i = 0; i < 3; i++) {
		run_epoch(v, &precopy, 0);
		fake_touch(&v->fk, 20);
	}
	receiver_lost(&v->rx);
	assert_untouched(&s, &v->r);
	/* A new Hello starts over: its partial replica is not the old one's
	 * base either; two more attempts die the same way. */
	for (int i = 0; i < 2; i++) {
		new_connection(v, 50);
		run_epoch(v, &precopy, 0);
		receiver_reset(&v->rx);
		assert_untouched(&s, &v->r);
	}
	snap_free(&s);
	/* The sync that completes does replace it. */
	full_sync(v, 1, 3, 2);
	env_free(v);
}

/*
 * The spare replica memory: a sync takes it, ready or still being filled
 * by the worker, and builds an exact replica in it. Memory the worker still
 * fills is never unmapped under it: dropped meanwhile (a failed sync), it
 * is parked until replica_spare_ready().
 */
static void test_spare(void **state)
{
	struct env *v = env_new(400);
	char err[256];
	uint8_t *spare;

	(void)state;
	/* Ready: the sync builds the replica in it, exactly. */
	assert_int_equal(replica_spare_make(&v->r, err, sizeof(err)), 0);
	spare = v->r.spare;
	assert_non_null(spare);
	assert_ptr_equal(replica_spare_fill(&v->r), spare);
	assert_int_equal(prefault_shared(spare, v->r.mem_size), 0);
	replica_spare_ready(&v->r, 1);
	assert_ptr_equal(v->r.spare, spare); /* kept for the sync */
	assert_null(v->r.filling);
	full_sync(v, 1, 3, 3); /* run_epoch checks every page */
	assert_ptr_equal(v->r.mem, spare);
	assert_null(v->r.spare);
	assert_int_equal(v->r.spare_fd, -1);
	env_free(v);

	/* Still being filled: taken all the same, and the sync is exact
	 * (half of it prefaulted, as the daemon's worker may have done
	 * when the sync begins; the threads' overlap itself is the
	 * daemon's, not this test's). */
	v = env_new(400);
	assert_int_equal(replica_spare_make(&v->r, err, sizeof(err)), 0);
	spare = replica_spare_fill(&v->r);
	assert_ptr_equal(spare, v->r.spare);
	assert_int_equal(prefault_shared(spare, v->r.mem_size / 2), 0);
	full_sync(v, 1, 2, 2);
	assert_ptr_equal(v->r.mem, spare);
	assert_null(v->r.spare);
	/* A second sync replaces it: the old memory, still being filled,
	 * is parked, not unmapped; the worker's end drops it. */
	fake_touch(&v->fk, 300);
	full_sync(v, 10, 3, 3);
	assert_ptr_not_equal(v->r.mem, spare);
	assert_ptr_equal(v->r.parked, spare);
	assert_int_equal(prefault_shared(spare, v->r.mem_size), 0);
	replica_spare_ready(&v->r, 1);
	assert_null(v->r.parked);
	assert_int_equal(v->r.parked_fd, -1);
	assert_null(v->r.filling);
	assert_null(v->r.spare); /* taken by the first sync */
	env_free(v);

	/* A failed prefault drops it; the sync makes its own memory. */
	v = env_new(400);
	assert_int_equal(replica_spare_make(&v->r, err, sizeof(err)), 0);
	replica_spare_ready(&v->r, 0);
	assert_null(v->r.spare);
	assert_int_equal(v->r.spare_fd, -1);
	full_sync(v, 20, 1, 2);
	env_free(v);
}

/* ---- main --------------------------------------------------------------- */

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_state_blob_is_valid),
		cmocka_unit_test(test_happy_path),
		cmocka_unit_test(test_stage_reserved),
		cmocka_unit_test(test_empty_epochs),
		cmocka_unit_test(test_hello_mismatch),
		cmocka_unit_test(test_before_hello),
		cmocka_unit_test(test_first_epoch_not_precopy),
		cmocka_unit_test(test_outside_epoch),
		cmocka_unit_test(test_refuse_then_epoch),
		cmocka_unit_test(test_terms),
		cmocka_unit_test(test_console_empty_chunk),
		cmocka_unit_test(test_console_flood),
		cmocka_unit_test(test_console_never_released),
		cmocka_unit_test(test_console_placed_after_resync),
		cmocka_unit_test(test_epoch_frames),
		cmocka_unit_test(test_epoch_pages),
		cmocka_unit_test(test_lost_mid_epoch),
		cmocka_unit_test(test_sync_dies_halfway),
		cmocka_unit_test(test_spare),
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest tests[sizeof(fixed) / sizeof(fixed[0]) + NATTACKS];
	char names[NATTACKS][64];

	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < NATTACKS; i++) {
		snprintf(names[i], sizeof(names[i]), "attack_%s",
			 attacks[i].name);
		tests[nfixed + i] = (struct CMUnitTest){
			.name = names[i],
			.test_func = run_attack,
			.initial_state = (void *)&attacks[i],
		};
	}
	return _cmocka_run_group_tests("receiver", tests, nfixed + NATTACKS,
				       NULL, NULL);
}
