/*
 * Unit tests for etcd's JSON gateway bodies (common/etcd_json.h): base64
 * against RFC 4648's vectors, every request body byte for byte, every kind
 * of response as etcd 3.4 really sends it (copied from a live etcd), and each
 * class of malformed input, which must be refused with a reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etcd_json.h"

#define HDR                                                                \
	"\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":" \
	"\"3319814642761637952\",\"revision\":\"2\",\"raft_term\":\"2\"}"

static void test_base64(void **state)
{
	static const struct {
		const char *raw, *b64;
	} v[] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	static const char *const bad[] = {
		"Zg=",	    /* length */
		"Zg",	    /* length */
		"Z===",	    /* three pads */
		"Zh==",	    /* nonzero pad bits */
		"Zm9=",	    /* nonzero pad bits */
		"Zg==Zg==", /* pad in the middle */
		"Zm9v!A==", /* alphabet */
		"Zm-v",	    /* URL alphabet */
		"Z=g=",	    /* char after pad */
	};
	char out[32];
	uint8_t raw[32];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(etcd_b64_encode(v[i].raw, strlen(v[i].raw),
						 out, sizeof(out)),
				 strlen(v[i].b64));
		assert_string_equal(out, v[i].b64);
		assert_int_equal(etcd_b64_decode(v[i].b64, strlen(v[i].b64),
						 raw, sizeof(raw)),
				 strlen(v[i].raw));
		assert_memory_equal(raw, v[i].raw, strlen(v[i].raw));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_b64_decode(bad[i], strlen(bad[i]), raw,
						 sizeof(raw)),
				 -EINVAL);
	/* Exactly fits; one byte short. */
	assert_int_equal(etcd_b64_encode("foo", 3, out, 5), 4);
	assert_int_equal(etcd_b64_encode("foo", 3, out, 4), -ENOSPC);
	assert_int_equal(etcd_b64_decode("Zm9vYmFy", 8, raw, 6), 6);
	assert_int_equal(etcd_b64_decode("Zm9vYmFy", 8, raw, 5), -ENOSPC);
}

static void test_requests(void **state)
{
	char buf[1024];
	struct etcd_txn t = {
		.cmp = {{.key = "/remora/c/owner",
			 .target = ETCD_TARGET_CREATE,
			 .revision = 0},
			{.key = "/remora/c/term",
			 .target = ETCD_TARGET_MOD,
			 .revision = 7}},
		.ncmp = 2,
		.put = {{.key = "/remora/c/term", .value = "1"},
			{.key = "/remora/c/owner",
			 .value = "a 1",
			 .lease = 2324035865281490701}},
		.nput = 2,
		.failure_read = {"/remora/c/owner", "/remora/c/term"},
		.nfailure_read = 2,
	};
	const char *want =
		"{\"compare\":["
		"{\"key\":\"L3JlbW9yYS9jL293bmVy\",\"result\":\"EQUAL\","
		"\"target\":\"CREATE\",\"create_revision\":\"0\"},"
		"{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\",\"result\":\"EQUAL\","
		"\"target\":\"MOD\",\"mod_revision\":\"7\"}],"
		"\"success\":["
		"{\"request_put\":{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\","
		"\"value\":\"MQ==\"}},"
		"{\"request_put\":{\"key\":\"L3JlbW9yYS9jL293bmVy\","
		"\"value\":\"YSAx\",\"lease\":\"2324035865281490701\"}}],"
		"\"failure\":["
		"{\"request_range\":{\"key\":\"L3JlbW9yYS9jL293bmVy\"}},"
		"{\"request_range\":{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\"}}]}";
	struct etcd_txn rd = {
		.cmp = {{.key = "/remora/c/term",
			 .target = ETCD_TARGET_VALUE,
			 .value = "3"}},
		.ncmp = 1,
		.success_read = {"/remora/c/owner"},
		.nsuccess_read = 1,
	};
	int n;

	(void)state;
	assert_int_equal(
		etcd_json_range_req(buf, sizeof(buf), "/remora/c/term"),
		strlen("{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\"}"));
	assert_string_equal(buf, "{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\"}");
	assert_int_equal(etcd_json_grant_req(buf, sizeof(buf), 5), 11);
	assert_string_equal(buf, "{\"TTL\":\"5\"}");
	assert_int_equal(etcd_json_lease_req(buf, sizeof(buf), 42), 11);
	assert_string_equal(buf, "{\"ID\":\"42\"}");
	n = etcd_json_txn_req(buf, sizeof(buf), &t);
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
	assert_true(etcd_json_txn_req(buf, sizeof(buf), &rd) > 0);
	assert_string_equal(
		buf,
		"{\"compare\":[{\"key\":\"L3JlbW9yYS9jL3Rlcm0=\","
		"\"result\":\"EQUAL\",\"target\":\"VALUE\",\"value\":\"Mw==\"}"
		"],\"success\":[{\"request_range\":{\"key\":"
		"\"L3JlbW9yYS9jL293bmVy\"}}],\"failure\":[]}");

	/* Every truncation of the buffer is refused, never overrun. */
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		char small[1024];

		memset(small, 'x', sizeof(small));
		assert_int_equal(etcd_json_txn_req(small, cap, &t), -ENOSPC);
		assert_int_equal(small[cap], 'x');
	}
	/* Arguments etcd would refuse. */
	assert_int_equal(etcd_json_grant_req(buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(
		etcd_json_grant_req(buf, sizeof(buf), ETCD_TTL_MAX + 1),
		-EINVAL);
	assert_int_equal(etcd_json_lease_req(buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(etcd_json_range_req(buf, sizeof(buf), ""), -EINVAL);
	t.ncmp = 3;
	assert_int_equal(etcd_json_txn_req(buf, sizeof(buf), &t), -EINVAL);
}

/* A parser's refusal: the code and a reason containing want. */
#define REFUSED(call, err, want)                                      \
	do {                                                          \
		why[0] = '\0';                                        \
		assert_int_equal((call), (err));                      \
		if (!strstr(why, (want)))                             \
			fail_msg("why '%s' lacks '%s'", why, (want)); \
	} while (0)

static void test_range(void **state)
{
	const char *found =
		"{" HDR ",\"kvs\":[{\"key\":\"L3JlbW9yYS9jL293bmVy\","
		"\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":"
		"\"1\",\"value\":\"YSAx\",\"lease\":\"2324035865281490701\"}],"
		"\"count\":\"1\"}";
	const char *absent = "{" HDR "}";
	struct etcd_kv kv;
	char why[256];

	(void)state;
	assert_int_equal(
		etcd_json_range(found, strlen(found), &kv, why, sizeof(why)),
		0);
	assert_true(kv.found);
	assert_string_equal(kv.value, "a 1");
	assert_int_equal(kv.value_len, 3);
	assert_int_equal(kv.create_revision, 2);
	assert_int_equal(kv.mod_revision, 3);
	assert_int_equal(kv.lease, 2324035865281490701);
	assert_int_equal(
		etcd_json_range(absent, strlen(absent), &kv, why, sizeof(why)),
		0);
	assert_false(kv.found);

#define BAD_KV(kvjson, want)                                                  \
	do {                                                                  \
		const char *b = "{" HDR ",\"kvs\":[" kvjson "]}";             \
		REFUSED(etcd_json_range(b, strlen(b), &kv, why, sizeof(why)), \
			-EPROTO, want);                                       \
	} while (0)
	BAD_KV("{\"create_revision\":\"x\",\"mod_revision\":\"1\"}",
	       "create_revision: not a decimal int64");
	BAD_KV("{\"create_revision\":\"01\",\"mod_revision\":\"1\"}",
	       "create_revision: not a decimal int64");
	BAD_KV("{\"create_revision\":\"9223372036854775808\"}",
	       "create_revision: not a decimal int64");
	BAD_KV("{\"create_revision\":\"0\",\"mod_revision\":\"1\"}",
	       "create_revision: 0 out of range");
	BAD_KV("{\"mod_revision\":\"1\"}", "create_revision: missing");
	BAD_KV("{\"create_revision\":\"5\",\"mod_revision\":\"4\"}",
	       "mod_revision: 4 out of range");
	BAD_KV("{\"create_revision\":\"1\",\"mod_revision\":\"1\","
	       "\"lease\":\"-1\"}",
	       "lease: -1 out of range");
	BAD_KV("{\"create_revision\":1.5,\"mod_revision\":\"1\"}",
	       "create_revision: not a decimal int64");
	BAD_KV("{\"create_revision\":\"1\",\"mod_revision\":\"1\","
	       "\"value\":\"YSA\"}",
	       "value: bad base64");
	BAD_KV("{\"create_revision\":\"1\",\"mod_revision\":\"1\","
	       "\"value\":\"AA==\"}",
	       "value: NUL byte inside");
	BAD_KV("{\"create_revision\":\"1\",\"mod_revision\":\"1\","
	       "\"value\":7}",
	       "value: not a string");
	BAD_KV("7", "kv is not an object");
	BAD_KV("{\"create_revision\":\"1\",\"mod_revision\":\"1\"},"
	       "{\"create_revision\":\"1\",\"mod_revision\":\"1\"}",
	       "2 keys for a one-key range");

	REFUSED(etcd_json_range("", 0, &kv, why, sizeof(why)), -EPROTO,
		"empty body");
	REFUSED(etcd_json_range("{\"header\":{}", 12, &kv, why, sizeof(why)),
		-EPROTO, "truncated JSON");
	REFUSED(etcd_json_range("{\"header\":{}}x", 14, &kv, why, sizeof(why)),
		-EPROTO, "data after the JSON object");
	REFUSED(etcd_json_range("{\"header\":{}} {}", 16, &kv, why,
				sizeof(why)),
		-EPROTO, "data after the JSON object");
	REFUSED(etcd_json_range("[1]", 3, &kv, why, sizeof(why)), -EPROTO,
		"not a JSON object");
	REFUSED(etcd_json_range("{}", 2, &kv, why, sizeof(why)), -EPROTO,
		"no header object");
	REFUSED(etcd_json_range("{\"header\":{},}", 14, &kv, why, sizeof(why)),
		-EPROTO, "bad JSON");
	REFUSED(etcd_json_range("{\"header\":{}}\0", 14, &kv, why, sizeof(why)),
		-EPROTO, "NUL byte");
	REFUSED(etcd_json_range("{\"header\":{},\"kvs\":{}}", 22, &kv, why,
				sizeof(why)),
		-EPROTO, "kvs: not an array");
	/* Nesting deeper than etcd ever sends. */
	REFUSED(etcd_json_range(
			"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", 46,
			&kv, why, sizeof(why)),
		-EPROTO, "bad JSON");
}

static void test_txn(void **state)
{
	/* A failed acquire txn's answer, copied from etcd 3.4.23. */
	const char *failed =
		"{" HDR ",\"responses\":[{\"response_range\":{\"header\":{"
		"\"revision\":\"2\"},\"kvs\":[{\"key\":"
		"\"L3JlbW9yYS9jL293bmVy\","
		"\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
		"\"1\",\"value\":\"YSAx\",\"lease\":\"2324035865281490701\"}],"
		"\"count\":\"1\"}},{\"response_range\":{\"header\":{"
		"\"revision\":\"2\"},\"kvs\":[{\"key\":\"L3JlbW9yYS9jL3Rlcm0="
		"\","
		"\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
		"\"1\",\"value\":\"MQ==\"}],\"count\":\"1\"}}]}";
	const char *won =
		"{" HDR ",\"succeeded\":true,\"responses\":[{\"response_put\":"
		"{\"header\":{\"revision\":\"2\"}}},{\"response_put\":{"
		"\"header\":{\"revision\":\"2\"}}}]}";
	const char *absent =
		"{" HDR ",\"responses\":[{\"response_range\":{\"header\":{}}},"
		"{\"response_range\":{\"header\":{}}}]}";
	struct etcd_txn_result r;
	char why[256];
	const char *b;

	(void)state;
	assert_int_equal(
		etcd_json_txn(failed, strlen(failed), &r, why, sizeof(why)), 0);
	assert_false(r.succeeded);
	assert_int_equal(r.nreads, 2);
	assert_string_equal(r.reads[0].value, "a 1");
	assert_int_equal(r.reads[0].lease, 2324035865281490701);
	assert_string_equal(r.reads[1].value, "1");
	assert_int_equal(r.reads[1].lease, 0);
	assert_int_equal(etcd_json_txn(won, strlen(won), &r, why, sizeof(why)),
			 0);
	assert_true(r.succeeded);
	assert_int_equal(r.nreads, 0);
	assert_int_equal(
		etcd_json_txn(absent, strlen(absent), &r, why, sizeof(why)), 0);
	assert_int_equal(r.nreads, 2);
	assert_false(r.reads[0].found);
	assert_false(r.reads[1].found);

	b = "{" HDR ",\"succeeded\":\"true\"}";
	REFUSED(etcd_json_txn(b, strlen(b), &r, why, sizeof(why)), -EPROTO,
		"succeeded: not a boolean");
	b = "{" HDR ",\"responses\":{}}";
	REFUSED(etcd_json_txn(b, strlen(b), &r, why, sizeof(why)), -EPROTO,
		"responses: not an array");
	b = "{" HDR ",\"responses\":[1]}";
	REFUSED(etcd_json_txn(b, strlen(b), &r, why, sizeof(why)), -EPROTO,
		"responses[0]: not an object");
	b = "{" HDR ",\"responses\":[{\"response_range\":{}},{\"response_range"
	    "\":{}},{\"response_range\":{}}]}";
	REFUSED(etcd_json_txn(b, strlen(b), &r, why, sizeof(why)), -EPROTO,
		"more than 2 ranges");
}

static void test_lease(void **state)
{
	const char *grant = "{" HDR ",\"ID\":\"2324035865281490694\","
			    "\"TTL\":\"2\"}";
	/* keepalive: one message, newline-terminated, as the gateway sends */
	const char *kept =
		"{\"result\":{" HDR ",\"ID\":\"2324035865281490696\","
		"\"TTL\":\"5\"}}\n";
	const char *gone = "{\"result\":{" HDR ",\"ID\":\"2324035865281490694\""
			   "}}\n";
	const char *two = "{\"result\":{" HDR ",\"TTL\":\"5\"}}\n"
			  "{\"result\":{" HDR ",\"TTL\":\"7\"}}\n";
	int64_t id, ttl;
	char why[256];
	const char *b;

	(void)state;
	assert_int_equal(etcd_json_grant(grant, strlen(grant), &id, &ttl, why,
					 sizeof(why)),
			 0);
	assert_int_equal(id, 2324035865281490694);
	assert_int_equal(ttl, 2);
	/* A grant's "error":"" is not an error. */
	b = "{" HDR ",\"ID\":\"1\",\"TTL\":\"3\",\"error\":\"\"}";
	assert_int_equal(
		etcd_json_grant(b, strlen(b), &id, &ttl, why, sizeof(why)), 0);
	b = "{" HDR ",\"TTL\":\"3\"}";
	REFUSED(etcd_json_grant(b, strlen(b), &id, &ttl, why, sizeof(why)),
		-EPROTO, "grant: ID: missing");
	b = "{" HDR ",\"ID\":\"1\",\"TTL\":\"0\"}";
	REFUSED(etcd_json_grant(b, strlen(b), &id, &ttl, why, sizeof(why)),
		-EPROTO, "grant: TTL: 0 out of range");
	b = "{" HDR ",\"ID\":\"1\",\"TTL\":\"9000000001\"}";
	REFUSED(etcd_json_grant(b, strlen(b), &id, &ttl, why, sizeof(why)),
		-EPROTO, "TTL: 9000000001 out of range");
	assert_int_equal(id, 0);

	assert_int_equal(
		etcd_json_keepalive(kept, strlen(kept), &ttl, why, sizeof(why)),
		0);
	assert_int_equal(ttl, 5);
	assert_int_equal(etcd_json_keepalive(kept, strlen(kept) - 1, &ttl, why,
					     sizeof(why)),
			 0);
	assert_int_equal(
		etcd_json_keepalive(gone, strlen(gone), &ttl, why, sizeof(why)),
		0);
	assert_int_equal(ttl, 0);
	assert_int_equal(
		etcd_json_keepalive(two, strlen(two), &ttl, why, sizeof(why)),
		0);
	assert_int_equal(ttl, 7);
	REFUSED(etcd_json_keepalive("", 0, &ttl, why, sizeof(why)), -EPROTO,
		"empty body");
	b = "{" HDR ",\"TTL\":\"5\"}";
	REFUSED(etcd_json_keepalive(b, strlen(b), &ttl, why, sizeof(why)),
		-EPROTO, "no result object");
	b = "{\"result\":{" HDR ",\"TTL\":\"-1\"}}";
	REFUSED(etcd_json_keepalive(b, strlen(b), &ttl, why, sizeof(why)),
		-EPROTO, "TTL: -1 out of range");
	b = "{\"result\":{" HDR ",\"TTL\":\"5\"}}\n{\"res";
	REFUSED(etcd_json_keepalive(b, strlen(b), &ttl, why, sizeof(why)),
		-EPROTO, "truncated");
	assert_int_equal(ttl, 0);
	/* The stream form of an error. */
	b = "{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":"
	    "\"etcdserver: requested lease not found\",\"http_status\":"
	    "\"Not Found\"}}";
	REFUSED(etcd_json_keepalive(b, strlen(b), &ttl, why, sizeof(why)),
		-EREMOTEIO, "etcdserver: requested lease not found (code 5)");

	b = "{" HDR "}";
	assert_int_equal(etcd_json_revoke(b, strlen(b), why, sizeof(why)), 0);
}

static void test_errors(void **state)
{
	const char *nf =
		"{\"error\":\"etcdserver: requested lease not found\","
		"\"message\":\"etcdserver: requested lease not found\","
		"\"code\":5}";
	const char *nl = "{\"error\":\"etcdserver: no\\nleader\",\"code\":14}";
	char why[256];
	int code;
	int64_t id, ttl;
	struct etcd_kv kv;

	(void)state;
	assert_int_equal(
		etcd_json_error(nf, strlen(nf), &code, why, sizeof(why)), 1);
	assert_int_equal(code, ETCD_CODE_NOT_FOUND);
	assert_string_equal(why,
			    "etcdserver: requested lease not found (code 5)");
	/* One line, whatever etcd put in its message. */
	assert_int_equal(
		etcd_json_error(nl, strlen(nl), &code, why, sizeof(why)), 1);
	assert_int_equal(code, 14);
	assert_string_equal(why, "etcdserver: no?leader (code 14)");
	assert_int_equal(
		etcd_json_error("{\"header\":{}}", 13, &code, why, sizeof(why)),
		0);
	assert_int_equal(etcd_json_error("oops", 4, &code, why, sizeof(why)),
			 0);
	/* Every parser reports an error body as such. */
	REFUSED(etcd_json_revoke(nf, strlen(nf), why, sizeof(why)), -EREMOTEIO,
		"requested lease not found");
	REFUSED(etcd_json_grant(nf, strlen(nf), &id, &ttl, why, sizeof(why)),
		-EREMOTEIO, "(code 5)");
	REFUSED(etcd_json_range(nf, strlen(nf), &kv, why, sizeof(why)),
		-EREMOTEIO, "(code 5)");
	/* A tiny why is still terminated. */
	memset(why, 'x', sizeof(why));
	assert_int_equal(etcd_json_range("", 0, &kv, why, 4), -EPROTO);
	assert_string_equal(why, "ran");
}

static void test_values(void **state)
{
	char node[64], why[128];
	uint64_t term;

	(void)state;
	assert_int_equal(etcd_owner_parse("a 1", 3, node, sizeof(node), &term,
					  why, sizeof(why)),
			 0);
	assert_string_equal(node, "a");
	assert_int_equal(term, 1);
	assert_int_equal(etcd_owner_parse("node-b.x_1 18446744073709551615", 31,
					  node, sizeof(node), &term, why,
					  sizeof(why)),
			 0);
	assert_string_equal(node, "node-b.x_1");
	assert_int_equal(term, UINT64_MAX);
	REFUSED(etcd_owner_parse("a", 1, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "no space");
	REFUSED(etcd_owner_parse(" 1", 2, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "node name of 0 bytes");
	REFUSED(etcd_owner_parse("a 0", 3, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_owner_parse("a 01", 4, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_owner_parse("a 1 ", 4, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_owner_parse("a 18446744073709551616", 22, node,
				 sizeof(node), &term, why, sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_owner_parse("a/b 1", 5, node, sizeof(node), &term, why,
				 sizeof(why)),
		-EINVAL, "byte 0x2f");
	assert_int_equal(etcd_term_parse("0", 1, &term), 0);
	assert_int_equal(term, 0);
	assert_int_equal(etcd_term_parse("42", 2, &term), 0);
	assert_int_equal(term, 42);
	assert_int_equal(etcd_term_parse("", 0, &term), -EINVAL);
	assert_int_equal(etcd_term_parse("-1", 2, &term), -EINVAL);
	assert_int_equal(etcd_term_parse("1x", 2, &term), -EINVAL);
}

static void test_released_value(void **state)
{
	uint64_t term, off;
	char why[128];

	(void)state;
	assert_int_equal(
		etcd_released_parse("3 0", 3, &term, &off, why, sizeof(why)),
		0);
	assert_int_equal(term, 3);
	assert_int_equal(off, 0);
	assert_int_equal(etcd_released_parse("18446744073709551615 "
					     "18446744073709551615",
					     41, &term, &off, why, sizeof(why)),
			 0);
	assert_int_equal(term, UINT64_MAX);
	assert_int_equal(off, UINT64_MAX);
	REFUSED(etcd_released_parse("3", 1, &term, &off, why, sizeof(why)),
		-EINVAL, "no space");
	REFUSED(etcd_released_parse("0 5", 3, &term, &off, why, sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_released_parse(" 5", 2, &term, &off, why, sizeof(why)),
		-EINVAL, "term");
	REFUSED(etcd_released_parse("3 05", 4, &term, &off, why, sizeof(why)),
		-EINVAL, "offset");
	REFUSED(etcd_released_parse("3 5 ", 4, &term, &off, why, sizeof(why)),
		-EINVAL, "offset");
	REFUSED(etcd_released_parse("3 18446744073709551616", 22, &term, &off,
				    why, sizeof(why)),
		-EINVAL, "offset");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_txn),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_released_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
