/*
 * XXH3-64, libxxhash's algorithm and results, with its AVX2 kernel where
 * the CPU has AVX2. Debian builds libxxhash for the x86-64 baseline (SSE2);
 * the AVX2 kernel hashes pages about 2.2x as fast, and every page an epoch
 * carries is hashed on both ends (the batch checksum, the epoch checksum).
 * The kernels are xxhash's own (XXH_INLINE_ALL, one object per instruction
 * set, as codec.c picks its scanners); only the choice is remora's.
 *
 * A state from XXH3_createState() / XXH3_64bits_reset() may be fed with
 * hash_update() and finished with XXH3_64bits_digest(): the state's layout
 * and meaning do not depend on the kernel. Pure code.
 */
#ifndef REMORA_HASH_H
#define REMORA_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* XXH3_64bits(p, n). */
uint64_t hash64(const void *p, size_t n);

/* XXH3_64bits_update(s, p, n); 0, or nonzero (as XXH_ERROR) on bad input. */
int hash_update(XXH3_state_t *s, const void *p, size_t n);

/* The kernel in use: "avx2", or "libxxhash" (the library's own). */
const char *hash_impl_name(void);

#endif
