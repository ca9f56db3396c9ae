/*
 * TLS 1.3 for the replication link with OpenSSL (see tls.h): the context
 * made once from [cluster] tls_certificate, tls_private_key and tls_ca, and
 * one session per connection over two memory BIOs, so that the socket stays
 * libuv's (conn.c) and nothing here blocks.
 *
 * Verification is OpenSSL's chain check against tls_ca only (the system's
 * CAs are never loaded: a certificate some public CA gave anyone must not
 * make a cluster member), then our name check at depth 0, inside the verify
 * callback so that a wrong name fails the handshake with an alert that tells
 * the peer, like a wrong CA does: X509_check_host() against the node names,
 * which looks at the subjectAltName DNS names, or at the CN when there are
 * none, without wildcards (node names are single labels).
 *
 * Session tickets are off: connections are few and long, and a ticket would
 * be one more secret kept in memory for nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "paths.h"
#include "tls.h"

/* A PEM file larger than this is not a certificate, a key or a CA list. */
#define TLS_FILE_MAX (1u << 20)
/* TLS 1.3 record: 5-byte header, content type byte, 16-byte AEAD tag. */
#define TLS_RECORD_OVERHEAD 22u
#define TLS_RECORD_MAX	    16384u
/* SSL_write_ex() per call: well below any int limit inside OpenSSL. */
#define TLS_WRITE_CHUNK (1u << 30)

struct tls_ctx {
	SSL_CTX *ssl;
	char names[CONFIG_NODES_MAX][CONFIG_NAME_MAX]; /* the cluster's nodes */
	int nnames;
};

struct tls_session {
	struct tls_ctx *t;
	SSL *ssl;
	BIO *rbio, *wbio; /* ciphertext in, ciphertext out; the SSL owns them */
	int done;	  /* handshake completed */
	char expect[CONFIG_NAME_MAX]; /* "" (acceptor): any node */
	char peer[CONFIG_NAME_MAX];   /* the verified name */
	char detail[256];	      /* why the name check failed */
};

/* Where verify_cb finds its session: SSL ex_data slot 0 is app data. */

int tls_configured(const struct config *cfg)
{
	return cfg->tls_certificate[0] != '\0';
}

/*
 * Reads the whole file that config key names: a regular file (paths.h: a
 * FIFO is refused without blocking; a symbolic link is followed, since
 * certificate managers keep links to the current files, and the checks are
 * on the file opened), and for the private key, not open to group or
 * others. *buf is malloc()ed.
 */
static int read_file(const char *key, const char *path, int secret, char **buf,
		     size_t *len, char *err, size_t errlen)
{
	char why[96];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	char *b;
	int fd, ret;

	fd = paths_open_regular(path, why, sizeof(why));
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, why);
		return fd;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(-ret));
		goto err_fd;
	}
	if (secret && (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))) {
		ret = -EPERM;
		snprintf(err, errlen,
			 "%s %s: %s by group or others; chmod 600 %s", key,
			 path,
			 st.st_mode & (S_IRGRP | S_IROTH) ? "readable"
							  : "writable",
			 path);
		goto err_fd;
	}
	b = malloc(TLS_FILE_MAX + 1);
	if (!b) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s %s: out of memory", key, path);
		goto err_fd;
	}
	while (got <= TLS_FILE_MAX) {
		n = read(fd, b + got, TLS_FILE_MAX + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s %s: %s", key, path,
				 strerror(-ret));
			goto err_buf;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > TLS_FILE_MAX) {
		ret = -EFBIG;
		snprintf(err, errlen,
			 "%s %s: larger than %u bytes; it should "
			 "hold PEM text",
			 key, path, TLS_FILE_MAX);
		goto err_buf;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;

err_buf:
	if (secret)
		OPENSSL_cleanse(b, got);
	free(b);
err_fd:
	close(fd);
	return ret;
}

/* OpenSSL's latest error as text ("certificate verify failed"), cleared. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

/* An encrypted private key would make OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A name the certificate carries, for messages: its first
 * subjectAltName DNS name, else its CN, else "no name". */
static void cert_name(X509 *x, char *buf, size_t n)
{
	GENERAL_NAMES *gens =
		X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj = X509_get_subject_name(x);
	int i;

	snprintf(buf, n, "no name");
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS) {
			snprintf(buf, n, "%.*s",
				 ASN1_STRING_length(g->d.dNSName),
				 (const char *)ASN1_STRING_get0_data(
					 g->d.dNSName));
			break;
		}
	}
	if (gens)
		GENERAL_NAMES_free(gens);
	else if (subj)
		X509_NAME_get_text_by_NID(subj, NID_commonName, buf, (int)n);
}

/* Whether certificate x carries node name. */
static int names(X509 *x, const char *name)
{
	return X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_WILDCARDS,
			       NULL) == 1;
}

/*
 * OpenSSL's chain verdict, then, for the peer's own certificate (depth
 * 0), our name check: the expected node, or (acceptor) any node of the
 * cluster. The name it matched is the peer's verified name.
 */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_session *s = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *x = X509_STORE_CTX_get_current_cert(store);
	char has[CONFIG_NAME_MAX];
	int i;

	if (!ok || !s || !x || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	if (s->expect[0]) {
		if (names(x, s->expect)) {
			snprintf(s->peer, sizeof(s->peer), "%s", s->expect);
			return 1;
		}
		cert_name(x, has, sizeof(has));
		snprintf(s->detail, sizeof(s->detail),
			 "its certificate is for %s, not for node %s", has,
			 s->expect);
	} else {
		for (i = 0; i < s->t->nnames; i++)
			if (names(x, s->t->names[i])) {
				snprintf(s->peer, sizeof(s->peer), "%s",
					 s->t->names[i]);
				return 1;
			}
		cert_name(x, has, sizeof(has));
		snprintf(s->detail, sizeof(s->detail),
			 "its certificate is for %s, not for a node of this "
			 "cluster",
			 has);
	}
	X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
	return 0;
}

/* The certificate (and any chain after it in the file) into ctx. */
static int load_cert(SSL_CTX *ctx, const char *path, const char *pem,
		     size_t len, X509 **leaf, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	*leaf = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
	if (!*leaf || SSL_CTX_use_certificate(ctx, *leaf) != 1) {
		snprintf(err, errlen,
			 "tls_certificate %s: %s; it must hold this node's "
			 "certificate in PEM",
			 path, ossl_reason());
		ret = -EINVAL;
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)))
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			snprintf(err, errlen, "tls_certificate %s: %s", path,
				 ossl_reason());
			ret = -EINVAL;
			goto out;
		}
	ERR_clear_error(); /* the end of the file */
out:
	BIO_free(b);
	return ret;
}

static int load_key(SSL_CTX *ctx, const char *path, const char *pem, size_t len,
		    char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	if (!k) {
		snprintf(err, errlen,
			 "tls_private_key %s: %s; it must hold an unencrypted "
			 "PEM private key",
			 path, ossl_reason());
		ret = -EINVAL;
	} else if (SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
		   SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
			 "tls_private_key %s: %s: it is not the key of "
			 "tls_certificate",
			 path, ossl_reason());
		ret = -EINVAL;
	}
	EVP_PKEY_free(k);
	BIO_free(b);
	return ret;
}

/* Every certificate in the CA file becomes a trust anchor. */
static int load_ca(SSL_CTX *ctx, const char *path, const char *pem, size_t len,
		   char *err, size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0, ret = 0;

	if (!b)
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL))) {
		if (X509_STORE_add_cert(st, x) != 1)
			ret = -EINVAL;
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	if (!n || ret) {
		snprintf(err, errlen,
			 "tls_ca %s: %s; it must hold the cluster's CA "
			 "certificate in PEM",
			 path, n ? ossl_reason() : "no certificate in it");
		ret = -EINVAL;
	}
	BIO_free(b);
	return ret;
}

/* Our own certificate against tls_ca, now rather than in every peer's
 * log: a node whose certificate another CA signed is refused by all. */
static int check_own(SSL_CTX *ctx, X509 *leaf, const char *path, char *err,
		     size_t errlen)
{
	X509_STORE_CTX *v = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	SSL_CTX_get0_chain_certs(ctx, &chain);
	if (X509_STORE_CTX_init(v, SSL_CTX_get_cert_store(ctx), leaf, chain) !=
	    1) {
		ret = -ENOMEM;
	} else if (X509_verify_cert(v) != 1) {
		snprintf(err, errlen,
			 "tls_certificate %s: %s against tls_ca; sign it with "
			 "the cluster's CA",
			 path,
			 X509_verify_cert_error_string(
				 X509_STORE_CTX_get_error(v)));
		ret = -EINVAL;
	}
	X509_STORE_CTX_free(v);
	ERR_clear_error();
	return ret;
}

int tls_ctx_load(struct tls_ctx **out, const struct config *cfg, char *err,
		 size_t errlen)
{
	const char *paths[3] = {cfg->tls_certificate, cfg->tls_private_key,
				cfg->tls_ca};
	static const char *const keys[3] = {"tls_certificate",
					    "tls_private_key", "tls_ca"};
	char *pem[3] = {NULL, NULL, NULL};
	size_t len[3] = {0, 0, 0};
	struct tls_ctx *t;
	X509 *leaf = NULL;
	int i, ret = 0;

	*out = NULL;
	for (i = 0; i < 3 && !ret; i++)
		ret = read_file(keys[i], paths[i], i == 1, &pem[i], &len[i],
				err, errlen);
	if (ret)
		goto out;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->ssl = SSL_CTX_new(TLS_method()))) {
		free(t);
		snprintf(err, errlen, "TLS: cannot make a context: %s",
			 ossl_reason());
		ret = -ENOMEM;
		goto out;
	}
	SSL_CTX_set_min_proto_version(t->ssl, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(t->ssl, TLS1_3_VERSION);
	SSL_CTX_set_options(t->ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(t->ssl, 0);
	SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
	/* Send our certificate and the chain in its file, not tls_ca's root
	 * too: the peer has tls_ca, and a peer of another CA then reads
	 * "unable to get local issuer certificate", which says it. */
	SSL_CTX_set_mode(t->ssl, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_verify(t->ssl,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_cb);
	ret = load_cert(t->ssl, paths[0], pem[0], len[0], &leaf, err, errlen);
	if (!ret)
		ret = load_key(t->ssl, paths[1], pem[1], len[1], err, errlen);
	if (!ret)
		ret = load_ca(t->ssl, paths[2], pem[2], len[2], err, errlen);
	if (!ret)
		ret = check_own(t->ssl, leaf, paths[0], err, errlen);
	for (i = 0; i < cfg->nnodes && i < CONFIG_NODES_MAX; i++)
		snprintf(t->names[i], sizeof(t->names[i]), "%s",
			 cfg->nodes[i].name);
	t->nnames = i;
	X509_free(leaf);
	if (ret)
		tls_ctx_free(t);
	else
		*out = t;
out:
	for (i = 0; i < 3; i++) {
		if (pem[i])
			OPENSSL_cleanse(pem[i], len[i]);
		free(pem[i]);
	}
	return ret;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

struct tls_session *tls_session_new(struct tls_ctx *t, int dialer,
				    const char *expect_name)
{
	struct tls_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->t = t;
	s->ssl = SSL_new(t->ssl);
	s->rbio = BIO_new(BIO_s_mem());
	s->wbio = BIO_new(BIO_s_mem());
	if (!s->ssl || !s->rbio || !s->wbio) {
		BIO_free(s->rbio);
		BIO_free(s->wbio);
		SSL_free(s->ssl);
		free(s);
		ERR_clear_error();
		return NULL;
	}
	/* An empty input BIO means "more to come", not end of file. */
	BIO_set_mem_eof_return(s->rbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_app_data(s->ssl, s);
	if (expect_name)
		snprintf(s->expect, sizeof(s->expect), "%s", expect_name);
	if (dialer)
		SSL_set_connect_state(s->ssl);
	else
		SSL_set_accept_state(s->ssl);
	return s;
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	SSL_free(s->ssl); /* and both BIOs */
	free(s);
}

int tls_session_feed(struct tls_session *s, const void *p, size_t n)
{
	size_t w;

	while (n > 0) {
		if (BIO_write_ex(s->rbio, p, n, &w) != 1) {
			ERR_clear_error();
			return -ENOMEM;
		}
		p = (const char *)p + w;
		n -= w;
	}
	return 0;
}

/* After a failed call: OpenSSL's reason, with the certificate check's
 * verdict and our name check's detail when that is what failed. */
static int fail(struct tls_session *s, char *err, size_t errlen)
{
	long v = SSL_get_verify_result(s->ssl);
	const char *r = ossl_reason();

	if (v != X509_V_OK && strstr(r, "certificate verify failed"))
		snprintf(err, errlen, "%s (%s%s%s)", r,
			 X509_verify_cert_error_string(v),
			 s->detail[0] ? ": " : "", s->detail);
	else
		snprintf(err, errlen, "%s", r);
	return -EPROTO;
}

int tls_session_handshake(struct tls_session *s, char *err, size_t errlen)
{
	int r;

	if (s->done)
		return 1;
	ERR_clear_error();
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->done = 1;
		return 1;
	}
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		return fail(s, err, errlen);
	}
}

int tls_session_done(const struct tls_session *s)
{
	return s->done;
}

ssize_t tls_session_read(struct tls_session *s, void *buf, size_t n, char *err,
			 size_t errlen)
{
	size_t got = 0;

	ERR_clear_error();
	if (SSL_read_ex(s->ssl, buf, n, &got) == 1)
		return (ssize_t)got;
	switch (SSL_get_error(s->ssl, 0)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -EPIPE;
	default:
		return fail(s, err, errlen);
	}
}

int tls_session_write(struct tls_session *s, const void *p, size_t n, char *err,
		      size_t errlen)
{
	size_t w, take;

	while (n > 0) {
		take = n < TLS_WRITE_CHUNK ? n : TLS_WRITE_CHUNK;
		ERR_clear_error();
		if (SSL_write_ex(s->ssl, p, take, &w) != 1)
			return fail(s, err, errlen);
		p = (const char *)p + w;
		n -= w;
	}
	return 0;
}

void tls_session_shutdown(struct tls_session *s)
{
	ERR_clear_error();
	if (s->done)
		SSL_shutdown(s->ssl);
	ERR_clear_error();
}

size_t tls_session_pending(const struct tls_session *s)
{
	return BIO_ctrl_pending(s->wbio);
}

size_t tls_session_take(struct tls_session *s, void *buf, size_t n)
{
	size_t got = 0;

	if (n && BIO_read_ex(s->wbio, buf, n, &got) != 1) {
		ERR_clear_error();
		return 0;
	}
	return got;
}

size_t tls_overhead(size_t n)
{
	return TLS_RECORD_OVERHEAD *
	       (n / TLS_RECORD_MAX + 1 + n / TLS_WRITE_CHUNK);
}

const char *tls_session_peer_name(const struct tls_session *s)
{
	return s->done && s->peer[0] ? s->peer : NULL;
}
