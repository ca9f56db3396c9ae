/*
 * Fuzz target: etcd's JSON gateway replies (common/etcd_json.h), the bytes
 * the arbiter takes from the network. Every parser gets the same input.
 * Properties: no read past the input (replay and libFuzzer run it under
 * ASan); a refusal always says why, on one line; what is accepted is in
 * range (revisions ordered, values as long as they say, TTLs within etcd's);
 * base64 and the owner value are canonical: what decodes re-encodes to the
 * same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_json.h"
#include "fuzz.h"

static void check_why(int err, const char *why)
{
	if (err) {
		FUZZ_CHECK(err == -EPROTO || err == -EREMOTEIO);
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(!strchr(why, '\n'));
	}
}

static void check_kv(const struct etcd_kv *kv)
{
	if (!kv->found) {
		FUZZ_CHECK(kv->create_revision == 0 && kv->value_len == 0);
		return;
	}
	FUZZ_CHECK(kv->create_revision >= 1);
	FUZZ_CHECK(kv->mod_revision >= kv->create_revision);
	FUZZ_CHECK(kv->lease >= 0);
	FUZZ_CHECK(kv->value_len < ETCD_VALUE_MAX);
	FUZZ_CHECK(strlen(kv->value) == kv->value_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct etcd_txn_result t;
	struct etcd_kv kv;
	char why[256], enc[512], node[64], again[128];
	uint8_t dec[256];
	int64_t id, ttl;
	uint64_t term, off;
	int err, code, n;

	why[0] = '\0';
	err = etcd_json_range(body, size, &kv, why, sizeof(why));
	check_why(err, why);
	if (!err)
		check_kv(&kv);

	why[0] = '\0';
	err = etcd_json_txn(body, size, &t, why, sizeof(why));
	check_why(err, why);
	if (!err) {
		FUZZ_CHECK(t.nreads >= 0 && t.nreads <= ETCD_TXN_READS_MAX);
		for (int i = 0; i < t.nreads; i++)
			check_kv(&t.reads[i]);
	}

	why[0] = '\0';
	err = etcd_json_grant(body, size, &id, &ttl, why, sizeof(why));
	check_why(err, why);
	FUZZ_CHECK(err ? id == 0 && ttl == 0
		       : id > 0 && ttl > 0 && ttl <= ETCD_TTL_MAX);

	why[0] = '\0';
	err = etcd_json_keepalive(body, size, &ttl, why, sizeof(why));
	check_why(err, why);
	FUZZ_CHECK(err ? ttl == 0 : ttl >= 0 && ttl <= ETCD_TTL_MAX);

	why[0] = '\0';
	check_why(etcd_json_revoke(body, size, why, sizeof(why)), why);

	why[0] = '\0';
	if (etcd_json_error(body, size, &code, why, sizeof(why))) {
		FUZZ_CHECK(code >= -1 && code <= 16);
		FUZZ_CHECK(why[0] && !strchr(why, '\n'));
	}

	/* Canonical base64: decoded bytes encode back to the input. */
	n = etcd_b64_decode(body, size, dec, sizeof(dec));
	if (n >= 0) {
		FUZZ_CHECK(etcd_b64_encode(dec, (size_t)n, enc, sizeof(enc)) ==
			   (int)size);
		FUZZ_CHECK(!memcmp(enc, body, size));
	}

	/* The owner value: what parses prints back the same. */
	if (etcd_owner_parse(body, size, node, sizeof(node), &term, why,
			     sizeof(why)) == 0) {
		n = snprintf(again, sizeof(again), "%s %llu", node,
			     (unsigned long long)term);
		FUZZ_CHECK(n == (int)size && !memcmp(again, body, size));
	}
	if (etcd_term_parse(body, size, &term) == 0) {
		n = snprintf(again, sizeof(again), "%llu",
			     (unsigned long long)term);
		FUZZ_CHECK(n == (int)size && !memcmp(again, body, size));
	}
	/* The released value likewise. */
	why[0] = '\0';
	if (etcd_released_parse(body, size, &term, &off, why, sizeof(why)) ==
	    0) {
		n = snprintf(again, sizeof(again), "%llu %llu",
			     (unsigned long long)term, (unsigned long long)off);
		FUZZ_CHECK(term > 0);
		FUZZ_CHECK(n == (int)size && !memcmp(again, body, size));
	} else {
		FUZZ_CHECK(why[0] && !strchr(why, '\n'));
	}
	return 0;
}
