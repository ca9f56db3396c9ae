/*
 * One replication connection over libuv: frames in (frame.h + wire.h, every
 * nread case handled), frames out through a write queue with a byte bound.
 * Used by both daemons on their loop thread only.
 *
 * Lifetime: conn_new() creates the stream handle (TCP, or a pipe over any
 * connected socket for tests); the owner accepts or connects on
 * conn_stream() and then calls conn_start(). conn_close() (or any read,
 * write or decode error) closes it once: ops->on_close runs exactly once
 * with a one-line reason, after which no callback runs, and the memory is
 * freed when libuv has finished with the handle.
 */
#ifndef REMORA_CONN_H
#define REMORA_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "wire.h"

struct conn;
struct auth_key;
struct tls_ctx;

/*
 * What secures a node's replication connections: [cluster] key_file's key
 * (auth.h) or the context of its tls_* files (tls.h); config.c lets at
 * most one be set. Both must outlive every connection.
 */
struct conn_cred {
	const struct auth_key *key;
	struct tls_ctx *tls;
};

struct conn_ops {
	/* A decoded message; m is freed when this returns. May be NULL. */
	void (*on_msg)(struct conn *c, const struct wire_msg *m, void *opaque);
	/* The connection is gone (why: one line). c must not be used after.
	 * May be NULL. */
	void (*on_close)(struct conn *c, const char *why, void *opaque);
	/* A queued write completed (room may have appeared). May be NULL. */
	void (*on_drain)(struct conn *c, void *opaque);
};

enum conn_kind { CONN_TCP, CONN_PIPE };

/* NULL on out of memory. max_queued: the write queue bound in bytes. */
struct conn *conn_new(uv_loop_t *loop, enum conn_kind kind,
		      const struct conn_ops *ops, void *opaque,
		      size_t max_queued);

/* The stream to accept into, connect or open before conn_start(). */
uv_stream_t *conn_stream(struct conn *c);

/*
 * Connects a CONN_TCP connection to host:port (a node's numeric address),
 * for at most timeout_ms: a cut link that drops SYNs costs that long, not
 * the kernel's minutes. On success reading has started and connected(c,
 * opaque) runs; on failure (refused, unreachable, timed out) the connection
 * is closed and only on_close runs, with the reason. Returns 0, or a uv
 * error with nothing started (close c then).
 */
int conn_connect(struct conn *c, const char *host, uint16_t port,
		 uint64_t timeout_ms,
		 void (*connected)(struct conn *c, void *opaque));

/*
 * Authenticates the connection with the cluster key (auth.h; key must
 * outlive c): call before conn_start() or conn_connect(). dialer: 1 on the
 * side that connected, 0 on the side that accepted. Our Challenge goes out
 * first; frames sent before the peer's Challenge has come are held (they
 * count in the queue bound) and sent tagged, in order, when it does. A
 * first frame that is not a Challenge, a frame whose tag fails, and (on a
 * connection without a key) a Challenge close the connection, logging one
 * line; nothing of such a frame reaches on_msg.
 */
void conn_set_auth(struct conn *c, const struct auth_key *key, int dialer);

/*
 * Runs the connection inside TLS 1.3 with context t (tls.h; must outlive
 * c): call before conn_start() or conn_connect(). dialer: 1 on the side
 * that connected (TLS client), 0 on the side that accepted. expect_name:
 * the node whose name the peer's certificate must carry (the dialer's, the
 * node it dialled); NULL: any node of the cluster. Frames sent before the
 * handshake has completed are held (they count in the queue bound, with
 * what TLS adds) and go out encrypted, in order, when it has. A failed
 * handshake, a record that fails its check and, on a connection without
 * TLS, a peer that starts a TLS handshake close the connection, logging
 * one line with the peer and OpenSSL's reason and emitting "auth_refused"
 * with cause "tls"; nothing of such a record reaches on_msg.
 */
void conn_set_tls(struct conn *c, struct tls_ctx *t, int dialer,
		  const char *expect_name);

/*
 * conn_set_tls() or conn_set_auth(), whichever cred has. peer_name: the
 * node dialled, or NULL (accepting: any node of the cluster).
 */
void conn_set_cred(struct conn *c, const struct conn_cred *cred, int dialer,
		   const char *peer_name);

/*
 * The node name in the peer's verified TLS certificate (to compare with
 * its Hello's), or NULL: no TLS, or the handshake has not completed.
 */
const char *conn_tls_peer_name(const struct conn *c);

/* Starts reading (sets TCP_NODELAY for TCP). Returns 0 or a uv error. */
int conn_start(struct conn *c);

/* Closes once; later calls do nothing. why is copied. */
void conn_close(struct conn *c, const char *why);

/*
 * Like conn_close(), but the frames already queued (a Refuse, say) are
 * written first (for at most 5 s: a peer that stops reading does not keep
 * it alive). on_close runs now; nothing more is read.
 */
void conn_finish(struct conn *c, const char *why);
int conn_closing(const struct conn *c);

/*
 * Queues whole frames (bufs may cut them anywhere, and hold several);
 * done(arg) runs when the write has completed or was cancelled (always
 * exactly once, also on error returns). The bufs must stay valid until
 * then. Returns 0, -ENOBUFS when the queue (tags included) would pass its
 * bound, -EPIPE when closing, -EINVAL (authenticated connections only)
 * when the bytes do not end with a whole frame.
 */
int conn_send(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
	      void (*done)(void *arg), void *arg);

/* Encodes and queues one message. Same returns, plus -ENOMEM/-E2BIG. */
int conn_send_msg(struct conn *c, enum wire_type type,
		  const ProtobufCMessage *msg);

/* Bytes queued and not yet written (tags, TLS records and held frames
 * included); the bound. */
size_t conn_queued(const struct conn *c);
size_t conn_max_queued(const struct conn *c);

/*
 * uv_now() of the last whole frame received, or of conn_start() (liveness).
 * Bytes of a frame still incomplete do not count: a peer that trickles a
 * frame is as quiet as a silent one.
 */
uint64_t conn_last_rx_ms(const struct conn *c);

/*
 * The heartbeat watchdog: if no whole frame came from the peer (called name
 * in the log) for more than timeout_ms, closes the connection saying so and
 * what to change, and returns -ETIMEDOUT; else 0.
 */
int conn_check_alive(struct conn *c, uint64_t timeout_ms, const char *name);

/* Bytes sent and received so far. */
uint64_t conn_tx_bytes(const struct conn *c);
uint64_t conn_rx_bytes(const struct conn *c);

/* The peer address as text ("127.0.0.1:7301"), or "pipe". */
const char *conn_peer(const struct conn *c);

/* A node's replication address (numeric IPv4 or IPv6, config.h) for
 * connect or bind. 0 or a libuv error. */
int conn_addr(const char *host, uint16_t port, struct sockaddr_storage *a);

#endif
