/*
 * CRIU pagemap images: parsing and writing (pagemap.h). protobuf-c decodes
 * each entry; everything it cannot check (alignment, order, overlap, the
 * address range, the page count) is checked here before a run is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fail.h"
#include "pagemap.h"
#include "pagemap.pb-c.h"

/* CRIU's pagemap flags (criu/include/pagemap.h). */
#define PE_PARENT  (1u << 0)
#define PE_LAZY	   (1u << 1)
#define PE_PRESENT (1u << 2)

/* Longer entries than this are not pagemap entries (a few varints). */
#define ENTRY_MAX 64u

void pagemap_free(struct pagemap *pm)
{
	free(pm->run);
	memset(pm, 0, sizeof(*pm));
}

/* The next entry's bytes: [*pos, *pos + 4 + n). */
static int next_entry(const uint8_t *img, size_t len, size_t *pos,
		      const uint8_t **p, size_t *n)
{
	uint32_t l;

	if (len - *pos < 4)
		return -EINVAL;
	l = get_le32(img + *pos);
	if (l > ENTRY_MAX || l > len - *pos - 4)
		return -EINVAL;
	*p = img + *pos + 4;
	*n = l;
	*pos += 4 + (size_t)l;
	return 0;
}

static int add_run(struct pagemap *pm, size_t *cap, uint64_t vaddr, uint64_t nr)
{
	struct pagemap_run *r = pm->run;

	/* contiguous with the last run: one run */
	if (pm->nruns && r[pm->nruns - 1].vaddr + r[pm->nruns - 1].nr_pages *
							  CRIU_PAGE_SIZE ==
				 vaddr) {
		r[pm->nruns - 1].nr_pages += nr;
		return 0;
	}
	if (pm->nruns == *cap) {
		size_t c = *cap ? 2 * *cap : 16;

		r = realloc(pm->run, c * sizeof(*r));
		if (!r)
			return -ENOMEM;
		pm->run = r;
		*cap = c;
	}
	pm->run[pm->nruns++] = (struct pagemap_run){vaddr, nr};
	return 0;
}

int pagemap_parse(const uint8_t *img, size_t len, uint64_t max_pages,
		  struct pagemap *pm, char *why, size_t whylen)
{
	const uint8_t *p;
	PagemapHead *head;
	size_t pos = 8, n, cap = 0, idx = 0;
	uint64_t end = 0; /* first address past the last run */
	int err;

	memset(pm, 0, sizeof(*pm));
	if (len < 8 || get_le32(img) != CRIU_IMG_COMMON_MAGIC ||
	    get_le32(img + 4) != CRIU_PAGEMAP_MAGIC)
		return fail_line(why, whylen, -EINVAL,
				 "pagemap: not a CRIU pagemap image (magic)");
	if (next_entry(img, len, &pos, &p, &n))
		return fail_line(why, whylen, -EINVAL,
				 "pagemap: no head entry, or a bad length");
	head = pagemap_head__unpack(NULL, n, p);
	if (!head)
		return fail_line(why, whylen, -EINVAL,
				 "pagemap: the head entry does not decode");
	pm->pages_id = head->pages_id;
	pagemap_head__free_unpacked(head, NULL);

	while (pos < len) {
		PagemapEntry *e;
		uint64_t vaddr, nr;
		uint32_t flags;

		idx++;
		if (next_entry(img, len, &pos, &p, &n)) {
			err = fail_line(
				why, whylen, -EINVAL,
				"pagemap: entry %zu: bad length (or the "
				"image is cut short)",
				idx);
			goto out;
		}
		e = pagemap_entry__unpack(NULL, n, p);
		if (!e) {
			err = fail_line(why, whylen, -EINVAL,
					"pagemap: entry %zu does not decode",
					idx);
			goto out;
		}
		vaddr = e->vaddr;
		nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		flags = e->has_flags ? e->flags : 0;
		if (e->has_in_parent && e->in_parent)
			flags |= PE_PARENT;
		pagemap_entry__free_unpacked(e, NULL);

		/* PE_LAZY only says the pages could be restored lazily (CRIU
		 * sets it on private anonymous memory): with PE_PRESENT they
		 * are in the pages file all the same. */
		if ((flags & ~PE_LAZY) != PE_PRESENT) {
			err = fail_line(why, whylen, -EINVAL,
					"pagemap: entry %zu: flags 0x%x, not a "
					"full dump's (present)",
					idx, flags);
			goto out;
		}
		if (vaddr % CRIU_PAGE_SIZE || nr == 0 ||
		    vaddr >= PAGEMAP_VADDR_END ||
		    nr > (PAGEMAP_VADDR_END - vaddr) / CRIU_PAGE_SIZE) {
			err = fail_line(
				why, whylen, -EINVAL,
				"pagemap: entry %zu: %llu pages at 0x%llx "
				"is not a page-aligned user range",
				idx, (unsigned long long)nr,
				(unsigned long long)vaddr);
			goto out;
		}
		if (vaddr < end) {
			err = fail_line(
				why, whylen, -EINVAL,
				"pagemap: entry %zu at 0x%llx overlaps or "
				"precedes the one before (ends 0x%llx)",
				idx, (unsigned long long)vaddr,
				(unsigned long long)end);
			goto out;
		}
		if (nr > max_pages - pm->npages) {
			err = fail_line(why, whylen, -E2BIG,
					"pagemap: more than %llu pages",
					(unsigned long long)max_pages);
			goto out;
		}
		err = add_run(pm, &cap, vaddr, nr);
		if (err) {
			fail_line(why, whylen, err, "pagemap: out of memory");
			goto out;
		}
		pm->npages += nr;
		end = vaddr + nr * CRIU_PAGE_SIZE;
	}
	return 0;
out:
	pagemap_free(pm);
	return err;
}

static long put_entry(uint8_t *out, size_t cap, size_t *pos,
		      const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	if (*pos > cap || cap - *pos < 4 + n) {
		*pos += 4 + n;
		return -ENOSPC;
	}
	put_le32(out + *pos, (uint32_t)n);
	protobuf_c_message_pack(m, out + *pos + 4);
	*pos += 4 + n;
	return 0;
}

long pagemap_write(const struct pagemap *pm, uint8_t *out, size_t cap,
		   size_t *need)
{
	PagemapHead head = PAGEMAP_HEAD__INIT;
	size_t pos = 8;
	uint64_t end = 0;
	int short_ = cap < 8;

	for (size_t i = 0; i < pm->nruns; i++) {
		const struct pagemap_run *r = &pm->run[i];

		if (r->vaddr % CRIU_PAGE_SIZE || !r->nr_pages ||
		    r->vaddr < end || r->vaddr >= PAGEMAP_VADDR_END ||
		    r->nr_pages >
			    (PAGEMAP_VADDR_END - r->vaddr) / CRIU_PAGE_SIZE)
			return -EINVAL;
		end = r->vaddr + r->nr_pages * CRIU_PAGE_SIZE;
	}
	if (!short_) {
		put_le32(out, CRIU_IMG_COMMON_MAGIC);
		put_le32(out + 4, CRIU_PAGEMAP_MAGIC);
	}
	head.pages_id = pm->pages_id;
	if (put_entry(out, cap, &pos, &head.base))
		short_ = 1;
	for (size_t i = 0; i < pm->nruns; i++) {
		PagemapEntry e = PAGEMAP_ENTRY__INIT;

		e.vaddr = pm->run[i].vaddr;
		e.has_nr_pages = 1;
		e.nr_pages = pm->run[i].nr_pages;
		e.has_flags = 1;
		e.flags = PE_PRESENT;
		if (put_entry(out, cap, &pos, &e.base))
			short_ = 1;
	}
	if (need)
		*need = pos;
	return short_ ? -ENOSPC : (long)pos;
}
