/*
 * etcd v3 JSON gateway bodies (see etcd_json.h). The grammar of what is read,
 * as etcd 3.4's grpc-gateway writes it (int64 fields are decimal strings,
 * proto3 leaves out every field at its zero value):
 *
 *   error     = {"error": MSG | {"grpc_code": N, "message": MSG, ...},
 *                "message": MSG, "code": N}
 *   range     = {"header": {...}, "kvs": [KV]?, "count": "N"?, "more": B?}
 *   KV        = {"key": B64, "create_revision": "N", "mod_revision": "N",
 *                "version": "N", "value": B64?, "lease": "N"?}
 *   txn       = {"header": {...}, "succeeded": true?, "responses": [OP]?}
 *   OP        = {"response_range": range} | {"response_put": {...}} | ...
 *   grant     = {"header": {...}, "ID": "N", "TTL": "N", "error": ""?}
 *   keepalive = MSG ("\n" MSG)* "\n"?, MSG = {"result": {"header": {...},
 *                "ID": "N"?, "TTL": "N"?}} | error
 *   revoke    = {"header": {...}}
 *
 * Unknown fields are ignored (a newer etcd may add some); the fields remora
 * uses must have the right type and range. Requests are written with
 * snprintf: every string in them is base64 or a decimal, so nothing needs
 * JSON escaping.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "etcd_json.h"
#include "fail.h"

/* Deep enough for txn → responses → response_range → kvs → KV. */
#define ETCD_JSON_DEPTH 16

/* --- base64 ------------------------------------------------------------ */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int etcd_b64_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t need = (n + 2) / 3 * 4, o = 0;

	if (need >= cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_index(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *in, size_t n, void *out, size_t cap)
{
	uint8_t *p = out;
	size_t o = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int pad = 0, d[4];
		uint32_t v = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=') {
				/* Padding only in the last group's last two. */
				if (i + 4 != n || k < 2)
					return -EINVAL;
				pad++;
				d[k] = 0;
				continue;
			}
			if (pad) /* a character after '=' */
				return -EINVAL;
			d[k] = b64_index(in[i + k]);
			if (d[k] < 0)
				return -EINVAL;
		}
		v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		    (uint32_t)d[2] << 6 | (uint32_t)d[3];
		/* Canonical: the bits the padding hides are zero. */
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
			return -EINVAL;
		if (o + 3 - (size_t)pad > cap)
			return -ENOSPC;
		p[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			p[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			p[o++] = (uint8_t)v;
	}
	return (int)o;
}

/* --- requests ---------------------------------------------------------- */

/* snprintf's result as this module's: the length, or -ENOSPC. */
static int fit(int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* A string's base64 into out (sized for ETCD_VALUE_MAX), or -EINVAL. */
#define B64_MAX ((ETCD_VALUE_MAX + 2) / 3 * 4 + 1)
static int b64_str(const char *s, char out[B64_MAX])
{
	size_t n;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	if (n >= ETCD_VALUE_MAX)
		return -EINVAL;
	return etcd_b64_encode(s, n, out, B64_MAX) < 0 ? -EINVAL : 0;
}

int etcd_json_range_req(char *buf, size_t cap, const char *key)
{
	char k[B64_MAX];

	if (b64_str(key, k) || !*key)
		return -EINVAL;
	return fit(snprintf(buf, cap, "{\"key\":\"%s\"}", k), cap);
}

int etcd_json_grant_req(char *buf, size_t cap, int64_t ttl_s)
{
	if (ttl_s < 1 || ttl_s > ETCD_TTL_MAX)
		return -EINVAL;
	return fit(snprintf(buf, cap, "{\"TTL\":\"%lld\"}", (long long)ttl_s),
		   cap);
}

int etcd_json_lease_req(char *buf, size_t cap, int64_t id)
{
	if (id <= 0)
		return -EINVAL;
	return fit(snprintf(buf, cap, "{\"ID\":\"%lld\"}", (long long)id), cap);
}

/* Appends to buf at *off; -ENOSPC once it no longer fits. */
static int add(char *buf, size_t cap, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= cap)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

static int add_reads(char *buf, size_t cap, size_t *off,
		     const char *const *keys, int n, int first)
{
	char k[B64_MAX];

	for (int i = 0; i < n; i++) {
		if (b64_str(keys[i], k) || !*keys[i])
			return -EINVAL;
		if (add(buf, cap, off, "%s{\"request_range\":{\"key\":\"%s\"}}",
			first && i == 0 ? "" : ",", k))
			return -ENOSPC;
	}
	return 0;
}

int etcd_json_txn_req(char *buf, size_t cap, const struct etcd_txn *t)
{
	static const char *const targets[] = {"CREATE", "MOD", "VALUE"};
	char k[B64_MAX], v[B64_MAX];
	size_t off = 0;
	int err;

	if (t->ncmp < 0 || t->ncmp > ETCD_TXN_OPS_MAX || t->nput < 0 ||
	    t->nput > ETCD_TXN_OPS_MAX || t->nsuccess_read < 0 ||
	    t->nsuccess_read > ETCD_TXN_OPS_MAX || t->nfailure_read < 0 ||
	    t->nfailure_read > ETCD_TXN_OPS_MAX)
		return -EINVAL;
	if (add(buf, cap, &off, "{\"compare\":["))
		return -ENOSPC;
	for (int i = 0; i < t->ncmp; i++) {
		const struct etcd_compare *c = &t->cmp[i];

		if (b64_str(c->key, k) || !*c->key ||
		    (unsigned)c->target > ETCD_TARGET_VALUE)
			return -EINVAL;
		if (add(buf, cap, &off,
			"%s{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":\"%"
			"s\",",
			i ? "," : "", k, targets[c->target]))
			return -ENOSPC;
		if (c->target == ETCD_TARGET_VALUE) {
			if (b64_str(c->value, v))
				return -EINVAL;
			err = add(buf, cap, &off, "\"value\":\"%s\"}", v);
		} else {
			if (c->revision < 0)
				return -EINVAL;
			err = add(buf, cap, &off, "\"%s\":\"%lld\"}",
				  c->target == ETCD_TARGET_CREATE
					  ? "create_revision"
					  : "mod_revision",
				  (long long)c->revision);
		}
		if (err)
			return -ENOSPC;
	}
	if (add(buf, cap, &off, "],\"success\":["))
		return -ENOSPC;
	for (int i = 0; i < t->nput; i++) {
		const struct etcd_put *p = &t->put[i];

		if (b64_str(p->key, k) || !*p->key || b64_str(p->value, v) ||
		    p->lease < 0)
			return -EINVAL;
		if (add(buf, cap, &off,
			"%s{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"",
			i ? "," : "", k, v))
			return -ENOSPC;
		if (p->lease && add(buf, cap, &off, ",\"lease\":\"%lld\"",
				    (long long)p->lease))
			return -ENOSPC;
		if (add(buf, cap, &off, "}}"))
			return -ENOSPC;
	}
	err = add_reads(buf, cap, &off, t->success_read, t->nsuccess_read,
			t->nput == 0);
	if (err)
		return err;
	if (add(buf, cap, &off, "],\"failure\":["))
		return -ENOSPC;
	err = add_reads(buf, cap, &off, t->failure_read, t->nfailure_read, 1);
	if (err)
		return err;
	if (add(buf, cap, &off, "]}"))
		return -ENOSPC;
	return (int)off;
}

/* --- responses --------------------------------------------------------- */

/*
 * Parses exactly one JSON object from body[*pos..len), skipping whitespace
 * around it, and advances *pos past it. NULL (why set) on anything else.
 */
static json_object *parse_one(const char *body, size_t len, size_t *pos,
			      const char *what, char *why, size_t whylen)
{
	json_tokener *tok;
	json_object *o;
	size_t p = *pos;

	while (p < len && strchr(" \t\r\n", body[p]) && body[p])
		p++;
	if (p == len) {
		fail_line(why, whylen, -EPROTO, "%s: empty body", what);
		return NULL;
	}
	if (len - p > (size_t)INT32_MAX) {
		fail_line(why, whylen, -EPROTO, "%s: body too large", what);
		return NULL;
	}
	tok = json_tokener_new_ex(ETCD_JSON_DEPTH);
	if (!tok) {
		fail_line(why, whylen, -EPROTO, "%s: out of memory", what);
		return NULL;
	}
	/* Strict (no trailing commas, single quotes, comments), but stop after
	 * the object: the keepalive stream has several; callers check the rest. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_ALLOW_TRAILING_CHARS);
	o = json_tokener_parse_ex(tok, body + p, (int)(len - p));
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (e == json_tokener_continue)
			fail_line(why, whylen, -EPROTO, "%s: truncated JSON",
				  what);
		else
			fail_line(why, whylen, -EPROTO, "%s: bad JSON: %s",
				  what, json_tokener_error_desc(e));
		json_tokener_free(tok);
		return NULL;
	}
	p += json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		fail_line(why, whylen, -EPROTO, "%s: not a JSON object", what);
		return NULL;
	}
	while (p < len && body[p] && strchr(" \t\r\n", body[p]))
		p++;
	*pos = p;
	return o;
}

/* Parses a body that is exactly one object. */
static json_object *parse_body(const char *body, size_t len, const char *what,
			       char *why, size_t whylen)
{
	size_t pos = 0;
	json_object *o;

	if (memchr(body, '\0', len)) {
		fail_line(why, whylen, -EPROTO, "%s: NUL byte in body", what);
		return NULL;
	}
	o = parse_one(body, len, &pos, what, why, whylen);
	if (o && pos != len) {
		json_object_put(o);
		fail_line(why, whylen, -EPROTO,
			  "%s: data after the JSON object", what);
		return NULL;
	}
	return o;
}

/* Copies s into why on one line, control characters as '?'. */
static void one_line(char *dst, size_t cap, const char *s)
{
	size_t i;

	if (!cap)
		return;
	for (i = 0; s[i] && i + 1 < cap; i++)
		dst[i] =
			(unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	dst[i] = '\0';
}

/* The error object's message and code, if o is one. */
static int error_of(json_object *o, int *code, char *why, size_t whylen)
{
	json_object *e, *m = NULL, *c = NULL;
	char msg[200];

	if (!json_object_object_get_ex(o, "error", &e))
		return 0;
	/* The grant response has "error":"" on success (proto field). */
	if (json_object_is_type(e, json_type_string) &&
	    json_object_get_string_len(e) == 0)
		return 0;
	if (json_object_is_type(e, json_type_object)) {
		json_object_object_get_ex(e, "message", &m);
		json_object_object_get_ex(e, "grpc_code", &c);
	} else {
		if (!json_object_object_get_ex(o, "message", &m))
			m = e;
		json_object_object_get_ex(o, "code", &c);
	}
	one_line(msg, sizeof(msg),
		 m && json_object_is_type(m, json_type_string)
			 ? json_object_get_string(m)
			 : "(no message)");
	*code = c && json_object_is_type(c, json_type_int)
			? (int)json_object_get_int(c)
			: -1;
	if (*code < 0 || *code > 16)
		*code = -1;
	fail_line(why, whylen, 0, "%s (code %d)", msg, *code);
	return 1;
}

int etcd_json_error(const char *body, size_t len, int *code, char *why,
		    size_t whylen)
{
	json_object *o;
	char ignore[8];
	int r;

	o = parse_body(body, len, "error", ignore, sizeof(ignore));
	if (!o)
		return 0;
	r = error_of(o, code, why, whylen);
	json_object_put(o);
	return r;
}

/*
 * A decimal int64 as the gateway writes it: a string of digits (a leading
 * '-' only if neg_ok), no leading zeros, no sign '+', no spaces. A JSON
 * integer is accepted too (a gateway may write small ones bare).
 */
static int get_int64(json_object *o, int64_t *v)
{
	const char *s;
	int len, neg = 0, i = 0;
	uint64_t acc = 0, lim;

	if (json_object_is_type(o, json_type_int)) {
		errno = 0;
		*v = json_object_get_int64(o);
		/* json-c clamps beyond int64; its uint64 view tells. */
		if (*v == INT64_MAX &&
		    json_object_get_uint64(o) != (uint64_t)INT64_MAX)
			return -1;
		return 0;
	}
	if (!json_object_is_type(o, json_type_string))
		return -1;
	s = json_object_get_string(o);
	len = json_object_get_string_len(o);
	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len || len - i > 19 || (s[i] == '0' && len - i > 1) ||
	    (neg && s[i] == '0'))
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (acc > (lim - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		acc = acc * 10 + (uint64_t)(s[i] - '0');
	}
	*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

/*
 * An optional int64 field in [lo, hi]; absent is 0 (proto3). Returns 0 or
 * -EPROTO with why naming the field.
 */
static int field_int64(json_object *o, const char *name, int64_t lo, int64_t hi,
		       int64_t *v, const char *what, char *why, size_t whylen)
{
	json_object *f;

	*v = 0;
	if (!json_object_object_get_ex(o, name, &f))
		return lo <= 0 && 0 <= hi
			       ? 0
			       : fail_line(why, whylen, -EPROTO,
					   "%s: %s: missing", what, name);
	if (get_int64(f, v))
		return fail_line(why, whylen, -EPROTO,
				 "%s: %s: not a decimal int64", what, name);
	if (*v < lo || *v > hi)
		return fail_line(why, whylen, -EPROTO,
				 "%s: %s: %lld out of range %lld..%lld", what,
				 name, (long long)*v, (long long)lo,
				 (long long)hi);
	return 0;
}

/* The common checks: an object, not an error, with a header object. */
static int check_reply(json_object *o, const char *what, char *why,
		       size_t whylen)
{
	json_object *h;
	int code;

	if (error_of(o, &code, why, whylen))
		return -EREMOTEIO;
	if (!json_object_object_get_ex(o, "header", &h) ||
	    !json_object_is_type(h, json_type_object))
		return fail_line(why, whylen, -EPROTO, "%s: no header object",
				 what);
	return 0;
}

static int parse_kv(json_object *o, struct etcd_kv *kv, const char *what,
		    char *why, size_t whylen)
{
	json_object *f;
	int n;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object))
		return fail_line(why, whylen, -EPROTO,
				 "%s: kv is not an object", what);
	if (field_int64(o, "create_revision", 1, INT64_MAX,
			&kv->create_revision, what, why, whylen) ||
	    field_int64(o, "mod_revision", kv->create_revision, INT64_MAX,
			&kv->mod_revision, what, why, whylen) ||
	    field_int64(o, "lease", 0, INT64_MAX, &kv->lease, what, why,
			whylen))
		return -EPROTO;
	if (json_object_object_get_ex(o, "value", &f)) {
		if (!json_object_is_type(f, json_type_string))
			return fail_line(why, whylen, -EPROTO,
					 "%s: value: not a string", what);
		n = etcd_b64_decode(json_object_get_string(f),
				    (size_t)json_object_get_string_len(f),
				    kv->value, sizeof(kv->value) - 1);
		if (n == -ENOSPC)
			return fail_line(why, whylen, -EPROTO,
					 "%s: value: longer than %d bytes",
					 what, ETCD_VALUE_MAX - 1);
		if (n < 0)
			return fail_line(why, whylen, -EPROTO,
					 "%s: value: bad base64", what);
		if (memchr(kv->value, '\0', (size_t)n))
			return fail_line(why, whylen, -EPROTO,
					 "%s: value: NUL byte inside", what);
		kv->value[n] = '\0';
		kv->value_len = (size_t)n;
	}
	kv->found = 1;
	return 0;
}

/* A range reply (top level or inside a txn): kvs has 0 or 1 entry. */
static int parse_range(json_object *o, struct etcd_kv *kv, const char *what,
		       char *why, size_t whylen)
{
	json_object *kvs;
	size_t n;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return fail_line(why, whylen, -EPROTO, "%s: kvs: not an array",
				 what);
	n = json_object_array_length(kvs);
	if (n > 1)
		return fail_line(why, whylen, -EPROTO,
				 "%s: kvs: %zu keys for a one-key range", what,
				 n);
	if (n == 0)
		return 0;
	return parse_kv(json_object_array_get_idx(kvs, 0), kv, what, why,
			whylen);
}

int etcd_json_range(const char *body, size_t len, struct etcd_kv *kv, char *why,
		    size_t whylen)
{
	json_object *o = parse_body(body, len, "range", why, whylen);
	int err;

	memset(kv, 0, sizeof(*kv));
	if (!o)
		return -EPROTO;
	err = check_reply(o, "range", why, whylen);
	if (!err)
		err = parse_range(o, kv, "range", why, whylen);
	json_object_put(o);
	return err;
}

int etcd_json_txn(const char *body, size_t len, struct etcd_txn_result *r,
		  char *why, size_t whylen)
{
	json_object *o = parse_body(body, len, "txn", why, whylen);
	json_object *f, *resps;
	int err;

	memset(r, 0, sizeof(*r));
	if (!o)
		return -EPROTO;
	err = check_reply(o, "txn", why, whylen);
	if (err)
		goto out;
	if (json_object_object_get_ex(o, "succeeded", &f)) {
		if (!json_object_is_type(f, json_type_boolean)) {
			err = fail_line(why, whylen, -EPROTO,
					"txn: succeeded: not a boolean");
			goto out;
		}
		r->succeeded = json_object_get_boolean(f);
	}
	if (!json_object_object_get_ex(o, "responses", &resps))
		goto out;
	if (!json_object_is_type(resps, json_type_array)) {
		err = fail_line(why, whylen, -EPROTO,
				"txn: responses: not an array");
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(resps); i++) {
		json_object *op = json_object_array_get_idx(resps, i), *rr;

		if (!json_object_is_type(op, json_type_object)) {
			err = fail_line(why, whylen, -EPROTO,
					"txn: responses[%zu]: not an object",
					i);
			goto out;
		}
		if (!json_object_object_get_ex(op, "response_range", &rr))
			continue;
		if (!json_object_is_type(rr, json_type_object)) {
			err = fail_line(why, whylen, -EPROTO,
					"txn: responses[%zu]: not an object",
					i);
			goto out;
		}
		if (r->nreads == ETCD_TXN_READS_MAX) {
			err = fail_line(why, whylen, -EPROTO,
					"txn: more than %d ranges",
					ETCD_TXN_READS_MAX);
			goto out;
		}
		err = parse_range(rr, &r->reads[r->nreads], "txn range", why,
				  whylen);
		if (err)
			goto out;
		r->nreads++;
	}
out:
	json_object_put(o);
	return err;
}

int etcd_json_grant(const char *body, size_t len, int64_t *id, int64_t *ttl_s,
		    char *why, size_t whylen)
{
	json_object *o = parse_body(body, len, "grant", why, whylen);
	int err;

	*id = *ttl_s = 0;
	if (!o)
		return -EPROTO;
	err = check_reply(o, "grant", why, whylen);
	if (!err)
		err = field_int64(o, "ID", 1, INT64_MAX, id, "grant", why,
				  whylen);
	if (!err)
		err = field_int64(o, "TTL", 1, ETCD_TTL_MAX, ttl_s, "grant",
				  why, whylen);
	json_object_put(o);
	if (err)
		*id = *ttl_s = 0;
	return err;
}

int etcd_json_keepalive(const char *body, size_t len, int64_t *ttl_s, char *why,
			size_t whylen)
{
	size_t pos = 0;
	int msgs = 0, err = 0;

	*ttl_s = 0;
	if (memchr(body, '\0', len))
		return fail_line(why, whylen, -EPROTO,
				 "keepalive: NUL byte in body");
	do {
		json_object *o, *res;
		int code;

		o = parse_one(body, len, &pos, "keepalive", why, whylen);
		if (!o) {
			*ttl_s = 0;
			return -EPROTO;
		}
		msgs++;
		if (error_of(o, &code, why, whylen)) {
			err = -EREMOTEIO;
		} else if (!json_object_object_get_ex(o, "result", &res) ||
			   !json_object_is_type(res, json_type_object)) {
			err = fail_line(
				why, whylen, -EPROTO,
				"keepalive: message %d: no result object",
				msgs);
		} else {
			err = check_reply(res, "keepalive", why, whylen);
			if (!err)
				err = field_int64(res, "TTL", 0, ETCD_TTL_MAX,
						  ttl_s, "keepalive", why,
						  whylen);
		}
		json_object_put(o);
		if (err) {
			*ttl_s = 0;
			return err;
		}
	} while (pos < len);
	return 0;
}

int etcd_json_revoke(const char *body, size_t len, char *why, size_t whylen)
{
	json_object *o = parse_body(body, len, "revoke", why, whylen);
	int err;

	if (!o)
		return -EPROTO;
	err = check_reply(o, "revoke", why, whylen);
	json_object_put(o);
	return err;
}

/* --- values ------------------------------------------------------------ */

static int parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t acc = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (acc > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		acc = acc * 10 + (uint64_t)(s[i] - '0');
	}
	*v = acc;
	return 0;
}

int etcd_term_parse(const char *value, size_t len, uint64_t *term)
{
	return parse_u64(value, len, term);
}

int etcd_owner_parse(const char *value, size_t len, char *node, size_t nodecap,
		     uint64_t *term, char *why, size_t whylen)
{
	const char *sp = memchr(value, ' ', len);
	size_t n;

	if (!sp)
		return fail_line(why, whylen, -EINVAL,
				 "owner: no space between node and term");
	n = (size_t)(sp - value);
	if (n == 0 || n > 63 || n >= nodecap)
		return fail_line(why, whylen, -EINVAL,
				 "owner: node name of %zu bytes", n);
	for (size_t i = 0; i < n; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return fail_line(why, whylen, -EINVAL,
					 "owner: node name has byte 0x%02x",
					 (unsigned char)c);
	}
	if (parse_u64(sp + 1, len - n - 1, term) || *term == 0)
		return fail_line(why, whylen, -EINVAL,
				 "owner: term is not a decimal in 1..2^64-1");
	memcpy(node, value, n);
	node[n] = '\0';
	return 0;
}

int etcd_released_parse(const char *value, size_t len, uint64_t *term,
			uint64_t *offset, char *why, size_t whylen)
{
	const char *sp = memchr(value, ' ', len);
	size_t n;

	if (!sp)
		return fail_line(why, whylen, -EINVAL,
				 "released: no space between term and offset");
	n = (size_t)(sp - value);
	if (parse_u64(value, n, term) || *term == 0)
		return fail_line(
			why, whylen, -EINVAL,
			"released: term is not a decimal in 1..2^64-1");
	if (parse_u64(sp + 1, len - n - 1, offset))
		return fail_line(
			why, whylen, -EINVAL,
			"released: offset is not a decimal in 0..2^64-1");
	return 0;
}
