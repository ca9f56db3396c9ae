/*
 * A process workload's image set as it travels in the page space
 * (docs/process.md). The space's pages are split in two: data slots
 * [0, data_pages), one dumped page each (pagespace.h), and the image
 * region [data_pages, npages), which holds the manifest: every file of the
 * dump but the pages, plus, for each pages-ID.img, the slots of its pages
 * in file order. The epoch's state blob (the CpuState frame) is a fixed
 * 32-byte record that says how long the manifest is and its XXH3-64, so
 * that a backup can check the set before it restores it.
 *
 * Manifest, little-endian:
 *   u32 PROCIMG_MAGIC, u32 PROCIMG_VERSION, u32 nfiles, u32 0
 *   per file: u8 kind, u8 name length, the name, then
 *     PROCIMG_BYTES: u64 size, the bytes
 *     PROCIMG_PAGES: u32 runs, per run u32 first slot + u32 pages
 * State blob: u32 PROCIMG_STATE_MAGIC, u32 PROCIMG_VERSION,
 *   u64 data_pages, u64 manifest length, u64 manifest XXH3-64.
 *
 * Pure code: no I/O, never exits; procimg_check() and
 * procimg_state_parse() are what a backup runs on bytes a primary sent,
 * and both are fuzzed (tests/fuzz/fuzz_procimg.c).
 */
#ifndef REMORA_PROC_PROCIMG_H
#define REMORA_PROC_PROCIMG_H

#include <stddef.h>
#include <stdint.h>

#define PROCIMG_MAGIC	    0x4d495052u /* "RPIM" */
#define PROCIMG_STATE_MAGIC 0x54535052u /* "RPST" */
#define PROCIMG_VERSION	    1u
#define PROCIMG_STATE_LEN   32u
#define PROCIMG_HEADER_LEN  16u
#define PROCIMG_NAME_MAX    64u
#define PROCIMG_FILES_MAX   65536u
#define PROCIMG_PAGE_SIZE   4096u

enum procimg_kind {
	PROCIMG_BYTES = 1, /* the file's bytes follow */
	PROCIMG_PAGES = 2, /* pages-ID.img: its pages are in data slots */
};

/*
 * The image region's pages for a space of npages: a sixteenth, at least
 * 1 MiB and at most 64 MiB, never more than half the space.
 */
uint64_t procimg_region_pages(uint64_t npages);

/* Building a manifest into buf (cap bytes: the image region). */
struct procimg_builder {
	uint8_t *buf;
	size_t len, cap;
	uint32_t nfiles;
	size_t runs_at; /* PAGES file open: offset of its run count */
	uint32_t nruns;
	uint64_t last; /* its last slot + 1 (0: none yet) */
};

void procimg_begin(struct procimg_builder *b, uint8_t *buf, size_t cap);
/* A file of len bytes. -ENOSPC (buf too small) or -EINVAL (name). */
int procimg_add_bytes(struct procimg_builder *b, const char *name,
		      const uint8_t *data, size_t len);
/* A pages file; then procimg_add_slot() for each page, in file order. */
int procimg_add_pages(struct procimg_builder *b, const char *name);
int procimg_add_slot(struct procimg_builder *b, uint32_t slot);
/* The manifest's length (the header's file count is filled in). */
size_t procimg_end(struct procimg_builder *b);

/* The state blob for a manifest (out: PROCIMG_STATE_LEN bytes). */
void procimg_state(uint8_t *out, uint64_t data_pages, const uint8_t *manifest,
		   size_t len);

struct procimg_state_view {
	uint64_t data_pages;
	uint64_t len;
	uint64_t hash;
};

/*
 * Checks a state blob against a space of npages pages: 0, or -EBADMSG
 * with why. The data pages must be what procimg_region_pages() leaves,
 * and the manifest must fit the region.
 */
int procimg_state_parse(const uint8_t *blob, size_t len, uint64_t npages,
			struct procimg_state_view *v, char *why, size_t whylen);

/* One file of a manifest, as procimg_next() walks it. */
struct procimg_file {
	enum procimg_kind kind;
	char name[PROCIMG_NAME_MAX + 1];
	uint64_t size;	     /* bytes of the file */
	const uint8_t *data; /* BYTES: size bytes */
	const uint8_t *runs; /* PAGES: nruns x (le32 slot, le32 pages) */
	uint32_t nruns;
};

/*
 * Checks a whole manifest: its header, every name (a plain file name:
 * [A-Za-z0-9._-], not "." or "..", no '/'), every size, every run inside
 * the data slots, nothing after the last file. 0 or -EBADMSG with why
 * (which file, what is wrong).
 */
int procimg_check(const uint8_t *m, size_t len, uint64_t data_pages, char *why,
		  size_t whylen);

/*
 * Walks a manifest procimg_check() accepted: *pos starts at 0; returns 1
 * with the next file in *f, 0 at the end.
 */
int procimg_next(const uint8_t *m, size_t len, size_t *pos,
		 struct procimg_file *f);

/* Run i of a PAGES file. */
void procimg_run(const struct procimg_file *f, uint32_t i, uint32_t *slot,
		 uint32_t *pages);

#endif
