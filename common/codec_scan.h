/*
 * The encoder's scanning loop, written once and compiled once per instruction
 * set. Not a normal header: the including file (codec_generic.c,
 * codec_sse2.c, codec_avx2.c) first defines, for its instruction set,
 *
 *   CODEC_SCAN_NAME(x)   the suffixed name of each function made here;
 *   blk_neq(a, b)        64-bit mask of the bytes that differ in a 64-byte block;
 *   span_eq128(a, b)     nonzero if two 128-byte spans are equal;
 *   span_zero128(a)      nonzero if a 128-byte span is all zero;
 *   xor_copy(dst, a, b, len)  dst[i] = a[i] ^ b[i] for i < len, touching only
 *                        those bytes of dst and reading only a[0..len), b[0..len);
 *   xor_store16(dst, a, b)    the same for exactly 16 bytes, in one step.
 *
 * Pages are a multiple of 128 bytes (codec_page_size_ok), so every load is a
 * whole block inside the page. The delta grammar is described in codec.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "varint.h"

/*
 * A zero gap shorter than this stays inside the literal: splitting the
 * literal would cost two varints (>= 2 bytes), keeping the gap costs its own
 * length.
 */
#define CODEC_MIN_GAP 3
_Static_assert(CODEC_MIN_GAP == 3, "codec_delta's gap mask tests three bytes");

/* First 64-byte block at or after blk (64-aligned) that may differ, or n. */
static inline size_t CODEC_SCAN_NAME(skip_equal)(const uint8_t *a,
						 const uint8_t *b, size_t blk,
						 size_t n)
{
	/* The hot loop: unchanged memory is skipped 128 bytes a step. */
	while (blk + 128 <= n && span_eq128(a + blk, b + blk))
		blk += 128;
	return blk < n ? blk : n;
}

/*
 * Writes the DELTA turning a into b (n-byte pages) to out. Returns its length,
 * 0 when the pages are equal, or -1 when the delta would not be smaller than
 * n bytes. out must hold n bytes; any of them may be written as scratch.
 *
 * One pass over 64-byte blocks, each compared once into a mask of differing
 * bytes (`cur`), with the next block's mask (`nxt`) at hand so that a gap
 * straddling two blocks is seen. Runs are found with bit operations on the
 * masks; bytes past the page end count as equal.
 */
long CODEC_SCAN_NAME(codec_delta)(const uint8_t *a, const uint8_t *b, size_t n,
				  uint8_t *out)
{
	const size_t limit = n - 1; /* a DELTA must beat RAW by a byte */
	const size_t none = (size_t)-1;
	size_t o = 0;	   /* bytes written */
	size_t pos = 0;	   /* end of the previous literal */
	size_t lit = none; /* start of the open literal */
	size_t blk, c = 0; /* current block, and the bit to look from */
	uint64_t cur, nxt, m, t;

	blk = CODEC_SCAN_NAME(skip_equal)(a, b, 0, n);
	if (blk == n)
		return 0;
	cur = blk_neq(a + blk, b + blk);
	nxt = blk + 64 < n ? blk_neq(a + blk + 64, b + blk + 64) : 0;

	for (;;) {
		if (lit == none) {
			m = cur & (~0ULL << c);
			if (!m) {
				/* Rest of the block equal: on to the next. */
				blk += 64;
				c = 0;
				if (blk >= n)
					return (long)o;
				if (nxt) {
					cur = nxt;
				} else {
					blk = CODEC_SCAN_NAME(skip_equal)(
						a, b, blk + 64, n);
					if (blk == n)
						return (long)o;
					cur = blk_neq(a + blk, b + blk);
				}
				nxt = blk + 64 < n ? blk_neq(a + blk + 64,
							     b + blk + 64)
						   : 0;
				continue;
			}
			c = (size_t)__builtin_ctzll(m);
			lit = blk + c;
		}

		/* Bit i: bytes i, i+1, i+2 all equal (3 == CODEC_MIN_GAP). */
		t = ~cur & (~cur >> 1 | ~nxt << 63) & (~cur >> 2 | ~nxt << 62);
		t &= ~0ULL << c;
		if (!t) {
			/* The literal goes on into the next block. */
			blk += 64;
			c = 0;
			/* Two varints of one byte at least come before it. */
			if (blk - lit + 2 > limit - o)
				return -1;
			cur = nxt;
			nxt = blk + 64 < n ? blk_neq(a + blk + 64, b + blk + 64)
					   : 0;
			continue;
		}

		c = (size_t)__builtin_ctzll(t);
		{
			size_t q = blk + c, skip = lit - pos, len = q - lit;
			size_t need = varint_len(skip) + varint_len(len) + len;

			if (need > limit - o)
				return -1;
			o += varint_put(out + o, skip);
			o += varint_put(out + o, len);
			/*
			 * Short literals (most of them in scattered changes)
			 * take one fixed-size step instead of a loop whose
			 * length the branch predictor cannot guess; the bytes
			 * past len are overwritten by what follows.
			 */
			if (len <= 16 && lit + 16 <= n && o + 16 <= n)
				xor_store16(out + o, a + lit, b + lit);
			else
				xor_copy(out + o, a + lit, b + lit, len);
			o += len;
			pos = q;
			lit = none;
		}
	}
}

/* Nonzero if the n-byte page is all zero. */
int CODEC_SCAN_NAME(codec_page_zero)(const uint8_t *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 128)
		if (!span_zero128(a + i))
			return 0;
	return 1;
}
