/*
 * A process workload's image sets in its page space (docs/process.md):
 * procset_load() takes the files of one CRIU dump into the space (every
 * dumped page into its slot, everything else into the manifest in the
 * image region, procimg.h) and says which pages of the space changed;
 * procset_rebuild() writes the image set a space holds back as files, for
 * CRIU to restore: byte for byte the dump it was loaded from.
 *
 * Reads and writes files (no libuv, never exits): 0 or a negative errno
 * with one line in err.
 */
#ifndef REMORA_PROC_PROCSET_H
#define REMORA_PROC_PROCSET_H

#include <stddef.h>
#include <stdint.h>

#include "pagespace.h"
#include "procimg.h"

struct procset {
	uint8_t *mem; /* the space: npages pages (the workload's memory) */
	uint64_t npages, data_pages;
	struct pagespace ps;
	uint8_t *manifest; /* built here, then compared into the region */
	size_t manifest_cap, manifest_len;
	uint8_t state[PROCIMG_STATE_LEN]; /* the last load's state blob */
	/* Pages of mem whose content a load changed: bits are only ever
	 * set here; the caller clears them once it has staged the pages. */
	uint64_t *changed;
	/* the last load */
	uint64_t dump_bytes; /* bytes of the dump's files */
	uint64_t dump_pages; /* pages it held */
	uint64_t changed_pages;
	uint32_t files;
};

/* A space of mem_size bytes (whole pages, at least 4 MiB). */
int procset_init(struct procset *s, uint64_t mem_size, char *err,
		 size_t errlen);
void procset_destroy(struct procset *s);

/*
 * Loads the dump in dir. Pages whose content changed are copied into mem
 * and marked in s->changed; s->state is the epoch's state blob. On
 * failure (a bad image, more pages than the space holds, a manifest
 * larger than the region) the error says which, and what changed in mem
 * is still marked, so nothing the caller sends later is out of date.
 */
int procset_load(struct procset *s, const char *dir, char *err, size_t errlen);

/*
 * Writes the image set that mem (npages pages) holds according to state
 * into dir (which exists and holds none of its files): the manifest is
 * checked (length, XXH3-64, procimg_check()) before anything is written.
 */
int procset_rebuild(const uint8_t *mem, uint64_t npages, const uint8_t *state,
		    size_t state_len, const char *dir, char *err,
		    size_t errlen);

/* Removes every file in dir (not dir itself; no subdirectories). */
int procset_clear_dir(const char *dir, char *err, size_t errlen);

#endif
