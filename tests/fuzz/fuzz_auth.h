/*
 * The fixed session fuzz_auth reads under and make_corpus.c writes its
 * seeds with: a cluster key from 32 bytes of 0x5a, and the acceptor's
 * (our) Challenge nonce. The peer's nonce comes from each input.
 */
#ifndef REMORA_FUZZ_AUTH_H
#define REMORA_FUZZ_AUTH_H

#include <string.h>

#include "auth.h"

static const uint8_t fuzz_auth_our_nonce[AUTH_NONCE_BYTES] = {
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
};

static inline void fuzz_auth_key(struct auth_key *k)
{
	uint8_t b[32];

	memset(b, 0x5a, sizeof(b));
	auth_key_derive(k, b, sizeof(b));
}

#endif
