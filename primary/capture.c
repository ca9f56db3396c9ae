/*
 * Stop-and-copy of one epoch (see capture.h). The pause must grow with the
 * number of dirty pages, not with guest memory: the harvest is a bitmap
 * exchange, the walk skips clean 64-page words, and the copy touches only
 * dirty pages, into staging memory that is kept (and prefaulted) between
 * epochs so no page fault lands inside the pause.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "prefault.h"

int staged_init(struct staged *s)
{
	memset(s, 0, sizeof(*s));
	s->state = malloc(VM_STATE_MAX);
	return s->state ? 0 : -ENOMEM;
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

static void reset(struct staged *s, uint64_t epoch, int precopy)
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
	s->sent_pages = s->raw_bytes = s->wire_bytes = 0;
	s->err = 0;
	s->pause_ns = s->harvest_ns = s->copy_ns = 0;
}

/*
 * The harvest proper, guest stopped. carry holds dirty bits of an earlier
 * capture that failed after its harvest: they join this one, and go back
 * into carry if this one fails too, so that no dirty bit is ever lost.
 */
static long harvest(struct vm *vm, uint64_t *bitmap, uint64_t *carry)
{
	size_t w, nwords = vm_bitmap_bytes(vm) / 8;
	long dirty = vm_harvest_dirty(vm, bitmap);

	if (dirty < 0)
		return dirty;
	for (w = 0; w < nwords; w++) {
		if (carry[w]) {
			dirty += __builtin_popcountll(carry[w] & ~bitmap[w]);
			bitmap[w] |= carry[w];
			carry[w] = 0;
		}
	}
	return dirty;
}

static void give_back(struct vm *vm, const uint64_t *bitmap, uint64_t *carry)
{
	size_t w, nwords = vm_bitmap_bytes(vm) / 8;

	for (w = 0; w < nwords; w++)
		carry[w] |= bitmap[w];
}

int capture_checkpoint(struct vm *vm, struct outbuf *ob, struct copier *cp,
		       uint64_t *bitmap, uint64_t *carry, uint64_t epoch,
		       int stay_paused, struct staged *s)
{
	const uint8_t *mem = vm_mem(vm);
	uint64_t npages = vm_mem_size(vm) / VM_PAGE_SIZE;
	uint64_t t0, t1, t2;
	long dirty;
	int ret, paused;

	reset(s, epoch, 0);
	t0 = now_ns();
	ret = vm_pause(vm);
	paused = ret == 0;
	if (ret && ret != -ESRCH)
		return ret; /* -ESRCH: the guest stopped; capture its end */
	dirty = harvest(vm, bitmap, carry);
	t1 = now_ns();
	if (dirty < 0) {
		ret = (int)dirty;
		goto resume;
	}
	/* Rare: growing the staging area inside the pause. It only grows. */
	ret = staged_reserve(s, (size_t)dirty, 1);
	if (ret)
		goto give_back;
	s->npages = capture_list(bitmap, npages, s->pfns);
	copier_copy(cp, mem, s->pfns, s->npages, s->pages);
	ret = vm_state_save(vm, s->state, &s->state_len);
	if (!ret)
		ret = outbuf_close_epoch(ob, epoch, &s->console_off,
					 &s->console_len);
	t2 = now_ns();
	s->harvest_ns = t1 - t0;
	s->copy_ns = t2 - t1;
give_back:
	if (ret)
		give_back(vm, bitmap, carry);
resume:
	if (paused && !stay_paused) {
		int r = vm_resume(vm);

		if (!ret)
			ret = r;
	}
	s->resumed_ns = now_ns();
	s->pause_ns = s->resumed_ns - t0;
	/* The console bytes travel with the epoch; copied outside the pause.
	 * On failure the epoch is retried: its bytes join the next one. */
	if (!ret) {
		ret = outbuf_copy(ob, s->console_off, s->console_len,
				  &s->console);
		if (ret)
			give_back(vm, bitmap, carry);
	}
	return ret;
}

long capture_harvest(struct vm *vm, uint64_t *bitmap, uint64_t *carry)
{
	long dirty;
	int ret, paused;

	ret = vm_pause(vm);
	paused = ret == 0;
	if (ret && ret != -ESRCH)
		return ret;
	dirty = harvest(vm, bitmap, carry);
	if (paused) {
		ret = vm_resume(vm);
		if (ret) {
			if (dirty >= 0)
				give_back(vm, bitmap, carry);
			return ret;
		}
	}
	return dirty;
}

void staged_set_precopy(struct staged *s, uint64_t epoch, const uint64_t *pfns,
			size_t n)
{
	reset(s, epoch, 1);
	memcpy(s->pfns, pfns, n * sizeof(*pfns));
	s->npages = n;
}

size_t capture_list(const uint64_t *bitmap, uint64_t npages, uint64_t *pfns)
{
	uint64_t w, nwords = (npages + 63) / 64;
	size_t n = 0;

	for (w = 0; w < nwords; w++) {
		uint64_t bits = bitmap[w];

		while (bits) {
			pfns[n++] = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
		}
	}
	return n;
}

size_t capture_list_data(int fd, uint64_t npages, uint64_t *pfns)
{
	off_t end = (off_t)(npages * VM_PAGE_SIZE), off = 0;
	size_t n = 0;

	while (off < end) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;
		uint64_t p;

		if (data < 0)
			break; /* ENXIO: no data after off */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		for (p = (uint64_t)data / VM_PAGE_SIZE;
		     p < ((uint64_t)hole + VM_PAGE_SIZE - 1) / VM_PAGE_SIZE;
		     p++)
			pfns[n++] = p;
		off = hole;
	}
	return n;
}
