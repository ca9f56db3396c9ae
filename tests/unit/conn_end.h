/*
 * Two conns on one loop, over a socketpair, each recording what it
 * receives and why it closed: the dialer and the acceptor of test_conn's
 * authentication cases (the key) and of test_tls. Credentials go on
 * between pair_open() and pair_start().
 */
#ifndef REMORA_TEST_CONN_END_H
#define REMORA_TEST_CONN_END_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "conn.h"
#include "wire.h"

#define END_MSG_MAX 32

struct end {
	struct conn *c;
	size_t nmsg;
	enum wire_type type[END_MSG_MAX];
	uint8_t *packed[END_MSG_MAX]; /* each message packed again */
	size_t plen[END_MSG_MAX];
	int closed;
	char why[512];
	char peer_name[64]; /* conn_tls_peer_name() at the first message */
};

static inline void e_on_msg(struct conn *c, const struct wire_msg *m,
			    void *opaque)
{
	struct end *e = opaque;
	size_t len = protobuf_c_message_get_packed_size(m->base);
	const char *pn = conn_tls_peer_name(c);

	assert_ptr_equal(c, e->c);
	assert_true(e->nmsg < END_MSG_MAX);
	if (!e->nmsg)
		snprintf(e->peer_name, sizeof(e->peer_name), "%s",
			 pn ? pn : "(none)");
	e->type[e->nmsg] = m->type;
	e->packed[e->nmsg] = malloc(len + 1);
	protobuf_c_message_pack(m->base, e->packed[e->nmsg]);
	e->plen[e->nmsg++] = len;
}

static inline void e_on_close(struct conn *c, const char *why, void *opaque)
{
	struct end *e = opaque;

	assert_ptr_equal(c, e->c);
	e->closed++;
	snprintf(e->why, sizeof(e->why), "%s", why);
	e->c = NULL;
}

static const struct conn_ops e_ops = {.on_msg = e_on_msg,
				      .on_close = e_on_close};

/* A conn on fd, not started. */
static inline void end_open(uv_loop_t *loop, struct end *e, int fd)
{
	memset(e, 0, sizeof(*e));
	e->c = conn_new(loop, CONN_PIPE, &e_ops, e, 1 << 24);
	assert_non_null(e->c);
	assert_int_equal(uv_pipe_open((uv_pipe_t *)conn_stream(e->c), fd), 0);
}

/* loop, and dialer d and acceptor a over a socketpair, not started. */
static inline void pair_open(uv_loop_t *loop, struct end *d, struct end *a)
{
	int sv[2];

	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	end_open(loop, d, sv[0]);
	end_open(loop, a, sv[1]);
}

static inline void pair_start(struct end *d, struct end *a)
{
	assert_int_equal(conn_start(a->c), 0);
	assert_int_equal(conn_start(d->c), 0);
}

static inline void end_free(struct end *e)
{
	if (e->c)
		conn_close(e->c, "test over");
	for (size_t i = 0; i < e->nmsg; i++)
		free(e->packed[i]);
}

/* After end_free() of both ends: the loop runs dry and closes. */
static inline void loop_finish(uv_loop_t *loop)
{
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* Runs loop until cond holds (the turn that makes it true may also be the
 * last one with an active handle). */
#define RUN_UNTIL(loop, cond)                                               \
	do {                                                                \
		while (!(cond))                                             \
			if (!uv_run((loop), UV_RUN_ONCE) && !(cond))        \
				fail_msg("the loop ran dry before " #cond); \
	} while (0)

#endif
