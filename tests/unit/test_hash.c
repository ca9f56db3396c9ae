/*
 * hash.h against libxxhash itself: the same XXH3-64 for every length up to
 * a few KiB at every alignment, and for pages; a state fed through
 * hash_update() in uneven pieces digests to the one-shot value, also when
 * the pieces alternate with libxxhash's own update.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define XXH_STATIC_LINKING_ONLY
#include "hash.h"
#include "testutil.h"

#define BUF (1u << 20)

static uint8_t *buf;

static void test_one_shot_equals_libxxhash(void **state)
{
	(void)state;
	for (size_t off = 0; off < 64; off++)
		for (size_t n = 0; n <= 4200; n += off % 2 ? 1 : 7)
			assert_true(hash64(buf + off, n) ==
				    XXH3_64bits(buf + off, n));
	for (size_t n = 4096; n <= BUF; n *= 2)
		assert_true(hash64(buf, n) == XXH3_64bits(buf, n));
}

static void test_stream_equals_one_shot(void **state)
{
	XXH3_state_t *s = XXH3_createState();
	size_t pieces[] = {8, 4096, 1, 255, 256, 257, 8, 4096, 70000, 3};

	(void)state;
	assert_non_null(s);
	for (int mix = 0; mix < 2; mix++) {
		size_t at = 0, k = 0;

		assert_int_equal(XXH3_64bits_reset(s), XXH_OK);
		while (at < BUF) {
			size_t n = pieces[k % 10];

			if (n > BUF - at)
				n = BUF - at;
			/* mix 1: every other piece through libxxhash */
			if (mix && k % 2)
				assert_int_equal(
					XXH3_64bits_update(s, buf + at, n),
					XXH_OK);
			else
				assert_int_equal(hash_update(s, buf + at, n),
						 0);
			at += n;
			k++;
		}
		assert_true(XXH3_64bits_digest(s) == XXH3_64bits(buf, BUF));
	}
	XXH3_freeState(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_shot_equals_libxxhash),
		cmocka_unit_test(test_stream_equals_one_shot),
	};
	int ret;

	/* Without AVX2, hash.h is libxxhash itself: nothing to compare. */
	if (strcmp(hash_impl_name(), "avx2")) {
		printf("SKIP: this CPU has no AVX2; hash.h calls libxxhash "
		       "directly\n");
		return 77;
	}
	buf = malloc(BUF);
	if (!buf)
		return 1;
	fill_random(&(struct rng){0x243f6a8885a308d3ull}, buf, BUF);
	print_message("hash kernel: %s\n", hash_impl_name());
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(buf);
	return ret;
}
