/*
 * xxhash's XXH3 compiled with its AVX2 kernel (built with -mavx2; hash.c
 * calls it only when the CPU reports AVX2).
 */
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include "hash_impl.h"

uint64_t hash64_avx2(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

int hash_update_avx2(XXH3_state_t *s, const void *p, size_t n)
{
	return XXH3_64bits_update(s, p, n) == XXH_OK ? 0 : -1;
}
