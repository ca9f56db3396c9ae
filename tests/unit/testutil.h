/*
 * Helpers the unit tests share: a seeded PRNG, so every run tests the same
 * pages, and an independent varint writer, so expected encodings are built
 * without the code under test.
 */
#ifndef REMORA_TESTUTIL_H
#define REMORA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 with a fixed seed. */
struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for n > 0; the bias does not matter here. */
static inline size_t rnd_below(struct rng *r, size_t n)
{
	return (size_t)(rnd(r) % n);
}

/* A byte that is never 0, to flip a byte so that it surely changes. */
static inline uint8_t rnd_nz(struct rng *r)
{
	return (uint8_t)(1 + rnd_below(r, 255));
}

static inline void fill_random(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(r);
}

/* Writes v as an unsigned LEB128 varint; returns the bytes written. */
static inline size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

#endif
