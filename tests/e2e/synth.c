/*
 * The synthetic workload (synth.h). Its captures do what capture.c does for
 * a VM, in miniature: the epoch's dirty pages are copied into the slot, a
 * vCPU state blob that the backup's state.c accepts is made, and the
 * epoch's console bytes are closed in the output buffer and copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"
#include "fake_epochs.h"
#include "outbuf.h"
#include "synth.h"

void synth_page_fill(uint8_t *p, uint64_t pfn, uint64_t version)
{
	char line[64];
	size_t n, k;

	if (version % 4 == 3) {
		memset(p, 0, SYNTH_PAGE);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "pfn %llu version %llu\n",
			     (unsigned long long)pfn,
			     (unsigned long long)version);
	for (k = 0; k < SYNTH_PAGE; k++)
		p[k] = (uint8_t)line[k % n];
}

static uint8_t *page(struct synth *s, size_t i)
{
	return s->mem + s->pfn[i] * SYNTH_PAGE;
}

/* The guest runs for checkpoint epoch: pages change, ticks are printed. */
static void step(struct synth *s, uint64_t epoch)
{
	char line[32];
	size_t k, i;
	int n;

	for (k = 0; k < SYNTH_CHANGED && k < s->ntracked; k++) {
		i = (size_t)((epoch * SYNTH_CHANGED + k) % s->ntracked);
		s->version[i]++;
		synth_page_fill(page(s, i), s->pfn[i], s->version[i]);
		s->dirty[i] = 1;
	}
	for (k = 0; k < s->ticks_per_epoch; k++) {
		n = snprintf(line, sizeof(line), "tick %llu\n",
			     (unsigned long long)++s->tick);
		outbuf_append(s->sink.ob, (const uint8_t *)line, (size_t)n);
	}
}

static int sy_capture(void *w, unsigned slot, uint64_t epoch, int final)
{
	struct synth *s = w;
	struct staged *st = &s->slots[slot];
	uint64_t t0 = now_ns();
	size_t i, n = 0;
	int ret;

	staged_begin(st, epoch, 0);
	if (!s->paused && !s->held)
		step(s, epoch);
	ret = staged_reserve(st, s->ntracked, 1);
	if (ret)
		return ret;
	for (i = 0; i < s->ntracked; i++)
		if (s->dirty[i]) {
			st->pfns[n] = s->pfn[i];
			memcpy(st->pages + n * SYNTH_PAGE, page(s, i),
			       SYNTH_PAGE);
			n++;
		}
	st->npages = n;
	st->state_len = fake_state_blob(st->state, epoch, FAKE_STATE_OK);
	ret = outbuf_close_epoch(s->sink.ob, epoch, &st->console_off,
				 &st->console_len);
	if (!ret)
		ret = outbuf_copy(s->sink.ob, st->console_off, st->console_len,
				  &st->console);
	if (ret)
		return ret; /* the dirty pages stay dirty: nothing lost */
	memset(s->dirty, 0, sizeof(s->dirty));
	if (final)
		s->paused = 1; /* the last epoch: the guest stays stopped */
	st->resumed_ns = now_ns();
	st->pause_ns = st->copy_ns = st->resumed_ns - t0;
	return 0;
}

static long sy_harvest(void *w)
{
	struct synth *s = w;
	long n = 0;
	size_t i;

	for (i = 0; i < s->ntracked; i++) {
		s->harvested[i] = s->dirty[i];
		n += s->dirty[i];
	}
	memset(s->dirty, 0, sizeof(s->dirty));
	return n;
}

static size_t sy_list(void *w, int all)
{
	struct synth *s = w;
	size_t i, n = 0;

	for (i = 0; i < s->ntracked; i++)
		if (all || s->harvested[i])
			s->round_pfns[n++] = s->pfn[i];
	return n;
}

static void sy_defer(void *w)
{
	struct synth *s = w;
	size_t i;

	for (i = 0; i < s->ntracked; i++)
		s->dirty[i] |= s->harvested[i];
}

static int sy_stage(void *w, unsigned slot, uint64_t epoch, size_t pos,
		    size_t n)
{
	struct synth *s = w;
	struct staged *st = &s->slots[slot];
	int ret = staged_reserve(st, n, 0);

	if (ret)
		return ret;
	staged_set_precopy(st, epoch, s->round_pfns + pos, n);
	return 0;
}

static int sy_reserve(void *w)
{
	struct synth *s = w;
	unsigned i;
	int ret;

	for (i = 0; i < s->nslots; i++) {
		ret = staged_reserve(&s->slots[i], s->ntracked, 1);
		if (ret)
			return ret;
	}
	return 0;
}

static int sy_pause(void *w)
{
	((struct synth *)w)->paused = 1;
	return 0;
}

static int sy_resume(void *w)
{
	((struct synth *)w)->paused = 0;
	return 0;
}

static int sy_hold(void *w, int on)
{
	((struct synth *)w)->held = on;
	return 0;
}

static void sy_bind(void *w, const struct workload_sink *sink)
{
	((struct synth *)w)->sink = *sink;
}

/* The guest "runs" inside each capture (synth.h): nothing to start. */
static int sy_start(void *w)
{
	(void)w;
	return 0;
}

/* The synthetic guest never ends by itself. */
static int sy_ended(void *w, char *why, size_t len)
{
	(void)w;
	snprintf(why, len, "the synthetic guest cannot end");
	return WORKLOAD_EXIT_FAILED;
}

static const char *sy_error(void *w)
{
	(void)w;
	return "synthetic workload";
}

static struct staged *sy_staged(void *w, unsigned slot)
{
	return &((struct synth *)w)->slots[slot];
}

static const uint8_t *sy_memory(void *w)
{
	return ((struct synth *)w)->mem;
}

static const struct workload_ops synth_ops = {
	.bind = sy_bind,
	.start = sy_start,
	.ended = sy_ended,
	.error = sy_error,
	.staged = sy_staged,
	.memory = sy_memory,
	.capture = sy_capture,
	.harvest = sy_harvest,
	.list = sy_list,
	.defer = sy_defer,
	.stage = sy_stage,
	.reserve = sy_reserve,
	.pause = sy_pause,
	.resume = sy_resume,
	.hold = sy_hold,
};

struct workload synth_workload(struct synth *s)
{
	return (struct workload){.ops = &synth_ops,
				 .w = s,
				 .mem_size = s->mem_size,
				 .page_size = SYNTH_PAGE};
}

int synth_init(struct synth *s, uint64_t mem_size, uint64_t ticks_per_epoch,
	       unsigned nslots)
{
	uint64_t npages = mem_size / SYNTH_PAGE;
	unsigned i;
	size_t k;
	int ret;

	memset(s, 0, sizeof(*s));
	s->mem_size = mem_size;
	s->ticks_per_epoch = ticks_per_epoch;
	s->nslots = nslots;
	s->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	s->slots = calloc(nslots, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	for (i = 0; i < nslots; i++) {
		ret = staged_init(&s->slots[i]);
		if (ret)
			return ret;
	}
	s->ntracked = npages < SYNTH_TRACKED ? (size_t)npages : SYNTH_TRACKED;
	for (k = 0; k < s->ntracked; k++) {
		/* The first and the last page included, strictly ascending. */
		s->pfn[k] = s->ntracked > 1
				    ? k * (npages - 1) / (s->ntracked - 1)
				    : 0;
		synth_page_fill(page(s, k), s->pfn[k], 0);
	}
	return 0;
}

void synth_destroy(struct synth *s)
{
	unsigned i;

	for (i = 0; s->slots && i < s->nslots; i++)
		staged_destroy(&s->slots[i]);
	free(s->slots);
	if (s->mem)
		munmap(s->mem, s->mem_size);
	memset(s, 0, sizeof(*s));
}
