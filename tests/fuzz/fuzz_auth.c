/*
 * Fuzz target: an authenticated replication stream from an arbitrary peer,
 * read the way common/conn.c reads it. A frame_reader without a trailer
 * takes the first frame, which must be a Challenge that decodes; it sets
 * the session up (fuzz_auth.h's fixed cluster key and our fixed nonce, the
 * peer's nonce from the input) and switches the reader to 16-byte trailers
 * from inside the callback, so the switch lands wherever the Challenge ends
 * in the bytes fed. Every later frame goes through auth_open() before
 * wire_decode(); the first failure stops the stream, as conn.c closes it.
 *
 * Properties: nothing reads or writes outside its buffers or leaks; the
 * reader ends with 0, -EBADMSG, -E2BIG or the callback's stop; feeding the
 * stream in small pieces gives the same frames, the same verdicts and the
 * same end; every frame that authenticates gets the same tag from a sender
 * with the peer's session (auth_seal() and auth_open() agree), and fails
 * with any one bit of its tag flipped. The seeds (make_corpus.c) are real
 * sessions under the fixed key, so the fuzzer starts past the tag check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "frame.h"
#include "fuzz.h"
#include "fuzz_auth.h"
#include "wire.h"

struct run {
	struct frame_reader r;
	struct auth_key key;
	struct auth_session s;	/* ours, the acceptor's */
	struct auth_session ps; /* the peer's, to re-seal with */
	int authed;
	size_t frames, good;
	uint64_t sum; /* over verdicts and types, to compare two runs */
};

static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct run *run = opaque;
	const uint8_t *hdr = frame_reader_header(&run->r), *tag;
	struct wire_msg m;
	char err[256];
	size_t tlen;
	int rc;

	run->frames++;
	tag = frame_reader_trailer(&run->r, &tlen);
	FUZZ_CHECK(len <= wire_type_max(type));
	if (!run->authed) {
		FUZZ_CHECK(tlen == 0);
		if (type != WIRE_CHALLENGE ||
		    wire_decode(type, payload, len, &m, err, sizeof(err)))
			return -EPERM; /* "did not authenticate" */
		rc = auth_session_init(
			&run->s, &run->key, m.challenge->nonce.data,
			fuzz_auth_our_nonce, 0, AUTH_SUITE_CHACHA20_POLY1305);
		FUZZ_CHECK(rc == 0);
		rc = auth_session_init(
			&run->ps, &run->key, m.challenge->nonce.data,
			fuzz_auth_our_nonce, 1, AUTH_SUITE_CHACHA20_POLY1305);
		FUZZ_CHECK(rc == 0);
		wire_msg_free(&m);
		run->authed = 1;
		frame_reader_set_trailer(&run->r, AUTH_TAG_BYTES);
		return 0;
	}
	FUZZ_CHECK(tlen == AUTH_TAG_BYTES);
	{
		/* A bit flipped in the tag never passes (on a copy of the
		 * counter: the real check below uses the number). */
		struct auth_dir d = run->s.rx;
		uint8_t bad[AUTH_TAG_BYTES];

		memcpy(bad, tag, sizeof(bad));
		bad[run->frames % AUTH_TAG_BYTES] ^=
			(uint8_t)(1u << (run->frames % 8));
		FUZZ_CHECK(auth_open(&d, hdr, payload, len, bad) == -EBADMSG);
	}
	if (auth_open(&run->s.rx, hdr, payload, len, tag)) {
		run->sum = run->sum * 31 + 1;
		return -EACCES; /* conn.c closes the connection */
	}
	{
		uint8_t again[AUTH_TAG_BYTES];

		auth_seal(&run->ps.tx, hdr, payload, len, again);
		FUZZ_CHECK(memcmp(again, tag, AUTH_TAG_BYTES) == 0);
	}
	run->good++;
	run->sum = run->sum * 31 + type + 2;
	/* What conn.c does next: decode (fuzz_wire covers the decoder). */
	if (wire_decode(type, payload, len, &m, err, sizeof(err)) == 0)
		wire_msg_free(&m);
	return 0;
}

static int feed(struct run *run, const uint8_t *data, size_t size, size_t step)
{
	size_t at = 0, n;
	int rc = 0;

	memset(run, 0, sizeof(*run));
	fuzz_auth_key(&run->key);
	frame_reader_init(&run->r, wire_type_max);
	do {
		n = step && size - at > step ? step : size - at;
		rc = frame_feed(&run->r, data + at, n, on_frame, run);
		at += n;
	} while (rc == 0 && at < size);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -E2BIG || rc == -EPERM ||
		   rc == -EACCES);
	frame_reader_free(&run->r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, cut;
	int rc_whole, rc_cut;

	rc_whole = feed(&whole, data, size, 0);
	rc_cut = feed(&cut, data, size, size ? 1 + data[size - 1] % 23 : 1);
	FUZZ_CHECK(rc_whole == rc_cut);
	FUZZ_CHECK(whole.frames == cut.frames && whole.good == cut.good);
	FUZZ_CHECK(whole.sum == cut.sum);

	/* auth_open() on raw bytes: header, payload, tag straight from the
	 * input, under a session keyed from it. */
	if (size >= FRAME_HEADER_SIZE + AUTH_TAG_BYTES) {
		struct auth_session s;
		struct auth_key k;
		uint8_t n1[AUTH_NONCE_BYTES] = {0}, n2[AUTH_NONCE_BYTES] = {1};
		size_t len = size - FRAME_HEADER_SIZE - AUTH_TAG_BYTES;

		auth_key_derive(&k, data, size < 64 ? size : 64);
		FUZZ_CHECK(auth_session_init(&s, &k, n1, n2, 0,
					     AUTH_SUITE_CHACHA20_POLY1305) ==
			   0);
		rc_whole = auth_open(&s.rx, data, data + FRAME_HEADER_SIZE, len,
				     data + size - AUTH_TAG_BYTES);
		FUZZ_CHECK(rc_whole == 0 || rc_whole == -EBADMSG);
		FUZZ_CHECK(s.rx.seq == 1); /* used up either way */
	}
	return 0;
}
