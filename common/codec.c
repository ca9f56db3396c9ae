/*
 * The page codec: encode a page against the receiver's copy, decode it back.
 *
 * Payload grammar, by kind (page_size = n):
 *
 *   UNCHANGED, ZERO   empty
 *   RAW               the new page, exactly n bytes
 *   DELTA             pair+                       total length 1 .. n-1
 *     pair            skip:varint len:varint xor:len*byte
 *     varint          unsigned LEB128, <= n, no overlong form (varint.h)
 *
 * A DELTA walks the page from offset 0: each pair skips `skip` unchanged
 * bytes, then XORs the next `len` bytes of the page with `xor`. Bytes after
 * the last pair are unchanged. The decoder rejects (-EBADMSG):
 *   - an empty payload, or one of n bytes or more (RAW is never larger);
 *   - a truncated or overlong varint, or one above n;
 *   - len == 0, and skip == 0 in any pair but the first (adjacent literals
 *     are one literal);
 *   - a skip or a literal that runs past the end of the page;
 *   - a pair cut short (a varint or the literal bytes missing): every payload
 *     byte belongs to exactly one complete pair, so trailing bytes fail too.
 *
 * The encoder emits literals whose first and last XOR byte are nonzero and
 * keeps zero gaps shorter than CODEC_MIN_GAP (3) inside a literal, since
 * splitting would cost more than it saves. That is a property of the encoder,
 * not a rule of the grammar.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "codec_impl.h"
#include "varint.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/* Varints here never exceed CODEC_PAGE_MAX (2^20): three bytes suffice. */
#define CODEC_VARINT_MAX 3

int codec_page_size_ok(size_t page_size)
{
	return page_size >= CODEC_PAGE_MIN && page_size <= CODEC_PAGE_MAX &&
	       page_size % CODEC_PAGE_ALIGN == 0;
}

static const struct codec_impl impl_generic = {"generic", codec_delta_generic,
					       codec_page_zero_generic};
#if defined(__x86_64__)
static const struct codec_impl impl_sse2 = {"sse2", codec_delta_sse2,
					    codec_page_zero_sse2};
static const struct codec_impl impl_avx2 = {"avx2", codec_delta_avx2,
					    codec_page_zero_avx2};
#endif

size_t codec_impls(const struct codec_impl **impls, size_t max)
{
	size_t n = 0;

#if defined(__x86_64__)
	if (n < max && __builtin_cpu_supports("avx2"))
		impls[n++] = &impl_avx2;
	if (n < max)
		impls[n++] = &impl_sse2;
#endif
	if (n < max)
		impls[n++] = &impl_generic;
	return n;
}

/*
 * The best variant for this CPU. __builtin_cpu_supports() reads a table the
 * compiler runtime fills at start-up, so asking on every call is cheap and
 * needs no mutable state of ours.
 */
static const struct codec_impl *best_impl(void)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2"))
		return &impl_avx2;
	return &impl_sse2;
#else
	return &impl_generic;
#endif
}

const char *codec_impl_name(void)
{
	return best_impl()->name;
}

const char *codec_kind_name(int kind)
{
	switch (kind) {
	case CODEC_UNCHANGED:
		return "unchanged";
	case CODEC_ZERO:
		return "zero";
	case CODEC_DELTA:
		return "delta";
	case CODEC_RAW:
		return "raw";
	}
	return "invalid";
}

int codec_encode(const uint8_t *old_page, const uint8_t *new_page,
		 size_t page_size, uint8_t *out, size_t *out_len)
{
	const uint8_t *payload;
	int kind = codec_encode_ref(old_page, new_page, page_size, out, out_len,
				    &payload);

	if (kind == CODEC_RAW)
		memcpy(out, new_page, page_size);
	return kind;
}

int codec_encode_ref(const uint8_t *old_page, const uint8_t *new_page,
		     size_t page_size, uint8_t *out, size_t *out_len,
		     const uint8_t **payload)
{
	const struct codec_impl *impl = best_impl();

	if (!codec_page_size_ok(page_size))
		return -EINVAL;
	/*
	 * The zero check first: it stops at the first nonzero byte, which for
	 * most pages is near the start, while a zero page against a changed
	 * old one would otherwise pay for the whole delta scan before it
	 * (2.3x the zero check alone). A zero page costs no payload at all,
	 * so it wins over any delta; against a zero old page it is unchanged.
	 */
	*payload = out;
	if (impl->page_zero(new_page, page_size)) {
		*out_len = 0;
		return old_page && impl->page_zero(old_page, page_size)
			       ? CODEC_UNCHANGED
			       : CODEC_ZERO;
	}
	if (old_page) {
		long r = impl->delta(old_page, new_page, page_size, out);

		if (r == 0) {
			*out_len = 0;
			return CODEC_UNCHANGED;
		}
		if (r > 0) {
			*out_len = (size_t)r;
			return CODEC_DELTA;
		}
	}
	*payload = new_page;
	*out_len = page_size;
	return CODEC_RAW;
}

/* dst[i] ^= src[i] for i < len. */
static void xor_into(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t i = 0;

#if defined(__x86_64__)
	for (; i + 16 <= len; i += 16) {
		__m128i d = _mm_loadu_si128((const __m128i *)(dst + i));
		__m128i s = _mm_loadu_si128((const __m128i *)(src + i));

		_mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(d, s));
	}
#endif
	for (; i + 8 <= len; i += 8) {
		uint64_t d, s;

		memcpy(&d, dst + i, 8);
		memcpy(&s, src + i, 8);
		d ^= s;
		memcpy(dst + i, &d, 8);
	}
	for (; i < len; i++)
		dst[i] ^= src[i];
}

/*
 * page[pos..pos+run) ^= p[off..off+run). Short runs, the common case of
 * scattered changes, take one masked 16-byte step when both buffers have 16
 * bytes there: bytes past the run are XORed with zero, i.e. rewritten as they
 * were, so a wrongly guessed loop length costs no branch miss.
 */
static inline void apply_run(uint8_t *page, size_t n, size_t pos,
			     const uint8_t *p, size_t len, size_t off,
			     size_t run)
{
#if defined(__x86_64__)
	static const uint8_t ones_then_zeros[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	if (run <= 16 && pos + 16 <= n && off + 16 <= len) {
		__m128i m = _mm_loadu_si128(
			(const __m128i *)(ones_then_zeros + 16 - run));
		__m128i x = _mm_and_si128(
			m, _mm_loadu_si128((const __m128i *)(p + off)));
		__m128i d = _mm_loadu_si128((const __m128i *)(page + pos));

		_mm_storeu_si128((__m128i *)(page + pos), _mm_xor_si128(d, x));
		return;
	}
#endif
	xor_into(page + pos, p + off, run);
}

/* A varint of the payload: one byte (< 0x80) is by far the common case. */
static inline size_t delta_varint(const uint8_t *p, size_t avail, uint64_t *v)
{
	if (avail && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	return varint_get(p, avail, CODEC_VARINT_MAX, v);
}

/* One literal run of a DELTA payload: page[pos..) ^= payload[off..). */
struct delta_run {
	uint32_t pos, off, run;
};

/* Runs decode_delta() keeps while it validates (a 4 KiB page's one-byte
 * changes fit; more fall back to a second walk). */
#define DELTA_RUNS 256

/*
 * Walks a DELTA payload, checking all of it; with page != NULL also applies
 * it. Runs go to runs[0..max) as they are checked (*nruns counts them, up
 * to max; more are not stored). Returns 0 or -EBADMSG.
 */
static int delta_walk(uint8_t *page, size_t n, const uint8_t *p, size_t len,
		      struct delta_run *runs, size_t max, size_t *nruns)
{
	size_t off = 0, pos = 0, count = 0;
	int first = 1;

	if (len == 0 || len >= n)
		return -EBADMSG;
	while (off < len) {
		uint64_t skip, run;
		size_t k;

		k = delta_varint(p + off, len - off, &skip);
		if (!k || skip > n - pos || (skip == 0 && !first))
			return -EBADMSG;
		off += k;
		pos += skip;
		k = delta_varint(p + off, len - off, &run);
		if (!k || run == 0 || run > n - pos)
			return -EBADMSG;
		off += k;
		if (run > len - off)
			return -EBADMSG; /* literal cut short */
		if (page)
			apply_run(page, n, pos, p, len, off, run);
		if (count < max)
			runs[count] = (struct delta_run){
				(uint32_t)pos, (uint32_t)off, (uint32_t)run};
		count++;
		off += run;
		pos += run;
		first = 0;
	}
	if (nruns)
		*nruns = count;
	return 0;
}

/*
 * All or nothing in one walk of the payload: the runs are checked and kept,
 * then applied; only a payload of more than DELTA_RUNS runs is walked a
 * second time to apply it.
 */
static int delta_decode(uint8_t *page, size_t n, const uint8_t *p, size_t len)
{
	struct delta_run runs[DELTA_RUNS];
	size_t nruns, i;
	int err = delta_walk(NULL, n, p, len, runs, DELTA_RUNS, &nruns);

	if (err)
		return err;
	if (nruns > DELTA_RUNS)
		return delta_walk(page, n, p, len, NULL, 0, NULL);
	for (i = 0; i < nruns; i++)
		apply_run(page, n, runs[i].pos, p, len, runs[i].off,
			  runs[i].run);
	return 0;
}

int codec_validate(int kind, const uint8_t *payload, size_t len,
		   size_t page_size)
{
	if (!codec_page_size_ok(page_size))
		return -EINVAL;
	switch (kind) {
	case CODEC_UNCHANGED:
	case CODEC_ZERO:
		return len == 0 ? 0 : -EBADMSG;
	case CODEC_RAW:
		return len == page_size ? 0 : -EBADMSG;
	case CODEC_DELTA:
		return delta_walk(NULL, page_size, payload, len, NULL, 0, NULL);
	}
	return -EINVAL;
}

int codec_decode(uint8_t *page, size_t page_size, int kind,
		 const uint8_t *payload, size_t len)
{
	int err;

	/* A delta is checked as it is walked once (delta_decode). */
	if (kind == CODEC_DELTA && codec_page_size_ok(page_size))
		return delta_decode(page, page_size, payload, len);
	err = codec_validate(kind, payload, len, page_size);
	if (err)
		return err;
	switch (kind) {
	case CODEC_ZERO:
		memset(page, 0, page_size);
		break;
	case CODEC_RAW:
		memcpy(page, payload, page_size);
		break;
	}
	return 0;
}
