/*
 * Fuzz target: a process workload's image manifest and state blob
 * (common/proc/procimg.h), which a backup checks before it rebuilds an
 * image set for CRIU. The first byte picks the parser: even, the manifest
 * (for a space of 1024 data pages); odd, the state blob (for a space of
 * 4096 pages). Properties: no read past the input; a refusal says why on
 * one line; every file of an accepted manifest has a plain name and runs
 * inside the data pages, and the builder makes from the files a manifest
 * that is accepted again and walks to the same files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "procimg.h"

#define DATA_PAGES 1024u

static void rebuild(const uint8_t *m, size_t len)
{
	struct procimg_builder b;
	struct procimg_file f, g;
	size_t pos = 0, pos2 = 0, n;
	uint8_t *buf = malloc(len + 16);
	char why[256] = "";

	FUZZ_CHECK(buf);
	procimg_begin(&b, buf, len + 16);
	while (procimg_next(m, len, &pos, &f)) {
		FUZZ_CHECK(f.name[0] && !strchr(f.name, '/'));
		FUZZ_CHECK(strcmp(f.name, ".") && strcmp(f.name, ".."));
		if (f.kind == PROCIMG_BYTES) {
			FUZZ_CHECK(procimg_add_bytes(&b, f.name, f.data,
						     f.size) == 0);
			continue;
		}
		FUZZ_CHECK(procimg_add_pages(&b, f.name) == 0);
		for (uint32_t r = 0; r < f.nruns; r++) {
			uint32_t slot, pages;

			procimg_run(&f, r, &slot, &pages);
			FUZZ_CHECK(pages &&
				   (uint64_t)slot + pages <= DATA_PAGES);
			for (uint32_t k = 0; k < pages; k++)
				FUZZ_CHECK(procimg_add_slot(&b, slot + k) == 0);
		}
	}
	FUZZ_CHECK(pos == len);
	n = procimg_end(&b);
	/* Runs may merge: never longer than the input. */
	FUZZ_CHECK(n <= len);
	FUZZ_CHECK(procimg_check(buf, n, DATA_PAGES, why, sizeof(why)) == 0);
	pos = 0;
	while (procimg_next(m, len, &pos, &f)) {
		FUZZ_CHECK(procimg_next(buf, n, &pos2, &g));
		FUZZ_CHECK(strcmp(f.name, g.name) == 0 && f.kind == g.kind &&
			   f.size == g.size);
		FUZZ_CHECK(f.kind != PROCIMG_BYTES ||
			   memcmp(f.data, g.data, f.size) == 0);
	}
	FUZZ_CHECK(!procimg_next(buf, n, &pos2, &g));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256] = "";
	uint8_t *copy;
	int err;

	if (size < 1)
		return 0;
	/* An exact-size copy: a read past the input is a sanitizer report. */
	copy = malloc(size - 1 ? size - 1 : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1) {
		struct procimg_state_view v;

		err = procimg_state_parse(copy, size - 1, 4096, &v, why,
					  sizeof(why));
		if (!err)
			FUZZ_CHECK(v.data_pages + procimg_region_pages(4096) ==
					   4096 &&
				   v.len <= procimg_region_pages(4096) *
						    PROCIMG_PAGE_SIZE);
	} else {
		err = procimg_check(copy, size - 1, DATA_PAGES, why,
				    sizeof(why));
		if (!err)
			rebuild(copy, size - 1);
	}
	if (err)
		FUZZ_CHECK(err == -EBADMSG && why[0] && !strchr(why, '\n'));
	free(copy);
	return 0;
}
