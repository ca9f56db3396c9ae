/*
 * Unit tests for replication connections (common/conn.h) on a real libuv
 * loop: one end of a socketpair is a CONN_PIPE conn, the other is written
 * (and read) raw by the test, or is a second conn.
 *
 * Reading: a stream of every message type arrives intact and in order
 * whether it comes in two pieces cut at every byte or one byte at a time; a
 * header announcing more than its type allows, an unknown type, a stream
 * that ends inside a frame and a payload that is not the message it claims
 * each close the connection once, with a reason saying so, and deliver
 * nothing after the fault. Writing: the queue bound (-ENOBUFS, with the done
 * callback run exactly once either way), a close cancelling a queued write,
 * and conn_finish() delivering a large queued frame whole before the peer
 * sees the end of the stream. Liveness: the watchdog counts whole frames, so
 * a peer trickling a frame a byte at a time is closed as silent. Every test
 * ends by running the loop until no handle is left and checking that
 * uv_loop_close() succeeds, which catches leaked handles.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "auth.h"
#include "bytes.h"
#include "conn.h"
#include "conn_end.h"
#include "frame.h"
#include "testutil.h"
#include "wire.h"

#define MAXMSG 32

/* One test's loop, conn and what its callbacks saw. */
struct t {
	uv_loop_t loop;
	struct conn *c;
	int peer; /* the raw end of the socketpair, -1 once closed */
	size_t nmsg;
	enum wire_type type[MAXMSG];
	uint8_t *packed[MAXMSG]; /* each message packed again */
	size_t plen[MAXMSG];
	int closed;
	char why[512];
	size_t mem_at_close; /* heap in use when on_close ran */
};

static void t_on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct t *t = opaque;
	size_t len = protobuf_c_message_get_packed_size(m->base);

	assert_ptr_equal(c, t->c);
	assert_int_equal(t->closed, 0);
	assert_true(t->nmsg < MAXMSG);
	t->type[t->nmsg] = m->type;
	t->packed[t->nmsg] = malloc(len + 1);
	assert_non_null(t->packed[t->nmsg]);
	assert_int_equal(protobuf_c_message_pack(m->base, t->packed[t->nmsg]),
			 len);
	t->plen[t->nmsg] = len;
	t->nmsg++;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void t_on_close(struct conn *c, const char *why, void *opaque)
{
	struct t *t = opaque;

	assert_ptr_equal(c, t->c);
	t->closed++;
	snprintf(t->why, sizeof(t->why), "%s", why);
	t->mem_at_close = heap_in_use();
	t->c = NULL;
}

static const struct conn_ops t_ops = {
	.on_msg = t_on_msg,
	.on_close = t_on_close,
};

static void t_init_ops(struct t *t, const struct conn_ops *ops,
		       size_t max_queued)
{
	int sv[2];

	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	t->c = conn_new(&t->loop, CONN_PIPE, ops, t, max_queued);
	assert_non_null(t->c);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(t->c), sv[0]),
			 0);
	assert_int_equal(conn_start(t->c), 0);
	assert_string_equal(conn_peer(t->c), "pipe");
	t->peer = sv[1];
}

static void t_init(struct t *t, size_t max_queued)
{
	t_init_ops(t, &t_ops, max_queued);
}

/* A conn with the cluster key k, as the accepting side. */
static void t_init_keyed(struct t *t, const struct auth_key *k)
{
	int sv[2];

	memset(t, 0, sizeof(*t));
	assert_int_equal(uv_loop_init(&t->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	t->c = conn_new(&t->loop, CONN_PIPE, &t_ops, t, 1 << 20);
	assert_non_null(t->c);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(t->c), sv[0]),
			 0);
	conn_set_auth(t->c, k, 0);
	assert_int_equal(conn_start(t->c), 0);
	t->peer = sv[1];
}

static void peer_write(struct t *t, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(t->peer, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

/* The peer is done writing: the conn sees EOF once it has read the rest. */
static void peer_eof(struct t *t)
{
	assert_int_equal(shutdown(t->peer, SHUT_WR), 0);
}

/* Runs the loop until nothing is left and checks that it closes cleanly. */
static void t_finish(struct t *t)
{
	if (t->c)
		conn_close(t->c, "test over");
	assert_int_equal(t->closed, 1);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	if (t->peer >= 0)
		close(t->peer);
	for (size_t i = 0; i < t->nmsg; i++)
		free(t->packed[i]);
}

/*
 * Runs the loop until on_close has run (the turn that runs it may also
 * finish the handle's close, and then the loop has nothing left).
 */
static void run_until_closed(struct t *t)
{
	while (!t->closed)
		if (!uv_run(&t->loop, UV_RUN_ONCE) && !t->closed)
			fail_msg("the loop ran dry before the conn closed");
}

static void assert_why(const struct t *t, const char *want)
{
	if (!strstr(t->why, want))
		fail_msg("close reason \"%s\", want \"%s\"", t->why, want);
}

/* ---- a stream of every message type ------------------------------------- */

struct stream {
	uint8_t *p;
	size_t len;
	size_t n;
	enum wire_type type[MAXMSG];
	size_t off[MAXMSG], flen[MAXMSG]; /* each frame in p */
};

static void stream_add(struct stream *s, enum wire_type type,
		       const ProtobufCMessage *m)
{
	uint8_t *f;
	size_t len;

	assert_int_equal(wire_encode(type, m, &f, &len), 0);
	s->p = realloc(s->p, s->len + len);
	assert_non_null(s->p);
	memcpy(s->p + s->len, f, len);
	s->type[s->n] = type;
	s->off[s->n] = s->len;
	s->flen[s->n] = len;
	s->n++;
	s->len += len;
	free(f);
}

/*
 * Hello, EpochBegin, a PageBatch bigger than the conn's first read of it,
 * CpuState, DeviceState, EpochCommit, an empty Heartbeat (a frame with no
 * payload), Ack, Refuse.
 */
static void stream_make(struct stream *s, size_t batch_len)
{
	static char *caps[] = {"delta", "lz4"};
	Remora__Hello h = REMORA__HELLO__INIT;
	Remora__EpochBegin b = REMORA__EPOCH_BEGIN__INIT;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__CpuState cpu = REMORA__CPU_STATE__INIT;
	Remora__DeviceState dev = REMORA__DEVICE_STATE__INIT;
	Remora__EpochCommit cm = REMORA__EPOCH_COMMIT__INIT;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Ack ack = REMORA__ACK__INIT;
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	struct rng rng = {42};
	uint8_t *batch = malloc(batch_len), state[200];

	assert_non_null(batch);
	fill_random(&rng, batch, batch_len);
	fill_random(&rng, state, sizeof(state));
	memset(s, 0, sizeof(*s));
	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.term = 7;
	h.page_size = 4096;
	h.guest_mem_bytes = 64u << 20;
	h.workload_id = "wl";
	h.node = "node-a";
	h.n_capabilities = 2;
	h.capabilities = caps;
	stream_add(s, WIRE_HELLO, &h.base);
	b.epoch = 300;
	b.term = 7;
	b.precopy = 1;
	b.dirty_pages = 5;
	stream_add(s, WIRE_EPOCH_BEGIN, &b.base);
	pb.epoch = 300;
	pb.term = 7;
	pb.batch.data = batch;
	pb.batch.len = batch_len;
	stream_add(s, WIRE_PAGE_BATCH, &pb.base);
	cpu.epoch = 300;
	cpu.state.data = state;
	cpu.state.len = sizeof(state);
	stream_add(s, WIRE_CPU_STATE, &cpu.base);
	dev.epoch = 300;
	dev.device = "console";
	dev.offset = 1234567;
	dev.data.data = (uint8_t *)"hello, world\n";
	dev.data.len = 13;
	stream_add(s, WIRE_DEVICE_STATE, &dev.base);
	cm.epoch = 300;
	cm.term = 7;
	cm.pages = 5;
	cm.checksum = 0x0123456789abcdefull;
	stream_add(s, WIRE_EPOCH_COMMIT, &cm.base);
	stream_add(s, WIRE_HEARTBEAT, &hb.base);
	ack.epoch = 299;
	stream_add(s, WIRE_ACK, &ack.base);
	rf.reason = "bye";
	stream_add(s, WIRE_REFUSE, &rf.base);
	free(batch);
}

/* Every frame of s came out as itself, in order, and nothing else. */
static void assert_stream(const struct t *t, const struct stream *s)
{
	assert_int_equal(t->nmsg, s->n);
	for (size_t i = 0; i < s->n; i++) {
		assert_int_equal(t->type[i], s->type[i]);
		assert_int_equal(t->plen[i] + FRAME_HEADER_SIZE, s->flen[i]);
		assert_memory_equal(t->packed[i],
				    s->p + s->off[i] + FRAME_HEADER_SIZE,
				    t->plen[i]);
	}
}

static void test_split_at_every_byte(void **state)
{
	struct stream s;

	(void)state;
	stream_make(&s, 300);
	for (size_t cut = 0; cut <= s.len; cut++) {
		struct t t;

		t_init(&t, 1 << 20);
		peer_write(&t, s.p, cut);
		/* The first piece is read on its own before the rest comes. */
		if (cut)
			assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
		assert_int_equal(t.closed, 0);
		peer_write(&t, s.p + cut, s.len - cut);
		peer_eof(&t);
		run_until_closed(&t);
		assert_stream(&t, &s);
		assert_why(&t, "pipe closed the connection");
		if (strstr(t.why, "middle"))
			fail_msg("cut %zu: \"%s\"", cut, t.why);
		t_finish(&t);
	}
	free(s.p);
}

static void test_one_byte_at_a_time(void **state)
{
	struct stream s;
	struct t t;

	(void)state;
	stream_make(&s, 300);
	t_init(&t, 1 << 20);
	for (size_t i = 0; i < s.len; i++) {
		peer_write(&t, s.p + i, 1);
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
	}
	assert_stream(&t, &s);
	assert_int_equal(t.closed, 0);
	assert_int_equal(conn_rx_bytes(t.c), s.len);
	peer_eof(&t);
	run_until_closed(&t);
	assert_why(&t, "pipe closed the connection");
	t_finish(&t);
	free(s.p);
}

/* A PageBatch of several MiB: many reads, gathered into one frame. */
static void test_big_frame(void **state)
{
	struct stream s;
	struct t t;

	(void)state;
	stream_make(&s, WIRE_BATCH_MAX);
	t_init(&t, 1 << 20);
	/* The socket buffer is smaller: write from a thread-free loop by
	 * alternating short writes with loop turns. */
	for (size_t off = 0; off < s.len;) {
		size_t n = s.len - off < 65536 ? s.len - off : 65536;

		peer_write(&t, s.p + off, n);
		off += n;
		while (uv_run(&t.loop, UV_RUN_NOWAIT))
			if (conn_rx_bytes(t.c) == off)
				break;
	}
	peer_eof(&t);
	run_until_closed(&t);
	assert_stream(&t, &s);
	t_finish(&t);
	free(s.p);
}

/* ---- bad input ---------------------------------------------------------- */

/* One valid frame, then bytes that must close the connection. */
static void bad_input(const uint8_t *bad, size_t len, int eof, const char *want)
{
	Remora__Ack ack = REMORA__ACK__INIT;
	uint8_t *f;
	size_t flen;
	struct t t;

	ack.epoch = 1;
	assert_int_equal(wire_encode(WIRE_ACK, &ack.base, &f, &flen), 0);
	t_init(&t, 1 << 20);
	peer_write(&t, f, flen);
	peer_write(&t, bad, len);
	/* What follows a fault is never delivered. */
	peer_write(&t, f, flen);
	if (eof)
		peer_eof(&t);
	run_until_closed(&t);
	assert_why(&t, want);
	assert_int_equal(t.nmsg, 1);
	assert_int_equal(t.type[0], WIRE_ACK);
	t_finish(&t);
	free(f);
}

static void test_oversized_header(void **state)
{
	static const struct {
		uint8_t type;
		uint32_t len;
	} c[] = {
		{WIRE_EPOCH_COMMIT, 257},
		{WIRE_HELLO, 4097},
		{WIRE_CPU_STATE, WIRE_STATE_MAX + 257},
		{WIRE_PAGE_BATCH, FRAME_MAX_PAYLOAD + 1},
		{WIRE_PAGE_BATCH, 0xffffffffu},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t hdr[FRAME_HEADER_SIZE];
		size_t before;
		struct t t;

		/* Each length is one over its type's maximum, or far over. */
		assert_int_equal(c[i].len - 1 <= wire_type_max(c[i].type) ||
					 c[i].len == 0xffffffffu,
				 1);
		hdr[0] = (uint8_t)c[i].len;
		hdr[1] = (uint8_t)(c[i].len >> 8);
		hdr[2] = (uint8_t)(c[i].len >> 16);
		hdr[3] = (uint8_t)(c[i].len >> 24);
		hdr[4] = c[i].type;
		t_init(&t, 1 << 20);
		before = heap_in_use();
		/*
		 * Only the header, and the peer keeps the stream open: the
		 * conn must refuse on the header alone, without waiting for
		 * (or making room for) the payload.
		 */
		peer_write(&t, hdr, sizeof(hdr));
		run_until_closed(&t);
		assert_why(&t, "bad frame from pipe: frame longer than its "
			       "type allows");
		assert_int_equal(t.nmsg, 0);
		/* mallinfo2() sees nothing under ASan: then 0 <= 0. */
		if (t.mem_at_close > before + (256u << 10))
			fail_msg("%zu bytes allocated for a refused frame of "
				 "%u bytes",
				 t.mem_at_close - before, c[i].len);
		t_finish(&t);
	}
}

/* A length at the type's maximum is not refused: it waits for the payload. */
static void test_header_at_maximum(void **state)
{
	uint8_t hdr[FRAME_HEADER_SIZE] = {0, 1, 0, 0, WIRE_EPOCH_COMMIT};
	struct t t;

	(void)state;
	assert_int_equal(wire_type_max(WIRE_EPOCH_COMMIT), 256);
	t_init(&t, 1 << 20);
	peer_write(&t, hdr, sizeof(hdr));
	assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
	assert_int_equal(t.closed, 0);
	peer_eof(&t);
	run_until_closed(&t);
	assert_why(&t, "closed the connection in the middle of a frame");
	t_finish(&t);
}

static void test_unknown_type(void **state)
{
	static const uint8_t types[] = {0, WIRE_TYPE_MAX + 1, 0x80, 0xff};

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		uint8_t f[FRAME_HEADER_SIZE + 2] = {2, 0, 0, 0, types[i], 8, 1};

		bad_input(f, sizeof(f), 0,
			  "bad frame from pipe: unknown frame type");
	}
}

static void test_truncated_then_eof(void **state)
{
	Remora__EpochCommit cm = REMORA__EPOCH_COMMIT__INIT;
	uint8_t *f;
	size_t len;

	(void)state;
	cm.epoch = 9;
	cm.pages = 100;
	cm.checksum = 12345;
	assert_int_equal(wire_encode(WIRE_EPOCH_COMMIT, &cm.base, &f, &len), 0);
	/* Every truncation: in the header and in the payload. */
	for (size_t cut = 1; cut < len; cut++) {
		Remora__Ack ack = REMORA__ACK__INIT;
		uint8_t *a;
		size_t alen;
		struct t t;

		ack.epoch = 1;
		assert_int_equal(wire_encode(WIRE_ACK, &ack.base, &a, &alen),
				 0);
		t_init(&t, 1 << 20);
		peer_write(&t, a, alen);
		peer_write(&t, f, cut);
		peer_eof(&t);
		run_until_closed(&t);
		assert_why(&t, "pipe closed the connection in the middle of "
			       "a frame");
		assert_int_equal(t.nmsg, 1);
		t_finish(&t);
		free(a);
	}
	free(f);
}

static void test_bad_payload(void **state)
{
	static const struct {
		uint8_t type;
		uint8_t payload[8];
		size_t len;
		const char *why;
	} c[] = {
		/* Not protobuf at all. */
		{WIRE_HELLO,
		 {0xff, 0xff, 0xff, 0xff},
		 4,
		 "bad frame from pipe: Hello: not a valid protobuf message"},
		/* A length-delimited field running past the end. */
		{WIRE_PAGE_BATCH,
		 {0x1a, 0x10, 1, 2},
		 4,
		 "bad frame from pipe: PageBatch: not a valid protobuf "
		 "message"},
		/* A group (wire type 3). */
		{WIRE_EPOCH_COMMIT,
		 {0x0b, 0x0c},
		 2,
		 "bad frame from pipe: EpochCommit: not a valid protobuf"},
		/* Valid protobuf, but a message the receiver cannot use. */
		{WIRE_EPOCH_BEGIN,
		 {0},
		 0,
		 "bad frame from pipe: EpochBegin: epoch 0"},
		{WIRE_PAGE_BATCH,
		 {0x08, 0x05},
		 2,
		 "bad frame from pipe: PageBatch: empty batch"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t f[FRAME_HEADER_SIZE + 8];

		frame_put_header(f, c[i].type, c[i].len);
		memcpy(f + FRAME_HEADER_SIZE, c[i].payload, c[i].len);
		bad_input(f, FRAME_HEADER_SIZE + c[i].len, 0, c[i].why);
		bad_input(f, FRAME_HEADER_SIZE + c[i].len, 1, c[i].why);
	}
}

/* A handler that closes the connection stops the delivery right there. */
static void close_on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	t_on_msg(c, m, opaque);
	conn_close(c, "handler says no");
}

static void test_close_from_handler(void **state)
{
	static const struct conn_ops ops = {
		.on_msg = close_on_msg,
		.on_close = t_on_close,
	};
	struct stream s;
	struct t t;

	(void)state;
	stream_make(&s, 100);
	t_init_ops(&t, &ops, 1 << 20);
	peer_write(&t, s.p, s.len);
	run_until_closed(&t);
	assert_string_equal(t.why, "handler says no");
	assert_int_equal(t.nmsg, 1);
	t_finish(&t);
	free(s.p);
}

/* ---- writing ------------------------------------------------------------ */

struct done {
	int calls;
};

static void on_done(void *arg)
{
	((struct done *)arg)->calls++;
}

/* Reads exactly n bytes from the raw end (blocking). */
static void peer_read(struct t *t, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(t->peer, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static void test_send_bound(void **state)
{
	uint8_t a[60], b[50], got[110];
	uv_buf_t ba = uv_buf_init((char *)a, sizeof(a));
	uv_buf_t bb = uv_buf_init((char *)b, sizeof(b));
	uv_buf_t big[2] = {ba, uv_buf_init((char *)b, 41)};
	struct done da = {0}, db = {0}, dbig = {0}, db2 = {0};
	struct t t;

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	t_init(&t, 100);
	assert_int_equal(conn_max_queued(t.c), 100);
	/* One frame over the bound on its own, in two buffers. */
	assert_int_equal(conn_send(t.c, big, 2, on_done, &dbig), -ENOBUFS);
	assert_int_equal(dbig.calls, 1);
	assert_int_equal(conn_queued(t.c), 0);
	/* 60 queued, 50 more would pass 100. */
	assert_int_equal(conn_send(t.c, &ba, 1, on_done, &da), 0);
	assert_int_equal(conn_queued(t.c), 60);
	assert_int_equal(conn_send(t.c, &bb, 1, on_done, &db), -ENOBUFS);
	assert_int_equal(db.calls, 1);
	/* NULL done is allowed. */
	assert_int_equal(conn_send(t.c, &bb, 1, NULL, NULL), -ENOBUFS);
	/* The first write completes on the loop. */
	while (da.calls == 0)
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
	assert_int_equal(da.calls, 1);
	assert_int_equal(conn_queued(t.c), 0);
	assert_int_equal(conn_tx_bytes(t.c), 60);
	/* Now there is room. */
	assert_int_equal(conn_send(t.c, &bb, 1, on_done, &db2), 0);
	while (db2.calls == 0)
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
	peer_read(&t, got, sizeof(got));
	assert_memory_equal(got, a, 60);
	assert_memory_equal(got + 60, b, 50);
	/* Nothing was written twice and nothing refused was written. */
	assert_int_equal(conn_tx_bytes(t.c), 110);
	assert_int_equal(da.calls + db.calls + dbig.calls + db2.calls, 4);
	t_finish(&t);
}

static void test_send_after_close(void **state)
{
	uint8_t a[10] = {0};
	uv_buf_t ba = uv_buf_init((char *)a, sizeof(a));
	struct done d = {0};
	struct conn *c;
	struct t t;

	(void)state;
	t_init(&t, 100);
	c = t.c;
	conn_finish(c, "finishing");
	assert_int_equal(t.closed, 1);
	assert_int_equal(conn_closing(c), 1);
	/* c lives until the loop has closed its handle. */
	assert_int_equal(conn_send(c, &ba, 1, on_done, &d), -EPIPE);
	assert_int_equal(d.calls, 1);
	conn_close(c, "twice");
	conn_finish(c, "thrice");
	assert_int_equal(t.closed, 1);
	assert_string_equal(t.why, "finishing");
	t_finish(&t);
}

/*
 * The heartbeat watchdog: a peer heard from just now is alive; one silent
 * for longer than the timeout is closed with what to change. Frames reset
 * the clock.
 */
static void test_check_alive(void **state)
{
	struct t t;

	(void)state;
	t_init(&t, 1 << 20);
	assert_int_equal(conn_check_alive(t.c, 60000, "peer"), 0);
	usleep(30000);
	uv_update_time(&t.loop);
	assert_int_equal(conn_check_alive(t.c, 60000, "peer"), 0);
	assert_int_equal(t.closed, 0);
	assert_int_equal(conn_check_alive(t.c, 5, "b"), -ETIMEDOUT);
	assert_int_equal(t.closed, 1);
	assert_why(&t, "no frame from b for ");
	assert_why(&t, " ms > heartbeat_timeout 5 ms; raise heartbeat_timeout");
	t.c = NULL;
	t_finish(&t);
}

/* Sleeps ms, then lets the loop see the time. */
static void t_sleep(struct t *t, unsigned ms)
{
	usleep(ms * 1000u);
	uv_update_time(&t->loop);
}

/*
 * Liveness counts whole frames, not bytes: a peer that trickles a Hello one
 * byte every 20 ms is closed by a 100 ms watchdog long before the frame is
 * whole, while one whose frames come every 20 ms stays alive however long
 * it goes on.
 */
static void test_trickle_is_not_alive(void **state)
{
	struct stream s;
	size_t i, hello;
	struct conn *c;
	struct t t;

	(void)state;
	stream_make(&s, 300);
	hello = s.flen[0];
	assert_true(hello > 20);

	/* Whole frames (the Heartbeat) every 20 ms for 300 ms: alive. */
	t_init(&t, 1 << 20);
	for (i = 0; i < 15; i++) {
		peer_write(&t, s.p + s.off[6], s.flen[6]);
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
		t_sleep(&t, 20);
		assert_int_equal(conn_check_alive(t.c, 100, "peer"), 0);
	}
	assert_int_equal(t.nmsg, 15);
	t_finish(&t);

	/* The Hello one byte at a time: every byte read, none alive. */
	t_init(&t, 1 << 20);
	c = t.c; /* lives until the loop has closed its handle */
	for (i = 0; i + 1 < hello; i++) {
		peer_write(&t, s.p + i, 1);
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
		t_sleep(&t, 20);
		if (conn_check_alive(t.c, 100, "peer") == -ETIMEDOUT)
			break;
	}
	if (i + 1 == hello)
		fail_msg("a Hello trickled over %zu ms (a byte per 20 ms) kept "
			 "a 100 ms watchdog happy",
			 20 * i);
	/* Closed after 100 ms, within a few bytes of scheduling noise. */
	assert_true(i >= 3);
	assert_int_equal(conn_rx_bytes(c), i + 1);
	assert_int_equal(t.closed, 1);
	assert_int_equal(t.nmsg, 0);
	assert_why(&t, "no frame from peer for ");
	assert_why(&t, "ms > heartbeat_timeout 100 ms");
	t.c = NULL;
	t_finish(&t);
	free(s.p);
}

/* A queued write is cancelled by a close: its done runs once. */
static void test_close_cancels_queued(void **state)
{
	size_t len = 8u << 20;
	uint8_t *big = malloc(len);
	uv_buf_t b = uv_buf_init((char *)big, (unsigned)len);
	struct done d = {0};
	struct t t;

	(void)state;
	assert_non_null(big);
	memset(big, 0x5a, len);
	t_init(&t, len);
	/* Nobody reads the raw end: most of it stays queued. */
	assert_int_equal(conn_send(t.c, &b, 1, on_done, &d), 0);
	assert_int_equal(uv_run(&t.loop, UV_RUN_NOWAIT), 1);
	assert_int_equal(d.calls, 0);
	assert_int_equal(conn_queued(t.c), len);
	conn_close(t.c, "give up");
	assert_int_equal(d.calls, 0);
	t_finish(&t);
	assert_int_equal(d.calls, 1);
	free(big);
}

/* The reading side of test_finish_flushes: a second conn. */
struct reader {
	struct conn *c;
	size_t nmsg;
	enum wire_type type[4];
	size_t batch_len;
	uint8_t *batch;
	char reason[WIRE_REASON_MAX + 1];
	int closed;
	char why[512];
};

static void r_on_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct reader *r = opaque;

	(void)c;
	assert_true(r->nmsg < 4);
	r->type[r->nmsg++] = m->type;
	if (m->type == WIRE_PAGE_BATCH) {
		r->batch_len = m->batch->batch.len;
		r->batch = malloc(r->batch_len);
		assert_non_null(r->batch);
		memcpy(r->batch, m->batch->batch.data, r->batch_len);
	} else if (m->type == WIRE_REFUSE) {
		snprintf(r->reason, sizeof(r->reason), "%s", m->refuse->reason);
	}
}

static void r_on_close(struct conn *c, const char *why, void *opaque)
{
	struct reader *r = opaque;

	(void)c;
	r->closed++;
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->c = NULL;
}

static const struct conn_ops r_ops = {
	.on_msg = r_on_msg,
	.on_close = r_on_close,
};

static void test_finish_flushes(void **state)
{
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	size_t blen = 6u << 20;
	uint8_t *batch = malloc(blen);
	struct rng rng = {7};
	struct reader rd;
	struct t t;

	(void)state;
	assert_non_null(batch);
	fill_random(&rng, batch, blen);
	memset(&rd, 0, sizeof(rd));
	t_init(&t, 16u << 20);
	/* The raw end becomes the reader conn, on the same loop. */
	rd.c = conn_new(&t.loop, CONN_PIPE, &r_ops, &rd, 1 << 20);
	assert_non_null(rd.c);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(rd.c), t.peer),
			 0);
	t.peer = -1;
	assert_int_equal(conn_start(rd.c), 0);

	pb.epoch = 5;
	pb.batch.data = batch;
	pb.batch.len = blen;
	assert_int_equal(conn_send_msg(t.c, WIRE_PAGE_BATCH, &pb.base), 0);
	rf.reason = "shutting down";
	assert_int_equal(conn_send_msg(t.c, WIRE_REFUSE, &rf.base), 0);
	/* Far more than a socket buffer: it is still queued. */
	assert_true(conn_queued(t.c) > (1u << 20));
	conn_finish(t.c, "refused the peer");
	assert_int_equal(t.closed, 1);
	assert_string_equal(t.why, "refused the peer");
	assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);

	/* The reader got both frames whole, then a clean end of stream. */
	assert_int_equal(rd.closed, 1);
	assert_int_equal(rd.nmsg, 2);
	assert_int_equal(rd.type[0], WIRE_PAGE_BATCH);
	assert_int_equal(rd.type[1], WIRE_REFUSE);
	assert_int_equal(rd.batch_len, blen);
	assert_memory_equal(rd.batch, batch, blen);
	assert_string_equal(rd.reason, "shutting down");
	if (!strstr(rd.why, "pipe closed the connection") ||
	    strstr(rd.why, "middle"))
		fail_msg("reader: \"%s\"", rd.why);
	assert_int_equal(uv_loop_close(&t.loop), 0);
	free(rd.batch);
	free(batch);
}

/* ---- conn_connect ------------------------------------------------------- */

/* A loopback listener that never accepts; returns its port. */
static int listener(int backlog, uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static int connected_calls;

static void c_connected(struct conn *c, void *opaque)
{
	struct t *t = opaque;

	assert_ptr_equal(c, t->c);
	connected_calls++;
	conn_close(c, "connected");
}

static void connect_test(struct t *t, uint16_t port, uint64_t timeout_ms)
{
	memset(t, 0, sizeof(*t));
	t->peer = -1;
	connected_calls = 0;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	t->c = conn_new(&t->loop, CONN_TCP, &t_ops, t, 1 << 16);
	assert_non_null(t->c);
	assert_int_equal(
		conn_connect(t->c, "127.0.0.1", port, timeout_ms, c_connected),
		0);
	run_until_closed(t);
}

static void test_connect(void **state)
{
	struct t t;
	uint16_t port;
	int fd = listener(4, &port);

	(void)state;
	/* Accepted by the kernel: connected, reading, then closed by us. */
	connect_test(&t, port, 10000);
	assert_int_equal(connected_calls, 1);
	assert_why(&t, "connected");
	t_finish(&t);
	close(fd);

	/* Nobody listens any more: refused, only on_close runs. */
	connect_test(&t, port, 10000);
	assert_int_equal(connected_calls, 0);
	assert_why(&t, "connection refused");
	t_finish(&t);

	/* Bad arguments: nothing starts, the caller closes. */
	assert_int_equal(uv_loop_init(&t.loop), 0);
	t.c = conn_new(&t.loop, CONN_TCP, &t_ops, &t, 1 << 16);
	t.closed = 0;
	assert_int_equal(
		conn_connect(t.c, "not-an-address", 1, 100, c_connected),
		UV_EINVAL);
	assert_int_equal(conn_connect(t.c, "127.0.0.1", 1, 0, c_connected),
			 UV_EINVAL);
	t_finish(&t);
}

/*
 * A listener whose accept queue is full drops SYNs, as a cut link does:
 * the connect is given up after its bound, not the kernel's minutes.
 */
static void test_connect_timeout(void **state)
{
	struct t t;
	uint16_t port;
	int fd = listener(0, &port), fill[4];
	struct sockaddr_in a = {.sin_family = AF_INET};

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		connect(fill[i], (struct sockaddr *)&a, sizeof(a));
	}
	connect_test(&t, port, 200);
	assert_int_equal(connected_calls, 0);
	assert_why(&t, "connect timed out after 200 ms");
	t_finish(&t);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(fd);
}

/* ---- authentication (auth.h) ---------------------------------------------- */

static struct auth_key test_key(uint8_t b)
{
	uint8_t bytes[32];
	struct auth_key k;

	memset(bytes, b, sizeof(bytes));
	auth_key_derive(&k, bytes, sizeof(bytes));
	return k;
}

/* Two conns on one loop, over a socketpair: a dialer and an acceptor. */
static void pair_init(uv_loop_t *loop, struct end *d, struct end *a,
		      const struct auth_key *kd, const struct auth_key *ka)
{
	pair_open(loop, d, a);
	if (kd)
		conn_set_auth(d->c, kd, 1);
	if (ka)
		conn_set_auth(a->c, ka, 0);
	pair_start(d, a);
}

static void pair_finish(uv_loop_t *loop, struct end *d, struct end *a)
{
	end_free(d);
	end_free(a);
	loop_finish(loop);
}

static void e_assert_stream(const struct end *e, const struct stream *s)
{
	assert_int_equal(e->nmsg, s->n);
	for (size_t i = 0; i < s->n; i++) {
		assert_int_equal(e->type[i], s->type[i]);
		assert_int_equal(e->plen[i] + FRAME_HEADER_SIZE, s->flen[i]);
		assert_memory_equal(e->packed[i],
				    s->p + s->off[i] + FRAME_HEADER_SIZE,
				    e->plen[i]);
	}
}

/*
 * Every message type both ways between two authenticated ends. Each side
 * sends its whole stream before the peer's Challenge can have arrived
 * (held, then sealed in order), then again once authenticated: in one
 * buffer holding every frame and cut at odd places (a PageBatch's
 * prefix-and-batch is such a cut), so that tags go between frames found
 * by their headers.
 */
static void test_auth_exchange(void **state)
{
	struct auth_key k = test_key(7);
	struct end d, a;
	struct stream s;
	uv_loop_t loop;
	struct done dd = {0}, da = {0};

	(void)state;
	stream_make(&s, 300000);
	pair_init(&loop, &d, &a, &k, &k);
	for (size_t i = 0; i < s.n; i++) {
		uv_buf_t b = uv_buf_init((char *)s.p + s.off[i],
					 (unsigned)s.flen[i]);

		assert_int_equal(conn_send(d.c, &b, 1, on_done, &dd), 0);
		assert_int_equal(conn_send(a.c, &b, 1, on_done, &da), 0);
	}
	/* Held frames count in the queue, with their tags. */
	assert_true(conn_queued(d.c) >= s.len + s.n * AUTH_TAG_BYTES);
	while ((d.nmsg < s.n || a.nmsg < s.n) && !d.closed && !a.closed)
		assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), 0);
	e_assert_stream(&d, &s);
	e_assert_stream(&a, &s);
	assert_int_equal(dd.calls, (int)s.n);

	/* The whole stream again, in 7 buffers cut anywhere. */
	{
		uv_buf_t b[7];
		size_t cut[8] = {0,
				 3,
				 5,
				 6,
				 s.off[2] + 9,
				 s.off[2] + 5000,
				 s.off[5] + 2,
				 s.len};

		for (int i = 0; i < 7; i++)
			b[i] = uv_buf_init((char *)s.p + cut[i],
					   (unsigned)(cut[i + 1] - cut[i]));
		for (size_t i = 0; i < d.nmsg; i++)
			free(d.packed[i]);
		for (size_t i = 0; i < a.nmsg; i++)
			free(a.packed[i]);
		d.nmsg = a.nmsg = 0;
		assert_int_equal(conn_send(d.c, b, 7, NULL, NULL), 0);
		assert_int_equal(conn_send(a.c, b, 7, NULL, NULL), 0);
		/* Not whole frames: refused, nothing sent. */
		assert_int_equal(conn_send(a.c, b, 1, on_done, &da), -EINVAL);
		while ((d.nmsg < s.n || a.nmsg < s.n) && !d.closed && !a.closed)
			assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), 0);
		e_assert_stream(&d, &s);
		e_assert_stream(&a, &s);
	}
	assert_int_equal(d.closed + a.closed, 0);
	while (conn_queued(d.c))
		assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), 0);
	/* The Challenge (version, 32-byte nonce, suites: 38 bytes), then
	 * every frame twice with its tag. */
	assert_int_equal(conn_tx_bytes(d.c),
			 FRAME_HEADER_SIZE + 38 +
				 2 * (s.len + s.n * AUTH_TAG_BYTES));
	pair_finish(&loop, &d, &a);
	free(s.p);
}

/* One side without a key: each says why, nothing is delivered. */
static void test_auth_peer_without_key(void **state)
{
	struct auth_key k = test_key(7);
	struct end d, a;
	uv_loop_t loop;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;

	(void)state;
	pair_init(&loop, &d, &a, &k, NULL);
	hb.term = 2;
	assert_int_equal(conn_send_msg(a.c, WIRE_HEARTBEAT, &hb.base), 0);
	assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base), 0);
	RUN_UNTIL(&loop, d.closed && a.closed);
	if (!strstr(a.why, "peer pipe authenticates its frames: set [cluster] "
			   "key_file on this node too"))
		fail_msg("keyless side: \"%s\"", a.why);
	if (!strstr(d.why, "peer pipe: did not authenticate (is [cluster] "
			   "key_file set on both nodes?)") &&
	    !strstr(d.why, "closed the connection"))
		fail_msg("keyed side: \"%s\"", d.why);
	assert_int_equal(d.nmsg + a.nmsg, 0);
	pair_finish(&loop, &d, &a);

	/* Different keys: the first tagged frame fails. */
	{
		struct auth_key k2 = test_key(8);

		pair_init(&loop, &d, &a, &k, &k2);
		assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base),
				 0);
		RUN_UNTIL(&loop, a.closed);
		assert_non_null(strstr(a.why,
				       "frame from pipe (Heartbeat, 2 bytes) "
				       "failed authentication (a different "
				       "key_file, or forged)"));
		assert_int_equal(a.nmsg, 0);
		pair_finish(&loop, &d, &a);
	}
}

/* The raw end plays an authenticated peer with auth.c itself. */
struct rawpeer {
	struct auth_session s;
	uint8_t nonce[AUTH_NONCE_BYTES];
};

/* Reads the conn's Challenge and answers with ours (dialer's side). */
static void raw_handshake(struct t *t, struct rawpeer *rp,
			  const struct auth_key *k)
{
	uint8_t hdr[FRAME_HEADER_SIZE], pl[256], *f;
	Remora__Challenge ch = REMORA__CHALLENGE__INIT;
	struct wire_msg m;
	size_t len;
	char err[256];

	peer_read(t, hdr, sizeof(hdr));
	assert_int_equal(hdr[4], WIRE_CHALLENGE);
	len = get_le32(hdr);
	assert_true(len <= sizeof(pl));
	peer_read(t, pl, len);
	assert_int_equal(
		wire_decode(WIRE_CHALLENGE, pl, len, &m, err, sizeof(err)), 0);
	memset(rp->nonce, 0x42, sizeof(rp->nonce));
	assert_int_equal(auth_session_init(&rp->s, k, rp->nonce,
					   m.challenge->nonce.data, 1,
					   AUTH_SUITE_CHACHA20_POLY1305),
			 0);
	wire_msg_free(&m);
	ch.version = AUTH_VERSION;
	ch.suites = AUTH_SUITE_CHACHA20_POLY1305;
	ch.nonce.data = rp->nonce;
	ch.nonce.len = sizeof(rp->nonce);
	assert_int_equal(wire_encode(WIRE_CHALLENGE, &ch.base, &f, &len), 0);
	peer_write(t, f, len);
	free(f);
}

/* A message as the raw peer sends it, tagged (or not): malloc()ed. */
static uint8_t *raw_frame(struct rawpeer *rp, enum wire_type type,
			  const ProtobufCMessage *msg, int tagged, size_t *len)
{
	uint8_t *f;

	assert_int_equal(wire_encode(type, msg, &f, len), 0);
	f = realloc(f, *len + AUTH_TAG_BYTES);
	if (tagged) {
		auth_seal(&rp->s.tx, f, f + FRAME_HEADER_SIZE,
			  *len - FRAME_HEADER_SIZE, f + *len);
		*len += AUTH_TAG_BYTES;
	}
	return f;
}

static Remora__Hello forged_hello(void)
{
	Remora__Hello h;

	wire_hello_init(&h, 2, 4096, 64u << 20, "wl", "mallory",
			REMORA__ROLE__ROLE_PRIMARY);
	return h;
}

/*
 * A forger without the key: a Hello before any Challenge, a Hello after a
 * well-formed Challenge but without a tag (or with 16 bytes of garbage),
 * never reach on_msg, and the connection closes saying why.
 */
static void test_auth_forged_hello(void **state)
{
	struct auth_key k = test_key(7);
	Remora__Hello h = forged_hello();
	struct rawpeer rp;
	uint8_t *f;
	size_t len;
	struct t t;

	(void)state;
	/* No Challenge at all. */
	t_init_keyed(&t, &k);
	f = raw_frame(&rp, WIRE_HELLO, &h.base, 0, &len);
	peer_write(&t, f, len);
	free(f);
	run_until_closed(&t);
	assert_int_equal(t.nmsg, 0);
	assert_why(&t, "peer pipe: did not authenticate (is [cluster] "
		       "key_file set on both nodes?)");
	t_finish(&t);

	/* A Challenge (anyone can make one), then an untagged Hello: its
	 * next 16 bytes are taken as its tag and fail. */
	t_init_keyed(&t, &k);
	raw_handshake(&t, &rp, &k);
	f = raw_frame(&rp, WIRE_HELLO, &h.base, 0, &len);
	peer_write(&t, f, len);
	assert_int_not_equal(uv_run(&t.loop, UV_RUN_NOWAIT), 0);
	assert_int_equal(t.closed, 0); /* waits for the tag's bytes */
	memset(f, 0, AUTH_TAG_BYTES);
	peer_write(&t, f, AUTH_TAG_BYTES);
	free(f);
	run_until_closed(&t);
	assert_int_equal(t.nmsg, 0);
	assert_why(&t, "(Hello, ");
	assert_why(&t, "failed authentication (a different key_file, or "
		       "forged)");
	t_finish(&t);

	/* The same with a key of its own. */
	{
		struct auth_key other = test_key(9);

		t_init_keyed(&t, &k);
		raw_handshake(&t, &rp, &other);
		f = raw_frame(&rp, WIRE_HELLO, &h.base, 1, &len);
		peer_write(&t, f, len);
		free(f);
		run_until_closed(&t);
		assert_int_equal(t.nmsg, 0);
		assert_why(&t, "failed authentication");
		t_finish(&t);
	}
}

/*
 * The right key: a tagged frame is delivered; the same bytes again (a
 * replay), or a later frame sent before an earlier one, close the
 * connection and are not delivered.
 */
static void test_auth_replay(void **state)
{
	struct auth_key k = test_key(7);
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct rawpeer rp;
	uint8_t *f, *g;
	size_t len, glen;
	struct t t;

	(void)state;
	hb.term = 3;
	t_init_keyed(&t, &k);
	raw_handshake(&t, &rp, &k);
	f = raw_frame(&rp, WIRE_HEARTBEAT, &hb.base, 1, &len);
	peer_write(&t, f, len);
	while (t.nmsg < 1 && !t.closed)
		assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
	assert_int_equal(t.nmsg, 1);
	assert_int_equal(t.type[0], WIRE_HEARTBEAT);
	peer_write(&t, f, len); /* replayed */
	free(f);
	run_until_closed(&t);
	assert_int_equal(t.nmsg, 1);
	assert_why(&t, "(Heartbeat, 2 bytes) failed authentication");
	t_finish(&t);

	/* Reordered: frame 1 arrives first. */
	t_init_keyed(&t, &k);
	raw_handshake(&t, &rp, &k);
	f = raw_frame(&rp, WIRE_HEARTBEAT, &hb.base, 1, &len);
	hb.term = 4;
	g = raw_frame(&rp, WIRE_HEARTBEAT, &hb.base, 1, &glen);
	peer_write(&t, g, glen);
	peer_write(&t, f, len);
	free(f);
	free(g);
	run_until_closed(&t);
	assert_int_equal(t.nmsg, 0);
	assert_why(&t, "failed authentication");
	t_finish(&t);
}

/*
 * conn_finish() right after sending a Refuse, before the peer's Challenge
 * came (a busy primary turning a backup away): the Refuse still reaches
 * the peer, tagged, then the stream ends.
 */
static void test_auth_finish_before_challenge(void **state)
{
	struct auth_key k = test_key(7);
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	struct end d, a;
	uv_loop_t loop;
	int sv[2];

	(void)state;
	memset(&d, 0, sizeof(d));
	memset(&a, 0, sizeof(a));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	a.c = conn_new(&loop, CONN_PIPE, &e_ops, &a, 1 << 20);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(a.c), sv[1]), 0);
	conn_set_auth(a.c, &k, 0);
	assert_int_equal(conn_start(a.c), 0);
	rf.reason = "primary is busy";
	assert_int_equal(conn_send_msg(a.c, WIRE_REFUSE, &rf.base), 0);
	conn_finish(a.c, "refused");
	assert_int_equal(a.closed, 1);
	/* The dialer only starts now. */
	d.c = conn_new(&loop, CONN_PIPE, &e_ops, &d, 1 << 20);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(d.c), sv[0]), 0);
	conn_set_auth(d.c, &k, 1);
	assert_int_equal(conn_start(d.c), 0);
	RUN_UNTIL(&loop, d.closed);
	assert_int_equal(d.nmsg, 1);
	assert_int_equal(d.type[0], WIRE_REFUSE);
	assert_non_null(strstr(d.why, "closed the connection"));
	pair_finish(&loop, &d, &a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_at_every_byte),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_big_frame),
		cmocka_unit_test(test_oversized_header),
		cmocka_unit_test(test_header_at_maximum),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_truncated_then_eof),
		cmocka_unit_test(test_bad_payload),
		cmocka_unit_test(test_close_from_handler),
		cmocka_unit_test(test_send_bound),
		cmocka_unit_test(test_send_after_close),
		cmocka_unit_test(test_close_cancels_queued),
		cmocka_unit_test(test_check_alive),
		cmocka_unit_test(test_trickle_is_not_alive),
		cmocka_unit_test(test_finish_flushes),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_auth_exchange),
		cmocka_unit_test(test_auth_peer_without_key),
		cmocka_unit_test(test_auth_forged_hello),
		cmocka_unit_test(test_auth_replay),
		cmocka_unit_test(test_auth_finish_before_challenge),
	};

	/* A write to a peer that is gone must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
