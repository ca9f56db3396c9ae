/*
 * The SSE2 encoder (every x86-64 CPU has SSE2): 16-byte compares.
 */
#include <emmintrin.h>

#include "codec_impl.h"

static inline __m128i ld(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)p);
}

/* Bits of the bytes that are equal in a 16-byte pair. */
static inline uint64_t eq16(const uint8_t *a, const uint8_t *b)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(
		_mm_cmpeq_epi8(ld(a), ld(b)));
}

static inline uint64_t blk_neq(const uint8_t *a, const uint8_t *b)
{
	return ~(eq16(a, b) | eq16(a + 16, b + 16) << 16 |
		 eq16(a + 32, b + 32) << 32 | eq16(a + 48, b + 48) << 48);
}

static inline int span_eq128(const uint8_t *a, const uint8_t *b)
{
	__m128i acc = _mm_setzero_si128();
	int i;

	for (i = 0; i < 128; i += 16)
		acc = _mm_or_si128(acc, _mm_xor_si128(ld(a + i), ld(b + i)));
	return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) ==
	       0xffff;
}

static inline int span_zero128(const uint8_t *a)
{
	__m128i acc = _mm_setzero_si128();
	int i;

	for (i = 0; i < 128; i += 16)
		acc = _mm_or_si128(acc, ld(a + i));
	return _mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) ==
	       0xffff;
}

static inline void xor_store16(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	_mm_storeu_si128((__m128i *)dst, _mm_xor_si128(ld(a), ld(b)));
}

/* Whole 16-byte steps, then one last step that ends exactly at len. */
static inline void xor_copy(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			    size_t len)
{
	size_t i = 0;

	if (len < 16) {
		for (; i < len; i++)
			dst[i] = a[i] ^ b[i];
		return;
	}
	for (; i + 16 <= len; i += 16)
		_mm_storeu_si128((__m128i *)(dst + i),
				 _mm_xor_si128(ld(a + i), ld(b + i)));
	if (i < len)
		_mm_storeu_si128(
			(__m128i *)(dst + len - 16),
			_mm_xor_si128(ld(a + len - 16), ld(b + len - 16)));
}

#define CODEC_SCAN_NAME(x) x##_sse2
#include "codec_scan.h"
