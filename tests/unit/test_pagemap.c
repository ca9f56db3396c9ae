/*
 * Unit tests for the process workload's pure parts (common/proc/): CRIU
 * pagemap images (pagemap.c) written and read back, every malformed image
 * refused with a reason; and the page space (pagespace.c) against a model
 * over many dumps: a page keeps its slot while it exists, slots are never
 * shared, pages gone give theirs back, a full space says so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "pagemap.h"
#include "pagemap.pb-c.h"
#include "pagespace.h"

#define PG CRIU_PAGE_SIZE

/* An image of raw entries: the head, then one entry per e[]. */
static size_t raw_image(uint8_t *buf, size_t cap, const PagemapEntry *e,
			size_t n)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	size_t pos = 8, len;

	put_le32(buf, CRIU_IMG_COMMON_MAGIC);
	put_le32(buf + 4, CRIU_PAGEMAP_MAGIC);
	h.pages_id = 7;
	len = pagemap_head__pack(&h, buf + pos + 4);
	put_le32(buf + pos, (uint32_t)len);
	pos += 4 + len;
	for (size_t i = 0; i < n; i++) {
		assert_true(pos + 64 < cap);
		len = pagemap_entry__pack(&e[i], buf + pos + 4);
		put_le32(buf + pos, (uint32_t)len);
		pos += 4 + len;
	}
	return pos;
}

static PagemapEntry entry(uint64_t vaddr, uint64_t nr, uint32_t flags)
{
	PagemapEntry e = PAGEMAP_ENTRY__INIT;

	e.vaddr = vaddr;
	e.has_nr_pages = 1;
	e.nr_pages = nr;
	e.has_flags = 1;
	e.flags = flags;
	return e;
}

#define REFUSED(img, len, max, want_err, want_why)                        \
	do {                                                              \
		struct pagemap pm_;                                       \
		char why_[200] = "";                                      \
		int err_ = pagemap_parse(img, len, max, &pm_, why_,       \
					 sizeof(why_));                   \
		if (err_ != (want_err) || !strstr(why_, want_why))        \
			fail_msg("got %d '%s', want %d '%s'", err_, why_, \
				 want_err, want_why);                     \
		assert_null(pm_.run);                                     \
	} while (0)

static void test_roundtrip(void **state)
{
	struct pagemap_run runs[] = {
		{0x400000, 3}, {0x600000, 1}, {0x7ffffffff000ull, 1}};
	struct pagemap pm = {.pages_id = 3, .run = runs, .nruns = 3}, back;
	uint8_t buf[512];
	char why[200];
	size_t need;
	long n;

	(void)state;
	assert_int_equal(pagemap_write(&pm, buf, 10, &need), -ENOSPC);
	n = pagemap_write(&pm, buf, sizeof(buf), &need);
	assert_true(n > 0);
	assert_int_equal((size_t)n, need);
	assert_int_equal(
		pagemap_parse(buf, (size_t)n, 100, &back, why, sizeof(why)), 0);
	assert_int_equal(back.pages_id, 3);
	assert_int_equal(back.nruns, 3);
	assert_int_equal(back.npages, 5);
	assert_memory_equal(back.run, runs, sizeof(runs));
	pagemap_free(&back);
	/* exactly 5 pages allowed; 4 are not enough */
	REFUSED(buf, (size_t)n, 4, -E2BIG, "more than 4 pages");
	/* an empty map (a process with no private pages) */
	pm.nruns = 0;
	n = pagemap_write(&pm, buf, sizeof(buf), NULL);
	assert_int_equal(
		pagemap_parse(buf, (size_t)n, 1, &back, why, sizeof(why)), 0);
	assert_int_equal(back.nruns, 0);
	pagemap_free(&back);
	/* writing refuses what parsing would */
	runs[1].vaddr = 0x400000;
	pm.nruns = 3;
	assert_int_equal(pagemap_write(&pm, buf, sizeof(buf), NULL), -EINVAL);
}

/* Contiguous entries (two VMAs side by side) become one run. */
static void test_merge(void **state)
{
	PagemapEntry e[] = {entry(0x1000, 2, 4), entry(0x3000, 1, 4),
			    entry(0x5000, 1, 4)};
	uint8_t buf[512];
	struct pagemap pm;
	char why[200];
	size_t len = raw_image(buf, sizeof(buf), e, 3);

	(void)state;
	assert_int_equal(pagemap_parse(buf, len, 100, &pm, why, sizeof(why)),
			 0);
	assert_int_equal(pm.nruns, 2);
	assert_int_equal(pm.run[0].vaddr, 0x1000);
	assert_int_equal(pm.run[0].nr_pages, 3);
	assert_int_equal(pm.npages, 4);
	assert_int_equal(pm.pages_id, 7);
	pagemap_free(&pm);
}

static void test_refused(void **state)
{
	uint8_t buf[512] = {0};
	size_t len;
	PagemapEntry e[2];

	(void)state;
	REFUSED(buf, 4, 10, -EINVAL, "magic");
	e[0] = entry(0x1000, 1, 4);
	len = raw_image(buf, sizeof(buf), e, 1);
	put_le32(buf + 4, 0x58313116); /* the inventory's magic */
	REFUSED(buf, len, 10, -EINVAL, "magic");
	/* cut short: in the head, in an entry's length, in an entry */
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, 9, 10, -EINVAL, "no head entry");
	REFUSED(buf, len - 1, 10, -EINVAL, "entry 1: bad length");
	/* a length past any pagemap entry */
	put_le32(buf + len - 4 - pagemap_entry__get_packed_size(&e[0]), 1000);
	REFUSED(buf, len, 10, -EINVAL, "entry 1: bad length");
	/* bytes that are not an entry */
	len = raw_image(buf, sizeof(buf), e, 1);
	buf[len - 1] = 0xff;
	buf[len - 2] = 0xff;
	REFUSED(buf, len, 10, -EINVAL, "does not decode");
	/* lazy alone, parent, in_parent, none (lazy with present is what a
	 * full dump writes for private anonymous memory: accepted) */
	e[0] = entry(0x1000, 1, 2);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "flags 0x2");
	e[0] = entry(0x1000, 1, 4 | 2);
	len = raw_image(buf, sizeof(buf), e, 1);
	{
		struct pagemap pm;
		char why[256];

		assert_int_equal(
			pagemap_parse(buf, len, 10, &pm, why, sizeof(why)), 0);
		assert_int_equal(pm.npages, 1);
		pagemap_free(&pm);
	}
	e[0] = entry(0x1000, 1, 1);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "flags 0x1");
	e[0] = entry(0x1000, 1, 4);
	e[0].has_in_parent = 1;
	e[0].in_parent = 1;
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "flags 0x5");
	e[0] = entry(0x1000, 1, 0);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "flags 0x0");
	/* alignment, zero pages, past user space, wrapping */
	e[0] = entry(0x1001, 1, 4);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "not a page-aligned user range");
	e[0] = entry(0x1000, 0, 4);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "not a page-aligned user range");
	e[0] = entry(PAGEMAP_VADDR_END - PG, 2, 4);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, 10, -EINVAL, "not a page-aligned user range");
	e[0] = entry(0x1000, UINT64_MAX, 4);
	len = raw_image(buf, sizeof(buf), e, 1);
	REFUSED(buf, len, UINT64_MAX, -EINVAL, "not a page-aligned user range");
	/* order and overlap */
	e[0] = entry(0x3000, 2, 4);
	e[1] = entry(0x4000, 1, 4);
	len = raw_image(buf, sizeof(buf), e, 2);
	REFUSED(buf, len, 10, -EINVAL, "entry 2 at 0x4000 overlaps");
	e[1] = entry(0x1000, 1, 4);
	len = raw_image(buf, sizeof(buf), e, 2);
	REFUSED(buf, len, 10, -EINVAL, "precedes");
}

/* compat_nr_pages counts when nr_pages is absent (older CRIU images). */
static void test_compat(void **state)
{
	PagemapEntry e = PAGEMAP_ENTRY__INIT;
	uint8_t buf[128];
	struct pagemap pm;
	char why[100];
	size_t len;

	(void)state;
	e.vaddr = 0x2000;
	e.compat_nr_pages = 3;
	e.has_flags = 1;
	e.flags = 4;
	len = raw_image(buf, sizeof(buf), &e, 1);
	assert_int_equal(pagemap_parse(buf, len, 10, &pm, why, sizeof(why)), 0);
	assert_int_equal(pm.npages, 3);
	pagemap_free(&pm);
}

static void test_pagespace_basic(void **state)
{
	struct pagespace ps;
	int fresh;

	(void)state;
	assert_int_equal(pagespace_init(&ps, 0), -EINVAL);
	assert_int_equal(pagespace_init(&ps, 3), 0);
	pagespace_begin(&ps);
	assert_int_equal(pagespace_slot(&ps, 1, 100, &fresh), 0);
	assert_true(fresh);
	assert_int_equal(pagespace_slot(&ps, 1, 101, &fresh), 1);
	assert_int_equal(pagespace_slot(&ps, 2, 100, &fresh), 2);
	assert_int_equal(pagespace_slot(&ps, 1, 100, &fresh), -EEXIST);
	assert_int_equal(pagespace_slot(&ps, 3, 1, &fresh), -ENOSPC);
	assert_int_equal(pagespace_end(&ps), 0);
	/* next dump: 1/100 stays, 1/101 goes, 3/1 takes its slot */
	pagespace_begin(&ps);
	assert_int_equal(pagespace_slot(&ps, 1, 100, &fresh), 0);
	assert_false(fresh);
	assert_int_equal(pagespace_slot(&ps, 2, 100, &fresh), 2);
	assert_int_equal(pagespace_slot(&ps, 3, 1, &fresh), -ENOSPC);
	assert_int_equal(pagespace_end(&ps), 1);
	pagespace_begin(&ps);
	assert_int_equal(pagespace_slot(&ps, 3, 1, &fresh), 1);
	assert_true(fresh);
	assert_int_equal(pagespace_end(&ps), 2);
	assert_int_equal(ps.used, 1);
	pagespace_free(&ps);
}

/* Many dumps of a changing process against a model (a plain array). */
#define MS_SLOTS 1000
#define MS_KEYS	 3000

static void test_pagespace_model(void **state)
{
	static long model[MS_KEYS]; /* key -> slot, -1 none */
	static int owner_of[MS_SLOTS];
	struct pagespace ps;
	uint32_t seed = 12345;

	(void)state;
	assert_int_equal(pagespace_init(&ps, MS_SLOTS), 0);
	for (int k = 0; k < MS_KEYS; k++)
		model[k] = -1;
	for (int d = 0; d < 300; d++) {
		static char named[MS_KEYS];
		uint32_t gone = 0, live = 0;

		memset(named, 0, sizeof(named));
		pagespace_begin(&ps);
		for (int k = 0; k < MS_KEYS; k++) {
			int fresh;
			long slot;

			seed = seed * 1103515245u + 12345u;
			/* about a quarter of the keys per dump, changing */
			if ((seed >> 16) % 4)
				continue;
			slot = pagespace_slot(&ps, (uint32_t)(k % 7),
					      (uint64_t)k * 977, &fresh);
			if (slot == -ENOSPC) {
				assert_int_equal(ps.nfree, 0);
				continue;
			}
			assert_true(slot >= 0 && slot < MS_SLOTS);
			named[k] = 1;
			if (model[k] >= 0) {
				assert_false(fresh);
				assert_int_equal(slot, model[k]);
			} else {
				assert_true(fresh);
				model[k] = slot;
			}
		}
		for (int k = 0; k < MS_KEYS; k++) {
			if (model[k] >= 0 && !named[k]) {
				model[k] = -1;
				gone++;
			}
		}
		assert_int_equal(pagespace_end(&ps), gone);
		/* no slot held twice */
		memset(owner_of, 0, sizeof(owner_of));
		for (int k = 0; k < MS_KEYS; k++) {
			if (model[k] < 0)
				continue;
			assert_int_equal(owner_of[model[k]], 0);
			owner_of[model[k]] = 1;
			live++;
		}
		assert_int_equal(ps.used, live);
		assert_int_equal(ps.nfree + ps.used, MS_SLOTS);
	}
	pagespace_free(&ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_compat),
		cmocka_unit_test(test_pagespace_basic),
		cmocka_unit_test(test_pagespace_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
