/*
 * The lease arbiter's client (see arbiter.h, docs/arbiter.md): a worker
 * thread that talks HTTP/1.1 to etcd's v3 JSON gateway with one libcurl easy
 * handle, trying the endpoints in order from the last one that answered, and
 * hands results to the loop thread through a uv_async_t. Request bodies and
 * response parsing are etcd_json.c's; this file holds the operations' logic.
 *
 * Threads: the loop thread (or arbiter_acquire_sync's caller) queues
 * requests under mu; the worker pops them, does the HTTP with mu released,
 * and queues results under mu. Everything named w_* below, and the curl
 * handle, belong to the worker alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "arbiter.h"
#include "clock.h"
#include "config.h"
#include "etcd_json.h"
#include "log.h"

#define ARBITER_QUEUE_MAX     16
#define ARBITER_ENDPOINTS_MAX 8
#define ARBITER_RESP_MAX      (64 * 1024) /* our replies are < 2 KiB */
#define ARBITER_BODY_MAX      2048
/* Attempts at the acquire txn: the first, then once more per change seen. */
#define ARBITER_TXN_TRIES 3

struct arbiter_req {
	enum arbiter_op op;
	uint64_t keep_term; /* report: the term */
	uint64_t released;  /* report */
	int sync;	    /* arbiter_acquire_sync waits for it */
};

struct arbiter {
	uv_loop_t *loop;
	uv_async_t async;
	arbiter_cb cb;
	void *opaque;

	char node[CONFIG_NAME_MAX];
	char key_term[ETCD_KEY_MAX];
	char key_owner[ETCD_KEY_MAX];
	char key_released[ETCD_KEY_MAX];
	char endpoints[ARBITER_ENDPOINTS_MAX][CONFIG_URLS_MAX];
	int nendpoints;
	int64_t ttl_s;	 /* asked for; etcd may grant more */
	long timeout_ms; /* per request: min(lease_ttl / 3, 1 s) */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;	/* worker: a request or stop */
	pthread_cond_t sync_cv; /* arbiter_acquire_sync: its result */
	struct arbiter_req queue[ARBITER_QUEUE_MAX];
	int qhead, qlen;
	int keepalive_pending; /* queued or in flight */
	int report_pending;    /* queued, not yet started */
	uint64_t report_term;  /* its values: the latest asked */
	uint64_t report_released;
	struct arbiter_result *done; /* results for the loop thread */
	int ndone, capdone;
	struct arbiter_result sync_result;
	int sync_ready;
	atomic_int stop;

	/* The worker's own. */
	CURL *w_curl;
	int w_last_ok;	 /* endpoint index that last answered */
	int64_t w_lease; /* lease held (0 = none) */
	uint64_t w_term; /* term held with it */
	char *w_resp;	 /* the last response body, NUL-terminated */
	size_t w_resp_len, w_resp_cap;
	int w_resp_over;      /* the body exceeded ARBITER_RESP_MAX */
	int w_report_failing; /* a report failed and was logged */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_init(void)
{
	curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *arbiter_outcome_name(enum arbiter_outcome o)
{
	switch (o) {
	case ARBITER_WON:
		return "won";
	case ARBITER_BUSY:
		return "busy";
	case ARBITER_KEPT:
		return "kept";
	case ARBITER_LOST:
		return "lost";
	case ARBITER_RELEASED:
		return "released";
	case ARBITER_ERROR:
		return "error";
	}
	return "?";
}

const char *arbiter_op_name(enum arbiter_op op)
{
	switch (op) {
	case ARBITER_ACQUIRE:
		return "acquire";
	case ARBITER_KEEPALIVE:
		return "keepalive";
	case ARBITER_REVOKE:
		return "revoke";
	case ARBITER_NEXT:
		return "acquire_next";
	case ARBITER_BUMP:
		return "bump";
	case ARBITER_REPORT:
		return "report";
	}
	return "?";
}

static void set_why(struct arbiter_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_why(struct arbiter_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/* vsnprintf: a cause cut at the buffer's end is still the cause. */
static void fmt_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* --- HTTP -------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *opaque)
{
	struct arbiter *a = opaque;
	size_t len = size * n, cap;
	char *b;

	if (a->w_resp_len + len >= ARBITER_RESP_MAX) {
		a->w_resp_over = 1;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (a->w_resp_len + len + 1 > a->w_resp_cap) {
		cap = a->w_resp_cap ? a->w_resp_cap : 4096;
		while (cap < a->w_resp_len + len + 1)
			cap *= 2;
		b = realloc(a->w_resp, cap);
		if (!b)
			return 0;
		a->w_resp = b;
		a->w_resp_cap = cap;
	}
	memcpy(a->w_resp + a->w_resp_len, p, len);
	a->w_resp_len += len;
	a->w_resp[a->w_resp_len] = '\0';
	return len;
}

/* arbiter_free asks a request in flight to stop. */
static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct arbiter *a = opaque;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&a->stop) ? 1 : 0;
}

/* Appends "; " and text to a why buffer being built. */
static void why_add(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_add(char *why, size_t whylen, const char *fmt, ...)
{
	size_t n = strlen(why);
	va_list ap;

	if (n && n + 2 < whylen) {
		memcpy(why + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + n, whylen - n, fmt, ap);
	va_end(ap);
}

/*
 * POSTs body to path on each endpoint in turn, from the last one that
 * answered. Returns 0 once one gives a reply that settles the request
 * (HTTP 200, or an etcd error other than "no leader"/timeout) in
 * a->w_resp, with *sent_ns read just before that endpoint's attempt; or
 * -EIO with why = "etcd URL: cause[; URL: cause]...". A 5 s-old answer is
 * no better than none: each attempt is bounded by a->timeout_ms.
 */
static int http_post(struct arbiter *a, const char *path, const char *body,
		     uint64_t *sent_ns, char *why, size_t whylen)
{
	struct curl_slist *hdr = NULL;
	char url[CONFIG_URLS_MAX + 32];
	int n = a->nendpoints, err = -EIO;

	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	why[0] = '\0';
	for (int k = 0; k < n; k++) {
		int i = (a->w_last_ok + k) % n, code;
		long status = 0;
		char msg[200];
		CURLcode rc;

		if (atomic_load(&a->stop)) {
			why_add(why, whylen, "etcd: arbiter stopping");
			break;
		}
		snprintf(url, sizeof(url), "%s%s", a->endpoints[i], path);
		curl_easy_setopt(a->w_curl, CURLOPT_URL, url);
		curl_easy_setopt(a->w_curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(a->w_curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->w_curl, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(body));
		a->w_resp_len = 0;
		a->w_resp_over = 0;
		if (a->w_resp)
			a->w_resp[0] = '\0';
		*sent_ns = now_ns();
		rc = curl_easy_perform(a->w_curl);
		if (rc != CURLE_OK) {
			why_add(why, whylen, "%s%s: %s", k ? "" : "etcd ",
				a->endpoints[i],
				a->w_resp_over ? "response over 64 KiB"
					       : curl_easy_strerror(rc));
			continue;
		}
		if (!a->w_resp) {
			why_add(why, whylen, "%s%s: empty response",
				k ? "" : "etcd ", a->endpoints[i]);
			continue;
		}
		curl_easy_getinfo(a->w_curl, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			if (!etcd_json_error(a->w_resp, a->w_resp_len, &code,
					     msg, sizeof(msg))) {
				why_add(why, whylen, "%s%s: HTTP %ld",
					k ? "" : "etcd ", a->endpoints[i],
					status);
				continue;
			}
			if (code == ETCD_CODE_UNAVAILABLE ||
			    code == ETCD_CODE_DEADLINE) {
				why_add(why, whylen, "%s%s: %s",
					k ? "" : "etcd ", a->endpoints[i], msg);
				continue;
			}
		}
		a->w_last_ok = i;
		err = 0;
		break;
	}
	curl_slist_free_all(hdr);
	return err;
}

/* The endpoint that answered last, for messages. */
static const char *answered(const struct arbiter *a)
{
	return a->endpoints[a->w_last_ok];
}

/* --- the operations (worker) -------------------------------------------- */

/* What the keys hold, as one txn read them at one revision. */
struct arbiter_state {
	int owner_found;
	char owner_node[CONFIG_NAME_MAX];
	uint64_t owner_term;
	int64_t owner_lease, owner_mod;
	uint64_t term;	  /* 0 when absent */
	int64_t term_mod; /* 0 when absent */
};

/* Fills s from a txn's two reads (owner, term). */
static int read_state(struct arbiter *a, const struct etcd_txn_result *t,
		      struct arbiter_state *s, char *why, size_t whylen)
{
	const struct etcd_kv *o = &t->reads[0], *tk = &t->reads[1];
	char w[128];

	memset(s, 0, sizeof(*s));
	if (t->nreads != 2) {
		fmt_why(why, whylen, "etcd %s: txn returned %d reads, not 2",
			answered(a), t->nreads);
		return -EPROTO;
	}
	if (o->found) {
		if (etcd_owner_parse(o->value, o->value_len, s->owner_node,
				     sizeof(s->owner_node), &s->owner_term, w,
				     sizeof(w))) {
			fmt_why(why, whylen, "etcd %s: %s holds '%.64s': %s",
				answered(a), a->key_owner, o->value, w);
			return -EPROTO;
		}
		s->owner_found = 1;
		s->owner_lease = o->lease;
		s->owner_mod = o->mod_revision;
	}
	if (tk->found) {
		if (etcd_term_parse(tk->value, tk->value_len, &s->term)) {
			fmt_why(why, whylen,
				"etcd %s: %s holds '%.64s', not a decimal "
				"term",
				answered(a), a->key_term, tk->value);
			return -EPROTO;
		}
		s->term_mod = tk->mod_revision;
	}
	return 0;
}

/*
 * Runs txn t (whose reads are owner then term, on failure or on success as
 * the caller arranged) and parses it. Returns 0 with *succeeded and, when
 * the reads came back, *s; or -errno with why.
 */
static int run_txn(struct arbiter *a, const struct etcd_txn *t, int *succeeded,
		   struct arbiter_state *s, char *why, size_t whylen)
{
	struct etcd_txn_result res;
	char body[ARBITER_BODY_MAX], w[200];
	uint64_t sent;
	int n, err;

	n = etcd_json_txn_req(body, sizeof(body), t);
	if (n < 0) {
		fmt_why(why, whylen, "etcd: cannot build txn: %s",
			strerror(-n));
		return n;
	}
	err = http_post(a, "/v3/kv/txn", body, &sent, why, whylen);
	if (err)
		return err;
	err = etcd_json_txn(a->w_resp, a->w_resp_len, &res, w, sizeof(w));
	if (err) {
		fmt_why(why, whylen, "etcd %s: %s", answered(a), w);
		return err;
	}
	*succeeded = res.succeeded;
	memset(s, 0, sizeof(*s));
	if (res.nreads)
		return read_state(a, &res, s, why, whylen);
	return 0;
}

/* Reads owner and term at one revision (a txn with no compare). */
static int read_keys(struct arbiter *a, struct arbiter_state *s, char *why,
		     size_t whylen)
{
	struct etcd_txn t = {
		.success_read = {a->key_owner, a->key_term},
		.nsuccess_read = 2,
	};
	int ok;

	return run_txn(a, &t, &ok, s, why, whylen);
}

/* Gives lease up; 0 also when etcd no longer knows it. */
static int revoke_lease(struct arbiter *a, int64_t lease, char *why,
			size_t whylen)
{
	char body[64], w[200];
	uint64_t sent;
	int err, code;

	if (etcd_json_lease_req(body, sizeof(body), lease) < 0) {
		fmt_why(why, whylen, "etcd: bad lease ID %" PRId64, lease);
		return -EINVAL;
	}
	err = http_post(a, "/v3/lease/revoke", body, &sent, why, whylen);
	if (err)
		return err;
	err = etcd_json_revoke(a->w_resp, a->w_resp_len, w, sizeof(w));
	if (err == -EREMOTEIO &&
	    etcd_json_error(a->w_resp, a->w_resp_len, &code, w, sizeof(w)) &&
	    code == ETCD_CODE_NOT_FOUND)
		return 0;
	if (err)
		fmt_why(why, whylen, "etcd %s: revoke: %s", answered(a), w);
	return err;
}

/* Best effort: a lease not revoked lapses on its own within its TTL. */
static void revoke_quietly(struct arbiter *a, int64_t lease)
{
	char why[256];

	if (lease && revoke_lease(a, lease, why, sizeof(why)))
		log_warn("arbiter: revoking lease %" PRIx64
			 " failed (it lapses within its TTL): %s",
			 (uint64_t)lease, why);
}

static void do_acquire(struct arbiter *a, uint64_t keep_term, int next,
		       struct arbiter_result *r)
{
	char body[128], w[200], owner_val[ETCD_VALUE_MAX],
		term_val[ETCD_VALUE_MAX];
	struct arbiter_state s;
	int64_t lease, ttl, prev = a->w_lease;
	uint64_t sent, won;
	int err, ok = 0;

	r->term = a->w_term;
	etcd_json_grant_req(body, sizeof(body), a->ttl_s);
	if (http_post(a, "/v3/lease/grant", body, &sent, r->why,
		      sizeof(r->why)))
		goto error;
	err = etcd_json_grant(a->w_resp, a->w_resp_len, &lease, &ttl, w,
			      sizeof(w));
	if (err) {
		set_why(r, "etcd %s: lease grant: %s", answered(a), w);
		goto error;
	}
	if (read_keys(a, &s, r->why, sizeof(r->why)))
		goto error_revoke;

	for (int tries = 0; tries < ARBITER_TXN_TRIES; tries++) {
		struct etcd_txn t = {
			.failure_read = {a->key_owner, a->key_term},
			.nfailure_read = 2,
		};

		if (s.owner_found && s.owner_lease == lease) {
			/* An earlier attempt's txn went through after all
			 * (its answer was lost to a timeout). */
			won = s.owner_term;
			goto won;
		}
		if (next && (s.owner_found || s.term != keep_term))
			goto busy;
		if (s.owner_found && !next &&
		    !(keep_term && prev && s.owner_lease == prev &&
		      !strcmp(s.owner_node, a->node) &&
		      s.owner_term == keep_term && s.term == keep_term))
			goto busy;
		if (!s.owner_found && keep_term && s.term != keep_term)
			goto busy;

		won = next ? keep_term + 1 : keep_term ? keep_term : s.term + 1;
		snprintf(owner_val, sizeof(owner_val), "%s %" PRIu64, a->node,
			 won);
		snprintf(term_val, sizeof(term_val), "%" PRIu64, won);
		/* term unchanged since read (mod_revision 0: still absent) */
		t.cmp[0] = (struct etcd_compare){.key = a->key_term,
						 .target = ETCD_TARGET_MOD,
						 .revision = s.term_mod};
		if (s.owner_found) {
			/* keep_term K, still ours under this process's
			 * previous lease: move owner to the new lease. */
			t.cmp[1] =
				(struct etcd_compare){.key = a->key_owner,
						      .target = ETCD_TARGET_MOD,
						      .revision = s.owner_mod};
		} else {
			/* nobody owns it */
			t.cmp[1] = (struct etcd_compare){
				.key = a->key_owner,
				.target = ETCD_TARGET_CREATE,
				.revision = 0};
		}
		t.ncmp = 2;
		if (!keep_term || next)
			t.put[t.nput++] = (struct etcd_put){.key = a->key_term,
							    .value = term_val};
		t.put[t.nput++] = (struct etcd_put){.key = a->key_owner,
						    .value = owner_val,
						    .lease = lease};
		if (run_txn(a, &t, &ok, &s, r->why, sizeof(r->why)))
			goto error_revoke;
		if (ok)
			goto won;
	}
busy:
	revoke_quietly(a, lease);
	r->outcome = ARBITER_BUSY;
	r->term = s.owner_found ? s.owner_term : s.term;
	if (s.owner_found)
		snprintf(r->holder, sizeof(r->holder), "%s", s.owner_node);
	if (!s.owner_found)
		set_why(r,
			"term is %" PRIu64 ", not %" PRIu64
			", and nobody holds the lease",
			s.term, keep_term);
	return;
won:
	if (prev && prev != lease)
		revoke_quietly(a, prev);
	a->w_lease = lease;
	a->w_term = won;
	r->outcome = ARBITER_WON;
	r->term = won;
	snprintf(r->holder, sizeof(r->holder), "%s", a->node);
	r->sent_ns = sent;
	r->ttl_ns = (uint64_t)ttl * 1000000000ull;
	return;
error_revoke:
	/* If the txn did go through unseen, revoking drops owner with it. */
	revoke_quietly(a, lease);
error:
	r->outcome = ARBITER_ERROR;
}

/* Moves the term on under the lease held (arbiter_bump). */
static void do_bump(struct arbiter *a, uint64_t term, struct arbiter_result *r)
{
	char owner_val[ETCD_VALUE_MAX], term_val[ETCD_VALUE_MAX];
	struct arbiter_state s;
	int ok = 0;

	r->term = a->w_term;
	if (read_keys(a, &s, r->why, sizeof(r->why))) {
		r->outcome = ARBITER_ERROR;
		return;
	}
	if (!a->w_lease || !s.owner_found || s.owner_lease != a->w_lease ||
	    s.term != term) {
		r->outcome = ARBITER_BUSY;
		r->term = s.owner_found ? s.owner_term : s.term;
		if (s.owner_found)
			snprintf(r->holder, sizeof(r->holder), "%s",
				 s.owner_node);
		return;
	}
	snprintf(owner_val, sizeof(owner_val), "%s %" PRIu64, a->node,
		 term + 1);
	snprintf(term_val, sizeof(term_val), "%" PRIu64, term + 1);
	struct etcd_txn t = {
		.failure_read = {a->key_owner, a->key_term},
		.nfailure_read = 2,
		.cmp = {{.key = a->key_term,
			 .target = ETCD_TARGET_MOD,
			 .revision = s.term_mod},
			{.key = a->key_owner,
			 .target = ETCD_TARGET_MOD,
			 .revision = s.owner_mod}},
		.ncmp = 2,
		.put = {{.key = a->key_term, .value = term_val},
			{.key = a->key_owner,
			 .value = owner_val,
			 .lease = a->w_lease}},
		.nput = 2,
	};
	if (run_txn(a, &t, &ok, &s, r->why, sizeof(r->why))) {
		r->outcome = ARBITER_ERROR;
		return;
	}
	if (!ok) {
		r->outcome = ARBITER_BUSY;
		r->term = s.owner_found ? s.owner_term : s.term;
		return;
	}
	a->w_term = term + 1;
	r->outcome = ARBITER_WON;
	r->term = term + 1;
	snprintf(r->holder, sizeof(r->holder), "%s", a->node);
}

static void do_keepalive(struct arbiter *a, struct arbiter_result *r)
{
	struct arbiter_state s;
	char body[64], w[200];
	int64_t ttl;
	uint64_t sent;
	int err, code;

	r->term = a->w_term;
	if (!a->w_lease) {
		set_why(r, "no lease held");
		goto lost;
	}
	etcd_json_lease_req(body, sizeof(body), a->w_lease);
	if (http_post(a, "/v3/lease/keepalive", body, &sent, r->why,
		      sizeof(r->why))) {
		r->outcome = ARBITER_ERROR;
		return;
	}
	err = etcd_json_keepalive(a->w_resp, a->w_resp_len, &ttl, w, sizeof(w));
	if (err == -EREMOTEIO &&
	    etcd_json_error(a->w_resp, a->w_resp_len, &code, w, sizeof(w)) &&
	    code == ETCD_CODE_NOT_FOUND) {
		err = 0;
		ttl = 0;
	}
	if (err) {
		set_why(r, "etcd %s: keepalive: %s", answered(a), w);
		r->outcome = ARBITER_ERROR;
		return;
	}
	if (ttl > 0) {
		r->outcome = ARBITER_KEPT;
		r->sent_ns = sent;
		r->ttl_ns = (uint64_t)ttl * 1000000000ull;
		return;
	}
	set_why(r, "lease %" PRIx64 " expired or was revoked",
		(uint64_t)a->w_lease);
lost:
	a->w_lease = 0;
	r->outcome = ARBITER_LOST;
	r->term = 0;
	if (read_keys(a, &s, w, sizeof(w))) {
		set_why(r, "lease gone; reading the term then failed: %s", w);
		return;
	}
	r->term = s.term;
	if (s.owner_found)
		snprintf(r->holder, sizeof(r->holder), "%s", s.owner_node);
}

static void do_revoke(struct arbiter *a, struct arbiter_result *r)
{
	r->term = a->w_term;
	if (a->w_lease && revoke_lease(a, a->w_lease, r->why, sizeof(r->why))) {
		r->outcome = ARBITER_ERROR;
		return;
	}
	if (!a->w_lease)
		set_why(r, "no lease held");
	a->w_lease = 0;
	r->outcome = ARBITER_RELEASED;
}

/*
 * The released key as the winner of the next term reads it: after its
 * txn, so the old holder (whose reports need owner "NODE K") cannot write
 * it any more.
 */
static void read_released(struct arbiter *a, struct arbiter_result *r)
{
	char body[256], w[200] = "cannot build the range request";
	struct etcd_kv kv;
	uint64_t sent;

	if (etcd_json_range_req(body, sizeof(body), a->key_released) < 0 ||
	    http_post(a, "/v3/kv/range", body, &sent, w, sizeof(w))) {
		set_why(r, "won, but the released offset was not read: %s", w);
		return;
	}
	if (etcd_json_range(a->w_resp, a->w_resp_len, &kv, w, sizeof(w))) {
		set_why(r,
			"won, but the released offset was not read: etcd "
			"%s: %s",
			answered(a), w);
		return;
	}
	r->report_read = 1;
	if (!kv.found)
		return;
	if (etcd_released_parse(kv.value, kv.value_len, &r->report_term,
				&r->report_released, w, sizeof(w))) {
		r->report_read = 0;
		set_why(r, "won, but %s holds '%.64s': %s", a->key_released,
			kv.value, w);
		return;
	}
	r->report_found = 1;
}

static void do_report(struct arbiter *a, uint64_t term, uint64_t released,
		      struct arbiter_result *r)
{
	char owner_val[ETCD_VALUE_MAX], val[ETCD_VALUE_MAX];
	struct arbiter_state s;
	int ok = 0;

	snprintf(owner_val, sizeof(owner_val), "%s %" PRIu64, a->node, term);
	snprintf(val, sizeof(val), "%" PRIu64 " %" PRIu64, term, released);
	struct etcd_txn t = {
		.cmp = {{.key = a->key_owner,
			 .target = ETCD_TARGET_VALUE,
			 .value = owner_val}},
		.ncmp = 1,
		.put = {{.key = a->key_released, .value = val}},
		.nput = 1,
		.failure_read = {a->key_owner, a->key_term},
		.nfailure_read = 2,
	};
	r->term = term;
	if (run_txn(a, &t, &ok, &s, r->why, sizeof(r->why))) {
		r->outcome = ARBITER_ERROR;
	} else if (!ok) {
		r->outcome = ARBITER_BUSY;
		set_why(r,
			"owner is '%s %" PRIu64 "', not '%s'; a promoted "
			"backup may repeat output released since the last "
			"report",
			s.owner_found ? s.owner_node : "(none)",
			s.owner_found ? s.owner_term : 0, owner_val);
	} else {
		r->outcome = ARBITER_KEPT;
		if (a->w_report_failing)
			log_info("arbiter: the released offset is recorded "
				 "in etcd again (term %" PRIu64
				 ", offset %" PRIu64 ")",
				 term, released);
		a->w_report_failing = 0;
		return;
	}
	if (!a->w_report_failing)
		log_warn("arbiter: recording the released offset %" PRIu64
			 " (term %" PRIu64 ") failed: %s",
			 released, term, r->why);
	a->w_report_failing = 1;
}

/* --- the worker thread ------------------------------------------------- */

static void *worker(void *opaque)
{
	struct arbiter *a = opaque;

	for (;;) {
		struct arbiter_result r;
		struct arbiter_req q;

		pthread_mutex_lock(&a->mu);
		while (!atomic_load(&a->stop) && a->qlen == 0)
			pthread_cond_wait(&a->wake, &a->mu);
		if (atomic_load(&a->stop)) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		q = a->queue[a->qhead];
		a->qhead = (a->qhead + 1) % ARBITER_QUEUE_MAX;
		a->qlen--;
		if (q.op == ARBITER_REPORT) {
			/* the latest values; a later report queues anew */
			q.keep_term = a->report_term;
			q.released = a->report_released;
			a->report_pending = 0;
		}
		pthread_mutex_unlock(&a->mu);

		memset(&r, 0, sizeof(r));
		r.op = q.op;
		r.keep_term = q.keep_term;
		switch (q.op) {
		case ARBITER_ACQUIRE:
			do_acquire(a, q.keep_term, 0, &r);
			if (r.outcome == ARBITER_WON && q.keep_term)
				read_released(a, &r);
			break;
		case ARBITER_NEXT:
			do_acquire(a, q.keep_term, 1, &r);
			if (r.outcome == ARBITER_WON)
				read_released(a, &r);
			break;
		case ARBITER_REPORT:
			do_report(a, q.keep_term, q.released, &r);
			continue; /* never delivered */
		case ARBITER_BUMP:
			do_bump(a, q.keep_term, &r);
			break;
		case ARBITER_KEEPALIVE:
			do_keepalive(a, &r);
			break;
		case ARBITER_REVOKE:
			do_revoke(a, &r);
			break;
		}
		r.done_ns = now_ns();

		pthread_mutex_lock(&a->mu);
		if (q.op == ARBITER_KEEPALIVE)
			a->keepalive_pending = 0;
		if (q.sync) {
			a->sync_result = r;
			a->sync_ready = 1;
			pthread_cond_broadcast(&a->sync_cv);
			pthread_mutex_unlock(&a->mu);
			continue;
		}
		if (a->ndone == a->capdone) {
			int cap = a->capdone ? 2 * a->capdone : 8;
			struct arbiter_result *d =
				realloc(a->done, (size_t)cap * sizeof(*d));

			if (!d) {
				pthread_mutex_unlock(&a->mu);
				log_error("arbiter: out of memory: %s %s "
					  "result dropped",
					  arbiter_op_name(r.op),
					  arbiter_outcome_name(r.outcome));
				continue;
			}
			a->done = d;
			a->capdone = cap;
		}
		a->done[a->ndone++] = r;
		pthread_mutex_unlock(&a->mu);
		uv_async_send(&a->async);
	}
	return NULL;
}

/* Loop thread: delivers the results in order, outside the lock. */
static void on_async(uv_async_t *h)
{
	struct arbiter *a = h->data;
	struct arbiter_result r;

	for (;;) {
		pthread_mutex_lock(&a->mu);
		if (a->ndone == 0 || atomic_load(&a->stop)) {
			pthread_mutex_unlock(&a->mu);
			return;
		}
		r = a->done[0];
		memmove(a->done, a->done + 1,
			(size_t)(a->ndone - 1) * sizeof(*a->done));
		a->ndone--;
		pthread_mutex_unlock(&a->mu);
		if (a->cb)
			a->cb(&r, a->opaque);
	}
}

static int enqueue(struct arbiter *a, enum arbiter_op op, uint64_t keep_term,
		   int sync)
{
	pthread_mutex_lock(&a->mu);
	if ((op == ARBITER_KEEPALIVE && a->keepalive_pending) ||
	    (op == ARBITER_REPORT && a->report_pending)) {
		pthread_mutex_unlock(&a->mu);
		return 0;
	}
	if (a->qlen == ARBITER_QUEUE_MAX) {
		pthread_mutex_unlock(&a->mu);
		return -EBUSY;
	}
	a->queue[(a->qhead + a->qlen) % ARBITER_QUEUE_MAX] =
		(struct arbiter_req){
			.op = op, .keep_term = keep_term, .sync = sync};
	a->qlen++;
	if (op == ARBITER_KEEPALIVE)
		a->keepalive_pending = 1;
	if (op == ARBITER_REPORT)
		a->report_pending = 1;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int arbiter_acquire(struct arbiter *a, uint64_t keep_term)
{
	return enqueue(a, ARBITER_ACQUIRE, keep_term, 0);
}

int arbiter_acquire_next(struct arbiter *a, uint64_t term)
{
	return enqueue(a, ARBITER_NEXT, term, 0);
}

int arbiter_bump(struct arbiter *a, uint64_t term)
{
	return enqueue(a, ARBITER_BUMP, term, 0);
}

int arbiter_report(struct arbiter *a, uint64_t term, uint64_t released)
{
	pthread_mutex_lock(&a->mu);
	a->report_term = term;
	a->report_released = released;
	pthread_mutex_unlock(&a->mu);
	/* a report still waiting takes these values: enqueue adds none */
	return enqueue(a, ARBITER_REPORT, term, 0);
}

int arbiter_keepalive(struct arbiter *a)
{
	return enqueue(a, ARBITER_KEEPALIVE, 0, 0);
}

int arbiter_revoke(struct arbiter *a)
{
	return enqueue(a, ARBITER_REVOKE, 0, 0);
}

/* Queues op and waits for its result (which bypasses the callback). */
static int run_sync(struct arbiter *a, enum arbiter_op op, uint64_t keep_term,
		    struct arbiter_result *r)
{
	int err;

	pthread_mutex_lock(&a->mu);
	a->sync_ready = 0;
	pthread_mutex_unlock(&a->mu);
	err = enqueue(a, op, keep_term, 1);
	if (err)
		return err;
	pthread_mutex_lock(&a->mu);
	while (!a->sync_ready)
		pthread_cond_wait(&a->sync_cv, &a->mu);
	*r = a->sync_result;
	a->sync_ready = 0;
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int arbiter_acquire_sync(struct arbiter *a, uint64_t keep_term,
			 struct arbiter_result *r)
{
	return run_sync(a, ARBITER_ACQUIRE, keep_term, r);
}

int arbiter_revoke_sync(struct arbiter *a)
{
	struct arbiter_result r;
	int err = run_sync(a, ARBITER_REVOKE, 0, &r);

	if (err)
		return err;
	if (r.outcome != ARBITER_RELEASED) {
		log_warn("arbiter: giving the lease up failed (it lapses "
			 "within lease_ttl): %s",
			 r.why);
		return -EIO;
	}
	return 0;
}

void arbiter_set_cb(struct arbiter *a, arbiter_cb cb, void *opaque)
{
	a->cb = cb;
	a->opaque = opaque;
}

/* Splits "http://A:P[,http://B:Q]..." into a->endpoints. */
static int parse_endpoints(struct arbiter *a, const char *list)
{
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n >= CONFIG_URLS_MAX ||
		    a->nendpoints == ARBITER_ENDPOINTS_MAX)
			return -EINVAL;
		memcpy(a->endpoints[a->nendpoints], p, n);
		a->endpoints[a->nendpoints][n] = '\0';
		a->nendpoints++;
		p += n;
		if (*p == ',')
			p++;
	}
	return a->nendpoints ? 0 : -EINVAL;
}

static void on_close(uv_handle_t *h)
{
	struct arbiter *a = h->data;

	free(a->done);
	free(a);
}

struct arbiter *arbiter_new(uv_loop_t *loop, const struct config *cfg,
			    const char *node, arbiter_cb cb, void *opaque)
{
	char w[8], probe[CONFIG_NAME_MAX + 4];
	struct arbiter *a;
	uint64_t t;
	int err;

	pthread_once(&curl_once, curl_init);
	if (curl_init_code != CURLE_OK) {
		log_error("arbiter: curl_global_init: %s",
			  curl_easy_strerror(curl_init_code));
		errno = EIO;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	/* A node name as owner's value needs it ("NODE 1" must parse). */
	snprintf(probe, sizeof(probe), "%s 1", node ? node : "");
	if (!node ||
	    etcd_owner_parse(probe, strlen(probe), a->node, sizeof(a->node), &t,
			     w, sizeof(w)) ||
	    !cfg->cluster[0] ||
	    parse_endpoints(a, cfg->failover.etcd_endpoints) ||
	    cfg->failover.lease_ttl_ns < 1000000000ull) {
		log_error("arbiter: needs a node name, a cluster name, "
			  "failover.etcd_endpoints and lease_ttl >= 1s");
		free(a);
		errno = EINVAL;
		return NULL;
	}
	snprintf(a->key_term, sizeof(a->key_term), "/remora/%s/term",
		 cfg->cluster);
	snprintf(a->key_owner, sizeof(a->key_owner), "/remora/%s/owner",
		 cfg->cluster);
	snprintf(a->key_released, sizeof(a->key_released),
		 "/remora/%s/released", cfg->cluster);
	a->ttl_s = (int64_t)(cfg->failover.lease_ttl_ns / 1000000000ull);
	/* A dead endpoint must never eat the lease: a third of it, at most
	 * 1 s, then the next endpoint. */
	t = cfg->failover.lease_ttl_ns / 3 / 1000000;
	a->timeout_ms = t < 1000 ? (long)t : 1000;
	a->loop = loop;
	a->cb = cb;
	a->opaque = opaque;

	a->w_curl = curl_easy_init();
	if (!a->w_curl) {
		err = ENOMEM;
		goto err_free;
	}
	curl_easy_setopt(a->w_curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->w_curl, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_easy_setopt(a->w_curl, CURLOPT_CONNECTTIMEOUT_MS, a->timeout_ms);
	/* etcd is reached directly: never through an http_proxy from the
	 * environment. */
	curl_easy_setopt(a->w_curl, CURLOPT_PROXY, "");
	curl_easy_setopt(a->w_curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->w_curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(a->w_curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a->w_curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(a->w_curl, CURLOPT_XFERINFODATA, a);

	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->wake, NULL);
	pthread_cond_init(&a->sync_cv, NULL);
	err = uv_async_init(loop, &a->async, on_async);
	if (err) {
		err = -err;
		goto err_sync;
	}
	/* Answers matter only while the daemon's own handles run: the
	 * arbiter must not keep its loop alive once they have closed. */
	uv_unref((uv_handle_t *)&a->async);
	a->async.data = a;
	err = pthread_create(&a->thread, NULL, worker, a);
	if (err) {
		/* The close callback frees a. */
		curl_easy_cleanup(a->w_curl);
		pthread_cond_destroy(&a->sync_cv);
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->mu);
		uv_close((uv_handle_t *)&a->async, on_close);
		errno = err;
		return NULL;
	}
	return a;

err_sync:
	pthread_cond_destroy(&a->sync_cv);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->mu);
	curl_easy_cleanup(a->w_curl);
err_free:
	free(a);
	errno = err;
	return NULL;
}

void arbiter_free(struct arbiter *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	atomic_store(&a->stop, 1);
	pthread_cond_broadcast(&a->wake);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	curl_easy_cleanup(a->w_curl);
	free(a->w_resp);
	pthread_cond_destroy(&a->sync_cv);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->mu);
	uv_close((uv_handle_t *)&a->async, on_close);
}
