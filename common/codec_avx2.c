/*
 * The AVX2 encoder: 32-byte compares, 128 bytes per step in the skip loop.
 * Built with -mavx2; codec.c calls it only when the CPU reports AVX2.
 */
#include <immintrin.h>

#include "codec_impl.h"

static inline __m256i ld(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

static inline uint64_t blk_neq(const uint8_t *a, const uint8_t *b)
{
	uint64_t lo =
		(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(ld(a), ld(b)));
	uint64_t hi = (uint32_t)_mm256_movemask_epi8(
		_mm256_cmpeq_epi8(ld(a + 32), ld(b + 32)));

	return ~(lo | hi << 32);
}

static inline int span_eq128(const uint8_t *a, const uint8_t *b)
{
	__m256i x0 = _mm256_xor_si256(ld(a), ld(b));
	__m256i x1 = _mm256_xor_si256(ld(a + 32), ld(b + 32));
	__m256i x2 = _mm256_xor_si256(ld(a + 64), ld(b + 64));
	__m256i x3 = _mm256_xor_si256(ld(a + 96), ld(b + 96));
	__m256i acc = _mm256_or_si256(_mm256_or_si256(x0, x1),
				      _mm256_or_si256(x2, x3));

	return _mm256_testz_si256(acc, acc);
}

static inline int span_zero128(const uint8_t *a)
{
	__m256i acc = _mm256_or_si256(_mm256_or_si256(ld(a), ld(a + 32)),
				      _mm256_or_si256(ld(a + 64), ld(a + 96)));

	return _mm256_testz_si256(acc, acc);
}

static inline void xor_store16(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	__m128i x = _mm_loadu_si128((const __m128i *)a);
	__m128i y = _mm_loadu_si128((const __m128i *)b);

	_mm_storeu_si128((__m128i *)dst, _mm_xor_si128(x, y));
}

/* Whole 32-byte steps, then one last step that ends exactly at len. */
static inline void xor_copy(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			    size_t len)
{
	size_t i = 0;

	if (len < 32) {
		for (; i + 8 <= len; i += 8) {
			uint64_t x, y;

			__builtin_memcpy(&x, a + i, 8);
			__builtin_memcpy(&y, b + i, 8);
			x ^= y;
			__builtin_memcpy(dst + i, &x, 8);
		}
		for (; i < len; i++)
			dst[i] = a[i] ^ b[i];
		return;
	}
	for (; i + 32 <= len; i += 32)
		_mm256_storeu_si256((__m256i *)(dst + i),
				    _mm256_xor_si256(ld(a + i), ld(b + i)));
	if (i < len)
		_mm256_storeu_si256(
			(__m256i *)(dst + len - 32),
			_mm256_xor_si256(ld(a + len - 32), ld(b + len - 32)));
}

#define CODEC_SCAN_NAME(x) x##_avx2
#include "codec_scan.h"
