/*
 * bench_codec: throughput of the page codec and of batch packing, next to
 * memcpy/memcmp measured in the same run, over a working set far larger than
 * the caches (default 16384 pages of 4096 bytes = 64 MiB "old" + 64 MiB
 * "new").
 *
 * One process, one thread. Every measurement is one warm-up pass and then the
 * best (shortest) of --reps passes over all pages; GB/s is page bytes per
 * second with 1 GB = 1e9 bytes. Before anything is timed each case is checked
 * end to end (decode onto a fresh copy of old, directly and through
 * pack/open/next, must give new): a broken codec gets an error, not numbers.
 *
 * Run it through scripts/bench codec [--json] [--strict] [--pages N].
 * Exit status: 0, or 1 when --strict and a target is missed, or 2 on a usage
 * error, an allocation failure or a correctness failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BENCH_PROG "bench_codec"
#include "bench_util.h"
#include "codec.h"
#include "codec_impl.h"
#include "pack.h"

#define PAGE	      4096u
#define BATCH_PAGES   256u
#define DEFAULT_PAGES 16384u
#define MAX_PAGES     (1u << 22) /* 16 GiB per array: plenty */
#define DEFAULT_REPS  5
#define MAX_REPS      1000
#define SLOT	      CODEC_BOUND(PAGE) /* encoder output stride, a multiple of 64 */
#define ACCELERATION  1
#define SEED	      0x72656d6f7261ull /* "remora" */

/* Targets from the issue. */
#define T_UNCHANGED_VS_MEMCMP 0.8
#define T_SMALL_ENC_VS_MEMCMP 0.5
#define T_SMALL_DEC_VS_MEMCPY 0.5
#define T_MAX_WIRE_PER_PAGE   ((double)PAGE + 8.0)

#define BARRIER() __asm__ __volatile__("" ::: "memory")

static volatile uint64_t sink;

enum bench_case {
	C_UNCHANGED,
	C_ZERO,
	C_ONE_BYTE,
	C_RUN64,
	C_RANDOM1PCT,
	C_RANDOM25PCT,
	C_RANDOM_ALL,
	NCASES
};

static const char *const case_names[NCASES] = {
	"unchanged",  "zero",	     "one_byte",   "run64",
	"random1pct", "random25pct", "random_all",
};

#define NKINDS	  4 /* CODEC_UNCHANGED .. CODEC_RAW */
#define MAX_IMPLS 4

struct result {
	double encode_gbps;
	double decode_gbps;
	double bytes_per_page;
	double packed_bytes_per_page;
	double packed_worst_batch; /* worst batch, bytes per page */
	double pack_gbps;
	size_t kinds[NKINDS];
	double variant_gbps[MAX_IMPLS]; /* delta scan only, per variant */
};

struct bench {
	size_t pages;
	size_t bytes; /* pages * PAGE */
	int reps;
	int json;
	uint8_t *old;
	uint8_t *new;
	uint8_t *dst; /* memcpy destination and decode target */
	uint8_t *enc; /* pages * SLOT: each page's stored payload */
	int *kind;
	size_t *len;
	uint8_t *body; /* pack writer body */
	size_t body_cap;
	uint8_t *batch; /* pack_finish output */
	size_t batch_cap;
	uint8_t *scratch; /* pack_open decompression */
	size_t scratch_cap;
	const struct codec_impl *impls[MAX_IMPLS]; /* encoder variants */
	size_t nimpls;
	const struct codec_impl *impl; /* the one pass_variant() times */
};

static double now(void)
{
	return (double)now_ns() * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Deterministic PRNG: xoshiro256** seeded through splitmix64. */

struct rng {
	uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform enough in [0, n), n > 0 (the modulo bias is immaterial here). */
static size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = rng_next(r);

		memcpy(p, &v, n);
	}
}

/* A random byte value different from b. */
static uint8_t rng_other(struct rng *r, uint8_t b)
{
	return (uint8_t)(b ^ (uint8_t)(1 + rng_below(r, 255)));
}

/* ------------------------------------------------------------------------ */
/* Memory. */

static void bench_alloc(struct bench *b)
{
	b->bytes = b->pages * PAGE;
	b->old = alloc_bytes(b->bytes, "old pages");
	b->new = alloc_bytes(b->bytes, "new pages");
	b->dst = alloc_bytes(b->bytes, "destination pages");
	b->enc = alloc_bytes(b->pages * SLOT, "encoded payloads");
	b->kind = (int *)(void *)alloc_bytes(b->pages * sizeof(*b->kind),
					     "kinds");
	b->len = (size_t *)(void *)alloc_bytes(b->pages * sizeof(*b->len),
					       "lengths");
	b->body_cap = pack_body_bound(BATCH_PAGES, PAGE);
	b->body = alloc_bytes(b->body_cap, "pack body");
	b->batch_cap = pack_batch_bound(b->body_cap);
	b->batch = alloc_bytes(b->batch_cap, "pack output");
	b->scratch_cap = b->body_cap;
	b->scratch = alloc_bytes(b->scratch_cap, "pack scratch");
}

static inline uint8_t *pg(uint8_t *base, size_t i)
{
	return base + i * PAGE;
}

/* ------------------------------------------------------------------------ */
/* Working sets. */

static void make_old(struct bench *b)
{
	struct rng r;

	rng_seed(&r, SEED);
	rng_fill(&r, b->old, b->bytes);
}

/*
 * Changes k distinct random bytes of page p, each to a value different from
 * what it was. perm is a permutation of 0..PAGE-1 that a partial
 * Fisher-Yates shuffle keeps reusing (each step leaves it a permutation).
 */
static void change_k(struct rng *r, uint8_t *p, uint16_t *perm, size_t k)
{
	for (size_t j = 0; j < k; j++) {
		size_t x = j + rng_below(r, PAGE - j);
		uint16_t t = perm[j];

		perm[j] = perm[x];
		perm[x] = t;
		p[perm[j]] = rng_other(r, p[perm[j]]);
	}
}

static void make_case(struct bench *b, enum bench_case c)
{
	static uint16_t perm[PAGE];
	struct rng r;

	rng_seed(&r, SEED + 1 + (uint64_t)c);
	for (size_t j = 0; j < PAGE; j++)
		perm[j] = (uint16_t)j;

	if (c == C_RANDOM_ALL) {
		rng_fill(&r, b->new, b->bytes);
		return;
	}
	if (c == C_ZERO) {
		memset(b->new, 0, b->bytes);
		return;
	}
	memcpy(b->new, b->old, b->bytes);
	for (size_t i = 0; i < b->pages; i++) {
		uint8_t *p = pg(b->new, i);

		switch (c) {
		case C_ONE_BYTE:
			change_k(&r, p, perm, 1);
			break;
		case C_RUN64: {
			size_t off = rng_below(&r, PAGE - 64 + 1);

			rng_fill(&r, p + off, 64);
			break;
		}
		case C_RANDOM1PCT:
			change_k(&r, p, perm, 41);
			break;
		case C_RANDOM25PCT:
			change_k(&r, p, perm, 1024);
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Passes: each returns its elapsed seconds. */

static double pass_memcpy(struct bench *b)
{
	double t0 = now();

	for (size_t i = 0; i < b->pages; i++) {
		memcpy(pg(b->dst, i), pg(b->new, i), PAGE);
		BARRIER();
	}
	double t = now() - t0;
	sink += b->dst[b->bytes - 1];
	return t;
}

static double pass_memcmp(struct bench *b)
{
	long acc = 0;
	double t0 = now();

	for (size_t i = 0; i < b->pages; i++) {
		acc += memcmp(pg(b->old, i), pg(b->new, i), PAGE);
		BARRIER();
	}
	double t = now() - t0;
	sink += (uint64_t)acc;
	return t;
}

static double pass_encode(struct bench *b)
{
	uint64_t acc = 0;
	double t0 = now();

	for (size_t i = 0; i < b->pages; i++) {
		size_t len = 0;
		int k = codec_encode(pg(b->old, i), pg(b->new, i), PAGE,
				     b->enc + i * SLOT, &len);

		if (k < 0)
			die("codec_encode(page %zu) = %d", i, k);
		b->kind[i] = k;
		b->len[i] = len;
		acc += (uint64_t)k + len;
	}
	double t = now() - t0;
	sink += acc;
	return t;
}

/*
 * The delta scan of one encoder variant alone (codec_encode() adds the zero
 * check and the RAW copy), to show what each instruction set buys.
 */
static double pass_variant(struct bench *b)
{
	long acc = 0;
	double t0 = now();

	for (size_t i = 0; i < b->pages; i++)
		acc += b->impl->delta(pg(b->old, i), pg(b->new, i), PAGE,
				      b->enc + i * SLOT);
	double t = now() - t0;
	sink += (uint64_t)acc;
	return t;
}

static double pass_decode(struct bench *b)
{
	int acc = 0;
	double t0 = now();

	for (size_t i = 0; i < b->pages; i++)
		acc |= codec_decode(pg(b->dst, i), PAGE, b->kind[i],
				    b->enc + i * SLOT, b->len[i]);
	double t = now() - t0;
	if (acc)
		die("codec_decode failed during a timed pass (%d)", acc);
	sink += b->dst[0];
	return t;
}

/*
 * Packs pages [start, start + n) into one batch: 0 if every page is
 * UNCHANGED (nothing to send), else the batch length.
 */
static size_t pack_one(struct bench *b, size_t start, size_t n,
		       struct pack_writer *w)
{
	int rc = pack_init(w, b->body, b->body_cap, PAGE);

	if (rc)
		die("pack_init = %d", rc);
	for (size_t i = start; i < start + n; i++) {
		if (b->kind[i] == CODEC_UNCHANGED)
			continue;
		rc = pack_add(w, i, b->kind[i], b->enc + i * SLOT, b->len[i]);
		if (rc)
			die("pack_add(pfn %zu, %s, %zu bytes) = %d", i,
			    codec_kind_name(b->kind[i]), b->len[i], rc);
	}
	if (w->count == 0)
		return 0;
	long bl = pack_finish(w, ACCELERATION, b->batch, b->batch_cap);
	if (bl <= 0)
		die("pack_finish = %ld", bl);
	return (size_t)bl;
}

static double pass_pack(struct bench *b, uint64_t *total, double *worst)
{
	struct pack_writer w;
	uint64_t sum = 0;
	double worst_bpp = 0;
	double t0 = now();

	for (size_t start = 0; start < b->pages; start += BATCH_PAGES) {
		size_t n = b->pages - start < BATCH_PAGES ? b->pages - start
							  : BATCH_PAGES;
		size_t bl = pack_one(b, start, n, &w);
		double bpp = (double)bl / (double)n;

		sum += bl;
		if (bpp > worst_bpp)
			worst_bpp = bpp;
	}
	double t = now() - t0;
	sink += sum;
	*total = sum;
	*worst = worst_bpp;
	return t;
}

typedef double (*pass_fn)(struct bench *b);

/* One warm-up pass, then the best of b->reps. */
static double best_of(struct bench *b, pass_fn f)
{
	double best;

	f(b);
	best = f(b);
	for (int i = 1; i < b->reps; i++) {
		double t = f(b);

		if (t < best)
			best = t;
	}
	return best;
}

static double gbps(size_t bytes, double seconds)
{
	if (!(seconds > 1e-9))
		seconds = 1e-9; /* keep the number finite */
	return (double)bytes / seconds / 1e9;
}

/* ------------------------------------------------------------------------ */
/* Correctness, once per case, before anything is timed. */

static void check_equal(struct bench *b, const char *cname, const char *how)
{
	if (memcmp(b->dst, b->new, b->bytes) == 0)
		return;
	for (size_t i = 0; i < b->pages; i++) {
		if (memcmp(pg(b->dst, i), pg(b->new, i), PAGE) == 0)
			continue;
		size_t off = 0;
		while (pg(b->dst, i)[off] == pg(b->new, i)[off])
			off++;
		die("case %s: %s: page %zu differs from the new page at byte "
		    "%zu (kind %s, payload %zu bytes): the codec is broken, "
		    "no numbers reported",
		    cname, how, i, off, codec_kind_name(b->kind[i]), b->len[i]);
	}
}

static void check_case(struct bench *b, enum bench_case c, struct result *res)
{
	const char *cname = case_names[c];

	/* Encode once (untimed) and check each result against the API. */
	pass_encode(b);
	memset(res->kinds, 0, sizeof(res->kinds));
	for (size_t i = 0; i < b->pages; i++) {
		int k = b->kind[i];
		size_t len = b->len[i];
		int ok;

		switch (k) {
		case CODEC_UNCHANGED:
		case CODEC_ZERO:
			ok = len == 0;
			break;
		case CODEC_DELTA:
			ok = len >= 1 && len < PAGE;
			break;
		case CODEC_RAW:
			ok = len == PAGE;
			break;
		default:
			ok = 0;
		}
		if (!ok)
			die("case %s: page %zu: codec_encode gave kind %d with "
			    "%zu payload bytes",
			    cname, i, k, len);
		int rc = codec_validate(k, b->enc + i * SLOT, len, PAGE);
		if (rc)
			die("case %s: page %zu: codec_validate(%s, %zu bytes) "
			    "= %d on the encoder's own output",
			    cname, i, codec_kind_name(k), len, rc);
		res->kinds[k]++;
	}

	/* Direct: decode every payload onto a fresh copy of old. */
	memcpy(b->dst, b->old, b->bytes);
	for (size_t i = 0; i < b->pages; i++) {
		int rc = codec_decode(pg(b->dst, i), PAGE, b->kind[i],
				      b->enc + i * SLOT, b->len[i]);

		if (rc)
			die("case %s: page %zu: codec_decode(%s, %zu bytes) "
			    "= %d",
			    cname, i, codec_kind_name(b->kind[i]), b->len[i],
			    rc);
	}
	check_equal(b, cname, "encode/decode");

	/* Through the wire: pack, open, next, decode. */
	const struct pack_limits lim = {
		.page_size = PAGE,
		.max_pfn = b->pages,
		.max_entries = BATCH_PAGES,
	};
	struct pack_writer w;

	memcpy(b->dst, b->old, b->bytes);
	for (size_t start = 0; start < b->pages; start += BATCH_PAGES) {
		size_t n = b->pages - start < BATCH_PAGES ? b->pages - start
							  : BATCH_PAGES;
		size_t bl = pack_one(b, start, n, &w);

		if (bl == 0)
			continue;

		struct pack_reader r;
		struct pack_entry e;
		const char *why = NULL;
		int rc = pack_open(&r, b->batch, bl, &lim, b->scratch,
				   b->scratch_cap, &why);
		if (rc)
			die("case %s: pack_open of batch at pfn %zu (%zu "
			    "bytes) = %d (%s)",
			    cname, start, bl, rc, why ? why : "no reason");

		size_t i = start;
		while ((rc = pack_next(&r, &e)) == 1) {
			while (i < start + n && b->kind[i] == CODEC_UNCHANGED)
				i++;
			if (i == start + n || e.pfn != i ||
			    e.kind != b->kind[i] || e.len != b->len[i])
				die("case %s: batch at pfn %zu: entry (pfn "
				    "%llu, %s, %zu bytes) is not what was "
				    "added",
				    cname, start, (unsigned long long)e.pfn,
				    codec_kind_name(e.kind), e.len);
			rc = codec_decode(pg(b->dst, i), PAGE, e.kind,
					  e.payload, e.len);
			if (rc)
				die("case %s: page %zu: codec_decode after "
				    "unpack = %d",
				    cname, i, rc);
			i++;
		}
		if (rc != 0)
			die("case %s: pack_next = %d", cname, rc);
		while (i < start + n && b->kind[i] == CODEC_UNCHANGED)
			i++;
		if (i != start + n)
			die("case %s: batch at pfn %zu lost entries", cname,
			    start);
	}
	check_equal(b, cname, "pack/unpack");
}

/* ------------------------------------------------------------------------ */

static void run_case(struct bench *b, enum bench_case c, struct result *res)
{
	uint64_t total = 0;
	double worst = 0;
	double t;

	status("case %s: preparing", case_names[c]);
	make_case(b, c);
	check_case(b, c, res);

	status("case %s: encode", case_names[c]);
	res->encode_gbps = gbps(b->bytes, best_of(b, pass_encode));

	size_t sum = 0;
	for (size_t i = 0; i < b->pages; i++)
		sum += b->len[i];
	res->bytes_per_page = (double)sum / (double)b->pages;

	for (size_t v = 0; v < b->nimpls; v++) {
		b->impl = b->impls[v];
		res->variant_gbps[v] = gbps(b->bytes, best_of(b, pass_variant));
	}
	/* The variants overwrote the payloads: encode them again. */
	pass_encode(b);

	status("case %s: decode", case_names[c]);
	memcpy(b->dst, b->old, b->bytes);
	res->decode_gbps = gbps(b->bytes, best_of(b, pass_decode));

	status("case %s: pack", case_names[c]);
	pass_pack(b, &total, &worst); /* warm-up */
	double best = pass_pack(b, &total, &worst);
	for (int i = 1; i < b->reps; i++) {
		t = pass_pack(b, &total, &worst);
		if (t < best)
			best = t;
	}
	res->pack_gbps = gbps(b->bytes, best);
	res->packed_bytes_per_page = (double)total / (double)b->pages;
	res->packed_worst_batch = worst;
}

/* ------------------------------------------------------------------------ */
/* Targets and output. */

struct target {
	const char *key;   /* JSON name */
	const char *label; /* human name */
	double value;
	int at_most; /* 1: value <= threshold, 0: value >= threshold */
	double threshold;
	int pass;
};

#define NTARGETS 6

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

static void eval_targets(const struct result *res, double memcpy_gbps,
			 double memcmp_gbps, struct target *t,
			 enum bench_case *worst_case)
{
	enum bench_case wc = C_UNCHANGED;

	for (int c = 1; c < NCASES; c++)
		if (res[c].packed_bytes_per_page >
		    res[wc].packed_bytes_per_page)
			wc = (enum bench_case)c;
	*worst_case = wc;

	t[0] = (struct target){"unchanged_encode_vs_memcmp",
			       "unchanged encode / memcmp",
			       ratio(res[C_UNCHANGED].encode_gbps, memcmp_gbps),
			       0,
			       T_UNCHANGED_VS_MEMCMP,
			       0};
	t[1] = (struct target){"one_byte_encode_vs_memcmp",
			       "one_byte encode / memcmp",
			       ratio(res[C_ONE_BYTE].encode_gbps, memcmp_gbps),
			       0,
			       T_SMALL_ENC_VS_MEMCMP,
			       0};
	t[2] = (struct target){"one_byte_decode_vs_memcpy",
			       "one_byte decode / memcpy",
			       ratio(res[C_ONE_BYTE].decode_gbps, memcpy_gbps),
			       0,
			       T_SMALL_DEC_VS_MEMCPY,
			       0};
	t[3] = (struct target){"run64_encode_vs_memcmp",
			       "run64 encode / memcmp",
			       ratio(res[C_RUN64].encode_gbps, memcmp_gbps),
			       0,
			       T_SMALL_ENC_VS_MEMCMP,
			       0};
	t[4] = (struct target){"run64_decode_vs_memcpy",
			       "run64 decode / memcpy",
			       ratio(res[C_RUN64].decode_gbps, memcpy_gbps),
			       0,
			       T_SMALL_DEC_VS_MEMCPY,
			       0};
	t[5] = (struct target){
		"max_packed_bytes_per_page",   "max packed bytes/page",
		res[wc].packed_bytes_per_page, 1,
		T_MAX_WIRE_PER_PAGE,	       0};
	for (int i = 0; i < NTARGETS; i++)
		t[i].pass = t[i].at_most ? t[i].value <= t[i].threshold
					 : t[i].value >= t[i].threshold;
}

/* A finite number for JSON. */
static double fin(double x)
{
	return isfinite(x) ? x : 0;
}

static const char *kind_json_name(int k)
{
	static const char *const names[NKINDS] = {"unchanged", "zero", "delta",
						  "raw"};
	return names[k];
}

static void print_json(const struct bench *b, double memcpy_gbps,
		       double memcmp_gbps, const struct result *res,
		       const struct target *t, int all_pass)
{
	printf("{\"impl\": \"%s\", \"page_size\": %u, \"pages\": %zu, "
	       "\"batch_pages\": %u, \"reps\": %d,\n",
	       codec_impl_name(), PAGE, b->pages, BATCH_PAGES, b->reps);
	printf(" \"reference\": {\"memcpy_gbps\": %.4f, \"memcmp_gbps\": "
	       "%.4f},\n",
	       fin(memcpy_gbps), fin(memcmp_gbps));
	printf(" \"cases\": [\n");
	for (int c = 0; c < NCASES; c++) {
		const struct result *r = &res[c];

		printf("  {\"name\": \"%s\", \"encode_gbps\": %.4f, "
		       "\"decode_gbps\": %.4f, \"bytes_per_page\": %.4f, "
		       "\"packed_bytes_per_page\": %.4f, \"pack_gbps\": %.4f, "
		       "\"packed_worst_batch_bytes_per_page\": %.4f, "
		       "\"kinds\": {",
		       case_names[c], fin(r->encode_gbps), fin(r->decode_gbps),
		       fin(r->bytes_per_page), fin(r->packed_bytes_per_page),
		       fin(r->pack_gbps), fin(r->packed_worst_batch));
		for (int k = 0; k < NKINDS; k++)
			printf("%s\"%s\": %zu", k ? ", " : "",
			       kind_json_name(k), r->kinds[k]);
		printf("}}%s\n", c + 1 < NCASES ? "," : "");
	}
	printf(" ],\n \"delta_scan_gbps_by_impl\": {");
	for (size_t v = 0; v < b->nimpls; v++) {
		printf("%s\"%s\": {", v ? ", " : "", b->impls[v]->name);
		for (int c = 0; c < NCASES; c++)
			printf("%s\"%s\": %.4f", c ? ", " : "", case_names[c],
			       fin(res[c].variant_gbps[v]));
		printf("}");
	}
	printf("},\n \"targets\": [\n");
	for (int i = 0; i < NTARGETS; i++)
		printf("  {\"name\": \"%s\", \"value\": %.4f, \"op\": \"%s\", "
		       "\"threshold\": %.4f, \"pass\": %s}%s\n",
		       t[i].key, fin(t[i].value),
		       t[i].at_most ? "<=" : ">=", t[i].threshold,
		       t[i].pass ? "true" : "false",
		       i + 1 < NTARGETS ? "," : "");
	printf(" ],\n \"pass\": %s}\n", all_pass ? "true" : "false");
}

/* "delta", or "delta 97%" when the pages did not all get one kind. */
static void kind_summary(const struct result *r, size_t pages, char *buf,
			 size_t cap)
{
	int best = 0;

	for (int k = 1; k < NKINDS; k++)
		if (r->kinds[k] > r->kinds[best])
			best = k;
	if (r->kinds[best] == pages)
		snprintf(buf, cap, "%s", codec_kind_name(best));
	else
		snprintf(buf, cap, "%s %.0f%%", codec_kind_name(best),
			 100.0 * (double)r->kinds[best] / (double)pages);
}

static void print_human(const struct bench *b, double memcpy_gbps,
			double memcmp_gbps, const struct result *res,
			const struct target *t, enum bench_case worst_case,
			int all_pass)
{
	char kind[32];
	int passed = 0;

	printf("remora codec benchmark: impl %s, %zu pages x %u B "
	       "(%.1f MiB old + %.1f MiB new), batches of %u pages, "
	       "LZ4 acceleration %d, best of %d passes after 1 warm-up\n\n",
	       codec_impl_name(), b->pages, PAGE, (double)b->bytes / (1 << 20),
	       (double)b->bytes / (1 << 20), BATCH_PAGES, ACCELERATION,
	       b->reps);

	printf("%-12s %12s\n", "reference", "GB/s");
	printf("%-12s %12.2f\n", "memcpy", memcpy_gbps);
	printf("%-12s %12.2f\n\n", "memcmp", memcmp_gbps);

	printf("%-12s %-14s %12s %12s %11s %11s %10s\n", "case", "kind",
	       "encode GB/s", "decode GB/s", "bytes/page", "packed/page",
	       "pack GB/s");
	for (int c = 0; c < NCASES; c++) {
		const struct result *r = &res[c];

		kind_summary(r, b->pages, kind, sizeof(kind));
		printf("%-12s %-14s %12.2f %12.2f %11.1f %11.1f %10.2f\n",
		       case_names[c], kind, r->encode_gbps, r->decode_gbps,
		       r->bytes_per_page, r->packed_bytes_per_page,
		       r->pack_gbps);
	}

	printf("\n%-12s", "delta scan");
	for (size_t v = 0; v < b->nimpls; v++)
		printf(" %9s GB/s", b->impls[v]->name);
	printf("   (encoder variants, without zero check and RAW copy)\n");
	for (int c = 0; c < NCASES; c++) {
		printf("%-12s", case_names[c]);
		for (size_t v = 0; v < b->nimpls; v++)
			printf(" %14.2f", res[c].variant_gbps[v]);
		printf("\n");
	}

	printf("\ntargets\n");
	for (int i = 0; i < NTARGETS; i++) {
		char label[64];

		if (i == NTARGETS - 1)
			snprintf(label, sizeof(label), "%s (%s)", t[i].label,
				 case_names[worst_case]);
		else
			snprintf(label, sizeof(label), "%s", t[i].label);
		printf("  %-40s %9.3f  %s %7.2f  %s\n", label, t[i].value,
		       t[i].at_most ? "<=" : ">=", t[i].threshold,
		       t[i].pass ? "PASS" : "FAIL");
		passed += t[i].pass;
	}
	printf("%d/%d targets met: %s\n", passed, NTARGETS,
	       all_pass ? "PASS" : "FAIL");
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--json] [--strict] [--pages N] [--reps N]\n"
		"\n"
		"Measures codec_encode, codec_decode and batch packing per "
		"page\n"
		"case, next to memcpy/memcmp of the same run, and checks the\n"
		"issue's targets.\n"
		"\n"
		"  --json      print one JSON object on stdout and nothing "
		"else\n"
		"  --strict    exit 1 when a target is missed (default: exit "
		"0)\n"
		"  --pages N   pages of %u bytes per working set (default %u,\n"
		"              i.e. 64 MiB old + 64 MiB new; small values are "
		"for\n"
		"              smoke tests, their numbers mean little)\n"
		"  --reps N    timed passes per measurement, best kept "
		"(default %d)\n"
		"  --help      this text\n",
		argv0, PAGE, DEFAULT_PAGES, DEFAULT_REPS);
}

static unsigned long parse_num(const char *opt, const char *s,
			       unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"bench_codec: %s wants a number in %lu..%lu, "
			"not '%s'\n",
			opt, min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"strict", no_argument, NULL, 's'},
		{"pages", required_argument, NULL, 'p'},
		{"reps", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench b = {.pages = DEFAULT_PAGES, .reps = DEFAULT_REPS};
	struct result res[NCASES];
	struct target t[NTARGETS];
	enum bench_case worst_case;
	int strict = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			b.json = 1;
			break;
		case 's':
			strict = 1;
			break;
		case 'p':
			b.pages = parse_num("--pages", optarg, 1, MAX_PAGES);
			break;
		case 'r':
			b.reps = (int)parse_num("--reps", optarg, 1, MAX_REPS);
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_codec: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr, argv[0]);
		return 2;
	}
	if (!codec_page_size_ok(PAGE))
		die("codec_page_size_ok(%u) = 0", PAGE);

	status("impl %s, %zu pages of %u bytes, %d reps", codec_impl_name(),
	       b.pages, PAGE, b.reps);
	bench_alloc(&b);
	b.nimpls = codec_impls(b.impls, MAX_IMPLS);
	make_old(&b);

	/* References, over equal pages so memcmp scans them whole. */
	status("reference: memcpy, memcmp");
	memcpy(b.new, b.old, b.bytes);
	double memcpy_gbps = gbps(b.bytes, best_of(&b, pass_memcpy));
	double memcmp_gbps = gbps(b.bytes, best_of(&b, pass_memcmp));

	memset(res, 0, sizeof(res));
	for (int c = 0; c < NCASES; c++)
		run_case(&b, (enum bench_case)c, &res[c]);

	eval_targets(res, memcpy_gbps, memcmp_gbps, t, &worst_case);
	int all_pass = 1;
	for (int i = 0; i < NTARGETS; i++)
		all_pass &= t[i].pass;

	if (b.json)
		print_json(&b, memcpy_gbps, memcmp_gbps, res, t, all_pass);
	else
		print_human(&b, memcpy_gbps, memcmp_gbps, res, t, worst_case,
			    all_pass);
	if (fflush(stdout) != 0)
		die("writing the results: %s", strerror(errno));
	status("done: %s", all_pass ? "all targets met" : "targets missed");
	return strict && !all_pass ? 1 : 0;
}
