/*
 * The lease arbiter's client (issue 13; docs/arbiter.md): which node may
 * release output is decided by one lease in etcd. Under /remora/CLUSTER/,
 * `term` is a decimal counter and `owner` ("NODE TERM") is attached to the
 * holder's lease, so it vanishes when the lease expires or is revoked.
 *
 * The blocking HTTP to etcd (its v3 JSON gateway, through libcurl) runs on
 * one worker thread of the arbiter's own, never on the loop and never on the
 * libuv threadpool (the encoder uses that). Requests are queued and done one
 * at a time in order; results come back on the loop thread, in the same
 * order, through the callback given to arbiter_new().
 *
 * THE LEASE RULE. A WON or KEPT result carries sent_ns, read from now_ns()
 * (common/clock.h, CLOCK_MONOTONIC) just before the request that granted or
 * renewed the lease was sent, and ttl_ns, the TTL etcd granted. etcd starts
 * the TTL when it processes the request, which is after sent_ns, so the lease
 * is surely still held until sent_ns + ttl_ns on this node's clock. Past that
 * instant, unless a later KEPT moved it, the caller must act as if it no
 * longer holds the lease (stop releasing output), whatever else it knows:
 * another node may win the next term from then on.
 *
 * Nothing here exits the process. The only process-wide state is libcurl's
 * curl_global_init(), done once (thread-safely) by the first arbiter_new().
 */
#ifndef REMORA_ARBITER_H
#define REMORA_ARBITER_H

#include <stdint.h>

#include <uv.h>

struct config;

enum arbiter_op {
	ARBITER_ACQUIRE = 1,
	ARBITER_KEEPALIVE,
	ARBITER_REVOKE,
	ARBITER_NEXT,	/* acquire_next */
	ARBITER_BUMP,	/* bump */
	ARBITER_REPORT, /* report (never delivered: see arbiter_report) */
};

enum arbiter_outcome {
	/* acquire: this node holds the lease for term. */
	ARBITER_WON = 1,
	/*
	 * acquire: someone holds it (holder, term), or, with keep_term K, the
	 * term has moved past K (holder is "" if nobody holds it right now).
	 * holder may be this node: a lease it still holds (acquire(0) while
	 * holding) or one an earlier process of this node left; it lapses
	 * within the TTL.
	 */
	ARBITER_BUSY,
	/* keepalive: renewed; held until sent_ns + ttl_ns. */
	ARBITER_KEPT,
	/*
	 * keepalive: the lease is gone (expired, revoked, or none held); term
	 * and holder are what etcd says now (read after), 0 and "" if unread.
	 */
	ARBITER_LOST,
	/* revoke: the lease is given up (or was already gone). */
	ARBITER_RELEASED,
	/*
	 * No endpoint answered, or etcd refused: why says which endpoint and
	 * what ("etcd http://127.0.0.1:2379: Couldn't connect to server").
	 * The lease's state is unknown: only the lease rule above holds.
	 */
	ARBITER_ERROR,
};

struct arbiter_result {
	enum arbiter_op op;
	enum arbiter_outcome outcome;
	uint64_t keep_term; /* acquire: the keep_term asked for; else 0 */
	/*
	 * WON: the term won. BUSY: the holder's term (or the current one).
	 * KEPT, RELEASED: the term held. LOST: the current term. ERROR: the
	 * term held before, 0 if none.
	 */
	uint64_t term;
	char holder[64]; /* WON: this node; BUSY, LOST: the owner, "" = none */
	/* WON, KEPT: the lease rule (see above); else 0. */
	uint64_t sent_ns; /* now_ns() just before the request went out */
	uint64_t ttl_ns;  /* the TTL etcd granted: >= lease_ttl, whole s */
	uint64_t done_ns; /* now_ns() when the answer was in (latency) */
	/*
	 * acquire_next WON, acquire(K > 0) WON: the released key as read
	 * right after winning
	 * (the old holder can no longer write it). report_read 0: it could
	 * not be read (why says so); else report_found 0: there is none.
	 */
	int report_read, report_found;
	uint64_t report_term;	  /* the term that wrote it */
	uint64_t report_released; /* console stream offset it released to */
	char why[256]; /* one line: ERROR's cause; else a note or "" */
};

/*
 * The lease rule for a WON or KEPT result, with a tenth of the TTL kept
 * back for the two clocks' rates (this host's and etcd's): the instant
 * (now_ns clock) until which the lease is surely held.
 */
static inline uint64_t arbiter_held_until(const struct arbiter_result *r)
{
	return r->sent_ns + r->ttl_ns - r->ttl_ns / 10;
}

typedef void (*arbiter_cb)(const struct arbiter_result *r, void *opaque);

struct arbiter;

/*
 * An arbiter for cfg's cluster (failover.etcd_endpoints, lease_ttl_ns,
 * cluster) acting as node. Starts its worker thread; contacts nobody yet.
 * cb (NULL: none yet, see arbiter_set_cb) runs on loop's thread, once per
 * request, in request order; r is valid for the call only. Returns NULL with errno set (EINVAL: cfg has no
 * endpoints or a bad node name; ENOMEM; or pthread_create's error).
 */
struct arbiter *arbiter_new(uv_loop_t *loop, const struct config *cfg,
			    const char *node, arbiter_cb cb, void *opaque);

/*
 * Queue a request. Each returns 0, or -EBUSY when 16 are already waiting.
 *
 * acquire(0): grant a lease, then in one txn: if nobody owns the lease and
 * term is still what was read (T), put term = T+1 and owner = "NODE T+1"
 * → WON(T+1); else BUSY. acquire(K > 0): the same, but only if term is
 * still K, and term stays K → WON(K); else BUSY. The granted lease is
 * revoked unless WON.
 *
 * keepalive: renew the lease → KEPT, or LOST. A keepalive asked while one is
 * queued or in flight is coalesced with it (one result for both).
 *
 * revoke: give the lease up (clean shutdown, planned handover) → RELEASED.
 */
int arbiter_acquire(struct arbiter *a, uint64_t keep_term);
/*
 * acquire_next(K) (a backup whose replica is of term K): like acquire(0),
 * but only if term is still K → WON(K+1); a term past K means some primary
 * went on without this replica (released output it does not hold):
 * BUSY, and this node must not take over from it.
 */
int arbiter_acquire_next(struct arbiter *a, uint64_t term);
/*
 * bump(K) (a primary holding the lease in term K that is about to release
 * output its backup does not hold): term = K+1, owner = "NODE K+1" on the
 * same lease, only if this process still holds it in term K → WON(K+1)
 * (sent_ns, ttl_ns 0: the lease is not renewed); else BUSY.
 */
int arbiter_bump(struct arbiter *a, uint64_t term);
/*
 * report(K, X) (a primary of term K that has just released its console
 * stream up to offset X): put released = "K X", only while owner is still
 * "NODE K" (this node holds the lease in term K). The backup that wins the
 * next term reads it (report_* in its WON): the primary's report over the
 * replication link may be lost with the link, this one is not. Reports
 * coalesce: one asked while another waits replaces its values. Its result
 * is not delivered to the callback; the arbiter logs a failure (once until
 * a report succeeds again).
 */
int arbiter_report(struct arbiter *a, uint64_t term, uint64_t released);
int arbiter_keepalive(struct arbiter *a);
int arbiter_revoke(struct arbiter *a);

/*
 * acquire, blocking the calling thread until the result is in *r; the
 * callback is not called for it. Meant for start-up, before the loop runs
 * (it never touches the loop). Returns 0 or -EBUSY.
 */
int arbiter_acquire_sync(struct arbiter *a, uint64_t keep_term,
			 struct arbiter_result *r);

/*
 * revoke, blocking likewise (shutdown, after the loop ended): 0 when
 * RELEASED; else a warning is logged and it returns -EIO (or -EBUSY).
 */
int arbiter_revoke_sync(struct arbiter *a);

/*
 * Replaces the callback (cb may be NULL: results are then dropped). On the
 * loop thread only; for an arbiter created before its user existed.
 */
void arbiter_set_cb(struct arbiter *a, arbiter_cb cb, void *opaque);

/*
 * Stops the worker (aborting a request in flight) and joins it; results not
 * yet delivered are dropped and no callback runs after this returns. The
 * lease is NOT revoked (call arbiter_revoke first for that): it lapses
 * within its TTL. The memory is released once the loop has closed the
 * arbiter's uv_async_t, so run the loop again before uv_loop_close().
 */
void arbiter_free(struct arbiter *a);

/* "won", "busy", ...: for logs and events. */
const char *arbiter_outcome_name(enum arbiter_outcome o);
const char *arbiter_op_name(enum arbiter_op op);

#endif
