/* Prefaulting memory (see prefault.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* The whole pages inside [p, p + len): [*lo, *hi), or 0 if none. */
static int whole_pages(void *p, size_t len, uintptr_t *lo, uintptr_t *hi)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	*lo = ((uintptr_t)p + page - 1) & ~(page - 1);
	*hi = ((uintptr_t)p + len) & ~(page - 1);
	return *hi > *lo;
}

int prefault_shared(void *p, size_t len)
{
	uintptr_t lo, hi;

	if (!whole_pages(p, len, &lo, &hi))
		return 0;
	if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE))
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	return 0;
}

int prefault(void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	/* -EINVAL on kernels before 5.14: the touches below do it all. */
	if (prefault_shared(p, len) == -ENOMEM)
		return -ENOMEM;
	if (!whole_pages(p, len, &lo, &hi))
		return 0;
	for (uintptr_t a = lo; a < hi; a += page) {
		volatile uint8_t *b = (volatile uint8_t *)a;

		*b = *b;
	}
	return 0;
}
