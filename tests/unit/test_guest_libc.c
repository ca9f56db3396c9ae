/*
 * Unit tests for the guest SDK's C library (guest/sdk/libc.h), built for the
 * host with -DREMORA_HOST_TEST, which names its functions rl_*. vsnprintf is
 * compared byte for byte, return value and untouched bytes included, with
 * glibc's over every combination of flags, width, precision, length modifier
 * and conversion it supports, on edge values, and at every truncation size;
 * strtoul and friends, the mem and str functions and the character classes
 * are compared with glibc too. The allocator runs over a heap of the test's
 * own: alignment, exhaustion, whole-heap allocations, coalescing, realloc in
 * place and moved, aligned allocations, a random workload checked against a
 * shadow copy, and the detection of double and wild frees. Last, the
 * command-line splitter, whose quoting the VMM must mirror.
 */
#include <ctype.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
/* Last: it defines noreturn, which would break other headers' attributes. */
#include "libc.h"

/* The library's panics become cmocka assertion failures. */
noreturn void remora_libc_panic(const char *msg)
{
	mock_assert(0, msg, __FILE__, __LINE__);
	abort();
}

/* ---- vsnprintf against glibc ---------------------------------------------- */

#define OUT    640
#define CANARY 0x5a

/*
 * Formats with a buffer of size bytes through both implementations; the
 * whole buffer must match, so bytes past the terminator must be untouched.
 */
static void compare_v(size_t size, const char *fmt, va_list a, va_list b)
{
	char want[OUT], got[OUT];
	int wn, gn;

	memset(want, CANARY, sizeof(want));
	memset(got, CANARY, sizeof(got));
	wn = vsnprintf(want, size, fmt, a);
	gn = rl_vsnprintf(got, size, fmt, b);
	if (wn != gn || memcmp(want, got, sizeof(want)) != 0)
		fail_msg("size %zu, format \"%s\": glibc \"%.*s\" (%d), "
			 "ours \"%.*s\" (%d)",
			 size, fmt, (int)(size ? size : 1) - 1, want, wn,
			 (int)(size ? size : 1) - 1, got, gn);
}

static void check_sized(size_t size, const char *fmt, ...)
{
	va_list a, b;

	va_start(a, fmt);
	va_start(b, fmt);
	compare_v(size, fmt, a, b);
	va_end(b);
	va_end(a);
}

#define check(...) check_sized(OUT, __VA_ARGS__)

enum { L_HH, L_H, L_NONE, L_L, L_LL, L_Z, L_J, L_T, L_COUNT };
static const char *const len_names[L_COUNT] = {"hh", "h", "",  "l",
					       "ll", "z", "j", "t"};

/* Passes v as the type that the length modifier and conversion expect. */
static void check_int(const char *fmt, int len, bool is_signed, int64_t v)
{
	switch (len) {
	case L_HH:
	case L_H:
	case L_NONE:
		if (is_signed)
			check(fmt, (int)v);
		else
			check(fmt, (unsigned int)v);
		break;
	case L_L:
		if (is_signed)
			check(fmt, (long)v);
		else
			check(fmt, (unsigned long)v);
		break;
	case L_LL:
		if (is_signed)
			check(fmt, (long long)v);
		else
			check(fmt, (unsigned long long)v);
		break;
	case L_Z:
		if (is_signed)
			check(fmt, (ptrdiff_t)v); /* the signed size_t */
		else
			check(fmt, (size_t)v);
		break;
	case L_J:
		if (is_signed)
			check(fmt, (intmax_t)v);
		else
			check(fmt, (uintmax_t)v);
		break;
	case L_T:
		if (is_signed)
			check(fmt, (ptrdiff_t)v);
		else
			check(fmt, (size_t)v); /* the unsigned ptrdiff_t */
		break;
	}
}

static const int64_t int_values[] = {
	0,
	1,
	-1,
	7,
	8,
	9,
	10,
	15,
	16,
	42,
	-42,
	127,
	128,
	-128,
	-129,
	255,
	256,
	32767,
	32768,
	-32768,
	65535,
	65536,
	INT_MAX,
	INT_MIN,
	UINT_MAX,
	(int64_t)UINT_MAX + 1,
	0x123456789abcdefll,
	-0x123456789ll,
	INT64_MAX,
	INT64_MIN,
};

/* Every flag set, width, precision, length and integer conversion. */
static void test_printf_integers(void **state)
{
	static const char flag_chars[] = "-0+ #";
	static const char *const widths[] = {"", "1", "6", "25"};
	static const char *const precs[] = {"", ".", ".0", ".1", ".4", ".22"};
	static const char convs[] = "diouxX";
	char fmt[64];

	(void)state;
	for (unsigned mask = 0; mask < 32; mask++) {
		for (size_t w = 0; w < 4; w++) {
			for (size_t p = 0; p < 6; p++) {
				for (int l = 0; l < L_COUNT; l++) {
					for (const char *c = convs; *c; c++) {
						bool is_signed =
							*c == 'd' || *c == 'i';
						char flags[6];
						size_t nf = 0;

						/* '#' is undefined for d, i and u. */
						if ((mask & 16) &&
						    (is_signed || *c == 'u'))
							continue;
						for (int f = 0; f < 5; f++) {
							if (mask & (1u << f))
								flags[nf++] = flag_chars
									[f];
						}
						flags[nf] = '\0';
						snprintf(fmt, sizeof(fmt),
							 "<%%%s%s%s%s%c>",
							 flags, widths[w],
							 precs[p], len_names[l],
							 *c);
						for (size_t v = 0;
						     v <
						     sizeof(int_values) /
							     sizeof(int_values
									    [0]);
						     v++)
							check_int(
								fmt, l,
								is_signed,
								int_values[v]);
					}
				}
			}
		}
	}
}

static void test_printf_strings(void **state)
{
	static const char *const flags[] = {"", "-", "0", "-0"};
	static const char *const widths[] = {"", "1", "5", "30"};
	static const char *const precs[] = {"",	  ".",	".0", ".2",
					    ".5", ".6", ".40"};
	static const char *const strs[] = {
		"",
		"a",
		"abc",
		"hello, world",
		"0123456789012345678901234567890123456789",
		NULL};
	char fmt[64];

	(void)state;
	for (size_t f = 0; f < 4; f++) {
		for (size_t w = 0; w < 4; w++) {
			for (size_t p = 0; p < 7; p++) {
				snprintf(fmt, sizeof(fmt), "[%%%s%s%ss]",
					 flags[f], widths[w], precs[p]);
				for (size_t s = 0; s < 6; s++)
					check(fmt, strs[s]);
			}
		}
	}
}

static void test_printf_chars(void **state)
{
	static const char *const flags[] = {"", "-", "0"};
	static const char *const widths[] = {"", "1", "2", "7"};
	static const int chars[] = {'a', ' ', '%', 0, 0xff, 0x141};
	char fmt[64];

	(void)state;
	for (size_t f = 0; f < 3; f++) {
		for (size_t w = 0; w < 4; w++) {
			snprintf(fmt, sizeof(fmt), "[%%%s%sc]", flags[f],
				 widths[w]);
			for (size_t c = 0; c < 6; c++)
				check(fmt, chars[c]);
		}
	}
}

static void test_printf_pointers(void **state)
{
	static const char *const flags[] = {"", "-", "0", "+", " ", "-+"};
	static const char *const widths[] = {"", "4", "20"};
	static const char *const precs[] = {"", ".0", ".3", ".12"};
	static const uintptr_t ptrs[] = {0, 1, 0x100000, 0xdeadbeef,
					 UINTPTR_MAX};
	char fmt[64];

	(void)state;
	for (size_t f = 0; f < 6; f++) {
		for (size_t w = 0; w < 3; w++) {
			for (size_t p = 0; p < 4; p++) {
				snprintf(fmt, sizeof(fmt), "[%%%s%s%sp]",
					 flags[f], widths[w], precs[p]);
				for (size_t i = 0; i < 5; i++)
					check(fmt, (void *)ptrs[i]);
			}
		}
	}
}

/* Widths and precisions as arguments, negative ones included. */
static void test_printf_star(void **state)
{
	(void)state;
	check("%*d|", 5, 42);
	check("%*d|", -5, 42);
	check("%-*d|", -5, 42);
	check("%0*d|", 6, -42);
	check("%0*d|", -6, -42);
	check("%.*d|", 5, 42);
	check("%.*d|", 0, 0);
	check("%.*d|", -1, 0);
	check("%.*d|", -3, 42);
	check("%*.*x|", 8, 4, 0xab);
	check("%*.*x|", -8, -4, 0xab);
	check("%*s|", 8, "ab");
	check("%*s|", -8, "ab");
	check("%.*s|", 3, "abcdef");
	check("%.*s|", -2, "abcdef");
	check("%*c|", 3, 'x');
	check("%*c|", -3, 'x');
}

/* Plain text, %%, several conversions in one format, long output. */
static void test_printf_mixed(void **state)
{
	char big[500];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	check("");
	check("plain text, no conversions");
	check("%%");
	check("100%% sure, %d%%", 42);
	check("a%db%sc%%d%ce%5.3xf%-4ug%lldh%zui%pj", -1, "str", 'Z', 0x1f, 7u,
	      -123456789012ll, (size_t)99, (void *)0x1234);
	check("%s", big);
	check("%s%s", big, big);
	check("%600d|", 1);
	check("%.600d|", 1);
	check("%s|%d|%s", "first", 2, "third");
}

/* Every buffer size from 0 to past the output, on a few formats. */
static void test_printf_truncation(void **state)
{
	(void)state;
	for (size_t size = 0; size < 48; size++) {
		check_sized(size, "hello %d world %s!", 12345, "abc");
		check_sized(size, "%-10s|%08.3x|%c", "left", 0xbeef, 'q');
		check_sized(size, "%p %lld", (void *)0xfeed, LLONG_MIN);
		check_sized(size, "%30s", "right");
		check_sized(size, "%-30d|", -7);
		check_sized(size, "%.20u", 5u);
		check_sized(size, "");
	}
	assert_int_equal(rl_snprintf(NULL, 0, "%d", 12345), 5);
	assert_int_equal(rl_snprintf(NULL, 0, "%s %s", "ab", "cd"), 5);
}

/* Not in glibc's terms: what we do with conversions we do not support. */
static void test_printf_unsupported(void **state)
{
	static const char *const cases[][2] = {
		{"%q", "%q"},	  {"a%5.2fb", "a%5.2fb"}, {"%lq!", "%lq!"},
		{"abc%", "abc%"}, {"x%-", "x%-"},	  {"%n", "%n"},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *fmt = cases[i][0];
		int n = rl_snprintf(buf, sizeof(buf), fmt, 0);

		assert_string_equal(buf, cases[i][1]);
		assert_int_equal(n, (int)strlen(cases[i][1]));
	}
}

/* ---- strtoul and friends --------------------------------------------------- */

static const char *const num_inputs[] = {
	"0",
	"1",
	"42",
	"  42",
	"\t\n\v\f\r 42x",
	"+42",
	"-42",
	"-0",
	"0x1f",
	"0X1F",
	"0x",
	"0xg",
	"0x 1",
	"-0x10",
	"017",
	"08",
	"09",
	"0b101",
	"z",
	"Zz",
	"",
	"   ",
	"-",
	"+",
	"+-1",
	"18446744073709551615",
	"18446744073709551616",
	"99999999999999999999999",
	"-18446744073709551615",
	"-18446744073709551616",
	"0xffffffffffffffff",
	"0x10000000000000000",
	"9223372036854775807",
	"9223372036854775808",
	"-9223372036854775808",
	"-9223372036854775809",
	"1234abc",
	"abc",
	"1777777777777777777777",
	"2000000000000000000000",
	"11111111111111111111111111111111111111111111111111111111111111111",
	"3w5e11264sgsf",
	"3w5e11264sgsg",
};

/* Value and end pointer of one of our parsers against glibc's. */
#define COMPARE_PARSE(ours, theirs, s, base, fmt)                             \
	do {                                                                  \
		char *we, *ge;                                                \
		__typeof__(theirs(s, &we, base)) wv = theirs(s, &we, base);   \
		__typeof__(theirs(s, &we, base)) gv = ours(s, &ge, base);     \
		if (wv != gv || we != ge)                                     \
			fail_msg("%s(\"%s\", %d): glibc " fmt " (end +%td), " \
				 "ours " fmt " (end +%td)",                   \
				 #theirs, s, base, wv, we - s, gv, ge - s);   \
	} while (0)

static void test_strtoul(void **state)
{
	static const int bases[] = {0, 2, 8, 10, 16, 36};
	char *end;

	(void)state;
	for (size_t i = 0; i < sizeof(num_inputs) / sizeof(num_inputs[0]);
	     i++) {
		const char *s = num_inputs[i];
		long l;

		for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
			COMPARE_PARSE(rl_strtoul, strtoul, s, bases[b], "%lu");
			COMPARE_PARSE(rl_strtoull, strtoull, s, bases[b],
				      "%llu");
			COMPARE_PARSE(rl_strtol, strtol, s, bases[b], "%ld");
		}
		l = strtol(s, NULL, 10);
		if (l >= INT_MIN && l <= INT_MAX)
			assert_int_equal(rl_atoi(s), atoi(s));
	}
	/* A NULL end pointer is allowed; bad bases parse nothing. */
	assert_int_equal(rl_strtoul("123", NULL, 10), 123);
	assert_int_equal(rl_strtoul("123", &end, 1), 0);
	assert_int_equal(rl_strtoul("123", &end, 37), 0);
	assert_int_equal(rl_strtoul("123", &end, -1), 0);
}

/* ---- memory and string functions ------------------------------------------- */

static void test_memcpy_memset(void **state)
{
	struct rng r = {11};
	unsigned char src[256], want[256], got[256];

	(void)state;
	fill_random(&r, src, sizeof(src));
	for (size_t so = 0; so < 16; so++) {
		for (size_t d = 0; d < 16; d++) {
			for (size_t n = 0; n < 100; n++) {
				memset(want, 0xcc, sizeof(want));
				memset(got, 0xcc, sizeof(got));
				memcpy(want + d, src + so, n);
				assert_ptr_equal(
					rl_memcpy(got + d, src + so, n),
					got + d);
				assert_memory_equal(want, got, sizeof(want));
			}
		}
	}
	for (size_t d = 0; d < 16; d++) {
		for (size_t n = 0; n < 100; n++) {
			for (int c = -1; c < 0x200; c += 0xab) {
				memset(want, 0xcc, sizeof(want));
				memset(got, 0xcc, sizeof(got));
				memset(want + d, c, n);
				assert_ptr_equal(rl_memset(got + d, c, n),
						 got + d);
				assert_memory_equal(want, got, sizeof(want));
			}
		}
	}
}

static void test_memmove(void **state)
{
	struct rng r = {12};
	unsigned char base[160], want[160], got[160];

	(void)state;
	fill_random(&r, base, sizeof(base));
	for (size_t so = 0; so < 40; so++) {
		for (size_t d = 0; d < 40; d++) {
			for (size_t n = 0; n < 100; n++) {
				memcpy(want, base, sizeof(base));
				memcpy(got, base, sizeof(base));
				memmove(want + d, want + so, n);
				assert_ptr_equal(
					rl_memmove(got + d, got + so, n),
					got + d);
				assert_memory_equal(want, got, sizeof(want));
			}
		}
	}
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void test_memcmp(void **state)
{
	struct rng r = {13};
	unsigned char a[128], b[128];

	(void)state;
	fill_random(&r, a, sizeof(a));
	memcpy(b, a, sizeof(a));
	for (size_t n = 0; n <= sizeof(a); n++)
		assert_int_equal(rl_memcmp(a, b, n), 0);
	/* Bytes compare as unsigned: 0x80 > 0x7f. */
	for (size_t pos = 0; pos < 64; pos++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			memcpy(b, a, sizeof(a));
			a[pos] = 0x7f;
			b[pos] = (unsigned char)(0x7f + delta);
			for (size_t n = 0; n <= 80; n++)
				assert_int_equal(sign(rl_memcmp(a, b, n)),
						 sign(memcmp(a, b, n)));
		}
	}
}

static void test_strings(void **state)
{
	static const char *const strs[] = {"",
					   "a",
					   "b",
					   "ab",
					   "abc",
					   "abd",
					   "abcdefghijklmnopq",
					   "abcdefghijklmnopr",
					   "\x80",
					   "\x7f",
					   "a\x80",
					   "hello, world"};
	const size_t ns = sizeof(strs) / sizeof(strs[0]);
	char buf[64];

	(void)state;
	for (size_t i = 0; i < ns; i++) {
		const char *s = strs[i];
		size_t len = strlen(s);

		assert_int_equal(rl_strlen(s), len);
		for (size_t max = 0; max < len + 3; max++)
			assert_int_equal(rl_strnlen(s, max), strnlen(s, max));
		for (size_t j = 0; j < ns; j++) {
			assert_int_equal(sign(rl_strcmp(s, strs[j])),
					 sign(strcmp(s, strs[j])));
			for (size_t n = 0; n < 20; n++)
				assert_int_equal(
					sign(rl_strncmp(s, strs[j], n)),
					sign(strncmp(s, strs[j], n)));
		}
		for (int c = 0; c < 256; c++) {
			assert_ptr_equal(rl_strchr(s, c), strchr(s, c));
			assert_ptr_equal(rl_strrchr(s, c), strrchr(s, c));
		}
		memset(buf, 0xcc, sizeof(buf));
		assert_ptr_equal(rl_strcpy(buf, s), buf);
		assert_memory_equal(buf, s, len + 1);
		assert_int_equal((unsigned char)buf[len + 1], 0xcc);
	}
	/* Strings at every alignment, for the word-at-a-time paths. */
	memset(buf, 'x', sizeof(buf));
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len < 40; len++) {
			buf[off + len] = '\0';
			assert_int_equal(rl_strlen(buf + off), len);
			buf[off + len] = 'x';
		}
	}
}

static void test_ctype(void **state)
{
	(void)state;
	for (int c = -1; c < 256; c++) {
		assert_int_equal(!!rl_isdigit(c), !!isdigit(c));
		assert_int_equal(!!rl_isxdigit(c), !!isxdigit(c));
		assert_int_equal(!!rl_isspace(c), !!isspace(c));
		assert_int_equal(!!rl_isupper(c), !!isupper(c));
		assert_int_equal(!!rl_islower(c), !!islower(c));
		assert_int_equal(!!rl_isalpha(c), !!isalpha(c));
		assert_int_equal(!!rl_isalnum(c), !!isalnum(c));
		assert_int_equal(!!rl_isprint(c), !!isprint(c));
		assert_int_equal(rl_tolower(c), tolower(c));
		assert_int_equal(rl_toupper(c), toupper(c));
	}
}

/* ---- the heap --------------------------------------------------------------- */

#define HEAP_LEN  (1u << 20)
#define HEAP_FILL 0xee

static unsigned char *heap_mem;

static int heap_setup(void **state)
{
	(void)state;
	heap_mem = aligned_alloc(4096, HEAP_LEN);
	if (!heap_mem)
		return -1;
	memset(heap_mem, HEAP_FILL, HEAP_LEN);
	remora_heap_init(heap_mem, HEAP_LEN);
	return 0;
}

static int heap_teardown(void **state)
{
	(void)state;
	free(heap_mem);
	return 0;
}

static void assert_in_heap(const void *p, size_t n)
{
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	assert_true((const unsigned char *)p >= heap_mem);
	assert_true((const unsigned char *)p + n <= heap_mem + HEAP_LEN);
}

/* The whole heap is one free block again: everything was merged. */
static void assert_heap_empty(void)
{
	void *p = rl_malloc(HEAP_LEN - REMORA_HEAP_OVERHEAD);

	assert_ptr_equal(p, heap_mem + REMORA_HEAP_OVERHEAD);
	rl_free(p);
}

static void test_malloc_basic(void **state)
{
	void *a, *b, *c;

	(void)state;
	a = rl_malloc(1);
	b = rl_malloc(0);
	c = rl_malloc(100);
	assert_in_heap(a, 1);
	assert_in_heap(b, 0);
	assert_in_heap(c, 100);
	assert_true(a != b && b != c && a != c);
	rl_free(b);
	rl_free(a);
	rl_free(c);
	rl_free(NULL);
	assert_heap_empty();

	/* One byte too many for the whole heap, and absurd sizes. */
	assert_null(rl_malloc(HEAP_LEN - REMORA_HEAP_OVERHEAD + 1));
	assert_null(rl_malloc(HEAP_LEN));
	assert_null(rl_malloc(SIZE_MAX));
	assert_null(rl_malloc(SIZE_MAX - 15));

	/* A full heap refuses even one byte, and recovers on free. */
	a = rl_malloc(HEAP_LEN - REMORA_HEAP_OVERHEAD);
	assert_non_null(a);
	assert_null(rl_malloc(1));
	rl_free(a);
	assert_heap_empty();
}

/* Fills the heap with blocks, frees them in several orders. */
static void test_malloc_coalesce(void **state)
{
	enum { N = 200 };
	void *p[N];
	struct rng r = {21};

	(void)state;
	for (int order = 0; order < 4; order++) {
		int n = 0;

		while (n < N && (p[n] = rl_malloc(1 + rnd_below(&r, 8000))))
			n++;
		assert_true(n > 10);
		if (order == 0) {
			for (int i = 0; i < n; i++)
				rl_free(p[i]);
		} else if (order == 1) {
			for (int i = n - 1; i >= 0; i--)
				rl_free(p[i]);
		} else if (order == 2) {
			for (int i = 0; i < n; i += 2)
				rl_free(p[i]);
			for (int i = 1; i < n; i += 2)
				rl_free(p[i]);
		} else {
			for (int i = n - 1; i > 0; i--) {
				size_t j = rnd_below(&r, (size_t)i + 1);
				void *t = p[i];

				p[i] = p[j];
				p[j] = t;
			}
			for (int i = 0; i < n; i++)
				rl_free(p[i]);
		}
		assert_heap_empty();
	}
}

static void test_heap_calloc(void **state)
{
	unsigned char *p;

	(void)state;
	p = rl_calloc(1000, 3);
	assert_in_heap(p, 3000);
	for (size_t i = 0; i < 3000; i++)
		assert_int_equal(p[i], 0);
	assert_non_null(rl_calloc(0, 5));
	assert_null(rl_calloc(SIZE_MAX / 2, 3));
	assert_null(rl_calloc(HEAP_LEN, HEAP_LEN));
}

static void test_heap_realloc(void **state)
{
	unsigned char *p, *q, *blocker;

	(void)state;
	p = rl_realloc(NULL, 100);
	assert_in_heap(p, 100);
	for (int i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	/* Shrinks and grows in place while the next block is free. */
	assert_ptr_equal(rl_realloc(p, 50), p);
	assert_ptr_equal(rl_realloc(p, 300), p);
	for (int i = 0; i < 50; i++)
		assert_int_equal(p[i], i);
	/* Moves once the next block is taken. */
	blocker = rl_malloc(16);
	assert_true(blocker > p);
	q = rl_realloc(p, 5000);
	assert_in_heap(q, 5000);
	assert_true(q != p);
	for (int i = 0; i < 50; i++)
		assert_int_equal(q[i], i);
	/* Too big: NULL, and the old block is untouched. */
	assert_null(rl_realloc(q, SIZE_MAX));
	assert_null(rl_realloc(q, HEAP_LEN));
	for (int i = 0; i < 50; i++)
		assert_int_equal(q[i], i);
	/* Size 0 frees. */
	assert_null(rl_realloc(q, 0));
	rl_free(blocker);
	assert_heap_empty();
}

static void test_aligned(void **state)
{
	void *a, *b, *pages;

	(void)state;
	a = rl_aligned_alloc(64, 10);
	assert_in_heap(a, 10);
	assert_int_equal((uintptr_t)a % 64, 0);
	b = remora_alloc_pages(3);
	assert_in_heap(b, 3 * 4096);
	assert_int_equal((uintptr_t)b % 4096, 0);
	assert_null(rl_aligned_alloc(48, 10));
	assert_null(remora_alloc_pages(SIZE_MAX / 4096 + 1));
	rl_free(a);
	rl_free(b);
	assert_heap_empty();

	/* The heap is 256 pages; the first one holds the header. */
	pages = remora_alloc_pages(255);
	assert_ptr_equal(pages, heap_mem + 4096);
	/* The page before it is still usable. */
	a = rl_malloc(4000);
	assert_ptr_equal(a, heap_mem + REMORA_HEAP_OVERHEAD);
	rl_free(a);
	rl_free(pages);
	assert_null(remora_alloc_pages(256));
	assert_heap_empty();
}

/* Random malloc/calloc/realloc/aligned/free against a shadow of contents. */
static void test_malloc_random(void **state)
{
	enum { SLOTS = 128, OPS = 30000 };
	struct slot {
		unsigned char *p;
		size_t n;
		uint8_t tag;
	} s[SLOTS] = {{0}};
	struct rng r = {22};
	size_t failures = 0;

	(void)state;
	for (int op = 0; op < OPS; op++) {
		struct slot *x = &s[rnd_below(&r, SLOTS)];
		size_t n = rnd_below(&r, 8) ? rnd_below(&r, 300)
					    : rnd_below(&r, 64 * 1024);
		size_t keep = 0;

		if (x->p) {
			unsigned char *q;

			for (size_t i = 0; i < x->n; i++)
				assert_int_equal(x->p[i],
						 (uint8_t)(x->tag + i));
			if (rnd_below(&r, 2)) {
				rl_free(x->p);
				x->p = NULL;
				continue;
			}
			q = rl_realloc(x->p, n);
			if (!q) {
				/* Size 0 frees; else the old block stays. */
				if (n == 0)
					x->p = NULL;
				else
					failures++;
				continue;
			}
			x->p = q;
			keep = x->n < n ? x->n : n;
		} else {
			switch (rnd_below(&r, 3)) {
			case 0:
				x->p = rl_malloc(n);
				break;
			case 1:
				x->p = rl_calloc(1, n);
				for (size_t i = 0; x->p && i < n; i++)
					assert_int_equal(x->p[i], 0);
				break;
			default:
				x->p = rl_aligned_alloc(
					(size_t)16 << rnd_below(&r, 9), n);
				break;
			}
			if (!x->p) {
				failures++;
				continue;
			}
			x->tag = (uint8_t)rnd(&r);
		}
		assert_in_heap(x->p, n);
		/* Keep the old prefix, extend the pattern over the rest. */
		for (size_t i = keep; i < n; i++)
			x->p[i] = (uint8_t)(x->tag + i);
		x->n = n;
	}
	for (size_t i = 0; i < SLOTS; i++) {
		for (size_t j = 0; s[i].p && j < s[i].n; j++)
			assert_int_equal(s[i].p[j], (uint8_t)(s[i].tag + j));
		rl_free(s[i].p);
	}
	assert_heap_empty();
	/* The workload must have filled the heap now and then. */
	assert_true(failures > 0);
}

static void test_free_errors(void **state)
{
	unsigned char *p, *q;
	int local;

	(void)state;
	p = rl_malloc(64);
	q = rl_malloc(64);
	rl_free(p);
	expect_assert_failure(rl_free(p));
	expect_assert_failure(rl_realloc(p, 10));
	expect_assert_failure(rl_free(q + 16));
	expect_assert_failure(rl_free(q + 1));
	expect_assert_failure(rl_free(&local));
	expect_assert_failure(rl_free(heap_mem + HEAP_LEN));
	/* A clobbered header. */
	memset(q - REMORA_HEAP_OVERHEAD, 0x41, REMORA_HEAP_OVERHEAD);
	expect_assert_failure(rl_free(q));
}

/* Odd regions: unaligned start and end, too small to hold a block. */
static void test_heap_init(void **state)
{
	unsigned char *p;

	(void)state;
	remora_heap_init(heap_mem + 3, 20);
	assert_null(rl_malloc(0));
	/* [5, 1005) shrinks to [16, 992): 976 bytes, one header. */
	remora_heap_init(heap_mem + 5, 1000);
	assert_null(rl_malloc(961));
	p = rl_malloc(960);
	assert_ptr_equal(p, heap_mem + 32);
	remora_heap_init(NULL, 0);
	assert_null(rl_malloc(1));
	assert_null(remora_alloc_pages(1));
}

/* ---- the argument splitter -------------------------------------------------- */

static void check_split(const char *in, int max, int want, ...)
{
	char buf[4096];
	char *argv[1100];
	va_list ap;
	int n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = remora_split_args(buf, argv, max);
	if (n != want)
		fail_msg("split \"%s\": %d arguments, expected %d", in, n,
			 want);
	va_start(ap, want);
	for (int i = 0; i < n; i++) {
		const char *arg = va_arg(ap, const char *);

		if (strcmp(argv[i], arg))
			fail_msg("split \"%s\": argument %d is \"%s\", "
				 "expected \"%s\"",
				 in, i, argv[i], arg);
	}
	va_end(ap);
}

static void test_split_args(void **state)
{
	char many[2048];
	char *argv[1024];

	(void)state;
	check_split("", 8, 0);
	check_split(" \t\n ", 8, 0);
	check_split("a", 8, 1, "a");
	check_split("  a  b\tc\n", 8, 3, "a", "b", "c");
	check_split("--pages 10 --seed 0x5", 8, 4, "--pages", "10", "--seed",
		    "0x5");
	check_split("\"a b\" c", 8, 2, "a b", "c");
	check_split("x\"y z\"w", 8, 1, "xy zw");
	check_split("\"\"", 8, 1, "");
	check_split("a \"\" b", 8, 3, "a", "", "b");
	check_split("\"a \\\" b\"", 8, 1, "a \" b");
	check_split("a\\\\b", 8, 1, "a\\b");
	check_split("a\\b c\\", 8, 2, "a\\b", "c\\");
	check_split("\\\"", 8, 1, "\"");
	check_split("\"tab\there\"", 8, 1, "tab\there");
	check_split("\"unclosed", 8, -1);
	check_split("a \"b", 8, -1);
	check_split("a b c", 2, -1);
	check_split("a b", 2, 2, "a", "b");
	check_split("a", 0, -1);
	check_split("", 0, 0);

	/* The longest command line holds 1024 one-letter arguments. */
	for (size_t i = 0; i < sizeof(many) - 1; i++)
		many[i] = i % 2 ? ' ' : 'a';
	many[sizeof(many) - 1] = '\0';
	assert_int_equal(remora_split_args(many, argv, 1024), 1024);
	for (int i = 0; i < 1024; i++)
		assert_string_equal(argv[i], "a");
}

/* Guests' option numbers: decimal or 0x-hex, and nothing else. */
static void test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(remora_parse_u64("0", &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(remora_parse_u64("4096", &v), 1);
	assert_int_equal(v, 4096);
	assert_int_equal(remora_parse_u64("0x10", &v), 1);
	assert_int_equal(v, 16);
	assert_int_equal(remora_parse_u64("18446744073709551615", &v), 1);
	assert_int_equal(v, UINT64_MAX);
	v = 7;
	assert_int_equal(remora_parse_u64(NULL, &v), 0);
	assert_int_equal(remora_parse_u64("", &v), 0);
	assert_int_equal(remora_parse_u64("-1", &v), 0);
	assert_int_equal(remora_parse_u64("+1", &v), 0);
	assert_int_equal(remora_parse_u64(" 1", &v), 0);
	assert_int_equal(remora_parse_u64("12ms", &v), 0);
	assert_int_equal(remora_parse_u64("0x", &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printf_integers),
		cmocka_unit_test(test_printf_strings),
		cmocka_unit_test(test_printf_chars),
		cmocka_unit_test(test_printf_pointers),
		cmocka_unit_test(test_printf_star),
		cmocka_unit_test(test_printf_mixed),
		cmocka_unit_test(test_printf_truncation),
		cmocka_unit_test(test_printf_unsupported),
		cmocka_unit_test(test_strtoul),
		cmocka_unit_test(test_memcpy_memset),
		cmocka_unit_test(test_memmove),
		cmocka_unit_test(test_memcmp),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_ctype),
		cmocka_unit_test_setup_teardown(test_malloc_basic, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_malloc_coalesce,
						heap_setup, heap_teardown),
		cmocka_unit_test_setup_teardown(test_heap_calloc, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_heap_realloc, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_aligned, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_malloc_random, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_free_errors, heap_setup,
						heap_teardown),
		cmocka_unit_test_setup_teardown(test_heap_init, heap_setup,
						heap_teardown),
		cmocka_unit_test(test_split_args),
		cmocka_unit_test(test_parse_u64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
