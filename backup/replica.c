/*
 * The replica and its staging area (see replica.h). Decoding happens at
 * batch arrival, into staging, against the page the replica (or the sync's
 * new replica) holds: that is the copy the primary's encoder used as the
 * base, because epochs arrive and are applied in order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bytes.h"
#include "codec.h"
#include "hash.h"
#include "prefault.h"
#include "pack.h"
#include "ram.h"
#include "replica.h"
#include "snapshot.h"
#include "state.h"
#include "vm.h"

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* A zeroed memfd of the replica's size and backing, mapped shared. */
static int make_mem(const struct replica *r, int *fd, uint8_t **mem,
		    const char *what, char *err, size_t errlen)
{
	char why[200];
	int ret;

	ret = ram_make(r->mem_size, r->hugetlb, "remora-replica", fd, mem, why,
		       sizeof(why));
	if (ret)
		return fail(err, errlen, ret, "%s: %s", what, why);
	return 0;
}

int replica_init(struct replica *r, uint64_t mem_size, int hugetlb, char *err,
		 size_t errlen)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = r->next_fd = r->spare_fd = r->parked_fd = -1;
	r->mem_size = mem_size;
	r->npages = mem_size / VM_PAGE_SIZE;
	r->console_max = mem_size;
	r->hugetlb = hugetlb;
	ret = make_mem(r, &r->fd, &r->mem, "replica memory", err, errlen);
	/* A hugetlb backup holds twice memory (a sync builds the next
	 * replica beside this one): both reserved now, so that a short
	 * pool is refused at start, not at the first sync. */
	if (!ret && hugetlb)
		ret = make_mem(r, &r->spare_fd, &r->spare,
			       "replica memory for the first sync", err,
			       errlen);
	if (ret) {
		ram_drop(r->mem_size, &r->fd, &r->mem);
		return ret;
	}
	r->state = malloc(VM_STATE_MAX);
	r->stg.state = malloc(VM_STATE_MAX);
	r->stg.seen = calloc(1, (r->npages + 63) / 64 * 8);
	r->stg.hash = XXH3_createState();
	r->scratch_cap = PACK_MAX_BODY;
	r->scratch = malloc(r->scratch_cap);
	if (!r->state || !r->stg.state || !r->stg.seen || !r->stg.hash ||
	    !r->scratch) {
		replica_destroy(r);
		return fail(err, errlen, -ENOMEM, "replica: out of memory");
	}
	return 0;
}

void replica_destroy(struct replica *r)
{
	ram_drop(r->mem_size, &r->fd, &r->mem);
	ram_drop(r->mem_size, &r->next_fd, &r->next);
	ram_drop(r->mem_size, &r->spare_fd, &r->spare);
	ram_drop(r->mem_size, &r->parked_fd, &r->parked);
	free(r->state);
	free(r->tail);
	free(r->stg.pfns);
	if (r->stg.pages)
		munmap(r->stg.pages, r->stg.pages_cap * VM_PAGE_SIZE);
	free(r->stg.seen);
	if (r->stg.hash)
		XXH3_freeState(r->stg.hash);
	free(r->stg.state);
	free(r->stg.console);
	free(r->scratch);
	memset(r, 0, sizeof(*r));
	r->fd = r->next_fd = r->spare_fd = r->parked_fd = -1;
}

int replica_spare_make(struct replica *r, char *err, size_t errlen)
{
	if (r->spare)
		return 0;
	return make_mem(r, &r->spare_fd, &r->spare, "spare replica memory", err,
			errlen);
}

uint8_t *replica_spare_fill(struct replica *r)
{
	r->filling = r->spare;
	return r->spare;
}

/* Unmaps memory of r's, unless a worker still fills it: then it is parked
 * until replica_spare_ready(). */
static void drop(struct replica *r, int *fd, uint8_t **mem)
{
	if (*mem && *mem == r->filling) {
		r->parked_fd = *fd;
		r->parked = *mem;
		*fd = -1;
		*mem = NULL;
		return;
	}
	ram_drop(r->mem_size, fd, mem);
}

void replica_spare_ready(struct replica *r, int ok)
{
	r->filling = NULL;
	ram_drop(r->mem_size, &r->parked_fd, &r->parked);
	if (!ok)
		ram_drop(r->mem_size, &r->spare_fd, &r->spare);
}

int replica_sync_begin(struct replica *r, char *err, size_t errlen)
{
	replica_discard(r);
	drop(r, &r->next_fd, &r->next);
	if (r->spare) {
		r->next_fd = r->spare_fd;
		r->next = r->spare;
		r->spare_fd = -1;
		r->spare = NULL;
		return 0;
	}
	return make_mem(r, &r->next_fd, &r->next, "sync replica memory", err,
			errlen);
}

/* Where staged pages apply: the sync's new replica while there is one. */
static uint8_t *target(struct replica *r)
{
	return r->next ? r->next : r->mem;
}

/* Empties staging (after a commit, or to throw an epoch away). */
static void reset_stage(struct replica *r)
{
	struct replica_stage *s = &r->stg;
	size_t i;

	/* Clearing only the bits set keeps this cheap for big guests. */
	for (i = 0; i < s->n; i++)
		s->seen[s->pfns[i] / 64] = 0;
	s->open = 0;
	s->n = 0;
	s->state_len = 0;
	s->console_len = 0;
	s->console_seen = 0;
}

void replica_discard(struct replica *r)
{
	struct replica_stage *s = &r->stg;

	/* A pre-copy epoch decodes straight into the sync's new replica:
	 * thrown away half-way, it leaves that replica unusable. The current
	 * one is untouched, and the next sync starts a new one. */
	if (s->open && s->precopy && s->n)
		drop(r, &r->next_fd, &r->next);
	reset_stage(r);
}

int replica_epoch_begin(struct replica *r, uint64_t epoch, int precopy,
			char *err, size_t errlen)
{
	struct replica_stage *s = &r->stg;

	replica_discard(r);
	if (precopy && !r->next)
		return fail(err, errlen, -EPROTO,
			    "epoch %llu: pre-copy epoch outside a sync",
			    (unsigned long long)epoch);
	s->open = 1;
	s->epoch = epoch;
	s->precopy = precopy;
	XXH3_64bits_reset(s->hash);
	return 0;
}

/* Room for n pages (n <= max, the guest's pages: never more than that). */
static int stage_reserve(struct replica_stage *s, size_t n, int pages_too,
			 size_t max)
{
	size_t cap = s->cap ? s->cap : 1024;
	uint64_t *pfns;
	uint8_t *pages;

	if (n <= s->cap && (!pages_too || s->pages_cap >= n))
		return 0;
	while (cap < n)
		cap *= 2;
	if (cap > max)
		cap = max;
	if (cap > s->cap) {
		pfns = realloc(s->pfns, cap * sizeof(*pfns));
		if (!pfns)
			return -ENOMEM;
		s->pfns = pfns;
		s->cap = cap;
	}
	if (!pages_too || s->pages_cap >= n)
		return 0;
	pages = mmap(NULL, cap * VM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return -ENOMEM;
	madvise(pages, cap * VM_PAGE_SIZE, MADV_HUGEPAGE);
	if (s->pages) {
		memcpy(pages, s->pages, s->n * VM_PAGE_SIZE);
		munmap(s->pages, s->pages_cap * VM_PAGE_SIZE);
	}
	s->pages = pages;
	s->pages_cap = cap;
	return 0;
}

int replica_stage_reserve(struct replica *r, uint64_t bytes, char *err,
			  size_t errlen)
{
	struct replica_stage *s = &r->stg;
	size_t pages = bytes / VM_PAGE_SIZE < r->npages
			       ? (size_t)(bytes / VM_PAGE_SIZE)
			       : (size_t)r->npages;

	if (stage_reserve(s, pages, 1, (size_t)r->npages) ||
	    prefault(s->pages, s->pages_cap * VM_PAGE_SIZE))
		return fail(err, errlen, -ENOMEM,
			    "staging for an epoch of %zu pages "
			    "(replication.max_epoch_size): out of memory",
			    pages);
	return 0;
}

int replica_add_batch(struct replica *r, const uint8_t *batch, size_t len,
		      char *err, size_t errlen)
{
	struct replica_stage *s = &r->stg;
	struct pack_limits lim = {
		.page_size = VM_PAGE_SIZE,
		.max_pfn = r->npages,
		.max_entries = PACK_MAX_ENTRIES,
	};
	uint8_t *base = target(r);
	size_t had;
	struct pack_reader rd;
	struct pack_entry e;
	const char *why = NULL;
	uint8_t le[8];
	int ret;

	if (!s->open)
		return fail(err, errlen, -EPROTO,
			    "page batch outside an epoch");
	ret = pack_open(&rd, batch, len, &lim, r->scratch, r->scratch_cap,
			&why);
	if (ret)
		return fail(err, errlen, ret, "epoch %llu: bad page batch: %s",
			    (unsigned long long)s->epoch,
			    why ? why : strerror(-ret));
	/* Each page at most once per epoch: no more than the guest has. */
	if (s->n + rd.count > r->npages)
		return fail(
			err, errlen, -EBADMSG,
			"epoch %llu: %zu pages and a batch of %u, more than "
			"the guest's %llu pages: a page is sent twice",
			(unsigned long long)s->epoch, s->n, rd.count,
			(unsigned long long)r->npages);
	had = s->pages_cap;
	ret = stage_reserve(s, s->n + rd.count, !s->precopy, r->npages);
	if (ret)
		return fail(err, errlen, ret, "epoch %llu: out of memory",
			    (unsigned long long)s->epoch);
	if (s->pages_cap != had)
		s->grown++; /* past what replica_stage_reserve() made */
	while (pack_next(&rd, &e) == 1) {
		/* A checkpoint is staged and applied at its commit; a pre-copy
		 * epoch goes straight into the sync's new replica, which
		 * nobody runs before a checkpoint has committed over it. */
		uint8_t *page = s->precopy ? base + e.pfn * VM_PAGE_SIZE
					   : s->pages + s->n * VM_PAGE_SIZE;

		if (s->seen[e.pfn / 64] & (1ull << (e.pfn % 64))) {
			/* The epoch is void: replica_discard() clears. */
			return fail(err, errlen, -EBADMSG,
				    "epoch %llu: page %llu sent twice",
				    (unsigned long long)s->epoch,
				    (unsigned long long)e.pfn);
		}
		/* Only a delta needs the old page; ZERO and RAW replace it
		 * (and reading a fresh replica's page would allocate it). */
		if (e.kind == CODEC_DELTA && !s->precopy)
			memcpy(page, base + e.pfn * VM_PAGE_SIZE, VM_PAGE_SIZE);
		/* pack_open() validated every payload: this cannot fail. */
		ret = codec_decode(page, VM_PAGE_SIZE, e.kind, e.payload,
				   e.len);
		if (ret)
			return fail(err, errlen, ret,
				    "epoch %llu: page %llu does not decode",
				    (unsigned long long)s->epoch,
				    (unsigned long long)e.pfn);
		s->seen[e.pfn / 64] |= 1ull << (e.pfn % 64);
		s->pfns[s->n++] = e.pfn;
		put_le64(le, e.pfn);
		hash_update(s->hash, le, 8);
		hash_update(s->hash, page, VM_PAGE_SIZE);
	}
	return 0;
}

int replica_set_state(struct replica *r, const uint8_t *blob, size_t len,
		      char *err, size_t errlen)
{
	struct replica_stage *s = &r->stg;
	struct vm_state_view v;
	char why[256];

	if (!s->open || s->precopy)
		return fail(err, errlen, -EPROTO,
			    "vCPU state outside a checkpoint epoch");
	if (s->state_len)
		return fail(err, errlen, -EPROTO,
			    "epoch %llu: vCPU state sent twice",
			    (unsigned long long)s->epoch);
	if (len > VM_STATE_MAX ||
	    (r->check_state
		     ? r->check_state(blob, len, r->mem_size, why, sizeof(why))
		     : vm_state_parse(blob, len, &v, why, sizeof(why))))
		return fail(err, errlen, -EBADMSG,
			    "epoch %llu: bad workload state: %s",
			    (unsigned long long)s->epoch,
			    len > VM_STATE_MAX ? "too long" : why);
	memcpy(s->state, blob, len);
	s->state_len = len;
	return 0;
}

/*
 * A buffer's next capacity for need bytes: doubling from 4 KiB, but not
 * past max (the bound on the bytes it holds), so that the bound holds for
 * the memory too.
 */
static size_t grow_cap(size_t cap, size_t need, uint64_t max)
{
	if (!cap)
		cap = 4096;
	while (cap < need)
		cap *= 2;
	return cap > max && max >= need ? (size_t)max : cap;
}

int replica_add_console(struct replica *r, uint64_t offset, const uint8_t *data,
			size_t len, char *err, size_t errlen)
{
	struct replica_stage *s = &r->stg;

	if (!s->open || s->precopy)
		return fail(err, errlen, -EPROTO,
			    "console output outside a checkpoint epoch");
	if (s->console_seen && offset != s->console_off + s->console_len)
		return fail(
			err, errlen, -EBADMSG,
			"epoch %llu: console bytes at %llu, expected %llu",
			(unsigned long long)s->epoch,
			(unsigned long long)offset,
			(unsigned long long)(s->console_off + s->console_len));
	/* Both are held at once until the commit: they share the bound. A
	 * primary that reports its releases keeps at most
	 * max_inflight_epochs epochs' output in the tail. */
	if ((uint64_t)r->tail_len + s->console_len + len > r->console_max)
		return fail(err, errlen, -ENOBUFS,
			    "epoch %llu: console output held for the primary "
			    "would pass %llu MiB, the guest memory size "
			    "(workload.memory): %zu bytes of this epoch, %zu "
			    "more in this frame, %zu of applied epochs it has "
			    "not reported released (Heartbeat.released), from "
			    "byte %llu",
			    (unsigned long long)s->epoch,
			    (unsigned long long)(r->console_max >> 20),
			    s->console_len, len, r->tail_len,
			    (unsigned long long)r->tail_off);
	if (s->console_len + len > s->console_cap) {
		size_t cap = grow_cap(s->console_cap, s->console_len + len,
				      r->console_max);
		uint8_t *p = realloc(s->console, cap);

		if (!p)
			return fail(err, errlen, -ENOMEM, "out of memory");
		s->console = p;
		s->console_cap = cap;
	}
	if (!s->console_seen)
		s->console_off = offset;
	s->console_seen = 1;
	if (len)
		memcpy(s->console + s->console_len, data, len);
	s->console_len += len;
	return 0;
}

/* Room for len more tail bytes, made before a commit's one step (within
 * console_max: replica_add_console() checked). */
static int tail_reserve(struct replica *r, size_t len)
{
	size_t need = r->tail_len + len, cap;
	uint8_t *p;

	if (need <= r->tail_cap)
		return 0;
	cap = grow_cap(r->tail_cap, need, r->console_max);
	p = realloc(r->tail, cap);
	if (!p)
		return -ENOMEM;
	r->tail = p;
	r->tail_cap = cap;
	return 0;
}

static void tail_drop(struct replica *r, size_t n)
{
	if (n < r->tail_len) /* r->tail is NULL until something is kept */
		memmove(r->tail, r->tail + n, r->tail_len - n);
	r->tail_len -= n;
	r->tail_off += n;
}

/* Cannot fail: tail_reserve() made the room. */
static void tail_append(struct replica *r, uint64_t off, const uint8_t *data,
			size_t len)
{
	if (r->tail_off + r->tail_len != off) {
		/* Not where the tail ends (the first epoch, or a gap the
		 * primary's offsets say it released): start over here. */
		r->tail_len = 0;
		r->tail_off = off;
	}
	if (len)
		memcpy(r->tail + r->tail_len, data, len);
	r->tail_len += len;
}

void replica_console_released(struct replica *r, uint64_t offset)
{
	if (offset <= r->tail_off)
		return;
	/* Released past the replica's end (a primary that ran unprotected):
	 * the end stays where the replica is, so promotion can see it. */
	if (offset > r->tail_off + r->tail_len)
		offset = r->tail_off + r->tail_len;
	tail_drop(r, (size_t)(offset - r->tail_off));
}

uint64_t replica_console_end(const struct replica *r)
{
	return r->tail_off + r->tail_len;
}

int replica_can_take_over(const struct replica *r, uint64_t released, char *why,
			  size_t len)
{
	if (!r->epoch) {
		snprintf(why, len,
			 "this backup never held a consistent replica: "
			 "nothing to take over");
		return -EAGAIN;
	}
	if (released > replica_console_end(r)) {
		snprintf(why, len,
			 "the primary released console output up to byte "
			 "%llu and the replica (epoch %llu) ends at %llu: it "
			 "ran unprotected after losing this backup, and "
			 "promoting would repeat output",
			 (unsigned long long)released,
			 (unsigned long long)r->epoch,
			 (unsigned long long)replica_console_end(r));
		return -ESTALE;
	}
	return 0;
}

int replica_commit(struct replica *r, uint64_t epoch, uint64_t pages,
		   uint64_t checksum, char *err, size_t errlen)
{
	struct replica_stage *s = &r->stg;
	uint64_t sum;
	uint8_t *dst;
	size_t i;
	int ret = 0;

	if (!s->open || s->epoch != epoch)
		ret = fail(err, errlen, -EPROTO,
			   "commit of epoch %llu, "
			   "which is not open",
			   (unsigned long long)epoch);
	else if (!s->precopy && !s->state_len)
		ret = fail(err, errlen, -EBADMSG,
			   "epoch %llu: committed without vCPU state",
			   (unsigned long long)epoch);
	else if (pages != s->n)
		ret = fail(err, errlen, -EBADMSG,
			   "epoch %llu: %llu pages announced, %zu received",
			   (unsigned long long)epoch, (unsigned long long)pages,
			   s->n);
	if (ret) {
		replica_discard(r);
		return ret;
	}
	if (!s->precopy)
		hash_update(s->hash, s->state, s->state_len);
	if (s->console_seen) { /* every checkpoint, perhaps empty */
		uint8_t le[8];

		put_le64(le, s->console_off);
		hash_update(s->hash, le, sizeof(le));
		if (s->console_len)
			hash_update(s->hash, s->console, s->console_len);
	}
	sum = XXH3_64bits_digest(s->hash);
	if (sum != checksum) {
		replica_discard(r);
		return fail(err, errlen, -EBADMSG,
			    "epoch %llu: checksum %016llx, primary says "
			    "%016llx",
			    (unsigned long long)epoch, (unsigned long long)sum,
			    (unsigned long long)checksum);
	}
	if (!s->precopy && tail_reserve(r, s->console_len)) {
		replica_discard(r);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}

	/* The one step: nothing below can fail. */
	dst = target(r);
	for (i = 0; !s->precopy && i < s->n; i++)
		memcpy(dst + s->pfns[i] * VM_PAGE_SIZE,
		       s->pages + i * VM_PAGE_SIZE, VM_PAGE_SIZE);
	r->applied_pages += s->n;
	if (!s->precopy) {
		if (r->next) {
			drop(r, &r->fd, &r->mem);
			r->fd = r->next_fd;
			r->mem = r->next;
			r->next_fd = -1;
			r->next = NULL;
		}
		memcpy(r->state, s->state, s->state_len);
		r->state_len = s->state_len;
		if (s->console_seen)
			tail_append(r, s->console_off, s->console,
				    s->console_len);
		r->epoch = epoch;
	}
	reset_stage(r);
	return 0;
}

int replica_write_snapshot(const struct replica *r, const char *path, char *err,
			   size_t errlen)
{
	if (!r->epoch)
		return fail(err, errlen, -EAGAIN,
			    "no consistent replica yet (no checkpoint epoch "
			    "applied)");
	return snapshot_write(path, r->mem, r->mem_size, r->state, r->state_len,
			      err, errlen);
}
