/*
 * Tests of the lease arbiter's client (common/arbiter.h) against a real etcd
 * (/usr/bin/etcd, which scripts/setup installs) that the test starts itself
 * on 127.0.0.1, with free ports and a temporary data dir, and kills at the
 * end. Two arbiters, nodes a and b, play primary and backup on one cluster:
 * the whole life of the lease (won, busy, kept, lapsed and taken over, lost,
 * kept term refused, revoked and re-won), endpoints lists with a dead one,
 * etcd gone, and etcd's minimum TTL. Waits for liveness are generous; the
 * assertions on outcomes, terms and holders are exact. It also prints the
 * loopback latencies of grant, keepalive and txn (docs/arbiter.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "arbiter.h"
#include "clock.h"
#include "config.h"
#include "etcd_json.h"

#define ETCD_BIN "/usr/bin/etcd"
#define SEC	 1000000000ull

/* --- an etcd of the test's own ------------------------------------------ */

struct etcd {
	pid_t pid;
	char dir[64];
	char endpoint[64]; /* http://127.0.0.1:PORT */
	int port;
};

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static size_t sink(char *p, size_t size, size_t n, void *opaque)
{
	(void)p;
	(void)opaque;
	return size * n;
}

/* One HTTP request; returns the status (0: no answer). */
static long http(const char *url, const char *post)
{
	CURL *c = curl_easy_init();
	long status = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static void print_log_tail(const struct etcd *e)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/etcd.log >&2", e->dir);
	if (system(cmd))
		fprintf(stderr, "(no etcd log)\n");
}

static void etcd_start(struct etcd *e)
{
	char client[64], peer[64], cluster[96], data[96], logpath[96],
		health[96];
	int peer_port, fd;
	uint64_t deadline;

	snprintf(e->dir, sizeof(e->dir), "/tmp/remora-etcd-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->port = free_port();
	peer_port = free_port();
	snprintf(e->endpoint, sizeof(e->endpoint), "http://127.0.0.1:%d",
		 e->port);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", e->port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", peer_port);
	snprintf(cluster, sizeof(cluster), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(logpath, sizeof(logpath), "%s/etcd.log", e->dir);
	e->pid = fork();
	assert_true(e->pid >= 0);
	if (e->pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", data,
		      "--listen-client-urls", client, "--advertise-client-urls",
		      client, "--listen-peer-urls", peer,
		      "--initial-advertise-peer-urls", peer,
		      "--initial-cluster", cluster, "--log-level", "warn",
		      (char *)NULL);
		_exit(127);
	}
	snprintf(health, sizeof(health), "%s/health", e->endpoint);
	deadline = now_ns() + 30 * SEC;
	while (http(health, NULL) != 200) {
		int st;

		if (now_ns() > deadline ||
		    waitpid(e->pid, &st, WNOHANG) == e->pid) {
			fprintf(stderr, "etcd did not become healthy on %s\n",
				e->endpoint);
			print_log_tail(e);
			fail();
		}
		usleep(50 * 1000);
	}
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void etcd_stop(struct etcd *e)
{
	int st;

	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &st, 0);
		e->pid = 0;
	}
}

static void etcd_cleanup(struct etcd *e)
{
	etcd_stop(e);
	if (e->dir[0])
		nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	e->dir[0] = '\0';
}

/* --- arbiters on a loop ------------------------------------------------- */

#define RESULTS_MAX 64

struct node {
	struct arbiter *arb;
	struct arbiter_result res[RESULTS_MAX];
	int nres, taken;
};

static uv_loop_t loop;
static struct etcd etcd1;
static int have_etcd;

static void on_result(const struct arbiter_result *r, void *opaque)
{
	struct node *n = opaque;

	assert_true(n->nres < RESULTS_MAX);
	n->res[n->nres++] = *r;
}

static void cfg_for(struct config *cfg, const char *cluster,
		    const char *endpoints, uint64_t ttl_s)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->cluster, sizeof(cfg->cluster), "%s", cluster);
	cfg->failover.arbiter = CONFIG_ARBITER_ETCD;
	snprintf(cfg->failover.etcd_endpoints,
		 sizeof(cfg->failover.etcd_endpoints), "%s", endpoints);
	cfg->failover.lease_ttl_ns = ttl_s * SEC;
}

static void node_new(struct node *n, const struct config *cfg, const char *name)
{
	memset(n, 0, sizeof(*n));
	n->arb = arbiter_new(&loop, cfg, name, on_result, n);
	assert_non_null(n->arb);
}

/*
 * Lets the loop close what arbiter_free closed. Never uv_run(DEFAULT): after
 * a failed test an arbiter may be left open, and that would block forever.
 */
static void settle(void)
{
	for (int i = 0; i < 4; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
}

static void node_free(struct node *n)
{
	arbiter_free(n->arb);
	n->arb = NULL;
	settle();
}

static void on_guard(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* The node's next result, running the loop for it (at most 30 s). */
static struct arbiter_result next(struct node *n)
{
	uv_timer_t guard;
	int expired = 0;

	uv_timer_init(&loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, on_guard, 30000, 0);
	while (n->taken == n->nres && !expired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (expired)
		fail_msg("no arbiter result within 30 s");
	return n->res[n->taken++];
}

static void print_result(const char *who, const struct arbiter_result *r)
{
	printf("  %s: %s %s term %llu holder '%s' ttl %llu s (%.2f ms)%s%s\n",
	       who, arbiter_op_name(r->op), arbiter_outcome_name(r->outcome),
	       (unsigned long long)r->term, r->holder,
	       (unsigned long long)(r->ttl_ns / SEC),
	       r->sent_ns ? (double)(r->done_ns - r->sent_ns) / 1e6 : 0.0,
	       *r->why ? ": " : "", r->why);
}

#define EXPECT(who, n, want_op, want, want_term, want_holder)         \
	({                                                            \
		struct arbiter_result r_ = next(n);                   \
		print_result(who, &r_);                               \
		assert_int_equal(r_.op, want_op);                     \
		if (r_.outcome != (want))                             \
			fail_msg("%s: %s, not %s: %s", who,           \
				 arbiter_outcome_name(r_.outcome),    \
				 arbiter_outcome_name(want), r_.why); \
		assert_int_equal(r_.term, want_term);                 \
		assert_string_equal(r_.holder, want_holder);          \
		r_;                                                   \
	})

static int need_etcd(void)
{
	if (!have_etcd) {
		printf("SKIP: etcd not installed (scripts/setup installs "
		       "etcd-server)\n");
		return 0;
	}
	return 1;
}

/* --- the tests ---------------------------------------------------------- */

/* The whole life of one cluster's lease, nodes a and b. */
static void test_lifecycle(void **state)
{
	struct arbiter_result r, kept;
	struct node a, b;
	struct config cfg;
	uint64_t deadline;
	int busy = 0;

	(void)state;
	if (!need_etcd())
		skip();
	cfg_for(&cfg, "life", etcd1.endpoint, 2);
	node_new(&a, &cfg, "a");
	node_new(&b, &cfg, "b");

	/* A fresh cluster: a wins term 1 with the TTL asked for. */
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	r = EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 1, "a");
	assert_int_equal(r.ttl_ns, 2 * SEC);
	assert_true(r.sent_ns > 0 && r.sent_ns <= r.done_ns);

	/* b must not take it while a holds it. */
	assert_int_equal(arbiter_acquire(b.arb, 0), 0);
	r = EXPECT("b", &b, ARBITER_ACQUIRE, ARBITER_BUSY, 1, "a");
	assert_int_equal(r.sent_ns, 0);

	assert_int_equal(arbiter_keepalive(a.arb), 0);
	kept = EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 1, "");
	assert_int_equal(kept.ttl_ns, 2 * SEC);

	/* a stops renewing: b keeps asking and wins term 2 once the lease
	 * has lapsed, never before a's lease rule lets it go. */
	deadline = now_ns() + 30 * SEC;
	for (;;) {
		assert_int_equal(arbiter_acquire(b.arb, 0), 0);
		r = next(&b);
		if (r.outcome == ARBITER_WON)
			break;
		if (r.outcome != ARBITER_BUSY || r.term != 1 ||
		    strcmp(r.holder, "a"))
			fail_msg("b: %s term %llu holder '%s': %s",
				 arbiter_outcome_name(r.outcome),
				 (unsigned long long)r.term, r.holder, r.why);
		busy++;
		assert_true(now_ns() < deadline);
		usleep(200 * 1000);
	}
	print_result("b", &r);
	printf("  (b was told BUSY %d times before the lease lapsed)\n", busy);
	assert_int_equal(r.term, 2);
	assert_string_equal(r.holder, "b");
	/* The lease rule: a surely held it until sent_ns + ttl_ns. */
	assert_true(r.done_ns > kept.sent_ns + kept.ttl_ns);

	/* a's lease is gone; etcd says term 2 is b's. */
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_LOST, 2, "b");
	/* Re-taking its own term 1 is refused: someone took over. */
	assert_int_equal(arbiter_acquire(a.arb, 1), 0);
	r = EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_BUSY, 2, "b");
	assert_int_equal(r.keep_term, 1);

	/* A planned handover: b gives the lease up, a wins term 3. */
	assert_int_equal(arbiter_revoke(b.arb), 0);
	EXPECT("b", &b, ARBITER_REVOKE, ARBITER_RELEASED, 2, "");
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 3, "a");

	/* Coalescing: three keepalives asked while the first is pending give
	 * one result; the revoke after them comes after it, in order. etcd
	 * is stopped meanwhile, so that the first cannot complete between
	 * two calls however slowly this thread runs (it did, under ASan on
	 * a loaded machine: two results). */
	assert_int_equal(kill(etcd1.pid, SIGSTOP), 0);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	assert_int_equal(arbiter_revoke(a.arb), 0);
	assert_int_equal(kill(etcd1.pid, SIGCONT), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 3, "");
	EXPECT("a", &a, ARBITER_REVOKE, ARBITER_RELEASED, 3, "");
	assert_int_equal(a.nres, a.taken);

	/* Nobody took over after a's lease went: a re-takes term 3 as is. */
	assert_int_equal(arbiter_acquire(a.arb, 3), 0);
	EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 3, "a");
	assert_int_equal(arbiter_acquire(b.arb, 0), 0);
	EXPECT("b", &b, ARBITER_ACQUIRE, ARBITER_BUSY, 3, "a");
	/* acquire(0) while holding: BUSY, naming a itself. */
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_BUSY, 3, "a");
	/* ... which did not disturb the lease a holds. */
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 3, "");

	/* Revoking with no lease held is not an error (b last held 2). */
	assert_int_equal(arbiter_revoke(b.arb), 0);
	EXPECT("b", &b, ARBITER_REVOKE, ARBITER_RELEASED, 2, "");
	assert_int_equal(arbiter_revoke(a.arb), 0);
	EXPECT("a", &a, ARBITER_REVOKE, ARBITER_RELEASED, 3, "");
	/* A keepalive with no lease: LOST, and nobody holds term 3. */
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_LOST, 3, "");

	node_free(&a);
	node_free(&b);
}

/*
 * The release report: a primary records how far it released; the backup
 * that wins the next term reads it; a replaced primary's later report does
 * not land.
 */
static void test_release_report(void **state)
{
	struct arbiter_result r;
	struct node a, b, c;
	struct config cfg;

	(void)state;
	if (!need_etcd())
		skip();
	cfg_for(&cfg, "report", etcd1.endpoint, 2);
	node_new(&a, &cfg, "a");
	node_new(&b, &cfg, "b");
	node_new(&c, &cfg, "c");

	/* No report yet: read, and not found. */
	assert_int_equal(arbiter_acquire_next(b.arb, 0), 0);
	r = EXPECT("b", &b, ARBITER_NEXT, ARBITER_WON, 1, "b");
	assert_true(r.report_read);
	assert_false(r.report_found);
	assert_int_equal(arbiter_revoke(b.arb), 0);
	EXPECT("b", &b, ARBITER_REVOKE, ARBITER_RELEASED, 1, "");

	/* a holds term 1 and reports twice; reports are not delivered, so
	 * the next result is the keepalive queued after them. */
	assert_int_equal(arbiter_acquire(a.arb, 1), 0);
	r = EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 1, "a");
	assert_true(r.report_read); /* acquire(K) reads it too */
	assert_false(r.report_found);
	assert_int_equal(arbiter_report(a.arb, 1, 100), 0);
	assert_int_equal(arbiter_report(a.arb, 1, 200), 0);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 1, "");
	assert_int_equal(a.nres, a.taken);

	assert_int_equal(arbiter_acquire_next(c.arb, 1), 0);
	r = EXPECT("c", &c, ARBITER_NEXT, ARBITER_BUSY, 1, "a");
	assert_false(r.report_read);

	/* a's lease goes; c wins term 2 and reads a's last report. */
	assert_int_equal(arbiter_revoke(a.arb), 0);
	EXPECT("a", &a, ARBITER_REVOKE, ARBITER_RELEASED, 1, "");
	assert_int_equal(arbiter_acquire_next(c.arb, 1), 0);
	r = EXPECT("c", &c, ARBITER_NEXT, ARBITER_WON, 2, "c");
	assert_true(r.report_read && r.report_found);
	assert_int_equal(r.report_term, 1);
	assert_int_equal(r.report_released, 200);

	/* a, replaced, reports again: refused (owner is "c 2"). */
	assert_int_equal(arbiter_report(a.arb, 1, 300), 0);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_LOST, 2, "c");

	assert_int_equal(arbiter_revoke(c.arb), 0);
	EXPECT("c", &c, ARBITER_REVOKE, ARBITER_RELEASED, 2, "");
	assert_int_equal(arbiter_acquire_next(b.arb, 2), 0);
	r = EXPECT("b", &b, ARBITER_NEXT, ARBITER_WON, 3, "b");
	assert_true(r.report_found);
	assert_int_equal(r.report_term, 1);
	assert_int_equal(r.report_released, 200);

	node_free(&a);
	node_free(&b);
	node_free(&c);
}

/* A dead endpoint first in the list: the next one answers, and is kept. */
static void test_dead_endpoint(void **state)
{
	struct arbiter_result r;
	struct config cfg;
	char list[CONFIG_URLS_MAX];
	struct node a;

	(void)state;
	if (!need_etcd())
		skip();
	snprintf(list, sizeof(list), "http://127.0.0.1:%d,%s", free_port(),
		 etcd1.endpoint);
	cfg_for(&cfg, "dead-first", list, 2);
	node_new(&a, &cfg, "a");
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 1, "a");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(arbiter_keepalive(a.arb), 0);
		r = EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 1, "");
		assert_int_equal(r.ttl_ns, 2 * SEC);
	}
	assert_int_equal(arbiter_revoke(a.arb), 0);
	EXPECT("a", &a, ARBITER_REVOKE, ARBITER_RELEASED, 1, "");
	node_free(&a);
}

/* etcd gone: ERROR naming the endpoint and the cause, nothing worse. */
static void test_etcd_stopped(void **state)
{
	struct arbiter_result r;
	char want[256], list[CONFIG_URLS_MAX];
	struct etcd e2 = {0};
	struct config cfg;
	struct node a;
	int p1, p2;

	(void)state;
	if (!need_etcd())
		skip();
	etcd_start(&e2);
	cfg_for(&cfg, "gone", e2.endpoint, 3);
	node_new(&a, &cfg, "a");
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_WON, 1, "a");
	etcd_stop(&e2);
	snprintf(want, sizeof(want), "etcd %s: Couldn't connect to server",
		 e2.endpoint);
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	r = EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_ERROR, 1, "");
	assert_string_equal(r.why, want);
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	r = EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_ERROR, 1, "");
	assert_string_equal(r.why, want);
	node_free(&a);

	/* Two dead endpoints: both named, in order, on one line. */
	p1 = free_port();
	p2 = free_port();
	snprintf(list, sizeof(list), "http://127.0.0.1:%d,http://127.0.0.1:%d",
		 p1, p2);
	snprintf(want, sizeof(want),
		 "etcd http://127.0.0.1:%d: Couldn't connect to server; "
		 "http://127.0.0.1:%d: Couldn't connect to server",
		 p1, p2);
	cfg_for(&cfg, "gone", list, 3);
	node_new(&a, &cfg, "a");
	assert_int_equal(arbiter_acquire(a.arb, 0), 0);
	r = EXPECT("a", &a, ARBITER_ACQUIRE, ARBITER_ERROR, 0, "");
	assert_string_equal(r.why, want);
	node_free(&a);
	etcd_cleanup(&e2);
}

/* etcd grants at least its minimum TTL; the result says what it granted. */
static void test_minimum_ttl(void **state)
{
	struct arbiter_result r;
	struct config cfg;
	struct node a;

	(void)state;
	if (!need_etcd())
		skip();
	cfg_for(&cfg, "min-ttl", etcd1.endpoint, 1);
	node_new(&a, &cfg, "a");
	/* Before any loop runs, the way a primary starts. */
	assert_int_equal(arbiter_acquire_sync(a.arb, 0, &r), 0);
	print_result("a (sync)", &r);
	assert_int_equal(r.outcome, ARBITER_WON);
	assert_int_equal(r.term, 1);
	/* etcd's default election timeout (1 s, heartbeat 100 ms) makes its
	 * minimum TTL ceil(1.5 * 1 s) = 2 s: asked 1, granted 2. */
	assert_int_equal(r.ttl_ns, 2 * SEC);
	printf("  etcd's minimum TTL: asked 1 s, granted %llu s\n",
	       (unsigned long long)(r.ttl_ns / SEC));
	assert_int_equal(arbiter_keepalive(a.arb), 0);
	r = EXPECT("a", &a, ARBITER_KEEPALIVE, ARBITER_KEPT, 1, "");
	assert_int_equal(r.ttl_ns, 2 * SEC);
	assert_int_equal(arbiter_revoke_sync(a.arb), 0);
	assert_int_equal(a.nres, a.taken);
	node_free(&a);
}

/* Bad configurations are refused at arbiter_new, with errno. */
static void test_bad_config(void **state)
{
	struct config cfg;

	(void)state;
	cfg_for(&cfg, "x", "", 2);
	assert_null(arbiter_new(&loop, &cfg, "a", on_result, NULL));
	assert_int_equal(errno, EINVAL);
	cfg_for(&cfg, "x", "http://127.0.0.1:1", 2);
	assert_null(arbiter_new(&loop, &cfg, "a b", on_result, NULL));
	assert_int_equal(errno, EINVAL);
	cfg_for(&cfg, "", "http://127.0.0.1:1", 2);
	assert_null(arbiter_new(&loop, &cfg, "a", on_result, NULL));
	assert_int_equal(errno, EINVAL);
}

/* --- latencies on loopback (printed for docs/arbiter.md) ---------------- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void lat_row(const char *what, uint64_t *ns, int n)
{
	qsort(ns, (size_t)n, sizeof(*ns), cmp_u64);
	printf("  %-28s %8.3f %8.3f %8.3f\n", what, (double)ns[n / 2] / 1e6,
	       (double)ns[n * 99 / 100] / 1e6, (double)ns[n - 1] / 1e6);
}

/*
 * The requests the arbiter makes, timed one by one on one kept-alive curl
 * handle; GET /health (an HTTP round trip that skips raft) is the physical
 * reference. Printed, never asserted: a timing is not a correctness claim.
 */
static void test_latency(void **state)
{
	enum { N = 200 };
	static uint64_t ns[5][N];
	char url[128], body[1024], lease_body[64];
	struct etcd_txn t = {
		.cmp = {{.key = "/remora/lat/owner",
			 .target = ETCD_TARGET_CREATE}},
		.ncmp = 1,
		.failure_read = {"/remora/lat/owner", "/remora/lat/term"},
		.nfailure_read = 2,
	};
	CURL *c = curl_easy_init();
	struct curl_slist *hdr =
		curl_slist_append(NULL, "Content-Type: application/json");

	(void)state;
	if (!need_etcd())
		skip();
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	/* Shaped like the acquire's: a compare, a put, two reads. */
	t.put[0] = (struct etcd_put){.key = "/remora/lat/x", .value = "1"};
	t.nput = 1;
	etcd_json_lease_req(lease_body, sizeof(lease_body), 1);
	for (int i = 0; i < N; i++) {
		static const char *const paths[] = {
			"/health", "/v3/lease/grant", "/v3/lease/keepalive",
			"/v3/kv/txn", "/v3/lease/revoke"};
		char grant[64];
		long status;

		etcd_json_grant_req(grant, sizeof(grant), 5);
		for (int k = 0; k < 5; k++) {
			uint64_t t0;

			snprintf(url, sizeof(url), "%s%s", etcd1.endpoint,
				 paths[k]);
			curl_easy_setopt(c, CURLOPT_URL, url);
			if (k == 0) {
				curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
			} else {
				const char *b = k == 1	 ? grant
						: k == 3 ? body
							 : lease_body;

				if (k == 3)
					etcd_json_txn_req(body, sizeof(body),
							  &t);
				curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
			}
			t0 = now_ns();
			assert_int_equal(curl_easy_perform(c), CURLE_OK);
			ns[k][i] = now_ns() - t0;
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
			/* revoke of lease 1: "not found" (404), fine */
			assert_true(status == 200 || k == 4);
		}
	}
	printf("  %-28s %8s %8s %8s\n", "loopback, ms", "median", "p99", "max");
	lat_row("GET /health (reference)", ns[0], N);
	lat_row("POST /v3/lease/grant", ns[1], N);
	lat_row("POST /v3/lease/keepalive", ns[2], N);
	lat_row("POST /v3/kv/txn", ns[3], N);
	lat_row("POST /v3/lease/revoke", ns[4], N);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
}

static int setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	uv_loop_init(&loop);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	have_etcd = access(ETCD_BIN, X_OK) == 0;
	if (have_etcd)
		etcd_start(&etcd1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	etcd_cleanup(&etcd1);
	settle();
	/* Every handle the arbiters opened is closed. */
	assert_int_equal(uv_loop_close(&loop), 0);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_release_report),
		cmocka_unit_test(test_dead_endpoint),
		cmocka_unit_test(test_etcd_stopped),
		cmocka_unit_test(test_minimum_ttl),
		cmocka_unit_test(test_latency),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
