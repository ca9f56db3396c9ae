/*
 * proc_spawn(): clone3 into new namespaces and the service's cgroup, then,
 * in the child and with raw system calls only (the caller may have threads,
 * so nothing that can take a lock or allocate), set up mounts, loopback,
 * session and stdio and exec. A failure in the child travels back through
 * a CLOEXEC pipe as (errno, step); EOF on that pipe means exec succeeded.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "cgroup.h"
#include "fail.h"

#define NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)

struct child_err {
	int err;
	char step[120];
};

/* Reports a failed step to the parent and exits; never returns. */
static void __attribute__((noreturn))
child_die(int fd, const char *step, const char *arg)
{
	struct child_err ce = {.err = errno};
	size_t n = strlen(step);

	if (n > sizeof(ce.step) - 1)
		n = sizeof(ce.step) - 1;
	memcpy(ce.step, step, n);
	if (arg) {
		size_t m = strlen(arg);

		if (n + 1 + m > sizeof(ce.step) - 1)
			m = sizeof(ce.step) - 2 - n;
		ce.step[n] = ' ';
		memcpy(ce.step + n + 1, arg, m);
	}
	(void)!write(fd, &ce, sizeof(ce));
	_exit(127);
}

/* ifconfig lo up: the kernel then adds 127.0.0.1/8 and ::1 itself. */
static int loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

static void __attribute__((noreturn))
child(const struct proc_spawn_opts *o, int out_w, int err_w)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int null;

	/* The caller's blocked and ignored signals (a daemon ignores SIGPIPE)
	 * are not the service's. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Nothing mounted here may reach the host, and CRIU dumps a private
	 * tree without asking about peer groups it cannot see. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_die(err_w, "mount --make-rprivate /", NULL);
	/* The host's /proc shows the host's PIDs; ours shows ours. */
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		child_die(err_w, "mount proc /proc", NULL);
	if (o->data_dir && mount("remora-data", o->data_dir, "tmpfs",
				 MS_NOSUID | MS_NODEV, o->data_opts) < 0)
		child_die(err_w, "mount tmpfs", o->data_dir);
	if (o->join_netns ? setns(o->netns_fd, CLONE_NEWNET) < 0
			  : loopback_up() < 0)
		child_die(err_w, o->join_netns ? "setns net" : "bring up lo",
			  NULL);
	/* The service dies with the daemon that runs it (as it would with
	 * its host): the init's death ends the whole PID namespace. */
	if (o->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_die(err_w, "prctl PR_SET_PDEATHSIG", NULL);
	if (setsid() < 0)
		child_die(err_w, "setsid", NULL);
	if (chdir(o->dir ? o->dir : "/") < 0)
		child_die(err_w, "chdir", o->dir ? o->dir : "/");
	/* Opened inside the new mount namespace: CRIU can dump it. */
	null = open("/dev/null", O_RDONLY);
	if (null < 0)
		child_die(err_w, "open /dev/null", NULL);
	if (dup2(null, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		child_die(err_w, "dup2 stdio", NULL);
	/* Every other descriptor (the caller's, leaked or not) goes at exec;
	 * err_w must live until then. */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		child_die(err_w, "close_range", NULL);
	if (o->path)
		execve(o->path, (char *const *)o->argv,
		       (char *const *)(o->envp ? o->envp
					       : (const char *const[]){NULL}));
	else
		execvpe(o->argv[0], (char *const *)o->argv,
			(char *const *)(o->envp ? o->envp
						: (const char *const[]){NULL}));
	child_die(err_w, o->path ? "execve" : "execvpe",
		  o->path ? o->path : o->argv[0]);
}

struct netns_job {
	int fd, err;
	const char *step;
};

/* A thread's own network namespace: unshare(2) moves only this thread. */
static void *netns_main(void *arg)
{
	struct netns_job *j = arg;

	j->step = "unshare net";
	if (unshare(CLONE_NEWNET) < 0)
		goto fail;
	j->step = "bring up lo";
	if (loopback_up() < 0)
		goto fail;
	j->step = "open /proc/thread-self/ns/net";
	j->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (j->fd < 0)
		goto fail;
	return NULL;
fail:
	j->err = errno;
	return NULL;
}

int proc_netns_new(int *fd, char *err, size_t errlen)
{
	struct netns_job j = {.fd = -1};
	pthread_t t;
	int rc;

	*fd = -1;
	rc = pthread_create(&t, NULL, netns_main, &j);
	if (rc)
		return fail_line(err, errlen, -rc, "netns thread: %s",
				 strerror(rc));
	pthread_join(t, NULL);
	if (j.fd < 0)
		return fail_line(err, errlen, -j.err,
				 "new network namespace: "
				 "%s: %s",
				 j.step, strerror(j.err));
	*fd = j.fd;
	return 0;
}

int proc_netns_inode(int fd, uint64_t *ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

int proc_spawn(const struct proc_spawn_opts *o, struct proc_spawned *out,
	       char *err, size_t errlen)
{
	int out_p[2], err_p[2], cg_fd, rc;
	struct clone_args ca;
	struct child_err ce;
	ssize_t n;
	long pid;

	out->pid = -1;
	out->out_fd = -1;
	if (!o->argv || !o->argv[0] || !o->cgroup)
		return fail_line(err, errlen, -EINVAL,
				 "spawn: no command or no cgroup");
	cg_fd = open(o->cgroup->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return fail_line(err, errlen, -errno, "open %s: %s",
				 o->cgroup->path, strerror(errno));
	if (pipe2(out_p, O_CLOEXEC) < 0) {
		rc = fail_line(err, errlen, -errno, "pipe: %s",
			       strerror(errno));
		goto err_cg;
	}
	if (pipe2(err_p, O_CLOEXEC) < 0) {
		rc = fail_line(err, errlen, -errno, "pipe: %s",
			       strerror(errno));
		goto err_out;
	}

	memset(&ca, 0, sizeof(ca));
	ca.flags = NS_FLAGS | CLONE_INTO_CGROUP |
		   (o->join_netns ? 0 : CLONE_NEWNET);
	ca.exit_signal = SIGCHLD;
	ca.cgroup = (uint64_t)cg_fd;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		rc = fail_line(err, errlen, -errno,
			       "clone3 into new pid/mount/ipc/uts/net "
			       "namespaces and %s: %s",
			       o->cgroup->path, strerror(errno));
		goto err_err;
	}
	if (pid == 0)
		child(o, out_p[1], err_p[1]);

	close(err_p[1]);
	close(out_p[1]);
	close(cg_fd);
	do
		n = read(err_p[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	close(err_p[0]);
	if (n != 0) {
		waitpid((pid_t)pid, NULL, 0);
		close(out_p[0]);
		if (n != (ssize_t)sizeof(ce))
			return fail_line(err, errlen, -EIO,
					 "spawn: child failed before exec");
		ce.step[sizeof(ce.step) - 1] = 0;
		return fail_line(err, errlen, -ce.err, "spawn %s: %s: %s",
				 o->argv[0], ce.step, strerror(ce.err));
	}
	if (fcntl(out_p[0], F_SETFL, O_NONBLOCK) < 0) {
		rc = fail_line(err, errlen, -errno, "fcntl O_NONBLOCK: %s",
			       strerror(errno));
		kill((pid_t)pid, SIGKILL);
		waitpid((pid_t)pid, NULL, 0);
		close(out_p[0]);
		return rc;
	}
	out->pid = (int)pid;
	out->out_fd = out_p[0];
	return 0;

err_err:
	close(err_p[0]);
	close(err_p[1]);
err_out:
	close(out_p[0]);
	close(out_p[1]);
err_cg:
	close(cg_fd);
	return rc;
}
