/*
 * prefault(): makes pages resident without changing a byte, and never
 * touches the partial pages at either end of its range (they may be
 * someone else's). Residency is read back with mincore(2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "prefault.h"

#define NPAGES 64u

static size_t page;

static size_t resident(uint8_t *p, size_t npages)
{
	unsigned char v[NPAGES];
	size_t n = 0;

	assert_int_equal(mincore(p, npages * page, v), 0);
	for (size_t i = 0; i < npages; i++)
		n += v[i] & 1;
	return n;
}

/* Fresh anonymous memory: every page resident afterwards, still zero. */
static void test_fresh_memory(void **state)
{
	uint8_t *p = mmap(NULL, NPAGES * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(p != MAP_FAILED);
	assert_int_equal(resident(p, NPAGES), 0);
	assert_int_equal(prefault(p, NPAGES * page), 0);
	assert_int_equal(resident(p, NPAGES), NPAGES);
	for (size_t i = 0; i < NPAGES * page; i++)
		if (p[i])
			fail_msg("byte %zu is %u after prefault", i, p[i]);
	munmap(p, NPAGES * page);
}

/* Contents are kept; an unaligned range leaves its partial end pages
 * alone (not made resident), and an empty or sub-page one does nothing. */
static void test_contents_and_ends(void **state)
{
	uint8_t *p = mmap(NULL, NPAGES * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char v[NPAGES];

	(void)state;
	assert_true(p != MAP_FAILED);
	/* Pages 4..9 hold data; the rest is untouched. */
	for (size_t i = 4 * page; i < 10 * page; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(prefault(p + page / 2, 30 * page), 0);
	assert_int_equal(mincore(p, NPAGES * page, v), 0);
	assert_int_equal(v[0] & 1, 0); /* partial at the start */
	for (size_t i = 1; i < 30; i++)
		if (!(v[i] & 1))
			fail_msg("page %zu not resident", i);
	assert_int_equal(v[30] & 1, 0); /* partial at the end */
	for (size_t i = 4 * page; i < 10 * page; i++)
		if (p[i] != (uint8_t)(i * 7 + 1))
			fail_msg("byte %zu changed", i);
	assert_int_equal(prefault(p + 40 * page + 1, page - 2), 0);
	assert_int_equal(prefault(p + 41 * page, 0), 0);
	assert_int_equal(resident(p + 40 * page, 2), 0);
	munmap(p, NPAGES * page);
}

/* A shared memfd mapping (the replica's spare) works the same. */
static void test_shared_memfd(void **state)
{
	int fd = memfd_create("test-prefault", MFD_CLOEXEC);
	uint8_t *p;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(NPAGES * page)), 0);
	p = mmap(NULL, NPAGES * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(prefault(p, NPAGES * page), 0);
	assert_int_equal(resident(p, NPAGES), NPAGES);
	assert_int_equal(p[0] | p[NPAGES * page - 1], 0);
	munmap(p, NPAGES * page);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_memory),
		cmocka_unit_test(test_contents_and_ends),
		cmocka_unit_test(test_shared_memfd),
	};

	page = (size_t)sysconf(_SC_PAGESIZE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
