/*
 * The bytes remora exchanges with etcd's v3 JSON gateway (grpc-gateway, etcd
 * 3.4: POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke): request bodies built into caller buffers and response
 * bodies parsed into small structs. Keys and values travel in base64, int64
 * fields as decimal strings; every field read is validated (type, range,
 * base64) and anything else is refused with one line saying what is wrong.
 *
 * Pure code (docs/design.md §7): no libuv, no I/O, never exits. The arbiter
 * (arbiter.c) does the HTTP; tests/fuzz/fuzz_etcd_json.c fuzzes the parsers.
 */
#ifndef REMORA_ETCD_JSON_H
#define REMORA_ETCD_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Longest value remora stores or accepts ("NODE TERM", a decimal term). */
#define ETCD_VALUE_MAX 128
/* Longest key remora uses ("/remora/CLUSTER/owner"), with the NUL. */
#define ETCD_KEY_MAX 128
/* etcd's own ceiling on a lease TTL (lease.MaxLeaseTTL), in seconds. */
#define ETCD_TTL_MAX 9000000000LL
/* gRPC status code etcd sends for "requested lease not found". */
#define ETCD_CODE_NOT_FOUND 5
/* gRPC codes after which another endpoint may answer (no leader, timeout). */
#define ETCD_CODE_DEADLINE    4
#define ETCD_CODE_UNAVAILABLE 14

/* One key as a range (or a txn's request_range) returned it. */
struct etcd_kv {
	int found;		    /* 0: the key does not exist */
	char value[ETCD_VALUE_MAX]; /* decoded, NUL-terminated, no NUL inside */
	size_t value_len;	    /* bytes before the NUL */
	int64_t create_revision;    /* > 0 when found */
	int64_t mod_revision;	    /* >= create_revision when found */
	int64_t lease;		    /* attached lease ID, 0 = none */
};

/* A txn's answer: which branch ran and the ranges that branch read. */
#define ETCD_TXN_READS_MAX 2
struct etcd_txn_result {
	int succeeded; /* compare held: success ran */
	struct etcd_kv reads[ETCD_TXN_READS_MAX]; /* the request_range ones */
	int nreads;				  /* in request order */
};

/* Every compare remora makes is EQUAL, on one of these targets. */
enum etcd_target {
	ETCD_TARGET_CREATE, /* create_revision == revision (0: key absent) */
	ETCD_TARGET_MOD,    /* mod_revision == revision (0: key absent) */
	ETCD_TARGET_VALUE,  /* value == value (fails if the key is absent) */
};

struct etcd_compare {
	const char *key;
	enum etcd_target target;
	int64_t revision;  /* CREATE and MOD */
	const char *value; /* VALUE */
};

struct etcd_put {
	const char *key;
	const char *value;
	int64_t lease; /* 0 = none */
};

/*
 * One txn: if every compare holds, do puts then reads (success), else do the
 * failure reads. Reads are ranges of one key each, so a failed txn reports
 * the state it failed on, all at one revision.
 */
#define ETCD_TXN_OPS_MAX 2
struct etcd_txn {
	struct etcd_compare cmp[ETCD_TXN_OPS_MAX];
	int ncmp;
	struct etcd_put put[ETCD_TXN_OPS_MAX];
	int nput;
	const char *success_read[ETCD_TXN_OPS_MAX];
	int nsuccess_read;
	const char *failure_read[ETCD_TXN_OPS_MAX];
	int nfailure_read;
};

/*
 * Standard base64 with padding. encode writes a NUL-terminated string and
 * returns its length, or -ENOSPC (out too small: it needs 4*ceil(n/3)+1).
 * decode returns the decoded length, or -EINVAL (not canonical base64:
 * wrong length, bad character, bad padding, nonzero pad bits) or -ENOSPC;
 * it never writes past out[cap - 1].
 */
int etcd_b64_encode(const void *in, size_t n, char *out, size_t cap);
int etcd_b64_decode(const char *in, size_t n, void *out, size_t cap);

/*
 * Request bodies. Each writes a NUL-terminated JSON object into buf and
 * returns its length, or -ENOSPC when buf is too small, or -EINVAL for an
 * argument etcd would refuse (a key or value over ETCD_VALUE_MAX, a TTL
 * outside 1..ETCD_TTL_MAX, a lease ID <= 0, too many ops).
 */
int etcd_json_range_req(char *buf, size_t cap, const char *key);
int etcd_json_grant_req(char *buf, size_t cap, int64_t ttl_s);
/* {"ID":"N"}: the body of both keepalive and revoke. */
int etcd_json_lease_req(char *buf, size_t cap, int64_t id);
int etcd_json_txn_req(char *buf, size_t cap, const struct etcd_txn *t);

/*
 * Response parsers. Each returns 0 and fills its struct, -EREMOTEIO when the
 * body is etcd's error object (why = etcd's message and code, see
 * etcd_json_error), or -EPROTO when the body is not what etcd sends (why =
 * what is wrong, e.g. "range: kvs[0].mod_revision: not a decimal int64").
 * why is always NUL-terminated when an error is returned (whylen > 0).
 */

/* /v3/kv/range of one key: kv->found is 0 when it does not exist. */
int etcd_json_range(const char *body, size_t len, struct etcd_kv *kv, char *why,
		    size_t whylen);
/* /v3/kv/txn: r->nreads counts the request_range responses. */
int etcd_json_txn(const char *body, size_t len, struct etcd_txn_result *r,
		  char *why, size_t whylen);
/* /v3/lease/grant: the lease ID (> 0) and the TTL etcd granted (> 0, s). */
int etcd_json_grant(const char *body, size_t len, int64_t *id, int64_t *ttl_s,
		    char *why, size_t whylen);
/*
 * /v3/lease/keepalive, a server stream the gateway sends as one JSON object
 * per message, each {"result":{...}} (or {"error":...}), separated by
 * newlines. The last message counts. *ttl_s is the renewed TTL, or 0 when
 * etcd left TTL out: the lease no longer exists.
 */
int etcd_json_keepalive(const char *body, size_t len, int64_t *ttl_s, char *why,
			size_t whylen);
/* /v3/lease/revoke: 0 when etcd answered with its header. */
int etcd_json_revoke(const char *body, size_t len, char *why, size_t whylen);

/*
 * Whether body is etcd's error object, {"error":"MSG","message":"MSG",
 * "code":N} or the stream form {"error":{"grpc_code":N,"message":"MSG"}}:
 * returns 1 with *code = N and why = "MSG (code N)" on one line, else 0.
 */
int etcd_json_error(const char *body, size_t len, int *code, char *why,
		    size_t whylen);

/*
 * The owner key's value, "NODE TERM": NODE is 1..63 bytes of [A-Za-z0-9._-]
 * (config node names), TERM a decimal in 1..UINT64_MAX without leading
 * zeros. Returns 0, or -EINVAL with why.
 */
int etcd_owner_parse(const char *value, size_t len, char *node, size_t nodecap,
		     uint64_t *term, char *why, size_t whylen);
/* A decimal counter (the term key): same rules as TERM above, 0 allowed. */
int etcd_term_parse(const char *value, size_t len, uint64_t *term);
/*
 * The released key's value, "TERM OFFSET": the term of the primary that
 * wrote it (1..UINT64_MAX) and how far it had released its console stream
 * (0..UINT64_MAX), both decimals without leading zeros. Returns 0, or
 * -EINVAL with why.
 */
int etcd_released_parse(const char *value, size_t len, uint64_t *term,
			uint64_t *offset, char *why, size_t whylen);

#endif
