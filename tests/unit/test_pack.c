/*
 * Unit tests for page batches (common/pack.h). Random batches of pages
 * encoded by the real codec go through pack_add/pack_finish/pack_open/
 * pack_next and must come back entry for entry, with the body byte-identical
 * to an independent encoding of the format and the header fields exact, both
 * LZ4-compressed and stored. Then the reader is attacked: every truncation,
 * trailing bytes, each header field corrupted, every single-bit flip of a
 * stored and of a compressed body, limits (pfn, entries, page size, scratch,
 * body size), and hand-built bodies with a correct checksum that break the
 * entry grammar, so that the grammar checks, not the checksum, must catch
 * them. The writer's own refusals (order, kinds, lengths, -ENOSPC leaving it
 * unchanged, bad finish arguments) are covered too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>
#include <xxhash.h>

#include "codec.h"
#include "testutil.h"
#include "pack.h"

#define PS    4096u
#define SHIFT 12
#define MAXN  64
/* Fill byte for buffers that must come back untouched. */
#define POISON 0xa5

/* ---- helpers ------------------------------------------------------------ */

static void put_le32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* One body entry as the format describes it, written independently. */
static size_t put_entry(uint8_t *p, uint64_t pfn_field, int kind,
			const uint8_t *payload, size_t len)
{
	uint64_t tag = (uint64_t)kind;
	size_t o;

	if (kind == CODEC_DELTA)
		tag |= (uint64_t)len << 2;
	o = put_varint(p, pfn_field);
	o += put_varint(p + o, tag);
	if (len)
		memcpy(p + o, payload, len);
	return o + len;
}

/*
 * A batch around a hand-made body, with a correct checksum: compression
 * PACK_STORED copies the body, PACK_LZ4 compresses it (the caller makes sure
 * it shrinks). Returns the batch length.
 */
static size_t build_batch(uint8_t *out, int compression, uint32_t count,
			  const uint8_t *body, size_t body_len)
{
	size_t stored;

	memcpy(out, "RMPK", 4);
	out[4] = 1;
	out[5] = (uint8_t)compression;
	out[6] = SHIFT;
	out[7] = 0;
	put_le32(out + 8, count);
	put_le32(out + 12, (uint32_t)body_len);
	if (compression == PACK_LZ4) {
		int n = LZ4_compress_default(
			(const char *)body, (char *)out + PACK_HEADER_SIZE,
			(int)body_len, LZ4_compressBound((int)body_len));

		assert_true(n > 0 && (size_t)n < body_len);
		stored = (size_t)n;
	} else {
		memcpy(out + PACK_HEADER_SIZE, body, body_len);
		stored = body_len;
	}
	put_le32(out + 16, (uint32_t)stored);
	put_le64(out + 20, XXH3_64bits(body, body_len));
	return PACK_HEADER_SIZE + stored;
}

/* A payload pointer for entries without payload. */
static const uint8_t nothing[1];

static const struct pack_limits lim4k = {PS, 1ull << 48, PACK_MAX_ENTRIES};

/* Scratch for compressed bodies: fits any batch built in this file. */
#define SCRATCH_CAP (PACK_MAX_ENTRIES * 4 + MAXN * (PS + PACK_ENTRY_OVERHEAD))
static uint8_t *scratch;

/*
 * pack_open() must fail with want; *why must then be a non-empty reason.
 * Returns that reason for callers that care which check fired.
 */
static const char *open_fails(const uint8_t *b, size_t len,
			      const struct pack_limits *lim, int want,
			      const char *what)
{
	struct pack_reader r;
	const char *why = NULL;
	int rc = pack_open(&r, b, len, lim, scratch, SCRATCH_CAP, &why);

	if (rc != want)
		fail_msg("%s: pack_open %d (%s), want %d", what, rc,
			 why ? why : "-", want);
	if (!why || !why[0])
		fail_msg("%s: no reason given", what);
	return why;
}

static void open_ok(struct pack_reader *r, const uint8_t *b, size_t len,
		    const struct pack_limits *lim, const char *what)
{
	const char *why = NULL;
	int rc = pack_open(r, b, len, lim, scratch, SCRATCH_CAP, &why);

	if (rc != 0)
		fail_msg("%s: pack_open %d (%s)", what, rc, why ? why : "-");
}

/* ---- random batches ----------------------------------------------------- */

enum mix {
	MIX_ANY,  /* every kind, random pfn gaps */
	MIX_RAW,  /* random pages, old unknown: incompressible, stored */
	MIX_ZERO, /* zero pages, one-byte deltas, consecutive pfns: LZ4 */
};

struct set {
	size_t n;
	uint64_t pfn[MAXN];
	int kind[MAXN];
	size_t len[MAXN];
	uint8_t *old;	 /* n pages: the receiver's copies */
	uint8_t *target; /* n pages: what they must become */
	uint8_t *pl;	 /* n payloads of CODEC_BOUND(PS) bytes */
};

static uint8_t *old_of(struct set *s, size_t i)
{
	return s->old + i * PS;
}

static uint8_t *new_of(struct set *s, size_t i)
{
	return s->target + i * PS;
}

static uint8_t *pl_of(struct set *s, size_t i)
{
	return s->pl + i * CODEC_BOUND(PS);
}

static void set_alloc(struct set *s)
{
	s->old = malloc(MAXN * PS);
	s->target = malloc(MAXN * PS);
	s->pl = malloc(MAXN * CODEC_BOUND(PS));
	assert_non_null(s->old);
	assert_non_null(s->target);
	assert_non_null(s->pl);
}

static void set_free(struct set *s)
{
	free(s->old);
	free(s->target);
	free(s->pl);
}

/* n pages made and encoded with codec_encode(); none is UNCHANGED. */
static void set_make(struct set *s, struct rng *r, size_t n, enum mix mix)
{
	uint64_t pfn;
	size_t i, k, at, len;

	s->n = n;
	switch (rnd_below(r, 3)) {
	case 0:
		pfn = 0;
		break;
	case 1:
		pfn = rnd_below(r, 1000);
		break;
	default:
		pfn = (1ull << 40) + rnd_below(r, 1ull << 39);
	}
	for (i = 0; i < n; i++) {
		uint8_t *o = old_of(s, i), *nw = new_of(s, i);
		int known = 1, mode;

		if (i > 0) {
			if (mix == MIX_ZERO || rnd_below(r, 3) == 0)
				pfn += 1;
			else if (rnd_below(r, 2))
				pfn += 2 + rnd_below(r, 200);
			else
				pfn += 1 + rnd_below(r, 1ull << 32);
		}
		s->pfn[i] = pfn;

		fill_random(r, o, PS);
		memcpy(nw, o, PS);
		/* MIX_ZERO: seven in eight pages zero, the rest one byte. */
		mode = mix == MIX_RAW	 ? 3
		       : mix == MIX_ZERO ? (rnd_below(r, 8) ? 0 : 6)
					 : (int)rnd_below(r, 6);
		switch (mode) {
		case 0: /* zeroed */
			memset(nw, 0, PS);
			break;
		case 1: /* a few flipped bytes */
			k = 1 + rnd_below(r, 8);
			while (k--)
				nw[rnd_below(r, PS)] ^= rnd_nz(r);
			break;
		case 2: /* one run, long enough to go RAW now and then */
			len = 1 + rnd_below(r, PS);
			at = rnd_below(r, PS - len + 1);
			for (k = at; k < at + len; k++)
				nw[k] ^= rnd_nz(r);
			break;
		case 3: /* unknown old: RAW */
			fill_random(r, nw, PS);
			known = 0;
			break;
		case 4: /* zero old, sparse new */
			memset(o, 0, PS);
			memcpy(nw, o, PS);
			k = 1 + rnd_below(r, 16);
			while (k--)
				nw[rnd_below(r, PS)] = rnd_nz(r);
			break;
		case 5: /* a whole new page */
			fill_random(r, nw, PS);
			break;
		default: /* one flipped byte */
			nw[rnd_below(r, PS)] ^= rnd_nz(r);
		}
		s->kind[i] = codec_encode(known ? o : NULL, nw, PS, pl_of(s, i),
					  &s->len[i]);
		assert_true(s->kind[i] == CODEC_ZERO ||
			    s->kind[i] == CODEC_DELTA ||
			    s->kind[i] == CODEC_RAW);
	}
}

/* The body the format says the set must produce. */
static size_t set_body(struct set *s, uint8_t *body)
{
	size_t i, o = 0;

	for (i = 0; i < s->n; i++)
		o += put_entry(body + o,
			       i ? s->pfn[i] - s->pfn[i - 1] - 1 : s->pfn[0],
			       s->kind[i], pl_of(s, i), s->len[i]);
	return o;
}

/*
 * Packs the set into out (cap bytes) with the given acceleration, checking
 * the writer, the body against set_body() and every header field. Returns
 * the batch length; *body_len gets the raw body length.
 */
static size_t set_pack(struct set *s, int accel, uint8_t *out, size_t cap,
		       size_t *body_len)
{
	size_t bcap = pack_body_bound(s->n, PS), want_len, i;
	uint8_t *body = malloc(bcap), *want = malloc(bcap);
	struct pack_writer w;
	long blen;

	assert_non_null(body);
	assert_non_null(want);
	assert_int_equal(pack_init(&w, body, bcap, PS), 0);
	for (i = 0; i < s->n; i++)
		assert_int_equal(pack_add(&w, s->pfn[i], s->kind[i],
					  pl_of(s, i), s->len[i]),
				 0);
	want_len = set_body(s, want);
	assert_int_equal(w.count, s->n);
	assert_int_equal(w.len, want_len);
	assert_true(w.last_pfn == s->pfn[s->n - 1]);
	assert_memory_equal(body, want, want_len);

	assert_true(pack_batch_bound(w.len) >= PACK_HEADER_SIZE + w.len);
	assert_true(cap >= pack_batch_bound(w.len));
	blen = pack_finish(&w, accel, out, cap);
	assert_true(blen > (long)PACK_HEADER_SIZE);
	assert_true((size_t)blen <= pack_batch_bound(w.len));

	assert_memory_equal(out, "RMPK", 4);
	assert_int_equal(out[4], 1);
	assert_int_equal(out[6], SHIFT);
	assert_int_equal(out[7], 0);
	assert_int_equal(get_le32(out + 8), s->n);
	assert_int_equal(get_le32(out + 12), w.len);
	assert_int_equal(get_le32(out + 16), (size_t)blen - PACK_HEADER_SIZE);
	assert_true(get_le64(out + 20) == XXH3_64bits(want, want_len));
	/* Stored exactly when compressing did not shrink the body. */
	if ((size_t)blen - PACK_HEADER_SIZE < w.len) {
		char *dec = malloc(w.len);

		assert_non_null(dec);
		assert_int_equal(out[5], PACK_LZ4);
		assert_int_equal(LZ4_decompress_safe(
					 (const char *)out + PACK_HEADER_SIZE,
					 dec, (int)(blen - 28), (int)w.len),
				 (int)w.len);
		assert_memory_equal(dec, want, w.len);
		free(dec);
	} else {
		assert_int_equal(out[5], PACK_STORED);
		assert_int_equal((size_t)blen, PACK_HEADER_SIZE + w.len);
		assert_memory_equal(out + PACK_HEADER_SIZE, want, w.len);
	}
	*body_len = w.len;
	free(want);
	free(body);
	return (size_t)blen;
}

/*
 * Reads the batch back: every entry must match the set, decoding it onto
 * the old page must give the new one, and the reader must end cleanly.
 */
static void set_check_read(struct set *s, const uint8_t *b, size_t len)
{
	struct pack_reader r;
	struct pack_entry e;
	uint8_t page[PS];
	size_t i;

	open_ok(&r, b, len, &lim4k, "round trip");
	assert_int_equal(r.count, s->n);
	for (i = 0; i < s->n; i++) {
		assert_int_equal(pack_next(&r, &e), 1);
		assert_true(e.pfn == s->pfn[i]);
		assert_int_equal(e.kind, s->kind[i]);
		assert_int_equal(e.len, s->len[i]);
		if (e.len)
			assert_memory_equal(e.payload, pl_of(s, i), e.len);
		memcpy(page, old_of(s, i), PS);
		assert_int_equal(
			codec_decode(page, PS, e.kind, e.payload, e.len), 0);
		assert_memory_equal(page, new_of(s, i), PS);
	}
	assert_int_equal(pack_next(&r, &e), 0);
	assert_int_equal(pack_next(&r, &e), 0);
}

static void round_trip(uint64_t seed, enum mix mix, int rounds, int want_comp)
{
	struct rng r = {seed};
	size_t cap = pack_batch_bound(pack_body_bound(MAXN, PS));
	uint8_t *out = malloc(cap);
	struct set s;
	int round;

	assert_non_null(out);
	set_alloc(&s);
	for (round = 0; round < rounds; round++) {
		static const int accels[] = {1, 8};
		size_t n, body_len, len, a;

		/* Compression is only certain with a fair number of entries. */
		if (want_comp == PACK_LZ4)
			n = MAXN / 2 + rnd_below(&r, MAXN / 2 + 1);
		else
			n = 1 + rnd_below(&r, MAXN);

		set_make(&s, &r, n, mix);
		for (a = 0; a < 2; a++) {
			len = set_pack(&s, accels[a], out, cap, &body_len);
			if (want_comp >= 0)
				assert_int_equal(out[5], want_comp);
			set_check_read(&s, out, len);
		}
	}
	set_free(&s);
	free(out);
}

static void test_round_trip_mixed(void **state)
{
	(void)state;
	round_trip(0xba7c0001, MIX_ANY, 40, -1);
}

/* Random pages with unknown old: nothing to compress, the body is stored. */
static void test_round_trip_stored(void **state)
{
	(void)state;
	round_trip(0xba7c0002, MIX_RAW, 10, PACK_STORED);
}

static void test_round_trip_compressed(void **state)
{
	(void)state;
	round_trip(0xba7c0003, MIX_ZERO, 20, PACK_LZ4);
}

/* The extremes: one entry, and PACK_MAX_ENTRIES entries of ZERO. */
static void test_round_trip_sizes(void **state)
{
	size_t bcap = PACK_MAX_ENTRIES * 2 + 16, i;
	uint8_t *body = malloc(bcap), *out = malloc(pack_batch_bound(bcap));
	struct pack_writer w;
	struct pack_reader r;
	struct pack_entry e;
	long len;

	(void)state;
	assert_non_null(body);
	assert_non_null(out);

	/*
	 * One ZERO entry: 2 bytes of body, which LZ4 cannot shrink. A ZERO
	 * entry has no payload, so NULL is a fair thing to pass (the rest of
	 * the file passes a dummy pointer, not to depend on this).
	 */
	assert_int_equal(pack_init(&w, body, bcap, PS), 0);
	assert_int_equal(pack_add(&w, 7, CODEC_ZERO, NULL, 0), 0);
	len = pack_finish(&w, 1, out, pack_batch_bound(w.len));
	assert_int_equal(len, PACK_HEADER_SIZE + 2);
	assert_int_equal(out[5], PACK_STORED);
	assert_int_equal(out[28], 7);
	assert_int_equal(out[29], CODEC_ZERO);
	open_ok(&r, out, (size_t)len, &lim4k, "one entry");
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == 7);
	assert_int_equal(e.kind, CODEC_ZERO);
	assert_int_equal(e.len, 0);
	assert_int_equal(pack_next(&r, &e), 0);

	/* A stored batch does not need scratch at all. */
	{
		const char *why = NULL;

		assert_int_equal(
			pack_open(&r, out, (size_t)len, &lim4k, NULL, 0, &why),
			0);
	}

	/* The entry cap: the next add is -ENOSPC, the full batch reads. */
	assert_int_equal(pack_init(&w, body, bcap, PS), 0);
	for (i = 0; i < PACK_MAX_ENTRIES; i++)
		assert_int_equal(pack_add(&w, i, CODEC_ZERO, nothing, 0), 0);
	assert_int_equal(pack_add(&w, i, CODEC_ZERO, nothing, 0), -ENOSPC);
	assert_int_equal(w.count, PACK_MAX_ENTRIES);
	assert_int_equal(w.len, 2 * PACK_MAX_ENTRIES);
	len = pack_finish(&w, 1, out, pack_batch_bound(w.len));
	assert_true(len > 0);
	assert_int_equal(out[5], PACK_LZ4);
	open_ok(&r, out, (size_t)len, &lim4k, "max entries");
	for (i = 0; i < PACK_MAX_ENTRIES; i++) {
		assert_int_equal(pack_next(&r, &e), 1);
		if (e.pfn != i || e.kind != CODEC_ZERO || e.len != 0)
			fail_msg("entry %zu: pfn %llu kind %d", i,
				 (unsigned long long)e.pfn, e.kind);
	}
	assert_int_equal(pack_next(&r, &e), 0);
	free(body);
	free(out);
}

/* ---- writer refusals ---------------------------------------------------- */

static void assert_writer_same(const struct pack_writer *a,
			       const struct pack_writer *b)
{
	assert_ptr_equal(a->body, b->body);
	assert_int_equal(a->cap, b->cap);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->page_size, b->page_size);
	assert_int_equal(a->count, b->count);
	assert_true(a->last_pfn == b->last_pfn);
}

static void test_init_rejects(void **state)
{
	static const size_t bad[] = {0, 100, 4097, 384, 2u << 20};
	uint8_t body[64];
	struct pack_writer w;
	size_t i;

	(void)state;
	/* 384 is a codec page size, but the header only holds log2 sizes. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pack_init(&w, body, sizeof(body), bad[i]),
				 -EINVAL);
	assert_int_equal(pack_init(&w, body, sizeof(body), 128), 0);
	assert_int_equal(pack_init(&w, body, sizeof(body), 65536), 0);
	assert_int_equal(pack_init(&w, body, sizeof(body), PS), 0);
	assert_int_equal(w.count, 0);
	assert_int_equal(w.len, 0);
}

static void test_add_rejects(void **state)
{
	uint8_t body[3 * PS], raw[PS + 1] = {0}, delta[PS] = {0};
	struct pack_writer w, snap;

	(void)state;
	delta[1] = 1;
	assert_int_equal(pack_init(&w, body, sizeof(body), PS), 0);
	assert_int_equal(pack_add(&w, 10, CODEC_ZERO, nothing, 0), 0);
	snap = w;

#define REFUSE(pfn, kind, p, len)                                         \
	do {                                                              \
		assert_int_equal(pack_add(&w, (pfn), (kind), (p), (len)), \
				 -EINVAL);                                \
		assert_writer_same(&w, &snap);                            \
	} while (0)

	REFUSE(9, CODEC_ZERO, NULL, 0);	 /* out of order */
	REFUSE(10, CODEC_ZERO, NULL, 0); /* duplicate */
	REFUSE(0, CODEC_RAW, raw, PS);
	REFUSE(11, CODEC_UNCHANGED, NULL, 0);
	REFUSE(11, 4, NULL, 0);
	REFUSE(11, -1, NULL, 0);
	REFUSE(11, CODEC_ZERO, raw, 1);
	REFUSE(11, CODEC_RAW, raw, PS - 1);
	REFUSE(11, CODEC_RAW, raw, PS + 1);
	REFUSE(11, CODEC_RAW, raw, 0);
	REFUSE(11, CODEC_DELTA, delta, 0);
	REFUSE(11, CODEC_DELTA, delta, PS);
#undef REFUSE

	/* After all that, the writer still takes the next pfn. */
	assert_int_equal(pack_add(&w, 11, CODEC_DELTA, delta, 3), 0);
	assert_int_equal(w.count, 2);
	assert_int_equal(w.len, 2 + 1 + 1 + 3);
	assert_int_equal(body[2], 0);	       /* 11 - 10 - 1 */
	assert_int_equal(body[3], 2 | 3 << 2); /* DELTA, len 3 */
}

/* -ENOSPC exactly when the entry does not fit, and nothing changes then. */
static void test_add_enospc(void **state)
{
	uint8_t body[2 + 2 + PS + 8], raw[PS], before[sizeof(body)];
	struct pack_writer w, snap;
	size_t cap;

	(void)state;
	memset(raw, 0x42, sizeof(raw));
	/* ZERO at pfn 0 (2 bytes), RAW at pfn 1 (1 + 1 + 4096 bytes). */
	for (cap = 2 + PS + 2 - 3; cap <= 2 + PS + 2 + 1; cap++) {
		memset(body, POISON, sizeof(body));
		assert_int_equal(pack_init(&w, body, cap, PS), 0);
		assert_int_equal(pack_add(&w, 0, CODEC_ZERO, nothing, 0), 0);
		snap = w;
		memcpy(before, body, sizeof(body));
		if (cap < 2 + PS + 2) {
			assert_int_equal(pack_add(&w, 1, CODEC_RAW, raw, PS),
					 -ENOSPC);
			assert_writer_same(&w, &snap);
			/* Not even the bytes past len were written. */
			assert_memory_equal(body, before, sizeof(body));
			/* A smaller entry still fits. */
			assert_int_equal(
				pack_add(&w, 1, CODEC_ZERO, nothing, 0), 0);
		} else {
			assert_int_equal(pack_add(&w, 1, CODEC_RAW, raw, PS),
					 0);
			assert_int_equal(w.len, 2 + 2 + PS);
		}
	}

	/* Zero capacity: even the first entry is refused. */
	assert_int_equal(pack_init(&w, body, 0, PS), 0);
	snap = w;
	assert_int_equal(pack_add(&w, 0, CODEC_ZERO, nothing, 0), -ENOSPC);
	assert_writer_same(&w, &snap);
}

static void test_finish_rejects(void **state)
{
	uint8_t body[64], out[256], before[256];
	struct pack_writer w;

	(void)state;
	memset(out, POISON, sizeof(out));
	memcpy(before, out, sizeof(out));
	assert_int_equal(pack_init(&w, body, sizeof(body), PS), 0);
	assert_int_equal(pack_finish(&w, 1, out, sizeof(out)), -EINVAL);

	assert_int_equal(pack_add(&w, 3, CODEC_ZERO, nothing, 0), 0);
	assert_int_equal(pack_add(&w, 4, CODEC_ZERO, nothing, 0), 0);
	assert_int_equal(pack_finish(&w, -1, out, sizeof(out)), -EINVAL);
	assert_int_equal(pack_finish(&w, 1, out, pack_batch_bound(w.len) - 1),
			 -ENOSPC);
	assert_int_equal(pack_finish(&w, 1, out, 0), -ENOSPC);
	assert_memory_equal(out, before, sizeof(out));

	/* The exact bound is enough, and finishing twice gives the same. */
	assert_int_equal(pack_finish(&w, 1, out, pack_batch_bound(w.len)),
			 PACK_HEADER_SIZE + 4);
	memcpy(before, out, sizeof(out));
	assert_int_equal(pack_finish(&w, 1, out, sizeof(out)),
			 PACK_HEADER_SIZE + 4);
	assert_memory_equal(out, before, sizeof(out));
}

/* ---- reader: damaged real batches --------------------------------------- */

/* A batch of a few sets of every kind; compressed or stored as asked. */
static size_t sample_batch(uint64_t seed, enum mix mix, size_t n, uint8_t **out,
			   size_t *body_len, struct set *s)
{
	struct rng r = {seed};
	size_t cap = pack_batch_bound(pack_body_bound(n, PS));

	*out = malloc(cap);
	assert_non_null(*out);
	set_alloc(s);
	set_make(s, &r, n, mix);
	return set_pack(s, 1, *out, cap, body_len);
}

static void test_truncated_and_trailing(void **state)
{
	static const enum mix mixes[] = {MIX_ANY, MIX_ZERO};
	size_t m;

	(void)state;
	for (m = 0; m < 2; m++) {
		struct set s;
		uint8_t *b, *t;
		size_t body_len,
			len = sample_batch(0x7a11 + m, mixes[m], 6, &b,
					   &body_len, &s),
			L;
		char what[64];

		/* Each prefix sits in its own exact-size buffer. */
		for (L = 0; L < len; L++) {
			t = malloc(L ? L : 1);
			assert_non_null(t);
			memcpy(t, b, L);
			snprintf(what, sizeof(what), "mix %zu prefix %zu", m,
				 L);
			open_fails(t, L, &lim4k, -EBADMSG, what);
			free(t);
		}
		t = malloc(len + 16);
		assert_non_null(t);
		memcpy(t, b, len);
		memset(t + len, 0, 16);
		open_fails(t, len + 1, &lim4k, -EBADMSG, "one byte trailing");
		open_fails(t, len + 16, &lim4k, -EBADMSG, "16 bytes trailing");
		free(t);
		set_check_read(&s, b, len);
		set_free(&s);
		free(b);
	}
}

/* Each header field damaged on a copy of a good batch. */
static void test_header_fields(void **state)
{
	static const enum mix mixes[] = {MIX_RAW, MIX_ZERO};
	size_t m;

	(void)state;
	for (m = 0; m < 2; m++) {
		struct set s;
		uint8_t *b, *t;
		size_t body_len,
			len = sample_batch(0x4eade + m, mixes[m], m ? 40 : 5,
					   &b, &body_len, &s),
			i;
		uint32_t count = get_le32(b + 8);
		struct pack_limits lim = lim4k;

		assert_int_equal(b[5], m == 0 ? PACK_STORED : PACK_LZ4);
		t = malloc(len);
		assert_non_null(t);

#define DAMAGE(stmt, want, what)                          \
	do {                                              \
		memcpy(t, b, len);                        \
		stmt;                                     \
		open_fails(t, len, &lim, (want), (what)); \
	} while (0)

		for (i = 0; i < 4; i++)
			DAMAGE(t[i] ^= 0x20, -EBADMSG, "magic");
		DAMAGE(t[4] = 0, -EPROTO, "version 0");
		DAMAGE(t[4] = 2, -EPROTO, "version 2");
		DAMAGE(t[4] = 0xff, -EPROTO, "version 255");
		DAMAGE(t[5] = 2, -EBADMSG, "compression 2");
		DAMAGE(t[5] = 7, -EBADMSG, "compression 7");
		DAMAGE(t[5] = 0xff, -EBADMSG, "compression 255");
		/* The other compression value on the same body. */
		DAMAGE(t[5] ^= 1, -EBADMSG, "compression swapped");
		DAMAGE(t[6] = 11, -EPROTO, "page shift 11");
		DAMAGE(t[6] = 13, -EPROTO, "page shift 13");
		DAMAGE(t[6] = 14, -EPROTO, "page shift 14");
		DAMAGE(t[6] = 0, -EPROTO, "page shift 0");
		DAMAGE(t[7] = 1, -EBADMSG, "reserved byte");
		DAMAGE(put_le32(t + 8, 0), -EBADMSG, "count 0");
		DAMAGE(put_le32(t + 8, count - 1), -EBADMSG, "count - 1");
		DAMAGE(put_le32(t + 8, count + 1), -EBADMSG, "count + 1");
		DAMAGE(put_le32(t + 8, PACK_MAX_ENTRIES + 1), -E2BIG,
		       "count over the hard cap");
		DAMAGE(put_le32(t + 8, UINT32_MAX), -E2BIG, "count 2^32-1");
		lim.max_entries = count - 1;
		DAMAGE((void)0, -E2BIG, "count over max_entries");
		lim.max_entries = UINT32_MAX;
		DAMAGE(put_le32(t + 8, PACK_MAX_ENTRIES + 1), -E2BIG,
		       "count over the hard cap, lax limits");
		lim = lim4k;
		DAMAGE(put_le32(t + 12, (uint32_t)body_len - 1), -EBADMSG,
		       "raw_len - 1");
		DAMAGE(put_le32(t + 12, (uint32_t)body_len + 1), -EBADMSG,
		       "raw_len + 1");
		DAMAGE(put_le32(t + 12, 0), -EBADMSG, "raw_len 0");
		DAMAGE(put_le32(t + 16, get_le32(b + 16) - 1), -EBADMSG,
		       "stored_len - 1");
		DAMAGE(put_le32(t + 16, get_le32(b + 16) + 1), -EBADMSG,
		       "stored_len + 1");
		DAMAGE(put_le32(t + 16, UINT32_MAX), -EBADMSG,
		       "stored_len 2^32-1");
		for (i = 0; i < 64; i++)
			DAMAGE(t[20 + i / 8] ^= (uint8_t)(1u << (i % 8)),
			       -EBADMSG, "checksum bit");
#undef DAMAGE

		/* The limits side: page size and pfn range. */
		lim.page_size = 16384;
		open_fails(b, len, &lim, -EPROTO, "opened as 16k pages");
		lim.page_size = 8192;
		open_fails(b, len, &lim, -EPROTO, "opened as 8k pages");
		lim = lim4k;
		lim.max_pfn = s.pfn[s.n - 1];
		open_fails(b, len, &lim, -EBADMSG, "last pfn == max_pfn");
		lim.max_pfn = s.pfn[0];
		open_fails(b, len, &lim, -EBADMSG, "first pfn == max_pfn");
		lim.max_pfn = 0;
		open_fails(b, len, &lim, -EBADMSG, "max_pfn 0");
		lim.max_pfn = s.pfn[s.n - 1] + 1;
		lim.max_entries = count;
		{
			struct pack_reader r;

			open_ok(&r, b, len, &lim, "tightest limits");
		}
		free(t);
		set_free(&s);
		free(b);
	}
}

/*
 * A batch whose header claims more body than any batch may have: -E2BIG
 * before anything is decompressed into scratch.
 */
static void test_oversized_raw_len(void **state)
{
	static const uint32_t sizes[] = {PACK_MAX_BODY + 1, UINT32_MAX};
	uint8_t body[600], b[PACK_HEADER_SIZE + 700];
	size_t i, k, len, body_len = 0, c;

	(void)state;
	/* 300 ZERO entries at pfns 1..300: 600 bytes that compress well. */
	for (i = 0; i < 300; i++)
		body_len += put_entry(body + body_len, i ? 0 : 1, CODEC_ZERO,
				      NULL, 0);
	for (k = 0; k < 2; k++) {
		int comp = k ? PACK_STORED : PACK_LZ4;

		for (i = 0; i < 2; i++) {
			len = build_batch(b, comp, 300, body, body_len);
			put_le32(b + 12, sizes[i]);
			if (comp == PACK_STORED)
				put_le32(b + 16, sizes[i]);
			memset(scratch, POISON, SCRATCH_CAP);
			open_fails(b, len, &lim4k, -E2BIG, "raw_len > max");
			for (c = 0; c < SCRATCH_CAP; c++)
				if (scratch[c] != POISON)
					fail_msg("scratch[%zu] written", c);
		}
		/* The control: the same batch, unmodified, opens. */
		{
			struct pack_reader r;

			len = build_batch(b, comp, 300, body, body_len);
			open_ok(&r, b, len, &lim4k, "raw_len control");
		}
	}
}

/* Compressed batches need scratch for the whole raw body. */
static void test_scratch_too_small(void **state)
{
	struct set s;
	struct pack_reader r;
	const char *why = NULL;
	uint8_t *b, *sc;
	size_t body_len,
		len = sample_batch(0x5c7a, MIX_ZERO, 40, &b, &body_len, &s);

	(void)state;
	assert_int_equal(b[5], PACK_LZ4);
	sc = malloc(body_len);
	assert_non_null(sc);
	assert_int_equal(pack_open(&r, b, len, &lim4k, sc, body_len - 1, &why),
			 -E2BIG);
	assert_non_null(why);
	assert_int_equal(pack_open(&r, b, len, &lim4k, sc, 0, &why), -E2BIG);
	/* Exactly raw_len is enough, and the reader points into scratch. */
	assert_int_equal(pack_open(&r, b, len, &lim4k, sc, body_len, &why), 0);
	assert_ptr_equal(r.body, sc);
	assert_int_equal(r.len, body_len);
	/* why may be NULL. */
	assert_int_equal(pack_open(&r, b, len, &lim4k, sc, 1, NULL), -E2BIG);
	free(sc);
	set_free(&s);
	free(b);
}

/*
 * Every single-bit flip of the body. Stored: the checksum must catch it.
 * Compressed: the LZ4 stream may, rarely, decode to the very same body
 * (a match offset pointing at identical bytes); accepting is then right, so
 * the test demands rejection or a body identical to the original.
 */
static void test_body_bit_flips(void **state)
{
	static const enum mix mixes[] = {MIX_RAW, MIX_ZERO, MIX_ANY};
	size_t m;

	(void)state;
	for (m = 0; m < 3; m++) {
		struct set s;
		uint8_t *b, *raw;
		/* Small enough to open once per bit in well under a second. */
		size_t body_len,
			len = sample_batch(0xf11b + m, mixes[m],
					   m == 1 ? 40
					   : m	  ? 4
						  : 2,
					   &b, &body_len, &s),
			bit;
		size_t rejected = 0, bits = (len - PACK_HEADER_SIZE) * 8;

		/* The reference body, to compare what a flipped batch gave. */
		raw = malloc(body_len);
		assert_non_null(raw);
		{
			struct pack_reader r;

			open_ok(&r, b, len, &lim4k, "unflipped");
			memcpy(raw, r.body, body_len);
		}
		if (m < 2)
			assert_int_equal(b[5], m == 0 ? PACK_STORED : PACK_LZ4);
		for (bit = 0; bit < bits; bit++) {
			struct pack_reader r;
			const char *why = NULL;
			uint8_t *p = b + PACK_HEADER_SIZE + bit / 8;
			int rc;

			*p ^= (uint8_t)(1u << (bit % 8));
			rc = pack_open(&r, b, len, &lim4k, scratch, SCRATCH_CAP,
				       &why);
			*p ^= (uint8_t)(1u << (bit % 8));
			if (rc == -EBADMSG) {
				rejected++;
				if (b[5] == PACK_STORED &&
				    !strstr(why, "checksum"))
					fail_msg("bit %zu: rejected for '%s'",
						 bit, why);
				continue;
			}
			if (rc != 0 || b[5] == PACK_STORED ||
			    r.len != body_len || memcmp(r.body, raw, body_len))
				fail_msg("mix %zu bit %zu: accepted (%d), "
					 "body differs",
					 m, bit, rc);
		}
		/* Only compressed bodies may have harmless flips at all. */
		if (b[5] == PACK_STORED)
			assert_int_equal(rejected, bits);
		free(raw);
		set_free(&s);
		free(b);
	}
}

/* ---- reader: hand-made bodies with a correct checksum ------------------- */

struct body_case {
	const char *what;
	uint32_t count;
	const uint8_t *body;
	size_t len;
	int err;
};

#define B(...)	((const uint8_t[]){__VA_ARGS__})
#define BL(...) B(__VA_ARGS__), sizeof(B(__VA_ARGS__))

/* A varint that is 10 bytes long: pfn 2^64 - 2 and 2^64 - 1. */
#define U64_MAX_M1 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
#define U64_MAX	   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01

static void test_body_grammar(void **state)
{
	const int E = -EBADMSG;
	const struct body_case cases[] = {
		{"tag of kind unchanged", 1, BL(0x05, 0x00), E},
		{"kind unchanged, second entry", 2, BL(0x05, 0x01, 0x00, 0x00),
		 E},
		{"ZERO with length bits", 1, BL(0x05, 0x01 | 1 << 2), E},
		{"DELTA of length 0", 1, BL(0x05, 0x02, 0x00, 0x01), E},
		{"DELTA payload past the body", 1,
		 BL(0x05, 0x02 | 3 << 2, 0x00, 0x01), E},
		{"DELTA with a len-0 pair", 1,
		 BL(0x05, 0x02 | 3 << 2, 0x00, 0x00, 0xaa), E},
		{"DELTA with an overlong varint", 1,
		 BL(0x05, 0x02 | 4 << 2, 0x80, 0x00, 0x01, 0xaa), E},
		{"DELTA running past the page", 1,
		 BL(0x05, 0x02 | 4 << 2, 0xff, 0x1f, 0x02, 0xaa), E},
		{"DELTA truncated literal inside its length", 1,
		 BL(0x05, 0x02 | 4 << 2, 0x00, 0x03, 0xaa, 0xbb), E},
		{"DELTA with skip 0 in pair 2", 1,
		 BL(0x05, 0x02 | 6 << 2, 0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb),
		 E},
		{"overlong tag", 1, BL(0x05, 0x81, 0x00), E},
		{"overlong pfn", 1, BL(0x85, 0x00, 0x01), E},
		{"pfn varint of 11 bytes", 1,
		 BL(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x01, 0x01),
		 E},
		{"pfn varint over 64 bits", 1,
		 BL(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
		    0x01),
		 E},
		{"pfn 2^64-2 + 1 + 1 wraps to 0", 2,
		 BL(U64_MAX_M1, 0x01, 0x01, 0x01), E},
		{"pfn 2^64-2 + 1 + 2^64-1 wraps", 2,
		 BL(U64_MAX_M1, 0x01, U64_MAX, 0x01), E},
		{"pfn 5 + 1 + 2^64-6 wraps to 0", 2,
		 BL(0x05, 0x01, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x01, 0x01),
		 E},
		{"pfn 2^64-1 is beyond any max_pfn", 1, BL(U64_MAX, 0x01), E},
		{"count 1, two entries", 1, BL(0x05, 0x01, 0x00, 0x01), E},
		{"count 3, two entries", 3,
		 BL(0x05, 0x02 | 3 << 2, 0x00, 0x01, 0xaa, 0x00, 0x01), E},
		{"trailing byte", 1, BL(0x05, 0x01, 0x00), E},
		{"trailing zeros", 2, BL(0x05, 0x01, 0x00, 0x01, 0x00, 0x00),
		 E},
		{"truncated tag", 2, BL(0x05, 0x01, 0x00, 0x80), E},
	};
	struct pack_limits lim = lim4k;
	uint8_t b[256];
	size_t i, len;

	(void)state;
	/* Even the widest limits: the pfns must be refused for themselves. */
	lim.max_pfn = UINT64_MAX;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = build_batch(b, PACK_STORED, cases[i].count, cases[i].body,
				  cases[i].len);
		open_fails(b, len, &lim, cases[i].err, cases[i].what);
	}
}

/* RAW entries with wrong lengths need a page of payload to get past. */
static void test_body_grammar_raw(void **state)
{
	size_t bl = 3 * PS + 64, o;
	uint8_t *body = calloc(1, bl), *b = malloc(bl + 64);

	(void)state;
	assert_non_null(body);
	assert_non_null(b);

	/* RAW carrying a length: tag 3 | 1 << 2, then a page. */
	o = put_entry(body, 5, CODEC_RAW, NULL, 0);
	body[1] = 0x03 | 1 << 2;
	o += PS;
	open_fails(b, build_batch(b, PACK_STORED, 1, body, o), &lim4k, -EBADMSG,
		   "RAW with length bits");

	/*
	 * DELTA of page_size bytes (skip 0, len 4093, 4093 bytes): a valid
	 * pair, but RAW would have been sent instead.
	 */
	o = put_varint(body, 5);
	o += put_varint(body + o, 2 | (uint64_t)PS << 2);
	body[o++] = 0x00;
	o += put_varint(body + o, PS - 3);
	memset(body + o, 0x11, PS - 3);
	o += PS - 3;
	open_fails(b, build_batch(b, PACK_STORED, 1, body, o), &lim4k, -EBADMSG,
		   "DELTA of page_size bytes");

	/* RAW short by one byte at the end of the body. */
	o = put_entry(body, 5, CODEC_RAW, NULL, 0) + PS - 1;
	open_fails(b, build_batch(b, PACK_STORED, 1, body, o), &lim4k, -EBADMSG,
		   "RAW cut short");

	/* Count 2, one RAW entry: the body is long enough for two. */
	o = put_entry(body, 5, CODEC_RAW, NULL, 0) + PS;
	open_fails(b, build_batch(b, PACK_STORED, 2, body, o), &lim4k, -EBADMSG,
		   "count 2, one RAW entry");
	free(body);
	free(b);
}

/*
 * Hand-made bodies that are valid: checks the format as this file reads it
 * (pfn deltas, tags, payloads) against the reader, stored and compressed.
 */
static void test_body_valid(void **state)
{
	uint8_t *body = calloc(1, 4 * PS), *b = malloc(4 * PS + 64);
	static const uint8_t d3[] = {0x00, 0x01, 0xaa};
	struct pack_limits lim = lim4k;
	struct pack_reader r;
	struct pack_entry e;
	size_t o = 0, i;

	(void)state;
	assert_non_null(body);
	assert_non_null(b);
	body[o++] = 0x00; /* pfn 0 */
	body[o++] = CODEC_ZERO;
	body[o++] = 0x00; /* pfn 1 */
	body[o++] = CODEC_DELTA | 3 << 2;
	memcpy(body + o, d3, 3);
	o += 3;
	body[o++] = 0x02; /* pfn 4 */
	body[o++] = CODEC_RAW;
	memset(body + o, 0x77, PS);
	o += PS;
	body[o++] = 0x80; /* pfn 4 + 1 + 2^14 */
	body[o++] = 0x80;
	body[o++] = 0x01;
	body[o++] = CODEC_ZERO;
	open_ok(&r, b, build_batch(b, PACK_STORED, 4, body, o), &lim,
		"hand-made");
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == 0 && e.kind == CODEC_ZERO && e.len == 0);
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == 1 && e.kind == CODEC_DELTA && e.len == 3);
	assert_memory_equal(e.payload, d3, 3);
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == 4 && e.kind == CODEC_RAW && e.len == PS);
	for (i = 0; i < PS; i++)
		assert_int_equal(e.payload[i], 0x77);
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == 4 + 1 + (1u << 14) && e.kind == CODEC_ZERO);
	assert_int_equal(pack_next(&r, &e), 0);

	/* The same body compressed (it has a page of 0x77: it shrinks). */
	open_ok(&r, b, build_batch(b, PACK_LZ4, 4, body, o), &lim,
		"hand-made, compressed");
	assert_ptr_equal(r.body, scratch);
	assert_memory_equal(r.body, body, o);

	/* The largest pfns: 2^64 - 3 and 2^64 - 2, under max_pfn 2^64 - 1. */
	o = put_entry(body, UINT64_MAX - 2, CODEC_ZERO, NULL, 0);
	o += put_entry(body + o, 0, CODEC_ZERO, NULL, 0);
	lim.max_pfn = UINT64_MAX;
	open_ok(&r, b, build_batch(b, PACK_STORED, 2, body, o), &lim,
		"pfns up to 2^64-2");
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == UINT64_MAX - 2);
	assert_int_equal(pack_next(&r, &e), 1);
	assert_true(e.pfn == UINT64_MAX - 1);
	assert_int_equal(pack_next(&r, &e), 0);
	free(body);
	free(b);
}

/*
 * Grammar errors behind a valid LZ4 body: the checks apply to the
 * decompressed body just the same. The body is one RAW page of a repeated
 * byte (so the lengths in the header stay plausible for any count) and 199
 * ZERO entries.
 */
static void test_body_grammar_compressed(void **state)
{
	static const char *const what[] = {"control", "kind unchanged last",
					   "trailing byte", "count + 1",
					   "count - 1"};
	uint8_t *body = malloc(2 * PS), *b = malloc(2 * PS);
	size_t o, i;
	int bad;

	(void)state;
	assert_non_null(body);
	assert_non_null(b);
	for (bad = 0; bad < 5; bad++) {
		uint32_t count = 200;

		o = put_entry(body, 9, CODEC_RAW, NULL, 0);
		memset(body + o, 0x33, PS);
		o += PS;
		for (i = 1; i < 200; i++)
			o += put_entry(body + o, 0, CODEC_ZERO, NULL, 0);
		switch (bad) {
		case 1:
			body[o - 1] = CODEC_UNCHANGED;
			break;
		case 2:
			body[o++] = 0x00;
			break;
		case 3:
			count++;
			break;
		case 4:
			count--;
			break;
		}
		o = build_batch(b, PACK_LZ4, count, body, o);
		if (bad) {
			open_fails(b, o, &lim4k, -EBADMSG, what[bad]);
		} else {
			struct pack_reader r;

			open_ok(&r, b, o, &lim4k, what[bad]);
		}
	}
	free(body);
	free(b);
}

/* Acceleration 0 (compression = none) stores even a body LZ4 would shrink. */
static void test_finish_stored_on_request(void **state)
{
	uint8_t body[2 * PS], out[3 * PS], raw[PS];
	struct pack_writer w;
	struct pack_reader r;
	struct pack_entry e;
	const char *why;
	long len;
	int i;

	(void)state;
	memset(raw, 0x5a, sizeof(raw));
	assert_int_equal(pack_init(&w, body, sizeof(body), PS), 0);
	assert_int_equal(pack_add(&w, 7, CODEC_RAW, raw, PS), 0);
	assert_int_equal(pack_add(&w, 8, CODEC_ZERO, NULL, 0), 0);
	/* With acceleration 1 this body compresses... */
	len = pack_finish(&w, 1, out, sizeof(out));
	assert_true(len > 0 && (size_t)len < PACK_HEADER_SIZE + w.len);
	assert_int_equal(out[5], PACK_LZ4);
	/* ...with 0 it is stored as is, and still reads back. */
	len = pack_finish(&w, 0, out, sizeof(out));
	assert_int_equal(len, (long)(PACK_HEADER_SIZE + w.len));
	assert_int_equal(out[5], PACK_STORED);
	assert_int_equal(pack_open(&r, out, (size_t)len, &lim4k, scratch,
				   SCRATCH_CAP, &why),
			 0);
	for (i = 0; pack_next(&r, &e) == 1; i++)
		assert_int_equal(e.pfn, 7 + (uint64_t)i);
	assert_int_equal(i, 2);
}

/*
 * A body built in place, behind the header's room, is stored without a
 * copy: the same batch as one built aside and stored, and it reads back.
 * Compressing in place is refused, and leaves out untouched.
 */
static void test_finish_in_place(void **state)
{
	uint8_t body[3 * PS], aside[3 * PS], out[3 * PS], raw[PS];
	struct pack_writer w, in;
	struct pack_reader r;
	struct pack_entry e;
	const char *why;
	long len, want;
	int i;

	(void)state;
	for (i = 0; i < (int)PS; i++)
		raw[i] = (uint8_t)(i * 131 + 7);
	assert_int_equal(pack_init(&w, body, sizeof(body), PS), 0);
	assert_int_equal(pack_init(&in, out + PACK_HEADER_SIZE,
				   sizeof(out) - PACK_HEADER_SIZE, PS),
			 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(
			pack_add(&w, 3 + 2 * (uint64_t)i, CODEC_RAW, raw, PS),
			0);
		assert_int_equal(
			pack_add(&in, 3 + 2 * (uint64_t)i, CODEC_RAW, raw, PS),
			0);
	}
	want = pack_finish(&w, 0, aside, sizeof(aside));
	assert_true(want > 0);
	memset(out, 0xee, PACK_HEADER_SIZE);
	assert_int_equal(pack_finish(&in, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(out[0], 0xee);
	len = pack_finish(&in, 0, out, sizeof(out));
	assert_int_equal(len, want);
	assert_memory_equal(out, aside, (size_t)len);
	assert_int_equal(pack_open(&r, out, (size_t)len, &lim4k, scratch,
				   SCRATCH_CAP, &why),
			 0);
	for (i = 0; pack_next(&r, &e) == 1; i++) {
		assert_int_equal(e.pfn, 3 + 2 * (uint64_t)i);
		assert_int_equal(e.kind, CODEC_RAW);
		assert_memory_equal(e.payload, raw, PS);
	}
	assert_int_equal(i, 2);
}

static int setup(void **state)
{
	(void)state;
	scratch = malloc(SCRATCH_CAP);
	return scratch ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(scratch);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_mixed),
		cmocka_unit_test(test_round_trip_stored),
		cmocka_unit_test(test_round_trip_compressed),
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_add_rejects),
		cmocka_unit_test(test_add_enospc),
		cmocka_unit_test(test_finish_rejects),
		cmocka_unit_test(test_finish_stored_on_request),
		cmocka_unit_test(test_finish_in_place),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_oversized_raw_len),
		cmocka_unit_test(test_scratch_too_small),
		cmocka_unit_test(test_body_bit_flips),
		cmocka_unit_test(test_body_grammar),
		cmocka_unit_test(test_body_grammar_raw),
		cmocka_unit_test(test_body_valid),
		cmocka_unit_test(test_body_grammar_compressed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
