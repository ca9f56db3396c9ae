/*
 * Fuzz target: CRIU pagemap images (common/proc/pagemap.h), read by the
 * primary after every dump of a process workload and by the backup when it
 * rebuilds an image set. Properties: no read past the input; a refusal says
 * why on one line; what is accepted is page aligned, ascending, within user
 * space and as many pages as it says, and writes back to an image that
 * parses to the same runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pagemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pagemap pm, again;
	char why[256] = "";
	uint64_t total = 0, end = 0;
	uint8_t *buf;
	size_t need = 0;
	long n;
	int err;

	err = pagemap_parse(data, size, 1u << 20, &pm, why, sizeof(why));
	if (err) {
		FUZZ_CHECK(err == -EINVAL || err == -E2BIG || err == -ENOMEM);
		FUZZ_CHECK(why[0] && !strchr(why, '\n'));
		FUZZ_CHECK(!pm.run && !pm.nruns);
		return 0;
	}
	for (size_t i = 0; i < pm.nruns; i++) {
		FUZZ_CHECK(pm.run[i].vaddr % CRIU_PAGE_SIZE == 0);
		FUZZ_CHECK(pm.run[i].nr_pages > 0);
		FUZZ_CHECK(pm.run[i].vaddr >= end);
		end = pm.run[i].vaddr + pm.run[i].nr_pages * CRIU_PAGE_SIZE;
		FUZZ_CHECK(end <= PAGEMAP_VADDR_END);
		total += pm.run[i].nr_pages;
	}
	FUZZ_CHECK(total == pm.npages && total <= (1u << 20));
	FUZZ_CHECK(pagemap_write(&pm, NULL, 0, &need) == -ENOSPC);
	buf = malloc(need);
	FUZZ_CHECK(buf);
	n = pagemap_write(&pm, buf, need, NULL);
	FUZZ_CHECK(n == (long)need);
	FUZZ_CHECK(pagemap_parse(buf, need, 1u << 20, &again, why,
				 sizeof(why)) == 0);
	FUZZ_CHECK(again.pages_id == pm.pages_id && again.nruns == pm.nruns);
	FUZZ_CHECK(!pm.nruns ||
		   !memcmp(again.run, pm.run, pm.nruns * sizeof(*pm.run)));
	pagemap_free(&again);
	pagemap_free(&pm);
	free(buf);
	return 0;
}
