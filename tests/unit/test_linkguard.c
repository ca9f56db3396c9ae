/*
 * A link that goes when its owner does (common/proc/linkguard.h), against
 * the real kernel, in a network namespace of the test's own: a veth pair
 * g0/g1 stands for the service's host end and eth0.
 *
 * - owner killed: an owner process starts the guard and is SIGKILLed; the
 *   pair is gone (both ends). While the owner lived, the guard held none
 *   of its descriptors: only /dev/null and its pipe.
 * - disarmed: the owner disarms the guard and the link stays; the guard
 *   has exited (reaped by the disarm).
 * - refusal: no link index, one line.
 *
 * Waits are bounded generously (10 s); the checks are exact. Needs root:
 * without it the program prints one "SKIP:" line and exits 77.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "linkguard.h"

#define WAIT_MS 10000

/* The pair, fresh: g0 and its peer g1, both up. */
static void pair_new(void)
{
	assert_int_equal(system("ip link del g0 2>/dev/null; "
				"ip link add g0 type veth peer name g1 && "
				"ip link set g0 up && ip link set g1 up"),
			 0);
	assert_true(if_nametoindex("g0") > 0);
}

/* Until name is gone (1) or WAIT_MS passed (0). */
static int gone(const char *name)
{
	uint64_t t0 = now_ns();

	while (if_nametoindex(name) > 0) {
		if (now_ns() - t0 > (uint64_t)WAIT_MS * 1000000u)
			return 0;
		usleep(5000);
	}
	return 1;
}

/* Until the guard named itself, the last step of its setup; 0 if it did
 * not within WAIT_MS. */
static int guard_ready(int pid)
{
	uint64_t t0 = now_ns();
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	while (now_ns() - t0 < (uint64_t)WAIT_MS * 1000000u) {
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) &&
		    strcmp(comm, "remora-guard\n") == 0) {
			fclose(f);
			return 1;
		}
		if (f)
			fclose(f);
		usleep(2000);
	}
	return 0;
}

/*
 * The guard's descriptors: 0-2 on /dev/null and the pipe (3), nothing of
 * its owner's (a daemon's sockets must close when it dies). 1, or 0 with
 * why.
 */
static int only_its_pipe(int pid, char *why, size_t len)
{
	char dir[64], path[384], to[128];
	struct dirent *d;
	int n = 0, fd, ok = 1;
	ssize_t r;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	dp = opendir(dir);
	if (!dp)
		return snprintf(why, len, "opendir %s", dir), 0;
	while (ok && (d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		fd = atoi(d->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		r = readlink(path, to, sizeof(to) - 1);
		to[r > 0 ? r : 0] = '\0';
		if ((fd < 3 && strcmp(to, "/dev/null")) ||
		    (fd == 3 && strncmp(to, "pipe:", 5)) || fd > 3) {
			snprintf(why, len, "the guard holds fd %d (%s)", fd,
				 to);
			ok = 0;
		}
		n++;
	}
	closedir(dp);
	if (ok && n != 4) {
		snprintf(why, len, "the guard holds %d descriptors, not 4", n);
		ok = 0;
	}
	return ok;
}

static void test_owner_killed(void **state)
{
	int ready[2], ifindex, guard = 0, fds_ok = 0;
	char why[512] = "the guard did not get ready";
	pid_t owner;
	int st;

	(void)state;
	pair_new();
	ifindex = (int)if_nametoindex("g0");
	assert_int_equal(pipe(ready), 0);
	owner = fork();
	assert_true(owner >= 0);
	if (owner == 0) {
		struct linkguard g;
		char err[256];

		close(ready[0]);
		if (linkguard_start(&g, ifindex, err, sizeof(err)))
			_exit(1);
		if (write(ready[1], &g.pid, sizeof(g.pid)) != sizeof(g.pid))
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &guard, sizeof(guard)) == sizeof(guard) &&
	    guard_ready(guard))
		/* Armed, and holding nothing of the owner's (ready[1] is
		 * still open there). */
		fds_ok = only_its_pipe(guard, why, sizeof(why));
	close(ready[0]);
	assert_int_equal((int)if_nametoindex("g0"), ifindex);

	assert_int_equal(kill(owner, SIGKILL), 0);
	assert_int_equal(waitpid(owner, &st, 0), owner);
	if (!fds_ok)
		fail_msg("%s", why);
	if (!gone("g0"))
		fail_msg("g0 still there %d ms after its owner was killed",
			 WAIT_MS);
	assert_int_equal(if_nametoindex("g1"), 0);
}

static void test_disarmed(void **state)
{
	struct linkguard g;
	char err[256];
	int ifindex, pid;

	(void)state;
	pair_new();
	ifindex = (int)if_nametoindex("g0");
	assert_int_equal(linkguard_start(&g, ifindex, err, sizeof(err)), 0);
	assert_int_equal(g.armed, 1);
	pid = g.pid;
	linkguard_disarm(&g);
	assert_int_equal(g.armed, 0);
	/* Reaped: no such child any more. */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal((int)if_nametoindex("g0"), ifindex);
	assert_int_equal(system("ip link del g0"), 0);
	linkguard_disarm(&g); /* again: a no-op */
}

static void test_refusal(void **state)
{
	struct linkguard g;
	char err[256];

	(void)state;
	assert_int_equal(linkguard_start(&g, 0, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "link guard: no link (index 0)");
	assert_int_equal(g.armed, 0);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: test_linkguard needs root (a network namespace "
		       "and veth links); run it as root\n");
		return 77;
	}
	/* Everything happens in a namespace of this process's own. */
	if (unshare(CLONE_NEWNET) != 0) {
		printf("FAIL: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_killed),
		cmocka_unit_test(test_disarmed),
		cmocka_unit_test(test_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
