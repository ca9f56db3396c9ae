/*
 * Unsigned LEB128 varints, as the codec and the batch format use them: seven
 * bits per byte, low bits first, high bit set on every byte but the last.
 * Decoding is strict: a truncated varint, one longer than the caller allows
 * or an overlong one (a final 0x00 byte after the first) is an error, so each
 * value has exactly one encoding.
 */
#ifndef REMORA_VARINT_H
#define REMORA_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX_BYTES 10 /* a uint64_t */

/* Writes v at p (at most VARINT_MAX_BYTES); returns the bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Bytes varint_put() would write for v. */
static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/*
 * Reads a varint of at most max_bytes (<= VARINT_MAX_BYTES) from p[0..len).
 * Returns the bytes consumed, or 0 if the input is truncated, too long,
 * overlong, or does not fit 64 bits.
 */
static inline size_t varint_get(const uint8_t *p, size_t len, size_t max_bytes,
				uint64_t *v)
{
	uint64_t r = 0;
	size_t i;

	if (len > max_bytes)
		len = max_bytes;
	for (i = 0; i < len; i++) {
		uint64_t b = p[i];

		/* The tenth byte may only hold the top bit of a uint64_t. */
		if (i == 9 && b > 1)
			return 0;
		r |= (b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return 0; /* overlong */
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

#endif
