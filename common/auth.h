/*
 * The authenticated replication channel (issue 13): a pre-shared cluster
 * key read from [cluster] key_file, per-connection session keys derived
 * from both sides' Challenge nonces, and a 16-byte tag after every frame
 * that binds its header, its payload, its direction and its place in the
 * stream (a per-direction sequence number that is counted, never sent).
 * docs/wire.md has the grammar; conn.c drives it.
 *
 * Frames are authenticated, not encrypted: the tag is a ChaCha20-Poly1305
 * (IETF) tag over an empty plaintext with the frame as additional data.
 *
 * Pure: no libuv, no I/O besides auth_key_load()'s one file, never exits.
 */
#ifndef REMORA_AUTH_H
#define REMORA_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define AUTH_KEY_BYTES	  32u
#define AUTH_NONCE_BYTES  32u
#define AUTH_TAG_BYTES	  16u
#define AUTH_VERSION	  1u /* Challenge.version */
#define AUTH_KEY_FILE_MIN 32u
#define AUTH_KEY_FILE_MAX 4096u

/* Challenge.suites bits: the AEADs whose tags a side can make and check. */
#define AUTH_SUITE_CHACHA20_POLY1305 0x1u /* ChaCha20-Poly1305-IETF */
#define AUTH_SUITE_AES256_GCM	     0x2u /* reserved: see auth.c */

/* The cluster key: BLAKE2b-256 of key_file's bytes (auth.c). */
struct auth_key {
	uint8_t k[AUTH_KEY_BYTES];
};

/* One direction of a session: its key, its suite, the next frame's number. */
struct auth_dir {
	uint8_t k[AUTH_KEY_BYTES];
	unsigned suite;
	uint64_t seq;
};

struct auth_session {
	struct auth_dir tx, rx;
};

/*
 * Streaming tag computation, for a frame whose bytes are in pieces (a
 * PageBatch's prefix and batch; a header apart from its payload).
 */
struct auth_mac {
	crypto_onetimeauth_poly1305_state st;
	struct auth_dir *d;
	uint64_t len; /* bytes so far (Poly1305 pads and counts them) */
};

/* libsodium's sodium_init(): 0, or -1 if it cannot start (no entropy). */
int auth_init(void);

/*
 * Reads key_file path and derives the cluster key. The file must be a
 * regular file (never opened through a symbolic link, and a FIFO is refused
 * without blocking), readable and writable by its owner only, of
 * AUTH_KEY_FILE_MIN..AUTH_KEY_FILE_MAX bytes. Returns 0, or a negative
 * errno with one line in err naming the path and what to do.
 */
int auth_key_load(const char *path, struct auth_key *key, char *err,
		  size_t errlen);

/* The cluster key of key_file bytes b (what auth_key_load() derives). */
void auth_key_derive(struct auth_key *key, const uint8_t *b, size_t n);

/* The suites this build can use (Challenge.suites). */
unsigned auth_suites(void);

/* The suite both sides use: the best bit in ours & theirs, or 0 if none. */
unsigned auth_suite_choose(unsigned ours, unsigned theirs);

/*
 * Derives both directions' keys from the cluster key and the Challenge
 * nonces; dialer says which side we are. Sequence numbers start at 0.
 * Returns 0, or -EINVAL for a suite this build cannot use.
 */
int auth_session_init(struct auth_session *s, const struct auth_key *key,
		      const uint8_t dialer_nonce[AUTH_NONCE_BYTES],
		      const uint8_t acceptor_nonce[AUTH_NONCE_BYTES],
		      int dialer, unsigned suite);

/*
 * A frame's tag in pieces: begin, then every byte of header and payload in
 * order through update, then end (which advances d->seq). auth_mac_end()
 * writes the tag; auth_mac_verify() compares it with tag in constant time
 * and returns 0 or -EBADMSG. Either way the sequence number is used up.
 */
void auth_mac_begin(struct auth_mac *m, struct auth_dir *d);
void auth_mac_update(struct auth_mac *m, const uint8_t *p, size_t n);
void auth_mac_end(struct auth_mac *m, uint8_t tag[AUTH_TAG_BYTES]);
int auth_mac_verify(struct auth_mac *m, const uint8_t tag[AUTH_TAG_BYTES]);

/* Whole frames: the tag of header hdr + payload, and its check. */
void auth_seal(struct auth_dir *d, const uint8_t *hdr, const uint8_t *payload,
	       size_t len, uint8_t tag[AUTH_TAG_BYTES]);
int auth_open(struct auth_dir *d, const uint8_t *hdr, const uint8_t *payload,
	      size_t len, const uint8_t tag[AUTH_TAG_BYTES]);

/* Fills n bytes with randomness from the kernel (Challenge nonces). */
void auth_random(uint8_t *p, size_t n);

/* Forgets key material. */
void auth_wipe(void *p, size_t n);

#endif
