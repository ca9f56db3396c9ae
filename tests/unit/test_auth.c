/*
 * Unit tests for the authenticated channel's cryptography (common/auth.h).
 *
 * Key files: a good one loads (and the same bytes give the same key), and a
 * file readable or writable by group or others, one too short or too long,
 * a FIFO (refused at once, without waiting for a writer), a symbolic link,
 * a directory and a missing file are refused with one line naming the path
 * and what to do. Tags: the streaming tag is libsodium's one-shot
 * ChaCha20-Poly1305-IETF tag over the same bytes, whatever the pieces; a
 * sealed frame opens; one flipped bit anywhere in header, payload or tag,
 * the same frame again (replay), a frame sealed for the other direction or
 * in another session (other nonces) or under another key fails. Suites:
 * the best common one is chosen, none when there is nothing in common.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth.h"
#include "bytes.h"

static char dir[] = "/tmp/test_auth.XXXXXX";

static int setup(void **state)
{
	(void)state;
	assert_int_equal(auth_init(), 0);
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_key(const char *path, size_t n, mode_t mode)
{
	uint8_t buf[8192];
	int fd;

	assert_true(n <= sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void load_fails(const char *path, int want_rc, const char *want)
{
	struct auth_key k;
	char err[512] = "";

	assert_int_equal(auth_key_load(path, &k, err, sizeof(err)), want_rc);
	if (!strstr(err, want))
		fail_msg("error \"%s\", want \"%s\"", err, want);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, path));
}

static void test_key_file(void **state)
{
	char path[128], line[1024], link[128];
	struct auth_key a, b;
	uint8_t bytes[32];
	char err[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/key", dir);
	write_key(path, 32, 0600);
	assert_int_equal(auth_key_load(path, &a, err, sizeof(err)), 0);
	for (size_t i = 0; i < 32; i++)
		bytes[i] = (uint8_t)(i * 7 + 1);
	auth_key_derive(&b, bytes, sizeof(bytes));
	assert_memory_equal(a.k, b.k, AUTH_KEY_BYTES);
	/* Domain-separated: not the plain hash of the bytes. */
	assert_memory_not_equal(a.k, bytes, 32);
	write_key(path, 4096, 0400);
	assert_int_equal(auth_key_load(path, &b, err, sizeof(err)), 0);
	assert_memory_not_equal(a.k, b.k, AUTH_KEY_BYTES);

	/* Mode. */
	snprintf(line, sizeof(line),
		 "key_file %s: readable by group or others; chmod 600 %s", path,
		 path);
	write_key(path, 32, 0640);
	load_fails(path, -EPERM, line);
	write_key(path, 32, 0604);
	load_fails(path, -EPERM, line);
	write_key(path, 32, 0620);
	load_fails(path, -EPERM, "writable by group or others; chmod 600");

	/* Size. */
	write_key(path, 31, 0600);
	snprintf(line, sizeof(line),
		 "key_file %s: 31 bytes; it needs 32..4096 random bytes (e.g. "
		 "head -c 32 /dev/urandom > %s)",
		 path, path);
	load_fails(path, -EINVAL, line);
	write_key(path, 0, 0600);
	load_fails(path, -EINVAL, ": 0 bytes; it needs 32..4096");
	write_key(path, 4097, 0600);
	load_fails(path, -EINVAL, ": over 4096 bytes; it needs 32..4096");

	/* Not a regular file: a FIFO without a writer is refused at once. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* a hang is a failure, not a stuck test */
	load_fails(path, -EINVAL, "a FIFO, not a regular file");
	alarm(0);
	load_fails(dir, -EINVAL, "a directory, not a regular file");

	/* A symbolic link is not followed. */
	snprintf(path, sizeof(path), "%s/key", dir);
	write_key(path, 32, 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	load_fails(link, -ELOOP, "a symbolic link");

	/* Missing. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	load_fails(path, -ENOENT, "No such file or directory");
}

/* ---- sessions and tags -------------------------------------------------- */

struct pair {
	struct auth_session d, a; /* dialer's, acceptor's */
};

static void pair_init(struct pair *p, uint8_t key_byte, uint8_t nonce_byte)
{
	uint8_t kb[32], dn[AUTH_NONCE_BYTES], an[AUTH_NONCE_BYTES];
	struct auth_key k;

	memset(kb, key_byte, sizeof(kb));
	memset(dn, nonce_byte, sizeof(dn));
	memset(an, nonce_byte + 1, sizeof(an));
	auth_key_derive(&k, kb, sizeof(kb));
	assert_int_equal(auth_session_init(&p->d, &k, dn, an, 1,
					   AUTH_SUITE_CHACHA20_POLY1305),
			 0);
	assert_int_equal(auth_session_init(&p->a, &k, dn, an, 0,
					   AUTH_SUITE_CHACHA20_POLY1305),
			 0);
}

static void frame(uint8_t *f, uint8_t type, size_t len)
{
	put_le32(f, (uint32_t)len);
	f[4] = type;
	for (size_t i = 0; i < len; i++)
		f[5 + i] = (uint8_t)(i * 13 + type);
}

/* The streaming tag is the AEAD's tag, in any pieces. */
static void test_tag_is_the_aead_tag(void **state)
{
	static uint8_t f[5 + 3000];
	uint8_t want[16], got[16], nonce[12] = {0}, none[1];
	struct auth_session s;
	struct auth_mac m;
	uint8_t kb[32] = {1}, dn[32] = {2}, an[32] = {3};
	struct auth_key k;
	unsigned long long maclen;

	(void)state;
	auth_key_derive(&k, kb, sizeof(kb));
	assert_int_equal(auth_session_init(&s, &k, dn, an, 1,
					   AUTH_SUITE_CHACHA20_POLY1305),
			 0);
	for (size_t len = 0; len < 3000; len += len < 40 ? 1 : 331) {
		frame(f, 3, len);
		put_le64(nonce + 4, s.tx.seq);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			none, want, &maclen, none, 0, f, 5 + len, NULL, nonce,
			s.tx.k);
		assert_int_equal(maclen, 16);
		/* In three pieces cut anywhere. */
		auth_mac_begin(&m, &s.tx);
		auth_mac_update(&m, f, 2);
		auth_mac_update(&m, f + 2, (5 + len) / 2);
		auth_mac_update(&m, f + 2 + (5 + len) / 2,
				5 + len - 2 - (5 + len) / 2);
		auth_mac_end(&m, got);
		assert_memory_equal(got, want, 16);
	}
}

static void test_seal_open(void **state)
{
	static uint8_t f[5 + 1000];
	uint8_t tag[16], bad[5 + 1000 + 16];
	struct pair p, q;

	(void)state;
	frame(f, 1, 1000);
	pair_init(&p, 9, 20);
	/* Both ways, many frames: each opens with the receiver's counter. */
	for (int i = 0; i < 100; i++) {
		auth_seal(&p.d.tx, f, f + 5, 1000 - (size_t)i, tag);
		assert_int_equal(
			auth_open(&p.a.rx, f, f + 5, 1000 - (size_t)i, tag), 0);
		auth_seal(&p.a.tx, f, f + 5, (size_t)i, tag);
		assert_int_equal(auth_open(&p.d.rx, f, f + 5, (size_t)i, tag),
				 0);
	}
	assert_int_equal(p.d.tx.seq, 100);
	assert_int_equal(p.a.rx.seq, 100);

	/* One flipped bit anywhere: header, payload or tag. */
	frame(f, 1, 40);
	for (size_t bit = 0; bit < (5 + 40 + 16) * 8; bit++) {
		pair_init(&p, 9, 20);
		memcpy(bad, f, 5 + 40);
		auth_seal(&p.d.tx, bad, bad + 5, 40, bad + 45);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(auth_open(&p.a.rx, bad, bad + 5, 40, bad + 45),
				 -EBADMSG);
	}
	/* The length is in the header: a frame cut short fails too. */
	pair_init(&p, 9, 20);
	auth_seal(&p.d.tx, f, f + 5, 40, tag);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 39, tag), -EBADMSG);

	/* Replayed: the second copy meets the next sequence number. */
	pair_init(&p, 9, 20);
	auth_seal(&p.d.tx, f, f + 5, 40, tag);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, tag), 0);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, tag), -EBADMSG);

	/* Reordered: frame 1 before frame 0. */
	{
		uint8_t t0[16], t1[16];

		pair_init(&p, 9, 20);
		auth_seal(&p.d.tx, f, f + 5, 40, t0);
		auth_seal(&p.d.tx, f, f + 5, 40, t1);
		assert_memory_not_equal(t0, t1, 16);
		assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, t1),
				 -EBADMSG);
	}

	/* Reflected: sealed for the other direction. */
	pair_init(&p, 9, 20);
	auth_seal(&p.d.tx, f, f + 5, 40, tag);
	assert_int_equal(auth_open(&p.d.rx, f, f + 5, 40, tag), -EBADMSG);

	/* Another session (other nonces), and another key. */
	pair_init(&p, 9, 20);
	pair_init(&q, 9, 21);
	auth_seal(&q.d.tx, f, f + 5, 40, tag);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, tag), -EBADMSG);
	pair_init(&p, 9, 20);
	pair_init(&q, 8, 20);
	auth_seal(&q.d.tx, f, f + 5, 40, tag);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, tag), -EBADMSG);

	/* A failed check uses up its number: the stream is over anyway, and
	 * retrying the right tag later must not work either. */
	pair_init(&p, 9, 20);
	auth_seal(&p.d.tx, f, f + 5, 40, tag);
	memset(bad, 0, 16);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, bad), -EBADMSG);
	assert_int_equal(auth_open(&p.a.rx, f, f + 5, 40, tag), -EBADMSG);
}

static void test_suites(void **state)
{
	const unsigned C = AUTH_SUITE_CHACHA20_POLY1305,
		       A = AUTH_SUITE_AES256_GCM;
	struct auth_session s;
	struct auth_key k = {{0}};
	uint8_t n[32] = {0};

	(void)state;
	assert_true(auth_suites() & C);
	assert_int_equal(auth_suite_choose(C, C), C);
	assert_int_equal(auth_suite_choose(C | A, C | A), A);
	assert_int_equal(auth_suite_choose(C | A, C), C);
	assert_int_equal(auth_suite_choose(C, C | A | 0x80), C);
	assert_int_equal(auth_suite_choose(C, A), 0);
	assert_int_equal(auth_suite_choose(C, 0x80), 0);
	/* What we offer we can run, and nothing else. */
	assert_int_equal(auth_suite_choose(auth_suites(), C | A),
			 auth_suites() & A ? A : C);
	assert_int_equal(auth_session_init(&s, &k, n, n, 1, C), 0);
	if (!(auth_suites() & A))
		assert_int_equal(auth_session_init(&s, &k, n, n, 1, A),
				 -EINVAL);
	assert_int_equal(auth_session_init(&s, &k, n, n, 1, 0x80), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_tag_is_the_aead_tag),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_suites),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
