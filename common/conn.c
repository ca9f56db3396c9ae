/*
 * A replication connection on libuv (see conn.h). Reads go through a frame
 * reader into wire_decode(); a frame that does not decode closes the
 * connection with the decoder's reason. Writes carry a completion callback so
 * that large buffers (page batches) are sent without a copy and freed by
 * their owner when the kernel has them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "frame.h"

#define CONN_READ_BUF (256u << 10)
/* How long conn_finish() waits for its last frames to go out. */
#define CONN_FINISH_MS 5000

struct conn_write {
	uv_write_t req;
	struct conn *c;
	size_t len;
	void (*done)(void *arg);
	void *arg;
};

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	enum conn_kind kind;
	const struct conn_ops *ops;
	void *opaque;
	struct frame_reader rd;
	uint8_t *rbuf;
	int rbuf_busy;
	size_t queued, max_queued;
	uint64_t last_rx_ms, tx_bytes, rx_bytes;
	int closing;
	uv_shutdown_t shutdown;
	uv_connect_t connect_req;
	void (*connected)(struct conn *c, void *opaque);
	uint64_t connect_timeout_ms;
	uv_timer_t timer; /* bounds conn_connect() and conn_finish() */
	int timer_on;	  /* timer is initialised */
	int handles;	  /* open libuv handles; freed at 0 */
	char peer[64];
};

struct conn *conn_new(uv_loop_t *loop, enum conn_kind kind,
		      const struct conn_ops *ops, void *opaque,
		      size_t max_queued)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->rbuf = malloc(CONN_READ_BUF);
	if (!c->rbuf) {
		free(c);
		return NULL;
	}
	if ((kind == CONN_TCP ? uv_tcp_init(loop, &c->h.tcp)
			      : uv_pipe_init(loop, &c->h.pipe, 0))) {
		free(c->rbuf);
		free(c);
		return NULL;
	}
	c->h.handle.data = c;
	c->handles = 1;
	c->kind = kind;
	c->ops = ops;
	c->opaque = opaque;
	c->max_queued = max_queued;
	c->last_rx_ms = uv_now(loop);
	snprintf(c->peer, sizeof(c->peer), "%s",
		 kind == CONN_TCP ? "(not connected)" : "pipe");
	frame_reader_init(&c->rd, wire_type_max);
	return c;
}

uv_stream_t *conn_stream(struct conn *c)
{
	return &c->h.stream;
}

static void set_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (c->kind != CONN_TCP ||
	    uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;

		uv_ip4_name(in, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;

		uv_ip6_name(in6, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host, port);
	}
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles)
		return;
	frame_reader_free(&c->rd);
	free(c->rbuf);
	free(c);
}

static void close_all(struct conn *c)
{
	if (!uv_is_closing(&c->h.handle))
		uv_close(&c->h.handle, on_closed);
	if (c->timer_on && !uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_closed);
}

static int ensure_timer(struct conn *c)
{
	int ret;

	if (c->timer_on)
		return 0;
	ret = uv_timer_init(c->h.handle.loop, &c->timer);
	if (ret)
		return ret;
	c->timer.data = c;
	c->timer_on = 1;
	c->handles++;
	return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	close_all(req->data);
}

/* A peer that stops reading must not keep a finished connection alive. */
static void on_finish_timeout(uv_timer_t *t)
{
	close_all(t->data);
}

/*
 * Closes once: reading stops, then either the stream closes now (pending
 * writes complete with UV_ECANCELED and free their buffers) or, with flush,
 * after the queued writes went out (bounded by CONN_FINISH_MS). on_close
 * runs now, with its own copy of why.
 */
static void shut(struct conn *c, const char *why, int flush)
{
	char reason[512];

	if (c->closing)
		return;
	c->closing = 1;
	snprintf(reason, sizeof(reason), "%s", why);
	uv_read_stop(&c->h.stream);
	if (flush) {
		c->shutdown.data = c;
		if (ensure_timer(c) == 0)
			uv_timer_start(&c->timer, on_finish_timeout,
				       CONN_FINISH_MS, 0);
		if (uv_shutdown(&c->shutdown, &c->h.stream, on_shutdown))
			close_all(c);
	} else {
		close_all(c);
	}
	if (c->ops->on_close)
		c->ops->on_close(c, reason, c->opaque);
}

void conn_close(struct conn *c, const char *why)
{
	shut(c, why, 0);
}

void conn_finish(struct conn *c, const char *why)
{
	shut(c, why, 1);
}

int conn_closing(const struct conn *c)
{
	return c->closing;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	/* One read at a time per stream: the buffer is reused. */
	*buf = uv_buf_init((char *)c->rbuf, CONN_READ_BUF);
}

static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct conn *c = opaque;
	struct wire_msg m;
	char err[256], why[384];

	if (c->closing)
		return -ECANCELED;
	/* Liveness counts whole frames: a peer trickling bytes (a Hello one
	 * byte at a time) must not look alive. */
	c->last_rx_ms = uv_now(c->h.handle.loop);
	if (wire_decode(type, payload, len, &m, err, sizeof(err))) {
		snprintf(why, sizeof(why), "bad frame from %s: %s", c->peer,
			 err);
		conn_close(c, why);
		return -EBADMSG;
	}
	if (c->ops->on_msg)
		c->ops->on_msg(c, &m, c->opaque);
	wire_msg_free(&m);
	/* The handler may have closed the connection: stop feeding then. */
	return c->closing ? -ECANCELED : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	char why[384];
	int ret;

	(void)buf;
	if (c->closing)
		return;
	if (nread == 0)
		return; /* EAGAIN: nothing this time */
	if (nread == UV_EOF) {
		snprintf(why, sizeof(why), "%s closed the connection%s",
			 c->peer,
			 frame_reader_idle(&c->rd) ? ""
						   : " in the middle of a "
						     "frame");
		conn_close(c, why);
		return;
	}
	if (nread < 0) {
		snprintf(why, sizeof(why), "connection to %s: %s", c->peer,
			 uv_strerror((int)nread));
		conn_close(c, why);
		return;
	}
	c->rx_bytes += (uint64_t)nread;
	ret = frame_feed(&c->rd, c->rbuf, (size_t)nread, on_frame, c);
	if (ret && !c->closing) {
		snprintf(why, sizeof(why), "bad frame from %s: %s", c->peer,
			 c->rd.why ? c->rd.why : strerror(-ret));
		conn_close(c, why);
	}
}

int conn_start(struct conn *c)
{
	if (c->kind == CONN_TCP) {
		uv_tcp_nodelay(&c->h.tcp, 1);
		set_peer(c);
	}
	c->last_rx_ms = uv_now(c->h.handle.loop);
	return uv_read_start(&c->h.stream, on_alloc, on_read);
}

static void on_connect_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	char why[64];

	snprintf(why, sizeof(why), "connect timed out after %llu ms",
		 (unsigned long long)c->connect_timeout_ms);
	shut(c, why, 0); /* cancels the connect: on_connected ignores it */
}

static void on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->closing)
		return; /* closed meanwhile (or timed out): on_close ran */
	uv_timer_stop(&c->timer);
	if (status < 0) {
		shut(c, uv_strerror(status), 0);
		return;
	}
	if (conn_start(c)) {
		shut(c, "cannot read from the connection", 0);
		return;
	}
	c->connected(c, c->opaque);
}

int conn_connect(struct conn *c, const char *host, uint16_t port,
		 uint64_t timeout_ms,
		 void (*connected)(struct conn *c, void *opaque))
{
	struct sockaddr_storage addr;
	int ret;

	if (c->kind != CONN_TCP || !timeout_ms)
		return UV_EINVAL;
	ret = conn_addr(host, port, &addr);
	if (!ret)
		ret = ensure_timer(c);
	if (ret)
		return ret;
	c->connected = connected;
	c->connect_timeout_ms = timeout_ms;
	c->connect_req.data = c;
	ret = uv_tcp_connect(&c->connect_req, &c->h.tcp,
			     (struct sockaddr *)&addr, on_connected);
	if (ret)
		return ret;
	uv_timer_start(&c->timer, on_connect_timeout, timeout_ms, 0);
	return 0;
}

static void on_written(uv_write_t *req, int status)
{
	struct conn_write *w = (struct conn_write *)req;
	struct conn *c = w->c;
	char why[384];

	c->queued -= w->len;
	if (status == 0)
		c->tx_bytes += w->len;
	if (w->done)
		w->done(w->arg);
	free(w);
	if (status < 0 && status != UV_ECANCELED && !c->closing) {
		snprintf(why, sizeof(why), "sending to %s: %s", c->peer,
			 uv_strerror(status));
		conn_close(c, why);
		return;
	}
	if (!c->closing && c->ops->on_drain)
		c->ops->on_drain(c, c->opaque);
}

int conn_send(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
	      void (*done)(void *arg), void *arg)
{
	struct conn_write *w;
	size_t len = 0;
	unsigned i;
	int ret;

	for (i = 0; i < nbufs; i++)
		len += bufs[i].len;
	if (c->closing)
		ret = -EPIPE;
	else if (c->queued + len > c->max_queued)
		ret = -ENOBUFS;
	else if (!(w = calloc(1, sizeof(*w))))
		ret = -ENOMEM;
	else {
		w->c = c;
		w->len = len;
		w->done = done;
		w->arg = arg;
		ret = uv_write(&w->req, &c->h.stream, bufs, nbufs, on_written);
		if (ret == 0) {
			c->queued += len;
			return 0;
		}
		free(w);
		ret = -EPIPE;
	}
	if (done)
		done(arg);
	return ret;
}

int conn_send_msg(struct conn *c, enum wire_type type,
		  const ProtobufCMessage *msg)
{
	uint8_t *frame;
	size_t len;
	uv_buf_t b;
	int ret;

	ret = wire_encode(type, msg, &frame, &len);
	if (ret)
		return ret;
	b = uv_buf_init((char *)frame, (unsigned)len);
	return conn_send(c, &b, 1, free, frame);
}

size_t conn_queued(const struct conn *c)
{
	return c->queued;
}

size_t conn_max_queued(const struct conn *c)
{
	return c->max_queued;
}

uint64_t conn_last_rx_ms(const struct conn *c)
{
	return c->last_rx_ms;
}

uint64_t conn_tx_bytes(const struct conn *c)
{
	return c->tx_bytes;
}

uint64_t conn_rx_bytes(const struct conn *c)
{
	return c->rx_bytes;
}

int conn_check_alive(struct conn *c, uint64_t timeout_ms, const char *name)
{
	uint64_t quiet = uv_now(c->h.handle.loop) - c->last_rx_ms;
	char why[384];

	if (quiet <= timeout_ms)
		return 0;
	snprintf(why, sizeof(why),
		 "no frame from %s for %llu ms > heartbeat_timeout %llu ms; "
		 "raise heartbeat_timeout if the link is slow",
		 name, (unsigned long long)quiet,
		 (unsigned long long)timeout_ms);
	conn_close(c, why);
	return -ETIMEDOUT;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

int conn_addr(const char *host, uint16_t port, struct sockaddr_storage *a)
{
	if (strchr(host, ':'))
		return uv_ip6_addr(host, port, (struct sockaddr_in6 *)a);
	return uv_ip4_addr(host, port, (struct sockaddr_in *)a);
}
