/*
 * The authenticated channel's cryptography (see auth.h): the cluster key
 * from key_file, session keys, and frame tags.
 *
 *   cluster key = BLAKE2b-256("remora cluster key v1" || key_file bytes)
 *   K_dir       = BLAKE2b-256(key = cluster key,
 *                             "remora auth v1" || dialer nonce ||
 *                             acceptor nonce || dir:u8 || suite:u8)
 *                 dir 0: dialer -> acceptor, 1: acceptor -> dialer
 *   tag         = ChaCha20-Poly1305-IETF tag of an empty plaintext with
 *                 additional data = frame header || payload,
 *                 nonce = 4 zero bytes || le64 seq, key = K_dir
 *
 * seq counts the frames of one direction after its Challenge, from 0, and
 * is never sent: a replayed, reordered, dropped or duplicated frame is
 * checked against the wrong number and fails, and a frame recorded from
 * another connection fails under that connection's nonces.
 *
 * The tag is computed in pieces (Poly1305's streaming interface, exactly as
 * libsodium's crypto_aead_chacha20poly1305_ietf_encrypt_detached() does it
 * in one piece; the unit test compares the two), because a frame is rarely
 * one contiguous buffer: a PageBatch is sent as a prefix and the batch, and
 * the reader holds a header apart from its payload. AES-256-GCM, which
 * would be faster where the CPU has AES-NI, has no such interface in
 * libsodium (its AEAD takes the additional data in one piece), so this
 * build never offers it; its Challenge bit is reserved for a build that
 * brings its own GHASH.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "bytes.h"
#include "paths.h"

#define CLUSTER_DOMAIN "remora cluster key v1"
#define SESSION_DOMAIN "remora auth v1"

int auth_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void auth_key_derive(struct auth_key *key, const uint8_t *b, size_t n)
{
	crypto_generichash_state st;

	/* Every key starts here: libsodium is set up before it is used
	 * (idempotent, and cheap after the first call). It fails only
	 * without entropy, which randombytes_buf() then reports by aborting,
	 * not by handing out predictable nonces. */
	if (sodium_init() < 0)
		sodium_memzero(key->k, AUTH_KEY_BYTES);
	crypto_generichash_init(&st, NULL, 0, AUTH_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)CLUSTER_DOMAIN,
				  sizeof(CLUSTER_DOMAIN) - 1);
	crypto_generichash_update(&st, b, n);
	crypto_generichash_final(&st, key->k, AUTH_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int auth_key_load(const char *path, struct auth_key *key, char *err,
		  size_t errlen)
{
	uint8_t buf[AUTH_KEY_FILE_MAX + 1];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, ret;

	/*
	 * O_NONBLOCK: open(2) of a FIFO would wait for a writer (paths.h).
	 * O_NOFOLLOW: the checks below are about the file we read, and a
	 * link could point anywhere the daemon can read.
	 */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			snprintf(err, errlen,
				 "key_file %s: a symbolic link; name the key "
				 "file itself",
				 path);
		else
			snprintf(err, errlen, "key_file %s: %s", path,
				 strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "key_file %s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "key_file %s: %s, not a regular file",
			 path, paths_kind(st.st_mode));
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		ret = -EPERM;
		snprintf(err, errlen,
			 "key_file %s: %s by group or others; chmod 600 %s",
			 path,
			 st.st_mode & (S_IRGRP | S_IROTH) ? "readable"
							  : "writable",
			 path);
		goto out;
	}
	/* A regular file never blocks; read up to one byte past the limit. */
	while (got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "key_file %s: %s", path,
				 strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got < AUTH_KEY_FILE_MIN || got > AUTH_KEY_FILE_MAX) {
		ret = -EINVAL;
		snprintf(err, errlen,
			 "key_file %s: %s%zu bytes; it needs %u..%u random "
			 "bytes (e.g. head -c 32 /dev/urandom > %s)",
			 path, got > AUTH_KEY_FILE_MAX ? "over " : "",
			 got > AUTH_KEY_FILE_MAX ? (size_t)AUTH_KEY_FILE_MAX
						 : got,
			 AUTH_KEY_FILE_MIN, AUTH_KEY_FILE_MAX, path);
		goto out;
	}
	auth_key_derive(key, buf, got);
	ret = 0;
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return ret;
}

unsigned auth_suites(void)
{
	return AUTH_SUITE_CHACHA20_POLY1305;
}

unsigned auth_suite_choose(unsigned ours, unsigned theirs)
{
	unsigned both = ours & theirs;

	if (both & AUTH_SUITE_AES256_GCM)
		return AUTH_SUITE_AES256_GCM;
	if (both & AUTH_SUITE_CHACHA20_POLY1305)
		return AUTH_SUITE_CHACHA20_POLY1305;
	return 0;
}

static void dir_key(struct auth_dir *d, const struct auth_key *key,
		    const uint8_t *dn, const uint8_t *an, uint8_t dir,
		    unsigned suite)
{
	crypto_generichash_state st;
	uint8_t tail[2] = {dir, (uint8_t)suite};

	crypto_generichash_init(&st, key->k, AUTH_KEY_BYTES, AUTH_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)SESSION_DOMAIN,
				  sizeof(SESSION_DOMAIN) - 1);
	crypto_generichash_update(&st, dn, AUTH_NONCE_BYTES);
	crypto_generichash_update(&st, an, AUTH_NONCE_BYTES);
	crypto_generichash_update(&st, tail, sizeof(tail));
	crypto_generichash_final(&st, d->k, AUTH_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
	d->suite = suite;
	d->seq = 0;
}

int auth_session_init(struct auth_session *s, const struct auth_key *key,
		      const uint8_t dialer_nonce[AUTH_NONCE_BYTES],
		      const uint8_t acceptor_nonce[AUTH_NONCE_BYTES],
		      int dialer, unsigned suite)
{
	if (suite != AUTH_SUITE_CHACHA20_POLY1305)
		return -EINVAL;
	dir_key(dialer ? &s->tx : &s->rx, key, dialer_nonce, acceptor_nonce, 0,
		suite);
	dir_key(dialer ? &s->rx : &s->tx, key, dialer_nonce, acceptor_nonce, 1,
		suite);
	return 0;
}

static const uint8_t zeros[16];

void auth_mac_begin(struct auth_mac *m, struct auth_dir *d)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};
	uint8_t block0[32];

	put_le64(nonce + 4, d->seq);
	/* The IETF construction's Poly1305 key: keystream block 0. */
	crypto_stream_chacha20_ietf(block0, sizeof(block0), nonce, d->k);
	crypto_onetimeauth_poly1305_init(&m->st, block0);
	sodium_memzero(block0, sizeof(block0));
	m->d = d;
	m->len = 0;
}

void auth_mac_update(struct auth_mac *m, const uint8_t *p, size_t n)
{
	if (!n)
		return;
	crypto_onetimeauth_poly1305_update(&m->st, p, n);
	m->len += n;
}

void auth_mac_end(struct auth_mac *m, uint8_t tag[AUTH_TAG_BYTES])
{
	uint8_t lens[16];

	/* ad, padded to 16; the empty ciphertext; both lengths. */
	crypto_onetimeauth_poly1305_update(&m->st, zeros,
					   (16 - (m->len & 15)) & 15);
	put_le64(lens, m->len);
	put_le64(lens + 8, 0);
	crypto_onetimeauth_poly1305_update(&m->st, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&m->st, tag);
	sodium_memzero(&m->st, sizeof(m->st));
	m->d->seq++;
}

int auth_mac_verify(struct auth_mac *m, const uint8_t tag[AUTH_TAG_BYTES])
{
	uint8_t want[AUTH_TAG_BYTES];
	int ret;

	auth_mac_end(m, want);
	ret = crypto_verify_16(want, tag) ? -EBADMSG : 0;
	sodium_memzero(want, sizeof(want));
	return ret;
}

void auth_seal(struct auth_dir *d, const uint8_t *hdr, const uint8_t *payload,
	       size_t len, uint8_t tag[AUTH_TAG_BYTES])
{
	struct auth_mac m;

	auth_mac_begin(&m, d);
	auth_mac_update(&m, hdr, 5);
	auth_mac_update(&m, payload, len);
	auth_mac_end(&m, tag);
}

int auth_open(struct auth_dir *d, const uint8_t *hdr, const uint8_t *payload,
	      size_t len, const uint8_t tag[AUTH_TAG_BYTES])
{
	struct auth_mac m;

	auth_mac_begin(&m, d);
	auth_mac_update(&m, hdr, 5);
	auth_mac_update(&m, payload, len);
	return auth_mac_verify(&m, tag);
}

void auth_random(uint8_t *p, size_t n)
{
	randombytes_buf(p, n);
}

void auth_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}
