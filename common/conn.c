/*
 * A replication connection on libuv (see conn.h). Reads go through a frame
 * reader into wire_decode(); a frame that does not decode closes the
 * connection with the decoder's reason. Writes carry a completion callback so
 * that large buffers (page batches) are sent without a copy and freed by
 * their owner when the kernel has them.
 *
 * With TLS (conn_set_tls()), the socket carries TLS records and the frame
 * stream runs inside them: what libuv reads goes into the session
 * (tls.h), whose plaintext goes to the same frame reader, and what a send
 * queues is encrypted into one ciphertext buffer, written like any other
 * (done runs when that buffer is written, so the caller's bytes are held
 * no longer than without TLS). The handshake's messages and alerts are
 * written as they appear. Frames sent before the handshake has completed
 * are held, as for the peer's Challenge with a key.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bytes.h"
#include "conn.h"
#include "events.h"
#include "frame.h"
#include "log.h"
#include "tls.h"

#define CONN_READ_BUF (256u << 10)
/* A frame with at least this much payload still to come is read straight
 * into its payload buffer (frame_direct()), not copied out of rbuf. */
#define CONN_DIRECT_MIN (64u << 10)
/* How long conn_finish() waits for its last frames to go out. */
#define CONN_FINISH_MS 5000

struct conn_write {
	uv_write_t req;
	struct conn *c;
	size_t len; /* bytes, tags included */
	void (*done)(void *arg);
	void *arg;
	struct conn_write *next; /* held before the peer's Challenge */
	unsigned nin, nout;	 /* the caller's bufs; what is written */
	uv_buf_t *in, *out;	 /* both point into this allocation */
	uint8_t (*tags)[AUTH_TAG_BYTES];
	uint8_t *cipher; /* TLS: the ciphertext out points at; freed with w */
};

enum conn_auth {
	AUTH_OFF,  /* no key: frames as they are */
	AUTH_WAIT, /* our Challenge sent, the peer's not yet received */
	AUTH_ON,   /* every frame tagged and checked */
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
	int direct; /* the read in progress goes to frame_direct() */
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

	/* authentication (auth.h): NULL key, AUTH_OFF without */
	const struct auth_key *key;
	int dialer;
	enum conn_auth auth;
	uint8_t nonce[AUTH_NONCE_BYTES]; /* our Challenge's */
	struct auth_session sess;
	struct conn_write *held, **held_tail;
	/* conn_finish() while frames are held: still reading, for the
	 * peer's Challenge only, so that they can be sealed and sent */
	int finish_pending;

	/* TLS (tls.h) instead of a key: the context and this connection's
	 * session; NULL without */
	struct tls_ctx *tls_ctx;
	struct tls_session *tls;
	int tls_first; /* the peer's first byte, -1 before it came */
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
	c->held_tail = &c->held;
	c->tls_first = -1;
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
	auth_wipe(&c->sess, sizeof(c->sess));
	tls_session_free(c->tls);
	frame_reader_free(&c->rd);
	free(c->rbuf);
	free(c);
}

static void write_free(struct conn_write *w)
{
	free(w->cipher);
	free(w);
}

/* Frames held for the peer's Challenge are cancelled: done runs, as for a
 * write cancelled by the close. */
static void drop_held(struct conn *c)
{
	struct conn_write *w;

	while ((w = c->held)) {
		c->held = w->next;
		c->queued -= w->len;
		if (w->done)
			w->done(w->arg);
		write_free(w);
	}
	c->held_tail = &c->held;
}

static void close_all(struct conn *c)
{
	c->finish_pending = 0;
	drop_held(c);
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

static int tls_flush(struct conn *c);

/* Stops reading and closes once the queued writes are out (after a TLS
 * session's close_notify, so that the peer sees the end as intended). */
static void start_shutdown(struct conn *c)
{
	uv_read_stop(&c->h.stream);
	if (c->tls && tls_session_done(c->tls)) {
		tls_session_shutdown(c->tls);
		tls_flush(c);
	}
	c->shutdown.data = c;
	if (ensure_timer(c) == 0)
		uv_timer_start(&c->timer, on_finish_timeout, CONN_FINISH_MS, 0);
	if (uv_shutdown(&c->shutdown, &c->h.stream, on_shutdown))
		close_all(c);
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
	if (flush && c->held &&
	    (c->auth == AUTH_WAIT || (c->tls && !tls_session_done(c->tls)))) {
		/* Held frames (a Refuse) go out once the peer's Challenge
		 * is here, or the TLS handshake has completed: keep reading
		 * for it, for CONN_FINISH_MS. */
		c->finish_pending = 1;
		if (ensure_timer(c) == 0)
			uv_timer_start(&c->timer, on_finish_timeout,
				       CONN_FINISH_MS, 0);
		else
			close_all(c);
	} else if (flush) {
		start_shutdown(c);
	} else {
		uv_read_stop(&c->h.stream);
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
	/* Without TLS (which decrypts out of rbuf), a large payload in
	 * progress takes the bytes where they belong. */
	if (!c->tls && !c->closing) {
		size_t room;
		uint8_t *p = frame_direct(&c->rd, CONN_DIRECT_MIN, &room);

		if (p) {
			c->direct = 1;
			*buf = uv_buf_init((char *)p, room < UINT_MAX
							      ? (unsigned)room
							      : UINT_MAX);
			return;
		}
	}
	c->direct = 0;
	/* One read at a time per stream: the buffer is reused. */
	*buf = uv_buf_init((char *)c->rbuf, CONN_READ_BUF);
}

static int write_now(struct conn *c, struct conn_write *w);
static int tls_send(struct conn *c, struct conn_write *w);

/*
 * Walks the whole frames in bufs (found by their headers). With w, also
 * seals them into w->out: each frame's bytes, then its tag, using up one
 * sequence number per frame (so it runs in write order; bufs is w->in).
 * Returns the number of frames, or -EINVAL when the bytes do not end with
 * a whole frame (a caller's bug: the tags would go astray).
 */
static long walk_frames(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
			struct conn_write *w)
{
	struct auth_mac m;
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t hgot = 0, left = 0, take;
	long frames = 0;
	unsigned i;

	if (w)
		w->nout = 0;
	for (i = 0; i < nbufs; i++) {
		const uint8_t *p = (const uint8_t *)bufs[i].base;
		const uint8_t *start = p;
		size_t n = bufs[i].len;

		while (n > 0) {
			if (hgot < FRAME_HEADER_SIZE) {
				take = FRAME_HEADER_SIZE - hgot;
				if (take > n)
					take = n;
				memcpy(hdr + hgot, p, take);
				hgot += take;
				p += take;
				n -= take;
				if (hgot < FRAME_HEADER_SIZE)
					break;
				if (w) {
					auth_mac_begin(&m, &c->sess.tx);
					auth_mac_update(&m, hdr, sizeof(hdr));
				}
				left = get_le32(hdr);
			}
			take = left < n ? left : n;
			if (w)
				auth_mac_update(&m, p, take);
			p += take;
			n -= take;
			left -= take;
			if (left)
				continue;
			hgot = 0;
			if (w) {
				auth_mac_end(&m, w->tags[frames]);
				if (p > start)
					w->out[w->nout++] = uv_buf_init(
						(char *)start,
						(unsigned)(p - start));
				w->out[w->nout++] =
					uv_buf_init((char *)w->tags[frames],
						    AUTH_TAG_BYTES);
				start = p;
			}
			frames++;
		}
		if (w && p > start)
			w->out[w->nout++] = uv_buf_init((char *)start,
							(unsigned)(p - start));
	}
	return hgot ? -EINVAL : frames;
}

/* The peer's Challenge arrived (or the TLS handshake completed): our held
 * frames go out, sealed (encrypted), in order. */
static void send_held(struct conn *c)
{
	struct conn_write *w;
	char why[384];
	int ret;

	while ((w = c->held)) {
		c->held = w->next;
		if (!c->held)
			c->held_tail = &c->held;
		if (c->tls) {
			ret = tls_send(c, w);
			if (ret > 0)
				return; /* closed, with its line */
		} else {
			walk_frames(c, w->in, w->nin, w);
			ret = write_now(c, w);
		}
		if (ret) {
			snprintf(why, sizeof(why), "sending to %s: %s", c->peer,
				 uv_strerror(ret));
			if (c->closing)
				close_all(c); /* drops the rest */
			else
				conn_close(c, why);
			return;
		}
	}
}

/* Fails authentication: one line and one "auth_refused" event with its
 * cause (here, since an owner may not log a connection it was only
 * turning away), and the connection closes. */
static int auth_fail(struct conn *c, const char *cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int auth_fail(struct conn *c, const char *cause, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("%s", why);
	events_emit("auth_refused", EV_S("peer", c->peer), EV_S("cause", cause),
		    EV_S("why", why));
	if (c->closing)
		close_all(c);
	else
		conn_close(c, why);
	return -EBADMSG;
}

/*
 * The peer is authenticated (its Challenge came, or the TLS handshake
 * completed): held frames go out, and a conn_finish() asked meanwhile is
 * carried out. -ECANCELED when that closed or finished the connection.
 */
static int secured(struct conn *c)
{
	c->last_rx_ms = uv_now(c->h.handle.loop);
	send_held(c);
	if (c->finish_pending) {
		c->finish_pending = 0;
		start_shutdown(c);
		return -ECANCELED;
	}
	return c->closing ? -ECANCELED : 0;
}

/* The first frame from a peer while we wait for its Challenge. */
static int on_challenge(struct conn *c, uint8_t type, const uint8_t *payload,
			size_t len)
{
	const Remora__Challenge *ch;
	struct wire_msg m;
	unsigned suite;
	char err[256];
	int ret;

	if (type != WIRE_CHALLENGE)
		return auth_fail(c, "unauthenticated",
				 "peer %s: did not authenticate (is [cluster] "
				 "key_file set on both nodes?)",
				 c->peer);
	if (wire_decode(type, payload, len, &m, err, sizeof(err)))
		return auth_fail(c, "bad_challenge", "bad frame from %s: %s",
				 c->peer, err);
	ch = m.challenge;
	suite = auth_suite_choose(auth_suites(), ch->suites);
	if (ch->version != AUTH_VERSION)
		ret = auth_fail(c, "version",
				"peer %s: authentication version %u, this "
				"node speaks %u",
				c->peer, ch->version, AUTH_VERSION);
	else if (!suite)
		ret = auth_fail(c, "suite",
				"peer %s: no authentication suite in common "
				"(it offers 0x%x, this node 0x%x)",
				c->peer, ch->suites, auth_suites());
	else if (!memcmp(ch->nonce.data, c->nonce, AUTH_NONCE_BYTES))
		ret = auth_fail(c, "reflected",
				"peer %s: sent our own Challenge back",
				c->peer);
	else
		ret = auth_session_init(&c->sess, c->key,
					c->dialer ? c->nonce : ch->nonce.data,
					c->dialer ? ch->nonce.data : c->nonce,
					c->dialer, suite);
	wire_msg_free(&m);
	if (ret)
		return ret == -EBADMSG
			       ? ret
			       : auth_fail(c, "session", "auth: %d", ret);
	c->auth = AUTH_ON;
	frame_reader_set_trailer(&c->rd, AUTH_TAG_BYTES);
	return secured(c);
}

/* A tagged frame's check, before anything looks at its bytes. */
static int check_tag(struct conn *c, uint8_t type, const uint8_t *payload,
		     size_t len)
{
	struct auth_mac m;
	const uint8_t *tag;
	size_t tlen;

	tag = frame_reader_trailer(&c->rd, &tlen);
	auth_mac_begin(&m, &c->sess.rx);
	auth_mac_update(&m, frame_reader_header(&c->rd), FRAME_HEADER_SIZE);
	auth_mac_update(&m, payload, len);
	if (tlen != AUTH_TAG_BYTES || auth_mac_verify(&m, tag))
		return auth_fail(c, "bad_tag",
				 "frame from %s (%s, %zu bytes) failed "
				 "authentication (a different key_file, or "
				 "forged); connection closed",
				 c->peer, wire_type_name(type), len);
	if (type == WIRE_CHALLENGE)
		return auth_fail(c, "second_challenge",
				 "peer %s: a second Challenge", c->peer);
	return 0;
}

static int on_frame(void *opaque, uint8_t type, const uint8_t *payload,
		    size_t len)
{
	struct conn *c = opaque;
	struct wire_msg m;
	char err[256], why[384];

	if (c->auth == AUTH_WAIT)
		return on_challenge(c, type, payload, len);
	if (c->closing)
		return -ECANCELED;
	if (c->auth == AUTH_ON) {
		if (check_tag(c, type, payload, len))
			return -EBADMSG;
	} else if (type == WIRE_CHALLENGE) {
		return auth_fail(c, "keyless",
				 "peer %s authenticates its frames: set "
				 "[cluster] key_file on this node too",
				 c->peer);
	}
	/* Liveness counts whole frames: a peer trickling bytes (a Hello one
	 * byte at a time) must not look alive. */
	c->last_rx_ms = uv_now(c->h.handle.loop);
	if (wire_decode(type, payload, len, &m, err, sizeof(err))) {
		snprintf(why, sizeof(why), "bad frame from %s: %s", c->peer,
			 err);
		conn_close(c, why);
		return -EBADMSG;
	}
	/* TLS proved the peer's name: a Hello must not claim another. */
	if (m.type == WIRE_HELLO && c->tls && m.hello->node &&
	    strcmp(m.hello->node, conn_tls_peer_name(c) ?: "")) {
		auth_fail(c, "tls",
			  "peer %s: its Hello names node '%.64s' but its "
			  "certificate is for '%.64s'; connection closed",
			  c->peer, m.hello->node, conn_tls_peer_name(c) ?: "");
		wire_msg_free(&m);
		return -EBADMSG;
	}
	if (c->ops->on_msg)
		c->ops->on_msg(c, &m, c->opaque);
	wire_msg_free(&m);
	/* The handler may have closed the connection: stop feeding then. */
	return c->closing ? -ECANCELED : 0;
}

/* ---- TLS ---------------------------------------------------------------- */

/*
 * A TLS failure: one line naming the peer and OpenSSL's reason, the
 * "auth_refused" event with cause "tls", and the connection closes. A
 * peer whose first byte was not a TLS handshake record does not speak TLS
 * at all, which is what the operator has to fix.
 */
static void tls_fail(struct conn *c, const char *err)
{
	int plain = c->tls_first >= 0 && c->tls_first != 0x16;

	auth_fail(c, "tls", "peer %s: TLS %s failed: %s%s", c->peer,
		  tls_session_done(c->tls) ? "record" : "handshake", err,
		  plain ? " (it does not speak TLS: is [cluster] tls_* set on "
			  "both nodes?)"
			: "");
}

/*
 * Takes the ciphertext the session has waiting into w (a new write when w
 * is NULL), whose count in queued becomes exact. NULL on out of memory
 * (a w made here is freed).
 */
static struct conn_write *cipher_write(struct conn *c, struct conn_write *w)
{
	size_t n = tls_session_pending(c->tls);
	struct conn_write *made = NULL;

	if (!w) {
		w = made = calloc(1, sizeof(*w) + sizeof(uv_buf_t));
		if (!w)
			return NULL;
		w->c = c;
		w->out = (uv_buf_t *)(w + 1);
	}
	w->cipher = malloc(n ? n : 1);
	if (!w->cipher) {
		free(made);
		return NULL;
	}
	n = tls_session_take(c->tls, w->cipher, n);
	w->out[0] = uv_buf_init((char *)w->cipher, (unsigned)n);
	w->nout = 1;
	/* a send counted w at its estimate (tls_overhead()) */
	c->queued = c->queued - w->len + n;
	w->len = n;
	return w;
}

/* Writes the ciphertext the session has made on its own: handshake
 * messages, an alert, a close_notify. 0 or a uv error. */
static int tls_flush(struct conn *c)
{
	struct conn_write *w;

	if (!tls_session_pending(c->tls))
		return 0;
	w = cipher_write(c, NULL);
	if (!w)
		return UV_ENOMEM;
	return write_now(c, w);
}

/*
 * Encrypts w's bytes and writes them (w is counted in queued). Returns 0,
 * a uv error from the write, or 1 when the session failed (the connection
 * is closed, with its line); on any failure done has run and w is freed.
 */
static int tls_send(struct conn *c, struct conn_write *w)
{
	char err[256];
	unsigned i;
	int failed;

	for (i = 0; i < w->nin; i++)
		if (tls_session_write(c->tls, w->in[i].base, w->in[i].len, err,
				      sizeof(err)))
			break;
	failed = i < w->nin;
	if (failed || !cipher_write(c, w)) {
		c->queued -= w->len;
		if (w->done)
			w->done(w->arg);
		write_free(w);
		if (failed) {
			tls_fail(c, err);
			return 1;
		}
		return UV_ENOMEM;
	}
	return write_now(c, w);
}

/*
 * Ciphertext from the socket: into the session, then the handshake or
 * plaintext for the frame reader, whichever the session has. While
 * conn_finish() waits for the handshake (finish_pending), only the
 * handshake goes on.
 */
static void tls_read(struct conn *c, const uint8_t *p, size_t n)
{
	char err[256], why[384];
	ssize_t got;
	int ret;

	if (c->tls_first < 0 && n)
		c->tls_first = p[0];
	if (tls_session_feed(c->tls, p, n)) {
		conn_close(c, "out of memory for TLS input");
		return;
	}
	if (!tls_session_done(c->tls)) {
		ret = tls_session_handshake(c->tls, err, sizeof(err));
		tls_flush(c); /* our next flight, or the alert saying why */
		if (ret < 0) {
			tls_fail(c, err);
			return;
		}
		if (ret == 0 || secured(c))
			return;
	}
	/* c->rbuf is free: its ciphertext has been copied into the session. */
	while (!c->closing) {
		got = tls_session_read(c->tls, c->rbuf, CONN_READ_BUF, err,
				       sizeof(err));
		tls_flush(c);
		if (got == 0)
			return;
		if (got == -EPIPE) {
			snprintf(why, sizeof(why), "%s closed the connection%s",
				 c->peer,
				 frame_reader_idle(&c->rd)
					 ? ""
					 : " in the middle of a frame");
			conn_close(c, why);
			return;
		}
		if (got < 0) {
			tls_fail(c, err);
			return;
		}
		ret = frame_feed(&c->rd, c->rbuf, (size_t)got, on_frame, c);
		if (ret && !c->closing) {
			snprintf(why, sizeof(why), "bad frame from %s: %s",
				 c->peer,
				 c->rd.why ? c->rd.why : strerror(-ret));
			conn_close(c, why);
		}
	}
}

/*
 * A connection without TLS whose peer's first bytes are a TLS handshake
 * record (0x16, version 3.x): a frame never starts so (its length would be
 * over 64 KiB, far more than any first frame), and "bad frame" would not
 * tell the operator what to change.
 */
static int speaks_tls(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->tls || c->rx_bytes || n < 3 || p[0] != 0x16 || p[1] != 0x03 ||
	    p[2] > 0x04)
		return 0;
	auth_fail(c, "tls",
		  "peer %s speaks TLS: set [cluster] tls_* on this node too "
		  "(or remove them from the peer)",
		  c->peer);
	return 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	char why[384];
	int ret;

	(void)buf;
	if (c->closing) {
		/* conn_finish() waiting for the peer's Challenge (shut()). */
		if (!c->finish_pending)
			return;
		if (nread < 0)
			close_all(c);
		else if (nread > 0 && c->tls)
			tls_read(c, c->rbuf, (size_t)nread);
		else if (nread > 0 &&
			 frame_feed(&c->rd, c->rbuf, (size_t)nread, on_frame,
				    c) &&
			 c->finish_pending)
			close_all(c);
		return;
	}
	if (nread == 0)
		return; /* EAGAIN: nothing this time */
	if (nread == UV_EOF) {
		snprintf(why, sizeof(why), "%s closed the connection%s",
			 c->peer,
			 c->tls && !tls_session_done(c->tls)
				 ? " during the TLS handshake"
			 : frame_reader_idle(&c->rd) ? ""
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
	if (!c->direct && speaks_tls(c, c->rbuf, (size_t)nread))
		return;
	c->rx_bytes += (uint64_t)nread;
	if (c->tls) {
		tls_read(c, c->rbuf, (size_t)nread);
		return;
	}
	ret = c->direct
		      ? frame_direct_done(&c->rd, (size_t)nread, on_frame, c)
		      : frame_feed(&c->rd, c->rbuf, (size_t)nread, on_frame, c);
	if (ret && !c->closing) {
		snprintf(why, sizeof(why), "bad frame from %s: %s", c->peer,
			 c->rd.why ? c->rd.why : strerror(-ret));
		conn_close(c, why);
	}
}

void conn_set_auth(struct conn *c, const struct auth_key *key, int dialer)
{
	c->key = key;
	c->dialer = dialer;
}

void conn_set_tls(struct conn *c, struct tls_ctx *t, int dialer,
		  const char *expect_name)
{
	c->tls_ctx = t;
	c->dialer = dialer;
	/* NULL on out of memory: conn_start() and conn_send() fail then. */
	c->tls = tls_session_new(t, dialer, expect_name);
}

void conn_set_cred(struct conn *c, const struct conn_cred *cred, int dialer,
		   const char *peer_name)
{
	if (cred->tls)
		conn_set_tls(c, cred->tls, dialer, peer_name);
	else if (cred->key)
		conn_set_auth(c, cred->key, dialer);
}

const char *conn_tls_peer_name(const struct conn *c)
{
	return c->tls ? tls_session_peer_name(c->tls) : NULL;
}

/* Our Challenge, untagged, before anything else goes out. */
static int send_challenge(struct conn *c)
{
	Remora__Challenge ch = REMORA__CHALLENGE__INIT;
	uint8_t *frame;
	size_t len;
	uv_buf_t b;
	int ret;

	auth_random(c->nonce, sizeof(c->nonce));
	ch.version = AUTH_VERSION;
	ch.nonce.data = c->nonce;
	ch.nonce.len = sizeof(c->nonce);
	ch.suites = auth_suites();
	ret = wire_encode(WIRE_CHALLENGE, &ch.base, &frame, &len);
	if (ret)
		return ret;
	b = uv_buf_init((char *)frame, (unsigned)len);
	c->auth = AUTH_OFF; /* this one frame goes out as it is */
	ret = conn_send(c, &b, 1, free, frame);
	c->auth = AUTH_WAIT;
	return ret;
}

int conn_start(struct conn *c)
{
	int ret;

	if (c->kind == CONN_TCP) {
		uv_tcp_nodelay(&c->h.tcp, 1);
		set_peer(c);
	}
	c->last_rx_ms = uv_now(c->h.handle.loop);
	if (c->tls_ctx && !c->tls)
		return UV_ENOMEM;
	ret = uv_read_start(&c->h.stream, on_alloc, on_read);
	if (!ret && c->key && c->auth == AUTH_OFF)
		ret = send_challenge(c) ? UV_EPIPE : 0;
	if (!ret && c->tls && c->dialer) {
		char err[256];

		/* The ClientHello; a failure here is local (memory). */
		if (tls_session_handshake(c->tls, err, sizeof(err)) < 0)
			ret = UV_EPROTO;
		else
			ret = tls_flush(c);
	}
	return ret;
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
	write_free(w);
	if (status < 0 && status != UV_ECANCELED && !c->closing) {
		snprintf(why, sizeof(why), "sending to %s: %s", c->peer,
			 uv_strerror(status));
		conn_close(c, why);
		return;
	}
	if (!c->closing && c->ops->on_drain)
		c->ops->on_drain(c, c->opaque);
}

/* Writes w (counted in queued already); on failure done runs and w is
 * freed. 0 or a uv error. */
static int write_now(struct conn *c, struct conn_write *w)
{
	int ret;

	ret = uv_write(&w->req, &c->h.stream, w->out, w->nout, on_written);
	if (ret == 0)
		return 0;
	c->queued -= w->len;
	if (w->done)
		w->done(w->arg);
	write_free(w);
	return ret;
}

int conn_send(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
	      void (*done)(void *arg), void *arg)
{
	struct conn_write *w = NULL;
	size_t len = 0, frames = 0, size;
	unsigned i, nout = nbufs;
	long n;
	int ret;

	for (i = 0; i < nbufs; i++)
		len += bufs[i].len;
	if (c->auth != AUTH_OFF && !c->closing) {
		n = walk_frames(c, bufs, nbufs, NULL);
		if (n < 0) {
			ret = -EINVAL;
			goto out;
		}
		frames = (size_t)n;
		len += frames * AUTH_TAG_BYTES;
		nout = nbufs + 2 * (unsigned)frames;
	} else if (c->tls && !c->closing) {
		/* One ciphertext buffer; counted at most what it can take
		 * until it is made. */
		for (i = 0; i < nbufs; i++)
			len += tls_overhead(bufs[i].len);
		nout = 1;
	}
	size = sizeof(*w) + frames * AUTH_TAG_BYTES +
	       (nbufs + nout) * sizeof(uv_buf_t);
	if (c->closing)
		ret = -EPIPE;
	else if (c->tls_ctx && !c->tls)
		ret = -ENOMEM;
	else if (c->queued + len > c->max_queued)
		ret = -ENOBUFS;
	else if (!(w = calloc(1, size)))
		ret = -ENOMEM;
	else {
		w->c = c;
		w->len = len;
		w->done = done;
		w->arg = arg;
		w->tags = (uint8_t(*)[AUTH_TAG_BYTES])(w + 1);
		w->in = (uv_buf_t *)((uint8_t *)(w + 1) +
				     frames * AUTH_TAG_BYTES);
		w->out = w->in + nbufs;
		w->nin = nbufs;
		memcpy(w->in, bufs, nbufs * sizeof(*bufs));
		c->queued += len;
		if (c->tls) {
			if (!tls_session_done(c->tls)) {
				/* Encrypted when the handshake completes. */
				*c->held_tail = w;
				c->held_tail = &w->next;
				return 0;
			}
			/* tls_send() ran done on error. */
			return tls_send(c, w) ? -EPIPE : 0;
		}
		if (c->auth == AUTH_WAIT) {
			/* Sealed when the peer's Challenge comes. */
			*c->held_tail = w;
			c->held_tail = &w->next;
			return 0;
		}
		if (c->auth == AUTH_ON) {
			walk_frames(c, w->in, w->nin, w);
		} else {
			memcpy(w->out, bufs, nbufs * sizeof(*bufs));
			w->nout = nbufs;
		}
		/* write_now() ran done on error. */
		return write_now(c, w) ? -EPIPE : 0;
	}
out:
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
