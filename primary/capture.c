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

	staged_begin(s, epoch, 0);
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
	{
		struct vm_hot_stats hs;

		vm_hot_stats(vm, &hs);
		s->hot_pages = hs.now;
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
	s->capture_bytes = s->npages * VM_PAGE_SIZE;
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

long capture_harvest(struct vm *vm, uint64_t *bitmap, uint64_t *carry,
		     int stay_paused)
{
	long dirty;
	int ret, paused;

	ret = vm_pause(vm);
	paused = ret == 0;
	if (ret && ret != -ESRCH)
		return ret;
	dirty = harvest(vm, bitmap, carry);
	if (paused && !stay_paused) {
		ret = vm_resume(vm);
		if (ret) {
			if (dirty >= 0)
				give_back(vm, bitmap, carry);
			return ret;
		}
	}
	return dirty;
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
