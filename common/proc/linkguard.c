/* A link that goes when its owner does (linkguard.h). */
#include "linkguard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "fail.h"

#define GUARD_FD 3

struct dellink {
	struct nlmsghdr h;
	struct ifinfomsg i;
};

/* Async-signal-safe only from here to _exit(). */
static void __attribute__((noreturn)) guard_main(int rfd, int ifindex)
{
	static const int quiet[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
				    SIGPIPE, SIGUSR1, SIGUSR2};
	struct sigaction ign = {.sa_handler = SIG_IGN};
	struct dellink req = {
		.h = {.nlmsg_len = sizeof(req),
		      .nlmsg_type = RTM_DELLINK,
		      .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		      .nlmsg_seq = 1},
		.i = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	};
	char ack[256];
	sigset_t none;
	ssize_t n;
	int fd;
	char c;

	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		sigaction(quiet[i], &ign, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Nothing of the owner's but the pipe: not its sockets (the
	 * backup's connection, the packet gate's queue), nor its log. */
	if (rfd != GUARD_FD && dup2(rfd, GUARD_FD) < 0)
		_exit(1);
	close_range(GUARD_FD + 1, ~0u, 0);
	fd = open("/dev/null", O_RDWR);
	for (int i = 0; i < GUARD_FD; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > GUARD_FD)
		close(fd);
	/* Named last: "remora-guard" means the guard is ready. */
	prctl(PR_SET_NAME, "remora-guard");

	do
		n = read(GUARD_FD, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		_exit(0); /* disarmed */
	/* EOF: the owner is gone. */
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		_exit(1);
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		_exit(1);
	/* The kernel's answer (deleted, or no such link): the request is
	 * done once it came; either way there is nothing more to do. */
	(void)recv(fd, ack, sizeof(ack), 0);
	_exit(0);
}

int linkguard_start(struct linkguard *g, int ifindex, char *err, size_t errlen)
{
	int p[2];
	pid_t pid;

	memset(g, 0, sizeof(*g));
	if (ifindex <= 0)
		return fail_line(err, errlen, -EINVAL,
				 "link guard: no link (index %d)", ifindex);
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail_line(err, errlen, -errno, "link guard: pipe: %s",
				 strerror(errno));
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(p[0]);
		close(p[1]);
		return fail_line(err, errlen, rc, "link guard: fork: %s",
				 strerror(-rc));
	}
	if (pid == 0) {
		close(p[1]);
		guard_main(p[0], ifindex);
	}
	close(p[0]);
	g->armed = 1;
	g->pid = pid;
	g->wfd = p[1];
	return 0;
}

void linkguard_disarm(struct linkguard *g)
{
	int st;

	if (!g->armed)
		return;
	/* A byte, not EOF: the child leaves the link alone. */
	(void)!write(g->wfd, "x", 1);
	close(g->wfd);
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	memset(g, 0, sizeof(*g));
}
