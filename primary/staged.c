/*
 * Staged epochs (staged.h): their memory, reserved and prefaulted outside
 * any pause.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "prefault.h"
#include "staged.h"

int staged_init(struct staged *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->state = malloc(VM_STATE_MAX);
	return s->state ? 0 : -ENOMEM;
}

static void free_retired(struct staged *s)
{
	while (s->retired) {
		struct staged_retired *r = s->retired;

		s->retired = r->next;
		free(r->buf);
		free(r);
	}
}

void staged_destroy(struct staged *s)
{
	if (s->pages)
		munmap(s->pages, s->pages_bytes);
	free(s->pfns);
	free(s->state);
	free(s->console);
	free(s->out);
	free(s->frame_off);
	free(s->frame_len);
	free_retired(s);
	pthread_mutex_destroy(&s->mu);
	memset(s, 0, sizeof(*s));
}

/*
 * Page copies live in 2 MiB-aligned, transparent-huge-page backed memory,
 * populated when made: copying into it inside the pause then takes neither
 * a page fault nor (mostly) a TLB miss on the destination side.
 */
static uint8_t *pages_alloc(size_t npages, size_t *bytes)
{
	const size_t huge = 2u << 20;
	size_t len = (npages * VM_PAGE_SIZE + huge - 1) / huge * huge;
	uint8_t *raw, *p;

	raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (uint8_t *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (p + len < raw + len + huge)
		munmap(p + len, (size_t)(raw + len + huge - (p + len)));
	madvise(p, len, MADV_HUGEPAGE);
	if (prefault(p, len)) {
		munmap(p, len);
		return NULL;
	}
	*bytes = len;
	return p;
}

int staged_reserve(struct staged *s, size_t n, int copies)
{
	size_t cap, bytes;
	uint64_t *pfns;
	uint8_t *pages;

	if (n > s->cap) {
		cap = s->cap ? s->cap : 256;
		while (cap < n)
			cap *= 2;
		pfns = realloc(s->pfns, cap * sizeof(*pfns));
		if (!pfns)
			return -ENOMEM;
		s->pfns = pfns;
		s->cap = cap;
		s->grown = 1;
	}
	if (copies && n * VM_PAGE_SIZE > s->pages_bytes) {
		/* Rare, and then inside a pause: grow with room to spare. */
		pages = pages_alloc(n + n / 2, &bytes);
		if (!pages)
			return -ENOMEM;
		if (s->pages)
			munmap(s->pages, s->pages_bytes);
		s->pages = pages;
		s->pages_bytes = bytes;
		s->grown = 1;
	}
	return 0;
}

int staged_reserve_output(struct staged *s, size_t n)
{
	/* The frames of n pages, stored (incompressible) or not, and some
	 * room for state and console. */
	size_t bytes = n * (VM_PAGE_SIZE + 64) + (1u << 20);
	uint8_t *out;

	if (bytes <= s->out_cap)
		return 0;
	out = realloc(s->out, bytes);
	if (!out)
		return -ENOMEM;
	s->out = out;
	s->out_cap = bytes;
	return prefault(out, bytes);
}

int staged_grow_output(struct staged *s, size_t cap)
{
	struct staged_retired *r = malloc(sizeof(*r));
	uint8_t *out = malloc(cap);

	if (!r || !out) {
		free(r);
		free(out);
		return -ENOMEM;
	}
	if (s->out_len)
		memcpy(out, s->out, s->out_len);
	pthread_mutex_lock(&s->mu);
	if (s->out) {
		r->buf = s->out;
		r->next = s->retired;
		s->retired = r;
		r = NULL;
	}
	s->out = out;
	s->out_cap = cap;
	pthread_mutex_unlock(&s->mu);
	free(r);
	return 0;
}

void staged_begin(struct staged *s, uint64_t epoch, int precopy)
{
	s->epoch = epoch;
	s->precopy = precopy;
	s->npages = 0;
	s->state_len = 0;
	free(s->console);
	s->console = NULL;
	s->console_len = 0;
	s->console_off = 0;
	s->out_len = 0;
	s->nframes = 0;
	s->ready = s->queued = 0;
	free_retired(s); /* its frames were written */
	s->sent_pages = s->raw_bytes = s->wire_bytes = 0;
	s->err = 0;
	s->pause_ns = s->harvest_ns = s->copy_ns = 0;
	s->capture_bytes = 0;
	s->grown = 0;
	s->hot_pages = 0;
}

void staged_set_precopy(struct staged *s, uint64_t epoch, const uint64_t *pfns,
			size_t n)
{
	staged_begin(s, epoch, 1);
	memcpy(s->pfns, pfns, n * sizeof(*pfns));
	s->npages = n;
}
