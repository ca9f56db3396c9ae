/*
 * The kernels behind hash.h, one object per instruction set (hash.c for
 * the build's baseline, hash_avx2.c with -mavx2). Internal to hash.c.
 */
#ifndef REMORA_HASH_IMPL_H
#define REMORA_HASH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

uint64_t hash64_avx2(const void *p, size_t n);
int hash_update_avx2(XXH3_state_t *s, const void *p, size_t n);

#endif
