/*
 * CRIU's pagemap images (pagemap-PID.img): which virtual pages of one
 * process a dump's pages-ID.img holds, in order. remora reads them after
 * every dump of a process workload to place each page in its page space
 * (pagespace.h), and the backup rebuilds pages-ID.img from them and the
 * replica's memory at promotion.
 *
 * The file: le32 IMG_COMMON_MAGIC, le32 PAGEMAP_MAGIC, then entries, each
 * le32 length + that many bytes of protobuf (proto/criu/pagemap.proto): one
 * pagemap_head (pages_id: which pages-ID.img), then pagemap_entry per run
 * of pages. Only what a full dump writes is accepted: runs of present pages
 * (PE_PRESENT, perhaps with PE_LAZY, which a full dump sets on private
 * anonymous memory as a hint), page aligned, ascending and not
 * overlapping. Runs in_parent or parent, or lazy and not present
 * (incremental or lazy-pages dumps, which remora does not ask for), are
 * refused.
 *
 * Pure code (docs/design.md §9): no I/O, never exits; fuzzed by
 * tests/fuzz/fuzz_pagemap.c.
 */
#ifndef REMORA_PROC_PAGEMAP_H
#define REMORA_PROC_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#define CRIU_IMG_COMMON_MAGIC 0x54564319u
#define CRIU_PAGEMAP_MAGIC    0x56084025u
#define CRIU_PAGE_SIZE	      4096u
/* x86-64 user space with 4-level page tables: addresses below 2^47. */
#define PAGEMAP_VADDR_END (1ull << 47)

struct pagemap_run {
	uint64_t vaddr;	   /* page aligned */
	uint64_t nr_pages; /* > 0 */
};

struct pagemap {
	uint32_t pages_id;	 /* pages-ID.img */
	struct pagemap_run *run; /* ascending, not overlapping */
	size_t nruns;
	uint64_t npages; /* sum of nr_pages: pages-ID.img's pages */
};

/*
 * Parses img (len bytes) into *pm (its runs malloc'ed; pagemap_free). At
 * most max_pages pages in all (-E2BIG past it). Returns 0, or -EINVAL with
 * why (one line: which entry and what is wrong), or -ENOMEM.
 */
int pagemap_parse(const uint8_t *img, size_t len, uint64_t max_pages,
		  struct pagemap *pm, char *why, size_t whylen);
void pagemap_free(struct pagemap *pm);

/*
 * The image for pm (what a dump of those runs would write): for tests and
 * tools. Returns the bytes written, or -ENOSPC (out too small; *need says
 * how much), -EINVAL (runs not valid as pagemap_parse would check).
 */
long pagemap_write(const struct pagemap *pm, uint8_t *out, size_t cap,
		   size_t *need);

#endif
