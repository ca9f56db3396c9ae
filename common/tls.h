/*
 * TLS for the replication link ([cluster] tls_certificate, tls_private_key,
 * tls_ca): the alternative to key_file (auth.h) for operators who prefer
 * certificates. TLS 1.3 only, mutual: both ends present a certificate that
 * tls_ca signed and verify the peer's, and the name in it must be a node of
 * the cluster (the dialer: the very node it dialled).
 *
 * A tls_session is one connection's TLS engine over memory: ciphertext from
 * the socket goes in with tls_session_feed(), plaintext comes out of
 * tls_session_read(); plaintext goes in with tls_session_write() and the
 * ciphertext to send comes out of tls_session_take(). conn.c moves the bytes
 * between it and libuv; nothing here does I/O on a socket.
 *
 * Pure: no libuv, no I/O besides tls_ctx_load()'s three files, never exits.
 * Functions return 0 (or a count) or a negative errno, with one line in err
 * where there is one to say; a failed handshake or record gives OpenSSL's
 * reason ("certificate verify failed (unable to get local issuer
 * certificate)", "decryption failed or bad record mac").
 */
#ifndef REMORA_TLS_H
#define REMORA_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct tls_ctx;
struct tls_session;

/*
 * Reads the certificate, the private key and the CA of cfg ([cluster]
 * tls_*) and makes the context every connection of this node uses; the
 * cluster's node names are the names a peer's certificate may carry. Each
 * file must be a regular file (a FIFO is refused without blocking); the
 * private key must not be readable or writable by group or others, and
 * must match the certificate, which tls_ca must have signed. Returns 0, or
 * a negative errno with one line in err naming the key, the path and what
 * to do.
 */
int tls_ctx_load(struct tls_ctx **out, const struct config *cfg, char *err,
		 size_t errlen);

/* Whether cfg sets tls_* (config.c has checked: all three or none). */
int tls_configured(const struct config *cfg);

void tls_ctx_free(struct tls_ctx *t);

/*
 * A session on t (which must outlive it). dialer: 1 on the side that
 * connected (TLS client), 0 on the side that accepted (server).
 * expect_name: the node name the peer's certificate must carry (its
 * subjectAltName DNS names, or its CN when it has none); NULL: any node of
 * the cluster. NULL on out of memory.
 */
struct tls_session *tls_session_new(struct tls_ctx *t, int dialer,
				    const char *expect_name);
void tls_session_free(struct tls_session *s);

/* Ciphertext from the peer. 0, or -ENOMEM. */
int tls_session_feed(struct tls_session *s, const void *p, size_t n);

/*
 * Advances the handshake with what was fed: 1 when it has completed (the
 * peer's certificate and name verified), 0 when it needs more from the
 * peer, or -EPROTO with OpenSSL's reason in err. Either way there may be
 * ciphertext to send (tls_session_take()): on failure, the alert that
 * tells the peer why.
 */
int tls_session_handshake(struct tls_session *s, char *err, size_t errlen);
int tls_session_done(const struct tls_session *s);

/*
 * Plaintext that has arrived, up to n bytes: the count, 0 when nothing
 * more is there yet, -EPIPE when the peer closed the session (close_notify),
 * or -EPROTO with OpenSSL's reason in err (a record that fails its check, a
 * fatal alert from the peer).
 */
ssize_t tls_session_read(struct tls_session *s, void *buf, size_t n, char *err,
			 size_t errlen);

/* Encrypts n bytes of plaintext (after the handshake). 0, or -EPROTO with
 * the reason in err. */
int tls_session_write(struct tls_session *s, const void *p, size_t n, char *err,
		      size_t errlen);

/* Ends the session with a close_notify (to send; tls_session_take()). */
void tls_session_shutdown(struct tls_session *s);

/* Ciphertext waiting to be sent: its length, and taking up to n bytes of
 * it (returns the count). */
size_t tls_session_pending(const struct tls_session *s);
size_t tls_session_take(struct tls_session *s, void *buf, size_t n);

/* The bytes of ciphertext n bytes of plaintext written at once can take
 * at most (TLS 1.3 records: 16 KiB of plaintext, 22 bytes each). */
size_t tls_overhead(size_t n);

/* The node name the peer's verified certificate carries; NULL before the
 * handshake has completed. */
const char *tls_session_peer_name(const struct tls_session *s);

#endif
