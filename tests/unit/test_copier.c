/*
 * The pause's two-thread page copy (primary/copier.c): every page lands
 * exactly where it belongs, for job sizes around the chunk and threshold
 * boundaries, over thousands of jobs back to back (a helper that wakes late
 * must never mix two jobs), and without a helper thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "copier.h"
#include "testutil.h"
#include "vm.h"

#define GUEST_PAGES 4096u
#define MAX_JOB	    1500u

struct fixture {
	uint8_t *mem, *dst;
	uint64_t pfns[MAX_JOB];
};

static struct fixture *fixture_new(struct rng *r)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->mem = malloc((size_t)GUEST_PAGES * VM_PAGE_SIZE);
	f->dst = malloc((size_t)MAX_JOB * VM_PAGE_SIZE);
	assert_non_null(f->mem);
	assert_non_null(f->dst);
	for (i = 0; i < (size_t)GUEST_PAGES * VM_PAGE_SIZE / 8; i++)
		((uint64_t *)f->mem)[i] = rnd(r);
	return f;
}

static void fixture_free(struct fixture *f)
{
	free(f->mem);
	free(f->dst);
	free(f);
}

/* One job of n random distinct-enough pages, checked page by page. */
static void one_job(struct copier *c, struct fixture *f, struct rng *r,
		    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		f->pfns[i] = rnd_below(r, GUEST_PAGES);
	memset(f->dst, 0xa5, n * VM_PAGE_SIZE + (n < MAX_JOB ? 1 : 0));
	copier_copy(c, f->mem, f->pfns, n, f->dst);
	for (i = 0; i < n; i++)
		if (memcmp(f->dst + i * VM_PAGE_SIZE,
			   f->mem + f->pfns[i] * VM_PAGE_SIZE, VM_PAGE_SIZE))
			fail_msg("job of %zu pages: page %zu (pfn %llu) wrong",
				 n, i, (unsigned long long)f->pfns[i]);
	/* Nothing written past the job. */
	if (n < MAX_JOB)
		assert_int_equal(f->dst[n * VM_PAGE_SIZE], 0xa5);
}

static const size_t sizes[] = {0,   1,	 15,  16,  17,	 255,  256,
			       257, 271, 272, 273, 1000, 1024, MAX_JOB};

static void test_sizes(void **state)
{
	struct rng r = {.s = 1};
	struct fixture *f = fixture_new(&r);
	struct copier c;
	size_t k;

	(void)state;
	assert_int_equal(copier_start(&c), 0);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		one_job(&c, f, &r, sizes[k]);
	copier_stop(&c);
	fixture_free(f);
}

static void test_many_jobs(void **state)
{
	struct rng r = {.s = 2};
	struct fixture *f = fixture_new(&r);
	struct copier c;
	int k;

	(void)state;
	assert_int_equal(copier_start(&c), 0);
	for (k = 0; k < 3000; k++)
		one_job(&c, f, &r, 256 + rnd_below(&r, 400));
	copier_stop(&c);
	fixture_free(f);
}

static void test_without_helper(void **state)
{
	struct rng r = {.s = 3};
	struct fixture *f = fixture_new(&r);
	struct copier c;
	size_t k;

	(void)state;
	memset(&c, 0, sizeof(c)); /* never started: every copy is inline */
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		one_job(&c, f, &r, sizes[k]);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_many_jobs),
		cmocka_unit_test(test_without_helper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
