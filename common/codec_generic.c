/*
 * The portable encoder: 64-bit words, no SIMD. It is what non-x86 hosts run
 * and the reference the SIMD variants are tested against.
 */
#include <string.h>

#include "codec_impl.h"

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Bit i set iff byte i of x is nonzero. */
static inline uint64_t byte_nz8(uint64_t x)
{
	const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL;
	uint64_t hi = (((x & lo7) + lo7) | x) & ~lo7;

	/* Gathers the eight high bits into the top byte (no carries). */
	return ((hi >> 7) * 0x0102040810204080ULL) >> 56;
}

static inline uint64_t blk_neq(const uint8_t *a, const uint8_t *b)
{
	uint64_t m = 0;
	int i;

	for (i = 0; i < 8; i++)
		m |= byte_nz8(load64(a + 8 * i) ^ load64(b + 8 * i)) << (8 * i);
	return m;
}

static inline int span_eq128(const uint8_t *a, const uint8_t *b)
{
	uint64_t acc = 0;
	int i;

	for (i = 0; i < 16; i++)
		acc |= load64(a + 8 * i) ^ load64(b + 8 * i);
	return acc == 0;
}

static inline int span_zero128(const uint8_t *a)
{
	uint64_t acc = 0;
	int i;

	for (i = 0; i < 16; i++)
		acc |= load64(a + 8 * i);
	return acc == 0;
}

static inline void xor_copy(uint8_t *dst, const uint8_t *a, const uint8_t *b,
			    size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x, y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		x ^= y;
		memcpy(dst + i, &x, 8);
	}
	for (; i < len; i++)
		dst[i] = a[i] ^ b[i];
}

static inline void xor_store16(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	xor_copy(dst, a, b, 16);
}

#define CODEC_SCAN_NAME(x) x##_generic
#include "codec_scan.h"
