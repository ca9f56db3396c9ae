/* Guest-sized memory (see ram.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ram.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26)
#endif

long ram_pool_unreserved(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	long n = -1, rsvd = 0, v;
	char line[128];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			n = v;
		else if (sscanf(line, "HugePages_Rsvd: %ld", &v) == 1)
			rsvd = v;
	}
	fclose(f);
	return n < 0 ? -1 : n > rsvd ? n - rsvd : 0;
}

/* The error for a hugetlb memfd that could not be had. */
static int short_pool(uint64_t size, int ret, const char *what, char *err,
		      size_t errlen)
{
	unsigned long long want = size / RAM_HUGE_PAGE;
	long free_pages = ram_pool_unreserved();

	if (ret != -ENOMEM && ret != -ENOSPC && ret != -EINVAL) {
		snprintf(err, errlen, "memory_backing = hugetlb: %s: %s", what,
			 strerror(-ret));
		return ret;
	}
	if (free_pages < 0)
		snprintf(err, errlen,
			 "memory_backing = hugetlb: %llu MiB of 2 MiB pages "
			 "wanted (%s: %s); this kernel has no huge page "
			 "pool: use memory_backing = normal",
			 (unsigned long long)(size >> 20), what,
			 strerror(-ret));
	else
		snprintf(err, errlen,
			 "memory_backing = hugetlb: %llu MiB wanted, %ld MiB "
			 "of the pool unreserved: reserve %llu more 2 MiB "
			 "pages (vm.nr_hugepages, docs/operations.md)",
			 (unsigned long long)(size >> 20), free_pages * 2,
			 want > (unsigned long long)free_pages
				 ? want - (unsigned long long)free_pages
				 : 0ull);
	return -ENOMEM;
}

int ram_make(uint64_t size, int hugetlb, const char *name, int *fd,
	     uint8_t **mem, char *err, size_t errlen)
{
	unsigned flags = MFD_CLOEXEC;
	int f, ret;
	void *m;

	if (hugetlb && size % RAM_HUGE_PAGE) {
		snprintf(err, errlen,
			 "memory_backing = hugetlb: %llu bytes is not a "
			 "multiple of 2 MiB",
			 (unsigned long long)size);
		return -EINVAL;
	}
	if (hugetlb)
		flags |= MFD_HUGETLB | MFD_HUGE_2MB;
	f = memfd_create(name, flags);
	if (f < 0) {
		ret = -errno;
		if (hugetlb)
			return short_pool(size, ret, "memfd_create", err,
					  errlen);
		snprintf(err, errlen, "%s memfd: %s", name, strerror(-ret));
		return ret;
	}
	if (ftruncate(f, (off_t)size)) {
		ret = -errno;
		close(f);
		if (hugetlb)
			return short_pool(size, ret, "ftruncate", err, errlen);
		snprintf(err, errlen, "%s memfd of %llu MiB: %s", name,
			 (unsigned long long)(size >> 20), strerror(-ret));
		return ret;
	}
	/* A shared hugetlb mapping reserves its pages here, all of them. */
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		close(f);
		if (hugetlb)
			return short_pool(size, ret, "mmap", err, errlen);
		snprintf(err, errlen, "mapping %llu MiB of %s: %s",
			 (unsigned long long)(size >> 20), name,
			 strerror(-ret));
		return ret;
	}
	*fd = f;
	*mem = m;
	return 0;
}

void ram_drop(uint64_t size, int *fd, uint8_t **mem)
{
	if (*mem)
		munmap(*mem, size);
	if (*fd >= 0)
		close(*fd);
	*mem = NULL;
	*fd = -1;
}
