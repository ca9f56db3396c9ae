/*
 * Unit tests for sizes and durations with units (common/units.h): every
 * suffix, the limits of uint64_t, and each kind of malformed input, which
 * must be refused with a reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "units.h"

static void test_sizes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{"0", 0},
		{"4096", 4096},
		{"1B", 1},
		{"2K", 2048},
		{"2KB", 2048},
		{"2KiB", 2048},
		{"64M", 64ull << 20},
		{"64MiB", 64ull << 20},
		{"1G", 1ull << 30},
		{"4GB", 4ull << 30},
		{"3T", 3ull << 40},
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", 16777215ull << 40},
	};
	const char *why;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(units_parse_size(ok[i].s, &v, &why), 0);
		assert_int_equal(v, ok[i].v);
	}
}

static void test_size_errors(void **state)
{
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{"", -EINVAL},		{"M", -EINVAL},
		{"-1", -EINVAL},	{" 1", -EINVAL},
		{"1 ", -EINVAL},	{"1.5G", -EINVAL},
		{"1m", -EINVAL},	{"1Mb", -EINVAL},
		{"1X", -EINVAL},	{"0x10", -EINVAL},
		{"16777216T", -ERANGE}, {"18446744073709551616", -ERANGE},
	};
	const char *why;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(units_parse_size(bad[i].s, &v, &why),
				 bad[i].err);
		assert_non_null(why);
	}
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} ok[] = {
		{"0ns", 0},
		{"7ns", 7},
		{"3us", 3000},
		{"25ms", 25000000},
		{"2s", 2000000000ull},
		{"10min", 600000000000ull},
		{"1h", 3600000000000ull},
		{"18446744073709551615ns", UINT64_MAX},
	};
	const char *why;
	uint64_t ns;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ns = 1;
		assert_int_equal(units_parse_duration(ok[i].s, &ns, &why), 0);
		assert_int_equal(ns, ok[i].ns);
	}
}

static void test_duration_errors(void **state)
{
	static const struct {
		const char *s;
		int err;
	} bad[] = {
		{"", -EINVAL},	   {"25", -EINVAL},
		{"ms", -EINVAL},   {"25 ms", -EINVAL},
		{"25MS", -EINVAL}, {"1.5s", -EINVAL},
		{"1m", -EINVAL},   {"-1s", -EINVAL},
		{"1d", -EINVAL},   {"18446744073709551615s", -ERANGE},
	};
	const char *why;
	uint64_t ns;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(units_parse_duration(bad[i].s, &ns, &why),
				 bad[i].err);
		assert_non_null(why);
	}
}

/* Written back with the largest exact unit, and parsed back the same. */
static void test_format(void **state)
{
	static const struct {
		uint64_t v;
		const char *size, *duration;
	} f[] = {
		{0, "0", "0ns"},
		{1, "1", "1ns"},
		{1000, "1000", "1us"},
		{1024, "1K", "1024ns"},
		{2ull << 20, "2M", "2097152ns"},
		{25000000, "25000000", "25ms"},
		{4ull << 30, "4G", "4294967296ns"},
		{600000000000ull, "585937500K", "10min"},
		{3600000000000ull, "3515625000K", "1h"},
		{3ull << 40, "3T", "3298534883328ns"},
		{1500000000ull, "1500000000", "1500ms"},
		{UINT64_MAX, "18446744073709551615", "18446744073709551615ns"},
	};
	const char *why;
	char buf[32];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		assert_string_equal(units_format_size(buf, sizeof(buf), f[i].v),
				    f[i].size);
		assert_int_equal(units_parse_size(buf, &v, &why), 0);
		assert_int_equal(v, f[i].v);
		assert_string_equal(
			units_format_duration(buf, sizeof(buf), f[i].v),
			f[i].duration);
		assert_int_equal(units_parse_duration(buf, &v, &why), 0);
		assert_int_equal(v, f[i].v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
