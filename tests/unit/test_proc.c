/*
 * The process workload's driver (common/proc) against the real kernel and
 * the project's CRIU: spawn into namespaces and a cgroup v2, freeze/thaw,
 * dump with --leave-running, kill, restore, and check that the restored
 * program continues exactly where the dump left it (a bash tick counter)
 * and still holds its memory (a Python dict with a checksum). Prints the
 * freeze/dump/thaw/restore times and image sizes; never asserts on them.
 *
 * Needs root (namespaces, cgroups, CRIU): without it the program prints one
 * "SKIP:" line and exits 77 (meson's "skipped"). A missing .criu/sbin/criu
 * is a FAILURE, not a skip: scripts/setup runs scripts/build-criu, which
 * builds it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"
#include "clock.h"
#include "criu.h"
#include "procset.h"
#include "spawn.h"

#define ERRLEN 512

static const char *const test_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
				       "LANG=C", NULL};

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

/* --------------------------------------------------------- reading lines */

struct reader {
	int fd;
	size_t len;
	char buf[1 << 16];
};

/* Reads what is there now (the fd is non-blocking); -1 on EOF. */
static int reader_fill(struct reader *r)
{
	for (;;) {
		ssize_t n;

		assert_true(r->len < sizeof(r->buf));
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			fail_msg("read: %s", strerror(errno));
	}
}

/* Pops one complete line into out; 0 when there is none buffered. */
static int reader_pop(struct reader *r, char *out, size_t outlen)
{
	char *nl = memchr(r->buf, '\n', r->len);
	size_t n;

	if (!nl)
		return 0;
	n = (size_t)(nl - r->buf);
	assert_true(n < outlen);
	memcpy(out, r->buf, n);
	out[n] = 0;
	memmove(r->buf, nl + 1, r->len - n - 1);
	r->len -= n + 1;
	return 1;
}

/* The next line, waiting for it at most timeout_ms. */
static void reader_line(struct reader *r, char *out, size_t outlen,
			int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (!reader_pop(r, out, outlen)) {
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;

		if (left <= 0)
			fail_msg("no complete line within %d ms (buffered: "
				 "'%.*s')",
				 timeout_ms, (int)r->len, r->buf);
		poll(&p, 1, (int)left);
		if (reader_fill(r) < 0 && !memchr(r->buf, '\n', r->len))
			fail_msg("EOF on the output pipe (buffered: '%.*s')",
				 (int)r->len, r->buf);
	}
}

/* ------------------------------------------------------------- utilities */

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* REMORA_TEST_KEEP=1 keeps the images and logs. */
static void rm_rf(const char *dir)
{
	if (getenv("REMORA_TEST_KEEP")) {
		print_message("kept %s\n", dir);
		return;
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_cgroup(struct proc_cgroup *cg, const char *tag)
{
	char name[64], err[ERRLEN];
	int rc;

	snprintf(name, sizeof(name), "remora-test-%d-%s", (int)getpid(), tag);
	rc = proc_cgroup_create(cg, name, err, sizeof(err));
	if (rc)
		fail_msg("proc_cgroup_create: %d: %s", rc, err);
}

static void kill_and_reap(struct proc_cgroup *cg, int pid)
{
	char err[ERRLEN];
	int rc = proc_cgroup_kill(cg, 5000, err, sizeof(err)), st;

	if (rc)
		fail_msg("proc_cgroup_kill: %d: %s", rc, err);
	/* The namespace's init is our child (spawned, or restored with
	 * rst_sibling): reap it, so no zombie is left. */
	assert_int_equal(waitpid(pid, &st, __WALL), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static double freeze(struct proc_cgroup *cg)
{
	char err[ERRLEN];
	uint64_t t0 = now_ns();
	int rc = proc_cgroup_freeze(cg, 5000, err, sizeof(err));

	if (rc)
		fail_msg("freeze: %d: %s", rc, err);
	return ms_since(t0);
}

static double thaw(struct proc_cgroup *cg)
{
	char err[ERRLEN];
	uint64_t t0 = now_ns();
	int rc = proc_cgroup_thaw(cg, 5000, err, sizeof(err));

	if (rc)
		fail_msg("thaw: %d: %s", rc, err);
	return ms_since(t0);
}

static int cgroup_frozen(const struct proc_cgroup *cg)
{
	char p[PATH_MAX + 16], line[64];
	FILE *f;
	int v = -1;

	snprintf(p, sizeof(p), "%s/cgroup.events", cg->path);
	f = fopen(p, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "frozen %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int cgroup_has(const struct proc_cgroup *cg, int pid)
{
	char p[PATH_MAX + 16];
	FILE *f;
	int v, found = 0;

	snprintf(p, sizeof(p), "%s/cgroup.procs", cg->path);
	f = fopen(p, "r");
	assert_non_null(f);
	while (fscanf(f, "%d", &v) == 1)
		if (v == pid)
			found = 1;
	fclose(f);
	return found;
}

/* REMORA_TEST_CRIU_LOG=4 makes CRIU's logs verbose (with timestamps). */
static int log_level(void)
{
	const char *v = getenv("REMORA_TEST_CRIU_LOG");

	return v ? atoi(v) : 0;
}

static double dump(const struct proc_cgroup *cg, int pid, int out_fd,
		   const char *dir, enum proc_netlock lock)
{
	struct proc_criu_dump_opts o = {
		.log_level = log_level(),
		.pid = pid,
		.images_dir = dir,
		.frozen_cgroup = cg->path,
		.leave_running = 1,
		.stdio_fd = out_fd,
		.netlock = lock,
	};
	char err[ERRLEN];
	uint64_t t0 = now_ns();
	int rc = proc_criu_dump(&o, err, sizeof(err));

	if (rc)
		fail_msg("proc_criu_dump: %d: %s", rc, err);
	return ms_since(t0);
}

/* Restores dir into cg; the restored tree's output goes to *out_fd. */
static double restore(struct proc_cgroup *cg, const char *dir,
		      enum proc_netlock lock, int *pid, int *out_fd)
{
	struct proc_criu_restore_opts o = {
		.log_level = log_level(),
		.images_dir = dir,
		.cgroup = cg,
		.netlock = lock,
	};
	char err[ERRLEN];
	uint64_t t0;
	int p[2], rc;
	double ms;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	o.stdio_fd = p[1];
	t0 = now_ns();
	rc = proc_criu_restore(&o, pid, err, sizeof(err));
	ms = ms_since(t0);
	close(p[1]);
	if (rc)
		fail_msg("proc_criu_restore: %d: %s", rc, err);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	*out_fd = p[0];
	return ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* ----------------------------------------------------------------- tests */

/* The RPC schema remora compiles is the one of the CRIU it runs. */
static void test_rpc_proto_matches(void **state)
{
	char a[1 << 14], b[1 << 14];
	FILE *fa, *fb;
	size_t na, nb;

	(void)state;
	fa = fopen(PROC_CRIU_RPC_PROTO, "r");
	if (!fa)
		fail_msg("%s: %s (scripts/build-criu installs it)",
			 PROC_CRIU_RPC_PROTO, strerror(errno));
	fb = fopen(PROC_RPC_PROTO_COPY, "r");
	assert_non_null(fb);
	na = fread(a, 1, sizeof(a), fa);
	nb = fread(b, 1, sizeof(b), fb);
	fclose(fa);
	fclose(fb);
	if (na != nb || memcmp(a, b, na) != 0)
		fail_msg("%s differs from %s: copy CRIU's rpc.proto into "
			 "common/proc/",
			 PROC_RPC_PROTO_COPY, PROC_CRIU_RPC_PROTO);
}

static void test_version(void **state)
{
	char err[ERRLEN];
	int v = 0, rc;

	(void)state;
	rc = proc_criu_version(NULL, &v, err, sizeof(err));
	if (rc)
		fail_msg("proc_criu_version: %d: %s", rc, err);
	print_message("criu version %d (%s)\n", v, proc_criu_default());
	assert_true(v >= 40200);
}

/* What the spawned init sees: pid 1, its own session, only lo (up), and
 * stdin/stdout/stderr as its only descriptors. */
static void test_spawn_environment(void **state)
{
	const char *const argv[] = {
		"sh", "-c",
		"echo pid=$$; read a b c d e sid r < /proc/$$/stat; "
		"echo sid=$sid; echo links=$(tail -n +3 /proc/net/dev | wc -l) "
		"up=$(grep -c ' lo$' /proc/net/if_inet6); "
		"echo fds:; ls /proc/$$/fd; echo end; "
		"echo cwd=$(pwd); echo err >&2",
		NULL};
	struct proc_spawn_opts o = {
		.argv = argv, .dir = "/tmp", .envp = test_env};
	struct proc_spawned sp;
	struct proc_cgroup cg;
	struct reader r = {0};
	char err[ERRLEN], line[256];
	int rc, st;

	(void)state;
	make_cgroup(&cg, "env");
	o.cgroup = &cg;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	if (rc)
		fail_msg("proc_spawn: %d: %s", rc, err);
	assert_true(cgroup_has(&cg, sp.pid));
	r.fd = sp.out_fd;
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "pid=1");
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "sid=1");
	reader_line(&r, line, sizeof(line), 5000);
	/* Only lo, and ::1 on lo appears only once lo is up. */
	assert_string_equal(line, "links=1 up=1");
	/* The caller's descriptors (this test runner inherits some) are
	 * gone: the init has stdin, stdout and stderr only. */
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "fds:");
	for (int fd = 0; fd <= 2; fd++) {
		char want[4];

		snprintf(want, sizeof(want), "%d", fd);
		reader_line(&r, line, sizeof(line), 5000);
		assert_string_equal(line, want);
	}
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "end");
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "cwd=/tmp");
	reader_line(&r, line, sizeof(line), 5000);
	assert_string_equal(line, "err");
	assert_int_equal(waitpid(sp.pid, &st, 0), sp.pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(sp.out_fd);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
}

static void test_spawn_failure(void **state)
{
	const char *const argv[] = {"/nonexistent/remora-no-such-cmd", NULL};
	struct proc_spawn_opts o = {.argv = argv, .envp = test_env};
	struct proc_spawned sp;
	struct proc_cgroup cg;
	char err[ERRLEN];
	int rc;

	(void)state;
	make_cgroup(&cg, "fail");
	o.cgroup = &cg;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	print_message("expected failure: %d: %s\n", rc, err);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "execvpe"));
	assert_int_equal(sp.pid, -1);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
}

/* Reads tick lines; returns the last one, or -1 if none was buffered. */
static long drain_ticks(struct reader *r, long expect_first)
{
	char line[128];
	long last = -1, t;

	reader_fill(r);
	while (reader_pop(r, line, sizeof(line))) {
		assert_int_equal(sscanf(line, "tick %ld", &t), 1);
		if (expect_first > 0 && last < 0)
			assert_int_equal(t, expect_first);
		if (last >= 0)
			assert_int_equal(t, last + 1);
		last = t;
	}
	return last;
}

static long read_ticks(struct reader *r, int n, long expect_first)
{
	char line[128];
	long last = -1, t;

	for (int i = 0; i < n; i++) {
		reader_line(r, line, sizeof(line), 5000);
		assert_int_equal(sscanf(line, "tick %ld", &t), 1);
		if (i == 0 && expect_first > 0)
			assert_int_equal(t, expect_first);
		if (i > 0)
			assert_int_equal(t, last + 1);
		last = t;
	}
	return last;
}

#define NDUMPS 6

static void test_bash_loop(void **state)
{
	const char *const argv[] = {
		"bash", "-c",
		"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.01; done",
		NULL};
	struct proc_spawn_opts o = {.argv = argv, .envp = test_env};
	double fr[NDUMPS], dm[2][NDUMPS / 2], th[NDUMPS], rs;
	char tmpl[] = "/tmp/remora-test-proc-XXXXXX", dir[NDUMPS][PATH_MAX];
	char err[ERRLEN];
	struct proc_spawned sp;
	struct proc_cgroup cg;
	struct reader r = {0};
	long last = 0, at_dump = 0;
	int64_t bytes = 0;
	int rc, rpid, rfd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	make_cgroup(&cg, "bash");
	o.cgroup = &cg;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	if (rc)
		fail_msg("proc_spawn: %d: %s", rc, err);
	r.fd = sp.out_fd;
	last = read_ticks(&r, 5, 1);

	/* Dumps with the nftables lock (even k) and without (odd k); the
	 * last one is restored. */
	for (int k = 0; k < NDUMPS; k++) {
		enum proc_netlock lock =
			k % 2 ? PROC_NETLOCK_SKIP : PROC_NETLOCK_DEFAULT;
		long l;

		snprintf(dir[k], sizeof(dir[k]), "%s/img%d", tmpl, k);
		assert_int_equal(mkdir(dir[k], 0700), 0);
		fr[k] = freeze(&cg);
		/* Frozen: nothing more is written. What is in the pipe is
		 * all the tree printed before the dump. */
		l = drain_ticks(&r, last + 1);
		if (l > 0)
			last = l;
		assert_int_equal(r.len, 0);
		at_dump = last;
		dm[k % 2][k / 2] = dump(&cg, sp.pid, sp.out_fd, dir[k], lock);
		/* CRIU puts the cgroup back the way it found it: frozen. */
		assert_int_equal(cgroup_frozen(&cg), 1);
		th[k] = thaw(&cg);
		if (k == NDUMPS - 1)
			bytes = proc_criu_images_bytes(dir[k]);
		/* The original goes on from where it was. */
		last = read_ticks(&r, 3, last + 1);
	}
	kill_and_reap(&cg, sp.pid);
	close(sp.out_fd);

	/* The last dump (k odd) was made with network_lock skip. */
	rs = restore(&cg, dir[NDUMPS - 1], PROC_NETLOCK_SKIP, &rpid, &rfd);
	assert_true(cgroup_has(&cg, rpid));
	memset(&r, 0, sizeof(r));
	r.fd = rfd;
	/* Exactly the tick after the last one read before the dump's
	 * freeze: what the original printed after the dump is not here. */
	read_ticks(&r, 10, at_dump + 1);
	print_message("bash loop: last tick before the freeze %ld; the "
		      "restored process went on with %ld\n",
		      at_dump, at_dump + 1);
	kill_and_reap(&cg, rpid);
	close(rfd);

	print_message("bash loop: freeze %.3f ms, dump %.1f ms (nftables "
		      "lock) / %.1f ms (network_lock skip), thaw %.3f ms, "
		      "restore %.1f ms, images %.1f KiB (medians of %d)\n",
		      median(fr, NDUMPS), median(dm[0], NDUMPS / 2),
		      median(dm[1], NDUMPS / 2), median(th, NDUMPS), rs,
		      (double)bytes / 1024, NDUMPS / 2);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
	rm_rf(tmpl);
}

/*
 * ~10 MB of dict; prints "sum N HEX ok" every 100 ms, recomputing the
 * checksum each time and comparing it with the one computed at start.
 */
static const char python_prog[] =
	"import hashlib, sys, time\n"
	"d = {i: hashlib.sha256(str(i).encode()).digest() * 3 "
	"for i in range(60000)}\n"
	"def csum():\n"
	"    h = hashlib.sha256()\n"
	"    for k in d:\n"
	"        h.update(d[k])\n"
	"    return h.hexdigest()\n"
	"first = csum()\n"
	"rss = [l for l in open('/proc/self/status') "
	"if l.startswith('VmRSS')][0].split()[1]\n"
	"print('rss', rss, flush=True)\n"
	"n = 0\n"
	"while True:\n"
	"    n += 1\n"
	"    s = csum()\n"
	"    print('sum', n, s, 'ok' if s == first else 'BAD', flush=True)\n"
	"    time.sleep(0.1)\n";

static void python_line(struct reader *r, long *n, char *sum, size_t len)
{
	char line[256], ok[8], s[80];

	reader_line(r, line, sizeof(line), 10000);
	assert_int_equal(sscanf(line, "sum %ld %79s %7s", n, s, ok), 3);
	assert_string_equal(ok, "ok");
	snprintf(sum, len, "%s", s);
}

static void test_python_dict(void **state)
{
	const char *const argv[] = {"python3", "-c", python_prog, NULL};
	struct proc_spawn_opts o = {.argv = argv, .envp = test_env};
	char tmpl[] = "/tmp/remora-test-proc-XXXXXX", err[ERRLEN];
	char sum0[80], sum[80], line[256];
	struct proc_spawned sp;
	struct proc_cgroup cg;
	struct reader r = {0};
	double f, d, t, rs;
	long n, at_dump = 0, rss = 0;
	int rc, rpid, rfd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	make_cgroup(&cg, "py");
	o.cgroup = &cg;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	if (rc)
		fail_msg("proc_spawn: %d: %s", rc, err);
	r.fd = sp.out_fd;
	reader_line(&r, line, sizeof(line), 20000);
	assert_int_equal(sscanf(line, "rss %ld", &rss), 1);
	python_line(&r, &n, sum0, sizeof(sum0));
	at_dump = n;

	f = freeze(&cg);
	reader_fill(&r);
	while (reader_pop(&r, line, sizeof(line))) {
		assert_int_equal(sscanf(line, "sum %ld %79s", &n, sum), 2);
		assert_int_equal(n, at_dump + 1);
		assert_string_equal(sum, sum0);
		at_dump = n;
	}
	assert_int_equal(r.len, 0);
	d = dump(&cg, sp.pid, sp.out_fd, tmpl, PROC_NETLOCK_DEFAULT);
	t = thaw(&cg);
	python_line(&r, &n, sum, sizeof(sum));
	assert_int_equal(n, at_dump + 1);
	kill_and_reap(&cg, sp.pid);
	close(sp.out_fd);

	rs = restore(&cg, tmpl, PROC_NETLOCK_DEFAULT, &rpid, &rfd);
	memset(&r, 0, sizeof(r));
	r.fd = rfd;
	python_line(&r, &n, sum, sizeof(sum));
	assert_int_equal(n, at_dump + 1);
	assert_string_equal(sum, sum0);
	python_line(&r, &n, sum, sizeof(sum));
	assert_int_equal(n, at_dump + 2);
	print_message("python dict: RSS %.1f MiB, freeze %.3f ms, dump %.1f "
		      "ms (nftables lock), thaw %.3f ms, restore %.1f "
		      "ms, images %.1f MiB; checksum %.16s... verified after "
		      "restore\n",
		      (double)rss / 1024, f, d, t, rs,
		      (double)proc_criu_images_bytes(tmpl) / (1 << 20), sum0);
	kill_and_reap(&cg, rpid);
	close(rfd);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
	rm_rf(tmpl);
}

/* A dump that CRIU refuses comes back with CRIU's own reason. */
static void test_dump_failure(void **state)
{
	char tmpl[] = "/tmp/remora-test-proc-XXXXXX", err[ERRLEN] = "";
	struct proc_criu_dump_opts o = {.leave_running = 1, .stdio_fd = -1};
	int pid = 4000000, rc;

	(void)state;
	while (kill(pid, 0) == 0 || errno != ESRCH)
		pid++;
	assert_non_null(mkdtemp(tmpl));
	o.pid = pid;
	o.images_dir = tmpl;
	rc = proc_criu_dump(&o, err, sizeof(err));
	print_message("expected failure: %d: %s\n", rc, err);
	assert_true(rc < 0);
	/* One line, CRIU's own "Error (file:line): reason". */
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "criu dump: Error ("));
	{
		char spid[16];

		snprintf(spid, sizeof(spid), "%d", pid);
		assert_non_null(strstr(err, spid));
	}
	rm_rf(tmpl);
}

/*
 * CRIU dies with the thread that called it: a daemon SIGKILLed while CRIU
 * worked must not leave CRIU running, holding the tree and its network
 * namespace. The "criu" here is a script that records its pid and sleeps
 * instead of answering; the caller is a forked process, SIGKILLed once the
 * script runs. This process is the subreaper of both, and reaps the script:
 * it must end by SIGKILL, at once (not when its sleep ends).
 */
static void test_criu_dies_with_caller(void **state)
{
	char dir[] = "/tmp/remora-test-criu-XXXXXX", script[128], pidf[128];
	uint64_t t0;
	pid_t caller, criu = 0, got = 0;
	FILE *f;
	int st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/criu", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
		"#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\n"
		"exec sleep 600\n",
		pidf, pidf, pidf);
	fclose(f);
	assert_int_equal(chmod(script, 0755), 0);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);

	caller = fork();
	assert_true(caller >= 0);
	if (caller == 0) {
		char err[ERRLEN];
		int v;

		_exit(proc_criu_version(script, &v, err, sizeof(err)) ? 1 : 0);
	}
	/* The script runs (its answer would take 600 s). */
	t0 = now_ns();
	while (!criu && ms_since(t0) < 30000) {
		f = fopen(pidf, "r");
		if (!f || fscanf(f, "%d", &criu) != 1)
			usleep(10000);
		if (f)
			fclose(f);
	}
	assert_true(criu > 0);
	assert_int_equal(kill(caller, SIGKILL), 0);
	assert_int_equal(waitpid(caller, &st, 0), caller);

	t0 = now_ns();
	while (ms_since(t0) < 30000 && (got = waitpid(criu, &st, WNOHANG)) == 0)
		usleep(10000);
	if (got != criu) {
		kill(criu, SIGKILL);
		waitpid(criu, &st, 0);
		fail_msg("criu (pid %d) outlived its SIGKILLed caller by 30 s",
			 criu);
	}
	print_message("criu ended %.1f ms after its caller was killed\n",
		      ms_since(t0));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	rm_rf(dir);
}

/*
 * The service in a network namespace remora holds (proc_netns_new()):
 * CRIU dumps it as external, and a restore joins another fresh one; the
 * loop goes on with the next tick. Prints the dump time beside the one of
 * a namespace CRIU dumps itself (test_bash_loop's, network_lock skip).
 */
static void test_external_netns(void **state)
{
	const char *const argv[] = {
		"bash", "-c",
		"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.01; done",
		NULL};
	struct proc_spawn_opts o = {.argv = argv, .envp = test_env};
	char tmpl[] = "/tmp/remora-test-proc-XXXXXX", err[ERRLEN];
	struct proc_criu_restore_opts ro = {.netlock = PROC_NETLOCK_SKIP};
	struct proc_spawned sp;
	struct proc_cgroup cg;
	struct reader r = {0};
	double dm[NDUMPS];
	uint64_t ino;
	long last = 0, l;
	int rc, nfd, nfd2, rpid, p[2];

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	make_cgroup(&cg, "extnet");
	rc = proc_netns_new(&nfd, err, sizeof(err));
	if (rc)
		fail_msg("proc_netns_new: %s", err);
	assert_int_equal(proc_netns_inode(nfd, &ino), 0);
	o.cgroup = &cg;
	o.join_netns = 1;
	o.netns_fd = nfd;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	if (rc)
		fail_msg("proc_spawn: %d: %s", rc, err);
	r.fd = sp.out_fd;
	last = read_ticks(&r, 5, 1);
	for (int k = 0; k < NDUMPS; k++) {
		struct proc_criu_dump_opts d = {
			.log_level = log_level(),
			.pid = sp.pid,
			.images_dir = tmpl,
			.frozen_cgroup = cg.path,
			.leave_running = 1,
			.stdio_fd = sp.out_fd,
			.netlock = PROC_NETLOCK_SKIP,
			.ext_netns_ino = ino,
		};
		uint64_t t0;

		freeze(&cg);
		l = drain_ticks(&r, last + 1);
		if (l > 0)
			last = l;
		procset_clear_dir(tmpl, NULL, 0);
		t0 = now_ns();
		rc = proc_criu_dump(&d, err, sizeof(err));
		dm[k] = ms_since(t0);
		if (rc)
			fail_msg("proc_criu_dump: %d: %s", rc, err);
		if (k < NDUMPS - 1) {
			thaw(&cg);
			last = read_ticks(&r, 3, last + 1);
		}
	}
	thaw(&cg);
	kill_and_reap(&cg, sp.pid);
	close(sp.out_fd);
	close(nfd);

	/* CRIU did not dump the namespace's content (its netns image only
	 * names the external key): no links, addresses, routes, rules. */
	{
		static const char *const content[] = {"netdev-", "ifaddr-",
						      "route-",	 "route6-",
						      "rule-",	 "nftables-"};
		DIR *dp = opendir(tmpl);
		struct dirent *e;

		assert_non_null(dp);
		while ((e = readdir(dp)))
			for (size_t i = 0; i < 6; i++)
				if (!strncmp(e->d_name, content[i],
					     strlen(content[i])))
					fail_msg("%s: the namespace was "
						 "dumped",
						 e->d_name);
		closedir(dp);
	}
	rc = proc_netns_new(&nfd2, err, sizeof(err));
	if (rc)
		fail_msg("proc_netns_new: %s", err);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	ro.images_dir = tmpl;
	ro.cgroup = &cg;
	ro.stdio_fd = p[1];
	ro.join_netns = 1;
	ro.netns_fd = nfd2;
	ro.log_level = log_level();
	rc = proc_criu_restore(&ro, &rpid, err, sizeof(err));
	close(p[1]);
	if (rc)
		fail_msg("proc_criu_restore: %d: %s", rc, err);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	memset(&r, 0, sizeof(r));
	r.fd = p[0];
	read_ticks(&r, 10, last + 1);
	/* It lives in the namespace we gave it. */
	{
		char path[64];
		struct stat a, b;

		snprintf(path, sizeof(path), "/proc/%d/ns/net", rpid);
		assert_int_equal(stat(path, &a), 0);
		assert_int_equal(fstat(nfd2, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
	}
	kill_and_reap(&cg, rpid);
	close(p[0]);
	close(nfd2);
	print_message("bash loop, external netns: dump %.1f ms (median of "
		      "%d)\n",
		      median(dm, NDUMPS), NDUMPS);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
	rm_rf(tmpl);
}

/* Every file of dump (but logs) is in out with the same bytes, and out has
 * no other file. */
static void same_images(const char *dump, const char *out)
{
	DIR *dp = opendir(dump);
	struct dirent *e;
	int n = 0, m = 0;

	assert_non_null(dp);
	while ((e = readdir(dp))) {
		char a[PATH_MAX + 300], b[PATH_MAX + 300];
		char cmd[2 * sizeof(a) + 16];

		if (e->d_name[0] == '.' || strstr(e->d_name, ".log") ||
		    !strncmp(e->d_name, "stats-", 6))
			continue;
		snprintf(a, sizeof(a), "%s/%s", dump, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", out, e->d_name);
		snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
		if (system(cmd) != 0)
			fail_msg("%s differs after the rebuild", e->d_name);
		n++;
	}
	closedir(dp);
	dp = opendir(out);
	while ((e = readdir(dp)))
		m += e->d_name[0] != '.';
	closedir(dp);
	assert_int_equal(n, m);
}

/*
 * A real dump of the bash loop, loaded into a page space and rebuilt from
 * it (procset.h), is byte for byte the dump, and CRIU restores the rebuilt
 * set: the restored loop goes on with the tick after the dump.
 */
static void test_rebuild_restores(void **state)
{
	const char *const argv[] = {
		"bash", "-c",
		"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.01; done",
		NULL};
	struct proc_spawn_opts o = {.argv = argv, .envp = test_env};
	char tmpl[] = "/tmp/remora-test-proc-XXXXXX";
	char dump_dir[PATH_MAX], out[PATH_MAX], err[ERRLEN];
	struct proc_spawned sp;
	struct proc_cgroup cg;
	struct procset set;
	struct reader r = {0};
	long last, l;
	int rc, rpid, rfd;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(dump_dir, sizeof(dump_dir), "%s/dump", tmpl);
	snprintf(out, sizeof(out), "%s/out", tmpl);
	assert_int_equal(mkdir(dump_dir, 0700), 0);
	assert_int_equal(mkdir(out, 0700), 0);
	make_cgroup(&cg, "rebuild");
	o.cgroup = &cg;
	rc = proc_spawn(&o, &sp, err, sizeof(err));
	if (rc)
		fail_msg("proc_spawn: %d: %s", rc, err);
	r.fd = sp.out_fd;
	last = read_ticks(&r, 5, 1);
	freeze(&cg);
	l = drain_ticks(&r, last + 1);
	if (l > 0)
		last = l;
	dump(&cg, sp.pid, sp.out_fd, dump_dir, PROC_NETLOCK_SKIP);
	thaw(&cg); /* the restore runs CRIU in this cgroup */
	kill_and_reap(&cg, sp.pid);
	close(sp.out_fd);

	assert_int_equal(procset_init(&set, 64u << 20, err, sizeof(err)), 0);
	if (procset_load(&set, dump_dir, err, sizeof(err)))
		fail_msg("procset_load: %s", err);
	print_message("bash dump: %u files, %llu pages, %llu bytes\n",
		      set.files, (unsigned long long)set.dump_pages,
		      (unsigned long long)set.dump_bytes);
	if (procset_rebuild(set.mem, set.npages, set.state, sizeof(set.state),
			    out, err, sizeof(err)))
		fail_msg("procset_rebuild: %s", err);
	procset_destroy(&set);
	same_images(dump_dir, out);

	restore(&cg, out, PROC_NETLOCK_SKIP, &rpid, &rfd);
	memset(&r, 0, sizeof(r));
	r.fd = rfd;
	read_ticks(&r, 10, last + 1);
	kill_and_reap(&cg, rpid);
	close(rfd);
	assert_int_equal(proc_cgroup_remove(&cg, err, sizeof(err)), 0);
	rm_rf(tmpl);
}

int main(void)
{
	/* Checked once, here: one line, and meson's "skipped" exit code. */
	if (geteuid() != 0) {
		printf("SKIP: test_proc needs root (namespaces, cgroup v2, "
		       "CRIU); run it as root\n");
		return 77;
	}
	if (access(proc_criu_default(), X_OK) != 0) {
		printf("FAIL: %s: %s: CRIU is missing; scripts/build-criu "
		       "(called by scripts/setup) builds and installs it\n",
		       proc_criu_default(), strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_proto_matches),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_spawn_environment),
		cmocka_unit_test(test_spawn_failure),
		cmocka_unit_test(test_bash_loop),
		cmocka_unit_test(test_python_dict),
		cmocka_unit_test(test_dump_failure),
		cmocka_unit_test(test_criu_dies_with_caller),
		cmocka_unit_test(test_rebuild_restores),
		cmocka_unit_test(test_external_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
