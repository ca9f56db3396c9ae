/*
 * Unit tests for frames (common/frame.h) and wire messages (common/wire.h).
 *
 * Frames: a stream of several frames (small, empty, split-worthy large) must
 * come out the same whatever the pieces it is fed in (every single cut,
 * every pair of cuts of a short stream, one byte at a time, random chunks);
 * a header announcing too much is refused before a byte is allocated;
 * unknown types, sticky errors, empty payloads, a callback that stops the
 * feed, and the reuse of the payload buffer are checked one by one.
 *
 * Messages: every type survives encode/decode with every field; each
 * validation rule fires with its own one-line message (and the value just
 * inside each limit passes); truncated, oversized and random payloads are
 * refused with one line naming the type; unknown fields are skipped but
 * bounded; wire_batch_prefix() followed by the batch is byte for byte the
 * frame wire_encode() makes, for terms 0 and not, and batch lengths whose
 * length varint takes one to four bytes; wire_encode() refuses what the
 * receiver would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "frame.h"
#include "testutil.h"
#include "wire.h"

/* ---- frame helpers ------------------------------------------------------ */

#define MAXF 16

/* What a frame callback saw. */
struct seen {
	size_t n;
	uint8_t type[MAXF];
	size_t len[MAXF];
	uint8_t *payload[MAXF]; /* copies */
	size_t stop_at;		/* return stop_ret for frame number stop_at */
	int stop_ret;
};

static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct seen *s = opaque;

	assert_true(s->n < MAXF);
	assert_true(len == 0 || payload != NULL);
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->payload[s->n] = malloc(len ? len : 1);
	assert_non_null(s->payload[s->n]);
	if (len)
		memcpy(s->payload[s->n], payload, len);
	s->n++;
	if (s->stop_ret && s->n == s->stop_at)
		return s->stop_ret;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->payload[i]);
	memset(s, 0, sizeof(*s));
}

/* A stream of frames and the frames it holds. */
struct stream {
	uint8_t *b;
	size_t len;
	size_t n;
	uint8_t type[MAXF];
	size_t off[MAXF]; /* payload offsets in b */
	size_t plen[MAXF];
};

static void stream_add(struct stream *s, uint8_t type, const uint8_t *p,
		       size_t len)
{
	s->b = realloc(s->b, s->len + FRAME_HEADER_SIZE + len);
	assert_non_null(s->b);
	frame_put_header(s->b + s->len, type, len);
	if (len)
		memcpy(s->b + s->len + FRAME_HEADER_SIZE, p, len);
	s->type[s->n] = type;
	s->off[s->n] = s->len + FRAME_HEADER_SIZE;
	s->plen[s->n] = len;
	s->n++;
	s->len += FRAME_HEADER_SIZE + len;
}

static void stream_check(const struct stream *s, const struct seen *got,
			 const char *what)
{
	if (got->n != s->n)
		fail_msg("%s: %zu frames, want %zu", what, got->n, s->n);
	for (size_t i = 0; i < s->n; i++) {
		if (got->type[i] != s->type[i] || got->len[i] != s->plen[i] ||
		    memcmp(got->payload[i], s->b + s->off[i], s->plen[i]))
			fail_msg("%s: frame %zu differs", what, i);
	}
}

/* Feeds s cut at the given ascending offsets; checks the frames. */
static void feed_cuts(const struct stream *s, const size_t *cut, size_t ncut,
		      const char *what)
{
	struct frame_reader r;
	struct seen got = {0};
	size_t from = 0;

	frame_reader_init(&r, wire_type_max);
	for (size_t i = 0; i <= ncut; i++) {
		size_t to = i < ncut ? cut[i] : s->len;

		assert_int_equal(
			frame_feed(&r, s->b + from, to - from, on_frame, &got),
			0);
		from = to;
	}
	assert_true(frame_reader_idle(&r));
	stream_check(s, &got, what);
	seen_free(&got);
	frame_reader_free(&r);
}

/*
 * A Heartbeat-sized frame, an empty one, a PageBatch larger than the
 * reader's first buffer, a Hello, and an empty one again at the end.
 */
static void big_stream(struct stream *s, struct rng *g)
{
	uint8_t p[10000];

	fill_random(g, p, sizeof(p));
	stream_add(s, WIRE_ACK, p, 20);
	stream_add(s, WIRE_HEARTBEAT, NULL, 0);
	stream_add(s, WIRE_PAGE_BATCH, p, sizeof(p));
	stream_add(s, WIRE_HELLO, p + 7, 300);
	stream_add(s, WIRE_ACK, p + 100, 1);
	stream_add(s, WIRE_HEARTBEAT, NULL, 0);
}

/* ---- frame tests -------------------------------------------------------- */

static void test_frame_every_split(void **state)
{
	struct rng g = {1};
	struct stream s = {0};
	size_t cut[64];

	(void)state;
	big_stream(&s, &g);

	feed_cuts(&s, NULL, 0, "whole");
	for (size_t i = 0; i <= s.len; i++) {
		char what[64];

		cut[0] = i;
		snprintf(what, sizeof(what), "cut at %zu", i);
		feed_cuts(&s, cut, 1, what);
	}

	/* Random chunk sizes, from tiny to larger than any frame. */
	for (int round = 0; round < 200; round++) {
		size_t n = 0, at = 0;
		size_t step = 1 + rnd_below(&g, round < 100 ? 16 : 12000);

		while (n < 64 && (at += 1 + rnd_below(&g, step)) < s.len)
			cut[n++] = at;
		feed_cuts(&s, cut, n, "random chunks");
	}
	free(s.b);
}

static void test_frame_every_pair_of_cuts(void **state)
{
	struct rng g = {2};
	struct stream s = {0};
	uint8_t p[64];
	size_t cut[2];

	(void)state;
	fill_random(&g, p, sizeof(p));
	stream_add(&s, WIRE_ACK, p, 10);
	stream_add(&s, WIRE_HEARTBEAT, NULL, 0);
	stream_add(&s, WIRE_EPOCH_COMMIT, p + 10, 40);
	stream_add(&s, WIRE_HEARTBEAT, NULL, 0);
	stream_add(&s, WIRE_REFUSE, p, 1);
	for (size_t i = 0; i <= s.len; i++) {
		for (size_t j = i; j <= s.len; j++) {
			cut[0] = i;
			cut[1] = j;
			feed_cuts(&s, cut, 2, "two cuts");
		}
	}
	free(s.b);
}

static void test_frame_byte_at_a_time(void **state)
{
	struct rng g = {3};
	struct stream s = {0};
	struct frame_reader r;
	struct seen got = {0};
	uint8_t *buf0 = NULL;

	(void)state;
	big_stream(&s, &g);
	frame_reader_init(&r, wire_type_max);
	for (size_t i = 0; i < s.len; i++) {
		assert_int_equal(frame_feed(&r, s.b + i, 1, on_frame, &got), 0);
		/* Idle exactly at frame boundaries. */
		int boundary = 0;

		for (size_t f = 0; f < s.n; f++)
			boundary |= i + 1 == s.off[f] + s.plen[f];
		assert_int_equal(frame_reader_idle(&r), boundary);
		if (r.buf && !buf0)
			buf0 = r.buf;
	}
	stream_check(&s, &got, "byte at a time");
	/* The buffer grew for the big frame and was then reused. */
	assert_non_null(buf0);
	assert_true(r.cap >= 10000 && r.cap <= FRAME_MAX_PAYLOAD);
	seen_free(&got);
	frame_reader_free(&r);
	assert_null(r.buf);
	free(s.b);
}

/* Frames that arrive whole in one feed need no buffer at all. */
static void test_frame_whole_frames_no_copy(void **state)
{
	struct rng g = {4};
	struct stream s = {0};
	struct frame_reader r;
	struct seen got = {0};

	(void)state;
	big_stream(&s, &g);
	frame_reader_init(&r, wire_type_max);
	assert_int_equal(frame_feed(&r, s.b, s.len, on_frame, &got), 0);
	stream_check(&s, &got, "one chunk");
	assert_int_equal(r.cap, 0);
	assert_null(r.buf);
	seen_free(&got);
	frame_reader_free(&r);
	free(s.b);
}

static size_t max_huge(uint8_t type)
{
	return type == 1 ? SIZE_MAX : 0;
}

static void expect_refused(frame_type_max_fn fn, uint32_t len, uint8_t type,
			   int want, const char *what)
{
	struct frame_reader r;
	struct seen got = {0};
	uint8_t hdr[FRAME_HEADER_SIZE];

	frame_put_header(hdr, type, len);
	frame_reader_init(&r, fn);
	/* Four header bytes are not enough to judge. */
	assert_int_equal(frame_feed(&r, hdr, 4, on_frame, &got), 0);
	assert_int_equal(frame_feed(&r, hdr + 4, 1, on_frame, &got), want);
	if (r.cap != 0 || r.buf != NULL)
		fail_msg("%s: allocated before refusing", what);
	assert_non_null(r.why);
	assert_true(r.why[0] != '\0');
	assert_int_equal(got.n, 0);
	assert_false(frame_reader_idle(&r));
	frame_reader_free(&r);
}

static void test_frame_oversize_refused_before_alloc(void **state)
{
	(void)state;
	expect_refused(wire_type_max, UINT32_MAX, WIRE_PAGE_BATCH, -E2BIG,
		       "4 GiB batch");
	expect_refused(wire_type_max, FRAME_MAX_PAYLOAD + 1, WIRE_PAGE_BATCH,
		       -E2BIG, "one over the frame maximum");
	expect_refused(wire_type_max, (uint32_t)wire_type_max(WIRE_ACK) + 1,
		       WIRE_ACK, -E2BIG, "one over the Ack maximum");
	expect_refused(wire_type_max,
		       (uint32_t)wire_type_max(WIRE_CPU_STATE) + 1,
		       WIRE_CPU_STATE, -E2BIG, "one over the CpuState maximum");
	/* The frame maximum holds whatever the type function says. */
	expect_refused(max_huge, FRAME_MAX_PAYLOAD + 1, 1, -E2BIG,
		       "a type without limit");
	expect_refused(max_huge, UINT32_MAX, 1, -E2BIG, "4 GiB, no limit");
}

/* The largest legal frame, split so that it is buffered. */
static void test_frame_max_payload_accepted(void **state)
{
	struct frame_reader r;
	struct seen got = {0};
	uint8_t hdr[FRAME_HEADER_SIZE];
	uint8_t *p = calloc(1, FRAME_MAX_PAYLOAD);

	(void)state;
	assert_non_null(p);
	p[0] = 0x11;
	p[FRAME_MAX_PAYLOAD - 1] = 0x22;
	frame_put_header(hdr, WIRE_PAGE_BATCH, FRAME_MAX_PAYLOAD);
	frame_reader_init(&r, wire_type_max);
	assert_int_equal(frame_feed(&r, hdr, sizeof(hdr), on_frame, &got), 0);
	assert_int_equal(frame_feed(&r, p, 1, on_frame, &got), 0);
	assert_int_equal(
		frame_feed(&r, p + 1, FRAME_MAX_PAYLOAD - 1, on_frame, &got),
		0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.len[0], FRAME_MAX_PAYLOAD);
	assert_memory_equal(got.payload[0], p, FRAME_MAX_PAYLOAD);
	assert_int_equal(r.cap, FRAME_MAX_PAYLOAD);
	seen_free(&got);
	frame_reader_free(&r);
	free(p);
}

static void test_frame_unknown_type(void **state)
{
	static const uint8_t types[] = {0, WIRE_TYPE_MAX + 1, 100, 255};

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		struct frame_reader r;

		expect_refused(wire_type_max, 1, types[i], -EBADMSG, "unknown");
		/* The reason, for the log. */
		uint8_t hdr[FRAME_HEADER_SIZE];

		frame_put_header(hdr, types[i], 0);
		frame_reader_init(&r, wire_type_max);
		assert_int_equal(
			frame_feed(&r, hdr, sizeof(hdr), on_frame, NULL),
			-EBADMSG);
		assert_string_equal(r.why, "unknown frame type");
		frame_reader_free(&r);
	}
}

static void test_frame_sticky_error(void **state)
{
	struct frame_reader r;
	struct seen got = {0};
	uint8_t bad[FRAME_HEADER_SIZE], good[FRAME_HEADER_SIZE + 2] = {0};
	const char *why;

	(void)state;
	frame_put_header(bad, WIRE_ACK, 100000);
	frame_put_header(good, WIRE_ACK, 2);
	frame_reader_init(&r, wire_type_max);
	/* A good frame, then the bad header, then a good one: one seen. */
	assert_int_equal(frame_feed(&r, good, sizeof(good), on_frame, &got), 0);
	assert_int_equal(frame_feed(&r, bad, sizeof(bad), on_frame, &got),
			 -E2BIG);
	why = r.why;
	assert_string_equal(why, "frame longer than its type allows");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
			frame_feed(&r, good, sizeof(good), on_frame, &got),
			-E2BIG);
		assert_int_equal(frame_feed(&r, NULL, 0, on_frame, &got),
				 -E2BIG);
	}
	assert_ptr_equal(r.why, why);
	assert_int_equal(got.n, 1);
	assert_false(frame_reader_idle(&r));
	seen_free(&got);
	frame_reader_free(&r);
}

static void test_frame_zero_length(void **state)
{
	struct frame_reader r;
	struct seen got = {0};
	uint8_t hdr[FRAME_HEADER_SIZE];

	(void)state;
	frame_put_header(hdr, WIRE_HEARTBEAT, 0);
	assert_memory_equal(hdr, "\0\0\0\0\x08", FRAME_HEADER_SIZE);
	frame_reader_init(&r, wire_type_max);
	/* Delivered as soon as the header's last byte is in. */
	for (size_t i = 0; i < FRAME_HEADER_SIZE; i++) {
		assert_int_equal(got.n, 0);
		assert_int_equal(frame_feed(&r, hdr + i, 1, on_frame, &got), 0);
	}
	assert_int_equal(got.n, 1);
	assert_int_equal(got.type[0], WIRE_HEARTBEAT);
	assert_int_equal(got.len[0], 0);
	assert_true(frame_reader_idle(&r));
	/* Many in one chunk. */
	{
		uint8_t many[10 * FRAME_HEADER_SIZE];

		for (int i = 0; i < 10; i++)
			memcpy(many + i * FRAME_HEADER_SIZE, hdr,
			       FRAME_HEADER_SIZE);
		assert_int_equal(
			frame_feed(&r, many, sizeof(many), on_frame, &got), 0);
		assert_int_equal(got.n, 11);
	}
	/* An empty feed changes nothing. */
	assert_int_equal(frame_feed(&r, NULL, 0, on_frame, &got), 0);
	assert_int_equal(got.n, 11);
	assert_int_equal(r.cap, 0);
	seen_free(&got);
	frame_reader_free(&r);
}

static void test_frame_callback_stops(void **state)
{
	struct rng g = {5};
	struct stream s = {0};
	uint8_t p[32];

	(void)state;
	fill_random(&g, p, sizeof(p));
	for (int i = 0; i < 4; i++)
		stream_add(&s, WIRE_ACK, p, 8 + (size_t)i);

	for (int ret = -1; ret <= 1; ret += 2) {
		struct frame_reader r;
		struct seen got = {.stop_at = 2, .stop_ret = ret * 77};

		frame_reader_init(&r, wire_type_max);
		assert_int_equal(frame_feed(&r, s.b, s.len, on_frame, &got),
				 ret * 77);
		/* Frames after the stop are not delivered, now or later. */
		assert_int_equal(got.n, 2);
		assert_int_equal(frame_feed(&r, s.b, s.len, on_frame, &got),
				 ret * 77);
		assert_int_equal(got.n, 2);
		assert_non_null(r.why);
		assert_false(frame_reader_idle(&r));
		seen_free(&got);
		frame_reader_free(&r);
	}

	/* The same when the stopping frame was buffered. */
	{
		struct frame_reader r;
		struct seen got = {.stop_at = 1, .stop_ret = -ECANCELED};

		frame_reader_init(&r, wire_type_max);
		assert_int_equal(frame_feed(&r, s.b, 7, on_frame, &got), 0);
		assert_int_equal(
			frame_feed(&r, s.b + 7, s.len - 7, on_frame, &got),
			-ECANCELED);
		assert_int_equal(got.n, 1);
		seen_free(&got);
		frame_reader_free(&r);
	}
	free(s.b);
}

static void test_frame_header_bytes(void **state)
{
	uint8_t h[FRAME_HEADER_SIZE];

	(void)state;
	frame_put_header(h, WIRE_EPOCH_COMMIT, 0x01020304);
	assert_memory_equal(h, "\x04\x03\x02\x01\x06", FRAME_HEADER_SIZE);
	frame_put_header(h, 0xff, FRAME_MAX_PAYLOAD);
	assert_memory_equal(h, "\x00\x00\x80\x00\xff", FRAME_HEADER_SIZE);
}

/* ---- message helpers ---------------------------------------------------- */

#define ERRLEN 256

/* Encodes msg as a frame of type and checks the header. */
static uint8_t *encode(enum wire_type type, const void *msg, size_t *plen)
{
	uint8_t *f;
	size_t len;

	assert_int_equal(wire_encode(type, msg, &f, &len), 0);
	assert_true(len >= FRAME_HEADER_SIZE);
	assert_int_equal(get_le32(f), len - FRAME_HEADER_SIZE);
	assert_int_equal(f[4], type);
	*plen = len - FRAME_HEADER_SIZE;
	return f;
}

static const ProtobufCMessageDescriptor *const descriptors[] = {
	[WIRE_HELLO] = &remora__hello__descriptor,
	[WIRE_EPOCH_BEGIN] = &remora__epoch_begin__descriptor,
	[WIRE_PAGE_BATCH] = &remora__page_batch__descriptor,
	[WIRE_CPU_STATE] = &remora__cpu_state__descriptor,
	[WIRE_DEVICE_STATE] = &remora__device_state__descriptor,
	[WIRE_EPOCH_COMMIT] = &remora__epoch_commit__descriptor,
	[WIRE_ACK] = &remora__ack__descriptor,
	[WIRE_HEARTBEAT] = &remora__heartbeat__descriptor,
	[WIRE_REFUSE] = &remora__refuse__descriptor,
	[WIRE_CHALLENGE] = &remora__challenge__descriptor,
};

/* Decodes a payload that must be valid. */
static void decode_ok(enum wire_type type, const uint8_t *p, size_t len,
		      struct wire_msg *m)
{
	char err[ERRLEN] = "";
	int rc = wire_decode(type, p, len, m, err, sizeof(err));

	if (rc != 0)
		fail_msg("%s: decode %d: %s", wire_type_name(type), rc, err);
	assert_int_equal(m->type, type);
	assert_non_null(m->base);
	assert_ptr_equal(m->base->descriptor, descriptors[type]);
}

/* One line, not empty, naming the message (or the unknown type). */
static void check_err_line(const char *err, int type)
{
	char want[32];

	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	snprintf(want, sizeof(want), "%s: ", wire_type_name(type));
	if (strncmp(err, want, strlen(want)) != 0 &&
	    strncmp(err, "unknown message type", 20) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
}

/* Decoding must fail; want (if not NULL) is the exact message. */
static void decode_fails(int type, const uint8_t *p, size_t len,
			 const char *want)
{
	struct wire_msg m;
	char err[ERRLEN] = "";
	int rc = wire_decode((uint8_t)type, p, len, &m, err, sizeof(err));

	if (rc != -EBADMSG) {
		if (rc == 0)
			wire_msg_free(&m);
		fail_msg("%s: decode gave %d, want -EBADMSG (%s)",
			 wire_type_name(type), rc, want ? want : "any");
	}
	assert_null(m.base);
	check_err_line(err, type);
	if (want && strcmp(err, want) != 0)
		fail_msg("error \"%s\", want \"%s\"", err, want);
	wire_msg_free(&m); /* harmless after a failure */
}

/* Encodes msg (which wire_encode does not judge) and expects want. */
static void refused(enum wire_type type, const void *msg, const char *want)
{
	size_t len;
	uint8_t *f = encode(type, msg, &len);

	decode_fails(type, f + FRAME_HEADER_SIZE, len, want);
	free(f);
}

/* Encodes and decodes msg, which must be valid; m must be freed. */
/*
 * A decoded PageBatch points into the frame: the last one round_trip()
 * made lives until the next call.
 */
static uint8_t *last_frame;

static void round_trip(enum wire_type type, const void *msg, struct wire_msg *m)
{
	size_t len;
	uint8_t *f = encode(type, msg, &len);

	free(last_frame);
	last_frame = f;
	assert_int_equal(len, protobuf_c_message_get_packed_size(msg));
	decode_ok(type, f + FRAME_HEADER_SIZE, len, m);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static char *caps_ok[] = {"lz4", "xxh3", "console"};

static Remora__Hello valid_hello(void)
{
	Remora__Hello h = REMORA__HELLO__INIT;

	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.term = 7;
	h.page_size = 4096;
	h.guest_mem_bytes = 256ull << 20;
	h.workload_id = "db";
	h.node = "node-b";
	h.n_capabilities = 3;
	h.capabilities = caps_ok;
	return h;
}

/* ---- message tests ------------------------------------------------------ */

/* ---- trailers (auth.h's tags) ----------------------------------------- */

/*
 * An untagged first frame, then frames each followed by a 16-byte trailer
 * (an empty payload, a small one, one larger than the reader's first
 * buffer, a small one), as an authenticated connection sends them.
 */
struct tstream {
	uint8_t *b;
	size_t len, n;
	size_t off[8], plen[8], toff[8];
};

struct tseen {
	struct frame_reader *r;
	size_t n;
	int bad;
};

static void tstream_add(struct tstream *s, uint8_t type, size_t len,
			size_t tlen, uint8_t fill)
{
	s->b = realloc(s->b, s->len + FRAME_HEADER_SIZE + len + tlen);
	assert_non_null(s->b);
	frame_put_header(s->b + s->len, type, len);
	memset(s->b + s->len + FRAME_HEADER_SIZE, fill, len);
	for (size_t i = 0; i < tlen; i++)
		s->b[s->len + FRAME_HEADER_SIZE + len + i] =
			(uint8_t)(0xa0 + s->n + i);
	s->off[s->n] = s->len;
	s->plen[s->n] = len;
	s->toff[s->n] = s->len + FRAME_HEADER_SIZE + len;
	s->n++;
	s->len += FRAME_HEADER_SIZE + len + tlen;
}

static void tstream_make(struct tstream *s)
{
	memset(s, 0, sizeof(*s));
	tstream_add(s, WIRE_CHALLENGE, 40, 0, 0x11);
	tstream_add(s, WIRE_HEARTBEAT, 0, 16, 0);
	tstream_add(s, WIRE_HELLO, 100, 16, 0x22);
	tstream_add(s, WIRE_PAGE_BATCH, 10000, 16, 0x33);
	tstream_add(s, WIRE_ACK, 3, 16, 0x44);
}

static const struct tstream *cur_ts;

static int on_tframe(void *opaque, uint8_t type, const uint8_t *payload,
		     size_t len)
{
	struct tseen *t = opaque;
	const struct tstream *s = cur_ts;
	const uint8_t *tr;
	size_t tlen, i = t->n++;

	if (i >= s->n || type != s->b[s->off[i] + 4] || len != s->plen[i] ||
	    (len &&
	     memcmp(payload, s->b + s->off[i] + FRAME_HEADER_SIZE, len)) ||
	    memcmp(frame_reader_header(t->r), s->b + s->off[i],
		   FRAME_HEADER_SIZE))
		t->bad++;
	tr = frame_reader_trailer(t->r, &tlen);
	if (tlen != (i ? 16u : 0u) ||
	    (tlen && memcmp(tr, s->b + s->toff[i], tlen)))
		t->bad++;
	/* The first frame switches the trailer on, mid-buffer. */
	if (i == 0)
		frame_reader_set_trailer(t->r, 16);
	return 0;
}

static void tfeed(const struct tstream *s, size_t cut1, size_t cut2,
		  size_t step)
{
	struct frame_reader r;
	struct tseen t = {.r = &r};
	size_t at = 0, to;

	cur_ts = s;
	frame_reader_init(&r, wire_type_max);
	while (at < s->len) {
		to = step	 ? at + step
		     : at < cut1 ? cut1
		     : at < cut2 ? cut2
				 : s->len;
		if (to > s->len)
			to = s->len;
		assert_int_equal(
			frame_feed(&r, s->b + at, to - at, on_tframe, &t), 0);
		at = to;
	}
	if (t.n != s->n || t.bad)
		fail_msg("cuts %zu %zu step %zu: %zu frames (want %zu), %d bad",
			 cut1, cut2, step, t.n, s->n, t.bad);
	assert_true(frame_reader_idle(&r));
	frame_reader_free(&r);
}

static void test_frame_trailer(void **state)
{
	struct tstream s;

	(void)state;
	tstream_make(&s);
	tfeed(&s, s.len, s.len, 0); /* all at once */
	tfeed(&s, 0, 0, 1);	    /* a byte at a time */
	tfeed(&s, 0, 0, 7);
	for (size_t c = 1; c < s.len; c++)
		tfeed(&s, c, s.len, 0);
	/* Two cuts around the small frames and the trailers between them. */
	for (size_t c1 = 1; c1 < s.toff[2] + 20; c1++)
		for (size_t c2 = c1 + 1; c2 < s.toff[2] + 40; c2 += 3)
			tfeed(&s, c1, c2, 0);
	free(s.b);
}

/* A trailer counts neither in the length nor against the type's maximum;
 * a stream that ends inside one is not idle. */
/*
 * Reading straight into a payload (frame_direct(), as conn.c does for
 * large frames): a stream of a small frame, a large PageBatch, a small one
 * and another large one, read the way a socket would hand it over (direct
 * wherever offered, in uneven reads, else through frame_feed()), gives the
 * same frames. Nothing is offered between frames, for a frame's last bytes
 * under min, or after an error. With a trailer, the frame waits for it.
 */
static void read_direct(const struct stream *s, size_t trailer, size_t step)
{
	static const size_t min = 64u << 10;
	struct frame_reader r;
	struct seen got = {0};
	size_t at = 0, offered = 0;

	frame_reader_init(&r, wire_type_max);
	frame_reader_set_trailer(&r, trailer);
	while (at < s->len) {
		size_t room = 0, n;
		uint8_t *p = frame_direct(&r, min, &room);

		if (p) {
			assert_true(room >= min);
			n = room < step ? room : step;
			assert_true(at + n <= s->len);
			memcpy(p, s->b + at, n);
			assert_int_equal(
				frame_direct_done(&r, n, on_frame, &got), 0);
			offered++;
		} else {
			n = s->len - at < 1000 ? s->len - at : 1000;
			assert_int_equal(
				frame_feed(&r, s->b + at, n, on_frame, &got),
				0);
		}
		at += n;
	}
	assert_true(offered > 0);
	assert_true(frame_reader_idle(&r));
	assert_null(frame_direct(&r, min, &offered));
	stream_check(s, &got, "direct");
	seen_free(&got);
	frame_reader_free(&r);
}

static void test_frame_direct(void **state)
{
	const size_t big = 300u << 10, small = 100;
	uint8_t *p = malloc(big);
	struct stream s = {0};
	struct frame_reader r;
	size_t room;

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < big; i++)
		p[i] = (uint8_t)(i * 7 + 1);
	stream_add(&s, WIRE_HEARTBEAT, p, small);
	stream_add(&s, WIRE_PAGE_BATCH, p, big);
	stream_add(&s, WIRE_HEARTBEAT, p + 5, small);
	stream_add(&s, WIRE_PAGE_BATCH, p + 9, big - 9);
	read_direct(&s, 0, 70000);
	read_direct(&s, 0, 1u << 20);

	/* With a 16-byte trailer after every payload, interleaved. */
	{
		struct stream t = {0};

		for (size_t i = 0; i < s.n; i++) {
			t.b = realloc(t.b, t.len + FRAME_HEADER_SIZE +
						   s.plen[i] + 16);
			assert_non_null(t.b);
			frame_put_header(t.b + t.len, s.type[i], s.plen[i]);
			memcpy(t.b + t.len + FRAME_HEADER_SIZE, s.b + s.off[i],
			       s.plen[i]);
			memset(t.b + t.len + FRAME_HEADER_SIZE + s.plen[i],
			       0x77, 16);
			t.type[t.n] = s.type[i];
			t.off[t.n] = t.len + FRAME_HEADER_SIZE;
			t.plen[t.n] = s.plen[i];
			t.n++;
			t.len += FRAME_HEADER_SIZE + s.plen[i] + 16;
		}
		read_direct(&t, 16, 65536 + 3);
		free(t.b);
	}

	/* More bytes than the payload has left: an error, and sticky. */
	frame_reader_init(&r, wire_type_max);
	assert_int_equal(frame_feed(&r, s.b + s.off[1] - FRAME_HEADER_SIZE,
				    FRAME_HEADER_SIZE, NULL, NULL),
			 0);
	assert_non_null(frame_direct(&r, 1, &room));
	assert_int_equal(room, big);
	assert_true(frame_direct_done(&r, big + 1, NULL, NULL) < 0);
	assert_null(frame_direct(&r, 1, &room));
	frame_reader_free(&r);
	free(s.b);
	free(p);
}

static void test_frame_trailer_limits(void **state)
{
	uint8_t hdr[FRAME_HEADER_SIZE + 16];
	struct frame_reader r;
	struct tseen t = {.r = &r};
	struct tstream s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.b = malloc(FRAME_HEADER_SIZE + 256);
	cur_ts = &s;
	frame_reader_init(&r, wire_type_max);
	frame_reader_set_trailer(&r, 16);
	frame_put_header(hdr, WIRE_ACK, 256); /* Ack's maximum */
	assert_int_equal(frame_feed(&r, hdr, FRAME_HEADER_SIZE, on_tframe, &t),
			 0);
	assert_false(frame_reader_idle(&r));
	memset(s.b, 0, FRAME_HEADER_SIZE + 256);
	assert_int_equal(frame_feed(&r, s.b, 256, on_tframe, &t), 0);
	assert_int_equal(t.n, 0);
	assert_false(frame_reader_idle(&r)); /* the trailer is missing */
	assert_int_equal(frame_feed(&r, s.b, 15, on_tframe, &t), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(frame_feed(&r, s.b, 1, on_tframe, &t), 0);
	assert_int_equal(t.n, 1);
	assert_true(frame_reader_idle(&r));
	/* Too large a trailer is capped at FRAME_TRAILER_MAX. */
	frame_reader_set_trailer(&r, 1000);
	assert_int_equal(r.trailer, FRAME_TRAILER_MAX);
	frame_reader_free(&r);
	free(s.b);
}

static void test_round_trip_every_type(void **state)
{
	static uint8_t blob[3000];
	struct rng g = {6};
	struct wire_msg m;

	(void)state;
	fill_random(&g, blob, sizeof(blob));
	{
		Remora__Hello h = valid_hello();

		round_trip(WIRE_HELLO, &h, &m);
		assert_int_equal(m.hello->protocol_version,
				 WIRE_PROTOCOL_VERSION);
		assert_int_equal(m.hello->term, 7);
		assert_int_equal(m.hello->page_size, 4096);
		assert_true(m.hello->guest_mem_bytes == 256ull << 20);
		assert_string_equal(m.hello->workload_id, "db");
		assert_string_equal(m.hello->node, "node-b");
		assert_int_equal(m.hello->n_capabilities, 3);
		for (int i = 0; i < 3; i++)
			assert_string_equal(m.hello->capabilities[i],
					    caps_ok[i]);
		wire_msg_free(&m);
		assert_null(m.base);
	}
	{
		Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;

		b.epoch = 1;
		b.term = UINT64_MAX;
		b.precopy = 1;
		b.dirty_pages = 123456;
		round_trip(WIRE_EPOCH_BEGIN, &b, &m);
		assert_true(m.begin->epoch == 1);
		assert_true(m.begin->term == UINT64_MAX);
		assert_true(m.begin->precopy);
		assert_true(m.begin->dirty_pages == 123456);
		wire_msg_free(&m);
	}
	{
		Remora__PageBatch b = REMORA__PAGE_BATCH__INIT;

		b.epoch = 1ull << 40;
		b.term = 0;
		b.batch.data = blob;
		b.batch.len = sizeof(blob);
		round_trip(WIRE_PAGE_BATCH, &b, &m);
		assert_true(m.batch->epoch == 1ull << 40);
		assert_true(m.batch->term == 0);
		assert_int_equal(m.batch->batch.len, sizeof(blob));
		assert_memory_equal(m.batch->batch.data, blob, sizeof(blob));
		wire_msg_free(&m);
	}
	{
		Remora__CpuState c = REMORA__CPU_STATE__INIT;

		c.epoch = 9;
		c.term = 3;
		c.state.data = blob;
		c.state.len = 1000;
		round_trip(WIRE_CPU_STATE, &c, &m);
		assert_true(m.cpu->epoch == 9 && m.cpu->term == 3);
		assert_int_equal(m.cpu->state.len, 1000);
		assert_memory_equal(m.cpu->state.data, blob, 1000);
		wire_msg_free(&m);
	}
	{
		Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;

		d.epoch = 2;
		d.term = 1;
		d.device = "console";
		d.offset = 1ull << 33;
		d.data.data = blob;
		d.data.len = 77;
		round_trip(WIRE_DEVICE_STATE, &d, &m);
		assert_true(m.device->epoch == 2 && m.device->term == 1);
		assert_string_equal(m.device->device, "console");
		assert_true(m.device->offset == 1ull << 33);
		assert_int_equal(m.device->data.len, 77);
		assert_memory_equal(m.device->data.data, blob, 77);
		wire_msg_free(&m);

		/* No output this epoch: empty data is fine. */
		d.data.len = 0;
		d.offset = UINT64_MAX;
		round_trip(WIRE_DEVICE_STATE, &d, &m);
		assert_int_equal(m.device->data.len, 0);
		assert_true(m.device->offset == UINT64_MAX);
		wire_msg_free(&m);
	}
	{
		Remora__EpochCommit c = REMORA__EPOCH_COMMIT__INIT;

		c.epoch = UINT64_MAX;
		c.term = 2;
		c.pages = 65536;
		c.checksum = 0xfedcba9876543210ull;
		round_trip(WIRE_EPOCH_COMMIT, &c, &m);
		assert_true(m.commit->epoch == UINT64_MAX);
		assert_true(m.commit->term == 2);
		assert_true(m.commit->pages == 65536);
		assert_true(m.commit->checksum == 0xfedcba9876543210ull);
		wire_msg_free(&m);
	}
	{
		Remora__Ack a = REMORA__ACK__INIT;

		a.epoch = 5;
		a.term = 6;
		round_trip(WIRE_ACK, &a, &m);
		assert_true(m.ack->epoch == 5 && m.ack->term == 6);
		wire_msg_free(&m);
	}
	{
		Remora__Heartbeat h = REMORA__HEARTBEAT__INIT;
		size_t len;
		uint8_t *f;

		/* All defaults: a zero-length payload, and valid. */
		f = encode(WIRE_HEARTBEAT, &h, &len);
		assert_int_equal(len, 0);
		decode_ok(WIRE_HEARTBEAT, f + FRAME_HEADER_SIZE, 0, &m);
		assert_true(m.heartbeat->term == 0);
		assert_true(m.heartbeat->last_epoch == 0);
		wire_msg_free(&m);
		decode_ok(WIRE_HEARTBEAT, NULL, 0, &m);
		wire_msg_free(&m);
		free(f);

		h.term = 4;
		h.last_epoch = 99;
		h.released = 12345;
		round_trip(WIRE_HEARTBEAT, &h, &m);
		assert_true(m.heartbeat->term == 4);
		assert_true(m.heartbeat->last_epoch == 99);
		assert_true(m.heartbeat->released == 12345);
		wire_msg_free(&m);
	}
	{
		Remora__Refuse r = REMORA__REFUSE__INIT;

		r.term = 1;
		r.reason = "page size 4096 differs from ours (2097152)";
		round_trip(WIRE_REFUSE, &r, &m);
		assert_true(m.refuse->term == 1);
		assert_string_equal(m.refuse->reason, r.reason);
		wire_msg_free(&m);

		r.reason = "";
		round_trip(WIRE_REFUSE, &r, &m);
		assert_string_equal(m.refuse->reason, "");
		assert_string_equal(m.refuse->primary, "");
		wire_msg_free(&m);

		/* A refusal that names the primary of a higher term. */
		r.term = 7;
		r.primary = "b";
		round_trip(WIRE_REFUSE, &r, &m);
		assert_true(m.refuse->term == 7);
		assert_string_equal(m.refuse->primary, "b");
		wire_msg_free(&m);
	}
}

static void test_hello_rules(void **state)
{
	char *long_name = repeat('n', WIRE_NAME_MAX + 1);
	char *max_name = repeat('m', WIRE_NAME_MAX);
	char *caps[WIRE_CAPS_MAX + 1];
	Remora__Hello h;
	struct wire_msg m;

	(void)state;
	for (size_t i = 0; i <= WIRE_CAPS_MAX; i++)
		caps[i] = max_name;

	h = valid_hello();
	h.protocol_version = 0;
	refused(WIRE_HELLO, &h, "Hello: protocol version 0");
	h = valid_hello();
	h.page_size = 0;
	refused(WIRE_HELLO, &h, "Hello: page size 0");
	h = valid_hello();
	h.guest_mem_bytes = 0;
	refused(WIRE_HELLO, &h, "Hello: guest memory size 0");

	h = valid_hello();
	h.node = "";
	refused(WIRE_HELLO, &h, "Hello: node name is empty");
	h.node = long_name;
	refused(WIRE_HELLO, &h, "Hello: node name is longer than 64 bytes");
	h.node = "node\tb";
	refused(WIRE_HELLO, &h, "Hello: node name has a non-printable byte");
	h.node = "n\x7f";
	refused(WIRE_HELLO, &h, "Hello: node name has a non-printable byte");
	h.node = "n\xc3\xa9";
	refused(WIRE_HELLO, &h, "Hello: node name has a non-printable byte");

	h = valid_hello();
	h.workload_id = "";
	refused(WIRE_HELLO, &h, "Hello: workload id is empty");
	h.workload_id = long_name;
	refused(WIRE_HELLO, &h, "Hello: workload id is longer than 64 bytes");
	h.workload_id = "a\033[2J";
	refused(WIRE_HELLO, &h, "Hello: workload id has a non-printable byte");

	h = valid_hello();
	h.n_capabilities = WIRE_CAPS_MAX + 1;
	h.capabilities = caps;
	refused(WIRE_HELLO, &h, "Hello: 33 capabilities, at most 32");
	caps[1] = "";
	h.n_capabilities = 3;
	refused(WIRE_HELLO, &h, "Hello: capability 1 is empty");
	caps[1] = long_name;
	refused(WIRE_HELLO, &h, "Hello: capability 1 is longer than 64 bytes");
	caps[1] = max_name;
	caps[2] = "x\ny";
	refused(WIRE_HELLO, &h, "Hello: capability 2 has a non-printable byte");

	/* The Hello every node says. */
	wire_hello_init(&h, 5, 4096, 64ull << 20, "demo", "b",
			REMORA__ROLE__ROLE_BACKUP);
	round_trip(WIRE_HELLO, &h, &m);
	assert_int_equal(m.hello->protocol_version, WIRE_PROTOCOL_VERSION);
	assert_true(m.hello->term == 5);
	assert_int_equal(m.hello->page_size, 4096);
	assert_true(m.hello->guest_mem_bytes == 64ull << 20);
	assert_string_equal(m.hello->workload_id, "demo");
	assert_string_equal(m.hello->node, "b");
	assert_int_equal(m.hello->role, REMORA__ROLE__ROLE_BACKUP);
	assert_int_equal(m.hello->n_capabilities, 1);
	assert_string_equal(m.hello->capabilities[0], "xor-delta-rle");
	wire_msg_free(&m);

	/* The Refuse every node says, as it arrives. */
	{
		Remora__Refuse r;

		wire_refuse_init(&r, 7, "b", "node b takes over in term 7", 1);
		round_trip(WIRE_REFUSE, &r, &m);
		assert_true(m.refuse->term == 7);
		assert_string_equal(m.refuse->primary, "b");
		assert_string_equal(m.refuse->reason,
				    "node b takes over in term 7");
		assert_int_equal(m.refuse->permanent, 1);
		wire_msg_free(&m);
	}

	/* Roles: a backup's (the default) or a primary's announcement; an
	 * enum number proto3 would keep is refused. */
	h = valid_hello();
	h.role = REMORA__ROLE__ROLE_PRIMARY;
	round_trip(WIRE_HELLO, &h, &m);
	assert_int_equal(m.hello->role, REMORA__ROLE__ROLE_PRIMARY);
	wire_msg_free(&m);
	h.role = (Remora__Role)2;
	refused(WIRE_HELLO, &h, "Hello: unknown role 2");
	h.role = (Remora__Role)-1;
	refused(WIRE_HELLO, &h, "Hello: unknown role -1");

	/* Just inside every limit. */
	for (size_t i = 0; i <= WIRE_CAPS_MAX; i++)
		caps[i] = max_name;
	h = valid_hello();
	h.node = max_name;
	h.workload_id = max_name;
	h.n_capabilities = WIRE_CAPS_MAX;
	h.capabilities = caps;
	h.node = " ~";
	round_trip(WIRE_HELLO, &h, &m);
	assert_int_equal(m.hello->n_capabilities, WIRE_CAPS_MAX);
	wire_msg_free(&m);
	h.node = max_name;
	round_trip(WIRE_HELLO, &h, &m);
	wire_msg_free(&m);
	/* No capabilities at all is fine. */
	h.n_capabilities = 0;
	round_trip(WIRE_HELLO, &h, &m);
	wire_msg_free(&m);

	free(long_name);
	free(max_name);
}

/* A NUL inside a string: protobuf-c would cut the string there. */
static void test_strings_with_nul(void **state)
{
	/* Hello: 1 = 1, 3 = 4096, 4 = 1, 5 = "w", 6 = "a\0b". */
	static const uint8_t hello[] = {0x08, 0x01, 0x18, 0x80, 0x20,
					0x20, 0x01, 0x2a, 0x01, 'w',
					0x32, 0x03, 'a',  0x00, 'b'};
	static const uint8_t refuse[] = {0x12, 0x02, 'x', 0x00};
	static const uint8_t cap[] = {0x08, 0x01, 0x18, 0x80, 0x20, 0x20,
				      0x01, 0x2a, 0x01, 'w',  0x32, 0x01,
				      'n',  0x3a, 0x01, 0x00};
	struct wire_msg m;

	(void)state;
	decode_fails(WIRE_HELLO, hello, sizeof(hello),
		     "Hello: node has a NUL byte");
	decode_fails(WIRE_REFUSE, refuse, sizeof(refuse),
		     "Refuse: reason has a NUL byte");
	decode_fails(WIRE_HELLO, cap, sizeof(cap),
		     "Hello: capabilities has a NUL byte");
	/* The same Hello without the NUL is valid. */
	{
		uint8_t ok[sizeof(hello)];

		memcpy(ok, hello, sizeof(ok));
		ok[13] = 'c';
		decode_ok(WIRE_HELLO, ok, sizeof(ok), &m);
		assert_string_equal(m.hello->node, "acb");
		wire_msg_free(&m);
	}
	/* NULs in bytes fields are data. */
	{
		static const uint8_t cpu[] = {0x08, 0x01, 0x1a, 0x02, 0, 0};

		decode_ok(WIRE_CPU_STATE, cpu, sizeof(cpu), &m);
		assert_int_equal(m.cpu->state.len, 2);
		wire_msg_free(&m);
	}
}

static void test_epoch_rules(void **state)
{
	static uint8_t blob[16] = {1};
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__CpuState c = REMORA__CPU_STATE__INIT;
	Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;
	Remora__EpochCommit ec = REMORA__EPOCH_COMMIT__INIT;
	Remora__Ack a = REMORA__ACK__INIT;

	(void)state;
	b.term = 5;
	b.dirty_pages = 10;
	refused(WIRE_EPOCH_BEGIN, &b, "EpochBegin: epoch 0");

	pb.term = 5;
	pb.batch.data = blob;
	pb.batch.len = sizeof(blob);
	refused(WIRE_PAGE_BATCH, &pb, "PageBatch: epoch 0");
	pb.epoch = 1;
	pb.batch.len = 0;
	refused(WIRE_PAGE_BATCH, &pb, "PageBatch: empty batch");

	c.term = 5;
	c.state.data = blob;
	c.state.len = sizeof(blob);
	refused(WIRE_CPU_STATE, &c, "CpuState: epoch 0");
	c.epoch = 1;
	c.state.len = 0;
	refused(WIRE_CPU_STATE, &c, "CpuState: empty state");

	d.device = "console";
	d.data.data = blob;
	d.data.len = sizeof(blob);
	refused(WIRE_DEVICE_STATE, &d, "DeviceState: epoch 0");
	d.epoch = 1;
	d.device = "";
	refused(WIRE_DEVICE_STATE, &d, "DeviceState: device name is empty");
	d.device = "con\x01sole";
	refused(WIRE_DEVICE_STATE, &d,
		"DeviceState: device name has a non-printable byte");
	{
		char *n = repeat('d', WIRE_NAME_MAX + 1);

		d.device = n;
		refused(WIRE_DEVICE_STATE, &d,
			"DeviceState: device name is longer than 64 bytes");
		free(n);
	}
	d.device = "console";
	d.offset = UINT64_MAX - sizeof(blob) + 1;
	refused(WIRE_DEVICE_STATE, &d,
		"DeviceState: offset 18446744073709551600 + 16 bytes "
		"overflows");
	{
		struct wire_msg m;

		d.offset = UINT64_MAX - sizeof(blob);
		round_trip(WIRE_DEVICE_STATE, &d, &m);
		wire_msg_free(&m);
	}

	ec.term = 1;
	ec.pages = 3;
	ec.checksum = 4;
	refused(WIRE_EPOCH_COMMIT, &ec, "EpochCommit: epoch 0");

	a.term = 3;
	refused(WIRE_ACK, &a, "Ack: epoch 0");
}

/* Blobs and strings at their limits, and one byte beyond. */
/* Challenge: a version, exactly 32 bytes of nonce, at least one suite. */
static void test_challenge_rules(void **state)
{
	uint8_t nonce[WIRE_NONCE_SIZE + 1];
	Remora__Challenge c = REMORA__CHALLENGE__INIT;
	struct wire_msg m;

	(void)state;
	memset(nonce, 0x5a, sizeof(nonce));
	c.version = 1;
	c.suites = 3;
	c.nonce.data = nonce;
	c.nonce.len = WIRE_NONCE_SIZE;
	round_trip(WIRE_CHALLENGE, &c, &m);
	assert_int_equal(m.type, WIRE_CHALLENGE);
	assert_int_equal(m.challenge->nonce.len, WIRE_NONCE_SIZE);
	wire_msg_free(&m);
	c.nonce.len = WIRE_NONCE_SIZE - 1;
	refused(WIRE_CHALLENGE, &c,
		"Challenge: nonce of 31 bytes, it must be 32");
	c.nonce.len = WIRE_NONCE_SIZE + 1;
	refused(WIRE_CHALLENGE, &c,
		"Challenge: nonce of 33 bytes, it must be 32");
	c.nonce.len = 0;
	refused(WIRE_CHALLENGE, &c,
		"Challenge: nonce of 0 bytes, it must be 32");
	c.nonce.len = WIRE_NONCE_SIZE;
	c.version = 0;
	refused(WIRE_CHALLENGE, &c, "Challenge: version 0");
	c.version = 1;
	c.suites = 0;
	refused(WIRE_CHALLENGE, &c, "Challenge: no suite");
	assert_int_equal(wire_type_max(WIRE_CHALLENGE), 256);
}

static void test_size_rules(void **state)
{
	uint8_t *blob = calloc(1, WIRE_CONSOLE_MAX + 1);
	char *reason = repeat('r', WIRE_REASON_MAX + 1);
	struct wire_msg m;

	(void)state;
	assert_non_null(blob);
	{
		Remora__CpuState c = REMORA__CPU_STATE__INIT;

		c.epoch = 1;
		c.state.data = blob;
		c.state.len = WIRE_STATE_MAX;
		round_trip(WIRE_CPU_STATE, &c, &m);
		wire_msg_free(&m);
		c.state.len = WIRE_STATE_MAX + 1;
		refused(WIRE_CPU_STATE, &c,
			"CpuState: state of 65537 bytes, at most 65536");
	}
	{
		Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;

		d.epoch = 1;
		d.device = "console";
		d.data.data = blob;
		d.data.len = WIRE_CONSOLE_MAX;
		round_trip(WIRE_DEVICE_STATE, &d, &m);
		wire_msg_free(&m);
		d.data.len = WIRE_CONSOLE_MAX + 1;
		refused(WIRE_DEVICE_STATE, &d,
			"DeviceState: data of 4194305 bytes, at most 4194304");
	}
	{
		Remora__Refuse r = REMORA__REFUSE__INIT;

		r.term = UINT64_MAX;
		r.reason = reason;
		refused(WIRE_REFUSE, &r,
			"Refuse: reason is longer than 512 bytes");
		reason[WIRE_REASON_MAX] = '\0';
		round_trip(WIRE_REFUSE, &r, &m);
		assert_int_equal(strlen(m.refuse->reason), WIRE_REASON_MAX);
		wire_msg_free(&m);
		r.reason = "two\nlines";
		refused(WIRE_REFUSE, &r,
			"Refuse: reason has a non-printable byte");
		r.reason = "\033]0;owned\007";
		refused(WIRE_REFUSE, &r,
			"Refuse: reason has a non-printable byte");
		r.reason = "caf\xc3\xa9";
		refused(WIRE_REFUSE, &r,
			"Refuse: reason has a non-printable byte");
		r.reason = "replaced";
		r.primary = "a\nb";
		refused(WIRE_REFUSE, &r,
			"Refuse: primary has a non-printable byte");
		r.primary = reason; /* 512 bytes */
		refused(WIRE_REFUSE, &r,
			"Refuse: primary is longer than 64 bytes");
	}
	free(blob);
	free(reason);
}

/* Every valid message of the round-trip test, as payloads. */
static size_t sample_payloads(uint8_t **p, size_t *len, enum wire_type *type)
{
	static uint8_t blob[300];
	Remora__Hello h = valid_hello();
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__CpuState c = REMORA__CPU_STATE__INIT;
	Remora__DeviceState d = REMORA__DEVICE_STATE__INIT;
	Remora__EpochCommit ec = REMORA__EPOCH_COMMIT__INIT;
	Remora__Ack a = REMORA__ACK__INIT;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Refuse r = REMORA__REFUSE__INIT;
	Remora__Challenge ch = REMORA__CHALLENGE__INIT;
	const ProtobufCMessage *msgs[] = {
		&h.base,  &b.base, &pb.base, &c.base, &d.base,
		&ec.base, &a.base, &hb.base, &r.base, &ch.base,
	};
	size_t n = 0;

	memset(blob, 0x3c, sizeof(blob));
	ch.version = 1;
	ch.suites = 1;
	ch.nonce.data = blob;
	ch.nonce.len = WIRE_NONCE_SIZE;
	b.epoch = pb.epoch = c.epoch = d.epoch = ec.epoch = a.epoch = 300;
	b.term = pb.term = c.term = d.term = ec.term = a.term = hb.term = 2;
	b.dirty_pages = 1000;
	pb.batch.data = c.state.data = d.data.data = blob;
	pb.batch.len = c.state.len = d.data.len = sizeof(blob);
	d.device = "console";
	d.offset = 5000;
	ec.pages = 100;
	ec.checksum = 0x8000000000000000ull;
	hb.last_epoch = 299;
	r.reason = "no";
	for (int t = WIRE_HELLO; t <= WIRE_TYPE_MAX; t++) {
		uint8_t *f;
		size_t flen;

		assert_int_equal(wire_encode(t, msgs[t - 1], &f, &flen), 0);
		type[n] = t;
		len[n] = flen - FRAME_HEADER_SIZE;
		p[n] = malloc(len[n]);
		memcpy(p[n], f + FRAME_HEADER_SIZE, len[n]);
		free(f);
		n++;
	}
	return n;
}

static void test_truncated(void **state)
{
	uint8_t *p[WIRE_TYPE_MAX];
	size_t len[WIRE_TYPE_MAX], n;
	enum wire_type type[WIRE_TYPE_MAX];
	struct wire_msg m;
	char err[ERRLEN];

	(void)state;
	n = sample_payloads(p, len, type);
	for (size_t i = 0; i < n; i++) {
		for (size_t cut = 0; cut < len[i]; cut++) {
			/* An exact copy, so that ASan sees any overread. */
			uint8_t *t = malloc(cut ? cut : 1);
			int rc;

			memcpy(t, p[i], cut);
			err[0] = '\0';
			rc = wire_decode(type[i], t, cut, &m, err, sizeof(err));
			/* A cut between fields may leave a valid message. */
			if (rc == 0)
				wire_msg_free(&m);
			else
				check_err_line(err, type[i]);
			/* Inside the trailing blob it never can. */
			if ((type[i] == WIRE_PAGE_BATCH ||
			     type[i] == WIRE_CPU_STATE ||
			     type[i] == WIRE_DEVICE_STATE) &&
			    cut > len[i] - 300)
				decode_fails(type[i], t, cut, NULL);
			free(t);
		}
	}
	/* The untruncated ones are valid. */
	for (size_t i = 0; i < n; i++) {
		decode_ok(type[i], p[i], len[i], &m);
		wire_msg_free(&m);
		free(p[i]);
	}
	/* Truncated inside a varint or a length. */
	decode_fails(WIRE_ACK, (const uint8_t *)"\x08\xac", 2,
		     "Ack: not a valid protobuf message");
	decode_fails(WIRE_PAGE_BATCH, (const uint8_t *)"\x08\x01\x1a\x80", 4,
		     "PageBatch: not a valid protobuf message");
	decode_fails(WIRE_PAGE_BATCH, (const uint8_t *)"\x08\x01\x1a\x05xx", 6,
		     "PageBatch: not a valid protobuf message");
}

/*
 * A PageBatch is read in place (wire.c), not by protobuf-c: on each of
 * these it agrees with protobuf-c's unpacking, field by field, and its
 * batch points into the payload (no copy).
 */
static void test_page_batch_in_place(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[24];
		size_t len;
		int ok;
	} c[] = {
		{"plain",
		 {0x08, 0x05, 0x10, 0x02, 0x1a, 0x02, 0xaa, 0xbb},
		 8,
		 1},
		{"batch first", {0x1a, 0x01, 0xcc, 0x08, 0x07}, 5, 1},
		{"repeated: the last wins",
		 {0x08, 0x01, 0x1a, 0x01, 0x11, 0x08, 0x09, 0x1a, 0x02, 0x22,
		  0x33},
		 11,
		 1},
		{"unknown fields of every wire type",
		 {0x20, 0x05, 0x29, 1,	  2,	3,    4,    5,
		  6,	7,    8,    0x35, 1,	2,    3,    4,
		  0x3a, 0x01, 0x00, 0x08, 0x01, 0x1a, 0x01, 0x44},
		 24,
		 1},
		{"ten-byte varint epoch",
		 {0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		  0x01, 0x1a, 0x01, 0x55},
		 14,
		 1},
		{"batch as a varint", {0x08, 0x01, 0x18, 0x05}, 4, 0},
		{"term as bytes", {0x08, 0x01, 0x12, 0x01, 0x00}, 5, 0},
		{"batch as fixed64",
		 {0x08, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8},
		 11,
		 0},
		{"epoch as fixed32", {0x0d, 1, 2, 3, 4}, 5, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		Remora__PageBatch *u =
			remora__page_batch__unpack(NULL, c[i].len, c[i].b);
		struct wire_msg m;
		char err[ERRLEN] = "";
		int rc = wire_decode(WIRE_PAGE_BATCH, c[i].b, c[i].len, &m, err,
				     sizeof(err));

		if (c[i].ok != (rc == 0) || c[i].ok != (u != NULL))
			fail_msg("%s: wire_decode %d (%s), protobuf-c %s",
				 c[i].what, rc, err, u ? "ok" : "refused");
		if (rc == 0) {
			assert_true(m.batch->epoch == u->epoch);
			assert_true(m.batch->term == u->term);
			assert_int_equal(m.batch->batch.len, u->batch.len);
			assert_memory_equal(m.batch->batch.data, u->batch.data,
					    u->batch.len);
			assert_true(m.batch->batch.data > c[i].b &&
				    m.batch->batch.data < c[i].b + c[i].len);
		} else {
			assert_string_equal(
				err,
				"PageBatch: a field in the wrong wire type");
		}
		wire_msg_free(&m);
		if (u)
			remora__page_batch__free_unpacked(u, NULL);
	}
}

static void test_garbage(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t len;
	} g[] = {
		{"group start", {0x0b, 0x0c}, 2},
		{"group end", {0x0c}, 1},
		{"wire type 6", {0x0e, 0x00}, 2},
		{"wire type 7", {0x0f, 0x00}, 2},
		{"field 0", {0x00, 0x01}, 2},
		{"field 0, padded key", {0x08, 0x01, 0x80, 0x00, 0x01}, 5},
		{"field 2^29", {0x80, 0x80, 0x80, 0x80, 0x10, 0x01}, 6},
		{"eleven-byte varint",
		 {0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		  0x80, 0x00},
		 12},
		{"unterminated key", {0xff, 0xff}, 2},
		{"epoch as bytes", {0x0a, 0x01, 0x05}, 3},
		{"short fixed64", {0x09, 1, 2, 3}, 4},
		{"short fixed32", {0x0d, 1, 2}, 3},
		{"length past the end", {0x1a, 0x7f, 0x00}, 3},
		{"huge length", {0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, 7},
	};
	struct rng r = {7};
	uint8_t buf[512];
	struct wire_msg m;
	char err[ERRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		for (int t = WIRE_HELLO; t <= WIRE_TYPE_MAX; t++) {
			char want[64];

			snprintf(want, sizeof(want),
				 "%s: not a valid protobuf message",
				 wire_type_name(t));
			/* Read in place, past prescan(): wire.c */
			if (t == WIRE_PAGE_BATCH &&
			    !strcmp(g[i].what, "epoch as bytes"))
				snprintf(want, sizeof(want),
					 "PageBatch: a field in the wrong wire "
					 "type");
			decode_fails(t, g[i].b, g[i].len, want);
		}

	/* Unknown types. */
	decode_fails(0, NULL, 0, "unknown message type 0");
	decode_fails(WIRE_TYPE_MAX + 1, NULL, 0, "unknown message type 11");
	decode_fails(255, buf, 1, "unknown message type 255");

	/* Random bytes: refused with one line, or valid; never a crash. */
	for (int i = 0; i < 20000; i++) {
		size_t len = rnd_below(&r, sizeof(buf));
		int t = 1 + (int)rnd_below(&r, WIRE_TYPE_MAX);
		int rc;

		fill_random(&r, buf, len);
		err[0] = '\0';
		rc = wire_decode((uint8_t)t, buf, len, &m, err, sizeof(err));
		assert_true(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			assert_non_null(m.base);
			wire_msg_free(&m);
		} else {
			check_err_line(err, t);
		}
	}
	/* err may be left out. */
	assert_int_equal(wire_decode(WIRE_ACK, NULL, 0, &m, NULL, 0), -EBADMSG);
}

static void test_payload_over_type_max(void **state)
{
	uint8_t *p = calloc(1, FRAME_MAX_PAYLOAD + 1);
	char want[96];

	(void)state;
	for (int t = WIRE_HELLO; t <= WIRE_TYPE_MAX; t++) {
		size_t max = wire_type_max((uint8_t)t);

		snprintf(want, sizeof(want), "%s: %zu bytes, at most %zu",
			 wire_type_name(t), max + 1, max);
		decode_fails(t, p, max + 1, want);
	}
	free(p);
}

/* Unknown fields (a newer peer) are skipped, but not without bound. */
static void test_unknown_fields(void **state)
{
	uint8_t buf[300];
	size_t n = 0;
	struct wire_msg m;

	(void)state;
	buf[n++] = 0x08; /* epoch 1 */
	buf[n++] = 0x01;
	buf[n++] = 0xa0; /* field 100, varint 5 */
	buf[n++] = 0x06;
	buf[n++] = 0x05;
	buf[n++] = 0xaa; /* field 101, bytes "xyz" */
	buf[n++] = 0x06;
	buf[n++] = 0x03;
	memcpy(buf + n, "xyz", 3);
	n += 3;
	decode_ok(WIRE_ACK, buf, n, &m);
	assert_true(m.ack->epoch == 1);
	wire_msg_free(&m);

	/* The largest field number, and a padded key: both survive. */
	{
		static const uint8_t big[] = {0x08, 0x01, 0xf8, 0xff,
					      0xff, 0xff, 0x0f, 0x07,
					      0x90, 0x00, 0x02};
		uint8_t *f;
		size_t flen;

		decode_ok(WIRE_ACK, big, sizeof(big), &m);
		assert_true(m.ack->epoch == 1 && m.ack->term == 2);
		assert_int_equal(wire_encode(WIRE_ACK, m.base, &f, &flen), 0);
		wire_msg_free(&m);
		decode_ok(WIRE_ACK, f + FRAME_HEADER_SIZE,
			  flen - FRAME_HEADER_SIZE, &m);
		assert_true(m.ack->epoch == 1 && m.ack->term == 2);
		assert_int_equal(m.base->n_unknown_fields, 1);
		assert_int_equal(m.base->unknown_fields[0].tag, (1u << 29) - 1);
		wire_msg_free(&m);
		free(f);
	}

	/* 128 fields in all pass, 129 do not (Ack's maximum is too small). */
	n = 0;
	while (n < 128 * 2) {
		buf[n++] = 0x08; /* term, again and again */
		buf[n++] = 0x01;
	}
	decode_ok(WIRE_REFUSE, buf, n, &m);
	assert_true(m.refuse->term == 1);
	wire_msg_free(&m);
	buf[n++] = 0x08;
	buf[n++] = 0x02;
	decode_fails(WIRE_REFUSE, buf, n, "Refuse: more than 128 fields");
}

/* ---- batch prefix ------------------------------------------------------- */

static void check_prefix(uint64_t epoch, uint64_t term, const uint8_t *batch,
			 size_t batch_len)
{
	Remora__PageBatch b = REMORA__PAGE_BATCH__INIT;
	uint8_t prefix[WIRE_BATCH_PREFIX_MAX + 8], want[64];
	size_t plen, flen, n = FRAME_HEADER_SIZE;
	uint8_t *f;

	memset(prefix, 0xa5, sizeof(prefix));
	b.epoch = epoch;
	b.term = term;
	b.batch.data = (uint8_t *)batch;
	b.batch.len = batch_len;
	assert_int_equal(wire_encode(WIRE_PAGE_BATCH, &b.base, &f, &flen), 0);
	plen = wire_batch_prefix(prefix, epoch, term, batch_len);
	if (plen == 0 || plen > WIRE_BATCH_PREFIX_MAX ||
	    plen + batch_len != flen || memcmp(prefix, f, plen) != 0 ||
	    (batch_len && memcmp(f + plen, batch, batch_len) != 0))
		fail_msg("prefix for epoch %llu term %llu batch %zu differs "
			 "from wire_encode (%zu + %zu vs %zu bytes)",
			 (unsigned long long)epoch, (unsigned long long)term,
			 batch_len, plen, batch_len, flen);
	/* Nothing written past the prefix. */
	assert_int_equal(prefix[WIRE_BATCH_PREFIX_MAX], 0xa5);

	/* And independently, from the proto3 rules. */
	if (epoch) {
		want[n++] = 0x08;
		n += put_varint(want + n, epoch);
	}
	if (term) {
		want[n++] = 0x10;
		n += put_varint(want + n, term);
	}
	if (batch_len) {
		want[n++] = 0x1a;
		n += put_varint(want + n, batch_len);
	}
	put_le32(want, (uint32_t)(n - FRAME_HEADER_SIZE + batch_len));
	want[4] = WIRE_PAGE_BATCH;
	assert_int_equal(plen, n);
	assert_memory_equal(prefix, want, n);
	free(f);
}

static void test_batch_prefix_identity(void **state)
{
	static const uint64_t epochs[] = {1, 127, 128, 1ull << 32, UINT64_MAX};
	static const uint64_t terms[] = {0, 1, 300, UINT64_MAX};
	/* Length varints of one, two, three and four bytes. */
	static const size_t lens[] = {1,
				      2,
				      127,
				      128,
				      16383,
				      16384,
				      (1u << 21) - 1,
				      1u << 21,
				      WIRE_BATCH_MAX};
	struct rng g = {8};
	uint8_t *batch = malloc(WIRE_BATCH_MAX);

	(void)state;
	assert_non_null(batch);
	fill_random(&g, batch, WIRE_BATCH_MAX);
	for (size_t e = 0; e < sizeof(epochs) / sizeof(epochs[0]); e++)
		for (size_t t = 0; t < sizeof(terms) / sizeof(terms[0]); t++)
			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]);
			     l++)
				check_prefix(epochs[e], terms[t], batch,
					     lens[l]);
	/* The degenerate ones, which wire_decode refuses, agree too. */
	check_prefix(0, 0, batch, 10);
	check_prefix(1, 0, batch, 0);
	check_prefix(0, 0, batch, 0);
	free(batch);
}

/* At the PageBatch maximum: the last fitting length and one more. */
static void test_batch_prefix_limit(void **state)
{
	Remora__PageBatch b = REMORA__PAGE_BATCH__INIT;
	uint8_t prefix[WIRE_BATCH_PREFIX_MAX];
	uint8_t *batch = calloc(1, FRAME_MAX_PAYLOAD);
	uint8_t *f;
	size_t flen, fit;

	(void)state;
	assert_non_null(batch);
	b.epoch = 1;
	b.term = UINT64_MAX;
	b.batch.data = batch;
	/* epoch 2 bytes, term 11, batch key 1 and length 4 bytes. */
	fit = FRAME_MAX_PAYLOAD - 18;
	b.batch.len = fit;
	assert_int_equal(wire_encode(WIRE_PAGE_BATCH, &b.base, &f, &flen), 0);
	assert_int_equal(flen, FRAME_HEADER_SIZE + FRAME_MAX_PAYLOAD);
	assert_int_equal(wire_batch_prefix(prefix, 1, UINT64_MAX, fit),
			 flen - fit);
	free(f);
	b.batch.len = fit + 1;
	assert_int_equal(wire_encode(WIRE_PAGE_BATCH, &b.base, &f, &flen),
			 -E2BIG);
	assert_int_equal(wire_batch_prefix(prefix, 1, UINT64_MAX, fit + 1), 0);
	assert_int_equal(wire_batch_prefix(prefix, 1, 1, FRAME_MAX_PAYLOAD), 0);
	assert_int_equal(
		wire_batch_prefix(prefix, UINT64_MAX, UINT64_MAX, SIZE_MAX), 0);
	/* WIRE_BATCH_MAX fits whatever the epoch and term. */
	assert_true(wire_batch_prefix(prefix, UINT64_MAX, UINT64_MAX,
				      WIRE_BATCH_MAX) > 0);
	free(batch);
}

/* ---- encode ------------------------------------------------------------- */

static void test_encode_refuses(void **state)
{
	uint8_t *blob = calloc(1, WIRE_STATE_MAX + 512);
	char *reason = repeat('r', WIRE_REASON_MAX + WIRE_NAME_MAX + 300);
	uint8_t *f = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(blob);
	{
		Remora__CpuState c = REMORA__CPU_STATE__INIT;

		c.epoch = 1;
		c.state.data = blob;
		c.state.len = WIRE_STATE_MAX + 512;
		assert_int_equal(wire_encode(WIRE_CPU_STATE, &c.base, &f, &len),
				 -E2BIG);
		/* The same bytes as a PageBatch are fine. */
		Remora__PageBatch b = REMORA__PAGE_BATCH__INIT;

		b.epoch = 1;
		b.batch = c.state;
		assert_int_equal(
			wire_encode(WIRE_PAGE_BATCH, &b.base, &f, &len), 0);
		free(f);
		/* A message of another type. */
		assert_int_equal(wire_encode(WIRE_CPU_STATE, &b.base, &f, &len),
				 -EINVAL);
		assert_int_equal(wire_encode(0, &b.base, &f, &len), -EINVAL);
		assert_int_equal(
			wire_encode(WIRE_TYPE_MAX + 1, &b.base, &f, &len),
			-EINVAL);
	}
	{
		Remora__Refuse r = REMORA__REFUSE__INIT;

		r.reason = reason;
		assert_int_equal(wire_encode(WIRE_REFUSE, &r.base, &f, &len),
				 -E2BIG);
	}
	{
		char *big = repeat('c', 200);
		char *caps[32];
		Remora__Hello h = valid_hello();

		for (int i = 0; i < 32; i++)
			caps[i] = big;
		h.n_capabilities = 32;
		h.capabilities = caps;
		assert_int_equal(wire_encode(WIRE_HELLO, &h.base, &f, &len),
				 -E2BIG);
		free(big);
	}
	free(blob);
	free(reason);
}

static void test_type_table(void **state)
{
	static const char *names[] = {
		"unknown",   "Hello",	    "EpochBegin",  "PageBatch",
		"CpuState",  "DeviceState", "EpochCommit", "Ack",
		"Heartbeat", "Refuse",	    "Challenge",
	};

	(void)state;
	for (int t = 0; t <= WIRE_TYPE_MAX; t++)
		assert_string_equal(wire_type_name(t), names[t]);
	assert_string_equal(wire_type_name(-1), "unknown");
	assert_string_equal(wire_type_name(11), "unknown");
	assert_string_equal(wire_type_name(256 + WIRE_ACK), "unknown");

	assert_int_equal(wire_type_max(0), 0);
	assert_int_equal(wire_type_max(WIRE_TYPE_MAX + 1), 0);
	assert_int_equal(wire_type_max(255), 0);
	assert_int_equal(wire_type_max(WIRE_PAGE_BATCH), FRAME_MAX_PAYLOAD);
	assert_int_equal(wire_type_max(WIRE_HELLO), 4096);
	for (int t = WIRE_HELLO; t <= WIRE_TYPE_MAX; t++) {
		assert_true(wire_type_max((uint8_t)t) >= 64);
		assert_true(wire_type_max((uint8_t)t) <= FRAME_MAX_PAYLOAD);
	}
	assert_true(wire_type_max(WIRE_CPU_STATE) > WIRE_STATE_MAX);
	assert_true(wire_type_max(WIRE_DEVICE_STATE) > WIRE_CONSOLE_MAX);
	assert_true(wire_type_max(WIRE_REFUSE) > WIRE_REASON_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_every_split),
		cmocka_unit_test(test_frame_every_pair_of_cuts),
		cmocka_unit_test(test_frame_byte_at_a_time),
		cmocka_unit_test(test_frame_whole_frames_no_copy),
		cmocka_unit_test(test_frame_oversize_refused_before_alloc),
		cmocka_unit_test(test_frame_max_payload_accepted),
		cmocka_unit_test(test_frame_unknown_type),
		cmocka_unit_test(test_frame_sticky_error),
		cmocka_unit_test(test_frame_zero_length),
		cmocka_unit_test(test_frame_callback_stops),
		cmocka_unit_test(test_frame_header_bytes),
		cmocka_unit_test(test_frame_trailer),
		cmocka_unit_test(test_frame_trailer_limits),
		cmocka_unit_test(test_frame_direct),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_hello_rules),
		cmocka_unit_test(test_strings_with_nul),
		cmocka_unit_test(test_epoch_rules),
		cmocka_unit_test(test_size_rules),
		cmocka_unit_test(test_challenge_rules),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_page_batch_in_place),
		cmocka_unit_test(test_payload_over_type_max),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_batch_prefix_identity),
		cmocka_unit_test(test_batch_prefix_limit),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_type_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
