/*
 * Unit tests for the page codec (common/codec.h). They pin the choice of kind
 * (UNCHANGED, ZERO, DELTA, RAW) and the exact DELTA bytes for hand-picked
 * pages, check encode against a slow reference model of the grammar on 10,000
 * pseudo-random pages of every density (and every encoder variant this CPU
 * runs against the same model), prove that encode writes nothing past
 * CODEC_BOUND(page_size) and that neither side reads outside its buffers
 * (pages and payloads sit against PROT_NONE guard pages), and feed decode a
 * table of malformed payloads that must each be refused with the page left
 * byte-for-byte untouched, with codec_validate() giving the same verdict.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "codec_impl.h"
#include "testutil.h"

#define PS 4096u
/* Canary bytes on each side of an encode output buffer. */
#define CANARY	    64u
#define CANARY_BYTE 0xa5

/* ---- helpers ------------------------------------------------------------ */

/*
 * len bytes that end exactly where a PROT_NONE page begins, so that any read
 * or write past the end faults. When len is a multiple of the system page
 * size the buffer also starts right after a guard page, catching underruns.
 */
static size_t sys_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t guard_data_len(size_t len)
{
	size_t pg = sys_page();

	return (len + pg - 1) / pg * pg;
}

static uint8_t *guard_alloc(size_t len)
{
	size_t pg = sys_page(), data = guard_data_len(len);
	uint8_t *m = mmap(NULL, data + 2 * pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m, pg, PROT_NONE), 0);
	assert_int_equal(mprotect(m + pg + data, pg, PROT_NONE), 0);
	return m + pg + data - len;
}

static void guard_free(uint8_t *p, size_t len)
{
	size_t pg = sys_page(), data = guard_data_len(len);

	assert_int_equal(munmap(p + len - data - pg, data + 2 * pg), 0);
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * The reference DELTA encoder, byte at a time: a literal starts at a changed
 * byte and takes in every following gap of fewer than 3 unchanged bytes that
 * is followed by another changed byte (a gap reaching the page end is the
 * implicit tail, never part of a literal). Returns the DELTA length; out
 * must hold 2 * n + 16 bytes, as an unlimited DELTA can exceed the page.
 */
static size_t model_delta(const uint8_t *old, const uint8_t *new, size_t n,
			  uint8_t *out)
{
	size_t pos = 0, o = 0, i = 0;

	while (i < n) {
		size_t start, end, j, k;

		if (old[i] == new[i]) {
			i++;
			continue;
		}
		start = i;
		end = i + 1;
		j = end;
		while (j < n) {
			size_t g = j;

			if (old[j] != new[j]) {
				end = ++j;
				continue;
			}
			while (g < n && old[g] == new[g])
				g++;
			if (g == n || g - j >= 3)
				break;
			j = g;
		}
		o += put_varint(out + o, start - pos);
		o += put_varint(out + o, end - start);
		for (k = start; k < end; k++)
			out[o++] = old[k] ^ new[k];
		pos = end;
		i = end;
	}
	return o;
}

/*
 * What codec_encode() must return for the pair, by the rules in codec.h:
 * kind, and the payload in out / *len. old == NULL means "unknown".
 */
static int model_encode(const uint8_t *old, const uint8_t *new, size_t n,
			uint8_t *out, size_t *len)
{
	size_t d;

	*len = 0;
	if (!old) {
		if (all_zero(new, n))
			return CODEC_ZERO;
		memcpy(out, new, n);
		*len = n;
		return CODEC_RAW;
	}
	if (!memcmp(old, new, n))
		return CODEC_UNCHANGED;
	if (all_zero(new, n))
		return CODEC_ZERO;
	d = model_delta(old, new, n, out);
	if (d < n) {
		*len = d;
		return CODEC_DELTA;
	}
	memcpy(out, new, n);
	*len = n;
	return CODEC_RAW;
}

/*
 * Reference decoder for payloads this file itself knows to be valid: applies
 * a DELTA to page without any checking.
 */
static void model_apply_delta(uint8_t *page, const uint8_t *d, size_t len)
{
	size_t i = 0, pos = 0;

	while (i < len) {
		uint64_t skip = 0, run = 0, k;
		int shift = 0;

		do {
			skip |= (uint64_t)(d[i] & 0x7f) << shift;
			shift += 7;
		} while (d[i++] & 0x80);
		shift = 0;
		do {
			run |= (uint64_t)(d[i] & 0x7f) << shift;
			shift += 7;
		} while (d[i++] & 0x80);
		pos += skip;
		for (k = 0; k < run; k++)
			page[pos++] ^= d[i++];
	}
}

/*
 * Encode buffer with a canary region on both sides: returns the payload
 * pointer; CODEC_BOUND(n) bytes from there may be written, nothing else.
 */
static uint8_t *canary_alloc(size_t n)
{
	uint8_t *b = malloc(CODEC_BOUND(n) + 2 * CANARY);

	assert_non_null(b);
	memset(b, CANARY_BYTE, CODEC_BOUND(n) + 2 * CANARY);
	return b + CANARY;
}

static void canary_check(const uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < CANARY; i++) {
		if (out[-1 - (long)i] != CANARY_BYTE)
			fail_msg("encode wrote %zu bytes before out", i + 1);
		if (out[CODEC_BOUND(n) + i] != CANARY_BYTE)
			fail_msg("encode wrote past CODEC_BOUND (+%zu)", i);
	}
}

static void canary_free(uint8_t *out)
{
	free(out - CANARY);
}

/*
 * Encodes (old, new) with codec_encode() and checks kind, length and payload
 * against want_kind / want (want_len bytes), the canaries, and that decoding
 * the result onto old reproduces new. old may be NULL.
 */
static void check_encode(const uint8_t *old, const uint8_t *new, size_t n,
			 int want_kind, const uint8_t *want, size_t want_len)
{
	uint8_t *out = canary_alloc(n);
	uint8_t *page = malloc(n);
	size_t len = 12345;
	int kind;

	assert_non_null(page);
	kind = codec_encode(old, new, n, out, &len);
	canary_check(out, n);
	assert_int_equal(kind, want_kind);
	assert_int_equal(len, want_len);
	if (want_len)
		assert_memory_equal(out, want, want_len);

	/* Unknown old: any content must become new. */
	if (old)
		memcpy(page, old, n);
	else
		memset(page, 0x5c, n);
	assert_int_equal(codec_validate(kind, out, len, n), 0);
	assert_int_equal(codec_decode(page, n, kind, out, len), 0);
	assert_memory_equal(page, new, n);
	free(page);
	canary_free(out);

	/* codec_encode_ref(): the same kind, length and payload bytes; a RAW
	 * payload is new itself (out was at most scratch: not written at all
	 * when there was no old page to delta against). */
	{
		const uint8_t *payload = NULL;
		uint8_t *ref = canary_alloc(n);
		size_t rlen = 12345;

		memset(ref, 0xa7, n);
		assert_int_equal(
			codec_encode_ref(old, new, n, ref, &rlen, &payload),
			want_kind);
		canary_check(ref, n);
		assert_int_equal(rlen, want_len);
		if (want_kind == CODEC_RAW) {
			assert_ptr_equal(payload, new);
			for (size_t i = 0; !old && i < n; i++)
				assert_int_equal(ref[i], 0xa7);
		} else {
			assert_ptr_equal(payload, ref);
		}
		/* (A RAW payload is new itself: compared when want is not.) */
		if (want_len && payload != want)
			assert_memory_equal(payload, want, want_len);
		canary_free(ref);
	}
}

/* ---- kind choice and exact encodings ------------------------------------ */

static void test_zero_page(void **state)
{
	struct rng r = {1};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);

	(void)state;
	fill_random(&r, old, PS);
	memset(new, 0, PS);
	check_encode(old, new, PS, CODEC_ZERO, NULL, 0);

	/* ZERO wins even where a DELTA would be tiny (one byte to clear). */
	memset(old, 0, PS);
	old[1000] = 0x42;
	check_encode(old, new, PS, CODEC_ZERO, NULL, 0);

	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_both_zero_is_unchanged(void **state)
{
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);

	(void)state;
	memset(old, 0, PS);
	memset(new, 0, PS);
	check_encode(old, new, PS, CODEC_UNCHANGED, NULL, 0);
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_unchanged_random(void **state)
{
	struct rng r = {2};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);

	(void)state;
	fill_random(&r, old, PS);
	memcpy(new, old, PS);
	check_encode(old, new, PS, CODEC_UNCHANGED, NULL, 0);
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_one_byte_changed(void **state)
{
	struct rng r = {3};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);

	(void)state;
	fill_random(&r, old, PS);

	/* Byte 0: skip 0, len 1, the XOR byte. */
	memcpy(new, old, PS);
	new[0] ^= 0x3c;
	{
		const uint8_t want[] = {0x00, 0x01, 0x3c};

		check_encode(old, new, PS, CODEC_DELTA, want, sizeof(want));
	}

	/* Byte 2048: skip 2048 is the two-byte varint 0x80 0x10. */
	memcpy(new, old, PS);
	new[2048] ^= 0x81;
	{
		const uint8_t want[] = {0x80, 0x10, 0x01, 0x81};

		check_encode(old, new, PS, CODEC_DELTA, want, sizeof(want));
	}

	/* Byte 4095: skip 4095 = 0xff 0x1f; nothing follows the literal. */
	memcpy(new, old, PS);
	new[4095] ^= 0xff;
	{
		const uint8_t want[] = {0xff, 0x1f, 0x01, 0xff};

		check_encode(old, new, PS, CODEC_DELTA, want, sizeof(want));
	}
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_every_byte_changed_is_raw(void **state)
{
	struct rng r = {4};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	size_t i;

	(void)state;
	fill_random(&r, old, PS);
	for (i = 0; i < PS; i++)
		new[i] = old[i] ^ rnd_nz(&r);
	check_encode(old, new, PS, CODEC_RAW, new, PS);
	guard_free(old, PS);
	guard_free(new, PS);
}

/*
 * Every other byte changed: the one-byte gaps are absorbed, so the DELTA
 * would be 1 + 2 + 4095 bytes, more than the page: RAW.
 */
static void test_alternating_is_raw(void **state)
{
	struct rng r = {5};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	size_t i;

	(void)state;
	fill_random(&r, old, PS);
	memcpy(new, old, PS);
	for (i = 0; i < PS; i += 2)
		new[i] ^= rnd_nz(&r);
	check_encode(old, new, PS, CODEC_RAW, new, PS);

	/* Same for the odd bytes: the first skip is then 1. */
	memcpy(new, old, PS);
	for (i = 1; i < PS; i += 2)
		new[i] ^= rnd_nz(&r);
	check_encode(old, new, PS, CODEC_RAW, new, PS);
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_run_of_64(void **state)
{
	struct rng r = {6};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	uint8_t want[3 + 64];
	size_t i;

	(void)state;
	fill_random(&r, old, PS);

	/* Offset 100: one-byte skip, one-byte len, 64 XOR bytes. */
	memcpy(new, old, PS);
	want[0] = 100;
	want[1] = 64;
	for (i = 0; i < 64; i++) {
		want[2 + i] = rnd_nz(&r);
		new[100 + i] ^= want[2 + i];
	}
	check_encode(old, new, PS, CODEC_DELTA, want, 2 + 64);

	/* Offset 1000 = 0xe8 0x07, straddling a 64-byte block boundary. */
	memcpy(new, old, PS);
	want[0] = 0xe8;
	want[1] = 0x07;
	want[2] = 64;
	for (i = 0; i < 64; i++) {
		want[3 + i] = rnd_nz(&r);
		new[1000 + i] ^= want[3 + i];
	}
	check_encode(old, new, PS, CODEC_DELTA, want, 3 + 64);

	/* The run that ends the page: nothing implicit after it. */
	memcpy(new, old, PS);
	want[0] = 0xc0; /* 4032 */
	want[1] = 0x1f;
	want[2] = 64;
	for (i = 0; i < 64; i++) {
		want[3 + i] = rnd_nz(&r);
		new[4032 + i] ^= want[3 + i];
	}
	check_encode(old, new, PS, CODEC_DELTA, want, 3 + 64);
	guard_free(old, PS);
	guard_free(new, PS);
}

/*
 * Gap handling around the threshold of 3: gaps of 1 and 2 unchanged bytes
 * stay in the literal (as zero XOR bytes), a gap of 3 splits it.
 */
static void test_gap_threshold(void **state)
{
	struct rng r = {7};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);

	(void)state;
	fill_random(&r, old, PS);

	memcpy(new, old, PS);
	new[10] ^= 0x11;
	new[12] ^= 0x22; /* gap of 1 */
	new[15] ^= 0x33; /* gap of 2 */
	new[19] ^= 0x44; /* gap of 3: new pair, skip 3 */
	{
		const uint8_t want[] = {
			10,   6,			    /* skip 10, len 6 */
			0x11, 0x00, 0x22, 0x00, 0x00, 0x33, /* gaps kept */
			3,    1,    0x44,		    /* skip 3, len 1 */
		};

		check_encode(old, new, PS, CODEC_DELTA, want, sizeof(want));
	}

	/* A gap of 2 before the page end is the implicit tail, not literal. */
	memcpy(new, old, PS);
	new[4093] ^= 0x55;
	{
		const uint8_t want[] = {0xfd, 0x1f, 0x01, 0x55};

		check_encode(old, new, PS, CODEC_DELTA, want, sizeof(want));
	}
	guard_free(old, PS);
	guard_free(new, PS);
}

/*
 * One literal from byte 0 costs 1 + 2 + L bytes: L = 4092 is the longest that
 * still beats RAW (4095 < 4096); L = 4093 must give RAW.
 */
static void test_raw_threshold(void **state)
{
	struct rng r = {8};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	uint8_t *want = malloc(PS + 16);
	size_t i, L;

	(void)state;
	assert_non_null(want);
	fill_random(&r, old, PS);
	for (L = 4088; L <= 4096; L++) {
		size_t o = 0;

		memcpy(new, old, PS);
		o += put_varint(want + o, 0);
		o += put_varint(want + o, L);
		for (i = 0; i < L; i++) {
			want[o + i] = rnd_nz(&r);
			new[i] ^= want[o + i];
		}
		o += L;
		if (L <= 4092)
			check_encode(old, new, PS, CODEC_DELTA, want, o);
		else
			check_encode(old, new, PS, CODEC_RAW, new, PS);
	}
	free(want);
	guard_free(old, PS);
	guard_free(new, PS);
}

/*
 * Every layout of "long literal, gap, short literal, maybe a tail" whose
 * short literal lands in the last bytes of a page-sized output: the corner
 * where a literal copy of a fixed 16 bytes would reach the end of the page
 * or of the output, and where the tail decides between DELTA and RAW.
 */
static void test_short_literal_near_limit(void **state)
{
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	uint8_t *want = malloc(2 * PS + 16);
	size_t c, L, g, m, k, len, seen_raw = 0, seen_delta = 0;
	int tail, kind;

	(void)state;
	assert_non_null(want);
	memset(old, 0x3c, PS);
	/* c walks tail (2) x short length m (16) x gap g (4) x L (31). */
	for (c = 0; c < 2 * 16 * 4 * 31; c++) {
		tail = (int)(c % 2);
		m = 1 + c / 2 % 16;
		g = 3 + c / 32 % 4;
		L = PS - 45 + c / 128;
		memcpy(new, old, PS);
		for (k = 0; k < L; k++)
			new[k] = 0x5a;
		for (k = L + g; k < L + g + m && k < PS; k++)
			new[k] = 0x77;
		for (k = L + g + m + 3; tail && k < PS; k++)
			new[k] = 0x11;
		kind = model_encode(old, new, PS, want, &len);
		seen_raw += kind == CODEC_RAW;
		seen_delta += kind == CODEC_DELTA;
		check_encode(old, new, PS, kind, want, len);
	}
	/* Both outcomes were reached, so both sides of the limit ran. */
	assert_true(seen_raw > 100);
	assert_true(seen_delta > 100);
	free(want);
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_sparse_random(void **state)
{
	struct rng r = {9};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	uint8_t *want = malloc(2 * PS + 16);
	size_t i, len;
	int round, kind;

	(void)state;
	assert_non_null(want);
	for (round = 0; round < 50; round++) {
		fill_random(&r, old, PS);
		memcpy(new, old, PS);
		for (i = 0; i < 1 + (size_t)round * 4; i++)
			new[rnd_below(&r, PS)] ^= rnd_nz(&r);
		kind = model_encode(old, new, PS, want, &len);
		/* At most 197 changed bytes: always well under RAW. */
		assert_int_equal(kind, CODEC_DELTA);
		check_encode(old, new, PS, CODEC_DELTA, want, len);
	}
	free(want);
	guard_free(old, PS);
	guard_free(new, PS);
}

static void test_old_unknown(void **state)
{
	struct rng r = {10};
	uint8_t *new = guard_alloc(PS);

	(void)state;
	memset(new, 0, PS);
	check_encode(NULL, new, PS, CODEC_ZERO, NULL, 0);

	/* Even a page with a single set byte must be sent whole. */
	new[77] = 1;
	check_encode(NULL, new, PS, CODEC_RAW, new, PS);

	fill_random(&r, new, PS);
	check_encode(NULL, new, PS, CODEC_RAW, new, PS);
	guard_free(new, PS);
}

/* The exact encodings at the smallest, a larger and the largest page size. */
static void test_other_page_sizes(void **state)
{
	static const size_t sizes[] = {128, 16384, CODEC_PAGE_MAX};
	struct rng r = {11};
	size_t s;

	(void)state;
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s], o;
		uint8_t *old = guard_alloc(n), *new = guard_alloc(n);
		uint8_t want[8], *big = malloc(2 * n + 16);
		size_t len;
		int kind;

		assert_non_null(big);
		fill_random(&r, old, n);
		memcpy(new, old, n);
		check_encode(old, new, n, CODEC_UNCHANGED, NULL, 0);

		new[0] ^= 0x99;
		want[0] = 0;
		want[1] = 1;
		want[2] = 0x99;
		check_encode(old, new, n, CODEC_DELTA, want, 3);

		memcpy(new, old, n);
		new[n - 1] ^= 0x42;
		o = put_varint(want, n - 1);
		want[o++] = 1;
		want[o++] = 0x42;
		check_encode(old, new, n, CODEC_DELTA, want, o);

		memset(new, 0, n);
		check_encode(old, new, n, CODEC_ZERO, NULL, 0);

		/*
		 * A random page: RAW, as long as chance left no equal stretch
		 * of 3 bytes near an end; the model confirms that for this
		 * seed, so a failure here is not the codec's.
		 */
		fill_random(&r, new, n);
		kind = model_encode(old, new, n, big, &len);
		assert_int_equal(kind, CODEC_RAW);
		check_encode(old, new, n, kind, big, len);
		check_encode(NULL, new, n, CODEC_RAW, new, n);
		free(big);
		guard_free(old, n);
		guard_free(new, n);
	}
	/* Spot-check the literal forms: 127 is one byte, 16383 two. */
	{
		static const uint8_t last128[] = {0x7f, 0x01, 0x42};
		static const uint8_t last16k[] = {0xff, 0x7f, 0x01, 0x42};
		uint8_t page[128];

		memset(page, 7, sizeof(page));
		assert_int_equal(codec_validate(CODEC_DELTA, last128, 3, 128),
				 0);
		assert_int_equal(
			codec_decode(page, 128, CODEC_DELTA, last128, 3), 0);
		assert_int_equal(page[127], 7 ^ 0x42);
		assert_int_equal(codec_validate(CODEC_DELTA, last16k, 4, 16384),
				 0);
	}
}

static void test_page_size_ok(void **state)
{
	(void)state;
	assert_int_equal(codec_page_size_ok(128), 1);
	assert_int_equal(codec_page_size_ok(4096), 1);
	assert_int_equal(codec_page_size_ok(16384), 1);
	assert_int_equal(codec_page_size_ok(65536), 1);
	assert_int_equal(codec_page_size_ok(CODEC_PAGE_MAX), 1);
	assert_int_equal(codec_page_size_ok(0), 0);
	assert_int_equal(codec_page_size_ok(64), 0);
	assert_int_equal(codec_page_size_ok(100), 0);
	assert_int_equal(codec_page_size_ok(4097), 0);
	assert_int_equal(codec_page_size_ok(4096 + 64), 0);
	assert_int_equal(codec_page_size_ok(CODEC_PAGE_MAX + 128), 0);
	assert_int_equal(codec_page_size_ok((size_t)1 << 40), 0);
}

static void test_encode_bad_page_size(void **state)
{
	static const size_t bad[] = {0, 100, 4097, CODEC_PAGE_MAX + 128};
	uint8_t *old = calloc(1, 2 * CODEC_PAGE_MAX);
	uint8_t *new = calloc(1, 2 * CODEC_PAGE_MAX);
	uint8_t *out = canary_alloc(2 * CODEC_PAGE_MAX);
	size_t i;

	(void)state;
	assert_non_null(old);
	assert_non_null(new);
	new[0] = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = 777;

		assert_int_equal(codec_encode(old, new, bad[i], out, &len),
				 -EINVAL);
		assert_int_equal(codec_encode(NULL, new, bad[i], out, &len),
				 -EINVAL);
	}
	/* Nothing at all was written to the output buffer. */
	for (i = 0; i < CODEC_BOUND(2 * CODEC_PAGE_MAX); i++)
		if (out[i] != CANARY_BYTE)
			fail_msg("out[%zu] written on -EINVAL", i);
	canary_free(out);
	free(old);
	free(new);
}

static void test_names(void **state)
{
	int k;

	(void)state;
	for (k = -2; k <= 5; k++) {
		const char *s = codec_kind_name(k);

		assert_non_null(s);
		assert_true(s[0] != '\0');
	}
	assert_string_equal(codec_kind_name(4), "invalid");
	assert_string_equal(codec_kind_name(-1), "invalid");
	/* The four kinds have four distinct names, none of them "invalid". */
	for (k = 0; k < 4; k++) {
		int j;

		assert_string_not_equal(codec_kind_name(k), "invalid");
		for (j = 0; j < k; j++)
			assert_string_not_equal(codec_kind_name(k),
						codec_kind_name(j));
	}
	assert_non_null(codec_impl_name());
	assert_true(codec_impl_name()[0] != '\0');
}

/* ---- random round trips ------------------------------------------------- */

/*
 * One pseudo-random (old, new) pair of n bytes; returns 0 when old is to be
 * treated as unknown. The modes cover every kind and the awkward cases:
 * gaps right at the threshold, literals right at the RAW limit, runs that
 * touch the page ends, and changes that rewrite a byte with its old value.
 */
static int make_case(struct rng *r, uint8_t *old, uint8_t *new, size_t n)
{
	size_t i, k, m, at, len;
	int known = 1;

	fill_random(r, old, n);
	memcpy(new, old, n);
	switch (rnd_below(r, 14)) {
	case 0: /* unchanged */
		break;
	case 1: /* zeroed */
		memset(new, 0, n);
		break;
	case 2: /* zero, stays zero */
		memset(old, 0, n);
		memset(new, 0, n);
		break;
	case 3: /* k flips, k spread over 1..n on a log scale */
		k = 1 + rnd_below(r, (size_t)1 << rnd_below(r, 13));
		for (i = 0; i < k; i++)
			new[rnd_below(r, n)] ^= rnd_nz(r);
		break;
	case 4: /* a few runs, some at the page ends */
		m = 1 + rnd_below(r, 8);
		for (i = 0; i < m; i++) {
			len = 1 + rnd_below(r, 300);
			if (len > n)
				len = n;
			switch (rnd_below(r, 4)) {
			case 0:
				at = 0;
				break;
			case 1:
				at = n - len;
				break;
			default:
				at = rnd_below(r, n - len + 1);
			}
			for (k = at; k < at + len; k++)
				new[k] ^= rnd_nz(r);
		}
		break;
	case 5: /* each byte changed with probability 2^-e */
		m = (size_t)1 << rnd_below(r, 8);
		for (i = 0; i < n; i++)
			if (rnd_below(r, m) == 0)
				new[i] ^= rnd_nz(r);
		break;
	case 6: /* a whole new page */
		fill_random(r, new, n);
		break;
	case 7: /* changes at a fixed stride: gaps of exactly 0..4 */
		m = 1 + rnd_below(r, 5);
		k = 1 + rnd_below(r, n);
		for (i = rnd_below(r, 8); i < n && k; i += m, k--)
			new[i] ^= rnd_nz(r);
		break;
	case 8: /* unknown old */
		known = 0;
		switch (rnd_below(r, 3)) {
		case 0:
			memset(new, 0, n);
			break;
		case 1:
			memset(new, 0, n);
			new[rnd_below(r, n)] = rnd_nz(r);
			break;
		default:
			fill_random(r, new, n);
		}
		break;
	case 9: /* one literal of length near the RAW limit */
		len = n - 1 - rnd_below(r, 12);
		at = rnd_below(r, n - len + 1);
		for (k = at; k < at + len; k++)
			new[k] ^= rnd_nz(r);
		break;
	case 10: /* zero old page, sparse new */
		memset(old, 0, n);
		memset(new, 0, n);
		k = 1 + rnd_below(r, 64);
		for (i = 0; i < k; i++)
			new[rnd_below(r, n)] = rnd_nz(r);
		break;
	case 11: /* bytes rewritten at random: some keep their value */
		k = 1 + rnd_below(r, n);
		for (i = 0; i < k; i++)
			new[rnd_below(r, n)] = (uint8_t)rnd(r);
		break;
	case 12:
		/*
		 * A long literal, then a short one whose output lands in the
		 * last 16 bytes below n (where a one-step 16-byte literal
		 * copy has no room to spare), then maybe a tail literal that
		 * tips the DELTA over to RAW.
		 */
		len = n - 21 - rnd_below(r, 24);
		for (k = 0; k < len; k++)
			new[k] ^= rnd_nz(r);
		at = len + 3 + rnd_below(r, 4);
		m = 1 + rnd_below(r, 16);
		for (k = at; k < at + m && k < n; k++)
			new[k] ^= rnd_nz(r);
		if (rnd_below(r, 2))
			for (k = at + m + 3; k < n; k++)
				new[k] ^= rnd_nz(r);
		break;
	default: /* flip every byte but a few gaps */
		for (i = 0; i < n; i++)
			new[i] ^= rnd_nz(r);
		m = 1 + rnd_below(r, 40);
		for (i = 0; i < m; i++) {
			at = rnd_below(r, n);
			len = 1 + rnd_below(r, 6);
			for (k = at; k < at + len && k < n; k++)
				new[k] = old[k];
		}
	}
	return known;
}

/*
 * rounds random pairs at page size n: codec_encode() must match the model
 * byte for byte, stay inside CODEC_BOUND, and decode back to new; every
 * encoder variant of codec_impls() must produce the same DELTA.
 */
static void round_trips(uint64_t seed, size_t n, int rounds)
{
	struct rng r = {seed};
	uint8_t *old = guard_alloc(n), *new = guard_alloc(n);
	uint8_t *want = malloc(2 * n + 16), *vout = canary_alloc(n);
	uint8_t *out = canary_alloc(n), *page = malloc(n);
	const struct codec_impl *impls[8];
	size_t nimpl = codec_impls(impls, 8), i, want_len, len;
	int round, known, want_kind, kind, seen[4] = {0};
	long wd;

	assert_non_null(want);
	assert_non_null(vout);
	assert_non_null(page);
	assert_true(nimpl >= 1);
	assert_string_equal(impls[0]->name, codec_impl_name());
	for (round = 0; round < rounds; round++) {
		known = make_case(&r, old, new, n);
		want_kind = model_encode(known ? old : NULL, new, n, want,
					 &want_len);
		len = 99999;
		kind = codec_encode(known ? old : NULL, new, n, out, &len);
		canary_check(out, n);
		if (kind != want_kind || len != want_len ||
		    memcmp(out, want, want_len))
			fail_msg(
				"n %zu round %d: kind %d len %zu, model %d %zu",
				n, round, kind, len, want_kind, want_len);
		assert_true(len <= n);
		if (kind == CODEC_DELTA)
			assert_true(len >= 1 && len < n);
		seen[kind]++;

		if (known)
			memcpy(page, old, n);
		else
			memset(page, 0xee, n);
		assert_int_equal(codec_decode(page, n, kind, out, len), 0);
		if (memcmp(page, new, n))
			fail_msg("n %zu round %d: decode != new", n, round);

		if (!known)
			continue;
		/* Each variant: DELTA length, 0 if equal, -1 if >= n. */
		wd = (long)model_delta(old, new, n, want);
		if (wd >= (long)n)
			wd = -1;
		for (i = 0; i < nimpl; i++) {
			long d;

			d = impls[i]->delta(old, new, n, vout);
			if (d != wd || (d > 0 && memcmp(vout, want, (size_t)d)))
				fail_msg("%s round %d: delta %ld, model %ld",
					 impls[i]->name, round, d, wd);
			/* Like codec_encode(): CODEC_BOUND(n) at most. */
			canary_check(vout, n);
			assert_int_equal(!!impls[i]->page_zero(new, n),
					 all_zero(new, n));
			assert_int_equal(!!impls[i]->page_zero(old, n),
					 all_zero(old, n));
		}
	}
	/* The mix really did reach every kind. */
	if (rounds >= 1000)
		for (i = 0; i < 4; i++)
			if (seen[i] < rounds / 50)
				fail_msg("kind %zu only %d times", i, seen[i]);
	canary_free(out);
	free(page);
	canary_free(vout);
	free(want);
	guard_free(old, n);
	guard_free(new, n);
}

static void test_round_trips_4k(void **state)
{
	(void)state;
	round_trips(0x5eed0001, PS, 10000);
}

static void test_round_trips_other_sizes(void **state)
{
	(void)state;
	round_trips(0x5eed0002, 128, 3000);
	round_trips(0x5eed0003, 16384, 500);
	round_trips(0x5eed0004, 65536, 50);
}

/* ---- malformed payloads ------------------------------------------------- */

struct bad_case {
	const char *what;
	int kind;
	size_t page_size;
	const uint8_t *p;
	size_t len;
	int err;
};

#define B(...)	((const uint8_t[]){__VA_ARGS__})
#define BL(...) B(__VA_ARGS__), sizeof(B(__VA_ARGS__))

/*
 * validate and decode must both return c->err; decode must leave a
 * pattern-filled page exactly as it was. The payload ends at a guard page, so
 * reading past len faults.
 */
static void check_bad(const struct bad_case *c)
{
	size_t n = c->page_size ? c->page_size : 1;
	uint8_t *pl = guard_alloc(c->len);
	uint8_t *page = malloc(n), *copy = malloc(n);
	size_t i;
	int rc;

	assert_non_null(page);
	assert_non_null(copy);
	if (c->len)
		memcpy(pl, c->p, c->len);
	for (i = 0; i < n; i++)
		page[i] = (uint8_t)(i * 7 + 3);
	memcpy(copy, page, n);

	rc = codec_validate(c->kind, pl, c->len, c->page_size);
	if (rc != c->err)
		fail_msg("%s: validate %d, want %d", c->what, rc, c->err);
	rc = codec_decode(page, c->page_size, c->kind, pl, c->len);
	if (rc != c->err)
		fail_msg("%s: decode %d, want %d", c->what, rc, c->err);
	if (memcmp(page, copy, n))
		fail_msg("%s: page modified on error", c->what);
	free(page);
	free(copy);
	guard_free(pl, c->len);
}

/* A payload of len bytes: pair (skip, run) then run literal bytes. */
static size_t one_pair(uint8_t *p, size_t skip, size_t run)
{
	size_t o = put_varint(p, skip);

	o += put_varint(p + o, run);
	memset(p + o, 0x5a, run);
	return o + run;
}

static void test_malformed_delta(void **state)
{
	const int D = CODEC_DELTA, E = -EBADMSG;
	const struct bad_case cases[] = {
		{"empty", D, PS, B(0), 0, E},
		{"truncated varint 0x80", D, PS, BL(0x80), E},
		{"truncated len varint", D, PS, BL(0x00, 0x80), E},
		{"only a skip", D, PS, BL(0x05), E},
		{"overlong skip 0x80 0x00", D, PS, BL(0x80, 0x00), E},
		{"overlong skip, then a pair", D, PS,
		 BL(0x80, 0x00, 0x01, 0xaa), E},
		{"overlong len 0x81 0x00", D, PS, BL(0x00, 0x81, 0x00, 0xaa),
		 E},
		{"overlong 3-byte skip", D, PS,
		 BL(0x85, 0x80, 0x00, 0x01, 0xaa), E},
		{"skip 4097 > page", D, PS, BL(0x81, 0x20, 0x01, 0xaa), E},
		{"len 4097 > page", D, PS, BL(0x00, 0x81, 0x20, 0xaa), E},
		{"huge skip 2^28", D, PS,
		 BL(0x80, 0x80, 0x80, 0x80, 0x01, 0x01, 0xaa), E},
		{"6-byte varint", D, PS,
		 BL(0x81, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01, 0xaa), E},
		{"11 continuation bytes", D, PS,
		 BL(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x80, 0x01, 0x01, 0xaa),
		 E},
		{"skip 4096 runs past the end", D, PS,
		 BL(0x80, 0x20, 0x01, 0xaa), E},
		{"literal 4095+2 past the end", D, PS,
		 BL(0xff, 0x1f, 0x02, 0xaa, 0xbb), E},
		{"second skip past the end", D, PS,
		 BL(0x00, 0x01, 0xaa, 0xff, 0x1f, 0x01, 0xbb), E},
		{"second literal past the end", D, PS,
		 BL(0xfd, 0x1f, 0x01, 0xaa, 0x01, 0x02, 0xbb, 0xcc), E},
		{"len 0", D, PS, BL(0x00, 0x00), E},
		{"skip 5 len 0", D, PS, BL(0x05, 0x00), E},
		{"len 0 in the second pair", D, PS,
		 BL(0x00, 0x01, 0xaa, 0x05, 0x00), E},
		{"skip 0 in the second pair", D, PS,
		 BL(0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb), E},
		{"skip 0 in the third pair", D, PS,
		 BL(0x03, 0x01, 0xaa, 0x04, 0x01, 0xbb, 0x00, 0x01, 0xcc), E},
		{"literal missing", D, PS, BL(0x00, 0x01), E},
		{"literal short by one", D, PS, BL(0x00, 0x03, 0xaa, 0xbb), E},
		{"dangling skip after a pair", D, PS,
		 BL(0x00, 0x01, 0xaa, 0x05), E},
		{"dangling 0x80 after a pair", D, PS,
		 BL(0x00, 0x01, 0xaa, 0x80), E},
		{"128: skip 128 past the end", D, 128,
		 BL(0x80, 0x01, 0x01, 0xaa), E},
		{"128: varint 129 > page", D, 128, BL(0x00, 0x81, 0x01, 0xaa),
		 E},
		{"128: 127+2 past the end", D, 128, BL(0x7f, 0x02, 0xaa, 0xbb),
		 E},
		{"16k: skip 16384+1", D, 16384,
		 BL(0x81, 0x80, 0x01, 0x01, 0xaa), E},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);
}

/*
 * A delta of more runs than the decoder keeps while it validates (1,024
 * one-byte changes, 4 bytes apart): applied right, and when its last
 * literal is cut short, refused with the page untouched (the second walk
 * never starts).
 */
static void test_many_runs(void **state)
{
	struct rng r = {21};
	uint8_t *old = guard_alloc(PS), *new = guard_alloc(PS);
	uint8_t *page = guard_alloc(PS), *out = malloc(PS);
	size_t i, len;
	int kind;

	(void)state;
	assert_non_null(out);
	fill_random(&r, old, PS);
	memcpy(new, old, PS);
	for (i = 0; i < PS; i += 4)
		new[i] ^= rnd_nz(&r);
	kind = codec_encode(old, new, PS, out, &len);
	assert_int_equal(kind, CODEC_DELTA);
	assert_int_equal(len, 3 * 1024);
	memcpy(page, old, PS);
	assert_int_equal(codec_decode(page, PS, kind, out, len), 0);
	assert_memory_equal(page, new, PS);

	memcpy(page, old, PS);
	assert_int_equal(codec_decode(page, PS, kind, out, len - 1), -EBADMSG);
	assert_memory_equal(page, old, PS);
	assert_int_equal(codec_validate(kind, out, len - 1, PS), -EBADMSG);
	free(out);
	guard_free(old, PS);
	guard_free(new, PS);
	guard_free(page, PS);
}

/* Length limits: a DELTA must be shorter than the page (RAW otherwise). */
static void test_delta_length_limit(void **state)
{
	uint8_t *p = malloc(2 * PS);
	struct bad_case c = {
		"delta of page_size bytes", CODEC_DELTA, PS, p, 0, -EBADMSG};

	(void)state;
	assert_non_null(p);
	/* 1 + 2 + 4093 = 4096 bytes, otherwise a fine single pair. */
	c.len = one_pair(p, 0, 4093);
	assert_int_equal(c.len, PS);
	check_bad(&c);

	c.what = "delta of page_size + 1 bytes";
	c.len = one_pair(p, 0, 4094);
	assert_int_equal(c.len, PS + 1);
	check_bad(&c);

	/* 128-byte page: 1 + 1 + 126 = 128. */
	c.what = "128: delta of 128 bytes";
	c.page_size = 128;
	c.len = one_pair(p, 0, 126);
	assert_int_equal(c.len, 128);
	check_bad(&c);
	free(p);
}

static void test_bad_lengths_other_kinds(void **state)
{
	uint8_t *p = calloc(1, PS + 1);
	const struct bad_case cases[] = {
		{"unchanged len 1", CODEC_UNCHANGED, PS, p, 1, -EBADMSG},
		{"zero len 1", CODEC_ZERO, PS, p, 1, -EBADMSG},
		{"zero len 4096", CODEC_ZERO, PS, p, PS, -EBADMSG},
		{"raw len 0", CODEC_RAW, PS, p, 0, -EBADMSG},
		{"raw len 4095", CODEC_RAW, PS, p, PS - 1, -EBADMSG},
		{"raw len 4097", CODEC_RAW, PS, p, PS + 1, -EBADMSG},
		{"raw len 128 on 4k", CODEC_RAW, PS, p, 128, -EBADMSG},
	};
	size_t i;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);
	free(p);
}

static void test_bad_kind_and_page_size(void **state)
{
	static const uint8_t d[] = {0x00, 0x01, 0xaa};
	uint8_t *raw = calloc(1, PS + 1);
	const struct bad_case cases[] = {
		{"kind 4", 4, PS, d, 3, -EINVAL},
		{"kind -1", -1, PS, d, 3, -EINVAL},
		{"kind 4 len 0", 4, PS, d, 0, -EINVAL},
		{"kind 1000", 1000, PS, raw, PS, -EINVAL},
		{"delta, page 100", CODEC_DELTA, 100, d, 3, -EINVAL},
		{"delta, page 0", CODEC_DELTA, 0, d, 3, -EINVAL},
		{"delta, page 4097", CODEC_DELTA, 4097, d, 3, -EINVAL},
		{"zero, page 100", CODEC_ZERO, 100, d, 0, -EINVAL},
		{"unchanged, page 0", CODEC_UNCHANGED, 0, d, 0, -EINVAL},
		{"raw, page 4097", CODEC_RAW, 4097, raw, 4097, -EINVAL},
		{"raw, page 100", CODEC_RAW, 100, raw, 100, -EINVAL},
	};
	size_t i;

	(void)state;
	assert_non_null(raw);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(&cases[i]);
	free(raw);
}

/*
 * Valid hand-made payloads, including the edges the malformed table sits
 * next to: validate says 0 and decode gives what the model applies.
 */
static void test_valid_payloads(void **state)
{
	struct ok_case {
		const char *what;
		const uint8_t *p;
		size_t len;
	};
	uint8_t *big = malloc(PS);
	struct ok_case cases[] = {
		{"first byte", BL(0x00, 0x01, 0xaa)},
		{"last byte", BL(0xff, 0x1f, 0x01, 0xaa)},
		{"last two bytes", BL(0xfe, 0x1f, 0x02, 0xaa, 0xbb)},
		{"skip 1 after a pair", BL(0x00, 0x01, 0xaa, 0x01, 0x01, 0xbb)},
		{"three pairs", BL(0x05, 0x02, 0xaa, 0xbb, 0x01, 0x01, 0xcc,
				   0x80, 0x01, 0x01, 0xdd)},
		{"zero XOR bytes are fine", BL(0x00, 0x02, 0x00, 0x00)},
		{"second pair ends the page",
		 BL(0x00, 0x01, 0xaa, 0xfe, 0x1f, 0x01, 0xbb)},
		{"4092-byte literal (4095 bytes)", big, 0},
	};
	uint8_t *pl, *page = malloc(PS), *want = malloc(PS);
	size_t i, j;

	(void)state;
	assert_non_null(big);
	assert_non_null(page);
	assert_non_null(want);
	cases[7].len = one_pair(big, 0, 4092);
	assert_int_equal(cases[7].len, PS - 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pl = guard_alloc(cases[i].len);
		memcpy(pl, cases[i].p, cases[i].len);
		for (j = 0; j < PS; j++)
			page[j] = (uint8_t)(j * 13 + 1);
		memcpy(want, page, PS);
		model_apply_delta(want, cases[i].p, cases[i].len);
		if (codec_validate(CODEC_DELTA, pl, cases[i].len, PS))
			fail_msg("%s: validate refused", cases[i].what);
		if (codec_decode(page, PS, CODEC_DELTA, pl, cases[i].len))
			fail_msg("%s: decode refused", cases[i].what);
		if (memcmp(page, want, PS))
			fail_msg("%s: wrong page", cases[i].what);
		guard_free(pl, cases[i].len);
	}

	/* The other kinds: UNCHANGED leaves, ZERO clears, RAW copies. */
	for (j = 0; j < PS; j++)
		page[j] = (uint8_t)(j * 13 + 1);
	memcpy(want, page, PS);
	assert_int_equal(codec_decode(page, PS, CODEC_UNCHANGED, big, 0), 0);
	assert_memory_equal(page, want, PS);
	assert_int_equal(codec_decode(page, PS, CODEC_ZERO, big, 0), 0);
	assert_true(all_zero(page, PS));
	pl = guard_alloc(PS);
	for (j = 0; j < PS; j++)
		pl[j] = (uint8_t)(j ^ 0x77);
	assert_int_equal(codec_validate(CODEC_RAW, pl, PS, PS), 0);
	assert_int_equal(codec_decode(page, PS, CODEC_RAW, pl, PS), 0);
	assert_memory_equal(page, pl, PS);
	guard_free(pl, PS);
	free(big);
	free(page);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_both_zero_is_unchanged),
		cmocka_unit_test(test_unchanged_random),
		cmocka_unit_test(test_one_byte_changed),
		cmocka_unit_test(test_every_byte_changed_is_raw),
		cmocka_unit_test(test_alternating_is_raw),
		cmocka_unit_test(test_run_of_64),
		cmocka_unit_test(test_gap_threshold),
		cmocka_unit_test(test_raw_threshold),
		cmocka_unit_test(test_short_literal_near_limit),
		cmocka_unit_test(test_sparse_random),
		cmocka_unit_test(test_old_unknown),
		cmocka_unit_test(test_other_page_sizes),
		cmocka_unit_test(test_page_size_ok),
		cmocka_unit_test(test_encode_bad_page_size),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trips_4k),
		cmocka_unit_test(test_round_trips_other_sizes),
		cmocka_unit_test(test_malformed_delta),
		cmocka_unit_test(test_many_runs),
		cmocka_unit_test(test_delta_length_limit),
		cmocka_unit_test(test_bad_lengths_other_kinds),
		cmocka_unit_test(test_bad_kind_and_page_size),
		cmocka_unit_test(test_valid_payloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
