/*
 * The encoder's per-instruction-set variants, for codec.c's dispatch and for
 * the tests and fuzzers that check every variant gives the same bytes.
 */
#ifndef REMORA_CODEC_IMPL_H
#define REMORA_CODEC_IMPL_H

#include <stddef.h>
#include <stdint.h>

struct codec_impl {
	const char *name;
	/* See codec_scan.h: DELTA length, 0 if equal, -1 if not smaller. */
	long (*delta)(const uint8_t *a, const uint8_t *b, size_t n,
		      uint8_t *out);
	int (*page_zero)(const uint8_t *a, size_t n);
};

long codec_delta_generic(const uint8_t *a, const uint8_t *b, size_t n,
			 uint8_t *out);
int codec_page_zero_generic(const uint8_t *a, size_t n);

#if defined(__x86_64__)
long codec_delta_sse2(const uint8_t *a, const uint8_t *b, size_t n,
		      uint8_t *out);
int codec_page_zero_sse2(const uint8_t *a, size_t n);
long codec_delta_avx2(const uint8_t *a, const uint8_t *b, size_t n,
		      uint8_t *out);
int codec_page_zero_avx2(const uint8_t *a, size_t n);
#endif

/*
 * Fills impls[] (at most max) with the variants this CPU can run, best
 * first; returns how many. impls[0] is what codec_encode() uses.
 */
size_t codec_impls(const struct codec_impl **impls, size_t max);

#endif
