/*
 * CRIU's swrk protocol, spoken directly: a SOCK_SEQPACKET socketpair, a
 * forked `criu swrk <fd>` that inherits only that socket (and, on restore,
 * the pipe end it must hand to the restored tree), one packed criu_req per
 * message, criu_resp back; "notify" messages are acknowledged as they come.
 * Doing the fork here rather than through libcriu lets remora put CRIU
 * (and so the tree it restores) into the service's cgroup before exec,
 * tie CRIU's life to the calling thread (PR_SET_PDEATHSIG), close every
 * other descriptor, use its own binary for restores too (libcriu
 * falls back to "criu" from PATH there) and keep no global state (libcriu
 * keeps the last error in a global).
 *
 * Why each CRIU option (the rest are CRIU's defaults):
 *   freeze_cgroup     the caller froze the cgroup; CRIU sees it frozen and
 *                     does not run its own freeze loop (100 ms steps)
 *   manage_cgroups    IGNORE on both sides: remora owns the cgroup, and the
 *                     restored tree is born in it because CRIU is
 *   external mnt[]    host mounts with shared propagation (/run/netns here)
 *                     are external, on dump and on restore
 *   root              restoring a mount namespace needs it (criu 4.2.1
 *                     crashes at mount.c:48 without)
 *   tcp_established,
 *   ext_unix_sk,
 *   file_locks        what a simple network service holds
 *   tcp_skip_in_flight (dump) a connection the kernel completed but the
 *                     service has not accepted yet is left out instead of
 *                     failing the dump ("In-flight connection"): the
 *                     service keeps it; after a failover its client gets a
 *                     reset and connects again (no reply of it was seen)
 *   rst_sibling       the restored root becomes remora's child
 *   inherit_fd        the dumped stdout/stderr pipe becomes remora's new one
 */
#include "criu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "clock.h"
#include "fail.h"
#include "rpc.pb-c.h"

#ifndef PROC_CRIU_DEFAULT
#define PROC_CRIU_DEFAULT "criu"
#endif

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_LOG_LEVEL  2

const char *proc_criu_default(void)
{
	return PROC_CRIU_DEFAULT;
}

int proc_criu_pipe_key(int fd, char *buf, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISFIFO(st.st_mode))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "pipe:[%lu]",
			     (unsigned long)st.st_ino) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int64_t proc_criu_images_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int64_t sum = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".img") != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
		    S_ISREG(st.st_mode))
			sum += st.st_size;
	}
	closedir(d);
	return sum;
}

/*
 * CRIU's reason, from its log: the first "Error" line that is not known
 * noise (this sandbox withholds CAP_SYS_RESOURCE: "Can't setup
 * RLIMIT_NOFILE"), nor the generic "Dumping FAILED." summary, nor the
 * nftables clean-up that fails after an early error ("Could not process
 * rule"), nor ip(8)'s "Address already assigned" for the loopback, which
 * it prints while restoring successfully. The first one is the cause; later ones are its consequences.
 */
static int log_reason(const char *log, char *buf, size_t len)
{
	static const char *const noise[] = {
		"RLIMIT_NOFILE", "Dumping FAILED", "Restoring FAILED",
		"Could not process rule", "Unable to get a current state",
		/* ip addr restore says it of lo's address and exits 0 */
		"Address already assigned"};
	FILE *f = fopen(log, "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *e = strstr(line, "Error");
		size_t i;

		if (!e)
			continue;
		for (i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
			if (strstr(e, noise[i]))
				break;
		if (i < sizeof(noise) / sizeof(noise[0]))
			continue;
		e[strcspn(e, "\n")] = 0;
		snprintf(buf, len, "%s", e);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/* Resets what a daemon may have changed and CRIU must not inherit. */
static void child_signals(void)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

struct swrk {
	int sk;
	int pid;
};

/*
 * Forks `criu swrk <fd>`. Only the socket and keep[0..1] (those >= 0) stay
 * open across exec; with cg, the child joins that cgroup first.
 */
static int swrk_start(struct swrk *w, const char *criu, const int *keep,
		      const struct proc_cgroup *cg, char *err, size_t errlen)
{
	int sk[2];
	pid_t pid, parent;

	if (access(criu, X_OK) < 0)
		return fail_line(err, errlen, -errno,
				 "criu binary %s: %s (scripts/build-criu, "
				 "run by scripts/setup, builds it)",
				 criu, strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk) < 0)
		return fail_line(err, errlen, -errno, "socketpair: %s",
				 strerror(errno));
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(sk[0]);
		close(sk[1]);
		return fail_line(err, errlen, rc, "fork criu swrk: %s",
				 strerror(-rc));
	}
	if (pid == 0) {
		char fdstr[16];

		child_signals();
		/* CRIU dies with this thread, which waits for it: a daemon
		 * killed mid-dump must not leave CRIU holding the tree and
		 * its network namespace (the service's eth0 would stay up
		 * and answer for its address after a backup took it over).
		 * The parent may have died before the prctl. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(124);
		if (cg && write(cg->procs_fd, "0", 1) != 1)
			_exit(126);
		if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0 ||
		    fcntl(sk[1], F_SETFD, 0) < 0 ||
		    (keep[0] >= 0 && fcntl(keep[0], F_SETFD, 0) < 0) ||
		    (keep[1] >= 0 && fcntl(keep[1], F_SETFD, 0) < 0))
			_exit(125);
		snprintf(fdstr, sizeof(fdstr), "%d", sk[1]);
		execl(criu, criu, "swrk", fdstr, (char *)NULL);
		_exit(127);
	}
	close(sk[1]);
	w->sk = sk[0];
	w->pid = pid;
	return 0;
}

/* Closes the socket and reaps criu swrk; returns its wait status. */
static int swrk_stop(struct swrk *w, int kill_it)
{
	int st = 0;

	close(w->sk);
	if (kill_it)
		kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static int swrk_send(struct swrk *w, const CriuReq *req)
{
	size_t len = criu_req__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	criu_req__pack(req, buf);
	n = send(w->sk, buf, len, MSG_NOSIGNAL);
	free(buf);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

/* One message, within the deadline; 0 with *resp NULL on EOF. */
static int swrk_recv(struct swrk *w, uint64_t deadline, CriuResp **resp)
{
	struct pollfd pfd = {.fd = w->sk, .events = POLLIN};
	uint8_t *buf;
	ssize_t n;
	uint64_t now;
	int rc;

	*resp = NULL;
	for (;;) {
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)((deadline - now + 999999) / 1000000));
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
	n = recv(w->sk, NULL, 0, MSG_PEEK | MSG_TRUNC);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	buf = malloc((size_t)n);
	if (!buf)
		return -ENOMEM;
	n = recv(w->sk, buf, (size_t)n, 0);
	if (n <= 0) {
		rc = n < 0 ? -errno : 0;
		free(buf);
		return rc;
	}
	*resp = criu_resp__unpack(NULL, (size_t)n, buf);
	free(buf);
	return *resp ? 0 : -EBADMSG;
}

struct call {
	const char *criu;
	const char *what;     /* "dump", "restore", "version" */
	const char *log_path; /* NULL: none */
	int keep[2];	      /* descriptors CRIU inherits (inherit_fd) */
	const struct proc_cgroup *cg;
	int timeout_ms;
};

/*
 * Runs one request to completion. On CRIU's failure the line is CRIU's
 * reason from the log (or its cr_errmsg) and the code is its cr_errno, or
 * -EIO when it gave none.
 */
static int swrk_call(const struct call *c, CriuReq *req, CriuResp **out,
		     char *err, size_t errlen)
{
	uint64_t deadline =
		now_ns() + (uint64_t)(c->timeout_ms > 0 ? c->timeout_ms
							: DEFAULT_TIMEOUT_MS) *
				   1000000ull;
	char reason[512];
	CriuResp *resp = NULL;
	struct swrk w = {.sk = -1, .pid = -1};
	int rc, st;

	*out = NULL;
	rc = swrk_start(&w, c->criu, c->keep, c->cg, err, errlen);
	if (rc)
		return rc;
	rc = swrk_send(&w, req);
	if (rc) {
		swrk_stop(&w, 1);
		return fail_line(err, errlen, rc, "criu %s: send request: %s",
				 c->what, strerror(-rc));
	}
	for (;;) {
		CriuReq ack = CRIU_REQ__INIT;

		rc = swrk_recv(&w, deadline, &resp);
		if (rc || !resp || resp->type != CRIU_REQ_TYPE__NOTIFY)
			break;
		/* notify_scripts is off, but acknowledge whatever comes. */
		criu_resp__free_unpacked(resp, NULL);
		resp = NULL;
		ack.type = CRIU_REQ_TYPE__NOTIFY;
		ack.has_notify_success = 1;
		ack.notify_success = 1;
		rc = swrk_send(&w, &ack);
		if (rc)
			break;
	}
	st = swrk_stop(&w, rc != 0);
	if (rc == -ETIMEDOUT)
		return fail_line(
			err, errlen, rc,
			"criu %s: no answer within %d ms (killed)", c->what,
			c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (rc)
		return fail_line(err, errlen, rc, "criu %s: swrk: %s", c->what,
				 strerror(-rc));
	if (!resp) {
		if (WIFEXITED(st) && WEXITSTATUS(st) >= 124)
			return fail_line(err, errlen, -ENOEXEC,
					 "criu %s: could not start %s swrk "
					 "(exit %d)",
					 c->what, c->criu, WEXITSTATUS(st));
		if (c->log_path &&
		    log_reason(c->log_path, reason, sizeof(reason)))
			return fail_line(err, errlen, -EIO,
					 "criu %s: %s (log: %s)", c->what,
					 reason, c->log_path);
		return fail_line(err, errlen, -EIO,
				 "criu %s: swrk ended without an answer "
				 "(status 0x%x)",
				 c->what, st);
	}
	if (!resp->success) {
		rc = resp->has_cr_errno && resp->cr_errno > 0 ? -resp->cr_errno
							      : -EIO;
		if (c->log_path &&
		    log_reason(c->log_path, reason, sizeof(reason)))
			fail_line(err, errlen, rc, "criu %s: %s (log: %s)",
				  c->what, reason, c->log_path);
		else
			fail_line(err, errlen, rc, "criu %s failed: %s%s%s",
				  c->what,
				  resp->cr_errmsg ? resp->cr_errmsg
						  : "no reason given",
				  c->log_path ? "; log: " : "",
				  c->log_path ? c->log_path : "");
		criu_resp__free_unpacked(resp, NULL);
		return rc;
	}
	*out = resp;
	return 0;
}

static void set_netlock(CriuOpts *o, enum proc_netlock l)
{
	if (l == PROC_NETLOCK_DEFAULT)
		return;
	o->has_network_lock = 1;
	o->network_lock = l == PROC_NETLOCK_SKIP
				  ? CRIU_NETWORK_LOCK_METHOD__SKIP
				  : CRIU_NETWORK_LOCK_METHOD__NFTABLES;
}

/* The options dump and restore share (see the top of the file). */
static void common_opts(CriuOpts *o, const char *dir, int log_level,
			const char *log, enum proc_netlock l, char **ext)
{
	o->images_dir_fd = -1;
	o->images_dir = (char *)dir;
	o->has_log_level = 1;
	o->log_level = log_level > 0 ? log_level : DEFAULT_LOG_LEVEL;
	o->log_file = (char *)log;
	o->has_tcp_established = 1;
	o->tcp_established = 1;
	o->has_ext_unix_sk = 1;
	o->ext_unix_sk = 1;
	o->has_file_locks = 1;
	o->file_locks = 1;
	o->has_manage_cgroups_mode = 1;
	o->manage_cgroups_mode = CRIU_CG_MODE__IGNORE;
	o->n_external = 1;
	o->external = ext;
	set_netlock(o, l);
}

static int write_key(const char *dir, int fd, char *err, size_t errlen)
{
	char key[64], path[4096], tmp[4200];
	int rc = proc_criu_pipe_key(fd, key, sizeof(key));
	FILE *f;

	if (rc)
		return fail_line(err, errlen, rc, "stdio fd %d: %s", fd,
				 rc == -EINVAL ? "not a pipe" : strerror(-rc));
	snprintf(path, sizeof(path), "%s/%s", dir, PROC_CRIU_STDIO_KEY);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return fail_line(err, errlen, -errno, "create %s: %s", tmp,
				 strerror(errno));
	fprintf(f, "%s\n", key);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return fail_line(err, errlen, rc, "write %s: %s", path,
				 strerror(-rc));
	}
	return 0;
}

static int read_key(const char *dir, char *key, size_t len, char *err,
		    size_t errlen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, PROC_CRIU_STDIO_KEY);
	f = fopen(path, "re");
	if (!f)
		return fail_line(err, errlen, -errno,
				 "%s: %s (the dump was made without stdio_fd)",
				 path, strerror(errno));
	if (!fgets(key, (int)len, f)) {
		fclose(f);
		return fail_line(err, errlen, -EINVAL, "%s: empty", path);
	}
	fclose(f);
	key[strcspn(key, "\n")] = 0;
	if (strncmp(key, "pipe:[", 6) != 0)
		return fail_line(err, errlen, -EINVAL,
				 "%s: '%s' is not a pipe key", path, key);
	return 0;
}

int proc_criu_dump(const struct proc_criu_dump_opts *o, char *err,
		   size_t errlen)
{
	char log[4096], net[64], *ext[] = {"mnt[]", net};
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp;
	struct call c = {
		.criu = o->criu ? o->criu : proc_criu_default(),
		.what = "dump",
		.log_path = log,
		.keep = {-1, -1},
		.timeout_ms = o->timeout_ms,
	};
	int rc;

	if (o->pid <= 0 || !o->images_dir)
		return fail_line(err, errlen, -EINVAL,
				 "criu dump: no pid or no images directory");
	snprintf(log, sizeof(log), "%s/%s", o->images_dir, PROC_CRIU_DUMP_LOG);
	if (o->stdio_fd >= 0) {
		rc = write_key(o->images_dir, o->stdio_fd, err, errlen);
		if (rc)
			return rc;
	}
	common_opts(&opts, o->images_dir, o->log_level, PROC_CRIU_DUMP_LOG,
		    o->netlock, ext);
	if (o->ext_netns_ino) {
		snprintf(net, sizeof(net), "net[%llu]:" PROC_CRIU_NETNS_KEY,
			 (unsigned long long)o->ext_netns_ino);
		opts.n_external = 2;
	}
	opts.has_pid = 1;
	opts.pid = o->pid;
	opts.has_leave_running = 1;
	opts.leave_running = o->leave_running != 0;
	opts.has_tcp_skip_in_flight = 1;
	opts.tcp_skip_in_flight = 1;
	opts.freeze_cgroup = (char *)o->frozen_cgroup;
	if (o->timeout_ms > 0) {
		opts.has_timeout = 1;
		opts.timeout = (uint32_t)((o->timeout_ms + 999) / 1000);
	}
	req.type = CRIU_REQ_TYPE__DUMP;
	req.opts = &opts;
	rc = swrk_call(&c, &req, &resp, err, errlen);
	if (rc)
		return rc;
	criu_resp__free_unpacked(resp, NULL);
	return 0;
}

int proc_criu_restore(const struct proc_criu_restore_opts *o, int *pid,
		      char *err, size_t errlen)
{
	char log[4096], key[64], *ext[] = {"mnt[]"};
	CriuOpts opts = CRIU_OPTS__INIT;
	CriuReq req = CRIU_REQ__INIT;
	InheritFd ifd = INHERIT_FD__INIT, nfd = INHERIT_FD__INIT;
	InheritFd *ifds[2];
	CriuResp *resp;
	struct call c = {
		.criu = o->criu ? o->criu : proc_criu_default(),
		.what = "restore",
		.log_path = log,
		.keep = {o->stdio_fd, o->join_netns ? o->netns_fd : -1},
		.cg = o->cgroup,
		.timeout_ms = o->timeout_ms,
	};
	int rc;

	*pid = -1;
	if (!o->images_dir)
		return fail_line(err, errlen, -EINVAL,
				 "criu restore: no images directory");
	snprintf(log, sizeof(log), "%s/%s", o->images_dir,
		 PROC_CRIU_RESTORE_LOG);
	common_opts(&opts, o->images_dir, o->log_level, PROC_CRIU_RESTORE_LOG,
		    o->netlock, ext);
	opts.root = (char *)(o->root ? o->root : "/");
	opts.has_rst_sibling = 1;
	opts.rst_sibling = 1;
	if (o->stdio_fd >= 0) {
		rc = read_key(o->images_dir, key, sizeof(key), err, errlen);
		if (rc)
			return rc;
		ifd.key = key;
		ifd.fd = o->stdio_fd;
		ifds[opts.n_inherit_fd++] = &ifd;
	}
	if (o->join_netns) {
		nfd.key = PROC_CRIU_NETNS_KEY;
		nfd.fd = o->netns_fd;
		ifds[opts.n_inherit_fd++] = &nfd;
	}
	opts.inherit_fd = opts.n_inherit_fd ? ifds : NULL;
	if (o->timeout_ms > 0) {
		opts.has_timeout = 1;
		opts.timeout = (uint32_t)((o->timeout_ms + 999) / 1000);
	}
	req.type = CRIU_REQ_TYPE__RESTORE;
	req.opts = &opts;
	rc = swrk_call(&c, &req, &resp, err, errlen);
	if (rc)
		return rc;
	if (!resp->restore || resp->restore->pid <= 0) {
		criu_resp__free_unpacked(resp, NULL);
		return fail_line(err, errlen, -EPROTO,
				 "criu restore: success without a pid");
	}
	*pid = resp->restore->pid;
	criu_resp__free_unpacked(resp, NULL);
	return 0;
}

int proc_criu_version(const char *criu, int *version, char *err, size_t errlen)
{
	CriuReq req = CRIU_REQ__INIT;
	CriuResp *resp;
	struct call c = {
		.criu = criu ? criu : proc_criu_default(),
		.what = "version",
		.keep = {-1, -1},
		.timeout_ms = 10000,
	};
	int rc;

	req.type = CRIU_REQ_TYPE__VERSION;
	rc = swrk_call(&c, &req, &resp, err, errlen);
	if (rc)
		return rc;
	if (!resp->version) {
		criu_resp__free_unpacked(resp, NULL);
		return fail_line(err, errlen, -EPROTO,
				 "criu version: no version in the answer");
	}
	*version = resp->version->major_number * 10000 +
		   resp->version->minor_number * 100 +
		   (resp->version->has_sublevel ? resp->version->sublevel : 0);
	criu_resp__free_unpacked(resp, NULL);
	return 0;
}
