/*
 * Unit tests for the replication link's TLS (common/tls.h, and conn.c's use
 * of it): two conns on one libuv loop over a socketpair, with certificates
 * made at test time by the openssl CLI in a temporary directory (two CAs;
 * nodes a, b and x from the first, a "b" from the second).
 *
 * Frames flow both ways, also those sent before the handshake completed
 * (held, in order), and each side knows the other's verified node name. A
 * peer whose certificate another CA signed, a certificate for the wrong
 * node, and a peer that does not speak TLS are refused: the connection
 * closes, one warn line and one "auth_refused" event (cause "tls") on the
 * side that refuses, and nothing reaches on_msg. A record altered on the
 * way (a relay between the two conns flips a byte) closes the connection
 * and delivers nothing. tls_ctx_load() refuses a FIFO, a private key open
 * to others, a key of another certificate and a certificate of another CA,
 * each with its line. Every test ends by running the loop dry and checking
 * that it closes, which catches leaked handles.
 *
 * Without the openssl CLI the tests fail, saying that scripts/setup
 * installs it: a skipped security test would pass unseen.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "conn_end.h"
#include "events.h"
#include "frame.h"
#include "testutil.h"
#include "tls.h"
#include "wire.h"

#define MAXMSG 16 /* frames of a test stream */

static char dir[64];	      /* the certificates */
static struct config cfg;     /* nodes a and b, and the tls_* paths */
static struct tls_ctx *ctx_a; /* a's certificate, CA 1 */
static struct tls_ctx *ctx_b; /* b's certificate, CA 1 */

/* Runs a shell command line; its status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* What docs/operations.md tells the operator to run, per CA and node. */
static const char make_certs[] =
	"set -e; cd '%s'\n"
	"ca() { openssl req -x509 -newkey ec -pkeyopt "
	"ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.pem -days 2 "
	"-subj /CN=$1 -addext basicConstraints=critical,CA:TRUE -addext "
	"keyUsage=critical,keyCertSign,cRLSign; }\n"
	"node() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	"-nodes -keyout $3.key -out $3.csr -subj /CN=$1\n"
	"  printf 'subjectAltName=DNS:%%s\\nextendedKeyUsage=serverAuth,"
	"clientAuth\\n' $1 > $3.ext\n"
	"  openssl x509 -req -in $3.csr -CA $2.pem -CAkey $2.key "
	"-CAcreateserial -days 2 -extfile $3.ext -out $3.pem; "
	"chmod 600 $3.key; }\n"
	"ca ca1; ca ca2; node a ca1 a; node b ca1 b; node x ca1 x; "
	"node b ca2 b2\n";

/* A config of nodes a and b whose tls_* are DIR/CERT.pem, CERT.key, CA.pem
 * (cert "-": none). */
static int load_cfg(struct config *c, const char *cert, const char *ca,
		    char *err, size_t errlen)
{
	static const char text[] =
		"[cluster]\nname = t\n"
		"[node a]\nreplication_address = 127.0.0.1:7301\n"
		"role = primary\n"
		"[node b]\nreplication_address = 127.0.0.1:7302\n"
		"role = backup\n"
		"[workload]\nguest = g.elf\n";
	int n;

	n = config_parse(text, strlen(text), "t.conf", dir, c, err, errlen);
	if (n || !strcmp(cert, "-"))
		return n;
	snprintf(c->tls_certificate, sizeof(c->tls_certificate), "%s/%s.pem",
		 dir, cert);
	snprintf(c->tls_private_key, sizeof(c->tls_private_key), "%s/%s.key",
		 dir, cert);
	snprintf(c->tls_ca, sizeof(c->tls_ca), "%s/%s.pem", dir, ca);
	return 0;
}

static struct tls_ctx *ctx_of(const char *cert, const char *ca)
{
	struct config *c = calloc(1, sizeof(*c));
	struct tls_ctx *t = NULL;
	char err[512];

	assert_non_null(c);
	assert_int_equal(load_cfg(c, cert, ca, err, sizeof(err)), 0);
	if (tls_ctx_load(&t, c, err, sizeof(err)))
		fail_msg("tls_ctx_load(%s, %s): %s", cert, ca, err);
	free(c);
	return t;
}

static int group_setup(void **state)
{
	char err[512], script[sizeof(make_certs) + 64];

	(void)state;
	if (sh("openssl version >/dev/null 2>&1")) {
		fprintf(stderr,
			"test_tls: the openssl command is missing; "
			"scripts/setup installs it (package openssl)\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "/tmp/remora-tls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(script, sizeof(script), make_certs, dir);
	if (sh("(%s) >%s/openssl.log 2>&1", script, dir) != 0) {
		fprintf(stderr, "test_tls: making certificates failed:\n");
		sh("cat %s/openssl.log >&2", dir);
		return -1;
	}
	if (load_cfg(&cfg, "a", "ca1", err, sizeof(err)))
		return -1;
	ctx_a = ctx_of("a", "ca1");
	ctx_b = ctx_of("b", "ca1");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tls_ctx_free(ctx_a);
	tls_ctx_free(ctx_b);
	if (*dir)
		sh("rm -rf %s", dir);
	return 0;
}

/* ---- two conns ---------------------------------------------------------- */

/* Dialer d (expecting node expect) and acceptor a over a socketpair. */
static void pair_init(uv_loop_t *loop, struct end *d, struct end *a,
		      struct tls_ctx *td, struct tls_ctx *ta,
		      const char *expect)
{
	pair_open(loop, d, a);
	if (td)
		conn_set_tls(d->c, td, 1, expect);
	if (ta)
		conn_set_tls(a->c, ta, 0, NULL);
	pair_start(d, a);
}

/*
 * Dialer d (td, expecting node expect) says a Heartbeat to acceptor a
 * (ta): both must close, with nothing delivered. d and a keep their why.
 */
static void refused_pair(struct end *d, struct end *a, struct tls_ctx *td,
			 struct tls_ctx *ta, const char *expect)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	uv_loop_t loop;

	pair_init(&loop, d, a, td, ta, expect);
	assert_int_equal(conn_send_msg(d->c, WIRE_HEARTBEAT, &hb.base), 0);
	RUN_UNTIL(&loop, d->closed && a->closed);
	end_free(d);
	end_free(a);
	loop_finish(&loop);
	assert_int_equal(d->nmsg + a->nmsg, 0);
}

/* ---- what a refusal leaves: stderr lines and events ---------------------- */

struct capture {
	int saved;
	char log[128], ev[128];
};

/* From here, log lines go to a file and events to another. */
static void capture_begin(struct capture *k, const char *name)
{
	int fd;

	snprintf(k->log, sizeof(k->log), "%s/%s.log", dir, name);
	snprintf(k->ev, sizeof(k->ev), "%s/%s.events", dir, name);
	fd = open(k->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	k->saved = dup(2);
	assert_true(k->saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	unlink(k->ev);
	assert_int_equal(events_init(k->ev, "t", "test"), 0);
}

/* Lines of file path containing what. */
static int count_lines(const char *path, const char *what, char *last,
		       size_t lastlen)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what)) {
			n++;
			if (last)
				snprintf(last, lastlen, "%s", line);
		}
	fclose(f);
	return n;
}

/*
 * Ends the capture and checks that n warn lines and n "auth_refused"
 * events, all of cause "tls", were written (n: the sides that refused),
 * and that each string in the NULL-ended list is in exactly one line:
 * each refusal is one line.
 */
static void capture_expect(struct capture *k, int n, ...)
{
	char line[2048] = "", ev[2048] = "";
	const char *want;
	va_list ap;
	int nl, ne, nt;

	fflush(stderr);
	assert_int_equal(dup2(k->saved, 2), 2);
	close(k->saved);
	events_close();
	nl = count_lines(k->log, " warn: ", line, sizeof(line));
	ne = count_lines(k->ev, "\"event\": \"auth_refused\"", ev, sizeof(ev));
	nt = count_lines(k->ev, "\"cause\": \"tls\"", NULL, 0);
	if (nl != n || ne != n || nt != n)
		fail_msg("%d warn lines (last: %s), %d auth_refused events, %d "
			 "of cause tls (last: %s); want %d each",
			 nl, line, ne, nt, ev, n);
	va_start(ap, n);
	while ((want = va_arg(ap, const char *)))
		if (count_lines(k->log, want, line, sizeof(line)) != 1) {
			sh("cat %s >&2", k->log);
			fail_msg("not one line saying \"%s\" (%d lines)", want,
				 count_lines(k->log, want, NULL, 0));
		}
	va_end(ap);
}

/* ---- frames ------------------------------------------------------------- */

struct frames {
	size_t n;
	enum wire_type type[MAXMSG];
	uint8_t *f[MAXMSG]; /* whole frames */
	size_t len[MAXMSG];
};

static void frames_add(struct frames *s, enum wire_type type,
		       const ProtobufCMessage *m)
{
	assert_int_equal(wire_encode(type, m, &s->f[s->n], &s->len[s->n]), 0);
	s->type[s->n++] = type;
}

/* A Hello from node, a PageBatch of batch_len random bytes (many TLS
 * records), a Heartbeat and a Refuse. */
static void frames_make(struct frames *s, size_t batch_len, const char *node)
{
	Remora__Hello h;
	Remora__PageBatch pb = REMORA__PAGE_BATCH__INIT;
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	struct rng rng = {7};
	uint8_t *batch = malloc(batch_len);

	assert_non_null(batch);
	fill_random(&rng, batch, batch_len);
	memset(s, 0, sizeof(*s));
	wire_hello_init(&h, 1, 4096, 64u << 20, "wl", node,
			REMORA__ROLE__ROLE_BACKUP);
	frames_add(s, WIRE_HELLO, &h.base);
	pb.epoch = 3;
	pb.term = 1;
	pb.batch.data = batch;
	pb.batch.len = batch_len;
	frames_add(s, WIRE_PAGE_BATCH, &pb.base);
	hb.term = 1;
	frames_add(s, WIRE_HEARTBEAT, &hb.base);
	rf.reason = "bye";
	frames_add(s, WIRE_REFUSE, &rf.base);
	free(batch);
}

static void frames_free(struct frames *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->f[i]);
}

static void send_all(struct conn *c, const struct frames *s)
{
	for (size_t i = 0; i < s->n; i++) {
		uv_buf_t b = uv_buf_init((char *)s->f[i], (unsigned)s->len[i]);

		assert_int_equal(conn_send(c, &b, 1, NULL, NULL), 0);
	}
}

/* e received s's frames from offset `from` of its messages on. */
static void assert_got(const struct end *e, size_t from, const struct frames *s)
{
	assert_int_equal(e->nmsg, from + s->n);
	for (size_t i = 0; i < s->n; i++) {
		assert_int_equal(e->type[from + i], s->type[i]);
		assert_int_equal(e->plen[from + i] + FRAME_HEADER_SIZE,
				 s->len[i]);
		assert_memory_equal(e->packed[from + i],
				    s->f[i] + FRAME_HEADER_SIZE,
				    e->plen[from + i]);
	}
}

/* ---- tests -------------------------------------------------------------- */

/*
 * Both ways: the frames sent before the handshake (held: they count in
 * the queue, with what TLS adds), then again after it; each side names
 * the other's node; the stream on the wire is not the frames in clear.
 */
static void test_exchange(void **state)
{
	struct end d, a;
	struct frames s, sa; /* b's frames, a's */
	uv_loop_t loop;

	(void)state;
	frames_make(&s, 3u << 20, "b");
	frames_make(&sa, 3u << 20, "a");
	pair_init(&loop, &d, &a, ctx_b, ctx_a, "a");
	assert_null(conn_tls_peer_name(d.c));
	send_all(d.c, &s);
	send_all(a.c, &sa);
	assert_true(conn_queued(d.c) > s.len[1]);
	RUN_UNTIL(&loop,
		  (d.nmsg == s.n && a.nmsg == s.n) || d.closed || a.closed);
	assert_int_equal(d.closed + a.closed, 0);
	assert_got(&d, 0, &sa);
	assert_got(&a, 0, &s);
	assert_string_equal(d.peer_name, "a");
	assert_string_equal(a.peer_name, "b");
	assert_string_equal(conn_tls_peer_name(d.c), "a");
	assert_string_equal(conn_tls_peer_name(a.c), "b");

	send_all(a.c, &sa);
	send_all(d.c, &s);
	RUN_UNTIL(&loop, (d.nmsg == 2 * s.n && a.nmsg == 2 * s.n) || d.closed ||
				 a.closed);
	assert_got(&d, s.n, &sa);
	assert_got(&a, s.n, &s);
	while (conn_queued(d.c) || conn_queued(a.c))
		assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), 0);
	/* Records and the handshake on top of the frames, not far above. */
	{
		size_t plain = 0;

		for (size_t i = 0; i < s.n; i++)
			plain += 2 * s.len[i];
		assert_true(conn_tx_bytes(d.c) > plain);
		assert_true(conn_tx_bytes(d.c) < plain + plain / 100 + 4096);
		assert_int_equal(conn_rx_bytes(a.c), conn_tx_bytes(d.c));
	}
	/* A conn_finish(): the peer sees the end, after everything. */
	conn_finish(d.c, "done");
	RUN_UNTIL(&loop, a.closed);
	if (!strstr(a.why, "pipe closed the connection") ||
	    strstr(a.why, "middle"))
		fail_msg("acceptor: \"%s\"", a.why);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	frames_free(&s);
	frames_free(&sa);
}

/*
 * conn_finish() right after a Refuse, before the handshake has completed
 * (a busy primary turning a backup away): the Refuse still reaches the
 * dialer, encrypted, then the stream ends.
 */
static void test_finish_before_handshake(void **state)
{
	Remora__Refuse rf = REMORA__REFUSE__INIT;
	struct end d, a;
	uv_loop_t loop;

	(void)state;
	pair_init(&loop, &d, &a, ctx_b, ctx_a, "a");
	rf.reason = "primary is busy";
	assert_int_equal(conn_send_msg(a.c, WIRE_REFUSE, &rf.base), 0);
	conn_finish(a.c, "refused");
	assert_int_equal(a.closed, 1);
	RUN_UNTIL(&loop, d.closed);
	assert_int_equal(d.nmsg, 1);
	assert_int_equal(d.type[0], WIRE_REFUSE);
	assert_non_null(strstr(d.why, "pipe closed the connection"));
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
}

/*
 * A dialer whose certificate (and trust) is another CA's: it refuses the
 * acceptor's certificate, and its alert makes the acceptor refuse too.
 * Then a dialer that trusts both CAs but whose certificate is the other
 * CA's: the acceptor refuses it, and the dialer hears why by the alert.
 * Each side writes one line; nothing is delivered either way.
 */
static void test_other_ca(void **state)
{
	struct tls_ctx *other = ctx_of("b2", "ca2");
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct capture k;
	struct end d, a;
	uv_loop_t loop;

	(void)state;
	capture_begin(&k, "other_ca");
	pair_init(&loop, &d, &a, other, ctx_a, "a");
	assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base), 0);
	assert_int_equal(conn_send_msg(a.c, WIRE_HEARTBEAT, &hb.base), 0);
	RUN_UNTIL(&loop, d.closed && a.closed);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	tls_ctx_free(other);
	assert_int_equal(d.nmsg + a.nmsg, 0);
	capture_expect(&k, 2,
		       "peer pipe: TLS handshake failed: certificate verify "
		       "failed (unable to get local issuer certificate)",
		       "peer pipe: TLS handshake failed: tlsv1 alert unknown "
		       "ca",
		       NULL);
	if (!strstr(d.why, "unable to get local issuer certificate"))
		fail_msg("dialer: \"%s\"", d.why);
	if (!strstr(a.why, "alert unknown ca"))
		fail_msg("acceptor: \"%s\"", a.why);

	assert_int_equal(
		sh("cat %s/ca1.pem %s/ca2.pem > %s/both.pem", dir, dir, dir),
		0);
	other = ctx_of("b2", "both");
	capture_begin(&k, "other_ca_acceptor");
	refused_pair(&d, &a, other, ctx_a, "a");
	tls_ctx_free(other);
	capture_expect(&k, 2,
		       "certificate verify failed (unable to get local issuer "
		       "certificate)",
		       "alert unknown ca", NULL);
	if (!strstr(a.why, "peer pipe: TLS handshake failed: certificate "
			   "verify failed (unable to get local issuer "
			   "certificate)"))
		fail_msg("acceptor: \"%s\"", a.why);
}

/*
 * The backup expects node a, and the certificate it gets is x's (same CA):
 * refused, saying whose it is. The other way: a dialer whose certificate
 * names no node of the cluster is refused by the acceptor.
 */
static void test_wrong_name(void **state)
{
	struct tls_ctx *x = ctx_of("x", "ca1");
	struct capture k;
	struct end d, a;

	(void)state;
	capture_begin(&k, "wrong_name");
	refused_pair(&d, &a, ctx_b, x, "a");
	capture_expect(&k, 2,
		       "certificate verify failed (hostname mismatch: its "
		       "certificate is for x, not for node a)",
		       NULL);
	if (!strstr(d.why, "peer pipe: TLS handshake failed: certificate "
			   "verify failed (hostname mismatch: its "
			   "certificate is for x, not for node a)"))
		fail_msg("dialer: \"%s\"", d.why);

	capture_begin(&k, "wrong_name_acceptor");
	refused_pair(&d, &a, x, ctx_a, "a");
	capture_expect(&k, 2,
		       "its certificate is for x, not for a node of this "
		       "cluster",
		       NULL);
	tls_ctx_free(x);
}

/*
 * A Hello that names another node than the sender's certificate proves:
 * refused by the receiver with one line, never delivered; frames before it
 * from the same peer were.
 */
static void test_hello_name(void **state)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	Remora__Hello h;
	struct capture k;
	struct end d, a;
	uv_loop_t loop;

	(void)state;
	capture_begin(&k, "hello_name");
	pair_init(&loop, &d, &a, ctx_b, ctx_a, "a");
	hb.term = 1;
	assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base), 0);
	wire_hello_init(&h, 1, 4096, 64u << 20, "wl", "c",
			REMORA__ROLE__ROLE_BACKUP);
	assert_int_equal(conn_send_msg(d.c, WIRE_HELLO, &h.base), 0);
	RUN_UNTIL(&loop, a.closed);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	assert_int_equal(a.nmsg, 1);
	assert_int_equal(a.type[0], WIRE_HEARTBEAT);
	capture_expect(&k, 1,
		       "its Hello names node 'c' but its certificate is for "
		       "'b'",
		       NULL);
}

/*
 * A peer without TLS: a plain dialer's Hello makes the TLS acceptor say
 * that it does not speak TLS; a plain acceptor that gets a ClientHello
 * says to set tls_* on it too. Only the TLS-less peer's side refuses
 * (the other has no line to say), and neither delivers anything.
 */
static void test_plain_peer(void **state)
{
	struct capture k;
	struct end d, a;
	uv_loop_t loop;
	struct frames s;

	(void)state;
	frames_make(&s, 100, "b");
	capture_begin(&k, "plain_dialer");
	pair_init(&loop, &d, &a, NULL, ctx_a, NULL);
	send_all(d.c, &s);
	RUN_UNTIL(&loop, d.closed && a.closed);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	assert_int_equal(d.nmsg + a.nmsg, 0);
	capture_expect(&k, 1,
		       "(it does not speak TLS: is [cluster] tls_* set on both "
		       "nodes?)",
		       NULL);
	if (!strstr(a.why, "peer pipe: TLS handshake failed: "))
		fail_msg("acceptor: \"%s\"", a.why);

	capture_begin(&k, "plain_acceptor");
	pair_init(&loop, &d, &a, ctx_b, NULL, "a");
	send_all(d.c, &s);
	RUN_UNTIL(&loop, d.closed && a.closed);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	assert_int_equal(d.nmsg + a.nmsg, 0);
	capture_expect(&k, 1,
		       "peer pipe speaks TLS: set [cluster] tls_* on this node "
		       "too",
		       NULL);
	assert_non_null(strstr(d.why, "during the TLS handshake"));
	frames_free(&s);
}

/* ---- a relay that can corrupt what passes -------------------------------- */

struct relay {
	uv_pipe_t p[2]; /* p[0]: the dialer's socket's other end */
	int corrupt;	/* flip a byte of the next chunk from p[0] */
	int closing;
};

static void relay_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(hint);
	b->len = b->base ? hint : 0;
}

static void relay_written(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

static void relay_close(struct relay *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)&r->p[0], NULL);
	uv_close((uv_handle_t *)&r->p[1], NULL);
}

static void relay_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct relay *r = s->data;
	int from = (uv_pipe_t *)s == &r->p[1];
	uv_write_t *w;
	uv_buf_t out;

	if (n <= 0) {
		free(b->base);
		if (n < 0)
			relay_close(r);
		return;
	}
	if (!from && r->corrupt) {
		r->corrupt = 0;
		b->base[n - 1] ^= 0x40; /* in the record's tag */
	}
	w = malloc(sizeof(*w));
	assert_non_null(w);
	w->data = b->base;
	out = uv_buf_init(b->base, (unsigned)n);
	if (r->closing ||
	    uv_write(w, (uv_stream_t *)&r->p[!from], &out, 1, relay_written))
		relay_written(w, 0);
}

/*
 * Dialer -> relay -> acceptor. Once both ends are through the handshake,
 * one Heartbeat's record is altered on the way: the acceptor closes,
 * saying the record failed, and delivers nothing of it; the one before
 * came through.
 */
static void test_corrupt_record(void **state)
{
	Remora__Heartbeat hb = REMORA__HEARTBEAT__INIT;
	struct relay r = {0};
	struct capture k;
	struct end d, a;
	uv_loop_t loop;
	int s1[2], s2[2];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s1),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s2),
			 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(uv_pipe_init(&loop, &r.p[i], 0), 0);
		r.p[i].data = &r;
	}
	assert_int_equal(uv_pipe_open(&r.p[0], s1[1]), 0);
	assert_int_equal(uv_pipe_open(&r.p[1], s2[1]), 0);
	assert_int_equal(
		uv_read_start((uv_stream_t *)&r.p[0], relay_alloc, relay_read),
		0);
	assert_int_equal(
		uv_read_start((uv_stream_t *)&r.p[1], relay_alloc, relay_read),
		0);
	end_open(&loop, &d, s1[0]);
	end_open(&loop, &a, s2[0]);
	conn_set_tls(d.c, ctx_b, 1, "a");
	conn_set_tls(a.c, ctx_a, 0, NULL);
	pair_start(&d, &a);
	hb.term = 1;
	assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base), 0);
	RUN_UNTIL(&loop, a.nmsg == 1 || a.closed || d.closed);
	assert_int_equal(a.nmsg, 1);
	assert_non_null(conn_tls_peer_name(a.c));
	while (conn_queued(d.c) || conn_queued(a.c))
		assert_int_not_equal(uv_run(&loop, UV_RUN_ONCE), 0);

	capture_begin(&k, "corrupt");
	r.corrupt = 1;
	hb.term = 2;
	assert_int_equal(conn_send_msg(d.c, WIRE_HEARTBEAT, &hb.base), 0);
	RUN_UNTIL(&loop, a.closed);
	assert_int_equal(a.nmsg, 1);
	relay_close(&r);
	RUN_UNTIL(&loop, d.closed);
	end_free(&d);
	end_free(&a);
	loop_finish(&loop);
	capture_expect(&k, 1, "peer pipe: TLS record failed: ", NULL);
	if (!strstr(a.why, "bad record mac"))
		fail_msg("acceptor: \"%s\"", a.why);
}

/* ---- the files ---------------------------------------------------------- */

static void expect_load_fails(struct config *c, const char *want)
{
	struct tls_ctx *t = NULL;
	char err[512];

	if (tls_ctx_load(&t, c, err, sizeof(err)) == 0) {
		tls_ctx_free(t);
		fail_msg("tls_ctx_load succeeded; want \"%s\"", want);
	}
	assert_null(t);
	if (!strstr(err, want))
		fail_msg("\"%s\", want \"%s\"", err, want);
}

static void test_files(void **state)
{
	struct config *c = calloc(1, sizeof(*c));
	char err[512], path[256], want[1024];

	(void)state;
	assert_non_null(c);
	assert_int_equal(load_cfg(c, "-", "ca1", err, sizeof(err)), 0);
	assert_int_equal(tls_configured(c), 0);

	/* A certificate of another CA than tls_ca. */
	assert_int_equal(load_cfg(c, "b2", "ca1", err, sizeof(err)), 0);
	assert_int_equal(tls_configured(c), 1);
	snprintf(want, sizeof(want),
		 "tls_certificate %s/b2.pem: unable to get local issuer "
		 "certificate against tls_ca; sign it with the cluster's CA",
		 dir);
	expect_load_fails(c, want);

	/* Another certificate's key. */
	assert_int_equal(load_cfg(c, "a", "ca1", err, sizeof(err)), 0);
	snprintf(c->tls_private_key, sizeof(c->tls_private_key), "%s/b.key",
		 dir);
	expect_load_fails(c, "it is not the key of tls_certificate");

	/* A private key others may read. */
	snprintf(path, sizeof(path), "%s/open.key", dir);
	assert_int_equal(sh("cp %s/a.key %s && chmod 644 %s", dir, path, path),
			 0);
	snprintf(c->tls_private_key, sizeof(c->tls_private_key), "%s", path);
	snprintf(want, sizeof(want),
		 "tls_private_key %s: readable by group or others; chmod 600 "
		 "%s",
		 path, path);
	expect_load_fails(c, want);

	/* A FIFO as tls_ca: refused at once, never waited on. */
	assert_int_equal(load_cfg(c, "a", "ca1", err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(c->tls_ca, sizeof(c->tls_ca), "%s", path);
	snprintf(want, sizeof(want), "tls_ca %s: a FIFO, not a regular file",
		 path);
	expect_load_fails(c, want);

	/* Missing; and a certificate file that is not one. */
	snprintf(c->tls_ca, sizeof(c->tls_ca), "%s/none.pem", dir);
	snprintf(want, sizeof(want), "tls_ca %s/none.pem: No such file", dir);
	expect_load_fails(c, want);
	snprintf(c->tls_ca, sizeof(c->tls_ca), "%s/ca1.pem", dir);
	snprintf(c->tls_certificate, sizeof(c->tls_certificate), "%s/a.ext",
		 dir);
	expect_load_fails(c, "it must hold this node's certificate in PEM");
	free(c);
}

/* A conn that never closes (a refusal that does not happen) would keep
 * RUN_UNTIL waiting: each test gets 30 s, then SIGALRM ends the run. */
static int arm(void **state)
{
	(void)state;
	alarm(30);
	return 0;
}

#define TEST(f) cmocka_unit_test_setup(f, arm)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_exchange),   TEST(test_finish_before_handshake),
		TEST(test_other_ca),   TEST(test_wrong_name),
		TEST(test_plain_peer), TEST(test_corrupt_record),
		TEST(test_files),      TEST(test_hello_name),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
