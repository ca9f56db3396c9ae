/*
 * XXH3-64 with the best kernel the CPU runs (hash.h).
 */
#include "hash.h"
#include "hash_impl.h"

/* A read of what libgcc found at start: cheap enough per call. */
static int have_avx2(void)
{
#if defined(__x86_64__)
	return __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}

uint64_t hash64(const void *p, size_t n)
{
#if defined(__x86_64__)
	if (have_avx2())
		return hash64_avx2(p, n);
#endif
	return XXH3_64bits(p, n);
}

int hash_update(XXH3_state_t *s, const void *p, size_t n)
{
#if defined(__x86_64__)
	if (have_avx2())
		return hash_update_avx2(s, p, n);
#endif
	return XXH3_64bits_update(s, p, n) == XXH_OK ? 0 : -1;
}

const char *hash_impl_name(void)
{
	return have_avx2() ? "avx2" : "libxxhash";
}
