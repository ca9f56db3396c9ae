/*
 * The guest heap: first fit over a free list kept in address order, so that
 * free() can merge a block with both neighbours and a heap whose blocks are
 * all freed is one block again. Guests allocate little and rarely (argument
 * copies, working sets), so linear walks are fine; what matters is that big
 * allocations work: an empty heap gives all of itself but one header to one
 * malloc(). The heap is global state because it is the process's heap; the
 * host test re-initialises it per test with remora_heap_init().
 *
 * Every block starts with a 16-byte header and is a multiple of 16 bytes, so
 * payloads are 16-byte aligned. A free block's header links to the next free
 * block; a used block's header holds a tag derived from its address instead,
 * which lets free() and realloc() catch wild pointers and double frees.
 */
#include "libc.h"

struct blk {
	/* Bytes, header included; a multiple of 16. */
	size_t size;
	/* Free: the next free block (at a higher address). Used: the tag. */
	struct blk *next;
};

#define HDR	 sizeof(struct blk)
#define MIN_BLK	 (2 * HDR) /* a split never leaves a block without payload */
#define USED_TAG 0x5553454475736564ull

_Static_assert(sizeof(struct blk) == REMORA_HEAP_OVERHEAD, "header size");

static struct {
	uintptr_t lo, hi; /* the heap is [lo, hi) */
	struct blk *free; /* lowest free block */
} heap;

static struct blk *used_tag(struct blk *b)
{
	return (struct blk *)((uintptr_t)b ^ USED_TAG);
}

void remora_heap_init(void *start, size_t len)
{
	uintptr_t lo = ((uintptr_t)start + HDR - 1) & ~(uintptr_t)(HDR - 1);
	uintptr_t hi = ((uintptr_t)start + len) & ~(uintptr_t)(HDR - 1);

	heap.lo = heap.hi = lo;
	heap.free = NULL;
	if (hi <= lo || hi - lo < MIN_BLK)
		return;
	heap.hi = hi;
	heap.free = (struct blk *)lo;
	heap.free->size = hi - lo;
	heap.free->next = NULL;
}

/* The block size that holds n payload bytes, or 0 if none can. */
static size_t block_size(size_t n)
{
	size_t need;

	if (n > heap.hi - heap.lo)
		return 0;
	need = (n + HDR + HDR - 1) & ~(HDR - 1);
	return need < MIN_BLK ? MIN_BLK : need;
}

/*
 * Takes the first need bytes of the free block b, which *link points to, and
 * leaves the rest (if big enough to be a block) free in its place.
 */
static void *take(struct blk **link, struct blk *b, size_t need)
{
	if (b->size - need >= MIN_BLK) {
		struct blk *rest = (struct blk *)((uintptr_t)b + need);

		rest->size = b->size - need;
		rest->next = b->next;
		*link = rest;
		b->size = need;
	} else {
		*link = b->next;
	}
	b->next = used_tag(b);
	return b + 1;
}

/* The header of a pointer that malloc() returned, or a panic. */
static struct blk *header_of(void *p, const char *who)
{
	struct blk *b = (struct blk *)p - 1;

	if ((uintptr_t)p % HDR || (uintptr_t)b < heap.lo ||
	    (uintptr_t)p >= heap.hi || b->next != used_tag(b) ||
	    b->size < MIN_BLK || b->size > heap.hi - (uintptr_t)b)
		remora_libc_panic(who);
	return b;
}

void *RL(malloc)(size_t n)
{
	size_t need = block_size(n);
	struct blk **link, *b;

	if (!need)
		return NULL;
	for (link = &heap.free; (b = *link); link = &b->next) {
		if (b->size >= need)
			return take(link, b, need);
	}
	return NULL;
}

void *RL(aligned_alloc)(size_t align, size_t n)
{
	size_t need = block_size(n);
	struct blk **link, *b;

	if (!need || (align & (align - 1)) || align > heap.hi - heap.lo)
		return NULL;
	if (align <= HDR)
		return RL(malloc)(n);
	for (link = &heap.free; (b = *link); link = &b->next) {
		uintptr_t start = (uintptr_t)b, end = start + b->size;
		uintptr_t p =
			(start + HDR + align - 1) & ~(uintptr_t)(align - 1);
		struct blk *a;

		/* The bytes before the aligned block must form a block too. */
		if (p - HDR != start && p - HDR - start < MIN_BLK)
			p += align;
		if (p - HDR > end || end - (p - HDR) < need)
			continue;
		if (p - HDR == start)
			return take(link, b, need);
		a = (struct blk *)(p - HDR);
		a->size = end - (p - HDR);
		a->next = b->next;
		b->size = (uintptr_t)a - start;
		b->next = a;
		return take(&b->next, a, need);
	}
	return NULL;
}

void *remora_alloc_pages(size_t n)
{
	if (n > SIZE_MAX / 4096)
		return NULL;
	return RL(aligned_alloc)(4096, n * 4096);
}

void *RL(calloc)(size_t nmemb, size_t size)
{
	size_t n;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &n))
		return NULL;
	p = RL(malloc)(n);
	if (p)
		RL(memset)(p, 0, n);
	return p;
}

/* Returns b to the free list, merging it with free neighbours. */
static void release(struct blk *b)
{
	struct blk *prev = NULL, *next = heap.free;

	while (next && next < b) {
		prev = next;
		next = next->next;
	}
	if (next == b || (prev && (uintptr_t)prev + prev->size > (uintptr_t)b))
		remora_libc_panic("free: block is already free");
	b->next = next;
	if (next && (uintptr_t)b + b->size == (uintptr_t)next) {
		b->size += next->size;
		b->next = next->next;
	}
	if (prev && (uintptr_t)prev + prev->size == (uintptr_t)b) {
		prev->size += b->size;
		prev->next = b->next;
	} else if (prev) {
		prev->next = b;
	} else {
		heap.free = b;
	}
}

void RL(free)(void *p)
{
	if (p)
		release(header_of(p,
				  "free: not a heap pointer (double free?)"));
}

/* Cuts b down to need bytes, freeing the tail if it can be a block. */
static void shrink(struct blk *b, size_t need)
{
	struct blk *tail;

	if (b->size - need < MIN_BLK)
		return;
	tail = (struct blk *)((uintptr_t)b + need);
	tail->size = b->size - need;
	b->size = need;
	release(tail);
}

void *RL(realloc)(void *p, size_t n)
{
	struct blk *b, **link, *f;
	size_t need;
	void *q;

	if (!p)
		return RL(malloc)(n);
	b = header_of(p, "realloc: not a heap pointer");
	if (n == 0) {
		release(b);
		return NULL;
	}
	need = block_size(n);
	if (!need)
		return NULL;
	if (need <= b->size) {
		shrink(b, need);
		return p;
	}
	/* Grow in place when the next block is free and big enough. */
	for (link = &heap.free; (f = *link) && f < b; link = &f->next)
		;
	if (f && (uintptr_t)b + b->size == (uintptr_t)f &&
	    b->size + f->size >= need) {
		*link = f->next;
		b->size += f->size;
		shrink(b, need);
		return p;
	}
	q = RL(malloc)(n);
	if (!q)
		return NULL;
	RL(memcpy)(q, p, b->size - HDR);
	release(b);
	return q;
}
